/* bench_batch.c — aggregate decoding speed of several sessions decoding together: S sessions
 * (S = 1, 2, 4, 8) each take one greedy token per step through one slm_sessions_eval call (the
 * way a server's scheduler steps its slots), against the same S sessions stepped one after
 * another with slm_session_eval. Prints tokens/s summed over the sessions (medians of --runs
 * runs, the sizes alternating inside each run) and the ratio of S sessions to one; also tokens
 * per second of process CPU time, steadier than wall time on a shared, loaded machine.
 * usage: bench_batch MODEL [--threads 2] [--steps 32] [--prompt 16] [--runs 3] [--sessions 1,2,4,8] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slm.h"

#define MAX_SIZES 8
#define MAX_RUNS 16

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int fail(const char *what) {
    fprintf(stderr, "bench_batch: %s: %s\n", what, slm_last_error());
    return 1;
}

/* Decoding tokens/s summed over n_sess sessions: a prompt of n_prompt tokens each (different
 * per session, all evaluated in one call), then `steps` greedy tokens per session, timed; batched
 * (one slm_sessions_eval per step) or each session alone (slm_session_eval one after another). */
static int measure(const slm_model *m, int n_sess, int n_prompt, int steps, int batched, double *tokens_per_s,
                   double *tokens_per_cpu_s) {
    slm_session *s[64] = {0};
    int32_t *prompts = malloc(sizeof(int32_t) * (size_t)n_sess * (size_t)n_prompt);
    const int32_t *tp[64];
    size_t n[64];
    const float *logits[64];
    int32_t next[64];
    slm_model_info info;
    slm_model_get_info(m, &info);
    slm_session_params sp = {.n_ctx = n_prompt + steps + 8};
    int rc = 0;
    for (int i = 0; i < n_sess && !rc; i++) {
        if (slm_session_new(m, &sp, &s[i]) != SLM_OK) rc = fail("session");
        for (int k = 0; k < n_prompt; k++) prompts[i * n_prompt + k] = (int32_t)(2 + (i * 7919 + k * 104729) % (info.n_vocab - 2));
        tp[i] = prompts + i * n_prompt;
        n[i] = (size_t)n_prompt;
    }
    if (!rc && slm_sessions_eval(s, tp, n, (size_t)n_sess, logits) != SLM_OK) rc = fail("prompt");
    double elapsed = 0.0, cpu = 0.0;
    for (int t = 0; t < steps && !rc; t++) {
        for (int i = 0; i < n_sess; i++) {
            next[i] = argmax(logits[i], info.n_vocab);
            tp[i] = &next[i];
            n[i] = 1;
        }
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (batched) {
            if (slm_sessions_eval(s, tp, n, (size_t)n_sess, logits) != SLM_OK) rc = fail("decode");
        } else
            for (int i = 0; i < n_sess && !rc; i++)
                if (slm_session_eval(s[i], tp[i], 1, &logits[i]) != SLM_OK) rc = fail("decode");
        elapsed += clock_s(CLOCK_MONOTONIC) - t0;
        cpu += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    for (int i = 0; i < n_sess; i++) slm_session_free(s[i]);
    free(prompts);
    *tokens_per_s = elapsed > 0 ? (double)n_sess * steps / elapsed : 0.0;
    *tokens_per_cpu_s = cpu > 0 ? (double)n_sess * steps / cpu : 0.0;
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_batch MODEL [--threads 2] [--steps 32] [--prompt 16] [--runs 3] [--sessions 1,2,4,8]\n");
        return 2;
    }
    int threads = 2, steps = 32, n_prompt = 16, runs = 3, sizes[MAX_SIZES] = {1, 2, 4, 8}, n_sizes = 4;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--steps") == 0) steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--prompt") == 0) n_prompt = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0) runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--sessions") == 0) {
            n_sizes = 0;
            for (char *p = argv[i + 1]; *p && n_sizes < MAX_SIZES;) {
                sizes[n_sizes++] = (int)strtol(p, &p, 10);
                if (*p == ',') p++;
                else break;
            }
        } else {
            fprintf(stderr, "bench_batch: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (steps < 1 || n_prompt < 1 || runs < 1 || runs > MAX_RUNS || threads < 1) {
        fprintf(stderr, "bench_batch: --steps, --prompt, --threads must be positive, --runs 1..%d\n", MAX_RUNS);
        return 2;
    }
    for (int k = 0; k < n_sizes; k++)
        if (sizes[k] < 1 || sizes[k] > 64) {
            fprintf(stderr, "bench_batch: session counts must be 1..64\n");
            return 2;
        }
    slm_model *m = NULL;
    if (slm_model_load(argv[1], NULL, &m) != SLM_OK) return fail(argv[1]);
    if (slm_set_threads(threads) != SLM_OK) return fail("threads");
    double batched[MAX_SIZES][MAX_RUNS], alone[MAX_SIZES][MAX_RUNS], batched_cpu[MAX_SIZES][MAX_RUNS], unused;
    for (int r = 0; r < runs; r++)
        for (int k = 0; k < n_sizes; k++) {
            if (measure(m, sizes[k], n_prompt, steps, 1, &batched[k][r], &batched_cpu[k][r]) ||
                measure(m, sizes[k], n_prompt, steps, 0, &alone[k][r], &unused))
                return 1;
        }
    printf("kernels %s; %s, %d threads, %d decoding steps after a %d-token prompt, median of %d runs\n", slm_kernels_name(), argv[1],
           threads, steps, n_prompt, runs);
    printf("%8s  %14s  %14s  %9s  %9s  %14s  %9s\n", "sessions", "batched tok/s", "one-by-one", "vs first", "vs 1-by-1",
           "batched tok/cpu-s", "vs first");
    double base = 0.0, base_cpu = 0.0;
    for (int k = 0; k < n_sizes; k++) {
        double b = median(batched[k], runs), a = median(alone[k], runs), bc = median(batched_cpu[k], runs);
        if (k == 0) base = b, base_cpu = bc;
        printf("%8d  %14.1f  %14.1f  %8.2fx  %8.2fx  %17.1f  %8.2fx\n", sizes[k], b, a, base > 0 ? b / base : 0.0, a > 0 ? b / a : 0.0,
               bc, base_cpu > 0 ? bc / base_cpu : 0.0);
    }
    slm_model_free(m);
    return 0;
}
