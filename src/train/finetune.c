/* finetune.c — slm_finetune_classify: full fine-tuning of a BERT-family encoder with a linear
 * classification head. Texts are tokenised with the base's tokenizer ([CLS] ... [SEP], cut to
 * max_len); each epoch visits the examples in a seeded order, grouped by length so that
 * batches carry little padding; AdamW with linear warmup and decay; the dev set is scored
 * after every epoch and the best epoch's model is written (atomically) as a classifier GGUF.
 * The loop (finetune_loop) drives any ft_engine: a decoder base goes to decoder_finetune.c. */
#include "train/finetune.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "train/bert_train.h"
#include "train/decoder_finetune.h"
#include "train/token_tagging.h"

slm_finetune_params slm_finetune_defaults(void) {
    return (slm_finetune_params){.epochs = 3, .lr = 5e-5f, .batch = 32, .max_len = 128, .warmup = 0.1f,
                                 .weight_decay = 0.01f, .grad_clip = 1.0f, .pooling = SLM_POOLING_DEFAULT,
                                 .class_weights = 0, .patience = 0, .select_macro_f1 = 0, .dropout = 0.1f,
                                 .seed = 42};
}

slm_status finetune_check_params(const slm_finetune_params *p) {
    if (p->epochs < 1 || p->epochs > 1000) return slm_error(SLM_ERR_INVALID_ARG, "finetune: epochs %d must be in [1, 1000]", p->epochs);
    if (p->batch < 1 || p->batch > 4096) return slm_error(SLM_ERR_INVALID_ARG, "finetune: batch %d must be in [1, 4096]", p->batch);
    if (p->max_len < 3 || p->max_len > 8192)
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: max_len %d must be in [3, 8192]", p->max_len);
    if (!(p->lr > 0.0f) || !isfinite(p->lr)) return slm_error(SLM_ERR_INVALID_ARG, "finetune: lr %g must be > 0", p->lr);
    if (!(p->warmup >= 0.0f) || !isfinite(p->warmup) || !(p->weight_decay >= 0.0f) || !isfinite(p->weight_decay) ||
        isnan(p->grad_clip))
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: warmup and weight decay must be non-negative numbers");
    if (p->pooling != SLM_POOLING_DEFAULT && p->pooling != SLM_POOLING_MEAN && p->pooling != SLM_POOLING_CLS)
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: unknown pooling %d", (int)p->pooling);
    if (!(p->dropout >= 0.0f && p->dropout < 1.0f))
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: dropout %g must be in [0, 1)", p->dropout);
    if (p->patience < 0) return slm_error(SLM_ERR_INVALID_ARG, "finetune: patience %d must be >= 0", p->patience);
    return SLM_OK;
}

void ft_examples_free(ft_examples *ex) {
    free(ex->ids);
    free(ex->lens);
    free(ex->labels);
    free(ex->tags);
    memset(ex, 0, sizeof *ex);
}

/* ---------------------------------------------------------------- batches */

/* The order of one epoch: a seeded shuffle, then chunks of 64 batches each sorted by length
 * and cut into batches, whose order is shuffled again. Writes n indices into order. */
