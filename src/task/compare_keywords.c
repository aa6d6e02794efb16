/* compare_keywords.c — one keyphrase-extraction candidate of slm_compare_run: a method (stat,
 * embed, auto) with an optional encoder, scored by stemmed exact-match F1@10 and F1@5 on a gold
 * corpus (bootstrap intervals over documents) and timed in documents per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "task/compare_internal.h"

typedef struct {
    slm_keywords *kw;
    char *const *texts;
} extract_ctx;

static slm_status extract_range(void *ctx, size_t start, size_t count) {
    extract_ctx *ec = ctx;
    slm_keyword_list *lists = calloc(count, sizeof *lists);
    if (!lists) return slm_error(SLM_ERR_NOMEM, "out of memory");
    slm_status st = slm_keywords_extract(ec->kw, (const char *const *)ec->texts + start, count, lists);
    if (st == SLM_OK) slm_keyword_lists_free(lists, count);
    free(lists);
    return st;
}

/* Per-document F1 at cut-offs 5 and 10 of the extracted lists against the gold keys. */
static slm_status per_document_f1(const slm_keyphrase_corpus *corpus, const slm_keyword_list *lists, size_t n, double *f1_5,
                                  double *f1_10) {
    for (size_t i = 0; i < n; i++) {
        const char **phrases = calloc((size_t)lists[i].n + 1, sizeof *phrases);
        if (!phrases) return slm_error(SLM_ERR_NOMEM, "out of memory");
        for (int k = 0; k < lists[i].n; k++) phrases[k] = lists[i].items[k].phrase;
        const char *const *gold = (const char *const *)corpus->keys[i];
        const char *const *pred = phrases;
        slm_keyphrase_scores s;
        slm_status st = slm_keyphrase_evaluate(&gold, &corpus->n_keys[i], &pred, &lists[i].n, 1, &s);
        free(phrases);
        if (st != SLM_OK) return st;
        f1_5[i] = s.f1[0];
        f1_10[i] = s.f1[1];
    }
    return SLM_OK;
}

void compare_run_keywords(const compare_job *job, slm_compare_result *r) {
    const slm_compare_params *p = job->params;
    const slm_compare_candidate *c = job->candidate;
    slm_keywords_params kp = {.n_threads = 0};
    const char *method = c->method ? c->method : "auto";
    if (strcmp(method, "stat") == 0) kp.method = SLM_KEYWORDS_STAT;
    else if (strcmp(method, "embed") == 0) kp.method = SLM_KEYWORDS_EMBED;
    else if (strcmp(method, "auto") == 0) kp.method = SLM_KEYWORDS_AUTO;
    else {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "unknown keyword method \"%s\" (stat, embed, auto)", method);
        return;
    }
    snprintf(r->kind, sizeof r->kind, "%s", method);
    if (kp.method == SLM_KEYWORDS_EMBED && !c->path) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "the embed method needs an encoder model");
        return;
    }
    if (c->path && kp.method != SLM_KEYWORDS_STAT) {
        uint64_t kv = 0;
        if (compare_model_size(c->path, 0, &r->n_params, &r->file_bytes, &kv) != SLM_OK) {
            compare_fail(r, NULL);
            return;
        }
        if (!compare_fits_memory(job, r->file_bytes, 0, r)) return;
        kp.model_path = c->path;
    }
    slm_keyphrase_corpus corpus = {0};
    slm_keywords *kw = NULL;
    slm_keyword_list *lists = NULL;
    double *f1_5 = NULL, *f1_10 = NULL;
    int ok = slm_set_threads(job->threads_all) == SLM_OK || compare_fail(r, NULL);
    double t0 = slm_time_seconds();
    if (ok) ok = slm_keywords_new(&kp, &kw) == SLM_OK || compare_fail(r, NULL);
    r->load_s = slm_time_seconds() - t0;
    if (ok) ok = slm_keyphrase_corpus_load(p->data_path, NULL, 1, &corpus) == SLM_OK || compare_fail(r, p->data_path);
    const size_t n = ok ? (job->limit > 0 && (size_t)job->limit < corpus.n ? (size_t)job->limit : corpus.n) : 0;
    if (ok && n == 0) ok = (r->ok = 0, snprintf(r->error, sizeof r->error, "%s has no documents", p->data_path), 0);
    if (ok)
        ok = ((lists = calloc(n, sizeof *lists)) && (f1_5 = malloc(n * sizeof *f1_5)) && (f1_10 = malloc(n * sizeof *f1_10))) ||
             compare_fail(r, "out of memory");
    if (ok) ok = slm_set_threads(job->threads_score) == SLM_OK || compare_fail(r, NULL);
    if (ok) compare_log(p, "  %s (%s): extracting from %zu documents at %d threads", r->name, r->kind, n, job->threads_score);
    t0 = slm_time_seconds();
    if (ok) ok = slm_keywords_extract(kw, (const char *const *)corpus.texts, n, lists) == SLM_OK || compare_fail(r, NULL);
    r->eval_s = slm_time_seconds() - t0;
    r->n = n;
    if (ok) ok = per_document_f1(&corpus, lists, n, f1_5, f1_10) == SLM_OK || compare_fail(r, NULL);
    if (ok) {
        r->score = compare_bootstrap_mean(f1_10, n, p->n_bootstrap, p->seed, r->score_ci);
        r->score2 = compare_bootstrap_mean(f1_5, n, p->n_bootstrap, p->seed, r->score2_ci);
        r->speed_n = (int)(job->speed_n > 0 && (size_t)job->speed_n < n ? (size_t)job->speed_n : n);
        extract_ctx ec = {kw, corpus.texts};
        ok = compare_measure_speed(job, extract_range, &ec, r) == SLM_OK || compare_fail(r, "timing");
    }
    r->peak_rss_bytes = slm_peak_rss_bytes();
    if (lists) slm_keyword_lists_free(lists, n);
    free(lists);
    free(f1_5);
    free(f1_10);
    slm_keywords_free(kw);
    slm_keyphrase_corpus_free(&corpus);
}
