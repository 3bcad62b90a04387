/* Sweep bookkeeping: --vary parsing, the product order, run names, shard slices, resume
 * checks and summary.csv rows. */
#include "gradscope/sweep.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/atomic_file.h"

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t i = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

GsStatus gs_sweep_add_vary(GsSweep *sw, const char *text, GsError *err)
{
    const char *eq = strchr(text, '=');
    if (!eq)
        return gs_error(err, GS_ERR_INVALID, "--vary '%s': expected KEY=V1,V2,...", text);
    GsSweepAxis ax;
    memset(&ax, 0, sizeof ax);
    size_t klen = (size_t)(eq - text);
    if (klen == 0 || klen >= sizeof ax.key)
        return gs_error(err, GS_ERR_INVALID, "--vary '%s': missing or too long key", text);
    memcpy(ax.key, text, klen);
    trim(ax.key);
    while (ax.key[0] == '-')
        memmove(ax.key, ax.key + 1, strlen(ax.key));
    int key = gs_spec_key_index(ax.key);
    if (key < 0)
        return gs_error(err, GS_ERR_INVALID, "--vary: unknown setup key '%s'", ax.key);
    /* the table's spelling, so that res_scale and res-scale are one key */
    snprintf(ax.key, sizeof ax.key, "%s", gs_spec_key_name((size_t)key));
    for (size_t i = 0; i < sw->n_axes; i++)
        if (!strcmp(sw->axes[i].key, ax.key))
            return gs_error(err, GS_ERR_INVALID, "--vary: key '%s' is varied twice", ax.key);
    if (sw->n_axes >= GS_SWEEP_MAX_AXES)
        return gs_error(err, GS_ERR_INVALID, "--vary: at most %d varied keys", GS_SWEEP_MAX_AXES);
    const char *p = eq + 1;
    if (!*p)
        return gs_error(err, GS_ERR_INVALID, "--vary %s: empty list of values", ax.key);
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (ax.n >= GS_SWEEP_MAX_VALUES)
            return gs_error(err, GS_ERR_INVALID, "--vary %s: at most %d values", ax.key,
                            GS_SWEEP_MAX_VALUES);
        if (len >= sizeof ax.values[0])
            return gs_error(err, GS_ERR_INVALID, "--vary %s: value '%.40s...' is too long", ax.key,
                            p);
        char *v = ax.values[ax.n];
        memcpy(v, p, len);
        v[len] = '\0';
        trim(v);
        if (!v[0])
            return gs_error(err, GS_ERR_INVALID, "--vary %s: empty value in '%s'", ax.key, eq + 1);
        GsError e2 = {{0}};
        GsSpec s2;
        gs_spec_default(&s2);
        if (gs_spec_set(&s2, ax.key, v, &e2) != GS_OK)
            return gs_error(err, GS_ERR_INVALID, "--vary %s: invalid value '%s': %s", ax.key, v,
                            e2.msg);
        for (size_t j = 0; j < ax.n; j++)
            if (!strcmp(ax.values[j], v))
                return gs_error(err, GS_ERR_INVALID, "--vary %s: value '%s' listed twice", ax.key,
                                v);
        ax.n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    sw->axes[sw->n_axes++] = ax;
    return GS_OK;
}

size_t gs_sweep_size(const GsSweep *sw)
{
    size_t n = 1;
    for (size_t i = 0; i < sw->n_axes; i++)
        n *= sw->axes[i].n;
    return n;
}

void gs_sweep_point(const GsSweep *sw, size_t idx, size_t *choice)
{
    /* mixed radix, the last axis fastest: the first axis is the slowest (rows of the grid) */
    for (size_t a = sw->n_axes; a-- > 0;) {
        choice[a] = idx % sw->axes[a].n;
        idx /= sw->axes[a].n;
    }
}

GsStatus gs_sweep_apply(const GsSweep *sw, size_t idx, const GsSpec *base, GsSpec *out,
                        GsError *err)
{
    size_t choice[GS_SWEEP_MAX_AXES];
    gs_sweep_point(sw, idx, choice);
    GsSpec s = *base;
    for (size_t a = 0; a < sw->n_axes; a++) {
        GsStatus st = gs_spec_set(&s, sw->axes[a].key, sw->axes[a].values[choice[a]], err);
        if (st != GS_OK)
            return st;
    }
    *out = s;
    return GS_OK;
}

