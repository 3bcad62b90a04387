/* The network: layout of the arenas, initialization, forward, loss, backward, clipping
 * and the optimizer step. Memory is allocated in gs_net_create only. */
#include "gradscope/net.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/npy.h"
#include "gradscope/optim.h"
#include "gradscope/rng.h"
#include "nn/kernels.h"

#define NORM_EPS 1e-5f

/* One dense layer: offsets into the parameter arenas and views of its activations. */
typedef struct {
    size_t n_in, n_out;
    size_t off_w, off_b, off_g, off_be; /* offsets into params/grads/delta (g, be: norm) */
    int hidden, norm;                   /* norm: GsNormKind of this layer */
    int block_start, block_end;         /* residual roles */
    const float *x;                     /* input (B, n_in): the previous layer's out */
    float *z, *y, *xhat, *rstd, *h, *out, *dz;
} Layer;

struct GsNet {
    GsSpec spec;
    size_t d_in, d_out, width, batch_max, n_layers, n_params;
    GsLossKind loss;
    Layer *layers;                   /* n_layers entries, index l-1 for layer l */
    float *params;                   /* arena: parameters */
    float *grads;                    /* arena: gradients, same layout */
    float *delta;                    /* arena: this step's update, same layout */
    float *opt_m;                    /* optimizer first moment / momentum buffer (or NULL) */
    float *opt_v;                    /* optimizer second moment (or NULL) */
    float *acts;                     /* arena: every activation buffer */
    float *g, *gskip, *dy, *scratch; /* backward scratch (B, max width) */
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

GsStatus gs_net_create(const GsSpec *spec, size_t d_in, size_t d_out, size_t batch_max, GsNet **out,
                       GsError *err)
{
    if (spec->depth < 1 || spec->width < 1 || d_in < 1 || d_out < 1 || batch_max < 1)
        return gs_error(err, GS_ERR_INVALID, "net: empty dimension");
    GsNet *net = calloc(1, sizeof *net);
    if (!net)
        return gs_error(err, GS_ERR_NOMEM, "out of memory creating the network");
    net->spec = *spec;
    net->d_in = d_in;
    net->d_out = d_out;
    net->width = (size_t)spec->width;
    net->batch_max = batch_max;
    net->n_layers = (size_t)spec->depth + 1;
    net->loss = gs_spec_loss(spec);
    net->layers = calloc(net->n_layers, sizeof *net->layers);
    if (!net->layers)
        goto nomem;

    /* Sizes first (a pure pass), then one allocation per arena. */
    size_t np = 0, na = 0, B = batch_max, maxw = net->width > d_out ? net->width : d_out;
    for (size_t i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        L->hidden = i + 1 < net->n_layers;
        L->n_in = i == 0 ? d_in : net->width;
        L->n_out = L->hidden ? net->width : d_out;
        L->norm = L->hidden ? (int)spec->norm : GS_NORM_NONE;
        residual_roles(spec->depth, spec->residual, (int)i + 1, &L->block_start, &L->block_end);
        L->off_w = np;
        np += L->n_out * L->n_in;
        L->off_b = np;
        np += L->n_out;
        if (L->norm != GS_NORM_NONE) {
            L->off_g = np;
            np += L->n_out;
            L->off_be = np;
            np += L->n_out;
        }
        size_t bn = B * L->n_out;
        na += 3 * bn; /* z, h, dz */
        if (L->norm != GS_NORM_NONE)
            na += 2 * bn + (L->norm == GS_NORM_BATCH ? L->n_out : B); /* y, xhat, rstd */
        if (L->block_end)
            na += bn; /* out */
    }
    na += 4 * B * maxw; /* g, gskip, dy, scratch */
    net->n_params = np;

    int need_m = spec->opt != GS_OPT_SGD, need_v = spec->opt == GS_OPT_RMSPROP ||
                                                   spec->opt == GS_OPT_ADAM ||
                                                   spec->opt == GS_OPT_ADAMW;
    net->params = calloc(np, sizeof(float));
    net->grads = calloc(np, sizeof(float));
    net->delta = calloc(np, sizeof(float));
    net->opt_m = need_m ? calloc(np, sizeof(float)) : NULL;
    net->opt_v = need_v ? calloc(np, sizeof(float)) : NULL;
    net->acts = calloc(na, sizeof(float));
    if (!net->params || !net->grads || !net->delta || (need_m && !net->opt_m) ||
        (need_v && !net->opt_v) || !net->acts)
        goto nomem;

    float *a = net->acts;
    for (size_t i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        size_t bn = B * L->n_out;
        L->z = a, a += bn;
        L->h = a, a += bn;
        L->dz = a, a += bn;
        L->y = L->z;
        L->out = L->h;
        if (L->norm != GS_NORM_NONE) {
            L->y = a, a += bn;
            L->xhat = a, a += bn;
            L->rstd = a, a += L->norm == GS_NORM_BATCH ? L->n_out : B;
        }
        if (L->block_end)
            L->out = a, a += bn;
        if (!L->hidden)
            L->h = L->z; /* the output layer is linear: its output is z */
    }
    net->g = a, a += B * maxw;
    net->gskip = a, a += B * maxw;
    net->dy = a, a += B * maxw;
    net->scratch = a, a += B * maxw;
    assert((size_t)(a - net->acts) == na);

    /* Initialization: one derived stream for all parameters, layer by layer. */
    GsRng rng;
    gs_rng_seed(&rng, gs_rng_derive(spec->seed, 1));
    for (size_t i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        GsStatus st = gs_init_fill(&spec->init, net->params + L->off_w, L->n_out, L->n_in, &rng);
        if (st != GS_OK)
            goto nomem;
        gs_bias_init_fill(&spec->bias_init, net->params + L->off_b, L->n_out, &rng);
        if (L->norm != GS_NORM_NONE)
            for (size_t j = 0; j < L->n_out; j++) {
                net->params[L->off_g + j] = 1.0f;
                net->params[L->off_be + j] = 0.0f;
            }
    }
    *out = net;
    return GS_OK;
nomem:
    gs_net_destroy(net);
    return gs_error(err, GS_ERR_NOMEM, "out of memory creating the network");
}

void gs_net_destroy(GsNet *net)
{
    if (!net)
        return;
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->delta);
    free(net->opt_m);
    free(net->opt_v);
    free(net->acts);
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

GsLayerParams gs_net_layer(GsNet *net, size_t l)
{
    assert(l >= 1 && l <= net->n_layers);
    const Layer *L = &net->layers[l - 1];
    GsLayerParams p = {L->n_in, L->n_out, net->params + L->off_w, net->params + L->off_b,
                       NULL,    NULL,     net->grads + L->off_w,  net->grads + L->off_b,
                       NULL,    NULL};
    if (L->norm != GS_NORM_NONE) {
        p.gamma = net->params + L->off_g;
        p.beta = net->params + L->off_be;
        p.dgamma = net->grads + L->off_g;
        p.dbeta = net->grads + L->off_be;
    }
    return p;
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
    for (size_t i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        const float *p = net->params;
        L->x = in;
        if (L->block_start)
            block_in = in;
        gs_dense_forward(L->z, in, p + L->off_w, p + L->off_b, B, L->n_in, L->n_out);
        if (L->hidden) {
            if (L->norm == GS_NORM_BATCH)
                gs_batchnorm_forward(L->y, L->xhat, L->rstd, L->z, p + L->off_g, p + L->off_be, B,
                                     L->n_out, NORM_EPS);
            else if (L->norm == GS_NORM_LAYER)
                gs_layernorm_forward(L->y, L->xhat, L->rstd, L->z, p + L->off_g, p + L->off_be, B,
                                     L->n_out, NORM_EPS);
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

void gs_net_backward(GsNet *net, size_t B)
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
            float *dy = L->norm == GS_NORM_NONE ? L->dz : net->dy;
            gs_act_backward(&net->spec.act, dy, g, L->y, L->h, bn);
            if (L->norm == GS_NORM_BATCH)
                gs_batchnorm_backward(L->dz, gr + L->off_g, gr + L->off_be, dy, L->xhat, L->rstd,
                                      p + L->off_g, B, L->n_out);
            else if (L->norm == GS_NORM_LAYER)
                gs_layernorm_backward(L->dz, gr + L->off_g, gr + L->off_be, dy, L->xhat, L->rstd,
                                      p + L->off_g, B, L->n_out);
        }
        /* dx of layer 1 (the data) is never needed. */
        gs_dense_backward(i > 0 ? g : NULL, gr + L->off_w, gr + L->off_b, L->dz, L->x, p + L->off_w,
                          B, L->n_in, L->n_out);
        if (L->block_start)
            for (size_t k = 0; k < B * L->n_in; k++)
                g[k] += net->gskip[k];
    }
}

const float *gs_net_output(const GsNet *net)
{
    return net->layers[net->n_layers - 1].z;
}

double gs_net_grad_norm(const GsNet *net)
{
    return gs_l2(net->grads, net->n_params);
}

int gs_net_clip(GsNet *net, double before, double *norm_after)
{
    size_t n = net->n_params;
    double after = before;
    int changed = 0;
    if (net->spec.clip_norm > 0 && gs_clip_norm(net->grads, n, before, net->spec.clip_norm))
        changed = 1;
    if (net->spec.clip_value > 0 && gs_clip_value(net->grads, n, net->spec.clip_value) > 0)
        changed = 1;
    if (changed)
        after = gs_l2(net->grads, n);
    *norm_after = after;
    return changed;
}

void gs_net_optim_step(GsNet *net, double lr, long t)
{
    GsOptStep o = {net->spec.opt, lr, net->spec.opt_param, net->spec.weight_decay, t};
    gs_optim_step(net->delta, net->params, net->grads, net->opt_m, net->opt_v, net->n_params, &o);
}

const float *gs_net_layer_delta_w(const GsNet *net, size_t l)
{
    return net->delta + net->layers[l - 1].off_w;
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
float *gs_net_scratch(GsNet *net)
{
    return net->scratch;
}

GsStatus gs_net_export_npy(const GsNet *net, const char *dir, GsError *err)
{
    char path[4096];
    for (size_t i = 0; i < net->n_layers; i++) {
        const Layer *L = &net->layers[i];
        size_t shape_w[2] = {L->n_out, L->n_in}, shape_b[1] = {L->n_out};
        struct {
            const char *fmt;
            size_t off;
            const size_t *shape;
            size_t ndim;
        } files[4] = {{"%s/dense%zu.weight.npy", L->off_w, shape_w, 2},
                      {"%s/dense%zu.bias.npy", L->off_b, shape_b, 1},
                      {"%s/norm%zu.weight.npy", L->off_g, shape_b, 1},
                      {"%s/norm%zu.bias.npy", L->off_be, shape_b, 1}};
        size_t nfiles = L->norm != GS_NORM_NONE ? 4 : 2;
        for (size_t f = 0; f < nfiles; f++) {
            snprintf(path, sizeof path, files[f].fmt, dir, i + 1);
            GsStatus st = gs_npy_write_f32(path, net->params + files[f].off, files[f].shape,
                                           files[f].ndim, err);
            if (st != GS_OK)
                return st;
        }
    }
    return GS_OK;
}
