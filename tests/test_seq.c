/* Sequence data set tests: shapes, the adding problem's markers and targets, copy's layout,
 * parity and sine targets recomputed from the inputs, determinism, gathering, bad options. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/seq.h"
#include "runner.h"

static GsSeqDataset *make(GsSeqKind kind, size_t n, size_t T, uint64_t seed)
{
    GsSeqOptions o = {.kind = kind, .samples = n, .seq_len = T, .seed = seed};
    GsSeqDataset *ds = NULL;
    GsError err;
    ck_assert_msg(gs_seq_create(&o, &ds, &err) == GS_OK, "%s", err.msg);
    return ds;
}

START_TEST(test_names)
{
    GsSeqKind k;
    GsError err;
    const char *names[] = {"adding", "copy", "parity", "sine_seq"};
    for (int i = 0; i < GS_SEQ_COUNT; i++) {
        ck_assert(gs_seq_parse(names[i], &k, &err) == GS_OK && (int)k == i);
        ck_assert_str_eq(gs_seq_name(k), names[i]);
    }
    ck_assert(gs_seq_parse("spiral", &k, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "'spiral'"));
    ck_assert(gs_seq_name(GS_SEQ_COUNT) == NULL);
    ck_assert(gs_seq_is_per_step(GS_SEQ_COPY) && gs_seq_is_per_step(GS_SEQ_SINE));
    ck_assert(!gs_seq_is_per_step(GS_SEQ_ADDING) && !gs_seq_is_per_step(GS_SEQ_PARITY));
    ck_assert(gs_seq_is_classification(GS_SEQ_COPY) && gs_seq_is_classification(GS_SEQ_PARITY));
    ck_assert(!gs_seq_is_classification(GS_SEQ_ADDING));
}
END_TEST

START_TEST(test_adding)
{
    const size_t n = 500, T = 31;
    GsSeqDataset *ds = make(GS_SEQ_ADDING, n, T, 1);
    ck_assert(ds->d_in == 2 && ds->d_out == 1 && ds->n_classes == 0 && !ds->per_step);
    ck_assert(ds->y && !ds->label);
    size_t first_pos[31] = {0};
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        const float *x = ds->x + i * T * 2;
        size_t ones_lo = 0, ones_hi = 0;
        double sum = 0;
        for (size_t t = 0; t < T; t++) {
            ck_assert(x[2 * t] >= 0.0f && x[2 * t] < 1.0f);
            ck_assert(x[2 * t + 1] == 0.0f || x[2 * t + 1] == 1.0f);
            if (x[2 * t + 1] == 1.0f) {
                sum += x[2 * t];
                if (t < T / 2) {
                    ones_lo++;
                    first_pos[t]++;
                } else {
                    ones_hi++;
                }
            }
            mean += x[2 * t];
        }
        ck_assert_msg(ones_lo == 1 && ones_hi == 1, "row %zu: %zu + %zu markers", i, ones_lo,
                      ones_hi);
        ck_assert(ds->y[i] == (float)sum);
    }
    mean /= (double)(n * T);
    ck_assert(fabs(mean - 0.5) < 0.02);
    /* the first marker lands on every step of the first half */
    for (size_t t = 0; t < T / 2; t++)
        ck_assert(first_pos[t] > 0);
    gs_seq_destroy(ds);
    /* the smallest T: one step per half */
    ds = make(GS_SEQ_ADDING, 3, 2, 2);
    for (size_t i = 0; i < 3; i++)
        ck_assert(ds->x[i * 4 + 1] == 1.0f && ds->x[i * 4 + 3] == 1.0f);
    gs_seq_destroy(ds);
}
END_TEST

START_TEST(test_copy)
{
    const size_t n = 50, T = 20;
    GsSeqDataset *ds = make(GS_SEQ_COPY, n, T, 3);
    const size_t S = 8, L = 5, D = S + 2;
    ck_assert(ds->d_in == D && ds->d_out == S + 1 && ds->n_classes == S + 1 && ds->per_step);
    ck_assert(ds->label && !ds->y);
    for (size_t i = 0; i < n; i++) {
        const float *x = ds->x + i * T * D;
        const int32_t *lab = ds->label + i * T;
        for (size_t t = 0; t < T; t++) {
            float s = 0;
            size_t hot = 0;
            for (size_t j = 0; j < D; j++) {
                s += x[t * D + j];
                if (x[t * D + j] == 1.0f)
                    hot = j;
            }
            ck_assert(s == 1.0f); /* one-hot */
            if (t < L) {
                ck_assert(hot >= 1 && hot <= S);
                ck_assert_int_eq(lab[T - L + t], (int32_t)hot);
            } else if (t == T - L - 1) {
                ck_assert_uint_eq(hot, S + 1);
            } else {
                ck_assert_uint_eq(hot, 0);
            }
            if (t < T - L)
                ck_assert_int_eq(lab[t], 0);
        }
    }
    gs_seq_destroy(ds);
    /* a short T picks a copy length that fits: T = 5 -> L = 2 */
    ds = make(GS_SEQ_COPY, 2, 5, 3);
    ck_assert(ds->label[3] >= 1 && ds->label[4] >= 1 && ds->label[2] == 0);
    ck_assert(ds->x[2 * ds->d_in + S + 1] == 1.0f);
    gs_seq_destroy(ds);
}
END_TEST

