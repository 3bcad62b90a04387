/* Data sets: built-in synthetic ones generated from a seed, and numeric CSV files. */
#ifndef GRADSCOPE_DATA_H
#define GRADSCOPE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/status.h"

/* Where the data comes from. */
typedef enum {
    GS_DATA_SPIRAL = 0,   /* spiral[:K]  K interleaved 2-D spiral arms, classes 0..K-1 (K=3) */
    GS_DATA_MOONS,        /* two interleaved half circles, 2 classes */
    GS_DATA_CIRCLES,      /* two concentric circles, 2 classes */
    GS_DATA_XOR,          /* four Gaussian clusters labelled by sign(x1*x2), 2 classes */
    GS_DATA_BLOBS,        /* blobs[:K]   K Gaussian clusters, K classes (K=3) */
    GS_DATA_CHECKERBOARD, /* 4x4 checkerboard on [-1,1]^2, 2 classes */
    GS_DATA_SINE,         /* y = sin(x), x in [-pi, pi], 1 input, 1 output (regression) */
    GS_DATA_TEACHER,      /* y = random deep tanh network of x, 8 inputs, 1 output (regression) */
    GS_DATA_CSV,          /* a CSV file: header row, numeric columns */
    /* sequence tasks for recurrent archs (include/gradscope/seq.h), in GsSeqKind order */
    GS_DATA_ADDING,   /* adding problem, many-to-one regression */
    GS_DATA_COPY,     /* copy task, per-step classification */
    GS_DATA_PARITY,   /* parity of a bit sequence, many-to-one classification */
    GS_DATA_SINE_SEQ, /* next-step sine prediction, per-step regression */
    GS_DATA_COUNT
} GsDataKind;

/* A data source as named on the command line: "spiral", "spiral:5", "blobs:4", or a path
 * to a CSV file (anything ending in .csv or containing a '/'). */
typedef struct {
    GsDataKind kind;
    int k;           /* classes for spiral/blobs; 0 elsewhere */
    char path[1024]; /* for GS_DATA_CSV */
} GsDataSource;

/* Parses a source; unknown names and bad K fail with GS_ERR_INVALID naming the text. */
GsStatus gs_data_source_parse(const char *text, GsDataSource *out, GsError *err);
/* Canonical text ("spiral:3", the path for CSV) into buf; returns buf. */
char *gs_data_source_format(const GsDataSource *src, char *buf, size_t size);
/* 1 when the built-in kind is a classification task (CSV: 0, decided by the loss). */
int gs_data_kind_is_classification(GsDataKind kind);
/* 1 for the sequence tasks (adding, copy, parity, sine_seq), which recurrent archs take. */
int gs_data_kind_is_sequence(GsDataKind kind);
/* The sequence task of a sequence kind (GS_DATA_ADDING + s is GsSeqKind s); -1 otherwise. */
int gs_data_seq_kind(GsDataKind kind);

/* How to build the data set. */
typedef struct {
    size_t samples;     /* rows to generate (synthetic only); > 0 */
    double noise;       /* noise level of the synthetic generator (its own unit: std of
                           added Gaussian noise on inputs, or on targets for regression) */
    double input_scale; /* multiplies every input after generation/standardization */
    int standardize;    /* 1: inputs to zero mean, unit std per column (before scale) */
    const char *target; /* CSV: column name or 1-based index; NULL = last column */
    int classify;       /* 1: targets are class ids 0..K-1 (xent); 0: regression values */
    uint64_t seed;      /* generator seed (synthetic) */
} GsDataOptions;

/* A loaded data set. Rows are samples. Owned by the caller; free with gs_data_destroy. */
typedef struct {
    size_t n;         /* rows */
    size_t d_in;      /* input columns */
    size_t d_out;     /* outputs of the network: classes for classification, else target
                         columns (always 1 for CSV regression) */
    size_t n_classes; /* > 0 for classification, 0 for regression */
    float *x;         /* n x d_in, row-major */
    float *y;         /* regression: n x d_out targets; classification: NULL */
    int32_t *label;   /* classification: n class ids in [0, n_classes); else NULL */
} GsDataset;

/* Builds the data set. CSV errors name the file, line and column: missing/unreadable
 * file (GS_ERR_IO), empty file, non-numeric cell, ragged row, missing target column,
 * class id not an integer >= 0 (GS_ERR_FORMAT). A built-in classification set with
 * classify = 0 (mse loss) gets one-hot targets y (d_out = classes; labels kept); a
 * regression set with classify = 1 fails with GS_ERR_INVALID. *out untouched on failure. */
GsStatus gs_data_create(const GsDataSource *src, const GsDataOptions *opts, GsDataset **out,
                        GsError *err);
/* Whether a CSV file's target column (as GsDataOptions.target picks it; NULL = last)
 * holds class ids: only integers 0..K-1, each of them present, 2 <= K <= 100. Sets
 * *n_classes to K, or 0 when the target looks like a regression target; name (when not
 * NULL) receives the target column's header name. Fails like gs_data_create on an
 * unreadable or malformed file. */
GsStatus gs_data_csv_classes(const char *path, const char *target, int *n_classes, char *name,
                             size_t name_size, GsError *err);
/* Frees a data set; NULL is a no-op. */
void gs_data_destroy(GsDataset *ds);
/* Mean of x^2 over all inputs (the theory's mean(x0^2)). */
double gs_data_input_second_moment(const GsDataset *ds);

#endif
