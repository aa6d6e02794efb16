/* lora.c — the LoRA linear layer (see lora.h): the frozen product and the two thin adapter
 * products through cblas_sgemm, with OpenBLAS using as many threads as the pool. */
#include "train/lora.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "base/rng.h"
#include "base/threadpool.h"

static void blas_threads_as_pool(void) {
    const int n = slm_pool_threads();
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

void lora_forward(const lora_linear *l, float *out, float *xa, const float *inp, int N) {
    blas_threads_as_pool();
    const int IC = l->IC, OC = l->OC, r = l->r;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, l->w, IC, 0.0f, out, OC);
    if (l->bias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += l->bias[o];
    if (!l->a) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, IC, 1.0f, inp, IC, l->a, IC, 0.0f, xa, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, r, l->scale, xa, r, l->b, r, 1.0f, out, OC);
}

void lora_backward(const lora_linear *l, float *dinp, float *scratch, const float *dout, const float *inp,
                   const float *xa, int N) {
    blas_threads_as_pool();
    const int IC = l->IC, OC = l->OC, r = l->r;
    if (dinp) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, l->w, IC, 1.0f, dinp, IC);
    if (!l->a) return;
    /* dB (OC, r) += scale dout^T xa; dxa = scale dout B (N, r); dA (r, IC) += dxa^T inp; dinp += dxa A */
    if (l->db) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, r, N, l->scale, dout, OC, xa, r, 1.0f, l->db, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, OC, l->scale, dout, OC, l->b, r, 0.0f, scratch, r);
    if (l->da) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, IC, N, 1.0f, scratch, r, inp, IC, 1.0f, l->da, IC);
    if (dinp) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, r, 1.0f, scratch, r, l->a, IC, 1.0f, dinp, IC);
}

void lora_init(float *a, float *b, int r, int IC, int OC, uint64_t seed) {
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    const float bound = 1.0f / sqrtf((float)IC);
    for (size_t i = 0; i < (size_t)r * IC; i++) a[i] = (2.0f * slm_rng_f32(&rng) - 1.0f) * bound;
    memset(b, 0, sizeof(float) * (size_t)OC * r);
}
