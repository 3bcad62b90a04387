/* `gradscope sweep`: the cartesian product of --vary values, run in parallel worker processes,
 * each run's trace in --out DIR, then summary.csv and the grid figure; --shard runs a slice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/batch.h"
#include "cli/cli.h"
#include "cli/report_opts.h"
#include "gradscope/plot.h"
#include "gradscope/sweep.h"
#include "trace/atomic_file.h"
#include "trace/trace_priv.h"
#include "util/fs.h"

#define MAX_GRID 64

typedef struct {
    GsSweep *sw;
    const char *out_dir, *grid_path, *shard, *scenario;
    int jobs, force, quiet, theory, width, height;
    int bad; /* an option failed */
} SweepOpts;

static const CliOpt sweep_opts[] = {
    {"vary", 0, required_argument, "KEY=V1,V2,...",
     "vary a setup key over values (repeatable; the first two give rows and columns)"},
    {"out", 0, required_argument, "DIR",
     "write traces, summary.csv, grid.png here "
     "[default: gradscope-sweep]"},
    {"output", 'o', required_argument, "FILE",
     "grid figure (.png/.svg/.pdf) [default: DIR/grid.png]"},
    {"jobs", 'j', required_argument, "N", "parallel runs [default: online CPUs]"},
    {"shard", 0, required_argument, "I/N",
     "run only the I-th of N slices of the product "
     "(then: gradscope plot --grid DIR)"},
    {"scenario", 0, required_argument, "FILE",
     "scenario file: [run] keys and [sweep] vary = "
     "lines (command-line keys override)"},
    {"force", 0, no_argument, NULL, "allow more than 64 setups"},
    {"theory", 0, no_argument, NULL, "show the predicted step-0 gradient ratio in each cell"},
    {"size", 0, required_argument, "WxH", "grid figure size [default: from the grid]"},
    {"quiet", 'q', no_argument, NULL, "print nothing but errors"},
};
#define N_SWEEP_OPTS (sizeof sweep_opts / sizeof sweep_opts[0])

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int sweep_opt(void *ctx, int i, const char *arg)
{
    SweepOpts *o = ctx;
    const char *n = sweep_opts[i].name;
    GsError err = {{0}};
    if (!strcmp(n, "vary")) {
        if (gs_sweep_add_vary(o->sw, arg, &err) != GS_OK)
            return cli_fail("sweep", "%s", err.msg);
    } else if (!strcmp(n, "out")) {
        o->out_dir = arg;
    } else if (!strcmp(n, "output")) {
        o->grid_path = arg;
    } else if (!strcmp(n, "jobs")) {
        long v;
        if (parse_int(arg, 1, 1024, &v))
            return cli_fail("sweep", "-j '%s': expected a number of parallel runs 1..1024", arg);
        o->jobs = (int)v;
    } else if (!strcmp(n, "shard")) {
        size_t a, b;
        if (gs_sweep_parse_shard(arg, &a, &b, &err) != GS_OK)
            return cli_fail("sweep", "%s", err.msg);
        o->shard = arg;
    } else if (!strcmp(n, "scenario")) {
        o->scenario = arg; /* loaded before parsing, see cli_sweep */
    } else if (!strcmp(n, "force")) {
        o->force = 1;
    } else if (!strcmp(n, "theory")) {
        o->theory = 1;
    } else if (!strcmp(n, "size")) {
        if (gs_plot_parse_size(arg, &o->width, &o->height, &err) != GS_OK)
            return cli_fail("sweep", "--size: %s", err.msg);
    } else if (!strcmp(n, "quiet")) {
        o->quiet = 1;
    }
    return 0;
}

/* Reads a whole file into a malloc'd string; NULL with errno set on failure. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (buf && bad) {
        free(buf);
        return NULL;
    }
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* Finds --scenario FILE before the main parse, so that its [run] keys become the base the
 * command line overrides and its vary lines come first. */
