/* test_decoder_grad.c — finite-difference checks of the LoRA decoder fine-tuning engine
 * (src/train/decoder_train.c, decoder_ops.c, lora.c) on tiny random decoders: a Gemma-3-like
 * one (per-head q/k norms, post-norms, RoPE on halves, GELU-tanh gate, embedding scale, one
 * sliding-window layer and one global layer with their own RoPE bases) and a Llama/Qwen2-like
 * one (adjacent RoPE, SiLU gate, q/k/v biases). Every adapter and head parameter's gradient
 * must match central differences of the class-weighted loss; padding must not change it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "slm.h"
#include "train/decoder_train.h"

enum { B = 3, T = 6, V = 11, K = 3 };
static const int g_lens[B] = {6, 3, 1};
static const int32_t g_labels[B] = {2, 0, 1};
static const float g_class_w[K] = {0.5f, 1.0f, 2.0f};

static void fill(float *a, size_t n, float mean, float scale, slm_rng *rng) {
    for (size_t i = 0; i < n; i++) a[i] = mean + scale * (2.0f * slm_rng_f32(rng) - 1.0f);
}

/* A random model of cfg with every frozen weight drawn from seed and the adapters' B made
 * non-zero, so that every trainable has a gradient. */
static int make_model(decoder_model *m, const decoder_config *cfg, float *embd, uint64_t seed) {
    if (decoder_model_alloc(m, cfg, B, T, 1) != SLM_OK) return 0;
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    const decoder_config *c = cfg;
    fill(embd, (size_t)V * c->C, 0.0f, 1.0f, &rng);
    m->tok_embd = (slm_tensor){.name = "token_embd", .type = SLM_TYPE_F32, .n_dims = 2, .data = embd,
                               .row_bytes = sizeof(float) * (size_t)c->C};
    m->tok_embd.ne[0] = c->C, m->tok_embd.ne[1] = V, m->tok_embd.ne[2] = m->tok_embd.ne[3] = 1;
    fill(m->output_norm, (size_t)c->C, 1.0f, 0.2f, &rng);
    for (int l = 0; l < c->L; l++) {
        decoder_layer *L = &m->layers[l];
        fill(L->attn_norm, (size_t)c->C, 1.0f, 0.2f, &rng);
        fill(L->ffn_norm, (size_t)c->C, 1.0f, 0.2f, &rng);
        if (c->qk_norm) fill(L->q_norm, (size_t)c->hd, 1.0f, 0.2f, &rng), fill(L->k_norm, (size_t)c->hd, 1.0f, 0.2f, &rng);
        if (c->post_norms)
            fill(L->post_attn_norm, (size_t)c->C, 1.0f, 0.2f, &rng), fill(L->post_ffn_norm, (size_t)c->C, 1.0f, 0.2f, &rng);
        if (c->qkv_bias)
            for (int i = 0; i < 3; i++) fill(L->bias[i], (size_t)(i ? c->KVH : c->NH) * c->hd, 0.0f, 0.3f, &rng);
        for (int t = 0; t < LT_COUNT; t++) {
            int ic, oc;
            decoder_target_dims(c, t, &ic, &oc);
            fill(L->w[t], (size_t)ic * oc, 0.0f, 1.5f / sqrtf((float)ic), &rng);
        }
        L->window = l == 0 ? 3 : 0; /* layer 0 slides over 3 tokens, layer 1 sees everything */
        L->rope_set = l == 0 ? 1 : 0;
    }
    decoder_init_trainables(m, seed);
    for (int l = 0; l < c->L; l++)
        for (int t = 0; t < LT_COUNT; t++) {
            int ic, oc;
            decoder_target_dims(c, t, &ic, &oc);
            float *b = m->lora_b[(size_t)l * LT_COUNT + t];
            if (b) fill(b, (size_t)oc * c->rank, 0.0f, 0.5f, &rng);
        }
    fill(m->head_w, (size_t)K * c->C, 0.0f, 0.5f, &rng);
    fill(m->head_b, K, 0.0f, 0.5f, &rng);
    return 1;
}

static double loss_of(decoder_model *m, const int32_t *tokens) {
    return decoder_forward(m, tokens, g_lens, g_labels, g_class_w, B, T);
}

