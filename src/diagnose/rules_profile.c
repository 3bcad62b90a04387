/* Profile rules: gradients vanishing or exploding across depth, and inputs off unit scale. */
#include "diagnose/rules.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rule: vanishing ------------------------------------------------------------------ */

/* Ratio layer1/layer depth of column col at each recorded step, into r[0..S). */
static void dg_depth_ratios(Ctx *c, GsCol col, double *r)
{
    for (size_t i = 0; i < c->S; i++)
        r[i] = dg_safe_ratio(dg_get(c, i, 1, col), dg_get(c, i, c->depth, col));
}

typedef struct {
    GsCol col;     /* grad_norm or act_grad_norm */
    double step0;  /* ratio at the first recorded step */
    double median; /* median over the run */
} RatioSummary;

static RatioSummary dg_summarize_ratio(Ctx *c, GsCol col)
{
    RatioSummary s = {col, DNAN, DNAN};
    dg_depth_ratios(c, col, c->buf);
    s.step0 = c->buf[0];
    s.median = dg_median_finite(c->buf, c->S);
    return s;
}

/* Which summary reports a profile finding, first one past thr in this order: step 0 before
 * the run's median (at step 0 the theory applies and the setup alone is to blame), and
 * activation gradients before weight gradients (the faithful signal, THEORY.md). cand[0] is
 * grad_norm, cand[1] (when n_cand == 2) act_grad_norm. *best stays -1 when none is past. */
static void dg_pick_signal(const RatioSummary *cand, size_t n_cand, double thr, int below, int *best,
                        int *best_step0, double *best_r)
{
    for (int pass = 0; pass < 2 && *best < 0; pass++)
        for (int k = (int)n_cand - 1; k >= 0 && *best < 0; k--) {
            double r = pass == 0 ? cand[k].step0 : cand[k].median;
            if (isfinite(r) && (below ? r < thr : r > thr)) {
                *best = k;
                *best_step0 = pass == 0;
                *best_r = r;
            }
        }
}

/* Last hidden layer l (>= 1) whose ratio col(l)/col(depth) is on the bad side of thr at the
 * summary the finding uses (step 0 or the median); 1 at least. */
static int dg_extent_of(Ctx *c, GsCol col, int use_step0, double thr, int below)
{
    int last = 1;
    for (int l = 1; l < c->depth; l++) {
        double r;
        if (use_step0) {
            r = dg_safe_ratio(dg_get(c, 0, l, col), dg_get(c, 0, c->depth, col));
        } else {
            for (size_t i = 0; i < c->S; i++)
                c->buf[i] = dg_safe_ratio(dg_get(c, i, l, col), dg_get(c, i, c->depth, col));
            r = dg_median_finite(c->buf, c->S);
        }
        if (isfinite(r) && (below ? r < thr : r > thr))
            last = l;
    }
    return last;
}

/* Recorded-step range over which ratio col(1)/col(depth) is on the bad side of thr. */
static void dg_bad_steps(Ctx *c, GsCol col, double thr, int below, long *first, long *last)
{
    *first = *last = -1;
    for (size_t i = 0; i < c->S; i++) {
        double r = dg_safe_ratio(dg_get(c, i, 1, col), dg_get(c, i, c->depth, col));
        if (isfinite(r) && (below ? r < thr : r > thr)) {
            if (*first < 0)
                *first = gs_trace_step(c->t, i);
            *last = gs_trace_step(c->t, i);
        }
    }
    if (*first < 0)
        *first = *last = gs_trace_step(c->t, 0);
}

/* Why gradients vanish and what to change. at_init: the profile is already steep at step 0
 * (the setup is to blame: the theory says which part, and every fix offered is checked by the
 * theory to make the setup critical); otherwise it developed while training (the dynamics). */
