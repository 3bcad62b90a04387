/* Heatmap model and renderer: bin once (alarms survive), paint an ARGB32 image with one pixel
 * per cell, then scale it into any rectangle with a nearest filter so cells stay sharp. */
#include "plot/heatmap.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/bin.h"
#include "plot/draw.h"
#include "plot/ticks.h"

/* Colour range never spans more than this many decades below the maximum, so that a single
 * 1e-300 does not wash the picture out. */
#define MAX_DECADES 16.0
/* A run whose first NaN/Inf comes within this fraction of its recorded steps gets a zoom on
 * its first steps (ZOOM_PAST steps past the first bad one, at most ZOOM_MAX in all). */
#define ZOOM_FRAC 0.05
#define ZOOM_PAST 4
#define ZOOM_MAX 64

struct GsHeatmap {
    GsHeatmapScale scale;
    size_t n_layers, n_cols, n_steps; /* n_layers: the matrix rows (a trace's layers) */
    long *steps;                      /* n_steps recorded training steps */
    double *val;                      /* n_layers x n_cols, row-major by layer index */
    double dmin, dmax; /* log10 of finite positive extremes (RATIO: |log10| max in dmax) */
    int any_finite;
    int special[GS_SPECIAL_COUNT];
    double lo, hi;
    int clamped;             /* GS_RANGE_BELOW | GS_RANGE_ABOVE for the current range */
    size_t n_valued;         /* cells with a place on the scale (finite; > 0 unless FRACTION) */
    size_t n_below, n_above; /* of those, outside [lo, hi] under the current range */
    cairo_surface_t *img;
    /* zoom on the first steps when the run turns non-finite within its first few percent */
    size_t first_bad; /* first recorded step with NaN/Inf in some layer; n_steps when none */
    size_t n_zoom;    /* recorded steps in the zoom (0: no zoom) */
    double *zval;     /* n_layers x n_zoom raw (unbinned) values */
    char (*names)[GS_LAYER_LABEL_MAX + 1]; /* short layer names; NULL when the trace has none */
    cairo_surface_t *zimg;
    const char *top_label;  /* tick label of the top row instead of its number, or NULL */
    const char *axis;       /* row axis title (static text), or NULL */
    const char *axis_short; /* the same when the long one does not fit */
    int exponent_ticks;     /* colour bar ticks as log10 exponents */
    double zoom_min_fonts;  /* the zoom strip is drawn when the cells are wider than this */
    double *edge;           /* n_cols row boundaries marked over the cells (NaN: none), or NULL */
    const char *edge_label; /* its label (static text), or NULL */
};

static void classify(GsHeatmap *hm, double v)
{
    if (gs_trace_is_missing(v))
        hm->special[GS_SPECIAL_MISSING] = 1;
    else if (isnan(v))
        hm->special[GS_SPECIAL_NAN] = 1;
    else if (isinf(v))
        hm->special[v > 0 ? GS_SPECIAL_POSINF : GS_SPECIAL_NEGINF] = 1;
    else if (hm->scale == GS_HM_FRACTION)
        return;
    else if (v <= 0.0)
        hm->special[GS_SPECIAL_ZERO] = 1;
}

static void scan(GsHeatmap *hm)
{
    hm->dmin = INFINITY;
    hm->dmax = -INFINITY;
    hm->any_finite = 0;
    size_t n = hm->n_layers * hm->n_cols;
    for (size_t i = 0; i < n; i++) {
        double v = hm->val[i];
        classify(hm, v);
        if (!isfinite(v))
            continue;
        if (hm->scale == GS_HM_FRACTION) {
            hm->any_finite = 1;
            continue;
        }
        if (v <= 0.0)
            continue;
        double l = log10(v);
        if (hm->scale == GS_HM_RATIO)
            l = fabs(l);
        hm->any_finite = 1;
        if (l < hm->dmin)
            hm->dmin = l;
        if (l > hm->dmax)
            hm->dmax = l;
    }
}

void gs_layer_name_short(const char *name, char *out, size_t n)
{
    size_t len = strlen(name), lim = n - 1;
    if (len <= lim) {
        snprintf(out, n, "%s", name);
        return;
    }
    /* whole trailing components only: a cut falls on a dot, never inside a word or number */
    size_t start = len;
    for (size_t i = len; i-- > 0;)
        if (name[i] == '.') {
            if (len - (i + 1) > lim)
                break;
            start = i + 1;
        }
    if (start == len) {
        /* the last component alone is too long: keep its end (a layer's own name) */
        const char *last = strrchr(name, '.');
        last = last ? last + 1 : name;
        size_t k = strlen(last);
        snprintf(out, n, "%s", k > lim ? last + (k - lim) : last);
        return;
    }
    snprintf(out, n, "%s", name + start);
}

const char *gs_heatmap_layer_label(const GsHeatmap *hm, size_t li)
{
    return hm->names && li < hm->n_layers ? hm->names[li] : NULL;
}

/* Row filler of a dense matrix (GsHeatmapMatrix.val). */
typedef struct {
    const double *val;
    size_t n_steps;
} Dense;

static void dense_row(const void *ctx, size_t row, double *out)
{
    const Dense *d = ctx;
    memcpy(out, d->val + row * d->n_steps, d->n_steps * sizeof *out);
}

