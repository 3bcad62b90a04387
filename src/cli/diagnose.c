/* `gradscope diagnose TRACE.csv`: findings as text or JSON, exit 1 with --fail-on. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/report_opts.h"

static const CliOpt diag_opts[] = {CLI_DIAG_OPTS};
#define N_DIAG_OPTS (sizeof diag_opts / sizeof diag_opts[0])

static int diag_opt(void *ctx, int i, const char *arg)
{
    return cli_report_option(ctx, "diagnose", diag_opts[i].name, arg);
}

int cli_diagnose(int argc, char **argv)
{
    CliReport r;
    cli_report_init(&r);
    int pos = 0;
    int rc = cli_parse("diagnose", "TRACE.csv [--json FILE|-] [--fail-on KINDS] [options]",
                       "Diagnose a trace: which layers, from which step, how strong, why, and "
                       "what to change.\nOnly the columns present are used; rules whose "
                       "columns are missing are skipped (-v lists them).\nThresholds and their "
                       "sources are listed in the README.",
                       argc, argv, NULL, diag_opts, N_DIAG_OPTS, diag_opt, &r, &pos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (pos >= argc)
        return cli_fail("diagnose", "missing TRACE.csv (see --help)");
    if (pos + 1 < argc)
        return cli_fail("diagnose", "unexpected argument '%s'", argv[pos + 1]);
    if (cli_check_output("diagnose", "--json", r.json, NULL))
        return GS_EXIT_USAGE;
    const CliPath files[] = {{"TRACE", argv[pos], 0}, {"--json", r.json, 1}};
    if ((rc = cli_check_same_files("diagnose", files, 2)))
        return rc;
    GsTrace *trace = NULL;
    if ((rc = cli_load_trace("diagnose", argv[pos], &trace)))
        return rc;
    GsFindings fs = {0};
    GsPrediction pred = {0};
    int have_pred = 0;
    if ((rc = cli_judge_trace("diagnose", trace, &r.th, &fs, &pred, &have_pred)))
        goto done;
    int json_stdout = r.json && !strcmp(r.json, "-");
    if (!r.quiet && !json_stdout)
        cli_print_findings(stdout, &fs, r.verbose);
    if (r.json && (rc = cli_write_json("diagnose", r.json, &fs, have_pred ? &pred : NULL)))
        goto done;
    rc = cli_should_fail(&r, &fs) ? GS_EXIT_CHECK : 0;
done:
    gs_findings_fini(&fs);
    gs_prediction_fini(&pred);
    gs_trace_destroy(trace);
    return rc;
}
