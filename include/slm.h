/*
 * slm.h — the one public header of libslm: run, inspect, convert and train small language models.
 *
 * Overview
 *   A model file (GGUF, or a llama2.c checkpoint plus its tokenizer) is opened with
 *   slm_model_load(); the weights are mmap'd, never copied. A session (slm_session) owns the
 *   KV cache for one sequence and evaluates tokens; a sampler (slm_sampler) picks the next
 *   token from the logits. slm_generate() strings these together, streaming text through a
 *   callback. A trainer (slm_trainer) trains a Llama in f32 and saves GGUF files that
 *   slm_model_load reads. Every function that can fail returns an slm_status; on failure
 *   slm_last_error() gives a message naming the file and the field at fault.
 *
 * Worked example (error checks shortened):
 *
 *     slm_model *model;
 *     if (slm_model_load("stories260K.bin", &(slm_model_params){ .tokenizer_path = "tok512.bin" },
 *                        &model) != SLM_OK) { fprintf(stderr, "%s\n", slm_last_error()); return 1; }
 *     slm_session *session;
 *     slm_session_new(model, NULL, &session);
 *     slm_generate_params gp = slm_generate_defaults();
 *     gp.sampling.temperature = 0.0f;
 *     slm_generate(session, "Once upon a time", &gp, print_piece, NULL, NULL);
 *     slm_session_free(session);
 *     slm_model_free(model);
 *
 * Memory: objects returned through `**out` parameters are owned by the caller and released with
 * the matching *_free function; buffers documented as "free with slm_free" are plain heap memory.
 * Strings returned as `const char *` are borrowed from the object they came from.
 * Threads: the library keeps one worker pool per process (slm_set_threads). Handles are not
 * thread-safe; use one session per thread.
 */
#ifndef SLM_H
#define SLM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status and errors */

typedef enum {
    SLM_OK = 0,
    SLM_ERR_INVALID_ARG = 1, /* a caller passed a bad value */
    SLM_ERR_IO = 2,          /* a file could not be opened, read, mapped or written */
    SLM_ERR_FORMAT = 3,      /* a file is malformed, truncated or inconsistent */
    SLM_ERR_UNSUPPORTED = 4, /* a valid file uses something slm does not implement */
    SLM_ERR_NOMEM = 5,       /* an allocation failed */
    SLM_ERR_RANGE = 6,       /* a value is out of range (token id, context length, ...) */
} slm_status;

/* The message of the last failure on this thread (never NULL; "" when none). Borrowed. */
const char *slm_last_error(void);
/* A short constant name for a status code, e.g. "format error". Borrowed, static. */
const char *slm_status_name(slm_status status);
/* Frees a buffer that the library handed to the caller (token arrays, decoded text). */
void slm_free(void *ptr);
/* The library version as "MAJOR.MINOR.PATCH". Static. */
const char *slm_version(void);
/* The CPU kernels in use: "avx2+avx512vnni", "avx2+avx512", "avx2" or "scalar" (SLM_NO_SIMD=1 and
 * SLM_NO_AVX512=1 step down). Static. */
const char *slm_kernels_name(void);

/* ------------------------------------------------------------------ process-wide settings */

/* Sets the size of the process-wide worker pool (n <= 0: number of physical cores). */
slm_status slm_set_threads(int n_threads);
/* The size of the worker pool that kernels use now. */
int slm_get_threads(void);
/* The number of physical cores of this machine (at least 1). */
int slm_physical_cores(void);
/* The process's peak resident set size so far, in bytes. */
size_t slm_peak_rss_bytes(void);
/* A monotonic clock in seconds, for timing. */
double slm_time_seconds(void);

/* ------------------------------------------------------------------ tokenizer */

typedef struct slm_tokenizer slm_tokenizer;

/* Loads a tokenizer from a GGUF file (tokenizer.ggml.* metadata; vocabulary-only files work),
 * a llama2.c tokenizer.bin, or a Hugging Face BERT folder (tokenizer.json or vocab.txt). The caller owns *out; free with slm_tokenizer_free. */
slm_status slm_tokenizer_load(const char *path, slm_tokenizer **out);
/* Releases a tokenizer loaded with slm_tokenizer_load (NULL is fine). */
void slm_tokenizer_free(slm_tokenizer *tok);
/* Number of tokens in the vocabulary. */
int slm_vocab_size(const slm_tokenizer *tok);
/* Beginning-of-sequence token id, or -1 when the vocabulary has none. */
int slm_token_bos(const slm_tokenizer *tok);
/* End-of-sequence token id, or -1 when the vocabulary has none. */
int slm_token_eos(const slm_tokenizer *tok);
/* The stored text of a token (SentencePiece's "▁" marks a space), or NULL if id is out of range.
 * Borrowed from the tokenizer. */
const char *slm_token_text(const slm_tokenizer *tok, int id);

/* Whether the vocabulary asks for BOS at the start of a text (tokenizer.ggml.add_bos_token). */
int slm_tokenizer_adds_bos(const slm_tokenizer *tok);

/* Options for slm_tokenize. */
typedef struct {
    int add_bos;       /* prepend the BOS token (when the vocabulary has one) */
    int parse_special; /* recognise control tokens such as "<s>" written in the text */
} slm_tokenize_options;

/* Encodes len bytes of text (any bytes: invalid UTF-8 is handled as SentencePiece does).
 * *ids is a new array of *n_ids token ids owned by the caller (free with slm_free). */
slm_status slm_tokenize(const slm_tokenizer *tok, const char *text, size_t len,
                        const slm_tokenize_options *opts, int32_t **ids, size_t *n_ids);
/* Decodes token ids to text: for SentencePiece vocabularies as its decoder does (dummy-prefix
 * space removed, byte tokens joined, invalid UTF-8 as U+FFFD), for byte-level BPE the raw
 * bytes; control tokens are skipped. *text is NUL-terminated, owned by the caller (free with
 * slm_free); *len excludes the NUL. */
slm_status slm_detokenize(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids,
                          char **text, size_t *len);
/* Writes the bytes that token `id` adds to a stream when it follows token `prev` (-1 at the
 * start): spaces restored, byte tokens as raw bytes, control tokens as nothing. Returns the
 * number of bytes written to buf (at most cap), or -1 if id is out of range. */
int slm_token_to_bytes(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap);

/* ------------------------------------------------------------------ tokenizer training */

/* The kinds of tokenizer slm_tokenizer_train makes. */
typedef enum {
    SLM_TOKENIZER_BPE = 0, /* byte-level BPE, GPT-2 style: GPT-2's pre-tokenizer, 256 byte tokens,
                              merges (a tokenizer.ggml.model "gpt2" vocabulary) */
    SLM_TOKENIZER_SPM = 1, /* SentencePiece-style BPE over characters, "▁" for spaces, byte
                              fallback for rare characters (a tokenizer.ggml.model "llama" one) */
} slm_tokenizer_type;

/* Reports the progress of a long operation: stage names the step ("counting", "merging"),
 * done out of total units of it. */
typedef void (*slm_progress_fn)(const char *stage, double done, double total, void *user);

/* Settings for slm_tokenizer_train. */
typedef struct {
    slm_tokenizer_type type;      /* default SLM_TOKENIZER_BPE */
    int vocab_size;               /* tokens in the result, special and byte tokens included
                                     (default 32000); fewer when the text runs out of pairs */
    const char *const *specials;  /* n_specials special tokens (borrowed): control tokens that
                                     split the text, never merge, and take the first ids */
    int n_specials;
    double character_coverage;    /* SPM: share of character occurrences that get a piece
                                     (default 0.9995); the rarest go through byte tokens */
    slm_progress_fn progress;     /* may be NULL */
    void *progress_user;
} slm_tokenizer_train_params;

