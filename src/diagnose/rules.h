/* Diagnosis internals shared by the rule files: the context a run of the rules reads and
 * writes, the setup as the trace tells it, and the small helpers every rule uses. */
#ifndef GS_DIAGNOSE_RULES_H
#define GS_DIAGNOSE_RULES_H

#include <math.h>
#include <stddef.h>

#include "gradscope/diagnose.h"
#include "gradscope/hist.h"
#include "gradscope/setup.h"

/* NAN is a float constant; as a double it avoids promotions in ?: expressions. */
#define DNAN ((double)NAN)

/* The setup as the trace tells it (gs_setup_from_trace), with what the causes read. Text
 * fields are "" and numbers NaN (counts -1) when the trace does not say. */
typedef struct {
    GsTraceSetup ts;       /* the typed setup */
    int act_known;         /* act came from the trace: the facts below apply */
    int saturates;         /* gs_act_can_saturate */
    double max_deriv;      /* gs_act_max_deriv */
    const char *crit_init; /* gs_act_critical_init, NULL when none */
    char act[48];          /* activation text ("tanh") */
    char init[48];         /* init text ("normal:0.5") */
    double sigma_w2;       /* weight variance x fan_in of a square hidden layer */
    char norm[16];         /* "none", "batch", "layer" */
    long residual;
    double res_scale;
    char opt[16];
    double lr;
    double clip_norm;
    double input_scale;
    int input_scale_set; /* the user changed input-scale from 1 */
    int standardize;
    int bias_negative; /* a constant negative bias init */
    int have_pred;     /* pred holds the theory's step-0 prediction for this setup */
    GsPrediction pred;
} Setup;

typedef struct {
    const GsTrace *t;
    const GsThresholds *th;
    size_t S;  /* recorded steps */
    size_t L;  /* layers in the trace */
    int depth; /* hidden layers: 1..depth; depth+1 is the output layer when present */
    Setup su;
    double *loss; /* per recorded step; NaN when unknown */
    double *buf;  /* scratch for medians, max(S, L) */
    GsFindings *out;
    size_t cap;
    int oom;
    /* shared between rules */
    int loss_diverged;
    int loss_stalled;
    long dead_idx;                 /* index of the dead_units finding in out->items, -1 when none */
    long inputs_idx;               /* index of the inputs_unscaled finding, -1 when none */
    int vanish_from_dead;          /* the vanishing finding's cause is the dead units */
    int onset_init[GS_FIND_COUNT]; /* per kind: 1 when the pathology is there at step 0 (the
                                      setup), 0 when it developed while training */
    size_t S_all;      /* all recorded steps; S is cut to those before the first non-finite
                          step while the gradient-shape rules run */
    double med_update; /* median over layers of per-layer median update ratio; NaN */
} Ctx;

/* Fills su from the trace; GS_ERR_FORMAT when a setup key's value is malformed. */
GsStatus dg_read_setup(const GsTrace *t, Setup *su, GsError *err);
void dg_setup_fini(Setup *su);
/* The theory's end-to-end ratio for the setup with `opts` applied (gradscope options), NaN
 * when it cannot predict. */
double dg_predict_with(const Setup *su, const char *opts);
/* The first of n option strings whose predicted ratio is critical (0.1..10), NULL when none
 * is (or the theory cannot tell). */
const char *dg_first_critical(const Setup *su, const char *const *opts, size_t n);
int dg_is_adaptive(const Setup *su);
const char *dg_act_label(const Setup *su);
int dg_cmp_double(const void *a, const void *b);
double dg_median_finite(double *v, size_t n);
/* The least mean of the finite entries over the windows of w >= 1 consecutive entries of
 * v[0..n) that hold more than w / 2 finite ones (+Inf when none does), into *best; O(n), each
 * window a sum of fresh partial sums (no running subtraction, so one huge entry cannot
 * cancel into later windows). 0 when out of memory. */
int dg_best_window_mean(const double *v, size_t n, size_t w, double *best);
/* Statistics of the trace's histograms (gradscope/hist.h), read through dg_get like columns;
 * NaN where the histogram was not recorded (or says nothing: no entries). */
/* act, tanh-like range A = 1 only: share of outputs in the two outer linear bins, |h| > 31/32 */
#define DG_COL_HIST_PILEUP ((GsCol)(GS_COL_COUNT + 0))
/* act: share of outputs exactly 0 */
#define DG_COL_HIST_ZERO ((GsCol)(GS_COL_COUNT + 1))
/* grad: share of sum g^2 in the largest 1% of entries (bin centres) */
#define DG_COL_HIST_TOP1 ((GsCol)(GS_COL_COUNT + 2))
/* grad: decades from the median |g| bin to the largest one */
#define DG_COL_HIST_SPAN ((GsCol)(GS_COL_COUNT + 3))
/* What layer's (1-based) act histogram is of ("tanh", "relu", "output", ...; "" unknown). */
void dg_layer_act(const Ctx *c, int layer, char *buf, size_t n);
/* 1 when the trace has histograms of kind k. */
int dg_has_hist(const Ctx *c, GsHistKind k);
/* Value of column col (a trace column or DG_COL_HIST_*) at recorded step i, layer (1-based). */
double dg_get(const Ctx *c, size_t i, int layer, GsCol col);
double dg_layer_median(Ctx *c, int layer, GsCol col, size_t i0, size_t i1);
double dg_safe_ratio(double num, double den);
const char *dg_fmt(char *buf, double x);
/* "layer 3", "layers 2-7", with the layers' names when the trace has them. */
const char *dg_fmt_layers(const Ctx *c, char *buf, size_t size, int a, int b);
const char *dg_fmt_when(char *buf, size_t size, const Ctx *c, int step0, double thr);
GsFinding *dg_new_finding(Ctx *c, GsFindingKind kind, GsSeverity sev);
void dg_add_ev(GsFinding *f, const char *key, double value);
void dg_set_text(char *dst, size_t size, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void dg_skip(Ctx *c, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void dg_lr_option(char *dst, size_t size, const Setup *su, double factor);
int dg_lr_is_high(const Ctx *c);
int dg_step_nonfinite(const Ctx *c, size_t i, int layer);
int dg_weight_nonfinite(const Ctx *c, size_t i, int layer);
double dg_update_medians(Ctx *c, double *med);

/* The rules (each adds at most one finding, or notes why it was skipped). */
void rule_vanishing(Ctx *c);
void rule_exploding(Ctx *c);
void rule_nonfinite(Ctx *c);
void rule_saturation(Ctx *c);
void rule_dead(Ctx *c);
void rule_update(Ctx *c, int too_large);
void rule_loss_diverging(Ctx *c);
void rule_loss_stalled(Ctx *c);
void rule_inputs_unscaled(Ctx *c);
void rule_not_learning(Ctx *c);
void rule_frozen(Ctx *c);
void rule_heavy_tail(Ctx *c);
/* Through time (rules_time.c): silent on traces without ||dL/dh_t|| series. */
void rule_vanishing_time(Ctx *c);
void rule_exploding_time(Ctx *c);
/* 1 when v is a real NaN/Inf (data), not the trace's "no value" marker. */
int dg_nonfinite(double v);

#endif
