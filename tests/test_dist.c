/* Distribution figures: statistics of known histograms, the magnitude range, pixels at known
 * cells of a synthetic trace with known histograms, the page layout, no clipped text, layer
 * lists, errors, and the CLI path (`plot --dist`) through a CSV + side file round trip. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "gradscope/hist.h"
#include "gradscope/plot.h"
#include "plot/dist.h"
#include "plot/draw.h"
#include "plot/panels.h"
#include "runner.h"

/* Under LeakSanitizer only: fontconfig's process-lifetime caches (see test_heatmap.c). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\n";
}

#define NE 200 /* entries per tensor */
#define NS 6   /* recorded steps */
#define NL 3   /* layers */

/* Layer 1: every entry +-1.5e-3 (log bin 108). Layer 2: 2e-6 (bin 97), except at recorded
 * step 2 where a quarter of the entries are NaN. Layer 3 (out): half exact zeros, half 100
 * (bin 128). Activations: tanh-like range 1, layer 1 half at +-0.99 (saturated), the others
 * spread over (-0.5, 0.5). */
static void fill_tensor(float *x, size_t li, size_t step)
{
    for (size_t e = 0; e < NE; e++) {
        if (li == 0)
            x[e] = e % 2 ? 1.5e-3f : -1.5e-3f;
        else if (li == 1)
            x[e] = step == 2 && e % 4 == 0 ? NAN : 2e-6f;
        else
            x[e] = e % 2 ? 0.0f : 100.0f;
    }
}

static void fill_act(float *x, size_t li)
{
    for (size_t e = 0; e < NE; e++) {
        if (li == 0 && e % 2)
            x[e] = e % 4 == 1 ? 0.99f : -0.99f;
        else
            x[e] = -0.5f + (float)e / NE;
    }
}

static GsTrace *hist_trace(unsigned kinds)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(NL, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    ck_assert_int_eq(gs_trace_hist_enable(t, kinds, 1.0), GS_OK);
    float x[NE];
    for (size_t s = 0; s < NS; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, (long)(s * 10), &row), GS_OK);
        for (size_t li = 0; li < NL; li++) {
            row[li * GS_COL_COUNT + GS_COL_GRAD_NORM] = 1.0;
            for (int k = 0; k < GS_HIST_NKINDS; k++) {
                if (!(kinds & (1u << k)))
                    continue;
                float *b = gs_trace_hist_slot(t, s, li, (GsHistKind)k);
                ck_assert_ptr_nonnull(b);
                for (size_t j = 0; j < GS_HIST_NB; j++)
                    b[j] = 0;
                if (k == GS_HIST_ACT) {
                    fill_act(x, li);
                    gs_hist_add(b, x, NE, 1.0);
                } else {
                    fill_tensor(x, li, s);
                    gs_hist_add(b, x, NE, 0.0);
                }
            }
        }
        gs_trace_commit_step(t);
    }
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    return t;
}

