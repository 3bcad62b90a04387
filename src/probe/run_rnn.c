/* The recurrent run path: a sequence data set, a GsRnn (PyTorch's cells), and the training
 * loop recording one row per weight tensor (with its bias) and, per recurrent layer, the
 * through-time series rnn.h_l{k}: ||dL/dh_t||, ||dL/dc_t|| and the hidden state's statistics
 * at every t. The optimizer, schedule and clipping are the MLP's (PyTorch's formulas) over the
 * one parameter arena. */
#include "probe/run_rnn.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/hist.h"
#include "gradscope/npy.h"
#include "gradscope/optim.h"
#include "gradscope/rng.h"
#include "gradscope/seq.h"
#include "gradscope/theory.h"
#include "probe/record_priv.h"
#include "util/fs.h"

/* Saturation of a gate value after its nonlinearity: the local derivative below 5% of its
 * largest (DESIGN.md's rule): tanh' = 1 - y^2 < 0.05, sigmoid' = y(1-y) < 0.05 * 1/4. */
#define TANH_SAT2 0.95f
#define SIGM_SAT 0.0125f

/* A trace row of the per-tensor table: weight and bias tensors of the table. */
typedef struct {
    const GsRnnTensor *w, *b;
    size_t layer; /* recurrent layer, or depth for the head */
} Row;

typedef struct {
    const GsSpec *spec;
    GsRnn *net;
    GsSeqDataset *data;
    size_t B, T, K, n_rows;
    Row *rows;
    float *delta, *m, *v; /* optimizer arenas, parameter layout */
    float *x, *y;         /* batch buffers */
    int32_t *label;
    size_t *perm, pos; /* epoch shuffle */
    GsRng rng;
    double *tbuf; /* T doubles for derived series */
} Run;

static void run_free(Run *r)
{
    free(r->rows);
    free(r->delta);
    free(r->m);
    free(r->v);
    free(r->x);
    free(r->y);
    free(r->label);
    free(r->perm);
    free(r->tbuf);
    gs_rnn_destroy(r->net);
    gs_seq_destroy(r->data);
}

/* Per-sample target floats and labels of the data set (per step: T of each). */
static size_t y_per_sample(const GsSeqDataset *d)
{
    return d->y ? (d->per_step ? d->T * d->d_out : d->d_out) : 0;
}
static size_t labels_per_sample(const GsSeqDataset *d)
{
    return d->label ? (d->per_step ? d->T : 1) : 0;
}

/* Minibatches as the MLP sampler draws them: a seeded shuffle per epoch (stream 3 of the
 * seed), the whole set in order when the batch covers it; tail batches dropped. */
static void shuffle(Run *r)
{
    gs_record_shuffle(r->perm, r->data->n, &r->rng);
    r->pos = 0;
}

static void next_batch(Run *r)
{
    if (r->B < r->data->n) {
        if (r->pos + r->B > r->data->n)
            shuffle(r);
    } else {
        r->pos = 0;
    }
    gs_seq_gather(r->data, r->perm + r->pos, r->B, r->x, r->y, r->label);
    r->pos += r->B;
}

/* The per-tensor rows: for layer k, weight_ih_l{k} with bias_ih_l{k}, weight_hh_l{k} with
 * bias_hh_l{k}; then the head out (weight, bias). */
static int build_rows(Run *r)
{
    size_t n;
    const GsRnnTensor *t = gs_rnn_tensors(r->net, &n);
    r->n_rows = 2 * r->K + 1;
    r->rows = calloc(r->n_rows, sizeof *r->rows);
    if (!r->rows)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = t[i].layer;
        switch (t[i].role) {
        case GS_RT_WEIGHT_IH: r->rows[2 * k].w = &t[i]; break;
        case GS_RT_BIAS_IH: r->rows[2 * k].b = &t[i]; break;
        case GS_RT_WEIGHT_HH: r->rows[2 * k + 1].w = &t[i]; break;
        case GS_RT_BIAS_HH: r->rows[2 * k + 1].b = &t[i]; break;
        case GS_RT_OUT_WEIGHT: r->rows[2 * r->K].w = &t[i]; break;
        case GS_RT_OUT_BIAS: r->rows[2 * r->K].b = &t[i]; break;
        default: break; /* the MLP's roles: not in a recurrent table */
        }
    }
    for (size_t i = 0; i < r->n_rows; i++) {
        if (!r->rows[i].w || !r->rows[i].b)
            return 0;
        r->rows[i].layer = i / 2;
    }
    return 1;
}

