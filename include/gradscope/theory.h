/* Signal-propagation theory (THEORY.md): the predicted per-layer gain of backpropagated
 * gradients at initialization, from the setup alone, with no training. */
#ifndef GRADSCOPE_THEORY_H
#define GRADSCOPE_THEORY_H

#include <stddef.h>

#include "gradscope/spec.h"
#include "gradscope/status.h"

/* Which regime the whole network is in at initialization. */
typedef enum {
    GS_REGIME_ORDERED = 0, /* gradients shrink toward the input: vanishing */
    GS_REGIME_CRITICAL,    /* roughly preserved */
    GS_REGIME_CHAOTIC      /* gradients grow toward the input: exploding */
} GsRegime;

/* Prediction for one hidden layer l = 1..depth. */
typedef struct {
    int layer;                /* 1-based hidden layer */
    double q;                 /* pre-activation variance q_l */
    double chi;               /* G_l / G_{l+1} factor (chi_l); 1 for the last hidden layer's own row is
                                 the gain toward layer depth+1 and is reported for completeness */
    double rel_act_grad_norm; /* predicted act_grad_norm of layer l / that of layer depth */
} GsPredLayer;

/* A prediction for a whole setup. Owned by the caller: gs_prediction_fini frees it. */
typedef struct {
    size_t n_layers;         /* = depth */
    GsPredLayer *layers;     /* n_layers entries, layer 1 first */
    double ratio_first_last; /* act_grad_norm(layer 1) / act_grad_norm(layer depth): a norm ratio */
    GsRegime regime;
    char caveat[512];        /* where the theory is known to be inexact, a sentence; else "" */
} GsPrediction;

/* Predicts the step-0 profile for spec with inputs of dimension d_in whose mean square
 * entry is input_second_moment (after standardization and input scale). Fails with
 * GS_ERR_NOMEM, or GS_ERR_INVALID for a setup it cannot model (message says why). *out is
 * untouched on failure. */
GsStatus gs_theory_predict(const GsSpec *spec, size_t d_in, double input_second_moment,
                           GsPrediction *out, GsError *err);
/* Frees a prediction's storage; NULL or a zeroed struct is fine. */
void gs_prediction_fini(GsPrediction *pred);
/* "ordered", "critical", "chaotic". */
const char *gs_regime_name(GsRegime regime);

#endif
