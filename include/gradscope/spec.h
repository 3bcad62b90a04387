/* A training setup: every option of `gradscope run`, with one table of keys shared by
 * the command line (--key value) and scenario files (key = value). */
#ifndef GRADSCOPE_SPEC_H
#define GRADSCOPE_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/act.h"
#include "gradscope/data.h"
#include "gradscope/init.h"
#include "gradscope/rnn.h"
#include "gradscope/status.h"

/* Architecture: a dense MLP, or stacked recurrent layers (PyTorch's nn.RNN / nn.LSTM /
 * nn.GRU, include/gradscope/rnn.h) with a linear head `out`, trained on sequence data. */
typedef enum { GS_ARCH_MLP = 0, GS_ARCH_RNN, GS_ARCH_LSTM, GS_ARCH_GRU } GsArch;

/* How an LSTM's forget-gate biases start. */
typedef enum {
    GS_FORGET_DEFAULT = 0, /* PyTorch's default (both bias vectors U(-1/sqrt(H), 1/sqrt(H))) */
    GS_FORGET_CONST,       /* forget slice of bias_ih = forget_bias, of bias_hh = 0 */
    GS_FORGET_CHRONO       /* chrono init (Tallec & Ollivier 2018) with T_max = seq_len */
} GsForgetBias;

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
    GsArch arch;      /* mlp (default) or a recurrent cell */
    int depth;        /* hidden layers, >= 1 (recurrent: stacked layers, default 1) */
    int depth_given;  /* 1 once depth was set explicitly (else it follows the arch) */
    int width;        /* units per hidden layer, >= 1 */
    GsAct act;        /* hidden activation */
    GsInit init;      /* weight initialization of every dense layer (recurrent: weight_ih) */
    int init_default; /* 1: --init default, the arch's own (mlp: xavier_normal, held in init;
                       * recurrent: PyTorch's U(-1/sqrt(H), 1/sqrt(H))) */
    GsHhInit init_hh; /* recurrent weights weight_hh_l{k} */
    GsForgetBias forget_mode; /* LSTM forget-gate biases */
    double forget_bias;       /* GS_FORGET_CONST: the value */
    long seq_len;             /* T of sequence data, >= 1 */
    long bptt;                /* truncated BPTT window (0 = full backpropagation through time) */
    GsBiasInit bias_init;     /* bias initialization of every dense layer */
    GsNormKind norm;          /* normalization in hidden layers */
    int residual;             /* block length K of residual blocks; 0 = plain net */
    double res_scale;         /* alpha in x + alpha*F(x) */
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
    int data_given;   /* 1 once data was set explicitly (else it follows the arch) */
    char target[256]; /* CSV target column (name or 1-based index); "" = last */
    int standardize;
    double input_scale;
    long samples;
    double noise;
    long batch; /* minibatch size; 0 = whole data set every step */
    long steps; /* training steps, >= 1 */
    uint64_t seed;
    long record_every; /* record every N steps (step 0 and the last are always kept) */
    unsigned hist;     /* histogram kinds to record, bits 1 << GsHistKind (hist.h); 0 = none */
    long hist_every;   /* histograms at every N-th recorded step (the last always); 1 = all */
    int threads;       /* BLAS threads; 0 = auto (gs_spec_blas_threads) */
} GsSpec;

/* The BLAS thread count a run of spec uses: its threads key, or for auto the measured best on
 * the machine's cores (1 below MLP width 256 and for recurrent nets, else 2 where there are
 * 2 cores or more). */
int gs_spec_blas_threads(const GsSpec *spec);

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
const char *gs_arch_name(GsArch arch);
/* 1 for the recurrent archs (rnn, lstm, gru). */
int gs_arch_is_recurrent(GsArch arch);
/* 0 when key (a key-table name) has no effect on arch: the mlp-only keys (norm, residual,
 * res-scale, bias-init, input-scale, standardize, target) on recurrent archs, act on lstm/gru,
 * the recurrent-only keys (seq-len, bptt, init-hh, forget-bias) on mlp, forget-bias on rnn/gru;
 * 1 otherwise (unknown keys included). For summaries that list a setup. */
int gs_spec_key_applies(const char *key, GsArch arch);
/* The recurrent config a setup describes for data with d_in input channels and d_out outputs
 * (classes for classification), per-step targets or not, batches of up to batch_max; the
 * parameter seed is derived from spec->seed. GS_ERR_INVALID for an mlp setup. */
GsStatus gs_spec_rnn_config(const GsSpec *spec, size_t d_in, size_t d_out, int per_step,
                            size_t batch_max, GsRnnConfig *out, GsError *err);

#endif
