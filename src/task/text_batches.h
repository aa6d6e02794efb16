/* text_batches.h — the batching a classifier backend over an encoded-text model needs: encode
 * each text into a (max_len) row, sort the texts by length, run the model over batches of
 * similar length, softmax its scores into each text's probabilities. Internal to libslm. */
#ifndef SLM_TASK_TEXT_BATCHES_H
#define SLM_TASK_TEXT_BATCHES_H
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* Encodes text i into row (room for max_len ids), its length into *len. */
typedef slm_status (*text_encode_fn)(void *model, size_t i, const char *text, int max_len, int32_t *row, int *len);
/* Runs the model over a (Bu, T) batch; returns its (Bu, K) class scores (logits), model-owned. */
typedef const float *(*text_forward_fn)(void *model, const int32_t *tokens, const int *lens, int Bu, int T);

typedef struct {
    int max_len, batch;   /* ids per text; texts per forward call (at most TEXT_BATCHES_MAX) */
    int32_t *ids;         /* (cap, max_len) tokens of the texts of one call, grown as needed */
    int *lens;            /* (cap) */
    uint64_t *order;      /* (cap) length << 40 | index: sorted, the texts by length */
    size_t cap;
    int32_t *tokens;      /* (batch, max_len) one gathered batch */
} text_batches;

#define TEXT_BATCHES_MAX 4096

/* Sets max_len and batch (clamped to 1..TEXT_BATCHES_MAX) and allocates the batch buffer. */
slm_status text_batches_init(text_batches *tb, int max_len, int batch);
/* Frees the buffers (a zeroed struct is fine). */
void text_batches_free(text_batches *tb);
/* probs (n, K) = softmax of the model's scores of each text, batched by length. */
slm_status text_batches_predict(text_batches *tb, const char *const *texts, size_t n, int K, text_encode_fn encode,
                                text_forward_fn forward, void *model, float *probs);

#endif
