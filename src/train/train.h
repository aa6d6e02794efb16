/* train.h — the training engine's internals: a Llama's parameters, gradients and activations,
 * each in one buffer with a struct of pointers into it (llama_train.c: init, forward,
 * backward), AdamW with its schedule and clipping (adamw.c), and the slm_trainer behind the
 * public API (trainer.c). Legend of shapes as in ops.h; L = layers, Q = NH*hd, KV = KVH*hd. */
#ifndef SLM_TRAIN_TRAIN_H
#define SLM_TRAIN_TRAIN_H
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* The architecture: a Llama as slm's inference runs it (RMSNorm, RoPE on adjacent pairs,
 * grouped-query causal attention, SwiGLU, tied or untied output). */
typedef struct {
    int V, C, F, L, NH, KVH, hd; /* vocabulary, channels, feed-forward, layers, heads, kv heads, head size */
    int n_ctx;                   /* context length written to saved files */
    float norm_eps, rope_base;
    int tied;                    /* the output matrix is tok_embd */
} train_config;

/* The parameter tensors, in buffer order. */
enum {
    TP_TOK_EMBD, TP_ATTN_NORM, TP_WQ, TP_WK, TP_WV, TP_WO, TP_FFN_NORM, TP_W_GATE, TP_W_UP, TP_W_DOWN,
    TP_OUTPUT_NORM, TP_OUTPUT, TP_COUNT
};

/* Pointers into one buffer of parameters (or of their gradients, or of an optimiser moment). */
typedef struct {
    float *tok_embd;    /* (V, C) */
    float *attn_norm;   /* (L, C) */
    float *wq;          /* (L, Q, C) */
    float *wk;          /* (L, KV, C) */
    float *wv;          /* (L, KV, C) */
    float *wo;          /* (L, C, Q) */
    float *ffn_norm;    /* (L, C) */
    float *w_gate;      /* (L, F, C) */
    float *w_up;        /* (L, F, C) */
    float *w_down;      /* (L, C, F) */
    float *output_norm; /* (C) */
    float *output;      /* (V, C); points at tok_embd when tied (no storage of its own) */
} train_params;

/* Number of floats of each parameter tensor (TP_OUTPUT is 0 when tied). */
void train_param_sizes(const train_config *cfg, size_t sizes[TP_COUNT]);
/* Points p's tensors into mem (laid out in TP_* order with the sizes above). */
void train_param_point(const train_config *cfg, train_params *p, float *mem);
/* The tensors of p as an array in TP_* order. */
float **train_param_array(train_params *p);

/* Activations saved by the forward pass of a (B, T) batch. */
typedef struct {
    float *x;        /* (L+1, B, T, C) residual stream into each layer; x[L] enters the final norm */
    float *ln1;      /* (L, B, T, C) attention norm's output */
    float *ln1_rstd; /* (L, B, T) */
    float *q;        /* (L, B, T, Q) after RoPE */
    float *k;        /* (L, B, T, KV) after RoPE */
    float *v;        /* (L, B, T, KV) */
    float *att;      /* (L, B, NH, T, T) softmax weights */
    float *atty;     /* (L, B, T, Q) attention output, before Wo */
    float *xa;       /* (L, B, T, C) residual stream after attention */
    float *ln2;      /* (L, B, T, C) feed-forward norm's output */
    float *ln2_rstd; /* (L, B, T) */
    float *gate;     /* (L, B, T, F) */
    float *up;       /* (L, B, T, F) */
    float *hact;     /* (L, B, T, F) silu(gate) * up */
    float *lnf;      /* (B, T, C) final norm's output */
    float *lnf_rstd; /* (B, T) */
    float *probs;    /* (B, T, V) logits, then probabilities, then their gradient */
    float *losses;   /* (B, T) */
    float *rope_cos; /* (T, hd/2) */
    float *rope_sin; /* (T, hd/2) */
} train_acts;

/* Gradients of activations during the backward pass: one layer's worth, reused layer after
 * layer, with the residual stream's gradient carried down in dx. */
typedef struct {
    float *dx;      /* (B, T, C) */
    float *dln;     /* (B, T, C) gradient of a norm's output */
    float *datty;   /* (B, T, Q) */
    float *dq;      /* (B, T, Q) */
    float *dk;      /* (B, T, KV) */
    float *dv;      /* (B, T, KV) */
    float *dgate;   /* (B, T, F) */
    float *dup;     /* (B, T, F) */
    float *dhact;   /* (B, T, F) */
    float *scratch; /* (B, KVH, T, T): attention backward's score gradients */
} train_grad_acts;

