/* test_train_grad.c — finite-difference checks of every training op's backward (src/train/ops.c)
 * on tiny shapes: the objective is a fixed random projection of the op's output, summed in
 * double; central differences of it are compared with the backward's gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "slm.h"
#include "train/ops.h"

/* Legend as in ops.h. Tiny shapes with grouped heads (2 query heads per key/value head). */
enum { B = 2, T = 5, C = 6, V = 7, NH = 4, KVH = 2, HD = 4, QD = NH * HD, KVD = KVH * HD, OC = 5, N = B * T };

static slm_rng g_rng;

static float uniform(float lo, float hi) { return lo + (hi - lo) * slm_rng_f32(&g_rng); }

static float *rand_array(int n, float lo, float hi) {
    float *a = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) a[i] = uniform(lo, hi);
    return a;
}

static float *zeros(int n) { return calloc((size_t)n, sizeof(float)); }

/* One op under test: its inputs, output and backward. */
typedef struct op_case op_case;
struct op_case {
    const char *name;
    int n_inputs;
    const char *input_name[3];
    float *input[3];
    int input_n[3];
    float *grad[3];   /* the backward's gradient of each input */
    float *out;       /* forward output (n_out) */
    float *proj;      /* objective = sum(out * proj) */
    int n_out;
    float *aux, *aux2; /* saved values (rstd, att), scratch */
    int32_t *tokens;
    double (*objective)(op_case *c); /* runs the forward, returns the objective */
    void (*backward)(op_case *c);    /* fills grad[] (zeroed first) */
};

static double project(const op_case *c) {
    double s = 0.0;
    for (int i = 0; i < c->n_out; i++) s += (double)c->out[i] * c->proj[i];
    return s;
}

static double embed_obj(op_case *c) {
    embedding_forward(c->out, c->tokens, c->input[0], N, C);
    return project(c);
}
static void embed_bwd(op_case *c) { embedding_backward(c->grad[0], c->proj, c->tokens, N, C); }

static double rmsnorm_obj(op_case *c) {
    rmsnorm_forward(c->out, c->aux, c->input[0], c->input[1], N, C, 1e-5f);
    return project(c);
}
static void rmsnorm_bwd(op_case *c) {
    rmsnorm_forward(c->out, c->aux, c->input[0], c->input[1], N, C, 1e-5f);
    rmsnorm_backward(c->grad[0], c->grad[1], c->proj, c->input[0], c->input[1], c->aux, N, C);
}

static double matmul_obj(op_case *c) {
    matmul_forward(c->out, c->input[0], c->input[1], N, C, OC);
    return project(c);
}
static void matmul_bwd(op_case *c) { matmul_backward(c->grad[0], c->grad[1], c->proj, c->input[0], c->input[1], N, C, OC); }

static float g_cos[T * HD / 2], g_sin[T * HD / 2];

static double rope_obj(op_case *c) {
    memcpy(c->out, c->input[0], sizeof(float) * N * QD);
    rope_forward(c->out, g_cos, g_sin, B, T, NH, HD);
    return project(c);
}
static void rope_bwd(op_case *c) {
    memcpy(c->grad[0], c->proj, sizeof(float) * N * QD);
    rope_backward(c->grad[0], g_cos, g_sin, B, T, NH, HD);
}

static double attention_obj(op_case *c) {
    attention_forward(c->out, c->aux, c->input[0], c->input[1], c->input[2], B, T, NH, KVH, HD);
    return project(c);
}
static void attention_bwd(op_case *c) {
    attention_forward(c->out, c->aux, c->input[0], c->input[1], c->input[2], B, T, NH, KVH, HD);
    attention_backward(c->grad[0], c->grad[1], c->grad[2], c->aux2, c->proj, c->input[0], c->input[1], c->input[2],
                       c->aux, B, T, NH, KVH, HD);
}

static double swiglu_obj(op_case *c) {
    swiglu_forward(c->out, c->input[0], c->input[1], c->n_out);
    return project(c);
}
static void swiglu_bwd(op_case *c) { swiglu_backward(c->grad[0], c->grad[1], c->proj, c->input[0], c->input[1], c->n_out); }

static double residual_obj(op_case *c) {
    residual_forward(c->out, c->input[0], c->input[1], c->n_out);
    return project(c);
}
static void residual_bwd(op_case *c) { residual_backward(c->grad[0], c->grad[1], c->proj, c->n_out); }

