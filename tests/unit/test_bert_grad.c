/* test_bert_grad.c — finite-difference checks of the backward of every op the BERT training
 * engine adds (src/train/ops.c): embeddings with positions and types, bias, LayerNorm, masked
 * bidirectional attention, GELU, dropout, mean and CLS pooling, class-weighted cross-entropy; and that
 * padding never leaks into the valid rows. The objective is a fixed random projection of the
 * op's output, summed in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "slm.h"
#include "train/bert_train.h"
#include "train/ops.h"

/* Legend as in ops.h: sequences of lengths {T, 2} padded to T. */
enum { B = 2, T = 5, C = 6, V = 7, P = 8, TY = 2, NH = 2, HD = 3, D = NH * HD, K = 3, N = B * T };

static slm_rng g_rng;
static const int g_lens[B] = {T, 2};
static const int32_t g_tokens[N] = {1, 3, 3, 0, 6, 2, 1, 5, 4, 3};
static const int32_t g_types[N] = {0, 0, 1, 1, 1, 0, 1, 0, 0, 0};
static const int32_t g_labels[B] = {2, 0};
static const float g_class_w[K] = {0.5f, 1.0f, 2.0f};

static float *rand_array(int n, float lo, float hi) {
    float *a = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * slm_rng_f32(&g_rng);
    return a;
}

static float *zeros(int n) { return calloc((size_t)n, sizeof(float)); }

typedef struct op_case op_case;
struct op_case {
    const char *name;
    int n_inputs;
    const char *input_name[3];
    float *input[3];
    int input_n[3];
    float *grad[3];
    float *out, *proj; /* objective = sum(out * proj) */
    int n_out;
    float *aux, *aux2, *aux3;
    double (*objective)(op_case *c);
    void (*backward)(op_case *c);
};

static double project(const op_case *c) {
    double s = 0.0;
    for (int i = 0; i < c->n_out; i++) s += (double)c->out[i] * c->proj[i];
    return s;
}

static double embed_obj(op_case *c) {
    bert_embedding_forward(c->out, g_tokens, g_types, c->input[0], c->input[1], c->input[2], B, T, C);
    return project(c);
}
static void embed_bwd(op_case *c) {
    bert_embedding_backward(c->grad[0], c->grad[1], c->grad[2], c->proj, g_tokens, g_types, B, T, C);
}

static double bias_obj(op_case *c) {
    memcpy(c->out, c->input[0], sizeof(float) * N * C);
    bias_forward(c->out, c->input[1], N, C);
    return project(c);
}
static void bias_bwd(op_case *c) {
    memcpy(c->grad[0], c->proj, sizeof(float) * N * C);
    bias_backward(c->grad[1], c->proj, N, C);
}

static double layernorm_obj(op_case *c) {
    layernorm_forward(c->out, c->aux, c->aux2, c->input[0], c->input[1], c->input[2], N, C, 1e-5f);
    return project(c);
}
static void layernorm_bwd(op_case *c) {
    layernorm_forward(c->out, c->aux, c->aux2, c->input[0], c->input[1], c->input[2], N, C, 1e-5f);
    layernorm_backward(c->grad[0], c->grad[1], c->grad[2], c->proj, c->input[0], c->input[1], c->aux, c->aux2, N, C);
}

static double attention_obj(op_case *c) {
    bidir_attention_forward(c->out, c->aux, c->input[0], c->input[1], c->input[2], g_lens, B, T, NH, HD);
    return project(c);
}
static void attention_bwd(op_case *c) {
    bidir_attention_forward(c->out, c->aux, c->input[0], c->input[1], c->input[2], g_lens, B, T, NH, HD);
    bidir_attention_backward(c->grad[0], c->grad[1], c->grad[2], c->aux2, c->proj, c->input[0], c->input[1],
                             c->input[2], c->aux, g_lens, B, T, NH, HD);
}

static double gelu_obj(op_case *c) {
    gelu_forward(c->out, c->input[0], c->n_out);
    return project(c);
}
static void gelu_bwd(op_case *c) { gelu_backward(c->grad[0], c->proj, c->input[0], c->n_out); }

