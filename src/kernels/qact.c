/* qact.c — the activations of quantised products: floats quantised to q8_0 or q8_K (scalar
 * definitions and AVX2 versions giving the same bytes), and the other forms the kernels read,
 * prepared once per product for all its inputs (qdot_inputs): q8_0 block sums, expanded block
 * scales, the unsigned pairs of the AVX-512 VNNI kernels, and the inputs of bf16 weights rounded
 * to bf16. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/qdot.h"

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

/* ---------------------------------------------------------------- other forms */

size_t qdot_act_scale_floats(int64_t n) { return (size_t)((n / QK + 1) / 2) * 16; }

void qdot_act_scales(const block_q8_0 *act, int64_t n, float *scales) {
    const int64_t nb = n / QK, padded = (nb + 1) / 2 * 2;
    for (int64_t b = 0; b < padded; b++) {
        const float d = b < nb ? slm_f16_to_f32(act[b].d) : 0.0f;
        for (int i = 0; i < 8; i++) scales[8 * b + i] = d;
    }
}

/* Pairs of blocks in a row of n elements (a last odd block is paired with zeros). */
static inline int64_t block_pairs(int64_t n) { return (n / QK + 1) / 2; }

size_t qdot_vnni_act_bytes(int64_t n) { return (size_t)block_pairs(n) * 64; }

void qdot_vnni_prepare(const block_q8_0 *act, int64_t n, uint8_t *act_u8) {
    const int64_t nb = n / QK, np = block_pairs(n);
    for (int64_t b = 0; b < 2 * np; b++)
        for (int i = 0; i < 32; i++) act_u8[32 * b + i] = b < nb ? (uint8_t)(act[b].qs[i] ^ 0x80) : 0x80;
}

/* The sum of each q8_0 block's 32 quants (n/32 of them, an even count: a last odd block is
 * followed by a 0). */
static void block_sums(const block_q8_0 *act, int64_t n, int16_t *sums) {
    const int64_t nb = n / QK;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int i = 0; i < QK; i++) s += act[b].qs[i];
        sums[b] = (int16_t)s;
    }
    if (nb % 2) sums[nb] = 0;
}

/* The QDOT_PAIRS form of a q8_0 input (qdot.h). */
static void vnni_pairs(const block_q8_0 *act, int64_t n, qdot_pair *out) {
    const int64_t nb = n / QK, np = qdot_block_pairs(n);
    for (int64_t p = 0; p < np; p++) {
        for (int half = 0; half < 2; half++) /* elements 0..15, then 16..31 of each block */
            for (int j = 0; j < 2; j++) {    /* block 2p + j */
                const int64_t b = 2 * p + j;
                for (int i = 0; i < 16; i++)
                    out[p].qs[32 * half + 16 * j + i] = b < nb ? (uint8_t)(act[b].qs[16 * half + i] ^ 0x80) : 0x80;
            }
        for (int l = 0; l < 16; l++) {
            const int64_t b = 2 * p + (l / 4) % 2;
            out[p].d[l] = b < nb ? slm_f16_to_f32(act[b].d) : 0.0f;
        }
    }
}

/* The QDOT_INFO form of a q8_0 input (qdot.h). */
static void block_info(const block_q8_0 *act, int64_t n, qdot_block_info *info) {
    for (int64_t b = 0; b < n / QK; b++) {
        int s = 0;
        for (int i = 0; i < QK; i++) s += act[b].qs[i];
        const float d = slm_f16_to_f32(act[b].d);
        info[b] = (qdot_block_info){d, s, d * (float)s, 0};
    }
}

/* ---------------------------------------------------------------- qdot_inputs */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Bytes of one input in each form (each a multiple of 64, so every input starts aligned). */
static size_t form_bytes(unsigned form, int64_t cols) {
    switch (form) {
    case QDOT_Q8_0: return align64((size_t)(cols / QK) * sizeof(block_q8_0));
    case QDOT_SCALES: return align64(qdot_act_scale_floats(cols) * sizeof(float));
    case QDOT_U8: return align64(qdot_vnni_act_bytes(cols));
    case QDOT_SUMS: return align64((size_t)(cols / QK + 1) * sizeof(int16_t));
    case QDOT_Q8_K: return align64((size_t)(cols / QK_K) * sizeof(block_q8_K));
    case QDOT_PAIRS: return (size_t)qdot_block_pairs(cols) * sizeof(qdot_pair);
    case QDOT_INFO: return align64((size_t)(cols / QK) * sizeof(qdot_block_info));
    case QDOT_BF16: return align64((size_t)((cols + 31) / 32 * 32) * sizeof(uint16_t));
    default: return 0;
    }
}

