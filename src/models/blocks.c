/* blocks.c — the steps every forward pass here is made of: embedding lookup, RMSNorm of rows,
 * grouped-query self-attention with RoPE (optional q/k/v biases, per-head q/k norms, sliding
 * window), the gated feed-forward, residual adds, and the logits of the last token. A batch of
 * n tokens flows through as n rows; weights are read once per batch. */
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "models/model.h"

slm_status block_embed(const slm_model *m, model_state *s, const int32_t *tokens, int n, int pos) {
    const model_hparams *hp = &m->hp;
    if (n < 1 || n > MODEL_MAX_BATCH) return slm_error(SLM_ERR_INVALID_ARG, "batch of %d tokens (1..%d)", n, MODEL_MAX_BATCH);
    if (pos < 0 || pos + n > s->n_ctx)
        return slm_error(SLM_ERR_RANGE, "positions %d..%d are outside the context (%d tokens)", pos, pos + n - 1, s->n_ctx);
    for (int b = 0; b < n; b++)
        if (tokens[b] < 0 || tokens[b] >= hp->n_vocab)
            return slm_error(SLM_ERR_RANGE, "token id %d is outside the vocabulary (%d)", tokens[b], hp->n_vocab);
    const int E = hp->n_embd, half = hp->head_dim / 2;
    for (int b = 0; b < n; b++) {
        float *x = s->x + (size_t)b * E;
        tensor_row_to_f32(&m->tok_embd, tokens[b], x);
        if (hp->embed_scale != 1.0f)
            for (int i = 0; i < E; i++) x[i] *= hp->embed_scale;
        for (int set = 0; set < 2; set++)
            for (int i = 0; i < half; i++) {
                float angle = (float)(pos + b) * s->rope_freq[set][i];
                s->rope_cos[set][b * half + i] = cosf(angle);
                s->rope_sin[set][b * half + i] = sinf(angle);
            }
    }
    return SLM_OK;
}

void block_norm_rows(const slm_model *m, const slm_tensor *w, const float *src, float *dst, int n) {
    const int E = m->hp.n_embd;
    for (int b = 0; b < n; b++) rmsnorm(dst + (size_t)b * E, src + (size_t)b * E, w->data, E, m->hp.norm_eps);
}

/* Causal attention of n query tokens (positions pos..pos+n-1) over the cache, heads split
 * across threads. */
typedef struct {
    const model_hparams *hp;
    model_state *s;
    const float *kc, *vc; /* this layer's cache */
    int n, pos, window;
} attention_ctx;

static void attention_heads(void *arg, int ith, int nth) {
    const attention_ctx *c = arg;
    const model_hparams *hp = c->hp;
    model_state *s = c->s;
    const int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, q_dim = hp->n_head * hd, group = hp->n_head / hp->n_head_kv;
    int h0, h1;
    slm_split_range(hp->n_head, ith, nth, &h0, &h1);
    for (int h = h0; h < h1; h++) {
        float *att = s->att + (size_t)h * s->n_ctx;
        const int kvh = h / group;
        for (int b = 0; b < c->n; b++) {
            /* token b (position p) attends to p - window + 1 .. p, or to 0 .. p */
            const int p = c->pos + b, first = c->window > 0 && p - c->window + 1 > 0 ? p - c->window + 1 : 0;
            attention_head(s->xb2 + (size_t)b * q_dim + h * hd, s->q + (size_t)b * q_dim + h * hd,
                           c->kc + (size_t)first * kv_dim + kvh * hd, c->vc + (size_t)first * kv_dim + kvh * hd,
                           (size_t)kv_dim, p - first + 1, hd, hp->attn_scale, att);
        }
    }
}

/* Work below which attention runs on the calling thread alone (multiply-adds). */
#define ATTENTION_PARALLEL_MIN (1 << 15)

static void add_bias(float *rows, int n, int ld, const slm_tensor *bias) {
    if (!bias->data) return;
    const float *bv = bias->data;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < (int)bias->ne[0]; i++) rows[(size_t)b * ld + i] += bv[i];
}

