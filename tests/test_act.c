/* Tests of the activation table: float kernels against the libm double references,
 * derivatives against finite differences, NaN/Inf behaviour, parsing and largest slopes. The
 * kernel tests run twice: with fused multiply-adds and with the split ones of CPUs without
 * FMA (loop index 1; nn/vmath.h). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/act.h"
#include "nn/vmath.h"
#include "util/reduce.h"
#include "runner.h"

/* Every kind, and the parametrized ones with a non-default parameter too. */
static const char *const act_texts[] = {
    "linear", "sigmoid", "tanh",    "relu", "leaky_relu", "leaky_relu:0.2", "leaky_relu:0",
    "elu",    "elu:0.5", "elu:1.7", "gelu", "selu",       "softsign",
};
#define N_ACTS (sizeof act_texts / sizeof *act_texts)

static GsAct act_of(const char *text)
{
    GsAct a;
    GsError err;
    GsStatus st = gs_act_parse(text, &a, &err);
    ck_assert_msg(st == GS_OK, "parse '%s': %s", text, err.msg);
    return a;
}

/* The grid of test inputs: [-30, 30] every 1e-3 plus special points. */
static const float special_z[] = {
    0.0f,    -0.0f,    1e-8f,  -1e-8f,       1e-30f,        -1e-30f,  1e-40f,    -1e-40f,
    FLT_MIN, -FLT_MIN, 2e-38f, FLT_TRUE_MIN, -FLT_TRUE_MIN, 0.34657f, -0.34657f, 1e-4f,
    -1e-4f,  0.7f,     -0.7f,  14.4f,        -14.4f,        -13.0f,   -11.0f,    -87.5f,
    -103.0f, -110.0f,  50.0f,  -50.0f,       100.0f,        -100.0f,  1e30f,     -1e30f,
};
#define N_GRID 60001

static size_t make_grid(float *z)
{
    size_t n = 0;
    for (int i = 0; i < N_GRID; i++)
        z[n++] = (float)(-30.0 + 1e-3 * i);
    for (size_t i = 0; i < sizeof special_z / sizeof *special_z; i++)
        z[n++] = special_z[i];
    return n;
}

#define GRID_MAX (N_GRID + sizeof special_z / sizeof *special_z)

/* Forward: relative error <= 5e-7 against the double reference evaluated at the same
 * (float) input wherever |ref| >= 1e-30, absolute error <= 1e-36 below that. The kernels
 * achieve about 3.2e-7 (gelu), 1.9e-7 (sigmoid), 1.6e-7 (tanh, selu) on this grid. */
START_TEST(test_forward_accuracy)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    static float z[GRID_MAX], h[GRID_MAX];
    size_t n = make_grid(z);
    for (size_t k = 0; k < N_ACTS; k++) {
        GsAct a = act_of(act_texts[k]);
        gs_act_forward(&a, h, z, n);
        double worst = 0.0, worst_z = 0.0;
        for (size_t i = 0; i < n; i++) {
            double ref = gs_act_value(&a, z[i]);
            double e = fabs((double)h[i] - ref);
            if (fabs(ref) >= 1e-30) {
                if (e / fabs(ref) > worst) {
                    worst = e / fabs(ref);
                    worst_z = z[i];
                }
            } else if (e > 1e-36) {
                ck_abort_msg("%s(%g) = %g, reference %g", act_texts[k], (double)z[i], (double)h[i],
                             ref);
            }
        }
        ck_assert_msg(worst <= 5e-7, "%s: relative error %g at z = %.9g", act_texts[k], worst,
                      worst_z);
    }
}
END_TEST

/* In place (h == z) gives the same result. */
START_TEST(test_forward_in_place)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    static float z[GRID_MAX], h[GRID_MAX], w[GRID_MAX];
    size_t n = make_grid(z);
    for (size_t k = 0; k < N_ACTS; k++) {
        GsAct a = act_of(act_texts[k]);
        gs_act_forward(&a, h, z, n);
        memcpy(w, z, n * sizeof *w);
        gs_act_forward(&a, w, w, n);
        ck_assert_msg(memcmp(w, h, n * sizeof *w) == 0, "%s in place", act_texts[k]);
    }
}
END_TEST

