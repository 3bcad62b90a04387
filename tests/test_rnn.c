/* Recurrent net tests: every gradient entry of every cell (depth 1 and 2, full and truncated
 * BPTT, many-to-one and per-step heads) against central differences of an independent
 * double-precision reference written here, the through-time norms against the same
 * reference's derivatives w.r.t. injected state perturbations, init options, determinism,
 * spectra and config errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gradscope/npy.h"
#include "gradscope/rng.h"
#include "gradscope/rnn.h"
#include "gradscope/seq.h"
#include "nn/vmath.h"
#include "runner.h"

/* ---- the double-precision reference: a straight unrolled forward, nothing shared with
 * src/nn/rnn.c but the tensor table's offsets ---- */

typedef struct {
    GsRnnConfig cfg;
    size_t B, T;
    const double *x;    /* (B, T, D) */
    const double *y;    /* mse targets as the head wants them */
    const int32_t *lab; /* xent labels */
    const GsRnnTensor *tab;
    /* an additive perturbation of one state: layer, step t (0-based), h (0) or c (1) */
    int inj_on;
    size_t inj_layer, inj_t;
    int inj_c;
    const double *inj; /* (B, H) */
} Ref;

static double sig(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/* One step of one cell for one sample: h, c from input u (n_in), h_{t-1}, c_{t-1}. */
static void ref_cell(GsCellKind cell, size_t H, size_t n_in, const double *wih, const double *whh,
                     const double *bih, const double *bhh, const double *u, const double *hp,
                     const double *cp, double *h, double *c, double *o)
{
    size_t G = gs_cell_gates(cell);
    double ai[64], ah[64];
    ck_assert(G * H <= 64);
    for (size_t r = 0; r < G * H; r++) {
        double s = bih[r], q = bhh[r];
        for (size_t i = 0; i < n_in; i++)
            s += wih[r * n_in + i] * u[i];
        for (size_t i = 0; i < H; i++)
            q += whh[r * H + i] * hp[i];
        ai[r] = s;
        ah[r] = q;
    }
    for (size_t j = 0; j < H; j++) {
        switch (cell) {
        case GS_CELL_RNN_TANH: h[j] = tanh(ai[j] + ah[j]); break;
        case GS_CELL_RNN_RELU: h[j] = fmax(ai[j] + ah[j], 0.0); break;
        case GS_CELL_LSTM: {
            double ig = sig(ai[j] + ah[j]), fg = sig(ai[H + j] + ah[H + j]);
            double gg = tanh(ai[2 * H + j] + ah[2 * H + j]),
                   og = sig(ai[3 * H + j] + ah[3 * H + j]);
            c[j] = fg * cp[j] + ig * gg;
            h[j] = og * tanh(c[j]);
            o[j] = og;
            break;
        }
        case GS_CELL_GRU: {
            double r = sig(ai[j] + ah[j]), z = sig(ai[H + j] + ah[H + j]);
            double n = tanh(ai[2 * H + j] + r * ah[2 * H + j]);
            h[j] = (1.0 - z) * n + z * hp[j];
            break;
        }
        default: ck_abort();
        }
    }
}

#define MAXL 2
#define MAXB 4
#define MAXH 8

/* Loss term of step s (or the whole many-to-one loss) with parameters th from step lo on
 * and th0 before it (the truncated reference: states before lo are constants). */
static double ref_term(const Ref *r, const double *th, const double *th0, size_t lo, size_t s)
{
    const GsRnnConfig *c = &r->cfg;
    const size_t H = c->hidden, D = c->d_in, O = c->d_out, B = r->B, T = r->T;
    static double h[MAXL][MAXB][MAXH], cs[MAXL][MAXB][MAXH];
    memset(h, 0, sizeof h);
    memset(cs, 0, sizeof cs);
    for (size_t t = 0; t <= s; t++) {
        const double *P = t < lo ? th0 : th;
        for (size_t k = 0; k < c->depth; k++) {
            const GsRnnTensor *tt = r->tab + 4 * k;
            size_t n_in = k == 0 ? D : H;
            for (size_t b = 0; b < B; b++) {
                double hn[MAXH], cn[MAXH] = {0}, o[MAXH] = {0};
                const double *u = k == 0 ? r->x + (b * T + t) * D : h[k - 1][b];
                ref_cell(c->cell, H, n_in, P + tt[0].offset, P + tt[1].offset, P + tt[2].offset,
                         P + tt[3].offset, u, h[k][b], cs[k][b], hn, cn, o);
                if (r->inj_on && r->inj_layer == k && r->inj_t == t && r->inj_c) {
                    /* perturb c_t, then recompute h_t = o tanh(c_t) from the same o */
                    for (size_t j = 0; j < H; j++) {
                        cn[j] += r->inj[b * H + j];
                        hn[j] = o[j] * tanh(cn[j]);
                    }
                }
                if (r->inj_on && r->inj_layer == k && r->inj_t == t && !r->inj_c)
                    for (size_t j = 0; j < H; j++)
                        hn[j] += r->inj[b * H + j];
                memcpy(h[k][b], hn, sizeof hn);
                memcpy(cs[k][b], cn, sizeof cn);
            }
        }
    }
    const GsRnnTensor *wo = r->tab + 4 * c->depth, *bo = wo + 1;
    const int each = c->head == GS_RNN_HEAD_EACH;
    const double norm = (double)B * (each ? (double)T : 1.0);
    double L = 0.0;
    for (size_t b = 0; b < B; b++) {
        double z[16];
        for (size_t o = 0; o < O; o++) {
            z[o] = th[bo->offset + o];
            for (size_t j = 0; j < H; j++)
                z[o] += th[wo->offset + o * H + j] * h[c->depth - 1][b][j];
        }
        if (c->loss == GS_RNN_LOSS_MSE) {
            for (size_t o = 0; o < O; o++) {
                double tg = r->y[(each ? b * T + s : b) * O + o];
                L += (z[o] - tg) * (z[o] - tg) / (norm * (double)O);
            }
        } else {
            double m = z[0], se = 0.0;
            for (size_t o = 1; o < O; o++)
                m = fmax(m, z[o]);
            for (size_t o = 0; o < O; o++)
                se += exp(z[o] - m);
            L += (m + log(se) - z[r->lab[each ? b * T + s : b]]) / norm;
        }
    }
    return L;
}

/* The (truncated when K > 0) objective: the sum over loss terms s of their windowed value. */
static double ref_loss(const Ref *r, const double *th, const double *th0, size_t K)
{
    double L = 0.0;
    size_t s0 = r->cfg.head == GS_RNN_HEAD_EACH ? 0 : r->T - 1;
    for (size_t s = s0; s < r->T; s++) {
        size_t lo = (K && s + 1 > K) ? s + 1 - K : 0;
        L += ref_term(r, th, th0, lo, s);
    }
    return L;
}

/* Truncated gradient reaching state (layer, t): sum over the terms s whose window holds t
 * of the exact partial derivative (every path from the state to term s lies in [t, s]). */
static double ref_state_deriv(Ref *r, const double *th, size_t K, size_t layer, size_t t, int cst,
                              double *inj, size_t i)
{
    const double e = 1e-6;
    r->inj_on = 1;
    r->inj_layer = layer;
    r->inj_t = t;
    r->inj_c = cst;
    r->inj = inj;
    double g = 0.0;
    size_t s0 = r->cfg.head == GS_RNN_HEAD_EACH ? 0 : r->T - 1;
    for (size_t s = s0; s < r->T; s++) {
        if (s < t || (K && s + 1 > K && t < s + 1 - K))
            continue;
        inj[i] = e;
        double lp = ref_term(r, th, th, 0, s);
        inj[i] = -e;
        double lm = ref_term(r, th, th, 0, s);
        inj[i] = 0.0;
        g += (lp - lm) / (2 * e);
    }
    r->inj_on = 0;
    return g;
}

/* ---- fixtures ---- */

typedef struct {
    GsRnn *net;
    Ref ref;
    double *th, *x, *y;
    float *xf, *yf;
    int32_t *lab;
} Case;

static void case_init(Case *cs, GsCellKind cell, size_t depth, GsRnnHead head, GsRnnLoss loss,
                      size_t bptt, uint64_t seed)
{
    const size_t B = 3, T = 5, D = 2, H = 4;
    GsRnnConfig c = gs_rnn_config_default();
    c.cell = cell;
    c.d_in = D;
    c.hidden = H;
    c.depth = depth;
    c.d_out = loss == GS_RNN_LOSS_XENT ? 3 : 2;
    c.seq_len = T;
    c.batch_max = B;
    c.head = head;
    c.loss = loss;
    c.bptt = bptt;
    c.seed = seed;
    if (cell == GS_CELL_RNN_RELU) /* keep a relu net away from its kinks and dead units */
        c.init_hh = (GsHhInit){GS_HH_IDENTITY, 0.5, {GS_INIT_STANDARD, 0, 1}};
    GsError err;
    memset(cs, 0, sizeof *cs);
    ck_assert_msg(gs_rnn_create(&c, &cs->net, &err) == GS_OK, "%s", err.msg);
    GsRng r;
    gs_rng_seed(&r, seed * 7 + 1);
    const size_t nt = head == GS_RNN_HEAD_EACH ? B * T : B;
    cs->xf = malloc(B * T * D * sizeof *cs->xf);
    cs->x = malloc(B * T * D * sizeof *cs->x);
    cs->yf = malloc(nt * c.d_out * sizeof *cs->yf);
    cs->y = malloc(nt * c.d_out * sizeof *cs->y);
    cs->lab = malloc(nt * sizeof *cs->lab);
    for (size_t i = 0; i < B * T * D; i++) {
        cs->xf[i] = (float)gs_rng_normal(&r);
        cs->x[i] = cs->xf[i];
    }
    for (size_t i = 0; i < nt * c.d_out; i++) {
        cs->yf[i] = (float)gs_rng_normal(&r);
        cs->y[i] = cs->yf[i];
    }
    for (size_t i = 0; i < nt; i++)
        cs->lab[i] = (int32_t)gs_rng_below(&r, c.d_out);
    size_t n = gs_rnn_n_params(cs->net);
    cs->th = malloc(n * sizeof *cs->th);
    const float *p = gs_rnn_params(cs->net);
    for (size_t i = 0; i < n; i++)
        cs->th[i] = p[i];
    size_t ntab;
    cs->ref = (Ref){.cfg = c,
                    .B = B,
                    .T = T,
                    .x = cs->x,
                    .y = cs->y,
                    .lab = cs->lab,
                    .tab = gs_rnn_tensors(cs->net, &ntab)};
}

static double case_run(Case *cs)
{
    gs_rnn_zero_grad(cs->net);
    gs_rnn_forward(cs->net, cs->xf, cs->ref.B, cs->ref.T);
    double L = gs_rnn_loss(cs->net, cs->yf, cs->lab);
    gs_rnn_backward(cs->net);
    return L;
}

static void case_fini(Case *cs)
{
    gs_rnn_destroy(cs->net);
    free(cs->th);
    free(cs->x);
    free(cs->y);
    free(cs->xf);
    free(cs->yf);
    free(cs->lab);
}

static const char *case_name(const Case *cs)
{
    static char buf[128];
    const GsRnnConfig *c = &cs->ref.cfg;
    snprintf(buf, sizeof buf, "%s depth %zu %s %s bptt %zu", gs_cell_name(c->cell), c->depth,
             c->head == GS_RNN_HEAD_EACH ? "per-step" : "last", c->loss ? "xent" : "mse", c->bptt);
    return buf;
}

/* ---- gradient checks ---- */

/* |a - n| relative to the larger of the two, floored at 1e-4 of the largest gradient entry
 * (entries that small carry float32 cancellation noise only). */
#define GRAD_TOL 1e-3
#define NORM_TOL 1e-4
static double worst_grad, worst_norm;

static void check_case(GsCellKind cell, size_t depth, GsRnnHead head, GsRnnLoss loss, size_t K)
{
    Case cs;
    case_init(&cs, cell, depth, head, loss, K, 11 + (uint64_t)cell * 4 + depth);
    double L = case_run(&cs);
    double Lref = ref_loss(&cs.ref, cs.th, cs.th, 0);
    ck_assert_msg(fabs(L - Lref) <= 1e-5 * fabs(Lref), "%s: loss %.9g, reference %.9g",
                  case_name(&cs), L, Lref);

    const size_t n = gs_rnn_n_params(cs.net);
    const float *g = gs_rnn_grads(cs.net);
    double *num = malloc(n * sizeof *num), *th = malloc(n * sizeof *th), gmax = 0.0;
    memcpy(th, cs.th, n * sizeof *th);
    const double e = 1e-6;
    for (size_t i = 0; i < n; i++) {
        th[i] = cs.th[i] + e;
        double lp = ref_loss(&cs.ref, th, cs.th, K);
        th[i] = cs.th[i] - e;
        double lm = ref_loss(&cs.ref, th, cs.th, K);
        th[i] = cs.th[i];
        num[i] = (lp - lm) / (2 * e);
        gmax = fmax(gmax, fabs(num[i]));
    }
    ck_assert_msg(gmax > 1e-6, "%s: no gradient at all", case_name(&cs));
    size_t ntab;
    const GsRnnTensor *tab = gs_rnn_tensors(cs.net, &ntab);
    for (size_t ti = 0; ti < ntab; ti++) {
        for (size_t i = tab[ti].offset; i < tab[ti].offset + tab[ti].size; i++) {
            double a = g[i];
            double rel = fabs(a - num[i]) / fmax(fmax(fabs(a), fabs(num[i])), 1e-4 * gmax);
            worst_grad = fmax(worst_grad, rel);
            ck_assert_msg(rel < GRAD_TOL, "%s: %s[%zu] analytic %.8g, numeric %.8g (rel %.2g)",
                          case_name(&cs), tab[ti].name, i - tab[ti].offset, a, num[i], rel);
        }
    }

    /* ||dL/dh_t|| (and ||dL/dc_t||) of every layer and step */
    const size_t B = cs.ref.B, T = cs.ref.T, H = cs.ref.cfg.hidden;
    double inj[MAXB * MAXH] = {0};
    for (size_t k = 0; k < depth; k++) {
        for (int cst = 0; cst <= (cell == GS_CELL_LSTM); cst++) {
            const double *got = cst ? gs_rnn_c_grad_norm(cs.net, k) : gs_rnn_h_grad_norm(cs.net, k);
            ck_assert(got);
            double top = 0.0;
            double want[8];
            for (size_t t = 0; t < T; t++) {
                double s = 0.0;
                for (size_t i = 0; i < B * H; i++) {
                    double d = ref_state_deriv(&cs.ref, cs.th, K, k, t, cst, inj, i);
                    s += d * d;
                }
                want[t] = sqrt(s);
                top = fmax(top, want[t]);
            }
            for (size_t t = 0; t < T; t++) {
                double rel = fabs(got[t] - want[t]) / fmax(want[t], 1e-5 * top);
                if (want[t] == 0.0)
                    ck_assert_msg(got[t] == 0.0, "%s: layer %zu t %zu: cut gradient %g != 0",
                                  case_name(&cs), k, t + 1, got[t]);
                else
                    worst_norm = fmax(worst_norm, rel);
                ck_assert_msg(rel < NORM_TOL * 10, "%s: ||dL/d%s_%zu|| layer %zu: %.8g, want %.8g",
                              case_name(&cs), cst ? "c" : "h", t + 1, k, got[t], want[t]);
            }
        }
    }
    if (cell != GS_CELL_LSTM)
        ck_assert(gs_rnn_c_grad_norm(cs.net, 0) == NULL);
    free(num);
    free(th);
    case_fini(&cs);
}

static void check_all(GsCellKind cell)
{
    worst_grad = worst_norm = 0.0;
    for (size_t depth = 1; depth <= 2; depth++)
        for (int head = 0; head < 2; head++)
            for (size_t K = 0; K <= 2; K += 2) {
                /* both losses with both heads, alternating */
                GsRnnLoss loss = (GsRnnLoss)((head + (int)depth + (int)K / 2) % 2);
                check_case(cell, depth, (GsRnnHead)head, loss, K);
            }
    printf("%s: worst gradient rel error %.3g, worst ||dL/dh_t|| rel error %.3g\n",
           gs_cell_name(cell), worst_grad, worst_norm);
}

START_TEST(test_grad_rnn_tanh)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    check_all(GS_CELL_RNN_TANH);
}
END_TEST

