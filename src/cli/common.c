/* Option parsing shared by the commands: one getopt_long table built from the setup
 * key table plus each command's own options. */
#include "cli/cli.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace/atomic_file.h"
#include "util/fs.h"
#include "util/text.h"

/* Prints "gradscope CMD: msg" with unprintable bytes shown as \xNN: messages quote paths
 * and values from the user, which must not move the cursor or hide characters. */
static void print_error(const char *cmd, const char *msg)
{
    char quoted[4096];
    gs_text_escape(msg, quoted, sizeof quoted, 0);
    fprintf(stderr, "gradscope %s: %s\n", cmd, quoted);
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error(cmd, msg);
    return GS_EXIT_USAGE;
}

int cli_fail_status(const char *cmd, GsStatus st, const char *msg)
{
    print_error(cmd, msg);
    return cli_status_exit(st);
}

int cli_status_exit(GsStatus st)
{
    switch (st) {
    case GS_OK: return GS_EXIT_OK;
    case GS_ERR_INVALID:
    case GS_ERR_IO:
    case GS_ERR_FORMAT:
    case GS_ERR_RANGE: return GS_EXIT_USAGE;
    case GS_ERR_NOMEM: return GS_EXIT_FAIL;
    }
    return GS_EXIT_FAIL;
}

/* How a path names a file: device and inode when it exists, else the real path of its
 * directory joined with its last component (what it will be once created). */
typedef struct {
    int exists, special;
    dev_t dev;
    ino_t ino;
    char resolved[PATH_MAX + 256];
} FileId;

static void file_id(const char *path, FileId *id)
{
    struct stat sb;
    memset(id, 0, sizeof *id);
    if (stat(path, &sb) == 0) {
        id->exists = 1;
        /* /dev/null and the like may be named by several outputs */
        id->special = !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode);
        id->dev = sb.st_dev;
        id->ino = sb.st_ino;
        return;
    }
    char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(base, sizeof base, "%s", path);
    const char *d = dirname(dir), *b = basename(base);
    if (realpath(d, real))
        snprintf(id->resolved, sizeof id->resolved, "%s/%s", real, b);
    else
        snprintf(id->resolved, sizeof id->resolved, "%s", path);
}

int cli_check_same_files(const char *cmd, const CliPath *paths, size_t n)
{
    FileId *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        fprintf(stderr, "gradscope %s: out of memory\n", cmd);
        return GS_EXIT_FAIL;
    }
    for (size_t i = 0; i < n; i++)
        if (paths[i].path && strcmp(paths[i].path, "-"))
            file_id(paths[i].path, &ids[i]);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!paths[i].path || !strcmp(paths[i].path, "-") || ids[i].special)
            continue;
        for (size_t j = i + 1; j < n && !rc; j++) {
            const CliPath *a = &paths[i], *b = &paths[j];
            if (!b->path || !strcmp(b->path, "-") || ids[j].special || (!a->output && !b->output))
                continue;
            int same =
                ids[i].exists && ids[j].exists
                    ? ids[i].dev == ids[j].dev && ids[i].ino == ids[j].ino
                    : !ids[i].exists && !ids[j].exists && !strcmp(ids[i].resolved, ids[j].resolved);
            if (!same)
                continue;
            /* name the input second: "--trace 'd.csv' is the same file as --data 'd.csv'" */
            const CliPath *out = a->output ? a : b, *other = a->output ? b : a;
            if (other->output)
                rc = cli_fail(cmd,
                              "%s '%s' and %s '%s' are the same file; give them different "
                              "paths",
                              a->option, a->path, b->option, b->path);
            else
                rc = cli_fail(cmd,
                              "%s '%s' is the same file as the input %s '%s'; refusing to "
                              "overwrite it",
                              out->option, out->path, other->option, other->path);
        }
    }
    free(ids);
    return rc;
}

/* ---- signals: remove what this process has half-written, then exit 128+sig ---- */

/* A temporary directory being filled (--export-weights), removed on a signal. Written only
 * with the signals blocked. */
static char tmp_dir[PATH_MAX + 32];

