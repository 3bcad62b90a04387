/* The recorder: the training loop as one straight line per step (zero grads, forward,
 * loss, backward, probe, clip, optimizer step, probe the update), filling the
 * trace on recorded steps. */
#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/npy.h"
#include "gradscope/optim.h"
#include "gradscope/probe.h"
#include "gradscope/record.h"
#include "gradscope/rng.h"
#include "probe/record_priv.h"

/* Minibatch sampler: a seeded shuffle per epoch; the whole set in file order when the
 * batch covers it. Incomplete tail batches are dropped so every step has B rows. */
typedef struct {
    const GsDataset *data;
    size_t B, pos;
    size_t *perm;
    GsRng rng;
    float *x, *y;
    int32_t *label;
} Sampler;

void gs_record_shuffle(size_t *perm, size_t n, GsRng *rng)
{
    for (size_t i = n ? n - 1 : 0; i > 0; i--) {
        size_t j = (size_t)gs_rng_below(rng, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void shuffle(Sampler *s)
{
    gs_record_shuffle(s->perm, s->data->n, &s->rng);
    s->pos = 0;
}

static int sampler_init(Sampler *s, const GsDataset *data, size_t B, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->data = data;
    s->B = B;
    if (B >= data->n)
        return 1; /* full batch: use the data set's arrays directly */
    s->perm = malloc(data->n * sizeof *s->perm);
    s->x = malloc(B * data->d_in * sizeof(float));
    /* a classification set under mse has both: labels and their one-hot targets */
    if (data->label)
        s->label = malloc(B * sizeof(int32_t));
    if (data->y)
        s->y = malloc(B * data->d_out * sizeof(float));
    if (!s->perm || !s->x || (data->label && !s->label) || (data->y && !s->y))
        return 0;
    for (size_t i = 0; i < data->n; i++)
        s->perm[i] = i;
    gs_rng_seed(&s->rng, gs_rng_derive(seed, 3));
    shuffle(s);
    return 1;
}

static void sampler_fini(Sampler *s)
{
    free(s->perm);
    free(s->x);
    free(s->y);
    free(s->label);
}

static void sampler_next(Sampler *s, const float **x, const float **y, const int32_t **label)
{
    const GsDataset *d = s->data;
    if (!s->perm) {
        *x = d->x, *y = d->y, *label = d->label;
        return;
    }
    if (s->pos + s->B > d->n)
        shuffle(s);
    for (size_t i = 0; i < s->B; i++) {
        size_t r = s->perm[s->pos + i];
        memcpy(s->x + i * d->d_in, d->x + r * d->d_in, d->d_in * sizeof(float));
        if (s->label)
            s->label[i] = d->label[r];
        if (s->y)
            memcpy(s->y + i * d->d_out, d->y + r * d->d_out, d->d_out * sizeof(float));
    }
    s->pos += s->B;
    *x = s->x, *y = s->y, *label = s->label;
}

void gs_record_fill_step(double *row, size_t n_rows, double loss, double lr, double before,
                         double after, int clipped)
{
    for (size_t l = 0; l < n_rows; l++) {
        double *r = row + l * GS_COL_COUNT;
        r[GS_COL_LOSS] = loss;
        r[GS_COL_LR] = lr;
        r[GS_COL_GLOBAL_NORM] = before;
        r[GS_COL_GLOBAL_NORM_POST] = after;
        r[GS_COL_CLIPPED] = clipped;
    }
}

GsStatus gs_record_export_batch(const GsSpec *spec, const GsDataset *data, const char *dir,
                                GsError *err)
{
    size_t B = spec->batch <= 0 || (size_t)spec->batch >= data->n ? data->n : (size_t)spec->batch;
    Sampler smp;
    if (!sampler_init(&smp, data, B, spec->seed)) {
        sampler_fini(&smp);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the exported batch");
    }
    const float *x, *y;
    const int32_t *label;
    sampler_next(&smp, &x, &y, &label);
    char path[4200];
    size_t xs[2] = {B, data->d_in};
    snprintf(path, sizeof path, "%s/data.x.npy", dir);
    GsStatus st = gs_npy_write_f32(path, x, xs, 2, err);
    snprintf(path, sizeof path, "%s/data.y.npy", dir);
    if (st == GS_OK && y) {
        size_t ys[2] = {B, data->d_out};
        st = gs_npy_write_f32(path, y, ys, 2, err);
    } else if (st == GS_OK) {
        /* class ids as float32 (exact below 2^24), one .npy type for every export */
        float *lab = malloc(B * sizeof *lab);
        if (!lab) {
            st = gs_error(err, GS_ERR_NOMEM, "out of memory for the exported batch");
        } else {
            for (size_t i = 0; i < B; i++)
                lab[i] = (float)label[i];
            size_t ls[1] = {B};
            st = gs_npy_write_f32(path, lab, ls, 1, err);
            free(lab);
        }
    }
    sampler_fini(&smp);
    return st;
}

/* Summaries of n rows of d input features as the net sees them (after standardization and
 * input scale), for the inputs_unscaled rule (DESIGN.md): the smallest and largest
 * per-feature std, the largest |mean|, the largest |x|. */
int gs_record_input_stats(GsTrace *t, const float *x, size_t n, size_t d)
{
    double sd_min = INFINITY, sd_max = 0.0, mean_max = 0.0, max_abs = 0.0;
    for (size_t j = 0; j < d; j++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = (double)x[i * d + j];
            s += v;
            if (fabs(v) > max_abs)
                max_abs = fabs(v);
        }
        double mean = n ? s / (double)n : 0.0;
        for (size_t i = 0; i < n; i++) {
            double dv = (double)x[i * d + j] - mean;
            s2 += dv * dv;
        }
        double sd = n ? sqrt(s2 / (double)n) : 0.0;
        sd_min = sd < sd_min ? sd : sd_min;
        sd_max = sd > sd_max ? sd : sd_max;
        mean_max = fabs(mean) > mean_max ? fabs(mean) : mean_max;
    }
    if (d == 0)
        sd_min = 0.0;
    const struct {
        const char *key;
        double v;
    } kv[] = {{"input_feature_std_min", sd_min},
              {"input_feature_std_max", sd_max},
              {"input_mean_abs_max", mean_max},
              {"input_max_abs", max_abs}};
    char buf[40];
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof kv / sizeof kv[0]; i++) {
        snprintf(buf, sizeof buf, "%.17g", kv[i].v);
        ok = gs_trace_meta_set(t, kv[i].key, buf) == GS_OK;
    }
    return ok;
}

/* The trivial baseline loss over n targets, for the not_learning rule: the loss of the best
 * constant prediction. Classification (label, n_classes > 0, no y): the entropy of the class
 * prior (predicting the prior); mse (regression, or one-hot targets y of d_out columns): the
 * mean target variance (predicting the mean), as mse averages over all target columns. Also
 * writes classes = K for classification. */
int gs_record_baseline(GsTrace *t, const float *y, const int32_t *label, size_t n, size_t d_out,
                       size_t n_classes)
{
    double base = 0.0;
    if (!y && label && n_classes > 0) {
        double *cnt = calloc(n_classes, sizeof *cnt);
        if (!cnt)
            return 0;
        for (size_t i = 0; i < n; i++)
            cnt[label[i]] += 1.0;
        for (size_t c = 0; c < n_classes; c++)
            if (cnt[c] > 0) {
                double p = cnt[c] / (double)n;
                base -= p * log(p);
            }
        free(cnt);
    } else if (y && n > 0) {
        for (size_t j = 0; j < d_out; j++) {
            double s = 0.0, s2 = 0.0;
            for (size_t i = 0; i < n; i++)
                s += (double)y[i * d_out + j];
            double mean = s / (double)n;
            for (size_t i = 0; i < n; i++) {
                double dv = (double)y[i * d_out + j] - mean;
                s2 += dv * dv;
            }
            base += s2 / (double)n;
        }
        base /= d_out ? (double)d_out : 1.0;
    }
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", base);
    int ok = gs_trace_meta_set(t, "baseline_loss", buf) == GS_OK;
    if (ok && n_classes > 0) {
        snprintf(buf, sizeof buf, "%zu", n_classes);
        ok = gs_trace_meta_set(t, "classes", buf) == GS_OK;
    }
    return ok;
}

GsStatus gs_record_create_trace(const GsNet *net, const GsDataset *data, GsTrace **out)
{
    GsTrace *t;
    if (gs_trace_create(gs_net_n_layers(net), GS_COL_ALL, &t) != GS_OK)
        return GS_ERR_NOMEM;
    const GsSpec *spec = gs_net_spec(net);
    char buf[1100];
    /* layer names as the exported weights are named: the weight tensor's name without
     * ".weight" (dense{l}, out) */
    size_t nt;
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);
    for (size_t i = 0; i < nt; i++) {
        if (tab[i].role != GS_TENSOR_WEIGHT && tab[i].role != GS_TENSOR_OUT_WEIGHT)
            continue;
        const char *dot = strrchr(tab[i].name, '.');
        assert(dot); /* every weight is named LAYER.weight */
        snprintf(buf, sizeof buf, "%.*s", (int)(dot - tab[i].name), tab[i].name);
        if (gs_trace_set_layer_name(t, tab[i].layer, buf, "linear") != GS_OK) {
            gs_trace_destroy(t);
            return GS_ERR_NOMEM;
        }
    }
    int ok = gs_trace_meta_set(t, "tool", "gradscope " GS_VERSION) == GS_OK;
    for (size_t i = 0; ok && i < gs_spec_key_count(); i++) {
        if (gs_spec_get(spec, gs_spec_key_name(i), buf, sizeof buf) != GS_OK)
            continue;
        ok = gs_trace_meta_set(t, gs_spec_key_name(i), buf) == GS_OK;
    }
    snprintf(buf, sizeof buf, "%s", gs_loss_name(gs_spec_loss(spec)));
    ok = ok && gs_trace_meta_set(t, "loss_used", buf) == GS_OK;
    snprintf(buf, sizeof buf, "%zu", data->n);
    ok = ok && gs_trace_meta_set(t, "data_rows", buf) == GS_OK;
    snprintf(buf, sizeof buf, "%zu", data->d_in);
    ok = ok && gs_trace_meta_set(t, "data_inputs", buf) == GS_OK;
    snprintf(buf, sizeof buf, "%zu", data->d_out);
    ok = ok && gs_trace_meta_set(t, "data_outputs", buf) == GS_OK;
    snprintf(buf, sizeof buf, "%.17g", gs_data_input_second_moment(data));
    ok = ok && gs_trace_meta_set(t, "input_second_moment", buf) == GS_OK;
    ok = ok && gs_record_input_stats(t, data->x, data->n, data->d_in);
    ok = ok && gs_record_baseline(t, data->y, data->label, data->n, data->d_out, data->n_classes);
    snprintf(buf, sizeof buf, "%zu", gs_net_n_params(net));
    ok = ok && gs_trace_meta_set(t, "params", buf) == GS_OK;
    const char *core = openblas_get_corename();
    ok = ok && gs_trace_meta_set(t, "blas_core", core ? core : "unknown") == GS_OK;
    snprintf(buf, sizeof buf, "%d", openblas_get_num_threads());
    ok = ok && gs_trace_meta_set(t, "blas_threads", buf) == GS_OK;
    ok = ok && gs_trace_meta_set(t, "first_nonfinite", "none") == GS_OK;
    ok = ok && gs_trace_hist_enable(t, spec->hist, gs_hist_act_range(&spec->act)) == GS_OK;
    if (!ok) {
        gs_trace_destroy(t);
        return GS_ERR_NOMEM;
    }
    for (int c = 0; c < GS_COL_COUNT; c++)
        gs_trace_set_has(t, (GsCol)c, 1);
    *out = t;
    return GS_OK;
}

