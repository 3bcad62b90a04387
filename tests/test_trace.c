/* Tests of the trace table, its CSV writer/reader and the .npy writer/reader. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradscope/trace.h"
#include "runner.h"

#include "cli_util.h"
#include "gradscope/data.h"
#include "gradscope/npy.h"
#include "trace/atomic_file.h"
#include "util/csv.h"

/* Fixture directory: $GS_TEST_DATA, else tests/data (run from the source root). */
static const char *data_dir(void)
{
    const char *d = getenv("GS_TEST_DATA");
    return d && *d ? d : "tests/data";
}

static char fixture_buf[4096];

static const char *fixture(const char *name)
{
    snprintf(fixture_buf, sizeof fixture_buf, "%s/%s", data_dir(), name);
    return fixture_buf;
}

/* A private scratch directory per test (Check forks each test, so a static is enough). */
static char tmp_dir[256];

static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/gs_test_trace_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

/* Removes the scratch directory; the test asserts it is empty except for `keep` files. */
static void remove_tmp_dir(const char **names, size_t n)
{
    char p[512];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp_dir, names[i]);
        unlink(p);
    }
    ck_assert_int_eq(rmdir(tmp_dir), 0); /* fails when a stray temp file was left */
}

static char path_buf[512];

static const char *tmp_path(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", tmp_dir, name);
    return path_buf;
}

/* Writes text to scratch file name; returns its path. */
static const char *write_text(const char *name, const char *text)
{
    const char *p = tmp_path(name);
    FILE *fp = fopen(p, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    ck_assert_int_eq(fclose(fp), 0);
    return p;
}

/* Builds a trace of n_steps x n_layers with a recognisable value in every cell. */
static double cell_value(long step, size_t layer, int col)
{
    return (double)step * 0.001 + (double)layer * 1.5 + (double)col * 1e-4;
}

START_TEST(test_col_names)
{
    ck_assert_str_eq(gs_trace_col_name(GS_COL_STEP), "step");
    ck_assert_str_eq(gs_trace_col_name(GS_COL_GRAD_NORM), "grad_norm");
    ck_assert_str_eq(gs_trace_col_name(GS_COL_NONFINITE), "nonfinite");
    ck_assert_str_eq(gs_trace_col_name(GS_COL_GLOBAL_NORM), "global_grad_norm");
    ck_assert_str_eq(gs_trace_col_name(GS_COL_GLOBAL_NORM_POST), "global_grad_norm_clipped");
    ck_assert_str_eq(gs_trace_col_name(GS_COL_CLIPPED), "clipped");
    ck_assert_ptr_null(gs_trace_col_name(GS_COL_COUNT));
    for (int c = 0; c < GS_COL_COUNT; c++)
        ck_assert_int_eq(gs_trace_col_from_name(gs_trace_col_name((GsCol)c)), c);
    ck_assert_int_eq(gs_trace_col_from_name("Grad_norm"), -1);
    ck_assert_int_eq(gs_trace_col_from_name(""), -1);
}
END_TEST

START_TEST(test_add_get)
{
    GsTrace *t = NULL;
    uint64_t cols = GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_LOSS);
    ck_assert_int_eq(gs_trace_create(3, cols, &t), GS_OK);
    ck_assert_uint_eq(gs_trace_n_layers(t), 3);
    ck_assert_uint_eq(gs_trace_n_steps(t), 0);
    /* Enough steps to force several doublings of the arrays. */
    const long n = 100;
    for (long s = 0; s < n; s++) {
        double *row = NULL;
        ck_assert_int_eq(gs_trace_add_step(t, s * 10, &row), GS_OK);
        for (size_t l = 0; l < 3; l++) {
            double *r = row + l * GS_COL_COUNT;
            ck_assert_double_eq(r[GS_COL_STEP], (double)(s * 10));
            ck_assert_double_eq(r[GS_COL_LAYER], (double)(l + 1));
            ck_assert(isnan(r[GS_COL_GRAD_NORM]) && isnan(r[GS_COL_CLIPPED]));
            for (int c = GS_COL_LOSS; c < GS_COL_COUNT; c++)
                r[c] = cell_value(s, l, c);
        }
        gs_trace_commit_step(t);
    }
    ck_assert_uint_eq(gs_trace_n_steps(t), (size_t)n);
    for (long s = 0; s < n; s++) {
        ck_assert_int_eq(gs_trace_step(t, (size_t)s), s * 10);
        for (size_t l = 0; l < 3; l++) {
            ck_assert_double_eq(gs_trace_get(t, (size_t)s, l, GS_COL_GRAD_NORM),
                                cell_value(s, l, GS_COL_GRAD_NORM));
            ck_assert_double_eq(gs_trace_get(t, (size_t)s, l, GS_COL_LOSS),
                                cell_value(s, l, GS_COL_LOSS));
            /* Not stored: NaN although the block held a value. */
            ck_assert(isnan(gs_trace_get(t, (size_t)s, l, GS_COL_LR)));
            ck_assert_double_eq(gs_trace_get(t, (size_t)s, l, GS_COL_STEP), (double)(s * 10));
            ck_assert_double_eq(gs_trace_get(t, (size_t)s, l, GS_COL_LAYER), (double)(l + 1));
        }
    }
    gs_trace_destroy(t);
    gs_trace_destroy(NULL);
}
END_TEST

START_TEST(test_has)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    ck_assert(gs_trace_has(t, GS_COL_STEP));
    ck_assert(gs_trace_has(t, GS_COL_LAYER));
    ck_assert(!gs_trace_has(t, GS_COL_GRAD_NORM));
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    ck_assert(gs_trace_has(t, GS_COL_GRAD_NORM));
    /* A column without storage cannot be marked. */
    gs_trace_set_has(t, GS_COL_LOSS, 1);
    ck_assert(!gs_trace_has(t, GS_COL_LOSS));
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 0);
    ck_assert(!gs_trace_has(t, GS_COL_GRAD_NORM));
    ck_assert(!gs_trace_has(t, GS_COL_COUNT));
    gs_trace_destroy(t);
}
END_TEST

START_TEST(test_meta)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(1, GS_COL_ALL, &t), GS_OK);
    ck_assert_uint_eq(gs_trace_meta_count(t), 0);
    ck_assert_ptr_null(gs_trace_meta_get(t, "act"));
    ck_assert_int_eq(gs_trace_meta_set(t, "act", "tanh"), GS_OK);
    ck_assert_int_eq(gs_trace_meta_set(t, "depth", "20"), GS_OK);
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(gs_trace_meta_set(t, key, key), GS_OK);
    }
    ck_assert_int_eq(gs_trace_meta_set(t, "act", "relu"), GS_OK);
    ck_assert_uint_eq(gs_trace_meta_count(t), 42);
    ck_assert_str_eq(gs_trace_meta_key(t, 0), "act");
    ck_assert_str_eq(gs_trace_meta_value(t, 0), "relu");
    ck_assert_str_eq(gs_trace_meta_key(t, 1), "depth");
    ck_assert_str_eq(gs_trace_meta_key(t, 41), "k39");
    ck_assert_str_eq(gs_trace_meta_get(t, "k17"), "k17");
    ck_assert_str_eq(gs_trace_meta_get(t, "depth"), "20");
    gs_trace_destroy(t);
}
END_TEST

/* Builds a trace with every column and recognisable values, including NaN and Inf. */
static GsTrace *full_trace(size_t n_layers, long n_steps)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(n_layers, GS_COL_ALL, &t), GS_OK);
    for (int c = 0; c < GS_COL_COUNT; c++)
        gs_trace_set_has(t, (GsCol)c, 1);
    for (long s = 0; s < n_steps; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s * 3, &row), GS_OK);
        for (size_t l = 0; l < n_layers; l++) {
            double *r = row + l * GS_COL_COUNT;
            for (int c = GS_COL_LOSS; c < GS_COL_COUNT; c++)
                r[c] = cell_value(s, l, c) * exp(-(double)l) / 3.0;
            r[GS_COL_NONFINITE] = (double)((s + (long)l) % 3);
            r[GS_COL_CLIPPED] = (double)(s % 2);
        }
        if (s == 1) {
            row[GS_COL_GRAD_NORM] = (double)NAN;
            row[GS_COL_COUNT + GS_COL_GRAD_NORM] = (double)INFINITY;
            row[GS_COL_LOSS] = -(double)INFINITY;
            row[GS_COL_ACT_MEAN] = -1e-300;
            row[GS_COL_ACT_STD] = 4.9e-324;
        }
        gs_trace_commit_step(t);
    }
    return t;
}

/* Same NaN-ness and infinities exactly, finite values within relative 1e-8. */
static int same_value(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) && gs_trace_is_missing(a) == gs_trace_is_missing(b);
    if (isinf(a) || isinf(b))
        return a == b;
    return fabs(a - b) <= 1e-8 * fabs(a);
}

static void assert_same_value(double a, double b)
{
    ck_assert_msg(same_value(a, b), "%.17g != %.17g", a, b);
}

static void assert_same_trace(const GsTrace *a, const GsTrace *b)
{
    ck_assert_uint_eq(gs_trace_n_steps(a), gs_trace_n_steps(b));
    ck_assert_uint_eq(gs_trace_n_layers(a), gs_trace_n_layers(b));
    for (int c = 0; c < GS_COL_COUNT; c++)
        ck_assert_int_eq(gs_trace_has(a, (GsCol)c), gs_trace_has(b, (GsCol)c));
    /* Count mismatches instead of asserting per cell: a Check assertion costs a write. */
    size_t bad = 0, first_i = 0, first_l = 0;
    int first_c = -1;
    for (size_t i = 0; i < gs_trace_n_steps(a); i++) {
        bad += gs_trace_step(a, i) != gs_trace_step(b, i);
        for (size_t l = 0; l < gs_trace_n_layers(a); l++)
            for (int c = 0; c < GS_COL_COUNT; c++)
                if (gs_trace_has(a, (GsCol)c) &&
                    !same_value(gs_trace_get(a, i, l, (GsCol)c), gs_trace_get(b, i, l, (GsCol)c))) {
                    if (!bad++) {
                        first_i = i;
                        first_l = l;
                        first_c = c;
                    }
                }
    }
    ck_assert_msg(bad == 0, "%zu mismatches, first at step index %zu layer index %zu col %d", bad,
                  first_i, first_l, first_c);
}

