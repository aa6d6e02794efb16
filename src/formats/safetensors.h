/* safetensors.h — Hugging Face .safetensors files: an 8-byte little-endian header length, a
 * JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}, then the tensor bytes. The reader maps the file and checks every
 * offset, shape and size against the file before anything is read. */
#ifndef SLM_FORMATS_SAFETENSORS_H
#define SLM_FORMATS_SAFETENSORS_H
#include <stdint.h>

#include "base/mapped_file.h"
#include "slm.h"

#define SAFETENSORS_MAX_DIMS 8

typedef enum {
    ST_F32 = 0,
    ST_F16,
    ST_BF16,
    ST_F64,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
} st_dtype;

typedef struct {
    char *name;                        /* owned, NUL-terminated */
    st_dtype dtype;
    int n_dims;
    int64_t shape[SAFETENSORS_MAX_DIMS]; /* shape[0] slowest-varying (row-major, as PyTorch) */
    uint64_t n_elems;
    const uint8_t *data;               /* into the mapping; n_bytes of it */
    uint64_t n_bytes;
} st_tensor;

typedef struct {
    slm_mapped_file file;
    st_tensor *tensors; /* n_tensors, owned */
    int n_tensors;
} st_file;

/* Maps and validates a .safetensors file. Release with st_close. */
slm_status st_open(const char *path, st_file *out);
/* Validates a safetensors image in memory (data must outlive *out); name is for messages. */
slm_status st_parse(const uint8_t *data, size_t size, const char *name, st_file *out);
/* Frees what st_open / st_parse made (a zeroed struct is fine). */
void st_close(st_file *f);
/* The tensor with this name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
/* The dtype's name as the header writes it ("F32", ...). */
const char *st_dtype_name(st_dtype t);
/* Converts a floating-point tensor (F32, F16, BF16, F64) to n_elems f32 values in out. */
slm_status st_to_f32(const st_file *f, const st_tensor *t, float *out);

#endif
