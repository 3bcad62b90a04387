/* Status names and the error-message helper. */
#include "gradscope/status.h"

#include <stdarg.h>
#include <stdio.h>

const char *gs_strerror(GsStatus status)
{
    switch (status) {
    case GS_OK: return "success";
    case GS_ERR_NOMEM: return "out of memory";
    case GS_ERR_INVALID: return "invalid value";
    case GS_ERR_IO: return "input/output error";
    case GS_ERR_FORMAT: return "malformed file";
    case GS_ERR_RANGE: return "setup too large";
    }
    return "unknown status";
}

GsStatus gs_error(GsError *err, GsStatus status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}
