/* attention.c — one query head attending over n cached positions: scores = q·k_t * scale,
 * softmax, out = sum_t p_t v_t. Scalar reference and an AVX2+FMA path (head sizes that are a
 * multiple of 8), chosen with the other kernels. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

void attention_head_scalar(float *out, const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                           float scale, float *scores) {
    for (int t = 0; t < n; t++) {
        const float *kt = k + (size_t)t * stride;
        float s = 0.0f;
        for (int i = 0; i < hd; i++) s += q[i] * kt[i];
        scores[t] = s * scale;
    }
    softmax(scores, n);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int t = 0; t < n; t++) {
        const float *vt = v + (size_t)t * stride;
        const float p = scores[t];
        for (int i = 0; i < hd; i++) out[i] += p * vt[i];
    }
}

/* Scores with four independent accumulator chains per key (a head of 256 is 32 fused
 * multiply-adds), then the weighted sum of values 64 columns at a time: eight chains, each over
 * the keys, instead of one chain per 8 columns waiting on the previous key's result. */
__attribute__((target("avx2,fma"))) static void attention_head_avx2(float *out, const float *q, const float *k,
                                                                     const float *v, size_t stride, int n, int hd,
                                                                     float scale, float *scores) {
    for (int t = 0; t < n; t++) {
        const float *kt = k + (size_t)t * stride;
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        int i = 0;
        for (; i + 32 <= hd; i += 32)
            for (int j = 0; j < 4; j++)
                acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8 * j), _mm256_loadu_ps(kt + i + 8 * j), acc[j]);
        for (; i < hd; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kt + i), acc[0]);
        __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        scores[t] = _mm_cvtss_f32(s) * scale;
    }
    softmax(scores, n);
    int i = 0;
    for (; i + 64 <= hd; i += 64) {
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (int t = 0; t < n; t++) {
            const __m256 p = _mm256_set1_ps(scores[t]);
            const float *vt = v + (size_t)t * stride + i;
            for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vt + 8 * j), acc[j]);
        }
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(out + i + 8 * j, acc[j]);
    }
    for (; i < hd; i += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int t = 0; t < n; t++) acc = _mm256_fmadd_ps(_mm256_set1_ps(scores[t]), _mm256_loadu_ps(v + (size_t)t * stride + i), acc);
        _mm256_storeu_ps(out + i, acc);
    }
}

/* Heads sharing one key/value head (grouped-query attention): each key and value row is read
 * once for all of them. Per head the same sums in the same order as attention_head_avx2 (the
 * scores' four chains; each output column one chain over the keys), so the results are its. */
__attribute__((target("avx2,fma"))) static void attention_group_avx2(float *out, size_t out_stride, const float *q,
                                                                      size_t q_stride, int G, const float *k,
                                                                      const float *v, size_t stride, int n, int hd,
                                                                      float scale, float *scores, size_t scores_stride) {
    for (int t = 0; t < n; t++) {
        const float *kt = k + (size_t)t * stride;
        for (int g = 0; g < G; g++) {
            const float *qg = q + (size_t)g * q_stride;
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int i = 0; i < hd; i += 32)
                for (int j = 0; j < 4; j++)
                    acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(qg + i + 8 * j), _mm256_loadu_ps(kt + i + 8 * j), acc[j]);
            __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            scores[(size_t)g * scores_stride + t] = _mm_cvtss_f32(s) * scale;
        }
    }
    for (int g = 0; g < G; g++) softmax(scores + (size_t)g * scores_stride, n);
    for (int i = 0; i < hd; i += 32)
        for (int g0 = 0; g0 < G; g0 += 3) { /* 3 heads x 32 columns: 12 accumulators */
            const int ng = G - g0 < 3 ? G - g0 : 3;
            __m256 acc[3][4];
            for (int g = 0; g < ng; g++)
                for (int j = 0; j < 4; j++) acc[g][j] = _mm256_setzero_ps();
            for (int t = 0; t < n; t++) {
                const float *vt = v + (size_t)t * stride + i;
                const __m256 v0 = _mm256_loadu_ps(vt), v1 = _mm256_loadu_ps(vt + 8), v2 = _mm256_loadu_ps(vt + 16),
                             v3 = _mm256_loadu_ps(vt + 24);
                for (int g = 0; g < ng; g++) {
                    const __m256 p = _mm256_set1_ps(scores[(size_t)(g0 + g) * scores_stride + t]);
                    acc[g][0] = _mm256_fmadd_ps(p, v0, acc[g][0]);
                    acc[g][1] = _mm256_fmadd_ps(p, v1, acc[g][1]);
                    acc[g][2] = _mm256_fmadd_ps(p, v2, acc[g][2]);
                    acc[g][3] = _mm256_fmadd_ps(p, v3, acc[g][3]);
                }
            }
            for (int g = 0; g < ng; g++)
                for (int j = 0; j < 4; j++) _mm256_storeu_ps(out + (size_t)(g0 + g) * out_stride + i + 8 * j, acc[g][j]);
        }
}

void attention_group(float *out, size_t out_stride, const float *q, size_t q_stride, int G, const float *k,
                     const float *v, size_t stride, int n, int hd, float scale, float *scores, size_t scores_stride) {
    if (hd % 32 == 0 && kernels_simd_tiles()) {
        attention_group_avx2(out, out_stride, q, q_stride, G, k, v, stride, n, hd, scale, scores, scores_stride);
        return;
    }
    for (int g = 0; g < G; g++)
        attention_head(out + (size_t)g * out_stride, q + (size_t)g * q_stride, k, v, stride, n, hd, scale,
                       scores + (size_t)g * scores_stride);
}

void attention_head(float *out, const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                    float scale, float *scores) {
    if (hd % 8 == 0 && kernels_simd_tiles()) attention_head_avx2(out, q, k, v, stride, n, hd, scale, scores);
    else attention_head_scalar(out, q, k, v, stride, n, hd, scale, scores);
}
