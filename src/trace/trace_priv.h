/* Private layout of GsTrace, shared by the table (trace.c) and the CSV reader/writer
 * (trace_csv.c) so that the reader can fill columns in place without a row copy. */
#ifndef GS_TRACE_PRIV_H
#define GS_TRACE_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gradscope/trace.h"

/* The values of one (recorded step, series): len time steps of each stored time column,
 * column-major in GsTimeCol order of the set bits of mask (slot j at v[j * len]), double or
 * float like the trace's columns. len 0 means nothing stored (v NULL, mask 0). */
typedef struct {
    void *v;
    uint32_t len;
    uint32_t mask; /* bit c: time column c stored */
} GsSeriesBlock;

struct GsTrace {
    size_t n_layers;         /* layers per step */
    size_t stride;           /* cells per step in every column array (>= n_layers; larger only
                                while the CSV reader widens geometrically; every cell of
                                the stride is initialized) */
    uint64_t stored;         /* columns with an array in col[] (step and layer bits always set) */
    uint64_t has;            /* columns that hold data (subset of stored) */
    size_t n_steps;          /* recorded steps */
    size_t cap_steps;        /* allocated steps in steps[] and every col[] array */
    long *steps;             /* training step of each recorded step, strictly increasing */
    int compact;             /* 1: columns hold float (traces read for rendering), else double */
    void *col[GS_COL_COUNT]; /* [step_index * n_layers + layer_index], double or float by
                                `compact`; NULL when not stored, and always NULL for step
                                and layer (implicit); each points into `block` */
    void *block;             /* one allocation holding every stored column's array, in
                                column order, each cap_steps steps long */
    double *scratch;         /* stride x GS_COL_COUNT block; n_layers rows are handed out by
                                gs_trace_add_step */
    size_t dropped;          /* rows the CSV reader dropped from a cut-off end of file */
    int pending;             /* 1 between add_step and commit_step */
    size_t cap_names;        /* entries in layer_name[] and layer_kind[] (may exceed n_layers) */
    char **layer_name;       /* per layer index: malloc'd name or NULL */
    char **layer_kind;       /* per layer index: malloc'd kind or NULL */
    size_t n_meta, cap_meta;
    char **meta_key;        /* n_meta keys, insertion order, each malloc'd */
    char **meta_val;        /* matching values */
    size_t n_series;        /* through-time series (not layers) */
    char **series_name;     /* per series: malloc'd name or NULL */
    char **series_kind;     /* per series: malloc'd kind or NULL */
    GsSeriesBlock *blocks;  /* [step_index * n_series + k]; NULL until a value is stored */
    size_t cap_block_steps; /* steps blocks[] has room for */
    uint32_t tmask;         /* union of every block's mask (gs_trace_series_has) */
    unsigned hist_kinds;    /* GS_HIST_* kinds stored (bit 1 << kind); 0: no histograms */
    double hist_range;      /* A of the activations' linear bins */
    float *hist;            /* [step][layer][kind rank][GS_HIST_NB], only the stored kinds */
    size_t hist_cap;        /* steps hist[] has room for */
};

/* The missing marker: a quiet NaN with the two top mantissa bits set (the plain quiet NaN
 * that strtod("nan") and 0.0/0.0 give has only the top one). Its float image keeps those
 * bits, so the marker survives compact storage. The sign bit is ignored when testing. */
#define GS_MISSING_BITS UINT64_C(0x7FFC000000000000)
#define GS_MISSING_BITS_F32 UINT32_C(0x7FE00000)

static inline double gs_trace_missing_value(void)
{
    uint64_t b = GS_MISSING_BITS;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}
static inline int gs_trace_missing_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b & ~(UINT64_C(1) << 63)) == GS_MISSING_BITS;
}

/* Value at index at of a double (or, compact, float) array. The marker's float image is mapped
 * by hand rather than trusting that every platform's conversion keeps NaN payloads; ordinary
 * values pay only the NaN test. */
static inline double gs_trace_load(const void *a, int compact, size_t at)
{
    if (!compact)
        return ((const double *)a)[at];
    float f = ((const float *)a)[at];
    if (f != f) {
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        if ((b & UINT32_C(0x7FFFFFFF)) == GS_MISSING_BITS_F32)
            return gs_trace_missing_value();
    }
    return (double)f;
}
static inline void gs_trace_store(void *a, int compact, size_t at, double v)
{
    if (!compact) {
        ((double *)a)[at] = v;
        return;
    }
    float f = (float)v;
    if (v != v) {
        /* The marker gets its float image; a computed NaN whose float image would read back
         * as the marker becomes a plain NaN, so it stays data. */
        uint32_t b = GS_MISSING_BITS_F32;
        if (!gs_trace_missing_bits(v)) {
            memcpy(&b, &f, sizeof b);
            if ((b & UINT32_C(0x7FFFFFFF)) == GS_MISSING_BITS_F32)
                b = UINT32_C(0x7FC00000);
        }
        memcpy(&f, &b, sizeof f);
    }
    ((float *)a)[at] = f;
}

