/* qdot_vnni.c — q4_0 / q5_0 / q8_0 / iq4_nl weight rows against q8_0 activations with AVX-512
 * VNNI: two 32-element blocks per 512-bit register and one VPDPBUSD for their 64 byte products.
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
#include "kernels/qdot_impl.h"

#define VNNI_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define VNNI_INLINE __attribute__((target(VNNI_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 4096

/* Blocks 2p and 2p+1 of a row as 64 signed bytes, their scales in lanes 0-7 and 8-15 (as the
 * expanded activation scales of qdot_act_scales lie: 8 per block). */
VNNI_INLINE __m512i weight_pair(slm_type t, const void *row, int64_t p, int64_t nb, __m512 *scales) {
    float d0, d1 = 0.0f;
    __m256i lo = q32_block(t, row, 2 * p, &d0);
    __m256i hi = 2 * p + 1 < nb ? q32_block(t, row, 2 * p + 1, &d1) : _mm256_setzero_si256();
    *scales = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(d0)), _mm256_set1_ps(d1), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* A pair of blocks ready for VPDPBUSD: 64 signed weights, the start that cancels the
 * activations' shift, and the two scales. A prompt's row is unpacked into these once and then
 * dotted with all its inputs. */
typedef struct {
    __m512i w, start;
    __m512 dw;
} vnni_pair;

/* Rows of at most this many pairs are unpacked once for a batch of more than QDOT_VNNI_MAX
 * inputs (48 KiB on the stack); longer rows unpack per QDOT_VNNI_MAX inputs. */
#define UNPACKED_MAX_PAIRS 256

VNNI_INLINE vnni_pair unpack_pair(slm_type t, const void *row, int64_t p, int64_t nb) {
    const __m512i shift = _mm512_set1_epi8((char)0x80);
    vnni_pair q;
    q.w = weight_pair(t, row, p, nb, &q.dw);
    /* -(128 * the sum of each 4 weights) */
    q.start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), shift, q.w));
    return q;
}

/* Pair p of a row from unpacked, or unpacked here when that is NULL. */
VNNI_INLINE vnni_pair row_pair(slm_type t, const void *row, size_t row_bytes, const vnni_pair *unpacked, int64_t p,
                               int64_t nb, int64_t np) {
    if (unpacked) return unpacked[p];
    _mm_prefetch((const char *)row + (size_t)p * row_bytes / (size_t)np + PREFETCH_BYTES, _MM_HINT_T0);
    return unpack_pair(t, row, p, nb);
}

/* acc[k] += the products of pair p with input k, for k < N. */
VNNI_INLINE void pair_step(vnni_pair q, int64_t p, const uint8_t *act, size_t act_stride, const float *scales,
                           size_t scale_stride, const int N, __m512 *acc) {
    for (int k = 0; k < N; k++) {
        __m512i a = _mm512_loadu_si512(act + (size_t)k * act_stride + 64 * (size_t)p);
        __m512i dot = _mm512_dpbusd_epi32(q.start, a, q.w);
        __m512 d = _mm512_mul_ps(q.dw, _mm512_loadu_ps(scales + (size_t)k * scale_stride + 16 * (size_t)p));
        acc[k] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot), acc[k]);
    }
}

/* One row against N inputs (inlined with constant t and N: 2N accumulators in registers, even
 * and odd pairs in two independent chains). The row's pairs come from unpacked when it is not
 * NULL, else they are unpacked here; the arithmetic is the same. */
