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

/* Inputs per weight load in the q4_K / q6_K kernels; rows of at most K_UNPACKED_MAX blocks are
 * unpacked once for a batch of more inputs than that (18 KiB on the stack). */
#define K_GROUP 4
#define K_UNPACKED_MAX 32

/* One q4_K (q6: false) or q6_K (q6: true) row against N (1..K_GROUP) q8_K inputs act_stride
 * bytes apart: 8 float accumulators per input (see k_avx2.h). The blocks come unpacked or are
 * unpacked here (decoding: streamed from memory, prefetched); the arithmetic is the same. */
INLINE_AVX2 void k_body(const bool q6, const void *row, const k_unpacked *unpacked, const uint8_t *act,
                        size_t act_stride, const int N, int64_t nb, float *out) {
    __m256 accf[K_GROUP];
    for (int k = 0; k < N; k++) accf[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        k_unpacked local;
        const k_unpacked *u = unpacked ? unpacked + b : &local;
        if (!unpacked) {
            const char *wb = (const char *)row + (size_t)b * (q6 ? sizeof(block_q6_K) : sizeof(block_q4_K));
            for (int line = 0; line < (q6 ? 3 : 2); line++) prefetch_weights(wb + 64 * line);
            if (q6) q6_K_unpack((const block_q6_K *)wb, &local);
            else q4_K_unpack((const block_q4_K *)wb, &local);
        }
        __m256i acc[K_GROUP];
        for (int k = 0; k < N; k++) acc[k] = _mm256_setzero_si256();
        for (int i = 0; i < 8; i++) { /* 32 elements */
            const __m256i q = u->q[i], s = u->s[i];
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(a->qs + 32 * i)));
                acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(p, s));
            }
        }
        for (int k = 0; k < N; k++)
            accf[k] = k_accumulate(q6, accf[k], u->w16, u->d, u->dmin, (const block_q8_K *)(act + (size_t)k * act_stride) + b,
                                   acc[k]);
    }
    for (int k = 0; k < N; k++) out[k] = hsum_ps(accf[k]);
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
    for (int64_t b = 0; b < nb; b++) {
        if (q6) q6_K_unpack((const block_q6_K *)row + b, unpacked + b);
        else q4_K_unpack((const block_q4_K *)row + b, unpacked + b);
    }
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

void qdot_k_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const uint8_t *act = in->q8_K + (size_t)first * in->q8_K_stride;
    if (t == SLM_TYPE_Q4_K) qdot_q4_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
    else qdot_q6_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
}
