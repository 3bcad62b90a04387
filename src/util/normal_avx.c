/* Four Box-Muller deviates at a time on SLEEF's AVX log and cos. This file alone is compiled
 * with -mavx (src/util/meson.build); util/rng.c calls it only on CPUs with AVX. */
#include "util/normal_avx.h"

#if GS_HAVE_NORMAL_AVX
#include <assert.h>
#include <immintrin.h>
#include <sleef.h>

void gs_box_muller_avx(double *out, const double *u1, const double *u2, size_t n)
{
    const __m256d two_pi = _mm256_set1_pd(6.283185307179586), m2 = _mm256_set1_pd(-2.0);
    assert(n % 4 == 0);
    for (size_t i = 0; i < n; i += 4) {
        __m256d l = Sleef_logd4_u10(_mm256_loadu_pd(u1 + i));
        __m256d c = Sleef_cosd4_u10(_mm256_mul_pd(two_pi, _mm256_loadu_pd(u2 + i)));
        _mm256_storeu_pd(out + i, _mm256_mul_pd(_mm256_sqrt_pd(_mm256_mul_pd(m2, l)), c));
    }
}
#endif
