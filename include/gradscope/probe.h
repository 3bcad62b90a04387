/* The recorder: trains a net step by step and, at fixed points of each recorded step,
 * runs read-only probes over the gradient and activation arenas into a trace. */
#ifndef GRADSCOPE_PROBE_H
#define GRADSCOPE_PROBE_H

#include <stddef.h>

#include "gradscope/data.h"
#include "gradscope/net.h"
#include "gradscope/spec.h"
#include "gradscope/status.h"
#include "gradscope/trace.h"

/* Fills, for every layer, the gradient and activation statistics of DESIGN.md's trace
 * schema (grad_norm ... nonfinite, without loss, lr and update_ratio) into row, a trace
 * block of n_layers x GS_COL_COUNT. Reads the last backward pass of B rows. Uses the
 * net's scratch buffer; cannot fail. */
void gs_probe_grads(GsNet *net, size_t B, double *row);
/* Fills update_ratio = ||dW_l|| / ||W_l|| for every layer from the net's computed update
 * and the weight_norm already in row (taken before the step). Call after gs_net_optim_step. */
void gs_probe_update(const GsNet *net, double *row);

/* Progress report: called after every step with the step index and loss. */
typedef void (*GsProgressFn)(void *ctx, long step, long steps, double loss);

/* Creates a trace for net's layers and writes the metadata (every setup key, the data
 * shape, the BLAS core and threads). GS_ERR_NOMEM on failure. */
GsStatus gs_record_create_trace(const GsNet *net, const GsDataset *data, GsTrace **out);

/* Trains net on data for spec->steps steps (batches drawn as the spec says), recording
 * every spec->record_every-th step, step 0 and the last step into trace, plus the
 * metadata key first_nonfinite ("STEP,LAYER" of the first non-finite gradient, in
 * backward order, or "none"). record = 0 trains without probing (benchmarks). NaN/Inf in
 * training are recorded, never an error. GS_ERR_NOMEM on failure. */
GsStatus gs_record_train(GsNet *net, const GsDataset *data, GsTrace *trace, int record,
                         GsProgressFn progress, void *ctx, GsError *err);

/* What gs_run_setup learned about the data besides the trace. */
typedef struct {
    size_t d_in, d_out, rows;
    double input_second_moment; /* mean x^2 of the inputs the net saw (theory input) */
} GsRunInfo;

/* One whole run: builds the data set and the net for spec, validates the setup against
 * the data's shape (memory bound), optionally writes the initial weights as .npy into
 * export_dir (created if missing; NULL: none), trains while recording, and hands back the
 * trace. Errors name the offending value (GS_ERR_INVALID/IO/FORMAT/RANGE) or are
 * GS_ERR_NOMEM; *out is untouched on failure. */
GsStatus gs_run_setup(const GsSpec *spec, const char *export_dir, GsProgressFn progress, void *ctx,
                      GsTrace **out, GsRunInfo *info, GsError *err);

#endif
