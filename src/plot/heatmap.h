/* Heatmap of one trace column (rows = layers, layer 1 at the bottom; columns = recorded
 * steps, binned to at most a pixel width): a model built once, then drawn into any rectangle
 * of a borrowed cairo_t. Private to the plot module; tests and the sweep grid use it. */
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

/* Bins the trace column into at most max_cols columns and paints the cell image with the
 * automatic colour range. GS_ERR_INVALID for an empty trace, GS_ERR_NOMEM. */
GsStatus gs_heatmap_create(const GsHeatmapSpec *spec, GsHeatmap **out, GsError *err);
/* Frees; NULL is a no-op. */
void gs_heatmap_destroy(GsHeatmap *hm);

/* Automatic colour range in log10 units (GS_HM_LOG: finite positive min/max, the low end
 * clamped to 16 decades below the max, both snapped outward to whole decades; GS_HM_RATIO:
 * symmetric [-M, M] with M the largest |log10 ratio|, at least 1, at most 16; FRACTION:
 * [0, 1]). *clamped is 1 when values below lo exist (shown as "≤ lo"). */
void gs_heatmap_auto_range(const GsHeatmap *hm, double *lo, double *hi, int *clamped);
/* Merges the automatic ranges of two heatmaps (for a shared scale); b may be NULL. */
void gs_heatmap_union_range(const GsHeatmap *a, const GsHeatmap *b, double *lo, double *hi,
                            int *clamped);
/* Sets the colour range and repaints the cell image. Cannot fail. */
void gs_heatmap_set_range(GsHeatmap *hm, double lo, double hi, int clamped);
/* Current colour range. */
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

/* Paints just the cells, scaled into r with a nearest filter (layer 1 bottom row). */
void gs_heatmap_draw_cells(cairo_t *cr, const GsHeatmap *hm, GsRect r);
/* Draws a full panel into r: title, cells, axes ("training step", "layer", output layer
 * labelled "out") and, when findings is not NULL, dashed outlines of the warning/error
 * findings' layer x step regions. */
void gs_heatmap_draw(cairo_t *cr, const GsHeatmap *hm, GsRect r, double font, const char *title,
                     const GsFindings *findings);
/* Vertical colour bar for hm's range and scale with decade ticks ("10ⁿ", "≤" at a clamped
 * low end) and a rotated label, drawn into r. */
void gs_colorbar_draw(cairo_t *cr, const GsHeatmap *hm, GsRect r, double font, const char *label);
/* Legend swatches for the special colours present (NaN, +Inf, -Inf, zero are always listed
 * for LOG, finding outline when with_findings). */
void gs_legend_draw(cairo_t *cr, const GsHeatmap *hm, GsRect r, double font, int with_findings);

#endif