/* Floats of the activations (and of the activation gradients) for batches up to (B, T). */
size_t train_acts_floats(const train_config *cfg, int B, int T);
size_t train_grad_acts_floats(const train_config *cfg, int B, int T);
/* Points the structs into their buffers and fills the RoPE tables. */
void train_acts_point(const train_config *cfg, int B, int T, train_acts *a, float *mem);
void train_grad_acts_point(const train_config *cfg, int B, int T, train_grad_acts *g, float *mem);

/* A model being trained: the config, its sizes and all its buffers. */
typedef struct {
    train_config cfg;
    int B, T;                 /* the largest batch the activations hold */
    size_t sizes[TP_COUNT];
    size_t n_params;          /* floats in each of params, grads, m, v */
    train_params params, grads;
    float *params_mem, *grads_mem, *m_mem, *v_mem; /* (n_params) each */
    train_acts acts;
    train_grad_acts gacts;
    float *acts_mem, *gacts_mem;
} train_model;

/* Checks the config and allocates every buffer for batches up to (B, T); parameters zeroed. */
slm_status train_model_alloc(train_model *m, const train_config *cfg, int B, int T);
/* Frees the buffers (a zeroed model is fine). */
void train_model_free(train_model *m);
/* Fills the parameters: normal(0, 0.02) for matrices, 0.02 / sqrt(2 L) for the projections
 * into the residual stream (wo, w_down), ones for the norms. */
void train_model_init(train_model *m, uint64_t seed);
/* Forward pass of B_used <= B sequences of T tokens; with targets, the mean loss over them
 * (probabilities kept for the backward), else only the logits in acts.probs. Ids are checked
 * by the caller. */
float train_model_forward(train_model *m, const int32_t *tokens, const int32_t *targets, int B_used);
/* Backward pass after a forward with targets: adds the gradient of dloss * sum(losses) to the
 * parameter gradients (the caller zeroes them between optimiser steps). */
void train_model_backward(train_model *m, const int32_t *tokens, const int32_t *targets, int B_used, float dloss);

/* ---- trainer.c ---- */

struct slm_trainer {
    train_model model;
    slm_train_params p;
    int step;            /* optimiser steps taken */
    char *name;          /* general.name of saved files; owned */
    slm_tokenizer *tok;  /* the loaded file's tokenizer, or NULL; owned */
};

/* One parameter tensor as saved: its GGUF name, its data and gradient, and its shape (rows 0
 * for a vector). Layered tensors are split into one per layer. */
typedef struct {
    char name[64];
    float *param, *grad;
    int64_t rows, cols;
} trainer_tensor;

/* Number of saved tensors (2 + 9 per layer, + 1 when untied). */
int trainer_n_tensors(const slm_trainer *t);
/* Describes saved tensor i (in file order: token_embd, blk.0.*, ..., output_norm, output). */
void trainer_get_tensor(const slm_trainer *t, int i, trainer_tensor *out);
/* Zeroes the gradients, then runs forward and backward over the grad_accum micro-batches of
 * tokens/targets (ids checked here), leaving the gradient of the mean loss; *loss gets it. */
slm_status trainer_compute_grads(slm_trainer *t, const int32_t *tokens, const int32_t *targets, float *loss);

/* Builds a GGUF writer holding the model as slm_trainer_save writes it (tok NULL: the trainer's
 * own). The caller writes it, then frees *out (gguf_writer_free) and *vocab_keep (free). */
struct gguf_writer;
slm_status trainer_writer(const slm_trainer *t, const slm_tokenizer *tok, struct gguf_writer **out, void **vocab_keep);

/* ---- adamw.c ---- */

/* The learning rate of optimiser step `step` (0-based): linear warmup to lr over
 * warmup_steps, then a cosine to min_lr at total_steps (constant when total_steps <= 0). */
float train_lr_at(const slm_train_params *p, int step);
/* The global L2 norm of n gradients (summed in double, by threads). */
float train_grad_norm(const float *g, size_t n);
/* One AdamW update of n parameters with step number t (1-based, for the bias correction):
 * m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g'^2 with g' = g * grad_scale, then
 * p = p (1 - lr wd) - lr m^ / (sqrt(v^) + eps). */
void train_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                 float eps, float weight_decay, float grad_scale, int t);

#endif
