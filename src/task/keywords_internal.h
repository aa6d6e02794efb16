/* keywords_internal.h — what the keyword-extraction files share inside the library: stopword
 * lists (stopwords.c), a document split into words, terms and candidate phrases
 * (candidates.c), the statistical scorer (keywords_stat.c) and the zip reader (zip_reader.c). */
#ifndef SLM_TASK_KEYWORDS_INTERNAL_H
#define SLM_TASK_KEYWORDS_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* The most words a candidate phrase may have. */
#define KW_MAX_WORDS 8

/* ---- stopwords */

/* A set of lowercased stopwords. */
typedef struct kw_stopwords kw_stopwords;
/* Loads one word a line ('#' comments, blank lines skipped) from path, or the built-in English
 * list when path is NULL. The caller frees *out with kw_stopwords_free. */
slm_status kw_stopwords_load(const char *path, kw_stopwords **out);
void kw_stopwords_free(kw_stopwords *sw);
/* Whether the lowercased word (len bytes) is in the set. */
int kw_stopwords_has(const kw_stopwords *sw, const char *word, size_t len);

/* ---- a document as words, terms and candidates */

/* A word occurrence. */
typedef struct {
    uint32_t start, end; /* byte range in the text */
    int term;            /* index into kw_doc.terms */
    int sentence;        /* sentence number, from 0 */
    uint8_t upper;       /* starts with an uppercase letter and does not start its sentence */
    uint8_t acronym;     /* two or more letters, all uppercase */
    uint8_t gap_before;  /* punctuation or a line break separates it from the previous word */
} kw_word;

/* The words of a document that share a stem (lowercased). */
typedef struct {
    char *stem;          /* NUL-terminated, in kw_doc's string storage */
    uint8_t stop;        /* a stopword (by its lowercased form) */
    uint8_t no_phrase;   /* cannot be part of a candidate (a number, a single character) */
    int tf, tf_upper, tf_acronym;
    int n_sentences;     /* distinct sentences it occurs in */
    double median_sentence;
    int left_distinct, left_total, right_distinct, right_total; /* adjacent-word contexts */
    int first_word;      /* index of its first occurrence */
    double score;        /* the scorer's word score (keywords_stat.c) */
} kw_term;

/* A candidate phrase: a distinct sequence of terms. */
typedef struct {
    int terms[KW_MAX_WORDS];
    int n;
    int tf;              /* occurrences */
    int first_word;      /* word index of its first occurrence */
    int n_sentences_seen; /* distinct sentences (counted in order of occurrence) */
    int last_sentence;
    double score;        /* higher is better */
} kw_candidate;

typedef struct {
    const char *text;
    size_t len;
    kw_word *words;
    int n_words, cap_words;
    kw_term *terms;
    int n_terms, cap_terms;
    kw_candidate *cands;
    int n_cands, cap_cands;
    int n_sentences;
    char *strings;       /* stems, back to back */
    size_t n_strings, cap_strings;
} kw_doc;

/* Splits text into words (Unicode letters, marks and digits, joined by inner hyphens,
 * apostrophes and slashes, and dots between digits), sentences and candidates of min..max words
 * that neither cross punctuation nor start or end with a stopword. Bytes that are not valid
 * UTF-8 separate words. kw_doc_free releases it. */
slm_status kw_doc_build(kw_doc *doc, const char *text, size_t len, const kw_stopwords *sw, int min_words,
                        int max_words);
void kw_doc_free(kw_doc *doc);
/* The surface text of candidate c (its first occurrence, whitespace runs made one space),
 * malloc'd. */
char *kw_candidate_text(const kw_doc *doc, const kw_candidate *c);

/* ---- scorers */

/* Tunable weights of the statistical scorer (keywords_stat.c). */
typedef struct {
    double w_yake;        /* weight of -log of the YAKE-style phrase score */
    double w_len2, w_len3; /* bonus for two- and three-word phrases */
    double w_position;    /* weight of -log(1 + first word index) */
    double w_tf;          /* weight of log(tf) beyond the YAKE score */
    double w_head;        /* bonus when the last word looks like a noun (suffix heuristic) */
    double w_bad_edge;    /* penalty when the first or last word looks like a verb or adverb */
    double w_inner_stop;  /* penalty for a stopword inside the phrase */
    double dedup;         /* similarity above which a lower-ranked phrase is dropped, (0, 1] */
} kw_stat_weights;

/* The weights tuned on Inspec train. */
kw_stat_weights kw_stat_default_weights(void);
/* Scores doc's terms and candidates (fills term.score and candidate.score). */
void kw_stat_score(kw_doc *doc, const kw_stat_weights *w);
/* Picks the top_k best-scoring candidates, dropping near-duplicates of better ones; writes
 * candidate indices to picked (top_k slots) and returns how many. */
int kw_pick_top(const kw_doc *doc, int top_k, double dedup, int *picked);

/* Replaces an extractor's stat weights (for bench/keywords_tune.c and tests). */
void kw_keywords_set_weights(slm_keywords *kw, const kw_stat_weights *w);

/* Reads a whole file, malloc'd and NUL-terminated; *len gets its size. */
slm_status kw_read_file(const char *path, char **data, size_t *len);

/* ---- zip archives (stored and deflated entries) */

typedef struct kw_zip kw_zip;
slm_status kw_zip_open(const char *path, kw_zip **out);
void kw_zip_close(kw_zip *zip);
int kw_zip_count(const kw_zip *zip);
/* Name of entry i (borrowed). */
const char *kw_zip_name(const kw_zip *zip, int i);
/* The uncompressed bytes of entry i, malloc'd and NUL-terminated; *len gets the size. */
slm_status kw_zip_read(const kw_zip *zip, int i, char **data, size_t *len);

#endif