/* What a training run saw and did. */
typedef struct {
    uint64_t n_bytes;        /* bytes of text read */
    uint64_t n_words;        /* distinct pre-tokens (BPE) or words (SPM) counted */
    int n_merges;            /* merges learned (a merge can give a token that already exists) */
    int n_chars;             /* SPM: characters kept as pieces */
    double count_seconds;    /* reading and counting */
    double merge_seconds;    /* merging */
} slm_tokenizer_train_stats;

/* The default training settings. */
slm_tokenizer_train_params slm_tokenizer_train_defaults(void);
/* Trains a tokenizer on n_paths text files, read in chunks and counted on the process-wide
 * worker pool (the result does not depend on the number of threads). The caller owns *out
 * (slm_tokenizer_free); stats may be NULL. */
slm_status slm_tokenizer_train(const char *const *paths, size_t n_paths,
                               const slm_tokenizer_train_params *params, slm_tokenizer **out,
                               slm_tokenizer_train_stats *stats);
/* Trains a tokenizer on len bytes of text in memory, as slm_tokenizer_train does on a file. */
slm_status slm_tokenizer_train_text(const char *text, size_t len,
                                    const slm_tokenizer_train_params *params,
                                    slm_tokenizer **out, slm_tokenizer_train_stats *stats);
/* Writes a tokenizer as a vocabulary-only GGUF file (tokenizer.ggml.* metadata, in llama.cpp's
 * layout) that slm_tokenizer_load reads. */
slm_status slm_tokenizer_save(const slm_tokenizer *tok, const char *path);

/* ------------------------------------------------------------------ model */

typedef struct slm_model slm_model;

/* Options for slm_model_load. */
typedef struct {
    const char *tokenizer_path; /* tokenizer for llama2.c checkpoints (NULL: tokenizer.bin or
                                   tok<vocab>.bin beside the checkpoint); ignored for GGUF */
} slm_model_params;

/* Loads a model: a GGUF file or a llama2.c .bin checkpoint. Weights are mmap'd.
 * params may be NULL. The caller owns *out; free with slm_model_free. */
slm_status slm_model_load(const char *path, const slm_model_params *params, slm_model **out);
/* Releases a model (NULL is fine). Sessions made from it must be freed first. */
void slm_model_free(slm_model *model);
/* The model's tokenizer, or NULL if it has none. Borrowed from the model. */
const slm_tokenizer *slm_model_tokenizer(const slm_model *model);

/* Hyper-parameters and sizes of a loaded model. */
typedef struct {
    const char *architecture; /* e.g. "llama"; borrowed from the model */
    const char *name;         /* general.name or the file name; borrowed */
    const char *file_format;  /* "gguf" or "llama2.c" */
    int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_ctx_train;
    float rope_freq_base, norm_eps;
    int64_t n_params;         /* number of weights */
    size_t weight_bytes;      /* bytes of weight data */
} slm_model_info;

/* Fills *info with the model's hyper-parameters. */
slm_status slm_model_get_info(const slm_model *model, slm_model_info *info);

/* ------------------------------------------------------------------ file inspection */

/* One tensor of a model file, as stored. */
typedef struct {
    const char *name;    /* borrowed from the file handle */
    const char *type;    /* "f32", "f16", "q4_K", ... (static) */
    int n_dims;
    int64_t shape[4];    /* shape[0] is the fastest-varying (GGUF "ne") */
    uint64_t offset;     /* byte offset of the data in the file */
    uint64_t n_bytes;
} slm_tensor_desc;

typedef struct slm_file slm_file;

/* Opens a GGUF file or llama2.c checkpoint for inspection (metadata and tensor table only).
 * The caller owns *out; free with slm_file_close. */
slm_status slm_file_open(const char *path, slm_file **out);
/* Closes a file opened with slm_file_open (NULL is fine). */
void slm_file_close(slm_file *file);
/* The format of the file: "gguf vN" or "llama2.c vN". Borrowed. */
const char *slm_file_format(const slm_file *file);
/* Number of metadata entries. */
size_t slm_file_n_metadata(const slm_file *file);
/* The key of metadata entry i and its value rendered as text (long arrays abridged to at most
 * max_items items, max_items <= 0 meaning all). *value is owned by the caller (slm_free). */
slm_status slm_file_metadata(const slm_file *file, size_t i, const char **key, char **value,
                             int max_items);
/* Number of tensors. */
size_t slm_file_n_tensors(const slm_file *file);
/* Describes tensor i. */
slm_status slm_file_tensor(const slm_file *file, size_t i, slm_tensor_desc *desc);

/* ------------------------------------------------------------------ conversion */

/* Writes a llama2.c checkpoint and its tokenizer as a GGUF v3 file (f32 weights, or f16 when
 * to_f16 is set) that llama.cpp and slm load. With bin_path NULL, writes a vocabulary-only GGUF
 * from the tokenizer alone. name may be NULL (the file name is used). */
slm_status slm_convert_llama2c(const char *bin_path, const char *tokenizer_path,
                               const char *out_path, const char *name, int to_f16);

/* Writes a Hugging Face BERT folder (config.json, model.safetensors, tokenizer.json or
 * vocab.txt; sentence-transformers' 1_Pooling/config.json for the pooling) as a GGUF file in
 * llama.cpp's "bert" layout (its tensor names and keys, the WordPiece vocabulary as llama.cpp
 * stores it), which llama.cpp and slm_embedder_open load. Matrices are f32, or f16 when
 * to_f16 is set. name may be NULL (the folder's name is used). */
slm_status slm_convert_hf(const char *dir, const char *out_path, const char *name, int to_f16);

/* Writes a copy of a GGUF model with its weight matrices re-encoded as type_name ("q8_0",
 * "q4_0", "q4_K", "q6_K", ... or "f16"); vectors stay f32, metadata is kept, and matrices whose
 * rows do not fit the type's blocks take the nearest type that does. progress (may be NULL) is
 * called before each tensor. */
slm_status slm_quantize_gguf(const char *in_path, const char *out_path, const char *type_name,
                             void (*progress)(const char *tensor, int done, int total, void *user), void *user);

/* ------------------------------------------------------------------ session */

typedef struct slm_session slm_session;

/* Options for slm_session_new. */
typedef struct {
    int n_ctx; /* context length in tokens (<= 0: the model's training context) */
} slm_session_params;

/* Creates a session with its KV cache (allocated once, here). params may be NULL.
 * The caller owns *out; free with slm_session_free before the model. */
slm_status slm_session_new(const slm_model *model, const slm_session_params *params,
                           slm_session **out);
/* Releases a session (NULL is fine). */
void slm_session_free(slm_session *session);
/* Forgets all evaluated tokens (the KV cache is kept allocated). */
void slm_session_reset(slm_session *session);
/* Keeps the first n evaluated tokens and forgets the rest (n <= n_past), so that the next
 * slm_session_eval continues at position n: for scoring several continuations of one prefix. */
slm_status slm_session_truncate(slm_session *session, int n);
/* Number of tokens evaluated so far (the next token's position). */
int slm_session_n_past(const slm_session *session);
/* The session's context length. */
int slm_session_n_ctx(const slm_session *session);
/* Evaluates n tokens at the next positions and returns the logits after the last one:
 * *logits points at n_vocab floats owned by the session, valid until the next call. */
slm_status slm_session_eval(slm_session *session, const int32_t *tokens, size_t n,
                            const float **logits);
/* Evaluates several sessions of one model together, one step each: session i takes the n[i]
 * tokens tokens[i] at its next positions, and all rows share each weight matrix pass (the way a
 * server decodes its slots together). logits[i] receives session i's logits after its last token,
 * owned by that session, valid until its next evaluation. Sessions must be distinct and share a
 * model; n[i] may be 0 (the session is skipped and logits[i] is NULL). Everything is checked
 * before anything is evaluated: on an error (NULL arguments, a session twice, different models, a
 * token id outside the vocabulary, a context too short) no session changes. Each session gets
 * the same logits as slm_session_eval would give it alone. Rows beyond 64 in all run as several
 * batches; a batch works in the buffers of its first session, so, as for one session, no two
 * threads may use any of these sessions at once. */
