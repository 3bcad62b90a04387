/* Tests of the fixed-bin histograms (hist.h), the trace's histogram store and its side file. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradscope/hist.h"
#include "gradscope/npy.h"
#include "gradscope/rng.h"
#include "gradscope/run.h"
#include "gradscope/spec.h"
#include "gradscope/trace.h"
#include "runner.h"

/* The bin of one value, through gs_hist_add. */
static int bin_of(float v, double range, int lin)
{
    float b[GS_HIST_NB] = {0};
    gs_hist_add(b, &v, 1, range);
    int found = -1, n = 0;
    int lo = lin ? GS_HIST_LIN0 : 0, hi = lin ? GS_HIST_NB : GS_HIST_LIN0;
    for (int k = lo; k < hi; k++) {
        if (b[k] != 0.0f) {
            ck_assert_float_eq(b[k], 1.0f);
            found = k;
            n++;
        }
    }
    ck_assert_int_le(n, 1);
    return found;
}

/* Reference bin by double comparisons with the published edges. */
static double edges[GS_HIST_NLOG + 1];
static int ref_bin(float v)
{
    if (edges[1] == 0.0)
        for (size_t j = 0; j <= GS_HIST_NLOG; j++)
            edges[j] = gs_hist_log_edge(j);
    if (v == 0.0f)
        return GS_HIST_ZERO;
    if (isnan(v))
        return GS_HIST_NAN;
    if (isinf(v))
        return v > 0 ? GS_HIST_PINF : GS_HIST_NINF;
    double a = fabs((double)v);
    int j = 0;
    while (j + 1 < GS_HIST_NLOG && a >= edges[j + 1])
        j++;
    return GS_HIST_LOG0 + j;
}

START_TEST(test_log_edges)
{
    for (int d = -30; d <= 10; d++) {
        char buf[16];
        snprintf(buf, sizeof buf, "1e%d", d);
        ck_assert(gs_hist_log_edge((size_t)(4 * (d + 30))) == strtod(buf, NULL));
    }
    for (size_t j = 0; j <= GS_HIST_NLOG; j++) {
        double want = pow(10.0, -30.0 + 0.25 * (double)j);
        ck_assert_double_le(fabs(gs_hist_log_edge(j) - want), 4e-16 * want);
        if (j)
            ck_assert_double_lt(gs_hist_log_edge(j - 1), gs_hist_log_edge(j));
    }
    ck_assert_double_eq(gs_hist_lin_edge(0, 4.0), -4.0);
    ck_assert_double_eq(gs_hist_lin_edge(32, 4.0), 0.0);
    ck_assert_double_eq(gs_hist_lin_edge(64, 1.0), 1.0);
    ck_assert_double_eq(gs_hist_lin_edge(33, 1.0), 1.0 / 32.0);
}
END_TEST

/* Exactly at every edge: the smallest float at or above 10^(-30 + j/4) opens bin j, the float
 * just below it is in bin j - 1, for either sign. */
START_TEST(test_log_bins_at_edges)
{
    for (size_t j = 1; j < GS_HIST_NLOG; j++) {
        double e = gs_hist_log_edge(j);
        float f = (float)e;
        if ((double)f < e)
            f = nextafterf(f, INFINITY);
        float below = nextafterf(f, 0.0f);
        ck_assert((double)f >= e && (double)below < e);
        ck_assert_int_eq(bin_of(f, 0, 0), GS_HIST_LOG0 + (int)j);
        ck_assert_int_eq(bin_of(-f, 0, 0), GS_HIST_LOG0 + (int)j);
        ck_assert_int_eq(bin_of(below, 0, 0), GS_HIST_LOG0 + (int)j - 1);
        ck_assert_int_eq(bin_of(-below, 0, 0), GS_HIST_LOG0 + (int)j - 1);
    }
    ck_assert_int_eq(bin_of(1.0f, 0, 0), GS_HIST_LOG0 + 120);
    ck_assert_int_eq(bin_of(0.99999994f, 0, 0), GS_HIST_LOG0 + 119);
    ck_assert_int_eq(bin_of(1.7782794f, 0, 0), GS_HIST_LOG0 + 121); /* 10^0.25 = 1.77827941.. */
    ck_assert_int_eq(bin_of(1.7782793f, 0, 0), GS_HIST_LOG0 + 120);
}
END_TEST

START_TEST(test_special_values)
{
    ck_assert_int_eq(bin_of(0.0f, 0, 0), GS_HIST_ZERO);
    ck_assert_int_eq(bin_of(-0.0f, 0, 0), GS_HIST_ZERO);
    ck_assert_int_eq(bin_of(NAN, 0, 0), GS_HIST_NAN);
    ck_assert_int_eq(bin_of(-NAN, 0, 0), GS_HIST_NAN);
    uint32_t snan = UINT32_C(0x7F800001), nan_max = UINT32_C(0xFFFFFFFF);
    float f;
    memcpy(&f, &snan, sizeof f);
    ck_assert_int_eq(bin_of(f, 0, 0), GS_HIST_NAN);
    memcpy(&f, &nan_max, sizeof f);
    ck_assert_int_eq(bin_of(f, 0, 0), GS_HIST_NAN);
    ck_assert_int_eq(bin_of(INFINITY, 0, 0), GS_HIST_PINF);
    ck_assert_int_eq(bin_of(-INFINITY, 0, 0), GS_HIST_NINF);
    /* denormals and everything nonzero below 1e-30: the first log bin */
    ck_assert_int_eq(bin_of(FLT_TRUE_MIN, 0, 0), GS_HIST_LOG0);
    ck_assert_int_eq(bin_of(-1e-40f, 0, 0), GS_HIST_LOG0);
    ck_assert_int_eq(bin_of(FLT_MIN, 0, 0), GS_HIST_LOG0);
    ck_assert_int_eq(bin_of(9e-31f, 0, 0), GS_HIST_LOG0);
    ck_assert_int_eq(bin_of(1e-30f, 0, 0), GS_HIST_LOG0);
    ck_assert_int_eq(bin_of(1.8e-30f, 0, 0), GS_HIST_LOG0 + 1);
    /* finite values at or beyond 1e10: the last log bin */
    ck_assert_int_eq(bin_of(9.9e9f, 0, 0), GS_HIST_LOG0 + GS_HIST_NLOG - 1);
    ck_assert_int_eq(bin_of(1e10f, 0, 0), GS_HIST_LOG0 + GS_HIST_NLOG - 1);
    ck_assert_int_eq(bin_of(-FLT_MAX, 0, 0), GS_HIST_LOG0 + GS_HIST_NLOG - 1);
    ck_assert_int_eq(bin_of(5e9f, 0, 0), GS_HIST_LOG0 + GS_HIST_NLOG - 2);
    /* a mixed tensor, with the counts of each bin */
    float x[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, -INFINITY, 1e-45f, 3.0f, -3.0f, 1e30f};
    float b[GS_HIST_NB] = {0};
    gs_hist_add(b, x, sizeof x / sizeof x[0], 0.0);
    ck_assert_float_eq(b[GS_HIST_ZERO], 2.0f);
    ck_assert_float_eq(b[GS_HIST_NAN], 1.0f);
    ck_assert_float_eq(b[GS_HIST_PINF], 1.0f);
    ck_assert_float_eq(b[GS_HIST_NINF], 2.0f);
    ck_assert_float_eq(b[GS_HIST_LOG0], 1.0f);
    ck_assert_float_eq(b[GS_HIST_LOG0 + 121], 2.0f); /* 10^0.25 <= 3 < 10^0.5 */
    ck_assert_float_eq(b[GS_HIST_LOG0 + GS_HIST_NLOG - 1], 1.0f);
    for (int k = GS_HIST_LIN0; k < GS_HIST_NB; k++)
        ck_assert_float_eq(b[k], 0.0f); /* no range: no linear counts */
}
END_TEST

