/* Signal-propagation theory (THEORY.md): the predicted per-layer gain of backpropagated
 * gradients at initialization, from the setup alone, with no training. */
#ifndef GRADSCOPE_THEORY_H
#define GRADSCOPE_THEORY_H

#include <stddef.h>

#include "gradscope/act.h"
#include "gradscope/spec.h"
#include "gradscope/status.h"

/* Which regime the whole network is in at initialization. */
typedef enum {
    GS_REGIME_ORDERED = 0, /* gradients shrink toward the input: vanishing */
    GS_REGIME_CRITICAL,    /* roughly preserved */
    GS_REGIME_CHAOTIC      /* gradients grow toward the input: exploding */
} GsRegime;

/* Prediction for one hidden layer l = 1..depth. With G_l = sum over the batch of
 * ||dLoss/dz_l||^2 (z_l the dense output, so act_grad_norm(l) = sqrt(G_l)):
 *   chi_l = G_l / G_{l+1}  for l < depth, so  rel_act_grad_norm(l) = sqrt(chi_l * ... *
 *   chi_{depth-1}) and rel_act_grad_norm(depth) = 1. In a plain net without norm,
 *   chi_l = sigma_w(l+1)^2 * E[phi'(z_l)^2]: layer l+1's weight variance times layer l's
 *   derivative. With norm or residual blocks chi_l is still exactly G_l / G_{l+1} (for a layer
 *   entering a residual block it includes the block's skip path). For l = depth, chi is
 *   G_depth / G_{depth+1}, the gain into the output layer, computed as if that layer were
 *   width x width (the output width is not known here); it is not part of any rel value. */
typedef struct {
    int layer;                /* 1-based hidden layer */
    double q;                 /* second moment of the activation's input: the pre-activation
                                 q_l without norm; after norm, the normalized input (~1) */
    double chi;               /* G_l / G_{l+1}, as above */
    double rel_act_grad_norm; /* predicted act_grad_norm of layer l / that of layer depth */
} GsPredLayer;

/* A prediction for a whole setup. Owned by the caller: gs_prediction_fini frees it. */
typedef struct {
    size_t n_layers;         /* = depth */
    GsPredLayer *layers;     /* n_layers entries, layer 1 first */
    double ratio_first_last; /* act_grad_norm(layer 1) / act_grad_norm(layer depth): a norm ratio */
    GsRegime regime;
    char caveat[512]; /* where the theory is known to be inexact, a sentence; else "" */
} GsPrediction;

/* Predicts the step-0 profile for spec with inputs of dimension d_in whose mean square
 * entry is input_second_moment (after standardization and input scale). Fails with
 * GS_ERR_NOMEM, or GS_ERR_INVALID for a setup it cannot model (message says why). *out is
 * untouched on failure. */
GsStatus gs_theory_predict(const GsSpec *spec, size_t d_in, double input_second_moment,
                           GsPrediction *out, GsError *err);
/* Frees a prediction's storage; NULL or a zeroed struct is fine. */
void gs_prediction_fini(GsPrediction *pred);
/* "ordered", "critical", "chaotic" ("unknown" for an out-of-range value). */
const char *gs_regime_name(GsRegime regime);

/* Regime thresholds on ratio_first_last (a norm ratio): below GS_THEORY_ORDERED_BELOW the
 * net is ordered (gradients vanish toward the input by more than 10x end to end), above
 * GS_THEORY_CHAOTIC_ABOVE chaotic (grow by more than 10x); in between critical. */
#define GS_THEORY_ORDERED_BELOW 0.1
#define GS_THEORY_CHAOTIC_ABOVE 10.0

/* E[f(mean + sd * eps)], eps ~ N(0, 1), by composite Gauss-Legendre quadrature over
 * eps in [-12, 12] with a panel edge at the point where mean + sd * eps = 0 (so kinks of
 * relu-like functions at 0 cost no accuracy) and panels of width 1/sd in z near 0 when sd is
 * large; relative error ~1e-12 for the activations and their derivatives. sd >= 0 (sd = 0
 * returns f(mean)). Cannot fail. */
double gs_theory_gauss_expect(double (*f)(double z, const void *ctx), const void *ctx, double mean,
                              double sd);
/* Per-layer gain of G through a hidden layer with train-mode batch norm at infinite width
 * and batch: E[phi'(eps)^2] / Var[phi(eps)] (relu pi/(pi-1), linear 1, tanh ~1.18). Cannot
 * fail; +Inf for an activation that is constant on N(0,1) (none of the built-in ones). */
double gs_theory_bn_factor(const GsAct *act);

#endif
