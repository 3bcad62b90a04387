/* Report page: PNG/SVG/PDF written and well-formed, size and scale honoured, minimal and
 * all-NaN traces render, bad extension and missing directory rejected without leftovers. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo.h>

#include "cli_util.h"
#include "gradscope/plot.h"
#include "plot/cmap.h"
#include "plot/draw.h"
#include "plot/panels.h"
#include "runner.h"

/* Under LeakSanitizer only: fontconfig (behind cairo's toy text API) keeps process-lifetime
 * caches it never frees; they are not ours to fix. Unused in ordinary builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\n";
}

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/gs_test_report_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

static int n_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* A small trace with every column; all_nan fills every value with NaN. */
static GsTrace *make_trace(int layers, int steps, uint64_t cols, int all_nan)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create((size_t)layers, cols, &t), GS_OK);
    for (int s = 0; s < steps; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s * 5, &row), GS_OK);
        for (int l = 0; l < layers; l++) {
            double *r = row + (size_t)l * GS_COL_COUNT;
            for (int c = GS_COL_LOSS; c < GS_COL_COUNT; c++)
                r[c] = all_nan ? (double)NAN : 0.5;
            if (!all_nan) {
                r[GS_COL_GRAD_NORM] = pow(10.0, l - layers) * (1 + 0.01 * s);
                r[GS_COL_ACT_GRAD_NORM] = pow(10.0, l - layers + 1);
                r[GS_COL_UPDATE_RATIO] = 1e-3 * (l + 1);
                r[GS_COL_LOSS] = 2.0 / (1 + s);
            }
        }
        gs_trace_commit_step(t);
    }
    for (int c = GS_COL_LOSS; c < GS_COL_COUNT; c++)
        if (cols & GS_COL_BIT(c))
            gs_trace_set_has(t, (GsCol)c, 1);
    gs_trace_meta_set(t, "depth", "5");
    gs_trace_meta_set(t, "act", "relu");
    return t;
}

static void check_png(const char *path, int w, int h)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    ck_assert_int_eq(cairo_image_surface_get_width(s), w);
    ck_assert_int_eq(cairo_image_surface_get_height(s), h);
    /* not blank: some pixel differs from the white background */
    cairo_surface_flush(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s), dark = 0;
    for (int y = 0; y < h && !dark; y += 3)
        for (int x = 0; x < w; x += 3) {
            unsigned px = ((const unsigned *)(const void *)(d + (size_t)stride * (size_t)y))[x];
            if ((px & 0xFFFFFF) != 0xFFFFFF) {
                dark = 1;
                break;
            }
        }
    ck_assert(dark);
    cairo_surface_destroy(s);
}

static void head_of(const char *path, char *buf, size_t n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    size_t got = fread(buf, 1, n - 1, fp);
    buf[got] = '\0';
    fclose(fp);
}

START_TEST(clipping_panel_trigger)
{
    /* The clipping panel appears when a recorded step was clipped, not merely recorded. */
    GsTrace *t = make_trace(3, 5, GS_COL_ALL, 0); /* clipped = 0.5 on every row */
    ck_assert_int_eq(gs_trace_clipping_acted(t), 1);
    GsTrace *u = make_trace(3, 5, GS_COL_ALL & ~GS_COL_BIT(GS_COL_CLIPPED), 0);
    ck_assert_int_eq(gs_trace_clipping_acted(u), 0);
    ck_assert_int_eq(gs_trace_clipping_acted(NULL), 0);
    gs_trace_destroy(t);
    gs_trace_destroy(u);
}
END_TEST

