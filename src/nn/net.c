/* The network: the layout pass (tensor table, arenas), initialization, forward, loss,
 * backward, clipping, the optimizer step and export. Memory is allocated in gs_net_create
 * only. */
#include "gradscope/net.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/npy.h"
#include "gradscope/optim.h"
#include "gradscope/rng.h"
#include "nn/kernels.h"
#include "nn/size_math.h"
#include "util/reduce.h"

#define NORM_EPS 1e-5f

/* One dense layer: where its tensors sit in the parameter arenas (from the table), where its
 * activations sit in the activation arena, and views of those activations. */
typedef struct {
    size_t n_in, n_out;
    size_t off_w, off_b, off_g, off_be; /* offsets into params/grads/delta (g, be: norm) */
    size_t off_wt;                      /* offset of W^T (n_in, n_out) in the mirror arena */
    int mirrored;                       /* the forward product reads the mirror (kernels.h) */
    size_t a_z, a_h, a_dz, a_y, a_xhat, a_rstd, a_out; /* offsets into acts (y..out: if any) */
    int hidden, norm;                                  /* norm: GsNormKind of this layer */
    int block_start, block_end;                        /* residual roles */
    const float *x;                                    /* input (B, n_in): the previous out */
    GsLayerMeasure m;        /* what the last passes measured of this layer (gs_net_set_measure) */
    size_t t_first, t_count; /* this layer's entries of the tensor table */
    float *z, *y, *xhat, *rstd, *h, *out, *dz;
} Layer;

struct GsNet {
    GsSpec spec;
    size_t d_in, d_out, width, batch_max, n_layers, n_params, n_tensors;
    GsLossKind loss;
    int measure;             /* backward measures phi' of the hidden layers */
    int lean_update;         /* update passes record finiteness only (gs_net_set_lean_update) */
    int drop_update;         /* update passes do not store delta (gs_net_set_keep_update) */
    int can_saturate;        /* the activation can saturate */
    float sat_level;         /* phi' below this is saturated (DESIGN.md) */
    GsTensorInfo *tensors;   /* n_tensors entries: the parameter tensor table */
    GsTensorRecord *records; /* n_tensors entries: what the last step measured */
    Layer *layers;           /* n_layers entries, index l-1 for layer l */
    float *params;           /* arena: parameters */
    float *grads;            /* arena: gradients, same layout */
    float *delta;            /* arena: this step's update, same layout */
    float *wt;               /* arena: each layer's W^T, the forward product's operand */
    int wt_fresh;            /* wt equals the weights (gs_net_params clears it) */
    float *opt_m;            /* optimizer first moment / momentum buffer (or NULL) */
    float *opt_v;            /* optimizer second moment (or NULL) */
    float *acts;             /* arena: every activation buffer */
    float *g, *gskip, *dy, *scratch; /* backward scratch (B, max width) */
    unsigned hist_kinds;      /* histograms the update passes count (gs_net_set_measure_hist) */
    float *hist;              /* n_tensors x {grad, update} x GS_HIST_NB, or NULL */
    unsigned char *hist_done; /* n_tensors x 2: counted by the last update pass */
};

/* Residual roles: blocks of K layers over 2..depth; a trailing partial block has none. */
static void residual_roles(int depth, int K, int l, int *start, int *end)
{
    *start = *end = 0;
    if (K <= 0 || l < 2)
        return;
    int nblocks = (depth - 1) / K;
    int b = (l - 2) / K;
    if (b >= nblocks)
        return;
    *start = (l - 2) % K == 0;
    *end = (l - 2) % K == K - 1;
}

/* Which optimizer moments the spec's optimizer keeps: m (momentum or first moment), v. */
static void moments(const GsSpec *spec, int *m, int *v)
{
    *m = spec->opt != GS_OPT_SGD;
    *v = spec->opt == GS_OPT_RMSPROP || spec->opt == GS_OPT_ADAM || spec->opt == GS_OPT_ADAMW;
}

