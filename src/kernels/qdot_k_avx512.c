/* qdot_k_avx512.c — q4_K and q6_K weight rows against q8_K activations with AVX-512 BW and
 * VNNI: 64 weights per register (two of the AVX2 kernels' 32-element pieces), their byte products
 * (VPMADDUBSW) scaled and summed by VPDPWSSD. A block's integer sums fold into the AVX2 kernels'
 * 8 lanes (exact integers either way) and take their float steps (k_avx2.h), so the results are
 * bit-identical to theirs; one input and a batch run the same code. */
#include <immintrin.h>

#include "kernels/k_avx2.h"
#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"

#define K512_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define K512_INLINE __attribute__((target(K512_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 4096

/* A q4_K / q6_K block for the 512-bit products: per 64 elements (c = 0..3) the unsigned weights
 * and their int16 scales; w16 against the input's 16 sums of 16 (the q4_K mins twice each, or
 * the q6_K scales); ds the float scales: q4_K [d x 8 | -dmin x 8], q6_K d in every lane. */
typedef struct {
    __m512i q[4], s[4];
    __m256i w16;
    __m512 ds;
} k512_block;

/* Scales of q4_K pieces 2c (first 256 bits) and 2c+1 (second), from their bytes in every 64 bits. */
K512_INLINE __m512i k4_scales512(__m512i sc_bytes, int c) {
    const __m512i pick = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xFF00 | (2 * c))),
                                            _mm256_set1_epi16((short)(0xFF00 | (2 * c + 1))), 1);
    return _mm512_shuffle_epi8(sc_bytes, pick);
}

/* [d x 8 | -dmin x 8] from a q4_K block's two halves. */
K512_INLINE __m512 k4_ds(const block_q4_K *w) {
    const __m128 dd = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, 0, 0, (short)w->dmin, (short)w->d));
    const __m512 v = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                           _mm512_castps128_ps512(dd));
    return _mm512_xor_ps(v, _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_setzero_si512(),
                                                                   _mm256_set1_epi32((int)0x80000000u), 1)));
}

/* Elements 64c .. 64c+63 of a q4_K block: low nibbles of its 32 bytes, then high nibbles. */
K512_INLINE __m512i q4_K_weights(const block_q4_K *w, int c) {
    const __m512i raw = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w->qs + 32 * c)));
    return _mm512_and_si512(_mm512_mask_srli_epi16(raw, 0xFFFF0000u, raw, 4), _mm512_set1_epi8(0xF));
}

/* Elements 64c .. 64c+63 of a q6_K block: 4 low bits from ql, the 2 high from qh (bits 2k of
 * qh's byte i for piece k of a 128-element half). */
K512_INLINE __m512i q6_K_weights(const block_q6_K *w, int c) {
    const int h = c / 2;
    const __m512i l = _mm512_loadu_si512(w->ql + 64 * h);
    const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w->qh + 32 * h)));
    const __m512i low4 = _mm512_set1_epi8(0xF), top2 = _mm512_set1_epi8(0x30);
    __m512i lo, hi;
    if (c % 2 == 0) { /* pieces 0, 1: low nibbles; qh bits 0-1 (<< 4), 2-3 (<< 2) */
        lo = _mm512_and_si512(l, low4);
        hi = _mm512_sllv_epi16(hb, _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1));
    } else { /* pieces 2, 3: high nibbles; qh bits 4-5, 6-7 (>> 2) */
        lo = _mm512_and_si512(_mm512_srli_epi16(l, 4), low4);
        hi = _mm512_mask_srli_epi16(hb, 0xFFFF0000u, hb, 2);
    }
    return _mm512_or_si512(lo, _mm512_and_si512(hi, top2));
}

/* Scales of q6_K elements 64c .. 64c+63 (one per 16, each in a 128-bit lane) from the 16 scales
 * as int16 in the low 256 bits of sc16. */