GsStatus gs_heatmap_create_matrix(const GsHeatmapMatrix *m, GsHeatmap **out, GsError *err)
{
    assert(m && out && m->max_cols >= 1 && (m->val || m->fill));
    size_t ns = m->n_steps, nl = m->n_rows;
    if (ns == 0 || nl == 0)
        return gs_error(err, GS_ERR_INVALID, "trace has no recorded steps to plot");
    assert(m->steps);
    Dense dense = {m->val, ns};
    GsHeatmapRowFn fill = m->val ? dense_row : m->fill;
    const void *ctx = m->val ? (const void *)&dense : m->ctx;
    GsHeatmap *hm = calloc(1, sizeof *hm);
    if (!hm)
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the heatmap");
    hm->scale = m->scale;
    hm->n_layers = nl;
    hm->n_steps = ns;
    hm->n_cols = gs_bin_count(ns, m->max_cols);
    hm->top_label = m->top_label;
    hm->axis = m->axis;
    hm->axis_short = m->axis_short ? m->axis_short : m->axis;
    hm->exponent_ticks = m->exponent_ticks;
    hm->zoom_min_fonts = 20.0;
    hm->steps = malloc(ns * sizeof *hm->steps);
    hm->val = malloc(nl * hm->n_cols * sizeof *hm->val);
    /* One row's raw values, and each row's first steps in case they get a zoom. */
    size_t nz_max = ns < ZOOM_MAX ? ns : ZOOM_MAX;
    double *row = malloc(ns * sizeof *row);
    double *zraw = malloc(nl * nz_max * sizeof *zraw);
    if (!hm->steps || !hm->val || !row || !zraw) {
        free(row);
        free(zraw);
        gs_heatmap_destroy(hm);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for a %zu x %zu heatmap", nl, ns);
    }
    memcpy(hm->steps, m->steps, ns * sizeof *hm->steps);
    hm->first_bad = ns;
    for (size_t li = 0; li < nl; li++) {
        fill(ctx, li, row);
        for (size_t i = 0; i < hm->first_bad; i++)
            if (!isfinite(row[i]) && !gs_trace_is_missing(row[i])) {
                hm->first_bad = i; /* the earliest step with a NaN/Inf in some row */
                break;
            }
        gs_bin_row(row, ns, hm->n_cols, m->bin, hm->val + li * hm->n_cols);
        memcpy(zraw + li * nz_max, row, nz_max * sizeof *row);
    }
    free(row);
    /* Binned into a few hundred columns, the finite steps before an early NaN are a sliver:
     * keep them unbinned for a zoom, so the cause stays visible. */
    if (hm->first_bad >= 1 && hm->first_bad < ns && hm->first_bad + ZOOM_PAST <= ZOOM_MAX &&
        (double)hm->first_bad <= ZOOM_FRAC * (double)ns) {
        hm->n_zoom = hm->first_bad + ZOOM_PAST < ns ? hm->first_bad + ZOOM_PAST : ns;
        hm->zval = malloc(nl * hm->n_zoom * sizeof *hm->zval);
        if (!hm->zval) {
            free(zraw);
            gs_heatmap_destroy(hm);
            return gs_error(err, GS_ERR_NOMEM, "out of memory for the heatmap");
        }
        for (size_t li = 0; li < nl; li++)
            memcpy(hm->zval + li * hm->n_zoom, zraw + li * nz_max, hm->n_zoom * sizeof *zraw);
    }
    free(zraw);
    if (m->row_names) {
        hm->names = calloc(nl, sizeof *hm->names);
        if (!hm->names) {
            gs_heatmap_destroy(hm);
            return gs_error(err, GS_ERR_NOMEM, "out of memory for the heatmap");
        }
        for (size_t li = 0; li < nl; li++) {
            const char *nm = m->row_names[li];
            size_t cap = m->name_max && m->name_max < GS_LAYER_LABEL_MAX ? m->name_max + 1
                                                                         : sizeof hm->names[li];
            if (nm)
                gs_layer_name_short(nm, hm->names[li], cap);
            else
                snprintf(hm->names[li], sizeof hm->names[li], "%zu", li + 1);
        }
    }
    scan(hm);
    hm->img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)hm->n_cols, (int)nl);
    if (hm->n_zoom)
        hm->zimg = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)hm->n_zoom, (int)nl);
    if (cairo_surface_status(hm->img) != CAIRO_STATUS_SUCCESS ||
        (hm->zimg && cairo_surface_status(hm->zimg) != CAIRO_STATUS_SUCCESS)) {
        size_t nc = hm->n_cols;
        gs_heatmap_destroy(hm);
        return gs_error(err, GS_ERR_NOMEM, "cannot create a %zu x %zu heatmap image", nc, nl);
    }
    double lo, hi;
    int cl;
    gs_heatmap_auto_range(hm, &lo, &hi, &cl);
    gs_heatmap_set_range(hm, lo, hi);
    *out = hm;
    return GS_OK;
}

/* Row filler of a trace column: layer `row`'s values (RATIO: over the output layer's). */
typedef struct {
    const GsTrace *t;
    GsCol col;
    int ratio;
} TraceRows;

static void trace_row(const void *ctx, size_t li, double *out)
{
    const TraceRows *tr = ctx;
    size_t ns = gs_trace_n_steps(tr->t), nl = gs_trace_n_layers(tr->t);
    for (size_t i = 0; i < ns; i++) {
        double v = gs_trace_get(tr->t, i, li, tr->col);
        if (tr->ratio) {
            double o = gs_trace_get(tr->t, i, nl - 1, tr->col);
            v = gs_trace_is_missing(v) || gs_trace_is_missing(o) ? v : v / o;
        }
        out[i] = v;
    }
}

GsStatus gs_heatmap_create(const GsHeatmapSpec *spec, GsHeatmap **out, GsError *err)
{
    return gs_heatmap_create_short(spec, 0, NULL, out, err);
}

GsStatus gs_heatmap_create_short(const GsHeatmapSpec *spec, size_t name_max, const char *row_axis,
                                 GsHeatmap **out, GsError *err)
{
    assert(spec && spec->trace && out && spec->max_cols >= 1);
    const GsTrace *t = spec->trace;
    size_t ns = gs_trace_n_steps(t), nl = gs_trace_n_layers(t);
    if (ns == 0 || nl == 0)
        return gs_error(err, GS_ERR_INVALID, "trace has no recorded steps to plot");
    long *steps = malloc(ns * sizeof *steps);
    const char **names = malloc(nl * sizeof *names);
    if (!steps || !names) {
        free(steps);
        free(names);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for a %zu x %zu heatmap", nl, ns);
    }
    for (size_t i = 0; i < ns; i++)
        steps[i] = gs_trace_step(t, i);
    int named = 0;
    for (size_t li = 0; li < nl; li++) {
        names[li] = gs_trace_layer_name(t, li);
        named |= names[li] != NULL;
    }
    TraceRows tr = {t, spec->metric, spec->scale == GS_HM_RATIO};
    GsHeatmapMatrix m = {
        .n_rows = nl,
        .n_steps = ns,
        .steps = steps,
        .fill = trace_row,
        .ctx = &tr,
        .row_names = named ? names : NULL,
        .name_max = name_max,
        .top_label = "out",
        /* short panels: the "out" tick already says which end is which */
        .axis = row_axis ? row_axis : "layer (1 = input side)",
        .axis_short = row_axis ? row_axis : "layer",
        .scale = spec->scale,
        .bin = spec->bin,
        .max_cols = spec->max_cols,
    };
    GsStatus st = gs_heatmap_create_matrix(&m, out, err);
    free(steps);
    free(names);
    return st;
}

void gs_heatmap_destroy(GsHeatmap *hm)
{
    if (!hm)
        return;
    if (hm->img)
        cairo_surface_destroy(hm->img);
    if (hm->zimg)
        cairo_surface_destroy(hm->zimg);
    free(hm->zval);
    free(hm->edge);
    free(hm->names);
    free(hm->steps);
    free(hm->val);
    free(hm);
}

