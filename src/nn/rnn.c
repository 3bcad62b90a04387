/* Recurrent nets (RNN tanh/relu, LSTM, GRU) with PyTorch's formulas, gate order and init,
 * trained by full or truncated BPTT. All sequences are stored time major inside, (T, B, .),
 * so that the rows of one time step, and of a window of steps, are one contiguous block:
 * every product over a window is then a single gs_gemm_openblas (nn/gemm.c). */
#include "gradscope/rnn.h"

#include <assert.h>
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/npy.h"
#include "gradscope/rng.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/size_math.h"
#include "nn/vmath.h"
#include "util/simd.h"

static const struct {
    const char *name;
    size_t gates;
} cells[GS_CELL_COUNT] = {
    [GS_CELL_RNN_TANH] = {"rnn_tanh", 1},
    [GS_CELL_RNN_RELU] = {"rnn_relu", 1},
    [GS_CELL_LSTM] = {"lstm", 4},
    [GS_CELL_GRU] = {"gru", 3},
};

/* |h| above this is where tanh'(z) = 1 - h^2 falls below 5% of its largest value. */
#define SAT_H 0.97467943448089633 /* sqrt(0.95) */

GsStatus gs_cell_parse(const char *text, GsCellKind *out, GsError *err)
{
    assert(text && out);
    for (int k = 0; k < GS_CELL_COUNT; k++) {
        if (strcmp(text, cells[k].name) == 0) {
            *out = (GsCellKind)k;
            return GS_OK;
        }
    }
    return gs_error(err, GS_ERR_INVALID,
                    "unknown recurrent cell '%s' (expected rnn_tanh, rnn_relu, lstm or gru)", text);
}

const char *gs_cell_name(GsCellKind kind)
{
    return (int)kind >= 0 && kind < GS_CELL_COUNT ? cells[kind].name : NULL;
}

size_t gs_cell_gates(GsCellKind kind)
{
    assert((int)kind >= 0 && kind < GS_CELL_COUNT);
    return cells[kind].gates;
}

GsStatus gs_hh_init_parse(const char *text, GsHhInit *out, GsError *err)
{
    assert(text && out);
    GsHhInit h = {GS_HH_DEFAULT, 1.0, {GS_INIT_STANDARD, 0.0, 1.0}};
    if (strcmp(text, "default") == 0) {
        *out = h;
        return GS_OK;
    }
    if (strncmp(text, "identity", 8) == 0 && (text[8] == '\0' || text[8] == ':')) {
        h.kind = GS_HH_IDENTITY;
        if (text[8] == ':') {
            char *end = NULL;
            double g = strtod(text + 9, &end);
            if (text[9] == '\0' || text[9] == ' ' || *end != '\0' || !isfinite(g) || !(g > 0.0))
                return gs_error(err, GS_ERR_INVALID,
                                "recurrent initialization '%s': the gain must be a positive "
                                "number",
                                text);
            h.gain = g;
        }
        *out = h;
        return GS_OK;
    }
    GsError e;
    if (gs_init_parse(text, &h.init, &e) != GS_OK)
        return gs_error(err, GS_ERR_INVALID,
                        "unknown recurrent initialization '%s' (expected default, "
                        "identity[:GAIN], orthogonal[:GAIN] or any --init scheme: %s)",
                        text, e.msg);
    h.kind = GS_HH_SCHEME;
    *out = h;
    return GS_OK;
}

GsRnnConfig gs_rnn_config_default(void)
{
    GsRnnConfig c;
    memset(&c, 0, sizeof c);
    c.cell = GS_CELL_RNN_TANH;
    c.depth = 1;
    c.head = GS_RNN_HEAD_LAST;
    c.loss = GS_RNN_LOSS_MSE;
    c.bptt = 0;
    c.init_ih_default = 1;
    c.init_ih = (GsInit){GS_INIT_STANDARD, 0.0, 1.0};
    c.init_hh = (GsHhInit){GS_HH_DEFAULT, 1.0, {GS_INIT_STANDARD, 0.0, 1.0}};
    return c;
}

GsStatus gs_rnn_config_validate(const GsRnnConfig *c, GsError *err)
{
    assert(c);
    if ((int)c->cell < 0 || c->cell >= GS_CELL_COUNT)
        return gs_error(err, GS_ERR_INVALID, "recurrent cell: unknown kind %d", (int)c->cell);
    const struct {
        const char *name;
        size_t v;
    } pos[] = {
        {"input features", c->d_in}, {"hidden units", c->hidden},     {"depth", c->depth},
        {"outputs", c->d_out},       {"sequence length", c->seq_len}, {"batch size", c->batch_max}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v == 0)
            return gs_error(err, GS_ERR_INVALID, "recurrent net: %s must be >= 1, got 0",
                            pos[i].name);
    if (c->head != GS_RNN_HEAD_LAST && c->head != GS_RNN_HEAD_EACH)
        return gs_error(err, GS_ERR_INVALID, "recurrent net: unknown head %d", (int)c->head);
    if (c->loss != GS_RNN_LOSS_MSE && c->loss != GS_RNN_LOSS_XENT)
        return gs_error(err, GS_ERR_INVALID, "recurrent net: unknown loss %d", (int)c->loss);
    if (c->loss == GS_RNN_LOSS_XENT && c->d_out < 2)
        return gs_error(err, GS_ERR_INVALID,
                        "recurrent net: cross-entropy needs >= 2 classes, got %zu", c->d_out);
    if (c->has_forget_bias && c->cell != GS_CELL_LSTM)
        return gs_error(err, GS_ERR_INVALID, "--forget-bias applies to lstm only, not %s",
                        cells[c->cell].name);
    if (c->has_forget_bias && !isfinite(c->forget_bias))
        return gs_error(err, GS_ERR_INVALID, "--forget-bias must be finite, got %g",
                        c->forget_bias);
    if (c->chrono && c->cell != GS_CELL_LSTM)
        return gs_error(err, GS_ERR_INVALID, "chrono init applies to lstm only, not %s",
                        cells[c->cell].name);
    if (c->chrono && c->has_forget_bias)
        return gs_error(err, GS_ERR_INVALID, "give either --forget-bias or chrono init, not both");
    if (c->chrono && !(c->chrono_tmax > 2.0 && isfinite(c->chrono_tmax)))
        return gs_error(err, GS_ERR_INVALID, "chrono init: T_max must be > 2, got %g",
                        c->chrono_tmax);
    if (c->init_hh.kind == GS_HH_IDENTITY && !(c->init_hh.gain > 0.0 && isfinite(c->init_hh.gain)))
        return gs_error(err, GS_ERR_INVALID, "identity recurrent init: gain %g is not positive",
                        c->init_hh.gain);
    return GS_OK;
}

