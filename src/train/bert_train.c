/* bert_train.c — the BERT encoder (post-LN, as Hugging Face's BertModel) with a linear
 * classification head, in f32 with saved activations and an explicit backward, op by op from
 * train/ops.c:
 *   x0 = LN(wte[tokens] + wpe[t] + wtt[0])
 *   per layer:  h = LN1(x + Wo · attn(Wq x + bq, Wk x + bk, Wv x + bv) + bo)   (padding masked)
 *               x = LN2(h + Wdown · gelu(Wup h + bup) + bdown)
 *   logits = Wcls · pool(x) + bcls   (pool: mean over the valid tokens, or the [CLS] row)
 *   loss = class-weighted cross-entropy(logits, labels)
 * or, for token classification (cfg.per_token), logits = Wcls · x + bcls at every position and
 * the loss is the mean cross-entropy over the labelled positions (label -1: left out).
 * Weights load from and save to GGUF under llama.cpp's BERT tensor names. */
#include "train/bert_train.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "tensor/quants.h"
#include "train/float_arena.h"
#include "train/ops.h"
#include "train/train.h"

static_assert(sizeof(bert_params) == BP_COUNT * sizeof(float *), "bert_params is BP_COUNT pointers");

/* ---------------------------------------------------------------- parameters */

static void param_sizes(const bert_config *c, size_t s[BP_COUNT]) {
    const size_t V = (size_t)c->V, C = (size_t)c->C, F = (size_t)c->F, L = (size_t)c->L;
    s[BP_TOK_EMBD] = V * C;
    s[BP_POS_EMBD] = (size_t)c->P * C;
    s[BP_TYPE_EMBD] = (size_t)c->TY * C;
    s[BP_EMB_NORM_W] = s[BP_EMB_NORM_B] = C;
    s[BP_WQ] = s[BP_WK] = s[BP_WV] = s[BP_WO] = L * C * C;
    s[BP_BQ] = s[BP_BK] = s[BP_BV] = s[BP_BO] = L * C;
    s[BP_LN1_W] = s[BP_LN1_B] = s[BP_LN2_W] = s[BP_LN2_B] = L * C;
    s[BP_W_UP] = s[BP_W_DOWN] = L * F * C;
    s[BP_B_UP] = L * F;
    s[BP_B_DOWN] = L * C;
    s[BP_CLS_W] = (size_t)c->K * C;
    s[BP_CLS_B] = (size_t)c->K;
}

float **bert_param_array(bert_params *p) { return (float **)p; }

int bert_param_decays(int i) {
    return i == BP_TOK_EMBD || i == BP_POS_EMBD || i == BP_TYPE_EMBD || i == BP_WQ || i == BP_WK || i == BP_WV ||
           i == BP_WO || i == BP_W_UP || i == BP_W_DOWN || i == BP_CLS_W;
}

/* ---------------------------------------------------------------- activations */

enum { N_ACTS = sizeof(bert_acts) / sizeof(float *), N_GRAD_ACTS = sizeof(bert_grad_acts) / sizeof(float *) };
static_assert(sizeof(bert_acts) == N_ACTS * sizeof(float *), "bert_acts is pointers");
static_assert(sizeof(bert_grad_acts) == N_GRAD_ACTS * sizeof(float *), "bert_grad_acts is pointers");

static void acts_sizes(const bert_config *c, int B, int T, size_t s[N_ACTS]) {
    const size_t N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F, L = (size_t)c->L;
    size_t i = 0;
    s[i++] = N * C;                            /* emb */
    s[i++] = N;                                /* emb_mean */
    s[i++] = N;                                /* emb_rstd */
    s[i++] = (L + 1) * N * C;                  /* x */
    s[i++] = L * N * C;                        /* q */
    s[i++] = L * N * C;                        /* k */
    s[i++] = L * N * C;                        /* v */
    s[i++] = L * (size_t)B * c->NH * T * T;    /* att */
    s[i++] = L * N * C;                        /* atty */
    s[i++] = L * N * C;                        /* res1 */
    s[i++] = L * N;                            /* ln1_mean */
    s[i++] = L * N;                            /* ln1_rstd */
    s[i++] = L * N * C;                        /* h */
    s[i++] = L * N * F;                        /* up */
    s[i++] = L * N * F;                        /* act */
    s[i++] = L * N * C;                        /* res2 */
    s[i++] = L * N;                            /* ln2_mean */
    s[i++] = L * N;                            /* ln2_rstd */
    s[i++] = (size_t)B * C;                    /* pooled */
    s[i++] = (c->per_token ? N : (size_t)B) * (c->K > 0 ? c->K : 1); /* probs */
    s[i++] = N * C;                            /* emb_drop */
    s[i++] = L * N * C;                        /* attn_drop */
    s[i++] = L * N * C;                        /* ffn_drop */
    s[i++] = (size_t)B * C;                    /* pool_drop */
    assert(i == N_ACTS);
}

