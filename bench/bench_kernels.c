/* Kernel benchmark: gradscope's own elementwise math (vm_tanh, vm_sigmoid, vm_gelu from
 * src/nn/vmath.h) against SLEEF's vector functions, in speed and in accuracy against double
 * libm; and the small GEMMs of a width-W MLP training step through OpenBLAS against
 * libxsmm. The SLEEF and libxsmm parts are compiled only when meson finds those libraries.
 * Not a test: it prints, it does not assert.
 *
 *   bench_kernels [--budget SECONDS per item] [--rounds N] [--cpu-time] [--only math|gemm]
 */
#include <cblas.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if BENCH_HAVE_SLEEF
/* sleef.h declares its AVX2/AVX-512 functions only when the compiler targets those ISAs;
 * enable them for the declarations alone (the calls sit in target-attributed functions). */
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")
#include <sleef.h>
#pragma GCC pop_options
#endif
#if BENCH_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

#include "gradscope/hist.h"
#include "gradscope/rng.h"
#include "nn/gemm.h"
#include "nn/vmath.h"
#include "peak.h"

/* The clock: wall time, or with --cpu-time this thread's CPU time, which other jobs on a
 * shared machine disturb less (time-slicing does not count; cache sharing still does). */
static clockid_t clock_id = CLOCK_MONOTONIC;

/* Seconds on the chosen clock. */
static double now(void)
{
    struct timespec t;
    clock_gettime(clock_id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---------------------------------------------------------------- elementwise math */

/* y[i] = f(x[i]) for i < n; n is a multiple of 16 (the widest SLEEF vector). */
typedef void (*ElemFn)(const float *x, float *y, size_t n);

/* Defines the builds of one vmath loop, the clones the engine's own kernels have
 * (src/util/simd.h): the x86-64 baseline (SSE2) with the split multiply-adds it runs on CPUs
 * without FMA (vmath.h's VM_FMA, "nofma") and with glibc's fmaf (one unvectorized call each,
 * on this CPU its FMA instruction; on a CPU without FMA its software fmaf), x86-64-v3 (AVX2 +
 * FMA) and x86-64-v4 (AVX-512). The vm_ functions are always-inline, so each build
 * vectorizes for its own target. */
#define VM_LOOPS(name)                                                                             \
    static void vm_##name##_sse2nofma(const float *x, float *y, size_t n)                          \
    {                                                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            y[i] = vm_##name(x[i], 1);                                                             \
    }                                                                                              \
    static void vm_##name##_sse2(const float *x, float *y, size_t n)                               \
    {                                                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            y[i] = vm_##name(x[i], 0);                                                             \
    }                                                                                              \
    __attribute__((target("arch=x86-64-v3"))) static void vm_##name##_avx2(const float *x,         \
                                                                           float *y, size_t n)     \
    {                                                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            y[i] = vm_##name(x[i], 0);                                                             \
    }                                                                                              \
    __attribute__((target("arch=x86-64-v4"))) static void vm_##name##_avx512(const float *x,       \
                                                                             float *y, size_t n)   \
    {                                                                                              \
        for (size_t i = 0; i < n; i++)                                                             \
            y[i] = vm_##name(x[i], 0);                                                             \
    }

VM_LOOPS(tanh)
VM_LOOPS(sigmoid)
VM_LOOPS(gelu)

#if BENCH_HAVE_SLEEF
/* Defines the 8-lane AVX2 and 16-lane AVX-512F loops of one SLEEF expression: `expr8` and
 * `expr16` compute the vector result from the vector v. */
