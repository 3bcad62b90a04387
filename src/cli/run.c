/* `gradscope run`: train one setup while recording, then write the trace, the findings,
 * the prediction and the report; with --cure, rerun with the suggested fix and compare. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/report_opts.h"
#include "gradscope/run.h"
#include "gradscope/theory.h"

typedef struct {
    CliReport rep;
    const char *trace_path, *export_dir;
    int cure, no_report;
} RunOpts;

static const CliOpt run_opts[] = {
    CLI_REPORT_OPTS,
    {"trace", 0, required_argument, "FILE", "write the trace as CSV"},
    {"export-weights", 0, required_argument, "DIR", "write the initial weights as .npy files"},
    {"cure", 0, no_argument, NULL,
     "rerun with the top finding's suggested fix and add a before/after comparison"},
    {"no-report", 0, no_argument, NULL, "do not render a report"},
};
#define N_RUN_OPTS (sizeof run_opts / sizeof run_opts[0])

static int run_opt(void *ctx, int i, const char *arg)
{
    RunOpts *o = ctx;
    int rc = cli_report_option(&o->rep, "run", run_opts[i].name, arg);
    if (rc >= 0)
        return rc;
    const char *n = run_opts[i].name;
    if (!strcmp(n, "trace"))
        o->trace_path = arg;
    else if (!strcmp(n, "export-weights"))
        o->export_dir = arg;
    else if (!strcmp(n, "cure"))
        o->cure = 1;
    else if (!strcmp(n, "no-report"))
        o->no_report = 1;
    return 0;
}

/* Progress on stderr, only when it is a terminal, at most ~10 times a second. */
typedef struct {
    struct timespec t0;
    double last;
    int tty;
    const char *label;
} Progress;

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void progress_fn(void *ctx, long step, long steps, double loss)
{
    Progress *p = ctx;
    if (!p->tty)
        return;
    double e = elapsed(&p->t0);
    if (step + 1 < steps && e - p->last < 0.1)
        return;
    p->last = e;
    fprintf(stderr, "\r%s step %ld/%ld  loss %-10.4g  %.1f s ", p->label, step + 1, steps, loss, e);
    if (step + 1 == steps)
        fprintf(stderr, "\n");
}

/* Trains spec; on failure prints the error and returns its exit code. The weights go to
 * export_tmp, which messages call export_dir (the user never named the temporary). */
static int train(const GsSpec *spec, const char *export_tmp, const char *export_dir,
                 const char *label, int quiet, GsTrace **trace, GsRunInfo *info)
{
    Progress p = {{0, 0}, -1, !quiet && isatty(STDERR_FILENO), label};
    clock_gettime(CLOCK_MONOTONIC, &p.t0);
    GsError err = {{0}};
    cli_blas_threads(gs_spec_blas_threads(spec));
    GsStatus st = gs_run_setup(spec, export_tmp, progress_fn, &p, trace, info, &err);
    if (st != GS_OK) {
        const char *at = export_tmp ? strstr(err.msg, export_tmp) : NULL;
        if (at) {
            char msg[sizeof err.msg + 4200];
            snprintf(msg, sizeof msg, "--export-weights: %.*s%s%s", (int)(at - err.msg), err.msg,
                     export_dir, at + strlen(export_tmp));
            return cli_fail_status("run", st, msg);
        }
        return cli_fail_status("run", st, err.msg);
    }
    return 0;
}

/* Ratio of the first to the last hidden layer's act_grad_norm at the first recorded step. */
static double measured_ratio(const GsTrace *t)
{
    size_t L = gs_trace_n_layers(t);
    if (L < 2 || gs_trace_n_steps(t) == 0)
        return NAN;
    return gs_trace_get(t, 0, 0, GS_COL_ACT_GRAD_NORM) /
           gs_trace_get(t, 0, L - 2, GS_COL_ACT_GRAD_NORM);
}

/* ||dL/dh_1|| / ||dL/dh_T|| of the bottom recurrent layer at step 0 (NaN without series). */
static double measured_time_ratio(const GsTrace *t)
{
    if (gs_trace_n_series(t) == 0 || gs_trace_n_steps(t) == 0)
        return NAN;
    size_t T = gs_trace_series_len(t, 0, 0);
    if (T == 0)
        return NAN;
    return gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, 1) /
           gs_trace_series_get(t, 0, 0, GS_TCOL_H_GRAD_NORM, T);
}

static int has_kind(const GsFindings *fs, GsFindingKind k)
{
    for (size_t i = 0; i < fs->n; i++)
        if (fs->items[i].kind == k && fs->items[i].severity >= GS_SEV_WARNING)
            return 1;
    return 0;
}

typedef struct {
    GsTrace *trace;
    GsFindings findings;
    GsSpec spec;
    char label[300], verdict[300];
    int found;
} Cure;