/* ---- sizes: the one place that lays out the arenas ---- */

/* Float counts of every activation buffer; per-layer ones are per layer. */
typedef struct {
    size_t hs, gates, c, tc, hn, dhtot, dctot; /* per layer */
    size_t xt, logits, dlogits, out_bf, tgt, dhead, dpp, wa_ih, wa_hh, q, step;
    size_t per_layer, total;
} Plan;

static int plan_acts(const GsRnnConfig *c, Plan *p)
{
    int ok = 1;
    const size_t T = c->seq_len, B = c->batch_max, H = c->hidden, G = cells[c->cell].gates;
    const size_t GH = size_mul(G, H, &ok), TB = size_mul(T, B, &ok), BH = size_mul(B, H, &ok);
    const size_t TBH = size_mul(TB, H, &ok), TBGH = size_mul(TB, GH, &ok);
    const int lstm = c->cell == GS_CELL_LSTM, gru = c->cell == GS_CELL_GRU;
    memset(p, 0, sizeof *p);
    p->hs = size_add(TBH, BH, &ok); /* (T+1, B, H): h_0 = 0 first */
    p->gates = TBGH;
    p->c = lstm ? p->hs : 0;
    p->tc = lstm ? TBH : 0;
    p->hn = gru ? TBH : 0;
    p->dhtot = TBH;
    p->dctot = lstm ? TBH : 0;
    size_t per = 0;
    const size_t pl[] = {p->hs, p->gates, p->c, p->tc, p->hn, p->dhtot, p->dctot};
    for (size_t i = 0; i < sizeof pl / sizeof pl[0]; i++)
        per = size_add(per, pl[i], &ok);
    p->per_layer = per;
    const size_t rows_out = c->head == GS_RNN_HEAD_EACH ? TB : B;
    p->xt = size_mul(TB, c->d_in, &ok);
    p->logits = p->dlogits = p->out_bf = p->tgt = size_mul(rows_out, c->d_out, &ok);
    p->dhead = TBH;
    p->dpp = c->depth > 1 ? size_mul(2, TBH, &ok) : 0; /* ping-pong between layers */
    p->wa_ih = TBGH;
    p->wa_hh = gru ? TBGH : 0; /* other cells: the same gate gradient feeds both products */
    p->q = size_mul(B, GH, &ok);
    p->step = size_mul(4, BH, &ok); /* dh, dh_next, dc, dc_next */
    size_t total = size_mul(per, c->depth, &ok);
    const size_t gl[] = {p->xt,  p->logits, p->dlogits, p->out_bf, p->tgt, p->dhead,
                         p->dpp, p->wa_ih,  p->wa_hh,   p->q,      p->step};
    for (size_t i = 0; i < sizeof gl / sizeof gl[0]; i++)
        total = size_add(total, gl[i], &ok);
    p->total = total;
    return ok;
}

static size_t layer_n_in(const GsRnnConfig *c, size_t k)
{
    return k == 0 ? c->d_in : c->hidden;
}

static int count_params(const GsRnnConfig *c, size_t *n)
{
    int ok = 1;
    const size_t GH = size_mul(cells[c->cell].gates, c->hidden, &ok);
    size_t total = 0;
    for (size_t k = 0; k < c->depth && ok; k++) {
        total = size_add(total, size_mul(GH, size_add(layer_n_in(c, k), c->hidden, &ok), &ok), &ok);
        total = size_add(total, size_mul(2, GH, &ok), &ok);
    }
    total = size_add(total, size_mul(c->d_out, size_add(c->hidden, 1, &ok), &ok), &ok);
    *n = total;
    return ok;
}

/* ---- the net ---- */

typedef struct {
    size_t n_in;
    float *w_ih, *w_hh, *b_ih, *b_hh;             /* views into params */
    float *dw_ih, *dw_hh, *db_ih, *db_hh;         /* views into grads */
    float *hs;                                    /* (T+1, B, H), hs[0] = h_0 = 0, hs[t] = h_t */
    float *gates;                                 /* (T, B, G*H) after the nonlinearities */
    float *c;                                     /* LSTM (T+1, B, H), c[0] = 0 */
    float *tc;                                    /* LSTM tanh(c_t), (T, B, H) */
    float *hn;                                    /* GRU W_hn h_{t-1} + b_hn, (T, B, H) */
    float *dhtot, *dctot;                         /* (T, B, H): total gradient reaching h_t, c_t */
    double *h_gn, *c_gn, *h_mean, *h_std, *h_sat; /* seq_len each */
} Layer;

struct GsRnn {
    GsRnnConfig cfg;
    size_t G, GH, n_params, n_tensors;
    GsRnnTensor *tensors;
    Layer *layers;
    float *params, *grads, *acts;
    int32_t *lab;
    double *stats;
    float *w_out, *b_out, *dw_out, *db_out;
    float *xt, *logits, *dlogits, *out_bf, *tgt, *dhead, *dpp[2], *wa_ih, *wa_hh, *q;
    float *dh, *dhn, *dc, *dcn;
    size_t B, T; /* of the last forward */
};

