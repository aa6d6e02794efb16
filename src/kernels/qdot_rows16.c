/* qdot_rows16.c — the 32-element block types (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl) against
 * q8_0 activations with AVX-512 VNNI, sixteen weight rows at a time: one row per 32-bit lane.
 *
 * For each block, the sixteen rows' weights are loaded and transposed in registers (8 vectors,
 * vector j holding elements 4j..4j+3 of every row, made unsigned: q + o), so one VPDPBUSD with
 * an input's 4 quants broadcast (signed) adds 4 products to every row at once, and after 8 of
 * them each lane holds its row's exact integer dot with the block; the offset o is taken off
 * with the input's block sum (o x sum, the same for every row), a min (q4_1, q5_1) through
 * scale x sum. Then one multiply-add per block: acc[row] += (d_row x d_input) x dot. The scales
 * of the sixteen rows come in with one gather. Each row is one lane with one chain over the
 * blocks, so its result depends neither on the rows beside it nor on the inputs (the batch):
 * one input and a batch run the same arithmetic. Weight loading and transposing is shared by
 * every input of a pass, so prompts do ~1 vector step per 32 multiply-adds. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"
#include "kernels/rows16.h"
#include "tensor/quants.h"

/* Decoding streams the rows from memory: the group of 16 rows this many groups ahead is asked
 * for into L2 at the pace this one is read. */
#ifndef R16_PF_GROUPS
#define R16_PF_GROUPS 2
#endif

/* Inputs per weight load (each keeps one 16-row accumulator). */
#define R16_INPUTS 8 /* as R16_DEFINE_ALL passes them */

/* A type's layout: block bytes, where the 16 bytes of nibbles (or the 32 quants) start, where
 * the fifth bits start (q5_*), whether it has a min, and the offset that makes weights unsigned. */
typedef struct {
    int bytes, qs, qh, offset;
    bool min, wide; /* wide: 32 one-byte quants (q8_0) */
} r16_layout;

static inline r16_layout layout_of(slm_type t) {
    switch (t) {
    case SLM_TYPE_Q4_1: return (r16_layout){20, 4, -1, 0, true, false};
    case SLM_TYPE_Q5_0: return (r16_layout){22, 6, 2, 16, false, false};
    case SLM_TYPE_Q5_1: return (r16_layout){24, 8, 4, 0, true, false};
    case SLM_TYPE_Q8_0: return (r16_layout){34, 2, -1, 128, false, true};
    case SLM_TYPE_IQ4_NL: return (r16_layout){18, 2, -1, 128, false, false};
    default: return (r16_layout){18, 2, -1, 8, false, false}; /* q4_0 */
    }
}

/* Block b's weights of the 16 rows (row r's block at p[r]), unsigned, w[j] = elements 4j..4j+3. */
R16_INLINE void unpack_block(slm_type t, r16_layout L, const uint8_t *const *p, __m512i gather_idx, const uint8_t *base,
                             __m512i *w) {
    if (L.wide) { /* q8_0: 32 signed bytes, xor 0x80 */
        load_transposed(p, L.qs, w);
        load_transposed(p, L.qs + 16, w + 4);
        for (int j = 0; j < 8; j++) w[j] = _mm512_xor_si512(w[j], _mm512_set1_epi8((char)0x80));
        return;
    }
    __m512i q[4];
    load_transposed(p, L.qs, q);
    const __m512i low4 = _mm512_set1_epi8(0xF);
    for (int j = 0; j < 4; j++) {
        w[j] = _mm512_and_si512(q[j], low4);
        w[4 + j] = _mm512_and_si512(_mm512_srli_epi16(q[j], 4), low4);
    }
    if (t == SLM_TYPE_IQ4_NL) {
        const __m128i tab = _mm_add_epi8(_mm_loadu_si128((const __m128i *)IQ4_KVALUES), _mm_set1_epi8((char)0x80));
        const __m512i table = _mm512_broadcast_i32x4(tab);
        for (int j = 0; j < 8; j++) w[j] = _mm512_shuffle_epi8(table, w[j]);
    }
    if (L.qh >= 0) { /* the fifth bit of element e is bit e of qh: picked per byte by VPSHUFBITQMB */
        const __m512i qh = _mm512_i32gather_epi32(gather_idx, base + L.qh, 1);
        for (int j = 0; j < 8; j++) {
            const long long e = 4 * j; /* the lane's 4 elements; lanes of one qword are two rows */
            const long long lo = (e) | (e + 1) << 8 | (e + 2) << 16 | (e + 3) << 24;
            const __m512i pick = _mm512_set1_epi64(lo | (lo + 0x20202020LL) << 32);
            const __mmask64 hi = _mm512_bitshuffle_epi64_mask(qh, pick);
            w[j] = _mm512_mask_add_epi8(w[j], hi, w[j], _mm512_set1_epi8(16));
        }
    }
}

