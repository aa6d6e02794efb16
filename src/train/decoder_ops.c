/* decoder_ops.c — forward and backward of the decoder-only training ops (see decoder_ops.h):
 * RoPE in both pair layouts, the GELU-tanh / SiLU gate, last-token pooling. */
#include "train/decoder_ops.h"

#include <math.h>
#include <string.h>

#include "base/threadpool.h"

/* Work (roughly, multiply-adds) below which an op runs on the calling thread alone. */
#define PARALLEL_MIN_WORK (1 << 15)

/* Calls fn over [0, n) split over the pool (see slm_pool_for). */
static void split_over_pool(slm_range_fn fn, void *ctx, int n, double work) { slm_pool_for(fn, ctx, n, work, PARALLEL_MIN_WORK); }

/* ---------------------------------------------------------------- RoPE */

typedef struct {
    float *x;
    const float *cos_t, *sin_t;
    int T, n_heads, hd, halves;
    float sign;
} rope_ctx;

static void rope_rows(void *arg, int n0, int n1) {
    const rope_ctx *c = arg;
    const int half = c->hd / 2, width = c->n_heads * c->hd;
    const int stride = c->halves ? 1 : 2, offset = c->halves ? half : 1;
    for (int n = n0; n < n1; n++) {
        const int t = n % c->T;
        const float *ct = c->cos_t + (size_t)t * half, *st = c->sin_t + (size_t)t * half;
        for (int h = 0; h < c->n_heads; h++) {
            float *v = c->x + (size_t)n * width + (size_t)h * c->hd;
            for (int i = 0; i < half; i++) {
                float *p = v + i * stride;
                const float a = p[0], b = p[offset], s = c->sign * st[i];
                p[0] = a * ct[i] - b * s;
                p[offset] = a * s + b * ct[i];
            }
        }
    }
}

void decoder_rope(float *x, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd, int halves,
                  int inverse) {
    rope_ctx c = {x, cos_t, sin_t, T, n_heads, hd, halves, inverse ? -1.0f : 1.0f};
    split_over_pool(rope_rows, &c, B * T, 3.0 * B * T * n_heads * hd);
}

/* ---------------------------------------------------------------- gated activation */

#define CHUNK 4096
#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */

typedef struct {
    float *out, *dgate, *dup;
    const float *gate, *up, *dout;
    int64_t n;
    int gelu;
} gated_ctx;

static void gated_forward_chunks(void *arg, int k0, int k1) {
    const gated_ctx *c = arg;
    const int64_t i1 = (int64_t)k1 * CHUNK < c->n ? (int64_t)k1 * CHUNK : c->n;
    for (int64_t i = (int64_t)k0 * CHUNK; i < i1; i++) {
        const float x = c->gate[i];
        const float a = c->gelu ? 0.5f * x * (1.0f + tanhf(GELU_K * x * (1.0f + 0.044715f * x * x)))
                                : x / (1.0f + expf(-x));
        c->out[i] = a * c->up[i];
    }
}

static void gated_backward_chunks(void *arg, int k0, int k1) {
    const gated_ctx *c = arg;
    const int64_t i1 = (int64_t)k1 * CHUNK < c->n ? (int64_t)k1 * CHUNK : c->n;
    for (int64_t i = (int64_t)k0 * CHUNK; i < i1; i++) {
        const float x = c->gate[i];
        float a, da;
        if (c->gelu) { /* a = x/2 (1 + tanh u), u = k (x + 0.044715 x^3) */
            const float th = tanhf(GELU_K * x * (1.0f + 0.044715f * x * x));
            a = 0.5f * x * (1.0f + th);
            da = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        } else { /* a = x sigmoid(x), a' = s (1 + x (1 - s)) */
            const float s = 1.0f / (1.0f + expf(-x));
            a = x * s;
            da = s * (1.0f + x * (1.0f - s));
        }
        c->dgate[i] += c->dout[i] * c->up[i] * da;
        c->dup[i] += c->dout[i] * a;
    }
}

void gated_act_forward(float *out, const float *gate, const float *up, int64_t n, int gelu) {
    gated_ctx c = {.out = out, .gate = gate, .up = up, .n = n, .gelu = gelu};
    const int chunks = (int)((n + CHUNK - 1) / CHUNK);
    split_over_pool(gated_forward_chunks, &c, chunks, 20.0 * (double)n);
}

void gated_act_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n,
                        int gelu) {
    gated_ctx c = {.dgate = dgate, .dup = dup, .gate = gate, .up = up, .dout = dout, .n = n, .gelu = gelu};
    const int chunks = (int)((n + CHUNK - 1) / CHUNK);
    split_over_pool(gated_backward_chunks, &c, chunks, 30.0 * (double)n);
}

/* ---------------------------------------------------------------- last-token pooling */

void last_token_pool_forward(float *out, const float *x, const int *lens, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * C, x + ((size_t)b * T + (size_t)(lens[b] - 1)) * C, sizeof(float) * (size_t)C);
}

void last_token_pool_backward(float *dx, const float *dout, const int *lens, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        float *row = dx + ((size_t)b * T + (size_t)(lens[b] - 1)) * C;
        for (int i = 0; i < C; i++) row[i] += dout[(size_t)b * C + i];
    }
}