void gs_heatmap_auto_range(const GsHeatmap *hm, double *lo, double *hi, int *clamped)
{
    *clamped = 0;
    if (hm->scale == GS_HM_FRACTION) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    if (!hm->any_finite) {
        *lo = hm->scale == GS_HM_RATIO ? -1.0 : -1.0;
        *hi = hm->scale == GS_HM_RATIO ? 1.0 : 0.0;
        return;
    }
    if (hm->scale == GS_HM_RATIO) {
        double m = ceil(hm->dmax - 1e-9);
        if (m < 1.0)
            m = 1.0;
        if (m > MAX_DECADES) {
            m = MAX_DECADES;
            *clamped = 1;
        }
        *lo = -m;
        *hi = m;
        return;
    }
    double h = ceil(hm->dmax - 1e-9), l = floor(hm->dmin + 1e-9);
    if (l < h - MAX_DECADES) {
        l = h - MAX_DECADES;
        *clamped = 1;
    }
    if (h <= l)
        h = l + 1.0;
    *lo = l;
    *hi = h;
}

GsRgb gs_heatmap_color(const GsHeatmap *hm, double v)
{
    if (gs_trace_is_missing(v))
        return gs_cmap_special(GS_SPECIAL_MISSING);
    if (isnan(v))
        return gs_cmap_special(GS_SPECIAL_NAN);
    if (isinf(v))
        return gs_cmap_special(v > 0 ? GS_SPECIAL_POSINF : GS_SPECIAL_NEGINF);
    switch (hm->scale) {
    case GS_HM_FRACTION: return gs_cmap_div((v - hm->lo) / (hm->hi - hm->lo));
    case GS_HM_RATIO:
        if (v <= 0.0)
            return gs_cmap_special(GS_SPECIAL_ZERO);
        return gs_cmap_div(log10(v) / hm->hi);
    case GS_HM_LOG: break;
    }
    if (v <= 0.0)
        return gs_cmap_special(GS_SPECIAL_ZERO);
    return gs_cmap_seq((log10(v) - hm->lo) / (hm->hi - hm->lo));
}

/* log10 position of a cell value on the scale (|log10| is not used: RATIO is signed). */
static int scale_pos(const GsHeatmap *hm, double v, double *pos)
{
    if (!isfinite(v))
        return 0;
    if (hm->scale == GS_HM_FRACTION) {
        *pos = v;
        return 1;
    }
    if (v <= 0.0)
        return 0;
    *pos = log10(v);
    return 1;
}

/* One pixel per cell of an n_layers x nc value array, layer 1 the bottom image row. */
static void paint(const GsHeatmap *hm, cairo_surface_t *img, const double *val, size_t nc)
{
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (size_t li = 0; li < hm->n_layers; li++) {
        uint32_t *px = (uint32_t *)(void *)(data + (size_t)stride * (hm->n_layers - 1 - li));
        const double *v = val + li * nc;
        for (size_t c = 0; c < nc; c++)
            px[c] = gs_cmap_pack(gs_heatmap_color(hm, v[c]));
    }
    cairo_surface_mark_dirty(img);
}

void gs_heatmap_set_range(GsHeatmap *hm, double lo, double hi)
{
    assert(hi > lo);
    hm->lo = lo;
    hm->hi = hi;
    hm->n_valued = hm->n_below = hm->n_above = 0;
    /* RATIO is drawn symmetric in [-hi, hi]; lo is -hi there */
    double blo = hm->scale == GS_HM_RATIO ? -hi : lo;
    for (size_t i = 0; i < hm->n_layers * hm->n_cols; i++) {
        double p;
        if (!scale_pos(hm, hm->val[i], &p))
            continue;
        hm->n_valued++;
        /* a hair of tolerance: a value exactly on a decade edge is in range */
        if (p < blo - 1e-9)
            hm->n_below++;
        else if (p > hi + 1e-9)
            hm->n_above++;
    }
    hm->clamped = (hm->n_below ? GS_RANGE_BELOW : 0) | (hm->n_above ? GS_RANGE_ABOVE : 0);
    paint(hm, hm->img, hm->val, hm->n_cols);
    if (hm->zimg)
        paint(hm, hm->zimg, hm->zval, hm->n_zoom);
}

