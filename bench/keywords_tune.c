/* keywords_tune.c — fits the stat keyword scorer on a training corpus (Inspec train: never the
 * split that is reported). Modes:
 *   keywords_tune dump GOLD OUT.tsv        every candidate's features and label (in the gold)
 *   keywords_tune eval GOLD [W...] [dedup=X] F1@5/10/15 with the given weights (default: built-in)
 *   keywords_tune search GOLD [rounds]     coordinate search from the built-in weights
 *   keywords_tune embed-grid GOLD MODEL N  the encoder ranking's stat weight and diversity on the
 *                                          first N documents (embeddings computed once) 
 *   keywords_tune sup-grid GOLD TAGGER     the supervised method (phrase lengths) and auto with a
 *                                          tagger (the weight of the tagger's z-score), documents
 *                                          tagged once; GOLD: documents the tagger did not learn
 * bench/keywords_fit.py fits the weights by logistic regression on the dump. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"
#include "task/keywords_internal.h"
#include "task/tagger.h"

static slm_keyphrase_corpus g_corpus;
static slm_keywords *g_kw;

static double evaluate(const kw_stat_weights *w, slm_keyphrase_scores *out) {
    kw_keywords_set_weights(g_kw, w);
    size_t n = g_corpus.n;
    slm_keyword_list *lists = calloc(n, sizeof *lists);
    const char *const **pred = calloc(n, sizeof *pred);
    int *n_pred = calloc(n, sizeof(int));
    char ***arrays = calloc(n, sizeof *arrays);
    if (slm_keywords_extract(g_kw, (const char *const *)g_corpus.texts, n, lists) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        arrays[i] = calloc((size_t)lists[i].n + 1, sizeof(char *));
        for (int k = 0; k < lists[i].n; k++) arrays[i][k] = lists[i].items[k].phrase;
        pred[i] = (const char *const *)arrays[i];
        n_pred[i] = lists[i].n;
    }
    slm_keyphrase_scores s;
    slm_keyphrase_evaluate((const char *const *const *)g_corpus.keys, g_corpus.n_keys, pred, n_pred, n, &s);
    for (size_t i = 0; i < n; i++) free(arrays[i]);
    slm_keyword_lists_free(lists, n);
    free(lists);
    free(pred);
    free(n_pred);
    free(arrays);
    if (out) *out = s;
    return s.f1[1];
}

static int dump(const char *out_path) {
    FILE *f = fopen(out_path, "w");
    if (!f) return 1;
    kw_stopwords *sw;
    if (kw_stopwords_load(NULL, &sw) != SLM_OK) return 1;
    fprintf(f, "doc\tlabel");
    for (int k = 0; k < KW_N_FEATURES; k++) fprintf(f, "\t%s", kw_feature_names[k]);
    fprintf(f, "\n");
    for (size_t d = 0; d < g_corpus.n; d++) {
        char **gold = calloc((size_t)g_corpus.n_keys[d] + 1, sizeof(char *));
        for (int g = 0; g < g_corpus.n_keys[d]; g++) gold[g] = kw_normalize_phrase(g_corpus.keys[d][g]);
        kw_doc doc;
        if (kw_doc_build(&doc, g_corpus.texts[d], strlen(g_corpus.texts[d]), sw, 1, 3) != SLM_OK) return 1;
        double *feats = malloc((size_t)(doc.n_cands + 1) * KW_N_FEATURES * sizeof(double));
        kw_stat_features(&doc, feats);
        for (int c = 0; c < doc.n_cands; c++) {
            char *text = kw_candidate_text(&doc, &doc.cands[c]);
            char *norm = kw_normalize_phrase(text);
            int label = 0;
            for (int g = 0; g < g_corpus.n_keys[d] && !label; g++) label = gold[g] && strcmp(gold[g], norm) == 0;
            fprintf(f, "%zu\t%d", d, label);
            for (int k = 0; k < KW_N_FEATURES; k++) fprintf(f, "\t%.6g", feats[(size_t)c * KW_N_FEATURES + k]);
            fprintf(f, "\n");
            free(text);
            free(norm);
        }
        free(feats);
        kw_doc_free(&doc);
        for (int g = 0; g < g_corpus.n_keys[d]; g++) free(gold[g]);
        free(gold);
    }
    kw_stopwords_free(sw);
    return fclose(f) != 0;
}

/* Scores the encoder ranking for a grid of stat weights and diversities on the first n docs. */
static int embed_grid(const char *model, size_t n) {
    if (n > g_corpus.n) n = g_corpus.n;
    slm_embedder *emb_model;
    if (slm_embedder_open(model, NULL, &emb_model) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        return 1;
    }
    kw_stopwords *sw;
    if (kw_stopwords_load(NULL, &sw) != SLM_OK) return 1;
    kw_stat_weights w = kw_stat_default_weights();
    kw_embed_options base = {.pool = 40, .dedup = w.dedup};
    kw_doc *docs = calloc(n, sizeof *docs);
    int **pools = calloc(n, sizeof *pools), *n_pools = calloc(n, sizeof(int));
    float **embs = calloc(n, sizeof *embs);
    int d = slm_embedder_dim(emb_model);
    for (size_t i = 0; i < n; i++) {
        if (kw_doc_build(&docs[i], g_corpus.texts[i], strlen(g_corpus.texts[i]), sw, 1, 3) != SLM_OK) return 1;
        kw_stat_score(&docs[i], &w);
        if (kw_embed_pool(&docs[i], emb_model, &base, 15, &pools[i], &embs[i], &n_pools[i]) != SLM_OK) {
            fprintf(stderr, "%s\n", slm_last_error());
            return 1;
        }
    }
    const double stat_weights[] = {0, 0.5, 1, 1.5, 2, 3, 5, 8};
    const double diversities[] = {0, 0.1, 0.2, 0.4};
    const char *const **pred = calloc(n, sizeof *pred);
    int *n_pred = calloc(n, sizeof(int));
    char ***texts = calloc(n, sizeof *texts);
    for (size_t a = 0; a < sizeof stat_weights / sizeof stat_weights[0]; a++)
        for (size_t b = 0; b < sizeof diversities / sizeof diversities[0]; b++) {
            kw_embed_options opt = base;
            opt.stat_weight = stat_weights[a];
            opt.diversity = diversities[b];
            for (size_t i = 0; i < n; i++) {
                int picked[15];
                int k = kw_embed_select(&docs[i], pools[i], embs[i], d, n_pools[i], &opt, 15, picked);
                texts[i] = calloc(16, sizeof(char *));
                for (int j = 0; j < k; j++) texts[i][j] = kw_candidate_text(&docs[i], &docs[i].cands[picked[j]]);
                pred[i] = (const char *const *)texts[i];
                n_pred[i] = k;
            }
            slm_keyphrase_scores s;
            slm_keyphrase_evaluate((const char *const *const *)g_corpus.keys, g_corpus.n_keys, pred, n_pred, n, &s);
            printf("stat_weight %.1f diversity %.1f: F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", opt.stat_weight, opt.diversity,
                   s.f1[0], s.f1[1], s.f1[2]);
            fflush(stdout);
            for (size_t i = 0; i < n; i++) {
                for (int j = 0; j < n_pred[i]; j++) free(texts[i][j]);
                free(texts[i]);
            }
        }
    /* the stat ranking alone on the same documents */
    for (size_t i = 0; i < n; i++) {
        int picked[15];
        int k = kw_pick_top(&docs[i], 15, w.dedup, picked);
        texts[i] = calloc(16, sizeof(char *));
        for (int j = 0; j < k; j++) texts[i][j] = kw_candidate_text(&docs[i], &docs[i].cands[picked[j]]);
        pred[i] = (const char *const *)texts[i];
        n_pred[i] = k;
    }
    slm_keyphrase_scores s;
    slm_keyphrase_evaluate((const char *const *const *)g_corpus.keys, g_corpus.n_keys, pred, n_pred, n, &s);
    printf("stat alone: F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", s.f1[0], s.f1[1], s.f1[2]);
    return 0;
}

