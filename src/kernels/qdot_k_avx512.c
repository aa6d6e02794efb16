/* qdot_k_avx512.c — q4_K and q6_K weight rows against q8_K activations with AVX-512 BW: the
 * AVX2 kernels' byte products on two 32-element pieces per 512-bit register. A block's integer
 * sums fold into the AVX2 kernels' 8 lanes (exact integers either way) and take their float
 * steps (k_avx2.h), so the results are bit-identical to theirs; one input and a batch run the
 * same code. */
#include "kernels/qdot.h"

#include <immintrin.h>

#include "kernels/k_avx2.h"
#include "kernels/qdot_impl.h"

#define K512_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq"
#define K512_INLINE __attribute__((target(K512_TARGET), always_inline)) static inline

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 4096

/* Two 256-bit halves as one register. */
K512_INLINE __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

/* A q4_K / q6_K block for the 512-bit products: the AVX2 unpacking's 32-element pieces in pairs
 * (pieces 2c and 2c+1 in one register, against input bytes 64c..64c+63); the rest as it is. */
typedef struct {
    __m512i q[4], s[4];
    __m256i w16;
    float d, dmin;
} k512_unpacked;

K512_INLINE void k512_unpack(const bool q6, const void *block, k512_unpacked *u) {
    k_unpacked v;
    if (q6) q6_K_unpack(block, &v);
    else q4_K_unpack(block, &v);
    for (int c = 0; c < 4; c++) {
        u->q[c] = join(v.q[2 * c], v.q[2 * c + 1]);
        u->s[c] = join(v.s[2 * c], v.s[2 * c + 1]);
    }
    u->w16 = v.w16, u->d = v.d, u->dmin = v.dmin;
}

/* One q4_K (q6: false) or q6_K (q6: true) row against N inputs: the integer sums in 16 lanes,
 * folded to the AVX2 kernels' 8 (the same integers), then their float steps (k_avx2.h). The
 * blocks come unpacked or are unpacked here; the arithmetic is the same. */
K512_INLINE void k512_body(const bool q6, const void *row, const k512_unpacked *unpacked, const uint8_t *act,
                           size_t act_stride, const int N, int64_t nb, float *out) {
    __m256 accf[QDOT_VNNI_MAX];
    for (int k = 0; k < N; k++) accf[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        k512_unpacked local;
        const k512_unpacked *u = unpacked ? unpacked + b : &local;
        if (!unpacked) {
            const char *wb = (const char *)row + (size_t)b * (q6 ? sizeof(block_q6_K) : sizeof(block_q4_K));
            for (int line = 0; line < (q6 ? 3 : 2); line++) _mm_prefetch(wb + PREFETCH_BYTES + 64 * line, _MM_HINT_T0);
            k512_unpack(q6, wb, &local);
        }
        __m512i acc[QDOT_VNNI_MAX];
        for (int k = 0; k < N; k++) acc[k] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            const __m512i q = u->q[c], s = u->s[c];
            for (int k = 0; k < N; k++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
                const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(a->qs + 64 * c));
                acc[k] = _mm512_add_epi32(acc[k], _mm512_madd_epi16(p, s));
            }
        }
        for (int k = 0; k < N; k++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)k * act_stride) + b;
            const __m256i isum = _mm256_add_epi32(_mm512_castsi512_si256(acc[k]), _mm512_extracti64x4_epi64(acc[k], 1));
            accf[k] = k_accumulate(q6, accf[k], u->w16, u->d, u->dmin, a, isum);
        }
    }
    for (int k = 0; k < N; k++) out[k] = hsum_ps(accf[k]);
}

/* Rows of at most this many blocks are unpacked once for a batch of more than QDOT_VNNI_MAX
 * inputs (18 KiB on the stack). */
#define K512_UNPACKED_MAX 32

/* One row against n_act inputs, QDOT_VNNI_MAX at a time. */
K512_INLINE void k512_groups(const bool q6, const void *row, const k512_unpacked *unpacked, const uint8_t *act,
                             size_t act_stride, int n_act, int64_t nb, float *out) {
    for (int g = 0; g < n_act; g += QDOT_VNNI_MAX) {
        const uint8_t *a = act + (size_t)g * act_stride;
#define K512_CASE(N) \
    case N: k512_body(q6, row, unpacked, a, act_stride, N, nb, out + g); break
        switch (n_act - g) {
        K512_CASE(1); K512_CASE(2); K512_CASE(3); K512_CASE(4);
        K512_CASE(5); K512_CASE(6); K512_CASE(7);
        default: k512_body(q6, row, unpacked, a, act_stride, QDOT_VNNI_MAX, nb, out + g); break;
        }
#undef K512_CASE
    }
}

K512_INLINE void k512_multi(const bool q6, const void *row, const uint8_t *act, size_t act_stride, int n_act, int64_t nb,
                            float *out) {
    if (n_act <= QDOT_VNNI_MAX || nb > K512_UNPACKED_MAX) {
        k512_groups(q6, row, NULL, act, act_stride, n_act, nb, out);
        return;
    }
    k512_unpacked unpacked[K512_UNPACKED_MAX];
    for (int64_t b = 0; b < nb; b++)
        k512_unpack(q6, (const char *)row + (size_t)b * (q6 ? sizeof(block_q6_K) : sizeof(block_q4_K)), unpacked + b);
    k512_groups(q6, row, unpacked, act, act_stride, n_act, nb, out);
}

__attribute__((target(K512_TARGET))) static void q4_K_multi(const void *row, const uint8_t *act, size_t act_stride,
                                                          int n_act, int64_t nb, float *out) {
    k512_multi(false, row, act, act_stride, n_act, nb, out);
}

__attribute__((target(K512_TARGET))) static void q6_K_multi(const void *row, const uint8_t *act, size_t act_stride,
                                                          int n_act, int64_t nb, float *out) {
    k512_multi(true, row, act, act_stride, n_act, nb, out);
}

void qdot_k_avx512_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const uint8_t *act = in->q8_K + (size_t)first * in->q8_K_stride;
    if (t == SLM_TYPE_Q4_K) q4_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
    else q6_K_multi(row, act, in->q8_K_stride, n_act, in->cols / QK_K, out);
}
