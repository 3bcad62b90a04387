/* Tests of weight and bias initialization: moments against the formulas, bounds, gains,
 * orthogonality and the QR sign convention, determinism, parsing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/init.h"
#include "runner.h"

static GsInit init_of(const char *text)
{
    GsInit in;
    GsError err;
    GsStatus st = gs_init_parse(text, &in, &err);
    ck_assert_msg(st == GS_OK, "parse '%s': %s", text, err.msg);
    return in;
}

static float *fill(const char *text, size_t n_out, size_t n_in, uint64_t seed)
{
    GsInit in = init_of(text);
    float *w = malloc(n_out * n_in * sizeof *w);
    ck_assert_ptr_nonnull(w);
    GsRng rng;
    gs_rng_seed(&rng, seed);
    ck_assert_int_eq(gs_init_fill(&in, w, n_out, n_in, &rng), GS_OK);
    return w;
}

/* Expected half-width (uniform schemes) or std (normal ones), written out from the PyTorch
 * formulas independently of init.c. */
static double b_normal(double fi, double fo)
{
    return (void)fi, (void)fo, 0.05;
}
static double b_uniform(double fi, double fo)
{
    return (void)fi, (void)fo, 0.1;
}
static double b_standard(double fi, double fo)
{
    return (void)fo, 1.0 / sqrt(fi);
}
static double b_xavier_u(double fi, double fo)
{
    return sqrt(6.0 / (fi + fo));
}
static double b_xavier_n(double fi, double fo)
{
    return sqrt(2.0 / (fi + fo));
}
static double b_he_u(double fi, double fo)
{
    return (void)fo, sqrt(6.0 / fi);
}
static double b_he_n(double fi, double fo)
{
    return (void)fo, sqrt(2.0 / fi);
}
static double b_lecun_u(double fi, double fo)
{
    return (void)fo, sqrt(3.0 / fi);
}
static double b_lecun_n(double fi, double fo)
{
    return (void)fo, sqrt(1.0 / fi);
}
static double b_he_n_half(double fi, double fo)
{
    return (void)fo, 0.5 * sqrt(2.0 / fi);
}
static double b_xavier_u_g(double fi, double fo)
{
    return 1.6667 * sqrt(6.0 / (fi + fo));
}

static const struct {
    const char *text;
    int uniform;
    double (*bound)(double fi, double fo);
} schemes[] = {
    {"normal:0.05", 0, b_normal},
    {"uniform:0.1", 1, b_uniform},
    {"standard", 1, b_standard},
    {"xavier_uniform", 1, b_xavier_u},
    {"xavier_normal", 0, b_xavier_n},
    {"he_uniform", 1, b_he_u},
    {"he_normal", 0, b_he_n},
    {"lecun_uniform", 1, b_lecun_u},
    {"lecun_normal", 0, b_lecun_n},
    {"he_normal*0.5", 0, b_he_n_half},
    {"xavier_uniform*1.6667", 1, b_xavier_u_g},
};
#define N_SCHEMES (sizeof schemes / sizeof *schemes)

/* Empirical mean within 5 standard errors of 0, variance within 5 standard errors of the
 * formula (SE of a sample variance: sigma^2 sqrt(2/N) for a normal, sigma^2 sqrt(0.8/N)
 * for a uniform), over a 512 x 256 and a 300 x 700 layer. */
START_TEST(test_moments)
{
    const size_t shapes[2][2] = {{512, 256}, {300, 700}}; /* n_out, n_in */
    for (size_t s = 0; s < 2; s++) {
        const size_t n_out = shapes[s][0], n_in = shapes[s][1], n = n_out * n_in;
        for (size_t k = 0; k < N_SCHEMES; k++) {
            float *w = fill(schemes[k].text, n_out, n_in, 11 + k);
            double sum = 0.0, sq = 0.0, maxabs = 0.0;
            for (size_t i = 0; i < n; i++) {
                sum += (double)w[i];
                sq += (double)w[i] * (double)w[i];
                maxabs = fmax(maxabs, fabs(w[i]));
            }
            double mean = sum / (double)n, var = sq / (double)n - mean * mean;
            double b = schemes[k].bound((double)n_in, (double)n_out);
            double sd = schemes[k].uniform ? b / sqrt(3.0) : b;
            GsInit in = init_of(schemes[k].text);
            ck_assert_msg(fabs(gs_init_std(&in, n_in, n_out) - sd) <= 1e-12 * sd,
                          "%s: gs_init_std %g, formula %g", schemes[k].text,
                          gs_init_std(&in, n_in, n_out), sd);
            double se_mean = sd / sqrt((double)n);
            double se_var = sd * sd * sqrt((schemes[k].uniform ? 0.8 : 2.0) / (double)n);
            ck_assert_msg(fabs(mean) <= 5 * se_mean, "%s: mean %g", schemes[k].text, mean);
            ck_assert_msg(fabs(var - sd * sd) <= 5 * se_var, "%s: var %g, expected %g",
                          schemes[k].text, var, sd * sd);
            if (schemes[k].uniform) {
                ck_assert_msg(maxabs <= (double)(float)b, "%s: |w| %g > %g", schemes[k].text,
                              maxabs, b);
                ck_assert(maxabs >= 0.999 * b); /* and it fills the interval */
            } else {
                ck_assert(maxabs > 3.5 * sd); /* a normal has tails beyond the uniform's */
            }
            free(w);
        }
    }
}
END_TEST

