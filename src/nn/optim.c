/* Optimizers as PyTorch implements them (torch.optim, default hyper-parameters),
 * learning-rate schedules and clipping. */
#include "gradscope/optim.h"

#include <math.h>
#include <stddef.h>

#include "util/reduce.h"
#include "util/simd.h"

#define RMS_ALPHA 0.99f
#define RMS_EPS 1e-8f
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8f

/* The update loop of every rule, in the lanes of util/reduce.c: UPDATE computes the float
 * change d of entry j from g[j], p[j] (and the rule's state m[j], v[j]); the loop writes
 * delta[j] = d, applies p[j] += d, and accumulates the record: ||g||^2, max |g|, ||p||^2 of
 * p before the step and ||delta||^2, each lane in double. */
#define UPDATE_LOOP(UPDATE)                                                                        \
    do {                                                                                           \
        double gq[GS_LANES] = {0, 0, 0, 0, 0, 0, 0, 0}, pq[GS_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};   \
        double dq[GS_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                                            \
        float gm[GS_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                                             \
        size_t i = 0;                                                                              \
        for (; i + GS_LANES <= n; i += GS_LANES)                                                   \
            for (int k = 0; k < GS_LANES; k++) {                                                   \
                const size_t j = i + k;                                                            \
                float d;                                                                           \
                UPDATE;                                                                            \
                ACCUMULATE(k, j, d);                                                               \
            }                                                                                      \
        for (; i < n; i++) {                                                                       \
            const size_t j = i;                                                                    \
            float d;                                                                               \
            UPDATE;                                                                                \
            ACCUMULATE(0, j, d);                                                                   \
        }                                                                                          \
        float mx = 0.0f;                                                                           \
        for (int k = 0; k < GS_LANES; k++)                                                         \
            mx = gm[k] > mx ? gm[k] : mx;                                                          \
        rec->grad = gs_vec_stats_finish(gs_lanes_fold(gq), mx, g, n);                              \
        rec->param_sumsq = gs_lanes_fold(pq);                                                      \
        rec->update_sumsq = gs_lanes_fold(dq);                                                     \
    } while (0)

#define ACCUMULATE(k, j, d)                                                                        \
    do {                                                                                           \
        float a_ = fabsf(g[j]);                                                                    \
        gq[k] += (double)g[j] * (double)g[j];                                                      \
        gm[k] = a_ > gm[k] ? a_ : gm[k];                                                           \
        pq[k] += (double)p[j] * (double)p[j];                                                      \
        dq[k] += (double)(d) * (double)(d);                                                        \
        delta[j] = (d);                                                                            \
        p[j] += (d);                                                                               \
    } while (0)

GS_SIMD_CLONES
void gs_optim_step(float *delta, float *p, const float *g, float *m, float *v, size_t n,
                   const GsOptStep *o, GsUpdateRecord *rec)
{
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mu = (float)o->momentum;
    const float l2 = o->kind == GS_OPT_ADAMW ? 0.0f : wd;
    switch (o->kind) {
    case GS_OPT_SGD: UPDATE_LOOP(d = -lr * (g[j] + l2 * p[j])); break;
    case GS_OPT_MOMENTUM:
        /* buf = mu*buf + g (buf starts at 0, so step 1 gives buf = g as PyTorch). */
        UPDATE_LOOP({
            float gi = g[j] + l2 * p[j];
            m[j] = mu * m[j] + gi;
            d = -lr * m[j];
        });
        break;
    case GS_OPT_NESTEROV:
        UPDATE_LOOP({
            float gi = g[j] + l2 * p[j];
            m[j] = mu * m[j] + gi;
            d = -lr * (gi + mu * m[j]);
        });
        break;
    case GS_OPT_RMSPROP:
        UPDATE_LOOP({
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
        UPDATE_LOOP({
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
#undef ACCUMULATE
#undef UPDATE_LOOP

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
