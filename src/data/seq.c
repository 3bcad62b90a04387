/* Sequence data sets (adding, copy, parity, sine_seq) generated from the seed alone, one
 * independent generator stream per task so that changing one task never moves another. */
#include "gradscope/seq.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/rng.h"

#define PI 3.14159265358979323846

/* Sub-stream ids for gs_rng_derive, spelled to stay clear of other modules' streams. */
#define STREAM_SEQ UINT64_C(0x7365717374726d31)

static const struct {
    const char *name;
    int per_step, classify;
} kinds[GS_SEQ_COUNT] = {
    [GS_SEQ_ADDING] = {"adding", 0, 0},
    [GS_SEQ_COPY] = {"copy", 1, 1},
    [GS_SEQ_PARITY] = {"parity", 0, 1},
    [GS_SEQ_SINE] = {"sine_seq", 1, 0},
};

GsStatus gs_seq_parse(const char *text, GsSeqKind *out, GsError *err)
{
    assert(text && out);
    for (int k = 0; k < GS_SEQ_COUNT; k++) {
        if (strcmp(text, kinds[k].name) == 0) {
            *out = (GsSeqKind)k;
            return GS_OK;
        }
    }
    return gs_error(err, GS_ERR_INVALID,
                    "unknown sequence data set '%s' (expected adding, copy, parity or sine_seq)",
                    text);
}

const char *gs_seq_name(GsSeqKind kind)
{
    return (int)kind >= 0 && kind < GS_SEQ_COUNT ? kinds[kind].name : NULL;
}

int gs_seq_is_per_step(GsSeqKind kind)
{
    assert((int)kind >= 0 && kind < GS_SEQ_COUNT);
    return kinds[kind].per_step;
}

int gs_seq_is_classification(GsSeqKind kind)
{
    assert((int)kind >= 0 && kind < GS_SEQ_COUNT);
    return kinds[kind].classify;
}

void gs_seq_destroy(GsSeqDataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    free(ds->label);
    free(ds);
}

/* a * b * c, 0 when it overflows. */
static size_t mul3(size_t a, size_t b, size_t c)
{
    if (a == 0 || b == 0 || c == 0)
        return 0;
    if (a > SIZE_MAX / b || a * b > SIZE_MAX / c / sizeof(float))
        return 0;
    return a * b * c;
}

static void gen_adding(GsSeqDataset *ds, GsRng *r)
{
    const size_t T = ds->T, half = T / 2;
    for (size_t i = 0; i < ds->n; i++) {
        float *x = ds->x + i * T * 2;
        for (size_t t = 0; t < T; t++) {
            x[2 * t] = (float)gs_rng_uniform(r);
            x[2 * t + 1] = 0.0f;
        }
        size_t a = (size_t)gs_rng_below(r, half), b = half + (size_t)gs_rng_below(r, T - half);
        x[2 * a + 1] = 1.0f;
        x[2 * b + 1] = 1.0f;
        /* the sum of the two floats as stored, in double, then rounded once */
        ds->y[i] = (float)((double)x[2 * a] + (double)x[2 * b]);
    }
}

static void gen_copy(GsSeqDataset *ds, size_t L, size_t S, GsRng *r)
{
    const size_t T = ds->T, D = ds->d_in;
    memset(ds->x, 0, ds->n * T * D * sizeof *ds->x);
    for (size_t i = 0; i < ds->n; i++) {
        float *x = ds->x + i * T * D;
        int32_t *lab = ds->label + i * T;
        for (size_t t = 0; t < T; t++) {
            x[t * D] = 1.0f; /* blank */
            lab[t] = 0;
        }
        for (size_t t = 0; t < L; t++) {
            int32_t s = 1 + (int32_t)gs_rng_below(r, S);
            x[t * D] = 0.0f;
            x[t * D + (size_t)s] = 1.0f;
            lab[T - L + t] = s;
        }
        const size_t go = T - L - 1;
        x[go * D] = 0.0f;
        x[go * D + S + 1] = 1.0f;
    }
}

static void gen_parity(GsSeqDataset *ds, GsRng *r)
{
    for (size_t i = 0; i < ds->n; i++) {
        unsigned p = 0;
        for (size_t t = 0; t < ds->T; t++) {
            unsigned bit = (unsigned)(gs_rng_u64(r) >> 63);
            ds->x[i * ds->T + t] = (float)bit;
            p ^= bit;
        }
        ds->label[i] = (int32_t)p;
    }
}

static void gen_sine(GsSeqDataset *ds, GsRng *r)
{
    for (size_t i = 0; i < ds->n; i++) {
        double w = 0.1 + 0.5 * gs_rng_uniform(r), p = 2.0 * PI * gs_rng_uniform(r);
        for (size_t t = 0; t < ds->T; t++) {
            ds->x[i * ds->T + t] = (float)sin(w * (double)t + p);
            ds->y[i * ds->T + t] = (float)sin(w * (double)(t + 1) + p);
        }
    }
}

