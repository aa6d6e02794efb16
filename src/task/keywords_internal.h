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
/* The longest document extracted from (its words, terms and candidates take about 20 times
 * its size in memory). */
#define KW_MAX_DOC_BYTES (64 << 20)

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
    uint8_t wclass;      /* KW_CLASS_* of its lowercased form */
} kw_word;

/* Closed word classes (word_classes.c), English. */
enum { KW_CLASS_NONE, KW_CLASS_DETERMINER, KW_CLASS_PREPOSITION, KW_CLASS_AUXILIARY, KW_CLASS_CONJUNCTION,
       KW_CLASS_GENERIC };
/* The class of a case-folded word (len bytes). */
int kw_word_class(const char *folded, size_t len);
/* Whether a Porter stem is that of a common English verb (the table is built once, thread-safely;
 * it lives as long as the process). */
int kw_is_verb_stem(const char *stem);

/* The words of a document that share a stem (lowercased). */
typedef struct {
    char *stem;          /* NUL-terminated, in kw_doc's string storage */
    uint8_t stop;        /* a stopword (by its lowercased form) */
    uint8_t no_phrase;   /* cannot be part of a candidate (a number, a single character) */
    uint8_t verb;        /* the stem of a common verb */
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
    int n_maximal;       /* occurrences that fill a whole run between stopwords and punctuation */
    int n_after_det, n_after_prep; /* occurrences right after a determiner, a preposition */
    int n_before_aux, n_before_prep; /* occurrences right before an auxiliary, a preposition/conjunction */
    int min_slack;       /* fewest extra words in the stopword-free run around an occurrence */
    double score;        /* higher is better */
    double embed_score;  /* the encoder ranking's score (keywords_embed.c) */
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

/* The phrase features of the statistical scorer (keywords_stat.c); the score is their weighted
 * sum. */
enum {
    KW_F_YAKE,          /* -log of the YAKE-style phrase score */
    KW_F_LEN1, KW_F_LEN2, KW_F_LEN3, /* one, two, three words */
    KW_F_POSITION,      /* log(1 + index of the first word) */
    KW_F_REL_POSITION,  /* index of the first word / words in the document */
    KW_F_TF,            /* log(occurrences) */
    KW_F_MAXIMAL,       /* share of occurrences filling a whole stopword-free run */
    KW_F_HEAD_NOUN,     /* last word ends like a noun (-tion, -ment, -ity, -er, ...) */
    KW_F_HEAD_ING, KW_F_HEAD_PLURAL, KW_F_HEAD_ED, KW_F_HEAD_LY, KW_F_HEAD_ADJ,
    KW_F_FIRST_LY, KW_F_FIRST_ED, KW_F_FIRST_ING, KW_F_FIRST_ADJ, KW_F_FIRST_S,
    KW_F_INNER_STOP,    /* a stopword inside */
    KW_F_UPPER,         /* share of capitalised words (not sentence-initial) in its occurrences */
    KW_F_ACRONYM,       /* contains an all-capitals word */
    KW_F_FIRST_SENTENCE, /* occurs in the first sentence (often the title) */
    KW_F_WORD_TF,       /* mean log(occurrences) of its words */
    KW_F_SPREAD,        /* sentences it occurs in / sentences */
    KW_F_DIGIT,         /* contains a digit */
    KW_F_AFTER_DET, KW_F_AFTER_PREP, KW_F_BEFORE_AUX, KW_F_BEFORE_PREP, /* shares of occurrences */
    KW_F_FIRST_GENERIC, KW_F_HEAD_GENERIC, /* a generic first or last word ("new", "approach") */
    KW_F_HYPHEN,        /* contains a hyphenated word */
    KW_F_HEAD_TF,       /* log(occurrences) of the last word's stem */
    KW_F_SLACK,         /* words of the longest stopword-free run around it minus its own, at best */
    KW_F_FIRST_VERB, KW_F_HEAD_VERB, /* first or last word is a common verb */
    KW_F_WORDS_IN_FIRST, /* share of its words that occur in the first sentence */
    KW_F_MIN_WORD_TF,   /* log(occurrences) of its rarest word */
    KW_N_FEATURES
};

/* Weights of the statistical scorer, and its near-duplicate threshold. */
typedef struct {
    double w[KW_N_FEATURES];
    double dedup;         /* similarity above which a lower-ranked phrase is dropped, (0, 1] */
} kw_stat_weights;

/* Feature names (for the tuning tool). */
extern const char *const kw_feature_names[KW_N_FEATURES];
/* The weights tuned on Inspec train. */
kw_stat_weights kw_stat_default_weights(void);
/* Computes word statistics and every candidate's features: feats gets n_cands * KW_N_FEATURES. */
int kw_stat_features(kw_doc *doc, double *feats);
/* Scores doc's candidates (fills candidate.score) with the weights. */
void kw_stat_score(kw_doc *doc, const kw_stat_weights *w);
/* The phrase lowercased, split at whitespace, each word Porter-stemmed, joined by single spaces
 * (keywords_eval.c), malloc'd; NULL on invalid UTF-8 or no memory. */
char *kw_normalize_phrase(const char *phrase);
/* Picks the top_k best-scoring candidates, dropping near-duplicates of better ones; writes
 * candidate indices to picked (top_k slots) and returns how many. */
int kw_pick_top(const kw_doc *doc, int top_k, double dedup, int *picked);

/* How keywords_embed.c ranks with an encoder. */
typedef struct {
    int pool;            /* the stat scorer's best candidates that get embedded */
    double dedup;        /* near-duplicate threshold for the pool */
    double stat_weight;  /* 0: rank by cosine alone (embed); > 0: z(stat) * weight + z(cosine) (auto) */
    double diversity;    /* MMR trade-off in [0, 1] */
} kw_embed_options;

/* Ranks doc's candidates (already stat-scored) with the encoder: writes up to top_k candidate
 * indices to picked, best first, their scores into the candidates. Uses the worker pool (through
 * slm_embed), so it must not run inside a pool job. */
slm_status kw_embed_rank(kw_doc *doc, slm_embedder *embedder, const kw_embed_options *opt, int top_k, int *picked,
                         int *n_picked);
/* Its two halves: the pool (malloc'd candidate indices, and n_pool + 1 embeddings, the
 * document's first) ... */
slm_status kw_embed_pool(kw_doc *doc, slm_embedder *embedder, const kw_embed_options *opt, int top_k, int **pool,
                         float **emb, int *n_pool);
/* ... and the selection from it (sets embed_score of the picked candidates); returns the count. */
int kw_embed_select(kw_doc *doc, const int *pool, const float *emb, int d, int n_pool, const kw_embed_options *opt,
                    int top_k, int *picked);

/* Replaces an extractor's stat weights (for bench/keywords_tune.c and tests). */
void kw_keywords_set_weights(slm_keywords *kw, const kw_stat_weights *w);
struct kw_tagged_doc_s;
/* Extracts one document's phrases into *out as slm_keywords_extract does (tagged: the text's
 * tagging by the extractor's tagger, kw_tagger_run; NULL without one); not for an extractor
 * with an encoder (it would run the encoder on the pool). */
slm_status kw_extract_document(const slm_keywords *kw, const char *text, const struct kw_tagged_doc_s *tagged,
                               slm_keyword_list *out);
/* Which tagger score auto with a tagger adds to the stat score. */
enum {
    KW_SUP_RANK,     /* the supervised method's score (decoded spans 1 + inside, others span probability) */
    KW_SUP_LOG_SPAN, /* log(span probability + 1e-4) */
    KW_SUP_INSIDE    /* mean probability of the words not being O */
};
/* Sets the weight of the tagger's z-score beside the stat z-score, and which score (KW_SUP_*). */
void kw_keywords_set_sup_weight(slm_keywords *kw, double w, int view);
/* Replaces an extractor's encoder-ranking options (when it has an encoder). */
void kw_keywords_set_embed(slm_keywords *kw, const kw_embed_options *opt);

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
