/* keywords_supervised.c — keyphrases from a BIO tagger's word probabilities (tagger.c): the
 * spans decoded from the most likely tags (B I*, an I without B opening a span) come first,
 * ranked by the mean probability that their words are inside a keyphrase; then every other
 * n-gram of the allowed lengths, ranked by the tagger's probability of exactly that span
 * (P(B first) x P(I each other) x P(not I after)). Phrases are merged by their Porter stems. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "task/keywords_internal.h"
#include "task/keywords_supervised.h"

/* Bonus of a decoded span over every n-gram that was not decoded (span probabilities are <= 1). */
#define DECODED_BONUS 1.0

/* Whether word [a, b) of text has a letter (else it is punctuation or a number: it breaks
 * phrases; a decoded span may hold numbers but not start or end with one). Bytes of non-ASCII
 * characters count as letters. */
static int has_letter(const char *text, uint32_t a, uint32_t b) {
    for (uint32_t i = a; i < b; i++)
        if (isalpha((unsigned char)text[i]) || (unsigned char)text[i] >= 0x80) return 1;
    return 0;
}

static int has_digit(const char *text, uint32_t a, uint32_t b) {
    for (uint32_t i = a; i < b; i++)
        if (isdigit((unsigned char)text[i])) return 1;
    return 0;
}

typedef struct {
    kw_sup_phrase *p;
    int n, cap;
} phrase_vec;

/* The tagger's probability of exactly the span [w0, w1): P(B w0) P(I w0+1) ... (1 - P(I w1)). */
static double span_probability(const kw_tagged_doc *td, int w0, int w1) {
    double p = td->probs[(size_t)w0 * 3 + TAG_B];
    for (int w = w0 + 1; w < w1; w++) p *= td->probs[(size_t)w * 3 + TAG_I];
    return w1 < td->n_words ? p * (1.0 - td->probs[(size_t)w1 * 3 + TAG_I]) : p;
}

/* Adds an occurrence of words [w0, w1) (a decoded span or not). */
static slm_status add_phrase(phrase_vec *v, const kw_tagged_doc *td, char *const *stems, int w0, int w1, int decoded) {
    double inside = 0.0;
    for (int w = w0; w < w1; w++) inside += 1.0 - td->probs[(size_t)w * 3 + TAG_O];
    inside /= w1 - w0;
    const double span = span_probability(td, w0, w1);
    size_t len = 0;
    for (int w = w0; w < w1; w++) len += strlen(stems[w]) + 1;
    char *key = malloc(len + 1);
    if (!key) return slm_error(SLM_ERR_NOMEM, "out of memory");
    size_t o = 0;
    for (int w = w0; w < w1; w++) {
        const size_t k = strlen(stems[w]);
        if (o) key[o++] = ' ';
        memcpy(key + o, stems[w], k);
        o += k;
    }
    key[o] = '\0';
    if (v->n == v->cap) {
        const int cap = v->cap ? v->cap * 2 : 256;
        kw_sup_phrase *g = realloc(v->p, sizeof *g * (size_t)cap);
        if (!g) {
            free(key);
            return slm_error(SLM_ERR_NOMEM, "out of memory");
        }
        v->p = g;
        v->cap = cap;
    }
    v->p[v->n++] = (kw_sup_phrase){.key = key, .start = td->words[w0].start, .end = td->words[w1 - 1].end,
                                   .score = decoded ? DECODED_BONUS + inside : span, .decoded = decoded, .count = 1,
                                   .first_word = w0, .span_prob = span, .inside = inside};
    return SLM_OK;
}

static int by_key_then_order(const void *a, const void *b) {
    const kw_sup_phrase *x = a, *y = b;
    const int c = strcmp(x->key, y->key);
    return c ? c : (x->first_word > y->first_word) - (x->first_word < y->first_word);
}

void kw_sup_phrases_free(kw_sup_phrase *p, int n) {
    for (int i = 0; p && i < n; i++) free(p[i].key);
    free(p);
}

