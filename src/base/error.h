/* error.h — internal helpers for setting the thread-local error message behind
 * slm_last_error(). Every failing library function sets one before returning. */
#ifndef SLM_BASE_ERROR_H
#define SLM_BASE_ERROR_H
#include "slm.h"

/* Records a printf-style message for slm_last_error() and returns st, so callers can write
 * `return slm_error(SLM_ERR_FORMAT, "%s: bad magic", path);`. */
slm_status slm_error(slm_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the current message. */
void slm_error_clear(void);

#endif