static uint32_t pixel(cairo_surface_t *s, double x, double y)
{
    cairo_surface_flush(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    return ((const uint32_t *)(const void *)(d + (size_t)stride * (size_t)y))[(size_t)x];
}

static void assert_px(uint32_t px, GsRgb c, const char *what)
{
    double r = ((px >> 16) & 255) / 255.0, g = ((px >> 8) & 255) / 255.0, b = (px & 255) / 255.0;
    ck_assert_msg(
        fabs(r - c.r) <= 2.0 / 255 && fabs(g - c.g) <= 2.0 / 255 && fabs(b - c.b) <= 2.0 / 255,
        "%s: pixel %06x vs expected (%.3f %.3f %.3f)", what, px & 0xFFFFFF, c.r, c.g, c.b);
}

START_TEST(stats_of_known_bins)
{
    float b[GS_HIST_NB] = {0};
    /* 30 zeros, 10 NaN, 5 +Inf, 5 -Inf, 50 in the 1e-3 bin: total 100 */
    b[GS_HIST_ZERO] = 30;
    b[GS_HIST_NAN] = 10;
    b[GS_HIST_PINF] = 5;
    b[GS_HIST_NINF] = 5;
    b[GS_HIST_LOG0 + 108] = 50;
    ck_assert_double_eq_tol(gs_hist_total(b), 100.0, 1e-12);
    /* rms over zeros and finite entries: sqrt(50 c^2 / 80), c = 10^(-30 + 108.5/4) */
    double c = pow(10.0, -30.0 + 108.5 / 4.0);
    ck_assert_double_eq_tol(gs_dist_log_rms(b), sqrt(50.0 * c * c / 80.0), 1e-12 * c);
    /* linear bins over [-1, 1]: 40 in the lowest, 40 in the highest, 20 in bin 32 */
    b[GS_HIST_LIN0] = 40;
    b[GS_HIST_LIN0 + 63] = 40;
    b[GS_HIST_LIN0 + 32] = 20;
    double sat, sd, zero;
    gs_dist_act_stats(b, 1.0, &sat, &sd, &zero);
    ck_assert_double_eq_tol(sat, 0.8, 1e-12);
    ck_assert_double_eq_tol(zero, 0.3, 1e-12);
    /* centres -63/64, +63/64, 1/64: mean = 20/64/100, std by hand */
    double m = (40 * -63.0 / 64 + 40 * 63.0 / 64 + 20 * 1.0 / 64) / 100;
    double v =
        (40 * pow(-63.0 / 64 - m, 2) + 40 * pow(63.0 / 64 - m, 2) + 20 * pow(1.0 / 64 - m, 2)) /
        100;
    ck_assert_double_eq_tol(sd, sqrt(v), 1e-12);
    /* range 4 scales the centres */
    gs_dist_act_stats(b, 4.0, &sat, &sd, &zero);
    ck_assert_double_eq_tol(sd, 4 * sqrt(v), 1e-12);
    /* an unfilled slot */
    for (size_t j = 0; j < GS_HIST_NB; j++)
        b[j] = NAN;
    ck_assert(isnan(gs_hist_total(b)));
    gs_dist_act_stats(b, 1.0, &sat, &sd, &zero);
    ck_assert(isnan(sat) && isnan(sd) && isnan(zero));
    ck_assert(isnan(gs_dist_log_rms(b)));
}
END_TEST

START_TEST(colour_scale)
{
    assert_px(gs_cmap_pack(gs_dist_color(1.0)), gs_cmap_seq(1.0), "fraction 1: top colour");
    assert_px(gs_cmap_pack(gs_dist_color(1e-2)), gs_cmap_seq(0.5), "1e-2: middle");
    assert_px(gs_cmap_pack(gs_dist_color(1e-7)), gs_cmap_seq(0.0), "below 1e-4: bottom");
    assert_px(gs_cmap_pack(gs_dist_color(0.0)), gs_dist_color_empty(), "0: background");
    assert_px(gs_cmap_pack(gs_dist_color(NAN)), gs_dist_color_none(), "NaN: not recorded");
    ck_assert(gs_cmap_lightness(gs_dist_color_empty()) > 99);
}
END_TEST

START_TEST(map_and_range)
{
    GsTrace *t = hist_trace(1u << GS_HIST_GRAD);
    GsDistMap m[NL];
    for (size_t li = 0; li < NL; li++)
        ck_assert_int_eq(gs_dist_map_build(t, li, GS_HIST_GRAD, 1000, &m[li], NULL), GS_OK);
    ck_assert_uint_eq(m[0].n_cols, NS);
    for (size_t c = 0; c < NS; c++) {
        ck_assert_double_eq_tol(m[0].frac[c * GS_HIST_NLOG + 108], 1.0, 1e-12);
        ck_assert_double_eq_tol(m[0].frac[c * GS_HIST_NLOG + 107], 0.0, 1e-12);
        double nan_share = m[1].strip[c * GS_DIST_NSTRIPS + GS_DIST_STRIP_NAN];
        ck_assert_double_eq_tol(nan_share, c == 2 ? 0.25 : 0.0, 1e-12);
        ck_assert_double_eq_tol(m[1].frac[c * GS_HIST_NLOG + 97], c == 2 ? 0.75 : 1.0, 1e-12);
        ck_assert_double_eq_tol(m[2].strip[c * GS_DIST_NSTRIPS + GS_DIST_STRIP_ZERO], 0.5, 1e-12);
        ck_assert_double_eq_tol(m[2].frac[c * GS_HIST_NLOG + 128], 0.5, 1e-12);
    }
    /* data in bins 97..128 = [10^-5.75, 10^2.25): one decade of margin -> [-7, 4] */
    const GsDistMap *mp[NL] = {&m[0], &m[1], &m[2]};
    double lo, hi;
    gs_dist_log_range(mp, NL, &lo, &hi);
    ck_assert_double_eq(lo, -7.0);
    ck_assert_double_eq(hi, 4.0);
    /* one layer alone: bin 108 = [10^-3, 10^-2.75) -> [-4, -1], widened to 4 decades */
    gs_dist_log_range(mp, 1, &lo, &hi);
    ck_assert_double_eq(hi - lo, 4.0);
    ck_assert(lo <= -4.0 && hi >= -1.0);
    /* binning 6 steps into 3 columns averages pairs: step 2's NaN share halves */
    GsDistMap b;
    ck_assert_int_eq(gs_dist_map_build(t, 1, GS_HIST_GRAD, 3, &b, NULL), GS_OK);
    ck_assert_uint_eq(b.n_cols, 3);
    ck_assert_double_eq_tol(b.strip[1 * GS_DIST_NSTRIPS + GS_DIST_STRIP_NAN], 0.125, 1e-12);
    gs_dist_map_fini(&b);
    /* a kind not stored, a layer out of range */
    GsError err = {{0}};
    ck_assert_int_eq(gs_dist_map_build(t, 0, GS_HIST_UPDATE, 10, &b, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'update'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "recorded: grad"));
    ck_assert_int_eq(gs_dist_map_build(t, 3, GS_HIST_GRAD, 10, &b, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "layer 4"));
    for (size_t li = 0; li < NL; li++)
        gs_dist_map_fini(&m[li]);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(range_edges)
{
    float a[GS_HIST_NB] = {0}, b[GS_HIST_NB] = {0}, none[GS_HIST_NB];
    for (size_t j = 0; j < GS_HIST_NB; j++)
        none[j] = NAN;
    double lo, hi;
    /* nonzero |x| < 1e-30 (denormals) sit in the first log bin: the range stops at 1e-30 */
    a[GS_HIST_LOG0] = 5;
    const float *one[2] = {a, none};
    gs_dist_log_range_bins(one, 2, &lo, &hi);
    ck_assert_double_eq(lo, -30.0);
    ck_assert_double_eq(hi, -26.0);
    /* |x| >= 1e10 in the last: the range stops at 1e10 */
    b[GS_HIST_LOG0 + GS_HIST_NLOG - 1] = 1;
    one[0] = b;
    gs_dist_log_range_bins(one, 2, &lo, &hi);
    ck_assert_double_eq(lo, 6.0);
    ck_assert_double_eq(hi, 10.0);
    /* both: the whole axis */
    const float *two[3] = {a, b, NULL};
    gs_dist_log_range_bins(two, 3, &lo, &hi);
    ck_assert_double_eq(lo, -30.0);
    ck_assert_double_eq(hi, 10.0);
    /* no data at all (only zeros, or unfilled) */
    float z[GS_HIST_NB] = {0};
    z[GS_HIST_ZERO] = 10;
    const float *zz[2] = {z, none};
    gs_dist_log_range_bins(zz, 2, &lo, &hi);
    ck_assert_double_eq(lo, -8.0);
    ck_assert_double_eq(hi, 0.0);
}
END_TEST

START_TEST(wide_trace_svg_pdf)
{
    /* more recorded steps than pixel columns, vector output, a small page */
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    ck_assert_int_eq(gs_trace_hist_enable(t, 1u << GS_HIST_UPDATE, 4.0), GS_OK);
    float x[64];
    for (size_t s = 0; s < 3000; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, (long)s, &row), GS_OK);
        for (size_t li = 0; li < 2; li++) {
            float *b = gs_trace_hist_slot(t, s, li, GS_HIST_UPDATE);
            for (size_t j = 0; j < GS_HIST_NB; j++)
                b[j] = 0;
            for (size_t e = 0; e < 64; e++)
                x[e] = (float)(1e-4 * (1.0 + (double)e) * (1.0 + (double)s / 100.0));
            if (s == 1500 && li == 1)
                x[3] = INFINITY;
            gs_hist_add(b, x, 64, 0.0);
        }
        gs_trace_commit_step(t);
    }
    GsDistOptions o;
    gs_dist_options_default(&o);
    o.trace = t;
    o.kind = GS_HIST_UPDATE;
    o.width = 640;
    o.height = 400;
    const char *names[] = {"w.svg", "w.pdf", "w.png"};
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", gs_tmpdir, names[i]);
        GsError err = {{0}};
        GsDrawLog *log = malloc(sizeof *log);
        ck_assert_ptr_nonnull(log);
        gs_draw_log_begin(log);
        GsStatus st = gs_plot_distributions(&o, path, &err);
        gs_draw_log_end();
        ck_assert_msg(st == GS_OK, "%s", err.msg);
        ck_assert(gs_file_nonempty(gs_tmpdir, names[i]));
        ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
        ck_assert_msg(log->elided == 0, "elided: %s", log->first_elided);
        ck_assert_ptr_nonnull(strstr(log->text, "update entries"));
        free(log);
    }
    /* the +Inf at step 1500 survives binning 3000 steps into the columns */
    GsDistMap m;
    ck_assert_int_eq(gs_dist_map_build(t, 1, GS_HIST_UPDATE, 500, &m, NULL), GS_OK);
    ck_assert_uint_eq(m.n_cols, 500);
    double inf = 0;
    for (size_t c = 0; c < m.n_cols; c++)
        inf += m.strip[c * GS_DIST_NSTRIPS + GS_DIST_STRIP_INF];
    ck_assert_double_eq_tol(inf, 1.0 / 64 / 6, 1e-12); /* one step of six in its column */
    gs_dist_map_fini(&m);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(page_layout_inside)
{
    const double sizes[][2] = {{1600, 900}, {800, 600}, {3000, 1200}, {400, 300}};
    for (size_t s = 0; s < 4; s++)
        for (size_t n = 1; n <= GS_DIST_MAX_PANELS; n++) {
            GsDistPage pg;
            gs_dist_page_layout(sizes[s][0], sizes[s][1], n, &pg);
            GsRect page = {0, 0, sizes[s][0], sizes[s][1]};
            ck_assert(gs_rect_inside(pg.title, page));
            ck_assert(gs_rect_inside(pg.cbar, page));
            for (size_t i = 0; i < n; i++) {
                ck_assert_msg(gs_rect_inside(pg.panel[i], page), "panel %zu of %zu", i, n);
                ck_assert(!gs_rect_overlap(pg.panel[i], pg.title));
                ck_assert(!gs_rect_overlap(pg.panel[i], pg.cbar));
                for (size_t j = 0; j < i; j++)
                    ck_assert(!gs_rect_overlap(pg.panel[i], pg.panel[j]));
                GsDistPanelBoxes b;
                gs_dist_panel_boxes(pg.panel[i], pg.font, 0, &b);
                ck_assert(gs_rect_inside(b.cells, pg.panel[i]));
                for (size_t k = 0; k < GS_DIST_NSTRIPS; k++) {
                    ck_assert(gs_rect_inside(b.strip[k], pg.panel[i]));
                    ck_assert(!gs_rect_overlap(b.strip[k], b.cells));
                }
            }
        }
}
END_TEST