#define SLEEF_LOOPS(tag, expr8, expr16)                                                            \
    __attribute__((target("avx2,fma"))) static void sl_##tag##_avx2(const float *x, float *y,      \
                                                                    size_t n)                      \
    {                                                                                              \
        for (size_t i = 0; i < n; i += 8) {                                                        \
            __m256 v = _mm256_loadu_ps(x + i);                                                     \
            _mm256_storeu_ps(y + i, (expr8));                                                      \
        }                                                                                          \
    }                                                                                              \
    __attribute__((target("avx512f"))) static void sl_##tag##_avx512(const float *x, float *y,     \
                                                                     size_t n)                     \
    {                                                                                              \
        for (size_t i = 0; i < n; i += 16) {                                                       \
            __m512 v = _mm512_loadu_ps(x + i);                                                     \
            _mm512_storeu_ps(y + i, (expr16));                                                     \
        }                                                                                          \
    }

SLEEF_LOOPS(tanh_u10, Sleef_tanhf8_u10avx2(v), Sleef_tanhf16_u10avx512f(v))
SLEEF_LOOPS(tanh_u35, Sleef_tanhf8_u35avx2(v), Sleef_tanhf16_u35avx512f(v))
/* sigmoid = 1 / (1 + e^-x) through SLEEF's exp (e^-x overflows to inf below -88: 1/inf = 0,
 * the float limit). */
SLEEF_LOOPS(
    sigmoid_exp_u10,
    _mm256_div_ps(_mm256_set1_ps(1.0f),
                  _mm256_add_ps(_mm256_set1_ps(1.0f),
                                Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_setzero_ps(), v)))),
    _mm512_div_ps(_mm512_set1_ps(1.0f),
                  _mm512_add_ps(_mm512_set1_ps(1.0f),
                                Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_setzero_ps(), v)))))
/* gelu = x/2 (1 + erf(x/sqrt2)): the textbook form, which cancels for x << 0. */
SLEEF_LOOPS(gelu_erf_u10,
            _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                          _mm256_add_ps(_mm256_set1_ps(1.0f),
                                        Sleef_erff8_u10avx2(_mm256_mul_ps(
                                            v, _mm256_set1_ps(0.70710678118654752f))))),
            _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v),
                          _mm512_add_ps(_mm512_set1_ps(1.0f),
                                        Sleef_erff16_u10avx512f(_mm512_mul_ps(
                                            v, _mm512_set1_ps(0.70710678118654752f))))))
/* gelu = x/2 erfc(-x/sqrt2): no cancellation. */
SLEEF_LOOPS(
    gelu_erfc_u15,
    _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                  Sleef_erfcf8_u15avx2(_mm256_mul_ps(v, _mm256_set1_ps(-0.70710678118654752f)))),
    _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v),
                  Sleef_erfcf16_u15avx512f(_mm512_mul_ps(v,
                                                         _mm512_set1_ps(-0.70710678118654752f)))))
#endif

/* Double-precision references of the three functions. */
static double ref_tanh(double x)
{
    return tanh(x);
}

static double ref_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double ref_gelu(double x)
{
    return 0.5 * x * erfc(-x * 0.70710678118654752440);
}

/* One row of the math table: an implementation of a function and its reference. */
typedef struct {
    const char *func, *impl;
    ElemFn fn;
    double (*ref)(double);
} ElemImpl;

/* Largest relative error of fn against ref over the n points x: |y - ref| / |ref|, with
 * |ref| raised to FLT_MIN where the true value is below the normal float range (there only
 * the absolute error can mean anything). *at gets the worst point. */
static double max_rel_err(const ElemImpl *im, const float *x, float *y, size_t n, float *at)
{
    im->fn(x, y, n);
    double worst = 0.0;
    *at = x[0];
    for (size_t i = 0; i < n; i++) {
        double r = im->ref((double)x[i]);
        double d = fabs((double)y[i] - r) / fmax(fabs(r), (double)FLT_MIN);
        if (!(d <= worst)) { /* also catches NaN */
            worst = d;
            *at = x[i];
            if (isnan(d))
                break;
        }
    }
    return worst;
}

/* Seconds per element of fn on a warm array of n floats over one burst of about
 * `seconds`. The clock is read once per 65536 elements or more: a CPU-time clock read is a
 * system call, which would weigh on one short call. */
