/* Distribution figures: the per-layer distribution heatmap (small multiples) and the layer
 * profile of distributions at the first and last step. Model (fractions, ranges, statistics,
 * layout) first, then the drawing, then the page that owns the surface. */
#include "plot/dist.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/draw.h"
#include "plot/heatmap.h"
#include "plot/panels.h"
#include "plot/surface.h"
#include "plot/ticks.h"

/* ---- model ------------------------------------------------------------------------- */

const char *gs_dist_strip_label(GsDistStrip s)
{
    switch (s) {
    case GS_DIST_STRIP_INF: return "\xc2\xb1Inf";
    case GS_DIST_STRIP_NAN: return "NaN";
    case GS_DIST_STRIP_ZERO: return "0";
    case GS_DIST_NSTRIPS: break;
    }
    return "?";
}

void gs_dist_map_fini(GsDistMap *m)
{
    free(m->steps);
    free(m->frac);
    free(m->strip);
    free(m->none);
    memset(m, 0, sizeof *m);
}

GsStatus gs_dist_map_build(const GsTrace *t, size_t li, GsHistKind k, size_t max_cols, GsDistMap *m,
                           GsError *err)
{
    return gs_dist_map_build_range(t, li, k, 0, gs_trace_n_steps(t), max_cols, m, err);
}

GsStatus gs_dist_map_build_range(const GsTrace *t, size_t li, GsHistKind k, size_t i0, size_t i1,
                                 size_t max_cols, GsDistMap *m, GsError *err)
{
    memset(m, 0, sizeof *m);
    unsigned kinds = gs_trace_hist_kinds(t);
    if ((unsigned)k >= GS_HIST_NKINDS || !(kinds & (1u << k))) {
        char list[64];
        gs_hist_format_kinds(kinds, list, sizeof list);
        return gs_error(err, GS_ERR_INVALID, "the trace holds no '%s' histograms (recorded: %s)",
                        (unsigned)k < GS_HIST_NKINDS ? gs_hist_kind_name(k) : "?", list);
    }
    size_t nl = gs_trace_n_layers(t);
    assert(i0 <= i1 && i1 <= gs_trace_n_steps(t));
    size_t S = i1 - i0;
    if (li >= nl)
        return gs_error(err, GS_ERR_INVALID, "layer %zu is out of range (the trace has %zu layers)",
                        li + 1, nl);
    if (S == 0)
        return gs_error(err, GS_ERR_INVALID, "the trace has no recorded steps");
    size_t nc = max_cols < 1 ? 1 : (S < max_cols ? S : max_cols);
    m->steps = malloc(S * sizeof *m->steps);
    m->frac = calloc(nc * GS_HIST_NLOG, sizeof *m->frac);
    m->strip = calloc(nc * GS_DIST_NSTRIPS, sizeof *m->strip);
    m->none = calloc(nc, 1);
    if (!m->steps || !m->frac || !m->strip || !m->none) {
        gs_dist_map_fini(m);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the distribution heatmap");
    }
    m->n_cols = nc;
    m->n_steps = S;
    m->layer = li;
    m->kind = k;
    for (size_t i = 0; i < S; i++)
        m->steps[i] = gs_trace_step(t, i0 + i);
    for (size_t c = 0; c < nc; c++) {
        size_t c0 = i0 + c * S / nc, c1 = i0 + (c + 1) * S / nc, used = 0;
        double *f = m->frac + c * GS_HIST_NLOG, *st = m->strip + c * GS_DIST_NSTRIPS;
        for (size_t i = c0; i < c1; i++) {
            const float *b = gs_trace_hist(t, i, li, k);
            double tot = gs_hist_total(b);
            if (!(tot > 0) || !isfinite(tot))
                continue; /* not recorded (NaN) or an empty tensor */
            for (size_t j = 0; j < GS_HIST_NLOG; j++)
                f[j] += (double)b[GS_HIST_LOG0 + j] / tot;
            st[GS_DIST_STRIP_ZERO] += (double)b[GS_HIST_ZERO] / tot;
            st[GS_DIST_STRIP_NAN] += (double)b[GS_HIST_NAN] / tot;
            st[GS_DIST_STRIP_INF] += ((double)b[GS_HIST_PINF] + (double)b[GS_HIST_NINF]) / tot;
            used++;
        }
        if (!used) {
            m->none[c] = 1;
            continue;
        }
        for (size_t j = 0; j < GS_HIST_NLOG; j++)
            f[j] /= (double)used;
        for (size_t s = 0; s < GS_DIST_NSTRIPS; s++)
            st[s] /= (double)used;
    }
    return GS_OK;
}

size_t gs_dist_zoom_steps(const GsTrace *t, const size_t *layers, size_t n, GsHistKind k)
{
    size_t S = gs_trace_n_steps(t);
    for (size_t i = 0; i < S && (double)i < 0.05 * (double)S; i++)
        for (size_t a = 0; a < n; a++) {
            const float *b = gs_trace_hist(t, i, layers[a], k);
            if (!(gs_hist_total(b) > 0))
                continue;
            if ((double)b[GS_HIST_NAN] + (double)b[GS_HIST_PINF] + (double)b[GS_HIST_NINF] > 0) {
                size_t nz = i + 5 < 64 ? i + 5 : 64;
                return nz < S ? nz : 0;
            }
        }
    return 0;
}

/* Whole-decade range around log bins jmin..jmax (inclusive; jmin > jmax: no data). */
static void range_from_bins(long jmin, long jmax, double *lo, double *hi)
{
    if (jmin > jmax) {
        *lo = -8;
        *hi = 0;
        return;
    }
    double a = floor(GS_HIST_LOG_LO + (double)jmin * GS_HIST_LOG_STEP) - 1.0;
    double b = ceil(GS_HIST_LOG_LO + (double)(jmax + 1) * GS_HIST_LOG_STEP) + 1.0;
    double top = GS_HIST_LOG_LO + (double)GS_HIST_NLOG * GS_HIST_LOG_STEP;
    a = fmax(a, GS_HIST_LOG_LO);
    b = fmin(b, top);
    while (b - a < 4.0) {
        if (b < top)
            b += 1.0;
        if (b - a < 4.0 && a > GS_HIST_LOG_LO)
            a -= 1.0;
    }
    *lo = a;
    *hi = b;
}

void gs_dist_log_range(const GsDistMap *const *maps, size_t n, double *lo, double *hi)
{
    long jmin = GS_HIST_NLOG, jmax = -1;
    for (size_t k = 0; k < n; k++)
        for (size_t c = 0; c < maps[k]->n_cols; c++)
            for (long j = 0; j < GS_HIST_NLOG; j++)
                if (maps[k]->frac[c * GS_HIST_NLOG + (size_t)j] > 0) {
                    jmin = j < jmin ? j : jmin;
                    jmax = j > jmax ? j : jmax;
                }
    range_from_bins(jmin, jmax, lo, hi);
}

