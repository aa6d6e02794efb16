/* candidates.c — a document for keyword extraction: Unicode-aware word splitting (utf8proc
 * categories), sentences, terms (words grouped by Porter stem, stopwords apart) and candidate
 * phrases (n-grams inside punctuation-free runs that neither start nor end with a stopword). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"
#include "task/keywords_internal.h"

/* ---- character classes */

static int is_word_char(int32_t cp) {
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int is_digit_char(int32_t cp) { return utf8proc_category(cp) == UTF8PROC_CATEGORY_ND; }

static int is_space(int32_t cp) {
    if (cp == ' ' || cp == '\t' || cp == '\r' || cp == '\f' || cp == '\v') return 1;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS;
}

static int is_line_break(int32_t cp) { return cp == '\n' || cp == 0x2028 || cp == 0x2029 || cp == 0x85; }

/* Characters that join two word characters into one word: hyphens, apostrophes, slashes. */
static int is_joiner(int32_t cp) {
    return cp == '-' || cp == 0x2010 || cp == 0x2011 || cp == '\'' || cp == 0x2019 || cp == '/' || cp == '_' ||
           cp == '&';
}

static int is_sentence_end(int32_t cp) { return cp == '.' || cp == '!' || cp == '?' || cp == 0x3002; }

/* Decodes the code point at text[pos]; returns its byte length, or -1 (with *cp = -1) for a
 * byte that does not start valid UTF-8 (one byte is then skipped). */
static int decode_at(const char *text, size_t len, size_t pos, int32_t *cp) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + pos, (utf8proc_ssize_t)(len - pos), &c);
    if (k <= 0) {
        *cp = -1;
        return -1;
    }
    *cp = c;
    return (int)k;
}

/* ---- growable arrays and the string store */

static int grow(void **items, int *cap, int need, size_t size) {
    if (need <= *cap) return 1;
    int c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *p = realloc(*items, (size_t)c * size);
    if (!p) return 0;
    *items = p;
    *cap = c;
    return 1;
}

static long store_string(kw_doc *doc, const char *s, size_t n) {
    if (doc->n_strings + n + 1 > doc->cap_strings) {
        size_t c = doc->cap_strings ? doc->cap_strings : 4096;
        while (c < doc->n_strings + n + 1) c *= 2;
        char *p = (char *)realloc(doc->strings, c);
        if (!p) return -1;
        doc->strings = p;
        doc->cap_strings = c;
    }
    long at = (long)doc->n_strings;
    memcpy(doc->strings + at, s, n);
    doc->strings[at + (long)n] = '\0';
    doc->n_strings += n + 1;
    return at;
}

/* ---- hash tables of int indices (open addressing, linear probing) */

typedef struct {
    int *slots; /* -1: empty */
    size_t mask;
} index_table;

static int table_init(index_table *t, size_t min_items) {
    size_t cap = 64;
    while (cap < 2 * min_items + 2) cap *= 2;
    t->slots = (int *)malloc(cap * sizeof(int));
    if (!t->slots) return 0;
    memset(t->slots, 0xff, cap * sizeof(int));
    t->mask = cap - 1;
    return 1;
}

