/* bert_train.h — a BERT encoder with a classification head, trainable in f32 (bert_train.c):
 * parameters, gradients and activations each in one buffer with a struct of pointers, loading
 * from and saving to GGUF with llama.cpp's BERT tensor names, and the forward and backward
 * passes over a padded batch of variable-length sequences. Legend as in ops.h; L = layers,
 * P = positions, TY = token types, K = classes. */
#ifndef SLM_TRAIN_BERT_TRAIN_H
#define SLM_TRAIN_BERT_TRAIN_H
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "slm.h"

typedef enum { BERT_POOL_MEAN = 1, BERT_POOL_CLS = 2 } bert_pooling; /* llama.cpp's pooling_type ids */

typedef struct {
    int V, C, F, L, NH, hd, P, TY; /* vocabulary, channels, feed-forward, layers, heads, head size,
                                      positions, token types */
    int K;                         /* classes of the head */
    float eps;                     /* LayerNorm epsilon */
    int pooling;                   /* bert_pooling */
    int per_token;                 /* 1: the head reads every token's state (token classification:
                                      logits (B, T, K), labels per token, -1 ignored); 0: the pooled
                                      vector (sequence classification) */
} bert_config;

/* The parameter tensors, in buffer order. */
enum {
    BP_TOK_EMBD, BP_POS_EMBD, BP_TYPE_EMBD, BP_EMB_NORM_W, BP_EMB_NORM_B,
    BP_WQ, BP_BQ, BP_WK, BP_BK, BP_WV, BP_BV, BP_WO, BP_BO, BP_LN1_W, BP_LN1_B,
    BP_W_UP, BP_B_UP, BP_W_DOWN, BP_B_DOWN, BP_LN2_W, BP_LN2_B,
    BP_CLS_W, BP_CLS_B, BP_COUNT
};

/* Pointers into one buffer of parameters (or gradients, or an optimiser moment). */
typedef struct {
    float *tok_embd;   /* (V, C) */
    float *pos_embd;   /* (P, C) */
    float *type_embd;  /* (TY, C) */
    float *emb_norm_w, *emb_norm_b; /* (C) each */
    float *wq, *bq;    /* (L, C, C), (L, C) */
    float *wk, *bk;
    float *wv, *bv;
    float *wo, *bo;
    float *ln1_w, *ln1_b; /* (L, C): attn_output_norm */
    float *w_up, *b_up;   /* (L, F, C), (L, F) */
    float *w_down, *b_down; /* (L, C, F), (L, C) */
    float *ln2_w, *ln2_b; /* (L, C): layer_output_norm */
    float *cls_w, *cls_b; /* (K, C), (K) */
} bert_params;

/* Activations saved by the forward pass of a (B, T) batch. */
typedef struct {
    float *emb;        /* (B, T, C) embedding sum before its LayerNorm */
    float *emb_mean, *emb_rstd; /* (B, T) */
    float *x;          /* (L+1, B, T, C) input of each layer; x[L] is the encoder's output */
    float *q, *k, *v;  /* (L, B, T, C) */
    float *att;        /* (L, B, NH, T, T) */
    float *atty;       /* (L, B, T, C) attention output before Wo */
    float *res1;       /* (L, B, T, C) x + Wo atty + bo, before attn_output_norm */
    float *ln1_mean, *ln1_rstd; /* (L, B, T) */
    float *h;          /* (L, B, T, C) attn_output_norm's output */
    float *up;         /* (L, B, T, F) before GELU */
    float *act;        /* (L, B, T, F) after GELU */
    float *res2;       /* (L, B, T, C) h + Wdown act + bdown, before layer_output_norm */
    float *ln2_mean, *ln2_rstd; /* (L, B, T) */
    float *pooled;     /* (B, C) */
    float *probs;      /* (B, K) logits, then probabilities, then their gradient; (B, T, K) with
                          cfg.per_token */
    /* dropout masks (0 or 1 / (1 - p)), used only while m->dropout > 0 */
    float *emb_drop;   /* (B, T, C) on the embeddings' LayerNorm output */
    float *attn_drop;  /* (L, B, T, C) on the attention block's output, before the residual add */
    float *ffn_drop;   /* (L, B, T, C) on the feed-forward block's output, before the residual add */
    float *pool_drop;  /* (B, C) on the pooled vector, before the head */
} bert_acts;

