/* Sequence data sets for recurrent nets, generated from a seed: long-range memory tasks
 * whose horizon is the sequence length T. Inputs (N, T, D) float32, batch first. */
#ifndef GRADSCOPE_SEQ_H
#define GRADSCOPE_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/status.h"

/* The tasks. */
typedef enum {
    /* adding (Hochreiter & Schmidhuber 1997, two-channel form of Le et al. 2015): channel 0
     * values U[0,1), channel 1 a marker with exactly two ones, one in steps [0, T/2) and one
     * in [T/2, T); target the sum of the two marked values (many-to-one, mse). T >= 2. */
    GS_SEQ_ADDING = 0,
    /* copy: L random symbols 1..S (one-hot over S+2 input channels: 0 blank, 1..S, S+1
     * the "go" marker) followed by blanks, the marker at step T-L-1; per-step class targets
     * 0 (blank) everywhere but the last L steps, which repeat the L symbols (per-step xent,
     * S+1 classes). T >= 2L+1. */
    GS_SEQ_COPY,
    /* parity: bits in {0, 1} on one channel; label the parity of their sum (many-to-one,
     * 2 classes): every step matters to the end. T >= 1. */
    GS_SEQ_PARITY,
    /* sine_seq: x_t = sin(w t + p), w ~ U[0.1, 0.6) rad per step and p ~ U[0, 2pi) per
     * sequence; per-step target x_{t+1} (next-step regression, mse). T >= 1. */
    GS_SEQ_SINE,
    GS_SEQ_COUNT
} GsSeqKind;

/* Parses "adding", "copy", "parity", "sine_seq"; GS_ERR_INVALID naming the text otherwise. */
GsStatus gs_seq_parse(const char *text, GsSeqKind *out, GsError *err);
/* Name of a kind ("sine_seq"); NULL for an out-of-range kind. */
const char *gs_seq_name(GsSeqKind kind);
/* 1 when the task has a target at every step (copy, sine_seq), 0 for one per sequence. */
int gs_seq_is_per_step(GsSeqKind kind);
/* 1 when the targets are class ids (copy, parity), 0 for regression values. */
int gs_seq_is_classification(GsSeqKind kind);

/* How to build a sequence data set. */
typedef struct {
    GsSeqKind kind;
    size_t samples;  /* sequences N, >= 1 */
    size_t seq_len;  /* T, >= 1 (the task's own minimum above) */
    size_t copy_len; /* copy: L symbols to recall; 0 = min(5, (T-1)/2) */
    size_t symbols;  /* copy: alphabet size S >= 1; 0 = 8 */
    uint64_t seed;   /* generator seed: same options and seed, same bits */
} GsSeqOptions;

/* A sequence data set. Owned by the caller; free with gs_seq_destroy. */
typedef struct {
    GsSeqKind kind;
    size_t n, T;      /* sequences, steps */
    size_t d_in;      /* input channels per step */
    size_t d_out;     /* head outputs: classes for classification, else target columns */
    size_t n_classes; /* > 0 for classification, 0 for regression */
    int per_step;     /* 1: targets (n, T, .); 0: (n, .) */
    float *x;         /* (n, T, d_in) */
    float *y;         /* regression: (n, d_out) or (n, T, d_out); else NULL */
    int32_t *label;   /* classification: (n) or (n, T) class ids; else NULL */
} GsSeqDataset;

/* Generates the data set. A T below the task's minimum, N = 0 or a copy length that does
 * not fit fail with GS_ERR_INVALID naming the value; GS_ERR_RANGE when the sizes overflow;
 * GS_ERR_NOMEM. *out untouched on failure. */
GsStatus gs_seq_create(const GsSeqOptions *opts, GsSeqDataset **out, GsError *err);
/* Frees a data set; NULL is a no-op. */
void gs_seq_destroy(GsSeqDataset *ds);
/* Copies the B sequences idx[0..B) into x (B, T, d_in) and their targets into y or label
 * (laid out as in the data set; the one the task lacks may be NULL). Cannot fail. */
void gs_seq_gather(const GsSeqDataset *ds, const size_t *idx, size_t B, float *x, float *y,
                   int32_t *label);

/* Mean square input entry over sequences, steps and channels (the theory's input moment). */
double gs_seq_input_second_moment(const GsSeqDataset *ds);

#endif