/* RMSNorm of each head_dim slice of n rows of n_heads heads (ld floats apart). */
static void norm_heads(const model_hparams *hp, const slm_tensor *w, float *rows, int n, int ld, int n_heads) {
    if (!w->data) return;
    for (int b = 0; b < n; b++)
        for (int h = 0; h < n_heads; h++) {
            float *v = rows + (size_t)b * ld + h * hp->head_dim;
            rmsnorm(v, v, w->data, hp->head_dim, hp->norm_eps);
        }
}

static void rope_rows(const model_hparams *hp, const model_state *s, int set, float *rows, int n, int ld, int n_heads) {
    const int half = hp->head_dim / 2;
    for (int b = 0; b < n; b++) {
        float *v = rows + (size_t)b * ld;
        const float *c = s->rope_cos[set] + b * half, *sn = s->rope_sin[set] + b * half;
        if (hp->rope == ROPE_ADJACENT) rope_pairs(v, n_heads, hp->head_dim, c, sn);
        else rope_halves(v, n_heads, hp->head_dim, c, sn);
    }
}

void block_attention(const slm_model *m, model_state *s, int l, int n, int pos) {
    const model_hparams *hp = &m->hp;
    const model_layer *L = &m->layers[l];
    const int E = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim, q_dim = hp->n_head * hp->head_dim;
    float *kc = s->key_cache + ((size_t)l * s->n_ctx) * kv_dim;
    float *vc = s->value_cache + ((size_t)l * s->n_ctx) * kv_dim;
    float *k_rows = kc + (size_t)pos * kv_dim, *v_rows = vc + (size_t)pos * kv_dim;
    /* q, k and v; k and v go straight into the cache rows of their positions */
    matmul_job qkv[3] = {{s->q, q_dim, &L->wq}, {k_rows, kv_dim, &L->wk}, {v_rows, kv_dim, &L->wv}};
    matmul_multi(qkv, 3, s->xb, n, E, s->scratch);
    add_bias(s->q, n, q_dim, &L->bq);
    add_bias(k_rows, n, kv_dim, &L->bk);
    add_bias(v_rows, n, kv_dim, &L->bv);
    norm_heads(hp, &L->q_norm, s->q, n, q_dim, hp->n_head);
    norm_heads(hp, &L->k_norm, k_rows, n, kv_dim, hp->n_head_kv);
    rope_rows(hp, s, L->rope_set, s->q, n, q_dim, hp->n_head);
    rope_rows(hp, s, L->rope_set, k_rows, n, kv_dim, hp->n_head_kv);
    attention_ctx ac = {hp, s, kc, vc, n, pos, L->window};
    int span = L->window > 0 && L->window < pos + n ? L->window : pos + n;
    if ((int64_t)n * span * q_dim < ATTENTION_PARALLEL_MIN) attention_heads(&ac, 0, 1);
    else slm_pool_run(attention_heads, &ac);
    matmul_job wo = {s->xb, E, &L->wo};
    matmul_multi(&wo, 1, s->xb2, n, q_dim, s->scratch);
}

void block_ffn(const slm_model *m, model_state *s, int l, int n) {
    const model_hparams *hp = &m->hp;
    const model_layer *L = &m->layers[l];
    const int E = hp->n_embd, F = hp->n_ff;
    matmul_job ffn[2] = {{s->hb, F, &L->w_gate}, {s->hb2, F, &L->w_up}};
    matmul_multi(ffn, 2, s->xb, n, E, s->scratch);
    if (hp->ffn == FFN_SILU) swiglu(s->hb, s->hb2, n * F);
    else geglu_tanh(s->hb, s->hb2, n * F);
    matmul_job down = {s->xb, E, &L->w_down};
    matmul_multi(&down, 1, s->hb, n, F, s->scratch);
}

void block_residual(const slm_model *m, model_state *s, int n) {
    for (size_t i = 0; i < (size_t)n * m->hp.n_embd; i++) s->x[i] += s->xb[i];
}

void block_logits(const slm_model *m, model_state *s, int n, float **logits) {
    if (!logits) return;
    const int E = m->hp.n_embd;
    float *last = s->x + (size_t)(n - 1) * E;
    rmsnorm(last, last, m->output_norm.data, E, m->hp.norm_eps);
    matvec(s->logits, &m->output, last, s->scratch);
    *logits = s->logits;
}
