/* Weight and bias initialization: parsing of the scheme names, the per-entry standard
 * deviation each scheme implies, and the fills (PyTorch conventions, our own GsRng only). */
#include "gradscope/init.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One row per kind, in enum order: the name and what follows it. */
enum { TAKES_NONE, TAKES_SCALE, TAKES_GAIN };
static const struct {
    const char *name;
    int takes; /* TAKES_SCALE: ":STD"/":A" required; TAKES_GAIN: optional ":GAIN" */
} kinds[GS_INIT_COUNT] = {
    [GS_INIT_NORMAL] = {"normal", TAKES_SCALE},
    [GS_INIT_UNIFORM] = {"uniform", TAKES_SCALE},
    [GS_INIT_STANDARD] = {"standard", TAKES_NONE},
    [GS_INIT_XAVIER_UNIFORM] = {"xavier_uniform", TAKES_NONE},
    [GS_INIT_XAVIER_NORMAL] = {"xavier_normal", TAKES_NONE},
    [GS_INIT_HE_UNIFORM] = {"he_uniform", TAKES_NONE},
    [GS_INIT_HE_NORMAL] = {"he_normal", TAKES_NONE},
    [GS_INIT_LECUN_UNIFORM] = {"lecun_uniform", TAKES_NONE},
    [GS_INIT_LECUN_NORMAL] = {"lecun_normal", TAKES_NONE},
    [GS_INIT_ORTHOGONAL] = {"orthogonal", TAKES_GAIN},
};

#define INIT_LIST                                                                                  \
    "normal:STD, uniform:A, standard, xavier_uniform, xavier_normal, he_uniform, he_normal, "      \
    "lecun_uniform, lecun_normal, orthogonal[:GAIN]; any may end in *GAIN"

/* Parses the whole of [s, s+len) as a finite number; blanks, trailing text, overflow and
 * NaN/Inf are rejected. */
