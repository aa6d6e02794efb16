/* matmul.c — weight matrix times a batch of activation vectors, split by rows across the
 * thread pool. Each weight row is loaded once and dotted with every input vector while it is
 * in L1, so a batch of prompt tokens reads the weights once instead of once per token. */
#include <immintrin.h>
#include <stdbool.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/matmul_float.h"
#include "kernels/qdot.h"

/* Products smaller than this (in multiply-adds) run on the calling thread alone: the pool's
 * hand-off costs more than the work. */
#define PARALLEL_MIN_MACS (1 << 16)


#define MATMUL_MAX_JOBS 8

typedef struct {
    const matmul_job *jobs;
    int n_jobs;
    int64_t total_rows;
    const float *x;
    int n_tok, ld_x;
    qdot_inputs in;                       /* the inputs quantised, in every form the kernels read */
    qdot_kernel kernel[MATMUL_MAX_JOBS];  /* each job's kernel (quantised weights) */
} matmul_ctx;

/* Where input b's outputs start. */
static inline float *job_out(const matmul_job *job, int b) {
    return job->out_rows ? job->out_rows[b] : job->out + (int64_t)b * job->ld_out;
}

/* Inputs per pass over a thread's rows: their quantised activations stay in L1 while every row
 * is dotted with them (a row is unpacked again for each pass, which costs less than reading
 * the activations from L2: measured on Gemma 3 and Qwen2.5, 8 inputs of q8_K and 16 of q8_0 did
 * best). The most any pass takes: */
#define INPUTS_PER_PASS 16

/* Bytes of weights in a block of rows (quantised weights, several passes of inputs). */
#define QUANTISED_BLOCK_BYTES (256 * 1024)

/* Rows per block: whole groups of 16 rows, at least one. */
static int64_t quantised_block_rows(size_t row_bytes) {
    const int64_t n = (int64_t)(QUANTISED_BLOCK_BYTES / row_bytes) / 16 * 16;
    return n > 16 ? n : 16;
}

/* Inputs per pass for a kernel's inputs. */
static int inputs_per_pass(qdot_kernel k) { return k.forms & QDOT_Q8_K ? 8 : INPUTS_PER_PASS; }

/* Rows [lo, hi) of one job with quantised weights against every input, pass by pass. */
static void matmul_block_quantised(const matmul_job *job, qdot_kernel kernel, const matmul_ctx *c, int pass,
                                   int64_t lo, int64_t hi) {
    const slm_tensor *w = job->w;
    for (int b = 0; b < c->n_tok; b += pass) {
        const int k = c->n_tok - b < pass ? c->n_tok - b : pass;
        if (kernel.many) {
            float *outs[INPUTS_PER_PASS];
            for (int i = 0; i < k; i++) outs[i] = job_out(job, b + i) + lo;
            kernel.many(w->type, slm_tensor_row(w, lo), w->row_bytes, (int)(hi - lo), &c->in, b, k, outs);
            continue;
        }
        for (int64_t r = lo; r < hi; r++) {
            float out[INPUTS_PER_PASS];
            kernel.fn(w->type, slm_tensor_row(w, r), &c->in, b, k, out);
            for (int i = 0; i < k; i++) job_out(job, b + i)[r] = out[i];
        }
    }
}

/* Rows [lo, hi) of one job with quantised weights: the job's kernel, each row against the
 * inputs of a pass; with more inputs than a pass, the rows in blocks that stay in L2 while every
 * pass goes over them (else each pass would read all of a thread's rows again from L3 or
 * memory). */
static void matmul_rows_quantised(const matmul_job *job, qdot_kernel kernel, const matmul_ctx *c, int64_t lo,
                                  int64_t hi) {
    const slm_tensor *w = job->w;
    const int pass = inputs_per_pass(kernel);
    const int64_t block = c->n_tok > pass ? quantised_block_rows(w->row_bytes) : hi - lo;
    for (int64_t r0 = lo; r0 < hi; r0 += block) /* each block of rows against every input */
        matmul_block_quantised(job, kernel, c, pass, r0, hi - r0 < block ? hi : r0 + block);
}

