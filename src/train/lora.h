/* lora.h — a linear layer with a frozen weight and an optional low-rank adapter (LoRA):
 *   out (N, OC) = inp (N, IC) · W^T + bias + scale · (inp · A^T) · B^T
 * with A (r, IC), B (OC, r) and scale = alpha / r; forward, backward (the gradients of A and
 * B and of the input; W and the bias stay frozen) and the initialisation (lora.c). */
#ifndef SLM_TRAIN_LORA_H
#define SLM_TRAIN_LORA_H
#include <stdint.h>

typedef struct {
    const float *w;    /* (OC, IC) frozen */
    const float *bias; /* (OC) frozen, or NULL */
    float *a, *b;      /* (r, IC) and (OC, r): the adapter, or NULL for none */
    float *da, *db;    /* their gradients (NULL when only running forward) */
    int IC, OC, r;
    float scale;       /* alpha / r */
} lora_linear;

/* out (N, OC) = the layer applied to inp (N, IC); xa (N, r) receives inp · A^T (kept for the
 * backward; unused without an adapter). */
void lora_forward(const lora_linear *l, float *out, float *xa, const float *inp, int N);
/* From dout (N, OC): dinp (N, IC) += dout · (W + scale B A) (dinp NULL: not needed),
 * da += scale (dout · B)^T · inp, db += scale dout^T · xa. scratch holds N * r floats. */
void lora_backward(const lora_linear *l, float *dinp, float *scratch, const float *dout, const float *inp,
                   const float *xa, int N);
/* A uniform in (-1/sqrt(IC), 1/sqrt(IC)) from seed (as PEFT's Kaiming init), B zero: the
 * adapted layer starts equal to the frozen one. */
void lora_init(float *a, float *b, int r, int IC, int OC, uint64_t seed);

#endif
