/* test_train.c — the training engine as a whole: finite differences of the full model's loss
 * against its backward, the same gradients on 1 and 2 threads and with gradient
 * accumulation, the schedule, a batch learned by heart, saving (inference on the saved file and
 * on stories260K gives the trainer's logits), and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rng.h"
#include "check.h"
#include "slm.h"
#include "train/train.h"

static const char *g_data;

static slm_model_config config(int V, int C, int F, int L, int NH, int KVH, int tied) {
    return (slm_model_config){.n_vocab = V, .n_embd = C, .n_ff = F, .n_layer = L, .n_head = NH, .n_head_kv = KVH,
                              .tied_output = tied, .seed = 1};
}

static slm_train_params params(int B, int T, int accum) {
    slm_train_params p = slm_train_defaults();
    p.batch = B;
    p.seq_len = T;
    p.grad_accum = accum;
    return p;
}

static void random_ids(int32_t *ids, size_t n, int V, uint64_t seed) {
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(slm_rng_u64(&rng) % (uint64_t)V);
}

/* The mean loss of the trainer's batch, summed in double from the per-token losses. */
static double batch_loss(slm_trainer *t, const int32_t *tokens, const int32_t *targets) {
    train_model *m = &t->model;
    train_model_forward(m, tokens, targets, m->B);
    double s = 0.0;
    for (int i = 0; i < m->B * m->T; i++) s += m->acts.losses[i];
    return s / (m->B * m->T);
}

/* Central differences of the whole model's loss in a few elements of every tensor, with
 * weights large enough for every op to be non-linear. */
static void test_model_finite_differences(int tied) {
    enum { B = 2, T = 5, V = 11 };
    slm_model_config c = config(V, 8, 12, 2, 4, 2, tied);
    slm_train_params p = params(B, T, 1);
    slm_trainer *t;
    CHECK(slm_trainer_new(&c, &p, &t) == SLM_OK, "new: %s", slm_last_error());
    slm_rng rng;
    slm_rng_seed(&rng, 5);
    for (size_t i = 0; i < t->model.n_params; i++) t->model.params_mem[i] = (slm_rng_f32(&rng) - 0.5f) * 0.8f;
    float **w = train_param_array(&t->model.params);
    for (int k = 0; k < TP_COUNT; k++)
        if (k == TP_ATTN_NORM || k == TP_FFN_NORM || k == TP_OUTPUT_NORM)
            for (size_t i = 0; i < t->model.sizes[k]; i++) w[k][i] += 1.0f;
    int32_t tokens[B * T], targets[B * T];
    random_ids(tokens, B * T, V, 1);
    random_ids(targets, B * T, V, 2);
    float loss;
    CHECK(trainer_compute_grads(t, tokens, targets, &loss) == SLM_OK, "grads");
    double worst = 0.0;
    for (int i = 0; i < trainer_n_tensors(t); i++) {
        trainer_tensor tt;
        trainer_get_tensor(t, i, &tt);
        const size_t n = (size_t)tt.cols * (size_t)(tt.rows ? tt.rows : 1);
        float max_grad = 0.0f;
        for (size_t j = 0; j < n; j++) max_grad = fmaxf(max_grad, fabsf(tt.grad[j]));
        double max_err = 0.0;
        for (int probe = 0; probe < 4; probe++) {
            const size_t j = slm_rng_u64(&rng) % n;
            const float orig = tt.param[j], h = 1e-2f;
            tt.param[j] = orig + h;
            const double up = batch_loss(t, tokens, targets);
            tt.param[j] = orig - h;
            const double down = batch_loss(t, tokens, targets);
            tt.param[j] = orig;
            const double fd = (up - down) / ((double)(orig + h) - (double)(orig - h));
            max_err = fmax(max_err, fabs(fd - tt.grad[j]));
        }
        const double rel = max_err / fmax(max_grad, 1e-12);
        worst = fmax(worst, rel);
        CHECK(max_grad > 0.0f && rel < 2e-3, "%s: finite differences off by %.3g of max|grad| %.3g", tt.name, rel,
              max_grad);
    }
    printf("whole model (%s): worst |fd - grad| / max|grad| over %d tensors: %.2e\n", tied ? "tied" : "untied",
           trainer_n_tensors(t), worst);
    slm_trainer_free(t);
}

