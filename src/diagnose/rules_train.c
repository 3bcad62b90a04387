/* Training rules: non-finite values, update sizes and the loss. */
#include "diagnose/rules.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fix for an overflow or a divergence that nothing else explains: the step size. */
static void lower_lr_and_clip(GsFinding *f, const Setup *su)
{
    if (isfinite(su->lr)) {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Lower the learning rate tenfold and clip the gradient norm.");
        dg_set_text(f->options, sizeof f->options, "--lr %g --clip-norm 1", su->lr * 0.1);
    } else {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Lower the learning rate and clip the gradient norm.");
        dg_set_text(f->options, sizeof f->options, "--clip-norm 1");
    }
}

/* ---- rule: non-finite ----------------------------------------------------------------- */

/* Does any gradient quantity of layer at recorded step i hold NaN/Inf? */
int dg_step_nonfinite(const Ctx *c, size_t i, int layer)
{
    const GsTrace *t = c->t;
    if (dg_nonfinite(dg_get(c, i, layer, GS_COL_GRAD_NORM)))
        return 1;
    if (gs_trace_has(t, GS_COL_NONFINITE)) {
        double n = dg_get(c, i, layer, GS_COL_NONFINITE);
        if (isfinite(n) && n > 0)
            return 1;
    }
    if (gs_trace_has(t, GS_COL_BIAS_GRAD_NORM) && isinf(dg_get(c, i, layer, GS_COL_BIAS_GRAD_NORM)))
        return 1;
    if (gs_trace_has(t, GS_COL_ACT_GRAD_NORM) && isinf(dg_get(c, i, layer, GS_COL_ACT_GRAD_NORM)))
        return 1;
    return 0;
}

int dg_weight_nonfinite(const Ctx *c, size_t i, int layer)
{
    if (!gs_trace_has(c->t, GS_COL_WEIGHT_NORM))
        return 0;
    return dg_nonfinite(dg_get(c, i, layer, GS_COL_WEIGHT_NORM));
}

/* Step of the engine's `# first_nonfinite = STEP,LAYER` line; -1 when absent or "none". */
static long dg_meta_first_nonfinite(const Ctx *c, int *layer)
{
    const char *s = gs_trace_meta_get(c->t, "first_nonfinite");
    if (!s)
        return -1;
    char *end = NULL;
    long step = strtol(s, &end, 10);
    if (end == s || step < 0)
        return -1;
    *layer = 0;
    if (*end == ',') {
        long l = strtol(end + 1, NULL, 10);
        if (l >= 1 && l <= (long)c->L)
            *layer = (int)l;
    }
    return step;
}

