/* keywords_embed.c — keyphrase ranking with a sentence encoder (slm_embedder): the cosine of each
 * candidate's embedding to the document's (the KeyBERT idea), alone (`embed`) or added to the
 * stat score (`auto` with a model), and Maximal Marginal Relevance for diversity. Only the stat
 * scorer's best KW_EMBED_POOL candidates are embedded, to bound the encoder's work per document. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "task/keywords_internal.h"

/* Mean and standard deviation of x[0..n). */
static void mean_std(const double *x, int n, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(s2 / n) : 0;
    if (*sd < 1e-9) *sd = 1;
}

static double dot(const float *a, const float *b, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)a[i] * b[i];
    return s;
}

slm_status kw_embed_pool(kw_doc *doc, slm_embedder *embedder, const kw_embed_options *opt, int top_k, int **pool,
                         float **emb, int *n_pool) {
    *pool = NULL;
    *emb = NULL;
    *n_pool = 0;
    if (doc->n_cands == 0) return SLM_OK;
    int cap = opt->pool < doc->n_cands ? opt->pool : doc->n_cands;
    if (cap < top_k) cap = top_k < doc->n_cands ? top_k : doc->n_cands;
    int *p = (int *)malloc((size_t)cap * sizeof(int));
    if (!p) return slm_error(SLM_ERR_NOMEM, "out of memory");
    int n = kw_pick_top(doc, cap, opt->dedup, p);
    int d = slm_embedder_dim(embedder);
    char **texts = (char **)calloc((size_t)n + 1, sizeof(char *));
    float *e = (float *)malloc((size_t)(n + 1) * (size_t)d * sizeof(float));
    char *doc_text = (char *)malloc(doc->len + 1);
    slm_status st = texts && e && doc_text ? SLM_OK : slm_error(SLM_ERR_NOMEM, "out of memory");
    if (st == SLM_OK) {
        memcpy(doc_text, doc->text, doc->len);
        doc_text[doc->len] = '\0';
        texts[0] = doc_text;
        for (int i = 0; i < n && st == SLM_OK; i++) {
            texts[i + 1] = kw_candidate_text(doc, &doc->cands[p[i]]);
            if (!texts[i + 1]) st = slm_error(SLM_ERR_NOMEM, "out of memory");
        }
    }
    if (st == SLM_OK) st = slm_embed(embedder, (const char *const *)texts, (size_t)n + 1, e);
    if (texts)
        for (int i = 1; i <= n; i++) free(texts[i]);
    free(texts);
    free(doc_text);
    if (st != SLM_OK) {
        free(p);
        free(e);
        return st;
    }
    *pool = p;
    *emb = e;
    *n_pool = n;
    return SLM_OK;
}

int kw_embed_select(kw_doc *doc, const int *pool, const float *emb, int d, int n_pool, const kw_embed_options *opt,
                    int top_k, int *picked) {
    if (n_pool == 0) return 0;
    double *cosine = (double *)calloc((size_t)n_pool * 3, sizeof(double));
    unsigned char *taken = (unsigned char *)calloc((size_t)n_pool, 1);
    if (!cosine || !taken) {
        free(cosine);
        free(taken);
        return 0;
    }
    double *stat = cosine + n_pool, *score = cosine + 2 * n_pool;
    for (int i = 0; i < n_pool; i++) {
        cosine[i] = dot(emb + (size_t)(i + 1) * d, emb, d);
        stat[i] = doc->cands[pool[i]].score;
    }
    double cm, cs, sm, ss;
    mean_std(cosine, n_pool, &cm, &cs);
    mean_std(stat, n_pool, &sm, &ss);
    for (int i = 0; i < n_pool; i++)
        score[i] = opt->stat_weight > 0 ? opt->stat_weight * (stat[i] - sm) / ss + (cosine[i] - cm) / cs : cosine[i];
    /* MMR: (1 - diversity) * relevance - diversity * the highest similarity to a chosen phrase,
     * relevance in cosine units so that the two terms compare */
    double scale = opt->stat_weight > 0 ? cs : 1;
    int n = 0;
    while (n < top_k && n < n_pool) {
        int best = -1;
        double best_v = -INFINITY;
        for (int i = 0; i < n_pool; i++) {
            if (taken[i]) continue;
            double redundancy = 0;
            if (opt->diversity > 0 && n > 0) {
                redundancy = -INFINITY;
                for (int j = 0; j < n; j++) {
                    double s = dot(emb + (size_t)(i + 1) * d, emb + (size_t)(picked[j] + 1) * d, d);
                    if (s > redundancy) redundancy = s;
                }
            }
            double v = (1 - opt->diversity) * score[i] * scale - opt->diversity * redundancy;
            if (v > best_v) {
                best_v = v;
                best = i;
            }
        }
        taken[best] = 1;
        picked[n++] = best; /* a pool index until the end */
    }
    for (int i = 0; i < n; i++) {
        doc->cands[pool[picked[i]]].embed_score = score[picked[i]];
        picked[i] = pool[picked[i]];
    }
    free(cosine);
    free(taken);
    return n;
}

slm_status kw_embed_rank(kw_doc *doc, slm_embedder *embedder, const kw_embed_options *opt, int top_k, int *picked,
                         int *n_picked) {
    *n_picked = 0;
    int *pool, n_pool;
    float *emb;
    slm_status st = kw_embed_pool(doc, embedder, opt, top_k, &pool, &emb, &n_pool);
    if (st != SLM_OK) return st;
    *n_picked = kw_embed_select(doc, pool, emb, slm_embedder_dim(embedder), n_pool, opt, top_k, picked);
    for (int i = 0; i < *n_picked; i++) doc->cands[picked[i]].score = doc->cands[picked[i]].embed_score;
    free(pool);
    free(emb);
    return SLM_OK;
}
