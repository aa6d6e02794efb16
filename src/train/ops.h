/* ops.h — the ops a Llama is trained with, each a forward/backward pair over plain f32 arrays
 * with explicit sizes: embedding, RMSNorm, matmul (OpenBLAS), RoPE, causal grouped-query
 * attention, SwiGLU, residual add and the fused softmax + cross-entropy; and for the BERT
 * encoder (bert_train.c): embeddings with positions and token types, bias add, LayerNorm,
 * bidirectional attention over padded batches, GELU, mean and CLS pooling, and the
 * class-weighted softmax cross-entropy of a classification head.
 *
 * Legend: B = batch, T = sequence length, N = B*T rows, C = channels (n_embd), V = vocabulary,
 * IC/OC = input/output channels of a matmul, NH = query heads, KVH = key/value heads,
 * hd = head size, F = feed-forward channels. Arrays are row-major, last index fastest, so a
 * (B, T, C) array holds row n = b*T + t at n*C.
 * Backward functions add (+=) into the gradients they are given (the caller zeroes them),
 * except crossentropy_backward, which writes dlogits over the probabilities in place. */
#ifndef SLM_TRAIN_OPS_H
#define SLM_TRAIN_OPS_H
#include <stdint.h>

/* out (N, C) = wte[tokens[n]] with wte (V, C); tokens are checked by the caller. */
void embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C);
/* dwte[tokens[n]] += dout[n]. */
void embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C);

/* out (N, C) = inp * rstd * weight (C), rstd (N) = 1 / sqrt(mean(inp^2) + eps), saved. */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
/* dinp (N, C) and dweight (C) from dout (N, C), the input and the saved rstd. */
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                      const float *rstd, int N, int C);

/* out (N, OC) = inp (N, IC) . weight (OC, IC)^T, by cblas_sgemm. */
void matmul_forward(float *out, const float *inp, const float *weight, int N, int IC, int OC);
/* dinp (N, IC) += dout . weight; dweight (OC, IC) += dout^T . inp. dinp may be NULL (not
 * needed, e.g. below the first layer). */
void matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, int N,
                     int IC, int OC);

/* The RoPE tables cos_t, sin_t (T, hd/2): angle t * base^(-2i/hd), computed in f32 as
 * inference does. */
void rope_tables(float *cos_t, float *sin_t, int T, int hd, float base);
/* Rotates in place the adjacent pairs (x[2i], x[2i+1]) of each of n_heads heads of x
 * (B, T, n_heads * hd) by the angles of position t. */
void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd);
/* The backward of rope_forward: rotates the gradient dx back, in place. */
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd);

/* Causal attention with grouped heads: query head h (of NH) reads key/value head
 * h / (NH / KVH). q (B, T, NH*hd), k and v (B, T, KVH*hd); att (B, NH, T, T) receives the
 * softmax weights (zero above the diagonal), out (B, T, NH*hd) their sums of values.
 * Scores are q.k / sqrt(hd). */
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                       int NH, int KVH, int hd);
/* dq, dk, dv += from dout (B, T, NH*hd) and the saved att; scratch holds B*KVH*T*T floats. */
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                        const float *k, const float *v, const float *att, int B, int T, int NH, int KVH, int hd);

/* Causal attention with grouped heads and a sliding window: query t attends to keys s with
 * t - window < s <= t (window 0: all s <= t), scores q.k * scale. q (B, T, NH*hd), k and v
 * (B, T, KVH*hd); att (B, NH, T, T) receives the softmax weights (zero outside the window),
 * out (B, T, NH*hd) the weighted sums of values. */
void window_attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                              int NH, int KVH, int hd, int window, float scale);
/* dq, dk, dv += from dout and the saved att; scratch holds B*KVH*T*T floats. */
void window_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                               const float *k, const float *v, const float *att, int B, int T, int NH, int KVH,
                               int hd, int window, float scale);

/* out[i] = silu(gate[i]) * up[i] over n elements. */
void swiglu_forward(float *out, const float *gate, const float *up, int64_t n);
/* dgate, dup from dout. */
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n);

/* out = a + b over n elements (out may alias a or b). */
void residual_forward(float *out, const float *a, const float *b, int64_t n);
/* da += dout; db += dout (da or db may be NULL). */
void residual_backward(float *da, float *db, const float *dout, int64_t n);

/* Softmax of logits (N, V) into probs (which may alias logits) and losses (N) =
 * -log probs[n][targets[n]]; returns the mean loss. Targets are checked by the caller. */
