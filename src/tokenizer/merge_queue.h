/* merge_queue.h — the priority queue both BPE encoders merge from: candidate pairs of adjacent
 * symbols, lowest key first and the leftmost pair on equal keys. A candidate carries three
 * words the encoder uses to tell whether it went stale after it was queued. */
#ifndef SLM_TOKENIZER_MERGE_QUEUE_H
#define SLM_TOKENIZER_MERGE_QUEUE_H
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    double key;           /* lower merges first (a rank, or a negated score) */
    int32_t left, right;  /* symbol indices */
    int32_t check[3];     /* the encoder's staleness data */
} merge_candidate;

typedef struct {
    merge_candidate *items;
    size_t n, cap;
} merge_queue;

static inline bool merge_candidate_before(const merge_candidate *a, const merge_candidate *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

/* Queues a candidate; false when out of memory. */
static inline bool merge_queue_push(merge_queue *q, merge_candidate c) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        merge_candidate *p = realloc(q->items, cap * sizeof *p);
        if (!p) return false;
        q->items = p;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!merge_candidate_before(&c, &q->items[parent])) break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = c;
    return true;
}

/* Removes and returns the first candidate (the queue must not be empty). */
static inline merge_candidate merge_queue_pop(merge_queue *q) {
    merge_candidate top = q->items[0], last = q->items[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && merge_candidate_before(&q->items[c + 1], &q->items[c])) c++;
        if (!merge_candidate_before(&q->items[c], &last)) break;
        q->items[i] = q->items[c];
        i = c;
    }
    if (q->n) q->items[i] = last;
    return top;
}

#endif
