/* Shared report/diagnosis options, output checks, findings text and JSON writing. */
#include "cli/report_opts.h"
#include "gradscope/setup.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trace/atomic_file.h"
#include "util/text.h"

void cli_report_init(CliReport *r)
{
    memset(r, 0, sizeof *r);
    gs_report_options_default(&r->report);
    gs_thresholds_default(&r->th);
}

int cli_report_option(CliReport *r, const char *cmd, const char *name, const char *arg)
{
    GsError err = {{0}};
    if (!strcmp(name, "output")) {
        r->output = arg;
    } else if (!strcmp(name, "json")) {
        r->json = arg;
    } else if (!strcmp(name, "metric")) {
        int c = gs_trace_col_from_name(arg);
        if (c < 0 || c == GS_COL_STEP || c == GS_COL_LAYER) {
            char list[1024] = "";
            const char *names[GS_COL_COUNT];
            size_t nn = 0;
            for (int i = 0; i < GS_COL_COUNT; i++) {
                if (i == GS_COL_STEP || i == GS_COL_LAYER)
                    continue;
                names[nn++] = gs_trace_col_name((GsCol)i);
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                         gs_trace_col_name((GsCol)i));
            }
            const char *near = gs_text_suggest(arg, names, nn);
            char hint[96] = "";
            if (near)
                snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
            return cli_fail(cmd, "--metric: '%s' is not a numeric trace column (valid: %s)%s", arg,
                            list, hint);
        }
        r->report.metric = (GsCol)c;
    } else if (!strcmp(name, "relative")) {
        r->report.relative = 1;
    } else if (!strcmp(name, "series")) {
        r->report.series = arg;
    } else if (!strcmp(name, "time-absolute")) {
        r->report.series_absolute = 1;
    } else if (!strcmp(name, "bin")) {
        if (gs_plot_parse_bin(arg, &r->report.bin, &err) != GS_OK)
            return cli_fail(cmd, "--bin: %s", err.msg);
    } else if (!strcmp(name, "size")) {
        if (gs_plot_parse_size(arg, &r->report.width, &r->report.height, &err) != GS_OK)
            return cli_fail(cmd, "--size: %s", err.msg);
    } else if (!strcmp(name, "preset")) {
        if (gs_plot_parse_preset(arg, &r->report.preset, &err) != GS_OK)
            return cli_fail(cmd, "--preset: %s", err.msg);
    } else if (!strcmp(name, "scale")) {
        char *end;
        double s = strtod(arg, &end);
        if (end == arg || *end || !(s >= 0.25 && s <= 8))
            return cli_fail(cmd, "--scale: '%s' is not a number in 0.25..8", arg);
        r->report.scale = s;
    } else if (!strcmp(name, "fail-on")) {
        char buf[512];
        if (strlen(arg) >= sizeof buf)
            return cli_fail(cmd, "--fail-on: list '%.40s...' is too long", arg);
        snprintf(buf, sizeof buf, "%s", arg);
        char list[512] = "any";
        const char *names[GS_FIND_COUNT + 1] = {"any"};
        for (int i = 0; i < GS_FIND_COUNT; i++) {
            names[i + 1] = gs_finding_kind_name((GsFindingKind)i);
            strcat(list, ", ");
            strcat(list, names[i + 1]);
        }
        /* every comma-separated word must name a kind: "a,,b", ",", "" are mistakes, not
         * an empty check that never fails */
        unsigned mask = 0;
        int any = 0;
        for (char *w = buf, *next; w; w = next) {
            next = strchr(w, ',');
            if (next)
                *next++ = '\0';
            if (!*w)
                return cli_fail(cmd, "--fail-on: empty kind in '%s' (expected a comma list of: %s)",
                                arg, list);
            if (!strcmp(w, "any")) {
                any = 1;
                continue;
            }
            int k = gs_finding_kind_from_name(w);
            if (k < 0) {
                const char *near = gs_text_suggest(w, names, GS_FIND_COUNT + 1);
                char hint[96] = "";
                if (near)
                    snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
                return cli_fail(cmd, "--fail-on: unknown finding kind '%s' (expected: %s)%s", w,
                                list, hint);
            }
            mask |= 1u << k;
        }
        r->fail_mask |= mask;
        r->fail_any |= any;
    } else if (!strcmp(name, "threshold")) {
        const char *eq = strchr(arg, '=');
        char key[64];
        if (!eq || (size_t)(eq - arg) >= sizeof key)
            return cli_fail(cmd, "--threshold: '%s' must be KEY=VALUE", arg);
        memcpy(key, arg, (size_t)(eq - arg));
        key[eq - arg] = '\0';
        if (gs_thresholds_set(&r->th, key, eq + 1, &err) != GS_OK)
            return cli_fail(cmd, "--threshold: %s", err.msg);
    } else if (!strcmp(name, "verbose")) {
        r->verbose = 1;
    } else if (!strcmp(name, "quiet")) {
        r->quiet = 1;
    } else {
        return -1;
    }
    return 0;
}

