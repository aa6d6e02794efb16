/* ops.c — forward and backward of the training ops (see ops.h for the legend of shapes).
 * GEMMs go to OpenBLAS; the element-wise, normalisation, attention and loss work is split
 * over the process's thread pool by rows (or columns where rows would race). */
#include "train/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"

/* ---------------------------------------------------------------- splitting work over the pool */

/* Work (roughly, multiply-adds) below which an op runs on the calling thread alone. */
#define PARALLEL_MIN_WORK (1 << 15)

/* Calls fn over [0, n) split over the pool (see slm_pool_for). */
static void parallel_for(slm_range_fn fn, void *ctx, int n, double work) { slm_pool_for(fn, ctx, n, work, PARALLEL_MIN_WORK); }

/* ---------------------------------------------------------------- embedding */

typedef struct {
    float *out, *dwte;
    const float *wte, *dout;
    const int32_t *tokens;
    int N, C;
} embedding_ctx;

static void embedding_forward_rows(void *arg, int n0, int n1) {
    const embedding_ctx *c = arg;
    for (int n = n0; n < n1; n++)
        memcpy(c->out + (size_t)n * c->C, c->wte + (size_t)c->tokens[n] * c->C, sizeof(float) * (size_t)c->C);
}

void embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
    embedding_ctx c = {.out = out, .wte = wte, .tokens = tokens, .N = N, .C = C};
    parallel_for(embedding_forward_rows, &c, N, (double)N * C);
}

/* Columns [c0, c1) of every row: threads never add into the same element, even when a
 * token repeats. */
static void embedding_backward_cols(void *arg, int c0, int c1) {
    const embedding_ctx *c = arg;
    for (int n = 0; n < c->N; n++) {
        float *dst = c->dwte + (size_t)c->tokens[n] * c->C;
        const float *src = c->dout + (size_t)n * c->C;
        for (int i = c0; i < c1; i++) dst[i] += src[i];
    }
}

void embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C) {
    embedding_ctx c = {.dwte = dwte, .dout = dout, .tokens = tokens, .N = N, .C = C};
    parallel_for(embedding_backward_cols, &c, C, (double)N * C);
}

/* ---------------------------------------------------------------- RMSNorm */

typedef struct {
    float *out, *rstd, *dinp, *dweight;
    const float *inp, *weight, *dout, *rstd_in;
    int N, C;
    float eps;
} rmsnorm_ctx;

static void rmsnorm_forward_rows(void *arg, int n0, int n1) {
    const rmsnorm_ctx *c = arg;
    const int C = c->C;
    for (int n = n0; n < n1; n++) {
        const float *x = c->inp + (size_t)n * C;
        float *y = c->out + (size_t)n * C;
        double ss = 0.0;
        for (int i = 0; i < C; i++) ss += (double)(x[i] * x[i]);
        const float r = 1.0f / sqrtf((float)(ss / C) + c->eps);
        for (int i = 0; i < C; i++) y[i] = c->weight[i] * (r * x[i]);
        c->rstd[n] = r;
    }
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps) {
    rmsnorm_ctx c = {.out = out, .rstd = rstd, .inp = inp, .weight = weight, .N = N, .C = C, .eps = eps};
    parallel_for(rmsnorm_forward_rows, &c, N, 3.0 * N * C);
}

/* y = w * x * r with r = (mean(x^2) + eps)^(-1/2), dr/dx_j = -r^3 x_j / C, so
 * dx_j = r * (w_j dy_j - x_j * r^2 / C * sum_i w_i dy_i x_i). */
static void rmsnorm_backward_rows(void *arg, int n0, int n1) {
    const rmsnorm_ctx *c = arg;
    const int C = c->C;
    for (int n = n0; n < n1; n++) {
        const float *x = c->inp + (size_t)n * C, *dy = c->dout + (size_t)n * C;
        float *dx = c->dinp + (size_t)n * C;
        const float r = c->rstd_in[n];
        double dot = 0.0;
        for (int i = 0; i < C; i++) dot += (double)(c->weight[i] * dy[i] * x[i]);
        const float k = (float)(dot * r * r / C);
        for (int i = 0; i < C; i++) dx[i] += r * (c->weight[i] * dy[i] - x[i] * k);
    }
}

