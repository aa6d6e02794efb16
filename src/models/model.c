/* model.c — opens a model file (GGUF or llama2.c), picks the architecture, loads the
 * tokenizer, and allocates per-sequence forward state. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/detect.h"
#include "kernels/kernels.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

/* The tokenizer beside a llama2.c checkpoint: tok<vocab>.bin, then tokenizer.bin. Caller frees. */
static char *find_llama2c_tokenizer(const char *bin_path, int vocab) {
    const char *slash = strrchr(bin_path, '/');
    size_t dir_len = slash ? (size_t)(slash - bin_path + 1) : 0;
    char name[64];
    const char *candidates[2] = {name, "tokenizer.bin"};
    snprintf(name, sizeof name, "tok%d.bin", vocab);
    for (int i = 0; i < 2; i++) {
        size_t n = dir_len + strlen(candidates[i]) + 1;
        char *path = malloc(n);
        if (!path) return NULL;
        snprintf(path, n, "%.*s%s", (int)dir_len, bin_path, candidates[i]);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            return path;
        }
        free(path);
    }
    return NULL;
}

static slm_status load_llama2c(slm_model *m, const char *path, const slm_model_params *p) {
    slm_status st = llama2c_open(path, &m->ckpt);
    if (st != SLM_OK) return st;
    m->file_format = "llama2.c";
    m->architecture = slm_strndup("llama", 5);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    m->name = slm_strndup(base, strlen(base));
    if (!m->architecture || !m->name) return SLM_ERR_NOMEM;
    if ((st = llama_bind_llama2c(m)) != SLM_OK) return st;
    char *tok_path = p && p->tokenizer_path ? slm_strndup(p->tokenizer_path, strlen(p->tokenizer_path))
                                            : find_llama2c_tokenizer(path, m->hp.n_vocab);
    if (!tok_path)
        return slm_error(SLM_ERR_IO, "%s: no tokenizer given and neither tok%d.bin nor tokenizer.bin is beside it (use --tokenizer)",
                         path, m->hp.n_vocab);
    st = tokenizer_from_file(tok_path, m->hp.n_vocab, &m->tokenizer);
    free(tok_path);
    return st;
}

static slm_status load_gguf(slm_model *m, const char *path) {
    slm_status st = gguf_open(path, &m->gguf);
    if (st != SLM_OK) return st;
    m->is_gguf = 1;
    m->file_format = "gguf";
    m->architecture = gguf_get_string(&m->gguf, "general.architecture");
    if (!m->architecture) return slm_error(SLM_ERR_FORMAT, "%s: missing metadata key general.architecture", path);
    m->name = gguf_get_string(&m->gguf, "general.name");
    if (!m->name) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (!(m->name = slm_strndup(base, strlen(base)))) return SLM_ERR_NOMEM;
    }
    static const struct {
        const char *name;
        slm_status (*bind)(slm_model *, const char *);
    } archs[] = {{"llama", llama_bind_gguf}, {"qwen2", qwen2_bind_gguf}, {"gemma3", gemma3_bind_gguf}};
    st = SLM_ERR_UNSUPPORTED;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(m->architecture, archs[i].name) == 0) st = archs[i].bind(m, m->architecture);
    if (st == SLM_ERR_UNSUPPORTED && strcmp(m->architecture, "bert") == 0)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: a BERT encoder does not generate text (use slm embed)", path);
    if (st == SLM_ERR_UNSUPPORTED && !strstr(slm_last_error(), m->architecture))
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: llama, qwen2, gemma3)", path,
                         m->architecture);
    if (st != SLM_OK) return st;
    if ((st = tokenizer_from_gguf(&m->gguf, &m->tokenizer)) != SLM_OK) return st;
    if (m->tokenizer->n_vocab != m->hp.n_vocab)
        return slm_error(SLM_ERR_FORMAT, "%s: the tokenizer has %d tokens but token_embd.weight has %d rows", path,
                         m->tokenizer->n_vocab, m->hp.n_vocab);
    return SLM_OK;
}

slm_status slm_model_load(const char *path, const slm_model_params *params, slm_model **out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_model_load: NULL argument");
    *out = NULL;
    file_kind kind;
    size_t size;
    slm_status st = formats_detect(path, &kind, &size);
    if (st != SLM_OK) return st;
    if (kind == FILE_KIND_UNKNOWN)
        return slm_error(SLM_ERR_FORMAT, "%s: not a model file (neither GGUF nor a llama2.c checkpoint; %zu bytes)", path, size);
    slm_model *m = slm_calloc(1, sizeof *m, "model");
    if (!m) return SLM_ERR_NOMEM;
    st = kind == FILE_KIND_GGUF ? load_gguf(m, path) : load_llama2c(m, path, params);
    if (st != SLM_OK) {
        slm_model_free(m);
        return st;
    }
    *out = m;
    return SLM_OK;
}

void slm_model_free(slm_model *m) {
    if (!m) return;
    slm_tokenizer_free(m->tokenizer);
    free(m->layers);
    free(m->architecture);
    free(m->name);
    gguf_close(&m->gguf);
    llama2c_close(&m->ckpt);
    free(m);
}

const slm_tokenizer *slm_model_tokenizer(const slm_model *m) { return m ? m->tokenizer : NULL; }

