/* qdot.c — quantised dot products. The scalar functions are the definitions: each unpacks a
 * block exactly as the format says (see tensor/quants.h) and sums integer products per
 * sub-block before scaling, as the AVX2 versions do, so both agree to float rounding. */
#include "kernels/qdot.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/k_avx2.h"
#include "kernels/q32_avx2.h"

slm_type qdot_activation_type(slm_type t) {
    switch (t) {
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q4_1: case SLM_TYPE_Q5_0: case SLM_TYPE_Q5_1: case SLM_TYPE_Q8_0:
        return SLM_TYPE_Q8_0;
    case SLM_TYPE_Q2_K: case SLM_TYPE_Q3_K: case SLM_TYPE_Q4_K: case SLM_TYPE_Q5_K: case SLM_TYPE_Q6_K:
        return SLM_TYPE_Q8_K;
    default:
        return SLM_TYPE_F32;
    }
}

/* ---------------------------------------------------------------- activation quantisers */

/* The scalar quantisers define the results; the AVX2 ones below give the same bytes (the
 * conversion rounds to nearest even, as lrintf does, and packing saturates as the clamp). */
static void q8_0_scalar(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float amax = 0.0f;
        for (int i = 0; i < QK; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = slm_f32_to_f16(d);
        for (int i = 0; i < QK; i++) y[b].qs[i] = (int8_t)lrintf(x[i] * id);
    }
}

static void q8_K_scalar(const float *x, block_q8_K *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < QK_K; i++)
            if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* the value of largest magnitude maps to -127 (its sign flipped), the others round */
        const float iscale = -127.0f / max;
        for (int i = 0; i < QK_K; i++) {
            int v = (int)lrintf(iscale * x[i]);
            y[b].qs[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += y[b].qs[j * 16 + i];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* The largest |x[i]| of 32 floats, lane by lane; *nan becomes all ones in a lane where some
 * x[i] is NaN (max would drop it). */
AVX2 static inline __m256 abs_max_32(const float *x, __m256 *nan) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 32; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v));
        *nan = _mm256_or_ps(*nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    return m;
}

AVX2 static inline float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* round(x[i] * scale) for 32 floats, saturated to bytes, stored in order at q; returns the 4
 * groups of 8 as 32-bit integers in v (for sums). */
AVX2 static inline void round_32(const float *x, __m256 scale, int8_t *q, __m256i v[4]) {
    for (int i = 0; i < 4; i++) v[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * i), scale));
    __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, bytes);
}

AVX2 static void q8_0_avx2(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        __m256 nan = _mm256_setzero_ps();
        const float amax = hmax_ps(abs_max_32(x, &nan));
        if (!isfinite(amax) || _mm256_movemask_ps(nan)) { /* NaN or infinity: as the scalar one does */
            q8_0_scalar(x, y + b, QK);
            continue;
        }
        const float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = slm_f32_to_f16(d);
        __m256i v[4];
        round_32(x, _mm256_set1_ps(id), y[b].qs, v);
    }
}

AVX2 static void q8_K_avx2(const float *x, block_q8_K *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 nan = _mm256_setzero_ps(), m = abs_max_32(x, &nan);
        for (int i = 32; i < QK_K; i += 32) m = _mm256_max_ps(m, abs_max_32(x + i, &nan));
        const float amax = hmax_ps(m);
        if (!isfinite(amax) || _mm256_movemask_ps(nan)) { /* NaN or infinity: as the scalar one does */
            q8_K_scalar(x, y + b, QK_K);
            continue;
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        int first = 0; /* the first element of largest magnitude, as the scalar search keeps */
        while (fabsf(x[first]) != amax) first++;
        const float iscale = -127.0f / x[first];
        for (int i = 0; i < QK_K; i += 32) {
            __m256i v[4];
            round_32(x + i, _mm256_set1_ps(iscale), y[b].qs + i, v);
            /* the sums of 16: after saturation, as the bytes hold them (|v| <= 127 here) */
            for (int j = 0; j < 2; j++)
                y[b].bsums[i / 16 + j] = (int16_t)hsum_epi32(_mm256_add_epi32(v[2 * j], v[2 * j + 1]));
        }
        y[b].d = 1.0f / iscale;
    }
}

void quantize_act_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    if (kernels_simd_tiles()) q8_0_avx2(x, y, n);
    else q8_0_scalar(x, y, n);
}