static void epoch_order(const ft_examples *ex, int batch, uint64_t seed, int epoch, size_t *order) {
    slm_rng rng;
    slm_rng_seed(&rng, seed * 1000003u + (uint64_t)epoch);
    const size_t n = ex->n;
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)(slm_rng_u64(&rng) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    const size_t chunk = (size_t)batch * 64;
    for (size_t c0 = 0; c0 < n; c0 += chunk) { /* insertion sort by length within the chunk */
        const size_t c1 = c0 + chunk < n ? c0 + chunk : n;
        for (size_t i = c0 + 1; i < c1; i++) {
            const size_t v = order[i];
            size_t j = i;
            while (j > c0 && ex->lens[order[j - 1]] > ex->lens[v]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = v;
        }
    }
    /* shuffle whole batches (the last, short one stays last) */
    const size_t n_full = n / (size_t)batch;
    for (size_t i = n_full; i > 1; i--) {
        const size_t j = (size_t)(slm_rng_u64(&rng) % i);
        for (int k = 0; k < batch; k++) {
            const size_t a = (i - 1) * (size_t)batch + (size_t)k, b = j * (size_t)batch + (size_t)k, t = order[a];
            order[a] = order[b];
            order[b] = t;
        }
    }
}

/* Gathers examples order[0..Bu) into a (Bu, T) batch, T the longest of them; labels gets Bu
 * labels, or (Bu, T) position labels with ex->tags. Returns T. */
static int gather(const ft_examples *ex, const size_t *order, int Bu, int32_t *tokens, int *lens, int32_t *labels) {
    int T = 1;
    for (int b = 0; b < Bu; b++)
        if (ex->lens[order[b]] > T) T = ex->lens[order[b]];
    for (int b = 0; b < Bu; b++) {
        const size_t i = order[b];
        memcpy(tokens + (size_t)b * T, ex->ids + i * (size_t)ex->max_len, sizeof(int32_t) * (size_t)T);
        lens[b] = ex->lens[i];
        if (labels && ex->tags) memcpy(labels + (size_t)b * T, ex->tags + i * (size_t)ex->max_len, sizeof(int32_t) * (size_t)T);
        else if (labels) labels[b] = ex->labels ? ex->labels[i] : 0;
    }
    return T;
}

/* ---------------------------------------------------------------- evaluation */

/* Accuracy and macro-F1 (over the labels present in truth or predictions) of the engine's model on ex. */
static slm_status evaluate(const ft_engine *e, const ft_examples *ex, int32_t *tokens, int *lens, double *accuracy,
                           double *macro_f1) {
    const int K = e->K;
    size_t *order = malloc(sizeof(size_t) * (ex->n ? ex->n : 1));
    int64_t *conf = calloc((size_t)K * K, sizeof(int64_t));
    if (!order || !conf) {
        free(order);
        free(conf);
        return slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    }
    for (size_t i = 0; i < ex->n; i++) order[i] = i;
    for (size_t s = 0; s < ex->n; s += (size_t)e->B) {
        const int Bu = ex->n - s < (size_t)e->B ? (int)(ex->n - s) : e->B;
        const int T = gather(ex, order + s, Bu, tokens, lens, NULL);
        const float *scores = e->scores(e->model, tokens, lens, Bu, T);
        for (int b = 0; b < Bu; b++) {
            const float *l = scores + (size_t)b * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (l[k] > l[best]) best = k;
            conf[(size_t)ex->labels[order[s + (size_t)b]] * K + best]++;
        }
    }
    int64_t correct = 0;
    double f1_sum = 0.0;
    int n_present = 0;
    for (int k = 0; k < K; k++) {
        int64_t tp = conf[(size_t)k * K + k], truth = 0, pred = 0;
        for (int j = 0; j < K; j++) {
            truth += conf[(size_t)k * K + j];
            pred += conf[(size_t)j * K + k];
        }
        correct += tp;
        if (truth == 0 && pred == 0) continue;
        n_present++;
        const double prec = pred ? (double)tp / pred : 0.0, rec = truth ? (double)tp / truth : 0.0;
        f1_sum += prec + rec > 0.0 ? 2.0 * prec * rec / (prec + rec) : 0.0;
    }
    *accuracy = ex->n ? (double)correct / (double)ex->n : 0.0;
    *macro_f1 = n_present ? f1_sum / n_present : 0.0;
    free(order);
    free(conf);
    return SLM_OK;
}

/* Exact matches between two lists of spans, each sorted by start. */
static int64_t count_matches(const int *gs, const int *ge, int ng, const int *ps, const int *pe, int np) {
    int64_t tp = 0;
    for (int i = 0, j = 0; i < ng && j < np;) {
        if (gs[i] == ps[j]) tp += ge[i] == pe[j], i++, j++;
        else if (gs[i] < ps[j]) i++;
        else j++;
    }
    return tp;
}

/* Word-tag accuracy, macro-F1 over the tags, and the F1 of exact BIO spans (tag_decode_spans)
 * of the model on tagged examples; the spans of an example are read from its labelled
 * positions in order. */
static slm_status evaluate_tags(const ft_engine *e, const ft_examples *ex, int32_t *tokens, int *lens, int32_t *labels,
                                double *accuracy, double *macro_f1, double *span_f1) {
    const int K = e->K, T_max = ex->max_len;
    int64_t conf[TAG_K * TAG_K] = {0}, span_tp = 0, span_gold = 0, span_pred = 0;
    uint8_t *gold = malloc((size_t)T_max * 2), *pred = gold ? gold + T_max : NULL;
    int *spans = malloc(sizeof(int) * (size_t)T_max * 4);
    size_t *order = malloc(sizeof(size_t) * (size_t)e->B);
    if (!gold || !spans || !order) {
        free(gold), free(spans), free(order);
        return slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    }
    for (size_t s = 0; s < ex->n; s += (size_t)e->B) {
        const int Bu = ex->n - s < (size_t)e->B ? (int)(ex->n - s) : e->B;
        for (int b = 0; b < Bu; b++) order[b] = s + (size_t)b;
        const int T = gather(ex, order, Bu, tokens, lens, labels);
        const float *probs = e->scores(e->model, tokens, lens, Bu, T);
        for (int b = 0; b < Bu; b++) {
            int n = 0;
            for (int t = 0; t < T; t++) {
                const int32_t y = labels[(size_t)b * T + t];
                if (y < 0) continue;
                const float *l = probs + ((size_t)b * T + t) * K;
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (l[k] > l[best]) best = k;
                conf[y * TAG_K + best]++;
                gold[n] = (uint8_t)y;
                pred[n++] = (uint8_t)best;
            }
            int *gs = spans, *ge = spans + T_max, *ps = spans + 2 * T_max, *pe = spans + 3 * T_max;
            const int ng = tag_decode_spans(gold, n, gs, ge, T_max), np = tag_decode_spans(pred, n, ps, pe, T_max);
            span_gold += ng;
            span_pred += np;
            span_tp += count_matches(gs, ge, ng, ps, pe, np);
        }
    }
    int64_t correct = 0, total = 0;
    double f1_sum = 0.0;
    int n_present = 0;
    for (int k = 0; k < TAG_K; k++) {
        int64_t tp = conf[k * TAG_K + k], truth = 0, npred = 0;
        for (int j = 0; j < TAG_K; j++) truth += conf[k * TAG_K + j], npred += conf[j * TAG_K + k];
        correct += tp;
        total += truth;
        if (truth == 0 && npred == 0) continue;
        n_present++;
        const double prec = npred ? (double)tp / npred : 0.0, rec = truth ? (double)tp / truth : 0.0;
        f1_sum += prec + rec > 0.0 ? 2.0 * prec * rec / (prec + rec) : 0.0;
    }
    *accuracy = total ? (double)correct / (double)total : 0.0;
    *macro_f1 = n_present ? f1_sum / n_present : 0.0;
    *span_f1 = span_gold + span_pred ? 2.0 * (double)span_tp / (double)(span_gold + span_pred) : 0.0;
    free(gold), free(spans), free(order);
    return SLM_OK;
}

/* ---------------------------------------------------------------- output */

static slm_status sync_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return slm_error(SLM_ERR_IO, "%s: cannot reopen: %s", path, strerror(errno));
    const int bad = fsync(fd) != 0;
    close(fd);
    return bad ? slm_error(SLM_ERR_IO, "%s: fsync failed: %s", path, strerror(errno)) : SLM_OK;
}

