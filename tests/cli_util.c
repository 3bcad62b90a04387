/* Helpers for tests that run the real binary: a temporary directory, running a command and
 * capturing its output, fixtures. */
#include "cli_util.h"

#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

char gs_tmpdir[256];
char gs_out[65536];

void gs_cli_setup(void)
{
    snprintf(gs_tmpdir, sizeof gs_tmpdir, "/tmp/gs_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(gs_tmpdir));
}

void gs_cli_teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", gs_tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

int gs_cli_run(int stderr_too, const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    const char *bin = getenv("GS_BIN");
    snprintf(cmd, sizeof cmd, "cd '%s' && OPENBLAS_NUM_THREADS=1 %s %s %s", gs_tmpdir,
             bin ? bin : "build/gradscope", args, stderr_too ? "2>&1" : "2>/dev/null");
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(gs_out, 1, sizeof gs_out - 1, p);
    gs_out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *gs_test_data(const char *name)
{
    static char path[4][1024];
    static int k;
    const char *d = getenv("GS_TEST_DATA");
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", d ? d : "tests/data", name);
    return path[k];
}

int gs_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int gs_file_nonempty(const char *dir, const char *name)
{
    char p[1024];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && sb.st_size > 0;
}
