/* End-to-end tests on real engine runs: the theory's step-0 prediction against the
 * measured profile, diagnosis of real pathological and healthy runs, and the CLI's
 * --fail-on, --json and --cure paths. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"
#include "gradscope/diagnose.h"
#include "gradscope/run.h"
#include "gradscope/theory.h"
#include "runner.h"

static GsTrace *run(const char *args, GsRunInfo *info)
{
    GsSpec s;
    gs_spec_default(&s);
    GsError err;
    ck_assert_msg(gs_spec_apply_args(&s, args, &err) == GS_OK, "%s", err.msg);
    GsTrace *t = NULL;
    ck_assert_msg(gs_run_setup(&s, NULL, NULL, NULL, &t, info, &err) == GS_OK, "%s", err.msg);
    return t;
}

/* Mean over seeds of ln(act_grad_norm(first) / act_grad_norm(depth)) at step 0, against the
 * prediction. THEORY.md: at width 256 the log-ratio's spread is about sqrt(v (L-1)/n) per
 * sample (v ~ 5 for ReLU: 0.6 at L = 20), smaller for a batch and over 5 seeds; the bounds
 * below are about twice the spread of the mean. */
static void compare_theory(const char *args, int depth, int first, double tol_log)
{
    double sum = 0;
    GsRunInfo info;
    const int seeds = 5;
    for (int seed = 1; seed <= seeds; seed++) {
        char a[512];
        snprintf(a, sizeof a,
                 "%s --seed %d --steps 1 --width 256 --depth %d --samples 128 "
                 "--batch 0 --data teacher",
                 args, seed, depth);
        GsTrace *t = run(a, &info);
        double r = gs_trace_get(t, 0, (size_t)first - 1, GS_COL_ACT_GRAD_NORM) /
                   gs_trace_get(t, 0, (size_t)depth - 1, GS_COL_ACT_GRAD_NORM);
        sum += log(r);
        gs_trace_destroy(t);
    }
    GsSpec s;
    gs_spec_default(&s);
    char a[512];
    snprintf(a, sizeof a, "%s --width 256 --depth %d --data teacher", args, depth);
    ck_assert_int_eq(gs_spec_apply_args(&s, a, NULL), GS_OK);
    GsPrediction p = {0};
    GsError err;
    ck_assert_msg(gs_theory_predict(&s, info.d_in, info.input_second_moment, &p, &err) == GS_OK,
                  "%s", err.msg);
    double measured = sum / seeds;
    double predicted =
        log(p.layers[first - 1].rel_act_grad_norm / p.layers[depth - 1].rel_act_grad_norm);
    ck_assert_msg(fabs(measured - predicted) <= tol_log,
                  "%s: measured ratio %.4g, predicted %.4g (log diff %.3f > %.3f)", args,
                  exp(measured), exp(predicted), fabs(measured - predicted), tol_log);
    gs_prediction_fini(&p);
}

START_TEST(test_theory_matches_engine)
{
    /* ReLU+He: critical, ratio 1; ReLU+Xavier: 2^-(L-1)/2; tanh+Xavier: power law;
     * SELU+LeCun: 1.0717 per layer in G. ReLU + batch norm grows pi/(pi-1) per layer in G;
     * its finite-batch/width excess (THEORY.md: ~1.2/B per layer, measured here ~+5% in G)
     * and layer 1's dependence on the 8-dimensional input are why it is compared from
     * layer 2 with a wider bound. */
    compare_theory("--act relu --init he_normal", 20, 1, 0.25);
    compare_theory("--act relu --init xavier_normal", 20, 1, 0.25);
    compare_theory("--act tanh --init xavier_normal", 20, 1, 0.08);
    compare_theory("--act selu --init lecun_normal", 20, 1, 0.1);
    compare_theory("--act relu --init he_normal --norm batch", 10, 2, 0.25);
}
END_TEST

static int has(const GsFindings *f, GsFindingKind k, GsSeverity min)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->items[i].kind == k && f->items[i].severity >= min)
            return 1;
    return 0;
}

static void diagnose(GsTrace *t, GsFindings *f)
{
    GsError err;
    ck_assert_msg(gs_diagnose(t, NULL, f, &err) == GS_OK, "%s", err.msg);
}

