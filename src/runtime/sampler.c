/* sampler.c — the sampler chain: repetition penalty, top-k, top-p, min-p, temperature, draw.
 * Candidates live in buffers allocated once per sampler; nothing is allocated per token. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "slm.h"

typedef struct {
    int id;
    float logit;
} candidate;

struct slm_sampler {
    slm_sampling_params p;
    int n_vocab;
    candidate *cand; /* (n_vocab) */
    float *scratch;  /* (n_vocab) logits after the penalty */
    slm_rng rng;
};

slm_sampling_params slm_sampling_defaults(void) {
    return (slm_sampling_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                 .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0x5eed};
}

slm_status slm_sampler_new(const slm_sampling_params *params, int n_vocab, slm_sampler **out) {
    if (!out || n_vocab <= 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_sampler_new: bad arguments");
    *out = NULL;
    slm_sampling_params p = params ? *params : slm_sampling_defaults();
    if (!(p.temperature >= 0.0f) || p.top_k < 0 || !(p.top_p > 0.0f && p.top_p <= 1.0f) ||
        !(p.min_p >= 0.0f && p.min_p <= 1.0f) || !(p.repeat_penalty > 0.0f) || p.repeat_last_n < 0)
        return slm_error(SLM_ERR_INVALID_ARG,
                         "sampling: need temperature >= 0, top-k >= 0, 0 < top-p <= 1, 0 <= min-p <= 1, repeat-penalty > 0");
    slm_sampler *s = slm_calloc(1, sizeof *s, "sampler");
    if (!s) return SLM_ERR_NOMEM;
    s->p = p;
    s->n_vocab = n_vocab;
    s->cand = slm_calloc((size_t)n_vocab, sizeof(candidate), "sampler candidates");
    s->scratch = slm_calloc((size_t)n_vocab, sizeof(float), "sampler logits");
    if (!s->cand || !s->scratch) {
        slm_sampler_free(s);
        return SLM_ERR_NOMEM;
    }
    slm_rng_seed(&s->rng, p.seed);
    *out = s;
    return SLM_OK;
}

void slm_sampler_free(slm_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->scratch);
    free(s);
}

static int by_logit_desc(const void *a, const void *b) {
    float x = ((const candidate *)a)->logit, y = ((const candidate *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const candidate *)a)->id - ((const candidate *)b)->id;
}

/* Moves the k largest candidates to the front, sorted (partial selection, then a sort of k). */
static void select_top(candidate *c, int n, int k) {
    if (k < n) {
        /* quickselect for the k-th largest */
        int lo = 0, hi = n - 1;
        while (lo < hi) {
            candidate pivot = c[(lo + hi) / 2];
            int i = lo, j = hi;
            while (i <= j) {
                while (by_logit_desc(&c[i], &pivot) < 0) i++;
                while (by_logit_desc(&c[j], &pivot) > 0) j--;
                if (i <= j) {
                    candidate t = c[i];
                    c[i] = c[j];
                    c[j] = t;
                    i++;
                    j--;
                }
            }
            if (k - 1 <= j) hi = j;
            else if (k - 1 >= i) lo = i;
            else break;
        }
    }
    qsort(c, (size_t)(k < n ? k : n), sizeof(candidate), by_logit_desc);
}

int slm_sampler_sample(slm_sampler *s, const float *logits, const int32_t *history, size_t n_history) {
    const slm_sampling_params *p = &s->p;
    const float *l = logits;
    if (p->repeat_penalty != 1.0f && n_history > 0) {
        memcpy(s->scratch, logits, (size_t)s->n_vocab * sizeof(float));
        size_t from = n_history > (size_t)p->repeat_last_n ? n_history - (size_t)p->repeat_last_n : 0;
        for (size_t i = from; i < n_history; i++) {
            int id = history[i];
            if (id < 0 || id >= s->n_vocab) continue;
            float v = logits[id]; /* once per token, however often it repeats */
            s->scratch[id] = v > 0 ? v / p->repeat_penalty : v * p->repeat_penalty;
        }
        l = s->scratch;
    }
    if (p->temperature <= 0.0f) { /* greedy: the first of equal maxima */
        int best = 0;
        for (int i = 1; i < s->n_vocab; i++)
            if (l[i] > l[best]) best = i;
        return best;
    }
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) s->cand[i] = (candidate){i, l[i]};
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    select_top(s->cand, n, k);
    n = k;
    /* probabilities at temperature 1 for the top-p and min-p cuts, as llama.cpp orders them */
    float max = s->cand[0].logit, sum = 0.0f;
    for (int i = 0; i < n; i++) sum += expf(s->cand[i].logit - max);
    if (p->top_p < 1.0f) {
        float cum = 0.0f;
        for (int i = 0; i < n; i++) {
            cum += expf(s->cand[i].logit - max) / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        float threshold = logf(p->min_p); /* p_i / p_max >= min_p  <=>  logit_i - max >= log(min_p) */
        int keep = 1;
        while (keep < n && s->cand[keep].logit - max >= threshold) keep++;
        n = keep;
    }
    float total = 0.0f;
    for (int i = 0; i < n; i++) {
        s->cand[i].logit = expf((s->cand[i].logit - max) / p->temperature);
        total += s->cand[i].logit;
    }
    float r = slm_rng_f32(&s->rng) * total, cum = 0.0f;
    for (int i = 0; i < n; i++) {
        cum += s->cand[i].logit;
        if (r < cum) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}
