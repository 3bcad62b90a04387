/* Mean-field signal propagation at step 0 (THEORY.md): pre-activation statistics forward,
 * expected squared act-gradients backward (in logs, so deep nets neither overflow nor
 * underflow), giving the predicted act_grad_norm profile, its regime and its known limits. */
#include "gradscope/theory.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/act.h"
#include "gradscope/init.h"
#include "theory/quad.h"

#define GL_N 20         /* Gauss-Legendre nodes per panel */
#define T_MAX 12.0      /* integrate eps over [-T_MAX, T_MAX]: the tail is below 1e-32 */
#define H_COARSE 0.5    /* panel width in eps units, enough for the Gaussian weight */
#define FINE_REACH 20.0 /* |z| below which an activation may still bend (all kinds) */
#define MAX_PTS 160     /* breakpoints: 49 coarse + 41 fine + the kink, with room */
#define NORM_EPS 1e-5   /* eps of batch and layer norm (DESIGN.md) */
#define PI 3.14159265358979323846

/* Gauss-Legendre nodes and weights on [-1, 1]. */
typedef struct {
    double x[GL_N];
    double w[GL_N];
} GlRule;

/* Newton's method on the Legendre recurrence; 20 nodes cost about a microsecond, so each
 * integration builds its own rule rather than share mutable static state. */
