/* Diagnosis: rules that turn a trace into findings (what is wrong, where, since when,
 * how strong, why, and what to change). Trace in, findings out: no engine, no cairo. */
#ifndef GRADSCOPE_DIAGNOSE_H
#define GRADSCOPE_DIAGNOSE_H

#include <stddef.h>

#include "gradscope/status.h"
#include "gradscope/theory.h"
#include "gradscope/trace.h"

/* Severity, ordered: a larger value is more severe. */
typedef enum { GS_SEV_INFO = 0, GS_SEV_WARNING, GS_SEV_ERROR } GsSeverity;

/* What a finding is about. */
typedef enum {
    GS_FIND_VANISHING = 0,
    GS_FIND_EXPLODING,
    GS_FIND_NONFINITE,
    GS_FIND_SATURATION,
    GS_FIND_DEAD_UNITS,
    GS_FIND_UPDATE_TOO_LARGE,
    GS_FIND_UPDATE_TOO_SMALL,
    GS_FIND_LOSS_DIVERGING,
    GS_FIND_LOSS_STALLED,
    GS_FIND_INPUTS_UNSCALED, /* input features far from unit scale, seen in layer 1 */
    GS_FIND_NOT_LEARNING,    /* the loss stays at the trivial baseline (chance) */
    GS_FIND_FROZEN,          /* a layer without a gradient (info) */
    GS_FIND_VANISHING_TIME,  /* ||dL/dh_t|| of a recurrent layer vanishes going back in time */
    GS_FIND_EXPLODING_TIME,  /* ... or grows going back in time */
    GS_FIND_HEAVY_TAIL,      /* a few entries carry most of a layer's gradient norm (info; needs
                                gradient histograms) */
    GS_FIND_COUNT
} GsFindingKind;

/* One named number supporting a finding ("ratio_first_last" = 2.1e-9). */
typedef struct {
    char key[40];
    double value;
} GsEvidence;

#define GS_MAX_EVIDENCE 8

/* One finding. Plain value. */
typedef struct {
    GsFindingKind kind;
    GsSeverity severity;
    int layer_first, layer_last; /* 1-based layer range covered */
    long step_first, step_last;  /* training-step range covered */
    GsEvidence evidence[GS_MAX_EVIDENCE];
    size_t n_evidence;
    char message[512];    /* one plain sentence: what and why */
    char suggestion[256]; /* what to change, in words; "" when none applies */
    char options[256];    /* the change as gradscope options ("--act relu --init he_normal"),
                             or in PyTorch terms for traces the PyTorch tracer wrote
                             ("torch.nn.utils.clip_grad_norm_(...)"); "" when none applies */
    int primary;          /* 1 for the one finding that is the root cause (listed first), else 0 */
    int explained_by;     /* index into the list of the finding that explains this one, -1 none */
} GsFinding;

/* A list of findings: the primary (root-cause) finding first, then in causal order. Owned by the
 * caller: gs_findings_fini. */
typedef struct {
    GsFinding *items;
    size_t n;
    char skipped[1024]; /* rules skipped for missing columns, "; "-separated (verbose mode) */
} GsFindings;

/* Thresholds of the rules; defaults and sources are documented in the README. */
typedef struct {
    double vanish_ratio;   /* first/last grad ratio below this: vanishing (1e-3, AUTOTRAINER) */
    double explode_ratio;  /* first/last grad ratio above this: exploding (70, AUTOTRAINER) */
    double vanish_abs;     /* mean |g| below this: vanishing (1e-7, SageMaker Debugger) */
    double saturation;     /* layer share of saturated units above this: flagged (0.5) */
    double dead;           /* layer share of dead units above this: flagged (0.5) */
    double update_high;    /* update ratio above this: too large (1e-2, Karpathy) */
    double update_low;     /* update ratio below this: too small (1e-5) */
    double growth;         /* grad norm growth over training above this factor: exploding */
    double loss_diverge;   /* final/initial loss above this factor: diverging */
    double loss_stall;     /* relative loss decrease below this: stalled */
    double input_std_high; /* largest input feature std above this: inputs unscaled (10) */
    double input_std_low;  /* largest input feature std below this: inputs unscaled (0.01) */
    double not_learning;   /* best loss within this fraction of the baseline: not learning */
    double zero_spike;     /* act histograms, no dead_frac column: share of outputs exactly 0
                              above this: dead units (0.9; a healthy ReLU layer has about 0.5) */
    double heavy_tail;     /* share of ||dL/dW||^2 in the largest 0.1% of entries above this:
                              heavy tail (0.5; a Gaussian gradient puts 1.4% there) */
} GsThresholds;

/* The threshold table (for --help, the README and tests): count, then key i's name,
 * default, and source of the default. */
size_t gs_thresholds_count(void);
const char *gs_threshold_name(size_t i);
double gs_threshold_default(size_t i);
const char *gs_threshold_source(size_t i);

/* Fills the documented defaults. Cannot fail. */
void gs_thresholds_default(GsThresholds *th);
/* Sets one threshold by key ("vanish_ratio", ...) from text; GS_ERR_INVALID naming the
 * key or value otherwise. */
GsStatus gs_thresholds_set(GsThresholds *th, const char *key, const char *value, GsError *err);

/* Runs every rule whose columns the trace has, then orders the findings by cause: exactly one
 * is primary (the root cause, first in the list), the ones it (or another) explains carry
 * explained_by and the explaining finding's fix. GS_ERR_NOMEM on failure; GS_ERR_FORMAT when
 * a setup key in the metadata is malformed (naming key and value). */
GsStatus gs_diagnose(const GsTrace *trace, const GsThresholds *th, GsFindings *out, GsError *err);
/* Frees a findings list; NULL or zeroed is fine. */
void gs_findings_fini(GsFindings *findings);

/* Names as used in JSON and --fail-on ("vanishing", "update_too_large", ...). */
const char *gs_finding_kind_name(GsFindingKind kind);
/* Kind for a name, -1 when unknown. */
int gs_finding_kind_from_name(const char *name);
/* Plain words for figures and text ("vanishing gradient", "update too small"). */
const char *gs_finding_kind_title(GsFindingKind kind);
/* "info", "warning", "error". */
const char *gs_severity_name(GsSeverity sev);

/* Serializes findings (and the prediction when not NULL) to the JSON documented in the
 * README: {"findings": [...], "prediction": {...}}. *json is malloc'd, caller frees.
 * GS_ERR_NOMEM on failure. */
GsStatus gs_findings_to_json(const GsFindings *findings, const GsPrediction *pred, char **json);
/* The prediction alone as JSON ({"layers": [...], "ratio_first_last": R, "regime": ...}). */
GsStatus gs_prediction_to_json(const GsPrediction *pred, char **json);

/* The robust final loss: the mean of the finite batch losses over the last tenth of the
 * recorded steps (at least one step). *n_used (may be NULL) receives how many steps it
 * averaged. NaN when the trace has no finite loss there. Cannot fail. */
double gs_diagnose_final_loss(const GsTrace *trace, size_t *n_used);

#endif
