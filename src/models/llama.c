/* llama.c — the Llama architecture (also Llama 2, TinyLlama, SmolLM, llama2.c models):
 *   x = embed[token]
 *   per layer:  x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))   n = RMSNorm
 *               x += Wdown · (silu(Wgate·n(x)) * Wup·n(x))
 *   logits = Wout · n(x)
 * Attention is causal and grouped: query head h reads key/value head h / (n_head/n_head_kv).
 * RoPE rotates adjacent pairs (x[2i], x[2i+1]) by pos * base^(-2i/head_dim). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "models/model.h"

/* ---------------------------------------------------------------- binding from GGUF */

/* Finds tensor `name`, checks its shape against (ne0, ne1) (ne1 = 0 for a vector) and that
 * it has a kernel, and fills *t. */
static slm_status bind(slm_model *m, const char *name, int64_t ne0, int64_t ne1, slm_tensor *t) {
    const gguf_tensor *g = gguf_find_tensor(&m->gguf, name);
    const char *path = m->gguf.file.path;
    if (!g) return slm_error(SLM_ERR_FORMAT, "%s: missing tensor '%s'", path, name);
    int want_dims = ne1 ? 2 : 1;
    if ((int)g->n_dims != want_dims || g->ne[0] != ne0 || (ne1 && g->ne[1] != ne1))
        return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' has shape [%" PRId64 ", %" PRId64 "] (%u dims), expected [%" PRId64 ", %" PRId64 "]",
                         path, name, g->ne[0], g->n_dims > 1 ? g->ne[1] : 1, g->n_dims, ne0, ne1 ? ne1 : 1);
    if (!kernels_type_supported(g->type))
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which has no kernel yet",
                         path, name, slm_type_info(g->type)->name);
    if (!ne1 && g->type != SLM_TYPE_F32)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: norm tensor '%s' must be f32, not %s", path, name,
                         slm_type_info(g->type)->name);
    memset(t, 0, sizeof *t);
    t->name = g->name;
    t->type = g->type;
    t->n_dims = (int)g->n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = g->ne[d];
    uint64_t rb;
    slm_type_row_bytes(g->type, (uint64_t)g->ne[0], &rb);
    t->row_bytes = (size_t)rb;
    t->data = g->data;
    return SLM_OK;
}

static slm_status get_int(slm_model *m, const char *arch, const char *key, int required, int fallback, int lo, int hi, int *out) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    int64_t v;
    if (!gguf_find(&m->gguf, full)) {
        if (required) return slm_error(SLM_ERR_FORMAT, "%s: missing metadata key %s", m->gguf.file.path, full);
        *out = fallback;
        return SLM_OK;
    }
    if (!gguf_get_int(&m->gguf, full, &v) || v < lo || v > hi)
        return slm_error(SLM_ERR_FORMAT, "%s: metadata %s is not an integer in [%d, %d]", m->gguf.file.path, full, lo, hi);
    *out = (int)v;
    return SLM_OK;
}

static float get_float(slm_model *m, const char *arch, const char *key, float fallback) {
    char full[128];
    double v;
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_get_float(&m->gguf, full, &v) ? (float)v : fallback;
}

