/* Helpers shared by the tests that run the real gradscope binary in a temporary directory. */
#ifndef GS_TEST_CLI_UTIL_H
#define GS_TEST_CLI_UTIL_H

/* The temporary directory of the running test (a fresh one per test via the fixture). */
extern char gs_tmpdir[256];
/* Combined stdout and stderr of the last gs_cli_run. */
extern char gs_out[65536];

/* Check fixture: creates / removes gs_tmpdir. */
void gs_cli_setup(void);
void gs_cli_teardown(void);
/* Runs `gradscope ARGS` in gs_tmpdir (the binary from $GS_BIN); captures stdout and, unless
 * stderr_too is 0, stderr into gs_out; returns the exit code (-1 when killed). */
int gs_cli_run(int stderr_too, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Path of a fixture under $GS_TEST_DATA (else tests/data); four rotating buffers. */
const char *gs_test_data(const char *name);
/* Entries of dir other than dot files; -1 when it cannot be read. */
int gs_count_entries(const char *dir);
/* 1 when dir/name exists and is not empty. */
int gs_file_nonempty(const char *dir, const char *name);

#endif
