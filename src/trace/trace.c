/* The in-memory trace table: one growable double (or, compact, float) array per stored column
 * indexed by (recorded step, layer), all in one block, a step array, and ordered metadata
 * pairs. */
#include "gradscope/trace.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "trace/trace_priv.h"

static const char *const col_names[GS_COL_COUNT] = {
    "step",
    "layer",
    "loss",
    "lr",
    "grad_norm",
    "bias_grad_norm",
    "act_grad_norm",
    "grad_max_abs",
    "weight_norm",
    "update_ratio",
    "act_mean",
    "act_std",
    "saturation",
    "dead_frac",
    "nonfinite",
    "global_grad_norm",
    "global_grad_norm_clipped",
    "clipped",
    "grad_rms",
};

/* Step and layer are implicit (steps[] and the layer index), never a column array. */
#define IMPLICIT_COLS (GS_COL_BIT(GS_COL_STEP) | GS_COL_BIT(GS_COL_LAYER))

const char *gs_trace_col_name(GsCol col)
{
    if ((int)col < 0 || col >= GS_COL_COUNT)
        return NULL;
    return col_names[col];
}

int gs_trace_col_from_name(const char *name)
{
    for (int c = 0; c < GS_COL_COUNT; c++)
        if (strcmp(name, col_names[c]) == 0)
            return c;
    return -1;
}

double gs_trace_missing(void)
{
    return gs_trace_missing_value();
}

int gs_trace_is_missing(double v)
{
    return gs_trace_missing_bits(v);
}

static int stores_array(const GsTrace *t, int c)
{
    return (t->stored & ~IMPLICIT_COLS & GS_COL_BIT(c)) != 0;
}

GsStatus gs_trace_create(size_t n_layers, uint64_t columns, GsTrace **out)
{
    assert(n_layers >= 1 && out);
    GsTrace *t = calloc(1, sizeof *t);
    if (!t)
        return GS_ERR_NOMEM;
    t->n_layers = n_layers;
    t->stride = n_layers;
    t->stored = (columns & GS_COL_ALL) | IMPLICIT_COLS;
    t->compact = (columns & GS_TRACE_COMPACT) != 0;
    t->has = IMPLICIT_COLS;
    t->scratch = malloc(n_layers * GS_COL_COUNT * sizeof *t->scratch);
    if (!t->scratch) {
        free(t);
        return GS_ERR_NOMEM;
    }
    *out = t;
    return GS_OK;
}

void gs_trace_destroy(GsTrace *trace)
{
    if (!trace)
        return;
    free(trace->block);
    for (size_t i = 0; i < trace->n_meta; i++) {
        free(trace->meta_key[i]);
        free(trace->meta_val[i]);
    }
    for (size_t i = 0; i < trace->cap_names; i++) {
        free(trace->layer_name[i]);
        free(trace->layer_kind[i]);
    }
    free(trace->layer_name);
    free(trace->layer_kind);
    free(trace->meta_key);
    free(trace->meta_val);
    gs_trace_series_fini(trace);
    free(trace->hist);
    free(trace->steps);
    free(trace->scratch);
    free(trace);
}

/* Blocks from this size on are aligned to huge pages (2 MiB on x86-64) and advised to be
 * backed by them; smaller ones come from malloc as they are. */
#define HUGE_BLOCK ((size_t)2 << 20)

/* A new block of at least `bytes`. From HUGE_BLOCK on it is aligned to and rounded up to
 * HUGE_BLOCK and the kernel is advised to back it with transparent huge pages (where THP is
 * in "madvise" mode, as on Debian, it otherwise does not). A recording trace appends to
 * every column every step, and each fresh 4 KiB page is a fault: at 11 layers 0.4 per step,
 * and a fault costs 0.5 us on bare metal and 12 us measured in this project's virtual
 * machines (3-5% of a width-64 step there); a huge page takes one fault per 2 MiB. The
 * advice is only that: where it fails nothing changes. NULL when out of memory. */