static const unsigned FORMS[] = {QDOT_Q8_0, QDOT_SCALES, QDOT_U8, QDOT_SUMS, QDOT_Q8_K, QDOT_PAIRS, QDOT_INFO, QDOT_BF16};

/* The forms that others are made from. */
static unsigned with_sources(unsigned forms) {
    return forms & (QDOT_SCALES | QDOT_U8 | QDOT_SUMS | QDOT_PAIRS | QDOT_INFO) ? forms | QDOT_Q8_0 : forms;
}

size_t qdot_inputs_bytes(unsigned forms, int n, int64_t cols) {
    forms = with_sources(forms);
    size_t bytes = 64;
    for (size_t f = 0; f < sizeof FORMS / sizeof FORMS[0]; f++)
        if (forms & FORMS[f]) bytes += (size_t)n * form_bytes(FORMS[f], cols);
    return bytes;
}

void qdot_inputs_layout(qdot_inputs *in, unsigned forms, int n, int64_t cols, void *scratch) {
    forms = with_sources(forms);
    memset(in, 0, sizeof *in);
    in->cols = cols;
    in->forms = forms;
    uint8_t *at = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    for (size_t f = 0; f < sizeof FORMS / sizeof FORMS[0]; f++) {
        if (!(forms & FORMS[f])) continue;
        const size_t stride = form_bytes(FORMS[f], cols);
        switch (FORMS[f]) {
        case QDOT_Q8_0: in->q8_0 = at, in->q8_0_stride = stride; break;
        case QDOT_SCALES: in->scales = at, in->scales_stride = stride; break;
        case QDOT_U8: in->u8 = at, in->u8_stride = stride; break;
        case QDOT_SUMS: in->sums = at, in->sums_stride = stride; break;
        case QDOT_PAIRS: in->pairs = at, in->pairs_stride = stride; break;
        case QDOT_INFO: in->info = at, in->info_stride = stride; break;
        case QDOT_BF16: in->bf16 = at, in->bf16_stride = stride; break;
        default: in->q8_K = at, in->q8_K_stride = stride; break;
        }
        at += (size_t)n * stride;
    }
}

void qdot_inputs_fill(const qdot_inputs *in, const float *x, int ld_x, int b0, int b1) {
    const int64_t cols = in->cols;
    for (int b = b0; b < b1; b++) {
        const float *xb = x + (int64_t)b * ld_x;
        if (in->q8_0) {
            block_q8_0 *q = (block_q8_0 *)(in->q8_0 + (size_t)b * in->q8_0_stride);
            quantize_act_q8_0(xb, q, cols);
            if (in->scales) qdot_act_scales(q, cols, (float *)(in->scales + (size_t)b * in->scales_stride));
            if (in->u8) qdot_vnni_prepare(q, cols, in->u8 + (size_t)b * in->u8_stride);
            if (in->sums) block_sums(q, cols, (int16_t *)(in->sums + (size_t)b * in->sums_stride));
            if (in->info) block_info(q, cols, (qdot_block_info *)(in->info + (size_t)b * in->info_stride));
            if (in->pairs) vnni_pairs(q, cols, (qdot_pair *)(in->pairs + (size_t)b * in->pairs_stride));
        }
        if (in->q8_K) quantize_act_q8_K(xb, (block_q8_K *)(in->q8_K + (size_t)b * in->q8_K_stride), cols);
        if (in->bf16) {
            uint16_t *h = (uint16_t *)(in->bf16 + (size_t)b * in->bf16_stride);
            quantize_row(SLM_TYPE_BF16, xb, h, cols);
            memset(h + cols, 0, in->bf16_stride - (size_t)cols * sizeof(uint16_t));
        }
    }
}