/* dweight over columns [c0, c1), rows in order: each thread owns its columns. */
static void rmsnorm_backward_cols(void *arg, int c0, int c1) {
    const rmsnorm_ctx *c = arg;
    const int C = c->C;
    for (int n = 0; n < c->N; n++) {
        const float *x = c->inp + (size_t)n * C, *dy = c->dout + (size_t)n * C;
        const float r = c->rstd_in[n];
        for (int i = c0; i < c1; i++) c->dweight[i] += dy[i] * (x[i] * r);
    }
}

void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                      const float *rstd, int N, int C) {
    rmsnorm_ctx c = {.dinp = dinp, .dweight = dweight, .inp = inp, .weight = weight, .dout = dout,
                     .rstd_in = rstd, .N = N, .C = C};
    parallel_for(rmsnorm_backward_rows, &c, N, 4.0 * N * C);
    parallel_for(rmsnorm_backward_cols, &c, C, 2.0 * N * C);
}

/* ---------------------------------------------------------------- matmul */

/* OpenBLAS keeps its own threads: as many as the pool has, so that --threads means one thing. */
static void blas_match_pool(void) {
    const int n = slm_pool_threads();
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

void matmul_forward(float *out, const float *inp, const float *weight, int N, int IC, int OC) {
    blas_match_pool();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, weight, IC, 0.0f, out, OC);
}

void matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight, int N,
                     int IC, int OC) {
    blas_match_pool();
    if (dinp) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, weight, IC, 1.0f, dinp, IC);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dweight, IC);
}

/* ---------------------------------------------------------------- RoPE */

void rope_tables(float *cos_t, float *sin_t, int T, int hd, float base) {
    const int half = hd / 2;
    for (int i = 0; i < half; i++) {
        const float freq = 1.0f / powf(base, (float)(2 * i) / (float)hd);
        for (int t = 0; t < T; t++) {
            const float angle = (float)t * freq;
            cos_t[t * half + i] = cosf(angle);
            sin_t[t * half + i] = sinf(angle);
        }
    }
}

typedef struct {
    float *x;
    const float *cos_t, *sin_t;
    int T, n_heads, hd;
    float sign; /* +1 rotates forward, -1 back (the transpose of the rotation) */
} rope_ctx;

static void rope_rows(void *arg, int n0, int n1) {
    const rope_ctx *c = arg;
    const int half = c->hd / 2, width = c->n_heads * c->hd;
    for (int n = n0; n < n1; n++) {
        const int t = n % c->T;
        const float *ct = c->cos_t + (size_t)t * half, *st = c->sin_t + (size_t)t * half;
        float *row = c->x + (size_t)n * width;
        for (int h = 0; h < c->n_heads; h++) {
            float *v = row + h * c->hd;
            for (int i = 0; i < half; i++) {
                const float a = v[2 * i], b = v[2 * i + 1], s = c->sign * st[i];
                v[2 * i] = a * ct[i] - b * s;
                v[2 * i + 1] = a * s + b * ct[i];
            }
        }
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd) {
    rope_ctx c = {x, cos_t, sin_t, T, n_heads, hd, 1.0f};
    parallel_for(rope_rows, &c, B * T, 3.0 * B * T * n_heads * hd);
}

void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd) {
    rope_ctx c = {dx, cos_t, sin_t, T, n_heads, hd, -1.0f};
    parallel_for(rope_rows, &c, B * T, 3.0 * B * T * n_heads * hd);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    float *out, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *att_in;
    int B, T, NH, KVH, hd, window;
    float scale;
} attention_ctx;

/* Causal attention (in a sliding window when one is given) as matrix products: for each
 * (batch, head) the scores Q K^T * scale and
 * the weighted sums P V (and in the backward dP = dO V^T, dV += P^T dO, dQ += dS K,
 * dK += dS^T Q) go through cblas_sgemm on strided slices of q, k, v. The products fill the
 * whole T x T square and the mask zeroes its upper triangle: twice the causal FLOPs, at GEMM
 * speed. The pool's threads take whole heads and OpenBLAS runs single-threaded inside them
 * (OpenBLAS is thread-safe; blas_match_pool restores its thread count for the next matmul). */
