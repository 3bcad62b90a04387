/* Private: write a file atomically (temporary file in the same directory, then rename),
 * so readers never see a half-written trace or array. */
#ifndef GS_TRACE_ATOMIC_FILE_H
#define GS_TRACE_ATOMIC_FILE_H

#include <stdio.h>

#include "gradscope/status.h"

typedef struct {
    FILE *fp;         /* write here between open and commit */
    const char *path; /* final path, borrowed */
    char *tmp;        /* "<path>.tmp.XXXXXX", owned */
} GsAtomicFile;

/* Creates the temporary file next to path. GS_ERR_IO "PATH: strerror" (e.g. missing
 * directory) or GS_ERR_NOMEM; nothing is left on disk then. */
GsStatus gs_atomic_open(GsAtomicFile *af, const char *path, GsError *err);
/* Flushes, closes and renames onto path. On any failure (including an earlier write error
 * recorded in the stream) removes the temporary file and returns GS_ERR_IO naming path. */
GsStatus gs_atomic_commit(GsAtomicFile *af, GsError *err);
/* Closes and removes the temporary file (after a failure of the caller's own). */
void gs_atomic_abort(GsAtomicFile *af);

#endif
