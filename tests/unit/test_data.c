/* test_data.c — the data pipeline: slm_data_prepare on a small text (documents with BOS, the
 * split), the loader's determinism (same seed, same batches; seek reproduces a position;
 * targets are tokens shifted by one), checkpoints round-tripping the optimiser state, and
 * errors on corrupt shards and bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "slm.h"

static char g_dir[256];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

static void test_prepare_and_loader(const char *tok_path) {
    char txt[512], out[512];
    path_in(txt, sizeof txt, "in.txt");
    path_in(out, sizeof out, "shards");
    char *text = malloc(200000);
    text[0] = '\0';
    for (int i = 0; i < 300; i++) {
        char doc[256];
        snprintf(doc, sizeof doc, "Story %d: once upon a time a little cat named Tom saw %d birds.<|endoftext|>", i, i * 7);
        strcat(text, doc);
    }
    write_text(txt, text);
    free(text);
    const char *inputs[1] = {txt};
    slm_data_prepare_params p = {.tokenizer_path = tok_path, .inputs = inputs, .n_inputs = 1, .out_dir = out,
                                 .val_fraction = 0.2f, .seed = 9};
    slm_data_stats s;
    CHECK(slm_data_prepare(&p, NULL, NULL, &s) == SLM_OK, "prepare: %s", slm_last_error());
    CHECK(s.n_docs[0] + s.n_docs[1] == 300 && s.n_docs[1] > 20 && s.n_docs[1] < 100, "split %llu/%llu",
          (unsigned long long)s.n_docs[0], (unsigned long long)s.n_docs[1]);

    enum { B = 3, T = 16 };
    slm_loader *a, *b, *c;
    CHECK(slm_loader_open(out, "train", B, T, 42, &a) == SLM_OK, "open: %s", slm_last_error());
    CHECK(slm_loader_open(out, "train", B, T, 42, &b) == SLM_OK, "open");
    CHECK(slm_loader_open(out, "train", B, T, 43, &c) == SLM_OK, "open");
    CHECK(slm_loader_n_tokens(a) == s.n_tokens[0] && slm_loader_vocab_size(a) == 512, "sizes");
    int32_t ta[B * T], ga[B * T], tb[B * T], gb[B * T], tc[B * T], gc[B * T], keep[B * T];
    int same = 1, differ = 0, shifted = 1;
    for (int i = 0; i < 20; i++) {
        slm_loader_next(a, ta, ga);
        slm_loader_next(b, tb, gb);
        slm_loader_next(c, tc, gc);
        same &= memcmp(ta, tb, sizeof ta) == 0 && memcmp(ga, gb, sizeof ga) == 0;
        differ |= memcmp(ta, tc, sizeof ta) != 0;
        for (int k = 0; k < B; k++)
            for (int t = 0; t + 1 < T; t++) shifted &= ga[k * T + t] == ta[k * T + t + 1];
        if (i == 12) memcpy(keep, ta, sizeof keep);
    }
    CHECK(same, "the same seed gives the same batches");
    CHECK(differ, "another seed gives other batches");
    CHECK(shifted, "targets are the tokens shifted by one");
    CHECK(slm_loader_position(a) == 20, "position");
    slm_loader_seek(b, 12);
    slm_loader_next(b, tb, gb);
    CHECK(memcmp(tb, keep, sizeof keep) == 0, "seek reproduces batch 12");
    slm_loader_free(a);
    slm_loader_free(b);
    slm_loader_free(c);

    /* corrupt shards */
    char shard[600], bad[512], cmd[2048];
    snprintf(shard, sizeof shard, "%s/train-00000.bin", out);
    path_in(bad, sizeof bad, "bad");
    snprintf(cmd, sizeof cmd, "mkdir -p %s && head -c 40 %s > %s/train-00000.bin", bad, shard, bad);
    CHECK(system(cmd) == 0, "shell");
    slm_loader *l = NULL;
    CHECK(slm_loader_open(bad, "train", B, T, 1, &l) == SLM_ERR_FORMAT && !l, "truncated shard: %s", slm_last_error());
    write_text(shard, "SLMTOKS");
    CHECK(slm_loader_open(out, "train", B, T, 1, &l) == SLM_ERR_FORMAT, "short header");
    CHECK(slm_loader_open(out, "test", B, T, 1, &l) == SLM_ERR_IO, "no such split");
    CHECK(slm_loader_open(out, "val", B, 100000, 1, &l) == SLM_ERR_INVALID_ARG, "windows too long: %s", slm_last_error());
    p.val_fraction = 1.5f;
    CHECK(slm_data_prepare(&p, NULL, NULL, NULL) == SLM_ERR_INVALID_ARG, "fraction above 1");
}

