/* classifier_finetuned.c — opens a classifier GGUF written by `slm finetune --task classify`.
 * Placeholder until the fine-tuning branch lands (it replaces this file). */
#include "base/error.h"
#include "task/classifier_backend.h"

slm_status classifier_open_finetuned(const char *path, const slm_classifier_params *params, slm_classifier *clf) {
    (void)params;
    (void)clf;
    return slm_error(SLM_ERR_UNSUPPORTED, "%s: fine-tuned classifiers are not supported by this build yet", path);
}
