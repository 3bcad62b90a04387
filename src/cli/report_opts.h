/* Options shared by the commands that render or judge a trace (run, plot, diagnose). */
#ifndef GS_CLI_REPORT_OPTS_H
#define GS_CLI_REPORT_OPTS_H

#include <stdio.h>

#include "gradscope/diagnose.h"
#include "gradscope/plot.h"

/* Report and diagnosis options as parsed from the command line. */
typedef struct {
    const char *output; /* -o FILE */
    const char *json;   /* --json FILE or "-" */
    GsReportOptions report;
    GsThresholds th;
    unsigned fail_mask; /* bit per GsFindingKind */
    int fail_any;
    int verbose, quiet;
} CliReport;

/* Initializes defaults. */
void cli_report_init(CliReport *r);
/* Handles one of the shared options by name; returns 0, 2 after printing an error, or
 * -1 when the name is not a shared option. */
int cli_report_option(CliReport *r, const char *cmd, const char *name, const char *arg);
/* Checks that an output path can be written later: its extension (when exts is not
 * NULL, a "|"-separated list like ".png|.svg|.pdf") and that its directory exists and is
 * writable. Returns 0, or 2 after printing an error naming option and path. */
int cli_check_output(const char *cmd, const char *option, const char *path, const char *exts);
/* Prints findings as readable text to f, most severe first. */
void cli_print_findings(FILE *f, const GsFindings *fs, int verbose);
/* Writes findings (+ prediction) as JSON to path ("-" = stdout), atomically. 0 or 2. */
int cli_write_json(const char *cmd, const char *path, const GsFindings *fs,
                   const GsPrediction *pred);
/* 1 when a finding of a kind in the fail mask is present. */
int cli_should_fail(const CliReport *r, const GsFindings *fs);
/* Writes a string and a newline to path atomically (temp file + rename; see
 * gs_atomic_open). 0, or -1 with err naming path and the reason. */
int cli_write_file_atomic(const char *path, const char *text, GsError *err);

/* Rebuilds the setup and the theory's prediction from a gradscope trace's metadata.
 * Returns 1 and fills *pred (caller finis it) when the trace carries a full setup, else 0. */
int cli_predict_from_meta(const GsTrace *trace, GsPrediction *pred);
/* Loads a trace for rendering/diagnosis (the columns they read plus metric, stored
 * compactly), printing an error naming the file on failure.
 * Returns 0 or an exit code. */
int cli_load_trace_metric(const char *cmd, const char *path, GsCol metric, GsTrace **out);
/* The same with the default metric (grad_norm). */
int cli_load_trace(const char *cmd, const char *path, GsTrace **out);

/* Diagnoses a trace and, when its metadata carries the setup, predicts its step-0 profile
 * (*have_pred says whether *pred was filled; the caller finis both). 0, or an exit code
 * after printing the error. */
int cli_judge_trace(const char *cmd, const GsTrace *trace, const GsThresholds *th, GsFindings *fs,
                    GsPrediction *pred, int *have_pred);

/* The shared options, for --help tables (name, short, has_arg, arg, help): rendering... */
#define CLI_RENDER_OPTS                                                                            \
    {"output", 'o', required_argument, "FILE", "report file: .png, .svg or .pdf"},                 \
        {"metric", 0, required_argument, "COL",                                                    \
         "heatmap metric: any numeric trace column "                                               \
         "[default: grad_norm]"},                                                                  \
        {"relative", 0, no_argument, NULL, "colour by ratio to the output layer (diverging map)"}, \
        {"series", 0, required_argument, "NAME",                                                   \
         "recurrent nets: the through-time series shown (e.g. rnn.h_l1) [default: layer 0's]"},    \
        {"time-absolute", 0, no_argument, NULL,                                                    \
         "recurrent nets: colour log10 ||dL/dh_t|| itself, not relative to t = T"},                \
        {"bin", 0, required_argument, "MODE",                                                      \
         "reduce steps per pixel column: gmean max min "                                           \
         "[default: gmean]"},                                                                      \
        {"size", 0, required_argument, "WxH", "page size in pixels [default: 1600x1000]"},         \
        {"preset", 0, required_argument, "NAME",                                                   \
         "paper: compact single-column figure, 3.5 in wide (PNG 1050 px at 300 dpi, PDF/SVG in "   \
         "points), text >= 7 pt; overrides --size/--scale"},                                       \
    {                                                                                              \
        "scale", 0, required_argument, "F", "device scale for high-DPI PNG [default: 1]"           \
    }
/* ... and diagnosis. */
#define CLI_DIAG_OPTS                                                                              \
    {"json", 0, required_argument, "FILE", "write findings as JSON to FILE ('-' = stdout)"},       \
        {"fail-on", 0, required_argument, "KINDS",                                                 \
         "exit 1 if a finding of these kinds (comma "                                              \
         "list, or 'any' = any warning or error) is "                                              \
         "present"},                                                                               \
        {"threshold", 0, required_argument, "KEY=V",                                               \
         "override a diagnosis threshold "                                                         \
         "(repeatable; see README)"},                                                              \
        {"verbose", 'v', no_argument, NULL, "also list rules skipped for missing columns"},        \
    {                                                                                              \
        "quiet", 'q', no_argument, NULL, "print nothing but errors"                                \
    }
#define CLI_REPORT_OPTS CLI_RENDER_OPTS, CLI_DIAG_OPTS

#endif
