/* hf_bert.c — reads a Hugging Face BERT folder: config.json (hyper-parameters),
 * model.safetensors (weights, renamed to llama.cpp's GGUF names and converted to f32),
 * the tokenizer (tokenizer.json or vocab.txt), and the sentence-transformers files
 * (1_Pooling/config.json for the pooling, sentence_bert_config.json for the truncation). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/mapped_file.h"
#include "formats/safetensors.h"
#include "models/bert.h"
#include "tokenizer/tokenizer.h"

/* dir/name into buf; error if it does not fit. */
static slm_status path_in(const char *dir, const char *name, char *buf, size_t cap) {
    if ((size_t)snprintf(buf, cap, "%s/%s", dir, name) >= cap) return slm_error(SLM_ERR_INVALID_ARG, "%s: path too long", dir);
    return SLM_OK;
}

/* Parses a JSON file; *root NULL (and SLM_OK) when the file is absent and optional. */
static slm_status read_json(const char *path, int required, cJSON **root) {
    *root = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return required ? slm_error(SLM_ERR_IO, "%s: cannot open (is this a Hugging Face model folder?)", path) : SLM_OK;
    fclose(f);
    slm_mapped_file m;
    slm_status st = slm_map_file(path, &m);
    if (st != SLM_OK) return st;
    const char *end = NULL;
    *root = m.size ? cJSON_ParseWithLengthOpts((const char *)m.data, m.size, &end, 0) : NULL;
    size_t at = end && m.data ? (size_t)(end - (const char *)m.data) : 0;
    slm_unmap_file(&m);
    if (!*root || !cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return slm_error(SLM_ERR_FORMAT, "%s: malformed JSON (near byte %zu)", path, at);
    }
    return SLM_OK;
}

/* An integer field of config.json in [lo, hi]. */
static slm_status config_int(const cJSON *cfg, const char *path, const char *key, int required, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) return required ? slm_error(SLM_ERR_FORMAT, "%s: \"%s\" is missing", path, key) : SLM_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble || v->valuedouble < lo || v->valuedouble > hi)
        return slm_error(SLM_ERR_FORMAT, "%s: \"%s\" must be an integer in [%d, %d]", path, key, lo, hi);
    *out = (int)v->valuedouble;
    return SLM_OK;
}

static slm_status read_config(const char *dir, bert_hparams *hp) {
    char path[4096];
    cJSON *cfg;
    slm_status st = path_in(dir, "config.json", path, sizeof path);
    if (st == SLM_OK) st = read_json(path, 1, &cfg);
    if (st != SLM_OK) return st;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_act");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(cfg, "position_embedding_type");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(cfg, "layer_norm_eps");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "bert") != 0)
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: model_type is %s; only \"bert\" encoders are supported", path,
                       cJSON_IsString(type) ? type->valuestring : "missing");
    else if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0))
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (only \"gelu\")", path,
                       cJSON_IsString(act) ? act->valuestring : "?");
    else if (pos && (!cJSON_IsString(pos) || strcmp(pos->valuestring, "absolute") != 0))
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: position_embedding_type must be \"absolute\"", path);
    else if (eps && (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1)))
        st = slm_error(SLM_ERR_FORMAT, "%s: layer_norm_eps must be a number in (0, 1)", path);
    hp->norm_eps = eps ? (float)eps->valuedouble : 1e-12f;
    hp->n_token_types = 2;
    if (st == SLM_OK) st = config_int(cfg, path, "vocab_size", 1, 1, 1 << 24, &hp->n_vocab);
    if (st == SLM_OK) st = config_int(cfg, path, "hidden_size", 1, 1, 1 << 16, &hp->n_embd);
    if (st == SLM_OK) st = config_int(cfg, path, "intermediate_size", 1, 1, 1 << 18, &hp->n_ff);
    if (st == SLM_OK) st = config_int(cfg, path, "num_hidden_layers", 1, 1, 1024, &hp->n_layer);
    if (st == SLM_OK) st = config_int(cfg, path, "num_attention_heads", 1, 1, 1024, &hp->n_head);
    if (st == SLM_OK) st = config_int(cfg, path, "max_position_embeddings", 1, 1, 1 << 20, &hp->n_ctx_train);
    if (st == SLM_OK) st = config_int(cfg, path, "type_vocab_size", 0, 1, 1 << 16, &hp->n_token_types);
    if (st == SLM_OK && hp->n_embd % hp->n_head)
        st = slm_error(SLM_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path, hp->n_embd, hp->n_head);
    cJSON_Delete(cfg);
    if (st != SLM_OK) return st;

    /* sentence-transformers: the pooling and the truncation length */
    hp->pooling = BERT_POOL_NONE;
    if ((st = path_in(dir, "1_Pooling/config.json", path, sizeof path)) || (st = read_json(path, 0, &cfg))) return st;
    if (cfg) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "pooling_mode_mean_tokens"))) hp->pooling = BERT_POOL_MEAN;
        else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "pooling_mode_cls_token"))) hp->pooling = BERT_POOL_CLS;
        else st = slm_error(SLM_ERR_UNSUPPORTED, "%s: only mean and CLS pooling are supported", path);
        cJSON_Delete(cfg);
        if (st != SLM_OK) return st;
    }
    if ((st = path_in(dir, "sentence_bert_config.json", path, sizeof path)) || (st = read_json(path, 0, &cfg))) return st;
    if (cfg) {
        st = config_int(cfg, path, "max_seq_length", 0, 1, 1 << 20, &hp->max_seq_length);
        cJSON_Delete(cfg);
    }
    return st;
}