START_TEST(png_size_and_scale)
{
    GsTrace *t = make_trace(6, 40, GS_COL_ALL, 0);
    GsReportOptions o;
    gs_report_options_default(&o);
    o.trace = t;
    o.width = 900;
    o.height = 560;
    char p[512];
    GsError err;
    snprintf(p, sizeof p, "%s/r.png", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    check_png(p, 900, 560);
    o.scale = 2.0;
    snprintf(p, sizeof p, "%s/r2.PNG", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    check_png(p, 1800, 1120);
    ck_assert_int_eq(n_files(), 2); /* no temporary files left */
    gs_trace_destroy(t);
}
END_TEST

START_TEST(svg_and_pdf)
{
    GsTrace *t = make_trace(6, 40, GS_COL_ALL, 0);
    GsTrace *after = make_trace(6, 30, GS_COL_ALL, 0);
    GsFinding f = {.kind = GS_FIND_VANISHING,
                   .severity = GS_SEV_ERROR,
                   .layer_first = 1,
                   .layer_last = 3,
                   .step_first = 0,
                   .step_last = 100};
    snprintf(f.message, sizeof f.message, "vanishing toward the input");
    GsFindings fs = {.items = &f, .n = 1};
    GsReportOptions o;
    gs_report_options_default(&o);
    o.trace = t;
    o.after = after;
    o.findings = &fs;
    o.subtitle = "subtitle";
    char p[512], head[16];
    GsError err;
    snprintf(p, sizeof p, "%s/r.svg", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    head_of(p, head, sizeof head);
    ck_assert(strncmp(head, "<?xml", 5) == 0 || strncmp(head, "<svg", 4) == 0);
    snprintf(p, sizeof p, "%s/r.pdf", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    head_of(p, head, sizeof head);
    ck_assert(strncmp(head, "%PDF", 4) == 0);
    gs_trace_destroy(t);
    gs_trace_destroy(after);
}
END_TEST

START_TEST(minimal_and_nan_traces)
{
    uint64_t minimal = GS_COL_BIT(GS_COL_GRAD_NORM);
    GsTrace *t = make_trace(3, 7, minimal, 0);
    GsReportOptions o;
    gs_report_options_default(&o);
    o.trace = t;
    o.width = 800;
    o.height = 500;
    char p[512];
    GsError err;
    snprintf(p, sizeof p, "%s/min.png", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    check_png(p, 800, 500);
    o.relative = 1;
    o.findings = &(GsFindings){0};
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    gs_trace_destroy(t);

    t = make_trace(4, 9, GS_COL_ALL, 1);
    gs_report_options_default(&o);
    o.trace = t;
    snprintf(p, sizeof p, "%s/nan.png", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    check_png(p, 1600, 1000);
    o.relative = 1;
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    gs_trace_destroy(t);

    /* a single recorded step and a single layer */
    t = make_trace(1, 1, GS_COL_ALL, 0);
    gs_report_options_default(&o);
    o.trace = t;
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(errors)
{
    GsTrace *t = make_trace(3, 5, GS_COL_ALL, 0);
    GsReportOptions o;
    gs_report_options_default(&o);
    o.trace = t;
    char p[512];
    GsError err;
    snprintf(p, sizeof p, "%s/r.jpg", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, ".jpg"));
    snprintf(p, sizeof p, "%s/noext", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_ERR_INVALID);
    snprintf(p, sizeof p, "%s/missing/r.png", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    ck_assert_int_eq(n_files(), 0);
    o.width = 10;
    snprintf(p, sizeof p, "%s/r.png", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_ERR_INVALID);
    ck_assert_int_eq(n_files(), 0);
    gs_trace_destroy(t);

    GsTrace *empty = NULL;
    ck_assert_int_eq(gs_trace_create(3, GS_COL_ALL, &empty), GS_OK);
    gs_report_options_default(&o);
    o.trace = empty;
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_ERR_INVALID);
    gs_trace_destroy(empty);
}
END_TEST

START_TEST(parse_helpers)
{
    GsBinMode m = GS_BIN_MIN;
    GsError err;
    ck_assert_int_eq(gs_plot_parse_bin("max", &m, &err), GS_OK);
    ck_assert_int_eq(m, GS_BIN_MAX);
    ck_assert_int_eq(gs_plot_parse_bin("mean", &m, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "mean"));
    ck_assert_int_eq(m, GS_BIN_MAX);
    int w = 0, h = 0;
    ck_assert_int_eq(gs_plot_parse_size("1600x1000", &w, &h, &err), GS_OK);
    ck_assert_int_eq(w, 1600);
    ck_assert_int_eq(h, 1000);
    const char *bad[] = {"1600",    "x1000",         "1600x",       "16a0x1000", "100x1000",
                         "1600x-5", "99999999x1000", "1600x1000x3", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(gs_plot_parse_size(bad[i], &w, &h, &err), GS_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err.msg, bad[i]));
    }
    ck_assert_int_eq(w, 1600);
}
END_TEST

START_TEST(many_findings_fit)
{
    GsTrace *t = make_trace(5, 20, GS_COL_ALL, 0);
    static GsFinding f[40];
    for (int i = 0; i < 40; i++) {
        f[i] = (GsFinding){.kind = (GsFindingKind)(i % GS_FIND_COUNT),
                           .severity = (GsSeverity)(i % 3),
                           .layer_first = 1,
                           .layer_last = 2,
                           .step_first = 0,
                           .step_last = 50};
        snprintf(f[i].message, sizeof f[i].message,
                 "A long message number %d that must wrap over several lines of the findings "
                 "panel without ever spilling out of it, however small the page is.",
                 i);
        snprintf(f[i].options, sizeof f[i].options, "--init he_normal --norm layer");
    }
    GsFindings fs = {.items = f, .n = 40};
    GsReportOptions o;
    gs_report_options_default(&o);
    o.trace = t;
    o.findings = &fs;
    o.width = 800;
    o.height = 500;
    char p[512];
    GsError err;
    snprintf(p, sizeof p, "%s/many.png", dir);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_OK);
    check_png(p, 800, 500);
    o.metric = GS_COL_BIAS_GRAD_NORM; /* stored but not marked as holding data */
    gs_trace_set_has(t, GS_COL_BIAS_GRAD_NORM, 0);
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "bias_grad_norm"));
    gs_trace_destroy(t);
}
END_TEST

/* Pixels in rect r of a PNG within 0.08 per channel of colour c. */
static int count_colour(cairo_surface_t *s, GsRect r, double cr_, double cg, double cb)
{
    cairo_surface_flush(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s), n = 0;
    for (int y = (int)r.y; y < (int)(r.y + r.h); y++)
        for (int x = (int)r.x; x < (int)(r.x + r.w); x++) {
            unsigned px = ((const unsigned *)(const void *)(d + (size_t)stride * (size_t)y))[x];
            double rr = ((px >> 16) & 255) / 255.0, gg = ((px >> 8) & 255) / 255.0,
                   bb = (px & 255) / 255.0;
            n += fabs(rr - cr_) < 0.08 && fabs(gg - cg) < 0.08 && fabs(bb - cb) < 0.08;
        }
    return n;
}

/* A healthy "after" run: saturation and dead fraction 0.9 (the before run has 0.5). */
static GsTrace *make_after(int layers, int steps)
{
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_trace_create((size_t)layers, GS_COL_ALL, &t), GS_OK);
    for (int s = 0; s < steps; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s * 5, &row), GS_OK);
        for (int l = 0; l < layers; l++) {
            double *r = row + (size_t)l * GS_COL_COUNT;
            for (int c = GS_COL_LOSS; c < GS_COL_COUNT; c++)
                r[c] = 0.9;
            r[GS_COL_GRAD_NORM] = 0.1 * (1 + 0.01 * s);
            r[GS_COL_ACT_GRAD_NORM] = 0.2;
            r[GS_COL_UPDATE_RATIO] = 2e-3;
            r[GS_COL_LOSS] = 1.0 / (1 + s);
            r[GS_COL_CLIPPED] = 0;
        }
        gs_trace_commit_step(t);
    }
    for (int c = GS_COL_LOSS; c < GS_COL_COUNT; c++)
        gs_trace_set_has(t, (GsCol)c, 1);
    gs_trace_meta_set(t, "depth", "5");
    gs_trace_meta_set(t, "act", "tanh");
    return t;
}

