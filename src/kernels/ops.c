/* ops.c — the element-wise and per-row ops of a transformer block. */
#include <math.h>
#include <immintrin.h>
#include <pthread.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"

void rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    double ss = 0.0; /* double: Gemma's residual stream reaches 1e4 and beyond */
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) out[i] = weight[i] * (scale * x[i]);
}

void softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void rope_pairs(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int i = 0; i < head_dim / 2; i++) {
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * cos_t[i] - b * sin_t[i];
            v[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
        }
    }
}

void swiglu(float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

void rope_halves(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * cos_t[i] - b * sin_t[i];
            v[i + half] = a * sin_t[i] + b * cos_t[i];
        }
    }
}

float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x)));
}

/* GELU of every half-precision input, rounded to half: the activation is evaluated at the
 * input rounded to f16, as llama.cpp does (it is faster, and agrees with llama.cpp). */
static uint16_t g_gelu_table[65536];
static pthread_once_t g_gelu_once = PTHREAD_ONCE_INIT;

static void gelu_table_init(void) {
    for (uint32_t h = 0; h < 65536; h++) g_gelu_table[h] = slm_f32_to_f16(gelu_tanh(slm_f16_to_f32((uint16_t)h)));
}

static void geglu_range_scalar(float *a, const float *b, int lo, int hi) {
    for (int i = lo; i < hi; i++) {
        float x = a[i], g;
        if (x <= -10.0f) g = 0.0f;
        else if (x >= 10.0f) g = x;
        else g = slm_f16_to_f32(g_gelu_table[slm_f32_to_f16(x)]);
        a[i] = g * b[i];
    }
}

/* The same with the F16C conversions (both round to nearest even, as slm_f32_to_f16). */
__attribute__((target("f16c"))) static void geglu_range_f16c(float *a, const float *b, int lo, int hi) {
    for (int i = lo; i < hi; i++) {
        float x = a[i], g;
        if (x <= -10.0f) g = 0.0f;
        else if (x >= 10.0f) g = x;
        else g = _cvtsh_ss(g_gelu_table[_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT)]);
        a[i] = g * b[i];
    }
}

typedef struct {
    float *a;
    const float *b;
    int n;
} geglu_ctx;

static void geglu_worker(void *arg, int ith, int nth) {
    const geglu_ctx *c = arg;
    int lo, hi;
    slm_split_range(c->n, ith, nth, &lo, &hi);
    if (kernels_simd_tiles()) geglu_range_f16c(c->a, c->b, lo, hi);
    else geglu_range_scalar(c->a, c->b, lo, hi);
}

void geglu_tanh(float *a, const float *b, int n) {
    pthread_once(&g_gelu_once, gelu_table_init);
    geglu_ctx c = {a, b, n};
    if (n >= (1 << 14)) slm_pool_run(geglu_worker, &c); /* prompt batches */
    else geglu_worker(&c, 0, 1);
}