static void grad_acts_sizes(const bert_config *c, int B, int T, size_t s[N_GRAD_ACTS]) {
    const size_t N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F;
    const size_t sizes[N_GRAD_ACTS] = {N * C, N * C, N * C, N * C, N * C, N * C, N * C,
                                       N * F, N * F, (size_t)B * C, N * C, (size_t)B * c->NH * T};
    memcpy(s, sizes, sizeof sizes);
}

/* ---------------------------------------------------------------- allocation */

slm_status bert_model_alloc(bert_model *m, const bert_config *cfg, int B, int T, int training) {
    memset(m, 0, sizeof *m);
    const bert_config *c = cfg;
    if (c->V < 1 || c->C < 1 || c->F < 1 || c->L < 1 || c->NH < 1 || c->hd < 1 || c->NH * c->hd != c->C ||
        c->P < 1 || c->TY < 1 || c->K < 1 || B < 1 || T < 1 || T > c->P)
        return slm_error(SLM_ERR_INVALID_ARG,
                         "bert: bad shape (vocab %d, embd %d, ff %d, layers %d, heads %d x %d, positions %d, "
                         "types %d, classes %d, batch %d x %d)",
                         c->V, c->C, c->F, c->L, c->NH, c->hd, c->P, c->TY, c->K, B, T);
    const double N = (double)B * T;
    if (N * fmax(c->C, c->F) > 2e9 || (double)B * c->NH * T * T > 2e9 || (double)c->V * c->C > 2e9)
        return slm_error(SLM_ERR_INVALID_ARG, "bert: batch %d x %d is too large for this model", B, T);
    m->cfg = *cfg;
    m->B = B;
    m->T = T;
    param_sizes(cfg, m->sizes);
    m->n_params = float_arena_total(m->sizes, BP_COUNT);
    size_t as[N_ACTS], gs[N_GRAD_ACTS];
    acts_sizes(cfg, B, T, as);
    grad_acts_sizes(cfg, B, T, gs);
    const size_t pb = m->n_params * sizeof(float);
    m->params_mem = slm_aligned_alloc(pb, "parameters");
    m->acts_mem = slm_aligned_alloc(float_arena_total(as, N_ACTS) * sizeof(float), "activations");
    int ok = m->params_mem && m->acts_mem;
    if (ok && training) {
        m->grads_mem = slm_aligned_alloc(pb, "gradients");
        m->m_mem = slm_aligned_alloc(pb, "AdamW first moments");
        m->v_mem = slm_aligned_alloc(pb, "AdamW second moments");
        m->gacts_mem = slm_aligned_alloc(float_arena_total(gs, N_GRAD_ACTS) * sizeof(float), "activation gradients");
        ok = m->grads_mem && m->m_mem && m->v_mem && m->gacts_mem;
    }
    if (!ok) {
        bert_model_free(m);
        return SLM_ERR_NOMEM;
    }
    memset(m->params_mem, 0, pb);
    float_arena_point(bert_param_array(&m->params), m->sizes, BP_COUNT, m->params_mem);
    float_arena_point((float **)&m->acts, as, N_ACTS, m->acts_mem);
    if (training) {
        memset(m->grads_mem, 0, pb);
        memset(m->m_mem, 0, pb);
        memset(m->v_mem, 0, pb);
        float_arena_point(bert_param_array(&m->grads), m->sizes, BP_COUNT, m->grads_mem);
        float_arena_point((float **)&m->gacts, gs, N_GRAD_ACTS, m->gacts_mem);
    }
    return SLM_OK;
}

void bert_model_free(bert_model *m) {
    slm_aligned_free(m->params_mem);
    slm_aligned_free(m->grads_mem);
    slm_aligned_free(m->m_mem);
    slm_aligned_free(m->v_mem);
    slm_aligned_free(m->acts_mem);
    slm_aligned_free(m->gacts_mem);
    memset(m, 0, sizeof *m);
}

