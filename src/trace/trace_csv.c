/* Trace CSV writer and streaming reader (DESIGN.md "Trace schema").
 * The reader makes one pass with one line in memory, parses only the wanted cells, and
 * fills the table in place: a new step appends a block of missing cells; a layer above the
 * current count widens the table, the stride at least doubling, so layers rising one by one
 * cost amortized O(1). A density bound refuses corrupt step/layer numbers before allocating,
 * and a cut-off last line (a crashed writer) is dropped instead of failing the read. */
#include "gradscope/trace.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace/atomic_file.h"
#include "trace/trace_priv.h"
#include "util/csv.h"

/* Bounds that keep a corrupt file from asking for absurd memory (the table is dense). */
#define MAX_LAYER 100000L
#define MAX_STEP 1e15

static int is_int_col(int c)
{
    return c == GS_COL_STEP || c == GS_COL_LAYER || c == GS_COL_NONFINITE || c == GS_COL_CLIPPED;
}

/* Metadata text on one line: newlines would break the file's structure (the reader turns
 * the same bytes into blanks). */
static void put_meta_text(FILE *fp, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, fp);
}

/* Appends the decimal digits of n at p; returns the new end. */
static char *put_uint(char *p, unsigned long n)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (k)
        *p++ = tmp[--k];
    return p;
}

/* Appends the text of cell value v of column c at p; returns the new end. The missing
 * marker is an empty cell, so "nan" in a file always means a NaN the run produced. */
static char *put_value(char *p, int c, double v)
{
    if (isnan(v) && gs_trace_is_missing(v))
        return p;
    if (isnan(v)) {
        memcpy(p, "nan", 3);
        return p + 3;
    }
    if (isinf(v)) {
        memcpy(p, v > 0 ? "inf" : "-inf", v > 0 ? 3 : 4);
        return p + (v > 0 ? 3 : 4);
    }
    if (is_int_col(c) && v == floor(v) && fabs(v) < 1e15) {
        if (v < 0)
            *p++ = '-';
        return put_uint(p, (unsigned long)fabs(v));
    }
    return p + gs_csv_format_g9(p, v);
}

/* A layer name or kind cell: quoted when it holds a comma (set_layer_name refused every
 * text that quoting could not carry). NULL is an empty cell. */
static void put_text_cell(FILE *fp, const char *s)
{
    if (!s)
        return;
    int quote = strchr(s, ',') != NULL;
    if (quote)
        fputc('"', fp);
    fputs(s, fp);
    if (quote)
        fputc('"', fp);
}

/* 1 when any layer or series has a name or a kind (then the file gets both columns). */
static int has_layer_names(const GsTrace *t)
{
    for (size_t l = 0; l < t->n_layers && l < t->cap_names; l++)
        if (t->layer_name[l] || t->layer_kind[l])
            return 1;
    for (size_t k = 0; k < t->n_series; k++)
        if (t->series_name[k] || t->series_kind[k])
            return 1;
    return 0;
}

