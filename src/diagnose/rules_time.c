/* Through-time rules for recurrent nets: vanishing_time and exploding_time read the trace's
 * series (||dL/dh_t|| per recorded step and time step) and the recurrent setup's metadata, and
 * pick the fix the theory says reaches t = 1 (THEORY.md, "Recurrent nets through time"). */
#include "diagnose/rules.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/init.h"
#include "gradscope/rnn.h"
#include "gradscope/spec.h"
#include "gradscope/theory.h"

/* ---- the recurrent setup ------------------------------------------------------------- */

/* A number the recorder wrote (rnn_sigma_max_l0, ...); NaN when absent or not a number. The
 * setup's own keys come from the one setup reader (c->su.ts). */
static double meta_num(const GsTrace *t, const char *key)
{
    const char *s = gs_trace_meta_get(t, key);
    if (!s)
        return DNAN;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE)
        return DNAN;
    while (isspace((unsigned char)*end))
        end++;
    return *end ? DNAN : v;
}

/* What the time rules know about the recurrent setup. */
typedef struct {
    char arch[16];      /* "rnn", "lstm", "gru"; "" unknown */
    char act[16];       /* rnn: "tanh" or "relu" */
    double forget_bias; /* NaN: no constant forget bias (PyTorch's default, or chrono) */
    int chrono;         /* chrono init of the forget biases */
    double sigma_max;   /* rnn_sigma_max_l0 */
    double rho;         /* rnn_spectral_radius_l0 */
    double theory_gain; /* theory_step_gain_l0, else predicted here from cfg */
    double clip_norm;   /* NaN when off or unknown */
    int have_cfg;       /* cfg is complete enough for the theory */
    GsRnnConfig cfg;    /* the setup as a config (layer 0) */
    double input_m2;    /* input_second_moment */
} RnnSetup;

static void read_rnn_setup(const Ctx *c, RnnSetup *r)
{
    const GsTrace *t = c->t;
    const GsTraceSetup *ts = &c->su.ts;
    memset(r, 0, sizeof *r);
    r->forget_bias = DNAN;
    r->sigma_max = meta_num(t, "rnn_sigma_max_l0");
    r->rho = meta_num(t, "rnn_spectral_radius_l0");
    r->theory_gain = meta_num(t, "theory_step_gain_l0");
    r->clip_norm = c->su.clip_norm > 0.0 ? c->su.clip_norm : DNAN;
    r->input_m2 = ts->input_second_moment;
    const GsSpec *sp = &ts->spec;
    if (gs_setup_has(ts, "arch") && gs_arch_is_recurrent(sp->arch)) {
        snprintf(r->arch, sizeof r->arch, "%s", gs_arch_name(sp->arch));
        if (sp->arch == GS_ARCH_RNN)
            snprintf(r->act, sizeof r->act, "%s", sp->act.kind == GS_ACT_RELU ? "relu" : "tanh");
        r->chrono = sp->arch == GS_ARCH_LSTM && sp->forget_mode == GS_FORGET_CHRONO;
        if (sp->arch == GS_ARCH_LSTM && sp->forget_mode == GS_FORGET_CONST)
            r->forget_bias = sp->forget_bias;
        const char *head = gs_trace_meta_get(t, "head");
        int per_step = head && !strcmp(head, "each_step");
        /* the head's width does not enter the theory: 2 outputs suit mse and xent alike */
        r->have_cfg = gs_setup_has(ts, "width") && gs_setup_has(ts, "seq-len") && ts->d_in >= 1 &&
                      isfinite(r->input_m2) &&
                      gs_spec_rnn_config(sp, ts->d_in, 2, per_step, 1, &r->cfg, NULL) == GS_OK;
    } else {
        /* the PyTorch tracer writes the cell ("rnn_tanh", "lstm") and no setup keys */
        const char *cell = gs_trace_meta_get(t, "cell");
        if (cell && !strncmp(cell, "rnn_", 4)) {
            snprintf(r->arch, sizeof r->arch, "rnn");
            snprintf(r->act, sizeof r->act, "%s", cell + 4);
        } else if (cell && (!strcmp(cell, "lstm") || !strcmp(cell, "gru"))) {
            snprintf(r->arch, sizeof r->arch, "%s", cell);
        }
    }
    /* a trace written before the recorder kept the prediction: make it from the setup */
    if (r->have_cfg && !isfinite(r->theory_gain))
        r->theory_gain = gs_theory_rnn_step_gain(&r->cfg, r->input_m2, r->sigma_max, r->rho);
}

