/* Signal-propagation theory (THEORY.md): the predicted per-layer gain of backpropagated
 * gradients at initialization, from the setup alone, with no training. */
#ifndef GRADSCOPE_THEORY_H
#define GRADSCOPE_THEORY_H

#include <stddef.h>

#include "gradscope/act.h"
#include "gradscope/rnn.h"
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

/* ---- recurrent layers through time (THEORY.md, "Recurrent nets") ----------------------- */

/* The Jacobian bound of Pascanu, Mikolov & Bengio 2013 for h_t = phi(W_ih x_t + W_hh h_{t-1}
 * + b): ||dh_t/dh_{t-1}|| <= sigma_max(W_hh) * gamma, gamma = max |phi'| (1 for tanh and relu,
 * 1/4 for sigmoid). */
typedef struct {
    double gamma;          /* largest derivative of the cell's activation */
    double per_step;       /* sigma_max * gamma: bound on the per-step Jacobian norm */
    double over_steps;     /* per_step^(T-1): bound on ||dh_T/dh_1|| */
    int vanish_sufficient; /* 1 when per_step < 1 (sigma_max < 1/gamma): vanishing is certain */
} GsRnnBound;

/* The bound for a plain RNN cell (GS_CELL_RNN_TANH, GS_CELL_RNN_RELU) with recurrent weight of
 * largest singular value sigma_max over T steps. GS_ERR_INVALID for a gated cell (LSTM and GRU
 * have no such bound on h alone: their Jacobian has the gates' own terms), a sigma_max that is
 * negative or not finite, or T = 0, naming the value. *out untouched on failure. */
GsStatus gs_theory_rnn_bound(GsCellKind cell, double sigma_max, size_t T, GsRnnBound *out,
                             GsError *err);

/* The mean-field prediction of ||dL/dh_t|| through time at initialization for recurrent layer
 * 0 of cfg (depth 1), backpropagated from t = T = cfg->seq_len with full BPTT. */
typedef struct {
    double ratio;       /* ||dL/dh_1|| / ||dL/dh_T||; NaN when the head reads every step (then
                           each step gets a fresh gradient and there is no single ratio) */
    double log10_ratio; /* log10 of ratio, finite where ratio itself underflows (T 1000: 1e-250)
                           for the many-to-one head; NaN like ratio for per-step heads, -Inf
                           under truncation */
    double step_gain;   /* ratio^(1/(T-1)): the geometric mean of the per-step factor going back
                           (1 when T = 1); for per-step heads the propagated path's factor */
    double local_gain;  /* the factor of one step at t = T, where the transient from h_0 = 0 has
                           settled most: the rate for sequences much longer than T */
    double horizon;     /* steps back from T that the predicted gradient stays above 1e-3 of
                           its value at T (the diagnosis' memory_horizon, predicted), continued
                           past t = 1 at local_gain for short sequences; +Inf when it never
                           falls below (local_gain >= 1) */
    double q_T;         /* second moment of the (candidate) pre-activation at t = T (at
                           t = 2000 for longer sequences: beyond it the prediction extrapolates
                           with local_gain, the statistics having settled) */
    char model[320];    /* one sentence: which approximation was used and what it ignores */
} GsRnnPrediction;

/* The steps-back threshold of the memory horizon (1e-3 of the gradient at T). */
#define GS_THEORY_HORIZON_LEVEL 1e-3

/* Predicts for cfg (any cell; depth 1; LSTM without chrono init) on inputs whose mean square
 * entry, over channels and steps, is input_second_moment. spectral_radius: the measured
 * spectral radius of weight_hh_l0 for a plain RNN with i.i.d. recurrent weights, which sets the
 * long-run rate at finite width better than the infinite-width sqrt(H Var w); NaN (or any
 * value for other cells and inits) to use the init's variance. Fails with GS_ERR_INVALID when
 * there is no prediction (depth > 1, chrono init, identity init of a gated cell, an invalid
 * cfg or input moment), the message saying why; GS_ERR_NOMEM. *out untouched on failure. */
GsStatus gs_theory_rnn_predict(const GsRnnConfig *cfg, double input_second_moment,
                               double spectral_radius, GsRnnPrediction *out, GsError *err);

/* The predicted profile through time: log10_rel[t-1] = log10(||dL/dh_t|| / ||dL/dh_T||) for
 * t = 1..cfg->seq_len (0 at t = T), the gradient from T propagated back (for per-step heads,
 * the part that came from step T). log10_rel holds seq_len entries. Fails as
 * gs_theory_rnn_predict; log10_rel untouched on failure. */
GsStatus gs_theory_rnn_profile(const GsRnnConfig *cfg, double input_second_moment,
                               double spectral_radius, double *log10_rel, GsError *err);

/* The per-step gain the recorder writes as theory_step_gain_l0: step_gain of
 * gs_theory_rnn_predict for cfg, or NaN when there is no prediction. sigma_max is accepted for
 * the record (the prediction does not need it: the bound does). Cannot fail. */
double gs_theory_rnn_step_gain(const GsRnnConfig *cfg, double input_second_moment, double sigma_max,
                               double spectral_radius);

/* Memory horizon of a per-step gain: log(GS_THEORY_HORIZON_LEVEL) / log(gain) steps, +Inf for
 * gain >= 1, NaN for a gain that is not positive and finite. Cannot fail. */
double gs_theory_horizon(double step_gain);

#endif
