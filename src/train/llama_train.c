/* llama_train.c — the Llama of models/llama.c, trainable: parameters, gradients and activations
 * each in one buffer sized once from the config, seeded initialisation, and the forward and
 * backward passes over a (B, T) batch written op by op from train/ops.c:
 *   x = embed[tokens]
 *   per layer:  x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))   n = RMSNorm
 *               x += Wdown · (silu(Wgate·n(x)) * Wup·n(x))
 *   loss = cross_entropy(Wout · n(x), targets) */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "train/float_arena.h"
#include "train/ops.h"
#include "train/train.h"

static_assert(sizeof(train_params) == TP_COUNT * sizeof(float *), "train_params is TP_COUNT pointers");

/* ---------------------------------------------------------------- parameters */

void train_param_sizes(const train_config *c, size_t s[TP_COUNT]) {
    const size_t V = (size_t)c->V, C = (size_t)c->C, F = (size_t)c->F, L = (size_t)c->L;
    const size_t Q = (size_t)c->NH * c->hd, KV = (size_t)c->KVH * c->hd;
    s[TP_TOK_EMBD] = V * C;
    s[TP_ATTN_NORM] = L * C;
    s[TP_WQ] = L * Q * C;
    s[TP_WK] = L * KV * C;
    s[TP_WV] = L * KV * C;
    s[TP_WO] = L * C * Q;
    s[TP_FFN_NORM] = L * C;
    s[TP_W_GATE] = L * F * C;
    s[TP_W_UP] = L * F * C;
    s[TP_W_DOWN] = L * C * F;
    s[TP_OUTPUT_NORM] = C;
    s[TP_OUTPUT] = c->tied ? 0 : V * C;
}

float **train_param_array(train_params *p) { return (float **)p; }

void train_param_point(const train_config *cfg, train_params *p, float *mem) {
    size_t sizes[TP_COUNT];
    train_param_sizes(cfg, sizes);
    float **ptr = train_param_array(p);
    for (int i = 0; i < TP_COUNT; i++) {
        ptr[i] = mem;
        mem += sizes[i];
    }
    if (cfg->tied) p->output = p->tok_embd;
}

/* ---------------------------------------------------------------- activations */

/* Sizes of the train_acts arrays, in struct order. */
enum { N_ACTS = sizeof(train_acts) / sizeof(float *), N_GRAD_ACTS = sizeof(train_grad_acts) / sizeof(float *) };
static_assert(sizeof(train_acts) == N_ACTS * sizeof(float *), "train_acts is pointers");
static_assert(sizeof(train_grad_acts) == N_GRAD_ACTS * sizeof(float *), "train_grad_acts is pointers");

static void acts_sizes(const train_config *c, int B, int T, size_t s[N_ACTS]) {
    const size_t N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F, L = (size_t)c->L, V = (size_t)c->V;
    const size_t Q = (size_t)c->NH * c->hd, KV = (size_t)c->KVH * c->hd;
    size_t i = 0;
    s[i++] = (L + 1) * N * C;              /* x */
    s[i++] = L * N * C;                    /* ln1 */
    s[i++] = L * N;                        /* ln1_rstd */
    s[i++] = L * N * Q;                    /* q */
    s[i++] = L * N * KV;                   /* k */
    s[i++] = L * N * KV;                   /* v */
    s[i++] = L * B * (size_t)c->NH * T * T; /* att */
    s[i++] = L * N * Q;                    /* atty */
    s[i++] = L * N * C;                    /* xa */
    s[i++] = L * N * C;                    /* ln2 */
    s[i++] = L * N;                        /* ln2_rstd */
    s[i++] = L * N * F;                    /* gate */
    s[i++] = L * N * F;                    /* up */
    s[i++] = L * N * F;                    /* hact */
    s[i++] = N * C;                        /* lnf */
    s[i++] = N;                            /* lnf_rstd */
    s[i++] = N * V;                        /* probs */
    s[i++] = N;                            /* losses */
    s[i++] = (size_t)T * (c->hd / 2);      /* rope_cos */
    s[i++] = (size_t)T * (c->hd / 2);      /* rope_sin */
    assert(i == N_ACTS);
}

