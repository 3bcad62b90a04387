/* Recorder tests: known activations and gradients in, exact statistics out (including
 * NaN/Inf, saturation and dead units); recording cadence, determinism, first non-finite. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "gradscope/probe.h"
#include "gradscope/record.h"
#include "runner.h"

/* A tensor of layer (0-based) and role in the net's parameter or gradient arena. */
static float *in_arena(GsNet *net, float *arena, size_t layer, GsTensorRole role)
{
    const GsTensorInfo *t = gs_net_tensor(net, layer, role);
    ck_assert_ptr_nonnull(t);
    return arena + t->offset;
}
static float *param(GsNet *net, size_t layer, GsTensorRole role)
{
    return in_arena(net, gs_net_params(net), layer, role);
}
static float *grad(GsNet *net, size_t layer, GsTensorRole role)
{
    return in_arena(net, gs_net_grads(net), layer, role);
}

static GsNet *tiny_net(const char *act, float w0, float w1, float w2)
{
    GsSpec s;
    gs_spec_default(&s);
    s.depth = 1;
    s.width = 3;
    ck_assert_int_eq(gs_spec_set(&s, "act", act, NULL), GS_OK);
    ck_assert_int_eq(gs_spec_set(&s, "loss", "mse", NULL), GS_OK);
    GsNet *net = NULL;
    ck_assert_int_eq(gs_net_create(&s, 1, 1, 2, &net, NULL), GS_OK);
    float *w1_ = param(net, 0, GS_TENSOR_WEIGHT), *w2_ = param(net, 1, GS_TENSOR_OUT_WEIGHT);
    w1_[0] = w0, w1_[1] = w1, w1_[2] = w2;
    memset(param(net, 0, GS_TENSOR_BIAS), 0, 3 * sizeof(float));
    w2_[0] = 1, w2_[1] = 1, w2_[2] = 1;
    param(net, 1, GS_TENSOR_OUT_BIAS)[0] = 0;
    return net;
}

START_TEST(test_known_statistics)
{
    GsNet *net = tiny_net("relu", 1, -1, 0);
    float x[2] = {1, 2}, y[2] = {0, 0};
    gs_net_zero_grad(net);
    gs_net_forward(net, x, 2);
    gs_net_loss(net, y, NULL, 2);
    gs_net_backward(net, 2);
    /* Overwrite with known gradients; the probe only reads. */
    float *dw = grad(net, 0, GS_TENSOR_WEIGHT), *db = grad(net, 0, GS_TENSOR_BIAS);
    dw[0] = 3, dw[1] = -4, dw[2] = 0;
    db[0] = NAN, db[1] = 0, db[2] = INFINITY;
    float *dz = (float *)gs_net_layer_dz(net, 1);
    for (int i = 0; i < 6; i++)
        dz[i] = i % 2 ? 2.0f : 0.0f; /* 3 entries of 2 -> norm sqrt(12) */
    double row[2 * GS_COL_COUNT];
    for (int i = 0; i < 2 * GS_COL_COUNT; i++)
        row[i] = NAN;
    gs_probe_acts(net, 2, row);
    /* the tensor columns come from the step's records: sgd at lr 0.1 */
    GsStepInfo info;
    gs_net_step(net, 0.1, 1, &info);
    gs_probe_tensors(net, row);
    ck_assert(isnan(info.norm_before) && isnan(info.norm_after) && !info.clipped);
    ck_assert_double_eq_tol(row[GS_COL_GRAD_NORM], 5.0, 1e-12);
    /* per entry over the 1 x 3 weight: 5 / sqrt(3) */
    ck_assert_double_eq_tol(row[GS_COL_GRAD_RMS], 5.0 / sqrt(3.0), 1e-12);
    ck_assert_double_eq_tol(row[GS_COL_GRAD_MAX_ABS], 4.0, 1e-12);
    ck_assert(isnan(row[GS_COL_BIAS_GRAD_NORM]));
    ck_assert_double_eq(row[GS_COL_NONFINITE], 2.0);
    ck_assert_double_eq_tol(row[GS_COL_ACT_GRAD_NORM], sqrt(12.0), 1e-12);
    ck_assert_double_eq_tol(row[GS_COL_WEIGHT_NORM], sqrt(2.0), 1e-7);
    /* h = relu([[1,-1,0],[2,-2,0]]) = [[1,0,0],[2,0,0]]: mean 0.5, std sqrt(5/6 - 1/4) */
    ck_assert_double_eq_tol(row[GS_COL_ACT_MEAN], 0.5, 1e-12);
    ck_assert_double_eq_tol(row[GS_COL_ACT_STD], sqrt(5.0 / 6 - 0.25), 1e-12);
    /* units 2 (always negative) and 3 (always exactly 0: relu'(0) = 0) are dead */
    ck_assert_double_eq_tol(row[GS_COL_DEAD_FRAC], 2.0 / 3, 1e-12);
    ck_assert_double_eq(row[GS_COL_SATURATION], 0.0); /* relu cannot saturate */
    /* output layer: linear, never saturated or dead */
    ck_assert_double_eq(row[GS_COL_COUNT + GS_COL_SATURATION], 0.0);
    ck_assert_double_eq(row[GS_COL_COUNT + GS_COL_DEAD_FRAC], 0.0);

    /* update ratio: sgd lr 0.1 on dw (3,-4,0) -> ||dW|| 0.5, ||W|| sqrt(2) before the step */
    ck_assert_double_eq_tol(row[GS_COL_UPDATE_RATIO], 0.5 / sqrt(2.0), 1e-7);
    gs_net_destroy(net);
}
END_TEST

