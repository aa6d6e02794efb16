/* qdot_iq4_rows16.c — iq4_xs weight rows against q8_K activations with AVX-512 VNNI, sixteen
 * rows at a time: one row per 32-bit lane (the design of qdot_rows16.c and qdot_k_rows16.c).
 *
 * Per 256-element super-block the sixteen rows' bytes are loaded transposed (rows16.h), so a
 * register holds 4 bytes of every row. The nibbles are looked up in IQ4_KVALUES shifted by +128
 * (unsigned), and one VPDPBUSD with 4 of an input's quants broadcast adds 4 products to every
 * row. Per sub-block of 32 each lane then holds its row's exact integer dot (offset by 128 x the
 * input's sum of the sub-block), multiplied by the row's scale ls - 32 and summed as integers;
 * the offsets come off once per super-block, (128 x scale pairs) . (the input's sums of 32, in
 * pairs) by VPDPWSSD, where the sums start; then one float step per super-block and lane:
 * acc += (d x ad) x sums. Range: with the offsets in, |sums| <= 8 x 32 x 32 x 255 x 128 < 2^31
 * (and the offsets alone <= 8 x 32 x 128 x 4096 likewise). Each row is one lane
 * with one chain over its super-blocks, so its result depends neither on the rows beside it nor
 * on the number of inputs: one input and a batch give the same floats. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"
#include "kernels/rows16.h"
#include "tensor/quants.h"

/* rows16.h's target and VBMI (VPERMB: a 64-entry byte lookup that ignores the index's top 2 bits). */
#define X16_TARGET R16_TARGET ",avx512vbmi"
#define X16_INLINE __attribute__((target(X16_TARGET), always_inline)) static inline

/* Inputs per weight load (each keeps one 16-row accumulator). */
#define X16_INPUTS 8 /* as R16_DEFINE_ALL passes them */

/* Decoding streams the weights: the group of 16 rows (contiguous) this many groups ahead is
 * asked for into L2, a few lines before each transposed load, at the pace this one is read. */
#define X16_PF_GROUPS 2
#define X16_PF_PER_LOAD 4

/* Super-block b of the 16 rows (row r's at blk[r]) against N inputs, into acc (lane order of
 * load_transposed). */
