/* Dense (fully connected) layer kernels on OpenBLAS: every product is one cblas_sgemm. */
#include <cblas.h>

#include "nn/kernels.h"
#include "util/simd.h"

void gs_dense_matmul(float *z, const float *x, const float *w, size_t B, size_t n_in,
                     size_t n_out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)n_out, (int)n_in, 1.0f, x,
                (int)n_in, w, (int)n_in, 0.0f, z, (int)n_out);
}

GS_SIMD_CLONES
void gs_dense_forward(float *z, const float *x, const float *w, const float *b, size_t B,
                      size_t n_in, size_t n_out)
{
    /* x . w^T (beta = 0: the product writes z), then the bias over the rows. */
    gs_dense_matmul(z, x, w, B, n_in, n_out);
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < n_out; j++)
            z[i * n_out + j] += b[j];
}

GS_SIMD_CLONES
void gs_dense_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                       const float *w, size_t B, size_t n_in, size_t n_out)
{
    /* dw (n_out, n_in) = dz^T (n_out, B) . x (B, n_in); beta = 0, so no zeroing pass first */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)n_in, (int)B, 1.0f, dz,
                (int)n_out, x, (int)n_in, 0.0f, dw, (int)n_in);
    /* db = the column sums of dz, row by row in float from 0 (NULL: the caller's fused pass
     * computed them) */
    if (db) {
        for (size_t j = 0; j < n_out; j++)
            db[j] = 0.0f;
        for (size_t i = 0; i < B; i++)
            for (size_t j = 0; j < n_out; j++)
                db[j] += dz[i * n_out + j];
    }
    if (dx)
        /* dx (B, n_in) = dz (B, n_out) . w (n_out, n_in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)n_in, (int)n_out, 1.0f,
                    dz, (int)n_out, w, (int)n_in, 0.0f, dx, (int)n_in);
}
