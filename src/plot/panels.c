/* Line-plot and text panels of the report. Log axes carry "10ⁿ" tick labels; every axis says
 * what it shows; text is fitted (ellipsis) or wrapped so nothing spills out of its panel. */
#include "plot/panels.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/spec.h"
#include "plot/bin.h"
#include "plot/draw.h"
#include "plot/ticks.h"

#define HALF_PI 1.5707963267948966

/* Okabe-Ito colours: distinguishable under common colour-vision deficiencies. */
static const GsRgb oi_blue = {0.0, 0.447, 0.698};
static const GsRgb oi_orange = {0.902, 0.624, 0.0};
static const GsRgb oi_green = {0.0, 0.620, 0.451};

size_t gs_panels_work_size(size_t n_steps, size_t n_layers)
{
    return 4 * n_steps + 4 * n_layers + 64;
}

/* ---- y scales ---------------------------------------------------------------------- */

typedef struct {
    int log;       /* 1: positions are log10 of values */
    double lo, hi; /* axis range in axis units */
} Scale;

/* Fits a scale to finite data extremes (vmin <= vmax; for log both > 0). */
static void scale_fit(Scale *s, double vmin, double vmax, int log)
{
    s->log = log;
    if (!(vmin <= vmax) || !isfinite(vmin) || !isfinite(vmax)) {
        s->lo = log ? -1.0 : 0.0;
        s->hi = log ? 1.0 : 1.0;
        return;
    }
    double a = log ? log10(vmin) : vmin, b = log ? log10(vmax) : vmax;
    double span = b - a;
    if (log && span < 2.0) {
        /* at least two decades, so the axis carries decade ticks */
        double mid = 0.5 * (a + b);
        a = mid - 1.0;
        b = mid + 1.0;
    } else if (span <= 0.0) {
        span = a == 0.0 ? 1.0 : fabs(a) * 0.2;
        a -= span / 2;
        b += span / 2;
    } else {
        a -= span * 0.06;
        b += span * 0.06;
    }
    s->lo = a;
    s->hi = b;
}

static double scale_pos(const Scale *s, double v)
{
    return s->log ? log10(v) : v;
}

/* y pixel of value v in plot rect p; NAN when v has no place on the scale. */
static double ymap(const Scale *s, GsRect p, double v)
{
    if (!isfinite(v) || (s->log && v <= 0.0))
        return NAN;
    double u = scale_pos(s, v);
    return p.y + p.h - (u - s->lo) / (s->hi - s->lo) * p.h;
}

static void scale_ticks(const Scale *s, GsAxisTicks *t, int max_n)
{
    if (max_n < 2)
        max_n = 2;
    if (!s->log) {
        gs_axis_ticks_linear(t, s->lo, s->hi, max_n, 0);
        return;
    }
    gs_axis_ticks_decades(t, s->lo, s->hi, max_n);
    if (t->n >= 2)
        return;
    /* less than two decades visible: add 2x and 5x ticks */
    GsAxisTicks u = {0};
    for (double e = floor(s->lo); e <= ceil(s->hi) && u.n < 32; e += 1.0) {
        static const double ks[3] = {1.0, 2.0, 5.0};
        for (int k = 0; k < 3 && u.n < 32; k++) {
            double lv = log10(ks[k]) + e;
            if (lv < s->lo || lv > s->hi)
                continue;
            u.v[u.n] = lv;
            if (k == 0 && (e < -3.0 || e > 4.0))
                gs_ticks_format_pow10((int)e, u.label[u.n], sizeof u.label[u.n]);
            else
                gs_ticks_format(ks[k] * pow(10.0, e), pow(10.0, e), u.label[u.n],
                                sizeof u.label[u.n]);
            u.n++;
        }
    }
    if (u.n >= 2 && u.n <= (size_t)max_n + 1) {
        *t = u;
        return;
    }
    /* a narrow range (e.g. a loss between 2.0 and 2.3): linear ticks placed on the log axis */
    double lin[32], step = 1;
    size_t n =
        gs_ticks_linear(pow(10.0, s->lo), pow(10.0, s->hi), max_n > 6 ? 6 : max_n, lin, 32, &step);
    t->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(lin[i] > 0))
            continue;
        t->v[t->n] = log10(lin[i]);
        gs_ticks_format(lin[i], step, t->label[t->n], sizeof t->label[t->n]);
        t->n++;
    }
}

/* Strokes a polyline through (x[i], y[i]); a NaN y breaks it. Lone points get a dot. */
static void polyline(cairo_t *cr, const double *x, const double *y, size_t n, double lw)
{
    int pen = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i])) {
            pen = 0;
            continue;
        }
        int lone = (i == 0 || isnan(y[i - 1])) && (i + 1 >= n || isnan(y[i + 1]));
        if (lone) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, x[i], y[i], lw * 1.2, 0, 4 * HALF_PI);
            pen = 0;
            continue;
        }
        if (!pen)
            cairo_move_to(cr, x[i], y[i]);
        else
            cairo_line_to(cr, x[i], y[i]);
        pen = 1;
    }
    cairo_stroke(cr);
}

/* Plot rect inside a panel rect, below a title and optional legend rows. */
static GsRect plot_rect(GsRect r, double font, double top)
{
    GsRect p = {r.x + gs_axes_left_margin(font), r.y + top,
                r.w - gs_axes_left_margin(font) - font * 0.8,
                r.h - top - gs_axes_bottom_margin(font)};
    return p;
}

static void message(cairo_t *cr, GsRect r, double font, const char *text)
{
    GsTextStyle st = gs_text_style(font * 0.85);
    st.color = (GsRgb){0.45, 0.45, 0.45};
    gs_text_draw(cr, &st, r.x + r.w / 2, r.y + r.h / 2, 0.5, 0.5, 0, r.w, text);
}

/* Line styles of series and their legend samples. */
typedef enum { LINE_SOLID = 0, LINE_DOTTED, LINE_DASHED } LineStyle;

/* Legend entry: a short line sample in the given style followed by a label; returns the x
 * after it. */
static double legend_item(cairo_t *cr, double x, double y, double font, GsRgb c, LineStyle style,
                          const char *label, double max_x)
{
    double len = font * 1.8, lw = fmax(1.0, font * 0.14);
    GsTextStyle st = gs_text_style(font * 0.8);
    double w = gs_text_width(cr, &st, label);
    if (x + len + font * 0.3 + w > max_x)
        return x;
    cairo_save(cr);
    gs_set_rgb(cr, c);
    cairo_set_line_width(cr, lw);
    if (style == LINE_DOTTED) {
        double d[2] = {0.0, lw * 2.2};
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
        cairo_set_dash(cr, d, 2, 0);
    } else if (style == LINE_DASHED) {
        double d[2] = {lw * 4, lw * 2.5};
        cairo_set_dash(cr, d, 2, 0);
    }
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x + len, y);
    cairo_stroke(cr);
    cairo_restore(cr);
    gs_text_draw(cr, &st, x + len + font * 0.3, y, 0, 0.5, 0, 0, label);
    return x + len + font * 0.3 + w + font * 1.0;
}

/* A legend laid out in rows over a given width: entries flow left to right and wrap; an entry
 * wider than a row has its text shrunk to fit, so no entry is ever dropped or cut. */
#define LEGEND_MAX 16
typedef struct {
    struct {
        GsRgb c;
        LineStyle style;
        int brk; /* 1: start a new row before this entry */
        char label[200];
    } e[LEGEND_MAX];
    size_t n;
} Legend;

static void legend_add(Legend *lg, GsRgb c, LineStyle style, const char *label)
{
    if (lg->n >= LEGEND_MAX)
        return;
    lg->e[lg->n].c = c;
    lg->e[lg->n].style = style;
    lg->e[lg->n].brk = 0;
    snprintf(lg->e[lg->n].label, sizeof lg->e[lg->n].label, "%s", label);
    lg->n++;
}

/* The next entry starts a new row. */
static void legend_break(Legend *lg)
{
    if (lg->n < LEGEND_MAX)
        lg->e[lg->n].brk = 1;
}

#define LEGEND_ROW 1.25 /* row height in fonts */

/* Lays the legend out in width w; with draw, draws it with its first row centred at y.
 * Returns the number of rows. */
static int legend_flow(cairo_t *cr, const Legend *lg, double x0, double y, double w, double font,
                       int draw)
{
    double len = font * 1.8, gap = font * 0.3, sep = font * 1.0;
    double x = x0, maxx = x0 + w;
    int rows = lg->n ? 1 : 0;
    for (size_t i = 0; i < lg->n; i++) {
        GsTextStyle st = gs_text_style(font * 0.8);
        const char *label = lg->e[i].label;
        double tw = gs_text_width(cr, &st, label);
        double room = w - len - gap;
        /* too wide for a row: two lines split at the space nearest the middle */
        char l1[200] = "", l2[200] = "";
        int two = 0;
        if (tw > room) {
            size_t k = strlen(label), best = 0;
            for (size_t j = 1; j < k; j++)
                if (label[j] == ' ' &&
                    (best == 0 || labs((long)j - (long)k / 2) < labs((long)best - (long)k / 2)))
                    best = j;
            if (best) {
                snprintf(l1, sizeof l1, "%.*s", (int)best, label);
                snprintf(l2, sizeof l2, "%s", label + best + 1);
                two = 1;
                tw = fmax(gs_text_width(cr, &st, l1), gs_text_width(cr, &st, l2));
            }
        }
        if (tw > room && tw > 0) {
            st.size *= room / tw;
            tw = room;
        }
        int brk = lg->e[i].brk || two;
        if (x > x0 && (brk || x + len + gap + tw > maxx)) {
            x = x0;
            y += font * LEGEND_ROW;
            rows++;
        }
        if (draw) {
            double lw = fmax(1.0, font * 0.14);
            cairo_save(cr);
            gs_set_rgb(cr, lg->e[i].c);
            cairo_set_line_width(cr, lw);
            if (lg->e[i].style == LINE_DOTTED) {
                double d[2] = {0.0, lw * 2.2};
                cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
                cairo_set_dash(cr, d, 2, 0);
            } else if (lg->e[i].style == LINE_DASHED) {
                double d[2] = {lw * 4, lw * 2.5};
                cairo_set_dash(cr, d, 2, 0);
            }
            cairo_move_to(cr, x, y);
            cairo_line_to(cr, x + len, y);
            cairo_stroke(cr);
            cairo_restore(cr);
            if (two) {
                gs_text_draw(cr, &st, x + len + gap, y, 0, 0.5, 0, 0, l1);
                gs_text_draw(cr, &st, x + len + gap, y + font * LEGEND_ROW, 0, 0.5, 0, 0, l2);
            } else {
                gs_text_draw(cr, &st, x + len + gap, y, 0, 0.5, 0, 0, label);
            }
        }
        if (two) {
            /* the second line is a row of its own; the next entry starts below it */
            y += font * LEGEND_ROW;
            rows++;
            x = maxx;
        } else {
            x += len + gap + tw + sep;
        }
    }
    return rows;
}

