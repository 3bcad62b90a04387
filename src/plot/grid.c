/* The sweep grid: small multiples of a heatmap (grad_norm unless told), one per run, on ONE shared
 * colour scale with one colour bar; rows and columns are the first two varied keys, further values
 * become side-by-side labelled panels. Each cell carries a badge of its most severe finding. */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/plot.h"
#include "plot/draw.h"
#include "plot/heatmap.h"
#include "plot/panels.h"
#include "plot/surface.h"

/* Grids of at most this many runs get a shared loss panel, LOSS_PANEL_FONTS font sizes tall. */
#define GRID_LOSS_MAX_RUNS 8
#define LOSS_PANEL_FONTS 20.0

/* Page geometry, all in page units. */
typedef struct {
    double W, H, font, m;
    double top;             /* y where the column headers start */
    double row_lab_w;       /* width of the row-label column of each panel */
    double col_head_h;      /* height of the column headers (+ page header) */
    double cell_w, cell_h;  /* one cell including badge strip and gaps */
    double badge_h, foot_h; /* strips above / below the heatmap in a cell */
    double loss_h;          /* height of the shared loss panel under the grid; 0: none */
    int sub_lines;          /* lines of the subtitle (0..2) */
    double panel_w;         /* one page panel: row labels + columns */
    double cbar_x, cbar_w;
    int through_time; /* 1: every run is recurrent: cells show ||dL/dh_t|| through time */
} Geo;

/* 1 when every run carries through-time gradient norms (recurrent nets): the grid then shows
 * each run's bottom recurrent layer through time, the view the recurrent lessons are about. */
static int grid_through_time(const GsGridOptions *o)
{
    for (size_t i = 0; i < o->n; i++)
        if (!gs_trace_series_has(o->traces[i], GS_TCOL_H_GRAD_NORM))
            return 0;
    return o->n > 0;
}

/* ||dL/dh_1|| / ||dL/dh_T|| of series 0 at recorded step i (NaN when absent). */
static double time_ratio(const GsTrace *t, size_t i)
{
    size_t T = gs_trace_series_len(t, i, 0);
    if (T == 0)
        return NAN;
    return gs_trace_series_get(t, i, 0, GS_TCOL_H_GRAD_NORM, 1) /
           gs_trace_series_get(t, i, 0, GS_TCOL_H_GRAD_NORM, T);
}

/* The column the cells show: the options' metric, grad_norm by default. */
static GsCol grid_metric(const GsGridOptions *o)
{
    return o->metric > GS_COL_LAYER && o->metric < GS_COL_COUNT ? (GsCol)o->metric
                                                                : GS_COL_GRAD_NORM;
}

static void geometry(const GsGridOptions *o, Geo *g)
{
    double W = o->width, H = o->height;
    size_t nr = o->n_rows, nc = o->n_cols, np = o->n_pages ? o->n_pages : 1;
    g->font = 15.0;
    if (W <= 0 || H <= 0) {
        /* cells big enough to read at 3x3, small but usable at 6x6 */
        double cw = nc * np <= 9 ? 300 : 230, ch = nr == 1 ? 280 : nr <= 3 ? 200 : 160;
        g->font = nc * np <= 9 ? 15.0 : 13.0;
        double f = g->font;
        W = 2 * f * 1.5 + np * (f * 10 + nc * cw) + (np - 1) * f * 2 + f * 12;
        H = f * 1.5 + f * 4.2 + f * 3.0 + nr * ch + f * 4.0 + (o->subtitle ? f * 1.25 : 0);
        if (o->n <= GRID_LOSS_MAX_RUNS)
            H += f * LOSS_PANEL_FONTS;
        if (W < 900)
            W = 900;
    }
    double f = g->font;
    g->W = W;
    g->H = H;
    g->m = f * 1.5;
    /* a long fixed-setup line wraps to two lines (DejaVu Sans averages ~0.55 em) */
    g->sub_lines = 0;
    if (o->subtitle)
        g->sub_lines = (double)strlen(o->subtitle) * 0.55 * 0.9 * f > W - 2 * g->m ? 2 : 1;
    g->top = g->m * 0.6 + f * 1.5 + g->sub_lines * f * 1.25 + f * 1.2;
    g->col_head_h = f * (o->page_key ? 2.8 : 1.6);
    g->row_lab_w = f * 10;
    g->badge_h = f * 1.5;
    g->through_time = grid_through_time(o);
    g->foot_h = o->predicted || g->through_time ? f * 1.3 : f * 0.4;
    g->cbar_w = f * 9;
    double gap = f * 2;
    double avail = W - 2 * g->m - g->cbar_w - (np - 1) * gap;
    g->panel_w = avail / np;
    g->cell_w = (g->panel_w - g->row_lab_w) / nc;
    /* A few runs (a lesson's variants) also get their loss curves in one shared panel:
     * learning-rate effects show in the loss more than in the gradients. */
    g->loss_h = o->n <= GRID_LOSS_MAX_RUNS ? f * LOSS_PANEL_FONTS : 0.0;
    double body = H - g->top - g->col_head_h - f * 2.2 - g->m * 0.5 - g->loss_h;
    g->cell_h = body / nr;
    g->cbar_x = W - g->m - g->cbar_w;
}

