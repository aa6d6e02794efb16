/* test_quants.c — src/tensor/quants.c: block sizes agree with the type table, round-trip errors
 * stay within each type's bound, zeros, constants, huge and tiny magnitudes come back as they
 * should. (Bit-exactness against the gguf package: tests/peers/test_quants.py.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "tensor/quants.h"

typedef struct {
    slm_type type;
    int block_elems, block_bytes;
    double max_error; /* relative RMS round-trip error on Gaussian data */
} quant_case;

/* Bounds a little above the measured errors (q8_0 0.54%, q4_0 8.5, q4_1 7.8, q5_0 4.2, q5_1 3.8,
 * q2_K 28.3, q3_K 15.0, q4_K 7.0, q5_K 3.5, q6_K 1.79, q8_K 0.70, iq4_nl 7.5, iq4_xs 7.7, bf16 0.17,
 * f16 0.021). */
static const quant_case CASES[] = {
    {SLM_TYPE_F32, 1, 4, 0},
    {SLM_TYPE_F16, 1, 2, 0.0003},
    {SLM_TYPE_BF16, 1, 2, 0.002},
    {SLM_TYPE_Q4_0, QK, sizeof(block_q4_0), 0.09},
    {SLM_TYPE_Q4_1, QK, sizeof(block_q4_1), 0.082},
    {SLM_TYPE_Q5_0, QK, sizeof(block_q5_0), 0.045},
    {SLM_TYPE_Q5_1, QK, sizeof(block_q5_1), 0.04},
    {SLM_TYPE_Q8_0, QK, sizeof(block_q8_0), 0.006},
    {SLM_TYPE_Q8_1, QK, sizeof(block_q8_1), 0.006},
    {SLM_TYPE_Q2_K, QK_K, sizeof(block_q2_K), 0.30},
    {SLM_TYPE_Q3_K, QK_K, sizeof(block_q3_K), 0.16},
    {SLM_TYPE_Q4_K, QK_K, sizeof(block_q4_K), 0.075},
    {SLM_TYPE_Q5_K, QK_K, sizeof(block_q5_K), 0.037},
    {SLM_TYPE_Q6_K, QK_K, sizeof(block_q6_K), 0.019},
    {SLM_TYPE_Q8_K, QK_K, sizeof(block_q8_K), 0.008},
    {SLM_TYPE_IQ4_NL, QK, sizeof(block_iq4_nl), 0.08},
    {SLM_TYPE_IQ4_XS, QK_K, sizeof(block_iq4_xs), 0.08},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

enum { N = 16 * QK_K }; /* elements per test row: a whole number of blocks of every type */

static uint8_t g_blocks[N * 4 + 64]; /* room for the largest encoding (f32) plus a canary */
static float g_x[N], g_y[N + 1];

static float gaussian(slm_rng *rng) {
    const float u = slm_rng_f32(rng) + 1.0f / 16777216, v = slm_rng_f32(rng); /* u in (0, 1] */
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static void fill_gaussian(float *x, int n, float sigma, uint64_t seed) {
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) x[i] = sigma * gaussian(&rng);
}

/* Quantises g_x to c's type and back into g_y (checking that dequantize writes exactly N
 * floats); returns the RMS error relative to the RMS of g_x. */
static double round_trip(const quant_case *c) {
    memset(g_blocks, 0xA5, sizeof g_blocks);
    g_y[N] = 12345.0f;
    quantize_row(c->type, g_x, g_blocks, N);
    const size_t bytes = (size_t)N / (size_t)c->block_elems * (size_t)c->block_bytes;
    CHECK(g_blocks[bytes] == 0xA5, "%s: quantize wrote past %zu bytes", slm_type_info(c->type)->name, bytes);
    dequantize_row(c->type, g_blocks, g_y, N);
    CHECK(g_y[N] == 12345.0f, "%s: dequantize wrote past %d floats", slm_type_info(c->type)->name, N);
    double err = 0, ref = 0;
    for (int i = 0; i < N; i++) {
        err += ((double)g_y[i] - g_x[i]) * ((double)g_y[i] - g_x[i]);
        ref += (double)g_x[i] * g_x[i];
    }
    return ref > 0 ? sqrt(err / ref) : sqrt(err);
}

static void test_block_sizes(void) {
    for (int k = 0; k < N_CASES; k++) {
        const quant_case *c = &CASES[k];
        const slm_type_traits *tr = slm_type_info(c->type);
        CHECK(quant_type_supported(c->type), "type %d supported", c->type);
        CHECK(tr->name != NULL, "type %d has a name", c->type);
        CHECK(tr->block_elems == c->block_elems && tr->block_bytes == c->block_bytes,
              "%s: table says %d elements in %d bytes, quants.h %d in %d", tr->name, tr->block_elems,
              tr->block_bytes, c->block_elems, c->block_bytes);
    }
    const slm_type unsupported[] = {SLM_TYPE_IQ2_XXS, SLM_TYPE_IQ3_S, SLM_TYPE_I8, SLM_TYPE_F64, SLM_TYPE_TQ1_0};
    for (size_t k = 0; k < sizeof unsupported / sizeof unsupported[0]; k++)
        CHECK(!quant_type_supported(unsupported[k]), "type %d is not supported", unsupported[k]);
}

static void test_gaussian_errors(void) {
    /* unit scale, then large and small magnitudes that the half-precision scales still hold */
    const float sigmas[] = {1.0f, 1000.0f, 0.01f};
    for (int k = 0; k < N_CASES; k++) {
        const quant_case *c = &CASES[k];
        for (int s = 0; s < 3; s++) {
            fill_gaussian(g_x, N, sigmas[s], 100 + (uint64_t)k);
            const double err = round_trip(c);
            if (s == 0) printf("  %-5s round-trip error %.4f%%\n", slm_type_info(c->type)->name, 100 * err);
            CHECK(err <= c->max_error * (s == 2 ? 1.1 : 1.0), "%s sigma %g: error %.4f%% > %.4f%%",
                  slm_type_info(c->type)->name, sigmas[s], 100 * err, 100 * c->max_error);
        }
    }
}

/* Sub-block scales of the K-quants and q8_K's float d keep their precision even where the
 * values are too small for q8_0's half d to be a normal number. */
static void test_tiny_magnitudes(void) {
    for (int k = 0; k < N_CASES; k++) {
        const quant_case *c = &CASES[k];
        if (c->block_elems != QK_K) continue;
        fill_gaussian(g_x, N, 1e-4f, 200 + (uint64_t)k);
        const double err = round_trip(c);
        CHECK(err <= c->max_error * 1.1, "%s sigma 1e-4: error %.4f%%", slm_type_info(c->type)->name, 100 * err);
    }
    /* below every half: finite results no larger than the input (zeros, where d underflows) */
    for (int k = 0; k < N_CASES; k++) {
        const quant_case *c = &CASES[k];
        fill_gaussian(g_x, N, 1e-30f, 300 + (uint64_t)k);
        float xmax = 0;
        for (int i = 0; i < N; i++) xmax = fmaxf(xmax, fabsf(g_x[i]));
        const double err = round_trip(c);
        int bad = 0;
        for (int i = 0; i < N; i++) bad += !isfinite(g_y[i]) || fabsf(g_y[i]) > xmax * 1.01f;
        CHECK(bad == 0, "%s sigma 1e-30: %d values non-finite or too large", slm_type_info(c->type)->name, bad);
        if (c->type == SLM_TYPE_Q8_K || c->type == SLM_TYPE_F32 || c->type == SLM_TYPE_BF16)
            CHECK(err <= c->max_error, "%s sigma 1e-30: error %.4f%%", slm_type_info(c->type)->name, 100 * err);
    }
    /* huge values: only the float-scaled types keep them; the others must not misbehave */
    for (int k = 0; k < N_CASES; k++) {
        const quant_case *c = &CASES[k];
        fill_gaussian(g_x, N, 1e30f, 400 + (uint64_t)k);
        const double err = round_trip(c);
        if (c->type == SLM_TYPE_Q8_K || c->type == SLM_TYPE_F32 || c->type == SLM_TYPE_BF16)
            CHECK(err <= c->max_error, "%s sigma 1e30: error %.4f%%", slm_type_info(c->type)->name, 100 * err);
    }
}

static void test_zeros_and_constants(void) {
    for (int k = 0; k < N_CASES; k++) {
        const quant_case *c = &CASES[k];
        const char *name = slm_type_info(c->type)->name;
        memset(g_x, 0, sizeof g_x);
        round_trip(c);
        int nonzero = 0;
        for (int i = 0; i < N; i++) nonzero += g_y[i] != 0;
        CHECK(nonzero == 0, "%s: %d zeros came back non-zero", name, nonzero);

        /* within a few half ulps; 1e-3 needs subnormal half scales, which are coarser */
        const float constants[] = {0.7f, -3.25f, 250.0f, 1e-3f}, tolerance[] = {2e-3f, 2e-3f, 2e-3f, 1e-2f};
        for (int j = 0; j < 4; j++) {
            for (int i = 0; i < N; i++) g_x[i] = constants[j];
            round_trip(c);
            float worst = 0;
            for (int i = 0; i < N; i++) worst = fmaxf(worst, fabsf(g_y[i] - g_x[i]));
            CHECK(worst <= tolerance[j] * fabsf(constants[j]), "%s: constant %g comes back %g off", name,
                  constants[j], worst);
        }
    }
}

/* A spike among small values: the spike survives, the rest stay small. */
static void test_outlier(void) {
    for (int k = 0; k < N_CASES; k++) {
        const quant_case *c = &CASES[k];
        fill_gaussian(g_x, N, 0.01f, 500 + (uint64_t)k);
        g_x[77] = 40.0f;
        round_trip(c);
        CHECK(fabsf(g_y[77] - 40.0f) <= 0.3f, "%s: spike 40 came back %g", slm_type_info(c->type)->name, g_y[77]);
        float worst = 0;
        for (int i = 0; i < N; i++)
            if (i != 77) worst = fmaxf(worst, fabsf(g_y[i] - g_x[i]));
        CHECK(worst <= 40.0f / 3, "%s: the spike's neighbours are %g off", slm_type_info(c->type)->name, worst);
    }
}

/* The layout of q4_0 by hand: element j in the low nibble of qs[j], j + 16 in the high one. */
static void test_q4_0_layout(void) {
    block_q4_0 b;
    b.d = slm_f32_to_f16(0.5f);
    for (int j = 0; j < QK / 2; j++) b.qs[j] = (uint8_t)((j % 16) | ((15 - j % 16) << 4));
    float y[QK];
    dequantize_row(SLM_TYPE_Q4_0, &b, y, QK);
    int bad = 0;
    for (int j = 0; j < QK / 2; j++) bad += y[j] != 0.5f * (float)(j - 8) || y[j + 16] != 0.5f * (float)(7 - j);
    CHECK(bad == 0, "q4_0 layout: %d elements wrong", bad);
}

/* The layout of iq4_xs by hand: sub-block s has scale ls = s + 8 * (s % 4) (low 4 bits in nibble
 * s % 2 of scales_l[s / 2], high 2 bits in bits 2s, 2s + 1 of scales_h), and its element j (< 16)
 * in the low nibble of qs[16s + j], j + 16 in the high one; x = d (ls - 32) kvalues[q]. */
static void test_iq4_xs_layout(void) {
    block_iq4_xs b;
    memset(&b, 0, sizeof b);
    b.d = slm_f32_to_f16(0.25f);
    for (int s = 0; s < 8; s++) {
        const int ls = s + 8 * (s % 4);
        b.scales_l[s / 2] |= (uint8_t)((ls & 0xF) << (4 * (s % 2)));
        b.scales_h |= (uint16_t)((ls >> 4) << (2 * s));
        for (int j = 0; j < 16; j++) b.qs[16 * s + j] = (uint8_t)(((j + s) % 16) | ((15 - j) << 4));
    }
    float y[QK_K];
    dequantize_row(SLM_TYPE_IQ4_XS, &b, y, QK_K);
    int bad = 0;
    for (int s = 0; s < 8; s++) {
        const float dl = 0.25f * (float)(s + 8 * (s % 4) - 32);
        for (int j = 0; j < 16; j++) {
            bad += y[32 * s + j] != dl * (float)IQ4_KVALUES[(j + s) % 16];
            bad += y[32 * s + 16 + j] != dl * (float)IQ4_KVALUES[15 - j];
        }
    }
    CHECK(bad == 0, "iq4_xs layout: %d elements wrong", bad);
    CHECK(IQ4_KVALUES[0] == -127 && IQ4_KVALUES[8] == 1 && IQ4_KVALUES[15] == 113, "iq4 table");
}

static void test_q8_K_sums(void) {
    fill_gaussian(g_x, N, 3.0f, 600);
    block_q8_K *b = (block_q8_K *)g_blocks;
    quantize_row_q8_K(g_x, b, N);
    int bad_sums = 0, bad_range = 0, bad_err = 0;
    for (int i = 0; i < N / QK_K; i++) {
        float amax = 0;
        for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(g_x[i * QK_K + j]));
        CHECK(b[i].d == amax / 127, "q8_K block %d: d %g, amax / 127 %g", i, b[i].d, amax / 127);
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += b[i].qs[16 * g + j];
            bad_sums += sum != b[i].bsums[g];
        }
        for (int j = 0; j < QK_K; j++) {
            bad_range += b[i].qs[j] < -127;
            bad_err += fabsf(b[i].d * (float)b[i].qs[j] - g_x[i * QK_K + j]) > 0.5001f * b[i].d;
        }
    }
    CHECK(bad_sums == 0, "q8_K: %d bsums differ from the sums of their quants", bad_sums);
    CHECK(bad_range == 0, "q8_K: %d quants are -128", bad_range);
    CHECK(bad_err == 0, "q8_K: %d quants are more than half a step off", bad_err);
}