/* The predicted ratio ||dL/dh_1|| / ||dL/dh_T|| with an option applied ("--init-hh orthogonal",
 * "--arch lstm --forget-bias 3"); NaN when the theory cannot tell. The candidate's W_hh is new,
 * so its measured spectral radius does not apply. */
static double predict_option(const RnnSetup *r, const char *arch, const char *hh, double fb)
{
    if (!r->have_cfg)
        return DNAN;
    GsRnnConfig c = r->cfg;
    if (arch) {
        if (gs_cell_parse(arch, &c.cell, NULL) != GS_OK)
            return DNAN;
        c.has_forget_bias = 0;
        c.chrono = 0;
    }
    if (hh && gs_hh_init_parse(hh, &c.init_hh, NULL) != GS_OK)
        return DNAN;
    if (isfinite(fb)) {
        c.has_forget_bias = 1;
        c.forget_bias = fb;
        c.chrono = 0;
    }
    c.bptt = 0;
    c.head = GS_RNN_HEAD_LAST;
    GsRnnPrediction p;
    if (gs_theory_rnn_predict(&c, r->input_m2, DNAN, &p, NULL) != GS_OK)
        return DNAN;
    return p.ratio;
}

/* ---- the series ---------------------------------------------------------------------- */

/* One recorded step of one series: the end-to-end ratio, the fitted per-step factor and the
 * memory horizon. */
typedef struct {
    size_t T;
    double ratio;   /* g_1 / g_T; NaN when g_T is not positive and finite */
    double decay;   /* exp(-slope) of the least-squares fit of log g_t on t (positive g only):
                       the per-step factor going back (< 1 vanishing, > 1 exploding) */
    double horizon; /* steps back from T until g_t < 1e-3 g_T (the last such t); +Inf never */
    int nonfinite;  /* some g_t is NaN/Inf (data) */
} TimeStat;

static TimeStat time_stat(const GsTrace *t, size_t i, size_t k)
{
    TimeStat s = {gs_trace_series_len(t, i, k), DNAN, DNAN, HUGE_VAL, 0};
    if (s.T < 2)
        return s;
    double gT = gs_trace_series_get(t, i, k, GS_TCOL_H_GRAD_NORM, s.T);
    double g1 = gs_trace_series_get(t, i, k, GS_TCOL_H_GRAD_NORM, 1);
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    size_t n = 0;
    for (size_t u = 1; u <= s.T; u++) {
        double g = gs_trace_series_get(t, i, k, GS_TCOL_H_GRAD_NORM, u);
        if (gs_trace_is_missing(g))
            continue;
        if (!isfinite(g)) {
            s.nonfinite = 1;
            continue;
        }
        if (g > 0.0) {
            double x = (double)u, y = log(g);
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
            n++;
        }
    }
    if (isfinite(gT) && gT > 0.0) {
        for (size_t u = s.T - 1; u >= 1; u--) {
            double g = gs_trace_series_get(t, i, k, GS_TCOL_H_GRAD_NORM, u);
            if (isfinite(g) && g < GS_THEORY_HORIZON_LEVEL * gT) {
                s.horizon = (double)(s.T - u) - 1.0; /* steps back that stay above */
                break;
            }
        }
        if (isfinite(g1))
            s.ratio = g1 / gT;
    }
    double den = (double)n * sxx - sx * sx;
    if (n >= 2 && den > 0.0)
        s.decay = exp(-((double)n * sxy - sx * sy) / den);
    return s;
}

