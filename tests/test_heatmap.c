/* Heatmap: pixels at cell centres match the colour map (orientation: layer 1 at the bottom),
 * special values, colour range rules, relative mode and binning of wide traces. */
#include <math.h>
#include <stdint.h>

#include <string.h>

#include "plot/draw.h"
#include "plot/heatmap.h"
#include "runner.h"

/* 3 layers x 4 steps, values spanning decades plus one NaN, one +Inf and one 0. */
/* Under LeakSanitizer only: fontconfig (behind cairo's toy text API) keeps process-lifetime
 * caches it never frees; they are not ours to fix. Unused in ordinary builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\n";
}

static const double cells[4][3] = {
    {1e-6, 1e-3, 1.0},
    {2e-6, NAN, 10.0},
    {4e-6, 3e-3, INFINITY},
    {0.0, 5e-3, 40.0},
};

static GsTrace *tiny_trace(void)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(3, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    for (int s = 0; s < 4; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s * 10, &row), GS_OK);
        for (int l = 0; l < 3; l++)
            row[l * GS_COL_COUNT + GS_COL_GRAD_NORM] = cells[s][l];
        gs_trace_commit_step(t);
    }
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    return t;
}

static uint32_t pixel(cairo_surface_t *s, int x, int y)
{
    cairo_surface_flush(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    return ((const uint32_t *)(const void *)(d + (size_t)stride * (size_t)y))[x];
}

static void assert_px(uint32_t px, GsRgb c, const char *what)
{
    double r = ((px >> 16) & 255) / 255.0, g = ((px >> 8) & 255) / 255.0, b = (px & 255) / 255.0;
    ck_assert_msg(
        fabs(r - c.r) <= 2.0 / 255 && fabs(g - c.g) <= 2.0 / 255 && fabs(b - c.b) <= 2.0 / 255,
        "%s: pixel %06x vs expected (%.3f %.3f %.3f)", what, px & 0xFFFFFF, c.r, c.g, c.b);
}

START_TEST(cells_match_colormap)
{
    GsTrace *t = tiny_trace();
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 1000};
    GsHeatmap *hm = NULL;
    GsError err;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, &err), GS_OK);
    ck_assert_uint_eq(gs_heatmap_n_cols(hm), 4);
    ck_assert_uint_eq(gs_heatmap_n_layers(hm), 3);
    double lo, hi;
    int cl;
    gs_heatmap_range(hm, &lo, &hi, &cl);
    ck_assert_double_eq(lo, -6.0); /* floor(log10 1e-6) */
    ck_assert_double_eq(hi, 2.0);  /* ceil(log10 40) */
    ck_assert_int_eq(cl, 0);
    ck_assert(gs_heatmap_has_special(hm, GS_SPECIAL_NAN));
    ck_assert(gs_heatmap_has_special(hm, GS_SPECIAL_POSINF));
    ck_assert(gs_heatmap_has_special(hm, GS_SPECIAL_ZERO));
    ck_assert(!gs_heatmap_has_special(hm, GS_SPECIAL_NEGINF));

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 40, 30);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    gs_heatmap_draw_cells(cr, hm, (GsRect){0, 0, 40, 30});
    ck_assert_int_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    for (int st = 0; st < 4; st++)
        for (int l = 0; l < 3; l++) {
            int x = st * 10 + 5, y = (2 - l) * 10 + 5; /* layer 1 is the bottom row */
            assert_px(pixel(s, x, y), gs_heatmap_color(hm, cells[st][l]), "cell");
        }
    /* explicit colours: the special cells and the extremes of the sequential map */
    assert_px(pixel(s, 15, 15), gs_cmap_special(GS_SPECIAL_NAN), "NaN at step 10, layer 2");
    assert_px(pixel(s, 25, 5), gs_cmap_special(GS_SPECIAL_POSINF), "+Inf at step 20, out");
    assert_px(pixel(s, 35, 25), gs_cmap_special(GS_SPECIAL_ZERO), "0 at step 30, layer 1");
    assert_px(pixel(s, 5, 25), gs_cmap_seq(0.0), "1e-6 = range bottom at layer 1");
    assert_px(pixel(s, 5, 5), gs_cmap_seq(6.0 / 8.0), "1.0 at out");
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(range_clamped_to_16_decades)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    double *row;
    ck_assert_int_eq(gs_trace_add_step(t, 0, &row), GS_OK);
    row[GS_COL_GRAD_NORM] = 1e-300;
    row[GS_COL_COUNT + GS_COL_GRAD_NORM] = 3.0;
    gs_trace_commit_step(t);
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 100};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    double lo, hi;
    int cl;
    gs_heatmap_range(hm, &lo, &hi, &cl);
    ck_assert_double_eq(hi, 1.0);
    ck_assert_double_eq(lo, -15.0);
    ck_assert_int_eq(cl, 1);
    /* the clamped value takes the bottom colour, not a special one */
    GsRgb c = gs_heatmap_color(hm, 1e-300), b = gs_cmap_seq(0.0);
    ck_assert(fabs(c.r - b.r) < 1e-9 && fabs(c.g - b.g) < 1e-9 && fabs(c.b - b.b) < 1e-9);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(relative_mode)
{
    GsTrace *t = tiny_trace();
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_RATIO, GS_BIN_GMEAN, 1000};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    ck_assert_double_eq_tol(gs_heatmap_value(hm, 0, 0), 1e-6, 1e-18);
    ck_assert_double_eq_tol(gs_heatmap_value(hm, 0, 2), 1.0, 1e-15);
    ck_assert_double_eq_tol(gs_heatmap_value(hm, 1, 0), 2e-7, 1e-18);
    double lo, hi;
    gs_heatmap_range(hm, &lo, &hi, NULL);
    ck_assert_double_eq(hi, 7.0); /* ceil(-log10 2e-7 = 6.7) */
    ck_assert_double_eq(lo, -7.0);
    GsRgb n = gs_heatmap_color(hm, 1.0), d = gs_cmap_div(0.0);
    ck_assert(fabs(n.r - d.r) < 1e-12 && fabs(n.b - d.b) < 1e-12);
    /* weaker than output: blue side */
    GsRgb w = gs_heatmap_color(hm, 1e-4);
    ck_assert(w.b > w.r);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(wide_trace_binned_nan_survives)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(4, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    for (int s = 0; s < 5000; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s, &row), GS_OK);
        for (int l = 0; l < 4; l++)
            row[l * GS_COL_COUNT + GS_COL_GRAD_NORM] =
                (s == 3333 && l == 1) ? (double)NAN : pow(10, l);
        gs_trace_commit_step(t);
    }
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_MAX, 100};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    ck_assert_uint_eq(gs_heatmap_n_cols(hm), 100);
    int nans = 0;
    for (size_t c = 0; c < 100; c++)
        for (size_t l = 0; l < 4; l++)
            if (isnan(gs_heatmap_value(hm, c, l))) {
                nans++;
                ck_assert_uint_eq(c, 66);
                ck_assert_uint_eq(l, 1);
            }
    ck_assert_int_eq(nans, 1);
    /* the step axis maps recorded steps to the centres of their share of the width */
    GsRect r = {0, 0, 5000, 10};
    ck_assert_double_eq_tol(gs_heatmap_step_x(hm, r, 0), 0.5, 1e-9);
    ck_assert_double_eq_tol(gs_heatmap_step_x(hm, r, 4999), 4999.5, 1e-9);
    ck_assert_double_eq_tol(gs_heatmap_step_x(hm, r, 2500.5), 2501.0, 1e-9);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(panel_draws_without_error)
{
    GsTrace *t = tiny_trace();
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 1000};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 400, 300);
    cairo_t *cr = cairo_create(s);
    GsFinding f = {.kind = GS_FIND_VANISHING,
                   .severity = GS_SEV_ERROR,
                   .layer_first = 1,
                   .layer_last = 2,
                   .step_first = 0,
                   .step_last = 30};
    GsFindings fs = {.items = &f, .n = 1};
    cairo_set_line_width(cr, 3.25);
    gs_heatmap_draw(cr, hm, (GsRect){0, 0, 300, 300}, 12, "test", &fs);
    const GsHeatmap *one[1] = {hm};
    gs_colorbar_draw(cr, one, 1, (GsRect){300, 0, 100, 200}, 12, "label");
    gs_legend_draw(cr, one, 1, (GsRect){300, 200, 100, 100}, 12, 1);
    ck_assert_int_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    /* the context is left as found */
    ck_assert_double_eq(cairo_get_line_width(cr), 3.25);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