slm_status kw_supervised_phrases(const char *text, const kw_tagged_doc *td, const kw_stopwords *sw, int min_words,
                                 int max_words, kw_sup_phrase **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    const int n = td->n_words;
    char **stems = calloc((size_t)(n ? n : 1), sizeof(char *));
    uint8_t *stop = calloc((size_t)(n ? n : 1), 1), *punct = calloc((size_t)(n ? n : 1), 1);
    uint8_t *tags = calloc((size_t)(n ? n : 1), 1);
    phrase_vec v = {0};
    slm_status st = stems && stop && punct && tags ? SLM_OK : slm_error(SLM_ERR_NOMEM, "out of memory");
    char lower[256];
    for (int w = 0; w < n && st == SLM_OK; w++) {
        const uint32_t a = td->words[w].start, b = td->words[w].end;
        const size_t len = b - a;
        stems[w] = malloc(2 * len + 9);
        if (!stems[w]) {
            st = slm_error(SLM_ERR_NOMEM, "out of memory");
            break;
        }
        if (slm_porter_stem(text + a, len, stems[w], 2 * len + 9) < 0) memcpy(stems[w], text + a, len), stems[w][len] = 0;
        punct[w] = !has_letter(text, a, b) ? (has_digit(text, a, b) ? 2 : 1) : 0; /* 2: a number */
        if (len < sizeof lower) {
            for (size_t i = 0; i < len; i++) lower[i] = (char)tolower((unsigned char)text[a + i]);
            stop[w] = (uint8_t)kw_stopwords_has(sw, lower, len);
        }
        const float *p = td->probs + (size_t)w * 3;
        tags[w] = punct[w] == 1 ? 0 : (uint8_t)(p[1] > p[0] && p[1] >= p[2] ? 1 : p[2] > p[0] && p[2] > p[1] ? 2 : 0);
    }
    /* decoded spans (punctuation is outside, numbers may be inside) */
    int *ss = malloc(sizeof(int) * (size_t)(n ? n : 1)), *se = malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (st == SLM_OK && (!ss || !se)) st = slm_error(SLM_ERR_NOMEM, "out of memory");
    const int n_spans = st == SLM_OK ? tag_decode_spans(tags, n, ss, se, n) : 0;
    for (int s = 0; s < n_spans && st == SLM_OK; s++) {
        while (ss[s] < se[s] && punct[ss[s]]) ss[s]++; /* numbers at the edges */
        while (se[s] > ss[s] && punct[se[s] - 1]) se[s]--;
        const int len = se[s] - ss[s];
        if (len < min_words || len > max_words) continue;
        st = add_phrase(&v, td, stems, ss[s], se[s], 1);
    }
    /* every other n-gram: runs of words without punctuation or numbers, no stopword at either end */
    for (int w0 = 0; w0 < n && st == SLM_OK; w0++) {
        if (punct[w0] || stop[w0]) continue;
        for (int w1 = w0 + 1; w1 <= n && w1 - w0 <= max_words && st == SLM_OK; w1++) {
            const int last = w1 - 1;
            if (punct[last]) break;
            if (w1 - w0 < min_words || stop[last]) continue;
            st = add_phrase(&v, td, stems, w0, w1, 0);
        }
    }
    /* merge by key: the best score, decoded if any occurrence was, the first occurrence's text */
    if (st == SLM_OK && v.n > 0) {
        qsort(v.p, (size_t)v.n, sizeof *v.p, by_key_then_order);
        int m = 0;
        for (int i = 0; i < v.n; i++) {
            if (m > 0 && strcmp(v.p[m - 1].key, v.p[i].key) == 0) {
                kw_sup_phrase *d = &v.p[m - 1];
                if (v.p[i].score > d->score) d->score = v.p[i].score;
                if (v.p[i].span_prob > d->span_prob) d->span_prob = v.p[i].span_prob;
                if (v.p[i].inside > d->inside) d->inside = v.p[i].inside;
                d->decoded |= v.p[i].decoded;
                d->count += v.p[i].decoded || !d->decoded ? 1 : 0;
                free(v.p[i].key);
            } else {
                v.p[m++] = v.p[i];
            }
        }
        v.n = m;
    }
    for (int w = 0; stems && w < n; w++) free(stems[w]);
    free(stems), free(stop), free(punct), free(tags), free(ss), free(se);
    if (st != SLM_OK) {
        kw_sup_phrases_free(v.p, v.n);
        return st;
    }
    *out = v.p;
    *n_out = v.n;
    return SLM_OK;
}

const kw_sup_phrase *kw_sup_lookup(const kw_sup_phrase *p, int n, const char *key) {
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = (lo + hi) / 2, c = strcmp(p[mid].key, key);
        if (c == 0) return &p[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* A phrase's place in the ranking. */
typedef struct {
    double score;
    int first_word, index;
} rank_entry;

/* Best score first; ties by first occurrence. */
static int by_rank(const void *a, const void *b) {
    const rank_entry *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->first_word > y->first_word) - (x->first_word < y->first_word);
}

int kw_supervised_pick(const kw_sup_phrase *p, int n, int top_k, int *picked) {
    rank_entry *r = malloc(sizeof *r * (size_t)(n ? n : 1));
    if (!r) return -1;
    for (int i = 0; i < n; i++) r[i] = (rank_entry){p[i].score, p[i].first_word, i};
    qsort(r, (size_t)n, sizeof *r, by_rank);
    const int k = n < top_k ? n : top_k;
    for (int i = 0; i < k; i++) picked[i] = r[i].index;
    free(r);
    return k;
}
