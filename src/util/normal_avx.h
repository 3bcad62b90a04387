/* The Box-Muller transform of gs_rng_normal_fill, four deviates at a time: compiled with AVX
 * enabled (normal_avx.c) and called only where the CPU has it. */
#ifndef GS_UTIL_NORMAL_AVX_H
#define GS_UTIL_NORMAL_AVX_H

#include <stddef.h>

#if defined(GS_HAVE_SLEEF) && defined(__x86_64__) && defined(__GNUC__)
#define GS_HAVE_NORMAL_AVX 1
/* out[i] = sqrt(-2 log u1[i]) cos(2 pi u2[i]) for n entries (n a multiple of 4, u1 in
 * (0, 1]), with SLEEF's 1-ulp vector log and cos; each product and the square root are the
 * IEEE operations of the scalar formula (util/rng.c). */
void gs_box_muller_avx(double *out, const double *u1, const double *u2, size_t n);
#else
#define GS_HAVE_NORMAL_AVX 0
#endif

#endif
