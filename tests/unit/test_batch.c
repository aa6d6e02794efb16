/* test_batch.c — slm_sessions_eval: sessions evaluated together in shared batches (mixed prompt
 * chunks and decoding rows, sessions joining late and idling) get the logits slm_session_eval
 * gives each alone, on stories260K (llama2.c, f32) and on random Llama / Qwen2 / Gemma 3 GGUFs
 * with quantised weights written here; bad input is an error that leaves every session as it was.
 * The matmul kernels sum each row in one order whatever the batch, so the logits agree exactly
 * (the check allows 1e-4; the largest difference is printed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rng.h"
#include "check.h"
#include "formats/gguf.h"
#include "models/model.h"
#include "runtime/runtime.h"
#include "tensor/quants.h"
#include "tensor/types.h"
#include "tokenizer/tokenizer.h"

static const char *g_data;

/* ---- random models ---- */

typedef struct {
    const char *arch;
    int n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, window; /* window 0: no sliding_window key */
    int biases, qk_norms, post_norms, untied_output;
} random_config;

/* A random model being written: the tensors' bytes stay alive until the file is written. */
typedef struct {
    gguf_writer *w;
    slm_rng rng;
    void *blocks[256];
    int n_blocks;
    slm_status st;
} model_writer;

/* Adds tensor `name` of (rows, cols) (rows 0: a vector of cols) with uniform values of standard
 * deviation scale around mean, quantised to type. */
static void add_random(model_writer *mw, const char *name, slm_type type, int64_t rows, int64_t cols, float mean, float scale) {
    if (mw->st != SLM_OK) return;
    int64_t n_rows = rows ? rows : 1;
    uint64_t row_bytes = 0;
    if (!slm_type_row_bytes(type, (uint64_t)cols, &row_bytes) || mw->n_blocks == 256) {
        mw->st = SLM_ERR_INVALID_ARG;
        return;
    }
    float *row = malloc((size_t)cols * sizeof(float));
    uint8_t *data = malloc((size_t)(row_bytes * (uint64_t)n_rows));
    mw->blocks[mw->n_blocks++] = data;
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t c = 0; c < cols; c++) row[c] = mean + scale * 1.7320508f * (2.0f * slm_rng_f32(&mw->rng) - 1.0f);
        quantize_row(type, row, data + (size_t)r * row_bytes, cols);
    }
    free(row);
    int64_t ne[2] = {cols, rows};
    mw->st = gguf_writer_add_tensor(mw->w, name, type, rows ? 2 : 1, ne, data, row_bytes * (uint64_t)n_rows);
}

/* Writes a random model of config c with the tokenizer tok (its vocabulary sets n_vocab): weights
 * in a mix of quantised types (q8_0 embedding, q4_K / q6_K / q8_0 / q4_0 / q5_0 matrices), f32
 * norms and biases. */
