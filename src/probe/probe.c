/* Read-only per-layer statistics over the net's arenas after backward and after the
 * optimizer has computed its update. The math kernels know nothing of this. */
#include "gradscope/probe.h"

#include <assert.h>
#include <math.h>

#include "gradscope/act.h"
#include "gradscope/hist.h"
#include "probe/record_priv.h"
#include "util/reduce.h"
#include "util/simd.h"

/* Mean and population std of n values from their sum and sum of squares (in double). */
static void mean_std(double sum, double sumsq, size_t n, double *mean, double *std)
{
    double m = sum / (double)n;
    double v = sumsq / (double)n - m * m;
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

/* Saturated entries (local derivative below level, when the activation can saturate) of the
 * B x n derivatives d, and dead units (derivative exactly 0 on every row): one pass, which
 * ORs the rows into row 0 of d as it goes (along memory). */
GS_SIMD_CLONES
static void sat_dead(float *d, size_t B, size_t n, int can_sat, float level, size_t *sat,
                     size_t *dead)
{
    size_t s = 0, z = 0;
    const size_t cs = can_sat ? 1 : 0;
    for (size_t j = 0; j < n; j++) {
        s += cs & (d[j] < level);
        d[j] = d[j] != 0.0f ? 1.0f : 0.0f;
    }
    for (size_t i = 1; i < B; i++)
        for (size_t j = 0; j < n; j++) {
            float v = d[i * n + j];
            s += cs & (v < level);
            d[j] = (d[j] != 0.0f) | (v != 0.0f) ? 1.0f : 0.0f;
        }
    for (size_t j = 0; j < n; j++)
        z += d[j] == 0.0f;
    *sat = s;
    *dead = z;
}

void gs_probe_acts(GsNet *net, size_t B, double *row)
{
    const GsAct *act = &gs_net_spec(net)->act;
    const int can_sat = gs_act_can_saturate(act);
    const float sat_level = (float)(GS_SATURATION_FRACTION * gs_act_max_deriv(act));
    size_t L = gs_net_n_layers(net);
    float *d = gs_net_scratch(net);
    /* Layer by layer over the B rows of the layer's n_out units. */
    for (size_t l = 1; l <= L; l++) {
        double *r = row + (l - 1) * GS_COL_COUNT;
        size_t n_out = layer_weight(net, l)->shape[0], bn = B * n_out;
        const GsLayerMeasure *m = gs_net_layer_measure(net, l);
        /* each from the fused passes' measurements when they made them, else one pass here */
        double dzq = m->backward ? m->dz_sumsq : gs_sumsq(gs_net_layer_dz(net, l), bn);
        r[GS_COL_ACT_GRAD_NORM] = sqrt(dzq);

        /* Output statistics of h (the activation output; the output layer's logits). */
        const float *h = gs_net_layer_h(net, l);
        double sum, sumsq;
        if (m->forward)
            sum = m->h_sum, sumsq = m->h_sumsq;
        else
            gs_sum_sumsq(h, bn, &sum, &sumsq);
        mean_std(sum, sumsq, bn, &r[GS_COL_ACT_MEAN], &r[GS_COL_ACT_STD]);

        if (l == L) { /* linear output layer: nothing can saturate or die */
            r[GS_COL_SATURATION] = 0.0;
            r[GS_COL_DEAD_FRAC] = 0.0;
            continue;
        }
        size_t sat = m->saturated, dead = m->dead;
        if (!m->backward) {
            gs_act_local_deriv(act, d, gs_net_layer_y(net, l), h, bn);
            sat_dead(d, B, n_out, can_sat, sat_level, &sat, &dead);
        }
        r[GS_COL_SATURATION] = (double)sat / (double)bn;
        r[GS_COL_DEAD_FRAC] = (double)dead / (double)n_out;
    }
}

void gs_probe_tensors(const GsNet *net, double *row)
{
    size_t nt, L = gs_net_n_layers(net);
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);
    const GsTensorRecord *rec = gs_net_records(net);
    for (size_t l = 0; l < L; l++)
        row[l * GS_COL_COUNT + GS_COL_NONFINITE] = 0.0;
    /* A layer's weight matrix gives its gradient, weight and update columns, its bias the bias
     * gradient; both count non-finite gradient entries. The norm's scale and shift have no
     * column of their own. */
    for (size_t i = 0; i < nt; i++) {
        const GsTensorInfo *t = &tab[i];
        const GsVecStats *g = &rec[i].grad;
        double *r = row + t->layer * GS_COL_COUNT;
        if (t->role == GS_TENSOR_WEIGHT || t->role == GS_TENSOR_OUT_WEIGHT) {
            r[GS_COL_GRAD_NORM] = sqrt(g->sumsq);
            /* per entry: a 2-input or 3-output layer does not look small by its shape alone */
            r[GS_COL_GRAD_RMS] = sqrt(g->sumsq / (double)t->size);
            r[GS_COL_GRAD_MAX_ABS] = g->maxabs;
            r[GS_COL_WEIGHT_NORM] = sqrt(rec[i].param_sumsq);
            r[GS_COL_UPDATE_RATIO] = sqrt(rec[i].update_sumsq) / r[GS_COL_WEIGHT_NORM];
            r[GS_COL_NONFINITE] += (double)g->nonfinite;
        } else if (t->role == GS_TENSOR_BIAS || t->role == GS_TENSOR_OUT_BIAS) {
            r[GS_COL_BIAS_GRAD_NORM] = sqrt(g->sumsq);
            r[GS_COL_NONFINITE] += (double)g->nonfinite;
        }
    }
}

GsVecStats gs_probe_stats(const float *x, size_t n)
{
    return gs_vec_stats(x, n);
}

void gs_probe_mean_std(const float *h, size_t n, double *mean, double *std)
{
    double sum, sumsq;
    gs_sum_sumsq(h, n, &sum, &sumsq);
    mean_std(sum, sumsq, n, mean, std);
}

/* Adds tensor k's histogram of this kind to slot: the one the update pass counted when it
 * did, else a pass over the n entries at x. */
static void hist_tensor(const GsNet *net, size_t k, GsHistKind kind, float *slot, const float *x,
                        size_t n)
{
    const float *counted = gs_net_tensor_hist(net, k, kind);
    if (!counted) {
        gs_hist_add(slot, x, n, 0.0);
        return;
    }
    for (size_t b = 0; b < GS_HIST_NB; b++)
        slot[b] += counted[b];
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
                hist_tensor(net, k, GS_HIST_GRAD,
                            gs_trace_hist_slot(trace, i, t->layer, GS_HIST_GRAD), G + t->offset,
                            t->size);
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
            hist_tensor(net, k, GS_HIST_UPDATE,
                        gs_trace_hist_slot(trace, i, t->layer, GS_HIST_UPDATE), U + t->offset,
                        t->size);
    }
}
