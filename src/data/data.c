/* Data set front end: source names, option checks, the one allocator of data sets (the
 * sources fill what it hands them or return a table it copies), one-hot targets,
 * standardizing and scaling shared by every source, and the data set's lifetime. */
#include "gradscope/data.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_priv.h"
#include "gradscope/seq.h"
#include "util/csv.h"

/* Built-in names in GsDataKind order; K marks kinds taking ":K". */
static const struct {
    const char *name;
    int takes_k;
    int classify;
} kinds[GS_DATA_CSV] = {
    [GS_DATA_SPIRAL] = {"spiral", 1, 1},   [GS_DATA_MOONS] = {"moons", 0, 1},
    [GS_DATA_CIRCLES] = {"circles", 0, 1}, [GS_DATA_XOR] = {"xor", 0, 1},
    [GS_DATA_BLOBS] = {"blobs", 1, 1},     [GS_DATA_CHECKERBOARD] = {"checkerboard", 0, 1},
    [GS_DATA_SINE] = {"sine", 0, 0},       [GS_DATA_TEACHER] = {"teacher", 0, 0},
};

#define VALID_NAMES                                                                                \
    "spiral[:K], moons, circles, xor, blobs[:K], checkerboard, sine, teacher, "                    \
    "a path to a .csv file, or for recurrent archs adding, copy, parity, sine_seq"
#define DEFAULT_K 3
#define MAX_K 100
/* Largest synthetic data set; beyond it the request is surely a typo. */
#define MAX_SAMPLES 100000000u

GsStatus gs_data_source_parse(const char *text, GsDataSource *out, GsError *err)
{
    assert(text && out);
    size_t len = strlen(text);
    GsDataSource src;
    memset(&src, 0, sizeof src);
    if (strchr(text, '/') || (len >= 4 && strcmp(text + len - 4, ".csv") == 0)) {
        if (len >= sizeof src.path)
            return gs_error(err, GS_ERR_INVALID, "data path '%.60s...' is too long (%zu bytes)",
                            text, len);
        src.kind = GS_DATA_CSV;
        memcpy(src.path, text, len + 1);
        *out = src;
        return GS_OK;
    }
    for (int k = 0; k < GS_SEQ_COUNT; k++)
        if (!strcmp(text, gs_seq_name((GsSeqKind)k))) {
            src.kind = (GsDataKind)(GS_DATA_ADDING + k);
            *out = src;
            return GS_OK;
        }
    const char *colon = strchr(text, ':');
    size_t nlen = colon ? (size_t)(colon - text) : len;
    for (int k = 0; k < GS_DATA_CSV; k++) {
        if (strlen(kinds[k].name) != nlen || strncmp(text, kinds[k].name, nlen) != 0)
            continue;
        src.kind = (GsDataKind)k;
        if (!kinds[k].takes_k) {
            if (colon)
                return gs_error(err, GS_ERR_INVALID,
                                "data '%s': %s takes no ':K' (only spiral and blobs do)", text,
                                kinds[k].name);
            *out = src;
            return GS_OK;
        }
        src.k = DEFAULT_K;
        if (colon) {
            const char *d = colon + 1;
            long v = 0;
            int ok = *d != '\0' && strlen(d) <= 3;
            for (const char *q = d; ok && *q; q++) {
                ok = *q >= '0' && *q <= '9';
                v = v * 10 + (*q - '0');
            }
            if (!ok || v < 2 || v > MAX_K)
                return gs_error(err, GS_ERR_INVALID, "data '%s': K must be an integer from 2 to %d",
                                text, MAX_K);
            src.k = (int)v;
        }
        *out = src;
        return GS_OK;
    }
    return gs_error(err, GS_ERR_INVALID, "unknown data '%s' (valid: " VALID_NAMES ")", text);
}