/* Removes a directory and the plain files in it. From a signal handler this is best effort:
 * opendir/readdir are not on the async-signal-safe list, but the process dies right after
 * and the main code never holds the directory open. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

static void on_fatal_signal(int sig)
{
    gs_atomic_remove_all();
    if (tmp_dir[0])
        remove_dir(tmp_dir);
    _exit(128 + sig);
}

static void block_signals(int block)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

void cli_signals_init(void)
{
    /* past `ulimit -f` a write then fails with EFBIG ("File too large") and is reported,
     * instead of the process dying silently with its temporary file left behind */
    signal(SIGXFSZ, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < 3; i++) {
        struct sigaction old;
        /* an ignored SIGHUP (nohup) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

void cli_signals_forget(void)
{
    gs_atomic_forget_all();
    tmp_dir[0] = '\0';
}

int cli_tmpdir_create(const char *dir, char *tmp, size_t size)
{
    if (strlen(dir) + 12 > size || strlen(dir) + 12 > sizeof tmp_dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* a sibling, so that the final rename stays on one file system */
    char parent[PATH_MAX + 32];
    snprintf(parent, sizeof parent, "%s", dir);
    size_t len = strlen(parent);
    while (len > 1 && parent[len - 1] == '/')
        parent[--len] = '\0';
    if (gs_mkdir_p(dirname(parent)) != 0)
        return -1;
    snprintf(tmp, size, "%.*s.tmp.XXXXXX", (int)len, dir);
    block_signals(1);
    int ok = mkdtemp(tmp) != NULL;
    int e = errno;
    if (ok)
        snprintf(tmp_dir, sizeof tmp_dir, "%s", tmp);
    block_signals(0);
    if (!ok) {
        errno = e;
        return -1;
    }
    /* mkdtemp makes it 0700; the result is an ordinary directory */
    mode_t m = umask(0);
    umask(m);
    (void)chmod(tmp, 0777 & ~m);
    return 0;
}

void cli_tmpdir_discard(const char *tmp)
{
    remove_dir(tmp);
    block_signals(1);
    tmp_dir[0] = '\0';
    block_signals(0);
}

int cli_tmpdir_commit(const char *tmp, const char *dir)
{
    int rc = 0;
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        /* a new directory appears whole */
        rc = rename(tmp, dir);
    } else {
        /* an existing one (perhaps holding other files) gets each file by rename: its old
         * arrays are replaced, never half-written */
        DIR *d = opendir(tmp);
        rc = d ? 0 : -1;
        struct dirent *e;
        char from[PATH_MAX + 256], to[PATH_MAX + 256];
        while (d && !rc && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(from, sizeof from, "%s/%s", tmp, e->d_name);
            snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
            rc = rename(from, to);
        }
        if (d)
            closedir(d);
    }
    int e = errno;
    remove_dir(tmp); /* gone after a whole rename; emptied and removed otherwise */
    block_signals(1);
    tmp_dir[0] = '\0';
    block_signals(0);
    errno = e;
    return rc;
}

static const char *last_config;

const char *cli_config_path(void)
{
    return last_config;
}

void cli_resolve_loss(const char *cmd, GsSpec *spec, int quiet)
{
    if (spec->loss != GS_LOSS_AUTO || spec->data.kind != GS_DATA_CSV)
        return;
    int k = 0;
    char name[256];
    /* an unreadable file is reported where it is loaded, with the usual message */
    if (gs_data_csv_classes(spec->data.path, spec->target, &k, name, sizeof name, NULL) != GS_OK ||
        k == 0)
        return;
    spec->loss = GS_LOSS_XENT;
    if (!quiet) {
        char msg[1400];
        snprintf(msg, sizeof msg,
                 "%s: target '%s' holds integers 0..%d: using xent with %d classes (--loss mse to "
                 "override)",
                 spec->data.path, name, k - 1, k);
        char quoted[2048];
        fprintf(stderr, "gradscope %s: %s\n", cmd, gs_text_escape(msg, quoted, sizeof quoted, 0));
    }
}

void cli_warn_cut_trace(const char *cmd, const char *path, const GsTrace *trace)
{
    size_t n = gs_trace_dropped_rows(trace);
    if (n > 0)
        fprintf(stderr,
                "gradscope %s: warning: %s ends cut off (training interrupted?): dropped %zu "
                "incomplete row%s, read up to step %ld\n",
                cmd, path, n, n == 1 ? "" : "s", gs_trace_step(trace, gs_trace_n_steps(trace) - 1));
}

char *cli_fmt_g(char *buf, size_t size, double v, int digits)
{
    if (isnan(v))
        snprintf(buf, size, "NaN");
    else if (isinf(v))
        snprintf(buf, size, "%sInf", v < 0 ? "-" : "");
    else
        snprintf(buf, size, "%.*g", digits, v);
    return buf;
}