/* Takes n floats from an arena whose fill is *used; returns their offset. */
static size_t take(size_t *used, size_t n, int *ok)
{
    size_t at = *used;
    *used = size_add(*used, n, ok);
    return at;
}

/* Appends one entry to the tensor table (when tab is not NULL: the counting pass has none)
 * and takes its floats from the parameter arena; returns its offset. */
static size_t add_tensor(GsTensorInfo *tab, size_t *nt, GsTensorRole role, size_t layer,
                         size_t rows, size_t cols, size_t *np, int *ok)
{
    size_t size = cols ? size_mul(rows, cols, ok) : rows, off = take(np, size, ok);
    if (tab) {
        GsTensorInfo *t = &tab[*nt];
        int dense = role == GS_TENSOR_WEIGHT || role == GS_TENSOR_BIAS;
        int head = role == GS_TENSOR_OUT_WEIGHT || role == GS_TENSOR_OUT_BIAS;
        GsLayerKind kind = dense || head ? GS_LAYER_DENSE : GS_LAYER_NORM;
        const char *suffix = role == GS_TENSOR_WEIGHT || role == GS_TENSOR_NORM_WEIGHT ||
                                     role == GS_TENSOR_OUT_WEIGHT
                                 ? "weight"
                                 : "bias";
        if (head)
            snprintf(t->name, sizeof t->name, "out.%s", suffix);
        else
            snprintf(t->name, sizeof t->name, "%s%zu.%s", gs_layer_kind_info(kind)->prefix,
                     layer + 1, suffix);
        t->role = role;
        t->kind = kind;
        t->layer = layer;
        t->ndim = cols ? 2 : 1;
        t->shape[0] = rows;
        t->shape[1] = cols;
        t->offset = off;
        t->size = size;
    }
    (*nt)++;
    return off;
}

/* The one layout pass: per layer its shapes, its parameter tensors (into tab) and its
 * activation buffers (offsets into layers[i]), then the backward scratch (offset into
 * *a_scratch) and the sizes. gs_net_sizes runs it with tab, layers and a_scratch NULL;
 * gs_net_create runs it again to fill them. Returns 0 on overflow. */
