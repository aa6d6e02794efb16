/* matmul.c — weight matrix times a batch of activation vectors, split by rows across the
 * thread pool. Each weight row is loaded once and dotted with every input vector while it is
 * in L1, so a batch of prompt tokens reads the weights once instead of once per token. */
#include <immintrin.h>
#include <stdbool.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/qdot.h"

/* Products smaller than this (in multiply-adds) run on the calling thread alone: the pool's
 * hand-off costs more than the work. */
#define PARALLEL_MIN_MACS (1 << 16)


typedef struct {
    const matmul_job *jobs;
    int n_jobs;
    int64_t total_rows;
    const float *x;
    int n_tok, ld_x;
    const uint8_t *act[SLM_TYPE_COUNT]; /* the inputs quantised, by activation type */
    size_t act_row_bytes[SLM_TYPE_COUNT];
    float *act_scales;                  /* q8_0 inputs' expanded block scales (qdot_act_scales) */
    size_t scale_floats;                /* per input */
    uint8_t *vnni_act;                  /* the q8_0 inputs for the AVX-512 VNNI kernels, or NULL */
    size_t vnni_act_bytes;
    bool avx512;                        /* the AVX-512 kernels of q4_K / q6_K are used */
} matmul_ctx;

/* Where input b's outputs start. */
static inline float *job_out(const matmul_job *job, int b) {
    return job->out_rows ? job->out_rows[b] : job->out + (int64_t)b * job->ld_out;
}

/* f32 / f16 weights (cols a multiple of 8) go through tiles of up to 4 weight rows x 3 inputs:
 * each loaded weight vector serves 3 inputs and each input vector 4 rows (12 accumulators, 7
 * loads per 12 FMAs). Every output sums in one order, whatever the tile's shape (one 8-lane
 * accumulator, columns in order, then the lanes), so a row's result does not depend on how many
 * inputs share the product or where it sits among them: one token alone or in a batch of
 * sessions gets the same floats. */
#define TILE_ROWS 4
#define TILE_TOKS 3

__attribute__((target("avx2,fma,f16c"))) static inline __m256 load_w(const void *row, slm_type type, int64_t k) {
    if (type == SLM_TYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
    return _mm256_loadu_ps((const float *)row + k);
}

__attribute__((target("avx2,fma,f16c"))) static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Weight rows r..r+NR-1 times inputs b..b+NT-1 (inlined with constant NR, NT so that the
 * accumulators stay in registers). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void tile_body(const matmul_job *job, const matmul_ctx *c,
                                                                                    int64_t r, int b, const int NR, const int NT) {
    const slm_tensor *w = job->w;
    const size_t elem = w->type == SLM_TYPE_F16 ? 2 : 4;
    const void *rows[TILE_ROWS];
    const float *xs[TILE_TOKS];
    for (int i = 0; i < NR; i++) rows[i] = slm_tensor_row(w, r + i);
    for (int t = 0; t < NT; t++) xs[t] = c->x + (int64_t)(b + t) * c->ld_x;
    __m256 acc[TILE_ROWS][TILE_TOKS];
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) acc[i][t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < w->ne[0]; k += 8) {
        if ((k * (int64_t)elem) % 64 == 0) /* the weights stream from memory when decoding */
            for (int i = 0; i < NR; i++) _mm_prefetch((const char *)rows[i] + k * (int64_t)elem + 1024, _MM_HINT_T0);
        __m256 xv[TILE_TOKS];
        for (int t = 0; t < NT; t++) xv[t] = _mm256_loadu_ps(xs[t] + k);
        for (int i = 0; i < NR; i++) {
            __m256 wv = load_w(rows[i], w->type, k);
            for (int t = 0; t < NT; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
        }
    }
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) job_out(job, b + t)[r + i] = hsum(acc[i][t]);
}

/* A tile of nr (4 or 1) rows x nt (1..3) inputs. */
__attribute__((target("avx2,fma,f16c"))) static void tile(const matmul_job *job, const matmul_ctx *c, int64_t r, int nr, int b, int nt) {
    if (nr == TILE_ROWS) {
        if (nt == 3) tile_body(job, c, r, b, TILE_ROWS, 3);
        else if (nt == 2) tile_body(job, c, r, b, TILE_ROWS, 2);
        else tile_body(job, c, r, b, TILE_ROWS, 1);
    } else {
        if (nt == 3) tile_body(job, c, r, b, 1, 3);
        else if (nt == 2) tile_body(job, c, r, b, 1, 2);
        else tile_body(job, c, r, b, 1, 1);
    }
}

