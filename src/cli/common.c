/* Option parsing shared by the commands: one getopt_long table built from the setup
 * key table plus each command's own options. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gradscope %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return GS_EXIT_USAGE;
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
           "input.\n");
}

int cli_parse(const char *cmd, const char *synopsis, const char *about, int argc, char **argv,
              GsSpec *spec, const CliOpt *opts, size_t n_opts, CliOptFn fn, void *ctx,
              int *first_pos)
{
    size_t nk = spec ? gs_spec_key_count() : 0;
    size_t total = nk + n_opts + 3;
    struct option *lo = calloc(total, sizeof *lo);
    char shorts[64] = "";
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

    /* Pass 1: only --config and --help, so the file's keys come before the command line's. */
    int rc = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (c == 'h') {
            print_help(cmd, synopsis, about, spec, opts, n_opts);
            free(lo);
            return -1;
        }
        if (c == 3000) {
            GsError err = {{0}};
            GsStatus st = gs_spec_load_ini(spec, optarg, &err);
            if (st != GS_OK) {
                rc = cli_fail(cmd, "--config: %s", err.msg);
                goto done;
            }
        }
    }
    /* Pass 2: everything else, in order, with errors reported. */
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (c == '?') {
            const char *bad = argv[optind - 1];
            if (optopt && optopt < 1000)
                rc = cli_fail(cmd, "unknown or incomplete option '-%c' (see --help)", optopt);
            else
                rc = cli_fail(cmd, "unknown option or missing value: '%s' (see --help)", bad);
            goto done;
        }
        if (c == ':') {
            rc = cli_fail(cmd, "option '%s' needs a value", argv[optind - 1]);
            goto done;
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
    free(lo);
    return rc;
}
