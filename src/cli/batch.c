/* Parallel runs in worker processes (the engine is re-entrant, but one process per run keeps
 * a crash or an abort in one setup from taking the others down), and the summary + grid
 * built from a set of traces, shared by sweep, demo and plot --grid. */
#include "cli/batch.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/report_opts.h"
#include "gradscope/plot.h"
#include "gradscope/run.h"
#include "gradscope/theory.h"

int cli_batch_load(const char *cmd, const char *path, GsTrace **out)
{
    /* every column: the clipping record and the rest feed the summary and the lessons */
    GsError err = {{0}};
    GsStatus st = gs_trace_read_csv(path, GS_COL_ALL, out, &err);
    if (st != GS_OK) {
        return cli_fail_status(cmd, st, err.msg);
    }
    cli_warn_cut_trace(cmd, path, *out);
    return 0;
}

int cli_batch_default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The worker: one run, its trace written atomically; exit status carries the outcome. It
 * dies with its parent: a killed sweep must not leave workers running and writing. */
static void child(const char *cmd, const CliJob *job, pid_t parent, int n_workers)
{
    cli_signals_forget();
    /* SIGTERM, not SIGKILL, so that the worker's handler removes its temporary file */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the parent died before prctl took effect */
        _exit(GS_EXIT_FAIL);
    /* parallel workers share the cores: one BLAS thread each; a lone worker has them all */
    cli_blas_threads(n_workers > 1 ? 1 : gs_spec_blas_threads(&job->spec));
    GsTrace *t = NULL;
    GsRunInfo info;
    GsError err = {{0}};
    GsStatus st = gs_run_setup(&job->spec, NULL, NULL, NULL, &t, &info, &err);
    if (st == GS_OK)
        st = gs_trace_write_csv(t, job->path, &err);
    if (st != GS_OK)
        fprintf(stderr, "gradscope %s: run %s: %s\n", cmd, job->label, err.msg);
    gs_trace_destroy(t);
    fflush(stderr);
    _exit(cli_status_exit(st));
}

static void progress(const char *cmd, size_t done, size_t n, double t0, const char *label, int tty)
{
    double e = now_s() - t0;
    if (tty) {
        char bar[31];
        size_t fill = n ? done * 30 / n : 30;
        for (size_t i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        double eta = done ? e / (double)done * (double)(n - done) : 0;
        fprintf(stderr, "\r%s [%s] %zu/%zu runs  %.1f s elapsed, ~%.0f s left ", cmd, bar, done, n,
                e, eta);
        if (done == n)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %zu/%zu done (%s) %.1f s\n", cmd, done, n, label, e);
    }
    fflush(stderr);
}

int cli_batch_run(const char *cmd, const CliJob *jobs, size_t n, int n_workers, int quiet)
{
    if (n == 0)
        return 0;
    if (n_workers < 1)
        n_workers = 1;
    pid_t *pid = calloc((size_t)n_workers, sizeof *pid);
    size_t *which = calloc((size_t)n_workers, sizeof *which);
    if (!pid || !which) {
        free(pid);
        free(which);
        fprintf(stderr, "gradscope %s: out of memory\n", cmd);
        return GS_EXIT_FAIL;
    }
    int tty = isatty(STDERR_FILENO);
    double t0 = now_s();
    size_t next = 0, done = 0, failed = 0;
    int running = 0, rc = 0;
    if (!quiet && tty)
        progress(cmd, 0, n, t0, "", tty);
    while (done < n) {
        while (running < n_workers && next < n) {
            fflush(stdout);
            fflush(stderr);
            pid_t self = getpid();
            pid_t p = fork();
            if (p < 0) {
                if (running == 0) {
                    fprintf(stderr, "gradscope %s: cannot start a worker: %s\n", cmd,
                            strerror(errno));
                    free(pid);
                    free(which);
                    return GS_EXIT_FAIL;
                }
                break; /* wait for a slot */
            }
            if (p == 0)
                child(cmd, &jobs[next], self, n_workers);
            for (int s = 0; s < n_workers; s++)
                if (pid[s] == 0) {
                    pid[s] = p;
                    which[s] = next;
                    break;
                }
            next++;
            running++;
        }
        int status = 0;
        pid_t p = waitpid(-1, &status, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int slot = -1;
        for (int s = 0; s < n_workers; s++)
            if (pid[s] == p)
                slot = s;
        if (slot < 0)
            continue;
        pid[slot] = 0;
        running--;
        done++;
        const CliJob *j = &jobs[which[slot]];
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : GS_EXIT_FAIL;
        if (code != 0) {
            failed++;
            if (WIFSIGNALED(status))
                fprintf(stderr, "%sgradscope %s: run %s died (signal %d)\n", tty ? "\n" : "", cmd,
                        j->label, WTERMSIG(status));
            if (!rc || code == GS_EXIT_FAIL)
                rc = code;
        }
        if (!quiet)
            progress(cmd, done, n, t0, j->label, tty);
    }
    free(pid);
    free(which);
    if (failed)
        fprintf(stderr, "gradscope %s: %zu of %zu runs failed\n", cmd, failed, n);
    return rc;
}

void cli_runset_fini(CliRunSet *rs)
{
    for (size_t i = 0; i < rs->n_runs; i++) {
        if (rs->traces)
            gs_trace_destroy(rs->traces[i]);
        if (rs->names)
            free(rs->names[i]);
    }
    free(rs->traces);
    free(rs->names);
    free(rs->values);
    memset(rs, 0, sizeof *rs);
}

static int runset_alloc(const char *cmd, CliRunSet *rs, size_t n, size_t n_keys)
{
    memset(rs, 0, sizeof *rs);
    rs->traces = calloc(n ? n : 1, sizeof *rs->traces);
    rs->names = calloc(n ? n : 1, sizeof *rs->names);
    rs->values = calloc((n ? n : 1) * (n_keys ? n_keys : 1), sizeof *rs->values);
    if (!rs->traces || !rs->names || !rs->values) {
        free(rs->traces);
        free(rs->names);
        free(rs->values);
        memset(rs, 0, sizeof *rs);
        fprintf(stderr, "gradscope %s: out of memory\n", cmd);
        return GS_EXIT_FAIL;
    }
    rs->n_runs = n;
    rs->n_keys = n_keys;
    return 0;
}

static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 4 && !strcmp(b + len - 4, ".csv"))
        len -= 4;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, b, len);
        s[len] = '\0';
    }
    return s;
}

