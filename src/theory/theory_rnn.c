/* Through-time theory of recurrent layers at initialization (THEORY.md, "Recurrent nets"):
 * the Jacobian bound of Pascanu et al. 2013 and a mean-field prediction of how ||dL/dh_t||
 * shrinks or grows per step going back from t = T, for RNN (tanh, relu), LSTM and GRU cells. */
#include "gradscope/theory.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/act.h"
#include "gradscope/init.h"
#include "theory/quad.h"

#define DNAN ((double)NAN)
#define T_CAP 2000 /* steps computed exactly; longer sequences extrapolate (below) */

double gs_theory_horizon(double step_gain)
{
    if (!isfinite(step_gain) || !(step_gain > 0.0))
        return DNAN;
    if (step_gain >= 1.0)
        return HUGE_VAL;
    return log(GS_THEORY_HORIZON_LEVEL) / log(step_gain);
}

static int is_plain(GsCellKind cell)
{
    return cell == GS_CELL_RNN_TANH || cell == GS_CELL_RNN_RELU;
}

static GsAct cell_act(GsCellKind cell)
{
    GsAct a = {cell == GS_CELL_RNN_RELU ? GS_ACT_RELU : GS_ACT_TANH, 0.0};
    return a;
}

GsStatus gs_theory_rnn_bound(GsCellKind cell, double sigma_max, size_t T, GsRnnBound *out,
                             GsError *err)
{
    assert(out != NULL);
    if (!is_plain(cell))
        return gs_error(err, GS_ERR_INVALID,
                        "cell %s: the bound sigma_max * gamma holds for plain RNN cells only "
                        "(a gated cell's Jacobian has the gates' own terms)",
                        gs_cell_name(cell) ? gs_cell_name(cell) : "unknown");
    if (!isfinite(sigma_max) || sigma_max < 0.0)
        return gs_error(err, GS_ERR_INVALID, "sigma_max %g: must be finite and non-negative",
                        sigma_max);
    if (T == 0)
        return gs_error(err, GS_ERR_INVALID, "sequence length 0: must be at least 1");
    GsAct a = cell_act(cell);
    GsRnnBound b;
    b.gamma = gs_act_max_deriv(&a);
    b.per_step = sigma_max * b.gamma;
    b.over_steps = pow(b.per_step, (double)(T - 1));
    b.vanish_sufficient = b.per_step < 1.0;
    *out = b;
    return GS_OK;
}

/* ---- the variances an init gives ------------------------------------------------------ */

/* What the init puts into each pre-activation, per unit, in the mean-field limit. */
typedef struct {
    double s_in; /* Var(w_ih) * d_in * E[x^2]: the input's share */
    double v_b1; /* variance of one default bias vector, 1/(3H) */
    double s_hh; /* H Var(w_hh), the recurrent weights' sigma_w^2 (orthogonal, identity: g^2) */
    double g_id; /* identity init: its gain; else 0 */
} Vars;

static Vars init_vars(const GsRnnConfig *c, double m)
{
    Vars v;
    const double H = (double)c->hidden;
    double var_ih = c->init_ih_default ? 1.0 / (3.0 * H)
                                       : pow(gs_init_std(&c->init_ih, c->d_in, c->hidden), 2.0);
    v.s_in = var_ih * (double)c->d_in * m;
    v.v_b1 = 1.0 / (3.0 * H);
    v.g_id = 0.0;
    switch (c->init_hh.kind) {
    case GS_HH_DEFAULT: v.s_hh = 1.0 / 3.0; break;
    case GS_HH_IDENTITY:
        v.g_id = c->init_hh.gain;
        v.s_hh = v.g_id * v.g_id;
        break;
    case GS_HH_SCHEME:
    default: v.s_hh = H * pow(gs_init_std(&c->init_hh.init, c->hidden, c->hidden), 2.0); break;
    }
    return v;
}

/* ---- Gaussian moments ----------------------------------------------------------------- */

