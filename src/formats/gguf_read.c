/* gguf_read.c — parses and validates a GGUF image: every count, length, offset and size is
 * checked against the bytes that remain, with overflow-safe arithmetic, before it is used. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tensor/types.h"

#define GGUF_MAX_NESTING 8
#define GGUF_MAX_KEY_LEN 65535

/* Allocations made while parsing, freed together by gguf_close. */
typedef struct owned_block {
    struct owned_block *next;
    max_align_t data[];
} owned_block;

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    const char *name;
    gguf_file *file;
} reader;

static void *reader_alloc(reader *r, size_t n, size_t elem, const char *what) {
    uint64_t bytes;
    if (!slm_mul_ok(n, elem, &bytes) || bytes > SIZE_MAX - sizeof(owned_block)) {
        slm_error(SLM_ERR_FORMAT, "%s: %s: size overflow", r->name, what);
        return NULL;
    }
    owned_block *b = calloc(1, sizeof(owned_block) + (size_t)bytes);
    if (!b) {
        slm_error(SLM_ERR_NOMEM, "%s: out of memory for %s", r->name, what);
        return NULL;
    }
    b->next = r->file->owned_arrays;
    r->file->owned_arrays = b;
    return b->data;
}

static bool need(reader *r, uint64_t n, const char *what) {
    if (n > r->size - r->pos) {
        slm_error(SLM_ERR_FORMAT,
                  "%s: truncated: %s needs %" PRIu64 " bytes at offset %zu but the file has %zu",
                  r->name, what, n, r->pos, r->size);
        return false;
    }
    return true;
}

static bool read_bytes(reader *r, void *dst, size_t n, const char *what) {
    if (!need(r, n, what)) return false;
    memcpy(dst, r->data + r->pos, n);
    r->pos += n;
    return true;
}

static bool read_u32(reader *r, uint32_t *v, const char *what) { return read_bytes(r, v, 4, what); }
static bool read_u64(reader *r, uint64_t *v, const char *what) { return read_bytes(r, v, 8, what); }

static bool read_str(reader *r, gguf_str *s, const char *what) {
    uint64_t len;
    if (!read_u64(r, &len, what)) return false;
    if (!need(r, len, what)) return false;
    s->ptr = (const char *)r->data + r->pos;
    s->len = len;
    r->pos += len;
    return true;
}

int gguf_scalar_size(uint32_t type) {
    switch (type) {
    case GGUF_TYPE_U8: case GGUF_TYPE_I8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_U16: case GGUF_TYPE_I16: return 2;
    case GGUF_TYPE_U32: case GGUF_TYPE_I32: case GGUF_TYPE_F32: return 4;
    case GGUF_TYPE_U64: case GGUF_TYPE_I64: case GGUF_TYPE_F64: return 8;
    default: return 0;
    }
}

/* Decodes a scalar of `type` from raw little-endian bytes. */
static void decode_scalar(uint32_t type, const uint8_t *p, gguf_value *v) {
    v->type = type;
    switch (type) {
    case GGUF_TYPE_U8: v->u = p[0]; break;
    case GGUF_TYPE_BOOL: v->u = p[0] != 0; break;
    case GGUF_TYPE_I8: v->i = (int8_t)p[0]; break;
    case GGUF_TYPE_U16: { uint16_t x; memcpy(&x, p, 2); v->u = x; break; }
    case GGUF_TYPE_I16: { int16_t x; memcpy(&x, p, 2); v->i = x; break; }
    case GGUF_TYPE_U32: { uint32_t x; memcpy(&x, p, 4); v->u = x; break; }
    case GGUF_TYPE_I32: { int32_t x; memcpy(&x, p, 4); v->i = x; break; }
    case GGUF_TYPE_F32: { float x; memcpy(&x, p, 4); v->f = x; break; }
    case GGUF_TYPE_U64: { uint64_t x; memcpy(&x, p, 8); v->u = x; break; }
    case GGUF_TYPE_I64: { int64_t x; memcpy(&x, p, 8); v->i = x; break; }
    case GGUF_TYPE_F64: { double x; memcpy(&x, p, 8); v->f = x; break; }
    default: break;
    }
}