void quantize_act_q8_K(const float *x, block_q8_K *y, int64_t n) {
    if (kernels_simd_tiles()) q8_K_avx2(x, y, n);
    else q8_K_scalar(x, y, n);
}

/* ---------------------------------------------------------------- scalar references */

static float dot_q4_0(const block_q4_0 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK / 2; j++)
            s += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + QK / 2];
        sum += slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d) * (float)s;
    }
    return sum;
}

/* x = d q + m: sum x a = d da sum(q a) + m da sum(a). */
static float dot_q4_1(const block_q4_1 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0, sa = 0;
        for (int j = 0; j < QK / 2; j++) {
            s += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + QK / 2];
            sa += a[b].qs[j] + a[b].qs[j + QK / 2];
        }
        float da = slm_f16_to_f32(a[b].d);
        sum += slm_f16_to_f32(w[b].d) * da * (float)s + slm_f16_to_f32(w[b].m) * da * (float)sa;
    }
    return sum;
}

static inline int q5_value(const uint8_t *qs, const uint8_t *qh_bytes, int j) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    int lo = j < QK / 2 ? qs[j] & 0xF : qs[j - QK / 2] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

static float dot_q5_0(const block_q5_0 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK; j++) s += (q5_value(w[b].qs, w[b].qh, j) - 16) * a[b].qs[j];
        sum += slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d) * (float)s;
    }
    return sum;
}

static float dot_q5_1(const block_q5_1 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0, sa = 0;
        for (int j = 0; j < QK; j++) {
            s += q5_value(w[b].qs, w[b].qh, j) * a[b].qs[j];
            sa += a[b].qs[j];
        }
        float da = slm_f16_to_f32(a[b].d);
        sum += slm_f16_to_f32(w[b].d) * da * (float)s + slm_f16_to_f32(w[b].m) * da * (float)sa;
    }
    return sum;
}

static float dot_q8_0(const block_q8_0 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK; j++) s += w[b].qs[j] * a[b].qs[j];
        sum += slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d) * (float)s;
    }
    return sum;
}

/* Element e (0..255) of the 2-bit planes used by q2_K and q3_K: 32 bytes per 128 elements,
 * four 2-bit planes of 32 elements each. */
static inline int two_bit(const uint8_t *qs, int e) {
    int h = e / 128, r = e % 128;
    return (qs[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
}

static float dot_q2_K(const block_q2_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0, smin = 0;
        for (int j = 0; j < 16; j++) {
            int sj = 0;
            for (int i = 0; i < 16; i++) sj += two_bit(w[b].qs, j * 16 + i) * a[b].qs[j * 16 + i];
            s += (w[b].scales[j] & 0xF) * sj;
            smin += (w[b].scales[j] >> 4) * a[b].bsums[j];
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)s - slm_f16_to_f32(w[b].dmin) * (float)smin);
    }
    return sum;
}

/* The 16 6-bit scales of q3_K, minus 32. */
static void q3_K_scales(const uint8_t *p, int *sc) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? p[i] & 0xF : p[i - 8] >> 4;
        int hi = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
        sc[i] = (lo | hi << 4) - 32;
    }
}

static float dot_q3_K(const block_q3_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int sc[16], s = 0;
        q3_K_scales(w[b].scales, sc);
        for (int j = 0; j < 16; j++) {
            int sj = 0;
            for (int i = 0; i < 16; i++) {
                int e = j * 16 + i;
                int q = two_bit(w[b].qs, e) - (((w[b].hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4);
                sj += q * a[b].qs[e];
            }
            s += sc[j] * sj;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)s;
    }
    return sum;
}

void qdot_k4_scales(const uint8_t *p, uint8_t *sc, uint8_t *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
        sc[j + 4] = (p[j + 8] & 0xF) | ((p[j] >> 6) << 4);
        mn[j + 4] = (p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4);
    }
}

/* Element e of the 4-bit planes of q4_K / q5_K: 32 bytes per 64 elements, low nibbles first. */
static inline int four_bit(const uint8_t *qs, int e) {
    int c = e / 64, r = e % 64;
    return r < 32 ? qs[c * 32 + r] & 0xF : qs[c * 32 + r - 32] >> 4;
}

