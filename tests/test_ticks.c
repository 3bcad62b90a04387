/* Tick choice: nice steps, decades, zero-spanning, tiny/huge and degenerate ranges, labels. */
#include <math.h>
#include <string.h>

#include "plot/ticks.h"
#include "runner.h"

/* 1 when s is 1, 2 or 5 times a power of ten. */
static int is_nice(double s)
{
    double e = floor(log10(s) + 1e-12);
    double m = s / pow(10.0, e);
    return fabs(m - 1.0) < 1e-9 || fabs(m - 2.0) < 1e-9 || fabs(m - 5.0) < 1e-9 ||
           fabs(m - 10.0) < 1e-9;
}

static void check_linear(double lo, double hi, int maxn)
{
    double t[64], step = 0;
    size_t n = gs_ticks_linear(lo, hi, maxn, t, 64, &step);
    ck_assert_msg(n >= 2 && n <= (size_t)maxn, "[%g,%g] gave %zu ticks", lo, hi, n);
    ck_assert_msg(is_nice(step), "step %g not nice", step);
    double a = fmin(lo, hi), b = fmax(lo, hi);
    for (size_t i = 0; i < n; i++) {
        if (lo != hi) {
            ck_assert(t[i] >= a - 1e-9 * fabs(step) && t[i] <= b + 1e-9 * fabs(step));
        }
        double k = t[i] / step;
        ck_assert_msg(fabs(t[i] - round(k) * step) <= 1e-9 * (fabs(t[i]) + step),
                      "tick %g not a multiple of %g", t[i], step);
        if (i)
            ck_assert(fabs((t[i] - t[i - 1]) - step) <= fabs(step) * 1e-6 + 4e-16 * fabs(t[i]));
    }
}

START_TEST(linear_basic)
{
    double t[16], step;
    size_t n = gs_ticks_linear(0, 10, 6, t, 16, &step);
    ck_assert_uint_eq(n, 6);
    ck_assert_double_eq(step, 2.0);
    ck_assert_double_eq(t[0], 0.0);
    ck_assert_double_eq(t[5], 10.0);
    n = gs_ticks_linear(0.13, 0.87, 5, t, 16, &step);
    ck_assert_double_eq_tol(step, 0.2, 1e-15);
    ck_assert_uint_eq(n, 4);
    ck_assert_double_eq_tol(t[0], 0.2, 1e-12);
    check_linear(0, 1, 5);
    check_linear(3, 997, 7);
    check_linear(10, 0, 6); /* reversed */
}
END_TEST

START_TEST(linear_spanning_zero)
{
    double t[16], step;
    size_t n = gs_ticks_linear(-0.7, 1.3, 6, t, 16, &step);
    int has_zero = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] == 0.0 && !signbit(t[i]))
            has_zero = 1;
    ck_assert(has_zero);
    check_linear(-3e5, 2e5, 8);
}
END_TEST

START_TEST(linear_tiny_huge_single)
{
    check_linear(1e-300, 7e-300, 6);
    check_linear(1.0, 1.0 + 1e-12, 5);
    check_linear(-1e308, 1e308, 5);
    check_linear(4.2, 4.2, 5);
    check_linear(0, 0, 5);
    double t[8];
    ck_assert_uint_eq(gs_ticks_linear(NAN, 1, 5, t, 8, NULL), 0);
    ck_assert_uint_eq(gs_ticks_linear(0, INFINITY, 5, t, 8, NULL), 0);
}
END_TEST

START_TEST(integer_ticks)
{
    double t[16], step;
    size_t n = gs_ticks_int(1, 3, 10, t, 16, &step);
    ck_assert_double_eq(step, 1.0);
    ck_assert_uint_eq(n, 3);
    n = gs_ticks_int(0, 19999, 6, t, 16, &step);
    ck_assert_double_eq(step, 5000.0);
    ck_assert_uint_eq(n, 4);
    n = gs_ticks_int(1, 1, 5, t, 16, &step);
    ck_assert(n >= 1 && step >= 1.0);
    for (size_t i = 0; i < n; i++)
        ck_assert_double_eq(t[i], round(t[i]));
}
END_TEST

START_TEST(at_least_two)
{
    double v[32], step;
    /* a 3-tick limit over 0..499 would round the step up to 500 and leave one tick */
    size_t n = gs_ticks_int(0, 499, 3, v, 32, &step);
    ck_assert_uint_ge(n, 2);
    ck_assert_double_eq(v[0], 0.0);
    ck_assert_double_eq(step, 200.0);
    n = gs_ticks_linear(0.0, 0.97, 2, v, 32, &step);
    ck_assert_uint_ge(n, 2);
    n = gs_ticks_int(3, 4, 2, v, 32, &step);
    ck_assert_uint_eq(n, 2);
}
END_TEST

START_TEST(decades)
{
    int e[64];
    size_t n = gs_ticks_decades(-3.2, 1.5, 10, e, 64);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(e[0], -3);
    ck_assert_int_eq(e[4], 1);
    n = gs_ticks_decades(-300, 0, 7, e, 64);
    ck_assert(n >= 2 && n <= 7);
    for (size_t i = 1; i < n; i++)
        ck_assert_int_eq(e[i] - e[i - 1], e[1] - e[0]);
    ck_assert_int_eq(e[0] % (e[1] - e[0]), 0);
    ck_assert_uint_eq(gs_ticks_decades(0.2, 0.8, 5, e, 64), 0);
    ck_assert_uint_eq(gs_ticks_decades(2, 2, 5, e, 64), 1);
}
END_TEST

START_TEST(labels)
{
    char b[64];
    gs_ticks_format_pow10(-3, b, sizeof b);
    ck_assert_str_eq(b, "10\xe2\x81\xbb\xc2\xb3");
    gs_ticks_format_pow10(12, b, sizeof b);
    ck_assert_str_eq(b, "10\xc2\xb9\xc2\xb2");
    gs_ticks_format_pow10(0, b, sizeof b);
    ck_assert_str_eq(b, "10\xe2\x81\xb0");
    gs_ticks_format(0.2, 0.2, b, sizeof b);
    ck_assert_str_eq(b, "0.2");
    gs_ticks_format(15000, 5000, b, sizeof b);
    ck_assert_str_eq(b, "15000");
    gs_ticks_format(2e-6, 1e-6, b, sizeof b);
    ck_assert_str_eq(b, "2\xc3\x97"
                        "10\xe2\x81\xbb\xe2\x81\xb6");
    gs_ticks_format(0.0, 1e-6, b, sizeof b);
    ck_assert_str_eq(b, "0");
    char small[4];
    gs_ticks_format_pow10(-300, small, sizeof small);
    ck_assert(strlen(small) < sizeof small);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("ticks");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, linear_basic);
    tcase_add_test(tc, linear_spanning_zero);
    tcase_add_test(tc, linear_tiny_huge_single);
    tcase_add_test(tc, integer_ticks);
    tcase_add_test(tc, decades);
    tcase_add_test(tc, at_least_two);
    tcase_add_test(tc, labels);
    suite_add_tcase(s, tc);
    return s;
}