slm_status slm_sessions_eval(slm_session *const *sessions, const int32_t *const *tokens, const size_t *n,
                             size_t n_sessions, const float **logits);

/* ------------------------------------------------------------------ sampling */

/* Sampler settings. The chain runs: repetition penalty, top-k, top-p, min-p, temperature,
 * then a draw; temperature <= 0 means greedy (argmax). */
typedef struct {
    float temperature;    /* default 0.8 */
    int top_k;            /* 0 = off; default 40 */
    float top_p;          /* 1 = off; default 0.95 */
    float min_p;          /* 0 = off; default 0.05 */
    float repeat_penalty; /* 1 = off; default 1.0 */
    int repeat_last_n;    /* tokens of history the penalty looks at; default 64 */
    uint64_t seed;        /* RNG seed; default 0x5eed */
} slm_sampling_params;

/* The default sampling settings. */
slm_sampling_params slm_sampling_defaults(void);

typedef struct slm_sampler slm_sampler;

/* Creates a sampler for a vocabulary of n_vocab tokens. The caller owns *out. */
slm_status slm_sampler_new(const slm_sampling_params *params, int n_vocab, slm_sampler **out);
/* Releases a sampler (NULL is fine). */
void slm_sampler_free(slm_sampler *sampler);
/* Picks the next token from logits (n_vocab floats, not modified), given the ids generated so
 * far (history, n_history), for the repetition penalty. */
int slm_sampler_sample(slm_sampler *sampler, const float *logits, const int32_t *history,
                       size_t n_history);

/* ------------------------------------------------------------------ generation */

/* Receives each new piece of text (UTF-8, complete characters) as it is produced.
 * Return non-zero to stop generation. */
typedef int (*slm_piece_fn)(const char *text, size_t len, void *user);

/* Settings for slm_generate. */
typedef struct {
    slm_sampling_params sampling;
    int n_predict;            /* new tokens to generate; < 0: until EOS or the context is full */
    int max_positions;        /* > 0: stop once this many positions (prompt included) are done */
    int add_bos;              /* prepend BOS when the vocabulary asks for it (default 1) */
    int echo_prompt;          /* pass the prompt's text to the callback first (default 1) */
    int ignore_eos;           /* keep going past EOS/BOS (for benchmarks; default 0) */
    int parse_special;        /* recognise special tokens written in the prompt (chat; default 0) */
    int reuse_cache;          /* keep the session's cached tokens that start the new prompt and
                                 evaluate only the rest (multi-turn chat; default 0) */
    const char *const *stop;  /* NULL-terminated list of stop strings, or NULL */
} slm_generate_params;

/* Statistics of one slm_generate call. */
typedef struct {
    int n_prompt;         /* prompt tokens evaluated */
    int n_generated;      /* tokens sampled */
    double prompt_seconds;
    double generate_seconds;
    const char *stop_reason; /* "eos", "length", "stop string", "callback"; static */
} slm_generate_stats;

/* The default generation settings. */
slm_generate_params slm_generate_defaults(void);

/* Writes the ids of the tokens that end a generation as slm_generate stops on them (EOS, BOS,
 * chat end-of-turn tokens such as <end_of_turn>) to ids (cap entries); returns how many (at most 8). */
int slm_end_tokens(const slm_tokenizer *tok, int32_t *ids, int cap);

/* Tokenizes prompt, evaluates it (on a reset session, or after the reusable cached prefix)
 * and samples until a stop condition (EOS or an end-of-turn token, a length limit, a stop
 * string), calling on_piece with text as it is produced. The generated tokens stay in the
 * session's cache. stats may be NULL. */
slm_status slm_generate(slm_session *session, const char *prompt,
                        const slm_generate_params *params, slm_piece_fn on_piece, void *user,
                        slm_generate_stats *stats);

/* ------------------------------------------------------------------ chat */

/* One chat message: role is "system", "user" or "assistant". Both strings are borrowed. */
typedef struct {
    const char *role;
    const char *content;
} slm_chat_message;

/* Formats messages with the model's chat template (recognised from tokenizer.chat_template or
 * the vocabulary: "gemma", "chatml", "llama3", "llama2"), ending with the start of the
 * assistant's turn when add_generation_prompt is set. The text contains special tokens: pass
 * it to slm_generate with parse_special set. *out is owned by the caller (slm_free). */
slm_status slm_chat_format(const slm_model *model, const slm_chat_message *msgs, size_t n,
                           int add_generation_prompt, char **out);
/* The name of the chat template slm_chat_format uses for this model. Static. */
const char *slm_chat_template_name(const slm_model *model);

/* ------------------------------------------------------------------ training */

/* A Llama being trained in f32: parameters, gradients, AdamW moments and the activations of
 * one micro-batch, all allocated once at creation. */
typedef struct slm_trainer slm_trainer;

/* The shape of a new Llama model (RMSNorm, RoPE on adjacent pairs, grouped-query causal
 * attention, SwiGLU), as slm's inference runs it. */
typedef struct {
    int n_vocab;          /* vocabulary size */
    int n_embd;           /* channels */
    int n_ff;             /* feed-forward channels */
    int n_layer;          /* transformer blocks */
    int n_head;           /* query heads (must divide n_embd) */
    int n_head_kv;        /* key/value heads, dividing n_head; <= 0: n_head */
    int n_ctx;            /* context length recorded in saved files; <= 0: the trainer's seq_len */
    float norm_eps;       /* RMSNorm epsilon; <= 0: 1e-5 */
    float rope_freq_base; /* <= 0: 10000 */
    int tied_output;      /* the output matrix is the token embedding */
    uint64_t seed;        /* initialisation: normal(0, 0.02), residual projections 0.02/sqrt(2 n_layer) */
} slm_model_config;

/* Batch shape and optimiser settings. */
typedef struct {
    int batch;            /* sequences per micro-batch (B); default 4 */
    int seq_len;          /* tokens per sequence (T); default 64 */
    int grad_accum;       /* micro-batches per optimiser step; default 1 */
    float lr;             /* peak learning rate; default 1e-3 */
    float min_lr;         /* where the cosine ends; default 1e-4 */
    int warmup_steps;     /* linear warmup to lr over this many steps; default 0 */
    int total_steps;      /* the cosine reaches min_lr here; <= 0: constant lr after warmup */
    float beta1, beta2;   /* AdamW moment decays; default 0.9, 0.95 */
    float eps;            /* AdamW epsilon; default 1e-8 */
    float weight_decay;   /* decoupled, on weight matrices (never on norms); default 0.1 */
    int decay_embeddings; /* also decay the token embedding (and a tied output); default 0 */
    float grad_clip;      /* clip the global gradient norm to this; <= 0: off; default 1.0 */
} slm_train_params;

/* What one optimiser step did. */
typedef struct {
    float loss;      /* mean cross-entropy over the step's tokens (before the update) */
    float grad_norm; /* global gradient norm before clipping */
    float lr;        /* learning rate used */
    int step;        /* optimiser steps taken so far, this one included */
} slm_train_stats;

/* The default training settings. */
slm_train_params slm_train_defaults(void);
/* Creates a trainer for a new, randomly initialised model. params may be NULL (defaults).
 * The caller owns *out; free with slm_trainer_free. */
slm_status slm_trainer_new(const slm_model_config *config, const slm_train_params *params, slm_trainer **out);
/* Creates a trainer from a Llama model file (GGUF of any weight type, or a llama2.c checkpoint
 * with its tokenizer beside it), weights converted to f32; its tokenizer is kept for saving.
 * params may be NULL. The caller owns *out. */
