/* decoder_train.h — a decoder (Llama, Qwen2, Gemma 3) with LoRA adapters and a linear
 * classification head on the final-normed state of each sequence's last real token, trainable
 * in f32 (decoder_train.c). The base stays frozen: its matrices are dequantised to f32 once,
 * its embedding rows are converted as they are looked up; only the adapters and the head take
 * gradients and AdamW moments. Legend as in ops.h; L = layers, Q = NH*hd, KV = KVH*hd,
 * K = classes, r = LoRA rank. */
#ifndef SLM_TRAIN_DECODER_TRAIN_H
#define SLM_TRAIN_DECODER_TRAIN_H
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "slm.h"
#include "tensor/tensor.h"
#include "train/lora.h"

/* The matrices LoRA can adapt, in a layer's order. */
enum { LT_Q, LT_K, LT_V, LT_O, LT_GATE, LT_UP, LT_DOWN, LT_COUNT };

/* The option name of target t ("q", "k", "v", "o", "gate", "up", "down"). */
const char *decoder_target_name(int t);
/* Parses a comma-separated list of target names ("q,v"; "all" for every one) into a bit mask
 * of 1 << LT_*; a bad name is an error naming it. */
slm_status decoder_parse_targets(const char *list, unsigned *mask);

typedef struct {
    int V, C, F, L, NH, KVH, hd;  /* vocabulary, channels, feed-forward, layers, heads, kv heads, head size */
    float eps;                    /* RMSNorm epsilon */
    float embed_scale;            /* the embedding rows are multiplied by this (Gemma: sqrt(C)) */
    float attn_scale;             /* scores are q.k * attn_scale */
    float rope_base[2];           /* [0] global layers, [1] sliding-window layers */
    int rope_halves;              /* RoPE pairs (i, i + hd/2); 0: adjacent pairs (2i, 2i+1) */
    int gelu;                     /* feed-forward gate gelu_tanh; 0: silu */
    int qk_norm;                  /* RMSNorm of each q and k head (Gemma 3) */
    int post_norms;               /* RMSNorm of the attention and feed-forward outputs (Gemma) */
    int qkv_bias;                 /* biases on q, k, v (Qwen2) */
    int K;                        /* classes of the head */
    int rank;                     /* LoRA rank r */
    float alpha;                  /* LoRA alpha: the adapters are scaled by alpha / r */
    unsigned targets;             /* bit mask of 1 << LT_* */
} decoder_config;

/* One layer's frozen weights (f32, owned by the model) and attention span. */
typedef struct {
    float *attn_norm, *ffn_norm;        /* (C) */
    float *q_norm, *k_norm;             /* (hd), or NULL without qk_norm */
    float *post_attn_norm, *post_ffn_norm; /* (C), or NULL without post_norms */
    float *bias[3];                     /* q (Q), k, v (KV) biases, or NULL without qkv_bias */
    float *w[LT_COUNT];                 /* (OC, IC) each: wq (Q, C), wk, wv (KV, C), wo (C, Q),
                                           w_gate, w_up (F, C), w_down (C, F) */
    int window;                         /* sliding window in tokens; 0: attends to all before */
    int rope_set;                       /* which rope_base: 0 global, 1 sliding-window */
} decoder_layer;

/* Activations saved by the forward pass of a (B, T) batch; L counts the layers kept (all when
 * training, one when only running forward: x then alternates between two slots). */
typedef struct {
    float *x;          /* (L+1, B, T, C) residual stream into each layer; x[L] leaves the last */
    float *h1;         /* (L, B, T, C) attention norm's output */
    float *rstd1;      /* (L, B, T) */
    float *q_raw;      /* (L, B, T, Q) before the per-head norm and RoPE */
    float *q_rstd;     /* (L, B, T, NH) */
    float *k_raw;      /* (L, B, T, KV) */
    float *k_rstd;     /* (L, B, T, KVH) */
    float *q, *k, *v;  /* (L, B, T, Q), (L, B, T, KV) x2: attention's inputs */
    float *att;        /* (L, B, NH, T, T) softmax weights */
    float *atty;       /* (L, B, T, Q) attention output, before Wo */
    float *o;          /* (L, B, T, C) Wo's output, before the post-attention norm */
    float *o_rstd;     /* (L, B, T) */
    float *xa;         /* (L, B, T, C) residual stream after attention */
    float *h2;         /* (L, B, T, C) feed-forward norm's output */
    float *rstd2;      /* (L, B, T) */
    float *gate, *up, *hact; /* (L, B, T, F) */
    float *dn;         /* (L, B, T, C) Wdown's output, before the post-feed-forward norm */
    float *dn_rstd;    /* (L, B, T) */
    float *xa_lora;    /* (L, LT_COUNT, B, T, r) inp · A^T of each adapter */
    float *tmp;        /* (B, T, C) a post-norm's output on its way into the residual */
    float *pooled_raw; /* (B, C) the last real token's state */
    float *pooled;     /* (B, C) after the final norm */
    float *pooled_rstd; /* (B) */
    float *probs;      /* (B, K) logits, then probabilities, then their gradient */
    float *rope_cos[2], *rope_sin[2]; /* (T, hd/2) per RoPE base */
} decoder_acts;

