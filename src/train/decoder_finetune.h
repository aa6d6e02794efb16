/* decoder_finetune.h — slm_finetune_classify for decoder bases (decoder_finetune.c): texts
 * tokenised as the base reads them, LoRA adapters and a head trained by finetune.c's loop, and
 * the adapter GGUF that refers to its base; shared with the classifier that reads it back. */
#ifndef SLM_TRAIN_DECODER_FINETUNE_H
#define SLM_TRAIN_DECODER_FINETUNE_H
#include <stdint.h>

#include "slm.h"

/* Whether general.architecture names a decoder the LoRA engine trains (llama, qwen2, gemma3). */
int decoder_architecture(const char *arch);
/* Tokenises one text for a decoder: BOS (when the vocabulary asks for it) and the text's
 * tokens, cut to max_len (the start kept). row gets *len ids; *cut is set when the text was
 * longer. A text that gives no token is an error. */
slm_status decoder_encode_text(const slm_tokenizer *tok, const char *text, int max_len, int32_t *row, int *len,
                               int *cut);
/* slm_finetune_classify's work for a decoder base (params complete, checked). */
slm_status decoder_finetune_classify(const char *base_path, const slm_dataset *train, const slm_dataset *dev,
                                     const slm_finetune_params *p, const char *out_path,
                                     slm_finetune_progress_fn progress, void *user, slm_finetune_result *result);

#endif