int cli_check_output(const char *cmd, const char *option, const char *path, const char *exts)
{
    if (!path || !strcmp(path, "-"))
        return 0;
    if (exts) {
        const char *dot = strrchr(path, '.');
        int ok = 0;
        if (dot) {
            char list[128];
            snprintf(list, sizeof list, "%s", exts);
            char *save = NULL;
            for (char *e = strtok_r(list, "|", &save); e; e = strtok_r(NULL, "|", &save))
                ok |= !strcasecmp(dot, e);
        }
        if (!ok)
            return cli_fail(cmd, "%s: '%s' has an unsupported extension (use %s)", option, path,
                            exts);
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_fail(cmd, "%s: cannot write '%s': it is a directory", option, path);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    const char *dir = dirname(tmp);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_fail(cmd, "%s: cannot write '%s': directory '%s': %s", option, path, dir,
                        strerror(errno));
    return 0;
}

static const char *sev_tag(GsSeverity s)
{
    return s == GS_SEV_ERROR ? "ERROR  " : s == GS_SEV_WARNING ? "WARNING" : "info   ";
}

void cli_print_findings(FILE *f, const GsFindings *fs, int verbose)
{
    if (fs->n == 0)
        fprintf(f, "No findings: gradients look healthy by every rule that applies.\n");
    for (size_t i = 0; i < fs->n; i++) {
        const GsFinding *x = &fs->items[i];
        fprintf(f, "%s %-16s layers %d-%d, steps %ld-%ld\n", sev_tag(x->severity),
                gs_finding_kind_name(x->kind), x->layer_first, x->layer_last, x->step_first,
                x->step_last);
        fprintf(f, "        %s\n", x->message);
        if (x->suggestion[0] || x->options[0])
            fprintf(f, "        fix: %s%s%s%s\n", x->suggestion, x->options[0] ? " (" : "",
                    x->options, x->options[0] ? ")" : "");
    }
    if (verbose && fs->skipped[0])
        fprintf(f, "Skipped rules: %s\n", fs->skipped);
}

int cli_write_file_atomic(const char *path, const char *text, GsError *err)
{
    /* the library's atomic writer: same file mode as every output, removed on a signal */
    GsAtomicFile af;
    if (gs_atomic_open(&af, path, err) != GS_OK)
        return -1;
    /* a failed write sets the stream's error flag, which the commit reports */
    fputs(text, af.fp);
    fputc('\n', af.fp);
    return gs_atomic_commit(&af, err) == GS_OK ? 0 : -1;
}

int cli_write_json(const char *cmd, const char *path, const GsFindings *fs,
                   const GsPrediction *pred)
{
    char *json = NULL;
    if (gs_findings_to_json(fs, pred, &json) != GS_OK) {
        fprintf(stderr, "gradscope %s: out of memory writing JSON\n", cmd);
        return GS_EXIT_FAIL;
    }
    int rc = 0;
    if (!strcmp(path, "-"))
        printf("%s\n", json);
    else {
        GsError err = {{0}};
        if (cli_write_file_atomic(path, json, &err) != 0)
            rc = cli_fail(cmd, "--json: cannot write %s", err.msg);
    }
    free(json);
    return rc;
}

int cli_should_fail(const CliReport *r, const GsFindings *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        if (r->fail_any && fs->items[i].severity >= GS_SEV_WARNING)
            return 1;
        if (r->fail_mask & (1u << fs->items[i].kind))
            return 1;
    }
    return 0;
}

int cli_predict_from_meta(const GsTrace *trace, GsPrediction *pred)
{
    GsTraceSetup su;
    return gs_setup_from_trace(trace, &su, NULL) == GS_OK &&
           gs_setup_predict(&su, pred, NULL) == GS_OK;
}

int cli_load_trace_metric(const char *cmd, const char *path, GsCol metric, GsTrace **out)
{
    /* Only the columns the report and the rules read, as float: a 100-layer x 20,000-step
     * trace then needs well under half of its CSV's size in memory. */
    const uint64_t cols = GS_COL_BIT(GS_COL_LOSS) | GS_COL_BIT(GS_COL_LR) |
                          GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_BIAS_GRAD_NORM) |
                          GS_COL_BIT(GS_COL_ACT_GRAD_NORM) | GS_COL_BIT(GS_COL_GRAD_MAX_ABS) |
                          GS_COL_BIT(GS_COL_WEIGHT_NORM) | GS_COL_BIT(GS_COL_UPDATE_RATIO) |
                          GS_COL_BIT(GS_COL_SATURATION) | GS_COL_BIT(GS_COL_DEAD_FRAC) |
                          GS_COL_BIT(GS_COL_NONFINITE) | GS_COL_BIT(metric);
    GsError err = {{0}};
    GsStatus st = gs_trace_read_csv(path, cols | GS_TRACE_COMPACT, out, &err);
    if (st != GS_OK) {
        return cli_fail_status(cmd, st, err.msg);
    }
    cli_warn_cut_trace(cmd, path, *out);
    return 0;
}

int cli_load_trace(const char *cmd, const char *path, GsTrace **out)
{
    return cli_load_trace_metric(cmd, path, GS_COL_GRAD_NORM, out);
}

int cli_judge_trace(const char *cmd, const GsTrace *trace, const GsThresholds *th, GsFindings *fs,
                    GsPrediction *pred, int *have_pred)
{
    GsError err = {{0}};
    *have_pred = cli_predict_from_meta(trace, pred);
    if (gs_diagnose(trace, th, fs, &err) != GS_OK) {
        fprintf(stderr, "gradscope %s: %s\n", cmd, err.msg);
        return GS_EXIT_FAIL;
    }
    return 0;
}