/* Statistics of series k: step 0's, and the median over recorded steps of ratio and decay. */
typedef struct {
    int have;
    TimeStat s0;      /* first recorded step with data */
    double med_ratio; /* median over recorded steps */
    double med_decay;
    double med_horizon;
    long step_first_bad, step_last_bad; /* steps where the ratio is past thr (dir) */
    size_t n_bad;                       /* recorded steps past thr */
    TimeStat peak;                      /* the step furthest past thr (dir) */
    long peak_step;
    int any_nonfinite;
    long nonfinite_step;
} SeriesSummary;

static SeriesSummary summarize(Ctx *c, size_t k, double thr, int below)
{
    SeriesSummary m;
    memset(&m, 0, sizeof m);
    m.step_first_bad = m.step_last_bad = m.nonfinite_step = m.peak_step = -1;
    /* c->S: for vanishing the steps before the first non-finite one (a shape rule) */
    double *r = malloc(3 * (c->S + 1) * sizeof *r);
    if (!r) {
        c->oom = 1;
        return m;
    }
    double *d = r + c->S, *h = d + c->S;
    size_t n = 0;
    for (size_t i = 0; i < c->S; i++) {
        TimeStat s = time_stat(c->t, i, k);
        if (s.T < 2)
            continue;
        if (!m.have) {
            m.have = 1;
            m.s0 = s;
        }
        if (s.nonfinite && !m.any_nonfinite) {
            m.any_nonfinite = 1;
            m.nonfinite_step = gs_trace_step(c->t, i);
        }
        r[n] = s.ratio;
        d[n] = s.decay;
        h[n] = s.horizon;
        n++;
        if (isfinite(s.ratio) && (below ? s.ratio < thr : s.ratio > thr)) {
            if (m.step_first_bad < 0)
                m.step_first_bad = gs_trace_step(c->t, i);
            m.step_last_bad = gs_trace_step(c->t, i);
            m.n_bad++;
            if (m.peak_step < 0 || (below ? s.ratio < m.peak.ratio : s.ratio > m.peak.ratio)) {
                m.peak = s;
                m.peak_step = gs_trace_step(c->t, i);
            }
        }
    }
    m.med_ratio = dg_median_finite(r, n);
    m.med_decay = dg_median_finite(d, n);
    /* +Inf horizons are data here (never below the level): median over all of them */
    size_t nh = 0;
    for (size_t j = 0; j < n; j++)
        if (!isnan(h[j]))
            h[nh++] = h[j];
    if (nh) {
        qsort(h, nh, sizeof *h, dg_cmp_double);
        m.med_horizon = h[nh / 2];
    } else {
        m.med_horizon = DNAN;
    }
    free(r);
    return m;
}

/* 1-based trace layer of the tensor named name, 0 when absent. */
static int layer_named(const Ctx *c, const char *name)
{
    for (size_t l = 0; l < c->L; l++) {
        const char *n = gs_trace_layer_name(c->t, l);
        if (n && !strcmp(n, name))
            return (int)l + 1;
    }
    return 0;
}

/* The series the rules judge: "rnn.h_l0" when present (the layer the theory predicts), else
 * the first one; -1 when the trace has no ||dL/dh_t|| series. */
static long pick_series(const Ctx *c)
{
    size_t n = gs_trace_n_series(c->t);
    if (n == 0 || !gs_trace_series_has(c->t, GS_TCOL_H_GRAD_NORM))
        return -1;
    /* gradscope's name, then a PyTorch module's layer 0 ("encoder.h_l0"), then the first */
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < n; k++) {
            const char *nm = gs_trace_series_name(c->t, k);
            size_t len = nm ? strlen(nm) : 0;
            if (pass == 0 ? nm && !strcmp(nm, "rnn.h_l0")
                          : len >= 4 && !strcmp(nm + len - 4, "h_l0"))
                return (long)k;
        }
    return 0;
}

