/* gradscope status codes and the error message buffer every fallible call can fill. */
#ifndef GRADSCOPE_STATUS_H
#define GRADSCOPE_STATUS_H

#include <stddef.h>

/* Result of every fallible gradscope call. */
typedef enum {
    GS_OK = 0,
    GS_ERR_NOMEM,   /* an allocation failed */
    GS_ERR_INVALID, /* a value is malformed or out of range (user input) */
    GS_ERR_IO,      /* a file could not be opened, read or written */
    GS_ERR_FORMAT,  /* a file's contents do not follow the expected format */
    GS_ERR_RANGE    /* a setup is well-formed but too large to run */
} GsStatus;

/* Human-readable name of a status; never NULL, never fails. */
const char *gs_strerror(GsStatus status);

/* Message naming the offending value (option, file, line, column). Callers own the
 * storage; library calls that fail write one line into it (no trailing newline). */
typedef struct {
    char msg[1024];
} GsError;

/* Formats a message into err (err may be NULL: nothing happens); returns status so
 * that `return gs_error(err, GS_ERR_INVALID, "...")` reads as one statement. */
GsStatus gs_error(GsError *err, GsStatus status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