static void test_checkpoint_round_trip(const char *tok_path) {
    slm_tokenizer *tok;
    CHECK(slm_tokenizer_load(tok_path, &tok) == SLM_OK, "tokenizer");
    slm_model_config mc = {.n_vocab = 512, .n_embd = 32, .n_ff = 64, .n_layer = 1, .n_head = 4, .n_head_kv = 2, .seed = 3};
    slm_train_params tp = slm_train_defaults();
    tp.batch = 2;
    tp.seq_len = 8;
    tp.total_steps = 6;
    slm_trainer *a, *b;
    CHECK(slm_trainer_new(&mc, &tp, &a) == SLM_OK, "new");
    int32_t tok_ids[16], tgt[16];
    for (int i = 0; i < 16; i++) tok_ids[i] = (i * 37) % 512, tgt[i] = (i * 91 + 5) % 512;
    slm_train_stats s1, s2;
    for (int i = 0; i < 3; i++) slm_trainer_step(a, tok_ids, tgt, &s1);
    char path[512];
    path_in(path, sizeof path, "ck.gguf");
    CHECK(slm_trainer_save_checkpoint(a, path, tok, "hello=1\n") == SLM_OK, "save: %s", slm_last_error());
    char *state;
    CHECK(slm_trainer_resume(path, NULL, &b, &state) == SLM_OK, "resume: %s", slm_last_error());
    CHECK(state && strcmp(state, "hello=1\n") == 0, "user state");
    slm_free(state);
    CHECK(slm_trainer_steps(b) == 3 && slm_trainer_params(b).total_steps == 6, "step and settings");
    for (int i = 0; i < 3; i++) {
        slm_trainer_step(a, tok_ids, tgt, &s1);
        slm_trainer_step(b, tok_ids, tgt, &s2);
        CHECK(memcmp(&s1, &s2, sizeof s1) == 0, "step %d: %.9g vs %.9g", i, s1.loss, s2.loss);
    }
    tp.batch = 3;
    slm_trainer *c = NULL;
    CHECK(slm_trainer_resume(path, &tp, &c, NULL) == SLM_ERR_INVALID_ARG && !c, "batch must match");
    path_in(path, sizeof path, "plain.gguf");
    CHECK(slm_trainer_save(a, path, tok) == SLM_OK, "save");
    CHECK(slm_trainer_resume(path, NULL, &c, NULL) == SLM_ERR_FORMAT, "not a checkpoint");
    slm_trainer_free(a);
    slm_trainer_free(b);
    slm_tokenizer_free(tok);
}

int main(void) {
    const char *data = getenv("SLM_DATA");
    char tok[512];
    snprintf(tok, sizeof tok, "%s/tiny_lm_models/stories260K/tok512.bin", data ? data : "../shared/data");
    if (access(tok, R_OK) != 0) {
        printf("test_data: skipped (%s not found)\n", tok);
        return 0;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/slm_test_data_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return 1;
    test_prepare_and_loader(tok);
    test_checkpoint_round_trip(tok);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) return 1;
    return check_summary("test_data");
}
