/* bert.c — the BERT encoder: hyper-parameters and weights from a GGUF file (llama.cpp's
 * "bert" layout, any weight type converted to f32), and the batched forward pass:
 *   x = LayerNorm(tok[id] + pos[t] + type[0])
 *   per block: x = LayerNorm(x + Wo·attention(Wq x, Wk x, Wv x));  x = LayerNorm(x + Wd·gelu(Wu x))
 * with every linear map carrying a bias, attention bidirectional and masked to each
 * sentence's real tokens; then mean (or [CLS]) pooling and L2 normalisation. */
#include "models/bert.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "formats/gguf.h"
#include "kernels/kernels.h"
#include "tensor/quants.h"
#include "tensor/types.h"
#include "tokenizer/tokenizer.h"

/* ------------------------------------------------------------------ weights */

slm_status bert_alloc_tensors(bert_model *m, int n, char *const *names, const int64_t *ne0, const int64_t *ne1) {
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        uint64_t e;
        if (ne0[i] <= 0 || ne1[i] <= 0 || !slm_mul_ok((uint64_t)ne0[i], (uint64_t)ne1[i], &e) || !slm_add_ok(total, (e + 15) / 16 * 16, &total) ||
            total > (1ull << 36))
            return slm_error(SLM_ERR_FORMAT, "tensor '%s' has a bad shape (%lld, %lld)", names[i], (long long)ne1[i], (long long)ne0[i]);
    }
    m->tensors = slm_calloc((size_t)n, sizeof(bert_tensor), "tensor table");
    m->block = slm_aligned_alloc(total * sizeof(float), "f32 weights");
    if (!m->tensors || !m->block) return SLM_ERR_NOMEM;
    float *p = m->block;
    for (int i = 0; i < n; i++) {
        bert_tensor *t = &m->tensors[i];
        if (!(t->name = slm_strndup(names[i], strlen(names[i])))) return SLM_ERR_NOMEM;
        t->ne0 = ne0[i];
        t->ne1 = ne1[i];
        t->data = p;
        m->n_tensors = i + 1;
        p += ((uint64_t)ne0[i] * (uint64_t)ne1[i] + 15) / 16 * 16;
    }
    return SLM_OK;
}

const bert_tensor *bert_find(const bert_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* The data of tensor name, checked to be (rows, cols); rows == 1 for a vector. */
static const float *need(const bert_model *m, const char *name, int64_t rows, int64_t cols, slm_status *st) {
    if (*st != SLM_OK) return NULL;
    const bert_tensor *t = bert_find(m, name);
    if (!t) {
        *st = slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' is missing", m->name, name);
        return NULL;
    }
    if (t->ne0 != cols || t->ne1 != rows) {
        *st = slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' is (%lld, %lld); expected (%lld, %lld)", m->name, name, (long long)t->ne1,
                        (long long)t->ne0, (long long)rows, (long long)cols);
        return NULL;
    }
    return t->data;
}

slm_status bert_bind(bert_model *m) {
    const bert_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff;
    slm_status st = SLM_OK;
    m->tok_embd = need(m, "token_embd.weight", hp->n_vocab, E, &st);
    m->type_embd = need(m, "token_types.weight", hp->n_token_types, E, &st);
    m->pos_embd = need(m, "position_embd.weight", hp->n_ctx_train, E, &st);
    m->embd_ln_w = need(m, "token_embd_norm.weight", 1, E, &st);
    m->embd_ln_b = need(m, "token_embd_norm.bias", 1, E, &st);
    if (st != SLM_OK) return st;
    m->layers = slm_calloc((size_t)hp->n_layer, sizeof(bert_layer), "layers");
    if (!m->layers) return SLM_ERR_NOMEM;
    for (int l = 0; l < hp->n_layer && st == SLM_OK; l++) {
        bert_layer *L = &m->layers[l];
        char name[64];
#define W(field, suffix, rows, cols) (snprintf(name, sizeof name, "blk.%d.%s", l, suffix), L->field = need(m, name, rows, cols, &st))
        W(wq, "attn_q.weight", E, E), W(bq, "attn_q.bias", 1, E);
        W(wk, "attn_k.weight", E, E), W(bk, "attn_k.bias", 1, E);
        W(wv, "attn_v.weight", E, E), W(bv, "attn_v.bias", 1, E);
        W(wo, "attn_output.weight", E, E), W(bo, "attn_output.bias", 1, E);
        W(ln1_w, "attn_output_norm.weight", 1, E), W(ln1_b, "attn_output_norm.bias", 1, E);
        W(w_up, "ffn_up.weight", F, E), W(b_up, "ffn_up.bias", 1, F);
        W(w_down, "ffn_down.weight", E, F), W(b_down, "ffn_down.bias", 1, E);
        W(ln2_w, "layer_output_norm.weight", 1, E), W(ln2_b, "layer_output_norm.bias", 1, E);
#undef W
    }
    return st;
}