/* layers x steps trace whose grad_norm is f(step, layer). */
static GsTrace *trace_of(int layers, int steps, double (*f)(int, int))
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create((size_t)layers, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    for (int s = 0; s < steps; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s, &row), GS_OK);
        for (int l = 0; l < layers; l++)
            row[l * GS_COL_COUNT + GS_COL_GRAD_NORM] = f(s, l);
        gs_trace_commit_step(t);
    }
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    return t;
}

/* healthy: 0.01..1 over layers, steady */
static double healthy(int s, int l)
{
    (void)s;
    return pow(10.0, -2.0 + 0.5 * l);
}
/* exploding: starts at 1, grows to 1e17 by the last step */
static double exploding(int s, int l)
{
    return pow(10.0, 17.0 * s / 199.0 + 0.1 * l);
}

static double pos_on_scale(const GsHeatmap *hm, double v)
{
    double lo, hi;
    gs_heatmap_range(hm, &lo, &hi, NULL);
    return (log10(v) - lo) / (hi - lo);
}

START_TEST(shared_range_healthy_beside_exploding)
{
    GsTrace *a = trace_of(5, 200, healthy), *b = trace_of(5, 200, exploding);
    GsHeatmap *hm[2] = {NULL, NULL};
    GsHeatmapSpec sa = {a, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 200};
    GsHeatmapSpec sb = {b, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 200};
    ck_assert_int_eq(gs_heatmap_create(&sa, &hm[0], NULL), GS_OK);
    ck_assert_int_eq(gs_heatmap_create(&sb, &hm[1], NULL), GS_OK);
    const int ok[2] = {1, 0};
    ck_assert_int_eq(gs_heatmap_share_range(hm, 2, ok, NULL), GS_OK);
    /* a min-max scale would run 1e-2..1e18 and draw the healthy run's middle layer
     * (0.1) at 5% of the bar: dark purple, "vanished". */
    double p = pos_on_scale(hm[0], healthy(0, 2));
    ck_assert_msg(p >= 0.25, "healthy median at %.2f of the scale", p);
    GsRgb c = gs_heatmap_color(hm[0], healthy(0, 2));
    ck_assert(gs_cmap_lightness(c) > gs_cmap_lightness(gs_cmap_seq(0.2)));
    /* the healthy run's top layer is in the upper half */
    ck_assert(pos_on_scale(hm[0], healthy(0, 4)) >= 0.5);
    /* the explosion goes past the top, counted, not hidden */
    size_t nv, nb, na;
    gs_heatmap_out_of_range(hm[1], &nv, &nb, &na);
    ck_assert_uint_eq(nv, 1000);
    ck_assert_uint_gt(na, 500);
    int cl;
    double lo, hi;
    gs_heatmap_range(hm[1], &lo, &hi, &cl);
    ck_assert(cl & GS_RANGE_ABOVE);
    ck_assert(hi - lo >= GS_RANGE_MIN_DECADES);
    /* the colour bar shows the overflow as a triangle over the bar in the top colour, and the
     * legend counts it */
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 200, 400);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    const GsHeatmap *both[2] = {hm[0], hm[1]};
    gs_colorbar_draw(cr, both, 2, (GsRect){0, 0, 100, 300}, 20, NULL);
    /* bar from x 6 (width 24); the triangle's body sits just above y = 12 + 18 */
    assert_px(pixel(s, 18, 26), gs_cmap_seq(1.0), "overflow triangle");
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_heatmap_destroy(hm[0]);
    gs_heatmap_destroy(hm[1]);
    gs_trace_destroy(a);
    gs_trace_destroy(b);
}
END_TEST