void gs_dist_log_range_bins(const float *const *bins, size_t n, double *lo, double *hi)
{
    long jmin = GS_HIST_NLOG, jmax = -1;
    for (size_t k = 0; k < n; k++) {
        if (!bins[k] || isnan((double)bins[k][0]))
            continue;
        for (long j = 0; j < GS_HIST_NLOG; j++)
            if ((double)bins[k][GS_HIST_LOG0 + j] > 0) {
                jmin = j < jmin ? j : jmin;
                jmax = j > jmax ? j : jmax;
            }
    }
    range_from_bins(jmin, jmax, lo, hi);
}

GsRgb gs_dist_color_empty(void)
{
    return (GsRgb){1.0, 1.0, 1.0};
}

GsRgb gs_dist_color_none(void)
{
    return (GsRgb){0.78, 0.78, 0.78};
}

GsRgb gs_dist_color(double frac)
{
    if (isnan(frac))
        return gs_dist_color_none();
    if (frac <= 0)
        return gs_dist_color_empty();
    double t = (log10(frac) - GS_DIST_FRAC_LOG_LO) / -GS_DIST_FRAC_LOG_LO;
    return gs_cmap_seq(t < 0 ? 0 : (t > 1 ? 1 : t));
}

void gs_dist_act_stats(const float *bins, double range, double *sat, double *std, double *zero)
{
    *sat = *std = *zero = NAN;
    if (!bins || isnan((double)bins[0]))
        return;
    double tot = gs_hist_total(bins);
    if (tot > 0)
        *zero = (double)bins[GS_HIST_ZERO] / tot;
    const float *lin = bins + GS_HIST_LIN0;
    double n = 0, s1 = 0;
    double w = 2.0 * range / GS_HIST_NLIN;
    for (size_t j = 0; j < GS_HIST_NLIN; j++) {
        n += (double)lin[j];
        s1 += (double)lin[j] * (-range + ((double)j + 0.5) * w);
    }
    if (!(n > 0) || !(range > 0))
        return;
    double mean = s1 / n, s2 = 0;
    for (size_t j = 0; j < GS_HIST_NLIN; j++) {
        double d = -range + ((double)j + 0.5) * w - mean;
        s2 += (double)lin[j] * d * d;
    }
    *std = sqrt(s2 / n);
    *sat = ((double)lin[0] + (double)lin[GS_HIST_NLIN - 1]) / n;
}

double gs_dist_log_rms(const float *bins)
{
    if (!bins || isnan((double)bins[0]))
        return NAN;
    double n = (double)bins[GS_HIST_ZERO], s = 0;
    for (size_t j = 0; j < GS_HIST_NLOG; j++) {
        double c = GS_HIST_LOG_LO + ((double)j + 0.5) * GS_HIST_LOG_STEP;
        n += (double)bins[GS_HIST_LOG0 + j];
        s += (double)bins[GS_HIST_LOG0 + j] * pow(10.0, 2.0 * c);
    }
    return n > 0 ? sqrt(s / n) : (double)NAN;
}

/* ---- layout ------------------------------------------------------------------------ */

/* Heights (in fonts) of the panel title, of one strip and of the gap below the strips. */
#define PANEL_TITLE_F 1.45
#define STRIP_F 0.85
#define STRIP_GAP_F 0.45

/* Height (in fonts) of the key line below the step axis. */
#define KEY_F 1.4

void gs_dist_panel_boxes(GsRect r, double font, int key, GsDistPanelBoxes *b)
{
    double lm = gs_axes_left_margin(font),
           bm = gs_axes_bottom_margin(font) + (key ? font * KEY_F : 0);
    double top = r.y + font * PANEL_TITLE_F, sh = font * STRIP_F;
    double x = r.x + lm, w = fmax(r.w - lm - font * 0.6, 1.0);
    for (size_t s = 0; s < GS_DIST_NSTRIPS; s++)
        b->strip[s] = (GsRect){x, top + sh * (double)s, w, sh};
    double cy = top + sh * GS_DIST_NSTRIPS + font * STRIP_GAP_F;
    b->cells = (GsRect){x, cy, w, fmax(r.y + r.h - bm - cy, 1.0)};
    b->frame = r;
}

void gs_dist_page_layout(double w, double h, size_t n, GsDistPage *pg)
{
    assert(w > 0 && h > 0 && n >= 1 && n <= GS_DIST_MAX_PANELS);
    memset(pg, 0, sizeof *pg);
    double f = gs_layout_font_size(w, h), m = f;
    pg->font = f;
    pg->margin = m;
    pg->n = n;
    pg->title = (GsRect){m, m * 0.8, w - 2 * m, f * 4.8};
    double top = pg->title.y + pg->title.h + m * 0.6, bottom = h - m;
    double cbw = f * 9.5;
    pg->cbar = (GsRect){w - m - cbw, top, cbw, fmin(bottom - top, f * 22)};
    size_t cols = n < 3 ? n : 3, rows = (n + cols - 1) / cols;
    double gx = f * 1.2, gy = f * 1.0;
    double aw = pg->cbar.x - m - gx - m, ah = bottom - top;
    double pw = (aw - gx * (double)(cols - 1)) / (double)cols;
    double ph = (ah - gy * (double)(rows - 1)) / (double)rows;
    for (size_t i = 0; i < n; i++) {
        size_t rr = i / cols, cc = i % cols;
        pg->panel[i] = (GsRect){m + (pw + gx) * (double)cc, top + (ph + gy) * (double)rr, pw, ph};
    }
}

/* ---- drawing ----------------------------------------------------------------------- */

/* Paints an nc x nr ARGB32 image with the colour of value(ctx, c, r) (r = 0 the top row) and
 * draws it into rect with a nearest filter. Leaves cr unchanged. */
typedef double (*CellFn)(const void *ctx, size_t c, size_t r);
static void paint_cells(cairo_t *cr, GsRect rect, size_t nc, size_t nr, CellFn fn, const void *ctx)
{
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)nc, (int)nr);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return; /* out of memory: the page's final status check reports nothing drawn here */
    }
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (size_t r = 0; r < nr; r++) {
        unsigned int *row = (unsigned int *)(void *)(data + (size_t)stride * r);
        for (size_t c = 0; c < nc; c++)
            row[c] = gs_cmap_pack(gs_dist_color(fn(ctx, c, r)));
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_rectangle(cr, rect.x, rect.y, rect.w, rect.h);
    cairo_clip(cr);
    cairo_translate(cr, rect.x, rect.y);
    cairo_scale(cr, rect.w / (double)nc, rect.h / (double)nr);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
}

typedef struct {
    const GsDistMap *m;
    size_t j_top; /* log bin of the top row */
    GsDistStrip strip;
} CellCtx;

static double log_cell(const void *ctx, size_t c, size_t r)
{
    const CellCtx *x = ctx;
    if (x->m->none[c])
        return NAN;
    return x->m->frac[c * GS_HIST_NLOG + (x->j_top - r)];
}

static double strip_cell(const void *ctx, size_t c, size_t r)
{
    (void)r;
    const CellCtx *x = ctx;
    if (x->m->none[c])
        return NAN;
    return x->m->strip[c * GS_DIST_NSTRIPS + x->strip];
}