slm_status finetune_write_file(gguf_writer *w, const char *path) {
    char *tmp = malloc(strlen(path) + 32);
    if (!tmp) return slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    snprintf(tmp, strlen(path) + 32, "%s.tmp%ld", path, (long)getpid());
    slm_status st = gguf_writer_write(w, tmp);
    if (!st && !(st = sync_file(tmp)) && rename(tmp, path) != 0)
        st = slm_error(SLM_ERR_IO, "%s: cannot rename the output into place: %s", path, strerror(errno));
    if (st != SLM_OK) remove(tmp);
    free(tmp);
    return st;
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* Writes the classifier GGUF: the base's metadata (tokenizer included), the model's tensors
 * and the slm.classifier.* keys (slm.tagger.* for a token-classification model); to a
 * temporary file renamed over path. */
static slm_status write_classifier(const bert_model *m, const gguf_file *base, const char *base_path,
                                   const char *const *label_names, int max_len, const char *path) {
    gguf_writer *w = gguf_writer_new();
    gguf_str *names = calloc((size_t)m->cfg.K, sizeof *names);
    slm_status st = w && names ? SLM_OK : slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    for (uint64_t i = 0; i < base->n_kv && st == SLM_OK; i++) {
        const char *key = base->kv[i].key;
        if (starts_with(key, "slm.classifier.") || starts_with(key, "slm.tagger.") ||
            strcmp(key, "general.file_type") == 0)
            continue;
        st = gguf_writer_set(w, key, &base->kv[i].value);
    }
    for (int k = 0; k < m->cfg.K && st == SLM_OK; k++) names[k] = (gguf_str){label_names[k], strlen(label_names[k])};
    const char *base_name = strrchr(base_path, '/') ? strrchr(base_path, '/') + 1 : base_path;
    if (st == SLM_OK && m->cfg.per_token) {
        const gguf_value labels = {.type = GGUF_TYPE_ARRAY,
                                   .arr = {.elem_type = GGUF_TYPE_STRING, .n = (uint64_t)m->cfg.K, .strs = names}};
        if (!(st = gguf_writer_set(w, "slm.tagger.labels", &labels)) &&
            !(st = gguf_writer_set_u32(w, "slm.tagger.max_len", (uint32_t)max_len)) &&
            !(st = gguf_writer_set_str(w, "slm.tagger.base", base_name)) &&
            !(st = gguf_writer_set_u32(w, "general.file_type", 0)))
            st = bert_add_tensors(m, w);
    } else if (st == SLM_OK) {
        const gguf_value labels = {.type = GGUF_TYPE_ARRAY,
                                   .arr = {.elem_type = GGUF_TYPE_STRING, .n = (uint64_t)m->cfg.K, .strs = names}};
        if (!(st = gguf_writer_set(w, "slm.classifier.labels", &labels)) &&
            !(st = gguf_writer_set_str(w, "slm.classifier.pooling", m->cfg.pooling == BERT_POOL_CLS ? "cls" : "mean")) &&
            !(st = gguf_writer_set_u32(w, "slm.classifier.max_len", (uint32_t)max_len)) &&
            !(st = gguf_writer_set_str(w, "slm.classifier.base", base_name)) &&
            !(st = gguf_writer_set_u32(w, "bert.pooling_type", (uint32_t)m->cfg.pooling)) &&
            !(st = gguf_writer_set_u32(w, "general.file_type", 0)))
            st = bert_add_tensors(m, w);
    }
    if (st == SLM_OK) st = finetune_write_file(w, path);
    free(names);
    gguf_writer_free(w);
    return st;
}

/* ---------------------------------------------------------------- the loop */

/* Learning rate of step s (0-based) of total: linear warmup over warm steps, then linear decay to 0. */
static float lr_at(float lr, int s, int warm, int total) {
    if (s < warm) return lr * (float)(s + 1) / (float)warm;
    const int span = total - warm;
    return span > 0 ? lr * fmaxf(0.0f, (float)(total - s) / (float)span) : lr;
}

slm_status finetune_check_examples(const ft_examples *ex, int V, int K, const char *what) {
    for (size_t i = 0; i < ex->n; i++) {
        if (ex->lens[i] < 1 || ex->lens[i] > ex->max_len)
            return slm_error(SLM_ERR_INVALID_ARG, "finetune: %s example %zu has %d tokens", what, i + 1, ex->lens[i]);
        if (!ex->tags && (ex->labels[i] < 0 || ex->labels[i] >= K))
            return slm_error(SLM_ERR_INVALID_ARG, "finetune: %s example %zu has no label among the %d classes", what,
                             i + 1, K);
        for (int t = 0; t < ex->lens[i]; t++) {
            const int32_t id = ex->ids[i * (size_t)ex->max_len + (size_t)t];
            if (id < 0 || id >= V)
                return slm_error(SLM_ERR_RANGE, "finetune: %s example %zu: token %d is outside the vocabulary (%d)",
                                 what, i + 1, id, V);
            const int32_t tag = ex->tags ? ex->tags[i * (size_t)ex->max_len + (size_t)t] : 0;
            if (tag < -1 || tag >= K)
                return slm_error(SLM_ERR_INVALID_ARG, "finetune: %s example %zu: position %d has label %d (of %d)", what,
                                 i + 1, t, tag, K);
        }
    }
    return SLM_OK;
}

/* The BERT behind the loop's engine. */
typedef struct {
    bert_model m;
    const slm_finetune_params *p;
    const gguf_file *base;
    const char *base_path;
    const char *const *label_names;
    int max_len;
} bert_engine;

static float bert_engine_step(void *arg, const int32_t *tokens, const int *lens, const int32_t *labels,
                              const float *class_w, int Bu, int T, float lr, int t) {
    bert_engine *e = arg;
    e->m.dropout = e->p->dropout;
    e->m.dropout_seed = e->p->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)t);
    const float loss = bert_train_step(&e->m, tokens, lens, labels, class_w, Bu, T, lr, e->p->weight_decay,
                                       e->p->grad_clip, t, NULL);
    e->m.dropout = 0.0f;
    return loss;
}

