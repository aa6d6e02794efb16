/* qdot_k_avx512.c — q4_K and q6_K weight rows against q8_K activations with AVX-512 BW: the
 * AVX2 kernels' byte products and per-sub-block scaling, on two 32-element pieces per 512-bit
 * register. The integer sum of a 256-element block is exact either way and the float steps per
 * block are the AVX2 kernels', so the results are bit-identical to theirs; one input and up to
 * QDOT_VNNI_MAX inputs per weight load run the same code. */
#include "kernels/qdot.h"

#include <immintrin.h>

#include "kernels/q32_avx2.h"

#define K512_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq"
#define K512_INLINE __attribute__((target(K512_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 2048

/* Two 256-bit halves as one register. */
K512_INLINE __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

/* The sums of the 8 lanes of each 256-bit half of v. */
K512_INLINE void sum_halves(__m512i v, int *lo, int *hi) {
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));
    v = _mm512_add_epi32(v, _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    *lo = _mm_cvtsi128_si32(_mm512_castsi512_si128(v));
    *hi = _mm_cvtsi128_si32(_mm512_extracti32x4_epi32(v, 2));
}

/* One q4_K row against N inputs. Piece c of a block (32 bytes of qs) holds sub-block 2c in its
 * low nibbles and 2c+1 in its high ones, the inputs' bytes 64c..64c+63: one register each. */
K512_INLINE void q4_K_body(const block_q4_K *w, const uint8_t *act, size_t act_stride, const int N, int64_t nb,
                           float *out) {
    const __m512i low4 = _mm512_set1_epi8(0xF), nibble_shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    float sum[QDOT_VNNI_MAX] = {0};
    for (int64_t b = 0; b < nb; b++) {
        _mm_prefetch((const char *)(w + b) + PREFETCH_BYTES, _MM_HINT_T0);
        _mm_prefetch((const char *)(w + b) + PREFETCH_BYTES + 64, _MM_HINT_T0);
        uint8_t sc[8], mn[8];
        qdot_k4_scales(w[b].scales, sc, mn);
        __m512i q[4], s16[4];
        for (int c = 0; c < 4; c++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * c));
            q[c] = _mm512_and_si512(_mm512_srlv_epi64(join(raw, raw), nibble_shift), low4);
            s16[c] = join(_mm256_set1_epi16(sc[2 * c]), _mm256_set1_epi16(sc[2 * c + 1]));
        }
        /* mins[16]: each sub-block's min twice, against the input's 16 sums of 16 */
        const __m128i mn8 = _mm_loadl_epi64((const __m128i *)mn);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8));
        const float d = h2f(w[b].d), dmin = h2f(w[b].dmin);
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            __m512i acc = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                __m512i p = _mm512_maddubs_epi16(q[c], _mm512_loadu_si512(a->qs + 64 * c));
                acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, s16[c]));
            }
            __m256i smin = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), mins);
            int isum, imin;
            sum_halves(join(_mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1)), smin), &isum,
                       &imin);
            sum[k] = q4_K_block_sum(sum[k], a->d, d, isum, dmin, imin);
        }
    }
    for (int k = 0; k < N; k++) out[k] = sum[k];
}

/* For each 8 lanes of 16 bits, which of 4 consecutive scales they take. */
static const int16_t SCALE_LANES[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};

/* One q6_K row against N inputs. Each half h (128 elements) is two registers: the low and then
 * the high nibbles of ql[64h..64h+63], each byte with its 2 high bits from qh, against the
 * inputs' bytes 128h..128h+63 and 128h+64..128h+127, sub-blocks of 16 scaled by their own scale. */