VNNI_INLINE void vnni_body(slm_type t, const void *row, size_t row_bytes, const vnni_pair *unpacked, const uint8_t *act,
                           size_t act_stride, const float *scales, size_t scale_stride, const int N, int64_t n,
                           float *out) {
    const int64_t nb = n / QK, np = qdot_block_pairs(n);
    __m512 even[QDOT_VNNI_MAX], odd[QDOT_VNNI_MAX];
    for (int k = 0; k < N; k++) even[k] = odd[k] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 1 < np; p += 2) {
        pair_step(row_pair(t, row, row_bytes, unpacked, p, nb, np), p, act, act_stride, scales, scale_stride, N, even);
        pair_step(row_pair(t, row, row_bytes, unpacked, p + 1, nb, np), p + 1, act, act_stride, scales, scale_stride, N,
                  odd);
    }
    if (p < np) pair_step(row_pair(t, row, row_bytes, unpacked, p, nb, np), p, act, act_stride, scales, scale_stride, N, even);
    for (int k = 0; k < N; k++) out[k] = _mm512_reduce_add_ps(_mm512_add_ps(even[k], odd[k]));
}

/* One row against n_act inputs in groups of up to QDOT_VNNI_MAX (unpacked: the row's pairs or
 * NULL). */
VNNI_INLINE void vnni_groups(slm_type t, const void *row, size_t row_bytes, const vnni_pair *unpacked, const uint8_t *act,
                             size_t act_stride, const float *scales, size_t scale_stride, int n_act, int64_t n,
                             float *out) {
    for (int b = 0; b < n_act; b += QDOT_VNNI_MAX) {
        const uint8_t *a = act + (size_t)b * act_stride;
        const float *s = scales + (size_t)b * scale_stride;
#define VNNI_CASE(N) \
    case N: vnni_body(t, row, row_bytes, unpacked, a, act_stride, s, scale_stride, N, n, out + b); break
        switch (n_act - b) {
        VNNI_CASE(1); VNNI_CASE(2); VNNI_CASE(3); VNNI_CASE(4);
        VNNI_CASE(5); VNNI_CASE(6); VNNI_CASE(7);
        default: vnni_body(t, row, row_bytes, unpacked, a, act_stride, s, scale_stride, 8, n, out + b); break;
        }
#undef VNNI_CASE
    }
}

__attribute__((target(VNNI_TARGET))) static void vnni_type(slm_type t, const void *row, size_t row_bytes,
                                                         const uint8_t *act, size_t act_stride, const float *scales,
                                                         size_t scale_stride, int n_act, int64_t n, float *out) {
    const int64_t nb = n / QK, np = qdot_block_pairs(n);
    if (n_act <= QDOT_VNNI_MAX || np > UNPACKED_MAX_PAIRS) {
        vnni_groups(t, row, row_bytes, NULL, act, act_stride, scales, scale_stride, n_act, n, out);
        return;
    }
    vnni_pair unpacked[UNPACKED_MAX_PAIRS];
    for (int64_t p = 0; p < np; p++) unpacked[p] = unpack_pair(t, row, p, nb);
    vnni_groups(t, row, row_bytes, unpacked, act, act_stride, scales, scale_stride, n_act, n, out);
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

__attribute__((target(VNNI_TARGET))) static void vnni_iq4_nl(const void *row, size_t row_bytes, const uint8_t *act,
                                                           size_t act_stride, const float *scales, size_t scale_stride,
                                                           int n_act, int64_t n, float *out) {
    vnni_type(SLM_TYPE_IQ4_NL, row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out);
}

void qdot_q32_vnni_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const int64_t n = in->cols;
    const size_t row_bytes = (size_t)(n / QK) * (t == SLM_TYPE_Q8_0   ? sizeof(block_q8_0)
                                                 : t == SLM_TYPE_Q5_0 ? sizeof(block_q5_0)
                                                                      : sizeof(block_q4_0));
    const uint8_t *act = in->u8 + (size_t)first * in->u8_stride;
    const float *scales = (const float *)(in->scales + (size_t)first * in->scales_stride);
    const size_t act_stride = in->u8_stride, scale_stride = in->scales_stride / sizeof(float);
    switch (t) {
    case SLM_TYPE_Q8_0: vnni_q8_0(row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out); return;
    case SLM_TYPE_Q5_0: vnni_q5_0(row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out); return;
    case SLM_TYPE_IQ4_NL: vnni_iq4_nl(row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out); return;
    default: vnni_q4_0(row, row_bytes, act, act_stride, scales, scale_stride, n_act, n, out); return;
    }
}
