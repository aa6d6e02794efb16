/* keywords.c — the public keyword-extraction API (slm_keywords_*): options, the stopword list,
 * and extraction of many documents spread over the worker pool, each document independently
 * split into candidates (candidates.c) and scored (keywords_stat.c); with a tagger, all
 * documents are tagged first (tagger.c, batched) and their phrases scored by the tags
 * (keywords_supervised.c), alone or added to the stat scores. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "task/keywords_internal.h"
#include "task/keywords_supervised.h"

struct slm_keywords {
    slm_keywords_params params;
    kw_stopwords *stopwords;
    kw_stat_weights weights;
    slm_embedder *embedder;    /* embed, or auto with an encoder */
    kw_embed_options embed;
    kw_tagger *tagger;         /* supervised, or auto with a tagger */
    double sup_weight;         /* auto with a tagger: weight of z(tagger score) beside z(stat score) */
    int sup_view;              /* with a tagger: which tagger score ranks (KW_SUP_*) */
};

/* The encoder ranking's defaults (keywords_tune embed-grid on Inspec train): candidates
 * embedded, the weight of the stat score beside the cosine in auto, and the MMR diversity. */
#define KW_EMBED_POOL 40
#define KW_AUTO_STAT_WEIGHT 2.0
#define KW_DEFAULT_DIVERSITY 0.4
/* auto with a tagger: relevance = z(stat) + KW_AUTO_SUP_WEIGHT * z(log(span probability + 1e-4)),
 * the weight and the view chosen on 100 Inspec train documents held out of the tagger's training
 * (keywords_tune sup-grid); the supervised method ranks by the span probability too */
#define KW_AUTO_SUP_WEIGHT 1.0
#define KW_SUP_DEFAULT_VIEW KW_SUP_LOG_SPAN

slm_status slm_keywords_new(const slm_keywords_params *params, slm_keywords **out) {
    if (!out) return slm_error(SLM_ERR_INVALID_ARG, "slm_keywords_new: out is NULL");
    *out = NULL;
    slm_keywords_params p = params ? *params : (slm_keywords_params){0};
    if (p.top_k <= 0) p.top_k = 10;
    if (p.min_words <= 0) p.min_words = 1;
    if (p.max_words <= 0) p.max_words = 3;
    if (p.max_words < p.min_words || p.max_words > KW_MAX_WORDS)
        return slm_error(SLM_ERR_INVALID_ARG, "phrase length %d-%d: need 1 <= min <= max <= %d", p.min_words,
                         p.max_words, KW_MAX_WORDS);
    if (p.diversity > 1) return slm_error(SLM_ERR_INVALID_ARG, "diversity %g: must be in [0, 1]", (double)p.diversity);
    if (p.method == SLM_KEYWORDS_EMBED && !p.model_path)
        return slm_error(SLM_ERR_INVALID_ARG, "the embed method needs an encoder model (model_path)");
    if (p.method == SLM_KEYWORDS_SUPERVISED && !p.model_path)
        return slm_error(SLM_ERR_INVALID_ARG, "the supervised method needs a tagger model (slm finetune --task tag)");
    if (p.method != SLM_KEYWORDS_STAT && p.method != SLM_KEYWORDS_EMBED && p.method != SLM_KEYWORDS_AUTO &&
        p.method != SLM_KEYWORDS_SUPERVISED)
        return slm_error(SLM_ERR_INVALID_ARG, "unknown keyword method %d", (int)p.method);
    if (p.method == SLM_KEYWORDS_AUTO && !p.model_path) p.method = SLM_KEYWORDS_STAT;
    const int use_tagger = p.method == SLM_KEYWORDS_SUPERVISED || (p.method == SLM_KEYWORDS_AUTO && kw_is_tagger_file(p.model_path));
    if (p.n_threads > 0 && p.n_threads != slm_get_threads()) {
        slm_status st = slm_set_threads(p.n_threads);
        if (st != SLM_OK) return st;
    }
    slm_keywords *kw = (slm_keywords *)calloc(1, sizeof *kw);
    if (!kw) return slm_error(SLM_ERR_NOMEM, "out of memory");
    slm_status st = kw_stopwords_load(p.stopwords_path, &kw->stopwords);
    if (st != SLM_OK) {
        free(kw);
        return st;
    }
    kw->params = p;
    kw->weights = kw_stat_default_weights();
    kw->sup_weight = KW_AUTO_SUP_WEIGHT;
    kw->sup_view = KW_SUP_DEFAULT_VIEW;
    if (use_tagger) {
        st = kw_tagger_open(p.model_path, &kw->tagger);
        if (st != SLM_OK) {
            slm_keywords_free(kw);
            return st;
        }
    } else if (p.method != SLM_KEYWORDS_STAT) {
        st = slm_embedder_open(p.model_path, NULL, &kw->embedder);
        if (st != SLM_OK) {
            slm_keywords_free(kw);
            return st;
        }
        kw->embed.pool = KW_EMBED_POOL;
        kw->embed.dedup = kw->weights.dedup;
        kw->embed.stat_weight = p.method == SLM_KEYWORDS_AUTO ? KW_AUTO_STAT_WEIGHT : 0;
        kw->embed.diversity = p.diversity >= 0 ? p.diversity : KW_DEFAULT_DIVERSITY;
    }
    *out = kw;
    return SLM_OK;
}

