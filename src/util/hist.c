/* Fixed-bin histograms (DESIGN.md "Histograms"). The log bin of a float is found from its
 * bits: positive floats order like their bit patterns, so the edges become integer
 * thresholds. A table indexed by the top 11 bits of |x| (exponent and 3 mantissa bits) gives
 * the bin of the smallest value of that cell; a cell is far narrower than a quarter decade,
 * so it holds at most one edge, and one integer compare with that bin's upper threshold
 * settles the rest. Zeros, NaN and +Inf fall out of the same table; the sign of an Inf is
 * looked at only when some Inf was seen. */
#include "gradscope/hist.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/simd.h"

#define NEVER UINT32_C(0xFFFFFFFF)
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

/* Bin tables, built once. */
#define CELL_SHIFT 20 /* cells of 2^20 bit patterns: |x| within a factor 1 + 1/8 */
#define N_CELLS (1u << (31 - CELL_SHIFT))
static uint8_t cell_bin[N_CELLS];      /* bin of the smallest |x| of cell (bits >> 20) */
static uint32_t up_bits[GS_HIST_LIN0]; /* |x| bits at or above this leave bin b ... */
static uint8_t up_bin[GS_HIST_LIN0];   /* ... for this bin */
static int up_step[GS_HIST_LIN0];      /* up_bin[b] - b */
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

/* The exact bin of |x| bits u (sign cleared), by the thresholds. */
static unsigned slow_bin(uint32_t u, const uint32_t *eb)
{
    if (u == 0)
        return GS_HIST_ZERO;
    if (u > INF_BITS)
        return GS_HIST_NAN;
    if (u == INF_BITS)
        return GS_HIST_PINF;
    unsigned b = GS_HIST_LOG0;
    for (size_t j = 1; j < GS_HIST_NLOG; j++)
        b += u >= eb[j];
    return b;
}

static void build_tables(void)
{
    uint32_t eb[GS_HIST_NLOG + 1];
    for (size_t j = 0; j <= GS_HIST_NLOG; j++)
        eb[j] = edge_bits(j);
    for (size_t b = 0; b < GS_HIST_LIN0; b++) {
        up_bits[b] = NEVER;
        up_bin[b] = (uint8_t)b;
    }
    up_bits[GS_HIST_ZERO] = 1; /* cell 0 starts at zero; the rest of it is denormal */
    up_bin[GS_HIST_ZERO] = GS_HIST_LOG0;
    up_bits[GS_HIST_PINF] = INF_BITS + 1; /* cell of Inf: the rest of it is NaN */
    up_bin[GS_HIST_PINF] = GS_HIST_NAN;
    for (size_t j = 0; j + 1 < GS_HIST_NLOG; j++) {
        up_bits[GS_HIST_LOG0 + j] = eb[j + 1];
        up_bin[GS_HIST_LOG0 + j] = (uint8_t)(GS_HIST_LOG0 + j + 1);
    }
    const uint32_t last = (UINT32_C(1) << CELL_SHIFT) - 1;
    for (size_t b = 0; b < GS_HIST_LIN0; b++)
        up_step[b] = (int)up_bin[b] - (int)b;
    for (uint32_t c = 0; c < N_CELLS; c++) {
        cell_bin[c] = (uint8_t)slow_bin(c << CELL_SHIFT, eb);
        /* at most one threshold inside a cell (the table's premise) */
        uint32_t hi = (c << CELL_SHIFT) | last;
        assert(slow_bin(hi, eb) ==
               (hi >= up_bits[cell_bin[c]] ? up_bin[cell_bin[c]] : cell_bin[c]));
    }
}

/* Linear bin (0..63, or 64 for NaN/Inf) of m values given as bits ub and as |x| clamped to 2A
 * fb. floor(t) comes from |t| (truncation is floor there): exact at every edge, a tiny negative
 * t included (it is below 0, so in bin 31). Compiled without trapping math so that the compare
 * and the conversion may be vectorized (no result changes: nothing here reads FP flags). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-trapping-math")))
#endif
static void
lin_index(int32_t *idx, const uint32_t *ub, const float *fb, float scale, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        float mg = fb[k] * scale;
        int32_t mag = (int32_t)mg;
        int32_t frac = (float)mag < mg;
        int32_t neg = (int32_t)(ub[k] >> 31);
        int32_t q = 32 + mag - neg * (2 * mag + frac);
        q = q < 0 ? 0 : q;
        q = q > 63 ? 63 : q;
        idx[k] = (ub[k] & INF_BITS) == INF_BITS ? GS_HIST_NLIN : q;
    }
}

GS_SIMD_CLONES
void gs_hist_add(float *bins, const float *x, size_t n, double lin_range)
{
    assert(bins && (x || n == 0));
    pthread_once(&tables_once, build_tables);
    /* four interleaved count arrays, so runs of one bin do not serialize on one counter */
    uint32_t cnt[4][GS_HIST_LIN0];
    memset(cnt, 0, sizeof cnt);
    size_t i = 0;
    /* branch-free: the step to the next bin is masked by the compare (a branch here would be
     * mispredicted for every entry near an edge) */