/* Step axis of the recorded steps (cell centres at the steps, as the trace heatmap). */
static void step_axis(const long *steps, size_t n, double w, double font, GsAxisTicks *xt,
                      double *xlo, double *xhi)
{
    double s0 = (double)steps[0], s1 = (double)steps[n - 1];
    double ds = n > 1 ? (s1 - s0) / (double)(n - 1) : 1.0;
    *xlo = s0 - 0.5 * ds;
    *xhi = s1 + 0.5 * ds;
    int max_x = (int)(w / (font * 5.0));
    gs_axis_ticks_linear(xt, s0, s1, max_x < 3 ? 3 : max_x, 1);
}

/* Decade ticks on [lo, hi] that fit height h; "1" for 10⁰. */
static void decade_ticks(GsAxisTicks *yt, double lo, double hi, double h, double font)
{
    int max_n = (int)(h / (font * 1.4));
    gs_axis_ticks_decades(yt, lo, hi, max_n < 2 ? 2 : max_n);
    for (size_t i = 0; i < yt->n; i++)
        if (yt->v[i] == 0)
            snprintf(yt->label[i], sizeof yt->label[i], "1");
}

/* The small colour key of gs_dist_draw, right-aligned at x1 on the line at y (middle). */
static void mini_key(cairo_t *cr, double x1, double y, double font)
{
    GsTextStyle st = gs_text_style(font * 0.75);
    char lo[32];
    gs_ticks_format_pow10((int)GS_DIST_FRAC_LOG_LO, lo, sizeof lo);
    double w_one = gs_text_width(cr, &st, "1"), bar = font * 3.2, gap = font * 0.3;
    double x = x1 - w_one;
    gs_text_draw(cr, &st, x, y, 0, 0.5, 0, 0, "1");
    x -= gap + bar;
    size_t n = 32;
    for (size_t i = 0; i < n; i++) {
        gs_set_rgb(cr, gs_cmap_seq(((double)i + 0.5) / (double)n));
        cairo_rectangle(cr, x + bar * (double)i / (double)n, y - font * 0.3, bar / (double)n + 0.5,
                        font * 0.6);
        cairo_fill(cr);
    }
    x -= gap;
    gs_text_draw(cr, &st, x, y, 1, 0.5, 0, 0, lo);
    x -= gs_text_width(cr, &st, lo) + gap;
    gs_text_draw(cr, &st, x, y, 1, 0.5, 0, 0, "share of entries");
}

/* Width mini_key needs. */
static double mini_key_width(cairo_t *cr, double font)
{
    GsTextStyle st = gs_text_style(font * 0.75);
    char lo[32];
    gs_ticks_format_pow10((int)GS_DIST_FRAC_LOG_LO, lo, sizeof lo);
    return gs_text_width(cr, &st, "share of entries") + gs_text_width(cr, &st, lo) +
           gs_text_width(cr, &st, "1") + font * (3.2 + 0.9);
}

/* Cells and strips of map m into cells c and strips st[], the log rows over [lo, hi]; strip
 * labels when labels is 1. */
static void draw_block(cairo_t *cr, const GsDistMap *m, GsRect c, const GsRect *st, double font,
                       double lo, double hi, int labels)
{
    size_t j_lo = (size_t)lround((lo - GS_HIST_LOG_LO) / GS_HIST_LOG_STEP);
    size_t j_hi = (size_t)lround((hi - GS_HIST_LOG_LO) / GS_HIST_LOG_STEP);
    if (j_hi > GS_HIST_NLOG)
        j_hi = GS_HIST_NLOG;
    if (j_hi <= j_lo)
        j_hi = j_lo + 1;
    CellCtx ctx = {m, j_hi - 1, GS_DIST_STRIP_ZERO};
    paint_cells(cr, c, m->n_cols, j_hi - j_lo, log_cell, &ctx);
    GsTextStyle sl = gs_text_style(font * 0.75);
    cairo_set_line_width(cr, fmax(1.0, font * 0.05));
    for (size_t s = 0; s < GS_DIST_NSTRIPS; s++) {
        ctx.strip = (GsDistStrip)s;
        paint_cells(cr, st[s], m->n_cols, 1, strip_cell, &ctx);
        cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
        cairo_rectangle(cr, st[s].x, st[s].y, st[s].w, st[s].h);
        cairo_stroke(cr);
        if (labels)
            gs_text_draw(cr, &sl, st[s].x - font * 0.35, st[s].y + st[s].h / 2, 1, 0.5, 0,
                         font * 4.5, gs_dist_strip_label((GsDistStrip)s));
    }
}

void gs_dist_draw(cairo_t *cr, const GsDistMap *m, GsRect r, double font, double lo, double hi,
                  const char *title, const char *ylabel, int key)
{
    gs_dist_draw_zoom(cr, m, NULL, r, font, lo, hi, title, ylabel, key);
}

void gs_dist_draw_zoom(cairo_t *cr, const GsDistMap *m, const GsDistMap *zoom, GsRect r,
                       double font, double lo, double hi, const char *title, const char *ylabel,
                       int key)
{
    cairo_save(cr);
    gs_draw_log_bounds(cr, &r);
    if (title)
        gs_panel_title(cr, r, font, title);
    GsDistPanelBoxes b;
    gs_dist_panel_boxes(r, font, key, &b);
    if (b.cells.w < 4 || b.cells.h < 4) {
        cairo_restore(cr);
        return;
    }
    GsAxisTicks xt, yt;
    decade_ticks(&yt, lo, hi, b.cells.h, font);
    GsRect c = b.cells, st[GS_DIST_NSTRIPS];
    memcpy(st, b.strip, sizeof st);
    if (zoom && c.w > font * 20) {
        /* the first steps unbinned on the left, one column each */
        double zw = fmin(fmax(c.w * 0.2, font * 7), c.w * 0.3), gap = font * 1.2;
        GsRect z = {c.x, c.y, zw, c.h}, zs[GS_DIST_NSTRIPS];
        for (size_t s = 0; s < GS_DIST_NSTRIPS; s++) {
            zs[s] = st[s];
            zs[s].w = zw;
            st[s].x += zw + gap;
            st[s].w -= zw + gap;
        }
        c.x += zw + gap;
        c.w -= zw + gap;
        draw_block(cr, zoom, z, zs, font, lo, hi, 1);
        size_t nz = zoom->n_steps, every = 1;
        while (nz / every + 1 > (size_t)fmax(2.0, z.w / (font * 2.8)))
            every++;
        GsAxisTicks zt = {0};
        for (size_t i = 0; i < nz && zt.n < 32; i += every) {
            zt.v[zt.n] = (double)i;
            snprintf(zt.label[zt.n], sizeof zt.label[zt.n], "%ld", zoom->steps[i]);
            zt.n++;
        }
        gs_axes_draw(cr, z, font, &zt, -0.5, (double)nz - 0.5, &yt, lo, hi, "first steps (zoom)",
                     ylabel);
        draw_block(cr, m, c, st, font, lo, hi, 0);
        double xlo, xhi;
        step_axis(m->steps, m->n_steps, c.w, font, &xt, &xlo, &xhi);
        gs_axes_draw(cr, c, font, &xt, xlo, xhi, NULL, lo, hi, "training step", NULL);
    } else {
        draw_block(cr, m, c, st, font, lo, hi, 1);
        double xlo, xhi;
        step_axis(m->steps, m->n_steps, c.w, font, &xt, &xlo, &xhi);
        gs_axes_draw(cr, c, font, &xt, xlo, xhi, &yt, lo, hi, "training step", ylabel);
    }
    if (key) {
        /* centred under the step axis title, within the panel */
        double kw = mini_key_width(cr, font);
        double x1 = fmin(c.x + c.w / 2 + kw / 2, r.x + r.w);
        mini_key(cr, x1, c.y + c.h + gs_axes_bottom_margin(font) + font * 0.55, font);
    }
    cairo_restore(cr);
}

