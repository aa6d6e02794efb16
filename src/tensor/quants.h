/* quants.h — quantised block formats as GGUF stores them (ggml's layouts), with their sizes
 * checked by the compiler, and the reference (scalar) conversions to and from f32.
 *
 * Every block covers QK (32) or QK_K (256) consecutive elements of a row. "d" is a scale and
 * "m"/"dmin" a minimum, stored as IEEE half (uint16_t) except in q8_K (float).
 *   q4_0: x = d * (q - 8),      q 4-bit; qs[j] low nibble = element j, high nibble = j + 16
 *   q4_1: x = d * q + m
 *   q5_0: x = d * (q - 16),     q 5-bit: low 4 bits as q4_0, bit 4 of element j in qh bit j
 *   q5_1: x = d * q + m
 *   q8_0: x = d * q,            q int8
 *   q8_1: x = d * q; s = d * sum(q)  (an activation format)
 *   K-quants: a 256-element super-block of 16- or 32-element sub-blocks, each sub-block with
 *   its own quantised scale (and minimum), scaled again by the super-block's d (and dmin).
 *   q8_K: x = d * q, with bsums[i] = sum of q over elements 16i..16i+15 (an activation format)
 *   iq4_nl: x = d * kvalues[q], q 4-bit laid out as q4_0, kvalues a fixed non-linear table
 *   iq4_xs: 256 elements, 8 sub-blocks of 32 with 6-bit scales ls: x = d * (ls - 32) * kvalues[q]
 */
#ifndef SLM_TENSOR_QUANTS_H
#define SLM_TENSOR_QUANTS_H
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "tensor/types.h"

#define QK 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct {
    uint16_t d;
    uint8_t qs[QK / 2];
} block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

typedef struct {
    uint16_t d, m;
    uint8_t qs[QK / 2];
} block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QK / 2];
} block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QK / 2];
} block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

typedef struct {
    uint16_t d;
    int8_t qs[QK];
} block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

typedef struct {
    uint16_t d, s;
    int8_t qs[QK];
} block_q8_1;
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* 16 sub-blocks of 16: scales[i] low nibble = scale, high nibble = min (4 bits each);
 * x = d * scale * q - dmin * min, q 2-bit (4 per byte). */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin;
} block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

/* 16 sub-blocks of 16 with 6-bit signed scales packed in 12 bytes; q 3-bit: 2 low bits in qs,
 * the high bit in hmask; x = d * (scale - 32) * (q - 4 if the high bit is clear else q). */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

/* 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes;
 * x = d * scale * q - dmin * min, q 4-bit. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

/* As q4_K with a fifth bit per element in qh. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* 16 sub-blocks of 16 with int8 scales; q 6-bit: low 4 bits in ql, high 2 in qh;
 * x = d * scale * (q - 32). */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* The 16 values a 4-bit index of iq4_nl / iq4_xs stands for (a fact of the format). */
extern const int8_t IQ4_KVALUES[16];

/* 32 elements: element j in the low nibble of qs[j], element j + 16 in its high nibble. */
typedef struct {
    uint16_t d;
    uint8_t qs[QK / 2];
} block_iq4_nl;
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");

/* 8 sub-blocks of 32; sub-block s has the 6-bit scale ls = (low 4 bits: nibble s % 2 of
 * scales_l[s / 2], low nibble for even s) | (high 2 bits: bits 2s, 2s + 1 of scales_h) << 4,
 * and its quants in qs[16s .. 16s + 15] laid out as iq4_nl. */
typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* True if dequantize_row / quantize_row handle this type. */
bool quant_type_supported(slm_type type);
/* Converts n elements (a whole number of blocks) of type `type` at src to floats.
 * Handles f32, f16, bf16 and every block type above. Reference code, bit-exact with ggml. */
void dequantize_row(slm_type type, const void *src, float *dst, int64_t n);
/* Quantises n floats (a whole number of blocks) to type `type` at dst with the reference
 * rounding (f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0: bit-exact with the gguf package, save that
 * f16 quiets signalling NaNs; q2_K..q6_K: scales searched by weighted least squares as ggml's
 * reference quantisers do, though the bytes need not equal llama.cpp's; iq4_nl / iq4_xs: the
 * nearest table value under a searched scale). Handles f32, f16, bf16 and every type above. */
void quantize_row(slm_type type, const float *src, void *dst, int64_t n);
/* Quantises n floats (a whole number of blocks) to q8_K, the activations of K-quant dot
 * products: d = max|x| / 127, q in [-127, 127], bsums the exact sums of 16 quants. */
void quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);

#endif
