/* rows16.h — what the AVX-512 VNNI kernels over sixteen weight rows at once (a row per 32-bit
 * lane: qdot_rows16.c, qdot_k_rows16.c) share: loading 16 bytes of each of 16 rows transposed,
 * so that one register holds 4 bytes of every row, and the lane order that leaves. */
#ifndef SLM_KERNELS_ROWS16_H
#define SLM_KERNELS_ROWS16_H
#include <immintrin.h>
#include <stdint.h>

#define R16_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bitalg"
#define R16_INLINE __attribute__((target(R16_TARGET), always_inline)) static inline

/* 4 quants of an input read as one 32-bit number (at any address). */
typedef int32_t r16_i32 __attribute__((aligned(1), may_alias));

/* 16 bytes at off of each of 16 rows (row r at p[r]), transposed: t[j] lane 4l + i holds bytes
 * 4j..4j+3 of row 4i + l (lanes in that order, undone at the end by unshuffle()). */
R16_INLINE void load_transposed(const uint8_t *const *p, int off, __m512i *t) {
    __m512i z[4];
    for (int i = 0; i < 4; i++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[4 * i] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[4 * i + 1] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[4 * i + 2] + off)), 2);
        z[i] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[4 * i + 3] + off)), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    t[0] = _mm512_unpacklo_epi64(t0, t2);
    t[1] = _mm512_unpackhi_epi64(t0, t2);
    t[2] = _mm512_unpacklo_epi64(t1, t3);
    t[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* Row of lane p (p = 4l + i holds row 4i + l). */
static inline int lane_row(int p) { return 4 * (p % 4) + p / 4; }

/* The lanes back in row order. */
R16_INLINE __m512 unshuffle(__m512 v) {
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), v);
}

#endif