static float dot_q4_K(const block_q4_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        qdot_k4_scales(w[b].scales, sc, mn);
        int s = 0, smin = 0;
        for (int j = 0; j < 8; j++) {
            int sj = 0;
            for (int i = 0; i < 32; i++) sj += four_bit(w[b].qs, j * 32 + i) * a[b].qs[j * 32 + i];
            s += sc[j] * sj;
            smin += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)s - slm_f16_to_f32(w[b].dmin) * (float)smin);
    }
    return sum;
}

static float dot_q5_K(const block_q5_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        qdot_k4_scales(w[b].scales, sc, mn);
        int s = 0, smin = 0;
        for (int j = 0; j < 8; j++) {
            int sj = 0;
            for (int i = 0; i < 32; i++) {
                int q = four_bit(w[b].qs, j * 32 + i) | ((w[b].qh[i] >> j) & 1) << 4;
                sj += q * a[b].qs[j * 32 + i];
            }
            s += sc[j] * sj;
            smin += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)s - slm_f16_to_f32(w[b].dmin) * (float)smin);
    }
    return sum;
}

/* Element e of q6_K: 4 low bits from ql (64 bytes per 128 elements, low nibbles then high),
 * 2 high bits from qh (32 bytes per 128 elements, four 2-bit planes); minus 32. */
static inline int six_bit(const block_q6_K *w, int e) {
    int h = e / 128, r = e % 128;
    int lo = r < 64 ? w->ql[h * 64 + r] & 0xF : w->ql[h * 64 + r - 64] >> 4;
    int hi = (w->qh[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
    return (lo | hi << 4) - 32;
}

static float dot_q6_K(const block_q6_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < 16; j++) {
            int sj = 0;
            for (int i = 0; i < 16; i++) sj += six_bit(&w[b], j * 16 + i) * a[b].qs[j * 16 + i];
            s += w[b].scales[j] * sj;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)s;
    }
    return sum;
}

float qdot_scalar(slm_type t, const void *row, const void *act, int64_t n) {
    switch (t) {
    case SLM_TYPE_Q4_0: return dot_q4_0(row, act, n / QK);
    case SLM_TYPE_Q4_1: return dot_q4_1(row, act, n / QK);
    case SLM_TYPE_Q5_0: return dot_q5_0(row, act, n / QK);
    case SLM_TYPE_Q5_1: return dot_q5_1(row, act, n / QK);
    case SLM_TYPE_Q8_0: return dot_q8_0(row, act, n / QK);
    case SLM_TYPE_Q2_K: return dot_q2_K(row, act, n / QK_K);
    case SLM_TYPE_Q3_K: return dot_q3_K(row, act, n / QK_K);
    case SLM_TYPE_Q4_K: return dot_q4_K(row, act, n / QK_K);
    case SLM_TYPE_Q5_K: return dot_q5_K(row, act, n / QK_K);
    case SLM_TYPE_Q6_K: return dot_q6_K(row, act, n / QK_K);
    default: return 0.0f;
    }
}

/* ---------------------------------------------------------------- AVX2 */

/* Decoding streams the weights from memory once per token: ask for them this far ahead of
 * use (the hardware prefetcher alone leaves the kernels waiting on memory). */
#define PREFETCH_BYTES 4096
#define prefetch_weights(p) _mm_prefetch((const char *)(p) + PREFETCH_BYTES, _MM_HINT_T0)

/* Sum of the signed byte products of w and a, as 8 int32 lanes (w may be any sign). */
AVX2 static inline __m256i mul_sum_i8(__m256i w, __m256i a) {
    __m256i aw = _mm256_sign_epi8(w, w), sa = _mm256_sign_epi8(a, w);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), _mm256_set1_epi16(1));
}

AVX2 static float dot_q8_0_avx2(const block_q8_0 *w, const block_q8_0 *a, int64_t nb) {
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        prefetch_weights(w + b);
        __m256i p = mul_sum_i8(_mm256_loadu_si256((const __m256i *)w[b].qs), _mm256_loadu_si256((const __m256i *)a[b].qs));
        acc[b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d)), _mm256_cvtepi32_ps(p), acc[b & 1]);
    }
    return hsum_ps(_mm256_add_ps(acc[0], acc[1]));
}

/* The 32-element block kernels keep even and odd blocks in two accumulators (two independent
 * chains), in the same order as qdot_q32_multi, so a batch and a single input agree exactly. */
