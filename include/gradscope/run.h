/* A whole run: builds the data set and the net a setup describes, then trains it through
 * the recorder (record.h) and hands back the trace. */
#ifndef GRADSCOPE_RUN_H
#define GRADSCOPE_RUN_H

#include <stddef.h>

#include "gradscope/record.h"
#include "gradscope/spec.h"
#include "gradscope/status.h"
#include "gradscope/trace.h"

/* What gs_run_setup learned about the data besides the trace. */
typedef struct {
    size_t d_in, d_out, rows;
    double input_second_moment; /* mean x^2 of the inputs the net saw (theory input) */
} GsRunInfo;

/* One whole run: builds the data set and the net for spec, validates the setup against
 * the data's shape (memory bound), optionally writes the initial weights as .npy into
 * export_dir (created if missing; NULL: none), trains while recording, and hands back the
 * trace. Errors name the offending value (GS_ERR_INVALID/IO/FORMAT/RANGE) or are
 * GS_ERR_NOMEM; *out is untouched on failure. info may be NULL. */
GsStatus gs_run_setup(const GsSpec *spec, const char *export_dir, GsProgressFn progress, void *ctx,
                      GsTrace **out, GsRunInfo *info, GsError *err);

#endif
