/* The trace's histogram store and its .npy side file (DESIGN.md "Histograms"). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gradscope/npy.h"
#include "gradscope/trace.h"
#include "trace/trace_priv.h"

static size_t n_kinds(unsigned kinds)
{
    size_t n = 0;
    for (int k = 0; k < GS_HIST_NKINDS; k++)
        n += (kinds >> k) & 1u;
    return n;
}

/* Floats per recorded step. */
static size_t step_floats(const GsTrace *t)
{
    return t->n_layers * n_kinds(t->hist_kinds) * GS_HIST_NB;
}

GsStatus gs_trace_hist_enable(GsTrace *t, unsigned kinds, double act_range)
{
    assert(t && t->n_steps == 0 && !t->pending);
    if (kinds & ~GS_HIST_ALL)
        return GS_ERR_INVALID;
    if ((kinds & (1u << GS_HIST_ACT)) && !(act_range > 0 && isfinite(act_range)))
        return GS_ERR_INVALID;
    char buf[64];
    gs_hist_format_kinds(kinds, buf, sizeof buf);
    if (kinds) {
        char r[40];
        snprintf(r, sizeof r, "%.17g", act_range > 0 ? act_range : 0.0);
        if (gs_trace_meta_set(t, "hist", buf) != GS_OK ||
            gs_trace_meta_set(t, "hist_bins", "228") != GS_OK ||
            gs_trace_meta_set(t, "hist_act_range", r) != GS_OK ||
            gs_trace_meta_set(t, "hist_log_edges", "-30:10:0.25") != GS_OK)
            return GS_ERR_NOMEM;
    }
    t->hist_kinds = kinds;
    t->hist_range = kinds && act_range > 0 ? act_range : 0.0;
    return GS_OK;
}

unsigned gs_trace_hist_kinds(const GsTrace *t)
{
    return t->hist_kinds;
}

double gs_trace_hist_act_range(const GsTrace *t)
{
    return t->hist_range;
}

GsStatus gs_trace_hist_add_step(GsTrace *t, size_t i)
{
    if (!t->hist_kinds)
        return GS_OK;
    size_t per = step_floats(t);
    if (i >= t->hist_cap) {
        size_t cap = t->hist_cap ? t->hist_cap : 16;
        while (cap <= i)
            cap *= 2;
        float *h = realloc(t->hist, cap * per * sizeof *h);
        if (!h)
            return GS_ERR_NOMEM;
        t->hist = h;
        t->hist_cap = cap;
    }
    float *b = t->hist + i * per;
    for (size_t k = 0; k < per; k++)
        b[k] = NAN;
    return GS_OK;
}

/* Offset of (i, li, k) in hist[], or (size_t)-1 when k is not stored. */
static size_t slot_at(const GsTrace *t, size_t i, size_t li, GsHistKind k)
{
    assert(i < t->n_steps && li < t->n_layers);
    if ((int)k < 0 || k >= GS_HIST_NKINDS || !(t->hist_kinds & (1u << k)))
        return (size_t)-1;
    size_t rank = n_kinds(t->hist_kinds & ((1u << k) - 1u));
    size_t nk = n_kinds(t->hist_kinds);
    return ((i * t->n_layers + li) * nk + rank) * GS_HIST_NB;
}

float *gs_trace_hist_slot(GsTrace *t, size_t i, size_t li, GsHistKind k)
{
    size_t at = slot_at(t, i, li, k);
    if (at == (size_t)-1)
        return NULL;
    float *s = t->hist + at;
    if (isnan(s[0])) /* counts are never NaN: the block is still unrecorded */
        memset(s, 0, GS_HIST_NB * sizeof *s);
    return s;
}

const float *gs_trace_hist(const GsTrace *t, size_t i, size_t li, GsHistKind k)
{
    size_t at = slot_at(t, i, li, k);
    return at == (size_t)-1 ? NULL : t->hist + at;
}

int gs_trace_hist_side_path(const char *csv_path, char *buf, size_t n)
{
    size_t len = strlen(csv_path);
    if (len >= 4 && !strcmp(csv_path + len - 4, ".csv"))
        len -= 4;
    int w = snprintf(buf, n, "%.*s.hist.npy", (int)len, csv_path);
    return w >= 0 && (size_t)w < n;
}