static uint64_t hash_bytes(const char *s, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* ---- words and terms */

typedef struct {
    kw_doc *doc;
    const kw_stopwords *sw;
    index_table terms;
    long *term_key;  /* per term: offset of its key ("\1" + stem for stopwords, else the stem) */
    int cap_term_key;
    char *stem_buf, *fold_buf;
    size_t stem_cap;
} builder;

/* The term of a word with this stem (stop: a stopword), added when new. Returns -1 on OOM. */
static int intern_term(builder *b, const char *stem, size_t stem_len, int stop, int no_phrase) {
    kw_doc *doc = b->doc;
    char key_buf[8];
    uint64_t h = hash_bytes(stop ? "\1" : "", stop ? 1 : 0, 0xcbf29ce484222325ULL);
    h = hash_bytes(stem, stem_len, h);
    (void)key_buf;
    for (size_t i = (size_t)h & b->terms.mask;; i = (i + 1) & b->terms.mask) {
        int t = b->terms.slots[i];
        if (t < 0) {
            /* new term */
            if ((size_t)doc->n_terms * 2 + 2 > b->terms.mask) {
                /* grow the table and retry */
                index_table bigger;
                if (!table_init(&bigger, (size_t)doc->n_terms * 2 + 2)) return -1;
                for (size_t j = 0; j <= b->terms.mask; j++) {
                    int u = b->terms.slots[j];
                    if (u < 0) continue;
                    const char *k = doc->strings + b->term_key[u];
                    size_t kl = strlen(k);
                    uint64_t hu = hash_bytes(k, kl, 0xcbf29ce484222325ULL);
                    size_t s = (size_t)hu & bigger.mask;
                    while (bigger.slots[s] >= 0) s = (s + 1) & bigger.mask;
                    bigger.slots[s] = u;
                }
                free(b->terms.slots);
                b->terms = bigger;
                return intern_term(b, stem, stem_len, stop, no_phrase);
            }
            if (!grow((void **)&doc->terms, &doc->cap_terms, doc->n_terms + 1, sizeof(kw_term)) ||
                !grow((void **)&b->term_key, &b->cap_term_key, doc->n_terms + 1, sizeof(long)))
                return -1;
            /* the key: optional \1 then the stem, NUL-terminated; the stem is the key past it */
            long at;
            if (stop) {
                at = store_string(doc, "\1", 1);
                if (at < 0) return -1;
                doc->n_strings--; /* overwrite the NUL with the stem */
                if (store_string(doc, stem, stem_len) < 0) return -1;
            } else {
                at = store_string(doc, stem, stem_len);
                if (at < 0) return -1;
            }
            t = doc->n_terms++;
            b->term_key[t] = at;
            kw_term *term = &doc->terms[t];
            memset(term, 0, sizeof *term);
            term->stem = NULL; /* set after all strings are stored (the store may move) */
            term->stop = (uint8_t)stop;
            term->no_phrase = (uint8_t)no_phrase;
            term->first_word = doc->n_words;
            b->terms.slots[i] = t;
            return t;
        }
        const char *k = doc->strings + b->term_key[t];
        size_t off = stop ? 1 : 0;
        if ((stop ? k[0] == '\1' : k[0] != '\1') && strncmp(k + off, stem, stem_len) == 0 && k[off + stem_len] == '\0')
            return t;
    }
}

/* Adds the word text[start, end) (sentence s; upper/acronym flags) to the document. */
static slm_status add_word(builder *b, size_t start, size_t end, int sentence, int sentence_start, int gap_before) {
    kw_doc *doc = b->doc;
    const char *w = doc->text + start;
    size_t n = end - start;
    if (2 * n + 8 > b->stem_cap) {
        size_t c = 2 * n + 8;
        char *s = (char *)realloc(b->stem_buf, c);
        if (!s) return slm_error(SLM_ERR_NOMEM, "out of memory");
        b->stem_buf = s;
        b->stem_cap = c;
    }
    /* letters, digits, uppercase letters; the first character's case */
    int n_letters = 0, n_upper = 0, n_digits = 0, n_chars = 0, first_upper = 0;
    for (size_t p = 0; p < n;) {
        int32_t cp;
        int k = decode_at(w, n, p, &cp);
        if (k < 0) break;
        utf8proc_category_t c = utf8proc_category(cp);
        if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) {
            n_upper++;
            if (n_chars == 0) first_upper = 1;
        }
        if (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) n_letters++;
        if (is_digit_char(cp)) n_digits++;
        n_chars++;
        p += (size_t)k;
    }
    /* stopword test on the case-folded form */
    utf8proc_uint8_t *fold = NULL;
    utf8proc_ssize_t fl = utf8proc_map((const utf8proc_uint8_t *)w, (utf8proc_ssize_t)n, &fold,
                                       UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE);
    int stop = fl > 0 && kw_stopwords_has(b->sw, (const char *)fold, (size_t)fl);
    int wclass = fl > 0 ? kw_word_class((const char *)fold, (size_t)fl) : KW_CLASS_NONE;
    free(fold);
    int stem_len = slm_porter_stem(w, n, b->stem_buf, b->stem_cap);
    if (stem_len < 0) return slm_error(SLM_ERR_INVALID_ARG, "a word could not be stemmed");
    int no_phrase = n_letters == 0 || n_chars < 2 || n > 64;
    int t = intern_term(b, b->stem_buf, (size_t)stem_len, stop, no_phrase);
    if (t < 0 || !grow((void **)&doc->words, &doc->cap_words, doc->n_words + 1, sizeof(kw_word)))
        return slm_error(SLM_ERR_NOMEM, "out of memory");
    (void)n_digits;
    kw_word *word = &doc->words[doc->n_words++];
    word->start = (uint32_t)start;
    word->end = (uint32_t)end;
    word->term = t;
    word->sentence = sentence;
    word->upper = (uint8_t)(first_upper && !sentence_start);
    word->acronym = (uint8_t)(n_letters >= 2 && n_upper == n_letters);
    word->gap_before = (uint8_t)gap_before;
    word->wclass = (uint8_t)wclass;
    return SLM_OK;
}