void gs_dist_colorbar_draw(cairo_t *cr, GsRect r, double font)
{
    cairo_save(cr);
    gs_draw_log_bounds(cr, &r);
    GsTextStyle st = gs_text_style(font * 0.8);
    GsTextStyle hd = gs_text_style(font * 0.85);
    hd.bold = 1;
    double y = r.y;
    gs_text_draw(cr, &hd, r.x, y, 0, 0, 0, r.w, "fraction of");
    gs_text_draw(cr, &hd, r.x, y + font * 1.1, 0, 0, 0, r.w, "entries per bin");
    gs_text_draw(cr, &st, r.x, y + font * 2.2, 0, 0, 0, r.w, "(log colour scale)");
    double bar_w = font * 1.3, bar_top = y + font * 3.7;
    double bar_h = fmax(r.h - font * 3.7 - font * 5.2, font * 3);
    GsRect bar = {r.x + font * 0.2, bar_top, bar_w, bar_h};
    size_t n = 256;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, (int)n);
    if (cairo_surface_status(img) == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(img);
        unsigned char *data = cairo_image_surface_get_data(img);
        int stride = cairo_image_surface_get_stride(img);
        for (size_t i = 0; i < n; i++) {
            double t = 1.0 - ((double)i + 0.5) / (double)n;
            *(unsigned int *)(void *)(data + (size_t)stride * i) = gs_cmap_pack(gs_cmap_seq(t));
        }
        cairo_surface_mark_dirty(img);
        cairo_save(cr);
        cairo_translate(cr, bar.x, bar.y);
        cairo_scale(cr, bar.w, bar.h / (double)n);
        cairo_set_source_surface(cr, img, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
        cairo_rectangle(cr, 0, 0, 1, (double)n);
        cairo_fill(cr);
        cairo_restore(cr);
    }
    cairo_surface_destroy(img);
    cairo_set_line_width(cr, fmax(1.0, font * 0.05));
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_rectangle(cr, bar.x, bar.y, bar.w, bar.h);
    cairo_stroke(cr);
    for (int e = (int)GS_DIST_FRAC_LOG_LO; e <= 0; e++) {
        double yy = bar.y + bar.h * (double)(-e) / -GS_DIST_FRAC_LOG_LO;
        char lab[32];
        if (e == 0)
            snprintf(lab, sizeof lab, "1");
        else if (e == (int)GS_DIST_FRAC_LOG_LO)
            snprintf(lab, sizeof lab, "\xe2\x89\xa4 10%s", "\xe2\x81\xbb\xe2\x81\xb4");
        else
            gs_ticks_format_pow10(e, lab, sizeof lab);
        cairo_move_to(cr, bar.x + bar.w, yy);
        cairo_line_to(cr, bar.x + bar.w + font * 0.3, yy);
        cairo_stroke(cr);
        gs_text_draw(cr, &st, bar.x + bar.w + font * 0.45, yy, 0, 0.5, 0,
                     r.x + r.w - (bar.x + bar.w + font * 0.45), lab);
    }
    /* swatches: empty bin, not recorded */
    double sy = bar.y + bar.h + font * 1.2, sw = font * 0.9;
    const struct {
        GsRgb c;
        const char *label;
    } sw_items[2] = {{gs_dist_color_empty(), "no entries"}, {gs_dist_color_none(), "not recorded"}};
    for (size_t i = 0; i < 2; i++) {
        double yy = sy + (double)i * font * 1.4;
        gs_set_rgb(cr, sw_items[i].c);
        cairo_rectangle(cr, r.x + font * 0.2, yy, sw, sw);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        cairo_stroke(cr);
        gs_text_draw(cr, &st, r.x + font * 0.2 + sw + font * 0.45, yy + sw / 2, 0, 0.5, 0,
                     r.w - sw - font * 0.7, sw_items[i].label);
    }
    cairo_restore(cr);
}

/* ---- profile figure ---------------------------------------------------------------- */

/* Line colours by layer, one each for the GS_DIST_MAX_LAYERS curves: Okabe-Ito without its
 * yellow (hard to see on white), plus a dark red. */
static GsRgb layer_color(size_t i)
{
    static const GsRgb pal[GS_DIST_MAX_LAYERS] = {
        {0.0, 0.447, 0.698},   {0.835, 0.369, 0.0}, {0.0, 0.620, 0.451}, {0.800, 0.475, 0.655},
        {0.337, 0.706, 0.914}, {0.902, 0.624, 0.0}, {0.0, 0.0, 0.0},     {0.55, 0.10, 0.20}};
    return pal[i % GS_DIST_MAX_LAYERS];
}

/* "layer 3", "layer 3 · fc3" when named, "out" marks the output layer. */
static void layer_label(const GsTrace *t, size_t li, char *buf, size_t n)
{
    const char *name = gs_trace_layer_name(t, li);
    int out = li + 1 == gs_trace_n_layers(t);
    if (name && *name) {
        char sh[GS_LAYER_LABEL_MAX + 1];
        gs_layer_name_short(name, sh, sizeof sh);
        snprintf(buf, n, "layer %zu \xc2\xb7 %s%s", li + 1, sh,
                 out && strcmp(sh, "out") ? " (out)" : "");
    } else {
        snprintf(buf, n, "layer %zu%s", li + 1, out ? " (out)" : "");
    }
}

/* Recorded step index with a filled histogram of kind k in some of the layers: the first
 * (last = 0) or the last one; n_steps when none. */
static size_t step_with_data(const GsTrace *t, GsHistKind k, const size_t *layers, size_t nl,
                             int last)
{
    size_t S = gs_trace_n_steps(t);
    for (size_t q = 0; q < S; q++) {
        size_t i = last ? S - 1 - q : q;
        for (size_t a = 0; a < nl; a++)
            if (gs_hist_total(gs_trace_hist(t, i, layers[a], k)) > 0)
                return i;
    }
    return S;
}

static void message(cairo_t *cr, GsRect r, double font, const char *text)
{
    GsTextStyle st = gs_text_style(font * 0.85);
    st.color = (GsRgb){0.45, 0.45, 0.45};
    gs_text_draw(cr, &st, r.x + r.w / 2, r.y + r.h / 2, 0.5, 0.5, 0, r.w, text);
}