K512_INLINE __m512i q6_K_scales512(__m512i sc16, int c) {
    const short j = (short)(4 * c);
    const __m512i idx = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_setr_epi16(j, j, j, j, j, j, j, j, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1)),
        _mm256_setr_epi16(j + 2, j + 2, j + 2, j + 2, j + 2, j + 2, j + 2, j + 2, j + 3, j + 3, j + 3, j + 3, j + 3, j + 3,
                          j + 3, j + 3),
        1);
    return _mm512_permutexvar_epi16(idx, sc16);
}

/* Block b of a q4_K (q6: false) or q6_K row, unpacked. */
K512_INLINE void k512_unpack(const bool q6, const void *row, int64_t b, k512_block *u) {
    if (q6) {
        const block_q6_K *w = (const block_q6_K *)row + b;
        u->w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
        const __m512i sc16 = _mm512_castsi256_si512(u->w16);
        for (int c = 0; c < 4; c++) {
            u->q[c] = q6_K_weights(w, c);
            u->s[c] = q6_K_scales512(sc16, c);
        }
        u->ds = _mm512_set1_ps(h2f(w->d));
    } else {
        const block_q4_K *w = (const block_q4_K *)row + b;
        uint64_t sc, mn;
        k4_scales_u64(w->scales, &sc, &mn);
        const __m512i sc_bytes = _mm512_set1_epi64((long long)sc);
        for (int c = 0; c < 4; c++) {
            u->q[c] = q4_K_weights(w, c);
            u->s[c] = k4_scales512(sc_bytes, c);
        }
        u->w16 = k4_mins16(mn);
        u->ds = k4_ds(w);
    }
}

/* One q4_K (q6: false) or q6_K (q6: true) row against N q8_K inputs: the integer sums in 16
 * lanes, folded to the AVX2 kernels' 8, then their float steps (k_avx2.h): for q4_K both sets
 * of 8 accumulators in one register. The blocks come unpacked or are unpacked here (decoding:
 * streamed and prefetched); the arithmetic is the same. */
K512_INLINE void k512_body(const bool q6, const void *row, const k512_block *unpacked, const uint8_t *act,
                           size_t act_stride, const int N, int64_t nb, float *out) {
    __m512 acc4[QDOT_VNNI_MAX];
    __m256 acc6[QDOT_VNNI_MAX];
    for (int k = 0; k < N; k++) acc4[k] = _mm512_setzero_ps(), acc6[k] = _mm256_setzero_ps();
    const size_t block_bytes = q6 ? sizeof(block_q6_K) : sizeof(block_q4_K);
    for (int64_t b = 0; b < nb; b++) {
        k512_block local;
        const k512_block *u = unpacked ? unpacked + b : &local;
        if (!unpacked) {
            const char *wb = (const char *)row + (size_t)b * block_bytes;
            for (int line = 0; line < (q6 ? 4 : 3); line++) _mm_prefetch(wb + PREFETCH_BYTES + 64 * line, _MM_HINT_T0);
            k512_unpack(q6, row, b, &local);
        }
        __m512i acc[QDOT_VNNI_MAX]; /* one chain per input: the inputs are independent */
        for (int k = 0; k < N; k++) acc[k] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m512i p = _mm512_maddubs_epi16(u->q[c], _mm512_loadu_si512(a->qs + 64 * c));
                acc[k] = _mm512_dpwssd_epi32(acc[k], p, u->s[c]);
            }
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            const __m512i all = acc[k];
            const __m256i isum = _mm256_add_epi32(_mm512_castsi512_si256(all), _mm512_extracti64x4_epi64(all, 1));
            const __m256i sums = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), u->w16);
            if (q6) {
                const __m256i v = _mm256_sub_epi32(isum, _mm256_slli_epi32(sums, 5));
                acc6[k] = _mm256_fmadd_ps(_mm512_castps512_ps256(_mm512_mul_ps(u->ds, _mm512_set1_ps(a->d))),
                                          _mm256_cvtepi32_ps(v), acc6[k]);
            } else {
                const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(isum), sums, 1);
                acc4[k] = _mm512_fmadd_ps(_mm512_mul_ps(u->ds, _mm512_set1_ps(a->d)), _mm512_cvtepi32_ps(v), acc4[k]);
            }
        }
    }
    for (int k = 0; k < N; k++)
        out[k] = q6 ? hsum_ps(acc6[k]) : k4_result(_mm512_castps512_ps256(acc4[k]), _mm512_extractf32x8_ps(acc4[k], 1));
}

