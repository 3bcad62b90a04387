/* Verdicts on real runs: each case a first version got wrong (issue "Verdicts you can trust"):
 * the root cause is the primary finding, its fix is the right one, the symptoms it explains
 * carry the same fix, and healthy setups stay silent. Runs the real binary. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "gradscope/diagnose.h"
#include "runner.h"

#define gs(...) gs_cli_run(1, __VA_ARGS__)

/* Runs `gradscope run OPTS --json f.json` and returns the parsed findings array's owner. */
static json_t *run_json(const char *opts)
{
    int rc = gs("run %s --no-report --json f.json", opts);
    ck_assert_msg(rc == 0, "run %s: exit %d: %.2000s", opts, rc, gs_out);
    char path[512];
    snprintf(path, sizeof path, "%s/f.json", gs_tmpdir);
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    ck_assert_msg(root != NULL, "bad JSON: %s", e.text);
    return root;
}

static json_t *findings(json_t *root)
{
    json_t *f = json_object_get(root, "findings");
    ck_assert(json_is_array(f));
    return f;
}

static const char *sget(json_t *f, const char *key)
{
    const char *s = json_string_value(json_object_get(f, key));
    return s ? s : "";
}

/* The one primary finding (asserting there is exactly one, listed first). */
static json_t *primary(json_t *root)
{
    json_t *fs = findings(root), *p = NULL;
    size_t i;
    json_t *f;
    json_array_foreach(fs, i, f)
    {
        if (json_is_true(json_object_get(f, "primary"))) {
            ck_assert_msg(p == NULL, "two primary findings");
            ck_assert_msg(i == 0, "the primary finding is not listed first");
            p = f;
        }
    }
    ck_assert_msg(p != NULL || json_array_size(fs) == 0, "findings but no primary");
    return p;
}

static json_t *find_kind(json_t *root, const char *kind)
{
    size_t i;
    json_t *f;
    json_array_foreach(findings(root), i, f) if (!strcmp(sget(f, "kind"), kind)) return f;
    return NULL;
}

/* No finding's fix contains needle. */
static void no_option(json_t *root, const char *needle, const char *why)
{
    size_t i;
    json_t *f;
    json_array_foreach(findings(root), i, f)
        ck_assert_msg(!strstr(sget(f, "options"), needle), "%s: %s suggests '%s' (%s)", why,
                      sget(f, "kind"), sget(f, "options"), needle);
}

/* Every finding that another explains carries that finding's fix. */
static void explained_share_fix(json_t *root)
{
    json_t *fs = findings(root);
    size_t i;
    json_t *f;
    json_array_foreach(fs, i, f)
    {
        json_t *by = json_object_get(f, "explained_by");
        if (!by)
            continue;
        json_t *g = json_array_get(fs, (size_t)json_integer_value(by));
        ck_assert(g != NULL);
        ck_assert_str_eq(sget(f, "options"), sget(g, "options"));
    }
}

#define STEPS "--steps 200"

/* Raising the lr does not fix a gradient that never reaches the early layers. */
START_TEST(vanishing_never_says_raise_lr)
{
    const char *setups[] = {"--depth 20 --act sigmoid --init standard",
                            "--depth 20 --act tanh --init standard",
                            "--depth 30 --act relu --init xavier_normal"};
    for (size_t k = 0; k < 3; k++) {
        char opts[256];
        snprintf(opts, sizeof opts, "%s %s", setups[k], STEPS);
        json_t *r = run_json(opts);
        json_t *p = primary(r);
        ck_assert_msg(p && !strcmp(sget(p, "kind"), "vanishing"), "%s: primary %s", opts,
                      p ? sget(p, "kind") : "none");
        no_option(r, "--lr", opts);
        json_t *u = find_kind(r, "update_too_small");
        if (u)
            ck_assert_msg(json_object_get(u, "explained_by"), "%s: small updates unexplained",
                          opts);
        explained_share_fix(r);
        json_decref(r);
    }
}
END_TEST

