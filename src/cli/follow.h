/* `gradscope plot --follow`: re-rendering a trace that a training run is still writing. */
#ifndef GS_CLI_FOLLOW_H
#define GS_CLI_FOLLOW_H

#include "cli/report_opts.h"

/* Renders the report of one trace file to out, as `gradscope plot TRACE` does (findings,
 * --json, the progress line unless quiet). Returns 0, 1 for a failed --fail-on check, or an
 * exit code after printing the error. Defined in plot.c. */
int cli_plot_render(const CliReport *r, const char *path, const char *out);

/* Polls path every 0.5 s and calls cli_plot_render whenever the file has changed and ends
 * with a complete line; waits for the file to appear. Stops after the render of a trace whose
 * metadata says `complete = 1`, or on SIGINT/SIGTERM (after finishing a render under way);
 * returns the last render's exit code (0 when nothing was rendered). */
int cli_plot_follow(const CliReport *r, const char *path, const char *out);

#endif