START_TEST(test_saturation)
{
    /* tanh with pre-activations (5, 0.1, -5) x input 1 and 2: |z| >= 5 saturates. */
    GsNet *net = tiny_net("tanh", 5, 0.1f, -5);
    float x[2] = {1, 2}, y[2] = {0, 0};
    gs_net_zero_grad(net);
    gs_net_forward(net, x, 2);
    gs_net_loss(net, y, NULL, 2);
    gs_net_backward(net, 2);
    double row[2 * GS_COL_COUNT];
    gs_probe_acts(net, 2, row);
    ck_assert_double_eq_tol(row[GS_COL_SATURATION], 4.0 / 6, 1e-12);
    ck_assert_double_eq(row[GS_COL_DEAD_FRAC], 0.0);
    /* sigmoid: largest derivative 0.25, so saturated means sigma' < 0.0125 (|z| > ~4.37) */
    GsNet *sg = tiny_net("sigmoid", 4, 4.5f, 0);
    gs_net_zero_grad(sg);
    gs_net_forward(sg, x, 2);
    gs_net_loss(sg, y, NULL, 2);
    gs_net_backward(sg, 2);
    gs_probe_acts(sg, 2, row);
    /* z = (4, 4.5, 0) and (8, 9, 0): saturated 4.5, 8, 9 -> 3 of 6 */
    ck_assert_double_eq_tol(row[GS_COL_SATURATION], 3.0 / 6, 1e-12);
    gs_net_destroy(net);
    gs_net_destroy(sg);
}
END_TEST

/* The activation columns measured inside the fused forward/backward passes equal the
 * probe's own passes over the buffers bit for bit (rows of a multiple of the lane count and
 * not; saturating, dying and normed layers). */
START_TEST(test_measured_passes_match)
{
    const char *setups[] = {"--act tanh --width 16 --init normal:1",
                            "--act relu --width 6 --bias-init const:-0.5",
                            "--act sigmoid --width 24 --norm layer", "--act gelu --width 8"};
    for (size_t k = 0; k < sizeof setups / sizeof *setups; k++) {
        GsSpec s;
        gs_spec_default(&s);
        GsError err = {{0}};
        ck_assert_int_eq(gs_spec_apply_args(&s, setups[k], &err), GS_OK);
        s.depth = 3;
        ck_assert_int_eq(gs_spec_set(&s, "loss", "mse", NULL), GS_OK);
        GsNet *net = NULL;
        ck_assert_int_eq(gs_net_create(&s, 2, 1, 12, &net, NULL), GS_OK);
        float x[24], y[12];
        for (int i = 0; i < 24; i++)
            x[i] = (float)sin(1.3 * i);
        for (int i = 0; i < 12; i++)
            y[i] = (float)cos(0.4 * i);
        double a[4 * GS_COL_COUNT], b[4 * GS_COL_COUNT];
        for (int measure = 0; measure < 2; measure++) {
            gs_net_set_measure(net, measure);
            gs_net_forward(net, x, 12);
            gs_net_loss(net, y, NULL, 12);
            gs_net_backward(net, 12);
            ck_assert_int_eq(gs_net_layer_measure(net, 1)->backward,
                             measure && s.norm == GS_NORM_NONE);
            gs_probe_acts(net, 12, measure ? a : b);
        }
        const GsCol cols[] = {GS_COL_ACT_GRAD_NORM, GS_COL_ACT_MEAN, GS_COL_ACT_STD,
                              GS_COL_SATURATION, GS_COL_DEAD_FRAC};
        for (size_t l = 0; l < 4; l++)
            for (size_t c = 0; c < sizeof cols / sizeof *cols; c++) {
                double va = a[l * GS_COL_COUNT + cols[c]], vb = b[l * GS_COL_COUNT + cols[c]];
                ck_assert_msg(va == vb, "%s layer %zu col %d: %.17g vs %.17g", setups[k], l + 1,
                              (int)cols[c], va, vb);
            }
        gs_net_destroy(net);
    }
}
END_TEST

