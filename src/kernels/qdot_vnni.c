/* qdot_vnni.c — the 32-element block types (q4_0, q5_0, q8_0, iq4_nl) against q8_0 activations with
 * AVX-512 VNNI: two blocks per 512-bit register and one VPDPBUSD for their 64 byte products.
 *
 * VPDPBUSD multiplies unsigned by signed bytes, so the activations are prepared shifted to
 * unsigned (a + 128, in the QDOT_PAIRS form of qdot.h: in the order two 4-bit blocks unpack
 * to, which is cheap for the weights) and each lane's integer sum starts at minus the shift's
 * share, 128 x (the sum of its 4 weights), computed once per pair of a row: every lane is then
 * the exact dot of 4 weights with 4 activations. Then lane by lane: acc += (weight scale x
 * activation scale) x sum. One input and up to QDOT_VNNI_MAX inputs run the same code, and a
 * row's result does not depend on the batch it is in. */
#include <immintrin.h>

#include "kernels/q32_avx2.h"
#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"

#define VNNI_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define VNNI_INLINE __attribute__((target(VNNI_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 4096

/* A pair of blocks ready for VPDPBUSD: 64 signed weights in nibble order, the start that
 * cancels the activations' shift, and the scale of each lane [d0 x 4, d1 x 4, d0 x 4, d1 x 4].
 * A prompt's row is unpacked into these once per pass and dotted with all its inputs. */
typedef struct {
    __m512i w, start;
    __m512 dw;
} vnni_pair;

/* Bytes of one block of a type. */
static inline size_t block_bytes(slm_type t) {
    return t == SLM_TYPE_Q8_0 ? sizeof(block_q8_0) : t == SLM_TYPE_Q5_0 ? sizeof(block_q5_0) : sizeof(block_q4_0); /* iq4_nl too */
}

/* Two f16 scales as [d0 x 4, d1 x 4, d0 x 4, d1 x 4]. */
VNNI_INLINE __m512 pair_scales(uint16_t d0, uint16_t d1) {
    const __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d0 | (uint32_t)d1 << 16)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1), _mm512_castps128_ps512(d));
}

/* 16 + 16 bytes of two 4-bit blocks' nibbles as 64 values in nibble order. */
VNNI_INLINE __m512i nibbles_pair(const uint8_t *qs0, const uint8_t *qs1) {
    const __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qs0)),
                                              _mm_loadu_si128((const __m128i *)qs1), 1);
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(y), _mm256_srli_epi16(y, 4), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(0xF));
}

/* Pair p of a row of nb blocks of type t, unpacked (a missing second block is zeros). */
VNNI_INLINE vnni_pair unpack_pair(slm_type t, const void *row, int64_t p, int64_t nb) {
    const bool two = 2 * p + 1 < nb;
    vnni_pair u;
    if (t == SLM_TYPE_Q8_0) {
        const block_q8_0 *b0 = (const block_q8_0 *)row + 2 * p, *b1 = two ? b0 + 1 : b0;
        __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b0->qs)),
                                       _mm256_loadu_si256((const __m256i *)b1->qs), 1);
        u.w = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)); /* 16-byte pieces in nibble order */
        u.dw = pair_scales(b0->d, two ? b1->d : 0);
    } else if (t == SLM_TYPE_Q5_0) {
        const block_q5_0 *b0 = (const block_q5_0 *)row + 2 * p, *b1 = two ? b0 + 1 : b0;
        uint32_t h0, h1;
        memcpy(&h0, b0->qh, 4);
        memcpy(&h1, b1->qh, 4);
        /* the fifth bits in nibble order: elements 0..15 of each block, then 16..31 */
        const uint64_t hi = (uint64_t)(h0 & 0xFFFF) | (uint64_t)(h1 & 0xFFFF) << 16 | (uint64_t)(h0 >> 16) << 32 |
                            (uint64_t)(h1 >> 16) << 48;
        const __m512i z = nibbles_pair(b0->qs, b1->qs);
        u.w = _mm512_sub_epi8(_mm512_mask_add_epi8(z, (__mmask64)hi, z, _mm512_set1_epi8(16)), _mm512_set1_epi8(16));
        u.dw = pair_scales(b0->d, two ? b1->d : 0);
    } else if (t == SLM_TYPE_IQ4_NL) { /* q4_0's nibbles, each looked up in the table */
        const block_iq4_nl *b0 = (const block_iq4_nl *)row + 2 * p, *b1 = two ? b0 + 1 : b0;
        u.w = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm256_castsi256_si128(iq4_table())), nibbles_pair(b0->qs, b1->qs));
        u.dw = pair_scales(b0->d, two ? b1->d : 0);
    } else {
        const block_q4_0 *b0 = (const block_q4_0 *)row + 2 * p, *b1 = two ? b0 + 1 : b0;
        u.w = _mm512_sub_epi8(nibbles_pair(b0->qs, b1->qs), _mm512_set1_epi8(8));
        u.dw = pair_scales(b0->d, two ? b1->d : 0);
    }
    if (!two) u.w = _mm512_maskz_mov_epi8(0x0000FFFF0000FFFFull, u.w); /* block 2p alone */
    /* -(128 x the sum of each 4 weights) */
    u.start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), u.w));
    return u;
}

