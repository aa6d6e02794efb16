/* metrics.c — classification metrics: accuracy, per-label precision/recall/F1, macro averages,
 * the confusion matrix, percentile bootstrap intervals; printed as a text report or JSON. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "tokenizer/textbuf.h"

static double ratio(int64_t a, int64_t b) { return b ? (double)a / (double)b : 0.0; }

/* Accuracy and macro-F1 of a confusion matrix (row = truth, column = prediction). */
static void scores_of(const int64_t *cm, int k, size_t n, double *accuracy, double *macro_f1) {
    int64_t correct = 0;
    double f1_sum = 0;
    int counted = 0;
    for (int c = 0; c < k; c++) {
        correct += cm[(size_t)c * k + c];
        int64_t truth = 0, pred = 0;
        for (int j = 0; j < k; j++) {
            truth += cm[(size_t)c * k + j];
            pred += cm[(size_t)j * k + c];
        }
        if (!truth && !pred) continue; /* a label absent from both does not count */
        int64_t tp = cm[(size_t)c * k + c];
        double p = ratio(tp, pred), r = ratio(tp, truth);
        f1_sum += p + r > 0 ? 2 * p * r / (p + r) : 0;
        counted++;
    }
    *accuracy = ratio(correct, (int64_t)n);
    *macro_f1 = counted ? f1_sum / counted : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The 2.5% and 97.5% percentiles of v (sorted in place), linearly interpolated. */
static void percentile_95(double *v, int n, double ci[2]) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    const double q[2] = {0.025, 0.975};
    for (int i = 0; i < 2; i++) {
        double at = q[i] * (n - 1);
        int lo = (int)at;
        int hi = lo + 1 < n ? lo + 1 : lo;
        ci[i] = v[lo] + (at - lo) * (v[hi] - v[lo]);
    }
}

