/* CLI tests: run the real gradscope binary on real files. Success paths write what they
 * promise; every bad input exits 2 with one line naming the value and leaves no file. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"
#include "gradscope/spec.h"
#include "gradscope/trace.h"
#include "runner.h"

#define tmpdir gs_tmpdir
#define out gs_out
#define setup gs_cli_setup
#define teardown gs_cli_teardown
#define gs(...) gs_cli_run(1, __VA_ARGS__)
#define data gs_test_data

static int count_files(void)
{
    return gs_count_entries(gs_tmpdir);
}

/* A bad input: exit 2, exactly one line of output that contains needle, no file left. */
static void expect_usage(const char *needle, const char *fmt, const char *arg)
{
    int rc = gs(fmt, arg);
    ck_assert_msg(rc == 2, "exit %d for '%s': %.3000s", rc, arg, out);
    ck_assert_msg(strstr(out, needle) != NULL, "output lacks '%s': %.3000s", needle, out);
    char *nl = strchr(out, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "more than one line: %.3000s", out);
    ck_assert_msg(count_files() == 0, "files left behind for '%s'", arg);
}

#define SMALL "--depth 3 --width 8 --steps 4 --samples 64 --no-report"

START_TEST(test_bad_setup_values)
{
    expect_usage("tanhh", "run " SMALL " --act %s --trace t.csv", "tanhh");
    expect_usage("he_normall", "run " SMALL " --init %s --trace t.csv", "he_normall");
    expect_usage("adamm", "run " SMALL " --opt %s --trace t.csv", "adamm");
    expect_usage("group", "run " SMALL " --norm %s --trace t.csv", "group");
    expect_usage("linear", "run " SMALL " --schedule %s --trace t.csv", "linear");
    expect_usage("'abc'", "run " SMALL " --lr %s --trace t.csv", "abc");
    expect_usage("0", "run " SMALL " --depth %s --trace t.csv", "0");
    expect_usage("-3", "run " SMALL " --depth %s --trace t.csv", "-3");
    expect_usage("1e9", "run " SMALL " --width %s --trace t.csv", "1e9");
    expect_usage("10x", "run " SMALL " --steps %s --trace t.csv", "10x");
    expect_usage("--residual 5", "run " SMALL " --residual %s --trace t.csv", "5");
    expect_usage("GiB", "run --depth 200 --width %s --steps 2 --trace t.csv", "60000");
    expect_usage("--bogus", "run " SMALL " %s --trace t.csv", "--bogus");
}
END_TEST

START_TEST(test_recurrent_bad_input)
{
    expect_usage("'transformer'", "run " SMALL " --arch %s --trace t.csv", "transformer");
    expect_usage("--arch rnn", "run " SMALL " --data %s --trace t.csv", "adding");
    expect_usage("not a sequence task",
                 "run --arch lstm --steps 2 --data %s --no-report "
                 "--trace t.csv",
                 "spiral");
    expect_usage("--seq-len", "run --arch rnn --steps 2 --seq-len %s --no-report --trace t.csv",
                 "0");
    expect_usage("--act relu", "run --arch gru --steps 2 --act %s --no-report --trace t.csv",
                 "relu");
    /* the copy task needs T >= 2L+1: the message names the options behind it */
    expect_usage("--seq-len 2",
                 "run --arch lstm --steps 2 --data copy --seq-len %s --no-report "
                 "--trace t.csv",
                 "2");
    expect_usage("GiB", "run --arch lstm --width 40000 --seq-len %s --steps 2 --trace t.csv",
                 "5000");
}
END_TEST

