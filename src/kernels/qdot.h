/* qdot.h — dot products of quantised weight rows with quantised activations, the way
 * llama.cpp pairs them: q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl rows with q8_0 activations; q2_K,
 * q3_K, q4_K, q5_K, q6_K, iq4_xs rows with q8_K activations. A scalar reference for every pair (the
 * definition) and SIMD kernels (AVX2, AVX-512) chosen at run time with the other kernels.
 *
 * A product's inputs are quantised once, in every form its kernels read (qdot_inputs); a kernel
 * then takes one weight row against any number of those inputs and gives each the same floats
 * whatever the number (a row's result does not depend on the batch it is in). */
#ifndef SLM_KERNELS_QDOT_H
#define SLM_KERNELS_QDOT_H
#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/quants.h"

/* The activation format a weight type is paired with: SLM_TYPE_Q8_0, SLM_TYPE_Q8_K, or
 * SLM_TYPE_F32 for float weights (f32, f16, bf16). */
slm_type qdot_activation_type(slm_type weight_type);
/* Quantises n floats (a multiple of 32) to q8_0 blocks: d = max|x| / 127, q = round(x / d). */
void quantize_act_q8_0(const float *x, block_q8_0 *y, int64_t n);
/* Quantises n floats (a multiple of 256) to q8_K blocks, with the 16-element sums. */
void quantize_act_q8_K(const float *x, block_q8_K *y, int64_t n);

/* dot(weight row of n elements of type t, activations of the paired type), scalar reference. */
float qdot_scalar(slm_type t, const void *row, const void *act, int64_t n);
/* The 8 6-bit scales and mins of a q4_K / q5_K block from its 12 packed bytes. */
void qdot_k4_scales(const uint8_t *packed, uint8_t *sc, uint8_t *mn);

/* ---------------------------------------------------------------- a product's inputs */

/* Pairs of 32-element blocks in a row of n elements (a last odd block is paired with zeros). */
static inline int64_t qdot_block_pairs(int64_t n) { return (n / QK + 1) / 2; }

/* The forms an input can be prepared in (a bit set). */
enum {
    QDOT_Q8_0 = 1,   /* q8_0 blocks */
    QDOT_SCALES = 2, /* each q8_0 block's scale as a float, 8 times (qdot_act_scales) */
    QDOT_U8 = 4,     /* the q8_0 quants + 128 in pairs of blocks (qdot_vnni_prepare) */
    QDOT_SUMS = 8,   /* each q8_0 block's sum of quants, int16 (an even count: a last odd one 0) */
    QDOT_Q8_K = 16,  /* q8_K blocks (with their sums of 16) */
    QDOT_PAIRS = 32, /* the q8_0 blocks in pairs for the AVX-512 VNNI kernels (qdot_pair) */
    QDOT_INFO = 64,  /* each q8_0 block's scale, sum and scale x sum (qdot_block_info) */
    QDOT_BF16 = 128, /* the floats rounded to bf16 (as quantize_row rounds), zeros up to a multiple of 32 */
    QDOT_ALL_FORMS = 255,
};

/* The QDOT_INFO form: per q8_0 block of an input, its scale as a float, the sum of its quants,
 * and their product. */
typedef struct {
    float d;
    int32_t sum;
    float d_sum;
    int32_t unused;
} qdot_block_info;

/* The QDOT_PAIRS form of a q8_0 input, for the AVX-512 VNNI kernels of the 32-element types:
 * per pair of blocks 2p, 2p+1 (a last odd block paired with zeros) the quants + 128 in nibble
 * order (elements 0..15 of block 2p, of block 2p+1, then elements 16..31 of each: the order a
 * 4-bit row's two blocks unpack to), and the scale of each 4-quant lane
 * [d0 x 4, d1 x 4, d0 x 4, d1 x 4]. */
typedef struct {
    uint8_t qs[64];
    float d[16];
} qdot_pair;
static_assert(sizeof(qdot_pair) == 128, "qdot_pair size");

/* n inputs of cols floats, quantised: each form's input k at base + k * stride (64-byte
 * aligned); a form not prepared is NULL. Points into caller-owned scratch. */
typedef struct {
    int64_t cols;
    unsigned forms;
    uint8_t *q8_0, *scales, *u8, *sums, *q8_K, *pairs, *info, *bf16;
    size_t q8_0_stride, scales_stride, u8_stride, sums_stride, q8_K_stride, pairs_stride, info_stride, bf16_stride; /* bytes */
} qdot_inputs;

/* Bytes of scratch for n inputs of cols floats in the given forms (the forms others are made
 * from included). */
size_t qdot_inputs_bytes(unsigned forms, int n, int64_t cols);
/* Lays out n inputs of cols floats in those forms over scratch (qdot_inputs_bytes bytes). */
void qdot_inputs_layout(qdot_inputs *in, unsigned forms, int n, int64_t cols, void *scratch);
/* Quantises inputs b0..b1-1 (x + b * ld_x) into every form of in. */
void qdot_inputs_fill(const qdot_inputs *in, const float *x, int ld_x, int b0, int b1);

/* Input k of in in activation type at (q8_0 or q8_K blocks). */
static inline const void *qdot_input(const qdot_inputs *in, slm_type at, int k) {
    return at == SLM_TYPE_Q8_0 ? in->q8_0 + (size_t)k * in->q8_0_stride : in->q8_K + (size_t)k * in->q8_K_stride;
}

/* Floats of one q8_0 input's expanded scales: 8 per block, an even number of blocks. */
size_t qdot_act_scale_floats(int64_t n);
/* Writes each of the n/32 blocks' scales of a q8_0 input 8 times into scales
 * (qdot_act_scale_floats(n), caller-owned; a last odd block is followed by 8 zeros). */
void qdot_act_scales(const block_q8_0 *act, int64_t n, float *scales);
/* Bytes of one input of n elements in the QDOT_U8 form. */
size_t qdot_vnni_act_bytes(int64_t n);
/* Rearranges n q8_0 activations into act_u8 (qdot_vnni_act_bytes, caller-owned): the quantised
 * values + 128, a last odd block paired with zeros. */
void qdot_vnni_prepare(const block_q8_0 *act, int64_t n, uint8_t *act_u8);

/* ---------------------------------------------------------------- kernels */

/* Row `row` (in->cols elements of type t) against inputs first .. first + n_act - 1 of in:
 * out[k] = the row's dot with input first + k, the same floats whatever n_act and first. */
typedef void (*qdot_rows_fn)(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);

/* Rows row0, row0 + row_bytes, ... (n_rows of them) against the same inputs: outs[k][r] is row
 * r's dot with input first + k, exactly as qdot_rows_fn gives it (a kernel over several rows
 * saves a call per row, and may share loads between rows). */
typedef void (*qdot_many_fn)(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in,
                             int first, int n_act, float *const *outs);

/* A kernel and the input forms it reads. */
typedef struct {
    qdot_rows_fn fn;
    qdot_many_fn many; /* NULL, or the same kernel over several rows */
    unsigned forms;
    const char *name; /* "scalar", "avx2", "avx512", "avx512vnni" */
} qdot_kernel;

/* The kernel of weight type t with the selected kernel set (the best the CPU has, unless
 * kernels_force_scalar or kernels_allow_avx512 say otherwise); fn is NULL for a type without
 * quantised kernels. */
qdot_kernel qdot_kernel_for(slm_type t);
/* The scalar reference kernel of weight type t. */
qdot_kernel qdot_kernel_scalar(slm_type t);

#endif
