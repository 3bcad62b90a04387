/* Function multi-versioning for the elementwise loops: GS_SIMD_CLONES compiles a function for
 * the x86-64 baseline and for the x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512) levels, and
 * the loader picks the best clone the CPU supports. The build contracts no a * b + c on its
 * own (-ffp-contract=off, meson.build), so a fused multiply-add appears only where the source
 * writes one: nn/vmath.h's VM_FMA, fmaf in the v3 and v4 clones (one instruction, correctly
 * rounded, so both round every element alike) and a product and a sum in the baseline clone,
 * which runs on CPUs below x86-64-v3; sums keep their written order. */
#ifndef GS_UTIL_SIMD_H
#define GS_UTIL_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GS_SIMD_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#define GS_SIMD_HAVE_CLONES 1
#else
#define GS_SIMD_HAVE_CLONES 0
#define GS_SIMD_CLONES
#endif

#endif
