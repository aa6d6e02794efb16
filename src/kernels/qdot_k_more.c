/* qdot_k_more.c — AVX2 and AVX-512 (VNNI) kernels of the q2_K, q3_K and q5_K weight rows against
 * q8_K activations. A block's weights are unpacked to unsigned bytes (q2_K 0..3, q3_K 0..7,
 * q5_K 0..31) and multiplied with the input's signed bytes (maddubs), the pairs summed with the
 * sub-block scales as int16 (madd, or VPDPWSSD): exact integers. What the unsigned weights leave
 * out (the q2_K / q5_K mins, q3_K's -4) is a product of the input's sums of 16 (bsums) with the
 * mins or scales, also exact. Each block's sums are then totalled per input (exactly) and take the
 * scalar reference's float steps, for 4 inputs at once in the lanes of one register: the results
 * are the reference's floats (qdot_ref.c), whatever the instruction set, the number of inputs or
 * their place in a batch. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"

#define KM_AVX2_TARGET "avx2,fma,f16c"
#define KM_AVX512_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define KM_AVX2_INLINE __attribute__((target(KM_AVX2_TARGET), always_inline)) static inline
#define KM_AVX512_INLINE __attribute__((target(KM_AVX512_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory once per token: ask for them this far ahead. */
#define KM_PREFETCH_BYTES 4096

/* Inputs per weight load: AVX2, AVX-512. */
#define KM_GROUP_AVX2 4
#define KM_GROUP_AVX512 QDOT_VNNI_MAX

/* Rows of at most this many blocks are unpacked once for a batch larger than a group (about
 * 36 KiB on the stack); longer rows are unpacked per group. */
#define KM_UNPACKED_MAX 64

/* ---------------------------------------------------------------- shared steps */

/* Bytes of a block of weight type t (q2_K, q3_K or q5_K). */
static inline size_t km_block_bytes(slm_type t) {
    return t == SLM_TYPE_Q2_K ? sizeof(block_q2_K) : t == SLM_TYPE_Q3_K ? sizeof(block_q3_K) : sizeof(block_q5_K);
}

/* IEEE half to float (F16C). */
KM_AVX2_INLINE float km_h2f(uint16_t h) { return _cvtsh_ss(h); }

/* Asks for the weights of the block at wb, KM_PREFETCH_BYTES ahead (one line per 64 bytes: with
 * the blocks back to back, every line of the row is asked for). */
KM_AVX2_INLINE void km_prefetch(const slm_type t, const char *wb) {
    for (size_t off = 0; off < km_block_bytes(t); off += 64) _mm_prefetch(wb + KM_PREFETCH_BYTES + off, _MM_HINT_T0);
}

/* Keeps v as rounded here: the compiler may not fuse the multiply that made it with a later add
 * (the scalar reference rounds each step). */
KM_AVX2_INLINE __m128 km_rounded(__m128 v) {
    __asm__("" : "+x"(v));
    return v;
}

/* The totals of n (1..4) vectors of 8 int32 lanes: lane k the sum of v[k]'s lanes (lanes from n
 * on repeat others). Exact integers, with unpacks and adds (the horizontal adds cost more). */
KM_AVX2_INLINE __m128i km_sum4(const __m256i *v, const int n) {
    if (n == 1) {
        __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v[0]), _mm256_extracti128_si256(v[0], 1));
        x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));
        return _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1));
    }
    /* lanes a0 b0 a1 b1 (per half): v[0] and v[1]'s lanes 0+2 and 1+3 */
    const __m256i x01 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
    __m256i y;
    if (n == 2) {
        y = _mm256_add_epi32(x01, _mm256_shuffle_epi32(x01, 0x4E));
    } else {
        const __m256i v3 = v[n > 3 ? 3 : 2];
        const __m256i x23 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v3), _mm256_unpackhi_epi32(v[2], v3));
        y = _mm256_add_epi32(_mm256_unpacklo_epi64(x01, x23), _mm256_unpackhi_epi64(x01, x23));
    }
    return _mm_add_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
}

/* One block's exact integer totals for n (1..4) inputs, from input k's sums in 8 lanes (isum[k];
 * q3_K with the offset taken off) and its mins . sums of 16 (ws[k]; q2_K / q5_K): q3_K S0..S3 in
 * the low half; q2_K / q5_K S0 W0 S0 W0 in the low half (n = 1), or S0..S3 | W0..W3. */