START_TEST(test_recurrent_run_and_export)
{
    int rc = gs("run --arch lstm --depth 2 --width 8 --seq-len 6 --steps 3 --samples 32 --batch 8 "
                "--no-report --trace t.csv --export-weights w");
    ck_assert_msg(rc == 0, "%.3000s", out);
    char path[512];
    snprintf(path, sizeof path, "%s/t.csv", tmpdir);
    GsTrace *t = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_trace_read_csv(path, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_int_eq(gs_trace_n_steps(t), 3);
    ck_assert_int_eq(gs_trace_n_layers(t), 5); /* ih, hh per layer, and the head */
    ck_assert_str_eq(gs_trace_layer_name(t, 0), "rnn.weight_ih_l0");
    ck_assert_str_eq(gs_trace_layer_kind(t, 3), "rnn_hh");
    ck_assert_str_eq(gs_trace_layer_name(t, 4), "out");
    ck_assert_int_eq(gs_trace_n_series(t), 2);
    ck_assert_str_eq(gs_trace_series_name(t, 1), "rnn.h_l1");
    ck_assert_int_eq(gs_trace_series_len(t, 2, 0), 6);
    for (size_t k = 0; k < 2; k++)
        for (size_t tt = 1; tt <= 6; tt++) {
            double h = gs_trace_series_get(t, 0, k, GS_TCOL_H_GRAD_NORM, tt);
            double c = gs_trace_series_get(t, 0, k, GS_TCOL_C_GRAD_NORM, tt);
            ck_assert_msg(h > 0 && isfinite(h) && c > 0 && isfinite(c), "k %zu t %zu", k, tt);
        }
    ck_assert_ptr_nonnull(gs_trace_meta_get(t, "rnn_sigma_max_l1"));
    ck_assert_str_eq(gs_trace_meta_get(t, "arch"), "lstm");
    gs_trace_destroy(t);
    const char *files[] = {
        "rnn.weight_ih_l0.npy", "rnn.weight_hh_l1.npy", "rnn.bias_ih_l1.npy", "rnn.bias_hh_l0.npy",
        "out.weight.npy",       "out.bias.npy",         "data.x.npy",         "data.y.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/w/%s", tmpdir, files[i]);
        ck_assert_msg(stat(path, &sb) == 0 && sb.st_size >= 128, "%s", path);
    }
    /* an mlp exports its step-0 batch too */
    rc = gs("run " SMALL " --export-weights w2");
    ck_assert_msg(rc == 0, "%.3000s", out);
    snprintf(path, sizeof path, "%s/w2/data.x.npy", tmpdir);
    ck_assert_int_eq(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/w2/data.y.npy", tmpdir);
    ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_bad_data)
{
    expect_usage("nope.csv", "run " SMALL " --data %s --trace t.csv", "/nonexistent/nope.csv");
    char a[1200];
    snprintf(a, sizeof a, "%s", data("cli_nonnum.csv"));
    expect_usage(":3:", "run " SMALL " --data %s --trace t.csv", a);
    expect_usage("x4", "run " SMALL " --data %s --trace t.csv", a);
    snprintf(a, sizeof a, "%s", data("cli_ragged.csv"));
    expect_usage(":3", "run " SMALL " --data %s --trace t.csv", a);
    snprintf(a, sizeof a, "%s", data("cli_empty.csv"));
    expect_usage("cli_empty.csv", "run " SMALL " --data %s --trace t.csv", a);
    snprintf(a, sizeof a, "%s --target zz", data("cli_ok.csv"));
    expect_usage("zz", "run " SMALL " --data %s --trace t.csv", a);
    snprintf(a, sizeof a, "%s --loss xent", data("cli_badclass.csv"));
    expect_usage("-1", "run " SMALL " --data %s --trace t.csv", a);
    expect_usage(":2", "run " SMALL " --config %s --trace t.csv", data("cli_badkey.ini"));
    expect_usage("widht", "run " SMALL " --config %s --trace t.csv", data("cli_badkey.ini"));
    expect_usage("missing", "run " SMALL " --trace %s", "missing/dir/t.csv");
}
END_TEST

START_TEST(test_run_writes_trace_and_weights)
{
    int rc = gs("run " SMALL " --norm batch --trace t.csv --export-weights w");
    ck_assert_msg(rc == 0, "%.3000s", out);
    char path[512];
    snprintf(path, sizeof path, "%s/t.csv", tmpdir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int meta = 0, rows = 0, header = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            meta++;
        else if (!header) {
            header = 1;
            ck_assert_msg(!strncmp(line,
                                   "step,layer,name,kind,loss,lr,grad_norm,bias_grad_norm,"
                                   "act_grad_norm,grad_max_abs,weight_norm,update_ratio,"
                                   "act_mean,act_std,saturation,dead_frac,nonfinite",
                                   strlen("step,layer,loss,lr,grad_norm,bias_grad_norm,"
                                          "act_grad_norm,grad_max_abs,weight_norm,update_ratio,"
                                          "act_mean,act_std,saturation,dead_frac,nonfinite")),
                          "%s", line);
        } else
            rows++;
    }
    fclose(f);
    ck_assert_int_ge(meta, 20);
    ck_assert_int_eq(rows, 4 * 4); /* 4 steps x (3 hidden + output) */
    /* one file per tensor, named as the trace names the layers (the head is out) */
    const char *files[] = {"dense1.weight.npy", "dense1.bias.npy", "norm1.weight.npy",
                           "norm3.bias.npy",    "out.weight.npy",  "out.bias.npy"};
    for (size_t i = 0; i < 6; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/w/%s", tmpdir, files[i]);
        ck_assert_msg(stat(path, &sb) == 0 && sb.st_size > 64, "%s", path);
    }
    snprintf(path, sizeof path, "%s/w", tmpdir);
    /* 3 x dense + norm, out, and the step-0 batch (data.x.npy, data.y.npy) */
    ck_assert_int_eq(gs_count_entries(path), 4 * 3 + 2 + 2);
}
END_TEST

START_TEST(test_config_and_override)
{
    int rc = gs("run --config %s --depth 2 --no-report --trace t.csv", data("cli_ok.ini"));
    ck_assert_msg(rc == 0, "%.3000s", out);
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/t.csv", tmpdir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int depth = -1, width = -1;
    while (fgets(line, sizeof line, f) && line[0] == '#') {
        sscanf(line, "# depth = %d", &depth);
        sscanf(line, "# width = %d", &width);
    }
    fclose(f);
    ck_assert_int_eq(depth, 2); /* command line overrides the file */
    ck_assert_int_eq(width, 8); /* from the file */
}
END_TEST

START_TEST(test_plot_bad_input)
{
    expect_usage("No such file", "plot %s -o r.png", "/nonexistent/trace.csv");
    expect_usage("empty trace", "plot %s -o r.png", data("cli_empty.csv"));
    expect_usage("'grad_norm'", "plot %s -o r.png", data("trace_bad_missing.csv"));
    expect_usage(":3:3:", "plot %s -o r.png", data("trace_bad_nonnumeric.csv"));
    expect_usage("abc", "plot %s -o r.png", data("trace_bad_nonnumeric.csv"));
    expect_usage("missing", "plot %s -o missing/r.png", data("trace_min.csv"));
    expect_usage(".jpg", "plot %s -o r.jpg", data("trace_min.csv"));
    expect_usage("'nope'", "plot %s --metric nope", data("trace_min.csv"));
}
END_TEST

START_TEST(test_plot_success)
{
    /* A foreign trace with only step, layer, grad_norm renders; so does one full of NaN. */
    ck_assert_msg(gs("plot %s -o min.png --size 900x600", data("trace_min.csv")) == 0, "%.3000s",
                  out);
    char path[512];
    snprintf(path, sizeof path, "%s/nan.csv", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "step,layer,loss,grad_norm\n");
    for (int s = 0; s < 5; s++)
        for (int l = 1; l <= 3; l++)
            fprintf(f, "%d,%d,nan,nan\n", s, l);
    fclose(f);
    ck_assert_msg(gs("plot nan.csv -o nan.png") == 0, "%.3000s", out);
    ck_assert_msg(gs("run --depth 3 --width 8 --steps 5 --samples 64 -o r.svg --trace t.csv -q") ==
                      0,
                  "%.3000s", out);
    ck_assert_msg(gs("plot t.csv -o r.pdf --relative --bin max -q") == 0, "%.3000s", out);
    const char *files[] = {"min.png", "nan.png", "r.svg", "r.pdf"};
    const char *magic[] = {"\x89PNG", "\x89PNG", "<", "%PDF"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "%s missing", files[i]);
        char head[8] = {0};
        ck_assert_uint_gt(fread(head, 1, sizeof head, f), 3);
        fclose(f);
        ck_assert_msg(!strncmp(head, magic[i], strlen(magic[i])), "%s: bad signature", files[i]);
    }
}
END_TEST