START_TEST(test_grad_rnn_relu)
{
    check_all(GS_CELL_RNN_RELU);
}
END_TEST

START_TEST(test_grad_lstm)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    check_all(GS_CELL_LSTM);
}
END_TEST

START_TEST(test_grad_gru)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    check_all(GS_CELL_GRU);
}
END_TEST

/* Truncation is a real change (the gradients differ from full BPTT), a window as long as the
 * sequence is full BPTT bit for bit, and a cut state receives exactly nothing. */
START_TEST(test_truncation_semantics)
{
    for (int cell = 0; cell < GS_CELL_COUNT; cell++) {
        Case full, tr, same;
        case_init(&full, (GsCellKind)cell, 2, GS_RNN_HEAD_LAST, GS_RNN_LOSS_MSE, 0, 5);
        case_init(&tr, (GsCellKind)cell, 2, GS_RNN_HEAD_LAST, GS_RNN_LOSS_MSE, 2, 5);
        case_init(&same, (GsCellKind)cell, 2, GS_RNN_HEAD_LAST, GS_RNN_LOSS_MSE, 5, 5);
        case_run(&full);
        case_run(&tr);
        case_run(&same);
        size_t n = gs_rnn_n_params(full.net);
        ck_assert(memcmp(gs_rnn_grads(full.net), gs_rnn_grads(same.net), n * sizeof(float)) == 0);
        ck_assert(memcmp(gs_rnn_grads(full.net), gs_rnn_grads(tr.net), n * sizeof(float)) != 0);
        for (size_t k = 0; k < 2; k++) {
            const double *h = gs_rnn_h_grad_norm(tr.net, k), *hf = gs_rnn_h_grad_norm(full.net, k);
            ck_assert(h[0] == 0.0 && h[1] == 0.0 && h[2] == 0.0 && h[3] > 0.0 && h[4] > 0.0);
            ck_assert(hf[0] > 0.0);
            /* at the last step the many-to-one gradient is the exact one (to rounding: the
             * products run over fewer rows) */
            ck_assert(fabs(h[4] - hf[4]) <= 1e-6 * hf[4]);
        }
        case_fini(&full);
        case_fini(&tr);
        case_fini(&same);
    }
}
END_TEST

