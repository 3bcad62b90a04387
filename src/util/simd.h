/* Function multi-versioning for the elementwise loops: GS_SIMD_CLONES compiles a function for
 * the x86-64 baseline and for AVX2, and the loader picks the clone the CPU supports. No FMA
 * in the clone, so every element is rounded alike in both (sums keep their written order). */
#ifndef GS_UTIL_SIMD_H
#define GS_UTIL_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GS_SIMD_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define GS_SIMD_CLONES
#endif

#endif
