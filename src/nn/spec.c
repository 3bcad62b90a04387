/* The setup: one table of keys shared by the command line and scenario files, strict
 * parsing of every value, cross-key validation and the memory estimate. */
#include "gradscope/spec.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gradscope/hist.h"
#include "gradscope/net.h"
#include "gradscope/rng.h"
#include "util/text.h"

#define MEMORY_LIMIT (4.0 * 1024 * 1024 * 1024) /* bytes a single run may use */
#define MAX_WIDTH 65536
#define MAX_DEPTH 10000
#define AUTO_THREADS_WIDTH 256 /* --threads auto: two BLAS threads from this MLP width */
#define AUTO_THREADS_WIDTH_TEXT "256"

/* ---- strict number parsing ---- */

static GsStatus parse_long(const char *key, const char *v, long lo, long hi, long *out,
                           GsError *err)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE || isspace((unsigned char)*v))
        return gs_error(err, GS_ERR_INVALID, "--%s: '%s' is not an integer", key, v);
    if (x < lo || x > hi)
        return gs_error(err, GS_ERR_INVALID, "--%s: %s is out of range (%ld..%ld)", key, v, lo, hi);
    *out = x;
    return GS_OK;
}

static GsStatus parse_double(const char *key, const char *v, double lo, double hi, double *out,
                             GsError *err)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || isspace((unsigned char)*v) || !isfinite(x))
        return gs_error(err, GS_ERR_INVALID, "--%s: '%s' is not a finite number", key, v);
    if (x < lo || x > hi)
        return gs_error(err, GS_ERR_INVALID, "--%s: %s is out of range (%g..%g)", key, v, lo, hi);
    *out = x;
    return GS_OK;
}

static GsStatus parse_bool(const char *key, const char *v, int *out, GsError *err)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
        *out = 1;
        return GS_OK;
    }
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
        *out = 0;
        return GS_OK;
    }
    return gs_error(err, GS_ERR_INVALID, "--%s: '%s' is not a boolean (true/false)", key, v);
}

/* Shortest text that reads back to the same double ("0.05", not "0.05000000000000000277"). */
static void format_double(char *buf, size_t n, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* ---- enum names ---- */

static const char *const norm_names[] = {"none", "batch", "layer"};
static const char *const loss_names[] = {"auto", "mse", "xent"};
static const char *const opt_names[] = {"sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"};
static const char *const sched_names[] = {"constant", "step", "exp", "cosine"};
static const char *const arch_names[] = {"mlp", "rnn", "lstm", "gru"};
/* The depth an arch starts with until --depth is given (the key table's default is mlp's). */
#define MLP_DEPTH_DEFAULT 8
#define RNN_DEPTH_DEFAULT 1

const char *gs_norm_name(GsNormKind k)
{
    return (unsigned)k < 3 ? norm_names[k] : NULL;
}
const char *gs_loss_name(GsLossKind k)
{
    return (unsigned)k < 3 ? loss_names[k] : NULL;
}
const char *gs_opt_name(GsOptKind k)
{
    return (unsigned)k < 6 ? opt_names[k] : NULL;
}
const char *gs_arch_name(GsArch k)
{
    return (unsigned)k < 4 ? arch_names[k] : NULL;
}
int gs_arch_is_recurrent(GsArch k)
{
    return k == GS_ARCH_RNN || k == GS_ARCH_LSTM || k == GS_ARCH_GRU;
}

int gs_spec_key_applies(const char *key, GsArch arch)
{
    static const char *const mlp_only[] = {"norm",        "residual",    "res-scale", "bias-init",
                                           "input-scale", "standardize", "target"};
    static const char *const rnn_only[] = {"seq-len", "bptt", "init-hh", "forget-bias"};
    int rec = gs_arch_is_recurrent(arch);
    for (size_t i = 0; i < sizeof mlp_only / sizeof mlp_only[0]; i++)
        if (!strcmp(key, mlp_only[i]))
            return !rec;
    for (size_t i = 0; i < sizeof rnn_only / sizeof rnn_only[0]; i++)
        if (!strcmp(key, rnn_only[i]))
            return rec && (strcmp(key, "forget-bias") || arch == GS_ARCH_LSTM);
    if (!strcmp(key, "act"))
        return arch == GS_ARCH_MLP || arch == GS_ARCH_RNN;
    return 1;
}

static int find_name(const char *const *names, int n, const char *v, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && !strncmp(names[i], v, len))
            return i;
    return -1;
}

/* Appends "; did you mean 'NAME'?" to err's message when the name part of v (before ':'
 * or '*') is close to one of names. */
static void suggest_name(GsError *err, const char *v, const char *const *names, size_t n)
{
    char word[64];
    size_t len = strcspn(v, ":*");
    if (!err || len >= sizeof word)
        return;
    memcpy(word, v, len);
    word[len] = '\0';
    const char *s = gs_text_suggest(word, names, n);
    size_t used = strlen(err->msg);
    if (s && used + strlen(s) + 20 < sizeof err->msg)
        snprintf(err->msg + used, sizeof err->msg - used, "; did you mean '%s'?", s);
}

static GsStatus unknown_name(GsError *err, const char *key, const char *v, const char *const *names,
                             int n)
{
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (i + 1 < n)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    gs_error(err, GS_ERR_INVALID, "--%s: unknown value '%s' (expected one of: %s)", key, v, list);
    suggest_name(err, v, names, (size_t)n);
    return GS_ERR_INVALID;
}

/* The index of the name v[0..len) in names[0..n) through *out, or GS_ERR_INVALID listing
 * the valid names (the message quotes all of v). */
static GsStatus lookup_name(const char *const *names, int n, const char *key, const char *v,
                            size_t len, int *out, GsError *err)
{
    int i = find_name(names, n, v, len);
    if (i < 0)
        return unknown_name(err, key, v, names, n);
    *out = i;
    return GS_OK;
}

