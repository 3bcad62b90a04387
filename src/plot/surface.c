/* Output surfaces: PNG via an image surface (device-scaled for high DPI), SVG and PDF via
 * stream surfaces writing into an atomic temporary file. */
#include "plot/surface.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trace/atomic_file.h"

typedef enum { FMT_PNG, FMT_SVG, FMT_PDF } Format;

static int format_of(const char *path, Format *f)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return 0;
    if (strcasecmp(dot, ".png") == 0)
        *f = FMT_PNG;
    else if (strcasecmp(dot, ".svg") == 0)
        *f = FMT_SVG;
    else if (strcasecmp(dot, ".pdf") == 0)
        *f = FMT_PDF;
    else
        return 0;
    return 1;
}

int gs_plot_path_is_png(const char *path)
{
    Format f;
    return path && format_of(path, &f) && f == FMT_PNG;
}

GsStatus gs_plot_check_path(const char *path, GsError *err)
{
    Format fmt;
    if (path && format_of(path, &fmt))
        return GS_OK;
    const char *dot = path ? strrchr(path, '.') : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (dot && slash && dot < slash)
        dot = NULL;
    return gs_error(err, GS_ERR_INVALID, "%s: unknown output format '%s' (use .png, .svg or .pdf)",
                    path ? path : "(null)", dot ? dot : "(no extension)");
}

static cairo_status_t write_fp(void *closure, const unsigned char *data, unsigned int len)
{
    FILE *fp = closure;
    return fwrite(data, 1, len, fp) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

GsStatus gs_plot_render(const char *path, int width, int height, double scale, GsPageDraw draw,
                        void *ctx, GsError *err)
{
    Format fmt;
    GsStatus st = gs_plot_check_path(path, err);
    if (st != GS_OK)
        return st;
    format_of(path, &fmt);
    GsAtomicFile af;
    st = gs_atomic_open(&af, path, err);
    if (st != GS_OK)
        return st;
    cairo_surface_t *surf = NULL;
    switch (fmt) {
    case FMT_PNG:
        surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)lround(width * scale),
                                          (int)lround(height * scale));
        cairo_surface_set_device_scale(surf, scale, scale);
        break;
    case FMT_SVG: surf = cairo_svg_surface_create_for_stream(write_fp, af.fp, width, height); break;
    case FMT_PDF: surf = cairo_pdf_surface_create_for_stream(write_fp, af.fp, width, height); break;
    }
    cairo_status_t cs = cairo_surface_status(surf);
    if (cs == CAIRO_STATUS_SUCCESS) {
        cairo_t *cr = cairo_create(surf);
        draw(cr, ctx);
        cs = cairo_status(cr);
        cairo_destroy(cr);
    }
    if (cs == CAIRO_STATUS_SUCCESS) {
        if (fmt == FMT_PNG)
            cs = cairo_surface_write_to_png_stream(surf, write_fp, af.fp);
        else
            cairo_surface_finish(surf); /* flushes the SVG/PDF document to the stream */
        if (cs == CAIRO_STATUS_SUCCESS)
            cs = cairo_surface_status(surf);
    }
    cairo_surface_destroy(surf);
    if (cs != CAIRO_STATUS_SUCCESS) {
        gs_atomic_abort(&af);
        if (cs == CAIRO_STATUS_NO_MEMORY)
            return gs_error(err, GS_ERR_NOMEM, "%s: out of memory while rendering", path);
        return gs_error(err, GS_ERR_IO, "%s: cannot render: %s", path, cairo_status_to_string(cs));
    }
    return gs_atomic_commit(&af, err);
}
