/* qdot_iq4.c — iq4_xs weight rows against q8_K activations, with AVX2 and with AVX-512 (BW,
 * VNNI, and BMI2 for the scales). A sub-block's 16 bytes of nibbles become 32 signed weights by one table lookup
 * (vpshufb); the byte products pair |w| with the activations signed by w (so that vpmaddubsw
 * sees an unsigned operand) and are scaled by the sub-block's ls - 32 as 16-bit integers, so a
 * block's sums are exact integers in 8 lanes of 32 bits (lane l: bytes 4l..4l+3 of every
 * sub-block). The AVX-512 kernel works on two sub-blocks per register and folds its 16 lanes
 * into the same 8, so both kernels add the same integers and take the same float steps: their
 * results are bit-identical. One body serves 1..8 inputs per weight load (decoding: the row
 * streamed from memory); a batch's row is unpacked once for all its inputs. */
#include "kernels/qdot.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/q32_avx2.h"
#include "kernels/qdot_impl.h"

#define IQ4_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline
#define IQ4_512_TARGET "avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define IQ4_512_INLINE __attribute__((target(IQ4_512_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 4096

/* Inputs per weight load in the AVX2 kernel (the AVX-512 one takes QDOT_VNNI_MAX). */
#define IQ4_GROUP 4
/* Rows of at most this many blocks are unpacked once for a batch of more inputs than one group
 * takes (AVX2 27 KiB, AVX-512 18 KiB on the stack); longer rows unpack per group. */
#define IQ4_UNPACKED_MAX 48

/* Asks for a block's 136 bytes PREFETCH_BYTES ahead: its first, middle and last byte's lines. */
IQ4_AVX2_INLINE void iq4_prefetch(const block_iq4_xs *w) {
    const char *p = (const char *)w + PREFETCH_BYTES;
    _mm_prefetch(p, _MM_HINT_T0);
    _mm_prefetch(p + 64, _MM_HINT_T0);
    _mm_prefetch(p + sizeof(block_iq4_xs) - 1, _MM_HINT_T0);
}

/* The 8 sub-block scales of a block, ls - 32, each in both 16-bit halves of its 32-bit lane
 * (the multiplier of a pair of 16-bit byte-product sums). */
IQ4_AVX2_INLINE __m256i iq4_xs_scales(const block_iq4_xs *w) {
    uint32_t low;
    memcpy(&low, w->scales_l, 4);
    const __m256i lo_shift = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i hi_shift = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)low), lo_shift), _mm256_set1_epi32(0xF));
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(w->scales_h), hi_shift), _mm256_set1_epi32(3));
    const __m256i ls = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    return _mm256_or_si256(_mm256_and_si256(ls, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(ls, 16));
}

/* ---------------------------------------------------------------- AVX2 */

/* The 32 signed weights of sub-block j: its 16 bytes in both 128-bit lanes, shifted by 4 in
 * the high lane, masked to nibbles and looked up in the table. */
IQ4_AVX2_INLINE __m256i iq4_xs_weights(const block_iq4_xs *w, int j) {
    const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(w->qs + 16 * j)));
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    const __m256i nib = _mm256_and_si256(_mm256_srlv_epi32(q, shift), _mm256_set1_epi8(0xF));
    return _mm256_shuffle_epi8(iq4_table(), nib);
}

/* A block ready for the AVX2 byte products: per sub-block its signed weights and their absolute
 * values; the scales as iq4_xs_scales gives them; d as a float. */
typedef struct {
    __m256i w[8], aw[8];
    int32_t s[8];
    float d;
} iq4_unpacked;

/* Unpacks block w into u. */
IQ4_AVX2_INLINE void iq4_unpack(const block_iq4_xs *w, iq4_unpacked *u) {
    for (int j = 0; j < 8; j++) {
        u->w[j] = iq4_xs_weights(w, j);
        u->aw[j] = _mm256_sign_epi8(u->w[j], u->w[j]);
    }
    _mm256_storeu_si256((__m256i *)u->s, iq4_xs_scales(w));
    u->d = h2f(w->d);
}

/* One row (nb blocks) against N (1..IQ4_GROUP) q8_K inputs act_stride bytes apart: per block
 * the exact integer sums in 8 lanes, then (d x input d) x sums into 8 float lanes, summed once at
 * the end. The blocks come from unpacked, or (NULL: decoding) are streamed and unpacked here; the
 * arithmetic is the same. */
