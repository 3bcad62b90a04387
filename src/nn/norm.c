/* Batch and layer normalization kernels (training mode), PyTorch semantics: biased
 * variance, eps inside the square root, learned scale and shift. Sums in double. */
#include <math.h>

#include "nn/kernels.h"

void gs_batchnorm_forward(float *y, float *xhat, float *rstd, const float *z, const float *gamma,
                          const float *beta, size_t B, size_t n, float eps)
{
    for (size_t j = 0; j < n; j++) {
        double s = 0.0;
        for (size_t i = 0; i < B; i++)
            s += (double)z[i * n + j];
        double mean = s / (double)B;
        double v = 0.0;
        for (size_t i = 0; i < B; i++) {
            double d = (double)z[i * n + j] - mean;
            v += d * d;
        }
        double r = 1.0 / sqrt(v / (double)B + (double)eps);
        rstd[j] = (float)r;
        for (size_t i = 0; i < B; i++) {
            float xh = (float)(((double)z[i * n + j] - mean) * r);
            xhat[i * n + j] = xh;
            y[i * n + j] = gamma[j] * xh + beta[j];
        }
    }
}

void gs_batchnorm_backward(float *dz, float *dgamma, float *dbeta, const float *dy,
                           const float *xhat, const float *rstd, const float *gamma, size_t B,
                           size_t n)
{
    /* dxhat = dy * gamma; dz = rstd/B * (B dxhat - sum dxhat - xhat sum(dxhat xhat)) */
    for (size_t j = 0; j < n; j++) {
        double sdy = 0.0, sdyx = 0.0;
        for (size_t i = 0; i < B; i++) {
            sdy += (double)dy[i * n + j];
            sdyx += (double)dy[i * n + j] * (double)xhat[i * n + j];
        }
        dgamma[j] = (float)sdyx;
        dbeta[j] = (float)sdy;
        double g = (double)gamma[j], mdy = g * sdy / (double)B, mdyx = g * sdyx / (double)B;
        double r = (double)rstd[j];
        for (size_t i = 0; i < B; i++)
            dz[i * n + j] =
                (float)(r * (g * (double)dy[i * n + j] - mdy - (double)xhat[i * n + j] * mdyx));
    }
}

void gs_layernorm_forward(float *y, float *xhat, float *rstd, const float *z, const float *gamma,
                          const float *beta, size_t B, size_t n, float eps)
{
    for (size_t i = 0; i < B; i++) {
        const float *zi = z + i * n;
        double s = 0.0;
        for (size_t j = 0; j < n; j++)
            s += (double)zi[j];
        double mean = s / (double)n;
        double v = 0.0;
        for (size_t j = 0; j < n; j++) {
            double d = (double)zi[j] - mean;
            v += d * d;
        }
        double r = 1.0 / sqrt(v / (double)n + (double)eps);
        rstd[i] = (float)r;
        for (size_t j = 0; j < n; j++) {
            float xh = (float)(((double)zi[j] - mean) * r);
            xhat[i * n + j] = xh;
            y[i * n + j] = gamma[j] * xh + beta[j];
        }
    }
}

void gs_layernorm_backward(float *dz, float *dgamma, float *dbeta, const float *dy,
                           const float *xhat, const float *rstd, const float *gamma, size_t B,
                           size_t n)
{
    /* dgamma and dbeta sum over the rows in float, starting from 0 */
    for (size_t j = 0; j < n; j++)
        dgamma[j] = dbeta[j] = 0.0f;
    for (size_t i = 0; i < B; i++) {
        const float *dyi = dy + i * n, *xi = xhat + i * n;
        double s = 0.0, sx = 0.0;
        for (size_t j = 0; j < n; j++) {
            double dxh = (double)dyi[j] * (double)gamma[j];
            s += dxh;
            sx += dxh * (double)xi[j];
            dgamma[j] += dyi[j] * xi[j];
            dbeta[j] += dyi[j];
        }
        double r = (double)rstd[i], m = s / (double)n, mx = sx / (double)n;
        for (size_t j = 0; j < n; j++)
            dz[i * n + j] =
                (float)(r * ((double)dyi[j] * (double)gamma[j] - m - (double)xi[j] * mx));
    }
}
