/* decoder_train.c — fine-tuning a decoder with LoRA for classification, in f32 with saved
 * activations and an explicit backward, op by op (train/ops.c, decoder_ops.c, lora.c):
 *   x = embed[tokens] * embed_scale
 *   per layer:  h = n(x); q = qn(Wq' h + bq), k = kn(Wk' h + bk), v = Wv' h + bv
 *               x += pn(Wo' attn(rope(q), rope(k), v))          (causal, sliding window)
 *               h = n(x); x += pn(Wdown' (act(Wgate' h) * Wup' h))
 *   logits = Wcls · n(x[last real token]) + bcls;  loss = class-weighted cross-entropy
 * where W' = W + (alpha/r) B A on the targeted matrices, n are RMSNorms, qn/kn per-head
 * RMSNorms (Gemma 3) and pn the post-norms (Gemma), each present only where the base has it.
 * Padding follows each sequence's real tokens, so causal attention never lets it in. */
#include "train/decoder_train.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "models/model.h"
#include "train/decoder_ops.h"
#include "train/float_arena.h"
#include "train/ops.h"
#include "train/train.h"

static const char *const TARGET_NAMES[LT_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};
static const char *const TARGET_TENSORS[LT_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                     "ffn_gate", "ffn_up", "ffn_down"};

const char *decoder_target_name(int t) { return t >= 0 && t < LT_COUNT ? TARGET_NAMES[t] : "?"; }

