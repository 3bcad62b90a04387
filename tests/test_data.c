/* Tests of the data sets: source names, synthetic generators, standardizing and scaling,
 * the CSV loader and its error messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/data.h"
#include "runner.h"

static char fixture_buf[4096];

/* Fixture path: $GS_TEST_DATA/name, else tests/data/name. */
static const char *fixture(const char *name)
{
    const char *d = getenv("GS_TEST_DATA");
    snprintf(fixture_buf, sizeof fixture_buf, "%s/%s", d && *d ? d : "tests/data", name);
    return fixture_buf;
}

static GsDataOptions default_opts(void)
{
    GsDataOptions o;
    memset(&o, 0, sizeof o);
    o.samples = 600;
    o.noise = 0.1;
    o.input_scale = 1.0;
    o.standardize = 0;
    o.target = NULL;
    o.classify = 1;
    o.seed = 1234;
    return o;
}

static GsDataset *make(const char *name, const GsDataOptions *o)
{
    GsDataSource src;
    GsError err = {{0}};
    ck_assert_msg(gs_data_source_parse(name, &src, &err) == GS_OK, "%s", err.msg);
    GsDataset *ds = NULL;
    ck_assert_msg(gs_data_create(&src, o, &ds, &err) == GS_OK, "%s: %s", name, err.msg);
    ck_assert_ptr_nonnull(ds);
    return ds;
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

START_TEST(test_source_parse)
{
    GsDataSource s;
    GsError err = {{0}};
    char buf[1100];
    ck_assert_int_eq(gs_data_source_parse("spiral", &s, &err), GS_OK);
    ck_assert_int_eq(s.kind, GS_DATA_SPIRAL);
    ck_assert_int_eq(s.k, 3);
    ck_assert_str_eq(gs_data_source_format(&s, buf, sizeof buf), "spiral:3");
    ck_assert_int_eq(gs_data_source_parse("blobs:7", &s, &err), GS_OK);
    ck_assert_int_eq(s.kind, GS_DATA_BLOBS);
    ck_assert_int_eq(s.k, 7);
    ck_assert_int_eq(gs_data_source_parse("spiral:100", &s, &err), GS_OK);
    ck_assert_int_eq(s.k, 100);
    ck_assert_int_eq(gs_data_source_parse("teacher", &s, &err), GS_OK);
    ck_assert_int_eq(s.kind, GS_DATA_TEACHER);
    ck_assert_int_eq(s.k, 0);
    ck_assert_int_eq(gs_data_source_parse("my.csv", &s, &err), GS_OK);
    ck_assert_int_eq(s.kind, GS_DATA_CSV);
    ck_assert_str_eq(s.path, "my.csv");
    ck_assert_int_eq(gs_data_source_parse("dir/data.txt", &s, &err), GS_OK);
    ck_assert_int_eq(s.kind, GS_DATA_CSV);
    ck_assert_str_eq(s.path, "dir/data.txt");

    /* Every built-in name round-trips through its canonical text. */
    static const char *names[] = {"spiral:3",     "moons", "circles", "xor",     "blobs:4",
                                  "checkerboard", "sine",  "teacher", "a/b.csv", "x.csv"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        GsDataSource a, b;
        ck_assert_int_eq(gs_data_source_parse(names[i], &a, &err), GS_OK);
        ck_assert_str_eq(gs_data_source_format(&a, buf, sizeof buf), names[i]);
        ck_assert_int_eq(gs_data_source_parse(buf, &b, &err), GS_OK);
        ck_assert_int_eq(a.kind, b.kind);
        ck_assert_int_eq(a.k, b.k);
    }
    /* A hand-made CSV source without '/' or ".csv" still formats to a parseable path. */
    memset(&s, 0, sizeof s);
    s.kind = GS_DATA_CSV;
    strcpy(s.path, "table.dat");
    ck_assert_str_eq(gs_data_source_format(&s, buf, sizeof buf), "./table.dat");

    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"spirals", "unknown data 'spirals'"},
        {"", "unknown data ''"},
        {"spiral:1", "'spiral:1'"},
        {"spiral:101", "'spiral:101'"},
        {"blobs:x", "'blobs:x'"},
        {"blobs:", "'blobs:'"},
        {"moons:3", "moons takes no ':K'"},
        {"Spiral", "unknown data 'Spiral'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        GsDataSource keep = {.kind = GS_DATA_SINE, .k = 9};
        ck_assert_int_eq(gs_data_source_parse(bad[i].text, &keep, &err), GS_ERR_INVALID);
        ck_assert_msg(strstr(err.msg, bad[i].needle) != NULL, "'%s' lacks '%s'", err.msg,
                      bad[i].needle);
        ck_assert_int_eq(keep.k, 9); /* untouched on failure */
    }
    ck_assert_int_eq(gs_data_source_parse("foo", &s, &err), GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "checkerboard") && strstr(err.msg, "blobs[:K]"));
    ck_assert(gs_data_kind_is_classification(GS_DATA_MOONS));
    ck_assert(!gs_data_kind_is_classification(GS_DATA_SINE));
    ck_assert(!gs_data_kind_is_classification(GS_DATA_TEACHER));
    ck_assert(!gs_data_kind_is_classification(GS_DATA_CSV));
}
END_TEST