static int parse_number(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf || s[0] == ' ' || s[0] == '\t')
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* Shortest %g text that reads back to exactly v. */
static void format_number(char *buf, size_t size, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

GsStatus gs_init_parse(const char *text, GsInit *out, GsError *err)
{
    assert(text && out);
    const char *star = strchr(text, '*');
    size_t head_len = star ? (size_t)(star - text) : strlen(text);
    const char *colon = memchr(text, ':', head_len);
    size_t name_len = colon ? (size_t)(colon - text) : head_len;
    int kind = -1;
    for (int k = 0; k < GS_INIT_COUNT; k++) {
        if (strlen(kinds[k].name) == name_len && strncmp(kinds[k].name, text, name_len) == 0)
            kind = k;
    }
    if (kind < 0)
        return gs_error(err, GS_ERR_INVALID, "unknown initialization '%s' (expected one of: %s)",
                        text, INIT_LIST);

    GsInit init = {(GsInitKind)kind, 0.0, 1.0};
    if (colon) {
        const char *num = colon + 1;
        size_t num_len = head_len - name_len - 1;
        double v;
        if (kinds[kind].takes == TAKES_NONE)
            return gs_error(err, GS_ERR_INVALID,
                            "initialization '%s': %s takes no ':' parameter (use *GAIN to scale "
                            "it)",
                            text, kinds[kind].name);
        if (!parse_number(num, num_len, &v))
            return gs_error(err, GS_ERR_INVALID, "initialization '%s': malformed number '%.*s'",
                            text, (int)num_len, num);
        if (!(v > 0.0))
            return gs_error(
                err, GS_ERR_INVALID, "initialization '%s': %s must be positive, got '%.*s'", text,
                kinds[kind].takes == TAKES_GAIN ? "the gain" : "the scale", (int)num_len, num);
        if (kinds[kind].takes == TAKES_SCALE)
            init.param = v;
        else
            init.gain = v;
    } else if (kinds[kind].takes == TAKES_SCALE) {
        return gs_error(err, GS_ERR_INVALID, "initialization '%s': %s needs a scale, e.g. '%s:%s'",
                        text, kinds[kind].name, kinds[kind].name,
                        kind == GS_INIT_NORMAL ? "0.05" : "0.1");
    }
    if (star) {
        double g;
        if (!parse_number(star + 1, strlen(star + 1), &g))
            return gs_error(err, GS_ERR_INVALID, "initialization '%s': malformed gain '%s'", text,
                            star + 1);
        if (!(g > 0.0))
            return gs_error(err, GS_ERR_INVALID,
                            "initialization '%s': the gain must be positive, got '%s'", text,
                            star + 1);
        if (colon && kinds[kind].takes == TAKES_GAIN)
            return gs_error(err, GS_ERR_INVALID,
                            "initialization '%s': give the gain once, as ':GAIN' or '*GAIN'", text);
        init.gain = g;
    }
    *out = init;
    return GS_OK;
}

char *gs_init_format(const GsInit *init, char *buf, size_t size)
{
    assert(init && buf && size > 0);
    assert((int)init->kind >= 0 && init->kind < GS_INIT_COUNT);
    char num[40], gain[40];
    const char *name = kinds[init->kind].name;
    format_number(gain, sizeof gain, init->gain);
    switch (kinds[init->kind].takes) {
    case TAKES_SCALE:
        format_number(num, sizeof num, init->param);
        if (init->gain == 1.0)
            snprintf(buf, size, "%s:%s", name, num);
        else
            snprintf(buf, size, "%s:%s*%s", name, num, gain);
        break;
    case TAKES_GAIN:
        if (init->gain == 1.0)
            snprintf(buf, size, "%s", name);
        else
            snprintf(buf, size, "%s:%s", name, gain);
        break;
    default:
        if (init->gain == 1.0)
            snprintf(buf, size, "%s", name);
        else
            snprintf(buf, size, "%s*%s", name, gain);
        break;
    }
    return buf;
}

/* Half-width of the uniform schemes (before the gain); 0 for the others. */
static double uniform_bound(const GsInit *init, size_t n_in, size_t n_out)
{
    const double fi = (double)n_in, fo = (double)n_out;
    switch (init->kind) {
    case GS_INIT_UNIFORM: return init->param;
    case GS_INIT_STANDARD: return 1.0 / sqrt(fi);
    case GS_INIT_XAVIER_UNIFORM: return sqrt(6.0 / (fi + fo));
    case GS_INIT_HE_UNIFORM: return sqrt(6.0 / fi);
    case GS_INIT_LECUN_UNIFORM: return sqrt(3.0 / fi);
    default: return 0.0;
    }
}

/* Standard deviation of the normal schemes (before the gain); 0 for the others. */
static double normal_std(const GsInit *init, size_t n_in, size_t n_out)
{
    const double fi = (double)n_in, fo = (double)n_out;
    switch (init->kind) {
    case GS_INIT_NORMAL: return init->param;
    case GS_INIT_XAVIER_NORMAL: return sqrt(2.0 / (fi + fo));
    case GS_INIT_HE_NORMAL: return sqrt(2.0 / fi);
    case GS_INIT_LECUN_NORMAL: return sqrt(1.0 / fi);
    default: return 0.0;
    }
}

/* Uniform U[-a, a] has std a/sqrt(3). A (semi-)orthogonal n_out x n_in matrix has min(n_in,
 * n_out) unit rows or columns, i.e. sum of squares min(n_in, n_out) over n_in*n_out entries:
 * entry RMS 1/sqrt(max(n_in, n_out)) (1/sqrt(n) for a square one). */
double gs_init_std(const GsInit *init, size_t n_in, size_t n_out)
{
    assert(init && n_in > 0 && n_out > 0);
    if (init->kind == GS_INIT_ORTHOGONAL)
        return init->gain / sqrt((double)(n_in > n_out ? n_in : n_out));
    double a = uniform_bound(init, n_in, n_out);
    if (a > 0.0)
        return init->gain * a / sqrt(3.0);
    return init->gain * normal_std(init, n_in, n_out);
}

/* Dot product in double with four partial sums (a fixed order: the same bits everywhere). */
static double dot(const double *a, const double *b, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Orthonormalizes the k vectors of length m stored contiguously in v (k <= m) by modified
 * Gram-Schmidt, each projection pass done twice ("twice is enough" keeps the result
 * orthogonal to rounding level). The result is the Q of the QR factorization with a positive
 * diagonal R, which is what PyTorch's orthogonal_ gets by multiplying Q by sign(diag R).
 * A vector that collapses (probability 0 for Gaussian input) is redrawn from rng. */
static void orthonormalize(double *v, size_t k, size_t m, GsRng *rng)
{
    for (size_t j = 0; j < k; j++) {
        double *vj = v + j * m;
        for (int attempt = 0;; attempt++) {
            double before = sqrt(dot(vj, vj, m));
            for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < j; i++) {
                    const double *qi = v + i * m;
                    double c = dot(qi, vj, m);
                    for (size_t t = 0; t < m; t++)
                        vj[t] -= c * qi[t];
                }
            }
            double nrm = sqrt(dot(vj, vj, m));
            if (nrm > 1e-10 * before || attempt >= 8) {
                for (size_t t = 0; t < m; t++)
                    vj[t] /= nrm;
                break;
            }
            for (size_t t = 0; t < m; t++)
                vj[t] = gs_rng_normal(rng);
        }
    }
}

