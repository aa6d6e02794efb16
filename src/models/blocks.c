/* blocks.c — the steps every forward pass here is made of: embedding lookup, RMSNorm of rows,
 * grouped-query self-attention with RoPE (optional q/k/v biases, per-head q/k norms, sliding
 * window), the gated feed-forward, residual adds, and the logits of each sequence's last row.
 * A batch flows through as rows, the rows of one sequence after another: weights are read once
 * per batch, while RoPE uses each row's position and attention each row's own sequence's cache. */
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "models/model.h"

slm_status block_embed(const slm_model *m, const model_batch *b) {
    const model_hparams *hp = &m->hp;
    if (b->n_seqs < 1 || b->n_rows < 1 || b->n_rows > MODEL_MAX_BATCH)
        return slm_error(SLM_ERR_INVALID_ARG, "batch of %d rows in %d sequences (1..%d rows)", b->n_rows, b->n_seqs, MODEL_MAX_BATCH);
    int rows = 0;
    for (int i = 0; i < b->n_seqs; i++) {
        const model_seq *q = &b->seqs[i];
        if (q->n < 1 || q->n > MODEL_MAX_BATCH - rows)
            return slm_error(SLM_ERR_INVALID_ARG, "sequence %d of the batch has %d rows (1..%d left)", i, q->n, MODEL_MAX_BATCH - rows);
        rows += q->n;
        if (q->pos < 0 || q->pos > q->state->n_ctx - q->n)
            return slm_error(SLM_ERR_RANGE, "positions %d..%d are outside the context (%d tokens)", q->pos, q->pos + q->n - 1,
                             q->state->n_ctx);
        for (int t = 0; t < q->n; t++)
            if (q->tokens[t] < 0 || q->tokens[t] >= hp->n_vocab)
                return slm_error(SLM_ERR_RANGE, "token id %d is outside the vocabulary (%d)", q->tokens[t], hp->n_vocab);
        for (int j = 0; j < i; j++)
            if (b->seqs[j].state == q->state)
                return slm_error(SLM_ERR_INVALID_ARG, "sequences %d and %d of the batch share one state", j, i);
    }
    if (rows != b->n_rows) return slm_error(SLM_ERR_INVALID_ARG, "batch of %d rows whose sequences hold %d", b->n_rows, rows);
    model_workspace *w = b->work;
    const int E = hp->n_embd, half = hp->head_dim / 2;
    int r = 0;
    for (int i = 0; i < b->n_seqs; i++) {
        const model_seq *q = &b->seqs[i];
        for (int t = 0; t < q->n; t++, r++) {
            float *x = w->x + (size_t)r * E;
            tensor_row_to_f32(&m->tok_embd, q->tokens[t], x);
            if (hp->embed_scale != 1.0f)
                for (int e = 0; e < E; e++) x[e] *= hp->embed_scale;
            for (int set = 0; set < 2; set++)
                for (int e = 0; e < half; e++) {
                    float angle = (float)(q->pos + t) * w->rope_freq[set][e];
                    w->rope_cos[set][r * half + e] = cosf(angle);
                    w->rope_sin[set][r * half + e] = sinf(angle);
                }
        }
    }
    return SLM_OK;
}

/* Rows from which the row-wise steps (norms, RoPE, residual adds) split across the pool
 * (slm_pool_for; each row's result is the same either way): a prompt's; a decoding step's few
 * rows stay on the calling thread. */
#define PARALLEL_ROWS_MIN 16

typedef struct {
    const slm_model *m;
    const slm_tensor *w;
    const float *src;
    float *dst;
} norm_rows_ctx;

static void norm_rows(void *arg, int r0, int r1) {
    const norm_rows_ctx *c = arg;
    const int E = c->m->hp.n_embd;
    for (int b = r0; b < r1; b++) rmsnorm(c->dst + (size_t)b * E, c->src + (size_t)b * E, c->w->data, E, c->m->hp.norm_eps);
}

void block_norm_rows(const slm_model *m, const slm_tensor *w, const float *src, float *dst, int n) {
    norm_rows_ctx c = {m, w, src, dst};
    slm_pool_for(norm_rows, &c, n, n, PARALLEL_ROWS_MIN);
}

/* Causal attention of every row over its own sequence's cache of this layer, heads split
 * across threads. */
typedef struct {
    const model_hparams *hp;
    const model_batch *b;
    int l, window;
} attention_ctx;