/* Random bit patterns (every exponent, NaN and Inf included) against the double reference;
 * counts add up across calls, in one call of many values. */
START_TEST(test_random_against_reference)
{
    enum { N = 200003 };
    float *x = malloc(N * sizeof *x);
    ck_assert_ptr_nonnull(x);
    uint64_t s = 0x9E3779B97F4A7C15u;
    float want[GS_HIST_NB] = {0};
    for (size_t i = 0; i < N; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = (uint32_t)(s >> 32);
        memcpy(&x[i], &u, sizeof u);
        want[ref_bin(x[i])] += 1.0f;
    }
    float b[GS_HIST_NB] = {0};
    gs_hist_add(b, x, N / 2, 0.0);
    gs_hist_add(b, x + N / 2, N - N / 2, 0.0);
    for (int k = 0; k < GS_HIST_LIN0; k++)
        ck_assert_msg(b[k] == want[k], "bin %d: %g, want %g", k, (double)b[k], (double)want[k]);
    /* and one bin per value */
    for (size_t i = 0; i < 2000; i++)
        ck_assert_int_eq(bin_of(x[i], 0, 0), ref_bin(x[i]));
    free(x);
}
END_TEST

/* Counts of x[0..n) with the vector kernel of one level. */
static void hist_at(int isa, float *b, const float *x, size_t n, double range)
{
    gs_hist_use_isa(isa);
    memset(b, 0, GS_HIST_NB * sizeof *b);
    gs_hist_add(b, x, n, range);
    gs_hist_use_isa(-1);
}

/* Every kernel (portable table, AVX2, AVX-512: each where the CPU has it) gives the same
 * counts as the table: on all floats near each log edge and each linear edge (both signs),
 * random bit patterns, and a strided walk over all magnitudes; with GS_TEST_EXHAUSTIVE=1 over
 * every one of the 2^31 magnitudes (about a minute). */
START_TEST(test_kernels_agree)
{
    enum { CH = 1 << 16 };
    float *x = malloc(CH * sizeof *x);
    ck_assert_ptr_nonnull(x);
    const double ranges[] = {0.0, 1.0, 4.0, 3.0};
    int top = gs_hist_use_isa(-1);
    size_t n = 0;
    /* 64 floats either side of every log edge and of every linear edge of ranges 1 and 4 */
    for (size_t j = 0; j <= GS_HIST_NLOG; j++) {
        float f = (float)gs_hist_log_edge(j);
        for (int d = -64; d < 64; d++) {
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            u = (uint32_t)((int64_t)u + d);
            memcpy(&x[n], &u, sizeof u);
            x[n + 1] = -x[n];
            n += 2;
        }
    }
    for (size_t j = 0; j <= GS_HIST_NLIN; j++)
        for (int r = 0; r < 2; r++) {
            float f = (float)gs_hist_lin_edge(j, r ? 4.0 : 1.0);
            x[n++] = f;
            x[n++] = nextafterf(f, -INFINITY);
            x[n++] = nextafterf(f, INFINITY);
        }
    uint64_t s = 0x2545F4914F6CDD1Du;
    while (n < CH) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = (uint32_t)(s >> 32);
        memcpy(&x[n++], &u, sizeof u);
    }
    for (size_t ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
        float want[GS_HIST_NB], got[GS_HIST_NB];
        hist_at(0, want, x, CH, ranges[ri]);
        for (int isa = 1; isa <= top; isa++) {
            hist_at(isa, got, x, CH, ranges[ri]);
            for (int k = 0; k < GS_HIST_NB; k++)
                ck_assert_msg(got[k] == want[k], "level %d, range %g, bin %d: %g, want %g", isa,
                              ranges[ri], k, (double)got[k], (double)want[k]);
        }
    }
    /* all magnitudes (strided unless exhaustive), with the range-1 linear bins */
    const char *ex = getenv("GS_TEST_EXHAUSTIVE");
    uint32_t stride = ex && !strcmp(ex, "1") ? 1u : 97u;
    for (uint64_t base = 0; base < UINT64_C(0x80000000); base += (uint64_t)CH * stride) {
        size_t m = 0;
        for (; m < CH && base + (uint64_t)m * stride < UINT64_C(0x80000000); m++) {
            uint32_t u = (uint32_t)(base + (uint64_t)m * stride);
            memcpy(&x[m], &u, sizeof u);
        }
        float want[GS_HIST_NB], got[GS_HIST_NB];
        hist_at(0, want, x, m, 1.0);
        for (int isa = 1; isa <= top; isa++) {
            hist_at(isa, got, x, m, 1.0);
            ck_assert_msg(!memcmp(got, want, sizeof got), "level %d differs from bits %#llx on",
                          isa, (unsigned long long)base);
        }
    }
    free(x);
}
END_TEST

