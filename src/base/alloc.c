/* alloc.c — checked and aligned allocation. */
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

void *slm_malloc(size_t size, const char *what) {
    void *p = malloc(size ? size : 1);
    if (!p) slm_error(SLM_ERR_NOMEM, "out of memory allocating %zu bytes for %s", size, what);
    return p;
}

void *slm_calloc(size_t n, size_t size, const char *what) {
    uint64_t total;
    if (!slm_mul_ok(n, size, &total) || total > SIZE_MAX) {
        slm_error(SLM_ERR_NOMEM, "size overflow allocating %s", what);
        return NULL;
    }
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) slm_error(SLM_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", n, size, what);
    return p;
}

void *slm_aligned_alloc(size_t size, const char *what) {
    size_t rounded = (size + SLM_ALIGN - 1) / SLM_ALIGN * SLM_ALIGN;
    if (rounded < size) {
        slm_error(SLM_ERR_NOMEM, "size overflow allocating %s", what);
        return NULL;
    }
    void *p = aligned_alloc(SLM_ALIGN, rounded ? rounded : SLM_ALIGN);
    if (!p) {
        slm_error(SLM_ERR_NOMEM, "out of memory allocating %zu bytes for %s", size, what);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

void slm_aligned_free(void *ptr) { free(ptr); }

char *slm_strndup(const char *s, size_t len) {
    char *p = slm_malloc(len + 1, "string");
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void slm_free(void *ptr) { free(ptr); }
