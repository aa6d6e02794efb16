/* test_qdot.c — quantised dot products: every AVX2 kernel against its scalar reference, every
 * scalar reference against the format's definition (dequantised weights · dequantised
 * activations), and the threaded quantised matmul against single dots. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "kernels/kernels.h"
#include "kernels/qdot.h"
#include "slm.h"
#include "tensor/quants.h"

static const slm_type TYPES[] = {SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0, SLM_TYPE_Q5_1, SLM_TYPE_Q8_0,
                                 SLM_TYPE_Q2_K, SLM_TYPE_Q3_K, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K,
                                 SLM_TYPE_IQ4_NL, SLM_TYPE_IQ4_XS};

/* Random bytes for a row of blocks, with every f16 scale field replaced by a small finite
 * value (the fields are found by quantising random data first, then scrambling the rest). */
static void random_row(slm_rng *rng, slm_type t, int64_t n, void *row, float *tmp) {
    for (int64_t i = 0; i < n; i++) tmp[i] = (slm_rng_f32(rng) * 2 - 1) * (1 + (i % 7));
    quantize_row(t, tmp, row, n);
}

static void dequant_act(slm_type at, const void *act, float *out, int64_t n) { dequantize_row(at, act, out, n); }

/* The size of the minimum's share of a q4_1 / q5_1 dot with q8_0 activations, the sum over blocks
 * of |m da sum(a)| (0 for the other types). It cancels against the scale's share d da sum(q a),
 * so the kernels and the reference, which round both in their own orders, agree relative to it
 * rather than to the result (near zero, neither is closer than that to the exact value). */
static float min_share(slm_type t, const void *row, const void *act, int64_t n) {
    if (t != SLM_TYPE_Q4_1 && t != SLM_TYPE_Q5_1) return 0.0f;
    const block_q8_0 *a = act;
    double share = 0;
    for (int64_t b = 0; b < n / QK; b++) {
        const uint16_t m = t == SLM_TYPE_Q4_1 ? ((const block_q4_1 *)row)[b].m : ((const block_q5_1 *)row)[b].m;
        int sa = 0;
        for (int i = 0; i < QK; i++) sa += a[b].qs[i];
        share += fabs((double)slm_f16_to_f32(m) * slm_f16_to_f32(a[b].d) * sa);
    }
    return (float)share;
}

