/* The trace's third index: through-time series of recurrent nets. One compact block per
 * (recorded step, series) holding T values of each stored time column; nothing is allocated
 * for a trace without series, so MLP traces keep their memory. */
#include "gradscope/trace.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace_priv.h"

static const char *const tcol_names[GS_TCOL_COUNT] = {
    "h_grad_norm", "c_grad_norm", "h_mean", "h_std", "h_saturation",
};

const char *gs_trace_tcol_name(GsTimeCol col)
{
    if ((int)col < 0 || col >= GS_TCOL_COUNT)
        return NULL;
    return tcol_names[col];
}

int gs_trace_tcol_from_name(const char *name)
{
    for (int c = 0; c < GS_TCOL_COUNT; c++)
        if (strcmp(name, tcol_names[c]) == 0)
            return c;
    return -1;
}

void gs_trace_series_fini(GsTrace *t)
{
    for (size_t k = 0; k < t->n_series; k++) {
        free(t->series_name[k]);
        free(t->series_kind[k]);
    }
    if (t->blocks)
        for (size_t b = 0; b < t->cap_block_steps * t->n_series; b++)
            free(t->blocks[b].v);
    free(t->series_name);
    free(t->series_kind);
    free(t->blocks);
}

GsStatus gs_trace_add_series(GsTrace *trace, const char *name, const char *kind, size_t *k)
{
    assert(trace && k);
    if (name && !*name)
        name = NULL;
    if (kind && !*kind)
        kind = NULL;
    if ((name && !gs_trace_storable_text(name)) || (kind && !gs_trace_storable_text(kind)))
        return GS_ERR_INVALID;
    size_t n = trace->n_series;
    char *nm = name ? gs_trace_dup_str(name) : NULL;
    char *kd = kind ? gs_trace_dup_str(kind) : NULL;
    char **names = realloc(trace->series_name, (n + 1) * sizeof *names);
    if (names)
        trace->series_name = names; /* a longer array is harmless if the next step fails */
    char **kinds = names ? realloc(trace->series_kind, (n + 1) * sizeof *kinds) : NULL;
    if (kinds)
        trace->series_kind = kinds;
    /* Blocks are laid out by step with n_series per step: one more series re-strides them. */
    GsSeriesBlock *blocks = NULL;
    size_t cap = trace->cap_block_steps;
    if (kinds && trace->blocks) {
        blocks = calloc(cap * (n + 1), sizeof *blocks);
        if (blocks)
            for (size_t i = 0; i < cap; i++)
                memcpy(blocks + i * (n + 1), trace->blocks + i * n, n * sizeof *blocks);
    }
    if ((name && !nm) || (kind && !kd) || !kinds || (trace->blocks && !blocks)) {
        free(nm);
        free(kd);
        free(blocks);
        return GS_ERR_NOMEM;
    }
    if (blocks) {
        free(trace->blocks);
        trace->blocks = blocks;
    }
    trace->series_name[n] = nm;
    trace->series_kind[n] = kd;
    trace->n_series = n + 1;
    *k = n;
    return GS_OK;
}

size_t gs_trace_n_series(const GsTrace *trace)
{
    return trace->n_series;
}

const char *gs_trace_series_name(const GsTrace *trace, size_t k)
{
    assert(k < trace->n_series);
    return trace->series_name[k];
}

const char *gs_trace_series_kind(const GsTrace *trace, size_t k)
{
    assert(k < trace->n_series);
    return trace->series_kind[k];
}

/* Block of (i, k), or NULL when none was ever allocated for step i. */
static const GsSeriesBlock *block_at(const GsTrace *t, size_t i, size_t k)
{
    if (!t->blocks || i >= t->cap_block_steps || k >= t->n_series)
        return NULL;
    return &t->blocks[i * t->n_series + k];
}

/* Makes blocks[] cover recorded step i (doubling). */
static GsStatus reserve_blocks(GsTrace *t, size_t i)
{
    if (i < t->cap_block_steps)
        return GS_OK;
    size_t cap = t->cap_block_steps ? t->cap_block_steps : 16;
    while (cap <= i)
        cap *= 2;
    size_t ns = t->n_series;
    GsSeriesBlock *b = realloc(t->blocks, cap * ns * sizeof *b);
    if (!b)
        return GS_ERR_NOMEM;
    memset(b + t->cap_block_steps * ns, 0, (cap - t->cap_block_steps) * ns * sizeof *b);
    t->blocks = b;
    t->cap_block_steps = cap;
    return GS_OK;
}

static unsigned popcount32(uint32_t m)
{
    unsigned n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
}

GsStatus gs_trace_series_fix_len(GsTrace *trace, size_t i, size_t k, size_t len)
{
    assert(trace && i < trace->n_steps && k < trace->n_series);
    if (len == 0 || len > GS_TRACE_MAX_T)
        return GS_ERR_INVALID;
    if (reserve_blocks(trace, i) != GS_OK)
        return GS_ERR_NOMEM;
    GsSeriesBlock *b = &trace->blocks[i * trace->n_series + k];
    if (b->len && b->len != len)
        return GS_ERR_INVALID;
    b->len = (uint32_t)len;
    return GS_OK;
}

