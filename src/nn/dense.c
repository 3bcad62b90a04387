/* Dense (fully connected) layer kernels: every product is one gs_gemm (nn/gemm.c). */
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "util/simd.h"

int gs_dense_mirrored(size_t n_in, size_t n_out, size_t B)
{
    double nw = (double)n_in * (double)n_out;
    return nw <= 128.0 * 128.0 || (nw <= 256.0 * 256.0 && gs_gemm_plain_pays(B, n_out, n_in));
}

void gs_dense_matmul(float *z, const float *x, const float *w, size_t B, size_t n_in, size_t n_out)
{
    gs_gemm(0, 1, B, n_out, n_in, x, n_in, w, n_in, 0.0f, z, n_out);
}

void gs_dense_matmul_t(float *z, const float *x, const float *wt, size_t B, size_t n_in,
                       size_t n_out)
{
    gs_gemm(0, 0, B, n_out, n_in, x, n_in, wt, n_out, 0.0f, z, n_out);
}

/* Adds b to each of the B rows of z. */
GS_SIMD_CLONES
static void add_bias(float *z, const float *b, size_t B, size_t n_out)
{
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < n_out; j++)
            z[i * n_out + j] += b[j];
}

void gs_dense_forward_t(float *z, const float *x, const float *wt, const float *b, size_t B,
                        size_t n_in, size_t n_out)
{
    /* x . wt (beta = 0: the product writes z), then the bias over the rows. */
    gs_dense_matmul_t(z, x, wt, B, n_in, n_out);
    add_bias(z, b, B, n_out);
}

void gs_dense_forward(float *z, const float *x, const float *w, const float *b, size_t B,
                      size_t n_in, size_t n_out)
{
    gs_dense_matmul(z, x, w, B, n_in, n_out);
    add_bias(z, b, B, n_out);
}

/* dst (cols, rows) = src^T on the rectangle [i0, i1) x [j0, j1) of src, one entry at a time. */
static void transpose_part(float *dst, const float *src, size_t rows, size_t cols, size_t i0,
                           size_t i1, size_t j0, size_t j1)
{
    for (size_t i = i0; i < i1; i++)
        for (size_t j = j0; j < j1; j++)
            dst[j * rows + i] = src[i * cols + j];
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* One 8 x 8 block in AVX registers, (i, j) of src to (j, i) of dst: rows are interleaved in
 * pairs (unpack), then in fours (shuffle), then their 128-bit halves are exchanged. */
__attribute__((target("avx"))) static inline void
block8_avx(float *dst, const float *src, size_t rows, size_t cols, size_t i, size_t j)
{
    const float *s = src + i * cols + j;
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + cols);
    __m256 r2 = _mm256_loadu_ps(s + 2 * cols), r3 = _mm256_loadu_ps(s + 3 * cols);
    __m256 r4 = _mm256_loadu_ps(s + 4 * cols), r5 = _mm256_loadu_ps(s + 5 * cols);
    __m256 r6 = _mm256_loadu_ps(s + 6 * cols), r7 = _mm256_loadu_ps(s + 7 * cols);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    float *d = dst + j * rows + i;
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + rows, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * rows, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * rows, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * rows, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * rows, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * rows, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * rows, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* The 8 x 8 blocks in tiles of 64 x 64 entries (a tile's src and dst rows, 2 x 16 KB, stay in
 * L1), and within a tile the blocks of one 8-row strip of dst one after another, so that dst
 * rows fill line by line. Walking whole rows of src blocks instead scattered each block's 8
 * stores over the whole of dst at its row stride (a page apart at 1024 columns): measured on
 * Zen 5, 256 x 256 took 37 us and 1024 x 1024 1.25 ms; tiled so, 8.6 us and 0.6 ms (that one
 * bound by its 8 MB of traffic); 64 x 64 0.2 us either way. The edges entry by entry. */
__attribute__((target("avx"))) static void transpose_avx(float *dst, const float *src, size_t rows,
                                                         size_t cols)
{
    enum { TI = 64, TJ = 64 };
    size_t r8 = rows - rows % 8, c8 = cols - cols % 8;
    for (size_t i0 = 0; i0 < r8; i0 += TI)
        for (size_t j0 = 0; j0 < c8; j0 += TJ) {
            size_t i1 = i0 + TI < r8 ? i0 + TI : r8, j1 = j0 + TJ < c8 ? j0 + TJ : c8;
            for (size_t j = j0; j < j1; j += 8)
                for (size_t i = i0; i < i1; i += 8)
                    block8_avx(dst, src, rows, cols, i, j);
        }
    transpose_part(dst, src, rows, cols, 0, r8, c8, cols);
    transpose_part(dst, src, rows, cols, r8, rows, 0, cols);
}
#endif

void gs_transpose(float *dst, const float *src, size_t rows, size_t cols)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx")) {
        transpose_avx(dst, src, rows, cols);
        return;
    }
#endif
    /* tiles of 16 x 16, so that both sides stay in cache for large matrices */
    enum { T = 16 };
    for (size_t i0 = 0; i0 < rows; i0 += T)
        for (size_t j0 = 0; j0 < cols; j0 += T)
            transpose_part(dst, src, rows, cols, i0, i0 + T < rows ? i0 + T : rows, j0,
                           j0 + T < cols ? j0 + T : cols);
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
