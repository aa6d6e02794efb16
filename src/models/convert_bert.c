/* convert_bert.c — writes a Hugging Face BERT folder as a GGUF file in llama.cpp's "bert"
 * layout: its tensor names, bert.* hyper-parameter keys, the pooling type, and the WordPiece
 * vocabulary as llama.cpp's converter stores it ("▁" before word-initial pieces). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "models/bert.h"
#include "tensor/types.h"
#include "tokenizer/tokenizer.h"

static slm_status write_bert(const bert_model *m, const char *out_path, const char *name, int to_f16) {
    const bert_hparams *hp = &m->hp;
    gguf_writer *w = gguf_writer_new();
    if (!w) return slm_error(SLM_ERR_NOMEM, "convert: out of memory");
    void *vocab_keep = NULL;
    uint16_t **halves = slm_calloc((size_t)m->n_tensors, sizeof(uint16_t *), "f16 weights");
    gguf_value v_false = {.type = GGUF_TYPE_BOOL, .u = 0};
    slm_status st = halves ? SLM_OK : SLM_ERR_NOMEM;
    if (st == SLM_OK &&
        ((st = gguf_writer_set_str(w, "general.architecture", "bert")) || (st = gguf_writer_set_str(w, "general.name", name ? name : m->name)) ||
         (st = gguf_writer_set_u32(w, "general.file_type", to_f16 ? 1 : 0)) ||
         (st = gguf_writer_set_u32(w, "bert.context_length", (uint32_t)hp->n_ctx_train)) ||
         (st = gguf_writer_set_u32(w, "bert.embedding_length", (uint32_t)hp->n_embd)) ||
         (st = gguf_writer_set_u32(w, "bert.feed_forward_length", (uint32_t)hp->n_ff)) ||
         (st = gguf_writer_set_u32(w, "bert.block_count", (uint32_t)hp->n_layer)) ||
         (st = gguf_writer_set_u32(w, "bert.attention.head_count", (uint32_t)hp->n_head)) ||
         (st = gguf_writer_set_f32(w, "bert.attention.layer_norm_epsilon", hp->norm_eps)) ||
         (st = gguf_writer_set(w, "bert.attention.causal", &v_false)) ||
         (hp->pooling != BERT_POOL_NONE && (st = gguf_writer_set_u32(w, "bert.pooling_type", (uint32_t)hp->pooling))) ||
         (hp->max_seq_length > 0 && (st = gguf_writer_set_u32(w, "slm.max_seq_length", (uint32_t)hp->max_seq_length))) ||
         (st = gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)hp->n_token_types)))) {
        /* st says which key failed */
    }
    if (st == SLM_OK) st = tokenizer_to_gguf(m->tokenizer, w, &vocab_keep);
    for (int i = 0; i < m->n_tensors && st == SLM_OK; i++) {
        const bert_tensor *t = &m->tensors[i];
        const int64_t ne[2] = {t->ne0, t->ne1};
        const uint32_t n_dims = t->ne1 > 1 ? 2 : 1;
        const uint64_t n = (uint64_t)t->ne0 * (uint64_t)t->ne1;
        if (to_f16 && n_dims == 2) { /* matrices as f16; vectors (norms, biases) stay f32 */
            if (!(halves[i] = slm_malloc(n * 2, "f16 weights"))) st = SLM_ERR_NOMEM;
            for (uint64_t k = 0; k < n && st == SLM_OK; k++) halves[i][k] = slm_f32_to_f16(t->data[k]);
            if (st == SLM_OK) st = gguf_writer_add_tensor(w, t->name, SLM_TYPE_F16, n_dims, ne, halves[i], n * 2);
        } else st = gguf_writer_add_tensor(w, t->name, SLM_TYPE_F32, n_dims, ne, t->data, n * 4);
    }
    if (st == SLM_OK) st = gguf_writer_write(w, out_path);
    gguf_writer_free(w);
    free(vocab_keep);
    if (halves)
        for (int i = 0; i < m->n_tensors; i++) free(halves[i]);
    free(halves);
    return st == SLM_ERR_NOMEM ? slm_error(st, "convert: out of memory") : st;
}

slm_status slm_convert_hf(const char *dir, const char *out_path, const char *name, int to_f16) {
    if (!dir || !out_path) return slm_error(SLM_ERR_INVALID_ARG, "slm_convert_hf: NULL path");
    bert_model *m;
    slm_status st = bert_load_hf(dir, &m);
    if (st != SLM_OK) return st;
    st = write_bert(m, out_path, name, to_f16);
    bert_free(m);
    return st;
}