void slm_keywords_free(slm_keywords *kw) {
    if (!kw) return;
    kw_stopwords_free(kw->stopwords);
    slm_embedder_free(kw->embedder);
    kw_tagger_free(kw->tagger);
    free(kw);
}

void kw_keywords_set_sup_weight(slm_keywords *kw, double w, int view) {
    kw->sup_weight = w;
    kw->sup_view = view;
}

void kw_keywords_set_weights(slm_keywords *kw, const kw_stat_weights *w) { kw->weights = *w; }

void kw_keywords_set_embed(slm_keywords *kw, const kw_embed_options *opt) { kw->embed = *opt; }

/* The text of bytes [a, b), whitespace runs made one space, malloc'd. */
static char *span_text(const char *text, uint32_t a, uint32_t b) {
    char *s = malloc((size_t)(b - a) + 1);
    if (!s) return NULL;
    size_t o = 0;
    for (uint32_t i = a; i < b; i++) {
        const char c = text[i];
        const int space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        if (space && o && s[o - 1] == ' ') continue;
        s[o++] = space ? ' ' : c;
    }
    s[o] = '\0';
    return s;
}

/* The supervised method: the tagger's phrases, best first. */
static slm_status extract_supervised(const slm_keywords *kw, const char *text, const kw_tagged_doc *td,
                                     slm_keyword_list *out) {
    kw_sup_phrase *ph;
    int n_ph;
    slm_status st = kw_supervised_phrases(text, td, kw->stopwords, kw->params.min_words, kw->params.max_words, &ph, &n_ph);
    if (st != SLM_OK) return st;
    if (kw->sup_view == KW_SUP_LOG_SPAN) /* rank every phrase by its span probability alone */
        for (int i = 0; i < n_ph; i++) ph[i].score = ph[i].span_prob;
    int *picked = malloc(sizeof(int) * (size_t)kw->params.top_k);
    const int n = picked ? kw_supervised_pick(ph, n_ph, kw->params.top_k, picked) : -1;
    if (n < 0) st = slm_error(SLM_ERR_NOMEM, "out of memory");
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof(slm_keyword)))) st = slm_error(SLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && st == SLM_OK; i++) {
        const kw_sup_phrase *p = &ph[picked[i]];
        out->items[i].phrase = span_text(text, p->start, p->end);
        out->items[i].score = (float)p->score;
        if (!out->items[i].phrase) st = slm_error(SLM_ERR_NOMEM, "out of memory");
        out->n = i + 1;
    }
    free(picked);
    kw_sup_phrases_free(ph, n_ph);
    return st;
}

/* auto with a tagger: each stat candidate's score becomes z(stat) + w * z(tagger score of the
 * same stems, by kw->sup_view; a phrase the tagger did not score counts as probability 0), z
 * over the document's candidates. */
static slm_status add_tagger_scores(const slm_keywords *kw, kw_doc *doc, const char *text, const kw_tagged_doc *td) {
    kw_sup_phrase *ph;
    int n_ph;
    slm_status st = kw_supervised_phrases(text, td, kw->stopwords, kw->params.min_words, kw->params.max_words, &ph, &n_ph);
    if (st != SLM_OK) return st;
    const int n = doc->n_cands;
    double *sup = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!sup) st = slm_error(SLM_ERR_NOMEM, "out of memory");
    double ms = 0, mt = 0, vs = 0, vt = 0;
    for (int i = 0; i < n && st == SLM_OK; i++) {
        char *surface = kw_candidate_text(doc, &doc->cands[i]);
        char *key = surface ? kw_normalize_phrase(surface) : NULL;
        const kw_sup_phrase *p = key ? kw_sup_lookup(ph, n_ph, key) : NULL;
        sup[i] = !p ? (kw->sup_view == KW_SUP_LOG_SPAN ? log(1e-4) : 0.0)
                 : kw->sup_view == KW_SUP_LOG_SPAN ? log(p->span_prob + 1e-4)
                 : kw->sup_view == KW_SUP_INSIDE   ? p->inside
                                                   : p->score;
        if (!surface) st = slm_error(SLM_ERR_NOMEM, "out of memory");
        free(surface);
        free(key);
        ms += doc->cands[i].score;
        mt += sup[i];
    }
    if (st == SLM_OK && n > 1) {
        ms /= n, mt /= n;
        for (int i = 0; i < n; i++) {
            vs += (doc->cands[i].score - ms) * (doc->cands[i].score - ms);
            vt += (sup[i] - mt) * (sup[i] - mt);
        }
        const double ss = vs > 0 ? sqrt(vs / n) : 1.0, st_ = vt > 0 ? sqrt(vt / n) : 1.0;
        for (int i = 0; i < n; i++)
            doc->cands[i].score = (doc->cands[i].score - ms) / ss + kw->sup_weight * (sup[i] - mt) / st_;
    }
    free(sup);
    kw_sup_phrases_free(ph, n_ph);
    return st;
}