char *gs_data_source_format(const GsDataSource *src, char *buf, size_t size)
{
    assert(src && buf && size > 0);
    if (src->kind == GS_DATA_CSV) {
        size_t len = strlen(src->path);
        /* A path the parser would not recognise as a path gets "./" so it reads back. */
        int plain =
            !strchr(src->path, '/') && !(len >= 4 && strcmp(src->path + len - 4, ".csv") == 0);
        snprintf(buf, size, "%s%s", plain ? "./" : "", src->path);
    } else if ((int)src->kind >= 0 && src->kind < GS_DATA_CSV && kinds[src->kind].takes_k) {
        snprintf(buf, size, "%s:%d", kinds[src->kind].name, src->k ? src->k : DEFAULT_K);
    } else if ((int)src->kind >= 0 && src->kind < GS_DATA_CSV) {
        snprintf(buf, size, "%s", kinds[src->kind].name);
    } else if (gs_data_seq_kind(src->kind) >= 0) {
        snprintf(buf, size, "%s", gs_seq_name((GsSeqKind)gs_data_seq_kind(src->kind)));
    } else {
        snprintf(buf, size, "?");
    }
    return buf;
}

int gs_data_kind_is_classification(GsDataKind kind)
{
    if (gs_data_seq_kind(kind) >= 0)
        return gs_seq_is_classification((GsSeqKind)gs_data_seq_kind(kind));
    return (int)kind >= 0 && kind < GS_DATA_CSV && kinds[kind].classify;
}

int gs_data_kind_is_sequence(GsDataKind kind)
{
    return gs_data_seq_kind(kind) >= 0;
}

int gs_data_seq_kind(GsDataKind kind)
{
    int s = (int)kind - (int)GS_DATA_ADDING;
    return s >= 0 && s < GS_SEQ_COUNT ? s : -1;
}

/* malloc size for count elements of size sz: at least 1 byte, 0 on overflow. */
static size_t bytes(size_t count, size_t sz)
{
    if (count == 0)
        return 1;
    return count > SIZE_MAX / sz ? 0 : count * sz;
}

/* The one allocator of data sets: a zeroed GsDataset with x (n x d_in), and y (n x d_out)
 * when with_y, and label (n) when with_label. NULL when out of memory. */
static GsDataset *alloc(size_t n, size_t d_in, size_t d_out, int with_y, int with_label)
{
    if ((d_in && n > SIZE_MAX / d_in) || (d_out && n > SIZE_MAX / d_out))
        return NULL;
    GsDataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->n = n;
    ds->d_in = d_in;
    ds->d_out = d_out;
    size_t bx = bytes(n * d_in, sizeof *ds->x), by = bytes(n * d_out, sizeof *ds->y);
    size_t bl = bytes(n, sizeof *ds->label);
    ds->x = bx ? malloc(bx) : NULL;
    if (with_y)
        ds->y = by ? malloc(by) : NULL;
    if (with_label)
        ds->label = bl ? malloc(bl) : NULL;
    if (!ds->x || (with_y && !ds->y) || (with_label && !ds->label)) {
        gs_data_destroy(ds);
        return NULL;
    }
    return ds;
}

void gs_data_destroy(GsDataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    free(ds->label);
    free(ds);
}

/* Per column: zero mean and unit population std; a constant column becomes 0 (its std is
 * not divided by). Moments in double. */
static void standardize(GsDataset *ds)
{
    for (size_t j = 0; j < ds->d_in; j++) {
        double s = 0, ss = 0;
        for (size_t i = 0; i < ds->n; i++)
            s += (double)ds->x[i * ds->d_in + j];
        double mean = s / (double)ds->n;
        for (size_t i = 0; i < ds->n; i++) {
            double d = (double)ds->x[i * ds->d_in + j] - mean;
            ss += d * d;
        }
        double sd = sqrt(ss / (double)ds->n);
        /* Relative threshold: float rounding leaves a constant column a tiny spread. */
        double inv = sd > 1e-12 * (fabs(mean) + 1e-30) && sd > 0 ? 1.0 / sd : 0.0;
        for (size_t i = 0; i < ds->n; i++) {
            float *x = &ds->x[i * ds->d_in + j];
            *x = (float)(((double)*x - mean) * inv);
        }
    }
}