/* Shape, balance, determinism and finiteness of every built-in kind. */
static const struct {
    const char *name;
    size_t d_in, classes; /* classes 0: regression */
} builtin[] = {
    {"spiral", 2, 3}, {"spiral:5", 2, 5}, {"moons", 2, 2},   {"circles", 2, 2},
    {"xor", 2, 2},    {"blobs", 2, 3},    {"blobs:4", 2, 4}, {"checkerboard", 2, 2},
    {"sine", 1, 0},   {"teacher", 8, 0},
};

START_TEST(test_builtin_kinds)
{
    const char *name = builtin[_i].name;
    GsDataOptions o = default_opts();
    o.classify = builtin[_i].classes > 0;
    o.samples = 601; /* not a multiple of the class count */
    GsDataset *a = make(name, &o);
    ck_assert_uint_eq(a->n, 601);
    ck_assert_uint_eq(a->d_in, builtin[_i].d_in);
    ck_assert(all_finite(a->x, a->n * a->d_in));
    if (builtin[_i].classes) {
        size_t k = builtin[_i].classes;
        ck_assert_uint_eq(a->n_classes, k);
        ck_assert_uint_eq(a->d_out, k);
        ck_assert_ptr_null(a->y);
        ck_assert_ptr_nonnull(a->label);
        size_t count[8] = {0};
        for (size_t i = 0; i < a->n; i++) {
            ck_assert(a->label[i] >= 0 && (size_t)a->label[i] < k);
            count[a->label[i]]++;
        }
        for (size_t c = 0; c < k; c++)
            ck_assert_msg(count[c] == 601 / k || count[c] == 601 / k + 1, "%s class %zu: %zu", name,
                          c, count[c]);
        /* Shuffled: the first rows are not simply 0, 1, 2, ... */
        int cyclic = 1;
        for (size_t i = 0; i < 30; i++)
            cyclic &= (size_t)a->label[i] == i % k;
        ck_assert(!cyclic);
    } else {
        ck_assert_uint_eq(a->n_classes, 0);
        ck_assert_uint_eq(a->d_out, 1);
        ck_assert_ptr_null(a->label);
        ck_assert(all_finite(a->y, a->n));
    }
    /* Inputs at roughly unit scale. */
    double m2 = gs_data_input_second_moment(a);
    ck_assert_msg(m2 > 0.1 && m2 < 4.0, "%s: mean x^2 = %g", name, m2);

    GsDataset *b = make(name, &o);
    ck_assert(memcmp(a->x, b->x, a->n * a->d_in * sizeof(float)) == 0);
    if (a->label)
        ck_assert(memcmp(a->label, b->label, a->n * sizeof(int32_t)) == 0);
    else
        ck_assert(memcmp(a->y, b->y, a->n * sizeof(float)) == 0);
    o.seed = 1235;
    GsDataset *c = make(name, &o);
    ck_assert(memcmp(a->x, c->x, a->n * a->d_in * sizeof(float)) != 0);
    gs_data_destroy(a);
    gs_data_destroy(b);
    gs_data_destroy(c);
}
END_TEST

