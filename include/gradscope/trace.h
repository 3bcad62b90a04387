/* The trace: per recorded step and per layer, the gradient-health statistics that
 * DESIGN.md defines. The engine fills it, plots and diagnosis read it, CSV stores it. */
#ifndef GRADSCOPE_TRACE_H
#define GRADSCOPE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/hist.h"
#include "gradscope/status.h"

/* Trace columns in CSV order. The first 15 are DESIGN.md's schema; the rest are
 * gradscope's extras (global clipping record, same value on every layer row; grad_rms). */
typedef enum {
    GS_COL_STEP = 0,
    GS_COL_LAYER,
    GS_COL_LOSS,
    GS_COL_LR,
    GS_COL_GRAD_NORM,
    GS_COL_BIAS_GRAD_NORM,
    GS_COL_ACT_GRAD_NORM,
    GS_COL_GRAD_MAX_ABS,
    GS_COL_WEIGHT_NORM,
    GS_COL_UPDATE_RATIO,
    GS_COL_ACT_MEAN,
    GS_COL_ACT_STD,
    GS_COL_SATURATION,
    GS_COL_DEAD_FRAC,
    GS_COL_NONFINITE,
    GS_COL_GLOBAL_NORM,      /* global L2 norm of all parameter gradients, before clipping */
    GS_COL_GLOBAL_NORM_POST, /* the same after clipping (equal when nothing was clipped) */
    GS_COL_CLIPPED,          /* 1 when clipping changed the gradient at this step, else 0 */
    GS_COL_GRAD_RMS,         /* per-entry RMS of dLoss/dW_l: grad_norm / sqrt(n_in * n_out) */
    GS_COL_COUNT
} GsCol;

/* Column name as in the CSV header ("grad_norm"); NULL when out of range. */
const char *gs_trace_col_name(GsCol col);
/* Column for a header name; -1 when the name is not a known column. */
int gs_trace_col_from_name(const char *name);
/* Bit of a column in a column mask. */
#define GS_COL_BIT(c) (UINT64_C(1) << (c))
/* Mask of every known column. */
#define GS_COL_ALL ((UINT64_C(1) << GS_COL_COUNT) - 1)

/* Flag for the `columns` mask of gs_trace_create / gs_trace_read_csv: store values as float
 * (about 7 significant digits) instead of double, halving memory; for traces read only to be
 * rendered or diagnosed. Step and layer numbers stay exact. */
#define GS_TRACE_COMPACT (UINT64_C(1) << 62)

/* Opaque trace table: n_steps recorded steps x n_layers layers x stored columns. */
typedef struct GsTrace GsTrace;

/* "No value" (an empty CSV cell; a frozen layer's gradient; a column not stored). Distinct from a
 * NaN the computation produced, which is data. It is a NaN with a fixed payload, so isnan() is
 * true for it too; test with gs_trace_is_missing. */
double gs_trace_missing(void);
/* 1 when v is the "no value" marker (not an ordinary NaN/Inf), else 0. */
int gs_trace_is_missing(double v);

/* Creates an empty trace for n_layers layers (>= 1) storing the columns in `columns`
 * (a GS_COL_BIT mask; step and layer are always kept). GS_ERR_NOMEM on failure. */
GsStatus gs_trace_create(size_t n_layers, uint64_t columns, GsTrace **out);
/* Frees the trace; NULL is a no-op. */
void gs_trace_destroy(GsTrace *trace);

/* Makes room for at least `steps` recorded steps in every array (a recorder that knows how
 * many steps it will append reserves them once: no growth, no copies). GS_ERR_NOMEM on
 * failure (the trace is unchanged and stays usable). */
GsStatus gs_trace_reserve(GsTrace *trace, size_t steps);
/* Appends one recorded step and returns, through *row, its n_layers x GS_COL_COUNT
 * block (row-major by layer index 0..n_layers-1; column by GsCol), pre-filled with the
 * missing marker (gs_trace_missing) except step and layer. The pointer stays valid until the next
 * add. Steps must be strictly increasing (asserted). GS_ERR_NOMEM when growing fails. */
GsStatus gs_trace_add_step(GsTrace *trace, long step, double **row);
/* Writes back a block returned by gs_trace_add_step (only the stored columns are kept).
 * Call once the block is filled. Cannot fail. */
void gs_trace_commit_step(GsTrace *trace);

size_t gs_trace_n_steps(const GsTrace *trace);
size_t gs_trace_n_layers(const GsTrace *trace);
/* Training step of recorded step index i. */
long gs_trace_step(const GsTrace *trace, size_t i);
/* Value at recorded step index i, layer index li (0-based: layer li+1), column col;
 * the missing marker (gs_trace_missing) when the column is not stored, the cell was empty
 * or absent in a read file, or the recorder never filled it. */
