/* trainer.c — the public slm_trainer: a Llama created from a config or loaded from a model
 * file, optimiser steps (gradient accumulation, clipping, AdamW on a schedule), evaluation,
 * and saving as a GGUF file that inference loads unchanged. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "kernels/kernels.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/train.h"

slm_train_params slm_train_defaults(void) {
    return (slm_train_params){.batch = 4, .seq_len = 64, .grad_accum = 1, .lr = 1e-3f, .min_lr = 1e-4f,
                              .warmup_steps = 0, .total_steps = 0, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                              .weight_decay = 0.1f, .decay_embeddings = 0, .grad_clip = 1.0f};
}

static slm_status check_params(const slm_train_params *p) {
    if (p->batch < 1 || p->seq_len < 1 || p->grad_accum < 1)
        return slm_error(SLM_ERR_INVALID_ARG, "train: batch %d, seq_len %d and grad_accum %d must be positive",
                         p->batch, p->seq_len, p->grad_accum);
    if (!(p->lr > 0.0f) || !isfinite(p->lr) || !(p->min_lr >= 0.0f) || !isfinite(p->min_lr))
        return slm_error(SLM_ERR_INVALID_ARG, "train: learning rates %g and %g must be finite, lr > 0, min_lr >= 0",
                         p->lr, p->min_lr);
    if (!(p->beta1 >= 0.0f && p->beta1 < 1.0f) || !(p->beta2 >= 0.0f && p->beta2 < 1.0f) || !(p->eps > 0.0f))
        return slm_error(SLM_ERR_INVALID_ARG, "train: AdamW needs betas in [0, 1) and eps > 0 (got %g, %g, %g)",
                         p->beta1, p->beta2, p->eps);
    if (!(p->weight_decay >= 0.0f) || !isfinite(p->weight_decay) || isnan(p->grad_clip) || p->warmup_steps < 0)
        return slm_error(SLM_ERR_INVALID_ARG, "train: weight decay, clipping and warmup must be non-negative numbers");
    return SLM_OK;
}

/* Allocates the trainer for cfg with params p (checked). Parameters are zero. */
static slm_status trainer_alloc(const train_config *cfg, const slm_train_params *params, const char *name,
                                slm_trainer **out) {
    *out = NULL;
    slm_train_params p = params ? *params : slm_train_defaults();
    slm_status st = check_params(&p);
    if (st != SLM_OK) return st;
    slm_trainer *t = slm_calloc(1, sizeof *t, "trainer");
    if (!t) return SLM_ERR_NOMEM;
    t->p = p;
    if (!(t->name = slm_strndup(name, strlen(name)))) {
        free(t);
        return SLM_ERR_NOMEM;
    }
    train_config c = *cfg;
    if (c.n_ctx < p.seq_len) c.n_ctx = p.seq_len;
    if ((st = train_model_alloc(&t->model, &c, p.batch, p.seq_len)) != SLM_OK) {
        slm_trainer_free(t);
        return st;
    }
    *out = t;
    return SLM_OK;
}

slm_status slm_trainer_new(const slm_model_config *config, const slm_train_params *params, slm_trainer **out) {
    if (!config || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_trainer_new: NULL argument");
    *out = NULL;
    const slm_model_config *k = config;
    if (k->n_head < 1 || k->n_embd % k->n_head != 0)
        return slm_error(SLM_ERR_INVALID_ARG, "train: n_embd %d is not a multiple of n_head %d", k->n_embd, k->n_head);
    train_config c = {.V = k->n_vocab, .C = k->n_embd, .F = k->n_ff, .L = k->n_layer, .NH = k->n_head,
                      .KVH = k->n_head_kv > 0 ? k->n_head_kv : k->n_head, .hd = k->n_embd / k->n_head,
                      .n_ctx = k->n_ctx, .norm_eps = k->norm_eps > 0 ? k->norm_eps : 1e-5f,
                      .rope_base = k->rope_freq_base > 0 ? k->rope_freq_base : 10000.0f, .tied = k->tied_output != 0};
    slm_status st = trainer_alloc(&c, params, "slm-llama", out);
    if (st == SLM_OK) train_model_init(&(*out)->model, k->seed);
    return st;
}

/* Copies a bound weight (any type) into rows x cols floats. */
static void copy_weight(const slm_tensor *w, float *dst, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) tensor_row_to_f32(w, r, dst + r * cols);
}