slm_status slm_metrics_compute(const int *truth, const int *pred, size_t n, int n_labels, int n_bootstrap,
                               uint64_t seed, slm_metrics *out) {
    if (!out || (n && (!truth || !pred)) || n_labels <= 0 || n_bootstrap < 0)
        return slm_error(SLM_ERR_INVALID_ARG, "slm_metrics_compute: bad arguments");
    memset(out, 0, sizeof *out);
    if (n == 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_metrics_compute: no examples");
    for (size_t i = 0; i < n; i++)
        if (truth[i] < 0 || truth[i] >= n_labels || pred[i] < 0 || pred[i] >= n_labels)
            return slm_error(SLM_ERR_RANGE, "slm_metrics_compute: example %zu has label %d / prediction %d outside 0..%d",
                             i, truth[i], pred[i], n_labels - 1);
    const size_t k = (size_t)n_labels;
    out->n_labels = n_labels;
    out->n = n;
    out->precision = slm_calloc(k, sizeof(double), "metrics");
    out->recall = slm_calloc(k, sizeof(double), "metrics");
    out->f1 = slm_calloc(k, sizeof(double), "metrics");
    out->support = slm_calloc(k, sizeof(int64_t), "metrics");
    out->confusion = slm_calloc(k * k, sizeof(int64_t), "metrics");
    if (!out->precision || !out->recall || !out->f1 || !out->support || !out->confusion) {
        slm_metrics_free(out);
        return SLM_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) out->confusion[(size_t)truth[i] * k + (size_t)pred[i]]++;
    int counted = 0;
    for (size_t c = 0; c < k; c++) {
        int64_t truth_c = 0, pred_c = 0, tp = out->confusion[c * k + c];
        for (size_t j = 0; j < k; j++) {
            truth_c += out->confusion[c * k + j];
            pred_c += out->confusion[j * k + c];
        }
        out->support[c] = truth_c;
        double p = ratio(tp, pred_c), r = ratio(tp, truth_c);
        out->precision[c] = p;
        out->recall[c] = r;
        out->f1[c] = p + r > 0 ? 2 * p * r / (p + r) : 0;
        if (truth_c || pred_c) {
            out->macro_precision += p;
            out->macro_recall += r;
            counted++;
        }
    }
    if (counted) {
        out->macro_precision /= counted;
        out->macro_recall /= counted;
    }
    scores_of(out->confusion, n_labels, n, &out->accuracy, &out->macro_f1);
    if (n_bootstrap == 0) return SLM_OK;
    double *acc = slm_malloc((size_t)n_bootstrap * sizeof(double), "bootstrap");
    double *f1 = slm_malloc((size_t)n_bootstrap * sizeof(double), "bootstrap");
    int64_t *cm = slm_malloc(k * k * sizeof(int64_t), "bootstrap");
    if (!acc || !f1 || !cm) {
        free(acc), free(f1), free(cm);
        slm_metrics_free(out);
        return SLM_ERR_NOMEM;
    }
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    for (int b = 0; b < n_bootstrap; b++) {
        memset(cm, 0, k * k * sizeof(int64_t));
        for (size_t i = 0; i < n; i++) {
            size_t j = (size_t)(slm_rng_u64(&rng) % n);
            cm[(size_t)truth[j] * k + (size_t)pred[j]]++;
        }
        scores_of(cm, n_labels, n, &acc[b], &f1[b]);
    }
    percentile_95(acc, n_bootstrap, out->accuracy_ci);
    percentile_95(f1, n_bootstrap, out->macro_f1_ci);
    out->n_bootstrap = n_bootstrap;
    free(acc), free(f1), free(cm);
    return SLM_OK;
}

void slm_metrics_free(slm_metrics *m) {
    if (!m) return;
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- printing */

static int put_fmt(byte_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put_fmt(byte_buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (w < 0) return 0;
    return buf_put(b, tmp, (size_t)w < sizeof tmp ? (size_t)w : sizeof tmp - 1);
}

slm_status slm_metrics_format_text(const slm_metrics *m, const char *const *names, char **out) {
    if (!m || !names || !out || m->n_labels <= 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_metrics_format_text: bad arguments");
    const int k = m->n_labels;
    int width = 5; /* the label column: the longest name, at most 24 characters */
    for (int c = 0; c < k; c++) {
        int w = (int)strlen(names[c]);
        if (w > width) width = w < 24 ? w : 24;
    }
    byte_buf b = {0};
    int ok = put_fmt(&b, "examples      %zu\naccuracy      %.4f", m->n, m->accuracy);
    if (m->n_bootstrap) ok = ok && put_fmt(&b, "  (95%% CI %.4f-%.4f)", m->accuracy_ci[0], m->accuracy_ci[1]);
    ok = ok && put_fmt(&b, "\nmacro-F1      %.4f", m->macro_f1);
    if (m->n_bootstrap) ok = ok && put_fmt(&b, "  (95%% CI %.4f-%.4f)", m->macro_f1_ci[0], m->macro_f1_ci[1]);
    ok = ok && put_fmt(&b, "\nmacro-P/R     %.4f / %.4f\n\n", m->macro_precision, m->macro_recall);
    ok = ok && put_fmt(&b, "%-*s  precision  recall      f1  support\n", width, "label");
    for (int c = 0; ok && c < k; c++)
        ok = put_fmt(&b, "%-*.*s  %9.4f  %6.4f  %6.4f  %7lld\n", width, width, names[c], m->precision[c], m->recall[c],
                     m->f1[c], (long long)m->support[c]);
    ok = ok && put_fmt(&b, "\nconfusion (rows: true label, columns: predicted)\n%-*s", width, "");
    int cell = 7;
    for (int c = 0; c < k; c++) {
        int w = (int)strlen(names[c]);
        if (w + 1 > cell) cell = w + 1 < 12 ? w + 1 : 12;
    }
    for (int c = 0; ok && c < k; c++) ok = put_fmt(&b, " %*.*s", cell, cell, names[c]);
    ok = ok && put_fmt(&b, "\n");
    for (int r = 0; ok && r < k; r++) {
        ok = put_fmt(&b, "%-*.*s", width, width, names[r]);
        for (int c = 0; ok && c < k; c++) ok = put_fmt(&b, " %*lld", cell, (long long)m->confusion[(size_t)r * k + c]);
        ok = ok && put_fmt(&b, "\n");
    }
    if (!ok) {
        free(b.s);
        return slm_error(SLM_ERR_NOMEM, "out of memory formatting metrics");
    }
    *out = b.s;
    return SLM_OK;
}

static cJSON *ci_json(const double ci[2]) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(ci[0]));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(ci[1]));
    return a;
}

slm_status slm_metrics_format_json(const slm_metrics *m, const char *const *names, char **out) {
    if (!m || !names || !out || m->n_labels <= 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_metrics_format_json: bad arguments");
    const int k = m->n_labels;
    cJSON *root = cJSON_CreateObject();
    cJSON *labels = cJSON_AddArrayToObject(root, "labels");
    for (int c = 0; c < k; c++) cJSON_AddItemToArray(labels, cJSON_CreateString(names[c]));
    cJSON_AddNumberToObject(root, "n", (double)m->n);
    cJSON_AddNumberToObject(root, "accuracy", m->accuracy);
    cJSON_AddNumberToObject(root, "macro_precision", m->macro_precision);
    cJSON_AddNumberToObject(root, "macro_recall", m->macro_recall);
    cJSON_AddNumberToObject(root, "macro_f1", m->macro_f1);
    cJSON *per = cJSON_AddObjectToObject(root, "per_class");
    for (int c = 0; c < k; c++) {
        cJSON *o = cJSON_AddObjectToObject(per, names[c]);
        cJSON_AddNumberToObject(o, "precision", m->precision[c]);
        cJSON_AddNumberToObject(o, "recall", m->recall[c]);
        cJSON_AddNumberToObject(o, "f1", m->f1[c]);
        cJSON_AddNumberToObject(o, "support", (double)m->support[c]);
    }
    cJSON *cm = cJSON_AddArrayToObject(root, "confusion");
    for (int r = 0; r < k; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < k; c++) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)m->confusion[(size_t)r * k + c]));
        cJSON_AddItemToArray(cm, row);
    }
    if (m->n_bootstrap) {
        cJSON *ci = cJSON_AddObjectToObject(root, "ci95");
        cJSON_AddNumberToObject(ci, "bootstrap", m->n_bootstrap);
        cJSON_AddItemToObject(ci, "accuracy", ci_json(m->accuracy_ci));
        cJSON_AddItemToObject(ci, "macro_f1", ci_json(m->macro_f1_ci));
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return slm_error(SLM_ERR_NOMEM, "out of memory formatting metrics");
    /* the caller frees with slm_free (free): copy out of cJSON's allocator to be safe */
    *out = slm_strndup(text, strlen(text));
    cJSON_free(text);
    return *out ? SLM_OK : slm_error(SLM_ERR_NOMEM, "out of memory");
}
