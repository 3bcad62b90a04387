/* Diagnosis helpers: the setup from trace metadata, medians and ratios, number formats,
 * and building findings. */
#include "diagnose/rules.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the setup, as far as the trace metadata tells it ------------------------------- */

/* Weight variance times fan_in for a square hidden layer (THEORY.md's sigma_w^2). */
static double sigma_w2_of(const GsInit *init, long width)
{
    if (width < 1)
        return DNAN;
    double sd = gs_init_std(init, (size_t)width, (size_t)width);
    return isfinite(sd) ? sd * sd * (double)width : DNAN;
}

static void spec_text(const Setup *su, const char *key, char *buf, size_t size)
{
    if (!gs_setup_has(&su->ts, key) || gs_spec_get(&su->ts.spec, key, buf, size) != GS_OK)
        buf[0] = '\0';
}

GsStatus dg_read_setup(const GsTrace *t, Setup *su, GsError *err)
{
    memset(su, 0, sizeof *su);
    GsStatus st = gs_setup_from_trace(t, &su->ts, err);
    if (st != GS_OK)
        return st;
    const GsSpec *sp = &su->ts.spec;
    const GsTraceSetup *ts = &su->ts;
    su->act_known = gs_setup_has(ts, "act");
    su->saturates = su->act_known && gs_act_can_saturate(&sp->act);
    su->max_deriv = su->act_known ? gs_act_max_deriv(&sp->act) : DNAN;
    su->crit_init = su->act_known ? gs_act_critical_init(&sp->act) : NULL;
    spec_text(su, "act", su->act, sizeof su->act);
    spec_text(su, "init", su->init, sizeof su->init);
    spec_text(su, "norm", su->norm, sizeof su->norm);
    spec_text(su, "opt", su->opt, sizeof su->opt);
    su->sigma_w2 = gs_setup_has(ts, "init") && gs_setup_has(ts, "width")
                       ? sigma_w2_of(&sp->init, sp->width)
                       : DNAN;
    su->residual = gs_setup_has(ts, "residual") ? sp->residual : -1;
    su->res_scale = gs_setup_has(ts, "res-scale") ? sp->res_scale : DNAN;
    su->lr = gs_setup_has(ts, "lr") ? sp->lr : DNAN;
    su->clip_norm = gs_setup_has(ts, "clip-norm") ? sp->clip_norm : DNAN;
    su->input_scale = gs_setup_has(ts, "input-scale") ? fabs(sp->input_scale) : DNAN;
    su->input_scale_set = isfinite(su->input_scale) && su->input_scale != 1.0;
    su->standardize = gs_setup_has(ts, "standardize") ? sp->standardize : -1;
    su->bias_negative = gs_setup_has(ts, "bias-init") && sp->bias_init.kind == GS_BIAS_CONST &&
                        sp->bias_init.param < 0;
    su->have_pred = gs_setup_predict(ts, &su->pred, NULL) == GS_OK;
    return GS_OK;
}

void dg_setup_fini(Setup *su)
{
    if (su->have_pred)
        gs_prediction_fini(&su->pred);
    su->have_pred = 0;
}

double dg_predict_with(const Setup *su, const char *opts)
{
    if (!su->have_pred)
        return DNAN;
    GsSpec spec = su->ts.spec;
    if (gs_spec_apply_args(&spec, opts, NULL) != GS_OK)
        return DNAN;
    GsPrediction p;
    if (gs_theory_predict(&spec, su->ts.d_in, su->ts.input_second_moment, &p, NULL) != GS_OK)
        return DNAN;
    double r = p.ratio_first_last;
    gs_prediction_fini(&p);
    return r;
}

const char *dg_first_critical(const Setup *su, const char *const *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double r = dg_predict_with(su, opts[i]);
        if (isfinite(r) && r >= GS_THEORY_ORDERED_BELOW && r <= GS_THEORY_CHAOTIC_ABOVE)
            return opts[i];
    }
    return NULL;
}

int dg_is_adaptive(const Setup *su)
{
    return !strncmp(su->opt, "adam", 4) || !strcmp(su->opt, "rmsprop");
}

const char *dg_act_label(const Setup *su)
{
    return su->act[0] ? su->act : "the activation";
}

/* ---- small numeric helpers ---------------------------------------------------------- */