GsStatus gs_rnn_sizes(const GsRnnConfig *cfg, GsRnnSizes *out, GsError *err)
{
    assert(cfg && out);
    GsStatus st = gs_rnn_config_validate(cfg, err);
    if (st != GS_OK)
        return st;
    Plan p;
    GsRnnSizes s;
    int ok = plan_acts(cfg, &p) && count_params(cfg, &s.n_params);
    s.n_acts = p.total;
    s.n_tensors = size_add(size_mul(4, cfg->depth, &ok), 2, &ok);
    /* params + grads + acts (floats), labels (int32), 5 statistics arrays per layer
     * (double), the tensor table, the layer views and the handle */
    size_t bytes =
        size_mul(size_add(size_mul(2, s.n_params, &ok), s.n_acts, &ok), sizeof(float), &ok);
    bytes = size_add(
        bytes, size_mul(size_mul(cfg->seq_len, cfg->batch_max, &ok), sizeof(int32_t), &ok), &ok);
    bytes = size_add(
        bytes,
        size_mul(size_mul(size_mul(5, cfg->depth, &ok), cfg->seq_len, &ok), sizeof(double), &ok),
        &ok);
    bytes = size_add(bytes, size_mul(s.n_tensors, sizeof(GsRnnTensor), &ok), &ok);
    bytes = size_add(bytes, size_add(size_mul(cfg->depth, sizeof(Layer), &ok), sizeof(GsRnn), &ok),
                     &ok);
    s.bytes = bytes;
    if (!ok || s.n_params > (size_t)INT_MAX || p.total > (size_t)INT_MAX)
        return gs_error(err, GS_ERR_RANGE,
                        "recurrent net (hidden %zu, depth %zu, T %zu, batch %zu) is too large",
                        cfg->hidden, cfg->depth, cfg->seq_len, cfg->batch_max);
    *out = s;
    return GS_OK;
}

static void set_tensor(GsRnnTensor *t, const char *name, GsRnnTensorRole role, size_t layer,
                       size_t d0, size_t d1, size_t *off)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    t->kind =
        role == GS_RT_OUT_WEIGHT || role == GS_RT_OUT_BIAS ? GS_LAYER_DENSE : GS_LAYER_RECURRENT;
    t->layer = layer;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->offset = *off;
    t->size = d1 ? d0 * d1 : d0;
    *off += t->size;
}

/* PyTorch's default for every recurrent parameter and for nn.Linear: U(-1/sqrt(H), 1/sqrt(H))
 * (nn.Linear's kaiming_uniform(a = sqrt 5) reduces to the same bound for fan-in H). */
static GsStatus fill_default(float *w, size_t n, size_t H, GsRng *rng)
{
    GsInit u = {GS_INIT_UNIFORM, 1.0 / sqrt((double)H), 1.0};
    return gs_init_fill(&u, w, n, 1, rng);
}

static GsStatus init_params(GsRnn *net)
{
    const GsRnnConfig *c = &net->cfg;
    const size_t H = c->hidden, G = net->G, GH = net->GH;
    GsRng rng;
    gs_rng_seed(&rng, c->seed);
    GsStatus st = GS_OK;
    for (size_t k = 0; k < c->depth && st == GS_OK; k++) {
        Layer *L = &net->layers[k];
        const size_t n_in = L->n_in;
        if (c->init_ih_default)
            st = fill_default(L->w_ih, GH * n_in, H, &rng);
        else
            for (size_t g = 0; g < G && st == GS_OK; g++)
                st = gs_init_fill(&c->init_ih, L->w_ih + g * H * n_in, H, n_in, &rng);
        if (st != GS_OK)
            break;
        switch (c->init_hh.kind) {
        case GS_HH_DEFAULT: st = fill_default(L->w_hh, GH * H, H, &rng); break;
        case GS_HH_IDENTITY:
            memset(L->w_hh, 0, GH * H * sizeof *L->w_hh);
            for (size_t g = 0; g < G; g++)
                for (size_t i = 0; i < H; i++)
                    L->w_hh[(g * H + i) * H + i] = (float)c->init_hh.gain;
            break;
        case GS_HH_SCHEME:
            for (size_t g = 0; g < G && st == GS_OK; g++)
                st = gs_init_fill(&c->init_hh.init, L->w_hh + g * H * H, H, H, &rng);
            break;
        }
        if (st != GS_OK)
            break;
        fill_default(L->b_ih, GH, H, &rng);
        fill_default(L->b_hh, GH, H, &rng);
        if (c->chrono) {
            /* gates i, f, g, o: b_f = log u, b_i = -b_f (the hh slices hold 0, so the sums
             * PyTorch adds are exactly these) */
            for (size_t i = 0; i < H; i++) {
                double u = 1.0 + (c->chrono_tmax - 2.0) * gs_rng_uniform(&rng);
                L->b_ih[H + i] = (float)log(u);
                L->b_ih[i] = (float)-log(u);
                L->b_hh[H + i] = 0.0f;
                L->b_hh[i] = 0.0f;
            }
        }
        if (c->has_forget_bias) {
            /* the forget gate is the second block (i, f, g, o) */
            for (size_t i = 0; i < H; i++) {
                L->b_ih[H + i] = (float)c->forget_bias;
                L->b_hh[H + i] = 0.0f;
            }
        }
    }
    if (st == GS_OK) {
        fill_default(net->w_out, c->d_out * H, H, &rng);
        fill_default(net->b_out, c->d_out, H, &rng);
    }
    return st;
}

