/* NumPy .npy files (format version 1.0, little-endian float32, C order): exported weights
 * load with numpy.load / torch.from_numpy. */
#ifndef GRADSCOPE_NPY_H
#define GRADSCOPE_NPY_H

#include <stddef.h>

#include "gradscope/status.h"

/* Most dimensions gs_npy_read_f32 accepts (size of the caller's shape array). */
#define GS_NPY_MAX_DIM 8

/* Writes data (product of shape[0..ndim) floats, row-major) as a '<f4' .npy file whose
 * data starts at a multiple of 64 bytes; ndim 0 writes a scalar. Written to a temporary
 * file in the same directory and renamed. GS_ERR_IO naming path (and the reason) on
 * failure, no file left behind then; ndim > GS_NPY_MAX_DIM is asserted. */
GsStatus gs_npy_write_f32(const char *path, const float *data, const size_t *shape, size_t ndim,
                          GsError *err);
/* Reads a '<f4' C-order .npy file (version 1.0 or 2.0). On success *data is a malloc'd
 * array the caller frees with free(), shape[0..*ndim) its dimensions (shape must hold
 * GS_NPY_MAX_DIM entries). GS_ERR_IO (missing/unreadable), GS_ERR_FORMAT (not .npy,
 * another dtype, Fortran order, size mismatch), GS_ERR_NOMEM; outputs untouched then. */
GsStatus gs_npy_read_f32(const char *path, float **data, size_t *shape, size_t *ndim, GsError *err);

#endif