static void grad_acts_sizes(const train_config *c, int B, int T, size_t s[N_GRAD_ACTS]) {
    const size_t N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F;
    const size_t Q = (size_t)c->NH * c->hd, KV = (size_t)c->KVH * c->hd;
    const size_t sizes[N_GRAD_ACTS] = {N * C, N * C, N * Q, N * Q, N * KV, N * KV, N * F, N * F, N * F,
                                       (size_t)B * c->KVH * T * T};
    memcpy(s, sizes, sizeof sizes);
}

size_t train_acts_floats(const train_config *cfg, int B, int T) {
    size_t s[N_ACTS];
    acts_sizes(cfg, B, T, s);
    return float_arena_total(s, N_ACTS);
}

size_t train_grad_acts_floats(const train_config *cfg, int B, int T) {
    size_t s[N_GRAD_ACTS];
    grad_acts_sizes(cfg, B, T, s);
    return float_arena_total(s, N_GRAD_ACTS);
}

void train_acts_point(const train_config *cfg, int B, int T, train_acts *a, float *mem) {
    size_t s[N_ACTS];
    acts_sizes(cfg, B, T, s);
    float_arena_point((float **)a, s, N_ACTS, mem);
    rope_tables(a->rope_cos, a->rope_sin, T, cfg->hd, cfg->rope_base);
}

void train_grad_acts_point(const train_config *cfg, int B, int T, train_grad_acts *g, float *mem) {
    size_t s[N_GRAD_ACTS];
    grad_acts_sizes(cfg, B, T, s);
    float_arena_point((float **)g, s, N_GRAD_ACTS, mem);
}

/* ---------------------------------------------------------------- allocation and init */

slm_status train_model_alloc(train_model *m, const train_config *cfg, int B, int T) {
    memset(m, 0, sizeof *m);
    const train_config *c = cfg;
    if (c->V < 1 || c->C < 1 || c->F < 1 || c->L < 1 || c->NH < 1 || c->KVH < 1 || c->hd < 2 || c->hd % 2 ||
        c->NH % c->KVH || B < 1 || T < 1)
        return slm_error(SLM_ERR_INVALID_ARG,
                         "train: bad shape (vocab %d, embd %d, ff %d, layers %d, heads %d/%d, head size %d, batch %d x %d)",
                         c->V, c->C, c->F, c->L, c->NH, c->KVH, c->hd, B, T);
    /* every index is an int in the ops: keep each array's rows and the attention below 2^31 */
    const double N = (double)B * T, widest = fmax(fmax(c->C, c->F), fmax((double)c->NH * c->hd, c->V));
    if (N * widest > 2e9 || (double)B * c->NH * T * T > 2e9 || (double)c->V * c->C > 2e9)
        return slm_error(SLM_ERR_INVALID_ARG, "train: batch %d x %d is too large for this model", B, T);
    m->cfg = *cfg;
    m->B = B;
    m->T = T;
    train_param_sizes(cfg, m->sizes);
    m->n_params = float_arena_total(m->sizes, TP_COUNT);
    const size_t pb = m->n_params * sizeof(float);
    m->params_mem = slm_aligned_alloc(pb, "parameters");
    m->grads_mem = slm_aligned_alloc(pb, "gradients");
    m->m_mem = slm_aligned_alloc(pb, "AdamW first moments");
    m->v_mem = slm_aligned_alloc(pb, "AdamW second moments");
    m->acts_mem = slm_aligned_alloc(train_acts_floats(cfg, B, T) * sizeof(float), "activations");
    m->gacts_mem = slm_aligned_alloc(train_grad_acts_floats(cfg, B, T) * sizeof(float), "activation gradients");
    if (!m->params_mem || !m->grads_mem || !m->m_mem || !m->v_mem || !m->acts_mem || !m->gacts_mem) {
        train_model_free(m);
        return SLM_ERR_NOMEM;
    }
    train_param_point(cfg, &m->params, m->params_mem);
    train_param_point(cfg, &m->grads, m->grads_mem);
    train_acts_point(cfg, B, T, &m->acts, m->acts_mem);
    train_grad_acts_point(cfg, B, T, &m->gacts, m->gacts_mem);
    return SLM_OK;
}

void train_model_free(train_model *m) {
    slm_aligned_free(m->params_mem);
    slm_aligned_free(m->grads_mem);
    slm_aligned_free(m->m_mem);
    slm_aligned_free(m->v_mem);
    slm_aligned_free(m->acts_mem);
    slm_aligned_free(m->gacts_mem);
    memset(m, 0, sizeof *m);
}

