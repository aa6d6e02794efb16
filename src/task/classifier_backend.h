/* classifier_backend.h — what a classifier backend gives slm_classifier (classifier.c): a
 * fine-tuned classifier GGUF (classifier_finetuned.c), a LoRA classifier over a decoder
 * (classifier_lora.c) or a zero-shot generative model
 * (zeroshot.c). Internal to libslm. */
#ifndef SLM_TASK_CLASSIFIER_BACKEND_H
#define SLM_TASK_CLASSIFIER_BACKEND_H
#include "formats/gguf.h"
#include "slm.h"

/* One backend's functions; state is the backend's own object. */
typedef struct {
    slm_status (*predict)(void *state, const char *const *texts, size_t n, float *probs);
    void (*free)(void *state);
} classifier_backend;

struct slm_classifier {
    const classifier_backend *backend;
    void *state;
    char **labels; /* n_labels names, owned by the classifier */
    int n_labels;
};

/* Opens a fine-tuned classifier GGUF into clf (backend, state, labels). */
slm_status classifier_open_finetuned(const char *path, const slm_classifier_params *params, slm_classifier *clf);
/* Opens a LoRA classifier GGUF (adapters and head over a decoder base it refers to) into clf. */
slm_status classifier_open_lora(const char *path, const slm_classifier_params *params, slm_classifier *clf);
/* Opens a generative model as a zero-shot classifier over params->labels into clf. */
slm_status classifier_open_zeroshot(const char *path, const slm_classifier_params *params, slm_classifier *clf);

/* Reads slm.classifier.labels (an array of at least two strings) of f into clf->labels and
 * clf->n_labels (freed with the classifier). */
slm_status classifier_read_labels(const char *path, const gguf_file *f, slm_classifier *clf);

#endif
