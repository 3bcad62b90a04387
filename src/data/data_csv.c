/* Numeric CSV data sets: a header row of names, then one sample per row. One column is
 * the target (by name, else 1-based index, default the last); the others are inputs.
 * Streams the file once, growing the arrays by doubling; hands them over as a GsCsvTable
 * (data.c builds the data set from it). */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_priv.h"
#include "util/csv.h"

/* A class id beyond this is a mislabelled column rather than a real class count (the limit
 * data_priv.h states). */
#define MAX_CLASSES 10000

typedef struct {
    GsCsvFile f;
    char **names; /* header names, n_cols of them */
    size_t n_cols;
    size_t target; /* 0-based target column */
    float *x;      /* rows x (n_cols - 1) */
    double *t;     /* target value per row */
    size_t rows, cap;
} Loader;

static void loader_free(Loader *L)
{
    gs_csv_close(&L->f);
    for (size_t i = 0; i < L->n_cols; i++)
        free(L->names[i]);
    free(L->names);
    free(L->x);
    free(L->t);
}

static GsStatus read_header(Loader *L, GsError *err)
{
    const char *path = L->f.path;
    size_t n = 1;
    for (size_t i = 0; i < L->f.len; i++)
        n += L->f.line[i] == ',';
    L->names = calloc(n, sizeof *L->names);
    if (!L->names)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
    GsCsvCells cells;
    gs_csv_cells_init(&cells, L->f.line, L->f.len);
    const char *cell;
    size_t len;
    while (gs_csv_cells_next(&cells, &cell, &len)) {
        char *s = malloc(len + 1);
        if (!s)
            return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
        memcpy(s, cell, len);
        s[len] = '\0';
        L->names[L->n_cols++] = s;
    }
    if (L->n_cols < 2)
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu: header has %zu column; need inputs and a target", path,
                        L->f.lineno, L->n_cols);
    return GS_OK;
}

/* The target column from its name, else its 1-based index, else the last column. */
static GsStatus pick_target(Loader *L, const char *target, GsError *err)
{
    const char *path = L->f.path;
    if (!target || !*target) {
        L->target = L->n_cols - 1;
        return GS_OK;
    }
    for (size_t i = 0; i < L->n_cols; i++) {
        if (strcmp(L->names[i], target) == 0) {
            L->target = i;
            return GS_OK;
        }
    }
    size_t digits = strspn(target, "0123456789");
    if (target[digits] == '\0' && digits <= 9) {
        long idx = strtol(target, NULL, 10);
        if (idx < 1 || (size_t)idx > L->n_cols)
            return gs_error(err, GS_ERR_FORMAT,
                            "%s: target column index %ld out of range (the file has %zu "
                            "columns)",
                            path, idx, L->n_cols);
        L->target = (size_t)idx - 1;
        return GS_OK;
    }
    char list[600];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < L->n_cols && used + 1 < sizeof list; i++) {
        char shown[GS_CSV_SHOW_CAP];
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                         gs_csv_show(shown, L->names[i], strlen(L->names[i])));
        used += w > 0 ? (size_t)w : 0;
    }
    return gs_error(err, GS_ERR_FORMAT, "%s: no column '%s' (columns: %s)", path, target, list);
}

static GsStatus grow(Loader *L, GsError *err)
{
    size_t cap = L->cap ? 2 * L->cap : 256;
    size_t d = L->n_cols - 1;
    float *x = realloc(L->x, cap * d * sizeof *x);
    if (!x)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory at line %zu", L->f.path, L->f.lineno);
    L->x = x;
    double *t = realloc(L->t, cap * sizeof *t);
    if (!t)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory at line %zu", L->f.path, L->f.lineno);
    L->t = t;
    L->cap = cap;
    return GS_OK;
}