/* The fused backward-and-update equals backward followed by the step, bit for bit: the
 * parameters, the update, the optimizer state's effect over three steps, the records and the
 * global norm (dense, norm and residual layers; several optimizers). */
START_TEST(test_backward_step_fused)
{
    const char *setups[] = {"--act tanh --width 16 --opt sgd",
                            "--act relu --width 12 --opt adam --weight-decay 0.01 --norm batch",
                            "--act gelu --width 8 --opt nesterov --residual 2 --norm layer",
                            "--act sigmoid --width 24 --opt rmsprop"};
    for (size_t k = 0; k < sizeof setups / sizeof *setups; k++) {
        GsSpec s;
        gs_spec_default(&s);
        GsError err = {{0}};
        ck_assert_int_eq(gs_spec_apply_args(&s, setups[k], &err), GS_OK);
        s.depth = 5;
        ck_assert_int_eq(gs_spec_set(&s, "loss", "mse", NULL), GS_OK);
        GsNet *a = NULL, *b = NULL;
        ck_assert_int_eq(gs_net_create(&s, 2, 1, 10, &a, NULL), GS_OK);
        ck_assert_int_eq(gs_net_create(&s, 2, 1, 10, &b, NULL), GS_OK);
        ck_assert(gs_net_can_fuse_step(a));
        float x[20], y[10];
        for (int i = 0; i < 20; i++)
            x[i] = (float)sin(0.9 * i);
        for (int i = 0; i < 10; i++)
            y[i] = (float)cos(0.5 * i);
        for (long t = 1; t <= 3; t++) {
            GsStepInfo ia, ib;
            gs_net_forward(a, x, 10);
            gs_net_loss(a, y, NULL, 10);
            gs_net_backward(a, 10);
            gs_net_step(a, 0.05, t, &ia);
            gs_net_forward(b, x, 10);
            gs_net_loss(b, y, NULL, 10);
            gs_net_backward_step(b, 10, 0.05, t, &ib);
            size_t n = gs_net_n_params(a), nt;
            ck_assert(memcmp(gs_net_params(a), gs_net_params(b), n * sizeof(float)) == 0);
            ck_assert(memcmp(gs_net_grads(a), gs_net_grads(b), n * sizeof(float)) == 0);
            ck_assert(memcmp(gs_net_update(a), gs_net_update(b), n * sizeof(float)) == 0);
            gs_net_tensors(a, &nt);
            ck_assert(memcmp(gs_net_records(a), gs_net_records(b), nt * sizeof(GsTensorRecord)) ==
                      0);
            ck_assert(ia.norm_before == ib.norm_before && ia.norm_after == ib.norm_after);
        }
        gs_net_destroy(a);
        gs_net_destroy(b);
    }
}
END_TEST

/* A small regression data set built by hand (the data module has its own tests). */
static GsDataset *toy_data(size_t n, double scale)
{
    GsDataset *d = calloc(1, sizeof *d);
    d->n = n;
    d->d_in = 2;
    d->d_out = 1;
    d->x = malloc(n * 2 * sizeof(float));
    d->y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        d->x[2 * i] = (float)(scale * sin((double)i));
        d->x[2 * i + 1] = (float)(scale * cos(0.7 * (double)i));
        d->y[i] = (float)sin(2.0 * (double)i);
    }
    return d;
}

static void free_data(GsDataset *d)
{
    free(d->x);
    free(d->y);
    free(d);
}

