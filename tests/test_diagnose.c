/* Tests of the diagnosis rules on synthetic traces built for each rule, of silence on
 * healthy traces, of threshold overrides, sorting, and of the JSON output. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diagnose/rules.h"
#include "gradscope/diagnose.h"
#include "gradscope/hist.h"
#include "gradscope/rnn.h"
#include "gradscope/theory.h"
#include "runner.h"

/* ---- synthetic traces ----------------------------------------------------------------- */

/* Knobs of one synthetic run; a test starts from syn_default and changes what it needs. */
typedef struct {
    int depth;              /* hidden layers; the trace has depth+1 layers */
    size_t steps;           /* recorded steps */
    long every;             /* training steps between records */
    uint64_t cols;          /* stored columns */
    double grad;            /* grad_norm of layer depth at step 0 */
    double decay;           /* grad_norm(l) / grad_norm(l+1) for hidden layers */
    double act_decay;       /* same for act_grad_norm */
    double growth_tau;      /* grads multiply by exp(step / tau); 0 = constant */
    double noise;           /* multiplicative noise amplitude (log scale) */
    double loss0, loss_end; /* loss decays exponentially from loss0 toward loss_end */
    double update;          /* update ratio of every layer */
    double update_step0;    /* update ratio at step 0 (Adam's first steps) */
    double saturation, dead;
    unsigned hist; /* histogram kinds stored (filled by the test), 0 none */
    double hist_a; /* their activation range */
    uint64_t seed;
} Syn;

static Syn syn_default(void)
{
    Syn s = {
        .depth = 4,
        .steps = 100,
        .every = 10,
        .cols = GS_COL_ALL,
        .grad = 0.1,
        .decay = 1.0,
        .act_decay = 1.0,
        .growth_tau = 0.0,
        .noise = 0.0,
        .loss0 = 2.0,
        .loss_end = 0.2,
        .update = 1e-3,
        .update_step0 = 1e-3,
        .saturation = 0.05,
        .dead = 0.02,
        .seed = 1,
    };
    return s;
}

/* Deterministic uniform in [-1, 1] (xorshift). */
static double unif(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return (double)(*st >> 11) / (double)(UINT64_C(1) << 53) * 2.0 - 1.0;
}

/* Optional per-cell override after the default fill: (recorded index, step, layer, cell). */
typedef void (*Tweak)(size_t i, long step, int layer, double *cell, const void *arg);

static GsTrace *build(const Syn *s, Tweak tweak, const void *arg)
{
    GsTrace *t = NULL;
    size_t L = (size_t)s->depth + 1;
    ck_assert_int_eq(gs_trace_create(L, s->cols, &t), GS_OK);
    if (s->hist)
        ck_assert_int_eq(gs_trace_hist_enable(t, s->hist, s->hist_a), GS_OK);
    uint64_t st = s->seed * 0x9E3779B97F4A7C15u + 1;
    for (size_t i = 0; i < s->steps; i++) {
        long step = (long)i * s->every;
        double *row = NULL;
        ck_assert_int_eq(gs_trace_add_step(t, step, &row), GS_OK);
        double tau = (double)(s->steps * (size_t)s->every) / 5.0;
        double loss = s->loss_end + (s->loss0 - s->loss_end) * exp(-(double)step / tau);
        loss *= exp(0.2 * s->noise * unif(&st));
        double grow = s->growth_tau > 0 ? exp((double)step / s->growth_tau) : 1.0;
        for (int l = 1; l <= (int)L; l++) {
            double *c = row + (size_t)(l - 1) * GS_COL_COUNT;
            int hidden = l <= s->depth ? s->depth - l : 0;
            double g = s->grad * pow(s->decay, hidden) * grow * exp(s->noise * unif(&st));
            if (l == (int)L)
                g = 2.0 * s->grad * grow;
            double a = s->grad * pow(s->act_decay, hidden) * grow * exp(s->noise * unif(&st));
            c[GS_COL_LOSS] = loss;
            c[GS_COL_LR] = 0.01;
            c[GS_COL_GRAD_NORM] = g;
            c[GS_COL_BIAS_GRAD_NORM] = 0.3 * g;
            c[GS_COL_ACT_GRAD_NORM] = a;
            c[GS_COL_GRAD_MAX_ABS] = 0.05 * g;
            c[GS_COL_WEIGHT_NORM] = 5.0;
            c[GS_COL_UPDATE_RATIO] =
                (i == 0 ? s->update_step0 : s->update) * exp(s->noise * unif(&st));
            c[GS_COL_ACT_MEAN] = 0.0;
            c[GS_COL_ACT_STD] = 0.5;
            c[GS_COL_SATURATION] = l == (int)L ? 0.0 : s->saturation;
            c[GS_COL_DEAD_FRAC] = l == (int)L ? 0.0 : s->dead;
            c[GS_COL_NONFINITE] = 0.0;
            c[GS_COL_GLOBAL_NORM] = g;
            c[GS_COL_GLOBAL_NORM_POST] = g;
            c[GS_COL_CLIPPED] = 0.0;
            if (tweak)
                tweak(i, step, l, c, arg);
        }
        gs_trace_commit_step(t);
    }
    for (int col = 0; col < GS_COL_COUNT; col++)
        if (s->cols & GS_COL_BIT(col))
            gs_trace_set_has(t, (GsCol)col, 1);
    return t;
}

static void meta(GsTrace *t, const char *key, const char *value)
{
    ck_assert_int_eq(gs_trace_meta_set(t, key, value), GS_OK);
}

/* Engine-like metadata for a setup. */
static void setup_meta(GsTrace *t, int depth, const char *act, const char *init, const char *lr)
{
    char d[16];
    snprintf(d, sizeof d, "%d", depth);
    meta(t, "depth", d);
    meta(t, "width", "64");
    meta(t, "act", act);
    meta(t, "init", init);
    meta(t, "norm", "none");
    meta(t, "residual", "0");
    meta(t, "opt", "sgd");
    meta(t, "lr", lr);
    meta(t, "clip_norm", "0");
    meta(t, "data", "spiral");
    meta(t, "standardize", "1");
    meta(t, "input_scale", "1");
    /* the input shape the engine records, which the theory needs (spiral's) */
    meta(t, "data_inputs", "2");
    meta(t, "input_second_moment", "0.27");
}

static GsFindings run(const GsTrace *t, const GsThresholds *th)
{
    GsThresholds def;
    gs_thresholds_default(&def);
    GsFindings f;
    GsError err = {""};
    ck_assert_int_eq(gs_diagnose(t, th ? th : &def, &f, &err), GS_OK);
    return f;
}

static const GsFinding *find(const GsFindings *f, GsFindingKind kind)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->items[i].kind == kind)
            return &f->items[i];
    return NULL;
}

static double ev(const GsFinding *f, const char *key)
{
    for (size_t i = 0; i < f->n_evidence; i++)
        if (strcmp(f->evidence[i].key, key) == 0)
            return f->evidence[i].value;
    ck_abort_msg("evidence '%s' missing from %s", key, gs_finding_kind_name(f->kind));
    return NAN;
}

static void assert_close(double got, double want, double rel)
{
    ck_assert_msg(fabs(got - want) <= rel * fabs(want), "got %.9g, want %.9g", got, want);
}

/* The causal order of docs/DESIGN.md, written out independently of the library's table. */
static int causal_rank(GsFindingKind k)
{
    static const GsFindingKind order[] = {
        GS_FIND_NONFINITE,        GS_FIND_INPUTS_UNSCALED, GS_FIND_EXPLODING_TIME,
        GS_FIND_VANISHING_TIME,   GS_FIND_EXPLODING,       GS_FIND_VANISHING,
        GS_FIND_DEAD_UNITS,       GS_FIND_SATURATION,      GS_FIND_UPDATE_TOO_LARGE,
        GS_FIND_UPDATE_TOO_SMALL, GS_FIND_LOSS_DIVERGING,  GS_FIND_LOSS_STALLED,
        GS_FIND_NOT_LEARNING,     GS_FIND_FROZEN};
    for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
        if (order[i] == k)
            return i;
    return 99;
}

/* Every finding has a message, a range that makes sense, and a known kind. */
static void assert_well_formed(const GsFindings *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const GsFinding *x = &f->items[i];
        ck_assert_msg(strlen(x->message) > 20, "empty message for %s",
                      gs_finding_kind_name(x->kind));
        ck_assert_int_ge(x->layer_first, 1);
        ck_assert_int_ge(x->layer_last, x->layer_first);
        ck_assert_int_ge(x->step_last, x->step_first);
        ck_assert_int_ge(x->step_first, 0);
        ck_assert(x->n_evidence >= 2 && x->n_evidence <= GS_MAX_EVIDENCE);
        /* exactly one primary, listed first; the rest in causal order */
        ck_assert_int_eq(x->primary, i == 0);
        ck_assert(x->explained_by < (int)f->n);
        if (x->explained_by >= 0) {
            ck_assert_int_ne(x->explained_by, (int)i);
            ck_assert_str_eq(x->options, f->items[x->explained_by].options);
        }
        if (i > 1)
            ck_assert_int_le(causal_rank(f->items[i - 1].kind), causal_rank(x->kind));
    }
}

/* No findings at all, else fail naming the first. */
static void assert_silent(const GsTrace *t)
{
    GsFindings f = run(t, NULL);
    ck_assert_msg(f.n == 0, "healthy trace gave %zu findings, first %s: %s", f.n,
                  f.n ? gs_finding_kind_name(f.items[0].kind) : "", f.n ? f.items[0].message : "");
    gs_findings_fini(&f);
}

/* ---- healthy traces stay silent -------------------------------------------------------- */

/* The diagnosis's median (a selection, not a sort) equals the median of the sorted finite
 * values bit for bit, on random, sorted, reversed, constant, organ-pipe and few-valued
 * inputs with NaN/Inf mixed in, lengths 0..300 and one long input. */