static void check_config(const char *name, const decoder_config *cfg, uint64_t seed) {
    decoder_model m;
    float *embd = malloc(sizeof(float) * (size_t)V * cfg->C);
    CHECK(make_model(&m, cfg, embd, seed), "%s: cannot build the model", name);
    if (!m.params_mem) return;
    int32_t tokens[B * T];
    slm_rng rng;
    slm_rng_seed(&rng, seed + 1);
    for (int i = 0; i < B * T; i++) tokens[i] = (int32_t)(slm_rng_u64(&rng) % V);
    memset(m.grads_mem, 0, sizeof(float) * m.n_params);
    const double loss = loss_of(&m, tokens);
    decoder_backward(&m, g_lens, g_labels, g_class_w, B, T, 1.0f);
    CHECK(isfinite(loss) && loss > 0, "%s: loss %g", name, loss);
    double max_err = 0.0, max_grad = 0.0;
    size_t zero = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        float *x = m.params_mem + i;
        const float orig = *x, h = 3e-3f * fmaxf(1.0f, fabsf(orig));
        *x = orig + h;
        const double lp = loss_of(&m, tokens);
        *x = orig - h;
        const double lm = loss_of(&m, tokens);
        *x = orig;
        const double fd = (lp - lm) / (2.0 * h), g = m.grads_mem[i];
        max_err = fmax(max_err, fabs(fd - g));
        max_grad = fmax(max_grad, fabs(g));
        zero += g == 0.0f;
    }
    const double rel = max_err / (max_grad > 0 ? max_grad : 1.0);
    printf("  %-8s %zu trainables: max|fd - grad| / max|grad| = %.2e (max|grad| %.3g, %zu exactly zero)\n", name,
           m.n_params, rel, max_grad, zero);
    CHECK(rel < 1e-3, "%s: gradients off by %.3g relative", name, rel);
    CHECK(zero < m.n_params / 50, "%s: %zu of %zu gradients are zero", name, zero, m.n_params);

    /* padding tokens (after each sequence's end) change neither the loss nor the logits */
    int32_t padded[B * T];
    memcpy(padded, tokens, sizeof padded);
    for (int b = 0; b < B; b++)
        for (int t = g_lens[b]; t < T; t++) padded[b * T + t] = (padded[b * T + t] + 5) % V;
    const double loss2 = loss_of(&m, padded);
    CHECK(loss2 == loss, "%s: padding changes the loss (%.9g vs %.9g)", name, loss2, loss);

    decoder_model_free(&m);
    free(embd);
}

int main(void) {
    slm_set_threads(2);
    decoder_config gemma = {.V = V, .C = 8, .F = 12, .L = 2, .NH = 2, .KVH = 1, .hd = 4, .eps = 1e-6f,
                            .embed_scale = sqrtf(8.0f), .attn_scale = 0.5f, .rope_base = {1e6f, 1e4f},
                            .rope_halves = 1, .gelu = 1, .qk_norm = 1, .post_norms = 1, .K = K, .rank = 2,
                            .alpha = 4.0f, .targets = (1u << LT_COUNT) - 1};
    check_config("gemma3", &gemma, 7);
    decoder_config llama = {.V = V, .C = 8, .F = 12, .L = 2, .NH = 4, .KVH = 2, .hd = 2, .eps = 1e-5f,
                            .embed_scale = 1.0f, .attn_scale = 1.0f / sqrtf(2.0f), .rope_base = {1e4f, 1e4f},
                            .qkv_bias = 1, .K = K, .rank = 3, .alpha = 3.0f, .targets = (1u << LT_COUNT) - 1};
    check_config("llama", &llama, 9);
    unsigned mask;
    CHECK(decoder_parse_targets("q,v", &mask) == SLM_OK && mask == ((1u << LT_Q) | (1u << LT_V)), "q,v");
    CHECK(decoder_parse_targets("all", &mask) == SLM_OK && mask == (1u << LT_COUNT) - 1, "all");
    CHECK(decoder_parse_targets("q,x", &mask) != SLM_OK, "an unknown target is an error");
    return check_summary("test_decoder_grad");
}
