/* utf8.h — UTF-8 validation helpers. */
#ifndef SLM_BASE_UTF8_H
#define SLM_BASE_UTF8_H
#include <stddef.h>

/* Length in bytes (1-4) of the valid UTF-8 character at s (n bytes available), or 0 if the
 * bytes there do not start a valid, shortest-form character. */
size_t slm_utf8_valid_len(const char *s, size_t n);
/* Length a UTF-8 lead byte announces (1-4), or 1 for a byte that cannot lead a character. */
size_t slm_utf8_lead_len(unsigned char c);

#endif