static double dropout_obj(op_case *c) {
    dropout_forward(c->out, c->input[0], c->aux, c->n_out);
    return project(c);
}
static void dropout_bwd(op_case *c) { dropout_backward(c->grad[0], c->proj, c->aux, c->n_out); }

/* A dropout mask with p = 0.25: zeros and 1 / 0.75. */
static float *dropout_mask(int n) {
    float *m = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) m[i] = slm_rng_f32(&g_rng) < 0.25f ? 0.0f : 1.0f / 0.75f;
    return m;
}

static double mean_pool_obj(op_case *c) {
    mean_pool_forward(c->out, c->input[0], g_lens, B, T, C);
    return project(c);
}
static void mean_pool_bwd(op_case *c) { mean_pool_backward(c->grad[0], c->proj, g_lens, B, T, C); }

static double cls_pool_obj(op_case *c) {
    cls_pool_forward(c->out, c->input[0], B, T, C);
    return project(c);
}
static void cls_pool_bwd(op_case *c) { cls_pool_backward(c->grad[0], c->proj, B, T, C); }

/* The objective is the weighted mean loss itself. */
static double xent_obj(op_case *c) { return weighted_crossentropy_forward(c->aux, c->input[0], g_labels, g_class_w, B, K); }
static void xent_bwd(op_case *c) {
    weighted_crossentropy_forward(c->aux, c->input[0], g_labels, g_class_w, B, K);
    weighted_crossentropy_backward(c->grad[0], c->aux, g_labels, g_class_w, 1.0f, B, K);
}

/* Per-token labels with ignored rows (-1: padding, continuation pieces): those rows get no gradient. */
static const int32_t g_token_labels[N] = {0, 2, -1, 1, 1, 0, -1, -1, -1, 2};
static double xent_ignore_obj(op_case *c) {
    return weighted_crossentropy_forward(c->aux, c->input[0], g_token_labels, NULL, N, K);
}
static void xent_ignore_bwd(op_case *c) {
    weighted_crossentropy_forward(c->aux, c->input[0], g_token_labels, NULL, N, K);
    weighted_crossentropy_backward(c->grad[0], c->aux, g_token_labels, NULL, 1.0f, N, K);
}

/* Central differences against the backward; returns the worst max|fd - grad| / max|grad|.
 * Elements the op ignores (padding) must get a zero gradient. */
static double check_case(op_case *c) {
    for (int k = 0; k < c->n_inputs; k++) c->grad[k] = zeros(c->input_n[k]);
    c->backward(c);
    double worst = 0.0;
    for (int k = 0; k < c->n_inputs; k++) {
        float *x = c->input[k];
        double max_err = 0.0, max_grad = 0.0;
        for (int i = 0; i < c->input_n[k]; i++) {
            const float orig = x[i], h = 1e-2f * fmaxf(1.0f, fabsf(orig));
            const float up = orig + h, down = orig - h;
            x[i] = up;
            const double lp = c->objective(c);
            x[i] = down;
            const double lm = c->objective(c);
            x[i] = orig;
            const double fd = (lp - lm) / ((double)up - (double)down);
            max_err = fmax(max_err, fabs(fd - c->grad[k][i]));
            max_grad = fmax(max_grad, fabs(c->grad[k][i]));
        }
        const double rel = max_err / (max_grad > 0 ? max_grad : 1.0);
        printf("  %-10s d%-7s max|fd - grad| / max|grad| = %.2e (max|grad| %.3g)\n", c->name, c->input_name[k], rel,
               max_grad);
        CHECK(max_grad > 0, "%s: gradient of %s is all zero", c->name, c->input_name[k]);
        CHECK(rel < 2e-3, "%s: gradient of %s off by %.3g relative", c->name, c->input_name[k], rel);
        worst = fmax(worst, rel);
        free(c->grad[k]);
    }
    return worst;
}

static void free_case(op_case *c) {
    for (int k = 0; k < c->n_inputs; k++) free(c->input[k]);
    free(c->out);
    free(c->proj);
    free(c->aux);
    free(c->aux2);
    free(c->aux3);
}

