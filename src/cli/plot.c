/* `gradscope plot TRACE.csv`: render a report from any trace, ours or another tool's. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/report_opts.h"

static const CliOpt plot_opts[] = {CLI_REPORT_OPTS};
#define N_PLOT_OPTS (sizeof plot_opts / sizeof plot_opts[0])

static int plot_opt(void *ctx, int i, const char *arg)
{
    return cli_report_option(ctx, "plot", plot_opts[i].name, arg);
}

int cli_plot(int argc, char **argv)
{
    CliReport r;
    cli_report_init(&r);
    int pos = 0;
    int rc = cli_parse("plot", "TRACE.csv [options]",
                       "Render a report from a trace CSV: gradscope's own, or one written by "
                       "another framework\nwith at least the columns step, layer, grad_norm "
                       "(see examples/torch_trace.py).",
                       argc, argv, NULL, plot_opts, N_PLOT_OPTS, plot_opt, &r, &pos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (pos >= argc)
        return cli_fail("plot", "missing TRACE.csv (see --help)");
    if (pos + 1 < argc)
        return cli_fail("plot", "unexpected argument '%s'", argv[pos + 1]);
    const char *path = argv[pos];
    const char *out = r.output ? r.output : "gradscope-report.png";
    if (cli_check_output("plot", "-o", out, ".png|.svg|.pdf") ||
        cli_check_output("plot", "--json", r.json, NULL))
        return GS_EXIT_USAGE;
    GsTrace *trace = NULL;
    if ((rc = cli_load_trace_metric("plot", path, r.report.metric, &trace)))
        return rc;
    GsError err = {{0}};
    GsFindings fs = {0};
    GsPrediction pred = {0};
    int have_pred = cli_predict_from_meta(trace, &pred);
    if (gs_diagnose(trace, &r.th, &fs, &err) != GS_OK) {
        rc = cli_fail("plot", "%s", err.msg);
        goto done;
    }
    GsReportOptions ro = r.report;
    ro.trace = trace;
    ro.findings = &fs;
    ro.prediction = have_pred ? &pred : NULL;
    ro.source_name = path;
    if (gs_plot_report(&ro, out, &err) != GS_OK) {
        rc = cli_fail("plot", "%s", err.msg);
        goto done;
    }
    if (r.json && (rc = cli_write_json("plot", r.json, &fs, have_pred ? &pred : NULL)))
        goto done;
    if (!r.quiet)
        printf("gradscope plot: %zu steps x %zu layers from %s -> %s\n", gs_trace_n_steps(trace),
               gs_trace_n_layers(trace), path, out);
    rc = cli_should_fail(&r, &fs) ? GS_EXIT_CHECK : 0;
done:
    gs_findings_fini(&fs);
    gs_prediction_fini(&pred);
    gs_trace_destroy(trace);
    return rc;
}
