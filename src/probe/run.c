/* One whole run from a setup: data, validation, net, optional weight export, training. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gradscope/record.h"
#include "gradscope/run.h"
#include "probe/record_priv.h"
#include "probe/run_rnn.h"
#include "util/fs.h"

GsStatus gs_run_setup(const GsSpec *spec, const char *export_dir, GsProgressFn progress, void *ctx,
                      GsTrace **out, GsRunInfo *info, GsError *err)
{
    GsStatus st = gs_spec_validate(spec, 0, 0, err);
    if (st != GS_OK)
        return st;
    if (gs_arch_is_recurrent(spec->arch))
        return gs_run_rnn(spec, export_dir, progress, ctx, out, info, err);
    GsLossKind loss = gs_spec_loss(spec);
    GsDataOptions dopt = {(size_t)spec->samples,
                          spec->noise,
                          spec->input_scale,
                          spec->standardize,
                          spec->target[0] ? spec->target : NULL,
                          loss == GS_LOSS_XENT,
                          spec->seed};
    GsDataset *data = NULL;
    if ((st = gs_data_create(&spec->data, &dopt, &data, err)) != GS_OK)
        return st;
    if ((st = gs_spec_validate(spec, data->d_in, data->d_out, err)) != GS_OK) {
        gs_data_destroy(data);
        return st;
    }
    size_t B = spec->batch <= 0 || (size_t)spec->batch >= data->n ? data->n : (size_t)spec->batch;
    GsNet *net = NULL;
    GsTrace *trace = NULL;
    if ((st = gs_net_create(spec, data->d_in, data->d_out, B, &net, err)) != GS_OK)
        goto done;
    if (export_dir) {
        if (gs_mkdir_p(export_dir) != 0) {
            st = gs_error(err, GS_ERR_IO, "--export-weights: cannot create '%s': %s", export_dir,
                          strerror(errno));
            goto done;
        }
        if ((st = gs_net_export_npy(net, export_dir, err)) != GS_OK ||
            (st = gs_record_export_batch(spec, data, export_dir, err)) != GS_OK)
            goto done;
    }
    if ((st = gs_record_create_trace(net, data, &trace)) != GS_OK) {
        gs_error(err, st, "out of memory creating the trace");
        goto done;
    }
    if ((st = gs_record_train(net, data, trace, 1, progress, ctx, err)) != GS_OK)
        goto done;
    if (info) {
        info->d_in = data->d_in;
        info->d_out = data->d_out;
        info->rows = data->n;
        info->input_second_moment = gs_data_input_second_moment(data);
    }
    *out = trace;
    trace = NULL;
done:
    gs_trace_destroy(trace);
    gs_net_destroy(net);
    gs_data_destroy(data);
    return st;
}