/* The gain multiplies each entry of the same draw. */
START_TEST(test_gain)
{
    const char *pairs[][2] = {{"he_normal", "he_normal*0.5"},
                              {"lecun_uniform", "lecun_uniform*3"},
                              {"normal:0.2", "normal:0.2*0.25"},
                              {"orthogonal", "orthogonal:1.5"}};
    const double g[] = {0.5, 3.0, 0.25, 1.5};
    for (size_t p = 0; p < 4; p++) {
        float *a = fill(pairs[p][0], 40, 30, 5), *b = fill(pairs[p][1], 40, 30, 5);
        for (size_t i = 0; i < 40 * 30; i++)
            ck_assert_msg(fabs((double)b[i] - g[p] * (double)a[i]) <=
                              1e-6 * fabs((double)b[i]) + 1e-30,
                          "%s [%zu]", pairs[p][1], i);
        GsInit ia = init_of(pairs[p][0]), ib = init_of(pairs[p][1]);
        ck_assert_double_eq_tol(gs_init_std(&ib, 30, 40), g[p] * gs_init_std(&ia, 30, 40), 1e-15);
        free(a);
        free(b);
    }
}
END_TEST

/* W W^T = g^2 I (n_out <= n_in) or W^T W = g^2 I, to 1e-5; the entry RMS is gs_init_std;
 * and W is the Q of A = QR with diag R > 0, A the Gaussian matrix drawn from the same seed
 * (PyTorch's sign convention): Q^T A is upper triangular with a positive diagonal. */
START_TEST(test_orthogonal)
{
    const size_t shapes[][2] = {{128, 128}, {64, 200}, {200, 64}, {1, 10}, {10, 1}};
    const char *texts[] = {"orthogonal", "orthogonal:1.5", "orthogonal*0.5"};
    const double gains[] = {1.0, 1.5, 0.5};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        for (size_t t = 0; t < 3; t++) {
            const size_t n_out = shapes[s][0], n_in = shapes[s][1];
            const int rows = n_out <= n_in;
            const size_t k = rows ? n_out : n_in, m = rows ? n_in : n_out;
            float *w = fill(texts[t], n_out, n_in, 99);
            /* vector j, entry i (rows of W, or columns) */
#define V(mat, j, i) (rows ? (mat)[(j)*n_in + (i)] : (mat)[(i)*n_in + (j)])
            double g2 = gains[t] * gains[t], sq = 0.0;
            for (size_t a = 0; a < k; a++) {
                for (size_t b = 0; b < k; b++) {
                    double d = 0.0;
                    for (size_t i = 0; i < m; i++)
                        d += (double)V(w, a, i) * (double)V(w, b, i);
                    ck_assert_msg(fabs(d - (a == b ? g2 : 0.0)) <= 1e-5, "%zux%zu %s: (%zu,%zu) %g",
                                  n_out, n_in, texts[t], a, b, d);
                }
            }
            for (size_t i = 0; i < n_out * n_in; i++)
                sq += (double)w[i] * (double)w[i];
            GsInit in = init_of(texts[t]);
            double rms = sqrt(sq / (double)(n_out * n_in)), want = gs_init_std(&in, n_in, n_out);
            ck_assert_double_eq_tol(rms, want, 1e-6 * want);
            ck_assert_double_eq_tol(want, gains[t] / sqrt((double)m), 1e-15);

            /* the Gaussian draw: row-major n_out x n_in from the same seed */
            double *A = malloc(n_out * n_in * sizeof *A);
            ck_assert_ptr_nonnull(A);
            GsRng rng;
            gs_rng_seed(&rng, 99);
            for (size_t i = 0; i < n_out * n_in; i++)
                A[i] = gs_rng_normal(&rng);
            for (size_t a = 0; a < k; a++) {
                double anorm = 0.0;
                for (size_t i = 0; i < m; i++)
                    anorm += V(A, a, i) * V(A, a, i);
                anorm = sqrt(anorm);
                for (size_t b = 0; b <= a; b++) { /* (Q^T A)_{b a}, upper part incl. diag */
                    double r = 0.0;
                    for (size_t i = 0; i < m; i++)
                        r += (double)V(w, b, i) * V(A, a, i);
                    if (b == a)
                        ck_assert_msg(r > 0.0, "%s: R diag %zu = %g", texts[t], a, r);
                }
                for (size_t b = a + 1; b < k; b++) { /* below the diagonal: 0 */
                    double r = 0.0;
                    for (size_t i = 0; i < m; i++)
                        r += (double)V(w, b, i) * V(A, a, i);
                    ck_assert_msg(fabs(r) <= 1e-5 * anorm * gains[t], "%s: R(%zu,%zu) = %g",
                                  texts[t], b, a, r);
                }
            }
#undef V
            free(A);
            free(w);
        }
    }
}
END_TEST

