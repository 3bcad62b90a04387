/* Engine tests: finite-difference gradient checks of every kernel and of whole networks
 * (every activation, norm, residual and loss), optimizers and schedules against hand
 * computed steps, clipping. */
#include <cblas.h>
#include <float.h>
#include <libxsmm.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/net.h"
#include "gradscope/optim.h"
#include "gradscope/rng.h"
#include "gradscope/rnn.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "runner.h"
#include "util/reduce.h"

/* Relative error bound of a central difference against the analytic directional
 * derivative, with float32 arithmetic inside the net and the loss summed in double. */
#define FD_TOL 2e-3

static void fill_normal(float *x, size_t n, double std, GsRng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(std * gs_rng_normal(r));
}

static double last_num, last_an; /* of the last check, for failure messages */

/* Directional check: d/dt L(p + t v) at 0 by central differences vs g . v. */
static double dir_check(double (*loss)(void *), void *ctx, float *p, const float *g, size_t n,
                        GsRng *r)
{
    float *v = malloc(n * sizeof *v), *p0 = malloc(n * sizeof *p0);
    ck_assert(v && p0);
    memcpy(p0, p, n * sizeof *p);
    double vnorm = 0, pnorm = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (float)gs_rng_normal(r);
        vnorm += (double)v[i] * (double)v[i];
        pnorm += (double)p[i] * (double)p[i];
    }
    vnorm = sqrt(vnorm);
    double eps = 1e-2 * fmax(1.0, sqrt(pnorm / (double)n)) / vnorm * sqrt((double)n);
    eps = fmin(eps, 1e-2);
    double an = 0;
    for (size_t i = 0; i < n; i++)
        an += (double)g[i] * (double)v[i];
    double lp, lm;
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((double)p0[i] + eps * (double)v[i]);
    lp = loss(ctx);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((double)p0[i] - eps * (double)v[i]);
    lm = loss(ctx);
    memcpy(p, p0, n * sizeof *p);
    double num = (lp - lm) / (2 * eps);
    free(v);
    free(p0);
    double rel = fabs(num - an) / fmax(fabs(num) + fabs(an), 1e-7);
    last_num = num;
    last_an = an;
    return rel;
}

/* ---- whole-network checks ----
 * The engine's float32 analytic gradients are compared with central differences of an
 * independent double-precision implementation of the same network (written here from
 * DESIGN.md, sharing no code with the engine but the scalar activation reference). In
 * double, eps = 1e-6 makes both the truncation error and the chance of stepping over a
 * ReLU kink negligible; the bound covers the float32 rounding of the engine. */

#define NET_TOL 2e-3   /* relative error bound per entry */
#define NET_FLOOR 1e-5 /* absolute floor, relative to the net's largest gradient */

typedef struct {
    const GsSpec *spec;
    GsNet *net;
    const GsTensorInfo *tab; /* the net's tensor table, nt entries */
    size_t nt;
    double **p; /* double copies of every tensor, in table order */
    const float *x, *y;
    const int32_t *label;
    size_t B, d_in, d_out;
} Ref;

/* The double copy of layer (0-based) and role's tensor; NULL when the net has none. */
static const double *ref_tensor(const Ref *r, size_t layer, GsTensorRole role)
{
    for (size_t i = 0; i < r->nt; i++)
        if (r->tab[i].layer == layer && r->tab[i].role == role)
            return r->p[i];
    return NULL;
}

static double ref_loss(const Ref *r)
{
    const GsSpec *s = r->spec;
    size_t L = (size_t)s->depth + 1, B = r->B, W = (size_t)s->width;
    size_t maxw = W > r->d_in ? W : r->d_in;
    maxw = maxw > r->d_out ? maxw : r->d_out;
    double *in = calloc(B * maxw, sizeof(double)), *z = calloc(B * maxw, sizeof(double));
    double *block = calloc(B * maxw, sizeof(double));
    for (size_t i = 0; i < B * r->d_in; i++)
        in[i] = (double)r->x[i];
    size_t n_in = r->d_in;
    int K = s->residual, nblocks = K > 0 ? (s->depth - 1) / K : 0;
    double loss = 0;
    for (size_t l = 1; l <= L; l++) {
        size_t n_out = l < L ? W : r->d_out;
        const double *w = ref_tensor(r, l - 1, l < L ? GS_TENSOR_WEIGHT : GS_TENSOR_OUT_WEIGHT);
        const double *b = ref_tensor(r, l - 1, l < L ? GS_TENSOR_BIAS : GS_TENSOR_OUT_BIAS);
        for (size_t i = 0; i < B; i++)
            for (size_t o = 0; o < n_out; o++) {
                double acc = b[o];
                for (size_t k = 0; k < n_in; k++)
                    acc += in[i * n_in + k] * w[o * n_in + k];
                z[i * n_out + o] = acc;
            }
        if (l == L) {
            for (size_t i = 0; i < B; i++) {
                if (s->loss == GS_LOSS_XENT) {
                    double m = -INFINITY, se = 0;
                    for (size_t o = 0; o < n_out; o++)
                        m = fmax(m, z[i * n_out + o]);
                    for (size_t o = 0; o < n_out; o++)
                        se += exp(z[i * n_out + o] - m);
                    loss += (m + log(se) - z[i * n_out + (size_t)r->label[i]]) / (double)B;
                } else {
                    for (size_t o = 0; o < n_out; o++) {
                        double d = z[i * n_out + o] - (double)r->y[i * n_out + o];
                        loss += d * d / (double)(B * n_out);
                    }
                }
            }
            break;
        }
        if (s->norm != GS_NORM_NONE) {
            const double *g = ref_tensor(r, l - 1, GS_TENSOR_NORM_WEIGHT);
            const double *be = ref_tensor(r, l - 1, GS_TENSOR_NORM_BIAS);
            int batch = s->norm == GS_NORM_BATCH;
            size_t groups = batch ? n_out : B, len = batch ? B : n_out;
            for (size_t a = 0; a < groups; a++) {
                double m = 0, v = 0;
                for (size_t t = 0; t < len; t++)
                    m += z[batch ? t * n_out + a : a * n_out + t] / (double)len;
                for (size_t t = 0; t < len; t++) {
                    double d = z[batch ? t * n_out + a : a * n_out + t] - m;
                    v += d * d / (double)len;
                }
                for (size_t t = 0; t < len; t++) {
                    size_t idx = batch ? t * n_out + a : a * n_out + t, j = batch ? a : t;
                    z[idx] = g[j] * (z[idx] - m) / sqrt(v + 1e-5) + be[j];
                }
            }
        }
        /* residual roles: blocks of K over layers 2..depth, trailing partial block plain */
        int li = (int)l, bidx = K > 0 && li >= 2 ? (li - 2) / K : -1;
        int in_block = bidx >= 0 && bidx < nblocks;
        int start = in_block && (li - 2) % K == 0, end = in_block && (li - 2) % K == K - 1;
        if (start)
            memcpy(block, in, B * n_in * sizeof(double));
        for (size_t k = 0; k < B * n_out; k++) {
            double h = gs_act_value(&s->act, z[k]);
            in[k] = end ? block[k] + s->res_scale * h : h;
        }
        n_in = n_out;
    }
    free(in);
    free(z);
    free(block);
    return loss;
}

