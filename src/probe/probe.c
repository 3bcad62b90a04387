/* Read-only per-layer statistics over the net's arenas after backward and after the
 * optimizer has computed its update. The math kernels know nothing of this. */
#include "gradscope/probe.h"

#include <assert.h>
#include <cblas.h>
#include <float.h>
#include <math.h>

#include "gradscope/act.h"
#include "gradscope/hist.h"
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

/* The weight matrix of layer l (1-based): dense{l}.weight, or out.weight for the head. */
static const GsTensorInfo *layer_weight(const GsNet *net, size_t l)
{
    GsTensorRole role = l == gs_net_n_layers(net) ? GS_TENSOR_OUT_WEIGHT : GS_TENSOR_WEIGHT;
    const GsTensorInfo *t = gs_net_tensor(net, l - 1, role);
    assert(t);
    return t;
}

GS_SIMD_CLONES
void gs_probe_grads(GsNet *net, size_t B, double *row)
{
    const GsSpec *spec = gs_net_spec(net);
    const GsAct *act = &spec->act;
    const int can_sat = gs_act_can_saturate(act);
    const float sat_level = (float)(0.05 * gs_act_max_deriv(act));
    size_t L = gs_net_n_layers(net), nt;
    float *d = gs_net_scratch(net);
    const float *P = gs_net_params(net), *G = gs_net_grads(net);
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);

    /* The tensors, from the table: a layer's weight matrix gives its gradient and weight
     * columns, its bias the bias gradient; both count non-finite gradient entries. The norm's
     * scale and shift have no column of their own. */
    for (size_t l = 0; l < L; l++)
        row[l * GS_COL_COUNT + GS_COL_NONFINITE] = 0.0;
    for (size_t i = 0; i < nt; i++) {
        const GsTensorInfo *t = &tab[i];
        double *r = row + t->layer * GS_COL_COUNT;
        if (t->role == GS_TENSOR_WEIGHT || t->role == GS_TENSOR_OUT_WEIGHT) {
            Stats sw = stats(G + t->offset, t->size), w = stats(P + t->offset, t->size);
            r[GS_COL_GRAD_NORM] = sqrt(sw.sumsq);
            /* per entry: a 2-input or 3-output layer does not look small by its shape alone */
            r[GS_COL_GRAD_RMS] = sqrt(sw.sumsq / (double)t->size);
            r[GS_COL_GRAD_MAX_ABS] = sw.maxabs;
            r[GS_COL_WEIGHT_NORM] = sqrt(w.sumsq);
            r[GS_COL_NONFINITE] += (double)sw.nonfinite;
        } else if (t->role == GS_TENSOR_BIAS || t->role == GS_TENSOR_OUT_BIAS) {
            Stats sb = stats(G + t->offset, t->size);
            r[GS_COL_BIAS_GRAD_NORM] = sqrt(sb.sumsq);
            r[GS_COL_NONFINITE] += (double)sb.nonfinite;
        }
    }

    /* The activations, layer by layer (B rows of the layer's n_out units). */
    for (size_t l = 1; l <= L; l++) {
        double *r = row + (l - 1) * GS_COL_COUNT;
        size_t n_out = layer_weight(net, l)->shape[0], bn = B * n_out;
        Stats sz = stats(gs_net_layer_dz(net, l), bn);
        r[GS_COL_ACT_GRAD_NORM] = sqrt(sz.sumsq);

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
            for (size_t j = 0; j < n_out; j++)
                d[j] = (d[j] != 0.0f) | (d[i * n_out + j] != 0.0f) ? 1.0f : 0.0f;
        size_t dead = 0;
        for (size_t j = 0; j < n_out; j++)
            dead += d[j] == 0.0f;
        r[GS_COL_SATURATION] = (double)sat / (double)bn;
        r[GS_COL_DEAD_FRAC] = (double)dead / (double)n_out;
    }
}

void gs_probe_update(const GsNet *net, double *row)
{
    size_t nt;
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);
    const float *U = gs_net_update(net);
    for (size_t i = 0; i < nt; i++) {
        const GsTensorInfo *t = &tab[i];
        if (t->role != GS_TENSOR_WEIGHT && t->role != GS_TENSOR_OUT_WEIGHT)
            continue;
        double *r = row + t->layer * GS_COL_COUNT;
        Stats s = stats(U + t->offset, t->size);
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

void gs_probe_hist_grads(GsNet *net, size_t B, GsTrace *trace, size_t i)
{
    unsigned kinds = gs_trace_hist_kinds(trace);
    if (!(kinds & ((1u << GS_HIST_GRAD) | (1u << GS_HIST_ACT))))
        return;
    size_t nt;
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);
    const float *G = gs_net_grads(net);
    if (kinds & (1u << GS_HIST_GRAD)) {
        for (size_t k = 0; k < nt; k++) {
            const GsTensorInfo *t = &tab[k];
            if (t->role == GS_TENSOR_WEIGHT || t->role == GS_TENSOR_OUT_WEIGHT)
                gs_hist_add(gs_trace_hist_slot(trace, i, t->layer, GS_HIST_GRAD), G + t->offset,
                            t->size, 0.0);
        }
    }
    if (kinds & (1u << GS_HIST_ACT)) {
        double range = gs_trace_hist_act_range(trace);
        for (size_t l = 1; l <= gs_net_n_layers(net); l++) {
            size_t bn = B * layer_weight(net, l)->shape[0];
            gs_hist_add(gs_trace_hist_slot(trace, i, l - 1, GS_HIST_ACT), gs_net_layer_h(net, l),
                        bn, range);
        }
    }
}

void gs_probe_hist_update(const GsNet *net, GsTrace *trace, size_t i)
{
    if (!(gs_trace_hist_kinds(trace) & (1u << GS_HIST_UPDATE)))
        return;
    size_t nt;
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);
    const float *U = gs_net_update(net);
    for (size_t k = 0; k < nt; k++) {
        const GsTensorInfo *t = &tab[k];
        if (t->role == GS_TENSOR_WEIGHT || t->role == GS_TENSOR_OUT_WEIGHT)
            gs_hist_add(gs_trace_hist_slot(trace, i, t->layer, GS_HIST_UPDATE), U + t->offset,
                        t->size, 0.0);
    }
}
