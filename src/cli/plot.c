/* `gradscope plot TRACE.csv`: render a report from any trace, ours or another tool's. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/batch.h"
#include "cli/cli.h"
#include "cli/follow.h"
#include "cli/report_opts.h"

static const CliOpt plot_opts[] = {
    CLI_REPORT_OPTS,
    {"grid", 0, no_argument, NULL,
     "the arguments are sweep directories: draw their traces as one grid (+ summary.csv)"},
    {"follow", 0, no_argument, NULL,
     "re-render whenever TRACE grows (a live run) until it is complete or Ctrl-C"},
    {"dist", 0, no_argument, NULL,
     "draw the distribution heatmap per layer (step x log10|x| bins; needs TRACE.hist.npy)"},
    {"dist-profile", 0, no_argument, NULL,
     "draw the layer profile of the activation and gradient histograms at the first and last "
     "step"},
    {"dist-layers", 0, required_argument, "LIST",
     "layers of the distribution figure, e.g. 1,5,out (also mid) [default: 1,mid,out; profile: "
     "all, at most 8]"},
    {"dist-kind", 0, required_argument, "KIND",
     "histogram the --dist heatmap shows: grad, act or update [default: grad]"},
};
#define N_PLOT_OPTS (sizeof plot_opts / sizeof plot_opts[0])

typedef struct {
    CliReport r;
    int grid, follow;
    int dist, dist_profile;
    const char *dist_layers; /* parsed once the trace's layer count is known */
    int dist_kind;           /* GsHistKind; -1: not given */
} PlotOpts;

static int plot_opt(void *ctx, int i, const char *arg)
{
    PlotOpts *po = ctx;
    if (!strcmp(plot_opts[i].name, "grid")) {
        po->grid = 1;
        return 0;
    }
    if (!strcmp(plot_opts[i].name, "follow")) {
        po->follow = 1;
        return 0;
    }
    if (!strcmp(plot_opts[i].name, "dist")) {
        po->dist = 1;
        return 0;
    }
    if (!strcmp(plot_opts[i].name, "dist-profile")) {
        po->dist_profile = 1;
        return 0;
    }
    if (!strcmp(plot_opts[i].name, "dist-layers")) {
        po->dist_layers = arg;
        return 0;
    }
    if (!strcmp(plot_opts[i].name, "dist-kind")) {
        for (int k = 0; k < GS_HIST_NKINDS; k++)
            if (!strcmp(arg, gs_hist_kind_name((GsHistKind)k))) {
                po->dist_kind = k;
                return 0;
            }
        return cli_fail("plot", "--dist-kind: '%s' is not one of grad, act, update", arg);
    }
    return cli_report_option(&po->r, "plot", plot_opts[i].name, arg);
}

/* `plot TRACE --dist|--dist-profile`: a distribution figure from the trace's histograms. */
static int plot_dist(const PlotOpts *po, const char *path, const char *out)
{
    GsTrace *trace = NULL;
    GsError err = {{0}};
    /* the columns the profile's legend reads exactly when present */
    const uint64_t cols = GS_COL_BIT(GS_COL_GRAD_NORM) | GS_COL_BIT(GS_COL_ACT_STD) |
                          GS_COL_BIT(GS_COL_GRAD_RMS) | GS_TRACE_COMPACT;
    GsStatus st = gs_trace_read_csv(path, cols, &trace, &err);
    if (st != GS_OK)
        return cli_fail_status("plot", st, err.msg);
    GsDistOptions o;
    gs_dist_options_default(&o);
    o.trace = trace;
    o.figure = po->dist_profile ? GS_DIST_PROFILE : GS_DIST_HEATMAP;
    if (po->dist_kind >= 0)
        o.kind = (GsHistKind)po->dist_kind;
    const GsReportOptions *ro = &po->r.report;
    if (ro->width != 1600 || ro->height != 1000) {
        o.width = ro->width;
        o.height = ro->height;
    }
    o.scale = ro->scale;
    o.source_name = path;
    int rc = 0;
    if (po->dist_layers && gs_plot_parse_layers(po->dist_layers, gs_trace_n_layers(trace), o.layers,
                                                GS_DIST_MAX_LAYERS, &o.n_layers, &err) != GS_OK) {
        rc = cli_fail("plot", "--dist-layers: %s", err.msg);
        goto done;
    }
    if (gs_plot_distributions(&o, out, &err) != GS_OK) {
        rc = cli_fail("plot", "%s: %s", path, err.msg);
        goto done;
    }
    if (!po->r.quiet)
        printf("gradscope plot: %s of %zu steps x %zu layers from %s -> %s\n",
               po->dist_profile ? "layer profile of distributions" : "distribution heatmap",
               gs_trace_n_steps(trace), gs_trace_n_layers(trace), path, out);
done:
    gs_trace_destroy(trace);
    return rc;
}

