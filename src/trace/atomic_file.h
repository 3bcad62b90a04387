/* Private: write a file atomically (temporary file in the same directory, then rename),
 * so readers never see a half-written trace or array. */
#ifndef GS_TRACE_ATOMIC_FILE_H
#define GS_TRACE_ATOMIC_FILE_H

#include <stdio.h>
#include <sys/types.h>

#include "gradscope/status.h"

typedef struct {
    FILE *fp;         /* write here between open and commit */
    const char *path; /* final path, borrowed */
    char *tmp;        /* "<path>.tmp.XXXXXX", owned */
} GsAtomicFile;

/* Creates the temporary file next to path, with the mode open(path, O_CREAT, 0666) would
 * give under the umask. An existing non-regular target (/dev/null, a FIFO) is opened and
 * written directly instead: a rename would replace the device. A directory fails. GS_ERR_IO "PATH:
 * strerror" (e.g. missing directory) or GS_ERR_NOMEM; nothing is left on disk then. */
GsStatus gs_atomic_open(GsAtomicFile *af, const char *path, GsError *err);
/* Flushes, closes and renames onto path. On any failure (including an earlier write error
 * recorded in the stream) removes the temporary file and returns GS_ERR_IO naming path. */
GsStatus gs_atomic_commit(GsAtomicFile *af, GsError *err);
/* Closes and removes the temporary file (after a failure of the caller's own). */
void gs_atomic_abort(GsAtomicFile *af);

/* Removes every temporary file this process has open (from a signal handler: only
 * async-signal-safe calls). The files stay listed; normal paths still clean up. */
void gs_atomic_remove_all(void);
/* Forgets the list without removing anything (a forked worker: the files are its
 * parent's). */
void gs_atomic_forget_all(void);
/* Removes the temporary files "<path>.tmp.XXXXXX" an earlier process left beside path when
 * it was killed (SIGKILL cannot be caught) before its commit. Only for a path no other process
 * is writing now (a resumed sweep's own outputs). Returns how many it removed. */
int gs_atomic_remove_stale(const char *path);
/* 0666 & ~umask: the mode every output is created with. */
mode_t gs_atomic_file_mode(void);

#endif