/* Inputs per pass over a thread's rows: their quantised activations (about 40 KiB for 32
 * inputs of 640) stay in L1 while every row is dotted with them. */
#define INPUTS_PER_PASS 32

/* Rows [lo, hi) of one job with quantised weights: integer dots with the quantised inputs,
 * through the AVX-512 VNNI kernels (q4_0 / q5_0 / q8_0), the AVX-512 q4_K / q6_K ones or the
 * AVX2 / scalar ones of qdot_multi. */
static void matmul_rows_quantised(const matmul_job *job, const matmul_ctx *c, int64_t lo, int64_t hi) {
    const slm_tensor *w = job->w;
    const slm_type at = qdot_activation_type(w->type);
    const bool vnni = c->vnni_act && qdot_vnni_type(w->type), k512 = c->avx512 && qdot_k_avx512_type(w->type);
    for (int b = 0; b < c->n_tok; b += INPUTS_PER_PASS) {
        const int k = c->n_tok - b < INPUTS_PER_PASS ? c->n_tok - b : INPUTS_PER_PASS;
        const uint8_t *act = c->act[at] + (size_t)b * c->act_row_bytes[at];
        const float *scales = at == SLM_TYPE_Q8_0 ? c->act_scales + (size_t)b * c->scale_floats : NULL;
        for (int64_t r = lo; r < hi; r++) {
            const void *row = slm_tensor_row(w, r);
            float out[INPUTS_PER_PASS];
            if (vnni)
                qdot_vnni_multi(w->type, row, c->vnni_act + (size_t)b * c->vnni_act_bytes, c->vnni_act_bytes, scales,
                                c->scale_floats, k, w->ne[0], out);
            else if (k512)
                qdot_k_avx512_multi(w->type, row, act, c->act_row_bytes[at], k, w->ne[0], out);
            else
                qdot_multi(w->type, row, act, c->act_row_bytes[at], scales, c->scale_floats, k, w->ne[0], out);
            for (int i = 0; i < k; i++) job_out(job, b + i)[r] = out[i];
        }
    }
}

/* Rows [lo, hi) of one job for every input: tiles for f32 / f16 weights with the SIMD kernels,
 * else single dots (the same order for every input either way). */
static void matmul_rows(const matmul_job *job, const matmul_ctx *c, int64_t lo, int64_t hi) {
    const slm_tensor *w = job->w;
    if (qdot_activation_type(w->type) != SLM_TYPE_F32) {
        matmul_rows_quantised(job, c, lo, hi);
        return;
    }
    if (kernels_simd_tiles() && (w->type == SLM_TYPE_F32 || w->type == SLM_TYPE_F16) && w->ne[0] % 8 == 0) {
        for (int64_t r = lo; r < hi;) {
            int nr = hi - r >= TILE_ROWS ? TILE_ROWS : 1;
            for (int b = 0; b < c->n_tok; b += TILE_TOKS) tile(job, c, r, nr, b, c->n_tok - b < TILE_TOKS ? c->n_tok - b : TILE_TOKS);
            r += nr;
        }
        return;
    }
    for (int64_t r = lo; r < hi; r++)
        for (int b = 0; b < c->n_tok; b++) job_out(job, b)[r] = dot_row(w, r, c->x + (int64_t)b * c->ld_x);
}

/* Rows [begin, end) of the jobs taken as one concatenated matrix. */
static void matmul_range(const matmul_ctx *c, int64_t begin, int64_t end) {
    int64_t base = 0;
    for (int j = 0; j < c->n_jobs && begin < end; j++) {
        int64_t rows = slm_tensor_rows(c->jobs[j].w);
        int64_t lo = begin > base ? begin - base : 0, hi = end - base < rows ? end - base : rows;
        if (lo < hi) matmul_rows(&c->jobs[j], c, lo, hi);
        base += rows;
    }
}

static void matmul_worker(void *ctx, int ith, int nth) {
    const matmul_ctx *c = ctx;
    /* whole groups of 4 rows, so neighbouring threads do not share output cache lines */
    int64_t groups = (c->total_rows + 3) / 4;
    int begin, end;
    slm_split_range((int)groups, ith, nth, &begin, &end);
    int64_t lo = (int64_t)begin * 4, hi = (int64_t)end * 4;
    matmul_range(c, lo, hi < c->total_rows ? hi : c->total_rows);
}

