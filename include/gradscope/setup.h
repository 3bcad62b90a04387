/* The setup a trace records: its `# key = value` metadata read back into one typed GsSpec,
 * for the diagnosis, the theory's prediction, the report and sweeps (one parser for all). */
#ifndef GRADSCOPE_SETUP_H
#define GRADSCOPE_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/spec.h"
#include "gradscope/status.h"
#include "gradscope/theory.h"
#include "gradscope/trace.h"

/* What a trace says about the run that wrote it. Plain value. Numbers the trace lacks are
 * NaN (or 0 for counts); spec keys it lacks keep gs_spec_default's values (see present). */
typedef struct {
    GsSpec spec;       /* the setup; only keys with their bit in `present` are the trace's */
    uint64_t present;  /* bit i set: spec key i (gs_spec_key_name(i)) came from the trace */
    int predictable;   /* 1: the keys the theory needs are all there (gs_setup_predict works) */
    char missing[256]; /* the needed keys that are absent, comma-separated ("" when none) */
    int foreign;       /* 1: written by another tool (no "tool = gradscope ..." line) */
    int torch;         /* 1: written by the PyTorch tracer (writer = gradscope.torch) */
    size_t d_in;       /* data_inputs; 0 unknown */
    size_t classes;    /* classes of a classification task; 0 unknown or regression */
    double input_second_moment;          /* mean x^2 of the inputs as fed */
    double input_std_min, input_std_max; /* smallest / largest per-feature std of the inputs */
    double input_mean_abs_max;           /* largest |per-feature mean| */
    double input_max_abs;                /* largest |x| */
    double baseline_loss; /* loss of the best constant prediction (class-prior entropy or
                             target variance); NaN unknown */
} GsTraceSetup;

/* Reads the setup from trace metadata. Keys spelled with '-' or '_' alike. A present key
 * whose value gs_spec_set refuses fails with GS_ERR_FORMAT naming key and value (out
 * untouched); a CSV data path that is not on this machine is not an error (only its shape
 * is used). Missing keys are not an error: see present, predictable and missing. */
GsStatus gs_setup_from_trace(const GsTrace *trace, GsTraceSetup *out, GsError *err);
/* 1 when spec key `key` came from the trace. */
int gs_setup_has(const GsTraceSetup *setup, const char *key);
/* The theory's step-0 prediction for the setup (gs_theory_predict with the recorded input
 * shape and second moment). GS_ERR_INVALID naming the missing keys when not predictable;
 * otherwise as gs_theory_predict. */
GsStatus gs_setup_predict(const GsTraceSetup *setup, GsPrediction *pred, GsError *err);

#endif