static const char *row_kind(const Run *r, size_t i)
{
    return i == 2 * r->K ? "linear" : i % 2 == 0 ? "rnn_ih" : "rnn_hh";
}

/* Row name as the tensor's state_dict key without ".weight" (PyTorch tracer's naming). */
static void row_name(const Run *r, size_t i, char *buf, size_t n)
{
    snprintf(buf, n, "%s", r->rows[i].w->name);
    char *dot = strstr(buf, ".weight_");
    if (dot && i != 2 * r->K) /* rnn.weight_ih_l0 stays: it names one of two weights */
        return;
    dot = strstr(buf, ".weight");
    if (dot)
        *dot = '\0';
}

static GsStatus set_meta_num(GsTrace *t, const char *key, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return gs_trace_meta_set(t, key, buf);
}

/* The trace with its layers, series and metadata (setup keys, data shape, BLAS, the recurrent
 * weights' largest singular value and spectral radius at step 0). */
static GsStatus create_trace(Run *r, GsTrace **out)
{
    GsTrace *t;
    if (gs_trace_create(r->n_rows, GS_COL_ALL, &t) != GS_OK)
        return GS_ERR_NOMEM;
    char buf[1100];
    int ok = 1;
    for (size_t i = 0; ok && i < r->n_rows; i++) {
        row_name(r, i, buf, sizeof buf);
        ok = gs_trace_set_layer_name(t, i, buf, row_kind(r, i)) == GS_OK;
    }
    for (size_t k = 0; ok && k < r->K; k++) {
        size_t idx;
        snprintf(buf, sizeof buf, "rnn.h_l%zu", k);
        ok = gs_trace_add_series(t, buf, "state", &idx) == GS_OK && idx == k;
    }
    ok = ok && gs_trace_meta_set(t, "tool", "gradscope " GS_VERSION) == GS_OK;
    const GsSpec *spec = r->spec;
    for (size_t i = 0; ok && i < gs_spec_key_count(); i++) {
        if (gs_spec_get(spec, gs_spec_key_name(i), buf, sizeof buf) != GS_OK)
            continue;
        ok = gs_trace_meta_set(t, gs_spec_key_name(i), buf) == GS_OK;
    }
    const GsRnnConfig *cfg = gs_rnn_config(r->net);
    /* hidden states of a tanh cell, an LSTM or a GRU lie in (-1, 1); a relu cell's do not */
    double act_range = cfg->cell == GS_CELL_RNN_RELU ? 4.0 : 1.0;
    ok = ok && gs_trace_hist_enable(t, spec->hist, act_range) == GS_OK;
    const GsSeqDataset *d = r->data;
    ok = ok &&
         gs_trace_meta_set(t, "loss_used", cfg->loss == GS_RNN_LOSS_XENT ? "xent" : "mse") == GS_OK;
    ok = ok && gs_trace_meta_set(t, "cell", gs_cell_name(cfg->cell)) == GS_OK;
    ok = ok && gs_trace_meta_set(t, "head", d->per_step ? "each_step" : "last_step") == GS_OK;
    ok = ok && set_meta_num(t, "data_rows", (double)d->n) == GS_OK;
    ok = ok && set_meta_num(t, "data_inputs", (double)d->d_in) == GS_OK;
    ok = ok && set_meta_num(t, "data_outputs", (double)d->d_out) == GS_OK;
    double in_m2 = gs_seq_input_second_moment(d);
    ok = ok && set_meta_num(t, "input_second_moment", in_m2) == GS_OK;
    ok = ok && gs_record_input_stats(t, d->x, d->n * d->T, d->d_in);
    size_t ny = d->n * (d->per_step ? d->T : 1);
    ok = ok && gs_record_baseline(t, d->y, d->label, ny, d->d_out, d->n_classes);
    ok = ok && set_meta_num(t, "params", (double)gs_rnn_n_params(r->net)) == GS_OK;
    const char *core = openblas_get_corename();
    ok = ok && gs_trace_meta_set(t, "blas_core", core ? core : "unknown") == GS_OK;
    ok = ok && set_meta_num(t, "blas_threads", openblas_get_num_threads()) == GS_OK;
    ok = ok && gs_trace_meta_set(t, "first_nonfinite", "none") == GS_OK;
    /* the recurrent weights at initialization, which the theory reads */
    for (size_t k = 0; ok && k < r->K; k++) {
        double smax, rho;
        if (gs_rnn_recurrent_spectra(r->net, k, &smax, &rho) != GS_OK) {
            ok = 0;
            break;
        }
        snprintf(buf, sizeof buf, "rnn_sigma_max_l%zu", k);
        ok = set_meta_num(t, buf, smax) == GS_OK;
        snprintf(buf, sizeof buf, "rnn_spectral_radius_l%zu", k);
        ok = ok && set_meta_num(t, buf, rho) == GS_OK;
        /* the theory's per-step factor of ||dL/dh_t|| at init (bottom layer of a one-layer
         * net only: THEORY.md) */
        double gain = k == 0 ? gs_theory_rnn_step_gain(cfg, in_m2, smax, rho) : (double)NAN;
        if (ok && isfinite(gain)) {
            snprintf(buf, sizeof buf, "theory_step_gain_l%zu", k);
            ok = set_meta_num(t, buf, gain) == GS_OK;
        }
    }
    if (!ok) {
        gs_trace_destroy(t);
        return GS_ERR_NOMEM;
    }
    for (int c = 0; c < GS_COL_COUNT; c++)
        gs_trace_set_has(t, (GsCol)c, 1);
    *out = t;
    return GS_OK;
}