/* Layer (1-based) of the first non-finite weight or bias gradient in backward order (output
 * side first), from the last step's records; 0 when none. */
static size_t first_bad_layer(const GsNet *net)
{
    size_t nt;
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);
    const GsTensorRecord *rec = gs_net_records(net);
    for (size_t i = nt; i-- > 0;) {
        const GsTensorInfo *t = &tab[i];
        if (t->role != GS_TENSOR_NORM_WEIGHT && t->role != GS_TENSOR_NORM_BIAS &&
            !isfinite(rec[i].grad.sumsq))
            return t->layer + 1;
    }
    return 0;
}

GsStatus gs_record_train(GsNet *net, const GsDataset *data, GsTrace *trace, int record,
                         GsProgressFn progress, void *ctx, GsError *err)
{
    const GsSpec *spec = gs_net_spec(net);
    size_t B = spec->batch <= 0 || (size_t)spec->batch >= data->n ? data->n : (size_t)spec->batch;
    Sampler smp;
    if (!sampler_init(&smp, data, B, spec->seed)) {
        sampler_fini(&smp);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for minibatches");
    }
    size_t L = gs_net_n_layers(net);
    int seen_bad = 0;
    GsStatus st = GS_OK;
    size_t n_rec = record ? gs_record_n_recorded(spec) : 0;
    if (n_rec > 0 && gs_trace_reserve(trace, gs_trace_n_steps(trace) + n_rec) != GS_OK) {
        sampler_fini(&smp);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for a trace of %zu recorded steps",
                        n_rec);
    }
    /* nothing reads the update arena but the update histograms, which store it themselves */
    gs_net_set_keep_update(net, 0);
    for (long step = 0; step < spec->steps; step++) {
        int rec = record && (step % spec->record_every == 0 || step == spec->steps - 1);
        double lr = gs_schedule_lr(spec, step);
        const float *x, *y;
        const int32_t *label;
        sampler_next(&smp, &x, &y, &label);

        gs_net_set_measure(net, rec); /* backward measures phi' for the probe */
        /* an unrecorded step's update only says whether the gradients are finite */
        gs_net_set_lean_update(net, !rec);
        /* the histograms of gradients and updates are counted by the update pass */
        int hrec = rec && gs_record_hist_due(spec, gs_trace_n_steps(trace), step);
        if ((st = gs_net_set_measure_hist(net, hrec ? gs_trace_hist_kinds(trace) : 0u)) != GS_OK) {
            gs_error(err, st, "out of memory for the histograms");
            break;
        }
        gs_net_forward(net, x, B);
        double loss = gs_net_loss(net, y, label, B);
        /* Backward, clipping and the update; the step measures every tensor once (its
         * records). Without clipping each layer is updated inside backward (same bits). */
        GsStepInfo info;
        int fused = gs_net_can_fuse_step(net);
        if (fused)
            gs_net_backward_step(net, B, lr, step + 1, &info);
        else
            gs_net_backward(net, B);

        double *row = NULL;
        if (rec) {
            if ((st = gs_trace_add_step(trace, step, &row)) != GS_OK) {
                gs_error(err, st, "out of memory recording step %ld", step);
                break;
            }
            gs_probe_acts(net, B, row);
            if (hrec)
                gs_probe_hist_grads(net, B, trace, gs_trace_n_steps(trace) - 1);
        }
        if (!fused)
            gs_net_step(net, lr, step + 1, &info);
        if (!seen_bad && !isfinite(info.norm_before)) {
            char buf[64];
            snprintf(buf, sizeof buf, "%ld,%zu", step, first_bad_layer(net));
            if (trace && gs_trace_meta_set(trace, "first_nonfinite", buf) != GS_OK) {
                st = gs_error(err, GS_ERR_NOMEM, "out of memory");
                break;
            }
            seen_bad = 1;
        }
        if (rec) {
            gs_probe_tensors(net, row);
            if (hrec)
                gs_probe_hist_update(net, trace, gs_trace_n_steps(trace) - 1);
            gs_record_fill_step(row, L, loss, lr, info.norm_before, info.norm_after, info.clipped);
            gs_trace_commit_step(trace);
        }
        if (progress)
            progress(ctx, step, spec->steps, loss);
    }
    gs_net_set_keep_update(net, 1);
    sampler_fini(&smp);
    return st;
}
