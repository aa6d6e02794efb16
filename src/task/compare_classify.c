/* compare_classify.c — one classification candidate of slm_compare_run: fine-tuning it first when
 * asked (with a PATH.train.json record of the time it took), then opening it (a fine-tuned
 * classifier, or a generative model zero- or few-shot), scoring the examples at all threads
 * (accuracy, macro-F1, bootstrap intervals) and timing it (compare_measure_speed). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "task/compare_internal.h"

#define ZEROSHOT_N_CTX 2048
#define PLAIN_TEMPLATE "Text: {text}\nCategory:"

/* ---------------------------------------------------------------- small helpers */

/* s with every "{text}" replaced by text (NULL when out of memory). */
static char *fill_text(const char *s, const char *text) {
    size_t n = 0, tl = strlen(text);
    for (const char *at = s; (at = strstr(at, "{text}")); at += 6) n++;
    char *out = malloc(strlen(s) + n * tl + 1), *o = out;
    if (!out) return NULL;
    for (const char *at; (at = strstr(s, "{text}")); s = at + 6) {
        memcpy(o, s, (size_t)(at - s));
        o += at - s;
        memcpy(o, text, tl);
        o += tl;
    }
    strcpy(o, s);
    return out;
}

/* PATH.train.json, the record of how long fine-tuning PATH took. */
static void record_path(const char *path, char *buf, size_t cap) { snprintf(buf, cap, "%s.train.json", path); }

/* The "seconds" of a training record, or -1 when there is none. */
static double read_train_seconds(const char *path) {
    char rec[1100];
    record_path(path, rec, sizeof rec);
    FILE *f = fopen(rec, "rb");
    if (!f) return -1;
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    cJSON *root = cJSON_Parse(buf);
    const cJSON *s = root ? cJSON_GetObjectItemCaseSensitive(root, "seconds") : NULL;
    double seconds = cJSON_IsNumber(s) ? s->valuedouble : -1;
    cJSON_Delete(root);
    return seconds;
}

/* Whether path is a GGUF with slm.classifier.labels (a file slm finetune wrote). */
static int is_classifier_file(const char *path) {
    slm_file *f;
    if (slm_file_open(path, &f) != SLM_OK) return 0;
    int yes = 0;
    for (size_t i = 0; !yes && i < slm_file_n_metadata(f); i++) {
        const char *key;
        char *value = NULL;
        if (slm_file_metadata(f, i, &key, &value, 1) == SLM_OK) yes = strcmp(key, "slm.classifier.labels") == 0;
        slm_free(value);
    }
    slm_file_close(f);
    return yes;
}

/* ---------------------------------------------------------------- fine-tuning */

void compare_run_finetune(const compare_job *job, slm_compare_result *r) {
    const slm_compare_params *p = job->params;
    const slm_compare_candidate *c = job->candidate;
    double recorded = read_train_seconds(c->path);
    FILE *exists = fopen(c->path, "rb");
    if (exists) fclose(exists);
    if (exists && recorded >= 0) {
        r->train_s = recorded;
        compare_log(p, "  %s: reusing %s (fine-tuned in %.0f s)", r->name, c->path, recorded);
        return;
    }
    if (!p->train_path) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "fine-tuning %s needs a training set (--train)", c->finetune_base);
        return;
    }
    slm_dataset train = {0}, dev = {0};
    slm_dataset_params dp = p->data_params;
    dp.label_names = NULL;
    dp.n_label_names = 0;
    if (slm_dataset_load(p->train_path, &dp, &train) != SLM_OK) {
        compare_fail(r, "training set");
        return;
    }
    int ok = 1;
    if (p->dev_path) {
        dp.label_names = (const char *const *)train.label_names;
        dp.n_label_names = train.n_labels;
        ok = slm_dataset_load(p->dev_path, &dp, &dev) == SLM_OK || compare_fail(r, "dev set");
    }
    slm_finetune_result res = {0};
    compare_log(p, "  %s: fine-tuning %s on %zu texts", r->name, c->finetune_base, train.n);
    if (ok) ok = slm_set_threads(job->threads_all) == SLM_OK || compare_fail(r, NULL);
    if (ok)
        ok = slm_finetune_classify(c->finetune_base, &train, p->dev_path ? &dev : NULL, &p->finetune, c->path, NULL, NULL, &res) ==
                 SLM_OK ||
             compare_fail(r, "fine-tuning");
    if (ok) {
        r->train_s = res.seconds;
        char rec[1100];
        record_path(c->path, rec, sizeof rec);
        FILE *f = fopen(rec, "w");
        if (f) {
            fprintf(f,
                    "{\"seconds\": %.3f, \"base\": \"%s\", \"train\": \"%s\", \"epochs_run\": %d, \"best_epoch\": %d, "
                    "\"dev_accuracy\": %.6f, \"threads\": %d}\n",
                    res.seconds, c->finetune_base, p->train_path, res.epochs_run, res.best_epoch, res.dev_accuracy,
                    job->threads_all);
            fclose(f);
        }
    }
    slm_dataset_free(&train);
    slm_dataset_free(&dev);
}