GsStatus gs_trace_write_csv(const GsTrace *trace, const char *path, GsError *err)
{
    assert(trace && path && !trace->pending);
    /* The histogram side file first: a CSV that names it never exists without it. */
    char side[4200];
    const char *side_name = NULL;
    if (trace->hist_kinds) {
        if (!gs_trace_hist_side_path(path, side, sizeof side))
            return gs_error(err, GS_ERR_IO, "%s: path too long for the histogram side file", path);
        GsStatus sst = gs_trace_hist_write_side(trace, side, err);
        if (sst != GS_OK)
            return sst;
        const char *slash = strrchr(side, '/');
        side_name = slash ? slash + 1 : side;
    }
    GsAtomicFile af;
    GsStatus st = gs_atomic_open(&af, path, err);
    if (st != GS_OK)
        return st;
    FILE *fp = af.fp;
    for (size_t i = 0; i < trace->n_meta; i++) {
        if (side_name && !strcmp(trace->meta_key[i], "hist_file"))
            continue; /* names the file of this write, below */
        fputs("# ", fp);
        put_meta_text(fp, trace->meta_key[i]);
        fputs(" = ", fp);
        put_meta_text(fp, trace->meta_val[i]);
        fputc('\n', fp);
    }
    if (side_name) {
        fputs("# hist_file = ", fp);
        put_meta_text(fp, side_name);
        fputc('\n', fp);
    }
    int cols[GS_COL_COUNT];
    int n_cols = 0;
    for (int c = 0; c < GS_COL_COUNT; c++)
        if (gs_trace_has(trace, (GsCol)c))
            cols[n_cols++] = c;
    /* Time columns only when there are series: an MLP trace's bytes stay as they were. */
    int tcols[GS_TCOL_COUNT];
    int n_tcols = 0, series = trace->n_series > 0;
    for (int c = 0; series && c < GS_TCOL_COUNT; c++)
        if (gs_trace_series_has(trace, (GsTimeCol)c))
            tcols[n_tcols++] = c;
    int names = has_layer_names(trace);
    for (int k = 0; k < n_cols; k++) {
        if (k)
            fputc(',', fp);
        fputs(gs_trace_col_name((GsCol)cols[k]), fp);
        if (k == GS_COL_LAYER && names)
            fputs(",name,kind", fp);
    }
    if (series) {
        fputs(",t", fp);
        for (int j = 0; j < n_tcols; j++) {
            fputc(',', fp);
            fputs(gs_trace_tcol_name((GsTimeCol)tcols[j]), fp);
        }
    }
    fputc('\n', fp);
    size_t nl = trace->n_layers;
    /* One row in a local buffer: at most 32 bytes per cell plus separators. */
    char row[(GS_COL_COUNT + GS_TCOL_COUNT + 1) * 40];
    for (size_t i = 0; i < trace->n_steps; i++) {
        assert(trace->steps[i] >= 0);
        for (size_t l = 0; l < nl; l++) {
            char *p = put_uint(row, (unsigned long)trace->steps[i]);
            *p++ = ',';
            p = put_uint(p, (unsigned long)(l + 1));
            if (names) {
                /* Names can be longer than the row buffer: flush it and stream them. */
                fwrite(row, 1, (size_t)(p - row), fp);
                fputc(',', fp);
                put_text_cell(fp, gs_trace_layer_name(trace, l));
                fputc(',', fp);
                put_text_cell(fp, gs_trace_layer_kind(trace, l));
                p = row;
            }
            for (int k = 2; k < n_cols; k++) {
                *p++ = ',';
                p = put_value(p, cols[k], gs_trace_cell(trace, cols[k], i * trace->stride + l));
            }
            for (int j = 0; series && j <= n_tcols; j++) /* empty t and time cells */
                *p++ = ',';
            *p++ = '\n';
            fwrite(row, 1, (size_t)(p - row), fp);
        }
        /* Then each series' rows t = 1..T, at layer id n_layers + 1 + k, regular cells empty. */
        for (size_t k = 0; k < trace->n_series; k++) {
            size_t len = gs_trace_series_len(trace, i, k);
            for (size_t t = 1; t <= len; t++) {
                char *p = put_uint(row, (unsigned long)trace->steps[i]);
                *p++ = ',';
                p = put_uint(p, (unsigned long)(nl + 1 + k));
                if (names) {
                    fwrite(row, 1, (size_t)(p - row), fp);
                    fputc(',', fp);
                    put_text_cell(fp, trace->series_name[k]);
                    fputc(',', fp);
                    put_text_cell(fp, trace->series_kind[k]);
                    p = row;
                }
                for (int c = 2; c < n_cols; c++)
                    *p++ = ',';
                *p++ = ',';
                p = put_uint(p, (unsigned long)t);
                for (int j = 0; j < n_tcols; j++) {
                    *p++ = ',';
                    p = put_value(p, -1, gs_trace_series_get(trace, i, k, (GsTimeCol)tcols[j], t));
                }
                *p++ = '\n';
                fwrite(row, 1, (size_t)(p - row), fp);
            }
        }
        if (ferror(fp))
            break; /* the commit reports it */
    }
    return gs_atomic_commit(&af, err);
}

/* Header map codes besides a GsCol: a cell to skip, the two text columns, the time step, and
 * time column c as MAP_TCOL0 - c. */
enum { MAP_SKIP = -1, MAP_NAME = -2, MAP_KIND = -3, MAP_T = -4, MAP_TCOL0 = -10 };
#define IS_MAP_TCOL(m) ((m) <= MAP_TCOL0)
#define MAP_TCOL_OF(m) (MAP_TCOL0 - (m))

/* A file this small in rows cannot ask for a dense table larger than this many cells: a
 * corrupt step or layer number (one row at layer 100000 per step) would otherwise cost
 * gigabytes for a few kilobytes of file. */
#define MAX_CELLS_PER_ROW 64.0
#define MAX_CELLS_SLACK 1e6

/* One series while its step is read: rows arrive with increasing t, possibly interleaved
 * with other series' rows; the values wait here until the step ends. */
typedef struct {
    size_t id;      /* its layer id in the file */
    size_t k;       /* its series index in the trace (series are sorted by id at the end) */
    double *buf;    /* last_t x n_tcols values, row-major by t */
    size_t buf_cap; /* rows buf has room for */
    size_t last_t;  /* highest t read at the current step (0: none yet) */
} ReadSeries;

