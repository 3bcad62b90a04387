/* Machine ceilings for the benchmarks: a measured single-core float FMA peak (independent
 * FMA chains in the widest vector ISA the CPU reports at run time), the name of that ISA and
 * the best cblas_sgemm rate of one shape. Not a test. */
#include "peak.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
#include <time.h>

/* Wall-clock seconds. */
static double peak_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* FMA iterations of the inner loop per timing check. */
#define PEAK_ITERS 4096

/* Where the accumulators end up, so that the compiler cannot drop the loop. */
static volatile float peak_sink;

/* One step of 12 independent chains a_i = a_i * m + c with the given FMA (a = a * m + c
 * converges to 1 and so never overflows or goes denormal). FMA latency (4-5 cycles) times
 * the FMA pipes per core (2) needs about 10 chains in flight; 12 leaves margin and, with m
 * and c, fits in the 16 registers AVX2 has. Named variables, not an array: GCC at -O2 keeps
 * an array of vectors in memory, which makes the loop a load/store loop. */
#define PEAK_STEP(fma)                                                                             \
    do {                                                                                           \
        a0 = fma(a0, m, c), a1 = fma(a1, m, c), a2 = fma(a2, m, c), a3 = fma(a3, m, c);            \
        a4 = fma(a4, m, c), a5 = fma(a5, m, c), a6 = fma(a6, m, c), a7 = fma(a7, m, c);            \
        a8 = fma(a8, m, c), a9 = fma(a9, m, c), a10 = fma(a10, m, c), a11 = fma(a11, m, c);        \
    } while (0)
#define PEAK_CHAINS 12

/* Runs `iters` steps of 12 independent 16-lane FMAs; returns the FMA lanes done. */
__attribute__((target("avx512f,fma"))) static double peak_loop_avx512(long iters)
{
    __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    __m512 a0 = _mm512_set1_ps(1.00f), a1 = _mm512_set1_ps(1.01f), a2 = _mm512_set1_ps(1.02f);
    __m512 a3 = _mm512_set1_ps(1.03f), a4 = _mm512_set1_ps(1.04f), a5 = _mm512_set1_ps(1.05f);
    __m512 a6 = _mm512_set1_ps(1.06f), a7 = _mm512_set1_ps(1.07f), a8 = _mm512_set1_ps(1.08f);
    __m512 a9 = _mm512_set1_ps(1.09f), a10 = _mm512_set1_ps(1.1f), a11 = _mm512_set1_ps(1.11f);
    for (long it = 0; it < iters; it++)
        PEAK_STEP(_mm512_fmadd_ps);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    peak_sink = _mm512_reduce_add_ps(s);
    return (double)iters * PEAK_CHAINS * 16.0;
}

/* The same with 8-lane AVX2 FMAs. */
__attribute__((target("avx2,fma"))) static double peak_loop_avx2(long iters)
{
    __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
    __m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f), a2 = _mm256_set1_ps(1.02f);
    __m256 a3 = _mm256_set1_ps(1.03f), a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f);
    __m256 a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f), a8 = _mm256_set1_ps(1.08f);
    __m256 a9 = _mm256_set1_ps(1.09f), a10 = _mm256_set1_ps(1.1f), a11 = _mm256_set1_ps(1.11f);
    for (long it = 0; it < iters; it++)
        PEAK_STEP(_mm256_fmadd_ps);
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    peak_sink = out[0] + out[7];
    return (double)iters * PEAK_CHAINS * 8.0;
}

/* a * m + c as a separate SSE multiply and add (no FMA): each counts as 2 flops. */
static __m128 peak_muladd_sse(__m128 a, __m128 m, __m128 c)
{
    return _mm_add_ps(_mm_mul_ps(a, m), c);
}