START_TEST(test_generators_shape_of_data)
{
    GsDataOptions o = default_opts();
    o.noise = 0.0;
    /* circles without noise: class 0 on radius 1, class 1 on radius 0.5. */
    GsDataset *ds = make("circles", &o);
    for (size_t i = 0; i < ds->n; i++) {
        double r = hypot((double)ds->x[2 * i], (double)ds->x[2 * i + 1]);
        ck_assert_double_eq_tol(r, ds->label[i] == 0 ? 1.0 : 0.5, 1e-6);
    }
    gs_data_destroy(ds);
    /* xor: the label is the sign pattern of the quadrant (noise-free clusters stay close). */
    ds = make("xor", &o);
    size_t agree = 0;
    for (size_t i = 0; i < ds->n; i++)
        agree += (ds->x[2 * i] * ds->x[2 * i + 1] < 0) == (ds->label[i] == 1);
    ck_assert_uint_gt(agree, ds->n * 95 / 100);
    gs_data_destroy(ds);
    /* checkerboard: the cell parity is the label exactly without noise. */
    ds = make("checkerboard", &o);
    for (size_t i = 0; i < ds->n; i++) {
        int cx = (int)floor(((double)ds->x[2 * i] + 1.0) * 2.0);
        int cy = (int)floor(((double)ds->x[2 * i + 1] + 1.0) * 2.0);
        ck_assert_int_eq((cx + cy) % 2, ds->label[i]);
    }
    gs_data_destroy(ds);
    /* sine: y = sin(x) exactly (in float) without noise; x in [-pi, pi]. */
    o.classify = 0;
    ds = make("sine", &o);
    for (size_t i = 0; i < ds->n; i++) {
        ck_assert(fabs((double)ds->x[i]) <= 3.1416);
        ck_assert_double_eq_tol((double)ds->y[i], sin((double)ds->x[i]), 1e-6);
    }
    gs_data_destroy(ds);
    /* sine with noise 0.1: the residual std is about 0.1. */
    o.noise = 0.1;
    o.samples = 4000;
    ds = make("sine", &o);
    double ss = 0;
    for (size_t i = 0; i < ds->n; i++) {
        double d = (double)ds->y[i] - sin((double)ds->x[i]);
        ss += d * d;
    }
    ck_assert_double_eq_tol(sqrt(ss / (double)ds->n), 0.1, 0.01);
    gs_data_destroy(ds);
    /* teacher: a non-trivial function (targets vary) of unit-normal inputs. */
    o.noise = 0.0;
    ds = make("teacher", &o);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < ds->n; i++) {
        s += (double)ds->y[i];
        s2 += (double)ds->y[i] * (double)ds->y[i];
    }
    double var = s2 / (double)ds->n - (s / (double)ds->n) * (s / (double)ds->n);
    ck_assert_msg(var > 0.01 && var < 10, "teacher target variance %g", var);
    ck_assert_double_eq_tol(gs_data_input_second_moment(ds), 1.0, 0.1);
    gs_data_destroy(ds);
}
END_TEST

START_TEST(test_classify_rules)
{
    GsDataOptions o = default_opts();
    GsDataSource src;
    GsError err = {{0}};
    /* Regression data with a classification loss: rejected naming the data. */
    ck_assert_int_eq(gs_data_source_parse("sine", &src, &err), GS_OK);
    o.classify = 1;
    GsDataset *ds = (GsDataset *)(void *)&src; /* sentinel */
    ck_assert_int_eq(gs_data_create(&src, &o, &ds, &err), GS_ERR_INVALID);
    ck_assert_ptr_eq(ds, (GsDataset *)(void *)&src);
    ck_assert_str_eq(err.msg, "data 'sine' is a regression task; use --loss mse");
    ck_assert_int_eq(gs_data_source_parse("teacher", &src, &err), GS_OK);
    ck_assert_int_eq(gs_data_create(&src, &o, &ds, &err), GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "'teacher'") != NULL);

    /* Classification data with mse: one-hot targets, labels kept, same inputs. */
    GsDataset *lab = make("spiral:4", &o);
    o.classify = 0;
    GsDataset *hot = make("spiral:4", &o);
    ck_assert_uint_eq(hot->d_out, 4);
    ck_assert_uint_eq(hot->n_classes, 4);
    ck_assert_ptr_nonnull(hot->y);
    ck_assert_ptr_nonnull(hot->label);
    ck_assert(memcmp(lab->x, hot->x, lab->n * 2 * sizeof(float)) == 0);
    for (size_t i = 0; i < hot->n; i++) {
        ck_assert_int_eq(hot->label[i], lab->label[i]);
        for (size_t c = 0; c < 4; c++)
            ck_assert(hot->y[i * 4 + c] == ((size_t)hot->label[i] == c ? 1.0f : 0.0f));
    }
    gs_data_destroy(lab);
    gs_data_destroy(hot);

    /* Bad options. */
    o = default_opts();
    ck_assert_int_eq(gs_data_source_parse("moons", &src, &err), GS_OK);
    o.samples = 0;
    ck_assert_int_eq(gs_data_create(&src, &o, &ds, &err), GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "samples 0") != NULL);
    o.samples = 10;
    o.noise = -1;
    ck_assert_int_eq(gs_data_create(&src, &o, &ds, &err), GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "noise -1") != NULL);
}
END_TEST

