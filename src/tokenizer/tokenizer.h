/* tokenizer.h — the tokenizer's internal representation, shared by the vocabulary loaders,
 * the SentencePiece-style BPE (spm.c) and the byte-level BPE (bpe.c). Pieces are stored as
 * the vocabulary writes them: SentencePiece's space is "▁" (U+2581), byte-level BPE's "Ġ". */
#ifndef SLM_TOKENIZER_TOKENIZER_H
#define SLM_TOKENIZER_TOKENIZER_H
#include <stdint.h>

#include <stdbool.h>

#include "formats/gguf.h"
#include "slm.h"
#include "tokenizer/textbuf.h"

/* Token types, numbered as in GGUF's tokenizer.ggml.token_type. */
enum {
    TOKEN_NORMAL = 1,
    TOKEN_UNKNOWN = 2,
    TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4,
    TOKEN_UNUSED = 5,
    TOKEN_BYTE = 6,
};

typedef enum {
    TOKENIZER_SPM = 1, /* SentencePiece BPE with scores and byte fallback (Llama, Gemma) */
    TOKENIZER_BPE = 2, /* byte-level BPE with merge ranks and a regex pre-tokenizer (GPT-2, Llama 3) */
    TOKENIZER_WPM = 3, /* WordPiece with BERT's uncased basic tokenizer (tokenizer.ggml.model "bert") */
} tokenizer_kind;

/* Byte-level BPE state (bpe.c): pre-tokenizer regexes, byte characters, merge ranks. */
typedef struct bpe_vocab bpe_vocab;

struct slm_tokenizer {
    tokenizer_kind kind;
    int n_vocab;
    char **text;      /* (n_vocab,) NUL-terminated pieces, owned */
    uint32_t *len;    /* (n_vocab,) byte length of each piece */
    float *score;     /* (n_vocab,) merge priority: higher merges first */
    uint8_t *type;    /* (n_vocab,) TOKEN_* */
    int bos, eos, unk;
    int sep, pad, mask;   /* WordPiece: [SEP], [PAD], [MASK] ids or -1 (bos is [CLS]) */
    int add_bos;          /* prepend BOS by default */
    int add_space_prefix; /* SentencePiece's add_dummy_prefix */
    int remove_extra_spaces; /* SentencePiece's remove_extra_whitespaces: trim, collapse runs */
    int replace_invalid_utf8; /* invalid UTF-8 bytes become U+FFFD as in SentencePiece (set for
                                 .model and llama2.c sources); else raw byte tokens as in llama.cpp */
    int byte_token[256];  /* id of "<0xXX>", or -1 */
    int16_t *byte_value;  /* (n_vocab,) the byte a TOKEN_BYTE piece stands for, else -1 */
    /* open-addressing hash of piece -> id over all tokens */
    int32_t *slots;
    uint32_t n_slots; /* power of two */
    /* user-defined and control tokens (control ones match only with parse_special), grouped
       by first byte and longest first within a group: group c is
       specials[special_start[c] .. special_start[c + 1]) */
    int32_t *specials;
    int n_specials;
    int special_start[257];
    bpe_vocab *bpe; /* owned; TOKENIZER_BPE only */
};

/* Allocates the per-token arrays of an empty tokenizer of n_vocab tokens. */
slm_status tokenizer_alloc(slm_tokenizer *tok, int n_vocab);
/* Sets piece id (copied) with its score and type. */
slm_status tokenizer_set_token(slm_tokenizer *tok, int id, const char *text, uint32_t len,
                               float score, int type);
/* Builds the lookup tables once every token is set. */
slm_status tokenizer_finish(slm_tokenizer *tok);
/* Id of the piece with exactly these bytes, or -1. */
int tokenizer_find(const slm_tokenizer *tok, const char *text, uint32_t len);
/* Builds a tokenizer from an open GGUF file's tokenizer.ggml.* metadata. Caller owns *out. */
slm_status tokenizer_from_gguf(const gguf_file *f, slm_tokenizer **out);
/* Reads a llama2.c tokenizer file; n_vocab > 0 requires that many tokens. SentencePiece's
 * normaliser flags, which the format lacks, come from a <stem>.model file beside it if there is
 * one. Caller owns *out. */
slm_status tokenizer_from_llama2c(const char *path, int n_vocab, slm_tokenizer **out);
/* Reads a SentencePiece .model file (BPE models). Caller owns *out. */
slm_status tokenizer_from_spm_model(const char *path, slm_tokenizer **out);
/* Reads a tokenizer file that is not GGUF: a SentencePiece .model (by extension) or a llama2.c
 * tokenizer.bin; n_vocab > 0 requires that many tokens. Caller owns *out. */