int cli_runset_from_sweep(const char *cmd, const GsSweep *sw, const CliJob *jobs, size_t n,
                          CliRunSet *rs)
{
    int rc = runset_alloc(cmd, rs, n, sw->n_axes);
    if (rc)
        return rc;
    for (size_t k = 0; k < sw->n_axes; k++) {
        snprintf(rs->keys[k], sizeof rs->keys[k], "%s", sw->axes[k].key);
        rs->n_values[k] = sw->axes[k].n;
        for (size_t v = 0; v < sw->axes[k].n; v++)
            snprintf(rs->key_values[k][v], 64, "%s", sw->axes[k].values[v]);
    }
    for (size_t r = 0; r < n; r++) {
        size_t choice[GS_SWEEP_MAX_AXES];
        gs_sweep_point(sw, r, choice);
        for (size_t k = 0; k < sw->n_axes; k++)
            snprintf(rs->values[r * rs->n_keys + k], 64, "%s", sw->axes[k].values[choice[k]]);
        rs->names[r] = base_name(jobs[r].path);
        if (!rs->names[r] || (rc = cli_batch_load(cmd, jobs[r].path, &rs->traces[r]))) {
            cli_runset_fini(rs);
            return rc ? rc : GS_EXIT_FAIL;
        }
    }
    return 0;
}

