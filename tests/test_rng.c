/* Tests of the seeded generator: determinism and the moments of its distributions. */
#include <math.h>

#include "gradscope/rng.h"
#include "runner.h"

START_TEST(test_deterministic)
{
    GsRng a, b;
    gs_rng_seed(&a, 42);
    gs_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(gs_rng_u64(&a), gs_rng_u64(&b));
    gs_rng_seed(&b, 43);
    ck_assert_uint_ne(gs_rng_u64(&a), gs_rng_u64(&b));
}
END_TEST

START_TEST(test_moments)
{
    GsRng r;
    gs_rng_seed(&r, 7);
    const int n = 200000;
    double su = 0, suu = 0, sn = 0, snn = 0;
    for (int i = 0; i < n; i++) {
        double u = gs_rng_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        su += u;
        suu += u * u;
        double z = gs_rng_normal(&r);
        ck_assert(isfinite(z));
        sn += z;
        snn += z * z;
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(suu / n - (su / n) * (su / n), 1.0 / 12, 0.002);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(snn / n, 1.0, 0.01);
}
END_TEST

START_TEST(test_below)
{
    GsRng r;
    gs_rng_seed(&r, 1);
    int counts[5] = {0};
    for (int i = 0; i < 50000; i++)
        counts[gs_rng_below(&r, 5)]++;
    for (int k = 0; k < 5; k++)
        ck_assert_int_gt(counts[k], 9500);
    ck_assert_uint_ne(gs_rng_derive(1, 1), gs_rng_derive(1, 2));
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_moments);
    tcase_add_test(tc, test_below);
    suite_add_tcase(s, tc);
    return s;
}