static void vanish_cause(Ctx *c, int at_init, int weight_signal, char *why, size_t wsize,
                         char *sug, size_t ssize, char *opt, size_t osize)
{
    const Setup *su = &c->su;
    char b[24], b2[24];
    c->vanish_from_dead = 0;
    if (su->residual > 0 && su->res_scale == 0.0) {
        /* alpha is fixed, not learned: zero branches never receive a gradient. */
        long blocks = (c->depth - 1) / su->residual;
        dg_set_text(why, wsize,
                    "a residual scale of 0 multiplies every branch by zero, so its "
                    "layers never receive a gradient");
        dg_set_text(sug, ssize, "Use a small non-zero branch scale, 1/sqrt(number of blocks).");
        dg_set_text(opt, osize, "--res-scale %.2g",
                    1.0 / sqrt(blocks > 0 ? (double)blocks : 1.0));
        return;
    }
    if (!at_init && c->dead_idx >= 0) {
        const GsFinding *d = &c->out->items[c->dead_idx];
        char lay[32];
        dg_set_text(why, wsize, "dead units in %s pass no gradient at all (see dead units)",
                    dg_fmt_layers(lay, sizeof lay, d->layer_first, d->layer_last));
        dg_set_text(sug, ssize, "%s", d->suggestion);
        dg_set_text(opt, osize, "%s", d->options);
        c->vanish_from_dead = 1;
        return;
    }
    if (!at_init) {
        int high = dg_lr_is_high(c);
        dg_set_text(why, wsize,
                    "the step-0 profile was healthy, so training did this: %s",
                    high && isfinite(su->lr)
                        ? "the large updates drove units into their flat regions"
                        : "the weights drifted into a regime that shrinks the gradient");
        dg_set_text(sug, ssize, "Lower the learning rate tenfold (or warm it up).");
        dg_lr_option(opt, osize, su, 0.1);
        if (!opt[0])
            dg_set_text(sug, ssize, "Lower the learning rate (or warm it up).");
        return;
    }
    /* Dead at step 0 (a negative bias) beats the init; the theory's verdict on the init
     * beats units that died later. */
    int ordered = su->act_known && su->have_pred &&
                  su->pred.ratio_first_last < GS_THEORY_ORDERED_BELOW;
    if (weight_signal && isfinite(su->input_scale) && su->input_scale < 0.01) {
        dg_set_text(why, wsize,
                    "the inputs are scaled by %s, so layer 1's weight gradient (input times "
                    "backpropagated error) is tiny",
                    dg_fmt(b, su->input_scale));
        dg_set_text(sug, ssize, "Feed inputs of unit scale.");
        dg_set_text(opt, osize, "--input-scale 1");
        return;
    }
    if (c->dead_idx >= 0 && c->onset_init[GS_FIND_DEAD_UNITS] &&
        (su->bias_negative || !ordered)) {
        /* dead units pass exactly zero gradient: they are the cause, whatever the init */
        const GsFinding *d = &c->out->items[c->dead_idx];
        char lay[32];
        dg_set_text(why, wsize, "dead units in %s pass no gradient at all (see dead units)",
                    dg_fmt_layers(lay, sizeof lay, d->layer_first, d->layer_last));
        dg_set_text(sug, ssize, "%s", d->suggestion);
        dg_set_text(opt, osize, "%s", d->options);
        c->vanish_from_dead = 1;
        return;
    }
    if (ordered) {
        /* The theory agrees the setup is ordered: name the activation's or the init's part. */
        char alt[64] = "";
        if (su->crit_init)
            snprintf(alt, sizeof alt, "--init %s", su->crit_init);
        const char *cands[] = {alt, "--act relu --init he_normal", "--norm batch",
                               "--residual 2"};
        const char *fix = dg_first_critical(su, alt[0] ? cands : cands + 1,
                                            alt[0] ? 4 : 3);
        if (su->max_deriv <= 0.25 + 1e-12)
            dg_set_text(why, wsize,
                        "%s's derivative is at most %s, so each layer shrinks the signal (the "
                        "theory predicts %s end to end at this init)",
                        su->act, dg_fmt(b, su->max_deriv), dg_fmt(b2, su->pred.ratio_first_last));
        else
            dg_set_text(why, wsize,
                        "%s with %s init (weight variance %s/fan_in) is below the critical "
                        "scale, so each layer shrinks the gradient (the theory predicts %s end "
                        "to end)",
                        su->act, su->init, dg_fmt(b, su->sigma_w2),
                        dg_fmt(b2, su->pred.ratio_first_last));
        if (!fix)
            fix = "--act relu --init he_normal";
        if (!strncmp(fix, "--init", 6))
            dg_set_text(sug, ssize, "Use a variance-preserving init for %s (%s).", su->act,
                        fix + 7);
        else if (!strncmp(fix, "--act", 5))
            dg_set_text(sug, ssize, "Use ReLU with He initialization.");
        else if (!strcmp(fix, "--norm batch"))
            dg_set_text(sug, ssize, "Add batch normalization.");
        else
            dg_set_text(sug, ssize, "Add residual connections.");
        dg_set_text(opt, osize, "%s", fix);
        return;
    }
    if (c->dead_idx >= 0 && (c->onset_init[GS_FIND_DEAD_UNITS] || !ordered)) {
        /* dead units pass exactly zero gradient: they are the cause, whatever the init */
        const GsFinding *d = &c->out->items[c->dead_idx];
        char lay[32];
        dg_set_text(why, wsize, "dead units in %s pass no gradient at all (see dead units)",
                    dg_fmt_layers(lay, sizeof lay, d->layer_first, d->layer_last));
        dg_set_text(sug, ssize, "%s", d->suggestion);
        dg_set_text(opt, osize, "%s", d->options);
        c->vanish_from_dead = 1;
        return;
    }
    if (su->residual == 0 && c->depth >= 4) {
        dg_set_text(why, wsize,
                    "in a deep plain net the per-layer factors below 1 multiply, "
                    "and nothing carries the gradient past them");
        dg_set_text(sug, ssize, "Add residual connections (or batch normalization).");
        dg_set_text(opt, osize, "--residual 2");
        return;
    }
    dg_set_text(why, wsize, "each layer multiplies the backpropagated signal by a factor below 1");
    dg_set_text(sug, ssize, "Add normalization, or use ReLU with He initialization.");
    dg_set_text(opt, osize, strcmp(su->norm, "batch") ? "--norm batch" : "--residual 2");
}