/* Fraction per bin of (double)bins[off .. off+nb) (denominator: the linear bins' sum for the
 * signed histogram, all counted entries for the log one) at x positions x0 + (j+0.5) dx. */
static void curve(cairo_t *cr, GsRect p, const float *b, size_t off, size_t nb, double denom,
                  double x0, double dx, double xlo, double xhi, double ymax)
{
    int open = 0;
    for (size_t j = 0; j < nb; j++) {
        double x = x0 + ((double)j + 0.5) * dx;
        if (x < xlo || x > xhi)
            continue;
        double y = (double)b[off + j] / denom;
        double px = p.x + (x - xlo) / (xhi - xlo) * p.w;
        double py = p.y + p.h - y / ymax * p.h;
        if (!open)
            cairo_move_to(cr, px, py);
        else
            cairo_line_to(cr, px, py);
        open = 1;
    }
    cairo_stroke(cr);
}

/* One panel of the profile: kind k at recorded step i for the layers, into r. */
static void profile_panel(cairo_t *cr, const GsTrace *t, const size_t *layers, size_t nl,
                          GsHistKind k, size_t i, double log_lo, double log_hi, GsRect r,
                          double font, const char *label)
{
    cairo_save(cr);
    gs_draw_log_bounds(cr, &r);
    int act = k == GS_HIST_ACT;
    double A = gs_trace_hist_act_range(t);
    char title[160];
    const char *what = act ? "Activations h (signed)" : "Gradients |\xe2\x88\x82L/\xe2\x88\x82W|";
    if (i >= gs_trace_n_steps(t)) {
        snprintf(title, sizeof title, "%s", what);
        gs_panel_title(cr, r, font, title);
        message(cr, r, font,
                act ? "activation histograms not recorded (--hist act)"
                    : "gradient histograms not recorded (--hist grad)");
        cairo_restore(cr);
        return;
    }
    if (label)
        snprintf(title, sizeof title, "%s \xe2\x80\x94 %s at step %ld", label,
                 act ? "activations h (signed)" : "gradients |\xe2\x88\x82L/\xe2\x88\x82W|",
                 gs_trace_step(t, i));
    else
        snprintf(title, sizeof title, "%s at step %ld", what, gs_trace_step(t, i));
    double th = gs_panel_title(cr, r, font, title);
    double leg_w = fmin(font * 15.5, r.w * 0.42);
    GsRect p = {r.x + gs_axes_left_margin(font), r.y + th + font * 0.3,
                r.w - gs_axes_left_margin(font) - leg_w - font * 0.8,
                r.h - th - font * 0.3 - gs_axes_bottom_margin(font)};
    if (p.w < font * 3 || p.h < font * 2) {
        cairo_restore(cr);
        return;
    }
    double xlo = act ? -A : log_lo, xhi = act ? A : log_hi;
    double x0 = act ? -A : GS_HIST_LOG_LO;
    double dx = act ? 2.0 * A / GS_HIST_NLIN : GS_HIST_LOG_STEP;
    size_t off = act ? GS_HIST_LIN0 : GS_HIST_LOG0, nb = act ? GS_HIST_NLIN : GS_HIST_NLOG;
    /* y range: the largest fraction shown */
    double ymax = 0;
    double denom[GS_DIST_MAX_LAYERS];
    for (size_t a = 0; a < nl; a++) {
        const float *b = gs_trace_hist(t, i, layers[a], k);
        denom[a] = NAN;
        if (!(gs_hist_total(b) > 0))
            continue;
        double d = 0;
        if (act)
            for (size_t j = 0; j < GS_HIST_NLIN; j++)
                d += (double)b[GS_HIST_LIN0 + j];
        else
            d = gs_hist_total(b);
        if (!(d > 0))
            continue;
        denom[a] = d;
        for (size_t j = 0; j < nb; j++)
            ymax = fmax(ymax, (double)b[off + j] / d);
    }
    int empty = !(ymax > 0); /* nothing on this axis: all zeros / NaN / Inf */
    if (empty)
        ymax = 1;
    ymax *= 1.08;
    GsAxisTicks xt, yt;
    if (act)
        gs_axis_ticks_linear(&xt, xlo, xhi, (int)fmax(3, p.w / (font * 4.5)), 0);
    else {
        int mx = (int)(p.w / (font * 3.2));
        gs_axis_ticks_decades(&xt, xlo, xhi, mx < 2 ? 2 : mx);
        for (size_t q = 0; q < xt.n; q++)
            if (xt.v[q] == 0)
                snprintf(xt.label[q], sizeof xt.label[q], "1");
    }
    gs_axis_ticks_linear(&yt, 0, ymax, (int)fmax(2, p.h / (font * 2.0)), 0);
    gs_axes_draw(cr, p, font, &xt, xlo, xhi, &yt, 0, ymax,
                 act ? "h (layer output)" : "|\xe2\x88\x82L/\xe2\x88\x82W| entry (log scale)",
                 act ? "fraction per 1/64 of range" : "fraction per \xc2\xbc decade");
    cairo_save(cr);
    cairo_rectangle(cr, p.x, p.y, p.w, p.h);
    cairo_clip(cr);
    cairo_set_line_width(cr, fmax(1.2, font * 0.14));
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (size_t a = 0; a < nl; a++) {
        if (isnan(denom[a]))
            continue;
        gs_set_rgb(cr, layer_color(a));
        curve(cr, p, gs_trace_hist(t, i, layers[a], k), off, nb, denom[a], x0, dx, xlo, xhi, ymax);
    }
    cairo_restore(cr);
    if (empty)
        message(
            cr, p, font,
            act ? "no finite entries to show (see the legend)"
                : "no nonzero finite entry: every one is exactly 0, NaN or \xc2\xb1Inf (see the "
                  "legend)");
    /* legend: layer, then saturation (tanh-like range) or zero share, and std / rms */
    GsTextStyle st = gs_text_style(font * 0.74);
    double lx = p.x + p.w + font * 0.8, ly = p.y;
    double lw = r.x + r.w - lx;
    double row = font * 1.05;
    for (size_t a = 0; a < nl && ly + row * 2 <= r.y + r.h; a++) {
        const float *b = gs_trace_hist(t, i, layers[a], k);
        char name[96], stats[96];
        layer_label(t, layers[a], name, sizeof name);
        if (isnan(denom[a])) {
            snprintf(stats, sizeof stats, "not recorded");
        } else if (act) {
            double sat, sd, zero;
            gs_dist_act_stats(b, A, &sat, &sd, &zero);
            double tsd = gs_trace_get(t, i, layers[a], GS_COL_ACT_STD);
            int exact = !gs_trace_is_missing(tsd) && isfinite(tsd);
            /* the output layer has no activation (logits): its values beyond A are clamped,
             * not saturated */
            int linear = layers[a] + 1 == gs_trace_n_layers(t);
            if (A <= 1.0)
                snprintf(stats, sizeof stats, "%s %.1f%%  std %s%.3g", linear ? "clamped" : "sat",
                         100.0 * sat, exact ? "" : "\xe2\x89\x88", exact ? tsd : sd);
            else
                snprintf(stats, sizeof stats, "zeros %.1f%%  std %s%.3g", 100.0 * zero,
                         exact ? "" : "\xe2\x89\x88", exact ? tsd : sd);
        } else {
            double rms = gs_dist_log_rms(b);
            double trms = gs_trace_get(t, i, layers[a], GS_COL_GRAD_RMS);
            int exact = k == GS_HIST_GRAD && !gs_trace_is_missing(trms) && isfinite(trms);
            double z = (double)b[GS_HIST_ZERO] / denom[a];
            if (z > 0)
                snprintf(stats, sizeof stats, "rms %s%.2g  zeros %.0f%%",
                         exact ? "" : "\xe2\x89\x88", exact ? trms : rms, 100.0 * z);
            else
                snprintf(stats, sizeof stats, "rms %s%.2g", exact ? "" : "\xe2\x89\x88",
                         exact ? trms : rms);
        }
        double tot = gs_hist_total(b);
        double nf =
            tot > 0
                ? ((double)b[GS_HIST_NAN] + (double)b[GS_HIST_PINF] + (double)b[GS_HIST_NINF]) / tot
                : 0.0;
        if (nf > 0) {
            size_t used = strlen(stats);
            snprintf(stats + used, sizeof stats - used, "  NaN/Inf %.2g%%", 100.0 * nf);
        }
        gs_set_rgb(cr, layer_color(a));
        cairo_set_line_width(cr, fmax(1.2, font * 0.14));
        cairo_move_to(cr, lx, ly + row * 0.5);
        cairo_line_to(cr, lx + font * 1.2, ly + row * 0.5);
        cairo_stroke(cr);
        gs_text_draw(cr, &st, lx + font * 1.5, ly + row * 0.5, 0, 0.5, 0, lw - font * 1.5, name);
        st.color = (GsRgb){0.35, 0.35, 0.35};
        gs_text_draw(cr, &st, lx + font * 1.5, ly + row * 1.45, 0, 0.5, 0, lw - font * 1.5, stats);
        st = gs_text_style(font * 0.74);
        ly += row * 2.3;
    }
    cairo_restore(cr);
}