/* Tries the suggestions of the most severe findings (at most three) until one removes
 * the finding it answers. */
static int try_cure(const GsSpec *spec, const GsFindings *before, const CliReport *rep, FILE *txt,
                    Cure *c)
{
    int tried = 0;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < before->n && tried < 3; i++) {
        const GsFinding *f = &before->items[i];
        if (!f->options[0] || f->severity < GS_SEV_WARNING)
            continue;
        /* the primary finding comes first; findings it explains carry the same fix */
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(before->items[j].options, f->options);
        if (seen)
            continue;
        GsSpec s2 = *spec;
        GsError err = {{0}};
        if (gs_spec_apply_args(&s2, f->options, &err) != GS_OK)
            continue;
        tried++;
        GsTrace *t = NULL;
        int rc = train(&s2, NULL, NULL, "cure", rep->quiet, &t, NULL);
        if (rc)
            return rc;
        GsFindings fs = {0};
        if (gs_diagnose(t, &rep->th, &fs, &err) != GS_OK) {
            gs_trace_destroy(t);
            return cli_fail("run", "%s", err.msg);
        }
        int fixed = !has_kind(&fs, f->kind);
        if (!rep->quiet)
            fprintf(txt, "cure %d: %s -> %s %s\n", tried, f->options,
                    fixed ? "removes" : "does NOT remove", gs_finding_kind_name(f->kind));
        if (c->trace) {
            gs_trace_destroy(c->trace);
            gs_findings_fini(&c->findings);
        }
        c->trace = t;
        c->findings = fs;
        c->spec = s2;
        snprintf(c->label, sizeof c->label, "after: %s", f->options);
        char v[256];
        gs_plot_verdict(&fs, t, v, sizeof v);
        snprintf(c->verdict, sizeof c->verdict, "%s%s", fixed ? "" : "not cured - ", v);
        c->found = fixed;
        if (fixed)
            break;
    }
    if (!tried && !rep->quiet)
        fprintf(txt, "cure: no finding with a suggested option change; nothing to compare\n");
    return 0;
}

