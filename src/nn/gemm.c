/* One call site for the engine's sgemm: libxsmm's JIT kernels where they pay, OpenBLAS for the
 * rest. Which shapes pay depends on the kernels libxsmm generates for the CPU (its target
 * architecture), so the rule has one size range per target, each measured on the GEMM shapes
 * of a training step with bench/bench_kernels (one thread, beta 0 as the step uses):
 * - AVX-512 targets (AMD EPYC Zen 4, OpenBLAS 0.3.21 Cooperlake kernels): libxsmm 1.17 is
 *   1.13-1.26x OpenBLAS on the backward products dW = dz^T x (row-major TN) and dx = dz W (NN)
 *   wherever one dimension is 256 or more, up to M N K = 2^26; equal at 64 x 64 x 64
 *   (OpenBLAS's AVX-512 small-matrix kernels) and at 2^28 (1024 x 1024 x 256).
 * - AVX2 targets (AMD EPYC Zen 3, OpenBLAS Zen kernels, which have no small-matrix path):
 *   libxsmm is 1.40-1.62x at 64 x 64 x 64 (TN and NN) and 1.42-1.69x at 256 x 64 x 64 NN in
 *   every run; at 2^20-2^22 it moved between runs on the shared machine (64 x 64 x 256 TN
 *   0.71-1.09x, 256 x 256 x 64 TN 0.76-1.10x, 64 x 256 x 256 NN 0.81-1.23x); from 2^24 on it
 *   loses (every width-1024 product 0.30-0.72x). So on AVX2, libxsmm for NN from 2^18 to 2^20
 *   and for TN at 2^18 (64^3 in the step's shapes), where it won every run.
 * - libxsmm's AVX-512 kernels next to OpenBLAS's AVX2 ones (AMD Zen 5, which OpenBLAS 0.3.21
 *   does not know and gives its Haswell kernels; or any AVX-512 CPU with OPENBLAS_CORETYPE set
 *   to an AVX2 set): libxsmm is 1.30-2.29x (Haswell) and 1.06-2.63x (Zen) on every TN and NN
 *   product of the step's shapes, 64 x 64 x 64 to 1024 x 1024 x 256, so it takes them all up
 *   to M N K = 2^28. On that CPU with OpenBLAS's SkylakeX or Cooperlake kernels the AVX-512
 *   range above held (0.85-1.42x inside it, 0.69-0.84x at 2^28).
 * libxsmm has no JIT kernel for x W^T (NT, a transposed A in its column-major terms) on
 * either. Its kernels are single-threaded: with more than one BLAS thread OpenBLAS runs
 * everything. The choice is a fixed function of the shape, the CPU and OpenBLAS's kernel set
 * (fixed when it loads), and a JIT kernel gives the same bits on every call, so a trace is
 * the same run after run on one machine. */
#include "nn/gemm.h"

#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#if defined(GS_HAVE_LIBXSMM)
#include <libxsmm.h>
#endif

/* Whether OpenBLAS runs its AVX-512 kernels (its kernel set's name; OPENBLAS_CORETYPE can
 * force any set, and OpenBLAS 0.3.21 gives a CPU it does not know, such as Zen 5, its AVX2
 * Haswell kernels). Read once: the kernel set is fixed when OpenBLAS loads. */
int gs_gemm_openblas_avx512(void)
{
    static _Atomic int known = -1;
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v < 0) {
        const char *c = openblas_get_corename();
        v = c &&
            (!strcmp(c, "SkylakeX") || !strcmp(c, "Cooperlake") || !strcmp(c, "SapphireRapids"));
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
}

#if defined(GS_HAVE_LIBXSMM)
/* libxsmm's AVX-512 kernels next to OpenBLAS's AVX2 (or older) ones: the case where libxsmm
 * takes every NN and TN product (above). */
static int xsmm_over_avx2_blas(void)
{
    return libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512 && !gs_gemm_openblas_avx512();
}
#endif

/* Whether this product goes to libxsmm: a layout it compiles (not NT), a size in the range
 * measured faster for libxsmm's target and OpenBLAS's kernel set on this CPU (above), one
 * BLAS thread. */
static int use_xsmm(int ta, int tb, size_t M, size_t N, size_t K)
{
#if defined(GS_HAVE_LIBXSMM)
    if ((tb && !ta) || openblas_get_num_threads() != 1)
        return 0;
    double mnk = (double)M * (double)N * (double)K;
    if (xsmm_over_avx2_blas())
        return mnk <= 0x1p28;
    if (libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512)
        return mnk >= 0x1p20 && mnk <= 0x1p26;
    return mnk >= 0x1p18 && mnk <= (ta ? 0x1p18 : 0x1p20);
#else
    (void)ta, (void)tb, (void)M, (void)N, (void)K;
    return 0;
#endif
}

/* Whether the plain product of this shape (NN) runs on libxsmm while its NT form, which
 * libxsmm does not compile, falls to AVX2 (or older) OpenBLAS kernels: then a transposed copy
 * of an operand pays for itself (nn/kernels.h, gs_dense_mirrored). */
int gs_gemm_plain_pays(size_t M, size_t N, size_t K)
{
#if defined(GS_HAVE_LIBXSMM)
    return xsmm_over_avx2_blas() && use_xsmm(0, 0, M, N, K);
#else
    (void)M, (void)N, (void)K;
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
    libxsmm_blasint la = (libxsmm_blasint)ldb, lb = (libxsmm_blasint)lda, lc = (libxsmm_blasint)ldc;
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
