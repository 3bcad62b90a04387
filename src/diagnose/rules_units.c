/* Unit rules: saturated and dead units. */
#include "diagnose/rules.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rules: saturation and dead units ------------------------------------------------- */

/* Per layer: flagged when the median over the run, or over the last quarter of recorded
 * steps (from step_from on), is above thr. Writes the flagged range and worst value. */
static int dg_flag_layers(Ctx *c, GsCol col, double thr, size_t step_from, int need_end, int *lo,
                          int *hi, double *worst, int *worst_layer, int *n_flagged)
{
    *lo = *hi = *worst_layer = *n_flagged = 0;
    *worst = DNAN;
    if (step_from >= c->S)
        step_from = c->S - 1;
    size_t n = c->S - step_from;
    size_t tail = c->S - (n + 3) / 4;
    for (int l = 1; l <= (int)c->L; l++) {
        double med = dg_layer_median(c, l, col, step_from, c->S);
        double end = dg_layer_median(c, l, col, tail, c->S);
        int bad = need_end ? (med > thr && end > thr) : (med > thr || end > thr);
        if (!bad)
            continue;
        double v = isfinite(med) && med > thr ? med : end;
        if (need_end)
            v = med;
        if (!*lo)
            *lo = l;
        *hi = l;
        (*n_flagged)++;
        if (!(v <= *worst)) {
            *worst = v;
            *worst_layer = l;
        }
    }
    return *lo != 0;
}

/* Steps at which any layer of [lo, hi] is above thr. */
static void dg_flag_steps(Ctx *c, GsCol col, double thr, int lo, int hi, long *first, long *last)
{
    *first = *last = -1;
    for (size_t i = 0; i < c->S; i++)
        for (int l = lo; l <= hi; l++)
            if (dg_get(c, i, l, col) > thr) {
                if (*first < 0)
                    *first = gs_trace_step(c->t, i);
                *last = gs_trace_step(c->t, i);
                break;
            }
    if (*first < 0)
        *first = *last = gs_trace_step(c->t, 0);
}

/* 1 when most layers of [lo, hi] are past thr at the first recorded step (the setup did it),
 * 0 when the pathology appeared while training (one layer a hair past the threshold at
 * step 0 is chance, not the setup). */
static int onset_at_init(const Ctx *c, GsCol col, double thr, int lo, int hi)
{
    int past = 0;
    for (int l = lo; l <= hi; l++)
        past += dg_get(c, 0, l, col) > thr;
    return 2 * past > hi - lo + 1;
}

/* 1 when column col has a finite value at some layer of the first recorded step. */
static int any_finite(const Ctx *c, GsCol col)
{
    for (int l = 1; l <= (int)c->L; l++)
        if (isfinite(dg_get(c, 0, l, col)))
            return 1;
    return 0;
}

/* The histogram statistic hcol of layer over the whole run (median), added as evidence key
 * when the trace has it: what the distributions say beside the column a rule judged. */
static void hist_evidence(Ctx *c, GsFinding *f, const char *key, GsCol hcol, int layer)
{
    double v = dg_layer_median(c, layer, hcol, 0, c->S);
    if (isfinite(v))
        dg_add_ev(f, key, v);
}