static int plan(const GsSpec *spec, size_t d_in, size_t d_out, size_t B, GsTensorInfo *tab,
                Layer *layers, size_t *a_scratch, GsNetSizes *sz)
{
    int ok = 1;
    size_t W = (size_t)spec->width, nl = (size_t)spec->depth + 1;
    size_t np = 0, na = 0, nt = 0, nwt = 0, maxw = W > d_out ? W : d_out;
    for (size_t i = 0; i < nl; i++) {
        Layer tmp, *L = layers ? &layers[i] : &tmp;
        memset(L, 0, sizeof *L);
        L->hidden = i + 1 < nl;
        L->n_in = i == 0 ? d_in : W;
        L->n_out = L->hidden ? W : d_out;
        L->norm = L->hidden ? (int)spec->norm : GS_NORM_NONE;
        residual_roles(spec->depth, spec->residual, (int)i + 1, &L->block_start, &L->block_end);
        L->t_first = nt;
        L->off_w = add_tensor(tab, &nt, L->hidden ? GS_TENSOR_WEIGHT : GS_TENSOR_OUT_WEIGHT, i,
                              L->n_out, L->n_in, &np, &ok);
        L->off_b = add_tensor(tab, &nt, L->hidden ? GS_TENSOR_BIAS : GS_TENSOR_OUT_BIAS, i,
                              L->n_out, 0, &np, &ok);
        if (L->norm != GS_NORM_NONE) {
            L->off_g = add_tensor(tab, &nt, GS_TENSOR_NORM_WEIGHT, i, L->n_out, 0, &np, &ok);
            L->off_be = add_tensor(tab, &nt, GS_TENSOR_NORM_BIAS, i, L->n_out, 0, &np, &ok);
        }
        L->t_count = nt - L->t_first;
        L->mirrored = gs_dense_mirrored(L->n_in, L->n_out, B);
        L->off_wt = nwt;
        if (L->mirrored)
            nwt = size_add(nwt, size_mul(L->n_in, L->n_out, &ok), &ok);
        size_t bn = size_mul(B, L->n_out, &ok);
        L->a_z = take(&na, bn, &ok);
        L->a_h = take(&na, bn, &ok); /* unused by the linear output layer (its h is z) */
        L->a_dz = take(&na, bn, &ok);
        if (L->norm != GS_NORM_NONE) {
            L->a_y = take(&na, bn, &ok);
            L->a_xhat = take(&na, bn, &ok);
            L->a_rstd = take(&na, L->norm == GS_NORM_BATCH ? L->n_out : B, &ok);
        }
        if (L->block_end)
            L->a_out = take(&na, bn, &ok);
    }
    size_t scratch =
        take(&na, size_mul(4, size_mul(B, maxw, &ok), &ok), &ok); /* g, gskip, dy, scratch */
    if (a_scratch)
        *a_scratch = scratch;
    int need_m, need_v;
    moments(spec, &need_m, &need_v);
    /* params, grads, update and the optimizer's moments; the transposed weights; activations;
     * the table, the layers and the handle */
    size_t floats = size_add(size_mul((size_t)(3 + need_m + need_v), np, &ok), na, &ok);
    floats = size_add(floats, nwt, &ok);
    size_t bytes = size_mul(floats, sizeof(float), &ok);
    bytes = size_add(bytes, size_mul(nt, sizeof(GsTensorInfo) + sizeof(GsTensorRecord), &ok), &ok);
    bytes = size_add(bytes, size_add(size_mul(nl, sizeof(Layer), &ok), sizeof(GsNet), &ok), &ok);
    if (!ok)
        return 0;
    sz->n_params = np;
    sz->n_wt = nwt;
    sz->n_acts = na;
    sz->n_tensors = nt;
    sz->bytes = bytes;
    return 1;
}

GsStatus gs_net_sizes(const GsSpec *spec, size_t d_in, size_t d_out, size_t batch_max,
                      GsNetSizes *out, GsError *err)
{
    assert(spec && out);
    if (spec->depth < 1 || spec->width < 1 || d_in < 1 || d_out < 1 || batch_max < 1)
        return gs_error(err, GS_ERR_INVALID, "net: empty dimension");
    GsNetSizes s;
    if (!plan(spec, d_in, d_out, batch_max, NULL, NULL, NULL, &s))
        return gs_error(err, GS_ERR_RANGE,
                        "net (depth %d, width %d, batch %zu) is too large to address", spec->depth,
                        spec->width, batch_max);
    *out = s;
    return GS_OK;
}