static GsRgb sev_color(int sev)
{
    if (sev == GS_SEV_ERROR)
        return (GsRgb){0.78, 0.12, 0.12};
    if (sev == GS_SEV_WARNING)
        return (GsRgb){0.85, 0.50, 0.05};
    if (sev == GS_SEV_INFO)
        return (GsRgb){0.20, 0.42, 0.70};
    return (GsRgb){0.18, 0.55, 0.28};
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else if (isinf(v))
        snprintf(buf, n, "%sInf", v > 0 ? "" : "-");
    else
        snprintf(buf, n, "%.3g", v);
}

static void draw_cell(cairo_t *cr, const GsGridOptions *o, const Geo *g, const GsHeatmap *hm,
                      size_t i, GsRect c, int bottom_row)
{
    double f = g->font;
    const GsTrace *t = o->traces[i];
    const GsFindings *fs = o->findings ? o->findings[i] : NULL;
    /* badge: the primary finding in plain words (listed first), coloured by the worst
     * severity of the run (a warning-level cause that overflowed is an error run) */
    int sev = -1;
    const char *kind = "healthy";
    if (fs && fs->n) {
        kind = gs_finding_kind_title(fs->items[0].kind);
        for (size_t k = 0; k < fs->n; k++)
            if ((int)fs->items[k].severity > sev)
                sev = (int)fs->items[k].severity;
    }
    GsTextStyle bs = gs_text_style(f * 0.85);
    bs.bold = 1;
    bs.color = (GsRgb){1, 1, 1};
    double bw = gs_text_width(cr, &bs, kind) + f * 0.8;
    if (bw > c.w * 0.62)
        bw = c.w * 0.62; /* the text shrinks to fit */
    double bh = g->badge_h * 0.8;
    gs_set_rgb(cr, sev_color(sev));
    cairo_rectangle(cr, c.x, c.y + (g->badge_h - bh) / 2, bw, bh);
    cairo_fill(cr);
    gs_text_draw(cr, &bs, c.x + f * 0.4, c.y + g->badge_h / 2, 0, 0.5, 0, bw - f * 0.6, kind);

    size_t ns = gs_trace_n_steps(t);
    char num[32], lab[64];
    /* the robust final loss (mean of the last tenth), not one noisy minibatch */
    fmt_num(num, sizeof num, gs_diagnose_final_loss(t, NULL));
    snprintf(lab, sizeof lab, "final loss %s", num);
    GsTextStyle ls = gs_text_style(f * 0.8);
    gs_text_draw(cr, &ls, c.x + c.w, c.y + g->badge_h / 2, 1, 0.5, 0, c.w - bw - f * 0.3, lab);

    GsRect h = {c.x, c.y + g->badge_h, c.w, c.h - g->badge_h - g->foot_h};
    gs_heatmap_draw_cells(cr, hm, h);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, h.x, h.y, h.w, h.h);
    cairo_stroke(cr);

    if (g->through_time && ns) {
        /* the story of a recurrent cell: how much of the gradient at T reaches t = 1, at the
         * start and at the end of training (and the theory's value at init when known) */
        char a[32], b[32], th[32], line[160];
        fmt_num(a, sizeof a, time_ratio(t, 0));
        fmt_num(b, sizeof b, time_ratio(t, ns - 1));
        const char *gm = gs_trace_meta_get(t, "theory_step_gain_l0");
        size_t T = gs_trace_series_len(t, 0, 0);
        th[0] = '\0';
        if (gm && T > 1)
            fmt_num(th, sizeof th, pow(strtod(gm, NULL), (double)(T - 1)));
        snprintf(line, sizeof line, "dL/dh_1 / dL/dh_T: step 0 %s%s%s%s, last %s", a,
                 th[0] ? " (theory " : "", th, th[0] ? ")" : "", b);
        GsTextStyle ps = gs_text_style(f * 0.72);
        if (gs_text_width(cr, &ps, line) * GS_TEXT_MIN_SHRINK > c.w)
            snprintf(line, sizeof line, "h_1/h_T: start %s, end %s", a, b);
        gs_text_draw(cr, &ps, c.x, h.y + h.h + f * 0.15, 0, 0, 0, c.w, line);
    } else if (o->predicted) {
        size_t L = gs_trace_n_layers(t);
        double meas = L >= 2 && ns ? gs_trace_get(t, 0, 0, GS_COL_ACT_GRAD_NORM) /
                                         gs_trace_get(t, 0, L - 2, GS_COL_ACT_GRAD_NORM)
                                   : (double)NAN;
        char a[32], b[32], line[128];
        fmt_num(a, sizeof a, o->predicted[i]);
        fmt_num(b, sizeof b, meas);
        snprintf(line, sizeof line, "step-0 ratio L1/L%zu: theory %s, measured %s",
                 L >= 2 ? L - 1 : L, a, b);
        GsTextStyle ps = gs_text_style(f * 0.72);
        if (gs_text_width(cr, &ps, line) * GS_TEXT_MIN_SHRINK > c.w) /* narrow cells: shorter */
            snprintf(line, sizeof line, "L1/L%zu theory %s, measured %s", L >= 2 ? L - 1 : L, a, b);
        gs_text_draw(cr, &ps, c.x, h.y + h.h + f * 0.15, 0, 0, 0, c.w, line);
    }
    if (bottom_row && ns) {
        GsTextStyle ts = gs_text_style(f * 0.72);
        ts.color = (GsRgb){0.35, 0.35, 0.35};
        char s0[32], s1[32];
        snprintf(s0, sizeof s0, "step %ld", gs_trace_step(t, 0));
        snprintf(s1, sizeof s1, "%ld", gs_trace_step(t, ns - 1));
        double y = c.y + c.h + f * 0.1;
        gs_text_draw(cr, &ts, c.x, y, 0, 0, 0, 0, s0);
        gs_text_draw(cr, &ts, c.x + c.w, y, 1, 0, 0, 0, s1);
    }
}