static int preload_scenario(int argc, char **argv, GsSpec *spec, GsSweep *sw)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--scenario") && i + 1 < argc)
            path = argv[i + 1];
        else if (!strncmp(argv[i], "--scenario=", 11))
            path = argv[i] + 11;
    }
    if (!path)
        return 0;
    char *text = slurp(path);
    if (!text)
        return cli_fail("sweep", "--scenario '%s': %s", path, strerror(errno));
    GsLesson *L = malloc(sizeof *L);
    GsError err = {{0}};
    int rc = 0;
    if (!L)
        rc = cli_fail_status("sweep", GS_ERR_NOMEM, "out of memory");
    else if (gs_lesson_parse(text, path, L, &err) != GS_OK)
        rc = cli_fail("sweep", "--scenario: %s", err.msg);
    else {
        *spec = L->spec;
        *sw = L->sweep;
    }
    free(L);
    free(text);
    return rc;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cli_sweep(int argc, char **argv)
{
    GsSweep *sw = calloc(1, sizeof *sw);
    if (!sw)
        return cli_fail_status("sweep", GS_ERR_NOMEM, "out of memory");
    SweepOpts o = {.sw = sw, .out_dir = "gradscope-sweep", .jobs = cli_batch_default_jobs()};
    GsSpec spec;
    gs_spec_default(&spec);
    CliJob *jobs = NULL;
    char *grid_buf = NULL;
    int rc = preload_scenario(argc, argv, &spec, sw);
    int pos = 0;
    if (!rc)
        rc = cli_parse("sweep", "--vary KEY=V1,V2,... [--vary ...] [options]",
                       "Train every combination of the varied setup keys (in parallel, one BLAS "
                       "thread each),\nwrite each run's trace to --out DIR (named from its "
                       "varied values), a summary.csv and\ngrid.png: small multiples of the "
                       "gradient heatmap on one shared colour scale.\nRe-running into the same "
                       "directory skips runs whose trace is complete (resume).",
                       argc, argv, &spec, sweep_opts, N_SWEEP_OPTS, sweep_opt, &o, &pos);
    if (rc) {
        free(sw);
        return rc < 0 ? 0 : rc;
    }
    if (pos < argc) {
        rc = cli_fail("sweep", "unexpected argument '%s'", argv[pos]);
        goto done;
    }
    if (sw->n_axes == 0) {
        rc = cli_fail("sweep", "nothing to vary: give --vary KEY=V1,V2,... (see --help)");
        goto done;
    }
    size_t total = gs_sweep_size(sw);
    if (total > MAX_GRID && !o.force) {
        rc = cli_fail("sweep",
                      "%zu setups is more than %d; add --force to run them all (or "
                      "split with --shard)",
                      total, MAX_GRID);
        goto done;
    }
    size_t si = 1, sn = 1, lo = 0, hi = total;
    if (o.shard) {
        gs_sweep_parse_shard(o.shard, &si, &sn, NULL);
        if (sn > total) {
            rc = cli_fail("sweep", "--shard %s: only %zu setups to split", o.shard, total);
            goto done;
        }
        gs_sweep_shard_range(total, si, sn, &lo, &hi);
    }
    /* every setup is checked before anything is written or run */
    jobs = calloc(total, sizeof *jobs);
    if (!jobs) {
        rc = cli_fail_status("sweep", GS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < total; i++) {
        GsError err = {{0}};
        char name[256];
        gs_sweep_run_name(sw, i, name, sizeof name);
        if (gs_sweep_apply(sw, i, &spec, &jobs[i].spec, &err) != GS_OK ||
            gs_spec_validate(&jobs[i].spec, 0, 0, &err) != GS_OK) {
            rc = cli_fail("sweep", "setup %s: %s", name, err.msg);
            goto done;
        }

        snprintf(jobs[i].path, sizeof jobs[i].path, "%s/%s.csv", o.out_dir, name);
        snprintf(jobs[i].label, sizeof jobs[i].label, "%s", name);
        for (char *p = jobs[i].label; *p; p++)
            if (*p == '_' && strchr(p + 1, '='))
                *p = ' ';
    }
    const char *grid_path = o.grid_path;
    if (!grid_path) {
        size_t len = strlen(o.out_dir) + 16;
        grid_buf = malloc(len);
        if (!grid_buf) {
            rc = cli_fail_status("sweep", GS_ERR_NOMEM, "out of memory");
            goto done;
        }
        snprintf(grid_buf, len, "%s/grid.png", o.out_dir);
        grid_path = grid_buf;
    }
    {
        /* no output may be an input or another output (two runs named alike included) */
        char summary_path[4200];
        snprintf(summary_path, sizeof summary_path, "%s/summary.csv", o.out_dir);
        size_t nf = 0;
        CliPath *files = calloc(2 * total + 4, sizeof *files);
        if (!files) {
            rc = cli_fail_status("sweep", GS_ERR_NOMEM, "out of memory");
            goto done;
        }
        files[nf++] = (CliPath){"--config", cli_config_path(), 0};
        files[nf++] = (CliPath){"--scenario", o.scenario, 0};
        for (size_t i = 0; i < total; i++)
            if (jobs[i].spec.data.kind == GS_DATA_CSV)
                files[nf++] = (CliPath){"--data", jobs[i].spec.data.path, 0};
        files[nf++] = (CliPath){"-o", grid_path, 1};
        files[nf++] = (CliPath){"summary", summary_path, 1};
        for (size_t i = 0; i < total; i++)
            files[nf++] = (CliPath){"run trace", jobs[i].path, 1};
        rc = cli_check_same_files("sweep", files, nf);
        free(files);
        if (rc)
            goto done;
    }
    for (size_t i = 0; i < total; i++) {
        /* class targets in a CSV: said once per file */
        int said = 0;
        for (size_t j = 0; j < i && !said; j++)
            said = !strcmp(jobs[j].spec.data.path, jobs[i].spec.data.path) &&
                   !strcmp(jobs[j].spec.target, jobs[i].spec.target);
        cli_resolve_loss("sweep", &jobs[i].spec, o.quiet || said);
    }
    if (gs_mkdir_p(o.out_dir) != 0) {
        rc = cli_fail("sweep", "--out '%s': %s", o.out_dir, strerror(errno));
        goto done;
    }
    if (cli_check_output("sweep", "-o", grid_path, ".png|.svg|.pdf")) {
        rc = GS_EXIT_USAGE;
        goto done;
    }
    /* a sweep killed with SIGKILL may have left temporary files of the outputs this run
     * writes (its slice's traces; the summary and grid when it is not a shard): remove them */
    for (size_t i = lo; i < hi; i++) {
        char side[4200];
        gs_atomic_remove_stale(jobs[i].path);
        if (gs_trace_hist_side_path(jobs[i].path, side, sizeof side))
            gs_atomic_remove_stale(side);
    }
    if (!o.shard || (si == 1 && sn == 1)) {
        char sp[4200];
        snprintf(sp, sizeof sp, "%s/summary.csv", o.out_dir);
        gs_atomic_remove_stale(grid_path);
        gs_atomic_remove_stale(sp);
    }
    /* resume: a complete trace of the same length is kept */
    CliJob *todo = calloc(hi - lo + 1, sizeof *todo);
    if (!todo) {
        rc = cli_fail_status("sweep", GS_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t n_todo = 0, skipped = 0;
    for (size_t i = lo; i < hi; i++) {
        if (gs_sweep_trace_complete(jobs[i].path, &jobs[i].spec))
            skipped++;
        else
            todo[n_todo++] = jobs[i];
    }
    if (!o.quiet && skipped)
        fprintf(stderr, "sweep: %zu of %zu runs already complete in %s (skipped)\n", skipped,
                hi - lo, o.out_dir);
    double t0 = now_s();
    rc = cli_batch_run("sweep", todo, n_todo, o.jobs, o.quiet);
    free(todo);
    double secs = now_s() - t0;
    if (rc)
        goto done;
    if (o.shard && !(si == 1 && sn == 1)) {
        if (!o.quiet)
            printf("gradscope sweep: shard %zu/%zu: runs %zu..%zu of %zu (%zu run, %zu skipped) "
                   "in %.1f s -> %s\nWhen every shard is done: gradscope plot --grid %s\n",
                   si, sn, lo + 1, hi, total, n_todo, skipped, secs, o.out_dir, o.out_dir);
        goto done;
    }
    CliRunSet rs;
    if ((rc = cli_runset_from_sweep("sweep", sw, jobs, total, &rs)))
        goto done;
    char summary[4200];
    snprintf(summary, sizeof summary, "%s/summary.csv", o.out_dir);
    rc = cli_runset_render("sweep", &rs, summary, grid_path, NULL, o.width, o.height, o.theory,
                           NULL);
    cli_runset_fini(&rs);
    if (!rc && !o.quiet)
        printf("gradscope sweep: %zu setups (%zu run, %zu resumed) in %.1f s with -j %d -> %s, "
               "%s\n",
               total, n_todo, skipped, secs, o.jobs, grid_path, summary);
done:
    free(grid_buf);
    free(jobs);
    free(sw);
    return rc;
}