START_TEST(test_standardize_scale)
{
    GsDataOptions o = default_opts();
    o.standardize = 1;
    GsDataset *ds = make("moons", &o);
    for (size_t j = 0; j < 2; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < ds->n; i++) {
            s += (double)ds->x[2 * i + j];
            s2 += (double)ds->x[2 * i + j] * (double)ds->x[2 * i + j];
        }
        double mean = s / (double)ds->n;
        ck_assert_double_eq_tol(mean, 0.0, 1e-6);
        ck_assert_double_eq_tol(s2 / (double)ds->n - mean * mean, 1.0, 1e-5);
    }
    ck_assert_double_eq_tol(gs_data_input_second_moment(ds), 1.0, 1e-5);
    o.input_scale = 3.0;
    GsDataset *sc = make("moons", &o);
    for (size_t i = 0; i < ds->n * 2; i++)
        ck_assert_double_eq_tol((double)sc->x[i], 3.0 * (double)ds->x[i], 1e-5);
    ck_assert_double_eq_tol(gs_data_input_second_moment(sc), 9.0, 1e-4);
    /* Without standardizing the scale multiplies the raw inputs. */
    o.standardize = 0;
    o.input_scale = 1.0;
    GsDataset *raw = make("moons", &o);
    o.input_scale = -0.5;
    GsDataset *half = make("moons", &o);
    for (size_t i = 0; i < raw->n * 2; i++)
        ck_assert(half->x[i] == -0.5f * raw->x[i]);
    gs_data_destroy(ds);
    gs_data_destroy(sc);
    gs_data_destroy(raw);
    gs_data_destroy(half);
}
END_TEST

static GsDataset *load_csv(const char *name, const char *target, int classify, int standardize)
{
    GsDataOptions o = default_opts();
    o.target = target;
    o.classify = classify;
    o.standardize = standardize;
    GsDataSource src;
    GsError err = {{0}};
    char path[4200];
    snprintf(path, sizeof path, "%s", fixture(name));
    ck_assert_int_eq(gs_data_source_parse(path, &src, &err), GS_OK);
    GsDataset *ds = NULL;
    ck_assert_msg(gs_data_create(&src, &o, &ds, &err) == GS_OK, "%s", err.msg);
    return ds;
}