START_TEST(before_and_after_in_lower_panels)
{
    GsTrace *t = make_trace(5, 40, GS_COL_ALL & ~GS_COL_BIT(GS_COL_CLIPPED), 0);
    GsTrace *u = make_after(5, 40);
    GsFinding f = {.kind = GS_FIND_VANISHING,
                   .severity = GS_SEV_ERROR,
                   .layer_first = 1,
                   .layer_last = 3,
                   .step_first = 0,
                   .step_last = 195,
                   .primary = 1,
                   .explained_by = -1};
    snprintf(f.message, sizeof f.message, "Gradients vanish toward the input.");
    GsFindings fs = {.items = &f, .n = 1}, none = {0};
    GsReportOptions o;
    gs_report_options_default(&o);
    o.trace = t;
    o.findings = &fs;
    char p[512];
    snprintf(p, sizeof p, "%s/cmp.png", dir);
    /* the after run's colour (Okabe-Ito vermilion) and its 0.9 fraction colour */
    const double ver[3] = {0.835, 0.369, 0.0};
    GsRgb sat9 = gs_cmap_div(0.9); /* the fraction map's colour at 0.9 */
    for (int pass = 0; pass < 2; pass++) {
        o.after = pass ? u : NULL;
        o.after_findings = pass ? &none : NULL;
        o.after_label = pass ? "after: --act tanh" : NULL;
        ck_assert_int_eq(gs_plot_report(&o, p, NULL), GS_OK);
        GsLayout L;
        gs_report_layout(&o, &L);
        cairo_surface_t *s = cairo_image_surface_create_from_png(p);
        ck_assert_int_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
        int prof = count_colour(s, L.r[GS_PANEL_PROFILE], ver[0], ver[1], ver[2]);
        int upd = count_colour(s, L.r[GS_PANEL_UPDATE], ver[0], ver[1], ver[2]);
        int fnd = count_colour(s, L.r[GS_PANEL_FINDINGS], ver[0], ver[1], ver[2]);
        GsRect hr = L.r[GS_PANEL_HEALTH];
        hr.h -= L.font * 2.0; /* not the 0..1 key, which holds every fraction colour */
        int hl = count_colour(s, hr, sat9.r, sat9.g, sat9.b);
        if (pass) {
            ck_assert_msg(prof > 200, "after run in the depth profile: %d px", prof);
            ck_assert_msg(upd > 200, "after run in the update panel: %d px", upd);
            ck_assert_msg(fnd > 20, "after run's label in the findings: %d px", fnd);
            ck_assert_msg(hl > 500, "after run's health heatmaps: %d px", hl);
        } else {
            ck_assert_int_lt(prof + upd + fnd, 20);
            ck_assert_int_lt(hl, 20);
        }
        cairo_surface_destroy(s);
    }
    gs_trace_destroy(t);
    gs_trace_destroy(u);
}
END_TEST