static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(test_median_select)
{
    enum { NMAX = 100003 };
    double *v = malloc(NMAX * sizeof *v), *w = malloc(NMAX * sizeof *w);
    ck_assert(v && w);
    uint64_t x = 99;
    for (int pattern = 0; pattern < 6; pattern++)
        for (size_t n = 0; n <= NMAX; n = n < 300 ? n + 1 : (n == 300 ? NMAX : NMAX + 1)) {
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                double r = (double)(x >> 11) * 0x1p-53;
                switch (pattern) {
                case 0: v[i] = r - 0.5; break;
                case 1: v[i] = (double)i; break;
                case 2: v[i] = -(double)i; break;
                case 3: v[i] = 2.5; break;
                case 4: v[i] = (double)(i < n / 2 ? i : n - i); break;
                default: v[i] = (double)(x % 3); break;
                }
                if (x % 11 == 0)
                    v[i] = x % 2 ? NAN : -INFINITY;
            }
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (isfinite(v[i]))
                    w[m++] = v[i];
            qsort(w, m, sizeof *w, cmp_d);
            double want = m == 0 ? NAN : (m % 2 ? w[m / 2] : 0.5 * (w[m / 2 - 1] + w[m / 2]));
            double got = dg_median_finite(v, n);
            ck_assert_msg(memcmp(&got, &want, sizeof got) == 0 || (isnan(got) && isnan(want)),
                          "pattern %d n %zu: %.17g != %.17g", pattern, n, got, want);
        }
    free(v);
    free(w);
}
END_TEST

/* The smoothed best loss of not_learning: the O(n) blocked windows agree with summing each
 * window afresh, for every window length (1, n, around the block edges), NaN/Inf entries
 * (skipped, and windows with half or fewer finite entries left out) and a huge spike, which
 * must not leak into the windows after it. */
START_TEST(test_best_window_mean)
{
    enum { N = 157 };
    double v[N];
    uint64_t x = 12345;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        v[i] = 0.5 + (double)(x >> 11) * 0x1p-53;
        if (x % 7 == 0)
            v[i] = x % 2 ? NAN : INFINITY;
    }
    v[40] = 1e300;
    for (size_t n = 1; n <= N; n += 13)
        for (size_t w = 1; w <= n + 1; w += (w < 12 ? 1 : 7)) {
            double want = INFINITY;
            for (size_t i = 0; i + w <= n; i++) {
                double s = 0;
                size_t m = 0;
                for (size_t j = i; j < i + w; j++)
                    if (isfinite(v[j])) {
                        s += v[j];
                        m++;
                    }
                if (m * 2 > w && s / (double)m < want)
                    want = s / (double)m;
            }
            double got;
            ck_assert(dg_best_window_mean(v, n, w, &got));
            if (isinf(want))
                ck_assert_msg(isinf(got), "n %zu w %zu: %g", n, w, got);
            else
                ck_assert_msg(fabs(got - want) <= 1e-13 * want, "n %zu w %zu: %.17g != %.17g", n, w,
                              got, want);
        }
}
END_TEST

START_TEST(healthy_flat)
{
    Syn s = syn_default();
    s.depth = 10;
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 10, "relu", "he_normal", "0.01");
    assert_silent(t);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(healthy_mild_decay)
{
    Syn s = syn_default();
    s.decay = s.act_decay = 0.8;
    s.saturation = 0.3;
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "tanh", "xavier_normal", "0.01");
    assert_silent(t);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(healthy_noisy)
{
    Syn s = syn_default();
    s.depth = 6;
    s.noise = 1.0; /* factors up to e^±1 on every cell */
    s.steps = 200;
    s.dead = 0.3;
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 6, "relu", "he_normal", "0.01");
    assert_silent(t);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(healthy_adam)
{
    Syn s = syn_default();
    s.update_step0 = 5e-2; /* Adam's first step is ~lr/|w| per entry */
    s.update = 1e-3;
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.001");
    meta(t, "opt", "adam");
    assert_silent(t);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(healthy_residual_bn)
{
    Syn s = syn_default();
    s.depth = 12;
    s.decay = s.act_decay = 1.2; /* BN+residual: mild growth toward the input, x7 overall */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 12, "relu", "he_normal", "0.01");
    meta(t, "norm", "batch");
    meta(t, "residual", "2");
    assert_silent(t);
    gs_trace_destroy(t);
}
END_TEST

/* SkipInit (alpha 0): branch layers have exactly zero gradient at step 0. Not a finding. */
static void zero_branch(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)step, (void)arg;
    if (i == 0 && layer >= 2 && layer <= 4) {
        c[GS_COL_GRAD_NORM] = 0.0;
        c[GS_COL_GRAD_MAX_ABS] = 0.0;
    }
}

START_TEST(healthy_skipinit)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, zero_branch, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    meta(t, "residual", "1");
    meta(t, "res_scale", "0");
    assert_silent(t);
    gs_trace_destroy(t);
}
END_TEST

/* ---- vanishing ------------------------------------------------------------------------ */

START_TEST(vanishing_sigmoid)
{
    Syn s = syn_default();
    s.depth = 10;
    s.decay = s.act_decay = 0.4; /* 0.4^9 = 2.6e-4 */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 10, "sigmoid", "xavier_normal", "0.01");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *v = find(&f, GS_FIND_VANISHING);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->severity, GS_SEV_WARNING);
    ck_assert_int_eq(v->layer_first, 1);
    ck_assert_int_eq(v->layer_last, 2); /* 0.4^8 = 6.6e-4 < 1e-3, 0.4^7 = 1.6e-3 is not */
    ck_assert_int_eq(v->step_first, 0);
    ck_assert_int_eq(v->step_last, 990);
    assert_close(ev(v, "ratio_first_last"), pow(0.4, 9), 1e-9);
    assert_close(ev(v, "decay_per_layer"), 0.4, 1e-9);
    assert_close(ev(v, "threshold"), 1e-3, 0);
    ck_assert_str_eq(v->options, "--act relu --init he_normal");
    ck_assert_ptr_nonnull(strstr(v->message, "sigmoid"));
    ck_assert_ptr_nonnull(strstr(v->message, "0.25"));
    ck_assert_ptr_null(find(&f, GS_FIND_EXPLODING));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* ReLU + Xavier: weight gradients flat, activation gradients vanish (THEORY.md). */
START_TEST(vanishing_relu_xavier_act_grad)
{
    Syn s = syn_default();
    s.depth = 30;
    s.act_decay = sqrt(0.5); /* norm factor per layer, chi = 1/2 */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 30, "relu", "xavier_normal", "0.01");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *v = find(&f, GS_FIND_VANISHING);
    ck_assert_ptr_nonnull(v);
    assert_close(ev(v, "ratio_first_last"), pow(0.5, 14.5), 1e-9);
    assert_close(ev(v, "decay_per_layer"), sqrt(0.5), 1e-9);
    assert_close(ev(v, "grad_ratio_step0"), 1.0, 1e-9);
    ck_assert_ptr_nonnull(strstr(v->message, "activation gradient"));
    ck_assert_str_eq(v->options, "--init he_normal");
    /* 0.707^(30-l) < 1e-3 for 30-l >= 20: layers 1..10 */
    ck_assert_int_eq(v->layer_last, 10);
    gs_findings_fini(&f);

    /* Without the act_grad_norm column the weight gradients hide it (the documented limit). */
    s.cols &= ~GS_COL_BIT(GS_COL_ACT_GRAD_NORM);
    GsTrace *t2 = build(&s, NULL, NULL);
    setup_meta(t2, 30, "relu", "xavier_normal", "0.01");
    f = run(t2, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_VANISHING));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

/* Vanishing that appears only during training: caught by the median over the run. */
static void late_vanish(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)step, (void)arg;
    if (i >= 20 && layer == 1) {
        c[GS_COL_GRAD_NORM] *= 1e-5;
        c[GS_COL_ACT_GRAD_NORM] *= 1e-5;
    }
}

START_TEST(vanishing_median_over_run)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, late_vanish, NULL);
    meta(t, "act", "tanh");
    meta(t, "init", "normal:0.01");
    meta(t, "width", "64");
    GsFindings f = run(t, NULL);
    const GsFinding *v = find(&f, GS_FIND_VANISHING);
    ck_assert_ptr_nonnull(v);
    assert_close(ev(v, "ratio_first_last"), 1e-5, 1e-6);
    ck_assert_int_eq(v->step_first, 200);
    ck_assert_int_eq(v->step_last, 990);
    ck_assert_int_eq(v->layer_last, 1);
    assert_close(ev(v, "grad_ratio_step0"), 1.0, 1e-9);
    /* healthy at step 0: the training dynamics did it, not the architecture */
    ck_assert_ptr_nonnull(strstr(v->message, "step-0 profile was healthy"));
    ck_assert_ptr_nonnull(strstr(v->suggestion, "learning rate"));
    ck_assert_ptr_null(strstr(v->options, "--act"));
    ck_assert_ptr_nonnull(strstr(v->message, "over the run (median"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

static void converging_loss(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)layer, (void)arg;
    c[GS_COL_LOSS] = 2.0 * exp(-(double)step / 50.0); /* 1e-4 of the start by step 461 */
}

START_TEST(vanishing_absolute)
{
    Syn s = syn_default();
    s.grad = 1e-7; /* grad_max_abs = 5e-9 everywhere, ratios healthy */
    s.loss_end = 1.9;
    GsTrace *t = build(&s, NULL, NULL);
    GsFindings f = run(t, NULL);
    const GsFinding *v = find(&f, GS_FIND_VANISHING);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->layer_first, 1);
    ck_assert_int_eq(v->layer_last, 4);
    assert_close(ev(v, "min_grad"), 5e-9, 1e-9);
    assert_close(ev(v, "threshold"), 1e-7, 0);
    gs_findings_fini(&f);

    /* A run whose loss fell 1e4-fold has tiny gradients by right: silent. */
    GsTrace *t2 = build(&s, converging_loss, NULL);
    f = run(t2, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_VANISHING));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

