/* classifier.c — the public slm_classifier: picks a backend for a file (a fine-tuned classifier
 * GGUF, or a generative model used zero-shot) and forwards predictions to it. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/detect.h"
#include "formats/gguf.h"
#include "task/classifier_backend.h"

/* Whether path is a GGUF holding "slm.classifier.labels" (a file slm finetune wrote): 1, or 2
 * when it holds LoRA adapters referring to a decoder base (adapter.type "lora"); else 0. */
static slm_status is_finetuned(const char *path, int *yes) {
    *yes = 0;
    file_kind kind;
    size_t size;
    slm_status st = formats_detect(path, &kind, &size);
    if (st != SLM_OK || kind != FILE_KIND_GGUF) return st;
    gguf_file g;
    if ((st = gguf_open(path, &g)) != SLM_OK) return st;
    *yes = gguf_find(&g, "slm.classifier.labels") != NULL;
    if (*yes && gguf_find(&g, "adapter.type")) *yes = 2;
    gguf_close(&g);
    return SLM_OK;
}

slm_status slm_classifier_open(const char *path, const slm_classifier_params *params, slm_classifier **out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_classifier_open: NULL argument");
    *out = NULL;
    slm_classifier_params p = {0};
    if (params) p = *params;
    if (p.labels && p.n_labels <= 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_classifier_open: labels given but n_labels <= 0");
    int finetuned;
    slm_status st = is_finetuned(path, &finetuned);
    if (st != SLM_OK) return st;
    if (!finetuned && !p.labels)
        return slm_error(SLM_ERR_INVALID_ARG,
                         "%s is not a fine-tuned classifier (it has no slm.classifier.labels): give the candidate labels "
                         "(--labels a,b,...) to use it zero-shot", path);
    slm_classifier *clf = slm_calloc(1, sizeof *clf, "classifier");
    if (!clf) return SLM_ERR_NOMEM;
    st = finetuned == 2 ? classifier_open_lora(path, &p, clf)
         : finetuned    ? classifier_open_finetuned(path, &p, clf)
                        : classifier_open_zeroshot(path, &p, clf);
    if (st != SLM_OK) {
        slm_classifier_free(clf);
        return st;
    }
    if (!clf->backend || clf->n_labels <= 0 || !clf->labels) {
        slm_classifier_free(clf);
        return slm_error(SLM_ERR_FORMAT, "%s: the classifier has no labels", path);
    }
    *out = clf;
    return SLM_OK;
}

void slm_classifier_free(slm_classifier *clf) {
    if (!clf) return;
    if (clf->backend && clf->state) clf->backend->free(clf->state);
    for (int i = 0; clf->labels && i < clf->n_labels; i++) free(clf->labels[i]);
    free(clf->labels);
    free(clf);
}

int slm_classifier_n_labels(const slm_classifier *clf) { return clf ? clf->n_labels : 0; }

const char *slm_classifier_label(const slm_classifier *clf, int i) {
    return clf && i >= 0 && i < clf->n_labels ? clf->labels[i] : NULL;
}

slm_status slm_classifier_predict(slm_classifier *clf, const char *const *texts, size_t n, float *probs) {
    if (!clf || (n && (!texts || !probs))) return slm_error(SLM_ERR_INVALID_ARG, "slm_classifier_predict: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return slm_error(SLM_ERR_INVALID_ARG, "slm_classifier_predict: text %zu is NULL", i);
    if (n == 0) return SLM_OK;
    return clf->backend->predict(clf->state, texts, n, probs);
}

slm_status classifier_read_labels(const char *path, const gguf_file *f, slm_classifier *clf) {
    const gguf_value *v = gguf_find(f, "slm.classifier.labels");
    if (!v || v->type != GGUF_TYPE_ARRAY || v->arr.elem_type != GGUF_TYPE_STRING || v->arr.n < 2 || v->arr.n > 100000)
        return slm_error(SLM_ERR_FORMAT, "%s: slm.classifier.labels must be an array of at least two strings", path);
    clf->labels = calloc((size_t)v->arr.n, sizeof(char *));
    if (!clf->labels) return slm_error(SLM_ERR_NOMEM, "classifier: out of memory");
    clf->n_labels = (int)v->arr.n;
    for (uint64_t i = 0; i < v->arr.n; i++)
        if (!(clf->labels[i] = slm_strndup(v->arr.strs[i].ptr, (size_t)v->arr.strs[i].len))) return SLM_ERR_NOMEM;
    return SLM_OK;
}