/* SELU with He init is chaotic at step 0: the init is the cause, not the learning rate. */
START_TEST(selu_he_blames_the_init)
{
    json_t *r = run_json("--act selu --init he_normal --depth 20 " STEPS);
    json_t *p = primary(r);
    ck_assert(p);
    ck_assert_str_eq(sget(p, "kind"), "exploding");
    ck_assert_str_eq(sget(p, "options"), "--init lecun_normal");
    no_option(r, "--lr", "selu he");
    no_option(r, "--clip-norm", "selu he");
    explained_share_fix(r);
    json_decref(r);
}
END_TEST

/* Unscaled inputs are named as the cause, from the input scale and from a raw CSV. */
START_TEST(unscaled_inputs_are_the_cause)
{
    json_t *r = run_json("--depth 10 --act relu --init he_normal --input-scale 1000 " STEPS);
    json_t *p = primary(r);
    ck_assert(p);
    ck_assert_str_eq(sget(p, "kind"), "inputs_unscaled");
    ck_assert_str_eq(sget(p, "options"), "--input-scale 1");
    no_option(r, "--lr", "input scale 1000");
    no_option(r, "--act", "input scale 1000");
    explained_share_fix(r);
    json_decref(r);

    /* features in the thousands, two classes */
    char path[512];
    snprintf(path, sizeof path, "%s/raw.csv", gs_tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fprintf(f, "area,price,label\n");
    uint64_t st = 7;
    for (int i = 0; i < 400; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(st >> 11) / 9007199254740992.0;
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        double v = (double)(st >> 11) / 9007199254740992.0;
        double area = 500.0 + 3000.0 * u, price = 1000.0 + 9000.0 * v;
        fprintf(f, "%.1f,%.1f,%d\n", area, price, area * 3.0 > price ? 1 : 0);
    }
    fclose(f);
    r = run_json("--data raw.csv --loss xent --depth 6 --act tanh " STEPS);
    p = primary(r);
    ck_assert(p);
    ck_assert_str_eq(sget(p, "kind"), "inputs_unscaled");
    ck_assert_str_eq(sget(p, "options"), "--standardize");
    no_option(r, "--lr", "raw csv");
    json_decref(r);
    /* and standardized, the same data is judged healthy of that */
    r = run_json("--data raw.csv --loss xent --depth 6 --act tanh --standardize " STEPS);
    ck_assert_ptr_null(find_kind(r, "inputs_unscaled"));
    json_decref(r);
}
END_TEST

/* A net at chance loss is never healthy, and --fail-on names the new kinds. */
START_TEST(chance_loss_is_not_learning)
{
    json_t *r = run_json("--depth 20 --act sigmoid --residual 2 --steps 300");
    json_t *nl = find_kind(r, "not_learning");
    ck_assert_msg(nl != NULL, "no not_learning at chance loss");
    ck_assert_str_eq(sget(nl, "severity"), "warning");
    json_decref(r);
    int rc = gs("run --depth 20 --act sigmoid --residual 2 --steps 300 --no-report "
                "--fail-on not_learning,inputs_unscaled");
    ck_assert_msg(rc == 1, "exit %d: %s", rc, gs_out);
    ck_assert_ptr_null(strstr(gs_out, "healthy"));
    /* a healthy net is silent about both */
    rc = gs("run --depth 6 --act relu --init he_normal --steps 300 --no-report "
            "--fail-on not_learning,inputs_unscaled");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, gs_out);
}
END_TEST

/* The learning rate that wrecked a tanh net is the primary cause, not the vanishing it left. */
START_TEST(lr_twenty_blames_the_lr)
{
    json_t *r = run_json("--lr 20 --act tanh " STEPS);
    json_t *p = primary(r);
    ck_assert(p);
    ck_assert_msg(strstr(sget(p, "options"), "--lr 2") != NULL, "primary %s: %s",
                  sget(p, "kind"), sget(p, "options"));
    no_option(r, "--residual", "lr 20");
    no_option(r, "--act", "lr 20");
    explained_share_fix(r);
    json_decref(r);
}
END_TEST

