/* adamw.c — the optimiser: AdamW with decoupled weight decay and bias correction, the
 * warmup + cosine learning-rate schedule, and the global gradient norm used for clipping.
 * The element-wise work is split over the thread pool. */
#include <math.h>

#include "base/threadpool.h"
#include "train/train.h"

float train_lr_at(const slm_train_params *p, int step) {
    if (p->warmup_steps > 0 && step < p->warmup_steps) return p->lr * (float)(step + 1) / (float)p->warmup_steps;
    if (p->total_steps <= 0) return p->lr;
    const int span = p->total_steps - p->warmup_steps;
    double ratio = span > 0 ? (double)(step - p->warmup_steps) / span : 1.0;
    if (ratio > 1.0) ratio = 1.0;
    const double coeff = 0.5 * (1.0 + cos(M_PI * ratio));
    return (float)(p->min_lr + coeff * (p->lr - p->min_lr));
}

/* Elements per unit of work when splitting over threads. */
#define CHUNK 16384
#define MAX_THREADS 256

typedef struct {
    const float *g;
    size_t n;
    double partial[MAX_THREADS];
} norm_ctx;

static void norm_part(void *arg, int ith, int nth) {
    norm_ctx *c = arg;
    const size_t per = (c->n + (size_t)nth - 1) / (size_t)nth;
    const size_t i0 = per * (size_t)ith, i1 = i0 + per < c->n ? i0 + per : c->n;
    double s = 0.0;
    for (size_t i = i0; i < i1; i++) s += (double)c->g[i] * c->g[i];
    c->partial[ith] = s;
}

float train_grad_norm(const float *g, size_t n) {
    norm_ctx c = {.g = g, .n = n};
    const int nth = slm_pool_threads(), parts = n < CHUNK || nth > MAX_THREADS ? 1 : nth;
    if (parts == 1) norm_part(&c, 0, 1);
    else slm_pool_run(norm_part, &c);
    double total = 0.0;
    for (int i = 0; i < parts; i++) total += c.partial[i];
    return (float)sqrt(total);
}

typedef struct {
    float *p, *m, *v;
    const float *g;
    size_t n;
    float lr, beta1, beta2, eps, wd, scale, bc1, bc2_sqrt;
} adamw_ctx;

/* As torch.optim.AdamW: p *= 1 - lr wd; m, v moments; p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps). */
static void adamw_part(void *arg, int ith, int nth) {
    const adamw_ctx *c = arg;
    const size_t per = (c->n + (size_t)nth - 1) / (size_t)nth;
    const size_t i0 = per * (size_t)ith, i1 = i0 + per < c->n ? i0 + per : c->n;
    const float decay = 1.0f - c->lr * c->wd, step = c->lr / c->bc1;
    for (size_t i = i0; i < i1; i++) {
        const float g = c->g[i] * c->scale;
        const float m = c->beta1 * c->m[i] + (1.0f - c->beta1) * g;
        const float v = c->beta2 * c->v[i] + (1.0f - c->beta2) * g * g;
        c->m[i] = m;
        c->v[i] = v;
        c->p[i] = c->p[i] * decay - step * m / (sqrtf(v) / c->bc2_sqrt + c->eps);
    }
}

void train_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                 float eps, float weight_decay, float grad_scale, int t) {
    adamw_ctx c = {p, m, v, g, n, lr, beta1, beta2, eps, weight_decay, grad_scale,
                   1.0f - powf(beta1, (float)t), sqrtf(1.0f - powf(beta2, (float)t))};
    if (n < CHUNK) adamw_part(&c, 0, 1);
    else slm_pool_run(adamw_part, &c);
}