/* ---- title ------------------------------------------------------------------------- */

/* gradscope's own traces: the training setup in reading order, leaving out keys at their
 * neutral value. */
static const struct {
    const char *key, *label, *hide;
} setup_keys[] = {{"opt", "opt", NULL},
                  {"lr", "lr", NULL},
                  {"schedule", "schedule", "constant"},
                  {"warmup", "warm-up", "0"},
                  {"weight-decay", "weight decay", "0"},
                  {"clip-norm", "clip-norm", "0"},
                  {"clip-value", "clip-value", "0"},
                  {"bias-init", "bias", "zero"},
                  {"res-scale", "res-scale", "1"},
                  {"loss_used", "loss", NULL},
                  {"data", "data", NULL},
                  {"input-scale", "input scale", "1"},
                  {"standardize", "standardized", "false"},
                  {"batch", "batch", NULL},
                  {"steps", "steps", NULL},
                  {"seed", "seed", NULL}};

/* 1 when key has the same value (or is absent) in both traces. */
static int same_meta(const GsTrace *a, const GsTrace *b, const char *key)
{
    const char *x = gs_trace_meta_get(a, key), *y = gs_trace_meta_get(b, key);
    return (!x && !y) || (x && y && strcmp(x, y) == 0);
}

/* Appends "item · " to buf at *n when it fits. */
static void add_item(char *buf, size_t size, int *n, const char *item)
{
    if (*n < (int)size)
        *n += snprintf(buf + *n, size - (size_t)*n, "%s \xc2\xb7 ", item);
}

/* The setup headline of t ("depth 20 × width 64 · sigmoid · init standard"); with ref, only
 * what differs from ref, the training keys included ("relu · init he_normal · lr 0.005").
 * Empty when nothing is known. */
/* The recurrent headline: "lstm · 2 layers × 32 hidden · T 30 · forget bias 3"; with ref, only
 * what differs. Returns the length written at *n. */
static void rnn_summary(const GsTrace *t, const GsTrace *ref, char *buf, size_t size, int *n)
{
    const char *arch = gs_trace_meta_get(t, "arch"), *act = gs_trace_meta_get(t, "act");
    const char *depth = gs_trace_meta_get(t, "depth"), *width = gs_trace_meta_get(t, "width");
    char item[160];
    if (!ref || !same_meta(t, ref, "arch") || (!strcmp(arch, "rnn") && !same_meta(t, ref, "act"))) {
        snprintf(item, sizeof item, "%s%s%s%s", arch, !strcmp(arch, "rnn") && act ? " (" : "",
                 !strcmp(arch, "rnn") && act ? act : "", !strcmp(arch, "rnn") && act ? ")" : "");
        add_item(buf, size, n, item);
    }
    if (depth && width && (!ref || !same_meta(t, ref, "depth") || !same_meta(t, ref, "width"))) {
        snprintf(item, sizeof item, "%s layer%s \xc3\x97 %s hidden", depth,
                 strcmp(depth, "1") ? "s" : "", width);
        add_item(buf, size, n, item);
    }
    static const struct {
        const char *key, *label, *hide;
    } rk[] = {{"seq-len", "T", NULL},
              {"init", "init", "default"},
              {"init-hh", "W_hh init", "default"},
              {"forget-bias", "forget bias", "default"},
              {"bptt", "BPTT window", "0"}};
    for (size_t i = 0; i < sizeof rk / sizeof rk[0]; i++) {
        const char *v = gs_trace_meta_get(t, rk[i].key);
        if (!v || (ref ? same_meta(t, ref, rk[i].key) : rk[i].hide && !strcmp(v, rk[i].hide)))
            continue;
        snprintf(item, sizeof item, "%s %s", rk[i].label, v);
        add_item(buf, size, n, item);
    }
}

static void setup_summary(const GsTrace *t, const GsTrace *ref, char *buf, size_t size)
{
    const char *depth = gs_trace_meta_get(t, "depth"), *width = gs_trace_meta_get(t, "width");
    const char *act = gs_trace_meta_get(t, "act"), *init = gs_trace_meta_get(t, "init");
    const char *norm = gs_trace_meta_get(t, "norm"), *res = gs_trace_meta_get(t, "residual");
    const char *arch = gs_trace_meta_get(t, "arch");
    char item[160];
    int n = 0;
    buf[0] = '\0';
    if (arch && strcmp(arch, "mlp") != 0) {
        rnn_summary(t, ref, buf, size, &n);
        for (size_t i = 0; ref && i < sizeof setup_keys / sizeof setup_keys[0]; i++) {
            const char *v = gs_trace_meta_get(t, setup_keys[i].key);
            if (!v || same_meta(t, ref, setup_keys[i].key))
                continue;
            snprintf(item, sizeof item, "%s %s", setup_keys[i].label, v);
            add_item(buf, size, &n, item);
        }
        if (n >= 4 && n < (int)size)
            buf[n - 4] = '\0';
        return;
    }
    if (depth && (!ref || !same_meta(t, ref, "depth") || !same_meta(t, ref, "width"))) {
        snprintf(item, sizeof item, "depth %s%s%s", depth, width ? " \xc3\x97 width " : "",
                 width ? width : "");
        add_item(buf, size, &n, item);
    }
    if (act && (!ref || !same_meta(t, ref, "act")))
        add_item(buf, size, &n, act);
    if (init && (!ref || !same_meta(t, ref, "init"))) {
        snprintf(item, sizeof item, "init %s", init);
        add_item(buf, size, &n, item);
    }
    if (norm && (ref ? !same_meta(t, ref, "norm") : strcmp(norm, "none") != 0)) {
        snprintf(item, sizeof item, "%s norm", norm);
        add_item(buf, size, &n, item);
    }
    if (res && (ref ? !same_meta(t, ref, "residual") : strcmp(res, "0") != 0)) {
        snprintf(item, sizeof item, "residual %s", res);
        add_item(buf, size, &n, item);
    }
    for (size_t i = 0; ref && i < sizeof setup_keys / sizeof setup_keys[0]; i++) {
        const char *v = gs_trace_meta_get(t, setup_keys[i].key);
        if (!v || same_meta(t, ref, setup_keys[i].key))
            continue;
        snprintf(item, sizeof item, "%s %s", setup_keys[i].label, v);
        add_item(buf, size, &n, item);
    }
    if (n >= 4 && n < (int)size)
        buf[n - 4] = '\0'; /* drop the trailing " · " */
}

void gs_panel_title_compact(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *title,
                            const char *source_name, const GsTrace *after)
{
    char line[1024], head[480], diff[480] = "";
    setup_summary(t, NULL, head, sizeof head);
    if (after)
        setup_summary(after, t, diff, sizeof diff);
    if (title)
        snprintf(line, sizeof line, "%s", title);
    else if (head[0])
        snprintf(line, sizeof line, "%s%s%s", head, after ? " \xe2\x86\x92 " : "",
                 after ? (diff[0] ? diff : "the same setup") : "");
    else
        snprintf(line, sizeof line, "%s", source_name ? source_name : "gradient health");
    GsTextStyle st = gs_text_style(font * 1.05);
    st.bold = 1;
    gs_text_wrap(cr, &st, r.x, r.y, r.w, 2, 0, line);
}

