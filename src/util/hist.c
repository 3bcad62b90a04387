/* Fixed-bin histograms (DESIGN.md "Histograms"). The log bin of a float is found from its
 * bits: positive floats order like their bit patterns, so the edges become integer
 * thresholds. One table entry per cell of the top 11 bits of |x| (exponent and 3 mantissa
 * bits) holds the bin of the cell's smallest value and the one threshold inside the cell, if
 * any (a cell is far narrower than a quarter decade); one integer compare settles the rest.
 * Zeros, NaN and Inf fall out of the same table. An index pass turns a chunk of entries into
 * bin indices (AVX-512: the log bin from a polynomial, re-binned by the table near edges; AVX2
 * and portable C: the table, with the linear bins vectorized), then a scalar loop counts them:
 * the counting, one load-increment-store of a counter an entry, is the floor of the cost. */
#include "gradscope/hist.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INF_BITS UINT32_C(0x7F800000)

static const char *const kind_names[GS_HIST_NKINDS] = {"grad", "act", "update"};

const char *gs_hist_kind_name(GsHistKind k)
{
    return (int)k >= 0 && k < GS_HIST_NKINDS ? kind_names[k] : NULL;
}

double gs_hist_total(const float *bins)
{
    if (!bins || isnan((double)bins[GS_HIST_ZERO]))
        return NAN;
    double s = 0;
    for (size_t j = 0; j < GS_HIST_LIN0; j++)
        s += (double)bins[j];
    return s;
}

double gs_hist_log_edge(size_t j)
{
    assert(j <= GS_HIST_NLOG);
    int q = (int)j - 120; /* edge = 10^(q/4) */
    if (q % 4 == 0) {
        /* whole decades: the correctly rounded literal */
        char buf[16];
        snprintf(buf, sizeof buf, "1e%d", q / 4);
        return strtod(buf, NULL);
    }
    return (double)powl(10.0L, (long double)q / 4.0L);
}

double gs_hist_act_range(const GsAct *act)
{
    switch (act->kind) {
    case GS_ACT_TANH:
    case GS_ACT_SOFTSIGN:
    case GS_ACT_SIGMOID: return 1.0;
    default: return 4.0;
    }
}

double gs_hist_lin_edge(size_t j, double range)
{
    assert(j <= GS_HIST_NLIN && range > 0);
    return -range + (double)j * (range / 32.0);
}

/* Bin tables, built once. Inside this file the bins are numbered so that every step within a
 * cell is +1: 0 zero, 1..160 the log bins, 161 Inf (either sign), 162 NaN; out_bin[] maps them
 * to the public layout. */
#define CELL_SHIFT 20 /* cells of 2^20 bit patterns: |x| within a factor 1 + 1/8 */
#define N_CELLS (1u << (31 - CELL_SHIFT))
#define LOW_MASK ((UINT32_C(1) << CELL_SHIFT) - 1)
#define THR_BITS 21 /* a cell's threshold: 0..2^20, 2^20 when no bin starts inside the cell */
#define THR_MASK ((UINT32_C(1) << THR_BITS) - 1)
#define IB GS_HIST_ACC_BINS /* internal bins */
#define IB_INF 161
#define IB_NAN 162
#define CHUNK 256 /* entries whose bin indices are computed before they are counted */
/* per cell (the top 11 bits of |x|): the internal bin of the cell's smallest value << 21 |
 * the low 20 bits of the first |x| of the next bin, if that lies in the cell */
static uint32_t cell_tab[N_CELLS];
static uint8_t out_bin[IB];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Bits of the smallest float >= the double edge (edges are normal positive floats). */
static uint32_t edge_bits(size_t j)
{
    double e = gs_hist_log_edge(j);
    float f = (float)e;
    if ((double)f < e)
        f = nextafterf(f, INFINITY);
    return bits_of(f);
}

/* The exact internal bin of |x| bits u (sign cleared), by the thresholds. */
static unsigned slow_bin(uint32_t u, const uint32_t *eb)
{
    if (u == 0)
        return 0;
    if (u > INF_BITS)
        return IB_NAN;
    if (u == INF_BITS)
        return IB_INF;
    unsigned b = 1;
    for (size_t j = 1; j < GS_HIST_NLOG; j++)
        b += u >= eb[j];
    return b;
}

/* Which index kernel gs_hist_add uses: 0 portable, 1 AVX2, 2 AVX-512 (the best the CPU has
 * unless gs_hist_use_isa lowered it). All give the same indices. */
static int isa_best, isa_now;

