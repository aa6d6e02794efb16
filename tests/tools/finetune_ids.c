/* finetune_ids.c — test tool: drives the fine-tuning loop (finetune_run) on texts tokenised
 * elsewhere (e.g. by the `tokenizers` package), and scores a classifier GGUF on such a file.
 * An ids file is int32: n, max_len, then per example: label, len, len ids.
 * usage: finetune_ids train BASE TRAIN DEV|- OUT [--epochs N] [--lr X] [--batch N] [--warmup X]
 *                     [--wd X] [--pooling 0|1|2] [--class-weights] [--patience N] [--seed N] [-t N]
 *        finetune_ids eval MODEL TEST [-t N]       prints "accuracy A macro_f1 F n N" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/gguf.h"
#include "slm.h"
#include "train/bert_train.h"
#include "train/finetune.h"

static int fail(void) {
    fprintf(stderr, "error: %s\n", slm_last_error());
    return 1;
}

static int read_ids(const char *path, ft_examples *ex) {
    FILE *f = fopen(path, "rb");
    int32_t head[2];
    if (!f || fread(head, 4, 2, f) != 2) return fprintf(stderr, "error: cannot read %s\n", path), 1;
    ex->n = (size_t)head[0];
    ex->max_len = head[1];
    ex->ids = calloc(ex->n * (size_t)ex->max_len, sizeof(int32_t));
    ex->lens = malloc(sizeof(int) * ex->n);
    ex->labels = malloc(sizeof(int32_t) * ex->n);
    for (size_t i = 0; i < ex->n; i++) {
        int32_t lab_len[2];
        if (fread(lab_len, 4, 2, f) != 2 || lab_len[1] < 1 || lab_len[1] > ex->max_len ||
            fread(ex->ids + i * (size_t)ex->max_len, 4, (size_t)lab_len[1], f) != (size_t)lab_len[1])
            return fprintf(stderr, "error: %s: bad example %zu\n", path, i), 1;
        ex->labels[i] = lab_len[0];
        ex->lens[i] = lab_len[1];
    }
    fclose(f);
    return 0;
}

static void show(const slm_finetune_progress *p, void *user) {
    (void)user;
    if (p->epoch_end)
        printf("epoch %d/%d step %d loss %.4f %.1f ex/s elapsed %.0fs dev acc %.4f f1 %.4f%s\n", p->epoch, p->n_epochs,
               p->step, p->loss, p->examples_per_s, p->elapsed_s, p->dev_accuracy, p->dev_macro_f1,
               p->improved ? " *" : "");
    else if (p->step % 50 == 0)
        printf("  step %d/%d loss %.4f lr %.2e %.1f ex/s eta %.0fs\n", p->step, p->n_steps, p->loss, p->lr,
               p->examples_per_s, p->eta_s);
    fflush(stdout);
}

static int eval(const char *model_path, const char *test_path, int threads) {
    ft_examples ex = {0};
    if (read_ids(test_path, &ex)) return 1;
    gguf_file f;
    if (gguf_open(model_path, &f) != SLM_OK) return fail();
    bert_config cfg;
    if (bert_config_from_gguf(model_path, &f, &cfg) != SLM_OK) return fail();
    const gguf_tensor *cls = gguf_find_tensor(&f, "cls.weight");
    if (!cls) return fprintf(stderr, "error: no cls.weight\n"), 1;
    cfg.K = (int)cls->ne[1];
    bert_model m;
    const int B = 64;
    if (bert_model_alloc(&m, &cfg, B, ex.max_len, 0) != SLM_OK || bert_load_weights(&m, model_path, &f, 1) != SLM_OK)
        return fail();
    slm_set_threads(threads);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)B * ex.max_len);
    int lens[64];
    int64_t *conf = calloc((size_t)cfg.K * cfg.K, sizeof(int64_t));
    const double t0 = slm_time_seconds();
    for (size_t s = 0; s < ex.n; s += B) {
        const int Bu = ex.n - s < (size_t)B ? (int)(ex.n - s) : B;
        int T = 1;
        for (int b = 0; b < Bu; b++) T = ex.lens[s + b] > T ? ex.lens[s + b] : T;
        for (int b = 0; b < Bu; b++) {
            memcpy(tokens + (size_t)b * T, ex.ids + (s + b) * (size_t)ex.max_len, sizeof(int32_t) * (size_t)T);
            lens[b] = ex.lens[s + b];
        }
        bert_forward(&m, tokens, lens, NULL, NULL, Bu, T);
        for (int b = 0; b < Bu; b++) {
            const float *l = m.acts.probs + (size_t)b * cfg.K;
            int best = 0;
            for (int k = 1; k < cfg.K; k++) best = l[k] > l[best] ? k : best;
            conf[(size_t)ex.labels[s + b] * cfg.K + best]++;
        }
    }
    const double secs = slm_time_seconds() - t0;
    int64_t correct = 0;
    double f1 = 0;
    for (int k = 0; k < cfg.K; k++) {
        int64_t tp = conf[(size_t)k * cfg.K + k], t = 0, p = 0;
        for (int j = 0; j < cfg.K; j++) t += conf[(size_t)k * cfg.K + j], p += conf[(size_t)j * cfg.K + k];
        correct += tp;
        const double pr = p ? (double)tp / p : 0, rc = t ? (double)tp / t : 0;
        f1 += pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0;
    }
    printf("accuracy %.4f macro_f1 %.4f n %zu (%.1f sentences/s)\n", (double)correct / ex.n, f1 / cfg.K, ex.n,
           ex.n / secs);
    free(tokens);
    free(conf);
    bert_model_free(&m);
    gguf_close(&f);
    ft_examples_free(&ex);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "eval") == 0) return eval(argv[2], argv[3], argc > 5 ? atoi(argv[5]) : 2);
    if (argc < 6 || strcmp(argv[1], "train") != 0) {
        fprintf(stderr, "usage: finetune_ids train BASE TRAIN DEV|- OUT [options] | eval MODEL TEST [-t N]\n");
        return 2;
    }
    slm_finetune_params p = slm_finetune_defaults();
    int threads = 2;
    for (int i = 6; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        if (strcmp(a, "--class-weights") == 0) p.class_weights = 1;
        else if (strcmp(a, "--f1") == 0) p.select_macro_f1 = 1;
        else if (strcmp(a, "--train-embeddings") == 0) p.train_embeddings = 1;
        else {
            i++;
            if (strcmp(a, "--epochs") == 0) p.epochs = atoi(v);
            else if (strcmp(a, "--lr") == 0) p.lr = (float)atof(v);
            else if (strcmp(a, "--batch") == 0) p.batch = atoi(v);
            else if (strcmp(a, "--warmup") == 0) p.warmup = (float)atof(v);
            else if (strcmp(a, "--wd") == 0) p.weight_decay = (float)atof(v);
            else if (strcmp(a, "--pooling") == 0) p.pooling = (slm_pooling)atoi(v);
            else if (strcmp(a, "--dropout") == 0) p.dropout = (float)atof(v);
            else if (strcmp(a, "--patience") == 0) p.patience = atoi(v);
            else if (strcmp(a, "--seed") == 0) p.seed = (uint64_t)atoll(v);
            else if (strcmp(a, "-t") == 0) threads = atoi(v);
            else return fprintf(stderr, "error: unknown option %s\n", a), 2;
        }
    }
    slm_set_threads(threads);
    ft_examples tr = {0}, dv = {0};
    if (read_ids(argv[3], &tr) || (strcmp(argv[4], "-") && read_ids(argv[4], &dv))) return 1;
    const char *labels[64];
    char names[64][16];
    int K = 0;
    for (size_t i = 0; i < tr.n; i++) K = tr.labels[i] + 1 > K ? tr.labels[i] + 1 : K;
    for (int k = 0; k < K && k < 64; k++) {
        snprintf(names[k], sizeof names[k], "%d", k);
        labels[k] = names[k];
    }
    slm_finetune_result res;
    if (finetune_run(argv[2], &tr, strcmp(argv[4], "-") ? &dv : NULL, labels, K, &p, argv[5], show, NULL, &res))
        return fail();
    printf("done: %d epochs, best %d, dev acc %.4f, %.1f s\n", res.epochs_run, res.best_epoch, res.dev_accuracy,
           res.seconds);
    ft_examples_free(&tr);
    ft_examples_free(&dv);
    return 0;
}
