/* qdot_k_rows16.c — q3_K, q4_K, q5_K and q6_K weight rows against q8_K activations with
 * AVX-512 VNNI, sixteen rows at a time: one row per 32-bit lane (the design of qdot_rows16.c).
 *
 * Per 256-element super-block the sixteen rows' bytes are loaded transposed (rows16.h), so a
 * register holds 4 bytes of every row; the weights are made unsigned 4 at a time per lane (q4_K:
 * a nibble; q5_K: a nibble and a fifth bit; q6_K: a nibble and two bits, q + 32; q3_K: two bits
 * and the high bit, q + 4), and one VPDPBUSD with 4 of an input's quants broadcast adds 4
 * products to every row. Per sub-block (32 elements for q4_K / q5_K, 16 for q3_K / q6_K) each
 * lane then holds its row's exact integer dot, which is multiplied by that row's sub-block scale
 * and summed, as integers (q6_K: the chain starts at -32 x (the scales . the input's sums of
 * 16), by VPDPWSSD on pairs, taking the offset off; q3_K: each sub-block at -4 x its sum). The q4_K / q5_K mins come in as integers too:
 * (min pairs) . (the input's sums of 32, in pairs) by VPDPWSSD. Then one float step per
 * super-block and lane:
 *   q4_K / q5_K: acc += (d x ad) x sums, then acc -= (dmin x ad) x mins;
 *   q3_K / q6_K: acc += (d x ad) x sums.
 * Ranges: q4_K / q5_K |sums| <= 8 x 63 x 32 x 31 x 127, q6_K <= 16 x 128 x 16 x 32 x 127,
 * q3_K <= 16 x 32 x 16 x 4 x 128, all below 2^31. Each row is one lane with one chain over its
 * super-blocks, so its result depends neither on the rows beside it nor on the number of
 * inputs. q6_K against one input (decoding) takes another path (k16_q6_one: rows read whole,
 * in memory order) to the same integers and the same float steps, so the same floats. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"
#include "kernels/rows16.h"
#include "tensor/quants.h"

/* Inputs per weight load (each keeps one 16-row accumulator). */
#define K16_INPUTS 8 /* as R16_DEFINE_ALL passes them */

/* Decoding streams the weights from memory, which the hardware prefetchers do not follow over
 * 16 rows at once: the rows two groups ahead (contiguous) are asked for into L2 at the pace this
 * group is read, a few lines before each transposed load (measured here: one group ahead, all
 * of a super-block's lines at once, or into L1, did worse; none at all, 3x worse). */
#define K16_PF_GROUPS 2
#define K16_PF_PER_LOAD 4

/* The byte j (0..3) of every lane, zero-extended to 32 bits. */
R16_INLINE __m512i byte_of(__m512i v, int j) {
    if (j == 3) return _mm512_srli_epi32(v, 24);
    if (j == 0) return _mm512_and_si512(v, _mm512_set1_epi32(0xFF));
    return _mm512_and_si512(_mm512_srli_epi32(v, 8 * j), _mm512_set1_epi32(0xFF));
}

/* Bits moved from position `from` to position `to` of each byte, everything else cleared
 * (mask = 1 << to, or 3 << to): 16-bit shifts, whose carries between bytes the mask drops. */
R16_INLINE __m512i bits_to(__m512i v, int from, int to, int mask) {
    const __m512i m = _mm512_set1_epi8((char)mask);
    if (to > from) return _mm512_and_si512(_mm512_slli_epi16(v, (unsigned)(to - from)), m);
    if (to < from) return _mm512_and_si512(_mm512_srli_epi16(v, (unsigned)(from - to)), m);
    return _mm512_and_si512(v, m);
}

/* (low nibble of q) | hi, with hi holding only bits above the nibble. */
R16_INLINE __m512i low_or(__m512i q, __m512i hi) { return _mm512_ternarylogic_epi32(q, hi, _mm512_set1_epi8(0xF), 0xEC); }

/* Super-block b of the 16 rows against N inputs, into the float accumulators acc (lane order of
 * load_transposed). blk[r]: row r's super-block; base: row 0's (for gathers at gather_idx). */
