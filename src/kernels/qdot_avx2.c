/* qdot_avx2.c — AVX2 kernels of the q4_0 / q5_0 / q8_0 rows (against q8_0 inputs) and the
 * q4_K / q6_K rows (against q8_K inputs). One body serves one input and a batch, so a row's
 * result does not depend on the batch it is in; a prompt's row is unpacked once for all its
 * inputs. */
#include <immintrin.h>
#include <string.h>

#include "kernels/k_avx2.h"
#include "kernels/q32_avx2.h"
#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* Decoding streams the weights from memory once per token: ask for them this far ahead of
 * use (the hardware prefetcher alone leaves the kernels waiting on memory). */
#define PREFETCH_BYTES 4096
#define prefetch_weights(p) _mm_prefetch((const char *)(p) + PREFETCH_BYTES, _MM_HINT_T0)

/* A block of a q4_0 / q5_0 / q8_0 row ready for the byte products: its 32 signed weights, their
 * absolute values and its scale. A prompt's row is unpacked into these once for all inputs. */
typedef struct {
    __m256i w, aw;
    float dw;
} q32_unpacked;

/* Rows of at most this many blocks are unpacked once for a batch (48 KiB on the stack); longer
 * rows unpack per 4 inputs. */
#define Q32_UNPACKED_MAX 512

#define INLINE_AVX2 __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

INLINE_AVX2 q32_unpacked q32_unpack(slm_type t, const void *row, int64_t b) {
    q32_unpacked u;
    u.w = q32_block(t, row, b, &u.dw);
    u.aw = _mm256_sign_epi8(u.w, u.w);
    return u;
}

/* Block b of a row streamed from memory (decoding): its weights asked for PREFETCH_BYTES ahead,
 * then unpacked. */
INLINE_AVX2 q32_unpacked q32_stream(slm_type t, const void *row, int64_t b) {
    const size_t bytes = t == SLM_TYPE_Q8_0   ? sizeof(block_q8_0)
                         : t == SLM_TYPE_Q5_0 ? sizeof(block_q5_0)
                                              : sizeof(block_q4_0);
    prefetch_weights((const char *)row + (size_t)b * bytes);
    return q32_unpack(t, row, b);
}

/* acc[k] += block b of the row (u) against input k, for k < N. */
INLINE_AVX2 void q32_block_step(q32_unpacked u, int64_t b, const uint8_t *act, size_t act_stride, const float *scales,
                                size_t scale_stride, const int N, __m256 *acc) {
    const __m256 dwv = _mm256_set1_ps(u.dw);
    for (int k = 0; k < N; k++) {
        const block_q8_0 *a = (const block_q8_0 *)(act + (size_t)k * act_stride) + b;
        __m256i sa = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)a->qs), u.w);
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u.aw, sa), _mm256_set1_epi16(1));
        __m256 d = _mm256_mul_ps(dwv, _mm256_loadu_ps(scales + (size_t)k * scale_stride + 8 * (size_t)b));
        acc[k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[k]);
    }
}

/* One q4_0 / q5_0 / q8_0 row against N q8_0 inputs act_stride bytes apart, their expanded
 * scales scale_stride floats apart (the product weight scale x input scale is the single
 * kernel's, so the results are too). The row's blocks come from unpacked, or are streamed here
 * when it is NULL (the same arithmetic). Inlined with constant t and N, so the 2N accumulators
 * (even and odd blocks) stay in registers. */
INLINE_AVX2 void q32_multi_body(slm_type t, const void *row, const q32_unpacked *unpacked, const uint8_t *act,
                                size_t act_stride, const float *scales, size_t scale_stride, const int N, int64_t n,
                                float *out) {
    __m256 even[4], odd[4];
    for (int k = 0; k < N; k++) even[k] = odd[k] = _mm256_setzero_ps();
    const int64_t nb = n / QK;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        q32_block_step(unpacked ? unpacked[b] : q32_stream(t, row, b), b, act, act_stride, scales, scale_stride, N, even);
        q32_block_step(unpacked ? unpacked[b + 1] : q32_stream(t, row, b + 1), b + 1, act, act_stride, scales,
                       scale_stride, N, odd);
    }
    if (b < nb)
        q32_block_step(unpacked ? unpacked[b] : q32_stream(t, row, b), b, act, act_stride, scales, scale_stride, N, even);
    for (int k = 0; k < N; k++) out[k] = hsum_ps(_mm256_add_ps(even[k], odd[k]));
}

