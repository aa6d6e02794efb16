/* k_avx2.h — what the AVX2 and the AVX-512 kernels of q4_K and q6_K rows share, so that they
 * give the same floats: a block's packed scales decoded, the layout of a block's exact integer
 * sums, and the float steps from those sums to a row's result.
 *
 * A block's integer sums are kept as 8 lanes of 32 bits: the products of elements 4l..4l+3 of
 * every 32-element piece land in lane l (the AVX-512 kernels fold their two 256-bit halves into
 * these 8 lanes; as integers the sums are exact either way). Then, lane by lane:
 *   q4_K: S += (d x ad) x sums and M += (-dmin x ad) x (mins . sums of 32), two sets of 8
 *         float accumulators (the AVX-512 kernels hold both in one register), added at the end;
 *   q6_K: S += (d x ad) x (sums - 32 (scales . sums of 16)), the offset taken off as integers.
 * A row's result is then the sum of the 8 lanes in hsum_ps's order. */
#ifndef SLM_KERNELS_K_AVX2_H
#define SLM_KERNELS_K_AVX2_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/q32_avx2.h"
#include "tensor/quants.h"

/* The 8 6-bit scales (*sc) and mins (*mn) of a q4_K / q5_K block, one byte each, from its 12
 * packed bytes (bytes 0-3: scales 0-3 and the top bits of scales 4-7; 4-7: mins 0-3 and the top
 * bits of mins 4-7; 8-11: the low 4 bits of scales and mins 4-7). */
static inline void k4_scales_u64(const uint8_t *p, uint64_t *sc, uint64_t *mn) {
    uint32_t u0, u1, u2;
    memcpy(&u0, p, 4);
    memcpy(&u1, p + 4, 4);
    memcpy(&u2, p + 8, 4);
    const uint32_t sc_hi = (u2 & 0x0F0F0F0Fu) | ((u0 >> 2) & 0x30303030u);
    const uint32_t mn_hi = ((u2 >> 4) & 0x0F0F0F0Fu) | ((u1 >> 2) & 0x30303030u);
    *sc = (u0 & 0x3F3F3F3Fu) | (uint64_t)sc_hi << 32;
    *mn = (u1 & 0x3F3F3F3Fu) | (uint64_t)mn_hi << 32;
}

#define K_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/* The 8 mins of a q4_K block (bytes of mn) as 16 int16, each twice (m0 m0 m1 m1 ...), against
 * an input's 16 sums of 16: their madd is (mins . sums of 32) in 8 lanes. */
K_AVX2_INLINE __m256i k4_mins16(uint64_t mn) {
    const __m256i pick = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1, 4, -1, 4, -1, 5, -1, 5,
                                          -1, 6, -1, 6, -1, 7, -1, 7, -1);
    return _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)mn), pick);
}

/* Sum of the 8 lanes of a q4_K row's two accumulator sets (S + M first, lane by lane). */
K_AVX2_INLINE float k4_result(__m256 s, __m256 m) { return hsum_ps(_mm256_add_ps(s, m)); }

#endif