START_TEST(vanishing_depth1_skipped)
{
    Syn s = syn_default();
    s.depth = 1;
    GsTrace *t = build(&s, NULL, NULL);
    GsFindings f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_VANISHING));
    ck_assert_ptr_nonnull(strstr(f.skipped, "vanishing: depth 1"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* ---- exploding ------------------------------------------------------------------------ */

START_TEST(exploding_large_init)
{
    Syn s = syn_default();
    s.depth = 8;
    s.decay = s.act_decay = 2.0; /* 2^7 = 128 > 70 */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 8, "relu", "normal:0.5", "0.01"); /* sigma_w^2 = 64 * 0.25 = 16 */
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *x = find(&f, GS_FIND_EXPLODING);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->severity, GS_SEV_WARNING);
    ck_assert_int_eq(x->layer_first, 1);
    ck_assert_int_eq(x->layer_last, 1);
    ck_assert_int_eq(x->step_first, 0);
    assert_close(ev(x, "ratio_first_last"), 128.0, 1e-9);
    assert_close(ev(x, "growth_per_layer"), 2.0, 1e-9);
    ck_assert_str_eq(x->options, "--init he_normal");
    ck_assert_ptr_null(find(&f, GS_FIND_VANISHING));
    gs_findings_fini(&f);

    /* The same for tanh asks for Xavier. */
    GsTrace *t2 = build(&s, NULL, NULL);
    setup_meta(t2, 8, "tanh", "normal:0.5", "0.01");
    f = run(t2, NULL);
    x = find(&f, GS_FIND_EXPLODING);
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->options, "--init lecun_normal"); /* = xavier for square layers */
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

/* Layer 1's outputs as unscaled inputs leave them: spread far above 1. */
static void wide_layer1(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)step, (void)arg;
    if (layer == 1)
        c[GS_COL_ACT_STD] = 40.0;
}

START_TEST(exploding_input_scale)
{
    Syn s = syn_default();
    s.depth = 8;
    s.decay = s.act_decay = 2.0;
    GsTrace *t = build(&s, wide_layer1, NULL);
    setup_meta(t, 8, "relu", "he_normal", "0.01");
    meta(t, "input_scale", "100");
    meta(t, "input_feature_std_max", "52");
    meta(t, "input_feature_std_min", "48");
    meta(t, "input_max_abs", "170");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *x = find(&f, GS_FIND_EXPLODING);
    ck_assert_ptr_nonnull(x);
    /* the inputs are the cause: the explosion says so and takes their fix, not a lower lr */
    const GsFinding *in = find(&f, GS_FIND_INPUTS_UNSCALED);
    ck_assert_ptr_nonnull(in);
    ck_assert(in->primary);
    ck_assert_str_eq(x->options, "--input-scale 1");
    ck_assert_ptr_null(strstr(x->options, "--lr"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(exploding_growth_high_lr)
{
    Syn s = syn_default();
    s.growth_tau = 100.0; /* x e^9.9 = 2e4 by step 990; passes 1e3 at step 691 */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.5");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *x = find(&f, GS_FIND_EXPLODING);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->severity, GS_SEV_WARNING);
    assert_close(ev(x, "growth_over_run"), exp(9.9), 1e-9);
    assert_close(ev(x, "first_step"), 700, 0);
    ck_assert_int_eq(x->layer_first, 1);
    ck_assert_int_eq(x->layer_last, 5);
    ck_assert_int_eq(x->step_first, 0);
    ck_assert_int_eq(x->step_last, 990);
    ck_assert_str_eq(x->options, "--lr 0.05");
    gs_findings_fini(&f);

    /* Without metadata: clip. */
    GsTrace *t2 = build(&s, NULL, NULL);
    f = run(t2, NULL);
    x = find(&f, GS_FIND_EXPLODING);
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->options, "--clip-norm 1");
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

/* ---- non-finite ----------------------------------------------------------------------- */

/* Growth, then layer 5 (top) goes Inf at step 500, everything NaN afterwards, the loss NaN
 * from step 510. */
static void blow_up(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)arg;
    if (step < 500) {
        return;
    } else if (step == 500) {
        if (layer == 5) {
            c[GS_COL_GRAD_NORM] = INFINITY;
            c[GS_COL_NONFINITE] = 3;
        }
    } else {
        c[GS_COL_GRAD_NORM] = NAN;
        c[GS_COL_ACT_GRAD_NORM] = NAN;
        c[GS_COL_NONFINITE] = 100;
        c[GS_COL_LOSS] = NAN;
        c[GS_COL_WEIGHT_NORM] = NAN;
    }
}

START_TEST(nonfinite_gradients_first)
{
    Syn s = syn_default();
    s.growth_tau = 100.0;
    GsTrace *t = build(&s, blow_up, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.1");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *n = find(&f, GS_FIND_NONFINITE);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(n->severity, GS_SEV_ERROR);
    ck_assert_int_eq(n->step_first, 500);
    ck_assert_int_eq(n->step_last, 990);
    ck_assert_int_eq(n->layer_first, 5);
    ck_assert_int_eq(n->layer_last, 5);
    assert_close(ev(n, "layer"), 5, 0);
    assert_close(ev(n, "nonfinite_steps"), 50, 0);
    ck_assert_ptr_nonnull(strstr(n->message, "the gradients"));
    ck_assert_ptr_nonnull(strstr(n->options, "--clip-norm 1"));
    ck_assert_ptr_nonnull(strstr(n->options, "--lr 0.01"));
    /* Inf gradient: the explosion is named too, and the loss diverges. */
    const GsFinding *x = find(&f, GS_FIND_EXPLODING);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->severity, GS_SEV_ERROR);
    assert_close(ev(x, "first_nonfinite_step"), 500, 0);
    const GsFinding *d = find(&f, GS_FIND_LOSS_DIVERGING);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->severity, GS_SEV_ERROR);
    ck_assert_int_eq(d->step_first, 510);
    /* a healthy step 0, growth while training, then Inf: the overflow is the root finding
     * (nothing at step 0 explains it); the explosion and the loss follow from the same
     * dynamics and take its fix (a lower lr), never an architecture change */
    ck_assert_int_eq(f.items[0].kind, GS_FIND_NONFINITE);
    ck_assert(f.items[0].primary);
    ck_assert_int_eq(f.items[1].kind, GS_FIND_EXPLODING);
    ck_assert_int_ge(f.items[1].explained_by, 0);
    ck_assert_ptr_nonnull(strstr(x->options, "--lr 0.01"));
    ck_assert_int_eq(f.items[2].kind, GS_FIND_LOSS_DIVERGING);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

static void loss_first(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)layer, (void)arg;
    if (step == 300)
        c[GS_COL_LOSS] = INFINITY;
    if (step > 300) {
        c[GS_COL_LOSS] = NAN;
        c[GS_COL_GRAD_NORM] = NAN;
    }
}

static void weights_first(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)arg;
    if (step >= 300 && layer == 3)
        c[GS_COL_WEIGHT_NORM] = NAN;
    if (step >= 300)
        c[GS_COL_GRAD_NORM] = NAN;
}

START_TEST(nonfinite_which_first)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, loss_first, NULL);
    GsFindings f = run(t, NULL);
    const GsFinding *n = find(&f, GS_FIND_NONFINITE);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(n->step_first, 300);
    ck_assert_ptr_nonnull(strstr(n->message, "the loss"));
    ck_assert(isinf(ev(n, "loss_at_first")));
    /* not an explosion: gradients never grew */
    ck_assert_ptr_null(find(&f, GS_FIND_EXPLODING));
    gs_findings_fini(&f);

    GsTrace *t2 = build(&s, weights_first, NULL);
    meta(t2, "first_nonfinite", "295,3");
    f = run(t2, NULL);
    n = find(&f, GS_FIND_NONFINITE);
    ck_assert_ptr_nonnull(n);
    ck_assert_ptr_nonnull(strstr(n->message, "the weights"));
    ck_assert_int_eq(n->layer_first, 3);
    ck_assert_int_eq(n->layer_last, 3);
    ck_assert_int_eq(n->step_first, 295); /* the engine's exact record */
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

/* ---- saturation and dead units --------------------------------------------------------- */

static void saturate_2_4(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)step, (void)arg;
    if (layer >= 2 && layer <= 4)
        c[GS_COL_SATURATION] = layer == 3 ? 0.9 : 0.7;
}

START_TEST(saturation_tanh)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, saturate_2_4, NULL);
    setup_meta(t, 4, "tanh", "xavier_normal", "0.01");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    ck_assert_uint_eq(f.n, 1);
    const GsFinding *x = find(&f, GS_FIND_SATURATION);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->severity, GS_SEV_WARNING);
    ck_assert_int_eq(x->layer_first, 2);
    ck_assert_int_eq(x->layer_last, 4);
    ck_assert_int_eq(x->step_first, 0);
    ck_assert_int_eq(x->step_last, 990);
    assert_close(ev(x, "max_saturation"), 0.9, 1e-12);
    assert_close(ev(x, "worst_layer"), 3, 0);
    assert_close(ev(x, "layers_flagged"), 3, 0);
    ck_assert_str_eq(x->options, "--act relu --init he_normal");
    gs_findings_fini(&f);

    /* With relu the column means nothing: skipped and named. */
    GsTrace *t2 = build(&s, saturate_2_4, NULL);
    setup_meta(t2, 4, "relu", "he_normal", "0.01");
    f = run(t2, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_SATURATION));
    ck_assert_ptr_nonnull(strstr(f.skipped, "saturation: relu cannot saturate"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

static void die_after_0(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)step;
    int full = arg != NULL;
    if (i > 0 && layer <= 3)
        c[GS_COL_DEAD_FRAC] = full && layer == 2 ? 1.0 : 0.7;
}

START_TEST(dead_units)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, die_after_0, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *d = find(&f, GS_FIND_DEAD_UNITS);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->severity, GS_SEV_WARNING);
    ck_assert_int_eq(d->layer_first, 1);
    ck_assert_int_eq(d->layer_last, 3);
    ck_assert_int_eq(d->step_first, 10);
    ck_assert_int_eq(d->step_last, 990);
    assert_close(ev(d, "max_dead_frac"), 0.7, 1e-12);
    ck_assert_str_eq(d->options, "--act leaky_relu");
    gs_findings_fini(&f);

    /* A fully dead layer is an error. */
    int yes = 1;
    GsTrace *t2 = build(&s, die_after_0, &yes);
    setup_meta(t2, 4, "relu", "he_normal", "0.01");
    f = run(t2, NULL);
    d = find(&f, GS_FIND_DEAD_UNITS);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->severity, GS_SEV_ERROR);
    assert_close(ev(d, "worst_layer"), 2, 0);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

