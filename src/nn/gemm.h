/* The engine's one matrix-product call site: every sgemm of the dense and recurrent kernels
 * goes through this file; gs_gemm picks the library per shape (gemm.c). */
#ifndef GS_NN_GEMM_H
#define GS_NN_GEMM_H

#include <stddef.h>

/* C (M x N) = op(A) op(B) + beta C, row-major, alpha 1; op transposes when ta / tb is set
 * (A is then stored K x M, B N x K); lda, ldb, ldc as cblas_sgemm's. beta 0 overwrites C
 * (NaN in C does not leak). Cannot fail. */
void gs_gemm(int ta, int tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
             const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* The same product on OpenBLAS always: the recurrent kernels' products (batch x hidden
 * shapes over time windows), where libxsmm was not measured, stay on it. */
void gs_gemm_openblas(int ta, int tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                      const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* 1 when OpenBLAS runs one of its AVX-512 kernel sets (SkylakeX, Cooperlake, SapphireRapids). */
int gs_gemm_openblas_avx512(void);

/* 1 when the plain (NN) product of this shape runs on libxsmm while its x . w^T form (NT)
 * would run on AVX2 or older OpenBLAS kernels, so that keeping a transposed copy of w pays. */
int gs_gemm_plain_pays(size_t M, size_t N, size_t K);

/* The library gs_gemm used for this shape on this machine (for benchmarks and notes):
 * "libxsmm" or "openblas". */
const char *gs_gemm_library(int ta, int tb, size_t M, size_t N, size_t K);

#endif
