/* `gradscope plot --follow TRACE`: re-renders the report whenever the trace grows, so a
 * training run can be watched live, until the trace says it is complete or Ctrl-C. */
#include "cli/follow.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

/* Poll period: the writer flushes every few seconds, so half a second feels live without
 * costing anything measurable. */
#define POLL_NS 500000000L

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* What identifies one version of the file: a rename gives a new inode, an append a new size
 * and mtime. */
typedef struct {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} FileState;

static FileState file_state(const char *path)
{
    FileState s;
    memset(&s, 0, sizeof s);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        s.exists = 1;
        s.dev = sb.st_dev;
        s.ino = sb.st_ino;
        s.size = sb.st_size;
        s.mtime = sb.st_mtim;
    }
    return s;
}

static int same_state(const FileState *a, const FileState *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* 1 when the file's last byte is a newline: a writer appending rows may have written half a
 * line, which would read as a short (or silently truncated) last value. */
static int ends_with_newline(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int ok = fseek(f, -1, SEEK_END) == 0 && fgetc(f) == '\n';
    fclose(f);
    return ok;
}

/* 1 when the metadata before the header holds `complete = 1`. */
static int trace_complete(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int complete = 0;
    while (fgets(line, sizeof line, f) && line[0] == '#') {
        char key[64], val[64];
        if (sscanf(line, "# %63[^= \t] = %63s", key, val) == 2 && !strcmp(key, "complete"))
            complete = !strcmp(val, "1") || !strcmp(val, "true");
    }
    fclose(f);
    return complete;
}

static void nap(void)
{
    struct timespec ts = {0, POLL_NS};
    /* a signal ends the nap early (EINTR): the loop then sees stop_requested */
    nanosleep(&ts, NULL);
}

int cli_plot_follow(const CliReport *r, const char *path, const char *out)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return cli_fail("plot", "--follow: '%s' is not a regular file (a trace CSV)", path);

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the nap returns at once */
    stop_requested = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    FileState seen;
    memset(&seen, 0, sizeof seen);
    int rc = 0, rendered = 0, said_waiting = 0;
    while (!stop_requested) {
        FileState now = file_state(path);
        if (!now.exists) {
            if (!said_waiting && !r->quiet)
                fprintf(stderr, "gradscope plot: waiting for '%s' (Ctrl-C to stop)\n", path);
            said_waiting = 1;
        } else if (!same_state(&now, &seen) && now.size > 0 && ends_with_newline(path)) {
            /* read `complete` before rendering: a finished trace is renamed into place
             * whole, so if this copy says complete the render below reads it too */
            int complete = trace_complete(path);
            rc = cli_plot_render(r, path, out);
            fflush(stdout); /* one progress line per render, even into a pipe */
            rendered = 1;
            seen = now;
            if (complete)
                break;
        }
        nap();
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (stop_requested && !rendered && !r->quiet)
        fprintf(stderr, "gradscope plot: stopped before '%s' held a trace\n", path);
    return rc;
}
