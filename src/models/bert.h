/* bert.h — the BERT encoder family (BERT, MiniLM, BGE, ...): hyper-parameters, f32 weights
 * under llama.cpp's GGUF tensor names, loading from GGUF or a Hugging Face folder, and the
 * batched forward pass (post-LN blocks, bidirectional attention with a padding mask, GELU).
 * Legend: B sentences, T tokens per sentence (padded), E = n_embd, F = n_ff, H heads. */
#ifndef SLM_MODELS_BERT_H
#define SLM_MODELS_BERT_H
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef enum { BERT_POOL_NONE = 0, BERT_POOL_MEAN = 1, BERT_POOL_CLS = 2 } bert_pooling;

typedef struct {
    int n_vocab, n_embd, n_ff, n_layer, n_head;
    int n_ctx_train;    /* positions (max_position_embeddings) */
    int n_token_types;  /* rows of token_types (type_vocab_size) */
    float norm_eps;     /* LayerNorm epsilon */
    bert_pooling pooling;
    int max_seq_length; /* sentence-transformers' truncation length; 0: n_ctx_train */
} bert_hparams;

/* One weight: an f32 (ne1 rows, ne0 cols) matrix, or a vector when ne1 == 1. */
typedef struct {
    char *name;   /* GGUF name, e.g. "blk.0.attn_q.weight"; owned */
    int64_t ne0, ne1;
    float *data;  /* owned by the model's weight block */
} bert_tensor;

typedef struct {
    const float *wq, *bq, *wk, *bk, *wv, *bv; /* (E, E), (E) */
    const float *wo, *bo;                     /* attn_output: (E, E), (E) */
    const float *ln1_w, *ln1_b;               /* attn_output_norm: (E) */
    const float *w_up, *b_up;                 /* ffn_up: (F, E), (F) */
    const float *w_down, *b_down;             /* ffn_down: (E, F), (E) */
    const float *ln2_w, *ln2_b;               /* layer_output_norm: (E) */
} bert_layer;

typedef struct {
    bert_hparams hp;
    char *name;                 /* general.name or the folder's name; owned */
    bert_tensor *tensors;       /* n_tensors weights by GGUF name (owned) */
    int n_tensors;
    float *block;               /* the f32 data of all tensors */
    const float *tok_embd;      /* (n_vocab, E) */
    const float *type_embd;     /* (n_token_types, E) */
    const float *pos_embd;      /* (n_ctx_train, E) */
    const float *embd_ln_w, *embd_ln_b; /* token_embd_norm (E) */
    bert_layer *layers;         /* (n_layer) */
    slm_tokenizer *tokenizer;   /* owned */
} bert_model;

/* Loads a BERT model: a GGUF file of architecture "bert" (weights of any type slm reads,
 * converted to f32) or a Hugging Face folder (config.json, model.safetensors, tokenizer.json
 * or vocab.txt). Caller frees with bert_free. */
slm_status bert_load(const char *path, bert_model **out);
/* Loads from a Hugging Face folder (hf_bert.c). */
slm_status bert_load_hf(const char *dir, bert_model **out);
/* Releases a model (NULL is fine). */
void bert_free(bert_model *m);
/* The weight with this GGUF name, or NULL. Borrowed from the model. */
const bert_tensor *bert_find(const bert_model *m, const char *name);
/* Number of weight tensors a BERT has (5 + 16 per block). */
int bert_n_tensors(const bert_hparams *hp);
/* The name of weight i (0 .. bert_n_tensors-1) as GGUF (llama.cpp) writes it, or with hf set
 * as Hugging Face's BertModel names it (without a "bert." prefix). */
void bert_tensor_name(int i, char *buf, size_t cap, int hf);
/* Allocates the tensor table and the weight block for n tensors of the given shapes
 * (names copied), and binds the named pointers once the data is filled in (bert_bind). */
slm_status bert_alloc_tensors(bert_model *m, int n, char *const *names, const int64_t *ne0, const int64_t *ne1);
/* Points the layer and embedding fields at the tensors, checking every one is there with
 * the shape the hyper-parameters give. */
slm_status bert_bind(bert_model *m);

/* Scratch for bert_encode: activations for up to max_tokens = B*T tokens (allocated once). */
typedef struct bert_state bert_state;
/* Caller frees with bert_state_free. */
slm_status bert_state_new(const bert_model *m, int max_tokens, int max_seq, bert_state **out);
void bert_state_free(bert_state *s);

/* The encoder over B sentences padded to T tokens: tokens (B*T), lens[b] the real length of
 * sentence b (positions past it are padding, masked out as keys). hidden gets the last
 * hidden states, (B*T, E); it may be NULL to use the state's buffer, whose address is
 * returned in *out. Threaded on the process-wide pool; matmuls through OpenBLAS. */
slm_status bert_encode(const bert_model *m, bert_state *s, const int32_t *tokens, const int *lens, int B, int T,
                       const float **hidden);
/* Pools the hidden states (B*T, E) into (B, E): mean over each sentence's lens[b] tokens, or
 * its first token ([CLS]); then L2-normalises each row when normalize is set. */
void bert_pool(const float *hidden, const int *lens, int B, int T, int E, bert_pooling pooling, int normalize, float *out);

#endif
