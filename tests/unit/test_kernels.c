/* test_kernels.c — f16 conversion, every SIMD kernel against its scalar reference, and the
 * f32 / f16 / bf16 matmuls of every kernel set against the definition and against themselves
 * (an input's outputs do not depend on the batch or the threads). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "kernels/kernels.h"
#include "slm.h"
#include "tensor/quants.h"
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
    uint16_t h[N], bh[N];
    for (int i = 0; i < N; i++) {
        a[i] = slm_rng_f32(&rng) * 2 - 1;
        b[i] = slm_rng_f32(&rng) * 2 - 1;
        h[i] = slm_f32_to_f16(a[i]);
    }
    quantize_row(SLM_TYPE_BF16, a, bh, N);
    kernels_force_scalar(false);
    for (int n = 0; n <= N; n += (n < 40 ? 1 : 97)) {
        float s32 = dot_f32_scalar(a, b, (size_t)n), v32 = dot_f32(a, b, (size_t)n);
        float s16 = dot_f16_scalar(h, b, (size_t)n), v16 = dot_f16(h, b, (size_t)n);
        CHECK(fabsf(s32 - v32) <= 1e-4f * (1 + fabsf(s32)), "f32 n=%d: %g vs %g", n, s32, v32);
        CHECK(fabsf(s16 - v16) <= 1e-4f * (1 + fabsf(s16)), "f16 n=%d: %g vs %g", n, s16, v16);
        float sb = dot_bf16_scalar(bh, b, (size_t)n), vb = dot_bf16(bh, b, (size_t)n);
        CHECK(fabsf(sb - vb) <= 1e-4f * (1 + fabsf(sb)), "bf16 n=%d: %g vs %g", n, sb, vb);
    }
    /* dot_row of a bf16 row: the selected kernel, the scalar one */
    slm_tensor tb = {.name = "w", .type = SLM_TYPE_BF16, .n_dims = 2, .ne = {N, 1, 1, 1}, .data = bh, .row_bytes = N * 2};
    float ref = dot_bf16_scalar(bh, b, N), got = dot_row(&tb, 0, b);
    CHECK(fabsf(got - ref) <= 1e-4f * (1 + fabsf(ref)), "bf16 dot_row (%s): %g vs %g", kernels_simd_name(), got, ref);
    kernels_force_scalar(true);
    CHECK(dot_row(&tb, 0, b) == ref, "bf16 dot_row (scalar) is the reference");
    kernels_force_scalar(false);
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

/* The kernel sets to try: 0 scalar, 1 AVX2, 2 AVX-512 without AVX512_BF16, 3 every AVX-512 kernel
 * the CPU has; false when the CPU lacks set k (3: lacks AVX512_BF16, which set 2 then covers). */
static bool use_kernel_set(int k) {
    kernels_force_scalar(k == 0);
    kernels_allow_avx512(k >= 2);
    kernels_allow_avx512_bf16(k != 2);
    if (k == 3) return kernels_avx512_bf16();
    return k == 0 || (k == 1 ? kernels_simd_tiles() : kernels_avx512());
}

/* f32 / f16 / bf16 weights, with every kernel set: the outputs against the definition (sums in
 * double of the widened weights times the inputs, rounded to bf16 for bf16 weights, within 1e-5
 * of the sum of |w x|), and each
 * input's outputs, in a batch of 1, 3, 6, 7 or 11 and on 1 or 2 threads, bit-identical to that
 * input alone on one thread. Column counts leave tails of every kind (264 = 16 * 16 + 8, 261 is
 * odd), 37 rows leave partial row tiles, and two jobs in one call split rows mid-tile. */