GsStatus gs_seq_create(const GsSeqOptions *o, GsSeqDataset **out, GsError *err)
{
    assert(o && out);
    if ((int)o->kind < 0 || o->kind >= GS_SEQ_COUNT)
        return gs_error(err, GS_ERR_INVALID, "sequence data set: unknown kind %d", (int)o->kind);
    const char *name = kinds[o->kind].name;
    if (o->samples == 0)
        return gs_error(err, GS_ERR_INVALID, "%s: the number of sequences must be >= 1, got 0",
                        name);
    const size_t T = o->seq_len;
    const size_t min_T = o->kind == GS_SEQ_ADDING ? 2 : o->kind == GS_SEQ_COPY ? 3 : 1;
    if (T < min_T)
        return gs_error(err, GS_ERR_INVALID, "%s: --seq-len must be >= %zu, got %zu", name, min_T,
                        T);
    size_t L = 0, S = 0;
    if (o->kind == GS_SEQ_COPY) {
        S = o->symbols ? o->symbols : 8;
        if (S > 1000)
            return gs_error(err, GS_ERR_INVALID, "copy: at most 1000 symbols, got %zu", S);
        L = o->copy_len ? o->copy_len : ((T - 1) / 2 < 5 ? (T - 1) / 2 : 5);
        if (2 * L + 1 > T)
            return gs_error(err, GS_ERR_INVALID,
                            "copy: recalling %zu symbols needs --seq-len >= %zu, got %zu", L,
                            2 * L + 1, T);
    }
    GsSeqDataset d = {0};
    d.kind = o->kind;
    d.n = o->samples;
    d.T = T;
    d.per_step = kinds[o->kind].per_step;
    switch (o->kind) {
    case GS_SEQ_ADDING: d.d_in = 2, d.d_out = 1; break;
    case GS_SEQ_COPY: d.d_in = S + 2, d.d_out = d.n_classes = S + 1; break;
    case GS_SEQ_PARITY: d.d_in = 1, d.d_out = d.n_classes = 2; break;
    case GS_SEQ_SINE: d.d_in = 1, d.d_out = 1; break;
    default: assert(0);
    }
    const size_t nx = mul3(d.n, T, d.d_in), nt = mul3(d.n, d.per_step ? T : 1, 1);
    if (nx == 0 || nt == 0)
        return gs_error(err, GS_ERR_RANGE, "%s: %zu sequences of %zu steps are too many", name, d.n,
                        T);
    GsSeqDataset *ds = malloc(sizeof *ds);
    if (!ds)
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the %s data set", name);
    *ds = d;
    ds->x = malloc(nx * sizeof *ds->x);
    if (kinds[o->kind].classify)
        ds->label = malloc(nt * sizeof *ds->label);
    else
        ds->y = malloc(nt * d.d_out * sizeof *ds->y);
    if (!ds->x || (!ds->label && !ds->y)) {
        gs_seq_destroy(ds);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the %s data set (%zu x %zu)", name,
                        d.n, T);
    }
    GsRng r;
    gs_rng_seed(&r, gs_rng_derive(o->seed, STREAM_SEQ + (uint64_t)o->kind));
    switch (o->kind) {
    case GS_SEQ_ADDING: gen_adding(ds, &r); break;
    case GS_SEQ_COPY: gen_copy(ds, L, S, &r); break;
    case GS_SEQ_PARITY: gen_parity(ds, &r); break;
    case GS_SEQ_SINE: gen_sine(ds, &r); break;
    default: assert(0);
    }
    *out = ds;
    return GS_OK;
}

void gs_seq_gather(const GsSeqDataset *ds, const size_t *idx, size_t B, float *x, float *y,
                   int32_t *label)
{
    assert(ds && idx && x);
    const size_t xs = ds->T * ds->d_in, ts = ds->per_step ? ds->T : 1;
    for (size_t i = 0; i < B; i++) {
        assert(idx[i] < ds->n);
        memcpy(x + i * xs, ds->x + idx[i] * xs, xs * sizeof *x);
        if (y && ds->y)
            memcpy(y + i * ts * ds->d_out, ds->y + idx[i] * ts * ds->d_out,
                   ts * ds->d_out * sizeof *y);
        if (label && ds->label)
            memcpy(label + i * ts, ds->label + idx[i] * ts, ts * sizeof *label);
    }
}

double gs_seq_input_second_moment(const GsSeqDataset *ds)
{
    size_t nx = ds->n * ds->T * ds->d_in;
    double sq = 0.0;
    for (size_t i = 0; i < nx; i++)
        sq += (double)ds->x[i] * (double)ds->x[i];
    return nx ? sq / (double)nx : 0.0;
}