/* One row against n_act inputs, 4 at a time (unpacked: the row's blocks, or NULL). */
INLINE_AVX2 void q32_groups(slm_type t, const void *row, const q32_unpacked *unpacked, const uint8_t *act,
                            size_t act_stride, const float *scales, size_t scale_stride, int n_act, int64_t n,
                            float *out) {
    for (int b = 0; b < n_act; b += 4) {
        const uint8_t *a = act + (size_t)b * act_stride;
        const float *s = scales + (size_t)b * scale_stride;
        switch (n_act - b) {
        case 1: q32_multi_body(t, row, unpacked, a, act_stride, s, scale_stride, 1, n, out + b); break;
        case 2: q32_multi_body(t, row, unpacked, a, act_stride, s, scale_stride, 2, n, out + b); break;
        case 3: q32_multi_body(t, row, unpacked, a, act_stride, s, scale_stride, 3, n, out + b); break;
        default: q32_multi_body(t, row, unpacked, a, act_stride, s, scale_stride, 4, n, out + b); break;
        }
    }
}

INLINE_AVX2 void qdot_q32_type(slm_type t, const void *row, const uint8_t *act, size_t act_stride, const float *scales,
                               size_t scale_stride, int n_act, int64_t n, float *out) {
    const int64_t nb = n / QK;
    if (n_act <= 4 || nb > Q32_UNPACKED_MAX) {
        q32_groups(t, row, NULL, act, act_stride, scales, scale_stride, n_act, n, out);
        return;
    }
    q32_unpacked unpacked[Q32_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++) unpacked[b] = q32_unpack(t, row, b);
    q32_groups(t, row, unpacked, act, act_stride, scales, scale_stride, n_act, n, out);
}

AVX2 static void qdot_q32_multi(slm_type t, const void *row, const uint8_t *act, size_t act_stride,
                                const float *scales, size_t scale_stride, int n_act, int64_t n, float *out) {
    switch (t) {
    case SLM_TYPE_Q8_0: qdot_q32_type(SLM_TYPE_Q8_0, row, act, act_stride, scales, scale_stride, n_act, n, out); return;
    case SLM_TYPE_Q5_0: qdot_q32_type(SLM_TYPE_Q5_0, row, act, act_stride, scales, scale_stride, n_act, n, out); return;
    case SLM_TYPE_IQ4_NL: qdot_q32_type(SLM_TYPE_IQ4_NL, row, act, act_stride, scales, scale_stride, n_act, n, out); return;
    default: qdot_q32_type(SLM_TYPE_Q4_0, row, act, act_stride, scales, scale_stride, n_act, n, out); return;
    }
}

/* ---------------------------------------------------------------- q4_K / q6_K */

/* Inputs per weight load in the q4_K / q6_K kernels; rows of at most K_UNPACKED_MAX blocks are
 * unpacked once for a batch of more inputs than that (about 20 KiB on the stack). */
#define K_GROUP 4
#define K_UNPACKED_MAX 36

/* A q4_K or q6_K block ready for the byte products: per 32 elements its unsigned weights (q4_K
 * 0..15, q6_K 0..63) and their sub-block scales as int16 (q4_K: one per 32; q6_K: one per 16,
 * in the two 128-bit halves); w16, against an input's 16 sums of 16: the q4_K mins (each twice)
 * or the 16 q6_K scales (for the -32 offset); d and dmin (0 for q6_K). */
typedef struct {
    __m256i q[8], s[8], w16;
    float d, dmin;
} k_unpacked;

/* The int16 scale of q4_K sub-block j (byte j of sc) in all 16 lanes. */
INLINE_AVX2 __m256i k4_scale(__m256i sc_bytes, int j) {
    return _mm256_shuffle_epi8(sc_bytes, _mm256_set1_epi16((short)(0xFF00 | j)));
}

/* Pieces 2c, 2c+1 (elements 64c .. 64c+63) of a q4_K block: weights and scales. */
INLINE_AVX2 void q4_K_piece(const block_q4_K *w, __m256i sc_bytes, int c, __m256i *q, __m256i *s) {
    const __m256i low4 = _mm256_set1_epi8(0xF), raw = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * c));
    q[0] = _mm256_and_si256(raw, low4);
    q[1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
    s[0] = k4_scale(sc_bytes, 2 * c);
    s[1] = k4_scale(sc_bytes, 2 * c + 1);
}

/* The q6_K scales of pieces 2c, 2c+1 from the 16 scales as int16 (sc16): piece i gets scale 2i
 * in its first 128 bits and 2i+1 in its second. */
