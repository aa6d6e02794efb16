/* train_dump.c — test tool: loads a model into an slm_trainer and (1) dumps the loss and every
 * parameter gradient of the first batch as raw f32 files named after the GGUF tensors,
 * (2) runs optimiser steps printing "step N loss L norm G lr R", (3) prints the eval loss of
 * the first batch and saves the trained model. DATA holds int32 tokens then as many targets;
 * each step takes the next accum * batch * seq of each.
 * usage: train_dump MODEL --data FILE --batch B --seq T [--accum A] [--grads DIR] [--steps N]
 *        [--eval] [--save OUT] [--lr X] [--min-lr X] [--warmup N] [--total N] [--wd X]
 *        [--clip X] [--beta2 X] [--decay-embd] [--threads N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"
#include "train/train.h"

static int fail(void) {
    fprintf(stderr, "error: %s\n", slm_last_error());
    return 1;
}

static int32_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t *data = malloc(bytes > 0 ? (size_t)bytes : 1);
    *n = data && fread(data, 1, (size_t)bytes, f) == (size_t)bytes ? (size_t)bytes / 4 : 0;
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *data_path = NULL, *grads_dir = NULL, *save_path = NULL;
    int steps = 0, eval = 0, threads = 0;
    slm_train_params p = slm_train_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--decay-embd") == 0) p.decay_embeddings = 1;
        else if (strcmp(a, "--eval") == 0) eval = 1;
        else if (a[0] == '-' && !v) {
            fprintf(stderr, "%s needs a value\n", a);
            return 2;
        } else if (strcmp(a, "--data") == 0) data_path = argv[++i];
        else if (strcmp(a, "--grads") == 0) grads_dir = argv[++i];
        else if (strcmp(a, "--save") == 0) save_path = argv[++i];
        else if (strcmp(a, "--batch") == 0) p.batch = atoi(argv[++i]);
        else if (strcmp(a, "--seq") == 0) p.seq_len = atoi(argv[++i]);
        else if (strcmp(a, "--accum") == 0) p.grad_accum = atoi(argv[++i]);
        else if (strcmp(a, "--steps") == 0) steps = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0) threads = atoi(argv[++i]);
        else if (strcmp(a, "--lr") == 0) p.lr = strtof(argv[++i], NULL);
        else if (strcmp(a, "--min-lr") == 0) p.min_lr = strtof(argv[++i], NULL);
        else if (strcmp(a, "--warmup") == 0) p.warmup_steps = atoi(argv[++i]);
        else if (strcmp(a, "--total") == 0) p.total_steps = atoi(argv[++i]);
        else if (strcmp(a, "--wd") == 0) p.weight_decay = strtof(argv[++i], NULL);
        else if (strcmp(a, "--clip") == 0) p.grad_clip = strtof(argv[++i], NULL);
        else if (strcmp(a, "--beta2") == 0) p.beta2 = strtof(argv[++i], NULL);
        else if (!model_path && a[0] != '-') model_path = a;
        else {
            fprintf(stderr, "unknown argument %s\n", a);
            return 2;
        }
    }
    if (!model_path || !data_path) {
        fprintf(stderr, "usage: train_dump MODEL --data FILE --batch B --seq T [options]\n");
        return 2;
    }
    if (threads > 0) slm_set_threads(threads);
    size_t n_data;
    int32_t *data = read_all(data_path, &n_data);
    const size_t per_step = (size_t)p.grad_accum * p.batch * p.seq_len;
    if (!data || n_data < 2 * per_step || n_data % 2) {
        fprintf(stderr, "%s: cannot read a batch of %zu tokens and targets\n", data_path, per_step);
        return 1;
    }
    const int32_t *tokens = data, *targets = data + n_data / 2;
    const size_t n_batches = n_data / 2 / per_step;
    slm_trainer *t;
    if (slm_trainer_load(model_path, &p, &t) != SLM_OK) return fail();
    if (grads_dir) {
        float loss;
        if (trainer_compute_grads(t, tokens, targets, &loss) != SLM_OK) return fail();
        printf("loss %.9g\n", loss);
        for (int i = 0; i < trainer_n_tensors(t); i++) {
            trainer_tensor tt;
            trainer_get_tensor(t, i, &tt);
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.f32", grads_dir, tt.name);
            FILE *f = fopen(path, "wb");
            const size_t n = (size_t)tt.cols * (size_t)(tt.rows ? tt.rows : 1);
            if (!f || fwrite(tt.grad, sizeof(float), n, f) != n) {
                fprintf(stderr, "cannot write %s\n", path);
                return 1;
            }
            fclose(f);
        }
    }
    for (int s = 0; s < steps; s++) {
        slm_train_stats st;
        const size_t off = (size_t)s % n_batches * per_step;
        if (slm_trainer_step(t, tokens + off, targets + off, &st) != SLM_OK) return fail();
        printf("step %d loss %.9g norm %.9g lr %.9g\n", st.step, st.loss, st.grad_norm, st.lr);
    }
    if (eval) {
        float loss;
        if (slm_trainer_eval(t, tokens, targets, p.batch * p.grad_accum, &loss) != SLM_OK) return fail();
        printf("eval %.9g\n", loss);
    }
    if (save_path && slm_trainer_save(t, save_path, NULL) != SLM_OK) return fail();
    slm_trainer_free(t);
    free(data);
    return 0;
}
