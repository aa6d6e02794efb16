/* classifier_finetuned.c — the backend of slm_classifier for a GGUF written by `slm finetune
 * --task classify`: a BERT encoder with a linear head (cls.weight, cls.bias), its tokenizer and
 * the slm.classifier.* keys. Texts are tokenised as in training, sorted by length into
 * batches (little padding), run through the encoder on the thread pool, and the head's
 * logits turned into probabilities. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "task/classifier_backend.h"
#include "train/bert_train.h"
#include "train/finetune.h"

/* Texts per forward batch when the caller does not say. */
#define DEFAULT_BATCH 32

typedef struct {
    bert_model model;     /* inference buffers for (batch, max_len) */
    slm_tokenizer *tok;
    int max_len, batch;
    int32_t *ids;         /* (n, max_len) tokens of the texts of one predict call, grown as needed */
    int *lens;            /* (n) */
    uint64_t *order;      /* (n) length << 40 | index: sorted, the texts by length */
    size_t cap;           /* texts the three arrays hold */
    int32_t *tokens;      /* (batch, max_len) one gathered batch */
} finetuned_state;

static void finetuned_free(void *arg) {
    finetuned_state *s = arg;
    if (!s) return;
    bert_model_free(&s->model);
    slm_tokenizer_free(s->tok);
    free(s->ids);
    free(s->lens);
    free(s->order);
    free(s->tokens);
    free(s);
}

static slm_status grow(finetuned_state *s, size_t n) {
    if (n <= s->cap) return SLM_OK;
    int32_t *ids = realloc(s->ids, sizeof(int32_t) * n * (size_t)s->max_len);
    if (ids) s->ids = ids;
    int *lens = realloc(s->lens, sizeof(int) * n);
    if (lens) s->lens = lens;
    uint64_t *order = realloc(s->order, sizeof(uint64_t) * n);
    if (order) s->order = order;
    if (!ids || !lens || !order) return slm_error(SLM_ERR_NOMEM, "classifier: out of memory for %zu texts", n);
    s->cap = n;
    return SLM_OK;
}

