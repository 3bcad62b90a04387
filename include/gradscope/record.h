/* The training loop that records: trains a net step by step and, at fixed points of each
 * recorded step, runs the read-only probes (probe.h) into a trace. */
#ifndef GRADSCOPE_RECORD_H
#define GRADSCOPE_RECORD_H

#include "gradscope/data.h"
#include "gradscope/net.h"
#include "gradscope/status.h"
#include "gradscope/trace.h"

/* Progress report: called after every step with the step index and loss. */
typedef void (*GsProgressFn)(void *ctx, long step, long steps, double loss);

/* Creates a trace for net's layers and writes the metadata (every setup key, the data
 * shape, the BLAS core and the BLAS thread count in effect, which this does not change:
 * the caller decides threads). GS_ERR_NOMEM on failure. */
GsStatus gs_record_create_trace(const GsNet *net, const GsDataset *data, GsTrace **out);

/* Trains net on data for spec->steps steps (batches drawn as the spec says), recording
 * every spec->record_every-th step, step 0 and the last step into trace, plus the
 * metadata key first_nonfinite ("STEP,LAYER" of the first non-finite gradient, in
 * backward order, or "none"). record = 0 trains without probing (benchmarks). NaN/Inf in
 * training are recorded, never an error. GS_ERR_NOMEM on failure. */
GsStatus gs_record_train(GsNet *net, const GsDataset *data, GsTrace *trace, int record,
                         GsProgressFn progress, void *ctx, GsError *err);

#endif
