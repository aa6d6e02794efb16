/* bind.c — reads an architecture's hyper-parameters from GGUF metadata and binds its tensors
 * to views of the mapped file, checking every shape and type. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kernels/kernels.h"
#include "models/model.h"

slm_status bind_tensor(slm_model *m, const char *name, int64_t ne0, int64_t ne1, int required, slm_tensor *t) {
    const gguf_tensor *g = gguf_find_tensor(&m->gguf, name);
    const char *path = m->gguf.file.path;
    memset(t, 0, sizeof *t);
    if (!g) return required ? slm_error(SLM_ERR_FORMAT, "%s: missing tensor '%s'", path, name) : SLM_OK;
    int want_dims = ne1 ? 2 : 1;
    if ((int)g->n_dims != want_dims || g->ne[0] != ne0 || (ne1 && g->ne[1] != ne1))
        return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' has shape [%" PRId64 ", %" PRId64 "] (%u dims), expected [%" PRId64 ", %" PRId64 "]",
                         path, name, g->ne[0], g->n_dims > 1 ? g->ne[1] : 1, g->n_dims, ne0, ne1 ? ne1 : 1);
    if (!kernels_type_supported(g->type))
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which has no kernel", path, name,
                         slm_type_info(g->type)->name);
    if (!ne1 && g->type != SLM_TYPE_F32)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: vector '%s' must be f32, not %s", path, name, slm_type_info(g->type)->name);
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

static slm_status get_float(slm_model *m, const char *arch, const char *key, float fallback, float *out) {
    char full[128];
    double v;
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (!gguf_find(&m->gguf, full)) {
        *out = fallback;
        return SLM_OK;
    }
    if (!gguf_get_float(&m->gguf, full, &v) || !(v > 0.0) || !isfinite(v))
        return slm_error(SLM_ERR_FORMAT, "%s: metadata %s must be a positive number", m->gguf.file.path, full);
    *out = (float)v;
    return SLM_OK;
}

slm_status bind_hparams(slm_model *m, const char *arch) {
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
    if (hp->n_head % hp->n_head_kv != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d", path, hp->n_head, hp->n_head_kv);
    int default_head = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : 0;
    if ((st = get_int(m, arch, "attention.key_length", default_head == 0, default_head, 2, 1 << 16, &hp->head_dim)))
        return st;
    int value_dim = 0, rope_dim = 0;
    if ((st = get_int(m, arch, "attention.value_length", 0, hp->head_dim, 2, 1 << 16, &value_dim)) ||
        (st = get_int(m, arch, "rope.dimension_count", 0, hp->head_dim, 1, 1 << 16, &rope_dim)))
        return st;
    if (value_dim != hp->head_dim)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: value_length %d differs from key_length %d", path, value_dim, hp->head_dim);
    if (rope_dim != hp->head_dim)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: partial RoPE (rope.dimension_count %d < head size %d) is not supported", path, rope_dim, hp->head_dim);
    if (hp->head_dim % 2 != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: head size %d must be even", path, hp->head_dim);
    if ((st = get_float(m, arch, "rope.freq_base", 10000.0f, &hp->rope_freq_base[0])) ||
        (st = get_float(m, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps)))
        return st;
    hp->rope_freq_base[1] = hp->rope_freq_base[0];
    hp->rope = ROPE_ADJACENT;
    hp->ffn = FFN_SILU;
    hp->embed_scale = 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    const gguf_tensor *emb = gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!emb || emb->n_dims != 2) return slm_error(SLM_ERR_FORMAT, "%s: missing or malformed tensor 'token_embd.weight'", path);
    if (emb->ne[1] < 1 || emb->ne[1] > (1 << 24))
        return slm_error(SLM_ERR_FORMAT, "%s: token_embd.weight has %" PRId64 " rows", path, emb->ne[1]);
    hp->n_vocab = (int)emb->ne[1];
    return SLM_OK;
}

slm_status bind_standard_tensors(slm_model *m, int biases, int qk_norms, int post_norms) {
    const model_hparams *hp = &m->hp;
    int64_t E = hp->n_embd, F = hp->n_ff, Q = (int64_t)hp->n_head * hp->head_dim, KV = (int64_t)hp->n_head_kv * hp->head_dim;
    slm_status st;
    if ((st = bind_tensor(m, "token_embd.weight", E, hp->n_vocab, 1, &m->tok_embd)) ||
        (st = bind_tensor(m, "output_norm.weight", E, 0, 1, &m->output_norm)) ||
        (st = bind_tensor(m, "output.weight", E, hp->n_vocab, 0, &m->output)))
        return st;
    if (!m->output.data) m->output = m->tok_embd;
    m->layers = calloc((size_t)hp->n_layer, sizeof(model_layer));
    if (!m->layers) return slm_error(SLM_ERR_NOMEM, "out of memory for layers");
    for (int l = 0; l < hp->n_layer; l++) {
        model_layer *L = &m->layers[l];
        struct {
            const char *suffix;
            int64_t ne0, ne1;
            int required;
            slm_tensor *t;
        } want[] = {
            {"attn_norm.weight", E, 0, 1, &L->attn_norm}, {"attn_q.weight", E, Q, 1, &L->wq},
            {"attn_k.weight", E, KV, 1, &L->wk},           {"attn_v.weight", E, KV, 1, &L->wv},
            {"attn_output.weight", Q, E, 1, &L->wo},       {"ffn_norm.weight", E, 0, 1, &L->ffn_norm},
            {"ffn_gate.weight", E, F, 1, &L->w_gate},      {"ffn_up.weight", E, F, 1, &L->w_up},
            {"ffn_down.weight", F, E, 1, &L->w_down},
            {"attn_q.bias", Q, 0, biases, &L->bq},         {"attn_k.bias", KV, 0, biases, &L->bk},
            {"attn_v.bias", KV, 0, biases, &L->bv},
            {"attn_q_norm.weight", hp->head_dim, 0, qk_norms, &L->q_norm},
            {"attn_k_norm.weight", hp->head_dim, 0, qk_norms, &L->k_norm},
            {"post_attention_norm.weight", E, 0, post_norms, &L->post_attn_norm},
            {"post_ffw_norm.weight", E, 0, post_norms, &L->post_ffn_norm},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s", l, want[i].suffix);
            if ((st = bind_tensor(m, name, want[i].ne0, want[i].ne1, want[i].required, want[i].t))) return st;
        }
    }
    return SLM_OK;
}
