/* bert_train_dump.c — test tool for the BERT training engine: loads a BERT classifier GGUF
 * (encoder + cls.weight/cls.bias), runs one batch, writes the loss and every parameter
 * gradient (the engine's buffer in BP_* order) as raw f32, then takes optimiser steps on the
 * same batch printing "step N loss L". BATCH is int32: B, T, K, has_weights, tokens (B*T),
 * lens (B), labels (B; B*T with HEAD 3), then K f32 class weights when has_weights.
 * usage: bert_train_dump MODEL BATCH GRADS_OUT STEPS LR WD CLIP [HEAD(1 mean|2 cls|3 per token)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/gguf.h"
#include "slm.h"
#include "train/bert_train.h"

static int fail(void) {
    fprintf(stderr, "error: %s\n", slm_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: bert_train_dump MODEL BATCH GRADS_OUT STEPS LR WD CLIP [POOLING]\n");
        return 2;
    }
    const int steps = atoi(argv[4]);
    const float lr = (float)atof(argv[5]), wd = (float)atof(argv[6]), clip = (float)atof(argv[7]);
    FILE *bf = fopen(argv[2], "rb");
    if (!bf) return fprintf(stderr, "error: cannot open %s\n", argv[2]), 1;
    int32_t head[4];
    if (fread(head, 4, 4, bf) != 4) return fprintf(stderr, "error: short batch file\n"), 1;
    const int B = head[0], T = head[1], K = head[2];
    const int per_token = argc > 8 && atoi(argv[8]) == 3;
    const size_t n_labels = per_token ? (size_t)B * T : (size_t)B;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)B * T), *labels = malloc(sizeof(int32_t) * n_labels);
    int *lens = malloc(sizeof(int) * (size_t)B);
    float *w = head[3] ? malloc(sizeof(float) * (size_t)K) : NULL;
    int32_t *lens32 = malloc(sizeof(int32_t) * (size_t)B);
    if (fread(tokens, 4, (size_t)B * T, bf) != (size_t)B * T || fread(lens32, 4, (size_t)B, bf) != (size_t)B ||
        fread(labels, 4, n_labels, bf) != n_labels || (w && fread(w, 4, (size_t)K, bf) != (size_t)K))
        return fprintf(stderr, "error: short batch file\n"), 1;
    fclose(bf);
    for (int b = 0; b < B; b++) lens[b] = lens32[b];

    gguf_file f;
    if (gguf_open(argv[1], &f) != SLM_OK) return fail();
    bert_config cfg;
    if (bert_config_from_gguf(argv[1], &f, &cfg) != SLM_OK) return fail();
    cfg.K = K;
    if (per_token) cfg.per_token = 1;
    else if (argc > 8) cfg.pooling = atoi(argv[8]);
    bert_model m;
    if (bert_model_alloc(&m, &cfg, B, T, 1) != SLM_OK || bert_load_weights(&m, argv[1], &f, 1) != SLM_OK)
        return fail();
    gguf_close(&f);
    slm_set_threads(2);

    memset(m.grads_mem, 0, m.n_params * sizeof(float));
    const float loss = bert_forward(&m, tokens, lens, labels, w, B, T);
    bert_backward(&m, tokens, lens, labels, w, B, T, 1.0f);
    printf("loss %.9g\n", loss);
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(m.grads_mem, sizeof(float), m.n_params, out) != m.n_params)
        return fprintf(stderr, "error: cannot write %s\n", argv[3]), 1;
    fclose(out);
    for (int s = 1; s <= steps; s++) {
        float norm;
        const float l = bert_train_step(&m, tokens, lens, labels, w, B, T, lr, wd, clip, s, &norm);
        printf("step %d loss %.9g norm %.9g\n", s, l, norm);
    }
    bert_model_free(&m);
    free(tokens), free(labels), free(lens), free(lens32), free(w);
    return 0;
}