GsStatus gs_rnn_create(const GsRnnConfig *cfg, GsRnn **out, GsError *err)
{
    assert(cfg && out);
    GsRnnSizes sz;
    GsStatus st = gs_rnn_sizes(cfg, &sz, err);
    if (st != GS_OK)
        return st;
    Plan p;
    plan_acts(cfg, &p);
    GsRnn *net = calloc(1, sizeof *net);
    if (!net)
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the recurrent net");
    net->cfg = *cfg;
    net->G = cells[cfg->cell].gates;
    net->GH = net->G * cfg->hidden;
    net->n_params = sz.n_params;
    net->n_tensors = sz.n_tensors;
    const size_t T = cfg->seq_len, B = cfg->batch_max, K = cfg->depth;
    net->tensors = calloc(sz.n_tensors, sizeof *net->tensors);
    net->layers = calloc(K, sizeof *net->layers);
    net->params = calloc(sz.n_params, sizeof(float));
    net->grads = calloc(sz.n_params, sizeof(float));
    net->acts = calloc(p.total, sizeof(float));
    net->lab = calloc(T * B, sizeof(int32_t));
    net->stats = calloc(5 * K * T, sizeof(double));
    if (!net->tensors || !net->layers || !net->params || !net->grads || !net->acts || !net->lab ||
        !net->stats) {
        gs_rnn_destroy(net);
        return gs_error(err, GS_ERR_NOMEM, "out of memory for the recurrent net (%zu bytes)",
                        sz.bytes);
    }

    /* tensor table, in state_dict order: per layer weight_ih, weight_hh, bias_ih, bias_hh */
    size_t off = 0, ti = 0;
    char name[40];
    for (size_t k = 0; k < K; k++) {
        Layer *L = &net->layers[k];
        L->n_in = layer_n_in(cfg, k);
        GsRnnTensor *t = &net->tensors[ti];
        snprintf(name, sizeof name, "rnn.weight_ih_l%zu", k);
        set_tensor(&net->tensors[ti++], name, GS_RT_WEIGHT_IH, k, net->GH, L->n_in, &off);
        snprintf(name, sizeof name, "rnn.weight_hh_l%zu", k);
        set_tensor(&net->tensors[ti++], name, GS_RT_WEIGHT_HH, k, net->GH, cfg->hidden, &off);
        snprintf(name, sizeof name, "rnn.bias_ih_l%zu", k);
        set_tensor(&net->tensors[ti++], name, GS_RT_BIAS_IH, k, net->GH, 0, &off);
        snprintf(name, sizeof name, "rnn.bias_hh_l%zu", k);
        set_tensor(&net->tensors[ti++], name, GS_RT_BIAS_HH, k, net->GH, 0, &off);
        L->w_ih = net->params + t[0].offset;
        L->w_hh = net->params + t[1].offset;
        L->b_ih = net->params + t[2].offset;
        L->b_hh = net->params + t[3].offset;
        L->dw_ih = net->grads + t[0].offset;
        L->dw_hh = net->grads + t[1].offset;
        L->db_ih = net->grads + t[2].offset;
        L->db_hh = net->grads + t[3].offset;
    }
    set_tensor(&net->tensors[ti++], "out.weight", GS_RT_OUT_WEIGHT, K, cfg->d_out, cfg->hidden,
               &off);
    set_tensor(&net->tensors[ti++], "out.bias", GS_RT_OUT_BIAS, K, cfg->d_out, 0, &off);
    assert(ti == sz.n_tensors && off == sz.n_params);
    net->w_out = net->params + net->tensors[ti - 2].offset;
    net->b_out = net->params + net->tensors[ti - 1].offset;
    net->dw_out = net->grads + net->tensors[ti - 2].offset;
    net->db_out = net->grads + net->tensors[ti - 1].offset;

    /* activation views, in the plan's order */
    float *a = net->acts;
#define TAKE(ptr, n)                                                                               \
    do {                                                                                           \
        (ptr) = (n) ? a : NULL;                                                                    \
        a += (n);                                                                                  \
    } while (0)
    for (size_t k = 0; k < K; k++) {
        Layer *L = &net->layers[k];
        TAKE(L->hs, p.hs);
        TAKE(L->gates, p.gates);
        TAKE(L->c, p.c);
        TAKE(L->tc, p.tc);
        TAKE(L->hn, p.hn);
        TAKE(L->dhtot, p.dhtot);
        TAKE(L->dctot, p.dctot);
        double *s = net->stats + 5 * k * T;
        L->h_gn = s;
        L->c_gn = s + T;
        L->h_mean = s + 2 * T;
        L->h_std = s + 3 * T;
        L->h_sat = s + 4 * T;
    }
    TAKE(net->xt, p.xt);
    TAKE(net->logits, p.logits);
    TAKE(net->dlogits, p.dlogits);
    TAKE(net->out_bf, p.out_bf);
    TAKE(net->tgt, p.tgt);
    TAKE(net->dhead, p.dhead);
    float *pp;
    TAKE(pp, p.dpp);
    net->dpp[0] = pp;
    net->dpp[1] = pp ? pp + p.dpp / 2 : NULL;
    TAKE(net->wa_ih, p.wa_ih);
    TAKE(net->wa_hh, p.wa_hh);
    if (!net->wa_hh)
        net->wa_hh = net->wa_ih;
    TAKE(net->q, p.q);
    float *step;
    TAKE(step, p.step);
#undef TAKE
    assert((size_t)(a - net->acts) == p.total);
    const size_t BH = B * cfg->hidden;
    net->dh = step;
    net->dhn = step + BH;
    net->dc = step + 2 * BH;
    net->dcn = step + 3 * BH;

    if (init_params(net) != GS_OK) {
        gs_rnn_destroy(net);
        return gs_error(err, GS_ERR_NOMEM, "out of memory initializing the recurrent weights");
    }
    *out = net;
    return GS_OK;
}

void gs_rnn_destroy(GsRnn *net)
{
    if (!net)
        return;
    free(net->tensors);
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->acts);
    free(net->lab);
    free(net->stats);
    free(net);
}

const GsRnnConfig *gs_rnn_config(const GsRnn *net)
{
    return &net->cfg;
}

const GsRnnTensor *gs_rnn_tensors(const GsRnn *net, size_t *n)
{
    *n = net->n_tensors;
    return net->tensors;
}

float *gs_rnn_params(GsRnn *net)
{
    return net->params;
}

float *gs_rnn_grads(GsRnn *net)
{
    return net->grads;
}

