/* Text and axes helpers over cairo's toy text API (fontconfig resolves "DejaVu Sans"). */
#include "plot/draw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradscope/trace.h"
#include "plot/ticks.h"

/* The check log, when a test has one open (rendering is single-threaded). */
static GsDrawLog *g_log;

void gs_draw_log_begin(GsDrawLog *log)
{
    memset(log, 0, sizeof *log);
    g_log = log;
}

void gs_draw_log_end(void)
{
    g_log = NULL;
}

void gs_draw_log_bounds(cairo_t *cr, const GsRect *r)
{
    if (!g_log)
        return;
    g_log->has_bounds = r != NULL;
    if (!r)
        return;
    /* kept in device space, where every string's box is compared */
    double x0 = r->x, y0 = r->y, x1 = r->x + r->w, y1 = r->y + r->h;
    cairo_user_to_device(cr, &x0, &y0);
    cairo_user_to_device(cr, &x1, &y1);
    g_log->bounds = (GsRect){x0, y0, x1 - x0, y1 - y0};
}

/* Records a drawn string and checks its box (corners in user space) against the bounds. */
static void log_text(cairo_t *cr, const char *text, double bx, double by, double w, double h,
                     int elided, double size)
{
    if (!g_log)
        return;
    if (g_log->min_size == 0 || size < g_log->min_size) {
        g_log->min_size = size;
        snprintf(g_log->smallest, sizeof g_log->smallest, "%.150s", text);
    }
    size_t k = strlen(text);
    if (g_log->len + k + 2 < sizeof g_log->text) {
        memcpy(g_log->text + g_log->len, text, k);
        g_log->len += k;
        g_log->text[g_log->len++] = '\n';
        g_log->text[g_log->len] = '\0';
    }
    if (elided) {
        g_log->elided++;
        if (!g_log->first_elided[0])
            snprintf(g_log->first_elided, sizeof g_log->first_elided, "%s", text);
    }
    if (!g_log->has_bounds)
        return;
    double xs[4] = {bx, bx + w, bx, bx + w}, ys[4] = {by, by, by + h, by + h};
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (int i = 0; i < 4; i++) {
        double ux = xs[i], uy = ys[i];
        cairo_user_to_device(cr, &ux, &uy);
        x0 = fmin(x0, ux);
        x1 = fmax(x1, ux);
        y0 = fmin(y0, uy);
        y1 = fmax(y1, uy);
    }
    double ox = g_log->bounds.x, oy = g_log->bounds.y;
    double ex = g_log->bounds.x + g_log->bounds.w, ey = g_log->bounds.y + g_log->bounds.h;
    const double tol = 1.5; /* antialiasing and rounding, in device pixels */
    if (x0 < ox - tol || y0 < oy - tol || x1 > ex + tol || y1 > ey + tol) {
        g_log->outside++;
        if (!g_log->first_outside[0])
            snprintf(g_log->first_outside, sizeof g_log->first_outside,
                     "'%s' at %.0f..%.0f x %.0f..%.0f outside %.0f..%.0f x %.0f..%.0f", text, x0,
                     x1, y0, y1, ox, ex, oy, ey);
    }
}

GsTextStyle gs_text_style(double size)
{
    GsTextStyle st = {size, 0, 0, {0.13, 0.13, 0.15}};
    return st;
}

