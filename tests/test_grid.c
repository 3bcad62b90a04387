/* Sweep grid figure: badges in plain words quoting the robust final loss, the key explaining
 * it, theory lines that shrink instead of being cut, one robust colour scale. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradscope/plot.h"
#include "plot/draw.h"
#include "runner.h"

/* Under LeakSanitizer only: fontconfig (behind cairo's toy text API) keeps process-lifetime
 * caches it never frees; they are not ours to fix. Unused in ordinary builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\n";
}

/* 4 layers x 50 steps; loss 1 except a spike of 9 at the very last step; grad scale g. */
static GsTrace *run(double g)
{
    GsTrace *t = NULL;
    uint64_t cols =
        GS_COL_BIT(GS_COL_LOSS) | GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_ACT_GRAD_NORM);
    ck_assert_int_eq(gs_trace_create(4, cols, &t), GS_OK);
    for (int s = 0; s < 50; s++) {
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s, &row), GS_OK);
        for (int l = 0; l < 4; l++) {
            row[l * GS_COL_COUNT + GS_COL_LOSS] = s == 49 ? 9.0 : 1.0;
            row[l * GS_COL_COUNT + GS_COL_GRAD_NORM] = g * pow(10.0, 0.3 * l) * pow(1.5, s);
            row[l * GS_COL_COUNT + GS_COL_ACT_GRAD_NORM] = g;
        }
        gs_trace_commit_step(t);
    }
    gs_trace_set_has(t, GS_COL_LOSS, 1);
    gs_trace_set_has(t, GS_COL_GRAD_NORM, 1);
    gs_trace_set_has(t, GS_COL_ACT_GRAD_NORM, 1);
    return t;
}

START_TEST(badges_plain_words_and_final_loss)
{
    GsTrace *t[2] = {run(1.0), run(1e-3)};
    const GsTrace *tc[2] = {t[0], t[1]};
    GsFinding f = {.kind = GS_FIND_UPDATE_TOO_SMALL,
                   .severity = GS_SEV_WARNING,
                   .layer_first = 1,
                   .layer_last = 4,
                   .primary = 1,
                   .explained_by = -1};
    GsFindings fs = {.items = &f, .n = 1}, none = {0};
    const GsFindings *fl[2] = {&fs, &none};
    int row[2] = {0, 0}, col[2] = {0, 1};
    const double pred[2] = {1.0512345, 0.98765};
    const char *rl[] = {"lr"}, *cl[] = {"0.1", "0.01"};
    GsGridOptions o = {0};
    o.traces = tc;
    o.findings = fl;
    o.row = row;
    o.col = col;
    o.predicted = pred;
    o.n = 2;
    o.n_rows = 1;
    o.n_cols = 2;
    o.col_key = "lr";
    o.row_labels = rl;
    o.col_labels = cl;
    o.width = 700;
    o.height = 520;
    char dir[] = "/tmp/gs_test_grid_XXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/g.png", dir);
    static GsDrawLog log;
    gs_draw_log_begin(&log);
    GsError err = {{0}};
    GsStatus st = gs_plot_grid(&o, path, &err);
    gs_draw_log_end();
    ck_assert_msg(st == GS_OK, "%s", err.msg);
    ck_assert_ptr_null(strstr(log.text, "update_too_small"));
    ck_assert_ptr_nonnull(strstr(log.text, "update too small"));
    /* the mean of the last 10% (4 steps of 1, one of 9) = 2.6, not the last step's 9 */
    ck_assert_msg(strstr(log.text, "final loss 2.6") != NULL, "%s", log.text);
    ck_assert_ptr_null(strstr(log.text, "loss 9\n"));
    ck_assert_ptr_nonnull(strstr(log.text, "final loss = mean of last 10% of steps"));
    ck_assert_msg(log.elided == 0, "elided: '%s'", log.first_elided);
    ck_assert_ptr_nonnull(strstr(log.text, "1.05"));
    unlink(path);
    rmdir(dir);
    gs_trace_destroy(t[0]);
    gs_trace_destroy(t[1]);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("grid");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, badges_plain_words_and_final_loss);
    suite_add_tcase(s, tc);
    return s;
}