/* Findings as the diagnosis gives them: the cause first, the others explained by it. */
static GsFinding caused[3];
static GsFindings caused_list(void)
{
    const GsFindingKind k[3] = {GS_FIND_VANISHING, GS_FIND_UPDATE_TOO_SMALL, GS_FIND_LOSS_STALLED};
    for (int i = 0; i < 3; i++) {
        caused[i] = (GsFinding){.kind = k[i],
                                .severity = i ? GS_SEV_WARNING : GS_SEV_ERROR,
                                .layer_first = 1,
                                .layer_last = 4,
                                .step_first = 0,
                                .step_last = 195,
                                .primary = i == 0,
                                .explained_by = i ? 0 : -1};
        snprintf(caused[i].message, sizeof caused[i].message,
                 "Gradients vanish toward the input: layer 1's activation gradient is 5.5e-17 "
                 "of layer 20's at step 0 (threshold 0.001), a factor of 0.139 per layer.");
        snprintf(caused[i].suggestion, sizeof caused[i].suggestion,
                 "Use ReLU with He initialization.");
        snprintf(caused[i].options, sizeof caused[i].options, "--act relu --init he_normal");
    }
    return (GsFindings){.items = caused, .n = 3};
}

START_TEST(text_fits_at_every_size)
{
    static const int sizes[][2] = {{800, 500}, {1200, 800}, {1600, 1000}, {3000, 2000}};
    GsTrace *t = make_trace(6, 60, GS_COL_ALL, 0);
    GsTrace *u = make_after(6, 60);
    GsFindings fs = caused_list(), none = {0};
    char p[512];
    snprintf(p, sizeof p, "%s/fit.png", dir);
    static GsDrawLog log;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int cmp = 0; cmp < 2; cmp++) {
            GsReportOptions o;
            gs_report_options_default(&o);
            o.trace = t;
            o.findings = &fs;
            o.width = sizes[i][0];
            o.height = sizes[i][1];
            o.subtitle = "step-0 act_grad_norm ratio layer 1 / layer 20: predicted 7.26e-17 "
                         "(ordered), measured 5.49e-17";
            if (cmp) {
                o.after = u;
                o.after_findings = &none;
                o.after_label = "after: --act relu --init he_normal";
                o.before_verdict = "error: vanishing gradient (+2 that follow from it)";
                o.after_verdict = "healthy: no warnings";
            }
            gs_draw_log_begin(&log);
            GsStatus st = gs_plot_report(&o, p, NULL);
            gs_draw_log_end();
            ck_assert_int_eq(st, GS_OK);
            if (getenv("GS_DUMP_TEXT"))
                fprintf(stderr, "---- %dx%d %d\n%s", sizes[i][0], sizes[i][1], cmp, log.text);
            ck_assert_msg(log.elided == 0, "%dx%d%s: %u strings elided, first '%s'", sizes[i][0],
                          sizes[i][1], cmp ? " (comparison)" : "", log.elided, log.first_elided);
            ck_assert_msg(log.outside == 0, "%dx%d%s: %u strings outside their panel: %s",
                          sizes[i][0], sizes[i][1], cmp ? " (comparison)" : "", log.outside,
                          log.first_outside);
            /* plain words in the figure, the cause first and the rest linked to it */
            ck_assert_ptr_null(strstr(log.text, "update_too_small"));
            ck_assert_ptr_nonnull(strstr(log.text, "Cause: Vanishing gradient"));
            if (sizes[i][0] >= 1200) /* at 800x500 they may go to "+2 more" */
                ck_assert_ptr_nonnull(strstr(log.text, "(follows from"));
        }
    gs_trace_destroy(t);
    gs_trace_destroy(u);
}
END_TEST