/* The pool splits work by rows or columns, never changing an element's arithmetic: one and
 * two threads give the same bits. */
static void test_threads_same_bits(void) {
    enum { B = 4, T = 32, V = 256 };
    slm_model_config c = config(V, 64, 128, 2, 4, 2, 0);
    slm_train_params p = params(B, T, 1);
    int32_t *tokens = malloc(sizeof(int32_t) * B * T * 2), *targets = tokens + B * T;
    random_ids(tokens, 2 * B * T, V, 3);
    float loss[2];
    float *grads[2];
    size_t n = 0;
    for (int r = 0; r < 2; r++) {
        slm_set_threads(r + 1);
        slm_trainer *t;
        CHECK(slm_trainer_new(&c, &p, &t) == SLM_OK, "new");
        CHECK(trainer_compute_grads(t, tokens, targets, &loss[r]) == SLM_OK, "grads");
        n = t->model.n_params;
        grads[r] = malloc(n * sizeof(float));
        memcpy(grads[r], t->model.grads_mem, n * sizeof(float));
        slm_trainer_free(t);
    }
    CHECK(loss[0] == loss[1] && memcmp(grads[0], grads[1], n * sizeof(float)) == 0,
          "1 and 2 threads differ: loss %.9g vs %.9g", loss[0], loss[1]);
    slm_set_threads(1);
    free(grads[0]);
    free(grads[1]);
    free(tokens);
}

/* Two micro-batches of 2 sequences give the gradient of one batch of 4. */
static void test_accumulation(void) {
    enum { T = 8, V = 40 };
    slm_model_config c = config(V, 16, 32, 2, 2, 1, 1);
    int32_t tokens[4 * T], targets[4 * T];
    random_ids(tokens, 4 * T, V, 7);
    random_ids(targets, 4 * T, V, 8);
    slm_train_params p4 = params(4, T, 1), p22 = params(2, T, 2);
    slm_trainer *a, *b;
    CHECK(slm_trainer_new(&c, &p4, &a) == SLM_OK && slm_trainer_new(&c, &p22, &b) == SLM_OK, "new");
    float la, lb;
    CHECK(trainer_compute_grads(a, tokens, targets, &la) == SLM_OK && trainer_compute_grads(b, tokens, targets, &lb) == SLM_OK,
          "grads");
    double max_diff = 0.0, max_grad = 0.0;
    for (size_t i = 0; i < a->model.n_params; i++) {
        max_diff = fmax(max_diff, fabs(a->model.grads_mem[i] - b->model.grads_mem[i]));
        max_grad = fmax(max_grad, fabs(a->model.grads_mem[i]));
    }
    printf("accumulation: loss %.7f vs %.7f, max grad diff / max grad %.2e\n", la, lb, max_diff / max_grad);
    CHECK(fabsf(la - lb) < 1e-6f * la && max_diff < 1e-5 * max_grad, "accumulated gradients differ");
    slm_trainer_free(a);
    slm_trainer_free(b);
}

static void test_schedule(void) {
    slm_train_params p = slm_train_defaults();
    p.lr = 1.0f;
    p.min_lr = 0.1f;
    p.warmup_steps = 4;
    p.total_steps = 14;
    CHECK(fabsf(train_lr_at(&p, 0) - 0.25f) < 1e-7f && fabsf(train_lr_at(&p, 3) - 1.0f) < 1e-7f, "warmup");
    CHECK(fabsf(train_lr_at(&p, 4) - 1.0f) < 1e-6f, "cosine starts at lr");
    CHECK(fabsf(train_lr_at(&p, 9) - 0.55f) < 1e-6f, "half way: %g", train_lr_at(&p, 9));
    CHECK(fabsf(train_lr_at(&p, 14) - 0.1f) < 1e-6f && fabsf(train_lr_at(&p, 100) - 0.1f) < 1e-6f, "ends at min_lr");
    p.total_steps = 0;
    CHECK(train_lr_at(&p, 1000) == 1.0f, "constant after warmup without total_steps");
}

