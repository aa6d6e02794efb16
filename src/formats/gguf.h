/* gguf.h — GGUF v2/v3 files: a validating reader over an mmap'd file and a writer.
 * Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, then n_kv
 * (string key, u32 type, value), then n_tensors (string name, u32 n_dims, u64 ne[n_dims],
 * u32 type, u64 offset), padding to general.alignment (default 32), then tensor data.
 * A string is u64 length + bytes; an array is u32 element type + u64 count + elements. */
#ifndef SLM_FORMATS_GGUF_H
#define SLM_FORMATS_GGUF_H
#include <stdbool.h>
#include <stdint.h>

#include "base/mapped_file.h"
#include "slm.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef enum {
    GGUF_TYPE_U8 = 0,
    GGUF_TYPE_I8 = 1,
    GGUF_TYPE_U16 = 2,
    GGUF_TYPE_I16 = 3,
    GGUF_TYPE_U32 = 4,
    GGUF_TYPE_I32 = 5,
    GGUF_TYPE_F32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_U64 = 10,
    GGUF_TYPE_I64 = 11,
    GGUF_TYPE_F64 = 12,
    GGUF_TYPE_COUNT = 13,
} gguf_type;

/* A string inside the file (or borrowed from the caller when writing); not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    uint32_t type; /* gguf_type */
    union {
        uint64_t u;   /* U8, U16, U32, U64, BOOL */
        int64_t i;    /* I8, I16, I32, I64 */
        double f;     /* F32, F64 */
        gguf_str str; /* STRING */
        struct {
            uint32_t elem_type;
            uint64_t n;
            const void *raw;    /* numeric elements, packed little-endian as in the file */
            gguf_str *strs;     /* STRING elements */
            gguf_value *items;  /* ARRAY elements (nested arrays) */
        } arr;
    };
};

typedef struct {
    char *key; /* owned, NUL-terminated */
    gguf_value value;
} gguf_kv;

typedef struct {
    char *name; /* owned, NUL-terminated */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] fastest-varying; unused dims are 1 */
    uint32_t type;             /* slm_type */
    uint64_t offset;           /* relative to the start of the data section */
    uint64_t n_bytes;
    const void *data;          /* into the mapping */
} gguf_tensor;

typedef struct {
    slm_mapped_file file;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset; /* absolute offset of the data section */
    void *owned_arrays;   /* internal: allocations made while parsing */
} gguf_file;

/* Opens, maps and validates a GGUF file. Release with gguf_close. */
slm_status gguf_open(const char *path, gguf_file *out);
/* Validates a GGUF image in memory (data must outlive *out; it is not freed by gguf_close).
 * name is used in error messages. */
slm_status gguf_parse(const uint8_t *data, size_t size, const char *name, gguf_file *out);
/* Frees everything gguf_open / gguf_parse made (a zeroed struct is fine). */
void gguf_close(gguf_file *f);
/* True if the bytes start with the GGUF magic. */
bool gguf_has_magic(const uint8_t *data, size_t size);

/* The metadata entry with this key, or NULL. */
const gguf_value *gguf_find(const gguf_file *f, const char *key);
/* The tensor with this name, or NULL. */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);
/* Reads an integer-typed (or bool) value into *out; false if absent or not an integer. */
bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out);
/* Reads a float- or integer-typed value into *out; false if absent or not a number. */
bool gguf_get_float(const gguf_file *f, const char *key, double *out);
/* Returns a string value as a new NUL-terminated string (caller frees), or NULL if absent. */
char *gguf_get_string(const gguf_file *f, const char *key);
/* Element i of a numeric (or bool) array as a scalar value (i must be in range). */
gguf_value gguf_array_get(const gguf_value *arr, uint64_t i);
/* Element i of a numeric array as a double (the array must be numeric; i in range). */
double gguf_array_number(const gguf_value *arr, uint64_t i);
/* Bytes of one scalar of this type (0 for STRING, ARRAY and unknown types). */
int gguf_scalar_size(uint32_t type);
/* Name of a gguf_type ("u32", "string", ...). */
const char *gguf_type_name(uint32_t type);
/* Renders a value as text into a new string (caller frees); arrays abridged to max_items
 * (<= 0: all). */
char *gguf_value_to_text(const gguf_value *v, int max_items);

/* ---- writer ---- */

typedef struct gguf_writer gguf_writer;

/* Creates an empty writer (version 3, alignment 32). Caller frees with gguf_writer_free. */
gguf_writer *gguf_writer_new(void);
/* Frees a writer (NULL is fine). */
void gguf_writer_free(gguf_writer *w);
/* Adds a metadata entry. The key is copied; strings and arrays the value points at are
 * borrowed until gguf_writer_write returns. general.alignment sets the alignment. */
slm_status gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *value);
/* Convenience setters for scalar and string values (the string is borrowed). */
slm_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
slm_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
slm_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s);
/* Adds a tensor; ne has n_dims entries (ne[0] fastest). data (n_bytes) is borrowed until
 * gguf_writer_write returns. */
slm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                                  uint32_t n_dims, const int64_t *ne, const void *data,
                                  uint64_t n_bytes);
/* Writes the file. */
slm_status gguf_writer_write(gguf_writer *w, const char *path);

#endif
