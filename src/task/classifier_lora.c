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
#include "task/text_batches.h"
#include "train/decoder_finetune.h"
#include "train/decoder_train.h"

/* Texts per forward batch when the caller does not say. */
#define DEFAULT_BATCH 16

typedef struct {
    slm_model *base;      /* owned: the model's embedding is borrowed from its mapping */
    decoder_model model;  /* forward buffers for (batch, max_len) */
    text_batches tb;
} lora_state;

static void lora_free(void *arg) {
    lora_state *s = arg;
    if (!s) return;
    decoder_model_free(&s->model);
    slm_model_free(s->base);
    text_batches_free(&s->tb);
    free(s);
}

static slm_status lora_classifier_encode(void *arg, size_t i, const char *text, int max_len, int32_t *row, int *len) {
    int cut;
    slm_status st = decoder_encode_text(slm_model_tokenizer(((lora_state *)arg)->base), text, max_len, row, len, &cut);
    return st ? slm_error(st, "classifier: text %zu: %s", i + 1, slm_last_error()) : SLM_OK;
}

static const float *lora_classifier_forward(void *arg, const int32_t *tokens, const int *lens, int Bu, int T) {
    lora_state *s = arg;
    decoder_forward(&s->model, tokens, lens, NULL, NULL, Bu, T);
    return s->model.acts.probs;
}

static slm_status lora_predict(void *arg, const char *const *texts, size_t n, float *probs) {
    lora_state *s = arg;
    return text_batches_predict(&s->tb, texts, n, s->model.cfg.K, lora_classifier_encode, lora_classifier_forward, s, probs);
}

static const classifier_backend g_lora = {lora_predict, lora_free};

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
    if ((st = classifier_read_labels(path, &f, clf)) || (st = get_int(path, &f, "slm.lora.rank", 1, 4096, &rank)) ||
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
    if ((st = text_batches_init(&s->tb, (int)max_len, params && params->batch > 0 ? params->batch : DEFAULT_BATCH)))
        goto fail;
    if (params && params->n_threads > 0 && (st = slm_set_threads(params->n_threads))) goto fail;
    if ((st = decoder_model_alloc(&s->model, &cfg, s->tb.batch, s->tb.max_len, 0)) ||
        (st = decoder_load_base(&s->model, s->base)) || (st = decoder_load_trainables(&s->model, path, &f)))
        goto fail;
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
