/* Distribution figures (issue 13): the per-layer distribution heatmap (training step x
 * log10|x| bins, colour = fraction of the tensor's entries, strips for exact zeros, NaN and
 * +-Inf above) and the layer profile of distributions at one step (Karpathy's makemore
 * figure). The model half is pure (fractions, ranges, statistics, page layout); the draw
 * half borrows a cairo_t like every plot panel. Private to the plot module; tests use it. */
#ifndef GS_PLOT_DIST_H
#define GS_PLOT_DIST_H

#include <cairo.h>
#include <stddef.h>

#include "gradscope/hist.h"
#include "gradscope/plot.h"
#include "gradscope/status.h"
#include "gradscope/trace.h"
#include "plot/cmap.h"
#include "plot/layout.h"

/* Strips above the heatmap, top to bottom: +-Inf, NaN, exact zeros. */
typedef enum {
    GS_DIST_STRIP_INF = 0,
    GS_DIST_STRIP_NAN,
    GS_DIST_STRIP_ZERO,
    GS_DIST_NSTRIPS
} GsDistStrip;
/* Strip label ("±Inf", "NaN", "0"). */
const char *gs_dist_strip_label(GsDistStrip s);

/* Smallest fraction with its own colour: the colour scale is log10(fraction) over
 * [GS_DIST_FRAC_LOG_LO, 0]; smaller nonzero fractions take the bottom colour. */
#define GS_DIST_FRAC_LOG_LO (-4.0)

/* One layer's distribution heatmap, binned into at most max_cols columns of recorded steps
 * (column c covers recorded steps [c*S/n, (c+1)*S/n)); a column's value is the mean of its
 * recorded steps' fractions. */
typedef struct {
    size_t n_cols, n_steps;
    long *steps;         /* n_steps recorded training steps */
    double *frac;        /* n_cols x GS_HIST_NLOG: fraction of entries in log bin j */
    double *strip;       /* n_cols x GS_DIST_NSTRIPS fractions */
    unsigned char *none; /* n_cols: 1 when no step of the column holds a recorded histogram */
    size_t layer;        /* layer index (0-based) */
    GsHistKind kind;
} GsDistMap;

/* Builds the map of layer li, kind k of trace t. GS_ERR_INVALID (message naming the kind or
 * the layer) when the trace does not store kind k or li is out of range, GS_ERR_NOMEM; *m is
 * zeroed on failure. */
GsStatus gs_dist_map_build(const GsTrace *t, size_t li, GsHistKind k, size_t max_cols, GsDistMap *m,
                           GsError *err);
/* The same over recorded steps [i0, i1) only (i0 < i1 <= n_steps), for the zoom strip. */
GsStatus gs_dist_map_build_range(const GsTrace *t, size_t li, GsHistKind k, size_t i0, size_t i1,
                                 size_t max_cols, GsDistMap *m, GsError *err);
/* Recorded steps shown unbinned in a zoom strip left of each panel: up to 4 past the first
 * step where some of the n layers holds a NaN/Inf entry of kind k, when that step lies in the
 * first 5% of the recorded steps (at most 64); 0 for no zoom. Cannot fail. */
size_t gs_dist_zoom_steps(const GsTrace *t, const size_t *layers, size_t n, GsHistKind k);
/* Frees the arrays; a zeroed map is a no-op. */
void gs_dist_map_fini(GsDistMap *m);

/* Log10 range [*lo, *hi] (whole decades) shown on the magnitude axis of n maps: the bins
 * that hold data in any of them, widened by one decade on each side, at least 4 decades
 * wide, clamped to [-30, 10]; [-8, 0] when none holds data. Cannot fail. */
void gs_dist_log_range(const GsDistMap *const *maps, size_t n, double *lo, double *hi);
/* The same for raw histograms (n of them, NULL entries and unfilled ones skipped). */
void gs_dist_log_range_bins(const float *const *bins, size_t n, double *lo, double *hi);