R16_INLINE void k16_block(slm_type t, const uint8_t *const *blk, const uint8_t *base, __m512i gather_idx,
                          const qdot_inputs *in, int first, const int N, int64_t b, __m512 *acc, r16_pf *pf) {
    __m512i isum[K16_INPUTS];
    _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) isum[k] = _mm512_setzero_si512();
    if (t == SLM_TYPE_Q3_K) {
        __m512i T[4], M[8], S[4];
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, 94, T); /* qs 62, 63, the 12 scale bytes p0..p11, d */
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(T[3], 16)));
        /* p0..p3, p4..p7, p8..p11 of each row */
        const __m512i P0 = _mm512_or_si512(_mm512_srli_epi32(T[0], 16), _mm512_slli_epi32(T[1], 16));
        const __m512i P1 = _mm512_or_si512(_mm512_srli_epi32(T[1], 16), _mm512_slli_epi32(T[2], 16));
        const __m512i P2 = _mm512_or_si512(_mm512_srli_epi32(T[2], 16), _mm512_slli_epi32(T[3], 16));
        const __m512i nib = _mm512_set1_epi8(0xF), three = _mm512_set1_epi8(3), off = _mm512_set1_epi8(32);
        /* S[q] byte i: scale 4q + i minus 32, as int8 (low nibble from p0..p7, top 2 bits from p8..p11) */
        _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
            const __m512i lo = q % 2 ? P1 : P0;
            const __m512i l4 = q < 2 ? _mm512_and_si512(lo, nib) : _mm512_and_si512(_mm512_srli_epi16(lo, 4), nib);
            S[q] = _mm512_sub_epi8(_mm512_or_si512(l4, bits_to(P2, 2 * q, 4, 0x30)), off);
        }
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, 0, M); /* hmask bytes 4g .. (g = 0..7): bit 4h + p is the high bit of element 128h + 32p + 4g .. */
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, 16, M + 4);
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            __m512i Q[8]; /* qs bytes 32h + 4g ..: bits 2p are element 128h + 32p + 4g .. */
            r16_prefetch(pf, K16_PF_PER_LOAD);
            load_transposed(blk, 32 + 32 * h, Q);
            r16_prefetch(pf, K16_PF_PER_LOAD);
            load_transposed(blk, 32 + 32 * h + 16, Q + 4);
            _Pragma("GCC unroll 4") for (int p = 0; p < 4; p++) {
                __m512i w[8]; /* q2 + 4 x hbit (0..7): sub-blocks 8h + 2p (g < 4) and 8h + 2p + 1 */
                _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++)
                    w[g] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(Q[g], (unsigned)(2 * p)),
                                                     bits_to(M[g], 4 * h + p, 2, 0x04), three, 0xEC);
                const int jl = 8 * h + 2 * p, jh = jl + 1;
                const __m512i sl = _mm512_srai_epi32(_mm512_slli_epi32(S[jl / 4], 24 - 8 * (jl % 4)), 24);
                const __m512i sh = _mm512_srai_epi32(_mm512_slli_epi32(S[jh / 4], 24 - 8 * (jh % 4)), 24);
                _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
                    const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
                    const r16_i32 *aq = (const r16_i32 *)(const void *)a->qs;
                    __m512i dl = _mm512_set1_epi32(-4 * a->bsums[jl]), dh = _mm512_set1_epi32(-4 * a->bsums[jh]);
                    _Pragma("GCC unroll 16") for (int u = 0; u < 4; u++) {
                        dl = _mm512_dpbusd_epi32(dl, w[u], _mm512_set1_epi32(aq[4 * jl + u]));
                        dh = _mm512_dpbusd_epi32(dh, w[4 + u], _mm512_set1_epi32(aq[4 * jh + u]));
                    }
                    isum[k] = _mm512_add_epi32(isum[k], _mm512_add_epi32(_mm512_mullo_epi32(dl, sl), _mm512_mullo_epi32(dh, sh)));
                }
            }
        }
        _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
            acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a->d)), _mm512_cvtepi32_ps(isum[k]), acc[k]);
        }
        return;
    }
    if (t == SLM_TYPE_Q6_K) {
        __m512i S[4];
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, 192, S); /* the 16 int8 scales */
        const __m512i dword = _mm512_i32gather_epi32(gather_idx, base + 206, 1); /* scales 14, 15, d */
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dword, 16)));
        { /* the offset first: isum = -32 x (scales . the input's sums of 16), pairs of int16 by VPDPWSSD */
            __m512i sp[8]; /* (scale 2p, scale 2p + 1) as int16 */
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
                const __m512i ev = _mm512_srai_epi16(_mm512_slli_epi16(S[q], 8), 8), od = _mm512_srai_epi16(S[q], 8);
                sp[2 * q] = _mm512_mask_blend_epi16(0xAAAAAAAAu, ev, _mm512_slli_epi32(od, 16));
                sp[2 * q + 1] = _mm512_mask_blend_epi16(0xAAAAAAAAu, _mm512_srli_epi32(ev, 16), od);
            }
            _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
                const r16_i32 *bs = (const r16_i32 *)(const void *)a->bsums;
                __m512i off = _mm512_setzero_si512();
                _Pragma("GCC unroll 8") for (int q = 0; q < 8; q++) off = _mm512_dpwssd_epi32(off, sp[q], _mm512_set1_epi32(bs[q]));
                isum[k] = _mm512_sub_epi32(isum[k], _mm512_slli_epi32(off, 5));
            }
        }
        _Pragma("GCC unroll 16") for (int h = 0; h < 2; h++) {
            __m512i H[8]; /* qh bytes 32h + 4g .. (g = 0..7), the top 2 bits of elements 128h + 4g + 32k at bits 2k */
            r16_prefetch(pf, K16_PF_PER_LOAD);
            load_transposed(blk, 128 + 32 * h, H);
            r16_prefetch(pf, K16_PF_PER_LOAD);
            load_transposed(blk, 128 + 32 * h + 16, H + 4);
            _Pragma("GCC unroll 16") for (int m = 0; m < 4; m++) {
                __m512i L[4]; /* ql bytes 64h + 16m + 4u: elements 128h + 16m + 4u (low), + 64 (high) */
                r16_prefetch(pf, K16_PF_PER_LOAD);
                load_transposed(blk, 64 * h + 16 * m, L);
                __m512i lo[4], hi[4];
                _Pragma("GCC unroll 16") for (int u = 0; u < 4; u++) {
                    const __m512i qh = H[4 * (m % 2) + u];
                    lo[u] = low_or(L[u], bits_to(qh, 2 * (m / 2), 4, 0x30));
                    hi[u] = low_or(_mm512_srli_epi16(L[u], 4), bits_to(qh, 2 * (2 + m / 2), 4, 0x30));
                }
                const int jl = 8 * h + m, jh = 8 * h + 4 + m; /* their sub-blocks of 16 */
                const __m512i sl = _mm512_srai_epi32(_mm512_slli_epi32(S[jl / 4], 24 - 8 * (jl % 4)), 24);
                const __m512i sh = _mm512_srai_epi32(_mm512_slli_epi32(S[jh / 4], 24 - 8 * (jh % 4)), 24);
                _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
                    const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
                    const r16_i32 *aq = (const r16_i32 *)(const void *)a->qs;
                    __m512i dl = _mm512_setzero_si512(), dh = _mm512_setzero_si512();
                    _Pragma("GCC unroll 16") for (int u = 0; u < 4; u++) {
                        dl = _mm512_dpbusd_epi32(dl, lo[u], _mm512_set1_epi32(aq[4 * jl + u]));
                        dh = _mm512_dpbusd_epi32(dh, hi[u], _mm512_set1_epi32(aq[4 * jh + u]));
                    }
                    isum[k] = _mm512_add_epi32(isum[k], _mm512_add_epi32(_mm512_mullo_epi32(dl, sl), _mm512_mullo_epi32(dh, sh)));
                }
            }
        }
        _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
            acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a->d)), _mm512_cvtepi32_ps(isum[k]), acc[k]);
        }
        return;
    }
    const bool q5 = t == SLM_TYPE_Q5_K;
    const int qs = q5 ? 48 : 16;
    __m512i T[4]; /* d | dmin, then the 12 scale bytes */
    r16_prefetch(pf, K16_PF_PER_LOAD);
    load_transposed(blk, 0, T);
    const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(T[0]));
    const __m512 mw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(T[0], 16)));
    const __m512i six = _mm512_set1_epi8(0x3F), nib = _mm512_set1_epi8(0xF), top = _mm512_set1_epi8(0x30);
    const __m512i sc_lo = _mm512_and_si512(T[1], six), mn_lo = _mm512_and_si512(T[2], six);
    const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(T[3], nib), _mm512_and_si512(_mm512_srli_epi32(T[1], 2), top));
    const __m512i mn_hi =
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(T[3], 4), nib), _mm512_and_si512(_mm512_srli_epi32(T[2], 2), top));
    /* the mins in pairs of int16 (m0 m1), (m2 m3), (m4 m5), (m6 m7) */
    const __m512i pair_lo = _mm512_broadcast_i32x4(_mm_setr_epi8(0, -1, 1, -1, 4, -1, 5, -1, 8, -1, 9, -1, 12, -1, 13, -1));
    const __m512i pair_hi = _mm512_broadcast_i32x4(_mm_setr_epi8(2, -1, 3, -1, 6, -1, 7, -1, 10, -1, 11, -1, 14, -1, 15, -1));
    const __m512i mp[4] = {_mm512_shuffle_epi8(mn_lo, pair_lo), _mm512_shuffle_epi8(mn_lo, pair_hi),
                           _mm512_shuffle_epi8(mn_hi, pair_lo), _mm512_shuffle_epi8(mn_hi, pair_hi)};
    __m512i H[8]; /* q5_K: qh bytes 4g .. (g = 0..7); bit j is the fifth bit of element 32j + 4g .. */
    if (q5) {
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, 16, H);
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, 32, H + 4);
    }
    _Pragma("GCC unroll 16") for (int c = 0; c < 4; c++) { /* sub-blocks 2c (low nibbles) and 2c + 1 (high) */
        __m512i q[8], lo[8], hi[8];
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, qs + 32 * c, q);
        r16_prefetch(pf, K16_PF_PER_LOAD);
        load_transposed(blk, qs + 32 * c + 16, q + 4);
        _Pragma("GCC unroll 16") for (int g = 0; g < 8; g++) {
            if (q5) {
                lo[g] = low_or(q[g], bits_to(H[g], 2 * c, 4, 0x10));
                hi[g] = low_or(_mm512_srli_epi16(q[g], 4), bits_to(H[g], 2 * c + 1, 4, 0x10));
            } else {
                lo[g] = _mm512_and_si512(q[g], nib);
                hi[g] = _mm512_and_si512(_mm512_srli_epi16(q[g], 4), nib);
            }
        }
        const __m512i sl = byte_of(c < 2 ? sc_lo : sc_hi, (2 * c) % 4), sh = byte_of(c < 2 ? sc_lo : sc_hi, (2 * c + 1) % 4);
        _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
            const r16_i32 *aq = (const r16_i32 *)(const void *)(a->qs + 64 * c);
            __m512i l0 = _mm512_setzero_si512(), l1 = _mm512_setzero_si512();
            __m512i h0 = _mm512_setzero_si512(), h1 = _mm512_setzero_si512();
            _Pragma("GCC unroll 16") for (int g = 0; g < 8; g += 2) {
                l0 = _mm512_dpbusd_epi32(l0, lo[g], _mm512_set1_epi32(aq[g]));
                l1 = _mm512_dpbusd_epi32(l1, lo[g + 1], _mm512_set1_epi32(aq[g + 1]));
                h0 = _mm512_dpbusd_epi32(h0, hi[g], _mm512_set1_epi32(aq[8 + g]));
                h1 = _mm512_dpbusd_epi32(h1, hi[g + 1], _mm512_set1_epi32(aq[8 + g + 1]));
            }
            const __m512i s = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(l0, l1), sl),
                                               _mm512_mullo_epi32(_mm512_add_epi32(h0, h1), sh));
            isum[k] = _mm512_add_epi32(isum[k], s);
        }
    }
    _Pragma("GCC unroll 16") for (int k = 0; k < N; k++) {
        const block_q8_K *a = (const block_q8_K *)(in->q8_K + (size_t)(first + k) * in->q8_K_stride) + b;
        /* the input's sums of 32 as int16 pairs (s0 s1), (s2 s3) | (s4 s5), (s6 s7) */
        const __m256i s32 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), _mm256_set1_epi16(1));
        const __m512i sp = _mm512_castsi256_si512(_mm256_packs_epi32(s32, s32));
        __m512i mins = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mp[0], _mm512_permutexvar_epi32(_mm512_set1_epi32(0), sp));
        mins = _mm512_dpwssd_epi32(mins, mp[1], _mm512_permutexvar_epi32(_mm512_set1_epi32(1), sp));
        mins = _mm512_dpwssd_epi32(mins, mp[2], _mm512_permutexvar_epi32(_mm512_set1_epi32(4), sp));
        mins = _mm512_dpwssd_epi32(mins, mp[3], _mm512_permutexvar_epi32(_mm512_set1_epi32(5), sp));
        const __m512 ad = _mm512_set1_ps(a->d);
        acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, ad), _mm512_cvtepi32_ps(isum[k]), acc[k]);
        acc[k] = _mm512_fnmadd_ps(_mm512_mul_ps(mw, ad), _mm512_cvtepi32_ps(mins), acc[k]);
    }
}

