/* keywords_stat.c — the corpus-free statistical keyphrase scorer (the YAKE family: Campos et al.,
 * "YAKE! Keyword extraction from single documents using multiple local features", 2020): word
 * features of casing, position, frequency, context dispersion and sentence spread, combined per
 * phrase, plus phrase-level length, position and POS-free shape features; near-duplicate removal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "task/keywords_internal.h"

kw_stat_weights kw_stat_default_weights(void) {
    kw_stat_weights w = {
        .w_yake = 1.0,
        .w_len2 = 0.0,
        .w_len3 = 0.0,
        .w_position = 0.0,
        .w_tf = 0.0,
        .w_head = 0.0,
        .w_bad_edge = 0.0,
        .w_inner_stop = 0.0,
        .dedup = 1.0,
    };
    return w;
}

/* ---- word features */

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int compare_pairs(const void *a, const void *b) {
    const int *x = (const int *)a, *y = (const int *)b;
    if (x[0] != y[0]) return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Term frequencies, casing counts, sentence medians and spreads, and the distinct/total counts of
 * the words adjacent on each side (within punctuation-free runs). */
static int term_statistics(kw_doc *doc) {
    int nw = doc->n_words, nt = doc->n_terms;
    for (int t = 0; t < nt; t++) {
        kw_term *term = &doc->terms[t];
        term->tf = term->tf_upper = term->tf_acronym = term->n_sentences = 0;
        term->left_distinct = term->left_total = term->right_distinct = term->right_total = 0;
    }
    /* occurrences grouped by term: counting sort of word indices */
    int *start = (int *)calloc((size_t)nt + 1, sizeof(int));
    int *order = (int *)malloc((size_t)(nw > 0 ? nw : 1) * sizeof(int));
    int *pairs = (int *)malloc((size_t)(nw > 0 ? nw : 1) * 2 * sizeof(int));
    if (!start || !order || !pairs) {
        free(start);
        free(order);
        free(pairs);
        return 0;
    }
    for (int i = 0; i < nw; i++) {
        kw_term *term = &doc->terms[doc->words[i].term];
        term->tf++;
        term->tf_upper += doc->words[i].upper && !doc->words[i].acronym;
        term->tf_acronym += doc->words[i].acronym;
        start[doc->words[i].term + 1]++;
    }
    for (int t = 0; t < nt; t++) start[t + 1] += start[t];
    {
        int *fill = (int *)malloc((size_t)(nt > 0 ? nt : 1) * sizeof(int));
        if (!fill) {
            free(start);
            free(order);
            free(pairs);
            return 0;
        }
        memcpy(fill, start, (size_t)nt * sizeof(int));
        for (int i = 0; i < nw; i++) order[fill[doc->words[i].term]++] = i;
        free(fill);
    }
    for (int t = 0; t < nt; t++) {
        kw_term *term = &doc->terms[t];
        const int *occ = order + start[t];
        int n = start[t + 1] - start[t];
        /* occurrences are in text order, so sentences are sorted */
        int distinct = 0, prev = -1;
        for (int k = 0; k < n; k++) {
            int s = doc->words[occ[k]].sentence;
            if (s != prev) distinct++;
            prev = s;
        }
        term->n_sentences = distinct;
        if (n > 0) {
            int a = doc->words[occ[(n - 1) / 2]].sentence, b = doc->words[occ[n / 2]].sentence;
            term->median_sentence = 0.5 * (a + b);
        }
    }
    /* left contexts: pairs (term, left term) */
    for (int side = 0; side < 2; side++) {
        int np = 0;
        for (int i = 1; i < nw; i++) {
            if (doc->words[i].gap_before) continue;
            int self = side == 0 ? doc->words[i].term : doc->words[i - 1].term;
            int other = side == 0 ? doc->words[i - 1].term : doc->words[i].term;
            pairs[2 * np] = self;
            pairs[2 * np + 1] = other;
            np++;
        }
        qsort(pairs, (size_t)np, 2 * sizeof(int), compare_pairs);
        for (int k = 0; k < np; k++) {
            kw_term *term = &doc->terms[pairs[2 * k]];
            int is_new = k == 0 || pairs[2 * k] != pairs[2 * k - 2] || pairs[2 * k + 1] != pairs[2 * k - 1];
            if (side == 0) {
                term->left_total++;
                term->left_distinct += is_new;
            } else {
                term->right_total++;
                term->right_distinct += is_new;
            }
        }
    }
    (void)compare_ints;
    free(start);
    free(order);
    free(pairs);
    return 1;
}

/* The YAKE-style word score: lower means more important. */
static void word_scores(kw_doc *doc) {
    double sum = 0, sum2 = 0, max_tf = 1;
    int n = 0;
    for (int t = 0; t < doc->n_terms; t++) {
        const kw_term *term = &doc->terms[t];
        if (term->stop || term->no_phrase) continue;
        sum += term->tf;
        sum2 += (double)term->tf * term->tf;
        if (term->tf > max_tf) max_tf = term->tf;
        n++;
    }
    double mean = n ? sum / n : 1, var = n ? sum2 / n - mean * mean : 0;
    double std = var > 0 ? sqrt(var) : 0;
    for (int t = 0; t < doc->n_terms; t++) {
        kw_term *term = &doc->terms[t];
        double tf = term->tf > 0 ? term->tf : 1;
        double t_case = (term->tf_upper > term->tf_acronym ? term->tf_upper : term->tf_acronym) / (1.0 + log(tf));
        double t_pos = log(log(3.0 + term->median_sentence));
        double t_freq = tf / (mean + std);
        double dl = term->left_total ? (double)term->left_distinct / term->left_total : 0;
        double dr = term->right_total ? (double)term->right_distinct / term->right_total : 0;
        double t_rel = 1.0 + (dl + dr) * tf / max_tf;
        double t_diff = (double)term->n_sentences / doc->n_sentences;
        term->score = t_rel * t_pos / (t_case + t_freq / t_rel + t_diff / t_rel);
    }
}

/* ---- phrase shape heuristics (no part-of-speech tagger) */

static int word_ends_with(const kw_doc *doc, int w, const char *suffix) {
    const kw_word *word = &doc->words[w];
    size_t n = word->end - word->start, k = strlen(suffix);
    if (n <= k + 1) return 0;
    const char *s = doc->text + word->end - k;
    for (size_t i = 0; i < k; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suffix[i]) return 0;
    }
    return 1;
}

