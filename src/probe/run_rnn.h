/* The recurrent run path of gs_run_setup (private to the probe module). */
#ifndef GS_PROBE_RUN_RNN_H
#define GS_PROBE_RUN_RNN_H

#include "gradscope/record.h"
#include "gradscope/run.h"

/* gs_run_setup for a recurrent arch (spec->arch rnn/lstm/gru): the sequence data set, the
 * net, the optional export (the state_dict tensors and the step-0 batch as data.x.npy /
 * data.y.npy), training with one trace row per weight tensor and the through-time series of
 * every recurrent layer. Errors as gs_run_setup. */
GsStatus gs_run_rnn(const GsSpec *spec, const char *export_dir, GsProgressFn progress, void *ctx,
                    GsTrace **out, GsRunInfo *info, GsError *err);

#endif