/* Reader state for one file. */
typedef struct {
    GsCsvFile f;
    GsTrace *t;
    int *map;            /* header index -> GsCol to parse, or a MAP_ code */
    size_t n_head;       /* cells in the header */
    size_t head_line;    /* line number of the header */
    unsigned char *seen; /* per layer of the current step: row already read */
    size_t seen_cap;
    size_t rows;                /* data rows stored so far */
    size_t rows_last;           /* rows of the last step */
    size_t rows_most;           /* most rows of any step before the last */
    int short_row;              /* the failing row had fewer cells than the header */
    int tcol_of[GS_TCOL_COUNT]; /* time columns in the header, in header order: GsTimeCol */
    size_t n_tcols;             /* time columns in the header */
    int has_t;                  /* the header has `t` */
    size_t max_param;           /* highest layer id of a per-layer row (0: none yet) */
    unsigned char *ever;        /* per layer id - 1 (< seen_cap): some per-layer row had it */
    ReadSeries *rs;             /* series seen so far, in order of first appearance */
    size_t n_rs, cap_rs;
    double *col;         /* scratch column for handing a series' values to the trace */
    size_t col_cap;      /* doubles in col */
    double series_cells; /* time values the series blocks will hold, for the density bound */
} Reader;

/* Error for a row that ends after `got` cells; flags it, as a cut-off last line is forgiven. */
static GsStatus short_row(Reader *r, size_t got, GsError *err)
{
    r->short_row = 1;
    return gs_error(err, GS_ERR_FORMAT, "%s:%zu: %zu cells, header has %zu", r->f.path, r->f.lineno,
                    got, r->n_head);
}

/* "# key = value" before the header; other comment lines are ignored. */
static GsStatus read_meta_line(Reader *r, GsError *err)
{
    /* A carriage return or NUL inside the line becomes a blank, as the writer would write it,
     * so the pair survives a write and read (found by fuzzing). */
    for (size_t i = 0; i < r->f.len; i++)
        if (r->f.line[i] == '\r' || r->f.line[i] == '\0')
            r->f.line[i] = ' ';
    const char *s = r->f.line + 1;
    const char *eq = strchr(s, '=');
    if (!eq)
        return GS_OK;
    const char *kb = s, *ke = eq;
    while (kb < ke && (*kb == ' ' || *kb == '\t'))
        kb++;
    while (ke > kb && (ke[-1] == ' ' || ke[-1] == '\t'))
        ke--;
    if (ke == kb)
        return GS_OK;
    const char *vb = eq + 1, *ve = r->f.line + r->f.len;
    while (vb < ve && (*vb == ' ' || *vb == '\t'))
        vb++;
    while (ve > vb && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    /* Terminate key and value in the line buffer, which is ours and rewritten next line. */
    r->f.line[ke - r->f.line] = '\0';
    r->f.line[ve - r->f.line] = '\0';
    if (gs_trace_meta_set(r->t, kb, vb) != GS_OK)
        return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", r->f.path, r->f.lineno);
    return GS_OK;
}

static GsStatus read_header(Reader *r, uint64_t wanted, GsError *err)
{
    const char *path = r->f.path;
    size_t n = 1;
    for (size_t i = 0; i < r->f.len; i++)
        n += r->f.line[i] == ',';
    r->map = malloc(n * sizeof *r->map);
    if (!r->map)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
    r->head_line = r->f.lineno;
    GsCsvCells cells;
    gs_csv_cells_init(&cells, r->f.line, r->f.len);
    const char *cell;
    size_t len;
    uint64_t present = 0;
    int have_name = 0, have_kind = 0;
    uint32_t tpresent = 0;
    char name[64];
    r->n_head = 0;
    while (gs_csv_cells_next(&cells, &cell, &len)) {
        int c = -1;
        if (len < sizeof name) {
            memcpy(name, cell, len);
            name[len] = '\0';
            c = gs_trace_col_from_name(name);
            int tc = c < 0 ? gs_trace_tcol_from_name(name) : -1;
            if (tc >= 0 || (c < 0 && strcmp(name, "t") == 0)) {
                if (tc >= 0 ? (int)((tpresent >> tc) & 1) : r->has_t)
                    return gs_error(err, GS_ERR_FORMAT,
                                    "%s:%zu:%zu: column '%s' appears twice in header", path,
                                    r->f.lineno, cells.col, name);
                if (tc >= 0) {
                    tpresent |= UINT32_C(1) << tc;
                    r->tcol_of[r->n_tcols++] = tc;
                    r->map[r->n_head++] = MAP_TCOL0 - tc;
                } else {
                    r->has_t = 1;
                    r->map[r->n_head++] = MAP_T;
                }
                continue;
            }
            if (c < 0 && (strcmp(name, "name") == 0 || strcmp(name, "kind") == 0)) {
                int *seen = name[0] == 'n' ? &have_name : &have_kind;
                if (*seen)
                    return gs_error(err, GS_ERR_FORMAT,
                                    "%s:%zu:%zu: column '%s' appears twice in header", path,
                                    r->f.lineno, cells.col, name);
                *seen = 1;
                r->map[r->n_head++] = name[0] == 'n' ? MAP_NAME : MAP_KIND;
                continue;
            }
        }
        if (c >= 0 && (present & GS_COL_BIT(c)))
            return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: column '%s' appears twice in header",
                            path, r->f.lineno, cells.col, name); /* a known name: printable */
        if (c >= 0)
            present |= GS_COL_BIT(c);
        r->map[r->n_head++] = c >= 0 && (wanted & GS_COL_BIT(c)) ? c : MAP_SKIP;
    }
    static const GsCol required[] = {GS_COL_STEP, GS_COL_LAYER, GS_COL_GRAD_NORM};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (!(present & GS_COL_BIT(required[k])))
            return gs_error(err, GS_ERR_FORMAT,
                            "%s: missing required column '%s' in header (line %zu)", path,
                            gs_trace_col_name(required[k]), r->f.lineno);
    if (r->n_tcols && !r->has_t)
        return gs_error(err, GS_ERR_FORMAT,
                        "%s: column '%s' in header (line %zu) needs a column 't' (the time step)",
                        path, gs_trace_tcol_name((GsTimeCol)r->tcol_of[0]), r->f.lineno);
    uint64_t keep = present & wanted;
    /* Store (and mark as holding data) exactly the wanted columns the file has. */
    r->t->stored = keep | GS_COL_BIT(GS_COL_STEP) | GS_COL_BIT(GS_COL_LAYER);
    r->t->has = r->t->stored;
    return GS_OK;
}

