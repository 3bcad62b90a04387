/* `gradscope demo`: the teaching gallery. Each lesson (a scenario file, embedded at build
 * time) is trained — cause and cure, or a grid of variants — in parallel worker processes,
 * rendered to PNG, checked against the findings its caption claims, and linked from
 * index.html in order with its captions. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/batch.h"
#include "cli/cli.h"
#include "cli/report_opts.h"
#include "cli/scenarios.h"
#include "gradscope/plot.h"
#include "gradscope/sweep.h"
#include "plot/dist.h"
#include "trace/atomic_file.h"
#include "util/fs.h"

typedef struct {
    const char *out_dir, *scen_dir;
    int list, quick, quiet, jobs, width, height;
    unsigned long long seed;
    int seed_set; /* --seed given: it replaces each scenario's own seed */
} DemoOpts;

static const CliOpt demo_opts[] = {
    {"out", 0, required_argument, "DIR",
     "write the lessons and index.html here "
     "[default: gradscope-demo]"},
    {"list", 0, no_argument, NULL, "list the lessons and exit"},
    {"size", 0, required_argument, "WxH", "report page size [default: 1600x1000]"},
    {"quick", 0, no_argument, NULL, "smaller, faster runs (for tests; same lessons)"},
    {"scenarios", 0, required_argument, "DIR",
     "read lessons from DIR/*.ini instead of the "
     "built-in ones"},
    {"jobs", 'j', required_argument, "N", "parallel runs [default: online CPUs]"},
    {"seed", 0, required_argument, "N",
     "seed of every run (data, weights, batches), replacing the scenarios' own [default: "
     "theirs, 1]; each lesson holds for seeds 1-5"},
    {"quiet", 'q', no_argument, NULL, "print nothing but errors"},
};
#define N_DEMO_OPTS (sizeof demo_opts / sizeof demo_opts[0])

static int demo_opt(void *ctx, int i, const char *arg)
{
    DemoOpts *o = ctx;
    const char *n = demo_opts[i].name;
    GsError err = {{0}};
    if (!strcmp(n, "out"))
        o->out_dir = arg;
    else if (!strcmp(n, "list"))
        o->list = 1;
    else if (!strcmp(n, "size")) {
        if (gs_plot_parse_size(arg, &o->width, &o->height, &err) != GS_OK)
            return cli_fail("demo", "--size: %s", err.msg);
    } else if (!strcmp(n, "quick"))
        o->quick = 1;
    else if (!strcmp(n, "scenarios"))
        o->scen_dir = arg;
    else if (!strcmp(n, "jobs")) {
        char *end;
        long v = strtol(arg, &end, 10);
        if (end == arg || *end || v < 1 || v > 1024)
            return cli_fail("demo", "-j '%s': expected a number of parallel runs 1..1024", arg);
        o->jobs = (int)v;
    } else if (!strcmp(n, "seed")) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        if (end == arg || *end || errno || arg[0] == '-')
            return cli_fail("demo", "--seed '%s': expected a whole number >= 0", arg);
        o->seed = v;
        o->seed_set = 1;
    } else if (!strcmp(n, "quiet"))
        o->quiet = 1;
    return 0;
}

/* What a lesson renders. */
typedef enum {
    LESSON_SINGLE = 0, /* one run, one report */
    LESSON_CURE,       /* a run and its cure, one report with the comparison */
    LESSON_VARY,       /* a grid of `vary` values */
    LESSON_CASES       /* a row of named `case` variants */
} LessonKind;

/* A loaded lesson with its source text and the jobs it needs. */
typedef struct {
    GsLesson L;
    char *text;
    size_t job0, n_jobs; /* slice of the global job list */
    LessonKind kind;
    int ok; /* expectations held */
    char verdict[2][300];
    char case_verdict[GS_LESSON_MAX_CASES][300]; /* distribution lessons: each case's */
    char note[600];   /* clipping statistics etc. */
    char margin[700]; /* by how much each claim held */
} Lesson;

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long len = ftell(f);
    rewind(f);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[len] = '\0';
    fclose(f);
    return buf;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads the lessons (embedded, or the .ini files of --scenarios). 0 or an exit code. */
static int load_lessons(const DemoOpts *o, Lesson **out, size_t *n_out)
{
    char **names = NULL, **texts = NULL;
    size_t n = 0;
    int rc = 0;
    if (o->scen_dir) {
        DIR *d = opendir(o->scen_dir);
        if (!d)
            return cli_fail("demo", "--scenarios '%s': %s", o->scen_dir, strerror(errno));
        struct dirent *e;
        size_t cap = 0;
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".ini"))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                char **nn = realloc(names, cap * sizeof *nn);
                if (!nn)
                    break;
                names = nn;
            }
            names[n] = strdup(e->d_name);
            if (names[n])
                n++;
        }
        closedir(d);
        if (n == 0) {
            free(names);
            return cli_fail("demo", "--scenarios '%s': no *.ini lesson files", o->scen_dir);
        }
        qsort(names, n, sizeof *names, cmp_name);
        texts = calloc(n, sizeof *texts);
        for (size_t i = 0; texts && i < n && !rc; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", o->scen_dir, names[i]);
            texts[i] = read_text(path);
            if (!texts[i])
                rc = cli_fail("demo", "%s: %s", path, strerror(errno));
            names[i][strlen(names[i]) - 4] = '\0';
        }
        if (!texts)
            rc = cli_fail("demo", "out of memory");
    } else {
        n = cli_n_scenarios;
        names = calloc(n, sizeof *names);
        texts = calloc(n, sizeof *texts);
        for (size_t i = 0; names && texts && i < n; i++) {
            names[i] = strdup(cli_scenario_names[i]);
            texts[i] = strdup(cli_scenario_texts[i]);
        }
    }
    Lesson *ls = rc ? NULL : calloc(n, sizeof *ls);
    if (!rc && !ls)
        rc = cli_fail("demo", "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        GsError err = {{0}};
        if (!names[i] || !texts[i])
            rc = cli_fail("demo", "out of memory");
        else if (gs_lesson_parse(texts[i], names[i], &ls[i].L, &err) != GS_OK)
            rc = cli_fail("demo", "%s", err.msg);
        else {
            ls[i].text = texts[i];
            texts[i] = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (names)
            free(names[i]);
        if (texts)
            free(texts[i]);
    }
    free(names);
    free(texts);
    if (rc) {
        for (size_t i = 0; ls && i < n; i++)
            free(ls[i].text);
        free(ls);
        return rc;
    }
    *out = ls;
    *n_out = n;
    return 0;
}

