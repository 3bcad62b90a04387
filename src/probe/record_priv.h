/* Private interface of the recorder shared by the MLP and the recurrent run paths. */
#ifndef GS_PROBE_RECORD_PRIV_H
#define GS_PROBE_RECORD_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/data.h"
#include "gradscope/rng.h"
#include "gradscope/spec.h"
#include "gradscope/status.h"
#include "gradscope/trace.h"
#include "gradscope/vecstats.h"

/* The minibatch samplers' epoch shuffle (Fisher-Yates from the top, one gs_rng_below draw per
 * entry): the MLP and the recurrent recorder draw the same order for the same seed and n. */
void gs_record_shuffle(size_t *perm, size_t n, GsRng *rng);

/* Writes the batch the MLP trains on at step 0 (the sampler's first draw) into dir as
 * data.x.npy (B, d_in) and data.y.npy: targets (B, d_out), or class ids as float32 (B).
 * GS_ERR_IO naming the file, GS_ERR_NOMEM. */
GsStatus gs_record_export_batch(const GsSpec *spec, const GsDataset *data, const char *dir,
                                GsError *err);

/* Writes the input metadata (input_feature_std_min/max, input_mean_abs_max, input_max_abs)
 * of n rows of d features x. Returns 0 when out of memory, else 1. */
int gs_record_input_stats(GsTrace *t, const float *x, size_t n, size_t d);
/* Writes baseline_loss (and classes for classification) of n targets. 0 when out of memory. */
int gs_record_baseline(GsTrace *t, const float *y, const int32_t *label, size_t n, size_t d_out,
                       size_t n_classes);

/* 1 when training step `step`, recorded as row i of the trace's steps (0 = the first recorded),
 * gets its histograms: every hist-every-th recorded step, counting from the first, and the last
 * training step. The recorder asks before the step (to let the update pass count them). */
static inline int gs_record_hist_due(const GsSpec *spec, size_t i, long step)
{
    return spec->hist && (i % (size_t)spec->hist_every == 0 || step == spec->steps - 1);
}

/* How many training steps a run of spec records: every record-every-th from step 0, and the
 * last. */
static inline size_t gs_record_n_recorded(const GsSpec *spec)
{
    if (spec->steps <= 0)
        return 0;
    long last = spec->steps - 1, every = spec->record_every;
    return (size_t)(last / every + 1 + (last % every != 0));
}

/* Fills the columns every row of a recorded step shares (loss, lr, the global gradient norm
 * before and after clipping, clipped) into the n_rows rows of block row. */
void gs_record_fill_step(double *row, size_t n_rows, double loss, double lr, double before,
                         double after, int clipped);

/* Sum of squares (double), largest |x| (NaN when any entry is NaN) and count of NaN/Inf of
 * n floats: the probe's one statistics kernel. */
GsVecStats gs_probe_stats(const float *x, size_t n);
/* Mean and population std of n floats, sums in double. */
void gs_probe_mean_std(const float *h, size_t n, double *mean, double *std);

#endif