/* Trace layer range of the recurrent weight feeding series k ("rnn.h_l{j}" ->
 * "rnn.weight_hh_l{j}", "enc.h_l1" -> "enc.weight_hh_l1"), else every layer. */
static void series_layers(const Ctx *c, size_t k, GsFinding *f)
{
    const char *nm = gs_trace_series_name(c->t, k);
    const char *h = nm ? strstr(nm, "h_l") : NULL;
    int l = 0;
    if (h && (h == nm || h[-1] == '.')) {
        char w[160];
        snprintf(w, sizeof w, "%.*sweight_hh_l%s", (int)(h - nm), nm, h + 3);
        l = layer_named(c, w);
    }
    f->layer_first = l ? l : 1;
    f->layer_last = l ? l : (int)c->L;
}

/* ---- vanishing through time ------------------------------------------------------------ */

/* A fix: option text and the ratio the theory predicts for it. */
typedef struct {
    const char *opts, *arch, *hh;
    double fb;
} Cand;

/* The first candidate whose predicted ratio is above thr (the gradient reaches t = 1);
 * *pred receives its prediction. NULL when none does or the theory cannot tell. */
static const Cand *first_reaching(const RnnSetup *r, const Cand *cand, size_t n, double thr,
                                  double *pred)
{
    for (size_t i = 0; i < n; i++) {
        double p = predict_option(r, cand[i].arch, cand[i].hh, cand[i].fb);
        if (isfinite(p) && p >= thr) {
            *pred = p;
            return &cand[i];
        }
    }
    return NULL;
}