/* ---- the key table ---- */

typedef GsStatus (*Setter)(GsSpec *s, const char *key, const char *v, GsError *err);
typedef void (*Getter)(const GsSpec *s, char *buf, size_t n);

typedef struct {
    const char *name, *def, *help;
    Setter set;
    Getter get;
} Key;

#define INT_KEY(field, lo, hi)                                                                     \
    static GsStatus set_##field(GsSpec *s, const char *k, const char *v, GsError *e)               \
    {                                                                                              \
        long x;                                                                                    \
        GsStatus st = parse_long(k, v, lo, hi, &x, e);                                             \
        if (st == GS_OK)                                                                           \
            s->field = x;                                                                          \
        return st;                                                                                 \
    }                                                                                              \
    static void get_##field(const GsSpec *s, char *b, size_t n)                                    \
    {                                                                                              \
        snprintf(b, n, "%ld", (long)s->field);                                                     \
    }

#define DBL_KEY(field, lo, hi)                                                                     \
    static GsStatus set_##field(GsSpec *s, const char *k, const char *v, GsError *e)               \
    {                                                                                              \
        return parse_double(k, v, lo, hi, &s->field, e);                                           \
    }                                                                                              \
    static void get_##field(const GsSpec *s, char *b, size_t n)                                    \
    {                                                                                              \
        format_double(b, n, s->field);                                                             \
    }

INT_KEY(width, 1, MAX_WIDTH)
INT_KEY(residual, 0, MAX_DEPTH)
INT_KEY(warmup, 0, LONG_MAX / 2)
INT_KEY(samples, 1, 100000000)
INT_KEY(batch, 0, 100000000)
INT_KEY(steps, 1, 1000000000)
INT_KEY(record_every, 1, 1000000000)
INT_KEY(hist_every, 1, 1000000000)
/* threads: a count 1..256, or auto (stored as 0; gs_spec_blas_threads resolves it). */
static GsStatus set_threads(GsSpec *s, const char *k, const char *v, GsError *e)
{
    if (!strcmp(v, "auto")) {
        s->threads = 0;
        return GS_OK;
    }
    long x;
    GsError sub;
    if (parse_long(k, v, 1, 256, &x, &sub) != GS_OK)
        return gs_error(e, GS_ERR_INVALID, "--%s: '%s' is neither auto nor a count 1..256", k, v);
    s->threads = (int)x;
    return GS_OK;
}
static void get_threads(const GsSpec *s, char *b, size_t n)
{
    if (s->threads == 0)
        snprintf(b, n, "auto");
    else
        snprintf(b, n, "%d", s->threads);
}

int gs_spec_blas_threads(const GsSpec *s)
{
    if (s->threads > 0)
        return s->threads;
    /* Measured (bench/bench_engine --threads 1 and 2, README): on a 2-core machine two BLAS
     * threads pay from MLP width 256 up (1.5-1.7x at 256-1024) and cost 2-3x below it;
     * recurrent steps are products of batch x hidden, kept on one thread. More than two
     * threads were not measured. */
    if (s->arch != GS_ARCH_MLP || s->width < AUTO_THREADS_WIDTH)
        return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 2 ? 2 : 1;
}
INT_KEY(seq_len, 1, 1000000)
INT_KEY(bptt, 0, 1000000)
DBL_KEY(res_scale, -1e6, 1e6)
DBL_KEY(lr, 1e-300, 1e6)
DBL_KEY(weight_decay, 0, 1e6)
DBL_KEY(clip_norm, 0, 1e300)
DBL_KEY(clip_value, 0, 1e300)
DBL_KEY(input_scale, -1e300, 1e300)
DBL_KEY(noise, 0, 1e6)

static GsStatus set_seed(GsSpec *s, const char *k, const char *v, GsError *e)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)v[0]))
        return gs_error(e, GS_ERR_INVALID, "--%s: '%s' is not a non-negative integer", k, v);
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return gs_error(e, GS_ERR_INVALID, "--%s: '%s' is not a non-negative integer", k, v);
    s->seed = (uint64_t)x;
    return GS_OK;
}
static void get_seed(const GsSpec *s, char *b, size_t n)
{
    snprintf(b, n, "%llu", (unsigned long long)s->seed);
}

static GsStatus prefix_error(GsStatus st, const char *k, GsError *e)
{
    if (st != GS_OK && e) {
        char tmp[sizeof e->msg];
        snprintf(tmp, sizeof tmp, "--%.60s: %.900s", k, e->msg);
        memcpy(e->msg, tmp, sizeof tmp);
    }
    return st;
}

/* depth: stacked layers; until it is given it follows the arch (8 for mlp, 1 recurrent) */
static GsStatus set_depth(GsSpec *s, const char *k, const char *v, GsError *e)
{
    long x;
    GsStatus st = parse_long(k, v, 1, MAX_DEPTH, &x, e);
    if (st == GS_OK) {
        s->depth = (int)x;
        s->depth_given = 1;
    }
    return st;
}
static void get_depth(const GsSpec *s, char *b, size_t n)
{
    snprintf(b, n, "%d", s->depth);
}

/* The default data set of an arch, until --data is given. */
static void arch_data_default(GsSpec *s)
{
    if (s->data_given)
        return;
    GsStatus st =
        gs_data_source_parse(gs_arch_is_recurrent(s->arch) ? "adding" : "spiral", &s->data, NULL);
    (void)st;
}

static GsStatus set_arch(GsSpec *s, const char *k, const char *v, GsError *e)
{
    int i;
    GsStatus st = lookup_name(arch_names, 4, k, v, strlen(v), &i, e);
    if (st != GS_OK)
        return st;
    s->arch = (GsArch)i;
    if (!s->depth_given)
        s->depth = gs_arch_is_recurrent(s->arch) ? RNN_DEPTH_DEFAULT : MLP_DEPTH_DEFAULT;
    arch_data_default(s);
    return GS_OK;
}
static void get_arch(const GsSpec *s, char *b, size_t n)
{
    snprintf(b, n, "%s", arch_names[s->arch]);
}

