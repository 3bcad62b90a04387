/* libFuzzer harness: a scenario (INI) file -> spec -> validation, and the spec written back
 * key by key must be accepted again (a crash, leak or sanitizer report is a bug). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gradscope/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = gs_fuzz_file(0, ".ini", data, size);
    GsSpec spec;
    gs_spec_default(&spec);
    GsError err = {{0}};
    if (gs_spec_load_ini(&spec, path, &err) != GS_OK) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    (void)gs_spec_validate(&spec, 0, 0, &err);
    (void)gs_spec_validate(&spec, 2, 3, &err);
    /* Every value the spec holds formats to text that sets it again. */
    GsSpec again;
    gs_spec_default(&again);
    for (size_t k = 0; k < gs_spec_key_count(); k++) {
        const char *key = gs_spec_key_name(k);
        char buf[4096];
        if (gs_spec_get(&spec, key, buf, sizeof buf) != GS_OK) {
            fprintf(stderr, "get %s failed\n", key);
            abort();
        }
        if (gs_spec_set(&again, key, buf, &err) != GS_OK) {
            fprintf(stderr, "key %s: value '%s' read from a file is refused when set again: %s\n",
                    key, buf, err.msg);
            abort();
        }
    }
    return 0;
}