/* A run that overflows early is not judged by its NaN steps. */
START_TEST(nan_steps_are_not_judged)
{
    json_t *r = run_json("--depth 6 --act relu --init he_normal --lr 4 " STEPS);
    json_t *nf = find_kind(r, "nonfinite");
    ck_assert_msg(nf != NULL, "no overflow: %s", gs_out);
    json_int_t first = json_integer_value(json_array_get(json_object_get(nf, "steps"), 0));
    json_t *v = find_kind(r, "vanishing");
    if (v) {
        json_int_t last = json_integer_value(json_array_get(json_object_get(v, "steps"), 1));
        ck_assert_msg(last < first, "vanishing judged at step %lld, after the overflow at %lld",
                      (long long)last, (long long)first);
    }
    no_option(r, "--norm", "lr 4");
    json_decref(r);
}
END_TEST

/* A frozen layer (empty gradient cells) is info, not an overflow; --fail-on any passes. */
START_TEST(frozen_layer_is_not_nonfinite)
{
    char path[512];
    snprintf(path, sizeof path, "%s/frozen.csv", gs_tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fprintf(f, "# writer = gradscope.torch\nstep,layer,name,loss,grad_norm,weight_norm\n");
    for (int s = 0; s < 60; s++)
        for (int l = 1; l <= 4; l++) {
            if (l == 1)
                fprintf(f, "%d,1,embed,%.4f,,3.0\n", s, 2.0 * exp(-0.03 * s));
            else
                fprintf(f, "%d,%d,fc%d,%.4f,%.4f,3.0\n", s, l, l, 2.0 * exp(-0.03 * s),
                        0.5 + 0.01 * l);
        }
    fclose(f);
    int rc = gs("diagnose frozen.csv --json fz.json --fail-on any");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, gs_out);
    char jp[512];
    snprintf(jp, sizeof jp, "%s/fz.json", gs_tmpdir);
    json_error_t e;
    json_t *r = json_load_file(jp, 0, &e);
    ck_assert(r);
    ck_assert_ptr_null(find_kind(r, "nonfinite"));
    json_t *fr = find_kind(r, "frozen");
    ck_assert(fr);
    ck_assert_str_eq(sget(fr, "severity"), "info");
    ck_assert_ptr_nonnull(strstr(sget(fr, "message"), "embed"));
    json_decref(r);
}
END_TEST

/* "over 50 steps" for a 50-step run. */
START_TEST(stall_counts_steps)
{
    int rc = gs("run --depth 20 --act sigmoid --init standard --steps 50 --no-report");
    ck_assert_int_eq(rc, 0);
    if (strstr(gs_out, "The loss stalls"))
        ck_assert_msg(strstr(gs_out, "over 50 steps") != NULL, "%s", gs_out);
}
END_TEST

/* Every threshold of the table is documented in the README's findings table. */
START_TEST(thresholds_documented)
{
    const char *root = getenv("GS_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/README.md", root ? root : ".");
    FILE *f = fopen(path, "rb");
    ck_assert(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    ck_assert_uint_ge(gs_thresholds_count(), 13);
    for (size_t i = 0; i < gs_thresholds_count(); i++) {
        char want[96];
        snprintf(want, sizeof want, "`%s` = ", gs_threshold_name(i));
        ck_assert_msg(strstr(text, want) != NULL, "README lacks %s", want);
    }
    for (int k = 0; k < GS_FIND_COUNT; k++) {
        char want[64];
        snprintf(want, sizeof want, "| `%s` |", gs_finding_kind_name((GsFindingKind)k));
        ck_assert_msg(strstr(text, want) != NULL, "README's findings table lacks %s", want);
    }
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("verdicts");
    TCase *tc = tcase_create("runs");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, gs_cli_setup, gs_cli_teardown);
    tcase_add_test(tc, vanishing_never_says_raise_lr);
    tcase_add_test(tc, selu_he_blames_the_init);
    tcase_add_test(tc, unscaled_inputs_are_the_cause);
    tcase_add_test(tc, chance_loss_is_not_learning);
    tcase_add_test(tc, lr_twenty_blames_the_lr);
    tcase_add_test(tc, nan_steps_are_not_judged);
    tcase_add_test(tc, frozen_layer_is_not_nonfinite);
    tcase_add_test(tc, stall_counts_steps);
    tcase_add_test(tc, thresholds_documented);
    suite_add_tcase(s, tc);
    return s;
}