/* The objective is the mean loss itself. */
static double xent_obj(op_case *c) {
    float *probs = zeros(N * V);
    double loss = crossentropy_forward(c->out, probs, c->input[0], c->tokens, N, V);
    free(probs);
    return loss;
}
static void xent_bwd(op_case *c) {
    float *probs = zeros(N * V);
    crossentropy_forward(c->out, probs, c->input[0], c->tokens, N, V);
    crossentropy_backward(c->grad[0], probs, c->tokens, 1.0f / N, N, V);
    free(probs);
}

/* Central differences of the objective in every input element against the backward. Returns
 * the worst over the inputs of max|fd - grad| / max|grad|. */
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
        CHECK(rel < 1e-3, "%s: gradient of %s off by %.3g relative", c->name, c->input_name[k], rel);
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
}

int main(void) {
    slm_rng_seed(&g_rng, 42);
    slm_set_threads(1);
    rope_tables(g_cos, g_sin, T, HD, 10000.0f);
    /* repeated tokens, so that the embedding backward adds several rows into one */
    int32_t tokens[N] = {1, 3, 3, 0, 6, 2, 1, 5, 4, 3};
    double worst = 0.0;

    op_case cases[8] = {
        {"embedding", 1, {"wte"}, {rand_array(V * C, -1, 1)}, {V * C}, {0}, zeros(N * C), rand_array(N * C, -1, 1),
         N * C, NULL, NULL, tokens, embed_obj, embed_bwd},
        {"rmsnorm", 2, {"inp", "weight"}, {rand_array(N * C, -2, 2), rand_array(C, 0.5f, 1.5f)}, {N * C, C}, {0},
         zeros(N * C), rand_array(N * C, -1, 1), N * C, zeros(N), NULL, NULL, rmsnorm_obj, rmsnorm_bwd},
        {"matmul", 2, {"inp", "weight"}, {rand_array(N * C, -1, 1), rand_array(OC * C, -1, 1)}, {N * C, OC * C}, {0},
         zeros(N * OC), rand_array(N * OC, -1, 1), N * OC, NULL, NULL, NULL, matmul_obj, matmul_bwd},
        {"rope", 1, {"x"}, {rand_array(N * QD, -1, 1)}, {N * QD}, {0}, zeros(N * QD), rand_array(N * QD, -1, 1),
         N * QD, NULL, NULL, NULL, rope_obj, rope_bwd},
        {"attention", 3, {"q", "k", "v"}, {rand_array(N * QD, -2, 2), rand_array(N * KVD, -2, 2), rand_array(N * KVD, -1, 1)},
         {N * QD, N * KVD, N * KVD}, {0}, zeros(N * QD), rand_array(N * QD, -1, 1), N * QD, zeros(B * NH * T * T),
         zeros(B * KVH * T * T), NULL, attention_obj, attention_bwd},
        {"swiglu", 2, {"gate", "up"}, {rand_array(N * C, -4, 4), rand_array(N * C, -1, 1)}, {N * C, N * C}, {0},
         zeros(N * C), rand_array(N * C, -1, 1), N * C, NULL, NULL, NULL, swiglu_obj, swiglu_bwd},
        {"residual", 2, {"a", "b"}, {rand_array(N * C, -1, 1), rand_array(N * C, -1, 1)}, {N * C, N * C}, {0},
         zeros(N * C), rand_array(N * C, -1, 1), N * C, NULL, NULL, NULL, residual_obj, residual_bwd},
        {"xentropy", 1, {"logits"}, {rand_array(N * V, -3, 3)}, {N * V}, {0}, zeros(N), NULL, N, NULL, NULL, tokens,
         xent_obj, xent_bwd},
    };
    for (int i = 0; i < 8; i++) {
        worst = fmax(worst, check_case(&cases[i]));
        free_case(&cases[i]);
    }
    printf("worst relative gradient error over all ops: %.2e\n", worst);

    /* the attention weights are a causal softmax: rows sum to one, zero above the diagonal */
    float *q = rand_array(N * QD, -1, 1), *k = rand_array(N * KVD, -1, 1), *v = rand_array(N * KVD, -1, 1);
    float *out = zeros(N * QD), *att = zeros(B * NH * T * T);
    attention_forward(out, att, q, k, v, B, T, NH, KVH, HD);
    int bad = 0;
    for (int r = 0; r < B * NH * T; r++) {
        const int t = r % T;
        double s = 0.0;
        for (int j = 0; j < T; j++) {
            s += att[r * T + j];
            if (j > t && att[r * T + j] != 0.0f) bad++;
        }
        if (fabs(s - 1.0) > 1e-5) bad++;
    }
    CHECK(bad == 0, "%d attention rows are not causal softmax rows", bad);
    free(q);
    free(k);
    free(v);
    free(out);
    free(att);
    return check_summary("test_train_grad");
}
