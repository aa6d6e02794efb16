/* tensor.h — a view of weight data stored elsewhere (an mmap'd file): type, shape, bytes. */
#ifndef SLM_TENSOR_TENSOR_H
#define SLM_TENSOR_TENSOR_H
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

typedef struct {
    const char *name;  /* borrowed */
    slm_type type;
    int n_dims;
    int64_t ne[4];     /* ne[0] fastest: a matrix is (ne[1] rows, ne[0] cols) */
    const void *data;  /* borrowed, read-only */
    size_t row_bytes;  /* bytes of one row of ne[0] elements */
} slm_tensor;

/* Number of rows (all dimensions but the first). */
static inline int64_t slm_tensor_rows(const slm_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }
/* Pointer to row r. */
static inline const void *slm_tensor_row(const slm_tensor *t, int64_t r) {
    return (const uint8_t *)t->data + (size_t)r * t->row_bytes;
}

#endif