static void check_net(GsSpec *spec, size_t d_in, size_t d_out, size_t B)
{
    GsNet *net = NULL;
    GsError err;
    ck_assert_int_eq(gs_net_create(spec, d_in, d_out, B, &net, &err), GS_OK);
    GsRng r;
    gs_rng_seed(&r, 99);
    float *x = malloc(B * d_in * sizeof *x), *y = malloc(B * d_out * sizeof *y);
    int32_t *label = malloc(B * sizeof *label);
    fill_normal(x, B * d_in, 1.0, &r);
    fill_normal(y, B * d_out, 1.0, &r);
    for (size_t i = 0; i < B; i++)
        label[i] = (int32_t)gs_rng_below(&r, d_out);
    /* the reference reads the engine's initial parameters, tensor by tensor from the table */
    size_t nt;
    const GsTensorInfo *tab = gs_net_tensors(net, &nt);
    const float *P = gs_net_params(net), *G = gs_net_grads(net);
    double **p = calloc(nt, sizeof *p);
    Ref ref = {spec, net, tab, nt, p, x, y, label, B, d_in, d_out};
    for (size_t t = 0; t < nt; t++) {
        p[t] = malloc(tab[t].size * sizeof(double));
        for (size_t i = 0; i < tab[t].size; i++)
            p[t][i] = (double)P[tab[t].offset + i];
    }
    gs_net_zero_grad(net);
    gs_net_forward(net, x, B);
    double engine_loss = gs_net_loss(net, y, label, B);
    gs_net_backward(net, B);
    char name[64];
    gs_act_format(&spec->act, name, sizeof name);
    /* The forward passes agree to float precision. */
    double rl = ref_loss(&ref);
    ck_assert_msg(fabs(engine_loss - rl) <= 1e-5 * fmax(1.0, fabs(rl)), "%s: loss %.9g vs %.9g",
                  name, engine_loss, rl);
    /* The floor scales with the largest gradient anywhere: a true zero (a bias before
     * batch norm) shows up in float32 as rounding noise of the other terms' size. */
    double gmax = 1e-3;
    for (size_t i = 0; i < gs_net_n_params(net); i++)
        gmax = fmax(gmax, fabs((double)G[i]));
    for (size_t k = 0; k < nt; k++) {
        double *t = p[k];
        const float *an_g = G + tab[k].offset;
        for (size_t i = 0; i < tab[k].size; i++) {
            double keep = t[i], h = 1e-6 * fmax(1.0, fabs(keep));
            t[i] = keep + h;
            double lp_ = ref_loss(&ref);
            t[i] = keep - h;
            double lm = ref_loss(&ref);
            t[i] = keep;
            double num = (lp_ - lm) / (2 * h), an = (double)an_g[i];
            double tol = NET_TOL * fmax(fabs(num), fabs(an)) + NET_FLOOR * gmax;
            if (fabs(num - an) > tol)
                ck_abort_msg("act %s norm %d residual %d loss %d tensor %s entry %zu: numeric "
                             "%.9g analytic %.9g",
                             name, spec->norm, spec->residual, spec->loss, tab[k].name, i, num, an);
        }
    }
    for (size_t i = 0; i < nt; i++)
        free(p[i]);
    free(p);
    free(x);
    free(y);
    free(label);
    gs_net_destroy(net);
}

static const char *const acts[] = {"linear", "sigmoid", "tanh", "relu",    "leaky_relu:0.1",
                                   "elu",    "gelu",    "selu", "softsign"};

START_TEST(test_net_gradcheck)
{
    /* _i indexes activations; every one runs plain, batch norm, layer norm, residual. */
    const char *act = acts[_i];
    struct {
        const char *norm;
        int residual;
        const char *loss;
        double alpha;
    } cfg[] = {{"none", 0, "mse", 1},  {"batch", 0, "mse", 1},   {"layer", 0, "xent", 1},
               {"none", 2, "xent", 1}, {"batch", 1, "mse", 0.5}, {"none", 3, "mse", 0.7}};
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        GsSpec spec;
        gs_spec_default(&spec);
        ck_assert_int_eq(gs_spec_set(&spec, "act", act, NULL), GS_OK);
        ck_assert_int_eq(gs_spec_set(&spec, "norm", cfg[k].norm, NULL), GS_OK);
        ck_assert_int_eq(gs_spec_set(&spec, "loss", cfg[k].loss, NULL), GS_OK);
        ck_assert_int_eq(gs_spec_set(&spec, "init", "xavier_normal", NULL), GS_OK);
        ck_assert_int_eq(gs_spec_set(&spec, "bias-init", "normal:0.1", NULL), GS_OK);
        spec.depth = 5;
        spec.width = 7;
        spec.residual = cfg[k].residual;
        spec.res_scale = cfg[k].alpha;
        check_net(&spec, 3, 4, 6);
    }
}
END_TEST

/* ---- kernel-level checks (double-precision references) ---- */

START_TEST(test_dense_backward_exact)
{
    /* Tiny known case: z = x W^T + b with hand-computed gradients. */
    float x[2 * 3] = {1, 2, 3, -1, 0, 2};
    float w[2 * 3] = {0.5f, -1, 2, 1, 1, -1};
    float b[2] = {0.25f, -0.5f}, z[4];
    gs_dense_forward(z, x, w, b, 2, 3, 2);
    ck_assert_float_eq_tol(z[0], 0.5f - 2 + 6 + 0.25f, 1e-6f);
    ck_assert_float_eq_tol(z[1], 1 + 2 - 3 - 0.5f, 1e-6f);
    ck_assert_float_eq_tol(z[2], -0.5f + 0 + 4 + 0.25f, 1e-6f);
    ck_assert_float_eq_tol(z[3], -1 + 0 - 2 - 0.5f, 1e-6f);
    float dz[4] = {1, 2, 3, 4}, dw[6] = {0}, db[2] = {0}, dx[6];
    gs_dense_backward(dx, dw, db, dz, x, w, 2, 3, 2);
    /* dw = dz^T x */
    float dw_ref[6] = {1 * 1 + 3 * -1, 1 * 2 + 0, 1 * 3 + 3 * 2,
                       2 * 1 + 4 * -1, 2 * 2,     2 * 3 + 4 * 2};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(dw[i], dw_ref[i], 1e-6f);
    ck_assert_float_eq_tol(db[0], 4, 1e-6f);
    ck_assert_float_eq_tol(db[1], 6, 1e-6f);
    /* dx = dz W */
    ck_assert_float_eq_tol(dx[0], 1 * 0.5f + 2 * 1, 1e-6f);
    ck_assert_float_eq_tol(dx[5], 3 * 2 + 4 * -1, 1e-6f);
    /* a second backward overwrites (no zeroing pass needed) */
    gs_dense_backward(NULL, dw, db, dz, x, w, 2, 3, 2);
    ck_assert_float_eq_tol(db[0], 4, 1e-6f);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(dw[i], dw_ref[i], 1e-6f);
}
END_TEST