static void build_tables(void)
{
    uint32_t eb[GS_HIST_NLOG + 1];
    for (size_t j = 0; j <= GS_HIST_NLOG; j++)
        eb[j] = edge_bits(j);
    out_bin[0] = GS_HIST_ZERO;
    for (unsigned j = 0; j < GS_HIST_NLOG; j++)
        out_bin[1 + j] = (uint8_t)(GS_HIST_LOG0 + j);
    out_bin[IB_INF] = GS_HIST_PINF;
    out_bin[IB_NAN] = GS_HIST_NAN;
    for (uint32_t c = 0; c < N_CELLS; c++) {
        uint32_t lo = c << CELL_SHIFT, hi = lo | LOW_MASK;
        unsigned b = slow_bin(lo, eb);
        uint32_t thr = LOW_MASK + 1;
        if (slow_bin(hi, eb) != b) {
            /* the first pattern of the next bin, by bisection */
            uint32_t a = lo, z = hi; /* bin(a) == b, bin(z) != b */
            while (z - a > 1) {
                uint32_t mid = a + (z - a) / 2;
                if (slow_bin(mid, eb) == b)
                    a = mid;
                else
                    z = mid;
            }
            thr = z & LOW_MASK;
            /* at most one threshold inside a cell (the table's premise), a step of +1 */
            assert(slow_bin(hi, eb) == b + 1);
        }
        cell_tab[c] = (uint32_t)b << THR_BITS | thr;
    }
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    isa_best = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    isa_now = isa_best;
}

int gs_hist_use_isa(int level)
{
    pthread_once(&tables_once, build_tables);
    isa_now = level < 0 || level > isa_best ? isa_best : level;
    return isa_now;
}

/* Internal log bin of |x| bits u. */
static inline uint32_t log_bin(uint32_t u)
{
    uint32_t e = cell_tab[u >> CELL_SHIFT];
    return (e >> THR_BITS) + ((u & LOW_MASK) >= (e & THR_MASK));
}