static GsStatus set_init_hh(GsSpec *s, const char *k, const char *v, GsError *e)
{
    return prefix_error(gs_hh_init_parse(v, &s->init_hh, e), k, e);
}
static void get_init_hh(const GsSpec *s, char *b, size_t n)
{
    char num[32];
    switch (s->init_hh.kind) {
    case GS_HH_IDENTITY:
        format_double(num, sizeof num, s->init_hh.gain);
        snprintf(b, n, "identity:%s", num);
        break;
    case GS_HH_SCHEME: gs_init_format(&s->init_hh.init, b, n); break;
    default: snprintf(b, n, "default");
    }
}

static GsStatus set_forget_bias(GsSpec *s, const char *k, const char *v, GsError *e)
{
    if (!strcmp(v, "default") || !strcmp(v, "none")) {
        s->forget_mode = GS_FORGET_DEFAULT;
        return GS_OK;
    }
    if (!strcmp(v, "chrono")) {
        s->forget_mode = GS_FORGET_CHRONO;
        return GS_OK;
    }
    double x;
    GsStatus st = parse_double(k, v, -1e3, 1e3, &x, e);
    if (st != GS_OK) {
        if (e) {
            size_t used = strlen(e->msg);
            snprintf(e->msg + used, sizeof e->msg - used, " (or 'default', 'chrono')");
        }
        return st;
    }
    s->forget_mode = GS_FORGET_CONST;
    s->forget_bias = x;
    return GS_OK;
}
static void get_forget_bias(const GsSpec *s, char *b, size_t n)
{
    if (s->forget_mode == GS_FORGET_CONST)
        format_double(b, n, s->forget_bias);
    else
        snprintf(b, n, "%s", s->forget_mode == GS_FORGET_CHRONO ? "chrono" : "default");
}

static GsStatus set_act(GsSpec *s, const char *k, const char *v, GsError *e)
{
    GsStatus st = prefix_error(gs_act_parse(v, &s->act, e), k, e);
    if (st != GS_OK) {
        const char *names[GS_ACT_COUNT];
        for (int i = 0; i < GS_ACT_COUNT; i++)
            names[i] = gs_act_name((GsActKind)i);
        suggest_name(e, v, names, GS_ACT_COUNT);
    }
    return st;
}
static void get_act(const GsSpec *s, char *b, size_t n)
{
    gs_act_format(&s->act, b, n);
}

/* PyTorch's names for He et al.'s schemes (torch.nn.init.kaiming_*), read as ours. */
static const char *const init_aliases[][2] = {{"kaiming_normal", "he_normal"},
                                              {"kaiming_uniform", "he_uniform"}};

static GsStatus set_init(GsSpec *s, const char *k, const char *v, GsError *e)
{
    char buf[256];
    if (!strcmp(v, "default")) {
        /* the arch's own: mlp's is xavier_normal, kept in init; recurrent nets use PyTorch's */
        GsStatus st = gs_init_parse("xavier_normal", &s->init, e);
        s->init_default = st == GS_OK;
        return st;
    }
    s->init_default = 0;
    for (size_t i = 0; i < sizeof init_aliases / sizeof init_aliases[0]; i++) {
        size_t n = strlen(init_aliases[i][0]);
        if (!strncmp(v, init_aliases[i][0], n) && strchr(":*", v[n]) &&
            strlen(v) - n + strlen(init_aliases[i][1]) < sizeof buf) {
            snprintf(buf, sizeof buf, "%s%s", init_aliases[i][1], v + n);
            v = buf;
            break;
        }
    }
    GsStatus st = prefix_error(gs_init_parse(v, &s->init, e), k, e);
    if (st != GS_OK) {
        /* the bare scheme names, as the canonical form spells them */
        char names_buf[GS_INIT_COUNT + 2][64];
        const char *names[GS_INIT_COUNT + 2];
        for (int i = 0; i < GS_INIT_COUNT; i++) {
            GsInit in = {(GsInitKind)i, 1.0, 1.0};
            gs_init_format(&in, names_buf[i], sizeof names_buf[i]);
            names_buf[i][strcspn(names_buf[i], ":*")] = '\0';
            names[i] = names_buf[i];
        }
        for (size_t i = 0; i < 2; i++)
            names[GS_INIT_COUNT + i] = init_aliases[i][0];
        suggest_name(e, v, names, GS_INIT_COUNT + 2);
    }
    return st;
}
static void get_init(const GsSpec *s, char *b, size_t n)
{
    if (s->init_default && gs_arch_is_recurrent(s->arch))
        snprintf(b, n, "default");
    else
        gs_init_format(&s->init, b, n);
}

static GsStatus set_bias_init(GsSpec *s, const char *k, const char *v, GsError *e)
{
    GsStatus st = prefix_error(gs_bias_init_parse(v, &s->bias_init, e), k, e);
    if (st != GS_OK) {
        char names_buf[3][32];
        const char *names[3];
        for (int i = 0; i < 3; i++) {
            GsBiasInit b = {(GsBiasKind)i, 0.0};
            gs_bias_init_format(&b, names_buf[i], sizeof names_buf[i]);
            names_buf[i][strcspn(names_buf[i], ":")] = '\0';
            names[i] = names_buf[i];
        }
        suggest_name(e, v, names, 3);
    }
    return st;
}
static void get_bias_init(const GsSpec *s, char *b, size_t n)
{
    gs_bias_init_format(&s->bias_init, b, n);
}

