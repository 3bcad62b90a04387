/* Double-accumulated reductions. OpenBLAS's dsdot was used before, but its kernels round the
 * products to float (measured here: 4e-10 relative off a double sum at 100k entries), which
 * is not the double accumulation the trace promises. Eight independent lanes keep the order
 * of additions fixed, so every CPU and clone gives the same bits. */
#include "util/reduce.h"

#include "util/simd.h"

#define LANES 8

static double fold(const double acc[LANES])
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

GS_SIMD_CLONES
double gs_sumsq(const float *x, size_t n)
{
    double acc[LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++)
        acc[0] += (double)x[i] * (double)x[i];
    return fold(acc);
}

GS_SIMD_CLONES
double gs_sum(const float *x, size_t n)
{
    double acc[LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += (double)x[i + k];
    for (; i < n; i++)
        acc[0] += (double)x[i];
    return fold(acc);
}