static void blas_single(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

/* The first key query t sees: t - window + 1 with a sliding window, else 0. */
static int window_first(int t, int window) { return window > 0 && t - window + 1 > 0 ? t - window + 1 : 0; }

/* Row t of a score square: softmax over first <= s <= t, zero elsewhere. */
static void causal_softmax_row(float *row, int first, int t, int T) {
    float max = -INFINITY, sum = 0.0f;
    for (int s = first; s <= t; s++) max = row[s] > max ? row[s] : max;
    for (int s = first; s <= t; s++) sum += row[s] = expf(row[s] - max);
    const float inv = 1.0f / sum;
    for (int s = 0; s < first; s++) row[s] = 0.0f;
    for (int s = first; s <= t; s++) row[s] *= inv;
    for (int s = t + 1; s < T; s++) row[s] = 0.0f;
}

/* Units are (b, h) pairs: each writes only its own square of att and slice of out. */
static void attention_forward_units(void *arg, int u0, int u1) {
    const attention_ctx *c = arg;
    const int T = c->T, hd = c->hd, qdim = c->NH * hd, kvdim = c->KVH * hd, group = c->NH / c->KVH;
    for (int u = u0; u < u1; u++) {
        const int b = u / c->NH, h = u % c->NH;
        const size_t q_off = (size_t)b * T * qdim + (size_t)h * hd;
        const size_t kv_off = (size_t)b * T * kvdim + (size_t)(h / group) * hd;
        float *a = c->att + (size_t)u * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, c->scale, c->q + q_off, qdim, c->k + kv_off,
                    kvdim, 0.0f, a, T);
        for (int t = 0; t < T; t++) causal_softmax_row(a + (size_t)t * T, window_first(t, c->window), t, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, c->v + kv_off, kvdim, 0.0f,
                    c->out + q_off, qdim);
    }
}

void window_attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                              int NH, int KVH, int hd, int window, float scale) {
    attention_ctx c = {.out = out, .att = att, .q = q, .k = k, .v = v, .B = B, .T = T, .NH = NH, .KVH = KVH,
                       .hd = hd, .window = window, .scale = scale};
    blas_single();
    parallel_for(attention_forward_units, &c, B * NH, 4.0 * B * NH * T * T * hd);
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                       int NH, int KVH, int hd) {
    window_attention_forward(out, att, q, k, v, B, T, NH, KVH, hd, 0, 1.0f / sqrtf((float)hd));
}

/* Units are (b, kv head) pairs, so that the query heads sharing a key/value head add into its
 * dk and dv on one thread; each unit has its own T x T square of scratch for dP, then dS:
 * with p = softmax(s), ds_j = p_j (dp_j - sum_i p_i dp_i), times the score scale. */
static void attention_backward_units(void *arg, int u0, int u1) {
    const attention_ctx *c = arg;
    const int T = c->T, hd = c->hd, qdim = c->NH * hd, kvdim = c->KVH * hd, group = c->NH / c->KVH;
    for (int u = u0; u < u1; u++) {
        const int b = u / c->KVH, kvh = u % c->KVH;
        const size_t kv_off = (size_t)b * T * kvdim + (size_t)kvh * hd;
        float *ds = c->scratch + (size_t)u * T * T;
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            const size_t q_off = (size_t)b * T * qdim + (size_t)h * hd;
            const float *p = c->att_in + ((size_t)b * c->NH + h) * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, c->dout + q_off, qdim, c->v + kv_off,
                        kvdim, 0.0f, ds, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, c->dout + q_off, qdim, 1.0f,
                        c->dv + kv_off, kvdim);
            for (int t = 0; t < T; t++) {
                float *row = ds + (size_t)t * T;
                const float *pr = p + (size_t)t * T;
                const int first = window_first(t, c->window);
                float dot = 0.0f;
                for (int s = first; s <= t; s++) dot += pr[s] * row[s];
                for (int s = 0; s < first; s++) row[s] = 0.0f;
                for (int s = first; s <= t; s++) row[s] = pr[s] * (row[s] - dot) * c->scale;
                for (int s = t + 1; s < T; s++) row[s] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, c->k + kv_off, kvdim, 1.0f,
                        c->dq + q_off, qdim);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, c->q + q_off, qdim, 1.0f,
                        c->dk + kv_off, kvdim);
        }
    }
}

void window_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                               const float *k, const float *v, const float *att, int B, int T, int NH, int KVH,
                               int hd, int window, float scale) {
    attention_ctx c = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k, .v = v, .dout = dout,
                       .att_in = att, .B = B, .T = T, .NH = NH, .KVH = KVH, .hd = hd, .window = window, .scale = scale};
    blas_single();
    parallel_for(attention_backward_units, &c, B * KVH, 8.0 * B * NH * T * T * hd);
}

void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                        const float *k, const float *v, const float *att, int B, int T, int NH, int KVH, int hd) {
    window_attention_backward(dq, dk, dv, scratch, dout, q, k, v, att, B, T, NH, KVH, hd, 0, 1.0f / sqrtf((float)hd));
}

/* ---------------------------------------------------------------- SwiGLU, residual */

