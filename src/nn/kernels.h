/* Layer kernels of the engine: one forward/backward pair per layer over plain float
 * arrays (output first, then inputs, then dimensions). Backward functions OVERWRITE
 * parameter gradients and input gradients (every parameter has one writer per step, so no
 * zeroing pass is needed).
 * No kernel allocates, prints or records anything. */
#ifndef GS_NN_KERNELS_H
#define GS_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* z (B, n_out) = x (B, n_in) . w^T (w: n_out, n_in, row-major), without the bias. */
void gs_dense_matmul(float *z, const float *x, const float *w, size_t B, size_t n_in, size_t n_out);
/* z (B, n_out) = x (B, n_in) . wt (n_in, n_out, row-major: the weights w^T), without the
 * bias: the layer's next pass adds it (gs_act_forward_bias fuses it with the activation). The
 * net keeps a transposed mirror of a small layer's weights for this product: x . w^T on w
 * itself is a transposed-operand product, which OpenBLAS's small kernels run at half the
 * speed of the plain one and libxsmm does not compile (bench/bench_kernels). */
void gs_dense_matmul_t(float *z, const float *x, const float *wt, size_t B, size_t n_in,
                       size_t n_out);
/* 1 when a layer of n_in inputs and n_out outputs, run at batch B, keeps the mirror: at most
 * 128 x 128 weights, or up to 256 x 256 where the plain product runs on libxsmm while the
 * transposed one would fall to AVX2 OpenBLAS kernels (gs_gemm_plain_pays: libxsmm's AVX-512
 * kernels next to OpenBLAS's Haswell ones, as on a Zen 5 that OpenBLAS 0.3.21 does not know).
 * Measured with bench/bench_engine: on Ice Lake (OpenBLAS SkylakeX) +4-18% steps/s at width
 * 64 (depth 10 and 50 at batch 64; depth 10 at batch 256), none at 50/64/256 and at width
 * 128, but -10 to -40% at width 256 with batch 64 and at width 1024 (there the transposes of
 * large matrices and the mirror's memory outweigh the product's gain, and libxsmm's plain
 * product is slower than OpenBLAS's at 64 x 1024 x 1024). On Zen 5 with OpenBLAS's Haswell
 * kernels (libxsmm on every NN and TN product), mirroring 256 x 256 weights gave +4-22% at
 * width 256, and 1024 x 1024 ones (with the tiled transpose) -10% at 10 / 1024 / 64, -12% or
 * worse at 50 / 1024 / 64 and +5% at 10 / 1024 / 256: the 4 MB transposes cost what the plain
 * product saves. */
int gs_dense_mirrored(size_t n_in, size_t n_out, size_t B);
/* z (B, n_out) = x (B, n_in) . wt + b (n_out), wt as gs_dense_matmul_t's. */
void gs_dense_forward_t(float *z, const float *x, const float *wt, const float *b, size_t B,
                        size_t n_in, size_t n_out);
/* z (B, n_out) = x (B, n_in) . w^T (w: n_out, n_in, row-major) + b (n_out): the same layer
 * on the weights themselves (layers without a mirror, tests). */
void gs_dense_forward(float *z, const float *x, const float *w, const float *b, size_t B,
                      size_t n_in, size_t n_out);
/* dst (cols, rows) = src (rows, cols)^T, both row-major; exact (a copy). */
void gs_transpose(float *dst, const float *src, size_t rows, size_t cols);
/* dw (n_out, n_in) = dz^T . x; db (n_out) = column sums of dz (skipped when db is NULL:
 * gs_act_backward_bias made them); dx (B, n_in) = dz . w (skipped when dx is NULL). */
void gs_dense_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                       const float *w, size_t B, size_t n_in, size_t n_out);

/* Batch norm in training mode (per feature over the batch, biased variance, eps):
 * y (B, n) = gamma * xhat + beta, xhat = (z - mean) * rstd. Saves xhat (B, n) and rstd (n). */
void gs_batchnorm_forward(float *y, float *xhat, float *rstd, const float *z, const float *gamma,
                          const float *beta, size_t B, size_t n, float eps);
/* dz (B, n) = gradient through the normalization; dgamma, dbeta (n) are written.
 * dz may not alias dy. */
void gs_batchnorm_backward(float *dz, float *dgamma, float *dbeta, const float *dy,
                           const float *xhat, const float *rstd, const float *gamma, size_t B,
                           size_t n);
/* Layer norm (per sample over its n features): as batch norm with the roles of the axes
 * swapped; rstd has B entries. */
void gs_layernorm_forward(float *y, float *xhat, float *rstd, const float *z, const float *gamma,
                          const float *beta, size_t B, size_t n, float eps);
void gs_layernorm_backward(float *dz, float *dgamma, float *dbeta, const float *dy,
                           const float *xhat, const float *rstd, const float *gamma, size_t B,
                           size_t n);

/* Mean squared error over all B*n entries; dy (B, n) = dLoss/dy. Returns the loss. */
double gs_mse_forward_backward(float *dy, const float *y, const float *target, size_t B, size_t n);
/* Mean over the batch of softmax cross-entropy of logits (B, k) against class ids;
 * dlogits (B, k) = dLoss/dlogits. Returns the loss. */
double gs_xent_forward_backward(float *dlogits, const float *logits, const int32_t *label, size_t B,
                                size_t k);

#endif