/* Changing the padded rows of q, k and v changes nothing in the valid rows of the output. */
static void check_padding_is_ignored(void) {
    float *q = rand_array(N * D, -1, 1), *k = rand_array(N * D, -1, 1), *v = rand_array(N * D, -1, 1);
    float *out1 = zeros(N * D), *out2 = zeros(N * D), *att = zeros(B * NH * T * T);
    bidir_attention_forward(out1, att, q, k, v, g_lens, B, T, NH, HD);
    for (int t = g_lens[1]; t < T; t++)
        for (int i = 0; i < D; i++) {
            const size_t r = ((size_t)1 * T + t) * D + i;
            q[r] += 3.0f, k[r] -= 2.0f, v[r] += 5.0f;
        }
    bidir_attention_forward(out2, att, q, k, v, g_lens, B, T, NH, HD);
    int differ = 0, pad_nonzero = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < D; i++) {
                const size_t r = ((size_t)b * T + t) * D + i;
                if (t < g_lens[b]) differ += out1[r] != out2[r];
                else pad_nonzero += out2[r] != 0.0f;
            }
    CHECK(differ == 0, "%d valid outputs depend on padding", differ);
    CHECK(pad_nonzero == 0, "%d padding outputs are not zero", pad_nonzero);
    /* softmax rows of valid queries sum to one over valid keys only */
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < g_lens[b]; t++) {
                const float *row = att + (((size_t)b * NH + h) * T + t) * T;
                double s = 0.0;
                for (int j = 0; j < T; j++) {
                    s += row[j];
                    if (j >= g_lens[b] && row[j] != 0.0f) bad++;
                }
                if (fabs(s - 1.0) > 1e-5) bad++;
            }
    CHECK(bad == 0, "%d attention rows are not masked softmax rows", bad);
    free(q), free(k), free(v), free(out1), free(out2), free(att);
}

/* The whole model with dropout on (the same masks every pass: one seed): central differences
 * of the loss in a few elements of every parameter tensor against bert_backward. per_token:
 * the token-classification head (a label per position, -1 on padding and on a continuation
 * piece), else the pooled sequence head. */
static void check_whole_model(int per_token) {
    const bert_config cfg = {.V = 11, .C = 8, .F = 12, .L = 2, .NH = 2, .hd = 4, .P = 8, .TY = 2, .K = 3,
                             .eps = 1e-5f, .pooling = BERT_POOL_MEAN, .per_token = per_token};
    enum { MB = 2, MT = 5 };
    const int lens[MB] = {5, 3};
    const int32_t tokens[MB * MT] = {1, 4, 9, 2, 3, 5, 10, 7, 0, 0}, seq_labels[MB] = {2, 1};
    const int32_t token_labels[MB * MT] = {0, 1, 2, -1, 0, 1, 0, 2, -1, -1};
    const int32_t *labels = per_token ? token_labels : seq_labels;
    bert_model m;
    CHECK(bert_model_alloc(&m, &cfg, MB, MT, 1) == SLM_OK, "alloc");
    for (int i = 0; i < BP_COUNT; i++) {
        float *t = bert_param_array(&m.params)[i];
        const int is_norm_w = i == BP_EMB_NORM_W || i == BP_LN1_W || i == BP_LN2_W;
        for (size_t j = 0; j < m.sizes[i]; j++) t[j] = (is_norm_w ? 1.0f : 0.0f) + 0.5f * (slm_rng_f32(&g_rng) - 0.5f);
    }
    m.dropout = 0.2f;
    m.dropout_seed = 99;
    memset(m.grads_mem, 0, m.n_params * sizeof(float));
    bert_forward(&m, tokens, lens, labels, g_class_w, MB, MT);
    bert_backward(&m, tokens, lens, labels, g_class_w, MB, MT, 1.0f);
    double worst = 0.0;
    for (int i = 0; i < BP_COUNT; i++) {
        float *t = bert_param_array(&m.params)[i], *g = bert_param_array(&m.grads)[i];
        double max_grad = 0.0, max_err = 0.0;
        for (size_t j = 0; j < m.sizes[i]; j++) max_grad = fmax(max_grad, fabs(g[j]));
        for (int k = 0; k < 8; k++) {
            const size_t j = (size_t)(slm_rng_u64(&g_rng) % m.sizes[i]);
            const float orig = t[j], h = 1e-2f;
            t[j] = orig + h;
            const double lp = bert_forward(&m, tokens, lens, labels, g_class_w, MB, MT);
            t[j] = orig - h;
            const double lm = bert_forward(&m, tokens, lens, labels, g_class_w, MB, MT);
            t[j] = orig;
            max_err = fmax(max_err, fabs((lp - lm) / (2.0 * h) - g[j]));
        }
        if (i == BP_BK) continue; /* zero in exact arithmetic: nothing to compare */
        const double rel = max_err / (max_grad > 0 ? max_grad : 1.0);
        worst = fmax(worst, rel);
        CHECK(rel < 2e-2, "whole model: parameter tensor %d off by %.3g relative", i, rel);
    }
    printf("whole model with dropout (%s head): worst sampled relative gradient error %.2e\n",
           per_token ? "token" : "sequence", worst);
    bert_model_free(&m);
}

