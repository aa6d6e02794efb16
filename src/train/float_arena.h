/* float_arena.h — one allocation carved into consecutive float arrays (a model's parameters,
 * gradients, activations): the total size of the arrays and the pointers into the block. */
#ifndef SLM_TRAIN_FLOAT_ARENA_H
#define SLM_TRAIN_FLOAT_ARENA_H
#include <stddef.h>

/* Sum of n array sizes (floats). */
static inline size_t float_arena_total(const size_t *sizes, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += sizes[i];
    return total;
}

/* Points ptr[i] at array i of a block of float_arena_total(sizes, n) floats at mem (the caller
 * owns the block). */
static inline void float_arena_point(float **ptr, const size_t *sizes, int n, float *mem) {
    for (int i = 0; i < n; i++) {
        ptr[i] = mem;
        mem += sizes[i];
    }
}

#endif