static void dead_no_grad(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)step, (void)arg;
    if (i > 0 && layer <= 3) {
        c[GS_COL_DEAD_FRAC] = 1.0;
        c[GS_COL_GRAD_NORM] = c[GS_COL_GRAD_MAX_ABS] = c[GS_COL_ACT_GRAD_NORM] = 0.0;
    }
}

/* Dead layers pass zero gradient: vanishing names them as the cause and borrows their fix. */
START_TEST(vanishing_from_dead_units)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, dead_no_grad, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *v = find(&f, GS_FIND_VANISHING);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->severity, GS_SEV_ERROR); /* ratio 0 */
    assert_close(ev(v, "ratio_first_last"), 0.0, 0);
    ck_assert_int_eq(v->step_first, 10);
    ck_assert_ptr_nonnull(strstr(v->message, "dead units in layers 1-3"));
    ck_assert_str_eq(v->options, "--act leaky_relu");
    ck_assert_ptr_nonnull(find(&f, GS_FIND_DEAD_UNITS));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

static void dead_then_revive(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)arg;
    if (layer <= 3)
        c[GS_COL_DEAD_FRAC] = step <= 600 ? 0.8 : 0.1;
}

START_TEST(dead_units_not_sustained)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, dead_then_revive, NULL);
    GsFindings f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_DEAD_UNITS));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* ---- update size ---------------------------------------------------------------------- */

START_TEST(update_too_large)
{
    Syn s = syn_default();
    s.update = s.update_step0 = 0.05;
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    ck_assert_uint_eq(f.n, 1);
    const GsFinding *u = &f.items[0];
    ck_assert_int_eq(u->kind, GS_FIND_UPDATE_TOO_LARGE);
    ck_assert_int_eq(u->severity, GS_SEV_WARNING);
    ck_assert_int_eq(u->layer_first, 1);
    ck_assert_int_eq(u->layer_last, 5);
    assert_close(ev(u, "median_update_ratio"), 0.05, 1e-12);
    ck_assert_str_eq(u->options, "--lr 0.001");
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(update_too_small)
{
    Syn s = syn_default();
    s.update = s.update_step0 = 1e-7;
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    GsFindings f = run(t, NULL);
    ck_assert_uint_eq(f.n, 1);
    const GsFinding *u = find(&f, GS_FIND_UPDATE_TOO_SMALL);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->severity, GS_SEV_INFO); /* the loss still falls */
    ck_assert_str_eq(u->options, "--lr 0.1");
    gs_findings_fini(&f);

    /* With a flat loss it becomes a warning next to loss_stalled. */
    s.loss_end = s.loss0;
    GsTrace *t2 = build(&s, NULL, NULL);
    setup_meta(t2, 4, "relu", "he_normal", "0.01");
    f = run(t2, NULL);
    assert_well_formed(&f);
    u = find(&f, GS_FIND_UPDATE_TOO_SMALL);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->severity, GS_SEV_WARNING);
    ck_assert_ptr_nonnull(find(&f, GS_FIND_LOSS_STALLED));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

/* ---- loss ----------------------------------------------------------------------------- */

START_TEST(loss_diverging)
{
    Syn s = syn_default();
    s.loss0 = 1.0;
    s.loss_end = 60.0; /* rises toward 60: passes 10 early */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.2");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *d = find(&f, GS_FIND_LOSS_DIVERGING);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->severity, GS_SEV_ERROR);
    double tau = 200.0, final = 60.0 - 59.0 * exp(-990.0 / tau);
    assert_close(ev(d, "final_loss"), final, 1e-12);
    assert_close(ev(d, "ratio"), final, 1e-12);
    /* 60 - 59 e^(-s/200) > 10 from s = 200 ln(59/50) = 33.1: step 40 */
    ck_assert_int_eq(d->step_first, 40);
    ck_assert_str_eq(d->options, "--lr 0.02 --clip-norm 1");
    ck_assert_ptr_null(find(&f, GS_FIND_LOSS_STALLED));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

static void loss_spike(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)layer, (void)arg;
    if (step >= 300 && step <= 400)
        c[GS_COL_LOSS] = 50.0;
}

/* A spike that comes back down is not divergence. */
START_TEST(loss_spike_recovers)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, loss_spike, NULL);
    GsFindings f = run(t, NULL);
    ck_assert_uint_eq(f.n, 0);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(loss_stalled)
{
    Syn s = syn_default();
    s.loss0 = 1.0;
    s.loss_end = 0.995;
    GsTrace *t = build(&s, NULL, NULL);
    GsFindings f = run(t, NULL);
    const GsFinding *x = find(&f, GS_FIND_LOSS_STALLED);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->severity, GS_SEV_WARNING);
    ck_assert(ev(x, "rel_decrease") < 0.01 && ev(x, "rel_decrease") > 0.004);
    gs_findings_fini(&f);

    /* Too few recorded steps to judge: skipped and named. */
    s.steps = 20;
    GsTrace *t2 = build(&s, NULL, NULL);
    f = run(t2, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_LOSS_STALLED));
    ck_assert_ptr_nonnull(strstr(f.skipped, "loss_stalled: only 20 recorded steps"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

/* ---- foreign traces, overrides, thresholds -------------------------------------------- */

START_TEST(foreign_minimal_columns)
{
    Syn s = syn_default();
    s.cols = GS_COL_BIT(GS_COL_STEP) | GS_COL_BIT(GS_COL_LAYER) | GS_COL_BIT(GS_COL_GRAD_NORM);
    GsTrace *t = build(&s, NULL, NULL);
    GsFindings f = run(t, NULL);
    ck_assert_uint_eq(f.n, 0);
    const char *need[] = {
        "saturation: no 'saturation' column",         "dead_units: no 'dead_frac' column",
        "update_too_large: no 'update_ratio' column", "update_too_small: no 'update_ratio' column",
        "loss_diverging: no 'loss' column",           "loss_stalled: no 'loss' column"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        ck_assert_msg(strstr(f.skipped, need[i]), "'%s' not in skipped: %s", need[i], f.skipped);
    ck_assert_ptr_null(strstr(f.skipped, "vanishing"));
    gs_findings_fini(&f);

    /* Its gradient-only rules still work. */
    s.decay = 0.05; /* 0.05^3 = 1.25e-4 */
    GsTrace *t2 = build(&s, NULL, NULL);
    f = run(t2, NULL);
    ck_assert_uint_eq(f.n, 1);
    ck_assert_int_eq(f.items[0].kind, GS_FIND_VANISHING);
    assert_close(ev(&f.items[0], "ratio_first_last"), 1.25e-4, 1e-9);
    ck_assert_str_eq(f.items[0].options, "--norm batch"); /* no setup known, depth 4 */
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

START_TEST(threshold_override)
{
    Syn s = syn_default();
    s.decay = s.act_decay = 0.8; /* 0.512 over 3 layers */
    GsTrace *t = build(&s, NULL, NULL);
    GsFindings f = run(t, NULL);
    ck_assert_uint_eq(f.n, 0);
    gs_findings_fini(&f);

    GsThresholds th;
    gs_thresholds_default(&th);
    GsError err = {""};
    ck_assert_int_eq(gs_thresholds_set(&th, "vanish_ratio", "0.6", &err), GS_OK);
    f = run(t, &th);
    ck_assert_uint_eq(f.n, 1);
    ck_assert_int_eq(f.items[0].kind, GS_FIND_VANISHING);
    assert_close(ev(&f.items[0], "threshold"), 0.6, 0);
    assert_close(ev(&f.items[0], "ratio_first_last"), 0.512, 1e-9);
    gs_findings_fini(&f);

    /* The growth threshold decides the growth rule. */
    Syn g = syn_default();
    g.growth_tau = 300.0; /* e^3.3 = 27x */
    GsTrace *t2 = build(&g, NULL, NULL);
    f = run(t2, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_EXPLODING));
    gs_findings_fini(&f);
    gs_thresholds_default(&th);
    ck_assert_int_eq(gs_thresholds_set(&th, "growth", "20", &err), GS_OK);
    f = run(t2, &th);
    ck_assert_ptr_nonnull(find(&f, GS_FIND_EXPLODING));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    gs_trace_destroy(t2);
}
END_TEST

START_TEST(thresholds_set_validates)
{
    GsThresholds th, def;
    gs_thresholds_default(&th);
    gs_thresholds_default(&def);
    ck_assert(th.vanish_ratio == 1e-3 && th.explode_ratio == 70.0 && th.vanish_abs == 1e-7);
    ck_assert(th.saturation == 0.5 && th.dead == 0.5 && th.update_high == 1e-2);
    ck_assert(th.update_low == 1e-5 && th.growth == 1e3 && th.loss_diverge == 10.0);
    ck_assert(th.loss_stall == 0.01);
    GsError err = {""};
    ck_assert_int_eq(gs_thresholds_set(&th, "explode-ratio", " 100 ", &err), GS_OK);
    ck_assert(th.explode_ratio == 100.0);

    const char *bad[] = {"-1", "0", "abc", "nan", "inf", "1e999", "", "5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        ck_assert_int_eq(gs_thresholds_set(&th, "dead", bad[i], &err), GS_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err.msg, "dead"));
        char quoted[16];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        ck_assert_msg(strstr(err.msg, quoted), "message '%s' lacks %s", err.msg, quoted);
    }
    ck_assert(th.dead == 0.5);
    ck_assert_int_eq(gs_thresholds_set(&th, "vanish", "1", &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'vanish'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "vanish_ratio"));
    ck_assert_ptr_nonnull(strstr(err.msg, "loss_stall"));
}
END_TEST

START_TEST(names_round_trip)
{
    for (int k = 0; k < GS_FIND_COUNT; k++)
        ck_assert_int_eq(gs_finding_kind_from_name(gs_finding_kind_name((GsFindingKind)k)), k);
    ck_assert_int_eq(gs_finding_kind_from_name("nope"), -1);
    ck_assert_str_eq(gs_finding_kind_name(GS_FIND_UPDATE_TOO_LARGE), "update_too_large");
    ck_assert_str_eq(gs_severity_name(GS_SEV_WARNING), "warning");
    ck_assert_str_eq(gs_severity_name(GS_SEV_ERROR), "error");
    ck_assert_str_eq(gs_severity_name(GS_SEV_INFO), "info");
}
END_TEST

START_TEST(empty_trace)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(3, GS_COL_ALL, &t), GS_OK);
    GsFindings f = run(t, NULL);
    ck_assert_uint_eq(f.n, 0);
    ck_assert_ptr_nonnull(strstr(f.skipped, "no recorded steps"));
    gs_findings_fini(&f);
    gs_findings_fini(&f); /* twice is fine */
    gs_findings_fini(NULL);
    gs_trace_destroy(t);
}
END_TEST

/* Several severities at once come out most severe first. */
static void dead_and_big_updates(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)step, (void)arg;
    if (i > 0 && layer == 2)
        c[GS_COL_DEAD_FRAC] = 1.0; /* error */
    c[GS_COL_SATURATION] = 0.8;    /* warning (tanh) */
}