/* A vanishing run beside a healthy one keeps its depth: the low end is not cut. */
static double vanishing(int s, int l)
{
    (void)s;
    return pow(10.0, -16.0 + 4.0 * l);
}

START_TEST(shared_range_vanishing_keeps_low_end)
{
    GsTrace *a = trace_of(5, 50, vanishing), *b = trace_of(5, 50, healthy);
    GsHeatmap *hm[2] = {NULL, NULL};
    GsHeatmapSpec sa = {a, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 50};
    GsHeatmapSpec sb = {b, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 50};
    ck_assert_int_eq(gs_heatmap_create(&sa, &hm[0], NULL), GS_OK);
    ck_assert_int_eq(gs_heatmap_create(&sb, &hm[1], NULL), GS_OK);
    const int ok[2] = {0, 1};
    ck_assert_int_eq(gs_heatmap_share_range(hm, 2, ok, NULL), GS_OK);
    double lo, hi;
    int cl;
    gs_heatmap_range(hm[0], &lo, &hi, &cl);
    ck_assert_double_eq(lo, -16.0);
    ck_assert_double_eq(hi, 0.0);
    ck_assert_int_eq(cl, 0);
    gs_heatmap_destroy(hm[0]);
    gs_heatmap_destroy(hm[1]);
    gs_trace_destroy(a);
    gs_trace_destroy(b);
}
END_TEST

