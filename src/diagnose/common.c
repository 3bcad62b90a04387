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


int dg_parse_num(const char *s, double *v)
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

void dg_copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Weight variance times fan_in for a square hidden layer (THEORY.md's sigma_w^2). */
double dg_init_sigma_w2(const char *init, long width)
{
    char name[48];
    dg_copy_str(name, sizeof name, init);
    double gain = 1.0, param = DNAN;
    char *star = strchr(name, '*');
    if (star) {
        *star = '\0';
        if (!dg_parse_num(star + 1, &gain))
            return DNAN;
    }
    char *colon = strchr(name, ':');
    if (colon) {
        *colon = '\0';
        if (!dg_parse_num(colon + 1, &param))
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

int dg_parse_bool(const char *s)
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
const char *dg_meta(const GsTrace *t, const char *key)
{
    const char *v = gs_trace_meta_get(t, key);
    if (v || !strpbrk(key, "_-"))
        return v;
    char alt[64];
    dg_copy_str(alt, sizeof alt, key);
    for (char *p = alt; *p; p++)
        *p = *p == '_' ? '-' : *p == '-' ? '_' : *p;
    return gs_trace_meta_get(t, alt);
}

void dg_read_setup(const GsTrace *t, Setup *su)
{
    double v;
    dg_copy_str(su->act, sizeof su->act, dg_meta(t, "act"));
    char fam[48];
    dg_copy_str(fam, sizeof fam, su->act);
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

    su->width = dg_parse_num(dg_meta(t, "width"), &v) && v >= 1 ? (long)v : -1;
    dg_copy_str(su->init, sizeof su->init, dg_meta(t, "init"));
    su->sigma_w2 = su->init[0] ? dg_init_sigma_w2(su->init, su->width) : DNAN;
    dg_copy_str(su->norm, sizeof su->norm, dg_meta(t, "norm"));
    su->residual = dg_parse_num(dg_meta(t, "residual"), &v) && v >= 0 ? (long)v : -1;
    su->res_scale = dg_parse_num(dg_meta(t, "res_scale"), &v) ? v : DNAN;
    dg_copy_str(su->opt, sizeof su->opt, dg_meta(t, "opt"));
    su->lr = dg_parse_num(dg_meta(t, "lr"), &v) && v > 0 && isfinite(v) ? v : DNAN;
    su->clip_norm = dg_parse_num(dg_meta(t, "clip_norm"), &v) && v >= 0 ? v : DNAN;
    su->input_scale = dg_parse_num(dg_meta(t, "input_scale"), &v) ? fabs(v) : DNAN;
    su->standardize = dg_parse_bool(dg_meta(t, "standardize"));
    const char *data = dg_meta(t, "data");
    su->csv_data = data && (strstr(data, ".csv") || strchr(data, '/'));
    dg_copy_str(su->bias_init, sizeof su->bias_init, dg_meta(t, "bias-init"));
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
const char *dg_fmt_layers(char *buf, size_t size, int a, int b)
{
    if (a == b)
        snprintf(buf, size, "layer %d", a);
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
    dg_copy_str(e->key, sizeof e->key, key);
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