/* Whether phi has a kink at 0 (finite differences across it are meaningless). */
static int kinked(const GsAct *a)
{
    return a->kind == GS_ACT_RELU || a->kind == GS_ACT_LEAKY_RELU ||
           (a->kind == GS_ACT_ELU && a->param != 1.0) || a->kind == GS_ACT_SELU;
}

/* The double derivative against central differences of the double value:
 * |fd - d| <= 1e-6 |d| + 1e-9 (the floor covers rounding in f(z+s) - f(z-s) ~ 1e-16/s). */
START_TEST(test_deriv_finite_differences)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    for (size_t k = 0; k < N_ACTS; k++) {
        GsAct a = act_of(act_texts[k]);
        for (double z = -30.0; z <= 30.0; z += 0.0137) {
            double s = 1e-5 * fmax(1.0, fabs(z));
            if (kinked(&a) && fabs(z) < 2 * s)
                continue;
            double fd = (gs_act_value(&a, z + s) - gs_act_value(&a, z - s)) / (2 * s);
            double d = gs_act_deriv(&a, z);
            ck_assert_msg(fabs(fd - d) <= 1e-6 * fabs(d) + 1e-9, "%s'(%g) = %.12g, fd %.12g",
                          act_texts[k], z, d, fd);
        }
    }
}
END_TEST

/* The float local derivative against the double one. Bounds: elu, selu, softsign, leaky,
 * relu, linear: relative 1e-6 (achieved <= 2.3e-7); gelu: 1e-6 |d| + 2e-7 (Phi + z phi
 * cancels near its zero at z = -0.75; achieved 1.3e-7 absolute); sigmoid and tanh are
 * computed from the float h (as PyTorch does), so their error is absolute, <= 4e-7
 * (achieved 3.1e-7 for tanh: 2 h dh with dh ~ 1.6e-7). */
START_TEST(test_local_deriv_accuracy)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    static float z[GRID_MAX], h[GRID_MAX], d[GRID_MAX];
    size_t n = make_grid(z);
    for (size_t k = 0; k < N_ACTS; k++) {
        GsAct a = act_of(act_texts[k]);
        gs_act_forward(&a, h, z, n);
        gs_act_local_deriv(&a, d, z, h, n);
        for (size_t i = 0; i < n; i++) {
            double ref = gs_act_deriv(&a, z[i]);
            double e = fabs((double)d[i] - ref), tol;
            switch (a.kind) {
            case GS_ACT_SIGMOID:
            case GS_ACT_TANH: tol = 4e-7; break;
            case GS_ACT_GELU: tol = 1e-6 * fabs(ref) + 2e-7; break;
            default: tol = 1e-6 * fabs(ref) + 1e-37; break;
            }
            if (!(e <= tol)) /* one check per failure only: keeps the test fast */
                ck_abort_msg("%s'(%.9g) = %.9g, reference %.9g", act_texts[k], (double)z[i],
                             (double)d[i], ref);
        }
    }
}
END_TEST

/* backward = dh * local derivative, bit for bit, also in place (dz == dh). */
START_TEST(test_backward_is_product)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    static float z[GRID_MAX], h[GRID_MAX], d[GRID_MAX], dh[GRID_MAX], dz[GRID_MAX];
    size_t n = make_grid(z);
    for (size_t i = 0; i < n; i++)
        dh[i] = (float)(0.5 + 0.25 * sin(0.1 * (double)i));
    for (size_t k = 0; k < N_ACTS; k++) {
        GsAct a = act_of(act_texts[k]);
        gs_act_forward(&a, h, z, n);
        gs_act_local_deriv(&a, d, z, h, n);
        gs_act_backward(&a, dz, dh, z, h, n);
        for (size_t i = 0; i < n; i++) {
            if (!(dz[i] == dh[i] * d[i]) && !isnan(d[i]))
                ck_abort_msg("%s backward at %g", act_texts[k], (double)z[i]);
        }
        float *g = malloc(n * sizeof *g);
        ck_assert_ptr_nonnull(g);
        memcpy(g, dh, n * sizeof *g);
        gs_act_backward(&a, g, g, z, h, n);
        ck_assert_msg(memcmp(g, dz, n * sizeof *g) == 0, "%s backward in place", act_texts[k]);
        free(g);
    }
}
END_TEST