slm_status slm_trainer_load(const char *path, const slm_train_params *params, slm_trainer **out);
/* Releases a trainer (NULL is fine). */
void slm_trainer_free(slm_trainer *trainer);
/* Number of trainable weights. */
int64_t slm_trainer_n_params(const slm_trainer *trainer);
/* One optimiser step: forward and backward over grad_accum micro-batches, then gradient
 * clipping and AdamW. tokens and targets hold grad_accum * batch * seq_len ids each (targets
 * are usually the tokens shifted by one). stats may be NULL. */
slm_status slm_trainer_step(slm_trainer *trainer, const int32_t *tokens, const int32_t *targets,
                            slm_train_stats *stats);
/* Mean cross-entropy of n_seq sequences of seq_len tokens (any n_seq >= 1), without
 * changing the model. */
slm_status slm_trainer_eval(slm_trainer *trainer, const int32_t *tokens, const int32_t *targets, int n_seq,
                            float *loss);
/* Writes the model as a GGUF file of f32 tensors named as llama.cpp names them, with tok's
 * vocabulary (tok NULL: the tokenizer of the file the trainer was loaded from, if any).
 * slm_model_load and `slm generate` load it when it has a vocabulary. */
slm_status slm_trainer_save(const slm_trainer *trainer, const char *path, const slm_tokenizer *tok);

/* Writes a checkpoint: the model as slm_trainer_save does (so `slm generate` loads it), plus the
 * optimiser state: AdamW moments as tensors "slm.train.m.<name>" / "slm.train.v.<name>", the
 * step and the training settings as "slm.train.*" keys, and user_state (may be NULL), an
 * opaque string the caller gets back from slm_trainer_resume (the CLI keeps its loader
 * position and options there). Written atomically: a temporary file beside path, flushed to
 * disk, then renamed over path. */
slm_status slm_trainer_save_checkpoint(const slm_trainer *trainer, const char *path, const slm_tokenizer *tok,
                                       const char *user_state);
/* Loads a checkpoint written by slm_trainer_save_checkpoint: weights, AdamW moments, step and
 * training settings, so that the next slm_trainer_step continues the run exactly. params may
 * be NULL (the saved settings); batch, seq_len and grad_accum must match the saved ones.
 * *user_state (may be NULL) gets the saved string, owned by the caller (slm_free), or NULL.
 * The caller owns *out. */
slm_status slm_trainer_resume(const char *path, const slm_train_params *params, slm_trainer **out,
                              char **user_state);
/* Reads only the user_state string of a checkpoint. *user_state is owned by the caller
 * (slm_free), or NULL when the checkpoint has none. */
slm_status slm_checkpoint_user_state(const char *path, char **user_state);
/* Optimiser steps taken so far. */
int slm_trainer_steps(const slm_trainer *trainer);
/* The settings the trainer runs with (after defaults and checks). */
slm_train_params slm_trainer_params(const slm_trainer *trainer);
/* The shape of the model being trained (seed 0: not recorded). */
slm_model_config slm_trainer_config(const slm_trainer *trainer);
/* The tokenizer the trainer was loaded with, or NULL. Borrowed from the trainer. */
const slm_tokenizer *slm_trainer_tokenizer(const slm_trainer *trainer);

/* ------------------------------------------------------------------ data parallelism */

/* Data-parallel training across processes (MPI; a single process when libslm was built
 * without MPI or the program was not started by mpirun). After slm_dist_init in a job of K
 * processes, slm_trainer_step is collective: every process computes the gradients of its own
 * share of the batch, and they are averaged across processes (one allreduce of the gradient
 * buffer) before clipping and AdamW, so all processes keep identical weights. */
/* Starts MPI when the process was launched by mpirun (otherwise does nothing); argc/argv may be NULL. */
slm_status slm_dist_init(int *argc, char ***argv);
/* This process's rank (0 .. size-1) and the number of processes (1 without MPI). */
int slm_dist_rank(void);
int slm_dist_size(void);
/* Sums x (n floats) over all processes, in place, every process getting the sum. */
slm_status slm_dist_allreduce_sum(float *x, size_t n);
/* Waits for every process. */
void slm_dist_barrier(void);
/* Ends the whole job with exit code `code` when it has several processes (else returns). */
void slm_dist_abort(int code);
/* Shuts MPI down (nothing when it was not started). */
void slm_dist_finalize(void);

/* ------------------------------------------------------------------ training data */

/* Token shards, as `slm data prepare` writes them into a folder:
 *   tokenizer.gguf            the vocabulary the ids refer to (vocabulary-only GGUF)
 *   train-00000.bin, ...      the training split
 *   val-00000.bin, ...        the validation split
 * Each shard: a 32-byte little-endian header { char magic[8] = "SLMTOKS\0"; u32 version = 1;
 * u32 vocab_size; u32 token_bytes (2 or 4); u32 reserved = 0; u64 n_tokens } then n_tokens
 * ids as u16 (vocabularies up to 65536) or u32. Documents follow one another, each started by
 * BOS when the tokenizer adds one, else ended by EOS. */

/* Options for slm_data_prepare. */
typedef struct {
    const char *tokenizer_path;      /* tokenizer or model file (GGUF, llama2.c tokenizer.bin) */
    const char *const *inputs;       /* files or folders (searched recursively for .txt, .md,
                                        .jsonl files; hidden entries skipped), n_inputs of them */
    size_t n_inputs;
    const char *out_dir;             /* created if missing */
    const char *jsonl_field;         /* the string field of .jsonl records; NULL: "text" */
    const char *separator;           /* splits plain text into documents; NULL: "<|endoftext|>",
                                        "": each file is one document */
    float val_fraction;              /* share of documents in the validation split, [0, 1) */
    uint64_t seed;                   /* the split: document i goes to validation when
                                        hash(seed, i) < val_fraction */
    uint64_t shard_tokens;           /* tokens per shard at most; 0: 64 Mi */
} slm_data_prepare_params;

/* What slm_data_prepare wrote: index 0 is the training split, 1 the validation split. */
typedef struct {
    uint64_t n_docs[2], n_tokens[2];
    int n_shards[2];
    uint64_t bytes_read;
    int n_files;
} slm_data_stats;

/* Called after each input file (done of total files), for progress displays. */
typedef void (*slm_data_progress_fn)(const char *file, int done, int total, const slm_data_stats *so_far, void *user);

/* Tokenises the inputs into token shards with a train/validation split (see above). Files are
 * taken in sorted order, so the same inputs and seed give the same shards. progress and stats
 * may be NULL. */
slm_status slm_data_prepare(const slm_data_prepare_params *params, slm_data_progress_fn progress, void *user,
                            slm_data_stats *stats);

/* Samples (B, T) windows of token shards.
 * Determinism: batch number i (0, 1, 2, ...) depends only on the shards, B, T, the seed and i:
 * its B windows start at positions drawn from a generator seeded with hash(seed, i), uniformly
 * over all windows of T + 1 tokens of all shards of the split (a window never crosses a shard).
 * The loader's position is the number of batches drawn; slm_loader_seek sets it, so a resumed
 * run draws the same batches as an uninterrupted one. */
typedef struct slm_loader slm_loader;

/* Opens the shards of one split ("train" or "val") of a prepared folder for batches of
 * batch x seq_len tokens. Shards are mapped, and checked (header, size, ids below the
 * vocabulary size). The caller owns *out; free with slm_loader_free. */
slm_status slm_loader_open(const char *dir, const char *split, int batch, int seq_len, uint64_t seed,
                           slm_loader **out);
/* Releases a loader (NULL is fine). */
void slm_loader_free(slm_loader *loader);
/* Writes the next batch: tokens and targets get batch * seq_len ids each, targets shifted by one. */
void slm_loader_next(slm_loader *loader, int32_t *tokens, int32_t *targets);
/* Batches drawn so far. */
uint64_t slm_loader_position(const slm_loader *loader);
/* Sets the number of batches drawn (the next batch is number `position`). */
void slm_loader_seek(slm_loader *loader, uint64_t position);
/* Tokens in the split's shards, and the vocabulary size their headers give. */
uint64_t slm_loader_n_tokens(const slm_loader *loader);
int slm_loader_vocab_size(const slm_loader *loader);