void gs_panel_title_block(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *title,
                          const char *subtitle, const char *source_name, const GsTrace *after)
{
    cairo_save(cr);
    char line1[1024], line2[2048], head[480];
    const char *depth = gs_trace_meta_get(t, "depth"), *arch = gs_trace_meta_get(t, "arch");
    int arch_rec = arch && strcmp(arch, "mlp") != 0;
    setup_summary(t, NULL, head, sizeof head);
    if (title) {
        snprintf(line1, sizeof line1, "%s", title);
    } else if (head[0]) {
        char diff[480] = "";
        if (after)
            setup_summary(after, t, diff, sizeof diff);
        /* a comparison names both setups: the after one by what it changes */
        snprintf(line1, sizeof line1, "Gradient health: %s%s%s", head,
                 after ? "  \xe2\x86\x92  after: " : "",
                 after ? (diff[0] ? diff : "the same setup") : "");
    } else if (source_name) {
        snprintf(line1, sizeof line1, "Gradient health: %s", source_name);
    } else {
        snprintf(line1, sizeof line1, "Gradient health report");
    }
    size_t n2 = 0;
    line2[0] = '\0';
    /* gradscope's own traces: the training setup; other tools' traces: every metadata
     * pair they carry. */
    if (depth) {
        for (size_t i = 0; i < sizeof setup_keys / sizeof setup_keys[0] && n2 + 8 < sizeof line2;
             i++) {
            const char *v = gs_trace_meta_get(t, setup_keys[i].key);
            if (!v || (setup_keys[i].hide && strcmp(v, setup_keys[i].hide) == 0))
                continue;
            if (arch_rec && !gs_spec_key_applies(setup_keys[i].key, GS_ARCH_LSTM))
                continue; /* an mlp-only key on a recurrent net's trace */
            int w = snprintf(line2 + n2, sizeof line2 - n2, "%s%s %s", n2 ? " \xc2\xb7 " : "",
                             setup_keys[i].label, v);
            if (w < 0 || (size_t)w >= sizeof line2 - n2)
                break;
            n2 += (size_t)w;
        }
    }
    for (size_t i = 0; !depth && i < gs_trace_meta_count(t) && n2 + 8 < sizeof line2; i++) {
        const char *k = gs_trace_meta_key(t, i), *v = gs_trace_meta_value(t, i);
        int w = snprintf(line2 + n2, sizeof line2 - n2, "%s%s=%s", n2 ? "   " : "", k, v);
        if (w < 0 || (size_t)w >= sizeof line2 - n2)
            break;
        n2 += (size_t)w;
    }
    if (n2 == 0)
        snprintf(line2, sizeof line2, "%zu layers \xc3\x97 %zu recorded steps (%ld..%ld)%s%s",
                 gs_trace_n_layers(t), gs_trace_n_steps(t),
                 gs_trace_n_steps(t) ? gs_trace_step(t, 0) : 0L,
                 gs_trace_n_steps(t) ? gs_trace_step(t, gs_trace_n_steps(t) - 1) : 0L,
                 source_name ? " \xc2\xb7 " : "", source_name ? source_name : "");
    GsTextStyle st = gs_text_style(font * 1.35);
    st.bold = 1;
    gs_text_draw(cr, &st, r.x, r.y, 0, 0, 0, r.w, line1);
    GsTextStyle s2 = gs_text_style(font * 0.85);
    s2.color = (GsRgb){0.35, 0.35, 0.38};
    double y = r.y + font * 1.9;
    gs_text_draw(cr, &s2, r.x, y, 0, 0, 0, r.w, line2);
    if (subtitle) {
        /* wrapped into the lines the layout left below the setup line */
        GsTextStyle s3 = gs_text_style(font * 0.95);
        double ys = y + font * 1.45;
        int lines = (int)floor((r.y + r.h - ys) / (font * 1.2));
        gs_text_wrap(cr, &s3, r.x, ys, r.w, lines < 1 ? 1 : lines, 0, subtitle);
    }
    cairo_restore(cr);
}

/* ---- loss -------------------------------------------------------------------------- */

/* Loss of recorded step i (the same on every layer row; take the first finite one). */
static double loss_at(const GsTrace *t, size_t i)
{
    double v = gs_trace_get(t, i, 0, GS_COL_LOSS);
    return v;
}

static void loss_extent(const GsTrace *t, double *mn, double *mx, double *pos_mn, int *any_nonpos)
{
    for (size_t i = 0; i < gs_trace_n_steps(t); i++) {
        double v = loss_at(t, i);
        if (!isfinite(v))
            continue;
        *mn = fmin(*mn, v);
        *mx = fmax(*mx, v);
        if (v > 0)
            *pos_mn = fmin(*pos_mn, v);
        else
            *any_nonpos = 1;
    }
}

static double xmap(GsRect p, double xlo, double xhi, double s)
{
    return p.x + (s - xlo) / (xhi - xlo) * p.w;
}

/* Shades the stretches where t's loss is NaN/Inf, in the run's colour when several runs
 * share the panel (who names it in the label), else in red. */
static void loss_bands(cairo_t *cr, GsRect p, double font, const GsTrace *t, double xlo, double xhi,
                       const GsRgb *tint, const char *who)
{
    size_t n = gs_trace_n_steps(t);
    double last_label = -1e300;
    for (size_t i = 0; i < n;) {
        double v = loss_at(t, i);
        if (isfinite(v) || gs_trace_is_missing(v)) { /* no loss recorded is no NaN */
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < n && !isfinite(loss_at(t, j + 1)) && !gs_trace_is_missing(loss_at(t, j + 1)))
            j++;
        double s0 = (double)gs_trace_step(t, i), s1 = (double)gs_trace_step(t, j);
        double half =
            n > 1 ? 0.5 * (double)(gs_trace_step(t, n - 1) - gs_trace_step(t, 0)) / (double)(n - 1)
                  : 0.5;
        double x0 = fmax(p.x, xmap(p, xlo, xhi, s0 - half));
        double x1 = fmin(p.x + p.w, xmap(p, xlo, xhi, s1 + half));
        if (x1 - x0 < 2)
            x1 = x0 + 2;
        GsRgb c = tint ? *tint : (GsRgb){0.85, 0.1, 0.1};
        cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.16);
        cairo_rectangle(cr, x0, p.y, x1 - x0, p.h);
        cairo_fill(cr);
        GsTextStyle st = gs_text_style(font * 0.8);
        st.color = tint ? (GsRgb){c.r * 0.7, c.g * 0.7, c.b * 0.7} : (GsRgb){0.7, 0.0, 0.0};
        st.bold = 1;
        char text[96];
        snprintf(text, sizeof text, "NaN/Inf%s%s", who ? ": " : "", who ? who : "");
        double w = gs_text_width(cr, &st, text);
        double lx = fmin(x0 + font * 0.3, p.x + p.w - w - font * 0.3);
        if (lx > last_label) {
            gs_text_draw(cr, &st, lx, p.y + font * 0.3, 0, 0, 0, p.x + p.w - lx, text);
            last_label = lx + w + font * 0.5;
        }
        i = j + 1;
    }
}

/* Draws one series over training steps: work[0..n) holds the values of t's n recorded steps
 * (the caller fills it); they are reduced to at most maxc columns by `mode` (NaN/Inf
 * survive) and stroked in the current source colour and line width. Uses work[n..4n). */
static void series_line(cairo_t *cr, GsRect p, const GsTrace *t, const Scale *ys, double xlo,
                        double xhi, GsBinMode mode, size_t maxc, double lw, double *work)
{
    size_t n = gs_trace_n_steps(t);
    double *raw = work, *bin = work + n, *xs = work + 2 * n, *yv = work + 3 * n;
    size_t nc = gs_bin_row(raw, n, maxc, mode, bin);
    for (size_t c = 0; c < nc; c++) {
        size_t a = c, b = c + 1;
        if (nc < n)
            gs_bin_span(n, nc, c, &a, &b);
        xs[c] = xmap(p, xlo, xhi, (double)gs_trace_step(t, (a + b - 1) / 2));
        yv[c] = ymap(ys, p, bin[c]);
    }
    polyline(cr, xs, yv, nc, lw);
}

static void loss_line(cairo_t *cr, GsRect p, double font, const GsTrace *t, const Scale *ys,
                      double xlo, double xhi, GsRgb color, double *work)
{
    size_t n = gs_trace_n_steps(t);
    for (size_t i = 0; i < n; i++)
        work[i] = loss_at(t, i);
    double lw = fmax(1.0, font * 0.14);
    cairo_save(cr);
    cairo_rectangle(cr, p.x, p.y, p.w, p.h);
    cairo_clip(cr);
    gs_set_rgb(cr, color);
    cairo_set_line_width(cr, lw);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    series_line(cr, p, t, ys, xlo, xhi, GS_BIN_MAX, (size_t)fmax(2.0, p.w * 2.0), lw, work);
    cairo_restore(cr);
}

void gs_panel_losses(cairo_t *cr, GsRect r, double font, const GsTrace *const *t,
                     const char *const *labels, size_t n, double *work)
{
    /* Okabe-Ito order: the two-run comparison reads blue (before) and vermilion (after). */
    static const GsRgb palette[8] = {
        {0.0, 0.447, 0.698},   {0.835, 0.369, 0.0},   {0.0, 0.620, 0.451},   {0.902, 0.624, 0.0},
        {0.800, 0.475, 0.655}, {0.337, 0.706, 0.914}, {0.941, 0.894, 0.259}, {0.0, 0.0, 0.0}};
    assert(n >= 1);
    cairo_save(cr);
    double th = gs_panel_title(cr, r, font, "Training loss");
    /* one legend row per ~4 entries */
    size_t legend_rows = n > 1 ? (n + 3) / 4 : 0;
    double top = th + (double)legend_rows * font * 1.4;
    GsRect p = plot_rect(r, font, top);
    if (p.w < font * 3 || p.h < font * 2) {
        cairo_restore(cr);
        return;
    }
    double mn = INFINITY, mx = -INFINITY, pmn = INFINITY;
    int nonpos = 0, any = 0;
    double xlo = INFINITY, xhi = -INFINITY;
    for (size_t k = 0; k < n; k++) {
        if (!gs_trace_has(t[k], GS_COL_LOSS) || gs_trace_n_steps(t[k]) == 0)
            continue;
        any = 1;
        loss_extent(t[k], &mn, &mx, &pmn, &nonpos);
        xlo = fmin(xlo, (double)gs_trace_step(t[k], 0));
        xhi = fmax(xhi, (double)gs_trace_step(t[k], gs_trace_n_steps(t[k]) - 1));
    }
    if (!any)
        xlo = 0, xhi = 1;
    if (xhi <= xlo)
        xhi = xlo + 1;
    /* Comparing runs, one that diverges would flatten all the others: cap the axis at ten
     * times the largest starting loss and let a diverging curve leave through the top. */
    int capped = 0;
    if (n > 1 && isfinite(mx)) {
        double start = -INFINITY;
        for (size_t k = 0; k < n; k++)
            if (gs_trace_has(t[k], GS_COL_LOSS) && gs_trace_n_steps(t[k]) > 0 &&
                isfinite(loss_at(t[k], 0)))
                start = fmax(start, fabs(loss_at(t[k], 0)));
        if (isfinite(start) && start > 0 && mx > 10 * start) {
            mx = 10 * start;
            capped = 1;
        }
    }
    Scale ys;
    int log = !nonpos && isfinite(mn);
    scale_fit(&ys, mn, mx, log);
    GsAxisTicks xt, yt;
    gs_axis_ticks_linear(&xt, xlo, xhi, (int)fmax(3, p.w / (font * 5.0)), 1);
    scale_ticks(&ys, &yt, (int)(p.h / (font * 2.2)));
    for (size_t k = 0; k < n; k++)
        if (gs_trace_has(t[k], GS_COL_LOSS))
            loss_bands(cr, p, font, t[k], xlo, xhi, n > 1 ? &palette[k % 8] : NULL,
                       n > 1 && labels ? labels[k] : NULL);
    gs_axes_draw(cr, p, font, &xt, xlo, xhi, &yt, ys.lo, ys.hi, "training step",
                 capped ? (log ? "loss (log scale, capped)" : "loss (capped)")
                        : (log ? "loss (log scale)" : "loss"));
    if (!isfinite(mn))
        message(cr, p, font, "no finite loss values");
    double lx = r.x + gs_axes_left_margin(font), ly = r.y + th + font * 0.55;
    for (size_t k = 0; k < n; k++) {
        GsRgb c = palette[k % 8];
        if (gs_trace_has(t[k], GS_COL_LOSS))
            loss_line(cr, p, font, t[k], &ys, xlo, xhi, c, work);
        if (n > 1) {
            if (k > 0 && k % 4 == 0) {
                lx = r.x + gs_axes_left_margin(font);
                ly += font * 1.4;
            }
            lx = legend_item(cr, lx, ly, font, c, LINE_SOLID, labels && labels[k] ? labels[k] : "?",
                             r.x + r.w);
        }
    }
    cairo_restore(cr);
}