START_TEST(test_help)
{
    ck_assert_int_eq(gs("run --help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "--clip-norm"));
    ck_assert_ptr_nonnull(strstr(out, "default"));
    ck_assert_int_eq(gs("--help"), 0);
    ck_assert_int_eq(gs("frobnicate"), 2);
    ck_assert_int_eq(gs("%s", ""), 2);
}
END_TEST

/* Misspellings get the closest valid name; a bare option names what it lacks; `help CMD`. */
START_TEST(test_did_you_mean)
{
    expect_usage("unknown command 'rnu'; did you mean 'run'?", "%s", "rnu");
    expect_usage("did you mean 'diagnose'?", "%s t.csv", "diagnsoe");
    expect_usage("unknown option '--dpeth'; did you mean '--depth'?", "run %s 3", "--dpeth");
    expect_usage("did you mean '--json'?", "diagnose t.csv %s x.json", "--jsno");
    expect_usage("did you mean 'relu'?", "run " SMALL " --act %s", "rleu");
    expect_usage("did you mean 'he_normal'?", "run " SMALL " --init %s", "he_norml");
    expect_usage("did you mean 'vanishing'?", "diagnose t.csv --fail-on %s", "vanishng");
    expect_usage("option --depth needs a value", "run %s", "--depth");
    expect_usage("option --depth needs a value (got the option '--width')", "run %s --width 3",
                 "--depth");
    expect_usage("option -o needs a value", "plot t.csv %s --json x.json", "-o");
    expect_usage("option --json needs a value", "diagnose t.csv %s", "--json");
    expect_usage("option -o needs a value", "plot t.csv %s", "-o");
    expect_usage("option --standardize takes no value", "run %s", "--standardize=yes");
    expect_usage("ambiguous", "run %s 3", "--d");
    /* an invalid --metric lists the valid columns */
    expect_usage("act_grad_norm", "plot %s --metric nope", data("trace_min.csv"));
    expect_usage("update_ratio", "plot %s --metric nope", data("trace_min.csv"));
    /* help CMD is CMD --help */
    ck_assert_int_eq(gs("help run"), 0);
    static char help[sizeof gs_out];
    snprintf(help, sizeof help, "%s", out);
    ck_assert_int_eq(gs("run --help"), 0);
    ck_assert_str_eq(help, out);
    ck_assert_ptr_nonnull(strstr(help, "--clip-norm"));
    expect_usage("did you mean 'plot'?", "help %s", "plto");
    /* PyTorch's init names run */
    ck_assert_msg(gs("run " SMALL " --init kaiming_normal*0.5 --trace t.csv") == 0, "%.3000s", out);
    ck_assert_int_eq(gs("run " SMALL " --init kaiming_uniform -q"), 0);
}
END_TEST

/* Runs a command whose stderr goes to err.txt (its stdout discarded), then puts that
 * stderr into out. Returns the exit status. */
static int gs_err(const char *args)
{
    int rc = gs_cli_run(0, "%s; exit $?", args); /* the trailing 2>/dev/null hits exit */
    char path[512];
    snprintf(path, sizeof path, "%s/err.txt", tmpdir);
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f) {
        size_t n = fread(out, 1, sizeof gs_out - 1, f);
        out[n] = '\0';
        fclose(f);
        unlink(path);
    }
    return rc;
}

/* stdout of a command is one JSON document and nothing else. */
static void expect_json_stdout(const char *what)
{
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "%s: stdout is not JSON (%s at %d): %.2000s", what, e.text, e.line,
                  out);
    json_decref(j);
}