/* Pair p of a row from unpacked, or unpacked here (streamed from memory, prefetched) when that
 * is NULL. */
VNNI_INLINE vnni_pair row_pair(slm_type t, const void *row, size_t pair_bytes, const vnni_pair *unpacked, int64_t p,
                               int64_t nb) {
    if (unpacked) return unpacked[p];
    _mm_prefetch((const char *)row + (size_t)p * pair_bytes + PREFETCH_BYTES, _MM_HINT_T0);
    return unpack_pair(t, row, p, nb);
}

/* acc[k] += pair p (u) against input k, for k < N. */
VNNI_INLINE void pair_step(vnni_pair u, int64_t p, const uint8_t *act, size_t act_stride, const int N, __m512 *acc) {
    for (int k = 0; k < N; k++) {
        const qdot_pair *a = (const qdot_pair *)(act + (size_t)k * act_stride) + p;
        const __m512i dot = _mm512_dpbusd_epi32(u.start, _mm512_load_si512(a->qs), u.w);
        acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(u.dw, _mm512_load_ps(a->d)), _mm512_cvtepi32_ps(dot), acc[k]);
    }
}

/* One row against N inputs (inlined with constant t and N: 2N accumulators in registers, even
 * and odd pairs in two chains). The row's pairs come from unpacked when it is not NULL, else
 * they are unpacked here (streamed, prefetched); the arithmetic is the same. */
VNNI_INLINE void vnni_body(slm_type t, const void *row, const vnni_pair *unpacked, const uint8_t *act,
                           size_t act_stride, const int N, int64_t n, float *out) {
    const int64_t nb = n / QK, np = qdot_block_pairs(n);
    const size_t pair_bytes = 2 * block_bytes(t);
    __m512 even[QDOT_VNNI_MAX], odd[QDOT_VNNI_MAX];
    for (int k = 0; k < N; k++) even[k] = odd[k] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 1 < np; p += 2) {
        pair_step(row_pair(t, row, pair_bytes, unpacked, p, nb), p, act, act_stride, N, even);
        pair_step(row_pair(t, row, pair_bytes, unpacked, p + 1, nb), p + 1, act, act_stride, N, odd);
    }
    if (p < np) pair_step(row_pair(t, row, pair_bytes, unpacked, p, nb), p, act, act_stride, N, even);
    for (int k = 0; k < N; k++) out[k] = _mm512_reduce_add_ps(_mm512_add_ps(even[k], odd[k]));
}

/* Rows of at most this many pairs are unpacked once for a pass of more than QDOT_VNNI_MAX
 * inputs (36 KiB on the stack); longer rows unpack per QDOT_VNNI_MAX inputs. */
#define UNPACKED_MAX_PAIRS 288

/* One row against n_act inputs in groups of up to QDOT_VNNI_MAX (unpacked: the row's pairs or
 * NULL). */
