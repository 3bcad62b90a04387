/* Colour maps: endpoints, monotone lightness, diverging symmetry, distinct specials. */
#include <math.h>

#include "plot/cmap.h"
#include "runner.h"

static double dist(GsRgb a, GsRgb b)
{
    return sqrt((a.r - b.r) * (a.r - b.r) + (a.g - b.g) * (a.g - b.g) + (a.b - b.b) * (a.b - b.b));
}

START_TEST(seq_endpoints)
{
    GsRgb lo = gs_cmap_seq(0.0), hi = gs_cmap_seq(1.0);
    ck_assert_double_eq_tol(lo.r, 0x44 / 255.0, 1e-12);
    ck_assert_double_eq_tol(lo.b, 0x54 / 255.0, 1e-12);
    ck_assert_double_eq_tol(hi.r, 0xfd / 255.0, 1e-12);
    ck_assert_double_eq_tol(hi.g, 0xe7 / 255.0, 1e-12);
    /* clamped outside [0,1] */
    ck_assert_double_eq_tol(dist(gs_cmap_seq(-3.0), lo), 0.0, 1e-12);
    ck_assert_double_eq_tol(dist(gs_cmap_seq(7.0), hi), 0.0, 1e-12);
    GsRgb nan = gs_cmap_seq(NAN);
    ck_assert_double_eq_tol(dist(nan, gs_cmap_special(GS_SPECIAL_NAN)), 0.0, 1e-12);
}
END_TEST

START_TEST(seq_lightness_monotone)
{
    double prev = -1.0;
    for (int i = 0; i <= 1000; i++) {
        GsRgb c = gs_cmap_seq(i / 1000.0);
        ck_assert(c.r >= 0 && c.r <= 1 && c.g >= 0 && c.g <= 1 && c.b >= 0 && c.b <= 1);
        double L = gs_cmap_lightness(c);
        ck_assert_msg(L > prev, "L* not increasing at t=%g: %g <= %g", i / 1000.0, L, prev);
        prev = L;
    }
    ck_assert(gs_cmap_lightness(gs_cmap_seq(1.0)) - gs_cmap_lightness(gs_cmap_seq(0.0)) > 60.0);
}
END_TEST

START_TEST(lightness_reference)
{
    ck_assert_double_eq_tol(gs_cmap_lightness((GsRgb){1, 1, 1}), 100.0, 1e-3);
    ck_assert_double_eq_tol(gs_cmap_lightness((GsRgb){0, 0, 0}), 0.0, 1e-9);
    /* sRGB mid grey 0.5 has L* ~ 53.39 */
    ck_assert_double_eq_tol(gs_cmap_lightness((GsRgb){0.5, 0.5, 0.5}), 53.39, 0.05);
}
END_TEST

START_TEST(div_symmetry_and_neutral)
{
    GsRgb mid = gs_cmap_div(0.0);
    ck_assert(gs_cmap_lightness(mid) > 94.0);
    ck_assert(fabs(mid.r - mid.g) < 0.05 && fabs(mid.g - mid.b) < 0.05); /* neutral */
    double prev = 200.0;
    for (int i = 0; i <= 100; i++) {
        double t = i / 100.0;
        double Lp = gs_cmap_lightness(gs_cmap_div(t));
        double Ln = gs_cmap_lightness(gs_cmap_div(-t));
        ck_assert_msg(fabs(Lp - Ln) < 0.5, "t=%g L*(t)=%g L*(-t)=%g", t, Lp, Ln);
        ck_assert(Lp < prev || i == 0);
        prev = Lp;
    }
    /* hues: negative side blue (b > r), positive side orange (r > b) */
    GsRgb neg = gs_cmap_div(-0.7), pos = gs_cmap_div(0.7);
    ck_assert(neg.b > neg.r + 0.3);
    ck_assert(pos.r > pos.b + 0.3);
}
END_TEST

START_TEST(specials_distinct)
{
    for (int a = 0; a < GS_SPECIAL_COUNT; a++) {
        GsRgb ca = gs_cmap_special((GsSpecial)a);
        for (int b = a + 1; b < GS_SPECIAL_COUNT; b++)
            ck_assert(dist(ca, gs_cmap_special((GsSpecial)b)) > 0.5);
        for (int i = 0; i <= 200; i++) {
            ck_assert_msg(dist(ca, gs_cmap_seq(i / 200.0)) > 0.25, "special %d near seq", a);
            ck_assert_msg(dist(ca, gs_cmap_div(i / 100.0 - 1.0)) > 0.25, "special %d near div", a);
        }
        ck_assert_str_ne(gs_cmap_special_label((GsSpecial)a), "?");
    }
}
END_TEST

START_TEST(pack)
{
    ck_assert_uint_eq(gs_cmap_pack((GsRgb){1, 0, 0.5}), 0xFFFF0080u);
    ck_assert_uint_eq(gs_cmap_pack((GsRgb){-1, 2, 0}), 0xFF00FF00u);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("cmap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, seq_endpoints);
    tcase_add_test(tc, seq_lightness_monotone);
    tcase_add_test(tc, lightness_reference);
    tcase_add_test(tc, div_symmetry_and_neutral);
    tcase_add_test(tc, specials_distinct);
    tcase_add_test(tc, pack);
    suite_add_tcase(s, tc);
    return s;
}
