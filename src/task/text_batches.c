/* text_batches.c — length-sorted batches of encoded texts through a classifier model. */
#include "task/text_batches.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define INDEX_BITS 40
#define INDEX_MASK ((1ull << INDEX_BITS) - 1)

slm_status text_batches_init(text_batches *tb, int max_len, int batch) {
    tb->max_len = max_len;
    tb->batch = batch < 1 ? 1 : batch > TEXT_BATCHES_MAX ? TEXT_BATCHES_MAX : batch;
    tb->tokens = malloc(sizeof(int32_t) * (size_t)tb->batch * (size_t)max_len);
    return tb->tokens ? SLM_OK : slm_error(SLM_ERR_NOMEM, "classifier: out of memory");
}

void text_batches_free(text_batches *tb) {
    free(tb->ids);
    free(tb->lens);
    free(tb->order);
    free(tb->tokens);
    memset(tb, 0, sizeof *tb);
}

static slm_status grow(text_batches *tb, size_t n) {
    if (n <= tb->cap) return SLM_OK;
    int32_t *ids = realloc(tb->ids, sizeof(int32_t) * n * (size_t)tb->max_len);
    if (ids) tb->ids = ids;
    int *lens = realloc(tb->lens, sizeof(int) * n);
    if (lens) tb->lens = lens;
    uint64_t *order = realloc(tb->order, sizeof(uint64_t) * n);
    if (order) tb->order = order;
    if (!ids || !lens || !order) return slm_error(SLM_ERR_NOMEM, "classifier: out of memory for %zu texts", n);
    tb->cap = n;
    return SLM_OK;
}

static int by_key(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

slm_status text_batches_predict(text_batches *tb, const char *const *texts, size_t n, int K, text_encode_fn encode,
                                text_forward_fn forward, void *model, float *probs) {
    if (n > INDEX_MASK) return slm_error(SLM_ERR_INVALID_ARG, "classifier: too many texts (%zu) in one call", n);
    slm_status st = grow(tb, n);
    if (st != SLM_OK) return st;
    for (size_t i = 0; i < n; i++) {
        int32_t *row = tb->ids + i * (size_t)tb->max_len;
        if ((st = encode(model, i, texts[i], tb->max_len, row, &tb->lens[i]))) return st;
        /* padding: any valid id, never attended */
        memset(row + tb->lens[i], 0, sizeof(int32_t) * (size_t)(tb->max_len - tb->lens[i]));
        tb->order[i] = (uint64_t)tb->lens[i] << INDEX_BITS | i;
    }
    qsort(tb->order, n, sizeof(uint64_t), by_key);
    int lens[TEXT_BATCHES_MAX];
    for (size_t b0 = 0; b0 < n; b0 += (size_t)tb->batch) {
        const int Bu = n - b0 < (size_t)tb->batch ? (int)(n - b0) : tb->batch;
        const int T = (int)(tb->order[b0 + (size_t)Bu - 1] >> INDEX_BITS); /* the longest: sorted */
        for (int b = 0; b < Bu; b++) {
            const size_t i = (size_t)(tb->order[b0 + (size_t)b] & INDEX_MASK);
            memcpy(tb->tokens + (size_t)b * T, tb->ids + i * (size_t)tb->max_len, sizeof(int32_t) * (size_t)T);
            lens[b] = tb->lens[i];
        }
        const float *scores = forward(model, tb->tokens, lens, Bu, T);
        for (int b = 0; b < Bu; b++) {
            const float *l = scores + (size_t)b * K;
            float *p = probs + (size_t)(tb->order[b0 + (size_t)b] & INDEX_MASK) * (size_t)K;
            float max = l[0];
            for (int k = 1; k < K; k++) max = l[k] > max ? l[k] : max;
            double sum = 0.0;
            for (int k = 0; k < K; k++) sum += p[k] = expf(l[k] - max);
            for (int k = 0; k < K; k++) p[k] = (float)(p[k] / sum);
        }
    }
    return SLM_OK;
}
