/* Report page layout (pure, no cairo): where each panel goes for a page size and a set of
 * panels to show. Missing panels are left out and the others re-flow to use the space. */
#ifndef GS_PLOT_LAYOUT_H
#define GS_PLOT_LAYOUT_H

/* An axis-aligned rectangle in page units (origin top-left, y down). */
typedef struct {
    double x, y, w, h;
} GsRect;

/* The panels of a report page. */
typedef enum {
    GS_PANEL_TITLE = 0,     /* title + setup line(s) */
    GS_PANEL_HEATMAP,       /* main heatmap (the "before" one in a comparison) */
    GS_PANEL_HEATMAP_AFTER, /* comparison heatmap, same colour scale */
    GS_PANEL_CBAR,          /* colour bar */
    GS_PANEL_LEGEND,        /* swatches for NaN/Inf/0 and finding outlines */
    GS_PANEL_LOSS,
    GS_PANEL_PROFILE,
    GS_PANEL_UPDATE,
    GS_PANEL_HEALTH,
    GS_PANEL_FINDINGS,
    GS_PANEL_CLIP, /* global gradient norm before/after clipping (when it acted) */
    GS_PANEL_DIST, /* layer 1's gradient-entry distribution over training (histograms) */
    GS_PANEL_COUNT
} GsPanel;

/* What to lay out. Title, heatmap, colour bar and legend are always on. */
typedef struct {
    double width, height;     /* page size (> 0) */
    int want[GS_PANEL_COUNT]; /* 1 for each optional panel to show */
    int subtitle_lines;       /* extra lines under the title (0..3) */
    int single_column;        /* 1: the compact paper page, panels stacked (see layout.c) */
    double font;              /* base font size; 0: gs_layout_font_size */
} GsLayoutSpec;

/* The computed page: on[p] says whether panel p is shown, r[p] is its rectangle. */
typedef struct {
    GsRect r[GS_PANEL_COUNT];
    int on[GS_PANEL_COUNT];
    double font;   /* base font size for this page */
    double margin; /* outer margin and gap between panels */
} GsLayout;

/* Base text size for a page: scales with the page, clamped to a legible range. */
double gs_layout_font_size(double width, double height);
/* Computes the layout; every shown rectangle lies inside the page and no two overlap.
 * Cannot fail (asserts positive sizes). */
void gs_layout_compute(const GsLayoutSpec *spec, GsLayout *out);
/* 1 when the interiors of a and b intersect. */
int gs_rect_overlap(GsRect a, GsRect b);
/* 1 when inner lies within outer (edges may touch). */
int gs_rect_inside(GsRect inner, GsRect outer);

#endif