/* ---- init, table, determinism ---- */

START_TEST(test_table_and_default_init)
{
    GsRnnConfig c = gs_rnn_config_default();
    c.cell = GS_CELL_LSTM;
    c.d_in = 3;
    c.hidden = 16;
    c.depth = 2;
    c.d_out = 5;
    c.seq_len = 7;
    c.batch_max = 2;
    GsRnn *net;
    GsError err;
    GsRnnSizes sz;
    ck_assert(gs_rnn_sizes(&c, &sz, &err) == GS_OK);
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_OK);
    size_t n;
    const GsRnnTensor *t = gs_rnn_tensors(net, &n);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(sz.n_tensors, 10);
    const char *names[] = {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                           "rnn.bias_hh_l0",   "rnn.weight_ih_l1", "rnn.weight_hh_l1",
                           "rnn.bias_ih_l1",   "rnn.bias_hh_l1",   "out.weight",
                           "out.bias"};
    const size_t shapes[][2] = {{64, 3},  {64, 16}, {64, 0}, {64, 0}, {64, 16},
                                {64, 16}, {64, 0},  {64, 0}, {5, 16}, {5, 0}};
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(t[i].name, names[i]);
        ck_assert_uint_eq(t[i].shape[0], shapes[i][0]);
        ck_assert_uint_eq(t[i].ndim, shapes[i][1] ? 2 : 1);
        if (shapes[i][1])
            ck_assert_uint_eq(t[i].shape[1], shapes[i][1]);
        ck_assert_uint_eq(t[i].offset, off);
        off += t[i].size;
    }
    ck_assert_uint_eq(off, gs_rnn_n_params(net));
    ck_assert_uint_eq(off, sz.n_params);
    ck_assert_uint_eq(off, 64 * 3 + 64 * 16 + 128 + 64 * 16 * 2 + 128 + 5 * 16 + 5);
    /* every parameter, the head's too, in U(-1/4, 1/4), and filling the interval */
    const float *p = gs_rnn_params(net);
    float lo = 1, hi = -1;
    for (size_t i = 0; i < off; i++) {
        ck_assert(p[i] >= -0.25f && p[i] <= 0.25f);
        lo = fminf(lo, p[i]);
        hi = fmaxf(hi, p[i]);
    }
    ck_assert(lo < -0.24f && hi > 0.24f);
    gs_rnn_destroy(net);
}
END_TEST