/* Fraction of saturated gate entries of layer k over all steps, and of dead units (relu:
 * h = 0 for every sample and step). */
static void gate_stats(const Run *r, size_t k, double *sat, double *dead)
{
    const GsRnnConfig *cfg = gs_rnn_config(r->net);
    size_t H = cfg->hidden, G = gs_cell_gates(cfg->cell), rows = r->T * r->B;
    const float *g = gs_rnn_gates(r->net, k);
    size_t n_sat = 0;
    *dead = 0.0;
    if (cfg->cell == GS_CELL_RNN_RELU) {
        size_t n_dead = 0;
        for (size_t j = 0; j < H; j++) {
            int alive = 0;
            for (size_t i = 0; i < rows && !alive; i++)
                alive = g[i * H + j] != 0.0f;
            n_dead += !alive;
        }
        *sat = 0.0;
        *dead = (double)n_dead / (double)H;
        return;
    }
    for (size_t i = 0; i < rows; i++)
        for (size_t gi = 0; gi < G; gi++) {
            /* tanh blocks: the rnn cell, an LSTM's g (block 2), a GRU's n (block 2) */
            int is_tanh = G == 1 || gi == 2;
            const float *v = g + i * G * H + gi * H;
            for (size_t j = 0; j < H; j++)
                n_sat += is_tanh ? v[j] * v[j] > TANH_SAT2 : v[j] * (1.0f - v[j]) < SIGM_SAT;
        }
    *sat = (double)n_sat / (double)(rows * G * H);
}

