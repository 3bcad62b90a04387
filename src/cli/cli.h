/* Shared pieces of the command-line front end: option tables built from the setup key
 * table, error reporting with exit codes, and small file helpers. Only src/cli prints. */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "gradscope/spec.h"
#include "gradscope/status.h"
#include "gradscope/trace.h"

/* Exit codes (DESIGN.md). */
enum { GS_EXIT_OK = 0, GS_EXIT_CHECK = 1, GS_EXIT_USAGE = 2, GS_EXIT_FAIL = 3 };

/* A command's own option (beyond the setup keys). */
typedef struct {
    const char *name; /* long name without dashes */
    int short_name;   /* 0 when none */
    int has_arg;      /* no_argument / required_argument */
    const char *arg;  /* argument name for --help ("FILE"), NULL for flags */
    const char *help;
} CliOpt;

/* Called for each of a command's own options (index into its CliOpt table) with its
 * argument (NULL for flags). Returns 0 on success, or prints an error and returns 2. */
typedef int (*CliOptFn)(void *ctx, int index, const char *arg);

/* Parses argv for `gradscope CMD`: the setup keys (when spec is not NULL; --config FILE
 * is loaded first, command-line keys override it), the command's own options, and
 * positional arguments (returned through *first_pos: argv index of the first one after
 * permutation, up to argc). --help prints usage and returns -1 (caller exits 0).
 * Returns 0 on success, 2 after printing an error. */
int cli_parse(const char *cmd, const char *synopsis, const char *about, int argc, char **argv,
              GsSpec *spec, const CliOpt *opts, size_t n_opts, CliOptFn fn, void *ctx,
              int *first_pos);

/* Prints "gradscope CMD: message" to stderr and returns GS_EXIT_USAGE. */
int cli_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prints "gradscope CMD: msg" (escaped like cli_fail) and returns cli_status_exit(st). */
int cli_fail_status(const char *cmd, GsStatus st, const char *msg);

/* A path named on the command line, for cli_check_same_files. */
typedef struct {
    const char *option; /* "--trace", "-o", "--data" */
    const char *path;   /* NULL or "-": skipped */
    int output;         /* 1: written by the command */
} CliPath;

/* Refuses (2, after one line naming both options and the path) when an output is the same
 * file as an input or as another output: by device and inode where the file exists, by
 * the real path of its directory plus its name where it does not. Devices and FIFOs
 * (/dev/null) are never the same. 3 when out of memory. */
int cli_check_same_files(const char *cmd, const CliPath *paths, size_t n);

/* Signals: ignores SIGXFSZ (a write past `ulimit -f` then fails with "File too large"),
 * and on SIGINT/SIGTERM/SIGHUP removes this process's temporary files and directory, then
 * exits 128+sig. Called once by main. */
void cli_signals_init(void);
/* In a forked worker: forget the parent's temporary files (they are not the worker's). */
void cli_signals_forget(void);
/* Creates an empty temporary sibling of dir ("DIR.tmp.XXXXXX", parents of dir created),
 * mode 0777 & ~umask, into tmp, removed on a signal. 0, or -1 with errno set. */
int cli_tmpdir_create(const char *dir, char *tmp, size_t size);
/* Moves tmp's files to dir: by renaming tmp when dir does not exist, else file by file.
 * tmp is gone afterwards. 0, or -1 with errno set. */
int cli_tmpdir_commit(const char *tmp, const char *dir);
/* Removes tmp and its files (a failed run). */
void cli_tmpdir_discard(const char *tmp);

/* The last --config FILE cli_parse loaded (NULL when none), for the same-file check. */
const char *cli_config_path(void);

/* Exit code for a library status: input problems 2, anything else 3. */
int cli_status_exit(GsStatus st);
/* Sets the process-wide BLAS thread count (at least 1). The CLI decides threads: run sets
 * the setup's `threads` once before training; batch workers of a parallel sweep keep 1.
 * The recorder only records the count it sees. Cannot fail. */
void cli_blas_threads(int n);

/* With loss auto and a CSV data set whose target holds only the integers 0..K-1
 * (2 <= K <= 100), sets spec->loss to xent and says so in one stderr line (unless quiet).
 * Leaves spec alone otherwise, also when the file cannot be read (its loader reports that).
 * Cannot fail. */
void cli_resolve_loss(const char *cmd, GsSpec *spec, int quiet);
/* After reading a trace: one stderr warning when its cut-off end was dropped. */
void cli_warn_cut_trace(const char *cmd, const char *path, const GsTrace *trace);

/* Formats v with `digits` significant digits, writing NaN/Inf/-Inf for non-finite values
 * (printf's "-nan" depends on the sign bit). Returns buf. */
char *cli_fmt_g(char *buf, size_t size, double v, int digits);

/* Commands. */
int cli_run(int argc, char **argv);
int cli_plot(int argc, char **argv);
int cli_diagnose(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_sweep(int argc, char **argv);
int cli_demo(int argc, char **argv);

#endif