START_TEST(test_csv_round_trip)
{
    make_tmp_dir();
    GsTrace *t = full_trace(4, 7);
    ck_assert_int_eq(gs_trace_meta_set(t, "act", "tanh"), GS_OK);
    ck_assert_int_eq(gs_trace_meta_set(t, "first_nonfinite", "3,2"), GS_OK);
    ck_assert_int_eq(gs_trace_meta_set(t, "note", "two\nlines"), GS_OK);
    GsError err = {{0}};
    const char *p = tmp_path("t.csv");
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);

    /* The text itself: metadata, then header, then integer columns as integers. */
    FILE *fp = fopen(p, "r");
    ck_assert_ptr_nonnull(fp);
    char line[4096];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "# act = tanh\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "# first_nonfinite = 3,2\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "# note = two lines\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "step,layer,loss,lr,grad_norm,bias_grad_norm,act_grad_norm,"
                           "grad_max_abs,weight_norm,update_ratio,act_mean,act_std,saturation,"
                           "dead_frac,nonfinite,global_grad_norm,global_grad_norm_clipped,"
                           "clipped,grad_rms\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert(strncmp(line, "0,1,", 4) == 0);
    ck_assert(strstr(line, ",0,") != NULL);                /* nonfinite 0 as an integer */
    ck_assert(strstr(line, "\n") && !strstr(line, ".0,")); /* no "0.0"-style integers */
    for (int k = 0; k < 4; k++)
        ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    /* Step index 1 (step 3), layer 1: loss -inf, grad_norm nan. */
    ck_assert(strncmp(line, "3,1,-inf,", 9) == 0);
    ck_assert(strstr(line, ",nan,") != NULL);
    fclose(fp);

    GsTrace *r = NULL;
    ck_assert_int_eq(gs_trace_read_csv(p, GS_COL_ALL, &r, &err), GS_OK);
    assert_same_trace(t, r);
    ck_assert_uint_eq(gs_trace_meta_count(r), 3);
    ck_assert_str_eq(gs_trace_meta_key(r, 1), "first_nonfinite");
    ck_assert_str_eq(gs_trace_meta_get(r, "first_nonfinite"), "3,2");
    ck_assert_str_eq(gs_trace_meta_get(r, "act"), "tanh");
    ck_assert(isinf(gs_trace_get(r, 1, 1, GS_COL_GRAD_NORM)));
    ck_assert_double_eq(gs_trace_get(r, 1, 0, GS_COL_ACT_MEAN), -1e-300);

    /* Reading a subset keeps only those columns. */
    GsTrace *sub = NULL;
    ck_assert_int_eq(
        gs_trace_read_csv(p, GS_COL_BIT(GS_COL_LOSS) | GS_COL_BIT(GS_COL_GRAD_NORM), &sub, &err),
        GS_OK);
    ck_assert(gs_trace_has(sub, GS_COL_LOSS) && gs_trace_has(sub, GS_COL_GRAD_NORM));
    ck_assert(!gs_trace_has(sub, GS_COL_LR));
    ck_assert(isnan(gs_trace_get(sub, 2, 2, GS_COL_LR)));
    assert_same_value(gs_trace_get(sub, 2, 2, GS_COL_LOSS), gs_trace_get(t, 2, 2, GS_COL_LOSS));

    /* Overwriting an existing file works and leaves no temp file (rmdir checks). */
    ck_assert_int_eq(gs_trace_write_csv(sub, p, &err), GS_OK);
    gs_trace_destroy(sub);
    ck_assert_int_eq(gs_trace_read_csv(p, GS_COL_ALL, &sub, &err), GS_OK);
    ck_assert(gs_trace_has(sub, GS_COL_LOSS) && !gs_trace_has(sub, GS_COL_LR));
    ck_assert(!gs_trace_has(sub, GS_COL_BIAS_GRAD_NORM));
    const char *names[] = {"t.csv"};
    remove_tmp_dir(names, 1);
    gs_trace_destroy(sub);
    gs_trace_destroy(r);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(test_csv_partial_columns)
{
    /* A trace that has only some columns writes only those. */
    make_tmp_dir();
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_LR), &t),
                     GS_OK);
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    double *row;
    ck_assert_int_eq(gs_trace_add_step(t, 0, &row), GS_OK);
    row[GS_COL_GRAD_NORM] = 0.1;
    row[GS_COL_COUNT + GS_COL_GRAD_NORM] = 123456789.0;
    gs_trace_commit_step(t);
    GsError err;
    const char *p = tmp_path("p.csv");
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);
    FILE *fp = fopen(p, "r");
    char text[256] = {0};
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, fp), 0);
    fclose(fp);
    ck_assert_str_eq(text, "step,layer,grad_norm\n0,1,0.1\n0,2,123456789\n");
    const char *names[] = {"p.csv"};
    remove_tmp_dir(names, 1);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(test_read_min)
{
    GsTrace *t = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_trace_read_csv(fixture("trace_min.csv"), GS_COL_ALL, &t, &err) == GS_OK, "%s",
                  err.msg);
    ck_assert_uint_eq(gs_trace_n_steps(t), 3);
    ck_assert_uint_eq(gs_trace_n_layers(t), 2);
    ck_assert_int_eq(gs_trace_step(t, 2), 20);
    ck_assert(gs_trace_has(t, GS_COL_GRAD_NORM));
    ck_assert(!gs_trace_has(t, GS_COL_LOSS));
    ck_assert_double_eq(gs_trace_get(t, 0, 1, GS_COL_GRAD_NORM), 0.25);
    ck_assert_double_eq(gs_trace_get(t, 1, 0, GS_COL_GRAD_NORM), 1e-3);
    ck_assert(isnan(gs_trace_get(t, 1, 1, GS_COL_GRAD_NORM)));
    ck_assert(isinf(gs_trace_get(t, 2, 0, GS_COL_GRAD_NORM)) &&
              gs_trace_get(t, 2, 0, GS_COL_GRAD_NORM) < 0);
    ck_assert(isinf(gs_trace_get(t, 2, 1, GS_COL_GRAD_NORM)) &&
              gs_trace_get(t, 2, 1, GS_COL_GRAD_NORM) > 0);
    ck_assert_uint_eq(gs_trace_meta_count(t), 1);
    ck_assert_str_eq(gs_trace_meta_get(t, "act"), "relu");
    gs_trace_destroy(t);
}
END_TEST

START_TEST(test_read_foreign)
{
    GsTrace *t = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_trace_read_csv(fixture("trace_foreign.csv"), GS_COL_ALL, &t, &err) == GS_OK,
                  "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_steps(t), 2);
    ck_assert_uint_eq(gs_trace_n_layers(t), 3);
    ck_assert_int_eq(gs_trace_step(t, 1), 5);
    ck_assert(gs_trace_has(t, GS_COL_LOSS) && gs_trace_has(t, GS_COL_WEIGHT_NORM));
    ck_assert(gs_trace_has(t, GS_COL_NONFINITE) && !gs_trace_has(t, GS_COL_LR));
    ck_assert_double_eq(gs_trace_get(t, 0, 2, GS_COL_GRAD_NORM), 0.125);
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_WEIGHT_NORM), 11);
    ck_assert(isnan(gs_trace_get(t, 0, 1, GS_COL_WEIGHT_NORM))); /* empty cell */
    ck_assert_double_eq(gs_trace_get(t, 1, 1, GS_COL_GRAD_NORM), 1.5e-8);
    ck_assert_double_eq(gs_trace_get(t, 1, 0, GS_COL_GRAD_NORM), 2.5e-8);
    ck_assert_double_eq(gs_trace_get(t, 1, 1, GS_COL_LOSS), 1.25);
    ck_assert(isnan(gs_trace_get(t, 1, 1, GS_COL_NONFINITE)));
    ck_assert_double_eq(gs_trace_get(t, 1, 0, GS_COL_NONFINITE), 3);
    ck_assert(isinf(gs_trace_get(t, 1, 2, GS_COL_WEIGHT_NORM)));
    ck_assert_str_eq(gs_trace_meta_get(t, "depth"), "3");
    ck_assert_str_eq(gs_trace_meta_get(t, "data"), "spiral:3");
    gs_trace_destroy(t);

    /* Only grad_norm wanted: other columns not kept. */
    ck_assert_int_eq(
        gs_trace_read_csv(fixture("trace_foreign.csv"), GS_COL_BIT(GS_COL_GRAD_NORM), &t, &err),
        GS_OK);
    ck_assert(!gs_trace_has(t, GS_COL_LOSS));
    ck_assert(isnan(gs_trace_get(t, 0, 0, GS_COL_LOSS)));
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM), 0.5);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(test_read_absent_cells)
{
    /* Layers can appear late (table widens) and (step, layer) pairs can be missing. */
    make_tmp_dir();
    const char *p = write_text("a.csv", "step,layer,grad_norm\n0,1,1\n1,1,2\n1,4,8\n2,2,3\n");
    GsTrace *t = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_trace_read_csv(p, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_layers(t), 4);
    ck_assert_uint_eq(gs_trace_n_steps(t), 3);
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM), 1);
    ck_assert(isnan(gs_trace_get(t, 0, 3, GS_COL_GRAD_NORM)));
    ck_assert_double_eq(gs_trace_get(t, 1, 0, GS_COL_GRAD_NORM), 2);
    ck_assert_double_eq(gs_trace_get(t, 1, 3, GS_COL_GRAD_NORM), 8);
    ck_assert(isnan(gs_trace_get(t, 2, 0, GS_COL_GRAD_NORM)));
    ck_assert_double_eq(gs_trace_get(t, 2, 1, GS_COL_GRAD_NORM), 3);
    const char *names[] = {"a.csv"};
    remove_tmp_dir(names, 1);
    gs_trace_destroy(t);
}
END_TEST

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

START_TEST(test_missing_marker)
{
    double m = gs_trace_missing();
    ck_assert(isnan(m));
    ck_assert(gs_trace_is_missing(m));
    ck_assert(gs_trace_is_missing(-m)); /* negating "no value" is still no value */
    /* The NaNs a computation or a parser produces are data, not the marker. */
    volatile double zero = 0.0;
    ck_assert(!gs_trace_is_missing(zero / zero));
    ck_assert(!gs_trace_is_missing(strtod("nan", NULL)));
    ck_assert(!gs_trace_is_missing(strtod("-nan", NULL)));
    ck_assert(!gs_trace_is_missing((double)NAN));
    ck_assert(!gs_trace_is_missing(INFINITY));
    ck_assert(!gs_trace_is_missing(0.0) && !gs_trace_is_missing(1.0));
    double parsed;
    ck_assert(gs_csv_parse_number("nan", 3, &parsed) && !gs_trace_is_missing(parsed));
    /* The payload sits in the high mantissa bits, so the hardware float round trip keeps it. */
    ck_assert_uint_eq(bits_of(m), UINT64_C(0x7FFC000000000000));
    volatile float f = (float)m;
    ck_assert(gs_trace_is_missing((double)f));
}
END_TEST

/* Both storage modes: unfilled and unstored cells read as missing, a NaN stays a NaN. */
static void check_missing_storage(uint64_t flags)
{
    GsTrace *t = NULL;
    uint64_t cols = GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_LOSS) | flags;
    ck_assert_int_eq(gs_trace_create(2, cols, &t), GS_OK);
    double *row = NULL;
    ck_assert_int_eq(gs_trace_add_step(t, 0, &row), GS_OK);
    ck_assert(gs_trace_is_missing(row[GS_COL_GRAD_NORM]));
    ck_assert(gs_trace_is_missing(row[GS_COL_COUNT + GS_COL_CLIPPED]));
    ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM))); /* pending */
    row[GS_COL_GRAD_NORM] = (double)NAN;
    row[GS_COL_LOSS] = 2.5;
    /* A computed NaN whose float image would alias the marker must stay a NaN. */
    uint64_t alias = UINT64_C(0x7FFC000000000001);
    memcpy(&row[GS_COL_COUNT + GS_COL_LOSS], &alias, sizeof alias);
    gs_trace_commit_step(t);
    ck_assert(isnan(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM)));
    ck_assert(!gs_trace_is_missing(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM)));
    ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 1, GS_COL_GRAD_NORM)));
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_LOSS), 2.5);
    ck_assert(isnan(gs_trace_get(t, 0, 1, GS_COL_LOSS)));
    ck_assert(!gs_trace_is_missing(gs_trace_get(t, 0, 1, GS_COL_LOSS)));
    ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 0, GS_COL_LR))); /* not stored */
    gs_trace_destroy(t);
}

