/* Losses as PyTorch's defaults: means over the batch (MSE over all elements). */
#include <math.h>

#include "nn/kernels.h"

double gs_mse_forward_backward(float *dy, const float *y, const float *target, size_t B, size_t n)
{
    double s = 0.0, scale = 2.0 / ((double)B * (double)n);
    for (size_t i = 0; i < B * n; i++) {
        double d = (double)y[i] - (double)target[i];
        s += d * d;
        dy[i] = (float)(scale * d);
    }
    return s / ((double)B * (double)n);
}

double gs_xent_forward_backward(float *dlogits, const float *logits, const int32_t *label, size_t B,
                                size_t k)
{
    double total = 0.0;
    for (size_t i = 0; i < B; i++) {
        const float *z = logits + i * k;
        float *dz = dlogits + i * k;
        /* Subtract the max for stability; a NaN logit makes the row NaN, as it should. */
        double m = z[0];
        for (size_t j = 1; j < k; j++)
            if ((double)z[j] > m || isnan(z[j]))
                m = z[j];
        double s = 0.0;
        for (size_t j = 0; j < k; j++)
            s += exp((double)z[j] - m);
        double lse = m + log(s);
        total += lse - (double)z[label[i]];
        for (size_t j = 0; j < k; j++) {
            double p = exp((double)z[j] - lse);
            dz[j] = (float)((p - (j == (size_t)label[i] ? 1.0 : 0.0)) / (double)B);
        }
    }
    return total / (double)B;
}
