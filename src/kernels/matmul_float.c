/* matmul_float.c — f32 / f16 / bf16 weights times a batch of inputs (matmul.c's float branch):
 * tiles of several weight rows x several inputs with AVX-512 F/BW/VL/DQ (16 lanes) or
 * AVX2+FMA+F16C (8 lanes), chosen at run time, else one dot_row per output.
 *
 * Arithmetic: every weight is widened to f32 exactly (f16 with vcvtph2ps, bf16 by shifting the
 * zero-extended 16 bits left by 16) and every product and sum is an f32 FMA, except that bf16
 * weights pair with their inputs rounded to bf16 (as llama.cpp pairs them; qdot.h's QDOT_BF16
 * form, prepared once per product): where the CPU has AVX512_BF16, VDPBF16PS multiplies 32
 * bf16 pairs into 16 f32 lanes per instruction (measured here, batch 512: 92 GMAC/s against 22
 * for the widened f32 tiles); elsewhere the rounded inputs are widened as the weights are.

 * Order: each output has one accumulator (8 or 16 lanes) that takes the columns in order, 8 or
 * 16 at a time (the last partial group zero-padded), and its lanes are then added in one fixed
 * tree. The tile shape, the batch and the split of rows over threads never change an output's
 * floats, so an input gets the same result alone or among others. The AVX-512 order (16 lanes)
 * is not the AVX2 one: the two instruction sets round differently, each consistently.
 *
 * Shapes: prompts go through tiles of several rows x several inputs, so that each loaded weight
 * vector serves every input of the tile and each input vector every row, the accumulators in
 * registers (AVX2: 4 rows x 3 inputs, 12 of 16 ymm registers; AVX-512: 4 rows x 6 inputs, 24 of
 * 32 zmm registers). Decoding streams the weights from memory: with AVX-512 one input with
 * f16 / bf16 weights goes through tiles of one row, so the weights are read as one sequential
 * stream (f32 weights, and every AVX2 product, went 5-10% faster, and with AVX2 f16 / bf16 a
 * third faster, in tiles of 4 rows x 1: one 8-lane accumulator per output waits on its FMA
 * latency, 16 bytes of f16 per FMA, about 16 GB/s here).
 *
 * Prefetching, into L2, from the first input tile of each group of rows: a one-row tile
 * prefetches PREFETCH_AHEAD bytes ahead of its reads; a tile of several rows reads them side by
 * side, which breaks the stream the hardware prefetcher follows, so it prefetches the next
 * group's rows (one contiguous block) in address order, as many lines as it reads. Measured
 * here (one thread, ~30 GB/s memory): prefetching into L1 instead, or not at all, loses a third
 * to a half of the speed with 3 to 6 inputs, and a little with one. */
#include <immintrin.h>
#include <string.h>

#include "kernels/matmul_float.h"

/* A product's inputs: n floats ld_x apart, and for bf16 weights the same rounded to bf16 (the
 * QDOT_BF16 form of in). */
typedef struct {
    const float *x;
    int ld_x;
    const qdot_inputs *in;
} mf_inputs;

/* Input b as the tiles of weight type t read it: bf16 values for bf16 weights, else floats. */
static inline const void *mf_input(const mf_inputs *x, slm_type t, int b) {
    if (t == SLM_TYPE_BF16) return x->in->bf16 + (size_t)b * x->in->bf16_stride;
    return x->x + (int64_t)b * x->ld_x;
}

/* Where input b's outputs start (the outputs at out + b * ld_out, or out_rows[b]). */
static inline float *out_of(const matmul_job *job, int b) {
    return job->out_rows ? job->out_rows[b] : job->out + (int64_t)b * job->ld_out;
}

/* How far ahead of its reads a one-row tile prefetches its weights, in bytes (into L2). */
#define PREFETCH_AHEAD 8192

/* The prefetch of a tile's step reading the line at byte off of each of its nr rows (row0 the
 * first): a one-row tile asks for PREFETCH_AHEAD bytes ahead; a tile of several rows for the
 * next nr rows (one contiguous block), as many lines as the step reads, in address order. */