void bert_model_init_head(bert_model *m, uint64_t seed) {
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    for (size_t i = 0; i < m->sizes[BP_CLS_W]; i++) m->params.cls_w[i] = 0.02f * slm_rng_normal(&rng);
    memset(m->params.cls_b, 0, m->sizes[BP_CLS_B] * sizeof(float));
}

/* ---------------------------------------------------------------- GGUF */

static slm_status get_dim(const char *path, const gguf_file *f, const char *key, int *out) {
    int64_t v;
    if (!gguf_get_int(f, key, &v)) return slm_error(SLM_ERR_FORMAT, "%s: missing integer key %s", path, key);
    if (v < 1 || v > (1 << 24)) return slm_error(SLM_ERR_FORMAT, "%s: %s = %lld is out of range", path, key, (long long)v);
    *out = (int)v;
    return SLM_OK;
}

/* Rows of a 2-D tensor (ne[1]), or an error naming it when it is missing. */
static slm_status tensor_rows(const char *path, const gguf_file *f, const char *name, int *rows) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return slm_error(SLM_ERR_FORMAT, "%s: missing tensor %s", path, name);
    if (t->n_dims != 2 || t->ne[1] < 1 || t->ne[1] > (1 << 24))
        return slm_error(SLM_ERR_FORMAT, "%s: tensor %s is not a matrix", path, name);
    *rows = (int)t->ne[1];
    return SLM_OK;
}

slm_status bert_config_from_gguf(const char *path, const gguf_file *f, bert_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    char *arch = gguf_get_string(f, "general.architecture");
    const int is_bert = arch && strcmp(arch, "bert") == 0;
    if (!is_bert) {
        slm_status st = slm_error(SLM_ERR_UNSUPPORTED,
                                  "%s: architecture '%s': only BERT-family encoders and llama, qwen2 and gemma3 decoders can be fine-tuned",
                                  path, arch ? arch : "(none)");
        free(arch);
        return st;
    }
    free(arch);
    slm_status st;
    if ((st = get_dim(path, f, "bert.embedding_length", &cfg->C)) ||
        (st = get_dim(path, f, "bert.block_count", &cfg->L)) ||
        (st = get_dim(path, f, "bert.attention.head_count", &cfg->NH)) ||
        (st = get_dim(path, f, "bert.feed_forward_length", &cfg->F)) ||
        (st = tensor_rows(path, f, "token_embd.weight", &cfg->V)) ||
        (st = tensor_rows(path, f, "position_embd.weight", &cfg->P)))
        return st;
    if (gguf_find_tensor(f, "token_types.weight")) {
        if ((st = tensor_rows(path, f, "token_types.weight", &cfg->TY))) return st;
    } else {
        cfg->TY = 1; /* no token types: a zero row */
    }
    if (cfg->C % cfg->NH)
        return slm_error(SLM_ERR_FORMAT, "%s: embedding length %d is not a multiple of %d heads", path, cfg->C, cfg->NH);
    cfg->hd = cfg->C / cfg->NH;
    double eps = 1e-12;
    if (gguf_find(f, "bert.attention.layer_norm_epsilon") && !gguf_get_float(f, "bert.attention.layer_norm_epsilon", &eps))
        return slm_error(SLM_ERR_FORMAT, "%s: bert.attention.layer_norm_epsilon is not a number", path);
    cfg->eps = (float)eps;
    int64_t pooling = BERT_POOL_MEAN;
    if (gguf_get_int(f, "bert.pooling_type", &pooling) && pooling != BERT_POOL_CLS) pooling = BERT_POOL_MEAN;
    cfg->pooling = (int)pooling;
    return SLM_OK;
}

