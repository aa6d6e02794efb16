/* qdot.h — dot products of quantised weight rows with quantised activations, the way
 * llama.cpp pairs them: q4_0, q4_1, q5_0, q5_1, q8_0 rows with q8_0 activations; q2_K, q3_K,
 * q4_K, q5_K, q6_K rows with q8_K activations. A scalar reference for every pair and AVX2
 * versions of the common ones, chosen at run time with the other kernels. */
#ifndef SLM_KERNELS_QDOT_H
#define SLM_KERNELS_QDOT_H
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
/* The same with the selected kernels (AVX2 where there is a path, else the reference). */
float qdot(slm_type t, const void *row, const void *act, int64_t n);

/* The same row against n_act inputs act_stride bytes apart: out[k] = qdot(row, input k).
 * Unpacks each weight block once for up to 4 inputs (prompt batches). For q8_0 inputs, act_d
 * (may be NULL) holds their block scales as floats, n/32 per input. */
void qdot_multi(slm_type t, const void *row, const void *act, size_t act_stride, const float *act_d, int n_act,
                int64_t n, float *out);

/* AVX-512 VNNI kernels of the q4_0 / q5_0 / q8_0 rows (qdot_vnni.c; use them only when
 * kernels_avx512_vnni() is true). Their inputs are the q8_0 activations rearranged by
 * qdot_vnni_prepare. */
#define QDOT_VNNI_MAX 8
/* True for the weight types qdot_vnni_multi takes (q4_0, q5_0, q8_0). */
bool qdot_vnni_type(slm_type t);
/* Bytes of one rearranged input of n elements (its blocks in pairs, shifted to unsigned). */
size_t qdot_vnni_act_bytes(int64_t n);
/* Floats of one rearranged input's scales (16 per pair of blocks). */
size_t qdot_vnni_scale_floats(int64_t n);
/* Rearranges n q8_0 activations: act_u8 (qdot_vnni_act_bytes) gets the quantised values + 128,
 * act_scales (qdot_vnni_scale_floats) each block's scale 8 times; an odd last block is paired
 * with zeros. The caller owns all three buffers. */
void qdot_vnni_prepare(const block_q8_0 *act, int64_t n, uint8_t *act_u8, float *act_scales);
/* One weight row of n elements against n_act (1..QDOT_VNNI_MAX) rearranged inputs, act_stride
 * bytes and scale_stride floats apart: out[k] = dot(row, input k). */
void qdot_vnni_multi(slm_type t, const void *row, const uint8_t *act, size_t act_stride, const float *scales,
                     size_t scale_stride, int n_act, int64_t n, float *out);

#endif
