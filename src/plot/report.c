/* The report page: owns the cairo surface (PNG image, SVG or PDF stream), lays out the panels,
 * builds the heatmap models, calls each panel, checks cairo's status and writes atomically. */
#include "gradscope/plot.h"

#include <cairo.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/dist.h"
#include "plot/draw.h"
#include "plot/heatmap.h"
#include "plot/layout.h"
#include "plot/panels.h"
#include "plot/surface.h"

void gs_report_options_default(GsReportOptions *o)
{
    memset(o, 0, sizeof *o);
    o->metric = GS_COL_GRAD_NORM;
    o->bin = GS_BIN_GMEAN;
    o->width = 1600;
    o->height = 1000;
    o->scale = 1.0;
}

void gs_plot_verdict(const GsFindings *fs, const GsTrace *trace, char *buf, size_t n)
{
    int clipped = gs_trace_clipping_acted(trace);
    int warn = 0;
    for (size_t i = 0; fs && i < fs->n; i++)
        warn |= fs->items[i].severity >= GS_SEV_WARNING;
    if (!warn) {
        snprintf(buf, n, "healthy: no warnings");
        return;
    }
    /* the worst severity present: a warning-level cause whose consequence is an error (large
     * updates that overflowed) is an error run */
    GsSeverity worst = GS_SEV_INFO;
    for (size_t i = 0; i < fs->n; i++)
        if (fs->items[i].severity > worst)
            worst = fs->items[i].severity;
    size_t w = (size_t)snprintf(buf, n, "%s:", gs_severity_name(worst));
    size_t follow = 0;
    for (size_t i = 0; i < fs->n && w < n; i++) {
        if (fs->items[i].severity < GS_SEV_WARNING)
            continue;
        if (fs->items[i].explained_by >= 0) {
            follow++;
            continue;
        }
        GsFindingKind k = fs->items[i].kind;
        w += (size_t)snprintf(buf + w, n - w, "%s %s", i ? "," : "",
                              clipped && k == GS_FIND_EXPLODING
                                  ? "pre-clip gradient still large; updates capped"
                                  : gs_finding_kind_title(k));
    }
    if (follow && w < n)
        snprintf(buf + w, n - w, " (+%zu that follow%s from it)", follow, follow == 1 ? "s" : "");
}

const char *gs_plot_bin_name(GsBinMode mode)
{
    switch (mode) {
    case GS_BIN_GMEAN: return "gmean";
    case GS_BIN_MAX: return "max";
    case GS_BIN_MIN: return "min";
    }
    return "?";
}

GsStatus gs_plot_parse_bin(const char *text, GsBinMode *out, GsError *err)
{
    static const GsBinMode modes[] = {GS_BIN_GMEAN, GS_BIN_MAX, GS_BIN_MIN};
    for (size_t i = 0; i < 3; i++)
        if (text && strcmp(text, gs_plot_bin_name(modes[i])) == 0) {
            *out = modes[i];
            return GS_OK;
        }
    return gs_error(err, GS_ERR_INVALID, "bin mode '%s' is not one of gmean, max, min",
                    text ? text : "(null)");
}