static bool read_value(reader *r, uint32_t type, gguf_value *v, const char *key, int depth) {
    memset(v, 0, sizeof *v);
    v->type = type;
    if (type == GGUF_TYPE_STRING) return read_str(r, &v->str, key);
    int sz = gguf_scalar_size(type);
    if (sz > 0) {
        if (!need(r, (uint64_t)sz, key)) return false;
        decode_scalar(type, r->data + r->pos, v);
        if (type == GGUF_TYPE_BOOL && r->data[r->pos] > 1) {
            slm_error(SLM_ERR_FORMAT, "%s: key '%s': bool value %u is not 0 or 1", r->name, key,
                      r->data[r->pos]);
            return false;
        }
        r->pos += (size_t)sz;
        return true;
    }
    if (type != GGUF_TYPE_ARRAY) {
        slm_error(SLM_ERR_FORMAT, "%s: key '%s': unknown value type %u", r->name, key, type);
        return false;
    }
    if (depth >= GGUF_MAX_NESTING) {
        slm_error(SLM_ERR_FORMAT, "%s: key '%s': arrays nested deeper than %d", r->name, key,
                  GGUF_MAX_NESTING);
        return false;
    }
    uint32_t et;
    uint64_t n;
    if (!read_u32(r, &et, key) || !read_u64(r, &n, key)) return false;
    if (et >= GGUF_TYPE_COUNT) {
        slm_error(SLM_ERR_FORMAT, "%s: key '%s': unknown array element type %u", r->name, key, et);
        return false;
    }
    v->arr.elem_type = et;
    v->arr.n = n;
    int esz = gguf_scalar_size(et);
    if (esz > 0) {
        uint64_t bytes;
        if (!slm_mul_ok(n, (uint64_t)esz, &bytes)) {
            slm_error(SLM_ERR_FORMAT, "%s: key '%s': array of %" PRIu64 " elements is larger than the file",
                      r->name, key, n);
            return false;
        }
        if (!need(r, bytes, key)) return false;
        v->arr.raw = r->data + r->pos;
        if (et == GGUF_TYPE_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (r->data[r->pos + i] > 1) {
                    slm_error(SLM_ERR_FORMAT, "%s: key '%s': bool element %" PRIu64 " is not 0 or 1",
                              r->name, key, i);
                    return false;
                }
        r->pos += (size_t)bytes;
        return true;
    }
    /* Strings take at least 8 bytes and arrays at least 12: bound n before allocating. */
    uint64_t min_elem = et == GGUF_TYPE_STRING ? 8 : 12;
    if (n > (r->size - r->pos) / min_elem) {
        slm_error(SLM_ERR_FORMAT, "%s: key '%s': array of %" PRIu64 " elements cannot fit in the %zu bytes left",
                  r->name, key, n, r->size - r->pos);
        return false;
    }
    if (et == GGUF_TYPE_STRING) {
        v->arr.strs = reader_alloc(r, n, sizeof(gguf_str), key);
        if (!v->arr.strs) return false;
        for (uint64_t i = 0; i < n; i++)
            if (!read_str(r, &v->arr.strs[i], key)) return false;
        return true;
    }
    v->arr.items = reader_alloc(r, n, sizeof(gguf_value), key);
    if (!v->arr.items) return false;
    for (uint64_t i = 0; i < n; i++)
        if (!read_value(r, GGUF_TYPE_ARRAY, &v->arr.items[i], key, depth + 1)) return false;
    return true;
}

bool gguf_has_magic(const uint8_t *data, size_t size) {
    return size >= 4 && memcmp(data, "GGUF", 4) == 0;
}

static slm_status parse_kv(reader *r, gguf_file *f) {
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_str key;
        char what[64];
        snprintf(what, sizeof what, "metadata key %" PRIu64, i);
        if (!read_str(r, &key, what)) return SLM_ERR_FORMAT;
        if (key.len == 0 || key.len > GGUF_MAX_KEY_LEN || memchr(key.ptr, 0, key.len))
            return slm_error(SLM_ERR_FORMAT, "%s: metadata key %" PRIu64 " has a bad name (length %" PRIu64 ")",
                             r->name, i, key.len);
        f->kv[i].key = reader_alloc(r, key.len + 1, 1, "key");
        if (!f->kv[i].key) return SLM_ERR_NOMEM;
        memcpy(f->kv[i].key, key.ptr, key.len);
        for (uint64_t j = 0; j < i; j++)
            if (strcmp(f->kv[j].key, f->kv[i].key) == 0)
                return slm_error(SLM_ERR_FORMAT, "%s: duplicate metadata key '%s'", r->name, f->kv[i].key);
        uint32_t type;
        if (!read_u32(r, &type, f->kv[i].key)) return SLM_ERR_FORMAT;
        if (type >= GGUF_TYPE_COUNT)
            return slm_error(SLM_ERR_FORMAT, "%s: key '%s': unknown value type %u", r->name, f->kv[i].key, type);
        if (!read_value(r, type, &f->kv[i].value, f->kv[i].key, 0)) return SLM_ERR_FORMAT;
    }
    return SLM_OK;
}