GsStatus gs_net_create(const GsSpec *spec, size_t d_in, size_t d_out, size_t batch_max, GsNet **out,
                       GsError *err)
{
    GsNetSizes sz;
    GsStatus st = gs_net_sizes(spec, d_in, d_out, batch_max, &sz, err);
    if (st != GS_OK)
        return st;
    GsNet *net = calloc(1, sizeof *net);
    if (!net)
        return gs_error(err, GS_ERR_NOMEM, "out of memory creating the network");
    net->spec = *spec;
    net->d_in = d_in;
    net->d_out = d_out;
    net->width = (size_t)spec->width;
    net->batch_max = batch_max;
    net->n_layers = (size_t)spec->depth + 1;
    net->n_params = sz.n_params;
    net->n_tensors = sz.n_tensors;
    net->loss = gs_spec_loss(spec);
    net->can_saturate = gs_act_can_saturate(&spec->act);
    net->sat_level = (float)(GS_SATURATION_FRACTION * gs_act_max_deriv(&spec->act));
    net->tensors = calloc(sz.n_tensors, sizeof *net->tensors);
    net->layers = calloc(net->n_layers, sizeof *net->layers);
    net->records = calloc(sz.n_tensors, sizeof *net->records);
    if (!net->tensors || !net->layers || !net->records)
        goto nomem;
    /* The same pass as gs_net_sizes, now filling the table and the layers. */
    GsNetSizes again;
    size_t a_scratch = 0;
    int planned = plan(spec, d_in, d_out, batch_max, net->tensors, net->layers, &a_scratch, &again);
    assert(planned && again.n_params == sz.n_params && again.n_acts == sz.n_acts);
    (void)planned;

    const size_t np = sz.n_params;
    int need_m, need_v;
    moments(spec, &need_m, &need_v);
    net->params = calloc(np, sizeof(float));
    net->grads = calloc(np, sizeof(float));
    net->delta = calloc(np, sizeof(float));
    net->wt = malloc((sz.n_wt ? sz.n_wt : 1) * sizeof(float));
    net->opt_m = need_m ? calloc(np, sizeof(float)) : NULL;
    net->opt_v = need_v ? calloc(np, sizeof(float)) : NULL;
    net->acts = calloc(sz.n_acts, sizeof(float));
    if (!net->params || !net->grads || !net->delta || !net->wt || (need_m && !net->opt_m) ||
        (need_v && !net->opt_v) || !net->acts)
        goto nomem;

    float *a = net->acts;
    for (size_t i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        L->z = a + L->a_z;
        L->h = a + L->a_h;
        L->dz = a + L->a_dz;
        L->y = L->z;
        L->out = L->h;
        if (L->norm != GS_NORM_NONE) {
            L->y = a + L->a_y;
            L->xhat = a + L->a_xhat;
            L->rstd = a + L->a_rstd;
        }
        if (L->block_end)
            L->out = a + L->a_out;
        if (!L->hidden)
            L->h = L->z; /* the output layer is linear: its output is z */
    }
    /* the backward scratch: four buffers of batch_max x max(width, d_out) at the end */
    const size_t stride = (sz.n_acts - a_scratch) / 4;
    float *s = a + a_scratch;
    net->g = s, s += stride;
    net->gskip = s, s += stride;
    net->dy = s, s += stride;
    net->scratch = s;

    /* Initialization: one derived stream for all parameters, tensor by tensor in table order
     * (per layer: weight, bias, then the norm's scale 1 and shift 0). */
    GsRng rng;
    gs_rng_seed(&rng, gs_rng_derive(spec->seed, 1));
    for (size_t t = 0; t < net->n_tensors; t++) {
        const GsTensorInfo *T = &net->tensors[t];
        float *p = net->params + T->offset;
        switch (T->role) {
        case GS_TENSOR_WEIGHT:
        case GS_TENSOR_OUT_WEIGHT:
            if (gs_init_fill(&spec->init, p, T->shape[0], T->shape[1], &rng) != GS_OK)
                goto nomem;
            break;
        case GS_TENSOR_BIAS:
        case GS_TENSOR_OUT_BIAS: gs_bias_init_fill(&spec->bias_init, p, T->size, &rng); break;
        case GS_TENSOR_NORM_WEIGHT:
            for (size_t j = 0; j < T->size; j++)
                p[j] = 1.0f;
            break;
        case GS_TENSOR_NORM_BIAS:
            for (size_t j = 0; j < T->size; j++)
                p[j] = 0.0f;
            break;
        default: assert(!"no such tensor in a dense net");
        }
    }
    *out = net;
    return GS_OK;
nomem:
    gs_net_destroy(net);
    return gs_error(err, GS_ERR_NOMEM, "out of memory creating the network (%zu bytes)", sz.bytes);
}