KM_AVX2_INLINE __m256i km_block_totals(const slm_type t, const __m256i *isum, const __m256i *ws, const int n) {
    if (t == SLM_TYPE_Q3_K) return _mm256_castsi128_si256(km_sum4(isum, n));
    if (n == 1) {
        const __m256i v[2] = {isum[0], ws[0]};
        return _mm256_castsi128_si256(km_sum4(v, 2));
    }
    return _mm256_set_m128i(km_sum4(ws, n), km_sum4(isum, n));
}

/* One block's results for n (1..4) inputs in 4 lanes (lanes from n on are not used) from its
 * totals (km_block_totals), with the scalar reference's float steps: q2_K / q5_K ad (d S - dmin W);
 * q3_K (ad d) S. dm: d, dmin, d, dmin (q3_K: d 4 times); ad: the inputs' scales. */
KM_AVX2_INLINE __m128 km_block_floats(const slm_type t, __m256i tot, const int n, __m128 dm, __m128 ad) {
    if (t == SLM_TYPE_Q3_K)
        return km_rounded(_mm_mul_ps(_mm_mul_ps(ad, dm), _mm_cvtepi32_ps(_mm256_castsi256_si128(tot))));
    __m128 r;
    if (n == 1) { /* lane 0: d S - dmin W */
        const __m128 f = km_rounded(_mm_mul_ps(_mm_cvtepi32_ps(_mm256_castsi256_si128(tot)), dm));
        r = _mm_sub_ps(f, _mm_movehdup_ps(f));
    } else {
        const __m128 s = _mm_cvtepi32_ps(_mm256_castsi256_si128(tot));
        const __m128 w = _mm_cvtepi32_ps(_mm256_extracti128_si256(tot, 1));
        const __m128 ds = km_rounded(_mm_mul_ps(s, _mm_shuffle_ps(dm, dm, 0x00)));
        const __m128 mw = km_rounded(_mm_mul_ps(w, _mm_shuffle_ps(dm, dm, 0x55)));
        r = _mm_sub_ps(ds, mw);
    }
    return km_rounded(_mm_mul_ps(r, ad));
}

/* A block whose float steps wait for the next block's products (software pipelining: its
 * integer totals are ready by then, and the sums still add block after block). The loop starts
 * with a zero one, whose +0.0 leaves the sum as the scalar reference has it. */
typedef struct {
    __m256i tot;
    __m128 dm, ad;
} km_pending;

/* d, dmin, d, dmin of a block (q3_K: d 4 times) from its f16 field(s) at p. */
KM_AVX2_INLINE __m128 km_dm(const slm_type t, const uint16_t *p) {
    if (t == SLM_TYPE_Q3_K) return _mm_cvtph_ps(_mm_set1_epi16((short)p[0]));
    uint32_t both;
    memcpy(&both, p, 4);
    return _mm_cvtph_ps(_mm_set1_epi32((int)both));
}

/* The scales of inputs 0..n-1 (n 1..4) of a group at block b, in 4 lanes (0 beyond n). */
KM_AVX2_INLINE __m128 km_input_scales(const uint8_t *act, size_t act_stride, int64_t b, const int n) {
    float d[4];
    for (int k = 0; k < 4; k++) d[k] = k < n ? ((const block_q8_K *)(act + (size_t)k * act_stride) + b)->d : 0.0f;
    return _mm_setr_ps(d[0], d[1], d[2], d[3]);
}

/* The 8 6-bit scales and mins of a q5_K block (q4_K's packing) from its 12 bytes at p (16 bytes
 * are read; the block goes on after them): bytes 0-7 the scales, 8-15 the mins. */
