/* Heatmap of a (rows x recorded steps) matrix -- a trace column (rows = layers, layer 1 at the
 * bottom) or any other, such as a through-time series (rows = t) -- with columns binned to at
 * most a pixel width: a model built once, then drawn into any rectangle of a borrowed cairo_t.
 * Private to the plot module; tests and the sweep grid use it. */
#ifndef GS_PLOT_HEATMAP_H
#define GS_PLOT_HEATMAP_H

#include <cairo.h>
#include <stddef.h>

#include "gradscope/diagnose.h"
#include "gradscope/plot.h"
#include "gradscope/trace.h"
#include "plot/cmap.h"
#include "plot/layout.h"

/* How cell values become colours. */
typedef enum {
    GS_HM_LOG = 0, /* sequential map over log10(value) */
    GS_HM_RATIO,   /* value / output layer's value at the same step; diverging, log-symmetric */
    GS_HM_FRACTION /* linear 0..1 (saturation, dead units): light-to-dark orange arm */
} GsHeatmapScale;

/* What to build. */
typedef struct {
    const GsTrace *trace; /* borrowed only during create */
    GsCol metric;
    GsHeatmapScale scale;
    GsBinMode bin;
    size_t max_cols; /* at most this many columns (>= 1): usually the pixel width */
} GsHeatmapSpec;

typedef struct GsHeatmap GsHeatmap;

/* Fills out[0..n_steps) with row `row`'s value at every recorded step. */
typedef void (*GsHeatmapRowFn)(const void *ctx, size_t row, double *out);

/* Any matrix to draw: rows (row 0 at the bottom) x recorded training steps. Values as in a
 * trace: the missing marker is "no value", NaN/Inf are data. */
typedef struct {
    size_t n_rows, n_steps;       /* both >= 1 */
    const long *steps;            /* n_steps recorded training steps, increasing (copied) */
    const double *val;            /* n_rows x n_steps, row-major by row; NULL: use fill */
    GsHeatmapRowFn fill;          /* row filler when val is NULL, called once per row */
    const void *ctx;              /* its context */
    const char *const *row_names; /* n_rows names (copied, shortened; a NULL entry is its
                                     number) drawn beside the rows, or NULL: numbered ticks */
    size_t name_max;       /* longest row name shown (gs_layer_name_short); 0: GS_LAYER_LABEL_MAX */
    const char *top_label; /* tick of the top row instead of its number ("out"), or NULL */
    const char *axis, *axis_short; /* row axis title, and a shorter one for short panels (either
                                      may be NULL); static strings, kept by pointer */
    int exponent_ticks;            /* colour bar ticks as log10 exponents ("-3", "0") rather
                                      than powers ("10⁻³", "1"), for a bar titled "log10 ..." */
    GsHeatmapScale scale;          /* GS_HM_RATIO: the values are already ratios */
    GsBinMode bin;
    size_t max_cols; /* at most this many columns (>= 1): usually the pixel width */
} GsHeatmapMatrix;

/* Bins the matrix into at most max_cols columns and paints the cell image with the automatic
 * colour range. GS_ERR_INVALID for an empty matrix, GS_ERR_NOMEM. */
GsStatus gs_heatmap_create_matrix(const GsHeatmapMatrix *m, GsHeatmap **out, GsError *err);

/* Longest layer name shown on a heatmap axis (characters). */
#define GS_LAYER_LABEL_MAX 24
/* A layer name shortened for an axis into out (n bytes, at most n-1 characters kept): the
 * whole name when it fits, else its last dot-separated components that fit
 * ("encoder.layers.0.self_attn.in_proj" -> "0.self_attn.in_proj" at 24) -- cut only at a
 * dot, never inside a word or a number; a last component longer than that keeps its end. */
void gs_layer_name_short(const char *name, char *out, size_t n);
/* Short name of layer li (0-based) when the trace has layer names, else NULL. */
const char *gs_heatmap_layer_label(const GsHeatmap *hm, size_t li);

/* The heatmap of a trace column (a gs_heatmap_create_matrix caller): rows = layers, named
 * when the trace names them, the top row "out", axis "layer (1 = input side)"; GS_HM_RATIO
 * divides by the output layer's value at the same step. GS_ERR_INVALID for an empty trace,
 * GS_ERR_NOMEM. */