START_TEST(test_missing_storage)
{
    check_missing_storage(0);
    check_missing_storage(GS_TRACE_COMPACT);
}
END_TEST

/* Reads the whole of a small file into buf. */
static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    size_t n = fread(buf, 1, cap - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

START_TEST(test_csv_missing)
{
    /* Empty cells read as missing, "nan" as a NaN; the widened layer 3 of step 0 too. */
    make_tmp_dir();
    const char *p = write_text("m.csv", "step,layer,grad_norm,loss,clipped\n"
                                        "0,1,,nan,\n0,2,1.5,,1\n1,3,nan,2,0\n");
    const uint64_t modes[] = {GS_COL_ALL, GS_COL_ALL | GS_TRACE_COMPACT};
    for (int m = 0; m < 2; m++) {
        GsTrace *t = NULL;
        GsError err = {{0}};
        ck_assert_msg(gs_trace_read_csv(p, modes[m], &t, &err) == GS_OK, "%s", err.msg);
        ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM)));
        ck_assert(isnan(gs_trace_get(t, 0, 0, GS_COL_LOSS)));
        ck_assert(!gs_trace_is_missing(gs_trace_get(t, 0, 0, GS_COL_LOSS)));
        ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 0, GS_COL_CLIPPED)));
        ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 1, GS_COL_LOSS)));
        ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 2, GS_COL_GRAD_NORM))); /* absent row */
        ck_assert(gs_trace_is_missing(gs_trace_get(t, 1, 0, GS_COL_GRAD_NORM)));
        ck_assert(!gs_trace_is_missing(gs_trace_get(t, 1, 2, GS_COL_GRAD_NORM)));
        ck_assert(gs_trace_is_missing(gs_trace_get(t, 1, 2, GS_COL_LR))); /* not in the file */
        /* The writer gives missing back as an empty cell and a NaN as "nan". */
        const char *q = tmp_path("w.csv");
        ck_assert_int_eq(gs_trace_write_csv(t, q, &err), GS_OK);
        char text[512];
        slurp(q, text, sizeof text);
        ck_assert_str_eq(text, "step,layer,loss,grad_norm,clipped\n"
                               "0,1,nan,,\n0,2,,1.5,1\n0,3,,,\n"
                               "1,1,,,\n1,2,,,\n1,3,2,nan,0\n");
        GsTrace *back = NULL;
        ck_assert_int_eq(gs_trace_read_csv(q, modes[m], &back, &err), GS_OK);
        assert_same_trace(t, back);
        gs_trace_destroy(back);
        gs_trace_destroy(t);
    }
    const char *names[] = {"m.csv", "w.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

START_TEST(test_layer_names)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(3, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    ck_assert_ptr_null(gs_trace_layer_name(t, 0));
    ck_assert_ptr_null(gs_trace_layer_kind(t, 2));
    ck_assert_ptr_null(gs_trace_layer_name(t, 99)); /* out of range: none */
    char name[32] = "blocks.0.fc_1";
    ck_assert_int_eq(gs_trace_set_layer_name(t, 0, name, "dense"), GS_OK);
    name[0] = 'X'; /* copied, not borrowed */
    ck_assert_str_eq(gs_trace_layer_name(t, 0), "blocks.0.fc_1");
    ck_assert_str_eq(gs_trace_layer_kind(t, 0), "dense");
    ck_assert_int_eq(gs_trace_set_layer_name(t, 2, "head,out", NULL), GS_OK);
    ck_assert_ptr_null(gs_trace_layer_kind(t, 2));
    ck_assert_int_eq(gs_trace_set_layer_name(t, 1, "", "norm"), GS_OK);
    ck_assert_ptr_null(gs_trace_layer_name(t, 1));
    ck_assert_str_eq(gs_trace_layer_kind(t, 1), "norm");
    /* Texts CSV could not carry are refused and change nothing. */
    const char *bad[] = {"a\"b", "a\nb", " lead", "trail\t", "del\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(gs_trace_set_layer_name(t, 0, bad[i], "dense"), GS_ERR_INVALID);
        ck_assert_int_eq(gs_trace_set_layer_name(t, 0, "ok", bad[i]), GS_ERR_INVALID);
    }
    ck_assert_str_eq(gs_trace_layer_name(t, 0), "blocks.0.fc_1");
    /* Replacing and clearing. */
    ck_assert_int_eq(gs_trace_set_layer_name(t, 1, "n1", "layernorm"), GS_OK);
    ck_assert_str_eq(gs_trace_layer_name(t, 1), "n1");

    double *row;
    for (long s = 0; s < 2; s++) {
        ck_assert_int_eq(gs_trace_add_step(t, s, &row), GS_OK);
        for (size_t l = 0; l < 3; l++)
            row[l * GS_COL_COUNT + GS_COL_GRAD_NORM] = (double)(l + 1);
        gs_trace_commit_step(t);
    }
    make_tmp_dir();
    GsError err = {{0}};
    const char *p = tmp_path("n.csv");
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);
    char text[512];
    slurp(p, text, sizeof text);
    ck_assert_str_eq(text, "step,layer,name,kind,grad_norm\n"
                           "0,1,blocks.0.fc_1,dense,1\n0,2,n1,layernorm,2\n0,3,\"head,out\",,3\n"
                           "1,1,blocks.0.fc_1,dense,1\n1,2,n1,layernorm,2\n1,3,\"head,out\",,3\n");
    const uint64_t modes[] = {GS_COL_ALL, GS_COL_BIT(GS_COL_GRAD_NORM) | GS_TRACE_COMPACT};
    for (int m = 0; m < 2; m++) {
        GsTrace *r = NULL;
        ck_assert_msg(gs_trace_read_csv(p, modes[m], &r, &err) == GS_OK, "%s", err.msg);
        for (size_t l = 0; l < 3; l++) {
            const char *a = gs_trace_layer_name(t, l), *b = gs_trace_layer_name(r, l);
            ck_assert(a ? b && strcmp(a, b) == 0 : b == NULL);
            a = gs_trace_layer_kind(t, l);
            b = gs_trace_layer_kind(r, l);
            ck_assert(a ? b && strcmp(a, b) == 0 : b == NULL);
        }
        assert_same_trace(t, r);
        gs_trace_destroy(r);
    }
    /* Clearing every name drops the columns again. */
    for (size_t l = 0; l < 3; l++)
        ck_assert_int_eq(gs_trace_set_layer_name(t, l, NULL, NULL), GS_OK);
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);
    slurp(p, text, sizeof text);
    ck_assert(strncmp(text, "step,layer,grad_norm\n", 21) == 0);
    gs_trace_destroy(t);

    /* Reading: first non-empty value wins, empty cells later are fine, any column order. */
    const char *q = write_text("r.csv", "grad_norm,kind,step,layer,name\n"
                                        "1,,0,1,\n2,relu,0,2,h2\n3,dense,1,1,fc1\n"
                                        "4,,1,2,  h2 \n");
    ck_assert_msg(gs_trace_read_csv(q, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_str_eq(gs_trace_layer_name(t, 0), "fc1");
    ck_assert_str_eq(gs_trace_layer_kind(t, 0), "dense");
    ck_assert_str_eq(gs_trace_layer_name(t, 1), "h2");
    ck_assert_str_eq(gs_trace_layer_kind(t, 1), "relu");
    ck_assert(!gs_trace_has(t, GS_COL_LOSS));
    gs_trace_destroy(t);
    const char *names[] = {"n.csv", "r.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

/* Reads path expecting failure with status st and a message containing every needle. */
static void expect_read_error(const char *path, GsStatus st, const char *n1, const char *n2)
{
    GsTrace *t = (GsTrace *)(void *)&t; /* sentinel: must stay untouched */
    GsTrace *const sentinel = t;
    GsError err = {{0}};
    ck_assert_int_eq(gs_trace_read_csv(path, GS_COL_ALL, &t, &err), st);
    ck_assert_ptr_eq(t, sentinel);
    ck_assert_msg(strstr(err.msg, path) != NULL, "'%s' lacks the path", err.msg);
    ck_assert_msg(strstr(err.msg, n1) != NULL, "'%s' lacks '%s'", err.msg, n1);
    if (n2)
        ck_assert_msg(strstr(err.msg, n2) != NULL, "'%s' lacks '%s'", err.msg, n2);
}

START_TEST(test_read_errors)
{
    expect_read_error(fixture("trace_bad_nonnumeric.csv"), GS_ERR_FORMAT,
                      ":3:3: non-numeric value 'abc'", "column 'grad_norm'");
    expect_read_error(fixture("trace_bad_missing.csv"), GS_ERR_FORMAT,
                      "missing required column 'grad_norm'", "(line 3)");
    expect_read_error(fixture("trace_no_such_file.csv"), GS_ERR_IO, "No such file", NULL);

    make_tmp_dir();
    const char *names[] = {"e.csv", "h.csv",  "c.csv",  "r.csv",  "s.csv", "l.csv",
                           "f.csv", "x.csv",  "d.csv",  "m.csv",  "g.csv", "n.csv",
                           "k.csv", "na.csv", "ki.csv", "nn.csv", "em.csv"};
    expect_read_error(write_text("e.csv", ""), GS_ERR_FORMAT, "empty trace (no header)", NULL);
    expect_read_error(write_text("c.csv", "# a = b\n\n"), GS_ERR_FORMAT, "empty trace (no header)",
                      NULL);
    expect_read_error(write_text("h.csv", "step,layer,grad_norm\n"), GS_ERR_FORMAT,
                      "empty trace (no rows)", NULL);
    /* A short row is forgiven only as the last line (test_read_cut_off). */
    expect_read_error(write_text("r.csv", "step,layer,grad_norm,loss\n0,1,2,3\n0,2,5\n0,3,1,1\n"),
                      GS_ERR_FORMAT, ":3: 3 cells, header has 4", NULL);
    expect_read_error(write_text("x.csv", "step,layer,grad_norm\n0,1,2\n0,2,5,6\n"), GS_ERR_FORMAT,
                      ":3: 4 cells, header has 3", NULL);
    expect_read_error(write_text("s.csv", "step,layer,grad_norm\n5,1,2\n4,1,5\n"), GS_ERR_FORMAT,
                      ":3:1: step 4 after step 5", NULL);
    expect_read_error(write_text("l.csv", "grad_norm,step,layer\n1,0,0\n"), GS_ERR_FORMAT,
                      ":2:3: layer '0' is not an integer", NULL);
    expect_read_error(write_text("f.csv", "grad_norm,step,layer\n1,1.5,1\n"), GS_ERR_FORMAT,
                      ":2:2: step '1.5' is not an integer", NULL);
    expect_read_error(write_text("d.csv", "step,layer,grad_norm\n0,1,2\n0,1,3\n"), GS_ERR_FORMAT,
                      ":3:2: second row for step 0 layer 1", NULL);
    expect_read_error(write_text("m.csv", "step,layer,grad_norm\n,1,2\n"), GS_ERR_FORMAT,
                      ":2:1: empty step", NULL);
    expect_read_error(write_text("g.csv", "step,layer,grad_norm,loss\n0,1,2,1e5x\n"), GS_ERR_FORMAT,
                      ":2:4: non-numeric value '1e5x' in column 'loss'", NULL);
    expect_read_error(write_text("n.csv", "step,layer,grad_norm,grad_norm\n0,1,2,3\n"),
                      GS_ERR_FORMAT, ":1:4: column 'grad_norm' appears twice", NULL);
    expect_read_error(write_text("k.csv", "step,layer,grad_norm\n0,nan,2\n"), GS_ERR_FORMAT,
                      ":2:2: layer 'nan' is not an integer", NULL);
    expect_read_error(write_text("na.csv", "step,layer,name,grad_norm\n0,1,fc1,1\n1,1,fc2,2\n"),
                      GS_ERR_FORMAT, ":3:3: layer 1 name 'fc2' differs from 'fc1'", NULL);
    expect_read_error(write_text("ki.csv", "step,layer,kind,grad_norm\n0,1,a\"b,1\n"),
                      GS_ERR_FORMAT, ":2:3: kind 'a\"b' holds a double quote", NULL);
    expect_read_error(write_text("nn.csv", "step,layer,name,name,grad_norm\n0,1,a,b,1\n"),
                      GS_ERR_FORMAT, ":1:4: column 'name' appears twice", NULL);
    expect_read_error(write_text("em.csv", "step,layer,grad_norm\n0,,2\n"), GS_ERR_FORMAT,
                      ":2:2: empty layer", NULL);
    remove_tmp_dir(names, sizeof names / sizeof names[0]);
}
END_TEST

START_TEST(test_write_missing_dir)
{
    make_tmp_dir();
    GsTrace *t = full_trace(2, 2);
    GsError err = {{0}};
    char p[512];
    snprintf(p, sizeof p, "%s/no/such/dir/t.csv", tmp_dir);
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_ERR_IO);
    ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "No such file or directory"), "%s",
                  err.msg);
    /* Nothing left behind: the directory is empty, so rmdir succeeds. */
    remove_tmp_dir(NULL, 0);
    gs_trace_destroy(t);
}
END_TEST