/* A histogram counted in pieces (the update pass's blocks) equals the one-pass count. */
START_TEST(test_acc_pieces)
{
    enum { N = 5000 };
    float *x = malloc(N * sizeof *x);
    ck_assert_ptr_nonnull(x);
    GsRng r;
    gs_rng_seed(&r, 7);
    for (size_t i = 0; i < N; i++)
        x[i] = (float)(gs_rng_normal(&r) * pow(10.0, 8.0 * gs_rng_uniform(&r) - 6.0));
    x[11] = -INFINITY, x[12] = INFINITY, x[13] = NAN, x[14] = 0.0f, x[4000] = -INFINITY;
    float one[GS_HIST_NB] = {0}, parts[GS_HIST_NB] = {0};
    gs_hist_add(one, x, N, 4.0);
    GsHistAcc a;
    gs_hist_acc_init(&a, 4.0);
    for (size_t at = 0, len = 1; at < N; at += len, len = len * 3 + 1)
        gs_hist_acc_add(&a, x + at, at + len <= N ? len : N - at);
    gs_hist_acc_flush(&a, parts);
    for (int k = 0; k < GS_HIST_NB; k++)
        ck_assert_msg(one[k] == parts[k], "bin %d: %g, want %g", k, (double)parts[k],
                      (double)one[k]);
    ck_assert_float_eq(one[GS_HIST_NINF], 2.0f);
    ck_assert_float_eq(one[GS_HIST_PINF], 1.0f);
    free(x);
}
END_TEST

START_TEST(test_linear_bins)
{
    const double A = 1.0;
    ck_assert_int_eq(bin_of(-1.0f, A, 1), GS_HIST_LIN0);
    ck_assert_int_eq(bin_of(-7.0f, A, 1), GS_HIST_LIN0);     /* clamped */
    ck_assert_int_eq(bin_of(1.0f, A, 1), GS_HIST_NB - 1);    /* the top edge: last bin */
    ck_assert_int_eq(bin_of(FLT_MAX, A, 1), GS_HIST_NB - 1); /* clamped */
    ck_assert_int_eq(bin_of(0.0f, A, 1), GS_HIST_LIN0 + 32);
    ck_assert_int_eq(bin_of(-0.0f, A, 1), GS_HIST_LIN0 + 32);
    ck_assert_int_eq(bin_of(-1e-30f, A, 1), GS_HIST_LIN0 + 31);
    ck_assert_int_eq(bin_of(-FLT_TRUE_MIN, A, 1), GS_HIST_LIN0 + 31);
    ck_assert_int_eq(bin_of(1.0f / 32, A, 1), GS_HIST_LIN0 + 33);
    ck_assert_int_eq(bin_of(nextafterf(1.0f / 32, 0), A, 1), GS_HIST_LIN0 + 32);
    ck_assert_int_eq(bin_of(-0.96875f, A, 1), GS_HIST_LIN0 + 1); /* -1 + 1/32 */
    ck_assert_int_eq(bin_of(0.99f, A, 1), GS_HIST_NB - 1);
    ck_assert_int_eq(bin_of(0.125f, 4.0, 1), GS_HIST_LIN0 + 33);
    ck_assert_int_eq(bin_of(3.9f, 4.0, 1), GS_HIST_NB - 1);
    ck_assert_int_eq(bin_of(-2.0f, 4.0, 1), GS_HIST_LIN0 + 16);
    /* every edge j of range 4 opens bin j */
    for (size_t j = 0; j < GS_HIST_NLIN; j++)
        ck_assert_int_eq(bin_of((float)gs_hist_lin_edge(j, 4.0), 4.0, 1), GS_HIST_LIN0 + (int)j);
    /* NaN and Inf are not in the linear part; everything finite is */
    ck_assert_int_eq(bin_of(NAN, A, 1), -1);
    ck_assert_int_eq(bin_of(INFINITY, A, 1), -1);
    ck_assert_int_eq(bin_of(-INFINITY, A, 1), -1);
    float x[] = {0.5f, -0.5f, NAN, 2.0f, -INFINITY, 0.0f, 1e-40f};
    float b[GS_HIST_NB] = {0};
    gs_hist_add(b, x, 7, A);
    float lin = 0, all = 0;
    for (int k = GS_HIST_LIN0; k < GS_HIST_NB; k++)
        lin += b[k];
    for (int k = 0; k < GS_HIST_LIN0; k++)
        all += b[k];
    ck_assert_float_eq(lin, 5.0f);
    ck_assert_float_eq(all, 7.0f);
    ck_assert_float_eq(b[GS_HIST_LIN0 + 48], 1.0f); /* 0.5 */
    ck_assert_float_eq(b[GS_HIST_LIN0 + 16], 1.0f); /* -0.5 */
    ck_assert_float_eq(b[GS_HIST_LIN0 + 32], 2.0f); /* 0 and the denormal */
}
END_TEST

START_TEST(test_kinds_text)
{
    ck_assert_str_eq(gs_hist_kind_name(GS_HIST_GRAD), "grad");
    ck_assert_str_eq(gs_hist_kind_name(GS_HIST_ACT), "act");
    ck_assert_str_eq(gs_hist_kind_name(GS_HIST_UPDATE), "update");
    ck_assert_ptr_null(gs_hist_kind_name(GS_HIST_NKINDS));
    ck_assert_int_eq(gs_hist_parse_kinds("grad,act,update", NULL), 7);
    ck_assert_int_eq(gs_hist_parse_kinds("update,grad", NULL), 5);
    ck_assert_int_eq(gs_hist_parse_kinds("act", NULL), 2);
    ck_assert_int_eq(gs_hist_parse_kinds("all", NULL), 7);
    ck_assert_int_eq(gs_hist_parse_kinds("none", NULL), 0);
    ck_assert_int_eq(gs_hist_parse_kinds("", NULL), 0);
    const char *bad = NULL;
    ck_assert_int_eq(gs_hist_parse_kinds("grad,weights", &bad), -1);
    ck_assert_str_eq(bad, "weights");
    ck_assert_int_eq(gs_hist_parse_kinds("grad,grad", &bad), -1);
    ck_assert_int_eq(gs_hist_parse_kinds("grad,", &bad), -1);
    char buf[64];
    gs_hist_format_kinds(5, buf, sizeof buf);
    ck_assert_str_eq(buf, "grad,update");
    gs_hist_format_kinds(0, buf, sizeof buf);
    ck_assert_str_eq(buf, "none");
}
END_TEST