static slm_status write_random_model(const char *path, const random_config *c, const slm_tokenizer *tok, uint64_t seed) {
    model_writer mw = {.w = gguf_writer_new()};
    if (!mw.w) return SLM_ERR_NOMEM;
    slm_rng_seed(&mw.rng, seed);
    void *keep = NULL;
    char key[128];
    const int E = c->n_embd, F = c->n_ff, Q = c->n_head * c->head_dim, KV = c->n_head_kv * c->head_dim, V = tok->n_vocab;
    gguf_writer_set_str(mw.w, "general.architecture", c->arch);
    gguf_writer_set_str(mw.w, "general.name", "random");
    const struct {
        const char *key;
        uint32_t value;
    } ints[] = {{"embedding_length", (uint32_t)E}, {"feed_forward_length", (uint32_t)F}, {"block_count", (uint32_t)c->n_layer},
                {"attention.head_count", (uint32_t)c->n_head}, {"attention.head_count_kv", (uint32_t)c->n_head_kv},
                {"attention.key_length", (uint32_t)c->head_dim}, {"attention.value_length", (uint32_t)c->head_dim},
                {"context_length", 512}, {"attention.sliding_window", (uint32_t)c->window}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (ints[i].value == 0) continue;
        snprintf(key, sizeof key, "%s.%s", c->arch, ints[i].key);
        gguf_writer_set_u32(mw.w, key, ints[i].value);
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", c->arch);
    gguf_writer_set_f32(mw.w, key, 1e-6f);
    snprintf(key, sizeof key, "%s.rope.freq_base", c->arch);
    gguf_writer_set_f32(mw.w, key, 100000.0f);
    mw.st = tokenizer_to_gguf(tok, mw.w, &keep);
    add_random(&mw, "token_embd.weight", SLM_TYPE_Q8_0, V, E, 0.0f, 0.5f);
    add_random(&mw, "output_norm.weight", SLM_TYPE_F32, 0, E, 1.0f, 0.1f);
    if (c->untied_output) add_random(&mw, "output.weight", SLM_TYPE_Q6_K, V, E, 0.0f, 1.0f / sqrtf((float)E));
    for (int l = 0; l < c->n_layer; l++) {
        char name[96];
#define BLK(suffix) (snprintf(name, sizeof name, "blk.%d.%s", l, suffix), name)
        const float se = 1.0f / sqrtf((float)E);
        add_random(&mw, BLK("attn_norm.weight"), SLM_TYPE_F32, 0, E, 1.0f, 0.1f);
        add_random(&mw, BLK("attn_q.weight"), SLM_TYPE_Q4_K, Q, E, 0.0f, se);
        add_random(&mw, BLK("attn_k.weight"), l % 2 ? SLM_TYPE_Q8_0 : SLM_TYPE_Q6_K, KV, E, 0.0f, se);
        add_random(&mw, BLK("attn_v.weight"), SLM_TYPE_Q6_K, KV, E, 0.0f, se);
        if (c->biases) {
            add_random(&mw, BLK("attn_q.bias"), SLM_TYPE_F32, 0, Q, 0.0f, 0.3f);
            add_random(&mw, BLK("attn_k.bias"), SLM_TYPE_F32, 0, KV, 0.0f, 0.3f);
            add_random(&mw, BLK("attn_v.bias"), SLM_TYPE_F32, 0, KV, 0.0f, 0.3f);
        }
        if (c->qk_norms) {
            add_random(&mw, BLK("attn_q_norm.weight"), SLM_TYPE_F32, 0, c->head_dim, 1.0f, 0.1f);
            add_random(&mw, BLK("attn_k_norm.weight"), SLM_TYPE_F32, 0, c->head_dim, 1.0f, 0.1f);
        }
        add_random(&mw, BLK("attn_output.weight"), SLM_TYPE_Q8_0, E, Q, 0.0f, 1.0f / sqrtf((float)Q));
        add_random(&mw, BLK("ffn_norm.weight"), SLM_TYPE_F32, 0, E, 1.0f, 0.1f);
        add_random(&mw, BLK("ffn_gate.weight"), SLM_TYPE_Q4_K, F, E, 0.0f, se);
        add_random(&mw, BLK("ffn_up.weight"), SLM_TYPE_Q4_0, F, E, 0.0f, se);
        add_random(&mw, BLK("ffn_down.weight"), SLM_TYPE_Q5_0, E, F, 0.0f, 1.0f / sqrtf((float)F));
        if (c->post_norms) {
            add_random(&mw, BLK("post_attention_norm.weight"), SLM_TYPE_F32, 0, E, 1.0f, 0.1f);
            add_random(&mw, BLK("post_ffw_norm.weight"), SLM_TYPE_F32, 0, E, 1.0f, 0.1f);
        }
#undef BLK
    }
    slm_status st = mw.st == SLM_OK ? gguf_writer_write(mw.w, path) : mw.st;
    gguf_writer_free(mw.w);
    for (int i = 0; i < mw.n_blocks; i++) free(mw.blocks[i]);
    free(keep);
    return st;
}

/* ---- the schedule: which tokens each session takes at each step ---- */

#define MAX_SESSIONS 8
#define N_STEPS 14
static const int PROMPT_LEN[MAX_SESSIONS] = {5, 1, 70, 12, 3, 33, 2, 9}; /* 135 rows at once: batches split */

/* Tokens session i takes at step t: sessions 6 and 7 join at step 1; afterwards each decodes one
 * token a step, now and then idles (0) or takes a chunk of 4 (a prompt joining late). */
static int step_tokens(int i, int t) {
    if (t == 0) return i < 6 ? PROMPT_LEN[i] : 0;
    if (t == 1) return i < 6 ? 1 : PROMPT_LEN[i];
    if ((t + i) % 5 == 0) return 0;
    if ((t * 3 + i) % 7 == 0) return 4;
    return 1;
}

/* The token at position pos of session i: a fixed pseudo-random id. */
static int32_t token_at(int i, int pos, int n_vocab) {
    uint64_t h = ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(pos + 1) * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (int32_t)(h % (uint64_t)n_vocab);
}

/* Runs the schedule for n_sess sessions, batched (slm_sessions_eval) or each session alone
 * (slm_session_eval); logits[(t * MAX_SESSIONS + i) * V ..] receives session i's logits after
 * step t (left untouched when it takes no tokens). Returns the worst status. */
static slm_status run_schedule(const slm_model *m, int n_sess, int batched, float *logits) {
    const int V = m->hp.n_vocab;
    slm_session *s[MAX_SESSIONS] = {0};
    slm_session_params sp = {.n_ctx = 160};
    slm_status st = SLM_OK;
    for (int i = 0; i < n_sess && st == SLM_OK; i++) st = slm_session_new(m, &sp, &s[i]);
    int32_t toks[MAX_SESSIONS][80];
    for (int t = 0; t < N_STEPS && st == SLM_OK; t++) {
        const int32_t *tp[MAX_SESSIONS];
        size_t n[MAX_SESSIONS];
        const float *out[MAX_SESSIONS];
        for (int i = 0; i < n_sess; i++) {
            n[i] = (size_t)step_tokens(i, t);
            for (size_t k = 0; k < n[i]; k++) toks[i][k] = token_at(i, slm_session_n_past(s[i]) + (int)k, V);
            tp[i] = toks[i];
        }
        if (batched) st = slm_sessions_eval(s, tp, n, (size_t)n_sess, out);
        else
            for (int i = 0; i < n_sess && st == SLM_OK; i++) {
                out[i] = NULL;
                if (n[i]) st = slm_session_eval(s[i], tp[i], n[i], &out[i]);
            }
        for (int i = 0; i < n_sess && st == SLM_OK; i++) {
            if (!n[i]) {
                CHECK(out[i] == NULL, "step %d: session %d took no tokens but has logits", t, i);
                continue;
            }
            CHECK(out[i] != NULL, "step %d: session %d has no logits", t, i);
            if (out[i]) memcpy(logits + ((size_t)t * MAX_SESSIONS + i) * V, out[i], (size_t)V * sizeof(float));
        }
    }
    for (int i = 0; i < n_sess; i++) slm_session_free(s[i]);
    return st;
}

/* Batched against one at a time, for first..last sessions on `threads` threads: the largest
 * |difference| of any logit. */
static void test_schedule(const char *what, const slm_model *m, int first, int last, int threads) {
    const size_t V = (size_t)m->hp.n_vocab, size = (size_t)N_STEPS * MAX_SESSIONS * V;
    float *alone = calloc(size, sizeof(float)), *together = calloc(size, sizeof(float));
    double worst = 0.0;
    slm_set_threads(threads);
    for (int n_sess = first; n_sess <= last; n_sess++) {
        slm_status a = run_schedule(m, n_sess, 0, alone), b = run_schedule(m, n_sess, 1, together);
        CHECK(a == SLM_OK && b == SLM_OK, "%s, %d sessions: %s", what, n_sess, slm_last_error());
        for (int t = 0; t < N_STEPS; t++)
            for (int i = 0; i < n_sess; i++) {
                if (!step_tokens(i, t)) continue;
                const float *x = alone + ((size_t)t * MAX_SESSIONS + i) * V, *y = together + ((size_t)t * MAX_SESSIONS + i) * V;
                for (size_t v = 0; v < V; v++) {
                    double d = fabs((double)x[v] - (double)y[v]);
                    if (!(d <= worst)) worst = d; /* NaN sticks */
                }
            }
    }
    CHECK(worst <= 1e-4, "%s: batched logits differ from single-session ones by %g", what, worst);
    printf("%s: %d..%d sessions, %d steps, %d threads: batched vs alone max |diff| %.3g\n", what, first, last, N_STEPS, threads,
           worst);
    free(alone);
    free(together);
}

/* ---- bad input ---- */

static void test_errors(const slm_model *m, const slm_model *other) {
    const int V = m->hp.n_vocab;
    slm_session *a = NULL, *b = NULL, *c = NULL;
    slm_session_params small = {.n_ctx = 16};
    CHECK(slm_session_new(m, &small, &a) == SLM_OK && slm_session_new(m, &small, &b) == SLM_OK &&
              slm_session_new(other, &small, &c) == SLM_OK, "sessions: %s", slm_last_error());
    if (!a || !b || !c) return;
    int32_t ta[16], tb[16];
    for (int k = 0; k < 16; k++) ta[k] = token_at(0, k, V), tb[k] = token_at(1, k, V);
    const float *out[3] = {0};
    slm_session *ab[2] = {a, b}, *aa[2] = {a, a}, *ac[2] = {a, c}, *an[2] = {a, NULL};
    const int32_t *tt[2] = {ta, tb}, *tnull[2] = {ta, NULL};
    size_t n2[2] = {3, 2};

    CHECK(slm_sessions_eval(NULL, tt, n2, 2, out) == SLM_ERR_INVALID_ARG, "NULL sessions");
    CHECK(slm_sessions_eval(ab, NULL, n2, 2, out) == SLM_ERR_INVALID_ARG, "NULL tokens");
    CHECK(slm_sessions_eval(ab, tt, NULL, 2, out) == SLM_ERR_INVALID_ARG, "NULL counts");
    CHECK(slm_sessions_eval(ab, tt, n2, 2, NULL) == SLM_ERR_INVALID_ARG, "NULL logits");
    CHECK(slm_sessions_eval(an, tt, n2, 2, out) == SLM_ERR_INVALID_ARG, "a NULL session");
    CHECK(slm_sessions_eval(aa, tt, n2, 2, out) == SLM_ERR_INVALID_ARG && strstr(slm_last_error(), "same session"),
          "one session twice: %s", slm_last_error());
    CHECK(slm_sessions_eval(ac, tt, n2, 2, out) == SLM_ERR_INVALID_ARG && strstr(slm_last_error(), "different models"),
          "different models: %s", slm_last_error());
    CHECK(slm_sessions_eval(ab, tnull, n2, 2, out) == SLM_ERR_INVALID_ARG, "NULL tokens of one session");
    CHECK(slm_sessions_eval(NULL, NULL, NULL, 0, NULL) == SLM_OK, "no sessions is nothing to do");
    /* n[i] == 0: skipped, NULL tokens allowed, logits NULL */
    size_t n_skip[2] = {2, 0};
    out[1] = (const float *)ta;
    CHECK(slm_sessions_eval(ab, tnull, n_skip, 2, out) == SLM_OK && out[0] && !out[1] && slm_session_n_past(a) == 2 &&
              slm_session_n_past(b) == 0,
          "a skipped session: %s", slm_last_error());
    size_t n_none[2] = {0, 0};
    CHECK(slm_sessions_eval(ab, tt, n_none, 2, out) == SLM_OK && !out[0] && !out[1], "nothing to evaluate");
    /* a bad token id in b: nothing is evaluated, a included */
    int32_t bad[2] = {1, V};
    const int32_t *tbad[2] = {ta + 2, bad};
    CHECK(slm_sessions_eval(ab, tbad, n2, 2, out) == SLM_ERR_RANGE && strstr(slm_last_error(), "session 1"),
          "bad token: %s", slm_last_error());
    CHECK(slm_session_n_past(a) == 2 && slm_session_n_past(b) == 0, "a bad token evaluated nothing");
    /* b's context overflows: an error naming it, and a and b as they were */
    slm_session_reset(a);
    const float *la = NULL;
    CHECK(slm_session_eval(b, tb, 14, &la) == SLM_OK, "fill b");
    size_t n_over[2] = {4, 3}; /* b holds 14 of 16 */
    const int32_t *tover[2] = {ta, tb + 14};
    CHECK(slm_sessions_eval(ab, tover, n_over, 2, out) == SLM_ERR_RANGE && strstr(slm_last_error(), "session 1") &&
              strstr(slm_last_error(), "context full"),
          "overflow: %s", slm_last_error());
    CHECK(slm_session_n_past(a) == 0 && slm_session_n_past(b) == 14, "the overflow left both sessions as they were");
    /* and both still give the logits they give alone */
    size_t n_ok[2] = {4, 2};
    const int32_t *tok2[2] = {ta, tb + 14};
    float *copy = malloc(2 * (size_t)V * sizeof(float));
    CHECK(slm_sessions_eval(ab, tok2, n_ok, 2, out) == SLM_OK && out[0] && out[1], "after the errors: %s", slm_last_error());
    if (out[0] && out[1]) {
        memcpy(copy, out[0], (size_t)V * sizeof(float));
        memcpy(copy + V, out[1], (size_t)V * sizeof(float));
    }
    CHECK(slm_session_n_past(b) == 16, "b is full");
    slm_session *fresh = NULL;
    CHECK(slm_session_new(m, &small, &fresh) == SLM_OK, "fresh");
    double worst = 0.0;
    if (fresh && slm_session_eval(fresh, ta, 4, &la) == SLM_OK)
        for (int v = 0; v < V; v++) worst = fmax(worst, fabs(la[v] - copy[v]));
    slm_session_reset(fresh);
    if (fresh && slm_session_eval(fresh, tb, 16, &la) == SLM_OK)
        for (int v = 0; v < V; v++) worst = fmax(worst, fabs(la[v] - copy[V + v]));
    CHECK(worst <= 1e-4, "after the errors the sessions' logits differ from a fresh session's by %g", worst);
    /* one session through slm_sessions_eval: its error messages */
    size_t n_full[1] = {1};
    CHECK(slm_sessions_eval(&b, tt + 1, n_full, 1, out) == SLM_ERR_RANGE, "a full session");
    free(copy);
    slm_session_free(fresh);
    slm_session_free(a);
    slm_session_free(b);
    slm_session_free(c);
}

int main(void) {
    g_data = getenv("SLM_DATA") ? getenv("SLM_DATA") : "../shared/data";
    char path[1024], tok_path[1024];
    snprintf(path, sizeof path, "%s/tiny_lm_models/stories260K/stories260K.bin", g_data);
    snprintf(tok_path, sizeof tok_path, "%s/tiny_lm_models/stories260K/tok512.bin", g_data);
    slm_model_params mp = {.tokenizer_path = tok_path};
    slm_model *stories = NULL;
    CHECK(slm_model_load(path, &mp, &stories) == SLM_OK, "stories260K: %s", slm_last_error());
    if (!stories) return check_summary("test_batch");
    /* one thread for the many small runs (a pool on a busy machine waits on descheduled workers),
       two for eight sessions: matmul rows and attention heads split across threads */
    test_schedule("stories260K (llama2.c, f32)", stories, 1, MAX_SESSIONS, 1);
    test_schedule("stories260K (llama2.c, f32)", stories, MAX_SESSIONS, MAX_SESSIONS, 2);

    static const random_config configs[] = {
        {"llama", 256, 512, 2, 4, 2, 64, 0, 0, 0, 0, 1},
        {"qwen2", 256, 512, 2, 4, 2, 64, 0, 1, 0, 0, 0},
        /* seven layers: six within a window of 8 positions, layer 5 global */
        {"gemma3", 256, 512, 7, 4, 1, 64, 8, 0, 1, 1, 0},
    };
    slm_model *gemma = NULL;
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        char file[256], what[96];
        snprintf(file, sizeof file, "/tmp/slm_test_batch_%s_%d.gguf", configs[i].arch, (int)getpid());
        slm_model *m = NULL;
        slm_status st = write_random_model(file, &configs[i], slm_model_tokenizer(stories), 100 + i);
        CHECK(st == SLM_OK, "write %s: %s", file, slm_last_error());
        CHECK(st == SLM_OK && slm_model_load(file, NULL, &m) == SLM_OK, "load %s: %s", file, slm_last_error());
        remove(file);
        if (!m) continue;
        snprintf(what, sizeof what, "random %s (quantised)", configs[i].arch);
        test_schedule(what, m, 1, MAX_SESSIONS, 1);
        if (strcmp(configs[i].arch, "gemma3") == 0) test_schedule(what, m, MAX_SESSIONS, MAX_SESSIONS, 2);
        if (strcmp(configs[i].arch, "gemma3") == 0) gemma = m;
        else slm_model_free(m);
    }
    if (gemma) test_errors(gemma, stories);
    slm_model_free(gemma);
    slm_model_free(stories);
    return check_summary("test_batch");
}
