/* bandwidth.c — a memory read-bandwidth probe: streams a buffer far larger than the caches with
 * 1..N threads and prints the best GB/s of several passes. Decoding that reads B bytes of weights
 * per token cannot beat bandwidth / B tokens per second.
 * usage: bandwidth [MiB] [max_threads]   (defaults: 1024 MiB, 2 threads) */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const float *p;
    size_t n;
    float sink;
} part;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((target("avx2"))) static void *stream(void *arg) {
    part *pt = arg;
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps(), c = _mm256_setzero_ps(), d = _mm256_setzero_ps();
    for (size_t i = 0; i + 32 <= pt->n; i += 32) {
        a = _mm256_add_ps(a, _mm256_load_ps(pt->p + i));
        b = _mm256_add_ps(b, _mm256_load_ps(pt->p + i + 8));
        c = _mm256_add_ps(c, _mm256_load_ps(pt->p + i + 16));
        d = _mm256_add_ps(d, _mm256_load_ps(pt->p + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    pt->sink = out[0];
    return NULL;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 1024;
    int max_threads = argc > 2 ? atoi(argv[2]) : 2;
    if (mib < 64 || max_threads < 1 || max_threads > 64) {
        fprintf(stderr, "usage: bandwidth [MiB >= 64] [max_threads 1..64]\n");
        return 2;
    }
    size_t n = mib * 1024 * 1024 / sizeof(float);
    float *buf = aligned_alloc(64, n * sizeof(float));
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    memset(buf, 1, n * sizeof(float));
    for (int t = 1; t <= max_threads; t++) {
        double best = 1e30;
        for (int pass = 0; pass < 5; pass++) {
            pthread_t th[64];
            part parts[64];
            double t0 = now();
            for (int k = 0; k < t; k++) {
                size_t per = n / (size_t)t / 32 * 32;
                parts[k] = (part){buf + per * (size_t)k, per, 0};
                pthread_create(&th[k], NULL, stream, &parts[k]);
            }
            for (int k = 0; k < t; k++) pthread_join(th[k], NULL);
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        printf("threads %d: %.1f GB/s\n", t, (double)n * sizeof(float) / best / 1e9);
    }
    free(buf);
    return 0;
}