GsStatus gs_heatmap_create(const GsHeatmapSpec *spec, GsHeatmap **out, GsError *err);
/* The same with layer names shortened to at most name_max characters (gs_layer_name_short;
 * 0: GS_LAYER_LABEL_MAX), for a narrow panel, and the rows' axis titled row_axis (NULL:
 * "layer"). */
GsStatus gs_heatmap_create_short(const GsHeatmapSpec *spec, size_t name_max, const char *row_axis,
                                 GsHeatmap **out, GsError *err);
/* The through-time heatmap of series k of trace t (another gs_heatmap_create_matrix caller):
 * rows = time step t = 1..T (the longest T of any step; t = 1 at the bottom, t = T at the top),
 * columns = recorded steps, values ||dL/dh_t|| (h_grad_norm) relative to t = T of the same
 * step -- GS_HM_RATIO, so 1 at t = T, below 1 where the gradient vanished on its way back --
 * or, absolute, h_grad_norm itself (GS_HM_LOG). Colour-bar ticks are log10 exponents. A step
 * without values, or t beyond its T, is "no value". GS_ERR_INVALID when series k holds no
 * h_grad_norm, GS_ERR_NOMEM. */
GsStatus gs_heatmap_create_series(const GsTrace *t, size_t k, int absolute, GsBinMode bin,
                                  size_t max_cols, GsHeatmap **out, GsError *err);
/* Frees; NULL is a no-op. */
void gs_heatmap_destroy(GsHeatmap *hm);

/* Bits of the range flag: some cells lie below / above the colour range. */
#define GS_RANGE_BELOW 1
#define GS_RANGE_ABOVE 2
/* Pooled percentiles that bound a shared log range, and its smallest span in decades. */
#define GS_RANGE_LOW_Q 0.01
#define GS_RANGE_HIGH_Q 0.99
#define GS_RANGE_MIN_DECADES 4.0

/* Automatic colour range of one heatmap in log10 units (GS_HM_LOG: finite positive min/max,
 * the low end clamped to 16 decades below the max, both snapped outward to whole decades;
 * GS_HM_RATIO: symmetric [-M, M] with M the largest |log10 ratio|, at least 1, at most 16;
 * FRACTION: [0, 1]). *clamped is 1 when values below lo exist. */
void gs_heatmap_auto_range(const GsHeatmap *hm, double *lo, double *hi, int *clamped);
/* One colour scale for heatmaps drawn side by side (all of one GsHeatmapScale), set on each.
 * GS_HM_LOG: a robust range -- the 1st..99th percentile of the finite positive log values
 * of all of them, snapped outward to whole decades, at least GS_RANGE_MIN_DECADES wide (kept
 * from the top down) and
 * at most 16 -- whose top is lowered so that the 90th percentile of every heatmap marked in
 * healthy (may be NULL: none) lies in the upper half of the bar: a healthy run beside one
 * that explodes is never drawn in the bottom colours. Cells outside take the end colours
 * and are counted (gs_heatmap_out_of_range). Other scales: the union of the automatic
 * ranges. GS_ERR_NOMEM. */
GsStatus gs_heatmap_share_range(GsHeatmap *const *hms, size_t n, const int *healthy, GsError *err);
/* 1 when a run's findings (not NULL) flag no vanishing, exploding or NaN/Inf gradient as a
 * warning or error: its gradients are a fair anchor for gs_heatmap_share_range. */
int gs_heatmap_gradients_healthy(const GsFindings *fs);
/* Sets the colour range (RATIO: [-hi, hi]), counts the cells outside it and repaints the
 * cell image. Cannot fail. */
void gs_heatmap_set_range(GsHeatmap *hm, double lo, double hi);
/* Cells with a place on the scale, and how many of them lie below / above the range. */
void gs_heatmap_out_of_range(const GsHeatmap *hm, size_t *n_valued, size_t *n_below,
                             size_t *n_above);