START_TEST(profile_notes_dw_dz_disagreement)
{
    /* inputs far from unit scale: dW of layer 1 is 1000x larger, dz is flat */
    GsTrace *t = NULL;
    uint64_t cols = GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_ACT_GRAD_NORM);
    ck_assert_int_eq(gs_trace_create(4, cols, &t), GS_OK);
    for (int s = 0; s < 3; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s, &row), GS_OK);
        for (int l = 0; l < 4; l++) {
            row[l * GS_COL_COUNT + GS_COL_GRAD_NORM] = l == 0 ? 100.0 : 0.1;
            row[l * GS_COL_COUNT + GS_COL_ACT_GRAD_NORM] = 0.1;
        }
        gs_trace_commit_step(t);
    }
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    gs_trace_set_has(t, GS_COL_ACT_GRAD_NORM, 1);
    ck_assert(gs_profile_metrics_disagree(t));
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 700, 400);
    cairo_t *cr = cairo_create(s);
    static GsDrawLog log;
    gs_draw_log_begin(&log);
    gs_panel_profile(cr, (GsRect){0, 0, 700, 400}, 12, t, GS_COL_GRAD_NORM, NULL, NULL, NULL, NULL);
    gs_draw_log_end();
    ck_assert_ptr_nonnull(strstr(log.text, "act_grad_norm"));
    ck_assert_msg(strstr(log.text, "note: at step 0 layer 1 / out is 1e+03") != NULL, "%s",
                  log.text);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    gs_trace_destroy(t);
    /* agreeing metrics: no note */
    GsTrace *u = make_trace(4, 3, GS_COL_ALL, 0);
    ck_assert(!gs_profile_metrics_disagree(u));
    gs_trace_destroy(u);
}
END_TEST

START_TEST(verdict_plain_words)
{
    GsFindings fs = caused_list(), none = {0};
    char b[300];
    gs_plot_verdict(&fs, NULL, b, sizeof b);
    ck_assert_str_eq(b, "error: vanishing gradient (+2 that follow from it)");
    gs_plot_verdict(&none, NULL, b, sizeof b);
    ck_assert_str_eq(b, "healthy: no warnings");
    caused[2].explained_by = -1; /* an independent second finding is named */
    gs_plot_verdict(&fs, NULL, b, sizeof b);
    ck_assert_str_eq(b, "error: vanishing gradient, loss stalled (+1 that follows from it)");
}
END_TEST

START_TEST(paper_preset)
{
    GsTrace *t = make_trace(6, 60, GS_COL_ALL, 0);
    GsTrace *u = make_after(6, 60);
    GsFindings fs = caused_list(), none = {0};
    GsReportPreset pr = GS_PRESET_NONE;
    ck_assert_int_eq(gs_plot_parse_preset("paper", &pr, NULL), GS_OK);
    ck_assert_int_eq(pr, GS_PRESET_PAPER);
    GsError err;
    ck_assert_int_eq(gs_plot_parse_preset("poster", &pr, &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "poster"));
    static GsDrawLog log;
    for (int cmp = 0; cmp < 2; cmp++) {
        GsReportOptions o;
        gs_report_options_default(&o);
        o.trace = t;
        o.findings = &fs;
        o.preset = GS_PRESET_PAPER;
        o.before_verdict = "error: vanishing gradient (+2 that follow from it)";
        if (cmp) {
            o.after = u;
            o.after_findings = &none;
            o.after_label = "after: --act relu --init he_normal";
            o.after_verdict = "healthy: no warnings";
        }
        char p[512];
        snprintf(p, sizeof p, "%s/paper.png", dir);
        gs_draw_log_begin(&log);
        GsStatus st = gs_plot_report(&o, p, NULL);
        gs_draw_log_end();
        ck_assert_int_eq(st, GS_OK);
        /* 3.5 in at 300 dpi */
        cairo_surface_t *s = cairo_image_surface_create_from_png(p);
        ck_assert_int_eq(cairo_image_surface_get_width(s), 1050);
        cairo_surface_destroy(s);
        ck_assert_msg(log.min_size >= 7.0 - 1e-9, "text at %.2f pt: '%s'", log.min_size,
                      log.smallest);
        ck_assert_msg(log.elided == 0, "elided: '%s'", log.first_elided);
        ck_assert_msg(log.outside == 0, "outside: %s", log.first_outside);
        /* PDF in points: a 252 pt wide page */
        snprintf(p, sizeof p, "%s/paper.pdf", dir);
        ck_assert_int_eq(gs_plot_report(&o, p, NULL), GS_OK);
        FILE *fp = fopen(p, "rb");
        ck_assert_ptr_nonnull(fp);
        static char buf[1 << 16];
        size_t got = fread(buf, 1, sizeof buf - 1, fp);
        buf[got] = '\0';
        fclose(fp);
        int found = 0;
        for (size_t i = 0; i + 16 < got && !found; i++)
            found = memcmp(buf + i, "/MediaBox [ 0 0 252 ", 20) == 0;
        ck_assert_msg(found, "no 252 pt MediaBox in the PDF");
    }
    gs_trace_destroy(t);
    gs_trace_destroy(u);
}
END_TEST