static void draw_page(cairo_t *cr, const GsGridOptions *o, const Geo *g, GsHeatmap **hms)
{
    double f = g->font, m = g->m;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    GsTextStyle ts = gs_text_style(f * 1.35);
    ts.bold = 1;
    double y = m * 0.6;
    gs_text_draw(cr, &ts, m, y, 0, 0, 0, g->W - 2 * m, o->title ? o->title : "gradscope sweep");
    y += f * 1.7;
    if (o->subtitle) {
        GsTextStyle ss = gs_text_style(f * 0.9);
        ss.color = (GsRgb){0.3, 0.3, 0.3};
        gs_text_wrap(cr, &ss, m, y, g->W - 2 * m, g->sub_lines, 0, o->subtitle);
    }
    size_t np = o->n_pages ? o->n_pages : 1;
    double gap = f * 2, x0 = m;
    GsTextStyle hs = gs_text_style(f * 0.95);
    hs.bold = 1;
    GsTextStyle rs = gs_text_style(f * 0.9);
    for (size_t p = 0; p < np; p++) {
        double px = x0 + (double)p * (g->panel_w + gap);
        double hy = g->top;
        if (o->page_key) {
            char lab[160];
            snprintf(lab, sizeof lab, "%s = %s", o->page_key,
                     o->page_labels ? o->page_labels[p] : "?");
            GsTextStyle pst = gs_text_style(f * 1.1);
            pst.bold = 1;
            gs_text_draw(cr, &pst, px + g->row_lab_w + (g->panel_w - g->row_lab_w) / 2, hy, 0.5, 0,
                         0, g->panel_w - g->row_lab_w, lab);
            cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
            cairo_set_line_width(cr, 1.0);
            cairo_move_to(cr, px + g->row_lab_w, hy + f * 1.35);
            cairo_line_to(cr, px + g->panel_w, hy + f * 1.35);
            cairo_stroke(cr);
            hy += f * 1.5;
        }
        for (size_t c = 0; c < o->n_cols; c++) {
            char lab[160];
            if (o->col_key)
                snprintf(lab, sizeof lab, "%s = %s", o->col_key, o->col_labels[c]);
            else
                snprintf(lab, sizeof lab, "%s", o->col_labels ? o->col_labels[c] : "");
            double cx = px + g->row_lab_w + ((double)c + 0.5) * g->cell_w;
            gs_text_draw(cr, &hs, cx, hy, 0.5, 0, 0, g->cell_w - f * 0.5, lab);
        }
        double cy0 = g->top + g->col_head_h;
        for (size_t r = 0; r < o->n_rows; r++) {
            /* rows listed top to bottom in value order */
            double ry = cy0 + (double)r * g->cell_h;
            char lab[160];
            if (o->row_key)
                snprintf(lab, sizeof lab, "%s =", o->row_key);
            else
                lab[0] = '\0';
            double mid = ry + g->badge_h + (g->cell_h - g->badge_h - g->foot_h - f) / 2;
            if (lab[0])
                gs_text_draw(cr, &rs, px + g->row_lab_w - f * 2.2, mid, 1, 1, 0,
                             g->row_lab_w - f * 2.4, lab);
            GsTextStyle rb = rs;
            rb.bold = 1;
            gs_text_draw(cr, &rb, px + g->row_lab_w - f * 2.2, mid, 1, o->row_key ? 0 : 0.5, 0,
                         g->row_lab_w - f * 2.4, o->row_labels ? o->row_labels[r] : "");
            /* layer axis hint: layer 1 at the bottom, the output layer at the top */
            GsTextStyle ax = gs_text_style(f * 0.7);
            ax.color = (GsRgb){0.35, 0.35, 0.35};
            double hy0 = ry + g->badge_h, hy1 = ry + g->cell_h - f * 0.5 - g->foot_h;
            gs_text_draw(cr, &ax, px + g->row_lab_w - f * 0.3, hy0, 1, 0, 0, 0,
                         g->through_time ? "t = T" : "out");
            gs_text_draw(cr, &ax, px + g->row_lab_w - f * 0.3, hy1, 1, 1, 0, 0,
                         g->through_time ? "t = 1" : "layer 1");
        }
    }
    for (size_t i = 0; i < o->n; i++) {
        size_t p = o->page ? (size_t)o->page[i] : 0;
        double px = x0 + (double)p * (g->panel_w + gap);
        GsRect c = {px + g->row_lab_w + (double)o->col[i] * g->cell_w + f * 0.25,
                    g->top + g->col_head_h + (double)o->row[i] * g->cell_h, g->cell_w - f * 0.5,
                    g->cell_h - f * 0.5};
        draw_cell(cr, o, g, hms[i], i, c, (size_t)o->row[i] + 1 == o->n_rows);
    }
    double cb_y = g->top + g->col_head_h;
    double cb_h = fmin(g->H - cb_y - m - f * 6, fmax(f * 10, (g->H - cb_y) * 0.62));
    GsRect cb = {g->cbar_x, cb_y, g->cbar_w, cb_h};
    char cb_label[96], key[400];
    if (g->through_time)
        snprintf(cb_label, sizeof cb_label,
                 "log10 \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 / "
                 "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_T\xe2\x80\x96 (shared)");
    else
        snprintf(cb_label, sizeof cb_label, "%s (log, shared)",
                 gs_plot_metric_label(grid_metric(o)));
    gs_colorbar_draw(cr, (const GsHeatmap *const *)hms, o->n, cb, f, cb_label);
    GsRect lg = {g->cbar_x, cb_y + cb_h + f * 0.5, g->cbar_w, g->H - (cb_y + cb_h + f) - m * 0.3};
    gs_legend_draw(cr, (const GsHeatmap *const *)hms, o->n, lg, f, 0);
    GsTextStyle fs = gs_text_style(f * 0.75);
    fs.color = (GsRgb){0.35, 0.35, 0.35};
    if (g->through_time)
        snprintf(key, sizeof key,
                 "cells: the gradient reaching the hidden state of the bottom recurrent layer at "
                 "time step t (t = 1 at the bottom), relative to t = T, over training steps; "
                 "badge: the primary finding, coloured by the run's worst severity (red error, "
                 "orange warning, blue info, green healthy); final loss = mean of last 10%% of "
                 "steps");
    else
        snprintf(
            key, sizeof key,
            "cells: %s per layer (layer 1 at the bottom) over steps; badge: the primary finding, "
            "coloured by the run's worst severity (red error, orange warning, blue info, green "
            "healthy); final loss = mean of last "
            "10%% of steps",
            gs_plot_metric_label(grid_metric(o)));
    /* wrapped upward from the bottom edge: two lines on a narrow page, never cut */
    double kh = gs_text_wrap(cr, &fs, m, 0, g->W - 2 * m, 2, 1, key);
    gs_text_wrap(cr, &fs, m, g->H - m * 0.3 - kh, g->W - 2 * m, 2, 0, key);
}