/* Values at -inf and +inf (phi, phi') for act_texts, in order. */
static const struct {
    double lo, hi, dlo, dhi;
} limits[N_ACTS] = {
    {-INFINITY, INFINITY, 1, 1}, /* linear */
    {0, 1, 0, 0},                /* sigmoid */
    {-1, 1, 0, 0},               /* tanh */
    {0, INFINITY, 0, 1},         /* relu */
    {-INFINITY, INFINITY, 0.01, 1},
    {-INFINITY, INFINITY, 0.2, 1},
    {0, INFINITY, 0, 1}, /* leaky_relu:0 */
    {-1, INFINITY, 0, 1},
    {-0.5, INFINITY, 0, 1},
    {-1.7, INFINITY, 0, 1},
    {0, INFINITY, 0, 1},                                                         /* gelu */
    {-1.0507009873554805 * 1.6732632423543772, INFINITY, 0, 1.0507009873554805}, /* selu */
    {-1, 1, 0, 0},                                                               /* softsign */
};

static int same_value(double got, double want)
{
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-30;
}

/* The dense layer's fused passes equal the separate kernels bit for bit, with and without
 * their measurements, for every kind, rows of a multiple of the lane count and not, and
 * special values (NaN, Inf, exact zeros) among the inputs; the measurements equal the
 * separate reductions bit for bit. */
/* Equal floats, or both NaN (a NaN's sign and payload may depend on the vector path). */
static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static int same_array(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i]))
            return 0;
    return 1;
}