START_TEST(test_init_options)
{
    GsRnnConfig c = gs_rnn_config_default();
    c.cell = GS_CELL_LSTM;
    c.d_in = 2;
    c.hidden = 8;
    c.d_out = 1;
    c.seq_len = 3;
    c.batch_max = 1;
    c.has_forget_bias = 1;
    c.forget_bias = 3.0;
    GsError err;
    ck_assert(gs_hh_init_parse("orthogonal:1.5", &c.init_hh, &err) == GS_OK);
    ck_assert(gs_init_parse("xavier_uniform", &c.init_ih, &err) == GS_OK);
    c.init_ih_default = 0;
    GsRnn *net;
    ck_assert_msg(gs_rnn_create(&c, &net, &err) == GS_OK, "%s", err.msg);
    size_t n;
    const GsRnnTensor *t = gs_rnn_tensors(net, &n);
    const float *p = gs_rnn_params(net);
    const float *bih = p + t[2].offset, *bhh = p + t[3].offset, *whh = p + t[1].offset;
    for (size_t j = 0; j < 8; j++) {
        ck_assert(bih[8 + j] == 3.0f && bhh[8 + j] == 0.0f);
        ck_assert(bih[j] != 3.0f && fabsf(bih[j]) <= 1.0f / sqrtf(8.0f));
    }
    /* each gate block orthogonal times the gain: sigma_max = rho = 1.5 */
    for (size_t g = 0; g < 4; g++) {
        double s, r;
        ck_assert(gs_rnn_sigma_max(whh + g * 64, 8, 8, &s) == GS_OK);
        ck_assert(gs_rnn_spectral_radius(whh + g * 64, 8, &r) == GS_OK);
        ck_assert_msg(fabs(s - 1.5) < 1e-6 && fabs(r - 1.5) < 1e-5, "gate %zu: %g %g", g, s, r);
    }
    /* xavier_uniform per gate block (8 x 2): bound sqrt(6/10) */
    const float *wih = p + t[0].offset;
    for (size_t i = 0; i < 64; i++)
        ck_assert(fabsf(wih[i]) <= sqrtf(0.6f));
    gs_rnn_destroy(net);

    c.cell = GS_CELL_RNN_RELU;
    c.has_forget_bias = 0;
    ck_assert(gs_hh_init_parse("identity", &c.init_hh, &err) == GS_OK);
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_OK);
    t = gs_rnn_tensors(net, &n);
    whh = gs_rnn_params(net) + t[1].offset;
    for (size_t i = 0; i < 8; i++)
        for (size_t j = 0; j < 8; j++)
            ck_assert(whh[i * 8 + j] == (i == j ? 1.0f : 0.0f));
    gs_rnn_destroy(net);
    /* chrono: b_f = log u in [0, log(T_max - 1)], b_i = -b_f, hh slices 0, others default */
    c.cell = GS_CELL_LSTM;
    c.chrono = 1;
    c.chrono_tmax = 50;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_OK);
    t = gs_rnn_tensors(net, &n);
    const float *cb = gs_rnn_params(net) + t[2].offset, *ch = gs_rnn_params(net) + t[3].offset;
    float fmax_ = 0;
    for (size_t j = 0; j < 8; j++) {
        ck_assert(cb[8 + j] >= 0.0f && cb[8 + j] <= logf(49.0f) + 1e-6f);
        ck_assert(cb[j] == -cb[8 + j] && ch[j] == 0.0f && ch[8 + j] == 0.0f);
        ck_assert(fabsf(cb[16 + j]) <= 1.0f / sqrtf(8.0f));
        fmax_ = fmaxf(fmax_, cb[8 + j]);
    }
    ck_assert(fmax_ > 1.0f);
    gs_rnn_destroy(net);
    c.has_forget_bias = 1;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "not both"));
    c.has_forget_bias = 0;
    c.chrono_tmax = 2;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "T_max"));
    c.chrono_tmax = 50;
    c.cell = GS_CELL_GRU;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "chrono") && strstr(err.msg, "gru"));
    GsHhInit h;
    ck_assert(gs_hh_init_parse("identity:0.9", &h, &err) == GS_OK);
    ck_assert(h.kind == GS_HH_IDENTITY && h.gain == 0.9);
    ck_assert(gs_hh_init_parse("default", &h, &err) == GS_OK && h.kind == GS_HH_DEFAULT);
}
END_TEST

