/* Private interface between the data set front end (data.c), which allocates and owns every
 * data set, and its sources: the synthetic generators (synth.c) fill buffers data.c hands
 * them; the CSV reader (data_csv.c) returns the file as a plain table. Neither calls back. */
#ifndef GS_DATA_PRIV_H
#define GS_DATA_PRIV_H

#include <stddef.h>

#include "gradscope/data.h"
#include "gradscope/status.h"

/* What a built-in data set needs allocated: n rows of d_in inputs; a classification set
 * has n_classes > 0 and n labels, a regression set n_classes 0 and n x 1 targets y. */
typedef struct {
    size_t n, d_in, n_classes;
} GsDataShape;

/* The shape of built-in source src (not CSV) with opts->samples rows. Cannot fail. */
void gs_data_synth_shape(const GsDataSource *src, const GsDataOptions *opts, GsDataShape *shape);
/* Fills ds->x and ds->label (classification) or ds->y (regression, one column) of a data set
 * allocated for gs_data_synth_shape's shape, before one-hot expansion, standardizing and
 * scaling (data.c's). Reads only the buffers' sizes from ds; cannot fail. */
void gs_data_synth_fill(const GsDataSource *src, const GsDataOptions *opts, GsDataset *ds);

/* A numeric CSV file as read: rows x d_in inputs (the non-target columns in file order) and
 * the target cell of each row. Owned by the table; release with gs_data_csv_fini. */
typedef struct {
    size_t rows, d_in;
    float *x;  /* rows x d_in, row-major */
    double *t; /* rows target values; with classify, integers in [0, 10000) */
} GsCsvTable;

/* Reads path as data.h describes (target: name, 1-based index or NULL = last column;
 * classify: target cells must be class ids). Errors name file, line and column
 * (GS_ERR_IO, GS_ERR_FORMAT) or are GS_ERR_NOMEM; *out untouched on failure. */
GsStatus gs_data_csv_read(const char *path, const char *target, int classify, GsCsvTable *out,
                          GsError *err);
/* Frees a table's arrays (zeroing it); a zeroed table is a no-op. */
void gs_data_csv_fini(GsCsvTable *t);

#endif
