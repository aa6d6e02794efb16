/* qwen2.c — the Qwen2 architecture: Llama's forward pass (see llama.c) with biases on the
 * q, k and v projections and RoPE rotating the two halves of each head (x[i], x[i+d/2]). */
#include "models/model.h"

slm_status qwen2_bind_gguf(slm_model *m, const char *arch) {
    slm_status st = bind_hparams(m, arch);
    if (st != SLM_OK) return st;
    m->hp.rope = ROPE_HALVES;
    m->forward = llama_forward;
    return bind_standard_tensors(m, 1, 0, 0);
}