/* Element-wise ops split [0, n) into chunks of this many elements. */
#define CHUNK 4096

typedef struct {
    float *out, *da, *db;
    const float *a, *b, *dout;
    int64_t n;
} elementwise_ctx;

static void chunk_bounds(const elementwise_ctx *c, int k0, int k1, int64_t *i0, int64_t *i1) {
    *i0 = (int64_t)k0 * CHUNK;
    *i1 = (int64_t)k1 * CHUNK < c->n ? (int64_t)k1 * CHUNK : c->n;
}

static int n_chunks(int64_t n) { return (int)((n + CHUNK - 1) / CHUNK); }

static void swiglu_forward_chunks(void *arg, int k0, int k1) {
    const elementwise_ctx *c = arg;
    int64_t i0, i1;
    chunk_bounds(c, k0, k1, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) c->out[i] = c->a[i] / (1.0f + expf(-c->a[i])) * c->b[i];
}

void swiglu_forward(float *out, const float *gate, const float *up, int64_t n) {
    elementwise_ctx c = {.out = out, .a = gate, .b = up, .n = n};
    parallel_for(swiglu_forward_chunks, &c, n_chunks(n), 8.0 * n);
}

/* silu(g) = g s with s = sigmoid(g); silu'(g) = s (1 + g (1 - s)). */
static void swiglu_backward_chunks(void *arg, int k0, int k1) {
    const elementwise_ctx *c = arg;
    int64_t i0, i1;
    chunk_bounds(c, k0, k1, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        const float g = c->a[i], s = 1.0f / (1.0f + expf(-g));
        c->da[i] += c->dout[i] * c->b[i] * (s * (1.0f + g * (1.0f - s)));
        c->db[i] += c->dout[i] * (g * s);
    }
}

void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n) {
    elementwise_ctx c = {.da = dgate, .db = dup, .a = gate, .b = up, .dout = dout, .n = n};
    parallel_for(swiglu_backward_chunks, &c, n_chunks(n), 12.0 * n);
}

static void residual_forward_chunks(void *arg, int k0, int k1) {
    const elementwise_ctx *c = arg;
    int64_t i0, i1;
    chunk_bounds(c, k0, k1, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) c->out[i] = c->a[i] + c->b[i];
}

void residual_forward(float *out, const float *a, const float *b, int64_t n) {
    elementwise_ctx c = {.out = out, .a = a, .b = b, .n = n};
    parallel_for(residual_forward_chunks, &c, n_chunks(n), (double)n);
}

static void residual_backward_chunks(void *arg, int k0, int k1) {
    const elementwise_ctx *c = arg;
    int64_t i0, i1;
    chunk_bounds(c, k0, k1, &i0, &i1);
    if (c->da)
        for (int64_t i = i0; i < i1; i++) c->da[i] += c->dout[i];
    if (c->db)
        for (int64_t i = i0; i < i1; i++) c->db[i] += c->dout[i];
}

void residual_backward(float *da, float *db, const float *dout, int64_t n) {
    elementwise_ctx c = {.da = da, .db = db, .dout = dout, .n = n};
    parallel_for(residual_backward_chunks, &c, n_chunks(n), 2.0 * n);
}

/* ---------------------------------------------------------------- softmax + cross-entropy */

typedef struct {
    float *losses, *probs, *dlogits;
    const float *logits, *probs_in;
    const int32_t *targets;
    int V;
    float dloss;
} crossentropy_ctx;

/* loss = log(sum_j exp(l_j - max)) - (l_target - max), in double. */
static void crossentropy_forward_rows(void *arg, int n0, int n1) {
    const crossentropy_ctx *c = arg;
    const int V = c->V;
    for (int n = n0; n < n1; n++) {
        const float *l = c->logits + (size_t)n * V;
        float *p = c->probs + (size_t)n * V;
        float max = l[0];
        for (int i = 1; i < V; i++)
            if (l[i] > max) max = l[i];
        const float lt = l[c->targets[n]];
        double sum = 0.0;
        for (int i = 0; i < V; i++) {
            p[i] = expf(l[i] - max);
            sum += p[i];
        }
        const float inv = (float)(1.0 / sum);
        for (int i = 0; i < V; i++) p[i] *= inv;
        c->losses[n] = (float)(log(sum) - ((double)lt - max));
    }
}