START_TEST(test_fused_bias_passes)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    const size_t widths[] = {16, 7, 64};
    const size_t rows = 5;
    for (size_t k = 0; k < N_ACTS; k++)
        for (size_t wi = 0; wi < 3; wi++) {
            GsAct a = act_of(act_texts[k]);
            size_t n = widths[wi], bn = rows * n;
            float z0[5 * 64], b[64], z1[5 * 64], z2[5 * 64], h1[5 * 64], h2[5 * 64], dh[5 * 64];
            for (size_t i = 0; i < bn; i++) {
                z0[i] = (float)(3.0 * sin(0.7 * (double)i + (double)k));
                dh[i] = (float)cos(0.3 * (double)i);
            }
            z0[2] = 0.0f; /* relu and leaky relu kinks; special values */
            z0[n + 1] = NAN;
            z0[bn - 1] = INFINITY;
            z0[bn - 2] = -INFINITY;
            for (size_t j = 0; j < n; j++)
                b[j] = j == 2 ? 0.0f : (float)(0.1 * (double)j - 0.3);
            /* forward: z += b, then phi, against the two separate steps */
            for (int measure = 0; measure < 2; measure++) {
                memcpy(z1, z0, bn * sizeof *z1);
                memcpy(z2, z0, bn * sizeof *z2);
                for (size_t r = 0; r < rows; r++)
                    for (size_t j = 0; j < n; j++)
                        z2[r * n + j] += b[j];
                gs_act_forward(&a, h2, z2, bn);
                GsActOutStats st;
                gs_act_forward_bias(&a, h1, z1, b, rows, n, measure ? &st : NULL);
                ck_assert_msg(same_array(z1, z2, bn), "%s: z", act_texts[k]);
                ck_assert_msg(same_array(h1, h2, bn), "%s: h", act_texts[k]);
                if (measure) {
                    double s, q;
                    gs_sum_sumsq(h2, bn, &s, &q);
                    ck_assert_msg((s == st.sum || (isnan(s) && isnan(st.sum))) &&
                                      (q == st.sumsq || (isnan(q) && isnan(st.sumsq))),
                                  "%s n %zu: sums %.17g %.17g vs %.17g %.17g", act_texts[k], n,
                                  st.sum, st.sumsq, s, q);
                }
            }
            /* backward: dz = dh * phi', db = column sums, against gs_act_backward */
            float dz1[5 * 64], dz2[5 * 64], db1[64], db2[64], alive[64], d[5 * 64];
            gs_act_backward(&a, dz2, dh, z2, h2, bn);
            for (size_t j = 0; j < n; j++) {
                db2[j] = 0.0f;
                for (size_t r = 0; r < rows; r++)
                    db2[j] += dz2[r * n + j];
            }
            for (int measure = 0; measure < 2; measure++) {
                GsActDerivStats st = {0.05f, 1, alive, 0, 0, 0.0};
                gs_act_backward_bias(&a, dz1, dh, z2, h2, db1, rows, n, measure ? &st : NULL);
                ck_assert_msg(same_array(dz1, dz2, bn), "%s: dz", act_texts[k]);
                ck_assert_msg(same_array(db1, db2, n), "%s: db", act_texts[k]);
                if (!measure)
                    continue;
                double q = gs_sumsq(dz2, bn);
                ck_assert(q == st.dz_sumsq || (isnan(q) && isnan(st.dz_sumsq)));
                gs_act_local_deriv(&a, d, z2, h2, bn);
                size_t sat = 0, dead = 0;
                for (size_t i = 0; i < bn; i++)
                    sat += d[i] < 0.05f;
                for (size_t j = 0; j < n; j++) {
                    int zero = 1;
                    for (size_t r = 0; r < rows; r++)
                        zero &= d[r * n + j] == 0.0f;
                    dead += (size_t)zero;
                }
                ck_assert_uint_eq(st.saturated, sat);
                ck_assert_uint_eq(st.dead, dead);
            }
        }
}
END_TEST

START_TEST(test_nonfinite)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    const float in[3] = {NAN, -INFINITY, INFINITY};
    for (size_t k = 0; k < N_ACTS; k++) {
        GsAct a = act_of(act_texts[k]);
        float h[3], d[3], dz[3];
        const float one[3] = {1, 1, 1}, nan_dh[3] = {NAN, NAN, NAN};
        gs_act_forward(&a, h, in, 3);
        ck_assert_msg(isnan(h[0]), "%s(NaN) = %g", act_texts[k], (double)h[0]);
        ck_assert_msg(same_value(h[1], limits[k].lo), "%s(-inf) = %g", act_texts[k], (double)h[1]);
        ck_assert_msg(same_value(h[2], limits[k].hi), "%s(+inf) = %g", act_texts[k], (double)h[2]);
        /* the double references agree */
        ck_assert(isnan(gs_act_value(&a, NAN)));
        ck_assert(same_value(gs_act_value(&a, -INFINITY), limits[k].lo));
        ck_assert(same_value(gs_act_value(&a, INFINITY), limits[k].hi));
        ck_assert(isnan(gs_act_deriv(&a, NAN)));
        ck_assert(same_value(gs_act_deriv(&a, -INFINITY), limits[k].dlo));
        ck_assert(same_value(gs_act_deriv(&a, INFINITY), limits[k].dhi));

        gs_act_local_deriv(&a, d, in, h, 3);
        ck_assert_msg(isnan(d[0]), "%s'(NaN) = %g", act_texts[k], (double)d[0]);
        ck_assert_msg(same_value(d[1], limits[k].dlo), "%s'(-inf) = %g", act_texts[k],
                      (double)d[1]);
        ck_assert_msg(same_value(d[2], limits[k].dhi), "%s'(+inf) = %g", act_texts[k],
                      (double)d[2]);
        gs_act_backward(&a, dz, one, in, h, 3);
        ck_assert_msg(isnan(dz[0]), "%s backward NaN z", act_texts[k]);
        ck_assert(same_value(dz[1], limits[k].dlo) && same_value(dz[2], limits[k].dhi));
        /* NaN upstream gradient stays NaN, even where phi' = 0 (IEEE NaN * 0) */
        gs_act_backward(&a, dz, nan_dh, in, h, 3);
        for (int i = 0; i < 3; i++)
            ck_assert_msg(isnan(dz[i]), "%s backward NaN dh at %d", act_texts[k], i);
        const float zf[3] = {-2.0f, 0.0f, 3.0f};
        gs_act_forward(&a, h, zf, 3);
        gs_act_backward(&a, dz, nan_dh, zf, h, 3);
        for (int i = 0; i < 3; i++)
            ck_assert_msg(isnan(dz[i]), "%s backward NaN dh at z %g", act_texts[k], (double)zf[i]);
    }
}
END_TEST