/* The per-tensor statistics of a recorded step, before the optimizer step. */
static void probe_rows(Run *r, double *row)
{
    float *p = gs_rnn_params(r->net), *g = gs_rnn_grads(r->net);
    for (size_t i = 0; i < r->n_rows; i++) {
        double *c = row + i * GS_COL_COUNT;
        const Row *rw = &r->rows[i];
        GsVecStats sw = gs_probe_stats(g + rw->w->offset, rw->w->size);
        GsVecStats sb = gs_probe_stats(g + rw->b->offset, rw->b->size);
        GsVecStats w = gs_probe_stats(p + rw->w->offset, rw->w->size);
        c[GS_COL_GRAD_NORM] = sqrt(sw.sumsq);
        c[GS_COL_GRAD_RMS] = sqrt(sw.sumsq / (double)rw->w->size);
        c[GS_COL_BIAS_GRAD_NORM] = sqrt(sb.sumsq);
        c[GS_COL_GRAD_MAX_ABS] = sw.maxabs;
        c[GS_COL_WEIGHT_NORM] = sqrt(w.sumsq);
        c[GS_COL_NONFINITE] = (double)(sw.nonfinite + sb.nonfinite);
        if (i == 2 * r->K) { /* the head: its outputs; a linear map cannot saturate or die */
            const GsRnnConfig *cfg = gs_rnn_config(r->net);
            size_t n = r->B * cfg->d_out * (cfg->head == GS_RNN_HEAD_EACH ? r->T : 1);
            gs_probe_mean_std(gs_rnn_output(r->net), n, &c[GS_COL_ACT_MEAN], &c[GS_COL_ACT_STD]);
            c[GS_COL_SATURATION] = 0.0;
            c[GS_COL_DEAD_FRAC] = 0.0;
            continue;
        }
        /* both tensors of a layer feed the same cell: its hidden states over all steps, the
         * gate saturation, and the gradient reaching its states (sqrt of sum over t of
         * ||dL/dh_t||^2) */
        size_t k = rw->layer, H = gs_rnn_config(r->net)->hidden;
        gs_probe_mean_std(gs_rnn_hidden(r->net, k), r->T * r->B * H, &c[GS_COL_ACT_MEAN],
                          &c[GS_COL_ACT_STD]);
        gate_stats(r, k, &c[GS_COL_SATURATION], &c[GS_COL_DEAD_FRAC]);
        const double *hg = gs_rnn_h_grad_norm(r->net, k);
        double s2 = 0.0;
        for (size_t t = 0; t < r->T; t++)
            s2 += hg[t] * hg[t];
        c[GS_COL_ACT_GRAD_NORM] = sqrt(s2);
    }
}

/* Histograms at recorded step index i: grad and update per weight tensor (weight_ih_l{k},
 * weight_hh_l{k}, out.weight), act = the layer's hidden states over all t and the batch (the
 * same on both rows of a layer), the head's outputs on its row. update reads the optimizer's
 * delta, so it is called after the step. */
static void probe_hist(Run *r, GsTrace *trace, size_t i, int update)
{
    unsigned kinds = gs_trace_hist_kinds(trace);
    const float *g = gs_rnn_grads(r->net);
    const GsRnnConfig *cfg = gs_rnn_config(r->net);
    for (size_t j = 0; j < r->n_rows; j++) {
        const GsRnnTensor *w = r->rows[j].w;
        if (update) {
            if (kinds & (1u << GS_HIST_UPDATE))
                gs_hist_add(gs_trace_hist_slot(trace, i, j, GS_HIST_UPDATE), r->delta + w->offset,
                            w->size, 0.0);
            continue;
        }
        if (kinds & (1u << GS_HIST_GRAD))
            gs_hist_add(gs_trace_hist_slot(trace, i, j, GS_HIST_GRAD), g + w->offset, w->size, 0.0);
        if (!(kinds & (1u << GS_HIST_ACT)))
            continue;
        float *a = gs_trace_hist_slot(trace, i, j, GS_HIST_ACT);
        double range = gs_trace_hist_act_range(trace);
        if (j == 2 * r->K) {
            size_t n = r->B * cfg->d_out * (cfg->head == GS_RNN_HEAD_EACH ? r->T : 1);
            gs_hist_add(a, gs_rnn_output(r->net), n, range);
        } else {
            gs_hist_add(a, gs_rnn_hidden(r->net, r->rows[j].layer), r->T * r->B * cfg->hidden,
                        range);
        }
    }
}