/* finite 10^(l-2) for the first 3 steps, NaN after */
static double early_nan(int s, int l)
{
    return s < 3 ? pow(10.0, l - 2.0) * (1 + 0.1 * s) : (double)NAN;
}
static double late_nan(int s, int l)
{
    return s < 100 ? pow(10.0, l - 2.0) : (double)NAN;
}

START_TEST(zoom_shows_steps_before_nan)
{
    GsTrace *t = trace_of(4, 200, early_nan);
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 1000};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    ck_assert_uint_eq(gs_heatmap_first_nonfinite(hm), 3);
    ck_assert_uint_eq(gs_heatmap_zoom_steps(hm), 7); /* 4 steps past the first NaN */
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 600, 300);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* an error finding over the only finite steps, all layers */
    GsFinding f = {.kind = GS_FIND_EXPLODING,
                   .severity = GS_SEV_ERROR,
                   .layer_first = 1,
                   .layer_last = 4,
                   .step_first = 0,
                   .step_last = 2};
    GsFindings fs = {.items = &f, .n = 1};
    const double font = 10;
    gs_heatmap_draw(cr, hm, (GsRect){0, 0, 600, 300}, font, NULL, &fs);
    /* geometry of gs_heatmap_draw: cells from x = 5.2 font, zoom 20% of them, gap 1.2 font */
    double cx = 5.2 * font, cw = 600 - 5.2 * font - 0.6 * font, ch = 300 - 2.9 * font;
    double zw = cw * 0.2, row = ch / 4;
    for (int st = 0; st < 7; st++) {
        /* off the column centre, where a faint grid line runs */
        int x = (int)(cx + zw * (st + 0.3) / 7), y = (int)(ch - row * 0.3); /* layer 1 */
        assert_px(pixel(s, x, y), gs_heatmap_color(hm, early_nan(st, 0)), "zoomed cell");
    }
    /* the full view's second column (2 px wide) is not hidden under the outline's edge */
    double mx = cx + zw + 1.2 * font, mw = cw - zw - 1.2 * font;
    int x1 = (int)(mx + mw * 1.5 / 200), y2 = (int)(ch - row * 1.3); /* layer 2 */
    assert_px(pixel(s, x1, y2), gs_heatmap_color(hm, early_nan(1, 1)), "second full-view column");
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
    /* NaN from the middle on: the full view shows the finite half well, no zoom */
    t = trace_of(4, 200, late_nan);
    spec.trace = t;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    ck_assert_uint_eq(gs_heatmap_zoom_steps(hm), 0);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