static void *block_alloc(size_t bytes)
{
    if (bytes < HUGE_BLOCK)
        return malloc(bytes);
    size_t len = (bytes + HUGE_BLOCK - 1) & ~(HUGE_BLOCK - 1);
    void *p = NULL;
    if (posix_memalign(&p, HUGE_BLOCK, len) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

/* Stored columns that have an array. */
static size_t n_arrays(const GsTrace *t)
{
    size_t n = 0;
    for (int c = 0; c < GS_COL_COUNT; c++)
        n += stores_array(t, c) ? 1 : 0;
    return n;
}

/* Resizes the block to cap steps of `stride` cells per stored column, the k-th stored
 * column at k * cap * stride cells, with the n_steps rows of each column in place. Growing
 * takes a new block (block_alloc) and copies the rows over; shrinking moves the columns down
 * in place, first first (none overwrites one not yet moved), and gives the tail back. A
 * failed shrink keeps the larger block (harmless); a failed growth changes nothing. */
static GsStatus resize_block(GsTrace *t, size_t cap)
{
    size_t n = n_arrays(t), span = cap * t->stride * gs_trace_cell_size(t);
    size_t used = t->n_steps * t->stride * gs_trace_cell_size(t);
    char *b;
    if (n * span == 0) { /* no column arrays (or no steps): no block */
        free(t->block);
        b = NULL;
    } else if (cap < t->cap_steps) {
        b = t->block;
        size_t k = 0;
        for (int c = 0; c < GS_COL_COUNT; c++)
            if (stores_array(t, c))
                memmove(b + k++ * span, t->col[c], used);
        char *r = realloc(b, n * span);
        if (r)
            b = r;
    } else {
        b = block_alloc(n * span);
        if (!b)
            return GS_ERR_NOMEM;
        size_t k = 0;
        for (int c = 0; c < GS_COL_COUNT; c++) {
            if (!stores_array(t, c))
                continue;
            if (used > 0) /* else col[c] may be NULL */
                memcpy(b + k * span, t->col[c], used);
            k++;
        }
        free(t->block);
    }
    t->block = b;
    size_t k = 0;
    for (int c = 0; c < GS_COL_COUNT; c++)
        if (stores_array(t, c))
            t->col[c] = b + k++ * span;
    return GS_OK;
}

/* Grows every array to hold at least `need` steps: exactly that many when `exact`, else
 * doubling so appends are amortized O(1). Arrays already grown stay grown on failure, which
 * is harmless. */
static GsStatus reserve_steps(GsTrace *t, size_t need, int exact)
{
    if (need <= t->cap_steps)
        return GS_OK;
    size_t cap = t->cap_steps ? t->cap_steps : 16;
    while (cap < need)
        cap *= 2;
    if (exact)
        cap = need;
    long *s = realloc(t->steps, cap * sizeof *s);
    if (!s)
        return GS_ERR_NOMEM;
    t->steps = s;
    GsStatus st = resize_block(t, cap);
    if (st == GS_OK)
        t->cap_steps = cap;
    return st;
}

GsStatus gs_trace_reserve(GsTrace *trace, size_t steps)
{
    return reserve_steps(trace, steps, 1);
}

void gs_trace_fit_stride(GsTrace *trace)
{
    size_t nl = trace->n_layers, from = trace->stride, cs = gs_trace_cell_size(trace);
    if (from == nl)
        return;
    /* Ascending steps: step i's destination ends before step i+1's source begins. */
    for (int c = 0; c < GS_COL_COUNT; c++) {
        if (!stores_array(trace, c))
            continue;
        char *a = trace->col[c];
        for (size_t i = 1; i < trace->n_steps; i++)
            memmove(a + i * nl * cs, a + i * from * cs, nl * cs);
    }
    /* cap_steps stays: steps[] holds no more, and longer column arrays are harmless. */
    trace->stride = nl;
}

void gs_trace_shrink(GsTrace *trace)
{
    gs_trace_fit_stride(trace);
    size_t n = trace->n_steps ? trace->n_steps : 1;
    if (n >= trace->cap_steps)
        return;
    long *s = realloc(trace->steps, n * sizeof *s);
    if (!s)
        return;
    trace->steps = s;
    (void)resize_block(trace, n); /* cannot fail when shrinking */
    trace->cap_steps = n;
}

GsStatus gs_trace_append_missing_step(GsTrace *trace, long step)
{
    assert(!trace->pending && step >= 0);
    assert(trace->n_steps == 0 || step > trace->steps[trace->n_steps - 1]);
    GsStatus st = reserve_steps(trace, trace->n_steps + 1, 0);
    if (st != GS_OK)
        return st;
    size_t base = trace->n_steps * trace->stride;
    double miss = gs_trace_missing_value();
    for (int c = 0; c < GS_COL_COUNT; c++) {
        if (!stores_array(trace, c))
            continue;
        for (size_t l = 0; l < trace->stride; l++)
            gs_trace_set_cell(trace, c, base + l, miss);
    }
    trace->steps[trace->n_steps++] = step;
    return GS_OK;
}

GsStatus gs_trace_widen(GsTrace *trace, size_t n)
{
    assert(n >= trace->n_layers && !trace->pending);
    if (n <= trace->stride) {
        trace->n_layers = n; /* the cells exist and read as missing */
        return GS_OK;
    }
    size_t old = trace->stride;
    size_t wide = 2 * old > n ? 2 * old : n;
    size_t cap = trace->cap_steps;
    size_t cs = gs_trace_cell_size(trace), span = cap * wide * cs;
    size_t n_arr = cap > 0 ? n_arrays(trace) : 0;
    double *scratch = malloc(wide * GS_COL_COUNT * sizeof *scratch);
    char *fresh = n_arr > 0 ? block_alloc(n_arr * span) : NULL;
    if (!scratch || (n_arr > 0 && !fresh)) {
        free(scratch);
        free(fresh);
        return GS_ERR_NOMEM;
    }
    double miss = gs_trace_missing_value();
    size_t k = 0;
    for (int c = 0; n_arr > 0 && c < GS_COL_COUNT; c++) {
        if (!stores_array(trace, c))
            continue;
        const char *from = trace->col[c];
        trace->col[c] = fresh + k++ * span;
        for (size_t i = 0; i < trace->n_steps; i++) {
            memcpy((char *)trace->col[c] + i * wide * cs, from + i * old * cs, old * cs);
            for (size_t l = old; l < wide; l++)
                gs_trace_set_cell(trace, c, i * wide + l, miss);
        }
    }
    if (n_arr > 0) {
        free(trace->block);
        trace->block = fresh;
    }
    free(trace->scratch);
    trace->scratch = scratch;
    trace->stride = wide;
    trace->n_layers = n;
    return GS_OK;
}

GsStatus gs_trace_add_step(GsTrace *trace, long step, double **row)
{
    assert(trace && row && !trace->pending && step >= 0);
    assert(trace->n_steps == 0 || step > trace->steps[trace->n_steps - 1]);
    GsStatus st = reserve_steps(trace, trace->n_steps + 1, 0);
    if (st == GS_OK)
        st = gs_trace_hist_add_step(trace, trace->n_steps);
    if (st != GS_OK)
        return st;
    double *b = trace->scratch;
    double miss = gs_trace_missing_value();
    for (size_t l = 0; l < trace->n_layers; l++) {
        double *r = b + l * GS_COL_COUNT;
        for (int c = 0; c < GS_COL_COUNT; c++)
            r[c] = miss;
        r[GS_COL_STEP] = (double)step;
        r[GS_COL_LAYER] = (double)(l + 1);
    }
    trace->steps[trace->n_steps++] = step;
    trace->pending = 1;
    *row = b;
    return GS_OK;
}

void gs_trace_commit_step(GsTrace *trace)
{
    assert(trace && trace->pending);
    size_t base = (trace->n_steps - 1) * trace->stride;
    for (int c = 0; c < GS_COL_COUNT; c++) {
        if (!stores_array(trace, c))
            continue;
        for (size_t l = 0; l < trace->n_layers; l++)
            gs_trace_set_cell(trace, c, base + l, trace->scratch[l * GS_COL_COUNT + (size_t)c]);
        for (size_t l = trace->n_layers; l < trace->stride; l++)
            gs_trace_set_cell(trace, c, base + l, gs_trace_missing_value());
    }
    trace->pending = 0;
}

size_t gs_trace_dropped_rows(const GsTrace *trace)
{
    return trace->dropped;
}

size_t gs_trace_n_steps(const GsTrace *trace)
{
    return trace->n_steps;
}

size_t gs_trace_n_layers(const GsTrace *trace)
{
    return trace->n_layers;
}

long gs_trace_step(const GsTrace *trace, size_t i)
{
    assert(i < trace->n_steps);
    return trace->steps[i];
}

double gs_trace_get(const GsTrace *trace, size_t i, size_t li, GsCol col)
{
    assert(i < trace->n_steps && li < trace->n_layers);
    assert((int)col >= 0 && col < GS_COL_COUNT);
    /* A step added but not yet committed reads as missing rather than stale memory. */
    if (trace->pending && i == trace->n_steps - 1 && col != GS_COL_STEP && col != GS_COL_LAYER)
        return gs_trace_missing_value();
    switch (col) {
    case GS_COL_STEP: return (double)trace->steps[i];
    case GS_COL_LAYER: return (double)(li + 1);
    default: break;
    }
    if (!trace->col[col])
        return gs_trace_missing_value();
    return gs_trace_cell(trace, col, i * trace->stride + li);
}

int gs_trace_has(const GsTrace *trace, GsCol col)
{
    if ((int)col < 0 || col >= GS_COL_COUNT)
        return 0;
    return (trace->has & GS_COL_BIT(col)) != 0;
}

void gs_trace_set_has(GsTrace *trace, GsCol col, int has)
{
    assert((int)col >= 0 && col < GS_COL_COUNT);
    /* A column without storage cannot hold data; step and layer always do. */
    if (col == GS_COL_STEP || col == GS_COL_LAYER || !(trace->stored & GS_COL_BIT(col)))
        return;
    if (has)
        trace->has |= GS_COL_BIT(col);
    else
        trace->has &= ~GS_COL_BIT(col);
}

char *gs_trace_dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

const char *gs_trace_layer_name(const GsTrace *trace, size_t li)
{
    return li < trace->cap_names ? trace->layer_name[li] : NULL;
}

const char *gs_trace_layer_kind(const GsTrace *trace, size_t li)
{
    return li < trace->cap_names ? trace->layer_kind[li] : NULL;
}

/* 1 when s survives a CSV round trip as one cell: no double quote (the tokenizer knows no
 * escaped quotes), no control byte (a newline would end the row; others are invisible in
 * messages), no leading or trailing blank (the reader trims cells). */
int gs_trace_storable_text(const char *s)
{
    size_t n = strlen(s);
    if (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch < 0x20 || ch == 0x7F)
            return 0;
    }
    return 1;
}

GsStatus gs_trace_reserve_names(GsTrace *trace, size_t n)
{
    if (n <= trace->cap_names)
        return GS_OK;
    size_t cap = trace->cap_names ? trace->cap_names : 8;
    while (cap < n)
        cap *= 2;
    char **nn = realloc(trace->layer_name, cap * sizeof *nn);
    if (!nn)
        return GS_ERR_NOMEM;
    trace->layer_name = nn;
    char **nk = realloc(trace->layer_kind, cap * sizeof *nk);
    if (!nk)
        return GS_ERR_NOMEM; /* the longer name array is harmless */
    trace->layer_kind = nk;
    for (size_t i = trace->cap_names; i < cap; i++)
        nn[i] = nk[i] = NULL;
    trace->cap_names = cap;
    return GS_OK;
}

GsStatus gs_trace_set_layer_name(GsTrace *trace, size_t li, const char *name, const char *kind)
{
    assert(trace && li < trace->n_layers);
    if (name && !*name)
        name = NULL;
    if (kind && !*kind)
        kind = NULL;
    if ((name && !gs_trace_storable_text(name)) || (kind && !gs_trace_storable_text(kind)))
        return GS_ERR_INVALID;
    if (gs_trace_reserve_names(trace, li + 1) != GS_OK)
        return GS_ERR_NOMEM;
    char *n = name ? gs_trace_dup_str(name) : NULL;
    char *k = kind ? gs_trace_dup_str(kind) : NULL;
    if ((name && !n) || (kind && !k)) {
        free(n);
        free(k);
        return GS_ERR_NOMEM;
    }
    free(trace->layer_name[li]);
    free(trace->layer_kind[li]);
    trace->layer_name[li] = n;
    trace->layer_kind[li] = k;
    return GS_OK;
}

GsStatus gs_trace_meta_set(GsTrace *trace, const char *key, const char *value)
{
    assert(trace && key && value);
    char *v = gs_trace_dup_str(value);
    if (!v)
        return GS_ERR_NOMEM;
    for (size_t i = 0; i < trace->n_meta; i++) {
        if (strcmp(trace->meta_key[i], key) == 0) {
            free(trace->meta_val[i]);
            trace->meta_val[i] = v;
            return GS_OK;
        }
    }
    char *k = gs_trace_dup_str(key);
    if (!k) {
        free(v);
        return GS_ERR_NOMEM;
    }
    if (trace->n_meta == trace->cap_meta) {
        size_t cap = trace->cap_meta ? 2 * trace->cap_meta : 16;
        char **nk = realloc(trace->meta_key, cap * sizeof *nk);
        if (nk)
            trace->meta_key = nk;
        char **nv = nk ? realloc(trace->meta_val, cap * sizeof *nv) : NULL;
        if (!nv) {
            free(k);
            free(v);
            return GS_ERR_NOMEM;
        }
        trace->meta_val = nv;
        trace->cap_meta = cap;
    }
    trace->meta_key[trace->n_meta] = k;
    trace->meta_val[trace->n_meta] = v;
    trace->n_meta++;
    return GS_OK;
}

const char *gs_trace_meta_get(const GsTrace *trace, const char *key)
{
    for (size_t i = 0; i < trace->n_meta; i++)
        if (strcmp(trace->meta_key[i], key) == 0)
            return trace->meta_val[i];
    return NULL;
}

size_t gs_trace_meta_count(const GsTrace *trace)
{
    return trace->n_meta;
}

const char *gs_trace_meta_key(const GsTrace *trace, size_t i)
{
    assert(i < trace->n_meta);
    return trace->meta_key[i];
}

const char *gs_trace_meta_value(const GsTrace *trace, size_t i)
{
    assert(i < trace->n_meta);
    return trace->meta_val[i];
}

int gs_trace_clipping_acted(const GsTrace *t)
{
    if (!t || !gs_trace_has(t, GS_COL_CLIPPED))
        return 0;
    for (size_t i = 0; i < gs_trace_n_steps(t); i++)
        if (gs_trace_get(t, i, 0, GS_COL_CLIPPED) > 0)
            return 1;
    return 0;
}