/* Copies tensor `name` into dst as rows x cols floats (rows 0: a vector of cols). */
static slm_status load_tensor(const char *path, const gguf_file *f, const char *name, float *dst, int64_t rows,
                              int64_t cols) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return slm_error(SLM_ERR_FORMAT, "%s: missing tensor %s", path, name);
    const int64_t want_rows = rows ? rows : 1;
    if (t->ne[0] != cols || t->ne[1] * t->ne[2] * t->ne[3] != want_rows)
        return slm_error(SLM_ERR_FORMAT, "%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld]", path, name,
                         (long long)t->ne[0], (long long)t->ne[1], (long long)cols, (long long)want_rows);
    const slm_type_traits *tr = slm_type_info(t->type);
    if (!tr || !tr->name || !quant_type_supported((slm_type)t->type) || cols % tr->block_elems)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: tensor %s has type %u that cannot be converted to f32", path, name,
                         t->type);
    const size_t row_bytes = (size_t)(cols / tr->block_elems) * (size_t)tr->block_bytes;
    if ((uint64_t)row_bytes * (uint64_t)want_rows > t->n_bytes)
        return slm_error(SLM_ERR_FORMAT, "%s: tensor %s is truncated", path, name);
    for (int64_t r = 0; r < want_rows; r++)
        dequantize_row((slm_type)t->type, (const uint8_t *)t->data + (size_t)r * row_bytes, dst + r * cols, cols);
    return SLM_OK;
}

/* The GGUF name and shape of every saved tensor, layer by layer; calls fn for each. */
typedef slm_status (*tensor_fn)(void *ctx, const char *name, float *data, int64_t rows, int64_t cols);

static slm_status for_each_tensor(const bert_model *m, int with_head, tensor_fn fn, void *ctx) {
    const bert_config *c = &m->cfg;
    const bert_params *p = &m->params;
    const int64_t C = c->C, F = c->F;
    slm_status st;
    if ((st = fn(ctx, "token_embd.weight", p->tok_embd, c->V, C)) ||
        (st = fn(ctx, "position_embd.weight", p->pos_embd, c->P, C)) ||
        (st = fn(ctx, "token_types.weight", p->type_embd, c->TY, C)) ||
        (st = fn(ctx, "token_embd_norm.weight", p->emb_norm_w, 0, C)) ||
        (st = fn(ctx, "token_embd_norm.bias", p->emb_norm_b, 0, C)))
        return st;
    for (int l = 0; l < c->L; l++) {
        const struct {
            const char *name;
            float *data;
            int64_t rows, cols;
        } t[] = {
            {"attn_q.weight", p->wq + l * C * C, C, C},        {"attn_q.bias", p->bq + l * C, 0, C},
            {"attn_k.weight", p->wk + l * C * C, C, C},        {"attn_k.bias", p->bk + l * C, 0, C},
            {"attn_v.weight", p->wv + l * C * C, C, C},        {"attn_v.bias", p->bv + l * C, 0, C},
            {"attn_output.weight", p->wo + l * C * C, C, C},   {"attn_output.bias", p->bo + l * C, 0, C},
            {"attn_output_norm.weight", p->ln1_w + l * C, 0, C}, {"attn_output_norm.bias", p->ln1_b + l * C, 0, C},
            {"ffn_up.weight", p->w_up + l * F * C, F, C},      {"ffn_up.bias", p->b_up + l * F, 0, F},
            {"ffn_down.weight", p->w_down + l * C * F, C, F},  {"ffn_down.bias", p->b_down + l * C, 0, C},
            {"layer_output_norm.weight", p->ln2_w + l * C, 0, C}, {"layer_output_norm.bias", p->ln2_b + l * C, 0, C},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s", l, t[i].name);
            if ((st = fn(ctx, name, t[i].data, t[i].rows, t[i].cols))) return st;
        }
    }
    if (with_head && ((st = fn(ctx, "cls.weight", p->cls_w, c->K, C)) || (st = fn(ctx, "cls.bias", p->cls_b, 0, c->K))))
        return st;
    return SLM_OK;
}

typedef struct {
    const char *path;
    const gguf_file *f;
} load_ctx;

static slm_status load_one(void *arg, const char *name, float *data, int64_t rows, int64_t cols) {
    const load_ctx *c = arg;
    if (strcmp(name, "token_types.weight") == 0 && !gguf_find_tensor(c->f, name)) {
        memset(data, 0, (size_t)cols * sizeof(float));
        return SLM_OK;
    }
    return load_tensor(c->path, c->f, name, data, rows, cols);
}

slm_status bert_load_weights(bert_model *m, const char *path, const gguf_file *f, int with_head) {
    load_ctx c = {path, f};
    return for_each_tensor(m, with_head, load_one, &c);
}

/* Adds one tensor as f32 (the writer copies the name, borrows the data). */
static slm_status add_one(void *arg, const char *name, float *data, int64_t rows, int64_t cols) {
    gguf_writer *w = arg;
    const int64_t ne[2] = {cols, rows};
    const uint64_t n = (uint64_t)cols * (uint64_t)(rows ? rows : 1);
    return gguf_writer_add_tensor(w, name, SLM_TYPE_F32, rows ? 2 : 1, ne, data, n * sizeof(float));
}

