/* textbuf.h — growable id lists and byte buffers shared by the tokenizers. */
#ifndef SLM_TOKENIZER_TEXTBUF_H
#define SLM_TOKENIZER_TEXTBUF_H
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A growable array of token ids. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} id_list;

/* Appends an id; false when out of memory. */
static inline bool ids_push(id_list *l, int32_t id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int32_t *p = realloc(l->ids, cap * sizeof *p);
        if (!p) return false;
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return true;
}

/* A growable byte buffer, always NUL-terminated once anything was put. */
typedef struct {
    char *s;
    size_t n, cap;
} byte_buf;

/* Appends n bytes; false when out of memory. */
static inline bool buf_put(byte_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return false;
        b->s = p;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

#endif