static double elem_burst(ElemFn fn, const float *x, float *y, size_t n, double seconds)
{
    long calls = 0, per_check = n >= 65536 ? 1 : (long)(65536 / n);
    double t0 = now(), t;
    do {
        for (long i = 0; i < per_check; i++)
            fn(x, y, n);
        calls += per_check;
        t = now() - t0;
    } while (t < seconds);
    return t / ((double)calls * (double)n);
}

/* Prints the elementwise table: speed at two array sizes and accuracy on a wide grid and
 * near zero, for every implementation the CPU can run. */
static void bench_math(double budget, int rounds)
{
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("x86-64-v3");
    int avx512 = __builtin_cpu_supports("x86-64-v4");
    ElemImpl all[] = {
        {"tanh", "gradscope sse2 nofma", vm_tanh_sse2nofma, ref_tanh},
        {"tanh", "gradscope sse2 fmaf", vm_tanh_sse2, ref_tanh},
        {"tanh", "gradscope avx2", avx2 ? vm_tanh_avx2 : NULL, ref_tanh},
        {"tanh", "gradscope avx512", avx512 ? vm_tanh_avx512 : NULL, ref_tanh},
#if BENCH_HAVE_SLEEF
        {"tanh", "sleef u10 avx2", avx2 ? sl_tanh_u10_avx2 : NULL, ref_tanh},
        {"tanh", "sleef u10 avx512", avx512 ? sl_tanh_u10_avx512 : NULL, ref_tanh},
        {"tanh", "sleef u35 avx2", avx2 ? sl_tanh_u35_avx2 : NULL, ref_tanh},
        {"tanh", "sleef u35 avx512", avx512 ? sl_tanh_u35_avx512 : NULL, ref_tanh},
#endif
        {"sigmoid", "gradscope sse2 nofma", vm_sigmoid_sse2nofma, ref_sigmoid},
        {"sigmoid", "gradscope sse2 fmaf", vm_sigmoid_sse2, ref_sigmoid},
        {"sigmoid", "gradscope avx2", avx2 ? vm_sigmoid_avx2 : NULL, ref_sigmoid},
        {"sigmoid", "gradscope avx512", avx512 ? vm_sigmoid_avx512 : NULL, ref_sigmoid},
#if BENCH_HAVE_SLEEF
        {"sigmoid", "sleef exp u10 avx2", avx2 ? sl_sigmoid_exp_u10_avx2 : NULL, ref_sigmoid},
        {"sigmoid", "sleef exp u10 avx512", avx512 ? sl_sigmoid_exp_u10_avx512 : NULL, ref_sigmoid},
#endif
        {"gelu", "gradscope sse2 nofma", vm_gelu_sse2nofma, ref_gelu},
        {"gelu", "gradscope sse2 fmaf", vm_gelu_sse2, ref_gelu},
        {"gelu", "gradscope avx2", avx2 ? vm_gelu_avx2 : NULL, ref_gelu},
        {"gelu", "gradscope avx512", avx512 ? vm_gelu_avx512 : NULL, ref_gelu},
#if BENCH_HAVE_SLEEF
        {"gelu", "sleef erf u10 avx2", avx2 ? sl_gelu_erf_u10_avx2 : NULL, ref_gelu},
        {"gelu", "sleef erf u10 avx512", avx512 ? sl_gelu_erf_u10_avx512 : NULL, ref_gelu},
        {"gelu", "sleef erfc u15 avx2", avx2 ? sl_gelu_erfc_u15_avx2 : NULL, ref_gelu},
        {"gelu", "sleef erfc u15 avx512", avx512 ? sl_gelu_erfc_u15_avx512 : NULL, ref_gelu},
#endif
    };
    /* Accuracy grids: 2^20 evenly spaced points in [-20, 20]; near zero 2^16 points, half
     * evenly spaced in (-1e-3, 1e-3), half of magnitudes log-spaced from 1e-38 to 1e-3
     * with alternating signs (denormal-adjacent inputs included). */
    const size_t n_wide = (size_t)1 << 20, n_tiny = (size_t)1 << 16;
    const size_t n_small = 4096, n_large = 65536;
    float *xw = malloc(n_wide * sizeof(float)), *yw = malloc(n_wide * sizeof(float));
    float *xt = malloc(n_tiny * sizeof(float));
    float *xs = malloc(n_large * sizeof(float)), *ys = malloc(n_large * sizeof(float));
    if (!xw || !yw || !xt || !xs || !ys) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(3);
    }
    for (size_t i = 0; i < n_wide; i++)
        xw[i] = (float)(-20.0 + 40.0 * (double)i / (double)(n_wide - 1));
    for (size_t i = 0; i < n_tiny / 2; i++)
        xt[i] = (float)(-1e-3 + 2e-3 * ((double)i + 0.5) / (double)(n_tiny / 2));
    for (size_t i = 0; i < n_tiny / 2; i++) {
        double m = pow(10.0, -38.0 + 35.0 * (double)i / (double)(n_tiny / 2 - 1));
        xt[n_tiny / 2 + i] = (float)(i % 2 ? -m : m);
    }
    /* Timing input: a fixed pseudo-random spread over [-10, 10]. */
    unsigned s = 12345u;
    for (size_t i = 0; i < n_large; i++) {
        s = s * 1664525u + 1013904223u;
        xs[i] = -10.0f + 20.0f * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
    printf("\n## elementwise math: ns per element on warm arrays (best of %d interleaved bursts, "
           "%.2f s per implementation and size), max relative error vs double libm\n",
           rounds, budget);
    printf("%-8s %-22s %9s %9s %10s %10s %10s\n", "function", "implementation", "ns@4096",
           "ns@65536", "maxrel", "at_x", "maxrel<1e-3");
    /* Timing: `rounds` rounds, each one short burst of every implementation at both sizes
     * in turn (so that a slow moment of the shared machine hits them alike); the fastest
     * burst of each counts. */
    enum { N_IMPL = sizeof all / sizeof all[0] };
    double best[N_IMPL][2];
    double burst = budget / (double)rounds;
    for (size_t k = 0; k < N_IMPL; k++) {
        best[k][0] = best[k][1] = INFINITY;
        if (all[k].fn)
            all[k].fn(xs, ys, n_large); /* warm-up: code, data, clocks */
    }
    for (int r = 0; r < rounds; r++)
        for (size_t k = 0; k < N_IMPL; k++)
            if (all[k].fn) {
                best[k][0] = fmin(best[k][0], elem_burst(all[k].fn, xs, ys, n_small, burst));
                best[k][1] = fmin(best[k][1], elem_burst(all[k].fn, xs, ys, n_large, burst));
            }
    for (size_t k = 0; k < N_IMPL; k++) {
        const ElemImpl *im = &all[k];
        if (!im->fn) {
            printf("%-8s %-22s   (not supported by this CPU)\n", im->func, im->impl);
            continue;
        }
        float at, at_tiny;
        double e_wide = max_rel_err(im, xw, yw, n_wide, &at);
        double e_tiny = max_rel_err(im, xt, yw, n_tiny, &at_tiny);
        printf("%-8s %-22s %9.3f %9.3f %10.2e %10.4g %10.2e\n", im->func, im->impl,
               best[k][0] * 1e9, best[k][1] * 1e9, e_wide, (double)at, e_tiny);
    }
    printf("# maxrel: max |y - ref| / max(|ref|, FLT_MIN) over 2^20 points evenly spaced in "
           "[-20, 20] (at_x: where); maxrel<1e-3: over 2^16 points with |x| < 1e-3 down to "
           "1e-38. float epsilon/2 = %.2e\n",
           (double)FLT_EPSILON / 2.0);
    free(xw);
    free(yw);
    free(xt);
    free(xs);
    free(ys);
}