size_t gs_rnn_n_params(const GsRnn *net)
{
    return net->n_params;
}

void gs_rnn_zero_grad(GsRnn *net)
{
    memset(net->grads, 0, net->n_params * sizeof *net->grads);
}

/* ---- forward ---- */

/* C (m, n) = A (m, k) . W^T (W: n, k) [+ C when accumulate]. */
static void mm_abt(float *C, const float *A, const float *W, size_t m, size_t n, size_t k,
                   int accumulate)
{
    gs_gemm_openblas(0, 1, m, n, k, A, k, W, k, accumulate ? 1.0f : 0.0f, C, n);
}

/* C (m, n) = A (m, k) . W (W: k, n). */
static void mm_ab(float *C, const float *A, const float *W, size_t m, size_t n, size_t k)
{
    gs_gemm_openblas(0, 0, m, n, k, A, k, W, n, 0.0f, C, n);
}

/* dW (n, k) += dA^T (dA: m, n) . X (m, k). */
static void mm_atb_acc(float *dW, const float *dA, const float *X, size_t m, size_t n, size_t k)
{
    gs_gemm_openblas(1, 0, n, k, m, dA, n, X, k, 1.0f, dW, k);
}

static void add_rows(float *y, const float *b, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++)
            y[r * n + j] += b[j];
}

static void colsum_acc(float *db, const float *d, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++)
            db[j] += d[r * n + j];
}

/* Elementwise row kernels, restrict-qualified and cloned for AVX2 (util/simd.h) so that the
 * gate loops vectorize: one row holds a sample's G*H gate entries. */
GS_SIMD_CLONES
static void tanh_fwd(float *restrict g, const float *restrict q, float *restrict h, size_t n)
{
    VM_DISPATCH(for (size_t i = 0; i < n; i++) {
        g[i] = vm_tanh(g[i] + q[i], nofma);
        h[i] = g[i];
    });
}

GS_SIMD_CLONES
static void lstm_fwd_row(float *restrict g, const float *restrict q, const float *restrict cp,
                         float *restrict c, float *restrict tc, float *restrict h, size_t H)
{
    VM_DISPATCH(for (size_t j = 0; j < H; j++) {
        float i = vm_sigmoid(g[j] + q[j], nofma), f = vm_sigmoid(g[H + j] + q[H + j], nofma);
        float gg = vm_tanh(g[2 * H + j] + q[2 * H + j], nofma),
              o = vm_sigmoid(g[3 * H + j] + q[3 * H + j], nofma);
        g[j] = i;
        g[H + j] = f;
        g[2 * H + j] = gg;
        g[3 * H + j] = o;
        c[j] = f * cp[j] + i * gg;
        tc[j] = vm_tanh(c[j], nofma);
        h[j] = o * tc[j];
    });
}

GS_SIMD_CLONES
static void gru_fwd_row(float *restrict g, const float *restrict q, const float *restrict hp,
                        float *restrict hn, float *restrict h, size_t H)
{
    VM_DISPATCH(for (size_t j = 0; j < H; j++) {
        float r = vm_sigmoid(g[j] + q[j], nofma), z = vm_sigmoid(g[H + j] + q[H + j], nofma);
        hn[j] = q[2 * H + j];
        float n = vm_tanh(g[2 * H + j] + r * q[2 * H + j], nofma);
        g[j] = r;
        g[H + j] = z;
        g[2 * H + j] = n;
        h[j] = (1.0f - z) * n + z * hp[j];
    });
}

GS_SIMD_CLONES
static void lstm_bwd_row(float *restrict a, float *restrict dc, float *restrict dct,
                         const float *restrict g, const float *restrict dh,
                         const float *restrict tc, const float *restrict cp, size_t H)
{
    for (size_t j = 0; j < H; j++) {
        float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
        float d = dc[j] + dh[j] * o * (1.0f - tc[j] * tc[j]);
        dc[j] = d;
        dct[j] += d;
        a[j] = d * gg * i * (1.0f - i);
        a[H + j] = d * cp[j] * f * (1.0f - f);
        a[2 * H + j] = d * i * (1.0f - gg * gg);
        a[3 * H + j] = dh[j] * tc[j] * o * (1.0f - o);
    }
}

GS_SIMD_CLONES
static void gru_bwd_row(float *restrict ai, float *restrict ah, const float *restrict g,
                        const float *restrict dh, const float *restrict hp,
                        const float *restrict hn, size_t H)
{
    for (size_t j = 0; j < H; j++) {
        float r = g[j], z = g[H + j], n = g[2 * H + j];
        float dan = dh[j] * (1.0f - z) * (1.0f - n * n);
        float daz = dh[j] * (hp[j] - n) * z * (1.0f - z);
        float dar = dan * hn[j] * r * (1.0f - r);
        ai[j] = ah[j] = dar;
        ai[H + j] = ah[H + j] = daz;
        ai[2 * H + j] = dan;
        ah[2 * H + j] = dan * r;
    }
}

/* One time step of a cell for B rows: g (B, GH) holds the input projection (with b_ih) and
 * becomes the gate activations; q (B, GH) the recurrent projection W_hh h_{t-1} + b_hh. */
static void cell_step(const GsRnn *net, const Layer *L, size_t t, float *g, const float *q,
                      size_t B)
{
    const size_t H = net->cfg.hidden, GH = net->GH, BH = B * H;
    const float *hprev = L->hs + t * BH;
    float *h = L->hs + (t + 1) * BH;
    switch (net->cfg.cell) {
    case GS_CELL_RNN_TANH: tanh_fwd(g, q, h, BH); break;
    case GS_CELL_RNN_RELU:
        for (size_t i = 0; i < BH; i++) {
            float z = g[i] + q[i];
            g[i] = z < 0.0f ? 0.0f : z; /* NaN stays NaN */
            h[i] = g[i];
        }
        break;
    case GS_CELL_LSTM:
        for (size_t b = 0; b < B; b++)
            lstm_fwd_row(g + b * GH, q + b * GH, L->c + t * BH + b * H, L->c + (t + 1) * BH + b * H,
                         L->tc + t * BH + b * H, h + b * H, H);
        break;
    case GS_CELL_GRU:
        for (size_t b = 0; b < B; b++)
            gru_fwd_row(g + b * GH, q + b * GH, hprev + b * H, L->hn + t * BH + b * H, h + b * H,
                        H);
        break;
    default: assert(0);
    }
}