static GsTrace *train(const char *opts, GsDataset *d, GsNet **keep)
{
    GsSpec s;
    gs_spec_default(&s);
    GsError err;
    ck_assert_msg(gs_spec_apply_args(&s, opts, &err) == GS_OK, "%s", err.msg);
    ck_assert_int_eq(gs_spec_set(&s, "loss", "mse", NULL), GS_OK);
    size_t B = s.batch <= 0 || (size_t)s.batch >= d->n ? d->n : (size_t)s.batch;
    GsNet *net = NULL;
    ck_assert_int_eq(gs_net_create(&s, d->d_in, d->d_out, B, &net, &err), GS_OK);
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_record_create_trace(net, d, &t), GS_OK);
    ck_assert_int_eq(gs_record_train(net, d, t, 1, NULL, NULL, &err), GS_OK);
    if (keep)
        *keep = net;
    else
        gs_net_destroy(net);
    return t;
}

START_TEST(test_cadence_and_determinism)
{
    GsDataset *d = toy_data(50, 1.0);
    GsTrace *a = train("--depth 3 --width 8 --steps 23 --record-every 5 --batch 16", d, NULL);
    GsTrace *b = train("--depth 3 --width 8 --steps 23 --record-every 5 --batch 16", d, NULL);
    /* steps 0,5,10,15,20 and the last (22) */
    ck_assert_uint_eq(gs_trace_n_steps(a), 6);
    ck_assert_int_eq(gs_trace_step(a, 5), 22);
    ck_assert_uint_eq(gs_trace_n_layers(a), 4);
    for (size_t i = 0; i < gs_trace_n_steps(a); i++)
        for (size_t l = 0; l < 4; l++)
            for (int c = 0; c < GS_COL_COUNT; c++) {
                double x = gs_trace_get(a, i, l, (GsCol)c), y = gs_trace_get(b, i, l, (GsCol)c);
                ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "step %zu layer %zu col %d", i, l, c);
                ck_assert_msg(isfinite(x), "step %zu layer %zu col %d not finite", i, l, c);
            }
    ck_assert_str_eq(gs_trace_meta_get(a, "first_nonfinite"), "none");
    ck_assert_str_eq(gs_trace_meta_get(a, "depth"), "3");
    ck_assert_ptr_nonnull(gs_trace_meta_get(a, "blas_core"));
    /* loss is the same on every layer row and lr is recorded */
    ck_assert_double_eq(gs_trace_get(a, 2, 0, GS_COL_LOSS), gs_trace_get(a, 2, 3, GS_COL_LOSS));
    ck_assert_double_eq(gs_trace_get(a, 2, 0, GS_COL_LR), 0.05);
    /* a different seed gives a different trace */
    GsTrace *c =
        train("--depth 3 --width 8 --steps 23 --record-every 5 --batch 16 --seed 2", d, NULL);
    ck_assert(gs_trace_get(a, 0, 0, GS_COL_GRAD_NORM) != gs_trace_get(c, 0, 0, GS_COL_GRAD_NORM));
    gs_trace_destroy(a);
    gs_trace_destroy(b);
    gs_trace_destroy(c);
    free_data(d);
}
END_TEST

/* A thinned recording (--record-every) holds, at each step it records, exactly the full
 * recording's row: the steps in between update with the finite-only pass
 * (gs_net_set_lean_update), which must leave the parameters and the optimizer state as the
 * full pass does, for every rule, with and without clipping (the unfused step). */
START_TEST(test_thinned_rows_equal_full)
{
    GsDataset *d = toy_data(50, 1.0);
    const char *setups[] = {"--opt sgd",
                            "--opt momentum",
                            "--opt nesterov",
                            "--opt rmsprop --lr 0.01",
                            "--opt adam --lr 0.01",
                            "--opt adamw --lr 0.01 --weight-decay 0.1",
                            "--opt sgd --clip-norm 0.05",
                            "--opt adam --lr 0.01 --clip-value 0.01"};
    for (size_t k = 0; k < sizeof setups / sizeof setups[0]; k++) {
        char full[256], thin[300];
        snprintf(full, sizeof full, "--depth 3 --width 8 --steps 23 --batch 16 %s", setups[k]);
        snprintf(thin, sizeof thin, "%s --record-every 5", full);
        GsTrace *a = train(full, d, NULL), *b = train(thin, d, NULL);
        ck_assert_uint_eq(gs_trace_n_steps(b), 6);
        for (size_t i = 0; i < gs_trace_n_steps(b); i++) {
            size_t at = (size_t)gs_trace_step(b, i);
            ck_assert_int_eq(gs_trace_step(a, at), (long)at);
            for (size_t l = 0; l < 4; l++)
                for (int c = 0; c < GS_COL_COUNT; c++) {
                    double x = gs_trace_get(a, at, l, (GsCol)c),
                           y = gs_trace_get(b, i, l, (GsCol)c);
                    ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "%s: step %zu layer %zu col %d",
                                  setups[k], at, l, c);
                }
        }
        gs_trace_destroy(a);
        gs_trace_destroy(b);
    }
    free_data(d);
}
END_TEST