void gs_net_destroy(GsNet *net)
{
    if (!net)
        return;
    free(net->tensors);
    free(net->records);
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->delta);
    free(net->wt);
    free(net->opt_m);
    free(net->opt_v);
    free(net->acts);
    free(net->hist);
    free(net->hist_done);
    free(net);
}

size_t gs_net_n_layers(const GsNet *net)
{
    return net->n_layers;
}
size_t gs_net_n_params(const GsNet *net)
{
    return net->n_params;
}
const GsSpec *gs_net_spec(const GsNet *net)
{
    return &net->spec;
}

const GsTensorInfo *gs_net_tensors(const GsNet *net, size_t *n)
{
    *n = net->n_tensors;
    return net->tensors;
}

const GsTensorInfo *gs_net_tensor(const GsNet *net, size_t layer, GsTensorRole role)
{
    for (size_t t = 0; t < net->n_tensors; t++)
        if (net->tensors[t].layer == layer && net->tensors[t].role == role)
            return &net->tensors[t];
    return NULL;
}

float *gs_net_params(GsNet *net)
{
    net->wt_fresh = 0; /* the caller may change the weights: the next forward re-mirrors them */
    return net->params;
}

/* Layer L's W^T mirror from its weights (if it has one). */
static void mirror_layer(GsNet *net, const Layer *L)
{
    if (L->mirrored)
        gs_transpose(net->wt + L->off_wt, net->params + L->off_w, L->n_out, L->n_in);
}
float *gs_net_grads(GsNet *net)
{
    return net->grads;
}
const float *gs_net_update(const GsNet *net)
{
    return net->delta;
}

void gs_net_zero_grad(GsNet *net)
{
    memset(net->grads, 0, net->n_params * sizeof(float));
}

void gs_net_forward(GsNet *net, const float *x, size_t B)
{
    assert(B >= 1 && B <= net->batch_max);
    const float *in = x, *block_in = NULL;
    const float alpha = (float)net->spec.res_scale;
    if (!net->wt_fresh) {
        for (size_t i = 0; i < net->n_layers; i++)
            mirror_layer(net, &net->layers[i]);
        net->wt_fresh = 1;
    }
    for (size_t i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        const float *p = net->params;
        const float *wt = net->wt + L->off_wt;
        L->x = in;
        if (L->block_start)
            block_in = in;
        L->m.forward = 0;
        if (L->hidden && L->norm == GS_NORM_NONE) {
            /* the product, then bias and activation in one pass (measuring h when asked) */
            GsActOutStats st = {0.0, 0.0};
            if (L->mirrored)
                gs_dense_matmul_t(L->z, in, wt, B, L->n_in, L->n_out);
            else
                gs_dense_matmul(L->z, in, p + L->off_w, B, L->n_in, L->n_out);
            gs_act_forward_bias(&net->spec.act, L->h, L->z, p + L->off_b, B, L->n_out,
                                net->measure ? &st : NULL);
            L->m.forward = net->measure;
            L->m.h_sum = st.sum;
            L->m.h_sumsq = st.sumsq;
        } else {
            if (L->mirrored)
                gs_dense_forward_t(L->z, in, wt, p + L->off_b, B, L->n_in, L->n_out);
            else
                gs_dense_forward(L->z, in, p + L->off_w, p + L->off_b, B, L->n_in, L->n_out);
        }
        if (L->hidden) {
            if (L->norm == GS_NORM_BATCH)
                gs_batchnorm_forward(L->y, L->xhat, L->rstd, L->z, p + L->off_g, p + L->off_be, B,
                                     L->n_out, NORM_EPS);
            else if (L->norm == GS_NORM_LAYER)
                gs_layernorm_forward(L->y, L->xhat, L->rstd, L->z, p + L->off_g, p + L->off_be, B,
                                     L->n_out, NORM_EPS);
            if (L->norm != GS_NORM_NONE)
                gs_act_forward(&net->spec.act, L->h, L->y, B * L->n_out);
            if (L->block_end) {
                assert(block_in);
                for (size_t k = 0; k < B * L->n_out; k++)
                    L->out[k] = block_in[k] + alpha * L->h[k];
            }
        }
        in = L->out;
    }
}

