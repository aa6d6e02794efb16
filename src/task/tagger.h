/* tagger.h — a BIO keyphrase tagger (a GGUF from `slm finetune --task tag`) run over texts
 * (tagger.c): per word of each text, the probabilities of O, B and I. */
#ifndef SLM_TASK_TAGGER_H
#define SLM_TASK_TAGGER_H
#include <stddef.h>

#include "slm.h"
#include "train/token_tagging.h"

typedef struct kw_tagger kw_tagger;

/* One text's words (tag_split_words) and their (n_words, 3) probabilities of O, B, I. */
typedef struct kw_tagged_doc_s {
    tag_word *words;
    int n_words;
    float *probs;
} kw_tagged_doc;

/* Whether path is a GGUF with slm.tagger.labels (a tagger rather than a plain encoder). */
int kw_is_tagger_file(const char *path);
/* Loads a tagger GGUF (labels O, B, I; the encoder, head and tokenizer). The caller frees *out
 * with kw_tagger_free. */
slm_status kw_tagger_open(const char *path, kw_tagger **out);
void kw_tagger_free(kw_tagger *tg);
/* Tags n texts (NULL: empty): out[i] gets text i's words and probabilities (the caller frees them
 * with kw_tagged_docs_free). Uses the worker pool, so it must not run inside a pool job. */
slm_status kw_tagger_run(kw_tagger *tg, const char *const *texts, size_t n, kw_tagged_doc *out);
void kw_tagged_docs_free(kw_tagged_doc *docs, size_t n);

#endif