void gs_dist_profile_draw(cairo_t *cr, const GsTrace *t, const size_t *layers, size_t n_layers,
                          GsRect r, double font)
{
    assert(n_layers >= 1 && n_layers <= GS_DIST_MAX_LAYERS);
    unsigned kinds = gs_trace_hist_kinds(t);
    size_t S = gs_trace_n_steps(t);
    size_t ia0 = S, ia1 = S, ig0 = S, ig1 = S;
    if (kinds & (1u << GS_HIST_ACT)) {
        ia0 = step_with_data(t, GS_HIST_ACT, layers, n_layers, 0);
        ia1 = step_with_data(t, GS_HIST_ACT, layers, n_layers, 1);
    }
    if (kinds & (1u << GS_HIST_GRAD)) {
        ig0 = step_with_data(t, GS_HIST_GRAD, layers, n_layers, 0);
        ig1 = step_with_data(t, GS_HIST_GRAD, layers, n_layers, 1);
    }
    /* one log range for both gradient panels */
    const float *gb[2 * GS_DIST_MAX_LAYERS];
    size_t ng = 0;
    for (size_t a = 0; a < n_layers; a++) {
        if (ig0 < S)
            gb[ng++] = gs_trace_hist(t, ig0, layers[a], GS_HIST_GRAD);
        if (ig1 < S)
            gb[ng++] = gs_trace_hist(t, ig1, layers[a], GS_HIST_GRAD);
    }
    double lo, hi;
    gs_dist_log_range_bins(gb, ng, &lo, &hi);
    double gx = font * 1.5, gy = font * 1.0;
    double pw = (r.w - gx) / 2, ph = (r.h - gy) / 2;
    GsRect q[4] = {{r.x, r.y, pw, ph},
                   {r.x + pw + gx, r.y, pw, ph},
                   {r.x, r.y + ph + gy, pw, ph},
                   {r.x + pw + gx, r.y + ph + gy, pw, ph}};
    profile_panel(cr, t, layers, n_layers, GS_HIST_ACT, ia0, lo, hi, q[0], font, NULL);
    profile_panel(cr, t, layers, n_layers, GS_HIST_GRAD, ig0, lo, hi, q[1], font, NULL);
    profile_panel(cr, t, layers, n_layers, GS_HIST_ACT, ia1, lo, hi, q[2], font, NULL);
    profile_panel(cr, t, layers, n_layers, GS_HIST_GRAD, ig1, lo, hi, q[3], font, NULL);
}


/* One row per run of a GS_DIST_CASES figure: the activation and the gradient histograms of
 * its layers at its first recorded step with data, the gradients on one log range shared by
 * every row (so the rows compare). */
static void cases_draw(cairo_t *cr, const GsDistOptions *o, size_t layers[][GS_DIST_MAX_LAYERS],
                       const size_t *nl, GsRect r, double font)
{
    const float *gb[GS_DIST_MAX_CASES * GS_DIST_MAX_LAYERS];
    size_t ng = 0, ia[GS_DIST_MAX_CASES], ig[GS_DIST_MAX_CASES];
    for (size_t c = 0; c < o->n_cases; c++) {
        const GsTrace *t = o->cases[c];
        ia[c] = step_with_data(t, GS_HIST_ACT, layers[c], nl[c], 0);
        ig[c] = step_with_data(t, GS_HIST_GRAD, layers[c], nl[c], 0);
        for (size_t a = 0; a < nl[c] && ig[c] < gs_trace_n_steps(t); a++)
            gb[ng++] = gs_trace_hist(t, ig[c], layers[c][a], GS_HIST_GRAD);
    }
    double lo, hi;
    gs_dist_log_range_bins(gb, ng, &lo, &hi);
    double gx = font * 1.5, gy = font * 1.2;
    double pw = (r.w - gx) / 2, ph = (r.h - gy * (double)(o->n_cases - 1)) / (double)o->n_cases;
    for (size_t c = 0; c < o->n_cases; c++) {
        double y = r.y + (ph + gy) * (double)c;
        GsRect qa = {r.x, y, pw, ph}, qg = {r.x + pw + gx, y, pw, ph};
        profile_panel(cr, o->cases[c], layers[c], nl[c], GS_HIST_ACT, ia[c], lo, hi, qa, font,
                      o->case_labels[c]);
        profile_panel(cr, o->cases[c], layers[c], nl[c], GS_HIST_GRAD, ig[c], lo, hi, qg, font,
                      o->case_labels[c]);
    }
}

/* ---- the page ---------------------------------------------------------------------- */

void gs_dist_options_default(GsDistOptions *o)
{
    memset(o, 0, sizeof *o);
    o->figure = GS_DIST_HEATMAP;
    o->kind = GS_HIST_GRAD;
    o->width = 1600;
    o->height = 900;
    o->scale = 1.0;
}