static GsStatus set_data(GsSpec *s, const char *k, const char *v, GsError *e)
{
    GsStatus st = prefix_error(gs_data_source_parse(v, &s->data, e), k, e);
    if (st == GS_OK)
        s->data_given = 1;
    if (st != GS_OK) {
        char names_buf[GS_DATA_CSV][32];
        const char *names[GS_DATA_CSV];
        for (int i = 0; i < GS_DATA_CSV; i++) {
            GsDataSource src = {(GsDataKind)i, 0, ""};
            gs_data_source_format(&src, names_buf[i], sizeof names_buf[i]);
            names_buf[i][strcspn(names_buf[i], ":")] = '\0';
            names[i] = names_buf[i];
        }
        suggest_name(e, v, names, GS_DATA_CSV);
    }
    return st;
}
static void get_data(const GsSpec *s, char *b, size_t n)
{
    gs_data_source_format(&s->data, b, n);
}

static GsStatus set_norm(GsSpec *s, const char *k, const char *v, GsError *e)
{
    int i;
    GsStatus st = lookup_name(norm_names, 3, k, v, strlen(v), &i, e);
    if (st != GS_OK)
        return st;
    s->norm = (GsNormKind)i;
    return GS_OK;
}
static void get_norm(const GsSpec *s, char *b, size_t n)
{
    snprintf(b, n, "%s", norm_names[s->norm]);
}

static GsStatus set_loss(GsSpec *s, const char *k, const char *v, GsError *e)
{
    int i;
    GsStatus st = lookup_name(loss_names, 3, k, v, strlen(v), &i, e);
    if (st != GS_OK)
        return st;
    s->loss = (GsLossKind)i;
    return GS_OK;
}
static void get_loss(const GsSpec *s, char *b, size_t n)
{
    snprintf(b, n, "%s", loss_names[s->loss]);
}

static GsStatus set_opt(GsSpec *s, const char *k, const char *v, GsError *e)
{
    const char *colon = strchr(v, ':');
    size_t len = colon ? (size_t)(colon - v) : strlen(v);
    int i;
    GsStatus st = lookup_name(opt_names, 6, k, v, len, &i, e);
    if (st != GS_OK)
        return st;
    double beta = 0.9;
    if (colon) {
        if (i != GS_OPT_MOMENTUM && i != GS_OPT_NESTEROV)
            return gs_error(e, GS_ERR_INVALID, "--%s: '%s' takes no parameter", k, v);
        st = parse_double(k, colon + 1, 0.0, 0.999999, &beta, e);
        if (st != GS_OK)
            return st;
    }
    s->opt = (GsOptKind)i;
    s->opt_param = beta;
    return GS_OK;
}
static void get_opt(const GsSpec *s, char *b, size_t n)
{
    char num[32];
    format_double(num, sizeof num, s->opt_param);
    if (s->opt == GS_OPT_MOMENTUM || s->opt == GS_OPT_NESTEROV)
        snprintf(b, n, "%s:%s", opt_names[s->opt], num);
    else
        snprintf(b, n, "%s", opt_names[s->opt]);
}

static GsStatus set_schedule(GsSpec *s, const char *k, const char *v, GsError *e)
{
    const char *colon = strchr(v, ':');
    size_t len = colon ? (size_t)(colon - v) : strlen(v);
    int i;
    GsStatus st = lookup_name(sched_names, 4, k, v, len, &i, e);
    if (st != GS_OK)
        return st;
    long every = 100;
    double gamma = 0.1;
    char part[64];
    if (i == GS_SCHED_STEP) {
        const char *c2 = colon ? strchr(colon + 1, ':') : NULL;
        if (!colon || !c2 || (size_t)(c2 - colon - 1) >= sizeof part)
            return gs_error(e, GS_ERR_INVALID, "--%s: '%s' must be step:EVERY:GAMMA", k, v);
        memcpy(part, colon + 1, (size_t)(c2 - colon - 1));
        part[c2 - colon - 1] = '\0';
        st = parse_long(k, part, 1, LONG_MAX / 2, &every, e);
        if (st == GS_OK)
            st = parse_double(k, c2 + 1, 0.0, 1e6, &gamma, e);
        if (st != GS_OK)
            return st;
    } else if (i == GS_SCHED_EXP) {
        if (!colon)
            return gs_error(e, GS_ERR_INVALID, "--%s: '%s' must be exp:GAMMA", k, v);
        st = parse_double(k, colon + 1, 0.0, 1e6, &gamma, e);
        if (st != GS_OK)
            return st;
    } else if (colon) {
        return gs_error(e, GS_ERR_INVALID, "--%s: '%s' takes no parameter", k, v);
    }
    s->schedule = (GsSchedKind)i;
    s->sched_every = every;
    s->sched_gamma = gamma;
    return GS_OK;
}
static void get_schedule(const GsSpec *s, char *b, size_t n)
{
    /* the shortest form that reads back exactly: a trace's metadata rebuilds the setup */
    char num[32];
    format_double(num, sizeof num, s->sched_gamma);
    switch (s->schedule) {
    case GS_SCHED_STEP: snprintf(b, n, "step:%ld:%s", s->sched_every, num); break;
    case GS_SCHED_EXP: snprintf(b, n, "exp:%s", num); break;
    default: snprintf(b, n, "%s", sched_names[s->schedule]);
    }
}

static GsStatus set_target(GsSpec *s, const char *k, const char *v, GsError *e)
{
    if (strlen(v) >= sizeof s->target)
        return gs_error(e, GS_ERR_INVALID, "--%s: '%.40s...' is too long", k, v);
    snprintf(s->target, sizeof s->target, "%s", v);
    return GS_OK;
}
static void get_target(const GsSpec *s, char *b, size_t n)
{
    snprintf(b, n, "%s", s->target);
}