slm_status bert_add_tensors(const bert_model *m, gguf_writer *w) { return for_each_tensor(m, 1, add_one, w); }

/* ---------------------------------------------------------------- forward and backward */

/* Per-layer strides of the activation arrays (sized for the largest batch). */
typedef struct {
    size_t NC, NF, NR, NA;
} strides;

static strides layer_strides(const bert_model *m) {
    const size_t N = (size_t)m->B * m->T;
    return (strides){N * m->cfg.C, N * m->cfg.F, N, (size_t)m->B * m->cfg.NH * m->T * m->T};
}

/* Fills the dropout masks of a (Bu, T) forward pass from m->dropout_seed: each element kept
 * with probability 1 - p (scaled by 1 / (1 - p)) or zeroed, as torch's dropout. */
static void draw_masks(bert_model *m, int Bu, int T) {
    const size_t nc = (size_t)Bu * T * m->cfg.C, NC = (size_t)m->B * m->T * m->cfg.C;
    const float p = m->dropout, keep = 1.0f / (1.0f - p);
    slm_rng rng;
    slm_rng_seed(&rng, m->dropout_seed);
    bert_acts *a = &m->acts;
    float *arrays[2] = {a->emb_drop, a->pool_drop};
    const size_t sizes[2] = {nc, (size_t)Bu * m->cfg.C};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sizes[k]; i++) arrays[k][i] = slm_rng_f32(&rng) < p ? 0.0f : keep;
    for (int l = 0; l < m->cfg.L; l++)
        for (size_t i = 0; i < nc; i++) {
            a->attn_drop[l * NC + i] = slm_rng_f32(&rng) < p ? 0.0f : keep;
            a->ffn_drop[l * NC + i] = slm_rng_f32(&rng) < p ? 0.0f : keep;
        }
}

/* out (N, OC) = inp · W^T + b */
static void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IC, int OC) {
    matmul_forward(out, inp, w, N, IC, OC);
    bias_forward(out, b, N, OC);
}

static void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            int N, int IC, int OC) {
    matmul_backward(dinp, dw, dout, inp, w, N, IC, OC);
    bias_backward(db, dout, N, OC);
}

float bert_forward(bert_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                   int Bu, int T) {
    const bert_config *c = &m->cfg;
    const int N = Bu * T, C = c->C, F = c->F;
    assert(Bu <= m->B && T <= m->T);
    const strides s = layer_strides(m);
    const bert_params *p = &m->params;
    bert_acts *a = &m->acts;
    const int drop = m->dropout > 0.0f;
    if (drop) draw_masks(m, Bu, T);
    bert_embedding_forward(a->emb, tokens, NULL, p->tok_embd, p->pos_embd, p->type_embd, Bu, T, C);
    layernorm_forward(a->x, a->emb_mean, a->emb_rstd, a->emb, p->emb_norm_w, p->emb_norm_b, N, C, c->eps);
    if (drop) dropout_forward(a->x, a->x, a->emb_drop, (int64_t)N * C);
    for (int l = 0; l < c->L; l++) {
        const size_t lc = (size_t)l * C, lcc = lc * C, lf = (size_t)l * F, lfc = lf * C;
        float *x = a->x + l * s.NC, *q = a->q + l * s.NC, *k = a->k + l * s.NC, *v = a->v + l * s.NC;
        float *att = a->att + l * s.NA, *atty = a->atty + l * s.NC, *res1 = a->res1 + l * s.NC;
        float *h = a->h + l * s.NC, *up = a->up + l * s.NF, *act = a->act + l * s.NF, *res2 = a->res2 + l * s.NC;
        linear_forward(q, x, p->wq + lcc, p->bq + lc, N, C, C);
        linear_forward(k, x, p->wk + lcc, p->bk + lc, N, C, C);
        linear_forward(v, x, p->wv + lcc, p->bv + lc, N, C, C);
        bidir_attention_forward(atty, att, q, k, v, lens, Bu, T, c->NH, c->hd);
        linear_forward(res1, atty, p->wo + lcc, p->bo + lc, N, C, C);
        if (drop) dropout_forward(res1, res1, a->attn_drop + l * s.NC, (int64_t)N * C);
        residual_forward(res1, res1, x, (int64_t)N * C);
        layernorm_forward(h, a->ln1_mean + l * s.NR, a->ln1_rstd + l * s.NR, res1, p->ln1_w + lc, p->ln1_b + lc, N,
                          C, c->eps);
        linear_forward(up, h, p->w_up + lfc, p->b_up + lf, N, C, F);
        gelu_forward(act, up, (int64_t)N * F);
        linear_forward(res2, act, p->w_down + lfc, p->b_down + lc, N, F, C);
        if (drop) dropout_forward(res2, res2, a->ffn_drop + l * s.NC, (int64_t)N * C);
        residual_forward(res2, res2, h, (int64_t)N * C);
        layernorm_forward(a->x + (l + 1) * s.NC, a->ln2_mean + l * s.NR, a->ln2_rstd + l * s.NR, res2,
                          p->ln2_w + lc, p->ln2_b + lc, N, C, c->eps);
    }
    const float *top = a->x + c->L * s.NC;
    if (c->per_token) { /* token classification: the head on every position */
        linear_forward(a->probs, top, p->cls_w, p->cls_b, N, C, c->K);
        if (!labels) return 0.0f;
        return weighted_crossentropy_forward(a->probs, a->probs, labels, w, N, c->K);
    }
    if (c->pooling == BERT_POOL_CLS) cls_pool_forward(a->pooled, top, Bu, T, C);
    else mean_pool_forward(a->pooled, top, lens, Bu, T, C);
    if (drop) dropout_forward(a->pooled, a->pooled, a->pool_drop, (int64_t)Bu * C);
    linear_forward(a->probs, a->pooled, p->cls_w, p->cls_b, Bu, C, c->K);
    if (!labels) return 0.0f;
    return weighted_crossentropy_forward(a->probs, a->probs, labels, w, Bu, c->K);
}

