/* classifier_lora.c — the backend of slm_classifier for a LoRA classifier GGUF written by
 * `slm finetune --task classify` from a decoder: it holds the adapters and the head and refers
 * to its base (slm.lora.base_path, or a file of the same name beside the classifier; the size
 * must match). The base is loaded and dequantised as in training, the adapters kept apart
 * (W x + s B A x: cheap at rank r), and texts are tokenised as in training, sorted by length
 * into batches, and run through the decoder forward with one layer's activations kept. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "task/classifier_backend.h"
#include "train/decoder_finetune.h"
#include "train/decoder_train.h"

/* Texts per forward batch when the caller does not say. */
#define DEFAULT_BATCH 16

typedef struct {
    slm_model *base;      /* owned: the model's embedding is borrowed from its mapping */
    decoder_model model;  /* forward buffers for (batch, max_len) */
    int max_len, batch;
    int32_t *ids;         /* (n, max_len) tokens of one predict call's texts, grown as needed */
    int *lens;            /* (n) */
    uint64_t *order;      /* (n) length << 40 | index: sorted, the texts by length */
    size_t cap;
    int32_t *tokens;      /* (batch, max_len) one gathered batch */
} lora_state;

static void lora_free(void *arg) {
    lora_state *s = arg;
    if (!s) return;
    decoder_model_free(&s->model);
    slm_model_free(s->base);
    free(s->ids);
    free(s->lens);
    free(s->order);
    free(s->tokens);
    free(s);
}

static slm_status grow(lora_state *s, size_t n) {
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

static slm_status lora_predict(void *arg, const char *const *texts, size_t n, float *probs) {
    lora_state *s = arg;
    if (n > INDEX_MASK) return slm_error(SLM_ERR_INVALID_ARG, "classifier: too many texts (%zu) in one call", n);
    slm_status st = grow(s, n);
    if (st != SLM_OK) return st;
    const slm_tokenizer *tok = slm_model_tokenizer(s->base);
    for (size_t i = 0; i < n; i++) {
        int cut;
        int32_t *row = s->ids + i * (size_t)s->max_len;
        if ((st = decoder_encode_text(tok, texts[i], s->max_len, row, &s->lens[i], &cut)))
            return slm_error(st, "classifier: text %zu: %s", i + 1, slm_last_error());
        memset(row + s->lens[i], 0, sizeof(int32_t) * (size_t)(s->max_len - s->lens[i])); /* padding, never attended */
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
        decoder_forward(&s->model, s->tokens, lens, NULL, NULL, Bu, T);
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

static const classifier_backend g_lora = {lora_predict, lora_free};

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

/* Finds the base: slm.lora.base_path, else the file named slm.classifier.base beside path;
 * its size must be slm.lora.base_size. *out is heap memory. */
static slm_status find_base(const char *path, const gguf_file *f, char **out) {
    *out = NULL;
    char *stored = gguf_get_string(f, "slm.lora.base_path"), *name = gguf_get_string(f, "slm.classifier.base");
    int64_t want = -1;
    if (gguf_find(f, "slm.lora.base_size") && !gguf_get_int(f, "slm.lora.base_size", &want)) want = -1;
    char *beside = NULL;
    if (name && !strchr(name, '/')) {
        const char *slash = strrchr(path, '/');
        const int dir = slash ? (int)(slash - path + 1) : 0;
        if (asprintf(&beside, "%.*s%s", dir, path, name) < 0) beside = NULL;
    }
    const char *candidates[2] = {stored, beside};
    slm_status st = SLM_OK;
    for (int i = 0; i < 2 && !*out; i++) {
        struct stat sb;
        if (!candidates[i] || stat(candidates[i], &sb) != 0) continue;
        if (want >= 0 && (int64_t)sb.st_size != want) {
            st = slm_error(SLM_ERR_FORMAT, "%s: its base %s has %lld bytes, but the adapters were trained on one of %lld",
                           path, candidates[i], (long long)sb.st_size, (long long)want);
            break;
        }
        *out = slm_strndup(candidates[i], strlen(candidates[i]));
    }
    if (st == SLM_OK && !*out)
        st = slm_error(SLM_ERR_IO, "%s: its base model is missing (looked for %s%s%s): put the base back or beside it",
                       path, stored ? stored : "(no slm.lora.base_path)", beside ? " and " : "", beside ? beside : "");
    free(stored);
    free(name);
    free(beside);
    return st;
}

/* Reads an unsigned integer key within [lo, hi] (fallback when absent). */
static slm_status get_int(const char *path, const gguf_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    if (!gguf_find(f, key) || !gguf_get_int(f, key, out) || *out < lo || *out > hi)
        return slm_error(SLM_ERR_FORMAT, "%s: %s must be an integer in [%lld, %lld]", path, key, (long long)lo,
                         (long long)hi);
    return SLM_OK;
}

slm_status classifier_open_lora(const char *path, const slm_classifier_params *params, slm_classifier *clf) {
    gguf_file f;
    slm_status st = gguf_open(path, &f);
    if (st != SLM_OK) return st;
    lora_state *s = slm_calloc(1, sizeof *s, "classifier");
    char *base_path = NULL, *targets = NULL;
    if (!s) {
        st = SLM_ERR_NOMEM;
        goto fail;
    }
    int64_t rank, max_len;
    double alpha;
    decoder_config cfg;
    unsigned mask;
    if ((st = read_labels(path, &f, clf)) || (st = get_int(path, &f, "slm.lora.rank", 1, 4096, &rank)) ||
        (st = get_int(path, &f, "slm.classifier.max_len", 1, 1 << 16, &max_len)))
        goto fail;
    if (!gguf_get_float(&f, "adapter.lora.alpha", &alpha) || !(alpha > 0.0) || !isfinite(alpha)) {
        st = slm_error(SLM_ERR_FORMAT, "%s: adapter.lora.alpha must be a positive number", path);
        goto fail;
    }
    targets = gguf_get_string(&f, "slm.lora.targets");
    if (!targets) {
        st = slm_error(SLM_ERR_FORMAT, "%s: missing slm.lora.targets", path);
        goto fail;
    }
    if ((st = decoder_parse_targets(targets, &mask))) goto fail;
    if ((st = find_base(path, &f, &base_path)) || (st = slm_model_load(base_path, NULL, &s->base)) ||
        (st = decoder_config_from_model(s->base, &cfg)))
        goto fail;
    cfg.K = clf->n_labels;
    cfg.rank = (int)rank;
    cfg.alpha = (float)alpha;
    cfg.targets = mask;
    s->max_len = (int)max_len;
    s->batch = params && params->batch > 0 ? params->batch : DEFAULT_BATCH;
    if (s->batch > 4096) s->batch = 4096;
    if (params && params->n_threads > 0 && (st = slm_set_threads(params->n_threads))) goto fail;
    if ((st = decoder_model_alloc(&s->model, &cfg, s->batch, s->max_len, 0)) ||
        (st = decoder_load_base(&s->model, s->base)) || (st = decoder_load_trainables(&s->model, path, &f)))
        goto fail;
    if (!(s->tokens = malloc(sizeof(int32_t) * (size_t)s->batch * (size_t)s->max_len))) {
        st = slm_error(SLM_ERR_NOMEM, "classifier: out of memory");
        goto fail;
    }
    free(base_path);
    free(targets);
    gguf_close(&f);
    clf->backend = &g_lora;
    clf->state = s;
    return SLM_OK;
fail:
    free(base_path);
    free(targets);
    lora_free(s);
    gguf_close(&f);
    return st;
}
