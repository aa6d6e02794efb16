/* convert_llama2c.c — writes a llama2.c checkpoint and tokenizer as a GGUF file in the layout
 * llama.cpp expects for the llama architecture (tensor names, metadata keys, SentencePiece
 * vocabulary with token types). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "tensor/types.h"
#include "tokenizer/tokenizer.h"

/* Converted weights that must live until the file is written (f16 copies). */
typedef struct {
    void **blocks;
    size_t n, cap;
} keep_list;

static void *keep(keep_list *k, void *p) {
    if (!p) return NULL;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        void **b = realloc(k->blocks, cap * sizeof *b);
        if (!b) {
            free(p);
            return NULL;
        }
        k->blocks = b;
        k->cap = cap;
    }
    return k->blocks[k->n++] = p;
}

/* Adds a (rows, cols) f32 matrix (or vector when rows == 0) as f32, or f16 when to_f16. */
static slm_status add_weight(gguf_writer *w, keep_list *k, const char *name, const float *data,
                             int64_t rows, int64_t cols, int to_f16) {
    int64_t ne[2] = {cols, rows};
    uint32_t n_dims = rows ? 2 : 1;
    uint64_t n = (uint64_t)cols * (uint64_t)(rows ? rows : 1);
    if (!to_f16 || !rows) return gguf_writer_add_tensor(w, name, SLM_TYPE_F32, n_dims, ne, data, n * 4);
    uint16_t *h = keep(k, slm_malloc(n * 2, "f16 weights"));
    if (!h) return SLM_ERR_NOMEM;
    for (uint64_t i = 0; i < n; i++) h[i] = slm_f32_to_f16(data[i]);
    return gguf_writer_add_tensor(w, name, SLM_TYPE_F16, n_dims, ne, h, n * 2);
}

slm_status slm_convert_llama2c(const char *bin_path, const char *tokenizer_path, const char *out_path,
                               const char *name, int to_f16) {
    if (!tokenizer_path || !out_path) return slm_error(SLM_ERR_INVALID_ARG, "convert: missing path");
    llama2c_checkpoint ck;
    slm_tokenizer *tok = NULL;
    gguf_writer *w = NULL;
    keep_list kept = {0};
    void *vocab_keep = NULL;
    memset(&ck, 0, sizeof ck);
    slm_status st = bin_path ? llama2c_open(bin_path, &ck) : SLM_OK;
    if (st != SLM_OK) return st;
    const llama2c_config *c = &ck.config;
    const llama2c_weights *wt = &ck.w;
    if ((st = tokenizer_from_file(tokenizer_path, bin_path ? c->vocab_size : 0, &tok)) != SLM_OK) goto done;
    w = gguf_writer_new();
    int V = tok->n_vocab;
    if (!w) {
        st = SLM_ERR_NOMEM;
        goto done;
    }
    /* general.name defaults to the file name without its extension */
    const char *src = bin_path ? bin_path : tokenizer_path, *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    const char *dot = strrchr(base, '.');
    char default_name[256];
    snprintf(default_name, sizeof default_name, "%.*s", dot && dot > base ? (int)(dot - base) : (int)strlen(base), base);
    if ((st = gguf_writer_set_str(w, "general.architecture", "llama")) ||
        (st = gguf_writer_set_str(w, "general.name", name ? name : default_name)) ||
        (st = tokenizer_to_gguf(tok, w, &vocab_keep)))
        goto done;
    if (!bin_path) { /* a vocabulary-only file */
        st = gguf_writer_write(w, out_path);
        goto done;
    }
    int head = c->dim / c->n_heads;
    if ((st = gguf_writer_set_u32(w, "general.file_type", to_f16 ? 1 : 0)) ||
        (st = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->seq_len)) ||
        (st = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim)) ||
        (st = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim)) ||
        (st = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers)) ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads)) ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads)) ||
        (st = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)head)) ||
        (st = gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f)) ||
        (st = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f)))
        goto done;

    int64_t D = c->dim, H = c->hidden_dim, KV = (int64_t)head * c->n_kv_heads;
    if ((st = add_weight(w, &kept, "token_embd.weight", wt->token_embedding, V, D, to_f16))) goto done;
    for (int l = 0; l < c->n_layers && st == SLM_OK; l++) {
        char n[64];
#define ADD(suffix, ptr, rows, cols)                                             \
    if (st == SLM_OK) {                                                          \
        snprintf(n, sizeof n, "blk.%d." suffix ".weight", l);                    \
        st = add_weight(w, &kept, n, ptr, rows, cols, to_f16);                   \
    }
        ADD("attn_norm", wt->rms_att + l * D, 0, D)
        ADD("attn_q", wt->wq + l * D * D, D, D)
        ADD("attn_k", wt->wk + l * KV * D, KV, D)
        ADD("attn_v", wt->wv + l * KV * D, KV, D)
        ADD("attn_output", wt->wo + l * D * D, D, D)
        ADD("ffn_norm", wt->rms_ffn + l * D, 0, D)
        ADD("ffn_gate", wt->w1 + l * H * D, H, D)
        ADD("ffn_down", wt->w2 + l * D * H, D, H)
        ADD("ffn_up", wt->w3 + l * H * D, H, D)
#undef ADD
    }
    if (st == SLM_OK) st = add_weight(w, &kept, "output_norm.weight", wt->rms_final, 0, D, to_f16);
    if (st == SLM_OK && !c->shared_classifier) st = add_weight(w, &kept, "output.weight", wt->wcls, V, D, to_f16);
    if (st == SLM_OK) st = gguf_writer_write(w, out_path);
done:
    for (size_t i = 0; i < kept.n; i++) free(kept.blocks[i]);
    free(kept.blocks);
    free(vocab_keep);
    gguf_writer_free(w);
    slm_tokenizer_free(tok);
    llama2c_close(&ck);
    return st;
}