typedef struct {
    const GsGridOptions *o;
    const Geo *g;
    GsHeatmap **hms;
    double *work;        /* scratch for the loss panel */
    char (*labels)[160]; /* one legend label per run */
} PageCtx;

/* The loss curves of every run in one panel under the grid, labelled by cell. */
static void draw_losses(cairo_t *cr, const PageCtx *pc)
{
    const GsGridOptions *o = pc->o;
    const Geo *g = pc->g;
    const char *lab[GRID_LOSS_MAX_RUNS];
    for (size_t i = 0; i < o->n; i++) {
        const char *parts[3] = {o->n_rows > 1 && o->row_labels ? o->row_labels[o->row[i]] : NULL,
                                o->n_cols > 1 && o->col_labels ? o->col_labels[o->col[i]] : NULL,
                                o->page && o->page_labels ? o->page_labels[o->page[i]] : NULL};
        size_t w = 0;
        pc->labels[i][0] = '\0';
        for (int k = 0; k < 3; k++)
            if (parts[k] && parts[k][0] && w < sizeof pc->labels[i])
                w += (size_t)snprintf(pc->labels[i] + w, sizeof pc->labels[i] - w, "%s%s",
                                      w ? ", " : "", parts[k]);
        lab[i] = pc->labels[i];
    }
    GsRect r = {g->m, g->H - g->loss_h - g->font * 1.2, g->cbar_x - g->m - g->font * 2,
                g->loss_h - g->font * 0.6};
    gs_panel_losses(cr, r, g->font, o->traces, lab, o->n, pc->work);
}