START_TEST(test_store)
{
    GsTrace *t;
    ck_assert_int_eq(gs_trace_create(3, GS_COL_ALL, &t), GS_OK);
    ck_assert_uint_eq(gs_trace_hist_kinds(t), 0);
    ck_assert_int_eq(gs_trace_hist_enable(t, 8, 1.0), GS_ERR_INVALID);
    ck_assert_int_eq(gs_trace_hist_enable(t, 1u << GS_HIST_ACT, 0.0), GS_ERR_INVALID);
    ck_assert_int_eq(gs_trace_hist_enable(t, 1u << GS_HIST_ACT, NAN), GS_ERR_INVALID);
    unsigned kinds = (1u << GS_HIST_GRAD) | (1u << GS_HIST_ACT);
    ck_assert_int_eq(gs_trace_hist_enable(t, kinds, 4.0), GS_OK);
    ck_assert_uint_eq(gs_trace_hist_kinds(t), kinds);
    ck_assert_double_eq(gs_trace_hist_act_range(t), 4.0);
    ck_assert_str_eq(gs_trace_meta_get(t, "hist"), "grad,act");
    ck_assert_str_eq(gs_trace_meta_get(t, "hist_bins"), "228");
    ck_assert_str_eq(gs_trace_meta_get(t, "hist_act_range"), "4");
    ck_assert_str_eq(gs_trace_meta_get(t, "hist_log_edges"), "-30:10:0.25");
    for (long s = 0; s < 40; s++) { /* past the first growth */
        double *row;
        ck_assert_int_eq(gs_trace_add_step(t, s * 10, &row), GS_OK);
        for (size_t l = 0; l < 3; l++) {
            const float *h = gs_trace_hist(t, (size_t)s, l, GS_HIST_GRAD);
            ck_assert_ptr_nonnull(h);
            for (size_t b = 0; b < GS_HIST_NB; b++)
                ck_assert(isnan(h[b]));
            ck_assert_ptr_null(gs_trace_hist(t, (size_t)s, l, GS_HIST_UPDATE));
            ck_assert_ptr_null(gs_trace_hist_slot(t, (size_t)s, l, GS_HIST_UPDATE));
        }
        /* fill layer 1's gradient and act (not layer 0, nor layer 2's act) */
        float *g = gs_trace_hist_slot(t, (size_t)s, 1, GS_HIST_GRAD);
        for (size_t b = 0; b < GS_HIST_NB; b++)
            ck_assert_float_eq(g[b], 0.0f);
        float v[2] = {(float)s, -1.0f};
        gs_hist_add(g, v, 2, 0.0);
        ck_assert_ptr_eq(gs_trace_hist_slot(t, (size_t)s, 1, GS_HIST_GRAD), g); /* no re-zero */
        gs_hist_add(gs_trace_hist_slot(t, (size_t)s, 1, GS_HIST_ACT), v, 1, 4.0);
        gs_hist_add(gs_trace_hist_slot(t, (size_t)s, 2, GS_HIST_GRAD), v + 1, 1, 0.0);
        gs_trace_commit_step(t);
    }
    for (size_t s = 0; s < 40; s++) {
        const float *g = gs_trace_hist(t, s, 1, GS_HIST_GRAD);
        ck_assert_float_eq(g[ref_bin((float)s)], s == 1 ? 2.0f : 1.0f);
        ck_assert_float_eq(g[GS_HIST_LOG0 + 120], s == 1 ? 2.0f : 1.0f);
        float sum = 0;
        for (size_t b = 0; b < GS_HIST_LIN0; b++)
            sum += g[b];
        ck_assert_float_eq(sum, 2.0f);
        ck_assert(isnan(gs_trace_hist(t, s, 0, GS_HIST_GRAD)[5]));
        ck_assert(isnan(gs_trace_hist(t, s, 2, GS_HIST_ACT)[0]));
        ck_assert_float_eq(gs_trace_hist(t, s, 2, GS_HIST_GRAD)[GS_HIST_LOG0 + 120], 1.0f);
        const float *a = gs_trace_hist(t, s, 1, GS_HIST_ACT);
        ck_assert_float_eq(a[GS_HIST_NB - 1], s >= 4 ? 1.0f : 0.0f); /* s clamped at 4 */
    }
    gs_trace_destroy(t);
}
END_TEST

/* Trains a setup given as options, recording histograms; info gets the data's shape. */
static GsTrace *record(const char *opts, GsRunInfo *info)
{
    GsSpec s;
    gs_spec_default(&s);
    GsError err = {{0}};
    ck_assert_msg(gs_spec_apply_args(&s, opts, &err) == GS_OK, "%s", err.msg);
    GsTrace *t = NULL;
    ck_assert_msg(gs_run_setup(&s, NULL, NULL, NULL, &t, info, &err) == GS_OK, "%s", err.msg);
    return t;
}

/* The recording of base and that of base followed by extra. */
static void record_variant(const char *base, const char *extra, GsTrace **full, GsTrace **variant)
{
    char opts[400];
    snprintf(opts, sizeof opts, "%s %s", base, extra);
    *full = record(base, NULL);
    *variant = record(opts, NULL);
}

static double sum_bins(const float *h, int lo, int hi)
{
    double s = 0;
    for (int k = lo; k < hi; k++)
        s += h[k];
    return s;
}

