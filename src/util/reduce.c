/* Double-accumulated reductions. OpenBLAS's dsdot was used before, but its kernels round the
 * products to float (measured here: 4e-10 relative off a double sum at 100k entries), which
 * is not the double accumulation the trace promises. GS_LANES independent lanes keep the
 * order of additions fixed, so every CPU and clone gives the same bits. */
#include "util/reduce.h"

#include <float.h>
#include <math.h>

#include "util/simd.h"

double gs_lanes_fold(const double acc[GS_LANES])
{
    _Static_assert(GS_LANES == 16, "the tree below is written out for 16 lanes");
    const double *a = acc;
    return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) +
           (((a[8] + a[9]) + (a[10] + a[11])) + ((a[12] + a[13]) + (a[14] + a[15])));
}

GS_SIMD_CLONES
double gs_sumsq(const float *x, size_t n)
{
    double acc[GS_LANES] = {0};
    size_t full = n - n % GS_LANES;
    gs_lanes_sumsq(acc, x, full);
    for (size_t i = full; i < n; i++)
        acc[0] += (double)x[i] * (double)x[i];
    return gs_lanes_fold(acc);
}

GS_SIMD_CLONES
double gs_sum(const float *x, size_t n)
{
    double acc[GS_LANES] = {0};
    size_t i = 0;
    for (; i + GS_LANES <= n; i += GS_LANES)
        for (int k = 0; k < GS_LANES; k++)
            acc[k] += (double)x[i + k];
    for (; i < n; i++)
        acc[0] += (double)x[i];
    return gs_lanes_fold(acc);
}

GS_SIMD_CLONES
void gs_sum_sumsq(const float *x, size_t n, double *sum, double *sumsq)
{
    double s[GS_LANES] = {0}, q[GS_LANES] = {0};
    size_t full = n - n % GS_LANES;
    gs_lanes_sum_sumsq(s, q, x, full);
    for (size_t i = full; i < n; i++) {
        double v = (double)x[i];
        s[0] += v;
        q[0] += v * v;
    }
    *sum = gs_lanes_fold(s);
    *sumsq = gs_lanes_fold(q);
}

GsVecStats gs_vec_stats_finish(double sumsq, float maxabs, const float *x, size_t n)
{
    GsVecStats s = {sumsq, (double)maxabs, 0};
    if (isfinite(sumsq)) /* finite squares of floats cannot overflow a double */
        return s;
    for (size_t i = 0; i < n; i++)
        s.nonfinite += !(fabsf(x[i]) <= FLT_MAX);
    if (isnan(sumsq)) /* only a NaN entry makes the sum NaN (Inf + Inf stays Inf) */
        s.maxabs = (double)NAN;
    return s;
}

GS_SIMD_CLONES
GsVecStats gs_vec_stats(const float *x, size_t n)
{
    double acc[GS_LANES] = {0};
    float mx[GS_LANES] = {0};
    size_t full = n - n % GS_LANES;
    gs_lanes_sumsq_max(acc, mx, x, full);
    for (size_t i = full; i < n; i++) {
        float a = fabsf(x[i]);
        acc[0] += (double)x[i] * (double)x[i];
        mx[0] = a > mx[0] ? a : mx[0];
    }
    return gs_vec_stats_finish(gs_lanes_fold(acc), gs_lanes_max(mx), x, n);
}