/* Rows row0 .. row0 + n_rows - 1 (row_bytes apart, n_rows <= 16) against N inputs: outs[k][r]. */
R16_INLINE void k16_rows(slm_type t, const uint8_t *row0, size_t row_bytes, int n_rows, const qdot_inputs *in,
                         int first, const int N, float *const *outs) {
    const size_t bytes = t == SLM_TYPE_Q3_K ? sizeof(block_q3_K) : t == SLM_TYPE_Q6_K ? sizeof(block_q6_K) : t == SLM_TYPE_Q5_K ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const int64_t nb = in->cols / QK_K;
    const uint8_t *p[16];
    const __m512i gather_idx = r16_rows(row0, row_bytes, n_rows, p);
    const uint8_t *next = row0 + (size_t)K16_PF_GROUPS * 16 * row_bytes;
    __m512 acc[K16_INPUTS];
    for (int k = 0; k < N; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t at = (size_t)b * bytes;
        r16_pf pf = {(const char *)next + 16 * at, (const char *)next + 16 * (at + bytes)};
        const uint8_t *blk[16];
        for (int r = 0; r < 16; r++) blk[r] = p[r] + at;
        k16_block(t, blk, row0 + at, gather_idx, in, first, N, b, acc, &pf);
        r16_prefetch(&pf, 64); /* what is left */
    }
    const __mmask16 keep = (__mmask16)((1u << n_rows) - 1);
    for (int k = 0; k < N; k++) _mm512_mask_storeu_ps(outs[k], keep, unshuffle(acc[k]));
}