static void vanish_time_fix(const Ctx *c, const RnnSetup *r, size_t T, GsFinding *f, char *why,
                            size_t wsize)
{
    const double thr = c->th->vanish_ratio;
    char b1[24], b2[24];
    static const Cand rnn_tanh[] = {
        {"--init-hh orthogonal", NULL, "orthogonal", DNAN},
        {"--arch lstm --forget-bias 1", "lstm", NULL, 1.0},
        {"--arch lstm --forget-bias 3", "lstm", NULL, 3.0},
        {"--arch gru --init-hh orthogonal", "gru", "orthogonal", DNAN},
    };
    static const Cand rnn_relu[] = {
        {"--init-hh identity", NULL, "identity", DNAN},
        {"--init-hh orthogonal", NULL, "orthogonal", DNAN},
        {"--arch lstm --forget-bias 3", "lstm", NULL, 3.0},
    };
    static const Cand lstm[] = {
        {"--forget-bias 1", NULL, NULL, 1.0},
        {"--forget-bias 3", NULL, NULL, 3.0},
        {"--forget-bias 3 --init-hh orthogonal", NULL, "orthogonal", 3.0},
    };
    static const Cand gru[] = {
        {"--init-hh orthogonal", NULL, "orthogonal", DNAN},
        {"--arch lstm --forget-bias 3", "lstm", NULL, 3.0},
    };
    const Cand *list = NULL;
    size_t n = 0;
    int is_lstm = !strcmp(r->arch, "lstm"), is_gru = !strcmp(r->arch, "gru");
    if (is_lstm) {
        /* an open gate already: only a larger bias or another W_hh can help */
        size_t skip = r->forget_bias >= 3.0 ? 2 : r->forget_bias >= 1.0 ? 1 : 0;
        list = lstm + skip;
        n = 3 - skip;
    } else if (is_gru) {
        list = gru;
        n = 2;
    } else if (!strcmp(r->act, "relu")) {
        list = rnn_relu;
        n = 3;
    } else {
        list = rnn_tanh;
        n = 4;
    }
    double pred = DNAN;
    const Cand *pick = first_reaching(r, list, n, thr, &pred);

    if (is_lstm && !(r->forget_bias >= 1.0) && !r->chrono)
        dg_set_text(why, wsize,
                    "the forget gate starts near sigmoid(0) = 0.5 (no forget bias), so the cell "
                    "state keeps about half of its gradient per step on the cell path");
    else if (is_lstm)
        dg_set_text(why, wsize,
                    "even with the forget gate open (bias %s) the sequence is longer "
                    "than the cell remembers",
                    r->chrono ? "chrono" : dg_fmt(b1, r->forget_bias));
    else if (is_gru)
        dg_set_text(why, wsize,
                    "the update gate starts near 0.5, so the state keeps about half "
                    "of its gradient per step");
    else if (isfinite(r->sigma_max))
        dg_set_text(why, wsize,
                    "each step back multiplies the gradient by W_hh^T diag(phi'), and W_hh "
                    "(sigma_max %s, spectral radius %s) shrinks it: Bengio et al. 1994",
                    dg_fmt(b1, r->sigma_max), dg_fmt(b2, r->rho));
    else
        dg_set_text(why, wsize,
                    "each step back multiplies the gradient by W_hh^T diag(phi'), "
                    "which shrinks it (Bengio et al. 1994)");

    if (pick) {
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "%s: the theory predicts ||dL/dh_1||/||dL/dh_T|| = %s at initialization.",
                    pick->arch                      ? "Use a gated cell with an open gate"
                    : isfinite(pick->fb)            ? "Open the forget gate"
                    : !strcmp(pick->hh, "identity") ? "Initialize W_hh as the identity (IRNN)"
                                                    : "Initialize W_hh orthogonal",
                    dg_fmt(b1, pred));
        dg_set_text(f->options, sizeof f->options, "%s", pick->opts);
        dg_add_ev(f, "fix_predicted_ratio", pred);
        return;
    }
    if (r->have_cfg) {
        /* the theory knows the setup and no candidate reaches t = 1: say so, name the best */
        dg_set_text(f->suggestion, sizeof f->suggestion,
                    "No single change the theory knows reaches t = 1 at this length; shorten "
                    "the dependency or use truncated BPTT deliberately.");
        f->options[0] = '\0';
        return;
    }
    /* without the theory: the standard cures by arch */
    /* THEORY.md at H 64: forget bias 1 keeps 1e-3 for about 36 steps, 3 for about 270 */
    const char *o = is_lstm
                        ? (r->forget_bias >= 1.0 || T > 30 ? "--forget-bias 3" : "--forget-bias 1")
                    : is_gru || strcmp(r->act, "relu") ? "--init-hh orthogonal"
                                                       : "--init-hh identity";
    dg_set_text(f->suggestion, sizeof f->suggestion, "%s",
                is_lstm ? "Open the forget gate." : "Use a norm-preserving recurrent init.");
    dg_set_text(f->options, sizeof f->options, "%s", o);
}