/* Entries of layer li's weight: n_out x n_in. */
static double weight_entries(size_t li, size_t L, size_t d_in, size_t width, size_t d_out)
{
    size_t n_in = li == 0 ? d_in : width, n_out = li + 1 == L ? d_out : width;
    return (double)(n_in * n_out);
}

/* Every recorded step holds one count per entry: weight entries for grad and update, batch x
 * units for act (all of them in the linear bins too, as nothing is NaN here); the largest
 * gradient entry lies in the highest nonempty log bin; the mean from the linear bins of a tanh
 * net is the act_mean column to within half a bin; with sgd at lr 1 the update is -grad, so its
 * magnitudes fill exactly the same bins. */
START_TEST(test_record_mlp)
{
    GsRunInfo info;
    GsTrace *t = record("--act tanh --depth 3 --width 16 --steps 12 --record-every 5 --batch 32 "
                        "--opt sgd --lr 1 --hist grad,act,update",
                        &info);
    ck_assert_uint_eq(gs_trace_hist_kinds(t), GS_HIST_ALL);
    ck_assert_double_eq(gs_trace_hist_act_range(t), 1.0);
    ck_assert_uint_eq(gs_trace_n_steps(t), 4); /* 0, 5, 10, 11 */
    size_t L = gs_trace_n_layers(t);
    ck_assert_uint_eq(L, 4);
    for (size_t i = 0; i < gs_trace_n_steps(t); i++) {
        for (size_t l = 0; l < L; l++) {
            const float *g = gs_trace_hist(t, i, l, GS_HIST_GRAD);
            const float *a = gs_trace_hist(t, i, l, GS_HIST_ACT);
            const float *u = gs_trace_hist(t, i, l, GS_HIST_UPDATE);
            double n = weight_entries(l, L, info.d_in, 16, info.d_out);
            double bn = 32.0 * (l + 1 == L ? (double)info.d_out : 16.0);
            ck_assert_double_eq(sum_bins(g, 0, GS_HIST_LIN0), n);
            ck_assert_double_eq(sum_bins(g, GS_HIST_LIN0, GS_HIST_NB), 0.0);
            ck_assert_double_eq(sum_bins(u, 0, GS_HIST_LIN0), n);
            ck_assert_double_eq(sum_bins(a, 0, GS_HIST_LIN0), bn);
            ck_assert_double_eq(sum_bins(a, GS_HIST_LIN0, GS_HIST_NB), bn);
            for (int k = 0; k < GS_HIST_LIN0; k++)
                ck_assert_msg(g[k] == u[k], "step %zu layer %zu bin %d: grad %g update %g", i, l, k,
                              (double)g[k], (double)u[k]);
            int top = GS_HIST_LIN0 - 1;
            while (top >= GS_HIST_LOG0 && g[top] == 0.0f)
                top--;
            double mx = gs_trace_get(t, i, l, GS_COL_GRAD_MAX_ABS);
            ck_assert_int_ge(top, GS_HIST_LOG0);
            ck_assert_double_ge(mx, gs_hist_log_edge((size_t)(top - GS_HIST_LOG0)));
            ck_assert_double_lt(mx, gs_hist_log_edge((size_t)(top - GS_HIST_LOG0 + 1)));
            if (l + 1 < L) { /* tanh outputs lie in [-1, 1]: no clamping */
                double m = 0;
                for (int k = 0; k < GS_HIST_NLIN; k++)
                    m += a[GS_HIST_LIN0 + k] * (gs_hist_lin_edge((size_t)k, 1.0) + 1.0 / 64);
                m /= bn;
                ck_assert_double_le(fabs(m - gs_trace_get(t, i, l, GS_COL_ACT_MEAN)), 1.0 / 64);
            }
        }
    }
    gs_trace_destroy(t);
}
END_TEST

/* A run that diverges: NaN and Inf gradients are counted, every count still adds up. ReLU
 * outputs show their exact zeros; the logits have none. */
START_TEST(test_record_nan_safe)
{
    GsRunInfo info;
    GsTrace *t = record("--act relu --depth 6 --width 16 --lr 100 --steps 30 --batch 32 "
                        "--hist all",
                        &info);
    ck_assert_double_eq(gs_trace_hist_act_range(t), 4.0);
    size_t L = gs_trace_n_layers(t), S = gs_trace_n_steps(t);
    double bad = 0;
    for (size_t l = 0; l < L; l++) {
        const float *g = gs_trace_hist(t, S - 1, l, GS_HIST_GRAD);
        bad += g[GS_HIST_NAN] + g[GS_HIST_PINF] + g[GS_HIST_NINF];
        ck_assert_double_eq(sum_bins(g, 0, GS_HIST_LIN0),
                            weight_entries(l, L, info.d_in, 16, info.d_out));
        const float *a = gs_trace_hist(t, S - 1, l, GS_HIST_ACT);
        double bn = 32.0 * (l + 1 == L ? (double)info.d_out : 16.0);
        ck_assert_double_eq(sum_bins(a, 0, GS_HIST_LIN0), bn);
        ck_assert_double_eq(sum_bins(a, GS_HIST_LIN0, GS_HIST_NB),
                            bn - a[GS_HIST_NAN] - a[GS_HIST_PINF] - a[GS_HIST_NINF]);
    }
    ck_assert_double_gt(bad, 0.0);
    ck_assert_str_ne(gs_trace_meta_get(t, "first_nonfinite"), "none");
    /* step 0 is finite: relu zeros in hidden layers, none in the logits */
    ck_assert_float_gt(gs_trace_hist(t, 0, 0, GS_HIST_ACT)[GS_HIST_ZERO], 0.0f);
    ck_assert_float_eq(gs_trace_hist(t, 0, L - 1, GS_HIST_ACT)[GS_HIST_ZERO], 0.0f);
    gs_trace_destroy(t);
}
END_TEST

