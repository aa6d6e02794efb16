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

/* Sums of 8 vectors: lane j of the result is the sum of a[j]'s lanes, added in a fixed tree that
 * involves no other vector's lanes. */
__attribute__((target("avx2,fma"))) static inline __m256 sum8(const __m256 *a) {
    const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* The cache rows are read once per step and the weights streaming past evict them, so they come
 * from memory: ask for rows t0 .. t0 + n - 1 (hd floats each) ahead of their use. */
static inline void prefetch_rows(const float *x, size_t stride, int t0, int n, int hd) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < hd; i += 16) _mm_prefetch((const char *)(x + (size_t)(t0 + j) * stride + i), _MM_HINT_T0);
}

/* The same into L2, for the value rows, read after the softmax (all of them: more than L1). */
static inline void prefetch_rows_l2(const float *x, size_t stride, int t0, int n, int hd) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < hd; i += 16) _mm_prefetch((const char *)(x + (size_t)(t0 + j) * stride + i), _MM_HINT_T1);
}

/* scores[t] = (q . k_t) x scale for keys t0 .. t0 + nk - 1 (nk <= 8; hd a multiple of 8): one
 * chain of fused multiply-adds per key over its head, 8 keys side by side, then one tree for
 * the 8 sums. A key's score is the same floats whichever of the 8 places it takes. */
__attribute__((target("avx2,fma"))) static inline void scores8(float *scores, const float *q, const float *k,
                                                                size_t stride, int t0, int nk, int hd, float scale) {
    __m256 acc[8];
    for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
    for (int i = 0; i < hd; i += 8) {
        const __m256 qi = _mm256_loadu_ps(q + i);
        for (int j = 0; j < nk; j++)
            acc[j] = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + (size_t)(t0 + j) * stride + i), acc[j]);
    }
    const __m256 s = _mm256_mul_ps(sum8(acc), _mm256_set1_ps(scale));
    if (nk == 8) _mm256_storeu_ps(scores + t0, s);
    else {
        float tmp[8];
        _mm256_storeu_ps(tmp, s);
        memcpy(scores + t0, tmp, (size_t)nk * sizeof(float));
    }
}

/* Scores 8 keys at a time (scores8), then the weighted sum of values 64 columns at a time: eight
 * chains, each over the keys, instead of one chain per 8 columns waiting on the previous key's
 * result. */
__attribute__((target("avx2,fma"))) static void attention_head_avx2(float *out, const float *q, const float *k,
                                                                     const float *v, size_t stride, int n, int hd,
                                                                     float scale, float *scores) {
    int t = 0;
    for (; t + 8 <= n; t += 8) { /* 8: unrolled */
        prefetch_rows(k, stride, t + 8, n - t - 8 < 8 ? n - t - 8 : 8, hd);
        prefetch_rows_l2(v, stride, t, 8, hd);
        scores8(scores, q, k, stride, t, 8, hd, scale);
    }
    if (t < n) scores8(scores, q, k, stride, t, n - t, hd, scale);
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
 * scores by scores8; each output column one chain over the keys), so the results are its. */
__attribute__((target("avx2,fma"))) static void attention_group_avx2(float *out, size_t out_stride, const float *q,
                                                                      size_t q_stride, int G, const float *k,
                                                                      const float *v, size_t stride, int n, int hd,
                                                                      float scale, float *scores, size_t scores_stride) {
    int t = 0;
    for (; t + 8 <= n; t += 8) { /* the 8 keys stay in L1 for all the heads */
        prefetch_rows(k, stride, t + 8, n - t - 8 < 8 ? n - t - 8 : 8, hd);
        prefetch_rows_l2(v, stride, t, 8, hd);
        for (int g = 0; g < G; g++)
            scores8(scores + (size_t)g * scores_stride, q + (size_t)g * q_stride, k, stride, t, 8, hd, scale);
    }
    for (int g = 0; t < n && g < G; g++)
        scores8(scores + (size_t)g * scores_stride, q + (size_t)g * q_stride, k, stride, t, n - t, hd, scale);
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