/* act_grad_norm is dLoss/dz of the dense output z. Before a normalization layer the scale
 * of z is arbitrary (batch/layer norm divide it out), and so is that gradient's (it scales
 * as 1/std(z)): across normalized layers only the weight gradients compare. */
static int dg_act_signal_meaningful(const Ctx *c)
{
    return gs_trace_has(c->t, GS_COL_ACT_GRAD_NORM) && strcmp(c->su.norm, "batch") != 0 &&
           strcmp(c->su.norm, "layer") != 0;
}

/* The first/last-layer ratio signals to judge: weight gradients, and activation gradients
 * where they compare (act_signal_meaningful). Fills cand[0..2); returns how many. */
static size_t dg_ratio_candidates(Ctx *c, RatioSummary cand[2])
{
    size_t n = 0;
    cand[n++] = dg_summarize_ratio(c, GS_COL_GRAD_NORM);
    if (dg_act_signal_meaningful(c))
        cand[n++] = dg_summarize_ratio(c, GS_COL_ACT_GRAD_NORM);
    return n;
}

void rule_vanishing(Ctx *c)
{
    const GsThresholds *th = c->th;
    if (c->depth < 2) {
        dg_skip(c, "vanishing: depth 1 (a single hidden layer cannot vanish)");
        return;
    }
    /* Candidates: weight gradients and, when recorded, activation gradients (the faithful
     * signal for ReLU/linear nets, whose weight gradients stay flat at init). */
    RatioSummary cand[2];
    size_t n_cand = dg_ratio_candidates(c, cand);

    int best = -1, best_step0 = 0;
    double best_r = DNAN;
    dg_pick_signal(cand, n_cand, th->vanish_ratio, 1, &best, &best_step0, &best_r);

    /* Absolute: mean |g| < vanish_abs. grad_max_abs (or the norm) bounds mean |g| from above,
     * so a layer below the bound surely qualifies. Median over the run only: SkipInit branches
     * are legitimately zero at step 0. Skipped once the loss fell 1e4-fold: a near-perfect fit
     * has tiny gradients by right. */
    GsCol abs_col =
        gs_trace_has(c->t, GS_COL_GRAD_MAX_ABS) ? GS_COL_GRAD_MAX_ABS : GS_COL_GRAD_NORM;
    int abs_first = 0, abs_last = 0;
    double abs_min = INFINITY;
    int converged = 0;
    if (isfinite(c->loss[0]) && c->loss[0] > 0) {
        for (size_t i = 0; i < c->S; i++)
            if (isfinite(c->loss[i]) && c->loss[i] < 1e-4 * c->loss[0])
                converged = 1;
    }
    if (!converged) {
        for (int l = 1; l <= c->depth; l++) {
            double m = dg_layer_median(c, l, abs_col, 0, c->S);
            if (isfinite(m) && m < th->vanish_abs) {
                if (!abs_first)
                    abs_first = l;
                abs_last = l;
                if (m < abs_min)
                    abs_min = m;
            }
        }
    }
    if (best < 0 && !abs_first)
        return;

    GsFinding *f = dg_new_finding(c, GS_FIND_VANISHING, GS_SEV_WARNING);
    if (!f)
        return;
    char why[256], b1[24], b2[24], b3[24], lay[32], when[64];
    int weight_signal = best < 0 || cand[best].col == GS_COL_GRAD_NORM;
    int at_init = best >= 0 ? best_step0 : 1;
    c->onset_init[GS_FIND_VANISHING] = at_init;
    vanish_cause(c, at_init, weight_signal, why, sizeof why, f->suggestion, sizeof f->suggestion,
                 f->options,
                 sizeof f->options);

    if (best >= 0) {
        GsCol col = cand[best].col;
        double decay = pow(best_r, 1.0 / (c->depth - 1));
        if (best_r < th->vanish_ratio * th->vanish_ratio)
            f->severity = GS_SEV_ERROR;
        f->layer_first = 1;
        f->layer_last = dg_extent_of(c, col, best_step0, th->vanish_ratio, 1);
        if (abs_last > f->layer_last)
            f->layer_last = abs_last;
        dg_bad_steps(c, col, th->vanish_ratio, 1, &f->step_first, &f->step_last);
        if (best_step0)
            f->step_first = gs_trace_step(c->t, 0);
        dg_add_ev(f, "ratio_first_last", best_r);
        dg_add_ev(f, "threshold", th->vanish_ratio);
        dg_add_ev(f, "decay_per_layer", decay);
        dg_add_ev(f, "depth", c->depth);
        dg_add_ev(f, "grad_ratio_step0", cand[0].step0);
        dg_add_ev(f, "grad_ratio_median", cand[0].median);
        if (n_cand > 1) {
            dg_add_ev(f, "act_grad_ratio_step0", cand[1].step0);
            dg_add_ev(f, "act_grad_ratio_median", cand[1].median);
        }
        if (best_r == 0.0)
            /* below the smallest float: the ratio says nothing more than "gone" */
            dg_set_text(f->message, sizeof f->message,
                     "Gradients vanish toward the input: layer 1's %s has underflowed to "
                     "exactly 0 while layer %d's is not, %s - %s.",
                     col == GS_COL_GRAD_NORM ? "weight gradient" : "activation gradient", c->depth,
                     dg_fmt_when(when, sizeof when, c, best_step0, th->vanish_ratio), why);
        else
            dg_set_text(f->message, sizeof f->message,
                     "Gradients vanish toward the input: layer 1's %s is %s of layer %d's %s, "
                     "a factor of %s per layer - %s.",
                     col == GS_COL_GRAD_NORM ? "weight gradient" : "activation gradient",
                     dg_fmt(b1, best_r), c->depth,
                     dg_fmt_when(when, sizeof when, c, best_step0, th->vanish_ratio), dg_fmt(b3, decay),
                     why);
    } else {
        f->layer_first = abs_first;
        f->layer_last = abs_last;
        f->step_first = gs_trace_step(c->t, 0);
        f->step_last = gs_trace_step(c->t, c->S - 1);
        dg_add_ev(f, "min_grad", abs_min);
        dg_add_ev(f, "threshold", th->vanish_abs);
        dg_add_ev(f, "depth", c->depth);
        dg_add_ev(f, "grad_ratio_step0", cand[0].step0);
        dg_add_ev(f, "grad_ratio_median", cand[0].median);
        dg_set_text(f->message, sizeof f->message,
                 "Gradients vanish: in %s the %s is down to %s (median over the run), so "
                 "mean |g| is below %s and %s barely learn%s - %s.",
                 dg_fmt_layers(lay, sizeof lay, abs_first, abs_last),
                 abs_col == GS_COL_GRAD_MAX_ABS ? "largest weight-gradient entry"
                                                : "weight-gradient norm",
                 dg_fmt(b1, abs_min), dg_fmt(b2, th->vanish_abs), abs_first == abs_last ? "it" : "they",
                 abs_first == abs_last ? "s" : "", why);
    }
}