/* Mean, std and saturation of every h_t of every layer (read-only over the hidden states). */
static void hidden_stats(GsRnn *net)
{
    const size_t H = net->cfg.hidden, BH = net->B * H;
    const int relu = net->cfg.cell == GS_CELL_RNN_RELU;
    for (size_t k = 0; k < net->cfg.depth; k++) {
        Layer *L = &net->layers[k];
        for (size_t t = 0; t < net->T; t++) {
            const float *h = L->hs + (t + 1) * BH;
            double s = 0.0, s2 = 0.0;
            size_t sat = 0;
            for (size_t i = 0; i < BH; i++) {
                double v = h[i];
                s += v;
                s2 += v * v;
                sat += fabs(v) > SAT_H;
            }
            double mean = s / (double)BH, var = s2 / (double)BH - mean * mean;
            L->h_mean[t] = mean;
            L->h_std[t] = sqrt(var > 0.0 ? var : 0.0);
            L->h_sat[t] = relu ? 0.0 : (double)sat / (double)BH;
        }
    }
}

void gs_rnn_forward(GsRnn *net, const float *x, size_t B, size_t T)
{
    const GsRnnConfig *c = &net->cfg;
    assert(x && B >= 1 && B <= c->batch_max && T >= 1 && T <= c->seq_len);
    net->B = B;
    net->T = T;
    const size_t D = c->d_in, H = c->hidden, GH = net->GH, BH = B * H, TB = T * B;
    /* batch first (B, T, D) -> time major (T, B, D) */
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++)
            memcpy(net->xt + (t * B + b) * D, x + (b * T + t) * D, D * sizeof *x);
    for (size_t k = 0; k < c->depth; k++) {
        Layer *L = &net->layers[k];
        const float *in = k == 0 ? net->xt : net->layers[k - 1].hs + BH;
        /* input projections of all steps at once */
        mm_abt(L->gates, in, L->w_ih, TB, GH, L->n_in, 0);
        add_rows(L->gates, L->b_ih, TB, GH);
        memset(L->hs, 0, BH * sizeof *L->hs);
        if (L->c)
            memset(L->c, 0, BH * sizeof *L->c);
        for (size_t t = 0; t < T; t++) {
            for (size_t b = 0; b < B; b++)
                memcpy(net->q + b * GH, L->b_hh, GH * sizeof *net->q);
            if (t > 0) /* h_0 = 0 contributes nothing */
                mm_abt(net->q, L->hs + t * BH, L->w_hh, B, GH, H, 1);
            cell_step(net, L, t, L->gates + t * B * GH, net->q, B);
        }
    }
    /* the head */
    const Layer *top = &net->layers[c->depth - 1];
    const size_t O = c->d_out;
    if (c->head == GS_RNN_HEAD_EACH) {
        mm_abt(net->logits, top->hs + BH, net->w_out, TB, O, H, 0);
        add_rows(net->logits, net->b_out, TB, O);
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < T; t++)
                memcpy(net->out_bf + (b * T + t) * O, net->logits + (t * B + b) * O,
                       O * sizeof *net->logits);
    } else {
        mm_abt(net->logits, top->hs + T * BH, net->w_out, B, O, H, 0);
        add_rows(net->logits, net->b_out, B, O);
        memcpy(net->out_bf, net->logits, B * O * sizeof *net->logits);
    }
    hidden_stats(net);
}

const float *gs_rnn_output(const GsRnn *net)
{
    return net->out_bf;
}

double gs_rnn_loss(GsRnn *net, const float *target, const int32_t *label)
{
    const GsRnnConfig *c = &net->cfg;
    const size_t B = net->B, T = net->T, O = c->d_out;
    const int each = c->head == GS_RNN_HEAD_EACH;
    const size_t rows = each ? T * B : B;
    assert(B > 0);
    if (c->loss == GS_RNN_LOSS_MSE) {
        assert(target);
        if (each)
            for (size_t b = 0; b < B; b++)
                for (size_t t = 0; t < T; t++)
                    memcpy(net->tgt + (t * B + b) * O, target + (b * T + t) * O,
                           O * sizeof *target);
        else
            memcpy(net->tgt, target, B * O * sizeof *target);
        return gs_mse_forward_backward(net->dlogits, net->logits, net->tgt, rows, O);
    }
    assert(label);
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < (each ? T : 1); t++) {
            int32_t id = label[each ? b * T + t : b];
            assert(id >= 0 && (size_t)id < O);
            net->lab[each ? t * B + b : b] = id;
        }
    return gs_xent_forward_backward(net->dlogits, net->logits, net->lab, rows, O);
}

/* ---- backward ---- */

/* Gate gradients of step t (B rows) from dh (the total gradient reaching h_t), into
 * wa_ih / wa_hh (B, GH) at step t; LSTM: dc (in: gradient reaching c_t from t+1, out: the
 * total one at c_t, also added to dctot). */
