/* Read-only per-layer statistics over the net's arenas after backward and after the
 * optimizer has computed its update. The math kernels know nothing of this. */
#include "gradscope/probe.h"

#include <cblas.h>
#include <float.h>
#include <math.h>

#include "gradscope/act.h"
#include "probe/record_priv.h"
#include "util/reduce.h"
#include "util/simd.h"

/* Sum of squares, largest |x| and count of NaN/Inf over n floats. The common case (all
 * finite) takes two vectorizable passes; only a non-finite sum pays for a scalar count. */
typedef struct {
    double sumsq, maxabs;
    size_t nonfinite;
} Stats;

/* Largest |x| of finite floats, by BLAS i?amax. */
static float maxabs_finite(const float *x, size_t n)
{
    return n ? fabsf(x[cblas_isamax((int)n, x, 1)]) : 0.0f;
}

static Stats stats(const float *x, size_t n)
{
    Stats s = {gs_sumsq(x, n), 0.0, 0};
    if (isfinite(s.sumsq)) { /* finite squares of floats cannot overflow a double */
        s.maxabs = (double)maxabs_finite(x, n);
        return s;
    }
    size_t nan = 0;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        s.nonfinite += !(a <= FLT_MAX);
        nan += a != a;
        mx = a > mx ? a : mx;
    }
    s.maxabs = nan ? (double)NAN : (double)mx;
    return s;
}

/* Mean and population std of n floats, sums in double. */
static void mean_std(const float *h, size_t n, double *mean, double *std)
{
    double m = gs_sum(h, n) / (double)n;
    double v = gs_sumsq(h, n) / (double)n - m * m;
    *mean = m;
    *std = sqrt(v > 0 ? v : 0.0);
}

GS_SIMD_CLONES
void gs_probe_grads(GsNet *net, size_t B, double *row)
{
    const GsSpec *spec = gs_net_spec(net);
    const GsAct *act = &spec->act;
    const int can_sat = gs_act_can_saturate(act);
    const float sat_level = (float)(0.05 * gs_act_max_deriv(act));
    size_t L = gs_net_n_layers(net);
    float *d = gs_net_scratch(net);
    for (size_t l = 1; l <= L; l++) {
        double *r = row + (l - 1) * GS_COL_COUNT;
        GsLayerParams p = gs_net_layer(net, l);
        size_t nw = p.n_out * p.n_in, bn = B * p.n_out;
        Stats sw = stats(p.dw, nw), sb = stats(p.db, p.n_out);
        Stats sz = stats(gs_net_layer_dz(net, l), bn);
        Stats w = stats(p.w, nw);
        r[GS_COL_GRAD_NORM] = sqrt(sw.sumsq);
        /* per entry: a 2-input or 3-output layer does not look small by its shape alone */
        r[GS_COL_GRAD_RMS] = sqrt(sw.sumsq / (double)nw);
        r[GS_COL_BIAS_GRAD_NORM] = sqrt(sb.sumsq);
        r[GS_COL_ACT_GRAD_NORM] = sqrt(sz.sumsq);
        r[GS_COL_GRAD_MAX_ABS] = sw.maxabs;
        r[GS_COL_WEIGHT_NORM] = sqrt(w.sumsq);
        r[GS_COL_NONFINITE] = (double)(sw.nonfinite + sb.nonfinite);

        /* Output statistics of h (the activation output; the output layer's logits). */
        const float *h = gs_net_layer_h(net, l);
        mean_std(h, bn, &r[GS_COL_ACT_MEAN], &r[GS_COL_ACT_STD]);

        if (l == L) { /* linear output layer: nothing can saturate or die */
            r[GS_COL_SATURATION] = 0.0;
            r[GS_COL_DEAD_FRAC] = 0.0;
            continue;
        }
        gs_act_local_deriv(act, d, gs_net_layer_y(net, l), h, bn);
        size_t sat = 0;
        if (can_sat)
            for (size_t k = 0; k < bn; k++)
                sat += d[k] < sat_level;
        /* A unit is dead when its derivative is exactly 0 on every sample of the batch:
         * OR the rows into row 0 (row by row, so the loop runs along memory). */
        for (size_t i = 1; i < B; i++)
            for (size_t j = 0; j < p.n_out; j++)
                d[j] = (d[j] != 0.0f) | (d[i * p.n_out + j] != 0.0f) ? 1.0f : 0.0f;
        size_t dead = 0;
        for (size_t j = 0; j < p.n_out; j++)
            dead += d[j] == 0.0f;
        r[GS_COL_SATURATION] = (double)sat / (double)bn;
        r[GS_COL_DEAD_FRAC] = (double)dead / (double)p.n_out;
    }
}

void gs_probe_update(const GsNet *net, double *row)
{
    size_t L = gs_net_n_layers(net);
    for (size_t l = 1; l <= L; l++) {
        double *r = row + (l - 1) * GS_COL_COUNT;
        GsLayerParams p = gs_net_layer((GsNet *)net, l);
        Stats s = stats(gs_net_layer_delta_w(net, l), p.n_out * p.n_in);
        r[GS_COL_UPDATE_RATIO] = sqrt(s.sumsq) / r[GS_COL_WEIGHT_NORM];
    }
}

GsProbeStats gs_probe_stats(const float *x, size_t n)
{
    Stats s = stats(x, n);
    GsProbeStats o = {s.sumsq, s.maxabs, s.nonfinite};
    return o;
}

void gs_probe_mean_std(const float *h, size_t n, double *mean, double *std)
{
    mean_std(h, n, mean, std);
}
