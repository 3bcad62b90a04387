/* Setup key table tests: defaults, strict parsing with messages naming the value,
 * round trips through gs_spec_get, scenario files, option strings, validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradscope/spec.h"
#include "runner.h"

/* Two setups are equal when every key reads back the same (struct padding is not). */
static int spec_equal(const GsSpec *a, const GsSpec *b)
{
    char x[1100], y[1100];
    for (size_t i = 0; i < gs_spec_key_count(); i++) {
        gs_spec_get(a, gs_spec_key_name(i), x, sizeof x);
        gs_spec_get(b, gs_spec_key_name(i), y, sizeof y);
        if (strcmp(x, y) != 0)
            return 0;
    }
    return 1;
}

static void expect_bad(const char *key, const char *value, const char *needle)
{
    GsSpec s, before;
    gs_spec_default(&s);
    before = s;
    GsError err = {{0}};
    ck_assert_int_eq(gs_spec_set(&s, key, value, &err), GS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    ck_assert(spec_equal(&s, &before)); /* untouched on failure */
}

START_TEST(test_bad_values)
{
    expect_bad("lr", "abc", "'abc'");
    expect_bad("depth", "0", "0");
    expect_bad("depth", "-3", "-3");
    expect_bad("width", "1e9", "'1e9'");
    expect_bad("steps", "10x", "'10x'");
    expect_bad("act", "tanhh", "tanhh");
    expect_bad("init", "he_normall", "he_normall");
    expect_bad("opt", "adamm", "adamm");
    expect_bad("norm", "group", "group");
    expect_bad("schedule", "linear", "linear");
    expect_bad("schedule", "step:10", "step:10");
    expect_bad("lr", "nan", "nan");
    expect_bad("lr", "inf", "inf");
    expect_bad("lr", "0", "0");
    expect_bad("seed", "-1", "-1");
    expect_bad("standardize", "maybe", "maybe");
    expect_bad("data", "spirals", "spirals");
    expect_bad("nosuchkey", "1", "nosuchkey");
    expect_bad("opt", "adam:0.5", "adam:0.5");
}
END_TEST

START_TEST(test_round_trip)
{
    GsSpec s;
    gs_spec_default(&s);
    const char *kv[][2] = {{"depth", "20"},           {"width", "128"},
                           {"act", "leaky_relu:0.2"}, {"init", "orthogonal:1.5"},
                           {"bias-init", "const:-1"}, {"norm", "batch"},
                           {"residual", "2"},         {"res-scale", "0.5"},
                           {"loss", "xent"},          {"opt", "momentum:0.8"},
                           {"lr", "0.001"},           {"schedule", "step:50:0.5"},
                           {"warmup", "10"},          {"clip-norm", "1"},
                           {"data", "blobs:4"},       {"standardize", "true"},
                           {"input-scale", "100"},    {"batch", "0"},
                           {"steps", "77"},           {"seed", "12345678901"},
                           {"record-every", "3"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        GsError err;
        ck_assert_msg(gs_spec_set(&s, kv[i][0], kv[i][1], &err) == GS_OK, "%s", err.msg);
    }
    /* Every key's text form parses back to the same setup. */
    GsSpec t;
    gs_spec_default(&t);
    char buf[512];
    for (size_t i = 0; i < gs_spec_key_count(); i++) {
        ck_assert_int_eq(gs_spec_get(&s, gs_spec_key_name(i), buf, sizeof buf), GS_OK);
        GsError err;
        ck_assert_msg(gs_spec_set(&t, gs_spec_key_name(i), buf, &err) == GS_OK, "%s=%s: %s",
                      gs_spec_key_name(i), buf, err.msg);
    }
    ck_assert(spec_equal(&s, &t));
    ck_assert_double_eq(s.sched_gamma, t.sched_gamma);
    ck_assert_double_eq(t.init.gain, 1.5);
    ck_assert_int_eq(s.depth, 20);
    ck_assert_int_eq(s.opt, GS_OPT_MOMENTUM);
    ck_assert_double_eq(s.opt_param, 0.8);
    ck_assert_uint_eq(s.seed, 12345678901ULL);
    /* '_' and '-' are the same in key names */
    ck_assert_int_eq(gs_spec_set(&s, "res_scale", "2", NULL), GS_OK);
    ck_assert_double_eq(s.res_scale, 2.0);
}
END_TEST

START_TEST(test_loss_auto_and_validate)
{
    GsSpec s;
    gs_spec_default(&s);
    ck_assert_int_eq(gs_spec_loss(&s), GS_LOSS_XENT); /* spiral is classification */
    gs_spec_set(&s, "data", "sine", NULL);
    ck_assert_int_eq(gs_spec_loss(&s), GS_LOSS_MSE);
    GsError err;
    s.depth = 3;
    s.residual = 3;
    ck_assert_int_eq(gs_spec_validate(&s, 0, 0, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "--residual 3"));
    s.residual = 2;
    ck_assert_int_eq(gs_spec_validate(&s, 0, 0, &err), GS_OK);
    s.width = 60000;
    s.depth = 100;
    s.residual = 0;
    ck_assert_int_eq(gs_spec_validate(&s, 2, 3, &err), GS_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "GiB"));
}
END_TEST

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/gs_spec_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(test_ini)
{
    GsSpec s;
    gs_spec_default(&s);
    char *p = write_tmp("# a lesson\n[run]\ndepth = 12\nact = sigmoid\ninit = standard\n"
                        "clip_norm = 2 ; inline comment\n");
    GsError err;
    ck_assert_msg(gs_spec_load_ini(&s, p, &err) == GS_OK, "%s", err.msg);
    ck_assert_int_eq(s.depth, 12);
    ck_assert_int_eq(s.act.kind, GS_ACT_SIGMOID);
    ck_assert_double_eq(s.clip_norm, 2.0);
    unlink(p);
    p = write_tmp("depth = 3\nwidht = 4\n");
    ck_assert_int_eq(gs_spec_load_ini(&s, p, &err), GS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, ":2:") && strstr(err.msg, "widht"), "%s",
                  err.msg);
    unlink(p);
    p = write_tmp("depth = 3\nthis line is wrong\n");
    ck_assert_int_eq(gs_spec_load_ini(&s, p, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, ":2:"), "%s", err.msg);
    unlink(p);
    /* a gallery lesson: its [lesson] prose (longer than inih's line limit) is skipped */
    char lesson[1024];
    char caption[400];
    memset(caption, 'x', sizeof caption - 1);
    caption[sizeof caption - 1] = '\0';
    snprintf(lesson, sizeof lesson, "[run]\ndepth = 5\n\n[lesson]\ntitle = t\ncaption = %s\n",
             caption);
    p = write_tmp(lesson);
    ck_assert_msg(gs_spec_load_ini(&s, p, &err) == GS_OK, "%s", err.msg);
    ck_assert_int_eq(s.depth, 5);
    unlink(p);
    p = write_tmp("[lesson]\ntitle = t\n[run]\ndepht = 5\n");
    ck_assert_int_eq(gs_spec_load_ini(&s, p, &err), GS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, ":4:") && strstr(err.msg, "depht"), "%s", err.msg);
    unlink(p);
    ck_assert_int_eq(gs_spec_load_ini(&s, "/nonexistent/x.ini", &err), GS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.ini"));
}
END_TEST

START_TEST(test_apply_args)
{
    GsSpec s;
    gs_spec_default(&s);
    GsError err;
    ck_assert_int_eq(gs_spec_apply_args(&s, "--act relu --init he_normal --standardize", &err),
                     GS_OK);
    ck_assert_int_eq(s.act.kind, GS_ACT_RELU);
    ck_assert_int_eq(s.init.kind, GS_INIT_HE_NORMAL);
    ck_assert_int_eq(s.standardize, 1);
    ck_assert_int_eq(gs_spec_apply_args(&s, "--lr=0.5", &err), GS_OK);
    ck_assert_double_eq(s.lr, 0.5);
    ck_assert_int_eq(gs_spec_apply_args(&s, "--lr", &err), GS_ERR_INVALID);
    ck_assert_int_eq(gs_spec_apply_args(&s, "--depth 4 --act nope", &err), GS_ERR_INVALID);
    ck_assert_int_ne(s.depth, 4); /* untouched on failure */
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("spec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bad_values);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_loss_auto_and_validate);
    tcase_add_test(tc, test_ini);
    tcase_add_test(tc, test_apply_args);
    suite_add_tcase(s, tc);
    return s;
}
