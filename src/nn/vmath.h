/* Branch-free float exp/expm1/tanh/sigmoid/normal-CDF for the activation kernels: plain
 * arithmetic, fused multiply-adds, selects and integer bit operations only, so that GCC
 * vectorizes the loops that call them without -ffast-math. NaN propagates; infinities give
 * the mathematical limits. The range reductions and polynomials use fused multiply-adds
 * (VM_FMA: fmaf, one correctly rounded operation, the same in the x86-64-v3 and v4 clones of
 * util/simd.h; Haswell's and Sapphire Rapids' cores and Zen run it in the time of a multiply),
 * split into a product and a sum on CPUs without FMA. */
#ifndef GS_NN_VMATH_H
#define GS_NN_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Every helper must be inlined into the kernel loops: a call in the loop body (GCC at -O2
 * declines to inline the larger ones on its own) stops vectorization. */
#if defined(__GNUC__)
#define VM_INLINE static inline __attribute__((always_inline))
#else
#define VM_INLINE static inline
#endif

/* Bit casts (memcpy compiles to a register move and vectorizes). */
VM_INLINE uint32_t vm_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

VM_INLINE float vm_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* c ? a : b, blended on the bits. A float ?: gets turned back into control flow (PRE pushes
 * arithmetic into the arms, and with -ftrapping-math, which we keep, a conditional float
 * operation blocks if-conversion, hence vectorization); a bit blend keeps the loop straight. */
VM_INLINE float vm_sel(int c, float a, float b)
{
    uint32_t m = 0u - (uint32_t)c;
    return vm_float((vm_bits(a) & m) | (vm_bits(b) & ~m));
}

VM_INLINE float vm_abs(float x)
{
    return vm_float(vm_bits(x) & 0x7fffffffu);
}

/* |x| with the sign bit of s. */
VM_INLINE float vm_with_sign(float x, float s)
{
    return vm_float((vm_bits(x) & 0x7fffffffu) | (vm_bits(s) & 0x80000000u));
}

/* Every fused multiply-add below is VM_FMA(a, b, c), in a function with a parameter nofma: 0
 * computes it as fmaf (one instruction in the x86-64-v3 and v4 clones), 1 as a product and a
 * sum, rounded twice, in the baseline clone, which runs on CPUs below x86-64-v3 (e.g.
 * QEMU's and Proxmox's default virtual CPUs): there glibc's software fmaf takes ~45 ns a call
 * and vm_tanh 232 ns per entry (measured on Zen 5 with glibc's FMA code switched off by
 * GLIBC_TUNABLES), the split form 1.4 ns. The split form is the same formula within the same
 * accuracy bounds (tests/test_act.c runs both) and rounds the last bits differently; a CPU
 * always runs the same form, so its traces stay bit-identical run after run (across CPUs
 * they differ anyway: the BLAS kernels do). The kernels pass a constant (VM_DISPATCH), so
 * after inlining the choice folds away. */
#define VM_FMA(a, b, c) (nofma ? (a) * (b) + (c) : fmaf((a), (b), (c)))

/* 1 where the kernels split VM_FMA: the CPU is below x86-64-v3 (the baseline clone runs), the
 * build has no clones (x86-64 baseline code throughout), or a test or benchmark asked for it
 * (gs_vm_force_no_fma; nn/act.c). */
int gs_vm_no_fma(void);
void gs_vm_force_no_fma(int on);

/* Compiles the statements twice in a kernel, with nofma = 1 and with nofma = 0, and runs one of
 * them per call as gs_vm_no_fma says: the baseline clone the split form, the x86-64-v3 and v4
 * clones fmaf (unless a test forces the split form on them). */
