/* text_filter.h — turns the bytes of generated tokens into text a client may see: whole UTF-8
 * characters (invalid bytes as U+FFFD), with any tail that could begin a stop string held back
 * and the text cut where a stop string appears. */
#ifndef SLM_SERVE_TEXT_FILTER_H
#define SLM_SERVE_TEXT_FILTER_H
#include <stddef.h>

/* Receives text that is safe to show. Returns 0, or -1 when out of memory. */
typedef int (*text_filter_out)(const char *text, size_t len, void *user);

typedef struct {
    char *buf; /* every byte generated so far (up to a stop string) */
    size_t n, cap;
    size_t emitted;           /* bytes of buf passed on (or replaced) */
    char *const *stop;        /* NULL-terminated stop strings (borrowed), or NULL */
    text_filter_out out;
    void *user;
} text_filter;

/* Starts a filter (no allocation until the first push). */
void text_filter_init(text_filter *f, char *const *stop, text_filter_out out, void *user);
/* Adds the bytes of one token and passes on what is safe. Returns 1 when a stop string
 * matched (the text before it has been passed on and the filter is finished), 0 otherwise,
 * -1 when out of memory. */
int text_filter_push(text_filter *f, const char *bytes, size_t n);
/* Passes on everything still held (the generation ended for another reason). Returns 0 or -1. */
int text_filter_finish(text_filter *f);
/* Releases the buffer. */
void text_filter_free(text_filter *f);

#endif