static inline void tile_prefetch(const char *row0, int nr, size_t row_bytes, int64_t off) {
    if (nr == 1) _mm_prefetch(row0 + off + PREFETCH_AHEAD, _MM_HINT_T1);
    else
        for (int i = 0; i < nr; i++) _mm_prefetch(row0 + (size_t)nr * row_bytes + off * nr + 64 * i, _MM_HINT_T1);
}

/* A thread's rows are taken in blocks of about this many bytes of weights, each block against
 * every input before the next, so that the block stays in L2 while the inputs pass over it
 * (the inputs of a long prompt, 3 MiB of f32 for 512 tokens of 1536, would otherwise be read
 * again from L3 for every few rows). */
#define ROW_BLOCK_BYTES (256 * 1024)

/* Rows per block for rows of row_bytes: a multiple of the tile's rows, at least one tile. */
static inline int64_t block_rows(size_t row_bytes, int tile_rows) {
    int64_t n = (int64_t)(ROW_BLOCK_BYTES / (row_bytes ? row_bytes : 1)) / tile_rows * tile_rows;
    return n > tile_rows ? n : tile_rows;
}

/* ---------------------------------------------------------------- AVX2 + FMA + F16C */

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define AVX2_ROWS 4 /* 4 rows x 3 inputs: 12 accumulators, 3 input vectors and a weight vector */
#define AVX2_TOKS 3

/* Eight weights of type t from element k of a row, widened to f32. */
AVX2_TARGET static inline __m256 avx2_w8(slm_type t, const void *row, int64_t k) {
    if (t == SLM_TYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
    if (t == SLM_TYPE_BF16) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
    }
    return _mm256_loadu_ps((const float *)row + k);
}

/* Sum of 8 lanes in a fixed order: the two 4-lane halves, then pairs, then the last two. */
AVX2_TARGET static inline float avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Eight inputs from element k of an input of weights of type t (bf16 weights: the input rounded
 * to bf16, widened; else floats). */
AVX2_TARGET static inline __m256 avx2_x8(slm_type t, const void *x, int64_t k) {
    return t == SLM_TYPE_BF16 ? avx2_w8(t, x, k) : _mm256_loadu_ps((const float *)x + k);
}

/* One group of 8 columns from k: acc[i][t] += w_i[k..k+7] * x_t[k..k+7]. */
AVX2_TARGET __attribute__((always_inline)) static inline void avx2_step(__m256 acc[AVX2_ROWS][AVX2_TOKS],
                                                                        const char *const *rows, const void *const *xs,
                                                                        int64_t k, const slm_type T, const int NR,
                                                                        const int NT) {
    __m256 xv[AVX2_TOKS];
    for (int t = 0; t < NT; t++) xv[t] = avx2_x8(T, xs[t], k);
    for (int i = 0; i < NR; i++) {
        __m256 wv = avx2_w8(T, rows[i], k);
        for (int t = 0; t < NT; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
    }
}

/* Weight rows r..r+NR-1 (type T) times inputs b..b+NT-1, inlined with constant T, NR, NT so
 * that the accumulators stay in registers; with prefetch set, the weights ahead are prefetched. */
AVX2_TARGET __attribute__((always_inline)) static inline void avx2_tile_body(const matmul_job *job, const mf_inputs *x,
                                                                             int64_t r, int b, const bool prefetch,
                                                                             const slm_type T, const int NR,
                                                                             const int NT) {
    const slm_tensor *w = job->w;
    const int64_t n = w->ne[0], elem = T == SLM_TYPE_F32 ? 4 : 2, per_line = 64 / elem;
    const size_t x_elem = T == SLM_TYPE_BF16 ? 2 : 4;
    const char *rows[AVX2_ROWS];
    const void *xs[AVX2_TOKS];
    for (int i = 0; i < NR; i++) rows[i] = slm_tensor_row(w, r + i);
    for (int t = 0; t < NT; t++) xs[t] = mf_input(x, T, b + t);
    __m256 acc[AVX2_ROWS][AVX2_TOKS];
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) acc[i][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + per_line <= n; k += per_line) { /* a cache line of each row per iteration */
        if (prefetch) tile_prefetch(rows[0], NR, w->row_bytes, k * elem);
        for (int64_t s = k; s < k + per_line; s += 8) avx2_step(acc, rows, xs, s, T, NR, NT);
    }
    for (; k + 8 <= n; k += 8) avx2_step(acc, rows, xs, k, T, NR, NT);
    if (k < n) { /* the last columns, zero-padded to 8 */
        const size_t rem = (size_t)(n - k);
        unsigned char wpad[AVX2_ROWS][32], xpad[AVX2_TOKS][32];
        const char *wr[AVX2_ROWS];
        const void *xr[AVX2_TOKS];
        for (int i = 0; i < NR; i++) {
            memset(wpad[i], 0, sizeof wpad[i]);
            memcpy(wpad[i], rows[i] + k * elem, rem * (size_t)elem);
            wr[i] = (const char *)wpad[i];
        }
        for (int t = 0; t < NT; t++) {
            memset(xpad[t], 0, sizeof xpad[t]);
            memcpy(xpad[t], (const char *)xs[t] + k * x_elem, rem * x_elem);
            xr[t] = xpad[t];
        }
        avx2_step(acc, wr, xr, 0, T, NR, NT);
    }
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) out_of(job, b + t)[r + i] = avx2_hsum(acc[i][t]);
}

