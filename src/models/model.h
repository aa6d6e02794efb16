/* model.h — a loaded model: hyper-parameters, weight views bound to the mapped file, the
 * tokenizer, and the per-sequence forward state. One file per architecture implements the
 * binding and the forward pass; model.c picks the architecture and the file format. */
#ifndef SLM_MODELS_MODEL_H
#define SLM_MODELS_MODEL_H
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "slm.h"
#include "tensor/tensor.h"

typedef struct {
    int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_ctx_train;
    float rope_freq_base, norm_eps;
} model_hparams;

typedef struct {
    slm_tensor attn_norm;           /* (n_embd) */
    slm_tensor wq;                  /* (n_head*head_dim rows, n_embd cols) */
    slm_tensor wk, wv;              /* (n_head_kv*head_dim, n_embd) */
    slm_tensor wo;                  /* (n_embd, n_head*head_dim) */
    slm_tensor ffn_norm;            /* (n_embd) */
    slm_tensor w_gate, w_up;        /* (n_ff, n_embd) */
    slm_tensor w_down;              /* (n_embd, n_ff) */
} llama_layer;

typedef struct model_state model_state;

struct slm_model {
    char *architecture;  /* owned */
    char *name;          /* owned */
    const char *file_format;
    model_hparams hp;
    slm_tensor tok_embd;    /* (n_vocab rows, n_embd cols) */
    slm_tensor output_norm; /* (n_embd) */
    slm_tensor output;      /* (n_vocab, n_embd); tok_embd when tied */
    llama_layer *layers;    /* (n_layer) */
    slm_tokenizer *tokenizer;
    int is_gguf;
    gguf_file gguf;
    llama2c_checkpoint ckpt;
    /* the architecture's forward pass over n tokens at positions pos.. pos+n-1 (n at most
       MODEL_MAX_BATCH); *logits receives the logits after the last token */
    slm_status (*forward)(const slm_model *m, model_state *s, const int32_t *tokens, int n, int pos, float **logits);
};

/* Tokens evaluated together (a prompt is cut into batches of this many). */
#define MODEL_MAX_BATCH 64

/* Buffers and KV cache of one sequence, allocated once. Per-token buffers hold up to
 * MODEL_MAX_BATCH rows. */
struct model_state {
    int n_ctx;
    float *x, *xb, *xb2;     /* (MODEL_MAX_BATCH, n_embd) */
    float *q;                /* (MODEL_MAX_BATCH, n_head*head_dim) */
    float *hb, *hb2;         /* (MODEL_MAX_BATCH, n_ff) */
    float *att;              /* (n_head, n_ctx) attention weights, one row per head */
    float *logits;           /* (n_vocab) */
    float *rope_cos, *rope_sin; /* (MODEL_MAX_BATCH, head_dim/2) for the batch's positions */
    float *rope_freq;        /* (head_dim/2) */
    float *key_cache, *value_cache; /* (n_layer, n_ctx, n_head_kv*head_dim) */
    void *block;             /* the one allocation behind all of the above */
};

/* Allocates the forward state for n_ctx positions. Caller frees with model_state_free. */
slm_status model_state_new(const slm_model *m, int n_ctx, model_state **out);
/* Frees a forward state (NULL is fine). */
void model_state_free(model_state *s);

/* Binds a llama-architecture model from GGUF metadata and tensors. */
slm_status llama_bind_gguf(slm_model *m, const char *arch);
/* Binds a llama-architecture model from a llama2.c checkpoint. */
slm_status llama_bind_llama2c(slm_model *m);
/* The llama forward pass (RMSNorm, RoPE, grouped-query attention, SwiGLU) over a batch. */
slm_status llama_forward(const slm_model *m, model_state *s, const int32_t *tokens, int n, int pos, float **logits);

#endif