/* Step or layer cell: an integer in [lo, hi]. */
static GsStatus parse_index(Reader *r, const char *cell, size_t len, size_t col, const char *name,
                            double lo, double hi, double *out, GsError *err)
{
    const char *path = r->f.path;
    if (len == 0)
        return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: empty %s", path, r->f.lineno, col, name);
    double v;
    if (!gs_csv_parse_number(cell, len, &v))
        return gs_csv_err_nonnumeric(err, path, r->f.lineno, col, cell, len, name);
    if (!(v >= lo && v <= hi) || v != floor(v)) {
        char shown[GS_CSV_SHOW_CAP];
        return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: %s '%s' is not an integer in [%.0f, %.0f]",
                        path, r->f.lineno, col, name, gs_csv_show(shown, cell, len), lo, hi);
    }
    *out = v;
    return GS_OK;
}

/* A name or kind cell of the current row, not yet stored. */
typedef struct {
    const char *s;
    size_t len;
    size_t col; /* 1-based column, for messages */
} TextCell;

/* Stores a row's name or kind cell in *slot, the text of layer id `id` (a layer's or a
 * series'): the first non-empty one wins; a different one later is an error, since a layer's
 * name is the same on all its rows. */
static GsStatus keep_layer_text(Reader *r, char **slot, size_t id, const TextCell *tc, int is_kind,
                                GsError *err)
{
    const char *what = is_kind ? "kind" : "name";
    const char *s = tc->s;
    size_t len = tc->len;
    /* The tokenizer trimmed outside the quotes; trim inside too, as the writer never quotes
     * blanks. */
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return GS_OK;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch < 0x20 || ch == 0x7F) {
            char shown[GS_CSV_SHOW_CAP];
            return gs_error(err, GS_ERR_FORMAT,
                            "%s:%zu:%zu: %s '%s' holds a double quote or a control byte "
                            "(not allowed in a layer %s)",
                            r->f.path, r->f.lineno, tc->col, what, gs_csv_show(shown, s, len),
                            what);
        }
    }
    if (*slot) {
        if (strlen(*slot) == len && memcmp(*slot, s, len) == 0)
            return GS_OK;
        char shown[GS_CSV_SHOW_CAP], before[GS_CSV_SHOW_CAP];
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: layer %zu %s '%s' differs from '%s' on an earlier row",
                        r->f.path, r->f.lineno, tc->col, id, what, gs_csv_show(shown, s, len),
                        gs_csv_show(before, *slot, strlen(*slot)));
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", r->f.path, r->f.lineno);
    memcpy(copy, s, len);
    copy[len] = '\0';
    *slot = copy;
    return GS_OK;
}

/* Grows a byte-per-layer array to hold index layer - 1 (new entries 0). */
static int grow_flags(unsigned char **a, size_t old_cap, size_t cap)
{
    unsigned char *s = realloc(*a, cap);
    if (!s)
        return 0;
    memset(s + old_cap, 0, cap - old_cap);
    *a = s;
    return 1;
}

