/* Optimizers as PyTorch implements them (torch.optim, default hyper-parameters),
 * learning-rate schedules and clipping. */
#include "gradscope/optim.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/reduce.h"
#include "util/simd.h"

#define RMS_ALPHA 0.99f
#define RMS_EPS 1e-8f
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8f

/* The update pass of every rule: UPDATE computes the float change d of entry j from g[j],
 * p[j] (and the rule's state m[j], v[j]); the pass stores delta[j] = d, applies p[j] += d
 * and accumulates the record in the same loop: ||p||^2 (before the step), ||g||^2, max |g|
 * and ||delta||^2, entry j into lane j % GS_LANES and the tail of n % GS_LANES entries into
 * lane 0 last, so every sum equals util/reduce.c's gs_sumsq bit for bit. The three sums run
 * side by side: each lane's additions form one dependent chain, and one loop keeps the three
 * chains in flight together. The loop runs in blocks of HIST_BLOCK entries (a multiple of
 * GS_LANES, so the lanes are those of one loop); the histograms count each block of g and
 * delta right after it, while it is in L1. */
#define HIST_BLOCK 1024
#define UPDATE_ENTRY(UPDATE, KEEP, k, index)                                                       \
    do {                                                                                           \
        const size_t j = (index);                                                                  \
        float d, a = fabsf(g[j]);                                                                  \
        pq[k] += (double)p[j] * (double)p[j];                                                      \
        UPDATE;                                                                                    \
        if (KEEP)                                                                                  \
            delta[j] = d;                                                                          \
        p[j] += d;                                                                                 \
        gq[k] += (double)g[j] * (double)g[j];                                                      \
        gm[k] = a > gm[k] ? a : gm[k];                                                             \
        dq[k] += (double)d * (double)d;                                                            \
    } while (0)
#define UPDATE_PASS(UPDATE, KEEP)                                                                  \
    do {                                                                                           \
        double gq[GS_LANES] = {0}, pq[GS_LANES] = {0};                                             \
        double dq[GS_LANES] = {0};                                                                 \
        float gm[GS_LANES] = {0};                                                                  \
        const size_t full = n - n % GS_LANES;                                                      \
        for (size_t c0 = 0; c0 < full; c0 += HIST_BLOCK) {                                         \
            const size_t c1 = full - c0 > HIST_BLOCK ? c0 + HIST_BLOCK : full;                     \
            for (size_t i = c0; i < c1; i += GS_LANES)                                             \
                for (int k = 0; k < GS_LANES; k++)                                                 \
                    UPDATE_ENTRY(UPDATE, KEEP, k, i + k);                                          \
            if (hist)                                                                              \
                count_block(hist, g, delta, c0, c1 - c0);                                          \
        }                                                                                          \
        for (size_t t = full; t < n; t++)                                                          \
            UPDATE_ENTRY(UPDATE, KEEP, 0, t);                                                      \
        if (hist)                                                                                  \
            count_block(hist, g, delta, full, n - full);                                           \
        rec->grad = gs_vec_stats_finish(gs_lanes_fold(gq), gs_lanes_max(gm), g, n);                \
        rec->param_sumsq = gs_lanes_fold(pq);                                                      \
        rec->update_sumsq = gs_lanes_fold(dq);                                                     \
    } while (0)

/* The finite-only pass (o->finite_only): the same update, and instead of the sums one
 * unsigned max per lane of |g|'s bits (sign cleared): every entry is finite exactly when
 * the max is below Inf's bits, 0x7f800000 (NaN's are above). Two operations per vector of
 * entries instead of the full pass's three double sums and max. */
#define FINITE_ENTRY(UPDATE, KEEP, k, index)                                                       \
    do {                                                                                           \
        const size_t j = (index);                                                                  \
        float d;                                                                                   \
        uint32_t b;                                                                                \
        UPDATE;                                                                                    \
        if (KEEP)                                                                                  \
            delta[j] = d;                                                                          \
        p[j] += d;                                                                                 \
        memcpy(&b, &g[j], sizeof b);                                                               \
        b &= 0x7fffffffu;                                                                          \
        gb[k] = b > gb[k] ? b : gb[k];                                                             \
    } while (0)
#define FINITE_PASS(UPDATE, KEEP)                                                                  \
    do {                                                                                           \
        uint32_t gb[GS_LANES] = {0}, top = 0;                                                      \
        const size_t full = n - n % GS_LANES;                                                      \
        for (size_t i = 0; i < full; i += GS_LANES)                                                \
            for (int k = 0; k < GS_LANES; k++)                                                     \
                FINITE_ENTRY(UPDATE, KEEP, k, i + k);                                              \
        for (size_t t = full; t < n; t++)                                                          \
            FINITE_ENTRY(UPDATE, KEEP, 0, t);                                                      \
        for (int k = 0; k < GS_LANES; k++)                                                         \
            top = gb[k] > top ? gb[k] : top;                                                       \
        rec->grad = gs_vec_stats_finish(top < 0x7f800000u ? 0.0 : (double)INFINITY, 0.0f, g, n);   \
        rec->param_sumsq = rec->update_sumsq = 0.0;                                                \
    } while (0)
