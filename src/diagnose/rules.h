/* Diagnosis internals shared by the rule files: the context a run of the rules reads and
 * writes, the setup as the trace tells it, and the small helpers every rule uses. */
#ifndef GS_DIAGNOSE_RULES_H
#define GS_DIAGNOSE_RULES_H

#include <math.h>
#include <stddef.h>

#include "gradscope/diagnose.h"

/* NAN is a float constant; as a double it avoids promotions in ?: expressions. */
#define DNAN ((double)NAN)

/* Activation families that decide causes. */
typedef enum { ACT_UNKNOWN = 0, ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_LINEAR } ActFamily;

typedef struct {
    char act[48]; /* activation text ("tanh"), "" when unknown */
    ActFamily family;
    char init[48];      /* init text ("normal:0.5"), "" when unknown */
    double sigma_w2;    /* weight variance x fan_in for square layers; NaN when unknown */
    char norm[16];      /* "none", "batch", "layer", "" */
    long residual;      /* -1 unknown */
    double res_scale;   /* alpha of residual branches; NaN unknown */
    char opt[16];       /* "sgd", "adam", ... "" */
    double lr;          /* NaN unknown */
    double clip_norm;   /* NaN unknown */
    double input_scale; /* NaN unknown */
    int standardize;    /* -1 unknown */
    int csv_data;       /* 1 when the data is a CSV file */
    char bias_init[48];
    long width; /* -1 unknown */
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
    long dead_idx;     /* index of the dead_units finding in out->items, -1 when none */
    double med_update; /* median over layers of per-layer median update ratio; NaN */
} Ctx;

int dg_parse_num(const char *s, double *v);
void dg_copy_str(char *dst, size_t size, const char *src);
double dg_init_sigma_w2(const char *init, long width);
int dg_parse_bool(const char *s);
const char *dg_meta(const GsTrace *t, const char *key);
void dg_read_setup(const GsTrace *t, Setup *su);
int dg_is_adaptive(const Setup *su);
const char *dg_act_label(const Setup *su);
int dg_cmp_double(const void *a, const void *b);
double dg_median_finite(double *v, size_t n);
double dg_get(const Ctx *c, size_t i, int layer, GsCol col);
double dg_layer_median(Ctx *c, int layer, GsCol col, size_t i0, size_t i1);
double dg_safe_ratio(double num, double den);
const char *dg_fmt(char *buf, double x);
const char *dg_fmt_layers(char *buf, size_t size, int a, int b);
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

#endif