int cli_run(int argc, char **argv)
{
    RunOpts o;
    memset(&o, 0, sizeof o);
    cli_report_init(&o.rep);
    GsSpec spec;
    gs_spec_default(&spec);
    int pos = 0;
    int rc = cli_parse("run", "[options]",
                       "Train one setup while recording per-layer gradient statistics, then "
                       "write a report\n(default gradscope-report.png), the findings, and "
                       "optionally the trace, JSON and initial weights.",
                       argc, argv, &spec, run_opts, N_RUN_OPTS, run_opt, &o, &pos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (pos < argc)
        return cli_fail("run", "unexpected argument '%s'", argv[pos]);
    GsError err = {{0}};
    if (gs_spec_validate(&spec, 0, 0, &err) != GS_OK)
        return cli_fail("run", "%s", err.msg);
    const char *out = o.rep.output ? o.rep.output : "gradscope-report.png";
    if ((!o.no_report && cli_check_output("run", "-o", out, ".png|.svg|.pdf")) ||
        cli_check_output("run", "--trace", o.trace_path, NULL) ||
        cli_check_output("run", "--json", o.rep.json, NULL))
        return GS_EXIT_USAGE;
    const CliPath files[] = {{"--data", spec.data.kind == GS_DATA_CSV ? spec.data.path : NULL, 0},
                             {"--config", cli_config_path(), 0},
                             {"-o", o.no_report ? NULL : out, 1},
                             {"--trace", o.trace_path, 1},
                             {"--json", o.rep.json, 1},
                             {"--export-weights", o.export_dir, 1}};
    if ((rc = cli_check_same_files("run", files, sizeof files / sizeof files[0])))
        return rc;
    cli_resolve_loss("run", &spec, o.rep.quiet);

    /* the weights go to a temporary sibling directory that appears whole, or not at all */
    char export_tmp[4200] = "";
    if (o.export_dir) {
        struct stat sb;
        if (stat(o.export_dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
            return cli_fail("run", "--export-weights: '%s' exists and is not a directory",
                            o.export_dir);
        if (cli_tmpdir_create(o.export_dir, export_tmp, sizeof export_tmp) != 0)
            return cli_fail("run", "--export-weights: cannot create '%s': %s", o.export_dir,
                            strerror(errno));
    }
    GsTrace *trace = NULL;
    GsRunInfo info;
    rc = train(&spec, o.export_dir ? export_tmp : NULL, o.export_dir, "run", o.rep.quiet, &trace,
               &info);
    if (o.export_dir && rc)
        cli_tmpdir_discard(export_tmp);
    if (rc)
        return rc;
    if (o.export_dir && cli_tmpdir_commit(export_tmp, o.export_dir) != 0) {
        gs_trace_destroy(trace);
        return cli_fail("run", "--export-weights: cannot move the arrays into '%s': %s",
                        o.export_dir, strerror(errno));
    }
    GsFindings fs = {0};
    GsPrediction pred = {0};
    Cure cure = {0};
    int have_pred = 0;
    if (o.trace_path && gs_trace_write_csv(trace, o.trace_path, &err) != GS_OK) {
        rc = cli_fail("run", "--trace: %s", err.msg);
        goto done;
    }
    if (gs_diagnose(trace, &o.rep.th, &fs, &err) != GS_OK) {
        rc = cli_fail("run", "%s", err.msg);
        goto done;
    }
    int recurrent = gs_arch_is_recurrent(spec.arch);
    have_pred = !recurrent &&
                gs_theory_predict(&spec, info.d_in, info.input_second_moment, &pred, &err) == GS_OK;

    /* with --json -, stdout carries the JSON alone: every readable line goes to stderr */
    FILE *txt = o.rep.json && !strcmp(o.rep.json, "-") ? stderr : stdout;
    if (o.cure && (rc = try_cure(&spec, &fs, &o.rep, txt, &cure)))
        goto done;

    char subtitle[512] = "", before_verdict[300];
    double meas = measured_ratio(trace);
    if (have_pred)
        snprintf(subtitle, sizeof subtitle,
                 "step-0 act_grad_norm ratio layer 1 / layer %d: predicted %.3g (%s), measured "
                 "%.3g",
                 spec.depth, pred.ratio_first_last, gs_regime_name(pred.regime), meas);
    gs_plot_verdict(&fs, trace, before_verdict, sizeof before_verdict);
    if (!o.no_report) {
        GsReportOptions ro = o.rep.report;
        ro.trace = trace;
        ro.findings = &fs;
        ro.prediction = have_pred ? &pred : NULL;
        ro.subtitle = subtitle[0] ? subtitle : NULL;
        if (cure.trace) {
            ro.after = cure.trace;
            ro.before_label = "before";
            ro.after_label = cure.label;
            ro.before_verdict = before_verdict;
            ro.after_verdict = cure.verdict;
            ro.after_findings = &cure.findings;
        }
        if (gs_plot_report(&ro, out, &err) != GS_OK) {
            rc = cli_fail("run", "-o: %s", err.msg);
            goto done;
        }
    }
    if (!o.rep.quiet) {
        size_t L = gs_trace_n_layers(trace);
        double loss0 = gs_trace_get(trace, 0, 0, GS_COL_LOSS);
        double loss1 = gs_diagnose_final_loss(trace, NULL);
        cli_print_findings(txt, &fs, o.rep.verbose);
        char l0[32], l1[32], ms[32];
        if (recurrent)
            fprintf(txt,
                    "gradscope run: %ld steps, %s, %zu weight tensors, loss %s -> %s (mean of the "
                    "last tenth), ||dL/dh_1|| / ||dL/dh_T|| (layer 0) %s at step 0; first "
                    "non-finite: %s%s%s%s%s\n",
                    spec.steps, gs_arch_name(spec.arch), L, cli_fmt_g(l0, sizeof l0, loss0, 4),
                    cli_fmt_g(l1, sizeof l1, loss1, 4),
                    cli_fmt_g(ms, sizeof ms, measured_time_ratio(trace), 3),
                    gs_trace_meta_get(trace, "first_nonfinite"), o.no_report ? "" : "; report ",
                    o.no_report ? "" : out, o.trace_path ? "; trace " : "",
                    o.trace_path ? o.trace_path : "");
        else
            fprintf(txt,
                    "gradscope run: %ld steps, %zu layers, loss %s -> %s (mean of the last tenth), "
                    "act_grad_norm (dL/dz) ratio "
                    "layer 1/%zu %s at step 0; first non-finite: %s%s%s%s%s\n",
                    spec.steps, L, cli_fmt_g(l0, sizeof l0, loss0, 4),
                    cli_fmt_g(l1, sizeof l1, loss1, 4), L - 1, cli_fmt_g(ms, sizeof ms, meas, 3),
                    gs_trace_meta_get(trace, "first_nonfinite"), o.no_report ? "" : "; report ",
                    o.no_report ? "" : out, o.trace_path ? "; trace " : "",
                    o.trace_path ? o.trace_path : "");
    }
    if (o.rep.json && (rc = cli_write_json("run", o.rep.json, &fs, have_pred ? &pred : NULL)))
        goto done;
    rc = cli_should_fail(&o.rep, &fs) ? GS_EXIT_CHECK : 0;
done:
    gs_findings_fini(&fs);
    gs_findings_fini(&cure.findings);
    gs_trace_destroy(cure.trace);
    gs_prediction_fini(&pred);
    gs_trace_destroy(trace);
    return rc;
}