/* A tile of nr (AVX2_ROWS or 1) rows x nt (1..AVX2_TOKS) inputs of weights of type T. */
AVX2_TARGET __attribute__((always_inline)) static inline void avx2_tile_t(const matmul_job *job, const mf_inputs *x,
                                                                          int64_t r, int nr, int b, int nt,
                                                                          const bool prefetch, const slm_type T) {
    if (nr == AVX2_ROWS) {
        if (nt == 3) avx2_tile_body(job, x, r, b, prefetch, T, AVX2_ROWS, 3);
        else if (nt == 2) avx2_tile_body(job, x, r, b, prefetch, T, AVX2_ROWS, 2);
        else avx2_tile_body(job, x, r, b, prefetch, T, AVX2_ROWS, 1);
    } else {
        if (nt == 3) avx2_tile_body(job, x, r, b, prefetch, T, 1, 3);
        else if (nt == 2) avx2_tile_body(job, x, r, b, prefetch, T, 1, 2);
        else avx2_tile_body(job, x, r, b, prefetch, T, 1, 1);
    }
}

/* Rows [lo, hi) x every input with the AVX2 tiles: groups of AVX2_ROWS rows (the rows left
 * over one at a time). */
AVX2_TARGET static void avx2_rows(const matmul_job *job, const mf_inputs *x, int n_tok, int64_t lo, int64_t hi) {
    const slm_type type = job->w->type;
    const int64_t block = block_rows(job->w->row_bytes, AVX2_ROWS);
    for (int64_t r0 = lo; r0 < hi; r0 += block) {
        const int64_t r1 = hi - r0 < block ? hi : r0 + block;
        for (int b = 0; b < n_tok; b += AVX2_TOKS) {
            const int nt = n_tok - b < AVX2_TOKS ? n_tok - b : AVX2_TOKS;
            for (int64_t r = r0; r < r1;) {
                const int nr = r1 - r >= AVX2_ROWS ? AVX2_ROWS : 1;
                const bool prefetch = b == 0 && (nr == 1 || hi - r >= 2 * AVX2_ROWS);
                if (type == SLM_TYPE_F16) avx2_tile_t(job, x, r, nr, b, nt, prefetch, SLM_TYPE_F16);
                else if (type == SLM_TYPE_BF16) avx2_tile_t(job, x, r, nr, b, nt, prefetch, SLM_TYPE_BF16);
                else avx2_tile_t(job, x, r, nr, b, nt, prefetch, SLM_TYPE_F32);
                r += nr;
            }
        }
    }
}

/* ---------------------------------------------------------------- AVX-512 F/BW/VL/DQ */

#define AVX512_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define AVX512_ROWS 4 /* 4 rows x 6 inputs: 24 accumulators, 6 input vectors and a weight vector */
#define AVX512_TOKS 6