static int64_t tensor_elems(const slm_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }
static size_t tensor_bytes(const slm_tensor *t) { return t->row_bytes * (size_t)slm_tensor_rows(t); }

slm_status slm_model_get_info(const slm_model *m, slm_model_info *info) {
    if (!m || !info) return slm_error(SLM_ERR_INVALID_ARG, "slm_model_get_info: NULL argument");
    const model_hparams *hp = &m->hp;
    memset(info, 0, sizeof *info);
    info->architecture = m->architecture;
    info->name = m->name;
    info->file_format = m->file_format;
    info->n_vocab = hp->n_vocab;
    info->n_embd = hp->n_embd;
    info->n_ff = hp->n_ff;
    info->n_layer = hp->n_layer;
    info->n_head = hp->n_head;
    info->n_head_kv = hp->n_head_kv;
    info->head_dim = hp->head_dim;
    info->n_ctx_train = hp->n_ctx_train;
    info->rope_freq_base = hp->rope_freq_base[0];
    info->norm_eps = hp->norm_eps;
    const slm_tensor *globals[3] = {&m->tok_embd, &m->output_norm, &m->output};
    int n_globals = m->output.data == m->tok_embd.data ? 2 : 3;
    for (int i = 0; i < n_globals; i++) {
        info->n_params += tensor_elems(globals[i]);
        info->weight_bytes += tensor_bytes(globals[i]);
    }
    for (int l = 0; l < hp->n_layer; l++) {
        const model_layer *L = &m->layers[l];
        const slm_tensor *ts[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->bq, &L->bk, &L->bv, &L->q_norm, &L->k_norm,
                                  &L->wo, &L->post_attn_norm, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down, &L->post_ffn_norm};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            if (!ts[i]->data) continue;
            info->n_params += tensor_elems(ts[i]);
            info->weight_bytes += tensor_bytes(ts[i]);
        }
    }
    return SLM_OK;
}

slm_status model_state_new(const slm_model *m, int n_ctx, model_state **out) {
    const model_hparams *hp = &m->hp;
    *out = NULL;
    if (n_ctx <= 0 || n_ctx > (1 << 24)) return slm_error(SLM_ERR_RANGE, "context length %d is out of range", n_ctx);
    size_t E = (size_t)hp->n_embd, Q = (size_t)hp->n_head * hp->head_dim, KV = (size_t)hp->n_head_kv * hp->head_dim,
           F = (size_t)hp->n_ff, half = (size_t)hp->head_dim / 2, C = (size_t)n_ctx, B = MODEL_MAX_BATCH,
           W = E > Q ? E : Q;
    /* Sizes of each buffer, each rounded up to 16 floats so all stay 64-byte aligned. */
    enum { N_BUFFERS = 17 };
    size_t sizes[N_BUFFERS] = {B * W, B * W, B * W, B * Q, B * KV, B * KV, B * F, B * F, B * half, B * half, B * half, B * half,
                               half, half, (size_t)hp->n_head * C, (size_t)hp->n_vocab, (size_t)hp->n_layer * C * KV * 2};
    size_t total = 0;
    for (int i = 0; i < N_BUFFERS; i++) {
        size_t r = (sizes[i] + 15) / 16 * 16;
        if (r > (SIZE_MAX / sizeof(float) - total)) return slm_error(SLM_ERR_NOMEM, "forward state size overflows");
        total += r;
    }
    model_state *s = slm_calloc(1, sizeof *s, "forward state");
    if (!s) return SLM_ERR_NOMEM;
    model_workspace *w = &s->work;
    size_t widest = E > F ? E : F;
    if (Q > widest) widest = Q;
    float *p = slm_aligned_alloc(total * sizeof(float), "KV cache and activations");
    w->scratch = slm_aligned_alloc(matmul_scratch_bytes(MODEL_MAX_BATCH, (int64_t)widest), "quantised activations");
    if (!p || !w->scratch) {
        slm_aligned_free(p);
        slm_aligned_free(w->scratch);
        free(s);
        return slm_error(SLM_ERR_NOMEM, "out of memory for a %d-token context (%zu MiB)", n_ctx, total * sizeof(float) >> 20);
    }
    s->block = p;
    s->n_ctx = n_ctx;
    float **slots[N_BUFFERS] = {&w->x, &w->xb, &w->xb2, &w->q, &w->k, &w->v, &w->hb, &w->hb2,
                                &w->rope_cos[0], &w->rope_sin[0], &w->rope_cos[1], &w->rope_sin[1],
                                &w->rope_freq[0], &w->rope_freq[1], &s->att, &s->logits, &s->key_cache};
    for (int i = 0; i < N_BUFFERS; i++) {
        *slots[i] = p;
        p += (sizes[i] + 15) / 16 * 16;
    }
    s->value_cache = s->key_cache + (size_t)hp->n_layer * C * KV;
    for (int set = 0; set < 2; set++)
        for (size_t i = 0; i < half; i++)
            w->rope_freq[set][i] = 1.0f / powf(hp->rope_freq_base[set], (float)(2 * i) / (float)hp->head_dim);
    *out = s;
    return SLM_OK;
}

void model_state_free(model_state *s) {
    if (!s) return;
    slm_aligned_free(s->work.scratch);
    slm_aligned_free(s->block);
    free(s);
}