/* Checks the hyper-parameters that the forward pass relies on. */
static slm_status check_hparams(const char *path, const model_hparams *hp) {
    if (hp->n_head % hp->n_head_kv != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d", path, hp->n_head, hp->n_head_kv);
    if (hp->head_dim % 2 != 0 || hp->head_dim <= 0)
        return slm_error(SLM_ERR_FORMAT, "%s: head size %d must be even and positive", path, hp->head_dim);
    if (!(hp->norm_eps > 0.0f) || !(hp->rope_freq_base > 0.0f))
        return slm_error(SLM_ERR_FORMAT, "%s: layer_norm_rms_epsilon and rope.freq_base must be positive", path);
    return SLM_OK;
}

slm_status llama_bind_gguf(slm_model *m, const char *arch) {
    model_hparams *hp = &m->hp;
    const char *path = m->gguf.file.path;
    slm_status st;
    if ((st = get_int(m, arch, "embedding_length", 1, 0, 1, 1 << 20, &hp->n_embd)) ||
        (st = get_int(m, arch, "feed_forward_length", 1, 0, 1, 1 << 22, &hp->n_ff)) ||
        (st = get_int(m, arch, "block_count", 1, 0, 1, 4096, &hp->n_layer)) ||
        (st = get_int(m, arch, "attention.head_count", 1, 0, 1, 4096, &hp->n_head)) ||
        (st = get_int(m, arch, "attention.head_count_kv", 0, hp->n_head, 1, 4096, &hp->n_head_kv)) ||
        (st = get_int(m, arch, "context_length", 0, 2048, 1, 1 << 24, &hp->n_ctx_train)))
        return st;
    if (hp->n_embd % hp->n_head != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: embedding_length %d is not a multiple of head_count %d", path, hp->n_embd, hp->n_head);
    if ((st = get_int(m, arch, "attention.key_length", 0, hp->n_embd / hp->n_head, 2, 1 << 16, &hp->head_dim))) return st;
    int rope_dim = 0;
    if ((st = get_int(m, arch, "rope.dimension_count", 0, hp->head_dim, 1, 1 << 16, &rope_dim))) return st;
    if (rope_dim != hp->head_dim)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: partial RoPE (rope.dimension_count %d < head size %d) is not supported", path, rope_dim, hp->head_dim);
    hp->rope_freq_base = get_float(m, arch, "rope.freq_base", 10000.0f);
    hp->norm_eps = get_float(m, arch, "attention.layer_norm_rms_epsilon", 1e-5f);
    if ((st = check_hparams(path, hp))) return st;

    const gguf_tensor *emb = gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!emb || emb->n_dims != 2) return slm_error(SLM_ERR_FORMAT, "%s: missing or malformed tensor 'token_embd.weight'", path);
    if (emb->ne[1] < 1 || emb->ne[1] > (1 << 24)) return slm_error(SLM_ERR_FORMAT, "%s: token_embd.weight has %" PRId64 " rows", path, emb->ne[1]);
    hp->n_vocab = (int)emb->ne[1];
    int64_t E = hp->n_embd, F = hp->n_ff, Q = (int64_t)hp->n_head * hp->head_dim, KV = (int64_t)hp->n_head_kv * hp->head_dim;
    if ((st = bind(m, "token_embd.weight", E, hp->n_vocab, &m->tok_embd)) ||
        (st = bind(m, "output_norm.weight", E, 0, &m->output_norm)))
        return st;
    if (gguf_find_tensor(&m->gguf, "output.weight")) {
        if ((st = bind(m, "output.weight", E, hp->n_vocab, &m->output))) return st;
    } else m->output = m->tok_embd;
    m->layers = calloc((size_t)hp->n_layer, sizeof(llama_layer));
    if (!m->layers) return slm_error(SLM_ERR_NOMEM, "out of memory for layers");
    for (int l = 0; l < hp->n_layer; l++) {
        llama_layer *L = &m->layers[l];
        char n[9][64];
        const char *suffix[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
        for (int i = 0; i < 9; i++) snprintf(n[i], sizeof n[i], "blk.%d.%s.weight", l, suffix[i]);
        if ((st = bind(m, n[0], E, 0, &L->attn_norm)) || (st = bind(m, n[1], E, Q, &L->wq)) ||
            (st = bind(m, n[2], E, KV, &L->wk)) || (st = bind(m, n[3], E, KV, &L->wv)) ||
            (st = bind(m, n[4], Q, E, &L->wo)) || (st = bind(m, n[5], E, 0, &L->ffn_norm)) ||
            (st = bind(m, n[6], E, F, &L->w_gate)) || (st = bind(m, n[7], E, F, &L->w_up)) ||
            (st = bind(m, n[8], F, E, &L->w_down)))
            return st;
    }
    m->forward = llama_forward;
    return SLM_OK;
}

/* ---------------------------------------------------------------- binding from llama2.c */

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
    hp->rope_freq_base = 10000.0f;
    hp->norm_eps = 1e-5f;
    int64_t E = hp->n_embd, F = hp->n_ff, KV = (int64_t)hp->n_head_kv * hp->head_dim;
    m->tok_embd = f32_view("token_embedding", w->token_embedding, hp->n_vocab, E);
    m->output_norm = f32_view("rms_final", w->rms_final, 1, E);
    m->output = f32_view("wcls", w->wcls, hp->n_vocab, E);
    m->layers = calloc((size_t)hp->n_layer, sizeof(llama_layer));
    if (!m->layers) return slm_error(SLM_ERR_NOMEM, "out of memory for layers");
    for (int l = 0; l < hp->n_layer; l++) {
        llama_layer *L = &m->layers[l];
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

/* ---------------------------------------------------------------- forward pass */

/* Causal attention of n query tokens (positions pos..pos+n-1) over the cache, heads split
 * across threads. */
typedef struct {
    const model_hparams *hp;
    model_state *s;
    const float *kc, *vc; /* this layer's cache */
    int n, pos;
} attention_ctx;

static void attention_heads(void *arg, int ith, int nth) {
    const attention_ctx *c = arg;
    const model_hparams *hp = c->hp;
    model_state *s = c->s;
    const int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, q_dim = hp->n_head * hd, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    int h0, h1;
    slm_split_range(hp->n_head, ith, nth, &h0, &h1);
    for (int h = h0; h < h1; h++) {
        float *att = s->att + (size_t)h * s->n_ctx;
        const int kvh = h / group;
        for (int b = 0; b < c->n; b++) /* token b attends to positions 0..pos+b */
            attention_head(s->xb2 + (size_t)b * hp->n_embd + h * hd, s->q + (size_t)b * q_dim + h * hd,
                           c->kc + kvh * hd, c->vc + kvh * hd, (size_t)kv_dim, c->pos + b + 1, hd, scale, att);
    }
}

/* Work below which attention runs on the calling thread alone (multiply-adds). */
#define ATTENTION_PARALLEL_MIN (1 << 15)

slm_status llama_forward(const slm_model *m, model_state *s, const int32_t *tokens, int n, int pos, float **logits) {
    const model_hparams *hp = &m->hp;
    if (n < 1 || n > MODEL_MAX_BATCH) return slm_error(SLM_ERR_INVALID_ARG, "batch of %d tokens (1..%d)", n, MODEL_MAX_BATCH);
    if (pos < 0 || pos + n > s->n_ctx)
        return slm_error(SLM_ERR_RANGE, "positions %d..%d are outside the context (%d tokens)", pos, pos + n - 1, s->n_ctx);
    for (int b = 0; b < n; b++)
        if (tokens[b] < 0 || tokens[b] >= hp->n_vocab)
            return slm_error(SLM_ERR_RANGE, "token id %d is outside the vocabulary (%d)", tokens[b], hp->n_vocab);
    const int E = hp->n_embd, F = hp->n_ff, hd = hp->head_dim, half = hd / 2, kv_dim = hp->n_head_kv * hd,
              q_dim = hp->n_head * hd;
    for (int b = 0; b < n; b++) {
        tensor_row_to_f32(&m->tok_embd, tokens[b], s->x + (size_t)b * E);
        for (int i = 0; i < half; i++) {
            float angle = (float)(pos + b) * s->rope_freq[i];
            s->rope_cos[b * half + i] = cosf(angle);
            s->rope_sin[b * half + i] = sinf(angle);
        }
    }
    for (int l = 0; l < hp->n_layer; l++) {
        const llama_layer *L = &m->layers[l];
        float *kc = s->key_cache + ((size_t)l * s->n_ctx) * kv_dim;
        float *vc = s->value_cache + ((size_t)l * s->n_ctx) * kv_dim;
        for (int b = 0; b < n; b++)
            rmsnorm(s->xb + (size_t)b * E, s->x + (size_t)b * E, L->attn_norm.data, E, hp->norm_eps);
        /* q, k and v; k and v go straight into the cache rows of their positions */
        matmul_job qkv[3] = {{s->q, q_dim, &L->wq}, {kc + (size_t)pos * kv_dim, kv_dim, &L->wk},
                             {vc + (size_t)pos * kv_dim, kv_dim, &L->wv}};
        matmul_multi(qkv, 3, s->xb, n, E);
        for (int b = 0; b < n; b++) {
            rope_pairs(s->q + (size_t)b * q_dim, hp->n_head, hd, s->rope_cos + b * half, s->rope_sin + b * half);
            rope_pairs(kc + (size_t)(pos + b) * kv_dim, hp->n_head_kv, hd, s->rope_cos + b * half, s->rope_sin + b * half);
        }
        attention_ctx ac = {hp, s, kc, vc, n, pos};
        if ((int64_t)n * (pos + n) * q_dim < ATTENTION_PARALLEL_MIN) attention_heads(&ac, 0, 1);
        else slm_pool_run(attention_heads, &ac);
        matmul_job wo = {s->xb, E, &L->wo};
        matmul_multi(&wo, 1, s->xb2, n, E);
        for (size_t i = 0; i < (size_t)n * E; i++) s->x[i] += s->xb[i];
        for (int b = 0; b < n; b++)
            rmsnorm(s->xb + (size_t)b * E, s->x + (size_t)b * E, L->ffn_norm.data, E, hp->norm_eps);
        matmul_job ffn[2] = {{s->hb, F, &L->w_gate}, {s->hb2, F, &L->w_up}};
        matmul_multi(ffn, 2, s->xb, n, E);
        swiglu(s->hb, s->hb2, n * F);
        matmul_job down = {s->xb, E, &L->w_down};
        matmul_multi(&down, 1, s->hb, n, F);
        for (size_t i = 0; i < (size_t)n * E; i++) s->x[i] += s->xb[i];
    }
    /* logits of the last token only */
    float *last = s->x + (size_t)(n - 1) * E;
    rmsnorm(last, last, m->output_norm.data, E, hp->norm_eps);
    matvec(s->logits, &m->output, last);
    *logits = s->logits;
    return SLM_OK;
}