static double f_val_sq(double z, const void *ctx)
{
    double v = gs_act_value(ctx, z);
    return v * v;
}

static double f_val(double z, const void *ctx)
{
    return gs_act_value(ctx, z);
}

static double f_der_sq(double z, const void *ctx)
{
    double d = gs_act_deriv(ctx, z);
    return d * d;
}

/* A sigmoid gate with pre-activation N(mean, var): E[s], E[s^2], E[s'^2]. */
typedef struct {
    double m1, m2, d2;
} Gate;

static Gate gate(double mean, double var)
{
    static const GsAct sig = {GS_ACT_SIGMOID, 0.0};
    double sd = sqrt(var > 0.0 ? var : 0.0);
    Gate g = {gs_theory_gauss_expect(f_val, &sig, mean, sd),
              gs_theory_gauss_expect(f_val_sq, &sig, mean, sd),
              gs_theory_gauss_expect(f_der_sq, &sig, mean, sd)};
    return g;
}

static double sq(double x)
{
    return x * x;
}

/* ---- plain RNN with i.i.d. or orthogonal recurrent weights ------------------------------ */

/* The textbook recursion (Poole et al. 2016 through time; Chen, Pennington & Schoenholz 2018):
 * u_t ~ N(0, q_t) over units, q_1 = s_in + v_b (h_0 = 0), q_{t+1} = s_in + v_b + s_hh E[phi^2],
 * and going back dL/dh_{t-1} = W^T diag(phi'(u_t)) dL/dh_t, so the squared norm shrinks by
 * chi_t = s_bw E[phi'(u_t)^2] per step. s_bw = s_hh, or rho^2 when the measured spectral radius
 * is given: the same matrix multiplies at every step, so at finite width its long-run rate is
 * rho, which the circular law sends to sqrt(s_hh) as H grows. Orthogonal: exact, s = g^2. */
static void predict_plain(const GsRnnConfig *c, const Vars *v, double s_bw, double *prof,
                          double *local, double *q_T)
{
    GsAct act = cell_act(c->cell);
    const double v_b = 2.0 * v->v_b1;
    const size_t T = c->seq_len;
    double q = v->s_in + v_b, chi = 1.0;
    /* prof[t] first holds 0.5 log chi_t (the factor from h_t to h_{t-1}), then suffix sums */
    for (size_t t = 1; t <= T; t++) {
        double sd = sqrt(q);
        double m2 = gs_theory_gauss_expect(f_val_sq, &act, 0.0, sd);
        double d2 = gs_theory_gauss_expect(f_der_sq, &act, 0.0, sd);
        chi = s_bw * d2;
        prof[t] = 0.5 * log(chi);
        *q_T = q;
        q = v->s_in + v_b + v->s_hh * m2;
    }
    /* log R(t) = sum_{u=t+1}^{T} 0.5 log chi_u */
    double acc = 0.0;
    for (size_t t = T; t >= 1; t--) {
        double f = prof[t];
        prof[t] = acc;
        acc += f;
    }
    *local = sqrt(chi);
}

/* log(sum_k w_k exp(a_k)) over the grid, with -Inf terms allowed. */
static double log_mean_exp(const double *a, const double *w, size_t n)
{
    double hi = -HUGE_VAL;
    for (size_t k = 0; k < n; k++)
        if (a[k] > hi)
            hi = a[k];
    if (hi == -HUGE_VAL)
        return -HUGE_VAL;
    double s = 0.0;
    for (size_t k = 0; k < n; k++)
        s += w[k] * exp(a[k] - hi);
    return hi + log(s);
}

/* Identity recurrent weights (IRNN, Le et al. 2015): W = g I does not mix units, so each unit
 * runs its own scalar recursion h_t = phi(g h_{t-1} + a) with a static drive a ~ N(0, s_in +
 * v_b) (its bias and the input's share; the input's fluctuation over time is taken as part of
 * that static drive), and the gradient of unit a shrinks by g phi'(u_t(a)) per step exactly.
 * ratio^2 = E_a[prod_{t=2}^T (g phi'(u_t))^2], by quadrature over a: for relu, units with a < 0
 * are off from the start and the others pass the gradient with factor g. */