START_TEST(test_determinism)
{
    const char *all[] = {"normal:0.05",   "uniform:0.1", "standard",     "xavier_uniform",
                         "xavier_normal", "he_uniform",  "he_normal",    "lecun_uniform",
                         "lecun_normal",  "orthogonal",  "orthogonal:2", "he_uniform*0.7"};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
        float *a = fill(all[k], 33, 17, 1234), *b = fill(all[k], 33, 17, 1234);
        float *c = fill(all[k], 33, 17, 1235);
        ck_assert_msg(memcmp(a, b, 33 * 17 * sizeof *a) == 0, "%s not deterministic", all[k]);
        ck_assert_msg(memcmp(a, c, 33 * 17 * sizeof *a) != 0, "%s ignores the seed", all[k]);
        free(a);
        free(b);
        free(c);
    }
}
END_TEST

START_TEST(test_parse_format)
{
    const struct {
        const char *in, *canon;
        GsInitKind kind;
        double param, gain;
    } cases[] = {
        {"normal:0.05", "normal:0.05", GS_INIT_NORMAL, 0.05, 1.0},
        {"uniform:0.1", "uniform:0.1", GS_INIT_UNIFORM, 0.1, 1.0},
        {"normal:1e-2*2", "normal:0.01*2", GS_INIT_NORMAL, 0.01, 2.0},
        {"standard", "standard", GS_INIT_STANDARD, 0.0, 1.0},
        {"xavier_uniform", "xavier_uniform", GS_INIT_XAVIER_UNIFORM, 0.0, 1.0},
        {"xavier_normal", "xavier_normal", GS_INIT_XAVIER_NORMAL, 0.0, 1.0},
        {"he_uniform", "he_uniform", GS_INIT_HE_UNIFORM, 0.0, 1.0},
        {"he_normal", "he_normal", GS_INIT_HE_NORMAL, 0.0, 1.0},
        {"lecun_uniform", "lecun_uniform", GS_INIT_LECUN_UNIFORM, 0.0, 1.0},
        {"lecun_normal", "lecun_normal", GS_INIT_LECUN_NORMAL, 0.0, 1.0},
        {"orthogonal", "orthogonal", GS_INIT_ORTHOGONAL, 0.0, 1.0},
        {"orthogonal:1.2", "orthogonal:1.2", GS_INIT_ORTHOGONAL, 0.0, 1.2},
        {"orthogonal*0.5", "orthogonal:0.5", GS_INIT_ORTHOGONAL, 0.0, 0.5},
        {"he_normal*0.5", "he_normal*0.5", GS_INIT_HE_NORMAL, 0.0, 0.5},
        {"xavier_uniform*1.6667", "xavier_uniform*1.6667", GS_INIT_XAVIER_UNIFORM, 0.0, 1.6667},
        {"he_normal*1", "he_normal", GS_INIT_HE_NORMAL, 0.0, 1.0},
    };
    char buf[128];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        GsInit a = init_of(cases[i].in);
        ck_assert_int_eq(a.kind, cases[i].kind);
        ck_assert(a.param == cases[i].param && a.gain == cases[i].gain);
        ck_assert_str_eq(gs_init_format(&a, buf, sizeof buf), cases[i].canon);
        GsInit b = init_of(buf);
        ck_assert(b.kind == a.kind && b.param == a.param && b.gain == a.gain);
    }
}
END_TEST