START_TEST(test_parity_and_sine)
{
    const size_t n = 400, T = 12;
    GsSeqDataset *ds = make(GS_SEQ_PARITY, n, T, 4);
    ck_assert(ds->d_in == 1 && ds->d_out == 2 && ds->n_classes == 2 && !ds->per_step);
    size_t ones = 0, odd = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned p = 0;
        for (size_t t = 0; t < T; t++) {
            float v = ds->x[i * T + t];
            ck_assert(v == 0.0f || v == 1.0f);
            p ^= v == 1.0f;
            ones += v == 1.0f;
        }
        ck_assert_int_eq(ds->label[i], (int32_t)p);
        odd += p;
    }
    ck_assert(ones > n * T * 45 / 100 && ones < n * T * 55 / 100);
    ck_assert(odd > n * 40 / 100 && odd < n * 60 / 100);
    gs_seq_destroy(ds);

    ds = make(GS_SEQ_SINE, 20, T, 5);
    ck_assert(ds->d_in == 1 && ds->d_out == 1 && ds->per_step && ds->y);
    for (size_t i = 0; i < 20; i++) {
        const float *x = ds->x + i * T, *y = ds->y + i * T;
        for (size_t t = 0; t + 1 < T; t++)
            ck_assert(y[t] == x[t + 1]); /* next-step targets */
        for (size_t t = 0; t < T; t++)
            ck_assert(fabsf(x[t]) <= 1.0f);
        /* a sinusoid: x_{t+1} + x_{t-1} = 2 cos(w) x_t with one w per sequence */
        double w2 = (x[0] + x[2]) / x[1];
        if (fabs(x[1]) > 0.2)
            for (size_t t = 2; t + 1 < T; t++)
                if (fabs(x[t]) > 0.2)
                    ck_assert(fabs((x[t - 1] + x[t + 1]) / x[t] - w2) < 1e-4 / fabs(x[t]) * 10);
        ck_assert(w2 / 2 <= cos(0.1) + 1e-3 && w2 / 2 >= cos(0.6) - 1e-3);
    }
    gs_seq_destroy(ds);
}
END_TEST

START_TEST(test_determinism_and_gather)
{
    for (int k = 0; k < GS_SEQ_COUNT; k++) {
        GsSeqDataset *a = make((GsSeqKind)k, 30, 9, 77), *b = make((GsSeqKind)k, 30, 9, 77);
        GsSeqDataset *c = make((GsSeqKind)k, 30, 9, 78);
        size_t nx = 30 * 9 * a->d_in, nt = a->per_step ? 30 * 9 : 30;
        ck_assert(memcmp(a->x, b->x, nx * sizeof(float)) == 0);
        ck_assert(memcmp(a->x, c->x, nx * sizeof(float)) != 0);
        if (a->y)
            ck_assert(memcmp(a->y, b->y, nt * a->d_out * sizeof(float)) == 0);
        else
            ck_assert(memcmp(a->label, b->label, nt * sizeof(int32_t)) == 0);
        size_t idx[3] = {29, 0, 7};
        float *x = malloc(3 * 9 * a->d_in * sizeof *x), *y = malloc(3 * 9 * sizeof *y);
        int32_t lab[27];
        gs_seq_gather(a, idx, 3, x, y, lab);
        size_t xs = 9 * a->d_in, ts = a->per_step ? 9 : 1;
        for (size_t i = 0; i < 3; i++) {
            ck_assert(memcmp(x + i * xs, a->x + idx[i] * xs, xs * sizeof(float)) == 0);
            if (a->y)
                ck_assert(memcmp(y + i * ts, a->y + idx[i] * ts, ts * sizeof(float)) == 0);
            else
                ck_assert(memcmp(lab + i * ts, a->label + idx[i] * ts, ts * sizeof(int32_t)) == 0);
        }
        free(x);
        free(y);
        gs_seq_destroy(a);
        gs_seq_destroy(b);
        gs_seq_destroy(c);
    }
    gs_seq_destroy(NULL);
}
END_TEST

START_TEST(test_bad_options)
{
    GsSeqDataset *ds = (GsSeqDataset *)&ds; /* must stay untouched */
    GsSeqDataset *const sentinel = ds;
    GsError err;
    GsSeqOptions o = {.kind = GS_SEQ_ADDING, .samples = 10, .seq_len = 1};
    ck_assert(gs_seq_create(&o, &ds, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "adding") && strstr(err.msg, "--seq-len") && strstr(err.msg, "1"));
    o.kind = GS_SEQ_PARITY;
    o.seq_len = 0;
    ck_assert(gs_seq_create(&o, &ds, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, "got 0"));
    o.kind = GS_SEQ_COPY;
    o.seq_len = 10;
    o.copy_len = 5;
    ck_assert(gs_seq_create(&o, &ds, &err) == GS_ERR_INVALID);
    ck_assert(strstr(err.msg, ">= 11"));
    o.copy_len = 0;
    o.samples = 0;
    ck_assert(gs_seq_create(&o, &ds, &err) == GS_ERR_INVALID);
    o.samples = SIZE_MAX / 4;
    ck_assert(gs_seq_create(&o, &ds, &err) == GS_ERR_RANGE);
    ck_assert(ds == sentinel);
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("seq");
    TCase *tc = tcase_create("seq");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_adding);
    tcase_add_test(tc, test_copy);
    tcase_add_test(tc, test_parity_and_sine);
    tcase_add_test(tc, test_determinism_and_gather);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);
    return s;
}
