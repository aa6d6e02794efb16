/* keywords_supervised.h — phrases scored by a BIO tagger's word probabilities
 * (keywords_supervised.c), for the supervised method and its combination with stat (keywords.c). */
#ifndef SLM_TASK_KEYWORDS_SUPERVISED_H
#define SLM_TASK_KEYWORDS_SUPERVISED_H
#include <stdint.h>

#include "task/keywords_internal.h"
#include "task/tagger.h"

/* A distinct phrase (by Porter stems) of a tagged text. */
typedef struct {
    char *key;           /* the words' stems joined by single spaces (as kw_normalize_phrase) */
    uint32_t start, end; /* bytes of its first occurrence in the text */
    int first_word;      /* index of that occurrence's first word */
    double score;        /* a decoded span: 1 + the mean probability of its words not being O;
                            any other n-gram: P(B) P(I)... P(not I after), in [0, 1] */
    double span_prob;    /* the best occurrence's P(B) P(I)... P(not I after) */
    double inside;       /* the best occurrence's mean probability of its words not being O */
    int decoded;         /* some occurrence is a span of the most likely tags */
    int count;           /* occurrences counted */
} kw_sup_phrase;

/* The phrases of text given its tagging: decoded spans of min..max words, and every n-gram of
 * min..max words that crosses no punctuation and neither starts nor ends with a stopword.
 * *out (sorted by key; free with kw_sup_phrases_free) gets *n phrases. */
slm_status kw_supervised_phrases(const char *text, const kw_tagged_doc *td, const kw_stopwords *sw, int min_words,
                                 int max_words, kw_sup_phrase **out, int *n);
void kw_sup_phrases_free(kw_sup_phrase *p, int n);
/* The phrase with this key (binary search over the sorted phrases), or NULL. */
const kw_sup_phrase *kw_sup_lookup(const kw_sup_phrase *p, int n, const char *key);
/* Indices of the top_k best-scoring phrases, best first, into picked; returns how many (-1: no
 * memory). */
int kw_supervised_pick(const kw_sup_phrase *p, int n, int top_k, int *picked);

#endif