static void test_matmul_float(void) {
    enum { ROWS = 37, ROWS2 = 21, MAX_TOK = 11, MAX_COLS = 1040 };
    static const int COLS[] = {264, 261, 1040}, N_TOK[] = {1, 3, 6, 7, MAX_TOK};
    static const slm_type TYPES[] = {SLM_TYPE_F32, SLM_TYPE_F16, SLM_TYPE_BF16};
    static const char *SETS[] = {"scalar", "avx2", "avx512", "avx512bf16"};
    float *wf = malloc(sizeof(float) * (ROWS + ROWS2) * MAX_COLS), *x = malloc(sizeof(float) * MAX_TOK * MAX_COLS);
    float *deq = malloc(sizeof(float) * MAX_COLS), *out = malloc(sizeof(float) * MAX_TOK * (ROWS + ROWS2));
    float *alone = malloc(sizeof(float) * MAX_TOK * (ROWS + ROWS2));
    double *ref = malloc(sizeof(double) * MAX_TOK * (ROWS + ROWS2)), *mag = malloc(sizeof(double) * MAX_TOK * (ROWS + ROWS2));
    unsigned char *wq = malloc(4 * (ROWS + ROWS2) * MAX_COLS);
    float *xr = malloc(sizeof(float) * MAX_TOK * MAX_COLS); /* the inputs as the product reads them */
    uint16_t *xh = malloc(sizeof(uint16_t) * MAX_COLS);
    void *scratch = malloc(matmul_scratch_bytes(MAX_TOK, MAX_COLS));
    slm_rng rng;
    slm_rng_seed(&rng, 11);
    for (size_t ci = 0; ci < sizeof COLS / sizeof COLS[0]; ci++)
        for (size_t ti = 0; ti < sizeof TYPES / sizeof TYPES[0]; ti++) {
            const int cols = COLS[ci];
            const slm_type type = TYPES[ti];
            const size_t elem = type == SLM_TYPE_F32 ? 4 : 2;
            for (int i = 0; i < (ROWS + ROWS2) * cols; i++) wf[i] = (slm_rng_f32(&rng) - 0.5f) * (1 + i % 3);
            for (int i = 0; i < MAX_TOK * cols; i++) x[i] = slm_rng_f32(&rng) - 0.5f;
            quantize_row(type, wf, wq, (int64_t)(ROWS + ROWS2) * cols);
            for (int b = 0; b < MAX_TOK; b++) { /* bf16 weights pair with inputs rounded to bf16 */
                if (type == SLM_TYPE_BF16) {
                    quantize_row(SLM_TYPE_BF16, x + b * cols, xh, cols);
                    dequantize_row(SLM_TYPE_BF16, xh, xr + b * cols, cols);
                } else memcpy(xr + b * cols, x + b * cols, sizeof(float) * cols);
            }
            /* two matrices that share the inputs: rows 0..36 and 37..57 of wq */
            slm_tensor t1 = {.name = "w", .type = type, .n_dims = 2, .ne = {cols, ROWS, 1, 1}, .data = wq,
                             .row_bytes = cols * elem};
            slm_tensor t2 = t1;
            t2.ne[1] = ROWS2;
            t2.data = wq + (size_t)ROWS * cols * elem;
            for (int r = 0; r < ROWS + ROWS2; r++) {
                dequantize_row(type, wq + (size_t)r * cols * elem, deq, cols);
                for (int b = 0; b < MAX_TOK; b++) {
                    double s = 0, m = 0;
                    for (int i = 0; i < cols; i++) {
                        s += (double)deq[i] * xr[b * cols + i];
                        m += fabs((double)deq[i] * xr[b * cols + i]);
                    }
                    ref[b * (ROWS + ROWS2) + r] = s, mag[b * (ROWS + ROWS2) + r] = m;
                }
            }
            for (int set = 0; set < 4; set++) {
                if (!use_kernel_set(set)) continue;
                /* each input alone, on one thread: the definition */
                slm_set_threads(1);
                double worst = 0;
                for (int b = 0; b < MAX_TOK; b++) {
                    float *o = alone + b * (ROWS + ROWS2);
                    matmul_job jobs[2] = {{o, 0, &t1, NULL}, {o + ROWS, 0, &t2, NULL}};
                    matmul_multi(jobs, 2, x + b * cols, 1, cols, scratch);
                    for (int r = 0; r < ROWS + ROWS2; r++) {
                        const int i = b * (ROWS + ROWS2) + r;
                        worst = fmax(worst, fabs(o[r] - ref[i]) / (mag[i] + 1e-30));
                    }
                }
                CHECK(worst <= 1e-5, "%s matmul, %d cols, %s: relative error %g", slm_type_info(type)->name, cols,
                      SETS[set], worst);
                /* batches on 1 and 2 threads: each input exactly as alone */
                for (int threads = 1; threads <= 2; threads++)
                    for (size_t ni = 0; ni < sizeof N_TOK / sizeof N_TOK[0]; ni++) {
                        const int n_tok = N_TOK[ni];
                        slm_set_threads(threads);
                        memset(out, 0, sizeof(float) * MAX_TOK * (ROWS + ROWS2));
                        matmul_job jobs[2] = {{out, ROWS + ROWS2, &t1, NULL}, {out + ROWS, ROWS + ROWS2, &t2, NULL}};
                        matmul_multi(jobs, 2, x, n_tok, cols, scratch);
                        CHECK(!memcmp(out, alone, sizeof(float) * n_tok * (ROWS + ROWS2)),
                              "%s matmul, %d cols, %s, %d inputs, %d threads: an input's outputs depend on the batch",
                              slm_type_info(type)->name, cols, SETS[set], n_tok, threads);
                    }
                /* outputs scattered through out_rows, as the logits of several sessions */
                float *rows_at[3] = {out + 2 * ROWS, out, out + ROWS};
                matmul_job scat = {NULL, 0, &t1, rows_at};
                matmul_multi(&scat, 1, x, 3, cols, scratch);
                int same = 1;
                for (int b = 0; b < 3; b++) same &= !memcmp(rows_at[b], alone + b * (ROWS + ROWS2), sizeof(float) * ROWS);
                CHECK(same, "%s matmul, %d cols, %s: out_rows outputs differ", slm_type_info(type)->name, cols, SETS[set]);
            }
        }
    kernels_force_scalar(false);
    kernels_allow_avx512(true);
    kernels_allow_avx512_bf16(true);
    slm_set_threads(1);
    free(wf); free(x); free(deq); free(out); free(alone); free(ref); free(mag); free(wq); free(xr); free(xh); free(scratch);
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

/* Heads sharing a KV head in one pass (attention_group) give each head's attention_head floats
 * exactly, for head sizes 64/128/256, 1..6 heads and lengths around the 8-key blocks. */
static void test_attention_group(void) {
    enum { G = 6, N = 41 };
    for (int hd = 64; hd <= 256; hd *= 2) {
        const size_t stride = (size_t)hd * 2;
        float *q = malloc((size_t)G * hd * sizeof(float)), *k = malloc(N * stride * sizeof(float));
        float *v = malloc(N * stride * sizeof(float)), *out = malloc((size_t)G * hd * sizeof(float));
        float *one = malloc((size_t)hd * sizeof(float)), *sc = malloc((size_t)G * N * sizeof(float));
        slm_rng rng;
        slm_rng_seed(&rng, 9);
        for (int i = 0; i < G * hd; i++) q[i] = slm_rng_f32(&rng) * 2 - 1;
        for (size_t i = 0; i < N * stride; i++) k[i] = slm_rng_f32(&rng) * 2 - 1, v[i] = slm_rng_f32(&rng) * 2 - 1;
        for (int g = 1; g <= G; g++)
            for (int n = 1; n <= N; n += 4) {
                attention_group(out, (size_t)hd, q, (size_t)hd, g, k, v, stride, n, hd, 0.1f, sc, N);
                for (int h = 0; h < g; h++) {
                    attention_head(one, q + (size_t)h * hd, k, v, stride, n, hd, 0.1f, sc);
                    CHECK(memcmp(one, out + (size_t)h * hd, (size_t)hd * sizeof(float)) == 0,
                          "attention_group hd=%d heads=%d n=%d: head %d differs from attention_head", hd, g, n, h);
                }
            }
        free(q); free(k); free(v); free(out); free(one); free(sc);
    }
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
    test_matmul_float();
    test_attention();
    test_attention_group();
    test_ops();
    return check_summary("test_kernels");
}