static GsStatus fill_orthogonal(const GsInit *init, float *w, size_t n_out, size_t n_in, GsRng *rng)
{
    /* rows are orthonormal when n_out <= n_in (a wide matrix), columns otherwise */
    const int rows = n_out <= n_in;
    const size_t k = rows ? n_out : n_in, m = rows ? n_in : n_out;
    if (k > SIZE_MAX / m / sizeof(double))
        return GS_ERR_NOMEM;
    double *v = malloc(k * m * sizeof *v);
    if (!v)
        return GS_ERR_NOMEM;
    /* draw W (n_out x n_in) in row-major order, stored as k vectors of length m */
    for (size_t r = 0; r < n_out; r++)
        for (size_t c = 0; c < n_in; c++)
            v[rows ? r * m + c : c * m + r] = gs_rng_normal(rng);
    orthonormalize(v, k, m, rng);
    for (size_t r = 0; r < n_out; r++)
        for (size_t c = 0; c < n_in; c++)
            w[r * n_in + c] = (float)(init->gain * v[rows ? r * m + c : c * m + r]);
    free(v);
    return GS_OK;
}

GsStatus gs_init_fill(const GsInit *init, float *w, size_t n_out, size_t n_in, GsRng *rng)
{
    assert(init && w && rng && n_out > 0 && n_in > 0);
    const size_t n = n_out * n_in;
    if (init->kind == GS_INIT_ORTHOGONAL)
        return fill_orthogonal(init, w, n_out, n_in, rng);
    double a = uniform_bound(init, n_in, n_out) * init->gain;
    if (a > 0.0) {
        /* u in [0, 1) -> [-a, a) */
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(a * (2.0 * gs_rng_uniform(rng) - 1.0));
        return GS_OK;
    }
    double sd = normal_std(init, n_in, n_out) * init->gain;
    assert(sd > 0.0);
    double z[512];
    for (size_t at = 0; at < n; at += 512) {
        size_t m = n - at < 512 ? n - at : 512;
        gs_rng_normal_fill(rng, z, m);
        for (size_t i = 0; i < m; i++)
            w[at + i] = (float)(sd * z[i]);
    }
    return GS_OK;
}

GsStatus gs_bias_init_parse(const char *text, GsBiasInit *out, GsError *err)
{
    assert(text && out);
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    GsBiasInit b = {GS_BIAS_ZERO, 0.0};
    if (name_len == 4 && strncmp(text, "zero", 4) == 0) {
        if (colon)
            return gs_error(err, GS_ERR_INVALID, "bias initialization '%s': zero takes no value",
                            text);
        *out = b;
        return GS_OK;
    }
    if (name_len == 5 && strncmp(text, "const", 5) == 0)
        b.kind = GS_BIAS_CONST;
    else if (name_len == 6 && strncmp(text, "normal", 6) == 0)
        b.kind = GS_BIAS_NORMAL;
    else
        return gs_error(err, GS_ERR_INVALID,
                        "unknown bias initialization '%s' (expected zero, const:C or normal:STD)",
                        text);
    if (!colon)
        return gs_error(err, GS_ERR_INVALID, "bias initialization '%s': needs a value, e.g. '%s'",
                        text, b.kind == GS_BIAS_CONST ? "const:0.1" : "normal:0.01");
    if (!parse_number(colon + 1, strlen(colon + 1), &b.param))
        return gs_error(err, GS_ERR_INVALID, "bias initialization '%s': malformed number '%s'",
                        text, colon + 1);
    if (b.kind == GS_BIAS_NORMAL && !(b.param > 0.0))
        return gs_error(err, GS_ERR_INVALID,
                        "bias initialization '%s': the std must be positive, got '%s'", text,
                        colon + 1);
    *out = b;
    return GS_OK;
}

char *gs_bias_init_format(const GsBiasInit *init, char *buf, size_t size)
{
    assert(init && buf && size > 0);
    char num[40];
    switch (init->kind) {
    case GS_BIAS_ZERO: snprintf(buf, size, "zero"); break;
    case GS_BIAS_CONST:
        format_number(num, sizeof num, init->param);
        snprintf(buf, size, "const:%s", num);
        break;
    case GS_BIAS_NORMAL:
        format_number(num, sizeof num, init->param);
        snprintf(buf, size, "normal:%s", num);
        break;
    default: assert(0 && "bad bias kind"); buf[0] = '\0';
    }
    return buf;
}

void gs_bias_init_fill(const GsBiasInit *init, float *b, size_t n, GsRng *rng)
{
    assert(init && (n == 0 || b));
    switch (init->kind) {
    case GS_BIAS_ZERO:
        for (size_t i = 0; i < n; i++)
            b[i] = 0.0f;
        return;
    case GS_BIAS_CONST:
        for (size_t i = 0; i < n; i++)
            b[i] = (float)init->param;
        return;
    case GS_BIAS_NORMAL:
        assert(rng);
        for (size_t i = 0; i < n; i++)
            b[i] = (float)(init->param * gs_rng_normal(rng));
        return;
    }
    assert(0 && "bad bias kind");
}
