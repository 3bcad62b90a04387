/* Reductions of float arrays accumulated in double (DESIGN.md: norms and sums in double),
 * vectorized in fixed lanes so the result does not depend on the CPU's vector width. */
#ifndef GS_UTIL_REDUCE_H
#define GS_UTIL_REDUCE_H

#include <math.h>
#include <stddef.h>

#include "gradscope/vecstats.h"

/* The lane count of every reduction: entry i of an array goes to lane i % GS_LANES, except a
 * tail of n % GS_LANES entries, which goes to lane 0; gs_lanes_fold adds the lanes up in one
 * fixed tree. Kernels that accumulate as they compute something else (the optimizer's update
 * pass) use the same order, so their sums equal gs_sumsq's bit for bit. 16 lanes (8 until
 * stop 23) give an AVX-512 loop two independent chains of additions per sum and AVX2 four:
 * with 8, one 512-bit chain made the fused forward statistics latency-bound (a driver of the
 * recorder at depth 10, width 64, batch 256 on Zen 5: recording cost 17.5% of a step with 8
 * lanes, 11-12% with 16; 32 gained nothing more). */
#define GS_LANES 16

/* The lanes added in one fixed tree: neighbours in pairs, then those sums in pairs, ...
 * (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) + ((a8 + a9) + ...). */
double gs_lanes_fold(const double acc[GS_LANES]);

/* The lane loops every reduction is made of, inlined into their callers' SIMD clones: over n
 * entries (n a multiple of GS_LANES, the caller adds a tail to lane 0 last), acc[k] +=
 * x[i]^2 for i % GS_LANES == k (gs_lanes_sum_sumsq: s[k] += x[i] too); gs_lanes_sumsq_max
 * also keeps mx[k] = the largest |x[i]|
 * the a > mx comparisons see (NaN never wins). A kernel that walks an array in blocks (each
 * a multiple of GS_LANES) gets exactly gs_sumsq's sum. */
#if defined(__GNUC__)
#define GS_REDUCE_INLINE static inline __attribute__((always_inline))
#else
#define GS_REDUCE_INLINE static inline
#endif
GS_REDUCE_INLINE void gs_lanes_sumsq(double acc[GS_LANES], const float *x, size_t n)
{
    for (size_t i = 0; i + GS_LANES <= n; i += GS_LANES)
        for (int k = 0; k < GS_LANES; k++)
            acc[k] += (double)x[i + k] * (double)x[i + k];
}
GS_REDUCE_INLINE void gs_lanes_sumsq_max(double acc[GS_LANES], float mx[GS_LANES], const float *x,
                                         size_t n)
{
    for (size_t i = 0; i + GS_LANES <= n; i += GS_LANES)
        for (int k = 0; k < GS_LANES; k++) {
            float a = fabsf(x[i + k]);
            acc[k] += (double)x[i + k] * (double)x[i + k];
            mx[k] = a > mx[k] ? a : mx[k];
        }
}
GS_REDUCE_INLINE void gs_lanes_sum_sumsq(double s[GS_LANES], double q[GS_LANES], const float *x,
                                         size_t n)
{
    for (size_t i = 0; i + GS_LANES <= n; i += GS_LANES)
        for (int k = 0; k < GS_LANES; k++) {
            double v = (double)x[i + k];
            s[k] += v;
            q[k] += v * v;
        }
}
/* The largest of the GS_LANES maxima. */
GS_REDUCE_INLINE float gs_lanes_max(const float mx[GS_LANES])
{
    float m = 0.0f;
    for (int k = 0; k < GS_LANES; k++)
        m = mx[k] > m ? mx[k] : m;
    return m;
}

/* Sum of x[i]^2 over n entries, each square and sum in double; NaN/Inf propagate. */
double gs_sumsq(const float *x, size_t n);
/* Sum of x[i] over n entries in double. */
double gs_sum(const float *x, size_t n);
/* Sum and sum of squares of n entries in one pass (each equal to gs_sum's and gs_sumsq's). */
void gs_sum_sumsq(const float *x, size_t n, double *sum, double *sumsq);

/* The statistics of n floats in one pass (the count of non-finite entries takes a second,
 * scalar pass only when the sum of squares is not finite). */
GsVecStats gs_vec_stats(const float *x, size_t n);
/* Completes the statistics of x[0..n) from its sum of squares and its largest |x| over the
 * entries a > max comparisons kept (every entry but NaN): when the sum is finite, there is
 * nothing to count; otherwise counts NaN/Inf in one scalar pass. */
GsVecStats gs_vec_stats_finish(double sumsq, float maxabs, const float *x, size_t n);

#endif