START_TEST(sorted_by_severity)
{
    Syn s = syn_default();
    s.update = s.update_step0 = 1e-7; /* info */
    GsTrace *t = build(&s, dead_and_big_updates, NULL);
    setup_meta(t, 4, "tanh", "xavier_normal", "0.01");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    ck_assert_uint_eq(f.n, 3);
    ck_assert_int_eq(f.items[0].kind, GS_FIND_DEAD_UNITS);
    ck_assert_int_eq(f.items[0].severity, GS_SEV_ERROR);
    ck_assert_int_eq(f.items[1].kind, GS_FIND_SATURATION);
    ck_assert_int_eq(f.items[2].kind, GS_FIND_UPDATE_TOO_SMALL);
    ck_assert_int_eq(f.items[2].severity, GS_SEV_INFO);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* ---- JSON ----------------------------------------------------------------------------- */

START_TEST(json_round_trip)
{
    Syn s = syn_default();
    s.growth_tau = 100.0;
    GsTrace *t = build(&s, loss_first, NULL); /* nonfinite with loss_at_first = Inf */
    setup_meta(t, 4, "relu", "he_normal", "0.1");
    GsFindings f = run(t, NULL);
    ck_assert(f.n >= 2);

    GsPredLayer pl[2] = {{1, 0.5, 0.9, 0.81}, {2, 0.4, NAN, 1.0}};
    GsPrediction pred = {2, pl, 0.81, GS_REGIME_ORDERED, "a caveat"};
    char *text = NULL;
    ck_assert_int_eq(gs_findings_to_json(&f, &pred, &text), GS_OK);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "bad JSON: %s", jerr.text);
    json_t *arr = json_object_get(doc, "findings");
    ck_assert(json_is_array(arr));
    ck_assert_uint_eq(json_array_size(arr), f.n);
    int saw_null = 0;
    for (size_t i = 0; i < f.n; i++) {
        const GsFinding *x = &f.items[i];
        json_t *o = json_array_get(arr, i);
        ck_assert_str_eq(json_string_value(json_object_get(o, "kind")),
                         gs_finding_kind_name(x->kind));
        ck_assert_str_eq(json_string_value(json_object_get(o, "severity")),
                         gs_severity_name(x->severity));
        json_t *layers = json_object_get(o, "layers"), *steps = json_object_get(o, "steps");
        ck_assert_int_eq(json_integer_value(json_array_get(layers, 0)), x->layer_first);
        ck_assert_int_eq(json_integer_value(json_array_get(layers, 1)), x->layer_last);
        ck_assert_int_eq(json_integer_value(json_array_get(steps, 0)), x->step_first);
        ck_assert_int_eq(json_integer_value(json_array_get(steps, 1)), x->step_last);
        ck_assert_str_eq(json_string_value(json_object_get(o, "message")), x->message);
        ck_assert_str_eq(json_string_value(json_object_get(o, "suggestion")), x->suggestion);
        ck_assert_str_eq(json_string_value(json_object_get(o, "options")), x->options);
        json_t *e = json_object_get(o, "evidence");
        ck_assert_uint_eq(json_object_size(e), x->n_evidence);
        for (size_t k = 0; k < x->n_evidence; k++) {
            json_t *v = json_object_get(e, x->evidence[k].key);
            ck_assert_ptr_nonnull(v);
            if (isfinite(x->evidence[k].value)) {
                ck_assert(json_number_value(v) == x->evidence[k].value); /* bit-exact */
            } else {
                ck_assert(json_is_null(v));
                saw_null = 1;
            }
        }
    }
    ck_assert(saw_null); /* loss_at_first = Inf */
    json_t *p = json_object_get(doc, "prediction");
    ck_assert_str_eq(json_string_value(json_object_get(p, "regime")), "ordered");
    ck_assert_str_eq(json_string_value(json_object_get(p, "caveat")), "a caveat");
    ck_assert(json_real_value(json_object_get(p, "ratio_first_last")) == 0.81);
    json_t *pls = json_object_get(p, "layers");
    ck_assert_uint_eq(json_array_size(pls), 2);
    json_t *l1 = json_array_get(pls, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(l1, "layer")), 2);
    ck_assert(json_is_null(json_object_get(l1, "chi")));
    ck_assert(json_real_value(json_object_get(l1, "q")) == 0.4);
    ck_assert(json_real_value(json_object_get(l1, "rel_act_grad_norm")) == 1.0);
    json_decref(doc);
    free(text);

    /* Without a prediction the key is omitted; the prediction alone works too. */
    ck_assert_int_eq(gs_findings_to_json(&f, NULL, &text), GS_OK);
    doc = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(doc);
    ck_assert_ptr_null(json_object_get(doc, "prediction"));
    json_decref(doc);
    free(text);
    ck_assert_int_eq(gs_prediction_to_json(&pred, &text), GS_OK);
    doc = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "regime")), "ordered");
    json_decref(doc);
    free(text);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(json_skipped_and_empty)
{
    GsFindings f;
    memset(&f, 0, sizeof f);
    snprintf(f.skipped, sizeof f.skipped, "a: x; b: y");
    char *text = NULL;
    ck_assert_int_eq(gs_findings_to_json(&f, NULL, &text), GS_OK);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(doc);
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "findings")), 0);
    json_t *sk = json_object_get(doc, "skipped");
    ck_assert_uint_eq(json_array_size(sk), 2);
    ck_assert_str_eq(json_string_value(json_array_get(sk, 1)), "b: y");
    json_decref(doc);
    free(text);
}
END_TEST

/* not_learning: a loss that sits at the class-prior baseline fires; one that falls below it
 * by more than the margin does not; without a baseline the rule is skipped, not guessed. */