START_TEST(test_parse_rejects)
{
    const char *bad[] = {
        "kaiming",        "",
        "normal",         "uniform",
        "normal:",        "normal:0",
        "normal:-1",      "uniform:abc",
        "normal:0.1x",    "normal:nan",
        "uniform:inf",    "he_normal:2",
        "he_normal*",     "he_normal*x",
        "he_normal*-1",   "he_normal*0",
        "orthogonal:0",   "orthogonal:-1",
        "orthogonal:1*2", "Xavier_normal",
        "xavier_normal ", "*2",
        "he_normal*2*3",  "normal: 0.1",
        "normal:1e999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        GsInit a = {GS_INIT_LECUN_NORMAL, 7.0, 3.0};
        GsError err;
        err.msg[0] = '\0';
        ck_assert_msg(gs_init_parse(bad[i], &a, &err) == GS_ERR_INVALID, "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(err.msg, bad[i]) != NULL, "message for '%s': %s", bad[i], err.msg);
        ck_assert(a.kind == GS_INIT_LECUN_NORMAL && a.param == 7.0 && a.gain == 3.0);
    }
}
END_TEST

START_TEST(test_bias)
{
    const struct {
        const char *in, *canon;
        GsBiasKind kind;
        double param;
    } cases[] = {
        {"zero", "zero", GS_BIAS_ZERO, 0.0},
        {"const:0.1", "const:0.1", GS_BIAS_CONST, 0.1},
        {"const:-2.5", "const:-2.5", GS_BIAS_CONST, -2.5},
        {"const:0", "const:0", GS_BIAS_CONST, 0.0},
        {"normal:0.01", "normal:0.01", GS_BIAS_NORMAL, 0.01},
    };
    char buf[64];
    enum { N = 100000 };
    float *b = malloc(N * sizeof *b);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        GsBiasInit bi;
        GsError err;
        ck_assert_int_eq(gs_bias_init_parse(cases[i].in, &bi, &err), GS_OK);
        ck_assert_int_eq(bi.kind, cases[i].kind);
        ck_assert(bi.param == cases[i].param);
        ck_assert_str_eq(gs_bias_init_format(&bi, buf, sizeof buf), cases[i].canon);
        GsRng rng;
        gs_rng_seed(&rng, 3);
        gs_bias_init_fill(&bi, b, N, &rng);
        if (bi.kind == GS_BIAS_NORMAL) {
            double s = 0.0, sq = 0.0;
            for (size_t j = 0; j < N; j++) {
                s += (double)b[j];
                sq += (double)b[j] * (double)b[j];
            }
            double sd = bi.param, mean = s / N, var = sq / N - mean * mean;
            ck_assert(fabs(mean) <= 5 * sd / sqrt((double)N));
            ck_assert(fabs(var - sd * sd) <= 5 * sd * sd * sqrt(2.0 / N));
        } else {
            for (size_t j = 0; j < N; j++)
                ck_assert_msg(b[j] == (float)cases[i].param, "%s [%zu] = %g", cases[i].in, j,
                              (double)b[j]);
        }
    }
    free(b);

    const char *bad[] = {"zeros",    "const",     "const:",      "const:abc", "const:inf",
                         "normal:0", "normal:-1", "zero:1",      "normal",    "uniform:0.1",
                         "const: 1", "",          "normal:1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        GsBiasInit bi = {GS_BIAS_CONST, 9.0};
        GsError err;
        err.msg[0] = '\0';
        ck_assert_msg(gs_bias_init_parse(bad[i], &bi, &err) == GS_ERR_INVALID, "'%s' accepted",
                      bad[i]);
        ck_assert_msg(strstr(err.msg, bad[i]) != NULL, "message for '%s': %s", bad[i], err.msg);
        ck_assert(bi.kind == GS_BIAS_CONST && bi.param == 9.0);
    }
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("init");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_moments);
    tcase_add_test(tc, test_gain);
    tcase_add_test(tc, test_orthogonal);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_parse_format);
    tcase_add_test(tc, test_parse_rejects);
    tcase_add_test(tc, test_bias);
    suite_add_tcase(s, tc);
    return s;
}