KM_AVX2_INLINE __m128i km_q5_scales(const uint8_t *p) {
    const __m128i v = _mm_loadu_si128((const __m128i *)p);          /* dwords u0 u1 u2 (u3) */
    __m128i a = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0));       /* u0 u2 u1 u2 */
    const __m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)); /* u0 u0 u1 u1 */
    a = _mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4));
    const __m128i lo = _mm_and_si128(a, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m128i hi = _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

/* The 16 6-bit scales of a q3_K block minus 32, as signed bytes, from its 12 bytes at p. */
KM_AVX2_INLINE __m128i km_q3_scales(const uint8_t *p) {
    const __m128i m4 = _mm_set1_epi8(0xF);
    const __m128i v = _mm_loadl_epi64((const __m128i *)p);
    const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    uint32_t h;
    memcpy(&h, p + 8, 4);
    /* scale i's two high bits: bits 2 (i / 4) of byte 8 + i % 4 */
    __m128i high = _mm_srlv_epi32(_mm_set1_epi32((int)h), _mm_setr_epi32(0, 2, 4, 6));
    high = _mm_slli_epi32(_mm_and_si128(high, _mm_set1_epi8(3)), 4);
    return _mm_sub_epi8(_mm_or_si128(low, high), _mm_set1_epi8(32));
}

/* ---------------------------------------------------------------- AVX2 */

/* A block ready for the 256-bit products: per 32 elements (piece i, input bytes 32i..32i+31) the
 * unsigned weights and their sub-block scales as int16 (q5_K: one sub-block of 32; q2_K / q3_K:
 * two of 16, 8 lanes each); w16 against the input's 16 sums (q2_K the mins, q5_K each min
 * twice, q3_K the scales); the float scales (km_dm). */
typedef struct {
    __m256i q[8], s[8], w16;
    __m128 dm; /* d, dmin, d, dmin (q3_K: d 4 times) */
} km_block;

/* Shifts each 16-bit lane left by n (right by -n when n < 0; constant after inlining). */
KM_AVX2_INLINE __m256i km_shift(__m256i v, const int n) {
    return n > 0 ? _mm256_slli_epi16(v, n) : n < 0 ? _mm256_srli_epi16(v, -n) : v;
}

/* Picks, in each 128-bit half, the bytes of sel (index pattern) from both halves of src. */
KM_AVX2_INLINE __m256i km_pick(__m256i src, __m256i sel) { return _mm256_shuffle_epi8(src, sel); }

/* The index pattern taking byte lo (zero-extended to 16 bits) into the low half's 8 words and
 * byte hi into the high half's. */
KM_AVX2_INLINE __m256i km_word_index(int lo, int hi) {
    const short l = (short)(0x8000 | lo), h = (short)(0x8000 | hi);
    return _mm256_setr_epi16(l, l, l, l, l, l, l, l, h, h, h, h, h, h, h, h);
}

/* The index pattern taking the 16-bit word lo into the low half's 8 words, hi into the high's. */
KM_AVX2_INLINE __m256i km_pair_index(int lo, int hi) {
    const short l = (short)(2 * lo | (2 * lo + 1) << 8), h = (short)(2 * hi | (2 * hi + 1) << 8);
    return _mm256_setr_epi16(l, l, l, l, l, l, l, l, h, h, h, h, h, h, h, h);
}

/* The 8 q5_K mins (bytes 8-15 of km_q5_scales, in both halves of sm) twice each as 16 int16,
 * against an input's 16 sums of 16. */
KM_AVX2_INLINE __m256i km_q5_mins(__m256i sm) {
    return km_pick(sm, _mm256_setr_epi8(8, -128, 8, -128, 9, -128, 9, -128, 10, -128, 10, -128, 11, -128, 11, -128, 12,
                                        -128, 12, -128, 13, -128, 13, -128, 14, -128, 14, -128, 15, -128, 15, -128));
}

/* What a block's pieces are made from (km_piece), set up once per block: the raw block, its
 * scales ready for picking, w16 and dm as km_block has them. */
typedef struct {
    const uint8_t *w;
    __m256i sc, sc_hi, w16;
    __m128 dm;
} km_prep;

/* Sets up block wb of weight type t: q2_K the 16 4-bit scales in both halves, the mins as w16;
 * q3_K the 16 signed scales as int16 (words 0-7 in both halves of sc, 8-15 in sc_hi, all as w16);
 * q5_K the 8 scales and 8 mins in both halves, the mins twice each as w16. */
KM_AVX2_INLINE km_prep km_setup(const slm_type t, const void *wb) {
    km_prep r;
    r.w = wb;
    if (t == SLM_TYPE_Q2_K) {
        const block_q2_K *w = wb;
        const __m128i sm = _mm_loadu_si128((const __m128i *)w->scales), m4 = _mm_set1_epi8(0xF);
        r.sc = _mm256_broadcastsi128_si256(_mm_and_si128(sm, m4));
        r.sc_hi = r.sc;
        r.w16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4));
        r.dm = km_dm(t, &w->d);
    } else if (t == SLM_TYPE_Q3_K) {
        const block_q3_K *w = wb;
        r.w16 = _mm256_cvtepi8_epi16(km_q3_scales(w->scales));
        r.sc = _mm256_permute2x128_si256(r.w16, r.w16, 0x00);
        r.sc_hi = _mm256_permute2x128_si256(r.w16, r.w16, 0x11);
        r.dm = km_dm(t, &w->d);
    } else {
        const block_q5_K *w = wb;
        r.sc = _mm256_broadcastsi128_si256(km_q5_scales(w->scales));
        r.sc_hi = r.sc;
        r.w16 = km_q5_mins(r.sc);
        r.dm = km_dm(t, &w->d);
    }
    return r;
}