static void predict_identity(const GsRnnConfig *c, const Vars *v, double *prof, double *local,
                             double *q_T, double *buf)
{
    GsAct act = cell_act(c->cell);
    double *eps = buf, *w = buf + GS_EPS_NODES, *h = buf + 2 * GS_EPS_NODES,
           *lp = buf + 3 * GS_EPS_NODES, *lT = buf + 4 * GS_EPS_NODES,
           *sfx = buf + 5 * GS_EPS_NODES;
    gs_theory_eps_grid(eps, w);
    const double sd = sqrt(v->s_in + 2.0 * v->v_b1), g = v->g_id;
    const size_t T = c->seq_len;
    /* Two passes over the same deterministic recursion: the first gives each unit's whole
     * log product S_T = sum_{u=2}^{T} log (g phi'(u_u))^2 (and the long-run rate, the growth
     * of E[exp S_t] in its last step), the second at every t the suffix S_T - S_t, whose mean
     * over units is R(t)^2. A unit off by t (S_t = -Inf) stays off at its static drive: its
     * suffix is -Inf too. */
    double prev = 0.0, cur = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < GS_EPS_NODES; k++)
            h[k] = lp[k] = 0.0;
        for (size_t t = 1; t <= T; t++) {
            double q = 0.0;
            for (size_t k = 0; k < GS_EPS_NODES; k++) {
                double u = g * h[k] + sd * eps[k];
                q += w[k] * u * u;
                if (t >= 2) {
                    double f = g * gs_act_deriv(&act, u);
                    lp[k] += f > 0.0 ? 2.0 * log(fabs(f)) : -HUGE_VAL;
                }
                h[k] = gs_act_value(&act, u);
            }
            *q_T = q;
            if (pass == 0) {
                prev = cur;
                cur = t >= 2 ? 0.5 * log_mean_exp(lp, w, GS_EPS_NODES) : 0.0;
            } else {
                for (size_t k = 0; k < GS_EPS_NODES; k++)
                    sfx[k] = lp[k] == -HUGE_VAL ? -HUGE_VAL : lT[k] - lp[k];
                prof[t] = 0.5 * log_mean_exp(sfx, w, GS_EPS_NODES);
            }
        }
        if (pass == 0)
            for (size_t k = 0; k < GS_EPS_NODES; k++)
                lT[k] = lp[k];
    }
    *local = T >= 2 ? exp(cur - prev) : 1.0;
}

/* ---- gated cells ---------------------------------------------------------------------- */

/* Multiplies the polynomial a (coefficients a[0..*deg], scaled by exp(*log_scale)) by
 * (alpha + beta z), then rescales so that the largest |a_j| is 1. */
static void poly_mul(double *a, size_t *deg, double *log_scale, double alpha, double beta)
{
    size_t d = *deg + 1;
    a[d] = 0.0;
    for (size_t j = d; j > 0; j--)
        a[j] = alpha * a[j] + beta * a[j - 1];
    a[0] *= alpha;
    *deg = d;
    double hi = 0.0;
    for (size_t j = 0; j <= d; j++)
        hi = fmax(hi, fabs(a[j]));
    if (hi > 0.0 && isfinite(hi)) {
        for (size_t j = 0; j <= d; j++)
            a[j] /= hi;
        *log_scale += log(hi);
    }
}

