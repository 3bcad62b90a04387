/* Activation functions: the one table of names and parameters, double references on libm,
 * and the vectorizable float kernels (forward, backward, local derivative) of the engine. */
#include "gradscope/act.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/vmath.h"
#include "util/reduce.h"
#include "util/simd.h"

#define SELU_LAMBDA 1.0507009873554805
#define SELU_ALPHA 1.6732632423543772

/* One row per kind, in enum order. */
static const struct {
    const char *name;
    int has_param;
    double default_param;
} kinds[GS_ACT_COUNT] = {
    [GS_ACT_LINEAR] = {"linear", 0, 0.0},
    [GS_ACT_SIGMOID] = {"sigmoid", 0, 0.0},
    [GS_ACT_TANH] = {"tanh", 0, 0.0},
    [GS_ACT_RELU] = {"relu", 0, 0.0},
    [GS_ACT_LEAKY_RELU] = {"leaky_relu", 1, 0.01},
    [GS_ACT_ELU] = {"elu", 1, 1.0},
    [GS_ACT_GELU] = {"gelu", 0, 0.0},
    [GS_ACT_SELU] = {"selu", 0, 0.0},
    [GS_ACT_SOFTSIGN] = {"softsign", 0, 0.0},
};

#define KIND_LIST "linear, sigmoid, tanh, relu, leaky_relu, elu, gelu, selu, softsign"

const char *gs_act_name(GsActKind kind)
{
    if ((int)kind < 0 || kind >= GS_ACT_COUNT)
        return NULL;
    return kinds[kind].name;
}

GsStatus gs_act_parse(const char *text, GsAct *out, GsError *err)
{
    assert(text && out);
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    int kind = -1;
    for (int k = 0; k < GS_ACT_COUNT; k++) {
        if (strlen(kinds[k].name) == name_len && strncmp(kinds[k].name, text, name_len) == 0)
            kind = k;
    }
    if (kind < 0)
        return gs_error(err, GS_ERR_INVALID, "unknown activation '%s' (expected one of: %s)", text,
                        KIND_LIST);
    double param = kinds[kind].default_param;
    if (colon) {
        const char *num = colon + 1;
        if (!kinds[kind].has_param)
            return gs_error(err, GS_ERR_INVALID,
                            "activation '%s': %s takes no parameter (leaky_relu:SLOPE and "
                            "elu:ALPHA do)",
                            text, kinds[kind].name);
        /* strtod would skip leading blanks; the text must be the number and nothing else. */
        char *end = NULL;
        errno = 0;
        double v = *num && !(*num == ' ' || *num == '\t') ? strtod(num, &end) : 0.0;
        if (!end || end == num || *end != '\0' || errno == ERANGE || !isfinite(v))
            return gs_error(err, GS_ERR_INVALID, "activation '%s': malformed number '%s'", text,
                            num);
        if (v < 0.0)
            return gs_error(err, GS_ERR_INVALID,
                            "activation '%s': parameter %s must not be negative", text, num);
        param = v;
    }
    out->kind = (GsActKind)kind;
    out->param = param;
    return GS_OK;
}