VNNI_INLINE void vnni_groups(slm_type t, const void *row, const vnni_pair *unpacked, const uint8_t *act,
                             size_t act_stride, int n_act, int64_t n, float *out) {
    for (int b = 0; b < n_act; b += QDOT_VNNI_MAX) {
        const uint8_t *a = act + (size_t)b * act_stride;
#define VNNI_CASE(N) \
    case N: vnni_body(t, row, unpacked, a, act_stride, N, n, out + b); break
        switch (n_act - b) {
        VNNI_CASE(1); VNNI_CASE(2); VNNI_CASE(3); VNNI_CASE(4);
        VNNI_CASE(5); VNNI_CASE(6); VNNI_CASE(7);
        default: vnni_body(t, row, unpacked, a, act_stride, 8, n, out + b); break;
        }
#undef VNNI_CASE
    }
}

/* Rows row0 + r * row_bytes (r < n_rows) of type t against n_act inputs: out[r * n_act + k]. */
VNNI_INLINE void vnni_rows(slm_type t, const void *row0, size_t row_bytes, int n_rows, const uint8_t *act,
                           size_t act_stride, int n_act, int64_t n, float *out) {
    const int64_t nb = n / QK, np = qdot_block_pairs(n);
    for (int r = 0; r < n_rows; r++) {
        const void *row = (const uint8_t *)row0 + (size_t)r * row_bytes;
        float *o = out + (size_t)r * n_act;
        if (n_act <= QDOT_VNNI_MAX || np > UNPACKED_MAX_PAIRS) {
            vnni_groups(t, row, NULL, act, act_stride, n_act, n, o);
            continue;
        }
        vnni_pair unpacked[UNPACKED_MAX_PAIRS];
        for (int64_t p = 0; p < np; p++) unpacked[p] = unpack_pair(t, row, p, nb);
        vnni_groups(t, row, unpacked, act, act_stride, n_act, n, o);
    }
}

/* One function per type, so that every step above is specialised for it. */
#define VNNI_TYPE(name, T)                                                                                        \
    __attribute__((target(VNNI_TARGET))) static void name(const void *row0, size_t row_bytes, int n_rows,         \
                                                        const uint8_t *act, size_t act_stride, int n_act, int64_t n, \
                                                        float *out) {                                            \
        vnni_rows(T, row0, row_bytes, n_rows, act, act_stride, n_act, n, out);                                    \
    }
VNNI_TYPE(vnni_q4_0, SLM_TYPE_Q4_0)
VNNI_TYPE(vnni_q5_0, SLM_TYPE_Q5_0)
VNNI_TYPE(vnni_q8_0, SLM_TYPE_Q8_0)
VNNI_TYPE(vnni_iq4_nl, SLM_TYPE_IQ4_NL)
#undef VNNI_TYPE

/* Rows against inputs: out[r * n_act + k]. */
static void q32_vnni_rows(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                          int n_act, float *out) {
    const uint8_t *act = in->pairs + (size_t)first * in->pairs_stride;
    switch (t) {
    case SLM_TYPE_Q8_0: vnni_q8_0(row0, row_bytes, n_rows, act, in->pairs_stride, n_act, in->cols, out); return;
    case SLM_TYPE_Q5_0: vnni_q5_0(row0, row_bytes, n_rows, act, in->pairs_stride, n_act, in->cols, out); return;
    case SLM_TYPE_IQ4_NL: vnni_iq4_nl(row0, row_bytes, n_rows, act, in->pairs_stride, n_act, in->cols, out); return;
    default: vnni_q4_0(row0, row_bytes, n_rows, act, in->pairs_stride, n_act, in->cols, out); return;
    }
}

void qdot_q32_vnni_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                        int n_act, float *const *outs) {
    float out[64];
    for (int r = 0; r < n_rows; r++)
        for (int g = 0; g < n_act; g += 64) {
            const int ng = n_act - g < 64 ? n_act - g : 64;
            q32_vnni_rows(t, (const uint8_t *)row0 + (size_t)r * row_bytes, 0, 1, in, first + g, ng, out);
            for (int k = 0; k < ng; k++) outs[g + k][r] = out[k];
        }
}

void qdot_q32_vnni_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    q32_vnni_rows(t, row, 0, 1, in, first, n_act, out);
}