static void cell_backward(GsRnn *net, const Layer *L, size_t t, const float *dh, float *dc,
                          float *wa_ih, float *wa_hh)
{
    const size_t B = net->B, H = net->cfg.hidden, GH = net->GH, BH = B * H;
    const float *g = L->gates + t * B * GH;
    switch (net->cfg.cell) {
    case GS_CELL_RNN_TANH:
        for (size_t i = 0; i < BH; i++)
            wa_ih[i] = dh[i] * (1.0f - g[i] * g[i]);
        break;
    case GS_CELL_RNN_RELU:
        for (size_t i = 0; i < BH; i++)
            wa_ih[i] = g[i] > 0.0f ? dh[i] : (isnan(g[i]) ? g[i] : 0.0f); /* NaN stays NaN */
        break;
    case GS_CELL_LSTM:
        for (size_t b = 0; b < B; b++)
            lstm_bwd_row(wa_ih + b * GH, dc + b * H, L->dctot + t * BH + b * H, g + b * GH,
                         dh + b * H, L->tc + t * BH + b * H, L->c + t * BH + b * H, H);
        break;
    case GS_CELL_GRU:
        for (size_t b = 0; b < B; b++)
            gru_bwd_row(wa_ih + b * GH, wa_hh + b * GH, g + b * GH, dh + b * H,
                        L->hs + t * BH + b * H, L->hn + t * BH + b * H, H);
        break;
    default: assert(0);
    }
}

/* Backpropagates through steps lo..hi of every layer, top down. The top layer's direct
 * gradient is the head's at every step, or at hi alone (only_hi: one truncated window per
 * loss term); what would flow from step lo into the states of step lo-1 is dropped. */
static void backward_window(GsRnn *net, size_t lo, size_t hi, int only_hi)
{
    const GsRnnConfig *c = &net->cfg;
    const size_t B = net->B, H = c->hidden, GH = net->GH, BH = B * H;
    const size_t rows = (hi - lo + 1) * B;
    const float *D = net->dhead; /* direct gradient of the layer being processed, (T, B, H) */
    for (size_t kk = c->depth; kk-- > 0;) {
        Layer *L = &net->layers[kk];
        const int top = kk == c->depth - 1;
        memset(net->dhn, 0, BH * sizeof *net->dhn);
        memset(net->dc, 0, BH * sizeof *net->dc);
        for (size_t t = hi + 1; t-- > lo;) {
            float *dh = net->dh, *dht = L->dhtot + t * BH;
            const int direct = !top || !only_hi || t == hi;
            const float *Dt = D + t * BH;
            for (size_t i = 0; i < BH; i++) {
                dh[i] = net->dhn[i] + (direct ? Dt[i] : 0.0f);
                dht[i] += dh[i];
            }
            float *wih = net->wa_ih + t * B * GH, *whh = net->wa_hh + t * B * GH;
            cell_backward(net, L, t, dh, net->dc, wih, whh);
            if (t > lo) {
                mm_ab(net->dhn, whh, L->w_hh, B, H, GH);
                if (c->cell == GS_CELL_GRU) {
                    const float *g = L->gates + t * B * GH;
                    for (size_t b = 0; b < B; b++)
                        for (size_t j = 0; j < H; j++)
                            net->dhn[b * H + j] += dh[b * H + j] * g[b * GH + H + j];
                } else if (c->cell == GS_CELL_LSTM) {
                    const float *g = L->gates + t * B * GH;
                    for (size_t b = 0; b < B; b++)
                        for (size_t j = 0; j < H; j++)
                            net->dc[b * H + j] *= g[b * GH + H + j];
                }
            }
        }
        const float *wih = net->wa_ih + lo * B * GH, *whh = net->wa_hh + lo * B * GH;
        const float *in = kk == 0 ? net->xt : net->layers[kk - 1].hs + BH;
        mm_atb_acc(L->dw_ih, wih, in + lo * B * L->n_in, rows, GH, L->n_in);
        colsum_acc(L->db_ih, wih, rows, GH);
        /* h_{t-1} of step t is hs[t]: rows lo..hi of hs */
        mm_atb_acc(L->dw_hh, whh, L->hs + lo * BH, rows, GH, H);
        colsum_acc(L->db_hh, whh, rows, GH);
        if (kk > 0) {
            float *Dn = net->dpp[kk % 2];
            mm_ab(Dn + lo * BH, wih, L->w_ih, rows, H, GH);
            D = Dn;
        }
    }
}

static double frob(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return sqrt(s);
}

void gs_rnn_backward(GsRnn *net)
{
    const GsRnnConfig *c = &net->cfg;
    const size_t B = net->B, T = net->T, H = c->hidden, O = c->d_out, BH = B * H;
    assert(B > 0);
    const Layer *top = &net->layers[c->depth - 1];
    /* the head: exact, no recurrence */
    if (c->head == GS_RNN_HEAD_EACH) {
        mm_atb_acc(net->dw_out, net->dlogits, top->hs + BH, T * B, O, H);
        colsum_acc(net->db_out, net->dlogits, T * B, O);
        mm_ab(net->dhead, net->dlogits, net->w_out, T * B, H, O);
    } else {
        mm_atb_acc(net->dw_out, net->dlogits, top->hs + T * BH, B, O, H);
        colsum_acc(net->db_out, net->dlogits, B, O);
        memset(net->dhead, 0, (T - 1) * BH * sizeof *net->dhead);
        mm_ab(net->dhead + (T - 1) * BH, net->dlogits, net->w_out, B, H, O);
    }
    for (size_t k = 0; k < c->depth; k++) {
        memset(net->layers[k].dhtot, 0, T * BH * sizeof(float));
        if (net->layers[k].dctot)
            memset(net->layers[k].dctot, 0, T * BH * sizeof(float));
    }
    const size_t K = c->bptt;
    if (K == 0 || K >= T) {
        backward_window(net, 0, T - 1, 0);
    } else if (c->head == GS_RNN_HEAD_LAST) {
        backward_window(net, T - K, T - 1, 1);
    } else {
        for (size_t s = 0; s < T; s++)
            backward_window(net, s + 1 >= K ? s + 1 - K : 0, s, 1);
    }
    for (size_t k = 0; k < c->depth; k++) {
        Layer *L = &net->layers[k];
        for (size_t t = 0; t < T; t++) {
            L->h_gn[t] = frob(L->dhtot + t * BH, BH);
            L->c_gn[t] = L->dctot ? frob(L->dctot + t * BH, BH) : 0.0;
        }
    }
}

const double *gs_rnn_h_grad_norm(const GsRnn *net, size_t l)
{
    assert(l < net->cfg.depth);
    return net->layers[l].h_gn;
}