static slm_status parse_tensor_infos(reader *r, gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        gguf_str name;
        char what[64];
        snprintf(what, sizeof what, "tensor info %" PRIu64, i);
        if (!read_str(r, &name, what)) return SLM_ERR_FORMAT;
        if (name.len == 0 || name.len > 255 || memchr(name.ptr, 0, name.len))
            return slm_error(SLM_ERR_FORMAT, "%s: tensor %" PRIu64 " has a bad name (length %" PRIu64 ")",
                             r->name, i, name.len);
        t->name = reader_alloc(r, name.len + 1, 1, "tensor name");
        if (!t->name) return SLM_ERR_NOMEM;
        memcpy(t->name, name.ptr, name.len);
        if (!read_u32(r, &t->n_dims, t->name)) return SLM_ERR_FORMAT;
        if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': n_dims %u not in 1..%d", r->name,
                             t->name, t->n_dims, GGUF_MAX_DIMS);
        uint64_t n_elems = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if (!read_u64(r, &ne, t->name)) return SLM_ERR_FORMAT;
            if (ne > (uint64_t)INT64_MAX || !slm_mul_ok(n_elems, ne, &n_elems) || n_elems > (uint64_t)INT64_MAX)
                return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': shape overflows (dim %u = %" PRIu64 ")",
                                 r->name, t->name, d, ne);
            t->ne[d] = (int64_t)ne;
        }
        if (!read_u32(r, &t->type, t->name)) return SLM_ERR_FORMAT;
        const slm_type_traits *tr = slm_type_info(t->type);
        if (!tr->name)
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': unknown type id %u", r->name, t->name, t->type);
        if (t->ne[0] % tr->block_elems != 0)
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': row of %" PRId64 " elements is not a whole number of %s blocks (%d)",
                             r->name, t->name, t->ne[0], tr->name, tr->block_elems);
        if (!slm_type_row_bytes(t->type, n_elems, &t->n_bytes))
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': size overflows", r->name, t->name);
        if (!read_u64(r, &t->offset, t->name)) return SLM_ERR_FORMAT;
        for (uint64_t j = 0; j < i; j++)
            if (strcmp(f->tensors[j].name, t->name) == 0)
                return slm_error(SLM_ERR_FORMAT, "%s: duplicate tensor name '%s'", r->name, t->name);
    }
    return SLM_OK;
}

static slm_status read_alignment(reader *r, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_value *a = gguf_find(f, "general.alignment");
    if (!a) return SLM_OK;
    if (a->type != GGUF_TYPE_U32)
        return slm_error(SLM_ERR_FORMAT, "%s: general.alignment has type %s, expected u32", r->name,
                         gguf_type_name(a->type));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: general.alignment %" PRIu64 " is not a power of two",
                         r->name, a->u);
    f->alignment = a->u;
    return SLM_OK;
}

static slm_status place_tensors(reader *r, gguf_file *f) {
    uint64_t data_offset = (r->pos + f->alignment - 1) / f->alignment * f->alignment;
    if (f->n_tensors > 0 && data_offset > r->size)
        return slm_error(SLM_ERR_FORMAT, "%s: truncated: the tensor data section would start at %" PRIu64 " past the end (%zu)",
                         r->name, data_offset, r->size);
    f->data_offset = data_offset;
    uint64_t data_size = r->size > data_offset ? r->size - data_offset : 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment != 0)
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                             r->name, t->name, t->offset, f->alignment);
        uint64_t end;
        if (!slm_add_ok(t->offset, t->n_bytes, &end) || end > data_size)
            return slm_error(SLM_ERR_FORMAT, "%s: truncated or corrupt: tensor '%s' data [%" PRIu64 ", +%" PRIu64 ") extends past the end of the data section (%" PRIu64 " bytes)",
                             r->name, t->name, t->offset, t->n_bytes, data_size);
        t->data = r->data + data_offset + t->offset;
    }
    /* Tensors must not overlap: sort-free check by pairwise comparison of sorted offsets. */
    for (uint64_t i = 0; i < f->n_tensors; i++)
        for (uint64_t j = i + 1; j < f->n_tensors && f->n_tensors <= 4096; j++) {
            const gguf_tensor *a = &f->tensors[i], *b = &f->tensors[j];
            if (a->n_bytes && b->n_bytes && a->offset < b->offset + b->n_bytes && b->offset < a->offset + a->n_bytes)
                return slm_error(SLM_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", r->name, a->name, b->name);
        }
    return SLM_OK;
}