static GsStatus read_row(Loader *L, int classify, GsError *err)
{
    const char *path = L->f.path;
    size_t line = L->f.lineno;
    if (L->rows == L->cap) {
        GsStatus st = grow(L, err);
        if (st != GS_OK)
            return st;
    }
    float *xr = L->x + L->rows * (L->n_cols - 1);
    GsCsvCells cells;
    gs_csv_cells_init(&cells, L->f.line, L->f.len);
    const char *cell;
    size_t len, k = 0, in = 0;
    while (gs_csv_cells_next(&cells, &cell, &len)) {
        if (k >= L->n_cols) {
            size_t n = k + 1;
            while (gs_csv_cells_skip(&cells))
                n++;
            return gs_error(err, GS_ERR_FORMAT, "%s:%zu: %zu cells, header has %zu", path, line, n,
                            L->n_cols);
        }
        const char *name = L->names[k];
        char shown[GS_CSV_SHOW_CAP], shown_name[GS_CSV_SHOW_CAP];
        double v;
        if (len == 0)
            return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: empty cell in column '%s'", path, line,
                            cells.col, gs_csv_show(shown_name, name, strlen(name)));
        if (!gs_csv_parse_number(cell, len, &v))
            return gs_csv_err_nonnumeric(err, path, line, cells.col, cell, len, name);
        if (!isfinite(v) || fabs(v) > (double)FLT_MAX)
            return gs_error(err, GS_ERR_FORMAT,
                            "%s:%zu:%zu: value '%s' in column '%s' is not a finite float "
                            "(training data must be finite)",
                            path, line, cells.col, gs_csv_show(shown, cell, len),
                            gs_csv_show(shown_name, name, strlen(name)));
        if (k == L->target) {
            if (classify && (v < 0 || v != floor(v)))
                return gs_error(err, GS_ERR_FORMAT,
                                "%s:%zu:%zu: class id %s is not an integer >= 0", path, line,
                                cells.col, gs_csv_show(shown, cell, len));
            if (classify && v >= MAX_CLASSES)
                return gs_error(err, GS_ERR_FORMAT,
                                "%s:%zu:%zu: class id %s exceeds the limit of %d classes", path,
                                line, cells.col, gs_csv_show(shown, cell, len), MAX_CLASSES);
            L->t[L->rows] = v;
        } else {
            xr[in++] = (float)v;
        }
        k++;
    }
    if (k < L->n_cols)
        return gs_error(err, GS_ERR_FORMAT, "%s:%zu: %zu cells, header has %zu", path, line, k,
                        L->n_cols);
    L->rows++;
    return GS_OK;
}

GsStatus gs_data_csv_read(const char *path, const char *target, int classify, GsCsvTable *out,
                          GsError *err)
{
    Loader L;
    memset(&L, 0, sizeof L);
    GsStatus st = gs_csv_open(&L.f, path, err);
    if (st != GS_OK)
        return st;
    int got, have_header = 0;
    size_t head_line = 0;
    while ((got = gs_csv_next_line(&L.f, &st, err)) > 0) {
        if (gs_csv_line_blank(&L.f))
            continue;
        if (!have_header) {
            /* Comment lines may precede the header (as in traces). */
            if (L.f.line[0] == '#')
                continue;
            if ((st = read_header(&L, err)) != GS_OK ||
                (st = pick_target(&L, target, err)) != GS_OK)
                break;
            have_header = 1;
            head_line = L.f.lineno;
            continue;
        }
        if ((st = read_row(&L, classify, err)) != GS_OK)
            break;
    }
    if (got == 0 && st == GS_OK) {
        if (!have_header)
            st = gs_error(err, GS_ERR_FORMAT, "%s: empty file (no header)", path);
        else if (L.rows == 0)
            st = gs_error(err, GS_ERR_FORMAT, "%s: no data rows after the header (line %zu)", path,
                          head_line);
    }
    if (st == GS_OK) {
        /* the arrays change hands: the table owns them from here */
        out->rows = L.rows;
        out->d_in = L.n_cols - 1;
        out->x = L.x;
        out->t = L.t;
        L.x = NULL;
        L.t = NULL;
    }
    loader_free(&L);
    return st;
}

void gs_data_csv_fini(GsCsvTable *t)
{
    free(t->x);
    free(t->t);
    memset(t, 0, sizeof *t);
}
