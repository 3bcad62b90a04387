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

/* Every threshold: its key, default, and where the default comes from (the README's findings
 * table lists the same; a test checks that it does).
 * Severities: error for what breaks training (non-finite values, a diverging loss, a fully
 * dead layer, and vanishing/exploding past the square of its threshold, e.g. a ratio below
 * 1e-6); warning for the other pathologies; info for small updates while the loss still falls
 * and for frozen layers. Evidence may hold NaN/Inf; JSON writes those as null. */
static const struct {
    const char *name;
    size_t offset;
    double def;
    const char *source;
} th_keys[] = {
    {"vanish_ratio", offsetof(GsThresholds, vanish_ratio), 1e-3,
     "AUTOTRAINER (Zhang et al., ICSE 2021): first/last layer gradient-norm ratio"},
    {"explode_ratio", offsetof(GsThresholds, explode_ratio), 70.0,
     "AUTOTRAINER (Zhang et al., ICSE 2021)"},
    {"vanish_abs", offsetof(GsThresholds, vanish_abs), 1e-7,
     "SageMaker Debugger vanishing_gradient rule: mean |g|"},
    {"saturation", offsetof(GsThresholds, saturation), 0.5,
     "SageMaker Debugger; Karpathy, makemore part 3 (tanh)"},
    {"dead", offsetof(GsThresholds, dead), 0.5, "SageMaker Debugger dead_relu rule"},
    {"update_high", offsetof(GsThresholds, update_high), 1e-2,
     "Karpathy, makemore part 3: |dW|/|W| healthy near 1e-3"},
    {"update_low", offsetof(GsThresholds, update_low), 1e-5, "Karpathy, makemore part 3"},
    {"growth", offsetof(GsThresholds, growth), 1e3,
     "ours: a thousandfold growth of a gradient norm is not minibatch noise"},
    {"loss_diverge", offsetof(GsThresholds, loss_diverge), 10.0,
     "ours: minibatch noise stays within a small factor of the initial loss"},
    {"loss_stall", offsetof(GsThresholds, loss_stall), 0.01,
     "ours: less than 1% decrease over 50+ recorded steps"},
    {"input_std_high", offsetof(GsThresholds, input_std_high), 10.0,
     "LeCun et al., Efficient BackProp (1998): inputs of unit variance; 10x off is unscaled"},
    {"input_std_low", offsetof(GsThresholds, input_std_low), 0.01,
     "LeCun et al., Efficient BackProp (1998)"},
    {"not_learning", offsetof(GsThresholds, not_learning), 0.05,
     "ours: the best loss never 5% below the constant-prediction baseline"},
    {"zero_spike", offsetof(GsThresholds, zero_spike), 0.9,
     "ours: a healthy ReLU layer outputs exactly 0 for about half its entries"},
    {"heavy_tail", offsetof(GsThresholds, heavy_tail), 0.5,
     "ours: the largest 0.1% of Gaussian entries carry 1.4% of the sum of squares, of healthy "
     "ReLU nets' gradients up to 16%"},
};
#define N_TH_KEYS (sizeof th_keys / sizeof th_keys[0])

size_t gs_thresholds_count(void)
{
    return N_TH_KEYS;
}

const char *gs_threshold_name(size_t i)
{
    return i < N_TH_KEYS ? th_keys[i].name : NULL;
}

double gs_threshold_default(size_t i)
{
    return i < N_TH_KEYS ? th_keys[i].def : DNAN;
}

const char *gs_threshold_source(size_t i)
{
    return i < N_TH_KEYS ? th_keys[i].source : NULL;
}

void gs_thresholds_default(GsThresholds *th)
{
    assert(th);
    for (size_t i = 0; i < N_TH_KEYS; i++)
        *(double *)((char *)th + th_keys[i].offset) = th_keys[i].def;
}

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
        char valid[512] = "";
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
    "vanishing",        "exploding",        "nonfinite",      "saturation",     "dead_units",
    "update_too_large", "update_too_small", "loss_diverging", "loss_stalled",   "inputs_unscaled",
    "not_learning",     "frozen",           "vanishing_time", "exploding_time", "heavy_tail",
};