/* Hands every series' values of the step just read to the trace (recorded step index i)
 * and empties the buffers. */
static GsStatus flush_series(Reader *r, size_t i, GsError *err)
{
    size_t nt = r->n_tcols;
    for (size_t s = 0; s < r->n_rs; s++) {
        ReadSeries *q = &r->rs[s];
        size_t T = q->last_t;
        if (T == 0)
            continue;
        q->last_t = 0;
        GsStatus st = gs_trace_series_fix_len(r->t, i, q->k, T);
        for (size_t j = 0; st == GS_OK && j < nt; j++) {
            for (size_t t = 0; t < T; t++)
                r->col[t] = q->buf[t * nt + j];
            st = gs_trace_series_set(r->t, i, q->k, (GsTimeCol)r->tcol_of[j], r->col, T);
        }
        if (st != GS_OK) /* lengths agree by construction: only memory can fail */
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", r->f.path, r->f.lineno);
    }
    return GS_OK;
}

/* The reader's series with layer id `id`, or NULL. */
static ReadSeries *find_series(Reader *r, size_t id)
{
    for (size_t s = 0; s < r->n_rs; s++)
        if (r->rs[s].id == id)
            return &r->rs[s];
    return NULL;
}

/* Stores one through-time row: series at layer id `layer`, time step tval, time values tv
 * (header order). The step is already the trace's last one. */
static GsStatus read_series_row(Reader *r, long step, size_t layer, size_t layer_col, size_t tval,
                                size_t t_col, const double *tv, const TextCell *text, GsError *err)
{
    const char *path = r->f.path;
    size_t line = r->f.lineno;
    if (layer <= r->max_param) {
        if (layer <= r->seen_cap && r->ever[layer - 1])
            return gs_error(err, GS_ERR_FORMAT,
                            "%s:%zu:%zu: layer %zu has both per-layer rows and through-time rows "
                            "(t = %zu)",
                            path, line, layer_col, layer, tval);
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: through-time row (t = %zu) at layer %zu, not above the "
                        "per-layer rows' layers (up to %zu): series take the layer ids after them",
                        path, line, layer_col, tval, layer, r->max_param);
    }
    ReadSeries *q = find_series(r, layer);
    if (!q) {
        if (r->n_rs == r->cap_rs) {
            size_t cap = r->cap_rs ? 2 * r->cap_rs : 4;
            ReadSeries *a = realloc(r->rs, cap * sizeof *a);
            if (!a)
                return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
            r->rs = a;
            r->cap_rs = cap;
        }
        size_t k;
        if (gs_trace_add_series(r->t, NULL, NULL, &k) != GS_OK)
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        q = &r->rs[r->n_rs++];
        memset(q, 0, sizeof *q);
        q->id = layer;
        q->k = k;
    }
    if (tval <= q->last_t)
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: t %zu after t %zu for step %ld layer %zu (t must increase "
                        "within a step's series)",
                        path, line, t_col, tval, q->last_t, step, layer);
    GsStatus st;
    for (int k = 0; k < 2; k++) {
        char **slot = k ? &r->t->series_kind[q->k] : &r->t->series_name[q->k];
        if (text[k].len && (st = keep_layer_text(r, slot, layer, &text[k], k, err)) != GS_OK)
            return st;
    }
    /* The blocks are as long as the highest t: refuse a t the rows read cannot justify. */
    size_t nt = r->n_tcols;
    double add = (double)(tval - q->last_t) * (double)(nt ? nt : 1);
    double limit = MAX_CELLS_PER_ROW * (double)(r->rows + 1) + MAX_CELLS_SLACK;
    if (r->series_cells + add > limit)
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: t %zu would make the through-time values %.3g for %zu rows "
                        "(limit 64 per row + 1e6): the t numbers look corrupt",
                        path, line, t_col, tval, r->series_cells + add, r->rows + 1);
    if (tval > q->buf_cap || tval > r->col_cap) {
        size_t cap = 2 * q->buf_cap > tval ? 2 * q->buf_cap : tval;
        if (tval > q->buf_cap) {
            double *b = realloc(q->buf, cap * (nt ? nt : 1) * sizeof *b);
            if (!b)
                return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
            q->buf = b;
            q->buf_cap = cap;
        }
        if (tval > r->col_cap) {
            cap = 2 * r->col_cap > tval ? 2 * r->col_cap : tval;
            double *c = realloc(r->col, cap * sizeof *c);
            if (!c)
                return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
            r->col = c;
            r->col_cap = cap;
        }
    }
    double miss = gs_trace_missing_value();
    for (size_t t = q->last_t + 1; t < tval; t++) /* a gap in t: no value there */
        for (size_t j = 0; j < nt; j++)
            q->buf[(t - 1) * nt + j] = miss;
    for (size_t j = 0; j < nt; j++)
        q->buf[(tval - 1) * nt + j] = tv[j];
    q->last_t = tval;
    r->series_cells += add;
    return GS_OK;
}

