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

static void swap_double(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Puts the k-th smallest of the (non-NaN) v[0..n) at v[k], the entries before it no larger
 * and those after no smaller: quickselect with median-of-three pivots and a three-way
 * partition (runs of equal values), and after 2 log2 n + 8 partitions the range left is
 * sorted instead, so that no order of the input (a trace is untrusted) costs more than
 * O(n log n). The same value as sorting v and reading v[k]. */
static void select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    int budget = 8;
    for (size_t m = n; m > 1; m >>= 1)
        budget += 2;
    while (hi - lo > 16) {
        if (budget-- == 0) {
            qsort(v + lo, hi - lo, sizeof *v, dg_cmp_double);
            return;
        }
        double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t lt = lo, i = lo, gt = hi; /* [lo, lt) < pivot, [lt, i) == pivot, [gt, hi) > */
        while (i < gt) {
            if (v[i] < pivot)
                swap_double(&v[lt++], &v[i++]);
            else if (v[i] > pivot)
                swap_double(&v[i], &v[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
    for (size_t i = lo + 1; i < hi; i++) /* insertion sort of the last few */
        for (size_t j = i; j > lo && v[j - 1] > v[j]; j--)
            swap_double(&v[j - 1], &v[j]);
}

/* Median of the finite values among v[0..n) (reordered); NaN when there are none. O(n) on
 * the whole (select_kth), equal to the median of the sorted values. */
double dg_median_finite(double *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    if (m == 0)
        return DNAN;
    select_kth(v, m, m / 2);
    if (m % 2)
        return v[m / 2];
    double below = v[0]; /* the lower middle: the largest of the entries before v[m / 2] */
    for (size_t i = 1; i < m / 2; i++)
        below = v[i] > below ? v[i] : below;
    return 0.5 * (below + v[m / 2]);
}

int dg_best_window_mean(const double *v, size_t n, size_t w, double *best)
{
    assert(w >= 1);
    *best = INFINITY;
    if (n < w)
        return 1;
    /* per block of w entries: pre[j] the finite entries from the block's start to j, suf[j]
     * from j to the block's end (with their counts); the window from i is suf[i] plus, unless
     * i starts a block, pre[i + w - 1] of the next block */
    double *pre = malloc(2 * n * sizeof *pre);
    size_t *cnt = malloc(2 * n * sizeof *cnt);
    if (!pre || !cnt) {
        free(pre);
        free(cnt);
        return 0;
    }
    double *suf = pre + n;
    size_t *npre = cnt, *nsuf = cnt + n;
    for (size_t b = 0; b < n; b += w) {
        size_t e = b + w < n ? b + w : n;
        double s = 0.0;
        size_t m = 0;
        for (size_t j = b; j < e; j++) {
            if (isfinite(v[j])) {
                s += v[j];
                m++;
            }
            pre[j] = s;
            npre[j] = m;
        }
        s = 0.0;
        m = 0;
        for (size_t j = e; j-- > b;) {
            if (isfinite(v[j])) {
                s += v[j];
                m++;
            }
            suf[j] = s;
            nsuf[j] = m;
        }
    }
    for (size_t i = 0; i + w <= n; i++) {
        double s = suf[i];
        size_t m = nsuf[i];
        if (i % w != 0) {
            s += pre[i + w - 1];
            m += npre[i + w - 1];
        }
        if (m * 2 > w && s / (double)m < *best)
            *best = s / (double)m;
    }
    free(pre);
    free(cnt);
    return 1;
}

int dg_has_hist(const Ctx *c, GsHistKind k)
{
    return (gs_trace_hist_kinds(c->t) & (1u << k)) != 0;
}

/* Geometric centre of log bin j: 10^(-30 + (j + 1/2) / 4). */
static double log_centre(size_t j)
{
    return pow(10.0, GS_HIST_LOG_LO + ((double)j + 0.5) * GS_HIST_LOG_STEP);
}

/* The share of sum x^2 that the largest 0.1% of all entries carry (NaN below 1000 entries), and the
 * decades from the bin of the median entry (zeros counted as the smallest) to the largest occupied
 * bin, from the log bins at their geometric centres (each entry's x^2 within a factor 10^0.25 of
 * it). NaN when the histogram holds no nonzero finite entry. */
static void hist_tail(const float *b, double *top1, double *span)
{
    *top1 = *span = DNAN;
    double n = gs_hist_total(b), sq = 0;
    if (!(n >= 1000))
        return;
    long jmax = -1;
    for (size_t j = 0; j < GS_HIST_NLOG; j++)
        if (b[GS_HIST_LOG0 + j] > 0) {
            double c = log_centre(j);
            sq += (double)b[GS_HIST_LOG0 + j] * c * c;
            jmax = (long)j;
        }
    if (jmax < 0 || !(sq > 0))
        return;
    /* from the top: whole bins, then the part of the bin that completes 0.1% */
    double want = 0.001 * n, got = 0, top = 0;
    for (long j = jmax; j >= 0 && got < want; j--) {
        double cnt = (double)b[GS_HIST_LOG0 + j];
        double take = fmin(cnt, want - got);
        double c = log_centre((size_t)j);
        top += take * c * c;
        got += take;
    }
    *top1 = top / sq;
    /* the median entry: zeros below every log bin */
    double half = 0.5 * n, acc = (double)b[GS_HIST_ZERO];
    if (acc >= half)
        return; /* most entries exactly 0: no magnitude to compare with */
    for (size_t j = 0; j < GS_HIST_NLOG; j++) {
        acc += (double)b[GS_HIST_LOG0 + j];
        if (acc >= half) {
            *span = ((double)jmax - (double)j) * GS_HIST_LOG_STEP;
            return;
        }
    }
}

/* What layer's act histogram is of: field layer of the PyTorch tracer's `hist_act` list (the
 * activation's lowercased class name, "output", "state"), else the setup's activation for a
 * hidden layer and "output" for the last. */
void dg_layer_act(const Ctx *c, int layer, char *buf, size_t n)
{
    const char *list = gs_trace_meta_get(c->t, "hist_act");
    buf[0] = '\0';
    if (list) {
        const char *p = list;
        for (int k = 1; k < layer && p; k++) {
            p = strchr(p, ',');
            p = p ? p + 1 : NULL;
        }
        if (p) {
            size_t len = strcspn(p, ",");
            snprintf(buf, n, "%.*s", (int)(len < n ? len : n - 1), p);
        }
        return;
    }
    snprintf(buf, n, "%s", layer > c->depth ? "output" : c->su.act);
}

static double hist_stat(const Ctx *c, size_t i, int layer, GsCol col)
{
    GsHistKind k = col == DG_COL_HIST_TOP1 || col == DG_COL_HIST_SPAN ? GS_HIST_GRAD : GS_HIST_ACT;
    if (!dg_has_hist(c, k))
        return DNAN;
    const float *b = gs_trace_hist(c->t, i, (size_t)(layer - 1), k);
    double n = gs_hist_total(b);
    if (!(n > 0))
        return DNAN;
    if (col == DG_COL_HIST_ZERO)
        return (double)b[GS_HIST_ZERO] / n;
    if (col == DG_COL_HIST_PILEUP) {
        /* the flat ends: tanh's at +-1 (the outer bins), sigmoid's at 0 and 1 (the bins
         * [0, 1/32) and [31/32, 1]); other activations: not judged from the bins */
        char act[48];
        dg_layer_act(c, layer, act, sizeof act);
        int tanh_ = !strcmp(act, "tanh"), sigm = !strcmp(act, "sigmoid");
        if (gs_trace_hist_act_range(c->t) != 1.0 || !(tanh_ || sigm))
            return DNAN;
        double lin = 0;
        for (size_t j = 0; j < GS_HIST_NLIN; j++)
            lin += (double)b[GS_HIST_LIN0 + j];
        double lo = (double)b[GS_HIST_LIN0 + (tanh_ ? 0 : GS_HIST_NLIN / 2)];
        return lin > 0 ? (lo + (double)b[GS_HIST_LIN0 + GS_HIST_NLIN - 1]) / lin : DNAN;
    }
    double top1, span;
    hist_tail(b, &top1, &span);
    return col == DG_COL_HIST_TOP1 ? top1 : span;
}

double dg_get(const Ctx *c, size_t i, int layer, GsCol col)
{
    if ((int)col >= GS_COL_COUNT)
        return hist_stat(c, i, layer, col);
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
