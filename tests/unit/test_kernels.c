/* test_kernels.c — f16 conversion, and every SIMD kernel against its scalar reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "kernels/kernels.h"
#include "slm.h"
#include "tensor/types.h"

static void test_f16_roundtrip(void) {
    /* every half value converts to float and back to itself (NaNs stay NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = slm_f16_to_f32((uint16_t)h);
        uint16_t back = slm_f32_to_f16(f);
        if (isnan(f) ? !isnan(slm_f16_to_f32(back)) : back != h) bad++;
    }
    CHECK(bad == 0, "%d half values do not round-trip", bad);
    /* round to nearest even, overflow to infinity, underflow to subnormals and zero */
    CHECK(slm_f32_to_f16(1.0f) == 0x3C00, "1.0");
    CHECK(slm_f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00, "tie rounds to even (down)");
    CHECK(slm_f32_to_f16(1.0f + 3.0f / 2048) == 0x3C02, "tie rounds to even (up)");
    CHECK(slm_f32_to_f16(65520.0f) == 0x7C00, "65520 overflows to inf");
    CHECK(slm_f32_to_f16(65519.0f) == 0x7BFF, "65519 rounds to max");
    CHECK(slm_f32_to_f16(5.9604645e-8f) == 0x0001, "smallest subnormal");
    CHECK(slm_f32_to_f16(2.9e-8f) == 0x0000, "below half the smallest subnormal");
    CHECK(slm_f32_to_f16(-0.0f) == 0x8000, "negative zero");
}

static void test_dot_simd_matches_scalar(void) {
    slm_rng rng;
    slm_rng_seed(&rng, 3);
    enum { N = 1037 };
    float a[N], b[N];
    uint16_t h[N];
    for (int i = 0; i < N; i++) {
        a[i] = slm_rng_f32(&rng) * 2 - 1;
        b[i] = slm_rng_f32(&rng) * 2 - 1;
        h[i] = slm_f32_to_f16(a[i]);
    }
    kernels_force_scalar(false);
    for (int n = 0; n <= N; n += (n < 40 ? 1 : 97)) {
        float s32 = dot_f32_scalar(a, b, (size_t)n), v32 = dot_f32(a, b, (size_t)n);
        float s16 = dot_f16_scalar(h, b, (size_t)n), v16 = dot_f16(h, b, (size_t)n);
        CHECK(fabsf(s32 - v32) <= 1e-4f * (1 + fabsf(s32)), "f32 n=%d: %g vs %g", n, s32, v32);
        CHECK(fabsf(s16 - v16) <= 1e-4f * (1 + fabsf(s16)), "f16 n=%d: %g vs %g", n, s16, v16);
    }
}

static void test_matvec_threads_and_scalar(void) {
    enum { ROWS = 301, COLS = 256 };
    float *w = malloc(sizeof(float) * ROWS * COLS), x[COLS], ref[ROWS], out[ROWS];
    uint16_t *wh = malloc(sizeof(uint16_t) * ROWS * COLS);
    slm_rng rng;
    slm_rng_seed(&rng, 9);
    for (int i = 0; i < ROWS * COLS; i++) {
        w[i] = slm_rng_f32(&rng) - 0.5f;
        wh[i] = slm_f32_to_f16(w[i]);
    }
    for (int i = 0; i < COLS; i++) x[i] = slm_rng_f32(&rng) - 0.5f;
    slm_tensor t32 = {.name = "w", .type = SLM_TYPE_F32, .n_dims = 2, .ne = {COLS, ROWS, 1, 1}, .data = w, .row_bytes = COLS * 4};
    slm_tensor t16 = t32;
    t16.type = SLM_TYPE_F16;
    t16.data = wh;
    t16.row_bytes = COLS * 2;
    const slm_tensor *ts[2] = {&t32, &t16};
    for (int k = 0; k < 2; k++) {
        for (int r = 0; r < ROWS; r++)
            ref[r] = k ? dot_f16_scalar(wh + r * COLS, x, COLS) : dot_f32_scalar(w + r * COLS, x, COLS);
        for (int threads = 1; threads <= 3; threads++)
            for (int scalar = 0; scalar <= 1; scalar++) {
                slm_set_threads(threads);
                kernels_force_scalar(scalar);
                memset(out, 0, sizeof out);
                matvec(out, ts[k], x, NULL);
                float worst = 0;
                for (int r = 0; r < ROWS; r++) worst = fmaxf(worst, fabsf(out[r] - ref[r]));
                CHECK(worst < 1e-4f, "%s matvec, %d threads, %s: max diff %g", k ? "f16" : "f32", threads,
                      scalar ? "scalar" : kernels_simd_name(), worst);
            }
    }
    kernels_force_scalar(false);
    free(w);
    free(wh);
}