IQ4_AVX2_INLINE void iq4_avx2_body(const block_iq4_xs *row, const iq4_unpacked *unpacked, const uint8_t *act,
                                   size_t act_stride, const int N, int64_t nb, float *out) {
    __m256 accf[IQ4_GROUP];
    for (int k = 0; k < N; k++) accf[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const block_iq4_xs *w = row + b;
        int32_t streamed[8];
        const int32_t *s = streamed;
        float d;
        if (unpacked) {
            s = unpacked[b].s;
            d = unpacked[b].d;
        } else {
            iq4_prefetch(w);
            _mm256_storeu_si256((__m256i *)streamed, iq4_xs_scales(w));
            d = h2f(w->d);
        }
        __m256i acc[IQ4_GROUP];
        for (int k = 0; k < N; k++) acc[k] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i wv, aw;
            if (unpacked) {
                wv = unpacked[b].w[j];
                aw = unpacked[b].aw[j];
            } else {
                wv = iq4_xs_weights(w, j);
                aw = _mm256_sign_epi8(wv, wv);
            }
            const __m256i sc = _mm256_set1_epi32(s[j]);
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m256i av = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(a->qs + 32 * j)), wv);
                acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, av), sc));
            }
        }
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            accf[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(acc[k]), accf[k]);
        }
    }
    for (int k = 0; k < N; k++) out[k] = hsum_ps(accf[k]);
}

/* One row against n_act inputs, IQ4_GROUP at a time (unpacked: the row's blocks, or NULL). */
IQ4_AVX2_INLINE void iq4_avx2_groups(const block_iq4_xs *row, const iq4_unpacked *unpacked, const uint8_t *act,
                                     size_t act_stride, int n_act, int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += IQ4_GROUP) {
        const uint8_t *a = act + (size_t)g * act_stride;
        switch (n_act - g) {
        case 1: iq4_avx2_body(row, unpacked, a, act_stride, 1, nb, out + g); break;
        case 2: iq4_avx2_body(row, unpacked, a, act_stride, 2, nb, out + g); break;
        case 3: iq4_avx2_body(row, unpacked, a, act_stride, 3, nb, out + g); break;
        default: iq4_avx2_body(row, unpacked, a, act_stride, IQ4_GROUP, nb, out + g); break;
        }
    }
}

/* One row against n_act inputs: streamed for one group, else unpacked once where it fits. */
__attribute__((target("avx2,fma,f16c"))) static void iq4_avx2_multi(const block_iq4_xs *row, const uint8_t *act,
                                                                   size_t act_stride, int n_act, int64_t nb,
                                                                   float *out) {
    if (n_act <= IQ4_GROUP || nb > IQ4_UNPACKED_MAX) {
        iq4_avx2_groups(row, NULL, act, act_stride, n_act, nb, out);
        return;
    }
    iq4_unpacked unpacked[IQ4_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++) iq4_unpack(row + b, unpacked + b);
    iq4_avx2_groups(row, unpacked, act, act_stride, n_act, nb, out);
}

void qdot_iq4_xs_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    (void)t;
    iq4_avx2_multi(row, in->q8_K + (size_t)first * in->q8_K_stride, in->q8_K_stride, n_act, in->cols / QK_K, out);
}

/* ---------------------------------------------------------------- AVX-512 */

/* The 64 signed weights of sub-blocks 2c and 2c + 1 (against input bytes 64c..64c+63): their
 * 32 bytes A, B permuted to [A, A, B, B], shifted by 4 in the odd 128-bit lanes, masked to nibbles
 * and looked up in the table. */
IQ4_512_INLINE __m512i iq4_512_weights(const block_iq4_xs *w, int c) {
    const __m512i q = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3),
                                               _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(w->qs + 32 * c))));
    const __m512i shift = _mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4);
    const __m512i nib = _mm512_and_si512(_mm512_srlv_epi32(q, shift), _mm512_set1_epi8(0xF));
    return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm256_castsi256_si128(iq4_table())), nib);
}

/* iq4_xs_scales' result in fewer steps, with BMI2's PDEP (fast on every CPU with AVX-512): the
 * 8 6-bit scales spread to bytes, each byte doubled, widened to 16 bits, less 32. */
IQ4_512_INLINE __m256i iq4_512_scales(const block_iq4_xs *w) {
    uint32_t low;
    memcpy(&low, w->scales_l, 4);
    const uint64_t ls = _pdep_u64(low, 0x0F0F0F0F0F0F0F0FULL) | _pdep_u64(w->scales_h, 0x3030303030303030ULL);
    const __m128i v = _mm_cvtsi64_si128((long long)ls);
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v)), _mm256_set1_epi16(32));
}

/* Sub-block scales 2c (lanes 0-7) and 2c + 1 (lanes 8-15) from the 8 lanes of a block's scales. */
IQ4_512_INLINE __m512i iq4_512_scale_pair(__m256i scales, int c) {
    const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * c)), _mm256_set1_epi32(2 * c + 1), 1);
    return _mm512_permutexvar_epi32(idx, _mm512_castsi256_si512(scales));
}

