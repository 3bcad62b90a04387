/* Binning steps into pixel columns: spans, alarm precedence, exact reductions. */
#include <math.h>

#include "gradscope/trace.h"
#include "plot/bin.h"
#include "runner.h"

START_TEST(spans_partition)
{
    for (size_t n = 1; n < 60; n++)
        for (size_t nc = 1; nc <= n; nc++) {
            size_t expect = 0;
            for (size_t c = 0; c < nc; c++) {
                size_t a, b;
                gs_bin_span(n, nc, c, &a, &b);
                ck_assert_uint_eq(a, expect);
                ck_assert(b > a);
                ck_assert(b - a == n / nc || b - a == n / nc + 1);
                expect = b;
            }
            ck_assert_uint_eq(expect, n);
        }
    ck_assert_uint_eq(gs_bin_count(5, 10), 5);
    ck_assert_uint_eq(gs_bin_count(20000, 900), 900);
}
END_TEST

START_TEST(reduce_exact)
{
    const double v[] = {1.0, 100.0, 10.0, 1e-2};
    ck_assert_double_eq_tol(gs_bin_reduce(v, 4, GS_BIN_GMEAN), pow(10.0, 0.25), 1e-12);
    ck_assert_double_eq(gs_bin_reduce(v, 4, GS_BIN_MAX), 100.0);
    ck_assert_double_eq(gs_bin_reduce(v, 4, GS_BIN_MIN), 1e-2);
    const double w[] = {1e-300, 1e-300};
    ck_assert_double_eq_tol(gs_bin_reduce(w, 2, GS_BIN_GMEAN), 1e-300, 1e-310);
    const double z[] = {4.0, 0.0, 9.0};
    ck_assert_double_eq(gs_bin_reduce(z, 3, GS_BIN_GMEAN), 0.0);
    ck_assert_double_eq(gs_bin_reduce(z, 3, GS_BIN_MAX), 9.0);
    ck_assert_double_eq(gs_bin_reduce(z, 3, GS_BIN_MIN), 0.0);
    const double neg[] = {4.0, -2.0};
    ck_assert_double_eq(gs_bin_reduce(neg, 2, GS_BIN_GMEAN), -2.0);
}
END_TEST

START_TEST(alarms_survive)
{
    const double a[] = {1.0, INFINITY, NAN, 0.0, -INFINITY};
    for (int m = GS_BIN_GMEAN; m <= GS_BIN_MIN; m++) {
        ck_assert(isnan(gs_bin_reduce(a, 5, (GsBinMode)m)));
        ck_assert(isinf(gs_bin_reduce(a, 2, (GsBinMode)m)) &&
                  gs_bin_reduce(a, 2, (GsBinMode)m) > 0);
        double r = gs_bin_reduce(a + 3, 2, (GsBinMode)m);
        ck_assert(isinf(r) && r < 0);
        /* +Inf beats -Inf */
        const double pn[] = {-INFINITY, 3.0, INFINITY};
        ck_assert(isinf(gs_bin_reduce(pn, 3, (GsBinMode)m)) &&
                  gs_bin_reduce(pn, 3, (GsBinMode)m) > 0);
    }
    /* one NaN among 1000 steps binned into 10 columns: exactly one NaN column */
    static double v[1000], out[10];
    for (int i = 0; i < 1000; i++)
        v[i] = 1.0 + i;
    v[537] = NAN;
    v[10] = INFINITY;
    ck_assert_uint_eq(gs_bin_row(v, 1000, 10, GS_BIN_GMEAN, out), 10);
    for (int c = 0; c < 10; c++) {
        if (c == 5)
            ck_assert(isnan(out[c]));
        else if (c == 0)
            ck_assert(isinf(out[c]) && out[c] > 0);
        else
            ck_assert(isfinite(out[c]) && out[c] > 100.0 * c && out[c] < 100.0 * (c + 1) + 1);
    }
}
END_TEST

START_TEST(missing_left_out)
{
    const double M = gs_trace_missing();
    const double a[4] = {M, 4.0, M, 1.0};
    ck_assert_double_eq_tol(gs_bin_reduce(a, 4, GS_BIN_GMEAN), 2.0, 1e-12);
    ck_assert_double_eq(gs_bin_reduce(a, 4, GS_BIN_MAX), 4.0);
    ck_assert_double_eq(gs_bin_reduce(a, 4, GS_BIN_MIN), 1.0);
    const double b[3] = {M, M, M};
    ck_assert(gs_trace_is_missing(gs_bin_reduce(b, 3, GS_BIN_GMEAN)));
    /* a real NaN is still an alarm next to missing values */
    const double c[3] = {M, NAN, 2.0};
    double r = gs_bin_reduce(c, 3, GS_BIN_MAX);
    ck_assert(isnan(r) && !gs_trace_is_missing(r));
}
END_TEST

START_TEST(row_copy_when_fewer)
{
    const double v[] = {3.0, NAN, 0.5};
    double out[8];
    ck_assert_uint_eq(gs_bin_row(v, 3, 8, GS_BIN_MAX, out), 3);
    ck_assert_double_eq(out[0], 3.0);
    ck_assert(isnan(out[1]));
    ck_assert_double_eq(out[2], 0.5);
    const double w[] = {1, 4, 2, 8, 16, 1};
    ck_assert_uint_eq(gs_bin_row(w, 6, 3, GS_BIN_GMEAN, out), 3);
    ck_assert_double_eq_tol(out[0], 2.0, 1e-12);
    ck_assert_double_eq_tol(out[1], 4.0, 1e-12);
    ck_assert_double_eq_tol(out[2], 4.0, 1e-12);
    ck_assert_uint_eq(gs_bin_row(w, 6, 2, GS_BIN_MAX, out), 2);
    ck_assert_double_eq(out[0], 4.0);
    ck_assert_double_eq(out[1], 16.0);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("bin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, spans_partition);
    tcase_add_test(tc, reduce_exact);
    tcase_add_test(tc, alarms_survive);
    tcase_add_test(tc, row_copy_when_fewer);
    tcase_add_test(tc, missing_left_out);
    suite_add_tcase(s, tc);
    return s;
}