static const float *bert_engine_scores(void *arg, const int32_t *tokens, const int *lens, int Bu, int T) {
    bert_engine *e = arg;
    bert_forward(&e->m, tokens, lens, NULL, NULL, Bu, T);
    return e->m.acts.probs;
}

static slm_status bert_engine_save(void *arg, const char *path) {
    const bert_engine *e = arg;
    return write_classifier(&e->m, e->base, e->base_path, e->label_names, e->max_len, path);
}

slm_status finetune_run(const char *base_path, const ft_examples *train, const ft_examples *dev,
                        const char *const *label_names, int K, const slm_finetune_params *p, const char *out_path,
                        slm_finetune_progress_fn progress, void *user, slm_finetune_result *result) {
    if (result) memset(result, 0, sizeof *result);
    if (train->n == 0) return slm_error(SLM_ERR_INVALID_ARG, "finetune: the training set is empty");
    if (K < 2) return slm_error(SLM_ERR_INVALID_ARG, "finetune: %d label(s): a classifier needs at least two", K);
    gguf_file base;
    slm_status st = gguf_open(base_path, &base);
    if (st != SLM_OK) return st;
    bert_config cfg;
    bert_engine be = {.p = p, .base = &base, .base_path = base_path, .label_names = label_names};
    if ((st = bert_config_from_gguf(base_path, &base, &cfg))) goto done;
    cfg.K = K;
    cfg.per_token = train->tags != NULL;
    if (p->pooling != SLM_POOLING_DEFAULT) cfg.pooling = p->pooling == SLM_POOLING_CLS ? BERT_POOL_CLS : BERT_POOL_MEAN;
    int max_len = train->max_len;
    if (dev && dev->max_len > max_len) max_len = dev->max_len;
    be.max_len = max_len;
    if (max_len > cfg.P) {
        st = slm_error(SLM_ERR_INVALID_ARG, "finetune: max_len %d is longer than the model's %d positions", max_len, cfg.P);
        goto done;
    }
    if ((st = finetune_check_examples(train, cfg.V, K, "training")) ||
        (dev && (st = finetune_check_examples(dev, cfg.V, K, "dev"))))
        goto done;
    const int B = p->batch < (int)train->n ? p->batch : (int)train->n;
    if ((st = bert_model_alloc(&be.m, &cfg, B > 0 ? B : 1, max_len, 1)) ||
        (st = bert_load_weights(&be.m, base_path, &base, 0)))
        goto done;
    bert_model_init_head(&be.m, p->seed);
    be.m.freeze_tok_embd = !p->train_embeddings;
    const ft_engine engine = {.model = &be, .K = K, .B = B > 0 ? B : 1, .per_token = cfg.per_token,
                              .step = bert_engine_step, .scores = bert_engine_scores, .save = bert_engine_save};
    st = finetune_loop(&engine, train, dev, p, out_path, progress, user, result);
done:
    bert_model_free(&be.m);
    gguf_close(&base);
    return st;
}