/* ---------------------------------------------------------------- small GEMMs */

/* One row-major product C(MxN) = alpha op(A)(MxK) op(B)(KxN) + beta C. */
typedef struct {
    const char *what;
    int ta, tb, M, N, K;
} GemmShape;

/* The product as OpenBLAS computes it (alpha 1). */
static void gemm_openblas(const GemmShape *g, const float *a, const float *b, float *c, float beta)
{
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                g->M, g->N, g->K, 1.0f, a, g->ta ? g->M : g->K, b, g->tb ? g->K : g->N, beta, c,
                g->N);
}

#if BENCH_HAVE_LIBXSMM
/* The same product through libxsmm, which is column-major: the row-major C = op(A) op(B) is
 * the column-major C^T (NxM) = op(B)^T op(A)^T, and a row-major buffer read column-major is
 * its matrix's transpose; so libxsmm gets m = N, n = M, k = K, B's buffer first with B's
 * transpose flag and A's buffer second with A's. A JIT kernel, when libxsmm makes one for
 * the layout (libxsmm 1.17 has none with the column-major A transposed); else NULL and
 * libxsmm_sgemm is used, which may hand the call to the BLAS. */
typedef struct {
    libxsmm_smmfunction jit;
    char transa, transb;
    libxsmm_blasint m, n, k, lda, ldb, ldc;
} XsmmCall;