/* Shortest %g text that reads back to exactly v. */
static void format_number(char *buf, size_t size, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

char *gs_act_format(const GsAct *act, char *buf, size_t size)
{
    assert(act && buf && size > 0);
    const char *name = gs_act_name(act->kind);
    assert(name);
    if (kinds[act->kind].has_param) {
        char num[40];
        format_number(num, sizeof num, act->param);
        snprintf(buf, size, "%s:%s", name, num);
    } else {
        snprintf(buf, size, "%s", name);
    }
    return buf;
}

/* ---- double references (libm) ---- */

/* Phi(z), the standard normal CDF, through erfc (accurate in both tails' relative sense
 * on the left). */
static double ncdf(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

static double npdf(double z)
{
    return exp(-0.5 * z * z) / sqrt(2.0 * 3.14159265358979323846);
}

double gs_act_value(const GsAct *act, double z)
{
    assert(act);
    const double p = act->param;
    switch (act->kind) {
    case GS_ACT_LINEAR: return z;
    case GS_ACT_SIGMOID: {
        /* e^-|z| <= 1: never overflows */
        double e = exp(-fabs(z));
        return z < 0 ? e / (1.0 + e) : 1.0 / (1.0 + e);
    }
    case GS_ACT_TANH: return tanh(z);
    case GS_ACT_RELU: return z > 0 ? z : (z <= 0 ? 0.0 : z); /* NaN -> NaN */
    case GS_ACT_LEAKY_RELU:
        if (z > 0 || isnan(z))
            return z;
        return p == 0.0 ? 0.0 : p * z; /* 0 * -inf would be NaN */
    case GS_ACT_ELU: return z > 0 ? z : p * expm1(z);
    case GS_ACT_GELU:
        if (isinf(z))
            return z > 0 ? z : 0.0;
        return z * ncdf(z);
    case GS_ACT_SELU: return SELU_LAMBDA * (z > 0 ? z : SELU_ALPHA * expm1(z));
    case GS_ACT_SOFTSIGN:
        if (isinf(z))
            return z > 0 ? 1.0 : -1.0;
        return z / (1.0 + fabs(z));
    case GS_ACT_COUNT: break;
    }
    assert(0 && "bad activation kind");
    return NAN;
}

double gs_act_deriv(const GsAct *act, double z)
{
    assert(act);
    const double p = act->param;
    if (isnan(z))
        return z;
    switch (act->kind) {
    case GS_ACT_LINEAR: return 1.0;
    case GS_ACT_SIGMOID: {
        double e = exp(-fabs(z));
        return e / ((1.0 + e) * (1.0 + e));
    }
    case GS_ACT_TANH: {
        /* 1/cosh^2 rather than 1 - tanh^2: keeps relative accuracy in the tails */
        double c = cosh(z);
        return 1.0 / (c * c);
    }
    case GS_ACT_RELU: return z > 0 ? 1.0 : 0.0;
    case GS_ACT_LEAKY_RELU: return z > 0 ? 1.0 : p;
    case GS_ACT_ELU: return z > 0 ? 1.0 : p * exp(z);
    case GS_ACT_GELU:
        if (isinf(z))
            return z > 0 ? 1.0 : 0.0;
        return ncdf(z) + z * npdf(z);
    case GS_ACT_SELU: return z > 0 ? SELU_LAMBDA : SELU_LAMBDA * SELU_ALPHA * exp(z);
    case GS_ACT_SOFTSIGN: {
        double q = 1.0 / (1.0 + fabs(z));
        return q * q;
    }
    case GS_ACT_COUNT: break;
    }
    assert(0 && "bad activation kind");
    return NAN;
}

double gs_act_max_deriv(const GsAct *act)
{
    assert(act);
    const double p = act->param;
    switch (act->kind) {
    case GS_ACT_LINEAR: return 1.0;
    case GS_ACT_SIGMOID: return 0.25;
    case GS_ACT_TANH: return 1.0;
    case GS_ACT_RELU: return 1.0;
    case GS_ACT_LEAKY_RELU: return p > 1.0 ? p : 1.0;
    /* elu'(z) = alpha e^z < alpha on z < 0: the sup over both sides is max(1, alpha) */
    case GS_ACT_ELU: return p > 1.0 ? p : 1.0;
    case GS_ACT_GELU: {
        /* gelu''(z) = phi(z) (2 - z^2) vanishes at z = sqrt 2, where gelu' peaks (~1.1289) */
        double r = sqrt(2.0);
        return ncdf(r) + r * npdf(r);
    }
    /* approached as z -> 0-, larger than lambda on the positive side */
    case GS_ACT_SELU: return SELU_LAMBDA * SELU_ALPHA;
    case GS_ACT_SOFTSIGN: return 1.0;
    case GS_ACT_COUNT: break;
    }
    assert(0 && "bad activation kind");
    return NAN;
}

int gs_act_can_saturate(const GsAct *act)
{
    assert(act);
    switch (act->kind) {
    case GS_ACT_SIGMOID:
    case GS_ACT_TANH:
    case GS_ACT_SOFTSIGN:
    case GS_ACT_ELU:
    case GS_ACT_SELU:
    case GS_ACT_GELU: return 1;
    case GS_ACT_LINEAR:
    case GS_ACT_RELU:
    case GS_ACT_LEAKY_RELU:
    case GS_ACT_COUNT: break;
    }
    return 0;
}

const char *gs_act_critical_init(const GsAct *act)
{
    assert(act);
    switch (act->kind) {
    /* chi = sigma_w^2 E[phi'^2] = 1 at sigma_w^2 = 2 (He et al. 2015); ELU and GELU pass about
     * half the energy at small inputs like ReLU (THEORY.md: He init is their nearest scheme) */
    case GS_ACT_RELU:
    case GS_ACT_ELU:
    case GS_ACT_GELU: return "he_normal";
    /* leaky ReLU: 2/(1+a^2), He et al. 2015 eq. 15; he_normal is within 1% for a <= 0.1 */
    case GS_ACT_LEAKY_RELU: return act->param <= 0.1 ? "he_normal" : NULL;
    /* self-normalizing at sigma_w^2 = 1 (Klambauer et al. 2017) */
    case GS_ACT_SELU: return "lecun_normal";
    /* phi'(0) = 1: critical at sigma_w^2 = 1 for small inputs (Poole et al. 2016) */
    case GS_ACT_TANH:
    case GS_ACT_SOFTSIGN:
    case GS_ACT_LINEAR: return "lecun_normal";
    /* phi' <= 1/4 everywhere: no weight scale keeps sigmoid critical without saturating it */
    case GS_ACT_SIGMOID:
    case GS_ACT_COUNT: break;
    }
    return NULL;
}

/* ---- which form of the multiply-adds the kernels run (nn/vmath.h's VM_FMA) ---- */
static int vm_no_fma_forced;

void gs_vm_force_no_fma(int on)
{
    vm_no_fma_forced = on != 0;
}

int gs_vm_no_fma(void)
{
#if GS_SIMD_HAVE_CLONES
    /* the baseline clone runs exactly where the CPU lacks x86-64-v3 (AVX2, FMA, ...); where it
     * has FMA alone glibc's fmaf would be one unvectorized call per operation */
    return vm_no_fma_forced || !__builtin_cpu_supports("x86-64-v3");
#elif defined(__x86_64__)
    return 1; /* no clones: the kernels are baseline x86-64 code, fmaf a library call */
#else
    return vm_no_fma_forced; /* e.g. aarch64: fmaf is the CPU's own instruction */
#endif
}

/* ---- float kernels ----
 * One loop per kind over elementwise, branch-free functions (bit-blend selects vm_sel, see
 * vmath.h), so each loop vectorizes. Selects are written so that a NaN z, for which every
 * comparison is false, falls through to an arm that carries the NaN. */

static inline float relu_f(float z)
{
    return vm_sel(z <= 0.0f, 0.0f, z);
}

static inline float leaky_f(float z, float slope)
{
    return vm_sel(z > 0.0f, z, slope * z);
}

static inline float elu_f(float z, float alpha, int nofma)
{
    return vm_sel(z > 0.0f, z, alpha * vm_expm1_neg(z, nofma));
}

static inline float softsign_f(float z)
{
    float a = vm_abs(z);
    float r = z / (1.0f + a);
    return vm_sel(a == INFINITY, vm_with_sign(1.0f, z), r); /* inf/inf would be NaN */
}

/* Step derivative: 1 above 0, lo at or below 0, NaN for NaN. */
static inline float step_f(float z, float lo)
{
    return vm_sel(z != z, z, vm_sel(z > 0.0f, 1.0f, lo));
}

static inline float elu_deriv_f(float z, float alpha, int nofma)
{
    return vm_sel(z > 0.0f, 1.0f, alpha * vm_exp_neg(z, nofma));
}

static inline float softsign_deriv_f(float z)
{
    float q = 1.0f / (1.0f + vm_abs(z));
    return q * q;
}

/* The forward loops of gs_act_forward and gs_act_forward_bias share one body: LOOP(F) runs
 * the function F (a macro of one float argument) over the entries. */
#define TANH_F(v) vm_tanh(v, nofma)
#define SIGMOID_F(v) vm_sigmoid(v, nofma)
#define GELU_F(v) vm_gelu(v, nofma)
#define RELU_F(v) relu_f(v)
#define LEAKY_F(v) leaky_f(v, p)
#define ELU_F(v) elu_f(v, p, nofma)
#define SELU_F(v) (sl * elu_f(v, sa, nofma))
#define SOFTSIGN_F(v) softsign_f(v)
#define LINEAR_F(v) (v)
#define ACT_FORWARD_LOOPS(LOOP)                                                                    \
    do {                                                                                           \
        switch (act->kind) {                                                                       \
        case GS_ACT_LINEAR: LOOP(LINEAR_F); break;                                                 \
        case GS_ACT_SIGMOID: LOOP(SIGMOID_F); break;                                               \
        case GS_ACT_TANH: LOOP(TANH_F); break;                                                     \
        case GS_ACT_RELU: LOOP(RELU_F); break;                                                     \
        case GS_ACT_LEAKY_RELU:                                                                    \
            if (p == 0.0f) /* slope 0 is relu; avoids 0 * -inf = NaN */                            \
                LOOP(RELU_F);                                                                      \
            else                                                                                   \
                LOOP(LEAKY_F);                                                                     \
            break;                                                                                 \
        case GS_ACT_ELU: LOOP(ELU_F); break;                                                       \
        case GS_ACT_GELU: LOOP(GELU_F); break;                                                     \
        case GS_ACT_SELU: LOOP(SELU_F); break;                                                     \
        case GS_ACT_SOFTSIGN: LOOP(SOFTSIGN_F); break;                                             \
        case GS_ACT_COUNT: assert(0 && "bad activation kind"); break;                              \
        }                                                                                          \
    } while (0)

/* The elementwise kernels are also compiled for AVX2 (util/simd.h). */
GS_SIMD_CLONES
void gs_act_forward(const GsAct *act, float *h, const float *z, size_t n)
{
    assert(act && (n == 0 || (h && z)));
    const float p = (float)act->param;
    const float sl = (float)SELU_LAMBDA, sa = (float)SELU_ALPHA;
    (void)sl, (void)sa, (void)p;
#define LOOP_PLAIN(F)                                                                              \
    for (size_t i = 0; i < n; i++)                                                                 \
    h[i] = F(z[i])
    VM_DISPATCH(ACT_FORWARD_LOOPS(LOOP_PLAIN));
#undef LOOP_PLAIN
}

GS_SIMD_CLONES
void gs_act_forward_bias(const GsAct *act, float *restrict h, float *restrict z,
                         const float *restrict b, size_t rows, size_t n, GsActOutStats *st)
{
    assert(act && (rows * n == 0 || (h && z && b)));
    const float p = (float)act->param;
    const float sl = (float)SELU_LAMBDA, sa = (float)SELU_ALPHA;
    (void)sl, (void)sa, (void)p;
    /* Measuring: the sums of h in a second pass over the block, just written (in L1 or L2).
     * Adding each row's h right after it (the lanes are the same) was slower at width 64, 0.49
     * against 0.40 ns per entry for the whole pass on Zen 5 (tanh, 64 or 256 rows), and equal
     * from 256 columns up: too short a row for the accumulators' round trip. */
#define LOOP_BIAS(F)                                                                               \
    do {                                                                                           \
        for (size_t r = 0; r < rows; r++) {                                                        \
            float *zr = z + r * n, *hr = h + r * n;                                                \
            for (size_t j = 0; j < n; j++) {                                                       \
                float v = zr[j] + b[j];                                                            \
                zr[j] = v;                                                                         \
                hr[j] = F(v);                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)
    VM_DISPATCH(ACT_FORWARD_LOOPS(LOOP_BIAS));
#undef LOOP_BIAS
    if (st)
        gs_sum_sumsq(h, rows * n, &st->sum, &st->sumsq);
}

/* The local derivative of each kind as an expression in entry i of z or h: sigmoid and tanh
 * read h (like PyTorch's autograd), the others read z. ACT_DERIV_SWITCH(LOOP) runs LOOP(D)
 * with the kind's expression D, so every derivative loop below shares one table. */
#define D_LINEAR(i) vm_sel(z[i] != z[i], z[i], 1.0f)
#define D_SIGMOID(i) (h[i] * (1.0f - h[i]))
#define D_TANH(i) (1.0f - h[i] * h[i])
#define D_RELU(i) step_f(z[i], 0.0f)
#define D_LEAKY(i) step_f(z[i], p)
#define D_ELU(i) elu_deriv_f(z[i], p, nofma)
#define D_GELU(i) vm_gelu_deriv(z[i], nofma)
#define D_SELU(i) (sl * elu_deriv_f(z[i], sa, nofma))
#define D_SOFTSIGN(i) softsign_deriv_f(z[i])
#define ACT_DERIV_SWITCH(LOOP)                                                                     \
    do {                                                                                           \
        switch (act->kind) {                                                                       \
        case GS_ACT_LINEAR: LOOP(D_LINEAR); return;                                                \
        case GS_ACT_SIGMOID: LOOP(D_SIGMOID); return;                                              \
        case GS_ACT_TANH: LOOP(D_TANH); return;                                                    \
        case GS_ACT_RELU: LOOP(D_RELU); return;                                                    \
        case GS_ACT_LEAKY_RELU: LOOP(D_LEAKY); return;                                             \
        case GS_ACT_ELU: LOOP(D_ELU); return;                                                      \
        case GS_ACT_GELU: LOOP(D_GELU); return;                                                    \
        case GS_ACT_SELU: LOOP(D_SELU); return;                                                    \
        case GS_ACT_SOFTSIGN: LOOP(D_SOFTSIGN); return;                                            \
        case GS_ACT_COUNT: break;                                                                  \
        }                                                                                          \
        assert(0 && "bad activation kind");                                                        \
    } while (0)

GS_SIMD_CLONES
void gs_act_backward(const GsAct *act, float *dz, const float *dh, const float *z, const float *h,
                     size_t n)
{
    assert(act && (n == 0 || (dz && dh && z && h)));
    const float p = (float)act->param;
    const float sl = (float)SELU_LAMBDA, sa = (float)SELU_ALPHA;
    (void)sl, (void)sa, (void)p;
#define LOOP_BACKWARD(D)                                                                           \
    for (size_t i = 0; i < n; i++)                                                                 \
    dz[i] = dh[i] * D(i)
    VM_DISPATCH(ACT_DERIV_SWITCH(LOOP_BACKWARD));
#undef LOOP_BACKWARD
}

GS_SIMD_CLONES
void gs_act_local_deriv(const GsAct *act, float *d, const float *z, const float *h, size_t n)
{
    assert(act && (n == 0 || (d && z && h)));
    const float p = (float)act->param;
    const float sl = (float)SELU_LAMBDA, sa = (float)SELU_ALPHA;
    (void)sl, (void)sa, (void)p;
#define LOOP_LOCAL(D)                                                                              \
    for (size_t i = 0; i < n; i++)                                                                 \
    d[i] = D(i)
    VM_DISPATCH(ACT_DERIV_SWITCH(LOOP_LOCAL));
#undef LOOP_LOCAL
}

GS_SIMD_CLONES
void gs_act_backward_bias(const GsAct *act, float *restrict dz, const float *restrict dh,
                          const float *restrict z, const float *restrict h, float *restrict db,
                          size_t rows, size_t n, GsActDerivStats *st)
{
    assert(act && (rows * n == 0 || (dz && dh && z && h && db)));
    const float p = (float)act->param;
    const float sl = (float)SELU_LAMBDA, sa = (float)SELU_ALPHA;
    (void)sl, (void)sa, (void)p;
    for (size_t j = 0; j < n; j++)
        db[j] = 0.0f;
    if (!st) {
#define LOOP_BIAS(D)                                                                               \
    for (size_t r = 0; r < rows; r++)                                                              \
        for (size_t j = 0; j < n; j++) {                                                           \
            const size_t i = r * n + j;                                                            \
            float v = dh[i] * D(i);                                                                \
            dz[i] = v;                                                                             \
            db[j] += v;                                                                            \
        }
        VM_DISPATCH(ACT_DERIV_SWITCH(LOOP_BIAS));
#undef LOOP_BIAS
    }
    /* Measuring: the saturated count and per unit the OR of phi's bits over the rows (in
     * st->alive): the unit is dead when it is 0 but for the sign bit, i.e. phi' = +-0 on every
     * row, as the per-row test phi' != 0 would find, in one OR per entry instead of two
     * compares and a select (backward pass 0.22 -> 0.19 ns per entry, tanh, Zen 5). */
    const float level = st->level;
    const unsigned cs = st->can_saturate ? 1u : 0u;
    float *restrict alive = st->alive;
    size_t sat = 0;
    for (size_t j = 0; j < n; j++)
        alive[j] = 0.0f;
    st->saturated = st->dead = 0;
    /* rows of a multiple of GS_LANES entries: entry (r, j) is in lane j % GS_LANES of the
     * flattened array, so adding each row's squares while it is in L1 gives gs_sumsq's sum;
     * else gs_sumsq runs after the pass. Adding each square to its lane inside the entry loop
     * instead (lanes unrolled as the optimizer's pass does) was slower: 10/64/64 recording,
     * 196-203 -> 201-213 us per step (Zen 4, three alternations). */
    const int lanes = n % GS_LANES == 0;
#define MEASURE_ENTRY(D, j, i)                                                                     \
    float d = D(i), v = dh[i] * d;                                                                 \
    dz[i] = v;                                                                                     \
    db[j] += v;                                                                                    \
    srow += cs & (unsigned)(d < level);                                                            \
    alive[j] = vm_float(vm_bits(alive[j]) | vm_bits(d))
#define LOOP_MEASURE(D)                                                                            \
    do {                                                                                           \
        double q[GS_LANES] = {0};                                                                  \
        for (size_t r = 0; r < rows; r++) {                                                        \
            unsigned srow = 0; /* 32-bit lanes within a row (n <= 65536), then the total */        \
            for (size_t j = 0; j < n; j++) {                                                       \
                const size_t i = r * n + j;                                                        \
                MEASURE_ENTRY(D, j, i);                                                            \
            }                                                                                      \
            sat += srow;                                                                           \
            if (lanes) /* the row of dz, still in L1 */                                            \
                gs_lanes_sumsq(q, dz + r * n, n);                                                  \
        }                                                                                          \
        size_t dead = 0;                                                                           \
        for (size_t j = 0; j < n; j++)                                                             \
            dead += (vm_bits(alive[j]) & 0x7fffffffu) == 0;                                        \
        st->saturated = sat;                                                                       \
        st->dead = dead;                                                                           \
        st->dz_sumsq = lanes ? gs_lanes_fold(q) : gs_sumsq(dz, rows * n);                          \
    } while (0)
    VM_DISPATCH(ACT_DERIV_SWITCH(LOOP_MEASURE));
#undef LOOP_MEASURE
#undef MEASURE_ENTRY
}