static void attention_heads(void *arg, int ith, int nth) {
    const attention_ctx *c = arg;
    const model_hparams *hp = c->hp;
    const model_workspace *w = c->b->work;
    const int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, q_dim = hp->n_head * hd, group = hp->n_head / hp->n_head_kv;
    int h0, h1;
    slm_split_range(hp->n_head, ith, nth, &h0, &h1);
    for (int h = h0; h < h1;) {
        const int kvh = h / group, hn = (kvh + 1) * group < h1 ? (kvh + 1) * group : h1; /* heads h..hn-1 share kvh */
        int r = 0;
        for (int i = 0; i < c->b->n_seqs; i++) {
            const model_seq *q = &c->b->seqs[i];
            const model_state *s = q->state;
            const size_t layer = (size_t)c->l * s->n_ctx * kv_dim;
            const float *kc = s->key_cache + layer, *vc = s->value_cache + layer;
            float *att = s->att + (size_t)h * s->n_ctx;
            for (int t = 0; t < q->n; t++, r++) {
                /* row r (position p) attends to p - window + 1 .. p, or to 0 .. p */
                const int p = q->pos + t, first = c->window > 0 && p - c->window + 1 > 0 ? p - c->window + 1 : 0;
                attention_group(w->xb2 + (size_t)r * q_dim + h * hd, (size_t)hd, w->q + (size_t)r * q_dim + h * hd,
                                (size_t)hd, hn - h, kc + (size_t)first * kv_dim + kvh * hd,
                                vc + (size_t)first * kv_dim + kvh * hd, (size_t)kv_dim, p - first + 1, hd,
                                hp->attn_scale, att, (size_t)s->n_ctx);
            }
        }
        h = hn;
    }
}

/* Work below which attention runs on the calling thread alone (multiply-adds). */
#define ATTENTION_PARALLEL_MIN (1 << 15)

static void add_bias(float *rows, int r0, int r1, int ld, const slm_tensor *bias) {
    if (!bias->data) return;
    const float *bv = bias->data;
    for (int b = r0; b < r1; b++)
        for (int i = 0; i < (int)bias->ne[0]; i++) rows[(size_t)b * ld + i] += bv[i];
}

/* RMSNorm of each head_dim slice of rows [r0, r1) of n_heads heads (ld floats apart). */
static void norm_heads(const model_hparams *hp, const slm_tensor *w, float *rows, int r0, int r1, int ld, int n_heads) {
    if (!w->data) return;
    for (int b = r0; b < r1; b++)
        for (int h = 0; h < n_heads; h++) {
            float *v = rows + (size_t)b * ld + h * hp->head_dim;
            rmsnorm(v, v, w->data, hp->head_dim, hp->norm_eps);
        }
}

static void rope_rows(const model_hparams *hp, const model_workspace *w, int set, float *rows, int r0, int r1, int ld,
                      int n_heads) {
    const int half = hp->head_dim / 2;
    for (int b = r0; b < r1; b++) {
        float *v = rows + (size_t)b * ld;
        const float *c = w->rope_cos[set] + b * half, *sn = w->rope_sin[set] + b * half;
        if (hp->rope == ROPE_ADJACENT) rope_pairs(v, n_heads, hp->head_dim, c, sn);
        else rope_halves(v, n_heads, hp->head_dim, c, sn);
    }
}

typedef struct {
    const model_hparams *hp;
    const model_layer *L;
    const model_workspace *w;
} qkv_rows_ctx;

/* Rows [r0, r1) of q, k, v from their products to attention's inputs: biases, per-head norms,
 * RoPE. */
static void qkv_rows(void *arg, int r0, int r1) {
    const qkv_rows_ctx *c = arg;
    const model_hparams *hp = c->hp;
    const model_layer *L = c->L;
    const model_workspace *w = c->w;
    const int kv_dim = hp->n_head_kv * hp->head_dim, q_dim = hp->n_head * hp->head_dim;
    add_bias(w->q, r0, r1, q_dim, &L->bq);
    add_bias(w->k, r0, r1, kv_dim, &L->bk);
    add_bias(w->v, r0, r1, kv_dim, &L->bv);
    norm_heads(hp, &L->q_norm, w->q, r0, r1, q_dim, hp->n_head);
    norm_heads(hp, &L->k_norm, w->k, r0, r1, kv_dim, hp->n_head_kv);
    rope_rows(hp, w, L->rope_set, w->q, r0, r1, q_dim, hp->n_head);
    rope_rows(hp, w, L->rope_set, w->k, r0, r1, kv_dim, hp->n_head_kv);
}