static int name_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '=' || c == ':' || c == '+' || c == '-';
}

static void sanitize_append(char *buf, size_t size, size_t *w, const char *s)
{
    for (; *s && *w + 1 < size; s++)
        buf[(*w)++] = name_char_ok(*s) ? *s : '_';
    buf[*w] = '\0';
}

/* 1 when the file-name form of a value could stand for another value too: a character was
 * replaced, or another value of the axis has the same form (ignoring case, as some file
 * systems do). Such a value gets a hash of its full text in the name. */
static int needs_hash(const GsSweepAxis *ax, size_t v)
{
    const char *a = ax->values[v];
    for (const char *p = a; *p; p++)
        if (!name_char_ok(*p) && *p != '_') /* '_' stays itself */
            return 1;
    for (size_t j = 0; j < ax->n; j++) {
        if (j == v)
            continue;
        const char *b = ax->values[j];
        size_t n = strlen(b);
        if (n != strlen(a))
            continue;
        size_t i = 0;
        while (i < n && tolower((unsigned char)(name_char_ok(a[i]) ? a[i] : '_')) ==
                            tolower((unsigned char)(name_char_ok(b[i]) ? b[i] : '_')))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

/* 64-bit FNV-1a of s. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void gs_sweep_run_name(const GsSweep *sw, size_t idx, char *buf, size_t size)
{
    if (size == 0)
        return;
    buf[0] = '\0';
    if (sw->n_axes == 0) {
        snprintf(buf, size, "run");
        return;
    }
    size_t choice[GS_SWEEP_MAX_AXES];
    gs_sweep_point(sw, idx, choice);
    size_t w = 0;
    for (size_t a = 0; a < sw->n_axes; a++) {
        const GsSweepAxis *ax = &sw->axes[a];
        if (a)
            sanitize_append(buf, size, &w, "_");
        sanitize_append(buf, size, &w, ax->key);
        sanitize_append(buf, size, &w, "=");
        sanitize_append(buf, size, &w, ax->values[choice[a]]);
        if (needs_hash(ax, choice[a])) {
            char h[24];
            snprintf(h, sizeof h, "-%012llx",
                     (unsigned long long)(fnv1a(ax->values[choice[a]]) >> 16));
            sanitize_append(buf, size, &w, h);
        }
    }
}

static int parse_size(const char *s, const char *end, size_t *out)
{
    if (s == end || end - s > 6)
        return 0;
    size_t v = 0;
    for (const char *p = s; p < end; p++) {
        if (!isdigit((unsigned char)*p))
            return 0;
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return 1;
}

GsStatus gs_sweep_parse_shard(const char *text, size_t *i, size_t *n, GsError *err)
{
    const char *slash = text ? strchr(text, '/') : NULL;
    size_t a = 0, b = 0;
    if (!slash || !parse_size(text, slash, &a) || !parse_size(slash + 1, slash + strlen(slash), &b))
        return gs_error(err, GS_ERR_INVALID, "--shard '%s': expected I/N, e.g. 2/8",
                        text ? text : "(null)");
    if (b < 1 || b > 100000 || a < 1 || a > b)
        return gs_error(err, GS_ERR_INVALID, "--shard '%s': I must be in 1..N and N in 1..100000",
                        text);
    *i = a;
    *n = b;
    return GS_OK;
}

void gs_sweep_shard_range(size_t total, size_t i, size_t n, size_t *lo, size_t *hi)
{
    /* floor((i-1) * total / n) .. floor(i * total / n): sizes differ by at most one */
    *lo = (i - 1) * total / n;
    *hi = i * total / n;
}

int gs_sweep_trace_complete(const char *path, const GsSpec *spec)
{
    GsTrace *t = NULL;
    GsError err = {{0}};
    if (gs_trace_read_csv(path, GS_COL_BIT(GS_COL_STEP), &t, &err) != GS_OK)
        return 0;
    size_t ns = gs_trace_n_steps(t);
    int ok = ns > 0 && gs_trace_step(t, ns - 1) == spec->steps - 1;
    /* the same setup: every key the trace records must match (threads only affect speed) */
    for (size_t k = 0; ok && k < gs_spec_key_count(); k++) {
        const char *key = gs_spec_key_name(k);
        const char *v = gs_trace_meta_get(t, key);
        char want[256];
        if (!strcmp(key, "threads") || gs_spec_get(spec, key, want, sizeof want) != GS_OK)
            continue;
        /* a key the trace does not record cannot be shown to match */
        ok = v && strcmp(v, want) == 0;
    }
    gs_trace_destroy(t);
    return ok;
}

static double ratio_at(const GsTrace *t, size_t i, GsCol col)
{
    size_t L = gs_trace_n_layers(t);
    if (L < 2 || !gs_trace_has(t, col))
        return NAN;
    /* layer depth = the last hidden layer, L - 1 (the output layer is L) */
    return gs_trace_get(t, i, 0, col) / gs_trace_get(t, i, L - 2, col);
}

void gs_sweep_row_fill(const GsTrace *t, const GsFindings *fs, double predicted, GsSweepRow *row)
{
    memset(row, 0, sizeof *row);
    size_t ns = gs_trace_n_steps(t);
    row->final_loss = ns ? gs_trace_get(t, ns - 1, 0, GS_COL_LOSS) : (double)NAN;
    row->ratio_step0 = ns ? ratio_at(t, 0, GS_COL_GRAD_NORM) : (double)NAN;
    row->ratio_end = ns ? ratio_at(t, ns - 1, GS_COL_GRAD_NORM) : (double)NAN;
    row->act_ratio_step0 = ns ? ratio_at(t, 0, GS_COL_ACT_GRAD_NORM) : (double)NAN;
    row->predicted_ratio = predicted;
    row->worst_kind = -1;
    row->worst_severity = -1;
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++) {
        const GsFinding *f = &fs->items[i];
        row->counts[f->kind]++;
        if ((int)f->severity > row->worst_severity)
            row->worst_severity = (int)f->severity;
        /* the list is sorted most severe first: the first warning is the worst */
        if (f->severity >= GS_SEV_WARNING && row->worst_kind < 0)
            row->worst_kind = (int)f->kind;
    }
}