K512_INLINE void q6_K_body(const block_q6_K *w, const uint8_t *act, size_t act_stride, const int N, int64_t nb,
                           float *out) {
    const __m512i low4 = _mm512_set1_epi8(0xF), low2 = _mm512_set1_epi8(3);
    const __m512i shift_lo = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0), shift_hi = _mm512_set_epi64(6, 6, 6, 6, 4, 4, 4, 4);
    const __m512i lanes = _mm512_loadu_si512(SCALE_LANES);
    float sum[QDOT_VNNI_MAX] = {0};
    for (int64_t b = 0; b < nb; b++) {
        _mm_prefetch((const char *)(w + b) + PREFETCH_BYTES, _MM_HINT_T0);
        _mm_prefetch((const char *)(w + b) + PREFETCH_BYTES + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)(w + b) + PREFETCH_BYTES + 128, _MM_HINT_T0);
        const __m512i scales = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales)));
        __m512i q[4], s16[4];
        for (int h = 0; h < 2; h++) {
            __m512i l = _mm512_loadu_si512(w[b].ql + 64 * h);
            __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w[b].qh + 32 * h)));
            __m512i hi_lo = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, shift_lo), low2), 4);
            __m512i hi_hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, shift_hi), low2), 4);
            q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, low4), hi_lo);
            q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4), hi_hi);
            for (int g = 0; g < 2; g++) /* sub-blocks 8h + 4g .. 8h + 4g + 3 */
                s16[2 * h + g] = _mm512_permutexvar_epi16(_mm512_add_epi16(lanes, _mm512_set1_epi16((short)(8 * h + 4 * g))), scales);
        }
        const __m256i scales16 = _mm512_castsi512_si256(scales);
        const float d = h2f(w[b].d);
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            __m512i acc = _mm512_setzero_si512();
            for (int i = 0; i < 4; i++) {
                __m512i p = _mm512_maddubs_epi16(q[i], _mm512_loadu_si512(a->qs + 64 * i)); /* q unsigned 0..63 */
                acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, s16[i]));
            }
            /* the -32 offset: 32 * sum_j scale_j * sum(a over sub-block j), in the low 8 lanes */
            __m256i bias = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), scales16);
            acc = _mm512_sub_epi32(acc, _mm512_zextsi256_si512(_mm256_slli_epi32(bias, 5)));
            sum[k] += a->d * d * (float)_mm512_reduce_add_epi32(acc);
        }
    }
    for (int k = 0; k < N; k++) out[k] = sum[k];
}

#define K512_CASES(BODY)                                            \
    switch (n_act) {                                                \
    case 1: BODY(w, act, act_stride, 1, nb, out); return;           \
    case 2: BODY(w, act, act_stride, 2, nb, out); return;           \
    case 3: BODY(w, act, act_stride, 3, nb, out); return;           \
    case 4: BODY(w, act, act_stride, 4, nb, out); return;           \
    case 5: BODY(w, act, act_stride, 5, nb, out); return;           \
    case 6: BODY(w, act, act_stride, 6, nb, out); return;           \
    case 7: BODY(w, act, act_stride, 7, nb, out); return;           \
    default: BODY(w, act, act_stride, QDOT_VNNI_MAX, nb, out); return; \
    }

__attribute__((target(K512_TARGET))) static void q4_K_multi(const block_q4_K *w, const uint8_t *act, size_t act_stride,
                                                          int n_act, int64_t nb, float *out) {
    K512_CASES(q4_K_body)
}

__attribute__((target(K512_TARGET))) static void q6_K_multi(const block_q6_K *w, const uint8_t *act, size_t act_stride,
                                                          int n_act, int64_t nb, float *out) {
    K512_CASES(q6_K_body)
}

bool qdot_k_avx512_type(slm_type t) { return t == SLM_TYPE_Q4_K || t == SLM_TYPE_Q6_K; }

void qdot_k_avx512_multi(slm_type t, const void *row, const void *act, size_t act_stride, int n_act, int64_t n,
                         float *out) {
    if (t == SLM_TYPE_Q4_K) q4_K_multi(row, act, act_stride, n_act, n / QK_K, out);
    else q6_K_multi(row, act, act_stride, n_act, n / QK_K, out);
}
