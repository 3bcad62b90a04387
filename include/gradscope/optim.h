/* Optimizer update rules (PyTorch's formulas and defaults), learning-rate schedules and
 * gradient clipping. Pure functions over flat arrays; the net owns the arrays. */
#ifndef GS_OPTIM_H
#define GS_OPTIM_H

#include <stddef.h>

#include "gradscope/hist.h"
#include "gradscope/spec.h"
#include "gradscope/vecstats.h"

/* Hyper-parameters of one update. */
typedef struct {
    GsOptKind kind;
    double lr;           /* learning rate of this step (after the schedule) */
    double momentum;     /* momentum/nesterov beta */
    double weight_decay; /* L2 (sgd, momentum, rmsprop, adam) or decoupled (adamw) */
    long t;              /* 1-based step count, for Adam's bias correction */
    int finite_only;     /* 1: the pass records only whether the gradient is finite (below) */
} GsOptStep;

/* What an update pass measured of the tensor it updated (the reduction record): the
 * statistics of the gradient it used, ||p||^2 of the parameters before the step and
 * ||delta||^2 of the change; every sum in double, in util/reduce.c's lanes, so each equals
 * gs_sumsq of the same array bit for bit. */
typedef struct {
    GsVecStats grad;
    double param_sumsq, update_sumsq;
} GsUpdateRecord;

/* Histograms an update pass counts as it goes (hist.h), each block of the tensor while it is
 * in cache: the gradient it used and the change it made. A NULL member counts nothing. */
typedef struct {
    GsHistAcc *grad, *update;
} GsUpdateHist;

/* One optimizer step over n parameters p with gradients g and state m, v (m, v updated; v
 * unused by sgd/momentum/nesterov, both unused by sgd): writes the change into delta (unless
 * delta is NULL: then the change is applied without being kept, and hist->update must be NULL) and
 * applies it, p[i] += delta[i], in the same pass, which also fills *rec (the probe reads the
 * record instead of the arrays) and, with hist not NULL, counts g and delta into its
 * histograms. With o->finite_only (for a step whose record only has to say whether the
 * gradient is finite: a step the recorder does not record) the pass keeps no sums: rec->grad
 * has sumsq 0 when every entry of g is finite, else +Inf with the non-finite entries counted,
 * maxabs 0, and param_sumsq = update_sumsq = 0; hist must then be NULL. The parameters,
 * state and delta are the same bit for bit either way. The arrays must not overlap. Cannot
 * fail. */
void gs_optim_step(float *delta, float *p, const float *g, float *m, float *v, size_t n,
                   const GsOptStep *o, GsUpdateRecord *rec, const GsUpdateHist *hist);
/* Learning rate at 0-based step `step` of `steps` for the spec's base lr, warm-up and
 * schedule. Warm-up: lr * (step + 1) / (warmup + 1) for step < warmup; the schedule then
 * runs on t = step - warmup over steps - warmup steps. */
double gs_schedule_lr(const GsSpec *spec, long step);

/* L2 norm of g[0..n) in double (NaN/Inf propagate). */
double gs_l2(const float *g, size_t n);
/* Scales g by max_norm / (norm + 1e-6) when norm > max_norm (PyTorch clip_grad_norm_).
 * Returns 1 when it scaled. A non-finite norm scales by a non-finite factor, as PyTorch. */
int gs_clip_norm(float *g, size_t n, double norm, double max_norm);
/* Clamps every g[i] to [-v, v]; returns the number of entries changed. NaN stays NaN. */
size_t gs_clip_value(float *g, size_t n, double v);

#endif