void gs_panel_loss(cairo_t *cr, GsRect r, double font, const GsTrace *a, const char *la,
                   const GsTrace *b, const char *lb, double *work)
{
    const GsTrace *t[2] = {a, b};
    const char *l[2] = {la ? la : "before", lb ? lb : "after"};
    gs_panel_losses(cr, r, font, t, l, b ? 2 : 1, work);
}

/* ---- depth profile ----------------------------------------------------------------- */

static void profile_extent(const GsTrace *t, GsCol col, const size_t *idx, double *mn, double *mx)
{
    for (int k = 0; k < 3; k++)
        for (size_t li = 0; li < gs_trace_n_layers(t); li++) {
            double v = gs_trace_get(t, idx[k], li, col);
            if (isfinite(v) && v > 0) {
                *mn = fmin(*mn, v);
                *mx = fmax(*mx, v);
            }
        }
}

/* Saves cr and sets it up for one profile line inside p: clipped to p, colour c, the line
 * width of style (dotted lines as round dots), which it returns; the caller draws, then
 * cairo_restore. */
static double line_begin(cairo_t *cr, GsRect p, GsRgb c, LineStyle style, double font)
{
    double lw = fmax(1.0, font * (style == LINE_SOLID ? 0.16 : 0.14));
    cairo_save(cr);
    cairo_rectangle(cr, p.x, p.y, p.w, p.h);
    cairo_clip(cr);
    gs_set_rgb(cr, c);
    cairo_set_line_width(cr, lw);
    if (style == LINE_DOTTED) {
        double d[2] = {0.0, lw * 2.2};
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
        cairo_set_dash(cr, d, 2, 0);
    }
    return lw;
}

static void profile_line(cairo_t *cr, GsRect p, const Scale *ys, const GsTrace *t, GsCol col,
                         size_t step_i, GsRgb c, LineStyle style, double font, size_t nl_axis)
{
    size_t nl = gs_trace_n_layers(t);
    /* x positions follow the axis' layer count (a comparison run may be shallower) */
    double span = nl_axis > 1 ? (double)(nl_axis - 1) : 1.0;
    double xs[64], yv[64];
    double lw = line_begin(cr, p, c, style, font);
    /* draw in chunks of 64 points, overlapping by one so the line is continuous */
    for (size_t start = 0; start < nl; start += 63) {
        size_t m = 0;
        for (size_t li = start; li < nl && m < 64; li++, m++) {
            xs[m] = nl_axis > 1 ? p.x + (double)li / span * p.w : p.x + p.w / 2;
            yv[m] = ymap(ys, p, gs_trace_get(t, step_i, li, col));
        }
        polyline(cr, xs, yv, m, lw);
        if (start + 64 >= nl)
            break;
    }
    if (style == LINE_SOLID && nl <= 60) { /* markers show where the layers are */
        for (size_t li = 0; li < nl; li++) {
            double x = nl_axis > 1 ? p.x + (double)li / span * p.w : p.x + p.w / 2;
            double y = ymap(ys, p, gs_trace_get(t, step_i, li, col));
            if (isnan(y))
                continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, x, y, lw * 1.4, 0, 4 * HALF_PI);
            cairo_fill(cr);
        }
    }
    cairo_restore(cr);
}

/* "step S" with what the run's values at recorded step i are when none is usable. */
static void step_label(char *lab, size_t n, const GsTrace *t, size_t i, GsCol metric,
                       const char *prefix)
{
    int finite = 0, zero = 0, missing = 1;
    for (size_t li = 0; li < gs_trace_n_layers(t) && !finite; li++) {
        double v = gs_trace_get(t, i, li, metric);
        finite = isfinite(v) && v > 0;
        zero |= v == 0.0;
        missing &= gs_trace_is_missing(v);
    }
    snprintf(lab, n, "%s%sstep %ld%s", prefix ? prefix : "", prefix ? ", " : "",
             gs_trace_step(t, i),
             finite    ? ""
             : missing ? " (no values)"
             : zero    ? " (all zero)"
                       : " (NaN/Inf)");
}

/* Step-0 ratio first/last layer of a column (NaN when either end has no positive value). */
static double end_ratio(const GsTrace *t, GsCol col)
{
    size_t nl = gs_trace_n_layers(t);
    if (nl < 2 || !gs_trace_has(t, col))
        return NAN;
    double a = gs_trace_get(t, 0, 0, col), b = gs_trace_get(t, 0, nl - 1, col);
    return isfinite(a) && isfinite(b) && a > 0 && b > 0 ? a / b : (double)NAN;
}

int gs_profile_metrics_disagree(const GsTrace *t)
{
    double w = end_ratio(t, GS_COL_GRAD_NORM), z = end_ratio(t, GS_COL_ACT_GRAD_NORM);
    return isfinite(w) && isfinite(z) && fabs(log10(w) - log10(z)) > 1.0;
}