void bert_free(bert_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_tensors; i++) free(m->tensors[i].name);
    free(m->tensors);
    slm_aligned_free(m->block);
    free(m->layers);
    free(m->name);
    slm_tokenizer_free(m->tokenizer);
    free(m);
}

int bert_n_tensors(const bert_hparams *hp) { return 5 + 16 * hp->n_layer; }

void bert_tensor_name(int i, char *buf, size_t cap, int hf) {
    /* GGUF names and the Hugging Face BertModel names they come from */
    static const char *const globals[5][2] = {
        {"token_embd.weight", "embeddings.word_embeddings.weight"},
        {"token_types.weight", "embeddings.token_type_embeddings.weight"},
        {"position_embd.weight", "embeddings.position_embeddings.weight"},
        {"token_embd_norm.weight", "embeddings.LayerNorm.weight"},
        {"token_embd_norm.bias", "embeddings.LayerNorm.bias"},
    };
    static const char *const per_layer[8][2] = {
        {"attn_q", "attention.self.query"},        {"attn_k", "attention.self.key"},
        {"attn_v", "attention.self.value"},        {"attn_output", "attention.output.dense"},
        {"attn_output_norm", "attention.output.LayerNorm"}, {"ffn_up", "intermediate.dense"},
        {"ffn_down", "output.dense"},              {"layer_output_norm", "output.LayerNorm"},
    };
    if (i < 5) snprintf(buf, cap, "%s", globals[i][hf]);
    else
        snprintf(buf, cap, "%s.%d.%s.%s", hf ? "encoder.layer" : "blk", (i - 5) / 16, per_layer[((i - 5) % 16) / 2][hf],
                 (i - 5) % 2 ? "bias" : "weight");
}

/* ------------------------------------------------------------------ GGUF */

static slm_status gguf_hparam(const gguf_file *f, const char *key, int required, int64_t lo, int64_t hi, int *out) {
    int64_t v;
    if (!gguf_get_int(f, key, &v)) {
        if (!required) return SLM_OK;
        return slm_error(SLM_ERR_FORMAT, "%s: metadata key %s is missing or not an integer", f->file.path, key);
    }
    if (v < lo || v > hi)
        return slm_error(SLM_ERR_FORMAT, "%s: %s = %lld is out of range [%lld, %lld]", f->file.path, key, (long long)v, (long long)lo,
                         (long long)hi);
    *out = (int)v;
    return SLM_OK;
}

/* Converts GGUF tensor t to n f32 values. */
static slm_status gguf_to_f32(const gguf_file *f, const gguf_tensor *t, float *out) {
    const int64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (t->type == SLM_TYPE_F32) memcpy(out, t->data, (size_t)(cols * rows) * 4);
    else if (t->type == SLM_TYPE_F16 || t->type == SLM_TYPE_BF16) {
        const uint16_t *h = t->data;
        for (int64_t i = 0; i < cols * rows; i++) out[i] = t->type == SLM_TYPE_F16 ? slm_f16_to_f32(h[i]) : slm_bf16_to_f32(h[i]);
    } else if (quant_type_supported((slm_type)t->type)) {
        uint64_t row_bytes;
        if (!slm_type_row_bytes((slm_type)t->type, (uint64_t)cols, &row_bytes))
            return slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' rows of %lld do not fit its type's blocks", f->file.path, t->name, (long long)cols);
        for (int64_t r = 0; r < rows; r++) dequantize_row((slm_type)t->type, (const uint8_t *)t->data + r * row_bytes, out + r * cols, cols);
    } else {
        const slm_type_traits *tr = slm_type_info(t->type);
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which slm cannot read", f->file.path, t->name, tr ? tr->name : "?");
    }
    return SLM_OK;
}

