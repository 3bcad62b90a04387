/* Page layout: title on top; heatmap(s) with colour bar and legend top-left; loss and depth
 * profile in a right column; update ratio, activation health and findings along the bottom. */
#include "plot/layout.h"

#include <assert.h>

double gs_layout_font_size(double width, double height)
{
    double f = width / 110.0 < height / 70.0 ? width / 110.0 : height / 70.0;
    if (f < 9.0)
        f = 9.0;
    if (f > 40.0)
        f = 40.0;
    return f;
}

static GsRect rect(double x, double y, double w, double h)
{
    GsRect r = {x, y, w > 0 ? w : 0, h > 0 ? h : 0};
    return r;
}

/* The paper page: title, heatmap(s) with the colour bar and legend in a narrow column to
 * their right, then the depth profile and the loss across the width. Update, health,
 * clipping and findings are left out (they belong in the full report). */
static void single_column(const GsLayoutSpec *spec, GsLayout *out, double f)
{
    const double W = spec->width, H = spec->height, m = f * 0.6;
    const int *want = spec->want;
    double title_h = f * (1.3 * 2 + 0.3);
    out->on[GS_PANEL_TITLE] = 1;
    out->r[GS_PANEL_TITLE] = rect(m, m * 0.6, W - 2 * m, title_h);
    int n_heat = want[GS_PANEL_HEATMAP_AFTER] ? 2 : 1;
    int n_low = (want[GS_PANEL_PROFILE] ? 1 : 0) + (want[GS_PANEL_LOSS] ? 1 : 0);
    double y = m * 0.6 + title_h + m * 0.5, avail = H - y - m;
    /* heights in shares: a heatmap 1.0, the profile 1.15 (two legend rows), the loss 0.9 */
    double shares =
        n_heat * 1.0 + (want[GS_PANEL_PROFILE] ? 1.15 : 0) + (want[GS_PANEL_LOSS] ? 0.9 : 0);
    double gaps = m * (n_heat - 1 + n_low);
    double unit = (avail - gaps) / shares;
    double side_w = f * 9.0, heat_w = W - 2 * m - side_w - m * 0.5;
    double heat_top = y;
    for (int k = 0; k < n_heat; k++) {
        GsPanel p = k ? GS_PANEL_HEATMAP_AFTER : GS_PANEL_HEATMAP;
        out->r[p] = rect(m, y, heat_w, unit);
        out->on[p] = 1;
        y += unit + m;
    }
    double side_h = y - m - heat_top, cx = m + heat_w + m * 0.5;
    double cbar_h = side_h * (n_heat > 1 ? 0.55 : 0.6);
    out->r[GS_PANEL_CBAR] = rect(cx, heat_top, side_w, cbar_h);
    out->r[GS_PANEL_LEGEND] = rect(cx, heat_top + cbar_h, side_w, side_h - cbar_h);
    out->on[GS_PANEL_CBAR] = out->on[GS_PANEL_LEGEND] = 1;
    if (want[GS_PANEL_PROFILE]) {
        out->r[GS_PANEL_PROFILE] = rect(m, y, W - 2 * m, unit * 1.15);
        out->on[GS_PANEL_PROFILE] = 1;
        y += unit * 1.15 + m;
    }
    if (want[GS_PANEL_LOSS]) {
        out->r[GS_PANEL_LOSS] = rect(m, y, W - 2 * m, unit * 0.9);
        out->on[GS_PANEL_LOSS] = 1;
    }
}