START_TEST(test_training_reduces_loss)
{
    GsDataset *d = toy_data(64, 1.0);
    GsTrace *t = train("--depth 2 --width 16 --steps 300 --batch 0 --opt adam --lr 0.01 "
                       "--act tanh",
                       d, NULL);
    size_t n = gs_trace_n_steps(t);
    ck_assert_uint_eq(n, 300);
    ck_assert_double_lt(gs_trace_get(t, n - 1, 0, GS_COL_LOSS),
                        0.5 * gs_trace_get(t, 0, 0, GS_COL_LOSS));
    gs_trace_destroy(t);
    free_data(d);
}
END_TEST

START_TEST(test_nonfinite_is_data)
{
    /* Huge inputs and lr: the run overflows; training continues and records it. */
    GsDataset *d = toy_data(32, 1e4);
    GsTrace *t = train("--depth 4 --width 8 --steps 40 --batch 0 --lr 10 --act relu "
                       "--init normal:3",
                       d, NULL);
    ck_assert_uint_eq(gs_trace_n_steps(t), 40);
    const char *first = gs_trace_meta_get(t, "first_nonfinite");
    ck_assert_str_ne(first, "none");
    long step = strtol(first, NULL, 10);
    /* Before that step the gradients are finite; at it some layer has a count. */
    for (long s = 0; s < step; s++)
        ck_assert(isfinite(gs_trace_get(t, (size_t)s, 0, GS_COL_GLOBAL_NORM)));
    ck_assert(!isfinite(gs_trace_get(t, (size_t)step, 0, GS_COL_GLOBAL_NORM)));
    double bad = 0;
    for (size_t l = 0; l < 5; l++)
        bad += gs_trace_get(t, (size_t)step, l, GS_COL_NONFINITE);
    ck_assert_double_gt(bad, 0);
    /* recorded or not, the step and layer of the first non-finite gradient are found: here
     * the step lies between two recorded ones (the finite-only update pass saw it) */
    char thin[160];
    snprintf(thin, sizeof thin,
             "--depth 4 --width 8 --steps 40 --batch 0 --lr 10 --act relu --init normal:3 "
             "--record-every %ld",
             step + 1);
    GsTrace *u = train(thin, d, NULL);
    ck_assert_str_eq(gs_trace_meta_get(u, "first_nonfinite"), first);
    gs_trace_destroy(u);
    gs_trace_destroy(t);
    free_data(d);
}
END_TEST

START_TEST(test_clip_columns)
{
    GsDataset *d = toy_data(32, 3.0);
    GsTrace *t = train("--depth 3 --width 8 --steps 5 --batch 0 --clip-norm 0.01", d, NULL);
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_CLIPPED), 1.0);
    ck_assert_double_gt(gs_trace_get(t, 0, 0, GS_COL_GLOBAL_NORM), 0.01);
    ck_assert_double_eq_tol(gs_trace_get(t, 0, 0, GS_COL_GLOBAL_NORM_POST), 0.01, 1e-6);
    /* statistics are recorded before clipping: the layer norms exceed the clipped total */
    ck_assert_double_gt(gs_trace_get(t, 0, 3, GS_COL_GRAD_NORM), 0.01);
    gs_trace_destroy(t);
    GsTrace *u = train("--depth 3 --width 8 --steps 5 --batch 0", d, NULL);
    ck_assert_double_eq(gs_trace_get(u, 0, 0, GS_COL_CLIPPED), 0.0);
    ck_assert_double_eq(gs_trace_get(u, 0, 0, GS_COL_GLOBAL_NORM),
                        gs_trace_get(u, 0, 0, GS_COL_GLOBAL_NORM_POST));
    gs_trace_destroy(u);
    free_data(d);
}
END_TEST