static void test_q8_1_sum(void) {
    fill_gaussian(g_x, N, 1.0f, 700);
    block_q8_1 *b = (block_q8_1 *)g_blocks;
    quantize_row(SLM_TYPE_Q8_1, g_x, b, N);
    int bad = 0;
    for (int i = 0; i < N / QK; i++) {
        int sum = 0;
        float amax = 0;
        for (int j = 0; j < QK; j++) {
            sum += b[i].qs[j];
            amax = fmaxf(amax, fabsf(g_x[i * QK + j]));
        }
        bad += b[i].s != slm_f32_to_f16((float)sum * (amax / 127));
    }
    CHECK(bad == 0, "q8_1: %d blocks with s != d * sum(q)", bad);
}

/* Values a half (or bfloat16) holds exactly come back unchanged. */
static void test_f16_bf16_exact(void) {
    slm_rng rng;
    slm_rng_seed(&rng, 800);
    for (int i = 0; i < N; i++) g_x[i] = slm_f16_to_f32((uint16_t)(slm_rng_u64(&rng) % 0x7C00));
    round_trip(&CASES[1]);
    CHECK(memcmp(g_x, g_y, sizeof g_x) == 0, "f16 values do not round-trip");
    for (int i = 0; i < N; i++) g_x[i] = slm_bf16_to_f32((uint16_t)(slm_rng_u64(&rng) % 0x7F80));
    round_trip(&CASES[2]);
    CHECK(memcmp(g_x, g_y, sizeof g_x) == 0, "bf16 values do not round-trip");
}

int main(void) {
    test_block_sizes();
    test_gaussian_errors();
    test_tiny_magnitudes();
    test_zeros_and_constants();
    test_outlier();
    test_q4_0_layout();
    test_iq4_xs_layout();
    test_q8_K_sums();
    test_q8_1_sum();
    test_f16_bf16_exact();
    return check_summary("test_quants");
}
