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

void rule_saturation(Ctx *c)
{
    if (!gs_trace_has(c->t, GS_COL_SATURATION)) {
        dg_skip(c, "saturation: no 'saturation' column");
        return;
    }
    if (c->su.act_known && !c->su.saturates) {
        dg_skip(c, "saturation: %s cannot saturate", c->su.act);
        return;
    }
    int lo, hi, worst_layer, nf;
    double worst;
    if (!dg_flag_layers(c, GS_COL_SATURATION, c->th->saturation, 0, 0, &lo, &hi, &worst, &worst_layer,
                     &nf))
        return;
    GsFinding *f = dg_new_finding(c, GS_FIND_SATURATION, GS_SEV_WARNING);
    if (!f)
        return;
    c->onset_init[GS_FIND_SATURATION] = onset_at_init(c, GS_COL_SATURATION, c->th->saturation, lo, hi);
    f->layer_first = lo;
    f->layer_last = hi;
    dg_flag_steps(c, GS_COL_SATURATION, c->th->saturation, lo, hi, &f->step_first, &f->step_last);
    dg_add_ev(f, "max_saturation", worst);
    dg_add_ev(f, "threshold", c->th->saturation);
    dg_add_ev(f, "worst_layer", worst_layer);
    dg_add_ev(f, "layers_flagged", nf);
    char lay[32];
    dg_set_text(f->message, sizeof f->message,
             "Units saturate in %s: up to %.0f%% of %s units (layer %d) sit where the "
             "derivative is below 5%% of its maximum (threshold %.0f%%), so little gradient "
             "passes through them.",
             dg_fmt_layers(lay, sizeof lay, lo, hi), 100.0 * worst, dg_act_label(&c->su), worst_layer,
             100.0 * c->th->saturation);
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

void rule_dead(Ctx *c)
{
    if (!gs_trace_has(c->t, GS_COL_DEAD_FRAC)) {
        dg_skip(c, "dead_units: no 'dead_frac' column");
        return;
    }
    /* After step 0 and sustained to the end: units that die at init may revive. */
    size_t from = c->S > 1 ? 1 : 0;
    int lo, hi, worst_layer, nf;
    double worst;
    if (!dg_flag_layers(c, GS_COL_DEAD_FRAC, c->th->dead, from, 1, &lo, &hi, &worst, &worst_layer,
                     &nf))
        return;
    double end_worst = 0;
    for (int l = lo; l <= hi; l++) {
        double v = dg_get(c, c->S - 1, l, GS_COL_DEAD_FRAC);
        if (isfinite(v) && v > end_worst)
            end_worst = v;
    }
    GsFinding *f =
        dg_new_finding(c, GS_FIND_DEAD_UNITS, end_worst >= 0.999 ? GS_SEV_ERROR : GS_SEV_WARNING);
    if (!f)
        return;
    c->dead_idx = (long)(f - c->out->items);
    /* dead at step 0 already (a negative bias, the init), or killed by training */
    c->onset_init[GS_FIND_DEAD_UNITS] = onset_at_init(c, GS_COL_DEAD_FRAC, c->th->dead, lo, hi);
    f->layer_first = lo;
    f->layer_last = hi;
    dg_flag_steps(c, GS_COL_DEAD_FRAC, c->th->dead, lo, hi, &f->step_first, &f->step_last);
    dg_add_ev(f, "max_dead_frac", worst);
    dg_add_ev(f, "dead_frac_at_end", end_worst);
    dg_add_ev(f, "threshold", c->th->dead);
    dg_add_ev(f, "worst_layer", worst_layer);
    dg_add_ev(f, "layers_flagged", nf);
    char lay[32];
    const Setup *su = &c->su;
    int neg_bias = su->bias_negative;
    dg_set_text(f->message, sizeof f->message,
             "Dead units in %s: %.0f%% of layer %d's units output zero derivative on every "
             "sample (median after step 0, threshold %.0f%%), and %s - a dead unit gets no "
             "gradient and cannot recover.",
             dg_fmt_layers(lay, sizeof lay, lo, hi), 100.0 * worst, worst_layer, 100.0 * c->th->dead,
             end_worst >= 0.999 ? "a whole layer is dead at the end, blocking every gradient "
                                  "below it"
                                : "they stay dead to the end");
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
                n, n == 1 ? "" : "s", names, n == 1 ? "it is" : "they are",
                n == 1 ? "it" : "them");
    dg_set_text(f->suggestion, sizeof f->suggestion,
                "Nothing to fix if freezing was intended; otherwise set requires_grad=True.");
}