slm_status gguf_parse(const uint8_t *data, size_t size, const char *name, gguf_file *f) {
    memset(f, 0, sizeof *f);
    reader r = {.data = data, .size = size, .pos = 0, .name = name, .file = f};
    char magic[4];
    if (!read_bytes(&r, magic, 4, "magic")) return SLM_ERR_FORMAT;
    if (memcmp(magic, "GGUF", 4) != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: not a GGUF file (magic is not \"GGUF\")", name);
    if (!read_u32(&r, &f->version, "version")) return SLM_ERR_FORMAT;
    if (f->version == 1)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (convert it to v3)", name);
    if (f->version != 2 && f->version != 3)
        return slm_error(SLM_ERR_FORMAT, "%s: unknown GGUF version %u (expected 2 or 3)", name, f->version);
    if (!read_u64(&r, &f->n_tensors, "tensor count") || !read_u64(&r, &f->n_kv, "metadata count"))
        return SLM_ERR_FORMAT;
    /* A metadata entry takes at least 8+1+4+1 bytes and a tensor info at least 8+1+4+8+4+8. */
    if (f->n_kv > (size - r.pos) / 14)
        return slm_error(SLM_ERR_FORMAT, "%s: truncated or corrupt: metadata count %" PRIu64 " cannot fit in a file of %zu bytes",
                         name, f->n_kv, size);
    if (f->n_tensors > (size - r.pos) / 33)
        return slm_error(SLM_ERR_FORMAT, "%s: truncated or corrupt: tensor count %" PRIu64 " cannot fit in a file of %zu bytes",
                         name, f->n_tensors, size);
    slm_status st = SLM_ERR_NOMEM;
    f->kv = reader_alloc(&r, f->n_kv, sizeof(gguf_kv), "metadata table");
    f->tensors = reader_alloc(&r, f->n_tensors, sizeof(gguf_tensor), "tensor table");
    if (!f->kv || !f->tensors) goto fail;
    if ((st = parse_kv(&r, f)) != SLM_OK) goto fail;
    if ((st = read_alignment(&r, f)) != SLM_OK) goto fail;
    if ((st = parse_tensor_infos(&r, f)) != SLM_OK) goto fail;
    if ((st = place_tensors(&r, f)) != SLM_OK) goto fail;
    return SLM_OK;
fail:
    gguf_close(f);
    return st;
}

slm_status gguf_open(const char *path, gguf_file *out) {
    slm_mapped_file mf;
    memset(out, 0, sizeof *out);
    slm_status st = slm_map_file(path, &mf);
    if (st != SLM_OK) return st;
    st = gguf_parse(mf.data, mf.size, path, out);
    if (st != SLM_OK) {
        slm_unmap_file(&mf);
        return st;
    }
    out->file = mf;
    return SLM_OK;
}

void gguf_close(gguf_file *f) {
    owned_block *b = f->owned_arrays;
    while (b) {
        owned_block *next = b->next;
        free(b);
        b = next;
    }
    slm_unmap_file(&f->file);
    memset(f, 0, sizeof *f);
}

const gguf_value *gguf_find(const gguf_file *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0) return &f->kv[i].value;
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

static bool is_unsigned(uint32_t t) {
    return t == GGUF_TYPE_U8 || t == GGUF_TYPE_U16 || t == GGUF_TYPE_U32 || t == GGUF_TYPE_U64 || t == GGUF_TYPE_BOOL;
}
static bool is_signed(uint32_t t) {
    return t == GGUF_TYPE_I8 || t == GGUF_TYPE_I16 || t == GGUF_TYPE_I32 || t == GGUF_TYPE_I64;
}

bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_value *v = gguf_find(f, key);
    if (!v) return false;
    if (is_unsigned(v->type)) {
        if (v->u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v->u;
        return true;
    }
    if (is_signed(v->type)) {
        *out = v->i;
        return true;
    }
    return false;
}

bool gguf_get_float(const gguf_file *f, const char *key, double *out) {
    const gguf_value *v = gguf_find(f, key);
    if (!v) return false;
    if (v->type == GGUF_TYPE_F32 || v->type == GGUF_TYPE_F64) *out = v->f;
    else if (is_unsigned(v->type)) *out = (double)v->u;
    else if (is_signed(v->type)) *out = (double)v->i;
    else return false;
    return true;
}

char *gguf_get_string(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_find(f, key);
    if (!v || v->type != GGUF_TYPE_STRING) return NULL;
    return slm_strndup(v->str.ptr, v->str.len);
}

gguf_value gguf_array_get(const gguf_value *arr, uint64_t i) {
    gguf_value v = {0};
    int sz = gguf_scalar_size(arr->arr.elem_type);
    decode_scalar(arr->arr.elem_type, (const uint8_t *)arr->arr.raw + i * (uint64_t)sz, &v);
    return v;
}

double gguf_array_number(const gguf_value *arr, uint64_t i) {
    gguf_value v = gguf_array_get(arr, i);
    if (v.type == GGUF_TYPE_F32 || v.type == GGUF_TYPE_F64) return v.f;
    return is_signed(v.type) ? (double)v.i : (double)v.u;
}

const char *gguf_type_name(uint32_t type) {
    static const char *names[GGUF_TYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                 "bool", "string", "array", "u64", "i64", "f64"};
    return type < GGUF_TYPE_COUNT ? names[type] : "?";
}

/* A growable text buffer for gguf_value_to_text. */
typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} text_buf;