void gs_panel_profile(cairo_t *cr, GsRect r, double font, const GsTrace *t, GsCol metric,
                      const GsPrediction *pred, const GsTrace *b, const char *la, const char *lb)
{
    /* Okabe-Ito blue and vermilion: the runs of a comparison, as in the loss panel */
    static const GsRgb run_col[2] = {{0.0, 0.447, 0.698}, {0.835, 0.369, 0.0}};
    cairo_save(cr);
    size_t ns = gs_trace_n_steps(t), nl = gs_trace_n_layers(t);
    const GsTrace *runs[2] = {t, b};
    int nr = b ? 2 : 1;
    if (b && gs_trace_n_layers(b) > nl)
        nl = gs_trace_n_layers(b);
    int act = !b && gs_trace_has(t, GS_COL_ACT_GRAD_NORM) && metric != GS_COL_ACT_GRAD_NORM;
    /* dW and dz tell different stories (e.g. inputs far from unit scale enter dW of layer 1
     * only): say so, both lines are drawn */
    int disagree = act && metric == GS_COL_GRAD_NORM && gs_profile_metrics_disagree(t);
    double th = gs_panel_title(cr, r, font, "Depth profile (input side left, output right)");

    size_t idx[3] = {0, ns / 2, ns - 1};
    int nsteps = ns >= 3 ? 3 : (int)ns;
    GsRgb col[3] = {oi_orange, oi_green, oi_blue};
    if (ns == 2) {
        idx[1] = 1;
        col[1] = col[2];
    }
    /* the prediction is anchored at the measured step-0 act_grad_norm of layer `depth` */
    double anchor = NAN;
    size_t np = 0;
    size_t nl0 = gs_trace_n_layers(t);
    if (pred && pred->layers && gs_trace_has(t, GS_COL_ACT_GRAD_NORM)) {
        np = pred->n_layers < nl0 ? pred->n_layers : nl0;
        if (np >= 1)
            anchor = gs_trace_get(t, 0, np - 1, GS_COL_ACT_GRAD_NORM);
        if (!(isfinite(anchor) && anchor > 0))
            np = 0;
    }

    /* legend first: its rows decide where the plot starts */
    Legend lg = {0};
    char lab[192];
    GsRgb grey = {0.3, 0.3, 0.3};
    if (b) {
        legend_add(&lg, run_col[0], LINE_SOLID, la ? la : "before");
        legend_add(&lg, run_col[1], LINE_SOLID, lb ? lb : "after");
        legend_break(&lg);
        legend_add(&lg, grey, LINE_SOLID, "first step");
        legend_add(&lg, grey, LINE_DOTTED, "last step");
    } else {
        for (int k = 0; k < nsteps; k++) {
            if (k == 1 && ns == 2)
                continue;
            step_label(lab, sizeof lab, t, idx[k], metric, NULL);
            legend_add(&lg, col[k], LINE_SOLID, lab);
        }
        legend_break(&lg);
        snprintf(lab, sizeof lab, "%s (%s)", gs_plot_metric_label((int)metric),
                 gs_trace_col_name(metric));
        legend_add(&lg, grey, LINE_SOLID, lab);
        if (act)
            legend_add(&lg, grey, LINE_DOTTED,
                       "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82z\xe2\x80\x96 (act_grad_norm)");
    }
    if (np > 0) {
        const char *rn = gs_regime_name(pred->regime);
        const char *plain = pred->regime == GS_REGIME_ORDERED ? "gradients shrink toward the input"
                            : pred->regime == GS_REGIME_CHAOTIC ? "gradients grow toward the input"
                                                                : "gradients keep their size";
        snprintf(lab, sizeof lab, "predicted%s, step 0: %s (%s)", b ? " (before)" : "", plain, rn);
        legend_add(&lg, (GsRgb){0.1, 0.1, 0.1}, LINE_DASHED, lab);
    }
    double lx = r.x + font * 0.5, lw_avail = r.w - font * 0.5;
    int rows = legend_flow(cr, &lg, lx, 0, lw_avail, font, 0);
    double note_h = disagree ? font * 1.2 : 0.0;
    double top = th + font * (0.45 + LEGEND_ROW * rows) + note_h;
    GsRect p = plot_rect(r, font, top);
    if (p.w < font * 3 || p.h < font * 2) {
        cairo_restore(cr);
        return;
    }
    double mn = INFINITY, mx = -INFINITY;
    for (int k = 0; k < nr; k++) {
        size_t n = gs_trace_n_steps(runs[k]);
        size_t ix[3] = {0, n / 2, n - 1};
        profile_extent(runs[k], metric, ix, &mn, &mx);
    }
    if (act)
        profile_extent(t, GS_COL_ACT_GRAD_NORM, idx, &mn, &mx);
    for (size_t i = 0; i < np; i++) {
        double v = anchor * pred->layers[i].rel_act_grad_norm;
        if (isfinite(v) && v > 0) {
            mn = fmin(mn, v);
            mx = fmax(mx, v);
        }
    }
    int empty = !isfinite(mn);
    Scale ys;
    scale_fit(&ys, empty ? 0.1 : mn, empty ? 1.0 : mx, 1);
    GsAxisTicks xt, yt;
    gs_axis_ticks_linear(&xt, 1, (double)nl, (int)fmax(2, fmin(12, p.w / (font * 2.5))), 1);
    if (nl > 1) {
        /* the output layer is always labelled "out"; drop a numeric tick too close to it */
        double step = xt.n > 1 ? xt.v[1] - xt.v[0] : 1.0;
        size_t k = 0;
        for (size_t i = 0; i < xt.n; i++)
            if ((double)nl - xt.v[i] >= step * 0.6) {
                xt.v[k] = xt.v[i];
                memcpy(xt.label[k], xt.label[i], sizeof xt.label[k]);
                k++;
            }
        if (k < 32) {
            xt.v[k] = (double)nl;
            snprintf(xt.label[k], sizeof xt.label[k], "out");
            k++;
        }
        xt.n = k;
    }
    scale_ticks(&ys, &yt, (int)(p.h / (font * 2.2)));
    const char *ylab = "norm (log scale)";
    GsTextStyle yls = gs_text_style(font * 0.9);
    if (gs_text_width(cr, &yls, ylab) > p.h)
        ylab = "norm (log)";
    gs_axes_draw(cr, p, font, &xt, 1, nl > 1 ? (double)nl : 2, empty ? NULL : &yt, ys.lo, ys.hi,
                 "layer (1 = input side, out = output layer)", ylab);
    if (empty)
        message(cr, p, font, "every value is zero or NaN/Inf: no usable gradient to draw");
    if (b) {
        for (int k = 0; k < nr; k++) {
            size_t n = gs_trace_n_steps(runs[k]);
            profile_line(cr, p, &ys, runs[k], metric, 0, run_col[k], LINE_SOLID, font, nl);
            if (n > 1)
                profile_line(cr, p, &ys, runs[k], metric, n - 1, run_col[k], LINE_DOTTED, font, nl);
        }
    } else {
        for (int k = 0; k < nsteps; k++) {
            if (k == 1 && ns == 2)
                continue;
            profile_line(cr, p, &ys, t, metric, idx[k], col[k], LINE_SOLID, font, nl);
            if (act)
                profile_line(cr, p, &ys, t, GS_COL_ACT_GRAD_NORM, idx[k], col[k], LINE_DOTTED, font,
                             nl);
        }
    }
    if (np > 0) {
        double xs[1024], yv[1024];
        size_t m = np < 1024 ? np : 1024;
        for (size_t i = 0; i < m; i++) {
            xs[i] = nl > 1 ? p.x + (double)i / (double)(nl - 1) * p.w : p.x;
            yv[i] = ymap(&ys, p, anchor * pred->layers[i].rel_act_grad_norm);
        }
        cairo_save(cr);
        cairo_rectangle(cr, p.x, p.y, p.w, p.h);
        cairo_clip(cr);
        double lw = fmax(1.0, font * 0.16), d[2] = {lw * 4, lw * 2.5};
        cairo_set_dash(cr, d, 2, 0);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_set_line_width(cr, lw);
        polyline(cr, xs, yv, m, lw);
        cairo_restore(cr);
    }
    legend_flow(cr, &lg, lx, r.y + th + font * 0.5, lw_avail, font, 1);
    if (disagree) {
        GsTextStyle ns_ = gs_text_style(font * 0.8);
        ns_.color = (GsRgb){0.55, 0.2, 0.0};
        snprintf(lab, sizeof lab,
                 "note: at step 0 layer 1 / out is %.2g for \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82W"
                 "\xe2\x80\x96 but %.2g for \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82z\xe2\x80\x96",
                 end_ratio(t, GS_COL_GRAD_NORM), end_ratio(t, GS_COL_ACT_GRAD_NORM));
        double ny = r.y + th + font * (0.45 + LEGEND_ROW * rows) - font * 0.1;
        gs_text_wrap(cr, &ns_, lx, ny, lw_avail, 1, 0, lab);
    }
    cairo_restore(cr);
}

/* A dashed horizontal reference line across plot rect p at height y (line width = weight *
 * font); leaves the dash set, callers restore the context afterwards. */
static void reference_line(cairo_t *cr, GsRect p, double font, double y, GsRgb c, double weight)
{
    double d[2] = {font * 0.5, font * 0.3};
    cairo_set_dash(cr, d, 2, 0);
    gs_set_rgb(cr, c);
    cairo_set_line_width(cr, fmax(1.0, font * weight));
    cairo_move_to(cr, p.x, y);
    cairo_line_to(cr, p.x + p.w, y);
    cairo_stroke(cr);
}

/* Axes of a log-y quantity against t's training steps: fits *ys to [mn, mx], draws the
 * frame, ticks and labels into plot rect p, and returns the step range through xlo, xhi. */
static void steps_log_axes(cairo_t *cr, GsRect p, double font, const GsTrace *t, double mn,
                           double mx, const char *ylabel, Scale *ys, double *xlo, double *xhi)
{
    size_t ns = gs_trace_n_steps(t);
    scale_fit(ys, mn, mx, 1);
    *xlo = (double)gs_trace_step(t, 0);
    *xhi = (double)gs_trace_step(t, ns - 1);
    if (*xhi <= *xlo)
        *xhi = *xlo + 1;
    GsAxisTicks xt, yt;
    gs_axis_ticks_linear(&xt, *xlo, *xhi, (int)fmax(3, p.w / (font * 5.0)), 1);
    scale_ticks(ys, &yt, (int)(p.h / (font * 2.2)));
    gs_axes_draw(cr, p, font, &xt, *xlo, *xhi, &yt, ys->lo, ys->hi, "training step", ylabel);
}

/* ---- clipping ---------------------------------------------------------------------- */

void gs_panel_clip(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *who,
                   double *work)
{
    cairo_save(cr);
    char title[160];
    snprintf(title, sizeof title, "Gradient clipping%s%s", who ? ": " : "", who ? who : "");
    double th = gs_panel_title(cr, r, font, title);
    GsRect p = plot_rect(r, font, th + font * 1.3);
    if (p.w < font * 3 || p.h < font * 2) {
        cairo_restore(cr);
        return;
    }
    size_t ns = gs_trace_n_steps(t);
    double mn = INFINITY, mx = -INFINITY;
    const GsCol cols[2] = {GS_COL_GLOBAL_NORM, GS_COL_GLOBAL_NORM_POST};
    for (size_t i = 0; i < ns; i++)
        for (int k = 0; k < 2; k++) {
            double v = gs_trace_get(t, i, 0, cols[k]);
            if (isfinite(v) && v > 0) {
                mn = fmin(mn, v);
                mx = fmax(mx, v);
            }
        }
    /* the threshold from the setup, when the trace carries it */
    const char *cn = gs_trace_meta_get(t, "clip-norm");
    double thr = cn ? strtod(cn, NULL) : 0.0;
    if (thr > 0) {
        mn = fmin(mn, thr);
        mx = fmax(mx, thr);
    }
    Scale ys;
    double xlo, xhi;
    steps_log_axes(cr, p, font, t, mn, mx, "global \xe2\x80\x96g\xe2\x80\x96 (log scale)", &ys,
                   &xlo, &xhi);
    const GsRgb colour[2] = {oi_orange, oi_blue};
    cairo_save(cr);
    cairo_rectangle(cr, p.x, p.y, p.w, p.h);
    cairo_clip(cr);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < ns; i++)
            work[i] = gs_trace_get(t, i, 0, cols[k]);
        double lw = fmax(1.0, font * (k ? 0.16 : 0.12));
        gs_set_rgb(cr, colour[k]);
        cairo_set_line_width(cr, lw);
        series_line(cr, p, t, &ys, xlo, xhi, GS_BIN_MAX, (size_t)fmax(2.0, p.w), lw, work);
    }
    if (thr > 0)
        reference_line(cr, p, font, ymap(&ys, p, thr), (GsRgb){0.3, 0.3, 0.3}, 0.1);
    cairo_restore(cr);
    size_t clipped = 0;
    for (size_t i = 0; i < ns; i++)
        clipped += gs_trace_get(t, i, 0, GS_COL_CLIPPED) > 0;
    double x = r.x + font * 0.5, ly = r.y + th + font * 0.5;
    x = legend_item(cr, x, ly, font, oi_orange, LINE_SOLID, "before clipping", r.x + r.w);
    x = legend_item(cr, x, ly, font, oi_blue, LINE_SOLID, "after", r.x + r.w);
    char lab[64];
    snprintf(lab, sizeof lab, "clipped on %zu of %zu", clipped, ns);
    legend_item(cr, x, ly, font, (GsRgb){0.3, 0.3, 0.3}, LINE_DASHED, thr > 0 ? lab : "",
                r.x + r.w);
    cairo_restore(cr);
}

/* ---- update ratio ------------------------------------------------------------------ */

/* Median, smallest and largest finite positive update_ratio over t's layers at step i (NaN
 * when none); buf holds n_layers doubles. */