float crossentropy_forward(float *losses, float *probs, const float *logits, const int32_t *targets, int N, int V) {
    crossentropy_ctx c = {.losses = losses, .probs = probs, .logits = logits, .targets = targets, .V = V};
    parallel_for(crossentropy_forward_rows, &c, N, 4.0 * N * V);
    double total = 0.0;
    for (int n = 0; n < N; n++) total += losses[n];
    return (float)(total / N);
}

static void crossentropy_backward_rows(void *arg, int n0, int n1) {
    const crossentropy_ctx *c = arg;
    const int V = c->V;
    for (int n = n0; n < n1; n++) {
        const float *p = c->probs_in + (size_t)n * V;
        float *d = c->dlogits + (size_t)n * V;
        for (int i = 0; i < V; i++) d[i] = p[i] * c->dloss;
        d[c->targets[n]] -= c->dloss;
    }
}

void crossentropy_backward(float *dlogits, const float *probs, const int32_t *targets, float dloss, int N, int V) {
    crossentropy_ctx c = {.dlogits = dlogits, .probs_in = probs, .targets = targets, .V = V, .dloss = dloss};
    parallel_for(crossentropy_backward_rows, &c, N, (double)N * V);
}

/* ================================================================ BERT encoder ops */

/* ---------------------------------------------------------------- embeddings */

typedef struct {
    float *out, *dwte, *dwpe, *dwtt;
    const float *wte, *wpe, *wtt, *dout;
    const int32_t *tokens, *types;
    int B, T, C;
} bert_embedding_ctx;

static void bert_embedding_forward_rows(void *arg, int n0, int n1) {
    const bert_embedding_ctx *c = arg;
    const int C = c->C;
    for (int n = n0; n < n1; n++) {
        const float *e = c->wte + (size_t)c->tokens[n] * C, *p = c->wpe + (size_t)(n % c->T) * C;
        const float *y = c->wtt + (size_t)(c->types ? c->types[n] : 0) * C;
        float *o = c->out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = e[i] + p[i] + y[i];
    }
}

void bert_embedding_forward(float *out, const int32_t *tokens, const int32_t *types, const float *wte,
                            const float *wpe, const float *wtt, int B, int T, int C) {
    bert_embedding_ctx c = {.out = out, .wte = wte, .wpe = wpe, .wtt = wtt, .tokens = tokens, .types = types,
                            .B = B, .T = T, .C = C};
    parallel_for(bert_embedding_forward_rows, &c, B * T, 2.0 * B * T * C);
}

/* Columns [c0, c1) of every row, so that repeated tokens never race. */
static void bert_embedding_backward_cols(void *arg, int c0, int c1) {
    const bert_embedding_ctx *c = arg;
    const int C = c->C;
    for (int n = 0; n < c->B * c->T; n++) {
        const float *src = c->dout + (size_t)n * C;
        float *p = c->dwpe + (size_t)(n % c->T) * C;
        for (int i = c0; i < c1; i++) p[i] += src[i];
        if (c->dwte) {
            float *e = c->dwte + (size_t)c->tokens[n] * C;
            for (int i = c0; i < c1; i++) e[i] += src[i];
        }
        if (c->dwtt) {
            float *y = c->dwtt + (size_t)(c->types ? c->types[n] : 0) * C;
            for (int i = c0; i < c1; i++) y[i] += src[i];
        }
    }
}

void bert_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout, const int32_t *tokens,
                             const int32_t *types, int B, int T, int C) {
    bert_embedding_ctx c = {.dwte = dwte, .dwpe = dwpe, .dwtt = dwtt, .dout = dout, .tokens = tokens,
                            .types = types, .B = B, .T = T, .C = C};
    parallel_for(bert_embedding_backward_cols, &c, C, 3.0 * B * T * C);
}

/* ---------------------------------------------------------------- bias */

typedef struct {
    float *out;
    const float *bias;
    int N, OC;
} bias_ctx;

static void bias_forward_rows(void *arg, int n0, int n1) {
    const bias_ctx *c = arg;
    for (int n = n0; n < n1; n++) {
        float *o = c->out + (size_t)n * c->OC;
        for (int i = 0; i < c->OC; i++) o[i] += c->bias[i];
    }
}

void bias_forward(float *out, const float *bias, int N, int OC) {
    bias_ctx c = {out, bias, N, OC};
    parallel_for(bias_forward_rows, &c, N, (double)N * OC);
}

/* Columns [c0, c1): each thread owns its columns of dbias. */
static void bias_backward_cols(void *arg, int c0, int c1) {
    const bias_ctx *c = arg; /* out is dbias, bias is dout here */
    for (int n = 0; n < c->N; n++) {
        const float *d = c->bias + (size_t)n * c->OC;
        for (int i = c0; i < c1; i++) c->out[i] += d[i];
    }
}