/* layer 2 frozen (no gradient at all), one real NaN at step 5 of layer 1 */
static double frozen(int s, int l)
{
    if (l == 1)
        return gs_trace_missing();
    return s == 5 && l == 0 ? (double)NAN : pow(10.0, l - 2.0);
}

START_TEST(missing_cells_hatched_grey)
{
    GsTrace *t = trace_of(3, 10, frozen);
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 1000};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    ck_assert(gs_heatmap_has_special(hm, GS_SPECIAL_MISSING));
    ck_assert(gs_heatmap_has_special(hm, GS_SPECIAL_NAN));
    /* missing is no alarm: no zoom for it, and the first non-finite step is the real NaN */
    ck_assert_uint_eq(gs_heatmap_first_nonfinite(hm), 5);
    ck_assert(gs_trace_is_missing(gs_heatmap_value(hm, 0, 1)));
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 300, 300);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    gs_heatmap_draw_cells(cr, hm, (GsRect){0, 0, 300, 300});
    /* the frozen row (middle, y 100..200): only the grey and its darker hatching */
    GsRgb grey = gs_cmap_special(GS_SPECIAL_MISSING);
    int n_grey = 0, n_hatch = 0;
    for (int y = 102; y < 198; y++)
        for (int x = 2; x < 298; x++) {
            uint32_t px = pixel(s, x, y);
            double r = ((px >> 16) & 255) / 255.0, g = ((px >> 8) & 255) / 255.0,
                   b = (px & 255) / 255.0;
            ck_assert_msg(fabs(r - g) < 0.02 && fabs(g - b) < 0.02, "frozen cell not grey: %06x",
                          px & 0xFFFFFF);
            if (fabs(r - grey.r) < 0.02)
                n_grey++;
            else if (r < grey.r - 0.15)
                n_hatch++;
        }
    ck_assert_int_gt(n_grey, 5000);
    ck_assert_int_gt(n_hatch, 1000);
    /* the real NaN stays magenta and unhatched */
    assert_px(pixel(s, 5 * 30 + 15, 250), gs_cmap_special(GS_SPECIAL_NAN), "NaN cell");
    /* and the legend lists it (one more entry fits the same box) */
    const GsHeatmap *one[1] = {hm};
    gs_legend_draw(cr, one, 1, (GsRect){0, 0, 300, 100}, 12, 1);
    ck_assert_int_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    ck_assert_str_eq(gs_cmap_special_label(GS_SPECIAL_MISSING), "no gradient (frozen)");
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(layer_names_shortened)
{
    char b[GS_LAYER_LABEL_MAX + 1];
    gs_layer_name_short("encoder.layers.0.self_attn.in_proj", b, sizeof b);
    ck_assert_str_eq(b, "0.self_attn.in_proj");
    gs_layer_name_short("encoder.layers.11.self_attn.out_proj", b, sizeof b);
    ck_assert_str_eq(b, "11.self_attn.out_proj"); /* the number is kept whole */
    gs_layer_name_short("fc1", b, sizeof b);
    ck_assert_str_eq(b, "fc1");
    gs_layer_name_short("a.b.an_extremely_long_last_component_name", b, sizeof b);
    ck_assert_uint_eq(strlen(b), GS_LAYER_LABEL_MAX);
    /* on the axis: every row named, no "out", nothing cut */
    GsTrace *t = trace_of(3, 20, healthy);
    const char *nm[3] = {"encoder.layers.0.self_attn.in_proj", "encoder.layers.0.linear1",
                         "decoder.head"};
    for (size_t li = 0; li < 3; li++)
        ck_assert_int_eq(gs_trace_set_layer_name(t, li, nm[li], NULL), GS_OK);
    GsHeatmapSpec spec = {t, GS_COL_GRAD_NORM, GS_HM_LOG, GS_BIN_GMEAN, 1000};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create(&spec, &hm, NULL), GS_OK);
    ck_assert_str_eq(gs_heatmap_layer_label(hm, 0), "0.self_attn.in_proj");
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 600, 300);
    cairo_t *cr = cairo_create(s);
    static GsDrawLog log;
    gs_draw_log_begin(&log);
    GsRect r = {0, 0, 600, 300};
    gs_draw_log_bounds(cr, &r);
    gs_heatmap_draw(cr, hm, r, 12, "title", NULL);
    gs_draw_log_end();
    ck_assert_ptr_nonnull(strstr(log.text, "0.self_attn.in_proj\n"));
    ck_assert_ptr_nonnull(strstr(log.text, "encoder.layers.0.linear1\n")); /* 24: fits whole */
    ck_assert_ptr_nonnull(strstr(log.text, "decoder.head\n"));
    ck_assert_ptr_null(strstr(log.text, "out\n"));
    ck_assert_uint_eq(log.elided, 0);
    ck_assert_uint_eq(log.outside, 0);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_heatmap_destroy(hm);
    gs_trace_destroy(t);
}
END_TEST

