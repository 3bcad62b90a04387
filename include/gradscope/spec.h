/* A training setup: every option of `gradscope run`, with one table of keys shared by
 * the command line (--key value) and scenario files (key = value). */
#ifndef GRADSCOPE_SPEC_H
#define GRADSCOPE_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/act.h"
#include "gradscope/data.h"
#include "gradscope/init.h"
#include "gradscope/status.h"

/* Normalization after each hidden dense layer. */
typedef enum { GS_NORM_NONE = 0, GS_NORM_BATCH, GS_NORM_LAYER } GsNormKind;
/* Loss; GS_LOSS_AUTO follows the data (xent for classification, mse for regression). */
typedef enum { GS_LOSS_AUTO = 0, GS_LOSS_MSE, GS_LOSS_XENT } GsLossKind;
/* Optimizers, with PyTorch's update rules. */
typedef enum {
    GS_OPT_SGD = 0,
    GS_OPT_MOMENTUM, /* param: momentum beta (0.9) */
    GS_OPT_NESTEROV, /* param: momentum beta (0.9) */
    GS_OPT_RMSPROP,  /* alpha 0.99, eps 1e-8 */
    GS_OPT_ADAM,     /* betas (0.9, 0.999), eps 1e-8, L2 weight decay */
    GS_OPT_ADAMW     /* as adam, decoupled weight decay */
} GsOptKind;
/* Learning-rate schedules. */
typedef enum { GS_SCHED_CONSTANT = 0, GS_SCHED_STEP, GS_SCHED_EXP, GS_SCHED_COSINE } GsSchedKind;

/* The whole setup. Plain value; gs_spec_default fills it. */
typedef struct {
    int depth;            /* hidden layers, >= 1 */
    int width;            /* units per hidden layer, >= 1 */
    GsAct act;            /* hidden activation */
    GsInit init;          /* weight initialization of every dense layer */
    GsBiasInit bias_init; /* bias initialization of every dense layer */
    GsNormKind norm;      /* normalization in hidden layers */
    int residual;         /* block length K of residual blocks; 0 = plain net */
    double res_scale;     /* alpha in x + alpha*F(x) */
    GsLossKind loss;
    GsOptKind opt;
    double opt_param;    /* momentum beta for momentum/nesterov */
    double lr;           /* base learning rate, > 0 */
    double weight_decay; /* >= 0 */
    GsSchedKind schedule;
    long sched_every;   /* step schedule: decay every N steps */
    double sched_gamma; /* step/exp schedule factor */
    long warmup;        /* linear warm-up steps, >= 0 */
    double clip_norm;   /* global-norm clipping threshold; 0 = off */
    double clip_value;  /* elementwise clipping threshold; 0 = off */
    GsDataSource data;
    char target[256]; /* CSV target column (name or 1-based index); "" = last */
    int standardize;
    double input_scale;
    long samples;
    double noise;
    long batch; /* minibatch size; 0 = whole data set every step */
    long steps; /* training steps, >= 1 */
    uint64_t seed;
    long record_every; /* record every N steps (step 0 and the last are always kept) */
    int threads;       /* BLAS threads */
} GsSpec;

/* Fills spec with every key's default. Cannot fail. */
void gs_spec_default(GsSpec *spec);

/* Sets one key from its text value (the key without leading dashes; '-' and '_' are
 * the same). Unknown keys and malformed or out-of-range values fail with
 * GS_ERR_INVALID and a message naming key and value; spec untouched then. */
GsStatus gs_spec_set(GsSpec *spec, const char *key, const char *value, GsError *err);
/* Formats a key's current value as text (the form gs_spec_set accepts) into buf.
 * GS_ERR_INVALID for an unknown key. */
GsStatus gs_spec_get(const GsSpec *spec, const char *key, char *buf, size_t size);
/* Checks cross-key constraints (residual fits the depth, lr > 0, ...), and the memory
 * estimate for d_in inputs and d_out outputs against a sane bound (GS_ERR_RANGE with
 * the estimate). Pass d_in = d_out = 0 to skip the memory check. */
GsStatus gs_spec_validate(const GsSpec *spec, size_t d_in, size_t d_out, GsError *err);
/* Loss actually used: spec->loss, or the data's natural loss for GS_LOSS_AUTO. */
GsLossKind gs_spec_loss(const GsSpec *spec);
/* Bytes the engine would allocate for this setup: the net's own (gs_net_sizes at the batch
 * size: parameters, gradients, update, optimizer state, activations), the trace and the data
 * set. HUGE_VAL when the net's sizes overflow size_t; 0 for an empty dimension. */
double gs_spec_memory_estimate(const GsSpec *spec, size_t d_in, size_t d_out, size_t n_rows);
/* Reads a scenario file (INI: `key = value`, '#'/';' comments, an optional [run] or
 * [setup] section; a gallery lesson's [lesson] section is skipped) into spec. Unknown keys and bad
 * values fail naming file and line; unreadable files with GS_ERR_IO. */
GsStatus gs_spec_load_ini(GsSpec *spec, const char *path, GsError *err);

/* Applies an option string as findings suggest it ("--act relu --init he_normal",
 * "--standardize", "--lr=0.01"): each --key takes the next word as its value unless the
 * key is a flag (standardize) or the next word starts with "--". Fails like gs_spec_set;
 * spec untouched on failure. */
GsStatus gs_spec_apply_args(GsSpec *spec, const char *args, GsError *err);

/* The key table, for --help and metadata: count, then name/default/help of key i. */
size_t gs_spec_key_count(void);
const char *gs_spec_key_name(size_t i);
const char *gs_spec_key_default(size_t i);
const char *gs_spec_key_help(size_t i);
/* Index of a key in the table ('-' and '_' alike, no leading dashes); -1 when unknown. */
int gs_spec_key_index(const char *name);

/* Names for enums (as accepted by gs_spec_set). */
const char *gs_norm_name(GsNormKind kind);
const char *gs_loss_name(GsLossKind kind);
const char *gs_opt_name(GsOptKind kind);

#endif