/* The rule's pass, full or finite-only as o asks, storing delta or not (a constant KEEP in
 * each copy of the loop, so the store is not a test per entry). Not storing it saves a
 * stream of writes as large as the parameters: 50 / 256 / 64 recording every step 17.8-18.0
 * -> 17.2-17.4 ms per step, 50 / 1024 / 64 -2% (Sapphire Rapids, OpenBLAS SkylakeX; the 13 MB
 * and 200 MB of weights do not fit in L2); width 64 unchanged. */
#define RULE_PASS(UPDATE)                                                                          \
    do {                                                                                           \
        if (o->finite_only && delta)                                                               \
            FINITE_PASS(UPDATE, 1);                                                                \
        else if (o->finite_only)                                                                   \
            FINITE_PASS(UPDATE, 0);                                                                \
        else if (delta)                                                                            \
            UPDATE_PASS(UPDATE, 1);                                                                \
        else                                                                                       \
            UPDATE_PASS(UPDATE, 0);                                                                \
    } while (0)

static void count_block(const GsUpdateHist *h, const float *g, const float *delta, size_t at,
                        size_t len)
{
    if (h->grad)
        gs_hist_acc_add(h->grad, g + at, len);
    if (h->update)
        gs_hist_acc_add(h->update, delta + at, len);
}

GS_SIMD_CLONES
void gs_optim_step(float *restrict delta, float *restrict p, const float *restrict g,
                   float *restrict m, float *restrict v, size_t n, const GsOptStep *o,
                   GsUpdateRecord *rec, const GsUpdateHist *hist)
{
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mu = (float)o->momentum;
    const float l2 = o->kind == GS_OPT_ADAMW ? 0.0f : wd;
    assert(!o->finite_only || !hist);
    assert(!hist || !hist->update || delta); /* the update histogram counts delta */
    switch (o->kind) {
    case GS_OPT_SGD: RULE_PASS(d = -lr * (g[j] + l2 * p[j])); break;
    case GS_OPT_MOMENTUM:
        /* buf = mu*buf + g (buf starts at 0, so step 1 gives buf = g as PyTorch). */
        RULE_PASS({
            float gi = g[j] + l2 * p[j];
            m[j] = mu * m[j] + gi;
            d = -lr * m[j];
        });
        break;
    case GS_OPT_NESTEROV:
        RULE_PASS({
            float gi = g[j] + l2 * p[j];
            m[j] = mu * m[j] + gi;
            d = -lr * (gi + mu * m[j]);
        });
        break;
    case GS_OPT_RMSPROP:
        RULE_PASS({
            float gi = g[j] + l2 * p[j];
            v[j] = RMS_ALPHA * v[j] + (1.0f - RMS_ALPHA) * gi * gi;
            d = -lr * gi / (sqrtf(v[j]) + RMS_EPS);
        });
        break;
    case GS_OPT_ADAM:
    case GS_OPT_ADAMW: {
        const float bc1 = (float)(1.0 - pow(ADAM_B1, (double)o->t));
        const float rbc2 = (float)(1.0 / sqrt(1.0 - pow(ADAM_B2, (double)o->t)));
        const float b1 = (float)ADAM_B1, b2 = (float)ADAM_B2;
        const float step = lr / bc1;
        /* AdamW decays the weights directly: p <- p - lr*wd*p, before the Adam step. */
        const float decay = o->kind == GS_OPT_ADAMW ? lr * wd : 0.0f;
        RULE_PASS({
            float gi = g[j] + l2 * p[j];
            m[j] = b1 * m[j] + (1.0f - b1) * gi;
            v[j] = b2 * v[j] + (1.0f - b2) * gi * gi;
            float denom = sqrtf(v[j]) * rbc2 + ADAM_EPS;
            d = -decay * p[j] - step * m[j] / denom;
        });
        break;
    }
    }
}
#undef RULE_PASS
#undef FINITE_PASS
#undef FINITE_ENTRY
#undef UPDATE_PASS
#undef UPDATE_ENTRY
#undef HIST_BLOCK

double gs_schedule_lr(const GsSpec *spec, long step)
{
    double lr = spec->lr;
    if (step < spec->warmup)
        return lr * (double)(step + 1) / (double)(spec->warmup + 1);
    long t = step - spec->warmup, span = spec->steps - spec->warmup;
    switch (spec->schedule) {
    case GS_SCHED_CONSTANT: break;
    case GS_SCHED_STEP: lr *= pow(spec->sched_gamma, (double)(t / spec->sched_every)); break;
    case GS_SCHED_EXP: lr *= pow(spec->sched_gamma, (double)t); break;
    case GS_SCHED_COSINE:
        if (span > 0)
            lr *= 0.5 * (1.0 + cos(3.14159265358979323846 * (double)t / (double)span));
        break;
    }
    return lr;
}

double gs_l2(const float *g, size_t n)
{
    return sqrt(gs_sumsq(g, n));
}

int gs_clip_norm(float *g, size_t n, double norm, double max_norm)
{
    double coef = max_norm / (norm + 1e-6);
    if (!(coef < 1.0) && !isnan(coef))
        return 0;
    const float c = (float)coef;
    for (size_t i = 0; i < n; i++)
        g[i] *= c;
    return 1;
}

size_t gs_clip_value(float *g, size_t n, double v)
{
    const float hi = (float)v, lo = -(float)v;
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) {
        float x = g[i];
        float y = x > hi ? hi : (x < lo ? lo : x);
        changed += y != x && !isnan(x);
        g[i] = isnan(x) ? x : y;
    }
    return changed;
}
