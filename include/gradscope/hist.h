/* Histograms of tensors on fixed bins (DESIGN.md "Histograms"): exact zeros, NaN, +Inf, -Inf,
 * log10|x| in quarter decades over [1e-30, 1e10), and a signed linear histogram over [-A, A].
 * The trace stores one per (recorded step, layer, kind); see gs_trace_hist_* in trace.h. */
#ifndef GRADSCOPE_HIST_H
#define GRADSCOPE_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/act.h"

#define GS_HIST_NB 228   /* floats per histogram */
#define GS_HIST_ZERO 0   /* exact zeros (either sign) */
#define GS_HIST_NAN 1    /* NaN */
#define GS_HIST_PINF 2   /* +Inf */
#define GS_HIST_NINF 3   /* -Inf */
#define GS_HIST_LOG0 4   /* first log bin */
#define GS_HIST_NLOG 160 /* log bins: 10^(-30 + j/4) <= |x| < 10^(-30 + (j+1)/4) */
#define GS_HIST_LIN0 164 /* first linear bin */
#define GS_HIST_NLIN 64  /* linear bins over [-A, A] */
#define GS_HIST_LOG_LO (-30.0)
#define GS_HIST_LOG_STEP 0.25

/* What a histogram counts: entries of dL/dW_l, the layer's output h_l over the batch, the
 * entries of the weight update Delta W_l. Bit (1u << kind) in a kind mask. */
typedef enum { GS_HIST_GRAD = 0, GS_HIST_ACT, GS_HIST_UPDATE, GS_HIST_NKINDS } GsHistKind;
/* Mask of every kind. */
#define GS_HIST_ALL ((1u << GS_HIST_NKINDS) - 1u)

/* "grad", "act", "update"; NULL out of range. */
const char *gs_hist_kind_name(GsHistKind k);
/* Adds the counts of x[0..n) to bins (GS_HIST_NB floats): zeros, NaN, +-Inf and the log bins
 * (nonzero |x| < 1e-30, denormals included, in the first, finite |x| >= 1e10 in the last); when
 * lin_range > 0 also every finite x into the signed linear bins over [-lin_range, lin_range],
 * values outside clamped to the end bins. Counts stay exact up to 2^24 per bin. Cannot fail. */
void gs_hist_add(float *bins, const float *x, size_t n, double lin_range);
/* A histogram being counted in pieces (the update pass counts each block of a tensor while
 * it is in cache): exact integer counts, added to a histogram's bins by gs_hist_acc_flush.
 * gs_hist_add(b, x, n, r) is init(r), add(x, n), flush(b). The members are private. */
#define GS_HIST_ACC_BINS 163 /* zero, the log bins, Inf, NaN */
#define GS_HIST_ACC_WAYS 4   /* interleaved count arrays */
typedef struct {
    uint32_t cnt[GS_HIST_ACC_WAYS * GS_HIST_ACC_BINS];    /* the log part's counts, way-major */
    uint32_t lcnt[GS_HIST_ACC_WAYS * (GS_HIST_NLIN + 1)]; /* the linear bins, and NaN/Inf */
    uint32_t neg_inf;                                     /* -Inf among the Inf counted */
    float scale, lim; /* linear bins: 32 / A and 2A; 0 when none */
} GsHistAcc;
/* Starts counting; lin_range as for gs_hist_add. */
void gs_hist_acc_init(GsHistAcc *a, double lin_range);
/* Counts x[0..n). */
void gs_hist_acc_add(GsHistAcc *a, const float *x, size_t n);
/* Adds the counts so far to bins (GS_HIST_NB floats); init starts a new count. */
void gs_hist_acc_flush(GsHistAcc *a, float *bins);
/* For tests and benchmarks: the vector kernel gs_hist_add uses, 0 portable C, 1 AVX2, 2 AVX-512
 * (each used only where the CPU has it; -1 or a level above the CPU's: the best it has).
 * Returns the level now in use. Every level gives the same counts. Not thread-safe. */
int gs_hist_use_isa(int level);
/* Entries a histogram counted (zeros, NaN, +-Inf and the log bins); NaN for NULL or a histogram
 * never recorded (NaN). */
double gs_hist_total(const float *bins);
/* Lower edge of log bin j (0..GS_HIST_NLOG; j = GS_HIST_NLOG is the upper end 1e10):
 * 10^(-30 + j/4) as the double nearest to it. A float x is in log bin j exactly when
 * edge(j) <= |x| < edge(j + 1) compared in double. */
double gs_hist_log_edge(size_t j);
/* Edge j (0..GS_HIST_NLIN) of the linear bins over [-range, range]: -range + j * range / 32. */
double gs_hist_lin_edge(size_t j, double range);
/* A of an activation's linear bins: its natural output range, 1 for tanh, softsign and sigmoid,
 * 4 for the others (relu, elu, gelu, selu, leaky_relu, linear). */
double gs_hist_act_range(const GsAct *act);
/* Parses a kind list ("grad,act,update", any subset in any order; "none" or "" = 0; "all")
 * into a mask. Returns -1 (and the offending word's start in *bad when bad is not NULL) for an
 * unknown or repeated word. */
int gs_hist_parse_kinds(const char *s, const char **bad);
/* Formats a mask as "grad,act,update" (kind order; "none" for 0) into buf of size n. */
void gs_hist_format_kinds(unsigned kinds, char *buf, size_t n);

#endif