/* Row filler over a 2 x 3 row-major array. */
static void fill_rows(const void *ctx, size_t row, double *out)
{
    memcpy(out, (const double *)ctx + row * 3, 3 * sizeof *out);
}

START_TEST(matrix_cells_and_axes)
{
    /* Any matrix: 2 rows x 3 steps, row 0 at the bottom, one cell without a value. */
    const double miss = gs_trace_missing();
    const double val[6] = {1e-3, 1e-2, 1e-1, 1.0, 10.0, miss};
    const long steps[3] = {0, 5, 10};
    const char *names[2] = {"first", NULL};
    GsHeatmapMatrix m = {.n_rows = 2,
                         .n_steps = 3,
                         .steps = steps,
                         .val = val,
                         .row_names = names,
                         .axis = "rows of the matrix",
                         .axis_short = "rows",
                         .scale = GS_HM_LOG,
                         .bin = GS_BIN_GMEAN,
                         .max_cols = 100};
    GsHeatmap *hm = NULL;
    ck_assert_int_eq(gs_heatmap_create_matrix(&m, &hm, NULL), GS_OK);
    ck_assert_uint_eq(gs_heatmap_n_cols(hm), 3);
    ck_assert_uint_eq(gs_heatmap_n_layers(hm), 2);
    ck_assert_str_eq(gs_heatmap_layer_label(hm, 0), "first");
    ck_assert_str_eq(gs_heatmap_layer_label(hm, 1), "2"); /* a NULL name is its number */
    ck_assert(gs_trace_is_missing(gs_heatmap_value(hm, 2, 1)));
    ck_assert_int_eq(gs_heatmap_step_last(hm), 10);
    double lo, hi;
    int cl;
    gs_heatmap_range(hm, &lo, &hi, &cl);
    ck_assert_double_eq(lo, -3.0);
    ck_assert_double_eq(hi, 1.0);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 30, 20);
    cairo_t *cr = cairo_create(s);
    gs_heatmap_draw_cells(cr, hm, (GsRect){0, 0, 30, 20});
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 2; r++) {
            if (c == 2 && r == 1)
                continue;
            double lv = log10(val[r * 3 + c]);
            assert_px(pixel(s, c * 10 + 5, (1 - r) * 10 + 5), gs_cmap_seq((lv + 3.0) / 4.0),
                      "matrix cell");
        }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    /* The panel names its rows and axis; no "out" without a top label. */
    s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 500, 300);
    cr = cairo_create(s);
    static GsDrawLog log;
    gs_draw_log_begin(&log);
    gs_heatmap_draw(cr, hm, (GsRect){0, 0, 500, 300}, 12, "a matrix", NULL);
    gs_draw_log_end();
    ck_assert_int_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    ck_assert_msg(strstr(log.text, "first\n") && strstr(log.text, "rows\n"), "%s", log.text);
    ck_assert_ptr_null(strstr(log.text, "out\n"));
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_heatmap_destroy(hm);
    /* A row filler gives the same model as the dense values. */
    GsHeatmap *hf = NULL;
    ck_assert_int_eq(gs_heatmap_create_matrix(&m, &hm, NULL), GS_OK);
    m.val = NULL;
    m.fill = fill_rows;
    m.ctx = val;
    ck_assert_int_eq(gs_heatmap_create_matrix(&m, &hf, NULL), GS_OK);
    for (size_t c = 0; c < 3; c++)
        for (size_t r = 0; r < 2; r++) {
            double a = gs_heatmap_value(hm, c, r), b = gs_heatmap_value(hf, c, r);
            ck_assert(gs_trace_is_missing(a) ? gs_trace_is_missing(b) : a == b);
        }
    gs_heatmap_destroy(hf);
    gs_heatmap_destroy(hm);
    m.n_steps = 0;
    ck_assert_int_eq(gs_heatmap_create_matrix(&m, &hm, NULL), GS_ERR_INVALID);
}
END_TEST