void train_model_init(train_model *m, uint64_t seed) {
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    const float std = 0.02f, std_proj = 0.02f / sqrtf(2.0f * m->cfg.L);
    float **p = train_param_array(&m->params);
    for (int i = 0; i < TP_COUNT; i++) {
        const int is_norm = i == TP_ATTN_NORM || i == TP_FFN_NORM || i == TP_OUTPUT_NORM;
        const float s = i == TP_WO || i == TP_W_DOWN ? std_proj : std;
        for (size_t j = 0; j < m->sizes[i]; j++) p[i][j] = is_norm ? 1.0f : s * slm_rng_normal(&rng);
    }
}

/* ---------------------------------------------------------------- forward and backward */

float train_model_forward(train_model *m, const int32_t *tokens, const int32_t *targets, int Bu) {
    const train_config *c = &m->cfg;
    const int T = m->T, N = Bu * T, C = c->C, F = c->F, NH = c->NH, KVH = c->KVH, hd = c->hd;
    const int Q = NH * hd, KV = KVH * hd;
    const size_t NC = (size_t)m->B * T * C, NQ = (size_t)m->B * T * Q, NKV = (size_t)m->B * T * KV;
    const size_t NF = (size_t)m->B * T * F, NR = (size_t)m->B * T, NA = (size_t)m->B * NH * T * T;
    const train_params *w = &m->params;
    train_acts *a = &m->acts;
    embedding_forward(a->x, tokens, w->tok_embd, N, C);
    for (int l = 0; l < c->L; l++) {
        float *x = a->x + l * NC, *ln1 = a->ln1 + l * NC, *q = a->q + l * NQ, *k = a->k + l * NKV;
        float *v = a->v + l * NKV, *att = a->att + l * NA, *atty = a->atty + l * NQ, *xa = a->xa + l * NC;
        float *ln2 = a->ln2 + l * NC, *gate = a->gate + l * NF, *up = a->up + l * NF, *hact = a->hact + l * NF;
        float *x_next = a->x + (l + 1) * NC;
        rmsnorm_forward(ln1, a->ln1_rstd + l * NR, x, w->attn_norm + (size_t)l * C, N, C, c->norm_eps);
        matmul_forward(q, ln1, w->wq + (size_t)l * Q * C, N, C, Q);
        matmul_forward(k, ln1, w->wk + (size_t)l * KV * C, N, C, KV);
        matmul_forward(v, ln1, w->wv + (size_t)l * KV * C, N, C, KV);
        rope_forward(q, a->rope_cos, a->rope_sin, Bu, T, NH, hd);
        rope_forward(k, a->rope_cos, a->rope_sin, Bu, T, KVH, hd);
        attention_forward(atty, att, q, k, v, Bu, T, NH, KVH, hd);
        matmul_forward(xa, atty, w->wo + (size_t)l * C * Q, N, Q, C);
        residual_forward(xa, xa, x, (int64_t)N * C);
        rmsnorm_forward(ln2, a->ln2_rstd + l * NR, xa, w->ffn_norm + (size_t)l * C, N, C, c->norm_eps);
        matmul_forward(gate, ln2, w->w_gate + (size_t)l * F * C, N, C, F);
        matmul_forward(up, ln2, w->w_up + (size_t)l * F * C, N, C, F);
        swiglu_forward(hact, gate, up, (int64_t)N * F);
        matmul_forward(x_next, hact, w->w_down + (size_t)l * C * F, N, F, C);
        residual_forward(x_next, x_next, xa, (int64_t)N * C);
    }
    rmsnorm_forward(a->lnf, a->lnf_rstd, a->x + c->L * NC, w->output_norm, N, C, c->norm_eps);
    matmul_forward(a->probs, a->lnf, w->output, N, C, c->V);
    if (!targets) return 0.0f;
    return crossentropy_forward(a->losses, a->probs, a->probs, targets, N, c->V);
}