const double *gs_rnn_c_grad_norm(const GsRnn *net, size_t l)
{
    assert(l < net->cfg.depth);
    return net->cfg.cell == GS_CELL_LSTM ? net->layers[l].c_gn : NULL;
}

const double *gs_rnn_h_mean(const GsRnn *net, size_t l)
{
    assert(l < net->cfg.depth);
    return net->layers[l].h_mean;
}

const double *gs_rnn_h_std(const GsRnn *net, size_t l)
{
    assert(l < net->cfg.depth);
    return net->layers[l].h_std;
}

const double *gs_rnn_h_saturation(const GsRnn *net, size_t l)
{
    assert(l < net->cfg.depth);
    return net->layers[l].h_sat;
}

const float *gs_rnn_hidden(const GsRnn *net, size_t l)
{
    assert(l < net->cfg.depth);
    return net->layers[l].hs + net->B * net->cfg.hidden;
}

const float *gs_rnn_gates(const GsRnn *net, size_t l)
{
    assert(l < net->cfg.depth);
    return net->layers[l].gates;
}

GsStatus gs_rnn_export_npy(const GsRnn *net, const char *dir, GsError *err)
{
    assert(net && dir);
    char path[4096];
    for (size_t i = 0; i < net->n_tensors; i++) {
        const GsRnnTensor *t = &net->tensors[i];
        int n = snprintf(path, sizeof path, "%s/%s.npy", dir, t->name);
        if (n < 0 || (size_t)n >= sizeof path)
            return gs_error(err, GS_ERR_IO, "export directory name too long: %s", dir);
        GsStatus st = gs_npy_write_f32(path, net->params + t->offset, t->shape, t->ndim, err);
        if (st != GS_OK)
            return st;
    }
    return GS_OK;
}

/* ---- spectra ---- */

static double frob_d(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* rho(A) of the n x n double matrix in a (overwritten; b is n*n scratch). log rho is the
 * limit of log||A^k|| / k for k = 2^m; each squaring is normalized so nothing over- or
 * underflows, and the estimate gains log||C^2|| / 2^(m+1) per step, a correction that
 * halves every step once the dominant eigenvalues take over (any norm gives the same
 * limit; Frobenius is within sqrt(n) of the spectral norm, a factor that vanishes as
 * 1/k). */
static double rho_double(double *a, double *b, size_t n)
{
    double nrm = frob_d(a, n * n);
    if (!isfinite(nrm))
        return NAN;
    if (nrm == 0.0)
        return 0.0;
    for (size_t i = 0; i < n * n; i++)
        a[i] /= nrm;
    double logr = log(nrm), k = 1.0;
    for (int m = 0; m < 80; m++) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, a,
                    (int)n, a, (int)n, 0.0, b, (int)n);
        double nr = frob_d(b, n * n);
        if (nr == 0.0)
            return 0.0; /* A^(2k) = 0: nilpotent */
        k *= 2.0;
        double inc = log(nr) / k;
        logr += inc;
        for (size_t i = 0; i < n * n; i++)
            a[i] = b[i] / nr;
        if (fabs(inc) < 1e-17 && m >= 8)
            break;
    }
    return exp(logr);
}

GsStatus gs_rnn_spectral_radius(const float *w, size_t n, double *out)
{
    assert(w && n > 0 && out);
    if (n > SIZE_MAX / n / 2 / sizeof(double))
        return GS_ERR_NOMEM;
    double *a = malloc(2 * n * n * sizeof *a);
    if (!a)
        return GS_ERR_NOMEM;
    for (size_t i = 0; i < n * n; i++)
        a[i] = w[i];
    *out = rho_double(a, a + n * n, n);
    free(a);
    return GS_OK;
}

GsStatus gs_rnn_sigma_max(const float *w, size_t rows, size_t cols, double *out)
{
    assert(w && rows > 0 && cols > 0 && out);
    /* sigma_max^2 = rho(W^T W) = rho(W W^T): take the smaller Gram matrix */
    const size_t n = rows < cols ? rows : cols;
    if (n > SIZE_MAX / n / 2 / sizeof(double) || rows > SIZE_MAX / cols / sizeof(double))
        return GS_ERR_NOMEM;
    double *a = malloc((2 * n * n + rows * cols) * sizeof *a);
    if (!a)
        return GS_ERR_NOMEM;
    double *wd = a + 2 * n * n;
    for (size_t i = 0; i < rows * cols; i++)
        wd[i] = w[i];
    if (cols <= rows) /* W^T W (cols x cols) */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)rows, 1.0, wd,
                    (int)cols, wd, (int)cols, 0.0, a, (int)n);
    else /* W W^T (rows x rows) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)cols, 1.0, wd,
                    (int)cols, wd, (int)cols, 0.0, a, (int)n);
    double r = rho_double(a, a + n * n, n);
    *out = sqrt(r);
    free(a);
    return GS_OK;
}

GsStatus gs_rnn_recurrent_spectra(const GsRnn *net, size_t layer, double *sigma_max, double *rho)
{
    const GsRnnConfig *c = &net->cfg;
    size_t H = c->hidden, G = gs_cell_gates(c->cell);
    /* the block that carries the state: the cell's own (rnn), the candidate g (LSTM, block 2),
     * the candidate n (GRU, block 2) */
    size_t blk = G > 1 ? 2 : 0;
    for (size_t i = 0; i < net->n_tensors; i++) {
        const GsRnnTensor *t = &net->tensors[i];
        if (t->role != GS_RT_WEIGHT_HH || t->layer != layer)
            continue;
        const float *w = net->params + t->offset;
        if (gs_rnn_sigma_max(w, G * H, H, sigma_max) != GS_OK ||
            gs_rnn_spectral_radius(w + blk * H * H, H, rho) != GS_OK)
            return GS_ERR_NOMEM;
        return GS_OK;
    }
    return GS_ERR_INVALID;
}