static GsStatus read_row(Reader *r, GsError *err)
{
    const char *path = r->f.path;
    size_t line = r->f.lineno;
    double val[GS_COL_COUNT];
    double tv[GS_TCOL_COUNT]; /* time values in header order */
    double tval = 0;          /* the row's t; 0 for a per-layer row (empty t) */
    size_t step_col = 0, layer_col = 0, t_col = 0, n_tv = 0;
    TextCell text[2] = {{NULL, 0, 0}, {NULL, 0, 0}}; /* name, kind */
    GsCsvCells cells;
    gs_csv_cells_init(&cells, r->f.line, r->f.len);
    GsStatus st;
    for (size_t h = 0; h < r->n_head; h++) {
        int c = r->map[h];
        if (c == MAP_NAME || c == MAP_KIND) {
            TextCell *tc = &text[c == MAP_KIND];
            if (!gs_csv_cells_next(&cells, &tc->s, &tc->len))
                return short_row(r, h, err);
            tc->col = cells.col;
            continue;
        }
        if (c == MAP_SKIP) {
            if (!gs_csv_cells_skip(&cells))
                return short_row(r, h, err);
            continue;
        }
        const char *cell;
        size_t len;
        if (!gs_csv_cells_next(&cells, &cell, &len))
            return short_row(r, h, err);
        if (c == MAP_T) {
            t_col = cells.col;
            st = len ? parse_index(r, cell, len, cells.col, "t", 1, GS_TRACE_MAX_T, &tval, err)
                     : GS_OK;
        } else if (IS_MAP_TCOL(c)) {
            double *v = &tv[n_tv++];
            *v = gs_trace_missing();
            st = len == 0 || gs_csv_parse_number(cell, len, v)
                     ? GS_OK
                     : gs_csv_err_nonnumeric(err, path, line, cells.col, cell, len,
                                             gs_trace_tcol_name((GsTimeCol)MAP_TCOL_OF(c)));
        } else if (c == GS_COL_STEP) {
            st = parse_index(r, cell, len, cells.col, "step", 0, MAX_STEP, &val[c], err);
            step_col = cells.col;
        } else if (c == GS_COL_LAYER) {
            st = parse_index(r, cell, len, cells.col, "layer", 1, (double)MAX_LAYER, &val[c], err);
            layer_col = cells.col;
        } else if (len == 0) {
            val[c] = gs_trace_missing();
            continue;
        } else {
            st = gs_csv_parse_number(cell, len, &val[c])
                     ? GS_OK
                     : gs_csv_err_nonnumeric(err, path, line, cells.col, cell, len,
                                             gs_trace_col_name((GsCol)c));
        }
        if (st != GS_OK)
            return st;
    }
    if (cells.more) {
        size_t n = r->n_head;
        while (gs_csv_cells_skip(&cells))
            n++;
        return gs_error(err, GS_ERR_FORMAT, "%s:%zu: %zu cells, header has %zu", path, line, n,
                        r->n_head);
    }

    GsTrace *t = r->t;
    long step = (long)val[GS_COL_STEP];
    size_t layer = (size_t)val[GS_COL_LAYER];
    int series_row = tval > 0;
    int new_step = t->n_steps == 0 || step > t->steps[t->n_steps - 1];
    if (!new_step && step < t->steps[t->n_steps - 1])
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: step %ld after step %ld (steps must be non-decreasing)", path,
                        line, step_col, step, t->steps[t->n_steps - 1]);
    if (!series_row && r->n_rs) {
        /* Series take the layer ids after every per-layer row's. */
        size_t lowest = r->rs[0].id;
        for (size_t s = 1; s < r->n_rs; s++)
            lowest = r->rs[s].id < lowest ? r->rs[s].id : lowest;
        if (layer == lowest || (layer > lowest && find_series(r, layer)))
            return gs_error(err, GS_ERR_FORMAT,
                            "%s:%zu:%zu: layer %zu has both through-time rows and a per-layer row "
                            "(empty t)",
                            path, line, layer_col, layer);
        if (layer > lowest)
            return gs_error(err, GS_ERR_FORMAT,
                            "%s:%zu:%zu: per-layer row at layer %zu, above the through-time "
                            "series at layer %zu: series take the layer ids after all layers",
                            path, line, layer_col, layer, lowest);
    }
    /* The table is dense (steps x highest layer): refuse before allocating when the rows
     * read so far cannot justify its size. */
    size_t n_steps = t->n_steps + (size_t)new_step;
    size_t n_layers = !series_row && layer > t->n_layers ? layer : t->n_layers;
    double dense = (double)n_steps * (double)n_layers;
    double limit = MAX_CELLS_PER_ROW * (double)(r->rows + 1) + MAX_CELLS_SLACK;
    if (dense > limit)
        return gs_error(
            err, GS_ERR_FORMAT,
            "%s:%zu:%zu: step %ld layer %zu would make the table %zu steps x %zu layers "
            "= %.3g cells for %zu rows (limit 64 per row + 1e6): the step or layer "
            "numbers look corrupt",
            path, line, layer_col, step, layer, n_steps, n_layers, dense, r->rows + 1);
    if (new_step) {
        if (t->n_steps && (st = flush_series(r, t->n_steps - 1, err)) != GS_OK)
            return st;
        if (gs_trace_append_missing_step(t, step) != GS_OK)
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        if (r->seen_cap)
            memset(r->seen, 0, r->seen_cap < t->n_layers ? r->seen_cap : t->n_layers);
        if (r->rows_last > r->rows_most)
            r->rows_most = r->rows_last;
        r->rows_last = 0;
    }
    if (series_row) {
        /* Regular cells of a through-time row are ignored (the writer leaves them empty). */
        st = read_series_row(r, step, layer, layer_col, (size_t)tval, t_col, tv, text, err);
        if (st != GS_OK)
            return st;
        r->rows++;
        r->rows_last++;
        return GS_OK;
    }
    if (layer > t->n_layers && gs_trace_widen(t, layer) != GS_OK)
        return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
    if (layer > r->seen_cap) {
        size_t cap = 2 * r->seen_cap > layer ? 2 * r->seen_cap : layer;
        if (!grow_flags(&r->seen, r->seen_cap, cap) || !grow_flags(&r->ever, r->seen_cap, cap))
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        r->seen_cap = cap;
    }
    if (r->seen[layer - 1])
        return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: second row for step %ld layer %zu", path,
                        line, layer_col, step, layer);
    r->seen[layer - 1] = 1;
    r->ever[layer - 1] = 1;
    if (layer > r->max_param)
        r->max_param = layer;
    if (text[0].len || text[1].len) {
        if (gs_trace_reserve_names(t, layer) != GS_OK)
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        for (int k = 0; k < 2; k++) {
            char **slot = k ? &t->layer_kind[layer - 1] : &t->layer_name[layer - 1];
            if (text[k].len && (st = keep_layer_text(r, slot, layer, &text[k], k, err)) != GS_OK)
                return st;
        }
    }
    /* Time cells of a per-layer row are ignored (the writer leaves them empty). */
    size_t at = (t->n_steps - 1) * t->stride + (layer - 1);
    for (size_t h = 0; h < r->n_head; h++) {
        int c = r->map[h];
        if (c > GS_COL_LAYER)
            gs_trace_set_cell(t, c, at, val[c]);
    }
    r->rows++;
    r->rows_last++;
    return GS_OK;
}

