/* Dense (fully connected) layer kernels on OpenBLAS: every product is one cblas_sgemm. */
#include <cblas.h>

#include "nn/kernels.h"
#include "util/simd.h"

GS_SIMD_CLONES
void gs_dense_forward(float *z, const float *x, const float *w, const float *b, size_t B,
                      size_t n_in, size_t n_out)
{
    /* Start from the bias broadcast over rows, then accumulate x . w^T (beta = 1). */
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < n_out; j++)
            z[i * n_out + j] = b[j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)n_out, (int)n_in, 1.0f, x,
                (int)n_in, w, (int)n_in, 1.0f, z, (int)n_out);
}

GS_SIMD_CLONES
void gs_dense_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                       const float *w, size_t B, size_t n_in, size_t n_out)
{
    /* dw (n_out, n_in) += dz^T (n_out, B) . x (B, n_in) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)n_in, (int)B, 1.0f, dz,
                (int)n_out, x, (int)n_in, 1.0f, dw, (int)n_in);
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < n_out; j++)
            db[j] += dz[i * n_out + j];
    if (dx)
        /* dx (B, n_in) = dz (B, n_out) . w (n_out, n_in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)n_in, (int)n_out, 1.0f,
                    dz, (int)n_out, w, (int)n_in, 0.0f, dx, (int)n_in);
}