/* Reads text written to scratch file name (its bytes exactly: NULs allowed). */
static GsStatus read_bytes(const char *name, const char *text, size_t len, GsTrace **t,
                           GsError *err)
{
    const char *p = tmp_path(name);
    FILE *fp = fopen(p, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
    ck_assert_int_eq(fclose(fp), 0);
    return gs_trace_read_csv(p, GS_COL_ALL, t, err);
}

/* Reads text expecting success with n_steps steps, the last one last_step, dropped rows. */
static void expect_cut(const char *text, size_t n_steps, long last_step, size_t dropped)
{
    GsTrace *t = NULL;
    GsError err = {{0}};
    ck_assert_msg(read_bytes("cut.csv", text, strlen(text), &t, &err) == GS_OK, "%s: %s", text,
                  err.msg);
    ck_assert_uint_eq(gs_trace_n_steps(t), n_steps);
    ck_assert_int_eq(gs_trace_step(t, n_steps - 1), last_step);
    ck_assert_uint_eq(gs_trace_dropped_rows(t), dropped);
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM), 1);
    gs_trace_destroy(t);
}

START_TEST(test_read_cut_off)
{
    make_tmp_dir();
    const char *h = "step,layer,grad_norm,loss\n";
    char text[512];
    /* Whole files drop nothing, even when the last step has fewer layers. */
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2,5\n1,1,3,4\n", h);
    expect_cut(text, 2, 1, 0);
    /* Cut inside the last row's last cell (no newline): that row goes, and its step, which
     * is left with fewer rows than step 0. */
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2,5\n1,1,3,4\n1,2,4,3.9", h);
    expect_cut(text, 1, 0, 2);
    /* Cut after a comma (the row has fewer cells), with or without the newline and with
     * blank and comment lines after it. */
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2,5\n1,1,3,4\n1,2,", h);
    expect_cut(text, 1, 0, 2);
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2,5\n1,1,3,4\n1,2\n\n  \n# x\n", h);
    expect_cut(text, 1, 0, 2);
    /* Cut in the first row of a new step: the steps before are complete and stay. */
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2,5\n1,1,3,4\n1,2,4,4\n2,1", h);
    expect_cut(text, 2, 1, 1);
    /* A single step keeps its complete rows. */
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2", h);
    expect_cut(text, 1, 0, 1);
    /* Windows line ends: a cut after the \r of the last line still drops it. */
    snprintf(text, sizeof text, "%s0,1,1,5\r\n0,2,2,5\r\n1,1,3,4\r\n1,2,4,4\r", h);
    expect_cut(text, 1, 0, 2);

    /* Anything else malformed stays an error naming line and column. */
    GsTrace *t = NULL;
    GsError err = {{0}};
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,abc,5\n", h);
    ck_assert_int_eq(read_bytes("e.csv", text, strlen(text), &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "e.csv:3:3: non-numeric value 'abc'"), "%s", err.msg);
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2\n1,1,3,4\n", h);
    ck_assert_int_eq(read_bytes("e.csv", text, strlen(text), &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "e.csv:3: 3 cells, header has 4"), "%s", err.msg);
    snprintf(text, sizeof text, "%s0,1,1,5\n0,2,2,5,7\n", h); /* too many cells, last line */
    ck_assert_int_eq(read_bytes("e.csv", text, strlen(text), &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "e.csv:3: 5 cells, header has 4"), "%s", err.msg);
    snprintf(text, sizeof text, "%s0,1,1", h);
    ck_assert_int_eq(read_bytes("e.csv", text, strlen(text), &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "the only row, line 2, is cut off"), "%s", err.msg);
    const char *names[] = {"cut.csv", "e.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

START_TEST(test_meta_control_bytes)
{
    /* A carriage return or NUL inside a metadata line reads as a blank, so the pair is the
     * same after the writer (which writes blanks for them) and a second read. */
    make_tmp_dir();
    static const char text[] =
        "# note = a\rb \0x\r\n# k\0ey = v \r \nstep,layer,grad_norm\n0,1,1\n";
    GsTrace *t = NULL, *back = NULL;
    GsError err = {{0}};
    ck_assert_msg(read_bytes("m.csv", text, sizeof text - 1, &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_str_eq(gs_trace_meta_get(t, "note"), "a b  x");
    ck_assert_str_eq(gs_trace_meta_get(t, "k ey"), "v");
    const char *q = tmp_path("w.csv");
    ck_assert_int_eq(gs_trace_write_csv(t, q, &err), GS_OK);
    ck_assert_int_eq(gs_trace_read_csv(q, GS_COL_ALL, &back, &err), GS_OK);
    ck_assert_uint_eq(gs_trace_meta_count(back), 2);
    ck_assert_str_eq(gs_trace_meta_get(back, "note"), "a b  x");
    ck_assert_str_eq(gs_trace_meta_get(back, "k ey"), "v");
    gs_trace_destroy(back);
    gs_trace_destroy(t);
    const char *names[] = {"m.csv", "w.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

START_TEST(test_read_bom)
{
    make_tmp_dir();
    GsTrace *t = NULL;
    GsError err = {{0}};
    const char *a = "\xEF\xBB\xBFstep,layer,grad_norm\n0,1,1\n";
    ck_assert_msg(read_bytes("b.csv", a, strlen(a), &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM), 1);
    gs_trace_destroy(t);
    const char *b = "\xEF\xBB\xBF# act = tanh\nstep,layer,grad_norm\n0,1,1\n";
    ck_assert_msg(read_bytes("b.csv", b, strlen(b), &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_str_eq(gs_trace_meta_get(t, "act"), "tanh");
    gs_trace_destroy(t);
    /* Only at the start of the file. */
    const char *c = "step,layer,grad_norm\n\xEF\xBB\xBF"
                    "0,1,1\n";
    ck_assert_int_eq(read_bytes("b.csv", c, strlen(c), &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, ":2:1: non-numeric value '\\xef\\xbb\\xbf0' in column 'step'"),
                  "%s", err.msg);

    /* The data CSV loader shares the line reader. */
    const char *p = write_text("d.csv", "\xEF\xBB\xBFx,y\n1,0\n2,1\n");
    GsDataSource src;
    ck_assert_int_eq(gs_data_source_parse(p, &src, &err), GS_OK);
    GsDataOptions o = {.samples = 0, .input_scale = 1, .target = "x", .classify = 0};
    GsDataset *ds = NULL;
    ck_assert_msg(gs_data_create(&src, &o, &ds, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(ds->n, 2);
    ck_assert(ds->y[0] == 1.0f && ds->x[1] == 1.0f); /* target "x" found: the BOM is gone */
    gs_data_destroy(ds);
    const char *names[] = {"b.csv", "d.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

START_TEST(test_show_bytes)
{
    char buf[GS_CSV_SHOW_CAP];
    ck_assert_str_eq(gs_csv_show(buf, "1.5e3", 5), "1.5e3");
    ck_assert_str_eq(gs_csv_show(buf, "a\0b", 3), "a\\x00b");
    ck_assert_str_eq(gs_csv_show(buf, "\t\x1b[31m\x7f", 7), "\\x09\\x1b[31m\\x7f");
    ck_assert_str_eq(gs_csv_show(buf, "a\\b", 3), "a\\\\b");
    ck_assert_str_eq(gs_csv_show(buf, "caf\xc3\xa9", 5), "caf\xc3\xa9"); /* UTF-8 stays */
    ck_assert_str_eq(gs_csv_show(buf, "\xc3(\xff\xed\xa0\x80", 6),
                     "\\xc3(\\xff\\xed\\xa0\\x80"); /* stray, invalid, surrogate */
    char many[100];
    memset(many, 1, sizeof many);
    const char *s = gs_csv_show(buf, many, sizeof many);
    ck_assert_uint_eq(strlen(s), GS_CSV_SHOW_MAX * 4 + 3);
    ck_assert(strcmp(s + strlen(s) - 3, "...") == 0);
    memset(many, 'x', sizeof many);
    ck_assert_uint_eq(strlen(gs_csv_show(buf, many, sizeof many)), GS_CSV_SHOW_MAX + 3);

    /* A NUL inside a cell shows in trace and data messages instead of cutting them. */
    make_tmp_dir();
    GsTrace *t = NULL;
    GsError err = {{0}};
    static const char tr[] = "step,layer,grad_norm\n0,1,1\0002\n";
    ck_assert_int_eq(read_bytes("n.csv", tr, sizeof tr - 1, &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, ":2:3: non-numeric value '1\\x002' in column 'grad_norm'"), "%s",
                  err.msg);
    static const char tl[] = "step,layer,grad_norm\n0,\x01,1\n";
    ck_assert_int_eq(read_bytes("n.csv", tl, sizeof tl - 1, &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "non-numeric value '\\x01' in column 'layer'"), "%s", err.msg);
    static const char dt[] = "x,y\n1,0\n2\0003,1\n";
    const char *p = tmp_path("d.csv");
    FILE *fp = fopen(p, "wb");
    ck_assert_uint_eq(fwrite(dt, 1, sizeof dt - 1, fp), sizeof dt - 1);
    fclose(fp);
    GsDataSource src;
    ck_assert_int_eq(gs_data_source_parse(p, &src, &err), GS_OK);
    GsDataOptions o = {.samples = 0, .input_scale = 1, .target = NULL, .classify = 0};
    GsDataset *ds = NULL;
    ck_assert_int_eq(gs_data_create(&src, &o, &ds, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, ":3:1: non-numeric value '2\\x003' in column 'x'"), "%s",
                  err.msg);
    const char *names[] = {"n.csv", "d.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

START_TEST(test_read_wide_ascending)
{
    /* One step over 100,000 layers in ascending order: each new layer used to copy the
     * table (quadratic, seconds); now the stride grows geometrically. */
    make_tmp_dir();
    const char *p = tmp_path("w.csv");
    FILE *fp = fopen(p, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("step,layer,grad_norm,loss\n", fp);
    for (int s = 0; s < 2; s++)
        for (long l = 1; l <= 100000; l++)
            fprintf(fp, "%d,%ld,%ld,%d\n", s, l, l + s, s);
    ck_assert_int_eq(fclose(fp), 0);
    for (int m = 0; m < 2; m++) {
        GsTrace *t = NULL;
        GsError err = {{0}};
        ck_assert_msg(gs_trace_read_csv(p, GS_COL_ALL | (m ? GS_TRACE_COMPACT : 0), &t, &err) ==
                          GS_OK,
                      "%s", err.msg);
        ck_assert_uint_eq(gs_trace_n_layers(t), 100000);
        ck_assert_uint_eq(gs_trace_n_steps(t), 2);
        size_t bad = 0;
        for (size_t i = 0; i < 2; i++)
            for (size_t l = 0; l < 100000; l++)
                bad += gs_trace_get(t, i, l, GS_COL_GRAD_NORM) != (double)(l + 1 + i) ||
                       gs_trace_get(t, i, l, GS_COL_LOSS) != (double)i;
        ck_assert_uint_eq(bad, 0);
        gs_trace_destroy(t);
    }
    /* Layers rising over later steps (sparse first steps) keep every cell in place. */
    const char *q = write_text("r.csv", "step,layer,grad_norm\n0,1,1\n1,1,2\n1,3,6\n2,1,3\n"
                                        "2,2,5\n2,3,7\n2,9,9\n");
    GsTrace *t = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_trace_read_csv(q, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_layers(t), 9);
    const double want[3][9] = {{1, -1, -1, -1, -1, -1, -1, -1, -1},
                               {2, -1, 6, -1, -1, -1, -1, -1, -1},
                               {3, 5, 7, -1, -1, -1, -1, -1, 9}};
    for (size_t i = 0; i < 3; i++)
        for (size_t l = 0; l < 9; l++) {
            double v = gs_trace_get(t, i, l, GS_COL_GRAD_NORM);
            if (want[i][l] < 0)
                ck_assert_msg(gs_trace_is_missing(v), "step %zu layer %zu: %g", i, l, v);
            else
                ck_assert_double_eq(v, want[i][l]);
        }
    gs_trace_destroy(t);
    const char *names[] = {"w.csv", "r.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

START_TEST(test_read_bounds)
{
    make_tmp_dir();
    /* A sparse file (one row at layer 100000 per step) would need steps x 100000 cells. */
    const char *p = tmp_path("s.csv");
    FILE *fp = fopen(p, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("step,layer,grad_norm\n", fp);
    for (int s = 0; s < 2000; s++)
        fprintf(fp, "%d,100000,1\n", s);
    ck_assert_int_eq(fclose(fp), 0);
    expect_read_error(p, GS_ERR_FORMAT, "x 100000 layers", "look corrupt");

    /* An overlong line, and a file with no newline at all. */
    p = tmp_path("l.csv");
    fp = fopen(p, "w");
    fputs("step,layer,grad_norm\n0,1,", fp);
    for (int i = 0; i < (1 << 20); i++)
        fputc('1', fp);
    fputs("\n", fp);
    ck_assert_int_eq(fclose(fp), 0);
    expect_read_error(p, GS_ERR_FORMAT, ":2: line longer than 1048576 bytes", NULL);
    expect_read_error("/dev/zero", GS_ERR_FORMAT, "/dev/zero:1: line longer than", NULL);
    const char *names[] = {"s.csv", "l.csv"};
    remove_tmp_dir(names, 2);
}
END_TEST

START_TEST(test_cli_cut_off_warning)
{
    /* plot/diagnose read a cut-off trace with one warning line; exit 0. */
    snprintf(path_buf, sizeof path_buf, "%s/cut.csv", gs_tmpdir);
    FILE *fp = fopen(path_buf, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("step,layer,grad_norm,loss\n", fp);
    for (int s = 0; s < 30; s++)
        for (int l = 1; l <= 3; l++)
            fprintf(fp, "%d,%d,%g,%g\n", s, l, 1.0 / l, 2.0 - 0.01 * s);
    fputs("30,1,1,1.7\n30,2,0.5,1.", fp);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_int_eq(gs_cli_run(1, "diagnose cut.csv"), 0);
    ck_assert_msg(strstr(gs_out, "gradscope diagnose: warning: cut.csv ends cut off (training "
                                 "interrupted?): dropped 2 incomplete rows, read up to step 29\n"),
                  "%s", gs_out);
    const char *w = strstr(gs_out, "warning");
    ck_assert_ptr_null(strstr(w + 1, "warning")); /* one line */
    /* A whole trace gets no warning. */
    fp = fopen(path_buf, "a");
    fputs("7\n30,3,0.3,1.7\n", fp);
    fclose(fp);
    ck_assert_int_eq(gs_cli_run(1, "diagnose cut.csv"), 0);
    ck_assert_ptr_null(strstr(gs_out, "warning: cut.csv"));
    /* Malformed in the middle: exit 2 with line and column. */
    fp = fopen(path_buf, "a");
    fputs("31,1,x,1\n31,2,1,1\n", fp);
    fclose(fp);
    ck_assert_int_eq(gs_cli_run(1, "diagnose cut.csv"), 2);
    ck_assert_msg(strstr(gs_out, "cut.csv:95:3: non-numeric value 'x'"), "%s", gs_out);
}
END_TEST

START_TEST(test_cli_bounds)
{
    /* Corrupt layer numbers and newline-free input: exit 2 with one line naming the problem. */
    snprintf(path_buf, sizeof path_buf, "%s/sparse.csv", gs_tmpdir);
    FILE *fp = fopen(path_buf, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("step,layer,grad_norm\n0,100000,1\n", fp);
    for (int s = 1; s <= 2000; s++)
        fprintf(fp, "%d,1,1\n", s);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_int_eq(gs_cli_run(1, "plot sparse.csv -o s.png"), 2);
    ck_assert_msg(strstr(gs_out, "gradscope plot: sparse.csv:12:2: step 10 layer 1 would make the "
                                 "table 11 steps x 100000 layers"),
                  "%s", gs_out);
    ck_assert(!gs_file_nonempty(gs_tmpdir, "s.png"));
    ck_assert_int_eq(gs_cli_run(1, "diagnose /dev/zero"), 2);
    ck_assert_msg(strstr(gs_out, "gradscope diagnose: /dev/zero:1: line longer than 1048576 bytes"),
                  "%s", gs_out);
    ck_assert_ptr_null(strchr(strchr(gs_out, '\n') + 1, '\n')); /* one line */
}
END_TEST

START_TEST(test_large_round_trip)
{
    make_tmp_dir();
    GsTrace *t = full_trace(50, 2000);
    GsError err = {{0}};
    const char *p = tmp_path("big.csv");
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);
    GsTrace *r = NULL;
    ck_assert_msg(gs_trace_read_csv(p, GS_COL_ALL, &r, &err) == GS_OK, "%s", err.msg);
    assert_same_trace(t, r);
    const char *names[] = {"big.csv"};
    remove_tmp_dir(names, 1);
    gs_trace_destroy(r);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(test_number_parser)
{
    static const struct {
        const char *text;
        double value;
    } ok[] = {
        {"0", 0},
        {"-0.0", -0.0},
        {"1", 1},
        {"+2.5", 2.5},
        {".5", 0.5},
        {"5.", 5},
        {"1e3", 1000},
        {"1E-3", 1e-3},
        {"0.1", 0.1},
        {"123456789", 123456789},
        {"1.23456789e-05", 1.23456789e-05},
        {"1e-300", 1e-300},
        {"2.2250738585072014e-308", 2.2250738585072014e-308},
        {"0.30000000000000004", 0.30000000000000004},
        {"12345678901234567890123", 1.2345678901234568e22},
        {"9007199254740993", 9007199254740992.0},
        {"1e400", (double)INFINITY},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -42;
        ck_assert_msg(gs_csv_parse_number(ok[i].text, strlen(ok[i].text), &v), "%s", ok[i].text);
        ck_assert_msg(v == ok[i].value && signbit(v) == signbit(ok[i].value), "%s -> %.17g",
                      ok[i].text, v);
        ck_assert(v == strtod(ok[i].text, NULL));
    }
    static const struct {
        const char *text;
        int sign; /* 0: NaN, else the sign of the infinity */
    } words[] = {{"nan", 0},   {"NaN", 0},  {"-nan", 0},     {"inf", 1},        {"Inf", 1},
                 {"-inf", -1}, {"+inf", 1}, {"infinity", 1}, {"-Infinity", -1}, {"INF", 1}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        double v = 0;
        ck_assert_msg(gs_csv_parse_number(words[i].text, strlen(words[i].text), &v), "%s",
                      words[i].text);
        if (words[i].sign == 0)
            ck_assert_msg(isnan(v), "%s", words[i].text);
        else
            ck_assert_msg(isinf(v) && (v > 0) == (words[i].sign > 0), "%s", words[i].text);
    }
    static const char *bad[] = {"",    "abc", "1e",   "1e+", "--1", "1.2.3", "0x10",
                                "1,5", ". ",  "infx", "na",  "1 2", "e5",    "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 7;
        ck_assert_msg(!gs_csv_parse_number(bad[i], strlen(bad[i]), &v), "'%s' accepted", bad[i]);
    }
    /* Only the first len characters count. */
    double v = 0;
    ck_assert(gs_csv_parse_number("12,34", 2, &v) && v == 12);
}
END_TEST

START_TEST(test_format_g9)
{
    /* Must match printf("%.9g") character for character, which the reader relies on. */
    static const double vals[] = {1,
                                  10,
                                  0.1,
                                  1e-5,
                                  1e-4,
                                  123456789,
                                  0.0,
                                  -0.0,
                                  1.0,
                                  -42.0,
                                  999999999.0,
                                  -999999999.0,
                                  1234567890,
                                  999999999.5,
                                  -0.000123456789,
                                  1.5e300,
                                  3e-200,
                                  0.5,
                                  2.5e-10,
                                  1e9,
                                  1e8,
                                  4.9e-324,
                                  1.7976931348623157e308,
                                  1.0 / 3.0};
    char a[32], b[32];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        gs_csv_format_g9(a, vals[i]);
        snprintf(b, sizeof b, "%.9g", vals[i]);
        ck_assert_str_eq(a, b);
    }
    /* A deterministic spread over many magnitudes. */
    double x = 0.7234;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        x = fmod(x * 3.987654321 + 0.123, 1.0);
        double v = (x - 0.5) * pow(10.0, (double)(i % 90 - 45));
        gs_csv_format_g9(a, v);
        snprintf(b, sizeof b, "%.9g", v);
        if (strcmp(a, b) != 0 && bad++ == 0)
            ck_assert_msg(0, "%s != %s", a, b);
    }
    ck_assert_int_eq(bad, 0);
    /* the double path's edges and its ties: powers of ten and their neighbours from 1e-45 to
     * 1e55 (both sides of the double and long-double ranges), and decimal near-ties
     * (nine digits and a 5) at every exponent there */
    for (int k = -45; k <= 55; k++) {
        char txt[40];
        snprintf(txt, sizeof txt, "1e%d", k);
        double p10 = strtod(txt, NULL), near[] = {p10, nextafter(p10, 0), nextafter(p10, INFINITY)};
        for (int j = 0; j < 3; j++) {
            gs_csv_format_g9(a, near[j]);
            snprintf(b, sizeof b, "%.9g", near[j]);
            ck_assert_msg(!strcmp(a, b), "%s != %s (10^%d)", a, b, k);
        }
        for (int t = 0; t < 40; t++) {
            snprintf(txt, sizeof txt, "%d.%08d5e%d", 1 + t % 9, (t * 12345679) % 100000000, k);
            double v = strtod(txt, NULL), w[] = {v, nextafter(v, 0), nextafter(v, INFINITY)};
            for (int j = 0; j < 3; j++) {
                gs_csv_format_g9(a, w[j]);
                snprintf(b, sizeof b, "%.9g", w[j]);
                ck_assert_msg(!strcmp(a, b), "%s != %s (%s)", a, b, txt);
            }
        }
    }
    /* integers (the counts and flags of a trace) around every power of ten */
    for (double p = 1; p <= 1e10; p *= 10)
        for (double d = -3; d <= 3; d++) {
            double v = p + d;
            gs_csv_format_g9(a, v);
            snprintf(b, sizeof b, "%.9g", v);
            ck_assert_str_eq(a, b);
            gs_csv_format_g9(a, -v);
            snprintf(b, sizeof b, "%.9g", -v);
            ck_assert_str_eq(a, b);
        }
}
END_TEST

START_TEST(test_npy)
{
    make_tmp_dir();
    float data[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, 7.0f};
    size_t shape[2] = {2, 3};
    GsError err = {{0}};
    char p[512];
    snprintf(p, sizeof p, "%s", tmp_path("w.npy"));
    ck_assert_int_eq(gs_npy_write_f32(p, data, shape, 2, &err), GS_OK);
    FILE *fp = fopen(p, "rb");
    ck_assert_ptr_nonnull(fp);
    unsigned char bytes[256];
    size_t n = fread(bytes, 1, sizeof bytes, fp);
    fclose(fp);
    ck_assert(memcmp(bytes, "\x93NUMPY\x01\x00", 8) == 0);
    size_t hlen = (size_t)bytes[8] | (size_t)bytes[9] << 8;
    ck_assert_uint_eq((10 + hlen) % 64, 0);
    ck_assert_uint_eq(n, 10 + hlen + sizeof data);
    ck_assert_int_eq(bytes[10 + hlen - 1], '\n');
    char head[200] = {0};
    memcpy(head, bytes + 10, hlen);
    ck_assert(strncmp(head, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 59) ==
              0);
    ck_assert(memcmp(bytes + 10 + hlen, data, sizeof data) == 0);

    float *back = NULL;
    size_t bshape[GS_NPY_MAX_DIM], nd = 0;
    ck_assert_int_eq(gs_npy_read_f32(p, &back, bshape, &nd, &err), GS_OK);
    ck_assert_uint_eq(nd, 2);
    ck_assert_uint_eq(bshape[0], 2);
    ck_assert_uint_eq(bshape[1], 3);
    ck_assert(memcmp(back, data, sizeof data) == 0);
    free(back);

    /* 1-D: the tuple needs its trailing comma. */
    const char *p1 = tmp_path("v.npy");
    size_t s1 = 6;
    ck_assert_int_eq(gs_npy_write_f32(p1, data, &s1, 1, &err), GS_OK);
    fp = fopen(p1, "rb");
    n = fread(bytes, 1, sizeof bytes, fp);
    fclose(fp);
    bytes[n < sizeof bytes ? n : sizeof bytes - 1] = 0;
    ck_assert(strstr((const char *)bytes + 10, "'shape': (6,), }") != NULL);
    ck_assert_int_eq(gs_npy_read_f32(p1, &back, bshape, &nd, &err), GS_OK);
    ck_assert_uint_eq(nd, 1);
    ck_assert_uint_eq(bshape[0], 6);
    free(back);

    /* Errors: missing file, not an npy file, truncated data. */
    back = NULL;
    ck_assert_int_eq(gs_npy_read_f32(tmp_path("none.npy"), &back, bshape, &nd, &err), GS_ERR_IO);
    ck_assert_ptr_null(back);
    const char *bad = write_text("bad.npy", "hello, world");
    ck_assert_int_eq(gs_npy_read_f32(bad, &back, bshape, &nd, &err), GS_ERR_FORMAT);
    ck_assert(strstr(err.msg, "bad.npy") != NULL);
    ck_assert_ptr_null(back);
    ck_assert_int_eq(truncate(p, (off_t)(10 + hlen + 8)), 0);
    ck_assert_int_eq(gs_npy_read_f32(p, &back, bshape, &nd, &err), GS_ERR_FORMAT);
    ck_assert(strstr(err.msg, "shorter") != NULL);
    ck_assert_ptr_null(back);

    /* Missing directory: GS_ERR_IO naming the path. */
    char q[512];
    snprintf(q, sizeof q, "%s/nodir/x.npy", tmp_dir);
    ck_assert_int_eq(gs_npy_write_f32(q, data, shape, 2, &err), GS_ERR_IO);
    ck_assert(strstr(err.msg, q) != NULL);
    const char *names[] = {"w.npy", "v.npy", "bad.npy"};
    remove_tmp_dir(names, 3);
}
END_TEST

/* ---- Through-time series (the trace's third index) ---- */

/* A known value of column c of series k at step index i, time t (1-based). */
static double series_value(size_t i, size_t k, int c, size_t t)
{
    return pow(0.5, (double)(10 - t)) * (1.0 + 0.1 * (double)i) + (double)k * 1e-3 +
           (double)c * 1e-5;
}

/* n_layers layers (grad_norm, loss) and two series, "rnn.h_l0" (h_grad_norm, c_grad_norm,
 * h_mean) and "rnn.h_l1" (h_grad_norm only), T = 3 + i at step index i. */
static GsTrace *series_trace(uint64_t flags, size_t n_layers, size_t n_steps)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(n_layers,
                                     GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_LOSS) | flags,
                                     &t),
                     GS_OK);
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    gs_trace_set_has(t, GS_COL_LOSS, 1);
    size_t k0 = 9, k1 = 9;
    ck_assert_int_eq(gs_trace_add_series(t, "rnn.h_l0", "state", &k0), GS_OK);
    ck_assert_int_eq(gs_trace_add_series(t, "rnn.h_l1", "state", &k1), GS_OK);
    ck_assert_uint_eq(k0, 0);
    ck_assert_uint_eq(k1, 1);
    for (size_t i = 0; i < n_steps; i++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, (long)(i * 5), &row), GS_OK);
        for (size_t l = 0; l < n_layers; l++) {
            row[l * GS_COL_COUNT + GS_COL_GRAD_NORM] = cell_value((long)i, l, GS_COL_GRAD_NORM);
            row[l * GS_COL_COUNT + GS_COL_LOSS] = 2.0 - 0.1 * (double)i;
        }
        size_t T = 3 + i;
        double v[16];
        static const GsTimeCol cols0[] = {GS_TCOL_H_MEAN, GS_TCOL_H_GRAD_NORM, GS_TCOL_C_GRAD_NORM};
        /* Columns set out of order, one before the commit and the others after. */
        for (size_t j = 0; j < 3; j++) {
            for (size_t u = 1; u <= T; u++)
                v[u - 1] = series_value(i, 0, cols0[j], u);
            if (j == 1)
                gs_trace_commit_step(t);
            ck_assert_int_eq(gs_trace_series_set(t, i, 0, cols0[j], v, T), GS_OK);
        }
        for (size_t u = 1; u <= T; u++)
            v[u - 1] = series_value(i, 1, GS_TCOL_H_GRAD_NORM, u);
        if (i == 1) {
            v[0] = (double)NAN;
            v[1] = (double)INFINITY;
            v[2] = gs_trace_missing();
        }
        ck_assert_int_eq(gs_trace_series_set(t, i, 1, GS_TCOL_H_GRAD_NORM, v, T), GS_OK);
    }
    return t;
}

/* Same series (names, kinds, lengths, every value with same_value; compact: float-exact). */
static void assert_same_series(const GsTrace *a, const GsTrace *b, int compact)
{
    ck_assert_uint_eq(gs_trace_n_series(a), gs_trace_n_series(b));
    for (int c = 0; c < GS_TCOL_COUNT; c++)
        ck_assert_int_eq(gs_trace_series_has(a, (GsTimeCol)c),
                         gs_trace_series_has(b, (GsTimeCol)c));
    for (size_t k = 0; k < gs_trace_n_series(a); k++) {
        ck_assert_str_eq(gs_trace_series_name(a, k), gs_trace_series_name(b, k));
        ck_assert_str_eq(gs_trace_series_kind(a, k), gs_trace_series_kind(b, k));
        for (size_t i = 0; i < gs_trace_n_steps(a); i++) {
            size_t T = gs_trace_series_len(a, i, k);
            ck_assert_uint_eq(T, gs_trace_series_len(b, i, k));
            for (int c = 0; c < GS_TCOL_COUNT; c++)
                for (size_t u = 1; u <= T; u++) {
                    double x = gs_trace_series_get(a, i, k, (GsTimeCol)c, u);
                    double y = gs_trace_series_get(b, i, k, (GsTimeCol)c, u);
                    /* Compact: rounded to float (after the writer's 9 digits, maybe twice). */
                    int ok =
                        compact && isfinite(x) ? fabs(x - y) <= 1.2e-7 * fabs(x) : same_value(x, y);
                    ck_assert_msg(ok, "series %zu step %zu col %d t %zu: %.17g %.17g", k, i, c, u,
                                  x, y);
                }
        }
    }
}

START_TEST(test_series_api)
{
    ck_assert_str_eq(gs_trace_tcol_name(GS_TCOL_H_GRAD_NORM), "h_grad_norm");
    ck_assert_str_eq(gs_trace_tcol_name(GS_TCOL_H_SATURATION), "h_saturation");
    ck_assert_ptr_null(gs_trace_tcol_name(GS_TCOL_COUNT));
    ck_assert_ptr_null(gs_trace_tcol_name((GsTimeCol)-1));
    for (int c = 0; c < GS_TCOL_COUNT; c++)
        ck_assert_int_eq(gs_trace_tcol_from_name(gs_trace_tcol_name((GsTimeCol)c)), c);
    ck_assert_int_eq(gs_trace_tcol_from_name("grad_norm"), -1);
    ck_assert_int_eq(gs_trace_tcol_from_name("t"), -1);

    const uint64_t modes[] = {0, GS_TRACE_COMPACT};
    for (int m = 0; m < 2; m++) {
        GsTrace *t = NULL;
        ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM) | modes[m], &t), GS_OK);
        ck_assert_uint_eq(gs_trace_n_series(t), 0);
        size_t k = 7;
        /* Texts CSV could not carry are refused and change nothing. */
        ck_assert_int_eq(gs_trace_add_series(t, "a\"b", "state", &k), GS_ERR_INVALID);
        ck_assert_int_eq(gs_trace_add_series(t, "ok", " lead", &k), GS_ERR_INVALID);
        ck_assert_uint_eq(k, 7);
        ck_assert_uint_eq(gs_trace_n_series(t), 0);
        char name[16] = "rnn.h_l0";
        ck_assert_int_eq(gs_trace_add_series(t, name, "state", &k), GS_OK);
        name[0] = 'X'; /* copied */
        ck_assert_uint_eq(k, 0);
        ck_assert_int_eq(gs_trace_add_series(t, "", NULL, &k), GS_OK);
        ck_assert_uint_eq(k, 1);
        ck_assert_str_eq(gs_trace_series_name(t, 0), "rnn.h_l0");
        ck_assert_str_eq(gs_trace_series_kind(t, 0), "state");
        ck_assert_ptr_null(gs_trace_series_name(t, 1));
        ck_assert_ptr_null(gs_trace_series_kind(t, 1));
        ck_assert_uint_eq(gs_trace_n_layers(t), 2); /* series are not layers */

        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, 0, &row), GS_OK);
        ck_assert_uint_eq(gs_trace_series_len(t, 0, 0), 0); /* nothing stored yet */
        ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 1)));
        double h[5] = {1.0 / 16, 1.0 / 8, 0.25, 0.5, 1.0};
        ck_assert_int_eq(gs_trace_series_set(t, 0, 0, GS_TCOL_H_GRAD_NORM, h, 5), GS_OK);
        gs_trace_commit_step(t);
        h[0] = 99; /* copied */
        ck_assert_uint_eq(gs_trace_series_len(t, 0, 0), 5);
        ck_assert_uint_eq(gs_trace_series_len(t, 0, 1), 0);
        for (size_t u = 1; u <= 5; u++)
            ck_assert_double_eq(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, u),
                                ldexp(1.0, (int)u - 5));
        /* Out of range and columns never set read as missing. */
        ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 0)));
        ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 6)));
        ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 0, 0, GS_TCOL_H_MEAN, 2)));
        ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 0, 0, GS_TCOL_COUNT, 2)));
        ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 3, 0, GS_TCOL_H_GRAD_NORM, 2)));
        ck_assert_int_eq(gs_trace_series_has(t, GS_TCOL_H_GRAD_NORM), 1);
        ck_assert_int_eq(gs_trace_series_has(t, GS_TCOL_H_MEAN), 0);
        ck_assert_int_eq(gs_trace_series_has(t, GS_TCOL_COUNT), 0);
        /* One T per (step, series). */
        double mv[6] = {0.125, 0.25, (double)NAN, (double)INFINITY, 0, 0};
        mv[4] = gs_trace_missing();
        ck_assert_int_eq(gs_trace_series_set(t, 0, 0, GS_TCOL_H_MEAN, mv, 4), GS_ERR_INVALID);
        ck_assert_int_eq(gs_trace_series_set(t, 0, 0, GS_TCOL_H_MEAN, mv, 6), GS_ERR_INVALID);
        ck_assert_int_eq(gs_trace_series_set(t, 0, 1, GS_TCOL_H_MEAN, mv, 0), GS_ERR_INVALID);
        ck_assert_int_eq(
            gs_trace_series_set(t, 0, 1, GS_TCOL_H_MEAN, mv, (size_t)GS_TRACE_MAX_T + 1),
            GS_ERR_INVALID);
        ck_assert_int_eq(gs_trace_series_has(t, GS_TCOL_H_MEAN), 0);
        ck_assert_int_eq(gs_trace_series_set(t, 0, 0, GS_TCOL_H_MEAN, mv, 5), GS_OK);
        /* The first column keeps its values when a second one is inserted before... */
        ck_assert_double_eq(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 4), 0.5);
        ck_assert_double_eq(gs_trace_series_get(t, 0, 0, GS_TCOL_H_MEAN, 2), 0.25);
        /* ... NaN and Inf are data, the missing marker stays no value (compact too). */
        double nan_v = gs_trace_series_get(t, 0, 0, GS_TCOL_H_MEAN, 3);
        ck_assert(isnan(nan_v) && !gs_trace_is_missing(nan_v));
        ck_assert(isinf(gs_trace_series_get(t, 0, 0, GS_TCOL_H_MEAN, 4)));
        ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 0, 0, GS_TCOL_H_MEAN, 5)));
        /* Overwriting a column and a second series with its own T. */
        ck_assert_int_eq(gs_trace_series_set(t, 0, 0, GS_TCOL_H_GRAD_NORM, mv, 5), GS_OK);
        ck_assert_double_eq(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 1), 0.125);
        ck_assert_int_eq(gs_trace_series_set(t, 0, 1, GS_TCOL_H_STD, mv, 2), GS_OK);
        ck_assert_uint_eq(gs_trace_series_len(t, 0, 1), 2);
        ck_assert_double_eq(gs_trace_series_get(t, 0, 1, GS_TCOL_H_STD, 2), 0.25);
        /* Compact keeps floats. */
        double third = 1.0 / 3.0;
        ck_assert_int_eq(gs_trace_add_step(t, 4, &row), GS_OK);
        gs_trace_commit_step(t);
        ck_assert_int_eq(gs_trace_series_set(t, 1, 1, GS_TCOL_H_STD, &third, 1), GS_OK);
        ck_assert_double_eq(gs_trace_series_get(t, 1, 1, GS_TCOL_H_STD, 1),
                            modes[m] ? (double)(float)third : third);
        ck_assert_uint_eq(gs_trace_series_len(t, 1, 0), 0);
        /* A series added after steps exist holds nothing at them; the others keep theirs. */
        ck_assert_int_eq(gs_trace_add_series(t, "late", "state", &k), GS_OK);
        ck_assert_uint_eq(k, 2);
        ck_assert_uint_eq(gs_trace_series_len(t, 0, 2), 0);
        ck_assert_double_eq(gs_trace_series_get(t, 0, 0, GS_TCOL_H_MEAN, 2), 0.25);
        ck_assert_double_eq(gs_trace_series_get(t, 1, 1, GS_TCOL_H_STD, 1),
                            modes[m] ? (double)(float)third : third);
        ck_assert_int_eq(gs_trace_series_set(t, 1, 2, GS_TCOL_H_GRAD_NORM, &third, 1), GS_OK);
        ck_assert_uint_eq(gs_trace_n_layers(t), 2);
        gs_trace_destroy(t);
    }
}
END_TEST