slm_status kw_extract_document(const slm_keywords *kw, const char *text, const kw_tagged_doc *td, slm_keyword_list *out) {
    out->items = NULL;
    out->n = 0;
    if (kw->tagger && kw->params.method == SLM_KEYWORDS_SUPERVISED) {
        slm_status st = extract_supervised(kw, text, td, out);
        if (st != SLM_OK) {
            slm_keyword_lists_free(out, 1);
            out->items = NULL;
            out->n = 0;
        }
        return st;
    }
    kw_doc doc;
    slm_status st = kw_doc_build(&doc, text, strlen(text), kw->stopwords, kw->params.min_words, kw->params.max_words);
    if (st != SLM_OK) return st;
    kw_stat_score(&doc, &kw->weights);
    if (kw->tagger && (st = add_tagger_scores(kw, &doc, text, td)) != SLM_OK) {
        kw_doc_free(&doc);
        return st;
    }
    int top_k = kw->params.top_k;
    int *picked = (int *)malloc((size_t)top_k * sizeof(int));
    if (!picked) {
        kw_doc_free(&doc);
        return slm_error(SLM_ERR_NOMEM, "out of memory");
    }
    int n = 0;
    if (kw->embedder) st = kw_embed_rank(&doc, kw->embedder, &kw->embed, top_k, picked, &n);
    else n = kw_pick_top(&doc, top_k, kw->weights.dedup, picked);
    if (n > 0) {
        out->items = (slm_keyword *)calloc((size_t)n, sizeof(slm_keyword));
        if (!out->items) st = slm_error(SLM_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n && st == SLM_OK; i++) {
            const kw_candidate *c = &doc.cands[picked[i]];
            out->items[i].phrase = kw_candidate_text(&doc, c);
            out->items[i].score = (float)c->score;
            if (!out->items[i].phrase) st = slm_error(SLM_ERR_NOMEM, "out of memory");
            out->n = i + 1;
        }
    }
    free(picked);
    kw_doc_free(&doc);
    if (st != SLM_OK) {
        slm_keyword_lists_free(out, 1);
        out->items = NULL;
        out->n = 0;
    }
    return st;
}

typedef struct {
    const slm_keywords *kw;
    const char *const *texts;
    const kw_tagged_doc *tagged; /* with a tagger: each text's tagging */
    slm_keyword_list *out;
    size_t n;
    atomic_size_t next;   /* the next document to take */
    atomic_int failed;
    slm_status status;    /* the first failure */
    char message[512];
} extract_job;

static void extract_worker(void *ctx, int ith, int nth) {
    (void)ith;
    (void)nth;
    extract_job *job = (extract_job *)ctx;
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n || atomic_load(&job->failed)) return;
        slm_status st = kw_extract_document(job->kw, job->texts[i] ? job->texts[i] : "", job->tagged ? &job->tagged[i] : NULL,
                                    &job->out[i]);
        if (st != SLM_OK) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&job->failed, &expected, 1)) {
                job->status = st;
                snprintf(job->message, sizeof job->message, "document %zu: %s", i + 1, slm_last_error());
            }
            return;
        }
    }
}

slm_status slm_keywords_extract(slm_keywords *kw, const char *const *texts, size_t n, slm_keyword_list *out) {
    if (!kw || (!texts && n) || (!out && n)) return slm_error(SLM_ERR_INVALID_ARG, "slm_keywords_extract: NULL argument");
    for (size_t i = 0; i < n; i++) out[i] = (slm_keyword_list){0};
    if (n == 0) return SLM_OK;
    extract_job job = {.kw = kw, .texts = texts, .out = out, .n = n};
    kw_tagged_doc *tagged = NULL;
    if (kw->tagger) { /* tag every document first: batched windows, threads inside the encoder */
        if (!(tagged = calloc(n, sizeof *tagged))) return slm_error(SLM_ERR_NOMEM, "out of memory");
        slm_status st = kw_tagger_run(kw->tagger, texts, n, tagged);
        if (st != SLM_OK) {
            free(tagged);
            return st;
        }
        job.tagged = tagged;
    }
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    /* with an encoder, documents go one by one: the encoder spreads each over the pool */
    if (n == 1 || slm_pool_threads() == 1 || kw->embedder) extract_worker(&job, 0, 1);
    else slm_pool_run(extract_worker, &job);
    kw_tagged_docs_free(tagged, tagged ? n : 0);
    free(tagged);
    if (atomic_load(&job.failed)) {
        slm_keyword_lists_free(out, n);
        return slm_error(job.status, "%s", job.message);
    }
    return SLM_OK;
}

void slm_keyword_lists_free(slm_keyword_list *lists, size_t n) {
    if (!lists) return;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < lists[i].n; k++) free(lists[i].items[k].phrase);
        free(lists[i].items);
        lists[i].items = NULL;
        lists[i].n = 0;
    }
}