/* Classification with an mse loss: targets become one-hot rows (labels kept). */
static GsStatus one_hot(GsDataset *ds, GsError *err)
{
    size_t k = ds->n_classes;
    size_t nb = bytes(ds->n * k, sizeof(float));
    float *y = nb ? calloc(nb / sizeof(float) + 1, sizeof *y) : NULL;
    if (!y)
        return gs_error(err, GS_ERR_NOMEM, "out of memory for %zu x %zu one-hot targets", ds->n, k);
    for (size_t i = 0; i < ds->n; i++)
        y[i * k + (size_t)ds->label[i]] = 1.0f;
    free(ds->y);
    ds->y = y;
    ds->d_out = k;
    return GS_OK;
}

/* A CSV file's data set: inputs as read; class ids as labels (classes = the largest + 1)
 * or the target as y. */
static GsStatus from_csv(const char *path, const GsDataOptions *opts, GsDataset **out, GsError *err)
{
    GsCsvTable tab = {0};
    GsStatus st = gs_data_csv_read(path, opts->target, opts->classify, &tab, err);
    if (st != GS_OK)
        return st;
    GsDataset *ds = alloc(tab.rows, tab.d_in, 1, !opts->classify, opts->classify);
    if (!ds) {
        gs_data_csv_fini(&tab);
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory for %zu rows", path, tab.rows);
    }
    memcpy(ds->x, tab.x, tab.rows * tab.d_in * sizeof *ds->x);
    if (opts->classify) {
        double top = 0;
        for (size_t i = 0; i < tab.rows; i++) {
            ds->label[i] = (int32_t)tab.t[i];
            top = tab.t[i] > top ? tab.t[i] : top;
        }
        ds->n_classes = (size_t)top + 1;
        ds->d_out = ds->n_classes;
    } else {
        for (size_t i = 0; i < tab.rows; i++)
            ds->y[i] = (float)tab.t[i];
    }
    gs_data_csv_fini(&tab);
    *out = ds;
    return GS_OK;
}

GsStatus gs_data_create(const GsDataSource *src, const GsDataOptions *opts, GsDataset **out,
                        GsError *err)
{
    assert(src && opts && out);
    if (!isfinite(opts->input_scale))
        return gs_error(err, GS_ERR_INVALID, "input scale %g is not finite", opts->input_scale);
    GsDataset *ds = NULL;
    GsStatus st;
    char name[64];
    if (src->kind == GS_DATA_CSV) {
        if ((st = from_csv(src->path, opts, &ds, err)) != GS_OK)
            return st;
    } else {
        if (gs_data_kind_is_sequence(src->kind))
            return gs_error(err, GS_ERR_INVALID,
                            "data '%s' is a sequence task for recurrent nets: use --arch rnn, "
                            "lstm or gru (or an MLP data set such as spiral)",
                            gs_data_source_format(src, name, sizeof name));
        if ((int)src->kind < 0 || src->kind > GS_DATA_CSV)
            return gs_error(err, GS_ERR_INVALID, "data kind %d is not a known kind",
                            (int)src->kind);
        gs_data_source_format(src, name, sizeof name);
        if (!kinds[src->kind].classify && opts->classify)
            return gs_error(err, GS_ERR_INVALID, "data '%s' is a regression task; use --loss mse",
                            name);
        if (opts->samples == 0 || opts->samples > MAX_SAMPLES)
            return gs_error(err, GS_ERR_INVALID, "data '%s': samples %zu must be from 1 to %u",
                            name, opts->samples, MAX_SAMPLES);
        if (!(opts->noise >= 0) || !isfinite(opts->noise))
            return gs_error(err, GS_ERR_INVALID, "data '%s': noise %g must be finite and >= 0",
                            name, opts->noise);
        if (kinds[src->kind].takes_k && src->k != 0 && (src->k < 2 || src->k > MAX_K))
            return gs_error(err, GS_ERR_INVALID, "data '%s': K must be from 2 to %d", name, MAX_K);
        GsDataShape shape;
        gs_data_synth_shape(src, opts, &shape);
        int classify = shape.n_classes > 0;
        ds = alloc(shape.n, shape.d_in, classify ? shape.n_classes : 1, !classify, classify);
        if (!ds)
            return gs_error(err, GS_ERR_NOMEM, "out of memory for %zu samples", shape.n);
        ds->n_classes = shape.n_classes;
        gs_data_synth_fill(src, opts, ds);
        if (kinds[src->kind].classify && !opts->classify && (st = one_hot(ds, err)) != GS_OK) {
            gs_data_destroy(ds);
            return st;
        }
    }
    if (opts->standardize)
        standardize(ds);
    if (opts->input_scale != 1.0) {
        float s = (float)opts->input_scale;
        for (size_t i = 0; i < ds->n * ds->d_in; i++)
            ds->x[i] *= s;
    }
    *out = ds;
    return GS_OK;
}

