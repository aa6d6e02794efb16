/* train_step.c — bench tool for bench_train.py: times slm training steps (forward + backward +
 * AdamW through the public slm_trainer API) on random tokens after warm-up, or (--sgemm N)
 * measures the machine's cblas_sgemm GFLOP/s on N x N x N products.
 * usage: train_step --dim C --layers L --heads H --ff F --vocab V --seq T --batch B [--tied]
 *                   [--threads N] [--warmup W] [--steps S]  |  train_step --sgemm N --threads N */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"

static int sgemm_probe(int n, int threads, int reps) {
    openblas_set_num_threads(threads);
    float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
          *c = malloc((size_t)n * n * sizeof *c);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        const double t0 = slm_time_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        const double dt = slm_time_seconds() - t0;
        if (r > 0 && dt < best) best = dt; /* the first is warm-up */
    }
    printf("sgemm n=%d threads=%d gflops=%.2f\n", n, threads, 2.0 * n * n * (double)n / best / 1e9);
    free(a), free(b), free(c);
    return 0;
}

int main(int argc, char **argv) {
    slm_model_config mc = {.n_vocab = 32000, .n_embd = 288, .n_layer = 6, .n_head = 6, .n_ff = 768, .seed = 1};
    slm_train_params p = slm_train_defaults();
    p.batch = 4;
    p.seq_len = 256;
    int threads = 1, warmup = 2, steps = 5, sgemm = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--tied") == 0) {
            mc.tied_output = 1;
            continue;
        }
        if (i + 1 >= argc) return fprintf(stderr, "error: %s needs a value\n", a), 2;
        const int v = atoi(argv[++i]);
        if (strcmp(a, "--dim") == 0) mc.n_embd = v;
        else if (strcmp(a, "--layers") == 0) mc.n_layer = v;
        else if (strcmp(a, "--heads") == 0) mc.n_head = v;
        else if (strcmp(a, "--kv-heads") == 0) mc.n_head_kv = v;
        else if (strcmp(a, "--ff") == 0) mc.n_ff = v;
        else if (strcmp(a, "--vocab") == 0) mc.n_vocab = v;
        else if (strcmp(a, "--seq") == 0) p.seq_len = v;
        else if (strcmp(a, "--batch") == 0) p.batch = v;
        else if (strcmp(a, "--threads") == 0) threads = v;
        else if (strcmp(a, "--warmup") == 0) warmup = v;
        else if (strcmp(a, "--steps") == 0) steps = v;
        else if (strcmp(a, "--sgemm") == 0) sgemm = v;
        else return fprintf(stderr, "error: unknown option %s\n", a), 2;
    }
    if (slm_set_threads(threads) != SLM_OK) return fprintf(stderr, "error: %s\n", slm_last_error()), 1;
    if (sgemm) return sgemm_probe(sgemm, threads, 3);
    slm_trainer *t;
    if (slm_trainer_new(&mc, &p, &t) != SLM_OK) return fprintf(stderr, "error: %s\n", slm_last_error()), 1;
    const size_t n = (size_t)p.batch * p.seq_len;
    int32_t *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt);
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((s >> 33) % (uint64_t)mc.n_vocab);
    }
    for (size_t i = 0; i < n; i++) tgt[i] = tok[(i + 1) % n];
    double t0 = 0, loss = 0;
    for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) t0 = slm_time_seconds();
        slm_train_stats st;
        if (slm_trainer_step(t, tok, tgt, &st) != SLM_OK) return fprintf(stderr, "error: %s\n", slm_last_error()), 1;
        loss = st.loss;
    }
    const double dt = (slm_time_seconds() - t0) / steps;
    printf("params=%lld tokens_per_step=%zu step_s=%.4f tokens_per_s=%.1f loss=%.4f\n",
           (long long)slm_trainer_n_params(t), n, dt, (double)n / dt, loss);
    slm_trainer_free(t);
    free(tok), free(tgt);
    return 0;
}