/* A lesson matches "02-vanishing", "02", "2" or "vanishing". */
static int lesson_matches(const char *name, const char *q)
{
    if (!strcmp(name, q))
        return 1;
    char *end;
    long num = strtol(q, &end, 10);
    if (end != q && !*end)
        return strtol(name, NULL, 10) == num;
    const char *dash = strchr(name, '-');
    return dash && !strcmp(dash + 1, q);
}

/* "!kind" must be absent, "kind" present (warning or error), "none": no warnings at all. */
static int check_expect(const char *expect, const GsFindings *fs, char *why, size_t n)
{
    if (!expect[0])
        return 1;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", expect);
    int ok = 1;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        int neg = tok[0] == '!';
        const char *k = tok + neg;
        int warn = 0, has = 0;
        for (size_t i = 0; i < fs->n; i++) {
            if (fs->items[i].severity < GS_SEV_WARNING)
                continue;
            warn = 1;
            if (!strcmp(gs_finding_kind_name(fs->items[i].kind), k))
                has = 1;
        }
        int good = !strcmp(k, "none") ? !warn : neg ? !has : has;
        if (!good) {
            snprintf(why, n, "expected %s%s", tok, !strcmp(k, "none") ? " (no warnings)" : "");
            ok = 0;
        }
    }
    return ok;
}

static double evid(const GsFinding *f, const char *key)
{
    for (size_t i = 0; i < f->n_evidence; i++)
        if (!strcmp(f->evidence[i].key, key))
            return f->evidence[i].value;
    return (double)NAN;
}

static const GsFinding *find_kind(const GsFindings *fs, const char *kind)
{
    for (size_t i = 0; i < fs->n; i++)
        if (!strcmp(gs_finding_kind_name(fs->items[i].kind), kind))
            return &fs->items[i];
    return NULL;
}