slm_status finetune_loop(const ft_engine *e, const ft_examples *train, const ft_examples *dev,
                         const slm_finetune_params *p, const char *out_path, slm_finetune_progress_fn progress,
                         void *user, slm_finetune_result *result) {
    const double t_start = slm_time_seconds();
    slm_finetune_result res = {0};
    slm_status st = SLM_OK;
    const int K = e->K, B = e->B;
    int max_len = train->max_len;
    if (dev && dev->max_len > max_len) max_len = dev->max_len;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)B * max_len),
            *labels = malloc(sizeof(int32_t) * (size_t)B * (e->per_token ? (size_t)max_len : 1));
    int *lens = malloc(sizeof(int) * (size_t)B);
    size_t *order = malloc(sizeof(size_t) * train->n);
    float *class_w = malloc(sizeof(float) * (size_t)K);
    if (!tokens || !labels || !lens || !order || !class_w) {
        st = slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
        goto done;
    }
    if (p->class_weights && !e->per_token) { /* n / (K n_k), as scikit-learn's "balanced" */
        for (int k = 0; k < K; k++) class_w[k] = 0.0f;
        for (size_t i = 0; i < train->n; i++) class_w[train->labels[i]] += 1.0f;
        for (int k = 0; k < K; k++) class_w[k] = class_w[k] > 0.0f ? (float)train->n / (K * class_w[k]) : 0.0f;
    }
    const int steps_per_epoch = (int)((train->n + (size_t)B - 1) / (size_t)B);
    const int total = steps_per_epoch * p->epochs;
    const int warm = p->warmup < 1.0f ? (int)lrintf(p->warmup * (float)total) : (int)p->warmup;
    int step = 0, since_best = 0;
    double best_score = -1.0;
    for (int epoch = 1; epoch <= p->epochs; epoch++) {
        epoch_order(train, B, p->seed, epoch, order);
        const double t_epoch = slm_time_seconds();
        double loss_sum = 0.0;
        size_t seen = 0;
        for (size_t s = 0; s < train->n; s += (size_t)B) {
            const int Bu = train->n - s < (size_t)B ? (int)(train->n - s) : B;
            const int T = gather(train, order + s, Bu, tokens, lens, labels);
            const float lr = lr_at(p->lr, step, warm, total);
            const float loss = e->step(e->model, tokens, lens, labels, p->class_weights && !e->per_token ? class_w : NULL, Bu, T, lr,
                                       step + 1);
            if (!isfinite(loss)) {
                st = slm_error(SLM_ERR_RANGE, "finetune: step %d: the loss is %g (try a lower --lr)", step + 1, loss);
                goto done;
            }
            step++;
            loss_sum += (double)loss * Bu;
            seen += (size_t)Bu;
            if (progress) {
                const double now = slm_time_seconds(), rate = (double)seen / fmax(now - t_epoch, 1e-9);
                const double left = (double)(total - step) * B / rate;
                const slm_finetune_progress pr = {.epoch = epoch, .n_epochs = p->epochs, .step = step, .n_steps = total,
                                                  .loss = (float)(loss_sum / seen), .lr = lr, .examples_per_s = rate,
                                                  .elapsed_s = now - t_start, .eta_s = left, .has_dev = dev != NULL};
                progress(&pr, user);
            }
        }
        res.epochs_run = epoch;
        slm_finetune_progress pr = {.epoch = epoch, .n_epochs = p->epochs, .step = step, .n_steps = total,
                                    .loss = (float)(loss_sum / seen), .lr = lr_at(p->lr, step - 1, warm, total),
                                    .examples_per_s = (double)seen / fmax(slm_time_seconds() - t_epoch, 1e-9),
                                    .epoch_end = 1, .has_dev = dev != NULL};
        int improved = dev == NULL ? 1 : 0;
        if (dev && e->per_token) {
            if ((st = evaluate_tags(e, dev, tokens, lens, labels, &pr.dev_accuracy, &pr.dev_macro_f1, &pr.dev_span_f1)))
                goto done;
            improved = pr.dev_span_f1 > best_score;
            if (improved) best_score = pr.dev_span_f1;
        } else if (dev) {
            if ((st = evaluate(e, dev, tokens, lens, &pr.dev_accuracy, &pr.dev_macro_f1))) goto done;
            const double score = p->select_macro_f1 ? pr.dev_macro_f1 : pr.dev_accuracy;
            improved = score > best_score;
            if (improved) best_score = score;
        }
        if (improved) {
            if ((st = e->save(e->model, out_path))) goto done;
            res.best_epoch = epoch;
            res.dev_accuracy = pr.dev_accuracy;
            res.dev_macro_f1 = pr.dev_macro_f1;
            res.dev_span_f1 = pr.dev_span_f1;
            since_best = 0;
        } else {
            since_best++;
        }
        pr.improved = improved;
        pr.elapsed_s = slm_time_seconds() - t_start;
        pr.eta_s = epoch < p->epochs ? pr.elapsed_s / epoch * (p->epochs - epoch) : 0.0;
        if (progress) progress(&pr, user);
        if (dev && p->patience > 0 && since_best >= p->patience) break;
    }