/* Gated cells, linearized around the init. Going back one step, both cells have a Jacobian of
 * the form diag(alpha_t) + (W_hh part), alpha = f for the LSTM cell path and z for the GRU; the
 * W part is K_t W' with W' of variance s/H per entry. Because the same W' acts at every step,
 * prod_t (alpha_t + K_t W') = sum_j e_j W'^j with e_j the coefficients of prod_t (alpha_t +
 * K_t z), and for i.i.d. (or Haar orthogonal) W', E||W'^j v||^2 = s^j ||v||^2 while different
 * powers are uncorrelated at large H: ratio^2 = sum_j e_j^2 s^j. Its long-run rate is
 * alpha + K sqrt(s), the right edge of the shifted circular law: larger than alpha alone,
 * which is why the cell path of a default LSTM (f ~ 1/2) decays slower than 2^-T. The forward
 * statistics come from a per-unit model: each unit's candidate (g or n) pre-activation is
 * static over time, sqrt(v_t) eps with eps fixed per unit, so the cell (or h) accumulates it
 * as the forget (or update) gate allows; the sigmoid gates enter through their means and mean
 * squares. Ignored: the spread of the gates over units (their biases), the LSTM output gate's
 * own path W_ho^T (o' tanh(c) dL/dh), and correlations between gates of one unit. */
static GsStatus predict_gated(const GsRnnConfig *c, const Vars *v, double *prof, double *local,
                              double *q_T, double *buf, GsError *err)
{
    const size_t T = c->seq_len;
    /* the polynomial, and per step alpha_t, K_t sqrt(s) and (LSTM) s sigma_t^2 */
    double *a = malloc(4 * (T + 2) * sizeof *a);
    if (a == NULL)
        return gs_error(err, GS_ERR_NOMEM, "out of memory predicting %zu steps", T);
    double *al = a + (T + 2), *ka = al + (T + 2), *en = ka + (T + 2);
    double *eps = buf, *w = buf + GS_EPS_NODES, *st = buf + 2 * GS_EPS_NODES;
    gs_theory_eps_grid(eps, w);
    for (size_t k = 0; k < GS_EPS_NODES; k++)
        st[k] = 0.0; /* LSTM: c_t; GRU: h_t */
    const int lstm = c->cell == GS_CELL_LSTM;
    const double s = v->s_hh, rs = sqrt(s);
    double log_out = 0.0, o_prev = 0.0, rate = 1.0, eh2 = 0.0;
    for (size_t t = 1; t <= T; t++) {
        /* gate pre-activation variance: two default biases, the input, W_hh h_{t-1} */
        double v_gate = 2.0 * v->v_b1 + v->s_in + s * eh2;
        double alpha, kappa2, sd_cand;
        double m_g2 = 0.0, m_gp2 = 0.0, m_st2 = 0.0, m_tp2 = 0.0, m_d2 = 0.0, h2 = 0.0;
        if (lstm) {
            Gate gi = gate(0.0, v_gate), go = gi;
            Gate gf =
                c->has_forget_bias ? gate(c->forget_bias, v->s_in + s * eh2) : gate(0.0, v_gate);
            sd_cand = sqrt(v_gate);
            for (size_t k = 0; k < GS_EPS_NODES; k++) {
                double g = tanh(sd_cand * eps[k]), cp = st[k], tc = tanh(cp);
                m_g2 += w[k] * g * g;
                m_gp2 += w[k] * sq(1.0 - g * g);
                m_st2 += w[k] * cp * cp;
                m_tp2 += w[k] * sq(1.0 - tc * tc); /* tanh'(c_{t-1})^2 */
                st[k] = gf.m1 * cp + gi.m1 * g;
                double tn = tanh(st[k]);
                m_d2 += w[k] * sq(1.0 - tn * tn); /* tanh'(c_t)^2 */
                h2 += w[k] * go.m2 * tn * tn;
            }
            *q_T = v_gate;
            /* dL/dh_{t-1} = W_hg^T(i g' dc_t) + W_hi^T(i' g dc_t) + W_hf^T(f' c_{t-1} dc_t)
             * and dc_{t-1} = f dc_t + o_{t-1} tanh'(c_{t-1}) dL/dh_{t-1} */
            double sig2 = gi.m2 * m_gp2 + gi.d2 * m_g2 + gf.d2 * m_st2;
            alpha = gf.m1;
            kappa2 = sq(o_prev) * m_tp2 * sig2;
            en[t] = 0.5 * log(s * sig2); /* dL/dh_{t-1} from dc_t */
            if (t == T)
                log_out = 0.5 * log(go.m2 * m_d2); /* dc_T from dL/dh_T */
            o_prev = go.m1;
        } else {
            Gate gz = gate(0.0, v_gate), gr = gz;
            /* n = tanh(W_in x + b_in + r (W_hn h + b_hn)) */
            double v_inner = s * eh2 + v->v_b1;
            double v_n = v->v_b1 + v->s_in + gr.m2 * v_inner;
            sd_cand = sqrt(v_n);
            double m_hn2 = 0.0;
            for (size_t k = 0; k < GS_EPS_NODES; k++) {
                double n = tanh(sd_cand * eps[k]), hp = st[k];
                m_gp2 += w[k] * sq(1.0 - n * n);
                m_hn2 += w[k] * sq(hp - n);
                st[k] = (1.0 - gz.m1) * n + gz.m1 * hp;
                h2 += w[k] * st[k] * st[k];
            }
            *q_T = v_n;
            /* dL/dh_{t-1} = z dh_t + W_hn^T(r (1-z) n' dh_t) + W_hz^T(z' (h_{t-1} - n) dh_t)
             * + W_hr^T(r' (W_hn h + b_hn) (1-z) n' dh_t) */
            double omz2 = sq(1.0 - gz.m1);
            alpha = gz.m1;
            kappa2 = omz2 * gr.m2 * m_gp2 + gz.d2 * m_hn2 + gr.d2 * v_inner * omz2 * m_gp2;
        }
        al[t] = alpha;
        ka[t] = sqrt(kappa2) * rs;
        rate = alpha + ka[t];
        eh2 = h2;
    }
    /* Backward from T: the polynomial holds the factors of steps u > t (+1 for the LSTM,
     * whose h_t comes from dc_{t+1} through the W part and whose dc_T from dL/dh_T). */
    a[0] = 1.0;
    size_t deg = 0;
    double log_scale = 0.0;
    prof[T] = 0.0;
    for (size_t t = T - 1; t >= 1; t--) {
        size_t u = lstm ? t + 2 : t + 1;
        if (u <= T)
            poly_mul(a, &deg, &log_scale, al[u], ka[u]);
        double sum = 0.0;
        for (size_t j = 0; j <= deg; j++)
            sum += a[j] * a[j];
        prof[t] = log_scale + 0.5 * log(sum) + (lstm ? en[t + 1] + log_out : 0.0);
    }
    free(a);
    *local = rate;
    return GS_OK;
}