double gs_trace_get(const GsTrace *trace, size_t i, size_t li, GsCol col);
/* 1 when column col holds data (written by the engine, or present in the read file). */
int gs_trace_has(const GsTrace *trace, GsCol col);
/* Marks column col as holding data (the recorder sets the columns it fills). */
void gs_trace_set_has(GsTrace *trace, GsCol col, int has);

/* Per-layer name and kind (trace columns `name`, `kind`: the same on every row of a layer).
 * NULL when the trace has none for that layer index li (0-based). Strings owned by the trace. */
const char *gs_trace_layer_name(const GsTrace *trace, size_t li);
const char *gs_trace_layer_kind(const GsTrace *trace, size_t li);
/* Sets layer li's name and kind (either may be NULL = none); copies the strings.
 * GS_ERR_NOMEM on failure. li < n_layers; "" also means none. A text holding a comma is
 * written quoted; one with a double quote, a control byte (< 0x20, 0x7F) or leading/trailing
 * blanks could not be read back from CSV and is refused with GS_ERR_INVALID. The trace is
 * unchanged on failure. */
GsStatus gs_trace_set_layer_name(GsTrace *trace, size_t li, const char *name, const char *kind);

/* Through-time quantities of recurrent nets: per recorded step and per series
 * (one recurrent layer's hidden state, named "rnn.h_l0", kind "state"), one
 * value per time step t = 1..T. */
/* Time columns in CSV order (header names in parentheses). */
typedef enum {
    GS_TCOL_H_GRAD_NORM = 0, /* h_grad_norm: ||dL/dh_t||_F over batch x hidden (total gradient) */
    GS_TCOL_C_GRAD_NORM,     /* c_grad_norm: the same for an LSTM's cell state c_t */
    GS_TCOL_H_MEAN,          /* h_mean */
    GS_TCOL_H_STD,           /* h_std (population) */
    GS_TCOL_H_SATURATION,    /* h_saturation: fraction of entries with |h| > sqrt(0.95) */
    GS_TCOL_COUNT
} GsTimeCol;
/* Largest T a series holds at one step (what the CSV reader accepts for `t`). */
#define GS_TRACE_MAX_T 1000000
/* Time column name as in the CSV header ("h_grad_norm"); NULL when out of range. */
const char *gs_trace_tcol_name(GsTimeCol col);
/* Time column for a header name; -1 when the name is not a known time column. */
int gs_trace_tcol_from_name(const char *name);
/* Adds a series (name, kind copied; same text rules as gs_trace_set_layer_name); its index
 * 0.. is returned in *k. Call before the first gs_trace_add_step (a series added later holds
 * nothing at the steps recorded before it). Series are not layers: n_layers, gs_trace_get and
 * everything that loops over layers never see them. GS_ERR_NOMEM when growing fails,
 * GS_ERR_INVALID for a text CSV could not carry; the trace is unchanged on failure. */
GsStatus gs_trace_add_series(GsTrace *trace, const char *name, const char *kind, size_t *k);
/* Number of series (0 for a trace without through-time data). Cannot fail. */
size_t gs_trace_n_series(const GsTrace *trace);
/* Name and kind of series k (< n_series); NULL when it has none. Strings owned by the trace. */
const char *gs_trace_series_name(const GsTrace *trace, size_t k);
const char *gs_trace_series_kind(const GsTrace *trace, size_t k);
/* Stores the T values of column col of series k at recorded step index i (usually the step
 * just added by gs_trace_add_step, before or after its commit). All columns of one (i, k)
 * share one T: the first set fixes it, another T later is GS_ERR_INVALID, as is T = 0 or
 * T > GS_TRACE_MAX_T. Copies v (NaN/Inf are data; the missing marker means no value; compact
 * traces keep floats). GS_ERR_NOMEM when growing fails (the trace is unchanged). */
GsStatus gs_trace_series_set(GsTrace *trace, size_t i, size_t k, GsTimeCol col, const double *v,
                             size_t T);
/* T of series k at recorded step i; 0 when nothing was stored there. Cannot fail. */
size_t gs_trace_series_len(const GsTrace *trace, size_t i, size_t k);
/* Value at time t (1-based, 1..len); the missing marker when absent/out of range/not stored. */
double gs_trace_series_get(const GsTrace *trace, size_t i, size_t k, GsTimeCol col, size_t t);
/* 1 when column col holds data in some series (0 out of range). Cannot fail. */
int gs_trace_series_has(const GsTrace *trace, GsTimeCol col);