START_TEST(test_global_norm_recorded)
{
    /* The recorded global norm (the tensors' sums of squares from the update pass's records,
     * in table order) equals the norm over the whole gradient arena. */
    GsDataset *d = toy_data(40, 1.0);
    GsNet *net = NULL;
    GsTrace *t = train("--depth 3 --width 6 --steps 1 --batch 0 --norm batch", d, &net);
    GsSpec s = *gs_net_spec(net);
    GsNet *fresh = NULL;
    ck_assert_int_eq(gs_net_create(&s, d->d_in, d->d_out, d->n, &fresh, NULL), GS_OK);
    gs_net_zero_grad(fresh);
    gs_net_forward(fresh, d->x, d->n);
    gs_net_loss(fresh, d->y, NULL, d->n);
    gs_net_backward(fresh, d->n);
    double want = gs_net_grad_norm(fresh);
    double got = gs_trace_get(t, 0, 0, GS_COL_GLOBAL_NORM);
    ck_assert_msg(fabs(got - want) <= 1e-12 * want, "recorded %.17g, arena %.17g", got, want);
    gs_net_destroy(fresh);
    gs_net_destroy(net);
    gs_trace_destroy(t);

    /* With clipping on, the statistics pass before clipping gives the same norm, and the
     * update pass's records give the norm after it. */
    t = train("--depth 3 --width 6 --steps 1 --batch 0 --norm batch --clip-norm 1e-3", d, &net);
    got = gs_trace_get(t, 0, 0, GS_COL_GLOBAL_NORM);
    ck_assert_msg(fabs(got - want) <= 1e-12 * want, "clipped: recorded %.17g, arena %.17g", got,
                  want);
    ck_assert_double_eq_tol(gs_trace_get(t, 0, 0, GS_COL_GLOBAL_NORM_POST), 1e-3, 1e-8);
    ck_assert_double_eq(gs_trace_get(t, 0, 0, GS_COL_CLIPPED), 1.0);
    gs_net_destroy(net);
    gs_trace_destroy(t);
    free_data(d);
}
END_TEST

/* A classification set under mse (one-hot targets beside the labels) trains in minibatches:
 * the sampler carries both. */
START_TEST(test_mse_on_classes_minibatch)
{
    GsSpec s;
    gs_spec_default(&s);
    GsError err = {{0}};
    ck_assert_int_eq(gs_spec_apply_args(&s,
                                        "--depth 2 --width 8 --steps 5 --batch 16 --samples 60 "
                                        "--data spiral:4 --loss mse",
                                        &err),
                     GS_OK);
    GsDataOptions o = {(size_t)s.samples, s.noise, 1.0, 0, NULL, 0, s.seed};
    GsDataset *d = NULL;
    ck_assert_int_eq(gs_data_create(&s.data, &o, &d, &err), GS_OK);
    ck_assert_ptr_nonnull(d->y);
    ck_assert_ptr_nonnull(d->label);
    ck_assert_uint_eq(d->d_out, 4);
    GsNet *net = NULL;
    ck_assert_int_eq(gs_net_create(&s, d->d_in, d->d_out, 16, &net, &err), GS_OK);
    GsTrace *t = NULL;
    ck_assert_int_eq(gs_record_create_trace(net, d, &t), GS_OK);
    ck_assert_int_eq(gs_record_train(net, d, t, 1, NULL, NULL, &err), GS_OK);
    ck_assert_uint_eq(gs_trace_n_steps(t), 5);
    double loss = gs_trace_get(t, 0, 0, GS_COL_LOSS);
    /* one-hot mse at init: finite and well below the 1 of a prediction off by one everywhere */
    ck_assert_msg(isfinite(loss) && loss > 0 && loss < 1, "loss %g", loss);
    gs_trace_destroy(t);
    gs_net_destroy(net);
    gs_data_destroy(d);
}
END_TEST

/* The recorder leaves the process-wide BLAS thread count alone (a sweep worker's single
 * thread must survive a setup asking for more) and records the count in effect. */