START_TEST(not_learning_synthetic)
{
    Syn s = syn_default();
    s.loss0 = s.loss_end = 1.0986; /* ln 3 */
    s.noise = 0.05;
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    meta(t, "baseline_loss", "1.0986122886681098");
    meta(t, "classes", "3");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *n = find(&f, GS_FIND_NOT_LEARNING);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(n->severity, GS_SEV_WARNING);
    assert_close(ev(n, "baseline_loss"), 1.0986122886681098, 1e-12);
    ck_assert_ptr_nonnull(strstr(n->message, "class prior"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    s = syn_default(); /* 2.0 -> 0.2: learning */
    t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    meta(t, "baseline_loss", "1.0986122886681098");
    f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_NOT_LEARNING));
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    s.loss0 = s.loss_end = 1.0986;
    t = build(&s, NULL, NULL); /* no baseline: skipped and said so */
    f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_NOT_LEARNING));
    ck_assert_ptr_nonnull(strstr(f.skipped, "not_learning"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

static void frozen_layer2(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i, (void)step, (void)arg;
    if (layer == 2) {
        c[GS_COL_GRAD_NORM] = c[GS_COL_BIAS_GRAD_NORM] = gs_trace_missing();
        c[GS_COL_GRAD_MAX_ABS] = c[GS_COL_NONFINITE] = gs_trace_missing();
        c[GS_COL_UPDATE_RATIO] = gs_trace_missing();
    }
}

/* frozen: "no value" gradients are info, never an overflow, in memory and through CSV. */
START_TEST(frozen_synthetic)
{
    Syn s = syn_default();
    GsTrace *t = build(&s, frozen_layer2, NULL);
    for (int pass = 0; pass < 2; pass++) {
        GsFindings f = run(t, NULL);
        assert_well_formed(&f);
        const GsFinding *z = find(&f, GS_FIND_FROZEN);
        ck_assert_ptr_nonnull(z);
        ck_assert_int_eq(z->severity, GS_SEV_INFO);
        ck_assert_int_eq(z->layer_first, 2);
        ck_assert_int_eq(z->layer_last, 2);
        ck_assert_ptr_null(find(&f, GS_FIND_NONFINITE));
        ck_assert_ptr_null(find(&f, GS_FIND_EXPLODING));
        ck_assert_ptr_null(find(&f, GS_FIND_VANISHING));
        gs_findings_fini(&f);
        if (pass == 0) { /* round trip through CSV: empty cells */
            char path[] = "/tmp/gs_frozen_XXXXXX";
            int fd = mkstemp(path);
            ck_assert_int_ge(fd, 0);
            close(fd);
            ck_assert_int_eq(gs_trace_write_csv(t, path, NULL), GS_OK);
            gs_trace_destroy(t);
            t = NULL;
            ck_assert_int_eq(gs_trace_read_csv(path, GS_COL_ALL, &t, NULL), GS_OK);
            unlink(path);
        }
    }
    gs_trace_destroy(t);
    /* a real NaN is still an overflow */
    s = syn_default();
    t = build(&s, NULL, NULL);
    GsFindings f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_FROZEN));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* inputs_unscaled stays silent when layer 1 does not show the scale, and in normalized nets. */
START_TEST(inputs_unscaled_needs_layer1)
{
    Syn s = syn_default();
    for (int k = 0; k < 3; k++) {
        GsTrace *t = build(&s, k == 0 ? NULL : wide_layer1, NULL);
        setup_meta(t, 4, "relu", "he_normal", "0.01");
        meta(t, "input_feature_std_max", "52");
        meta(t, "input_max_abs", "170");
        if (k == 2)
            meta(t, "norm", "batch");
        GsFindings f = run(t, NULL);
        ck_assert_msg((find(&f, GS_FIND_INPUTS_UNSCALED) != NULL) == (k == 1), "case %d", k);
        gs_findings_fini(&f);
        gs_trace_destroy(t);
    }
}
END_TEST

/* PyTorch traces get their fixes in PyTorch's terms. */
START_TEST(torch_fixes_in_torch_terms)
{
    Syn s = syn_default();
    s.growth_tau = 100.0; /* grows a thousandfold: exploding, no setup known */
    GsTrace *t = build(&s, NULL, NULL);
    meta(t, "writer", "gradscope.torch");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *x = find(&f, GS_FIND_EXPLODING);
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(strstr(x->options, "torch.nn.utils.clip_grad_norm_") != NULL, "%s", x->options);
    ck_assert_ptr_null(strstr(x->options, "--"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* ---- through time (recurrent traces with series) -------------------------------------- */

/* A recurrent run: rows rnn.weight_ih_l0, rnn.weight_hh_l0, out with healthy flat values, and
 * the series rnn.h_l0 whose ||dL/dh_t|| is g_T * gain^(T - t) at every recorded step (gain
 * going back; < 1 vanishes), optionally changing to gain_late from recorded step i_late. */
typedef struct {
    size_t T, steps;
    double gain, gain_late;
    size_t i_late;
    int clipped;        /* the clipped column is 1 at every step */
    const char *module; /* the recurrent module's name; NULL: "rnn" */
} RnnSyn;

static GsTrace *build_rnn(const RnnSyn *r)
{
    Syn s = syn_default();
    s.depth = 2;
    s.steps = r->steps;
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(3, s.cols, &t), GS_OK);
    const char *mod = r->module ? r->module : "rnn";
    char names[3][64];
    snprintf(names[0], sizeof names[0], "%s.weight_ih_l0", mod);
    snprintf(names[1], sizeof names[1], "%s.weight_hh_l0", mod);
    snprintf(names[2], sizeof names[2], "out");
    for (size_t l = 0; l < 3; l++)
        ck_assert_int_eq(gs_trace_set_layer_name(t, l, names[l], "linear"), GS_OK);
    size_t k;
    char sname[64];
    snprintf(sname, sizeof sname, "%s.h_l0", mod);
    ck_assert_int_eq(gs_trace_add_series(t, sname, "state", &k), GS_OK);
    double *g = malloc(r->T * sizeof *g);
    for (size_t i = 0; i < r->steps; i++) {
        long step = (long)i * s.every;
        double *row = NULL;
        ck_assert_int_eq(gs_trace_add_step(t, step, &row), GS_OK);
        double loss = 0.2 + 1.8 * exp(-(double)i / 20.0);
        for (size_t l = 0; l < 3; l++) {
            double *c = row + l * GS_COL_COUNT;
            for (int col = 0; col < GS_COL_COUNT; col++)
                c[col] = 0.0;
            c[GS_COL_LOSS] = loss;
            c[GS_COL_LR] = 0.01;
            c[GS_COL_GRAD_NORM] = 0.1;
            c[GS_COL_BIAS_GRAD_NORM] = 0.03;
            c[GS_COL_ACT_GRAD_NORM] = 0.1;
            c[GS_COL_GRAD_MAX_ABS] = 0.005;
            c[GS_COL_WEIGHT_NORM] = 5.0;
            c[GS_COL_UPDATE_RATIO] = 1e-3;
            c[GS_COL_ACT_STD] = 0.5;
            c[GS_COL_SATURATION] = 0.02;
            c[GS_COL_GLOBAL_NORM] = 0.2;
            c[GS_COL_GLOBAL_NORM_POST] = r->clipped ? 0.1 : 0.2;
            c[GS_COL_CLIPPED] = r->clipped;
        }
        gs_trace_commit_step(t);
        double gain = r->i_late && i >= r->i_late ? r->gain_late : r->gain;
        for (size_t u = 1; u <= r->T; u++)
            g[u - 1] = 0.05 * pow(gain, (double)(r->T - u));
        ck_assert_int_eq(gs_trace_series_set(t, i, k, GS_TCOL_H_GRAD_NORM, g, r->T), GS_OK);
    }
    free(g);
    for (int col = 0; col < GS_COL_COUNT; col++)
        gs_trace_set_has(t, (GsCol)col, 1);
    return t;
}

/* The recorder's metadata for a recurrent setup on the adding problem. */
static void rnn_meta_full(GsTrace *t, const char *arch, const char *act, size_t T, const char *fb,
                          const char *clip, int with_theory)
{
    char buf[32];
    meta(t, "tool", "gradscope test");
    meta(t, "arch", arch);
    meta(t, "act", act);
    meta(t, "depth", "1");
    meta(t, "width", "64");
    snprintf(buf, sizeof buf, "%zu", T);
    meta(t, "seq-len", buf);
    meta(t, "bptt", "0");
    meta(t, "init", "default");
    meta(t, "init-hh", "default");
    meta(t, "forget-bias", fb);
    meta(t, "opt", "sgd");
    meta(t, "lr", "0.01");
    meta(t, "clip-norm", clip);
    meta(t, "data", "adding");
    meta(t, "data_inputs", "2");
    snprintf(buf, sizeof buf, "%.6f", (1.0 / 3.0 + 2.0 / (double)T) / 2.0);
    meta(t, "input_second_moment", buf);
    meta(t, "rnn_sigma_max_l0", "1.106");
    meta(t, "rnn_spectral_radius_l0", "0.621");
    if (with_theory)
        meta(t, "theory_step_gain_l0", "0.61");
}

static void rnn_meta(GsTrace *t, const char *arch, const char *act, size_t T, const char *fb,
                     const char *clip)
{
    rnn_meta_full(t, arch, act, T, fb, clip, 1);
}

START_TEST(vanishing_time_tanh)
{
    RnnSyn r = {.T = 60, .steps = 50, .gain = 0.58};
    GsTrace *t = build_rnn(&r);
    rnn_meta(t, "rnn", "tanh", 60, "default", "0");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    ck_assert_uint_ge(f.n, 1);
    const GsFinding *v = &f.items[0];
    ck_assert_int_eq(v->kind, GS_FIND_VANISHING_TIME);
    ck_assert_int_eq(v->severity, GS_SEV_ERROR); /* 0.58^59 ~ 1e-14 < 1e-6 */
    assert_close(ev(v, "ratio_h1_hT"), pow(0.58, 59), 1e-6);
    assert_close(ev(v, "decay_per_step"), 0.58, 1e-9);
    /* 0.58^k < 1e-3 from k = 13 steps back: 12 steps stay above */
    ck_assert_double_eq(ev(v, "memory_horizon"), 12.0);
    ck_assert_double_eq(ev(v, "seq_len"), 60.0);
    assert_close(ev(v, "sigma_max_hh"), 1.106, 1e-12);
    /* at T 60 the theory's orthogonal W_hh reaches t = 1 (1.7e-2), the smallest change */
    ck_assert_str_eq(v->options, "--init-hh orthogonal");
    ck_assert(ev(v, "fix_predicted_ratio") > 1e-3);
    ck_assert_int_eq(v->layer_first, 2); /* rnn.weight_hh_l0 */
    ck_assert_int_eq(v->layer_last, 2);
    ck_assert(strstr(v->message, "rnn.h_l0") != NULL);
    ck_assert(strstr(v->message, "at step 0") != NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_EXPLODING_TIME));
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    /* at T 200 orthogonal is predicted to fade too (7e-7): the open-gate LSTM is the cure */
    r.T = 200;
    t = build_rnn(&r);
    rnn_meta(t, "rnn", "tanh", 200, "default", "0");
    f = run(t, NULL);
    v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v->options, "--arch lstm --forget-bias 3");
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(vanishing_time_lstm_fix)
{
    /* a default LSTM at T 60 vanishes (0.61 per step): open the forget gate, and since the
     * theory puts bias 1 at 1e-5, bias 3; never "use an LSTM" */
    RnnSyn r = {.T = 60, .steps = 30, .gain = 0.61};
    GsTrace *t = build_rnn(&r);
    rnn_meta(t, "lstm", "tanh", 60, "default", "0");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->primary, 1);
    ck_assert_str_eq(v->options, "--forget-bias 3");
    ck_assert(strstr(v->message, "forget gate starts near") != NULL);
    ck_assert(strstr(v->options, "--arch") == NULL);
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    /* relu RNN: the IRNN init */
    r.gain = 0.42;
    t = build_rnn(&r);
    rnn_meta(t, "rnn", "relu", 60, "default", "0");
    f = run(t, NULL);
    v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v->options, "--init-hh identity");
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    /* without the recorder's theory_step_gain_l0 the rule predicts it from the setup */
    r.gain = 0.61;
    t = build_rnn(&r);
    rnn_meta_full(t, "lstm", "tanh", 60, "default", "0", 0);
    f = run(t, NULL);
    v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    GsRnnConfig cfg = gs_rnn_config_default();
    cfg.cell = GS_CELL_LSTM;
    cfg.d_in = 2;
    cfg.hidden = 64;
    cfg.d_out = 1;
    cfg.seq_len = 60;
    cfg.batch_max = 1;
    double want = gs_theory_rnn_step_gain(&cfg, (1.0 / 3.0 + 2.0 / 60.0) / 2.0, 1.106, 0.621);
    ck_assert(want > 0.55 && want < 0.7);
    assert_close(ev(v, "theory_step_gain"), want, 1e-5);
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    /* developed while training (healthy at step 0): reported over the run, not at init */
    RnnSyn late = {.T = 60, .steps = 40, .gain = 0.97, .gain_late = 0.5, .i_late = 10};
    t = build_rnn(&late);
    rnn_meta(t, "rnn", "tanh", 60, "default", "0");
    f = run(t, NULL);
    v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert(strstr(v->message, "over the run") != NULL);
    ck_assert_int_eq(v->step_first, 100);
    assert_close(ev(v, "decay_per_step"), 0.5, 1e-9);
    /* the init was fine (0.97^59 = 0.17 at step 0): the fix is the step size, not the init */
    ck_assert(strstr(v->message, "training did this") != NULL);
    ck_assert_str_eq(v->options, "--lr 0.001");
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(time_torch_trace)
{
    /* the PyTorch tracer's trace: a module "enc", the cell but no arch, no width or input
     * moment (so no theory): the fix by sequence length, in PyTorch's terms */
    RnnSyn r = {.T = 60, .steps = 20, .gain = 0.64, .module = "enc"};
    GsTrace *t = build_rnn(&r);
    meta(t, "writer", "gradscope.torch");
    meta(t, "cell", "lstm");
    meta(t, "rnn_sigma_max_l0", "1.7");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->primary, 1);
    ck_assert_int_eq(v->layer_first, 2); /* enc.weight_hh_l0 */
    ck_assert(strstr(v->message, "enc.h_l0") != NULL);
    ck_assert(strstr(v->message, "forget gate") != NULL);
    ck_assert(strstr(v->options, "bias_ih_l0[H:2H] = 3") != NULL);
    ck_assert(isnan(ev(v, "theory_step_gain")));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    /* a short one gets bias 1; a tanh RNN the orthogonal init, said for PyTorch */
    r.T = 20;
    r.gain = 0.6;
    t = build_rnn(&r);
    meta(t, "writer", "gradscope.torch");
    meta(t, "cell", "lstm");
    f = run(t, NULL);
    v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert(strstr(v->options, "bias_ih_l0[H:2H] = 1") != NULL);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    t = build_rnn(&r);
    meta(t, "writer", "gradscope.torch");
    meta(t, "cell", "rnn_tanh");
    f = run(t, NULL);
    v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert(strstr(v->options, "nn.init.orthogonal_") != NULL);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(time_learned_anyway)
{
    /* the loss fell far below the baseline: vanishing through time is reported at info */
    RnnSyn r = {.T = 60, .steps = 50, .gain = 0.58};
    GsTrace *t = build_rnn(&r);
    rnn_meta(t, "rnn", "tanh", 60, "default", "0");
    meta(t, "baseline_loss", "5.0"); /* the synthetic loss ends near 0.2 */
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *v = find(&f, GS_FIND_VANISHING_TIME);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->severity, GS_SEV_INFO);
    ck_assert(strstr(v->message, "may not need the early steps") != NULL);
    size_t n = strlen(v->message);
    ck_assert_msg(v->message[n - 1] == '.', "cut message: %s", v->message);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(time_healthy_silent)
{
    /* a short sequence with a decent gain: 0.6^4 = 0.13 */
    RnnSyn r = {.T = 5, .steps = 30, .gain = 0.6};
    GsTrace *t = build_rnn(&r);
    rnn_meta(t, "rnn", "tanh", 5, "default", "0");
    assert_silent(t);
    gs_trace_destroy(t);
    /* an LSTM with forget bias 3 at T 60: 0.975 per step, 0.22 end to end */
    r.T = 60;
    r.gain = 0.975;
    t = build_rnn(&r);
    rnn_meta(t, "lstm", "tanh", 60, "3", "0");
    assert_silent(t);
    gs_trace_destroy(t);
    /* an MLP trace has no series: the time rules say nothing, not even "skipped" */
    Syn s = syn_default();
    t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    GsFindings f = run(t, NULL);
    ck_assert_uint_eq(f.n, 0);
    ck_assert(strstr(f.skipped, "_time") == NULL);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(exploding_time_and_clipping)
{
    /* relu RNN growing 1.2x per step back: 1.2^59 = 4.7e4 > 70 */
    RnnSyn r = {.T = 60, .steps = 30, .gain = 1.2};
    GsTrace *t = build_rnn(&r);
    rnn_meta(t, "rnn", "relu", 60, "default", "0");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *e = &f.items[0];
    ck_assert_int_eq(e->kind, GS_FIND_EXPLODING_TIME);
    ck_assert_int_eq(e->severity, GS_SEV_ERROR); /* past 70^2 */
    assert_close(ev(e, "ratio_h1_hT"), pow(1.2, 59), 1e-6);
    assert_close(ev(e, "growth_per_step"), 1.2, 1e-9);
    ck_assert_str_eq(e->options, "--clip-norm 1");
    ck_assert(strstr(e->message, "sigma_max 1.11 > 1") != NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_VANISHING_TIME));
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    /* the same run clipped: clipping acted, said as such, at info with no fix */
    r.clipped = 1;
    t = build_rnn(&r);
    rnn_meta(t, "rnn", "relu", 60, "default", "1");
    f = run(t, NULL);
    e = find(&f, GS_FIND_EXPLODING_TIME);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->severity, GS_SEV_INFO);
    ck_assert(strstr(e->message, "clipping (--clip-norm 1) acted") != NULL);
    ck_assert_str_eq(e->options, "");
    ck_assert_double_eq(ev(e, "clip_norm"), 1.0);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(exploding_time_burst)
{
    /* healthy at step 0 and most of the run, then 10 recorded steps growing 1.2x per step back
     * (training pushed W_hh past 1): a burst, fixed by clipping, and the finding says when */
    RnnSyn r = {.T = 60, .steps = 40, .gain = 0.97, .gain_late = 1.2, .i_late = 30};
    GsTrace *t = build_rnn(&r);
    rnn_meta(t, "rnn", "relu", 60, "default", "0");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    const GsFinding *e = find(&f, GS_FIND_EXPLODING_TIME);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->primary, 1);
    ck_assert_int_eq(e->step_first, 300);
    ck_assert_int_eq(e->step_last, 390);
    assert_close(ev(e, "ratio_h1_hT"), pow(1.2, 59), 1e-6);
    ck_assert(strstr(e->message, "past it at 10 recorded steps from step 300") != NULL);
    ck_assert_str_eq(e->options, "--clip-norm 1");
    gs_findings_fini(&f);
    gs_trace_destroy(t);
    /* one step past the threshold is not enough */
    r.steps = 31;
    t = build_rnn(&r);
    rnn_meta(t, "rnn", "relu", 60, "default", "0");
    f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_EXPLODING_TIME));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* Per-tensor rows that vanish too (weight_ih 1e-4 of out): the through-time finding is the
 * cause and the generic one its consequence. */