/* All rows, in groups of 16, against the inputs K16_INPUTS at a time. */
R16_DEFINE_ALL(k16_all, R16_TARGET, k16_rows)

/* q6_K against one input (decoding), with the floats of k16_rows: per super-block each row's
 * exact integer sum (the same integer however it is summed), then the same float step in the
 * same lane. Here the rows are read one after another, whole super-blocks of a row at a time
 * (the order they lie in memory, which the hardware prefetchers follow), 64 weights per
 * register: VPMADDUBSW with the input's quants, VPDPWSSD with the scales. Each (row, super-block)
 * leaves 16 partial sums in a register, folded to 4 and kept in a scratch; then per super-block
 * the 16 rows' sums are summed across (a transposing reduction) into one register, a row per
 * lane. */

/* Super-blocks of the 16 rows summed per pass (their partial sums: 256 bytes each), so that
 * rows of up to 32768 elements are read whole, in order. */
#define K16_ONE_CHUNK 128

/* The weights are asked for into L2 this far ahead of use, 4 lines a super-block (measured
 * here, cols 1536: 16 KiB into L2 ~24 GB/s; 24 to 64 KiB no better; 4 KiB into L2 19, into L1
 * 16-18; 16 KiB into L1 16; exactly the lines not yet asked for, rather than 4 a block, no
 * better; none, 16). */