START_TEST(test_real_pathologies)
{
    GsFindings f = {0};
    GsTrace *t = run("--depth 20 --act sigmoid --init standard --steps 100", NULL);
    diagnose(t, &f);
    ck_assert(has(&f, GS_FIND_VANISHING, GS_SEV_WARNING));
    ck_assert(!has(&f, GS_FIND_EXPLODING, GS_SEV_INFO));
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    t = run("--depth 20 --act relu --init normal:0.5 --steps 60", NULL);
    diagnose(t, &f);
    ck_assert(has(&f, GS_FIND_EXPLODING, GS_SEV_WARNING));
    ck_assert(has(&f, GS_FIND_NONFINITE, GS_SEV_ERROR));
    const char *first = gs_trace_meta_get(t, "first_nonfinite");
    ck_assert_str_ne(first, "none");
    long step = strtol(first, NULL, 10);
    for (size_t i = 0; i < f.n; i++)
        if (f.items[i].kind == GS_FIND_NONFINITE)
            ck_assert_int_eq(f.items[i].step_first, step);
    gs_findings_fini(&f);
    gs_trace_destroy(t);

    t = run("--depth 3 --act relu --init he_normal --lr 2 --opt sgd --steps 100 --data moons",
            NULL);
    diagnose(t, &f);
    ck_assert(has(&f, GS_FIND_UPDATE_TOO_LARGE, GS_SEV_WARNING));
    gs_findings_fini(&f);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(test_real_healthy)
{
    const char *healthy[] = {
        "--depth 10 --act relu --init he_normal --steps 200",
        "--depth 4 --act tanh --init xavier_normal --steps 200",
        "--depth 12 --act relu --init he_normal --norm batch --residual 2 --steps 200",
    };
    for (size_t i = 0; i < 3; i++) {
        GsFindings f = {0};
        GsTrace *t = run(healthy[i], NULL);
        diagnose(t, &f);
        for (size_t k = 0; k < f.n; k++)
            ck_assert_msg(f.items[k].severity == GS_SEV_INFO, "%s: %s %s", healthy[i],
                          gs_finding_kind_name(f.items[k].kind), f.items[k].message);
        gs_findings_fini(&f);
        gs_trace_destroy(t);
    }
}
END_TEST

/* ---- CLI ---- */

#define tmpdir gs_tmpdir
#define out gs_out
#define setup gs_cli_setup
#define teardown gs_cli_teardown
#define gs(...) gs_cli_run(0, __VA_ARGS__)

#define SIGMOID "--depth 12 --act sigmoid --init standard --steps 60 --width 32"

START_TEST(test_fail_on_and_json)
{
    ck_assert_int_eq(gs("run " SIGMOID " --no-report --trace t.csv --fail-on vanishing"), 1);
    ck_assert_int_eq(gs("run " SIGMOID " --no-report --fail-on exploding"), 0);
    ck_assert_int_eq(gs("diagnose t.csv --fail-on any -q"), 1);
    ck_assert_int_eq(gs("diagnose t.csv --fail-on dead_units,nonfinite -q"), 0);
    ck_assert_int_eq(gs("diagnose t.csv --fail-on bogus"), 2);
    ck_assert_int_eq(gs("diagnose t.csv --json -"), 0);
    json_error_t e;
    json_t *doc = json_loads(out, 0, &e);
    ck_assert_msg(doc != NULL, "JSON: %s", e.text);
    json_t *fs = json_object_get(doc, "findings");
    ck_assert(json_is_array(fs) && json_array_size(fs) > 0);
    json_t *f0 = json_array_get(fs, 0);
    const char *fields[] = {"kind",     "severity", "layers",     "steps",
                            "evidence", "message",  "suggestion", "options"};
    for (size_t i = 0; i < 8; i++)
        ck_assert_msg(json_object_get(f0, fields[i]) != NULL, "missing %s", fields[i]);
    ck_assert_str_eq(json_string_value(json_object_get(f0, "kind")), "vanishing");
    json_t *pred = json_object_get(doc, "prediction");
    ck_assert(json_is_object(pred));
    ck_assert(json_is_number(json_object_get(pred, "ratio_first_last")));
    ck_assert_uint_eq(json_array_size(json_object_get(pred, "layers")), 12);
    json_decref(doc);
    /* predict --json */
    ck_assert_int_eq(gs("predict --depth 5 --act relu --init he_normal --json -"), 0);
    doc = json_loads(out, 0, &e);
    ck_assert_ptr_nonnull(doc);
    ck_assert_double_eq_tol(json_real_value(json_object_get(doc, "ratio_first_last")), 1.0, 0.05);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "regime")), "critical");
    json_decref(doc);
}
END_TEST

START_TEST(test_cure)
{
    int rc = gs("run " SIGMOID " --cure -o cure.png");
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(out, "cure 1: --act relu") && strstr(out, "removes vanishing"), "%s", out);
    char path[512];
    snprintf(path, sizeof path, "%s/cure.png", tmpdir);
    ck_assert_int_eq(access(path, R_OK), 0);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("runs");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_theory_matches_engine);
    tcase_add_test(tc, test_real_pathologies);
    tcase_add_test(tc, test_real_healthy);
    suite_add_tcase(s, tc);
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 300);
    tcase_add_checked_fixture(cli, setup, teardown);
    tcase_add_test(cli, test_fail_on_and_json);
    tcase_add_test(cli, test_cure);
    suite_add_tcase(s, cli);
    return s;
}