/* Rows of at most this many blocks are unpacked once for a batch of more than QDOT_VNNI_MAX
 * inputs (about 20 KiB on the stack). */
#define K512_UNPACKED_MAX 36

/* One row against n_act inputs, QDOT_VNNI_MAX at a time. */
K512_INLINE void k512_groups(const bool q6, const void *row, const k512_block *unpacked, const uint8_t *act,
                             size_t act_stride, int n_act, int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += QDOT_VNNI_MAX) {
        const uint8_t *a = act + (size_t)g * act_stride;
#define K512_CASE(N) \
    case N: k512_body(q6, row, unpacked, a, act_stride, N, nb, out + g); break
        switch (n_act - g) {
        K512_CASE(1); K512_CASE(2); K512_CASE(3); K512_CASE(4);
        K512_CASE(5); K512_CASE(6); K512_CASE(7);
        default: k512_body(q6, row, unpacked, a, act_stride, QDOT_VNNI_MAX, nb, out + g); break;
        }
#undef K512_CASE
    }
}

K512_INLINE void k512_multi(const bool q6, const void *row, const uint8_t *act, size_t act_stride, int n_act, int64_t nb,
                            float *out) {
    if (n_act <= QDOT_VNNI_MAX || nb > K512_UNPACKED_MAX) {
        k512_groups(q6, row, NULL, act, act_stride, n_act, nb, out);
        return;
    }
    k512_block unpacked[K512_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++) k512_unpack(q6, row, b, unpacked + b);
    k512_groups(q6, row, unpacked, act, act_stride, n_act, nb, out);
}

__attribute__((target(K512_TARGET))) static void q4_K_multi(const void *row, const uint8_t *act, size_t act_stride,
                                                          int n_act, int64_t nb, float *out) {
    k512_multi(false, row, act, act_stride, n_act, nb, out);
}

__attribute__((target(K512_TARGET))) static void q6_K_multi(const void *row, const uint8_t *act, size_t act_stride,
                                                          int n_act, int64_t nb, float *out) {
    k512_multi(true, row, act, act_stride, n_act, nb, out);
}

void qdot_k_avx512_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const uint8_t *act = in->q8_K + (size_t)first * in->q8_K_stride;
    if (n_act == 1) { /* the AVX2 kernel: the same floats, faster for one input */
        out[0] = qdot_k_avx2_one(t, row, act, in->cols);
        return;
    }
    if (t == SLM_TYPE_Q4_K) q4_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
    else q6_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
}

void qdot_k_avx512_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                        int n_act, float *const *outs) {
    const uint8_t *act = in->q8_K + (size_t)first * in->q8_K_stride;
    float out[QDOT_VNNI_MAX * 4];
    for (int r = 0; r < n_rows; r++) {
        const void *row = (const uint8_t *)row0 + (size_t)r * row_bytes;
        for (int g = 0; g < n_act; g += QDOT_VNNI_MAX * 4) {
            const int ng = n_act - g < QDOT_VNNI_MAX * 4 ? n_act - g : QDOT_VNNI_MAX * 4;
            const uint8_t *a = act + (size_t)g * in->q8_K_stride;
            if (ng == 1) out[0] = qdot_k_avx2_one(t, row, a, in->cols);
            else if (t == SLM_TYPE_Q4_K) q4_K_multi(row, a, in->q8_K_stride, ng, in->cols / QK_K, out);
            else q6_K_multi(row, a, in->q8_K_stride, ng, in->cols / QK_K, out);
            for (int k = 0; k < ng; k++) outs[g + k][r] = out[k];
        }
    }
}