START_TEST(test_series_csv)
{
    make_tmp_dir();
    GsError err = {{0}};
    /* The exact file: layer rows get an empty t and time cells, series rows empty regular
     * cells, at layer ids n_layers + 1 + k. */
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_LOSS), &t),
                     GS_OK);
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    gs_trace_set_has(t, GS_COL_LOSS, 1);
    size_t k;
    ck_assert_int_eq(gs_trace_add_series(t, "rnn.h_l0", "state", &k), GS_OK);
    double *row;
    ck_assert_int_eq(gs_trace_add_step(t, 0, &row), GS_OK);
    row[GS_COL_GRAD_NORM] = 1;
    row[GS_COL_LOSS] = 2;
    row[GS_COL_COUNT + GS_COL_GRAD_NORM] = 3;
    row[GS_COL_COUNT + GS_COL_LOSS] = 2;
    gs_trace_commit_step(t);
    const double h[3] = {0.25, 0.5, 1}, s[3] = {0.1, (double)NAN, 0.3};
    ck_assert_int_eq(gs_trace_series_set(t, 0, 0, GS_TCOL_H_STD, s, 3), GS_OK);
    ck_assert_int_eq(gs_trace_series_set(t, 0, 0, GS_TCOL_H_GRAD_NORM, h, 3), GS_OK);
    const char *p = tmp_path("s.csv");
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);
    char text[4096];
    slurp(p, text, sizeof text);
    ck_assert_str_eq(text, "step,layer,name,kind,loss,grad_norm,t,h_grad_norm,h_std\n"
                           "0,1,,,2,1,,,\n0,2,,,2,3,,,\n"
                           "0,3,rnn.h_l0,state,,,1,0.25,0.1\n"
                           "0,3,rnn.h_l0,state,,,2,0.5,nan\n"
                           "0,3,rnn.h_l0,state,,,3,1,0.3\n");
    gs_trace_destroy(t);

    /* Round trips, double and compact, written from either. */
    const uint64_t modes[] = {0, GS_TRACE_COMPACT};
    for (int m = 0; m < 2; m++) {
        t = series_trace(modes[m], 3, 4);
        ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);
        slurp(p, text, sizeof text);
        const char *head = "step,layer,name,kind,loss,grad_norm,t,h_grad_norm,c_grad_norm,"
                           "h_mean\n0,1,,,";
        ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "%s", text);
        ck_assert_msg(strstr(text, "\n0,4,rnn.h_l0,state,,,1,") != NULL, "%s", text);
        for (int r = 0; r < 2; r++) {
            GsTrace *b = NULL;
            ck_assert_msg(gs_trace_read_csv(p, GS_COL_ALL | modes[r], &b, &err) == GS_OK, "%s",
                          err.msg);
            ck_assert_uint_eq(gs_trace_dropped_rows(b), 0);
            if (r == m)
                assert_same_trace(t,
                                  b); /* (the layers' cells across modes: test_missing_storage) */
            assert_same_series(t, b, r && !m);
            ck_assert_uint_eq(gs_trace_series_len(b, 3, 0), 6);
            gs_trace_destroy(b);
        }
        gs_trace_destroy(t);
    }
    /* Reading foreign files: series rows first, interleaved, ids out of order (series sorted
     * by id), a gap in t (missing there), regular cells of a series row ignored, any column
     * order, a series only at the second step. */
    const char *q = write_text("f.csv", "t,layer,step,grad_norm,h_grad_norm,name\n"
                                        "2,9,0,,0.5,b\n1,9,0,,0.25,b\n,1,0,1,,\n"
                                        "1,7,0,77,0.125,a\n,1,1,2,,\n4,7,1,,4,\n");
    ck_assert_int_eq(gs_trace_read_csv(q, GS_COL_ALL, &t, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "f.csv:3:1: t 1 after t 2 for step 0 layer 9"), "%s", err.msg);
    q = write_text("f.csv", "t,layer,step,grad_norm,h_grad_norm,name\n"
                            "1,9,0,,0.25,b\n2,9,0,,0.5,\n,1,0,1,,\n"
                            "1,7,0,77,0.125,a\n,1,1,2,,\n4,7,1,,4,\n,2,1,3,,\n");
    ck_assert_msg(gs_trace_read_csv(q, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_layers(t), 2);
    ck_assert_uint_eq(gs_trace_n_series(t), 2);
    ck_assert_str_eq(gs_trace_series_name(t, 0), "a");
    ck_assert_str_eq(gs_trace_series_name(t, 1), "b");
    ck_assert_ptr_null(gs_trace_series_kind(t, 1));
    ck_assert_uint_eq(gs_trace_series_len(t, 0, 0), 1);
    ck_assert_uint_eq(gs_trace_series_len(t, 0, 1), 2);
    ck_assert_uint_eq(gs_trace_series_len(t, 1, 0), 4);
    ck_assert_uint_eq(gs_trace_series_len(t, 1, 1), 0);
    ck_assert_double_eq(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 1), 0.125);
    ck_assert_double_eq(gs_trace_series_get(t, 0, 1, GS_TCOL_H_GRAD_NORM, 2), 0.5);
    ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 1, 0, GS_TCOL_H_GRAD_NORM, 2)));
    ck_assert_double_eq(gs_trace_series_get(t, 1, 0, GS_TCOL_H_GRAD_NORM, 4), 4);
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_GRAD_NORM), 1);
    ck_assert(gs_trace_is_missing(gs_trace_get(t, 0, 1, GS_COL_GRAD_NORM)));
    ck_assert_double_eq(gs_trace_get(t, 1, 1, GS_COL_GRAD_NORM), 3);
    ck_assert(gs_trace_series_has(t, GS_TCOL_H_GRAD_NORM) &&
              !gs_trace_series_has(t, GS_TCOL_H_STD));
    /* Written back, the series follow the layers at ids 3 and 4. */
    ck_assert_int_eq(gs_trace_write_csv(t, p, &err), GS_OK);
    slurp(p, text, sizeof text);
    ck_assert_str_eq(text, "step,layer,name,kind,grad_norm,t,h_grad_norm\n"
                           "0,1,,,1,,\n0,2,,,,,\n0,3,a,,,1,0.125\n0,4,b,,,1,0.25\n0,4,b,,,2,0.5\n"
                           "1,1,,,2,,\n1,2,,,3,,\n1,3,a,,,1,\n1,3,a,,,2,\n1,3,a,,,3,\n"
                           "1,3,a,,,4,4\n");
    gs_trace_destroy(t);
    /* A `t` column without time columns still gives the series their lengths. */
    q = write_text("g.csv", "step,layer,grad_norm,t\n0,1,1,\n0,2,,1\n0,2,,2\n");
    ck_assert_msg(gs_trace_read_csv(q, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_series(t), 1);
    ck_assert_uint_eq(gs_trace_series_len(t, 0, 0), 2);
    ck_assert(gs_trace_is_missing(gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 1)));
    gs_trace_destroy(t);
    const char *names[] = {"s.csv", "f.csv", "g.csv"};
    remove_tmp_dir(names, 3);
}
END_TEST