#define K16_ONE_PF 16384
#define K16_ONE_HINT _MM_HINT_T1

/* 16 partial sums of row block w against input block a: their total is the block's integer sum
 * over sub-blocks j of scale_j x (q . a - 32 x the input's sum of sub-block j). */
R16_INLINE __m512i q6_one_block(const block_q6_K *w, const block_q8_K *a, __m256i neg_bsums) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)w->scales));
    /* the offset: (32 x scale_j) . (-bsums_j), in the low 8 lanes */
    __m512i acc = _mm512_zextsi256_si512(_mm256_madd_epi16(_mm256_slli_epi16(sc16, 5), neg_bsums));
    const __m512i sc = _mm512_castsi256_si512(sc16);
    const __m512i low4 = _mm512_set1_epi8(0xF), top2 = _mm512_set1_epi8(0x30);
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512(w->ql + 64 * h);
        const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(w->qh + 32 * h)));
        /* elements 128h + 0..63: low nibbles, qh bits 0-1 (first 32) and 2-3 (next 32) */
        const __m512i hi0 = _mm512_sllv_epi16(hb, _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1));
        const __m512i q0 = _mm512_ternarylogic_epi32(_mm512_and_si512(l, low4), hi0, top2, 0xF8);
        /* elements 128h + 64..127: high nibbles, qh bits 4-5 and 6-7 */
        const __m512i hi1 = _mm512_mask_srli_epi16(hb, 0xFFFF0000u, hb, 2);
        const __m512i q1 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4), hi1, top2, 0xF8);
        _Pragma("GCC unroll 2") for (int e = 0; e < 2; e++) {
            const int c = 2 * h + e; /* elements 64c.., scales 4c..4c+3 (one per 128 bits) */
            const short j = (short)(4 * c);
            const __m512i idx = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_setr_epi16(j, j, j, j, j, j, j, j, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1,
                                                         j + 1, j + 1)),
                _mm256_setr_epi16(j + 2, j + 2, j + 2, j + 2, j + 2, j + 2, j + 2, j + 2, j + 3, j + 3, j + 3, j + 3,
                                  j + 3, j + 3, j + 3, j + 3),
                1);
            const __m512i p = _mm512_maddubs_epi16(e ? q1 : q0, _mm512_loadu_si512(a->qs + 64 * c));
            acc = _mm512_dpwssd_epi32(acc, p, _mm512_permutexvar_epi16(idx, sc));
        }
    }
    return acc;
}