void rule_saturation(Ctx *c)
{
    /* the saturation column (the engine's), else the pile-up at the flat ends in the
     * activation histograms (a trace without the column: the PyTorch tracer's) */
    GsCol col = GS_COL_SATURATION;
    if (!gs_trace_has(c->t, GS_COL_SATURATION)) {
        if (!dg_has_hist(c, GS_HIST_ACT) || !any_finite(c, DG_COL_HIST_PILEUP)) {
            dg_skip(c, "saturation: no 'saturation' column and no activation histograms of a "
                       "tanh or sigmoid layer");
            return;
        }
        col = DG_COL_HIST_PILEUP;
    }
    if (c->su.act_known && !c->su.saturates) {
        dg_skip(c, "saturation: %s cannot saturate", c->su.act);
        return;
    }
    int lo, hi, worst_layer, nf;
    double worst;
    if (!dg_flag_layers(c, col, c->th->saturation, 0, 0, &lo, &hi, &worst, &worst_layer, &nf))
        return;
    GsFinding *f = dg_new_finding(c, GS_FIND_SATURATION, GS_SEV_WARNING);
    if (!f)
        return;
    c->onset_init[GS_FIND_SATURATION] = onset_at_init(c, col, c->th->saturation, lo, hi);
    f->layer_first = lo;
    f->layer_last = hi;
    dg_flag_steps(c, col, c->th->saturation, lo, hi, &f->step_first, &f->step_last);
    dg_add_ev(f, col == GS_COL_SATURATION ? "max_saturation" : "max_pileup", worst);
    dg_add_ev(f, "threshold", c->th->saturation);
    dg_add_ev(f, "worst_layer", worst_layer);
    dg_add_ev(f, "layers_flagged", nf);
    char lay[160];
    if (col == GS_COL_SATURATION) {
        hist_evidence(c, f, "hist_pileup", DG_COL_HIST_PILEUP, worst_layer);
        dg_set_text(f->message, sizeof f->message,
                    "Units saturate in %s: up to %.0f%% of %s units (layer %d) sit where the "
                    "derivative is below 5%% of its maximum (threshold %.0f%%), so little "
                    "gradient passes through them.",
                    dg_fmt_layers(c, lay, sizeof lay, lo, hi), 100.0 * worst,
                    dg_act_label(&c->su), worst_layer, 100.0 * c->th->saturation);
    } else {
        char act[48];
        dg_layer_act(c, worst_layer, act, sizeof act);
        dg_set_text(f->message, sizeof f->message,
                    "Units saturate in %s: the activation histograms pile up at %s's flat "
                    "ends - up to %.0f%% of layer %d's outputs lie within 1/32 of them "
                    "(threshold %.0f%%), where the derivative is nearly 0, so little gradient "
                    "passes through them.",
                    dg_fmt_layers(c, lay, sizeof lay, lo, hi), act, 100.0 * worst, worst_layer,
                    100.0 * c->th->saturation);
    }
    if (!strcmp(c->su.norm, "batch")) {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Use a non-saturating activation (ReLU with He initialization).");
        dg_set_text(f->options, sizeof f->options, "--act relu --init he_normal");
    } else {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Use ReLU with He initialization, or add batch norm to keep "
                    "pre-activations near 0.");
        dg_set_text(f->options, sizeof f->options, "--act relu --init he_normal");
    }
}

/* 1 when some hidden layer's activation histogram is of a ReLU (exact zeros mean no slope). */
static int relu_hist(const Ctx *c)
{
    if (!dg_has_hist(c, GS_HIST_ACT))
        return 0;
    for (int l = 1; l <= (int)c->L; l++) {
        char act[48];
        dg_layer_act(c, l, act, sizeof act);
        if (!strcmp(act, "relu"))
            return 1;
    }
    return 0;
}