/* Off by default: no store, no metadata; a subset stores only its kinds. */
START_TEST(test_record_subset)
{
    GsTrace *t = record("--depth 2 --width 8 --steps 3", NULL);
    ck_assert_uint_eq(gs_trace_hist_kinds(t), 0);
    ck_assert_str_eq(gs_trace_meta_get(t, "hist"), "none"); /* the setup key, as every key */
    ck_assert_ptr_null(gs_trace_meta_get(t, "hist_file"));
    ck_assert_ptr_null(gs_trace_meta_get(t, "hist_bins"));
    ck_assert_ptr_null(gs_trace_hist(t, 0, 0, GS_HIST_GRAD));
    gs_trace_destroy(t);
    t = record("--depth 2 --width 8 --steps 3 --hist update", NULL);
    ck_assert_uint_eq(gs_trace_hist_kinds(t), 1u << GS_HIST_UPDATE);
    ck_assert_str_eq(gs_trace_meta_get(t, "hist"), "update");
    ck_assert_ptr_null(gs_trace_hist(t, 0, 0, GS_HIST_GRAD));
    ck_assert_ptr_null(gs_trace_hist(t, 0, 0, GS_HIST_ACT));
    ck_assert_float_eq(gs_trace_hist(t, 2, 1, GS_HIST_UPDATE)[GS_HIST_NAN], 0.0f);
    gs_trace_destroy(t);
    /* sgd at lr 0.01: the update's log-magnitudes sit 8 quarter decades below the gradient's */
    t = record("--depth 2 --width 8 --steps 3 --opt sgd --lr 0.01 --hist grad,update", NULL);
    for (size_t l = 0; l < 3; l++) {
        const float *g = gs_trace_hist(t, 1, l, GS_HIST_GRAD);
        const float *u = gs_trace_hist(t, 1, l, GS_HIST_UPDATE);
        double mg = 0, mu = 0, ng = 0, nu = 0;
        for (int k = GS_HIST_LOG0; k < GS_HIST_LIN0; k++) {
            mg += k * (double)g[k], ng += g[k];
            mu += k * (double)u[k], nu += u[k];
        }
        ck_assert_double_gt(ng, 0.0);
        ck_assert_double_eq(ng, nu);
        ck_assert_double_lt(fabs(mg / ng - mu / nu - 8.0), 0.2);
    }
    gs_trace_destroy(t);
    GsSpec s;
    gs_spec_default(&s);
    GsError err = {{0}};
    ck_assert_int_eq(gs_spec_set(&s, "hist", "grad,weights", &err), GS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'weights'"));
    ck_assert_int_eq(gs_spec_set(&s, "hist", "act,grad", &err), GS_OK);
    char buf[64];
    ck_assert_int_eq(gs_spec_get(&s, "hist", buf, sizeof buf), GS_OK);
    ck_assert_str_eq(buf, "grad,act");
}
END_TEST

static char tmp_dir[256];

static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/gs_test_hist_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

/* Removes the named files of the scratch directory, then the directory: rmdir fails when a
 * stray temporary file of an atomic write was left behind. */
static void remove_tmp_dir(const char *const *names, size_t n)
{
    char path[600];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp_dir, names[i]);
        ck_assert_msg(unlink(path) == 0, "%s", path);
    }
    ck_assert_int_eq(rmdir(tmp_dir), 0);
}

/* Cuts a file to len bytes. */
static void truncate_to(const char *path, long len)
{
    ck_assert_int_eq(truncate(path, len), 0);
}

/* Write, read back: the same kinds, range and every count; the kinds not stored read NaN in
 * the side file; a CSV without the side file reads as "no histograms". */
/* --hist-every N: the histograms of every N-th recorded step (and the last) are those of the
 * full recording bit for bit, the other steps hold NaN, and the CSV columns do not change -
 * for the MLP and the recurrent recorder. */
START_TEST(test_record_hist_every)
{
    const char *base[] = {"--act tanh --depth 3 --width 16 --steps 23 --record-every 2 --batch 32 "
                          "--hist all",
                          "--arch lstm --width 8 --seq-len 6 --steps 9 --batch 8 --hist all"};
    for (int a = 0; a < 2; a++) {
        GsTrace *full, *thin;
        record_variant(base[a], "--hist-every 3", &full, &thin);
        size_t S = gs_trace_n_steps(full), L = gs_trace_n_layers(full);
        ck_assert_uint_eq(gs_trace_n_steps(thin), S);
        for (size_t i = 0; i < S; i++) {
            int due = i % 3 == 0 || i + 1 == S;
            for (size_t l = 0; l < L; l++) {
                for (int c = 0; c < GS_COL_COUNT; c++) {
                    double x = gs_trace_get(full, i, l, (GsCol)c),
                           y = gs_trace_get(thin, i, l, (GsCol)c);
                    ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "arch %d step %zu col %d", a, i,
                                  c);
                }
                for (int k = 0; k < GS_HIST_NKINDS; k++) {
                    const float *h = gs_trace_hist(full, i, l, (GsHistKind)k);
                    const float *g = gs_trace_hist(thin, i, l, (GsHistKind)k);
                    for (int b = 0; b < GS_HIST_NB; b++) {
                        if (due)
                            ck_assert_msg(memcmp(&h[b], &g[b], sizeof h[b]) == 0,
                                          "arch %d step %zu layer %zu kind %d bin %d", a, i, l, k,
                                          b);
                        else
                            ck_assert(isnan(g[b]));
                    }
                }
            }
        }
        gs_trace_destroy(full);
        gs_trace_destroy(thin);
    }
}
END_TEST

/* A thinned recording (--record-every) of a recurrent net holds, at each step it records,
 * the full recording's row bit for bit: the steps in between update with the finite-only
 * pass, which must leave the parameters and the optimizer state as the full pass does; and
 * the first non-finite step is found between recorded steps too. */