/* Prepares (and JIT-compiles, if libxsmm can) the product of g for one beta. */
static XsmmCall xsmm_prepare(const GemmShape *g, float beta)
{
    XsmmCall x;
    x.transa = g->tb ? 'T' : 'N';
    x.transb = g->ta ? 'T' : 'N';
    x.m = g->N;
    x.n = g->M;
    x.k = g->K;
    x.lda = g->tb ? g->K : g->N; /* the row-major ldb */
    x.ldb = g->ta ? g->M : g->K; /* the row-major lda */
    x.ldc = g->N;
    float alpha = 1.0f;
    int flags = (g->tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (g->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) |
                (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : 0);
    x.jit = libxsmm_smmdispatch(x.m, x.n, x.k, &x.lda, &x.ldb, &x.ldc, &alpha, &beta, &flags, NULL);
    return x;
}

/* Runs a prepared libxsmm product (the beta is the one it was prepared with). */
static void gemm_xsmm(const XsmmCall *x, const float *a, const float *b, float *c, float beta)
{
    if (x->jit) {
        x->jit(b, a, c);
    } else {
        float alpha = 1.0f;
        libxsmm_sgemm(&x->transa, &x->transb, &x->m, &x->n, &x->k, &alpha, b, &x->lda, a, &x->ldb,
                      &beta, c, &x->ldc);
    }
}
#endif

/* Seconds per call of one product over one burst of at least `seconds`. which 0 is OpenBLAS,
 * 1 libxsmm (x prepared). */
static double gemm_burst(int which, const GemmShape *g, const void *x, const float *a,
                         const float *b, float *c, float beta, double seconds)
{
    /* Clock reads about every 1e7 flops (~0.1 ms), not after each small product. */
    double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
    long calls = 0, per_check = flops >= 1e7 ? 1 : (long)(1e7 / flops);
    double t0 = now(), t;
    do {
        for (long i = 0; i < per_check; i++) {
#if BENCH_HAVE_LIBXSMM
            if (which)
                gemm_xsmm(x, a, b, c, beta);
            else
#endif
                gemm_openblas(g, a, b, c, beta);
        }
        calls += per_check;
        t = now() - t0;
    } while (t < seconds);
    (void)which;
    (void)x;
    return t / (double)calls;
}

/* Best seconds per call of each of the n_lib libraries (0 OpenBLAS, 1 libxsmm) for one
 * beta: `rounds` rounds, each a short burst of every library in turn, so that a slow moment
 * of the shared machine hits both alike; the fastest burst of each counts. */
static void gemm_times(int n_lib, const GemmShape *g, const void *x, const float *a, const float *b,
                       float *c, size_t nc, float beta, double budget, int rounds, double *best)
{
    double burst = budget / (double)(rounds * n_lib);
    for (int l = 0; l < n_lib; l++) {
        best[l] = INFINITY;
        memset(c, 0, nc * sizeof(float));
        gemm_burst(l, g, x, a, b, c, beta, 0.2 * burst); /* warm-up, not counted */
    }
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < n_lib; l++)
            best[l] = fmin(best[l], gemm_burst(l, g, x, a, b, c, beta, burst));
}