/* Linear bins (0..63, 64 for NaN/Inf) of m entries given as bits ub and as |x| clamped to lim
 * (2A) fb: floor(x * scale) + 32, clamped to 0..63. x * scale is exact for a power-of-two scale
 * (the activation ranges 1 and 4); floor is exact at every edge and puts a tiny negative x in
 * bin 31. floor comes from |x| (truncation is floor there, and rounding is symmetric in sign),
 * so no floorf call (a library call below SSE4.1) is needed. Compiled without trapping math so
 * that the compare and the conversion may be vectorized (nothing here reads FP flags). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-trapping-math")))
#endif
static void
lin_index(uint32_t *idx, const uint32_t *ub, const float *fb, float scale, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        float mg = fb[k] * scale;
        int32_t mag = (int32_t)mg;
        int32_t frac = (float)mag < mg;
        int32_t neg = (int32_t)(ub[k] >> 31);
        int32_t q = 32 + mag - neg * (2 * mag + frac);
        q = q < 0 ? 0 : q;
        q = q > 63 ? 63 : q;
        idx[k] = (ub[k] & INF_BITS) == INF_BITS ? GS_HIST_NLIN : (uint32_t)q;
    }
}

/* The portable kernel: the log bins by the table, the linear bins by lin_index. */
static void index_scalar(uint32_t *lb, uint32_t *nb, const float *x, size_t m, float scale,
                         float lim)
{
    uint32_t u[CHUNK], ab[CHUNK];
    float fb[CHUNK];
    assert(m <= CHUNK);
    memcpy(u, x, m * sizeof *u);
    for (size_t k = 0; k < m; k++)
        lb[k] = log_bin(u[k] & UINT32_C(0x7FFFFFFF));
    if (!nb)
        return;
    /* |x| clamped to 2A in the bit domain (positive floats order like their bits; NaN/Inf are
     * masked by their bits in lin_index) */
    uint32_t lim_bits;
    memcpy(&lim_bits, &lim, sizeof lim_bits);
    for (size_t k = 0; k < m; k++) {
        uint32_t v = u[k] & UINT32_C(0x7FFFFFFF);
        ab[k] = v < lim_bits ? v : lim_bits;
    }
    memcpy(fb, ab, m * sizeof *fb);
    lin_index(nb, u, fb, scale, m);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_KERNELS 1

/* The AVX-512 kernel finds the log bin without a table (a gather costs more than the whole
 * rest on CPUs with the gather-data-sampling mitigation): y = 4 log10|x| + 120, whose floor is
 * the log bin j, from the exponent and a degree-5 polynomial for 4 log10 of the mantissa
 * (reduced to [sqrt(1/2), sqrt(2))). Its error is below 7e-5 of a bin and the float rounding
 * of y adds less than 5e-5 (|y| < 300); every entry whose y lies within AMBIG = 2^-10 of an
 * integer, and every NaN and Inf, is binned again by the exact table, so the result is the
 * table's for every float (checked over all 2^31 magnitudes: tests/test_hist.c). */
#define AMBIG 0x1p-10f
/* 4 log10(1 + t) / t on [-0.293, 0.415] (Chebyshev fit), evaluated as Estrin's pairs: the
 * dependency chain bounds this loop */
static const float log_poly[5] = {0x1.bcb4dep+0f, -0x1.bc5d78p-1f, 0x1.2adfa8p-1f, -0x1.dced18p-2f,
                                  0x1.379a62p-2f};
#define Y_SCALE 0x1.344136p+0f /* 4 log10(2) */
#define Y_OFFSET -32.9232368f  /* 120 - 127 * 4 log10(2): y of the exponent field */

/* Re-bins, by the table, the lanes of the 16 entries at x whose bit is set in amb. */
static void rebin_lanes(uint32_t *lb, const float *x, unsigned amb)
{
    while (amb) {
        int i = __builtin_ctz(amb);
        lb[i] = log_bin(bits_of(x[i]) & UINT32_C(0x7FFFFFFF));
        amb &= amb - 1;
    }
}

/* AVX2: the log bins by the table (measured on an Ice Lake: the polynomial on 8 lanes was no
 * faster than the table, 1.97-2.31 against 1.63-2.08 ns an entry, and a gather slower still),
 * the linear bins 8 entries at a time. */
__attribute__((target("avx2"))) static void index_avx2(uint32_t *lb, uint32_t *nb, const float *x,
                                                       size_t m, float scale, float lim)
{
    if (!nb) {
        index_scalar(lb, NULL, x, m, scale, lim);
        return;
    }
    const __m256i absm = _mm256_set1_epi32(0x7FFFFFFF), zero = _mm256_setzero_si256();
    const __m256i infb = _mm256_set1_epi32((int)INF_BITS), mid = _mm256_set1_epi32(32);
    const __m256i top = _mm256_set1_epi32(63), special = _mm256_set1_epi32(GS_HIST_NLIN);
    const __m256 vs = _mm256_set1_ps(scale), hi = _mm256_set1_ps(lim), lo = _mm256_set1_ps(-lim);
    size_t k = 0;
    for (; k + 8 <= m; k += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(x + k));
        __m256i u = _mm256_and_si256(v, absm);
        uint32_t ub[8];
        _mm256_storeu_si256((__m256i *)(void *)ub, u);
        for (int i = 0; i < 8; i++)
            lb[k + (size_t)i] = log_bin(ub[i]);
        __m256 f = _mm256_min_ps(_mm256_max_ps(_mm256_castsi256_ps(v), lo), hi);
        __m256i q =
            _mm256_add_epi32(_mm256_cvttps_epi32(_mm256_floor_ps(_mm256_mul_ps(f, vs))), mid);
        q = _mm256_min_epi32(_mm256_max_epi32(q, zero), top);
        __m256i sp = _mm256_cmpeq_epi32(_mm256_and_si256(u, infb), infb);
        q = _mm256_blendv_epi8(q, special, sp);
        _mm256_storeu_si256((__m256i *)(void *)(nb + k), q);
    }
    index_scalar(lb + k, nb + k, x + k, m - k, scale, lim);
}