static int by_key(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define INDEX_BITS 40
#define INDEX_MASK ((1ull << INDEX_BITS) - 1)

static slm_status finetuned_predict(void *arg, const char *const *texts, size_t n, float *probs) {
    finetuned_state *s = arg;
    if (n > INDEX_MASK) return slm_error(SLM_ERR_INVALID_ARG, "classifier: too many texts (%zu) in one call", n);
    slm_status st = grow(s, n);
    if (st != SLM_OK) return st;
    for (size_t i = 0; i < n; i++) {
        int cut;
        int32_t *row = s->ids + i * (size_t)s->max_len;
        if ((st = bert_encode_text(s->tok, texts[i], s->max_len, row, &s->lens[i], &cut))) return st;
        /* padding: any valid id (masked out); [PAD] is 0 */
        memset(row + s->lens[i], 0, sizeof(int32_t) * (size_t)(s->max_len - s->lens[i]));
        s->order[i] = (uint64_t)s->lens[i] << INDEX_BITS | i;
    }
    qsort(s->order, n, sizeof(uint64_t), by_key);
    const int K = s->model.cfg.K;
    int lens[4096];
    for (size_t b0 = 0; b0 < n; b0 += (size_t)s->batch) {
        const int Bu = n - b0 < (size_t)s->batch ? (int)(n - b0) : s->batch;
        const int T = (int)(s->order[b0 + (size_t)Bu - 1] >> INDEX_BITS); /* the longest: sorted */
        for (int b = 0; b < Bu; b++) {
            const size_t i = (size_t)(s->order[b0 + (size_t)b] & INDEX_MASK);
            memcpy(s->tokens + (size_t)b * T, s->ids + i * (size_t)s->max_len, sizeof(int32_t) * (size_t)T);
            lens[b] = s->lens[i];
        }
        bert_forward(&s->model, s->tokens, lens, NULL, NULL, Bu, T);
        for (int b = 0; b < Bu; b++) {
            const float *l = s->model.acts.probs + (size_t)b * K;
            float *p = probs + (size_t)(s->order[b0 + (size_t)b] & INDEX_MASK) * (size_t)K;
            float max = l[0];
            for (int k = 1; k < K; k++) max = l[k] > max ? l[k] : max;
            double sum = 0.0;
            for (int k = 0; k < K; k++) sum += p[k] = expf(l[k] - max);
            for (int k = 0; k < K; k++) p[k] = (float)(p[k] / sum);
        }
    }
    return SLM_OK;
}

static const classifier_backend g_finetuned = {finetuned_predict, finetuned_free};

/* Reads slm.classifier.labels into clf->labels. */
static slm_status read_labels(const char *path, const gguf_file *f, slm_classifier *clf) {
    const gguf_value *v = gguf_find(f, "slm.classifier.labels");
    if (!v || v->type != GGUF_TYPE_ARRAY || v->arr.elem_type != GGUF_TYPE_STRING || v->arr.n < 2 || v->arr.n > 100000)
        return slm_error(SLM_ERR_FORMAT, "%s: slm.classifier.labels must be an array of at least two strings", path);
    clf->labels = calloc((size_t)v->arr.n, sizeof(char *));
    if (!clf->labels) return slm_error(SLM_ERR_NOMEM, "classifier: out of memory");
    clf->n_labels = (int)v->arr.n;
    for (uint64_t i = 0; i < v->arr.n; i++)
        if (!(clf->labels[i] = slm_strndup(v->arr.strs[i].ptr, (size_t)v->arr.strs[i].len))) return SLM_ERR_NOMEM;
    return SLM_OK;
}

slm_status classifier_open_finetuned(const char *path, const slm_classifier_params *params, slm_classifier *clf) {
    gguf_file f;
    slm_status st = gguf_open(path, &f);
    if (st != SLM_OK) return st;
    finetuned_state *s = slm_calloc(1, sizeof *s, "classifier");
    bert_config cfg;
    if (!s) {
        st = SLM_ERR_NOMEM;
        goto fail;
    }
    if ((st = read_labels(path, &f, clf)) || (st = bert_config_from_gguf(path, &f, &cfg))) goto fail;
    const gguf_tensor *head = gguf_find_tensor(&f, "cls.weight");
    if (!head || head->ne[1] != clf->n_labels) {
        st = slm_error(SLM_ERR_FORMAT, "%s: cls.weight must have one row per label (%d)", path, clf->n_labels);
        goto fail;
    }
    cfg.K = clf->n_labels;
    char *pooling = gguf_get_string(&f, "slm.classifier.pooling");
    if (pooling && strcmp(pooling, "cls") != 0 && strcmp(pooling, "mean") != 0) {
        st = slm_error(SLM_ERR_FORMAT, "%s: unknown slm.classifier.pooling \"%s\" (mean or cls)", path, pooling);
        free(pooling);
        goto fail;
    }
    if (pooling) cfg.pooling = strcmp(pooling, "cls") == 0 ? BERT_POOL_CLS : BERT_POOL_MEAN;
    free(pooling);
    int64_t max_len = 128;
    if (gguf_find(&f, "slm.classifier.max_len") && !gguf_get_int(&f, "slm.classifier.max_len", &max_len)) max_len = -1;
    if (max_len < 3 || max_len > cfg.P) {
        st = slm_error(SLM_ERR_FORMAT, "%s: slm.classifier.max_len must be in [3, %d]", path, cfg.P);
        goto fail;
    }
    s->max_len = (int)max_len;
    s->batch = params && params->batch > 0 ? params->batch : DEFAULT_BATCH;
    if (s->batch > 4096) s->batch = 4096;
    if (params && params->n_threads > 0 && (st = slm_set_threads(params->n_threads))) goto fail;
    if ((st = bert_model_alloc(&s->model, &cfg, s->batch, s->max_len, 0)) ||
        (st = bert_load_weights(&s->model, path, &f, 1)) || (st = slm_tokenizer_load(path, &s->tok)))
        goto fail;
    if (slm_vocab_size(s->tok) != cfg.V) {
        st = slm_error(SLM_ERR_FORMAT, "%s: the tokenizer has %d tokens, the model %d", path, slm_vocab_size(s->tok), cfg.V);
        goto fail;
    }
    if (!(s->tokens = malloc(sizeof(int32_t) * (size_t)s->batch * (size_t)s->max_len))) {
        st = slm_error(SLM_ERR_NOMEM, "classifier: out of memory");
        goto fail;
    }
    gguf_close(&f);
    clf->backend = &g_finetuned;
    clf->state = s;
    return SLM_OK;
fail:
    finetuned_free(s);
    gguf_close(&f);
    return st;
}
