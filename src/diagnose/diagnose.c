/* Diagnosis rules: read a trace (and its setup metadata when the engine wrote it), decide
 * which gradient pathologies it shows, and explain each one in plain words with a fix given
 * as gradscope options. Every rule is one function; each yields at most one merged finding. */
#include "gradscope/diagnose.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NAN is a float constant; as a double it avoids promotions in ?: expressions. */
#define DNAN ((double)NAN)

/* Sources and defaults (also in the README):
 * - vanish_ratio 1e-3, explode_ratio 70: first/last layer gradient-norm ratio (AUTOTRAINER,
 *   Zhang et al., ICSE 2021);
 * - vanish_abs 1e-7: mean |g| (SageMaker Debugger's vanishing_gradient rule);
 * - saturation 0.5, dead 0.5: share of a layer's units (SageMaker Debugger);
 * - update_high 1e-2, update_low 1e-5: |dW|/|W| per step, healthy near 1e-3 (Karpathy,
 *   "Building makemore" part 3);
 * - growth 1e3: a gradient norm growing a thousandfold during training is not learning noise;
 * - loss_diverge 10: a loss ten times its initial value is not a noisy minibatch (our choice:
 *   minibatch noise stays within a small factor, a divergent run passes 10x within a few
 *   steps);
 * - loss_stall 0.01: less than 1% relative decrease over 50+ recorded steps.
 *
 * Severities: error for what breaks training (non-finite values, a diverging loss, a fully
 * dead layer, and vanishing/exploding past the square of its threshold, e.g. a ratio below
 * 1e-6); warning for the other pathologies; info for small updates while the loss still falls.
 * Evidence may hold NaN/Inf (e.g. the loss at a NaN step); JSON writes those as null. */
void gs_thresholds_default(GsThresholds *th)
{
    assert(th);
    th->vanish_ratio = 1e-3;
    th->explode_ratio = 70.0;
    th->vanish_abs = 1e-7;
    th->saturation = 0.5;
    th->dead = 0.5;
    th->update_high = 1e-2;
    th->update_low = 1e-5;
    th->growth = 1e3;
    th->loss_diverge = 10.0;
    th->loss_stall = 0.01;
}

/* One table for gs_thresholds_set and its error message. */
static const struct {
    const char *name;
    size_t offset;
} th_keys[] = {
    {"vanish_ratio", offsetof(GsThresholds, vanish_ratio)},
    {"explode_ratio", offsetof(GsThresholds, explode_ratio)},
    {"vanish_abs", offsetof(GsThresholds, vanish_abs)},
    {"saturation", offsetof(GsThresholds, saturation)},
    {"dead", offsetof(GsThresholds, dead)},
    {"update_high", offsetof(GsThresholds, update_high)},
    {"update_low", offsetof(GsThresholds, update_low)},
    {"growth", offsetof(GsThresholds, growth)},
    {"loss_diverge", offsetof(GsThresholds, loss_diverge)},
    {"loss_stall", offsetof(GsThresholds, loss_stall)},
};
#define N_TH_KEYS (sizeof th_keys / sizeof th_keys[0])

GsStatus gs_thresholds_set(GsThresholds *th, const char *key, const char *value, GsError *err)
{
    assert(th && key && value);
    /* '-' and '_' are the same, as for setup keys (--vanish-ratio on the command line). */
    char norm[64];
    size_t n = strlen(key);
    if (n >= sizeof norm)
        n = sizeof norm - 1;
    for (size_t i = 0; i < n; i++)
        norm[i] = key[i] == '-' ? '_' : key[i];
    norm[n] = '\0';

    size_t k = 0;
    while (k < N_TH_KEYS && strcmp(th_keys[k].name, norm) != 0)
        k++;
    if (k == N_TH_KEYS) {
        char valid[256] = "";
        for (size_t i = 0; i < N_TH_KEYS; i++) {
            strncat(valid, i ? ", " : "", sizeof valid - strlen(valid) - 1);
            strncat(valid, th_keys[i].name, sizeof valid - strlen(valid) - 1);
        }
        return gs_error(err, GS_ERR_INVALID, "unknown threshold '%s' (valid: %s)", key, valid);
    }

    const char *p = value;
    while (isspace((unsigned char)*p))
        p++;
    char *end = NULL;
    errno = 0;
    double v = *p ? strtod(p, &end) : DNAN;
    if (end)
        while (isspace((unsigned char)*end))
            end++;
    if (!end || *end != '\0' || end == p || errno == ERANGE || !isfinite(v) || v <= 0.0)
        return gs_error(err, GS_ERR_INVALID, "threshold %s: '%s' is not a positive finite number",
                        th_keys[k].name, value);
    *(double *)((char *)th + th_keys[k].offset) = v;
    return GS_OK;
}

static const char *const kind_names[GS_FIND_COUNT] = {
    "vanishing",        "exploding",        "nonfinite",      "saturation",   "dead_units",
    "update_too_large", "update_too_small", "loss_diverging", "loss_stalled",
    "inputs_unscaled",  "not_learning",     "frozen",
};

static const char *const kind_titles[GS_FIND_COUNT] = {
    "vanishing gradient", "exploding gradient", "NaN/Inf in gradients", "saturated units",
    "dead units",         "update too large",   "update too small",     "loss diverging",
    "loss stalled",       "inputs not scaled",  "not learning",         "frozen layer",
};

const char *gs_finding_kind_title(GsFindingKind kind)
{
    return (unsigned)kind < GS_FIND_COUNT ? kind_titles[kind] : "unknown";
}

double gs_diagnose_final_loss(const GsTrace *t, size_t *n_used)
{
    assert(t);
    size_t S = gs_trace_n_steps(t), L = gs_trace_n_layers(t), used = 0;
    double sum = 0.0;
    if (S > 0 && L > 0 && gs_trace_has(t, GS_COL_LOSS)) {
        size_t tail = S / 10 > 0 ? S / 10 : 1;
        for (size_t i = S - tail; i < S; i++) {
            double v = gs_trace_get(t, i, 0, GS_COL_LOSS);
            if (isfinite(v)) {
                sum += v;
                used++;
            }
        }
    }
    if (n_used)
        *n_used = used;
    return used ? sum / (double)used : DNAN;
}

const char *gs_finding_kind_name(GsFindingKind kind)
{
    return (unsigned)kind < GS_FIND_COUNT ? kind_names[kind] : "unknown";
}

int gs_finding_kind_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < GS_FIND_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0)
            return k;
    return -1;
}

const char *gs_severity_name(GsSeverity sev)
{
    switch (sev) {
    case GS_SEV_INFO: return "info";
    case GS_SEV_WARNING: return "warning";
    case GS_SEV_ERROR: return "error";
    }
    return "unknown";
}

void gs_findings_fini(GsFindings *findings)
{
    if (!findings)
        return;
    free(findings->items);
    findings->items = NULL;
    findings->n = 0;
    findings->skipped[0] = '\0';
}

/* ---- the setup, as far as the trace metadata tells it ------------------------------- */

/* Activation families that decide causes. */
typedef enum { ACT_UNKNOWN = 0, ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_LINEAR } ActFamily;

typedef struct {
    char act[48]; /* activation text ("tanh"), "" when unknown */
    ActFamily family;
    char init[48];      /* init text ("normal:0.5"), "" when unknown */
    double sigma_w2;    /* weight variance x fan_in for square layers; NaN when unknown */
    char norm[16];      /* "none", "batch", "layer", "" */
    long residual;      /* -1 unknown */
    double res_scale;   /* alpha of residual branches; NaN unknown */
    char opt[16];       /* "sgd", "adam", ... "" */
    double lr;          /* NaN unknown */
    double clip_norm;   /* NaN unknown */
    double input_scale; /* NaN unknown */
    int standardize;    /* -1 unknown */
    int csv_data;       /* 1 when the data is a CSV file */
    char bias_init[48];
    long width; /* -1 unknown */
} Setup;

