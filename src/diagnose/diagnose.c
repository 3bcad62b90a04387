/* Diagnosis rules: read a trace (and its setup metadata when the engine wrote it), decide
 * which gradient pathologies it shows, and explain each one in plain words with a fix given
 * as gradscope options. Every rule is one function; each yields at most one merged finding. */
#include "gradscope/diagnose.h"

#include "diagnose/rules.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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
static int dg_infer_depth(const GsTrace *t, size_t L)
{
    double d;
    if (dg_parse_num(dg_meta(t, "depth"), &d) && d >= 1 && d <= (double)L && d == floor(d))
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
        dg_skip(&c, "all rules: the trace has no recorded steps");
        return GS_OK;
    }
    c.depth = dg_infer_depth(trace, c.L);
    dg_read_setup(trace, &c.su);
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
            c.med_update = dg_update_medians(&c, med);
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
        dg_skip(&c, "loss_diverging: no 'loss' column");
        dg_skip(&c, "loss_stalled: no 'loss' column");
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
        dg_skip(&c, "update_too_large: no 'update_ratio' column");
        dg_skip(&c, "update_too_small: no 'update_ratio' column");
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