static void layer_stats(const GsTrace *t, size_t i, double *buf, double *med, double *lo,
                        double *hi)
{
    size_t k = 0;
    for (size_t li = 0; li < gs_trace_n_layers(t); li++) {
        double v = gs_trace_get(t, i, li, GS_COL_UPDATE_RATIO);
        if (isfinite(v) && v > 0)
            buf[k++] = v;
    }
    if (!k) {
        *med = *lo = *hi = NAN;
        return;
    }
    /* insertion sort: a few dozen layers */
    for (size_t a = 1; a < k; a++)
        for (size_t j = a; j > 0 && buf[j - 1] > buf[j]; j--) {
            double x = buf[j];
            buf[j] = buf[j - 1];
            buf[j - 1] = x;
        }
    *med = k % 2 ? buf[k / 2] : sqrt(buf[k / 2 - 1] * buf[k / 2]);
    *lo = buf[0];
    *hi = buf[k - 1];
}

/* The band between the smallest and largest layer's update at each step, in c (translucent);
 * a step without any value breaks it. */
static void update_band(cairo_t *cr, GsRect p, const GsTrace *t, const Scale *ys, double xlo,
                        double xhi, GsRgb c, double *buf)
{
    size_t n = gs_trace_n_steps(t);
    cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.18);
    for (size_t a = 0; a < n;) {
        double med, lo, hi;
        layer_stats(t, a, buf, &med, &lo, &hi);
        if (isnan(med)) {
            a++;
            continue;
        }
        size_t e = a + 1;
        while (e < n) {
            layer_stats(t, e, buf, &med, &lo, &hi);
            if (isnan(med))
                break;
            e++;
        }
        for (size_t i = a; i < e; i++) {
            layer_stats(t, i, buf, &med, &lo, &hi);
            double x = xmap(p, xlo, xhi, (double)gs_trace_step(t, i));
            if (i == a)
                cairo_move_to(cr, x, ymap(ys, p, hi));
            else
                cairo_line_to(cr, x, ymap(ys, p, hi));
        }
        for (size_t i = e; i-- > a;) {
            layer_stats(t, i, buf, &med, &lo, &hi);
            cairo_line_to(cr, xmap(p, xlo, xhi, (double)gs_trace_step(t, i)), ymap(ys, p, lo));
        }
        cairo_close_path(cr);
        cairo_fill(cr);
        a = e;
    }
}

void gs_panel_update(cairo_t *cr, GsRect r, double font, const GsTrace *t, const GsTrace *b,
                     const char *la, const char *lb, double *work)
{
    static const GsRgb run_col[2] = {{0.0, 0.447, 0.698}, {0.835, 0.369, 0.0}};
    cairo_save(cr);
    const GsTrace *runs[2] = {t, b && gs_trace_has(b, GS_COL_UPDATE_RATIO) ? b : NULL};
    int nr = runs[1] ? 2 : 1;
    size_t nl = gs_trace_n_layers(t);
    double th = gs_panel_title(
        cr, r, font,
        "Update size \xe2\x80\x96\xce\x94W\xe2\x80\x96/\xe2\x80\x96W\xe2\x80\x96 per layer");
    /* the key sits above the plot, so the reference label never covers data */
    const GsRgb ref_col = {0.75, 0.1, 0.1};
    Legend lg = {0};
    char lab[200];
    if (nr == 2) {
        legend_add(&lg, run_col[0], LINE_SOLID, la ? la : "before");
        legend_add(&lg, run_col[1], LINE_SOLID, lb ? lb : "after");
        legend_break(&lg);
    }
    legend_add(&lg, ref_col, LINE_DASHED, "10\xe2\x81\xbb\xc2\xb3 rule of thumb");
    if (nr == 2) {
        snprintf(lab, sizeof lab, "line: median layer, band: all layers");
        legend_add(&lg, (GsRgb){0.6, 0.6, 0.6}, LINE_SOLID, lab);
    }
    double key_w = nr == 2 ? 0.0 : fmin(font * 8, r.w * 0.4);
    double lx = r.x + font * 0.5;
    if (nr == 1) {
        GsTextStyle ks = gs_text_style(font * 0.78);
        lx +=
            gs_text_width(cr, &ks, "layer 1") + key_w + gs_text_width(cr, &ks, "out") + font * 2.0;
    }
    double lw_avail = r.x + r.w - lx;
    int rows = legend_flow(cr, &lg, lx, 0, lw_avail, font, 0);
    double top = th + font * (0.45 + LEGEND_ROW * rows);
    GsRect p = plot_rect(r, font, top);
    if (p.w < font * 3 || p.h < font * 2) {
        cairo_restore(cr);
        return;
    }
    double mn = 1e-4, mx = 1e-2; /* the 1e-3 reference line, a decade either side, in view */
    int any = 0;
    const GsTrace *longest = t;
    for (int k = 0; k < nr; k++) {
        const GsTrace *u = runs[k];
        if (gs_trace_step(u, gs_trace_n_steps(u) - 1) >
            gs_trace_step(longest, gs_trace_n_steps(longest) - 1))
            longest = u;
        for (size_t i = 0; i < gs_trace_n_steps(u); i++)
            for (size_t li = 0; li < gs_trace_n_layers(u); li++) {
                double v = gs_trace_get(u, i, li, GS_COL_UPDATE_RATIO);
                if (isfinite(v) && v > 0) {
                    mn = fmin(mn, v);
                    mx = fmax(mx, v);
                    any = 1;
                }
            }
    }
    Scale ys;
    double xlo, xhi;
    steps_log_axes(cr, p, font, longest, mn, mx, "ratio (log scale)", &ys, &xlo, &xhi);
    if (!any) {
        GsRect upper = {p.x, p.y, p.w, p.h * 0.5};
        message(cr, upper, font, "no update changed any weight (all zero or NaN/Inf)");
    }
    cairo_save(cr);
    cairo_rectangle(cr, p.x, p.y, p.w, p.h);
    cairo_clip(cr);
    double lw = fmax(1.0, font * 0.11);
    cairo_set_line_width(cr, lw);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    if (nr == 2) {
        for (int k = 0; k < 2; k++) {
            const GsTrace *u = runs[k];
            size_t n = gs_trace_n_steps(u);
            double *buf = work + 4 * n; /* >= n_layers doubles past series_line's share */
            update_band(cr, p, u, &ys, xlo, xhi, run_col[k], buf);
            for (size_t i = 0; i < n; i++) {
                double lo, hi;
                layer_stats(u, i, buf, &work[i], &lo, &hi);
            }
            gs_set_rgb(cr, run_col[k]);
            cairo_set_line_width(cr, lw * 1.5);
            series_line(cr, p, u, &ys, xlo, xhi, GS_BIN_GMEAN, (size_t)fmax(2.0, p.w), lw * 1.5,
                        work);
        }
    } else {
        size_t ns = gs_trace_n_steps(t);
        for (size_t li = 0; li < nl; li++) {
            for (size_t i = 0; i < ns; i++)
                work[i] = gs_trace_get(t, i, li, GS_COL_UPDATE_RATIO);
            gs_set_rgb(cr, gs_cmap_seq(nl > 1 ? 0.82 * (double)li / (double)(nl - 1) : 0.0));
            series_line(cr, p, t, &ys, xlo, xhi, GS_BIN_GMEAN, (size_t)fmax(2.0, p.w), lw, work);
        }
    }
    /* reference: Karpathy's rule of thumb, ~1e-3 per step is healthy */
    reference_line(cr, p, font, ymap(&ys, p, 1e-3), ref_col, 0.12);
    cairo_restore(cr);
    double ky = r.y + th + font * 0.5;
    if (nr == 1) {
        /* layer colour key */
        GsTextStyle ks = gs_text_style(font * 0.78);
        double kx = r.x + font * 0.5;
        gs_text_draw(cr, &ks, kx, ky, 0, 0.5, 0, 0, "layer 1");
        kx += gs_text_width(cr, &ks, "layer 1") + font * 0.4;
        for (int i = 0; i < 64; i++) {
            gs_set_rgb(cr, gs_cmap_seq(0.82 * i / 63.0));
            cairo_rectangle(cr, kx + key_w * i / 64.0, ky - font * 0.3, key_w / 64.0 + 0.5,
                            font * 0.6);
            cairo_fill(cr);
        }
        gs_text_draw(cr, &ks, kx + key_w + font * 0.4, ky, 0, 0.5, 0, 0, nl > 1 ? "out" : "");
    }
    legend_flow(cr, &lg, lx, ky, lw_avail, font, 1);
    cairo_restore(cr);
}

/* ---- activation health ------------------------------------------------------------- */

void gs_panel_health(cairo_t *cr, GsRect r, double font, const GsHeatmap *const *sat,
                     const GsHeatmap *const *dead, size_t n_runs, const char *const *labels)
{
    cairo_save(cr);
    double th = gs_panel_title(cr, r, font,
                               "Activation health (fraction of units, 0\xe2\x80\x93"
                               "1)");
    double key_h = font * 1.6;
    GsRect body = {r.x, r.y + th, r.w, r.h - th - key_h};
    const char *names[2] = {"saturated", "dead (never active)"};
    double sub_font = font * (n_runs > 1 ? 0.75 : 0.85);
    double row_gap = font * 0.3, rh = (body.h - (double)(n_runs - 1) * row_gap) / (double)n_runs;
    for (size_t k = 0; k < n_runs; k++) {
        const GsHeatmap *hm[2] = {sat[k], dead[k]};
        int n = (hm[0] != NULL) + (hm[1] != NULL), j = 0;
        for (int i = 0; i < 2; i++) {
            if (!hm[i])
                continue;
            double w = (body.w - (n - 1) * font * 0.5) / n;
            GsRect q = {body.x + j * (w + font * 0.5), body.y + (double)k * (rh + row_gap), w, rh};
            char title[240];
            if (n_runs > 1)
                snprintf(title, sizeof title, "%s: %s", labels && labels[k] ? labels[k] : "?",
                         names[i]);
            else
                snprintf(title, sizeof title, "%s", names[i]);
            gs_heatmap_draw(cr, hm[i], q, sub_font, title, NULL);
            j++;
        }
    }
    /* 0..1 key */
    double kx = r.x + gs_axes_left_margin(sub_font), ky = r.y + r.h - key_h * 0.55;
    double kw = fmin(font * 10, r.w - kx + r.x - font * 3);
    GsTextStyle st = gs_text_style(font * 0.78);
    gs_text_draw(cr, &st, kx - font * 0.3, ky, 1, 0.5, 0, 0, "0");
    for (int i = 0; i < 64; i++) {
        gs_set_rgb(cr, gs_cmap_div(i / 63.0));
        cairo_rectangle(cr, kx + kw * i / 64.0, ky - font * 0.3, kw / 64.0 + 0.5, font * 0.6);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, fmax(1.0, font * 0.05));
    cairo_rectangle(cr, kx, ky - font * 0.3, kw, font * 0.6);
    cairo_stroke(cr);
    gs_text_draw(cr, &st, kx + kw + font * 0.3, ky, 0, 0.5, 0, 0, "1 (all units)");
    cairo_restore(cr);
}