START_TEST(test_bad_config)
{
    GsError err;
    GsHhInit h;
    ck_assert(gs_hh_init_parse("identity:-1", &h, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "identity:-1"));
    ck_assert(gs_hh_init_parse("identityx", &h, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "identityx"));
    ck_assert(gs_hh_init_parse("orthogonal:", &h, &err) == GS_ERR_INVALID);
    GsCellKind k;
    ck_assert(gs_cell_parse("lstm", &k, &err) == GS_OK && k == GS_CELL_LSTM);
    ck_assert(gs_cell_parse("rnn", &k, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "'rnn'"));

    GsRnnConfig c = gs_rnn_config_default();
    c.d_in = 1;
    c.hidden = 4;
    c.d_out = 1;
    c.seq_len = 3;
    c.batch_max = 2;
    GsRnn *net = (GsRnn *)&c; /* must stay untouched */
    c.cell = GS_CELL_GRU;
    c.has_forget_bias = 1;
    c.forget_bias = 1.0;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "forget-bias") && strstr(err.msg, "gru"));
    ck_assert(net == (GsRnn *)&c);
    c.has_forget_bias = 0;
    c.seq_len = 0;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "sequence length"));
    c.seq_len = 3;
    c.loss = GS_RNN_LOSS_XENT;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "classes"));
    c.loss = GS_RNN_LOSS_MSE;
    c.hidden = (size_t)1 << 40;
    GsRnnSizes sz;
    ck_assert(gs_rnn_sizes(&c, &sz, &err) == GS_ERR_RANGE);
    ck_assert(strstr(err.msg, "too large"));
}
END_TEST