/* Forty steps on one batch learn it: the loss falls well below its start. */
static void test_learns_a_batch(void) {
    enum { B = 2, T = 16, V = 64 };
    slm_model_config c = config(V, 32, 64, 2, 4, 2, 1);
    slm_train_params p = params(B, T, 1);
    p.lr = 1e-2f;
    p.warmup_steps = 5;
    p.total_steps = 40;
    slm_trainer *t;
    CHECK(slm_trainer_new(&c, &p, &t) == SLM_OK, "new");
    int32_t seq[B * T + 1], tokens[B * T], targets[B * T];
    random_ids(seq, B * T + 1, V, 9);
    memcpy(tokens, seq, sizeof tokens);
    memcpy(targets, seq + 1, sizeof targets);
    slm_train_stats first = {0}, last = {0};
    for (int s = 0; s < 40; s++) CHECK(slm_trainer_step(t, tokens, targets, s ? &last : &first) == SLM_OK, "step");
    float eval;
    CHECK(slm_trainer_eval(t, tokens, targets, B, &eval) == SLM_OK, "eval");
    printf("learning one batch: loss %.3f (ln V = %.3f) -> %.3f after 40 steps, eval %.3f\n", first.loss, log(V),
           last.loss, eval);
    CHECK(fabsf(first.loss - logf(V)) < 0.1f, "initial loss %g is not near ln V", first.loss);
    CHECK(last.step == 40 && eval < 0.5f * first.loss, "the batch was not learned (%g -> %g)", first.loss, eval);
    slm_trainer_free(t);
}

/* Logits of `tokens` (n <= 64) at every position from an inference session. */
static int session_logits(const char *path, const int32_t *tokens, int n, float *out, int V) {
    slm_model *model;
    slm_session *s;
    if (slm_model_load(path, NULL, &model) != SLM_OK) return 0;
    if (slm_session_new(model, NULL, &s) != SLM_OK) return 0;
    for (int i = 0; i < n; i++) {
        const float *logits;
        if (slm_session_eval(s, tokens + i, 1, &logits) != SLM_OK) return 0;
        memcpy(out + (size_t)i * V, logits, sizeof(float) * V);
    }
    slm_session_free(s);
    slm_model_free(model);
    return 1;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
    return d;
}

/* A trained model saved with tok512 loads for inference with the trainer's logits, and loads
 * back into a trainer with the same weights. */
static void test_save_and_infer(void) {
    enum { B = 1, T = 12, V = 512 };
    char tok_path[1024], out_path[] = "/tmp/slm_test_train_XXXXXX";
    snprintf(tok_path, sizeof tok_path, "%s/tiny_lm_models/stories260K/tok512.bin", g_data);
    slm_tokenizer *tok;
    CHECK(slm_tokenizer_load(tok_path, &tok) == SLM_OK, "tokenizer: %s", slm_last_error());
    int fd = mkstemp(out_path);
    CHECK(fd >= 0, "temp file");
    slm_model_config c = config(V, 32, 48, 2, 4, 2, 0);
    slm_train_params p = params(B, T, 1);
    slm_trainer *t, *back;
    CHECK(slm_trainer_new(&c, &p, &t) == SLM_OK, "new");
    int32_t tokens[T], targets[T];
    random_ids(tokens, T, V, 4);
    random_ids(targets, T, V, 5);
    for (int s = 0; s < 3; s++) CHECK(slm_trainer_step(t, tokens, targets, NULL) == SLM_OK, "step");
    CHECK(slm_trainer_save(t, out_path, tok) == SLM_OK, "save: %s", slm_last_error());
    train_model_forward(&t->model, tokens, NULL, 1);
    float *want = t->model.acts.probs, *got = malloc(sizeof(float) * T * V);
    CHECK(session_logits(out_path, tokens, T, got, V), "inference on the saved file: %s", slm_last_error());
    const double d = max_abs_diff(got, want, (size_t)T * V);
    printf("saved model: inference logits vs the trainer's, max |diff| %.2e\n", d);
    CHECK(d < 1e-4, "logits differ by %g", d);
    CHECK(slm_trainer_load(out_path, &p, &back) == SLM_OK, "load: %s", slm_last_error());
    CHECK(back->model.n_params == t->model.n_params &&
              memcmp(back->model.params_mem, t->model.params_mem, t->model.n_params * sizeof(float)) == 0,
          "weights changed through save and load");
    /* saved again without a tokenizer argument: the loaded file's vocabulary is kept */
    CHECK(slm_trainer_save(back, out_path, NULL) == SLM_OK && session_logits(out_path, tokens, T, got, V),
          "resave with the loaded tokenizer: %s", slm_last_error());
    slm_trainer_free(back);
    slm_trainer_free(t);
    free(got);
    slm_tokenizer_free(tok);
    close(fd);
    remove(out_path);
}