/* The prediction and the profile: prof[t] = log R(t) = log(||dL/dh_t|| / ||dL/dh_T||) for the
 * last min(T, T_CAP) steps, t = 1..min(T, T_CAP) (prof has T_CAP + 1 entries; entry t of a
 * capped profile is time step T - T_CAP + t). */
static GsStatus predict_core(const GsRnnConfig *cfg, double input_second_moment,
                             double spectral_radius, double *prof, GsRnnPrediction *out,
                             GsError *err)
{
    GsStatus st = gs_rnn_config_validate(cfg, err);
    if (st != GS_OK)
        return st;
    if (!isfinite(input_second_moment) || input_second_moment < 0.0)
        return gs_error(err, GS_ERR_INVALID,
                        "input second moment %g: must be finite and non-negative",
                        input_second_moment);
    if (cfg->depth != 1)
        return gs_error(err, GS_ERR_INVALID,
                        "depth %zu: no prediction for stacked layers (layer 0 then also gets "
                        "gradient from the layer above at every step)",
                        cfg->depth);
    if (cfg->chrono)
        return gs_error(err, GS_ERR_INVALID,
                        "chrono init: no prediction (its forget biases spread over units by "
                        "design, which the mean-field gates ignore)");
    if (!is_plain(cfg->cell) && cfg->init_hh.kind == GS_HH_IDENTITY)
        return gs_error(err, GS_ERR_INVALID,
                        "identity recurrent init of a %s: no prediction (the gate blocks do not "
                        "mix units, so the gates' signs per unit matter)",
                        gs_cell_name(cfg->cell));

    /* Past T_CAP steps the statistics have settled (the forward transient and the gated
     * polynomial's prefactor converge within a few hundred steps): the rest is extrapolated
     * with the local rate, so the cost stays bounded for T up to 1e6. */
    GsRnnConfig capped = *cfg;
    if (capped.seq_len > T_CAP)
        capped.seq_len = T_CAP;
    const GsRnnConfig *cfg_full = cfg;
    cfg = &capped;
    Vars v = init_vars(cfg, input_second_moment);
    double *buf = malloc(6 * GS_EPS_NODES * sizeof *buf);
    if (buf == NULL)
        return gs_error(err, GS_ERR_NOMEM, "out of memory predicting a recurrent layer");
    GsRnnPrediction p;
    memset(&p, 0, sizeof p);
    int iid = cfg->init_hh.kind == GS_HH_DEFAULT ||
              (cfg->init_hh.kind == GS_HH_SCHEME && cfg->init_hh.init.kind != GS_INIT_ORTHOGONAL);
    const char *cell = gs_cell_name(cfg->cell);
    if (is_plain(cfg->cell) && cfg->init_hh.kind == GS_HH_IDENTITY) {
        predict_identity(cfg, &v, prof, &p.local_gain, &p.q_T, buf);
        snprintf(p.model, sizeof p.model,
                 "%s, identity W_hh (gain %g): per-unit scalar recursion with a static drive "
                 "N(0, bias + input variance), input fluctuations over time ignored",
                 cell, v.g_id);
    } else if (is_plain(cfg->cell)) {
        /* rho sets the rate where the Jacobians are nearly one fixed matrix: in the ordered
         * regime (s_hh <= 1) the state settles and phi' barely changes over time. In the
         * chaotic regime phi'(u_t) changes every step, the products decorrelate, and the
         * mean-field s_hh is the better rate (tanh normal:0.2 at H 64: 339 vs measured
         * 0.5..650, where rho gave up to 1e5). */
        int use_rho = iid && v.s_hh <= 1.0 && isfinite(spectral_radius) && spectral_radius > 0.0;
        double s_bw = use_rho ? spectral_radius * spectral_radius : v.s_hh;
        predict_plain(cfg, &v, s_bw, prof, &p.local_gain, &p.q_T);
        if (use_rho)
            snprintf(p.model, sizeof p.model,
                     "%s: mean-field q_t from h_0 = 0, per-step factor rho(W_hh) sqrt(E[phi'^2]) "
                     "with the measured rho = %.4g (infinite width: sqrt(H Var w) = %.4g)",
                     cell, spectral_radius, sqrt(v.s_hh));
        else
            snprintf(p.model, sizeof p.model,
                     "%s: mean-field q_t from h_0 = 0, per-step factor sqrt(%s E[phi'^2]) with "
                     "%s = %.4g",
                     cell, iid ? "H Var w_hh" : "g^2", iid ? "H Var w_hh" : "g^2", v.s_hh);
    } else {
        st = predict_gated(cfg, &v, prof, &p.local_gain, &p.q_T, buf, err);
        snprintf(p.model, sizeof p.model,
                 "%s: linearized around init, %s path diag(%s) plus the reused W_hh (H Var w = "
                 "%.4g), per-unit static candidate input; gate spread over units and the output "
                 "gate's own path ignored",
                 cell, cfg->cell == GS_CELL_LSTM ? "cell" : "state",
                 cfg->cell == GS_CELL_LSTM ? "f" : "z", v.s_hh);
    }
    free(buf);
    if (st != GS_OK)
        return st;
    const size_t T = cfg_full->seq_len, Tc = cfg->seq_len;
    double log_ratio = prof[1];
    if (T > Tc)
        log_ratio =
            p.local_gain > 0.0 ? log_ratio + (double)(T - Tc) * log(p.local_gain) : -HUGE_VAL;
    p.ratio = exp(log_ratio);
    p.log10_ratio = log_ratio / log(10.0);
    p.step_gain = T >= 2 ? exp(log_ratio / (double)(T - 1)) : 1.0;
    /* the horizon: k steps back is time step T - k, entry Tc - k of the profile while k < Tc;
     * beyond, the profile continues at the local rate (also past t = 1) */
    const double L = log(GS_THEORY_HORIZON_LEVEL);
    p.horizon = DNAN;
    for (size_t k = 1; k < Tc && isnan(p.horizon); k++)
        if (prof[Tc - k] < L)
            p.horizon = (double)(k - 1);
    if (isnan(p.horizon)) {
        double lg = log(p.local_gain);
        if (!(lg < 0.0))
            p.horizon = HUGE_VAL;
        else /* first k' > 0 past entry 1 with prof[1] + k' lg < L */
            p.horizon = (double)(Tc - 1) + floor((L - prof[1]) / lg);
    }
    if (cfg_full->head == GS_RNN_HEAD_EACH) {
        p.ratio = p.log10_ratio = DNAN;
    } else if (cfg_full->bptt > 0 && cfg_full->bptt < T) {
        p.ratio = 0.0; /* truncation cuts everything before the window exactly */
        p.log10_ratio = -HUGE_VAL;
    }
    if (!isfinite(p.step_gain) || !isfinite(p.local_gain))
        return gs_error(err, GS_ERR_INVALID,
                        "the predicted gradient ratio is beyond double range (log ratio %g)",
                        log_ratio);
    *out = p;
    return GS_OK;
}

