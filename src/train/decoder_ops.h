/* decoder_ops.h — the training ops a decoder needs beyond ops.h (decoder_ops.c): RoPE on
 * either pair layout with any table, the gated feed-forward with GELU (tanh) or SiLU, and
 * pooling of each sequence's last real token. Legend and conventions as in ops.h, which also
 * has the sliding-window attention (backward functions add into their gradients unless they
 * say otherwise). */
#ifndef SLM_TRAIN_DECODER_OPS_H
#define SLM_TRAIN_DECODER_OPS_H
#include <stdint.h>

/* Rotates in place each of n_heads heads of every row of x (B, T, n_heads*hd) by the angles
 * of its position t: pairs (i, i + hd/2) when halves, else (2i, 2i+1); cos_t, sin_t (T, hd/2).
 * inverse rotates back (the backward of the rotation: apply it to the gradient). */
void decoder_rope(float *x, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd, int halves,
                  int inverse);

/* out[i] = act(gate[i]) * up[i] over n elements, act = gelu_tanh when gelu, else silu. */
void gated_act_forward(float *out, const float *gate, const float *up, int64_t n, int gelu);
/* dgate, dup += from dout. */
void gated_act_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n,
                        int gelu);

/* out (B, C) = row lens[b] - 1 of each sequence of x (B, T, C). */
void last_token_pool_forward(float *out, const float *x, const int *lens, int B, int T, int C);
/* dx row lens[b] - 1 += dout[b]. */
void last_token_pool_backward(float *dx, const float *dout, const int *lens, int B, int T, int C);

#endif