typedef struct {
    int layer;
    float *z, *gamma, *beta, *y, *xhat, *rstd, *w;
    size_t B, n;
} NormCtx;

static double norm_loss(void *c)
{
    NormCtx *k = c;
    if (k->layer)
        gs_layernorm_forward(k->y, k->xhat, k->rstd, k->z, k->gamma, k->beta, k->B, k->n, 1e-5f);
    else
        gs_batchnorm_forward(k->y, k->xhat, k->rstd, k->z, k->gamma, k->beta, k->B, k->n, 1e-5f);
    double s = 0;
    for (size_t i = 0; i < k->B * k->n; i++)
        s += (double)k->w[i] * (double)k->y[i];
    return s;
}

START_TEST(test_norm_gradcheck)
{
    for (int layer = 0; layer < 2; layer++) {
        size_t B = 5, n = 4;
        GsRng r;
        gs_rng_seed(&r, 5 + (uint64_t)layer);
        float z[20], gamma[4], beta[4], y[20], xhat[20], rstd[5], w[20], dz[20];
        float dgamma[4] = {0}, dbeta[4] = {0};
        fill_normal(z, 20, 2.0, &r);
        fill_normal(gamma, 4, 1.0, &r);
        fill_normal(beta, 4, 1.0, &r);
        fill_normal(w, 20, 1.0, &r);
        NormCtx c = {layer, z, gamma, beta, y, xhat, rstd, w, B, n};
        norm_loss(&c);
        /* mean 0 / std 1 of xhat along the normalized axis */
        if (!layer)
            for (size_t j = 0; j < n; j++) {
                double s = 0, s2 = 0;
                for (size_t i = 0; i < B; i++) {
                    s += (double)xhat[i * n + j];
                    s2 += (double)xhat[i * n + j] * (double)xhat[i * n + j];
                }
                ck_assert_double_eq_tol(s / (double)B, 0, 1e-6);
                ck_assert_double_eq_tol(s2 / (double)B, 1, 1e-3);
            }
        if (layer)
            gs_layernorm_backward(dz, dgamma, dbeta, w, xhat, rstd, gamma, B, n);
        else
            gs_batchnorm_backward(dz, dgamma, dbeta, w, xhat, rstd, gamma, B, n);
        ck_assert_double_le(dir_check(norm_loss, &c, z, dz, 20, &r), FD_TOL);
        ck_assert_double_le(dir_check(norm_loss, &c, gamma, dgamma, 4, &r), FD_TOL);
        ck_assert_double_le(dir_check(norm_loss, &c, beta, dbeta, 4, &r), FD_TOL);
    }
}
END_TEST

START_TEST(test_bn_scale_invariance)
{
    /* THEORY.md: scaling the preceding weights by a leaves BN's output unchanged. */
    size_t B = 8, n = 3;
    GsRng r;
    gs_rng_seed(&r, 11);
    float z[24], z2[24], g[3] = {1, 1, 1}, b[3] = {0, 0, 0}, y[24], y2[24], xh[24], rs[3];
    fill_normal(z, 24, 1.0, &r);
    for (int i = 0; i < 24; i++)
        z2[i] = 7.0f * z[i];
    gs_batchnorm_forward(y, xh, rs, z, g, b, B, n, 0.0f);
    gs_batchnorm_forward(y2, xh, rs, z2, g, b, B, n, 0.0f);
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq_tol(y[i], y2[i], 1e-5f);
}
END_TEST

typedef struct {
    int xent;
    float *y, *t, *dy;
    int32_t *label;
    size_t B, n;
} LossCtx;

static double loss_only(void *c)
{
    LossCtx *k = c;
    return k->xent ? gs_xent_forward_backward(k->dy, k->y, k->label, k->B, k->n)
                   : gs_mse_forward_backward(k->dy, k->y, k->t, k->B, k->n);
}

START_TEST(test_loss_gradcheck)
{
    float y[12], t[12], dy[12], g[12];
    int32_t label[4] = {0, 2, 1, 2};
    GsRng r;
    gs_rng_seed(&r, 3);
    fill_normal(y, 12, 2.0, &r);
    fill_normal(t, 12, 1.0, &r);
    for (int xent = 0; xent < 2; xent++) {
        LossCtx c = {xent, y, t, dy, label, 4, 3};
        loss_only(&c);
        memcpy(g, dy, sizeof g);
        ck_assert_double_le(dir_check(loss_only, &c, y, g, 12, &r), FD_TOL);
    }
    /* Known values: MSE of (1,3) vs (0,0) is 5; xent of equal logits is ln(k). */
    float a[2] = {1, 3}, z[2] = {0, 0}, d[2];
    ck_assert_double_eq_tol(gs_mse_forward_backward(d, a, z, 1, 2), 5.0, 1e-12);
    ck_assert_float_eq_tol(d[1], 3.0f, 1e-6f);
    float lg[3] = {0.5f, 0.5f, 0.5f}, dl[3];
    int32_t lab = 1;
    ck_assert_double_eq_tol(gs_xent_forward_backward(dl, lg, &lab, 1, 3), log(3.0), 1e-7);
    ck_assert_float_eq_tol(dl[1], 1.0f / 3 - 1, 1e-6f);
    /* Huge logits stay finite; a NaN logit makes the loss NaN (data, not a crash). */
    float big[2] = {1e30f, -1e30f};
    int32_t l0 = 0;
    ck_assert(isfinite(gs_xent_forward_backward(dl, big, &l0, 1, 2)));
    float bad[2] = {NAN, 0};
    ck_assert(isnan(gs_xent_forward_backward(dl, bad, &l0, 1, 2)));
}
END_TEST

/* The one GEMM call site against a double reference, on shapes each library takes (libxsmm
 * for the backward layouts from 2^20 multiply-adds, OpenBLAS below and for NT), beta 0
 * (NaN in C does not leak) and 1. */