void gs_heatmap_out_of_range(const GsHeatmap *hm, size_t *n_valued, size_t *n_below,
                             size_t *n_above)
{
    *n_valued = hm->n_valued;
    *n_below = hm->n_below;
    *n_above = hm->n_above;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Value at fraction q (0..1) of a sorted array (nearest rank, rounding toward the middle). */
static double quantile(const double *v, size_t n, double q)
{
    double k = q * (double)(n - 1);
    size_t i = q < 0.5 ? (size_t)ceil(k - 1e-9) : (size_t)floor(k + 1e-9);
    return v[i < n ? i : n - 1];
}

int gs_heatmap_gradients_healthy(const GsFindings *fs)
{
    if (!fs)
        return 0;
    for (size_t i = 0; i < fs->n; i++) {
        GsFindingKind k = fs->items[i].kind;
        if (fs->items[i].severity >= GS_SEV_WARNING &&
            (k == GS_FIND_VANISHING || k == GS_FIND_EXPLODING || k == GS_FIND_NONFINITE))
            return 0;
    }
    return 1;
}

GsStatus gs_heatmap_share_range(GsHeatmap *const *hms, size_t n, const int *healthy, GsError *err)
{
    assert(n >= 1);
    if (hms[0]->scale != GS_HM_LOG) {
        /* ratio and fraction scales are fixed by their meaning: union of the automatic ones */
        double lo, hi;
        int cl;
        gs_heatmap_auto_range(hms[0], &lo, &hi, &cl);
        for (size_t i = 1; i < n; i++) {
            double l2, h2;
            gs_heatmap_auto_range(hms[i], &l2, &h2, &cl);
            if (hms[i]->any_finite) {
                lo = fmin(lo, l2);
                hi = fmax(hi, h2);
            }
        }
        for (size_t i = 0; i < n; i++)
            gs_heatmap_set_range(hms[i], lo, hi);
        return GS_OK;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += hms[i]->n_layers * hms[i]->n_cols;
    double *v = malloc((total ? total : 1) * sizeof *v);
    size_t *start = malloc((n + 1) * sizeof *start);
    if (!v || !start) {
        free(v);
        free(start);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for a shared colour scale");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        start[i] = m;
        for (size_t k = 0; k < hms[i]->n_layers * hms[i]->n_cols; k++) {
            double x = hms[i]->val[k];
            if (isfinite(x) && x > 0)
                v[m++] = log10(x);
        }
        qsort(v + start[i], m - start[i], sizeof *v, cmp_double);
    }
    start[n] = m;
    double lo, hi;
    if (m == 0) {
        int cl;
        gs_heatmap_auto_range(hms[0], &lo, &hi, &cl);
    } else {
        /* each run's 90th percentile, before the pooled sort reorders v */
        double *q90 = malloc(n * sizeof *q90);
        if (!q90) {
            free(v);
            free(start);
            return gs_error(err, GS_ERR_NOMEM, "out of memory for a shared colour scale");
        }
        for (size_t i = 0; i < n; i++) {
            size_t k = start[i + 1] - start[i];
            q90[i] = k ? quantile(v + start[i], k, 0.90) : (double)NAN;
        }
        qsort(v, m, sizeof *v, cmp_double);
        lo = floor(quantile(v, m, GS_RANGE_LOW_Q) + 1e-9);
        hi = ceil(quantile(v, m, GS_RANGE_HIGH_Q) - 1e-9);
        /* One run racing to 1e17 must not push a healthy one into the bottom colours
         * (which read as "vanished"): every healthy run's upper part (90th percentile) sits
         * in the upper half of the bar; what lies above is drawn in the top colour and
         * counted. Only runs the caller vouches for set this limit: a vanished run beside a
         * healthy one is low for real and must not push the healthy one off the top. */
        double cap = hi;
        for (size_t i = 0; i < n; i++)
            if (healthy && healthy[i] && !isnan(q90[i]))
                cap = fmin(cap, lo + 2.0 * fmax(q90[i] - lo, 1.0));
        free(q90);
        hi = ceil(fmin(cap, hi) - 1e-9);
        if (hi - lo < GS_RANGE_MIN_DECADES) {
            /* at least GS_RANGE_MIN_DECADES, kept from the top down: data spread over a decade
             * or two (a healthy run) then sits in the upper colours, and only values decades
             * below the largest are drawn in the dark ones that read as "vanished" */
            lo = hi - GS_RANGE_MIN_DECADES;
        }
        if (lo < hi - MAX_DECADES)
            lo = hi - MAX_DECADES;
    }
    free(v);
    free(start);
    for (size_t i = 0; i < n; i++)
        gs_heatmap_set_range(hms[i], lo, hi);
    return GS_OK;
}

void gs_heatmap_range(const GsHeatmap *hm, double *lo, double *hi, int *clamped)
{
    *lo = hm->lo;
    *hi = hm->hi;
    if (clamped)
        *clamped = hm->clamped;
}

size_t gs_heatmap_n_cols(const GsHeatmap *hm)
{
    return hm->n_cols;
}
size_t gs_heatmap_n_layers(const GsHeatmap *hm)
{
    return hm->n_layers;
}

double gs_heatmap_value(const GsHeatmap *hm, size_t c, size_t li)
{
    assert(c < hm->n_cols && li < hm->n_layers);
    return hm->val[li * hm->n_cols + c];
}

int gs_heatmap_has_finite(const GsHeatmap *hm)
{
    return hm->any_finite;
}

int gs_heatmap_has_special(const GsHeatmap *hm, GsSpecial which)
{
    return which < GS_SPECIAL_COUNT && hm->special[which];
}

long gs_heatmap_step_first(const GsHeatmap *hm)
{
    return hm->steps[0];
}
long gs_heatmap_step_last(const GsHeatmap *hm)
{
    return hm->steps[hm->n_steps - 1];
}

/* Fractional recorded-step index of training step s (linear between recorded steps). */
static double step_index(const GsHeatmap *hm, double s)
{
    size_t n = hm->n_steps;
    if (n == 1)
        return s - (double)hm->steps[0];
    if (s <= (double)hm->steps[0]) {
        double d = (double)(hm->steps[1] - hm->steps[0]);
        return (s - (double)hm->steps[0]) / d;
    }
    if (s >= (double)hm->steps[n - 1]) {
        double d = (double)(hm->steps[n - 1] - hm->steps[n - 2]);
        return (double)(n - 1) + (s - (double)hm->steps[n - 1]) / d;
    }
    size_t a = 0, b = n - 1; /* steps[a] <= s < steps[b] */
    while (b - a > 1) {
        size_t mid = a + (b - a) / 2;
        if ((double)hm->steps[mid] <= s)
            a = mid;
        else
            b = mid;
    }
    return (double)a + (s - (double)hm->steps[a]) / (double)(hm->steps[b] - hm->steps[a]);
}

double gs_heatmap_step_x(const GsHeatmap *hm, GsRect r, double s)
{
    return r.x + r.w * (step_index(hm, s) + 0.5) / (double)hm->n_steps;
}

static void draw_image(cairo_t *cr, cairo_surface_t *img, size_t nc, size_t nl, GsRect r)
{
    cairo_save(cr);
    cairo_rectangle(cr, r.x, r.y, r.w, r.h);
    cairo_clip(cr);
    cairo_translate(cr, r.x, r.y);
    cairo_scale(cr, r.w / (double)nc, r.h / (double)nl);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_paint(cr);
    cairo_restore(cr);
}

/* Diagonal hatching over the missing cells of an n_layers x nc value array drawn into r, so
 * "no value" reads as absent rather than as one more colour. */
static void hatch_missing(cairo_t *cr, const GsHeatmap *hm, const double *val, size_t nc, GsRect r)
{
    if (!hm->special[GS_SPECIAL_MISSING])
        return;
    size_t nl = hm->n_layers;
    double cw = r.w / (double)nc, rh = r.h / (double)nl;
    cairo_save(cr);
    int any = 0;
    for (size_t li = 0; li < nl; li++) {
        const double *v = val + li * nc;
        for (size_t c = 0; c < nc;) {
            if (!gs_trace_is_missing(v[c])) {
                c++;
                continue;
            }
            size_t e = c;
            while (e < nc && gs_trace_is_missing(v[e]))
                e++;
            cairo_rectangle(cr, r.x + cw * (double)c, r.y + rh * (double)(nl - 1 - li),
                            cw * (double)(e - c), rh);
            any = 1;
            c = e;
        }
    }
    if (any) {
        cairo_clip(cr);
        double gap = fmax(4.0, fmin(r.w, r.h) / 40.0);
        cairo_set_source_rgb(cr, 0.32, 0.32, 0.32);
        cairo_set_line_width(cr, fmax(1.0, gap * 0.22));
        for (double d = -r.h; d < r.w; d += gap) {
            cairo_move_to(cr, r.x + d, r.y + r.h);
            cairo_line_to(cr, r.x + d + r.h, r.y);
        }
        cairo_stroke(cr);
    }
    cairo_new_path(cr);
    cairo_restore(cr);
}

void gs_heatmap_draw_cells(cairo_t *cr, const GsHeatmap *hm, GsRect r)
{
    draw_image(cr, hm->img, hm->n_cols, hm->n_layers, r);
    hatch_missing(cr, hm, hm->val, hm->n_cols, r);
}

GsStatus gs_heatmap_mark_below(GsHeatmap *hm, double threshold, const char *label)
{
    size_t nc = hm->n_cols, nl = hm->n_layers;
    double *e = hm->edge ? hm->edge : malloc(nc * sizeof *e);
    if (!e)
        return GS_ERR_NOMEM;
    for (size_t c = 0; c < nc; c++) {
        e[c] = NAN;
        for (size_t r = nl; r-- > 0;) {
            double v = hm->val[r * nc + c];
            if (gs_trace_is_missing(v))
                continue; /* beyond this step's T */
            if (isnan(v))
                break; /* no size to compare */
            if (v < threshold) {
                e[c] = (double)(r + 1);
                break;
            }
        }
    }
    hm->edge = e;
    hm->edge_label = label;
    return GS_OK;
}

double gs_heatmap_edge(const GsHeatmap *hm, size_t c)
{
    return hm->edge && c < hm->n_cols ? hm->edge[c] : (double)NAN;
}

/* The marked boundary over cells rect c: a dashed step line (white under dark, as the finding
 * outlines), labelled at its right end. */
static void draw_edge(cairo_t *cr, const GsHeatmap *hm, GsRect c, double font)
{
    size_t nc = hm->n_cols, nl = hm->n_layers;
    double cw = c.w / (double)nc, lw = fmax(1.0, font * 0.12);
    cairo_save(cr);
    cairo_rectangle(cr, c.x, c.y, c.w, c.h);
    cairo_clip(cr);
    int pen = 0;
    size_t last = nc;
    for (size_t k = 0; k < nc; k++) {
        double e = hm->edge[k];
        if (isnan(e)) {
            pen = 0;
            continue;
        }
        double y = c.y + c.h * (1.0 - e / (double)nl), x0 = c.x + cw * (double)k;
        if (pen)
            cairo_line_to(cr, x0, y);
        else
            cairo_move_to(cr, x0, y);
        cairo_line_to(cr, x0 + cw, y);
        pen = 1;
        last = k;
    }
    cairo_set_line_width(cr, lw * 2.6);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_stroke_preserve(cr);
    double dash[2] = {lw * 5, lw * 3};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_line_width(cr, lw * 1.3);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_stroke(cr);
    cairo_restore(cr);
    if (!hm->edge_label || last == nc)
        return;
    /* the label on a light box above the line's right end, inside the cells */
    GsTextStyle st = gs_text_style(font * 0.72);
    double tw = fmin(gs_text_width(cr, &st, hm->edge_label), c.w - font * 0.6);
    double y = c.y + c.h * (1.0 - hm->edge[last] / (double)nl);
    double ty = fmax(c.y + font * 0.2, y - font * 1.6); /* clear of the line's small steps */
    double tx = c.x + c.w - font * 0.3 - tw;
    cairo_save(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
    cairo_rectangle(cr, tx - font * 0.15, ty - font * 0.05, tw + font * 0.3, font * 0.95);
    cairo_fill(cr);
    cairo_restore(cr);
    gs_text_draw(cr, &st, tx, ty, 0, 0, 0, c.w - font * 0.6, hm->edge_label);
}

void gs_heatmap_set_zoom_min(GsHeatmap *hm, double fonts)
{
    hm->zoom_min_fonts = fonts;
}

size_t gs_heatmap_zoom_steps(const GsHeatmap *hm)
{
    return hm->n_zoom;
}

size_t gs_heatmap_first_nonfinite(const GsHeatmap *hm)
{
    return hm->first_bad;
}

/* Row ticks at row centres: integers 1..nl, the top row labelled top (the output layer's
 * "out") when top is not NULL. */
static void layer_ticks(GsAxisTicks *t, size_t nl, double row_h, double font, const char *top)
{
    int max_n = (int)(row_h * (double)nl / (font * 1.5));
    if (max_n < 2)
        max_n = 2;
    if (max_n > 30)
        max_n = 30;
    gs_axis_ticks_linear(t, 1, (double)nl, max_n, 1);
    size_t k = 0;
    double min_gap = font * 1.5;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i] < 1 || t->v[i] > (double)nl)
            continue;
        if (top && t->v[i] == (double)nl)
            continue; /* re-added as "out" below */
        if (top && ((double)nl - t->v[i]) * row_h < min_gap)
            continue;
        t->v[k] = t->v[i];
        memcpy(t->label[k], t->label[i], sizeof t->label[k]);
        k++;
    }
    if (top && k < 32 && nl > 1) {
        t->v[k] = (double)nl;
        snprintf(t->label[k], sizeof t->label[k], "%s", top);
        k++;
    } else if (top && nl == 1 && k < 32) {
        t->v[k] = 1;
        snprintf(t->label[k], sizeof t->label[k], "1");
        k++;
    }
    t->n = k;
}