/* ---- rule: exploding ------------------------------------------------------------------ */

int dg_lr_is_high(const Ctx *c)
{
    const Setup *su = &c->su;
    if (isfinite(c->med_update) && c->med_update > c->th->update_high)
        return 1;
    if (!isfinite(su->lr))
        return 0;
    return dg_is_adaptive(su) ? su->lr > 3e-3 : su->lr > 0.1;
}

/* Why gradients explode and what to change. at_init: the profile is steep at step 0 (the
 * setup; fixes checked by the theory); otherwise they grew while training (the dynamics). */
static void explode_cause(const Ctx *c, int at_init, char *why, size_t wsize, char *sug,
                          size_t ssize, char *opt, size_t osize)
{
    const Setup *su = &c->su;
    char b[24], b2[24];
    if (c->inputs_idx >= 0) {
        const GsFinding *in = &c->out->items[c->inputs_idx];
        dg_set_text(why, wsize, "the inputs are far from unit scale (see unscaled inputs)");
        dg_set_text(sug, ssize, "%s", in->suggestion);
        dg_set_text(opt, osize, "%s", in->options);
        return;
    }
    if (at_init && su->act_known && su->have_pred &&
        su->pred.ratio_first_last > GS_THEORY_CHAOTIC_ABOVE) {
        char alt[64] = "", half[64] = "";
        if (su->crit_init) {
            snprintf(alt, sizeof alt, "--init %s", su->crit_init);
            snprintf(half, sizeof half, "--init %s*0.5", su->crit_init);
        }
        const char *with_init[] = {alt, "--residual 2", "--norm layer", half};
        const char *without[] = {"--act relu --init he_normal", "--residual 2"};
        const char *fix = su->crit_init ? dg_first_critical(su, with_init, 4)
                                        : dg_first_critical(su, without, 2);
        dg_set_text(why, wsize,
                    "%s with %s init (weight variance %s/fan_in) is above the critical scale, "
                    "so each layer amplifies the gradient (the theory predicts %s end to end)",
                    su->act, su->init, dg_fmt(b, su->sigma_w2),
                    dg_fmt(b2, su->pred.ratio_first_last));
        if (!fix)
            fix = alt[0] ? alt : "--act relu --init he_normal";
        if (!strncmp(fix, "--init", 6))
            dg_set_text(sug, ssize, "Use the variance-preserving init for %s (%s).", su->act,
                        fix + 7);
        else if (!strcmp(fix, "--residual 2"))
            dg_set_text(sug, ssize, "Add residual connections.");
        else if (!strcmp(fix, "--norm layer"))
            dg_set_text(sug, ssize, "Add layer normalization.");
        else
            dg_set_text(sug, ssize, "Use ReLU with He initialization.");
        dg_set_text(opt, osize, "%s", fix);
        return;
    }
    if (!at_init && isfinite(su->lr)) {
        dg_set_text(why, wsize,
                    "the step-0 profile was healthy, so training did this: the learning rate "
                    "%g makes each update large enough to push the weights into a steeper "
                    "region",
                    su->lr);
        dg_set_text(sug, ssize, "Lower the learning rate tenfold.");
        dg_lr_option(opt, osize, su, 0.1);
        return;
    }
    if (at_init && !strcmp(su->norm, "batch") && !su->saturates && su->residual == 0) {
        dg_set_text(why, wsize,
                    "batch norm makes plain deep ReLU-like nets' gradients grow by about "
                    "pi/(pi-1) in energy per layer");
        dg_set_text(sug, ssize, "Add residual connections.");
        dg_set_text(opt, osize, "--residual 2");
        return;
    }
    if (isfinite(su->clip_norm) && su->clip_norm > 0 && isfinite(su->lr)) {
        dg_set_text(why, wsize, "gradient clipping at %g did not contain the growth",
                    su->clip_norm);
        dg_set_text(sug, ssize, "Lower the learning rate.");
        dg_lr_option(opt, osize, su, 0.1);
        return;
    }
    dg_set_text(why, wsize, "nothing bounds the gradient's size");
    dg_set_text(sug, ssize, "Clip the global gradient norm.");
    dg_set_text(opt, osize, "--clip-norm 1");
}