void bert_backward(bert_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                   int Bu, int T, float dloss) {
    const bert_config *c = &m->cfg;
    const int N = Bu * T, C = c->C, F = c->F;
    const strides s = layer_strides(m);
    const bert_params *p = &m->params, *g = &m->grads;
    const bert_acts *a = &m->acts;
    const bert_grad_acts *d = &m->gacts;
    const size_t nc = (size_t)N * C * sizeof(float), nf = (size_t)N * F * sizeof(float);

    /* loss -> logits -> head -> pooling; dx is the gradient of the current layer's output */
    const int drop = m->dropout > 0.0f;
    memset(d->dx, 0, nc);
    if (c->per_token) { /* the head on every position reads the top layer directly */
        weighted_crossentropy_backward(a->probs, a->probs, labels, w, dloss, N, c->K);
        linear_backward(d->dx, g->cls_w, g->cls_b, a->probs, a->x + c->L * s.NC, p->cls_w, N, C, c->K);
    } else {
        weighted_crossentropy_backward(a->probs, a->probs, labels, w, dloss, Bu, c->K);
        memset(d->dpooled, 0, (size_t)Bu * C * sizeof(float));
        linear_backward(d->dpooled, g->cls_w, g->cls_b, a->probs, a->pooled, p->cls_w, Bu, C, c->K);
        if (drop) dropout_backward(d->dpooled, d->dpooled, a->pool_drop, (int64_t)Bu * C);
        if (c->pooling == BERT_POOL_CLS) cls_pool_backward(d->dx, d->dpooled, Bu, T, C);
        else mean_pool_backward(d->dx, d->dpooled, lens, Bu, T, C);
    }

    for (int l = c->L - 1; l >= 0; l--) {
        const size_t lc = (size_t)l * C, lcc = lc * C, lf = (size_t)l * F, lfc = lf * C;
        const float *x = a->x + l * s.NC, *q = a->q + l * s.NC, *k = a->k + l * s.NC, *v = a->v + l * s.NC;
        const float *att = a->att + l * s.NA, *atty = a->atty + l * s.NC, *res1 = a->res1 + l * s.NC;
        const float *h = a->h + l * s.NC, *up = a->up + l * s.NF, *act = a->act + l * s.NF, *res2 = a->res2 + l * s.NC;
        /* x_out = LN2(res2), res2 = h + Wdown gelu(Wup h + bup) + bdown */
        memset(d->dres, 0, nc);
        layernorm_backward(d->dres, g->ln2_w + lc, g->ln2_b + lc, d->dx, res2, p->ln2_w + lc,
                           a->ln2_mean + l * s.NR, a->ln2_rstd + l * s.NR, N, C);
        memcpy(d->dh, d->dres, nc);
        memset(d->dact, 0, nf);
        memset(d->dup, 0, nf);
        const float *dffn = d->dres;
        if (drop) dropout_backward(d->dtmp, d->dres, a->ffn_drop + l * s.NC, (int64_t)N * C), dffn = d->dtmp;
        linear_backward(d->dact, g->w_down + lfc, g->b_down + lc, dffn, act, p->w_down + lfc, N, F, C);
        gelu_backward(d->dup, d->dact, up, (int64_t)N * F);
        linear_backward(d->dh, g->w_up + lfc, g->b_up + lf, d->dup, h, p->w_up + lfc, N, C, F);
        /* h = LN1(res1), res1 = x + Wo attn + bo */
        memset(d->dres, 0, nc);
        layernorm_backward(d->dres, g->ln1_w + lc, g->ln1_b + lc, d->dh, res1, p->ln1_w + lc,
                           a->ln1_mean + l * s.NR, a->ln1_rstd + l * s.NR, N, C);
        memset(d->datty, 0, nc);
        const float *dattn = d->dres;
        if (drop) dropout_backward(d->dtmp, d->dres, a->attn_drop + l * s.NC, (int64_t)N * C), dattn = d->dtmp;
        linear_backward(d->datty, g->wo + lcc, g->bo + lc, dattn, atty, p->wo + lcc, N, C, C);
        memset(d->dq, 0, nc);
        memset(d->dk, 0, nc);
        memset(d->dv, 0, nc);
        bidir_attention_backward(d->dq, d->dk, d->dv, d->scratch, d->datty, q, k, v, att, lens, Bu, T, c->NH, c->hd);
        memcpy(d->dx, d->dres, nc);
        linear_backward(d->dx, g->wq + lcc, g->bq + lc, d->dq, x, p->wq + lcc, N, C, C);
        linear_backward(d->dx, g->wk + lcc, g->bk + lc, d->dk, x, p->wk + lcc, N, C, C);
        linear_backward(d->dx, g->wv + lcc, g->bv + lc, d->dv, x, p->wv + lcc, N, C, C);
    }
    if (drop) dropout_backward(d->dx, d->dx, a->emb_drop, (int64_t)N * C);
    memset(d->dres, 0, nc);
    layernorm_backward(d->dres, g->emb_norm_w, g->emb_norm_b, d->dx, a->emb, p->emb_norm_w, a->emb_mean, a->emb_rstd,
                       N, C);
    bert_embedding_backward(m->freeze_tok_embd ? NULL : g->tok_embd, g->pos_embd, g->type_embd, d->dres, tokens, NULL, Bu, T, C);
}