/* Dashed outlines of the warning/error findings' layer x step regions in cells rect c, whose
 * x maps recorded-step index i to c.x + c.w * (i - i0 + 0.5) / n (steps i0..i0+n-1 shown).
 * An outline narrower than a few line widths would hide the very columns it points at (a
 * run with one finite step before NaN): those keep only their top and bottom edges. */
static void draw_outlines(cairo_t *cr, const GsHeatmap *hm, GsRect c, size_t i0, size_t n,
                          double font, const GsFindings *findings)
{
    size_t nl = hm->n_layers;
    double lw = fmax(1.0, font * 0.12), col_w = c.w / (double)n;
    cairo_save(cr);
    cairo_rectangle(cr, c.x, c.y, c.w, c.h);
    cairo_clip(cr);
    for (size_t i = 0; i < findings->n; i++) {
        const GsFinding *f = &findings->items[i];
        if (f->severity < GS_SEV_WARNING)
            continue;
        int l0 = f->layer_first < 1 ? 1 : f->layer_first;
        int l1 = f->layer_last > (int)nl ? (int)nl : f->layer_last;
        if (l1 < l0)
            continue;
        double a = step_index(hm, (double)f->step_first) - (double)i0;
        double b = step_index(hm, (double)f->step_last) - (double)i0;
        double x0 = fmax(c.x + col_w * a, c.x), x1 = fmin(c.x + col_w * (b + 1.0), c.x + c.w);
        if (x1 <= x0)
            continue;
        double y0 = c.y + c.h * (double)(nl - (size_t)l1) / (double)nl;
        double y1 = c.y + c.h * (double)(nl - (size_t)l0 + 1) / (double)nl;
        double in = lw * 1.5; /* keep the outline inside the cells area */
        int narrow = x1 - x0 < lw * 8;
        if (narrow) {
            cairo_move_to(cr, x0, y0 + in);
            cairo_line_to(cr, x1, y0 + in);
            cairo_move_to(cr, x0, y1 - in);
            cairo_line_to(cr, x1, y1 - in);
        } else {
            cairo_rectangle(cr, x0 + in, y0 + in, x1 - x0 - 2 * in, y1 - y0 - 2 * in);
        }
        cairo_set_line_width(cr, lw * 2.6);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_stroke_preserve(cr);
        double dash[2] = {lw * 5, lw * 3};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_line_width(cr, lw * 1.3);
        if (f->severity == GS_SEV_ERROR)
            cairo_set_source_rgb(cr, 0.75, 0.0, 0.0);
        else
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    cairo_restore(cr);
}

/* Layer names left of cells rect p (every row when rows are tall enough, else every k-th,
 * the output layer always), and the rotated axis title at the panel's left edge. */
static void draw_names(cairo_t *cr, const GsHeatmap *hm, GsRect p, GsRect r, double font, double lm)
{
    size_t nl = hm->n_layers;
    double row_h = p.h / (double)nl;
    size_t every = 1;
    while (row_h * (double)every < font * 1.05)
        every++;
    GsTextStyle st = gs_text_style(font * 0.78);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, fmax(1.0, font * 0.06));
    for (size_t li = nl; li-- > 0;) {
        /* counted from the output layer down, so the last layer is always labelled */
        if ((nl - 1 - li) % every != 0)
            continue;
        double y = p.y + p.h - ((double)li + 0.5) * row_h;
        cairo_move_to(cr, p.x - font * 0.35, y);
        cairo_line_to(cr, p.x, y);
        cairo_stroke(cr);
        gs_text_draw(cr, &st, p.x - font * 0.55, y, 1, 0.5, 0, lm - font * 2.0, hm->names[li]);
    }
    GsTextStyle ls = gs_text_style(font * 0.9);
    if (hm->axis_short)
        gs_text_draw(cr, &ls, r.x + font * 0.55, p.y + p.h / 2, 0.5, 0.5, -1.5707963267948966, p.h,
                     hm->axis_short);
}

