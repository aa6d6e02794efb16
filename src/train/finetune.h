/* finetune.h — the fine-tuning loop of slm_finetune_classify over texts already tokenised
 * (finetune.c), so that tools can drive it with ids from elsewhere. */
#ifndef SLM_TRAIN_FINETUNE_H
#define SLM_TRAIN_FINETUNE_H
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "slm.h"

/* Tokenised, labelled examples: example i is ids[i * max_len ..] with lens[i] valid ids
 * ([CLS] ... [SEP]), the rest padding. */
typedef struct {
    int32_t *ids;    /* (n, max_len) */
    int *lens;       /* (n), each in [1, max_len] */
    int32_t *labels; /* (n), each in [0, K); unused (may be NULL) with tags */
    int32_t *tags;   /* token classification: (n, max_len) a label per position in [0, K) or -1
                        (left out of the loss); NULL: sequence classification by labels */
    size_t n;
    int max_len;
} ft_examples;

/* Runs slm_finetune_classify's loop on tokenised examples (dev may be NULL); label_names has
 * K names. p must be complete (defaults filled in). With train->tags (token classification,
 * slm_finetune_tag) the head reads every position, the dev set is scored by BIO span F1
 * (label_names must be O, B, I in that order) and the file gets slm.tagger.* keys. */
slm_status finetune_run(const char *base_path, const ft_examples *train, const ft_examples *dev,
                        const char *const *label_names, int K, const slm_finetune_params *p, const char *out_path,
                        slm_finetune_progress_fn progress, void *user, slm_finetune_result *result);
/* Tokenises one text for a BERT: [CLS] text [SEP] (added when the tokenizer does not add them),
 * cut to max_len ids with the [SEP] kept. row gets *len ids (max_len room); *cut is set when
 * the text was longer. */
slm_status bert_encode_text(const slm_tokenizer *tok, const char *text, int max_len, int32_t *row, int *len, int *cut);
/* A model the fine-tuning loop trains: finetune.c's BERT, decoder_finetune.c's LoRA decoder. */
typedef struct {
    void *model;
    int K, B; /* classes; examples per step (the largest batch the model takes) */
    int per_token; /* token classification: labels per position, scores (Bu, T, K), dev scored by BIO span F1 */
    /* one optimiser step t (1-based) on a (Bu, T) batch at learning rate lr; returns the loss */
    float (*step)(void *model, const int32_t *tokens, const int *lens, const int32_t *labels, const float *class_w,
                  int Bu, int T, float lr, int t);
    /* class scores (Bu, K) of a batch, or (Bu, T, K) with per_token; the highest predicted; the array is the model's */
    const float *(*scores)(void *model, const int32_t *tokens, const int *lens, int Bu, int T);
    /* writes the model as it is now to path */
    slm_status (*save)(void *model, const char *path);
} ft_engine;

/* The loop both engines share: seeded length-grouped batches, warmup + linear decay, class
 * weights, a dev score per epoch, the best epoch saved to out_path, early stopping. */
slm_status finetune_loop(const ft_engine *e, const ft_examples *train, const ft_examples *dev,
                         const slm_finetune_params *p, const char *out_path, slm_finetune_progress_fn progress,
                         void *user, slm_finetune_result *result);
/* Checks that every example has 1..max_len tokens below V and a label below K. */
slm_status finetune_check_examples(const ft_examples *ex, int V, int K, const char *what);
/* Writes w to path atomically (a temporary file, fsync, rename). */
slm_status finetune_write_file(gguf_writer *w, const char *path);
/* Tokenises one text into row (room for max_len ids): *len ids, *cut set when it was longer. */
typedef slm_status (*ft_encode_fn)(const slm_tokenizer *tok, const char *text, int max_len, int32_t *row, int *len,
                                   int *cut);
/* Tokenises the labelled texts of ds with encode into ex (padding: id 0, never attended to);
 * *n_cut counts the texts cut to max_len. Errors name the example ("training"/"dev" is what). */
slm_status ft_tokenize_dataset(const slm_tokenizer *tok, const slm_dataset *ds, int max_len, const char *what,
                               ft_encode_fn encode, ft_examples *ex, size_t *n_cut);
/* Checks the settings (ranges of epochs, batch, max_len, lr, ...): an error naming the bad one. */
slm_status finetune_check_params(const slm_finetune_params *p);
/* Frees the arrays of ex (and zeroes it). */
void ft_examples_free(ft_examples *ex);

#endif