double gs_net_loss(GsNet *net, const float *target, const int32_t *label, size_t B)
{
    Layer *L = &net->layers[net->n_layers - 1];
    if (net->loss == GS_LOSS_XENT)
        return gs_xent_forward_backward(L->dz, L->z, label, B, L->n_out);
    return gs_mse_forward_backward(L->dz, L->z, target, B, L->n_out);
}

static void update_tensors(GsNet *net, size_t first, size_t count, const GsOptStep *o,
                           int grad_stats);

/* The backward pass; with o not NULL, each layer's tensors are updated by o as soon as their
 * gradients are final and the layer's own backward no longer reads them. */
static void backward_pass(GsNet *net, size_t B, const GsOptStep *o)
{
    const float alpha = (float)net->spec.res_scale;
    float *g = net->g; /* dLoss/d(out of the current layer), (B, n_out) */
    for (size_t i = net->n_layers; i-- > 0;) {
        Layer *L = &net->layers[i];
        float *p = net->params, *gr = net->grads;
        size_t bn = B * L->n_out;
        if (L->hidden) {
            if (L->block_end) {
                /* The skip path carries g to the block input unchanged; the branch gets a*g. */
                memcpy(net->gskip, g, bn * sizeof(float));
                for (size_t k = 0; k < bn; k++)
                    g[k] *= alpha;
            }
            L->m.backward = 0;
            if (L->norm == GS_NORM_NONE) {
                /* activation and bias in one pass (measuring phi' and dz when asked) */
                GsActDerivStats st = {net->sat_level, net->can_saturate, net->scratch, 0, 0, 0.0};
                gs_act_backward_bias(&net->spec.act, L->dz, g, L->y, L->h, gr + L->off_b, B,
                                     L->n_out, net->measure ? &st : NULL);
                L->m.backward = net->measure;
                L->m.saturated = st.saturated;
                L->m.dead = st.dead;
                L->m.dz_sumsq = st.dz_sumsq;
            } else {
                gs_act_backward(&net->spec.act, net->dy, g, L->y, L->h, bn);
            }
            float *dy = net->dy;
            if (L->norm == GS_NORM_BATCH)
                gs_batchnorm_backward(L->dz, gr + L->off_g, gr + L->off_be, dy, L->xhat, L->rstd,
                                      p + L->off_g, B, L->n_out);
            else if (L->norm == GS_NORM_LAYER)
                gs_layernorm_backward(L->dz, gr + L->off_g, gr + L->off_be, dy, L->xhat, L->rstd,
                                      p + L->off_g, B, L->n_out);
        }
        /* dx of layer 1 (the data) is never needed. */
        int bias_done = L->hidden && L->norm == GS_NORM_NONE;
        gs_dense_backward(i > 0 ? g : NULL, gr + L->off_w, bias_done ? NULL : gr + L->off_b, L->dz,
                          L->x, p + L->off_w, B, L->n_in, L->n_out);
        if (o) /* the layer's gradients are final and its backward is done with its weights */
            update_tensors(net, L->t_first, L->t_count, o, 1);
        if (L->block_start)
            for (size_t k = 0; k < B * L->n_in; k++)
                g[k] += net->gskip[k];
    }
}

void gs_net_backward(GsNet *net, size_t B)
{
    backward_pass(net, B, NULL);
}

const float *gs_net_output(const GsNet *net)
{
    return net->layers[net->n_layers - 1].z;
}

double gs_net_grad_norm(const GsNet *net)
{
    return gs_l2(net->grads, net->n_params);
}

/* The square root of the tensors' gradient sums of squares, added in table order. */
static double global_norm(const GsTensorRecord *rec, size_t nt)
{
    double sq = 0.0;
    for (size_t k = 0; k < nt; k++)
        sq += rec[k].grad.sumsq;
    return sqrt(sq);
}