/* Puts the trace's series in the order of their layer ids (a file may introduce them in any
 * order). */
static GsStatus sort_series(Reader *r, GsError *err)
{
    size_t n = r->n_rs;
    size_t *order = malloc(n * sizeof *order);
    if (!order)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", r->f.path);
    /* rs[s].k == s (series are added as they appear): insertion sort of indices by id. */
    for (size_t j = 0; j < n; j++) {
        size_t s = j;
        while (s > 0 && r->rs[order[s - 1]].id > r->rs[j].id) {
            order[s] = order[s - 1];
            s--;
        }
        order[s] = j;
    }
    int sorted = 1;
    for (size_t j = 0; j < n; j++)
        sorted &= order[j] == j;
    GsStatus st = sorted ? GS_OK : gs_trace_series_permute(r->t, order);
    free(order);
    if (st != GS_OK)
        return gs_error(err, st, "%s: out of memory", r->f.path);
    return GS_OK;
}

/* 1 when nothing but blank and '#' lines follows (then the current line is the last row).
 * Reads on, which is fine: the caller stops either way. */
static int rest_is_empty(GsCsvFile *f)
{
    GsStatus st;
    GsError scratch;
    int got;
    while ((got = gs_csv_next_line(f, &st, &scratch)) > 0)
        if (!gs_csv_line_blank(f) && f->line[0] != '#')
            return 0;
    return got == 0;
}