slm_status slm_trainer_load(const char *path, const slm_train_params *params, slm_trainer **out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_trainer_load: NULL argument");
    *out = NULL;
    slm_model *m;
    slm_status st = slm_model_load(path, NULL, &m);
    if (st != SLM_OK) return st;
    const model_hparams *hp = &m->hp;
    int plain = strcmp(m->architecture, "llama") == 0 && hp->rope == ROPE_ADJACENT && hp->ffn == FFN_SILU &&
                hp->embed_scale == 1.0f;
    for (int l = 0; l < hp->n_layer && plain; l++) {
        const model_layer *L = &m->layers[l];
        plain = !L->bq.data && !L->bk.data && !L->bv.data && !L->q_norm.data && !L->k_norm.data &&
                !L->post_attn_norm.data && !L->post_ffn_norm.data && L->window == 0;
    }
    if (!plain) {
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: only plain Llama models can be trained (this is '%s' with extras)", path,
                       m->architecture);
        slm_model_free(m);
        return st;
    }
    train_config c = {.V = hp->n_vocab, .C = hp->n_embd, .F = hp->n_ff, .L = hp->n_layer, .NH = hp->n_head,
                      .KVH = hp->n_head_kv, .hd = hp->head_dim, .n_ctx = hp->n_ctx_train, .norm_eps = hp->norm_eps,
                      .rope_base = hp->rope_freq_base[0], .tied = m->output.data == m->tok_embd.data};
    slm_trainer *t;
    if ((st = trainer_alloc(&c, params, m->name, &t)) != SLM_OK) {
        slm_model_free(m);
        return st;
    }
    const int64_t C = c.C, F = c.F, Q = (int64_t)c.NH * c.hd, KV = (int64_t)c.KVH * c.hd;
    const train_params *w = &t->model.params;
    copy_weight(&m->tok_embd, w->tok_embd, c.V, C);
    copy_weight(&m->output_norm, w->output_norm, 1, C);
    if (!c.tied) copy_weight(&m->output, w->output, c.V, C);
    for (int l = 0; l < c.L; l++) {
        const model_layer *L = &m->layers[l];
        copy_weight(&L->attn_norm, w->attn_norm + l * C, 1, C);
        copy_weight(&L->wq, w->wq + l * Q * C, Q, C);
        copy_weight(&L->wk, w->wk + l * KV * C, KV, C);
        copy_weight(&L->wv, w->wv + l * KV * C, KV, C);
        copy_weight(&L->wo, w->wo + l * C * Q, C, Q);
        copy_weight(&L->ffn_norm, w->ffn_norm + l * C, 1, C);
        copy_weight(&L->w_gate, w->w_gate + l * F * C, F, C);
        copy_weight(&L->w_up, w->w_up + l * F * C, F, C);
        copy_weight(&L->w_down, w->w_down + l * C * F, C, F);
    }
    t->tok = m->tokenizer; /* kept for saving */
    m->tokenizer = NULL;
    slm_model_free(m);
    *out = t;
    return SLM_OK;
}

void slm_trainer_free(slm_trainer *t) {
    if (!t) return;
    train_model_free(&t->model);
    slm_tokenizer_free(t->tok);
    free(t->name);
    free(t);
}

int64_t slm_trainer_n_params(const slm_trainer *t) { return t ? (int64_t)t->model.n_params : 0; }

/* ---------------------------------------------------------------- tensors as saved */

int trainer_n_tensors(const slm_trainer *t) { return 2 + 9 * t->model.cfg.L + (t->model.cfg.tied ? 0 : 1); }