/* ---------------------------------------------------------------- few-shot prompts */

/* The prompt with K solved examples of the training set before it: each is the template filled
 * with an example's text and followed by its label's words; labels are taken in turn. */
static char *few_shot_template(const compare_job *job, slm_compare_result *r) {
    const slm_compare_params *p = job->params;
    const int k = p->n_labels;
    if (!p->train_path) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "--shots %d needs a training set (--train) to take the examples from", job->shots);
        return NULL;
    }
    const char **names = calloc((size_t)k, sizeof *names);
    char **name_buf = calloc((size_t)k, sizeof *name_buf);
    const char **words = calloc((size_t)k, sizeof *words);
    slm_dataset train = {0};
    char *out = NULL;
    int ok = names && name_buf && words;
    for (int i = 0; ok && i < k; i++) {
        const char *eq = strchr(p->labels[i], '=');
        name_buf[i] = eq ? strndup(p->labels[i], (size_t)(eq - p->labels[i])) : strdup(p->labels[i]);
        names[i] = name_buf[i];
        words[i] = eq ? eq + 1 : p->labels[i];
        ok = name_buf[i] != NULL;
    }
    slm_dataset_params dp = p->data_params;
    dp.label_names = names;
    dp.n_label_names = k;
    if (ok && slm_dataset_load(p->train_path, &dp, &train) != SLM_OK) ok = compare_fail(r, "few-shot examples");
    const char *base = p->prompt_template ? p->prompt_template : PLAIN_TEMPLATE;
    size_t cap = strlen(base) + 1, len = 0;
    char *used = ok ? calloc(train.n ? train.n : 1, 1) : NULL;
    out = ok && used ? malloc(cap) : NULL;
    ok = out != NULL;
    if (ok) out[0] = 0;
    for (int s = 0; ok && s < job->shots; s++) {
        int want = s % k;
        size_t pick = train.n;
        for (size_t i = 0; i < train.n && pick == train.n; i++)
            if (!used[i] && train.labels[i] == want) pick = i;
        for (size_t i = 0; i < train.n && pick == train.n; i++)
            if (!used[i]) pick = i;
        if (pick == train.n) break; /* fewer examples than shots */
        used[pick] = 1;
        char *demo = fill_text(base, train.texts[pick]);
        size_t dl = demo ? strlen(demo) : 0;
        int space = dl && !strchr(" \n\t", demo[dl - 1]);
        const char *w = words[train.labels[pick]];
        size_t need = len + dl + strlen(w) + 4 + strlen(base) + 1;
        char *grown = demo && need > cap ? realloc(out, need * 2) : out;
        if (!demo || !grown) {
            ok = 0;
            free(demo);
            break;
        }
        if (need > cap) cap = need * 2;
        out = grown;
        len += (size_t)sprintf(out + len, "%s%s%s\n\n", demo, space ? " " : "", w);
        free(demo);
    }
    if (ok) strcat(out, base);
    if (!ok && r->ok) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "out of memory building the few-shot prompt");
    }
    if (!ok) {
        free(out);
        out = NULL;
    }
    free(used);
    slm_dataset_free(&train);
    for (int i = 0; name_buf && i < k; i++) free(name_buf[i]);
    free(name_buf);
    free(names);
    free(words);
    return out;
}