START_TEST(cli_preset_option)
{
    /* the real binary: a bad preset exits 2 naming it and writes nothing */
    ck_assert_int_eq(gs_cli_run(1, "run --depth 3 --width 8 --steps 5 --samples 64 --preset "
                                   "poster -o r.png"),
                     2);
    ck_assert_ptr_nonnull(strstr(gs_out, "--preset: preset 'poster' is not one of none, paper"));
    ck_assert_int_eq(gs_count_entries(gs_tmpdir), 0);
    ck_assert_int_eq(gs_cli_run(1, "run --depth 3 --width 8 --steps 5 --samples 64 --preset "
                                   "paper -q -o r.png"),
                     0);
    char p[512];
    snprintf(p, sizeof p, "%s/r.png", gs_tmpdir);
    cairo_surface_t *s = cairo_image_surface_create_from_png(p);
    ck_assert_int_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    ck_assert_int_eq(cairo_image_surface_get_width(s), 1050);
    cairo_surface_destroy(s);
}
END_TEST

/* A recurrent run as the recorder writes it: tensors rnn.weight_ih_l{k}, rnn.weight_hh_l{k},
 * out (every column), and per recurrent layer k a series rnn.h_l{k} with T time steps and
 * ||dL/dh_t|| = 0.01 * gain^(T - t), the theory's gain in the metadata. */
static GsTrace *make_rnn(int depth, int steps, int T, double gain)
{
    int nl = 2 * depth + 1;
    GsTrace *t = make_trace(nl, steps, GS_COL_ALL, 0);
    char name[32];
    for (int k = 0; k < depth; k++) {
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", k);
        ck_assert_int_eq(gs_trace_set_layer_name(t, (size_t)(2 * k), name, "rnn_ih"), GS_OK);
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", k);
        ck_assert_int_eq(gs_trace_set_layer_name(t, (size_t)(2 * k + 1), name, "rnn_hh"), GS_OK);
        snprintf(name, sizeof name, "rnn.h_l%d", k);
        size_t sk;
        ck_assert_int_eq(gs_trace_add_series(t, name, "state", &sk), GS_OK);
        char key[40], val[32];
        snprintf(key, sizeof key, "theory_step_gain_l%d", k);
        snprintf(val, sizeof val, "%g", gain);
        ck_assert_int_eq(gs_trace_meta_set(t, key, val), GS_OK);
    }
    ck_assert_int_eq(gs_trace_set_layer_name(t, (size_t)(nl - 1), "out", "linear"), GS_OK);
    double h[512];
    for (int i = 0; i < steps; i++)
        for (int k = 0; k < depth; k++) {
            for (int u = 1; u <= T; u++)
                h[u - 1] = 0.01 * pow(gain, (double)(T - u));
            ck_assert_int_eq(
                gs_trace_series_set(t, (size_t)i, (size_t)k, GS_TCOL_H_GRAD_NORM, h, (size_t)T),
                GS_OK);
        }
    gs_trace_meta_set(t, "arch", "rnn");
    return t;
}