START_TEST(test_trace_keeps_blas_threads)
{
    GsDataset *d = toy_data(16, 1.0);
    openblas_set_num_threads(1);
    GsTrace *t = train("--depth 1 --width 4 --steps 2 --batch 8 --threads 3", d, NULL);
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    ck_assert_str_eq(gs_trace_meta_get(t, "blas_threads"), "1");
    ck_assert_str_eq(gs_trace_meta_get(t, "threads"), "3");
    gs_trace_destroy(t);
    free_data(d);
}
END_TEST

/* Reads key `key` from the trace CSV at gs_tmpdir/name ("" when absent). */
static void trace_meta(const char *name, const char *key, char *val, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", gs_tmpdir, name);
    GsTrace *t = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_trace_read_csv(path, GS_COL_ALL, &t, &err) == GS_OK, "%s", err.msg);
    const char *v = gs_trace_meta_get(t, key);
    snprintf(val, size, "%s", v ? v : "");
    gs_trace_destroy(t);
}

/* The CLI decides threads: run uses --threads; parallel sweep workers keep one each, a
 * lone worker (-j 1) takes the setup's. */
START_TEST(test_cli_decides_threads)
{
    const char *small = "--depth 2 --width 4 --steps 3 --samples 32 --threads 2 -q";
    char v[64];
    ck_assert_msg(gs_cli_run(1, "run %s --no-report --trace r.csv", small) == 0, "%.2000s", gs_out);
    trace_meta("r.csv", "blas_threads", v, sizeof v);
    ck_assert_str_eq(v, "2");
    ck_assert_msg(gs_cli_run(1, "sweep %s --vary act=tanh,relu -j 2 --out s", small) == 0,
                  "%.2000s", gs_out);
    trace_meta("s/act=tanh.csv", "blas_threads", v, sizeof v);
    ck_assert_str_eq(v, "1");
    trace_meta("s/act=relu.csv", "blas_threads", v, sizeof v);
    ck_assert_str_eq(v, "1");
    ck_assert_msg(gs_cli_run(1, "sweep %s --vary act=tanh,relu -j 1 --out s1", small) == 0,
                  "%.2000s", gs_out);
    trace_meta("s1/act=relu.csv", "blas_threads", v, sizeof v);
    ck_assert_str_eq(v, "2");
    /* auto (the default): one thread below width 256, two from there on 2 cores or more */
    ck_assert_msg(gs_cli_run(1, "run --depth 1 --width 8 --steps 2 --samples 32 -q --no-report "
                                "--trace a.csv") == 0,
                  "%.2000s", gs_out);
    trace_meta("a.csv", "threads", v, sizeof v);
    ck_assert_str_eq(v, "auto");
    trace_meta("a.csv", "blas_threads", v, sizeof v);
    ck_assert_str_eq(v, "1");
    ck_assert_msg(gs_cli_run(1, "run --depth 1 --width 256 --steps 2 --samples 32 -q --no-report "
                                "--trace b.csv") == 0,
                  "%.2000s", gs_out);
    trace_meta("b.csv", "blas_threads", v, sizeof v);
    ck_assert_str_eq(v, sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? "2" : "1");
    ck_assert_msg(gs_cli_run(1, "sweep --depth 1 --width 256 --steps 2 --samples 32 -q "
                                "--vary act=tanh,relu -j 2 --out s2") == 0,
                  "%.2000s", gs_out);
    trace_meta("s2/act=relu.csv", "blas_threads", v, sizeof v);
    ck_assert_str_eq(v, "1");
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("probe");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_known_statistics);
    tcase_add_test(tc, test_saturation);
    tcase_add_test(tc, test_measured_passes_match);
    tcase_add_test(tc, test_backward_step_fused);
    tcase_add_test(tc, test_cadence_and_determinism);
    tcase_add_test(tc, test_thinned_rows_equal_full);
    tcase_add_test(tc, test_training_reduces_loss);
    tcase_add_test(tc, test_nonfinite_is_data);
    tcase_add_test(tc, test_clip_columns);
    tcase_add_test(tc, test_global_norm_recorded);
    tcase_add_test(tc, test_trace_keeps_blas_threads);
    tcase_add_test(tc, test_mse_on_classes_minibatch);
    suite_add_tcase(s, tc);
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 120);
    tcase_add_checked_fixture(cli, gs_cli_setup, gs_cli_teardown);
    tcase_add_test(cli, test_cli_decides_threads);
    suite_add_tcase(s, cli);
    return s;
}