GsStatus gs_trace_series_set(GsTrace *trace, size_t i, size_t k, GsTimeCol col, const double *v,
                             size_t T)
{
    assert(trace && v && i < trace->n_steps && k < trace->n_series);
    assert((int)col >= 0 && col < GS_TCOL_COUNT);
    const GsSeriesBlock *old = block_at(trace, i, k);
    if (T == 0 || T > GS_TRACE_MAX_T || (old && old->len && old->len != T))
        return GS_ERR_INVALID;
    GsStatus st = gs_trace_series_fix_len(trace, i, k, T);
    if (st != GS_OK)
        return st;
    GsSeriesBlock *b = &trace->blocks[i * trace->n_series + k];
    uint32_t bit = UINT32_C(1) << col;
    size_t cs = gs_trace_cell_size(trace);
    size_t slot = popcount32(b->mask & (bit - 1));
    if (!(b->mask & bit)) {
        /* One more slot: grow, then move the slots after it up by one. */
        size_t n = popcount32(b->mask);
        char *a = realloc(b->v, (n + 1) * T * cs);
        if (!a) {
            if (!b->mask)
                b->len = 0; /* unchanged: the length was fixed just now */
            return GS_ERR_NOMEM;
        }
        memmove(a + (slot + 1) * T * cs, a + slot * T * cs, (n - slot) * T * cs);
        b->v = a;
        b->mask |= bit;
        trace->tmask |= bit;
    }
    char *dst = (char *)b->v + slot * T * cs;
    for (size_t t = 0; t < T; t++)
        gs_trace_store(dst, trace->compact, t, v[t]);
    return GS_OK;
}

size_t gs_trace_series_len(const GsTrace *trace, size_t i, size_t k)
{
    const GsSeriesBlock *b = block_at(trace, i, k);
    return b ? b->len : 0;
}

double gs_trace_series_get(const GsTrace *trace, size_t i, size_t k, GsTimeCol col, size_t t)
{
    const GsSeriesBlock *b = block_at(trace, i, k);
    if ((int)col < 0 || col >= GS_TCOL_COUNT || !b || t < 1 || t > b->len)
        return gs_trace_missing_value();
    uint32_t bit = UINT32_C(1) << col;
    if (!(b->mask & bit))
        return gs_trace_missing_value();
    size_t slot = popcount32(b->mask & (bit - 1));
    return gs_trace_load(b->v, trace->compact, slot * b->len + (t - 1));
}

int gs_trace_series_has(const GsTrace *trace, GsTimeCol col)
{
    if ((int)col < 0 || col >= GS_TCOL_COUNT)
        return 0;
    return (trace->tmask >> col) & 1;
}

void gs_trace_series_clear_step(GsTrace *trace, size_t i)
{
    if (!trace->blocks || i >= trace->cap_block_steps)
        return;
    size_t ns = trace->n_series;
    for (size_t k = 0; k < ns; k++) {
        GsSeriesBlock *b = &trace->blocks[i * ns + k];
        free(b->v);
        memset(b, 0, sizeof *b);
    }
    /* The union of masks may have lost a column. */
    trace->tmask = 0;
    for (size_t b = 0; b < trace->cap_block_steps * ns; b++)
        trace->tmask |= trace->blocks[b].mask;
}

GsStatus gs_trace_series_permute(GsTrace *trace, const size_t *order)
{
    size_t ns = trace->n_series;
    size_t nb = trace->blocks ? trace->cap_block_steps : 0;
    char **names = malloc(2 * ns * sizeof *names);
    GsSeriesBlock *blocks = nb ? malloc(nb * ns * sizeof *blocks) : NULL;
    if (!names || (nb && !blocks)) {
        free(names);
        free(blocks);
        return GS_ERR_NOMEM;
    }
    for (size_t j = 0; j < ns; j++) {
        assert(order[j] < ns);
        names[j] = trace->series_name[order[j]];
        names[ns + j] = trace->series_kind[order[j]];
        for (size_t i = 0; i < nb; i++)
            blocks[i * ns + j] = trace->blocks[i * ns + order[j]];
    }
    memcpy(trace->series_name, names, ns * sizeof *names);
    memcpy(trace->series_kind, names + ns, ns * sizeof *names);
    if (blocks) {
        free(trace->blocks);
        trace->blocks = blocks;
    }
    free(names);
    return GS_OK;
}

GsStatus gs_trace_series_prune_empty(GsTrace *trace)
{
    size_t ns = trace->n_series, nb = trace->blocks ? trace->cap_block_steps : 0, keep = 0;
    if (ns == 0)
        return GS_OK;
    int *used = calloc(ns, sizeof *used);
    if (!used)
        return GS_ERR_NOMEM;
    for (size_t k = 0; k < ns; k++) {
        for (size_t i = 0; i < nb && !used[k]; i++)
            used[k] = trace->blocks[i * ns + k].len > 0;
        keep += (size_t)used[k];
    }
    if (keep == ns) {
        free(used);
        return GS_OK;
    }
    GsSeriesBlock *blocks = nb && keep ? malloc(nb * keep * sizeof *blocks) : NULL;
    if (nb && keep && !blocks) {
        free(used);
        return GS_ERR_NOMEM;
    }
    size_t j = 0;
    for (size_t k = 0; k < ns; k++) {
        if (!used[k]) { /* every block of it is empty: only its texts to free */
            free(trace->series_name[k]);
            free(trace->series_kind[k]);
            continue;
        }
        trace->series_name[j] = trace->series_name[k];
        trace->series_kind[j] = trace->series_kind[k];
        for (size_t i = 0; i < nb; i++)
            blocks[i * keep + j] = trace->blocks[i * ns + k];
        j++;
    }
    for (size_t k = keep; k < ns; k++)
        trace->series_name[k] = trace->series_kind[k] = NULL;
    free(trace->blocks);
    trace->blocks = blocks;
    if (!blocks)
        trace->cap_block_steps = 0;
    trace->n_series = keep;
    free(used);
    return GS_OK;
}
