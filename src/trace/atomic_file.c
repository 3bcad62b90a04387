/* Atomic file writes: mkstemp beside the target, write, flush, close, rename. The temporary
 * files in flight are listed so that a signal handler can remove them. */
#include "trace/atomic_file.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporary files this process has open. A handler reads the slots while the main code may
 * be filling one: each slot is one pointer written after its string is complete, and
 * cleared before the string is freed. */
#define MAX_ACTIVE 64
static char *volatile active[MAX_ACTIVE];

static void track(char *tmp)
{
    for (int i = 0; i < MAX_ACTIVE; i++)
        if (!active[i]) {
            active[i] = tmp;
            return;
        }
    /* more than 64 files at once: the extra ones are still removed on every normal path */
}

static void untrack(const char *tmp)
{
    for (int i = 0; i < MAX_ACTIVE; i++)
        if (active[i] == tmp)
            active[i] = NULL;
}

void gs_atomic_remove_all(void)
{
    for (int i = 0; i < MAX_ACTIVE; i++) {
        char *t = active[i];
        if (t)
            unlink(t); /* async-signal-safe */
    }
}

void gs_atomic_forget_all(void)
{
    for (int i = 0; i < MAX_ACTIVE; i++)
        active[i] = NULL;
}

mode_t gs_atomic_file_mode(void)
{
    /* what open(O_CREAT, 0666) would give: umask can only be read by setting it */
    static mode_t mode = (mode_t)-1;
    if (mode == (mode_t)-1) {
        mode_t m = umask(0);
        umask(m);
        mode = 0666 & ~m;
    }
    return mode;
}

GsStatus gs_atomic_open(GsAtomicFile *af, const char *path, GsError *err)
{
    static const char suffix[] = ".tmp.XXXXXX";
    size_t n = strlen(path);
    af->fp = NULL;
    af->path = path;
    af->tmp = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if (S_ISDIR(sb.st_mode))
            return gs_error(err, GS_ERR_IO, "%s: is a directory", path);
        /* /dev/null, /dev/stdout, a FIFO: renaming a temporary file onto it would replace
         * the device itself, so such a target is written directly */
        af->fp = fopen(path, "w");
        if (!af->fp)
            return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(errno));
        errno = 0;
        return GS_OK;
    }
    af->tmp = malloc(n + sizeof suffix);
    if (!af->tmp)
        return gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, suffix, sizeof suffix);
    /* signals that would remove the file wait until it is listed */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    int fd = mkstemp(af->tmp);
    int e = errno;
    if (fd >= 0)
        track(af->tmp);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) {
        free(af->tmp);
        af->tmp = NULL;
        return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; an output is an ordinary file, as open(0666) under the umask */
    (void)fchmod(fd, gs_atomic_file_mode());
    af->fp = fdopen(fd, "w");
    if (!af->fp) {
        e = errno;
        close(fd);
        unlink(af->tmp);
        untrack(af->tmp);
        free(af->tmp);
        af->tmp = NULL;
        return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(e));
    }
    /* Large buffer: traces are millions of short writes. */
    setvbuf(af->fp, NULL, _IOFBF, 1 << 16);
    /* from here on a nonzero errno was set by a failed write (the stream keeps only a flag) */
    errno = 0;
    return GS_OK;
}

static void drop_tmp(GsAtomicFile *af, int remove)
{
    if (!af->tmp)
        return;
    if (remove)
        unlink(af->tmp);
    untrack(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
}

GsStatus gs_atomic_commit(GsAtomicFile *af, GsError *err)
{
    int failed = 0, e = 0;
    /* a write that failed earlier left its errno (ENOSPC, EFBIG); keep it for the message */
    int earlier = errno;
    if (fflush(af->fp) != 0) {
        failed = 1;
        e = errno ? errno : EIO;
    } else if (ferror(af->fp)) {
        failed = 1;
        e = earlier ? earlier : EIO;
    }
    if (fclose(af->fp) != 0 && !failed) {
        failed = 1;
        e = errno ? errno : EIO;
    }
    af->fp = NULL;
    if (!failed && af->tmp && rename(af->tmp, af->path) != 0) {
        failed = 1;
        e = errno;
    }
    drop_tmp(af, failed);
    if (failed)
        return gs_error(err, GS_ERR_IO, "%s: %s", af->path, strerror(e));
    return GS_OK;
}

void gs_atomic_abort(GsAtomicFile *af)
{
    if (af->fp)
        fclose(af->fp);
    af->fp = NULL;
    drop_tmp(af, 1);
}

int gs_atomic_remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = slash ? slash + 1 : path;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path == 0 ? 1 : slash - path), path);
    else
        snprintf(dir, sizeof dir, ".");
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* exactly base + ".tmp." + the six characters mkstemp filled in */
        const char *nm = e->d_name;
        if (strlen(nm) != bl + 11 || strncmp(nm, base, bl) || strncmp(nm + bl, ".tmp.", 5))
            continue;
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, nm);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(p) == 0)
            n++;
    }
    closedir(d);
    return n;
}
