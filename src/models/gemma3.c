/* gemma3.c — the Gemma 3 architecture:
 *   x = embed[token] * sqrt(n_embd)
 *   per layer:  x += n_post_attn(Wo · attn(rope(qn(Wq·n(x))), rope(kn(Wk·n(x))), Wv·n(x)))
 *               x += n_post_ffn(Wdown · (gelu_tanh(Wgate·n(x)) * Wup·n(x)))
 *   logits = Wout · n(x)            (Wout tied to the embedding)
 * n, qn, kn are RMSNorms (qn and kn over each head); RoPE rotates the two halves of each head.
 * Five of every six layers attend within a sliding window with their own RoPE base; every
 * sixth layer attends to everything with the global base. */
#include <math.h>

#include "base/error.h"
#include "models/model.h"

#define GEMMA3_GLOBAL_EVERY 6
#define GEMMA3_LOCAL_ROPE_BASE 10000.0f

static slm_status gemma3_forward(const slm_model *m, const model_batch *b) {
    slm_status st = block_embed(m, b);
    if (st != SLM_OK) return st;
    model_workspace *w = b->work;
    const int n = b->n_rows;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const model_layer *L = &m->layers[l];
        block_norm_rows(m, &L->attn_norm, w->x, w->xb, n);
        block_attention(m, b, l);
        block_norm_rows(m, &L->post_attn_norm, w->xb, w->xb, n);
        block_residual(m, b);
        block_norm_rows(m, &L->ffn_norm, w->x, w->xb, n);
        block_ffn(m, b, l);
        block_norm_rows(m, &L->post_ffn_norm, w->xb, w->xb, n);
        block_residual(m, b);
    }
    block_logits(m, b);
    return SLM_OK;
}

slm_status gemma3_bind_gguf(slm_model *m, const char *arch) {
    slm_status st = bind_hparams(m, arch);
    if (st != SLM_OK) return st;
    model_hparams *hp = &m->hp;
    hp->rope = ROPE_HALVES;
    hp->ffn = FFN_GELU_TANH;
    hp->embed_scale = sqrtf((float)hp->n_embd);
    hp->rope_freq_base[1] = GEMMA3_LOCAL_ROPE_BASE;
    int64_t window = 0;
    char key[96];
    snprintf(key, sizeof key, "%s.attention.sliding_window", arch);
    if (gguf_find(&m->gguf, key) && (!gguf_get_int(&m->gguf, key, &window) || window < 1 || window > (1 << 24)))
        return slm_error(SLM_ERR_FORMAT, "%s: metadata %s must be a positive integer", m->gguf.file.path, key);
    if ((st = bind_standard_tensors(m, 0, 1, 1)) != SLM_OK) return st;
    for (int l = 0; l < hp->n_layer; l++) {
        int global = (l + 1) % GEMMA3_GLOBAL_EVERY == 0 || window == 0;
        m->layers[l].window = global ? 0 : (int)window;
        m->layers[l].rope_set = global ? 0 : 1;
    }
    m->forward = gemma3_forward;
    return SLM_OK;
}