/* Rows [lo, hi) of one job for every input: the job's quantised kernel, else the f32 / f16 /
 * bf16 tiles of matmul_float.c. */
static void matmul_rows(int j, const matmul_ctx *c, int64_t lo, int64_t hi) {
    const matmul_job *job = &c->jobs[j];
    if (c->kernel[j].fn) {
        matmul_rows_quantised(job, c->kernel[j], c, lo, hi);
        return;
    }
    matmul_float_rows(job, c->x, &c->in, c->n_tok, c->ld_x, lo, hi);
}

/* Rows [begin, end) of the jobs taken as one concatenated matrix. */
static void matmul_range(const matmul_ctx *c, int64_t begin, int64_t end) {
    int64_t base = 0;
    for (int j = 0; j < c->n_jobs && begin < end; j++) {
        int64_t rows = slm_tensor_rows(c->jobs[j].w);
        int64_t lo = begin > base ? begin - base : 0, hi = end - base < rows ? end - base : rows;
        if (lo < hi) matmul_rows(j, c, lo, hi);
        base += rows;
    }
}

static void matmul_worker(void *ctx, int ith, int nth) {
    const matmul_ctx *c = ctx;
    /* whole groups of 16 rows: neighbouring threads share no output cache lines, and the kernels
       over 16 rows at once (qdot_rows16.c) get whole groups */
    int64_t groups = (c->total_rows + 15) / 16;
    int begin, end;
    slm_split_range((int)groups, ith, nth, &begin, &end);
    int64_t lo = (int64_t)begin * 16, hi = (int64_t)end * 16;
    matmul_range(c, lo, hi < c->total_rows ? hi : c->total_rows);
}

size_t matmul_scratch_bytes(int n_tok, int64_t cols) {
    return qdot_inputs_bytes(QDOT_ALL_FORMS, n_tok, cols);
}

static void quantise_worker(void *ctx, int ith, int nth) {
    const matmul_ctx *c = ctx;
    int b0, b1;
    slm_split_range(c->n_tok, ith, nth, &b0, &b1);
    qdot_inputs_fill(&c->in, c->x, c->ld_x, b0, b1);
}

void matmul_multi(const matmul_job *jobs, int n_jobs, const float *x, int n_tok, int ld_x, void *scratch) {
    matmul_ctx c = {.jobs = jobs, .n_jobs = n_jobs, .x = x, .n_tok = n_tok, .ld_x = ld_x};
    int64_t macs = 0, cols = jobs[0].w->ne[0];
    unsigned forms = 0;
    for (int j = 0; j < n_jobs; j++) {
        const slm_tensor *w = jobs[j].w;
        c.total_rows += slm_tensor_rows(w);
        macs += slm_tensor_rows(w) * w->ne[0] * n_tok;
        c.kernel[j] = qdot_kernel_for(w->type);
        forms |= c.kernel[j].forms | (w->type == SLM_TYPE_BF16 ? QDOT_BF16 : 0u);
    }
    const int parallel = macs >= PARALLEL_MIN_MACS && slm_pool_threads() > 1;
    if (forms) {
        qdot_inputs_layout(&c.in, forms, n_tok, cols, scratch);
        if (parallel && n_tok >= 8) slm_pool_run(quantise_worker, &c);
        else qdot_inputs_fill(&c.in, x, ld_x, 0, n_tok);
    }
    if (parallel) slm_pool_run(matmul_worker, &c);
    else matmul_range(&c, 0, c.total_rows);
}

void matvec(float *out, const slm_tensor *w, const float *x, void *scratch) {
    matmul_job job = {out, (int)slm_tensor_rows(w), w, NULL};
    matmul_multi(&job, 1, x, 1, (int)w->ne[0], scratch);
}