/* A recurrent trace: 2 weight tensors, one series; at steps 0..3 T = 20 with
 * ||dL/dh_t|| = scale * 0.5^(T - t), at step 4 T = 10 (shorter sequences). */
static GsTrace *through_time_trace(double scale, int with_grad)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    size_t k;
    ck_assert_int_eq(gs_trace_add_series(t, "rnn.h_l0", "state", &k), GS_OK);
    for (size_t i = 0; i < 5; i++) {
        double *row, h[20];
        ck_assert_int_eq(gs_trace_add_step(t, (long)i * 100, &row), GS_OK);
        row[GS_COL_GRAD_NORM] = 0.1;
        row[GS_COL_COUNT + GS_COL_GRAD_NORM] = 0.2;
        gs_trace_commit_step(t);
        size_t T = i < 4 ? 20 : 10;
        for (size_t u = 1; u <= T; u++)
            h[u - 1] = scale * pow(0.5, (double)(T - u));
        GsTimeCol col = with_grad ? GS_TCOL_H_GRAD_NORM : GS_TCOL_H_MEAN;
        ck_assert_int_eq(gs_trace_series_set(t, i, k, col, h, T), GS_OK);
    }
    return t;
}

START_TEST(through_time_cells)
{
    const double l2 = log10(0.5);
    for (int absolute = 0; absolute < 2; absolute++) {
        GsTrace *t = through_time_trace(0.02, 1);
        GsHeatmap *hm = NULL;
        ck_assert_int_eq(gs_heatmap_create_series(t, 0, absolute, GS_BIN_GMEAN, 100, &hm, NULL),
                         GS_OK);
        ck_assert_uint_eq(gs_heatmap_n_layers(hm), 20); /* rows = t, the longest T */
        ck_assert_uint_eq(gs_heatmap_n_cols(hm), 5);
        double lo, hi;
        int cl;
        gs_heatmap_range(hm, &lo, &hi, &cl);
        /* relative: log10 0.5^19 = -5.72, a symmetric range of 6 decades; absolute: 0.02 x that
         * spans 10^-7.4 .. 10^-1.7 */
        ck_assert_double_eq(hi, absolute ? -1.0 : 6.0);
        ck_assert_double_eq(lo, absolute ? -8.0 : -6.0);
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 50, 200);
        cairo_t *cr = cairo_create(s);
        gs_heatmap_draw_cells(cr, hm, (GsRect){0, 0, 50, 200});
        for (int c = 0; c < 5; c++) {
            int T = c < 4 ? 20 : 10;
            for (int u = 1; u <= 20; u++) {
                if (u > T) { /* beyond this step's T: no value */
                    ck_assert(gs_trace_is_missing(gs_heatmap_value(hm, (size_t)c, (size_t)u - 1)));
                    continue;
                }
                double lr = (double)(T - u) * l2; /* log10 of the ratio to t = T */
                GsRgb want =
                    absolute ? gs_cmap_seq((lr + log10(0.02) + 8.0) / 7.0) : gs_cmap_div(lr / 6.0);
                /* t = 1 is the bottom row, t = 20 the top */
                assert_px(pixel(s, c * 10 + 5, (20 - u) * 10 + 5), want, "through-time cell");
            }
        }
        if (!absolute) {
            /* the memory horizon: 0.5^(T - t) < 1e-3 from T - t = 10 back, i.e. up to the top
             * edge of row t = 10; the short step (T = 10) never gets that low */
            ck_assert(isnan(gs_heatmap_edge(hm, 0)));
            ck_assert_int_eq(gs_heatmap_mark_below(hm, 1e-3, "horizon"), GS_OK);
            for (size_t c = 0; c < 4; c++)
                ck_assert_double_eq(gs_heatmap_edge(hm, c), 10.0);
            ck_assert(isnan(gs_heatmap_edge(hm, 4)));
            ck_assert_int_eq(gs_heatmap_mark_below(hm, 0.3, NULL), GS_OK); /* 0.25 at t = T-2 */
            ck_assert_double_eq(gs_heatmap_edge(hm, 0), 18.0);
            ck_assert_double_eq(gs_heatmap_edge(hm, 4), 8.0);
        }
        if (!absolute) { /* t = T is 1: the centre of the diverging map, at every step */
            assert_px(pixel(s, 5, 5), gs_cmap_div(0.0), "t = T");
            assert_px(pixel(s, 45, 105), gs_cmap_div(0.0), "t = T of the short step");
        }
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        /* The panel says which end is t = 1 and numbers the rows (no "out"). */
        s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 500, 400);
        cr = cairo_create(s);
        static GsDrawLog log;
        gs_draw_log_begin(&log);
        gs_heatmap_draw(cr, hm, (GsRect){0, 0, 500, 400}, 12, "through time", NULL);
        const GsHeatmap *one[1] = {hm};
        gs_colorbar_draw(cr, one, 1, (GsRect){0, 0, 80, 400}, 12, "log10 ratio");
        gs_draw_log_end();
        ck_assert_msg(strstr(log.text, "time step t (t = 1 at the bottom)\n") != NULL, "%s",
                      log.text);
        ck_assert_ptr_null(strstr(log.text, "out\n"));
        /* colour-bar ticks are the exponents the "log10" title promises */
        ck_assert_msg(strstr(log.text, absolute ? "\n-4\n" : "\n-6\n") != NULL, "%s", log.text);
        ck_assert_ptr_null(strstr(log.text, "10\xe2\x81\xbb"));
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        gs_heatmap_destroy(hm);
        gs_trace_destroy(t);
    }
    /* A series without h_grad_norm, or none at all, cannot be drawn through time. */
    GsTrace *t = through_time_trace(1.0, 0);
    GsHeatmap *hm = NULL;
    GsError err = {{0}};
    ck_assert_int_eq(gs_heatmap_create_series(t, 0, 0, GS_BIN_GMEAN, 100, &hm, &err),
                     GS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "h_grad_norm") != NULL, "%s", err.msg);
    ck_assert_ptr_null(hm);
    gs_trace_destroy(t);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("heatmap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cells_match_colormap);
    tcase_add_test(tc, range_clamped_to_16_decades);
    tcase_add_test(tc, relative_mode);
    tcase_add_test(tc, wide_trace_binned_nan_survives);
    tcase_add_test(tc, panel_draws_without_error);
    tcase_add_test(tc, shared_range_healthy_beside_exploding);
    tcase_add_test(tc, shared_range_vanishing_keeps_low_end);
    tcase_add_test(tc, zoom_shows_steps_before_nan);
    tcase_add_test(tc, missing_cells_hatched_grey);
    tcase_add_test(tc, layer_names_shortened);
    tcase_add_test(tc, matrix_cells_and_axes);
    tcase_add_test(tc, through_time_cells);
    suite_add_tcase(s, tc);
    return s;
}
