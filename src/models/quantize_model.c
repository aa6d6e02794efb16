/* quantize_model.c — re-encodes the weight matrices of a GGUF model to another type (q8_0,
 * q4_0, q4_K, q6_K, ...), keeping vectors (norms, biases) in f32 and all metadata. A matrix
 * whose rows are not a whole number of the target's blocks takes the nearest type that fits,
 * as llama.cpp does (q4_K -> q5_0, q6_K -> q8_0, iq4_xs -> iq4_nl, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tensor/quants.h"

/* GGUF general.file_type for a model that is mostly of this type. */
static uint32_t file_type_of(slm_type t) {
    switch (t) {
    case SLM_TYPE_F32: return 0;
    case SLM_TYPE_F16: return 1;
    case SLM_TYPE_Q4_0: return 2;
    case SLM_TYPE_Q4_1: return 3;
    case SLM_TYPE_Q8_0: return 7;
    case SLM_TYPE_Q5_0: return 8;
    case SLM_TYPE_Q5_1: return 9;
    case SLM_TYPE_Q2_K: return 10;
    case SLM_TYPE_Q3_K: return 11;
    case SLM_TYPE_Q4_K: return 14;
    case SLM_TYPE_Q5_K: return 16;
    case SLM_TYPE_Q6_K: return 18;
    case SLM_TYPE_IQ4_NL: return 25;
    case SLM_TYPE_IQ4_XS: return 30;
    case SLM_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* The type a matrix with rows of n elements gets when the target does not fit. */
static slm_type fallback_type(slm_type t, int64_t n) {
    if (n % slm_type_info(t)->block_elems == 0) return t;
    slm_type fb = t == SLM_TYPE_Q4_K ? SLM_TYPE_Q5_0 : t == SLM_TYPE_Q5_K ? SLM_TYPE_Q5_1 :
                  t == SLM_TYPE_Q6_K ? SLM_TYPE_Q8_0 : t == SLM_TYPE_IQ4_XS ? SLM_TYPE_IQ4_NL : SLM_TYPE_Q4_0;
    return n % QK == 0 ? fb : SLM_TYPE_F16;
}

static int is_quantisable_target(slm_type t) {
    return t != SLM_TYPE_Q8_1 && t != SLM_TYPE_Q8_K && quant_type_supported(t);
}

slm_status slm_quantize_gguf(const char *in_path, const char *out_path, const char *type_name,
                             void (*progress)(const char *tensor, int done, int total, void *user), void *user) {
    if (!in_path || !out_path || !type_name) return slm_error(SLM_ERR_INVALID_ARG, "quantize: missing argument");
    slm_type target = SLM_TYPE_COUNT;
    for (uint32_t t = 0; t < SLM_TYPE_COUNT; t++)
        if (slm_type_info(t)->name && strcasecmp(slm_type_info(t)->name, type_name) == 0) target = (slm_type)t;
    if (target == SLM_TYPE_COUNT || !is_quantisable_target(target))
        return slm_error(SLM_ERR_INVALID_ARG, "quantize: unknown target type '%s' (f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, "
                         "q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs)", type_name);
    gguf_file in;
    slm_status st = gguf_open(in_path, &in);
    if (st != SLM_OK) return st;
    gguf_writer *w = gguf_writer_new();
    void **bufs = slm_calloc((size_t)in.n_tensors + 1, sizeof(void *), "tensor buffers");
    float *row = NULL;
    if (!w || !bufs) st = SLM_ERR_NOMEM;
    for (uint64_t i = 0; i < in.n_kv && st == SLM_OK; i++)
        if (strcmp(in.kv[i].key, "general.file_type") != 0) st = gguf_writer_set(w, in.kv[i].key, &in.kv[i].value);
    if (st == SLM_OK) st = gguf_writer_set_u32(w, "general.file_type", file_type_of(target));
    for (uint64_t i = 0; i < in.n_tensors && st == SLM_OK; i++) {
        const gguf_tensor *t = &in.tensors[i];
        int64_t n = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
        int is_matrix = t->n_dims >= 2 && quant_type_supported(t->type);
        slm_type dst = is_matrix ? fallback_type(target, n) : (slm_type)t->type;
        if (progress) progress(t->name, (int)i, (int)in.n_tensors, user);
        if (!is_matrix || dst == (slm_type)t->type) { /* copied as it is */
            st = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->n_bytes);
            continue;
        }
        uint64_t src_row, dst_row, total;
        slm_type_row_bytes(t->type, (uint64_t)n, &src_row);
        slm_type_row_bytes(dst, (uint64_t)n, &dst_row);
        total = dst_row * (uint64_t)rows;
        free(row);
        row = slm_malloc((size_t)n * sizeof(float), "row");
        bufs[i] = slm_malloc((size_t)total, t->name);
        if (!row || !bufs[i]) {
            st = SLM_ERR_NOMEM;
            break;
        }
        for (int64_t r = 0; r < rows; r++) {
            dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * src_row, row, n);
            quantize_row(dst, row, (uint8_t *)bufs[i] + (size_t)r * dst_row, n);
        }
        st = gguf_writer_add_tensor(w, t->name, dst, t->n_dims, t->ne, bufs[i], total);
    }
    if (st == SLM_OK) st = gguf_writer_write(w, out_path);
    if (bufs)
        for (uint64_t i = 0; i < in.n_tensors; i++) free(bufs[i]);
    free(bufs);
    free(row);
    gguf_writer_free(w);
    gguf_close(&in);
    return st;
}