static GsStatus set_hist(GsSpec *s, const char *k, const char *v, GsError *e)
{
    const char *bad = NULL;
    int m = gs_hist_parse_kinds(v, &bad);
    if (m < 0) {
        size_t len = strcspn(bad, ",");
        return gs_error(e, GS_ERR_INVALID,
                        "--%s: '%.*s' in '%s' is not a histogram kind (expected a comma-separated "
                        "subset of grad,act,update each at most once, or all, none)",
                        k, (int)(len > 40 ? 40 : len), bad, v);
    }
    s->hist = (unsigned)m;
    return GS_OK;
}
static void get_hist(const GsSpec *s, char *b, size_t n)
{
    gs_hist_format_kinds(s->hist, b, n);
}

static GsStatus set_standardize(GsSpec *s, const char *k, const char *v, GsError *e)
{
    return parse_bool(k, v, &s->standardize, e);
}
static void get_standardize(const GsSpec *s, char *b, size_t n)
{
    snprintf(b, n, "%s", s->standardize ? "true" : "false");
}

static const Key keys[] = {
    {"arch", "mlp", "architecture: mlp, or the recurrent rnn lstm gru (PyTorch's cells)", set_arch,
     get_arch},
    {"depth", "8", "hidden layers (recurrent archs: stacked layers, default 1)", set_depth,
     get_depth},
    {"width", "64", "units per hidden layer", set_width, get_width},
    {"act", "tanh",
     "activation: sigmoid tanh relu leaky_relu[:SLOPE] elu[:ALPHA] gelu selu softsign linear",
     set_act, get_act},
    {"init", "default",
     "weights (recurrent: weight_ih): default (mlp: xavier_normal; rnn/lstm/gru: PyTorch's "
     "U(-1/sqrt(H), 1/sqrt(H))) normal:STD uniform:A standard xavier_uniform xavier_normal "
     "he_uniform he_normal "
     "lecun_uniform lecun_normal orthogonal[:GAIN] (kaiming_normal/kaiming_uniform: PyTorch's "
     "names for he_*); append *GAIN to scale a named scheme",
     set_init, get_init},
    {"bias-init", "zero", "biases (mlp): zero const:C normal:STD", set_bias_init, get_bias_init},
    {"init-hh", "default",
     "recurrent weights weight_hh: default (PyTorch's) orthogonal[:GAIN] identity[:GAIN] or any "
     "--init scheme",
     set_init_hh, get_init_hh},
    {"forget-bias", "default",
     "LSTM forget-gate bias: default (PyTorch's), C (bias_ih's forget slice = C, bias_hh's = 0), "
     "or chrono (Tallec & Ollivier 2018, T_max = seq-len)",
     set_forget_bias, get_forget_bias},
    {"seq-len", "20", "time steps T of a sequence data set", set_seq_len, get_seq_len},
    {"bptt", "0", "truncated backpropagation through time over K steps (0 = full BPTT)", set_bptt,
     get_bptt},
    {"norm", "none", "normalization after each hidden dense layer: none batch layer", set_norm,
     get_norm},
    {"residual", "0", "residual blocks of K hidden layers (layers 2..depth); 0 = plain",
     set_residual, get_residual},
    {"res-scale", "1", "alpha in x + alpha*F(x)", set_res_scale, get_res_scale},
    {"loss", "auto",
     "mse xent (auto: xent for classification data, a CSV target of the integers 0..K-1 "
     "included; mse otherwise)",
     set_loss, get_loss},
    {"opt", "sgd", "optimizer: sgd momentum[:BETA] nesterov[:BETA] rmsprop adam adamw", set_opt,
     get_opt},
    {"lr", "0.05", "learning rate", set_lr, get_lr},
    {"weight-decay", "0", "L2 weight decay (decoupled for adamw)", set_weight_decay,
     get_weight_decay},
    {"schedule", "constant", "learning-rate schedule: constant step:EVERY:GAMMA exp:GAMMA cosine",
     set_schedule, get_schedule},
    {"warmup", "0", "linear warm-up steps", set_warmup, get_warmup},
    {"clip-norm", "0", "clip the global gradient norm to this (0 = off)", set_clip_norm,
     get_clip_norm},
    {"clip-value", "0", "clip every gradient entry to [-X, X] (0 = off)", set_clip_value,
     get_clip_value},
    {"data", "spiral",
     "data: spiral[:K] moons circles xor blobs[:K] checkerboard sine teacher, or FILE.csv; for "
     "recurrent archs adding copy parity sine_seq (default adding)",
     set_data, get_data},
    {"target", "", "CSV target column: name or 1-based index (default: last column)", set_target,
     get_target},
    {"standardize", "false", "standardize inputs to zero mean and unit variance", set_standardize,
     get_standardize},
    {"input-scale", "1", "multiply every input by this", set_input_scale, get_input_scale},
    {"samples", "1000", "rows of a built-in data set", set_samples, get_samples},
    {"noise", "0.1", "noise of a built-in data set", set_noise, get_noise},
    {"batch", "64", "minibatch size (0 = the whole data set, in order, every step)", set_batch,
     get_batch},
    {"steps", "500", "training steps", set_steps, get_steps},
    {"seed", "1", "random seed (data, weights, batches)", set_seed, get_seed},
    {"record-every", "1", "record statistics every N steps (step 0 and the last always)",
     set_record_every, get_record_every},
    {"hist", "none",
     "histograms to record at recorded steps: a subset of grad,act,update (or all, none)",
     set_hist, get_hist},
    {"hist-every", "1",
     "histograms at every N-th recorded step only (and the last); the others hold NaN",
     set_hist_every, get_hist_every},
    {"threads", "auto", "BLAS threads: a count, or auto (1 below MLP width " AUTO_THREADS_WIDTH_TEXT ", else 2 where the machine has 2 cores)", set_threads, get_threads},
};
#define NKEYS (sizeof keys / sizeof keys[0])

