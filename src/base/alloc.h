/* alloc.h — checked and aligned allocation, and overflow-safe size arithmetic. */
#ifndef SLM_BASE_ALLOC_H
#define SLM_BASE_ALLOC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLM_ALIGN 64

/* malloc that sets an SLM_ERR_NOMEM message naming `what` on failure. Caller frees. */
void *slm_malloc(size_t size, const char *what);
/* calloc(n, size) with overflow check and an error message naming `what`. Caller frees. */
void *slm_calloc(size_t n, size_t size, const char *what);
/* A zeroed block aligned to SLM_ALIGN bytes; free with slm_aligned_free. */
void *slm_aligned_alloc(size_t size, const char *what);
/* Frees a block from slm_aligned_alloc (NULL is fine). */
void slm_aligned_free(void *ptr);
/* *out = a * b; returns false on overflow. */
static inline bool slm_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
/* *out = a + b; returns false on overflow. */
static inline bool slm_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
/* Duplicates len bytes of s as a NUL-terminated string. Caller frees. */
char *slm_strndup(const char *s, size_t len);

#endif
