/* The one place that owns cairo surfaces for output files: creates a PNG/SVG/PDF surface for a
 * path, lets a caller draw the page, checks cairo's status and writes the file atomically. */
#ifndef GS_PLOT_SURFACE_H
#define GS_PLOT_SURFACE_H

#include <cairo.h>

#include "gradscope/status.h"

/* Draws a whole page of the given size into cr (user units = page units). */
typedef void (*GsPageDraw)(cairo_t *cr, void *ctx);

/* Checks that path ends in .png/.svg/.pdf (case-insensitive); GS_ERR_INVALID naming the
 * extension otherwise. */
GsStatus gs_plot_check_path(const char *path, GsError *err);
/* 1 when path ends in .png (case-insensitive). */
int gs_plot_path_is_png(const char *path);
/* Renders draw(ctx) on a width x height page to path (PNG at device scale `scale`, SVG or PDF
 * by extension) through a temporary file renamed on success. GS_ERR_INVALID (extension),
 * GS_ERR_IO naming the path, GS_ERR_NOMEM; no file is left behind on failure. */
GsStatus gs_plot_render(const char *path, int width, int height, double scale, GsPageDraw draw,
                        void *ctx, GsError *err);

#endif
