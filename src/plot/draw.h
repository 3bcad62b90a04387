/* Small drawing helpers shared by the plot panels: text with alignment and fitting, axes
 * frames with ticks. Every function borrows the cairo_t and leaves its state unchanged. */
#ifndef GS_PLOT_DRAW_H
#define GS_PLOT_DRAW_H

#include <cairo.h>
#include <stddef.h>

#include "plot/cmap.h"
#include "plot/layout.h"

/* Font families used on every page (DejaVu has the superscripts and math symbols we use). */
#define GS_FONT_SANS "DejaVu Sans"
#define GS_FONT_MONO "DejaVu Sans Mono"

/* Text style: size in user units, bold flag, monospace flag, colour. */
typedef struct {
    double size;
    int bold, mono;
    GsRgb color;
} GsTextStyle;

/* A style of the given size, regular weight, dark grey text. */
GsTextStyle gs_text_style(double size);
/* Advance width of UTF-8 text in style st. */
double gs_text_width(cairo_t *cr, const GsTextStyle *st, const char *text);
/* Smallest fraction of its size gs_text_draw shrinks text to before shortening it. */
#define GS_TEXT_MIN_SHRINK 0.6
/* Draws text with its anchor at (x, y): ax = 0 left, 0.5 centre, 1 right; ay = 0 top,
 * 0.5 middle, 1 bottom (of the font's ascent+descent box). Rotation angle in radians
 * (-pi/2: reads bottom to top). When max_w > 0 and the text is wider, it is shrunk to fit
 * (down to GS_TEXT_MIN_SHRINK of its size), only then shortened with an ellipsis. */
void gs_text_draw(cairo_t *cr, const GsTextStyle *st, double x, double y, double ax, double ay,
                  double angle, double max_w, const char *text);
/* Draws text word-wrapped into width w starting at (x, y) top, at most max_lines lines (the
 * last one ellipsized when text remains); returns the height used. With dry_run nothing is
 * drawn (measure only). */
double gs_text_wrap(cairo_t *cr, const GsTextStyle *st, double x, double y, double w, int max_lines,
                    int dry_run, const char *text);
/* A check log for tests: every string drawn (one per line), how many were shortened with an
 * ellipsis, and how many text boxes left the bounds set with gs_draw_log_bounds (the
 * report sets each panel's rectangle before drawing it). */
typedef struct {
    char text[65536];
    size_t len;
    unsigned elided, outside;
    char first_elided[160], first_outside[320];
    double min_size;    /* smallest text size drawn, user units (points on a paper page) */
    char smallest[160]; /* a string drawn at that size */
    GsRect bounds;
    int has_bounds;
} GsDrawLog;
/* Starts logging into log (cleared) until gs_draw_log_end. Not thread-safe: tests only. */
void gs_draw_log_begin(GsDrawLog *log);
void gs_draw_log_end(void);
/* Bounds for the following text (user units of cr now, r NULL: none); a no-op when no log is
 * open. */
void gs_draw_log_bounds(cairo_t *cr, const GsRect *r);
/* Sets the source colour. */
void gs_set_rgb(cairo_t *cr, GsRgb c);

/* One axis' tick marks: positions in data units and their labels. */
typedef struct {
    size_t n;
    double v[32];
    char label[32][32];
} GsAxisTicks;

/* Linear (integer when as_int) ticks for [lo, hi] with labels, at most max_n. */
void gs_axis_ticks_linear(GsAxisTicks *t, double lo, double hi, int max_n, int as_int);
/* Decade ticks for log10 range [lo, hi] with "10ⁿ" labels (values are exponents). */
void gs_axis_ticks_decades(GsAxisTicks *t, double lo, double hi, int max_n);

/* Draws a plot frame around plot rect p, ticks on the left (yt, mapped lo..hi bottom to top)
 * and bottom (xt, mapped xlo..xhi left to right), tick labels and light grid lines, plus
 * axis titles xlabel below and ylabel rotated on the left. Either ticks may be NULL. */
void gs_axes_draw(cairo_t *cr, GsRect p, double font, const GsAxisTicks *xt, double xlo, double xhi,
                  const GsAxisTicks *yt, double ylo, double yhi, const char *xlabel,
                  const char *ylabel);
/* Space the caller must leave around a plot rect for gs_axes_draw's labels (left, bottom). */
double gs_axes_left_margin(double font);
double gs_axes_bottom_margin(double font);
/* Draws a panel title in bold at the top of r; returns its height. */
double gs_panel_title(cairo_t *cr, GsRect r, double font, const char *title);
/* Text label for a trace column in plots ("‖∂L/∂W‖" for grad_norm, else the column name). */
const char *gs_plot_metric_label(int col);

#endif