INLINE_AVX2 void q6_K_piece_scales(__m256i sc16, int c, __m256i *s) {
    const __m256i half = c < 2 ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
    for (int i = 0; i < 2; i++) {
        const int w = (4 * c + 2 * i) % 8; /* word of the piece's first scale within its half */
        const __m256i pick = _mm256_setr_epi8(2 * w, 2 * w + 1, 2 * w, 2 * w + 1, 2 * w, 2 * w + 1, 2 * w, 2 * w + 1,
                                              2 * w, 2 * w + 1, 2 * w, 2 * w + 1, 2 * w, 2 * w + 1, 2 * w, 2 * w + 1,
                                              2 * w + 2, 2 * w + 3, 2 * w + 2, 2 * w + 3, 2 * w + 2, 2 * w + 3, 2 * w + 2,
                                              2 * w + 3, 2 * w + 2, 2 * w + 3, 2 * w + 2, 2 * w + 3, 2 * w + 2, 2 * w + 3,
                                              2 * w + 2, 2 * w + 3);
        s[i] = _mm256_shuffle_epi8(half, pick);
    }
}

/* Pieces 2c, 2c+1 of a q6_K block (elements 64c .. 64c+63): 4 low bits from ql, 2 high from qh. */
INLINE_AVX2 void q6_K_piece(const block_q6_K *w, int c, __m256i *q) {
    const int h = c / 2, k0 = 2 * (c % 2); /* 128-element half, first piece within it */
    const __m256i low4 = _mm256_set1_epi8(0xF), top2 = _mm256_set1_epi8(0x30);
    const __m256i hb = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
    for (int i = 0; i < 2; i++) {
        const int k = k0 + i; /* piece k of the half: ql bytes 32(k%2).., nibble k/2, qh bits 2k */
        const __m256i l = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32 * (k % 2)));
        const __m256i lo = k < 2 ? _mm256_and_si256(l, low4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), low4);
        const __m256i hi = k == 0 ? _mm256_slli_epi16(hb, 4) : k == 1 ? _mm256_slli_epi16(hb, 2) : k == 2 ? hb : _mm256_srli_epi16(hb, 2);
        q[i] = _mm256_or_si256(lo, _mm256_and_si256(hi, top2));
    }
}

/* Block b of a q4_K (q6: false) or q6_K row, unpacked. */
INLINE_AVX2 void k_unpack(const bool q6, const void *row, int64_t b, k_unpacked *u) {
    if (q6) {
        const block_q6_K *w = (const block_q6_K *)row + b;
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
        for (int c = 0; c < 4; c++) {
            q6_K_piece(w, c, u->q + 2 * c);
            q6_K_piece_scales(sc16, c, u->s + 2 * c);
        }
        u->w16 = sc16;
        u->d = h2f(w->d);
        u->dmin = 0.0f;
    } else {
        const block_q4_K *w = (const block_q4_K *)row + b;
        uint64_t sc, mn;
        k4_scales_u64(w->scales, &sc, &mn);
        const __m256i sc_bytes = _mm256_set1_epi64x((long long)sc);
        for (int c = 0; c < 4; c++) q4_K_piece(w, sc_bytes, c, u->q + 2 * c, u->s + 2 * c);
        u->w16 = k4_mins16(mn);
        u->d = h2f(w->d);
        u->dmin = h2f(w->dmin);
    }
}

/* One q4_K (q6: false) or q6_K (q6: true) row against N (1..K_GROUP) q8_K inputs act_stride
 * bytes apart (k_avx2.h says how the sums become floats). The blocks come unpacked, or are
 * unpacked here piece by piece (decoding: streamed from memory, prefetched); the arithmetic is
 * the same. */