/* Piece i (elements 32i..32i+31) of a block: its unsigned weights *q and their scales *s.
 * q2_K: 2-bit plane i % 4 of qs bytes 32 (i / 4) .., sub-blocks 2i, 2i+1; q3_K: the same with
 * bit i of hmask byte r as bit 2 of element r; q5_K: the low (i even) or high nibbles of qs bytes
 * 32 (i / 2) .. with bit i of qh byte r as bit 4 of element r. */
KM_AVX2_INLINE void km_piece(const slm_type t, const km_prep *p, const int i, __m256i *q, __m256i *s) {
    if (t == SLM_TYPE_Q5_K) {
        const block_q5_K *w = (const block_q5_K *)p->w;
        const __m256i v = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * (i / 2)));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)w->qh);
        const __m256i lo = _mm256_and_si256(i % 2 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0xF));
        *q = _mm256_or_si256(lo, _mm256_and_si256(km_shift(qh, 4 - i), _mm256_set1_epi8(0x10)));
        *s = km_pick(p->sc, km_word_index(i, i));
        return;
    }
    const uint8_t *qs = t == SLM_TYPE_Q2_K ? ((const block_q2_K *)p->w)->qs : ((const block_q3_K *)p->w)->qs;
    const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * (i / 4)));
    const __m256i lo = _mm256_and_si256(km_shift(v, -2 * (i % 4)), _mm256_set1_epi8(3));
    if (t == SLM_TYPE_Q2_K) {
        *q = lo;
        *s = km_pick(p->sc, km_word_index(2 * i, 2 * i + 1));
        return;
    }
    const __m256i hm = _mm256_loadu_si256((const __m256i *)((const block_q3_K *)p->w)->hmask);
    *q = _mm256_or_si256(lo, _mm256_and_si256(km_shift(hm, 2 - i), _mm256_set1_epi8(4)));
    *s = km_pick(i < 4 ? p->sc : p->sc_hi, km_pair_index(2 * (i % 4), 2 * (i % 4) + 1));
}

/* Unpacks block wb of weight type t whole (for a batch). */
KM_AVX2_INLINE void km_unpack(const slm_type t, const void *wb, km_block *u) {
    const km_prep p = km_setup(t, wb);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) km_piece(t, &p, i, &u->q[i], &u->s[i]);
    u->w16 = p.w16;
    u->dm = p.dm;
}

/* The most inputs a 256-bit body takes (AVX2: KM_GROUP_AVX2; with AVX-512's 32 registers, 8). */
#define KM_BODY_MAX 8

/* One row of type t against N (1..KM_BODY_MAX) q8_K inputs act_stride bytes apart: each block's
 * exact integer sums, their totals per input, then the scalar reference's float steps for 4
 * inputs at a time (km_block_floats), so out[k] is the reference's float. The blocks come
 * unpacked, or are unpacked here (decoding: streamed from memory, prefetched); the arithmetic is
 * the same. Inlined into the AVX2 kernels and, with its 256-bit steps, the AVX-512 ones. */
KM_AVX2_INLINE void km_body(const slm_type t, const void *row, const km_block *unpacked, const uint8_t *act,
                            size_t act_stride, const int N, int64_t nb, float *out) {
    __m128 sum[2] = {_mm_setzero_ps(), _mm_setzero_ps()};
    km_pending pend[2];
    pend[0].tot = pend[1].tot = _mm256_setzero_si256();
    pend[0].dm = pend[1].dm = pend[0].ad = pend[1].ad = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        km_prep p;
        if (!unpacked) {
            const char *wb = (const char *)row + (size_t)b * km_block_bytes(t);
            km_prefetch(t, wb);
            p = km_setup(t, wb);
        }
        __m256i acc[KM_BODY_MAX], ws[KM_BODY_MAX];
        for (int k = 0; k < N; k++) acc[k] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) { /* each piece made just before its products (constant i) */
            __m256i q, s;
            if (unpacked) q = unpacked[b].q[i], s = unpacked[b].s[i];
            else km_piece(t, &p, i, &q, &s);
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m256i pr = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(a->qs + 32 * i)));
                acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(pr, s));
            }
        }
        const __m256i w16 = unpacked ? unpacked[b].w16 : p.w16;
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            ws[k] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), w16);
            if (t == SLM_TYPE_Q3_K) acc[k] = _mm256_sub_epi32(acc[k], _mm256_slli_epi32(ws[k], 2));
        }
        const __m128 dm = unpacked ? unpacked[b].dm : p.dm;
        for (int g = 0; g < N; g += 4) {
            const int n = N - g < 4 ? N - g : 4;
            const km_pending now = {km_block_totals(t, acc + g, ws + g, n), dm,
                                    km_input_scales(act + (size_t)g * act_stride, act_stride, b, n)};
            sum[g / 4] = _mm_add_ps(sum[g / 4], km_block_floats(t, pend[g / 4].tot, n, pend[g / 4].dm, pend[g / 4].ad));
            pend[g / 4] = now;
        }
    }
    for (int g = 0; g < N; g += 4) {
        const int n = N - g < 4 ? N - g : 4;
        sum[g / 4] = _mm_add_ps(sum[g / 4], km_block_floats(t, pend[g / 4].tot, n, pend[g / 4].dm, pend[g / 4].ad));
    }
    float r[8];
    _mm_storeu_ps(r, sum[0]);
    _mm_storeu_ps(r + 4, sum[1]);
    for (int k = 0; k < N; k++) out[k] = r[k];
}