static void append(char *buf, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void append(char *buf, size_t n, const char *fmt, ...)
{
    size_t w = strlen(buf);
    if (w + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + w, n - w, fmt, ap);
    va_end(ap);
}

/* The deciding number of a present finding against its threshold ("vanishing: ratio 7e-13,
 * threshold 0.001, 9.2 decades beyond"), so a claim near its edge shows before it fails on
 * another machine. */
static void margin_present(char *buf, size_t n, const GsFinding *f, const GsTrace *t)
{
    const char *k = gs_finding_kind_name(f->kind);
    double thr = evid(f, "threshold");
    double r = evid(f, "ratio_first_last");
    long last = gs_trace_step(t, gs_trace_n_steps(t) - 1);
    switch (f->kind) {
    case GS_FIND_VANISHING:
    case GS_FIND_EXPLODING:
        if (isfinite(r) && r > 0)
            append(buf, n, "%s: ratio %.2g, threshold %g, %.1f decades beyond; ", k, r, thr,
                   fabs(log10(r / thr)));
        else if (r == 0.0)
            append(buf, n, "%s: ratio underflowed to 0; ", k);
        else if (isfinite(evid(f, "growth_over_run")))
            append(buf, n, "%s: grew %.2g-fold, threshold %g; ", k, evid(f, "growth_over_run"),
                   thr);
        else
            append(buf, n, "%s: Inf/NaN at step %.0f; ", k, evid(f, "first_nonfinite_step"));
        break;
    case GS_FIND_VANISHING_TIME:
    case GS_FIND_EXPLODING_TIME:
        r = evid(f, "ratio_h1_hT");
        if (isfinite(r) && r > 0)
            append(buf, n, "%s: dL/dh_1 / dL/dh_T %.2g, threshold %g, %.1f decades beyond; ", k, r,
                   thr, fabs(log10(r / thr)));
        else
            append(buf, n, "%s: present; ", k);
        break;
    case GS_FIND_NONFINITE:
    case GS_FIND_LOSS_DIVERGING:
        append(buf, n, "%s: from step %ld of %ld; ", k, f->step_first, last);
        break;
    case GS_FIND_DEAD_UNITS:
        append(buf, n, "%s: %.0f%% dead, threshold %.0f%%; ", k, 100 * evid(f, "max_dead_frac"),
               100 * thr);
        break;
    case GS_FIND_SATURATION:
        append(buf, n, "%s: %.0f%% saturated, threshold %.0f%%; ", k,
               100 * evid(f, "max_saturation"), 100 * thr);
        break;
    case GS_FIND_INPUTS_UNSCALED:
        append(buf, n, "%s: feature std %.3g, threshold %g; ", k, evid(f, "input_std_max"), thr);
        break;
    case GS_FIND_NOT_LEARNING:
        append(buf, n, "%s: best loss %.3g, baseline %.3g; ", k, evid(f, "best_loss"),
               evid(f, "baseline_loss"));
        break;
    default: append(buf, n, "%s: present; ", k);
    }
}

/* Why an absent kind is absent, for the profile kinds: the run's step-0 and median ratios
 * against the thresholds. */
/* Sorts v[0..m) ascending (insertion sort: recorded steps are few). */
static void sort_small(double *v, size_t m)
{
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
}

/* The through-time margin of an absent vanishing_time/exploding_time: ||dL/dh_1|| / ||dL/dh_T||
 * of the first series at step 0 and its median over the run. */
static void margin_absent_time(char *buf, size_t n, const char *kind, const GsTrace *t)
{
    size_t S = gs_trace_n_steps(t), m = 0;
    double *r = malloc((S ? S : 1) * sizeof *r), r0 = NAN;
    if (!r || gs_trace_n_series(t) == 0) {
        append(buf, n, "no %s; ", kind);
        free(r);
        return;
    }
    for (size_t i = 0; i < S; i++) {
        size_t T = gs_trace_series_len(t, i, 0);
        double v = T ? gs_trace_series_get(t, i, 0, GS_TCOL_H_GRAD_NORM, 1) /
                           gs_trace_series_get(t, i, 0, GS_TCOL_H_GRAD_NORM, T)
                     : (double)NAN;
        if (i == 0)
            r0 = v;
        if (isfinite(v) && v > 0)
            r[m++] = v;
    }
    sort_small(r, m);
    if (m)
        append(buf, n, "no %s: dL/dh_1 / dL/dh_T %.2g at step 0, median %.2g; ", kind, r0,
               r[m / 2]);
    else
        append(buf, n, "no %s; ", kind);
    free(r);
}

static void margin_absent(char *buf, size_t n, const char *kind, const GsTrace *t)
{
    size_t L = gs_trace_n_layers(t), S = gs_trace_n_steps(t);
    if (!strcmp(kind, "vanishing_time") || !strcmp(kind, "exploding_time")) {
        margin_absent_time(buf, n, kind, t);
        return;
    }
    if (strcmp(kind, "vanishing") && strcmp(kind, "exploding")) {
        append(buf, n, "no %s; ", kind);
        return;
    }
    if (L < 3) {
        append(buf, n, "no %s; ", kind);
        return;
    }
    /* as the rules judge it: dL/dz where it compares (not before a normalization layer,
     * whose input scale is arbitrary), at step 0 and the median over the run */
    const char *norm = gs_trace_meta_get(t, "norm");
    int normalized = norm && (!strcmp(norm, "batch") || !strcmp(norm, "layer"));
    GsCol col = gs_trace_has(t, GS_COL_ACT_GRAD_NORM) && !normalized ? GS_COL_ACT_GRAD_NORM
                                                                     : GS_COL_GRAD_NORM;
    double *r = malloc(S * sizeof *r);
    if (!r)
        return;
    size_t m = 0;
    for (size_t i = 0; i < S; i++) {
        double v = gs_trace_get(t, i, 0, col) / gs_trace_get(t, i, L - 2, col);
        if (isfinite(v) && v > 0)
            r[m++] = v;
    }
    double r0 = gs_trace_get(t, 0, 0, col) / gs_trace_get(t, 0, L - 2, col);
    sort_small(r, m);
    if (m)
        append(buf, n,
               "no %s: layer-1/last %s ratio %.2g at step 0, median %.2g (thresholds "
               "1e-3, 70); ",
               kind, col == GS_COL_ACT_GRAD_NORM ? "dL/dz" : "dL/dW", r0, r[m / 2]);
    else
        append(buf, n, "no %s; ", kind);
    free(r);
}

/* Margins of a run's expectations into buf (appending "who: ..."). */
static void margins(char *buf, size_t n, const char *who, const char *expect, const GsFindings *fs,
                    const GsTrace *t)
{
    if (!expect[0] || !t)
        return;
    append(buf, n, "%s: ", who);
    char e[128];
    snprintf(e, sizeof e, "%s", expect);
    for (char *save = NULL, *tok = strtok_r(e, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        int neg = tok[0] == '!';
        const char *k = tok + neg;
        if (!strcmp(k, "none")) {
            margin_absent(buf, n, "vanishing", t);
            margin_absent(buf, n, "exploding", t);
            continue;
        }
        const GsFinding *f = find_kind(fs, k);
        if (!neg && f)
            margin_present(buf, n, f, t);
        else if (neg && f && f->severity < GS_SEV_WARNING)
            append(buf, n, "%s: info only, not a warning (e.g. clipping acted); ", k);
        else if (neg && !f)
            margin_absent(buf, n, k, t);
    }
}

/* The root cause the lesson names must be the diagnosis' primary finding. */
static int check_primary(const char *want, const GsFindings *fs, char *why, size_t n)
{
    if (!want[0])
        return 1;
    if (fs->n && fs->items[0].primary && !strcmp(gs_finding_kind_name(fs->items[0].kind), want))
        return 1;
    snprintf(why, n, "expected the primary finding %s, got %s", want,
             fs->n ? gs_finding_kind_name(fs->items[0].kind) : "none");
    return 0;
}

/* Clipping lessons: how often and how hard clipping acted (pre- vs post-clip global norm). */
/* How often clipping acted in t and the largest global norm before and after it; 0 when t
 * does not clip. */
static int clip_stats(const GsTrace *t, size_t *clipped, size_t *ns, double *pre_max,
                      double *post_max)
{
    const char *cn = gs_trace_meta_get(t, "clip-norm"), *cv = gs_trace_meta_get(t, "clip-value");
    int clipping = (cn && strtod(cn, NULL) > 0) || (cv && strtod(cv, NULL) > 0);
    if (!clipping || !gs_trace_has(t, GS_COL_GLOBAL_NORM) || !gs_trace_has(t, GS_COL_CLIPPED))
        return 0;
    *ns = gs_trace_n_steps(t);
    *clipped = 0;
    *pre_max = *post_max = 0;
    for (size_t i = 0; i < *ns; i++) {
        double pre = gs_trace_get(t, i, 0, GS_COL_GLOBAL_NORM);
        double post = gs_trace_get(t, i, 0, GS_COL_GLOBAL_NORM_POST);
        *clipped += gs_trace_get(t, i, 0, GS_COL_CLIPPED) > 0.5;
        if (isfinite(pre))
            *pre_max = fmax(*pre_max, pre);
        if (isfinite(post))
            *post_max = fmax(*post_max, post);
    }
    return 1;
}

/* The line under a lesson's title on clipping: of the run that clips, or of both (naming
 * which is which) when both do. */
static void clip_note(const GsTrace *before, const GsTrace *after, char *buf, size_t n)
{
    size_t c0 = 0, n0 = 0, c1 = 0, n1 = 0;
    double pre0 = 0, post0 = 0, pre1 = 0, post1 = 0;
    int b = before && clip_stats(before, &c0, &n0, &pre0, &post0);
    int a = after && clip_stats(after, &c1, &n1, &pre1, &post1);
    if (a && b)
        snprintf(buf, n,
                 "clipping acted on %zu of %zu recorded steps before (global gradient norm up to "
                 "%.3g) and on %zu of %zu after (up to %.3g); at most %.3g after clipping",
                 c0, n0, pre0, c1, n1, pre1, fmax(post0, post1));
    else if (a || b)
        snprintf(buf, n,
                 "clipping acted on %zu of %zu recorded steps: global gradient norm up to %.3g "
                 "before clipping, at most %.3g after",
                 a ? c1 : c0, a ? n1 : n0, a ? pre1 : pre0, a ? post1 : post0);
}

static void html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Caption line "What you see: ..." with its lead-in bold. */
static void html_caption(FILE *f, const char *line)
{
    const char *colon = strchr(line, ':');
    fputs("<p>", f);
    if (colon && colon - line < 40) {
        fputs("<b>", f);
        char lead[64];
        snprintf(lead, sizeof lead, "%.*s", (int)(colon - line + 1), line);
        html_escape(f, lead);
        fputs("</b>", f);
        html_escape(f, colon + 1);
    } else {
        html_escape(f, line);
    }
    fputs("</p>\n", f);
}

static int write_index(const char *dir, const Lesson *ls, const int *sel, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    GsAtomicFile af;
    if (gs_atomic_open(&af, path, NULL) != GS_OK)
        return -1;
    FILE *f = af.fp;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>gradscope: the gradient-pathology gallery</title>\n<style>\n"
          "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1200px;"
          "margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\n"
          "h1{margin-bottom:.2em} .lead{color:#555}\n"
          "section{border-top:1px solid #ccc;padding:1.2em 0}\n"
          "img{max-width:100%;border:1px solid #ddd}\n"
          "nav ul{list-style:none;padding-left:1em} nav li{margin:.15em 0}\n"
          ".verdict{font-family:monospace;color:#444}\n"
          ".bad{color:#b00} details pre{background:#f6f6f6;padding:.6em;overflow:auto}\n"
          "</style></head><body>\n"
          "<h1>Vanishing and exploding gradients, caused and cured</h1>\n"
          "<p class=\"lead\">Each lesson trains a small network with gradscope, records the "
          "gradient of every layer at every step, and shows it as a heatmap: layers from the "
          "input (layer 1, bottom) to the output (top), training steps from left to right, "
          "colour = gradient size on a log scale (dark = tiny, yellow = large; magenta = NaN). "
          "Then the same network is trained again with one thing changed. The recurrent "
          "lessons (12 to 14) add a heatmap through time: time steps t of the sequence from "
          "the first (t = 1, bottom) to the last (t = T, top), colour = how much of the "
          "gradient at the last step reaches step t (white = all of it, blue = less, orange = "
          "more). Lesson 15 looks beneath the norms: each layer's histogram of activations "
          "and of gradient entries, which shows the shape a norm hides (a pile-up at the ends of "
          "tanh, a spike at exactly 0).</p>\n<nav><ul>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        if (!sel[i])
            continue;
        fprintf(f, "<li><a href=\"#%s\">", ls[i].L.name);
        html_escape(f, ls[i].L.title);
        fputs("</a></li>\n", f);
    }
    fputs("</ul></nav>\n", f);
    for (size_t i = 0; i < n; i++) {
        if (!sel[i])
            continue;
        const Lesson *l = &ls[i];
        /* the figure carries the title; the heading is the lesson's number only */
        fprintf(f, "<section id=\"%s\">\n<h2>Lesson %ld</h2>", l->L.name,
                strtol(l->L.name, NULL, 10));
        fprintf(f, "\n<p><a href=\"%s.png\"><img src=\"%s.png\" alt=\"", l->L.name, l->L.name);
        html_escape(f, l->L.title);
        fputs("\"></a></p>\n", f);
        for (size_t c = 0; c < l->L.n_caption; c++)
            html_caption(f, l->L.caption[c]);
        if (l->note[0]) {
            fputs("<p class=\"verdict\">", f);
            html_escape(f, l->note);
            fputs("</p>\n", f);
        }
        fputs("<p class=\"verdict\">gradscope's diagnosis: ", f);
        if (l->L.dist_figure) {
            for (size_t c = 0; c < l->L.n_cases; c++) {
                fputs(c ? "; " : "", f);
                html_escape(f, l->L.case_label[c]);
                fputs(": ", f);
                html_escape(f, l->case_verdict[c]);
            }
        } else if (l->kind == LESSON_SINGLE) {
            html_escape(f, l->verdict[0]);
        } else {
            fputs(l->kind == LESSON_CURE ? "before: " : "first cell: ", f);
            html_escape(f, l->verdict[0]);
            fputs(l->kind == LESSON_CURE ? "; after: " : "; last cell: ", f);
            html_escape(f, l->verdict[1]);
        }
        fputs("</p>\n", f);
        if (!l->ok)
            fputs("<p class=\"bad\">Note: this run did not show what the caption claims "
                  "(see the demo's output).</p>\n",
                  f);
        fputs("<details><summary>scenario file (edit and run with <code>gradscope demo "
              "--scenarios DIR</code>)</summary><pre>",
              f);
        html_escape(f, l->text);
        fputs("</pre></details>\n</section>\n", f);
    }
    fputs("<p class=\"lead\">Generated by <code>gradscope demo</code>.</p>\n</body></html>\n", f);
    return gs_atomic_commit(&af, NULL) == GS_OK ? 0 : -1;
}

/* Removes the scratch trace directory tree (two levels: lesson dirs of files). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            remove(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Adds the jobs of lesson l (its spec, quick options applied) to jobs[*n]. */
static int plan(Lesson *l, const char *tmp, int quick, int seed_set, uint64_t seed, CliJob *jobs,
                size_t *n)
{
    GsError err = {{0}};
    GsSpec base = l->L.spec;
    char dir[3000];
    snprintf(dir, sizeof dir, "%.2000s/%s", tmp, l->L.name);
    if (gs_mkdir_p(dir) != 0)
        return cli_fail("demo", "%s: %s", dir, strerror(errno));
    /* quick options shrink the run but must not undo the lesson's point */
    l->job0 = *n;
    if (l->L.sweep.n_axes) {
        l->kind = LESSON_VARY;
        for (size_t i = 0; i < gs_sweep_size(&l->L.sweep); i++) {
            CliJob *j = &jobs[(*n)++];
            char name[256];
            gs_sweep_run_name(&l->L.sweep, i, name, sizeof name);
            if (gs_sweep_apply(&l->L.sweep, i, &base, &j->spec, &err) != GS_OK ||
                (quick && l->L.quick[0] && gs_spec_apply_args(&j->spec, l->L.quick, &err)))
                return cli_fail("demo", "%s: %s", l->L.name, err.msg);
            snprintf(j->path, sizeof j->path, "%s/%s.csv", dir, name);
            snprintf(j->label, sizeof j->label, "%.60s %.180s", l->L.name, name);
        }
    } else if (l->L.n_cases) {
        l->kind = LESSON_CASES;
        for (size_t i = 0; i < l->L.n_cases; i++) {
            CliJob *j = &jobs[(*n)++];
            j->spec = base;
            if (gs_spec_apply_args(&j->spec, l->L.case_opts[i], &err) != GS_OK ||
                (quick && l->L.quick[0] && gs_spec_apply_args(&j->spec, l->L.quick, &err)))
                return cli_fail("demo", "%s: %s", l->L.name, err.msg);
            snprintf(j->path, sizeof j->path, "%s/case%zu.csv", dir, i + 1);
            snprintf(j->label, sizeof j->label, "%s %s", l->L.name, l->L.case_label[i]);
        }
    } else {
        l->kind = l->L.cure[0] ? LESSON_CURE : LESSON_SINGLE;
        CliJob *j = &jobs[(*n)++];
        j->spec = base;
        if (quick && l->L.quick[0] && gs_spec_apply_args(&j->spec, l->L.quick, &err))
            return cli_fail("demo", "%s: %s", l->L.name, err.msg);
        snprintf(j->path, sizeof j->path, "%s/before.csv", dir);
        snprintf(j->label, sizeof j->label, "%s", l->L.name);
        if (l->kind == LESSON_CURE) {
            CliJob *c = &jobs[(*n)++];
            c->spec = base;
            if (gs_spec_apply_args(&c->spec, l->L.cure, &err) != GS_OK ||
                (quick && l->L.quick[0] && gs_spec_apply_args(&c->spec, l->L.quick, &err)))
                return cli_fail("demo", "%s: cure: %s", l->L.name, err.msg);
            snprintf(c->path, sizeof c->path, "%s/after.csv", dir);
            snprintf(c->label, sizeof c->label, "%s (cured)", l->L.name);
        }
    }
    l->n_jobs = *n - l->job0;
    for (size_t i = l->job0; seed_set && i < *n; i++)
        jobs[i].spec.seed = seed;
    for (size_t i = l->job0; i < *n; i++)
        if (gs_spec_validate(&jobs[i].spec, 0, 0, &err) != GS_OK)
            return cli_fail("demo", "%s: %s", jobs[i].label, err.msg);
    return 0;
}

static size_t lesson_job_count(const Lesson *l)
{
    if (l->L.sweep.n_axes)
        return gs_sweep_size(&l->L.sweep);
    if (l->L.n_cases)
        return l->L.n_cases;
    return l->L.cure[0] ? 2 : 1;
}

/* Renders a report lesson (single or cure) and checks its expectations. 0 or an exit code. */
static int render_report(Lesson *l, const CliJob *jobs, const char *png, const DemoOpts *o)
{
    GsTrace *before = NULL, *after = NULL;
    GsFindings fb = {0}, fa = {0};
    GsPrediction pred = {0};
    GsThresholds th;
    gs_thresholds_default(&th);
    GsError err = {{0}};
    int rc = cli_batch_load("demo", jobs[l->job0].path, &before);
    if (!rc && l->kind == LESSON_CURE)
        rc = cli_batch_load("demo", jobs[l->job0 + 1].path, &after);
    if (!rc && (gs_diagnose(before, &th, &fb, &err) != GS_OK ||
                (after && gs_diagnose(after, &th, &fa, &err) != GS_OK)))
        rc = cli_fail("demo", "%s: %s", l->L.name, err.msg);
    if (!rc) {
        int have_pred = cli_predict_from_meta(before, &pred);
        gs_plot_verdict(&fb, before, l->verdict[0], sizeof l->verdict[0]);
        if (after)
            gs_plot_verdict(&fa, after, l->verdict[1], sizeof l->verdict[1]);
        char why[200] = "", why2[200] = "";
        l->ok = check_expect(l->L.expect, &fb, why, sizeof why) &&
                check_primary(l->L.primary, &fb, why, sizeof why);
        if (after && !check_expect(l->L.expect_cured, &fa, why2, sizeof why2))
            l->ok = 0;
        /* claims that need the whole run (learning) are checked at full length only */
        if (after && !o->quick && l->L.expect_cured_full[0] &&
            !check_expect(l->L.expect_cured_full, &fa, why2, sizeof why2))
            l->ok = 0;
        margins(l->margin, sizeof l->margin, "before", l->L.expect, &fb, before);
        if (after)
            margins(l->margin, sizeof l->margin, "after", l->L.expect_cured, &fa, after);
        if (!l->ok)
            fprintf(stderr, "gradscope demo: lesson %s does not show its point: %s%s%s\n",
                    l->L.name, why,
                    why[0] && why2[0] ? "; cured run "
                    : why2[0]         ? "cured run "
                                      : "",
                    why2);
        clip_note(before, after, l->note, sizeof l->note);
        GsReportOptions ro;
        gs_report_options_default(&ro);
        ro.width = o->width;
        ro.height = o->height;
        ro.trace = before;
        ro.metric = (GsCol)l->L.metric;
        ro.findings = &fb;
        ro.prediction = have_pred ? &pred : NULL;
        ro.title = l->L.title;
        /* the captions are the page's (index.html), not the figure's: nothing twice */
        ro.subtitle = l->note[0] ? l->note : NULL;
        char after_label[300];
        if (after) {
            snprintf(after_label, sizeof after_label, "after (%s)",
                     l->L.cure_label[0] ? l->L.cure_label : l->L.cure);
            ro.after = after;
            ro.after_findings = &fa;
            ro.before_label = "before";
            ro.after_label = after_label;
            ro.before_verdict = l->verdict[0];
            ro.after_verdict = l->verdict[1];
        }
        if (gs_plot_report(&ro, png, &err) != GS_OK)
            rc = cli_fail("demo", "%s", err.msg);
    }
    gs_findings_fini(&fb);
    gs_findings_fini(&fa);
    gs_prediction_fini(&pred);
    gs_trace_destroy(before);
    gs_trace_destroy(after);
    return rc;
}

/* The histograms' own reading of a hidden layer stack at recorded step i: the largest share of
 * outputs in the outer linear bins (tanh-like range A = 1 only) and of outputs exactly 0, over
 * the hidden layers (not the output layer); NaN when not recorded. */
static void hist_reading(const GsTrace *t, size_t i, double *pile, double *zero)
{
    *pile = *zero = NAN;
    double A = gs_trace_hist_act_range(t);
    for (size_t li = 0; li + 1 < gs_trace_n_layers(t); li++) {
        double sat, sd, z;
        gs_dist_act_stats(gs_trace_hist(t, i, li, GS_HIST_ACT), A, &sat, &sd, &z);
        if (isfinite(z) && !(z <= *zero))
            *zero = z;
        if (A == 1.0 && isfinite(sat) && !(sat <= *pile))
            *pile = sat;
    }
}

/* Renders a distribution lesson (figure = distributions): the cases' histograms side by side.
 * Each case's expect_case must hold twice: on the full trace, and on the trace without its
 * saturation and dead_frac columns, where the rules read the histograms alone - so the
 * distributions the figure shows are what says it. 0 or an exit code. */
static int render_dist(Lesson *l, const CliJob *jobs, const char *png, const DemoOpts *o)
{
    size_t n = l->L.n_cases;
    GsTrace *tr[GS_LESSON_MAX_CASES] = {0};
    GsThresholds th;
    gs_thresholds_default(&th);
    GsError err = {{0}};
    int rc = 0;
    l->ok = 1;
    for (size_t c = 0; c < n && !rc; c++)
        rc = cli_batch_load("demo", jobs[l->job0 + c].path, &tr[c]);
    for (size_t c = 0; c < n && !rc; c++) {
        GsFindings fs = {0}, fh = {0};
        if (gs_diagnose(tr[c], &th, &fs, &err) != GS_OK) {
            rc = cli_fail("demo", "%s: %s", l->L.name, err.msg);
            break;
        }
        gs_plot_verdict(&fs, tr[c], l->case_verdict[c], sizeof l->case_verdict[c]);
        const char *want = l->L.n_case_expect ? l->L.case_expect[c] : "";
        char why[200] = "", who[96];
        int ok = check_expect(want, &fs, why, sizeof why);
        snprintf(who, sizeof who, "%s", l->L.case_label[c]);
        margins(l->margin, sizeof l->margin, who, want, &fs, tr[c]);
        double pile, zero;
        hist_reading(tr[c], 0, &pile, &zero);
        if (isfinite(pile))
            append(l->margin, sizeof l->margin, "step-0 pile-up at +-1 up to %.0f%%; ",
                   100.0 * pile);
        if (isfinite(zero) && zero > 0)
            append(l->margin, sizeof l->margin, "step-0 exact zeros up to %.0f%%; ",
                   100.0 * zero);
        /* the histograms alone */
        gs_trace_set_has(tr[c], GS_COL_SATURATION, 0);
        gs_trace_set_has(tr[c], GS_COL_DEAD_FRAC, 0);
        char why2[200] = "";
        if (gs_diagnose(tr[c], &th, &fh, &err) != GS_OK) {
            rc = cli_fail("demo", "%s: %s", l->L.name, err.msg);
        } else if (!check_expect(want, &fh, why2, sizeof why2)) {
            ok = 0;
            snprintf(why + strlen(why), sizeof why - strlen(why), "%sfrom the histograms alone: %s",
                     why[0] ? "; " : "", why2);
        }
        if (!ok) {
            l->ok = 0;
            fprintf(stderr, "gradscope demo: lesson %s does not show its point: case %s: %s\n",
                    l->L.name, l->L.case_label[c], why);
        }
        gs_findings_fini(&fs);
        gs_findings_fini(&fh);
    }
    if (!rc) {
        GsDistOptions d;
        gs_dist_options_default(&d);
        d.figure = GS_DIST_CASES;
        d.n_cases = n;
        for (size_t c = 0; c < n; c++) {
            d.cases[c] = tr[c];
            d.case_labels[c] = l->L.case_label[c];
        }
        d.title = l->L.title;
        d.subtitle = "One curve per layer, at step 0 (initialization). Left: activations h on a "
                     "linear axis over the activation's range (sat = share with |h| > 31/32 of "
                     "it; zeros = share exactly 0; the output layer's logits beyond the range are "
                     "clamped to its ends). Right: gradient entries on one log axis for every "
                     "row.";
        d.width = o->width;
        /* rows of at most 9 legend entries need about 450 px each */
        d.height = (int)fmax((double)o->height, 200.0 + 460.0 * (double)n);
        if (gs_plot_distributions(&d, png, &err) != GS_OK)
            rc = cli_fail("demo", "%s", err.msg);
    }
    for (size_t c = 0; c < n; c++)
        gs_trace_destroy(tr[c]);
    return rc;
}

/* Renders a grid lesson (vary or cases): expectations on the first and the last cell. */
static int render_grid(Lesson *l, const CliJob *jobs, const char *png)
{
    CliRunSet rs;
    int rc;
    if (l->kind == LESSON_VARY) {
        rc = cli_runset_from_sweep("demo", &l->L.sweep, jobs + l->job0, l->n_jobs, &rs);
    } else {
        const char *labels[GS_LESSON_MAX_CASES];
        for (size_t i = 0; i < l->L.n_cases; i++)
            labels[i] = l->L.case_label[i];
        rc = cli_runset_from_cases("demo", "setup", labels, jobs + l->job0, l->n_jobs, &rs);
    }
    if (rc)
        return rc;
    GsFindings *fs = calloc(rs.n_runs, sizeof *fs);
    if (!fs) {
        cli_runset_fini(&rs);
        return cli_fail("demo", "out of memory");
    }
    rs.metric = l->L.metric;
    rc = cli_runset_render("demo", &rs, NULL, png, l->L.title, 0, 0, l->kind == LESSON_VARY, fs);
    if (!rc) {
        char why[200] = "", why2[200] = "";
        l->ok = check_expect(l->L.expect, &fs[0], why, sizeof why) &
                check_primary(l->L.primary, &fs[0], why, sizeof why) &
                check_expect(l->L.expect_cured, &fs[rs.n_runs - 1], why2, sizeof why2);
        margins(l->margin, sizeof l->margin, "first cell", l->L.expect, &fs[0], rs.traces[0]);
        margins(l->margin, sizeof l->margin, "last cell", l->L.expect_cured, &fs[rs.n_runs - 1],
                rs.traces[rs.n_runs - 1]);
        gs_plot_verdict(&fs[0], rs.traces[0], l->verdict[0], sizeof l->verdict[0]);
        gs_plot_verdict(&fs[rs.n_runs - 1], rs.traces[rs.n_runs - 1], l->verdict[1],
                        sizeof l->verdict[1]);
        if (!l->ok)
            fprintf(stderr,
                    "gradscope demo: lesson %s does not show its point: first cell "
                    "%s; last cell %s\n",
                    l->L.name, why[0] ? why : "ok", why2[0] ? why2 : "ok");
        for (size_t i = 0; i < rs.n_runs; i++)
            gs_findings_fini(&fs[i]);
    }
    free(fs);
    cli_runset_fini(&rs);
    return rc;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cli_demo(int argc, char **argv)
{
    DemoOpts o = {.out_dir = "gradscope-demo",
                  .jobs = cli_batch_default_jobs(),
                  .width = 1600,
                  .height = 1000,
                  .seed = 1};
    int pos = 0;
    int rc = cli_parse("demo", "[options] [LESSON...]",
                       "The teaching gallery: each gradient pathology caused and cured, one "
                       "lesson per concept,\nrendered as PNG into --out DIR with an index.html "
                       "that shows them in order with captions.\nLESSON is a name or number "
                       "from --list (default: all).",
                       argc, argv, NULL, demo_opts, N_DEMO_OPTS, demo_opt, &o, &pos);
    if (rc)
        return rc < 0 ? 0 : rc;
    Lesson *ls = NULL;
    size_t n = 0;
    if ((rc = load_lessons(&o, &ls, &n)))
        return rc;
    int *sel = calloc(n, sizeof *sel);
    CliJob *jobs = NULL;
    char tmp[2048] = "";
    if (!sel) {
        rc = cli_fail("demo", "out of memory");
        goto done;
    }
    for (int a = pos; a < argc; a++) {
        int hit = 0;
        for (size_t i = 0; i < n; i++)
            if (lesson_matches(ls[i].L.name, argv[a]))
                hit = sel[i] = 1;
        if (!hit) {
            rc = cli_fail("demo", "no lesson '%s' (see --list)", argv[a]);
            goto done;
        }
    }
    if (pos >= argc)
        for (size_t i = 0; i < n; i++)
            sel[i] = 1;
    if (o.list) {
        for (size_t i = 0; i < n; i++)
            if (sel[i])
                printf("%-22s %s\n", ls[i].L.name, ls[i].L.title);
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (sel[i])
            total += lesson_job_count(&ls[i]);
    jobs = calloc(total ? total : 1, sizeof *jobs);
    if (!jobs) {
        rc = cli_fail("demo", "out of memory");
        goto done;
    }
    if (gs_mkdir_p(o.out_dir) != 0) {
        rc = cli_fail("demo", "--out '%s': %s", o.out_dir, strerror(errno));
        goto done;
    }
    const char *td = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/gradscope-demo-XXXXXX", td && td[0] ? td : "/tmp");
    if (!mkdtemp(tmp)) {
        rc = cli_fail("demo", "cannot create a scratch directory %s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    size_t nj = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (sel[i])
            rc = plan(&ls[i], tmp, o.quick, o.seed_set, o.seed, jobs, &nj);
    if (rc)
        goto done;
    double t0 = now_s();
    if ((rc = cli_batch_run("demo", jobs, nj, o.jobs, o.quiet)))
        goto done;
    double t_train = now_s() - t0;
    int all_ok = 1;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!sel[i])
            continue;
        Lesson *l = &ls[i];
        char png[4200];
        snprintf(png, sizeof png, "%s/%s.png", o.out_dir, l->L.name);
        int grid = l->kind == LESSON_VARY || l->kind == LESSON_CASES;
        rc = l->L.dist_figure ? render_dist(l, jobs, png, &o)
             : grid           ? render_grid(l, jobs, png)
                              : render_report(l, jobs, png, &o);
        all_ok &= l->ok;
        if (!rc && !o.quiet)
            printf("%-22s %s  [%s%s%s] -> %s\n", l->L.name, l->ok ? "ok  " : "MISS",
                   l->L.dist_figure ? l->case_verdict[0] : l->verdict[0],
                   l->kind != LESSON_SINGLE ? " | " : "",
                   l->L.dist_figure           ? l->case_verdict[l->L.n_cases - 1]
                   : l->kind != LESSON_SINGLE ? l->verdict[1]
                                              : "",
                   png);
        if (!rc && !o.quiet && l->margin[0])
            printf("    margin: %s\n", l->margin);
    }
    if (rc)
        goto done;
    if (write_index(o.out_dir, ls, sel, n) != 0) {
        rc = cli_fail("demo", "cannot write %s/index.html: %s", o.out_dir, strerror(errno));
        goto done;
    }
    if (!o.quiet)
        printf("gradscope demo: %zu runs trained in %.1f s, rendered in %.1f s -> %s/index.html\n",
               nj, t_train, now_s() - t0 - t_train, o.out_dir);
    rc = all_ok ? 0 : GS_EXIT_CHECK;
done:
    if (tmp[0])
        remove_tree(tmp);
    for (size_t i = 0; i < n; i++)
        free(ls[i].text);
    free(ls);
    free(sel);
    free(jobs);
    return rc;
}