START_TEST(test_series_read_errors)
{
    make_tmp_dir();
    const char *names[] = {"t0.csv", "tf.csv", "tx.csv", "tb.csv", "cl.csv",
                           "lo.csv", "hi.csv", "de.csv", "eq.csv", "nt.csv",
                           "tt.csv", "tn.csv", "hv.csv", "dn.csv", "big.csv"};
    const char *h = "step,layer,grad_norm,t,h_grad_norm\n0,1,1,,\n";
    char text[256];
#define SERIES_ERR(file, rows, n1)                                                                 \
    do {                                                                                           \
        snprintf(text, sizeof text, "%s%s", h, rows);                                              \
        expect_read_error(write_text(file, text), GS_ERR_FORMAT, n1, NULL);                        \
    } while (0)
    SERIES_ERR("t0.csv", "0,2,,0,1\n", ":3:4: t '0' is not an integer in [1, 1000000]");
    SERIES_ERR("tf.csv", "0,2,,1.5,1\n", ":3:4: t '1.5' is not an integer");
    SERIES_ERR("tx.csv", "0,2,,x,1\n", ":3:4: non-numeric value 'x' in column 't'");
    SERIES_ERR("tb.csv", "0,2,,1000001,1\n", ":3:4: t '1000001' is not an integer");
    /* A layer id with both kinds of rows, either way round. */
    SERIES_ERR("cl.csv", "0,1,,1,1\n", ":3:2: layer 1 has both per-layer rows and through-time");
    SERIES_ERR("lo.csv", "0,3,1,,\n0,2,,1,1\n",
               ":4:2: through-time row (t = 1) at layer 2, not above the per-layer rows' layers "
               "(up to 3)");
    SERIES_ERR("hi.csv", "0,3,,1,1\n0,3,,2,1\n0,4,1,,\n",
               ":5:2: per-layer row at layer 4, above the through-time series at layer 3");
    SERIES_ERR("eq.csv", "0,3,,1,1\n0,3,1,,\n",
               ":4:2: layer 3 has both through-time rows and a "
               "per-layer row");
    /* t must increase within one (step, series). */
    SERIES_ERR("de.csv", "0,2,,1,1\n0,2,,3,1\n0,2,,2,1\n",
               ":5:4: t 2 after t 3 for step 0 layer 2");
    SERIES_ERR("tt.csv", "0,2,,1,1\n0,2,,1,1\n", ":4:4: t 1 after t 1 for step 0 layer 2");
    SERIES_ERR("hv.csv", "0,2,,1,abc\n", ":3:5: non-numeric value 'abc' in column 'h_grad_norm'");
    /* A corrupt t cannot claim gigabytes. */
    SERIES_ERR("big.csv", "0,2,,999999,1\n0,3,,999999,1\n",
               ":4:4: t 999999 would make the through-time values");
#undef SERIES_ERR
    expect_read_error(write_text("nt.csv", "step,layer,grad_norm,h_grad_norm\n0,1,1,2\n"),
                      GS_ERR_FORMAT, "column 'h_grad_norm' in header (line 1) needs a column 't'",
                      NULL);
    expect_read_error(write_text("tn.csv", "step,layer,t,grad_norm,t\n0,1,,1,\n"), GS_ERR_FORMAT,
                      ":1:5: column 't' appears twice", NULL);
    expect_read_error(write_text("dn.csv", "step,layer,name,grad_norm,t\n0,1,,1,\n0,2,a,,1\n"
                                           "0,2,b,,2\n"),
                      GS_ERR_FORMAT, ":4:3: layer 2 name 'b' differs from 'a'", NULL);
    remove_tmp_dir(names, sizeof names / sizeof names[0]);
}
END_TEST