/* Current colour range; *clamped (may be NULL) gets the GS_RANGE_* bits. */
void gs_heatmap_range(const GsHeatmap *hm, double *lo, double *hi, int *clamped);
/* Colour of a cell value under the current range and scale. */
GsRgb gs_heatmap_color(const GsHeatmap *hm, double v);

size_t gs_heatmap_n_cols(const GsHeatmap *hm);
size_t gs_heatmap_n_layers(const GsHeatmap *hm);
/* Binned (and, for RATIO, divided) value of column c, layer index li (0 = layer 1). */
double gs_heatmap_value(const GsHeatmap *hm, size_t c, size_t li);
/* 1 when some cell has a value the colour range is fitted to (finite; > 0 unless FRACTION). */
int gs_heatmap_has_finite(const GsHeatmap *hm);
/* 1 when some cell is NaN / +Inf / -Inf / <= 0 (for the legend). */
int gs_heatmap_has_special(const GsHeatmap *hm, GsSpecial which);
/* First and last recorded training step. */
long gs_heatmap_step_first(const GsHeatmap *hm);
long gs_heatmap_step_last(const GsHeatmap *hm);
/* x of training step s within cells rectangle r (cell centres at recorded steps). */
double gs_heatmap_step_x(const GsHeatmap *hm, GsRect r, double s);

/* Recorded steps shown unbinned in a zoom strip left of the full view: the steps up to a few
 * past the first NaN/Inf, when that comes within the first 5% of the run (at most 64); 0
 * when there is no zoom. */
size_t gs_heatmap_zoom_steps(const GsHeatmap *hm);
/* Marks in every column the row boundary below which values fall under threshold: scanning
 * down from the top row (the missing rows above a shorter T skipped), the top edge of the
 * first row whose value is below threshold (rows from the bottom: 0 = its bottom edge);
 * none when no row is, or a NaN comes first. gs_heatmap_draw draws it dashed over the cells
 * with label (static text, may be NULL) at its right end. For the through-time heatmap at
 * 1e-3: the memory horizon. GS_ERR_NOMEM (nothing marked). */
GsStatus gs_heatmap_mark_below(GsHeatmap *hm, double threshold, const char *label);
/* The marked boundary of column c (NaN: none, or nothing marked). */
double gs_heatmap_edge(const GsHeatmap *hm, size_t c);
/* Draws the zoom strip only when the cells are wider than this many fonts (default 20; a
 * narrow panel beside another lowers it). Cannot fail. */
void gs_heatmap_set_zoom_min(GsHeatmap *hm, double fonts);
/* Index of the first recorded step with NaN/Inf in some layer; the step count when none. */
size_t gs_heatmap_first_nonfinite(const GsHeatmap *hm);

/* Paints just the cells, scaled into r with a nearest filter (layer 1 bottom row). */
void gs_heatmap_draw_cells(cairo_t *cr, const GsHeatmap *hm, GsRect r);
/* Draws a full panel into r: title, cells, axes ("training step", "layer"; rows labelled by
 * the layers' short names when the trace has names, else by number with the output layer
 * labelled "out"), the zoom strip on the first steps when there is one, and, when findings
 * is not NULL, dashed outlines of the warning/error findings' layer x step regions (one only
 * a few columns wide keeps just its top and bottom edges, so it never covers the columns it
 * marks). */
void gs_heatmap_draw(cairo_t *cr, const GsHeatmap *hm, GsRect r, double font, const char *title,
                     const GsFindings *findings);
/* Vertical colour bar for the range and scale the heatmaps hms[0..n) share, with decade
 * ticks ("10ⁿ"), a triangle at an end beyond which some cell lies (in the colour those cells
 * take) and a rotated label, drawn into r. */
void gs_colorbar_draw(cairo_t *cr, const GsHeatmap *const *hms, size_t n, GsRect r, double font,
                      const char *label);
/* Legend for the heatmaps sharing one scale: swatches for the special colours (NaN, +Inf and
 * 0 always for LOG, -Inf when present), "N% above range" / "N% below range" triangles when
 * cells lie outside it, the finding outline when with_findings. Every entry is drawn: rows
 * tighten and text shrinks to fit r. */
void gs_legend_draw(cairo_t *cr, const GsHeatmap *const *hms, size_t n, GsRect r, double font,
                    int with_findings);

#endif
