/* One call site for the engine's sgemm: libxsmm's JIT kernels where they pay, OpenBLAS for the
 * rest. Measured on each GEMM shape of a training step (bench/bench_kernels, AMD EPYC Zen 4,
 * AVX-512, one thread): libxsmm 1.17 is 1.13-1.26x OpenBLAS 0.3.21 (Cooperlake kernels) on the
 * backward products dW = dz^T x (row-major TN) and dx = dz W (NN) wherever one dimension is
 * 256 or more, up to M N K = 2^26; equal at 64 x 64 x 64 (OpenBLAS's small-matrix kernels) and
 * at 2^28 (1024 x 1024 x 256); and has no JIT kernel for the forward x W^T (NT, a transposed A
 * in its column-major terms). libxsmm's kernels are single-threaded: with more than one BLAS
 * thread OpenBLAS runs everything. A JIT kernel gives the same bits on every call. */
#include "nn/gemm.h"

#include <cblas.h>

#if defined(GS_HAVE_LIBXSMM)
#include <libxsmm.h>
#endif

/* libxsmm from this many multiply-adds (64 x 64 x 256) up to the upper bound. */
#define XSMM_MIN_MNK (1u << 20)
#define XSMM_MAX_MNK (1u << 26)

/* Whether this product goes to libxsmm: a layout it compiles (not NT), a size where it was
 * measured faster, one BLAS thread. */
static int use_xsmm(int ta, int tb, size_t M, size_t N, size_t K)
{
#if defined(GS_HAVE_LIBXSMM)
    double mnk = (double)M * (double)N * (double)K;
    return !(tb && !ta) && mnk >= (double)XSMM_MIN_MNK && mnk <= (double)XSMM_MAX_MNK &&
           openblas_get_num_threads() == 1;
#else
    (void)ta, (void)tb, (void)M, (void)N, (void)K;
    return 0;
#endif
}

#if defined(GS_HAVE_LIBXSMM)
/* The row-major C = op(A) op(B) is the column-major C^T (N x M) = op(B)^T op(A)^T, and a
 * row-major buffer read column-major is its matrix's transpose: libxsmm gets m = N, n = M,
 * k = K, B's buffer first (with B's transpose flag), A's second (with A's). The kernel for
 * it (NULL when libxsmm makes none); lda, ldb, ldc 0 ask for the kernel of any leading
 * dimensions libxsmm defaults to, as gs_gemm_library does. */
static libxsmm_smmfunction xsmm_kernel(int ta, int tb, size_t M, size_t N, size_t K, size_t lda,
                                       size_t ldb, size_t ldc, float beta)
{
    libxsmm_blasint m = (libxsmm_blasint)N, n = (libxsmm_blasint)M, k = (libxsmm_blasint)K;
    libxsmm_blasint la = (libxsmm_blasint)ldb, lb = (libxsmm_blasint)lda,
                    lc = (libxsmm_blasint)ldc;
    float alpha = 1.0f;
    int flags = (tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) |
                (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : 0);
    return libxsmm_smmdispatch(m, n, k, ldc ? &la : NULL, ldc ? &lb : NULL, ldc ? &lc : NULL,
                               &alpha, &beta, &flags, NULL);
}
#endif

void gs_gemm(int ta, int tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
             const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
#if defined(GS_HAVE_LIBXSMM)
    if (use_xsmm(ta, tb, M, N, K)) {
        libxsmm_smmfunction f = xsmm_kernel(ta, tb, M, N, K, lda, ldb, ldc, beta);
        if (f) {
            f(B, A, C);
            return;
        }
    }
#endif
    gs_gemm_openblas(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void gs_gemm_openblas(int ta, int tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                      const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

const char *gs_gemm_library(int ta, int tb, size_t M, size_t N, size_t K)
{
#if defined(GS_HAVE_LIBXSMM)
    if (use_xsmm(ta, tb, M, N, K) && xsmm_kernel(ta, tb, M, N, K, 0, 0, 0, 0.0f))
        return "libxsmm";
#endif
    return "openblas";
}
