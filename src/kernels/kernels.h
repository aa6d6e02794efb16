/* kernels.h — the numeric work of inference: dot products and matrix x vector products per
 * weight type (scalar reference + AVX2/FMA/F16C paths chosen at run time), and the small ops
 * of a transformer block (RMSNorm, RoPE, softmax, SiLU). */
#ifndef SLM_KERNELS_KERNELS_H
#define SLM_KERNELS_KERNELS_H
#include <stdbool.h>
#include <stddef.h>

#include "tensor/tensor.h"

/* True if the weight type has a matvec kernel. */
bool kernels_type_supported(slm_type type);
/* Selects the scalar reference kernels (true) or the best SIMD kernels the CPU has (false).
 * SIMD is the default unless the environment sets SLM_NO_SIMD=1. */
void kernels_force_scalar(bool scalar);
/* True when the AVX2 kernels are selected (the tiled matmul may be used). */
bool kernels_simd_tiles(void);
/* True when the AVX-512 VNNI kernels of the q4_0 / q5_0 / q8_0 weights are used: the CPU has
 * them, the AVX2 kernels are selected and neither SLM_NO_AVX512=1 nor kernels_allow_avx512
 * turned them off. */
bool kernels_avx512_vnni(void);
/* True when the AVX-512 F/BW/VL/DQ kernels (the f32 / f16 / bf16 matmul tiles) are used: the
 * CPU and OS have them, the AVX2 kernels are selected and they are allowed (as above). */
bool kernels_avx512(void);
/* True when kernels_avx512 holds, the CPU has AVX512_BF16 (the bf16 x bf16 tiles) and
 * kernels_allow_avx512_bf16 did not forbid them. */
bool kernels_avx512_bf16(void);
/* Allows (the default) or forbids the AVX512_BF16 tiles, for comparisons and tests. */
void kernels_allow_avx512_bf16(bool allow);
/* Allows (the default, unless SLM_NO_AVX512=1) or forbids every AVX-512 kernel. */
void kernels_allow_avx512(bool allow);
/* Name of the kernel set in use: "avx2+avx512vnni", "avx2+avx512", "avx2" or "scalar". */
const char *kernels_simd_name(void);

/* dot(a, b) of n floats, scalar reference. */
float dot_f32_scalar(const float *a, const float *b, size_t n);
/* dot(row of f16, x) of n elements, scalar reference. */
float dot_f16_scalar(const uint16_t *a, const float *b, size_t n);
/* dot(row of bf16, x) of n elements, scalar reference. */
float dot_bf16_scalar(const uint16_t *a, const float *b, size_t n);
/* The same with the selected (possibly SIMD) kernels. */
float dot_f32(const float *a, const float *b, size_t n);
float dot_f16(const uint16_t *a, const float *b, size_t n);
float dot_bf16(const uint16_t *a, const float *b, size_t n);
/* Row r of W (f32, f16 or bf16) dotted with x, with the selected kernels. */
float dot_row(const slm_tensor *w, int64_t r, const float *x);
/* Converts row r of a tensor to ne[0] floats (any supported type). */
void tensor_row_to_f32(const slm_tensor *t, int64_t r, float *out);

/* One product of a weight matrix W (rows, cols) with n_tok input vectors: the output for
 * input b is the `rows` floats at out + b * ld_out, or at out_rows[b] when out_rows is set
 * (outputs scattered over several buffers, such as the logits of several sessions). */
typedef struct {
    float *out;
    int ld_out;
    const slm_tensor *w;
    float *const *out_rows; /* NULL, or (n_tok) output pointers used instead of out/ld_out */
} matmul_job;

/* Bytes of scratch that matmul_multi needs for up to n_tok inputs of at most cols floats (the
 * inputs quantised to q8_0 and q8_K for quantised weights, rounded to bf16 for bf16 weights). */
size_t matmul_scratch_bytes(int n_tok, int64_t cols);
/* Runs n_jobs products that share the inputs x (n_tok vectors of cols floats, ld_x apart) on
 * the thread pool: rows are split across threads, and each weight row is read once for all
 * n_tok inputs. For quantised and bf16 weights the inputs are first quantised into scratch
 * (matmul_scratch_bytes(n_tok, cols) bytes, or NULL when every weight is f32/f16).
 * Small products run on the caller alone. */
void matmul_multi(const matmul_job *jobs, int n_jobs, const float *x, int n_tok, int ld_x, void *scratch);
/* out = W x for one vector x, on the thread pool (scratch as for matmul_multi). */
void matvec(float *out, const slm_tensor *w, const float *x, void *scratch);

/* One attention head: scores[t] = (q . k_t) * scale for the n positions t whose keys and
 * values are rows k + t*stride and v + t*stride (hd floats each), softmax, then
 * out = sum_t scores[t] v_t. scores holds n floats of scratch. */
void attention_head(float *out, const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                    float scale, float *scores);
/* attention_head for G query heads that share the keys and values (grouped-query attention):
 * head g's query at q + g * q_stride, its output at out + g * out_stride, its n scores at
 * scores + g * scores_stride; each key and value row is read once for all G. The same floats
 * as attention_head for each head. */
void attention_group(float *out, size_t out_stride, const float *q, size_t q_stride, int G, const float *k,
                     const float *v, size_t stride, int n, int hd, float scale, float *scores, size_t scores_stride);
/* The scalar reference of attention_head. */
void attention_head_scalar(float *out, const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                           float scale, float *scores);

/* out = x / sqrt(mean(x^2) + eps) * weight, n elements (out may alias x). */
void rmsnorm(float *out, const float *x, const float *weight, int n, float eps);
/* In-place softmax of n values. */
void softmax(float *x, int n);
/* Rotates pairs (x[2i], x[2i+1]) of each of n_heads heads of head_dim by angle pos*freq[i],
 * given cos/sin tables of head_dim/2 entries for this position. */
void rope_pairs(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t);
/* Rotates pairs (x[i], x[i + head_dim/2]) of each head by the same angles ("NeoX" RoPE). */
void rope_halves(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t);
/* a[i] = silu(a[i]) * b[i]. */
void swiglu(float *a, const float *b, int n);
/* GELU with the tanh approximation, in f32. */
float gelu_tanh(float x);
/* a[i] = gelu(a[i]) * b[i], with GELU's tanh approximation evaluated at a[i] rounded to f16
 * and rounded to f16 (a table of all halves), as llama.cpp does; a[i] >= 10 passes through. */
void geglu_tanh(float *a, const float *b, int n);

#endif