void rule_exploding(Ctx *c)
{
    const GsThresholds *th = c->th;
    /* (a) steep profile: layer 1 / layer depth above explode_ratio. */
    RatioSummary cand[2];
    size_t n_cand = c->depth >= 2 ? dg_ratio_candidates(c, cand) : 0;
    int best = -1, best_step0 = 0;
    double best_r = DNAN;
    dg_pick_signal(cand, n_cand, th->explode_ratio, 0, &best, &best_step0, &best_r);

    /* (b) growth over training: peak / first value per layer, median over layers. Layers
     * starting at exactly zero (zero-scaled residual branches) cannot measure growth. */
    double growth_med = DNAN;
    int g_first = 0, g_last = 0;
    long g_step = -1;
    if (c->S >= 2) {
        double *gl = malloc(c->L * sizeof *gl);
        if (!gl) {
            c->oom = 1;
            return;
        }
        for (int l = 1; l <= (int)c->L; l++) {
            double g0 = dg_get(c, 0, l, GS_COL_GRAD_NORM), peak = 0;
            for (size_t i = 1; i < c->S; i++) {
                double g = dg_get(c, i, l, GS_COL_GRAD_NORM);
                if (isfinite(g) && g > peak)
                    peak = g;
            }
            gl[l - 1] = isfinite(g0) && g0 > 0 ? peak / g0 : DNAN;
            if (isfinite(gl[l - 1]) && gl[l - 1] > th->growth) {
                if (!g_first)
                    g_first = l;
                g_last = l;
            }
        }
        /* median_finite reorders: keep per-layer values apart. */
        memcpy(c->buf, gl, c->L * sizeof *gl);
        growth_med = dg_median_finite(c->buf, c->L);
        free(gl);
        if (isfinite(growth_med) && growth_med > th->growth) {
            /* first recorded step where the median layer passed the threshold */
            for (size_t i = 1; i < c->S && g_step < 0; i++) {
                size_t n = 0;
                for (int l = 1; l <= (int)c->L; l++)
                    c->buf[n++] =
                        dg_safe_ratio(dg_get(c, i, l, GS_COL_GRAD_NORM), dg_get(c, 0, l, GS_COL_GRAD_NORM));
                double m = dg_median_finite(c->buf, n);
                if (isfinite(m) && m > th->growth)
                    g_step = gs_trace_step(c->t, i);
            }
        }
    }
    int grew = isfinite(growth_med) && growth_med > th->growth;

    /* (c) infinite gradients, or NaN after they had grown tenfold: an explosion, not a
     * 0/0 somewhere (that one is left to the nonfinite rule). */
    long nf_step = -1;
    int nf_layer = 0;
    size_t nf_i = c->S;
    for (size_t i = 0; i < c->S && nf_i == c->S; i++)
        for (int l = (int)c->L; l >= 1; l--)
            if (dg_step_nonfinite(c, i, l)) {
                nf_i = i;
                nf_layer = l; /* backward runs from the output: the top layer came first */
                break;
            }
    int nonfinite = 0;
    if (nf_i < c->S) {
        size_t n = 0;
        int inf = 0;
        for (int k = 1; k <= (int)c->L; k++) {
            double peak = 0;
            for (size_t j = 1; j < nf_i; j++) {
                double g = dg_get(c, j, k, GS_COL_GRAD_NORM);
                if (isfinite(g) && g > peak)
                    peak = g;
            }
            c->buf[n++] = dg_safe_ratio(peak, dg_get(c, 0, k, GS_COL_GRAD_NORM));
            if (isinf(dg_get(c, nf_i, k, GS_COL_GRAD_NORM)))
                inf = 1;
        }
        double pre = dg_median_finite(c->buf, n);
        nonfinite = inf || (isfinite(pre) && pre > 10.0);
        if (nonfinite) {
            nf_step = gs_trace_step(c->t, nf_i);
            if (!grew)
                growth_med = pre;
        }
    }

    if (best < 0 && !grew && !nonfinite)
        return;

    GsFinding *f = dg_new_finding(c, GS_FIND_EXPLODING, GS_SEV_WARNING);
    if (!f)
        return;
    char why[256], b1[24], b2[24], b3[24], lay[32], when[64];
    int at_init = best >= 0 && best_step0;
    c->onset_init[GS_FIND_EXPLODING] = at_init;
    explode_cause(c, at_init, why, sizeof why, f->suggestion,
                  sizeof f->suggestion, f->options, sizeof f->options);
    if (best >= 0) {
        GsCol col = cand[best].col;
        double gain = pow(best_r, 1.0 / (c->depth - 1));
        if (best_r > th->explode_ratio * th->explode_ratio || nonfinite)
            f->severity = GS_SEV_ERROR;
        f->layer_first = 1;
        f->layer_last = dg_extent_of(c, col, best_step0, th->explode_ratio, 0);
        dg_bad_steps(c, col, th->explode_ratio, 0, &f->step_first, &f->step_last);
        if (best_step0)
            f->step_first = gs_trace_step(c->t, 0);
        dg_add_ev(f, "ratio_first_last", best_r);
        dg_add_ev(f, "threshold", th->explode_ratio);
        dg_add_ev(f, "growth_per_layer", gain);
        dg_add_ev(f, "depth", c->depth);
        dg_add_ev(f, "growth_over_run", growth_med);
        if (nonfinite)
            dg_add_ev(f, "first_nonfinite_step", (double)nf_step);
        dg_set_text(f->message, sizeof f->message,
                 "Gradients explode toward the input: layer 1's %s is %s times layer %d's "
                 "%s, a factor of %s per layer - %s.",
                 col == GS_COL_GRAD_NORM ? "weight gradient" : "activation gradient",
                 dg_fmt(b1, best_r), c->depth,
                 dg_fmt_when(when, sizeof when, c, best_step0, th->explode_ratio), dg_fmt(b3, gain), why);
    } else if (grew) {
        if (growth_med > th->growth * th->growth || nonfinite)
            f->severity = GS_SEV_ERROR;
        f->layer_first = g_first ? g_first : 1;
        f->layer_last = g_last ? g_last : (int)c->L;
        f->step_first = gs_trace_step(c->t, 0);
        f->step_last = nonfinite ? nf_step : gs_trace_step(c->t, c->S - 1);
        dg_add_ev(f, "growth_over_run", growth_med);
        dg_add_ev(f, "threshold", th->growth);
        dg_add_ev(f, "first_step", (double)g_step);
        if (nonfinite)
            dg_add_ev(f, "first_nonfinite_step", (double)nf_step);
        if (isfinite(c->su.lr))
            dg_add_ev(f, "lr", c->su.lr);
        dg_set_text(f->message, sizeof f->message,
                 "Gradients explode during training: the median layer's gradient norm grew "
                 "%s-fold over its step-0 value (threshold %s), passing it at step %ld in "
                 "%s%s - %s.",
                 dg_fmt(b1, growth_med), dg_fmt(b2, th->growth), g_step,
                 dg_fmt_layers(lay, sizeof lay, f->layer_first, f->layer_last),
                 nonfinite ? " and then turning non-finite" : "", why);
    } else {
        f->severity = GS_SEV_ERROR;
        f->layer_first = 1;
        f->layer_last = nf_layer;
        f->step_first = gs_trace_step(c->t, 0);
        f->step_last = nf_step;
        dg_add_ev(f, "first_nonfinite_step", (double)nf_step);
        dg_add_ev(f, "growth_before", growth_med);
        dg_add_ev(f, "layer", nf_layer);
        dg_set_text(f->message, sizeof f->message,
                 "Gradients explode: after growing %s-fold they become infinite or NaN at "
                 "step %ld (from layer %d down) - %s.",
                 dg_fmt(b1, growth_med), nf_step, nf_layer, why);
    }
}