/* F1@5/10/15 of an extractor on the corpus, the documents already tagged. */
static void score_tagged(const slm_keywords *kw, const kw_tagged_doc *tagged, slm_keyphrase_scores *s) {
    const size_t n = g_corpus.n;
    slm_keyword_list *lists = calloc(n, sizeof *lists);
    const char *const **pred = calloc(n, sizeof *pred);
    int *n_pred = calloc(n, sizeof(int));
    char ***arrays = calloc(n, sizeof *arrays);
    for (size_t i = 0; i < n; i++) {
        if (kw_extract_document(kw, g_corpus.texts[i], &tagged[i], &lists[i]) != SLM_OK) {
            fprintf(stderr, "%s\n", slm_last_error());
            exit(1);
        }
        arrays[i] = calloc((size_t)lists[i].n + 1, sizeof(char *));
        for (int k = 0; k < lists[i].n; k++) arrays[i][k] = lists[i].items[k].phrase;
        pred[i] = (const char *const *)arrays[i];
        n_pred[i] = lists[i].n;
    }
    slm_keyphrase_evaluate((const char *const *const *)g_corpus.keys, g_corpus.n_keys, pred, n_pred, n, s);
    for (size_t i = 0; i < n; i++) free(arrays[i]);
    slm_keyword_lists_free(lists, n);
    free(lists), free(pred), free(n_pred), free(arrays);
}

