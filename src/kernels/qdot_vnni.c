/* qdot_vnni.c — q4_0 / q5_0 / q8_0 weight rows against q8_0 activations with AVX-512 VNNI:
 * two 32-element blocks per 512-bit register and one VPDPBUSD for their 64 byte products.
 *
 * VPDPBUSD multiplies unsigned by signed bytes, so the activations are stored shifted to
 * unsigned (a + 128, by qdot_vnni_prepare) and the shift's share, 128 * (sum of 4 weights),
 * is taken off by starting each integer sum at its negation: every lane is then the exact
 * integer dot of 4 weights with 4 activations, as in the AVX2 kernels. The float side is the
 * same per block (scale = weight scale x activation scale, one fused multiply-add per lane);
 * the blocks fall into other lanes than in the AVX2 kernels, so the two paths agree to
 * rounding, not bit for bit. One input and up to QDOT_VNNI_MAX inputs run the same code, so a
 * row's result does not depend on the batch it is in. */
#include "kernels/qdot.h"

#include <immintrin.h>

#include "kernels/q32_avx2.h"

#define VNNI_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define VNNI_INLINE __attribute__((target(VNNI_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 2048

/* Pairs of blocks in a row of n elements (a last odd block is paired with zeros). */
static inline int64_t block_pairs(int64_t n) { return (n / QK + 1) / 2; }

size_t qdot_vnni_act_bytes(int64_t n) { return (size_t)block_pairs(n) * 64; }

void qdot_vnni_prepare(const block_q8_0 *act, int64_t n, uint8_t *act_u8) {
    const int64_t nb = n / QK, np = block_pairs(n);
    for (int64_t b = 0; b < 2 * np; b++)
        for (int i = 0; i < 32; i++) act_u8[32 * b + i] = b < nb ? (uint8_t)(act[b].qs[i] ^ 0x80) : 0x80;
}

/* Blocks 2p and 2p+1 of a row as 64 signed bytes, their scales in lanes 0-7 and 8-15 (as the
 * expanded activation scales of qdot_act_scales lie: 8 per block). */
VNNI_INLINE __m512i weight_pair(slm_type t, const void *row, int64_t p, int64_t nb, __m512 *scales) {
    float d0, d1 = 0.0f;
    __m256i lo = q32_block(t, row, 2 * p, &d0);
    __m256i hi = 2 * p + 1 < nb ? q32_block(t, row, 2 * p + 1, &d1) : _mm256_setzero_si256();
    *scales = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(d0)), _mm256_set1_ps(d1), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* One row against N inputs (inlined with constant t and N: 2N accumulators in registers,
 * pairs alternating between them as two independent chains). */
VNNI_INLINE void vnni_body(slm_type t, const void *row, size_t row_bytes, const uint8_t *act, size_t act_stride,
                           const float *scales, size_t scale_stride, const int N, int64_t n, float *out) {
    const int64_t nb = n / QK, np = block_pairs(n);
    const __m512i shift = _mm512_set1_epi8((char)0x80);
    __m512 acc[QDOT_VNNI_MAX][2];
    for (int k = 0; k < N; k++) acc[k][0] = acc[k][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        const char *ahead = (const char *)row + (size_t)p * row_bytes / (size_t)np + PREFETCH_BYTES;
        _mm_prefetch(ahead, _MM_HINT_T0);
        __m512 dw;
        __m512i w = weight_pair(t, row, p, nb, &dw);
        /* -(128 * the sum of each 4 weights): the start that cancels the activations' shift */
        __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), shift, w));
        for (int k = 0; k < N; k++) {
            __m512i a = _mm512_loadu_si512(act + (size_t)k * act_stride + 64 * (size_t)p);
            __m512i dot = _mm512_dpbusd_epi32(start, a, w);
            __m512 d = _mm512_mul_ps(dw, _mm512_loadu_ps(scales + (size_t)k * scale_stride + 16 * (size_t)p));
            acc[k][p & 1] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot), acc[k][p & 1]);
        }
    }
    for (int k = 0; k < N; k++) out[k] = _mm512_reduce_add_ps(_mm512_add_ps(acc[k][0], acc[k][1]));
}

__attribute__((target(VNNI_TARGET))) static void vnni_type(slm_type t, const void *row, size_t row_bytes,
                                                         const uint8_t *act, size_t act_stride, const float *scales,
                                                         size_t scale_stride, int n_act, int64_t n, float *out) {
#define VNNI_CASE(N) \
    case N: vnni_body(t, row, row_bytes, act, act_stride, scales, scale_stride, N, n, out); return
    switch (n_act) {
    VNNI_CASE(1); VNNI_CASE(2); VNNI_CASE(3); VNNI_CASE(4);
    VNNI_CASE(5); VNNI_CASE(6); VNNI_CASE(7);
    default: vnni_body(t, row, row_bytes, act, act_stride, scales, scale_stride, 8, n, out); return;
    }
#undef VNNI_CASE
}

__attribute__((target(VNNI_TARGET))) static void vnni_q8_0(const void *row, size_t row_bytes, const uint8_t *act,
                                                         size_t act_stride, const float *scales, size_t scale_stride,
                                                         int n_act, int64_t n, float *out) {
    vnni_type(SLM_TYPE_Q8_0, row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out);
}

__attribute__((target(VNNI_TARGET))) static void vnni_q5_0(const void *row, size_t row_bytes, const uint8_t *act,
                                                         size_t act_stride, const float *scales, size_t scale_stride,
                                                         int n_act, int64_t n, float *out) {
    vnni_type(SLM_TYPE_Q5_0, row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out);
}

__attribute__((target(VNNI_TARGET))) static void vnni_q4_0(const void *row, size_t row_bytes, const uint8_t *act,
                                                         size_t act_stride, const float *scales, size_t scale_stride,
                                                         int n_act, int64_t n, float *out) {
    vnni_type(SLM_TYPE_Q4_0, row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out);
}

bool qdot_vnni_type(slm_type t) { return t == SLM_TYPE_Q4_0 || t == SLM_TYPE_Q5_0 || t == SLM_TYPE_Q8_0; }

void qdot_vnni_multi(slm_type t, const void *row, const uint8_t *act, size_t act_stride, const float *scales,
                     size_t scale_stride, int n_act, int64_t n, float *out) {
    const size_t row_bytes = (size_t)(n / QK) * (t == SLM_TYPE_Q8_0   ? sizeof(block_q8_0)
                                                 : t == SLM_TYPE_Q5_0 ? sizeof(block_q5_0)
                                                                      : sizeof(block_q4_0));
    switch (t) {
    case SLM_TYPE_Q8_0: vnni_q8_0(row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out); return;
    case SLM_TYPE_Q5_0: vnni_q5_0(row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out); return;
    default: vnni_q4_0(row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out); return;
    }
}