void trainer_get_tensor(const slm_trainer *t, int i, trainer_tensor *out) {
    const train_config *c = &t->model.cfg;
    train_params *p = (train_params *)&t->model.params, *g = (train_params *)&t->model.grads;
    const int64_t C = c->C, F = c->F, Q = (int64_t)c->NH * c->hd, KV = (int64_t)c->KVH * c->hd;
    memset(out, 0, sizeof *out);
    if (i == 0) {
        *out = (trainer_tensor){.param = p->tok_embd, .grad = g->tok_embd, .rows = c->V, .cols = C};
        snprintf(out->name, sizeof out->name, "token_embd.weight");
        return;
    }
    if (i == 1 + 9 * c->L) {
        *out = (trainer_tensor){.param = p->output_norm, .grad = g->output_norm, .rows = 0, .cols = C};
        snprintf(out->name, sizeof out->name, "output_norm.weight");
        return;
    }
    if (i == 2 + 9 * c->L) {
        *out = (trainer_tensor){.param = p->output, .grad = g->output, .rows = c->V, .cols = C};
        snprintf(out->name, sizeof out->name, "output.weight");
        return;
    }
    const int l = (i - 1) / 9, k = (i - 1) % 9;
    static const struct {
        const char *suffix;
        int tp;
    } layer[9] = {{"attn_norm", TP_ATTN_NORM}, {"attn_q", TP_WQ},       {"attn_k", TP_WK},
                  {"attn_v", TP_WV},           {"attn_output", TP_WO},  {"ffn_norm", TP_FFN_NORM},
                  {"ffn_gate", TP_W_GATE},     {"ffn_up", TP_W_UP},     {"ffn_down", TP_W_DOWN}};
    const int64_t shape[9][2] = {{0, C}, {Q, C}, {KV, C}, {KV, C}, {C, Q}, {0, C}, {F, C}, {F, C}, {C, F}};
    const int64_t per_layer = (shape[k][0] ? shape[k][0] : 1) * shape[k][1];
    out->param = train_param_array(p)[layer[k].tp] + l * per_layer;
    out->grad = train_param_array(g)[layer[k].tp] + l * per_layer;
    out->rows = shape[k][0];
    out->cols = shape[k][1];
    snprintf(out->name, sizeof out->name, "blk.%d.%s.weight", l, layer[k].suffix);
}

/* ---------------------------------------------------------------- steps */

static slm_status check_ids(const slm_trainer *t, const int32_t *ids, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->model.cfg.V)
            return slm_error(SLM_ERR_RANGE, "train: %s[%zu] = %d is outside the vocabulary (%d)", what, i, ids[i],
                             t->model.cfg.V);
    return SLM_OK;
}

slm_status trainer_compute_grads(slm_trainer *t, const int32_t *tokens, const int32_t *targets, float *loss) {
    train_model *m = &t->model;
    const size_t per_micro = (size_t)m->B * m->T, n = per_micro * (size_t)t->p.grad_accum;
    slm_status st;
    if ((st = check_ids(t, tokens, n, "tokens")) || (st = check_ids(t, targets, n, "targets"))) return st;
    memset(m->grads_mem, 0, m->n_params * sizeof(float));
    const float dloss = 1.0f / (float)n;
    double total = 0.0;
    for (int k = 0; k < t->p.grad_accum; k++) {
        const int32_t *tok = tokens + k * per_micro, *tgt = targets + k * per_micro;
        total += train_model_forward(m, tok, tgt, m->B);
        train_model_backward(m, tok, tgt, m->B, dloss);
    }
    *loss = (float)(total / t->p.grad_accum);
    return SLM_OK;
}

/* Whether tensor TP_* i takes weight decay: matrices do, norms never, the token embedding
 * (and the output tied to it) when decay_embeddings is set. */
static int tensor_decays(const slm_trainer *t, int i) {
    if (i == TP_ATTN_NORM || i == TP_FFN_NORM || i == TP_OUTPUT_NORM) return 0;
    if (i == TP_TOK_EMBD) return t->p.decay_embeddings;
    return 1;
}

slm_status slm_trainer_step(slm_trainer *t, const int32_t *tokens, const int32_t *targets, slm_train_stats *stats) {
    if (!t || !tokens || !targets) return slm_error(SLM_ERR_INVALID_ARG, "slm_trainer_step: NULL argument");
    train_model *m = &t->model;
    float loss;
    slm_status st = trainer_compute_grads(t, tokens, targets, &loss);
    if (st != SLM_OK) return st;
    const int ranks = slm_dist_size();
    if (ranks > 1) {
        /* data parallel: average the gradients (and the loss) of every process's share */
        if ((st = slm_dist_allreduce_sum(m->grads_mem, m->n_params)) != SLM_OK ||
            (st = slm_dist_allreduce_sum(&loss, 1)) != SLM_OK)
            return st;
        const float inv = 1.0f / (float)ranks;
        for (size_t i = 0; i < m->n_params; i++) m->grads_mem[i] *= inv;
        loss *= inv;
    }
    const float norm = train_grad_norm(m->grads_mem, m->n_params);
    if (!isfinite(norm) || !isfinite(loss))
        return slm_error(SLM_ERR_RANGE, "train: step %d: loss %g, gradient norm %g; the model was not updated", t->step + 1,
                         loss, norm);
    /* as torch.nn.utils.clip_grad_norm_ */
    float scale = 1.0f;
    if (t->p.grad_clip > 0.0f) {
        scale = t->p.grad_clip / (norm + 1e-6f);
        if (scale > 1.0f) scale = 1.0f;
    }
    const float lr = train_lr_at(&t->p, t->step);
    float **p = train_param_array(&m->params);
    size_t off = 0;
    for (int i = 0; i < TP_COUNT; i++) {
        const size_t n = m->sizes[i];
        if (n) train_adamw(p[i], m->grads_mem + off, m->m_mem + off, m->v_mem + off, n, lr, t->p.beta1, t->p.beta2,
                           t->p.eps, tensor_decays(t, i) ? t->p.weight_decay : 0.0f, scale, t->step + 1);
        off += n;
    }
    t->step++;
    if (stats) *stats = (slm_train_stats){.loss = loss, .grad_norm = norm, .lr = lr, .step = t->step};
    return SLM_OK;
}