void gs_layout_compute(const GsLayoutSpec *spec, GsLayout *out)
{
    assert(spec->width > 0 && spec->height > 0);
    const double W = spec->width, H = spec->height;
    const double f = spec->font > 0 ? spec->font : gs_layout_font_size(W, H);
    const double m = f;
    int sub = spec->subtitle_lines < 0 ? 0 : (spec->subtitle_lines > 3 ? 3 : spec->subtitle_lines);
    for (int p = 0; p < GS_PANEL_COUNT; p++) {
        out->on[p] = 0;
        out->r[p] = rect(0, 0, 0, 0);
    }
    out->font = f;
    out->margin = m;
    if (spec->single_column) {
        out->margin = f * 0.6;
        single_column(spec, out, f);
        return;
    }

    double title_h = f * (1.9 + 1.45 * (1 + sub));
    out->on[GS_PANEL_TITLE] = 1;
    out->r[GS_PANEL_TITLE] = rect(m, m * 0.6, W - 2 * m, title_h);

    const int *want = spec->want;
    double y0 = m * 0.6 + title_h + m * 0.6;
    double body_h = H - y0 - m;
    int bottom = want[GS_PANEL_UPDATE] || want[GS_PANEL_CLIP] || want[GS_PANEL_HEALTH] ||
                 want[GS_PANEL_DIST] || want[GS_PANEL_FINDINGS];
    int right = want[GS_PANEL_LOSS] || want[GS_PANEL_PROFILE];
    double top_h = bottom ? (body_h - m) * 0.6 : body_h;

    /* top row: heatmap(s) + colour bar column, then the right column */
    double inner_w = W - 2 * m;
    double left_w = right ? (inner_w - m) * 0.62 : inner_w;
    double cbar_w = f * 9.0;
    double heat_w = left_w - cbar_w - m * 0.5;
    if (want[GS_PANEL_HEATMAP_AFTER]) {
        double hh = (top_h - m) / 2;
        out->r[GS_PANEL_HEATMAP] = rect(m, y0, heat_w, hh);
        out->r[GS_PANEL_HEATMAP_AFTER] = rect(m, y0 + hh + m, heat_w, hh);
        out->on[GS_PANEL_HEATMAP_AFTER] = 1;
    } else {
        out->r[GS_PANEL_HEATMAP] = rect(m, y0, heat_w, top_h);
    }
    out->on[GS_PANEL_HEATMAP] = 1;
    double cx = m + heat_w + m * 0.5;
    double cbar_h = top_h * 0.62;
    out->r[GS_PANEL_CBAR] = rect(cx, y0, cbar_w, cbar_h);
    out->r[GS_PANEL_LEGEND] = rect(cx, y0 + cbar_h + m * 0.5, cbar_w, top_h - cbar_h - m * 0.5);
    out->on[GS_PANEL_CBAR] = out->on[GS_PANEL_LEGEND] = 1;

    if (right) {
        double rx = m + left_w + m, rw = W - m - rx;
        if (want[GS_PANEL_LOSS] && want[GS_PANEL_PROFILE]) {
            double hh = (top_h - m) / 2;
            out->r[GS_PANEL_LOSS] = rect(rx, y0, rw, hh);
            out->r[GS_PANEL_PROFILE] = rect(rx, y0 + hh + m, rw, hh);
            out->on[GS_PANEL_LOSS] = out->on[GS_PANEL_PROFILE] = 1;
        } else {
            GsPanel p = want[GS_PANEL_LOSS] ? GS_PANEL_LOSS : GS_PANEL_PROFILE;
            out->r[p] = rect(rx, y0, rw, top_h);
            out->on[p] = 1;
        }
    }

    if (bottom) {
        static const GsPanel order[] = {GS_PANEL_UPDATE, GS_PANEL_CLIP, GS_PANEL_HEALTH,
                                        GS_PANEL_DIST, GS_PANEL_FINDINGS};
        static const double weight[] = {1.0, 1.0, 1.0, 1.1, 1.35};
        const int n_order = (int)(sizeof order / sizeof order[0]);
        double total = 0;
        int n = 0;
        for (int i = 0; i < n_order; i++)
            if (want[order[i]]) {
                total += weight[i];
                n++;
            }
        double by = y0 + top_h + m, bh = H - m - by;
        double avail = inner_w - m * (n - 1);
        double x = m;
        for (int i = 0; i < n_order; i++) {
            if (!want[order[i]])
                continue;
            double w = avail * weight[i] / total;
            out->r[order[i]] = rect(x, by, w, bh);
            out->on[order[i]] = 1;
            x += w + m;
        }
    }
}

int gs_rect_overlap(GsRect a, GsRect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

int gs_rect_inside(GsRect inner, GsRect outer)
{
    const double eps = 1e-9;
    return inner.x >= outer.x - eps && inner.y >= outer.y - eps &&
           inner.x + inner.w <= outer.x + outer.w + eps &&
           inner.y + inner.h <= outer.y + outer.h + eps;
}