static void print_help(const char *cmd, const char *synopsis, const char *about, const GsSpec *spec,
                       const CliOpt *opts, size_t n_opts)
{
    printf("Usage: gradscope %s %s\n\n%s\n", cmd, synopsis, about);
    if (n_opts) {
        printf("\nOptions:\n");
        for (size_t i = 0; i < n_opts; i++) {
            char lhs[64];
            if (opts[i].short_name)
                snprintf(lhs, sizeof lhs, "-%c, --%s%s%s", opts[i].short_name, opts[i].name,
                         opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
            else
                snprintf(lhs, sizeof lhs, "    --%s%s%s", opts[i].name, opts[i].arg ? " " : "",
                         opts[i].arg ? opts[i].arg : "");
            printf("  %-26s %s\n", lhs, opts[i].help);
        }
    }
    if (spec) {
        printf("\nSetup (the same keys work in a scenario file as `key = value`):\n");
        printf("  %-26s %s\n", "    --config FILE", "read setup keys from an INI scenario file");
        for (size_t i = 0; i < gs_spec_key_count(); i++) {
            char lhs[64];
            snprintf(lhs, sizeof lhs, "    --%s %s", gs_spec_key_name(i),
                     strcmp(gs_spec_key_name(i), "standardize") ? "V" : "");
            const char *def = gs_spec_key_default(i);
            printf("  %-26s %s [default: %s]\n", lhs, gs_spec_key_help(i), def[0] ? def : "none");
        }
    }
    printf("\nExit status: 0 success, 1 a check asked for failed (--fail-on), 2 bad usage or "
           "input,\n3 out of memory or another failure of the machine, 128+N killed by signal "
           "N.\n");
}

/* The long name behind getopt's val (1000+i own options, 2000+k setup keys, 3000 config). */
static const char *long_name_of(int val, const struct option *lo, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lo[i].val == val)
            return lo[i].name;
    return NULL;
}

/* One clear line for what getopt refused: a missing value ("option --depth needs a value"),
 * a value given to a flag, an ambiguous abbreviation, or an unknown option with the closest
 * known one ("did you mean '--depth'?"). Returns 2. */
static int option_error(const char *cmd, int c, const char *arg, const struct option *lo, size_t n,
                        const CliOpt *opts, size_t n_opts)
{
    if (c == ':') {
        if (optopt > 0 && optopt < 256)
            return cli_fail(cmd, "option -%c needs a value", optopt);
        const char *name = long_name_of(optopt, lo, n);
        if (name)
            return cli_fail(cmd, "option --%s needs a value", name);
        return cli_fail(cmd, "option '%s' needs a value", arg);
    }
    if (optopt > 0 && optopt < 256) {
        for (size_t i = 0; i < n_opts; i++)
            if (opts[i].short_name == optopt)
                return cli_fail(cmd, "option -%c needs a value", optopt);
        return cli_fail(cmd, "unknown option '-%c' (see --help)", optopt);
    }
    if (strncmp(arg, "--", 2) != 0)
        return cli_fail(cmd, "unknown option '%s' (see --help)", arg);
    char word[128];
    size_t len = strcspn(arg + 2, "=");
    snprintf(word, sizeof word, "%.*s", (int)(len < sizeof word ? len : sizeof word - 1), arg + 2);
    const char *names[512];
    size_t nn = 0, n_prefix = 0;
    char list[512] = "";
    for (size_t i = 0; i < n && nn < 512; i++) {
        names[nn++] = lo[i].name;
        if (!strcmp(lo[i].name, word)) {
            if (lo[i].has_arg == no_argument && arg[2 + len] == '=')
                return cli_fail(cmd, "option --%s takes no value (got '%s')", word, arg);
            return cli_fail(cmd, "option --%s needs a value", word);
        }
        if (word[0] && !strncmp(lo[i].name, word, strlen(word))) {
            if (lo[i].has_arg == no_argument && arg[2 + len] == '=')
                return cli_fail(cmd, "option --%s takes no value (got '%s')", lo[i].name, arg);
            n_prefix++;
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s--%s", used ? ", " : "", lo[i].name);
        }
    }
    if (n_prefix > 1)
        return cli_fail(cmd, "option '--%s' is ambiguous (%s)", word, list);
    if (n_prefix == 1) /* an abbreviation of a value-taking option with no value */
        return cli_fail(cmd, "option '%s' needs a value (%s)", arg, list);
    const char *near = gs_text_suggest(word, names, nn);
    if (near)
        return cli_fail(cmd, "unknown option '--%s'; did you mean '--%s'?", word, near);
    return cli_fail(cmd, "unknown option '--%s' (see --help)", word);
}