START_TEST(test_kinks_and_saturation)
{
    gs_vm_force_no_fma(_i); /* both forms of the multiply-adds (nn/vmath.h) */
    GsAct relu = act_of("relu"), leaky = act_of("leaky_relu:0.3");
    const float z0[1] = {0.0f}, h0[1] = {0.0f};
    float d[1];
    ck_assert(gs_act_deriv(&relu, 0.0) == 0.0);
    gs_act_local_deriv(&relu, d, z0, h0, 1);
    ck_assert(d[0] == 0.0f);
    ck_assert(gs_act_deriv(&leaky, 0.0) == 0.3);
    gs_act_local_deriv(&leaky, d, z0, h0, 1);
    ck_assert(d[0] == 0.3f);

    /* tanh(+-50) is exactly +-1, sigmoid(-100) tiny, gelu(-20) zero-ish: no NaN anywhere */
    GsAct t = act_of("tanh"), s = act_of("sigmoid");
    const float big[2] = {50.0f, -50.0f};
    float out[2];
    gs_act_forward(&t, out, big, 2);
    ck_assert(out[0] == 1.0f && out[1] == -1.0f);
    const float m100[1] = {-100.0f};
    gs_act_forward(&s, out, m100, 1);
    ck_assert(out[0] >= 0.0f && out[0] < 1e-40f);

    const struct {
        const char *text;
        int sat;
    } sat[] = {{"sigmoid", 1}, {"tanh", 1},   {"softsign", 1}, {"elu", 1},       {"selu", 1},
               {"gelu", 1},    {"linear", 0}, {"relu", 0},     {"leaky_relu", 0}};
    for (size_t i = 0; i < sizeof sat / sizeof *sat; i++) {
        GsAct a = act_of(sat[i].text);
        ck_assert_int_eq(gs_act_can_saturate(&a), sat[i].sat);
    }
}
END_TEST

/* gs_act_max_deriv against the maximum of gs_act_deriv over a fine grid: equal where the
 * sup is attained, and never below the grid maximum (selu's sup lambda*alpha is only
 * and elu's alpha > 1 are only approached as z -> 0-). */
START_TEST(test_max_deriv)
{
    for (size_t k = 0; k < N_ACTS; k++) {
        GsAct a = act_of(act_texts[k]);
        double m = 0.0;
        for (int i = -80000; i <= 80000; i++) { /* every sup lies in [-8, 8] */
            double d = fabs(gs_act_deriv(&a, 1e-4 * i + 3e-9));
            m = d > m ? d : m;
        }
        double md = gs_act_max_deriv(&a);
        ck_assert_msg(m <= md * (1 + 1e-12), "%s: grid max %.12g > %.12g", act_texts[k], m, md);
        int open_sup = a.kind == GS_ACT_SELU || (a.kind == GS_ACT_ELU && a.param > 1.0);
        double tol = open_sup ? 2e-4 : 1e-8;
        ck_assert_msg(m >= md * (1 - tol), "%s: grid max %.12g < %.12g", act_texts[k], m, md);
    }
    GsAct g = act_of("gelu");
    ck_assert_double_eq_tol(gs_act_max_deriv(&g), 1.1289041451851548, 1e-12);
    GsAct e = act_of("elu:2.5");
    ck_assert(gs_act_max_deriv(&e) == 2.5);
}
END_TEST