void rule_nonfinite(Ctx *c)
{
    size_t first = c->S;
    for (size_t i = 0; i < c->S && first == c->S; i++) {
        int bad = isinf(c->loss[i]) || (gs_trace_has(c->t, GS_COL_LOSS) && isnan(c->loss[i]) &&
                                        i > 0 && isfinite(c->loss[0]));
        for (int l = 1; l <= (int)c->L && !bad; l++)
            bad = dg_step_nonfinite(c, i, l) || dg_weight_nonfinite(c, i, l);
        if (bad)
            first = i;
    }
    if (first == c->S)
        return;

    /* Which quantity went first, in the order the step computes them: weights (left by the
     * previous update) -> loss (forward) -> gradients (backward, from the output down). */
    char what[160], lay[160];
    int origin = 0, lo = 0, hi = 0;
    for (int l = 1; l <= (int)c->L; l++)
        if (dg_weight_nonfinite(c, first, l)) {
            if (!origin)
                origin = l;
            if (!lo)
                lo = l;
            hi = l;
        }
    int loss_bad = !isfinite(c->loss[first]) && gs_trace_has(c->t, GS_COL_LOSS);
    if (origin) {
        dg_set_text(what, sizeof what,
                    "the weights of %s went non-finite first (the update "
                    "before this step overflowed them)",
                    dg_fmt_layers(c, lay, sizeof lay, lo, hi));
    } else if (loss_bad) {
        dg_set_text(what, sizeof what,
                    "the loss went non-finite first while the weights were "
                    "still finite, and every layer's gradient follows from it");
        lo = 1;
        hi = (int)c->L;
        origin = (int)c->L;
    } else {
        for (int l = (int)c->L; l >= 1; l--)
            if (dg_step_nonfinite(c, first, l)) {
                if (!origin)
                    origin = l; /* backward runs from the output: the top layer came first */
                if (!hi)
                    hi = l;
                lo = l;
            }
        dg_set_text(what, sizeof what,
                    "the gradients went non-finite first (weights and loss "
                    "still finite), in %s, from layer %d down",
                    dg_fmt_layers(c, lay, sizeof lay, lo, hi), origin);
    }
    size_t n_bad = 0, last = first;
    for (size_t i = first; i < c->S; i++) {
        int bad = !isfinite(c->loss[i]) && gs_trace_has(c->t, GS_COL_LOSS);
        for (int l = 1; l <= (int)c->L && !bad; l++)
            bad = dg_step_nonfinite(c, i, l) || dg_weight_nonfinite(c, i, l);
        if (bad) {
            n_bad++;
            last = i;
        }
    }
    double last_loss = DNAN, max_grad = DNAN;
    for (size_t i = 0; i < first; i++) {
        if (isfinite(c->loss[i]))
            last_loss = c->loss[i];
        for (int l = 1; l <= (int)c->L; l++) {
            double g = dg_get(c, i, l, GS_COL_GRAD_NORM);
            if (isfinite(g) && !(g <= max_grad))
                max_grad = g;
        }
    }

    GsFinding *f = dg_new_finding(c, GS_FIND_NONFINITE, GS_SEV_ERROR);
    if (!f)
        return;
    f->layer_first = lo;
    f->layer_last = hi;
    f->step_first = gs_trace_step(c->t, first);
    f->step_last = gs_trace_step(c->t, last);
    int meta_layer = 0;
    long exact = dg_meta_first_nonfinite(c, &meta_layer);
    char exact_note[96] = "";
    if (exact >= 0 && exact < f->step_first) {
        f->step_first = exact;
        dg_set_text(exact_note, sizeof exact_note, " (step %ld by the engine's exact record)",
                    exact);
    }
    dg_add_ev(f, "first_step", (double)f->step_first);
    dg_add_ev(f, "layer", origin);
    dg_add_ev(f, "loss_at_first", c->loss[first]);
    dg_add_ev(f, "last_finite_loss", last_loss);
    dg_add_ev(f, "max_grad_norm_before", max_grad);
    dg_add_ev(f, "nonfinite_steps", (double)n_bad);

    dg_set_text(f->message, sizeof f->message,
                "Training produced NaN/Inf from recorded step %ld%s on: %s; %zu recorded step%s "
                "held non-finite values - the run overflowed.",
                gs_trace_step(c->t, first), exact_note, what, n_bad, n_bad == 1 ? "" : "s");
    /* The fix when no other finding explains the overflow (link_causes then gives the
     * explaining finding's): the step size, which is what turns a finite run non-finite. */
    lower_lr_and_clip(f, &c->su);
}

/* ---- rules: update size --------------------------------------------------------------- */

/* Median over the run of each layer's update ratio into med[0..L); returns the median over
 * layers (NaN without data). */
double dg_update_medians(Ctx *c, double *med)
{
    for (int l = 1; l <= (int)c->L; l++)
        med[l - 1] = dg_layer_median(c, l, GS_COL_UPDATE_RATIO, 0, c->S);
    memcpy(c->buf, med, c->L * sizeof *med);
    return dg_median_finite(c->buf, c->L);
}