START_TEST(test_rnn_thinned_rows_equal_full)
{
    const char *base[] = {
        "--arch rnn --width 8 --seq-len 6 --steps 13 --batch 8 --opt adam --lr 0.01",
        "--arch lstm --width 8 --seq-len 6 --steps 13 --batch 8 --opt momentum",
        "--arch gru --width 8 --seq-len 6 --steps 13 --batch 8 --clip-norm 0.1"};
    for (int a = 0; a < 3; a++) {
        GsTrace *full, *thin;
        record_variant(base[a], "--record-every 4", &full, &thin);
        size_t L = gs_trace_n_layers(full);
        ck_assert_uint_eq(gs_trace_n_steps(thin), 4); /* 0, 4, 8 and the last, 12 */
        ck_assert_uint_eq(gs_trace_n_layers(thin), L);
        for (size_t i = 0; i < gs_trace_n_steps(thin); i++) {
            size_t at = (size_t)gs_trace_step(thin, i);
            ck_assert_int_eq(gs_trace_step(full, at), (long)at);
            for (size_t l = 0; l < L; l++)
                for (int c = 0; c < GS_COL_COUNT; c++) {
                    double x = gs_trace_get(full, at, l, (GsCol)c),
                           y = gs_trace_get(thin, i, l, (GsCol)c);
                    ck_assert_msg(memcmp(&x, &y, sizeof x) == 0,
                                  "arch %d step %zu layer %zu col %d", a, at, l, c);
                }
        }
        gs_trace_destroy(full);
        gs_trace_destroy(thin);
    }
    /* a tanh RNN driven to overflow: its first non-finite step, and the same found when it
     * falls between recorded steps */
    const char *wild = "--arch rnn --width 8 --seq-len 6 --steps 40 --batch 8 --lr 1e6 "
                       "--init normal:3";
    GsTrace *full = record(wild, NULL);
    const char *first = gs_trace_meta_get(full, "first_nonfinite");
    ck_assert_str_ne(first, "none");
    long step = strtol(first, NULL, 10);
    char opts[400];
    snprintf(opts, sizeof opts, "%s --record-every %ld", wild, step + 1);
    GsTrace *thin = record(opts, NULL);
    ck_assert_str_eq(gs_trace_meta_get(thin, "first_nonfinite"), first);
    gs_trace_destroy(full);
    gs_trace_destroy(thin);
}
END_TEST

START_TEST(test_side_file_round_trip)
{
    make_tmp_dir();
    GsTrace *t = record("--act relu --depth 2 --width 8 --steps 7 --record-every 3 --batch 16 "
                        "--hist grad,act",
                        NULL);
    char csv[400], side[400];
    snprintf(csv, sizeof csv, "%s/run.csv", tmp_dir);
    snprintf(side, sizeof side, "%s/run.hist.npy", tmp_dir);
    GsError err = {{0}};
    ck_assert_msg(gs_trace_write_csv(t, csv, &err) == GS_OK, "%s", err.msg);
    float *a = NULL;
    size_t shape[GS_NPY_MAX_DIM], nd = 0;
    ck_assert_msg(gs_npy_read_f32(side, &a, shape, &nd, &err) == GS_OK, "%s", err.msg);
    size_t S = gs_trace_n_steps(t), L = gs_trace_n_layers(t);
    ck_assert_uint_eq(nd, 4);
    ck_assert_uint_eq(shape[0], S);
    ck_assert_uint_eq(shape[1], L);
    ck_assert_uint_eq(shape[2], 3);
    ck_assert_uint_eq(shape[3], GS_HIST_NB);
    for (size_t i = 0; i < S; i++)
        for (size_t l = 0; l < L; l++) {
            const float *f = a + ((i * L + l) * 3) * GS_HIST_NB;
            for (size_t b = 0; b < GS_HIST_NB; b++) {
                ck_assert(f[b] == gs_trace_hist(t, i, l, GS_HIST_GRAD)[b]);
                ck_assert(f[GS_HIST_NB + b] == gs_trace_hist(t, i, l, GS_HIST_ACT)[b]);
                ck_assert(isnan(f[2 * GS_HIST_NB + b]));
            }
        }
    free(a);
    GsTrace *r = NULL;
    ck_assert_msg(gs_trace_read_csv(csv, GS_COL_ALL, &r, &err) == GS_OK, "%s", err.msg);
    ck_assert_str_eq(gs_trace_meta_get(r, "hist_file"), "run.hist.npy");
    ck_assert_str_eq(gs_trace_meta_get(r, "hist"), "grad,act");
    ck_assert_uint_eq(gs_trace_hist_kinds(r), (1u << GS_HIST_GRAD) | (1u << GS_HIST_ACT));
    ck_assert_double_eq(gs_trace_hist_act_range(r), 4.0);
    ck_assert_ptr_null(gs_trace_hist(r, 0, 0, GS_HIST_UPDATE));
    for (size_t i = 0; i < S; i++)
        for (size_t l = 0; l < L; l++)
            for (int k = GS_HIST_GRAD; k <= GS_HIST_ACT; k++)
                ck_assert_int_eq(memcmp(gs_trace_hist(r, i, l, (GsHistKind)k),
                                        gs_trace_hist(t, i, l, (GsHistKind)k),
                                        GS_HIST_NB * sizeof(float)),
                                 0);
    /* written again under another name: its own side file, named in its metadata */
    char csv2[400], side2[400];
    snprintf(csv2, sizeof csv2, "%s/again", tmp_dir);
    snprintf(side2, sizeof side2, "%s/again.hist.npy", tmp_dir);
    ck_assert_msg(gs_trace_write_csv(r, csv2, &err) == GS_OK, "%s", err.msg);
    ck_assert_int_eq(access(side2, R_OK), 0);
    GsTrace *r2 = NULL;
    ck_assert_msg(gs_trace_read_csv(csv2, GS_COL_ALL, &r2, &err) == GS_OK, "%s", err.msg);
    ck_assert_str_eq(gs_trace_meta_get(r2, "hist_file"), "again.hist.npy");
    ck_assert_float_eq(gs_trace_hist(r2, S - 1, 1, GS_HIST_GRAD)[GS_HIST_NAN],
                       gs_trace_hist(t, S - 1, 1, GS_HIST_GRAD)[GS_HIST_NAN]);
    gs_trace_destroy(r2);
    gs_trace_destroy(r);
    /* no side file: read without histograms, and no error */
    ck_assert_int_eq(unlink(side), 0);
    ck_assert_msg(gs_trace_read_csv(csv, GS_COL_ALL, &r, &err) == GS_OK, "%s", err.msg);
    ck_assert_uint_eq(gs_trace_hist_kinds(r), 0);
    ck_assert_ptr_null(gs_trace_hist(r, 0, 0, GS_HIST_GRAD));
    gs_trace_destroy(r);
    /* a trace without histograms writes no side file */
    GsTrace *plain = record("--depth 1 --width 4 --steps 2", NULL);
    char csv3[400], side3[400];
    snprintf(csv3, sizeof csv3, "%s/plain.csv", tmp_dir);
    snprintf(side3, sizeof side3, "%s/plain.hist.npy", tmp_dir);
    ck_assert_int_eq(gs_trace_write_csv(plain, csv3, &err), GS_OK);
    ck_assert_int_ne(access(side3, F_OK), 0);
    gs_trace_destroy(plain);
    gs_trace_destroy(t);
    static const char *const names[] = {"run.csv", "again", "again.hist.npy", "plain.csv"};
    remove_tmp_dir(names, 4);
}
END_TEST