/* With --json -, stdout carries only the JSON; status lines go to stderr. */
START_TEST(test_json_stdout_only)
{
    ck_assert_int_eq(gs("run " SMALL " --trace t.csv -q"), 0);
    const char *cmds[] = {"run " SMALL " --json -",
                          "run " SMALL " --json - --cure --act sigmoid --depth 6",
                          "run --depth 3 --width 8 --steps 4 --samples 64 -o r.png --json -",
                          "plot t.csv -o p.png --json -",
                          "diagnose t.csv --json -",
                          "diagnose t.csv --json - -v",
                          "predict --depth 3 --json -"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int rc = gs_cli_run(0, "%s", cmds[i]);
        ck_assert_msg(rc == 0, "%s: exit %d", cmds[i], rc);
        expect_json_stdout(cmds[i]);
    }
    /* the status line is still there, on stderr */
    ck_assert_int_eq(gs_err("run " SMALL " --json - 2>err.txt >/dev/null"), 0);
    ck_assert_msg(strstr(out, "gradscope run:") != NULL, "%.2000s", out);
    ck_assert_int_eq(gs_err("plot t.csv -o p.png --json - 2>err.txt >/dev/null"), 0);
    ck_assert_msg(strstr(out, "gradscope plot:") != NULL, "%.2000s", out);
}
END_TEST