START_TEST(through_time_view)
{
    const int T = 30;
    GsTrace *t = make_rnn(1, 40, T, 0.5);
    GsFindings none = {0};
    static GsDrawLog log;
    char p[512];
    snprintf(p, sizeof p, "%s/rnn.png", dir);
    GsReportOptions o;
    gs_report_options_default(&o);
    o.trace = t;
    o.findings = &none;
    gs_draw_log_begin(&log);
    GsStatus st = gs_plot_report(&o, p, NULL);
    gs_draw_log_end();
    ck_assert_int_eq(st, GS_OK);
    ck_assert_msg(log.elided == 0, "elided: '%s'", log.first_elided);
    ck_assert_msg(log.outside == 0, "outside: %s", log.first_outside);
    static const char *const want[] = {
        "through time, relative to t = T (rnn.h_l0)",
        "log10 \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t\xe2\x80\x96 / "
        "\xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_T\xe2\x80\x96",
        "time step t (t = 1 at the bottom)",
        "per weight tensor and",
        "weight_hh_l0\n",
        "theory (init): \xc3\x97"
        "0.5 per step back from T",
        "time step t (1 = first input, T = last)",
        "memory horizon (10\xe2\x81\xbb\xc2\xb3)",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(log.text, want[i]) != NULL, "'%s' not drawn:\n%s", want[i], log.text);
    ck_assert_ptr_null(strstr(log.text, "Depth profile"));    /* replaced by the through-time one */
    ck_assert_ptr_null(strstr(log.text, "the longest path")); /* one recurrent layer */

    /* Layout: the three boxes of the split heatmap panel and the other panels do not overlap
     * and stay on the page. */
    GsLayout L;
    gs_report_layout(&o, &L);
    GsRect box[3];
    gs_report_through_time_rects(&L, 0, &box[0], &box[1], &box[2]);
    GsRect page = {0, 0, 1600, 1000};
    for (int a = 0; a < 3; a++) {
        ck_assert(box[a].w > 50 && box[a].h > 50);
        ck_assert(gs_rect_inside(box[a], page));
        ck_assert(gs_rect_inside(box[a], L.r[GS_PANEL_HEATMAP]));
        for (int b = a + 1; b < 3; b++)
            ck_assert_msg(!gs_rect_overlap(box[a], box[b]), "boxes %d and %d overlap", a, b);
        for (int q = 0; q < GS_PANEL_COUNT; q++)
            if (L.on[q] && q != GS_PANEL_HEATMAP)
                ck_assert_msg(!gs_rect_overlap(box[a], L.r[q]), "box %d overlaps panel %d", a, q);
    }

    /* Pixels: with ||dL/dh_t|| / ||dL/dh_T|| = 0.5^(T - t) the bottom row (t = 1) has the
     * colour of log10 0.5^29 = -8.73 on a symmetric range of 9 decades; it fills the bottom
     * of the through-time cells and appears nowhere in their upper half, whose rows
     * (t > 15, ratio above 10^-4.3) are much lighter; t = T is the map's centre. */
    cairo_surface_t *s = cairo_image_surface_create_from_png(p);
    ck_assert_int_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    GsRgb c1 = gs_cmap_div((double)(T - 1) * log10(0.5) / 9.0), cT = gs_cmap_div(0.0);
    GsRect tt = box[0];
    GsRect low = {tt.x, tt.y + tt.h * 0.6, tt.w, tt.h * 0.4};
    GsRect high = {tt.x, tt.y, tt.w, tt.h * 0.5};
    int n1_low = count_colour(s, low, c1.r, c1.g, c1.b);
    int n1_high = count_colour(s, high, c1.r, c1.g, c1.b);
    int nT_high = count_colour(s, high, cT.r, cT.g, cT.b);
    ck_assert_msg(n1_low > 500, "t = 1 colour at the bottom: %d px", n1_low);
    ck_assert_msg(n1_high == 0, "t = 1 colour in the upper half: %d px", n1_high);
    ck_assert_msg(nT_high > 500, "t = T colour at the top: %d px", nT_high);
    cairo_surface_destroy(s);

    /* Absolute colour: the bar says log10 of the norm itself. */
    o.series_absolute = 1;
    gs_draw_log_begin(&log);
    st = gs_plot_report(&o, p, NULL);
    gs_draw_log_end();
    ck_assert_int_eq(st, GS_OK);
    ck_assert_ptr_nonnull(strstr(log.text, "log10 \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82h_t"
                                           "\xe2\x80\x96\n"));
    ck_assert_ptr_null(strstr(log.text, "relative to t = T"));
    ck_assert_ptr_null(strstr(log.text, "memory horizon")); /* a relative measure */
    o.series_absolute = 0;
    /* A series that is not there is refused, naming it. */
    GsError err = {{0}};
    o.series = "rnn.h_l7";
    ck_assert_int_eq(gs_plot_report(&o, p, &err), GS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "'rnn.h_l7'") != NULL, "%s", err.msg);
    gs_trace_destroy(t);

    /* Two recurrent layers: layer 0 by default, said so; another on request. */
    t = make_rnn(2, 20, 12, 0.7);
    o.trace = t;
    o.series = NULL;
    for (int pick = 0; pick < 2; pick++) {
        o.series = pick ? "rnn.h_l1" : NULL;
        gs_draw_log_begin(&log);
        st = gs_plot_report(&o, p, NULL);
        gs_draw_log_end();
        ck_assert_int_eq(st, GS_OK);
        ck_assert_msg(log.elided == 0 && log.outside == 0, "%s %s", log.first_elided,
                      log.first_outside);
        const char *w = pick ? "(rnn.h_l1)" : "of rnn.h_l0 \xe2\x80\x94 layer 0, the bottom one";
        ck_assert_msg(strstr(log.text, w) != NULL, "'%s' not drawn:\n%s", w, log.text);
    }
    /* An LSTM's cell state: its own dotted lines in the profile. */
    const double c[12] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-2};
    for (size_t i = 0; i < 20; i++)
        ck_assert_int_eq(gs_trace_series_set(t, i, 0, GS_TCOL_C_GRAD_NORM, c, 12), GS_OK);
    o.series = NULL;
    gs_draw_log_begin(&log);
    st = gs_plot_report(&o, p, NULL);
    gs_draw_log_end();
    ck_assert_int_eq(st, GS_OK);
    ck_assert_msg(strstr(log.text, "(c_grad_norm, the LSTM cell)") != NULL, "%s", log.text);
    gs_trace_destroy(t);
    /* Two recorded steps: both get a line in the profile. */
    t = make_rnn(1, 2, 8, 0.5);
    o.trace = t;
    o.series = NULL;
    gs_draw_log_begin(&log);
    st = gs_plot_report(&o, p, NULL);
    gs_draw_log_end();
    ck_assert_int_eq(st, GS_OK);
    ck_assert_msg(strstr(log.text, "step 0\n") && strstr(log.text, "step 5\n"), "%s", log.text);
    gs_trace_destroy(t);
}
END_TEST