/* The 4 lanes of v[r] summed into lane r (16 rows, v[4k + l] holding row 4l + k: the order
 * k16_q6_one16 keeps them in, so that each register is one 64-byte load). */
R16_INLINE __m512i sum_across16(const __m128i *v) {
    const __m512i a = _mm512_loadu_si512(v), b = _mm512_loadu_si512(v + 4);
    const __m512i c = _mm512_loadu_si512(v + 8), d = _mm512_loadu_si512(v + 12);
    /* per 128 bits l: rows 4l, 4l+1, 4l, 4l+1, then 4l+2, 4l+3, 4l+2, 4l+3 */
    const __m512i x = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    const __m512i y = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y));
}

/* Rows row0 .. row0 + n_rows - 1 (n_rows <= 16) of q6_K against input `first`: out[r]. */
R16_INLINE void k16_q6_one16(const uint8_t *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                             float *out) {
    const int64_t nb = in->cols / QK_K;
    const block_q8_K *act = (const block_q8_K *)(in->q8_K + (size_t)first * in->q8_K_stride);
    __m128i part[K16_ONE_CHUNK][16]; /* row 4l + k at 4k + l, its 16 partial sums folded to 4 */
    uint16_t dh[K16_ONE_CHUNK][16];
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += K16_ONE_CHUNK) {
        const int nc = nb - b0 < K16_ONE_CHUNK ? (int)(nb - b0) : K16_ONE_CHUNK;
        __m256i nbs[K16_ONE_CHUNK];
        for (int b = 0; b < nc; b++)
            nbs[b] = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)(const void *)act[b0 + b].bsums));
        for (int r = 0; r < 16; r++) {
            if (r >= n_rows) {
                for (int b = 0; b < nc; b++) part[b][4 * (r % 4) + r / 4] = _mm_setzero_si128(), dh[b][r] = 0;
                continue;
            }
            const block_q6_K *w = (const block_q6_K *)(const void *)(row0 + (size_t)r * row_bytes) + b0;
            for (int b = 0; b < nc; b++) {
                const char *ahead = (const char *)(w + b) + K16_ONE_PF;
                for (int line = 0; line < 4; line++) _mm_prefetch(ahead + 64 * line, K16_ONE_HINT);
                const __m512i p = q6_one_block(w + b, act + b0 + b, nbs[b]);
                const __m256i p8 = _mm256_add_epi32(_mm512_castsi512_si256(p), _mm512_extracti64x4_epi64(p, 1));
                part[b][4 * (r % 4) + r / 4] = _mm_add_epi32(_mm256_castsi256_si128(p8), _mm256_extracti128_si256(p8, 1));
                dh[b][r] = w[b].d;
            }
        }
        for (int b = 0; b < nc; b++) {
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)dh[b]));
            const __m512i isum = sum_across16(part[b]);
            acc = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(act[b0 + b].d)), _mm512_cvtepi32_ps(isum), acc);
        }
    }
    _mm512_mask_storeu_ps(out, (__mmask16)((1u << n_rows) - 1), acc);
}