#define BIN_OF(u)                                                                                  \
    (cell_bin[(u) >> CELL_SHIFT] +                                                                 \
     (up_step[cell_bin[(u) >> CELL_SHIFT]] & -(int)((u) >= up_bits[cell_bin[(u) >> CELL_SHIFT]])))
    for (; i + 4 <= n; i += 4) {
        uint32_t u[4];
        memcpy(u, x + i, sizeof u);
        for (int k = 0; k < 4; k++)
            u[k] &= UINT32_C(0x7FFFFFFF);
        cnt[0][BIN_OF(u[0])]++;
        cnt[1][BIN_OF(u[1])]++;
        cnt[2][BIN_OF(u[2])]++;
        cnt[3][BIN_OF(u[3])]++;
    }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        u &= UINT32_C(0x7FFFFFFF);
        cnt[0][BIN_OF(u)]++;
    }
#undef BIN_OF
    for (size_t b = 0; b < GS_HIST_LIN0; b++)
        cnt[0][b] += cnt[1][b] + cnt[2][b] + cnt[3][b];
    if (cnt[0][GS_HIST_PINF]) { /* rare: split the infinities by sign */
        uint32_t neg = 0;
        for (size_t k = 0; k < n; k++)
            neg += bits_of(x[k]) == UINT32_C(0xFF800000);
        cnt[0][GS_HIST_PINF] -= neg;
        cnt[0][GS_HIST_NINF] += neg;
    }
    for (size_t b = 0; b < GS_HIST_LIN0; b++)
        bins[b] += (float)cnt[0][b];
    if (!(lin_range > 0))
        return;
    /* x * (32 / A) in float: exact for a power-of-two A (the activation ranges 1 and 4) */
    const float scale = (float)((double)(GS_HIST_NLIN / 2) / lin_range);
    /* chunks: a branch-free (vectorizable) pass computes each bin index, 64 for NaN/Inf; a
     * second pass counts them into four interleaved arrays */
    uint32_t lc4[4][GS_HIST_NLIN + 1];
    memset(lc4, 0, sizeof lc4);
    /* |x| is clamped to 2A in the bit domain (positive floats order like their bits), so the
     * float loop needs no compare; NaN/Inf are masked by their bits at the end */
    float lim_f = (float)(2.0 * lin_range);
    uint32_t lim;
    memcpy(&lim, &lim_f, sizeof lim);
    int32_t idx[256];
    uint32_t ub[256], ab[256];
    float fb[256];
    for (size_t at = 0; at < n; at += 256) {
        size_t m = n - at < 256 ? n - at : 256;
        memcpy(ub, x + at, m * sizeof *ub);
        for (size_t k = 0; k < m; k++) {
            uint32_t v = ub[k] & UINT32_C(0x7FFFFFFF);
            ab[k] = v < lim ? v : lim;
        }
        memcpy(fb, ab, m * sizeof *fb);
        lin_index(idx, ub, fb, scale, m);
        size_t k = 0;
        for (; k + 4 <= m; k += 4) {
            lc4[0][idx[k]]++;
            lc4[1][idx[k + 1]]++;
            lc4[2][idx[k + 2]]++;
            lc4[3][idx[k + 3]]++;
        }
        for (; k < m; k++)
            lc4[0][idx[k]]++;
    }
    uint32_t lc[GS_HIST_NLIN];
    for (size_t j = 0; j < GS_HIST_NLIN; j++)
        lc[j] = lc4[0][j] + lc4[1][j] + lc4[2][j] + lc4[3][j];
    for (size_t b = 0; b < GS_HIST_NLIN; b++)
        bins[GS_HIST_LIN0 + b] += (float)lc[b];
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