/* Sixteen weights of type t from element k of a row, widened to f32. */
AVX512_TARGET static inline __m512 avx512_w16(slm_type t, const void *row, int64_t k) {
    if (t == SLM_TYPE_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k)));
    if (t == SLM_TYPE_BF16) {
        __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
    }
    return _mm512_loadu_ps((const float *)row + k);
}

/* The weights of the lanes in mask m (zero elsewhere, nothing read there). */
AVX512_TARGET static inline __m512 avx512_w16_masked(slm_type t, const void *row, int64_t k, __mmask16 m) {
    if (t == SLM_TYPE_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k));
    if (t == SLM_TYPE_BF16) {
        __m512i u = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k));
        return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
    }
    return _mm512_maskz_loadu_ps(m, (const float *)row + k);
}

/* Sum of the 16 lanes in a fixed order: lanes 0-7 plus lanes 8-15, then avx2_hsum. */
AVX512_TARGET static inline float avx512_hsum(__m512 v) {
    return avx2_hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

/* Sixteen inputs from element k of an input of weights of type t, as avx2_x8; masked: only the
 * lanes of m. */
AVX512_TARGET static inline __m512 avx512_x16(slm_type t, const void *x, int64_t k, const bool MASKED, __mmask16 m) {
    if (t == SLM_TYPE_BF16) return MASKED ? avx512_w16_masked(t, x, k, m) : avx512_w16(t, x, k);
    return MASKED ? _mm512_maskz_loadu_ps(m, (const float *)x + k) : _mm512_loadu_ps((const float *)x + k);
}

/* One group of 16 columns from k (only the lanes of m when MASKED). */
AVX512_TARGET __attribute__((always_inline)) static inline void avx512_step(__m512 acc[AVX512_ROWS][AVX512_TOKS],
                                                                            const char *const *rows,
                                                                            const void *const *xs, int64_t k,
                                                                            const bool MASKED, __mmask16 m,
                                                                            const slm_type T, const int NR,
                                                                            const int NT) {
    __m512 xv[AVX512_TOKS];
    for (int t = 0; t < NT; t++) xv[t] = avx512_x16(T, xs[t], k, MASKED, m);
    for (int i = 0; i < NR; i++) {
        __m512 wv = MASKED ? avx512_w16_masked(T, rows[i], k, m) : avx512_w16(T, rows[i], k);
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
    }
}

/* Weight rows r..r+NR-1 (type T) times inputs b..b+NT-1 with 16-lane accumulators (prefetch
 * as in avx2_tile_body). */
AVX512_TARGET __attribute__((always_inline)) static inline void avx512_tile_body(const matmul_job *job,
                                                                                 const mf_inputs *x, int64_t r, int b,
                                                                                 const bool prefetch, const slm_type T,
                                                                                 const int NR, const int NT) {
    const slm_tensor *w = job->w;
    const int64_t n = w->ne[0], elem = T == SLM_TYPE_F32 ? 4 : 2, per_line = 64 / elem;
    const char *rows[AVX512_ROWS];
    const void *xs[AVX512_TOKS];
    for (int i = 0; i < NR; i++) rows[i] = slm_tensor_row(w, r + i);
    for (int t = 0; t < NT; t++) xs[t] = mf_input(x, T, b + t);
    __m512 acc[AVX512_ROWS][AVX512_TOKS];
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + per_line <= n; k += per_line) { /* a cache line of each row per iteration */
        if (prefetch) tile_prefetch(rows[0], NR, w->row_bytes, k * elem);
        for (int64_t s = k; s < k + per_line; s += 16) avx512_step(acc, rows, xs, s, false, 0, T, NR, NT);
    }
    for (; k + 16 <= n; k += 16) avx512_step(acc, rows, xs, k, false, 0, T, NR, NT);
    if (k < n) avx512_step(acc, rows, xs, k, true, (__mmask16)((1u << (n - k)) - 1), T, NR, NT);
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) out_of(job, b + t)[r + i] = avx512_hsum(acc[i][t]);
}