int main(void) {
    enum { N = 1024, ROWS = 37, MAX_INPUTS = 11 };
    slm_rng rng;
    slm_rng_seed(&rng, 2026);
    float *x = malloc(N * sizeof(float)), *tmp = malloc((N + QK) * sizeof(float)), *wd = malloc(N * sizeof(float)),
          *xd = malloc(N * sizeof(float)), *out = malloc(ROWS * MAX_INPUTS * sizeof(float));
    unsigned char *row = malloc(ROWS * N * 2), *act = malloc(N * 2);
    void *scratch = malloc(matmul_scratch_bytes(MAX_INPUTS, N + QK));
    for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++) {
        slm_type t = TYPES[k], at = qdot_activation_type(t);
        uint64_t row_bytes;
        slm_type_row_bytes(t, N, &row_bytes);
        float worst_simd = 0, worst_def = 0;
        qdot_inputs in;
        for (int trial = 0; trial < 20; trial++) {
            random_row(&rng, t, N, row, tmp);
            for (int i = 0; i < N; i++) x[i] = slm_rng_f32(&rng) * 2 - 1;
            kernels_force_scalar(false);
            qdot_inputs_layout(&in, QDOT_ALL_FORMS, 1, N, scratch);
            qdot_inputs_fill(&in, x, N, 0, 1);
            const void *act1 = qdot_input(&in, at, 0);
            float ref = qdot_scalar(t, row, act1, N);
            dequantize_row(t, row, wd, N);
            dequant_act(at, act1, xd, N);
            double def = 0;
            for (int i = 0; i < N; i++) def += (double)wd[i] * xd[i];
            float scale = 1e-3f + fabsf(ref) + min_share(t, row, act1, N);
            /* every kernel set the CPU has: AVX2 alone, then AVX-512 where present */
            for (int avx512 = 0; avx512 <= 1; avx512++) {
                kernels_allow_avx512(avx512);
                if (avx512 && !kernels_avx512_vnni()) break;
                qdot_kernel kern = qdot_kernel_for(t);
                float simd;
                kern.fn(t, row, &in, 0, 1, &simd);
                worst_simd = fmaxf(worst_simd, fabsf(simd - ref) / scale);
            }
            kernels_allow_avx512(true);
            worst_def = fmaxf(worst_def, (float)fabs(def - ref) / scale);
        }
        CHECK(worst_simd < 1e-4f, "%s: SIMD vs scalar relative difference %g", slm_type_info(t)->name, worst_simd);
        CHECK(worst_def < 1e-4f, "%s: scalar vs definition relative difference %g", slm_type_info(t)->name, worst_def);

        /* the threaded matmul, with the AVX2 kernels and (where the CPU has them) the AVX-512
           VNNI ones: one input against the scalar reference, and several inputs equal to each
           input alone, whichever group of inputs a row falls in (a 32-element type also gets an
           odd number of blocks) */
        const int64_t cols = slm_type_info(t)->block_elems == QK ? N + QK : N;
        uint64_t mrow_bytes;
        slm_type_row_bytes(t, cols, &mrow_bytes);
        for (int r = 0; r < ROWS; r++) random_row(&rng, t, cols, row + r * mrow_bytes, tmp);
        slm_tensor w = {.name = "w", .type = t, .n_dims = 2, .ne = {cols, ROWS, 1, 1}, .data = row, .row_bytes = mrow_bytes};
        float *xs = malloc(MAX_INPUTS * cols * sizeof(float)), *alone = malloc(ROWS * sizeof(float));
        float *avx2_out = malloc(MAX_INPUTS * ROWS * sizeof(float)); /* the AVX2 kernels' results */
        for (int i = 0; i < MAX_INPUTS * cols; i++) xs[i] = slm_rng_f32(&rng) * 2 - 1;
        static const int n_inputs[] = {3, 6, 9, MAX_INPUTS};
        for (int avx512 = 0; avx512 <= 1; avx512++) {
            kernels_allow_avx512(avx512);
            if (avx512 && !kernels_avx512_vnni()) break;
            float worst_ref = 0, worst_avx2 = 0;
            for (int b = 0; b < MAX_INPUTS; b++) {
                matmul_job one = {alone, ROWS, &w, NULL};
                matmul_multi(&one, 1, xs + b * cols, 1, (int)cols, scratch);
                for (int r = 0; r < ROWS; r++) {
                    if (!avx512) avx2_out[b * ROWS + r] = alone[r];
                    else worst_avx2 = fmaxf(worst_avx2, fabsf(alone[r] - avx2_out[b * ROWS + r]));
                }
                if (at == SLM_TYPE_Q8_0) quantize_act_q8_0(xs + b * cols, (block_q8_0 *)act, cols);
                else quantize_act_q8_K(xs + b * cols, (block_q8_K *)act, cols);
                for (int r = 0; r < ROWS; r++) {
                    float ref = qdot_scalar(t, row + r * mrow_bytes, act, cols);
                    const float scale = 1e-3f + fabsf(ref) + min_share(t, row + r * mrow_bytes, act, cols);
                    worst_ref = fmaxf(worst_ref, fabsf(alone[r] - ref) / scale);
                }
            }
            CHECK(worst_ref < 1e-4f, "%s matmul (%s) vs scalar relative difference %g", slm_type_info(t)->name,
                  kernels_simd_name(), worst_ref);
            if (avx512 && at == SLM_TYPE_Q8_K && strcmp(qdot_kernel_for(t).name, "avx512vnni16") != 0)
                /* the same integer sums and float steps (the 16-row kernels take their own float
                   steps: checked against the reference above) */
                CHECK(worst_avx2 == 0.0f, "%s: AVX-512 and AVX2 kernels differ by %g", slm_type_info(t)->name, worst_avx2);
            for (int threads = 1; threads <= 2; threads++)
                for (size_t ni = 0; ni < sizeof n_inputs / sizeof n_inputs[0]; ni++) {
                    const int n_in = n_inputs[ni];
                    slm_set_threads(threads);
                    matmul_job job = {out, ROWS, &w, NULL};
                    matmul_multi(&job, 1, xs, n_in, (int)cols, scratch);
                    float worst = 0;
                    for (int b = 0; b < n_in; b++) {
                        matmul_job one = {alone, ROWS, &w, NULL};
                        matmul_multi(&one, 1, xs + b * cols, 1, (int)cols, scratch);
                        for (int r = 0; r < ROWS; r++) worst = fmaxf(worst, fabsf(out[b * ROWS + r] - alone[r]));
                    }
                    CHECK(worst == 0.0f, "%s matmul (%s) of %d inputs (%d threads) differs from each input alone by %g",
                          slm_type_info(t)->name, kernels_simd_name(), n_in, threads, worst);
                }
        }
        kernels_allow_avx512(true);
        free(xs);
        free(alone);
        free(avx2_out);
    }
    /* the activation quantisers */
    for (int i = 0; i < N; i++) x[i] = (slm_rng_f32(&rng) * 2 - 1) * 3;
    block_q8_K *k8 = (block_q8_K *)act;
    quantize_act_q8_K(x, k8, N);
    int sums_ok = 1;
    for (int b = 0; b < N / QK_K; b++)
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += k8[b].qs[j * 16 + i];
            sums_ok &= s == k8[b].bsums[j];
        }
    CHECK(sums_ok, "q8_K bsums are the sums of 16 quants");
    dequantize_row(SLM_TYPE_Q8_K, k8, xd, N);
    float err = 0;
    for (int i = 0; i < N; i++) err = fmaxf(err, fabsf(xd[i] - x[i]));
    CHECK(err < 3.0f / 127, "q8_K activation error %g", err);
    /* the AVX2 quantisers give the scalar ones' bytes: random blocks, exact halves after
     * scaling (ties round to even), a negative extreme, ties for the extreme, zeros, NaN, inf */
    block_q8_0 *simd_0 = malloc((N / QK) * sizeof(block_q8_0)), *ref_0 = malloc((N / QK) * sizeof(block_q8_0));
    block_q8_K *simd_K = malloc((N / QK_K) * sizeof(block_q8_K)), *ref_K = malloc((N / QK_K) * sizeof(block_q8_K));
    for (int trial = 0; trial < 8; trial++) {
        for (int i = 0; i < N; i++) x[i] = (slm_rng_f32(&rng) * 2 - 1) * (1 + trial);
        if (trial == 1) /* block maxima of 127 make the scale 1 (or -1): x.5 values are ties */
            for (int i = 0; i < N; i++) x[i] = i % QK == 5 ? 127.0f : (float)((int)(x[i] * 40)) + 0.5f;
        if (trial == 2) x[7] = -50.0f, x[300] = -60.0f, x[301] = 60.0f; /* negative extreme; + and - tie */
        if (trial == 3) memset(x, 0, QK_K * sizeof(float));
        if (trial == 4) x[3] = NAN, x[QK_K + 40] = INFINITY, x[2 * QK_K + 64] = -INFINITY;
        kernels_force_scalar(true);
        quantize_act_q8_0(x, ref_0, N);
        quantize_act_q8_K(x, ref_K, N);
        kernels_force_scalar(false);
        quantize_act_q8_0(x, simd_0, N);
        quantize_act_q8_K(x, simd_K, N);
        CHECK(!memcmp(simd_0, ref_0, (N / QK) * sizeof(block_q8_0)), "q8_0 quantiser (%s) != scalar, trial %d",
              kernels_simd_name(), trial);
        CHECK(!memcmp(simd_K, ref_K, (N / QK_K) * sizeof(block_q8_K)), "q8_K quantiser (%s) != scalar, trial %d",
              kernels_simd_name(), trial);
    }
    free(simd_0); free(ref_0); free(simd_K); free(ref_K);
    free(x); free(tmp); free(wd); free(xd); free(out); free(row); free(act); free(scratch);
    return check_summary("test_qdot");
}