int cli_runset_from_cases(const char *cmd, const char *key, const char *const *labels,
                          const CliJob *jobs, size_t n, CliRunSet *rs)
{
    int rc = runset_alloc(cmd, rs, n, 1);
    if (rc)
        return rc;
    snprintf(rs->keys[0], sizeof rs->keys[0], "%s", key);
    rs->n_values[0] = n < GS_SWEEP_MAX_VALUES ? n : GS_SWEEP_MAX_VALUES;
    for (size_t r = 0; r < n; r++) {
        snprintf(rs->values[r], 64, "%s", labels[r]);
        if (r < GS_SWEEP_MAX_VALUES)
            snprintf(rs->key_values[0][r], 64, "%s", labels[r]);
        rs->names[r] = base_name(jobs[r].path);
        if (!rs->names[r] || (rc = cli_batch_load(cmd, jobs[r].path, &rs->traces[r]))) {
            cli_runset_fini(rs);
            return rc ? rc : GS_EXIT_FAIL;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_number(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return *s && !*end;
}

/* Orders a key's distinct values numerically when they are all numbers. */
static void sort_values(char (*vals)[64], size_t n)
{
    double a, b;
    for (size_t i = 0; i < n; i++)
        if (!is_number(vals[i], &a))
            return;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            is_number(vals[j - 1], &a);
            is_number(vals[j], &b);
            if (a <= b)
                break;
            char tmp[64];
            memcpy(tmp, vals[j], 64);
            memcpy(vals[j], vals[j - 1], 64);
            memcpy(vals[j - 1], tmp, 64);
        }
}

int cli_runset_from_dirs(const char *cmd, char *const *dirs, size_t n_dirs, CliRunSet *rs)
{
    size_t n = 0, cap = 0;
    char **paths = NULL;
    int rc = 0;
    for (size_t d = 0; d < n_dirs && !rc; d++) {
        DIR *dp = opendir(dirs[d]);
        if (!dp) {
            rc = cli_fail(cmd, "--grid: cannot read directory '%s': %s", dirs[d], strerror(errno));
            break;
        }
        struct dirent *e;
        while ((e = readdir(dp))) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".csv") || !strcmp(e->d_name, "summary.csv"))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                char **np = realloc(paths, cap * sizeof *np);
                if (!np) {
                    rc = GS_EXIT_FAIL;
                    break;
                }
                paths = np;
            }
            size_t sz = strlen(dirs[d]) + len + 2;
            paths[n] = malloc(sz);
            if (!paths[n]) {
                rc = GS_EXIT_FAIL;
                break;
            }
            snprintf(paths[n++], sz, "%s/%s", dirs[d], e->d_name);
        }
        closedir(dp);
    }
    if (!rc && n == 0)
        rc = cli_fail(cmd, "--grid: no trace files (*.csv) in %s%s", dirs[0],
                      n_dirs > 1 ? " and the other directories" : "");
    if (!rc)
        qsort(paths, n, sizeof *paths, cmp_str);
    if (!rc && (rc = runset_alloc(cmd, rs, n, 0)) == 0) {
        for (size_t r = 0; r < n && !rc; r++) {
            rs->names[r] = base_name(paths[r]);
            rc = rs->names[r] ? cli_batch_load(cmd, paths[r], &rs->traces[r]) : GS_EXIT_FAIL;
        }
        if (rc)
            cli_runset_fini(rs);
    }
    if (!rc) {
        /* keys whose values differ across traces, in key-table order */
        size_t nk = 0;
        for (size_t i = 0; i < gs_spec_key_count() && nk < GS_SWEEP_MAX_AXES; i++) {
            const char *key = gs_spec_key_name(i);
            if (!strcmp(key, "threads"))
                continue;
            const char *v0 = gs_trace_meta_get(rs->traces[0], key);
            int differ = 0;
            for (size_t r = 1; r < n && !differ; r++) {
                const char *v = gs_trace_meta_get(rs->traces[r], key);
                differ = (v0 == NULL) != (v == NULL) || (v && strcmp(v, v0));
            }
            if (differ)
                snprintf(rs->keys[nk++], 64, "%s", key);
        }
        if (nk == 0)
            snprintf(rs->keys[nk++], 64, "name"); /* identical setups: one cell per file */
        char(*vals)[64] = calloc(n * nk, sizeof *vals);
        if (!vals) {
            cli_runset_fini(rs);
            rc = GS_EXIT_FAIL;
        } else {
            free(rs->values);
            rs->values = vals;
            rs->n_keys = nk;
            for (size_t k = 0; k < nk && !rc; k++) {
                for (size_t r = 0; r < n; r++) {
                    const char *v = !strcmp(rs->keys[k], "name")
                                        ? rs->names[r]
                                        : gs_trace_meta_get(rs->traces[r], rs->keys[k]);
                    snprintf(vals[r * nk + k], 64, "%s", v ? v : "?");
                    size_t j = 0;
                    while (j < rs->n_values[k] && strcmp(rs->key_values[k][j], vals[r * nk + k]))
                        j++;
                    if (j == rs->n_values[k]) {
                        if (j >= GS_SWEEP_MAX_VALUES) {
                            rc = cli_fail(cmd, "--grid: key '%s' has more than %d values",
                                          rs->keys[k], GS_SWEEP_MAX_VALUES);
                            break;
                        }
                        snprintf(rs->key_values[k][j], 64, "%s", vals[r * nk + k]);
                        rs->n_values[k]++;
                    }
                }
                sort_values(rs->key_values[k], rs->n_values[k]);
            }
            if (rc)
                cli_runset_fini(rs);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

static size_t value_index(const CliRunSet *rs, size_t k, const char *v)
{
    for (size_t j = 0; j < rs->n_values[k]; j++)
        if (!strcmp(rs->key_values[k][j], v))
            return j;
    return 0;
}

/* The setup held fixed (the same value in every run's metadata), for the grid's subtitle. */
static void fixed_setup(const CliRunSet *rs, char *buf, size_t size)
{
    static const char *const show[] = {
        "arch",        "data",        "seq-len",     "depth", "width",    "act", "init", "init-hh",
        "forget-bias", "bptt",        "bias-init",   "norm",  "residual", "opt", "lr",   "schedule",
        "clip-norm",   "input-scale", "standardize", "batch", "steps",    "seed"};
    /* the keys that apply to the first run's arch (an lstm has no --act, an mlp no --seq-len) */
    GsArch arch = GS_ARCH_MLP;
    const char *a = gs_trace_meta_get(rs->traces[0], "arch");
    for (int k = 0; a && k <= GS_ARCH_GRU; k++)
        if (!strcmp(a, gs_arch_name((GsArch)k)))
            arch = (GsArch)k;
    size_t w = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof show / sizeof show[0] && w < size; i++) {
        if (!gs_spec_key_applies(show[i], arch) ||
            (!strcmp(show[i], "arch") && arch == GS_ARCH_MLP))
            continue;
        const char *v = gs_trace_meta_get(rs->traces[0], show[i]);
        int varied = 0;
        for (size_t j = 1; v && j < rs->n_runs; j++) {
            const char *u = gs_trace_meta_get(rs->traces[j], show[i]);
            varied |= !u || strcmp(u, v) != 0;
        }
        if (varied || !v)
            continue;
        w += (size_t)snprintf(buf + w, size - w, "%s%s %s", w ? " \xc2\xb7 " : "fixed: ", show[i],
                              v);
    }
}

int cli_runset_render(const char *cmd, const CliRunSet *rs, const char *summary_path,
                      const char *grid_path, const char *title, int width, int height,
                      int with_theory, GsFindings *findings_out)
{
    size_t n = rs->n_runs, nk = rs->n_keys;
    int rc = 0;
    GsFindings *fs = calloc(n, sizeof *fs);
    const GsFindings **fsp = calloc(n, sizeof *fsp);
    GsSweepRow *rows = calloc(n, sizeof *rows);
    double *pred = calloc(n, sizeof *pred);
    const char **vals = calloc(n * (nk + 1), sizeof *vals);
    int *coord = calloc(3 * n, sizeof *coord);
    if (!fs || !fsp || !rows || !pred || !vals || !coord) {
        rc = GS_EXIT_FAIL;
        fprintf(stderr, "gradscope %s: out of memory\n", cmd);
        goto done;
    }
    if (grid_path) {
        size_t np = 1;
        for (size_t k = 2; k < nk; k++)
            np *= rs->n_values[k];
        if (np > 16) {
            rc = cli_fail(cmd,
                          "the grid would need %zu panels: the traces differ in %zu keys "
                          "(%s, %s, %s, ...); give them the same setup but for two or "
                          "three keys",
                          np, nk, rs->keys[0], rs->keys[1], rs->keys[2]);
            goto done;
        }
    }
    GsThresholds th;
    gs_thresholds_default(&th);
    for (size_t r = 0; r < n; r++) {
        GsError err = {{0}};
        if (gs_diagnose(rs->traces[r], &th, &fs[r], &err) != GS_OK) {
            rc = cli_fail(cmd, "%s: %s", rs->names[r], err.msg);
            goto done;
        }
        fsp[r] = &fs[r];
        GsPrediction p = {0};
        pred[r] = cli_predict_from_meta(rs->traces[r], &p) ? p.ratio_first_last : (double)NAN;
        gs_prediction_fini(&p);
        gs_sweep_row_fill(rs->traces[r], &fs[r], pred[r], &rows[r]);
        vals[r * (nk + 1)] = rs->names[r];
        for (size_t k = 0; k < nk; k++)
            vals[r * (nk + 1) + 1 + k] = rs->values[r * nk + k];
    }
    if (summary_path) {
        const char *keys[GS_SWEEP_MAX_AXES + 1];
        keys[0] = "name";
        for (size_t k = 0; k < nk; k++)
            keys[k + 1] = rs->keys[k];
        GsError err = {{0}};
        /* a "name" key from plot --grid duplicates the name column: harmless */
        if (gs_sweep_write_summary(summary_path, nk + 1, keys, n, vals, rows, &err) != GS_OK) {
            rc = cli_fail(cmd, "%s", err.msg);
            goto done;
        }
    }
    if (grid_path) {
        /* rows: the first key; columns: the second; pages: the rest (one key alone: a row) */
        int *row = coord, *col = coord + n, *page = coord + 2 * n;
        size_t nr = 1, nc = 1, np = 1;
        size_t rk = nk >= 2 ? 0 : SIZE_MAX, ck = nk >= 2 ? 1 : 0;
        if (rk != SIZE_MAX)
            nr = rs->n_values[rk];
        nc = rs->n_values[ck];
        for (size_t k = 2; k < nk; k++)
            np *= rs->n_values[k];
        for (size_t r = 0; r < n; r++) {
            row[r] = rk == SIZE_MAX ? 0 : (int)value_index(rs, rk, rs->values[r * nk + rk]);
            col[r] = (int)value_index(rs, ck, rs->values[r * nk + ck]);
            size_t pg = 0;
            for (size_t k = 2; k < nk; k++)
                pg = pg * rs->n_values[k] + value_index(rs, k, rs->values[r * nk + k]);
            page[r] = (int)pg;
        }
        const char *row_labels[GS_SWEEP_MAX_VALUES], *col_labels[GS_SWEEP_MAX_VALUES];
        for (size_t j = 0; j < nr; j++)
            row_labels[j] = rk == SIZE_MAX ? "" : rs->key_values[rk][j];
        for (size_t j = 0; j < nc; j++)
            col_labels[j] = rs->key_values[ck][j];
        char page_key[256] = "", (*page_lab)[256] = calloc(np, 256);
        const char **page_labels = calloc(np, sizeof *page_labels);
        if (!page_lab || !page_labels) {
            free(page_lab);
            free(page_labels);
            rc = GS_EXIT_FAIL;
            goto done;
        }
        for (size_t k = 2; k < nk; k++)
            snprintf(page_key + strlen(page_key), sizeof page_key - strlen(page_key), "%s%s",
                     k > 2 ? ", " : "", rs->keys[k]);
        for (size_t pg = 0; pg < np; pg++) {
            size_t rem = pg, w = 0;
            size_t idx[GS_SWEEP_MAX_AXES] = {0};
            for (size_t k = nk; k-- > 2;) {
                idx[k] = rem % rs->n_values[k];
                rem /= rs->n_values[k];
            }
            for (size_t k = 2; k < nk; k++)
                w += (size_t)snprintf(page_lab[pg] + w, 256 - w, "%s%s", k > 2 ? ", " : "",
                                      rs->key_values[k][idx[k]]);
            page_labels[pg] = page_lab[pg];
        }
        char sub[1024], ttl[256];
        fixed_setup(rs, sub, sizeof sub);
        if (!title) {
            int tt = 1; /* the grid shows recurrent runs through time (gs_plot_grid) */
            for (size_t i = 0; i < n; i++)
                tt &= gs_trace_series_has(rs->traces[i], GS_TCOL_H_GRAD_NORM);
            snprintf(ttl, sizeof ttl, "gradscope sweep: %zu runs, %s", n,
                     tt ? "the gradient through time, relative to t = T"
                        : "gradient norm per layer and step");
            title = ttl;
        }
        GsGridOptions go = {0};
        go.traces = (const GsTrace *const *)rs->traces;
        go.findings = fsp;
        go.row = row;
        go.col = col;
        go.page = page;
        go.predicted = with_theory ? pred : NULL;
        go.metric = rs->metric;
        go.n = n;
        go.n_rows = nr;
        go.n_cols = nc;
        go.n_pages = np;
        go.row_key = rk == SIZE_MAX ? NULL : rs->keys[rk];
        go.col_key = rs->keys[ck];
        go.page_key = nk > 2 ? page_key : NULL;
        go.row_labels = row_labels;
        go.col_labels = col_labels;
        go.page_labels = page_labels;
        go.title = title;
        go.subtitle = sub[0] ? sub : NULL;
        go.width = width;
        go.height = height;
        GsError err = {{0}};
        if (gs_plot_grid(&go, grid_path, &err) != GS_OK)
            rc = cli_fail(cmd, "%s", err.msg);
        free(page_lab);
        free(page_labels);
    }
done:
    for (size_t r = 0; fs && r < n; r++) {
        if (findings_out && !rc) {
            findings_out[r] = fs[r];
            continue;
        }
        gs_findings_fini(&fs[r]);
    }
    free(fs);
    free(fsp);
    free(rows);
    free(pred);
    free(vals);
    free(coord);
    return rc;
}