/* The switch over nt (1..AVX512_TOKS) of a tile body for NR rows. */
#define AVX512_NT_SWITCH(BODY, NR)                                                                                 \
    switch (nt) {                                                                                                  \
    case 6: BODY(job, x, r, b, prefetch, T, NR, 6); break;                                                         \
    case 5: BODY(job, x, r, b, prefetch, T, NR, 5); break;                                                         \
    case 4: BODY(job, x, r, b, prefetch, T, NR, 4); break;                                                         \
    case 3: BODY(job, x, r, b, prefetch, T, NR, 3); break;                                                         \
    case 2: BODY(job, x, r, b, prefetch, T, NR, 2); break;                                                         \
    default: BODY(job, x, r, b, prefetch, T, NR, 1); break;                                                        \
    }
/* A tile of nr (AVX512_ROWS or 1) rows x nt (1..AVX512_TOKS) inputs of weights of type T. */
AVX512_TARGET __attribute__((always_inline)) static inline void avx512_tile_t(const matmul_job *job, const mf_inputs *x,
                                                                              int64_t r, int nr, int b, int nt,
                                                                              const bool prefetch, const slm_type T) {
    if (nr == AVX512_ROWS) AVX512_NT_SWITCH(avx512_tile_body, AVX512_ROWS)
    else AVX512_NT_SWITCH(avx512_tile_body, 1)
}

/* ---------------------------------------------------------------- AVX512_BF16 */

#define BF16_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

/* avx512_hsum, not inlined: GCC 12 keeps the accumulators of bf16_tile_body in registers only
 * so (with the sum inlined, avx512_hsum's or _mm512_reduce_add_ps, it stores every one of them
 * to the stack at every step, which halved the speed). */
__attribute__((noinline)) AVX512_TARGET static float bf16_hsum(__m512 v) { return avx512_hsum(v); }

/* 32 columns from k of NR bf16 rows times NT bf16 inputs, the weights outside mask m zero. */
BF16_TARGET __attribute__((always_inline)) static inline void bf16_step(__m512 acc[AVX512_ROWS][AVX512_TOKS],
                                                                        const uint16_t *const *rows,
                                                                        const uint16_t *const *xs, int64_t k,
                                                                        const bool MASKED, __mmask32 m, const int NR,
                                                                        const int NT) {
    __m512bh xv[AVX512_TOKS];
    for (int t = 0; t < NT; t++) xv[t] = (__m512bh)_mm512_loadu_si512(xs[t] + k);
    for (int i = 0; i < NR; i++) {
        const __m512bh wv = (__m512bh)(MASKED ? _mm512_maskz_loadu_epi16(m, rows[i] + k) : _mm512_loadu_si512(rows[i] + k));
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_dpbf16_ps(acc[i][t], wv, xv[t]);
    }
}

/* bf16 rows r..r+NR-1 times the bf16 inputs b..b+NT-1 (T is SLM_TYPE_BF16; prefetch as in
 * avx2_tile_body): per 32 columns, one VDPBF16PS per row and input adds the 32 products to the
 * output's 16 lanes (lane i: columns 2i and 2i + 1), the last partial 32 with the weights
 * masked to zero (the input is zero there already). */
BF16_TARGET __attribute__((always_inline)) static inline void bf16_tile_body(const matmul_job *job, const mf_inputs *x,
                                                                             int64_t r, int b, const bool prefetch,
                                                                             const slm_type T, const int NR,
                                                                             const int NT) {
    const slm_tensor *w = job->w;
    const int64_t n = w->ne[0];
    const uint16_t *rows[AVX512_ROWS], *xs[AVX512_TOKS];
    for (int i = 0; i < NR; i++) rows[i] = (const uint16_t *)slm_tensor_row(w, r + i);
    for (int t = 0; t < NT; t++) xs[t] = mf_input(x, T, b + t);
    __m512 acc[AVX512_ROWS][AVX512_TOKS];
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= n; k += 32) { /* a cache line of each row per step */
        if (prefetch) tile_prefetch((const char *)rows[0], NR, w->row_bytes, k * 2);
        bf16_step(acc, rows, xs, k, false, 0, NR, NT);
    }
    if (k < n) bf16_step(acc, rows, xs, k, true, (__mmask32)((1u << (n - k)) - 1), NR, NT);
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) out_of(job, b + t)[r + i] = bf16_hsum(acc[i][t]);
}