void gs_set_rgb(cairo_t *cr, GsRgb c)
{
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

static void apply(cairo_t *cr, const GsTextStyle *st)
{
    cairo_select_font_face(cr, st->mono ? GS_FONT_MONO : GS_FONT_SANS, CAIRO_FONT_SLANT_NORMAL,
                           st->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, st->size);
}

double gs_text_width(cairo_t *cr, const GsTextStyle *st, const char *text)
{
    cairo_save(cr);
    apply(cr, st);
    cairo_text_extents_t te;
    cairo_text_extents(cr, text, &te);
    cairo_restore(cr);
    return te.x_advance;
}

/* Length of the longest prefix of text (cut at a UTF-8 boundary) that, followed by "…",
 * fits in max_w. */
static size_t fit_prefix(cairo_t *cr, const char *text, double max_w)
{
    size_t len = strlen(text), best = 0;
    char buf[1024];
    for (size_t i = 1; i <= len && i < sizeof buf - 4; i++) {
        if (i < len && ((unsigned char)text[i] & 0xC0) == 0x80)
            continue;
        memcpy(buf, text, i);
        memcpy(buf + i, "\xe2\x80\xa6", 4);
        cairo_text_extents_t te;
        cairo_text_extents(cr, buf, &te);
        if (te.x_advance > max_w)
            break;
        best = i;
    }
    return best;
}

void gs_text_draw(cairo_t *cr, const GsTextStyle *st, double x, double y, double ax, double ay,
                  double angle, double max_w, const char *text)
{
    if (!text || !*text)
        return;
    cairo_save(cr);
    GsTextStyle s2 = *st;
    apply(cr, &s2);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    cairo_text_extents_t te;
    cairo_text_extents(cr, buf, &te);
    int elided = 0;
    if (max_w > 0 && te.x_advance > max_w) {
        /* shrink to fit first (to GS_TEXT_MIN_SHRINK of the size): a value is never cut */
        double min_size = st->size * GS_TEXT_MIN_SHRINK;
        s2.size = fmax(st->size * max_w / te.x_advance, min_size);
        apply(cr, &s2);
        cairo_text_extents(cr, buf, &te);
        /* hinted advances do not scale exactly: step down until it fits */
        while (te.x_advance > max_w && s2.size > min_size) {
            s2.size = fmax(s2.size * 0.97, min_size);
            apply(cr, &s2);
            cairo_text_extents(cr, buf, &te);
        }
        if (te.x_advance > max_w) {
            size_t k = fit_prefix(cr, text, max_w);
            if (k >= sizeof buf - 4)
                k = sizeof buf - 5;
            memcpy(buf + k, "\xe2\x80\xa6", 4);
            cairo_text_extents(cr, buf, &te);
            elided = 1;
        }
    }
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    double bx = -ax * te.x_advance;
    double by = fe.ascent - ay * (fe.ascent + fe.descent);
    log_text(cr, buf, bx, by - fe.ascent, te.x_advance, fe.ascent + fe.descent, elided, s2.size);
    gs_set_rgb(cr, s2.color);
    cairo_move_to(cr, bx, by);
    cairo_show_text(cr, buf);
    cairo_restore(cr);
}

double gs_text_wrap(cairo_t *cr, const GsTextStyle *st, double x, double y, double w, int max_lines,
                    int dry_run, const char *text)
{
    if (!text || !*text || max_lines <= 0)
        return 0.0;
    cairo_save(cr);
    apply(cr, st);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double lh = st->size * 1.25;
    int line = 0;
    const char *p = text;
    char buf[1024];
    while (*p && line < max_lines) {
        while (*p == ' ')
            p++;
        /* take as many words as fit */
        size_t take = 0, last_fit = 0;
        for (;;) {
            size_t end = take;
            while (p[end] == ' ')
                end++;
            while (p[end] && p[end] != ' ')
                end++;
            if (end == take || end >= sizeof buf)
                break;
            memcpy(buf, p, end);
            buf[end] = '\0';
            cairo_text_extents_t te;
            cairo_text_extents(cr, buf, &te);
            if (te.x_advance > w && last_fit > 0)
                break;
            last_fit = end;
            take = end;
            if (te.x_advance > w)
                break; /* a single word wider than the line: ellipsized below */
        }
        if (last_fit == 0)
            break;
        const char *rest = p + last_fit;
        while (*rest == ' ')
            rest++;
        int final = line == max_lines - 1 && *rest;
        if (!dry_run) {
            char out[1024];
            memcpy(out, p, last_fit);
            out[last_fit] = '\0';
            GsTextStyle s2 = *st;
            if (final) {
                /* more text than lines: show the cut with an ellipsis */
                size_t k = strlen(out);
                if (k + 4 < sizeof out)
                    memcpy(out + k, " \xe2\x80\xa6", 5);
                if (g_log) {
                    g_log->elided++;
                    if (!g_log->first_elided[0])
                        snprintf(g_log->first_elided, sizeof g_log->first_elided, "%s", out);
                }
            }
            gs_text_draw(cr, &s2, x, y + line * lh, 0, 0, 0, w, out);
        }
        p = rest;
        line++;
    }
    cairo_restore(cr);
    return line * lh;
}

void gs_axis_ticks_linear(GsAxisTicks *t, double lo, double hi, int max_n, int as_int)
{
    double step = 1;
    t->n = as_int ? gs_ticks_int(lo, hi, max_n, t->v, 32, &step)
                  : gs_ticks_linear(lo, hi, max_n, t->v, 32, &step);
    for (size_t i = 0; i < t->n; i++)
        gs_ticks_format(t->v[i], step, t->label[i], sizeof t->label[i]);
}

void gs_axis_ticks_decades(GsAxisTicks *t, double lo, double hi, int max_n)
{
    int e[32];
    t->n = gs_ticks_decades(lo, hi, max_n, e, 32);
    for (size_t i = 0; i < t->n; i++) {
        t->v[i] = e[i];
        gs_ticks_format_pow10(e[i], t->label[i], sizeof t->label[i]);
    }
}

double gs_axes_left_margin(double font)
{
    return font * 5.2;
}

double gs_axes_bottom_margin(double font)
{
    return font * 2.9;
}

void gs_axes_draw(cairo_t *cr, GsRect p, double font, const GsAxisTicks *xt, double xlo, double xhi,
                  const GsAxisTicks *yt, double ylo, double yhi, const char *xlabel,
                  const char *ylabel)
{
    cairo_save(cr);
    GsTextStyle st = gs_text_style(font * 0.82);
    double tick = font * 0.35;
    cairo_set_line_width(cr, fmax(1.0, font * 0.06));
    if (yt && yhi > ylo) {
        for (size_t i = 0; i < yt->n; i++) {
            double y = p.y + p.h - (yt->v[i] - ylo) / (yhi - ylo) * p.h;
            if (y < p.y - 0.5 || y > p.y + p.h + 0.5)
                continue;
            cairo_set_source_rgba(cr, 0, 0, 0, 0.08);
            cairo_move_to(cr, p.x, y);
            cairo_line_to(cr, p.x + p.w, y);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
            cairo_move_to(cr, p.x - tick, y);
            cairo_line_to(cr, p.x, y);
            cairo_stroke(cr);
            gs_text_draw(cr, &st, p.x - tick * 1.6, y, 1, 0.5, 0, font * 3.2, yt->label[i]);
        }
    }
    if (xt && xhi > xlo) {
        double last_right = -1e300;
        for (size_t i = 0; i < xt->n; i++) {
            double x = p.x + (xt->v[i] - xlo) / (xhi - xlo) * p.w;
            if (x < p.x - 0.5 || x > p.x + p.w + 0.5)
                continue;
            cairo_set_source_rgba(cr, 0, 0, 0, 0.08);
            cairo_move_to(cr, x, p.y);
            cairo_line_to(cr, x, p.y + p.h);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
            cairo_move_to(cr, x, p.y + p.h);
            cairo_line_to(cr, x, p.y + p.h + tick);
            cairo_stroke(cr);
            double w = gs_text_width(cr, &st, xt->label[i]);
            if (x - w / 2 > last_right + font * 0.4) { /* skip labels that would collide */
                gs_text_draw(cr, &st, x, p.y + p.h + tick * 1.4, 0.5, 0, 0, 0, xt->label[i]);
                last_right = x + w / 2;
            }
        }
    }
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_rectangle(cr, p.x, p.y, p.w, p.h);
    cairo_stroke(cr);
    GsTextStyle lab = gs_text_style(font * 0.9);
    if (xlabel)
        gs_text_draw(cr, &lab, p.x + p.w / 2, p.y + p.h + font * 1.55, 0.5, 0, 0, p.w, xlabel);
    if (ylabel) {
        /* a short axis drops the parenthesis ("loss (log scale)" -> "loss"; the 10ⁿ ticks
         * still say it is logarithmic) before it would shrink the text */
        char yl[160];
        snprintf(yl, sizeof yl, "%s", ylabel);
        char *paren = strstr(yl, " (");
        if (paren && gs_text_width(cr, &lab, yl) > p.h)
            *paren = '\0';
        gs_text_draw(cr, &lab, p.x - font * 4.3, p.y + p.h / 2, 0.5, 0.5, -1.5707963267948966, p.h,
                     yl);
    }
    cairo_restore(cr);
}

double gs_panel_title(cairo_t *cr, GsRect r, double font, const char *title)
{
    GsTextStyle st = gs_text_style(font * 1.0);
    st.bold = 1;
    double w = gs_text_width(cr, &st, title);
    if (w * 0.8 <= r.w) { /* fits, or fits a little smaller */
        gs_text_draw(cr, &st, r.x, r.y, 0, 0, 0, r.w, title);
        return font * 1.45;
    }
    /* too long for one line: two lines, never cut */
    st.size = font * 0.9;
    return gs_text_wrap(cr, &st, r.x, r.y, r.w, 3, 0, title) + font * 0.3;
}

const char *gs_plot_metric_label(int col)
{
    switch (col) {
    case GS_COL_GRAD_NORM: return "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82W\xe2\x80\x96";
    case GS_COL_BIAS_GRAD_NORM:
        return "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82"
               "b\xe2\x80\x96";
    case GS_COL_ACT_GRAD_NORM: return "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82z\xe2\x80\x96";
    case GS_COL_GRAD_RMS: return "RMS \xe2\x88\x82L/\xe2\x88\x82W";
    case GS_COL_GRAD_MAX_ABS: return "max |\xe2\x88\x82L/\xe2\x88\x82W|";
    case GS_COL_WEIGHT_NORM: return "\xe2\x80\x96W\xe2\x80\x96";
    case GS_COL_UPDATE_RATIO: return "\xe2\x80\x96\xce\x94W\xe2\x80\x96/\xe2\x80\x96W\xe2\x80\x96";
    default: break;
    }
    const char *n = gs_trace_col_name((GsCol)col);
    return n ? n : "?";
}