static void rows_vanish(size_t i, long step, int layer, double *c, const void *arg)
{
    (void)i;
    (void)step;
    (void)arg;
    if (layer == 1)
        c[GS_COL_GRAD_NORM] = c[GS_COL_ACT_GRAD_NORM] = 1e-5;
}

START_TEST(time_primary_over_generic)
{
    Syn s = syn_default();
    s.depth = 2;
    s.steps = 30;
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(3, s.cols, &t), GS_OK);
    size_t k;
    ck_assert_int_eq(gs_trace_add_series(t, "rnn.h_l0", "state", &k), GS_OK);
    double g[60];
    for (size_t i = 0; i < s.steps; i++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, (long)i * 10, &row), GS_OK);
        for (int l = 1; l <= 3; l++) {
            double *c = row + (size_t)(l - 1) * GS_COL_COUNT;
            for (int col = 0; col < GS_COL_COUNT; col++)
                c[col] = 0.0;
            c[GS_COL_LOSS] = 1.0 - 0.01 * (double)i;
            c[GS_COL_GRAD_NORM] = c[GS_COL_ACT_GRAD_NORM] = 0.1;
            c[GS_COL_WEIGHT_NORM] = 5.0;
            c[GS_COL_UPDATE_RATIO] = 1e-3;
            rows_vanish(i, (long)i * 10, l, c, NULL);
        }
        gs_trace_commit_step(t);
        for (size_t u = 1; u <= 60; u++)
            g[u - 1] = pow(0.58, 60.0 - (double)u);
        ck_assert_int_eq(gs_trace_series_set(t, i, k, GS_TCOL_H_GRAD_NORM, g, 60), GS_OK);
    }
    for (int col = 0; col < GS_COL_COUNT; col++)
        gs_trace_set_has(t, (GsCol)col, 1);
    rnn_meta(t, "rnn", "tanh", 60, "default", "0");
    meta(t, "depth", "2");
    GsFindings f = run(t, NULL);
    assert_well_formed(&f);
    ck_assert_int_eq(f.items[0].kind, GS_FIND_VANISHING_TIME);
    const GsFinding *gen = find(&f, GS_FIND_VANISHING);
    ck_assert_ptr_nonnull(gen);
    ck_assert_int_eq(gen->explained_by, 0);
    ck_assert_str_eq(gen->options, f.items[0].options);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

/* ---- rules read from histograms -------------------------------------------------------- */

/* Counts n values into the (zeroed) histogram slot of step i, layer li (0-based), kind k:
 * value(j) for j < n. */
typedef double (*ValueFn)(size_t j, size_t n, const void *arg);

static void fill_hist(GsTrace *t, size_t i, size_t li, GsHistKind k, size_t n, ValueFn fn,
                      const void *arg)
{
    float *b = gs_trace_hist_slot(t, i, li, k);
    ck_assert_ptr_nonnull(b);
    memset(b, 0, GS_HIST_NB * sizeof *b);
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t j = 0; j < n; j++)
        x[j] = (float)fn(j, n, arg);
    gs_hist_add(b, x, n, k == GS_HIST_ACT ? gs_trace_hist_act_range(t) : 0.0);
    free(x);
}

/* tanh outputs: a share *arg at +-0.99 (the outer bins), the rest spread over (-0.8, 0.8) */
static double tanh_out(size_t j, size_t n, const void *arg)
{
    double sat = *(const double *)arg;
    if ((double)j < sat * (double)n)
        return j % 2 ? 0.99 : -0.99;
    return 0.8 * (2.0 * (double)j / (double)n - 1.0) * 0.999;
}

/* relu outputs: a share *arg exactly 0, the rest positive */
static double relu_out(size_t j, size_t n, const void *arg)
{
    double zero = *(const double *)arg;
    return (double)j < zero * (double)n ? 0.0 : 0.01 + (double)j / (double)n;
}