void rule_update(Ctx *c, int too_large)
{
    double *med = malloc(c->L * sizeof *med);
    if (!med) {
        c->oom = 1;
        return;
    }
    double all = dg_update_medians(c, med);
    const GsThresholds *th = c->th;
    int lo = 0, hi = 0, n = 0, n_fin = 0;
    double ext = DNAN;
    for (int l = 1; l <= (int)c->L; l++) {
        double m = med[l - 1];
        if (!isfinite(m))
            continue;
        n_fin++;
        if (too_large ? m > th->update_high : m < th->update_low) {
            if (!lo)
                lo = l;
            hi = l;
            n++;
            if (isnan(ext) || (too_large ? m > ext : m < ext))
                ext = m;
        }
    }
    free(med);
    /* too small: "most layers", i.e. the median layer and more than half of them. */
    int fire = too_large ? isfinite(all) && all > th->update_high
                         : isfinite(all) && all < th->update_low && 2 * n > n_fin;
    if (!fire)
        return;
    const Setup *su = &c->su;
    GsSeverity sev = too_large ? GS_SEV_WARNING : (c->loss_stalled ? GS_SEV_WARNING : GS_SEV_INFO);
    GsFinding *f =
        dg_new_finding(c, too_large ? GS_FIND_UPDATE_TOO_LARGE : GS_FIND_UPDATE_TOO_SMALL, sev);
    if (!f)
        return;
    f->layer_first = lo;
    f->layer_last = hi;
    f->step_first = gs_trace_step(c->t, 0);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    dg_add_ev(f, "median_update_ratio", all);
    dg_add_ev(f, "threshold", too_large ? th->update_high : th->update_low);
    dg_add_ev(f, too_large ? "max_layer_ratio" : "min_layer_ratio", ext);
    dg_add_ev(f, "layers_flagged", n);
    if (isfinite(su->lr))
        dg_add_ev(f, "lr", su->lr);
    char lay[160], b1[24], b2[24], b3[24];
    dg_fmt_layers(c, lay, sizeof lay, lo, hi);
    if (too_large) {
        dg_set_text(f->message, sizeof f->message,
                    "Updates are too large in %s: each step changes the weights by %s of their "
                    "norm (median over layers and steps, largest layer %s; threshold %s, healthy "
                    "near 1e-3), so training jumps around instead of descending.",
                    lay, dg_fmt(b1, all), dg_fmt(b2, ext), dg_fmt(b3, th->update_high));
        dg_set_text(f->suggestion, sizeof f->suggestion, "Lower the learning rate%s.",
                    isfinite(su->lr) ? " tenfold" : "");
        dg_lr_option(f->options, sizeof f->options, su, 0.1);
    } else {
        if (all == 0.0)
            /* a zero median: the gradients are zero, or the steps are below the float32
             * resolution of the weights (w + dw == w) */
            dg_set_text(f->message, sizeof f->message,
                        "Updates are zero in most of %s: the typical step leaves the weights "
                        "exactly as they were (zero gradient, or a step below float32 resolution "
                        "of the weights; threshold %s, healthy near 1e-3), so training %s.",
                        lay, dg_fmt(b3, th->update_low),
                        c->loss_stalled ? "has stalled" : "will be slow");
        else
            dg_set_text(f->message, sizeof f->message,
                        "Updates are very small in %s: each step changes the weights by only %s "
                        "of their norm (median over layers and steps, smallest layer %s; "
                        "threshold %s, healthy near 1e-3), so training %s.",
                        lay, dg_fmt(b1, all), dg_fmt(b2, ext), dg_fmt(b3, th->update_low),
                        c->loss_stalled ? "has stalled" : "will be slow");
        if (isfinite(su->lr)) {
            dg_set_text(f->suggestion, sizeof f->suggestion,
                        "Raise the learning rate tenfold, or use Adam.");
            dg_set_text(f->options, sizeof f->options, "--lr %g", su->lr * 10.0);
        } else {
            dg_set_text(f->suggestion, sizeof f->suggestion,
                        "Raise the learning rate, or use Adam.");
            dg_set_text(f->options, sizeof f->options, "--opt adam");
        }
    }
}

/* ---- rules: loss ---------------------------------------------------------------------- */