/* Colour of a fraction: exactly 0 -> the background (white), NaN -> not recorded (grey),
 * else the sequential map over log10(frac) in [GS_DIST_FRAC_LOG_LO, 0]. */
GsRgb gs_dist_color(double frac);
/* The colours of "empty bin" and "not recorded". */
GsRgb gs_dist_color_empty(void);
GsRgb gs_dist_color_none(void);

/* Statistics of one histogram for the profile legend. The activation's from its signed
 * linear bins over [-range, range]: *sat = share of the two outer bins (|h| > 31/32 range,
 * i.e. > 0.97 for tanh-like ranges), *std = the bins' std about their mean (bin centres).
 * NaN outputs when the linear bins hold nothing. *zero = exact-zero share of all entries. */
void gs_dist_act_stats(const float *bins, double range, double *sat, double *std, double *zero);
/* Root mean square of |x| estimated from the log bins (geometric bin centres, zeros count
 * as 0, NaN/Inf left out); NaN when nothing finite was counted. */
double gs_dist_log_rms(const float *bins);

/* Where the pieces of a distribution heatmap panel go (for drawing and tests). */
typedef struct {
    GsRect cells;                  /* the log-bin cells */
    GsRect strip[GS_DIST_NSTRIPS]; /* the strips above */
    GsRect frame;                  /* everything the panel draws, labels included */
} GsDistPanelBoxes;
/* Computes the boxes of a panel drawn into r at base font size font, with room below the step
 * axis for the colour key when key is 1 (see gs_dist_draw). Cannot fail. */
void gs_dist_panel_boxes(GsRect r, double font, int key, GsDistPanelBoxes *b);

/* Page of the heatmap figure: title on top, n panels as small multiples (at most 3 per row),
 * colour bar and legend on the right. Every box lies inside the page; none overlap. */
#define GS_DIST_MAX_PANELS GS_DIST_MAX_LAYERS
typedef struct {
    GsRect title, cbar;
    GsRect panel[GS_DIST_MAX_PANELS];
    size_t n;
    double font, margin;
} GsDistPage;
/* Lays out n (1..GS_DIST_MAX_PANELS) panels on a w x h page. Cannot fail (asserts). */
void gs_dist_page_layout(double w, double h, size_t n, GsDistPage *pg);

/* Draws map m into r: title, cells over log10 range [lo, hi] (decade ticks "10ⁿ"),
 * training-step axis, the three labelled strips above. With key, a small horizontal key of the
 * colour scale ("share of entries 10⁻⁴ ▬ 1") on a line below the step axis title, for a panel
 * without the figure's colour bar (the report's). */
void gs_dist_draw(cairo_t *cr, const GsDistMap *m, GsRect r, double font, double lo, double hi,
                  const char *title, const char *ylabel, int key);
/* The same with a zoom strip on the first steps (zoom: a map of them, unbinned; NULL: none) left
 * of the full view, as the trace heatmap does for an early NaN/Inf, when the cells are wide
 * enough (20 fonts). */
void gs_dist_draw_zoom(cairo_t *cr, const GsDistMap *m, const GsDistMap *zoom, GsRect r,
                       double font, double lo, double hi, const char *title, const char *ylabel,
                       int key);
/* Vertical colour bar of the fraction scale (log, 10⁻⁴ .. 1) with swatches for "empty" and
 * "not recorded" below it, into r. */
void gs_dist_colorbar_draw(cairo_t *cr, GsRect r, double font);

/* The profile figure: activation (signed linear) and gradient (log-magnitude) histograms of
 * up to GS_DIST_MAX_LAYERS layers at the first and the last recorded step, one curve per
 * layer, legends with saturation share (or zero share for non-tanh ranges) and std. */
void gs_dist_profile_draw(cairo_t *cr, const GsTrace *t, const size_t *layers, size_t n_layers,
                          GsRect r, double font);

#endif