void gs_heatmap_draw(cairo_t *cr, const GsHeatmap *hm, GsRect r, double font, const char *title,
                     const GsFindings *findings)
{
    cairo_save(cr);
    double th = title ? gs_panel_title(cr, r, font, title) : 0.0;
    /* named layers: the margin widens for the names (up to 40% of the panel) */
    double lm = gs_axes_left_margin(font);
    GsTextStyle ns_st = gs_text_style(font * 0.78);
    if (hm->names) {
        double w = 0;
        for (size_t li = 0; li < hm->n_layers; li++)
            w = fmax(w, gs_text_width(cr, &ns_st, hm->names[li]));
        lm = fmin(fmax(lm, w + font * 2.6), r.w * 0.4);
    }
    GsRect c = {r.x + lm, r.y + th, r.w - lm - font * 0.6, r.h - th - gs_axes_bottom_margin(font)};
    if (c.w < 4 || c.h < 4) {
        cairo_restore(cr);
        return;
    }
    size_t nl = hm->n_layers, ns = hm->n_steps;
    GsAxisTicks yt, xt;
    layer_ticks(&yt, nl, c.h / (double)nl, font, hm->top_label);
    const GsAxisTicks *ytp = hm->names ? NULL : &yt; /* names are drawn below instead */
    const char *ylab = hm->axis;
    GsTextStyle ys = gs_text_style(font * 0.9);
    if (ylab && gs_text_width(cr, &ys, ylab) > c.h)
        ylab = hm->axis_short;

    /* zoom strip on the left: the first steps one column each, up to just past the NaN */
    GsRect z = {0, 0, 0, 0};
    if (hm->n_zoom && c.w > font * hm->zoom_min_fonts) {
        double zw = fmin(fmax(c.w * 0.2, font * 7), c.w * 0.3);
        z = (GsRect){c.x, c.y, zw, c.h};
        double gap = font * 1.2;
        c.x += zw + gap;
        c.w -= zw + gap;
    }
    gs_heatmap_draw_cells(cr, hm, c);
    if (hm->edge)
        draw_edge(cr, hm, c, font);
    double s0 = (double)hm->steps[0], s1 = (double)hm->steps[ns - 1];
    double ds = ns > 1 ? (s1 - s0) / (double)(ns - 1) : 1.0;
    double xlo = s0 - 0.5 * ds, xhi = s1 + 0.5 * ds;
    int max_x = (int)(c.w / (font * 5.0));
    gs_axis_ticks_linear(&xt, s0, s1, max_x < 4 ? 4 : max_x, 1);
    gs_axes_draw(cr, c, font, &xt, xlo, xhi, z.w > 0 ? NULL : ytp, 0.5, (double)nl + 0.5,
                 "training step", z.w > 0 || hm->names ? NULL : ylab);
    if (findings)
        draw_outlines(cr, hm, c, 0, ns, font, findings);

    if (z.w > 0) {
        size_t nz = hm->n_zoom;
        draw_image(cr, hm->zimg, nz, nl, z);
        hatch_missing(cr, hm, hm->zval, nz, z);
        /* ticks at recorded steps (the zoom is unbinned); at least first and last */
        GsAxisTicks zt = {0};
        size_t every = 1;
        while (nz / every + 1 > (size_t)fmax(2.0, z.w / (font * 2.8)))
            every++;
        for (size_t i = 0; i < nz && zt.n < 32; i += every) {
            zt.v[zt.n] = (double)i;
            snprintf(zt.label[zt.n], sizeof zt.label[zt.n], "%ld", hm->steps[i]);
            zt.n++;
        }
        double col_w = z.w / (double)nz;
        if (zt.n && (size_t)zt.v[zt.n - 1] != nz - 1) {
            /* the last zoomed step is always labelled; it replaces a tick too close to it */
            if (((double)(nz - 1) - zt.v[zt.n - 1]) * col_w < font * 2.8)
                zt.n--;
            zt.v[zt.n] = (double)(nz - 1);
            snprintf(zt.label[zt.n], sizeof zt.label[zt.n], "%ld", hm->steps[nz - 1]);
            zt.n++;
        }
        gs_axes_draw(cr, z, font, &zt, -0.5, (double)nz - 0.5, ytp, 0.5, (double)nl + 0.5,
                     "first steps (zoom)", hm->names ? NULL : ylab);
        if (findings)
            draw_outlines(cr, hm, z, 0, nz, font, findings);
    }
    if (hm->names)
        draw_names(cr, hm, z.w > 0 ? z : c, r, font, lm);
    cairo_restore(cr);
}

/* Range flags and out-of-range shares summed over the heatmaps sharing one scale. */
static int range_flags(const GsHeatmap *const *hms, size_t n, double *below, double *above)
{
    size_t nv = 0, nb = 0, na = 0;
    int fl = 0;
    for (size_t i = 0; i < n; i++) {
        nv += hms[i]->n_valued;
        nb += hms[i]->n_below;
        na += hms[i]->n_above;
        fl |= hms[i]->clamped;
    }
    if (below)
        *below = nv ? (double)nb / (double)nv : 0.0;
    if (above)
        *above = nv ? (double)na / (double)nv : 0.0;
    return fl;
}