static cairo_surface_t *render(const GsDistOptions *o, const char *name, GsDrawLog *log)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", gs_tmpdir, name);
    GsError err = {{0}};
    if (log)
        gs_draw_log_begin(log);
    GsStatus st = gs_plot_distributions(o, path, &err);
    if (log)
        gs_draw_log_end();
    ck_assert_msg(st == GS_OK, "%s", err.msg);
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    if (getenv("GS_KEEP_PNG")) {
        char q[600];
        snprintf(q, sizeof q, "%s/%s", getenv("GS_KEEP_PNG"), name);
        cairo_surface_write_to_png(s, q);
    }
    return s;
}

/* Pixel of log10 value v at recorded step i in a panel's cells over [lo, hi]. */
static void cell_xy(const GsDistPanelBoxes *b, size_t i, double v, double lo, double hi, double *x,
                    double *y)
{
    /* a quarter column right of the centre: the step-axis grid lines pass through centres */
    *x = b->cells.x + b->cells.w * ((double)i + 0.75) / NS;
    *y = b->cells.y + b->cells.h * (hi - v) / (hi - lo);
}

START_TEST(zoom_on_early_nan)
{
    /* 200 steps, NaN from step 3 on in the output layer: a zoom strip of steps 0..7 */
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &t), GS_OK);
    ck_assert_int_eq(gs_trace_hist_enable(t, 1u << GS_HIST_GRAD, 1.0), GS_OK);
    float x[16];
    for (size_t s = 0; s < 200; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, (long)s, &row), GS_OK);
        for (size_t li = 0; li < 2; li++) {
            for (size_t e = 0; e < 16; e++)
                x[e] = li == 1 && s >= 3 ? NAN : 1e-3f * (float)(s + 1);
            gs_hist_add(gs_trace_hist_slot(t, s, li, GS_HIST_GRAD), x, 16, 0.0);
        }
        gs_trace_commit_step(t);
    }
    size_t layers[2] = {0, 1};
    ck_assert_uint_eq(gs_dist_zoom_steps(t, layers, 2, GS_HIST_GRAD), 8);
    ck_assert_uint_eq(gs_dist_zoom_steps(t, layers, 1, GS_HIST_GRAD), 0); /* layer 1: finite */
    GsDistMap z;
    ck_assert_int_eq(gs_dist_map_build_range(t, 1, GS_HIST_GRAD, 0, 8, 8, &z, NULL), GS_OK);
    ck_assert_uint_eq(z.n_cols, 8);
    ck_assert_uint_eq(z.n_steps, 8);
    ck_assert_int_eq(z.steps[7], 7);
    ck_assert_double_eq_tol(z.strip[2 * GS_DIST_NSTRIPS + GS_DIST_STRIP_NAN], 0.0, 1e-12);
    ck_assert_double_eq_tol(z.strip[3 * GS_DIST_NSTRIPS + GS_DIST_STRIP_NAN], 1.0, 1e-12);
    gs_dist_map_fini(&z);
    GsDistOptions o;
    gs_dist_options_default(&o);
    o.trace = t;
    GsDrawLog *log = malloc(sizeof *log);
    ck_assert_ptr_nonnull(log);
    cairo_surface_t *s = render(&o, "zoom.png", log);
    ck_assert_ptr_nonnull(strstr(log->text, "first steps (zoom)"));
    ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
    ck_assert_msg(log->elided == 0, "elided: %s", log->first_elided);
    cairo_surface_destroy(s);
    free(log);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(heatmap_pixels)
{
    GsTrace *t = hist_trace(1u << GS_HIST_GRAD);
    GsDistOptions o;
    gs_dist_options_default(&o);
    o.trace = t;
    GsDrawLog *log = malloc(sizeof *log);
    ck_assert_ptr_nonnull(log);
    cairo_surface_t *s = render(&o, "dist.png", log);
    ck_assert_int_eq(cairo_image_surface_get_width(s), 1600);
    ck_assert_int_eq(cairo_image_surface_get_height(s), 900);
    ck_assert_msg(log->elided == 0, "elided: %s", log->first_elided);
    ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
    ck_assert_ptr_nonnull(strstr(log->text, "NaN"));
    ck_assert_ptr_nonnull(strstr(log->text, "\xc2\xb1Inf"));
    ck_assert_ptr_nonnull(strstr(log->text, "layer 2"));
    ck_assert_ptr_nonnull(strstr(log->text, "layer 3 (out)"));
    ck_assert_ptr_nonnull(strstr(log->text, "10\xe2\x81\xbb\xe2\x81\xb5")); /* 10⁻⁵ tick */
    GsDistPage pg;
    gs_dist_page_layout(1600, 900, 3, &pg); /* default layers 1, 2 (middle), 3 */
    GsDistPanelBoxes b[3];
    for (size_t p = 0; p < 3; p++)
        gs_dist_panel_boxes(pg.panel[p], pg.font, 0, &b[p]);
    const double lo = -7, hi = 4; /* map_and_range */
    double bin108 = -30 + 108.5 / 4, bin97 = -30 + 97.5 / 4, bin128 = -30 + 128.5 / 4;
    for (size_t i = 0; i < NS; i++) {
        double x, y;
        /* layer 1: the 1e-3 row is the top colour, a decade lower and higher background */
        cell_xy(&b[0], i, bin108, lo, hi, &x, &y);
        assert_px(pixel(s, x, y), gs_cmap_seq(1.0), "layer 1, 1.5e-3 row");
        cell_xy(&b[0], i, bin108 - 1.0, lo, hi, &x, &y);
        assert_px(pixel(s, x, y), gs_dist_color_empty(), "layer 1, 1.5e-4 row");
        cell_xy(&b[0], i, bin108 + 1.0, lo, hi, &x, &y);
        assert_px(pixel(s, x, y), gs_dist_color_empty(), "layer 1, 1.5e-2 row");
        /* layer 2: the NaN strip shows a quarter at step 2, nothing elsewhere */
        GsRect ns = b[1].strip[GS_DIST_STRIP_NAN];
        x = ns.x + ns.w * ((double)i + 0.75) / NS;
        y = ns.y + ns.h / 2;
        assert_px(pixel(s, x, y), i == 2 ? gs_dist_color(0.25) : gs_dist_color_empty(),
                  "layer 2 NaN strip");
        cell_xy(&b[1], i, bin97, lo, hi, &x, &y);
        assert_px(pixel(s, x, y), gs_dist_color(i == 2 ? 0.75 : 1.0), "layer 2, 2e-6 row");
        GsRect is = b[1].strip[GS_DIST_STRIP_INF];
        assert_px(pixel(s, is.x + is.w * ((double)i + 0.75) / NS, is.y + is.h / 2),
                  gs_dist_color_empty(), "layer 2 Inf strip");
        /* output layer: half zeros in the 0 strip, half in the 100 row */
        GsRect zs = b[2].strip[GS_DIST_STRIP_ZERO];
        assert_px(pixel(s, zs.x + zs.w * ((double)i + 0.75) / NS, zs.y + zs.h / 2),
                  gs_dist_color(0.5), "out zero strip");
        cell_xy(&b[2], i, bin128, lo, hi, &x, &y);
        assert_px(pixel(s, x, y), gs_dist_color(0.5), "out, 100 row");
    }
    cairo_surface_destroy(s);
    free(log);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(profile_renders_unclipped)
{
    GsTrace *t = hist_trace((1u << GS_HIST_GRAD) | (1u << GS_HIST_ACT));
    ck_assert_int_eq(gs_trace_set_layer_name(t, 0, "fc1", "dense"), GS_OK);
    GsDistOptions o;
    gs_dist_options_default(&o);
    o.trace = t;
    o.figure = GS_DIST_PROFILE;
    GsDrawLog *log = malloc(sizeof *log);
    ck_assert_ptr_nonnull(log);
    cairo_surface_t *s = render(&o, "profile.png", log);
    ck_assert_msg(log->elided == 0, "elided: %s", log->first_elided);
    ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
    /* layer 1: half the entries at |h| = 0.99 -> sat 50.0%; others 0% */
    ck_assert_ptr_nonnull(strstr(log->text, "sat 50.0%"));
    ck_assert_ptr_nonnull(strstr(log->text, "sat 0.0%"));
    ck_assert_ptr_nonnull(strstr(log->text, "clamped 0.0%")); /* the output layer: logits */
    ck_assert_ptr_nonnull(strstr(log->text, "at step 0"));
    ck_assert_ptr_nonnull(strstr(log->text, "at step 50"));
    ck_assert_ptr_nonnull(strstr(log->text, "layer 1 \xc2\xb7 fc1"));
    ck_assert_ptr_nonnull(strstr(log->text, "zeros 50%")); /* the output layer's gradient */
    ck_assert_ptr_null(strstr(log->text, "NaN/Inf")); /* step 2's NaN is neither first nor last */
    cairo_surface_destroy(s);
    /* NaN at the last step: the legend says how much (50 NaN among 250 entries) */
    float *last = gs_trace_hist_slot(t, NS - 1, 1, GS_HIST_GRAD);
    last[GS_HIST_NAN] += 50;
    s = render(&o, "profile_nan.png", log);
    ck_assert_ptr_nonnull(strstr(log->text, "NaN/Inf 20%"));
    cairo_surface_destroy(s);
    /* every gradient entry exactly 0 (dead units): the log panels say so */
    GsTrace *d = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &d), GS_OK);
    ck_assert_int_eq(gs_trace_hist_enable(d, 1u << GS_HIST_GRAD, 4.0), GS_OK);
    float zero[8] = {0};
    for (long st = 0; st < 2; st++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(d, st, &row), GS_OK);
        for (size_t li = 0; li < 2; li++)
            gs_hist_add(gs_trace_hist_slot(d, (size_t)st, li, GS_HIST_GRAD), zero, 8, 0.0);
        gs_trace_commit_step(d);
    }
    o.trace = d;
    s = render(&o, "profile_dead.png", log);
    ck_assert_ptr_nonnull(strstr(log->text, "no nonzero finite entry"));
    ck_assert_ptr_nonnull(strstr(log->text, "zeros 100%"));
    ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
    cairo_surface_destroy(s);
    gs_trace_destroy(d);
    /* with only gradients the activation panels say what is missing */
    GsTrace *g = hist_trace(1u << GS_HIST_GRAD);
    o.trace = g;
    s = render(&o, "profile_g.png", log);
    ck_assert_ptr_nonnull(strstr(log->text, "activation histograms not recorded"));
    ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
    cairo_surface_destroy(s);
    free(log);
    gs_trace_destroy(g);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(cases_figure)
{
    /* two runs side by side: a tanh-like one (A = 1) and a ReLU-like one (A = 4) */
    GsTrace *a = hist_trace((1u << GS_HIST_GRAD) | (1u << GS_HIST_ACT));
    GsTrace *b = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &b), GS_OK);
    ck_assert_int_eq(gs_trace_hist_enable(b, (1u << GS_HIST_GRAD) | (1u << GS_HIST_ACT), 4.0),
                     GS_OK);
    float x[8] = {0, 0, 0, 0, 0, 0, 1.0f, 2.0f}; /* 75% exact zeros */
    for (long st = 0; st < 2; st++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(b, st, &row), GS_OK);
        for (size_t li = 0; li < 2; li++) {
            gs_hist_add(gs_trace_hist_slot(b, (size_t)st, li, GS_HIST_ACT), x, 8, 4.0);
            gs_hist_add(gs_trace_hist_slot(b, (size_t)st, li, GS_HIST_GRAD), x, 8, 0.0);
        }
        gs_trace_commit_step(b);
    }
    GsDistOptions o;
    gs_dist_options_default(&o);
    o.figure = GS_DIST_CASES;
    o.n_cases = 2;
    o.cases[0] = a;
    o.cases[1] = b;
    o.case_labels[0] = "tanh run";
    o.case_labels[1] = "relu run";
    o.title = "Two runs";
    o.height = 1100;
    GsDrawLog *log = malloc(sizeof *log);
    ck_assert_ptr_nonnull(log);
    cairo_surface_t *s = render(&o, "cases.png", log);
    ck_assert_msg(log->elided == 0, "elided: %s", log->first_elided);
    ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
    ck_assert_ptr_nonnull(strstr(log->text, "Two runs"));
    ck_assert_ptr_nonnull(strstr(log->text, "tanh run \xe2\x80\x94 activations h (signed) at step 0"));
    ck_assert_ptr_nonnull(strstr(log->text, "relu run \xe2\x80\x94 gradients"));
    ck_assert_ptr_nonnull(strstr(log->text, "sat 50.0%"));   /* run 1, layer 1 */
    ck_assert_ptr_nonnull(strstr(log->text, "zeros 75.0%")); /* run 2's activations */
    ck_assert_ptr_nonnull(strstr(log->text, "zeros 75%"));   /* run 2's gradients */
    /* the rows split the page: the second run's titles are in its lower half */
    ck_assert_int_eq(cairo_image_surface_get_height(s), 1100);
    cairo_surface_destroy(s);
    /* errors name the run */
    GsTrace *g = hist_trace(1u << GS_HIST_GRAD);
    o.cases[1] = g;
    GsError err = {{0}};
    char path[512];
    snprintf(path, sizeof path, "%s/cases_bad.png", gs_tmpdir);
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "run 2 (relu run)"));
    o.n_cases = 0;
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "0 runs"));
    ck_assert_int_eq(access(path, F_OK), -1);
    free(log);
    gs_trace_destroy(a);
    gs_trace_destroy(b);
    gs_trace_destroy(g);
}
END_TEST