void bias_backward(float *dbias, const float *dout, int N, int OC) {
    bias_ctx c = {dbias, dout, N, OC};
    parallel_for(bias_backward_cols, &c, OC, (double)N * OC);
}

/* ---------------------------------------------------------------- LayerNorm */

typedef struct {
    float *out, *mean, *rstd, *dinp, *dweight, *dbias;
    const float *inp, *weight, *bias, *dout, *mean_in, *rstd_in;
    int N, C;
    float eps;
} layernorm_ctx;

static void layernorm_forward_rows(void *arg, int n0, int n1) {
    const layernorm_ctx *c = arg;
    const int C = c->C;
    for (int n = n0; n < n1; n++) {
        const float *x = c->inp + (size_t)n * C;
        float *y = c->out + (size_t)n * C;
        double s = 0.0;
        for (int i = 0; i < C; i++) s += x[i];
        const float mu = (float)(s / C);
        double ss = 0.0;
        for (int i = 0; i < C; i++) ss += (double)(x[i] - mu) * (x[i] - mu);
        const float r = 1.0f / sqrtf((float)(ss / C) + c->eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mu) * r * c->weight[i] + c->bias[i];
        c->mean[n] = mu;
        c->rstd[n] = r;
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C, float eps) {
    layernorm_ctx c = {.out = out, .mean = mean, .rstd = rstd, .inp = inp, .weight = weight, .bias = bias,
                       .N = N, .C = C, .eps = eps};
    parallel_for(layernorm_forward_rows, &c, N, 5.0 * N * C);
}

/* With xh = (x - mean) rstd and g = w dy: dx = rstd (g - mean(g) - xh mean(g xh)). */
static void layernorm_backward_rows(void *arg, int n0, int n1) {
    const layernorm_ctx *c = arg;
    const int C = c->C;
    for (int n = n0; n < n1; n++) {
        const float *x = c->inp + (size_t)n * C, *dy = c->dout + (size_t)n * C;
        float *dx = c->dinp + (size_t)n * C;
        const float mu = c->mean_in[n], r = c->rstd_in[n];
        double sg = 0.0, sgx = 0.0;
        for (int i = 0; i < C; i++) {
            const float g = c->weight[i] * dy[i];
            sg += g;
            sgx += (double)g * ((x[i] - mu) * r);
        }
        const float mg = (float)(sg / C), mgx = (float)(sgx / C);
        for (int i = 0; i < C; i++) dx[i] += r * (c->weight[i] * dy[i] - mg - (x[i] - mu) * r * mgx);
    }
}

static void layernorm_backward_cols(void *arg, int c0, int c1) {
    const layernorm_ctx *c = arg;
    const int C = c->C;
    for (int n = 0; n < c->N; n++) {
        const float *x = c->inp + (size_t)n * C, *dy = c->dout + (size_t)n * C;
        const float mu = c->mean_in[n], r = c->rstd_in[n];
        for (int i = c0; i < c1; i++) {
            c->dweight[i] += dy[i] * ((x[i] - mu) * r);
            c->dbias[i] += dy[i];
        }
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C) {
    layernorm_ctx c = {.dinp = dinp, .dweight = dweight, .dbias = dbias, .inp = inp, .weight = weight,
                       .dout = dout, .mean_in = mean, .rstd_in = rstd, .N = N, .C = C};
    parallel_for(layernorm_backward_rows, &c, N, 6.0 * N * C);
    parallel_for(layernorm_backward_cols, &c, C, 3.0 * N * C);
}

/* ---------------------------------------------------------------- bidirectional attention */

typedef struct {
    float *out, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *att_in;
    const int *lens;
    int B, T, NH, hd;
    float scale;
} bidir_ctx;

/* Units are (b, h) pairs: each writes its own rows of att and slices of out. */
static void bidir_forward_units(void *arg, int u0, int u1) {
    const bidir_ctx *c = arg;
    const int T = c->T, hd = c->hd, D = c->NH * hd;
    for (int u = u0; u < u1; u++) {
        const int b = u / c->NH, h = u % c->NH, len = c->lens[b];
        const float *kb = c->k + (size_t)b * T * D + h * hd, *vb = c->v + (size_t)b * T * D + h * hd;
        for (int t = 0; t < T; t++) {
            float *arow = c->att + (((size_t)b * c->NH + h) * T + t) * T;
            float *ot = c->out + ((size_t)b * T + t) * D + h * hd;
            memset(ot, 0, sizeof(float) * (size_t)hd);
            if (t >= len) {
                memset(arow, 0, sizeof(float) * (size_t)T);
                continue;
            }
            const float *qt = c->q + ((size_t)b * T + t) * D + h * hd;
            float max = -INFINITY;
            for (int s = 0; s < len; s++) {
                arow[s] = dot_f32(qt, kb + (size_t)s * D, (size_t)hd) * c->scale;
                if (arow[s] > max) max = arow[s];
            }
            float sum = 0.0f;
            for (int s = 0; s < len; s++) {
                arow[s] = expf(arow[s] - max);
                sum += arow[s];
            }
            const float inv = 1.0f / sum;
            for (int s = 0; s < len; s++) {
                const float a = arow[s] *= inv, *vs = vb + (size_t)s * D;
                for (int i = 0; i < hd; i++) ot[i] += a * vs[i];
            }
            for (int s = len; s < T; s++) arow[s] = 0.0f;
        }
    }
}

void bidir_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                             const int *lens, int B, int T, int NH, int hd) {
    bidir_ctx c = {.out = out, .att = att, .q = q, .k = k, .v = v, .lens = lens, .B = B, .T = T, .NH = NH,
                   .hd = hd, .scale = 1.0f / sqrtf((float)hd)};
    parallel_for(bidir_forward_units, &c, B * NH, 2.0 * B * NH * T * T * hd);
}

/* Units are (b, h) pairs: head h of sequence b owns its slices of dq, dk and dv.
 * ds_s = p_s (dp_s - sum_i p_i dp_i). */
static void bidir_backward_units(void *arg, int u0, int u1) {
    const bidir_ctx *c = arg;
    const int T = c->T, hd = c->hd, D = c->NH * hd;
    for (int u = u0; u < u1; u++) {
        const int b = u / c->NH, h = u % c->NH, len = c->lens[b];
        const size_t off = (size_t)b * T * D + h * hd;
        const float *kb = c->k + off, *vb = c->v + off;
        float *dkb = c->dk + off, *dvb = c->dv + off;
        float *datt = c->scratch + ((size_t)b * c->NH + h) * T;
        for (int t = 0; t < len; t++) {
            const size_t q_off = ((size_t)b * T + t) * D + h * hd;
            const float *qt = c->q + q_off, *dot_t = c->dout + q_off;
            const float *arow = c->att_in + (((size_t)b * c->NH + h) * T + t) * T;
            float *dqt = c->dq + q_off;
            float sum = 0.0f;
            for (int s = 0; s < len; s++) {
                datt[s] = dot_f32(dot_t, vb + (size_t)s * D, (size_t)hd);
                sum += arow[s] * datt[s];
                float *dvs = dvb + (size_t)s * D;
                const float a = arow[s];
                for (int i = 0; i < hd; i++) dvs[i] += a * dot_t[i];
            }
            for (int s = 0; s < len; s++) {
                const float ds = arow[s] * (datt[s] - sum) * c->scale;
                const float *ks = kb + (size_t)s * D;
                float *dks = dkb + (size_t)s * D;
                for (int i = 0; i < hd; i++) {
                    dqt[i] += ds * ks[i];
                    dks[i] += ds * qt[i];
                }
            }
        }
    }
}

void bidir_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                              const float *k, const float *v, const float *att, const int *lens, int B, int T,
                              int NH, int hd) {
    bidir_ctx c = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k, .v = v, .dout = dout,
                   .att_in = att, .lens = lens, .B = B, .T = T, .NH = NH, .hd = hd,
                   .scale = 1.0f / sqrtf((float)hd)};
    parallel_for(bidir_backward_units, &c, B * NH, 4.0 * B * NH * T * T * hd);
}