/* ---- rule: inputs far from unit scale --------------------------------------------------- */

void rule_inputs_unscaled(Ctx *c)
{
    const Setup *su = &c->su;
    const GsThresholds *th = c->th;
    double sd = su->ts.input_std_max;
    if (!isfinite(sd)) {
        dg_skip(c, "inputs_unscaled: the trace does not record input statistics");
        return;
    }
    int high = sd > th->input_std_high, low = sd < th->input_std_low;
    if (!high && !low)
        return;
    /* A normalization layer divides the input scale out of layer 1's output: nothing
     * downstream sees it (only layer 1's weight gradient does, harmlessly). */
    if (!strcmp(su->norm, "batch") || !strcmp(su->norm, "layer"))
        return;
    /* Layer 1 must show it: outputs far from unit spread, or (saturating units) pinned flat. */
    int has_std = gs_trace_has(c->t, GS_COL_ACT_STD), has_sat = gs_trace_has(c->t, GS_COL_SATURATION);
    double a_std = has_std ? dg_get(c, 0, 1, GS_COL_ACT_STD) : DNAN;
    double sat = has_sat ? dg_get(c, 0, 1, GS_COL_SATURATION) : DNAN;
    int shows;
    if (!has_std && !has_sat)
        shows = 1; /* a foreign trace: the input statistics are the evidence */
    else if (high)
        shows = (isfinite(a_std) && a_std > 5.0) || (isfinite(sat) && sat > th->saturation);
    else
        shows = isfinite(a_std) && a_std < 0.05;
    if (!shows)
        return;
    GsFinding *f = dg_new_finding(c, GS_FIND_INPUTS_UNSCALED, GS_SEV_WARNING);
    if (!f)
        return;
    c->inputs_idx = (long)(f - c->out->items);
    c->onset_init[GS_FIND_INPUTS_UNSCALED] = 1;
    f->layer_first = f->layer_last = 1;
    f->step_first = gs_trace_step(c->t, 0);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    dg_add_ev(f, "input_std_max", sd);
    dg_add_ev(f, "input_std_min", su->ts.input_std_min);
    dg_add_ev(f, "input_max_abs", su->ts.input_max_abs);
    dg_add_ev(f, "threshold", high ? th->input_std_high : th->input_std_low);
    if (isfinite(a_std))
        dg_add_ev(f, "layer1_act_std", a_std);
    if (isfinite(sat))
        dg_add_ev(f, "layer1_saturation", sat);
    char b1[24], b2[24], b3[24], shown[96] = "";
    if (isfinite(sat) && sat > th->saturation && high)
        dg_set_text(shown, sizeof shown, "%.0f%% of layer 1's units are saturated at step 0",
                    100.0 * sat);
    else if (isfinite(a_std))
        dg_set_text(shown, sizeof shown, "layer 1's outputs have std %s at step 0",
                    dg_fmt(b3, a_std));
    else
        dg_set_text(shown, sizeof shown, "layer 1 receives them as they are");
    dg_set_text(f->message, sizeof f->message,
                "The inputs are not at unit scale: the largest input feature's std is %s "
                "(threshold %s; largest |x| %s), and %s - every layer after it inherits the "
                "scale, and so does every gradient.",
                dg_fmt(b1, sd), dg_fmt(b2, high ? th->input_std_high : th->input_std_low),
                dg_fmt(b3, su->ts.input_max_abs), shown);
    if (su->input_scale_set) {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Feed the inputs at unit scale (remove the input scale).");
        dg_set_text(f->options, sizeof f->options, "--input-scale 1");
    } else {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "Standardize the inputs (zero mean, unit std per feature).");
        dg_set_text(f->options, sizeof f->options, "--standardize");
    }
}