void rule_dead(Ctx *c)
{
    /* the dead_frac column (units without slope on every sample), else the spike at exact 0
     * in a ReLU layer's activation histogram (outputs, not units: a higher threshold) */
    GsCol col = GS_COL_DEAD_FRAC;
    double thr = c->th->dead;
    if (!gs_trace_has(c->t, GS_COL_DEAD_FRAC)) {
        if (!relu_hist(c)) {
            dg_skip(c, "dead_units: no 'dead_frac' column and no activation histograms of a "
                       "ReLU layer");
            return;
        }
        col = DG_COL_HIST_ZERO;
        thr = c->th->zero_spike;
    }
    /* After step 0 and sustained to the end: units that die at init may revive. */
    size_t from = c->S > 1 ? 1 : 0;
    int lo, hi, worst_layer, nf;
    double worst;
    if (!dg_flag_layers(c, col, thr, from, 1, &lo, &hi, &worst, &worst_layer, &nf))
        return;
    double end_worst = 0;
    for (int l = lo; l <= hi; l++) {
        double v = dg_get(c, c->S - 1, l, col);
        if (isfinite(v) && v > end_worst)
            end_worst = v;
    }
    GsFinding *f =
        dg_new_finding(c, GS_FIND_DEAD_UNITS, end_worst >= 0.999 ? GS_SEV_ERROR : GS_SEV_WARNING);
    if (!f)
        return;
    c->dead_idx = (long)(f - c->out->items);
    /* dead at step 0 already (a negative bias, the init), or killed by training */
    c->onset_init[GS_FIND_DEAD_UNITS] = onset_at_init(c, col, thr, lo, hi);
    f->layer_first = lo;
    f->layer_last = hi;
    dg_flag_steps(c, col, thr, lo, hi, &f->step_first, &f->step_last);
    int hist = col == DG_COL_HIST_ZERO;
    dg_add_ev(f, hist ? "max_zero_share" : "max_dead_frac", worst);
    dg_add_ev(f, hist ? "zero_share_at_end" : "dead_frac_at_end", end_worst);
    dg_add_ev(f, "threshold", thr);
    dg_add_ev(f, "worst_layer", worst_layer);
    dg_add_ev(f, "layers_flagged", nf);
    if (!hist)
        hist_evidence(c, f, "hist_zero_share", DG_COL_HIST_ZERO, worst_layer);
    char lay[160];
    const Setup *su = &c->su;
    int neg_bias = su->bias_negative;
    const char *end_text = end_worst >= 0.999 ? "a whole layer is dead at the end, blocking every "
                                                "gradient below it"
                                              : "they stay dead to the end";
    if (hist)
        dg_set_text(f->message, sizeof f->message,
                    "Dead units in %s: %.0f%% of layer %d's outputs are exactly 0 (the spike at "
                    "zero in its activation histogram, median after step 0; threshold %.0f%%, a "
                    "healthy ReLU layer has about half), and %s - a unit at 0 has no slope, gets "
                    "no gradient and cannot recover.",
                    dg_fmt_layers(c, lay, sizeof lay, lo, hi), 100.0 * worst, worst_layer,
                    100.0 * thr, end_text);
    else
        dg_set_text(f->message, sizeof f->message,
                    "Dead units in %s: %.0f%% of layer %d's units output zero derivative on "
                    "every sample (median after step 0, threshold %.0f%%), and %s - a dead unit "
                    "gets no gradient and cannot recover.",
                    dg_fmt_layers(c, lay, sizeof lay, lo, hi), 100.0 * worst, worst_layer,
                    100.0 * thr, end_text);
    if (neg_bias) {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Initialize biases at zero (the negative bias switches units off), or use "
                    "leaky ReLU.");
        dg_set_text(f->options, sizeof f->options, "--bias-init zero --act leaky_relu");
    } else if (dg_lr_is_high(c) && isfinite(su->lr)) {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Use leaky ReLU (or ELU) and lower the learning rate, whose large steps "
                    "push units into the dead zone.");
        dg_set_text(f->options, sizeof f->options, "--act leaky_relu --lr %g", su->lr * 0.1);
    } else {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Use leaky ReLU (or ELU), whose gradient is never exactly zero.");
        dg_set_text(f->options, sizeof f->options, "--act leaky_relu");
    }
}

/* ---- rule: frozen layers ---------------------------------------------------------------- */