/* ---- findings ---------------------------------------------------------------------- */

static GsRgb sev_color(GsSeverity s)
{
    switch (s) {
    case GS_SEV_ERROR: return (GsRgb){0.78, 0.1, 0.1};
    case GS_SEV_WARNING: return oi_orange;
    case GS_SEV_INFO: break;
    }
    return oi_blue;
}

/* The plain title of a finding kind with a capital first letter ("Vanishing gradient"). */
static void kind_title(char *buf, size_t n, GsFindingKind k)
{
    snprintf(buf, n, "%s", gs_finding_kind_title(k));
    if (buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char)(buf[0] - 'a' + 'A');
}

/* Height one finding takes (or draws, when !dry) at width w. A finding another one explains
 * is one grey line naming its cause (its fix is the cause's); the primary one says it is the
 * cause. */
static double finding_block(cairo_t *cr, const GsFindings *fs, size_t i, double x, double y,
                            double w, double font, double max_h, int dry)
{
    const GsFinding *f = &fs->items[i];
    double chip = font * 0.8, tx = x + chip + font * 0.5, tw = w - (tx - x);
    GsTextStyle hs = gs_text_style(font * 0.88);
    hs.bold = 1;
    GsTextStyle ms = gs_text_style(font * 0.8);
    GsTextStyle os = gs_text_style(font * 0.76);
    os.mono = 1;
    os.color = (GsRgb){0.1, 0.3, 0.55};
    char title[96], head[400];
    kind_title(title, sizeof title, f->kind);
    const GsFinding *cause =
        f->explained_by >= 0 && (size_t)f->explained_by < fs->n && (size_t)f->explained_by != i
            ? &fs->items[f->explained_by]
            : NULL;
    if (cause) {
        GsTextStyle gst = gs_text_style(font * 0.8);
        gst.color = (GsRgb){0.5, 0.5, 0.5};
        snprintf(head, sizeof head, "%s \xe2\x80\x94 layers %d\xe2\x80\x93%d (follows from %s)",
                 title, f->layer_first, f->layer_last, gs_finding_kind_title(cause->kind));
        if (!dry) {
            GsRgb c = sev_color(f->severity);
            cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.45);
            cairo_rectangle(cr, x, y + font * 0.15, chip, chip);
            cairo_fill(cr);
        }
        return gs_text_wrap(cr, &gst, tx, y, tw, 2, dry, head) + font * 0.3;
    }
    char lay[48];
    if (f->layer_first == f->layer_last)
        snprintf(lay, sizeof lay, "layer %d", f->layer_first);
    else
        snprintf(lay, sizeof lay, "layers %d\xe2\x80\x93%d", f->layer_first, f->layer_last);
    snprintf(head, sizeof head, "%s%s \xe2\x80\x94 %s, steps %ld\xe2\x80\x93%ld",
             f->primary ? "Cause: " : "", title, lay, f->step_first, f->step_last);
    if (!dry) {
        gs_set_rgb(cr, sev_color(f->severity));
        cairo_rectangle(cr, x, y + font * 0.15, chip, chip);
        cairo_fill(cr);
    }
    double h = gs_text_wrap(cr, &hs, tx, y, tw, 2, dry, head);
    /* the cause's evidence in full where the panel has room (a through-time finding's is long) */
    int lines = (int)fmax(1, (max_h - h) / (font * 1.0) - 1), cap = f->primary ? 7 : 4;
    h += gs_text_wrap(cr, &ms, tx, y + h, tw, lines > cap ? cap : lines, dry, f->message);
    if (f->suggestion[0]) {
        char sug[300];
        snprintf(sug, sizeof sug, "\xe2\x86\x92 %s", f->suggestion);
        h += gs_text_wrap(cr, &ms, tx, y + h, tw, 2, dry, sug);
    }
    if (f->options[0])
        h += gs_text_wrap(cr, &os, tx, y + h, tw, 2, dry, f->options);
    return h + font * 0.45;
}

/* Lists fs (in its order: the cause first) from y down to bottom; "+N more" when out of
 * room. Returns the y below the last line. */
static double findings_list(cairo_t *cr, GsRect r, double y, double bottom, double font,
                            const GsFindings *fs, const char *healthy_text, int dry)
{
    if (!fs || fs->n == 0) {
        GsTextStyle st = gs_text_style(font * 0.85);
        st.color = oi_green;
        return y + gs_text_wrap(cr, &st, r.x, y, r.w, 3, dry, healthy_text) + font * 0.3;
    }
    GsTextStyle more = gs_text_style(font * 0.8);
    more.bold = 1;
    size_t shown = 0;
    for (size_t i = 0; i < fs->n; i++) {
        double room = bottom - y - (shown + 1 < fs->n ? font * 1.3 : 0.0);
        double h = finding_block(cr, fs, i, r.x, y, r.w, font, room, 1);
        if (h > room)
            break;
        if (!dry)
            finding_block(cr, fs, i, r.x, y, r.w, font, room, 0);
        y += h;
        shown++;
    }
    if (shown < fs->n) {
        char b[64];
        snprintf(b, sizeof b, "+%zu more (see the JSON/text findings)", fs->n - shown);
        if (!dry)
            gs_text_draw(cr, &more, r.x, fmin(y, bottom - font * 1.1), 0, 0, 0, 0, b);
        y = fmin(y, bottom - font * 1.1) + font * 1.2;
    }
    return y;
}

void gs_panel_findings(cairo_t *cr, GsRect r, double font, const GsFindings *f,
                       const GsFindings *fb, const char *la, const char *lb)
{
    cairo_save(cr);
    double th = gs_panel_title(cr, r, font, "Findings");
    double y = r.y + th, bottom = r.y + r.h;
    if (!fb) {
        findings_list(cr, r, y, bottom, font, f,
                      "No findings: no rule flagged this run's gradients.", 0);
        cairo_restore(cr);
        return;
    }
    /* before and after: the after list gets what it needs (at most 40%), before the rest */
    GsTextStyle hs = gs_text_style(font * 0.85);
    hs.bold = 1;
    const char *after_ok = "No findings: no rule flagged this run.";
    double after_h = font * 0.2 + gs_text_wrap(cr, &hs, r.x, 0, r.w, 2, 1, lb ? lb : "after");
    after_h += findings_list(cr, r, 0, (r.h - th) * 0.4, font, fb, after_ok, 1);
    double split = fmax(bottom - after_h, r.y + th + (r.h - th) * 0.6);
    hs.color = (GsRgb){0.0, 0.447, 0.698};
    y += gs_text_wrap(cr, &hs, r.x, y, r.w, 2, 0, la ? la : "before");
    y = findings_list(cr, r, y, split, font, f, "No findings.", 0);
    hs.color = (GsRgb){0.835, 0.369, 0.0};
    y += font * 0.2;
    y += gs_text_wrap(cr, &hs, r.x, y, r.w, 2, 0, lb ? lb : "after");
    findings_list(cr, r, y, bottom, font, fb, after_ok, 0);
    cairo_restore(cr);
}

/* ---- through-time profile ------------------------------------------------------------ */

/* Longest T of series k over the recorded steps. */
static size_t series_T(const GsTrace *t, size_t k)
{
    size_t T = 0;
    for (size_t i = 0; i < gs_trace_n_steps(t); i++) {
        size_t n = gs_trace_series_len(t, i, k);
        T = n > T ? n : T;
    }
    return T;
}

/* Recurrent layer number of a series named "...h_l{N}" (N), else fallback. */
static long series_layer(const GsTrace *t, size_t k, long fallback)
{
    const char *nm = gs_trace_series_name(t, k);
    const char *p = nm ? strstr(nm, "h_l") : NULL;
    if (!p || !p[3])
        return fallback;
    char *end;
    long v = strtol(p + 3, &end, 10);
    return *end == '\0' && v >= 0 ? v : fallback;
}

/* Predicted per-step gain of ||dL/dh_t|| at init for series k (metadata
 * theory_step_gain_l{N}); NAN when absent or not a positive number. */
static double series_gain(const GsTrace *t, size_t k)
{
    char key[64];
    snprintf(key, sizeof key, "theory_step_gain_l%ld", series_layer(t, k, (long)k));
    const char *v = gs_trace_meta_get(t, key);
    if (!v)
        return NAN;
    char *end;
    double g = strtod(v, &end);
    return end != v && *end == '\0' && isfinite(g) && g > 0 ? g : (double)NAN;
}

/* Column col (h_grad_norm, c_grad_norm) of series k at step index i against t, x mapped
 * 1..T_axis over p. */