void block_attention(const slm_model *m, const model_batch *b, int l) {
    const model_hparams *hp = &m->hp;
    const model_layer *L = &m->layers[l];
    model_workspace *w = b->work;
    const int n = b->n_rows, E = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim, q_dim = hp->n_head * hp->head_dim;
    matmul_job qkv[3] = {{w->q, q_dim, &L->wq, NULL}, {w->k, kv_dim, &L->wk, NULL}, {w->v, kv_dim, &L->wv, NULL}};
    matmul_multi(qkv, 3, w->xb, n, E, w->scratch);
    qkv_rows_ctx qc = {hp, L, w};
    slm_pool_for(qkv_rows, &qc, n, n, PARALLEL_ROWS_MIN);
    /* each sequence's k and v rows go into its cache at their positions */
    int64_t work = 0;
    int r = 0;
    for (int i = 0; i < b->n_seqs; i++) {
        const model_seq *q = &b->seqs[i];
        const size_t at = ((size_t)l * q->state->n_ctx + (size_t)q->pos) * kv_dim, bytes = (size_t)q->n * kv_dim * sizeof(float);
        memcpy(q->state->key_cache + at, w->k + (size_t)r * kv_dim, bytes);
        memcpy(q->state->value_cache + at, w->v + (size_t)r * kv_dim, bytes);
        r += q->n;
        int span = L->window > 0 && L->window < q->pos + q->n ? L->window : q->pos + q->n;
        work += (int64_t)q->n * span * q_dim;
    }
    attention_ctx ac = {hp, b, l, L->window};
    if (work < ATTENTION_PARALLEL_MIN) attention_heads(&ac, 0, 1);
    else slm_pool_run(attention_heads, &ac);
    matmul_job wo = {w->xb, E, &L->wo, NULL};
    matmul_multi(&wo, 1, w->xb2, n, q_dim, w->scratch);
}

void block_ffn(const slm_model *m, const model_batch *b, int l) {
    const model_hparams *hp = &m->hp;
    const model_layer *L = &m->layers[l];
    model_workspace *w = b->work;
    const int n = b->n_rows, E = hp->n_embd, F = hp->n_ff;
    matmul_job ffn[2] = {{w->hb, F, &L->w_gate, NULL}, {w->hb2, F, &L->w_up, NULL}};
    matmul_multi(ffn, 2, w->xb, n, E, w->scratch);
    if (hp->ffn == FFN_SILU) swiglu(w->hb, w->hb2, n * F);
    else geglu_tanh(w->hb, w->hb2, n * F);
    matmul_job down = {w->xb, E, &L->w_down, NULL};
    matmul_multi(&down, 1, w->hb, n, F, w->scratch);
}

typedef struct {
    float *x;        /* the residual stream */
    const float *xb; /* the branch's rows */
    size_t width;
} residual_ctx;

static void residual_rows(void *arg, int r0, int r1) {
    const residual_ctx *c = arg;
    for (size_t i = (size_t)r0 * c->width; i < (size_t)r1 * c->width; i++) c->x[i] += c->xb[i];
}

void block_residual(const slm_model *m, const model_batch *b) {
    residual_ctx c = {b->work->x, b->work->xb, (size_t)m->hp.n_embd};
    slm_pool_for(residual_rows, &c, b->n_rows, b->n_rows, PARALLEL_ROWS_MIN);
}

void block_logits(const slm_model *m, const model_batch *b) {
    const int E = m->hp.n_embd;
    model_workspace *w = b->work;
    /* the normed last rows gather in xb (free by now); their outputs go to each state's logits */
    float *outputs[MODEL_MAX_BATCH];
    int k = 0, r = 0;
    for (int i = 0; i < b->n_seqs; i++) {
        const model_seq *q = &b->seqs[i];
        r += q->n;
        if (!q->want_logits) continue;
        rmsnorm(w->xb + (size_t)k * E, w->x + (size_t)(r - 1) * E, m->output_norm.data, E, m->hp.norm_eps);
        outputs[k++] = q->state->logits;
    }
    if (k == 0) return;
    matmul_job out = {NULL, 0, &m->output, outputs};
    matmul_multi(&out, 1, w->xb, k, E, w->scratch);
}