void rule_loss_diverging(Ctx *c)
{
    const GsThresholds *th = c->th;
    double l0 = c->loss[0];
    size_t first_bad = c->S, last_fin = c->S;
    for (size_t i = 0; i < c->S; i++) {
        double v = c->loss[i];
        if (isfinite(v))
            last_fin = i;
        /* NaN at a later step, when the run started with a finite loss, is divergence. */
        int bad = !isfinite(v) ? (isinf(v) || isfinite(l0))
                               : (isfinite(l0) && l0 > 0 && v > th->loss_diverge * l0);
        if (bad && first_bad == c->S)
            first_bad = i;
    }
    if (first_bad == c->S)
        return;
    double final = last_fin < c->S ? c->loss[last_fin] : DNAN;
    int went_nonfinite = 0;
    for (size_t i = first_bad; i < c->S; i++)
        if (!isfinite(c->loss[i]))
            went_nonfinite = 1;
    /* A transient spike that came back down is noise or a recovered blow-up, not
     * divergence; require the end state to be bad. */
    if (!went_nonfinite && !(final > th->loss_diverge * l0))
        return;
    c->loss_diverged = 1;
    GsFinding *f = dg_new_finding(c, GS_FIND_LOSS_DIVERGING, GS_SEV_ERROR);
    if (!f)
        return;
    f->layer_first = 1;
    f->layer_last = (int)c->L;
    f->step_first = gs_trace_step(c->t, first_bad);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    double ratio = isfinite(l0) && l0 > 0 ? final / l0 : DNAN;
    dg_add_ev(f, "initial_loss", l0);
    dg_add_ev(f, "final_loss", final);
    dg_add_ev(f, "ratio", ratio);
    dg_add_ev(f, "threshold", th->loss_diverge);
    dg_add_ev(f, "first_step", (double)f->step_first);
    char b1[24], b2[24], b3[24];
    if (went_nonfinite && isfinite(c->loss[first_bad]))
        dg_set_text(f->message, sizeof f->message,
                    "The loss diverges: it starts at %s, passes %gx that at step %ld and then "
                    "becomes NaN/Inf (last finite value %s) - the updates overshoot.",
                    dg_fmt(b1, l0), th->loss_diverge, f->step_first, dg_fmt(b2, final));
    else if (went_nonfinite)
        dg_set_text(f->message, sizeof f->message,
                    "The loss diverges: it starts at %s and becomes NaN/Inf at step %ld (last "
                    "finite value %s) - the updates overshoot.",
                    dg_fmt(b1, l0), f->step_first, dg_fmt(b2, final));
    else
        dg_set_text(f->message, sizeof f->message,
                    "The loss diverges: it ends at %s, %s times its initial %s (threshold %gx, "
                    "passed at step %ld) - the updates overshoot.",
                    dg_fmt(b1, final), dg_fmt(b2, ratio), dg_fmt(b3, l0), th->loss_diverge,
                    f->step_first);
    lower_lr_and_clip(f, &c->su);
}

#define STALL_MIN_STEPS 50

void rule_loss_stalled(Ctx *c)
{
    if (c->S < STALL_MIN_STEPS) {
        dg_skip(c, "loss_stalled: only %zu recorded steps (needs %d)", c->S, STALL_MIN_STEPS);
        return;
    }
    if (c->loss_diverged)
        return;
    double l0 = c->loss[0];
    if (!isfinite(l0) || fabs(l0) < 1e-12)
        return;
    /* The end: median of the last tenth, so one lucky minibatch does not decide. */
    size_t tail = c->S - c->S / 10;
    size_t n = 0;
    for (size_t i = tail; i < c->S; i++)
        c->buf[n++] = c->loss[i];
    double end = dg_median_finite(c->buf, n);
    if (!isfinite(end))
        return;
    double rel = (l0 - end) / fabs(l0);
    if (rel >= c->th->loss_stall)
        return;
    c->loss_stalled = 1;
    GsFinding *f = dg_new_finding(c, GS_FIND_LOSS_STALLED, GS_SEV_WARNING);
    if (!f)
        return;
    f->layer_first = 1;
    f->layer_last = (int)c->L;
    f->step_first = gs_trace_step(c->t, 0);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    dg_add_ev(f, "initial_loss", l0);
    dg_add_ev(f, "final_loss", end);
    dg_add_ev(f, "rel_decrease", rel);
    dg_add_ev(f, "threshold", c->th->loss_stall);
    dg_add_ev(f, "recorded_steps", (double)c->S);
    char b1[24], b2[24], change[48];
    if (rel >= 0)
        dg_set_text(change, sizeof change, "a %.2g%% decrease", 100.0 * rel);
    else
        dg_set_text(change, sizeof change, "an increase of %.2g%%", -100.0 * rel);
    dg_set_text(f->message, sizeof f->message,
                "The loss stalls: from %s it only reaches %s (median of the last tenth) over "
                "%ld steps, %s (threshold: a %.2g%% decrease) - the net is not learning.",
                dg_fmt(b1, l0), dg_fmt(b2, end),
                gs_trace_step(c->t, c->S - 1) - gs_trace_step(c->t, 0) + 1, change,
                100.0 * c->th->loss_stall);
    const Setup *su = &c->su;
    if (isfinite(su->lr)) {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Check the other findings (vanishing, dead units); otherwise raise the "
                    "learning rate tenfold.");
        dg_set_text(f->options, sizeof f->options, "--lr %g", su->lr * 10.0);
    } else {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Check the other findings (vanishing, dead units); otherwise raise the "
                    "learning rate.");
    }
}