X16_INLINE void x16_block(const uint8_t *const *blk, const qdot_inputs *in, int first, const int N, int64_t b,
                          __m512 *acc, r16_pf *pf) {
    __m512i T[4]; /* lane: d | scales_h << 16, then the 4 scales_l bytes (and qs 0..7, unused) */
    r16_prefetch(pf, X16_PF_PER_LOAD);
    load_transposed(blk, 0, T);
    const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(T[0]));
    /* IQ4_KVALUES + 128, four times over: looked up by VPERMB with a nibble in bits 0-3 and
       anything in bits 4-5 (so no mask) */
    const __m128i tab = _mm_add_epi8(_mm_loadu_si128((const __m128i *)(const void *)IQ4_KVALUES), _mm_set1_epi8((char)0x80));
    const __m512i table = _mm512_broadcast_i32x4(tab);
    __m512i isum[X16_INPUTS];
    __m512i ls[8], offp[4]; /* ls - 32 of sub-block s; 128 x those of sub-blocks 2i, 2i + 1 as int16 pairs */
    _Pragma("GCC unroll 16") for (int s = 0; s < 8; s++) {
        /* bits 4s..4s+3 of scales_l, bits 2s, 2s + 1 of scales_h above them */
        const __m512i sel = _mm512_ternarylogic_epi32(_mm512_srli_epi32(T[1], 4 * s), _mm512_srli_epi32(T[0], 12 + 2 * s),
                                                      _mm512_set1_epi32(0xF), 0xE4); /* C ? A : B */
        ls[s] = _mm512_sub_epi32(_mm512_and_si512(sel, _mm512_set1_epi32(0x3F)), _mm512_set1_epi32(32));
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++)
        offp[i] = _mm512_or_si512(_mm512_and_si512(_mm512_slli_epi32(ls[2 * i], 7), _mm512_set1_epi32(0xFFFF)),
                                  _mm512_slli_epi32(ls[2 * i + 1], 23));
    _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) { /* the offset: -128 x sum_s ls_s x (input's sum of s) */
        const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
        const __m256i s32 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)a->bsums), _mm256_set1_epi16(1));
        int32_t sp[8]; /* int16 pairs (s0 s1) (s2 s3) at 0, 1 and (s4 s5) (s6 s7) at 4, 5 */
        _mm256_storeu_si256((__m256i *)(void *)sp, _mm256_packs_epi32(s32, s32));
        __m512i o = _mm512_dpwssd_epi32(_mm512_setzero_si512(), offp[0], _mm512_set1_epi32(sp[0]));
        o = _mm512_dpwssd_epi32(o, offp[1], _mm512_set1_epi32(sp[1]));
        o = _mm512_dpwssd_epi32(o, offp[2], _mm512_set1_epi32(sp[4]));
        isum[k] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpwssd_epi32(o, offp[3], _mm512_set1_epi32(sp[5])));
    }
    _Pragma("GCC unroll 16") for (int s = 0; s < 8; s++) {
        __m512i q[4], lo[4], hi[4]; /* qs 16s + 4u ..: elements 32s + 4u (low nibbles), + 16 (high) */
        r16_prefetch(pf, X16_PF_PER_LOAD);
        load_transposed(blk, 8 + 16 * s, q);
        _Pragma("GCC unroll 16") for (int u = 0; u < 4; u++) {
            lo[u] = _mm512_permutexvar_epi8(q[u], table);
            hi[u] = _mm512_permutexvar_epi8(_mm512_srli_epi16(q[u], 4), table);
        }
        _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
            const r16_i32 *aq = (const r16_i32 *)(const void *)(a->qs + 32 * s);
            /* one chain where several inputs give the parallelism, two for one input (the same
               exact integer either way) */
            __m512i d = _mm512_setzero_si512(), e = _mm512_setzero_si512();
            _Pragma("GCC unroll 16") for (int u = 0; u < 4; u++) d = _mm512_dpbusd_epi32(d, lo[u], _mm512_set1_epi32(aq[u]));
            _Pragma("GCC unroll 16") for (int u = 0; u < 4; u++) {
                if (N == 1) e = _mm512_dpbusd_epi32(e, hi[u], _mm512_set1_epi32(aq[4 + u]));
                else d = _mm512_dpbusd_epi32(d, hi[u], _mm512_set1_epi32(aq[4 + u]));
            }
            if (N == 1) d = _mm512_add_epi32(d, e);
            isum[k] = _mm512_add_epi32(isum[k], _mm512_mullo_epi32(d, ls[s]));
        }
    }
    _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
        const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
        acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a->d)), _mm512_cvtepi32_ps(isum[k]), acc[k]);
    }
}

/* Rows row0 .. row0 + n_rows - 1 (row_bytes apart, n_rows <= 16) against N inputs: outs[k][r]. */
X16_INLINE void x16_rows(slm_type t, const uint8_t *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                         const int N, float *const *outs) {
    (void)t; /* iq4_xs: R16_DEFINE_ALL passes the type */
    const size_t bytes = sizeof(block_iq4_xs);
    const int64_t nb = in->cols / QK_K;
    const uint8_t *p[16];
    (void)r16_rows(row0, row_bytes, n_rows, p); /* the rows' pointers (no gathers here) */
    const uint8_t *next = row0 + (size_t)X16_PF_GROUPS * 16 * row_bytes;
    __m512 acc[X16_INPUTS];
    for (int k = 0; k < N; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t at = (size_t)b * bytes;
        r16_pf pf = {(const char *)next + 16 * at, (const char *)next + 16 * (at + bytes)};
        const uint8_t *blk[16];
        for (int r = 0; r < 16; r++) blk[r] = p[r] + at;
        x16_block(blk, in, first, N, b, acc, &pf);
        r16_prefetch(&pf, 64); /* what is left */
    }
    const __mmask16 keep = (__mmask16)((1u << n_rows) - 1);
    for (int k = 0; k < N; k++) _mm512_mask_storeu_ps(outs[k], keep, unshuffle(acc[k]));
}

/* All rows, in groups of 16, against the inputs X16_INPUTS at a time. */
R16_DEFINE_ALL(x16_all, X16_TARGET, x16_rows)

__attribute__((target(X16_TARGET))) void qdot_iq4_rows16_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                          int n_act, float *const *outs) {
    x16_all(t, row0, row_bytes, n_rows, in, first, n_act, outs);
}

void qdot_iq4_rows16_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    r16_one_row(qdot_iq4_rows16_many, t, row, in, first, n_act, out);
}
