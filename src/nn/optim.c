/* Optimizers as PyTorch implements them (torch.optim, default hyper-parameters),
 * learning-rate schedules and clipping. */
#include "gradscope/optim.h"

#include <math.h>

#include "util/reduce.h"
#include "util/simd.h"

#define RMS_ALPHA 0.99f
#define RMS_EPS 1e-8f
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8f

GS_SIMD_CLONES
void gs_optim_step(float *delta, float *p, const float *g, float *m, float *v, size_t n,
                   const GsOptStep *o)
{
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mu = (float)o->momentum;
    const float l2 = o->kind == GS_OPT_ADAMW ? 0.0f : wd;
    switch (o->kind) {
    case GS_OPT_SGD:
        for (size_t i = 0; i < n; i++) {
            delta[i] = -lr * (g[i] + l2 * p[i]);
            p[i] += delta[i];
        }
        break;
    case GS_OPT_MOMENTUM:
        /* buf = mu*buf + g (buf starts at 0, so step 1 gives buf = g as PyTorch). */
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + l2 * p[i];
            m[i] = mu * m[i] + gi;
            delta[i] = -lr * m[i];
            p[i] += delta[i];
        }
        break;
    case GS_OPT_NESTEROV:
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + l2 * p[i];
            m[i] = mu * m[i] + gi;
            delta[i] = -lr * (gi + mu * m[i]);
            p[i] += delta[i];
        }
        break;
    case GS_OPT_RMSPROP:
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + l2 * p[i];
            v[i] = RMS_ALPHA * v[i] + (1.0f - RMS_ALPHA) * gi * gi;
            delta[i] = -lr * gi / (sqrtf(v[i]) + RMS_EPS);
            p[i] += delta[i];
        }
        break;
    case GS_OPT_ADAM:
    case GS_OPT_ADAMW: {
        const float bc1 = (float)(1.0 - pow(ADAM_B1, (double)o->t));
        const float rbc2 = (float)(1.0 / sqrt(1.0 - pow(ADAM_B2, (double)o->t)));
        const float b1 = (float)ADAM_B1, b2 = (float)ADAM_B2;
        const float step = lr / bc1;
        /* AdamW decays the weights directly: p <- p - lr*wd*p, before the Adam step. */
        const float decay = o->kind == GS_OPT_ADAMW ? lr * wd : 0.0f;
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + l2 * p[i];
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            float denom = sqrtf(v[i]) * rbc2 + ADAM_EPS;
            delta[i] = -decay * p[i] - step * m[i] / denom;
            p[i] += delta[i];
        }
        break;
    }
    }
}

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
