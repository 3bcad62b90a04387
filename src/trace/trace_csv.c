/* Trace CSV writer and streaming reader (DESIGN.md "Trace schema").
 * The reader makes one pass with one line in memory, parses only the wanted cells, and
 * fills the table in place: a new step appends a block of missing cells; a layer above the current
 * count widens the table to exactly that layer (one copy per rise, which in the usual
 * layout happens only while reading the first step). */
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

/* Metadata text on one line: newlines would break the file's structure. */
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

/* 1 when any layer has a name or a kind (then the file gets both columns). */
static int has_layer_names(const GsTrace *t)
{
    for (size_t l = 0; l < t->n_layers && l < t->cap_names; l++)
        if (t->layer_name[l] || t->layer_kind[l])
            return 1;
    return 0;
}

GsStatus gs_trace_write_csv(const GsTrace *trace, const char *path, GsError *err)
{
    assert(trace && path && !trace->pending);
    GsAtomicFile af;
    GsStatus st = gs_atomic_open(&af, path, err);
    if (st != GS_OK)
        return st;
    FILE *fp = af.fp;
    for (size_t i = 0; i < trace->n_meta; i++) {
        fputs("# ", fp);
        put_meta_text(fp, trace->meta_key[i]);
        fputs(" = ", fp);
        put_meta_text(fp, trace->meta_val[i]);
        fputc('\n', fp);
    }
    int cols[GS_COL_COUNT];
    int n_cols = 0;
    for (int c = 0; c < GS_COL_COUNT; c++)
        if (gs_trace_has(trace, (GsCol)c))
            cols[n_cols++] = c;
    int names = has_layer_names(trace);
    for (int k = 0; k < n_cols; k++) {
        fputs(gs_trace_col_name((GsCol)cols[k]), fp);
        if (k == GS_COL_LAYER && names)
            fputs(",name,kind", fp);
        fputc(k + 1 < n_cols ? ',' : '\n', fp);
    }
    size_t nl = trace->n_layers;
    /* One row in a local buffer: at most 32 bytes per cell plus separators. */
    char row[GS_COL_COUNT * 40];
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
                p = put_value(p, cols[k], gs_trace_cell(trace, cols[k], i * nl + l));
            }
            *p++ = '\n';
            fwrite(row, 1, (size_t)(p - row), fp);
        }
        if (ferror(fp))
            break; /* the commit reports it */
    }
    return gs_atomic_commit(&af, err);
}

/* Reader state for one file. */
/* Header map codes besides a GsCol: a cell to skip, and the two text columns. */
enum { MAP_SKIP = -1, MAP_NAME = -2, MAP_KIND = -3 };

typedef struct {
    GsCsvFile f;
    GsTrace *t;
    int *map;            /* header index -> GsCol to parse, or a MAP_ code */
    size_t n_head;       /* cells in the header */
    size_t head_line;    /* line number of the header */
    unsigned char *seen; /* per layer of the current step: row already read */
    size_t seen_cap;
} Reader;

/* "# key = value" before the header; other comment lines are ignored. */
static GsStatus read_meta_line(Reader *r, GsError *err)
{
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
    char name[64];
    r->n_head = 0;
    while (gs_csv_cells_next(&cells, &cell, &len)) {
        int c = -1;
        if (len < sizeof name) {
            memcpy(name, cell, len);
            name[len] = '\0';
            c = gs_trace_col_from_name(name);
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
                            path, r->f.lineno, cells.col, name);
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
    uint64_t keep = present & wanted;
    /* Store (and mark as holding data) exactly the wanted columns the file has. */
    r->t->stored = keep | GS_COL_BIT(GS_COL_STEP) | GS_COL_BIT(GS_COL_LAYER);
    r->t->has = r->t->stored;
    return GS_OK;
}

/* Step or layer cell: an integer in [lo, hi]. */
static GsStatus parse_index(Reader *r, const char *cell, size_t len, size_t col, int c, double lo,
                            double hi, double *out, GsError *err)
{
    const char *path = r->f.path;
    const char *name = gs_trace_col_name((GsCol)c);
    if (len == 0)
        return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: empty %s", path, r->f.lineno, col, name);
    double v;
    if (!gs_csv_parse_number(cell, len, &v))
        return gs_csv_err_nonnumeric(err, path, r->f.lineno, col, cell, len, name);
    if (!(v >= lo && v <= hi) || v != floor(v)) {
        int shown = len > 40 ? 40 : (int)len;
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: %s '%.*s' is not an integer in [%.0f, %.0f]", path,
                        r->f.lineno, col, name, shown, cell, lo, hi);
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

/* Stores a row's name or kind cell as layer li's (the first non-empty one wins; a different
 * one later is an error, since a layer's name is the same on all its rows). */
static GsStatus keep_layer_text(Reader *r, size_t li, const TextCell *tc, int is_kind, GsError *err)
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
            int shown = len > 40 ? 40 : (int)len;
            return gs_error(err, GS_ERR_FORMAT,
                            "%s:%zu:%zu: %s '%.*s' holds a double quote or a control byte "
                            "(not allowed in a layer %s)",
                            r->f.path, r->f.lineno, tc->col, what, shown, s, what);
        }
    }
    GsTrace *t = r->t;
    if (gs_trace_reserve_names(t, li + 1) != GS_OK)
        return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", r->f.path, r->f.lineno);
    char **slot = is_kind ? &t->layer_kind[li] : &t->layer_name[li];
    if (*slot) {
        if (strlen(*slot) == len && memcmp(*slot, s, len) == 0)
            return GS_OK;
        int shown = len > 40 ? 40 : (int)len;
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: layer %zu %s '%.*s' differs from '%s' on an earlier row",
                        r->f.path, r->f.lineno, tc->col, li + 1, what, shown, s, *slot);
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", r->f.path, r->f.lineno);
    memcpy(copy, s, len);
    copy[len] = '\0';
    *slot = copy;
    return GS_OK;
}