/* Rows row0 .. row0 + n_rows - 1 (row_bytes apart, n_rows <= 16) against N inputs: outs[k][r]. */
R16_INLINE void rows16(slm_type t, const uint8_t *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                       const int N, float *const *outs) {
    const r16_layout L = layout_of(t);
    const int64_t nb = in->cols / QK;
    const uint8_t *p[16];
    const __m512i gather_idx = r16_rows(row0, row_bytes, n_rows, p);
    const uint8_t *next = row0 + (size_t)16 * R16_PF_GROUPS * row_bytes;
    __m512 acc[R16_INPUTS];
    for (int k = 0; k < N; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t at = (size_t)b * (size_t)L.bytes;
        /* the next 16 rows (contiguous) into L2, at the pace this group's are read (measured here:
           into L1, or each row's own lines ahead, did worse) */
        for (size_t off = 16 * at; off < 16 * (at + (size_t)L.bytes); off += 64)
            _mm_prefetch((const char *)next + off, _MM_HINT_T1);
        const uint8_t *blk[16];
        for (int r = 0; r < 16; r++) blk[r] = p[r] + at;
        const uint8_t *base = row0 + at;
        __m512i w[8];
        unpack_block(t, L, blk, gather_idx, base, w);
        /* the rows' scales (and mins): f16 halves of one gathered dword */
        const __m512i dm = _mm512_i32gather_epi32(gather_idx, base, 1);
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm));
        const __m512 mw = L.min ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16))) : dw;
        for (int k = 0; k < N; k++) {
            const int input = first + k;
            const block_q8_0 *a = (const block_q8_0 *)(in->q8_0 + (size_t)input * in->q8_0_stride) + b;
            const qdot_block_info *info = (const qdot_block_info *)(in->info + (size_t)input * in->info_stride) + b;
            const r16_i32 *aq = (const r16_i32 *)(const void *)a->qs;
            __m512i even = _mm512_set1_epi32(-L.offset * info->sum), odd = _mm512_setzero_si512();
            for (int j = 0; j < 8; j += 2) { /* the input's 4 quants broadcast (an embedded broadcast) */
                even = _mm512_dpbusd_epi32(even, w[j], _mm512_set1_epi32(aq[j]));
                odd = _mm512_dpbusd_epi32(odd, w[j + 1], _mm512_set1_epi32(aq[j + 1]));
            }
            const __m512i dot = _mm512_add_epi32(even, odd);
            acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(info->d)), _mm512_cvtepi32_ps(dot), acc[k]);
            if (L.min) acc[k] = _mm512_fmadd_ps(mw, _mm512_set1_ps(info->d_sum), acc[k]);
        }
    }
    const __mmask16 keep = (__mmask16)((1u << n_rows) - 1);
    for (int k = 0; k < N; k++) _mm512_mask_storeu_ps(outs[k], keep, unshuffle(acc[k]));
}

/* All rows, in groups of 16, against the inputs R16_INPUTS at a time. */
R16_DEFINE_ALL(rows16_all, R16_TARGET, rows16)

/* One function per type, so that every step is specialised for it. */
#define R16_TYPE(name, T)                                                                                          \
    __attribute__((target(R16_TARGET))) static void name(const void *row0, size_t row_bytes, int n_rows,            \
                                                       const qdot_inputs *in, int first, int n_act, float *const *outs) { \
        rows16_all(T, row0, row_bytes, n_rows, in, first, n_act, outs);                                             \
    }
R16_TYPE(r16_q4_0, SLM_TYPE_Q4_0)
R16_TYPE(r16_q4_1, SLM_TYPE_Q4_1)
R16_TYPE(r16_q5_0, SLM_TYPE_Q5_0)
R16_TYPE(r16_q5_1, SLM_TYPE_Q5_1)
R16_TYPE(r16_q8_0, SLM_TYPE_Q8_0)
R16_TYPE(r16_iq4_nl, SLM_TYPE_IQ4_NL)
#undef R16_TYPE

void qdot_rows16_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                      int n_act, float *const *outs) {
    switch (t) {
    case SLM_TYPE_Q4_1: r16_q4_1(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    case SLM_TYPE_Q5_0: r16_q5_0(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    case SLM_TYPE_Q5_1: r16_q5_1(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    case SLM_TYPE_Q8_0: r16_q8_0(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    case SLM_TYPE_IQ4_NL: r16_iq4_nl(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    default: r16_q4_0(row0, row_bytes, n_rows, in, first, n_act, outs); return;
    }
}

void qdot_rows16_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    r16_one_row(qdot_rows16_many, t, row, in, first, n_act, out);
}
