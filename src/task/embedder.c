/* embedder.c — the public slm_embedder: sentence embeddings from a BERT encoder. Texts are
 * tokenised ([CLS] ... [SEP], truncated to the model's length), sorted by length so each
 * batch pads little, encoded batch by batch, pooled (mean or [CLS]) and L2-normalised. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "models/bert.h"
#include "tokenizer/tokenizer.h"

struct slm_embedder {
    bert_model *model;
    bert_state *state;
    int batch;       /* sentences per forward batch at most */
    int max_tokens;  /* tokens per sentence at most (truncation) */
    int budget;      /* tokens per forward batch at most (B * T) */
    int normalize;
};

slm_status slm_embedder_open(const char *path, const slm_embedder_params *params, slm_embedder **out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_embedder_open: NULL argument");
    *out = NULL;
    slm_embedder_params p = params ? *params : (slm_embedder_params){0};
    if (p.n_threads > 0) {
        slm_status st = slm_set_threads(p.n_threads);
        if (st != SLM_OK) return st;
    }
    slm_embedder *e = slm_calloc(1, sizeof *e, "embedder");
    if (!e) return SLM_ERR_NOMEM;
    slm_status st = bert_load(path, &e->model);
    if (st == SLM_OK) {
        const bert_hparams *hp = &e->model->hp;
        e->batch = p.batch > 0 ? p.batch : 32;
        e->max_tokens = p.max_tokens > 0 ? p.max_tokens : hp->max_seq_length > 0 ? hp->max_seq_length : hp->n_ctx_train;
        if (e->max_tokens > hp->n_ctx_train) e->max_tokens = hp->n_ctx_train;
        if (e->max_tokens < 2) st = slm_error(SLM_ERR_RANGE, "embedder: max_tokens %d is too small (at least 2)", e->max_tokens);
        e->budget = e->batch * 64 > e->max_tokens ? e->batch * 64 : e->max_tokens;
        e->normalize = !p.no_normalize;
    }
    if (st == SLM_OK) st = bert_state_new(e->model, e->budget, e->max_tokens, &e->state);
    if (st != SLM_OK) {
        slm_embedder_free(e);
        return st;
    }
    *out = e;
    return SLM_OK;
}

void slm_embedder_free(slm_embedder *e) {
    if (!e) return;
    bert_state_free(e->state);
    bert_free(e->model);
    free(e);
}

int slm_embedder_dim(const slm_embedder *e) { return e->model->hp.n_embd; }
const slm_tokenizer *slm_embedder_tokenizer(const slm_embedder *e) { return e->model->tokenizer; }

typedef struct {
    int32_t *ids;
    int n;
    size_t index;
} tokenized;

static int by_length(const void *a, const void *b) {
    const tokenized *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

slm_status slm_embed(slm_embedder *e, const char *const *texts, size_t n, float *out) {
    if (!e || (!texts && n) || (!out && n)) return slm_error(SLM_ERR_INVALID_ARG, "slm_embed: NULL argument");
    const slm_tokenizer *tok = e->model->tokenizer;
    const int E = e->model->hp.n_embd;
    tokenized *items = slm_calloc(n ? n : 1, sizeof *items, "tokenised texts");
    int32_t *batch_ids = slm_malloc((size_t)e->budget * sizeof(int32_t), "batch tokens");
    int *lens = slm_malloc((size_t)e->budget * sizeof(int), "batch lengths");
    float *pooled = slm_malloc((size_t)e->batch * E * sizeof(float), "pooled embeddings");
    slm_status st = items && batch_ids && lens && pooled ? SLM_OK : SLM_ERR_NOMEM;
    slm_tokenize_options opts = {1, 0};
    for (size_t i = 0; i < n && st == SLM_OK; i++) {
        if (!texts[i]) {
            st = slm_error(SLM_ERR_INVALID_ARG, "slm_embed: text %zu is NULL", i);
            break;
        }
        size_t k;
        st = slm_tokenize(tok, texts[i], strlen(texts[i]), &opts, &items[i].ids, &k);
        if (st != SLM_OK) break;
        if (k > (size_t)e->max_tokens) { /* truncate, keeping [SEP] last */
            items[i].ids[e->max_tokens - 1] = items[i].ids[k - 1];
            k = (size_t)e->max_tokens;
        }
        items[i].n = (int)k;
        items[i].index = i;
    }
    if (st == SLM_OK) qsort(items, n, sizeof *items, by_length);
    for (size_t start = 0; start < n && st == SLM_OK;) {
        /* the longest batch of similar lengths that fits the budget */
        size_t end = start + 1;
        while (end < n && end - start < (size_t)e->batch && (end - start + 1) * (size_t)items[end].n <= (size_t)e->budget) end++;
        const int B = (int)(end - start), T = items[end - 1].n;
        for (int b = 0; b < B; b++) {
            const tokenized *it = &items[start + b];
            lens[b] = it->n;
            memcpy(batch_ids + (size_t)b * T, it->ids, (size_t)it->n * sizeof(int32_t));
            for (int t = it->n; t < T; t++) batch_ids[(size_t)b * T + t] = tok->pad >= 0 ? tok->pad : 0;
        }
        const float *hidden;
        st = bert_encode(e->model, e->state, batch_ids, lens, B, T, &hidden);
        if (st != SLM_OK) break;
        bert_pooling pool = e->model->hp.pooling == BERT_POOL_CLS ? BERT_POOL_CLS : BERT_POOL_MEAN;
        bert_pool(hidden, lens, B, T, E, pool, e->normalize, pooled);
        for (int b = 0; b < B; b++) memcpy(out + items[start + b].index * E, pooled + (size_t)b * E, (size_t)E * sizeof(float));
        start = end;
    }
    if (items)
        for (size_t i = 0; i < n; i++) free(items[i].ids);
    free(items);
    free(batch_ids);
    free(lens);
    free(pooled);
    return st == SLM_ERR_NOMEM ? slm_error(st, "slm_embed: out of memory") : st;
}