size_t gs_spec_key_count(void)
{
    return NKEYS;
}
const char *gs_spec_key_name(size_t i)
{
    return i < NKEYS ? keys[i].name : NULL;
}
const char *gs_spec_key_default(size_t i)
{
    return i < NKEYS ? keys[i].def : NULL;
}
const char *gs_spec_key_help(size_t i)
{
    return i < NKEYS ? keys[i].help : NULL;
}

/* Key names compare with '-' and '_' as the same character. */
static int key_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

int gs_spec_key_index(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (key_eq(keys[i].name, name))
            return (int)i;
    return -1;
}

static const Key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (key_eq(keys[i].name, name))
            return &keys[i];
    return NULL;
}

GsStatus gs_spec_set(GsSpec *spec, const char *key, const char *value, GsError *err)
{
    const Key *k = find_key(key);
    if (!k)
        return gs_error(err, GS_ERR_INVALID, "unknown setup key '%s'", key);
    GsSpec tmp = *spec;
    GsStatus st = k->set(&tmp, k->name, value, err);
    if (st == GS_OK)
        *spec = tmp;
    return st;
}

GsStatus gs_spec_get(const GsSpec *spec, const char *key, char *buf, size_t size)
{
    const Key *k = find_key(key);
    if (!k)
        return GS_ERR_INVALID;
    k->get(spec, buf, size);
    return GS_OK;
}

void gs_spec_default(GsSpec *spec)
{
    memset(spec, 0, sizeof *spec);
    for (size_t i = 0; i < NKEYS; i++) {
        GsStatus st = keys[i].set(spec, keys[i].name, keys[i].def, NULL);
        (void)st;
    }
    spec->depth_given = 0; /* defaults are not given: depth and data follow a later --arch */
    spec->data_given = 0;
}

GsLossKind gs_spec_loss(const GsSpec *spec)
{
    if (spec->loss != GS_LOSS_AUTO)
        return spec->loss;
    return gs_data_kind_is_classification(spec->data.kind) ? GS_LOSS_XENT : GS_LOSS_MSE;
}

/* Recurrent setups: the engine's own arena sizes (gs_rnn_sizes, per-step head as the upper
 * bound), the trace (per-tensor rows and through-time rows) and the data set. */
/* Histogram bytes per recorded step and layer: the store's kinds, plus the side file's
 * all-kind copy while it is written. 0 without histograms. */
static double hist_bytes(unsigned m)
{
    if (!m)
        return 0.0;
    double kinds = (double)((m & 1u) + ((m >> 1) & 1u) + ((m >> 2) & 1u));
    return (kinds + GS_HIST_NKINDS) * GS_HIST_NB * 4.0;
}

static double rnn_memory_estimate(const GsSpec *spec, size_t d_in, size_t d_out, size_t n_rows)
{
    size_t B = spec->batch <= 0 || (size_t)spec->batch > n_rows ? n_rows : (size_t)spec->batch;
    GsRnnConfig c;
    GsRnnSizes z;
    if (gs_spec_rnn_config(spec, d_in, d_out, 1, B ? B : 1, &c, NULL) != GS_OK ||
        gs_rnn_sizes(&c, &z, NULL) != GS_OK)
        return INFINITY;
    double K = spec->depth, T = (double)spec->seq_len;
    double optim = (double)z.n_params * 4.0 * 3; /* update and two moment buffers */
    double recorded = (double)spec->steps / (double)spec->record_every + 2;
    double trace = recorded * ((2 * K + 1) * 19 + K * T * 5) * 8.0;
    trace += recorded * (2 * K + 1) * hist_bytes(spec->hist);
    double data = (double)n_rows * T * (double)(d_in + d_out) * 4.0 * 2;
    return (double)z.bytes + optim + trace + data;
}

double gs_spec_memory_estimate(const GsSpec *spec, size_t d_in, size_t d_out, size_t n_rows)
{
    if (gs_arch_is_recurrent(spec->arch))
        return rnn_memory_estimate(spec, d_in, d_out, n_rows);
    size_t B = spec->batch <= 0 || (size_t)spec->batch > n_rows ? n_rows : (size_t)spec->batch;
    /* the net's own bytes, from the one size computation gs_net_create uses */
    GsNetSizes sz;
    GsStatus st = gs_net_sizes(spec, d_in, d_out, B ? B : 1, &sz, NULL);
    if (st == GS_ERR_RANGE)
        return HUGE_VAL; /* beyond size_t: beyond any bound */
    if (st != GS_OK)
        return 0.0; /* an empty dimension: gs_net_create names it */
    double L = spec->depth;
    double recorded = (double)spec->steps / (double)spec->record_every + 2;
    double trace = recorded * (L + 1) * 18 * 8.0;
    trace += recorded * (L + 1) * hist_bytes(spec->hist);
    double data = (double)n_rows * (double)(d_in + d_out) * 4.0 * 2;
    return (double)sz.bytes + trace + data;
}