START_TEST(test_gemm_call_site)
{
    const struct {
        int ta, tb;
        size_t M, N, K;
    } shapes[] = {{0, 1, 64, 64, 64},   {1, 0, 64, 64, 256},  {0, 0, 256, 64, 64},
                  {1, 0, 256, 256, 64}, {0, 0, 64, 256, 256}, {0, 1, 64, 256, 256},
                  {1, 0, 5, 3, 7},      {0, 0, 3, 5, 2}};
    GsRng r;
    gs_rng_seed(&r, 9);
    openblas_set_num_threads(1); /* libxsmm runs only where one BLAS thread does */
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        size_t M = shapes[k].M, N = shapes[k].N, K = shapes[k].K;
        int ta = shapes[k].ta, tb = shapes[k].tb;
        float *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B);
        float *C = malloc(M * N * sizeof *C), *C0 = malloc(M * N * sizeof *C0);
        ck_assert(A && B && C && C0);
        for (size_t i = 0; i < M * K; i++)
            A[i] = (float)gs_rng_normal(&r);
        for (size_t i = 0; i < K * N; i++)
            B[i] = (float)gs_rng_normal(&r);
        for (size_t i = 0; i < M * N; i++)
            C0[i] = (float)gs_rng_normal(&r);
        for (int beta = 0; beta < 2; beta++) {
            for (size_t i = 0; i < M * N; i++)
                C[i] = beta ? C0[i] : NAN;
            gs_gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, (float)beta, C, N);
            double worst = 0.0;
            for (size_t i = 0; i < M; i++)
                for (size_t j = 0; j < N; j++) {
                    double ref = beta ? (double)C0[i * N + j] : 0.0, scale = fabs(ref);
                    for (size_t q = 0; q < K; q++) {
                        double a = ta ? A[q * M + i] : A[i * K + q];
                        double b = tb ? B[j * K + q] : B[q * N + j];
                        ref += a * b;
                        scale += fabs(a * b);
                    }
                    double e = fabs((double)C[i * N + j] - ref) / scale;
                    worst = e > worst || isnan(e) ? e : worst;
                }
            ck_assert_msg(worst <= 1e-6, "%s %zux%zux%zu (ta %d tb %d) beta %d: error %.3g",
                          gs_gemm_library(ta, tb, M, N, K), M, N, K, ta, tb, beta, worst);
        }
        free(A);
        free(B);
        free(C);
        free(C0);
    }
    /* the shapes where libxsmm was measured to pay go to it, the rest to OpenBLAS (gemm.c has
     * each target's range): NT never goes to libxsmm; 256 x 64 x 64 NN does on every target;
     * 1024 x 1024 x 256 TN only where libxsmm's AVX-512 kernels face OpenBLAS's AVX2 ones, and
     * only there does a transposed copy for the plain product pay */
    int split = libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512 && !gs_gemm_openblas_avx512();
    ck_assert_str_eq(gs_gemm_library(0, 1, 256, 256, 256), "openblas");
    ck_assert_str_eq(gs_gemm_library(1, 0, 1024, 1024, 256), split ? "libxsmm" : "openblas");
    ck_assert_int_eq(gs_gemm_plain_pays(64, 1024, 1024), split);
    ck_assert_int_eq(gs_dense_mirrored(256, 256, 64), split);
    ck_assert_int_eq(gs_dense_mirrored(1024, 1024, 64), 0);
    ck_assert_int_eq(gs_dense_mirrored(64, 64, 64), 1);
    ck_assert_str_eq(gs_gemm_library(0, 0, 256, 64, 64), "libxsmm");
}
END_TEST

/* ---- optimizers, schedules, clipping ---- */

/* One step on a copy of p: the update is written to d and applied to the copy; p itself
 * stays, so the hand-computed expectations below all start from the same weights. */
static void opt_step(float *d, const float *p, const float *g, float *m, float *v,
                     const GsOptStep *o)
{
    float q = p[0];
    GsUpdateRecord rec;
    gs_optim_step(d, &q, g, m, v, 1, o, &rec, NULL);
    ck_assert_float_eq(q, p[0] + d[0]);
    /* the record of a one-entry tensor: its squares and |g| */
    ck_assert_double_eq(rec.param_sumsq, (double)p[0] * (double)p[0]);
    ck_assert_double_eq(rec.update_sumsq, (double)d[0] * (double)d[0]);
    ck_assert_double_eq(rec.grad.sumsq, (double)g[0] * (double)g[0]);
    ck_assert_double_eq(rec.grad.maxabs, fabs((double)g[0]));
}

/* The update pass's record equals the separate reductions of the same arrays bit for bit
 * (gs_sumsq's lanes), for every optimizer and lengths around the lane count, and counts
 * NaN/Inf gradient entries as gs_vec_stats does. */
START_TEST(test_update_record)
{
    const GsOptKind kinds[] = {GS_OPT_SGD,     GS_OPT_MOMENTUM, GS_OPT_NESTEROV,
                               GS_OPT_RMSPROP, GS_OPT_ADAM,     GS_OPT_ADAMW};
    const size_t lens[] = {1, 7, 8, 9, 64, 101};
    GsRng r;
    gs_rng_seed(&r, 42);
    for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li];
            float p[101], p0[101], g[101], m[101] = {0}, v[101] = {0}, d[101];
            for (size_t i = 0; i < n; i++) {
                p[i] = p0[i] = (float)gs_rng_normal(&r);
                g[i] = (float)(1e-3 * gs_rng_normal(&r));
            }
            GsOptStep o = {kinds[ki], 0.01, 0.9, 0.01, 3, 0};
            GsUpdateRecord rec;
            /* the finite-only pass first, on copies: the same parameters, state and change
             * bit for bit, and a record that says only "finite" */
            float p1[101], m1[101] = {0}, v1[101] = {0}, d1[101];
            memcpy(p1, p, n * sizeof *p);
            GsOptStep lean = o;
            lean.finite_only = 1;
            gs_optim_step(d1, p1, g, m1, v1, n, &lean, &rec, NULL);
            ck_assert(rec.grad.sumsq == 0.0 && rec.grad.maxabs == 0.0);
            ck_assert_uint_eq(rec.grad.nonfinite, 0);
            ck_assert(rec.param_sumsq == 0.0 && rec.update_sumsq == 0.0);
            /* both passes without storing delta (delta NULL): the same parameters, state and
             * record bit for bit */
            float p2[101], m2[101] = {0}, v2[101] = {0}, p3[101], m3[101] = {0}, v3[101] = {0};
            memcpy(p2, p, n * sizeof *p);
            memcpy(p3, p, n * sizeof *p);
            GsUpdateRecord rec2, rec3;
            gs_optim_step(NULL, p2, g, m2, v2, n, &o, &rec2, NULL);
            gs_optim_step(NULL, p3, g, m3, v3, n, &lean, &rec3, NULL);
            ck_assert(rec3.grad.sumsq == 0.0 && rec3.update_sumsq == 0.0);
            gs_optim_step(d, p, g, m, v, n, &o, &rec, NULL);
            ck_assert(!memcmp(p1, p, n * sizeof *p) && !memcmp(d1, d, n * sizeof *d));
            ck_assert(!memcmp(m1, m, n * sizeof *m) && !memcmp(v1, v, n * sizeof *v));
            ck_assert(!memcmp(p2, p, n * sizeof *p) && !memcmp(p3, p, n * sizeof *p));
            ck_assert(!memcmp(m2, m, n * sizeof *m) && !memcmp(v2, v, n * sizeof *v));
            ck_assert(!memcmp(m3, m, n * sizeof *m) && !memcmp(v3, v, n * sizeof *v));
            ck_assert(!memcmp(&rec2, &rec, sizeof rec));
            ck_assert(rec.param_sumsq == gs_sumsq(p0, n));
            ck_assert(rec.update_sumsq == gs_sumsq(d, n));
            GsVecStats want = gs_vec_stats(g, n);
            ck_assert(rec.grad.sumsq == want.sumsq && rec.grad.sumsq == gs_sumsq(g, n));
            ck_assert(rec.grad.maxabs == want.maxabs);
            ck_assert_uint_eq(rec.grad.nonfinite, 0);
            double mx = 0;
            for (size_t i = 0; i < n; i++)
                mx = fabs((double)g[i]) > mx ? fabs((double)g[i]) : mx;
            ck_assert_double_eq(rec.grad.maxabs, mx);
        }
    /* non-finite gradients: an Inf gives an infinite sum and max; a NaN makes both NaN */
    float p[20], g[20], d[20];
    for (size_t i = 0; i < 20; i++)
        p[i] = 1.0f, g[i] = (float)i;
    g[3] = INFINITY;
    g[17] = -INFINITY;
    GsOptStep o = {GS_OPT_SGD, 0.1, 0.0, 0.0, 1, 0};
    GsUpdateRecord rec;
    gs_optim_step(d, p, g, NULL, NULL, 20, &o, &rec, NULL);
    ck_assert(isinf(rec.grad.sumsq) && isinf(rec.grad.maxabs));
    ck_assert_uint_eq(rec.grad.nonfinite, 2);
    g[9] = NAN;
    gs_optim_step(d, p, g, NULL, NULL, 20, &o, &rec, NULL);
    ck_assert(isnan(rec.grad.sumsq) && isnan(rec.grad.maxabs));
    ck_assert_uint_eq(rec.grad.nonfinite, 3);
    /* the finite-only pass: +Inf for any NaN or Inf entry, in the lanes or the tail, with
     * the count; the largest finite float is finite */
    o.finite_only = 1;
    gs_optim_step(d, p, g, NULL, NULL, 20, &o, &rec, NULL);
    ck_assert(isinf(rec.grad.sumsq) && rec.grad.sumsq > 0);
    ck_assert_uint_eq(rec.grad.nonfinite, 3);
    for (size_t i = 0; i < 20; i++)
        g[i] = i == 19 ? -FLT_MAX : (float)i;
    gs_optim_step(d, p, g, NULL, NULL, 20, &o, &rec, NULL);
    ck_assert(rec.grad.sumsq == 0.0);
    for (size_t at = 0; at < 20; at += 19) { /* lane 0 and the tail */
        g[at] = -NAN;
        gs_optim_step(d, p, g, NULL, NULL, 20, &o, &rec, NULL);
        ck_assert(isinf(rec.grad.sumsq));
        ck_assert_uint_eq(rec.grad.nonfinite, 1);
        g[at] = 0.0f;
    }
}
END_TEST

