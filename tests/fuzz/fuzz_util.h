/* Shared by the libFuzzer harnesses: the readers take paths, so each input goes to a
 * private scratch file first. */
#ifndef GS_FUZZ_UTIL_H
#define GS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..size) to this process's scratch file with the given suffix (".csv", ".ini")
 * and returns its path (static storage, one per suffix slot 0..3). Aborts on I/O failure:
 * that is the harness's fault, not the input's. */
const char *gs_fuzz_file(int slot, const char *suffix, const uint8_t *data, size_t size);
/* Path of an empty scratch name in the same directory (for outputs), slot 0..3. */
const char *gs_fuzz_path(int slot, const char *suffix);

#endif
