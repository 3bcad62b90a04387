/* Machine ceilings for the benchmarks: the single-core float FMA peak measured with
 * intrinsics for the widest instruction set the CPU has, the name of that instruction set,
 * and the best cblas_sgemm rate for one shape. Used to print how close a kernel gets to what
 * the core can do. Not a test. */
#ifndef GS_BENCH_PEAK_H
#define GS_BENCH_PEAK_H

/* Single-core float FMA peak in GFLOP/s (2 flops per lane per FMA), measured for about
 * `seconds` with many independent FMA chains in the widest vector ISA present. */
double peak_fma_gflops(double seconds);

/* "AVX-512", "AVX2+FMA", "AVX" or "SSE2": the widest float vector ISA the CPU reports. */
const char *peak_simd_level(void);

/* GFLOP/s of row-major cblas_sgemm C(MxN) = op(A)(MxK) op(B)(KxN), beta 0, on warm
 * buffers: the best of a few repetitions lasting about `seconds` together. trans_a and
 * trans_b choose op() (nonzero: transposed). Returns 0 if the buffers cannot be allocated. */
double peak_sgemm_gflops(int trans_a, int trans_b, int M, int N, int K, double seconds);

#endif