static void tt_line(cairo_t *cr, GsRect p, const Scale *ys, const GsTrace *t, size_t k, size_t i,
                    GsTimeCol col, size_t T_axis, GsRgb c, LineStyle style, double font)
{
    size_t T = gs_trace_series_len(t, i, k);
    double span = T_axis > 1 ? (double)(T_axis - 1) : 1.0;
    double xs[64], yv[64];
    double lw = line_begin(cr, p, c, style, font);
    /* chunks of 64 points overlapping by one, so the line is continuous */
    for (size_t start = 1; start <= T; start += 63) {
        size_t m = 0;
        for (size_t u = start; u <= T && m < 64; u++, m++) {
            xs[m] = T_axis > 1 ? p.x + (double)(u - 1) / span * p.w : p.x + p.w / 2;
            yv[m] = ymap(ys, p, gs_trace_series_get(t, i, k, col, u));
        }
        polyline(cr, xs, yv, m, lw);
        if (start + 63 > T)
            break;
    }
    cairo_restore(cr);
}

/* Extent of the positive finite values of column col of series k at step index i. */
static void tt_extent(const GsTrace *t, size_t k, size_t i, GsTimeCol col, double *mn, double *mx)
{
    size_t T = gs_trace_series_len(t, i, k);
    for (size_t u = 1; u <= T; u++) {
        double v = gs_trace_series_get(t, i, k, col, u);
        if (isfinite(v) && v > 0) {
            *mn = fmin(*mn, v);
            *mx = fmax(*mx, v);
        }
    }
}

/* Legend text of one step's line ("step 500", or why it has no line). */
static void tt_step_label(char *lab, size_t n, const GsTrace *t, size_t k, size_t i,
                          const char *prefix)
{
    double mn = INFINITY, mx = -INFINITY;
    tt_extent(t, k, i, GS_TCOL_H_GRAD_NORM, &mn, &mx);
    snprintf(lab, n, "%s%sstep %ld%s", prefix ? prefix : "", prefix ? ", " : "",
             gs_trace_step(t, i),
             gs_trace_series_len(t, i, k) == 0 ? " (no values)"
             : isfinite(mn)                    ? ""
                                               : " (zero or NaN/Inf)");
}

void gs_panel_through_time(cairo_t *cr, GsRect r, double font, const GsTrace *t, size_t k, int deep,
                           const GsTrace *b, size_t kb, const char *la, const char *lb)
{
    static const GsRgb run_col[2] = {{0.0, 0.447, 0.698}, {0.835, 0.369, 0.0}};
    cairo_save(cr);
    size_t ns = gs_trace_n_steps(t);
    const char *sname = gs_trace_series_name(t, k) ? gs_trace_series_name(t, k) : "hidden state";
    char title[256];
    long layer = series_layer(t, k, -1);
    if (deep && layer >= 0)
        snprintf(title, sizeof title,
                 "Through time: \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 of "
                 "%s \xe2\x80\x94 layer %ld%s",
                 sname, layer, layer == 0 ? ", the bottom one (the longest path)" : "");
    else if (deep)
        snprintf(title, sizeof title,
                 "Through time: \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 of "
                 "%s (series %zu of %zu)",
                 sname, k + 1, gs_trace_n_series(t));
    else
        snprintf(title, sizeof title,
                 "Through time: \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 of "
                 "%s against time step t",
                 sname);
    double th = gs_panel_title(cr, r, font, title);
    size_t T = series_T(t, k);
    if (b)
        T = series_T(b, kb) > T ? series_T(b, kb) : T;

    /* the first, middle and last recorded steps, each once (a short run has fewer) */
    size_t idx[3] = {0, ns / 2, ns - 1};
    GsRgb col[3] = {oi_orange, oi_green, oi_blue};
    int nsteps = ns >= 3 ? 3 : (int)ns;
    if (ns == 2) {
        idx[1] = 1;
        col[1] = col[2];
    }
    /* theory at init: h(T) of the first recorded step times gain^(T - t) */
    double gain = series_gain(t, k);
    size_t T0 = gs_trace_series_len(t, 0, k);
    double hT = T0 ? gs_trace_series_get(t, 0, k, GS_TCOL_H_GRAD_NORM, T0) : (double)NAN;
    int theory = isfinite(gain) && isfinite(hT) && hT > 0 && T0 >= 2;
    int cell = !b && gs_trace_series_has(t, GS_TCOL_C_GRAD_NORM);

    Legend lg = {0};
    char lab[192];
    GsRgb grey = {0.3, 0.3, 0.3};
    if (b) {
        legend_add(&lg, run_col[0], LINE_SOLID, la ? la : "before");
        legend_add(&lg, run_col[1], LINE_SOLID, lb ? lb : "after");
        legend_break(&lg);
        legend_add(&lg, grey, LINE_SOLID, "first step");
        legend_add(&lg, grey, LINE_DOTTED, "last step");
    } else {
        for (int j = 0; j < nsteps; j++) {
            tt_step_label(lab, sizeof lab, t, k, idx[j], NULL);
            legend_add(&lg, col[j], LINE_SOLID, lab);
        }
        if (cell) {
            /* an LSTM's cell state carries its own path back through time */
            legend_break(&lg);
            legend_add(&lg, grey, LINE_SOLID,
                       "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 (h_grad_norm)");
            legend_add(&lg, grey, LINE_DOTTED,
                       "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82"
                       "c_t\xe2\x80\x96 (c_grad_norm, "
                       "the LSTM cell)");
        }
    }
    if (theory) {
        legend_break(&lg);
        snprintf(lab, sizeof lab, "theory (init): \xc3\x97%.3g per step back from T%s", gain,
                 b ? " (before)" : "");
        legend_add(&lg, (GsRgb){0.1, 0.1, 0.1}, LINE_DASHED, lab);
    }
    double lx = r.x + font * 0.5, lw_avail = r.w - font * 0.5;
    int rows = legend_flow(cr, &lg, lx, 0, lw_avail, font, 0);
    double top = th + font * (0.45 + LEGEND_ROW * rows);
    GsRect p = plot_rect(r, font, top);
    if (p.w < font * 3 || p.h < font * 2) {
        cairo_restore(cr);
        return;
    }
    double mn = INFINITY, mx = -INFINITY;
    const GsTrace *runs[2] = {t, b};
    size_t ks[2] = {k, kb};
    for (int q = 0; q < (b ? 2 : 1); q++) {
        size_t n = gs_trace_n_steps(runs[q]);
        size_t ix[3] = {0, n / 2, n - 1};
        for (int j = 0; j < 3; j++)
            tt_extent(runs[q], ks[q], ix[j], GS_TCOL_H_GRAD_NORM, &mn, &mx);
        if (cell)
            for (int j = 0; j < nsteps; j++)
                tt_extent(t, k, idx[j], GS_TCOL_C_GRAD_NORM, &mn, &mx);
    }
    int empty = !isfinite(mn);
    if (theory && !empty) {
        /* the prediction widens the axis, but by at most 4 decades past the data */
        double lo = log10(hT) + (double)(T0 - 1) * log10(gain);
        double hi = log10(hT);
        mn = fmin(mn, pow(10.0, fmax(fmin(lo, hi), log10(mn) - 4.0)));
        mx = fmax(mx, pow(10.0, fmin(fmax(lo, hi), log10(mx) + 4.0)));
    }
    Scale ys;
    scale_fit(&ys, empty ? 0.1 : mn, empty ? 1.0 : mx, 1);
    GsAxisTicks xt, yt;
    gs_axis_ticks_linear(&xt, 1, (double)(T > 1 ? T : 2),
                         (int)fmax(2, fmin(12, p.w / (font * 2.5))), 1);
    /* at least 3: a few over many decades would fall back to linear ticks */
    scale_ticks(&ys, &yt, (int)fmax(3.0, p.h / (font * 2.2)));
    const char *ylab = "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 (log scale)";
    GsTextStyle yls = gs_text_style(font * 0.9);
    if (gs_text_width(cr, &yls, ylab) > p.h)
        ylab = "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 (log)";
    double T_axis = (double)(T > 1 ? T : 2);
    gs_axes_draw(cr, p, font, &xt, 1, T_axis, empty ? NULL : &yt, ys.lo, ys.hi,
                 "time step t (1 = first input, T = last)", ylab);
    if (empty)
        message(cr, p, font,
                "no positive finite \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t"
                "\xe2\x80\x96 to draw");
    size_t Tax = (size_t)T_axis;
    if (b) {
        for (int q = 0; q < 2; q++) {
            size_t n = gs_trace_n_steps(runs[q]);
            tt_line(cr, p, &ys, runs[q], ks[q], 0, GS_TCOL_H_GRAD_NORM, Tax, run_col[q], LINE_SOLID,
                    font);
            if (n > 1)
                tt_line(cr, p, &ys, runs[q], ks[q], n - 1, GS_TCOL_H_GRAD_NORM, Tax, run_col[q],
                        LINE_DOTTED, font);
        }
    } else {
        for (int j = 0; j < nsteps; j++) {
            tt_line(cr, p, &ys, t, k, idx[j], GS_TCOL_H_GRAD_NORM, Tax, col[j], LINE_SOLID, font);
            if (cell)
                tt_line(cr, p, &ys, t, k, idx[j], GS_TCOL_C_GRAD_NORM, Tax, col[j], LINE_DOTTED,
                        font);
        }
    }
    if (theory && !empty) {
        double xs[2], yv[2];
        /* a straight line on the log axis: its two ends suffice (clipped to the plot) */
        double span = Tax > 1 ? (double)(Tax - 1) : 1.0;
        xs[0] = p.x;
        xs[1] = p.x + (double)(T0 - 1) / span * p.w;
        double l1 = log10(hT) + (double)(T0 - 1) * log10(gain); /* t = 1 */
        yv[0] = p.y + p.h - (l1 - ys.lo) / (ys.hi - ys.lo) * p.h;
        yv[1] = ymap(&ys, p, hT);
        cairo_save(cr);
        cairo_rectangle(cr, p.x, p.y, p.w, p.h);
        cairo_clip(cr);
        double lw = fmax(1.0, font * 0.16), d[2] = {lw * 4, lw * 2.5};
        cairo_set_dash(cr, d, 2, 0);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_set_line_width(cr, lw);
        polyline(cr, xs, yv, 2, lw);
        cairo_restore(cr);
    }
    legend_flow(cr, &lg, lx, r.y + th + font * 0.5, lw_avail, font, 1);
    cairo_restore(cr);
}