static void gl_rule(GlRule *r)
{
    const int n = GL_N;
    for (int i = 0; i < (n + 1) / 2; i++) {
        double x = cos(PI * (i + 0.75) / (n + 0.5));
        double dp = 1.0;
        for (int it = 0; it < 100; it++) {
            double p0 = 1.0, p1 = x;
            for (int k = 2; k <= n; k++) {
                double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            dp = n * (x * p1 - p0) / (x * x - 1.0);
            double dx = p1 / dp;
            x -= dx;
            if (fabs(dx) < 1e-16)
                break;
        }
        double w = 2.0 / ((1.0 - x * x) * dp * dp);
        r->x[i] = -x;
        r->x[n - 1 - i] = x;
        r->w[i] = w;
        r->w[n - 1 - i] = w;
    }
}

void gs_theory_eps_grid(double *eps, double *w)
{
    GlRule r;
    gl_rule(&r);
    const double norm = 1.0 / sqrt(2.0 * PI), hw = 0.25;
    size_t k = 0;
    for (int p = 0; p < GS_EPS_NODES / GL_N; p++) {
        double c = -8.0 + hw * (2 * p + 1);
        for (int i = 0; i < GL_N; i++, k++) {
            eps[k] = c + hw * r.x[i];
            w[k] = hw * r.w[i] * norm * exp(-0.5 * eps[k] * eps[k]);
        }
    }
}

/* A vector integrand: writes nv values of the function at z. */
typedef void (*Integrand)(double z, const void *ctx, double *vals);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* out[k] = E[f_k(mean + sd * eps)] for k < nv (nv <= 4). Panel edges: a coarse grid in eps,
 * the point t0 where z = 0 (every built-in activation is smooth on each side of it), and when
 * sd is large a grid of width 1/sd (1 in z) over |z| < FINE_REACH, where the activations
 * bend on a scale of 1 in z that a coarse eps grid would step over. */
static void integrate(Integrand f, const void *ctx, size_t nv, double mean, double sd, double *out)
{
    assert(nv <= 4);
    double vals[4];
    if (sd == 0.0) {
        f(mean, ctx, vals);
        for (size_t k = 0; k < nv; k++)
            out[k] = vals[k];
        return;
    }
    double pts[MAX_PTS];
    size_t n = 0;
    for (int k = -24; k <= 24; k++)
        pts[n++] = k * H_COARSE;
    double t0 = -mean / sd;
    if (fabs(t0) < T_MAX)
        pts[n++] = t0;
    double hf = 1.0 / sd;
    if (hf < H_COARSE) {
        int jmax = (int)ceil(FINE_REACH);
        for (int j = -jmax; j <= jmax; j++) {
            double t = t0 + j * hf;
            if (j != 0 && fabs(t) < T_MAX)
                pts[n++] = t;
        }
    }
    assert(n <= MAX_PTS);
    qsort(pts, n, sizeof pts[0], cmp_double);

    GlRule r;
    gl_rule(&r);
    double acc[4] = {0, 0, 0, 0};
    const double norm = 1.0 / sqrt(2.0 * PI);
    for (size_t p = 0; p + 1 < n; p++) {
        double c = 0.5 * (pts[p] + pts[p + 1]), h = 0.5 * (pts[p + 1] - pts[p]);
        if (h <= 0.0)
            continue;
        for (int i = 0; i < GL_N; i++) {
            double t = c + h * r.x[i];
            double wt = h * r.w[i] * norm * exp(-0.5 * t * t);
            f(mean + sd * t, ctx, vals);
            for (size_t k = 0; k < nv; k++)
                acc[k] += wt * vals[k];
        }
    }
    for (size_t k = 0; k < nv; k++)
        out[k] = acc[k];
}

/* Adapts a scalar f for gs_theory_gauss_expect. */
typedef struct {
    double (*f)(double z, const void *ctx);
    const void *ctx;
} ScalarFn;

static void scalar_integrand(double z, const void *ctx, double *vals)
{
    const ScalarFn *s = ctx;
    vals[0] = s->f(z, s->ctx);
}

double gs_theory_gauss_expect(double (*f)(double z, const void *ctx), const void *ctx, double mean,
                              double sd)
{
    assert(f != NULL && sd >= 0.0);
    ScalarFn s = {f, ctx};
    double out;
    integrate(scalar_integrand, &s, 1, mean, sd, &out);
    return out;
}

/* The three moments one layer needs, from one pass over the nodes. */
typedef struct {
    double m1; /* E[phi(z)] */
    double m2; /* E[phi(z)^2] */
    double d2; /* E[phi'(z)^2] */
} Moments;

static void act_integrand(double z, const void *ctx, double *vals)
{
    const GsAct *act = ctx;
    double v = gs_act_value(act, z), d = gs_act_deriv(act, z);
    vals[0] = v;
    vals[1] = v * v;
    vals[2] = d * d;
}

static Moments act_moments(const GsAct *act, double mean, double sd)
{
    double out[3];
    integrate(act_integrand, act, 3, mean, sd, out);
    Moments m = {out[0], out[1], out[2]};
    return m;
}

double gs_theory_bn_factor(const GsAct *act)
{
    assert(act != NULL);
    Moments m = act_moments(act, 0.0, 1.0);
    double var = m.m2 - m.m1 * m.m1;
    return var > 0.0 ? m.d2 / var : HUGE_VAL;
}

const char *gs_regime_name(GsRegime regime)
{
    switch (regime) {
    case GS_REGIME_ORDERED: return "ordered";
    case GS_REGIME_CRITICAL: return "critical";
    case GS_REGIME_CHAOTIC: return "chaotic";
    }
    return "unknown";
}

void gs_prediction_fini(GsPrediction *pred)
{
    if (pred == NULL)
        return;
    free(pred->layers);
    pred->layers = NULL;
    pred->n_layers = 0;
}

/* Statistics of a layer's input vector x, per unit, averaged over units. */
typedef struct {
    double m2;  /* E[x^2]: what a zero-mean weight matrix turns into pre-activation variance */
    double mu;  /* E[x]: needed for the cross term when a residual branch is added */
    double var; /* batch variance per unit: what batch norm divides by */
} Signal;

/* Setup constants of the recursion. */
typedef struct {
    const GsAct *act;
    GsNormKind norm;
    double bias_mean; /* const:C gives every pre-activation the mean C */
    double bias_var;  /* normal:STD gives units a spread STD^2 */
} Ctx;

/* One hidden layer forward: the input x (stats in) goes through a dense layer of weight
 * variance sw2 (sigma_w^2 = fan_in * std^2), the norm and the activation. Sets *out to the
 * output's stats, *q to the second moment of the activation's input, and *a to the local
 * gain G_z / G_h: E[phi'^2], divided by the normalizer's variance when there is a norm
 * (the backward pass of a norm scales by 1/std; its projection removes 2 of B or n
 * directions, negligible at infinite batch and width). */
static void layer_forward(const Ctx *c, Signal in, double sw2, Signal *out, double *q, double *a)
{
    double mean, sd, scale;
    if (c->norm == GS_NORM_NONE) {
        /* z_i = W_i . x + b_i: Gaussian over units and weights with mean C (const bias) and
         * variance sigma_w^2 E[x^2] + STD^2; exact in the mean-field limit. */
        double var = sw2 * in.m2 + c->bias_var;
        mean = c->bias_mean;
        sd = sqrt(var);
        *q = var + mean * mean;
        scale = 1.0;
    } else {
        /* Batch norm divides unit i by its batch std: sigma_w^2 times the input's per-unit
         * batch variance (a bias is constant over the batch and cancels). Layer norm
         * divides a sample by the std of its features: sigma_w^2 E[x^2] plus the spread of
         * normal biases (the feature mean, incl. a const bias, is subtracted). Per sample
         * the backward scale is 1/std^2, so layer 1 really sees E[1/|x|^2], not 1/E|x|^2:
         * ~dim/(dim-2) higher for Gaussian inputs of dimension dim (11% at dim 20). */
        double s2 = c->norm == GS_NORM_BATCH ? sw2 * in.var : sw2 * in.m2 + c->bias_var;
        double uvar = s2 / (s2 + NORM_EPS);
        mean = 0.0;
        sd = sqrt(uvar);
        *q = uvar;
        scale = 1.0 / (s2 + NORM_EPS);
    }
    Moments m = act_moments(c->act, mean, sd);
    *a = m.d2 * scale;
    out->m2 = m.m2;
    out->mu = m.m1;
    /* After batch norm every unit has the same batch mean E[phi(u)], so this is the
     * per-unit batch variance; it is read only when the next layer has batch norm. */
    out->var = m.m2 - m.m1 * m.m1;
    if (out->var < 0.0)
        out->var = 0.0;
}

/* log(x) with log(0) = -Inf and no pole error raised. */
static double safe_log(double x)
{
    return x > 0.0 ? log(x) : -HUGE_VAL;
}

/* log(e^a + e^b) for a, b possibly -Inf. */
static double log_add(double a, double b)
{
    if (a == -HUGE_VAL)
        return b;
    if (b == -HUGE_VAL)
        return a;
    double hi = a > b ? a : b, lo = a > b ? b : a;
    return hi + log1p(exp(lo - hi));
}

/* Appends a sentence to the caveat if it fits whole (no half sentences). */
static void add_caveat(char *buf, size_t size, const char *sentence)
{
    size_t used = strlen(buf), need = strlen(sentence) + (used > 0 ? 1 : 0);
    if (used + need + 1 > size)
        return;
    if (used > 0)
        buf[used++] = ' ';
    memcpy(buf + used, sentence, strlen(sentence) + 1);
}

static int act_is_relu_like(GsActKind k)
{
    return k == GS_ACT_RELU || k == GS_ACT_LEAKY_RELU;
}

static void build_caveat(const GsSpec *spec, double branch_mean_frac, char *buf, size_t size)
{
    char s[300];
    buf[0] = '\0';
    int blocks = spec->residual > 0 ? (spec->depth - 1) / spec->residual : 0;
    if (blocks > 0 && spec->norm == GS_NORM_NONE && branch_mean_frac > 0.01)
        add_caveat(buf, size,
                   "Residual branches without norm add a positive mean to the stream: measured "
                   "growth exceeds this prediction, less so at larger width.");
    if (spec->act.kind == GS_ACT_GELU && spec->depth > 10)
        add_caveat(buf, size,
                   "Deep GELU nets follow the mean-field recursion less closely (non-monotone, "
                   "non-zero-mean activation): expect larger deviations.");
    if (spec->bias_init.kind == GS_BIAS_CONST && spec->bias_init.param != 0.0 &&
        spec->norm != GS_NORM_BATCH)
        add_caveat(buf, size,
                   "Constant bias: pre-activations are modeled as N(C, v), shared mean C; "
                   "q reports their second moment.");
    if (spec->norm == GS_NORM_LAYER)
        add_caveat(buf, size,
                   "Layer norm is treated at infinite width (per-sample feature statistics "
                   "replaced by their expectations).");
    if (spec->norm == GS_NORM_BATCH && spec->batch > 0 && spec->batch < 64) {
        snprintf(s, sizeof s,
                 "Batch norm with batch %ld: finite batch adds about 1.2/B = %.3f to each "
                 "layer's factor.",
                 spec->batch, 1.2 / (double)spec->batch);
        add_caveat(buf, size, s);
    }
    if (spec->norm == GS_NORM_BATCH && !spec->standardize)
        add_caveat(buf, size,
                   "Layer 1 takes the input's mean square as its batch variance (exact for "
                   "standardized inputs).");
    if (spec->width < 64 && spec->depth > 1) {
        int orth_linear = spec->act.kind == GS_ACT_LINEAR && spec->init.kind == GS_INIT_ORTHOGONAL;
        double v = act_is_relu_like(spec->act.kind) ? 5.0 : 2.0;
        if (!orth_linear) {
            snprintf(s, sizeof s,
                     "Finite width %d: expect ln(G_1/G_L) to spread by about sqrt(v (L-1)/n) "
                     "= %.2f (v = %g).",
                     spec->width, sqrt(v * (spec->depth - 1) / spec->width), v);
            add_caveat(buf, size, s);
        }
    }
}

/* Rejects setups the recursion cannot model, naming the value. */
static GsStatus check_inputs(const GsSpec *spec, size_t d_in, double m0, GsError *err)
{
    if (spec->depth < 1)
        return gs_error(err, GS_ERR_INVALID, "depth %d: the theory needs at least 1 hidden layer",
                        spec->depth);
    if (spec->width < 1)
        return gs_error(err, GS_ERR_INVALID, "width %d: must be at least 1", spec->width);
    if (d_in == 0)
        return gs_error(err, GS_ERR_INVALID, "input dimension 0: must be at least 1");
    if (!isfinite(m0) || m0 < 0.0)
        return gs_error(err, GS_ERR_INVALID,
                        "input second moment %g: must be finite and non-negative", m0);
    if ((unsigned)spec->act.kind >= GS_ACT_COUNT || !isfinite(spec->act.param))
        return gs_error(err, GS_ERR_INVALID, "activation kind %d (param %g) is not known",
                        (int)spec->act.kind, spec->act.param);
    if ((unsigned)spec->init.kind >= GS_INIT_COUNT)
        return gs_error(err, GS_ERR_INVALID, "init kind %d is not known", (int)spec->init.kind);
    if ((unsigned)spec->norm > GS_NORM_LAYER)
        return gs_error(err, GS_ERR_INVALID, "norm kind %d is not known", (int)spec->norm);
    if ((unsigned)spec->bias_init.kind > GS_BIAS_NORMAL || !isfinite(spec->bias_init.param))
        return gs_error(err, GS_ERR_INVALID, "bias init kind %d (param %g) is not known",
                        (int)spec->bias_init.kind, spec->bias_init.param);
    if (spec->residual < 0)
        return gs_error(err, GS_ERR_INVALID, "residual %d: must be >= 0", spec->residual);
    if (spec->residual > 0 && !isfinite(spec->res_scale))
        return gs_error(err, GS_ERR_INVALID, "res_scale %g: must be finite", spec->res_scale);
    if (spec->residual > 0 && spec->res_scale == 0.0 && (spec->depth - 1) / spec->residual > 0)
        return gs_error(err, GS_ERR_INVALID,
                        "res_scale 0: no gradient reaches the residual branches (layers 2..%d) "
                        "at initialization, so their relative profile is undefined",
                        1 + ((spec->depth - 1) / spec->residual) * spec->residual);
    return GS_OK;
}

GsStatus gs_theory_predict(const GsSpec *spec, size_t d_in, double input_second_moment,
                           GsPrediction *out, GsError *err)
{
    assert(spec != NULL && out != NULL);
    GsStatus st = check_inputs(spec, d_in, input_second_moment, err);
    if (st != GS_OK)
        return st;

    const int L = spec->depth;
    const size_t width = (size_t)spec->width;
    const int K = spec->residual;
    const int blocks = K > 0 ? (L - 1) / K : 0;
    const double alpha = spec->res_scale;

    double std1 = gs_init_std(&spec->init, d_in, width);
    double stdh = gs_init_std(&spec->init, width, width);
    double sw2_1 = (double)d_in * std1 * std1;
    double sw2_h = (double)width * stdh * stdh;
    if (!isfinite(sw2_1) || !isfinite(sw2_h))
        return gs_error(err, GS_ERR_INVALID, "weight variance of init kind %d is not finite",
                        (int)spec->init.kind);

    Ctx c = {&spec->act, spec->norm, 0.0, 0.0};
    if (spec->bias_init.kind == GS_BIAS_CONST)
        c.bias_mean = spec->bias_init.param;
    else if (spec->bias_init.kind == GS_BIAS_NORMAL)
        c.bias_var = spec->bias_init.param * spec->bias_init.param;

    /* Scratch: per layer the log of the local gain a_l and of G_l (index 1..L). */
    GsPredLayer *layers = calloc((size_t)L, sizeof *layers);
    double *scratch = calloc(2 * ((size_t)L + 1), sizeof *scratch);
    if (layers == NULL || scratch == NULL) {
        free(layers);
        free(scratch);
        return gs_error(err, GS_ERR_NOMEM, "out of memory predicting %d layers", L);
    }
    double *log_a = scratch, *log_g = scratch + L + 1;

    /* Forward. The data's per-feature batch variance is taken as its mean square (equal
     * for standardized inputs). */
    Signal x0 = {input_second_moment, 0.0, input_second_moment};
    Signal h, stream;
    double q, a, branch_mean_frac = 0.0;
    layer_forward(&c, x0, sw2_1, &h, &q, &a);
    layers[0].q = q;
    log_a[1] = safe_log(a);
    stream = h;
    int l = 2;
    for (int b = 0; b < blocks; b++) {
        Signal y = stream;
        for (int k = 0; k < K; k++, l++) {
            layer_forward(&c, y, sw2_h, &y, &q, &a);
            layers[l - 1].q = q;
            log_a[l] = safe_log(a);
        }
        /* h_out = h_in + alpha y: the cross term 2 alpha E[h_in] E[y] is the mean-field
         * value because y's unit i depends on h_in only through its zero-mean weights.
         * Across the batch that term averages out, so batch variances just add. */
        if (y.m2 > 0.0)
            branch_mean_frac = fmax(branch_mean_frac, y.mu * y.mu / y.m2);
        stream.m2 += 2.0 * alpha * stream.mu * y.mu + alpha * alpha * y.m2;
        stream.mu += alpha * y.mu;
        stream.var += alpha * alpha * y.var;
    }
    h = stream;
    for (; l <= L; l++) {
        layer_forward(&c, h, sw2_h, &h, &q, &a);
        layers[l - 1].q = q;
        log_a[l] = safe_log(a);
    }
    for (l = 1; l <= L; l++) {
        if (!isfinite(layers[l - 1].q) || isnan(log_a[l])) {
            st = gs_error(err, GS_ERR_INVALID,
                          "the forward signal overflows at layer %d (pre-activation second "
                          "moment %g): the setup is far outside float range",
                          l, layers[l - 1].q);
            goto fail;
        }
    }

    /* Backward, in logs, with G_{L+1} = 1. A plain layer: G_z = a G_h, and its input gets
     * sigma_w^2 G_z. A block: the branch receives alpha^2 G_out, passes it down its layers
     * the same way, and the skip adds G_out back (independent weights: no cross term). */
    const double log_sw2 = safe_log(sw2_h);
    double log_gh = log_sw2; /* the output layer, treated as width x width */
    l = L;
    while (l >= 1) {
        int bi = (l >= 2 && K > 0) ? (l - 2) / K : blocks;
        if (bi < blocks) {
            int first = 2 + bi * K;
            double g = 2.0 * safe_log(fabs(alpha)) + log_gh;
            for (int j = l; j >= first; j--) {
                log_g[j] = log_a[j] + g;
                g = log_sw2 + log_g[j];
            }
            log_gh = log_add(log_gh, g);
            l = first - 1;
        } else {
            log_g[l] = log_a[l] + log_gh;
            log_gh = log_sw2 + log_g[l];
            l--;
        }
    }

    if (!(log_g[L] > -HUGE_VAL)) {
        st = gs_error(err, GS_ERR_INVALID,
                      "no gradient reaches layer %d at initialization (zero weights or "
                      "derivative), so the relative profile is undefined",
                      L);
        goto fail;
    }
    for (l = 1; l <= L; l++) {
        GsPredLayer *p = &layers[l - 1];
        p->layer = l;
        p->rel_act_grad_norm = exp(0.5 * (log_g[l] - log_g[L]));
        p->chi = exp(log_g[l] - (l < L ? log_g[l + 1] : 0.0));
        if (!isfinite(p->rel_act_grad_norm) || !isfinite(p->chi)) {
            st = gs_error(err, GS_ERR_INVALID,
                          "predicted gradient ratio at layer %d is beyond double range "
                          "(log10 G_%d/G_%d = %.0f)",
                          l, l, L, (log_g[l] - log_g[L]) / log(10.0));
            goto fail;
        }
    }
    free(scratch);

    memset(out, 0, sizeof *out);
    out->n_layers = (size_t)L;
    out->layers = layers;
    out->ratio_first_last = layers[0].rel_act_grad_norm;
    if (out->ratio_first_last < GS_THEORY_ORDERED_BELOW)
        out->regime = GS_REGIME_ORDERED;
    else if (out->ratio_first_last > GS_THEORY_CHAOTIC_ABOVE)
        out->regime = GS_REGIME_CHAOTIC;
    else
        out->regime = GS_REGIME_CRITICAL;
    build_caveat(spec, branch_mean_frac, out->caveat, sizeof out->caveat);
    return GS_OK;

fail:
    free(layers);
    free(scratch);
    return st;
}
