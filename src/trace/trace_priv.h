/* Private layout of GsTrace, shared by the table (trace.c) and the CSV reader/writer
 * (trace_csv.c) so that the reader can fill columns in place without a row copy. */
#ifndef GS_TRACE_PRIV_H
#define GS_TRACE_PRIV_H

#include <stddef.h>
#include <stdint.h>

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
    size_t n_meta, cap_meta;
    char **meta_key; /* n_meta keys, insertion order, each malloc'd */
    char **meta_val; /* matching values */
};

/* Cell access independent of the storage type. */
static inline double gs_trace_cell(const GsTrace *t, int c, size_t at)
{
    return t->compact ? (double)((const float *)t->col[c])[at] : ((const double *)t->col[c])[at];
}
static inline void gs_trace_set_cell(GsTrace *t, int c, size_t at, double v)
{
    if (t->compact)
        ((float *)t->col[c])[at] = (float)v;
    else
        ((double *)t->col[c])[at] = v;
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

/* Makes room for one more step and appends it with every stored cell NaN, without the
 * scratch block (the CSV reader fills cells in place). GS_ERR_NOMEM on failure. */
GsStatus gs_trace_append_nan_step(GsTrace *trace, long step);
/* Changes n_layers to n (>= current), moving existing cells to the new stride and
 * filling new cells with NaN. Costs one copy of the table. GS_ERR_NOMEM on failure
 * (trace unchanged). */
GsStatus gs_trace_widen(GsTrace *trace, size_t n);

#endif