/* Prints the GEMM table: for each product of a width-W MLP step and each beta, OpenBLAS and
 * libxsmm GFLOP/s and their ratio; libxsmm's largest relative difference from OpenBLAS and
 * whether two libxsmm runs give the same bits. */
static void bench_gemm(double budget, int rounds)
{
    static const int widths[] = {64, 256, 1024}, batches[] = {64, 256};
    printf("\n## small GEMMs of one MLP training step (row-major), GFLOP/s, best of %d "
           "interleaved bursts, %.2f s per product and beta\n",
           rounds, budget);
#if BENCH_HAVE_LIBXSMM
    printf("%5s %5s %-9s %-4s %14s | %8s %8s %6s | %8s %8s %6s | %9s %5s | %s\n", "W", "B",
           "product", "op", "MxNxK", "blas_b0", "xsmm_b0", "ratio", "blas_b1", "xsmm_b1", "ratio",
           "maxreldif", "bits", "gs_gemm");
#else
    printf("%5s %5s %-9s %-4s %14s | %8s | %8s\n", "W", "B", "product", "op", "MxNxK", "blas_b0",
           "blas_b1");
#endif
    int any_fallback = 0;
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
            int W = widths[wi], B = batches[bi];
            GemmShape shapes[3] = {{"z=x*W^T", 0, 1, B, W, W},
                                   {"dW=dz^T*x", 1, 0, W, W, B},
                                   {"dx=dz*W", 0, 0, B, W, W}};
            for (int si = 0; si < 3; si++) {
                const GemmShape *g = &shapes[si];
                size_t na = (size_t)g->M * (size_t)g->K, nb = (size_t)g->K * (size_t)g->N;
                size_t nc = (size_t)g->M * (size_t)g->N;
                float *a = malloc(na * sizeof(float)), *b = malloc(nb * sizeof(float));
                float *c = malloc(nc * sizeof(float)), *c2 = malloc(nc * sizeof(float));
                float *c3 = malloc(nc * sizeof(float));
                if (!a || !b || !c || !c2 || !c3) {
                    fprintf(stderr, "bench_kernels: out of memory\n");
                    exit(3);
                }
                /* Positive entries in [0.5, 1.5): no cancellation, so an elementwise relative
                 * difference between the two libraries is meaningful. */
                for (size_t i = 0; i < na; i++)
                    a[i] = 0.5f + (float)((i * 37u) % 101u) / 101.0f;
                for (size_t i = 0; i < nb; i++)
                    b[i] = 0.5f + (float)((i * 53u) % 103u) / 103.0f;
                double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
                char mnk[32];
                snprintf(mnk, sizeof mnk, "%dx%dx%d", g->M, g->N, g->K);
                const char *op = g->ta ? (g->tb ? "TT" : "TN") : (g->tb ? "NT" : "NN");
                double gf[2][2] = {{0, 0}, {0, 0}}; /* [beta][library] */
#if BENCH_HAVE_LIBXSMM
                XsmmCall xc[2] = {xsmm_prepare(g, 0.0f), xsmm_prepare(g, 1.0f)};
                for (int be = 0; be < 2; be++) {
                    double t[2];
                    gemm_times(2, g, &xc[be], a, b, c, nc, (float)be, budget, rounds, t);
                    gf[be][0] = flops / t[0];
                    gf[be][1] = flops / t[1];
                }
                /* Agreement (beta 0) and run-to-run bits of libxsmm. */
                gemm_openblas(g, a, b, c, 0.0f);
                gemm_xsmm(&xc[0], a, b, c2, 0.0f);
                gemm_xsmm(&xc[0], a, b, c3, 0.0f);
                double dif = 0.0;
                for (size_t i = 0; i < nc; i++)
                    dif = fmax(dif, fabs((double)c2[i] - (double)c[i]) / fabs((double)c[i]));
                int same = memcmp(c2, c3, nc * sizeof(float)) == 0;
                int fb = !xc[0].jit || !xc[1].jit;
                any_fallback |= fb;
                printf("%5d %5d %-9s %-4s %14s | %8.1f %8.1f %6.2f | %8.1f %8.1f %6.2f | %9.2e "
                       "%5s%s | %s\n",
                       W, B, g->what, op, mnk, gf[0][0] * 1e-9, gf[0][1] * 1e-9,
                       gf[0][1] / gf[0][0], gf[1][0] * 1e-9, gf[1][1] * 1e-9, gf[1][1] / gf[1][0],
                       dif, same ? "same" : "DIFF", fb ? " *" : "  ",
                       gs_gemm_library(g->ta, g->tb, (size_t)g->M, (size_t)g->N, (size_t)g->K));
#else
                for (int be = 0; be < 2; be++) {
                    double t[1];
                    gemm_times(1, g, NULL, a, b, c, nc, (float)be, budget, rounds, t);
                    gf[be][0] = flops / t[0];
                }
                printf("%5d %5d %-9s %-4s %14s | %8.1f | %8.1f\n", W, B, g->what, op, mnk,
                       gf[0][0] * 1e-9, gf[1][0] * 1e-9);
#endif
                fflush(stdout);
                free(a);
                free(b);
                free(c);
                free(c2);
                free(c3);
            }
        }