GsStatus gs_trace_read_csv(const char *path, uint64_t columns, GsTrace **out, GsError *err)
{
    assert(path && out);
    Reader r;
    memset(&r, 0, sizeof r);
    GsStatus st = gs_csv_open(&r.f, path, err);
    if (st != GS_OK)
        return st;
    /* Nothing stored until the header says which columns exist. */
    st = gs_trace_create(1, 0, &r.t);
    if (st != GS_OK) {
        gs_csv_close(&r.f);
        return gs_error(err, st, "%s: out of memory", path);
    }
    uint64_t wanted = (columns & GS_COL_ALL) | GS_COL_BIT(GS_COL_STEP) | GS_COL_BIT(GS_COL_LAYER);
    r.t->compact = (columns & GS_TRACE_COMPACT) != 0;
    int got, have_header = 0, sized = 0;
    int cut = 0;             /* the last data line is cut off and dropped */
    size_t cut_line = 0;     /* its line number */
    uint64_t data_start = 0; /* file offset of the first line after the header */
    uint64_t line_start = 0; /* file offset of the current line */
    struct stat sb;
    off_t file_size = fstat(fileno(r.f.fp), &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : 0;
    while ((got = gs_csv_next_line(&r.f, &st, err)) > 0) {
        uint64_t this_start = line_start;
        line_start = r.f.offset;
        if (gs_csv_line_blank(&r.f))
            continue;
        if (r.f.line[0] == '#') {
            if (!have_header && (st = read_meta_line(&r, err)) != GS_OK)
                break;
            continue;
        }
        if (!have_header) {
            if ((st = read_header(&r, wanted, err)) != GS_OK)
                break;
            have_header = 1;
            data_start = r.f.offset;
            continue;
        }
        /* A data line without its newline ends the file: training stopped while writing it,
         * so its last cell may be cut short. Drop it rather than read a wrong number. */
        if (!r.f.eol) {
            cut = 1;
            cut_line = r.f.lineno;
            break;
        }
        r.short_row = 0;
        if ((st = read_row(&r, err)) != GS_OK) {
            size_t line = r.f.lineno;
            if (r.short_row && rest_is_empty(&r.f)) {
                st = GS_OK; /* the last line is cut short: forgiven below */
                cut = 1;
                cut_line = line;
            }
            break;
        }
        /* When the second step starts, the first one's bytes tell how many steps the file
         * holds: reserve them once instead of doubling (which would leave up to half of the
         * largest arrays unused), unless the estimate breaks the density bound. */
        if (!sized && r.t->n_steps == 2) {
            sized = 1;
            gs_trace_fit_stride(r.t);
            if (file_size > 0 && this_start > data_start) {
                double per_step = (double)(this_start - data_start);
                double steps = (double)((uint64_t)file_size - data_start) / per_step * 1.02 + 16;
                double rows = steps * (double)r.rows_most;
                double cells = steps * (double)r.t->n_layers;
                size_t est = (size_t)steps;
                if (cells <= MAX_CELLS_PER_ROW * rows + MAX_CELLS_SLACK &&
                    gs_trace_reserve(r.t, est) != GS_OK) {
                    st = gs_error(err, GS_ERR_NOMEM, "%s: out of memory for %zu steps", path, est);
                    break;
                }
            }
        }
    }
    if (st == GS_OK && cut) {
        /* The cut-off line may leave its step short of rows (layer or through-time ones):
         * then the trace ends at the step before, the last complete one. */
        r.t->dropped = 1;
        if (r.t->n_steps >= 2 && r.rows_last < r.rows_most) {
            for (size_t s = 0; s < r.n_rs; s++)
                r.rs[s].last_t = 0; /* its series values go with it */
            r.t->n_steps--;
            r.t->dropped += r.rows_last;
        }
    }
    if (st == GS_OK && r.t->n_steps)
        st = flush_series(&r, r.t->n_steps - 1, err);
    if (st == GS_OK && r.n_rs > 1)
        st = sort_series(&r, err);
    /* a series seen only in the dropped step is not in the trace */
    if (st == GS_OK && cut && gs_trace_series_prune_empty(r.t) != GS_OK)
        st = gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
    if (st == GS_OK) {
        if (!have_header)
            st = gs_error(err, GS_ERR_FORMAT, "%s: empty trace (no header)", path);
        else if (r.t->n_steps == 0 && cut)
            st = gs_error(err, GS_ERR_FORMAT,
                          "%s: empty trace (the only row, line %zu, is cut off)", path, cut_line);
        else if (r.t->n_steps == 0)
            st = gs_error(err, GS_ERR_FORMAT, "%s: empty trace (no rows)", path);
    }
    gs_csv_close(&r.f);
    free(r.map);
    free(r.seen);
    free(r.ever);
    for (size_t s = 0; s < r.n_rs; s++)
        free(r.rs[s].buf);
    free(r.rs);
    free(r.col);
    if (st == GS_OK)
        st = gs_trace_hist_read_side(r.t, path, err);
    if (st != GS_OK) {
        gs_trace_destroy(r.t);
        return st;
    }
    gs_trace_shrink(r.t);
    *out = r.t;
    return GS_OK;
}