done:
    res.seconds = slm_time_seconds() - t_start;
    if (result) *result = res;
    free(tokens);
    free(labels);
    free(lens);
    free(order);
    free(class_w);
    return st;
}

/* ---------------------------------------------------------------- the public entry */

slm_status bert_encode_text(const slm_tokenizer *tok, const char *text, int max_len, int32_t *row, int *len, int *cut) {
    const int cls = slm_token_bos(tok), sep = tok->kind == TOKENIZER_WPM ? tok->sep : slm_token_eos(tok);
    const slm_tokenize_options opts = {.add_bos = 1, .parse_special = 0};
    int32_t *ids;
    size_t n;
    slm_status st = slm_tokenize(tok, text, strlen(text), &opts, &ids, &n);
    if (st != SLM_OK) return st;
    int k = 0;
    size_t first = 0;
    if (cls >= 0) {
        row[k++] = cls;
        if (n > 0 && ids[0] == cls) first = 1;
    }
    const size_t end = sep >= 0 && n > first && ids[n - 1] == sep ? n - 1 : n;
    const size_t room = (size_t)(max_len - k - (sep >= 0 ? 1 : 0));
    *cut = end - first > room;
    for (size_t j = first; j < end && j - first < room; j++) row[k++] = ids[j];
    if (sep >= 0) row[k++] = sep;
    *len = k;
    slm_free(ids);
    return SLM_OK;
}