void rule_vanishing_time(Ctx *c)
{
    long k = pick_series(c);
    if (k < 0)
        return; /* not a recurrent trace: nothing to say (MLP traces stay as they were) */
    const double thr = c->th->vanish_ratio;
    SeriesSummary m = summarize(c, (size_t)k, thr, 1);
    if (c->oom || !m.have)
        return;
    int step0 = isfinite(m.s0.ratio) && m.s0.ratio < thr;
    int run = isfinite(m.med_ratio) && m.med_ratio < thr;
    if (!step0 && !run)
        return;
    RnnSetup r;
    read_rnn_setup(c, &r);
    GsFinding *f = dg_new_finding(c, GS_FIND_VANISHING_TIME, GS_SEV_WARNING);
    if (!f)
        return;
    c->onset_init[GS_FIND_VANISHING_TIME] = step0;
    double ratio = step0 ? m.s0.ratio : m.med_ratio;
    double decay = step0 ? m.s0.decay : m.med_decay;
    double hor = step0 ? m.s0.horizon : m.med_horizon;
    size_t T = m.s0.T;
    if (ratio < thr * thr)
        f->severity = GS_SEV_ERROR;
    series_layers(c, (size_t)k, f);
    f->step_first = step0 ? gs_trace_step(c->t, 0) : m.step_first_bad;
    f->step_last = m.step_last_bad >= 0 ? m.step_last_bad : f->step_first;
    dg_add_ev(f, "ratio_h1_hT", ratio);
    dg_add_ev(f, "threshold", thr);
    dg_add_ev(f, "decay_per_step", decay);
    dg_add_ev(f, "memory_horizon", hor);
    dg_add_ev(f, "seq_len", (double)T);
    dg_add_ev(f, "sigma_max_hh", r.sigma_max);
    dg_add_ev(f, "theory_step_gain", r.theory_gain);

    char why[384], b1[24], b2[24], b3[24], when[64];
    if (step0 || !isfinite(m.s0.ratio)) {
        vanish_time_fix(c, &r, T, f, why, sizeof why);
    } else {
        /* healthy at step 0: the init was fine, training closed the path */
        dg_set_text(why, sizeof why,
                    "at step %ld the gradient still reached t = 1 (ratio %s), so training did "
                    "this",
                    gs_trace_step(c->t, 0), dg_fmt(b1, m.s0.ratio));
        if (isfinite(c->su.lr)) {
            dg_set_text(f->suggestion, sizeof f->suggestion, "Lower the learning rate tenfold.");
            dg_lr_option(f->options, sizeof f->options, &c->su, 0.1);
        }
    }
    const char *nm = gs_trace_series_name(c->t, (size_t)k);
    char theory[96] = "";
    if (isfinite(r.theory_gain))
        snprintf(theory, sizeof theory, " (theory at init: %s)", dg_fmt(b3, r.theory_gain));
    /* a net that learned the task anyway (final loss under a tenth of the baseline) may not
     * need the early steps: said, at info */
    double fin = gs_diagnose_final_loss(c->t, NULL), base = c->su.ts.baseline_loss;
    int learned = isfinite(fin) && isfinite(base) && base > 0.0 && fin < 0.1 * base;
    if (learned) {
        f->severity = GS_SEV_INFO;
        size_t w = strlen(why);
        snprintf(why + w, sizeof why - w,
                 "; yet the loss fell to %s of the baseline: the task may not need the early "
                 "steps",
                 dg_fmt(b1, fin / base));
    }
    dg_set_text(f->message, sizeof f->message,
                "Gradients vanish through time in %s: ||dL/dh_1|| is %s of ||dL/dh_%zu|| %s, a "
                "factor of %s per step back%s; they stay above 1e-3 of their value at t = %zu for "
                "only %s of %zu steps back, so the early inputs barely train - %s.",
                nm ? nm : "the recurrent layer", dg_fmt(b1, ratio), T,
                dg_fmt_when(when, sizeof when, c, step0, thr), dg_fmt(b2, decay), theory, T,
                isfinite(hor) ? dg_fmt(b3, hor) : "all", T - 1, why);
}

/* ---- exploding through time ------------------------------------------------------------ */