/* 16 entries at a time; floor by the conversion's rounding mode (a constant expression). */
#define ROUND_DOWN (_MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
__attribute__((target("avx512f"))) static void
index_avx512(uint32_t *lb, uint32_t *nb, const float *x, size_t m, float scale, float lim)
{
    const __m512i absm = _mm512_set1_epi32(0x7FFFFFFF), mant = _mm512_set1_epi32(0x007FFFFF);
    const __m512i onebits = _mm512_set1_epi32(0x3F800000), one = _mm512_set1_epi32(1);
    const __m512i zero = _mm512_setzero_si512(), lastb = _mm512_set1_epi32(GS_HIST_NLOG - 1);
    const __m512i infb = _mm512_set1_epi32((int)INF_BITS);
    const __m512 sqrt2 = _mm512_set1_ps(1.41421356f), half = _mm512_set1_ps(0.5f);
    const __m512 onef = _mm512_set1_ps(1.0f), ys = _mm512_set1_ps(Y_SCALE);
    const __m512 yo = _mm512_set1_ps(Y_OFFSET), eps = _mm512_set1_ps(AMBIG);
    const __m512 c0 = _mm512_set1_ps(log_poly[0]), c1 = _mm512_set1_ps(log_poly[1]);
    const __m512 c2 = _mm512_set1_ps(log_poly[2]), c3 = _mm512_set1_ps(log_poly[3]);
    const __m512 c4 = _mm512_set1_ps(log_poly[4]);
    const __m512i mid = _mm512_set1_epi32(32), top = _mm512_set1_epi32(63);
    const __m512i special = _mm512_set1_epi32(GS_HIST_NLIN);
    const __m512 vs = _mm512_set1_ps(scale), hi = _mm512_set1_ps(lim), lo = _mm512_set1_ps(-lim);
    size_t k = 0;
    for (; k + 16 <= m; k += 16) {
        __m512i v = _mm512_loadu_si512((const void *)(x + k));
        __m512i u = _mm512_and_si512(v, absm);
        __m512i ex = _mm512_srli_epi32(u, 23);
        __m512 mf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(u, mant), onebits));
        __mmask16 big = _mm512_cmp_ps_mask(mf, sqrt2, _CMP_GE_OQ);
        mf = _mm512_mask_mul_ps(mf, big, mf, half);
        ex = _mm512_mask_add_epi32(ex, big, ex, one);
        __m512 t = _mm512_sub_ps(mf, onef), t2 = _mm512_mul_ps(t, t);
        __m512 q =
            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, _mm512_mul_ps(c1, t)),
                                        _mm512_mul_ps(t2, _mm512_add_ps(c2, _mm512_mul_ps(c3, t)))),
                          _mm512_mul_ps(_mm512_mul_ps(t2, t2), c4));
        __m512 y = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ex), ys), yo),
                                 _mm512_mul_ps(q, t));
        __m512i blo = _mm512_cvt_roundps_epi32(_mm512_sub_ps(y, eps), ROUND_DOWN);
        __m512i b = _mm512_cvt_roundps_epi32(_mm512_add_ps(y, eps), ROUND_DOWN);
        __mmask16 amb = _mm512_cmpneq_epi32_mask(blo, b);
        b = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(b, zero), lastb), one);
        __mmask16 nz = _mm512_test_epi32_mask(u, u);
        b = _mm512_maskz_mov_epi32(nz, b);
        _mm512_storeu_si512((void *)(lb + k), b);
        unsigned am = (unsigned)((amb & nz) | _mm512_cmpge_epu32_mask(u, infb));
        if (__builtin_expect(am != 0, 0))
            rebin_lanes(lb + k, x + k, am);
        if (!nb)
            continue;
        __m512 f = _mm512_min_ps(_mm512_max_ps(_mm512_castsi512_ps(v), lo), hi);
        __m512i qn =
            _mm512_add_epi32(_mm512_cvt_roundps_epi32(_mm512_mul_ps(f, vs), ROUND_DOWN), mid);
        qn = _mm512_min_epi32(_mm512_max_epi32(qn, zero), top);
        __mmask16 sp = _mm512_cmpeq_epi32_mask(_mm512_and_si512(u, infb), infb);
        qn = _mm512_mask_mov_epi32(qn, sp, special);
        _mm512_storeu_si512((void *)(nb + k), qn);
    }
    index_scalar(lb + k, nb ? nb + k : NULL, x + k, m - k, scale, lim);
}
#endif

static void index_chunk(uint32_t *lb, uint32_t *nb, const float *x, size_t m, float scale,
                        float lim)
{
#ifdef HAVE_X86_KERNELS
    if (isa_now == 2) {
        index_avx512(lb, nb, x, m, scale, lim);
        return;
    }
    if (isa_now == 1) {
        index_avx2(lb, nb, x, m, scale, lim);
        return;
    }
#endif
    index_scalar(lb, nb, x, m, scale, lim);
}

/* Adds the m indices at ix to four interleaved count arrays of stride w (an entry's array
 * is its position mod 4), written out so that the increments are independent: a run of one
 * bin then waits on four counters, not one. (Eight arrays measured no faster.) */
static void count4(uint32_t *c, size_t w, const uint32_t *ix, size_t m)
{
    uint32_t *c1 = c + w, *c2 = c + 2 * w, *c3 = c + 3 * w;
    size_t k = 0;
    for (; k + 4 <= m; k += 4) {
        c[ix[k]]++;
        c1[ix[k + 1]]++;
        c2[ix[k + 2]]++;
        c3[ix[k + 3]]++;
    }
    for (; k < m; k++)
        c[ix[k]]++;
}

