/* gguf_write.c — writes GGUF v3 files: metadata of every type (nested arrays included),
 * tensor infos with aligned offsets, and the tensor data with zero padding. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tensor/types.h"

typedef struct {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    uint64_t n_bytes;
} writer_tensor;

struct gguf_writer {
    gguf_kv *kv;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
    uint64_t alignment;
};

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = slm_calloc(1, sizeof *w, "GGUF writer");
    if (w) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free(w->kv[i].key);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kv);
    free(w->tensors);
    free(w);
}

static bool grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

slm_status gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *value) {
    if (!key || !*key) return slm_error(SLM_ERR_INVALID_ARG, "GGUF writer: empty key");
    if (value->type >= GGUF_TYPE_COUNT)
        return slm_error(SLM_ERR_INVALID_ARG, "GGUF writer: key '%s': bad type %u", key, value->type);
    if (strcmp(key, "general.alignment") == 0) {
        if (value->type != GGUF_TYPE_U32 || value->u == 0 || (value->u & (value->u - 1)))
            return slm_error(SLM_ERR_INVALID_ARG, "GGUF writer: general.alignment must be a u32 power of two");
        w->alignment = value->u;
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            w->kv[i].value = *value;
            return SLM_OK;
        }
    if (!grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof(gguf_kv)))
        return slm_error(SLM_ERR_NOMEM, "GGUF writer: out of memory");
    char *k = slm_strndup(key, strlen(key));
    if (!k) return SLM_ERR_NOMEM;
    w->kv[w->n_kv].key = k;
    w->kv[w->n_kv].value = *value;
    w->n_kv++;
    return SLM_OK;
}

slm_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    gguf_value val = {.type = GGUF_TYPE_U32, .u = v};
    return gguf_writer_set(w, key, &val);
}

slm_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    gguf_value val = {.type = GGUF_TYPE_F32, .f = v};
    return gguf_writer_set(w, key, &val);
}

slm_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s) {
    gguf_value val = {.type = GGUF_TYPE_STRING, .str = {s, strlen(s)}};
    return gguf_writer_set(w, key, &val);
}

slm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                                  uint32_t n_dims, const int64_t *ne, const void *data,
                                  uint64_t n_bytes) {
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
        return slm_error(SLM_ERR_INVALID_ARG, "GGUF writer: tensor '%s': n_dims %u", name, n_dims);
    uint64_t n = 1, expect;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0 || !slm_mul_ok(n, (uint64_t)ne[d], &n))
            return slm_error(SLM_ERR_INVALID_ARG, "GGUF writer: tensor '%s': bad shape", name);
    }
    if (!slm_type_info(type)->name || !slm_type_row_bytes(type, n, &expect) || expect != n_bytes)
        return slm_error(SLM_ERR_INVALID_ARG, "GGUF writer: tensor '%s': %" PRIu64 " bytes do not match its type and shape",
                         name, n_bytes);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return slm_error(SLM_ERR_INVALID_ARG, "GGUF writer: duplicate tensor '%s'", name);
    if (!grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof(writer_tensor)))
        return slm_error(SLM_ERR_NOMEM, "GGUF writer: out of memory");
    writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = slm_strndup(name, strlen(name)))) return SLM_ERR_NOMEM;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->data = data;
    t->n_bytes = n_bytes;
    w->n_tensors++;
    return SLM_OK;
}

static void put(FILE *f, const void *p, size_t n) { fwrite(p, 1, n, f); }
static void put_u32(FILE *f, uint32_t v) { put(f, &v, 4); }
static void put_u64(FILE *f, uint64_t v) { put(f, &v, 8); }
static void put_str(FILE *f, const char *s, uint64_t len) {
    put_u64(f, len);
    put(f, s, (size_t)len);
}

static void put_scalar(FILE *f, const gguf_value *v) {
    uint8_t b[8];
    switch (v->type) {
    case GGUF_TYPE_U8: case GGUF_TYPE_BOOL: b[0] = (uint8_t)v->u; put(f, b, 1); break;
    case GGUF_TYPE_I8: b[0] = (uint8_t)(int8_t)v->i; put(f, b, 1); break;
    case GGUF_TYPE_U16: { uint16_t x = (uint16_t)v->u; put(f, &x, 2); break; }
    case GGUF_TYPE_I16: { int16_t x = (int16_t)v->i; put(f, &x, 2); break; }
    case GGUF_TYPE_U32: { uint32_t x = (uint32_t)v->u; put(f, &x, 4); break; }
    case GGUF_TYPE_I32: { int32_t x = (int32_t)v->i; put(f, &x, 4); break; }
    case GGUF_TYPE_F32: { float x = (float)v->f; put(f, &x, 4); break; }
    case GGUF_TYPE_U64: put(f, &v->u, 8); break;
    case GGUF_TYPE_I64: put(f, &v->i, 8); break;
    case GGUF_TYPE_F64: put(f, &v->f, 8); break;
    default: break;
    }
}

static void put_value(FILE *f, const gguf_value *v) {
    if (v->type == GGUF_TYPE_STRING) {
        put_str(f, v->str.ptr, v->str.len);
        return;
    }
    if (v->type != GGUF_TYPE_ARRAY) {
        put_scalar(f, v);
        return;
    }
    put_u32(f, v->arr.elem_type);
    put_u64(f, v->arr.n);
    if (v->arr.elem_type == GGUF_TYPE_STRING)
        for (uint64_t i = 0; i < v->arr.n; i++) put_str(f, v->arr.strs[i].ptr, v->arr.strs[i].len);
    else if (v->arr.elem_type == GGUF_TYPE_ARRAY)
        for (uint64_t i = 0; i < v->arr.n; i++) put_value(f, &v->arr.items[i]);
    else if (v->arr.n)
        put(f, v->arr.raw, (size_t)(v->arr.n * (uint64_t)gguf_scalar_size(v->arr.elem_type)));
}

static void pad_to(FILE *f, uint64_t *pos, uint64_t alignment) {
    static const uint8_t zeros[256];
    uint64_t target = (*pos + alignment - 1) / alignment * alignment;
    while (*pos < target) {
        uint64_t n = target - *pos < sizeof zeros ? target - *pos : sizeof zeros;
        put(f, zeros, (size_t)n);
        *pos += n;
    }
}

slm_status gguf_writer_write(gguf_writer *w, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return slm_error(SLM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    put(f, "GGUF", 4);
    put_u32(f, 3);
    put_u64(f, w->n_tensors);
    put_u64(f, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(f, w->kv[i].key, strlen(w->kv[i].key));
        put_u32(f, w->kv[i].value.type);
        put_value(f, &w->kv[i].value);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        put_str(f, t->name, strlen(t->name));
        put_u32(f, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(f, (uint64_t)t->ne[d]);
        put_u32(f, t->type);
        put_u64(f, offset);
        offset = (offset + t->n_bytes + w->alignment - 1) / w->alignment * w->alignment;
    }
    long header_end = ftell(f);
    uint64_t pos = header_end < 0 ? 0 : (uint64_t)header_end;
    if (w->n_tensors) pad_to(f, &pos, w->alignment);
    for (size_t i = 0; i < w->n_tensors; i++) {
        put(f, w->tensors[i].data, (size_t)w->tensors[i].n_bytes);
        pos += w->tensors[i].n_bytes;
        if (i + 1 < w->n_tensors) pad_to(f, &pos, w->alignment);
    }
    bool failed = ferror(f) != 0 || header_end < 0;
    if (fclose(f) != 0 || failed) return slm_error(SLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return SLM_OK;
}