/* stories260K (a llama2.c checkpoint with 8 heads, 4 kv heads) in the trainer: the logits of
 * inference, and a low loss on a story. */
static void test_stories260k(void) {
    enum { T = 24 };
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny_lm_models/stories260K/stories260K.bin", g_data);
    slm_train_params p = params(1, T, 1);
    slm_trainer *t;
    CHECK(slm_trainer_load(path, &p, &t) == SLM_OK, "load stories260K: %s", slm_last_error());
    if (!t) return;
    const char *text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
    int32_t *ids;
    size_t n;
    slm_tokenize_options o = {1, 0};
    CHECK(slm_tokenize(t->tok, text, strlen(text), &o, &ids, &n) == SLM_OK && n > T, "tokenize");
    const int V = t->model.cfg.V;
    float loss;
    CHECK(slm_trainer_eval(t, ids, ids + 1, 1, &loss) == SLM_OK, "eval");
    float *want = t->model.acts.probs, *got = malloc(sizeof(float) * T * V);
    train_model_forward(&t->model, ids, NULL, 1);
    CHECK(session_logits(path, ids, T, got, V), "inference");
    const double d = max_abs_diff(got, want, (size_t)T * V);
    printf("stories260K: loss %.3f on a story; trainer vs inference logits max |diff| %.2e\n", loss, d);
    CHECK(loss < 2.5f, "loss %g", loss);
    CHECK(d < 1e-3, "logits differ by %g", d);
    slm_free(ids);
    free(got);
    slm_trainer_free(t);
}

static void test_bad_input(void) {
    slm_model_config c = config(16, 10, 8, 1, 3, 0, 0);
    slm_train_params p = params(1, 4, 1);
    slm_trainer *t = NULL;
    CHECK(slm_trainer_new(&c, &p, &t) == SLM_ERR_INVALID_ARG && !t, "n_embd not a multiple of n_head");
    c = config(16, 8, 8, 1, 4, 3, 0);
    CHECK(slm_trainer_new(&c, &p, &t) == SLM_ERR_INVALID_ARG, "n_head not a multiple of n_head_kv");
    c = config(16, 8, 8, 1, 2, 1, 0);
    slm_train_params bad = p;
    bad.batch = 0;
    CHECK(slm_trainer_new(&c, &bad, &t) == SLM_ERR_INVALID_ARG, "batch 0");
    bad = p;
    bad.beta2 = 1.0f;
    CHECK(slm_trainer_new(&c, &bad, &t) == SLM_ERR_INVALID_ARG, "beta2 1");
    CHECK(slm_trainer_new(&c, &p, &t) == SLM_OK, "new");
    int32_t tokens[4] = {1, 2, 3, 16}, targets[4] = {2, 3, 4, 5};
    CHECK(slm_trainer_step(t, tokens, targets, NULL) == SLM_ERR_RANGE, "token id out of range");
    tokens[3] = 4;
    targets[0] = -1;
    CHECK(slm_trainer_step(t, tokens, targets, NULL) == SLM_ERR_RANGE, "negative target");
    float loss;
    CHECK(slm_trainer_eval(t, tokens, targets, 0, &loss) == SLM_ERR_INVALID_ARG, "eval of 0 sequences");
    slm_trainer *none;
    CHECK(slm_trainer_load("/nonexistent.gguf", &p, &none) != SLM_OK && !none, "missing file");
    slm_trainer_free(t);
}

int main(void) {
    g_data = getenv("SLM_DATA") ? getenv("SLM_DATA") : "../shared/data";
    slm_set_threads(1);
    test_model_finite_differences(0);
    test_model_finite_differences(1);
    test_threads_same_bits();
    test_accumulation();
    test_schedule();
    test_learns_a_batch();
    test_save_and_infer();
    test_stories260k();
    test_bad_input();
    return check_summary("test_train");
}