/* Cell access independent of the storage type. */
static inline double gs_trace_cell(const GsTrace *t, int c, size_t at)
{
    return gs_trace_load(t->col[c], t->compact, at);
}
static inline void gs_trace_set_cell(GsTrace *t, int c, size_t at, double v)
{
    gs_trace_store(t->col[c], t->compact, at, v);
}
/* Bytes of one stored cell. */
static inline size_t gs_trace_cell_size(const GsTrace *t)
{
    return t->compact ? sizeof(float) : sizeof(double);
}

/* Packs the arrays to stride n_layers in place (no allocation). Cannot fail. */
void gs_trace_fit_stride(GsTrace *trace);
/* Packs to stride n_layers and gives back unused capacity (a failed shrink keeps the larger
 * arrays). Cannot fail. */
void gs_trace_shrink(GsTrace *trace);

/* Makes room for one more step and appends it with every stored cell missing, without the
 * scratch block (the CSV reader fills cells in place). GS_ERR_NOMEM on failure. */
GsStatus gs_trace_append_missing_step(GsTrace *trace, long step);
/* Changes n_layers to n (>= current); new cells read as missing. Within the stride this is
 * free; beyond it the stride at least doubles (one copy of the table), so layers rising one
 * by one cost amortized O(1) each. GS_ERR_NOMEM on failure (trace unchanged). */
GsStatus gs_trace_widen(GsTrace *trace, size_t n);

/* Makes layer_name[] and layer_kind[] hold at least n entries (new ones NULL).
 * GS_ERR_NOMEM on failure (arrays stay valid). */
GsStatus gs_trace_reserve_names(GsTrace *trace, size_t n);

/* 1 when s survives a CSV round trip as one cell (gs_trace_set_layer_name's rule). */
int gs_trace_storable_text(const char *s);
/* malloc'd copy of s; NULL when out of memory. */
char *gs_trace_dup_str(const char *s);
/* Frees the series names and blocks (gs_trace_destroy). */
void gs_trace_series_fini(GsTrace *trace);
/* Makes room in the histogram store for step index i and fills its block with NaN (nothing
 * recorded). GS_OK at once for a trace without histograms; GS_ERR_NOMEM when growing fails. */
GsStatus gs_trace_hist_add_step(GsTrace *trace, size_t i);
/* Reads the side file named by the metadata key hist_file beside the CSV at csv_path into the
 * trace (no-op when the key is absent or the file does not exist). GS_ERR_FORMAT naming the
 * file and both shapes on a mismatch, GS_ERR_FORMAT/IO/NOMEM from the .npy reader. */
GsStatus gs_trace_hist_read_side(GsTrace *trace, const char *csv_path, GsError *err);
/* Writes the side file of a trace with histograms to side_path (atomically); *written = 1 then.
 * GS_ERR_IO naming the file. */
GsStatus gs_trace_hist_write_side(const GsTrace *trace, const char *side_path, GsError *err);
/* The side file's path for a CSV path: "DIR/run.csv" -> "DIR/run.hist.npy" (a name without
 * ".csv" gets ".hist.npy" appended). 0 when it does not fit in n bytes. */
int gs_trace_hist_side_path(const char *csv_path, char *buf, size_t n);

/* Makes the block of (i, k) hold len time steps (fixing len when it held none) with no column
 * stored yet. GS_ERR_INVALID when it already holds another len or len is 0 or above
 * GS_TRACE_MAX_T, GS_ERR_NOMEM when growing fails. */
GsStatus gs_trace_series_fix_len(GsTrace *trace, size_t i, size_t k, size_t len);
/* Removes the series that hold no value at any recorded step: the reader's series whose only
 * rows were in a dropped cut-off step. GS_ERR_NOMEM (the trace unchanged). */
GsStatus gs_trace_series_prune_empty(GsTrace *trace);
/* Frees every series block of recorded step i (the reader drops a cut-off last step). */
void gs_trace_series_clear_step(GsTrace *trace, size_t i);
/* Reorders the series: new series j is old series order[j] (a permutation of 0..n_series-1).
 * GS_ERR_NOMEM when the scratch copy fails (trace unchanged). */
GsStatus gs_trace_series_permute(GsTrace *trace, const size_t *order);

#endif