GsStatus gs_theory_rnn_predict(const GsRnnConfig *cfg, double input_second_moment,
                               double spectral_radius, GsRnnPrediction *out, GsError *err)
{
    assert(cfg != NULL && out != NULL);
    double *prof = malloc((T_CAP + 1) * sizeof *prof);
    if (prof == NULL)
        return gs_error(err, GS_ERR_NOMEM, "out of memory predicting a recurrent layer");
    GsStatus st = predict_core(cfg, input_second_moment, spectral_radius, prof, out, err);
    free(prof);
    return st;
}

GsStatus gs_theory_rnn_profile(const GsRnnConfig *cfg, double input_second_moment,
                               double spectral_radius, double *log10_rel, GsError *err)
{
    assert(cfg != NULL && log10_rel != NULL);
    double *prof = malloc((T_CAP + 1) * sizeof *prof);
    if (prof == NULL)
        return gs_error(err, GS_ERR_NOMEM, "out of memory predicting a recurrent layer");
    GsRnnPrediction p;
    GsStatus st = predict_core(cfg, input_second_moment, spectral_radius, prof, &p, err);
    if (st == GS_OK) {
        const size_t T = cfg->seq_len, Tc = T < T_CAP ? T : T_CAP, off = T - Tc;
        const double ln10 = log(10.0), lg = log(p.local_gain);
        for (size_t t = 1; t <= T; t++)
            log10_rel[t - 1] =
                t > off ? prof[t - off] / ln10 : (prof[1] + (double)(off + 1 - t) * lg) / ln10;
    }
    free(prof);
    return st;
}

double gs_theory_rnn_step_gain(const GsRnnConfig *cfg, double input_second_moment, double sigma_max,
                               double spectral_radius)
{
    (void)sigma_max;
    GsRnnPrediction p;
    if (gs_theory_rnn_predict(cfg, input_second_moment, spectral_radius, &p, NULL) != GS_OK)
        return DNAN;
    return p.step_gain;
}
