/* Findings and theory predictions as JSON (jansson). JSON has no NaN or Inf: a non-finite
 * number (evidence such as the loss at a NaN step) is written as null. */
#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/diagnose.h"

/* A number, or null when it is NaN/Inf. NULL only when out of memory. */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A string; bytes that are not 7-bit ASCII are replaced by '?' when the text is not valid
 * UTF-8 (metadata of foreign traces may be in any encoding). NULL only when out of memory. */
static json_t *str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j || !s)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Adds value under key, taking ownership; returns 0 (value freed) on failure. */
static int put(json_t *obj, const char *key, json_t *value)
{
    return value && json_object_set_new(obj, key, value) == 0;
}

static int append(json_t *arr, json_t *value)
{
    return value && json_array_append_new(arr, value) == 0;
}

static json_t *pair_int(long long a, long long b)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    if (!append(arr, json_integer(a)) || !append(arr, json_integer(b))) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static json_t *finding_json(const GsFinding *f)
{
    json_t *o = json_object();
    json_t *ev = json_object();
    if (!o || !ev) {
        json_decref(o);
        json_decref(ev);
        return NULL;
    }
    int ok = 1;
    for (size_t i = 0; i < f->n_evidence && ok; i++)
        ok = put(ev, f->evidence[i].key, num(f->evidence[i].value));
    ok = ok && put(o, "kind", str(gs_finding_kind_name(f->kind)));
    ok = ok && put(o, "severity", str(gs_severity_name(f->severity)));
    ok = ok && put(o, "primary", json_boolean(f->primary));
    if (f->explained_by >= 0)
        ok = ok && put(o, "explained_by", json_integer(f->explained_by));
    ok = ok && put(o, "layers", pair_int(f->layer_first, f->layer_last));
    ok = ok && put(o, "steps", pair_int(f->step_first, f->step_last));
    if (ok) {
        ok = put(o, "evidence", ev);
        ev = NULL; /* owned by o now, even on failure */
    }
    ok = ok && put(o, "message", str(f->message));
    ok = ok && put(o, "suggestion", str(f->suggestion));
    ok = ok && put(o, "options", str(f->options));
    json_decref(ev);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *prediction_json(const GsPrediction *pred)
{
    json_t *o = json_object();
    json_t *layers = json_array();
    if (!o || !layers) {
        json_decref(o);
        json_decref(layers);
        return NULL;
    }
    int ok = 1;
    for (size_t i = 0; i < pred->n_layers && ok; i++) {
        const GsPredLayer *pl = &pred->layers[i];
        json_t *l = json_object();
        ok = l && put(l, "layer", json_integer(pl->layer)) && put(l, "q", num(pl->q)) &&
             put(l, "chi", num(pl->chi)) && put(l, "rel_act_grad_norm", num(pl->rel_act_grad_norm));
        if (!ok)
            json_decref(l);
        else
            ok = append(layers, l);
    }
    if (ok) {
        ok = put(o, "layers", layers);
        layers = NULL;
    }
    json_decref(layers);
    ok = ok && put(o, "ratio_first_last", num(pred->ratio_first_last));
    ok = ok && put(o, "regime", str(gs_regime_name(pred->regime)));
    ok = ok && put(o, "caveat", str(pred->caveat));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Text of a document, consuming it. GS_ERR_NOMEM when doc is NULL or dumping fails. */
static GsStatus dump(json_t *doc, char **json)
{
    if (!doc)
        return GS_ERR_NOMEM;
    /* 17 significant digits: every double reads back bit-identical. */
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(doc);
    if (!text)
        return GS_ERR_NOMEM;
    /* jansson may use its own allocator: hand the caller a malloc'd copy for free(). */
    char *copy = strdup(text);
    free(text);
    if (!copy)
        return GS_ERR_NOMEM;
    *json = copy;
    return GS_OK;
}

GsStatus gs_findings_to_json(const GsFindings *findings, const GsPrediction *pred, char **json)
{
    assert(json);
    json_t *doc = json_object();
    json_t *arr = json_array();
    json_t *skipped = json_array();
    int ok = doc && arr && skipped;
    for (size_t i = 0; ok && findings && i < findings->n; i++)
        ok = append(arr, finding_json(&findings->items[i]));
    /* "skipped": the rules not run, split from the "; "-separated list. */
    if (ok && findings && findings->skipped[0]) {
        char buf[sizeof findings->skipped];
        memcpy(buf, findings->skipped, sizeof buf);
        char *p = buf;
        while (ok && p) {
            char *sep = strstr(p, "; ");
            if (sep)
                *sep = '\0';
            ok = append(skipped, str(p));
            p = sep ? sep + 2 : NULL;
        }
    }
    if (ok) {
        ok = put(doc, "findings", arr);
        arr = NULL;
    }
    if (ok) {
        ok = put(doc, "skipped", skipped);
        skipped = NULL;
    }
    if (ok && pred)
        ok = put(doc, "prediction", prediction_json(pred));
    json_decref(arr);
    json_decref(skipped);
    if (!ok) {
        json_decref(doc);
        return GS_ERR_NOMEM;
    }
    return dump(doc, json);
}

GsStatus gs_prediction_to_json(const GsPrediction *pred, char **json)
{
    assert(pred && json);
    return dump(prediction_json(pred), json);
}