START_TEST(test_series_cut_off)
{
    make_tmp_dir();
    const char *h = "step,layer,grad_norm,t,h_grad_norm\n";
    const char *whole = "0,1,1,,\n0,2,,1,0.5\n0,2,,2,1\n1,1,1,,\n1,2,,1,0.25\n1,2,,2,1\n";
    char text[512];
    GsTrace *t = NULL;
    GsError err = {{0}};
    /* Cut in the last series row of step 2: that row and its step go (3 rows dropped). */
    snprintf(text, sizeof text, "%s%s2,1,1,,\n2,2,,1,0.25\n2,2,,2,1", h, whole);
    ck_assert_msg(read_bytes("c.csv", text, strlen(text), &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_steps(t), 2);
    ck_assert_int_eq(gs_trace_step(t, 1), 1);
    ck_assert_uint_eq(gs_trace_dropped_rows(t), 3);
    ck_assert_uint_eq(gs_trace_series_len(t, 1, 0), 2);
    ck_assert_double_eq(gs_trace_series_get(t, 1, 0, GS_TCOL_H_GRAD_NORM, 1), 0.25);
    ck_assert_uint_eq(gs_trace_n_series(t), 1);
    gs_trace_destroy(t);
    /* Cut after the step's layer rows but before all its series rows. */
    snprintf(text, sizeof text, "%s%s2,1,1,,\n2,2,,1,0.2", h, whole);
    ck_assert_msg(read_bytes("c.csv", text, strlen(text), &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_steps(t), 2);
    ck_assert_uint_eq(gs_trace_dropped_rows(t), 2);
    gs_trace_destroy(t);
    /* A series whose only rows are in the dropped step is not in the trace (found by
     * fuzz_trace: the written trace lost it, the round trip differed). */
    snprintf(text, sizeof text, "%s%s2,1,1,,\n2,3,,1,0.5\n2,3,,2,1", h, whole);
    ck_assert_msg(read_bytes("c.csv", text, strlen(text), &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_steps(t), 2);
    ck_assert_uint_eq(gs_trace_n_series(t), 1);
    ck_assert_uint_eq(gs_trace_series_len(t, 1, 0), 2);
    gs_trace_destroy(t);
    /* A complete last step stays: the cut row is the only one dropped. */
    snprintf(text, sizeof text, "%s%s2,1,1,,\n2,2,,1,0.25\n2,2,,2,1\n2,2,,3,", h, whole);
    ck_assert_msg(read_bytes("c.csv", text, strlen(text), &t, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_n_steps(t), 3);
    ck_assert_uint_eq(gs_trace_dropped_rows(t), 1);
    ck_assert_uint_eq(gs_trace_series_len(t, 2, 0), 2);
    gs_trace_destroy(t);
    const char *names[] = {"c.csv"};
    remove_tmp_dir(names, 1);
}
END_TEST

/* A killed writer's temporary files are removed on request, and only those of that path. */
START_TEST(test_atomic_remove_stale)
{
    const char *names[] = {"run.csv.tmp.Ab12Cd", "run.csv.tmp.Zz99Yy", "run.csv.tmp.short",
                           "other.csv.tmp.Ab12Cd", "run.csv"};
    char p[600];
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", gs_tmpdir, names[i]);
        FILE *f = fopen(p, "wb");
        ck_assert_ptr_nonnull(f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/run.csv", gs_tmpdir);
    ck_assert_int_eq(gs_atomic_remove_stale(p), 2);
    int want[] = {0, 0, 1, 1, 1};
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", gs_tmpdir, names[i]);
        ck_assert_msg((access(p, F_OK) == 0) == want[i], "%s", names[i]);
        remove(p);
    }
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_col_names);
    tcase_add_test(tc, test_atomic_remove_stale);
    tcase_add_test(tc, test_add_get);
    tcase_add_test(tc, test_has);
    tcase_add_test(tc, test_meta);
    tcase_add_test(tc, test_missing_marker);
    tcase_add_test(tc, test_missing_storage);
    tcase_add_test(tc, test_layer_names);
    tcase_add_test(tc, test_series_api);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("csv");
    tcase_set_timeout(io, 60);
    tcase_add_test(io, test_number_parser);
    tcase_add_test(io, test_format_g9);
    tcase_add_test(io, test_csv_round_trip);
    tcase_add_test(io, test_csv_partial_columns);
    tcase_add_test(io, test_read_min);
    tcase_add_test(io, test_read_foreign);
    tcase_add_test(io, test_read_absent_cells);
    tcase_add_test(io, test_csv_missing);
    tcase_add_test(io, test_read_errors);
    tcase_add_test(io, test_write_missing_dir);
    tcase_add_test(io, test_large_round_trip);
    tcase_add_test(io, test_npy);
    tcase_add_test(io, test_read_cut_off);
    tcase_add_test(io, test_read_bom);
    tcase_add_test(io, test_meta_control_bytes);
    tcase_add_test(io, test_show_bytes);
    tcase_add_test(io, test_read_wide_ascending);
    tcase_add_test(io, test_read_bounds);
    tcase_add_test(io, test_series_csv);
    tcase_add_test(io, test_series_read_errors);
    tcase_add_test(io, test_series_cut_off);
    suite_add_tcase(s, io);
    TCase *cli = tcase_create("cli");
    tcase_add_checked_fixture(cli, gs_cli_setup, gs_cli_teardown);
    tcase_set_timeout(cli, 60);
    tcase_add_test(cli, test_cli_cut_off_warning);
    tcase_add_test(cli, test_cli_bounds);
    suite_add_tcase(s, cli);
    return s;
}