slm_status ft_tokenize_dataset(const slm_tokenizer *tok, const slm_dataset *ds, int max_len, const char *what,
                               ft_encode_fn encode, ft_examples *ex, size_t *n_cut) {
    memset(ex, 0, sizeof *ex);
    ex->n = ds->n;
    ex->max_len = max_len;
    ex->ids = calloc(ds->n ? ds->n * (size_t)max_len : 1, sizeof(int32_t));
    ex->lens = malloc(sizeof(int) * (ds->n ? ds->n : 1));
    ex->labels = malloc(sizeof(int32_t) * (ds->n ? ds->n : 1));
    if (!ex->ids || !ex->lens || !ex->labels) {
        ft_examples_free(ex);
        return slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    }
    for (size_t i = 0; i < ds->n; i++) {
        if (ds->labels[i] < 0) {
            ft_examples_free(ex);
            return slm_error(SLM_ERR_INVALID_ARG, "finetune: %s example %zu has no label", what, i + 1);
        }
        int cut;
        slm_status st = encode(tok, ds->texts[i], max_len, ex->ids + i * (size_t)max_len, &ex->lens[i], &cut);
        if (st != SLM_OK) {
            ft_examples_free(ex);
            return slm_error(st, "finetune: %s example %zu: %s", what, i + 1, slm_last_error());
        }
        *n_cut += (size_t)cut;
        ex->labels[i] = ds->labels[i];
    }
    return SLM_OK;
}