/* ------------------------------------------------------------------ sentence embeddings */

/* A sentence encoder (the BERT family: MiniLM, BGE, ...) that maps texts to fixed-size
 * vectors: the last hidden states pooled over each text's tokens (mean, or [CLS] when the
 * model says so) and L2-normalised, as sentence-transformers computes them. */
typedef struct slm_embedder slm_embedder;

/* Options of slm_embedder_open. Zero-initialised fields take the defaults. */
typedef struct {
    int n_threads;    /* sets the process-wide pool when > 0 (slm_set_threads) */
    int batch;        /* texts per forward batch at most; <= 0: 32 */
    int max_tokens;   /* tokens per text at most, [CLS] and [SEP] included (longer texts are
                         truncated); <= 0: the model's (sentence-transformers' max_seq_length,
                         else its positions) */
    int no_normalize; /* leave the pooled vectors unnormalised */
} slm_embedder_params;

/* Opens an encoder: a GGUF file of architecture "bert" (as slm convert or llama.cpp writes
 * it; weights of any type slm reads, used as f32) or a Hugging Face BERT folder. params may
 * be NULL. The caller owns *out; free with slm_embedder_free. */
slm_status slm_embedder_open(const char *path, const slm_embedder_params *params, slm_embedder **out);
/* Releases an embedder (NULL is fine). */
void slm_embedder_free(slm_embedder *embedder);
/* The length of each embedding (the model's hidden size). */
int slm_embedder_dim(const slm_embedder *embedder);
/* The embedder's WordPiece tokenizer. Borrowed from the embedder. */
const slm_tokenizer *slm_embedder_tokenizer(const slm_embedder *embedder);
/* Embeds n NUL-terminated texts: out (caller-owned) gets n * slm_embedder_dim floats, a row
 * per text in the order given. Texts are batched by length; the result does not depend on
 * the batch size or the number of threads beyond float rounding. */
slm_status slm_embed(slm_embedder *embedder, const char *const *texts, size_t n, float *out);

/* ------------------------------------------------------------------ labelled text (tasks) */

/* Labelled examples for classification: texts with label indices into label_names. */
typedef struct {
    char **texts;        /* n texts, NUL-terminated valid UTF-8 */
    int *labels;         /* n label indices into label_names; -1 where the file has no label */
    size_t n;
    char **label_names;  /* n_labels names, in the order of first appearance unless given */
    int n_labels;
} slm_dataset;

/* File layouts slm_dataset_load reads. */
typedef enum {
    SLM_DATA_AUTO = 0, /* from the extension: .tsv, .csv, .jsonl/.json; otherwise Kim-2014 lines */
    SLM_DATA_TSV,      /* label<TAB>text, or text<TAB>label with a header row naming them */
    SLM_DATA_CSV,      /* RFC 4180 (quoted fields, doubled quotes, newlines inside quotes) */
    SLM_DATA_JSONL,    /* one object per line with a text and a label field */
    SLM_DATA_KIM,      /* "label text" lines of the Kim-2014 sentence classification files */
    SLM_DATA_TEXT      /* one text per line, no labels (every label is -1) */
} slm_data_format;

/* What slm_dataset_load does with bytes that are not valid UTF-8. */
typedef enum {
    SLM_DECODE_STRICT = 0, /* an error naming the file, line and column (the default) */
    SLM_DECODE_LATIN1,     /* a text or label that is not valid UTF-8 is read as Windows-1252,
                              the superset of Latin-1 that WHATWG decoders use for "latin1" */
    SLM_DECODE_REPLACE     /* each invalid byte becomes U+FFFD */
} slm_text_decoding;

/* How to read a dataset file. Zero-initialised fields take the defaults. */
typedef struct {
    slm_data_format format;
    const char *text_field;  /* JSONL key / CSV-TSV header name of the text; default "text" */
    const char *label_field; /* JSONL key / CSV-TSV header name of the label; default "label" */
    const char *const *label_names; /* fixed label set (e.g. a classifier's); a label outside it
                                       is an error naming the line; NULL: collect the labels seen */
    int n_label_names;
    int allow_unlabelled;    /* rows without a label get -1 instead of an error */
    slm_text_decoding decoding; /* invalid UTF-8: an error (default), Latin-1, or U+FFFD */
    char label_sep;          /* non-zero: a label is cut at its first label_sep, keeping the part
                                before (TREC's "DESC:manner" -> the coarse "DESC" with ':') */
} slm_dataset_params;

/* Reads a labelled text file. Errors (malformed rows, empty text, invalid UTF-8, unknown label)
 * name the file and line. params may be NULL. The caller frees *out with slm_dataset_free. */
slm_status slm_dataset_load(const char *path, const slm_dataset_params *params, slm_dataset *out);
/* Releases what slm_dataset_load allocated (and zeroes *ds). */
void slm_dataset_free(slm_dataset *ds);

/* ------------------------------------------------------------------ classifiers */

/* A text classifier: a fine-tuned model (a GGUF written by `slm finetune --task classify`) or a
 * generative model used zero-shot (each label scored by its log-likelihood under a prompt). */
typedef struct slm_classifier slm_classifier;

/* Options of slm_classifier_open. Zero-initialised fields take the defaults. */
typedef struct {
    const char *const *labels; /* zero-shot: the candidate labels (required for a generative model);
                                  "name=words" reports name and scores the words */
    int n_labels;
    const char *prompt_template; /* zero-shot prompt, "{text}" replaced by the text; NULL: a default */
    int n_threads;               /* <= 0: the library's setting */
    int batch;                   /* texts per forward batch; <= 0: a default */
    int length_normalize;        /* zero-shot: score a label by its mean token log-probability
                                    instead of the sum */
    int calibrate;               /* zero-shot: contextual calibration: divide each label's
                                    probability by its mean over content-free texts ("N/A",
                                    "[MASK]", "") and renormalise */
} slm_classifier_params;

/* Opens a classifier: a fine-tuned classifier GGUF (it has "slm.classifier.labels"), or any
 * generative model with params->labels for zero-shot. The caller owns *out. */
slm_status slm_classifier_open(const char *path, const slm_classifier_params *params, slm_classifier **out);
/* Releases a classifier (NULL is fine). */
void slm_classifier_free(slm_classifier *clf);
/* Number of labels, and the name of label i (borrowed from the classifier). */
int slm_classifier_n_labels(const slm_classifier *clf);
const char *slm_classifier_label(const slm_classifier *clf, int i);
/* Class probabilities of n texts: probs gets n * n_labels floats (row per text, caller-owned). */
slm_status slm_classifier_predict(slm_classifier *clf, const char *const *texts, size_t n, float *probs);

/* ------------------------------------------------------------------ fine-tuning */

/* How a fine-tuned encoder turns its token states into one vector for the head. */
typedef enum {
    SLM_POOLING_DEFAULT = 0, /* the base model's (bert.pooling_type), mean when it names none */
    SLM_POOLING_MEAN = 1,    /* the mean over the text's tokens (sentence-transformers' pooling) */
    SLM_POOLING_CLS = 2,     /* the state of the first token, [CLS] */
} slm_pooling;