START_TEST(test_parse_format)
{
    char buf[64];
    for (int k = 0; k < GS_ACT_COUNT; k++) {
        const char *name = gs_act_name((GsActKind)k);
        ck_assert_ptr_nonnull(name);
        GsAct a = act_of(name);
        ck_assert_int_eq(a.kind, k);
        GsAct b = act_of(gs_act_format(&a, buf, sizeof buf));
        ck_assert_int_eq(b.kind, a.kind);
        ck_assert(b.param == a.param);
    }
    ck_assert_ptr_null(gs_act_name(GS_ACT_COUNT));

    const struct {
        const char *in, *canon;
        double param;
    } cases[] = {
        {"leaky_relu", "leaky_relu:0.01", 0.01},
        {"leaky_relu:0.2", "leaky_relu:0.2", 0.2},
        {"elu", "elu:1", 1.0},
        {"elu:0.5", "elu:0.5", 0.5},
        {"elu:1e-3", "elu:0.001", 1e-3},
        {"leaky_relu:0", "leaky_relu:0", 0.0},
        {"elu:0.1234567", "elu:0.1234567", 0.1234567},
        {"tanh", "tanh", 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        GsAct a = act_of(cases[i].in);
        ck_assert(a.param == cases[i].param);
        ck_assert_str_eq(gs_act_format(&a, buf, sizeof buf), cases[i].canon);
        GsAct b = act_of(buf);
        ck_assert(b.kind == a.kind && b.param == a.param);
    }
}
END_TEST

START_TEST(test_parse_rejects)
{
    const char *bad[] = {
        "tanhh",    "",          "TANH",        "tanh ",          " tanh",
        "tanh:0.5", "relu:",     "leaky_relu:", "leaky_relu:abc", "leaky_relu:0.1x",
        "elu:-1",   "elu:-0.5",  "elu:nan",     "elu:inf",        "elu:1e999",
        "elu: 0.5", "elu:0.5:1", "leaky",       "elu:",           "softsign:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        GsAct a = {GS_ACT_SELU, 42.0};
        GsError err;
        err.msg[0] = '\0';
        GsStatus st = gs_act_parse(bad[i], &a, &err);
        ck_assert_msg(st == GS_ERR_INVALID, "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(err.msg, bad[i]) != NULL, "message for '%s': %s", bad[i], err.msg);
        ck_assert(a.kind == GS_ACT_SELU && a.param == 42.0);
        ck_assert_int_eq(gs_act_parse(bad[i], &a, NULL), GS_ERR_INVALID);
    }
    GsError err;
    GsAct a;
    gs_act_parse("tanhh", &a, &err);
    ck_assert_str_eq(err.msg, "unknown activation 'tanhh' (expected one of: linear, sigmoid, "
                              "tanh, relu, leaky_relu, elu, gelu, selu, softsign)");
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("act");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_forward_accuracy, 0, 2);
    tcase_add_loop_test(tc, test_forward_in_place, 0, 2);
    tcase_add_loop_test(tc, test_deriv_finite_differences, 0, 2);
    tcase_add_loop_test(tc, test_local_deriv_accuracy, 0, 2);
    tcase_add_loop_test(tc, test_backward_is_product, 0, 2);
    tcase_add_loop_test(tc, test_fused_bias_passes, 0, 2);
    tcase_add_loop_test(tc, test_nonfinite, 0, 2);
    tcase_add_loop_test(tc, test_kinks_and_saturation, 0, 2);
    tcase_add_test(tc, test_max_deriv);
    tcase_add_test(tc, test_parse_format);
    tcase_add_test(tc, test_parse_rejects);
    suite_add_tcase(s, tc);
    return s;
}