/* ---------------------------------------------------------------- GELU */

static void gelu_forward_chunks(void *arg, int k0, int k1) {
    const elementwise_ctx *c = arg;
    int64_t i0, i1;
    chunk_bounds(c, k0, k1, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        const float x = c->a[i];
        c->out[i] = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    }
}

void gelu_forward(float *out, const float *inp, int64_t n) {
    elementwise_ctx c = {.out = out, .a = inp, .n = n};
    parallel_for(gelu_forward_chunks, &c, n_chunks(n), 20.0 * n);
}

/* gelu'(x) = Phi(x) + x phi(x), phi the standard normal density. */
static void gelu_backward_chunks(void *arg, int k0, int k1) {
    const elementwise_ctx *c = arg;
    int64_t i0, i1;
    chunk_bounds(c, k0, k1, &i0, &i1);
    const float inv_sqrt_2pi = 0.3989422804014327f;
    for (int64_t i = i0; i < i1; i++) {
        const float x = c->a[i];
        const float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)), pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
        c->da[i] += c->dout[i] * (cdf + x * pdf);
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
    elementwise_ctx c = {.da = dinp, .a = inp, .dout = dout, .n = n};
    parallel_for(gelu_backward_chunks, &c, n_chunks(n), 30.0 * n);
}

/* ---------------------------------------------------------------- dropout */