START_TEST(test_determinism)
{
    for (int cell = 0; cell < GS_CELL_COUNT; cell++) {
        Case a, b, d;
        case_init(&a, (GsCellKind)cell, 2, GS_RNN_HEAD_EACH, GS_RNN_LOSS_XENT, 2, 42);
        case_init(&b, (GsCellKind)cell, 2, GS_RNN_HEAD_EACH, GS_RNN_LOSS_XENT, 2, 42);
        case_init(&d, (GsCellKind)cell, 2, GS_RNN_HEAD_EACH, GS_RNN_LOSS_XENT, 2, 43);
        size_t n = gs_rnn_n_params(a.net);
        ck_assert(memcmp(gs_rnn_params(a.net), gs_rnn_params(b.net), n * sizeof(float)) == 0);
        ck_assert(memcmp(gs_rnn_params(a.net), gs_rnn_params(d.net), n * sizeof(float)) != 0);
        double la = case_run(&a), lb = case_run(&b);
        ck_assert(memcmp(&la, &lb, sizeof la) == 0);
        ck_assert(memcmp(gs_rnn_grads(a.net), gs_rnn_grads(b.net), n * sizeof(float)) == 0);
        ck_assert(memcmp(gs_rnn_h_grad_norm(a.net, 0), gs_rnn_h_grad_norm(b.net, 0),
                         5 * sizeof(double)) == 0);
        /* a second pass on the same net gives the same bits: no state leaks between passes */
        case_run(&a);
        ck_assert(memcmp(gs_rnn_grads(a.net), gs_rnn_grads(b.net), n * sizeof(float)) == 0);
        case_fini(&a);
        case_fini(&b);
        case_fini(&d);
    }
}
END_TEST

/* Shorter sequences and batches than the maximum use the same buffers correctly. */
START_TEST(test_short_pass)
{
    Case cs;
    case_init(&cs, GS_CELL_GRU, 2, GS_RNN_HEAD_EACH, GS_RNN_LOSS_MSE, 0, 9);
    case_run(&cs); /* full-size pass first, leaving its values behind */
    cs.ref.B = 2;
    cs.ref.T = 3;
    /* the reference reads x (B, T, D) with the new T: repack the first 2 sequences' steps */
    float xf[2 * 3 * 2], yf[2 * 3 * 2];
    double x[12], y[12];
    for (size_t b = 0; b < 2; b++)
        for (size_t t = 0; t < 3; t++)
            for (size_t j = 0; j < 2; j++) {
                xf[(b * 3 + t) * 2 + j] = cs.xf[(b * 5 + t) * 2 + j];
                yf[(b * 3 + t) * 2 + j] = cs.yf[(b * 5 + t) * 2 + j];
                x[(b * 3 + t) * 2 + j] = xf[(b * 3 + t) * 2 + j];
                y[(b * 3 + t) * 2 + j] = yf[(b * 3 + t) * 2 + j];
            }
    cs.ref.x = x;
    cs.ref.y = y;
    gs_rnn_zero_grad(cs.net);
    gs_rnn_forward(cs.net, xf, 2, 3);
    double L = gs_rnn_loss(cs.net, yf, NULL);
    gs_rnn_backward(cs.net);
    double Lref = ref_loss(&cs.ref, cs.th, cs.th, 0);
    ck_assert_msg(fabs(L - Lref) < 1e-5 * Lref, "%g vs %g", L, Lref);
    /* output laid out batch first (B, T, d_out) */
    const float *out = gs_rnn_output(cs.net);
    ck_assert(isfinite(out[2 * 3 * 2 - 1]));
    size_t n = gs_rnn_n_params(cs.net);
    const float *g = gs_rnn_grads(cs.net);
    double *th = malloc(n * sizeof *th);
    memcpy(th, cs.th, n * sizeof *th);
    for (size_t i = 0; i < n; i += 7) {
        th[i] += 1e-6;
        double lp = ref_loss(&cs.ref, th, cs.th, 0);
        th[i] -= 2e-6;
        double lm = ref_loss(&cs.ref, th, cs.th, 0);
        th[i] = cs.th[i];
        double num = (lp - lm) / 2e-6;
        ck_assert_msg(fabs(num - g[i]) <= 1e-3 * fmax(fabs(num), 1e-3), "%zu: %g vs %g", i, g[i],
                      num);
    }
    free(th);
    case_fini(&cs);
}
END_TEST

/* ---- hidden-state statistics ---- */

