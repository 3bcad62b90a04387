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

/* Sets key=value pairs (NULL-terminated) on a default spec; fails the test on error. */
static GsSpec spec_with(const char *const *kv)
{
    GsSpec s;
    gs_spec_default(&s);
    GsError err = {{0}};
    for (; kv[0]; kv += 2)
        ck_assert_msg(gs_spec_set(&s, kv[0], kv[1], &err) == GS_OK, "%s=%s: %s", kv[0], kv[1],
                      err.msg);
    return s;
}

static void expect_invalid(const GsSpec *s, const char *needle)
{
    GsError err = {{0}};
    ck_assert_int_eq(gs_spec_validate(s, 0, 0, &err), GS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
}

START_TEST(test_recurrent_keys)
{
    GsError err = {{0}};
    /* an arch brings its depth and data set until they are given, in either order */
    const char *a[] = {"arch", "lstm", NULL};
    GsSpec s = spec_with(a);
    ck_assert_int_eq(s.depth, 1);
    ck_assert_int_eq(s.data.kind, GS_DATA_ADDING);
    ck_assert_int_eq(gs_spec_loss(&s), GS_LOSS_MSE);
    ck_assert_int_eq(gs_spec_validate(&s, 0, 0, &err), GS_OK);
    const char *b[] = {"depth", "3", "data", "parity", "arch", "gru", NULL};
    s = spec_with(b);
    ck_assert_int_eq(s.depth, 3);
    ck_assert_int_eq(s.data.kind, GS_DATA_PARITY);
    ck_assert_int_eq(gs_spec_loss(&s), GS_LOSS_XENT);
    const char *c[] = {"arch", "rnn", "arch", "mlp", NULL};
    s = spec_with(c);
    ck_assert_int_eq(s.depth, 8);
    ck_assert_int_eq(s.data.kind, GS_DATA_SPIRAL);
    /* values read back through the key table */
    const char *d[] = {"arch",        "lstm", "init-hh", "orthogonal:1.5",
                       "forget-bias", "3",    "seq-len", "60",
                       "bptt",        "10",   NULL};
    s = spec_with(d);
    char buf[256];
    gs_spec_get(&s, "init-hh", buf, sizeof buf);
    ck_assert_str_eq(buf, "orthogonal:1.5");
    gs_spec_get(&s, "forget-bias", buf, sizeof buf);
    ck_assert_str_eq(buf, "3");
    gs_spec_get(&s, "init", buf, sizeof buf);
    ck_assert_str_eq(buf, "default");
    GsRnnConfig cfg;
    ck_assert_int_eq(gs_spec_rnn_config(&s, 2, 1, 0, 16, &cfg, &err), GS_OK);
    ck_assert_int_eq(cfg.cell, GS_CELL_LSTM);
    ck_assert_int_eq(cfg.has_forget_bias, 1);
    ck_assert(cfg.forget_bias == 3.0);
    ck_assert_int_eq((int)cfg.seq_len, 60);
    ck_assert_int_eq((int)cfg.bptt, 10);
    ck_assert_int_eq(cfg.init_ih_default, 1);
    ck_assert_int_eq(cfg.init_hh.kind, GS_HH_SCHEME);
    const char *e[] = {"arch", "rnn", "init-hh", "identity", "act", "relu", NULL};
    s = spec_with(e);
    gs_spec_get(&s, "init-hh", buf, sizeof buf);
    ck_assert_str_eq(buf, "identity:1");
    ck_assert_int_eq(gs_spec_rnn_config(&s, 2, 1, 0, 16, &cfg, &err), GS_OK);
    ck_assert_int_eq(cfg.cell, GS_CELL_RNN_RELU);
    const char *f[] = {"arch", "lstm", "forget-bias", "chrono", NULL};
    s = spec_with(f);
    ck_assert_int_eq(gs_spec_rnn_config(&s, 2, 1, 0, 16, &cfg, &err), GS_OK);
    ck_assert_int_eq(cfg.chrono, 1);
    /* an mlp keeps its defaults, with xavier_normal as its default init */
    GsSpec m;
    gs_spec_default(&m);
    gs_spec_get(&m, "init", buf, sizeof buf);
    ck_assert_str_eq(buf, "xavier_normal");
    ck_assert_int_eq(m.arch, GS_ARCH_MLP);
    ck_assert_int_eq(gs_spec_rnn_config(&m, 2, 1, 0, 16, &cfg, &err), GS_ERR_INVALID);
}
END_TEST

START_TEST(test_recurrent_refusals)
{
    expect_bad("arch", "transformer", "'transformer'");
    expect_bad("forget-bias", "open", "'open'");
    expect_bad("seq-len", "0", "0");
    expect_bad("bptt", "-1", "-1");
    expect_bad("init-hh", "identity:-1", "identity");
    const char *a[] = {"data", "adding", NULL};
    expect_invalid((GsSpec[]){spec_with(a)}, "--arch rnn");
    const char *b[] = {"arch", "rnn", "data", "spiral", NULL};
    expect_invalid((GsSpec[]){spec_with(b)}, "not a sequence task");
    const char *c[] = {"arch", "lstm", "act", "relu", NULL};
    expect_invalid((GsSpec[]){spec_with(c)}, "--act relu");
    const char *d[] = {"arch", "rnn", "act", "sigmoid", NULL};
    expect_invalid((GsSpec[]){spec_with(d)}, "tanh or relu");
    const char *e[] = {"arch", "gru", "forget-bias", "1", NULL};
    expect_invalid((GsSpec[]){spec_with(e)}, "--forget-bias applies to --arch lstm");
    const char *f[] = {"init-hh", "orthogonal", NULL};
    expect_invalid((GsSpec[]){spec_with(f)}, "--init-hh applies to recurrent");
    const char *g[] = {"arch", "rnn", "norm", "batch", NULL};
    expect_invalid((GsSpec[]){spec_with(g)}, "--norm applies to --arch mlp");
    const char *h[] = {"arch", "rnn", "seq-len", "10", "bptt", "20", NULL};
    expect_invalid((GsSpec[]){spec_with(h)}, "--bptt 20");
    const char *i[] = {"arch", "rnn", "data", "copy", "loss", "mse", NULL};
    expect_invalid((GsSpec[]){spec_with(i)}, "--loss mse");
    /* the memory bound holds for recurrent nets too */
    const char *j[] = {"arch", "lstm", "width", "65536", "seq-len", "100000", NULL};
    GsSpec big = spec_with(j);
    GsError err = {{0}};
    ck_assert_int_eq(gs_spec_validate(&big, 2, 1, &err), GS_ERR_RANGE);
    ck_assert_msg(strstr(err.msg, "GiB") != NULL, "%s", err.msg);
}
END_TEST

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

static char *write_tmp_n(const char *text, size_t n)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/gs_spec_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static char *write_tmp(const char *text)
{
    return write_tmp_n(text, strlen(text));
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

/* Non-round numbers survive spec -> metadata text -> spec bit for bit: a trace's metadata
 * rebuilds the setup for predictions and sweep resume. */
START_TEST(test_round_trip_exact)
{
    GsSpec s;
    gs_spec_default(&s);
    const char *kv[][2] = {{"lr", "0.0123456789"},
                           {"schedule", "exp:0.99912345"},
                           {"opt", "momentum:0.912345678"},
                           {"res-scale", "0.1234567890123"},
                           {"act", "leaky_relu:0.0123456789"},
                           {"init", "he_normal*0.987654321"},
                           {"bias-init", "normal:0.0314159265358979"},
                           {"weight-decay", "0.000123456789"},
                           {"clip-norm", "1.23456789012345"},
                           {"input-scale", "3.3333333333333335"},
                           {"noise", "0.07000000000000001"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        GsError err;
        ck_assert_msg(gs_spec_set(&s, kv[i][0], kv[i][1], &err) == GS_OK, "%s", err.msg);
    }
    GsSpec t;
    gs_spec_default(&t);
    char buf[512];
    for (size_t i = 0; i < gs_spec_key_count(); i++) {
        ck_assert_int_eq(gs_spec_get(&s, gs_spec_key_name(i), buf, sizeof buf), GS_OK);
        ck_assert_int_eq(gs_spec_set(&t, gs_spec_key_name(i), buf, NULL), GS_OK);
    }
    ck_assert(t.lr == 0.0123456789);
    ck_assert(t.sched_gamma == 0.99912345);
    ck_assert(t.opt_param == 0.912345678);
    ck_assert(t.res_scale == 0.1234567890123);
    ck_assert(t.act.param == 0.0123456789);
    ck_assert(t.init.gain == 0.987654321);
    ck_assert(t.bias_init.param == 0.0314159265358979);
    ck_assert(t.weight_decay == 0.000123456789);
    ck_assert(t.clip_norm == 1.23456789012345);
    ck_assert(t.input_scale == 3.3333333333333335);
    ck_assert(t.noise == 0.07000000000000001);
    gs_spec_get(&s, "schedule", buf, sizeof buf);
    ck_assert_str_eq(buf, "exp:0.99912345");
    gs_spec_get(&s, "opt", buf, sizeof buf);
    ck_assert_str_eq(buf, "momentum:0.912345678");
    ck_assert_int_eq(gs_spec_set(&s, "schedule", "step:7:0.123456789012", NULL), GS_OK);
    gs_spec_get(&s, "schedule", buf, sizeof buf);
    ck_assert_str_eq(buf, "step:7:0.123456789012");
}
END_TEST

/* Misspelled enumerated values name the closest valid one; PyTorch's kaiming_* names are
 * aliases of he_*. */
START_TEST(test_suggestions_and_aliases)
{
    expect_bad("act", "rleu", "did you mean 'relu'?");
    expect_bad("init", "he_norml", "did you mean 'he_normal'?");
    expect_bad("init", "kaiming_norml", "did you mean 'kaiming_normal'?");
    expect_bad("norm", "btach", "did you mean 'batch'?");
    expect_bad("opt", "adma", "did you mean 'adam'?");
    expect_bad("schedule", "cosin", "did you mean 'cosine'?");
    expect_bad("data", "spirl", "did you mean 'spiral'?");
    GsSpec s;
    gs_spec_default(&s);
    GsError err;
    /* far from everything: no suggestion */
    ck_assert_int_eq(gs_spec_set(&s, "act", "zzzzzzzz", &err), GS_ERR_INVALID);
    ck_assert_ptr_null(strstr(err.msg, "did you mean"));
    const char *alias[][2] = {{"kaiming_normal", "he_normal"},
                              {"kaiming_uniform", "he_uniform"},
                              {"kaiming_normal*0.5", "he_normal*0.5"},
                              {"kaiming_uniform*2", "he_uniform*2"}};
    for (size_t i = 0; i < 4; i++) {
        GsSpec a, b;
        gs_spec_default(&a);
        gs_spec_default(&b);
        ck_assert_msg(gs_spec_set(&a, "init", alias[i][0], &err) == GS_OK, "%s", err.msg);
        ck_assert_int_eq(gs_spec_set(&b, "init", alias[i][1], NULL), GS_OK);
        ck_assert_int_eq(a.init.kind, b.init.kind);
        ck_assert(a.init.gain == b.init.gain);
    }
}
END_TEST

/* What inih would silently misread is refused with the line: NUL bytes, continuation
 * lines; quoted bytes are escaped; a directory says so. */
START_TEST(test_ini_strict)
{
    GsSpec s, before;
    gs_spec_default(&s);
    before = s;
    GsError err;
    static const char nul[] = "depth = 2\nwidth = 3\0\nact = relu\n";
    char *p = write_tmp_n(nul, sizeof nul - 1);
    ck_assert_int_eq(gs_spec_load_ini(&s, p, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, ":2:10:") && strstr(err.msg, "NUL"), "%s",
                  err.msg);
    ck_assert(spec_equal(&s, &before));
    unlink(p);
    p = write_tmp("[run]\ndepth = 2\n\n  7\n");
    ck_assert_int_eq(gs_spec_load_ini(&s, p, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, ":4:") && strstr(err.msg, "continu"), "%s", err.msg);
    ck_assert_int_eq(s.depth, before.depth);
    unlink(p);
    /* an indented first key and indented comments are fine */
    p = write_tmp("[run]\n  depth = 4\n  # note\nwidth = 5\n");
    ck_assert_msg(gs_spec_load_ini(&s, p, &err) == GS_OK, "%s", err.msg);
    ck_assert_int_eq(s.depth, 4);
    unlink(p);
    p = write_tmp("act = re\001lu\x1b[2J\n");
    ck_assert_int_eq(gs_spec_load_ini(&s, p, &err), GS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "re\\x01lu\\x1b[2J") && !strchr(err.msg, '\001') &&
                      !strchr(err.msg, '\033'),
                  "%s", err.msg);
    unlink(p);
    ck_assert_int_eq(gs_spec_load_ini(&s, "/tmp", &err), GS_ERR_IO);
    ck_assert_msg(strstr(err.msg, "is a directory"), "%s", err.msg);
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
    tcase_add_test(tc, test_round_trip_exact);
    tcase_add_test(tc, test_suggestions_and_aliases);
    tcase_add_test(tc, test_ini_strict);
    tcase_add_test(tc, test_recurrent_keys);
    tcase_add_test(tc, test_recurrent_refusals);
    suite_add_tcase(s, tc);
    return s;
}
