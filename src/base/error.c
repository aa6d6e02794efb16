/* error.c — status names and the thread-local error message of slm_last_error(). */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_message[1024];

slm_status slm_error(slm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_message, sizeof g_message, fmt, ap);
    va_end(ap);
    return st;
}

void slm_error_clear(void) { g_message[0] = '\0'; }

const char *slm_last_error(void) { return g_message; }

const char *slm_status_name(slm_status status) {
    switch (status) {
    case SLM_OK: return "ok";
    case SLM_ERR_INVALID_ARG: return "invalid argument";
    case SLM_ERR_IO: return "i/o error";
    case SLM_ERR_FORMAT: return "format error";
    case SLM_ERR_UNSUPPORTED: return "unsupported";
    case SLM_ERR_NOMEM: return "out of memory";
    case SLM_ERR_RANGE: return "out of range";
    }
    return "unknown status";
}

const char *slm_version(void) { return "0.1.0"; }
