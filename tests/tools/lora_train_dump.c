/* lora_train_dump.c — test tool for the LoRA decoder engine: loads a decoder GGUF (any
 * quantisation) as the frozen base, builds adapters (rank, alpha, targets) and a K-class head
 * from seed with every adapter's B and the head drawn at random (so that every trainable has a
 * gradient), runs one batch and writes the initial trainables and their gradients (the engine's
 * buffers: per layer and target A (r, IC), B (OC, r); then cls.weight (K, C), cls.bias (K)) as
 * raw f32, then takes optimiser steps on the same batch printing "step N loss L".
 * BATCH is int32: B, T, K, tokens (B*T), lens (B), labels (B), then K f32 class weights.
 * usage: lora_train_dump MODEL BATCH PARAMS_OUT GRADS_OUT RANK ALPHA TARGETS STEPS LR WD CLIP */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "slm.h"
#include "train/decoder_train.h"

static int fail(void) {
    fprintf(stderr, "error: %s\n", slm_last_error());
    return 1;
}

static int write_floats(const char *path, const float *a, size_t n) {
    FILE *f = fopen(path, "wb");
    const int ok = f && fwrite(a, sizeof(float), n, f) == n;
    if (f) fclose(f);
    if (!ok) fprintf(stderr, "error: cannot write %s\n", path);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 12) {
        fprintf(stderr, "usage: lora_train_dump MODEL BATCH PARAMS_OUT GRADS_OUT RANK ALPHA TARGETS STEPS LR WD CLIP\n");
        return 2;
    }
    const int rank = atoi(argv[5]), steps = atoi(argv[8]);
    const float alpha = (float)atof(argv[6]), lr = (float)atof(argv[9]), wd = (float)atof(argv[10]),
                clip = (float)atof(argv[11]);
    FILE *bf = fopen(argv[2], "rb");
    if (!bf) return fprintf(stderr, "error: cannot open %s\n", argv[2]), 1;
    int32_t head[3];
    if (fread(head, 4, 3, bf) != 3) return fprintf(stderr, "error: short batch file\n"), 1;
    const int B = head[0], T = head[1], K = head[2];
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)B * T), *labels = malloc(sizeof(int32_t) * (size_t)B);
    int32_t *lens32 = malloc(sizeof(int32_t) * (size_t)B);
    int *lens = malloc(sizeof(int) * (size_t)B);
    float *w = malloc(sizeof(float) * (size_t)K);
    if (fread(tokens, 4, (size_t)B * T, bf) != (size_t)B * T || fread(lens32, 4, (size_t)B, bf) != (size_t)B ||
        fread(labels, 4, (size_t)B, bf) != (size_t)B || fread(w, 4, (size_t)K, bf) != (size_t)K)
        return fprintf(stderr, "error: short batch file\n"), 1;
    fclose(bf);
    for (int b = 0; b < B; b++) lens[b] = lens32[b];
    slm_set_threads(2);

    slm_model *base;
    decoder_config cfg;
    if (slm_model_load(argv[1], NULL, &base) != SLM_OK || decoder_config_from_model(base, &cfg) != SLM_OK) return fail();
    cfg.K = K;
    cfg.rank = rank;
    cfg.alpha = alpha;
    if (decoder_parse_targets(argv[7], &cfg.targets) != SLM_OK) return fail();
    decoder_model m;
    if (decoder_model_alloc(&m, &cfg, B, T, 1) != SLM_OK || decoder_load_base(&m, base) != SLM_OK) return fail();
    decoder_init_trainables(&m, 5);
    slm_rng rng;
    slm_rng_seed(&rng, 17);
    for (int i = 0; i < cfg.L * LT_COUNT; i++) {
        if (!m.lora_b[i]) continue;
        int ic, oc;
        decoder_target_dims(&cfg, i % LT_COUNT, &ic, &oc);
        for (size_t j = 0; j < (size_t)oc * rank; j++) m.lora_b[i][j] = 0.2f * slm_rng_normal(&rng);
    }
    for (size_t j = 0; j < (size_t)K * cfg.C + (size_t)K; j++) m.head_w[j] = 0.1f * slm_rng_normal(&rng); /* and head_b */

    if (!write_floats(argv[3], m.params_mem, m.n_params)) return 1;
    memset(m.grads_mem, 0, m.n_params * sizeof(float));
    const float loss = decoder_forward(&m, tokens, lens, labels, w, B, T);
    decoder_backward(&m, lens, labels, w, B, T, 1.0f);
    printf("loss %.9g\n", loss);
    if (!write_floats(argv[4], m.grads_mem, m.n_params)) return 1;
    for (int s = 1; s <= steps; s++) {
        float norm;
        const float l = decoder_train_step(&m, tokens, lens, labels, w, B, T, lr, wd, clip, s, &norm);
        printf("step %d loss %.9g norm %.9g\n", s, l, norm);
    }
    decoder_model_free(&m);
    slm_model_free(base);
    free(tokens), free(labels), free(lens), free(lens32), free(w);
    return 0;
}