/* Parses a positive decimal integer in [lo, hi] from s..end; -1 when malformed. */
static long parse_dim(const char *s, const char *end, long lo, long hi)
{
    if (s == end || end - s > 6)
        return -1;
    long v = 0;
    for (const char *p = s; p < end; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

GsStatus gs_plot_parse_preset(const char *text, GsReportPreset *out, GsError *err)
{
    if (text && strcmp(text, "none") == 0) {
        *out = GS_PRESET_NONE;
        return GS_OK;
    }
    if (text && strcmp(text, "paper") == 0) {
        *out = GS_PRESET_PAPER;
        return GS_OK;
    }
    return gs_error(err, GS_ERR_INVALID, "preset '%s' is not one of none, paper",
                    text ? text : "(null)");
}

/* The paper page: 3.5 in wide in points, base text 9.3 pt so the smallest label (0.76 of it)
 * is still 7 pt; PNG at 300 dpi. */
#define PAPER_WIDTH_PT 252.0
#define PAPER_FONT_PT 9.3
#define PAPER_DPI 300.0

/* Page width, height (page units) and PNG device scale for o, the preset applied. */
static void page_size(const GsReportOptions *o, double *w, double *h, double *scale)
{
    if (o->preset != GS_PRESET_PAPER) {
        *w = o->width;
        *h = o->height;
        *scale = o->scale;
        return;
    }
    int n_heat = o->after ? 2 : 1;
    int loss =
        gs_trace_has(o->trace, GS_COL_LOSS) || (o->after && gs_trace_has(o->after, GS_COL_LOSS));
    /* heights in fonts: title 3.3, each heatmap 11, profile 12.6, loss 10, margins */
    *w = PAPER_WIDTH_PT;
    *h = PAPER_FONT_PT * (3.3 + 11.5 * n_heat + 13.2 + (loss ? 10.4 : 0) + 2.5);
    *scale = PAPER_DPI / 72.0;
}

GsStatus gs_plot_parse_size(const char *text, int *w, int *h, GsError *err)
{
    if (!text)
        return gs_error(err, GS_ERR_INVALID, "size is missing (expected WIDTHxHEIGHT)");
    const char *x = strchr(text, 'x');
    long wv = x ? parse_dim(text, x, 200, 20000) : -1;
    long hv = x ? parse_dim(x + 1, x + strlen(x), 200, 20000) : -1;
    if (wv < 0 || hv < 0)
        return gs_error(err, GS_ERR_INVALID,
                        "size '%s' is not WIDTHxHEIGHT with each 200..20000 (e.g. 1600x1000)",
                        text);
    *w = (int)wv;
    *h = (int)hv;
    return GS_OK;
}

/* Everything built before drawing, freed in one place. */
typedef struct {
    GsHeatmap *main, *after;
    GsHeatmap *sat[2], *dead[2]; /* per run: before, after */
    double *work;
    /* recurrent nets: the through-time view (tt[k] NULL when run k has none) */
    int through_time; /* 1: the report's main view is through time */
    GsHeatmap *tt[2]; /* per run: the through-time heatmap */
    size_t tk[2];     /* per run: the series shown */
    int deep;         /* the report's run has more than one recurrent layer */
    int tt_only;      /* the paper page: the through-time heatmaps alone, no tensors */
    int split;        /* the full page: each heatmap box split, through time | tensors */
    GsDistMap dist;   /* layer 1's gradient distribution (GS_PANEL_DIST), zeroed when off */
    double dist_lo, dist_hi;
} Model;

static void model_fini(Model *m)
{
    gs_heatmap_destroy(m->tt[0]);
    gs_heatmap_destroy(m->tt[1]);
    gs_heatmap_destroy(m->main);
    gs_heatmap_destroy(m->after);
    for (int k = 0; k < 2; k++) {
        gs_heatmap_destroy(m->sat[k]);
        gs_heatmap_destroy(m->dead[k]);
    }
    free(m->work);
    gs_dist_map_fini(&m->dist);
}

/* The through-time series of t to show: the one named want, else layer 0's (named
 * "...h_l0"), else the first; 0 when t has no through-time h_grad_norm (or no series want). */
static int pick_series(const GsTrace *t, const char *want, size_t *k)
{
    if (!t || !gs_trace_series_has(t, GS_TCOL_H_GRAD_NORM))
        return 0;
    size_t n = gs_trace_n_series(t);
    for (size_t j = 0; j < n; j++) {
        const char *nm = gs_trace_series_name(t, j);
        size_t len = nm ? strlen(nm) : 0;
        if (want ? nm && strcmp(nm, want) == 0 : len >= 4 && strcmp(nm + len - 4, "h_l0") == 0) {
            *k = j;
            return 1;
        }
    }
    if (want)
        return 0;
    *k = 0;
    return 1;
}

/* A heatmap rectangle of the through-time report: the through-time heatmap on the left with
 * its own colour bar, the per-tensor heatmap on the right. */
static void tt_split(GsRect r, double f, GsRect *tt, GsRect *bar, GsRect *tensors)
{
    double gap = f * 1.2, bar_w = f * 5.2, pad = f * 1.2; /* pad: the last step's tick label */
    double left = (r.w - gap) * 0.56;
    *tt = (GsRect){r.x, r.y, left - bar_w - pad, r.h};
    *bar = (GsRect){r.x + left - bar_w, r.y, bar_w, r.h};
    *tensors = (GsRect){r.x + left + gap, r.y, r.w - left - gap, r.h};
}

void gs_report_through_time_rects(const GsLayout *L, int after, GsRect *tt, GsRect *bar,
                                  GsRect *tensors)
{
    tt_split(L->r[after ? GS_PANEL_HEATMAP_AFTER : GS_PANEL_HEATMAP], L->font, tt, bar, tensors);
}

static GsStatus heatmap_for(const GsTrace *t, GsCol col, GsHeatmapScale sc, GsBinMode bin,
                            double px_width, GsHeatmap **out, GsError *err)
{
    /* beside the through-time view the tensors' panel is narrow: "weight_hh_l0", not
     * "rnn.weight_hh_l0", and in the small health heatmaps "hh_l0" */
    size_t name_max = !gs_trace_series_has(t, GS_TCOL_H_GRAD_NORM) ? 0
                      : sc == GS_HM_FRACTION                       ? 5
                                                                   : 12;
    GsHeatmapSpec spec = {t, col, sc, bin, (size_t)fmax(1.0, ceil(px_width))};
    return gs_heatmap_create_short(&spec, name_max, name_max ? "weight tensor" : NULL, out, err);
}

static void heat_title(char *buf, size_t n, const GsReportOptions *o, const char *label,
                       const char *verdict)
{
    if (o->preset == GS_PRESET_PAPER) {
        /* the colour bar names the metric; the run and its verdict are what this line is for */
        snprintf(buf, n, "%s%s%s", label ? label : gs_plot_metric_label((int)o->metric),
                 verdict ? ": " : "", verdict ? verdict : "");
        return;
    }
    const char *m = gs_plot_metric_label((int)o->metric);
    int tensors = o->trace && gs_trace_series_has(o->trace, GS_TCOL_H_GRAD_NORM);
    const char *what = o->relative ? "relative to the output layer, per layer and step"
                       : tensors   ? "per weight tensor and training step"
                                   : "per layer and training step";
    if (label)
        snprintf(buf, n, "%s: %s %s%s%s", label, m, what, verdict ? " \xe2\x80\x94 " : "",
                 verdict ? verdict : "");
    else
        snprintf(buf, n, "%s (%s) %s", m, gs_trace_col_name(o->metric), what);
}

static void draw_page(cairo_t *cr, const GsReportOptions *o, const GsLayout *L, Model *m)
{
    double f = L->font;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_TITLE]);
    if (o->preset == GS_PRESET_PAPER)
        gs_panel_title_compact(cr, L->r[GS_PANEL_TITLE], f, o->trace, o->title, o->source_name,
                               o->after);
    else
        gs_panel_title_block(cr, L->r[GS_PANEL_TITLE], f, o->trace, o->title, o->subtitle,
                             o->source_name, o->after);
    char title[512];
    const GsFindings *outline = o->findings && o->findings->n ? o->findings : NULL;
    char vb[300], va[300];
    const char *verdict_b = o->before_verdict, *verdict_a = o->after_verdict;
    if (o->after && !verdict_b && o->findings) {
        gs_plot_verdict(o->findings, o->trace, vb, sizeof vb);
        verdict_b = vb;
    }
    if (o->after && !verdict_a && o->after_findings) {
        gs_plot_verdict(o->after_findings, o->after, va, sizeof va);
        verdict_a = va;
    }
    GsRect heat[2] = {L->r[GS_PANEL_HEATMAP], L->r[GS_PANEL_HEATMAP_AFTER]};
    const char *tt_bar = o->series_absolute
                             ? "log10 \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96"
                             : "log10 \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 / "
                               "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_T\xe2\x80\x96";
    if (m->tt_only) {
        /* the compact page: each run's through-time heatmap in its heatmap box, one bar */
        for (int k = 0; k < (o->after ? 2 : 1); k++) {
            snprintf(title, sizeof title,
                     "%s%s\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 through time",
                     o->after ? (k ? "after" : "before") : "", o->after ? ": " : "");
            GsRect r = L->r[k ? GS_PANEL_HEATMAP_AFTER : GS_PANEL_HEATMAP];
            gs_draw_log_bounds(cr, &r);
            gs_heatmap_draw(cr, m->tt[k], r, f, title, NULL);
        }
        const GsHeatmap *tts[2] = {m->tt[0], m->tt[1]};
        size_t n_tt = m->tt[1] ? 2 : 1;
        gs_draw_log_bounds(cr, &L->r[GS_PANEL_CBAR]);
        /* the compact bar is short: the title names the norm */
        gs_colorbar_draw(cr, tts, n_tt, L->r[GS_PANEL_CBAR], f,
                         o->series_absolute ? tt_bar : "log10 ratio to t = T");
        gs_draw_log_bounds(cr, &L->r[GS_PANEL_LEGEND]);
        gs_legend_draw(cr, tts, n_tt, L->r[GS_PANEL_LEGEND], f, 0);
    }
    if (m->split)
        for (int k = 0; k < (o->after ? 2 : 1); k++) {
            GsRect tt, bar;
            tt_split(L->r[k ? GS_PANEL_HEATMAP_AFTER : GS_PANEL_HEATMAP], f, &tt, &bar, &heat[k]);
            const char *who = k ? (o->after_label ? o->after_label : "after")
                                : (o->before_label ? o->before_label : "before");
            if (o->preset == GS_PRESET_PAPER)
                who = k ? "after" : "before";
            if (!m->tt[k])
                continue; /* the comparison run is not recurrent: its tensors only */
            const GsTrace *run = k ? o->after : o->trace;
            const char *sn = gs_trace_series_name(run, m->tk[k]);
            snprintf(
                title, sizeof title,
                "%s%s\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 through time%s%s%s%s",
                o->after ? who : "", o->after ? ": " : "",
                o->series_absolute ? "" : ", relative to t = T", sn ? " (" : "", sn ? sn : "",
                sn ? ")" : "");
            gs_draw_log_bounds(cr, &tt);
            gs_heatmap_draw(cr, m->tt[k], tt, f, title, NULL);
            const GsHeatmap *one[1] = {m->tt[k]};
            gs_draw_log_bounds(cr, &bar);
            gs_colorbar_draw(cr, one, 1, bar, f, tt_bar);
        }
    if (m->tt_only) {
        /* drawn above */
    } else if (o->after) {
        heat_title(title, sizeof title, o,
                   o->before_label && o->preset != GS_PRESET_PAPER ? o->before_label : "before",
                   verdict_b);
        gs_draw_log_bounds(cr, &heat[0]);
        gs_heatmap_draw(cr, m->main, heat[0], f, title, outline);
        heat_title(title, sizeof title, o,
                   o->after_label && o->preset != GS_PRESET_PAPER ? o->after_label : "after",
                   verdict_a);
        gs_draw_log_bounds(cr, &heat[1]);
        gs_heatmap_draw(cr, m->after, heat[1], f, title, NULL);
    } else {
        heat_title(title, sizeof title, o, NULL, NULL);
        gs_draw_log_bounds(cr, &heat[0]);
        gs_heatmap_draw(cr, m->main, heat[0], f, title, outline);
    }
    char cbl[160];
    if (o->relative)
        snprintf(cbl, sizeof cbl, "ratio to output layer (log scale)");
    else
        snprintf(cbl, sizeof cbl, "%s (log scale)", gs_plot_metric_label((int)o->metric));
    const GsHeatmap *shared[2] = {m->main, m->after};
    size_t n_shared = m->after ? 2 : 1;
    if (!m->tt_only) {
        gs_draw_log_bounds(cr, &L->r[GS_PANEL_CBAR]);
        gs_colorbar_draw(cr, shared, n_shared, L->r[GS_PANEL_CBAR], f, cbl);
        gs_draw_log_bounds(cr, &L->r[GS_PANEL_LEGEND]);
        gs_legend_draw(cr, shared, n_shared, L->r[GS_PANEL_LEGEND], f, outline != NULL);
    }
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_LOSS]);
    if (L->on[GS_PANEL_LOSS])
        gs_panel_loss(cr, L->r[GS_PANEL_LOSS], f, o->trace,
                      o->before_label ? o->before_label : "before",
                      o->after && gs_trace_has(o->after, GS_COL_LOSS) ? o->after : NULL,
                      o->after_label ? o->after_label : "after", m->work);
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_PROFILE]);
    if (L->on[GS_PANEL_PROFILE] && m->through_time)
        gs_panel_through_time(cr, L->r[GS_PANEL_PROFILE], f, o->trace, m->tk[0], m->deep,
                              m->tt[1] ? o->after : NULL, m->tk[1],
                              o->before_label ? o->before_label : "before",
                              o->after_label ? o->after_label : "after");
    else if (L->on[GS_PANEL_PROFILE])
        gs_panel_profile(cr, L->r[GS_PANEL_PROFILE], f, o->trace, o->metric, o->prediction,
                         o->after, o->before_label ? o->before_label : "before",
                         o->after_label ? o->after_label : "after");
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_UPDATE]);
    if (L->on[GS_PANEL_UPDATE])
        gs_panel_update(cr, L->r[GS_PANEL_UPDATE], f, o->trace, o->after,
                        o->before_label ? o->before_label : "before",
                        o->after_label ? o->after_label : "after", m->work);
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_HEALTH]);
    if (L->on[GS_PANEL_HEALTH]) {
        const GsHeatmap *sat[2] = {m->sat[0], m->sat[1]}, *dead[2] = {m->dead[0], m->dead[1]};
        /* short row names: the title and the heatmaps already say what changed */
        const char *labels[2] = {"before", "after"};
        gs_panel_health(cr, L->r[GS_PANEL_HEALTH], f, sat, dead, m->sat[1] || m->dead[1] ? 2 : 1,
                        labels);
    }
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_CLIP]);
    if (L->on[GS_PANEL_CLIP]) {
        /* the run whose clipping acted: the report's own, else the comparison's */
        int own = gs_trace_clipping_acted(o->trace);
        gs_panel_clip(cr, L->r[GS_PANEL_CLIP], f, own ? o->trace : o->after,
                      own ? (o->after ? (o->before_label ? o->before_label : "before") : NULL)
                          : (o->after_label ? o->after_label : "after"),
                      m->work);
    }
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_DIST]);
    if (L->on[GS_PANEL_DIST])
        gs_dist_draw(cr, &m->dist, L->r[GS_PANEL_DIST], f, m->dist_lo, m->dist_hi,
                     "Layer 1: |\xe2\x88\x82L/\xe2\x88\x82W| distribution",
                     "|\xe2\x88\x82L/\xe2\x88\x82W| (log scale)", 1);
    gs_draw_log_bounds(cr, &L->r[GS_PANEL_FINDINGS]);
    if (L->on[GS_PANEL_FINDINGS])
        gs_panel_findings(cr, L->r[GS_PANEL_FINDINGS], f, o->findings,
                          o->after ? o->after_findings : NULL,
                          o->before_label ? o->before_label : "before",
                          o->after_label ? o->after_label : "after");
}