static void draw_cb(cairo_t *cr, void *ctx)
{
    PageCtx *pc = ctx;
    draw_page(cr, pc->o, pc->g, pc->hms);
    if (pc->g->loss_h > 0)
        draw_losses(cr, pc);
}

GsStatus gs_plot_grid(const GsGridOptions *o, const char *path, GsError *err)
{
    GsStatus st = gs_plot_check_path(path, err);
    if (st != GS_OK)
        return st;
    if (!o || o->n == 0 || o->n_rows == 0 || o->n_cols == 0)
        return gs_error(err, GS_ERR_INVALID, "%s: empty grid: no runs to draw", path);
    if ((o->width || o->height) &&
        (o->width < 200 || o->width > 20000 || o->height < 200 || o->height > 20000))
        return gs_error(err, GS_ERR_INVALID, "grid size %dx%d out of range (200..20000)", o->width,
                        o->height);
    size_t np = o->n_pages ? o->n_pages : 1;
    for (size_t i = 0; i < o->n; i++) {
        if (o->row[i] < 0 || (size_t)o->row[i] >= o->n_rows || o->col[i] < 0 ||
            (size_t)o->col[i] >= o->n_cols ||
            (o->page && (o->page[i] < 0 || (size_t)o->page[i] >= np)))
            return gs_error(err, GS_ERR_INVALID, "%s: run %zu lies outside the grid", path, i);
        if (gs_trace_n_steps(o->traces[i]) == 0)
            return gs_error(err, GS_ERR_INVALID, "%s: run %zu has no recorded steps", path, i);
    }
    Geo g;
    geometry(o, &g);
    if (g.cell_w < 40 || g.cell_h < 40)
        return gs_error(err, GS_ERR_INVALID, "%s: page %.0fx%.0f too small for a %zux%zu grid",
                        path, g.W, g.H, o->n_rows, o->n_cols * np);

    GsHeatmap **hms = calloc(o->n, sizeof *hms);
    if (!hms)
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the grid");
    for (size_t i = 0; i < o->n && st == GS_OK; i++) {
        GsHeatmapSpec hs = {o->traces[i], grid_metric(o), GS_HM_LOG, GS_BIN_GMEAN,
                            (size_t)fmax(1.0, ceil(g.cell_w))};
        if (g.through_time)
            st = gs_heatmap_create_series(o->traces[i], 0, 0, GS_BIN_GMEAN, hs.max_cols, &hms[i],
                                          err);
        else
            st = gs_heatmap_create(&hs, &hms[i], err);
    }
    int *healthy = NULL;
    if (st == GS_OK && !(healthy = calloc(o->n, sizeof *healthy)))
        st = gs_error(err, GS_ERR_NOMEM, "out of memory for the grid");
    if (st == GS_OK) {
        /* one robust scale for every cell, fitted so the healthy cells read as healthy */
        for (size_t i = 0; i < o->n; i++)
            healthy[i] = o->findings && gs_heatmap_gradients_healthy(o->findings[i]);
        st = gs_heatmap_share_range(hms, o->n, healthy, err);
    }
    free(healthy);
    double *work = NULL;
    char(*labels)[160] = NULL;
    if (st == GS_OK && g.loss_h > 0) {
        size_t ns = 0, nl = 0;
        for (size_t i = 0; i < o->n; i++) {
            ns = gs_trace_n_steps(o->traces[i]) > ns ? gs_trace_n_steps(o->traces[i]) : ns;
            nl = gs_trace_n_layers(o->traces[i]) > nl ? gs_trace_n_layers(o->traces[i]) : nl;
        }
        work = malloc(gs_panels_work_size(ns, nl) * sizeof *work);
        labels = calloc(o->n, sizeof *labels);
        if (!work || !labels)
            st = gs_error(err, GS_ERR_NOMEM, "out of memory for the grid's loss panel");
    }
    if (st == GS_OK) {
        PageCtx pc = {o, &g, hms, work, labels};
        st = gs_plot_render(path, (int)lround(g.W), (int)lround(g.H), 1.0, draw_cb, &pc, err);
    }
    free(work);
    free(labels);
    for (size_t i = 0; i < o->n; i++)
        gs_heatmap_destroy(hms[i]);
    free(hms);
    return st;
}
