/* Activation functions: one table (name, value, derivative, largest derivative,
 * whether it saturates) read by the engine, the CLI, the probe and the theory. */
#ifndef GRADSCOPE_ACT_H
#define GRADSCOPE_ACT_H

#include <stddef.h>

#include "gradscope/status.h"

/* Activation kinds; GS_ACT_COUNT is the number of kinds. */
typedef enum {
    GS_ACT_LINEAR = 0,
    GS_ACT_SIGMOID,
    GS_ACT_TANH,
    GS_ACT_RELU,
    GS_ACT_LEAKY_RELU, /* param: negative slope, default 0.01 */
    GS_ACT_ELU,        /* param: alpha, default 1 */
    GS_ACT_GELU,       /* exact: z * Phi(z), erf form */
    GS_ACT_SELU,       /* lambda 1.0507009873554805, alpha 1.6732632423543772 */
    GS_ACT_SOFTSIGN,   /* z / (1 + |z|) */
    GS_ACT_COUNT
} GsActKind;

/* An activation with its parameter (ignored by kinds that take none). */
typedef struct {
    GsActKind kind;
    double param;
} GsAct;

/* Parses "name" or "name:PARAM" (leaky_relu:0.1, elu:0.5). Unknown names, a parameter on
 * a kind that takes none, or a malformed/negative number fail with GS_ERR_INVALID and a
 * message naming the text. *out is untouched on failure. */
GsStatus gs_act_parse(const char *text, GsAct *out, GsError *err);
/* Writes the canonical text form ("tanh", "leaky_relu:0.01") into buf; returns buf. */
char *gs_act_format(const GsAct *act, char *buf, size_t size);
/* Bare name of a kind ("leaky_relu"); NULL for an out-of-range kind. */
const char *gs_act_name(GsActKind kind);

/* Scalar reference implementations in double (libm), for tests and theory. */
double gs_act_value(const GsAct *act, double z);
double gs_act_deriv(const GsAct *act, double z);
/* sup_z |phi'(z)| (sigmoid 0.25, tanh 1, relu 1, selu lambda*alpha, ...). */
double gs_act_max_deriv(const GsAct *act);
/* 1 when phi' tends to 0 smoothly (sigmoid, tanh, softsign, elu, selu, gelu): the
 * saturation statistic applies. 0 for linear, relu, leaky_relu. */
int gs_act_can_saturate(const GsAct *act);

/* The initialization scheme (gs_init_parse text) that keeps this activation's gradients
 * critical at initialization in a plain net ("he_normal" for relu, "lecun_normal" for selu
 * and tanh), or NULL when none does (sigmoid). Cannot fail. */
const char *gs_act_critical_init(const GsAct *act);

/* h[i] = phi(z[i]) for n entries; vectorizable float kernels (no libm call per element
 * for tanh/sigmoid/elu/selu/gelu). NaN in gives NaN out, +-Inf map to the limits.
 * h may equal z. Cannot fail. */
void gs_act_forward(const GsAct *act, float *h, const float *z, size_t n);
/* What gs_act_forward_bias measures of its outputs h when asked: their sum and sum of squares
 * in double, equal bit for bit to util/reduce.c's gs_sum_sumsq of h. */
typedef struct {
    double sum, sumsq;
} GsActOutStats;
/* The dense layer's bias and activation in one pass over rows x n entries: z[r][j] += b[j],
 * then h[r][j] = phi(z[r][j]); with st not NULL a second pass over the block just written
 * measures h into *st. No two arrays may overlap. Cannot fail. */
void gs_act_forward_bias(const GsAct *act, float *h, float *z, const float *b, size_t rows,
                         size_t n, GsActOutStats *st);
/* dz[i] = dh[i] * phi'(z[i]) for n entries, given z and h = phi(z) (kernels may use
 * whichever is cheaper). Overwrites dz; dz may equal dh. Cannot fail. */
void gs_act_backward(const GsAct *act, float *dz, const float *dh, const float *z, const float *h,
                     size_t n);
/* d[i] = phi'(z[i]) (local derivative, read by the probe). Cannot fail. */
void gs_act_local_deriv(const GsAct *act, float *d, const float *z, const float *h, size_t n);

/* An entry is saturated when its local derivative is below this fraction of the activation's
 * largest derivative (DESIGN.md, the saturation column). */
#define GS_SATURATION_FRACTION 0.05

/* What gs_act_backward_bias measures of phi' on a recorded step (the probe's saturation and
 * dead-unit columns) when asked: the caller sets level, can_saturate and alive (n floats of
 * scratch); the pass fills saturated and dead. */
typedef struct {
    float level;      /* phi' below this counts as saturated */
    int can_saturate; /* 0: count no saturated entries (the activation cannot saturate) */
    float *alive;     /* n floats of scratch: per unit, the OR of phi's bits over the rows */
    size_t saturated; /* entries with phi' < level */
    size_t dead;      /* units with phi' exactly 0 on every row */
    double dz_sumsq;  /* ||dz||^2, equal bit for bit to util/reduce.c's gs_sumsq of dz */
} GsActDerivStats;

/* The dense layer's backward through its activation and bias in one pass over rows x n
 * entries: dz = dh * phi'(z) (as gs_act_backward) and db[j] = the sum over rows of dz[r][j]
 * in float, row by row. With st not NULL the same pass measures phi' into *st (the
 * derivative is not stored) and ||dz||^2. No two arrays may overlap. Cannot fail. */
void gs_act_backward_bias(const GsAct *act, float *dz, const float *dh, const float *z,
                          const float *h, float *db, size_t rows, size_t n, GsActDerivStats *st);

#endif
