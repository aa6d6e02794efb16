/* q32_avx2.h — AVX2 helpers shared by the kernels of the 32-element block types (q4_0, q5_0,
 * q8_0, iq4_nl): a block's weights unpacked to 32 signed bytes and its f16 scale as a float; and
 * the sum of a register's 8 floats and the iq4 table, which the K-quant and iq4_xs kernels use
 * too. Inlined into each kernel file (the AVX2 and the AVX-512 ones). */
#ifndef SLM_KERNELS_Q32_AVX2_H
#define SLM_KERNELS_Q32_AVX2_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "tensor/quants.h"

#define Q32_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/* IEEE half to float with the F16C instruction. */
Q32_AVX2_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* The sum of 8 lanes, as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
Q32_AVX2_INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 nibbles of 16 bytes: low nibbles in the first 16 bytes, high nibbles in the last 16. */
Q32_AVX2_INLINE __m256i unpack_nibbles_16(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_set1_epi8(0xF);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

/* 32 bits to 32 bytes: 0xFF where the bit is set. */
Q32_AVX2_INLINE __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

/* The kernels size an iq4_nl row's blocks as q4_0's. */
static_assert(sizeof(block_iq4_nl) == sizeof(block_q4_0), "iq4_nl and q4_0 blocks differ in size");

/* The iq4_nl / iq4_xs table (IQ4_KVALUES) in both 128-bit lanes, for a byte shuffle by nibbles. */
Q32_AVX2_INLINE __m256i iq4_table(void) {
    return _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113, -127, -104, -83,
                            -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

/* The 32 signed weights of block b of a q4_0 / q5_0 / q8_0 / iq4_nl row, and its scale. */
Q32_AVX2_INLINE __m256i q32_block(slm_type t, const void *row, int64_t b, float *d) {
    if (t == SLM_TYPE_Q8_0) {
        const block_q8_0 *w = (const block_q8_0 *)row + b;
        *d = h2f(w->d);
        return _mm256_loadu_si256((const __m256i *)w->qs);
    }
    if (t == SLM_TYPE_Q5_0) {
        const block_q5_0 *w = (const block_q5_0 *)row + b;
        *d = h2f(w->d);
        __m256i hi = _mm256_and_si256(bits_to_bytes(w->qh), _mm256_set1_epi8(0x10));
        return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles_16(w->qs), hi), _mm256_set1_epi8(16));
    }
    if (t == SLM_TYPE_IQ4_NL) { /* q4_0's nibbles, each looked up in the table */
        const block_iq4_nl *w = (const block_iq4_nl *)row + b;
        *d = h2f(w->d);
        return _mm256_shuffle_epi8(iq4_table(), unpack_nibbles_16(w->qs));
    }
    const block_q4_0 *w = (const block_q4_0 *)row + b;
    *d = h2f(w->d);
    return _mm256_sub_epi8(unpack_nibbles_16(w->qs), _mm256_set1_epi8(8));
}

#endif