/* A tile of nr (AVX512_ROWS or 1) bf16 rows x nt (1..AVX512_TOKS) inputs with VDPBF16PS. */
BF16_TARGET static void bf16_tile(const matmul_job *job, const mf_inputs *x, int64_t r, int nr, int b, int nt,
                                  const bool prefetch) {
    const slm_type T = SLM_TYPE_BF16;
    if (nr == AVX512_ROWS) AVX512_NT_SWITCH(bf16_tile_body, AVX512_ROWS)
    else AVX512_NT_SWITCH(bf16_tile_body, 1)
}
#undef AVX512_NT_SWITCH

/* Rows [lo, hi) x every input with the AVX-512 tiles (bf16 weights with VDPBF16PS where the
 * CPU has it): one row at a time for one input and 16-bit weights, else groups of AVX512_ROWS
 * rows (the rows left over one at a time). */
AVX512_TARGET static void avx512_rows(const matmul_job *job, const mf_inputs *x, int n_tok, int64_t lo, int64_t hi) {
    const slm_type type = job->w->type;
    const bool dp_bf16 = type == SLM_TYPE_BF16 && kernels_avx512_bf16();
    const int64_t block = block_rows(job->w->row_bytes, AVX512_ROWS);
    for (int64_t r0 = lo; r0 < hi; r0 += block) {
        const int64_t r1 = hi - r0 < block ? hi : r0 + block;
        for (int b = 0; b < n_tok; b += AVX512_TOKS) {
            const int nt = n_tok - b < AVX512_TOKS ? n_tok - b : AVX512_TOKS;
            for (int64_t r = r0; r < r1;) {
                const int nr = r1 - r >= AVX512_ROWS && (n_tok > 1 || type == SLM_TYPE_F32) ? AVX512_ROWS : 1;
                const bool prefetch = b == 0 && (nr == 1 || hi - r >= 2 * AVX512_ROWS);
                if (dp_bf16) bf16_tile(job, x, r, nr, b, nt, prefetch);
                else if (type == SLM_TYPE_F16) avx512_tile_t(job, x, r, nr, b, nt, prefetch, SLM_TYPE_F16);
                else if (type == SLM_TYPE_BF16) avx512_tile_t(job, x, r, nr, b, nt, prefetch, SLM_TYPE_BF16);
                else avx512_tile_t(job, x, r, nr, b, nt, prefetch, SLM_TYPE_F32);
                r += nr;
            }
        }
    }
}

/* ---------------------------------------------------------------- choice */

/* dot(bf16 row, bf16 input) of n elements, in order: the scalar set's bf16 product. */
static float dot_bf16_bf16(const uint16_t *w, const uint16_t *x, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += slm_bf16_to_f32(w[i]) * slm_bf16_to_f32(x[i]);
    return s;
}

/* The AVX-512 tiles, else the AVX2 ones, else one scalar dot per output. */
void matmul_float_rows(const matmul_job *job, const float *x, const qdot_inputs *in, int n_tok, int ld_x, int64_t lo,
                       int64_t hi) {
    const mf_inputs inputs = {x, ld_x, in};
    if (kernels_avx512()) avx512_rows(job, &inputs, n_tok, lo, hi);
    else if (kernels_simd_tiles()) avx2_rows(job, &inputs, n_tok, lo, hi);
    else if (job->w->type == SLM_TYPE_BF16)
        for (int64_t r = lo; r < hi; r++)
            for (int b = 0; b < n_tok; b++)
                out_of(job, b)[r] = dot_bf16_bf16(slm_tensor_row(job->w, r), mf_input(&inputs, SLM_TYPE_BF16, b), job->w->ne[0]);
    else
        for (int64_t r = lo; r < hi; r++)
            for (int b = 0; b < n_tok; b++) out_of(job, b)[r] = dot_row(job->w, r, x + (int64_t)b * ld_x);
}