typedef struct {
    const GsReportOptions *o;
    const GsLayout *L;
    Model *m;
} Page;

static void draw_cb(cairo_t *cr, void *ctx)
{
    Page *p = ctx;
    draw_page(cr, p->o, p->L, p->m);
}

/* Builds the heatmap models for the laid-out page. */
static GsStatus build(const GsReportOptions *o, const GsLayout *L, Model *m, GsError *err)
{
    double f = L->font, s = o->preset == GS_PRESET_PAPER ? PAPER_DPI / 72.0 : o->scale;
    GsRect heat = L->r[GS_PANEL_HEATMAP];
    GsStatus st = GS_OK;
    m->through_time = pick_series(o->trace, o->series, &m->tk[0]);
    if (m->through_time) {
        GsRect tt, bar;
        size_t kb;
        /* the paper page has room for one heatmap per run: through time, when every run shown
         * has it */
        m->tt_only =
            o->preset == GS_PRESET_PAPER && (!o->after || pick_series(o->after, NULL, &kb));
        m->split = o->preset != GS_PRESET_PAPER;
        tt = L->r[GS_PANEL_HEATMAP];
        if (m->split)
            tt_split(L->r[GS_PANEL_HEATMAP], f, &tt, &bar, &heat);
        double tt_w = (tt.w - gs_axes_left_margin(f) - f * 0.6) * s;
        size_t n_state = 0;
        for (size_t j = 0; j < gs_trace_n_series(o->trace); j++)
            n_state += gs_trace_series_len(o->trace, 0, j) > 0 ||
                       gs_trace_series_len(o->trace, gs_trace_n_steps(o->trace) - 1, j) > 0;
        m->deep = n_state > 1;
        const GsTrace *runs[2] = {o->trace, o->after};
        for (int k = 0; k < 2 && st == GS_OK && (m->split || m->tt_only); k++) {
            /* the comparison shows the same series when it has one of that name */
            const char *want = k ? gs_trace_series_name(o->trace, m->tk[0]) : o->series;
            if (!runs[k] || !(pick_series(runs[k], want, &m->tk[k]) ||
                              (k && pick_series(runs[k], NULL, &m->tk[k]))))
                continue;
            st = gs_heatmap_create_series(runs[k], m->tk[k], o->series_absolute, o->bin,
                                          (size_t)fmax(1.0, ceil(tt_w)), &m->tt[k], err);
            if (st == GS_OK)
                gs_heatmap_set_zoom_min(m->tt[k], 10.0); /* an early NaN is the story */
            /* the memory horizon as the diagnosis counts it: 1e-3 of the gradient at T */
            if (st == GS_OK && !o->series_absolute &&
                gs_heatmap_mark_below(m->tt[k], 1e-3, "memory horizon (10\xe2\x81\xbb\xc2\xb3)") !=
                    GS_OK)
                st = gs_error(err, GS_ERR_NOMEM, "out of memory for the report");
        }
        if (st == GS_OK && m->tt[0]) {
            /* before and after on one colour scale, as the per-tensor heatmaps */
            GsHeatmap *both[2] = {m->tt[0], m->tt[1]};
            const int healthy[2] = {gs_heatmap_gradients_healthy(o->findings),
                                    gs_heatmap_gradients_healthy(o->after_findings)};
            st = gs_heatmap_share_range(both, m->tt[1] ? 2 : 1, healthy, err);
        }
    }
    double cells_w = (heat.w - gs_axes_left_margin(f) - f * 0.6) * s;
    GsHeatmapScale sc = o->relative ? GS_HM_RATIO : GS_HM_LOG;
    if (st == GS_OK)
        st = heatmap_for(o->trace, o->metric, sc, o->bin, cells_w, &m->main, err);
    if (st == GS_OK && o->after)
        st = heatmap_for(o->after, o->metric, sc, o->bin, cells_w, &m->after, err);
    if (st == GS_OK && m->split) { /* the narrow tensors' panel keeps its zoom too */
        gs_heatmap_set_zoom_min(m->main, 10.0);
        if (m->after)
            gs_heatmap_set_zoom_min(m->after, 10.0);
    }
    if (st == GS_OK) {
        /* the comparison is only honest on one shared colour scale, and a robust one */
        GsHeatmap *both[2] = {m->main, m->after};
        const int healthy[2] = {gs_heatmap_gradients_healthy(o->findings),
                                gs_heatmap_gradients_healthy(o->after_findings)};
        st = gs_heatmap_share_range(both, m->after ? 2 : 1, healthy, err);
    }
    if (st == GS_OK && L->on[GS_PANEL_HEALTH]) {
        const GsTrace *runs[2] = {o->trace, o->after};
        for (int k = 0; k < 2 && st == GS_OK; k++) {
            const GsTrace *t = runs[k];
            if (!t)
                continue;
            int both = gs_trace_has(t, GS_COL_SATURATION) && gs_trace_has(t, GS_COL_DEAD_FRAC);
            double w = (L->r[GS_PANEL_HEALTH].w / (both ? 2 : 1) - gs_axes_left_margin(f)) * s;
            if (gs_trace_has(t, GS_COL_SATURATION))
                st = heatmap_for(t, GS_COL_SATURATION, GS_HM_FRACTION, GS_BIN_MAX, w, &m->sat[k],
                                 err);
            if (st == GS_OK && gs_trace_has(t, GS_COL_DEAD_FRAC))
                st = heatmap_for(t, GS_COL_DEAD_FRAC, GS_HM_FRACTION, GS_BIN_MAX, w, &m->dead[k],
                                 err);
        }
    }
    if (st == GS_OK && L->on[GS_PANEL_DIST]) {
        GsDistPanelBoxes b;
        gs_dist_panel_boxes(L->r[GS_PANEL_DIST], f, 1, &b);
        st = gs_dist_map_build(o->trace, 0, GS_HIST_GRAD, (size_t)fmax(1.0, floor(b.cells.w * s)),
                               &m->dist, err);
        const GsDistMap *one = &m->dist;
        if (st == GS_OK)
            gs_dist_log_range(&one, 1, &m->dist_lo, &m->dist_hi);
    }
    if (st == GS_OK) {
        size_t ns = gs_trace_n_steps(o->trace), nl = gs_trace_n_layers(o->trace);
        if (o->after) {
            ns = ns > gs_trace_n_steps(o->after) ? ns : gs_trace_n_steps(o->after);
            nl = nl > gs_trace_n_layers(o->after) ? nl : gs_trace_n_layers(o->after);
        }
        m->work = malloc(gs_panels_work_size(ns, nl) * sizeof *m->work);
        if (!m->work)
            st = gs_error(err, GS_ERR_NOMEM, "out of memory for the report");
    }
    return st;
}

