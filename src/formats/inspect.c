/* inspect.c — the public file-inspection API (slm_file_*): metadata and tensor tables of GGUF
 * files and llama2.c checkpoints, without binding a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/detect.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "tensor/types.h"

#define L2C_FIELDS 8
#define L2C_TENSORS 12

struct slm_file {
    int is_gguf;
    gguf_file gguf;
    llama2c_checkpoint ckpt;
    char format[32];
    slm_tensor_desc l2c_tensors[L2C_TENSORS];
    size_t n_l2c_tensors;
};

static void add_l2c_tensor(slm_file *f, const char *name, const float *data, int64_t rows, int64_t cols, int64_t layers) {
    slm_tensor_desc *d = &f->l2c_tensors[f->n_l2c_tensors++];
    memset(d, 0, sizeof *d);
    d->name = name;
    d->type = "f32";
    d->shape[0] = cols;
    d->shape[1] = rows;
    d->shape[2] = layers;
    d->shape[3] = 1;
    d->n_dims = layers > 1 ? 3 : rows > 1 ? 2 : 1;
    d->offset = (uint64_t)((const uint8_t *)data - f->ckpt.file.data);
    d->n_bytes = (uint64_t)(rows * cols * layers) * 4;
}

slm_status slm_file_open(const char *path, slm_file **out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_file_open: NULL argument");
    *out = NULL;
    file_kind kind;
    slm_status st = formats_detect(path, &kind, NULL);
    if (st != SLM_OK) return st;
    if (kind == FILE_KIND_UNKNOWN) return slm_error(SLM_ERR_FORMAT, "%s: neither a GGUF file nor a llama2.c checkpoint", path);
    int is_gguf = kind == FILE_KIND_GGUF;
    slm_file *f = slm_calloc(1, sizeof *f, "file handle");
    if (!f) return SLM_ERR_NOMEM;
    f->is_gguf = is_gguf;
    st = is_gguf ? gguf_open(path, &f->gguf) : llama2c_open(path, &f->ckpt);
    if (st != SLM_OK) {
        free(f);
        return st;
    }
    if (is_gguf) {
        snprintf(f->format, sizeof f->format, "gguf v%u", f->gguf.version);
    } else {
        const llama2c_config *c = &f->ckpt.config;
        const llama2c_weights *w = &f->ckpt.w;
        int64_t L = c->n_layers, D = c->dim, H = c->hidden_dim, KV = (int64_t)c->dim / c->n_heads * c->n_kv_heads;
        snprintf(f->format, sizeof f->format, "llama2.c v%d", c->version);
        add_l2c_tensor(f, "token_embedding", w->token_embedding, c->vocab_size, D, 1);
        add_l2c_tensor(f, "rms_att", w->rms_att, L, D, 1);
        add_l2c_tensor(f, "wq", w->wq, D, D, L);
        add_l2c_tensor(f, "wk", w->wk, KV, D, L);
        add_l2c_tensor(f, "wv", w->wv, KV, D, L);
        add_l2c_tensor(f, "wo", w->wo, D, D, L);
        add_l2c_tensor(f, "rms_ffn", w->rms_ffn, L, D, 1);
        add_l2c_tensor(f, "w1", w->w1, H, D, L);
        add_l2c_tensor(f, "w2", w->w2, D, H, L);
        add_l2c_tensor(f, "w3", w->w3, H, D, L);
        add_l2c_tensor(f, "rms_final", w->rms_final, 1, D, 1);
        if (!c->shared_classifier) add_l2c_tensor(f, "wcls", w->wcls, c->vocab_size, D, 1);
    }
    *out = f;
    return SLM_OK;
}

void slm_file_close(slm_file *f) {
    if (!f) return;
    gguf_close(&f->gguf);
    llama2c_close(&f->ckpt);
    free(f);
}

const char *slm_file_format(const slm_file *f) { return f->format; }

size_t slm_file_n_metadata(const slm_file *f) { return f->is_gguf ? (size_t)f->gguf.n_kv : L2C_FIELDS; }

slm_status slm_file_metadata(const slm_file *f, size_t i, const char **key, char **value, int max_items) {
    if (i >= slm_file_n_metadata(f)) return slm_error(SLM_ERR_RANGE, "metadata index %zu out of range", i);
    if (f->is_gguf) {
        *key = f->gguf.kv[i].key;
        *value = gguf_value_to_text(&f->gguf.kv[i].value, max_items);
        return *value ? SLM_OK : SLM_ERR_NOMEM;
    }
    static const char *keys[L2C_FIELDS] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len", "shared_classifier"};
    const llama2c_config *c = &f->ckpt.config;
    int vals[L2C_FIELDS] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len, c->shared_classifier};
    char buf[32];
    snprintf(buf, sizeof buf, "%d", vals[i]);
    *key = keys[i];
    *value = slm_strndup(buf, strlen(buf));
    return *value ? SLM_OK : SLM_ERR_NOMEM;
}

size_t slm_file_n_tensors(const slm_file *f) { return f->is_gguf ? (size_t)f->gguf.n_tensors : f->n_l2c_tensors; }

slm_status slm_file_tensor(const slm_file *f, size_t i, slm_tensor_desc *d) {
    if (i >= slm_file_n_tensors(f)) return slm_error(SLM_ERR_RANGE, "tensor index %zu out of range", i);
    if (!f->is_gguf) {
        *d = f->l2c_tensors[i];
        return SLM_OK;
    }
    const gguf_tensor *t = &f->gguf.tensors[i];
    memset(d, 0, sizeof *d);
    d->name = t->name;
    d->type = slm_type_info(t->type)->name;
    d->n_dims = (int)t->n_dims;
    for (int k = 0; k < 4; k++) d->shape[k] = t->ne[k];
    d->offset = f->gguf.data_offset + t->offset;
    d->n_bytes = t->n_bytes;
    return SLM_OK;
}