static void mask_chunks(void *arg, int k0, int k1) {
    const elementwise_ctx *c = arg;
    int64_t i0, i1;
    chunk_bounds(c, k0, k1, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) c->out[i] = c->a[i] * c->b[i];
}

void dropout_forward(float *out, const float *inp, const float *mask, int64_t n) {
    elementwise_ctx c = {.out = out, .a = inp, .b = mask, .n = n};
    parallel_for(mask_chunks, &c, n_chunks(n), (double)n);
}

void dropout_backward(float *dinp, const float *dout, const float *mask, int64_t n) {
    elementwise_ctx c = {.out = dinp, .a = dout, .b = mask, .n = n};
    parallel_for(mask_chunks, &c, n_chunks(n), (double)n);
}

/* ---------------------------------------------------------------- pooling */

void mean_pool_forward(float *out, const float *x, const int *lens, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * C;
        for (int i = 0; i < C; i++) o[i] = 0.0f;
        for (int t = 0; t < lens[b]; t++) {
            const float *r = x + ((size_t)b * T + t) * C;
            for (int i = 0; i < C; i++) o[i] += r[i];
        }
        const float inv = 1.0f / (float)lens[b];
        for (int i = 0; i < C; i++) o[i] *= inv;
    }
}

void mean_pool_backward(float *dx, const float *dout, const int *lens, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        const float *d = dout + (size_t)b * C, inv = 1.0f / (float)lens[b];
        for (int t = 0; t < lens[b]; t++) {
            float *r = dx + ((size_t)b * T + t) * C;
            for (int i = 0; i < C; i++) r[i] += d[i] * inv;
        }
    }
}

void cls_pool_forward(float *out, const float *x, int B, int T, int C) {
    for (int b = 0; b < B; b++) memcpy(out + (size_t)b * C, x + (size_t)b * T * C, sizeof(float) * (size_t)C);
}

void cls_pool_backward(float *dx, const float *dout, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        float *r = dx + (size_t)b * T * C;
        const float *d = dout + (size_t)b * C;
        for (int i = 0; i < C; i++) r[i] += d[i];
    }
}

/* ---------------------------------------------------------------- weighted cross-entropy */

float weighted_crossentropy_forward(float *probs, const float *logits, const int32_t *labels, const float *w,
                                    int B, int K) {
    double total = 0.0, wsum = 0.0;
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * K;
        float *p = probs + (size_t)b * K;
        float max = l[0];
        for (int i = 1; i < K; i++)
            if (l[i] > max) max = l[i];
        const float lt = labels[b] >= 0 ? l[labels[b]] : 0.0f;
        double sum = 0.0;
        for (int i = 0; i < K; i++) {
            p[i] = expf(l[i] - max);
            sum += p[i];
        }
        const float inv = (float)(1.0 / sum);
        for (int i = 0; i < K; i++) p[i] *= inv;
        if (labels[b] < 0) continue; /* not in the loss */
        const double wb = w ? w[labels[b]] : 1.0;
        total += wb * (log(sum) - ((double)lt - max));
        wsum += wb;
    }
    return wsum > 0.0 ? (float)(total / wsum) : 0.0f;
}

void weighted_crossentropy_backward(float *dlogits, const float *probs, const int32_t *labels, const float *w,
                                    float dloss, int B, int K) {
    double wsum = 0.0;
    for (int b = 0; b < B; b++)
        if (labels[b] >= 0) wsum += w ? w[labels[b]] : 1.0;
    for (int b = 0; b < B; b++) {
        const int y = labels[b];
        const float s = wsum > 0.0 && y >= 0 ? (float)((w ? w[y] : 1.0) / wsum) * dloss : 0.0f;
        const float *p = probs + (size_t)b * K;
        float *d = dlogits + (size_t)b * K;
        for (int i = 0; i < K; i++) d[i] = p[i] * s;
        if (y >= 0) d[y] -= s;
    }
}