/* The update pass of tensors first .. first+count-1 of the table, filling their records; the
 * gradient's statistics too when grad_stats (nothing clipped them: the pass saw the gradient
 * as backward left it). */
static void update_tensors(GsNet *net, size_t first, size_t count, const GsOptStep *o,
                           int grad_stats)
{
    GsTensorRecord *rec = net->records;
    GsHistAcc acc[2];
    for (size_t k = first; k < first + count; k++) {
        const size_t off = net->tensors[k].offset;
        GsUpdateRecord u;
        /* the histograms of weight tensors: the gradient only as backward left it */
        const GsTensorRole role = net->tensors[k].role;
        int w = net->hist_kinds && (role == GS_TENSOR_WEIGHT || role == GS_TENSOR_OUT_WEIGHT);
        int hg = w && grad_stats && (net->hist_kinds & (1u << GS_HIST_GRAD));
        int hu = w && (net->hist_kinds & (1u << GS_HIST_UPDATE));
        GsUpdateHist h = {hg ? &acc[0] : NULL, hu ? &acc[1] : NULL};
        for (int j = 0; j < 2; j++)
            if (j ? hu : hg)
                gs_hist_acc_init(&acc[j], 0.0);
        GsOptStep ok = *o;
        ok.finite_only = net->lean_update && !hg && !hu;
        /* delta only where someone reads it: a histogram of it or gs_net_update's caller */
        float *delta = hu || !net->drop_update ? net->delta + off : NULL;
        gs_optim_step(delta, net->params + off, net->grads + off,
                      net->opt_m ? net->opt_m + off : NULL, net->opt_v ? net->opt_v + off : NULL,
                      net->tensors[k].size, &ok, &u, hg || hu ? &h : NULL);
        if (role == GS_TENSOR_WEIGHT || role == GS_TENSOR_OUT_WEIGHT) /* while W is in cache */
            mirror_layer(net, &net->layers[net->tensors[k].layer]);
        for (int j = 0; j < 2 && net->hist; j++) {
            int on = j ? hu : hg;
            net->hist_done[2 * k + (size_t)j] = (unsigned char)on;
            if (on) {
                float *b = net->hist + (2 * k + (size_t)j) * GS_HIST_NB;
                memset(b, 0, GS_HIST_NB * sizeof *b);
                gs_hist_acc_flush(&acc[j], b);
            }
        }
        if (grad_stats)
            rec[k].grad = u.grad;
        rec[k].param_sumsq = u.param_sumsq;
        rec[k].update_sumsq = u.update_sumsq;
        rec[k].applied_sumsq = u.grad.sumsq;
    }
}

/* The global norm after clipping: the applied gradients' sums of squares in table order. */
static double applied_norm(const GsTensorRecord *rec, size_t nt)
{
    double sq = 0.0;
    for (size_t k = 0; k < nt; k++)
        sq += rec[k].applied_sumsq;
    return sqrt(sq);
}

static int spec_clips(const GsSpec *s)
{
    return s->clip_norm > 0 || s->clip_value > 0;
}

void gs_net_step(GsNet *net, double lr, long t, GsStepInfo *info)
{
    const GsSpec *s = &net->spec;
    const size_t n = net->n_params, nt = net->n_tensors;
    const int clips = spec_clips(s);
    GsTensorRecord *rec = net->records;
    double before = 0.0;
    int changed = 0;
    if (clips) {
        for (size_t k = 0; k < nt; k++)
            rec[k].grad = gs_vec_stats(net->grads + net->tensors[k].offset, net->tensors[k].size);
        before = global_norm(rec, nt);
        if (s->clip_norm > 0 && gs_clip_norm(net->grads, n, before, s->clip_norm))
            changed = 1;
        if (s->clip_value > 0 && gs_clip_value(net->grads, n, s->clip_value) > 0)
            changed = 1;
    }
    GsOptStep o = {s->opt, lr, s->opt_param, s->weight_decay, t, 0};
    update_tensors(net, 0, nt, &o, !clips);
    if (!clips)
        before = global_norm(rec, nt);
    info->norm_before = before;
    info->norm_after = changed ? applied_norm(rec, nt) : before;
    info->clipped = changed;
}

