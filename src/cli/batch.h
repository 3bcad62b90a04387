/* Shared by sweep, demo and plot --grid: running many setups in parallel worker processes
 * (one BLAS thread each) with progress, and turning a set of traces into summary.csv and the
 * grid figure. */
#ifndef GS_CLI_BATCH_H
#define GS_CLI_BATCH_H

#include <stddef.h>

#include "gradscope/diagnose.h"
#include "gradscope/spec.h"
#include "gradscope/sweep.h"
#include "gradscope/trace.h"

/* One run to do: train spec, write its trace to path. */
typedef struct {
    GsSpec spec;
    char path[4096];
    char label[256]; /* for progress lines: "act=relu init=he_normal" */
} CliJob;

/* Runs the jobs with up to n_workers processes at a time (one BLAS thread each when
 * n_workers > 1, the job's `threads` when 1); progress on stderr (a bar on a
 * terminal, plain lines otherwise, nothing when quiet). Returns 0 when every run wrote its
 * trace, else an exit code after printing which runs failed. */
int cli_batch_run(const char *cmd, const CliJob *jobs, size_t n, int n_workers, int quiet);

/* Reads a trace with every column; prints the error and returns its exit code, else 0. */
int cli_batch_load(const char *cmd, const char *path, GsTrace **out);

/* Default worker count: online CPUs (at least 1). */
int cli_batch_default_jobs(void);

/* A set of runs on named keys, for the summary and the grid. values[r * n_keys + k] is run
 * r's text for key k; the order of key k's distinct values is key_values[k][0..n_values[k]). */
typedef struct {
    size_t n_runs, n_keys;
    GsTrace **traces; /* owned */
    char **names;     /* run names, owned */
    char keys[GS_SWEEP_MAX_AXES][64];
    size_t n_values[GS_SWEEP_MAX_AXES];
    char key_values[GS_SWEEP_MAX_AXES][GS_SWEEP_MAX_VALUES][64];
    char (*values)[64]; /* n_runs * n_keys, owned */
    int metric;         /* the grid's heatmap column (GsCol); 0: grad_norm */
} CliRunSet;

/* Frees everything the set owns. */
void cli_runset_fini(CliRunSet *rs);
/* Loads traces from the jobs' paths with the sweep's axes as keys. 0 or exit code. */
int cli_runset_from_sweep(const char *cmd, const GsSweep *sw, const CliJob *jobs, size_t n,
                          CliRunSet *rs);
/* Loads the jobs' traces as one key whose value for run r is labels[r] (distinct). */
int cli_runset_from_cases(const char *cmd, const char *key, const char *const *labels,
                          const CliJob *jobs, size_t n, CliRunSet *rs);
/* Loads every *.csv trace in the directories; keys are the setup keys whose values differ
 * across them (key table order). 0, or 2 after printing (no traces, unreadable). */
int cli_runset_from_dirs(const char *cmd, char *const *dirs, size_t n_dirs, CliRunSet *rs);

/* Diagnoses every run, writes summary_path (when not NULL) and the grid to grid_path (when
 * not NULL), titled title (NULL: built from the fixed keys). with_theory adds the predicted
 * ratio to each cell. worst_out (n_runs entries, may be NULL) receives the findings. */
int cli_runset_render(const char *cmd, const CliRunSet *rs, const char *summary_path,
                      const char *grid_path, const char *title, int width, int height,
                      int with_theory, GsFindings *findings_out);

#endif