int main(void) {
    slm_rng_seed(&g_rng, 7);
    slm_set_threads(1);
    double worst = 0.0;
    op_case cases[] = {
        {"embedding", 3, {"wte", "wpe", "wtt"}, {rand_array(V * C, -1, 1), rand_array(P * C, -1, 1), rand_array(TY * C, -1, 1)},
         {V * C, P * C, TY * C}, {0}, zeros(N * C), rand_array(N * C, -1, 1), N * C, NULL, NULL, NULL, embed_obj, embed_bwd},
        {"bias", 2, {"inp", "bias"}, {rand_array(N * C, -1, 1), rand_array(C, -1, 1)}, {N * C, C}, {0}, zeros(N * C),
         rand_array(N * C, -1, 1), N * C, NULL, NULL, NULL, bias_obj, bias_bwd},
        {"layernorm", 3, {"inp", "weight", "bias"}, {rand_array(N * C, -2, 2), rand_array(C, 0.5f, 1.5f), rand_array(C, -1, 1)},
         {N * C, C, C}, {0}, zeros(N * C), rand_array(N * C, -1, 1), N * C, zeros(N), zeros(N), NULL, layernorm_obj,
         layernorm_bwd},
        {"attention", 3, {"q", "k", "v"}, {rand_array(N * D, -2, 2), rand_array(N * D, -2, 2), rand_array(N * D, -1, 1)},
         {N * D, N * D, N * D}, {0}, zeros(N * D), rand_array(N * D, -1, 1), N * D, zeros(B * NH * T * T),
         zeros(B * NH * T), NULL, attention_obj, attention_bwd},
        {"gelu", 1, {"inp"}, {rand_array(N * C, -4, 4)}, {N * C}, {0}, zeros(N * C), rand_array(N * C, -1, 1), N * C, NULL,
         NULL, NULL, gelu_obj, gelu_bwd},
        {"dropout", 1, {"inp"}, {rand_array(N * C, -1, 1)}, {N * C}, {0}, zeros(N * C), rand_array(N * C, -1, 1), N * C,
         dropout_mask(N * C), NULL, NULL, dropout_obj, dropout_bwd},
        {"mean_pool", 1, {"x"}, {rand_array(N * C, -1, 1)}, {N * C}, {0}, zeros(B * C), rand_array(B * C, -1, 1), B * C,
         NULL, NULL, NULL, mean_pool_obj, mean_pool_bwd},
        {"cls_pool", 1, {"x"}, {rand_array(N * C, -1, 1)}, {N * C}, {0}, zeros(B * C), rand_array(B * C, -1, 1), B * C,
         NULL, NULL, NULL, cls_pool_obj, cls_pool_bwd},
        {"w_xentropy", 1, {"logits"}, {rand_array(B * K, -3, 3)}, {B * K}, {0}, NULL, NULL, 0, zeros(B * K), NULL, NULL,
         xent_obj, xent_bwd},
        {"xentropy_ignore", 1, {"logits"}, {rand_array(N * K, -3, 3)}, {N * K}, {0}, NULL, NULL, 0, zeros(N * K), NULL,
         NULL, xent_ignore_obj, xent_ignore_bwd},
    };
    const int n_cases = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n_cases; i++) {
        worst = fmax(worst, check_case(&cases[i]));
        free_case(&cases[i]);
    }
    printf("worst relative gradient error over the BERT ops: %.2e\n", worst);
    check_padding_is_ignored();
    check_whole_model(0);
    check_whole_model(1);
    return check_summary("test_bert_grad");
}