/* Splits the text into words and sentences. */
static slm_status split_words(builder *b) {
    kw_doc *doc = b->doc;
    const char *text = doc->text;
    size_t len = doc->len, pos = 0;
    int sentence = 0, words_in_sentence = 0, gap = 1;
    while (pos < len) {
        int32_t cp;
        int k = decode_at(text, len, pos, &cp);
        if (k < 0) { /* an invalid byte: a phrase break */
            gap = 1;
            pos++;
            continue;
        }
        if (is_word_char(cp)) {
            size_t start = pos, end = pos + (size_t)k;
            int32_t prev = cp;
            pos = end;
            while (pos < len) {
                int32_t c2;
                int k2 = decode_at(text, len, pos, &c2);
                if (k2 < 0) break;
                if (is_word_char(c2)) {
                    pos += (size_t)k2;
                    end = pos;
                    prev = c2;
                    continue;
                }
                /* a joiner (or a dot between digits) followed by a word character stays inside */
                if ((is_joiner(c2) || ((c2 == '.' || c2 == ',') && is_digit_char(prev))) && pos + (size_t)k2 < len) {
                    int32_t c3;
                    int k3 = decode_at(text, len, pos + (size_t)k2, &c3);
                    if (k3 > 0 && is_word_char(c3) && (!(c2 == '.' || c2 == ',') || is_digit_char(c3))) {
                        pos += (size_t)k2 + (size_t)k3;
                        end = pos;
                        prev = c3;
                        continue;
                    }
                }
                break;
            }
            slm_status st = add_word(b, start, end, sentence, words_in_sentence == 0, gap);
            if (st != SLM_OK) return st;
            words_in_sentence++;
            gap = 0;
            continue;
        }
        pos += (size_t)k;
        if (is_space(cp)) continue;
        gap = 1;
        int ends = is_line_break(cp);
        if (is_sentence_end(cp)) {
            int32_t next = ' ';
            if (pos < len && decode_at(text, len, pos, &next) < 0) next = ' ';
            ends = pos >= len || is_space(next) || is_line_break(next) || next == '"' || next == ')';
        }
        if (ends && words_in_sentence > 0) {
            sentence++;
            words_in_sentence = 0;
        }
    }
    doc->n_sentences = words_in_sentence > 0 ? sentence + 1 : sentence;
    if (doc->n_sentences == 0) doc->n_sentences = 1;
    return SLM_OK;
}

/* ---- candidates */

static uint64_t hash_terms(const int *terms, int n) {
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n;
    for (int i = 0; i < n; i++) h = (h ^ (uint64_t)(uint32_t)terms[i]) * 0x100000001b3ULL, h ^= h >> 29;
    return h;
}