/* A filled triangle under (dir = 1) or over (dir = -1) the bar edge at y. */
static void bar_triangle(cairo_t *cr, GsRect b, double y, double tri, int dir, GsRgb c, double font)
{
    gs_set_rgb(cr, c);
    cairo_move_to(cr, b.x, y);
    cairo_line_to(cr, b.x + b.w, y);
    cairo_line_to(cr, b.x + b.w / 2, y + dir * tri);
    cairo_close_path(cr);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, fmax(1.0, font * 0.06));
    cairo_stroke(cr);
}

void gs_colorbar_draw(cairo_t *cr, const GsHeatmap *const *hms, size_t n, GsRect r, double font,
                      const char *label)
{
    const GsHeatmap *hm = hms[0];
    cairo_save(cr);
    int fl = range_flags(hms, n, NULL, NULL);
    double tri = font * 0.9;
    double tlo = fl & GS_RANGE_BELOW ? tri : 0.0, thi = fl & GS_RANGE_ABOVE ? tri : 0.0;
    GsRect b = {r.x + font * 0.3, r.y + font * 0.6 + thi, font * 1.2, r.h - font * 1.2 - tlo - thi};
    if (b.h < font * 2) {
        cairo_restore(cr);
        return;
    }
    double blo = hm->scale == GS_HM_RATIO ? -hm->hi : hm->lo;
    const int nsteps = 256;
    for (int i = 0; i < nsteps; i++) {
        double t = (i + 0.5) / nsteps; /* bottom to top */
        double lv = blo + t * (hm->hi - blo);
        double v = hm->scale == GS_HM_FRACTION ? lv : pow(10.0, lv);
        gs_set_rgb(cr, gs_heatmap_color(hm, v));
        double y0 = b.y + b.h - (double)(i + 1) * b.h / nsteps;
        cairo_rectangle(cr, b.x, y0, b.w, b.h / nsteps + 0.6); /* overlap hides seams */
        cairo_fill(cr);
    }
    /* out-of-range ends: the colour those cells take, pointing away from the bar */
    if (tlo > 0)
        bar_triangle(cr, b, b.y + b.h, tri, 1, gs_heatmap_color(hm, pow(10.0, blo)), font);
    if (thi > 0)
        bar_triangle(cr, b, b.y, tri, -1, gs_heatmap_color(hm, pow(10.0, hm->hi)), font);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, fmax(1.0, font * 0.06));
    cairo_rectangle(cr, b.x, b.y, b.w, b.h);
    cairo_stroke(cr);

    GsAxisTicks t;
    int max_n = (int)(b.h / (font * 1.5));
    if (max_n < 2)
        max_n = 2;
    if (hm->scale == GS_HM_FRACTION)
        gs_axis_ticks_linear(&t, hm->lo, hm->hi, max_n > 6 ? 6 : max_n, 0);
    else
        gs_axis_ticks_decades(&t, blo, hm->hi, max_n);
    GsTextStyle st = gs_text_style(font * 0.82);
    double label_w = 0.0;
    for (size_t i = 0; i < t.n; i++) {
        double y = b.y + b.h - (t.v[i] - blo) / (hm->hi - blo) * b.h;
        cairo_move_to(cr, b.x + b.w, y);
        cairo_line_to(cr, b.x + b.w + font * 0.3, y);
        cairo_stroke(cr);
        char lab[64];
        if (hm->exponent_ticks && hm->scale != GS_HM_FRACTION)
            snprintf(lab, sizeof lab, "%.0f", t.v[i] == 0.0 ? 0.0 : t.v[i]); /* no "-0" */
        else if (hm->scale == GS_HM_RATIO && t.v[i] == 0.0)
            snprintf(lab, sizeof lab, "1");
        else
            snprintf(lab, sizeof lab, "%.31s", t.label[i]);
        gs_text_draw(cr, &st, b.x + b.w + font * 0.45, y, 0, 0.5, 0, 0, lab);
        label_w = fmax(label_w, gs_text_width(cr, &st, lab));
    }
    if (label) {
        /* rotated, right next to the tick labels so it reads as the bar's own title */
        GsTextStyle ls = gs_text_style(font * 0.85);
        double lx = fmin(b.x + b.w + font * 0.45 + label_w + font * 0.4, r.x + r.w - font * 1.2);
        /* a short bar drops the parenthesis ("(log scale)": the 10ⁿ ticks say it) first */
        char lab[160];
        snprintf(lab, sizeof lab, "%s", label);
        char *paren = strstr(lab, " (");
        if (paren && gs_text_width(cr, &ls, lab) > b.h)
            *paren = '\0';
        gs_text_draw(cr, &ls, lx, b.y + b.h / 2, 0.5, 0, -1.5707963267948966, b.h, lab);
    }
    cairo_restore(cr);
}

static void swatch(cairo_t *cr, double x, double y, double s, GsRgb c, double font)
{
    gs_set_rgb(cr, c);
    cairo_rectangle(cr, x, y, s * 1.3, s);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, fmax(1.0, font * 0.06));
    cairo_stroke(cr);
}

/* Share of cells as legend text: "<1%" for a few, whole percents otherwise. */
static void fmt_share(char *buf, size_t n, double share, const char *where)
{
    if (share < 0.01)
        snprintf(buf, n, "<1%% %s range", where);
    else
        snprintf(buf, n, "%.0f%% %s range", floor(share * 100.0 + 0.5), where);
}

typedef enum { ENTRY_SWATCH, ENTRY_HATCH, ENTRY_TRI_UP, ENTRY_TRI_DOWN, ENTRY_OUTLINE } EntryKind;

typedef struct {
    EntryKind kind;
    GsRgb c;
    char text[48];
} Entry;