/* Keys that apply to one family of archs only, refused with a message naming the key. */
static GsStatus validate_arch(const GsSpec *spec, GsError *err)
{
    char v[256];
    const char *arch = arch_names[spec->arch];
    if (!gs_arch_is_recurrent(spec->arch)) {
        if (gs_data_kind_is_sequence(spec->data.kind))
            return gs_error(err, GS_ERR_INVALID,
                            "--data %s is a sequence task for recurrent nets: use --arch rnn, lstm "
                            "or gru, or an MLP data set (spiral, moons, ..., FILE.csv)",
                            gs_data_source_format(&spec->data, v, sizeof v));
        if (spec->init_hh.kind != GS_HH_DEFAULT || spec->forget_mode != GS_FORGET_DEFAULT ||
            spec->bptt != 0)
            return gs_error(err, GS_ERR_INVALID,
                            "--%s applies to recurrent archs (--arch rnn, "
                            "lstm or gru), not to --arch mlp",
                            spec->init_hh.kind != GS_HH_DEFAULT ? "init-hh"
                            : spec->bptt != 0                   ? "bptt"
                                                                : "forget-bias");
        return GS_OK;
    }
    if (!gs_data_kind_is_sequence(spec->data.kind))
        return gs_error(err, GS_ERR_INVALID,
                        "--data %s is not a sequence task: --arch %s takes adding, copy, parity "
                        "or sine_seq",
                        gs_data_source_format(&spec->data, v, sizeof v), arch);
    gs_act_format(&spec->act, v, sizeof v);
    if (spec->arch == GS_ARCH_RNN && spec->act.kind != GS_ACT_TANH && spec->act.kind != GS_ACT_RELU)
        return gs_error(err, GS_ERR_INVALID,
                        "--act %s: an rnn cell is tanh or relu (PyTorch's nn.RNN nonlinearity)", v);
    if (spec->arch != GS_ARCH_RNN && spec->act.kind != GS_ACT_TANH)
        return gs_error(err, GS_ERR_INVALID,
                        "--act %s: %s cells have fixed nonlinearities (sigmoid gates, tanh); --act "
                        "applies to --arch rnn and mlp",
                        v, arch);
    const char *mlp_only = spec->norm != GS_NORM_NONE             ? "norm"
                           : spec->residual != 0                  ? "residual"
                           : spec->bias_init.kind != GS_BIAS_ZERO ? "bias-init"
                                                                  : NULL;
    if (mlp_only)
        return gs_error(err, GS_ERR_INVALID,
                        "--%s applies to --arch mlp; recurrent layers follow PyTorch's cells "
                        "(biases: PyTorch's default, or --forget-bias for an lstm)",
                        mlp_only);
    if (spec->forget_mode != GS_FORGET_DEFAULT && spec->arch != GS_ARCH_LSTM)
        return gs_error(err, GS_ERR_INVALID, "--forget-bias applies to --arch lstm, not %s", arch);
    if (spec->loss == GS_LOSS_MSE && gs_data_kind_is_classification(spec->data.kind))
        return gs_error(err, GS_ERR_INVALID,
                        "--loss mse: data '%s' has class labels; recurrent heads use xent for it",
                        gs_data_source_format(&spec->data, v, sizeof v));
    if (spec->loss == GS_LOSS_XENT && !gs_data_kind_is_classification(spec->data.kind))
        return gs_error(err, GS_ERR_INVALID, "--loss xent: data '%s' is a regression task; use mse",
                        gs_data_source_format(&spec->data, v, sizeof v));
    if (spec->bptt > spec->seq_len)
        return gs_error(err, GS_ERR_INVALID,
                        "--bptt %ld is longer than --seq-len %ld (use 0 for full BPTT)", spec->bptt,
                        spec->seq_len);
    return GS_OK;
}

GsStatus gs_spec_rnn_config(const GsSpec *spec, size_t d_in, size_t d_out, int per_step,
                            size_t batch_max, GsRnnConfig *out, GsError *err)
{
    if (!gs_arch_is_recurrent(spec->arch))
        return gs_error(err, GS_ERR_INVALID, "--arch %s is not recurrent", arch_names[spec->arch]);
    GsRnnConfig c = gs_rnn_config_default();
    c.cell = spec->arch == GS_ARCH_LSTM      ? GS_CELL_LSTM
             : spec->arch == GS_ARCH_GRU     ? GS_CELL_GRU
             : spec->act.kind == GS_ACT_RELU ? GS_CELL_RNN_RELU
                                             : GS_CELL_RNN_TANH;
    c.d_in = d_in;
    c.hidden = (size_t)spec->width;
    c.depth = (size_t)spec->depth;
    c.d_out = d_out;
    c.seq_len = (size_t)spec->seq_len;
    c.batch_max = batch_max;
    c.head = per_step ? GS_RNN_HEAD_EACH : GS_RNN_HEAD_LAST;
    c.loss = gs_spec_loss(spec) == GS_LOSS_XENT ? GS_RNN_LOSS_XENT : GS_RNN_LOSS_MSE;
    c.bptt = (size_t)spec->bptt;
    c.init_ih_default = spec->init_default;
    c.init_ih = spec->init;
    c.init_hh = spec->init_hh;
    c.has_forget_bias = spec->forget_mode == GS_FORGET_CONST;
    c.forget_bias = spec->forget_bias;
    c.chrono = spec->forget_mode == GS_FORGET_CHRONO;
    c.chrono_tmax = (double)spec->seq_len;
    c.seed = gs_rng_derive(spec->seed, 2);
    GsStatus st = gs_rnn_config_validate(&c, err);
    if (st == GS_OK)
        *out = c;
    return st;
}

GsStatus gs_spec_validate(const GsSpec *spec, size_t d_in, size_t d_out, GsError *err)
{
    GsStatus ast = validate_arch(spec, err);
    if (ast != GS_OK)
        return ast;
    if (spec->residual > 0 && spec->residual > spec->depth - 1)
        return gs_error(err, GS_ERR_INVALID,
                        "--residual %d cannot apply: blocks cover hidden layers 2..depth, so a "
                        "block of %d layers needs --depth >= %d (got %d)",
                        spec->residual, spec->residual, spec->residual + 1, spec->depth);
    if (spec->warmup >= spec->steps && spec->warmup > 0)
        return gs_error(err, GS_ERR_INVALID, "--warmup %ld must be less than --steps %ld",
                        spec->warmup, spec->steps);
    if (d_in > 0 && d_out > 0) {
        size_t rows = spec->data.kind == GS_DATA_CSV ? 0 : (size_t)spec->samples;
        double bytes = gs_spec_memory_estimate(spec, d_in, d_out, rows ? rows : 1);
        if (bytes > MEMORY_LIMIT)
            return gs_error(err, GS_ERR_RANGE,
                            "setup refused: it would need about %.1f GiB of memory (limit %.0f "
                            "GiB); reduce --width, --depth, --batch or --steps/--record-every",
                            bytes / (1024.0 * 1024 * 1024), MEMORY_LIMIT / (1024.0 * 1024 * 1024));
    }
    return GS_OK;
}