/* Gradients of activations during the backward pass (one layer's worth, reused). */
typedef struct {
    float *dx;       /* (B, T, C) gradient of the current layer's output / input */
    float *dres;     /* (B, T, C) gradient of a residual sum */
    float *dh;       /* (B, T, C) */
    float *datty;    /* (B, T, C) */
    float *dq, *dk, *dv; /* (B, T, C) */
    float *dup;      /* (B, T, F) */
    float *dact;     /* (B, T, F) */
    float *dpooled;  /* (B, C) */
    float *dtmp;     /* (B, T, C) a block output's gradient through its dropout */
    float *scratch;  /* (B, NH, T) */
} bert_grad_acts;

/* A BERT being trained (or run): config, sizes, buffers for batches up to (B, T). */
typedef struct {
    bert_config cfg;
    int B, T;                 /* the largest batch the activations hold */
    size_t sizes[BP_COUNT];
    size_t n_params;          /* floats in each of params, grads, m, v */
    bert_params params, grads;
    float *params_mem, *grads_mem, *m_mem, *v_mem; /* grads, m, v are NULL for inference */
    bert_acts acts;
    bert_grad_acts gacts;
    float *acts_mem, *gacts_mem;
    float dropout;            /* hidden dropout probability of training forward passes; 0: off */
    uint64_t dropout_seed;    /* the masks of a forward pass are drawn from this seed (set per step) */
    int freeze_tok_embd;      /* the word embeddings (V, C) take no gradient and no update */
} bert_model;

/* The pointers of p as an array in BP_* order. */
float **bert_param_array(bert_params *p);
/* Whether parameter tensor i (BP_*) is a matrix that takes weight decay (not biases, norms). */
int bert_param_decays(int i);
/* Checks cfg and allocates the buffers for batches up to (B, T); with training, gradients and
 * AdamW moments too. Parameters zeroed. */
slm_status bert_model_alloc(bert_model *m, const bert_config *cfg, int B, int T, int training);
/* Frees the buffers (a zeroed model is fine). */
void bert_model_free(bert_model *m);
/* Initialises the head: cls_w normal(0, 0.02) from seed, cls_b zero. */
void bert_model_init_head(bert_model *m, uint64_t seed);

/* Reads the encoder's hyper-parameters (bert.* keys) from an open GGUF into cfg (K and pooling
 * left as 0 / the file's pooling_type, mean when absent). */
slm_status bert_config_from_gguf(const char *path, const gguf_file *f, bert_config *cfg);
/* Copies the encoder's tensors (any stored type, converted to f32) from an open GGUF, and the
 * head's (cls.weight, cls.bias) when with_head; shapes are checked against m's config. */
slm_status bert_load_weights(bert_model *m, const char *path, const gguf_file *f, int with_head);
/* Adds the model's tensors (encoder and head, f32, llama.cpp names) to a GGUF writer; the
 * data is borrowed from m until the writer has written. */
slm_status bert_add_tensors(const bert_model *m, gguf_writer *w);

/* Forward pass of Bu <= B sequences of T tokens (row b padded after lens[b] tokens; dropout
 * when m->dropout > 0, its masks drawn from m->dropout_seed), up to the
 * logits in acts.probs (Bu, K); with labels, the class-weighted mean cross-entropy (w NULL:
 * unweighted), acts.probs then holding probabilities. Ids are checked by the caller.
 * With cfg.per_token the logits are (Bu, T, K), labels (Bu * T) one per token (row b, position
 * t at b * T + t; -1: not in the loss, e.g. padding and continuation pieces), the loss the mean
 * over the labelled tokens, and the pooled-vector dropout is not used. */
float bert_forward(bert_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                   int Bu, int T);
/* Backward pass after a forward with labels: adds dloss times the loss's gradient to the
 * parameter gradients (the caller zeroes them between steps). */
void bert_backward(bert_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                   int Bu, int T, float dloss);

/* One optimiser step on a batch (the word embeddings left out when m->freeze_tok_embd):
 * zeroes the gradients, forward, backward, clips the global
 * gradient norm to clip (<= 0: no clipping), then AdamW (betas 0.9, 0.999, eps 1e-8, weight
 * decay wd on the matrices only) with learning rate lr as step t (1-based). Returns the loss;
 * *grad_norm (may be NULL) gets the norm before clipping. */
float bert_train_step(bert_model *m, const int32_t *tokens, const int *lens, const int32_t *labels, const float *w,
                      int Bu, int T, float lr, float wd, float clip, int t, float *grad_norm);

#endif