static slm_status load_gguf(const char *path, bert_model *m) {
    gguf_file f;
    slm_status st = gguf_open(path, &f);
    if (st != SLM_OK) return st;
    char *arch = gguf_get_string(&f, "general.architecture");
    if (!arch || strcmp(arch, "bert") != 0)
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: architecture '%s' is not a BERT encoder (expected 'bert')", path, arch ? arch : "(none)");
    free(arch);
    bert_hparams *hp = &m->hp;
    int pooling = BERT_POOL_MEAN;
    if (st == SLM_OK) st = gguf_hparam(&f, "bert.embedding_length", 1, 1, 1 << 16, &hp->n_embd);
    if (st == SLM_OK) st = gguf_hparam(&f, "bert.feed_forward_length", 1, 1, 1 << 18, &hp->n_ff);
    if (st == SLM_OK) st = gguf_hparam(&f, "bert.block_count", 1, 1, 1024, &hp->n_layer);
    if (st == SLM_OK) st = gguf_hparam(&f, "bert.attention.head_count", 1, 1, 1024, &hp->n_head);
    if (st == SLM_OK) st = gguf_hparam(&f, "bert.context_length", 1, 1, 1 << 20, &hp->n_ctx_train);
    if (st == SLM_OK) st = gguf_hparam(&f, "bert.pooling_type", 0, 0, 2, &pooling);
    if (st == SLM_OK) st = gguf_hparam(&f, "slm.max_seq_length", 0, 1, 1 << 20, &hp->max_seq_length);
    hp->pooling = (bert_pooling)pooling;
    double eps = 1e-12;
    gguf_get_float(&f, "bert.attention.layer_norm_epsilon", &eps);
    hp->norm_eps = (float)eps;
    if (st == SLM_OK && hp->n_embd % hp->n_head)
        st = slm_error(SLM_ERR_FORMAT, "%s: embedding length %d is not a multiple of the %d heads", path, hp->n_embd, hp->n_head);
    if (st == SLM_OK) {
        const gguf_tensor *te = gguf_find_tensor(&f, "token_embd.weight"), *tt = gguf_find_tensor(&f, "token_types.weight");
        if (!te || !tt) st = slm_error(SLM_ERR_FORMAT, "%s: tensor %s is missing", path, te ? "token_types.weight" : "token_embd.weight");
        else {
            hp->n_vocab = (int)te->ne[1];
            hp->n_token_types = (int)tt->ne[1];
        }
    }
    /* the tensors a BERT uses, converted to f32 */
    const int n = bert_n_tensors(hp);
    char **names = st == SLM_OK ? slm_calloc((size_t)n, sizeof(char *), "names") : NULL;
    int64_t *ne0 = st == SLM_OK ? slm_calloc((size_t)n, sizeof(int64_t), "shapes") : NULL;
    int64_t *ne1 = st == SLM_OK ? slm_calloc((size_t)n, sizeof(int64_t), "shapes") : NULL;
    const gguf_tensor **src = st == SLM_OK ? slm_calloc((size_t)n, sizeof(gguf_tensor *), "tensors") : NULL;
    if (st == SLM_OK && (!names || !ne0 || !ne1 || !src)) st = SLM_ERR_NOMEM;
    for (int i = 0; i < n && st == SLM_OK; i++) {
        char buf[96];
        bert_tensor_name(i, buf, sizeof buf, 0);
        if (!(names[i] = slm_strndup(buf, strlen(buf)))) st = SLM_ERR_NOMEM;
        else if (!(src[i] = gguf_find_tensor(&f, buf))) st = slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' is missing", path, buf);
        else if (src[i]->ne[2] != 1 || src[i]->ne[3] != 1)
            st = slm_error(SLM_ERR_FORMAT, "%s: tensor '%s' has more than 2 dimensions", path, buf);
        else ne0[i] = src[i]->ne[0], ne1[i] = src[i]->ne[1];
    }
    if (st == SLM_OK) st = bert_alloc_tensors(m, n, names, ne0, ne1);
    for (int i = 0; i < n && st == SLM_OK; i++) st = gguf_to_f32(&f, src[i], m->tensors[i].data);
    if (names)
        for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ne0);
    free(ne1);
    free(src);
    if (st == SLM_OK && !(m->name = gguf_get_string(&f, "general.name"))) m->name = slm_strndup(path, strlen(path));
    if (st == SLM_OK) st = tokenizer_from_gguf(&f, &m->tokenizer);
    if (st == SLM_OK && m->tokenizer->kind != TOKENIZER_WPM)
        st = slm_error(SLM_ERR_FORMAT, "%s: a BERT model needs a WordPiece vocabulary (tokenizer.ggml.model \"bert\")", path);
    if (st == SLM_OK && m->tokenizer->n_vocab != hp->n_vocab)
        st = slm_error(SLM_ERR_FORMAT, "%s: the vocabulary has %d tokens but token_embd.weight has %d rows", path, m->tokenizer->n_vocab, hp->n_vocab);
    gguf_close(&f);
    return st;
}