/* The histograms an update pass counts (block by block, lengths around its block and the
 * lanes) are gs_hist_add's of the gradient it used and of the change it wrote, and the pass
 * with histograms changes nothing else. */
START_TEST(test_update_hist)
{
    const GsOptKind kinds[] = {GS_OPT_SGD, GS_OPT_MOMENTUM, GS_OPT_ADAM};
    const size_t lens[] = {1, 9, 1024, 1031, 3000};
    enum { NMAX = 3000 };
    float *buf = malloc(9 * NMAX * sizeof *buf);
    ck_assert_ptr_nonnull(buf);
    float *p = buf, *p2 = buf + NMAX, *g = buf + 2 * NMAX, *m = buf + 3 * NMAX;
    float *v = buf + 4 * NMAX, *m2 = buf + 5 * NMAX, *v2 = buf + 6 * NMAX;
    float *d = buf + 7 * NMAX, *d2 = buf + 8 * NMAX;
    GsRng r;
    gs_rng_seed(&r, 5);
    for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li];
            for (size_t i = 0; i < n; i++) {
                p[i] = p2[i] = (float)gs_rng_normal(&r);
                g[i] = (float)(gs_rng_normal(&r) * pow(10.0, -6.0 * gs_rng_uniform(&r)));
                m[i] = m2[i] = v[i] = v2[i] = 0.0f;
            }
            if (n > 9)
                g[n - 2] = NAN, g[3] = 0.0f;
            GsOptStep o = {kinds[ki], 0.01, 0.9, 0.0, 1, 0};
            GsUpdateRecord rec, rec2;
            GsHistAcc ag, au;
            gs_hist_acc_init(&ag, 0.0);
            gs_hist_acc_init(&au, 0.0);
            GsUpdateHist h = {&ag, &au};
            gs_optim_step(d, p, g, m, v, n, &o, &rec, &h);
            gs_optim_step(d2, p2, g, m2, v2, n, &o, &rec2, NULL);
            ck_assert(!memcmp(p, p2, n * sizeof *p) && !memcmp(d, d2, n * sizeof *d));
            ck_assert(!memcmp(&rec, &rec2, sizeof rec));
            float hg[GS_HIST_NB] = {0}, hu[GS_HIST_NB] = {0}, wg[GS_HIST_NB] = {0},
                  wu[GS_HIST_NB] = {0};
            gs_hist_acc_flush(&ag, hg);
            gs_hist_acc_flush(&au, hu);
            gs_hist_add(wg, g, n, 0.0);
            gs_hist_add(wu, d, n, 0.0);
            ck_assert(!memcmp(hg, wg, sizeof hg) && !memcmp(hu, wu, sizeof hu));
            ck_assert_double_eq(gs_hist_total(hg), (double)n);
        }
    free(buf);
}
END_TEST

/* The net's fused step counts each weight tensor's gradient and update histograms as the
 * arrays hold them after the step; with clipping it counts the update only (the gradient it
 * used is clipped), and biases never. */
START_TEST(test_net_step_hist)
{
    for (int clip = 0; clip < 2; clip++) {
        GsSpec s;
        gs_spec_default(&s);
        s.depth = 3;
        s.width = 40;
        if (clip)
            s.clip_norm = 1e-3;
        GsNet *net = NULL;
        ck_assert_int_eq(gs_net_create(&s, 6, 2, 8, &net, NULL), GS_OK);
        float x[48], y[16];
        GsRng r;
        gs_rng_seed(&r, 3);
        fill_normal(x, 48, 1.0, &r);
        fill_normal(y, 16, 1.0, &r);
        unsigned kinds = (1u << GS_HIST_GRAD) | (1u << GS_HIST_UPDATE) | (1u << GS_HIST_ACT);
        ck_assert_int_eq(gs_net_set_measure_hist(net, kinds), GS_OK);
        gs_net_forward(net, x, 8);
        const int32_t label[8] = {0, 1, 1, 0, 1, 0, 0, 1};
        gs_net_loss(net, y, label, 8);
        GsStepInfo info;
        if (gs_net_can_fuse_step(net)) {
            gs_net_backward_step(net, 8, 0.1, 1, &info);
        } else {
            gs_net_backward(net, 8);
            gs_net_step(net, 0.1, 1, &info);
        }
        ck_assert_int_eq(gs_net_can_fuse_step(net), !clip);
        size_t nt;
        const GsTensorInfo *tab = gs_net_tensors(net, &nt);
        size_t weights = 0;
        for (size_t k = 0; k < nt; k++) {
            const GsTensorInfo *t = &tab[k];
            int w = t->role == GS_TENSOR_WEIGHT || t->role == GS_TENSOR_OUT_WEIGHT;
            const float *hg = gs_net_tensor_hist(net, k, GS_HIST_GRAD);
            const float *hu = gs_net_tensor_hist(net, k, GS_HIST_UPDATE);
            ck_assert_ptr_null(gs_net_tensor_hist(net, k, GS_HIST_ACT));
            if (!w) {
                ck_assert_ptr_null(hg);
                ck_assert_ptr_null(hu);
                continue;
            }
            weights++;
            float want[GS_HIST_NB] = {0};
            gs_hist_add(want, gs_net_update(net) + t->offset, t->size, 0.0);
            ck_assert_ptr_nonnull(hu);
            ck_assert(!memcmp(hu, want, sizeof want));
            if (clip) {
                ck_assert_ptr_null(hg);
                continue;
            }
            memset(want, 0, sizeof want);
            gs_hist_add(want, gs_net_grads(net) + t->offset, t->size, 0.0);
            ck_assert_ptr_nonnull(hg);
            ck_assert(!memcmp(hg, want, sizeof want));
        }
        ck_assert_uint_eq(weights, 4);
        /* asking for none clears them */
        ck_assert_int_eq(gs_net_set_measure_hist(net, 0), GS_OK);
        ck_assert_ptr_null(gs_net_tensor_hist(net, 0, GS_HIST_UPDATE));
        gs_net_destroy(net);
    }
}
END_TEST