static GsStatus read_row(Reader *r, GsError *err)
{
    const char *path = r->f.path;
    size_t line = r->f.lineno;
    double val[GS_COL_COUNT];
    size_t step_col = 0, layer_col = 0;
    TextCell text[2] = {{NULL, 0, 0}, {NULL, 0, 0}}; /* name, kind */
    GsCsvCells cells;
    gs_csv_cells_init(&cells, r->f.line, r->f.len);
    GsStatus st;
    for (size_t h = 0; h < r->n_head; h++) {
        int c = r->map[h];
        if (c == MAP_NAME || c == MAP_KIND) {
            TextCell *tc = &text[c == MAP_KIND];
            if (!gs_csv_cells_next(&cells, &tc->s, &tc->len))
                return gs_error(err, GS_ERR_FORMAT, "%s:%zu: %zu cells, header has %zu", path, line,
                                h, r->n_head);
            tc->col = cells.col;
            continue;
        }
        if (c < 0) {
            if (!gs_csv_cells_skip(&cells))
                return gs_error(err, GS_ERR_FORMAT, "%s:%zu: %zu cells, header has %zu", path, line,
                                h, r->n_head);
            continue;
        }
        const char *cell;
        size_t len;
        if (!gs_csv_cells_next(&cells, &cell, &len))
            return gs_error(err, GS_ERR_FORMAT, "%s:%zu: %zu cells, header has %zu", path, line, h,
                            r->n_head);
        if (c == GS_COL_STEP) {
            st = parse_index(r, cell, len, cells.col, c, 0, MAX_STEP, &val[c], err);
            step_col = cells.col;
        } else if (c == GS_COL_LAYER) {
            st = parse_index(r, cell, len, cells.col, c, 1, (double)MAX_LAYER, &val[c], err);
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
    if (t->n_steps == 0 || step > t->steps[t->n_steps - 1]) {
        if (gs_trace_append_missing_step(t, step) != GS_OK)
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        if (r->seen_cap)
            memset(r->seen, 0, r->seen_cap);
    } else if (step < t->steps[t->n_steps - 1]) {
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: step %ld after step %ld (steps must be non-decreasing)", path,
                        line, step_col, step, t->steps[t->n_steps - 1]);
    }
    if (layer > t->n_layers && gs_trace_widen(t, layer) != GS_OK)
        return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
    if (layer > r->seen_cap) {
        unsigned char *s = realloc(r->seen, layer);
        if (!s)
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        memset(s + r->seen_cap, 0, layer - r->seen_cap);
        r->seen = s;
        r->seen_cap = layer;
    }
    if (r->seen[layer - 1])
        return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: second row for step %ld layer %zu", path,
                        line, layer_col, step, layer);
    r->seen[layer - 1] = 1;
    for (int k = 0; k < 2; k++)
        if (text[k].len && (st = keep_layer_text(r, layer - 1, &text[k], k, err)) != GS_OK)
            return st;
    size_t at = (t->n_steps - 1) * t->n_layers + (layer - 1);
    for (size_t h = 0; h < r->n_head; h++) {
        int c = r->map[h];
        if (c > GS_COL_LAYER)
            gs_trace_set_cell(t, c, at, val[c]);
    }
    return GS_OK;
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
    long data_start = -1;
    struct stat sb;
    off_t file_size = fstat(fileno(r.f.fp), &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : 0;
    while ((got = gs_csv_next_line(&r.f, &st, err)) > 0) {
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
            data_start = ftell(r.f.fp);
            continue;
        }
        long before = sized || r.t->n_steps != 1 ? -1 : ftell(r.f.fp) - (long)r.f.len - 1;
        if ((st = read_row(&r, err)) != GS_OK)
            break;
        /* When the second step starts, the first one's bytes tell how many steps the file
         * holds: reserve them once instead of doubling (which would leave up to half of the
         * largest arrays unused). */
        if (!sized && r.t->n_steps == 2) {
            sized = 1;
            if (file_size > 0 && data_start >= 0 && before > data_start) {
                double per_step = (double)(before - data_start);
                size_t est = (size_t)((double)(file_size - data_start) / per_step * 1.02) + 16;
                if (gs_trace_reserve(r.t, est) != GS_OK) {
                    st = gs_error(err, GS_ERR_NOMEM, "%s: out of memory for %zu steps", path, est);
                    break;
                }
            }
        }
    }
    if (got == 0 && st == GS_OK) {
        if (!have_header)
            st = gs_error(err, GS_ERR_FORMAT, "%s: empty trace (no header)", path);
        else if (r.t->n_steps == 0)
            st = gs_error(err, GS_ERR_FORMAT, "%s: empty trace (no rows)", path);
    }
    gs_csv_close(&r.f);
    free(r.map);
    free(r.seen);
    if (st != GS_OK) {
        gs_trace_destroy(r.t);
        return st;
    }
    gs_trace_shrink(r.t);
    *out = r.t;
    return GS_OK;
}