slm_status bert_load(const char *path, bert_model **out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "bert_load: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return bert_load_hf(path, out);
    bert_model *m = slm_calloc(1, sizeof *m, "model");
    if (!m) return SLM_ERR_NOMEM;
    slm_status st = load_gguf(path, m);
    if (st == SLM_OK) st = bert_bind(m);
    if (st != SLM_OK) {
        bert_free(m);
        return st;
    }
    *out = m;
    return SLM_OK;
}

/* ------------------------------------------------------------------ forward */

struct bert_state {
    int max_tokens, max_seq, n_threads;
    float *x, *q, *k, *v, *ctx, *tmp; /* (max_tokens, E) */
    float *ff;                        /* (max_tokens, F) */
    float *scores;                    /* (n_threads, max_seq) */
};

slm_status bert_state_new(const bert_model *m, int max_tokens, int max_seq, bert_state **out) {
    *out = NULL;
    if (max_tokens <= 0 || max_seq <= 0 || max_seq > max_tokens)
        return slm_error(SLM_ERR_RANGE, "bert: batch of %d tokens, %d per sentence, is out of range", max_tokens, max_seq);
    bert_state *s = slm_calloc(1, sizeof *s, "encoder state");
    if (!s) return SLM_ERR_NOMEM;
    s->max_tokens = max_tokens;
    s->max_seq = max_seq;
    s->n_threads = slm_pool_threads();
    size_t NE = (size_t)max_tokens * (size_t)m->hp.n_embd;
    float **bufs[6] = {&s->x, &s->q, &s->k, &s->v, &s->ctx, &s->tmp};
    for (int i = 0; i < 6; i++) *bufs[i] = slm_aligned_alloc(NE * sizeof(float), "encoder activations");
    s->ff = slm_aligned_alloc((size_t)max_tokens * (size_t)m->hp.n_ff * sizeof(float), "encoder activations");
    s->scores = slm_aligned_alloc((size_t)s->n_threads * (size_t)max_seq * sizeof(float), "attention scores");
    if (!s->x || !s->q || !s->k || !s->v || !s->ctx || !s->tmp || !s->ff || !s->scores) {
        bert_state_free(s);
        return slm_error(SLM_ERR_NOMEM, "bert: out of memory for a batch of %d tokens", max_tokens);
    }
    *out = s;
    return SLM_OK;
}

