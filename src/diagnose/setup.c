/* The setup a trace records, as one typed GsSpec: the one reader of setup metadata that the
 * diagnosis, the prediction, the report and sweeps share. */
#include "gradscope/setup.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Metadata value of key, spelled with '_' or '-'; NULL when absent. */
static const char *meta(const GsTrace *t, const char *key)
{
    const char *v = gs_trace_meta_get(t, key);
    if (v || !strpbrk(key, "_-"))
        return v;
    char alt[64];
    snprintf(alt, sizeof alt, "%s", key);
    for (char *p = alt; *p; p++)
        *p = *p == '_' ? '-' : *p == '-' ? '_' : *p;
    return gs_trace_meta_get(t, alt);
}

static double num(const GsTrace *t, const char *key)
{
    const char *s = meta(t, key);
    if (!s)
        return (double)NAN;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE)
        return (double)NAN;
    while (isspace((unsigned char)*end))
        end++;
    return *end ? (double)NAN : v;
}

/* The keys the theory needs; the others have defaults that do not change a prediction's
 * shape (the optimizer, lr, steps, ...). */
static const char *const needed[] = {"depth", "width", "act", "init"};

GsStatus gs_setup_from_trace(const GsTrace *trace, GsTraceSetup *out, GsError *err)
{
    assert(trace && out);
    GsTraceSetup s;
    memset(&s, 0, sizeof s);
    gs_spec_default(&s.spec);
    size_t nk = gs_spec_key_count();
    assert(nk <= 64);
    for (size_t i = 0; i < nk; i++) {
        const char *key = gs_spec_key_name(i);
        const char *v = meta(trace, key);
        if (!v)
            continue;
        GsError e = {{0}};
        if (gs_spec_set(&s.spec, key, v, &e) != GS_OK) {
            if (!strcmp(key, "data"))
                continue; /* a CSV file elsewhere: its shape is recorded separately */
            return gs_error(err, GS_ERR_FORMAT, "trace metadata: %s", e.msg);
        }
        s.present |= UINT64_C(1) << i;
    }
    s.predictable = 1;
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (!gs_setup_has(&s, needed[i])) {
            size_t used = strlen(s.missing);
            snprintf(s.missing + used, sizeof s.missing - used, "%s%s", used ? ", " : "",
                     needed[i]);
            s.predictable = 0;
        }
    double d_in = num(trace, "data_inputs");
    s.d_in = isfinite(d_in) && d_in >= 1 ? (size_t)d_in : 0;
    s.input_second_moment = num(trace, "input_second_moment");
    if (!s.d_in || !isfinite(s.input_second_moment)) {
        size_t used = strlen(s.missing);
        snprintf(s.missing + used, sizeof s.missing - used, "%s%s", used ? ", " : "",
                 !s.d_in ? "data_inputs" : "input_second_moment");
        s.predictable = 0;
    }
    double k = num(trace, "classes");
    s.classes = isfinite(k) && k >= 2 ? (size_t)k : 0;
    s.input_std_min = num(trace, "input_feature_std_min");
    s.input_std_max = num(trace, "input_feature_std_max");
    s.input_mean_abs_max = num(trace, "input_mean_abs_max");
    s.input_max_abs = num(trace, "input_max_abs");
    s.baseline_loss = num(trace, "baseline_loss");
    const char *tool = meta(trace, "tool");
    const char *writer = meta(trace, "writer");
    s.foreign = !(tool && !strncmp(tool, "gradscope ", 10));
    s.torch = writer && !strcmp(writer, "gradscope.torch");
    *out = s;
    return GS_OK;
}

int gs_setup_has(const GsTraceSetup *setup, const char *key)
{
    int i = gs_spec_key_index(key);
    return i >= 0 && (setup->present >> i & 1u);
}

GsStatus gs_setup_predict(const GsTraceSetup *setup, GsPrediction *pred, GsError *err)
{
    if (!setup->predictable)
        return gs_error(err, GS_ERR_INVALID, "the trace does not record %s", setup->missing);
    return gs_theory_predict(&setup->spec, setup->d_in, setup->input_second_moment, pred, err);
}
