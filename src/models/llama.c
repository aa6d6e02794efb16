/* llama.c — the Llama architecture (also Llama 2, TinyLlama, SmolLM, llama2.c models):
 *   x = embed[token]
 *   per layer:  x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))   n = RMSNorm
 *               x += Wdown · (silu(Wgate·n(x)) * Wup·n(x))
 *   logits = Wout · n(x)
 * Attention is causal and grouped: query head h reads key/value head h / (n_head/n_head_kv).
 * RoPE rotates adjacent pairs (x[2i], x[2i+1]) by pos * base^(-2i/head_dim). */
#include <math.h>
#include <stdlib.h>

#include "base/error.h"
#include "models/model.h"

slm_status llama_bind_gguf(slm_model *m, const char *arch) {
    slm_status st = bind_hparams(m, arch);
    if (st == SLM_OK) st = bind_standard_tensors(m, 0, 0, 0);
    m->forward = llama_forward;
    return st;
}

static slm_tensor f32_view(const char *name, const float *data, int64_t rows, int64_t cols) {
    slm_tensor t = {.name = name, .type = SLM_TYPE_F32, .n_dims = rows > 1 ? 2 : 1, .data = data};
    t.ne[0] = cols;
    t.ne[1] = rows;
    t.ne[2] = t.ne[3] = 1;
    t.row_bytes = (size_t)cols * sizeof(float);
    return t;
}

slm_status llama_bind_llama2c(slm_model *m) {
    const llama2c_config *c = &m->ckpt.config;
    const llama2c_weights *w = &m->ckpt.w;
    model_hparams *hp = &m->hp;
    hp->n_vocab = c->vocab_size;
    hp->n_embd = c->dim;
    hp->n_ff = c->hidden_dim;
    hp->n_layer = c->n_layers;
    hp->n_head = c->n_heads;
    hp->n_head_kv = c->n_kv_heads;
    hp->head_dim = c->dim / c->n_heads;
    hp->n_ctx_train = c->seq_len;
    hp->rope_freq_base[0] = hp->rope_freq_base[1] = 10000.0f;
    hp->norm_eps = 1e-5f;
    hp->rope = ROPE_ADJACENT;
    hp->ffn = FFN_SILU;
    hp->embed_scale = 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    int64_t E = hp->n_embd, F = hp->n_ff, KV = (int64_t)hp->n_head_kv * hp->head_dim;
    m->tok_embd = f32_view("token_embedding", w->token_embedding, hp->n_vocab, E);
    m->output_norm = f32_view("rms_final", w->rms_final, 1, E);
    m->output = f32_view("wcls", w->wcls, hp->n_vocab, E);
    m->layers = calloc((size_t)hp->n_layer, sizeof(model_layer));
    if (!m->layers) return slm_error(SLM_ERR_NOMEM, "out of memory for layers");
    for (int l = 0; l < hp->n_layer; l++) {
        model_layer *L = &m->layers[l];
        L->attn_norm = f32_view("rms_att", w->rms_att + l * E, 1, E);
        L->wq = f32_view("wq", w->wq + l * E * E, E, E);
        L->wk = f32_view("wk", w->wk + l * KV * E, KV, E);
        L->wv = f32_view("wv", w->wv + l * KV * E, KV, E);
        L->wo = f32_view("wo", w->wo + l * E * E, E, E);
        L->ffn_norm = f32_view("rms_ffn", w->rms_ffn + l * E, 1, E);
        L->w_gate = f32_view("w1", w->w1 + l * F * E, F, E);
        L->w_up = f32_view("w3", w->w3 + l * F * E, F, E);
        L->w_down = f32_view("w2", w->w2 + l * E * F, E, F);
    }
    m->forward = llama_forward;
    return SLM_OK;
}

slm_status llama_forward(const slm_model *m, const model_batch *b) {
    slm_status st = block_embed(m, b);
    if (st != SLM_OK) return st;
    model_workspace *w = b->work;
    const int n = b->n_rows;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const model_layer *L = &m->layers[l];
        block_norm_rows(m, &L->attn_norm, w->x, w->xb, n);
        block_attention(m, b, l);
        block_residual(m, b);
        block_norm_rows(m, &L->ffn_norm, w->x, w->xb, n);
        block_ffn(m, b, l);
        block_residual(m, b);
    }
    block_logits(m, b);
    return SLM_OK;
}
