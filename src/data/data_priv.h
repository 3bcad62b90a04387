/* Private interface between the data set front end (data.c), the synthetic generators
 * (synth.c) and the CSV loader (data_csv.c). */
#ifndef GS_DATA_PRIV_H
#define GS_DATA_PRIV_H

#include "gradscope/data.h"

/* Allocates a zeroed GsDataset with x (n x d_in), and y (n x d_out) when with_y, and
 * label (n) when with_label. NULL when out of memory. */
GsDataset *gs_data_alloc(size_t n, size_t d_in, size_t d_out, int with_y, int with_label);

/* Generates a built-in data set (src->kind not CSV) with opts->samples rows: labels for
 * classification kinds, y for regression kinds (before one-hot expansion, standardizing
 * and scaling, which data.c does). GS_ERR_NOMEM on failure. */
GsStatus gs_data_synth(const GsDataSource *src, const GsDataOptions *opts, GsDataset **out,
                       GsError *err);

/* Loads a numeric CSV file as described in data.h (no standardizing or scaling). */
GsStatus gs_data_load_csv(const char *path, const GsDataOptions *opts, GsDataset **out,
                          GsError *err);

#endif
