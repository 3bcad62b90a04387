/* libFuzzer harness: trace CSV -> reader -> diagnosis -> JSON -> writer -> reader again.
 * Any crash, leak or sanitizer report is a bug; so is a trace that does not survive its own
 * writer (same steps, layers, columns, names, metadata, through-time series, every cell to the
 * writer's 9 digits, "no value" and NaN kept apart). Each input is read in both storage modes, and
 * the compact (float) table must hold the double table's values rounded to float. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "gradscope/diagnose.h"
#include "gradscope/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Round trips of tables above this many cells are skipped: a few bytes may claim a million
 * cells (the reader's density bound allows it), and writing them would only slow the fuzzer. */
#define MAX_ROUND_TRIP_CELLS 200000.0

static void fail(const char *what, size_t i, size_t l, int c)
{
    fprintf(stderr, "round trip mismatch: %s (step index %zu, layer index %zu, column %d)\n", what,
            i, l, c);
    abort();
}

static int same_text(const char *a, const char *b)
{
    return a ? b && strcmp(a, b) == 0 : b == NULL;
}

/* Same cell after a write and read: the writer prints 9 significant digits, so a double comes
 * back within half a unit in the 9th digit (floats exactly). */
static int same_cell(double a, double b)
{
    if (gs_trace_is_missing(a) || gs_trace_is_missing(b))
        return gs_trace_is_missing(a) && gs_trace_is_missing(b);
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    return fabs(a - b) <= 6e-9 * fabs(a) + 1e-300;
}

/* Same series: names, kinds, time columns, T per step, every value. */
static void compare_series(const GsTrace *a, const GsTrace *b)
{
    if (gs_trace_n_series(a) != gs_trace_n_series(b))
        fail("n_series", 0, 0, -1);
    for (int c = 0; c < GS_TCOL_COUNT; c++)
        if (gs_trace_series_has(a, (GsTimeCol)c) != gs_trace_series_has(b, (GsTimeCol)c))
            fail("series has", 0, 0, c);
    for (size_t k = 0; k < gs_trace_n_series(a); k++) {
        if (!same_text(gs_trace_series_name(a, k), gs_trace_series_name(b, k)) ||
            !same_text(gs_trace_series_kind(a, k), gs_trace_series_kind(b, k)))
            fail("series name", 0, k, -1);
        for (size_t i = 0; i < gs_trace_n_steps(a); i++) {
            size_t T = gs_trace_series_len(a, i, k);
            if (T != gs_trace_series_len(b, i, k))
                fail("series len", i, k, -1);
            for (int c = 0; c < GS_TCOL_COUNT; c++)
                for (size_t t = 1; t <= T; t++)
                    if (!same_cell(gs_trace_series_get(a, i, k, (GsTimeCol)c, t),
                                   gs_trace_series_get(b, i, k, (GsTimeCol)c, t)))
                        fail("series cell", i, k, c);
        }
    }
}

static void compare(const GsTrace *a, const GsTrace *b)
{
    if (gs_trace_n_steps(a) != gs_trace_n_steps(b))
        fail("n_steps", 0, 0, -1);
    if (gs_trace_n_layers(a) != gs_trace_n_layers(b))
        fail("n_layers", 0, 0, -1);
    for (int c = 0; c < GS_COL_COUNT; c++)
        if (gs_trace_has(a, (GsCol)c) != gs_trace_has(b, (GsCol)c))
            fail("has", 0, 0, c);
    size_t nl = gs_trace_n_layers(a);
    for (size_t l = 0; l < nl; l++) {
        if (!same_text(gs_trace_layer_name(a, l), gs_trace_layer_name(b, l)))
            fail("layer name", 0, l, -1);
        if (!same_text(gs_trace_layer_kind(a, l), gs_trace_layer_kind(b, l)))
            fail("layer kind", 0, l, -1);
    }
    if (gs_trace_meta_count(a) != gs_trace_meta_count(b))
        fail("meta count", 0, 0, -1);
    for (size_t k = 0; k < gs_trace_meta_count(a); k++)
        if (strcmp(gs_trace_meta_key(a, k), gs_trace_meta_key(b, k)) != 0 ||
            strcmp(gs_trace_meta_value(a, k), gs_trace_meta_value(b, k)) != 0)
            fail("meta", k, 0, -1);
    for (size_t i = 0; i < gs_trace_n_steps(a); i++) {
        if (gs_trace_step(a, i) != gs_trace_step(b, i))
            fail("step", i, 0, -1);
        for (size_t l = 0; l < nl; l++)
            for (int c = 0; c < GS_COL_COUNT; c++)
                if (gs_trace_has(a, (GsCol)c) &&
                    !same_cell(gs_trace_get(a, i, l, (GsCol)c), gs_trace_get(b, i, l, (GsCol)c)))
                    fail("cell", i, l, c);
    }
    compare_series(a, b);
}