/* A side file of another trace's shape, a cut-off one: GS_ERR_FORMAT naming the file. */
START_TEST(test_side_file_errors)
{
    make_tmp_dir();
    GsTrace *t = record("--depth 2 --width 8 --steps 4 --hist all", NULL);
    GsTrace *u = record("--depth 3 --width 8 --steps 4 --hist all", NULL);
    char csv[400], side[400], other[400], oside[400];
    snprintf(csv, sizeof csv, "%s/a.csv", tmp_dir);
    snprintf(side, sizeof side, "%s/a.hist.npy", tmp_dir);
    snprintf(other, sizeof other, "%s/b.csv", tmp_dir);
    snprintf(oside, sizeof oside, "%s/b.hist.npy", tmp_dir);
    GsError err = {{0}};
    ck_assert_int_eq(gs_trace_write_csv(t, csv, &err), GS_OK);
    ck_assert_int_eq(gs_trace_write_csv(u, other, &err), GS_OK);
    ck_assert_int_eq(rename(oside, side), 0);
    GsTrace *r = NULL;
    ck_assert_int_eq(gs_trace_read_csv(csv, GS_COL_ALL, &r, &err), GS_ERR_FORMAT);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err.msg, side) && strstr(err.msg, "(4, 4, 3, 228)") &&
                      strstr(err.msg, "(4, 3, 3, 228)"),
                  "%s", err.msg);
    /* cut off */
    ck_assert_int_eq(gs_trace_write_csv(t, csv, &err), GS_OK);
    truncate_to(side, 1000);
    ck_assert_int_eq(gs_trace_read_csv(csv, GS_COL_ALL, &r, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, side) != NULL, "%s", err.msg);
    truncate_to(side, 5);
    ck_assert_int_eq(gs_trace_read_csv(csv, GS_COL_ALL, &r, &err), GS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, side) != NULL, "%s", err.msg);
    gs_trace_destroy(t);
    gs_trace_destroy(u);
    static const char *const names[] = {"a.csv", "a.hist.npy", "b.csv"};
    remove_tmp_dir(names, 3);
}
END_TEST

/* Recurrent nets: per weight tensor (weight_ih, weight_hh per layer, then out.weight) grad and
 * update count every entry; act counts the layer's hidden states over all t and the batch on
 * both rows of the layer, and the head's outputs on its row. */
START_TEST(test_record_rnn)
{
    GsRunInfo info;
    GsTrace *t = record("--arch gru --depth 2 --width 8 --seq-len 6 --batch 4 --steps 3 "
                        "--hist all",
                        &info);
    ck_assert_uint_eq(gs_trace_n_layers(t), 5);
    ck_assert_double_eq(gs_trace_hist_act_range(t), 1.0);
    const size_t H = 8, G = 3, T = 6, B = 4;
    const double n_w[5] = {(double)(G * H * info.d_in), (double)(G * H * H), (double)(G * H * H),
                           (double)(G * H * H), (double)(info.d_out * H)};
    for (size_t i = 0; i < gs_trace_n_steps(t); i++) {
        for (size_t j = 0; j < 5; j++) {
            const float *g = gs_trace_hist(t, i, j, GS_HIST_GRAD);
            const float *u = gs_trace_hist(t, i, j, GS_HIST_UPDATE);
            const float *a = gs_trace_hist(t, i, j, GS_HIST_ACT);
            ck_assert_double_eq(sum_bins(g, 0, GS_HIST_LIN0), n_w[j]);
            ck_assert_double_eq(sum_bins(u, 0, GS_HIST_LIN0), n_w[j]);
            double na = j == 4 ? (double)(B * info.d_out) : (double)(T * B * H);
            ck_assert_double_eq(sum_bins(a, 0, GS_HIST_LIN0), na);
            ck_assert_double_eq(sum_bins(a, GS_HIST_LIN0, GS_HIST_NB), na);
            if (j < 4 && j % 2 == 1) /* both tensors of a layer: its one hidden state */
                ck_assert_int_eq(
                    memcmp(a, gs_trace_hist(t, i, j - 1, GS_HIST_ACT), GS_HIST_NB * sizeof *a), 0);
            if (j < 4) /* a GRU's h lies in (-1, 1): nothing piles into the end bins */
                ck_assert_float_eq(a[GS_HIST_LIN0] + a[GS_HIST_NB - 1], 0.0f);
        }
    }
    gs_trace_destroy(t);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("bins");
    tcase_add_test(tc, test_log_edges);
    tcase_add_test(tc, test_log_bins_at_edges);
    tcase_add_test(tc, test_special_values);
    tcase_add_test(tc, test_random_against_reference);
    tcase_add_test(tc, test_linear_bins);
    tcase_add_test(tc, test_kernels_agree);
    tcase_add_test(tc, test_acc_pieces);
    tcase_add_test(tc, test_kinds_text);
    tcase_add_test(tc, test_store);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("record");
    tcase_set_timeout(tr, 60);
    tcase_add_test(tr, test_record_mlp);
    tcase_add_test(tr, test_record_nan_safe);
    tcase_add_test(tr, test_record_subset);
    tcase_add_test(tr, test_record_rnn);
    tcase_add_test(tr, test_record_hist_every);
    tcase_add_test(tr, test_rnn_thinned_rows_equal_full);
    tcase_add_test(tr, test_side_file_round_trip);
    tcase_add_test(tr, test_side_file_errors);
    suite_add_tcase(s, tr);
    return s;
}
