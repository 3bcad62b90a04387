/* Report rendering: turns a trace (plus optional findings, prediction and a second "after"
 * trace) into one PNG/SVG/PDF page, and a set of runs (a sweep) into one grid figure. No
 * cairo types here; drawing internals live in src/plot/. */
#ifndef GRADSCOPE_PLOT_H
#define GRADSCOPE_PLOT_H

#include "gradscope/diagnose.h"
#include "gradscope/hist.h"
#include "gradscope/status.h"
#include "gradscope/theory.h"
#include "gradscope/trace.h"

/* How several recorded steps that fall into one pixel column are reduced to one value.
 * Precedence in every mode: any NaN -> NaN, else any +Inf -> +Inf, else any -Inf -> -Inf;
 * then GMEAN = geometric mean (0 when the bin holds a value <= 0, as the product would),
 * MAX = largest value, MIN = smallest value. */
typedef enum { GS_BIN_GMEAN = 0, GS_BIN_MAX, GS_BIN_MIN } GsBinMode;

/* Page presets. PAPER: a compact single-column figure for a paper -- 3.5 in (252 pt) wide,
 * title, heatmap(s) with colour bar and legend, depth profile and loss -- as PDF/SVG in
 * points or PNG at 300 dpi (1050 px wide); every text at least 7 pt. It overrides
 * width, height and scale. */
typedef enum { GS_PRESET_NONE = 0, GS_PRESET_PAPER } GsReportPreset;

/* Everything gs_plot_report draws. Plain value: fill with gs_report_options_default, then
 * set what you need. Pointers are borrowed for the duration of the call. */
typedef struct {
    const GsTrace *trace;           /* required */
    GsCol metric;                   /* heatmap/profile metric, default GS_COL_GRAD_NORM */
    int relative;                   /* 1: heatmap shows each layer / output layer (diverging) */
    GsBinMode bin;                  /* reduction when steps outnumber pixel columns */
    int width, height;              /* page size in px (PNG) or pt (SVG/PDF), default 1600x1000 */
    double scale;                   /* device scale for PNG (high-DPI), default 1 */
    GsReportPreset preset;          /* GS_PRESET_NONE, or a preset page (see above) */
    const char *title;              /* NULL: built from the trace metadata */
    const char *subtitle;           /* NULL: none */
    const char *source_name;        /* shown in the title when there is no metadata; may be NULL */
    const GsPrediction *prediction; /* NULL: no predicted-profile overlay */
    const GsFindings *findings;     /* NULL: no findings panel */
    const GsTrace *after;           /* NULL: no before/after comparison */
    const GsFindings *after_findings;           /* the after run's findings (NULL: none known) */
    const char *before_label, *after_label;     /* NULL: "before" / "after" */
    const char *before_verdict, *after_verdict; /* NULL: gs_plot_verdict of the findings */
    /* Recurrent nets (a trace with through-time h_grad_norm): the through-time view. */
    const char *series;  /* series shown, e.g. "rnn.h_l1"; NULL: layer 0's (the bottom layer: the
                            longest path), i.e. the one named "...h_l0", else the first */
    int series_absolute; /* 1: colour log10 ||dL/dh_t|| itself, not relative to t = T */
} GsReportOptions;

/* Fills the defaults above (trace NULL). Cannot fail. */
void gs_report_options_default(GsReportOptions *o);

/* Renders the report to path; the format follows the extension .png/.svg/.pdf (case-
 * insensitive). Writes a temporary file in the same directory and renames it, so no partial
 * file is left. Panels whose columns the trace lacks (loss, update_ratio, saturation/dead_frac,
 * findings) are left out and the rest re-flow. With after, every panel shows both runs. The
 * log colour range is robust (1st..99th percentile over the runs shown, at least 2 decades,
 * at most 16; its top fitted so that a run whose findings show healthy gradients sits in the
 * upper half); cells outside take the end colours, counted in the legend. Colours: NaN
 * magenta, +Inf red, -Inf cyan, 0/underflow black, missing (gs_trace_is_missing) hatched grey.
 * A trace with through-time h_grad_norm (a recurrent net) gets the through-time view: the
 * through-time heatmap of `series` beside the per-tensor heatmap, and the through-time profile
 * instead of the depth profile (DESIGN.md "Report figures").
 * GS_ERR_INVALID for an unknown extension, a bad size/scale, a trace with no steps or without
 * the metric column, a `series` the trace does not have (message names the value); GS_ERR_IO naming
 * the path when it cannot be written; GS_ERR_NOMEM. */
GsStatus gs_plot_report(const GsReportOptions *o, const char *path, GsError *err);

/* Parses "gmean", "max" or "min" into *out; GS_ERR_INVALID naming the text otherwise (*out
 * untouched). */
GsStatus gs_plot_parse_bin(const char *text, GsBinMode *out, GsError *err);
/* Parses "WIDTHxHEIGHT" (e.g. "1600x1000", each 200..20000) into *w and *h; GS_ERR_INVALID
 * naming the text otherwise (outputs untouched). */
GsStatus gs_plot_parse_size(const char *text, int *w, int *h, GsError *err);

/* A run's verdict for a figure title, in plain words: "healthy: no warnings" without a
 * warning, else the severity, the findings nothing explains and how many follow from them
 * ("error: vanishing gradient (+3 that follow from it)"). When clipping acted in trace (may
 * be NULL), exploding gradients are said for what they are: "pre-clip gradient still large;
 * updates capped". Always NUL-terminated. */
