/* Private layout of GsTrace, shared by the table (trace.c) and the CSV reader/writer
 * (trace_csv.c) so that the reader can fill columns in place without a row copy. */
#ifndef GS_TRACE_PRIV_H
#define GS_TRACE_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gradscope/trace.h"

struct GsTrace {
    size_t n_layers;         /* layers per step; also the stride of every column array */
    uint64_t stored;         /* columns with an array in col[] (step and layer bits always set) */
    uint64_t has;            /* columns that hold data (subset of stored) */
    size_t n_steps;          /* recorded steps */
    size_t cap_steps;        /* allocated steps in steps[] and every col[] array */
    long *steps;             /* training step of each recorded step, strictly increasing */
    int compact;             /* 1: columns hold float (traces read for rendering), else double */
    void *col[GS_COL_COUNT]; /* [step_index * n_layers + layer_index], double or float by
                                `compact`; NULL when not stored, and always NULL for step
                                and layer (implicit) */
    double *scratch;         /* n_layers x GS_COL_COUNT block handed out by gs_trace_add_step */
    int pending;             /* 1 between add_step and commit_step */
    size_t cap_names;        /* entries in layer_name[] and layer_kind[] (may exceed n_layers) */
    char **layer_name;       /* per layer index: malloc'd name or NULL */
    char **layer_kind;       /* per layer index: malloc'd kind or NULL */
    size_t n_meta, cap_meta;
    char **meta_key; /* n_meta keys, insertion order, each malloc'd */
    char **meta_val; /* matching values */
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

/* Cell access independent of the storage type. The marker's float image is mapped by hand
 * rather than trusting that every platform's conversion keeps NaN payloads; ordinary
 * values pay only the NaN test. */
static inline double gs_trace_cell(const GsTrace *t, int c, size_t at)
{
    if (!t->compact)
        return ((const double *)t->col[c])[at];
    float f = ((const float *)t->col[c])[at];
    if (f != f) {
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        if ((b & UINT32_C(0x7FFFFFFF)) == GS_MISSING_BITS_F32)
            return gs_trace_missing_value();
    }
    return (double)f;
}
static inline void gs_trace_set_cell(GsTrace *t, int c, size_t at, double v)
{
    if (!t->compact) {
        ((double *)t->col[c])[at] = v;
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
    ((float *)t->col[c])[at] = f;
}
/* Bytes of one stored cell. */
static inline size_t gs_trace_cell_size(const GsTrace *t)
{
    return t->compact ? sizeof(float) : sizeof(double);
}

/* Makes room for at least `steps` recorded steps in every array. GS_ERR_NOMEM on failure. */
GsStatus gs_trace_reserve(GsTrace *trace, size_t steps);
/* Gives back unused capacity (a failed shrink keeps the larger arrays). Cannot fail. */
void gs_trace_shrink(GsTrace *trace);

/* Makes room for one more step and appends it with every stored cell missing, without the
 * scratch block (the CSV reader fills cells in place). GS_ERR_NOMEM on failure. */
GsStatus gs_trace_append_missing_step(GsTrace *trace, long step);
/* Changes n_layers to n (>= current), moving existing cells to the new stride and
 * filling new cells with the missing marker. Costs one copy of the table. GS_ERR_NOMEM on failure
 * (trace unchanged). */
GsStatus gs_trace_widen(GsTrace *trace, size_t n);

/* Makes layer_name[] and layer_kind[] hold at least n entries (new ones NULL).
 * GS_ERR_NOMEM on failure (arrays stay valid). */
GsStatus gs_trace_reserve_names(GsTrace *trace, size_t n);

#endif