/* ---- rule: not learning ----------------------------------------------------------------- */

#define NOT_LEARNING_MIN_STEPS 20

void rule_not_learning(Ctx *c)
{
    const Setup *su = &c->su;
    double base = su->ts.baseline_loss;
    int prior = 1;
    if (!(isfinite(base) && base > 0) && su->ts.classes >= 2) {
        base = log((double)su->ts.classes); /* a uniform prior: its entropy bounds any prior's */
        prior = 0;
    }
    if (!(isfinite(base) && base > 0)) {
        dg_skip(c, "not_learning: no baseline loss in the metadata");
        return;
    }
    if (c->loss_diverged)
        return; /* the diverging loss says more */
    if (c->S < NOT_LEARNING_MIN_STEPS) {
        dg_skip(c, "not_learning: only %zu recorded steps (needs %d)", c->S,
                NOT_LEARNING_MIN_STEPS);
        return;
    }
    /* The best the loss ever got, smoothed over windows of a tenth of the run so one lucky
     * minibatch does not count as learning. */
    size_t w = c->S / 10 > 0 ? c->S / 10 : 1;
    double best;
    if (!dg_best_window_mean(c->loss, c->S, w, &best)) {
        dg_skip(c, "not_learning: out of memory");
        return;
    }
    if (!isfinite(best) || best < (1.0 - c->th->not_learning) * base)
        return;
    GsFinding *f = dg_new_finding(c, GS_FIND_NOT_LEARNING, GS_SEV_WARNING);
    if (!f)
        return;
    f->layer_first = 1;
    f->layer_last = (int)c->L;
    f->step_first = gs_trace_step(c->t, 0);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    double final = gs_diagnose_final_loss(c->t, NULL);
    dg_add_ev(f, "baseline_loss", base);
    dg_add_ev(f, "best_loss", best);
    dg_add_ev(f, "final_loss", final);
    dg_add_ev(f, "threshold", c->th->not_learning);
    char b1[24], b2[24], b3[24], what[160];
    int xent = su->ts.classes >= 2 && su->ts.spec.loss != GS_LOSS_MSE;
    if (xent && prior)
        dg_set_text(what, sizeof what,
                    "the entropy of the class prior, %s, the loss of always predicting the "
                    "class frequencies",
                    dg_fmt(b1, base));
    else if (xent)
        dg_set_text(what, sizeof what, "ln %zu = %s, the loss of guessing among %zu classes",
                    su->ts.classes, dg_fmt(b1, base), su->ts.classes);
    else
        dg_set_text(what, sizeof what,
                    "the target variance, %s, the loss of always predicting the mean",
                    dg_fmt(b1, base));
    dg_set_text(f->message, sizeof f->message,
                "The net is not learning: its loss never gets more than %.0f%% below %s (best "
                "%s, smoothed over a tenth of the run; final %s, the mean of the last tenth).",
                100.0 * c->th->not_learning, what, dg_fmt(b2, best), dg_fmt(b3, final));
    dg_set_text(f->suggestion, sizeof f->suggestion,
                "No gradient pathology explains it: check that the targets match the inputs "
                "and the loss, then try a larger learning rate or Adam.");
    if (isfinite(su->lr) && strcmp(su->opt, "adam") != 0)
        dg_set_text(f->options, sizeof f->options, "--opt adam --lr 0.001");
}
