/* Sweeps: the cartesian product of varied setup keys (--vary KEY=V1,V2,...), run naming,
 * shard slices, resume checks, summary rows and lesson/scenario files (the grid figure of a
 * sweep is plot.h's gs_plot_grid). No printing, no processes here. */
#ifndef GRADSCOPE_SWEEP_H
#define GRADSCOPE_SWEEP_H

#include <stddef.h>

#include "gradscope/diagnose.h"
#include "gradscope/spec.h"
#include "gradscope/status.h"
#include "gradscope/trace.h"

#define GS_SWEEP_MAX_AXES 8
#define GS_SWEEP_MAX_VALUES 64

/* One varied key and its values (text as gs_spec_set accepts it). */
typedef struct {
    char key[64];
    size_t n;
    char values[GS_SWEEP_MAX_VALUES][64];
} GsSweepAxis;

/* A sweep: the varied axes, first axis slowest in the product order. Plain value (large:
 * keep it off small stacks, or zero it and fill with gs_sweep_add_vary). */
typedef struct {
    size_t n_axes;
    GsSweepAxis axes[GS_SWEEP_MAX_AXES];
} GsSweep;

/* Parses "KEY=V1,V2,..." and appends it as an axis, checking every value against the setup
 * key table (on a default setup). Fails with GS_ERR_INVALID naming the key or value for a
 * missing '=', an unknown or repeated key, an empty list or value, an invalid value, or too
 * many axes/values; the sweep is untouched then. */
GsStatus gs_sweep_add_vary(GsSweep *sw, const char *text, GsError *err);
/* Number of setups in the product (1 for no axes). */
size_t gs_sweep_size(const GsSweep *sw);
/* Value index of each axis for product index idx (< size), into choice[n_axes]. */
void gs_sweep_point(const GsSweep *sw, size_t idx, size_t *choice);
/* base with the varied values of point idx applied. Fails like gs_spec_set (a value can be
 * valid alone yet clash with another key only at validation, which is the caller's). */
GsStatus gs_sweep_apply(const GsSweep *sw, size_t idx, const GsSpec *base, GsSpec *out,
                        GsError *err);
/* Run name of point idx: "act=relu_init=he_normal" (characters other than [A-Za-z0-9.=:+-]
 * become '_'); a value whose readable form is not its own (a character replaced, or the
 * same form as another value of its axis, ignoring case) is followed by '-' and 12 hex
 * digits of a hash of its full text ("data=a_x.csv-0c1f...."), so that distinct points get
 * distinct names. "run" when there are no axes. Always NUL-terminated. */
void gs_sweep_run_name(const GsSweep *sw, size_t idx, char *buf, size_t size);

/* Parses a shard "I/N" (1 <= I <= N <= 100000). GS_ERR_INVALID naming the text otherwise. */
GsStatus gs_sweep_parse_shard(const char *text, size_t *i, size_t *n, GsError *err);
/* Half-open range [*lo, *hi) of product indices in shard i of n (1-based, contiguous,
 * deterministic); the shards 1..n partition 0..total. */
void gs_sweep_shard_range(size_t total, size_t i, size_t n, size_t *lo, size_t *hi);

/* 1 when path holds a complete trace of spec's run: it parses, its last recorded step is
 * steps-1 and its metadata records every setup key with spec's value (threads aside): the
 * setup decides, not the file name. 0 otherwise (missing, partial, another setup, a key
 * not recorded). Cannot fail. */
int gs_sweep_trace_complete(const char *path, const GsSpec *spec);

/* One summary.csv row's numbers. */
typedef struct {
    double final_loss;         /* mean loss over the last tenth of the recorded steps */
    double ratio_step0;        /* grad_norm layer 1 / layer depth at the first recorded step */
    double ratio_end;          /* the same at the last recorded step */
    double act_ratio_step0;    /* act_grad_norm layer 1 / layer depth at the first step */
    double predicted_ratio;    /* the theory's act_grad_norm ratio (NaN when unknown) */
    int counts[GS_FIND_COUNT]; /* findings of each kind (any severity) */
    int worst_kind;            /* most severe warning/error finding's kind, -1 when none */
    int worst_severity;        /* its GsSeverity, -1 when no finding at all */
} GsSweepRow;

/* Fills a row from a trace, its findings and a predicted ratio (NaN when none). Cannot
 * fail. */
void gs_sweep_row_fill(const GsTrace *t, const GsFindings *fs, double predicted, GsSweepRow *row);
/* Writes summary.csv atomically: a header of the key names, then the fixed numeric columns
 * (final_loss, ratio_step0, ratio_end, act_ratio_step0, predicted_ratio), one count column
 * per finding kind and worst_severity; values[r * n_keys + k] is row r's text for key k
 * (n_keys >= 1: the first key is usually "name", the run name).
 * GS_ERR_IO naming path, or GS_ERR_NOMEM. */
GsStatus gs_sweep_write_summary(const char *path, size_t n_keys, const char *const *keys,
                                size_t n_rows, const char *const *values, const GsSweepRow *rows,
                                GsError *err);

/* A lesson (or sweep) scenario: a [run] section of setup keys and a [lesson] section. */
#define GS_LESSON_MAX_CAPTION 8
#define GS_LESSON_MAX_CASES 8
typedef struct {
    char name[64]; /* file name without directory and .ini: "02-vanishing" */
    char title[160];
    size_t n_caption; /* caption lines, in order (what you see / notice / why / fix) */
    char caption[GS_LESSON_MAX_CAPTION][1024]; /* a few sentences each */
    GsSpec spec;    /* defaults + the [run] keys */
    char cure[256]; /* options of the cured run ("--act relu"); "" when none */
    char cure_label[128];
    GsSweep sweep;  /* vary = lines (grid lesson); n_axes 0 when none */
    size_t n_cases; /* case = LABEL: OPTIONS lines (a row of named variants) */
    char case_label[GS_LESSON_MAX_CASES][64];
    char case_opts[GS_LESSON_MAX_CASES][192];
    char expect[128];            /* finding kinds the run must report, comma list; "none" */
    char expect_cured[128];      /* kinds the cured run must not report / "none" = no warnings */
    char expect_cured_full[128]; /* as expect_cured, checked only at full length (not --quick):
                                    claims that need the whole run, such as learning */
    char primary[32];            /* the root cause the run's diagnosis must name first; "" any */
    int metric;      /* heatmap column (GsCol) the caption talks about; grad_norm default */
    char quick[256]; /* options applied by --quick (smaller runs) */
    int dist_figure; /* figure = distributions: the cases' histograms side by side (needs cases
                        and histograms), not their heatmaps */
    size_t n_case_expect; /* expect_case lines: one per case, in case order (0: none) */
    char case_expect[GS_LESSON_MAX_CASES][128]; /* as expect, of that case's run */
} GsLesson;

/* Parses scenario text (INI: [run] keys as the setup table, [lesson] keys title, caption
 * (repeatable), cure, cure_label, vary (repeatable), case (repeatable), expect,
 * expect_cured, expect_cured_full, expect_case (repeatable, one per case), figure
 * (distributions), primary (a finding kind), metric (a trace column), quick;
 * '#'/';' comments). name labels errors ("NAME:LINE: ..."). Unknown sections/keys and bad values
 * fail with GS_ERR_INVALID; *out untouched then. */
GsStatus gs_lesson_parse(const char *text, const char *name, GsLesson *out, GsError *err);

#endif