AVX2 static float dot_q4_0_avx2(const block_q4_0 *w, const block_q8_0 *a, int64_t nb) {
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        prefetch_weights(w + b);
        __m256i q = _mm256_sub_epi8(unpack_nibbles_16(w[b].qs), _mm256_set1_epi8(8));
        __m256i p = mul_sum_i8(q, _mm256_loadu_si256((const __m256i *)a[b].qs));
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d));
        acc[b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[b & 1]);
    }
    return hsum_ps(_mm256_add_ps(acc[0], acc[1]));
}

AVX2 static float dot_q5_0_avx2(const block_q5_0 *w, const block_q8_0 *a, int64_t nb) {
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        prefetch_weights(w + b);
        __m256i hi = _mm256_and_si256(bits_to_bytes(w[b].qh), _mm256_set1_epi8(0x10));
        __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles_16(w[b].qs), hi), _mm256_set1_epi8(16));
        __m256i p = mul_sum_i8(q, _mm256_loadu_si256((const __m256i *)a[b].qs));
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d));
        acc[b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[b & 1]);
    }
    return hsum_ps(_mm256_add_ps(acc[0], acc[1]));
}


/* The q4_K / q6_K kernels (one input or several) are after the several-input section: one
 * body serves both, so that a row's result does not depend on the batch it is in. */
AVX2 static float dot_q4_K_avx2(const block_q4_K *w, const block_q8_K *a, int64_t nb);
AVX2 static float dot_q6_K_avx2(const block_q6_K *w, const block_q8_K *a, int64_t nb);

/* ---------------------------------------------------------------- AVX2, several inputs */

size_t qdot_act_scale_floats(int64_t n) { return (size_t)((n / QK + 1) / 2) * 16; }

void qdot_act_scales(const block_q8_0 *act, int64_t n, float *scales) {
    const int64_t nb = n / QK, padded = (nb + 1) / 2 * 2;
    for (int64_t b = 0; b < padded; b++) {
        const float d = b < nb ? slm_f16_to_f32(act[b].d) : 0.0f;
        for (int i = 0; i < 8; i++) scales[8 * b + i] = d;
    }
}

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

AVX2 static float dot_q4_K_avx2(const block_q4_K *w, const block_q8_K *a, int64_t nb) {
    float out;
    k_body(false, w, NULL, (const uint8_t *)a, 0, 1, nb, &out);
    return out;
}

AVX2 static float dot_q6_K_avx2(const block_q6_K *w, const block_q8_K *a, int64_t nb) {
    float out;
    k_body(true, w, NULL, (const uint8_t *)a, 0, 1, nb, &out);
    return out;
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

void qdot_multi(slm_type t, const void *row, const void *act, size_t act_stride, const float *scales,
                size_t scale_stride, int n_act, int64_t n, float *out) {
    if (n_act == 1) {
        out[0] = qdot(t, row, act, n);
        return;
    }
    if (kernels_simd_tiles()) {
        switch (t) {
        case SLM_TYPE_Q4_0: case SLM_TYPE_Q5_0: case SLM_TYPE_Q8_0:
            if (!scales) break;
            qdot_q32_multi(t, row, act, act_stride, scales, scale_stride, n_act, n, out);
            return;
        case SLM_TYPE_Q4_K: qdot_q4_K_multi(row, act, act_stride, n_act, n / QK_K, out); return;
        case SLM_TYPE_Q6_K: qdot_q6_K_multi(row, act, act_stride, n_act, n / QK_K, out); return;
        default: break;
        }
    }
    for (int k = 0; k < n_act; k++) out[k] = qdot(t, row, (const uint8_t *)act + (size_t)k * act_stride, n);
}

float qdot(slm_type t, const void *row, const void *act, int64_t n) {
    if (kernels_simd_tiles()) {
        switch (t) {
        case SLM_TYPE_Q4_0: return dot_q4_0_avx2(row, act, n / QK);
        case SLM_TYPE_Q5_0: return dot_q5_0_avx2(row, act, n / QK);
        case SLM_TYPE_Q8_0: return dot_q8_0_avx2(row, act, n / QK);
        case SLM_TYPE_Q4_K: return dot_q4_K_avx2(row, act, n / QK_K);
        case SLM_TYPE_Q6_K: return dot_q6_K_avx2(row, act, n / QK_K);
        default: break;
        }
    }
    return qdot_scalar(t, row, act, n);
}
