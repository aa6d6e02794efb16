/* model.h — a loaded model: hyper-parameters, weight views bound to the mapped file, the
 * tokenizer, the per-sequence forward state, and batches of rows of several sequences. One file per architecture (llama.c,
 * qwen2.c, gemma3.c) binds its tensors and writes its forward pass from the shared steps in
 * blocks.c; bind.c reads GGUF hyper-parameters and tensors; model.c picks the architecture. */
#ifndef SLM_MODELS_MODEL_H
#define SLM_MODELS_MODEL_H
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "slm.h"
#include "tensor/tensor.h"

typedef enum {
    ROPE_ADJACENT, /* rotate pairs (2i, 2i+1): Llama as GGUF stores it, llama2.c */
    ROPE_HALVES,   /* rotate pairs (i, i + head_dim/2): "NeoX" style, Qwen2, Gemma */
} rope_kind;

typedef enum {
    FFN_SILU,      /* down(silu(gate x) * up x) */
    FFN_GELU_TANH, /* down(gelu_tanh(gate x) * up x) */
} ffn_kind;

typedef struct {
    int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_ctx_train;
    float norm_eps;
    float rope_freq_base[2]; /* [0] for global layers, [1] for sliding-window layers */
    rope_kind rope;
    ffn_kind ffn;
    float embed_scale; /* the embedding is multiplied by this (Gemma: sqrt(n_embd)) */
    float attn_scale;  /* scores are q.k * attn_scale (usually 1/sqrt(head_dim)) */
} model_hparams;

typedef struct {
    slm_tensor attn_norm;             /* (n_embd) */
    slm_tensor wq;                    /* (n_head*head_dim rows, n_embd cols) */
    slm_tensor wk, wv;                /* (n_head_kv*head_dim, n_embd) */
    slm_tensor bq, bk, bv;            /* biases of q, k, v (Qwen2); data NULL when absent */
    slm_tensor q_norm, k_norm;        /* (head_dim) RMSNorm of each head (Gemma 3); or absent */
    slm_tensor wo;                    /* (n_embd, n_head*head_dim) */
    slm_tensor post_attn_norm;        /* (n_embd) after attention (Gemma); or absent */
    slm_tensor ffn_norm;              /* (n_embd) */
    slm_tensor w_gate, w_up;          /* (n_ff, n_embd) */
    slm_tensor w_down;                /* (n_embd, n_ff) */
    slm_tensor post_ffn_norm;         /* (n_embd) after the feed-forward (Gemma); or absent */
    int window;                       /* sliding-window length in tokens; 0 = attends to all */
    int rope_set;                     /* which rope_freq_base: 0 global, 1 sliding-window */
} model_layer;

typedef struct model_state model_state;
typedef struct model_batch model_batch;

struct slm_model {
    char *architecture;  /* owned */
    char *name;          /* owned */
    const char *file_format;
    model_hparams hp;
    slm_tensor tok_embd;    /* (n_vocab rows, n_embd cols) */
    slm_tensor output_norm; /* (n_embd) */
    slm_tensor output;      /* (n_vocab, n_embd); tok_embd when tied */
    model_layer *layers;    /* (n_layer) */
    slm_tokenizer *tokenizer;
    int is_gguf;
    gguf_file gguf;
    llama2c_checkpoint ckpt;
    /* the architecture's forward pass over a batch of rows of one or more sequences (at most
       MODEL_MAX_BATCH rows); each sequence that wants them gets its logits after its last row */
    slm_status (*forward)(const slm_model *m, const model_batch *b);
};

/* Rows evaluated together: a prompt is cut into batches of this many, and a batch of several
 * sequences holds at most this many rows in all. */
#define MODEL_MAX_BATCH 64

/* Activation buffers of one forward pass over up to MODEL_MAX_BATCH rows (whichever sequences
 * the rows belong to). */
typedef struct {
    float *x, *xb, *xb2;     /* (MODEL_MAX_BATCH, max(n_embd, n_head*head_dim)) */
    float *q;                /* (MODEL_MAX_BATCH, n_head*head_dim) */
    float *k, *v;            /* (MODEL_MAX_BATCH, n_head_kv*head_dim) before they go to the caches */
    float *hb, *hb2;         /* (MODEL_MAX_BATCH, n_ff) */
    float *rope_cos[2], *rope_sin[2]; /* (MODEL_MAX_BATCH, head_dim/2) per rope base, per row */
    float *rope_freq[2];     /* (head_dim/2) per rope base */
    void *scratch;           /* quantised activations for matmul (matmul_scratch_bytes) */
} model_workspace;