/* All rows of q6_K against one input, 16 at a time. */
__attribute__((target(R16_TARGET))) static void k16_q6_one(const void *row0, size_t row_bytes, int n_rows,
                                                           const qdot_inputs *in, int first, float *out) {
    for (int r = 0; r < n_rows; r += 16)
        k16_q6_one16((const uint8_t *)row0 + (size_t)r * row_bytes, row_bytes, n_rows - r < 16 ? n_rows - r : 16, in,
                     first, out + r);
}

/* One function per type, so that every step is specialised for it. */
#define K16_TYPE(name, T)                                                                                          \
    __attribute__((target(R16_TARGET))) static void name(const void *row0, size_t row_bytes, int n_rows,            \
                                                       const qdot_inputs *in, int first, int n_act, float *const *outs) { \
        k16_all(T, row0, row_bytes, n_rows, in, first, n_act, outs);                                                \
    }
K16_TYPE(k16_q4_K, SLM_TYPE_Q4_K)
K16_TYPE(k16_q5_K, SLM_TYPE_Q5_K)
K16_TYPE(k16_q6_K, SLM_TYPE_Q6_K)
K16_TYPE(k16_q3_K, SLM_TYPE_Q3_K)
#undef K16_TYPE

void qdot_k_rows16_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                        int n_act, float *const *outs) {
    switch (t) {
    case SLM_TYPE_Q3_K: k16_q3_K(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    case SLM_TYPE_Q5_K: k16_q5_K(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    case SLM_TYPE_Q6_K:
        if (n_act == 1) k16_q6_one(row0, row_bytes, n_rows, in, first, outs[0]);
        else k16_q6_K(row0, row_bytes, n_rows, in, first, n_act, outs);
        return;
    default: k16_q4_K(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    }
}

void qdot_k_rows16_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    r16_one_row(qdot_k_rows16_many, t, row, in, first, n_act, out);
}