static void test_matmul_batches(void) {
    enum { ROWS = 301, COLS = 264, TOKS = 7 };
    float *w = malloc(sizeof(float) * ROWS * COLS), *x = malloc(sizeof(float) * TOKS * COLS);
    float *out = malloc(sizeof(float) * TOKS * ROWS);
    uint16_t *wh = malloc(sizeof(uint16_t) * ROWS * COLS);
    slm_rng rng;
    slm_rng_seed(&rng, 11);
    for (int i = 0; i < ROWS * COLS; i++) wh[i] = slm_f32_to_f16(w[i] = slm_rng_f32(&rng) - 0.5f);
    for (int i = 0; i < TOKS * COLS; i++) x[i] = slm_rng_f32(&rng) - 0.5f;
    slm_tensor t32 = {.name = "w", .type = SLM_TYPE_F32, .n_dims = 2, .ne = {COLS, ROWS, 1, 1}, .data = w, .row_bytes = COLS * 4};
    slm_tensor t16 = t32;
    t16.type = SLM_TYPE_F16;
    t16.data = wh;
    t16.row_bytes = COLS * 2;
    for (int k = 0; k < 2; k++)
        for (int n_tok = 1; n_tok <= TOKS; n_tok++)
            for (int threads = 1; threads <= 2; threads++)
                for (int scalar = 0; scalar <= 1; scalar++) {
                    slm_set_threads(threads);
                    kernels_force_scalar(scalar);
                    matmul_job job = {out, ROWS, k ? &t16 : &t32, NULL};
                    matmul_multi(&job, 1, x, n_tok, COLS, NULL);
                    float worst = 0;
                    for (int b = 0; b < n_tok; b++)
                        for (int r = 0; r < ROWS; r++) {
                            float ref = k ? dot_f16_scalar(wh + r * COLS, x + b * COLS, COLS) : dot_f32_scalar(w + r * COLS, x + b * COLS, COLS);
                            worst = fmaxf(worst, fabsf(out[b * ROWS + r] - ref));
                        }
                    CHECK(worst < 1e-4f, "%s matmul, %d tokens, %d threads, %s: max diff %g", k ? "f16" : "f32", n_tok,
                          threads, scalar ? "scalar" : kernels_simd_name(), worst);
                    /* each input gets exactly what it gets alone, wherever it sits in the batch */
                    float alone[ROWS];
                    int same = 1;
                    for (int b = 0; b < n_tok; b++) {
                        matmul_job one = {alone, ROWS, k ? &t16 : &t32, NULL};
                        matmul_multi(&one, 1, x + b * COLS, 1, COLS, NULL);
                        same &= memcmp(alone, out + b * ROWS, sizeof alone) == 0;
                    }
                    CHECK(same, "%s matmul, %d tokens, %d threads, %s: an input's outputs depend on the batch", k ? "f16" : "f32",
                          n_tok, threads, scalar ? "scalar" : kernels_simd_name());
                }
    kernels_force_scalar(false);
    free(w);
    free(wh);
    free(x);
    free(out);
}

static void test_attention(void) {
    enum { HD = 16, N = 37, STRIDE = 40 };
    float q[HD], k[N * STRIDE], v[N * STRIDE], ref[HD], out[HD], sc[N];
    slm_rng rng;
    slm_rng_seed(&rng, 5);
    for (int i = 0; i < HD; i++) q[i] = slm_rng_f32(&rng) * 2 - 1;
    for (int i = 0; i < N * STRIDE; i++) k[i] = slm_rng_f32(&rng) * 2 - 1, v[i] = slm_rng_f32(&rng) * 2 - 1;
    for (int n = 1; n <= N; n += 6) {
        attention_head_scalar(ref, q, k, v, STRIDE, n, HD, 0.25f, sc);
        kernels_force_scalar(false);
        attention_head(out, q, k, v, STRIDE, n, HD, 0.25f, sc);
        float worst = 0;
        for (int i = 0; i < HD; i++) worst = fmaxf(worst, fabsf(out[i] - ref[i]));
        CHECK(worst < 1e-5f, "attention n=%d (%s): %g", n, kernels_simd_name(), worst);
    }
    /* one position: the output is that position's value */
    attention_head(out, q, k, v, STRIDE, 1, HD, 0.25f, sc);
    CHECK(fabsf(out[3] - v[3]) < 1e-6f, "single position");
}

static void test_ops(void) {
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 2}, out[4];
    rmsnorm(out, x, w, 4, 0.0f);
    float rms = sqrtf((1 + 4 + 9 + 16) / 4.0f);
    CHECK(fabsf(out[3] - 8 / rms) < 1e-6f, "rmsnorm");
    float s[3] = {1000, 1000, 1000};
    softmax(s, 3);
    CHECK(fabsf(s[0] - 1.0f / 3) < 1e-6f, "softmax of large equal values");
    float v[4] = {1, 0, 0, 1}, c[2] = {0, 1}, sn[2] = {1, 0};
    rope_pairs(v, 1, 4, c, sn); /* first pair by 90 degrees, second by 0 */
    CHECK(fabsf(v[0]) < 1e-6f && fabsf(v[1] - 1) < 1e-6f && v[2] == 0 && v[3] == 1, "rope");
}

int main(void) {
    test_f16_roundtrip();
    test_dot_simd_matches_scalar();
    test_matvec_threads_and_scalar();
    test_matmul_batches();
    test_attention();
    test_ops();
    return check_summary("test_kernels");
}