static slm_status collect_candidates(kw_doc *doc, int min_words, int max_words) {
    index_table table;
    if (!table_init(&table, (size_t)doc->n_words * (size_t)max_words + 1))
        return slm_error(SLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < doc->n_words; i++) {
        const kw_term *first = &doc->terms[doc->words[i].term];
        if (first->stop || first->no_phrase) continue;
        int terms[KW_MAX_WORDS];
        for (int n = 1; n <= max_words && i + n <= doc->n_words; n++) {
            const kw_word *w = &doc->words[i + n - 1];
            if (n > 1 && w->gap_before) break;
            const kw_term *t = &doc->terms[w->term];
            if (t->no_phrase) break;
            terms[n - 1] = w->term;
            if (t->stop || n < min_words) continue;
            uint64_t h = hash_terms(terms, n);
            size_t s = (size_t)h & table.mask;
            int found = -1;
            for (; table.slots[s] >= 0; s = (s + 1) & table.mask) {
                const kw_candidate *c = &doc->cands[table.slots[s]];
                if (c->n == n && memcmp(c->terms, terms, (size_t)n * sizeof(int)) == 0) {
                    found = table.slots[s];
                    break;
                }
            }
            if (found < 0) {
                if (!grow((void **)&doc->cands, &doc->cap_cands, doc->n_cands + 1, sizeof(kw_candidate))) {
                    free(table.slots);
                    return slm_error(SLM_ERR_NOMEM, "out of memory");
                }
                found = doc->n_cands++;
                kw_candidate *c = &doc->cands[found];
                memset(c, 0, sizeof *c);
                memcpy(c->terms, terms, (size_t)n * sizeof(int));
                c->n = n;
                c->first_word = i;
                c->last_sentence = -1;
                table.slots[s] = found;
            }
            kw_candidate *c = &doc->cands[found];
            c->tf++;
            /* a whole run: nothing but a break or a stopword on either side */
            int open_left = i == 0 || doc->words[i].gap_before || doc->terms[doc->words[i - 1].term].stop;
            int j = i + n;
            int open_right = j >= doc->n_words || doc->words[j].gap_before || doc->terms[doc->words[j].term].stop;
            c->n_maximal += open_left && open_right;
            if (i > 0 && !doc->words[i].gap_before) {
                int cl = doc->words[i - 1].wclass;
                c->n_after_det += cl == KW_CLASS_DETERMINER;
                c->n_after_prep += cl == KW_CLASS_PREPOSITION;
            }
            if (j < doc->n_words && !doc->words[j].gap_before) {
                int cl = doc->words[j].wclass;
                c->n_before_aux += cl == KW_CLASS_AUXILIARY;
                c->n_before_prep += cl == KW_CLASS_PREPOSITION || cl == KW_CLASS_CONJUNCTION;
            }
            /* the stopword-free run around this occurrence */
            int run_a = i, run_z = j;
            while (run_a > 0 && !doc->words[run_a].gap_before && !doc->terms[doc->words[run_a - 1].term].stop &&
                   !doc->terms[doc->words[run_a - 1].term].no_phrase && i - run_a < 16)
                run_a--;
            while (run_z < doc->n_words && !doc->words[run_z].gap_before && !doc->terms[doc->words[run_z].term].stop &&
                   !doc->terms[doc->words[run_z].term].no_phrase && run_z - j < 16)
                run_z++;
            int slack = (run_z - run_a) - n;
            if (c->tf == 1 || slack < c->min_slack) c->min_slack = slack;
            if (doc->words[i].sentence != c->last_sentence) {
                c->n_sentences_seen++;
                c->last_sentence = doc->words[i].sentence;
            }
        }
    }
    free(table.slots);
    return SLM_OK;
}

slm_status kw_doc_build(kw_doc *doc, const char *text, size_t len, const kw_stopwords *sw, int min_words,
                        int max_words) {
    memset(doc, 0, sizeof *doc);
    if (min_words < 1 || max_words < min_words || max_words > KW_MAX_WORDS)
        return slm_error(SLM_ERR_INVALID_ARG, "phrase length %d-%d: need 1 <= min <= max <= %d", min_words,
                         max_words, KW_MAX_WORDS);
    if (len > KW_MAX_DOC_BYTES)
        return slm_error(SLM_ERR_RANGE, "a document of %zu bytes is over the limit of %d MiB (split it)", len,
                         KW_MAX_DOC_BYTES >> 20);
    doc->text = text;
    doc->len = len;
    builder b = {.doc = doc, .sw = sw};
    if (!table_init(&b.terms, 256)) return slm_error(SLM_ERR_NOMEM, "out of memory");
    slm_status st = split_words(&b);
    if (st == SLM_OK) {
        for (int t = 0; t < doc->n_terms; t++) {
            const char *k = doc->strings + b.term_key[t];
            doc->terms[t].stem = (char *)(k[0] == '\1' ? k + 1 : k);
        }
        for (int t = 0; t < doc->n_terms; t++) doc->terms[t].verb = (uint8_t)kw_is_verb_stem(doc->terms[t].stem);
        st = collect_candidates(doc, min_words, max_words);
    }
    free(b.terms.slots);
    free(b.term_key);
    free(b.stem_buf);
    free(b.fold_buf);
    if (st != SLM_OK) kw_doc_free(doc);
    return st;
}

void kw_doc_free(kw_doc *doc) {
    free(doc->words);
    free(doc->terms);
    free(doc->cands);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

char *kw_candidate_text(const kw_doc *doc, const kw_candidate *c) {
    const kw_word *a = &doc->words[c->first_word], *z = &doc->words[c->first_word + c->n - 1];
    size_t n = z->end - a->start;
    char *out = (char *)malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    int in_space = 0;
    for (size_t i = a->start; i < z->end; i++) {
        char ch = doc->text[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            if (!in_space) out[o++] = ' ';
            in_space = 1;
        } else {
            out[o++] = ch;
            in_space = 0;
        }
    }
    out[o] = '\0';
    return out;
}