/* One row against n_act inputs, KM_GROUP_AVX2 at a time (unpacked: the row's blocks, or NULL). */
KM_AVX2_INLINE void km_groups(const slm_type t, const void *row, const km_block *unpacked, const uint8_t *act,
                              size_t act_stride, int n_act, int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += KM_GROUP_AVX2) {
        const uint8_t *a = act + (size_t)g * act_stride;
        switch (n_act - g) {
        case 1: km_body(t, row, unpacked, a, act_stride, 1, nb, out + g); break;
        case 2: km_body(t, row, unpacked, a, act_stride, 2, nb, out + g); break;
        case 3: km_body(t, row, unpacked, a, act_stride, 3, nb, out + g); break;
        default: km_body(t, row, unpacked, a, act_stride, KM_GROUP_AVX2, nb, out + g); break;
        }
    }
}

/* One row against n_act inputs: streamed for a group or less, else unpacked once. */
KM_AVX2_INLINE void km_multi(const slm_type t, const void *row, const uint8_t *act, size_t act_stride, int n_act,
                             int64_t nb, float *out) {
    if (n_act <= KM_GROUP_AVX2 || nb > KM_UNPACKED_MAX) {
        km_groups(t, row, NULL, act, act_stride, n_act, nb, out);
        return;
    }
    km_block unpacked[KM_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++) km_unpack(t, (const char *)row + (size_t)b * km_block_bytes(t), unpacked + b);
    km_groups(t, row, unpacked, act, act_stride, n_act, nb, out);
}

/* The AVX2 kernel of q2_K rows. */
__attribute__((target(KM_AVX2_TARGET))) static void km_avx2_q2_K(const void *row, const uint8_t *act, size_t stride,
                                                                int n_act, int64_t nb, float *out) {
    km_multi(SLM_TYPE_Q2_K, row, act, stride, n_act, nb, out);
}

/* The AVX2 kernel of q3_K rows. */
__attribute__((target(KM_AVX2_TARGET))) static void km_avx2_q3_K(const void *row, const uint8_t *act, size_t stride,
                                                                int n_act, int64_t nb, float *out) {
    km_multi(SLM_TYPE_Q3_K, row, act, stride, n_act, nb, out);
}

/* The AVX2 kernel of q5_K rows. */
__attribute__((target(KM_AVX2_TARGET))) static void km_avx2_q5_K(const void *row, const uint8_t *act, size_t stride,
                                                                int n_act, int64_t nb, float *out) {
    km_multi(SLM_TYPE_Q5_K, row, act, stride, n_act, nb, out);
}

void qdot_k_more_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const uint8_t *act = in->q8_K + (size_t)first * in->q8_K_stride;
    const int64_t nb = in->cols / QK_K;
    if (t == SLM_TYPE_Q2_K) km_avx2_q2_K(row, act, in->q8_K_stride, n_act, nb, out);
    else if (t == SLM_TYPE_Q3_K) km_avx2_q3_K(row, act, in->q8_K_stride, n_act, nb, out);
    else km_avx2_q5_K(row, act, in->q8_K_stride, n_act, nb, out);
}

/* ---------------------------------------------------------------- AVX-512 */

/* A block ready for the 512-bit products: pieces 2c and 2c+1 (input bytes 64c..64c+63) in one
 * register, weights and scales; the rest as km_block. */
typedef struct {
    __m512i q[4], s[4];
    __m256i w16;
    __m128 dm; /* d, dmin, d, dmin (q3_K: d 4 times) */
} km512_block;