/* A CSV target of integers 0..K-1 trains with xent and K classes, said in one stderr line;
 * --loss mse overrides; a real-valued target stays regression. */
START_TEST(test_csv_class_targets)
{
    char path[512];
    snprintf(path, sizeof path, "%s/d.csv", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "a,b,y\n");
    for (int i = 0; i < 30; i++)
        fprintf(f, "%g,%g,%d\n", 0.1 * i, 1.0 - 0.03 * i, i % 3);
    fclose(f);
    snprintf(path, sizeof path, "%s/r.csv", tmpdir);
    f = fopen(path, "w");
    fprintf(f, "a,y\n");
    for (int i = 0; i < 30; i++)
        fprintf(f, "%g,%g\n", 0.1 * i, 0.5 * i);
    fclose(f);
    int rc = gs_err("run --depth 2 --width 4 --steps 3 --data d.csv --no-report "
                    "--trace t.csv 2>err.txt >/dev/null");
    ck_assert_msg(rc == 0, "%.2000s", out);
    ck_assert_msg(strstr(out, "d.csv: target 'y' holds integers 0..2: using xent with 3 classes "
                              "(--loss mse to override)") != NULL,
                  "%.2000s", out);
    ck_assert_ptr_null(strchr(out, '\n') == NULL ? NULL : strchr(strchr(out, '\n') + 1, '\n'));
    snprintf(path, sizeof path, "%s/t.csv", tmpdir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int xent = 0, outputs = 0;
    while (fgets(line, sizeof line, f) && line[0] == '#') {
        xent |= !strcmp(line, "# loss_used = xent\n");
        sscanf(line, "# data_outputs = %d", &outputs);
    }
    fclose(f);
    ck_assert(xent);
    ck_assert_int_eq(outputs, 3);
    /* --loss mse overrides, silently */
    rc = gs_err("run --depth 2 --width 4 --steps 3 --data d.csv --loss mse --no-report "
                "--trace t.csv 2>err.txt >/dev/null");
    ck_assert_msg(rc == 0 && !strstr(out, "xent"), "%.2000s", out);
    f = fopen(path, "r");
    int mse = 0;
    while (fgets(line, sizeof line, f) && line[0] == '#')
        mse |= !strcmp(line, "# loss_used = mse\n");
    fclose(f);
    ck_assert(mse);
    /* a real-valued target: regression, nothing said */
    rc = gs_err("run --depth 2 --width 4 --steps 3 --data r.csv --no-report 2>err.txt "
                ">/dev/null");
    ck_assert_msg(rc == 0 && !strstr(out, "xent"), "%.2000s", out);
    /* predict follows the same rule */
    rc = gs_err("predict --depth 2 --data d.csv 2>err.txt >/dev/null");
    ck_assert_msg(rc == 0 && strstr(out, "using xent with 3 classes"), "%.2000s", out);
}
END_TEST

/* Reads tmpdir/name whole into a malloc'd buffer (NULL when missing); *n gets its size. */
static char *slurp(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* A recurrent run is bit-identical run after run (truncated BPTT and clipping included). */
START_TEST(test_recurrent_deterministic)
{
    const char *cmd = "run --arch gru --depth 2 --width 8 --seq-len 7 --bptt 3 --clip-norm 0.5 "
                      "--data parity --steps 4 --samples 40 --batch 8 --no-report --trace %s";
    int rc = gs(cmd, "a.csv");
    ck_assert_msg(rc == 0, "%.3000s", out);
    rc = gs(cmd, "b.csv");
    ck_assert_msg(rc == 0, "%.3000s", out);
    size_t na = 0, nb = 0;
    char *a = slurp("a.csv", &na), *b = slurp("b.csv", &nb);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_gt(na, 1000);
    ck_assert_msg(na == nb && memcmp(a, b, na) == 0, "two identical recurrent runs differ");
    ck_assert_ptr_nonnull(strstr(a, "# bptt = 3"));
    free(a);
    free(b);
}
END_TEST

/* The command exits 2 with one line naming both needles, and file keeps its bytes. */
static void expect_refused(const char *cmd, const char *n1, const char *n2, const char *file)
{
    size_t n0 = 0, n1b = 0;
    char *before = slurp(file, &n0);
    int rc = gs("%s", cmd);
    ck_assert_msg(rc == 2, "exit %d for '%s': %.3000s", rc, cmd, out);
    ck_assert_msg(strstr(out, n1) && strstr(out, n2), "'%s': output lacks '%s'/'%s': %.3000s", cmd,
                  n1, n2, out);
    char *nl = strchr(out, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "more than one line: %.3000s", out);
    char *after = slurp(file, &n1b);
    ck_assert_msg(before && after && n0 == n1b && !memcmp(before, after, n0), "%s changed", file);
    free(before);
    free(after);
}

/* An output is never an input or another output. */
START_TEST(test_same_file_refused)
{
    ck_assert_int_eq(gs("run " SMALL " --trace t.csv -q"), 0);
    char path[512];
    expect_refused("diagnose t.csv --json t.csv", "--json 't.csv'", "TRACE", "t.csv");
    expect_refused("plot t.csv -o o.png --json t.csv", "--json 't.csv'", "TRACE", "t.csv");
    expect_refused("plot t.csv -o o.png --json ./o.png", "-o 'o.png'", "--json './o.png'", "t.csv");
    snprintf(path, sizeof path, "%s/o.png", tmpdir);
    ck_assert_int_eq(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/d.csv", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "a,y\n0.1,0.5\n0.2,0.7\n0.3,0.1\n");
    fclose(f);
    expect_refused("run " SMALL " --data d.csv --trace d.csv", "--trace 'd.csv'", "--data 'd.csv'",
                   "d.csv");
    /* the same file through another path, and by its future name */
    snprintf(path, sizeof path, "%s/sub", tmpdir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    expect_refused("run " SMALL " --data sub/../d.csv --json ./d.csv", "--json './d.csv'",
                   "--data 'sub/../d.csv'", "d.csv");
    expect_refused("run " SMALL " --trace x.csv --json sub/../x.csv", "--trace 'x.csv'",
                   "--json 'sub/../x.csv'", "d.csv");
    expect_refused("run --depth 2 --width 4 --steps 2 --samples 32 --trace x.png -o x.png",
                   "-o "
                   "'x.png'",
                   "--trace 'x.png'", "d.csv");
    snprintf(path, sizeof path, "%s/f.ini", tmpdir);
    f = fopen(path, "w");
    fprintf(f, "depth = 2\n");
    fclose(f);
    expect_refused("run " SMALL " --config f.ini --json f.ini", "--json 'f.ini'",
                   "--config 'f.ini'", "f.ini");
    expect_refused("predict --config f.ini --json f.ini", "--json 'f.ini'", "--config 'f.ini'",
                   "f.ini");
    expect_refused("run " SMALL " --export-weights w --trace w", "--export-weights 'w'",
                   "--trace 'w'", "f.ini");
    snprintf(path, sizeof path, "%s/x.csv", tmpdir);
    ck_assert_int_eq(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/w", tmpdir);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* devices may be named twice */
    ck_assert_msg(gs("run " SMALL " --trace /dev/null --json /dev/null -q") == 0, "%.3000s", out);
    struct stat sb;
    ck_assert_int_eq(stat("/dev/null", &sb), 0);
    ck_assert(S_ISCHR(sb.st_mode));
}
END_TEST

/* Exit codes and reasons for the small cases; outputs get 0666 & ~umask. */
START_TEST(test_exit_codes_and_modes)
{
    expect_usage("empty kind", "diagnose t.csv --fail-on %s", ",");
    expect_usage("empty kind", "diagnose t.csv --fail-on %s", "vanishing,");
    expect_usage("is a directory", "run " SMALL " --config %s", ".");
    expect_usage("is a directory", "predict --json %s", ".");
    const char *bin = getenv("GS_BIN") ? getenv("GS_BIN") : "build/gradscope";
    ck_assert_int_eq(gs("--version >/dev/null; umask 022; %s run " SMALL " --trace t.csv --json "
                        "f.json -q && %s predict --depth 3 --json p.json >/dev/null && umask 027 "
                        "&& %s run " SMALL " --trace t2.csv --json f2.json -q",
                        bin, bin, bin),
                     0);
    const char *names[] = {"t.csv", "f.json", "p.json", "t2.csv", "f2.json"};
    mode_t want[] = {0644, 0644, 0644, 0640, 0640};
    for (int i = 0; i < 5; i++) {
        char path[512];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert_msg((sb.st_mode & 0777) == want[i], "%s: mode %o", names[i], sb.st_mode & 0777);
    }
}
END_TEST

/* Past `ulimit -f` a write fails with "File too large" (SIGXFSZ is ignored), leaving
 * neither the output nor its temporary file; the same for exported weights. */
START_TEST(test_file_size_limit)
{
    const char *bin = getenv("GS_BIN") ? getenv("GS_BIN") : "build/gradscope";
    int rc = gs("--version >/dev/null; ulimit -f 1; %s run " SMALL " --trace t.csv -q", bin);
    ck_assert_msg(rc == 2, "exit %d: %.3000s", rc, out);
    ck_assert_msg(strstr(out, "t.csv: File too large") != NULL, "%.3000s", out);
    ck_assert_int_eq(count_files(), 0);
    rc = gs("--version >/dev/null; ulimit -f 1; %s run --depth 2 --width 64 --steps 2 --samples "
            "32 --no-report --export-weights w -q",
            bin);
    ck_assert_msg(rc == 2, "exit %d: %.3000s", rc, out);
    ck_assert_msg(strstr(out, "File too large") && strstr(out, "w/dense") && !strstr(out, ".tmp."),
                  "%.3000s", out);
    ck_assert_int_eq(count_files(), 0); /* no half-filled w/, no w.tmp.* */
}
END_TEST

/* SIGTERM mid-run: exit 128+15 and no temporary file or directory left behind. */
START_TEST(test_sigterm_cleans_up)
{
    const char *bin = getenv("GS_BIN") ? getenv("GS_BIN") : "build/gradscope";
    int rc = gs("--version >/dev/null; %s run --depth 2 --width 4 --steps 100000000 --record-every "
                "10000000 --samples 32 "
                "--export-weights w --trace t.csv -o r.png -q & P=$!; n=0; "
                "while [ $n -lt 50 ] && ! ls -d w.tmp.* >/dev/null 2>&1; do sleep 0.1; n=$((n+1)); "
                "done; ls -d w.tmp.* >/dev/null 2>&1 && echo started; kill -TERM $P; wait $P",
                bin);
    ck_assert_msg(rc == 143, "exit %d: %.3000s", rc, out);
    ck_assert_msg(strstr(out, "started") != NULL, "%.3000s", out);
    ck_assert_int_eq(count_files(), 0);
}
END_TEST

/* spec -> trace metadata -> spec is exact for non-round numbers. */
START_TEST(test_metadata_round_trip)
{
    const char *args = "--lr 0.0123456789 --schedule exp:0.99912345 --opt momentum:0.912345678 "
                       "--res-scale 0.7654321 --act leaky_relu:0.0123456789";
    ck_assert_msg(gs("run " SMALL " %s --trace t.csv -q", args) == 0, "%.3000s", out);
    GsSpec want, got;
    gs_spec_default(&want);
    gs_spec_default(&got);
    GsError err = {{0}};
    ck_assert_int_eq(gs_spec_apply_args(&want, "--depth 3 --width 8 --steps 4 --samples 64", &err),
                     GS_OK);
    ck_assert_int_eq(gs_spec_apply_args(&want, args, &err), GS_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/t.csv", tmpdir);
    GsTrace *t = NULL;
    ck_assert_msg(gs_trace_read_csv(path, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    for (size_t i = 0; i < gs_spec_key_count(); i++) {
        const char *v = gs_trace_meta_get(t, gs_spec_key_name(i));
        ck_assert_msg(v != NULL, "metadata lacks %s", gs_spec_key_name(i));
        ck_assert_msg(gs_spec_set(&got, gs_spec_key_name(i), v, &err) == GS_OK, "%s", err.msg);
    }
    gs_trace_destroy(t);
    ck_assert(got.lr == 0.0123456789);
    ck_assert(got.sched_gamma == 0.99912345);
    ck_assert(got.opt_param == 0.912345678);
    ck_assert(got.res_scale == 0.7654321);
    ck_assert(got.act.param == 0.0123456789);
    ck_assert(got.lr == want.lr && got.sched_gamma == want.sched_gamma &&
              got.opt_param == want.opt_param);
}
END_TEST

/* FNV-1a of every regular file in the test directory, in name order, and their count. */
static unsigned long long dir_digest(int *n_files)
{
    DIR *d = opendir(tmpdir);
    ck_assert(d);
    char names[64][256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.')
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort by name */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
    unsigned long long h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        char p[600];
        snprintf(p, sizeof p, "%.255s/%.255s", tmpdir, names[i]);
        for (const char *c = names[i]; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ull;
        FILE *f = fopen(p, "rb");
        int ch;
        while (f && (ch = fgetc(f)) != EOF)
            h = (h ^ (unsigned)ch) * 1099511628211ull;
        if (f)
            fclose(f);
    }
    *n_files = n;
    return h;
}

static void write_file(const char *name, const char *text, size_t len)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    ck_assert(f);
    fwrite(text, 1, len, f);
    fclose(f);
}

/* The malformed-input corpus: every case exits 2 with one line naming the offending value,
 * and no file is created or changed (checksums of the whole directory before and after). */
START_TEST(test_malformed_corpus)
{
    static const char good_trace[] = "step,layer,grad_norm\n0,1,0.5\n0,2,0.4\n1,1,0.5\n1,2,0.4\n";
    write_file("good.csv", good_trace, sizeof good_trace - 1);
    write_file("bom.csv", "\xef\xbb\xbfstep,layer,grad_norm\n0,1,x1\n", 32);
    write_file("badcell.csv", "step,layer,grad_norm\n0,1,0.5\n0,2,abc\n1,1,0.5\n1,2,0.4\n", 52);
    write_file("nostep.csv", "layer,grad_norm\n1,0.5\n", 22);
    write_file("nul.ini", "depth = 3\nwidth = 8\0\nact = relu\n", 31);
    write_file("cont.ini", "depth = 2\n  7\n", 14);
    write_file("data.csv", "a,b,y\n1,2,0\n3,4,1\n5,x,0\n", 24);
    const struct {
        const char *cmd, *needle;
    } cases[] = {
        {"diagnose good.csv --json good.csv", "good.csv"},
        {"plot good.csv -o o.png --json good.csv", "good.csv"},
        {"run " SMALL " --data data.csv --trace data.csv", "data.csv"},
        {"run " SMALL " --trace x.csv --json x.csv", "x.csv"},
        {"diagnose badcell.csv", "badcell.csv:3"},
        {"diagnose bom.csv", "bom.csv:2"},
        {"diagnose nostep.csv", "step"},
        {"run --config nul.ini " SMALL, "nul.ini"},
        {"run --config cont.ini " SMALL, "cont.ini:2"},
        {"run " SMALL " --data data.csv", "data.csv:4"},
        {"run --config . " SMALL, "directory"},
        {"diagnose good.csv --fail-on ,", "fail-on"},
        {"run " SMALL " --dpeth 3", "--depth"},
        {"run " SMALL " --act rleu", "relu"},
        {"diagnose /dev/zero", "/dev/zero"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n0, n1;
        unsigned long long h0 = dir_digest(&n0);
        int rc = gs("%s", cases[i].cmd);
        unsigned long long h1 = dir_digest(&n1);
        ck_assert_msg(rc == 2, "'%s': exit %d: %.2000s", cases[i].cmd, rc, out);
        ck_assert_msg(strstr(out, cases[i].needle) != NULL, "'%s' does not name '%s': %.2000s",
                      cases[i].cmd, cases[i].needle, out);
        char *nl = strchr(out, '\n');
        ck_assert_msg(nl && nl[1] == '\0', "'%s': more than one line: %.2000s", cases[i].cmd, out);
        ck_assert_msg(n0 == n1 && h0 == h1, "'%s' created or changed a file", cases[i].cmd);
    }
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bad_setup_values);
    tcase_add_test(tc, test_bad_data);
    tcase_add_test(tc, test_recurrent_bad_input);
    tcase_add_test(tc, test_recurrent_run_and_export);
    tcase_add_test(tc, test_recurrent_deterministic);
    tcase_add_test(tc, test_run_writes_trace_and_weights);
    tcase_add_test(tc, test_config_and_override);
    tcase_add_test(tc, test_plot_bad_input);
    tcase_add_test(tc, test_plot_success);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_did_you_mean);
    tcase_add_test(tc, test_json_stdout_only);
    tcase_add_test(tc, test_csv_class_targets);
    tcase_add_test(tc, test_same_file_refused);
    tcase_add_test(tc, test_exit_codes_and_modes);
    tcase_add_test(tc, test_file_size_limit);
    tcase_add_test(tc, test_sigterm_cleans_up);
    tcase_add_test(tc, test_metadata_round_trip);
    tcase_add_test(tc, test_malformed_corpus);
    suite_add_tcase(s, tc);
    return s;
}