START_TEST(through_time_fits)
{
    /* before/after (a recurrent run beside another, and beside an MLP), every page size and
     * the paper preset: nothing elided or outside its panel */
    static const int sizes[][2] = {{800, 500}, {1600, 1000}, {3000, 2000}};
    GsTrace *a = make_rnn(1, 30, 60, 0.55), *b = make_rnn(1, 30, 60, 0.95);
    GsTrace *mlp = make_after(3, 30);
    GsFindings none = {0};
    static GsDrawLog log;
    char p[512];
    snprintf(p, sizeof p, "%s/fit.png", dir);
    for (size_t i = 0; i < 4; i++)
        for (int cmp = 0; cmp < 3; cmp++) {
            GsReportOptions o;
            gs_report_options_default(&o);
            o.trace = a;
            o.findings = &none;
            if (i == 3)
                o.preset = GS_PRESET_PAPER;
            else {
                o.width = sizes[i][0];
                o.height = sizes[i][1];
            }
            if (cmp) {
                o.after = cmp == 1 ? b : mlp;
                o.after_findings = &none;
                o.before_label = "tanh RNN";
                o.after_label = cmp == 1 ? "LSTM, forget bias 3" : "an MLP";
            }
            gs_draw_log_begin(&log);
            GsStatus st = gs_plot_report(&o, p, NULL);
            gs_draw_log_end();
            if (getenv("GS_KEEP_PNG")) {
                char q[512];
                snprintf(q, sizeof q, "%s/fit_%zu_%d.png", getenv("GS_KEEP_PNG"), i, cmp);
                gs_plot_report(&o, q, NULL);
            }
            ck_assert_int_eq(st, GS_OK);
            ck_assert_msg(log.elided == 0, "size %zu cmp %d: elided '%s'", i, cmp,
                          log.first_elided);
            ck_assert_msg(log.outside == 0, "size %zu cmp %d: outside %s", i, cmp,
                          log.first_outside);
            if (cmp == 1)
                ck_assert_ptr_nonnull(strstr(log.text, "LSTM, forget bias 3"));
        }
    gs_trace_destroy(a);
    gs_trace_destroy(b);
    gs_trace_destroy(mlp);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, png_size_and_scale);
    tcase_add_test(tc, clipping_panel_trigger);
    tcase_add_test(tc, svg_and_pdf);
    tcase_add_test(tc, minimal_and_nan_traces);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, parse_helpers);
    tcase_add_test(tc, many_findings_fit);
    tcase_add_test(tc, before_and_after_in_lower_panels);
    tcase_add_test(tc, text_fits_at_every_size);
    tcase_add_test(tc, profile_notes_dw_dz_disagreement);
    tcase_add_test(tc, paper_preset);
    tcase_add_test(tc, verdict_plain_words);
    tcase_add_test(tc, through_time_view);
    tcase_add_test(tc, through_time_fits);
    suite_add_tcase(s, tc);
    TCase *cli = tcase_create("cli");
    tcase_add_checked_fixture(cli, gs_cli_setup, gs_cli_teardown);
    tcase_set_timeout(cli, 60);
    tcase_add_test(cli, cli_preset_option);
    suite_add_tcase(s, cli);
    return s;
}