#define VM_DISPATCH(...)                                                                           \
    do {                                                                                           \
        if (gs_vm_no_fma()) {                                                                      \
            const int nofma = 1;                                                                   \
            (void)nofma;                                                                           \
            __VA_ARGS__;                                                                           \
        } else {                                                                                   \
            const int nofma = 0;                                                                   \
            (void)nofma;                                                                           \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
    } while (0)

/* Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer (round to nearest even);
 * the integer then sits in the low mantissa bits of the sum, so no float->int conversion (UB
 * for NaN) is needed. */
#define VM_ROUND_MAGIC 12582912.0f
#define VM_ROUND_MAGIC_BITS 0x4b400000u
#define VM_LOG2E 1.44269504088896341f
/* ln 2 split in a 12-bit head (n * head is exact for |n| < 2^12) and a tail (Cody-Waite). */
#define VM_LN2_HI 0.693115234375f
#define VM_LN2_LO 3.19461849453094154e-05f

/* x - n ln 2 for the integer-valued float n (|n| < 2^12): the head's product is exact and so
 * is its difference with x, the tail's is fused with the last subtraction (one rounding). */
VM_INLINE float vm_reduce_ln2(float x, float n, int nofma)
{
    return VM_FMA(n, -VM_LN2_LO, VM_FMA(n, -VM_LN2_HI, x));
}

/* e^r - 1 for |r| <= ln2/2 + a little: Taylor to degree 7 (truncation < 6e-9 relative),
 * written as r + r^2 (...) so that the result keeps full relative accuracy as r -> 0. */
VM_INLINE float vm_expm1_poly(float r, int nofma)
{
    /* Estrin's scheme: the same polynomial as Horner's, with a dependency chain of 4
     * multiply-adds instead of 7 (the kernels are latency-bound otherwise). */
    float r2 = r * r, r4 = r2 * r2;
    float a = VM_FMA(r, 1.0f / 6.0f, 0.5f);
    float b = VM_FMA(r, 1.0f / 120.0f, 1.0f / 24.0f);
    float c = VM_FMA(r, 1.0f / 5040.0f, 1.0f / 720.0f);
    float p = VM_FMA(r4, c, VM_FMA(r2, b, a));
    return VM_FMA(r2, p, r);
}

/* e^x for x in [-104, 0] (NaN passes; denormal results rounded once). The scale 2^n is built
 * from exponent bits as 2^(n+64) * 2^-64 so that it stays a normal number down to x = -104. */
VM_INLINE float vm_exp_clamped(float x, int nofma)
{
    float t = VM_FMA(x, VM_LOG2E, VM_ROUND_MAGIC);
    float n = t - VM_ROUND_MAGIC;
    float r = vm_reduce_ln2(x, n, nofma);
    float p = vm_expm1_poly(r, nofma);
    float scale = vm_float((vm_bits(t) - VM_ROUND_MAGIC_BITS + 127u + 64u) << 23);
    return VM_FMA(scale, p, scale) * 0x1p-64f;
}

/* e^x for x <= 0 (-inf -> 0; positive x is treated as 0). */
VM_INLINE float vm_exp_neg(float x, int nofma)
{
    x = vm_sel(x < -104.0f, -104.0f, x);
    x = vm_sel(x > 0.0f, 0.0f, x);
    return vm_exp_clamped(x, nofma);
}

/* e^-(hi + lo) where hi is a float whose product with any integer n < 256 in magnitude,
 * subtracted as below, is exact (hi has <= 24 significant bits and hi + lo < 130), lo small.
 * Used for e^(-a^2/2) with a^2/2 split into an exact head and a tail: a plain float a*a
 * would lose a^2 * 2^-24 absolute, i.e. ~5e-6 relative error at a = 13. */
VM_INLINE float vm_exp_neg2(float hi, float lo, int nofma)
{
    float x = -(hi + lo);
    float t = VM_FMA(x, VM_LOG2E, VM_ROUND_MAGIC);
    float n = t - VM_ROUND_MAGIC;
    /* (-hi - n*LN2_HI) is exact: both are on a grid no finer than ulp(hi) and the
     * difference is below 2 * 2^exponent(hi). */
    float r = (((-hi) - n * VM_LN2_HI) - lo) - n * VM_LN2_LO;
    float p = vm_expm1_poly(r, nofma);
    float scale = vm_float((vm_bits(t) - VM_ROUND_MAGIC_BITS + 127u + 64u) << 23);
    return VM_FMA(scale, p, scale) * 0x1p-64f;
}

/* e^x - 1 for x <= 0 with small relative error everywhere, including |x| -> 0 and
 * denormals (-inf -> -1; positive x is treated as 0, callers select those away). */
VM_INLINE float vm_expm1_neg(float x, int nofma)
{
    x = vm_sel(x < -87.0f, -87.0f, x);
    x = vm_sel(x > 0.0f, 0.0f, x);
    float t = VM_FMA(x, VM_LOG2E, VM_ROUND_MAGIC);
    float n = t - VM_ROUND_MAGIC;
    float r = vm_reduce_ln2(x, n, nofma);
    float p = vm_expm1_poly(r, nofma);
    /* n >= -126, so 2^n is a normal float; for n = 0 this is exactly p. */
    float scale = vm_float((vm_bits(t) - VM_ROUND_MAGIC_BITS + 127u) << 23);
    return VM_FMA(scale, p, scale - 1.0f);
}

/* tanh z = -expm1(-2|z|) / (2 + expm1(-2|z|)) with the sign of z: no inf/inf, and the
 * expm1 form keeps relative accuracy for tiny |z|. expm1 is vm_expm1_neg's, with its two
 * clamps replaced by one of |z| at 9: tanh 9 = 1 - 3.0e-8 rounds to 1, as does every larger
 * |z| through the unclamped formula, so the result is the same bit for bit while the
 * argument -2|z| >= -18 is never below -87 nor above 0 (NaN passes the clamp unchanged).
 * The loop is bound by this chain's latency ending in the division, so each step off the
 * chain counts: with the fused multiply-adds, 0.47 -> 0.32 ns per entry (AVX-512, Sapphire
 * Rapids; AVX2 0.68 -> 0.49), accuracy unchanged (1.7e-7 relative, 1 - h^2 within 3.2e-7).
 * Tried and not kept (stops 27 and 28): tanh a = a P(a^2) / Q(a^2), P and Q of degree 4
 * fitted to 2.1e-8 relative on [0, 9.0109] (from there on tanh rounds to 1). Without FMA it
 * was 27% faster (Zen 4) but erred by 3.8e-7 relative; with FMA it takes 0.23 ns per entry
 * (Sapphire Rapids) and still errs by 3.4e-7 relative (5.8 units of 2^-24: P and Q lie just
 * above 1, where a float's half unit is 6e-8 relative, and four roundings add up), so
 * 1 - h^2 errs by 6.9e-7 absolute: above test_act's bounds (5e-7, 4e-7) and too coarse for
 * the saturation the probe reports. */
VM_INLINE float vm_tanh(float z, int nofma)
{
    float a = vm_abs(z);
    float ac = vm_sel(a > 9.0f, 9.0f, a);
    float x = -2.0f * ac;
    /* t from ac, not x: ac (-2 log2 e) is x log2 e exactly (a power-of-two scale), so t has the
     * same bits in both forms of VM_FMA (all 2^32 inputs compared) while x's product runs
     * beside the chain instead of in it */
    float t = VM_FMA(ac, -2.0f * VM_LOG2E, VM_ROUND_MAGIC);
    float n = t - VM_ROUND_MAGIC;
    float r = vm_reduce_ln2(x, n, nofma);
    float p = vm_expm1_poly(r, nofma);
    float scale = vm_float((vm_bits(t) - VM_ROUND_MAGIC_BITS + 127u) << 23);
    float em = VM_FMA(scale, p, scale - 1.0f);
    return vm_with_sign(-em / (2.0f + em), z);
}

/* 1 / (1 + e^-z), evaluated with e = e^-|z| <= 1 so that nothing overflows. */
VM_INLINE float vm_sigmoid(float z, int nofma)
{
    /* -min(|z|, 104) is what vm_exp_neg's clamps make of -|z|, without its test for x > 0 in
     * the chain: the same bits on all 2^32 inputs but NaNs (NaN still, another payload), 0.27
     * -> 0.23 ns per entry (AVX-512, Zen 5) */
    float a = vm_abs(z);
    float e = vm_exp_clamped(-vm_sel(a > 104.0f, 104.0f, a), nofma);
    float s = 1.0f / (1.0f + e);
    return vm_sel(z < 0.0f, e * s, s);
}

/* Beyond this |z| the normal tail Phi(-|z|) is below the smallest float. */
#define VM_NCDF_CUT 14.5f
/* Chebyshev coefficients of G(s) = Phi(-a) e^(a^2/2) (a + 2), a = 2(1+s)/(1-s), over
 * s in [-1, s1], s1 = (14.5-2)/(14.5+2), fitted by interpolation at 200 Chebyshev nodes of
 * the long-double erfc and truncated at degree 11 (truncation error 3.7e-9 relative). */
static const float vm_ncdf_cheb[12] = {
    7.193500478e-01f, -2.792362150e-01f, 6.513401999e-03f,  5.307814918e-03f,
    7.652283640e-05f, -1.545871787e-04f, -2.144973595e-05f, 2.711545523e-06f,
    1.369601969e-06f, 1.483351024e-07f,  -3.287216578e-08f, -1.506710067e-08f,
};

/* For a = min(|z|, cut) (NaN stays NaN): *q = Phi(-a) (lower normal tail, accurate relative
 * to itself) and *e = e^(-a^2/2). */
VM_INLINE void vm_ncdf_tail(float a, float *q, float *e, int nofma)
{
    /* a = ah + al with ah on 12 significant bits: ah^2/2 is exact. */
    float ah = vm_float(vm_bits(a) & 0xfffff000u);
    float hi = ah * ah * 0.5f;
    float lo = (a - ah) * (a + ah) * 0.5f;
    float ex = vm_exp_neg2(hi, lo, nofma);

    float inv = 1.0f / (a + 2.0f);
    float s = (a - 2.0f) * inv;
    /* map s in [-1, s1] to x in [-1, 1] */
    const float s1 = 12.5f / 16.5f;
    float x = (s - 0.5f * (s1 - 1.0f)) * (2.0f / (s1 + 1.0f));
    /* Clenshaw recurrence, unrolled by hand: GCC does not fully unroll the loop form in
     * every caller, and an inner loop stops vectorization of the outer one. */
    const float *c = vm_ncdf_cheb, x2 = 2.0f * x;
    float b1 = c[11], b2 = 0.0f, b0;
    b0 = x2 * b1 - b2 + c[10], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[9], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[8], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[7], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[6], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[5], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[4], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[3], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[2], b2 = b1, b1 = b0;
    b0 = x2 * b1 - b2 + c[1], b2 = b1, b1 = b0;
    float g = x * b1 - b2 + c[0];
    *q = ex * g * inv;
    *e = ex;
}

#define VM_INV_SQRT_2PI 0.398942280401432678f

/* gelu(z) = z Phi(z); -inf -> -0, +inf -> +inf. */
VM_INLINE float vm_gelu(float z, int nofma)
{
    float a = vm_abs(z);
    float ac = vm_sel(a > VM_NCDF_CUT, VM_NCDF_CUT, a);
    float q, e;
    vm_ncdf_tail(ac, &q, &e, nofma);
    float phi_cdf = vm_sel(z < 0.0f, q, 1.0f - q);
    float big = vm_sel(z < 0.0f, -0.0f, z);
    return vm_sel(a > VM_NCDF_CUT, big, z * phi_cdf);
}

/* gelu'(z) = Phi(z) + z phi(z); -inf -> 0, +inf -> 1. */
VM_INLINE float vm_gelu_deriv(float z, int nofma)
{
    float a = vm_abs(z);
    float ac = vm_sel(a > VM_NCDF_CUT, VM_NCDF_CUT, a);
    float q, e;
    vm_ncdf_tail(ac, &q, &e, nofma);
    float phi_cdf = vm_sel(z < 0.0f, q, 1.0f - q);
    float big = vm_sel(z < 0.0f, 0.0f, 1.0f);
    return vm_sel(a > VM_NCDF_CUT, big, phi_cdf + z * (e * VM_INV_SQRT_2PI));
}

#endif