/* Compact storage keeps each double rounded to float, but the step and layer numbers exact
 * (they are the table's index, not stored cells); "no value" and NaN survive as such. */
static void compare_compact(const GsTrace *full, const GsTrace *compact)
{
    if (gs_trace_n_steps(full) != gs_trace_n_steps(compact) ||
        gs_trace_n_layers(full) != gs_trace_n_layers(compact) ||
        gs_trace_dropped_rows(full) != gs_trace_dropped_rows(compact))
        fail("compact shape", 0, 0, -1);
    for (size_t i = 0; i < gs_trace_n_steps(full); i++)
        for (size_t l = 0; l < gs_trace_n_layers(full); l++)
            for (int c = 0; c < GS_COL_COUNT; c++) {
                double a = gs_trace_get(full, i, l, (GsCol)c);
                double b = gs_trace_get(compact, i, l, (GsCol)c);
                int exact = c == GS_COL_STEP || c == GS_COL_LAYER;
                int ok = gs_trace_is_missing(a) ? gs_trace_is_missing(b)
                         : isnan(a)             ? isnan(b) && !gs_trace_is_missing(b)
                                                : b == (exact ? a : (double)(float)a);
                if (!ok)
                    fail("compact cell", i, l, c);
            }
    if (gs_trace_n_series(full) != gs_trace_n_series(compact))
        fail("compact n_series", 0, 0, -1);
    for (size_t k = 0; k < gs_trace_n_series(full); k++)
        for (size_t i = 0; i < gs_trace_n_steps(full); i++) {
            size_t T = gs_trace_series_len(full, i, k);
            if (T != gs_trace_series_len(compact, i, k))
                fail("compact series len", i, k, -1);
            for (int c = 0; c < GS_TCOL_COUNT; c++)
                for (size_t t = 1; t <= T; t++) {
                    double a = gs_trace_series_get(full, i, k, (GsTimeCol)c, t);
                    double b = gs_trace_series_get(compact, i, k, (GsTimeCol)c, t);
                    int ok = gs_trace_is_missing(a) ? gs_trace_is_missing(b)
                             : isnan(a)             ? isnan(b) && !gs_trace_is_missing(b)
                                                    : b == (double)(float)a;
                    if (!ok)
                        fail("compact series cell", i, k, c);
                }
        }
}

/* Diagnoses t, serializes the findings, and checks that t survives its writer. */
static void exercise(const GsTrace *t, uint64_t cols)
{
    GsError err = {{0}};
    GsThresholds th;
    gs_thresholds_default(&th);
    GsFindings fs;
    memset(&fs, 0, sizeof fs);
    if (gs_diagnose(t, &th, &fs, &err) == GS_OK) {
        char *json = NULL;
        if (gs_findings_to_json(&fs, NULL, &json) == GS_OK && (!json || json[0] != '{'))
            fail("json", 0, 0, -1);
        free(json);
    }
    gs_findings_fini(&fs);

    double cells = (double)gs_trace_n_steps(t) * (double)gs_trace_n_layers(t);
    for (size_t i = 0; i < gs_trace_n_steps(t); i++)
        for (size_t k = 0; k < gs_trace_n_series(t); k++)
            cells += (double)gs_trace_series_len(t, i, k);
    if (cells > MAX_ROUND_TRIP_CELLS)
        return;
    const char *out = gs_fuzz_path(1, ".csv");
    if (gs_trace_write_csv(t, out, &err) != GS_OK) {
        fprintf(stderr, "write failed: %s\n", err.msg);
        abort();
    }
    GsTrace *back = NULL;
    if (gs_trace_read_csv(out, cols, &back, &err) != GS_OK) {
        fprintf(stderr, "re-read failed: %s\n", err.msg);
        abort();
    }
    if (gs_trace_dropped_rows(back) != 0)
        fail("the writer's file reads as cut off", 0, 0, -1);
    compare(t, back);
    gs_trace_destroy(back);
    unlink(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = gs_fuzz_file(0, ".csv", data, size);
    GsTrace *t = NULL, *tc = NULL;
    GsError err = {{0}};
    GsStatus st = gs_trace_read_csv(in, GS_COL_ALL, &t, &err);
    if (st != GS_OK && !err.msg[0])
        fail("error without a message", 0, 0, -1);
    char first[sizeof err.msg];
    memcpy(first, err.msg, sizeof first);
    GsStatus stc = gs_trace_read_csv(in, GS_COL_ALL | GS_TRACE_COMPACT, &tc, &err);
    /* The storage mode changes nothing about which files are accepted. */
    if (st != stc || (st != GS_OK && strcmp(first, err.msg) != 0))
        fail("compact read differs", 0, 0, -1);
    if (st != GS_OK)
        return 0;
    compare_compact(t, tc);
    exercise(t, GS_COL_ALL);
    exercise(tc, GS_COL_ALL | GS_TRACE_COMPACT);
    gs_trace_destroy(tc);
    gs_trace_destroy(t);
    return 0;
}