#if BENCH_HAVE_LIBXSMM
    printf("# ratio: libxsmm / OpenBLAS; maxreldif: max |C_xsmm - C_blas| / |C_blas| (beta 0, "
           "positive data); bits: two libxsmm runs bit-identical; gs_gemm: the library the "
           "engine's call site uses for this shape on this CPU (libxsmm target %d)\n",
           libxsmm_get_target_archid());
    if (any_fallback)
        printf("# *: libxsmm made no JIT kernel for this layout; libxsmm_sgemm was timed, "
               "which forwards to the BLAS (OpenBLAS here)\n");
#else
    (void)any_fallback;
    printf("# libxsmm not found at build time: OpenBLAS only\n");
#endif
}

/* The histograms (gradscope/hist.h): ns per entry of gs_hist_add at each vector level the CPU
 * has, without and with the linear bins, on Gaussian entries spread over 8 decades, against
 * the floor of exact counting measured in the same run: the same number of counter
 * increments from precomputed bin indices (four interleaved arrays), nothing else. */
static const float *hist_x;
static float hist_bins[GS_HIST_NB];
static double hist_range;
static uint32_t hist_idx[1u << 20], hist_cnt[4][GS_HIST_NB];

static void hist_fn(const float *x, float *y, size_t n)
{
    (void)y;
    gs_hist_add(hist_bins, x, n, hist_range);
}

static void count_fn(const float *x, float *y, size_t n)
{
    (void)x, (void)y;
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        hist_cnt[0][hist_idx[k]]++;
        hist_cnt[1][hist_idx[k + 1]]++;
        hist_cnt[2][hist_idx[k + 2]]++;
        hist_cnt[3][hist_idx[k + 3]]++;
    }
    for (; k < n; k++)
        hist_cnt[0][hist_idx[k]]++;
}