int cli_parse(const char *cmd, const char *synopsis, const char *about, int argc, char **argv,
              GsSpec *spec, const CliOpt *opts, size_t n_opts, CliOptFn fn, void *ctx,
              int *first_pos)
{
    size_t nk = spec ? gs_spec_key_count() : 0;
    size_t total = nk + n_opts + 3;
    struct option *lo = calloc(total, sizeof *lo);
    char shorts[80] = "";
    if (!lo) {
        fprintf(stderr, "gradscope %s: out of memory\n", cmd);
        return GS_EXIT_FAIL;
    }
    /* val encoding: 1000+i own options, 2000+k setup keys, 3000 config, 'h' help. */
    size_t n = 0;
    for (size_t i = 0; i < n_opts; i++) {
        lo[n++] = (struct option){opts[i].name, opts[i].has_arg, NULL, 1000 + (int)i};
        if (opts[i].short_name) {
            size_t len = strlen(shorts);
            shorts[len] = (char)opts[i].short_name;
            shorts[len + 1] = '\0';
            if (opts[i].has_arg)
                strcat(shorts, ":");
        }
    }
    for (size_t k = 0; k < nk; k++) {
        int flag = !strcmp(gs_spec_key_name(k), "standardize");
        lo[n++] = (struct option){gs_spec_key_name(k), flag ? no_argument : required_argument, NULL,
                                  2000 + (int)k};
    }
    if (spec)
        lo[n++] = (struct option){"config", required_argument, NULL, 3000};
    lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
    strcat(shorts, "h");
    /* a leading ':' makes getopt tell a missing value (':') from an unknown option ('?') */
    memmove(shorts + 1, shorts, strlen(shorts) + 1);
    shorts[0] = ':';

    /* Pass 1: only --config and --help, so the file's keys come before the command line's. */
    /* It runs over a copy of argv: getopt permutes what it scans, and pass 2 must see the
     * user's order ("diagnose t.csv --json" must not become "--json t.csv"). */
    int rc = 0;
    char **argv1 = malloc(((size_t)argc + 1) * sizeof *argv1);
    if (!argv1) {
        free(lo);
        fprintf(stderr, "gradscope %s: out of memory\n", cmd);
        return GS_EXIT_FAIL;
    }
    memcpy(argv1, argv, (size_t)argc * sizeof *argv1);
    argv1[argc] = NULL;
    opterr = 0;
    optind = 0; /* 0: glibc reinitializes its scanning state */
    int c;
    while ((c = getopt_long(argc, argv1, shorts, lo, NULL)) != -1) {
        if (c == 'h') {
            print_help(cmd, synopsis, about, spec, opts, n_opts);
            free(argv1);
            free(lo);
            return -1;
        }
        if (c == 3000) {
            GsError err = {{0}};
            last_config = optarg;
            GsStatus st = gs_spec_load_ini(spec, optarg, &err);
            if (st != GS_OK) {
                rc = cli_fail(cmd, "--config: %s", err.msg);
                goto done;
            }
        }
    }
    /* Pass 2: everything else, in order, with errors reported. */
    optind = 0;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (c == '?' || c == ':') {
            rc = option_error(cmd, c, argv[optind - 1], lo, n, opts, n_opts);
            goto done;
        }
        /* "--depth --width 3": getopt hands "--width" to --depth as its value */
        if (optarg && !strncmp(optarg, "--", 2) && optarg[2]) {
            size_t len = strcspn(optarg + 2, "=");
            for (size_t i = 0; i < n; i++)
                if (strlen(lo[i].name) == len && !strncmp(lo[i].name, optarg + 2, len)) {
                    const char *name = long_name_of(c, lo, n);
                    if (name)
                        rc = cli_fail(cmd, "option --%s needs a value (got the option '%s')", name,
                                      optarg);
                    else
                        rc = cli_fail(cmd, "option -%c needs a value (got the option '%s')", c,
                                      optarg);
                    goto done;
                }
        }
        if (c == 3000 || c == 'h')
            continue;
        if (c >= 2000 && c < 3000) {
            GsError err = {{0}};
            const char *key = gs_spec_key_name((size_t)(c - 2000));
            if (gs_spec_set(spec, key, optarg ? optarg : "true", &err) != GS_OK) {
                rc = cli_fail(cmd, "%s", err.msg);
                goto done;
            }
            continue;
        }
        if (c >= 1000 && c < 2000) {
            if ((rc = fn(ctx, c - 1000, optarg)) != 0)
                goto done;
            continue;
        }
        for (size_t i = 0; i < n_opts; i++)
            if (opts[i].short_name == c) {
                if ((rc = fn(ctx, (int)i, optarg)) != 0)
                    goto done;
                break;
            }
    }
    *first_pos = optind;
done:
    free(argv1);
    free(lo);
    return rc;
}

void cli_blas_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
}