/* Zeroes the counts, keeping the linear bins' scale. */
static void acc_reset(GsHistAcc *a)
{
    memset(a->cnt, 0, sizeof a->cnt);
    if (a->scale > 0.0f)
        memset(a->lcnt, 0, sizeof a->lcnt);
    a->neg_inf = 0;
}

void gs_hist_acc_init(GsHistAcc *a, double lin_range)
{
    pthread_once(&tables_once, build_tables);
    a->scale = a->lim = 0.0f;
    if (lin_range > 0) {
        /* x * (32 / A) in float: exact for a power-of-two A (the activation ranges 1 and 4) */
        a->scale = (float)((double)(GS_HIST_NLIN / 2) / lin_range);
        a->lim = (float)(2.0 * lin_range);
    }
    acc_reset(a);
}

static uint32_t inf_count(const GsHistAcc *a)
{
    uint32_t s = 0;
    for (int r = 0; r < GS_HIST_ACC_WAYS; r++)
        s += a->cnt[r * IB + IB_INF];
    return s;
}

void gs_hist_acc_add(GsHistAcc *a, const float *x, size_t n)
{
    assert(a && (x || n == 0));
    int lin = a->scale > 0.0f;
    uint32_t inf_before = inf_count(a);
    /* the indices of a chunk come from one vector pass over it; then they are counted */
    uint32_t lb[CHUNK], nb[CHUNK];
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t m = n - at < CHUNK ? n - at : CHUNK;
        index_chunk(lb, lin ? nb : NULL, x + at, m, a->scale, a->lim);
        count4(a->cnt, IB, lb, m);
        if (lin)
            count4(a->lcnt, GS_HIST_NLIN + 1, nb, m);
    }
    if (inf_count(a) != inf_before) /* rare: split the infinities by sign */
        for (size_t k = 0; k < n; k++)
            a->neg_inf += bits_of(x[k]) == UINT32_C(0xFF800000);
}

void gs_hist_acc_flush(GsHistAcc *a, float *bins)
{
    assert(a && bins);
    for (size_t b = 0; b < IB; b++) {
        uint32_t s = 0;
        for (int r = 0; r < GS_HIST_ACC_WAYS; r++)
            s += a->cnt[r * IB + b];
        if (b == IB_INF)
            s -= a->neg_inf;
        bins[out_bin[b]] += (float)s;
    }
    bins[GS_HIST_NINF] += (float)a->neg_inf;
    if (a->scale > 0.0f)
        for (size_t j = 0; j < GS_HIST_NLIN; j++) {
            uint32_t s = 0;
            for (int r = 0; r < GS_HIST_ACC_WAYS; r++)
                s += a->lcnt[r * (GS_HIST_NLIN + 1) + j];
            bins[GS_HIST_LIN0 + j] += (float)s;
        }
}

void gs_hist_add(float *bins, const float *x, size_t n, double lin_range)
{
    assert(bins && (x || n == 0));
    GsHistAcc a;
    gs_hist_acc_init(&a, lin_range);
    gs_hist_acc_add(&a, x, n);
    gs_hist_acc_flush(&a, bins);
}

int gs_hist_parse_kinds(const char *s, const char **bad)
{
    unsigned mask = 0;
    const char *p = s;
    if (!strcmp(s, "") || !strcmp(s, "none") || !strcmp(s, "off"))
        return 0;
    if (!strcmp(s, "all"))
        return (int)GS_HIST_ALL;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int k = -1;
        for (int j = 0; j < GS_HIST_NKINDS; j++)
            if (strlen(kind_names[j]) == len && !strncmp(p, kind_names[j], len))
                k = j;
        if (k < 0 || (mask & (1u << k))) {
            if (bad)
                *bad = p;
            return -1;
        }
        mask |= 1u << k;
        if (!e)
            break;
        p = e + 1;
    }
    return (int)mask;
}

void gs_hist_format_kinds(unsigned kinds, char *buf, size_t n)
{
    assert(n > 0);
    size_t at = 0;
    buf[0] = '\0';
    for (int k = 0; k < GS_HIST_NKINDS; k++) {
        if (!(kinds & (1u << k)))
            continue;
        int w = snprintf(buf + at, n - at, "%s%s", at ? "," : "", kind_names[k]);
        if (w < 0 || (size_t)w >= n - at)
            return;
        at += (size_t)w;
    }
    if (!at)
        snprintf(buf, n, "none");
}
