/* kernel_speed.c — the speed of slm's matmul kernels per weight type, without a model: a
 * random (rows x cols) matrix of the type (96 MiB or more, so that one product streams it from
 * memory as decoding does) times 1 input (decoding: GB/s of weights read) and times a batch of
 * inputs (prompts: GMAC/s). Prints the kernel set in use; SLM_NO_AVX512=1 / SLM_NO_SIMD=1 pick
 * the others.
 * usage: kernel_speed [threads] [type ...]   (defaults: 1 thread; every quantised type)
 * KERNEL_SPEED_COLS=N sets the row length (default 1536, a multiple of 256); KERNEL_SPEED_BATCH=N
 * the inputs of the batch timing (default 64; a 512-token prompt is 512). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "kernels/kernels.h"
#include "kernels/qdot.h"
#include "slm.h"
#include "tensor/quants.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *DEFAULT_TYPES[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K",
                                      "q5_K", "q6_K", "iq4_nl", "iq4_xs", "f16", "bf16", "f32"};

static int type_by_name(const char *name) {
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_type_traits *tr = slm_type_info((uint32_t)t);
        if (tr->name && !strcmp(tr->name, name)) return t;
    }
    return -1;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "usage: kernel_speed [threads] [type ...]\n");
        return 2;
    }
    slm_set_threads(threads);
    const char **names = DEFAULT_TYPES;
    int n_names = (int)(sizeof DEFAULT_TYPES / sizeof DEFAULT_TYPES[0]);
    if (argc > 2) names = (const char **)argv + 2, n_names = argc - 2;
    const char *batch_env = getenv("KERNEL_SPEED_BATCH"); /* inputs of the batch timing (default 64) */
    const int BATCH = batch_env ? atoi(batch_env) : 64;
    if (BATCH < 1 || BATCH > 4096) {
        fprintf(stderr, "KERNEL_SPEED_BATCH must be 1 to 4096\n");
        return 2;
    }
    const char *cols_env = getenv("KERNEL_SPEED_COLS"); /* a row length to try (default 1536) */
    const int COLS = cols_env ? atoi(cols_env) : 1536;
    if (COLS <= 0 || COLS % 256) {
        fprintf(stderr, "KERNEL_SPEED_COLS must be a positive multiple of 256\n");
        return 2;
    }
    printf("kernels: %s, threads %d, cols %d, batch %d\n", kernels_simd_name(), threads, COLS, BATCH);
    printf("%-8s %8s %10s %12s %14s\n", "type", "rows", "MiB", "decode GB/s", "batch GMAC/s");
    slm_rng rng;
    slm_rng_seed(&rng, 7);
    float *x = malloc((size_t)BATCH * COLS * sizeof(float)), *tmp = malloc(COLS * sizeof(float));
    for (int i = 0; i < BATCH * COLS; i++) x[i] = slm_rng_f32(&rng) * 2 - 1;
    void *scratch = malloc(matmul_scratch_bytes(BATCH, COLS));
    for (int k = 0; k < n_names; k++) {
        int t = type_by_name(names[k]);
        uint64_t row_bytes;
        if (t < 0 || !kernels_type_supported((slm_type)t) || !quant_type_supported((slm_type)t) ||
            !slm_type_row_bytes((slm_type)t, COLS, &row_bytes)) {
            printf("%-8s (not supported)\n", names[k]);
            continue;
        }
        const int64_t rows = (int64_t)(96.0 * 1024 * 1024 / (double)row_bytes) / 64 * 64;
        uint8_t *w = malloc((size_t)rows * row_bytes);
        for (int64_t r = 0; r < rows; r++) {
            if (r < 64) {
                for (int i = 0; i < COLS; i++) tmp[i] = (slm_rng_f32(&rng) * 2 - 1) * (1 + i % 5);
                quantize_row((slm_type)t, tmp, w + (size_t)r * row_bytes, COLS);
            } else memcpy(w + (size_t)r * row_bytes, w + (size_t)(r % 64) * row_bytes, row_bytes);
        }
        slm_tensor tw = {.name = "w", .type = (slm_type)t, .n_dims = 2, .ne = {COLS, rows, 1, 1}, .data = w,
                         .row_bytes = row_bytes};
        float *out = malloc((size_t)rows * BATCH * sizeof(float));
        matmul_job job = {out, (int)rows, &tw, NULL};
        double best1 = 1e30, bestb = 1e30;
        for (int pass = 0; pass < 12; pass++) {
            double t0 = now();
            matmul_multi(&job, 1, x, 1, COLS, scratch);
            double dt = now() - t0;
            if (dt < best1) best1 = dt;
        }
        const int64_t batch_rows = rows < 8192 ? rows : 8192; /* the batch timing on a part */
        slm_tensor tb = tw;
        tb.ne[1] = batch_rows;
        matmul_job jb = {out, (int)batch_rows, &tb, NULL};
        for (int pass = 0; pass < 3; pass++) {
            double t0 = now();
            matmul_multi(&jb, 1, x, BATCH, COLS, scratch);
            double dt = now() - t0;
            if (dt < bestb) bestb = dt;
        }
        printf("%-8s %8lld %10.1f %12.2f %14.2f\n", names[k], (long long)rows, (double)rows * row_bytes / 1048576.0,
               (double)rows * row_bytes / best1 / 1e9, (double)batch_rows * COLS * BATCH / bestb / 1e9);
        fflush(stdout);
        free(out);
        free(w);
    }
    free(x);
    free(tmp);
    free(scratch);
    return 0;
}