/* gradient entries: Gaussian (*arg 0) or 0.1% of them 1000x the rest (*arg 1; bin middles) */
static double grad_entries(size_t j, size_t n, const void *arg)
{
    int heavy = *(const int *)arg;
    uint64_t st = (uint64_t)j * 0x9E3779B97F4A7C15u + 7;
    double u1 = 0.5 * (unif(&st) + 1.0) + 1e-12, u2 = unif(&st);
    double g = 1e-4 * sqrt(-2.0 * log(u1)) * cos(3.14159265358979 * u2);
    if (heavy && j < n / 1000)
        return 0.15;
    return heavy ? 1.5e-4 * (j % 2 ? 1 : -1) : g;
}

START_TEST(hist_saturation_pileup)
{
    /* no saturation column: the activation histograms' pile-up at +-1 decides */
    Syn s = syn_default();
    s.cols = GS_COL_ALL & ~GS_COL_BIT(GS_COL_SATURATION);
    s.hist = 1u << GS_HIST_ACT;
    s.hist_a = 1.0;
    for (int sick = 0; sick < 2; sick++) {
        GsTrace *t = build(&s, NULL, NULL);
        setup_meta(t, 4, "tanh", "normal:1", "0.01");
        for (size_t i = 0; i < s.steps; i++)
            for (size_t li = 0; li < 5; li++) {
                double sat = sick && li >= 1 && li <= 2 ? (li == 2 ? 0.8 : 0.6) : 0.01;
                fill_hist(t, i, li, GS_HIST_ACT, 2000, tanh_out, &sat);
            }
        GsFindings f = run(t, NULL);
        assert_well_formed(&f);
        const GsFinding *x = find(&f, GS_FIND_SATURATION);
        if (!sick) {
            ck_assert_ptr_null(x);
        } else {
            ck_assert_ptr_nonnull(x);
            ck_assert_int_eq(x->layer_first, 2);
            ck_assert_int_eq(x->layer_last, 3);
            assert_close(ev(x, "max_pileup"), 0.8, 1e-6);
            assert_close(ev(x, "worst_layer"), 3, 0);
            ck_assert_ptr_nonnull(strstr(x->message, "pile up at tanh's flat ends"));
        }
        gs_findings_fini(&f);
        gs_trace_destroy(t);
    }
    /* with the column, the pile-up is evidence beside it */
    s.cols = GS_COL_ALL;
    GsTrace *t = build(&s, saturate_2_4, NULL);
    setup_meta(t, 4, "tanh", "xavier_normal", "0.01");
    double sat = 0.75;
    for (size_t i = 0; i < s.steps; i++)
        for (size_t li = 0; li < 5; li++)
            fill_hist(t, i, li, GS_HIST_ACT, 2000, tanh_out, &sat);
    GsFindings f = run(t, NULL);
    const GsFinding *x = find(&f, GS_FIND_SATURATION);
    ck_assert_ptr_nonnull(x);
    assert_close(ev(x, "max_saturation"), 0.9, 1e-12);
    assert_close(ev(x, "hist_pileup"), 0.75, 1e-6);
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(hist_dead_zero_spike)
{
    /* no dead_frac column: a ReLU layer's spike at exact 0 decides, against 0.9 (a healthy
     * ReLU layer outputs 0 about half the time) */
    Syn s = syn_default();
    s.cols = GS_COL_ALL & ~GS_COL_BIT(GS_COL_DEAD_FRAC);
    s.hist = 1u << GS_HIST_ACT;
    s.hist_a = 4.0;
    for (int sick = 0; sick < 2; sick++) {
        GsTrace *t = build(&s, NULL, NULL);
        setup_meta(t, 4, "relu", "he_normal", "0.01");
        for (size_t i = 0; i < s.steps; i++)
            for (size_t li = 0; li < 5; li++) {
                double z = li == 4 ? 0.0 : sick && li >= 1 && li <= 2 && i > 0 ? 0.97 : 0.55;
                fill_hist(t, i, li, GS_HIST_ACT, 1000, relu_out, &z);
            }
        GsFindings f = run(t, NULL);
        assert_well_formed(&f);
        const GsFinding *d = find(&f, GS_FIND_DEAD_UNITS);
        if (!sick) {
            ck_assert_ptr_null(d);
        } else {
            ck_assert_ptr_nonnull(d);
            ck_assert_int_eq(d->layer_first, 2);
            ck_assert_int_eq(d->layer_last, 3);
            ck_assert_int_eq(d->step_first, 10);
            assert_close(ev(d, "max_zero_share"), 0.97, 1e-6);
            assert_close(ev(d, "threshold"), 0.9, 0);
            ck_assert_ptr_nonnull(strstr(d->message, "exactly 0"));
        }
        gs_findings_fini(&f);
        gs_trace_destroy(t);
    }
    /* a tanh net's histograms do not stand in for the column */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "tanh", "xavier_normal", "0.01");
    GsFindings f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_DEAD_UNITS));
    ck_assert_ptr_nonnull(strstr(f.skipped, "dead_units: no 'dead_frac' column"));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(heavy_tail_from_grad_hist)
{
    Syn s = syn_default();
    s.hist = 1u << GS_HIST_GRAD;
    for (int heavy = 0; heavy < 2; heavy++) {
        GsTrace *t = build(&s, NULL, NULL);
        setup_meta(t, 4, "relu", "he_normal", "0.01");
        for (size_t i = 0; i < s.steps; i++)
            for (size_t li = 0; li < 5; li++) {
                int h = heavy && li == 1;
                fill_hist(t, i, li, GS_HIST_GRAD, 4096, grad_entries, &h);
            }
        GsFindings f = run(t, NULL);
        assert_well_formed(&f);
        const GsFinding *x = find(&f, GS_FIND_HEAVY_TAIL);
        if (!heavy) {
            /* a Gaussian gradient: 1.4% of the squared norm in its largest 0.1% */
            ck_assert_ptr_null(x);
            ck_assert_uint_eq(f.n, 0);
        } else {
            /* 4 entries of 0.15 against 4092 of 1.5e-4: they carry 99.9% */
            ck_assert_ptr_nonnull(x);
            ck_assert_int_eq(x->severity, GS_SEV_INFO);
            ck_assert_int_eq(x->layer_first, 2);
            ck_assert_int_eq(x->layer_last, 2);
            ck_assert(ev(x, "top_permille_share") > 0.99);
            /* median entry in the bin of 1.5e-4, the largest in that of 0.15: 3 decades */
            assert_close(ev(x, "max_over_median_decades"), 3.0, 0);
            ck_assert_ptr_nonnull(strstr(x->message, "largest 0.1%"));
        }
        gs_findings_fini(&f);
        gs_trace_destroy(t);
    }
    /* fewer than 1000 entries: 0.1% is not even one, nothing is judged */
    GsTrace *t = build(&s, NULL, NULL);
    setup_meta(t, 4, "relu", "he_normal", "0.01");
    int h = 1;
    for (size_t i = 0; i < s.steps; i++)
        for (size_t li = 0; li < 5; li++)
            fill_hist(t, i, li, GS_HIST_GRAD, 900, grad_entries, &h);
    GsFindings f = run(t, NULL);
    ck_assert_ptr_null(find(&f, GS_FIND_HEAVY_TAIL));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("diagnose");
    TCase *h = tcase_create("healthy");
    tcase_add_test(h, test_median_select);
    tcase_add_test(h, test_best_window_mean);
    tcase_add_test(h, healthy_flat);
    tcase_add_test(h, healthy_mild_decay);
    tcase_add_test(h, healthy_noisy);
    tcase_add_test(h, healthy_adam);
    tcase_add_test(h, healthy_residual_bn);
    tcase_add_test(h, healthy_skipinit);
    suite_add_tcase(s, h);
    TCase *r = tcase_create("rules");
    tcase_add_test(r, not_learning_synthetic);
    tcase_add_test(r, torch_fixes_in_torch_terms);
    tcase_add_test(r, frozen_synthetic);
    tcase_add_test(r, hist_saturation_pileup);
    tcase_add_test(r, hist_dead_zero_spike);
    tcase_add_test(r, heavy_tail_from_grad_hist);
    tcase_add_test(r, inputs_unscaled_needs_layer1);
    tcase_add_test(r, vanishing_sigmoid);
    tcase_add_test(r, vanishing_relu_xavier_act_grad);
    tcase_add_test(r, vanishing_median_over_run);
    tcase_add_test(r, vanishing_absolute);
    tcase_add_test(r, vanishing_depth1_skipped);
    tcase_add_test(r, exploding_large_init);
    tcase_add_test(r, exploding_input_scale);
    tcase_add_test(r, exploding_growth_high_lr);
    tcase_add_test(r, nonfinite_gradients_first);
    tcase_add_test(r, nonfinite_which_first);
    tcase_add_test(r, saturation_tanh);
    tcase_add_test(r, dead_units);
    tcase_add_test(r, dead_units_not_sustained);
    tcase_add_test(r, vanishing_from_dead_units);
    tcase_add_test(r, update_too_large);
    tcase_add_test(r, update_too_small);
    tcase_add_test(r, loss_diverging);
    tcase_add_test(r, loss_spike_recovers);
    tcase_add_test(r, loss_stalled);
    suite_add_tcase(s, r);
    TCase *o = tcase_create("api");
    tcase_add_test(o, foreign_minimal_columns);
    tcase_add_test(o, threshold_override);
    tcase_add_test(o, thresholds_set_validates);
    tcase_add_test(o, names_round_trip);
    tcase_add_test(o, empty_trace);
    tcase_add_test(o, sorted_by_severity);
    tcase_add_test(o, json_round_trip);
    tcase_add_test(o, json_skipped_and_empty);
    suite_add_tcase(s, o);
    TCase *tt = tcase_create("through_time");
    tcase_add_test(tt, vanishing_time_tanh);
    tcase_add_test(tt, vanishing_time_lstm_fix);
    tcase_add_test(tt, time_healthy_silent);
    tcase_add_test(tt, time_learned_anyway);
    tcase_add_test(tt, time_torch_trace);
    tcase_add_test(tt, exploding_time_and_clipping);
    tcase_add_test(tt, exploding_time_burst);
    tcase_add_test(tt, time_primary_over_generic);
    suite_add_tcase(s, tt);
    return s;
}
