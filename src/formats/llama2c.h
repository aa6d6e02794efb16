/* llama2c.h — llama2.c checkpoints (.bin) and tokenizer files, read in place.
 * Checkpoint, legacy (version 0): 7 x i32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size [negative: separate classifier], seq_len), then f32 arrays: token_embedding,
 * rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag,
 * [wcls]. Version 1: "ak42" magic, i32 version, the 7 i32, u8 shared_classifier, zero pad to
 * 256 bytes, then rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3,
 * [wcls]. Tokenizer: i32 max_token_length, then per token f32 score, i32 length, bytes. */
#ifndef SLM_FORMATS_LLAMA2C_H
#define SLM_FORMATS_LLAMA2C_H
#include <stdint.h>

#include "base/mapped_file.h"
#include "slm.h"

typedef struct {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared_classifier;
    int version; /* 0 (legacy header) or 1 */
} llama2c_config;

typedef struct {
    const float *token_embedding; /* (vocab_size, dim) */
    const float *rms_att;         /* (n_layers, dim) */
    const float *wq;              /* (n_layers, dim, dim): rows are outputs */
    const float *wk;              /* (n_layers, kv_dim, dim) */
    const float *wv;              /* (n_layers, kv_dim, dim) */
    const float *wo;              /* (n_layers, dim, dim) */
    const float *rms_ffn;         /* (n_layers, dim) */
    const float *w1;              /* (n_layers, hidden_dim, dim) */
    const float *w2;              /* (n_layers, dim, hidden_dim) */
    const float *w3;              /* (n_layers, hidden_dim, dim) */
    const float *rms_final;       /* (dim,) */
    const float *wcls;            /* (vocab_size, dim); = token_embedding when shared */
} llama2c_weights;

typedef struct {
    slm_mapped_file file;
    llama2c_config config;
    llama2c_weights w;
} llama2c_checkpoint;

/* True if the bytes look like a llama2.c checkpoint header (either version). */
int llama2c_looks_like_checkpoint(const uint8_t *data, size_t size);
/* Maps and validates a checkpoint: header ranges and the exact file size. Release with
 * llama2c_close. */
slm_status llama2c_open(const char *path, llama2c_checkpoint *out);
/* Validates a checkpoint image in memory (not freed by llama2c_close). */
slm_status llama2c_parse(const uint8_t *data, size_t size, const char *name, llama2c_checkpoint *out);
/* Unmaps a checkpoint (a zeroed struct is fine). */
void llama2c_close(llama2c_checkpoint *ckpt);

typedef struct {
    int n_tokens;
    int max_token_length;
    char **pieces;   /* n_tokens NUL-terminated strings, owned */
    uint32_t *lengths;
    float *scores;
} llama2c_vocab;

/* Reads a llama2.c tokenizer file. expected_tokens > 0 requires exactly that many tokens;
 * 0 reads tokens until the end of the file. Release with llama2c_vocab_free. */
slm_status llama2c_vocab_read(const char *path, int expected_tokens, llama2c_vocab *out);
/* Frees a vocabulary read by llama2c_vocab_read (a zeroed struct is fine). */
void llama2c_vocab_free(llama2c_vocab *v);

#endif
