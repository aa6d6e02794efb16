/* decoder_finetune.c — fine-tuning a decoder (Llama, Qwen2, Gemma 3; any quantisation) for
 * classification with LoRA: the texts are tokenised as the base reads them (BOS, text), the
 * frozen base is dequantised once (decoder_train.c), and finetune.c's loop trains the adapters
 * and the head. The best epoch is written as a small GGUF holding the adapters (llama.cpp's
 * adapter names: blk.N.<matrix>.weight.lora_a / .lora_b), the head (cls.weight, cls.bias), the
 * slm.classifier.* keys with pooling "last", and slm.lora.* keys that refer to the base: its
 * absolute path, size in bytes, general.name and architecture. */
#define _GNU_SOURCE
#include "train/decoder_finetune.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "formats/gguf.h"
#include "models/model.h"
#include "train/decoder_train.h"
#include "train/finetune.h"

int decoder_architecture(const char *arch) {
    return arch && (strcmp(arch, "llama") == 0 || strcmp(arch, "qwen2") == 0 || strcmp(arch, "gemma3") == 0);
}

slm_status decoder_encode_text(const slm_tokenizer *tok, const char *text, int max_len, int32_t *row, int *len,
                               int *cut) {
    const slm_tokenize_options opts = {.add_bos = slm_tokenizer_adds_bos(tok), .parse_special = 0};
    int32_t *ids;
    size_t n;
    slm_status st = slm_tokenize(tok, text, strlen(text), &opts, &ids, &n);
    if (st != SLM_OK) return st;
    if (n == 0) {
        slm_free(ids);
        return slm_error(SLM_ERR_INVALID_ARG, "LoRA: a text gives no tokens");
    }
    *cut = n > (size_t)max_len;
    if (*cut) n = (size_t)max_len;
    memcpy(row, ids, sizeof(int32_t) * n);
    *len = (int)n;
    slm_free(ids);
    return SLM_OK;
}

/* ---------------------------------------------------------------- the loop's engine */

typedef struct {
    decoder_model m;
    const slm_finetune_params *p;
    const slm_model *base;
    const char *base_path;
    const char *const *label_names;
    int max_len;
} decoder_engine;

static float engine_step(void *arg, const int32_t *tokens, const int *lens, const int32_t *labels, const float *class_w,
                         int Bu, int T, float lr, int t) {
    decoder_engine *e = arg;
    return decoder_train_step(&e->m, tokens, lens, labels, class_w, Bu, T, lr, e->p->weight_decay, e->p->grad_clip, t,
                              NULL);
}

static const float *engine_scores(void *arg, const int32_t *tokens, const int *lens, int Bu, int T) {
    decoder_engine *e = arg;
    decoder_forward(&e->m, tokens, lens, NULL, NULL, Bu, T);
    return e->m.acts.probs;
}

/* The targets of a mask as "q,v". */
static void targets_text(unsigned mask, char *buf, size_t cap) {
    buf[0] = 0;
    for (int t = 0; t < LT_COUNT; t++)
        if ((mask >> t) & 1u) {
            if (buf[0]) strncat(buf, ",", cap - strlen(buf) - 1);
            strncat(buf, decoder_target_name(t), cap - strlen(buf) - 1);
        }
}

static slm_status engine_save(void *arg, const char *path) {
    const decoder_engine *e = arg;
    const decoder_config *c = &e->m.cfg;
    gguf_writer *w = gguf_writer_new();
    gguf_str *names = calloc((size_t)c->K, sizeof *names);
    char *abs = realpath(e->base_path, NULL);
    slm_status st = w && names ? SLM_OK : slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    struct stat sb;
    if (st == SLM_OK && (!abs || stat(abs, &sb) != 0))
        st = slm_error(SLM_ERR_IO, "%s: cannot resolve the base's path", e->base_path);
    for (int k = 0; k < c->K && st == SLM_OK; k++)
        names[k] = (gguf_str){e->label_names[k], strlen(e->label_names[k])};
    char title[512], targets[64];
    snprintf(title, sizeof title, "%s LoRA classifier", e->base->name);
    targets_text(c->targets, targets, sizeof targets);
    const char *base_file = strrchr(e->base_path, '/') ? strrchr(e->base_path, '/') + 1 : e->base_path;
    if (st == SLM_OK) {
        const gguf_value labels = {.type = GGUF_TYPE_ARRAY,
                                   .arr = {.elem_type = GGUF_TYPE_STRING, .n = (uint64_t)c->K, .strs = names}};
        const gguf_value size = {.type = GGUF_TYPE_U64, .u = (uint64_t)sb.st_size};
        if (!(st = gguf_writer_set_str(w, "general.architecture", e->base->architecture)) &&
            !(st = gguf_writer_set_str(w, "general.type", "adapter")) &&
            !(st = gguf_writer_set_str(w, "general.name", title)) &&
            !(st = gguf_writer_set_str(w, "adapter.type", "lora")) &&
            !(st = gguf_writer_set_f32(w, "adapter.lora.alpha", c->alpha)) &&
            !(st = gguf_writer_set(w, "slm.classifier.labels", &labels)) &&
            !(st = gguf_writer_set_str(w, "slm.classifier.pooling", "last")) &&
            !(st = gguf_writer_set_u32(w, "slm.classifier.max_len", (uint32_t)e->max_len)) &&
            !(st = gguf_writer_set_str(w, "slm.classifier.base", base_file)) &&
            !(st = gguf_writer_set_str(w, "slm.lora.base_path", abs)) &&
            !(st = gguf_writer_set(w, "slm.lora.base_size", &size)) &&
            !(st = gguf_writer_set_str(w, "slm.lora.base_name", e->base->name)) &&
            !(st = gguf_writer_set_u32(w, "slm.lora.rank", (uint32_t)c->rank)) &&
            !(st = gguf_writer_set_str(w, "slm.lora.targets", targets)) &&
            !(st = gguf_writer_set_u32(w, "general.file_type", 0)) && !(st = decoder_add_tensors(&e->m, w)))
            st = finetune_write_file(w, path);
    }
    free(abs);
    free(names);
    gguf_writer_free(w);
    return st;
}