int gs_net_can_fuse_step(const GsNet *net)
{
    return !spec_clips(&net->spec);
}

void gs_net_backward_step(GsNet *net, size_t B, double lr, long t, GsStepInfo *info)
{
    const GsSpec *s = &net->spec;
    assert(!spec_clips(s));
    GsOptStep o = {s->opt, lr, s->opt_param, s->weight_decay, t, 0};
    backward_pass(net, B, &o);
    info->norm_before = info->norm_after = global_norm(net->records, net->n_tensors);
    info->clipped = 0;
}

const GsTensorRecord *gs_net_records(const GsNet *net)
{
    return net->records;
}

const float *gs_net_layer_z(const GsNet *net, size_t l)
{
    return net->layers[l - 1].z;
}
const float *gs_net_layer_y(const GsNet *net, size_t l)
{
    return net->layers[l - 1].y;
}
const float *gs_net_layer_h(const GsNet *net, size_t l)
{
    return net->layers[l - 1].h;
}
const float *gs_net_layer_dz(const GsNet *net, size_t l)
{
    return net->layers[l - 1].dz;
}
void gs_net_set_measure(GsNet *net, int on)
{
    net->measure = on != 0;
}

void gs_net_set_lean_update(GsNet *net, int on)
{
    net->lean_update = on != 0;
}

void gs_net_set_keep_update(GsNet *net, int on)
{
    net->drop_update = on == 0;
}

GsStatus gs_net_set_measure_hist(GsNet *net, unsigned kinds)
{
    kinds &= (1u << GS_HIST_GRAD) | (1u << GS_HIST_UPDATE);
    if (kinds && !net->hist) {
        net->hist = malloc(net->n_tensors * 2 * GS_HIST_NB * sizeof *net->hist);
        net->hist_done = calloc(net->n_tensors * 2, 1);
        if (!net->hist || !net->hist_done) {
            free(net->hist);
            free(net->hist_done);
            net->hist = NULL;
            net->hist_done = NULL;
            return GS_ERR_NOMEM;
        }
    }
    net->hist_kinds = kinds;
    if (net->hist_done)
        memset(net->hist_done, 0, net->n_tensors * 2);
    return GS_OK;
}

const float *gs_net_tensor_hist(const GsNet *net, size_t k, GsHistKind kind)
{
    if (!net->hist || k >= net->n_tensors || (kind != GS_HIST_GRAD && kind != GS_HIST_UPDATE))
        return NULL;
    size_t j = 2 * k + (kind == GS_HIST_UPDATE);
    return net->hist_done[j] ? net->hist + j * GS_HIST_NB : NULL;
}

const GsLayerMeasure *gs_net_layer_measure(const GsNet *net, size_t l)
{
    return &net->layers[l - 1].m;
}

float *gs_net_scratch(GsNet *net)
{
    return net->scratch;
}

GsStatus gs_net_export_npy(const GsNet *net, const char *dir, GsError *err)
{
    char path[4096];
    for (size_t i = 0; i < net->n_tensors; i++) {
        const GsTensorInfo *t = &net->tensors[i];
        int n = snprintf(path, sizeof path, "%s/%s.npy", dir, t->name);
        if (n < 0 || (size_t)n >= sizeof path)
            return gs_error(err, GS_ERR_IO, "export directory name too long: %s", dir);
        GsStatus st = gs_npy_write_f32(path, net->params + t->offset, t->shape, t->ndim, err);
        if (st != GS_OK)
            return st;
    }
    return GS_OK;
}
