#include "pdbn_status.h"

#include <stdarg.h>
#include <stdio.h>

int pdbn_fail(pdbn_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *pdbn_strerror(int code)
{
    switch (code) {
    case PDBN_OK: return "ok";
    case PDBN_ERR_VALUE: return "invalid value";
    case PDBN_ERR_NOMEM: return "out of memory";
    case PDBN_ERR_INTERRUPTED: return "interrupted";
    case PDBN_ERR_NUMERIC: return "non-finite value";
    case PDBN_ERR_INTERNAL: return "internal error";
    default: return "unknown error";
    }
}

int pdbn_poll(const pdbn_control *ctl, pdbn_error *err)
{
    if (ctl != NULL && ctl->interrupted != NULL && ctl->interrupted(ctl->arg))
        return pdbn_fail(err, PDBN_ERR_INTERRUPTED, "interrupted");
    return PDBN_OK;
}

void pdbn_report(const pdbn_control *ctl, double fraction)
{
    if (ctl != NULL && ctl->progress != NULL) ctl->progress(ctl->arg, fraction);
}