GsStatus gs_plot_parse_layers(const char *text, size_t n_layers, size_t *out, size_t cap, size_t *n,
                              GsError *err)
{
    size_t got[GS_DIST_MAX_LAYERS * 4], k = 0;
    if (!text || !*text)
        return gs_error(err, GS_ERR_INVALID, "empty layer list (expected e.g. '1,5,out')");
    const char *p = text;
    while (1) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item)
            return gs_error(err, GS_ERR_INVALID,
                            "layer list '%s': item %zu is empty or too long (expected a layer "
                            "number 1..%zu, 'mid' or 'out')",
                            text, k + 1, n_layers);
        memcpy(item, p, len);
        item[len] = '\0';
        size_t li;
        if (!strcmp(item, "out")) {
            li = n_layers - 1;
        } else if (!strcmp(item, "mid")) {
            li = (n_layers - 1) / 2;
        } else {
            char *end;
            errno = 0;
            long v = strtol(item, &end, 10);
            if (*end || errno || end == item || v < 1 || (unsigned long)v > n_layers)
                return gs_error(err, GS_ERR_INVALID,
                                "layer list '%s': '%s' is not a layer (expected 1..%zu, 'mid' "
                                "or 'out')",
                                text, item, n_layers);
            li = (size_t)v - 1;
        }
        int dup = 0;
        for (size_t i = 0; i < k; i++)
            dup |= got[i] == li;
        if (!dup) {
            if (k >= cap || k >= sizeof got / sizeof got[0])
                return gs_error(err, GS_ERR_INVALID, "layer list '%s': more than %zu layers", text,
                                cap);
            got[k++] = li;
        }
        if (!e)
            break;
        p = e + 1;
    }
    memcpy(out, got, k * sizeof *out);
    *n = k;
    return GS_OK;
}

/* The default layers: layer 1, the middle one and the output layer (heatmap); every layer,
 * or GS_DIST_MAX_LAYERS evenly spaced ones with the first and the last (profile). */
static size_t default_layers(size_t nl, GsDistFigure fig, size_t *out)
{
    size_t n = 0;
    if (fig == GS_DIST_HEATMAP) {
        size_t cand[3] = {0, (nl - 1) / 2, nl - 1};
        for (size_t i = 0; i < 3; i++)
            if (!n || out[n - 1] != cand[i])
                out[n++] = cand[i];
        return n;
    }
    if (nl <= GS_DIST_MAX_LAYERS) {
        for (size_t i = 0; i < nl; i++)
            out[i] = i;
        return nl;
    }
    for (size_t i = 0; i < GS_DIST_MAX_LAYERS; i++) {
        size_t li = (size_t)lround((double)i * (double)(nl - 1) / (GS_DIST_MAX_LAYERS - 1));
        if (!n || out[n - 1] != li)
            out[n++] = li;
    }
    return n;
}

static const char *kind_axis(GsHistKind k)
{
    switch (k) {
    case GS_HIST_GRAD: return "|\xe2\x88\x82L/\xe2\x88\x82W| entry (log scale)";
    case GS_HIST_ACT: return "|h| layer output (log scale)";
    case GS_HIST_UPDATE: return "|\xce\x94W| entry (log scale)";
    case GS_HIST_NKINDS: break;
    }
    return "?";
}

static const char *kind_title(GsHistKind k)
{
    switch (k) {
    case GS_HIST_GRAD: return "gradient entries \xe2\x88\x82L/\xe2\x88\x82W";
    case GS_HIST_ACT: return "activations h (layer outputs)";
    case GS_HIST_UPDATE: return "update entries \xce\x94W";
    case GS_HIST_NKINDS: break;
    }
    return "?";
}

typedef struct {
    const GsDistOptions *o;
    size_t case_layers[GS_DIST_MAX_CASES][GS_DIST_MAX_LAYERS], case_nl[GS_DIST_MAX_CASES];
    GsDistPage pg;
    size_t layers[GS_DIST_MAX_LAYERS], n;
    GsDistMap maps[GS_DIST_MAX_LAYERS];
    GsDistMap zoom[GS_DIST_MAX_LAYERS]; /* the first steps, unbinned (n_zoom > 0) */
    size_t n_zoom;
    double lo, hi;
} Page;

static void draw_cb(cairo_t *cr, void *ctx)
{
    Page *pg = ctx;
    const GsDistOptions *o = pg->o;
    const GsTrace *t = o->trace;
    double f = pg->pg.font;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    char title[512], sub[512];
    if (o->figure == GS_DIST_CASES) {
        /* the runs differ in their setup: no metadata line, each row names its run */
        GsRect tr = pg->pg.title;
        gs_draw_log_bounds(cr, &tr);
        GsTextStyle ts = gs_text_style(f * 1.35);
        ts.bold = 1;
        gs_text_draw(cr, &ts, tr.x, tr.y, 0, 0, 0, tr.w,
                     o->title ? o->title : "Distributions at the first step, run by run");
        GsTextStyle ss = gs_text_style(f * 0.9);
        gs_text_wrap(cr, &ss, tr.x, tr.y + f * 2.0, tr.w, 2, 0,
                     o->subtitle ? o->subtitle
                                 : "One curve per layer. Activations on a linear axis over the "
                                   "activation's range; gradients on one log axis for every "
                                   "row. \xe2\x89\x88: estimated from the bins.");
        gs_draw_log_bounds(cr, &pg->pg.panel[0]);
        cases_draw(cr, o, pg->case_layers, pg->case_nl, pg->pg.panel[0], f);
        gs_draw_log_bounds(cr, NULL);
        return;
    }
    if (o->figure == GS_DIST_HEATMAP) {
        snprintf(title, sizeof title, "%s%s%s", o->title ? "" : "Distribution over training: ",
                 o->title ? o->title : kind_title(o->kind),
                 o->title || !o->source_name || gs_trace_meta_get(t, "depth") ? "" : "");
        snprintf(sub, sizeof sub,
                 "Colour: fraction of the layer's entries in each \xc2\xbc-decade bin of "
                 "log10|x|; strips above: shares that are \xc2\xb1Inf, NaN or exactly 0.");
    } else {
        snprintf(title, sizeof title, "%s",
                 o->title ? o->title : "Layer profile of distributions: first and last step");
        snprintf(sub, sizeof sub,
                 "One curve per layer. Activations on a linear axis over the activation's range "
                 "(\xc2\xb1%g; sat = share with |h| > 31/32 of it; the output layer's values "
                 "beyond it are clamped to the ends); gradients on a log axis. "
                 "\xe2\x89\x88: estimated from the bins.",
                 gs_trace_hist_act_range(t));
    }
    gs_draw_log_bounds(cr, &pg->pg.title);
    gs_panel_title_block(cr, pg->pg.title, f, t, title, sub, o->source_name, NULL);
    if (o->figure == GS_DIST_HEATMAP) {
        for (size_t a = 0; a < pg->n; a++) {
            char pt[160];
            layer_label(t, pg->layers[a], pt, sizeof pt);
            gs_dist_draw_zoom(cr, &pg->maps[a], pg->n_zoom ? &pg->zoom[a] : NULL, pg->pg.panel[a],
                              f, pg->lo, pg->hi, pt, kind_axis(o->kind), 0);
        }
        gs_dist_colorbar_draw(cr, pg->pg.cbar, f);
    } else {
        GsRect r = pg->pg.panel[0];
        gs_draw_log_bounds(cr, &r);
        gs_dist_profile_draw(cr, t, pg->layers, pg->n, r, f);
    }
    gs_draw_log_bounds(cr, NULL);
}