typedef struct {
    const GsTrace *t;
    const GsThresholds *th;
    size_t S;  /* recorded steps */
    size_t L;  /* layers in the trace */
    int depth; /* hidden layers: 1..depth; depth+1 is the output layer when present */
    Setup su;
    double *loss; /* per recorded step; NaN when unknown */
    double *buf;  /* scratch for medians, max(S, L) */
    GsFindings *out;
    size_t cap;
    int oom;
    /* shared between rules */
    int loss_diverged;
    int loss_stalled;
    long dead_idx;     /* index of the dead_units finding in out->items, -1 when none */
    double med_update; /* median over layers of per-layer median update ratio; NaN */
} Ctx;

static int parse_num(const char *s, double *v)
{
    if (!s)
        return 0;
    char *end = NULL;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || errno == ERANGE)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return 0;
    *v = x;
    return 1;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Weight variance times fan_in for a square hidden layer (THEORY.md's sigma_w^2). */
static double init_sigma_w2(const char *init, long width)
{
    char name[48];
    copy_str(name, sizeof name, init);
    double gain = 1.0, param = DNAN;
    char *star = strchr(name, '*');
    if (star) {
        *star = '\0';
        if (!parse_num(star + 1, &gain))
            return DNAN;
    }
    char *colon = strchr(name, ':');
    if (colon) {
        *colon = '\0';
        if (!parse_num(colon + 1, &param))
            return DNAN;
    }
    double s2;
    if (strcmp(name, "normal") == 0)
        s2 = width > 0 && isfinite(param) ? (double)width * param * param : DNAN;
    else if (strcmp(name, "uniform") == 0)
        s2 = width > 0 && isfinite(param) ? (double)width * param * param / 3.0 : DNAN;
    else if (strcmp(name, "standard") == 0)
        s2 = 1.0 / 3.0;
    else if (strncmp(name, "xavier", 6) == 0 || strncmp(name, "lecun", 5) == 0)
        s2 = 1.0;
    else if (strncmp(name, "he", 2) == 0)
        s2 = 2.0;
    else if (strcmp(name, "orthogonal") == 0)
        s2 = isfinite(param) ? param * param : 1.0;
    else
        return DNAN;
    return s2 * gain * gain;
}

static int parse_bool(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
        return 1;
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
        return 0;
    return -1;
}

/* Metadata value of key, spelled with '_' or '-' (the engine writes "clip-norm", other tools
 * may write "clip_norm"); NULL when absent. */
static const char *meta(const GsTrace *t, const char *key)
{
    const char *v = gs_trace_meta_get(t, key);
    if (v || !strpbrk(key, "_-"))
        return v;
    char alt[64];
    copy_str(alt, sizeof alt, key);
    for (char *p = alt; *p; p++)
        *p = *p == '_' ? '-' : *p == '-' ? '_' : *p;
    return gs_trace_meta_get(t, alt);
}

static void read_setup(const GsTrace *t, Setup *su)
{
    double v;
    copy_str(su->act, sizeof su->act, meta(t, "act"));
    char fam[48];
    copy_str(fam, sizeof fam, su->act);
    fam[strcspn(fam, ":")] = '\0';
    if (!strcmp(fam, "sigmoid"))
        su->family = ACT_SIGMOID;
    else if (!strcmp(fam, "tanh") || !strcmp(fam, "softsign"))
        su->family = ACT_TANH;
    else if (!strcmp(fam, "relu") || !strcmp(fam, "leaky_relu") || !strcmp(fam, "elu") ||
             !strcmp(fam, "gelu") || !strcmp(fam, "selu"))
        su->family = ACT_RELU;
    else if (!strcmp(fam, "linear"))
        su->family = ACT_LINEAR;
    else
        su->family = ACT_UNKNOWN;

    su->width = parse_num(meta(t, "width"), &v) && v >= 1 ? (long)v : -1;
    copy_str(su->init, sizeof su->init, meta(t, "init"));
    su->sigma_w2 = su->init[0] ? init_sigma_w2(su->init, su->width) : DNAN;
    copy_str(su->norm, sizeof su->norm, meta(t, "norm"));
    su->residual = parse_num(meta(t, "residual"), &v) && v >= 0 ? (long)v : -1;
    su->res_scale = parse_num(meta(t, "res_scale"), &v) ? v : DNAN;
    copy_str(su->opt, sizeof su->opt, meta(t, "opt"));
    su->lr = parse_num(meta(t, "lr"), &v) && v > 0 && isfinite(v) ? v : DNAN;
    su->clip_norm = parse_num(meta(t, "clip_norm"), &v) && v >= 0 ? v : DNAN;
    su->input_scale = parse_num(meta(t, "input_scale"), &v) ? fabs(v) : DNAN;
    su->standardize = parse_bool(meta(t, "standardize"));
    const char *data = meta(t, "data");
    su->csv_data = data && (strstr(data, ".csv") || strchr(data, '/'));
    copy_str(su->bias_init, sizeof su->bias_init, meta(t, "bias-init"));
}

static int is_adaptive(const Setup *su)
{
    return !strncmp(su->opt, "adam", 4) || !strcmp(su->opt, "rmsprop");
}

static const char *act_label(const Setup *su)
{
    return su->act[0] ? su->act : "the activation";
}

/* ---- small numeric helpers ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the finite values among v[0..n) (reordered); NaN when there are none. */
static double median_finite(double *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    if (m == 0)
        return DNAN;
    qsort(v, m, sizeof *v, cmp_double);
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

static double get(const Ctx *c, size_t i, int layer, GsCol col)
{
    return gs_trace_get(c->t, i, (size_t)(layer - 1), col);
}

/* Median over recorded steps [i0, i1) of one layer's column. */
static double layer_median(Ctx *c, int layer, GsCol col, size_t i0, size_t i1)
{
    size_t n = 0;
    for (size_t i = i0; i < i1; i++)
        c->buf[n++] = get(c, i, layer, col);
    return median_finite(c->buf, n);
}

/* Ratio num/den, NaN when undefined: a zero or non-finite denominator (e.g. SkipInit's
 * branch layers have exactly zero gradient at step 0) says nothing about depth. */
static double safe_ratio(double num, double den)
{
    if (!isfinite(num) || !isfinite(den) || den <= 0.0 || num < 0.0)
        return DNAN;
    return num / den;
}

/* Short number for messages: 2.1e-09, 0.52, 130, 2.0e+04. buf holds 24 chars. */
static const char *fmt(char *buf, double x)
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
static const char *fmt_layers(char *buf, size_t size, int a, int b)
{
    if (a == b)
        snprintf(buf, size, "layer %d", a);
    else
        snprintf(buf, size, "layers %d-%d", a, b);
    return buf;
}

/* When a ratio was measured, with its threshold: "at step 0 (threshold 0.001)" (the first
 * recorded step) or "over the run (median; threshold 0.001)". */
static const char *fmt_when(char *buf, size_t size, const Ctx *c, int step0, double thr)
{
    char b[24];
    if (step0)
        snprintf(buf, size, "at step %ld (threshold %s)", gs_trace_step(c->t, 0), fmt(b, thr));
    else
        snprintf(buf, size, "over the run (median; threshold %s)", fmt(b, thr));
    return buf;
}

/* ---- building findings -------------------------------------------------------------- */

static GsFinding *new_finding(Ctx *c, GsFindingKind kind, GsSeverity sev)
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

static void add_ev(GsFinding *f, const char *key, double value)
{
    if (f->n_evidence >= GS_MAX_EVIDENCE)
        return;
    GsEvidence *e = &f->evidence[f->n_evidence++];
    copy_str(e->key, sizeof e->key, key);
    e->value = value;
}

static void set_text(char *dst, size_t size, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_text(char *dst, size_t size, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(dst, size, format, ap);
    va_end(ap);
}

static void skip(Ctx *c, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void skip(Ctx *c, const char *format, ...)
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
static void lr_option(char *dst, size_t size, const Setup *su, double factor)
{
    if (isfinite(su->lr))
        snprintf(dst, size, "--lr %g", su->lr * factor);
    else
        dst[0] = '\0';
}

/* ---- rule: vanishing ------------------------------------------------------------------ */

/* Ratio layer1/layer depth of column col at each recorded step, into r[0..S). */
static void depth_ratios(Ctx *c, GsCol col, double *r)
{
    for (size_t i = 0; i < c->S; i++)
        r[i] = safe_ratio(get(c, i, 1, col), get(c, i, c->depth, col));
}

typedef struct {
    GsCol col;     /* grad_norm or act_grad_norm */
    double step0;  /* ratio at the first recorded step */
    double median; /* median over the run */
} RatioSummary;

static RatioSummary summarize_ratio(Ctx *c, GsCol col)
{
    RatioSummary s = {col, DNAN, DNAN};
    depth_ratios(c, col, c->buf);
    s.step0 = c->buf[0];
    s.median = median_finite(c->buf, c->S);
    return s;
}

/* Which summary reports a profile finding, first one past thr in this order: step 0 before
 * the run's median (at step 0 the theory applies and the setup alone is to blame), and
 * activation gradients before weight gradients (the faithful signal, THEORY.md). cand[0] is
 * grad_norm, cand[1] (when n_cand == 2) act_grad_norm. *best stays -1 when none is past. */
static void pick_signal(const RatioSummary *cand, size_t n_cand, double thr, int below, int *best,
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
static int extent_of(Ctx *c, GsCol col, int use_step0, double thr, int below)
{
    int last = 1;
    for (int l = 1; l < c->depth; l++) {
        double r;
        if (use_step0) {
            r = safe_ratio(get(c, 0, l, col), get(c, 0, c->depth, col));
        } else {
            for (size_t i = 0; i < c->S; i++)
                c->buf[i] = safe_ratio(get(c, i, l, col), get(c, i, c->depth, col));
            r = median_finite(c->buf, c->S);
        }
        if (isfinite(r) && (below ? r < thr : r > thr))
            last = l;
    }
    return last;
}

/* Recorded-step range over which ratio col(1)/col(depth) is on the bad side of thr. */
static void bad_steps(Ctx *c, GsCol col, double thr, int below, long *first, long *last)
{
    *first = *last = -1;
    for (size_t i = 0; i < c->S; i++) {
        double r = safe_ratio(get(c, i, 1, col), get(c, i, c->depth, col));
        if (isfinite(r) && (below ? r < thr : r > thr)) {
            if (*first < 0)
                *first = gs_trace_step(c->t, i);
            *last = gs_trace_step(c->t, i);
        }
    }
    if (*first < 0)
        *first = *last = gs_trace_step(c->t, 0);
}

static void vanish_cause(const Ctx *c, int weight_signal, char *why, size_t wsize, char *sug,
                         size_t ssize, char *opt, size_t osize)
{
    const Setup *su = &c->su;
    char b[24];
    if (su->residual > 0 && su->res_scale == 0.0) {
        /* alpha is fixed, not learned: zero branches never receive a gradient. */
        long blocks = (c->depth - 1) / su->residual;
        set_text(why, wsize,
                 "a residual scale of 0 multiplies every branch by zero, so its "
                 "layers never receive a gradient");
        set_text(sug, ssize, "Use a small non-zero branch scale, 1/sqrt(number of blocks).");
        set_text(opt, osize, "--res-scale %.2g", 1.0 / sqrt(blocks > 0 ? (double)blocks : 1.0));
    } else if (su->family == ACT_SIGMOID) {
        set_text(why, wsize,
                 "sigmoid's derivative is at most 0.25, so each layer shrinks "
                 "the signal");
        set_text(sug, ssize, "Use ReLU with He initialization (or add batch norm).");
        set_text(opt, osize, "--act relu --init he_normal");
    } else if (su->family == ACT_TANH && (!isfinite(su->sigma_w2) || su->sigma_w2 < 1.0)) {
        if (isfinite(su->sigma_w2))
            set_text(why, wsize,
                     "%s with %s init (weight variance %s/fan_in, below the critical 1) "
                     "shrinks the gradient at every layer",
                     su->act, su->init, fmt(b, su->sigma_w2));
        else
            set_text(why, wsize,
                     "%s's derivative is below 1 away from 0, so each layer "
                     "shrinks the signal",
                     su->act);
        set_text(sug, ssize,
                 "Use ReLU with He initialization (or Xavier init for %s, or "
                 "batch norm).",
                 su->act);
        set_text(opt, osize, "--act relu --init he_normal");
    } else if (su->family == ACT_RELU && isfinite(su->sigma_w2) && su->sigma_w2 < 1.6) {
        set_text(why, wsize,
                 "%s passes about half the gradient's energy per layer and %s init "
                 "(weight variance %s/fan_in) does not make up for it as He init (2/fan_in) "
                 "would",
                 su->act, su->init, fmt(b, su->sigma_w2));
        set_text(sug, ssize, "Use He initialization.");
        set_text(opt, osize, "--init he_normal");
    } else if (su->family == ACT_LINEAR && isfinite(su->sigma_w2) && su->sigma_w2 < 0.8) {
        set_text(why, wsize,
                 "a linear net with %s init (weight variance %s/fan_in, below 1) shrinks "
                 "the gradient at every layer",
                 su->init, fmt(b, su->sigma_w2));
        set_text(sug, ssize, "Use LeCun or Xavier initialization.");
        set_text(opt, osize, "--init xavier_normal");
    } else if (c->dead_idx >= 0) {
        /* No setup-level cause, but dead units: they pass exactly zero gradient. */
        const GsFinding *d = &c->out->items[c->dead_idx];
        char lay[32];
        set_text(why, wsize, "dead units in %s pass no gradient at all (see dead_units)",
                 fmt_layers(lay, sizeof lay, d->layer_first, d->layer_last));
        set_text(sug, ssize, "%s", d->suggestion);
        set_text(opt, osize, "%s", d->options);
    } else if (weight_signal && isfinite(su->input_scale) && su->input_scale < 0.01) {
        set_text(why, wsize,
                 "the inputs are scaled by %s, so layer 1's weight gradient (input times "
                 "backpropagated error) is tiny",
                 fmt(b, su->input_scale));
        set_text(sug, ssize, "Feed inputs of unit scale.");
        set_text(opt, osize, "--input-scale 1");
    } else if (su->residual == 0 && c->depth >= 4) {
        set_text(why, wsize,
                 "in a deep plain net the per-layer factors below 1 multiply, "
                 "and nothing carries the gradient past them");
        set_text(sug, ssize, "Add residual connections (or batch normalization).");
        set_text(opt, osize, "--residual 2");
    } else {
        set_text(why, wsize,
                 "each layer multiplies the backpropagated signal by a factor "
                 "below 1");
        set_text(sug, ssize, "Add batch normalization, or use ReLU with He initialization.");
        set_text(opt, osize, strcmp(su->norm, "batch") ? "--norm batch" : "--residual 2");
    }
}

/* act_grad_norm is dLoss/dz of the dense output z. Before a normalization layer the scale
 * of z is arbitrary (batch/layer norm divide it out), and so is that gradient's (it scales
 * as 1/std(z)): across normalized layers only the weight gradients compare. */
static int act_signal_meaningful(const Ctx *c)
{
    return gs_trace_has(c->t, GS_COL_ACT_GRAD_NORM) && strcmp(c->su.norm, "batch") != 0 &&
           strcmp(c->su.norm, "layer") != 0;
}

/* The first/last-layer ratio signals to judge: weight gradients, and activation gradients
 * where they compare (act_signal_meaningful). Fills cand[0..2); returns how many. */
static size_t ratio_candidates(Ctx *c, RatioSummary cand[2])
{
    size_t n = 0;
    cand[n++] = summarize_ratio(c, GS_COL_GRAD_NORM);
    if (act_signal_meaningful(c))
        cand[n++] = summarize_ratio(c, GS_COL_ACT_GRAD_NORM);
    return n;
}

static void rule_vanishing(Ctx *c)
{
    const GsThresholds *th = c->th;
    if (c->depth < 2) {
        skip(c, "vanishing: depth 1 (a single hidden layer cannot vanish)");
        return;
    }
    /* Candidates: weight gradients and, when recorded, activation gradients (the faithful
     * signal for ReLU/linear nets, whose weight gradients stay flat at init). */
    RatioSummary cand[2];
    size_t n_cand = ratio_candidates(c, cand);

    int best = -1, best_step0 = 0;
    double best_r = DNAN;
    pick_signal(cand, n_cand, th->vanish_ratio, 1, &best, &best_step0, &best_r);

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
            double m = layer_median(c, l, abs_col, 0, c->S);
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

    GsFinding *f = new_finding(c, GS_FIND_VANISHING, GS_SEV_WARNING);
    if (!f)
        return;
    char why[256], b1[24], b2[24], b3[24], lay[32], when[64];
    int weight_signal = best < 0 || cand[best].col == GS_COL_GRAD_NORM;
    vanish_cause(c, weight_signal, why, sizeof why, f->suggestion, sizeof f->suggestion, f->options,
                 sizeof f->options);

    if (best >= 0) {
        GsCol col = cand[best].col;
        double decay = pow(best_r, 1.0 / (c->depth - 1));
        if (best_r < th->vanish_ratio * th->vanish_ratio)
            f->severity = GS_SEV_ERROR;
        f->layer_first = 1;
        f->layer_last = extent_of(c, col, best_step0, th->vanish_ratio, 1);
        if (abs_last > f->layer_last)
            f->layer_last = abs_last;
        bad_steps(c, col, th->vanish_ratio, 1, &f->step_first, &f->step_last);
        if (best_step0)
            f->step_first = gs_trace_step(c->t, 0);
        add_ev(f, "ratio_first_last", best_r);
        add_ev(f, "threshold", th->vanish_ratio);
        add_ev(f, "decay_per_layer", decay);
        add_ev(f, "depth", c->depth);
        add_ev(f, "grad_ratio_step0", cand[0].step0);
        add_ev(f, "grad_ratio_median", cand[0].median);
        if (n_cand > 1) {
            add_ev(f, "act_grad_ratio_step0", cand[1].step0);
            add_ev(f, "act_grad_ratio_median", cand[1].median);
        }
        if (best_r == 0.0)
            /* below the smallest float: the ratio says nothing more than "gone" */
            set_text(f->message, sizeof f->message,
                     "Gradients vanish toward the input: layer 1's %s has underflowed to "
                     "exactly 0 while layer %d's is not, %s - %s.",
                     col == GS_COL_GRAD_NORM ? "weight gradient" : "activation gradient", c->depth,
                     fmt_when(when, sizeof when, c, best_step0, th->vanish_ratio), why);
        else
            set_text(f->message, sizeof f->message,
                     "Gradients vanish toward the input: layer 1's %s is %s of layer %d's %s, "
                     "a factor of %s per layer - %s.",
                     col == GS_COL_GRAD_NORM ? "weight gradient" : "activation gradient",
                     fmt(b1, best_r), c->depth,
                     fmt_when(when, sizeof when, c, best_step0, th->vanish_ratio), fmt(b3, decay),
                     why);
    } else {
        f->layer_first = abs_first;
        f->layer_last = abs_last;
        f->step_first = gs_trace_step(c->t, 0);
        f->step_last = gs_trace_step(c->t, c->S - 1);
        add_ev(f, "min_grad", abs_min);
        add_ev(f, "threshold", th->vanish_abs);
        add_ev(f, "depth", c->depth);
        add_ev(f, "grad_ratio_step0", cand[0].step0);
        add_ev(f, "grad_ratio_median", cand[0].median);
        set_text(f->message, sizeof f->message,
                 "Gradients vanish: in %s the %s is down to %s (median over the run), so "
                 "mean |g| is below %s and %s barely learn%s - %s.",
                 fmt_layers(lay, sizeof lay, abs_first, abs_last),
                 abs_col == GS_COL_GRAD_MAX_ABS ? "largest weight-gradient entry"
                                                : "weight-gradient norm",
                 fmt(b1, abs_min), fmt(b2, th->vanish_abs), abs_first == abs_last ? "it" : "they",
                 abs_first == abs_last ? "s" : "", why);
    }
}

/* ---- rule: exploding ------------------------------------------------------------------ */

static int lr_is_high(const Ctx *c)
{
    const Setup *su = &c->su;
    if (isfinite(c->med_update) && c->med_update > c->th->update_high)
        return 1;
    if (!isfinite(su->lr))
        return 0;
    return is_adaptive(su) ? su->lr > 3e-3 : su->lr > 0.1;
}

/* Picks why gradients explode and what to change. at_init: the profile is steep at step 0
 * (setup, not training dynamics); otherwise they grew while training. */
static void explode_cause(const Ctx *c, int at_init, char *why, size_t wsize, char *sug,
                          size_t ssize, char *opt, size_t osize)
{
    const Setup *su = &c->su;
    char b[24];
    double crit = su->family == ACT_RELU      ? 2.0
                  : su->family == ACT_SIGMOID ? 16.0
                  : su->family != ACT_UNKNOWN ? 1.0
                                              : DNAN;
    if (isfinite(su->input_scale) && su->input_scale > 10) {
        set_text(why, wsize,
                 "the inputs are scaled by %s, which inflates every activation "
                 "and gradient",
                 fmt(b, su->input_scale));
        set_text(sug, ssize, "Standardize the inputs and keep their scale near 1.");
        set_text(opt, osize, "--standardize --input-scale 1");
    } else if (su->csv_data && su->standardize == 0) {
        set_text(why, wsize,
                 "the CSV inputs are not standardized, so large raw feature "
                 "values inflate the gradients");
        set_text(sug, ssize, "Standardize the inputs.");
        set_text(opt, osize, "--standardize");
    } else if (isfinite(crit) && isfinite(su->sigma_w2) && su->sigma_w2 > 1.2 * crit) {
        set_text(why, wsize,
                 "%s init gives weight variance %s/fan_in, above the %s/fan_in at which %s "
                 "preserves gradients, so each layer amplifies them",
                 su->init, fmt(b, su->sigma_w2),
                 crit == 2.0   ? "2"
                 : crit == 1.0 ? "1"
                               : "16",
                 su->act);
        int relu = su->family == ACT_RELU;
        set_text(sug, ssize, "Use %s initialization at gain 1.", relu ? "He" : "Xavier");
        set_text(opt, osize, "--init %s", relu ? "he_normal" : "xavier_normal");
    } else if (!strcmp(su->norm, "batch") && su->family == ACT_RELU && su->residual == 0) {
        set_text(why, wsize,
                 "batch norm makes plain deep ReLU nets' gradients grow by about "
                 "pi/(pi-1) in energy per layer");
        set_text(sug, ssize, "Add residual connections.");
        set_text(opt, osize, "--residual 2");
    } else if (!at_init && lr_is_high(c) && isfinite(su->lr)) {
        set_text(why, wsize,
                 "the learning rate %g makes each update large enough to push the "
                 "weights into a steeper region",
                 su->lr);
        set_text(sug, ssize, "Lower the learning rate tenfold (or clip the gradient norm).");
        lr_option(opt, osize, su, 0.1);
    } else if (isfinite(su->clip_norm) && su->clip_norm > 0) {
        set_text(why, wsize, "gradient clipping at %g did not contain the growth", su->clip_norm);
        set_text(sug, ssize, "Lower the learning rate.");
        lr_option(opt, osize, su, 0.1);
    } else {
        set_text(why, wsize, "nothing bounds the gradient's size");
        set_text(sug, ssize, "Clip the global gradient norm.");
        set_text(opt, osize, "--clip-norm 1");
    }
}

static int step_nonfinite(const Ctx *c, size_t i, int layer);

static void rule_exploding(Ctx *c)
{
    const GsThresholds *th = c->th;
    /* (a) steep profile: layer 1 / layer depth above explode_ratio. */
    RatioSummary cand[2];
    size_t n_cand = c->depth >= 2 ? ratio_candidates(c, cand) : 0;
    int best = -1, best_step0 = 0;
    double best_r = DNAN;
    pick_signal(cand, n_cand, th->explode_ratio, 0, &best, &best_step0, &best_r);

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
            double g0 = get(c, 0, l, GS_COL_GRAD_NORM), peak = 0;
            for (size_t i = 1; i < c->S; i++) {
                double g = get(c, i, l, GS_COL_GRAD_NORM);
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
        growth_med = median_finite(c->buf, c->L);
        free(gl);
        if (isfinite(growth_med) && growth_med > th->growth) {
            /* first recorded step where the median layer passed the threshold */
            for (size_t i = 1; i < c->S && g_step < 0; i++) {
                size_t n = 0;
                for (int l = 1; l <= (int)c->L; l++)
                    c->buf[n++] =
                        safe_ratio(get(c, i, l, GS_COL_GRAD_NORM), get(c, 0, l, GS_COL_GRAD_NORM));
                double m = median_finite(c->buf, n);
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
            if (step_nonfinite(c, i, l)) {
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
                double g = get(c, j, k, GS_COL_GRAD_NORM);
                if (isfinite(g) && g > peak)
                    peak = g;
            }
            c->buf[n++] = safe_ratio(peak, get(c, 0, k, GS_COL_GRAD_NORM));
            if (isinf(get(c, nf_i, k, GS_COL_GRAD_NORM)))
                inf = 1;
        }
        double pre = median_finite(c->buf, n);
        nonfinite = inf || (isfinite(pre) && pre > 10.0);
        if (nonfinite) {
            nf_step = gs_trace_step(c->t, nf_i);
            if (!grew)
                growth_med = pre;
        }
    }

    if (best < 0 && !grew && !nonfinite)
        return;

    GsFinding *f = new_finding(c, GS_FIND_EXPLODING, GS_SEV_WARNING);
    if (!f)
        return;
    char why[256], b1[24], b2[24], b3[24], lay[32], when[64];
    explode_cause(c, best >= 0 && best_step0 && !grew && !nonfinite, why, sizeof why, f->suggestion,
                  sizeof f->suggestion, f->options, sizeof f->options);
    if (best >= 0) {
        GsCol col = cand[best].col;
        double gain = pow(best_r, 1.0 / (c->depth - 1));
        if (best_r > th->explode_ratio * th->explode_ratio || nonfinite)
            f->severity = GS_SEV_ERROR;
        f->layer_first = 1;
        f->layer_last = extent_of(c, col, best_step0, th->explode_ratio, 0);
        bad_steps(c, col, th->explode_ratio, 0, &f->step_first, &f->step_last);
        if (best_step0)
            f->step_first = gs_trace_step(c->t, 0);
        add_ev(f, "ratio_first_last", best_r);
        add_ev(f, "threshold", th->explode_ratio);
        add_ev(f, "growth_per_layer", gain);
        add_ev(f, "depth", c->depth);
        add_ev(f, "growth_over_run", growth_med);
        if (nonfinite)
            add_ev(f, "first_nonfinite_step", (double)nf_step);
        set_text(f->message, sizeof f->message,
                 "Gradients explode toward the input: layer 1's %s is %s times layer %d's "
                 "%s, a factor of %s per layer - %s.",
                 col == GS_COL_GRAD_NORM ? "weight gradient" : "activation gradient",
                 fmt(b1, best_r), c->depth,
                 fmt_when(when, sizeof when, c, best_step0, th->explode_ratio), fmt(b3, gain), why);
    } else if (grew) {
        if (growth_med > th->growth * th->growth || nonfinite)
            f->severity = GS_SEV_ERROR;
        f->layer_first = g_first ? g_first : 1;
        f->layer_last = g_last ? g_last : (int)c->L;
        f->step_first = gs_trace_step(c->t, 0);
        f->step_last = nonfinite ? nf_step : gs_trace_step(c->t, c->S - 1);
        add_ev(f, "growth_over_run", growth_med);
        add_ev(f, "threshold", th->growth);
        add_ev(f, "first_step", (double)g_step);
        if (nonfinite)
            add_ev(f, "first_nonfinite_step", (double)nf_step);
        if (isfinite(c->su.lr))
            add_ev(f, "lr", c->su.lr);
        set_text(f->message, sizeof f->message,
                 "Gradients explode during training: the median layer's gradient norm grew "
                 "%s-fold over its step-0 value (threshold %s), passing it at step %ld in "
                 "%s%s - %s.",
                 fmt(b1, growth_med), fmt(b2, th->growth), g_step,
                 fmt_layers(lay, sizeof lay, f->layer_first, f->layer_last),
                 nonfinite ? " and then turning non-finite" : "", why);
    } else {
        f->severity = GS_SEV_ERROR;
        f->layer_first = 1;
        f->layer_last = nf_layer;
        f->step_first = gs_trace_step(c->t, 0);
        f->step_last = nf_step;
        add_ev(f, "first_nonfinite_step", (double)nf_step);
        add_ev(f, "growth_before", growth_med);
        add_ev(f, "layer", nf_layer);
        set_text(f->message, sizeof f->message,
                 "Gradients explode: after growing %s-fold they become infinite or NaN at "
                 "step %ld (from layer %d down) - %s.",
                 fmt(b1, growth_med), nf_step, nf_layer, why);
    }
}

/* ---- rule: non-finite ----------------------------------------------------------------- */

/* Does any gradient quantity of layer at recorded step i hold NaN/Inf? */
static int step_nonfinite(const Ctx *c, size_t i, int layer)
{
    const GsTrace *t = c->t;
    if (!isfinite(get(c, i, layer, GS_COL_GRAD_NORM)))
        return 1;
    if (gs_trace_has(t, GS_COL_NONFINITE)) {
        double n = get(c, i, layer, GS_COL_NONFINITE);
        if (isfinite(n) && n > 0)
            return 1;
    }
    if (gs_trace_has(t, GS_COL_BIAS_GRAD_NORM) && isinf(get(c, i, layer, GS_COL_BIAS_GRAD_NORM)))
        return 1;
    if (gs_trace_has(t, GS_COL_ACT_GRAD_NORM) && isinf(get(c, i, layer, GS_COL_ACT_GRAD_NORM)))
        return 1;
    return 0;
}

static int weight_nonfinite(const Ctx *c, size_t i, int layer)
{
    if (!gs_trace_has(c->t, GS_COL_WEIGHT_NORM))
        return 0;
    return !isfinite(get(c, i, layer, GS_COL_WEIGHT_NORM));
}

/* Step of the engine's `# first_nonfinite = STEP,LAYER` line; -1 when absent or "none". */
static long meta_first_nonfinite(const Ctx *c, int *layer)
{
    const char *s = meta(c->t, "first_nonfinite");
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

static void rule_nonfinite(Ctx *c)
{
    size_t first = c->S;
    for (size_t i = 0; i < c->S && first == c->S; i++) {
        int bad = isinf(c->loss[i]) || (gs_trace_has(c->t, GS_COL_LOSS) && isnan(c->loss[i]) &&
                                        i > 0 && isfinite(c->loss[0]));
        for (int l = 1; l <= (int)c->L && !bad; l++)
            bad = step_nonfinite(c, i, l) || weight_nonfinite(c, i, l);
        if (bad)
            first = i;
    }
    if (first == c->S)
        return;

    /* Which quantity went first, in the order the step computes them: weights (left by the
     * previous update) -> loss (forward) -> gradients (backward, from the output down). */
    char what[160], lay[32];
    int origin = 0, lo = 0, hi = 0;
    for (int l = 1; l <= (int)c->L; l++)
        if (weight_nonfinite(c, first, l)) {
            if (!origin)
                origin = l;
            if (!lo)
                lo = l;
            hi = l;
        }
    int loss_bad = !isfinite(c->loss[first]) && gs_trace_has(c->t, GS_COL_LOSS);
    if (origin) {
        set_text(what, sizeof what,
                 "the weights of %s went non-finite first (the update "
                 "before this step overflowed them)",
                 fmt_layers(lay, sizeof lay, lo, hi));
    } else if (loss_bad) {
        set_text(what, sizeof what,
                 "the loss went non-finite first while the weights were "
                 "still finite, and every layer's gradient follows from it");
        lo = 1;
        hi = (int)c->L;
        origin = (int)c->L;
    } else {
        for (int l = (int)c->L; l >= 1; l--)
            if (step_nonfinite(c, first, l)) {
                if (!origin)
                    origin = l; /* backward runs from the output: the top layer came first */
                if (!hi)
                    hi = l;
                lo = l;
            }
        set_text(what, sizeof what,
                 "the gradients went non-finite first (weights and loss "
                 "still finite), in %s, from layer %d down",
                 fmt_layers(lay, sizeof lay, lo, hi), origin);
    }
    size_t n_bad = 0, last = first;
    for (size_t i = first; i < c->S; i++) {
        int bad = !isfinite(c->loss[i]) && gs_trace_has(c->t, GS_COL_LOSS);
        for (int l = 1; l <= (int)c->L && !bad; l++)
            bad = step_nonfinite(c, i, l) || weight_nonfinite(c, i, l);
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
            double g = get(c, i, l, GS_COL_GRAD_NORM);
            if (isfinite(g) && !(g <= max_grad))
                max_grad = g;
        }
    }

    GsFinding *f = new_finding(c, GS_FIND_NONFINITE, GS_SEV_ERROR);
    if (!f)
        return;
    f->layer_first = lo;
    f->layer_last = hi;
    f->step_first = gs_trace_step(c->t, first);
    f->step_last = gs_trace_step(c->t, last);
    int meta_layer = 0;
    long exact = meta_first_nonfinite(c, &meta_layer);
    char exact_note[96] = "";
    if (exact >= 0 && exact < f->step_first) {
        f->step_first = exact;
        set_text(exact_note, sizeof exact_note, " (step %ld by the engine's exact record)", exact);
    }
    add_ev(f, "first_step", (double)f->step_first);
    add_ev(f, "layer", origin);
    add_ev(f, "loss_at_first", c->loss[first]);
    add_ev(f, "last_finite_loss", last_loss);
    add_ev(f, "max_grad_norm_before", max_grad);
    add_ev(f, "nonfinite_steps", (double)n_bad);

    set_text(f->message, sizeof f->message,
             "Training produced NaN/Inf from recorded step %ld%s on: %s; %zu recorded step%s "
             "held non-finite values - the run overflowed.",
             gs_trace_step(c->t, first), exact_note, what, n_bad, n_bad == 1 ? "" : "s");
    const Setup *su = &c->su;
    double crit = su->family == ACT_RELU ? 2.0 : su->family == ACT_SIGMOID ? 16.0 : 1.0;
    if (su->family != ACT_UNKNOWN && isfinite(su->sigma_w2) && su->sigma_w2 > 1.2 * crit) {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Use a variance-preserving initialization, and clip the gradient norm.");
        set_text(f->options, sizeof f->options, "--init %s --clip-norm 1",
                 su->family == ACT_RELU ? "he_normal" : "xavier_normal");
    } else if (isfinite(su->lr)) {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Clip the gradient norm and lower the learning rate tenfold.");
        set_text(f->options, sizeof f->options, "--clip-norm 1 --lr %g", su->lr * 0.1);
    } else {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Clip the gradient norm and lower the learning rate.");
        set_text(f->options, sizeof f->options, "--clip-norm 1");
    }
}

/* ---- rules: saturation and dead units ------------------------------------------------- */

/* Per layer: flagged when the median over the run, or over the last quarter of recorded
 * steps (from step_from on), is above thr. Writes the flagged range and worst value. */
static int flag_layers(Ctx *c, GsCol col, double thr, size_t step_from, int need_end, int *lo,
                       int *hi, double *worst, int *worst_layer, int *n_flagged)
{
    *lo = *hi = *worst_layer = *n_flagged = 0;
    *worst = DNAN;
    if (step_from >= c->S)
        step_from = c->S - 1;
    size_t n = c->S - step_from;
    size_t tail = c->S - (n + 3) / 4;
    for (int l = 1; l <= (int)c->L; l++) {
        double med = layer_median(c, l, col, step_from, c->S);
        double end = layer_median(c, l, col, tail, c->S);
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
static void flag_steps(Ctx *c, GsCol col, double thr, int lo, int hi, long *first, long *last)
{
    *first = *last = -1;
    for (size_t i = 0; i < c->S; i++)
        for (int l = lo; l <= hi; l++)
            if (get(c, i, l, col) > thr) {
                if (*first < 0)
                    *first = gs_trace_step(c->t, i);
                *last = gs_trace_step(c->t, i);
                break;
            }
    if (*first < 0)
        *first = *last = gs_trace_step(c->t, 0);
}

static void rule_saturation(Ctx *c)
{
    if (!gs_trace_has(c->t, GS_COL_SATURATION)) {
        skip(c, "saturation: no 'saturation' column");
        return;
    }
    if (c->su.family == ACT_RELU || c->su.family == ACT_LINEAR) {
        skip(c, "saturation: %s cannot saturate", c->su.act);
        return;
    }
    int lo, hi, worst_layer, nf;
    double worst;
    if (!flag_layers(c, GS_COL_SATURATION, c->th->saturation, 0, 0, &lo, &hi, &worst, &worst_layer,
                     &nf))
        return;
    GsFinding *f = new_finding(c, GS_FIND_SATURATION, GS_SEV_WARNING);
    if (!f)
        return;
    f->layer_first = lo;
    f->layer_last = hi;
    flag_steps(c, GS_COL_SATURATION, c->th->saturation, lo, hi, &f->step_first, &f->step_last);
    add_ev(f, "max_saturation", worst);
    add_ev(f, "threshold", c->th->saturation);
    add_ev(f, "worst_layer", worst_layer);
    add_ev(f, "layers_flagged", nf);
    char lay[32];
    set_text(f->message, sizeof f->message,
             "Units saturate in %s: up to %.0f%% of %s units (layer %d) sit where the "
             "derivative is below 5%% of its maximum (threshold %.0f%%), so little gradient "
             "passes through them.",
             fmt_layers(lay, sizeof lay, lo, hi), 100.0 * worst, act_label(&c->su), worst_layer,
             100.0 * c->th->saturation);
    if (!strcmp(c->su.norm, "batch")) {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Use a non-saturating activation (ReLU with He initialization).");
        set_text(f->options, sizeof f->options, "--act relu --init he_normal");
    } else {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Use ReLU with He initialization, or add batch norm to keep "
                 "pre-activations near 0.");
        set_text(f->options, sizeof f->options, "--act relu --init he_normal");
    }
}

static void rule_dead(Ctx *c)
{
    if (!gs_trace_has(c->t, GS_COL_DEAD_FRAC)) {
        skip(c, "dead_units: no 'dead_frac' column");
        return;
    }
    /* After step 0 and sustained to the end: units that die at init may revive. */
    size_t from = c->S > 1 ? 1 : 0;
    int lo, hi, worst_layer, nf;
    double worst;
    if (!flag_layers(c, GS_COL_DEAD_FRAC, c->th->dead, from, 1, &lo, &hi, &worst, &worst_layer,
                     &nf))
        return;
    double end_worst = 0;
    for (int l = lo; l <= hi; l++) {
        double v = get(c, c->S - 1, l, GS_COL_DEAD_FRAC);
        if (isfinite(v) && v > end_worst)
            end_worst = v;
    }
    GsFinding *f =
        new_finding(c, GS_FIND_DEAD_UNITS, end_worst >= 0.999 ? GS_SEV_ERROR : GS_SEV_WARNING);
    if (!f)
        return;
    c->dead_idx = (long)(f - c->out->items);
    f->layer_first = lo;
    f->layer_last = hi;
    flag_steps(c, GS_COL_DEAD_FRAC, c->th->dead, lo, hi, &f->step_first, &f->step_last);
    add_ev(f, "max_dead_frac", worst);
    add_ev(f, "dead_frac_at_end", end_worst);
    add_ev(f, "threshold", c->th->dead);
    add_ev(f, "worst_layer", worst_layer);
    add_ev(f, "layers_flagged", nf);
    char lay[32];
    const Setup *su = &c->su;
    int neg_bias = !strncmp(su->bias_init, "const:-", 7);
    set_text(f->message, sizeof f->message,
             "Dead units in %s: %.0f%% of layer %d's units output zero derivative on every "
             "sample (median after step 0, threshold %.0f%%), and %s - a dead unit gets no "
             "gradient and cannot recover.",
             fmt_layers(lay, sizeof lay, lo, hi), 100.0 * worst, worst_layer, 100.0 * c->th->dead,
             end_worst >= 0.999 ? "a whole layer is dead at the end, blocking every gradient "
                                  "below it"
                                : "they stay dead to the end");
    if (neg_bias) {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Initialize biases at zero (the negative bias switches units off), or use "
                 "leaky ReLU.");
        set_text(f->options, sizeof f->options, "--bias-init zero --act leaky_relu");
    } else if (lr_is_high(c) && isfinite(su->lr)) {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Use leaky ReLU (or ELU) and lower the learning rate, whose large steps "
                 "push units into the dead zone.");
        set_text(f->options, sizeof f->options, "--act leaky_relu --lr %g", su->lr * 0.1);
    } else {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Use leaky ReLU (or ELU), whose gradient is never exactly zero.");
        set_text(f->options, sizeof f->options, "--act leaky_relu");
    }
}

/* ---- rules: update size --------------------------------------------------------------- */

/* Median over the run of each layer's update ratio into med[0..L); returns the median over
 * layers (NaN without data). */
static double update_medians(Ctx *c, double *med)
{
    for (int l = 1; l <= (int)c->L; l++)
        med[l - 1] = layer_median(c, l, GS_COL_UPDATE_RATIO, 0, c->S);
    memcpy(c->buf, med, c->L * sizeof *med);
    return median_finite(c->buf, c->L);
}

static void rule_update(Ctx *c, int too_large)
{
    double *med = malloc(c->L * sizeof *med);
    if (!med) {
        c->oom = 1;
        return;
    }
    double all = update_medians(c, med);
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
        new_finding(c, too_large ? GS_FIND_UPDATE_TOO_LARGE : GS_FIND_UPDATE_TOO_SMALL, sev);
    if (!f)
        return;
    f->layer_first = lo;
    f->layer_last = hi;
    f->step_first = gs_trace_step(c->t, 0);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    add_ev(f, "median_update_ratio", all);
    add_ev(f, "threshold", too_large ? th->update_high : th->update_low);
    add_ev(f, too_large ? "max_layer_ratio" : "min_layer_ratio", ext);
    add_ev(f, "layers_flagged", n);
    if (isfinite(su->lr))
        add_ev(f, "lr", su->lr);
    char lay[32], b1[24], b2[24], b3[24];
    fmt_layers(lay, sizeof lay, lo, hi);
    if (too_large) {
        set_text(f->message, sizeof f->message,
                 "Updates are too large in %s: each step changes the weights by %s of their "
                 "norm (median over layers and steps, largest layer %s; threshold %s, healthy "
                 "near 1e-3), so training jumps around instead of descending.",
                 lay, fmt(b1, all), fmt(b2, ext), fmt(b3, th->update_high));
        set_text(f->suggestion, sizeof f->suggestion, "Lower the learning rate%s.",
                 isfinite(su->lr) ? " tenfold" : "");
        lr_option(f->options, sizeof f->options, su, 0.1);
    } else {
        if (all == 0.0)
            /* a zero median: the gradients are zero, or the steps are below the float32
             * resolution of the weights (w + dw == w) */
            set_text(f->message, sizeof f->message,
                     "Updates are zero in most of %s: the typical step leaves the weights "
                     "exactly as they were (zero gradient, or a step below float32 resolution "
                     "of the weights; threshold %s, healthy near 1e-3), so training %s.",
                     lay, fmt(b3, th->update_low),
                     c->loss_stalled ? "has stalled" : "will be slow");
        else
            set_text(f->message, sizeof f->message,
                     "Updates are very small in %s: each step changes the weights by only %s "
                     "of their norm (median over layers and steps, smallest layer %s; "
                     "threshold %s, healthy near 1e-3), so training %s.",
                     lay, fmt(b1, all), fmt(b2, ext), fmt(b3, th->update_low),
                     c->loss_stalled ? "has stalled" : "will be slow");
        if (isfinite(su->lr)) {
            set_text(f->suggestion, sizeof f->suggestion,
                     "Raise the learning rate tenfold, or use Adam.");
            set_text(f->options, sizeof f->options, "--lr %g", su->lr * 10.0);
        } else {
            set_text(f->suggestion, sizeof f->suggestion, "Raise the learning rate, or use Adam.");
            set_text(f->options, sizeof f->options, "--opt adam");
        }
    }
}

/* ---- rules: loss ---------------------------------------------------------------------- */

static void rule_loss_diverging(Ctx *c)
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
    GsFinding *f = new_finding(c, GS_FIND_LOSS_DIVERGING, GS_SEV_ERROR);
    if (!f)
        return;
    f->layer_first = 1;
    f->layer_last = (int)c->L;
    f->step_first = gs_trace_step(c->t, first_bad);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    double ratio = isfinite(l0) && l0 > 0 ? final / l0 : DNAN;
    add_ev(f, "initial_loss", l0);
    add_ev(f, "final_loss", final);
    add_ev(f, "ratio", ratio);
    add_ev(f, "threshold", th->loss_diverge);
    add_ev(f, "first_step", (double)f->step_first);
    char b1[24], b2[24], b3[24];
    if (went_nonfinite && isfinite(c->loss[first_bad]))
        set_text(f->message, sizeof f->message,
                 "The loss diverges: it starts at %s, passes %gx that at step %ld and then "
                 "becomes NaN/Inf (last finite value %s) - the updates overshoot.",
                 fmt(b1, l0), th->loss_diverge, f->step_first, fmt(b2, final));
    else if (went_nonfinite)
        set_text(f->message, sizeof f->message,
                 "The loss diverges: it starts at %s and becomes NaN/Inf at step %ld (last "
                 "finite value %s) - the updates overshoot.",
                 fmt(b1, l0), f->step_first, fmt(b2, final));
    else
        set_text(f->message, sizeof f->message,
                 "The loss diverges: it ends at %s, %s times its initial %s (threshold %gx, "
                 "passed at step %ld) - the updates overshoot.",
                 fmt(b1, final), fmt(b2, ratio), fmt(b3, l0), th->loss_diverge, f->step_first);
    const Setup *su = &c->su;
    if (isfinite(su->lr)) {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Lower the learning rate tenfold and clip the gradient norm.");
        set_text(f->options, sizeof f->options, "--lr %g --clip-norm 1", su->lr * 0.1);
    } else {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Lower the learning rate and clip the gradient norm.");
        set_text(f->options, sizeof f->options, "--clip-norm 1");
    }
}

#define STALL_MIN_STEPS 50

static void rule_loss_stalled(Ctx *c)
{
    if (c->S < STALL_MIN_STEPS) {
        skip(c, "loss_stalled: only %zu recorded steps (needs %d)", c->S, STALL_MIN_STEPS);
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
    double end = median_finite(c->buf, n);
    if (!isfinite(end))
        return;
    double rel = (l0 - end) / fabs(l0);
    if (rel >= c->th->loss_stall)
        return;
    c->loss_stalled = 1;
    GsFinding *f = new_finding(c, GS_FIND_LOSS_STALLED, GS_SEV_WARNING);
    if (!f)
        return;
    f->layer_first = 1;
    f->layer_last = (int)c->L;
    f->step_first = gs_trace_step(c->t, 0);
    f->step_last = gs_trace_step(c->t, c->S - 1);
    add_ev(f, "initial_loss", l0);
    add_ev(f, "final_loss", end);
    add_ev(f, "rel_decrease", rel);
    add_ev(f, "threshold", c->th->loss_stall);
    add_ev(f, "recorded_steps", (double)c->S);
    char b1[24], b2[24], change[48];
    if (rel >= 0)
        set_text(change, sizeof change, "a %.2g%% decrease", 100.0 * rel);
    else
        set_text(change, sizeof change, "an increase of %.2g%%", -100.0 * rel);
    set_text(f->message, sizeof f->message,
             "The loss stalls: from %s it only reaches %s (median of the last tenth) over "
             "%ld steps, %s (threshold: a %.2g%% decrease) - the net is not learning.",
             fmt(b1, l0), fmt(b2, end), gs_trace_step(c->t, c->S - 1), change,
             100.0 * c->th->loss_stall);
    const Setup *su = &c->su;
    if (isfinite(su->lr)) {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Check the other findings (vanishing, dead units); otherwise raise the "
                 "learning rate tenfold.");
        set_text(f->options, sizeof f->options, "--lr %g", su->lr * 10.0);
    } else {
        set_text(f->suggestion, sizeof f->suggestion,
                 "Check the other findings (vanishing, dead units); otherwise raise the "
                 "learning rate.");
    }
}

/* ---- driver --------------------------------------------------------------------------- */

static int cmp_finding(const void *a, const void *b)
{
    const GsFinding *x = a, *y = b;
    if (x->severity != y->severity)
        return x->severity > y->severity ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

/* Hidden depth: the metadata's when it fits the trace, else every layer but the last (the
 * output layer of a foreign model). */
static int infer_depth(const GsTrace *t, size_t L)
{
    double d;
    if (parse_num(meta(t, "depth"), &d) && d >= 1 && d <= (double)L && d == floor(d))
        return (int)d;
    return L >= 2 ? (int)L - 1 : 1;
}

GsStatus gs_diagnose(const GsTrace *trace, const GsThresholds *th, GsFindings *out, GsError *err)
{
    assert(trace && out);
    GsThresholds def;
    if (!th) {
        gs_thresholds_default(&def);
        th = &def;
    }
    memset(out, 0, sizeof *out);
    Ctx c;
    memset(&c, 0, sizeof c);
    c.t = trace;
    c.th = th;
    c.S = gs_trace_n_steps(trace);
    c.L = gs_trace_n_layers(trace);
    c.out = out;
    c.med_update = DNAN;
    c.dead_idx = -1;
    if (c.S == 0) {
        skip(&c, "all rules: the trace has no recorded steps");
        return GS_OK;
    }
    c.depth = infer_depth(trace, c.L);
    read_setup(trace, &c.su);
    size_t nbuf = c.S > c.L ? c.S : c.L;
    c.loss = malloc(c.S * sizeof *c.loss);
    c.buf = malloc(nbuf * sizeof *c.buf);
    if (!c.loss || !c.buf) {
        free(c.loss);
        free(c.buf);
        return gs_error(err, GS_ERR_NOMEM, "diagnose: out of memory for %zu steps", c.S);
    }
    /* The loss is the same on every layer row: take the first finite one, else Inf if any
     * row says Inf, else NaN. */
    int has_loss = gs_trace_has(trace, GS_COL_LOSS);
    for (size_t i = 0; i < c.S; i++) {
        double v = DNAN;
        for (size_t l = 0; has_loss && l < c.L; l++) {
            double x = gs_trace_get(trace, i, l, GS_COL_LOSS);
            if (isfinite(x)) {
                v = x;
                break;
            }
            if (isinf(x))
                v = x;
        }
        c.loss[i] = v;
    }

    int has_upd = gs_trace_has(trace, GS_COL_UPDATE_RATIO);
    if (has_upd) {
        double *med = malloc(c.L * sizeof *med);
        if (med) {
            c.med_update = update_medians(&c, med);
            free(med);
        } else {
            c.oom = 1;
        }
    }

    /* Loss rules first: the update rule's severity reads whether the loss stalled. */
    if (has_loss) {
        rule_loss_diverging(&c);
        rule_loss_stalled(&c);
    } else {
        skip(&c, "loss_diverging: no 'loss' column");
        skip(&c, "loss_stalled: no 'loss' column");
    }
    /* Dead units before vanishing: they can be the reason gradients vanish. */
    rule_dead(&c);
    rule_saturation(&c);
    rule_vanishing(&c);
    rule_exploding(&c);
    rule_nonfinite(&c);
    if (has_upd) {
        rule_update(&c, 1);
        rule_update(&c, 0);
    } else {
        skip(&c, "update_too_large: no 'update_ratio' column");
        skip(&c, "update_too_small: no 'update_ratio' column");
    }
    free(c.loss);
    free(c.buf);
    if (c.oom) {
        gs_findings_fini(out);
        return gs_error(err, GS_ERR_NOMEM, "diagnose: out of memory");
    }
    if (out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, cmp_finding);
    for (size_t i = 0; i < out->n; i++) {
        out->items[i].primary = i == 0;
        out->items[i].explained_by = -1;
    }
    return GS_OK;
}