/* One sequence: its KV cache, its attention scores and logits, allocated once; and the
 * workspace of the batches it leads (a batch of several sequences borrows the workspace of
 * one of them, so a session costs the same memory alone or batched). */
struct model_state {
    int n_ctx;
    model_workspace work;
    float *att;              /* (n_head, n_ctx) attention weights, one row per head */
    float *logits;           /* (n_vocab) after the last row of the latest batch that wanted them */
    float *key_cache, *value_cache; /* (n_layer, n_ctx, n_head_kv*head_dim) */
    void *block;             /* the allocation behind the float buffers */
};

/* One sequence's share of a batch: n tokens at positions pos..pos+n-1 of its state. */
typedef struct {
    model_state *state;
    const int32_t *tokens;   /* (n) */
    int n, pos;
    int want_logits;         /* state->logits receives the logits after its last row */
} model_seq;

/* A batch: the rows of n_seqs distinct sequences one after another (seqs[0]'s n rows first),
 * n_rows in all (1..MODEL_MAX_BATCH), flowing through one workspace. Every weight matrix is
 * read once per batch; attention reads each row's own sequence's cache. */
struct model_batch {
    const model_seq *seqs;
    int n_seqs, n_rows;
    model_workspace *work;
};

/* Allocates the forward state for n_ctx positions. Caller frees with model_state_free. */
slm_status model_state_new(const slm_model *m, int n_ctx, model_state **out);
/* Frees a forward state (NULL is fine). */
void model_state_free(model_state *s);

/* ---- bind.c: GGUF hyper-parameters and tensors ---- */

/* Reads the hyper-parameters every architecture has (ARCH.embedding_length, ...) into m->hp,
 * with the defaults of a plain Llama for the architecture options. */
slm_status bind_hparams(slm_model *m, const char *arch);
/* Binds tensor `name` with shape (ne0) when ne1 == 0, else (ne1 rows, ne0 cols). A missing
 * tensor is an error when required, else leaves *t zeroed (data NULL). */
slm_status bind_tensor(slm_model *m, const char *name, int64_t ne0, int64_t ne1, int required, slm_tensor *t);
/* Binds token_embd, output_norm, output (tied to token_embd when absent) and each layer's
 * attention, feed-forward and norm tensors; q/k/v biases, per-head q/k norms and post-norms
 * are required when their flag is set and bound if present otherwise. Allocates m->layers. */
slm_status bind_standard_tensors(slm_model *m, int biases, int qk_norms, int post_norms);

/* ---- blocks.c: the steps forward passes are made of ---- */

/* Checks the batch (sizes, positions inside each context, token ids, distinct states) and
 * looks up (and scales) the embeddings of its tokens into work->x, with each row's RoPE angles. */
slm_status block_embed(const slm_model *m, const model_batch *b);
/* RMSNorm of n rows of n_embd floats from src into dst (which may alias) with weight w. */
void block_norm_rows(const slm_model *m, const slm_tensor *w, const float *src, float *dst, int n);
/* Self-attention of layer l for every row: reads the normed input work->xb, writes the
 * projected output to work->xb, and appends each row's k and v to its sequence's cache. */
void block_attention(const slm_model *m, const model_batch *b, int l);
/* Gated feed-forward of layer l: reads work->xb, writes work->xb, over every row. */
void block_ffn(const slm_model *m, const model_batch *b, int l);
/* work->x += work->xb over every row. */
void block_residual(const slm_model *m, const model_batch *b);
/* Final norm and the logits of the last row of each sequence that wants them, into its
 * state->logits: those rows go through the output matrix together. */
void block_logits(const slm_model *m, const model_batch *b);

/* ---- one file per architecture ---- */

/* Llama (llama.c): binds from GGUF, or from a llama2.c checkpoint. */
slm_status llama_bind_gguf(slm_model *m, const char *arch);
slm_status llama_bind_llama2c(slm_model *m);
/* The Llama forward pass over a batch, also used by Qwen2. */
slm_status llama_forward(const slm_model *m, const model_batch *b);
/* Qwen2 (qwen2.c): Llama with q/k/v biases and half-split RoPE. */
slm_status qwen2_bind_gguf(slm_model *m, const char *arch);
/* Gemma 3 (gemma3.c). */
slm_status gemma3_bind_gguf(slm_model *m, const char *arch);

#endif