static GsStatus check_size(const GsDistOptions *o, GsError *err)
{
    if (o->width < 200 || o->width > 20000 || o->height < 200 || o->height > 20000)
        return gs_error(err, GS_ERR_INVALID,
                        "distribution figure: size %dx%d is out of range "
                        "(200..20000 each)",
                        o->width, o->height);
    if (!(o->scale >= 0.25 && o->scale <= 8.0))
        return gs_error(err, GS_ERR_INVALID,
                        "distribution figure: scale %g is out of range (0.25..8)", o->scale);
    return GS_OK;
}

/* The GS_DIST_CASES page: checks every run, picks its layers, renders. */
static GsStatus cases_page(const GsDistOptions *o, const char *path, GsError *err)
{
    GsStatus st = check_size(o, err);
    if (st != GS_OK)
        return st;
    if (o->n_cases < 1 || o->n_cases > GS_DIST_MAX_CASES)
        return gs_error(err, GS_ERR_INVALID, "distribution cases: %zu runs given (1..%d)",
                        o->n_cases, GS_DIST_MAX_CASES);
    Page pg;
    memset(&pg, 0, sizeof pg);
    pg.o = o;
    unsigned need = (1u << GS_HIST_ACT) | (1u << GS_HIST_GRAD);
    for (size_t c = 0; c < o->n_cases; c++) {
        const GsTrace *t = o->cases[c];
        const char *lab = o->case_labels[c] ? o->case_labels[c] : "?";
        if (!t || gs_trace_n_steps(t) == 0)
            return gs_error(err, GS_ERR_INVALID, "distribution cases: run %zu (%s) has no "
                            "recorded steps", c + 1, lab);
        if ((gs_trace_hist_kinds(t) & need) != need)
            return gs_error(err, GS_ERR_INVALID,
                            "distribution cases: run %zu (%s) lacks 'act' or 'grad' histograms "
                            "(--hist grad,act)", c + 1, lab);
        pg.case_nl[c] = default_layers(gs_trace_n_layers(t), GS_DIST_PROFILE, pg.case_layers[c]);
    }
    gs_dist_page_layout(o->width, o->height, 1, &pg.pg);
    pg.pg.panel[0].w = o->width - 2 * pg.pg.margin;
    return gs_plot_render(path, o->width, o->height, o->scale, draw_cb, &pg, err);
}

GsStatus gs_plot_distributions(const GsDistOptions *o, const char *path, GsError *err)
{
    GsStatus st = gs_plot_check_path(path, err);
    if (st != GS_OK)
        return st;
    if (o->figure == GS_DIST_CASES)
        return cases_page(o, path, err);
    const GsTrace *t = o->trace;
    if (!t || gs_trace_n_steps(t) == 0)
        return gs_error(err, GS_ERR_INVALID,
                        "distribution figure: the trace has no recorded steps");
    unsigned kinds = gs_trace_hist_kinds(t);
    if (!kinds)
        return gs_error(err, GS_ERR_INVALID,
                        "distribution figure: the trace holds no histograms (record them with "
                        "--hist grad,act,update; a CSV needs its .hist.npy side file beside it)");
    if ((st = check_size(o, err)) != GS_OK)
        return st;
    if (o->figure != GS_DIST_HEATMAP && o->figure != GS_DIST_PROFILE)
        return gs_error(err, GS_ERR_INVALID, "distribution figure: unknown figure %d",
                        (int)o->figure);
    size_t nl = gs_trace_n_layers(t);
    Page pg;
    memset(&pg, 0, sizeof pg);
    pg.o = o;
    if (o->n_layers > GS_DIST_MAX_LAYERS)
        return gs_error(err, GS_ERR_INVALID, "distribution figure: %zu layers asked, at most %d",
                        o->n_layers, GS_DIST_MAX_LAYERS);
    if (o->n_layers) {
        for (size_t a = 0; a < o->n_layers; a++)
            if (o->layers[a] >= nl)
                return gs_error(err, GS_ERR_INVALID,
                                "distribution figure: layer %zu is out of range (the trace has "
                                "%zu layers)",
                                o->layers[a] + 1, nl);
        memcpy(pg.layers, o->layers, o->n_layers * sizeof *pg.layers);
        pg.n = o->n_layers;
    } else {
        pg.n = default_layers(nl, o->figure, pg.layers);
    }
    if (o->figure == GS_DIST_HEATMAP) {
        gs_dist_page_layout(o->width, o->height, pg.n, &pg.pg);
        for (size_t a = 0; a < pg.n; a++) {
            GsDistPanelBoxes b;
            gs_dist_panel_boxes(pg.pg.panel[a], pg.pg.font, 0, &b);
            size_t cols = (size_t)fmax(1.0, floor(b.cells.w * o->scale));
            st = gs_dist_map_build(t, pg.layers[a], o->kind, cols, &pg.maps[a], err);
            if (st != GS_OK)
                goto done;
        }
        pg.n_zoom = gs_dist_zoom_steps(t, pg.layers, pg.n, o->kind);
        for (size_t a = 0; a < pg.n && pg.n_zoom; a++) {
            st = gs_dist_map_build_range(t, pg.layers[a], o->kind, 0, pg.n_zoom, pg.n_zoom,
                                         &pg.zoom[a], err);
            if (st != GS_OK)
                goto done;
        }
        const GsDistMap *mp[GS_DIST_MAX_LAYERS];
        for (size_t a = 0; a < pg.n; a++)
            mp[a] = &pg.maps[a];
        gs_dist_log_range(mp, pg.n, &pg.lo, &pg.hi);
    } else {
        if (!(kinds & ((1u << GS_HIST_ACT) | (1u << GS_HIST_GRAD))))
            return gs_error(err, GS_ERR_INVALID,
                            "layer profile: the trace holds neither 'act' nor 'grad' histograms");
        /* one big panel under the title: the profile splits it into four */
        gs_dist_page_layout(o->width, o->height, 1, &pg.pg);
        GsRect *p = &pg.pg.panel[0];
        p->w = o->width - 2 * pg.pg.margin;
        pg.pg.cbar = (GsRect){0, 0, 0, 0};
    }
    st = gs_plot_render(path, o->width, o->height, o->scale, draw_cb, &pg, err);
done:
    for (size_t a = 0; a < pg.n; a++) {
        gs_dist_map_fini(&pg.maps[a]);
        gs_dist_map_fini(&pg.zoom[a]);
    }
    return st;
}