START_TEST(test_hidden_stats)
{
    Case cs;
    case_init(&cs, GS_CELL_RNN_TANH, 1, GS_RNN_HEAD_LAST, GS_RNN_LOSS_MSE, 0, 3);
    case_run(&cs);
    const float *h = gs_rnn_hidden(cs.net, 0);
    const double *m = gs_rnn_h_mean(cs.net, 0), *sd = gs_rnn_h_std(cs.net, 0),
                 *sat = gs_rnn_h_saturation(cs.net, 0);
    for (size_t t = 0; t < 5; t++) {
        double s = 0, s2 = 0, ns = 0;
        for (size_t i = 0; i < 12; i++) {
            double v = h[t * 12 + i];
            s += v;
            s2 += v * v;
            ns += fabs(v) > sqrt(0.95);
        }
        ck_assert(fabs(m[t] - s / 12) < 1e-12);
        ck_assert(fabs(sd[t] - sqrt(s2 / 12 - (s / 12) * (s / 12))) < 1e-9);
        ck_assert(fabs(sat[t] - ns / 12) < 1e-12);
        ck_assert(sd[t] > 0);
    }
    case_fini(&cs);
}
END_TEST

/* ---- spectra ---- */

START_TEST(test_spectra)
{
    /* a rotation by 0.3 rad scaled by 0.9 (complex pair, power iteration's hard case) in a
     * block with a 0.9 real eigenvalue and a nilpotent part */
    float w[16] = {0};
    double a = 0.9 * cos(0.3), b = 0.9 * sin(0.3);
    w[0] = (float)a, w[1] = (float)-b, w[4] = (float)b, w[5] = (float)a;
    w[10] = 0.9f, w[11] = 1.0f, w[15] = 0.2f;
    double rho, want = sqrt((double)w[0] * w[0] + (double)w[1] * w[1]);
    ck_assert(gs_rnn_spectral_radius(w, 4, &rho) == GS_OK);
    ck_assert_msg(fabs(rho - fmax(want, 0.9)) < 1e-6, "rho %.12g want %.12g", rho, fmax(want, 0.9));
    /* sigma_max of a 2x3 matrix against the closed form of its 2x2 Gram matrix */
    float m[6] = {1, 2, 0.5f, -1, 0.25f, 3};
    double g11 = 1 + 4 + 0.25, g12 = -1 + 0.5 + 1.5, g22 = 1 + 1.0 / 16 + 9;
    double l = 0.5 * (g11 + g22) + sqrt(0.25 * (g11 - g22) * (g11 - g22) + g12 * g12);
    double s;
    ck_assert(gs_rnn_sigma_max(m, 2, 3, &s) == GS_OK);
    ck_assert_msg(fabs(s - sqrt(l)) < 1e-12 * sqrt(l), "%.15g vs %.15g", s, sqrt(l));
    ck_assert(gs_rnn_sigma_max(m, 3, 2, &s) == GS_OK); /* the transpose's layout, other Gram */
    /* two nearly equal singular values: diag(1, 0.999999) */
    float d[4] = {1.0f, 0, 0, 0.999999f};
    ck_assert(gs_rnn_sigma_max(d, 2, 2, &s) == GS_OK);
    ck_assert(fabs(s - 1.0) < 1e-12);
    float z[4] = {0, 1, 0, 0};
    ck_assert(gs_rnn_spectral_radius(z, 2, &rho) == GS_OK && rho == 0.0);
    float nanm[1] = {NAN};
    ck_assert(gs_rnn_spectral_radius(nanm, 1, &rho) == GS_OK && isnan(rho));
    /* a net's weight_hh: the whole matrix's sigma_max, the candidate block's radius (LSTM g) */
    GsRnnConfig c = gs_rnn_config_default();
    c.cell = GS_CELL_LSTM;
    c.d_in = 2, c.hidden = 5, c.depth = 2, c.d_out = 1, c.seq_len = 3, c.batch_max = 2;
    c.seed = 7;
    GsRnn *net = NULL;
    GsError err = {{0}};
    ck_assert_msg(gs_rnn_create(&c, &net, &err) == GS_OK, "%s", err.msg);
    size_t n;
    const GsRnnTensor *t = gs_rnn_tensors(net, &n);
    for (size_t i = 0; i < n; i++) {
        if (t[i].role != GS_RT_WEIGHT_HH)
            continue;
        const float *whh = gs_rnn_params(net) + t[i].offset;
        double sm, r, sm2, r2;
        ck_assert(gs_rnn_recurrent_spectra(net, t[i].layer, &sm, &r) == GS_OK);
        ck_assert(gs_rnn_sigma_max(whh, 4 * 5, 5, &sm2) == GS_OK);
        ck_assert(gs_rnn_spectral_radius(whh + 2 * 5 * 5, 5, &r2) == GS_OK);
        ck_assert(sm == sm2 && r == r2);
    }
    double sm, r;
    ck_assert_int_eq(gs_rnn_recurrent_spectra(net, 2, &sm, &r), GS_ERR_INVALID);
    gs_rnn_destroy(net);
}
END_TEST

/* ---- export ---- */

START_TEST(test_export)
{
    Case cs;
    case_init(&cs, GS_CELL_GRU, 2, GS_RNN_HEAD_LAST, GS_RNN_LOSS_MSE, 0, 1);
    char dir[] = "/tmp/gs_rnn_exportXXXXXX";
    ck_assert(mkdtemp(dir));
    GsError err;
    ck_assert_msg(gs_rnn_export_npy(cs.net, dir, &err) == GS_OK, "%s", err.msg);
    size_t n;
    const GsRnnTensor *t = gs_rnn_tensors(cs.net, &n);
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.npy", dir, t[i].name);
        float *data;
        size_t shape[GS_NPY_MAX_DIM], nd;
        ck_assert_msg(gs_npy_read_f32(path, &data, shape, &nd, &err) == GS_OK, "%s", err.msg);
        ck_assert_uint_eq(nd, t[i].ndim);
        ck_assert_uint_eq(shape[0], t[i].shape[0]);
        ck_assert(memcmp(data, gs_rnn_params(cs.net) + t[i].offset, t[i].size * sizeof(float)) ==
                  0);
        free(data);
        unlink(path);
    }
    rmdir(dir);
    ck_assert(gs_rnn_export_npy(cs.net, "/nonexistent/dir", &err) == GS_ERR_IO);
    ck_assert(strstr(err.msg, "/nonexistent/dir"));
    case_fini(&cs);
}
END_TEST