/* Settings of slm_finetune_classify; start from slm_finetune_defaults(). */
typedef struct {
    int epochs;          /* passes over the training set; default 3 */
    float lr;            /* peak learning rate; default 5e-5 */
    int batch;           /* examples per optimiser step; default 32 */
    int max_len;         /* tokens per text, [CLS] and [SEP] included (longer texts are cut); default 128 */
    float warmup;        /* linear warmup over a fraction (< 1) of all steps or a number of steps (>= 1),
                            then linear decay to 0; default 0.1 */
    float weight_decay;  /* AdamW's decoupled decay of weight matrices (not biases, norms); default 0.01 */
    float grad_clip;     /* clip the global gradient norm to this; <= 0: off; default 1.0 */
    slm_pooling pooling; /* default SLM_POOLING_DEFAULT */
    int class_weights;   /* weight the loss by inverse class frequency n / (K n_k); default 0 */
    int patience;        /* with a dev set: stop after this many epochs without a better dev score;
                            0: run every epoch; default 0 */
    int select_macro_f1; /* rank epochs by dev macro-F1 instead of accuracy; default 0 */
    int train_embeddings; /* also train the word-embedding matrix (V x C); default 0: frozen, which
                            halves the optimiser's work and rarely costs accuracy */
    float dropout;       /* hidden dropout while training (embeddings, block outputs, pooled vector),
                            seeded and deterministic; default 0.1 */
    uint64_t seed;       /* head initialisation, batch order and dropout masks; default 42 */
    /* decoders (general.architecture llama, qwen2, gemma3): the base stays frozen and LoRA
       adapters W + (alpha / rank) B A train with the head, on the last real token's state */
    int lora_rank;       /* 0: 8; an encoder base takes none of the lora_* settings */
    float lora_alpha;    /* 0: 16 */
    const char *lora_targets; /* matrices adapted, from q, k, v, o, gate, up, down, or "all"; NULL: "q,v" */
} slm_finetune_params;

/* What a fine-tuning run reports as it goes (after every step, and at each epoch's end). */
typedef struct {
    int epoch, n_epochs;     /* the current epoch (1-based) and the planned number */
    int step, n_steps;       /* optimiser steps taken and planned (all epochs) */
    float loss;              /* mean training loss of the epoch so far */
    float lr;                /* learning rate of the last step */
    double examples_per_s;   /* training throughput of the epoch so far */
    double elapsed_s, eta_s; /* time since the start, and an estimate of the time left */
    int epoch_end;           /* 1 at the end of an epoch: the fields below are set */
    int has_dev;             /* a dev set was given */
    double dev_accuracy, dev_macro_f1;
    int improved;            /* the dev score is the best so far: the output file was (re)written */
    double dev_span_f1;      /* token tagging: F1 of the dev set's exact BIO spans (accuracy and
                                macro-F1 above are over the word tags) */
} slm_finetune_progress;

/* Receives progress reports; user is the pointer given to slm_finetune_classify. */
typedef void (*slm_finetune_progress_fn)(const slm_finetune_progress *p, void *user);

/* The outcome of a fine-tuning run. */
typedef struct {
    int epochs_run;          /* epochs trained (fewer than planned when stopped early) */
    int best_epoch;          /* the epoch whose model was written (the last one without a dev set) */
    double dev_accuracy, dev_macro_f1; /* of best_epoch (0 without a dev set) */
    double seconds;          /* wall time of the whole run */
    size_t n_truncated;      /* training texts cut to max_len (tagging: documents split into windows) */
    double dev_span_f1;      /* token tagging: of best_epoch */
} slm_finetune_result;

/* The default fine-tuning settings. */
slm_finetune_params slm_finetune_defaults(void);
/* Fine-tunes a BERT-family encoder (a GGUF with general.architecture "bert") and a linear
 * classification head on the labelled texts of train (labels 0 .. train->n_labels-1, named
 * by train->label_names), tokenised with the base's tokenizer. With dev (labels indexing the
 * same names), the model is evaluated after every epoch and the best epoch is kept. Writes
 * out_path (atomically): the base's metadata and tokenizer, the trained encoder in f32, the
 * head as cls.weight (K, C) and cls.bias (K), and the keys slm.classifier.labels (strings),
 * slm.classifier.pooling ("mean" or "cls"), slm.classifier.max_len and slm.classifier.base;
 * slm_classifier_open reads it. A decoder base (llama, qwen2, gemma3, any quantisation) gets
 * LoRA instead (params->lora_*; no dropout): out_path then holds only the adapters
 * (blk.N.<matrix>.weight.lora_a / .lora_b), the head, slm.classifier.pooling "last" and
 * slm.lora.base_* keys referring to the base file, which must stay where it is (or beside
 * out_path). params, dev, progress and result may be NULL. */
slm_status slm_finetune_classify(const char *base_path, const slm_dataset *train, const slm_dataset *dev,
                                 const slm_finetune_params *params, const char *out_path,
                                 slm_finetune_progress_fn progress, void *user, slm_finetune_result *result);

/* Writes out_path (atomically: an input may be the output) with the element-wise mean of the f32 tensors of n >= 2 models
 * fine-tuned from one base with one recipe (a "model soup"): the files must hold the same
 * tensors and labels; other tensors must be identical and are copied; the first file's metadata
 * is kept, with slm.average.n_models. LoRA adapter files are refused. */
slm_status slm_average_models(const char *const *paths, size_t n, const char *out_path);

/* ------------------------------------------------------------------ token tagging (BIO) */

/* Documents as words, each word tagged B (begins a keyphrase), I (inside one) or O (outside),
 * for `slm finetune --task tag`. */
typedef struct {
    char ***words;     /* n arrays of n_words[i] NUL-terminated words (Penn-Treebank brackets
                          such as -LRB- turned back into "(") */
    unsigned char **tags; /* n arrays of n_words[i] tags: 0 = O, 1 = B, 2 = I */
    int *n_words;
    size_t n;
} slm_tag_dataset;

/* Reads a JSONL file of tagged documents: per line a list of word strings under words_field
 * (NULL: "document", then "tokens") and as many "B"/"I"/"O" strings under tags_field (NULL:
 * "doc_bio_tags", then "tags"), as Inspec's files have. Missing fields, a count mismatch or an
 * unknown tag is an error naming file:line. The caller frees *out with slm_tag_dataset_free. */
slm_status slm_tag_dataset_load(const char *path, const char *words_field, const char *tags_field,
                                slm_tag_dataset *out);
/* Releases what slm_tag_dataset_load allocated (and zeroes *ds). */
void slm_tag_dataset_free(slm_tag_dataset *ds);

/* Fine-tunes a BERT-family encoder with a linear token-classification head (labels O, B, I)
 * on tagged documents: each word's tag goes to its first WordPiece (the other pieces are left
 * out of the loss); documents longer than params->max_len pieces are cut into windows that
 * overlap by half. Optimiser, schedule, dropout and early stopping as slm_finetune_classify;
 * the dev score is the span F1 (exact word spans) and the best epoch is kept. Without dev, a
 * seeded tenth of train (when it has at least 10 documents) is held out as the dev set.
 * Writes out_path (atomically): the base's metadata and tokenizer, the encoder in f32, the
 * head as cls.weight (3, C) and cls.bias, and the keys slm.tagger.labels ["O", "B", "I"],
 * slm.tagger.max_len and slm.tagger.base. params, dev, progress, result may be NULL. */
slm_status slm_finetune_tag(const char *base_path, const slm_tag_dataset *train, const slm_tag_dataset *dev,
                            const slm_finetune_params *params, const char *out_path,
                            slm_finetune_progress_fn progress, void *user, slm_finetune_result *result);

/* ------------------------------------------------------------------ evaluation metrics */

/* Scores of predicted labels against true ones. Macro averages run over the labels that occur
 * in the truth or the predictions (as scikit-learn does); a precision or recall with nothing
 * to divide by is 0. */
typedef struct {
    int n_labels;
    size_t n;              /* examples scored */
    double accuracy, macro_precision, macro_recall, macro_f1;
    double *precision, *recall, *f1; /* (n_labels) per label */
    int64_t *support;      /* (n_labels) true examples of each label */
    int64_t *confusion;    /* (n_labels, n_labels): row = true label, column = predicted */
    int n_bootstrap;       /* resamples behind the intervals (0: none computed) */
    double accuracy_ci[2], macro_f1_ci[2]; /* bootstrap 95% percentile intervals */
} slm_metrics;

