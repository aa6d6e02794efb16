/* k_avx2.h — what the AVX2 and the AVX-512 kernels of q4_K and q6_K rows share, so that they
 * give the same floats: a block's weights and scales unpacked into registers, and the float
 * steps from a block's exact integer sums to a row's result.
 *
 * A block's integer sums are kept as 8 lanes of 32 bits (the products of bytes 4l..4l+3 of
 * each 32-byte piece land in lane l); the AVX-512 kernels fold their two halves into the same
 * 8 lanes, which as integers are exact either way. Each block then adds, lane by lane,
 * (d x input d) x sums - (dmin x input d) x mins to 8 float accumulators, summed across lanes
 * once per row (hsum_ps): fewer steps per block than summing every block to one number. */
#ifndef SLM_KERNELS_K_AVX2_H
#define SLM_KERNELS_K_AVX2_H
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/q32_avx2.h"
#include "kernels/qdot.h"
#include "tensor/quants.h"

#define K_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/* A q4_K or q6_K block ready for the byte products: per 32 elements its unsigned weights (q4_K
 * 0..15, q6_K 0..63) and their sub-block scales in 16 lanes (q4_K: one sub-block of 32; q6_K:
 * two of 16, 8 lanes each); w16, against an input's 16 sums of 16: the q4_K mins (each twice)
 * or the 16 q6_K scales (for the -32 offset); and the float scales (dmin 0 for q6_K). */
typedef struct {
    __m256i q[8], s[8], w16;
    float d, dmin;
} k_unpacked;

K_AVX2_INLINE void q4_K_unpack(const block_q4_K *w, k_unpacked *u) {
    const __m256i low4 = _mm256_set1_epi8(0xF);
    uint8_t sc[8], mn[8];
    qdot_k4_scales(w->scales, sc, mn);
    for (int c = 0; c < 4; c++) { /* 32 bytes: sub-block 2c in the low nibbles, 2c+1 in the high */
        const __m256i q = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * c));
        u->q[2 * c] = _mm256_and_si256(q, low4);
        u->q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        u->s[2 * c] = _mm256_set1_epi16(sc[2 * c]);
        u->s[2 * c + 1] = _mm256_set1_epi16(sc[2 * c + 1]);
    }
    const __m128i m = _mm_loadl_epi64((const __m128i *)mn);
    u->w16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));
    u->d = h2f(w->d);
    u->dmin = h2f(w->dmin);
}

K_AVX2_INLINE void q6_K_unpack(const block_q6_K *w, k_unpacked *u) {
    const __m256i low4 = _mm256_set1_epi8(0xF), low2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) { /* 128 elements: 64 bytes of ql, 32 of qh */
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
        const __m256i lo4[4] = {_mm256_and_si256(l0, low4), _mm256_and_si256(l1, low4),
                                _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                                _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4)};
        for (int k = 0; k < 4; k++) { /* elements 128h + 32k ..: bits 2k, 2k+1 of qh on top */
            const __m256i hi2 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), low2);
            u->q[4 * h + k] = _mm256_or_si256(lo4[k], _mm256_slli_epi16(hi2, 4));
            const int j = 8 * h + 2 * k;
            u->s[4 * h + k] = _mm256_set_m128i(_mm_set1_epi16(w->scales[j + 1]), _mm_set1_epi16(w->scales[j]));
        }
    }
    u->w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
    u->d = h2f(w->d);
    u->dmin = 0.0f;
}

/* sum_j w16[j] * bsums[j] over a q8_K input's 16 sums of 16, in 8 lanes. */
K_AVX2_INLINE __m256i bsums_dot(const int16_t *bsums, __m256i w16) {
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), w16);
}

/* acc + one block's share for input a, lane by lane, from its integer sums isum and its w16,
 * d, dmin (as unpacked): q4_K (q6: false) (d x ad) isum - (dmin x ad) (mins . sums of 16), q6_K
 * (d x ad) (isum - 32 (scales . sums of 16)), the offset taken off as integers, exactly. */
K_AVX2_INLINE __m256 k_accumulate(const bool q6, __m256 acc, __m256i w16, float d, float dmin, const block_q8_K *a,
                                  __m256i isum) {
    const __m256i w16_sums = bsums_dot(a->bsums, w16);
    if (q6) isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(w16_sums, 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(isum), acc);
    return q6 ? acc : _mm256_fnmadd_ps(_mm256_set1_ps(dmin * a->d), _mm256_cvtepi32_ps(w16_sums), acc);
}

#endif