void bert_state_free(bert_state *s) {
    if (!s) return;
    float *bufs[8] = {s->x, s->q, s->k, s->v, s->ctx, s->tmp, s->ff, s->scores};
    for (int i = 0; i < 8; i++) slm_aligned_free(bufs[i]);
    free(s);
}

/* OpenBLAS keeps its own threads: as many as the pool has. */
static void blas_match_pool(void) {
    const int n = slm_pool_threads();
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

/* out (N, OC) = in (N, IC) . w (OC, IC)^T + b. */
static void linear(float *out, const float *in, const float *w, const float *b, int N, int IC, int OC) {
    for (int i = 0; i < N; i++) memcpy(out + (size_t)i * OC, b, (size_t)OC * sizeof(float));
    blas_match_pool();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, in, IC, w, IC, 1.0f, out, OC);
}

/* Row-wise jobs on the pool: LayerNorm of x (+ add) and GELU. */
typedef struct {
    float *x;
    const float *add, *w, *b;
    int n_rows, n_cols;
    float eps;
} rows_job;

/* x = LayerNorm(x + add) (add may be NULL) with weight w and bias b. */
static void layernorm_rows(void *ctx, int ith, int nth) {
    const rows_job *j = ctx;
    int r0, r1;
    slm_split_range(j->n_rows, ith, nth, &r0, &r1);
    const int C = j->n_cols;
    for (int r = r0; r < r1; r++) {
        float *x = j->x + (size_t)r * C;
        if (j->add)
            for (int i = 0; i < C; i++) x[i] += j->add[(size_t)r * C + i];
        double mean = 0, var = 0;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= C;
        for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
        const float m = (float)mean, rstd = (float)(1.0 / sqrt(var / C + j->eps));
        for (int i = 0; i < C; i++) x[i] = (x[i] - m) * rstd * j->w[i] + j->b[i];
    }
}

/* x = gelu(x) = x/2 (1 + erf(x/sqrt 2)). */
static void gelu_rows(void *ctx, int ith, int nth) {
    const rows_job *j = ctx;
    int r0, r1;
    slm_split_range(j->n_rows, ith, nth, &r0, &r1);
    for (size_t i = (size_t)r0 * j->n_cols; i < (size_t)r1 * j->n_cols; i++)
        j->x[i] = 0.5f * j->x[i] * (1.0f + erff(j->x[i] * 0.70710678118654752f));
}

typedef struct {
    const bert_model *m;
    bert_state *s;
    const int *lens;
    int B, T;
} attn_job;

/* ctx = softmax(q k^T / sqrt(hd)) v per (sentence, head), keys limited to the sentence's
 * real tokens; rows of padding get zeros. */
static void attention_pairs(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    const int E = j->m->hp.n_embd, H = j->m->hp.n_head, hd = E / H, T = j->T;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = j->s->scores + (size_t)ith * j->s->max_seq;
    int p0, p1;
    slm_split_range(j->B * H, ith, nth, &p0, &p1);
    for (int p = p0; p < p1; p++) {
        const int b = p / H, h = p % H, n = j->lens[b];
        const size_t base = (size_t)b * T * E + (size_t)h * hd;
        for (int i = 0; i < T; i++) {
            float *o = j->s->ctx + base + (size_t)i * E;
            memset(o, 0, (size_t)hd * sizeof(float));
            if (i >= n) continue;
            const float *q = j->s->q + base + (size_t)i * E;
            float mx = -INFINITY;
            for (int t = 0; t < n; t++) {
                sc[t] = dot_f32(q, j->s->k + base + (size_t)t * E, (size_t)hd) * scale;
                if (sc[t] > mx) mx = sc[t];
            }
            float sum = 0;
            for (int t = 0; t < n; t++) sum += sc[t] = expf(sc[t] - mx);
            const float inv = 1.0f / sum;
            for (int t = 0; t < n; t++) {
                const float w = sc[t] * inv;
                const float *v = j->s->v + base + (size_t)t * E;
                for (int d = 0; d < hd; d++) o[d] += w * v[d];
            }
        }
    }
}