START_TEST(report_panel)
{
    /* a report of a trace with gradient histograms gets layer 1's distribution panel */
    GsTrace *t = hist_trace(1u << GS_HIST_GRAD);
    GsReportOptions ro;
    gs_report_options_default(&ro);
    ro.trace = t;
    GsLayout L;
    gs_report_layout(&ro, &L);
    ck_assert(L.on[GS_PANEL_DIST]);
    char path[512];
    snprintf(path, sizeof path, "%s/r.png", gs_tmpdir);
    GsError err = {{0}};
    GsDrawLog *log = malloc(sizeof *log);
    ck_assert_ptr_nonnull(log);
    gs_draw_log_begin(log);
    GsStatus st = gs_plot_report(&ro, path, &err);
    gs_draw_log_end();
    ck_assert_msg(st == GS_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(log->text, "Layer 1: |\xe2\x88\x82L/\xe2\x88\x82W| distribution"));
    ck_assert_ptr_nonnull(strstr(log->text, "share of entries"));
    ck_assert_msg(log->outside == 0, "outside: %s", log->first_outside);
    ck_assert_msg(log->elided == 0, "elided: %s", log->first_elided);
    /* its cells: layer 1's 1.5e-3 row in the top colour, over the range of layer 1 alone */
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    GsDistPanelBoxes b;
    gs_dist_panel_boxes(L.r[GS_PANEL_DIST], L.font, 1, &b);
    GsDistMap m;
    ck_assert_int_eq(gs_dist_map_build(t, 0, GS_HIST_GRAD, 100, &m, NULL), GS_OK);
    const GsDistMap *mp = &m;
    double lo, hi;
    gs_dist_log_range(&mp, 1, &lo, &hi);
    gs_dist_map_fini(&m);
    double x, y;
    cell_xy(&b, 1, -30 + 108.5 / 4, lo, hi, &x, &y);
    assert_px(pixel(s, x, y), gs_cmap_seq(1.0), "report panel, 1.5e-3 row");
    cell_xy(&b, 1, -30 + 108.5 / 4 - 0.75, lo, hi, &x, &y);
    assert_px(pixel(s, x, y), gs_dist_color_empty(), "report panel, 3 bins lower");
    cairo_surface_destroy(s);
    /* no panel without histograms, nor in a comparison */
    ro.after = t;
    gs_report_layout(&ro, &L);
    ck_assert(!L.on[GS_PANEL_DIST]);
    GsTrace *plain = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &plain), GS_OK);
    ro.after = NULL;
    ro.trace = plain;
    gs_report_layout(&ro, &L);
    ck_assert(!L.on[GS_PANEL_DIST]);
    free(log);
    gs_trace_destroy(plain);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(options_errors)
{
    GsTrace *t = hist_trace(1u << GS_HIST_GRAD);
    GsDistOptions o;
    gs_dist_options_default(&o);
    o.trace = t;
    char path[512];
    snprintf(path, sizeof path, "%s/e.png", gs_tmpdir);
    GsError err = {{0}};
    o.kind = GS_HIST_ACT;
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'act'"));
    o.kind = GS_HIST_GRAD;
    o.n_layers = 1;
    o.layers[0] = 3;
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "layer 4"));
    o.n_layers = 0;
    o.width = 50;
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "50x900"));
    o.width = 1600;
    o.scale = 0.1;
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "scale 0.1"));
    o.scale = 1;
    snprintf(path, sizeof path, "%s/e.jpg", gs_tmpdir);
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_int_eq(gs_count_entries(gs_tmpdir), 0);
    /* a trace without histograms */
    GsTrace *plain = NULL;
    ck_assert_int_eq(gs_trace_create(2, GS_COL_BIT(GS_COL_GRAD_NORM), &plain), GS_OK);
    double *row;
    ck_assert_int_eq(gs_trace_add_step(plain, 0, &row), GS_OK);
    gs_trace_commit_step(plain);
    o.trace = plain;
    snprintf(path, sizeof path, "%s/e.png", gs_tmpdir);
    ck_assert_int_eq(gs_plot_distributions(&o, path, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "no histograms"));
    ck_assert_int_eq(gs_count_entries(gs_tmpdir), 0);
    gs_trace_destroy(plain);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(parse_layers)
{
    size_t out[GS_DIST_MAX_LAYERS] = {99}, n = 77;
    GsError err = {{0}};
    ck_assert_int_eq(gs_plot_parse_layers("1,5,out", 6, out, GS_DIST_MAX_LAYERS, &n, &err), GS_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(out[0], 0);
    ck_assert_uint_eq(out[1], 4);
    ck_assert_uint_eq(out[2], 5);
    ck_assert_int_eq(gs_plot_parse_layers("mid,6,out,1", 6, out, GS_DIST_MAX_LAYERS, &n, &err),
                     GS_OK);
    ck_assert_uint_eq(n, 3); /* 6 and out are one layer */
    ck_assert_uint_eq(out[0], 2);
    const char *bad[] = {"0", "7", "x", "", "1,,2", "2a", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 77;
        ck_assert_int_eq(gs_plot_parse_layers(bad[i], 6, out, GS_DIST_MAX_LAYERS, &n, &err),
                         GS_ERR_INVALID);
        ck_assert_uint_eq(n, 77);
    }
    gs_plot_parse_layers("7", 6, out, GS_DIST_MAX_LAYERS, &n, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "'7' is not a layer (expected 1..6"));
    ck_assert_int_eq(gs_plot_parse_layers("1,2,3", 6, out, 2, &n, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than 2"));
}
END_TEST

START_TEST(cli_dist)
{
    /* a trace with histograms written as CSV + side file, then drawn by the real binary */
    GsTrace *t = hist_trace((1u << GS_HIST_GRAD) | (1u << GS_HIST_ACT));
    char path[512];
    snprintf(path, sizeof path, "%s/run.csv", gs_tmpdir);
    GsError err = {{0}};
    ck_assert_msg(gs_trace_write_csv(t, path, &err) == GS_OK, "%s", err.msg);
    gs_trace_destroy(t);
    ck_assert(gs_file_nonempty(gs_tmpdir, "run.hist.npy"));
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist --dist-layers 1,out -q -o d.png"), 0);
    ck_assert(gs_file_nonempty(gs_tmpdir, "d.png"));
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist-profile -q -o p.png"), 0);
    ck_assert(gs_file_nonempty(gs_tmpdir, "p.png"));
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist --dist-kind act -o a.png"), 0);
    ck_assert_ptr_nonnull(strstr(gs_out, "a.png"));
    /* bad values: exit 2 naming them, nothing written */
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist --dist-kind update -o u.png"), 2);
    ck_assert_ptr_nonnull(strstr(gs_out, "'update'"));
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist --dist-kind weights -o u.png"), 2);
    ck_assert_ptr_nonnull(strstr(gs_out, "'weights'"));
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist --dist-layers 1,9 -o u.png"), 2);
    ck_assert_ptr_nonnull(strstr(gs_out, "'9' is not a layer"));
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist --preset paper -o u.png"), 2);
    ck_assert_ptr_nonnull(strstr(gs_out, "--preset"));
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist-profile --dist-kind act -o u.png"), 2);
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist-layers 1 -o u.png"), 2);
    ck_assert_ptr_nonnull(strstr(gs_out, "need --dist"));
    ck_assert(!gs_file_nonempty(gs_tmpdir, "u.png"));
    /* without the side file: a clear message */
    snprintf(path, sizeof path, "%s/run.hist.npy", gs_tmpdir);
    ck_assert_int_eq(remove(path), 0);
    ck_assert_int_eq(gs_cli_run(1, "plot run.csv --dist -o u.png"), 2);
    ck_assert_ptr_nonnull(strstr(gs_out, "no histograms"));
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("dist");
    tcase_add_checked_fixture(tc, gs_cli_setup, gs_cli_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stats_of_known_bins);
    tcase_add_test(tc, colour_scale);
    tcase_add_test(tc, map_and_range);
    tcase_add_test(tc, range_edges);
    tcase_add_test(tc, wide_trace_svg_pdf);
    tcase_add_test(tc, zoom_on_early_nan);
    tcase_add_test(tc, page_layout_inside);
    tcase_add_test(tc, heatmap_pixels);
    tcase_add_test(tc, profile_renders_unclipped);
    tcase_add_test(tc, cases_figure);
    tcase_add_test(tc, report_panel);
    tcase_add_test(tc, options_errors);
    tcase_add_test(tc, parse_layers);
    tcase_add_test(tc, cli_dist);
    suite_add_tcase(s, tc);
    return s;
}