int dg_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the finite values among v[0..n) (reordered); NaN when there are none. */
double dg_median_finite(double *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    if (m == 0)
        return DNAN;
    qsort(v, m, sizeof *v, dg_cmp_double);
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

double dg_get(const Ctx *c, size_t i, int layer, GsCol col)
{
    return gs_trace_get(c->t, i, (size_t)(layer - 1), col);
}

/* Median over recorded steps [i0, i1) of one layer's column. */
double dg_layer_median(Ctx *c, int layer, GsCol col, size_t i0, size_t i1)
{
    size_t n = 0;
    for (size_t i = i0; i < i1; i++)
        c->buf[n++] = dg_get(c, i, layer, col);
    return dg_median_finite(c->buf, n);
}

/* Ratio num/den, NaN when undefined: a zero or non-finite denominator (e.g. SkipInit's
 * branch layers have exactly zero gradient at step 0) says nothing about depth. */
double dg_safe_ratio(double num, double den)
{
    if (!isfinite(num) || !isfinite(den) || den <= 0.0 || num < 0.0)
        return DNAN;
    return num / den;
}

/* Short number for messages: 2.1e-09, 0.52, 130, 2.0e+04. buf holds 24 chars. */
const char *dg_fmt(char *buf, double x)
{
    double ax = fabs(x);
    if (!isfinite(x))
        snprintf(buf, 24, "%s", isnan(x) ? "NaN" : x > 0 ? "Inf" : "-Inf");
    else if (ax != 0.0 && (ax < 1e-3 || ax >= 1e4))
        snprintf(buf, 24, "%.1e", x);
    else
        snprintf(buf, 24, "%.3g", x);
    return buf;
}

/* Layer range as words: "layer 3" or "layers 2-7". */
const char *dg_fmt_layers(const Ctx *c, char *buf, size_t size, int a, int b)
{
    /* with module names (PyTorch traces): "layers 2-5 (encoder.0 .. encoder.3)"; gradscope's
     * own names (dense{l}) say nothing the number does not */
    int named = c->su.ts.foreign;
    const char *na =
        named && a >= 1 && (size_t)a <= c->L ? gs_trace_layer_name(c->t, (size_t)(a - 1)) : NULL;
    const char *nb =
        named && b >= 1 && (size_t)b <= c->L ? gs_trace_layer_name(c->t, (size_t)(b - 1)) : NULL;
    if (a == b)
        snprintf(buf, size, na ? "layer %d (%s)" : "layer %d", a, na);
    else if (na && nb)
        snprintf(buf, size, "layers %d-%d (%s .. %s)", a, b, na, nb);
    else
        snprintf(buf, size, "layers %d-%d", a, b);
    return buf;
}

/* When a ratio was measured, with its threshold: "at step 0 (threshold 0.001)" (the first
 * recorded step) or "over the run (median; threshold 0.001)". */
const char *dg_fmt_when(char *buf, size_t size, const Ctx *c, int step0, double thr)
{
    char b[24];
    if (step0)
        snprintf(buf, size, "at step %ld (threshold %s)", gs_trace_step(c->t, 0), dg_fmt(b, thr));
    else
        snprintf(buf, size, "over the run (median; threshold %s)", dg_fmt(b, thr));
    return buf;
}

/* ---- building findings -------------------------------------------------------------- */

GsFinding *dg_new_finding(Ctx *c, GsFindingKind kind, GsSeverity sev)
{
    if (c->out->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        GsFinding *p = realloc(c->out->items, cap * sizeof *p);
        if (!p) {
            c->oom = 1;
            return NULL;
        }
        c->out->items = p;
        c->cap = cap;
    }
    GsFinding *f = &c->out->items[c->out->n++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->severity = sev;
    return f;
}

void dg_add_ev(GsFinding *f, const char *key, double value)
{
    if (f->n_evidence >= GS_MAX_EVIDENCE)
        return;
    GsEvidence *e = &f->evidence[f->n_evidence++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->value = value;
}

void dg_set_text(char *dst, size_t size, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(dst, size, format, ap);
    va_end(ap);
}

void dg_skip(Ctx *c, const char *format, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    char *s = c->out->skipped;
    size_t used = strlen(s), size = sizeof c->out->skipped;
    if (used + (used ? 2 : 0) + strlen(line) + 1 > size)
        return; /* full: the list is advisory */
    snprintf(s + used, size - used, "%s%s", used ? "; " : "", line);
}

/* Suggestion "--lr X" with X = lr * factor, when the lr is known. */
void dg_lr_option(char *dst, size_t size, const Setup *su, double factor)
{
    if (isfinite(su->lr))
        snprintf(dst, size, "--lr %g", su->lr * factor);
    else
        dst[0] = '\0';
}

int dg_nonfinite(double v)
{
    return !isfinite(v) && !gs_trace_is_missing(v);
}