static void bench_hist(double budget, int rounds)
{
    const size_t sizes[] = {4096, 1u << 20};
    float *x = malloc((1u << 20) * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(1);
    }
    GsRng r;
    gs_rng_seed(&r, 11);
    for (size_t i = 0; i < (1u << 20); i++) {
        x[i] = (float)(gs_rng_normal(&r) * pow(10.0, -8.0 * gs_rng_uniform(&r)));
        float one[GS_HIST_NB] = {0};
        gs_hist_add(one, &x[i], 1, 0.0);
        for (uint32_t b = 0; b < GS_HIST_NB; b++)
            if (one[b] != 0.0f)
                hist_idx[i] = b;
    }
    hist_x = x;
    static const char *const level_name[] = {"portable", "avx2", "avx512"};
    int top = gs_hist_use_isa(-1);
    printf("\n# histograms: ns per entry (Gaussian entries over 8 decades), best of %d rounds\n",
           rounds);
    printf("%-9s %-8s %10s %10s %10s %10s\n", "entries", "kernel", "log", "log+lin", "count_only",
           "log/count");
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        double t_count = 1e30;
        double t[3][2];
        for (int l = 0; l <= top; l++)
            t[l][0] = t[l][1] = 1e30;
        for (int rd = 0; rd < rounds; rd++) {
            double c = elem_burst(count_fn, x, NULL, n, budget / 4);
            t_count = c < t_count ? c : t_count;
            for (int l = 0; l <= top; l++)
                for (int lin = 0; lin < 2; lin++) {
                    gs_hist_use_isa(l);
                    hist_range = lin ? 1.0 : 0.0;
                    double v = elem_burst(hist_fn, x, NULL, n, budget / 4);
                    t[l][lin] = v < t[l][lin] ? v : t[l][lin];
                }
            gs_hist_use_isa(-1);
        }
        for (int l = 0; l <= top; l++)
            printf("%-9zu %-8s %10.3f %10.3f %10.3f %10.2f\n", n, level_name[l], t[l][0] * 1e9,
                   t[l][1] * 1e9, t_count * 1e9, t[l][0] / t_count);
    }
    printf(
        "# log: gs_hist_add with the log bins only (grad, update); log+lin: with the linear bins "
        "too (act); count_only: the increments alone from precomputed bins, the floor of any "
        "exact count\n");
    free(x);
}

int main(int argc, char **argv)
{
    double budget = 0.3;
    int rounds = 10, do_math = 1, do_gemm = 1, do_hist = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--budget") && i + 1 < argc) {
            budget = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--cpu-time")) {
            clock_id = CLOCK_THREAD_CPUTIME_ID;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            i++;
            do_math = !strcmp(argv[i], "math");
            do_gemm = !strcmp(argv[i], "gemm");
            do_hist = !strcmp(argv[i], "hist");
        } else {
            fprintf(stderr, "usage: bench_kernels [--budget SECONDS per item] [--rounds N] "
                            "[--cpu-time] [--only math|gemm|hist]\n");
            return 2;
        }
    }
    if (rounds < 1)
        rounds = 1;
    openblas_set_num_threads(1);
    printf("# OpenBLAS core %s, 1 thread; SIMD %s; one-core FMA peak %.1f GFLOP/s; %s time",
           openblas_get_corename(), peak_simd_level(), peak_fma_gflops(0.2),
           clock_id == CLOCK_MONOTONIC ? "wall" : "CPU");
#if BENCH_HAVE_LIBXSMM
    libxsmm_init();
    printf("; libxsmm %s target %s", LIBXSMM_VERSION, libxsmm_get_target_arch());
#else
    printf("; libxsmm not built in");
#endif
#if BENCH_HAVE_SLEEF
    printf("; SLEEF %d.%d.%d", SLEEF_VERSION_MAJOR, SLEEF_VERSION_MINOR, SLEEF_VERSION_PATCHLEVEL);
#else
    printf("; SLEEF not built in");
#endif
    printf("\n");
    if (do_math)
        bench_math(budget, rounds);
    if (do_gemm)
        bench_gemm(budget, rounds);
    if (do_hist)
        bench_hist(budget, rounds);
#if BENCH_HAVE_LIBXSMM
    libxsmm_finalize();
#endif
    return 0;
}
