/* keywords_stat.c — the corpus-free statistical keyphrase scorer (the YAKE family: Campos et al.,
 * "YAKE! Keyword extraction from single documents using multiple local features", 2020): word
 * features of casing, position, frequency, context dispersion and sentence spread, combined per
 * phrase, plus phrase-level length, position and POS-free shape features; near-duplicate removal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "task/keywords_internal.h"

const char *const kw_feature_names[KW_N_FEATURES] = {
    "yake", "len1", "len2", "len3", "position", "rel_position", "tf", "maximal", "head_noun", "head_ing",
    "head_plural", "head_ed", "head_ly", "head_adj", "first_ly", "first_ed", "first_ing", "first_adj", "first_s",
    "inner_stop", "upper", "acronym", "first_sentence", "word_tf", "spread", "digit", "after_det", "after_prep",
    "before_aux", "before_prep", "first_generic", "head_generic", "hyphen", "head_tf", "slack", "first_verb",
    "head_verb", "words_in_first", "min_word_tf",
};

/* Fitted by bench/keywords_fit.py (logistic regression on the candidates of Inspec train, whether
 * each is a gold keyphrase), then refined for F1@10 on Inspec train by keywords_tune search. */
kw_stat_weights kw_stat_default_weights(void) {
    kw_stat_weights w = {.dedup = 0.800};
    w.w[KW_F_YAKE] = -0.055;
    w.w[KW_F_LEN1] = -1.023;
    w.w[KW_F_LEN2] = 0.447;
    w.w[KW_F_LEN3] = 0.948;
    w.w[KW_F_POSITION] = -0.183;
    w.w[KW_F_REL_POSITION] = 0.141;
    w.w[KW_F_TF] = 0.522;
    w.w[KW_F_MAXIMAL] = 1.476;
    w.w[KW_F_HEAD_NOUN] = 0.377;
    w.w[KW_F_HEAD_ING] = 0.465;
    w.w[KW_F_HEAD_PLURAL] = -0.120;
    w.w[KW_F_HEAD_ED] = -2.185;
    w.w[KW_F_HEAD_LY] = -2.623;
    w.w[KW_F_HEAD_ADJ] = -0.647;
    w.w[KW_F_FIRST_LY] = -1.218;
    w.w[KW_F_FIRST_ED] = -0.049;
    w.w[KW_F_FIRST_ING] = -0.425;
    w.w[KW_F_FIRST_ADJ] = 0.160;
    w.w[KW_F_FIRST_S] = -1.445;
    w.w[KW_F_INNER_STOP] = -3.645;
    w.w[KW_F_UPPER] = 0.720;
    w.w[KW_F_ACRONYM] = 0.391;
    w.w[KW_F_FIRST_SENTENCE] = 0.461;
    w.w[KW_F_WORD_TF] = -0.002;
    w.w[KW_F_SPREAD] = 0.556;
    w.w[KW_F_DIGIT] = -0.050;
    w.w[KW_F_AFTER_DET] = -0.109;
    w.w[KW_F_AFTER_PREP] = 0.142;
    w.w[KW_F_BEFORE_AUX] = 0.268;
    w.w[KW_F_BEFORE_PREP] = -0.054;
    w.w[KW_F_FIRST_GENERIC] = -2.333;
    w.w[KW_F_HEAD_GENERIC] = -0.523;
    w.w[KW_F_HYPHEN] = 0.264;
    w.w[KW_F_HEAD_TF] = 0.037;
    w.w[KW_F_SLACK] = -0.360;
    w.w[KW_F_FIRST_VERB] = -1.100;
    w.w[KW_F_HEAD_VERB] = -0.844;
    w.w[KW_F_WORDS_IN_FIRST] = -0.290;
    w.w[KW_F_MIN_WORD_TF] = -0.020;
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

static int ends_with_any(const kw_doc *doc, int w, const char *const *suffixes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (word_ends_with(doc, w, suffixes[i])) return 1;
    return 0;
}

/* Suffixes that mark English nouns. */
static int looks_like_noun(const kw_doc *doc, int w) {
    static const char *const suffixes[] = {"tion", "sion", "ment", "ness", "ity", "ism", "ics", "ance", "ence",
                                           "er", "or", "ogy", "ure", "age", "ship", "ist", "ency", "ancy", "ysis"};
    return ends_with_any(doc, w, suffixes, sizeof suffixes / sizeof suffixes[0]);
}

/* Suffixes that mark English adjectives. */
static int looks_like_adjective(const kw_doc *doc, int w) {
    static const char *const suffixes[] = {"al", "ic", "ive", "ous", "ary", "ar", "ful", "less", "able", "ible", "ent", "ant"};
    return ends_with_any(doc, w, suffixes, sizeof suffixes / sizeof suffixes[0]);
}

static int looks_plural(const kw_doc *doc, int w) {
    return word_ends_with(doc, w, "s") && !word_ends_with(doc, w, "ss") && !word_ends_with(doc, w, "us") &&
           !word_ends_with(doc, w, "is");
}

int kw_stat_features(kw_doc *doc, double *feats) {
    if (!term_statistics(doc)) return 0;
    word_scores(doc);
    for (int i = 0; i < doc->n_cands; i++) {
        const kw_candidate *c = &doc->cands[i];
        double *f = feats + (size_t)i * KW_N_FEATURES;
        memset(f, 0, KW_N_FEATURES * sizeof(double));
        double prod = 1, sum = 0, upper = 0, word_tf = 0;
        int n_content = 0, inner_stop = 0, acronym = 0, digit = 0, hyphen = 0, in_first = 0, min_tf = 1 << 30;
        for (int k = 0; k < c->n; k++) {
            const kw_term *term = &doc->terms[c->terms[k]];
            const kw_word *word = &doc->words[c->first_word + k];
            for (uint32_t b = word->start; b < word->end; b++)
                if (doc->text[b] >= '0' && doc->text[b] <= '9') digit = 1;
                else if (doc->text[b] == '-') hyphen = 1;
            if (term->stop) {
                inner_stop = 1;
                continue;
            }
            prod *= term->score;
            sum += term->score;
            upper += (double)term->tf_upper / (term->tf > 0 ? term->tf : 1);
            word_tf += log((double)(term->tf > 0 ? term->tf : 1));
            acronym |= term->tf_acronym > 0;
            in_first += doc->words[term->first_word].sentence == 0;
            if (term->tf < min_tf) min_tf = term->tf;
            n_content++;
        }
        double h = prod / ((double)c->tf * (1.0 + sum));
        int first = c->first_word, last = c->first_word + c->n - 1;
        f[KW_F_YAKE] = -log(h > 1e-300 ? h : 1e-300);
        f[KW_F_LEN1] = c->n == 1;
        f[KW_F_LEN2] = c->n == 2;
        f[KW_F_LEN3] = c->n == 3;
        f[KW_F_POSITION] = log(1.0 + c->first_word);
        f[KW_F_REL_POSITION] = doc->n_words ? (double)c->first_word / doc->n_words : 0;
        f[KW_F_TF] = log((double)c->tf);
        f[KW_F_MAXIMAL] = (double)c->n_maximal / c->tf;
        f[KW_F_HEAD_NOUN] = looks_like_noun(doc, last);
        f[KW_F_HEAD_ING] = word_ends_with(doc, last, "ing");
        f[KW_F_HEAD_PLURAL] = looks_plural(doc, last);
        f[KW_F_HEAD_ED] = word_ends_with(doc, last, "ed");
        f[KW_F_HEAD_LY] = word_ends_with(doc, last, "ly");
        f[KW_F_HEAD_ADJ] = looks_like_adjective(doc, last);
        f[KW_F_FIRST_LY] = c->n > 1 && word_ends_with(doc, first, "ly");
        f[KW_F_FIRST_ED] = c->n > 1 && word_ends_with(doc, first, "ed");
        f[KW_F_FIRST_ING] = c->n > 1 && word_ends_with(doc, first, "ing");
        f[KW_F_FIRST_ADJ] = c->n > 1 && looks_like_adjective(doc, first);
        f[KW_F_FIRST_S] = c->n > 1 && looks_plural(doc, first);
        f[KW_F_INNER_STOP] = inner_stop;
        f[KW_F_UPPER] = n_content ? upper / n_content : 0;
        f[KW_F_ACRONYM] = acronym;
        f[KW_F_FIRST_SENTENCE] = doc->words[first].sentence == 0;
        f[KW_F_WORD_TF] = n_content ? word_tf / n_content : 0;
        f[KW_F_SPREAD] = (double)c->n_sentences_seen / doc->n_sentences;
        f[KW_F_DIGIT] = digit;
        f[KW_F_AFTER_DET] = (double)c->n_after_det / c->tf;
        f[KW_F_AFTER_PREP] = (double)c->n_after_prep / c->tf;
        f[KW_F_BEFORE_AUX] = (double)c->n_before_aux / c->tf;
        f[KW_F_BEFORE_PREP] = (double)c->n_before_prep / c->tf;
        f[KW_F_FIRST_GENERIC] = doc->words[first].wclass == KW_CLASS_GENERIC;
        f[KW_F_HEAD_GENERIC] = doc->words[last].wclass == KW_CLASS_GENERIC;
        f[KW_F_HYPHEN] = hyphen;
        f[KW_F_HEAD_TF] = log((double)(doc->terms[c->terms[c->n - 1]].tf > 0 ? doc->terms[c->terms[c->n - 1]].tf : 1));
        f[KW_F_SLACK] = c->min_slack;
        f[KW_F_FIRST_VERB] = doc->terms[c->terms[0]].verb;
        f[KW_F_HEAD_VERB] = doc->terms[c->terms[c->n - 1]].verb;
        f[KW_F_WORDS_IN_FIRST] = n_content ? (double)in_first / n_content : 0;
        f[KW_F_MIN_WORD_TF] = n_content ? log((double)(min_tf > 0 ? min_tf : 1)) : 0;
    }
    return 1;
}

void kw_stat_score(kw_doc *doc, const kw_stat_weights *w) {
    double *feats = (double *)malloc((size_t)(doc->n_cands > 0 ? doc->n_cands : 1) * KW_N_FEATURES * sizeof(double));
    if (!feats || !kw_stat_features(doc, feats)) {
        /* out of memory: first occurrence order */
        for (int i = 0; i < doc->n_cands; i++) doc->cands[i].score = -(double)doc->cands[i].first_word;
        free(feats);
        return;
    }
    for (int i = 0; i < doc->n_cands; i++) {
        const double *f = feats + (size_t)i * KW_N_FEATURES;
        double s = 0;
        for (int k = 0; k < KW_N_FEATURES; k++) s += w->w[k] * f[k];
        doc->cands[i].score = s;
    }
    free(feats);
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