/* ---- scenario files ---- */

typedef struct {
    GsSpec *spec;
    GsError *err;
    GsStatus st;
    const char *path;
} IniCtx;

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
    IniCtx *c = user;
    if (section[0] && strcmp(section, "run") && strcmp(section, "setup")) {
        gs_error(c->err, GS_ERR_INVALID, "unknown section [%s]", section);
        c->st = GS_ERR_INVALID;
        return 0;
    }
    GsStatus st = gs_spec_set(c->spec, name, value, c->err);
    if (st != GS_OK) {
        c->st = st;
        return 0;
    }
    return 1;
}

/* Blanks the lines of a [lesson] section in place (keeping the line count, so inih's line
 * numbers stay true): captions are long prose, longer than inih's line limit, and are read
 * by the gallery's own parser. */
static void blank_lesson_section(char *text)
{
    int in_lesson = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + len && isspace((unsigned char)*p))
            p++;
        if (*p == '[')
            in_lesson = !strncmp(p, "[lesson]", 8);
        else if (in_lesson)
            memset(line, ' ', len);
        if (!end)
            break;
        line = end + 1;
    }
}

/* What inih would silently misread: a NUL byte ends its input there (the rest of the file
 * is ignored), and an indented line after `key = value` continues that value ("depth = 2"
 * then "  7" reads as depth "2\n7" or worse). Both are refused with the line number. */
static GsStatus check_ini_text(const char *text, size_t n, const char *path, GsError *err)
{
    const char *nul = memchr(text, '\0', n);
    if (nul) {
        size_t line = 1;
        const char *start = text;
        for (const char *p = text; p < nul; p++)
            if (*p == '\n') {
                line++;
                start = p + 1;
            }
        return gs_error(err, GS_ERR_FORMAT,
                        "%s:%zu:%zu: NUL byte (\\x00) in a scenario file: not a text file", path,
                        line, (size_t)(nul - start) + 1);
    }
    int after_key = 0, in_lesson = 0;
    size_t lineno = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        lineno++;
        const char *p = line;
        while (p < line + len && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        int blank = p == line + len;
        if (!blank && *p == '[') {
            in_lesson = !strncmp(p, "[lesson]", 8);
            after_key = 0;
        } else if (!blank && *p != '#' && *p != ';' && !in_lesson) {
            if (p > line && after_key)
                return gs_error(err, GS_ERR_FORMAT,
                                "%s:%zu: indented line continues the previous value "
                                "(continuation lines are not supported: remove the indentation "
                                "or join the lines)",
                                path, lineno);
            after_key = 1;
        }
        if (!end)
            break;
        line = end + 1;
    }
    return GS_OK;
}

GsStatus gs_spec_load_ini(GsSpec *spec, const char *path, GsError *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return gs_error(err, GS_ERR_IO, "%s: is a directory, not a scenario file", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(errno));
    /* scenario files are small; a megabyte is far beyond any real one */
    enum { MAX_INI = 1 << 20 };
    char *text = malloc(MAX_INI + 1);
    if (!text) {
        fclose(f);
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
    }
    errno = 0;
    size_t n = fread(text, 1, MAX_INI + 1, f);
    int read_error = ferror(f), read_errno = errno ? errno : EIO;
    fclose(f);
    if (read_error || n > MAX_INI) {
        free(text);
        return gs_error(err, read_error ? GS_ERR_IO : GS_ERR_FORMAT, "%s: %s", path,
                        read_error ? strerror(read_errno)
                                   : "larger than 1 MiB: not a scenario file");
    }
    text[n] = '\0';
    GsStatus st = check_ini_text(text, n, path, err);
    if (st != GS_OK) {
        free(text);
        return st;
    }
    blank_lesson_section(text);
    GsSpec tmp = *spec;
    GsError e = {{0}};
    IniCtx c = {&tmp, &e, GS_OK, path};
    int line = ini_parse_string(text, on_ini_line, &c);
    free(text);
    if (line != 0) {
        if (c.st == GS_OK) /* a syntax error found by the parser itself */
            return gs_error(err, GS_ERR_FORMAT, "%s:%d: malformed line (expected key = value)",
                            path, line);
        /* the message quotes the file's bytes: keep control characters visible */
        char quoted[sizeof e.msg];
        gs_text_escape(e.msg, quoted, sizeof quoted, 0);
        return gs_error(err, c.st, "%s:%d: %s", path, line, quoted);
    }
    *spec = tmp;
    return GS_OK;
}

GsStatus gs_spec_apply_args(GsSpec *spec, const char *args, GsError *err)
{
    char buf[1024];
    if (strlen(args) >= sizeof buf)
        return gs_error(err, GS_ERR_INVALID, "option string too long");
    snprintf(buf, sizeof buf, "%s", args);
    GsSpec tmp = *spec;
    char *save = NULL, *word = strtok_r(buf, " \t", &save);
    while (word) {
        if (strncmp(word, "--", 2) != 0)
            return gs_error(err, GS_ERR_INVALID, "expected an option, got '%s'", word);
        char *key = word + 2, *value = strchr(key, '=');
        if (value) {
            *value++ = '\0';
        } else if (key_eq(key, "standardize")) {
            value = "true";
        } else {
            value = strtok_r(NULL, " \t", &save);
            if (!value || !strncmp(value, "--", 2))
                return gs_error(err, GS_ERR_INVALID, "option '--%s' needs a value", key);
        }
        GsStatus st = gs_spec_set(&tmp, key, value, err);
        if (st != GS_OK)
            return st;
        word = strtok_r(NULL, " \t", &save);
    }
    *spec = tmp;
    return GS_OK;
}