void gs_report_layout(const GsReportOptions *o, GsLayout *out)
{
    const GsTrace *t = o->trace;
    double pw, ph, psc;
    page_size(o, &pw, &ph, &psc);
    GsLayoutSpec ls = {.width = pw, .height = ph};
    if (o->preset == GS_PRESET_PAPER) {
        ls.single_column = 1;
        ls.font = PAPER_FONT_PT;
    }
    ls.subtitle_lines = o->subtitle ? 1 : 0;
    ls.want[GS_PANEL_HEATMAP_AFTER] = o->after != NULL;
    ls.want[GS_PANEL_LOSS] =
        gs_trace_has(t, GS_COL_LOSS) || (o->after && gs_trace_has(o->after, GS_COL_LOSS));
    ls.want[GS_PANEL_PROFILE] = 1; /* the metric itself is always there */
    ls.want[GS_PANEL_UPDATE] = gs_trace_has(t, GS_COL_UPDATE_RATIO);
    ls.want[GS_PANEL_CLIP] = gs_trace_clipping_acted(t) || gs_trace_clipping_acted(o->after);
    ls.want[GS_PANEL_HEALTH] =
        gs_trace_has(t, GS_COL_SATURATION) || gs_trace_has(t, GS_COL_DEAD_FRAC);
    ls.want[GS_PANEL_FINDINGS] = o->findings != NULL;
    /* histograms: the gradient distribution of layer 1 (one run only; the comparison has no
     * room for a pair) */
    ls.want[GS_PANEL_DIST] = !o->after && (gs_trace_hist_kinds(t) & (1u << GS_HIST_GRAD)) != 0;
    GsLayout L;
    gs_layout_compute(&ls, &L);
    if (o->subtitle && !ls.single_column) {
        /* A long subtitle (a lesson's caption) gets up to three lines; estimate them from an
         * average DejaVu Sans advance of 0.55 em and lay the page out again. */
        double per_line = L.r[GS_PANEL_TITLE].w / (0.55 * 0.95 * L.font);
        int lines = (int)ceil((double)strlen(o->subtitle) / fmax(per_line, 1.0));
        if (lines > 1) {
            ls.subtitle_lines = lines > 3 ? 3 : lines;
            gs_layout_compute(&ls, &L);
        }
    }
    *out = L;
}