/* A block ready for the 512-bit byte products: per pair of sub-blocks the absolute weights and
 * the mask of the negative ones; the scales (iq4_512_scales); d as a float. */
typedef struct {
    __m512i aw[4];
    __m256i s;
    __mmask64 neg[4];
    float d;
} iq4_512_unpacked;

/* Unpacks block w into u. */
IQ4_512_INLINE void iq4_512_unpack(const block_iq4_xs *w, iq4_512_unpacked *u) {
    for (int c = 0; c < 4; c++) {
        const __m512i wv = iq4_512_weights(w, c);
        u->aw[c] = _mm512_abs_epi8(wv);
        u->neg[c] = _mm512_movepi8_mask(wv);
    }
    u->s = iq4_512_scales(w);
    u->d = h2f(w->d);
}

/* One row against N (1..QDOT_VNNI_MAX) q8_K inputs: the AVX2 body's integer sums on two
 * sub-blocks per register (activations negated where the weight is negative, VPDPWSSD for the
 * scales), folded to its 8 lanes, then its float steps. The blocks come unpacked or are streamed
 * and unpacked here; the arithmetic is the same. */
IQ4_512_INLINE void iq4_512_body(const block_iq4_xs *row, const iq4_512_unpacked *unpacked, const uint8_t *act,
                                 size_t act_stride, const int N, int64_t nb, float *out) {
    __m256 accf[QDOT_VNNI_MAX];
    for (int k = 0; k < N; k++) accf[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const block_iq4_xs *w = row + b;
        __m256i s;
        float d;
        if (unpacked) {
            s = unpacked[b].s;
            d = unpacked[b].d;
        } else {
            iq4_prefetch(w);
            s = iq4_512_scales(w);
            d = h2f(w->d);
        }
        __m512i acc[QDOT_VNNI_MAX];
        for (int k = 0; k < N; k++) acc[k] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i aw;
            __mmask64 neg;
            if (unpacked) {
                aw = unpacked[b].aw[c];
                neg = unpacked[b].neg[c];
            } else {
                const __m512i wv = iq4_512_weights(w, c);
                aw = _mm512_abs_epi8(wv);
                neg = _mm512_movepi8_mask(wv);
            }
            const __m512i sc = iq4_512_scale_pair(s, c);
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m512i x = _mm512_loadu_si512(a->qs + 64 * c);
                const __m512i av = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
                acc[k] = _mm512_dpwssd_epi32(acc[k], _mm512_maddubs_epi16(aw, av), sc);
            }
        }
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            const __m256i isum = _mm256_add_epi32(_mm512_castsi512_si256(acc[k]), _mm512_extracti64x4_epi64(acc[k], 1));
            accf[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(isum), accf[k]);
        }
    }
    for (int k = 0; k < N; k++) out[k] = hsum_ps(accf[k]);
}

/* One row against n_act inputs, QDOT_VNNI_MAX at a time (unpacked: the row's blocks, or NULL). */
IQ4_512_INLINE void iq4_512_groups(const block_iq4_xs *row, const iq4_512_unpacked *unpacked, const uint8_t *act,
                                   size_t act_stride, int n_act, int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += QDOT_VNNI_MAX) {
        const uint8_t *a = act + (size_t)g * act_stride;
#define IQ4_512_CASE(N) \
    case N: iq4_512_body(row, unpacked, a, act_stride, N, nb, out + g); break
        switch (n_act - g) {
        IQ4_512_CASE(1); IQ4_512_CASE(2); IQ4_512_CASE(3); IQ4_512_CASE(4);
        IQ4_512_CASE(5); IQ4_512_CASE(6); IQ4_512_CASE(7);
        default: iq4_512_body(row, unpacked, a, act_stride, QDOT_VNNI_MAX, nb, out + g); break;
        }
#undef IQ4_512_CASE
    }
}

/* One row against n_act inputs: streamed for one group, else unpacked once where it fits. */
__attribute__((target(IQ4_512_TARGET))) static void iq4_512_multi(const block_iq4_xs *row, const uint8_t *act,
                                                                size_t act_stride, int n_act, int64_t nb, float *out) {
    if (n_act <= QDOT_VNNI_MAX || nb > IQ4_UNPACKED_MAX) {
        iq4_512_groups(row, NULL, act, act_stride, n_act, nb, out);
        return;
    }
    iq4_512_unpacked unpacked[IQ4_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++) iq4_512_unpack(row + b, unpacked + b);
    iq4_512_groups(row, unpacked, act, act_stride, n_act, nb, out);
}

void qdot_iq4_xs_avx512_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    (void)t;
    iq4_512_multi(row, in->q8_K + (size_t)first * in->q8_K_stride, in->q8_K_stride, n_act, in->cols / QK_K, out);
}