GsStatus gs_trace_hist_write_side(const GsTrace *t, const char *side_path, GsError *err)
{
    assert(t->hist_kinds);
    size_t S = t->n_steps, L = t->n_layers, nk = n_kinds(t->hist_kinds);
    size_t shape[4] = {S, L, GS_HIST_NKINDS, GS_HIST_NB};
    size_t cell = GS_HIST_NKINDS * GS_HIST_NB;
    float *a = malloc((S * L > 0 ? S * L * cell : 1) * sizeof *a);
    if (!a)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory for the histograms", side_path);
    for (size_t sl = 0; sl < S * L; sl++) {
        size_t r = 0;
        for (int k = 0; k < GS_HIST_NKINDS; k++) {
            float *d = a + sl * cell + (size_t)k * GS_HIST_NB;
            if (t->hist_kinds & (1u << k))
                memcpy(d, t->hist + (sl * nk + r++) * GS_HIST_NB, GS_HIST_NB * sizeof *d);
            else
                for (size_t b = 0; b < GS_HIST_NB; b++)
                    d[b] = NAN;
        }
    }
    GsStatus st = gs_npy_write_f32(side_path, a, shape, 4, err);
    free(a);
    return st;
}

GsStatus gs_trace_hist_read_side(GsTrace *t, const char *csv_path, GsError *err)
{
    const char *name = gs_trace_meta_get(t, "hist_file");
    if (!name || !*name)
        return GS_OK;
    /* the side file sits beside the CSV: its directory + the recorded basename */
    if (strchr(name, '/'))
        return gs_error(err, GS_ERR_FORMAT, "%s: hist_file '%s' is not a plain file name", csv_path,
                        name);
    const char *slash = strrchr(csv_path, '/');
    size_t dl = slash ? (size_t)(slash - csv_path) + 1 : 0;
    size_t need = dl + strlen(name) + 1;
    char *path = malloc(need);
    if (!path)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", csv_path);
    snprintf(path, need, "%.*s%s", (int)dl, csv_path, name);
    struct stat sb;
    if (stat(path, &sb) != 0) { /* no side file: a trace without histograms */
        free(path);
        return GS_OK;
    }
    const char *ks = gs_trace_meta_get(t, "hist");
    int kinds = ks ? gs_hist_parse_kinds(ks, NULL) : (int)GS_HIST_ALL;
    if (kinds <= 0) {
        GsStatus st = gs_error(err, GS_ERR_FORMAT, "%s: metadata hist = '%s' names no kinds",
                               csv_path, ks ? ks : "");
        free(path);
        return st;
    }
    float *a = NULL;
    size_t shape[GS_NPY_MAX_DIM], nd = 0;
    GsStatus st = gs_npy_read_f32(path, &a, shape, &nd, err);
    if (st != GS_OK) {
        free(path);
        return st;
    }
    size_t S = t->n_steps, L = t->n_layers;
    if (nd != 4 || shape[0] != S || shape[1] != L || shape[2] != GS_HIST_NKINDS ||
        shape[3] != GS_HIST_NB) {
        char got[128] = "(";
        size_t at = 1;
        for (size_t d = 0; d < nd && at < sizeof got - 24; d++)
            at += (size_t)snprintf(got + at, sizeof got - at, "%s%zu", d ? ", " : "", shape[d]);
        snprintf(got + at, sizeof got - at, ")");
        st = gs_error(err, GS_ERR_FORMAT,
                      "%s: histogram shape %s does not match the trace (%zu, %zu, %d, %d)", path,
                      got, S, L, GS_HIST_NKINDS, GS_HIST_NB);
        free(a);
        free(path);
        return st;
    }
    const char *rs = gs_trace_meta_get(t, "hist_act_range");
    double range = rs ? strtod(rs, NULL) : 0.0;
    unsigned old = t->hist_kinds;
    t->hist_kinds = (unsigned)kinds;
    size_t nk = n_kinds(t->hist_kinds), cell = GS_HIST_NKINDS * GS_HIST_NB;
    float *h = malloc((S * L * nk > 0 ? S * L * nk : 1) * GS_HIST_NB * sizeof *h);
    if (!h) {
        t->hist_kinds = old;
        st = gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
        free(a);
        free(path);
        return st;
    }
    for (size_t sl = 0; sl < S * L; sl++) {
        size_t r = 0;
        for (int k = 0; k < GS_HIST_NKINDS; k++)
            if (t->hist_kinds & (1u << k))
                memcpy(h + (sl * nk + r++) * GS_HIST_NB, a + sl * cell + (size_t)k * GS_HIST_NB,
                       GS_HIST_NB * sizeof *h);
    }
    free(t->hist);
    t->hist = h;
    t->hist_cap = S;
    t->hist_range = range > 0 && isfinite(range) ? range : 0.0;
    free(a);
    free(path);
    return GS_OK;
}