static const char *const kind_titles[GS_FIND_COUNT] = {
    "vanishing gradient",
    "exploding gradient",
    "NaN/Inf in gradients",
    "saturated units",
    "dead units",
    "update too large",
    "update too small",
    "loss diverging",
    "loss stalled",
    "unscaled inputs",
    "not learning",
    "frozen layer",
    "vanishing gradient through time",
    "exploding gradient through time",
    "heavy-tailed gradient",
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

/* Hidden depth: the setup's when it fits the trace, else every layer but the last (the
 * output layer of a foreign model). */
static int infer_depth(const Setup *su, size_t L)
{
    int d = su->ts.spec.depth;
    if (gs_setup_has(&su->ts, "depth") && d >= 1 && (size_t)d <= L)
        return d;
    return L >= 2 ? (int)L - 1 : 1;
}

/* The rules as a table: the kind each yields, the columns it needs (all of them), and
 * whether it judges the gradients' shape (then it sees only the steps before the first
 * non-finite one). Run in this order: a rule may read what an earlier one found (vanishing
 * reads dead units, exploding reads unscaled inputs, the update rule reads a stalled loss). */
typedef struct {
    GsFindingKind kind;
    uint64_t needs;
    int shape;
    void (*fn)(Ctx *c);
} Rule;

static void rule_update_large(Ctx *c)
{
    rule_update(c, 1);
}

static void rule_update_small(Ctx *c)
{
    rule_update(c, 0);
}

#define B(col) GS_COL_BIT(GS_COL_##col)
static const Rule rules[] = {
    {GS_FIND_FROZEN, B(GRAD_NORM), 0, rule_frozen},
    {GS_FIND_LOSS_DIVERGING, B(LOSS), 0, rule_loss_diverging},
    {GS_FIND_LOSS_STALLED, B(LOSS), 0, rule_loss_stalled},
    {GS_FIND_INPUTS_UNSCALED, 0, 1, rule_inputs_unscaled},
    {GS_FIND_DEAD_UNITS, 0, 1, rule_dead},
    {GS_FIND_SATURATION, 0, 1, rule_saturation},
    {GS_FIND_VANISHING_TIME, 0, 1, rule_vanishing_time},
    {GS_FIND_EXPLODING_TIME, 0, 0, rule_exploding_time},
    {GS_FIND_VANISHING, B(GRAD_NORM), 1, rule_vanishing},
    {GS_FIND_EXPLODING, B(GRAD_NORM), 0, rule_exploding},
    {GS_FIND_NONFINITE, B(GRAD_NORM), 0, rule_nonfinite},
    {GS_FIND_UPDATE_TOO_LARGE, B(UPDATE_RATIO), 1, rule_update_large},
    {GS_FIND_UPDATE_TOO_SMALL, B(UPDATE_RATIO), 1, rule_update_small},
    {GS_FIND_NOT_LEARNING, B(LOSS), 0, rule_not_learning},
    {GS_FIND_HEAVY_TAIL, 0, 1, rule_heavy_tail},
};
#undef B

/* The causal order: a cause listed earlier explains symptoms listed later. */
static const GsFindingKind causal[] = {
    GS_FIND_NONFINITE,        GS_FIND_INPUTS_UNSCALED, GS_FIND_EXPLODING_TIME,
    GS_FIND_VANISHING_TIME,   GS_FIND_EXPLODING,       GS_FIND_VANISHING,
    GS_FIND_DEAD_UNITS,       GS_FIND_SATURATION,      GS_FIND_UPDATE_TOO_LARGE,
    GS_FIND_UPDATE_TOO_SMALL, GS_FIND_LOSS_DIVERGING,  GS_FIND_LOSS_STALLED,
    GS_FIND_NOT_LEARNING,     GS_FIND_FROZEN,          GS_FIND_HEAVY_TAIL,
};
#define N_CAUSAL (sizeof causal / sizeof causal[0])

static int causal_rank(GsFindingKind k)
{
    for (size_t i = 0; i < N_CAUSAL; i++)
        if (causal[i] == k)
            return (int)i;
    return (int)N_CAUSAL;
}

/* Which finding (index) explains finding i, -1 when none does. idx[k] is the index of kind k,
 * -1 when absent. The reasoning, cause by cause:
 * - unscaled inputs explain every gradient and loss symptom (exploding, NaN, saturation,
 *   dead units, updates, the loss), but not a frozen layer;
 * - a profile steep at step 0 (exploding or vanishing: the setup) explains the update and
 *   loss findings, the non-finite values, and the saturation or dead units that go with it;
 * - dead units explain the vanishing gradient they cause, and the small updates and loss;
 * - large updates (the learning rate) explain any pathology that developed while training
 *   from a healthy step 0, the non-finite values and a diverging loss;
 * - non-finite values explain a diverging loss (the same event); small updates explain a
 *   stalled loss; and the not-learning finding is explained by any other warning. */
static long explainer(const GsFindings *fs, const long *idx, const Ctx *c, size_t i)
{
    GsFindingKind k = fs->items[i].kind;
    if (k == GS_FIND_FROZEN)
        return -1;
    /* a few active units among saturated or dead ones carry the whole gradient */
    if (k == GS_FIND_HEAVY_TAIL && (idx[GS_FIND_SATURATION] >= 0 || idx[GS_FIND_DEAD_UNITS] >= 0))
        return idx[GS_FIND_SATURATION] >= 0 ? idx[GS_FIND_SATURATION] : idx[GS_FIND_DEAD_UNITS];
    long in = idx[GS_FIND_INPUTS_UNSCALED], ex = idx[GS_FIND_EXPLODING],
         va = idx[GS_FIND_VANISHING], de = idx[GS_FIND_DEAD_UNITS], sa = idx[GS_FIND_SATURATION],
         ul = idx[GS_FIND_UPDATE_TOO_LARGE], us = idx[GS_FIND_UPDATE_TOO_SMALL],
         nf = idx[GS_FIND_NONFINITE], ld = idx[GS_FIND_LOSS_DIVERGING],
         ls = idx[GS_FIND_LOSS_STALLED], vt = idx[GS_FIND_VANISHING_TIME],
         et = idx[GS_FIND_EXPLODING_TIME];
    int ex_init = ex >= 0 && c->onset_init[GS_FIND_EXPLODING];
    int va_init = va >= 0 && c->onset_init[GS_FIND_VANISHING];
    int et_init = et >= 0 && c->onset_init[GS_FIND_EXPLODING_TIME];
    int developed =
        (k == GS_FIND_EXPLODING || k == GS_FIND_VANISHING || k == GS_FIND_DEAD_UNITS ||
         k == GS_FIND_SATURATION || k == GS_FIND_VANISHING_TIME || k == GS_FIND_EXPLODING_TIME) &&
        !c->onset_init[k];
    /* the training dynamics: large updates, or else the diverging loss that shows them */
    long dyn = ul >= 0 ? ul : ld;
    if (in >= 0 && k != GS_FIND_INPUTS_UNSCALED)
        return in;
    switch (k) {
    case GS_FIND_NONFINITE: return ex_init ? ex : et_init ? et : ul;
    case GS_FIND_VANISHING_TIME:
    case GS_FIND_EXPLODING_TIME: return developed ? dyn : -1;
    case GS_FIND_EXPLODING:
    case GS_FIND_VANISHING:
        /* a recurrent net's per-tensor profile is a symptom of what happens through time */
        if (k == GS_FIND_VANISHING && vt >= 0)
            return vt;
        if (k == GS_FIND_EXPLODING && et >= 0)
            return et;
        /* fall through */
    case GS_FIND_DEAD_UNITS:
    case GS_FIND_SATURATION:
        if (k == GS_FIND_VANISHING && c->vanish_from_dead && de >= 0)
            return de;
        if (developed)
            return dyn;
        if (k == GS_FIND_SATURATION && (ex_init || va_init))
            return ex_init ? ex : va;
        if (k == GS_FIND_DEAD_UNITS && ex_init)
            return ex;
        /* deep ReLU layers of an ordered net are dead at step 0 because the signal
         * collapsed: the init explains them (unless a negative bias killed them) */
        if (k == GS_FIND_DEAD_UNITS && va_init && !c->vanish_from_dead && !c->su.bias_negative)
            return va;
        return -1;
    case GS_FIND_UPDATE_TOO_LARGE: return ex_init ? ex : et_init ? et : -1;
    case GS_FIND_UPDATE_TOO_SMALL:
        return va >= 0 ? va : vt >= 0 ? vt : de >= 0 ? de : sa >= 0 ? sa : -1;
    case GS_FIND_LOSS_DIVERGING: return ex_init ? ex : et_init ? et : ul >= 0 ? ul : nf;
    case GS_FIND_LOSS_STALLED:
        return ex >= 0   ? ex
               : et >= 0 ? et
               : va >= 0 ? va
               : vt >= 0 ? vt
               : de >= 0 ? de
               : sa >= 0 ? sa
                         : us;
    case GS_FIND_NOT_LEARNING: {
        const long any[] = {nf, et, ex, vt, va, de, sa, ul, us, ld, ls};
        for (size_t j = 0; j < sizeof any / sizeof any[0]; j++)
            if (any[j] >= 0 && fs->items[any[j]].severity >= GS_SEV_WARNING)
                return any[j];
        return -1;
    }
    default: return -1;
    }
}

/* Primary first, then by causal rank, then by severity. */
static int cmp_finding(const void *a, const void *b)
{
    const GsFinding *x = a, *y = b;
    if (x->primary != y->primary)
        return x->primary ? -1 : 1;
    int rx = causal_rank(x->kind), ry = causal_rank(y->kind);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return (x->severity < y->severity) - (x->severity > y->severity);
}

/* Links each finding to the one that explains it (following chains to the root), gives it
 * that finding's fix, picks the primary (the first unexplained warning or error in causal
 * order, else the first unexplained finding) and sorts: primary first, then causal order. */
static void link_causes(Ctx *c)
{
    GsFindings *fs = c->out;
    size_t n = fs->n;
    if (n == 0)
        return;
    long idx[GS_FIND_COUNT];
    for (int k = 0; k < GS_FIND_COUNT; k++)
        idx[k] = -1;
    for (size_t i = 0; i < n; i++)
        idx[fs->items[i].kind] = (long)i;
    long *root = malloc(n * sizeof *root);
    if (!root) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        root[i] = explainer(fs, idx, c, i);
    /* follow chains (a cycle cannot form by the table above; the bound is a guard) */
    for (size_t i = 0; i < n; i++)
        for (size_t hop = 0; hop < n && root[i] >= 0 && root[root[i]] >= 0; hop++)
            root[i] = root[root[i]];
    long primary = -1;
    for (int pass = 0; pass < 2 && primary < 0; pass++)
        for (size_t r = 0; r < N_CAUSAL && primary < 0; r++) {
            long i = idx[causal[r]];
            if (i >= 0 && root[i] < 0 && (pass == 1 || fs->items[i].severity >= GS_SEV_WARNING))
                primary = i;
        }
    /* Each rule yields at most one finding, so a kind names a finding across the sort. */
    int by_kind[GS_FIND_COUNT];
    for (int k = 0; k < GS_FIND_COUNT; k++)
        by_kind[k] = -1;
    for (size_t i = 0; i < n; i++) {
        GsFinding *f = &fs->items[i];
        f->primary = (long)i == primary;
        f->explained_by = -1;
        if (root[i] < 0 || root[i] == (long)i)
            continue;
        const GsFinding *by = &fs->items[root[i]];
        size_t m = strlen(f->message);
        snprintf(f->message + m, sizeof f->message - m, " (A consequence of the %s above.)",
                 gs_finding_kind_title(by->kind));
        memcpy(f->suggestion, by->suggestion, sizeof f->suggestion);
        memcpy(f->options, by->options, sizeof f->options);
        by_kind[f->kind] = (int)by->kind;
    }
    free(root);
    if (n > 1)
        qsort(fs->items, n, sizeof *fs->items, cmp_finding);
    for (size_t i = 0; i < n; i++) {
        int want = by_kind[fs->items[i].kind];
        for (size_t j = 0; want >= 0 && j < n; j++)
            if ((int)fs->items[j].kind == want)
                fs->items[i].explained_by = (int)j;
    }
}

/* A fix in gradscope options, said as the PyTorch change (traces the PyTorch tracer wrote):
 * each "--key value" becomes one clause. Unknown keys keep their option text. */
static void torch_terms(const char *opts, char *out, size_t size)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", opts);
    out[0] = '\0';
    char *save = NULL;
    for (char *k = strtok_r(buf, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
        if (strncmp(k, "--", 2) != 0)
            continue;
        char *v = NULL;
        if (strcmp(k, "--standardize") != 0)
            v = strtok_r(NULL, " ", &save);
        char clause[200];
        const char *val = v ? v : "";
        if (!strcmp(k, "--init")) {
            if (!strncmp(val, "he_", 3))
                snprintf(clause, sizeof clause,
                         "nn.init.kaiming_normal_(layer.weight, nonlinearity=\"relu\")");
            else if (!strncmp(val, "lecun", 5))
                snprintf(clause, sizeof clause,
                         "nn.init.kaiming_normal_(layer.weight, nonlinearity=\"linear\") "
                         "(LeCun: std 1/sqrt(fan_in))");
            else if (!strncmp(val, "xavier", 6))
                snprintf(clause, sizeof clause, "nn.init.xavier_normal_(layer.weight)");
            else
                snprintf(clause, sizeof clause, "initialize the weights as %s", val);
        } else if (!strcmp(k, "--act")) {
            snprintf(clause, sizeof clause, "%s",
                     !strcmp(val, "relu")        ? "nn.ReLU()"
                     : !strncmp(val, "leaky", 5) ? "nn.LeakyReLU(0.01)"
                     : !strcmp(val, "elu")       ? "nn.ELU()"
                                                 : val);
        } else if (!strcmp(k, "--clip-norm")) {
            snprintf(clause, sizeof clause,
                     "torch.nn.utils.clip_grad_norm_(model.parameters(), %s) before opt.step()",
                     val);
        } else if (!strcmp(k, "--init-hh")) {
            if (!strncmp(val, "orthogonal", 10))
                snprintf(clause, sizeof clause,
                         "nn.init.orthogonal_ on each H x H gate block of weight_hh_l0");
            else if (!strncmp(val, "identity", 8))
                snprintf(clause, sizeof clause,
                         "initialize weight_hh_l0 as the identity (IRNN: nn.init.eye_)");
            else
                snprintf(clause, sizeof clause, "initialize weight_hh_l0 as %s", val);
        } else if (!strcmp(k, "--forget-bias")) {
            snprintf(clause, sizeof clause,
                     "open the forget gate: bias_ih_l0[H:2H] = %s and bias_hh_l0[H:2H] = 0", val);
        } else if (!strcmp(k, "--arch")) {
            snprintf(clause, sizeof clause, "%s",
                     !strcmp(val, "lstm")  ? "use nn.LSTM"
                     : !strcmp(val, "gru") ? "use nn.GRU"
                                           : val);
        } else if (!strcmp(k, "--lr")) {
            snprintf(clause, sizeof clause, "set the optimizer's lr to %s", val);
        } else if (!strcmp(k, "--opt")) {
            snprintf(clause, sizeof clause, "torch.optim.%s(model.parameters())",
                     !strcmp(val, "adam")    ? "Adam"
                     : !strcmp(val, "adamw") ? "AdamW"
                                             : val);
        } else if (!strcmp(k, "--norm")) {
            snprintf(clause, sizeof clause, "%s after each linear layer",
                     !strcmp(val, "batch") ? "nn.BatchNorm1d" : "nn.LayerNorm");
        } else if (!strcmp(k, "--residual")) {
            snprintf(clause, sizeof clause, "residual connections (x + block(x))");
        } else if (!strcmp(k, "--res-scale")) {
            snprintf(clause, sizeof clause, "scale each residual branch by %s", val);
        } else if (!strcmp(k, "--standardize") || !strcmp(k, "--input-scale")) {
            snprintf(clause, sizeof clause,
                     "standardize the inputs: x = (x - mean) / std per feature");
        } else if (!strcmp(k, "--bias-init")) {
            snprintf(clause, sizeof clause, "nn.init.zeros_(layer.bias)");
        } else {
            snprintf(clause, sizeof clause, "%s%s%s", k, v ? " " : "", val);
        }
        size_t w = strlen(out);
        if (!strstr(out, clause))
            snprintf(out + w, size - w, "%s%s", w ? "; " : "", clause);
    }
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
    c.S = c.S_all = gs_trace_n_steps(trace);
    c.L = gs_trace_n_layers(trace);
    c.out = out;
    c.med_update = DNAN;
    c.dead_idx = c.inputs_idx = -1;
    if (c.S == 0) {
        dg_skip(&c, "all rules: the trace has no recorded steps");
        return GS_OK;
    }
    GsStatus st = dg_read_setup(trace, &c.su, err);
    if (st != GS_OK)
        return st;
    c.depth = infer_depth(&c.su, c.L);
    size_t nbuf = c.S > c.L ? c.S : c.L;
    c.loss = malloc(c.S * sizeof *c.loss);
    c.buf = malloc(nbuf * sizeof *c.buf);
    if (!c.loss || !c.buf) {
        free(c.loss);
        free(c.buf);
        dg_setup_fini(&c.su);
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
    /* The gradient-shape rules judge the steps before the first non-finite one (at least
     * step 0): what a NaN step's numbers say about depth is nothing. */
    size_t S_fin = c.S;
    for (size_t i = 0; i < c.S && S_fin == c.S; i++)
        for (int l = 1; l <= (int)c.L; l++)
            if (dg_step_nonfinite(&c, i, l) || (has_loss && isinf(c.loss[i]))) {
                S_fin = i;
                break;
            }
    if (S_fin == 0)
        S_fin = 1;

    if (gs_trace_has(trace, GS_COL_UPDATE_RATIO)) {
        double *med = malloc(c.L * sizeof *med);
        if (med) {
            c.S = S_fin;
            c.med_update = dg_update_medians(&c, med);
            c.S = c.S_all;
            free(med);
        } else {
            c.oom = 1;
        }
    }

    for (size_t r = 0; r < sizeof rules / sizeof rules[0] && !c.oom; r++) {
        const Rule *ru = &rules[r];
        int missing = -1;
        for (int col = 0; col < GS_COL_COUNT && missing < 0; col++)
            if ((ru->needs & GS_COL_BIT(col)) && !gs_trace_has(trace, (GsCol)col))
                missing = col;
        if (missing >= 0) {
            dg_skip(&c, "%s: no '%s' column", gs_finding_kind_name(ru->kind),
                    gs_trace_col_name((GsCol)missing));
            continue;
        }
        c.S = ru->shape ? S_fin : c.S_all;
        ru->fn(&c);
        c.S = c.S_all;
    }
    if (!c.oom)
        link_causes(&c);
    /* PyTorch users get the change in PyTorch's terms */
    for (size_t i = 0; c.su.ts.torch && i < out->n; i++) {
        char t[256];
        torch_terms(out->items[i].options, t, sizeof t);
        memcpy(out->items[i].options, t, sizeof t);
    }
    free(c.loss);
    free(c.buf);
    dg_setup_fini(&c.su);
    if (c.oom) {
        gs_findings_fini(out);
        return gs_error(err, GS_ERR_NOMEM, "diagnose: out of memory");
    }
    return GS_OK;
}