double gs_data_input_second_moment(const GsDataset *ds)
{
    assert(ds);
    size_t m = ds->n * ds->d_in;
    if (m == 0)
        return 0.0;
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s += (double)ds->x[i] * (double)ds->x[i];
    return s / (double)m;
}

/* The header name of the target column, chosen as the loader chooses it (name, else
 * 1-based index, else the last column); "" when the header cannot be read. */
static void target_name(const char *path, const char *target, char *name, size_t size)
{
    GsCsvFile f = {0};
    GsStatus st = GS_OK;
    name[0] = '\0';
    if (gs_csv_open(&f, path, NULL) != GS_OK)
        return;
    while (gs_csv_next_line(&f, &st, NULL) > 0) {
        if (gs_csv_line_blank(&f) || f.line[0] == '#')
            continue;
        GsCsvCells c;
        gs_csv_cells_init(&c, f.line, f.len);
        const char *cell;
        size_t len, col = 0, idx = 0;
        int by_index = target && *target && strspn(target, "0123456789") == strlen(target) &&
                       strlen(target) <= 9;
        if (by_index)
            idx = (size_t)strtol(target, NULL, 10);
        char last[256] = "", at_index[256] = "";
        while (gs_csv_cells_next(&c, &cell, &len)) {
            col++;
            snprintf(last, sizeof last, "%.*s", (int)(len < 255 ? len : 255), cell);
            if (target && *target && strlen(target) == len && !strncmp(cell, target, len)) {
                snprintf(name, size, "%s", target);
                gs_csv_close(&f);
                return;
            }
            if (by_index && col == idx)
                snprintf(at_index, sizeof at_index, "%s", last);
        }
        snprintf(name, size, "%s", by_index ? at_index : last);
        break;
    }
    gs_csv_close(&f);
}

GsStatus gs_data_csv_classes(const char *path, const char *target, int *n_classes, char *name,
                             size_t name_size, GsError *err)
{
    assert(path && n_classes);
    GsCsvTable tab = {0};
    GsStatus st = gs_data_csv_read(path, target && *target ? target : NULL, 0, &tab, err);
    if (st != GS_OK)
        return st;
    /* integers 0..K-1, every one present: class ids, not a measured quantity (judged on the
     * float the target becomes, as training sees it) */
    int seen[MAX_K] = {0};
    int top = -1, ok = tab.rows > 0;
    for (size_t i = 0; ok && i < tab.rows; i++) {
        float v = (float)tab.t[i];
        ok = v >= 0 && v < MAX_K && v == floorf(v);
        if (ok) {
            seen[(int)v] = 1;
            top = (int)v > top ? (int)v : top;
        }
    }
    for (int k = 0; ok && k <= top; k++)
        ok = seen[k];
    gs_data_csv_fini(&tab);
    *n_classes = ok && top + 1 >= 2 ? top + 1 : 0;
    if (name && name_size)
        target_name(path, target, name, name_size);
    return GS_OK;
}