/* ---------------------------------------------------------------- measurement */

typedef struct {
    slm_classifier *clf;
    char *const *texts;
    int k, batch;
    float *probs; /* room for batch * k */
} predict_ctx;

static slm_status predict_range(void *ctx, size_t start, size_t count) {
    predict_ctx *pc = ctx;
    for (size_t i = start; i < start + count; i += (size_t)pc->batch) {
        size_t b = start + count - i < (size_t)pc->batch ? start + count - i : (size_t)pc->batch;
        slm_status st = slm_classifier_predict(pc->clf, (const char *const *)pc->texts + i, b, pc->probs);
        if (st != SLM_OK) return st;
    }
    return SLM_OK;
}

void compare_run_classify(const compare_job *job, slm_compare_result *r) {
    const slm_compare_params *p = job->params;
    const slm_compare_candidate *c = job->candidate;
    if (!c->path) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "no model file given");
        return;
    }
    uint64_t kv_bytes = 0;
    if (compare_model_size(c->path, ZEROSHOT_N_CTX, &r->n_params, &r->file_bytes, &kv_bytes) != SLM_OK) {
        compare_fail(r, NULL);
        return;
    }
    const int finetuned = is_classifier_file(c->path);
    if (finetuned) kv_bytes = 0;
    /* a LoRA classifier of a decoder runs on its base: count the base's weights and file too */
    char lora_base[1024];
    compare_file_string(c->path, "slm.lora.base_path", lora_base, sizeof lora_base);
    if (finetuned && lora_base[0]) {
        int64_t base_params = 0;
        uint64_t base_bytes = 0, base_kv = 0;
        if (compare_model_size(lora_base, 0, &base_params, &base_bytes, &base_kv) == SLM_OK) {
            r->n_params += base_params;
            r->file_bytes += base_bytes;
        }
    }
    if (!compare_fits_memory(job, r->file_bytes, kv_bytes, r)) return;
    if (finetuned && r->train_s == 0) {
        double recorded = read_train_seconds(c->path);
        if (recorded > 0) r->train_s = recorded;
    }
    if (!finetuned && (!p->labels || p->n_labels < 2)) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "a generative model is scored zero-shot: give the labels (--labels a,b)");
        return;
    }
    char *shots_template = NULL;
    if (!finetuned && job->shots > 0 && !(shots_template = few_shot_template(job, r))) return;
    if (finetuned) snprintf(r->kind, sizeof r->kind, lora_base[0] ? "fine-tuned (LoRA)" : "fine-tuned");
    else if (job->shots > 0) snprintf(r->kind, sizeof r->kind, "few-shot (%d)", job->shots);
    else snprintf(r->kind, sizeof r->kind, "zero-shot");

    slm_classifier_params cp = {.n_threads = job->threads_all, .batch = p->batch};
    if (!finetuned) {
        cp.labels = p->labels;
        cp.n_labels = p->n_labels;
        cp.prompt_template = shots_template ? shots_template : p->prompt_template;
        cp.calibrate = p->calibrate;
        cp.length_normalize = p->length_normalize;
    }
    slm_classifier *clf = NULL;
    slm_dataset ds = {0};
    const char **names = NULL;
    int *pred = NULL;
    float *probs = NULL, *scratch = NULL;
    slm_metrics m = {0};
    int ok = slm_set_threads(job->threads_all) == SLM_OK || compare_fail(r, NULL);
    double t0 = slm_time_seconds();
    if (ok) ok = slm_classifier_open(c->path, &cp, &clf) == SLM_OK || compare_fail(r, NULL);
    r->load_s = slm_time_seconds() - t0;
    const int k = ok ? slm_classifier_n_labels(clf) : 0;
    if (ok) ok = (names = malloc((size_t)k * sizeof *names)) != NULL || compare_fail(r, "out of memory");
    for (int i = 0; ok && i < k; i++) names[i] = slm_classifier_label(clf, i);
    slm_dataset_params dp = p->data_params;
    dp.label_names = names;
    dp.n_label_names = k;
    if (ok && slm_dataset_load(p->data_path, &dp, &ds) != SLM_OK) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "the model cannot score this data (its labels: ");
        for (int i = 0; i < k; i++)
            snprintf(r->error + strlen(r->error), sizeof r->error - strlen(r->error), "%s%s", i ? ", " : "", names[i]);
        snprintf(r->error + strlen(r->error), sizeof r->error - strlen(r->error), "): %s", slm_last_error());
        ok = 0;
    }
    const size_t n = ok ? (job->limit > 0 && (size_t)job->limit < ds.n ? (size_t)job->limit : ds.n) : 0;
    const int batch = p->batch > 0 ? p->batch : 16;
    if (ok && n == 0) ok = (r->ok = 0, snprintf(r->error, sizeof r->error, "%s has no examples", p->data_path), 0);
    if (ok)
        ok = ((probs = malloc(n * (size_t)k * sizeof *probs)) && (pred = malloc(n * sizeof *pred)) &&
              (scratch = malloc((size_t)batch * (size_t)k * sizeof *scratch))) ||
             compare_fail(r, "out of memory");
    if (ok) ok = slm_set_threads(job->threads_score) == SLM_OK || compare_fail(r, NULL);
    if (ok) compare_log(p, "  %s (%s): scoring %zu examples at %d threads", r->name, r->kind, n, job->threads_score);
    t0 = slm_time_seconds();
    for (size_t i = 0; ok && i < n; i += (size_t)batch) {
        size_t b = n - i < (size_t)batch ? n - i : (size_t)batch;
        ok = slm_classifier_predict(clf, (const char *const *)ds.texts + i, b, probs + i * (size_t)k) == SLM_OK ||
             compare_fail(r, NULL);
    }
    r->eval_s = slm_time_seconds() - t0;
    r->n = n;
    for (size_t i = 0; ok && i < n; i++) {
        int best = 0;
        for (int l = 1; l < k; l++)
            if (probs[i * (size_t)k + l] > probs[i * (size_t)k + best]) best = l;
        pred[i] = best;
    }
    if (ok) ok = slm_metrics_compute(ds.labels, pred, n, k, p->n_bootstrap, p->seed, &m) == SLM_OK || compare_fail(r, NULL);
    if (ok) {
        r->score = m.accuracy;
        r->score2 = m.macro_f1;
        memcpy(r->score_ci, m.accuracy_ci, sizeof r->score_ci);
        memcpy(r->score2_ci, m.macro_f1_ci, sizeof r->score2_ci);
        if (p->n_bootstrap <= 0) r->score_ci[0] = r->score_ci[1] = m.accuracy, r->score2_ci[0] = r->score2_ci[1] = m.macro_f1;
        r->speed_n = (int)(job->speed_n > 0 && (size_t)job->speed_n < n ? (size_t)job->speed_n : n);
        compare_log(p, "  %s: accuracy %.2f%%; timing %d examples", r->name, 100 * m.accuracy, r->speed_n);
        predict_ctx pc = {clf, ds.texts, k, batch, scratch};
        ok = compare_measure_speed(job, predict_range, &pc, r) == SLM_OK || compare_fail(r, "timing");
    }
    r->peak_rss_bytes = slm_peak_rss_bytes();
    slm_metrics_free(&m);
    free(probs);
    free(pred);
    free(scratch);
    free(names);
    slm_dataset_free(&ds);
    slm_classifier_free(clf);
    free(shots_template);
}