INLINE_AVX2 void k_body(const bool q6, const void *row, const k_unpacked *unpacked, const uint8_t *act,
                        size_t act_stride, const int N, int64_t nb, float *out) {
    __m256 accs[K_GROUP], accm[K_GROUP];
    for (int k = 0; k < N; k++) accs[k] = accm[k] = _mm256_setzero_ps();
    const size_t block_bytes = q6 ? sizeof(block_q6_K) : sizeof(block_q4_K);
    for (int64_t b = 0; b < nb; b++) {
        const k_unpacked *u = unpacked ? unpacked + b : NULL;
        const char *wb = (const char *)row + (size_t)b * block_bytes;
        __m256i sc_bytes = _mm256_setzero_si256(), sc16 = _mm256_setzero_si256();
        if (!u) {
            for (int line = 0; line < (q6 ? 4 : 3); line++) prefetch_weights(wb + 64 * line);
            if (q6) sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)((const block_q6_K *)wb)->scales));
            else {
                uint64_t sc, mn;
                k4_scales_u64(((const block_q4_K *)wb)->scales, &sc, &mn);
                sc_bytes = _mm256_set1_epi64x((long long)sc);
                sc16 = k4_mins16(mn); /* the mins, for the float step */
            }
        }
        __m256i acc[K_GROUP];
        for (int k = 0; k < N; k++) acc[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q[2], s[2];
            if (u) {
                q[0] = u->q[2 * c], q[1] = u->q[2 * c + 1], s[0] = u->s[2 * c], s[1] = u->s[2 * c + 1];
            } else if (q6) {
                q6_K_piece((const block_q6_K *)wb, c, q);
                q6_K_piece_scales(sc16, c, s);
            } else
                q4_K_piece((const block_q4_K *)wb, sc_bytes, c, q, s);
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m256i p0 = _mm256_maddubs_epi16(q[0], _mm256_loadu_si256((const __m256i *)(a->qs + 64 * c)));
                const __m256i p1 = _mm256_maddubs_epi16(q[1], _mm256_loadu_si256((const __m256i *)(a->qs + 64 * c + 32)));
                acc[k] = _mm256_add_epi32(acc[k], _mm256_add_epi32(_mm256_madd_epi16(p0, s[0]), _mm256_madd_epi16(p1, s[1])));
            }
        }
        const __m256i w16 = u ? u->w16 : sc16;
        const float d = u ? u->d : h2f(q6 ? ((const block_q6_K *)wb)->d : ((const block_q4_K *)wb)->d);
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            const __m256i sums = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), w16);
            if (q6) {
                const __m256i isum = _mm256_sub_epi32(acc[k], _mm256_slli_epi32(sums, 5));
                accs[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(isum), accs[k]);
            } else {
                const float dmin = u ? u->dmin : h2f(((const block_q4_K *)wb)->dmin);
                accs[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(acc[k]), accs[k]);
                accm[k] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * a->d), _mm256_cvtepi32_ps(sums), accm[k]);
            }
        }
    }
    for (int k = 0; k < N; k++) out[k] = q6 ? hsum_ps(accs[k]) : k4_result(accs[k], accm[k]);
}

/* One q4_K / q6_K row against n_act inputs, K_GROUP at a time (unpacked: the row's blocks, or
 * NULL). */
INLINE_AVX2 void k_groups(const bool q6, const void *row, const k_unpacked *unpacked, const uint8_t *act,
                          size_t act_stride, int n_act, int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += K_GROUP) {
        const uint8_t *a = act + (size_t)g * act_stride;
        switch (n_act - g) {
        case 1: k_body(q6, row, unpacked, a, act_stride, 1, nb, out + g); break;
        case 2: k_body(q6, row, unpacked, a, act_stride, 2, nb, out + g); break;
        case 3: k_body(q6, row, unpacked, a, act_stride, 3, nb, out + g); break;
        default: k_body(q6, row, unpacked, a, act_stride, K_GROUP, nb, out + g); break;
        }
    }
}

INLINE_AVX2 void k_multi(const bool q6, const void *row, const uint8_t *act, size_t act_stride, int n_act, int64_t nb,
                         float *out) {
    if (n_act <= K_GROUP || nb > K_UNPACKED_MAX) {
        k_groups(q6, row, NULL, act, act_stride, n_act, nb, out);
        return;
    }
    k_unpacked unpacked[K_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++) k_unpack(q6, row, b, unpacked + b);
    k_groups(q6, row, unpacked, act, act_stride, n_act, nb, out);
}

AVX2 static void qdot_q4_K_multi(const void *row, const uint8_t *act, size_t act_stride, int n_act, int64_t nb,
                                 float *out) {
    k_multi(false, row, act, act_stride, n_act, nb, out);
}

AVX2 static void qdot_q6_K_multi(const void *row, const uint8_t *act, size_t act_stride, int n_act, int64_t nb,
                                 float *out) {
    k_multi(true, row, act, act_stride, n_act, nb, out);
}

void qdot_q32_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    qdot_q32_multi(t, row, in->q8_0 + (size_t)first * in->q8_0_stride, in->q8_0_stride,
                   (const float *)(in->scales + (size_t)first * in->scales_stride), in->scales_stride / sizeof(float),
                   n_act, in->cols, out);
}

float qdot_k_avx2_one(slm_type t, const void *row, const void *act, int64_t n) {
    float out;
    if (t == SLM_TYPE_Q4_K) qdot_q4_K_multi(row, act, 0, 1, n / QK_K, &out);
    else qdot_q6_K_multi(row, act, 0, 1, n / QK_K, &out);
    return out;
}

void qdot_k_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const uint8_t *act = in->q8_K + (size_t)first * in->q8_K_stride;
    if (t == SLM_TYPE_Q4_K) qdot_q4_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
    else qdot_q6_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
}