float crossentropy_forward(float *losses, float *probs, const float *logits, const int32_t *targets, int N, int V);
/* dlogits (N, V) = (probs - onehot(targets)) * dloss, the gradient of dloss * sum(losses);
 * dlogits may alias probs. Overwrites, unlike the other backward functions. */
void crossentropy_backward(float *dlogits, const float *probs, const int32_t *targets, float dloss, int N, int V);

/* ---------------------------------------------------------------- BERT encoder ops */
/* Legend here: lens (B) are the valid tokens of each sequence (1 <= lens[b] <= T); rows at
 * t >= lens[b] are padding. K = classes. */

/* out (B, T, C) = wte[tokens] + wpe[t] + wtt[types] (types NULL: all type 0). */
void bert_embedding_forward(float *out, const int32_t *tokens, const int32_t *types, const float *wte,
                            const float *wpe, const float *wtt, int B, int T, int C);
/* dwte, dwpe, dwtt += the rows of dout they produced (dwte or dwtt may be NULL: not trained). */
void bert_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout, const int32_t *tokens,
                             const int32_t *types, int B, int T, int C);

/* out (N, OC) += bias (OC) on every row. */
void bias_forward(float *out, const float *bias, int N, int OC);
/* dbias (OC) += the column sums of dout (N, OC). */
void bias_backward(float *dbias, const float *dout, int N, int OC);

/* out (N, C) = (inp - mean) * rstd * weight + bias; mean, rstd (N) saved with
 * rstd = 1 / sqrt(var + eps) (biased variance). out must not alias inp. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C, float eps);
/* dinp (N, C), dweight, dbias (C) += from dout, the input and the saved mean and rstd. */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C);

/* Bidirectional multi-head attention of padded sequences: q, k, v, out (B, T, NH*hd); query
 * t < lens[b] attends to keys s < lens[b] with softmax(q.k / sqrt(hd)), saved in att
 * (B, NH, T, T) (zero beyond lens[b]); padding rows of out are zero. */
void bidir_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                             const int *lens, int B, int T, int NH, int hd);
/* dq, dk, dv += from dout (B, T, NH*hd) and the saved att; scratch holds B*NH*T floats. */
void bidir_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                              const float *k, const float *v, const float *att, const int *lens, int B, int T,
                              int NH, int hd);

/* out[i] = gelu(inp[i]) = inp x Phi(inp) with the exact (erf) Gaussian CDF, over n elements. */
void gelu_forward(float *out, const float *inp, int64_t n);
/* dinp += dout * gelu'(inp). */
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n);

/* out[i] = inp[i] * mask[i] over n elements (mask: 0 or 1 / (1 - p); out may alias inp). */
void dropout_forward(float *out, const float *inp, const float *mask, int64_t n);
/* dinp[i] = dout[i] * mask[i]: overwrites (dinp may alias dout). */
void dropout_backward(float *dinp, const float *dout, const float *mask, int64_t n);

/* out (B, C) = the mean of the rows t < lens[b] of x (B, T, C). */
void mean_pool_forward(float *out, const float *x, const int *lens, int B, int T, int C);
/* dx rows t < lens[b] += dout[b] / lens[b]. */
void mean_pool_backward(float *dx, const float *dout, const int *lens, int B, int T, int C);
/* out (B, C) = row 0 of each sequence (the [CLS] token). */
void cls_pool_forward(float *out, const float *x, int B, int T, int C);
/* dx row 0 of each sequence += dout[b]. */
void cls_pool_backward(float *dx, const float *dout, int B, int T, int C);

/* Softmax of logits (B, K) into probs (may alias) and the class-weighted mean cross-entropy
 * sum_b w[y_b] (-log p_b[y_b]) / sum_b w[y_b], as torch's cross_entropy(weight=w); w NULL:
 * all ones. A negative label leaves its row out of the loss (torch's ignore_index); no labelled
 * row: 0. Returns the loss; labels are checked by the caller. */
float weighted_crossentropy_forward(float *probs, const float *logits, const int32_t *labels, const float *w,
                                    int B, int K);
/* dlogits (B, K) = dloss * w[y_b] (p_b - onehot(y_b)) / sum_b w[y_b] (rows with a negative
 * label: 0); may alias probs. Overwrites. */
void weighted_crossentropy_backward(float *dlogits, const float *probs, const int32_t *labels, const float *w,
                                    float dloss, int B, int K);

#endif