void rule_frozen(Ctx *c)
{
    /* A layer without a gradient at every recorded step ("no value" cells: a PyTorch
     * parameter with requires_grad=False). Not a pathology by itself: info. */
    int lo = 0, hi = 0, n = 0;
    char names[256] = "";
    for (int l = 1; l <= (int)c->L; l++) {
        int frozen = 1;
        for (size_t i = 0; i < c->S && frozen; i++)
            frozen = gs_trace_is_missing(dg_get(c, i, l, GS_COL_GRAD_NORM));
        if (!frozen)
            continue;
        if (!lo)
            lo = l;
        hi = l;
        n++;
        const char *nm = gs_trace_layer_name(c->t, (size_t)(l - 1));
        size_t used = strlen(names);
        if (used < sizeof names - 1) {
            if (nm)
                snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", nm);
            else
                snprintf(names + used, sizeof names - used, "%s%d", used ? ", " : "", l);
        }
    }
    if (!n)
        return;
    GsFinding *f = dg_new_finding(c, GS_FIND_FROZEN, GS_SEV_INFO);
    if (!f)
        return;
    c->onset_init[GS_FIND_FROZEN] = 1;
    f->layer_first = lo;
    f->layer_last = hi;
    f->step_first = gs_trace_step(c->t, 0);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    dg_add_ev(f, "frozen_layers", n);
    dg_add_ev(f, "first_frozen_layer", lo);
    dg_set_text(f->message, sizeof f->message,
                "%d layer%s without a gradient (frozen: %s): %s not trained, and the other "
                "rules leave %s out.",
                n, n == 1 ? "" : "s", names, n == 1 ? "it is" : "they are", n == 1 ? "it" : "them");
    dg_set_text(f->suggestion, sizeof f->suggestion,
                "Nothing to fix if freezing was intended; otherwise set requires_grad=True.");
}

/* ---- rule: heavy-tailed gradients ------------------------------------------------------- */

void rule_heavy_tail(Ctx *c)
{
    /* From the gradient histograms: the largest 0.1% of a layer's entries (at least 1000)
     * carry most of its squared norm, as the median over the run. A Gaussian puts 1.4%
     * there; healthy ReLU nets, whose dW = dz^T h multiplies two rectified signals, up to 16%
     * in the nets measured for the threshold (docs/DESIGN.md). Not a pathology by itself: a
     * few weights dominate the norm that clipping and the other rules read. Info. */
    if (!dg_has_hist(c, GS_HIST_GRAD)) {
        dg_skip(c, "heavy_tail: no gradient histograms (--hist grad)");
        return;
    }
    int lo, hi, worst_layer, nf;
    double worst;
    if (!dg_flag_layers(c, DG_COL_HIST_TOP1, c->th->heavy_tail, 0, 1, &lo, &hi, &worst,
                        &worst_layer, &nf))
        return;
    GsFinding *f = dg_new_finding(c, GS_FIND_HEAVY_TAIL, GS_SEV_INFO);
    if (!f)
        return;
    c->onset_init[GS_FIND_HEAVY_TAIL] =
        onset_at_init(c, DG_COL_HIST_TOP1, c->th->heavy_tail, lo, hi);
    f->layer_first = lo;
    f->layer_last = hi;
    dg_flag_steps(c, DG_COL_HIST_TOP1, c->th->heavy_tail, lo, hi, &f->step_first, &f->step_last);
    double span = dg_layer_median(c, worst_layer, DG_COL_HIST_SPAN, 0, c->S);
    dg_add_ev(f, "top_permille_share", worst);
    dg_add_ev(f, "threshold", c->th->heavy_tail);
    dg_add_ev(f, "worst_layer", worst_layer);
    dg_add_ev(f, "layers_flagged", nf);
    if (isfinite(span))
        dg_add_ev(f, "max_over_median_decades", span);
    char lay[160], sp[96] = "";
    if (isfinite(span))
        snprintf(sp, sizeof sp, "; its largest entries are %.1f decades above the median one",
                 span);
    dg_set_text(f->message, sizeof f->message,
                "Heavy-tailed gradient in %s: the largest 0.1%% of layer %d's gradient entries "
                "carry %.0f%% of its squared norm (median over the run, threshold %.0f%%; a "
                "Gaussian gradient puts 1.4%% there)%s. A few weights dominate the norm that "
                "clipping and the norm-based rules read.",
                dg_fmt_layers(c, lay, sizeof lay, lo, hi), worst_layer, 100.0 * worst,
                100.0 * c->th->heavy_tail, sp);
    dg_set_text(f->suggestion, sizeof f->suggestion,
                "Find which inputs or units the large entries belong to: a few active units "
                "among saturated or dead ones, an outlier input feature, a rare class; "
                "standardized inputs or Adam (which scales each weight's step) keep them from "
                "setting the pace.");
}