slm_status slm_finetune_classify(const char *base_path, const slm_dataset *train, const slm_dataset *dev,
                                 const slm_finetune_params *params, const char *out_path,
                                 slm_finetune_progress_fn progress, void *user, slm_finetune_result *result) {
    if (!base_path || !train || !out_path) return slm_error(SLM_ERR_INVALID_ARG, "slm_finetune_classify: NULL argument");
    const slm_finetune_params p = params ? *params : slm_finetune_defaults();
    slm_status st = finetune_check_params(&p);
    if (st != SLM_OK) return st;
    if (dev && dev->n_labels > train->n_labels)
        return slm_error(SLM_ERR_INVALID_ARG, "finetune: the dev set has %d labels, the training set %d", dev->n_labels,
                         train->n_labels);
    { /* the base must be an encoder or a decoder slm can train: say so before tokenising anything */
        gguf_file f;
        bert_config cfg;
        if ((st = gguf_open(base_path, &f))) return st;
        char *arch = gguf_get_string(&f, "general.architecture");
        const int decoder = decoder_architecture(arch);
        free(arch);
        st = decoder ? SLM_OK : bert_config_from_gguf(base_path, &f, &cfg);
        gguf_close(&f);
        if (st != SLM_OK) return st;
        if (decoder) return decoder_finetune_classify(base_path, train, dev, &p, out_path, progress, user, result);
        if (p.lora_rank || p.lora_alpha != 0.0f || p.lora_targets)
            return slm_error(SLM_ERR_INVALID_ARG, "finetune: %s is an encoder, fine-tuned in full: the LoRA settings "
                             "are for decoders", base_path);
    }
    slm_tokenizer *tok;
    if ((st = slm_tokenizer_load(base_path, &tok))) return st;
    ft_examples tr = {0}, dv = {0};
    size_t n_cut = 0, n_cut_dev = 0;
    if (!(st = ft_tokenize_dataset(tok, train, p.max_len, "training", bert_encode_text, &tr, &n_cut)) &&
        !(dev && (st = ft_tokenize_dataset(tok, dev, p.max_len, "dev", bert_encode_text, &dv, &n_cut_dev)))) {
        st = finetune_run(base_path, &tr, dev ? &dv : NULL, (const char *const *)train->label_names, train->n_labels,
                          &p, out_path, progress, user, result);
        if (result) result->n_truncated = n_cut;
    }
    ft_examples_free(&tr);
    ft_examples_free(&dv);
    slm_tokenizer_free(tok);
    return st;
}