static void put_num(FILE *fp, double v)
{
    if (isnan(v))
        fputs(",nan", fp);
    else if (isinf(v))
        fputs(v > 0 ? ",inf" : ",-inf", fp);
    else
        fprintf(fp, ",%.6g", v);
}

/* Quotes a CSV field when it holds a comma, quote or newline. */
static void put_field(FILE *fp, const char *s, int first)
{
    if (!first)
        fputc(',', fp);
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

GsStatus gs_sweep_write_summary(const char *path, size_t n_keys, const char *const *keys,
                                size_t n_rows, const char *const *values, const GsSweepRow *rows,
                                GsError *err)
{
    assert(n_keys >= 1);
    GsAtomicFile af;
    GsStatus st = gs_atomic_open(&af, path, err);
    if (st != GS_OK)
        return st;
    FILE *fp = af.fp;
    for (size_t k = 0; k < n_keys; k++)
        put_field(fp, keys[k], k == 0);
    fputs(",final_loss,ratio_step0,ratio_end,act_ratio_step0,predicted_ratio", fp);
    for (int k = 0; k < GS_FIND_COUNT; k++)
        fprintf(fp, ",%s", gs_finding_kind_name((GsFindingKind)k));
    fputs(",worst_severity\n", fp);
    for (size_t r = 0; r < n_rows; r++) {
        const GsSweepRow *w = &rows[r];
        for (size_t k = 0; k < n_keys; k++)
            put_field(fp, values[r * n_keys + k], k == 0);
        put_num(fp, w->final_loss);
        put_num(fp, w->ratio_step0);
        put_num(fp, w->ratio_end);
        put_num(fp, w->act_ratio_step0);
        put_num(fp, w->predicted_ratio);
        for (int k = 0; k < GS_FIND_COUNT; k++)
            fprintf(fp, ",%d", w->counts[k]);
        fprintf(fp, ",%s\n",
                w->worst_severity < 0 ? "none" : gs_severity_name((GsSeverity)w->worst_severity));
    }
    return gs_atomic_commit(&af, err);
}