void train_model_backward(train_model *m, const int32_t *tokens, const int32_t *targets, int Bu, float dloss) {
    const train_config *c = &m->cfg;
    const int T = m->T, N = Bu * T, C = c->C, F = c->F, NH = c->NH, KVH = c->KVH, hd = c->hd;
    const int Q = NH * hd, KV = KVH * hd;
    const size_t NC = (size_t)m->B * T * C, NQ = (size_t)m->B * T * Q, NKV = (size_t)m->B * T * KV;
    const size_t NF = (size_t)m->B * T * F, NR = (size_t)m->B * T, NA = (size_t)m->B * NH * T * T;
    const train_params *w = &m->params;
    const train_params *g = &m->grads;
    const train_acts *a = &m->acts;
    const train_grad_acts *d = &m->gacts;
    const size_t nc = (size_t)N * C, nq = (size_t)N * Q, nkv = (size_t)N * KV, nf = (size_t)N * F;

    /* loss -> logits -> final norm; dx is the gradient of the residual stream from here down */
    crossentropy_backward(a->probs, a->probs, targets, dloss, N, c->V);
    memset(d->dln, 0, nc * sizeof(float));
    memset(d->dx, 0, nc * sizeof(float));
    matmul_backward(d->dln, g->output, a->probs, a->lnf, w->output, N, C, c->V);
    rmsnorm_backward(d->dx, g->output_norm, d->dln, a->x + c->L * NC, w->output_norm, a->lnf_rstd, N, C);

    for (int l = c->L - 1; l >= 0; l--) {
        const float *x = a->x + l * NC, *ln1 = a->ln1 + l * NC, *q = a->q + l * NQ, *k = a->k + l * NKV;
        const float *v = a->v + l * NKV, *att = a->att + l * NA, *atty = a->atty + l * NQ, *xa = a->xa + l * NC;
        const float *ln2 = a->ln2 + l * NC, *gate = a->gate + l * NF, *up = a->up + l * NF, *hact = a->hact + l * NF;
        /* x_next = xa + Wdown · hact: dx passes to xa unchanged, and into the feed-forward */
        memset(d->dhact, 0, nf * sizeof(float));
        memset(d->dgate, 0, nf * sizeof(float));
        memset(d->dup, 0, nf * sizeof(float));
        memset(d->dln, 0, nc * sizeof(float));
        matmul_backward(d->dhact, g->w_down + (size_t)l * C * F, d->dx, hact, w->w_down + (size_t)l * C * F, N, F, C);
        swiglu_backward(d->dgate, d->dup, d->dhact, gate, up, (int64_t)N * F);
        matmul_backward(d->dln, g->w_gate + (size_t)l * F * C, d->dgate, ln2, w->w_gate + (size_t)l * F * C, N, C, F);
        matmul_backward(d->dln, g->w_up + (size_t)l * F * C, d->dup, ln2, w->w_up + (size_t)l * F * C, N, C, F);
        rmsnorm_backward(d->dx, g->ffn_norm + (size_t)l * C, d->dln, xa, w->ffn_norm + (size_t)l * C,
                         a->ln2_rstd + l * NR, N, C);
        /* xa = x + Wo · atty */
        memset(d->datty, 0, nq * sizeof(float));
        memset(d->dq, 0, nq * sizeof(float));
        memset(d->dk, 0, nkv * sizeof(float));
        memset(d->dv, 0, nkv * sizeof(float));
        memset(d->dln, 0, nc * sizeof(float));
        matmul_backward(d->datty, g->wo + (size_t)l * C * Q, d->dx, atty, w->wo + (size_t)l * C * Q, N, Q, C);
        attention_backward(d->dq, d->dk, d->dv, d->scratch, d->datty, q, k, v, att, Bu, T, NH, KVH, hd);
        rope_backward(d->dq, a->rope_cos, a->rope_sin, Bu, T, NH, hd);
        rope_backward(d->dk, a->rope_cos, a->rope_sin, Bu, T, KVH, hd);
        matmul_backward(d->dln, g->wq + (size_t)l * Q * C, d->dq, ln1, w->wq + (size_t)l * Q * C, N, C, Q);
        matmul_backward(d->dln, g->wk + (size_t)l * KV * C, d->dk, ln1, w->wk + (size_t)l * KV * C, N, C, KV);
        matmul_backward(d->dln, g->wv + (size_t)l * KV * C, d->dv, ln1, w->wv + (size_t)l * KV * C, N, C, KV);
        rmsnorm_backward(d->dx, g->attn_norm + (size_t)l * C, d->dln, x, w->attn_norm + (size_t)l * C,
                         a->ln1_rstd + l * NR, N, C);
    }
    embedding_backward(g->tok_embd, d->dx, tokens, N, C);
}