/* gs_transpose is an exact transpose for shapes around its 8 x 8 blocks. */
START_TEST(test_transpose)
{
    const size_t shapes[][2] = {{1, 1}, {3, 5}, {8, 8}, {9, 17}, {16, 8}, {64, 64}, {130, 70}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t r = shapes[k][0], c = shapes[k][1];
        float *a = malloc(r * c * sizeof *a), *t = malloc(r * c * sizeof *t);
        ck_assert(a && t);
        for (size_t i = 0; i < r * c; i++)
            a[i] = (float)i * 0.5f - 7.0f;
        gs_transpose(t, a, r, c);
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < c; j++)
                ck_assert(t[j * r + i] == a[i * c + j]);
        free(a);
        free(t);
    }
}
END_TEST

/* The forward product reads the transposed mirror of small layers: after training steps and
 * after weights changed through gs_net_params, the output is that of the weights themselves. */
START_TEST(test_forward_mirror)
{
    GsSpec s;
    gs_spec_default(&s);
    s.depth = 2;
    s.width = 24; /* mirrored (<= 128 x 128) */
    GsNet *net = NULL;
    ck_assert_int_eq(gs_net_create(&s, 5, 3, 4, &net, NULL), GS_OK);
    float x[20];
    const int32_t label[4] = {0, 2, 1, 0};
    GsRng r;
    gs_rng_seed(&r, 9);
    fill_normal(x, 20, 1.0, &r);
    for (int step = 1; step <= 3; step++) {
        gs_net_forward(net, x, 4);
        gs_net_loss(net, NULL, label, 4);
        GsStepInfo info;
        gs_net_backward_step(net, 4, 0.5, step, &info);
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass) /* change the weights from outside: the next forward must see it */
            for (size_t i = 0; i < gs_net_n_params(net); i++)
                gs_net_params(net)[i] *= -1.5f;
        gs_net_forward(net, x, 4);
        /* reference: each layer on the weights themselves (tanh hidden layers, no norm) */
        const float *P = gs_net_params(net);
        float h[4 * 24], z[4 * 24];
        const float *in = x;
        size_t n_in = 5;
        for (size_t l = 1; l <= 3; l++) {
            const GsTensorInfo *w =
                gs_net_tensor(net, l - 1, l == 3 ? GS_TENSOR_OUT_WEIGHT : GS_TENSOR_WEIGHT);
            const GsTensorInfo *b =
                gs_net_tensor(net, l - 1, l == 3 ? GS_TENSOR_OUT_BIAS : GS_TENSOR_BIAS);
            size_t n_out = w->shape[0];
            gs_dense_forward(z, in, P + w->offset, P + b->offset, 4, n_in, n_out);
            if (l == 3)
                break;
            for (size_t i = 0; i < 4 * n_out; i++)
                h[i] = tanhf(z[i]);
            in = h;
            n_in = n_out;
        }
        for (size_t i = 0; i < 12; i++)
            ck_assert_float_eq_tol(gs_net_output(net)[i], z[i], 1e-5f * (1.0f + fabsf(z[i])));
    }
    gs_net_destroy(net);
}
END_TEST

START_TEST(test_optimizers)
{
    float p[1] = {1.0f}, g[1] = {0.5f}, m[1] = {0}, v[1] = {0}, d[1];
    GsOptStep o = {GS_OPT_SGD, 0.1, 0.9, 0.0, 1, 0};
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.05f, 1e-7f);
    o.weight_decay = 0.1; /* g + wd p = 0.6 */
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.06f, 1e-7f);

    /* momentum: buf1 = g = 0.5, buf2 = 0.9*0.5 + 0.5 = 0.95 */
    o = (GsOptStep){GS_OPT_MOMENTUM, 0.1, 0.9, 0.0, 1, 0};
    m[0] = 0;
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.05f, 1e-7f);
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.095f, 1e-7f);

    /* nesterov: buf1 = 0.5, step = g + mu*buf = 0.95 */
    o.kind = GS_OPT_NESTEROV;
    m[0] = 0;
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.095f, 1e-7f);

    /* rmsprop: v = 0.01*0.25 = 0.0025, step = 0.1*0.5/0.05 = 1 */
    o.kind = GS_OPT_RMSPROP;
    v[0] = 0;
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -1.0f, 1e-5f);

    /* adam, step 1: m_hat = g, v_hat = g^2 -> step = lr * g/|g| = lr */
    o = (GsOptStep){GS_OPT_ADAM, 0.01, 0, 0.0, 1, 0};
    m[0] = v[0] = 0;
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.01f, 1e-6f);
    /* step 2 with the same gradient: still lr (bias correction exact for constant g) */
    o.t = 2;
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.01f, 1e-6f);

    /* adamw: decoupled decay lr*wd*p on top of the adam step */
    o = (GsOptStep){GS_OPT_ADAMW, 0.01, 0, 0.5, 1, 0};
    m[0] = v[0] = 0;
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.01f - 0.005f, 1e-6f);
    /* adam (L2): the decay enters the gradient, so step 1 is still exactly lr */
    o.kind = GS_OPT_ADAM;
    m[0] = v[0] = 0;
    opt_step(d, p, g, m, v, &o);
    ck_assert_float_eq_tol(d[0], -0.01f, 1e-6f);
}
END_TEST

START_TEST(test_schedules)
{
    GsSpec s;
    gs_spec_default(&s);
    s.lr = 1.0;
    s.steps = 100;
    ck_assert_double_eq(gs_schedule_lr(&s, 50), 1.0);
    ck_assert_int_eq(gs_spec_set(&s, "schedule", "step:10:0.5", NULL), GS_OK);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 9), 1.0, 1e-15);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 10), 0.5, 1e-15);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 35), 0.125, 1e-15);
    ck_assert_int_eq(gs_spec_set(&s, "schedule", "exp:0.9", NULL), GS_OK);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 2), 0.81, 1e-15);
    ck_assert_int_eq(gs_spec_set(&s, "schedule", "cosine", NULL), GS_OK);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 0), 1.0, 1e-15);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 50), 0.5, 1e-12);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 100), 0.0, 1e-12);
    s.warmup = 4; /* lr (step+1)/(warmup+1) during warm-up, then cosine over 96 steps */
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 0), 0.2, 1e-15);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 3), 0.8, 1e-15);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 4), 1.0, 1e-15);
    ck_assert_double_eq_tol(gs_schedule_lr(&s, 52), 0.5, 1e-12);
}
END_TEST