/* A 256-bit value in both halves of a 512-bit register. */
KM_AVX512_INLINE __m512i km512_both(const void *p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* The index pattern taking byte b_L (zero-extended to 16 bits) into the 8 words of each 128-bit
 * lane L. */
KM_AVX512_INLINE __m512i km512_word_index(int b0, int b1, int b2, int b3) {
    const int l0 = (int)((0x8000u | (unsigned)b0) * 0x10001u), l1 = (int)((0x8000u | (unsigned)b1) * 0x10001u);
    const int l2 = (int)((0x8000u | (unsigned)b2) * 0x10001u), l3 = (int)((0x8000u | (unsigned)b3) * 0x10001u);
    return _mm512_setr_epi32(l0, l0, l0, l0, l1, l1, l1, l1, l2, l2, l2, l2, l3, l3, l3, l3);
}

/* Two index bytes taking 16-bit word w, twice (a 32-bit lane of an index pattern). */
static inline int km_word_twice(int w) { return (int)((2u * (unsigned)w | (2u * (unsigned)w + 1) << 8) * 0x10001u); }

/* The index pattern taking the 16-bit word w_L into the 8 words of each 128-bit lane L. */
KM_AVX512_INLINE __m512i km512_pair_index(int w0, int w1, int w2, int w3) {
    const int l0 = km_word_twice(w0), l1 = km_word_twice(w1), l2 = km_word_twice(w2), l3 = km_word_twice(w3);
    return _mm512_setr_epi32(l0, l0, l0, l0, l1, l1, l1, l1, l2, l2, l2, l2, l3, l3, l3, l3);
}

/* Shifts each 16-bit lane of the low half right by lo bits and of the high half by hi bits. */
KM_AVX512_INLINE __m512i km512_srl_halves(__m512i v, int lo, int hi) {
    const __m512i n = _mm512_inserti64x4(_mm512_set1_epi16((short)lo), _mm256_set1_epi16((short)hi), 1);
    return _mm512_srlv_epi16(v, n);
}

/* Unpacks a q2_K block (see km_piece): pair c = planes 2(c % 2), 2(c % 2) + 1 of qs bytes
 * 32 (c / 2) ..; its 4 sub-blocks' scales in the 4 128-bit lanes. */
KM_AVX512_INLINE void km512_q2_unpack(const block_q2_K *w, km512_block *u) {
    const __m128i sm = _mm_loadu_si128((const __m128i *)w->scales);
    const __m128i m4 = _mm_set1_epi8(0xF);
    const __m512i sc = _mm512_broadcast_i32x4(_mm_and_si128(sm, m4));
    u->w16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4));
    const __m512i m2 = _mm512_set1_epi8(3);
#pragma GCC unroll 4
    for (int h = 0; h < 2; h++) {
        const __m512i q = km512_both(w->qs + 32 * h);
#pragma GCC unroll 4
        for (int pp = 0; pp < 2; pp++) {
            const int c = 2 * h + pp;
            u->q[c] = _mm512_and_si512(km512_srl_halves(q, 4 * pp, 4 * pp + 2), m2);
            u->s[c] = _mm512_shuffle_epi8(sc, km512_word_index(4 * c, 4 * c + 1, 4 * c + 2, 4 * c + 3));
        }
    }
    u->dm = km_dm(SLM_TYPE_Q2_K, &w->d);
}

/* Unpacks a q3_K block (see km_piece): q2_K's planes, 4 added where the hmask bit is set. */
KM_AVX512_INLINE void km512_q3_unpack(const block_q3_K *w, km512_block *u) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(km_q3_scales(w->scales));
    u->w16 = sc16;
    const __m512i sc_lo = _mm512_broadcast_i32x4(_mm256_castsi256_si128(sc16));
    const __m512i sc_hi = _mm512_broadcast_i32x4(_mm256_extracti128_si256(sc16, 1));
    const __m512i hm = km512_both(w->hmask);
    const __m512i m2 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
#pragma GCC unroll 4
    for (int h = 0; h < 2; h++) {
        const __m512i q = km512_both(w->qs + 32 * h);
#pragma GCC unroll 4
        for (int pp = 0; pp < 2; pp++) {
            const int c = 2 * h + pp, i = 2 * c; /* pieces i, i + 1 */
            const __m512i lo = _mm512_and_si512(km512_srl_halves(q, 4 * pp, 4 * pp + 2), m2);
            const __m512i bits =
                _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << i)), _mm256_set1_epi8((char)(1 << (i + 1))), 1);
            u->q[c] = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(hm, bits), lo, four);
            const int j = 4 * pp; /* sub-blocks 4c .. 4c + 3: words j .. j + 3 of sc_lo / sc_hi */
            u->s[c] = _mm512_shuffle_epi8(h ? sc_hi : sc_lo, km512_pair_index(j, j + 1, j + 2, j + 3));
        }
    }
    u->dm = km_dm(SLM_TYPE_Q3_K, &w->d);
}