/* Suffixes that mark English nouns, and plurals. */
static int looks_like_noun(const kw_doc *doc, int w) {
    static const char *const suffixes[] = {"tion", "sion", "ment", "ness", "ity", "ism", "ics", "ance", "ence",
                                           "er", "or", "ogy", "ure", "ing", "age", "ship", "ist"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (word_ends_with(doc, w, suffixes[i])) return 1;
    return word_ends_with(doc, w, "s") && !word_ends_with(doc, w, "ss") && !word_ends_with(doc, w, "us") &&
           !word_ends_with(doc, w, "is");
}

/* Adverbs (-ly) anywhere at the edge, and past participles (-ed) ending a phrase. */
static int bad_edges(const kw_doc *doc, const kw_candidate *c) {
    int first = c->first_word, last = c->first_word + c->n - 1;
    return word_ends_with(doc, first, "ly") || word_ends_with(doc, last, "ly") || word_ends_with(doc, last, "ed");
}

void kw_stat_score(kw_doc *doc, const kw_stat_weights *w) {
    if (!term_statistics(doc)) {
        for (int i = 0; i < doc->n_cands; i++) doc->cands[i].score = -(double)doc->cands[i].first_word;
        return;
    }
    word_scores(doc);
    for (int i = 0; i < doc->n_cands; i++) {
        kw_candidate *c = &doc->cands[i];
        double prod = 1, sum = 0;
        int inner_stop = 0;
        for (int k = 0; k < c->n; k++) {
            const kw_term *term = &doc->terms[c->terms[k]];
            if (term->stop) {
                inner_stop = 1;
                continue;
            }
            prod *= term->score;
            sum += term->score;
        }
        double h = prod / ((double)c->tf * (1.0 + sum));
        double s = -w->w_yake * log(h > 1e-300 ? h : 1e-300);
        if (c->n == 2) s += w->w_len2;
        if (c->n >= 3) s += w->w_len3;
        s -= w->w_position * log(1.0 + c->first_word);
        s += w->w_tf * log((double)c->tf);
        if (looks_like_noun(doc, c->first_word + c->n - 1)) s += w->w_head;
        if (bad_edges(doc, c)) s -= w->w_bad_edge;
        if (inner_stop) s -= w->w_inner_stop;
        c->score = s;
    }
}

/* ---- selection with near-duplicate removal */

/* qsort has no context argument: the document being sorted, per thread. */
static _Thread_local const kw_doc *g_sort_doc;

static int compare_candidates(const void *a, const void *b) {
    const kw_candidate *x = &g_sort_doc->cands[*(const int *)a], *y = &g_sort_doc->cands[*(const int *)b];
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->first_word > y->first_word) - (x->first_word < y->first_word);
}

/* Similarity of two candidates' stem strings: 1 - edit distance / longer length. */
static double stem_similarity(const kw_doc *doc, const kw_candidate *a, const kw_candidate *b) {
    char sa[512], sb[512];
    size_t la = 0, lb = 0;
    for (int k = 0; k < a->n; k++) {
        const char *s = doc->terms[a->terms[k]].stem;
        size_t n = strlen(s);
        if (la + n + 2 > sizeof sa) break;
        if (k) sa[la++] = ' ';
        memcpy(sa + la, s, n);
        la += n;
    }
    for (int k = 0; k < b->n; k++) {
        const char *s = doc->terms[b->terms[k]].stem;
        size_t n = strlen(s);
        if (lb + n + 2 > sizeof sb) break;
        if (k) sb[lb++] = ' ';
        memcpy(sb + lb, s, n);
        lb += n;
    }
    size_t longer = la > lb ? la : lb;
    if (longer == 0) return 1;
    int row[513];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (sa[i - 1] != sb[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return 1.0 - (double)row[lb] / (double)longer;
}

int kw_pick_top(const kw_doc *doc, int top_k, double dedup, int *picked) {
    if (doc->n_cands == 0 || top_k <= 0) return 0;
    int *order = (int *)malloc((size_t)doc->n_cands * sizeof(int));
    if (!order) return 0;
    for (int i = 0; i < doc->n_cands; i++) order[i] = i;
    g_sort_doc = doc;
    qsort(order, (size_t)doc->n_cands, sizeof(int), compare_candidates);
    int n = 0;
    for (int i = 0; i < doc->n_cands && n < top_k; i++) {
        const kw_candidate *c = &doc->cands[order[i]];
        int duplicate = 0;
        if (dedup < 1.0)
            for (int j = 0; j < n && !duplicate; j++)
                duplicate = stem_similarity(doc, c, &doc->cands[picked[j]]) > dedup;
        if (!duplicate) picked[n++] = order[i];
    }
    free(order);
    return n;
}