static int sup_grid(const char *tagger_path) {
    kw_tagger *tg;
    const size_t n = g_corpus.n;
    kw_tagged_doc *tagged = calloc(n, sizeof *tagged);
    if (kw_tagger_open(tagger_path, &tg) != SLM_OK || kw_tagger_run(tg, (const char *const *)g_corpus.texts, n, tagged) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        return 1;
    }
    slm_keyphrase_scores s;
    for (int max_words = 3; max_words <= 5; max_words++) {
        slm_keywords_params p = {.method = SLM_KEYWORDS_SUPERVISED, .top_k = 15, .max_words = max_words,
                                 .model_path = tagger_path};
        slm_keywords *kw;
        if (slm_keywords_new(&p, &kw) != SLM_OK) return 1;
        for (int view = 0; view < 2; view++) {
            kw_keywords_set_sup_weight(kw, 1.0, view);
            score_tagged(kw, tagged, &s);
            printf("supervised 1-%d %s: F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", max_words, view ? "span" : "decoded-first",
                   s.f1[0], s.f1[1], s.f1[2]);
            fflush(stdout);
        }
        slm_keywords_free(kw);
    }
    slm_keywords_params p = {.method = SLM_KEYWORDS_AUTO, .top_k = 15, .model_path = tagger_path};
    slm_keywords *kw;
    if (slm_keywords_new(&p, &kw) != SLM_OK) return 1;
    const double weights[] = {0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3};
    const char *const views[] = {"rank", "log-span", "inside"};
    for (int view = 0; view < 3; view++)
        for (size_t a = view ? 1 : 0; a < sizeof weights / sizeof weights[0]; a++) {
            kw_keywords_set_sup_weight(kw, weights[a], view);
            score_tagged(kw, tagged, &s);
            printf("auto %-8s weight %.2f: F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", views[view], weights[a], s.f1[0], s.f1[1],
                   s.f1[2]);
            fflush(stdout);
        }
    slm_keywords_free(kw);
    kw_tagged_docs_free(tagged, n);
    free(tagged);
    kw_tagger_free(tg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: keywords_tune dump|eval|search GOLD [...]\n");
        return 2;
    }
    if (slm_keyphrase_corpus_load(argv[2], NULL, 1, &g_corpus) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        return 1;
    }
    if (strcmp(argv[1], "dump") == 0) return argc > 3 ? dump(argv[3]) : 2;
    if (strcmp(argv[1], "sup-grid") == 0) return argc > 3 ? sup_grid(argv[3]) : 2;
    if (strcmp(argv[1], "embed-grid") == 0) return argc > 4 ? embed_grid(argv[3], (size_t)atol(argv[4])) : 2;
    slm_keywords_params p = {.method = SLM_KEYWORDS_STAT, .top_k = 15};
    if (slm_keywords_new(&p, &g_kw) != SLM_OK) return 1;
    kw_stat_weights w = kw_stat_default_weights();
    slm_keyphrase_scores s;
    if (strcmp(argv[1], "eval") == 0) {
        int k = 0;
        for (int i = 3; i < argc; i++) {
            if (strncmp(argv[i], "dedup=", 6) == 0) w.dedup = atof(argv[i] + 6);
            else if (k < KW_N_FEATURES) w.w[k++] = atof(argv[i]);
        }
        evaluate(&w, &s);
        printf("F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", s.f1[0], s.f1[1], s.f1[2]);
        return 0;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 2;
    double best = evaluate(&w, &s);
    printf("start: F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", s.f1[0], s.f1[1], s.f1[2]);
    const double steps[] = {-1, -0.5, -0.25, -0.1, 0.1, 0.25, 0.5, 1};
    for (int r = 0; r < rounds; r++)
        for (int f = 0; f <= KW_N_FEATURES; f++) {
            double *field = f < KW_N_FEATURES ? &w.w[f] : &w.dedup;
            double orig = *field, best_v = orig;
            for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
                double v = f == KW_N_FEATURES ? orig + steps[k] * 0.1 : orig + steps[k] / (r + 1);
                if (f == KW_N_FEATURES && (v <= 0.3 || v > 1.0)) continue;
                *field = v;
                double score = evaluate(&w, NULL);
                if (score > best + 1e-5) {
                    best = score;
                    best_v = v;
                }
            }
            *field = best_v;
            printf("round %d %-15s = %7.3f  F1@10 %.4f\n", r, f < KW_N_FEATURES ? kw_feature_names[f] : "dedup", best_v, best);
            fflush(stdout);
        }
    evaluate(&w, &s);
    printf("tuned: F1@5 %.4f F1@10 %.4f F1@15 %.4f\nweights:", s.f1[0], s.f1[1], s.f1[2]);
    for (int f = 0; f < KW_N_FEATURES; f++) printf(" %.3f", w.w[f]);
    printf(" dedup=%.3f\n", w.dedup);
    slm_keywords_free(g_kw);
    slm_keyphrase_corpus_free(&g_corpus);
    return 0;
}