/* The through-time series of every layer at recorded step index i. */
static GsStatus probe_series(Run *r, GsTrace *trace, size_t i)
{
    GsStatus st = GS_OK;
    for (size_t k = 0; st == GS_OK && k < r->K; k++) {
        const double *c = gs_rnn_c_grad_norm(r->net, k);
        st = gs_trace_series_set(trace, i, k, GS_TCOL_H_GRAD_NORM, gs_rnn_h_grad_norm(r->net, k),
                                 r->T);
        if (st == GS_OK && c)
            st = gs_trace_series_set(trace, i, k, GS_TCOL_C_GRAD_NORM, c, r->T);
        if (st == GS_OK)
            st = gs_trace_series_set(trace, i, k, GS_TCOL_H_MEAN, gs_rnn_h_mean(r->net, k), r->T);
        if (st == GS_OK)
            st = gs_trace_series_set(trace, i, k, GS_TCOL_H_STD, gs_rnn_h_std(r->net, k), r->T);
        if (st == GS_OK)
            st = gs_trace_series_set(trace, i, k, GS_TCOL_H_SATURATION,
                                     gs_rnn_h_saturation(r->net, k), r->T);
    }
    return st;
}

/* Row of the first non-finite gradient in backward order (the head first). */
static size_t first_bad_row(Run *r)
{
    float *g = gs_rnn_grads(r->net);
    for (size_t i = r->n_rows; i >= 1; i--) {
        const Row *rw = &r->rows[i - 1];
        if (!isfinite(gs_l2(g + rw->w->offset, rw->w->size)) ||
            !isfinite(gs_l2(g + rw->b->offset, rw->b->size)))
            return i;
    }
    return 0;
}

/* Notes the first non-finite gradient (step and row) in the trace's metadata, once. */
static GsStatus note_first_bad(Run *r, GsTrace *trace, long step, double norm, int *seen_bad)
{
    if (*seen_bad || isfinite(norm))
        return GS_OK;
    char buf[64];
    snprintf(buf, sizeof buf, "%ld,%zu", step, first_bad_row(r));
    *seen_bad = 1;
    return gs_trace_meta_set(trace, "first_nonfinite", buf);
}