START_TEST(test_clipping)
{
    float g[4] = {3, 4, 0, 0};
    double n = gs_l2(g, 4);
    ck_assert_double_eq(n, 5.0);
    ck_assert_int_eq(gs_clip_norm(g, 4, n, 10.0), 0); /* below the threshold: untouched */
    ck_assert_float_eq(g[0], 3.0f);
    ck_assert_int_eq(gs_clip_norm(g, 4, n, 1.0), 1);
    ck_assert_double_eq_tol(gs_l2(g, 4), 1.0, 1e-6);
    ck_assert_float_eq_tol(g[1] / g[0], 4.0f / 3.0f, 1e-6f);
    float h[4] = {-3, 0.5f, 2, NAN};
    ck_assert_uint_eq(gs_clip_value(h, 4, 1.0), 2);
    ck_assert_float_eq(h[0], -1.0f);
    ck_assert_float_eq(h[1], 0.5f);
    ck_assert_float_eq(h[2], 1.0f);
    ck_assert(isnan(h[3]));
    float inf[2] = {INFINITY, 1};
    ck_assert(isinf(gs_l2(inf, 2)));
}
END_TEST

START_TEST(test_net_layout_and_determinism)
{
    GsSpec s;
    gs_spec_default(&s);
    s.depth = 3;
    s.width = 5;
    ck_assert_int_eq(gs_spec_set(&s, "norm", "batch", NULL), GS_OK);
    GsNet *a = NULL, *b = NULL;
    ck_assert_int_eq(gs_net_create(&s, 2, 3, 4, &a, NULL), GS_OK);
    ck_assert_int_eq(gs_net_create(&s, 2, 3, 4, &b, NULL), GS_OK);
    ck_assert_uint_eq(gs_net_n_layers(a), 4);
    /* 2*5+5+10 + 2*(25+5+10) + 5*3+3 */
    ck_assert_uint_eq(gs_net_n_params(a), 25 + 80 + 18);
    /* the tensor table: names as exported, roles, owning layer, shapes, contiguous offsets */
    static const struct {
        const char *name;
        GsTensorRole role;
        GsLayerKind kind;
        size_t layer, rows, cols;
    } want[] = {
        {"dense1.weight", GS_TENSOR_WEIGHT, GS_LAYER_DENSE, 0, 5, 2},
        {"dense1.bias", GS_TENSOR_BIAS, GS_LAYER_DENSE, 0, 5, 0},
        {"norm1.weight", GS_TENSOR_NORM_WEIGHT, GS_LAYER_NORM, 0, 5, 0},
        {"norm1.bias", GS_TENSOR_NORM_BIAS, GS_LAYER_NORM, 0, 5, 0},
        {"dense2.weight", GS_TENSOR_WEIGHT, GS_LAYER_DENSE, 1, 5, 5},
        {"dense2.bias", GS_TENSOR_BIAS, GS_LAYER_DENSE, 1, 5, 0},
        {"norm2.weight", GS_TENSOR_NORM_WEIGHT, GS_LAYER_NORM, 1, 5, 0},
        {"norm2.bias", GS_TENSOR_NORM_BIAS, GS_LAYER_NORM, 1, 5, 0},
        {"dense3.weight", GS_TENSOR_WEIGHT, GS_LAYER_DENSE, 2, 5, 5},
        {"dense3.bias", GS_TENSOR_BIAS, GS_LAYER_DENSE, 2, 5, 0},
        {"norm3.weight", GS_TENSOR_NORM_WEIGHT, GS_LAYER_NORM, 2, 5, 0},
        {"norm3.bias", GS_TENSOR_NORM_BIAS, GS_LAYER_NORM, 2, 5, 0},
        {"out.weight", GS_TENSOR_OUT_WEIGHT, GS_LAYER_DENSE, 3, 3, 5},
        {"out.bias", GS_TENSOR_OUT_BIAS, GS_LAYER_DENSE, 3, 3, 0},
    };
    size_t nt, off = 0;
    const GsTensorInfo *t = gs_net_tensors(a, &nt);
    ck_assert_uint_eq(nt, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < nt; i++) {
        ck_assert_str_eq(t[i].name, want[i].name);
        ck_assert_int_eq(t[i].role, want[i].role);
        ck_assert_int_eq(t[i].kind, want[i].kind);
        ck_assert_uint_eq(t[i].layer, want[i].layer);
        ck_assert_uint_eq(t[i].ndim, want[i].cols ? 2 : 1);
        ck_assert_uint_eq(t[i].shape[0], want[i].rows);
        ck_assert_uint_eq(t[i].shape[1], want[i].cols);
        ck_assert_uint_eq(t[i].size, want[i].cols ? want[i].rows * want[i].cols : want[i].rows);
        ck_assert_uint_eq(t[i].offset, off);
        off += t[i].size;
        ck_assert_ptr_eq(gs_net_tensor(a, t[i].layer, t[i].role), &t[i]);
    }
    ck_assert_uint_eq(off, gs_net_n_params(a));
    ck_assert_ptr_null(gs_net_tensor(a, 3, GS_TENSOR_NORM_WEIGHT)); /* the head has no norm */
    ck_assert_ptr_null(gs_net_tensor(a, 4, GS_TENSOR_WEIGHT));
    /* the norm's scale starts at 1, its shift at 0; same seed, same weights */
    float *pa = gs_net_params(a), *pb = gs_net_params(b);
    ck_assert_float_eq(pa[t[2].offset], 1.0f);
    ck_assert_float_eq(pa[t[3].offset + 4], 0.0f);
    ck_assert_int_eq(memcmp(pa, pb, gs_net_n_params(a) * sizeof(float)), 0);
    /* the pure size function agrees with the net it describes */
    GsNetSizes sz;
    GsError err = {{0}};
    ck_assert_int_eq(gs_net_sizes(&s, 2, 3, 4, &sz, &err), GS_OK);
    ck_assert_uint_eq(sz.n_params, gs_net_n_params(a));
    ck_assert_uint_eq(sz.n_tensors, nt);
    /* activations: per hidden layer z, h, dz, y, xhat (4 x 5 each) and rstd (5); the head's
     * z, h, dz (4 x 3); four scratch buffers of 4 x max(5, 3) */
    ck_assert_uint_eq(sz.n_acts, 3 * (5 * 20 + 5) + 3 * 12 + 4 * 20);
    ck_assert_uint_ge(sz.bytes, (3 * sz.n_params + sz.n_acts) * sizeof(float));
    /* adam keeps two moments: exactly 2 x n_params floats more */
    GsSpec s2 = s;
    ck_assert_int_eq(gs_spec_set(&s2, "opt", "adam", NULL), GS_OK);
    GsNetSizes sz2;
    ck_assert_int_eq(gs_net_sizes(&s2, 2, 3, 4, &sz2, &err), GS_OK);
    ck_assert_uint_eq(sz2.bytes - sz.bytes, 2 * sz.n_params * sizeof(float));
    /* no layer to build; a net too large to address (the sizes untouched) */
    GsNetSizes kept = sz2;
    ck_assert_int_eq(gs_net_sizes(&s, 0, 3, 4, &sz2, &err), GS_ERR_INVALID);
    GsSpec huge = s;
    huge.width = 1 << 30;
    ck_assert_int_eq(gs_net_sizes(&huge, 2, 3, (size_t)1 << 40, &sz2, &err), GS_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "too large"));
    ck_assert_int_eq(memcmp(&kept, &sz2, sizeof kept), 0);
    gs_net_destroy(a);
    gs_net_destroy(b);
    gs_net_destroy(NULL);
}
END_TEST

