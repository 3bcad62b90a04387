/* Dense (fully connected) layer kernels: every product is one gs_gemm (nn/gemm.c). */
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "util/simd.h"

void gs_dense_matmul(float *z, const float *x, const float *w, size_t B, size_t n_in,
                     size_t n_out)
{
    gs_gemm(0, 1, B, n_out, n_in, x, n_in, w, n_in, 0.0f, z, n_out);
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
    gs_gemm(1, 0, n_out, n_in, B, dz, n_out, x, n_in, 0.0f, dw, n_in);
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
        gs_gemm(0, 0, B, n_in, n_out, dz, n_out, w, n_in, 0.0f, dx, n_in);
}