/* The safetensors tensor for a BertModel name, with or without a "bert." prefix. */
static const st_tensor *find_hf(const st_file *f, const char *name) {
    const st_tensor *t = st_find(f, name);
    if (t) return t;
    char buf[160];
    snprintf(buf, sizeof buf, "bert.%s", name);
    if ((t = st_find(f, buf))) return t;
    /* old checkpoints name LayerNorm parameters gamma and beta */
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ".weight") == 0 && strstr(name, "LayerNorm")) {
        snprintf(buf, sizeof buf, "%.*s.gamma", (int)(n - 7), name);
        return st_find(f, buf);
    }
    if (n > 5 && strcmp(name + n - 5, ".bias") == 0 && strstr(name, "LayerNorm")) {
        snprintf(buf, sizeof buf, "%.*s.beta", (int)(n - 5), name);
        return st_find(f, buf);
    }
    return NULL;
}

static slm_status read_weights(const char *dir, bert_model *m) {
    char path[4096];
    slm_status st = path_in(dir, "model.safetensors", path, sizeof path);
    st_file f;
    if (st == SLM_OK) st = st_open(path, &f);
    if (st != SLM_OK) return st;
    const int n = bert_n_tensors(&m->hp);
    char **names = slm_calloc((size_t)n, sizeof(char *), "names");
    int64_t *ne0 = slm_calloc((size_t)n, sizeof(int64_t), "shapes"), *ne1 = slm_calloc((size_t)n, sizeof(int64_t), "shapes");
    const st_tensor **src = slm_calloc((size_t)n, sizeof(st_tensor *), "tensors");
    if (!names || !ne0 || !ne1 || !src) st = SLM_ERR_NOMEM;
    for (int i = 0; i < n && st == SLM_OK; i++) {
        char gguf_name[96], hf_name[128];
        bert_tensor_name(i, gguf_name, sizeof gguf_name, 0);
        bert_tensor_name(i, hf_name, sizeof hf_name, 1);
        if (!(names[i] = slm_strndup(gguf_name, strlen(gguf_name)))) st = SLM_ERR_NOMEM;
        else if (!(src[i] = find_hf(&f, hf_name))) st = slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' is missing", path, hf_name);
        else if (src[i]->n_dims == 1) ne0[i] = src[i]->shape[0], ne1[i] = 1;
        else if (src[i]->n_dims == 2) ne0[i] = src[i]->shape[1], ne1[i] = src[i]->shape[0];
        else st = slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (expected 1 or 2)", path, hf_name, src[i]->n_dims);
    }
    if (st == SLM_OK) st = bert_alloc_tensors(m, n, names, ne0, ne1);
    for (int i = 0; i < n && st == SLM_OK; i++) st = st_to_f32(&f, src[i], m->tensors[i].data);
    if (names)
        for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ne0);
    free(ne1);
    free(src);
    st_close(&f);
    return st;
}

slm_status bert_load_hf(const char *dir, bert_model **out) {
    *out = NULL;
    bert_model *m = slm_calloc(1, sizeof *m, "model");
    if (!m) return SLM_ERR_NOMEM;
    slm_status st = read_config(dir, &m->hp);
    if (st == SLM_OK) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') n--;
        const char *base = dir + n;
        while (base > dir && base[-1] != '/') base--;
        if (!(m->name = slm_strndup(base, (size_t)(dir + n - base)))) st = SLM_ERR_NOMEM;
    }
    if (st == SLM_OK) st = read_weights(dir, m);
    if (st == SLM_OK) st = bert_bind(m);
    if (st == SLM_OK) st = tokenizer_from_hf_dir(dir, &m->tokenizer);
    if (st == SLM_OK && m->tokenizer->n_vocab != m->hp.n_vocab)
        st = slm_error(SLM_ERR_FORMAT, "%s: the tokenizer has %d pieces but config.json's vocab_size is %d", dir, m->tokenizer->n_vocab,
                       m->hp.n_vocab);
    if (st != SLM_OK) {
        bert_free(m);
        return st;
    }
    *out = m;
    return SLM_OK;
}