/* Without FMA: 4-lane SSE multiply + add pairs, counted as one FMA lane each. */
static double peak_loop_sse(long iters)
{
    __m128 m = _mm_set1_ps(0.999f), c = _mm_set1_ps(0.001f);
    __m128 a0 = _mm_set1_ps(1.00f), a1 = _mm_set1_ps(1.01f), a2 = _mm_set1_ps(1.02f);
    __m128 a3 = _mm_set1_ps(1.03f), a4 = _mm_set1_ps(1.04f), a5 = _mm_set1_ps(1.05f);
    __m128 a6 = _mm_set1_ps(1.06f), a7 = _mm_set1_ps(1.07f), a8 = _mm_set1_ps(1.08f);
    __m128 a9 = _mm_set1_ps(1.09f), a10 = _mm_set1_ps(1.1f), a11 = _mm_set1_ps(1.11f);
    for (long it = 0; it < iters; it++)
        PEAK_STEP(peak_muladd_sse);
    __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)),
                          _mm_add_ps(_mm_add_ps(a4, a5), _mm_add_ps(a6, a7)));
    s = _mm_add_ps(s, _mm_add_ps(_mm_add_ps(a8, a9), _mm_add_ps(a10, a11)));
    float out[4];
    _mm_storeu_ps(out, s);
    peak_sink = out[0] + out[3];
    return (double)iters * PEAK_CHAINS * 4.0;
}

/* The widest ISA name, from the CPU's own report (and the OS's, for AVX state). */
const char *peak_simd_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "AVX-512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "AVX2+FMA";
    if (__builtin_cpu_supports("avx"))
        return "AVX";
    return "SSE2";
}

/* Runs the widest FMA loop in short bursts for about `seconds` and returns the best burst's
 * rate: on a shared core the fastest burst is the closest to the core's own peak. */
double peak_fma_gflops(double seconds)
{
    __builtin_cpu_init();
    double (*loop)(long) = peak_loop_sse;
    if (__builtin_cpu_supports("avx512f"))
        loop = peak_loop_avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        loop = peak_loop_avx2;
    loop(PEAK_ITERS); /* warm-up: clocks up, code in cache */
    double best = 0.0, t_start = peak_now();
    do {
        double t0 = peak_now();
        double fmas = loop(PEAK_ITERS * 8);
        double dt = peak_now() - t0;
        if (dt > 0.0 && 2.0 * fmas / dt > best)
            best = 2.0 * fmas / dt;
    } while (peak_now() - t_start < seconds);
    return best * 1e-9;
}

/* Best-of-repetitions cblas_sgemm rate for one row-major shape with beta 0. Each
 * repetition runs the product enough times to last a few milliseconds. */
double peak_sgemm_gflops(int trans_a, int trans_b, int M, int N, int K, double seconds)
{
    size_t sa = (size_t)M * (size_t)K, sb = (size_t)K * (size_t)N, sc = (size_t)M * (size_t)N;
    float *a = malloc(sa * sizeof(float)), *b = malloc(sb * sizeof(float));
    float *c = malloc(sc * sizeof(float));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return 0.0;
    }
    for (size_t i = 0; i < sa; i++)
        a[i] = 0.01f * (float)(i % 97) - 0.4f;
    for (size_t i = 0; i < sb; i++)
        b[i] = 0.001f * (float)(i % 89) - 0.04f;
    /* Row-major leading dimensions: op(A) is MxK, so A itself is KxM when transposed. */
    int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    double flops = 2.0 * (double)M * (double)N * (double)K;
    /* Calls per repetition: about 2 ms of work at 50 GFLOP/s, at least one. */
    long calls = (long)(1e8 / flops) + 1;
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, N); /* warm */
    double best = 0.0, t_start = peak_now();
    int reps = 0;
    do {
        double t0 = peak_now();
        for (long i = 0; i < calls; i++)
            cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, N);
        double dt = peak_now() - t0;
        if (dt > 0.0 && flops * (double)calls / dt > best)
            best = flops * (double)calls / dt;
        reps++;
    } while (peak_now() - t_start < seconds || reps < 3);
    free(a);
    free(b);
    free(c);
    return best * 1e-9;
}
