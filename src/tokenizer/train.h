/* train.h — tokenizer training, inside the library: the word counter that streams text files
 * through the thread pool (train.c), the BPE merge engine with incremental pair counts
 * (merge_train.c), and the two front ends that make vocabularies (bpe_train.c, spm_train.c). */
#ifndef SLM_TOKENIZER_TRAIN_H
#define SLM_TOKENIZER_TRAIN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* ---------------------------------------------------------------- counting words (train.c) */

/* How text is cut into the words that merges stay within. */
typedef enum {
    SPLIT_GPT2 = 1, /* GPT-2's pre-tokenizer regex; words are raw bytes */
    SPLIT_SPM = 2,  /* lines; spaces become "▁", "▁" before each line, a word per "▁" */
} train_split;

/* One distinct word and how often it occurs. */
typedef struct {
    const char *text; /* borrowed from the corpus */
    uint32_t len;
    int64_t count;
} train_word;

typedef struct word_table word_table;

/* The distinct words of a text, sorted by their bytes (so the order never depends on threads). */
typedef struct {
    train_word *words; /* (n_words,) */
    size_t n_words;
    uint64_t n_bytes;  /* bytes of text read */
    word_table *table; /* owns the word texts */
} train_corpus;

/* Where the text comes from: files, or (paths NULL) len bytes in memory. */
typedef struct {
    const char *const *paths;
    size_t n_paths;
    const char *text;
    size_t len;
    size_t block; /* bytes each thread counts per block (0: 4 MiB); tests make it tiny */
} train_source;

/* Reads the source in chunks, cuts each chunk at the special tokens and into words by split,
 * counting on the thread pool into per-thread tables that are merged at the end. */
slm_status train_count_words(const train_source *src, train_split split, const slm_tokenizer_train_params *p,
                             train_corpus *out);
/* Frees what train_count_words made (a zeroed corpus is fine). */
void train_corpus_free(train_corpus *c);

/* ---------------------------------------------------------------- merging (merge_train.c) */

/* The merge engine: words are sequences of symbol ids, each with a count. Each step merges the
 * adjacent pair that occurs most often (overlapping pairs counted, as "a a a" holds two
 * "a a"), ties going to the greatest pair of byte strings (left first, then right, compared
 * bytewise with a prefix before its extensions); the counts of the pairs around each merged
 * occurrence are updated in place, and a heap with lazily discarded stale entries finds the
 * next best. A merge whose bytes are already a symbol reuses that symbol. */
typedef struct merger merger;

/* One merge: left + right became merged (a new symbol when is_new). */
typedef struct {
    int32_t left, right, merged;
    int64_t count; /* occurrences of the pair when it was merged */
    bool is_new;
} merge_step;

/* Creates an engine over n symbols with these bytes (texts[i], lens[i]); a symbol of length 0
 * never merges (it stands for what has no symbol). Caller frees with merger_free. */
slm_status merger_new(int32_t n, const char *const *texts, const uint32_t *lens, merger **out);
/* Makes pairs whose union would be longer than max_chars UTF-8 characters never count (0: no
 * limit, the default); set before merger_start. */
void merger_set_max_chars(merger *m, uint32_t max_chars);
/* Adds a word of n symbols occurring count times (words of one symbol are dropped). */
slm_status merger_add_word(merger *m, const int32_t *syms, uint32_t n, int64_t count);
/* Counts the pairs of the words added so far; call once, before merger_step. */
slm_status merger_start(merger *m);
/* Does the next merge into *out; out->merged is -1 when no pair is left. */
slm_status merger_step(merger *m, merge_step *out);
/* Starts m and merges until n_new new symbols exist or no pair is left, reporting progress
 * through p; *pairs (caller frees) holds the *n_merges merges in order as (left, right) symbol
 * ids, merges that gave an existing symbol included. */
slm_status merger_run(merger *m, int n_new, const slm_tokenizer_train_params *p, int32_t **pairs, int *n_merges);
/* Number of symbols (initial and merged). */
int32_t merger_n_symbols(const merger *m);
/* The bytes of symbol id (borrowed; valid until the next merger_step). */
const char *merger_text(const merger *m, int32_t id, uint32_t *len);
/* The current count of the adjacent pair (a, b), 0 when it does not occur. */
int64_t merger_pair_count(const merger *m, int32_t a, int32_t b);
/* Frees the engine (NULL is fine). */
void merger_free(merger *m);

/* ---------------------------------------------------------------- front ends */

/* Byte-level BPE (bpe_train.c): builds the tokenizer from counted pre-tokens. */
slm_status bpe_train(const train_corpus *c, const slm_tokenizer_train_params *p, slm_tokenizer **out,
                     slm_tokenizer_train_stats *stats);
/* SentencePiece-style BPE (spm_train.c): builds the tokenizer from counted words. */
slm_status spm_train(const train_corpus *c, const slm_tokenizer_train_params *p, slm_tokenizer **out,
                     slm_tokenizer_train_stats *stats);

#endif
