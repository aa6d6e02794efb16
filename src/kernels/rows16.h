/* rows16.h — what the AVX-512 VNNI kernels over sixteen weight rows at once (a row per 32-bit
 * lane: qdot_rows16.c, qdot_k_rows16.c, qdot_iq4_rows16.c) share: loading 16 bytes of each of 16
 * rows transposed, so that one register holds 4 bytes of every row, and the lane order that
 * leaves; the rows' pointers and gather offsets; spread prefetches; the loop over groups of 16
 * rows and passes of inputs. */
#ifndef SLM_KERNELS_ROWS16_H
#define SLM_KERNELS_ROWS16_H
#include <immintrin.h>
#include <stdint.h>

#include "kernels/qdot.h"

#define R16_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bitalg"
#define R16_INLINE __attribute__((target(R16_TARGET), always_inline)) static inline

/* 4 quants of an input read as one 32-bit number (at any address). */
typedef int32_t r16_i32 __attribute__((aligned(1), may_alias));

/* 16 bytes at off of each of 16 rows (row r at p[r]), transposed: t[j] lane 4l + i holds bytes
 * 4j..4j+3 of row 4i + l (lanes in that order, undone at the end by unshuffle()). */
R16_INLINE void load_transposed(const uint8_t *const *p, int off, __m512i *t) {
    __m512i z[4];
    for (int i = 0; i < 4; i++) { /* masked broadcasts rather than inserts: they may run on two ports */
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[4 * i] + off)));
        v = _mm512_mask_broadcast_i32x4(v, 0x00F0, _mm_loadu_si128((const __m128i *)(p[4 * i + 1] + off)));
        v = _mm512_mask_broadcast_i32x4(v, 0x0F00, _mm_loadu_si128((const __m128i *)(p[4 * i + 2] + off)));
        z[i] = _mm512_mask_broadcast_i32x4(v, 0xF000, _mm_loadu_si128((const __m128i *)(p[4 * i + 3] + off)));
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

/* p[r] = row r of the group (the last row repeated past n_rows, so nothing past the tensor is
 * read); returns the byte offsets of lane q's row from row0 (lane order of load_transposed), for
 * gathers. */
R16_INLINE __m512i r16_rows(const uint8_t *row0, size_t row_bytes, int n_rows, const uint8_t **p) {
    int32_t idx[16];
    for (int q = 0; q < 16; q++) {
        const int r = lane_row(q) < n_rows ? lane_row(q) : n_rows - 1;
        idx[q] = (int32_t)((size_t)r * row_bytes);
    }
    for (int r = 0; r < 16; r++) p[r] = row0 + (size_t)(r < n_rows ? r : n_rows - 1) * row_bytes;
    return _mm512_loadu_si512(idx);
}

/* What is still to be prefetched: the 64-byte lines of [at, end). */
typedef struct {
    const char *at, *end;
} r16_pf;

/* Asks for the next n lines of *pf into L2. */
R16_INLINE void r16_prefetch(r16_pf *pf, int n) {
    for (int i = 0; i < n && pf->at < pf->end; i++, pf->at += 64) _mm_prefetch(pf->at, _MM_HINT_T1);
}

/* Defines NAME(t, row0, row_bytes, n_rows, in, first, n_act, outs) with TARGET: the rows in
 * groups of 16, against the inputs 8 at a time, each pass one call of KERNEL(t, rows, row_bytes,
 * nr, in, first, N, outs) (an always-inline kernel) with N a constant, so that it is specialised
 * for each count. */
#define R16_DEFINE_ALL(NAME, TARGET, KERNEL)                                                                       \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(                                        \
        slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first, int n_act,   \
        float *const *outs) {                                                                                      \
        for (int r = 0; r < n_rows; r += 16) {                                                                     \
            const int nr = n_rows - r < 16 ? n_rows - r : 16;                                                      \
            const uint8_t *rows = (const uint8_t *)row0 + (size_t)r * row_bytes;                                   \
            for (int g = 0; g < n_act; g += 8) {                                                                   \
                float *o[8];                                                                                       \
                const int ng = n_act - g < 8 ? n_act - g : 8;                                                      \
                for (int k = 0; k < ng; k++) o[k] = outs[g + k] + r;                                               \
                switch (ng) {                                                                                      \
                case 1: KERNEL(t, rows, row_bytes, nr, in, first + g, 1, o); break;                                \
                case 2: KERNEL(t, rows, row_bytes, nr, in, first + g, 2, o); break;                                \
                case 3: KERNEL(t, rows, row_bytes, nr, in, first + g, 3, o); break;                                \
                case 4: KERNEL(t, rows, row_bytes, nr, in, first + g, 4, o); break;                                \
                case 5: KERNEL(t, rows, row_bytes, nr, in, first + g, 5, o); break;                                \
                case 6: KERNEL(t, rows, row_bytes, nr, in, first + g, 6, o); break;                                \
                case 7: KERNEL(t, rows, row_bytes, nr, in, first + g, 7, o); break;                                \
                default: KERNEL(t, rows, row_bytes, nr, in, first + g, 8, o); break;                               \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }

/* One row against n_act inputs through a many-rows kernel: out[k] = its dot with input first + k. */
static inline void r16_one_row(qdot_many_fn many, slm_type t, const void *row, const qdot_inputs *in, int first,
                               int n_act, float *out) {
    float *outs[64];
    for (int k = 0; k < n_act; k += 64) {
        const int nk = n_act - k < 64 ? n_act - k : 64;
        for (int i = 0; i < nk; i++) outs[i] = out + k + i;
        many(t, row, 0, 1, in, first + k, nk, outs);
    }
}

#endif