void rule_exploding_time(Ctx *c)
{
    long k = pick_series(c);
    if (k < 0)
        return;
    const double thr = c->th->explode_ratio;
    SeriesSummary m = summarize(c, (size_t)k, thr, 0);
    if (c->oom || !m.have)
        return;
    int step0 = isfinite(m.s0.ratio) && m.s0.ratio > thr;
    int run = isfinite(m.med_ratio) && m.med_ratio > thr;
    /* a burst: past the threshold at two or more recorded steps, e.g. when training pushed
     * W_hh past spectral radius 1 for a while (one step alone could be noise) */
    int burst = !step0 && !run && m.n_bad >= 2;
    if (!step0 && !run && !burst && !m.any_nonfinite)
        return;
    RnnSetup r;
    read_rnn_setup(c, &r);
    int clipped = isfinite(r.clip_norm) && gs_trace_clipping_acted(c->t);
    GsFinding *f =
        dg_new_finding(c, GS_FIND_EXPLODING_TIME, clipped ? GS_SEV_INFO : GS_SEV_WARNING);
    if (!f)
        return;
    c->onset_init[GS_FIND_EXPLODING_TIME] =
        step0 || (m.any_nonfinite && m.nonfinite_step == gs_trace_step(c->t, 0));
    double ratio = burst ? m.peak.ratio : step0 || !run ? m.s0.ratio : m.med_ratio;
    double decay = burst ? m.peak.decay : step0 || !run ? m.s0.decay : m.med_decay;
    size_t T = burst ? m.peak.T : m.s0.T;
    if (!clipped && (m.any_nonfinite || ratio > thr * thr))
        f->severity = GS_SEV_ERROR;
    series_layers(c, (size_t)k, f);
    f->step_first = step0                   ? gs_trace_step(c->t, 0)
                    : m.step_first_bad >= 0 ? m.step_first_bad
                                            : m.nonfinite_step;
    f->step_last = m.step_last_bad >= 0 ? m.step_last_bad : f->step_first;
    dg_add_ev(f, "ratio_h1_hT", ratio);
    dg_add_ev(f, "threshold", thr);
    dg_add_ev(f, "growth_per_step", decay);
    dg_add_ev(f, "seq_len", (double)T);
    dg_add_ev(f, "sigma_max_hh", r.sigma_max);
    dg_add_ev(f, "theory_step_gain", r.theory_gain);
    dg_add_ev(f, "clip_norm", r.clip_norm);

    char b1[24], b2[24], b3[24], when[64], what[256];
    const char *nm = gs_trace_series_name(c->t, (size_t)k);
    if (burst)
        snprintf(what, sizeof what,
                 "||dL/dh_1|| reached %s times ||dL/dh_%zu|| at step %ld (threshold %s; past it "
                 "at %zu recorded steps from step %ld), a factor of %s per step back",
                 dg_fmt(b1, ratio), T, m.peak_step, dg_fmt(b3, thr), m.n_bad, m.step_first_bad,
                 dg_fmt(b2, decay));
    else if (isfinite(ratio) && (step0 || run))
        snprintf(what, sizeof what,
                 "||dL/dh_1|| is %s times ||dL/dh_%zu|| %s, a factor of %s "
                 "per step back",
                 dg_fmt(b1, ratio), T, dg_fmt_when(when, sizeof when, c, step0, thr),
                 dg_fmt(b2, decay));
    else
        snprintf(what, sizeof what, "||dL/dh_t|| is NaN/Inf from step %ld", m.nonfinite_step);
    char why[160];
    if (isfinite(r.sigma_max) && r.sigma_max > 1.0)
        snprintf(why, sizeof why,
                 "W_hh has sigma_max %s > 1, so products of its Jacobians can "
                 "grow (Pascanu et al. 2013)",
                 dg_fmt(b3, r.sigma_max));
    else
        snprintf(why, sizeof why, "products of the per-step Jacobians grow (Pascanu et al. 2013)");
    if (clipped) {
        dg_set_text(f->message, sizeof f->message,
                    "Gradients explode through time in %s: %s - %s; clipping (--clip-norm %g) "
                    "acted and bounded the updates, Pascanu's cure.",
                    nm ? nm : "the recurrent layer", what, why, r.clip_norm);
        f->suggestion[0] = '\0';
        f->options[0] = '\0';
        return;
    }
    dg_set_text(f->message, sizeof f->message, "Gradients explode through time in %s: %s - %s.",
                nm ? nm : "the recurrent layer", what, why);
    dg_set_text(f->suggestion, sizeof f->suggestion,
                "Clip the global gradient norm (Pascanu et al. 2013).");
    dg_set_text(f->options, sizeof f->options, "--clip-norm 1");
}