/* Gradients of activations during the backward pass: one layer's worth, reused. */
typedef struct {
    float *dx;         /* (B, T, C) the residual stream's gradient */
    float *dh;         /* (B, T, C) a norm output's gradient */
    float *dt;         /* (B, T, C) a post-norm input's gradient */
    float *dq, *dq_raw; /* (B, T, Q) */
    float *dk, *dk_raw, *dv; /* (B, T, KV) */
    float *datty;      /* (B, T, Q) */
    float *dgate, *dup, *dhact; /* (B, T, F) */
    float *scratch;    /* (B, KVH, T, T) attention backward's score gradients */
    float *lora_scratch; /* (B, T, r) */
    float *dnorm;      /* (max(C, hd)) gradients of frozen norm weights, thrown away */
    float *dpooled, *dpooled_raw; /* (B, C) */
} decoder_grad_acts;

/* A decoder being fine-tuned (or run): config, frozen weights, trainables, buffers for
 * batches up to (B, T). */
typedef struct {
    decoder_config cfg;
    int B, T;
    int n_slots;                /* layers whose activations are kept: L when training, 1 otherwise */
    slm_tensor tok_embd;        /* (V, C) any type; borrowed (the base model's mapping) */
    float *output_norm;         /* (C) */
    decoder_layer *layers;      /* (L) */
    float *frozen_mem;          /* the layers' weights and output_norm */
    size_t n_params;            /* trainable floats: adapters, then the head */
    float *params_mem, *grads_mem, *m_mem, *v_mem; /* grads, m, v NULL for inference */
    float **lora_a, **lora_b;   /* (L * LT_COUNT) each: A (r, IC), B (OC, r) or NULL (not a target) */
    float **lora_da, **lora_db; /* their gradients (NULL pointers for inference) */
    float *head_w, *head_b;     /* (K, C), (K) */
    float *head_dw, *head_db;
    decoder_acts acts;
    decoder_grad_acts gacts;
    float *acts_mem, *gacts_mem;
} decoder_model;

/* Input and output sizes of target t's matrix. */
void decoder_target_dims(const decoder_config *c, int t, int *IC, int *OC);
/* Reads a loaded decoder's hyper-parameters into cfg (K, rank, alpha and targets left 0). */
slm_status decoder_config_from_model(const slm_model *base, decoder_config *cfg);
/* Checks cfg and allocates the model for batches up to (B, T): frozen weights and trainables
 * zeroed; with training, gradients and AdamW moments too. */
slm_status decoder_model_alloc(decoder_model *m, const decoder_config *cfg, int B, int T, int training);
/* Frees the buffers (a zeroed model is fine). */
void decoder_model_free(decoder_model *m);
/* Copies base's weights into m (matrices dequantised to f32) and borrows its embedding: base
 * must outlive m. */
slm_status decoder_load_base(decoder_model *m, const slm_model *base);
/* Initialises the trainables from seed: each A as lora_init, B zero, the head zero (the
 * adapters take gradients from the second step on). */
void decoder_init_trainables(decoder_model *m, uint64_t seed);

/* Adds the adapters (blk.N.<matrix>.weight.lora_a (r, IC) / .lora_b (OC, r), llama.cpp's
 * names) and the head (cls.weight,
 * cls.bias) as f32 to a writer; the data is borrowed until it has written. */
slm_status decoder_add_tensors(const decoder_model *m, gguf_writer *w);
/* Reads the adapters and the head back from an open GGUF (shapes checked against m). */
slm_status decoder_load_trainables(decoder_model *m, const char *path, const gguf_file *f);

/* Forward pass of Bu <= B sequences of T tokens (row b padded after lens[b] tokens) up to the
 * logits in acts.probs (Bu, K); with labels, the class-weighted mean cross-entropy (w NULL:
 * unweighted), acts.probs then holding probabilities. Ids are checked by the caller. */
float decoder_forward(decoder_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                      int Bu, int T);
/* Backward pass after a forward with labels: adds dloss times the loss's gradient to the
 * gradients of the adapters and the head (the caller zeroes them between steps). */
void decoder_backward(decoder_model *m, const int *lens, const int32_t *labels, const float *w, int Bu, int T,
                      float dloss);
/* One optimiser step: zeroes the gradients, forward, backward, clips the global norm to clip
 * (<= 0: off), AdamW (betas 0.9, 0.999, eps 1e-8; weight decay wd on everything but the head's
 * bias) with learning rate lr as step t (1-based). Returns the loss; *grad_norm (may be NULL)
 * gets the norm before clipping. */
float decoder_train_step(decoder_model *m, const int32_t *tokens, const int *lens, const int32_t *labels,
                         const float *w, int Bu, int T, float lr, float wd, float clip, int t, float *grad_norm);

#endif