/* ---------------------------------------------------------------- the entry */

slm_status decoder_finetune_classify(const char *base_path, const slm_dataset *train, const slm_dataset *dev,
                                     const slm_finetune_params *p, const char *out_path,
                                     slm_finetune_progress_fn progress, void *user, slm_finetune_result *result) {
    if (result) memset(result, 0, sizeof *result);
    const int K = train->n_labels, rank = p->lora_rank ? p->lora_rank : 8;
    const float alpha = p->lora_alpha != 0.0f ? p->lora_alpha : 16.0f;
    if (train->n == 0) return slm_error(SLM_ERR_INVALID_ARG, "finetune: the training set is empty");
    if (K < 2) return slm_error(SLM_ERR_INVALID_ARG, "finetune: %d label(s): a classifier needs at least two", K);
    if (rank < 1 || rank > 4096) return slm_error(SLM_ERR_INVALID_ARG, "finetune: LoRA rank %d must be in [1, 4096]", rank);
    if (!(alpha > 0.0f) || !isfinite(alpha))
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: LoRA alpha %g must be > 0", (double)alpha);
    if (p->pooling != SLM_POOLING_DEFAULT)
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: a decoder's head reads the last token: --pooling is for encoders");
    if (p->train_embeddings)
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: a decoder's base stays frozen: --train-embeddings is for encoders");
    unsigned targets;
    slm_status st = decoder_parse_targets(p->lora_targets ? p->lora_targets : "q,v", &targets);
    if (st != SLM_OK) return st;
    slm_model *base;
    if ((st = slm_model_load(base_path, NULL, &base))) return st;
    decoder_engine e = {.p = p, .base = base, .base_path = base_path,
                        .label_names = (const char *const *)train->label_names};
    ft_examples tr = {0}, dv = {0};
    size_t n_cut = 0, n_cut_dev = 0;
    decoder_config cfg;
    if ((st = decoder_config_from_model(base, &cfg))) goto done;
    cfg.K = K;
    cfg.rank = rank;
    cfg.alpha = alpha;
    cfg.targets = targets;
    const slm_tokenizer *tok = slm_model_tokenizer(base);
    if ((st = ft_tokenize_dataset(tok, train, p->max_len, "training", decoder_encode_text, &tr, &n_cut)) ||
        (dev && (st = ft_tokenize_dataset(tok, dev, p->max_len, "dev", decoder_encode_text, &dv, &n_cut_dev))))
        goto done;
    if ((st = finetune_check_examples(&tr, cfg.V, K, "training")) ||
        (dev && (st = finetune_check_examples(&dv, cfg.V, K, "dev"))))
        goto done;
    e.max_len = p->max_len;
    const int B = p->batch < (int)tr.n ? p->batch : (int)tr.n;
    if ((st = decoder_model_alloc(&e.m, &cfg, B, p->max_len, 1)) || (st = decoder_load_base(&e.m, base))) goto done;
    decoder_init_trainables(&e.m, p->seed);
    const ft_engine engine = {.model = &e, .K = K, .B = B, .step = engine_step, .scores = engine_scores,
                              .save = engine_save};
    st = finetune_loop(&engine, &tr, dev ? &dv : NULL, p, out_path, progress, user, result);
    if (result) result->n_truncated = n_cut;
done:
    decoder_model_free(&e.m);
    ft_examples_free(&tr);
    ft_examples_free(&dv);
    slm_model_free(base);
    return st;
}