slm_status decoder_parse_targets(const char *list, unsigned *mask) {
    *mask = 0;
    if (!list || !*list) return slm_error(SLM_ERR_INVALID_ARG, "LoRA targets: the list is empty (e.g. q,v)");
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        const size_t n = end ? (size_t)(end - p) : strlen(p);
        int found = 0;
        if (n == 3 && strncmp(p, "all", 3) == 0) *mask |= (1u << LT_COUNT) - 1, found = 1;
        for (int t = 0; t < LT_COUNT && !found; t++)
            if (strlen(TARGET_NAMES[t]) == n && strncmp(p, TARGET_NAMES[t], n) == 0) *mask |= 1u << t, found = 1;
        if (!found)
            return slm_error(SLM_ERR_INVALID_ARG, "LoRA targets: unknown module \"%.*s\" (q, k, v, o, gate, up, down, all)",
                             (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
    return SLM_OK;
}

void decoder_target_dims(const decoder_config *c, int t, int *IC, int *OC) {
    const int Q = c->NH * c->hd, KV = c->KVH * c->hd;
    const int ic[LT_COUNT] = {c->C, c->C, c->C, Q, c->C, c->C, c->F};
    const int oc[LT_COUNT] = {Q, KV, KV, c->C, c->F, c->F, c->C};
    *IC = ic[t];
    *OC = oc[t];
}

/* ---------------------------------------------------------------- configuration */

slm_status decoder_config_from_model(const slm_model *base, decoder_config *cfg) {
    const model_hparams *hp = &base->hp;
    memset(cfg, 0, sizeof *cfg);
    cfg->V = hp->n_vocab;
    cfg->C = hp->n_embd;
    cfg->F = hp->n_ff;
    cfg->L = hp->n_layer;
    cfg->NH = hp->n_head;
    cfg->KVH = hp->n_head_kv;
    cfg->hd = hp->head_dim;
    cfg->eps = hp->norm_eps;
    cfg->embed_scale = hp->embed_scale;
    cfg->attn_scale = hp->attn_scale;
    cfg->rope_base[0] = hp->rope_freq_base[0];
    cfg->rope_base[1] = hp->rope_freq_base[1];
    cfg->rope_halves = hp->rope == ROPE_HALVES;
    cfg->gelu = hp->ffn == FFN_GELU_TANH;
    const model_layer *l0 = &base->layers[0];
    cfg->qk_norm = l0->q_norm.data != NULL;
    cfg->post_norms = l0->post_attn_norm.data != NULL;
    cfg->qkv_bias = l0->bq.data != NULL;
    for (int l = 0; l < cfg->L; l++) {
        const model_layer *L = &base->layers[l];
        if ((L->q_norm.data != NULL) != cfg->qk_norm || (L->k_norm.data != NULL) != cfg->qk_norm ||
            (L->post_attn_norm.data != NULL) != cfg->post_norms || (L->post_ffn_norm.data != NULL) != cfg->post_norms ||
            (L->bq.data != NULL) != cfg->qkv_bias || (L->bk.data != NULL) != cfg->qkv_bias ||
            (L->bv.data != NULL) != cfg->qkv_bias)
            return slm_error(SLM_ERR_UNSUPPORTED, "LoRA: layer %d of %s has other norms or biases than layer 0", l,
                             base->name);
    }
    return SLM_OK;
}

/* ---------------------------------------------------------------- allocation */

enum { N_ACTS = sizeof(decoder_acts) / sizeof(float *), N_GRAD_ACTS = sizeof(decoder_grad_acts) / sizeof(float *) };
static_assert(sizeof(decoder_acts) == N_ACTS * sizeof(float *), "decoder_acts is pointers");
static_assert(sizeof(decoder_grad_acts) == N_GRAD_ACTS * sizeof(float *), "decoder_grad_acts is pointers");

/* L here is the number of layers whose activations are kept (all, or one for inference). */
static void acts_sizes(const decoder_config *c, int B, int T, int slots, size_t s[N_ACTS]) {
    const size_t N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F, L = (size_t)slots;
    const size_t Q = (size_t)c->NH * c->hd, KV = (size_t)c->KVH * c->hd, half = (size_t)c->hd / 2;
    const size_t sizes[N_ACTS] = {
        (L + 1) * N * C, L * N * C, L * N,                 /* x, h1, rstd1 */
        L * N * Q, L * N * c->NH, L * N * KV, L * N * c->KVH, /* q_raw, q_rstd, k_raw, k_rstd */
        L * N * Q, L * N * KV, L * N * KV,                 /* q, k, v */
        L * (size_t)B * c->NH * T * T, L * N * Q,          /* att, atty */
        L * N * C, L * N, L * N * C, L * N * C, L * N,     /* o, o_rstd, xa, h2, rstd2 */
        L * N * F, L * N * F, L * N * F,                   /* gate, up, hact */
        L * N * C, L * N,                                  /* dn, dn_rstd */
        L * LT_COUNT * N * (size_t)(c->rank > 0 ? c->rank : 1), /* xa_lora */
        N * C, (size_t)B * C, (size_t)B * C, (size_t)B, (size_t)B * c->K, /* tmp, pooled_raw, pooled, rstd, probs */
        (size_t)T * half, (size_t)T * half, (size_t)T * half, (size_t)T * half};
    memcpy(s, sizes, sizeof sizes);
}

static void grad_acts_sizes(const decoder_config *c, int B, int T, size_t s[N_GRAD_ACTS]) {
    const size_t N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F;
    const size_t Q = (size_t)c->NH * c->hd, KV = (size_t)c->KVH * c->hd;
    const size_t sizes[N_GRAD_ACTS] = {N * C, N * C, N * C, N * Q, N * Q, N * KV, N * KV, N * KV, N * Q,
                                       N * F, N * F, N * F, (size_t)B * c->KVH * T * T,
                                       N * (size_t)(c->rank > 0 ? c->rank : 1), C > (size_t)c->hd ? C : (size_t)c->hd,
                                       (size_t)B * C, (size_t)B * C};
    memcpy(s, sizes, sizeof sizes);
}

/* Floats of one layer's frozen weights. */
static size_t layer_floats(const decoder_config *c) {
    size_t n = 2 * (size_t)c->C;
    if (c->qk_norm) n += 2 * (size_t)c->hd;
    if (c->post_norms) n += 2 * (size_t)c->C;
    if (c->qkv_bias) n += (size_t)(c->NH + 2 * c->KVH) * c->hd;
    for (int t = 0; t < LT_COUNT; t++) {
        int ic, oc;
        decoder_target_dims(c, t, &ic, &oc);
        n += (size_t)ic * oc;
    }
    return n;
}

static void point_layer(const decoder_config *c, decoder_layer *L, float **mem) {
    float *p = *mem;
#define TAKE(dst, n) ((dst) = p, p += (n))
    TAKE(L->attn_norm, c->C);
    TAKE(L->ffn_norm, c->C);
    if (c->qk_norm) TAKE(L->q_norm, c->hd), TAKE(L->k_norm, c->hd);
    if (c->post_norms) TAKE(L->post_attn_norm, c->C), TAKE(L->post_ffn_norm, c->C);
    if (c->qkv_bias) TAKE(L->bias[0], c->NH * c->hd), TAKE(L->bias[1], c->KVH * c->hd), TAKE(L->bias[2], c->KVH * c->hd);
    for (int t = 0; t < LT_COUNT; t++) {
        int ic, oc;
        decoder_target_dims(c, t, &ic, &oc);
        TAKE(L->w[t], (size_t)ic * oc);
    }
#undef TAKE
    *mem = p;
}

static int targeted(const decoder_config *c, int t) { return (c->targets >> t) & 1u; }

slm_status decoder_model_alloc(decoder_model *m, const decoder_config *cfg, int B, int T, int training) {
    memset(m, 0, sizeof *m);
    const decoder_config *c = cfg;
    if (c->V < 1 || c->C < 1 || c->F < 1 || c->L < 1 || c->NH < 1 || c->KVH < 1 || c->NH % c->KVH || c->hd < 2 ||
        c->hd % 2 || c->K < 2 || B < 1 || T < 1 || c->rank < 0 || (c->targets && c->rank < 1) ||
        c->targets >= (1u << LT_COUNT))
        return slm_error(SLM_ERR_INVALID_ARG,
                         "decoder: bad shape (vocab %d, embd %d, ff %d, layers %d, heads %d/%d x %d, classes %d, "
                         "rank %d, batch %d x %d)",
                         c->V, c->C, c->F, c->L, c->NH, c->KVH, c->hd, c->K, c->rank, B, T);
    const double N = (double)B * T;
    if (N * fmax(fmax(c->C, c->F), (double)c->NH * c->hd) * c->L > 4e9 || (double)B * c->NH * T * T * c->L > 4e9)
        return slm_error(SLM_ERR_INVALID_ARG, "decoder: batch %d x %d is too large for this model", B, T);
    m->cfg = *cfg;
    m->B = B;
    m->T = T;
    const size_t L = (size_t)c->L, C = (size_t)c->C;
    m->layers = calloc(L, sizeof(decoder_layer));
    m->lora_a = calloc(L * LT_COUNT, sizeof(float *));
    m->lora_b = calloc(L * LT_COUNT, sizeof(float *));
    m->lora_da = calloc(L * LT_COUNT, sizeof(float *));
    m->lora_db = calloc(L * LT_COUNT, sizeof(float *));
    m->frozen_mem = slm_aligned_alloc((L * layer_floats(c) + C) * sizeof(float), "frozen weights");
    size_t n = 0;
    for (int t = 0; t < LT_COUNT; t++)
        if (targeted(c, t)) {
            int ic, oc;
            decoder_target_dims(c, t, &ic, &oc);
            n += L * (size_t)c->rank * (size_t)(ic + oc);
        }
    n += (size_t)c->K * (C + 1);
    m->n_params = n;
    m->params_mem = slm_aligned_alloc(n * sizeof(float), "adapters and head");
    size_t as[N_ACTS], gs[N_GRAD_ACTS];
    m->n_slots = training ? c->L : 1;
    acts_sizes(c, B, T, m->n_slots, as);
    grad_acts_sizes(c, B, T, gs);
    m->acts_mem = slm_aligned_alloc(float_arena_total(as, N_ACTS) * sizeof(float), "activations");
    int ok = m->layers && m->lora_a && m->lora_b && m->lora_da && m->lora_db && m->frozen_mem && m->params_mem &&
             m->acts_mem;
    if (ok && training) {
        m->grads_mem = slm_aligned_alloc(n * sizeof(float), "gradients");
        m->m_mem = slm_aligned_alloc(n * sizeof(float), "AdamW first moments");
        m->v_mem = slm_aligned_alloc(n * sizeof(float), "AdamW second moments");
        m->gacts_mem = slm_aligned_alloc(float_arena_total(gs, N_GRAD_ACTS) * sizeof(float), "activation gradients");
        ok = m->grads_mem && m->m_mem && m->v_mem && m->gacts_mem;
    }
    if (!ok) {
        decoder_model_free(m);
        return slm_error(SLM_ERR_NOMEM, "decoder: out of memory for a batch of %d x %d", B, T);
    }
    memset(m->frozen_mem, 0, (L * layer_floats(c) + C) * sizeof(float));
    float *p = m->frozen_mem;
    for (int l = 0; l < c->L; l++) point_layer(c, &m->layers[l], &p);
    m->output_norm = p;
    memset(m->params_mem, 0, n * sizeof(float));
    float *w = m->params_mem, *g = m->grads_mem;
    for (int l = 0; l < c->L; l++)
        for (int t = 0; t < LT_COUNT; t++) {
            if (!targeted(c, t)) continue;
            int ic, oc;
            decoder_target_dims(c, t, &ic, &oc);
            const size_t na = (size_t)c->rank * ic, nb = (size_t)oc * c->rank, i = (size_t)l * LT_COUNT + t;
            m->lora_a[i] = w, m->lora_b[i] = w + na, w += na + nb;
            if (g) m->lora_da[i] = g, m->lora_db[i] = g + na, g += na + nb;
        }
    m->head_w = w, m->head_b = w + (size_t)c->K * C;
    if (g) m->head_dw = g, m->head_db = g + (size_t)c->K * C;
    float_arena_point((float **)&m->acts, as, N_ACTS, m->acts_mem);
    if (training) {
        memset(m->grads_mem, 0, n * sizeof(float));
        memset(m->m_mem, 0, n * sizeof(float));
        memset(m->v_mem, 0, n * sizeof(float));
        float_arena_point((float **)&m->gacts, gs, N_GRAD_ACTS, m->gacts_mem);
    }
    for (int s = 0; s < 2; s++) rope_tables(m->acts.rope_cos[s], m->acts.rope_sin[s], T, c->hd, c->rope_base[s]);
    for (int l = 0; l < c->L; l++) m->layers[l].rope_set = 0;
    return SLM_OK;
}

void decoder_model_free(decoder_model *m) {
    free(m->layers);
    free(m->lora_a);
    free(m->lora_b);
    free(m->lora_da);
    free(m->lora_db);
    slm_aligned_free(m->frozen_mem);
    slm_aligned_free(m->params_mem);
    slm_aligned_free(m->grads_mem);
    slm_aligned_free(m->m_mem);
    slm_aligned_free(m->v_mem);
    slm_aligned_free(m->acts_mem);
    slm_aligned_free(m->gacts_mem);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- loading the base */

/* Copies a vector tensor of n floats (bind.c has checked it is f32 of that length). */
static void copy_vector(float *dst, const slm_tensor *t, int n) { memcpy(dst, t->data, sizeof(float) * (size_t)n); }

typedef struct {
    const slm_tensor *t;
    float *dst;
} dequant_job;

static void dequant_rows(void *arg, int ith, int nth) {
    const dequant_job *j = arg;
    const int64_t rows = slm_tensor_rows(j->t), cols = j->t->ne[0];
    int r0, r1;
    slm_split_range((int)rows, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) tensor_row_to_f32(j->t, r, j->dst + r * cols);
}

slm_status decoder_load_base(decoder_model *m, const slm_model *base) {
    const decoder_config *c = &m->cfg;
    if (base->hp.n_embd != c->C || base->hp.n_layer != c->L || base->hp.n_vocab != c->V)
        return slm_error(SLM_ERR_INVALID_ARG, "decoder: the base does not match the model's shape");
    m->tok_embd = base->tok_embd;
    copy_vector(m->output_norm, &base->output_norm, c->C);
    for (int l = 0; l < c->L; l++) {
        const model_layer *src = &base->layers[l];
        decoder_layer *dst = &m->layers[l];
        copy_vector(dst->attn_norm, &src->attn_norm, c->C);
        copy_vector(dst->ffn_norm, &src->ffn_norm, c->C);
        if (c->qk_norm) copy_vector(dst->q_norm, &src->q_norm, c->hd), copy_vector(dst->k_norm, &src->k_norm, c->hd);
        if (c->post_norms)
            copy_vector(dst->post_attn_norm, &src->post_attn_norm, c->C),
                copy_vector(dst->post_ffn_norm, &src->post_ffn_norm, c->C);
        if (c->qkv_bias) {
            copy_vector(dst->bias[0], &src->bq, c->NH * c->hd);
            copy_vector(dst->bias[1], &src->bk, c->KVH * c->hd);
            copy_vector(dst->bias[2], &src->bv, c->KVH * c->hd);
        }
        const slm_tensor *mats[LT_COUNT] = {&src->wq, &src->wk, &src->wv, &src->wo, &src->w_gate, &src->w_up, &src->w_down};
        for (int t = 0; t < LT_COUNT; t++) {
            int ic, oc;
            decoder_target_dims(c, t, &ic, &oc);
            if (mats[t]->ne[0] != ic || slm_tensor_rows(mats[t]) != oc)
                return slm_error(SLM_ERR_FORMAT, "decoder: layer %d's %s matrix is not (%d, %d)", l, TARGET_TENSORS[t], oc, ic);
            dequant_job j = {mats[t], dst->w[t]};
            slm_pool_run(dequant_rows, &j);
        }
        dst->window = src->window;
        dst->rope_set = src->rope_set;
    }
    return SLM_OK;
}

void decoder_init_trainables(decoder_model *m, uint64_t seed) {
    const decoder_config *c = &m->cfg;
    for (int l = 0; l < c->L; l++)
        for (int t = 0; t < LT_COUNT; t++) {
            const size_t i = (size_t)l * LT_COUNT + t;
            if (!m->lora_a[i]) continue;
            int ic, oc;
            decoder_target_dims(c, t, &ic, &oc);
            lora_init(m->lora_a[i], m->lora_b[i], c->rank, ic, oc, seed * 1000003u + i + 1);
        }
    /* a zero head: a decoder's final-normed states are large (Gemma's reach norms in the
       hundreds), so that even a 0.02-normal head starts far from uniform predictions */
    memset(m->head_w, 0, sizeof(float) * (size_t)c->K * c->C);
    memset(m->head_b, 0, sizeof(float) * (size_t)c->K);
}

/* ---------------------------------------------------------------- saving and loading the trainables */

typedef slm_status (*tensor_fn)(void *ctx, const char *name, float *data, int64_t rows, int64_t cols);

static slm_status for_each_trainable(const decoder_model *m, tensor_fn fn, void *ctx) {
    const decoder_config *c = &m->cfg;
    slm_status st;
    char name[96];
    for (int l = 0; l < c->L; l++)
        for (int t = 0; t < LT_COUNT; t++) {
            const size_t i = (size_t)l * LT_COUNT + t;
            if (!m->lora_a[i]) continue;
            int ic, oc;
            decoder_target_dims(c, t, &ic, &oc);
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", l, TARGET_TENSORS[t]);
            if ((st = fn(ctx, name, m->lora_a[i], c->rank, ic))) return st;
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", l, TARGET_TENSORS[t]);
            if ((st = fn(ctx, name, m->lora_b[i], oc, c->rank))) return st;
        }
    if ((st = fn(ctx, "cls.weight", m->head_w, c->K, c->C)) || (st = fn(ctx, "cls.bias", m->head_b, 0, c->K))) return st;
    return SLM_OK;
}

static slm_status add_one(void *arg, const char *name, float *data, int64_t rows, int64_t cols) {
    const int64_t ne[2] = {cols, rows};
    const uint64_t n = (uint64_t)cols * (uint64_t)(rows ? rows : 1);
    return gguf_writer_add_tensor(arg, name, SLM_TYPE_F32, rows ? 2 : 1, ne, data, n * sizeof(float));
}

slm_status decoder_add_tensors(const decoder_model *m, gguf_writer *w) { return for_each_trainable(m, add_one, w); }

typedef struct {
    const char *path;
    const gguf_file *f;
} load_ctx;

static slm_status load_one(void *arg, const char *name, float *data, int64_t rows, int64_t cols) {
    const load_ctx *c = arg;
    const gguf_tensor *t = gguf_find_tensor(c->f, name);
    if (!t) return slm_error(SLM_ERR_FORMAT, "%s: missing tensor %s", c->path, name);
    const int64_t want_rows = rows ? rows : 1;
    if (t->type != SLM_TYPE_F32 || t->ne[0] != cols || t->ne[1] * t->ne[2] * t->ne[3] != want_rows ||
        t->n_bytes < (uint64_t)(cols * want_rows) * sizeof(float))
        return slm_error(SLM_ERR_FORMAT, "%s: tensor %s must be f32 of shape [%lld, %lld]", c->path, name,
                         (long long)cols, (long long)want_rows);
    memcpy(data, t->data, sizeof(float) * (size_t)(cols * want_rows));
    return SLM_OK;
}

slm_status decoder_load_trainables(decoder_model *m, const char *path, const gguf_file *f) {
    load_ctx c = {path, f};
    return for_each_trainable(m, load_one, &c);
}

/* ---------------------------------------------------------------- forward and backward */

/* Per-layer strides of the activation arrays (sized for the largest batch). */
typedef struct {
    size_t NC, NQ, NKV, NF, NR, NA, NLORA;
} strides;

static strides layer_strides(const decoder_model *m) {
    const decoder_config *c = &m->cfg;
    const size_t N = (size_t)m->B * m->T;
    return (strides){N * c->C, N * c->NH * c->hd, N * c->KVH * c->hd, N * c->F, N,
                     (size_t)m->B * c->NH * m->T * m->T, N * (size_t)(c->rank > 0 ? c->rank : 1)};
}

/* The LoRA layer of target t in layer l. */
static lora_linear layer_linear(const decoder_model *m, int l, int t) {
    const decoder_config *c = &m->cfg;
    const size_t i = (size_t)l * LT_COUNT + t;
    lora_linear lin = {.w = m->layers[l].w[t], .bias = t <= LT_V ? m->layers[l].bias[t] : NULL,
                       .a = m->lora_a[i], .b = m->lora_b[i], .da = m->lora_da[i], .db = m->lora_db[i],
                       .r = c->rank, .scale = c->rank > 0 ? c->alpha / (float)c->rank : 0.0f};
    decoder_target_dims(c, t, &lin.IC, &lin.OC);
    return lin;
}

static float *lora_saved(const decoder_model *m, const strides *s, int l, int t) {
    return m->acts.xa_lora + ((size_t)l * LT_COUNT + t) * s->NLORA;
}

/* x (N, C) = embed[tokens] * embed_scale. */
static void embed_rows(const decoder_model *m, const int32_t *tokens, int N, float *x) {
    const int C = m->cfg.C;
    for (int n = 0; n < N; n++) {
        float *row = x + (size_t)n * C;
        tensor_row_to_f32(&m->tok_embd, tokens[n], row);
        if (m->cfg.embed_scale != 1.0f)
            for (int i = 0; i < C; i++) row[i] *= m->cfg.embed_scale;
    }
}

/* The slot of the residual stream entering layer l (l = L: leaving the last): every layer's
 * when training, two alternating ones when only running forward. */
static size_t x_slot(const decoder_model *m, int l) { return (size_t)(m->n_slots == m->cfg.L ? l : l % 2); }

float decoder_forward(decoder_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                      int Bu, int T) {
    const decoder_config *c = &m->cfg;
    const int N = Bu * T, C = c->C, F = c->F, Q = c->NH * c->hd, KV = c->KVH * c->hd;
    assert(Bu <= m->B && T <= m->T);
    const strides s = layer_strides(m);
    decoder_acts *a = &m->acts;
    embed_rows(m, tokens, N, a->x);
    for (int l = 0; l < c->L; l++) {
        const decoder_layer *Ly = &m->layers[l];
        const size_t sl = (size_t)(l % m->n_slots); /* this layer's activation slot */
        float *x = a->x + x_slot(m, l) * s.NC, *h1 = a->h1 + sl * s.NC, *q_raw = a->q_raw + sl * s.NQ, *k_raw = a->k_raw + sl * s.NKV;
        float *q = a->q + sl * s.NQ, *k = a->k + sl * s.NKV, *v = a->v + sl * s.NKV, *att = a->att + sl * s.NA;
        float *atty = a->atty + sl * s.NQ, *o = a->o + sl * s.NC, *xa = a->xa + sl * s.NC, *h2 = a->h2 + sl * s.NC;
        float *gate = a->gate + sl * s.NF, *up = a->up + sl * s.NF, *hact = a->hact + sl * s.NF, *dn = a->dn + sl * s.NC;
        lora_linear lin[LT_COUNT];
        for (int t = 0; t < LT_COUNT; t++) lin[t] = layer_linear(m, l, t);
        rmsnorm_forward(h1, a->rstd1 + sl * s.NR, x, Ly->attn_norm, N, C, c->eps);
        lora_forward(&lin[LT_Q], q_raw, lora_saved(m, &s, (int)sl, LT_Q), h1, N);
        lora_forward(&lin[LT_K], k_raw, lora_saved(m, &s, (int)sl, LT_K), h1, N);
        lora_forward(&lin[LT_V], v, lora_saved(m, &s, (int)sl, LT_V), h1, N);
        if (c->qk_norm) {
            rmsnorm_forward(q, a->q_rstd + sl * s.NR * c->NH, q_raw, Ly->q_norm, N * c->NH, c->hd, c->eps);
            rmsnorm_forward(k, a->k_rstd + sl * s.NR * c->KVH, k_raw, Ly->k_norm, N * c->KVH, c->hd, c->eps);
        } else {
            memcpy(q, q_raw, sizeof(float) * (size_t)N * Q);
            memcpy(k, k_raw, sizeof(float) * (size_t)N * KV);
        }
        const int rs = Ly->rope_set;
        decoder_rope(q, a->rope_cos[rs], a->rope_sin[rs], Bu, T, c->NH, c->hd, c->rope_halves, 0);
        decoder_rope(k, a->rope_cos[rs], a->rope_sin[rs], Bu, T, c->KVH, c->hd, c->rope_halves, 0);
        window_attention_forward(atty, att, q, k, v, Bu, T, c->NH, c->KVH, c->hd, Ly->window, c->attn_scale);
        lora_forward(&lin[LT_O], o, lora_saved(m, &s, (int)sl, LT_O), atty, N);
        if (c->post_norms) {
            rmsnorm_forward(a->tmp, a->o_rstd + sl * s.NR, o, Ly->post_attn_norm, N, C, c->eps);
            residual_forward(xa, x, a->tmp, (int64_t)N * C);
        } else {
            residual_forward(xa, x, o, (int64_t)N * C);
        }
        rmsnorm_forward(h2, a->rstd2 + sl * s.NR, xa, Ly->ffn_norm, N, C, c->eps);
        lora_forward(&lin[LT_GATE], gate, lora_saved(m, &s, (int)sl, LT_GATE), h2, N);
        lora_forward(&lin[LT_UP], up, lora_saved(m, &s, (int)sl, LT_UP), h2, N);
        gated_act_forward(hact, gate, up, (int64_t)N * F, c->gelu);
        lora_forward(&lin[LT_DOWN], dn, lora_saved(m, &s, (int)sl, LT_DOWN), hact, N);
        float *x_next = a->x + x_slot(m, l + 1) * s.NC;
        if (c->post_norms) {
            rmsnorm_forward(a->tmp, a->dn_rstd + sl * s.NR, dn, Ly->post_ffn_norm, N, C, c->eps);
            residual_forward(x_next, xa, a->tmp, (int64_t)N * C);
        } else {
            residual_forward(x_next, xa, dn, (int64_t)N * C);
        }
    }
    last_token_pool_forward(a->pooled_raw, a->x + x_slot(m, c->L) * s.NC, lens, Bu, T, C);
    rmsnorm_forward(a->pooled, a->pooled_rstd, a->pooled_raw, m->output_norm, Bu, C, c->eps);
    matmul_forward(a->probs, a->pooled, m->head_w, Bu, C, c->K);
    bias_forward(a->probs, m->head_b, Bu, c->K);
    if (!labels) return 0.0f;
    return weighted_crossentropy_forward(a->probs, a->probs, labels, w, Bu, c->K);
}

/* The gradient entering a residual branch's output y through its post-norm (Gemma 3's, with
 * weight w and saved rstd): d->dx itself when the model has none, else d->dt filled from it. */
static const float *post_norm_backward(const decoder_config *c, const decoder_grad_acts *d, const float *y,
                                       const float *w, const float *rstd, int N) {
    if (!c->post_norms) return d->dx;
    memset(d->dt, 0, (size_t)N * c->C * sizeof(float));
    rmsnorm_backward(d->dt, d->dnorm, d->dx, y, w, rstd, N, c->C);
    return d->dt;
}

void decoder_backward(decoder_model *m, const int *lens, const int32_t *labels, const float *w, int Bu, int T,
                      float dloss) {
    const decoder_config *c = &m->cfg;
    const int N = Bu * T, C = c->C, F = c->F, Q = c->NH * c->hd, KV = c->KVH * c->hd;
    const strides s = layer_strides(m);
    const decoder_acts *a = &m->acts;
    const decoder_grad_acts *d = &m->gacts;
    const size_t nc = (size_t)N * C * sizeof(float), nf = (size_t)N * F * sizeof(float);
    const size_t nq = (size_t)N * Q * sizeof(float), nkv = (size_t)N * KV * sizeof(float);

    /* loss -> logits -> head -> final norm -> the last real token of each sequence */
    weighted_crossentropy_backward(a->probs, a->probs, labels, w, dloss, Bu, c->K);
    memset(d->dpooled, 0, (size_t)Bu * C * sizeof(float));
    matmul_backward(d->dpooled, m->head_dw, a->probs, a->pooled, m->head_w, Bu, C, c->K);
    bias_backward(m->head_db, a->probs, Bu, c->K);
    memset(d->dpooled_raw, 0, (size_t)Bu * C * sizeof(float));
    rmsnorm_backward(d->dpooled_raw, d->dnorm, d->dpooled, a->pooled_raw, m->output_norm, a->pooled_rstd, Bu, C);
    memset(d->dx, 0, nc);
    last_token_pool_backward(d->dx, d->dpooled_raw, lens, Bu, T, C);

    for (int l = c->L - 1; l >= 0; l--) {
        const decoder_layer *Ly = &m->layers[l];
        const float *x = a->x + l * s.NC, *h1 = a->h1 + l * s.NC, *q_raw = a->q_raw + l * s.NQ;
        const float *k_raw = a->k_raw + l * s.NKV, *q = a->q + l * s.NQ, *k = a->k + l * s.NKV, *v = a->v + l * s.NKV;
        const float *att = a->att + l * s.NA, *atty = a->atty + l * s.NQ, *o = a->o + l * s.NC, *xa = a->xa + l * s.NC;
        const float *h2 = a->h2 + l * s.NC, *gate = a->gate + l * s.NF, *up = a->up + l * s.NF;
        const float *hact = a->hact + l * s.NF, *dn = a->dn + l * s.NC;
        lora_linear lin[LT_COUNT];
        for (int t = 0; t < LT_COUNT; t++) lin[t] = layer_linear(m, l, t);
        /* x_next = xa + pn(dn): dx is the gradient of x_next and (directly) of xa */
        const float *ddn = post_norm_backward(c, d, dn, Ly->post_ffn_norm, a->dn_rstd + l * s.NR, N);
        memset(d->dhact, 0, nf);
        lora_backward(&lin[LT_DOWN], d->dhact, d->lora_scratch, ddn, hact, lora_saved(m, &s, l, LT_DOWN), N);
        memset(d->dgate, 0, nf);
        memset(d->dup, 0, nf);
        gated_act_backward(d->dgate, d->dup, d->dhact, gate, up, (int64_t)N * F, c->gelu);
        memset(d->dh, 0, nc);
        lora_backward(&lin[LT_GATE], d->dh, d->lora_scratch, d->dgate, h2, lora_saved(m, &s, l, LT_GATE), N);
        lora_backward(&lin[LT_UP], d->dh, d->lora_scratch, d->dup, h2, lora_saved(m, &s, l, LT_UP), N);
        rmsnorm_backward(d->dx, d->dnorm, d->dh, xa, Ly->ffn_norm, a->rstd2 + l * s.NR, N, C);
        /* xa = x + pn(o): dx is now the gradient of xa, and (directly) of x */
        const float *dout = post_norm_backward(c, d, o, Ly->post_attn_norm, a->o_rstd + l * s.NR, N);
        memset(d->datty, 0, nq);
        lora_backward(&lin[LT_O], d->datty, d->lora_scratch, dout, atty, lora_saved(m, &s, l, LT_O), N);
        memset(d->dq, 0, nq);
        memset(d->dk, 0, nkv);
        memset(d->dv, 0, nkv);
        window_attention_backward(d->dq, d->dk, d->dv, d->scratch, d->datty, q, k, v, att, Bu, T, c->NH, c->KVH, c->hd,
                                  Ly->window, c->attn_scale);
        const int rs = Ly->rope_set;
        decoder_rope(d->dq, a->rope_cos[rs], a->rope_sin[rs], Bu, T, c->NH, c->hd, c->rope_halves, 1);
        decoder_rope(d->dk, a->rope_cos[rs], a->rope_sin[rs], Bu, T, c->KVH, c->hd, c->rope_halves, 1);
        const float *dq_raw = d->dq, *dk_raw = d->dk;
        if (c->qk_norm) {
            memset(d->dq_raw, 0, nq);
            memset(d->dk_raw, 0, nkv);
            rmsnorm_backward(d->dq_raw, d->dnorm, d->dq, q_raw, Ly->q_norm, a->q_rstd + l * s.NR * c->NH, N * c->NH,
                             c->hd);
            rmsnorm_backward(d->dk_raw, d->dnorm, d->dk, k_raw, Ly->k_norm, a->k_rstd + l * s.NR * c->KVH, N * c->KVH,
                             c->hd);
            dq_raw = d->dq_raw, dk_raw = d->dk_raw;
        }
        /* below layer 0 nothing trains: the input gradients are not needed there */
        float *dh = l > 0 ? d->dh : NULL;
        if (dh) memset(dh, 0, nc);
        lora_backward(&lin[LT_Q], dh, d->lora_scratch, dq_raw, h1, lora_saved(m, &s, l, LT_Q), N);
        lora_backward(&lin[LT_K], dh, d->lora_scratch, dk_raw, h1, lora_saved(m, &s, l, LT_K), N);
        lora_backward(&lin[LT_V], dh, d->lora_scratch, d->dv, h1, lora_saved(m, &s, l, LT_V), N);
        if (dh) rmsnorm_backward(d->dx, d->dnorm, dh, x, Ly->attn_norm, a->rstd1 + l * s.NR, N, C);
    }
}

/* ---------------------------------------------------------------- optimiser step */

float decoder_train_step(decoder_model *m, const int32_t *tokens, const int *lens, const int32_t *labels,
                         const float *w, int Bu, int T, float lr, float wd, float clip, int t, float *grad_norm) {
    memset(m->grads_mem, 0, m->n_params * sizeof(float));
    const float loss = decoder_forward(m, tokens, lens, labels, w, Bu, T);
    decoder_backward(m, lens, labels, w, Bu, T, 1.0f);
    const float norm = train_grad_norm(m->grads_mem, m->n_params);
    float scale = 1.0f;
    if (clip > 0.0f && norm > 0.0f) { /* as torch.nn.utils.clip_grad_norm_ */
        scale = clip / (norm + 1e-6f);
        if (scale > 1.0f) scale = 1.0f;
    }
    const size_t K = (size_t)m->cfg.K, decayed = m->n_params - K; /* the head's bias comes last */
    train_adamw(m->params_mem, m->grads_mem, m->m_mem, m->v_mem, decayed, lr, 0.9f, 0.999f, 1e-8f, wd, scale, t);
    train_adamw(m->params_mem + decayed, m->grads_mem + decayed, m->m_mem + decayed, m->v_mem + decayed, K, lr, 0.9f,
                0.999f, 1e-8f, 0.0f, scale, t);
    if (grad_norm) *grad_norm = norm;
    return loss;
}