slm_status bert_encode(const bert_model *m, bert_state *s, const int32_t *tokens, const int *lens, int B, int T,
                       const float **hidden) {
    const bert_hparams *hp = &m->hp;
    const int E = hp->n_embd, F = hp->n_ff, N = B * T;
    if (B <= 0 || T <= 0 || N > s->max_tokens || T > s->max_seq)
        return slm_error(SLM_ERR_RANGE, "bert: a batch of %d x %d tokens does not fit the state (%d tokens, %d per sentence)", B, T,
                         s->max_tokens, s->max_seq);
    if (T > hp->n_ctx_train)
        return slm_error(SLM_ERR_RANGE, "bert: %d tokens per sentence is more than the model's %d positions", T, hp->n_ctx_train);
    if (s->n_threads < slm_pool_threads())
        return slm_error(SLM_ERR_INVALID_ARG, "bert: the thread pool grew after the state was made");
    for (int b = 0; b < B; b++)
        if (lens[b] < 1 || lens[b] > T) return slm_error(SLM_ERR_RANGE, "bert: sentence %d has length %d (1..%d)", b, lens[b], T);
    for (int i = 0; i < N; i++) {
        const int32_t id = tokens[i];
        if (id < 0 || id >= hp->n_vocab) return slm_error(SLM_ERR_RANGE, "bert: token id %d is outside the vocabulary (%d)", id, hp->n_vocab);
        const float *te = m->tok_embd + (size_t)id * E, *pe = m->pos_embd + (size_t)(i % T) * E, *ty = m->type_embd;
        float *x = s->x + (size_t)i * E;
        for (int c = 0; c < E; c++) x[c] = te[c] + pe[c] + ty[c];
    }
    rows_job ln = {s->x, NULL, m->embd_ln_w, m->embd_ln_b, N, E, hp->norm_eps};
    slm_pool_run(layernorm_rows, &ln);
    attn_job aj = {m, s, lens, B, T};
    for (int l = 0; l < hp->n_layer; l++) {
        const bert_layer *L = &m->layers[l];
        linear(s->q, s->x, L->wq, L->bq, N, E, E);
        linear(s->k, s->x, L->wk, L->bk, N, E, E);
        linear(s->v, s->x, L->wv, L->bv, N, E, E);
        slm_pool_run(attention_pairs, &aj);
        linear(s->tmp, s->ctx, L->wo, L->bo, N, E, E);
        rows_job ln1 = {s->x, s->tmp, L->ln1_w, L->ln1_b, N, E, hp->norm_eps};
        slm_pool_run(layernorm_rows, &ln1);
        linear(s->ff, s->x, L->w_up, L->b_up, N, E, F);
        rows_job g = {s->ff, NULL, NULL, NULL, N, F, 0};
        slm_pool_run(gelu_rows, &g);
        linear(s->tmp, s->ff, L->w_down, L->b_down, N, F, E);
        rows_job ln2 = {s->x, s->tmp, L->ln2_w, L->ln2_b, N, E, hp->norm_eps};
        slm_pool_run(layernorm_rows, &ln2);
    }
    if (hidden) *hidden = s->x;
    return SLM_OK;
}

void bert_pool(const float *hidden, const int *lens, int B, int T, int E, bert_pooling pooling, int normalize, float *out) {
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * E;
        const float *h = hidden + (size_t)b * T * E;
        if (pooling == BERT_POOL_CLS) memcpy(o, h, (size_t)E * sizeof(float));
        else {
            for (int c = 0; c < E; c++) {
                double sum = 0;
                for (int t = 0; t < lens[b]; t++) sum += h[(size_t)t * E + c];
                o[c] = (float)(sum / lens[b]);
            }
        }
        if (normalize) {
            double ss = 0;
            for (int c = 0; c < E; c++) ss += (double)o[c] * o[c];
            const double norm = sqrt(ss);
            const float inv = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));
            for (int c = 0; c < E; c++) o[c] *= inv;
        }
    }
}