static GsStatus train(Run *r, GsTrace *trace, GsProgressFn progress, void *ctx, GsError *err)
{
    const GsSpec *spec = r->spec;
    size_t n = gs_rnn_n_params(r->net);
    float *p = gs_rnn_params(r->net), *g = gs_rnn_grads(r->net);
    int seen_bad = 0;
    size_t n_rec = gs_record_n_recorded(spec);
    if (n_rec > 0 && gs_trace_reserve(trace, gs_trace_n_steps(trace) + n_rec) != GS_OK)
        return gs_error(err, GS_ERR_NOMEM, "out of memory for a trace of %zu recorded steps",
                        n_rec);
    for (long step = 0; step < spec->steps; step++) {
        int rec = step % spec->record_every == 0 || step == spec->steps - 1;
        double lr = gs_schedule_lr(spec, step);
        next_batch(r);
        gs_rnn_zero_grad(r->net);
        gs_rnn_forward(r->net, r->x, r->B, r->T);
        double loss = gs_rnn_loss(r->net, r->y, r->label);
        gs_rnn_backward(r->net);
        double *row = NULL;
        int hrec = 0;
        if (rec) {
            GsStatus st = gs_trace_add_step(trace, step, &row);
            if (st == GS_OK)
                st = probe_series(r, trace, gs_trace_n_steps(trace) - 1);
            if (st != GS_OK)
                return gs_error(err, st, "out of memory recording step %ld", step);
            probe_rows(r, row);
            hrec = gs_record_hist_due(spec, gs_trace_n_steps(trace) - 1, step);
            if (hrec)
                probe_hist(r, trace, gs_trace_n_steps(trace) - 1, 0);
        }
        /* With clipping the norm is needed first (one pass); without, the update pass's
         * record gives it: the same lanes over the same arena, so the same bits. */
        const int clips = spec->clip_norm > 0 || spec->clip_value > 0;
        double before = clips ? gs_l2(g, n) : 0.0;
        if (clips && note_first_bad(r, trace, step, before, &seen_bad) != GS_OK)
            return gs_error(err, GS_ERR_NOMEM, "out of memory");
        int clipped = 0;
        if (spec->clip_norm > 0 && gs_clip_norm(g, n, before, spec->clip_norm))
            clipped = 1;
        if (spec->clip_value > 0 && gs_clip_value(g, n, spec->clip_value) > 0)
            clipped = 1;
        GsOptStep o = {spec->opt, lr, spec->opt_param, spec->weight_decay, step + 1, !rec};
        /* on an unrecorded step the record only says whether g is finite (optim.h) */
        GsUpdateRecord urec; /* ||g||^2 of the gradient the update used */
        gs_optim_step(r->delta, p, g, r->m, r->v, n, &o, &urec, NULL);
        double applied = sqrt(urec.grad.sumsq);
        if (!clips) {
            before = applied;
            if (note_first_bad(r, trace, step, before, &seen_bad) != GS_OK)
                return gs_error(err, GS_ERR_NOMEM, "out of memory");
        }
        double after = clipped ? applied : before;
        if (rec) {
            if (hrec)
                probe_hist(r, trace, gs_trace_n_steps(trace) - 1, 1);
            for (size_t i = 0; i < r->n_rows; i++) {
                double *c = row + i * GS_COL_COUNT;
                const GsRnnTensor *w = r->rows[i].w;
                c[GS_COL_UPDATE_RATIO] =
                    gs_l2(r->delta + w->offset, w->size) / c[GS_COL_WEIGHT_NORM];
            }
            gs_record_fill_step(row, r->n_rows, loss, lr, before, after, clipped);
            gs_trace_commit_step(trace);
        }
        if (progress)
            progress(ctx, step, spec->steps, loss);
    }
    return GS_OK;
}

/* The step-0 batch as data.x.npy ((B, T, D)) and data.y.npy (targets (B, d_out) or (B, T,
 * d_out) as float32; class ids as float32 (B) or (B, T)). */
static GsStatus export_batch(Run *r, const char *dir, GsError *err)
{
    const GsSeqDataset *d = r->data;
    char path[4200];
    size_t shape[3] = {r->B, r->T, d->d_in};
    snprintf(path, sizeof path, "%s/data.x.npy", dir);
    GsStatus st = gs_npy_write_f32(path, r->x, shape, 3, err);
    if (st != GS_OK)
        return st;
    snprintf(path, sizeof path, "%s/data.y.npy", dir);
    if (d->y) {
        size_t ys[3] = {r->B, d->per_step ? r->T : d->d_out, d->d_out};
        return gs_npy_write_f32(path, r->y, ys, d->per_step ? 3 : 2, err);
    }
    size_t nl = r->B * labels_per_sample(d);
    float *lab = malloc(nl * sizeof *lab);
    if (!lab)
        return gs_error(err, GS_ERR_NOMEM, "out of memory exporting the batch");
    for (size_t i = 0; i < nl; i++)
        lab[i] = (float)r->label[i];
    size_t ls[2] = {r->B, r->T};
    st = gs_npy_write_f32(path, lab, ls, d->per_step ? 2 : 1, err);
    free(lab);
    return st;
}