void gs_plot_verdict(const GsFindings *fs, const GsTrace *trace, char *buf, size_t n);

/* Parses "none" or "paper" into *out; GS_ERR_INVALID naming the text otherwise. */
GsStatus gs_plot_parse_preset(const char *text, GsReportPreset *out, GsError *err);

/* Name of a bin mode ("gmean", "max", "min"). */
const char *gs_plot_bin_name(GsBinMode mode);

/* What the grid figure (of a sweep or a set of traces) draws: n runs placed by index on rows x cols
 * x pages. */
typedef struct {
    const GsTrace *const *traces;      /* n traces */
    const GsFindings *const *findings; /* n findings lists (entries may be NULL) */
    const int *row, *col, *page;       /* n cell coordinates (page may be NULL: all 0) */
    const double *predicted;           /* n predicted ratios shown in the badge; NULL: none */
    size_t n;
    size_t n_rows, n_cols, n_pages;
    const char *row_key, *col_key, *page_key; /* axis names; NULL: not shown */
    const char *const *row_labels, *const *col_labels, *const *page_labels;
    const char *title;    /* page title */
    const char *subtitle; /* the fixed setup; may be NULL */
    int width, height;    /* 0: chosen from the grid size */
    int metric;           /* heatmap column (GsCol); 0 (step, never a metric): grad_norm */
} GsGridOptions;

/* Renders the grid to path (.png/.svg/.pdf), atomically: one shared log10 colour scale for
 * grad_norm over every run (clamped like the report), one colour bar, each cell a heatmap
 * (layer 1 bottom) with a badge of the most severe finding and the final loss. Fails with
 * GS_ERR_INVALID (bad extension, size, empty grid, coordinates out of range), GS_ERR_IO
 * naming the path, or GS_ERR_NOMEM. */
GsStatus gs_plot_grid(const GsGridOptions *o, const char *path, GsError *err);

/* Distribution figures (issue 13), drawn from a trace's histograms (gradscope/hist.h). */
typedef enum {
    GS_DIST_HEATMAP = 0, /* per layer: training step x log10|x| bins, colour = fraction of entries,
                            strips for exact zeros, NaN and +-Inf above; small multiples */
    GS_DIST_PROFILE,     /* per layer curves of the activation (signed) and gradient (log10|g|)
                            histograms at the first and the last recorded step */
    GS_DIST_CASES        /* several runs side by side (cases[]): one row each, the activation and
                            the gradient histograms per layer at the first recorded step */
} GsDistFigure;
/* Most runs a GS_DIST_CASES figure shows. */
#define GS_DIST_MAX_CASES 4
/* Most layers one distribution figure shows. */
#define GS_DIST_MAX_LAYERS 8
/* What gs_plot_distributions draws. Fill with gs_dist_options_default, then set fields. */
typedef struct {
    const GsTrace *trace; /* required; must hold histograms (gs_trace_hist_kinds != 0) */
    GsDistFigure figure;
    GsHistKind kind;                   /* heatmap: the kind shown, default GS_HIST_GRAD */
    size_t n_layers;                   /* 0: layer 1, the middle layer and the output layer */
    size_t layers[GS_DIST_MAX_LAYERS]; /* layer indices (0-based) when n_layers > 0 */
    int width, height;                 /* page size in px (PNG) or pt, default 1600x900 */
    double scale;                      /* PNG device scale, default 1 */
    const char *title;                 /* NULL: built from the kind and the metadata */
    const char *source_name;           /* shown in the title when there is no metadata */
    /* GS_DIST_CASES: the runs (trace is ignored), each with its row label; each must hold
     * 'act' and 'grad' histograms. Layers: every one up to GS_DIST_MAX_LAYERS, else evenly
     * spaced with the first and the last, per run. */
    size_t n_cases;
    const GsTrace *cases[GS_DIST_MAX_CASES];
    const char *case_labels[GS_DIST_MAX_CASES];
    const char *subtitle; /* GS_DIST_CASES: a line under the title; NULL: what the figure shows */
} GsDistOptions;

/* Fills the defaults above (trace NULL). Cannot fail. */
void gs_dist_options_default(GsDistOptions *o);
/* Renders the chosen distribution figure to path (.png/.svg/.pdf), atomically (temp file +
 * rename). GS_ERR_INVALID (message naming the value) for an unknown extension, a bad size or
 * scale, a trace without steps or histograms, a heatmap kind the trace did not record, a
 * layer index out of range or too many layers; GS_ERR_IO naming the path; GS_ERR_NOMEM. */
GsStatus gs_plot_distributions(const GsDistOptions *o, const char *path, GsError *err);
/* Parses a layer list "1,5,out" (1-based numbers, "out" = the last layer, "mid" = the middle
 * one) for a trace of n_layers layers into out[0..*n) as 0-based indices, duplicates dropped,
 * at most cap. GS_ERR_INVALID naming the offending item (not a number, 0, beyond n_layers,
 * more than cap items, empty list); outputs untouched then. */
GsStatus gs_plot_parse_layers(const char *text, size_t n_layers, size_t *out, size_t cap, size_t *n,
                              GsError *err);

#endif