slm_status slm_trainer_eval(slm_trainer *t, const int32_t *tokens, const int32_t *targets, int n_seq, float *loss) {
    if (!t || !tokens || !targets || !loss || n_seq < 1)
        return slm_error(SLM_ERR_INVALID_ARG, "slm_trainer_eval: NULL argument or n_seq < 1");
    train_model *m = &t->model;
    const size_t n = (size_t)n_seq * m->T;
    slm_status st;
    if ((st = check_ids(t, tokens, n, "tokens")) || (st = check_ids(t, targets, n, "targets"))) return st;
    double total = 0.0;
    for (int s = 0; s < n_seq; s += m->B) {
        const int b = n_seq - s < m->B ? n_seq - s : m->B;
        total += (double)train_model_forward(m, tokens + (size_t)s * m->T, targets + (size_t)s * m->T, b) * b;
    }
    *loss = (float)(total / n_seq);
    return SLM_OK;
}

/* ---------------------------------------------------------------- saving */

slm_status trainer_writer(const slm_trainer *t, const slm_tokenizer *tok, gguf_writer **out, void **vocab_keep) {
    const train_config *c = &t->model.cfg;
    *out = NULL;
    *vocab_keep = NULL;
    if (!tok) tok = t->tok;
    if (tok && tok->n_vocab != c->V)
        return slm_error(SLM_ERR_INVALID_ARG, "train: the tokenizer has %d tokens, the model %d", tok->n_vocab, c->V);
    gguf_writer *w = gguf_writer_new();
    if (!w) return SLM_ERR_NOMEM;
    slm_status st;
    if ((st = gguf_writer_set_str(w, "general.architecture", "llama")) ||
        (st = gguf_writer_set_str(w, "general.name", t->name)) ||
        (st = gguf_writer_set_u32(w, "general.file_type", 0)) ||
        (st = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->n_ctx)) ||
        (st = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->C)) ||
        (st = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->F)) ||
        (st = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->L)) ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->NH)) ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->KVH)) ||
        (st = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)c->hd)) ||
        (st = gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_base)) ||
        (st = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps)))
        goto done;
    if (c->hd * c->NH != c->C && ((st = gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)c->hd)) ||
                                  (st = gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)c->hd))))
        goto done;
    if (tok && (st = tokenizer_to_gguf(tok, w, vocab_keep))) goto done;
    for (int i = 0; i < trainer_n_tensors(t) && st == SLM_OK; i++) {
        trainer_tensor tt;
        trainer_get_tensor(t, i, &tt);
        const int64_t ne[2] = {tt.cols, tt.rows};
        const uint64_t n = (uint64_t)tt.cols * (uint64_t)(tt.rows ? tt.rows : 1);
        st = gguf_writer_add_tensor(w, tt.name, SLM_TYPE_F32, tt.rows ? 2 : 1, ne, tt.param, n * sizeof(float));
    }
done:
    if (st != SLM_OK) {
        gguf_writer_free(w);
        free(*vocab_keep);
        *vocab_keep = NULL;
        return st;
    }
    *out = w;
    return SLM_OK;
}

slm_status slm_trainer_save(const slm_trainer *t, const char *path, const slm_tokenizer *tok) {
    if (!t || !path) return slm_error(SLM_ERR_INVALID_ARG, "slm_trainer_save: NULL argument");
    gguf_writer *w;
    void *vocab_keep;
    slm_status st = trainer_writer(t, tok, &w, &vocab_keep);
    if (st != SLM_OK) return st;
    st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    free(vocab_keep);
    return st;
}