START_TEST(test_csv_ok)
{
    /* Default target: the last column, as class ids. */
    GsDataset *ds = load_csv("data_ok.csv", NULL, 1, 0);
    ck_assert_uint_eq(ds->n, 4);
    ck_assert_uint_eq(ds->d_in, 3);
    ck_assert_uint_eq(ds->n_classes, 3);
    ck_assert_uint_eq(ds->d_out, 3);
    ck_assert_int_eq(ds->label[2], 2);
    ck_assert(ds->x[0] == 0.5f);
    ck_assert(ds->x[1] == 1.0f);
    ck_assert(ds->x[2] == 7.0f);
    ck_assert(ds->x[2 * 3 + 0] == -2.0f);
    ck_assert(ds->x[2 * 3 + 1] == 0.3f);
    gs_data_destroy(ds);

    /* Target by (trimmed) name: column " b " is "b"; regression keeps the value. */
    ds = load_csv("data_ok.csv", "b", 0, 0);
    ck_assert_uint_eq(ds->d_in, 3);
    ck_assert_uint_eq(ds->d_out, 1);
    ck_assert_uint_eq(ds->n_classes, 0);
    ck_assert_ptr_null(ds->label);
    ck_assert(ds->y[1] == -1.0f);
    ck_assert(ds->x[3 * 1 + 0] == 1.5f);
    ck_assert(ds->x[3 * 1 + 2] == 1.0f); /* label column is an input now */
    gs_data_destroy(ds);

    /* Target by 1-based index. */
    ds = load_csv("data_reg.csv", "1", 0, 0);
    ck_assert_uint_eq(ds->n, 3);
    ck_assert(ds->y[2] == 5.0f);
    ck_assert(ds->x[2 * 2 + 1] == 2.0f);
    gs_data_destroy(ds);

    ds = load_csv("data_reg.csv", NULL, 0, 0);
    ck_assert(ds->y[1] == -1.25f);
    gs_data_destroy(ds);

    /* Standardizing: a constant column becomes 0, not NaN. */
    ds = load_csv("data_ok.csv", NULL, 1, 1);
    for (size_t i = 0; i < ds->n; i++)
        ck_assert(ds->x[i * 3 + 2] == 0.0f);
    ck_assert(all_finite(ds->x, ds->n * ds->d_in));
    gs_data_destroy(ds);
}
END_TEST

/* Loading fails with status st and a message holding the path and needle. */
static void expect_csv_error(const char *name, const char *target, int classify, GsStatus st,
                             const char *needle)
{
    GsDataOptions o = default_opts();
    o.target = target;
    o.classify = classify;
    GsDataSource src;
    GsError err = {{0}};
    char path[4200];
    snprintf(path, sizeof path, "%s", fixture(name));
    ck_assert_int_eq(gs_data_source_parse(path, &src, &err), GS_OK);
    GsDataset *ds = NULL;
    ck_assert_int_eq(gs_data_create(&src, &o, &ds, &err), st);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err.msg, path) != NULL, "'%s' lacks the path", err.msg);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
}

START_TEST(test_csv_errors)
{
    expect_csv_error("data_bad_nonnumeric.csv", NULL, 0, GS_ERR_FORMAT,
                     ":3:2: non-numeric value 'x' in column 'b'");
    expect_csv_error("data_bad_ragged.csv", NULL, 0, GS_ERR_FORMAT, ":3: 3 cells, header has 4");
    expect_csv_error("data_empty.csv", NULL, 0, GS_ERR_FORMAT, "empty file");
    expect_csv_error("data_header_only.csv", NULL, 0, GS_ERR_FORMAT,
                     "no data rows after the header (line 1)");
    expect_csv_error("data_bad_nan.csv", NULL, 0, GS_ERR_FORMAT,
                     ":3:2: value 'nan' in column 'b' is not a finite");
    expect_csv_error("data_bad_class.csv", NULL, 1, GS_ERR_FORMAT,
                     ":3:2: class id 1.5 is not an integer >= 0");
    expect_csv_error("data_ok.csv", "foo", 1, GS_ERR_FORMAT,
                     "no column 'foo' (columns: a, b, const, label)");
    expect_csv_error("data_ok.csv", "5", 1, GS_ERR_FORMAT, "index 5 out of range");
    expect_csv_error("data_ok.csv", "0", 1, GS_ERR_FORMAT, "index 0 out of range");
    expect_csv_error("data_reg.csv", "y", 1, GS_ERR_FORMAT, ":2:3: class id 0.5 is not");
    expect_csv_error("data_missing_file.csv", NULL, 0, GS_ERR_IO, "No such file");
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_source_parse);
    tcase_add_loop_test(tc, test_builtin_kinds, 0, (int)(sizeof builtin / sizeof builtin[0]));
    tcase_add_test(tc, test_generators_shape_of_data);
    tcase_add_test(tc, test_classify_rules);
    tcase_add_test(tc, test_standardize_scale);
    tcase_add_test(tc, test_csv_ok);
    tcase_add_test(tc, test_csv_errors);
    suite_add_tcase(s, tc);
    return s;
}
