/* average.c — the weight average of models fine-tuned from one base (a "model soup",
 * Wortsman et al. 2022): several runs of the same recipe with different seeds land in one
 * basin of the loss around their shared starting point, and the mean of their weights is
 * usually better than each of them at the cost of a single model at inference.
 *
 * The inputs must hold the same tensors (names, types, shapes) and the same labels; f32 tensors
 * are averaged in double precision, tensors of any other type must be identical in every input
 * (a frozen quantised base, say). The first input's metadata is kept. LoRA adapter files are
 * refused: the mean of products B·A is not the product of means. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tensor/types.h"
#include "slm.h"

#define AVERAGE_MAX_MODELS 64

/* The rendering of a metadata value (caller frees), or NULL when the key is absent. */
static char *value_text(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_find(f, key);
    return v ? gguf_value_to_text(v, 0) : NULL;
}

/* Checks that model b can be averaged with model a (same tensors, same classifier keys). */
static slm_status check_compatible(const gguf_file *a, const gguf_file *b) {
    if (a->n_tensors != b->n_tensors)
        return slm_error(SLM_ERR_FORMAT, "average: %s has %llu tensors, %s has %llu", b->file.path,
                         (unsigned long long)b->n_tensors, a->file.path, (unsigned long long)a->n_tensors);
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const gguf_tensor *ta = &a->tensors[i], *tb = gguf_find_tensor(b, ta->name);
        if (!tb) return slm_error(SLM_ERR_FORMAT, "average: %s has no tensor %s", b->file.path, ta->name);
        if (tb->type != ta->type || tb->n_dims != ta->n_dims || memcmp(tb->ne, ta->ne, sizeof ta->ne) != 0)
            return slm_error(SLM_ERR_FORMAT, "average: tensor %s differs in type or shape between %s and %s", ta->name,
                             a->file.path, b->file.path);
        if (ta->type != SLM_TYPE_F32 && memcmp(ta->data, tb->data, ta->n_bytes) != 0)
            return slm_error(SLM_ERR_FORMAT, "average: tensor %s is %s and differs between %s and %s (only f32 tensors "
                             "are averaged)", ta->name, slm_type_info((slm_type)ta->type)->name, a->file.path, b->file.path);
    }
    static const char *const same_keys[] = {"general.architecture", "slm.classifier.labels", "slm.classifier.pooling"};
    for (size_t k = 0; k < sizeof same_keys / sizeof same_keys[0]; k++) {
        char *va = value_text(a, same_keys[k]), *vb = value_text(b, same_keys[k]);
        int same = (!va && !vb) || (va && vb && strcmp(va, vb) == 0);
        free(va);
        free(vb);
        if (!same)
            return slm_error(SLM_ERR_FORMAT, "average: %s differs between %s and %s", same_keys[k], a->file.path,
                             b->file.path);
    }
    return SLM_OK;
}

/* Writes the file beside path and renames it over path, so that an input given as the output
 * (still mapped) is replaced only once the new file is complete. */
static slm_status write_replacing(gguf_writer *w, const char *path) {
    size_t cap = strlen(path) + 32;
    char *tmp = slm_malloc(cap, "temporary path");
    if (!tmp) return SLM_ERR_NOMEM;
    snprintf(tmp, cap, "%s.tmp%ld", path, (long)getpid());
    slm_status st = gguf_writer_write(w, tmp);
    if (st == SLM_OK && rename(tmp, path) != 0)
        st = slm_error(SLM_ERR_IO, "%s: cannot rename the output into place: %s", path, strerror(errno));
    if (st != SLM_OK) remove(tmp);
    free(tmp);
    return st;
}

/* True when the file is a LoRA adapter (it has slm.lora.* or adapter.* keys). */
static int is_adapter(const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (strncmp(f->kv[i].key, "slm.lora.", 9) == 0 || strncmp(f->kv[i].key, "adapter.", 8) == 0) return 1;
    return 0;
}

slm_status slm_average_models(const char *const *paths, size_t n, const char *out_path) {
    if (!paths || !out_path || n < 2) return slm_error(SLM_ERR_INVALID_ARG, "average: give at least two models");
    if (n > AVERAGE_MAX_MODELS) return slm_error(SLM_ERR_INVALID_ARG, "average: at most %d models", AVERAGE_MAX_MODELS);
    gguf_file *in = slm_calloc(n, sizeof *in, "average inputs");
    if (!in) return SLM_ERR_NOMEM;
    slm_status st = SLM_OK;
    for (size_t m = 0; m < n && st == SLM_OK; m++) {
        st = gguf_open(paths[m], &in[m]);
        if (st == SLM_OK && is_adapter(&in[m]))
            st = slm_error(SLM_ERR_INVALID_ARG, "average: %s is a LoRA adapter; adapters cannot be averaged (the mean "
                           "of products B*A is not the product of means)", paths[m]);
        else if (st == SLM_OK && m > 0)
            st = check_compatible(&in[0], &in[m]);
    }
    gguf_writer *w = st == SLM_OK ? gguf_writer_new() : NULL;
    float **averaged = st == SLM_OK ? slm_calloc((size_t)in[0].n_tensors + 1, sizeof(float *), "averaged tensors") : NULL;
    if (st == SLM_OK && (!w || !averaged)) st = SLM_ERR_NOMEM;
    for (uint64_t k = 0; st == SLM_OK && k < in[0].n_kv; k++)
        if (strcmp(in[0].kv[k].key, "slm.average.n_models") != 0) st = gguf_writer_set(w, in[0].kv[k].key, &in[0].kv[k].value);
    if (st == SLM_OK) st = gguf_writer_set_u32(w, "slm.average.n_models", (uint32_t)n);
    for (uint64_t t = 0; st == SLM_OK && t < in[0].n_tensors; t++) {
        const gguf_tensor *first = &in[0].tensors[t];
        const void *data = first->data;
        if (first->type == SLM_TYPE_F32) {
            size_t count = (size_t)(first->n_bytes / sizeof(float));
            averaged[t] = slm_malloc(first->n_bytes ? first->n_bytes : 1, first->name);
            if (!averaged[t]) {
                st = SLM_ERR_NOMEM;
                break;
            }
            const float **src = slm_malloc(n * sizeof *src, "average sources");
            if (!src) {
                st = SLM_ERR_NOMEM;
                break;
            }
            for (size_t m = 0; m < n; m++) src[m] = gguf_find_tensor(&in[m], first->name)->data;
            for (size_t e = 0; e < count; e++) {
                double sum = 0;
                for (size_t m = 0; m < n; m++) sum += src[m][e];
                averaged[t][e] = (float)(sum / (double)n);
            }
            free(src);
            data = averaged[t];
        }
        st = gguf_writer_add_tensor(w, first->name, first->type, first->n_dims, first->ne, data, first->n_bytes);
    }
    if (st == SLM_OK) st = write_replacing(w, out_path);
    if (averaged)
        for (uint64_t t = 0; t < in[0].n_tensors; t++) free(averaged[t]);
    free(averaged);
    gguf_writer_free(w);
    for (size_t m = 0; m < n; m++) gguf_close(&in[m]); /* unopened entries are zeroed */
    free(in);
    return st;
}