/* Unpacks a q5_K block (see km_piece): pair c = the low and high nibbles of qs bytes 32c ..
 * with the fifth bits rotated into place (bit i of each qh byte to bit 4). */
KM_AVX512_INLINE void km512_q5_unpack(const block_q5_K *w, km512_block *u) {
    const __m128i sm8 = km_q5_scales(w->scales);
    const __m256i smy = _mm256_broadcastsi128_si256(sm8);
    u->w16 = km_q5_mins(smy);
    const __m512i sm = _mm512_broadcast_i32x4(sm8);
    const __m512i qh = km512_both(w->qh);
    const __m512i m4 = _mm512_set1_epi8(0xF), bit4 = _mm512_set1_epi8(0x10);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const int i = 2 * c; /* pieces i, i + 1 */
        const __m512i q = km512_both(w->qs + 32 * c);
        const __m512i rot = _mm512_inserti64x4(_mm512_set1_epi32((4 - i) & 31), _mm256_set1_epi32((3 - i) & 31), 1);
        const __m512i hb = _mm512_and_si512(_mm512_rolv_epi32(qh, rot), bit4);
        /* (nibbles & 0xF) | hb in one ternary-logic step: (A & C) | B */
        u->q[c] = _mm512_ternarylogic_epi32(km512_srl_halves(q, 0, 4), hb, m4, 0xEC);
        u->s[c] = _mm512_shuffle_epi8(sm, km512_word_index(i, i, i + 1, i + 1));
    }
    u->dm = km_dm(SLM_TYPE_Q5_K, &w->d);
}

/* Unpacks block wb of weight type t. */
KM_AVX512_INLINE void km512_unpack(const slm_type t, const void *wb, km512_block *u) {
    if (t == SLM_TYPE_Q2_K) km512_q2_unpack(wb, u);
    else if (t == SLM_TYPE_Q3_K) km512_q3_unpack(wb, u);
    else km512_q5_unpack(wb, u);
}

/* One unpacked row of type t against N (1..KM_GROUP_AVX512) q8_K inputs (a batch): the integer
 * sums in 16 lanes (VPDPWSSD), folded to 8 (km_body's integers), then km_body's float steps, 4
 * inputs a step: the same floats as km_body. */
KM_AVX512_INLINE void km512_body(const slm_type t, const km512_block *unpacked, const uint8_t *act,
                                 size_t act_stride, const int N, int64_t nb, float *out) {
    __m128 sum[2] = {_mm_setzero_ps(), _mm_setzero_ps()};
    km_pending pend[2];
    pend[0].tot = pend[1].tot = _mm256_setzero_si256();
    pend[0].dm = pend[1].dm = pend[0].ad = pend[1].ad = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const km512_block *u = unpacked + b;
        /* two chains per input (pairs 0-1 and 2-3), added: a shorter wait for the block's sums */
        __m512i acc[2][KM_GROUP_AVX512];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m512i p = _mm512_maddubs_epi16(u->q[c], _mm512_loadu_si512(a->qs + 64 * c));
                acc[c / 2][k] = c % 2 ? _mm512_dpwssd_epi32(acc[c / 2][k], p, u->s[c]) : _mm512_madd_epi16(p, u->s[c]);
            }
        __m256i isum[KM_GROUP_AVX512], ws[KM_GROUP_AVX512];
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            const __m512i sk = _mm512_add_epi32(acc[0][k], acc[1][k]);
            isum[k] = _mm256_add_epi32(_mm512_castsi512_si256(sk), _mm512_extracti64x4_epi64(sk, 1));
            ws[k] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), u->w16);
            if (t == SLM_TYPE_Q3_K) isum[k] = _mm256_sub_epi32(isum[k], _mm256_slli_epi32(ws[k], 2));
        }
        for (int g = 0; g < N; g += 4) {
            const int n = N - g < 4 ? N - g : 4;
            const km_pending now = {km_block_totals(t, isum + g, ws + g, n), u->dm,
                                    km_input_scales(act + (size_t)g * act_stride, act_stride, b, n)};
            sum[g / 4] = _mm_add_ps(sum[g / 4], km_block_floats(t, pend[g / 4].tot, n, pend[g / 4].dm, pend[g / 4].ad));
            pend[g / 4] = now;
        }
    }
    for (int g = 0; g < N; g += 4) {
        const int n = N - g < 4 ? N - g : 4;
        sum[g / 4] = _mm_add_ps(sum[g / 4], km_block_floats(t, pend[g / 4].tot, n, pend[g / 4].dm, pend[g / 4].ad));
    }
    float r[8];
    _mm_storeu_ps(r, sum[0]);
    _mm_storeu_ps(r + 4, sum[1]);
    for (int k = 0; k < N; k++) out[k] = r[k];
}

