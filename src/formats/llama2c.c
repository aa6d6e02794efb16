/* llama2c.c — validation and in-place binding of llama2.c checkpoints; tokenizer files. */
#include "formats/llama2c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

#define V1_MAGIC 0x616b3432u /* "ak42" as a little-endian u32 */
#define V1_HEADER_BYTES 256
#define MAX_DIM (1 << 20)

int llama2c_looks_like_checkpoint(const uint8_t *data, size_t size) {
    if (size < 28) return 0;
    uint32_t magic;
    memcpy(&magic, data, 4);
    if (magic == V1_MAGIC) return 1;
    int32_t h[7];
    memcpy(h, data, sizeof h);
    return h[0] > 0 && h[1] > 0 && h[2] > 0 && h[3] > 0 && h[4] > 0 && h[5] != 0 && h[6] > 0;
}

static slm_status check_field(const char *name, const char *field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
        return slm_error(SLM_ERR_FORMAT, "%s: header field %s = %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
                         name, field, v, lo, hi);
    return SLM_OK;
}

static slm_status check_config(const char *name, const llama2c_config *c) {
    slm_status st;
    if ((st = check_field(name, "dim", c->dim, 1, MAX_DIM))) return st;
    if ((st = check_field(name, "hidden_dim", c->hidden_dim, 1, MAX_DIM))) return st;
    if ((st = check_field(name, "n_layers", c->n_layers, 1, 1024))) return st;
    if ((st = check_field(name, "n_heads", c->n_heads, 1, 4096))) return st;
    if ((st = check_field(name, "n_kv_heads", c->n_kv_heads, 1, c->n_heads))) return st;
    if ((st = check_field(name, "vocab_size", c->vocab_size, 1, 1 << 24))) return st;
    if ((st = check_field(name, "seq_len", c->seq_len, 1, 1 << 24))) return st;
    if (c->dim % c->n_heads != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: header: dim %d is not a multiple of n_heads %d", name, c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: header: n_heads %d is not a multiple of n_kv_heads %d", name,
                         c->n_heads, c->n_kv_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: header: head size %d is odd (RoPE needs pairs)", name, c->dim / c->n_heads);
    return SLM_OK;
}

/* Hands out consecutive f32 arrays from the weight section, counting the bytes needed. */
typedef struct {
    const uint8_t *base;
    uint64_t pos, size;
    int overflow;
} cursor;

static const float *take(cursor *c, uint64_t a, uint64_t b, uint64_t d) {
    uint64_t n, bytes, end;
    if (!slm_mul_ok(a, b, &n) || !slm_mul_ok(n, d, &n) || !slm_mul_ok(n, 4, &bytes) ||
        !slm_add_ok(c->pos, bytes, &end)) {
        c->overflow = 1;
        return NULL;
    }
    const float *p = (const float *)(c->base + c->pos);
    c->pos = end;
    return p;
}

slm_status llama2c_parse(const uint8_t *data, size_t size, const char *name, llama2c_checkpoint *out) {
    memset(out, 0, sizeof *out);
    llama2c_config *c = &out->config;
    if (size < 28) return slm_error(SLM_ERR_FORMAT, "%s: truncated: %zu bytes is shorter than a llama2.c header", name, size);
    uint32_t magic;
    memcpy(&magic, data, 4);
    uint64_t header;
    int32_t h[7];
    if (magic == V1_MAGIC) {
        int32_t version;
        if (size < V1_HEADER_BYTES)
            return slm_error(SLM_ERR_FORMAT, "%s: truncated: %zu bytes is shorter than the 256-byte v1 header", name, size);
        memcpy(&version, data + 4, 4);
        if (version == 2)
            return slm_error(SLM_ERR_UNSUPPORTED, "%s: llama2.c version 2 (int8 quantised) checkpoints are not supported; export version 1", name);
        if (version != 1) return slm_error(SLM_ERR_FORMAT, "%s: header field version = %d (expected 1)", name, version);
        memcpy(h, data + 8, sizeof h);
        if (data[36] > 1)
            return slm_error(SLM_ERR_FORMAT, "%s: header field shared_classifier = %u (expected 0 or 1)", name, data[36]);
        c->shared_classifier = data[36];
        c->version = 1;
        header = V1_HEADER_BYTES;
        if (h[5] <= 0) return slm_error(SLM_ERR_FORMAT, "%s: header field vocab_size = %d (expected > 0)", name, h[5]);
    } else {
        memcpy(h, data, sizeof h);
        c->version = 0;
        header = sizeof h;
        c->shared_classifier = h[5] > 0;
        if (h[5] == INT32_MIN) return slm_error(SLM_ERR_FORMAT, "%s: header field vocab_size is invalid", name);
        if (h[5] < 0) h[5] = -h[5];
    }
    c->dim = h[0]; c->hidden_dim = h[1]; c->n_layers = h[2]; c->n_heads = h[3];
    c->n_kv_heads = h[4]; c->vocab_size = h[5]; c->seq_len = h[6];
    slm_status st = check_config(name, c);
    if (st != SLM_OK) return st;

    uint64_t L = (uint64_t)c->n_layers, D = (uint64_t)c->dim, H = (uint64_t)c->hidden_dim,
             V = (uint64_t)c->vocab_size, KV = D / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads,
             head = D / (uint64_t)c->n_heads;
    cursor cur = {.base = data, .pos = header, .size = size};
    llama2c_weights *w = &out->w;
    if (c->version == 0) {
        w->token_embedding = take(&cur, V, D, 1);
        w->rms_att = take(&cur, L, D, 1);
        w->wq = take(&cur, L, D, D);
        w->wk = take(&cur, L, KV, D);
        w->wv = take(&cur, L, KV, D);
        w->wo = take(&cur, L, D, D);
        w->rms_ffn = take(&cur, L, D, 1);
        w->w1 = take(&cur, L, H, D);
        w->w2 = take(&cur, L, D, H);
        w->w3 = take(&cur, L, H, D);
        w->rms_final = take(&cur, D, 1, 1);
        take(&cur, (uint64_t)c->seq_len, head / 2, 2); /* freq_cis_real and freq_cis_imag, unused */
    } else {
        w->rms_att = take(&cur, L, D, 1);
        w->rms_ffn = take(&cur, L, D, 1);
        w->rms_final = take(&cur, D, 1, 1);
        w->token_embedding = take(&cur, V, D, 1);
        w->wq = take(&cur, L, D, D);
        w->wk = take(&cur, L, KV, D);
        w->wv = take(&cur, L, KV, D);
        w->wo = take(&cur, L, D, D);
        w->w1 = take(&cur, L, H, D);
        w->w2 = take(&cur, L, D, H);
        w->w3 = take(&cur, L, H, D);
    }
    w->wcls = c->shared_classifier ? w->token_embedding : take(&cur, V, D, 1);
    if (cur.overflow) return slm_error(SLM_ERR_FORMAT, "%s: header sizes overflow", name);
    if (cur.pos != size)
        return slm_error(SLM_ERR_FORMAT,
                         "%s: %s: the header (dim %d, hidden_dim %d, n_layers %d, vocab_size %d, %s classifier) needs %" PRIu64 " bytes but the file has %zu",
                         name, cur.pos > size ? "truncated" : "trailing bytes", c->dim, c->hidden_dim,
                         c->n_layers, c->vocab_size, c->shared_classifier ? "shared" : "separate", cur.pos, size);
    return SLM_OK;
}

slm_status llama2c_open(const char *path, llama2c_checkpoint *out) {
    slm_mapped_file mf;
    memset(out, 0, sizeof *out);
    slm_status st = slm_map_file(path, &mf);
    if (st != SLM_OK) return st;
    st = llama2c_parse(mf.data, mf.size, path, out);
    if (st != SLM_OK) {
        slm_unmap_file(&mf);
        return st;
    }
    out->file = mf;
    return SLM_OK;
}

void llama2c_close(llama2c_checkpoint *ckpt) {
    slm_unmap_file(&ckpt->file);
    memset(ckpt, 0, sizeof *ckpt);
}

void llama2c_vocab_free(llama2c_vocab *v) {
    if (v->pieces)
        for (int i = 0; i < v->n_tokens; i++) free(v->pieces[i]);
    free(v->pieces);
    free(v->lengths);
    free(v->scores);
    memset(v, 0, sizeof *v);
}

slm_status llama2c_vocab_read(const char *path, int expected_tokens, llama2c_vocab *out) {
    memset(out, 0, sizeof *out);
    slm_mapped_file mf;
    slm_status st = slm_map_file(path, &mf);
    if (st != SLM_OK) return st;
    const uint8_t *p = mf.data;
    size_t size = mf.size, pos = 4;
    int32_t max_len;
    if (size < 4) {
        st = slm_error(SLM_ERR_FORMAT, "%s: truncated: no max_token_length field", path);
        goto done;
    }
    memcpy(&max_len, p, 4);
    if (max_len <= 0 || max_len > (1 << 16)) {
        st = slm_error(SLM_ERR_FORMAT, "%s: field max_token_length = %d is out of range", path, max_len);
        goto done;
    }
    out->max_token_length = max_len;
    /* Count the tokens first (each takes at least 8 bytes). */
    int cap = expected_tokens > 0 ? expected_tokens : (int)((size - 4) / 8);
    out->pieces = slm_calloc((size_t)cap + 1, sizeof(char *), "tokenizer pieces");
    out->lengths = slm_calloc((size_t)cap + 1, sizeof(uint32_t), "tokenizer lengths");
    out->scores = slm_calloc((size_t)cap + 1, sizeof(float), "tokenizer scores");
    if (!out->pieces || !out->lengths || !out->scores) {
        st = SLM_ERR_NOMEM;
        goto done;
    }
    int n = 0;
    while (pos < size && (expected_tokens <= 0 || n < expected_tokens)) {
        float score;
        int32_t len;
        if (size - pos < 8) {
            st = slm_error(SLM_ERR_FORMAT, "%s: truncated: token %d header at offset %zu", path, n, pos);
            goto done;
        }
        memcpy(&score, p + pos, 4);
        memcpy(&len, p + pos + 4, 4);
        pos += 8;
        if (len < 0 || len > max_len || (size_t)len > size - pos) {
            st = slm_error(SLM_ERR_FORMAT, "%s: token %d: length %d is out of range (max_token_length %d, %zu bytes left)",
                           path, n, len, max_len, size - pos);
            goto done;
        }
        if (!(out->pieces[n] = slm_strndup((const char *)p + pos, (size_t)len))) {
            st = SLM_ERR_NOMEM;
            goto done;
        }
        out->lengths[n] = (uint32_t)len;
        out->scores[n] = score;
        pos += (size_t)len;
        n++;
        out->n_tokens = n;
    }
    if (expected_tokens > 0 && n != expected_tokens) {
        st = slm_error(SLM_ERR_FORMAT, "%s: truncated: %d tokens but the model's vocab_size is %d", path, n, expected_tokens);
        goto done;
    }
    if (n == 0) st = slm_error(SLM_ERR_FORMAT, "%s: no tokens", path);
done:
    slm_unmap_file(&mf);
    if (st != SLM_OK) llama2c_vocab_free(out);
    return st;
}
