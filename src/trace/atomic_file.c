/* Atomic file writes: mkstemp beside the target, write, flush, close, rename. */
#include "trace/atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

GsStatus gs_atomic_open(GsAtomicFile *af, const char *path, GsError *err)
{
    static const char suffix[] = ".tmp.XXXXXX";
    size_t n = strlen(path);
    af->fp = NULL;
    af->path = path;
    af->tmp = malloc(n + sizeof suffix);
    if (!af->tmp)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, suffix, sizeof suffix);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int e = errno;
        free(af->tmp);
        af->tmp = NULL;
        return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; a trace or array is an ordinary shareable file. */
    (void)fchmod(fd, 0644);
    af->fp = fdopen(fd, "w");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        free(af->tmp);
        af->tmp = NULL;
        return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(e));
    }
    /* Large buffer: traces are millions of short writes. */
    setvbuf(af->fp, NULL, _IOFBF, 1 << 16);
    return GS_OK;
}

GsStatus gs_atomic_commit(GsAtomicFile *af, GsError *err)
{
    int failed = 0, e = 0;
    errno = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp)) {
        failed = 1;
        e = errno ? errno : EIO;
    }
    if (fclose(af->fp) != 0 && !failed) {
        failed = 1;
        e = errno ? errno : EIO;
    }
    af->fp = NULL;
    if (!failed && rename(af->tmp, af->path) != 0) {
        failed = 1;
        e = errno;
    }
    if (failed)
        unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    if (failed)
        return gs_error(err, GS_ERR_IO, "%s: %s", af->path, strerror(e));
    return GS_OK;
}

void gs_atomic_abort(GsAtomicFile *af)
{
    if (af->fp)
        fclose(af->fp);
    af->fp = NULL;
    if (af->tmp)
        unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
}