void gs_legend_draw(cairo_t *cr, const GsHeatmap *const *hms, size_t n, GsRect r, double font,
                    int with_findings)
{
    const GsHeatmap *hm = hms[0];
    Entry e[GS_SPECIAL_COUNT + 3];
    size_t ne = 0;
    const GsSpecial order[GS_SPECIAL_COUNT] = {GS_SPECIAL_NAN, GS_SPECIAL_POSINF, GS_SPECIAL_NEGINF,
                                               GS_SPECIAL_ZERO, GS_SPECIAL_MISSING};
    for (int i = 0; i < GS_SPECIAL_COUNT; i++) {
        GsSpecial w = order[i];
        int present = 0;
        for (size_t k = 0; k < n; k++)
            present |= hms[k]->special[w];
        /* -Inf only appears when present; zero has no special colour on a 0..1 scale */
        if (w == GS_SPECIAL_NEGINF && !present)
            continue;
        if (w == GS_SPECIAL_ZERO && hm->scale == GS_HM_FRACTION)
            continue;
        if (w == GS_SPECIAL_MISSING && !present)
            continue;
        e[ne].kind = w == GS_SPECIAL_MISSING ? ENTRY_HATCH : ENTRY_SWATCH;
        e[ne].c = gs_cmap_special(w);
        snprintf(e[ne].text, sizeof e[ne].text, "%s",
                 w == GS_SPECIAL_ZERO && hm->scale == GS_HM_RATIO ? "\xe2\x89\xa4 0"
                                                                  : gs_cmap_special_label(w));
        ne++;
    }
    double below, above;
    int fl = range_flags(hms, n, &below, &above);
    double blo = hm->scale == GS_HM_RATIO ? -hm->hi : hm->lo;
    if (fl & GS_RANGE_ABOVE) {
        e[ne].kind = ENTRY_TRI_UP;
        e[ne].c = gs_heatmap_color(hm, pow(10.0, hm->hi));
        fmt_share(e[ne].text, sizeof e[ne].text, above, "above");
        ne++;
    }
    if (fl & GS_RANGE_BELOW) {
        e[ne].kind = ENTRY_TRI_DOWN;
        e[ne].c = gs_heatmap_color(hm, pow(10.0, blo));
        fmt_share(e[ne].text, sizeof e[ne].text, below, "below");
        ne++;
    }
    if (with_findings) {
        e[ne].kind = ENTRY_OUTLINE;
        e[ne].c = (GsRgb){0.1, 0.1, 0.1};
        snprintf(e[ne].text, sizeof e[ne].text, "finding region");
        ne++;
    }
    cairo_save(cr);
    /* every entry is listed: rows tighten, then the text shrinks, to fit the box */
    double f = font, rh = f * 1.45;
    if (ne && rh * (double)ne > r.h) {
        rh = r.h / (double)ne;
        if (rh < f * 1.15)
            f = rh / 1.15;
    }
    GsTextStyle st = gs_text_style(f * 0.82);
    double s = f * 0.9, y = r.y, x = r.x + f * 0.3;
    for (size_t i = 0; i < ne; i++, y += rh) {
        double sy = y + (rh - s) / 2;
        switch (e[i].kind) {
        case ENTRY_SWATCH: swatch(cr, x, sy, s, e[i].c, f); break;
        case ENTRY_HATCH: {
            swatch(cr, x, sy, s, e[i].c, f);
            cairo_save(cr);
            cairo_rectangle(cr, x, sy, s * 1.3, s);
            cairo_clip(cr);
            cairo_set_source_rgb(cr, 0.32, 0.32, 0.32);
            cairo_set_line_width(cr, fmax(1.0, s * 0.08));
            for (double d = -s; d < s * 1.3; d += s * 0.35) {
                cairo_move_to(cr, x + d, sy + s);
                cairo_line_to(cr, x + d + s, sy);
            }
            cairo_stroke(cr);
            cairo_restore(cr);
            break;
        }
        case ENTRY_TRI_UP:
        case ENTRY_TRI_DOWN: {
            GsRect b = {x + s * 0.15, 0, s, 0};
            int up = e[i].kind == ENTRY_TRI_UP;
            bar_triangle(cr, b, up ? sy + s : sy, s, up ? -1 : 1, e[i].c, f);
            break;
        }
        case ENTRY_OUTLINE: {
            double lw = fmax(1.0, f * 0.12);
            cairo_rectangle(cr, x, sy, s * 1.3, s);
            cairo_set_source_rgb(cr, 1, 1, 1);
            cairo_set_line_width(cr, lw * 2.6);
            cairo_stroke_preserve(cr);
            double dash[2] = {lw * 3, lw * 2};
            cairo_set_dash(cr, dash, 2, 0);
            cairo_set_line_width(cr, lw * 1.3);
            gs_set_rgb(cr, e[i].c);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
            break;
        }
        }
        gs_text_draw(cr, &st, x + s * 1.3 + f * 0.4, y + rh / 2, 0, 0.5, 0,
                     r.x + r.w - (x + s * 1.3 + f * 0.4), e[i].text);
    }
    cairo_restore(cr);
}

/* Row filler of a through-time series: row li is t = li + 1 at every recorded step. */
typedef struct {
    const GsTrace *t;
    size_t k;
    int absolute;
} SeriesRows;

static void series_row(const void *ctx, size_t li, double *out)
{
    const SeriesRows *sr = ctx;
    size_t ns = gs_trace_n_steps(sr->t), t = li + 1;
    for (size_t i = 0; i < ns; i++) {
        size_t len = gs_trace_series_len(sr->t, i, sr->k);
        double v = gs_trace_series_get(sr->t, i, sr->k, GS_TCOL_H_GRAD_NORM, t);
        if (!sr->absolute && !gs_trace_is_missing(v)) {
            /* relative to the last time step of the same training step: the loss enters at T */
            double ref = gs_trace_series_get(sr->t, i, sr->k, GS_TCOL_H_GRAD_NORM, len);
            v = gs_trace_is_missing(ref) ? ref : v / ref;
        }
        out[i] = v;
    }
}

GsStatus gs_heatmap_create_series(const GsTrace *t, size_t k, int absolute, GsBinMode bin,
                                  size_t max_cols, GsHeatmap **out, GsError *err)
{
    assert(t && out && max_cols >= 1);
    size_t ns = gs_trace_n_steps(t), T = 0;
    if (k >= gs_trace_n_series(t) || !gs_trace_series_has(t, GS_TCOL_H_GRAD_NORM))
        return gs_error(err, GS_ERR_INVALID, "the trace has no through-time h_grad_norm to plot");
    for (size_t i = 0; i < ns; i++) {
        size_t len = gs_trace_series_len(t, i, k);
        T = len > T ? len : T;
    }
    if (ns == 0 || T == 0)
        return gs_error(err, GS_ERR_INVALID, "through-time series %zu holds no values to plot", k);
    long *steps = malloc(ns * sizeof *steps);
    if (!steps)
        return gs_error(err, GS_ERR_NOMEM, "out of memory for a %zu x %zu heatmap", T, ns);
    for (size_t i = 0; i < ns; i++)
        steps[i] = gs_trace_step(t, i);
    SeriesRows sr = {t, k, absolute};
    GsHeatmapMatrix m = {
        .n_rows = T,
        .n_steps = ns,
        .steps = steps,
        .fill = series_row,
        .ctx = &sr,
        .axis = "time step t (t = 1 at the bottom)",
        .axis_short = "t (1 = bottom)",
        .exponent_ticks = 1,
        .scale = absolute ? GS_HM_LOG : GS_HM_RATIO,
        .bin = bin,
        .max_cols = max_cols,
    };
    GsStatus st = gs_heatmap_create_matrix(&m, out, err);
    free(steps);
    return st;
}
