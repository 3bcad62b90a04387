/* Scratch files for the harnesses, in $TMPDIR (else /tmp), named by process id so parallel
 * fuzzing jobs (-jobs=N) do not share them. */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char paths[4][512];

const char *gs_fuzz_path(int slot, const char *suffix)
{
    const char *dir = getenv("TMPDIR");
    snprintf(paths[slot], sizeof paths[slot], "%s/gs_fuzz_%ld_%d%s", dir && *dir ? dir : "/tmp",
             (long)getpid(), slot, suffix);
    return paths[slot];
}

const char *gs_fuzz_file(int slot, const char *suffix, const uint8_t *data, size_t size)
{
    const char *p = gs_fuzz_path(slot, suffix);
    FILE *fp = fopen(p, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
        perror(p);
        abort();
    }
    return p;
}