/* Bytes of one input row of cols floats quantised to activation type at. */
static size_t act_row_bytes(slm_type at, int64_t cols) {
    return at == SLM_TYPE_Q8_0 ? (size_t)(cols / QK) * sizeof(block_q8_0) : (size_t)(cols / QK_K) * sizeof(block_q8_K);
}

size_t matmul_scratch_bytes(int n_tok, int64_t cols) {
    return (size_t)n_tok * (act_row_bytes(SLM_TYPE_Q8_0, cols + QK) + act_row_bytes(SLM_TYPE_Q8_K, cols + QK_K) +
                            qdot_act_scale_floats(cols) * sizeof(float) + qdot_vnni_act_bytes(cols)) + 192;
}

/* Quantises input rows [b0, b1) to every activation type the jobs need (set up in c). */
static void quantise_inputs(const matmul_ctx *c, int b0, int b1) {
    const int64_t cols = c->jobs[0].w->ne[0];
    for (int at = 0; at < SLM_TYPE_COUNT; at++) {
        if (!c->act[at]) continue;
        for (int b = b0; b < b1; b++) {
            void *dst = (uint8_t *)c->act[at] + (size_t)b * c->act_row_bytes[at];
            if (at == SLM_TYPE_Q8_0) {
                quantize_act_q8_0(c->x + (int64_t)b * c->ld_x, dst, cols);
                qdot_act_scales(dst, cols, c->act_scales + (size_t)b * c->scale_floats);
                if (c->vnni_act) qdot_vnni_prepare(dst, cols, c->vnni_act + (size_t)b * c->vnni_act_bytes);
            } else quantize_act_q8_K(c->x + (int64_t)b * c->ld_x, dst, cols);
        }
    }
}

static void quantise_worker(void *ctx, int ith, int nth) {
    const matmul_ctx *c = ctx;
    int b0, b1;
    slm_split_range(c->n_tok, ith, nth, &b0, &b1);
    quantise_inputs(c, b0, b1);
}

void matmul_multi(const matmul_job *jobs, int n_jobs, const float *x, int n_tok, int ld_x, void *scratch) {
    matmul_ctx c = {.jobs = jobs, .n_jobs = n_jobs, .x = x, .n_tok = n_tok, .ld_x = ld_x};
    int64_t macs = 0, cols = jobs[0].w->ne[0];
    uint8_t *free_at = scratch;
    int quantised = 0;
    for (int j = 0; j < n_jobs; j++) {
        const slm_tensor *w = jobs[j].w;
        c.total_rows += slm_tensor_rows(w);
        macs += slm_tensor_rows(w) * w->ne[0] * n_tok;
        slm_type at = qdot_activation_type(w->type);
        if (at == SLM_TYPE_F32 || c.act[at]) continue;
        /* room for the inputs quantised once per activation type */
        c.act[at] = free_at;
        c.act_row_bytes[at] = act_row_bytes(at, cols);
        free_at += (size_t)n_tok * c.act_row_bytes[at];
        if (at == SLM_TYPE_Q8_0) {
            c.scale_floats = qdot_act_scale_floats(cols);
            c.act_scales = (float *)(((uintptr_t)free_at + 31) & ~(uintptr_t)31);
            free_at = (uint8_t *)(c.act_scales + (size_t)n_tok * c.scale_floats);
        }
        quantised = 1;
    }
    c.avx512 = quantised && kernels_avx512_vnni();
    if (c.act[SLM_TYPE_Q8_0] && c.avx512) {
        bool vnni = false;
        for (int j = 0; j < n_jobs; j++) vnni = vnni || qdot_vnni_type(jobs[j].w->type);
        if (vnni) {
            c.vnni_act_bytes = qdot_vnni_act_bytes(cols);
            c.vnni_act = (uint8_t *)(((uintptr_t)free_at + 63) & ~(uintptr_t)63);
            free_at = c.vnni_act + (size_t)n_tok * c.vnni_act_bytes;
        }
    }
    const int parallel = macs >= PARALLEL_MIN_MACS && slm_pool_threads() > 1;
    if (quantised) {
        if (parallel && n_tok >= 8) slm_pool_run(quantise_worker, &c);
        else quantise_inputs(&c, 0, n_tok);
    }
    if (parallel) slm_pool_run(matmul_worker, &c);
    else matmul_range(&c, 0, c.total_rows);
}

void matvec(float *out, const slm_tensor *w, const float *x, void *scratch) {
    matmul_job job = {out, (int)slm_tensor_rows(w), w, NULL};
    matmul_multi(&job, 1, x, 1, (int)w->ne[0], scratch);
}