/* ---- through time at initialization (issue 11's lesson 12, at hidden 64 and T 60 on the
 * adding problem): the ratio ||dL/dh_1|| / ||dL/dh_60|| orders the cures as PyTorch does ---- */

static double decay_ratio(GsCellKind cell, const char *hh, double forget_bias, uint64_t seed,
                          const GsSeqDataset *ds)
{
    GsRnnConfig c = gs_rnn_config_default();
    GsError err;
    c.cell = cell;
    c.d_in = 2;
    c.hidden = 64;
    c.d_out = 1;
    c.seq_len = 60;
    c.batch_max = 64;
    c.seed = seed;
    ck_assert(gs_hh_init_parse(hh, &c.init_hh, &err) == GS_OK);
    c.has_forget_bias = forget_bias != 0.0;
    c.forget_bias = forget_bias;
    GsRnn *net;
    ck_assert(gs_rnn_create(&c, &net, &err) == GS_OK);
    gs_rnn_zero_grad(net);
    gs_rnn_forward(net, ds->x, 64, 60);
    gs_rnn_loss(net, ds->y, NULL);
    gs_rnn_backward(net);
    const double *h = gs_rnn_h_grad_norm(net, 0);
    double r = h[0] / h[59];
    gs_rnn_destroy(net);
    return r;
}

START_TEST(test_through_time_at_init)
{
    GsSeqOptions o = {.kind = GS_SEQ_ADDING, .samples = 64, .seq_len = 60, .seed = 1};
    GsSeqDataset *ds;
    GsError err;
    ck_assert(gs_seq_create(&o, &ds, &err) == GS_OK);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double tanh_def = decay_ratio(GS_CELL_RNN_TANH, "default", 0, seed, ds);
        double tanh_orth = decay_ratio(GS_CELL_RNN_TANH, "orthogonal", 0, seed, ds);
        double lstm_def = decay_ratio(GS_CELL_LSTM, "default", 0, seed, ds);
        double lstm_fb1 = decay_ratio(GS_CELL_LSTM, "default", 1, seed, ds);
        double lstm_fb3 = decay_ratio(GS_CELL_LSTM, "default", 3, seed, ds);
        /* measured here (seeds 1-3): 7e-15..2e-13, 3e-3..2e-2, 2e-13..2e-12, 1e-5..5e-5,
         * 0.19..0.29; PyTorch in the issue: 5.5e-16, 6.4e-3, 6.6e-13, 1.8e-5, 0.11 */
        ck_assert_msg(tanh_def < 1e-10 && lstm_def < 1e-10, "%g %g", tanh_def, lstm_def);
        ck_assert_msg(lstm_fb1 > 1e-7 && lstm_fb1 < 1e-3, "%g", lstm_fb1);
        ck_assert_msg(tanh_orth > 1e-4 && tanh_orth < 0.1, "%g", tanh_orth);
        ck_assert_msg(lstm_fb3 > 0.03, "%g", lstm_fb3);
        ck_assert(lstm_fb3 > tanh_orth && tanh_orth > lstm_fb1 && lstm_fb1 > lstm_def);
    }
    gs_seq_destroy(ds);
}
END_TEST

/* NaN in the input is data: it reaches the loss and the gradients of every cell. */
START_TEST(test_nan_propagates)
{
    for (int cell = 0; cell < GS_CELL_COUNT; cell++) {
        Case cs;
        case_init(&cs, (GsCellKind)cell, 2, GS_RNN_HEAD_LAST, GS_RNN_LOSS_MSE, 0, 2);
        cs.xf[0] = NAN;
        double L = case_run(&cs);
        ck_assert_msg(isnan(L), "%s: loss %g", gs_cell_name((GsCellKind)cell), L);
        ck_assert(isnan(gs_rnn_grads(cs.net)[0]));
        ck_assert(isnan(gs_rnn_h_grad_norm(cs.net, 0)[0]));
        case_fini(&cs);
    }
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("rnn");
    TCase *tc = tcase_create("rnn");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_grad_rnn_tanh, 0, 2);
    tcase_add_test(tc, test_grad_rnn_relu);
    tcase_add_loop_test(tc, test_grad_lstm, 0, 2);
    tcase_add_loop_test(tc, test_grad_gru, 0, 2);
    tcase_add_test(tc, test_truncation_semantics);
    tcase_add_test(tc, test_table_and_default_init);
    tcase_add_test(tc, test_init_options);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_short_pass);
    tcase_add_test(tc, test_hidden_stats);
    tcase_add_test(tc, test_spectra);
    tcase_add_test(tc, test_export);
    tcase_add_test(tc, test_nan_propagates);
    tcase_add_test(tc, test_through_time_at_init);
    suite_add_tcase(s, tc);
    return s;
}
