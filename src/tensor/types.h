/* types.h — tensor element types as numbered in GGUF (ggml's type ids), their block sizes,
 * and f16/bf16 <-> f32 conversion. Quantised block layouts live beside this file. */
#ifndef SLM_TENSOR_TYPES_H
#define SLM_TENSOR_TYPES_H
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    SLM_TYPE_F32 = 0,
    SLM_TYPE_F16 = 1,
    SLM_TYPE_Q4_0 = 2,
    SLM_TYPE_Q4_1 = 3,
    SLM_TYPE_Q5_0 = 6,
    SLM_TYPE_Q5_1 = 7,
    SLM_TYPE_Q8_0 = 8,
    SLM_TYPE_Q8_1 = 9,
    SLM_TYPE_Q2_K = 10,
    SLM_TYPE_Q3_K = 11,
    SLM_TYPE_Q4_K = 12,
    SLM_TYPE_Q5_K = 13,
    SLM_TYPE_Q6_K = 14,
    SLM_TYPE_Q8_K = 15,
    SLM_TYPE_IQ2_XXS = 16,
    SLM_TYPE_IQ2_XS = 17,
    SLM_TYPE_IQ3_XXS = 18,
    SLM_TYPE_IQ1_S = 19,
    SLM_TYPE_IQ4_NL = 20,
    SLM_TYPE_IQ3_S = 21,
    SLM_TYPE_IQ2_S = 22,
    SLM_TYPE_IQ4_XS = 23,
    SLM_TYPE_I8 = 24,
    SLM_TYPE_I16 = 25,
    SLM_TYPE_I32 = 26,
    SLM_TYPE_I64 = 27,
    SLM_TYPE_F64 = 28,
    SLM_TYPE_IQ1_M = 29,
    SLM_TYPE_BF16 = 30,
    SLM_TYPE_TQ1_0 = 34,
    SLM_TYPE_TQ2_0 = 35,
    SLM_TYPE_COUNT = 36,
} slm_type;

typedef struct {
    const char *name;   /* NULL for ids that are not a type */
    int block_elems;    /* elements per block */
    int block_bytes;    /* bytes per block */
} slm_type_traits;

/* Block size and name of a type; the name is NULL when id is not a known type. */
const slm_type_traits *slm_type_info(uint32_t id);
/* Bytes that n elements of type t take (n must be a multiple of the block size). Returns false
 * on overflow or a partial block. */
bool slm_type_row_bytes(slm_type t, uint64_t n, uint64_t *bytes);

/* IEEE half to float (exact). */
static inline float slm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000 | (man << 13);
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (man == 0) bits = sign;
    else { /* subnormal: normalise */
        exp = 113;
        while (!(man & 0x400)) { man <<= 1; exp--; }
        bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
/* Float to IEEE half, rounding to nearest even (as numpy's astype(float16)). */
uint16_t slm_f32_to_f16(float f);
/* bfloat16 to float (exact). */
static inline float slm_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#endif
