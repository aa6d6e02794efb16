/* classifier_finetuned.c — the backend of slm_classifier for a GGUF written by `slm finetune
 * --task classify`: a BERT encoder with a linear head (cls.weight, cls.bias), its tokenizer and
 * the slm.classifier.* keys. Texts are tokenised as in training, sorted by length into
 * batches (little padding), run through the encoder on the thread pool, and the head's
 * logits turned into probabilities. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "task/classifier_backend.h"
#include "task/text_batches.h"
#include "train/bert_train.h"
#include "train/finetune.h"

/* Texts per forward batch when the caller does not say. */
#define DEFAULT_BATCH 32

typedef struct {
    bert_model model; /* inference buffers for (batch, max_len) */
    slm_tokenizer *tok;
    text_batches tb;
} finetuned_state;

static void finetuned_free(void *arg) {
    finetuned_state *s = arg;
    if (!s) return;
    bert_model_free(&s->model);
    slm_tokenizer_free(s->tok);
    text_batches_free(&s->tb);
    free(s);
}

static slm_status finetuned_encode(void *arg, size_t i, const char *text, int max_len, int32_t *row, int *len) {
    (void)i;
    int cut;
    return bert_encode_text(((finetuned_state *)arg)->tok, text, max_len, row, len, &cut);
}

static const float *finetuned_forward(void *arg, const int32_t *tokens, const int *lens, int Bu, int T) {
    finetuned_state *s = arg;
    bert_forward(&s->model, tokens, lens, NULL, NULL, Bu, T);
    return s->model.acts.probs;
}

static slm_status finetuned_predict(void *arg, const char *const *texts, size_t n, float *probs) {
    finetuned_state *s = arg;
    return text_batches_predict(&s->tb, texts, n, s->model.cfg.K, finetuned_encode, finetuned_forward, s, probs);
}

static const classifier_backend g_finetuned = {finetuned_predict, finetuned_free};

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
    if ((st = classifier_read_labels(path, &f, clf)) || (st = bert_config_from_gguf(path, &f, &cfg))) goto fail;
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
    if ((st = text_batches_init(&s->tb, (int)max_len, params && params->batch > 0 ? params->batch : DEFAULT_BATCH)))
        goto fail;
    if (params && params->n_threads > 0 && (st = slm_set_threads(params->n_threads))) goto fail;
    if ((st = bert_model_alloc(&s->model, &cfg, s->tb.batch, s->tb.max_len, 0)) ||
        (st = bert_load_weights(&s->model, path, &f, 1)) || (st = slm_tokenizer_load(path, &s->tok)))
        goto fail;
    if (slm_vocab_size(s->tok) != cfg.V) {
        st = slm_error(SLM_ERR_FORMAT, "%s: the tokenizer has %d tokens, the model %d", path, slm_vocab_size(s->tok), cfg.V);
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