/* `plot --grid DIR...`: rebuilds the sweep grid and summary.csv from the traces. */
static int plot_grid(const CliReport *r, int n_dirs, char **dirs)
{
    for (int i = 0; i < n_dirs; i++) {
        struct stat sb;
        if (stat(dirs[i], &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cli_fail("plot", "--grid: '%s' is not a directory (a sweep's --out)", dirs[i]);
    }
    const char *out = r->output;
    char buf[4200];
    if (!out) {
        snprintf(buf, sizeof buf, "%.4000s/grid.png", dirs[0]);
        out = buf;
    }
    if (cli_check_output("plot", "-o", out, ".png|.svg|.pdf"))
        return GS_EXIT_USAGE;
    /* summary.csv next to the figure */
    char summary[4200];
    const char *slash = strrchr(out, '/');
    if (slash)
        snprintf(summary, sizeof summary, "%.*s/summary.csv", (int)(slash - out), out);
    else
        snprintf(summary, sizeof summary, "summary.csv");
    const CliPath files[] = {{"-o", out, 1}, {"summary", summary, 1}};
    int rc = cli_check_same_files("plot", files, 2);
    if (rc)
        return rc;
    CliRunSet rs;
    rc = cli_runset_from_dirs("plot", dirs, (size_t)n_dirs, &rs);
    if (rc)
        return rc;
    int w = r->report.width != 1600 || r->report.height != 1000 ? r->report.width : 0;
    int h = w ? r->report.height : 0;
    rc = cli_runset_render("plot", &rs, summary, out, NULL, w, h, 0, NULL);
    if (!rc && !r->quiet)
        printf("gradscope plot: grid of %zu traces (varied: %s%s%s) -> %s, %s\n", rs.n_runs,
               rs.keys[0], rs.n_keys > 1 ? ", " : "", rs.n_keys > 1 ? rs.keys[1] : "", out,
               summary);
    cli_runset_fini(&rs);
    return rc;
}

int cli_plot(int argc, char **argv)
{
    PlotOpts po;
    memset(&po, 0, sizeof po);
    po.dist_kind = -1;
    cli_report_init(&po.r);
    CliReport r;
    int pos = 0;
    int rc =
        cli_parse("plot", "TRACE.csv [options]  |  --grid DIR [DIR...] [options]",
                  "Render a report from a trace CSV: gradscope's own, or one written by "
                  "another framework\nwith at least the columns step, layer, grad_norm "
                  "(PyTorch: python/gradscope).\nWith --follow, TRACE may still be growing: the "
                  "report is redrawn (atomically) each time\nit does, until the trace says "
                  "`complete = 1` or Ctrl-C.",
                  argc, argv, NULL, plot_opts, N_PLOT_OPTS, plot_opt, &po, &pos);
    if (rc)
        return rc < 0 ? 0 : rc;
    r = po.r;
    if ((po.dist || po.dist_profile) && (po.grid || po.follow))
        return cli_fail("plot",
                        "--dist/--dist-profile draw one TRACE: not with --grid or --follow");
    if (po.dist_profile && po.dist_kind >= 0)
        return cli_fail("plot", "--dist-kind chooses the --dist heatmap's histogram; the profile "
                                "shows act and grad");
    if ((po.dist || po.dist_profile) && po.r.report.preset != GS_PRESET_NONE)
        return cli_fail("plot", "--preset is a report page; the distribution figures take --size");
    if ((po.dist || po.dist_profile) && po.r.json)
        return cli_fail("plot",
                        "--json writes the report's findings; not with --dist/--dist-profile");
    if (po.dist && po.dist_profile)
        return cli_fail("plot", "choose one of --dist and --dist-profile");
    if (!po.dist && !po.dist_profile && (po.dist_layers || po.dist_kind >= 0))
        return cli_fail("plot", "--dist-layers/--dist-kind need --dist or --dist-profile");
    if (po.grid && po.follow)
        return cli_fail("plot", "--follow takes one TRACE, not --grid directories");
    if (po.grid) {
        if (pos >= argc)
            return cli_fail("plot", "--grid: missing DIR (a sweep's --out directory)");
        return plot_grid(&r, argc - pos, argv + pos);
    }
    if (pos >= argc)
        return cli_fail("plot", "missing TRACE.csv (see --help)");
    if (pos + 1 < argc)
        return cli_fail("plot", "unexpected argument '%s'", argv[pos + 1]);
    const char *path = argv[pos];
    const char *out =
        r.output ? r.output
                 : (po.dist || po.dist_profile ? "gradscope-dist.png" : "gradscope-report.png");
    if (cli_check_output("plot", "-o", out, ".png|.svg|.pdf") ||
        cli_check_output("plot", "--json", r.json, NULL))
        return GS_EXIT_USAGE;
    const CliPath files[] = {{"TRACE", path, 0}, {"-o", out, 1}, {"--json", r.json, 1}};
    if ((rc = cli_check_same_files("plot", files, 3)))
        return rc;
    if (po.dist || po.dist_profile)
        return plot_dist(&po, path, out);
    if (po.follow)
        return cli_plot_follow(&r, path, out);
    return cli_plot_render(&r, path, out);
}

int cli_plot_render(const CliReport *r, const char *path, const char *out)
{
    int rc;
    GsTrace *trace = NULL;
    if ((rc = cli_load_trace_metric("plot", path, r->report.metric, &trace)))
        return rc;
    GsFindings fs = {0};
    GsPrediction pred = {0};
    int have_pred = 0;
    if ((rc = cli_judge_trace("plot", trace, &r->th, &fs, &pred, &have_pred)))
        goto done;
    GsError err = {{0}};
    GsReportOptions ro = r->report;
    ro.trace = trace;
    ro.findings = &fs;
    ro.prediction = have_pred ? &pred : NULL;
    ro.source_name = path;
    if (gs_plot_report(&ro, out, &err) != GS_OK) {
        rc = cli_fail("plot", "%s", err.msg);
        goto done;
    }
    if (r->json && (rc = cli_write_json("plot", r->json, &fs, have_pred ? &pred : NULL)))
        goto done;
    /* with --json -, stdout carries the JSON alone */
    if (!r->quiet)
        fprintf(r->json && !strcmp(r->json, "-") ? stderr : stdout,
                "gradscope plot: %zu steps x %zu layers from %s -> %s\n", gs_trace_n_steps(trace),
                gs_trace_n_layers(trace), path, out);
    rc = cli_should_fail(r, &fs) ? GS_EXIT_CHECK : 0;
done:
    gs_findings_fini(&fs);
    gs_prediction_fini(&pred);
    gs_trace_destroy(trace);
    return rc;
}
