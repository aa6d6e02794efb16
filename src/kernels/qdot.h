/* qdot.h — dot products of quantised weight rows with quantised activations, the way
 * llama.cpp pairs them: q4_0, q4_1, q5_0, q5_1, q8_0 rows with q8_0 activations; q2_K, q3_K,
 * q4_K, q5_K, q6_K rows with q8_K activations. A scalar reference for every pair and AVX2
 * versions of the common ones, chosen at run time with the other kernels. */
#ifndef SLM_KERNELS_QDOT_H
#define SLM_KERNELS_QDOT_H
#include <stdbool.h>
#include <math.h>
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

/* Floats of one q8_0 input's expanded scales (qdot_act_scales): 8 per block, an even number of
 * blocks. */
size_t qdot_act_scale_floats(int64_t n);
/* Writes each of the n/32 blocks' scales of a q8_0 input 8 times into scales
 * (qdot_act_scale_floats(n), caller-owned; a last odd block is followed by 8 zeros), the form
 * the batched kernels multiply by. */
void qdot_act_scales(const block_q8_0 *act, int64_t n, float *scales);
/* The same row against n_act (>= 1) inputs act_stride bytes apart: out[k] = qdot(row, input k)
 * exactly, whatever n_act. Each weight block serves up to 4 inputs per load; a q4_0 / q5_0 /
 * q8_0 row is unpacked once for all of them (prompt batches). For q8_0 inputs, scales (may be
 * NULL) holds their expanded scales (qdot_act_scales), scale_stride floats apart. */
void qdot_multi(slm_type t, const void *row, const void *act, size_t act_stride, const float *scales,
                size_t scale_stride, int n_act, int64_t n, float *out);

/* The 8 6-bit scales and mins of a q4_K / q5_K block from its 12 packed bytes. */
void qdot_k4_scales(const uint8_t *packed, uint8_t *sc, uint8_t *mn);

/* AVX-512 kernels of the q4_K / q6_K rows against q8_K inputs (qdot_k_avx512.c; use them only
 * when kernels_avx512_vnni() is true): the AVX2 kernels' integer sums two 32-element pieces per
 * register, so their results equal the AVX2 kernels' exactly. */
/* True for the weight types qdot_k_avx512_multi takes (q4_K, q6_K). */
bool qdot_k_avx512_type(slm_type t);
/* One q4_K / q6_K row of n elements against n_act (>= 1) q8_K inputs act_stride bytes apart:
 * out[k] = qdot(row, input k), the AVX2 kernels' floats exactly, whatever n_act. */
void qdot_k_avx512_multi(slm_type t, const void *row, const void *act, size_t act_stride, int n_act, int64_t n,
                         float *out);

/* AVX-512 VNNI kernels of the q4_0 / q5_0 / q8_0 rows (qdot_vnni.c; use them only when
 * kernels_avx512_vnni() is true). Their inputs are the q8_0 activations rearranged by
 * qdot_vnni_prepare. */
#define QDOT_VNNI_MAX 8
/* True for the weight types qdot_vnni_multi takes (q4_0, q5_0, q8_0). */
bool qdot_vnni_type(slm_type t);
/* Bytes of one rearranged input of n elements (its blocks in pairs, shifted to unsigned). */
size_t qdot_vnni_act_bytes(int64_t n);
/* Rearranges n q8_0 activations into act_u8 (qdot_vnni_act_bytes, caller-owned): the quantised
 * values + 128, a last odd block paired with zeros. */
void qdot_vnni_prepare(const block_q8_0 *act, int64_t n, uint8_t *act_u8);
/* One weight row of n elements against n_act (>= 1) rearranged inputs, act_stride bytes apart,
 * with their expanded scales (qdot_act_scales) scale_stride floats apart: out[k] = dot(row,
 * input k). Up to QDOT_VNNI_MAX inputs share each weight load; more than that share one
 * unpacking of the row. A result does not depend on n_act. */
void qdot_vnni_multi(slm_type t, const void *row, const uint8_t *act, size_t act_stride, const float *scales,
                     size_t scale_stride, int n_act, int64_t n, float *out);

#endif