/* An unpacked row against n_act inputs, KM_GROUP_AVX512 at a time. */
KM_AVX512_INLINE void km512_groups(const slm_type t, const km512_block *unpacked, const uint8_t *act, size_t act_stride,
                                   int n_act, int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += KM_GROUP_AVX512) {
        const uint8_t *a = act + (size_t)g * act_stride;
#define KM512_CASE(N) \
    case N: km512_body(t, unpacked, a, act_stride, N, nb, out + g); break
        switch (n_act - g) {
        KM512_CASE(1); KM512_CASE(2); KM512_CASE(3); KM512_CASE(4);
        KM512_CASE(5); KM512_CASE(6); KM512_CASE(7);
        default: km512_body(t, unpacked, a, act_stride, KM_GROUP_AVX512, nb, out + g); break;
        }
#undef KM512_CASE
    }
}

/* A streamed row against n_act inputs, KM_BODY_MAX at a time, with the 256-bit body. */
KM_AVX512_INLINE void km_groups8(const slm_type t, const void *row, const uint8_t *act, size_t act_stride, int n_act,
                                 int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += KM_BODY_MAX) {
        const uint8_t *a = act + (size_t)g * act_stride;
#define KM_CASE(N) \
    case N: km_body(t, row, NULL, a, act_stride, N, nb, out + g); break
        switch (n_act - g) {
        KM_CASE(1); KM_CASE(2); KM_CASE(3); KM_CASE(4);
        KM_CASE(5); KM_CASE(6); KM_CASE(7);
        default: km_body(t, row, NULL, a, act_stride, KM_BODY_MAX, nb, out + g); break;
        }
#undef KM_CASE
    }
}

/* One row against n_act inputs. Up to KM_GROUP_AVX512 inputs (decoding) take the 256-bit body
 * with AVX-512's encodings and 32 registers: on Zen 4, whose 512-bit steps take two cycles, it
 * is the faster for one input. A batch unpacks the row once into 512-bit pieces for VPDPWSSD.
 * The floats are the same either way. */
KM_AVX512_INLINE void km512_multi(const slm_type t, const void *row, const uint8_t *act, size_t act_stride, int n_act,
                                  int64_t nb, float *out) {
    if (n_act <= KM_GROUP_AVX512 || nb > KM_UNPACKED_MAX) {
        km_groups8(t, row, act, act_stride, n_act, nb, out);
        return;
    }
    km512_block unpacked[KM_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++) km512_unpack(t, (const char *)row + (size_t)b * km_block_bytes(t), unpacked + b);
    km512_groups(t, unpacked, act, act_stride, n_act, nb, out);
}

/* The AVX-512 kernel of q2_K rows. */
__attribute__((target(KM_AVX512_TARGET))) static void km512_q2_K(const void *row, const uint8_t *act, size_t stride,
                                                                int n_act, int64_t nb, float *out) {
    km512_multi(SLM_TYPE_Q2_K, row, act, stride, n_act, nb, out);
}

/* The AVX-512 kernel of q3_K rows. */
__attribute__((target(KM_AVX512_TARGET))) static void km512_q3_K(const void *row, const uint8_t *act, size_t stride,
                                                                int n_act, int64_t nb, float *out) {
    km512_multi(SLM_TYPE_Q3_K, row, act, stride, n_act, nb, out);
}

/* The AVX-512 kernel of q5_K rows. */
__attribute__((target(KM_AVX512_TARGET))) static void km512_q5_K(const void *row, const uint8_t *act, size_t stride,
                                                                int n_act, int64_t nb, float *out) {
    km512_multi(SLM_TYPE_Q5_K, row, act, stride, n_act, nb, out);
}

void qdot_k_more_avx512_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const uint8_t *act = in->q8_K + (size_t)first * in->q8_K_stride;
    const int64_t nb = in->cols / QK_K;
    if (t == SLM_TYPE_Q2_K) km512_q2_K(row, act, in->q8_K_stride, n_act, nb, out);
    else if (t == SLM_TYPE_Q3_K) km512_q3_K(row, act, in->q8_K_stride, n_act, nb, out);
    else km512_q5_K(row, act, in->q8_K_stride, n_act, nb, out);
}