START_TEST(test_residual_alpha_zero_is_identity_stream)
{
    /* alpha = 0: each block passes its input through unchanged. */
    GsSpec s;
    gs_spec_default(&s);
    s.depth = 5;
    s.width = 4;
    s.residual = 2;
    s.res_scale = 0.0;
    GsNet *net = NULL;
    ck_assert_int_eq(gs_net_create(&s, 4, 2, 3, &net, NULL), GS_OK);
    float x[12];
    GsRng r;
    gs_rng_seed(&r, 1);
    fill_normal(x, 12, 1.0, &r);
    gs_net_forward(net, x, 3);
    /* Blocks (2,3) and (4,5): layer 5's output stream equals layer 1's output h. */
    const float *P = gs_net_params(net);
    const GsTensorInfo *w = gs_net_tensor(net, 5, GS_TENSOR_OUT_WEIGHT);
    const GsTensorInfo *b = gs_net_tensor(net, 5, GS_TENSOR_OUT_BIAS);
    const float *h1 = gs_net_layer_h(net, 1);
    float ref[6] = {0};
    gs_dense_forward(ref, h1, P + w->offset, P + b->offset, 3, 4, 2);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(gs_net_output(net)[i], ref[i], 1e-6f);
    gs_net_destroy(net);
}
END_TEST

/* One table shape for both nets: every tensor's kind describes it (its roles, in order, and
 * the prefix of its name), the head is a dense out.* pair, and offsets tile the arena. */
static void check_table(const GsTensorInfo *t, size_t nt, size_t n_params, size_t head_layer)
{
    size_t off = 0, i = 0;
    while (i < nt) {
        ck_assert_uint_eq(t[i].offset, off);
        if (t[i].role == GS_TENSOR_OUT_WEIGHT) {
            ck_assert_uint_eq(i + 2, nt); /* the head comes last: weight, bias */
            ck_assert_int_eq(t[i + 1].role, GS_TENSOR_OUT_BIAS);
            ck_assert_int_eq(t[i].kind, GS_LAYER_DENSE);
            ck_assert_uint_eq(t[i].layer, head_layer);
            ck_assert_str_eq(t[i].name, "out.weight");
            ck_assert_str_eq(t[i + 1].name, "out.bias");
            off += t[i].size + t[i + 1].size;
            ck_assert_uint_eq(t[i + 1].offset + t[i + 1].size, off);
            i += 2;
            continue;
        }
        const GsLayerKindInfo *k = gs_layer_kind_info(t[i].kind);
        ck_assert_ptr_nonnull(k);
        for (size_t r = 0; r < k->n_roles; r++, i++) {
            ck_assert_uint_lt(i, nt);
            ck_assert_int_eq(t[i].role, k->roles[r]);
            ck_assert_uint_eq(t[i].layer, t[i - r].layer);
            ck_assert_int_eq(strncmp(t[i].name, k->prefix, strlen(k->prefix)), 0);
            ck_assert_uint_eq(t[i].ndim, gs_tensor_role_is_matrix(t[i].role) ? 2 : 1);
            ck_assert_uint_eq(t[i].size, t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1));
            ck_assert_uint_eq(t[i].offset, off);
            off += t[i].size;
        }
    }
    ck_assert_uint_eq(off, n_params);
}

START_TEST(test_tensor_tables_share_shape)
{
    ck_assert_ptr_null(gs_layer_kind_info(GS_LAYER_KIND_COUNT));
    GsSpec s;
    gs_spec_default(&s);
    s.depth = 2;
    s.width = 3;
    ck_assert_int_eq(gs_spec_set(&s, "norm", "layer", NULL), GS_OK);
    GsNet *net = NULL;
    ck_assert_int_eq(gs_net_create(&s, 4, 2, 5, &net, NULL), GS_OK);
    size_t nt;
    const GsTensorInfo *t = gs_net_tensors(net, &nt);
    ck_assert_uint_eq(nt, 2 * 4 + 2);
    check_table(t, nt, gs_net_n_params(net), 2);
    gs_net_destroy(net);

    GsRnnConfig c = gs_rnn_config_default();
    c.cell = GS_CELL_LSTM;
    c.d_in = 3;
    c.hidden = 4;
    c.depth = 2;
    c.d_out = 2;
    c.seq_len = 5;
    c.batch_max = 2;
    GsRnn *rnn = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_rnn_create(&c, &rnn, &err) == GS_OK, "%s", err.msg);
    const GsRnnTensor *rt = gs_rnn_tensors(rnn, &nt);
    ck_assert_uint_eq(nt, 2 * 4 + 2);
    for (size_t i = 0; i < 8; i++)
        ck_assert_int_eq(rt[i].kind, GS_LAYER_RECURRENT);
    ck_assert_str_eq(rt[5].name, "rnn.weight_hh_l1");
    ck_assert_uint_eq(rt[5].shape[0], 4 * 4);
    check_table(rt, nt, gs_rnn_n_params(rnn), 2);
    gs_rnn_destroy(rnn);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, test_dense_backward_exact);
    tcase_add_test(tc, test_transpose);
    tcase_add_test(tc, test_norm_gradcheck);
    tcase_add_test(tc, test_bn_scale_invariance);
    tcase_add_test(tc, test_loss_gradcheck);
    tcase_add_test(tc, test_optimizers);
    tcase_add_test(tc, test_update_record);
    tcase_add_test(tc, test_update_hist);
    tcase_add_test(tc, test_gemm_call_site);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_clipping);
    suite_add_tcase(s, tc);
    TCase *net = tcase_create("net");
    tcase_set_timeout(net, 120);
    tcase_add_loop_test(net, test_net_gradcheck, 0, (int)(sizeof acts / sizeof acts[0]));
    tcase_add_test(net, test_net_layout_and_determinism);
    tcase_add_test(net, test_net_step_hist);
    tcase_add_test(net, test_forward_mirror);
    tcase_add_test(net, test_residual_alpha_zero_is_identity_stream);
    tcase_add_test(net, test_tensor_tables_share_shape);
    suite_add_tcase(s, net);
    return s;
}