slm_status tokenizer_from_file(const char *path, int n_vocab, slm_tokenizer **out);
/* ---- vocab_write.c ---- */
/* Adds the tokenizer.ggml.* metadata that tokenizer_from_gguf reads back to the same
 * tokenizer (SentencePiece: pieces, scores, types, normaliser flags; byte-level BPE: pieces,
 * types, merges, pre-tokenizer). The writer borrows arrays allocated into *keep until it has
 * written; the caller frees *keep (free) afterwards, also on failure. */
slm_status tokenizer_to_gguf(const slm_tokenizer *tok, gguf_writer *w, void **keep);

/* ---- SentencePiece BPE (spm.c) ---- */
/* Encodes one fragment of text (no special tokens in it), with "▁" first when space_prefix. */
slm_status spm_encode_fragment(const slm_tokenizer *tok, const char *text, size_t n, bool space_prefix, id_list *out);
/* text without leading/trailing spaces and with runs of spaces made one. */
bool spm_squeeze_spaces(byte_buf *b, const char *text, size_t n);
/* Decodes ids (already range-checked) as SentencePiece does. */
slm_status spm_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len);
/* The bytes token id adds after token prev (id already range-checked). */
int spm_token_to_bytes(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap);

/* ---- byte-level BPE (bpe.c) ---- */
/* GPT-2's pre-tokenizer regex (PCRE2 syntax, for PCRE2_UTF | PCRE2_UCP). */
#define BPE_GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Fills GPT-2's bytes_to_unicode table: the code point that stands for each byte. */
void bpe_byte_chars(uint16_t cp_of_byte[256]);
/* Makes tok (tokens set, tokenizer_finish done) a byte-level BPE tokenizer whose pre-tokenizer
 * is the one tokenizer.ggml.pre names; NULL, "default" and unknown names get GPT-2's. */
slm_status bpe_init(slm_tokenizer *tok, const char *pre);
/* Adds the merge "left right" (len bytes) with the next rank; merges whose parts or union are
 * not tokens are skipped (their rank is still used up). */
slm_status bpe_add_merge(slm_tokenizer *tok, const char *text, size_t len);
/* Frees the BPE state (NULL is fine). */
void bpe_free(bpe_vocab *b);
/* Number of merges in use (those whose parts and union are tokens). */
uint32_t bpe_n_merges(const slm_tokenizer *tok);
/* The merges in use in rank order: merge i joins token pairs[2i] and token pairs[2i+1]
 * (pairs holds 2 * bpe_n_merges ids). */
slm_status bpe_merge_pairs(const slm_tokenizer *tok, int32_t *pairs);
/* The pre-tokenizer in use (its first name); *known is false when tokenizer.ggml.pre was not
 * recognised and GPT-2's is used instead. */
const char *bpe_pre_name(const slm_tokenizer *tok, bool *known);
/* Encodes one fragment of text (no special tokens in it). */
slm_status bpe_encode_fragment(const slm_tokenizer *tok, const char *text, size_t n, id_list *out);
/* Decodes ids (already range-checked) to raw bytes (not necessarily valid UTF-8). */
slm_status bpe_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len);
/* The bytes token id (already range-checked) stands for. */
int bpe_token_to_bytes(const slm_tokenizer *tok, int id, char *buf, size_t cap);

/* ---- WordPiece (wordpiece.c) ----
 * Pieces are stored as llama.cpp's GGUF stores them: a word-initial piece with "▁" in front
 * ("▁play"), a continuation piece bare ("ing", Hugging Face's "##ing"), special tokens such
 * as "[CLS]" unchanged. */
/* Hugging Face's piece (vocab.txt / tokenizer.json) in that convention, into a new string of
 * *len bytes (caller frees); "[...]" pieces stay as they are. */
char *wpm_piece_from_hf(const char *piece, size_t n, uint32_t *len);
/* Encodes one fragment of text (no special tokens in it): BERT's basic tokenizer (clean-up,
 * CJK splitting, NFD accent stripping, lower-casing, punctuation splitting), then greedy
 * longest-match-first WordPiece, a word of more than 100 characters or with no match being
 * one [UNK]. */
slm_status wpm_encode_fragment(const slm_tokenizer *tok, const char *text, size_t n, id_list *out);
/* Decodes ids (already range-checked): words joined by spaces, continuation pieces glued,
 * control tokens skipped. */
slm_status wpm_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len);
/* The bytes token id adds after token prev (id already range-checked). */
int wpm_token_to_bytes(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap);
/* Reads a Hugging Face tokenizer folder (tokenizer.json, else vocab.txt; special tokens from
 * tokenizer.json's added tokens or the standard [PAD] [UNK] [CLS] [SEP] [MASK]). Only uncased
 * BERT WordPiece tokenizers are accepted. Caller owns *out. */
slm_status tokenizer_from_hf_dir(const char *dir, slm_tokenizer **out);

#endif
