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

/* Exit code for a library status: input problems 2, anything else 3. */
int cli_status_exit(GsStatus st);

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