/* ---------------------------------------------------------------- optimiser step */

float bert_train_step(bert_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                      int Bu, int T, float lr, float wd, float clip, int t, float *grad_norm) {
    /* tok_embd comes first in the buffers: a frozen one is skipped by starting after it */
    const size_t first = m->freeze_tok_embd ? m->sizes[BP_TOK_EMBD] : 0;
    memset(m->grads_mem + first, 0, (m->n_params - first) * sizeof(float));
    const float loss = bert_forward(m, tokens, lens, labels, w, Bu, T);
    bert_backward(m, tokens, lens, labels, w, Bu, T, 1.0f);
    const float norm = train_grad_norm(m->grads_mem + first, m->n_params - first);
    float scale = 1.0f;
    if (clip > 0.0f && norm > 0.0f) { /* as torch.nn.utils.clip_grad_norm_ */
        scale = clip / (norm + 1e-6f);
        if (scale > 1.0f) scale = 1.0f;
    }
    float **p = bert_param_array(&m->params);
    size_t off = 0;
    for (int i = 0; i < BP_COUNT; i++) {
        const size_t n = m->sizes[i];
        if (n && !(i == BP_TOK_EMBD && m->freeze_tok_embd)) train_adamw(p[i], m->grads_mem + off, m->m_mem + off, m->v_mem + off, n, lr, 0.9f, 0.999f, 1e-8f,
                           bert_param_decays(i) ? wd : 0.0f, scale, t);
        off += n;
    }
    if (grad_norm) *grad_norm = norm;
    return loss;
}
