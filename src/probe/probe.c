/* Read-only per-layer statistics over the net's arenas after backward and after the
 * optimizer has computed its update. The math kernels know nothing of this. */
#include "gradscope/probe.h"

#include <float.h>
#include <math.h>

#include "gradscope/act.h"

/* Sum of squares, largest |x| and count of NaN/Inf over n floats, in one pass. */
typedef struct {
    double sumsq, maxabs;
    size_t nonfinite, nan;
} Stats;

static Stats stats(const float *x, size_t n)
{
    Stats s = {0, 0, 0, 0};
    double acc[4] = {0, 0, 0, 0};
    float mx = 0.0f;
    size_t bad = 0, nan = 0, i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            float v = x[i + k], a = fabsf(v);
            acc[k] += (double)v * (double)v;
            mx = a > mx ? a : mx;
            bad += !(a <= FLT_MAX);
            nan += v != v;
        }
    for (; i < n; i++) {
        float v = x[i], a = fabsf(v);
        acc[0] += (double)v * (double)v;
        mx = a > mx ? a : mx;
        bad += !(a <= FLT_MAX);
        nan += v != v;
    }
    s.sumsq = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    s.maxabs = nan ? (double)NAN : (double)mx;
    s.nonfinite = bad;
    s.nan = nan;
    return s;
}

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
        r[GS_COL_BIAS_GRAD_NORM] = sqrt(sb.sumsq);
        r[GS_COL_ACT_GRAD_NORM] = sqrt(sz.sumsq);
        r[GS_COL_GRAD_MAX_ABS] = sw.maxabs;
        r[GS_COL_WEIGHT_NORM] = sqrt(w.sumsq);
        r[GS_COL_NONFINITE] = (double)(sw.nonfinite + sb.nonfinite);

        /* Output statistics of h (the activation output; the output layer's logits). */
        const float *h = gs_net_layer_h(net, l);
        double s1 = 0.0, s2 = 0.0;
        for (size_t k = 0; k < bn; k++) {
            s1 += (double)h[k];
            s2 += (double)h[k] * (double)h[k];
        }
        double mean = s1 / (double)bn, var = s2 / (double)bn - mean * mean;
        r[GS_COL_ACT_MEAN] = mean;
        r[GS_COL_ACT_STD] = sqrt(var > 0 ? var : 0.0);

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
        /* A unit is dead when its derivative is exactly 0 on every sample of the batch. */
        size_t dead = 0;
        for (size_t j = 0; j < p.n_out; j++) {
            int alive = 0;
            for (size_t i = 0; i < B; i++)
                alive |= d[i * p.n_out + j] != 0.0f;
            dead += !alive;
        }
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
