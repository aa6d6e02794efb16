/* keywords_tune.c — tunes the stat keyword scorer's weights (kw_stat_weights) by coordinate
 * search on a training corpus (Inspec train: never the split that is reported), printing F1@10
 * after each change, and the candidate oracle (the recall if every candidate were returned).
 * usage: keywords_tune GOLD [rounds] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"
#include "task/keywords_internal.h"

static slm_keyphrase_corpus g_corpus;
static slm_keywords *g_kw;

static double evaluate(const kw_stat_weights *w, int top, slm_keyphrase_scores *out) {
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
    (void)top;
    return s.f1[1];
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: keywords_tune GOLD [rounds]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 2;
    if (slm_keyphrase_corpus_load(argv[1], NULL, 1, &g_corpus) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        return 1;
    }
    /* the oracle: every candidate returned */
    slm_keywords_params big = {.method = SLM_KEYWORDS_STAT, .top_k = 100000};
    if (slm_keywords_new(&big, &g_kw) != SLM_OK) return 1;
    slm_keyphrase_scores s;
    kw_stat_weights w = kw_stat_default_weights();
    evaluate(&w, 0, &s);
    printf("oracle: recall with all candidates (cut at 15: %.4f)\n", s.recall[2]);
    slm_keywords_free(g_kw);
    slm_keywords_params p = {.method = SLM_KEYWORDS_STAT, .top_k = 15};
    if (slm_keywords_new(&p, &g_kw) != SLM_OK) return 1;
    double best = evaluate(&w, 15, &s);
    printf("default: F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", s.f1[0], s.f1[1], s.f1[2]);
    double *fields[] = {&w.w_yake, &w.w_len2, &w.w_len3, &w.w_position, &w.w_tf, &w.w_head, &w.w_bad_edge, &w.w_inner_stop, &w.dedup};
    const char *names[] = {"w_yake", "w_len2", "w_len3", "w_position", "w_tf", "w_head", "w_bad_edge", "w_inner_stop", "dedup"};
    const double steps[] = {-2, -1, -0.5, -0.25, 0.25, 0.5, 1, 2};
    for (int r = 0; r < rounds; r++)
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            double orig = *fields[f], best_v = orig;
            for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
                double v = f == 8 ? orig + steps[k] * 0.1 : orig + steps[k] * (r == 0 ? 1.0 : 0.3);
                if (f == 8 && (v <= 0.3 || v > 1.0)) continue;
                if (f == 0 && v <= 0) continue;
                *fields[f] = v;
                double score = evaluate(&w, 15, NULL);
                if (score > best + 1e-5) {
                    best = score;
                    best_v = v;
                }
            }
            *fields[f] = best_v;
            printf("round %d %-13s = %7.3f  F1@10 %.4f\n", r, names[f], best_v, best);
            fflush(stdout);
        }
    evaluate(&w, 15, &s);
    printf("tuned: F1@5 %.4f F1@10 %.4f F1@15 %.4f\n", s.f1[0], s.f1[1], s.f1[2]);
    printf("weights:");
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) printf(" %s=%.3f", names[f], *fields[f]);
    printf("\n");
    slm_keywords_free(g_kw);
    slm_keyphrase_corpus_free(&g_corpus);
    return 0;
}