/* Computes the metrics of n predictions (labels in 0..n_labels-1) with, when n_bootstrap > 0,
 * percentile bootstrap 95% intervals from that many seeded resamples. The caller frees *out
 * with slm_metrics_free. */
slm_status slm_metrics_compute(const int *truth, const int *pred, size_t n, int n_labels, int n_bootstrap,
                               uint64_t seed, slm_metrics *out);
/* Releases the arrays of *m (and zeroes it). */
void slm_metrics_free(slm_metrics *m);
/* The metrics as a text report: totals, a per-label precision/recall/F1 table and the
 * confusion matrix. label_names has n_labels names. *out is owned by the caller (slm_free). */
slm_status slm_metrics_format_text(const slm_metrics *m, const char *const *label_names, char **out);
/* The metrics as a JSON object (labels, accuracy, macro_f1, per_class, confusion, ci).
 * *out is owned by the caller (slm_free). */
slm_status slm_metrics_format_json(const slm_metrics *m, const char *const *label_names, char **out);

/* ------------------------------------------------------------------ HTTP server */

/* An OpenAI-compatible HTTP server (`slm serve`): completions and chat completions (streamed as
 * server-sent events) from a generative model decoded in parallel slots with continuous
 * batching, plus embeddings, classification, keywords, tokenize/detokenize, health and metrics.
 * See docs/serve.md for the routes. */
typedef struct slm_server slm_server;

/* Settings of slm_server_new; start from slm_server_defaults(). Strings are borrowed for the
 * server's lifetime. */
typedef struct {
    const char *model_path;      /* the generative model (GGUF or llama2.c .bin); required */
    const char *tokenizer_path;  /* tokenizer for a llama2.c checkpoint; NULL: found beside it */
    const char *embed_model_path; /* BERT-family encoder for /v1/embeddings (and keywords); may be NULL */
    const char *classifier_path; /* fine-tuned classifier for /v1/classify; may be NULL */
    const char *host;            /* address to bind; default "127.0.0.1" */
    int port;                    /* default 8080; 0 picks a free port (see slm_server_port) */
    const char *api_key;         /* when set, every route but GET / and /health needs
                                    "Authorization: Bearer KEY" */
    int parallel;                /* decoding slots (sequences decoded together); default 4 */
    int n_ctx;                   /* context length of each slot; <= 0: the model's, at most 2048 */
    int max_queue;               /* requests waiting for a slot before 429; default 64 */
    int n_threads;               /* worker pool size; <= 0: physical cores */
    double timeout_s;            /* wall-clock limit of one request (seconds, at most 1e6); default 600 */
    size_t max_body;             /* request body limit in bytes (413 beyond); default 1 MiB */
    int max_tokens;              /* cap on max_tokens of one request; <= 0: the context */
    int max_connections;         /* open connections at most; default 256 */
    int idle_timeout_s;          /* seconds a connection may stay silent while a request arrives
                                    or between requests (then it is closed); default 30 */
    int prefill_chunk;           /* prompt tokens a slot evaluates per step at most; default 64 */
    int cors;                    /* send CORS headers (Access-Control-Allow-Origin: *) */
    int quiet;                   /* no start-up lines on stderr */
    int log_requests;            /* one line per request on stderr */
} slm_server_params;

/* The default server settings (no model path). */
slm_server_params slm_server_defaults(void);
/* Starts listening (so /health answers 503 while loading), loads the models and starts the
 * scheduler. The caller owns *out; free with slm_server_free. */
slm_status slm_server_new(const slm_server_params *params, slm_server **out);
/* The port the server listens on (the chosen one when params.port was 0). */
int slm_server_port(const slm_server *server);
/* Serves until slm_server_stop is called, then stops accepting and finishes. */
slm_status slm_server_run(slm_server *server);
/* Asks a running slm_server_run to return; async-signal-safe (a signal handler may call it). */
void slm_server_stop(slm_server *server);
/* Stops the HTTP daemon and the scheduler, cancels pending requests and releases everything
 * (NULL is fine). */
void slm_server_free(slm_server *server);

/* ------------------------------------------------------------------ keyword extraction */

/* The Porter stem of one word (NLTK's PorterStemmer in its default mode, lowercasing first):
 * len bytes of UTF-8 in, a NUL-terminated stem written to out (cap bytes; 2 * len + 8 always
 * suffice). Returns the stem's length in bytes, or -1 for invalid UTF-8 or too small a buffer. */
int slm_porter_stem(const char *word, size_t len, char *out, size_t cap);

/* How slm_keywords_extract scores candidate phrases. */
typedef enum {
    SLM_KEYWORDS_AUTO = 0,   /* the best measured: stat without a model, stat + embed with an
                                encoder, stat + supervised with a tagger */
    SLM_KEYWORDS_STAT,       /* corpus-free statistics of each word (YAKE family) */
    SLM_KEYWORDS_EMBED,      /* cosine of each phrase's encoder embedding to the document's, MMR */
    SLM_KEYWORDS_SUPERVISED  /* spans of a BIO tagger (slm finetune --task tag) */
} slm_keywords_method;

/* Options of slm_keywords_new. Zero-initialised fields take the defaults. */
typedef struct {
    slm_keywords_method method;
    int top_k;                  /* phrases per document; <= 0: 10 */
    int min_words, max_words;   /* words per phrase; <= 0: 1 and 3 */
    float diversity;            /* with an encoder: MMR trade-off in [0, 1] (0: relevance only);
                                   stat: unused; < 0: the default (0.4); note 0 means 0 */
    const char *stopwords_path; /* one stopword per line (UTF-8, '#' comments); NULL: built-in English */
    const char *model_path;     /* the encoder for SLM_KEYWORDS_EMBED, or a tagger GGUF (with
                                   slm.tagger.labels) for SLM_KEYWORDS_SUPERVISED; AUTO uses either */
    int n_threads;              /* documents in parallel; <= 0: the library's setting */
} slm_keywords_params;

/* One extracted phrase. */
typedef struct {
    char *phrase;  /* as it first appears in the text (original casing), NUL-terminated */
    float score;   /* higher is better; comparable within one document only */
} slm_keyword;

/* The phrases of one document, best first. */
typedef struct {
    slm_keyword *items;
    int n;
} slm_keyword_list;

typedef struct slm_keywords slm_keywords;

/* Makes a keyword extractor (loads the stopword list and, for embed, the encoder; for
 * supervised, the tagger). The caller owns *out; free with slm_keywords_free. */
slm_status slm_keywords_new(const slm_keywords_params *params, slm_keywords **out);
/* Releases an extractor (NULL is fine). */
void slm_keywords_free(slm_keywords *kw);
/* Extracts keyphrases from n texts (each NUL-terminated, at most 64 MiB; invalid UTF-8 bytes
 * are treated as separators), documents spread over the worker pool. out gets n lists the caller owns and frees
 * with slm_keyword_lists_free. A text without candidates gets an empty list. */
slm_status slm_keywords_extract(slm_keywords *kw, const char *const *texts, size_t n, slm_keyword_list *out);
/* Releases n lists that slm_keywords_extract filled (the array itself stays the caller's). */
void slm_keyword_lists_free(slm_keyword_list *lists, size_t n);

/* Documents with gold keyphrases, for evaluation. */
typedef struct {
    char **ids;       /* n document ids (JSONL "id"/"paper_id", or the file name without extension) */
    char **texts;     /* n texts */
    char ***keys;     /* n arrays of n_keys[i] gold phrases */
    int *n_keys;
    size_t n;
} slm_keyphrase_corpus;