/* Histograms (hist.h, DESIGN.md "Histograms"): per recorded step, layer and stored kind,
 * GS_HIST_NB float counts. Enables the kinds in mask `kinds` (bits 1 << GsHistKind; 0 = none)
 * with act_range = A of the activations' linear bins (> 0 when act is stored), and writes the
 * metadata hist, hist_bins, hist_act_range, hist_log_edges. Call before the first
 * gs_trace_add_step (asserted). GS_ERR_INVALID for unknown kind bits or a bad range,
 * GS_ERR_NOMEM. */
GsStatus gs_trace_hist_enable(GsTrace *t, unsigned kinds, double act_range);
/* Mask of the stored kinds; 0: no histograms. Cannot fail. */
unsigned gs_trace_hist_kinds(const GsTrace *t);
/* A of the activations' linear bins (0 without histograms). */
double gs_trace_hist_act_range(const GsTrace *t);
/* The GS_HIST_NB floats of recorded step i, layer index li, kind k for the recorder to add
 * counts to: NaN (nothing recorded) from gs_trace_add_step until the first call, which zeroes
 * them. NULL when kind k is not stored. i < n_steps, li < n_layers (asserted). */
float *gs_trace_hist_slot(GsTrace *t, size_t i, size_t li, GsHistKind k);
/* The same read-only, as stored (NaN in every entry when never recorded); NULL when kind k is
 * not stored. */
const float *gs_trace_hist(const GsTrace *t, size_t i, size_t li, GsHistKind k);

/* 1 when clipping changed the gradient at some recorded step (the `clipped` column), else 0;
 * NULL is 0. Cannot fail. */
int gs_trace_clipping_acted(const GsTrace *trace);

/* Metadata "key = value" pairs kept in insertion order (CSV '# key = value' lines).
 * Setting an existing key replaces its value. GS_ERR_NOMEM on failure. */
GsStatus gs_trace_meta_set(GsTrace *trace, const char *key, const char *value);
/* Value of key, or NULL when absent. The string is owned by the trace. */
const char *gs_trace_meta_get(const GsTrace *trace, const char *key);
size_t gs_trace_meta_count(const GsTrace *trace);
const char *gs_trace_meta_key(const GsTrace *trace, size_t i);
const char *gs_trace_meta_value(const GsTrace *trace, size_t i);

/* Writes the trace as CSV (metadata lines, header of the columns it has, one row per
 * step and layer; numbers with 9 significant digits, "nan", "inf", "-inf"; the missing
 * marker as an empty cell; `name` and `kind` right after `layer` when any layer has one). Writes to
 * a temporary file in the same directory and renames it, so no partial file is left. GS_ERR_IO with
 * the path in err on failure. */
GsStatus gs_trace_write_csv(const GsTrace *trace, const char *path, GsError *err);
/* (With histograms, gs_trace_write_csv first writes the side file PATH-without-.csv + ".hist.npy",
 * float32 (S, L, 3, GS_HIST_NB) with NaN for kinds not stored, atomically, and adds the metadata
 * line hist_file = its basename; gs_trace_read_csv loads it back when the metadata names one that
 * exists beside the CSV: a shape that does not match the trace is GS_ERR_FORMAT naming the file
 * and both shapes; a missing side file means no histograms.) */
/* Reads a trace CSV in one streaming pass, keeping only the columns in `columns` (plus
 * step and layer). Accepts '#' metadata lines, extra unknown columns (ignored), any
 * column order, missing optional columns. Requires step, layer and grad_norm; steps
 * non-decreasing; layer an integer >= 1. An empty numeric cell reads as the missing marker
 * ("nan" is a NaN). `name`/`kind` cells are kept per layer (the first non-empty one; a
 * different one later for the same layer is an error). A leading UTF-8 BOM is skipped; a
 * cut-off end is dropped (gs_trace_dropped_rows). Errors name the file, line and column:
 * GS_ERR_IO (missing/unreadable), GS_ERR_FORMAT (empty, missing required column,
 * non-numeric cell, bad step/layer, conflicting or unstorable name/kind, a line over 1 MiB,
 * a dense table over 64 cells per row + 1e6, i.e. corrupt step/layer numbers). Quoted cells
 * show non-printable bytes as \xNN. *out untouched on failure. */
GsStatus gs_trace_read_csv(const char *path, uint64_t columns, GsTrace **out, GsError *err);
/* Rows gs_trace_read_csv dropped because the file ends cut off (0 for a whole file, and for a
 * trace not read from CSV). The reader drops an incomplete last line (no newline at the end of
 * the file, or fewer cells than the header) and then, when the last step is left with fewer
 * rows than an earlier step, that step too, so the trace ends at its last complete step. A
 * caller shows one warning when this is not 0. */
size_t gs_trace_dropped_rows(const GsTrace *trace);

#endif
