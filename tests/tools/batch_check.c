/* batch_check.c — test tool: runs one schedule of several sessions twice, batched (one
 * slm_sessions_eval per step) and each session alone (slm_session_eval), and prints the largest
 * |difference| of any logit and whether every greedy token agreed:
 *   "max_abs_diff <x> steps <n> sessions <s> rows <r> same_tokens <0|1>"
 * Session i's prompt is `--long` tokens for session 0 (past a sliding window) and 3 + 11 i for
 * the others; step t then gives each session its greedy token, except that a session idles when
 * (t + i) % 4 == 3 and takes a 5-token chunk when (t + 2 i) % 5 == 4 (prompt chunks of joiners).
 * usage: batch_check MODEL [--sessions 8] [--steps 6] [--long 530] [--threads 2] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"

#define MAX_SESSIONS 16
#define CHUNK 5

static int fail(const char *what) {
    fprintf(stderr, "batch_check: %s: %s\n", what, slm_last_error());
    return 1;
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* A fixed pseudo-random token id in 2..n_vocab-1 for session i at position pos. */
static int32_t token_at(int i, int pos, int n_vocab) {
    uint64_t h = ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(pos + 1) * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return (int32_t)(2 + h % (uint64_t)(n_vocab - 2));
}

/* Runs the schedule; logits[(t * n_sess + i) * V] receives session i's logits after step t
 * (step 0: the prompts), tokens_out[t * n_sess + i] its greedy token then (-1: idle). */
static int run(const slm_model *m, int n_sess, int steps, int n_long, int batched, float *logits, int32_t *tokens_out,
               long *rows) {
    slm_model_info info;
    slm_model_get_info(m, &info);
    const int V = info.n_vocab;
    slm_session *s[MAX_SESSIONS] = {0};
    slm_session_params sp = {.n_ctx = n_long + steps * CHUNK + 64};
    int32_t *buf = malloc(sizeof(int32_t) * (size_t)n_sess * (size_t)(n_long + 64));
    int32_t next[MAX_SESSIONS];
    const int32_t *tp[MAX_SESSIONS];
    size_t n[MAX_SESSIONS];
    const float *out[MAX_SESSIONS];
    int rc = 0;
    *rows = 0;
    for (int i = 0; i < n_sess && !rc; i++)
        if (slm_session_new(m, &sp, &s[i]) != SLM_OK) rc = fail("session");
    for (int t = 0; t <= steps && !rc; t++) {
        for (int i = 0; i < n_sess; i++) {
            int32_t *b = buf + (size_t)i * (size_t)(n_long + 64);
            int k = t == 0 ? (i == 0 ? n_long : 3 + 11 * i) : (t + i) % 4 == 3 ? 0 : (t + 2 * i) % 5 == 4 ? CHUNK : 1;
            if (t > 0 && k == 1) b[0] = next[i];
            else
                for (int j = 0; j < k; j++) b[j] = token_at(i, slm_session_n_past(s[i]) + j, V);
            tp[i] = b;
            n[i] = (size_t)k;
            *rows += k;
        }
        if (batched) {
            if (slm_sessions_eval(s, tp, n, (size_t)n_sess, out) != SLM_OK) rc = fail("slm_sessions_eval");
        } else
            for (int i = 0; i < n_sess && !rc; i++) {
                out[i] = NULL;
                if (n[i] && slm_session_eval(s[i], tp[i], n[i], &out[i]) != SLM_OK) rc = fail("slm_session_eval");
            }
        for (int i = 0; i < n_sess && !rc; i++) {
            float *dst = logits + ((size_t)t * n_sess + i) * V;
            if (!n[i]) {
                tokens_out[t * n_sess + i] = -1;
                continue;
            }
            memcpy(dst, out[i], (size_t)V * sizeof(float));
            next[i] = argmax(out[i], V);
            tokens_out[t * n_sess + i] = next[i];
        }
    }
    for (int i = 0; i < n_sess; i++) slm_session_free(s[i]);
    free(buf);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: batch_check MODEL [--sessions 8] [--steps 6] [--long 530] [--threads 2]\n");
        return 2;
    }
    int n_sess = 8, steps = 6, n_long = 530, threads = 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sessions") == 0) n_sess = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--steps") == 0) steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--long") == 0) n_long = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "batch_check: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (n_sess < 1 || n_sess > MAX_SESSIONS || steps < 0 || n_long < 1 || threads < 1) {
        fprintf(stderr, "batch_check: --sessions 1..%d, --steps >= 0, --long and --threads positive\n", MAX_SESSIONS);
        return 2;
    }
    slm_model *m = NULL;
    if (slm_model_load(argv[1], NULL, &m) != SLM_OK) return fail(argv[1]);
    if (slm_set_threads(threads) != SLM_OK) return fail("threads");
    slm_model_info info;
    slm_model_get_info(m, &info);
    const size_t cells = (size_t)(steps + 1) * (size_t)n_sess;
    float *a = malloc(cells * (size_t)info.n_vocab * sizeof(float)), *b = malloc(cells * (size_t)info.n_vocab * sizeof(float));
    int32_t *ta = malloc(cells * sizeof(int32_t)), *tb = malloc(cells * sizeof(int32_t));
    long rows_a = 0, rows_b = 0;
    if (!a || !b || !ta || !tb) return fail("out of memory");
    if (run(m, n_sess, steps, n_long, 0, a, ta, &rows_a) || run(m, n_sess, steps, n_long, 1, b, tb, &rows_b)) return 1;
    double worst = 0.0;
    int same = rows_a == rows_b;
    for (size_t c = 0; c < cells; c++) {
        same &= ta[c] == tb[c];
        if (ta[c] < 0 || tb[c] < 0) continue;
        for (int v = 0; v < info.n_vocab; v++) {
            double d = fabs((double)a[c * info.n_vocab + v] - (double)b[c * info.n_vocab + v]);
            if (!(d <= worst)) worst = d;
        }
    }
    printf("max_abs_diff %.9g steps %d sessions %d rows %ld same_tokens %d\n", worst, steps, n_sess, rows_b, same);
    free(a);
    free(b);
    free(ta);
    free(tb);
    slm_model_free(m);
    return 0;
}