/* Reads documents and gold keyphrases (need_keys = 0: documents without keys are fine and get
 * none): a JSONL file (text from text_field, a string or a list of
 * tokens, default "text" then "document"; keys from "keyphrases", else "extractive_keyphrases" +
 * "abstractive_keyphrases"), a folder in the LIAAD layout (docsutf8/NAME.txt + keys/NAME.key, one
 * phrase a line), or a .zip of that layout. Documents are sorted by id for folders and zips. The
 * caller frees *out with slm_keyphrase_corpus_free. */
slm_status slm_keyphrase_corpus_load(const char *path, const char *text_field, int need_keys,
                                     slm_keyphrase_corpus *out);
/* Releases what slm_keyphrase_corpus_load allocated (and zeroes *corpus). */
void slm_keyphrase_corpus_free(slm_keyphrase_corpus *corpus);

/* Keyphrase scores at the cut-offs 5, 10 and 15 (index 0, 1, 2), macro-averaged over documents. */
typedef struct {
    double precision[3], recall[3], f1[3];
    size_t n_docs;
} slm_keyphrase_scores;

/* Porter-stemmed exact-match scores: each phrase is lowercased, split into words and every word
 * stemmed; duplicates (after stemming) are dropped from gold and predictions; at cut-off k,
 * precision = matches in the first k predictions / their number, recall = matches / gold phrases,
 * F1 per document from those; all three averaged over the n documents. */
slm_status slm_keyphrase_evaluate(const char *const *const *gold, const int *n_gold, const char *const *const *pred,
                                  const int *n_pred, size_t n, slm_keyphrase_scores *out);

/* ------------------------------------------------------------------ model comparison */

/* What slm_compare_run measures: text classification (accuracy, macro-F1 against examples/s) or
 * keyphrase extraction (F1@10 against documents/s). */
typedef enum {
    SLM_COMPARE_CLASSIFY = 0,
    SLM_COMPARE_KEYWORDS = 1,
} slm_compare_task;

/* One candidate of a comparison. Strings are borrowed for the duration of slm_compare_run. */
typedef struct {
    const char *name;          /* its name in the report (NULL: the file name, or the method) */
    const char *path;          /* classify: a classifier GGUF (slm finetune), a generative model (zero-shot), or
                                  with finetune_base the classifier to write; keywords: the encoder (NULL: none) */
    const char *finetune_base; /* classify: fine-tune this BERT-family base on the training set into path first
                                  (path already there with its PATH.train.json record: reused) */
    const char *method;        /* keywords: "stat", "embed" or "auto" (NULL: auto) */
    int limit;                 /* score only the first N examples (<= 0: the comparison's limit, else all) */
    int speed_n;               /* examples in each speed measurement (<= 0: the comparison's) */
    int shots;                 /* generative models: K labelled examples of the training set put before each text
                                  (<= 0: the comparison's) */
} slm_compare_candidate;

/* Settings of slm_compare_run; start from slm_compare_defaults(). Strings are borrowed. */
typedef struct {
    slm_compare_task task;
    const char *data_path;          /* the labelled examples scored (classify: a dataset file; keywords: a corpus) */
    slm_dataset_params data_params; /* how to read data_path and train_path (label_names is set per candidate) */
    const char *train_path;         /* training set for fine-tuning and few-shot examples (NULL: none) */
    const char *dev_path;           /* fine-tuning: the set that picks the best epoch (NULL: none, the last epoch) */
    const char *const *labels;      /* zero-shot labels, "name=words" as in slm_classifier_params */
    int n_labels;
    const char *prompt_template;    /* zero-shot prompt with {text} (NULL: the classifier's default) */
    int calibrate, length_normalize; /* zero-shot switches as in slm_classifier_params */
    int shots;                      /* few-shot: K examples of train_path before each text (0: zero-shot) */
    slm_finetune_params finetune;   /* settings of the fine-tuning of finetune_base candidates */
    int threads;                    /* "all threads" (<= 0: the physical cores) */
    int score_threads;              /* threads of the scoring pass (<= 0: all threads); scores do not depend on it */
    int chart_one_thread;           /* the chart plots the 1-thread rates (default 0: all threads) */
    int batch;                      /* texts per prediction call (default 16) */
    int limit;                      /* examples scored per candidate (<= 0: all) */
    int speed_n;                    /* examples per speed measurement (default 100; at most the scored ones) */
    int repeats;                    /* speed measurements at each thread count; medians reported (default 3) */
    int n_bootstrap;                /* resamples for the 95% intervals (default 1000) */
    uint64_t seed;                  /* bootstrap seed (default 0x5eed) */
    double cpu_hour_price;          /* price of one core for an hour, for the cost column (default 0.05) */
    int isolate;                    /* run each candidate in its own child process (default 1): peak RSS and load
                                       time are its own, and a crash or out-of-memory kill fails that candidate only */
    double memory_headroom;         /* refuse a model whose file and KV cache need more than this share of
                                       MemAvailable (default 0.9; <= 0: no check) */
    void (*log)(const char *line, void *user); /* progress lines (may be NULL) */
    void *log_user;
} slm_compare_params;

/* The measurements of one candidate. Rates are per second of wall time; medians over repeats. */
typedef struct {
    char name[128];
    char path[1024];
    char kind[32];           /* "fine-tuned", "fine-tuned (LoRA)", "zero-shot", "few-shot (K)", "stat", "embed", "auto" */
    int ok;                  /* 0: error says why; the other fields may be partly set */
    char error[1024];
    size_t n;                /* examples scored */
    double score, score_ci[2];       /* classify: accuracy; keywords: F1@10 (fractions; bootstrap 95% interval) */
    double score2, score2_ci[2];     /* classify: macro-F1; keywords: F1@5 */
    int64_t n_params;        /* weights in the model file (0: none, as for stat keywords) */
    uint64_t file_bytes;     /* size of the model file */
    uint64_t peak_rss_bytes; /* the candidate's process peak resident set (its own with isolate) */
    double load_s;           /* opening the model */
    double train_s;          /* fine-tuning (0: not trained here and no record) */
    double eval_s;           /* scoring the n examples at all threads */
    double latency_p50_s, latency_p95_s; /* one example at a time, all threads */
    int threads_all;         /* the thread count of the "all threads" figures */
    int speed_n, repeats;    /* examples per speed measurement, and repeats */
    double rate_1, rate_all; /* examples/s at 1 thread and at threads_all (median of repeats) */
    double rate_1_spread, rate_all_spread; /* (max - min) / median over the repeats */
    double cpu_per_example_s; /* CPU seconds (user + system) per example at 1 thread: steadier than rates under load */
    double cost_per_million; /* cpu_hour_price * the CPU-hours of 1e6 examples at 1 thread */
    double load_before, load_after; /* the machine's 1-minute load average when the candidate started and ended */
} slm_compare_result;

/* The default comparison settings. */
slm_compare_params slm_compare_defaults(void);
/* Measures n candidates one after another on the same examples: results (caller-owned, n entries)
 * get one record each. A candidate that fails (missing file, labels it cannot score, too big for
 * memory, a crash in its child) gets ok = 0 and a message; the others still run. Returns an error
 * only for bad parameters or an unreadable data file. */
slm_status slm_compare_run(const slm_compare_params *params, const slm_compare_candidate *candidates, size_t n,
                           slm_compare_result *results);
/* Writes the results as a Markdown report (a table, notes on method and load, the command given as
 * command, which may be NULL) to path. */
slm_status slm_compare_write_markdown(const char *path, const slm_compare_params *params, const slm_compare_result *results,
                                      size_t n, const char *command);
/* Writes the results and settings as a JSON file. */
slm_status slm_compare_write_json(const char *path, const slm_compare_params *params, const slm_compare_result *results,
                                  size_t n, const char *command);
/* Writes an SVG chart: score against examples/s (log scale) at all threads (or 1: chart_one_thread), point size by parameters. */
slm_status slm_compare_write_svg(const char *path, const slm_compare_params *params, const slm_compare_result *results,
                                 size_t n);

#ifdef __cplusplus
}
#endif
#endif /* SLM_H */