GsStatus gs_run_rnn(const GsSpec *spec, const char *export_dir, GsProgressFn progress, void *ctx,
                    GsTrace **out, GsRunInfo *info, GsError *err)
{
    Run r;
    memset(&r, 0, sizeof r);
    r.spec = spec;
    int seq = gs_data_seq_kind(spec->data.kind);
    if (seq < 0)
        return gs_error(err, GS_ERR_INVALID, "--arch %s needs a sequence data set",
                        gs_arch_name(spec->arch));
    GsSeqOptions so = {(GsSeqKind)seq, (size_t)spec->samples, (size_t)spec->seq_len, 0, 0,
                       spec->seed};
    GsStatus st = gs_seq_create(&so, &r.data, err);
    if (st != GS_OK) {
        /* name the option behind the data's own limits */
        if (err && st == GS_ERR_INVALID) {
            char tmp[sizeof err->msg];
            snprintf(tmp, sizeof tmp, "--data %s with --seq-len %ld: %.900s",
                     gs_seq_name((GsSeqKind)seq), spec->seq_len, err->msg);
            memcpy(err->msg, tmp, sizeof tmp);
        }
        return st;
    }
    const GsSeqDataset *d = r.data;
    if ((st = gs_spec_validate(spec, d->d_in, d->d_out, err)) != GS_OK)
        goto done;
    r.T = d->T;
    r.K = (size_t)spec->depth;
    r.B = spec->batch <= 0 || (size_t)spec->batch >= d->n ? d->n : (size_t)spec->batch;
    GsRnnConfig cfg;
    if ((st = gs_spec_rnn_config(spec, d->d_in, d->d_out, d->per_step, r.B, &cfg, err)) != GS_OK)
        goto done;
    if ((st = gs_rnn_create(&cfg, &r.net, err)) != GS_OK)
        goto done;
    size_t n = gs_rnn_n_params(r.net);
    r.delta = calloc(n ? n : 1, sizeof(float));
    r.m = calloc(n ? n : 1, sizeof(float));
    r.v = calloc(n ? n : 1, sizeof(float));
    r.x = malloc(r.B * r.T * d->d_in * sizeof(float));
    r.y = d->y ? malloc(r.B * y_per_sample(d) * sizeof(float)) : NULL;
    r.label = d->label ? malloc(r.B * labels_per_sample(d) * sizeof(int32_t)) : NULL;
    r.perm = malloc(d->n * sizeof *r.perm);
    if (!r.delta || !r.m || !r.v || !r.x || (d->y && !r.y) || (d->label && !r.label) || !r.perm ||
        !build_rows(&r)) {
        st = gs_error(err, GS_ERR_NOMEM, "out of memory creating the recurrent run");
        goto done;
    }
    for (size_t i = 0; i < d->n; i++)
        r.perm[i] = i;
    gs_rng_seed(&r.rng, gs_rng_derive(spec->seed, 3));
    if (r.B < d->n)
        shuffle(&r);
    GsTrace *trace = NULL;
    if (export_dir) {
        if (gs_mkdir_p(export_dir) != 0) {
            st = gs_error(err, GS_ERR_IO, "--export-weights: cannot create '%s': %s", export_dir,
                          strerror(errno));
            goto done;
        }
        if ((st = gs_rnn_export_npy(r.net, export_dir, err)) != GS_OK)
            goto done;
        /* the batch step 0 trains on: draw it, write it, and rewind the sampler */
        GsRng saved = r.rng;
        size_t pos = r.pos;
        next_batch(&r);
        st = export_batch(&r, export_dir, err);
        r.rng = saved;
        r.pos = pos;
        if (st != GS_OK)
            goto done;
    }
    if ((st = create_trace(&r, &trace)) != GS_OK) {
        gs_error(err, st, "out of memory creating the trace");
        goto done;
    }
    if ((st = train(&r, trace, progress, ctx, err)) != GS_OK) {
        gs_trace_destroy(trace);
        goto done;
    }
    if (info) {
        info->d_in = d->d_in;
        info->d_out = d->d_out;
        info->rows = d->n;
        const char *m = gs_trace_meta_get(trace, "input_second_moment");
        info->input_second_moment = m ? strtod(m, NULL) : 0.0;
    }
    *out = trace;
done:
    run_free(&r);
    return st;
}