GsStatus gs_plot_report(const GsReportOptions *o, const char *path, GsError *err)
{
    if (!o || !o->trace)
        return gs_error(err, GS_ERR_INVALID, "no trace to plot");
    GsStatus st = gs_plot_check_path(path, err);
    if (st != GS_OK)
        return st;
    if (o->width < 200 || o->width > 20000 || o->height < 200 || o->height > 20000)
        return gs_error(err, GS_ERR_INVALID, "page size %dx%d out of range (200..20000)", o->width,
                        o->height);
    if (!(o->scale >= 0.25 && o->scale <= 8.0))
        return gs_error(err, GS_ERR_INVALID, "scale %g out of range (0.25..8)", o->scale);
    if (gs_trace_n_steps(o->trace) == 0)
        return gs_error(err, GS_ERR_INVALID, "%s: the trace has no recorded steps", path);
    if (o->after && gs_trace_n_steps(o->after) == 0)
        return gs_error(err, GS_ERR_INVALID, "%s: the 'after' trace has no recorded steps", path);

    size_t k_want;
    if (o->series && !pick_series(o->trace, o->series, &k_want))
        return gs_error(err, GS_ERR_INVALID,
                        "%s: the trace has no through-time series '%s' with h_grad_norm", path,
                        o->series);
    if ((int)o->metric < GS_COL_LOSS || o->metric >= GS_COL_COUNT ||
        !gs_trace_has(o->trace, o->metric))
        return gs_error(err, GS_ERR_INVALID, "%s: the trace has no column '%s' to plot", path,
                        gs_trace_col_name(o->metric) ? gs_trace_col_name(o->metric) : "?");
    GsLayout L;
    gs_report_layout(o, &L);

    Model m = {0};
    st = build(o, &L, &m, err);
    if (st != GS_OK) {
        model_fini(&m);
        return st;
    }

    Page page = {o, &L, &m};
    double pw, ph, psc;
    page_size(o, &pw, &ph, &psc);
    if (o->preset == GS_PRESET_PAPER && !gs_plot_path_is_png(path))
        psc = 1.0; /* PDF and SVG stay in points */
    st = gs_plot_render(path, (int)lround(pw), (int)lround(ph), psc, draw_cb, &page, err);
    model_fini(&m);
    return st;
}
