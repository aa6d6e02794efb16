/* safetensors.c — maps a .safetensors file and validates its JSON header (cJSON): every
 * tensor's dtype, shape and byte range are checked against the file before use. */
#include "formats/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "tensor/types.h"

static const struct {
    const char *name;
    int bytes;
} DTYPES[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8},
    [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},     [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

/* The largest header accepted (the format's own limit is 100 MB). */
#define ST_MAX_HEADER (100u << 20)

const char *st_dtype_name(st_dtype t) { return (unsigned)t < N_DTYPES ? DTYPES[t].name : "?"; }

/* A JSON number that is a non-negative integer below 2^53, into *out. */
static int json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || v != floor(v)) return 0;
    *out = (uint64_t)v;
    return 1;
}

static slm_status parse_tensor(const cJSON *entry, const char *name, uint64_t data_size, const uint8_t *data,
                               st_tensor *t) {
    const char *key = entry->string;
    if (!cJSON_IsObject(entry)) return slm_error(SLM_ERR_FORMAT, "%s: header entry '%s' is not an object", name, key);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype)) return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' has no \"dtype\" string", name, key);
    int d = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dtype->valuestring, DTYPES[i].name) == 0) d = i;
    if (d < 0)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype \"%s\" (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)",
                         name, key, dtype->valuestring);
    if (!cJSON_IsArray(shape)) return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' has no \"shape\" array", name, key);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > SAFETENSORS_MAX_DIMS)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d)", name, key, n_dims, SAFETENSORS_MAX_DIMS);
    t->dtype = (st_dtype)d;
    t->n_dims = n_dims;
    uint64_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        uint64_t dim;
        if (!json_uint(cJSON_GetArrayItem(shape, i), &dim))
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", name, key, i);
        if (!slm_mul_ok(n, dim, &n) || n > (UINT64_MAX >> 4))
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': its shape overflows", name, key);
        t->shape[i] = (int64_t)dim;
    }
    t->n_elems = n;
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !json_uint(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), &end))
        return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' has no \"data_offsets\" pair of integers", name, key);
    if (begin > end || end > data_size)
        return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] fall outside the %llu data bytes (truncated file?)",
                         name, key, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != n * (uint64_t)DTYPES[d].bytes)
        return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': %llu bytes for %llu %s elements (expected %llu)", name, key,
                         (unsigned long long)(end - begin), (unsigned long long)n, DTYPES[d].name,
                         (unsigned long long)(n * (uint64_t)DTYPES[d].bytes));
    t->data = data + begin;
    t->n_bytes = end - begin;
    if (!(t->name = slm_strndup(key, strlen(key)))) return SLM_ERR_NOMEM;
    return SLM_OK;
}

slm_status st_parse(const uint8_t *data, size_t size, const char *name, st_file *out) {
    memset(out, 0, sizeof *out);
    if (size < 8) return slm_error(SLM_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file (truncated?)", name, size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | data[i];
    if (header_len > ST_MAX_HEADER)
        return slm_error(SLM_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit (not a safetensors file?)", name,
                         (unsigned long long)header_len);
    if (header_len > size - 8)
        return slm_error(SLM_ERR_FORMAT, "%s: header of %llu bytes runs past the end of the %zu-byte file (truncated?)", name,
                         (unsigned long long)header_len, size);
    const char *json = (const char *)data + 8;
    if (header_len < 2 || json[0] != '{')
        return slm_error(SLM_ERR_FORMAT, "%s: the header does not start with a JSON object (not a safetensors file?)", name);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)header_len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        cJSON_Delete(root);
        return slm_error(SLM_ERR_FORMAT, "%s: the JSON header is malformed (near byte %zu of %llu)", name, at + 8,
                         (unsigned long long)header_len);
    }
    for (const char *p = end; p && p < json + header_len; p++) /* only padding may follow the object */
        if (*p != ' ' && *p != '\0') {
            cJSON_Delete(root);
            return slm_error(SLM_ERR_FORMAT, "%s: trailing bytes after the JSON header", name);
        }
    const uint8_t *tensor_data = data + 8 + header_len;
    uint64_t data_size = size - 8 - header_len;
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) n++;
    slm_status st = SLM_OK;
    out->tensors = slm_calloc((size_t)n + 1, sizeof(st_tensor), "safetensors tensor table");
    if (!out->tensors) st = SLM_ERR_NOMEM;
    for (const cJSON *e = root->child; e && st == SLM_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) st = slm_error(SLM_ERR_FORMAT, "%s: __metadata__ is not an object", name);
            continue;
        }
        for (int i = 0; i < out->n_tensors && st == SLM_OK; i++)
            if (strcmp(out->tensors[i].name, e->string) == 0)
                st = slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", name, e->string);
        if (st == SLM_OK) st = parse_tensor(e, name, data_size, tensor_data, &out->tensors[out->n_tensors]);
        if (st == SLM_OK) out->n_tensors++;
    }
    cJSON_Delete(root);
    if (st != SLM_OK) st_close(out);
    return st;
}

slm_status st_open(const char *path, st_file *out) {
    memset(out, 0, sizeof *out);
    slm_mapped_file file;
    slm_status st = slm_map_file(path, &file);
    if (st != SLM_OK) return st;
    if ((st = st_parse(file.data, file.size, path, out)) != SLM_OK) {
        slm_unmap_file(&file);
        return st;
    }
    out->file = file;
    return SLM_OK;
}

void st_close(st_file *f) {
    if (f->tensors)
        for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    slm_unmap_file(&f->file);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

slm_status st_to_f32(const st_file *f, const st_tensor *t, float *out) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(out, p, t->n_elems * 4); return SLM_OK;
    case ST_F16:
        for (uint64_t i = 0; i < t->n_elems; i++) out[i] = slm_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return SLM_OK;
    case ST_BF16:
        for (uint64_t i = 0; i < t->n_elems; i++) out[i] = slm_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return SLM_OK;
    case ST_F64:
        for (uint64_t i = 0; i < t->n_elems; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
        }
        return SLM_OK;
    default:
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, not a floating-point type",
                         f->file.path ? f->file.path : "safetensors", t->name, st_dtype_name(t->dtype));
    }
}