static void tb_put(text_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void tb_printf(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(text_buf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) tb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void tb_quoted(text_buf *b, gguf_str s) {
    tb_put(b, "\"", 1);
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') {
            tb_put(b, "\\", 1);
            tb_put(b, (const char *)&c, 1);
        } else if (c == '\n') tb_put(b, "\\n", 2);
        else if (c < 0x20 || c == 0x7F) tb_printf(b, "\\x%02x", c);
        else tb_put(b, (const char *)&c, 1);
    }
    tb_put(b, "\"", 1);
}

static void value_text(text_buf *b, const gguf_value *v, int max_items) {
    switch (v->type) {
    case GGUF_TYPE_STRING: tb_quoted(b, v->str); return;
    case GGUF_TYPE_BOOL: tb_put(b, v->u ? "true" : "false", v->u ? 4 : 5); return;
    case GGUF_TYPE_F32: tb_printf(b, "%.9g", v->f); return;
    case GGUF_TYPE_F64: tb_printf(b, "%.17g", v->f); return;
    case GGUF_TYPE_ARRAY: break;
    default:
        if (is_signed(v->type)) tb_printf(b, "%" PRId64, v->i);
        else tb_printf(b, "%" PRIu64, v->u);
        return;
    }
    uint64_t n = v->arr.n, shown = (max_items > 0 && n > (uint64_t)max_items) ? (uint64_t)max_items : n;
    tb_put(b, "[", 1);
    for (uint64_t i = 0; i < shown; i++) {
        if (i) tb_put(b, ", ", 2);
        if (v->arr.elem_type == GGUF_TYPE_STRING) tb_quoted(b, v->arr.strs[i]);
        else if (v->arr.elem_type == GGUF_TYPE_ARRAY) value_text(b, &v->arr.items[i], max_items);
        else {
            gguf_value e = gguf_array_get(v, i);
            value_text(b, &e, max_items);
        }
    }
    if (shown < n) tb_printf(b, ", ... (%" PRIu64 " %s in all)", n, gguf_type_name(v->arr.elem_type));
    tb_put(b, "]", 1);
}

char *gguf_value_to_text(const gguf_value *v, int max_items) {
    text_buf b = {0};
    value_text(&b, v, max_items);
    if (b.failed) {
        free(b.s);
        slm_error(SLM_ERR_NOMEM, "out of memory rendering a metadata value");
        return NULL;
    }
    if (!b.s) return slm_strndup("", 0);
    return b.s;
}
