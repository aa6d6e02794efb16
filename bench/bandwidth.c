/* bandwidth.c — a memory read-bandwidth probe: streams a buffer far larger than the caches with
 * 1..N threads, in several ways (256- and 512-bit loads, 1, 2 or 4 streams per thread, software
 * prefetch at several distances), and prints each way's best GB/s over several passes and the
 * best of all: the bound that decoding (B bytes of weights read per token) cannot beat,
 * bandwidth / B tokens per second, not flattered by a weak probe.
 * usage: bandwidth [MiB] [max_threads]   (defaults: 1024 MiB, 2 threads) */
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const float *p;
    size_t n;       /* floats, a multiple of 64 * streams */
    int streams;    /* the part read as this many interleaved sequential streams */
    int prefetch;   /* bytes ahead of each stream to prefetch, or 0 */
    bool wide;      /* 512-bit loads */
    float sink;
} part;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static bool has_avx512(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & (1u << 16))) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xE6) == 0xE6;
}

/* One stream: floats [0, n) of p, 64 bytes a step, summed so the loads are not optimised out. */
__attribute__((target("avx2"))) static float read_avx2(const float *p, size_t n, size_t stride, int streams,
                                                       int prefetch) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t i = 0; i < n; i += 16)
        for (int s = 0; s < streams; s++) {
            const float *q = p + (size_t)s * stride + i;
            if (prefetch) _mm_prefetch((const char *)q + prefetch, _MM_HINT_T0);
            acc[s] = _mm256_add_ps(acc[s], _mm256_add_ps(_mm256_load_ps(q), _mm256_load_ps(q + 8)));
        }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    return out[0];
}

__attribute__((target("avx512f"))) static float read_avx512(const float *p, size_t n, size_t stride, int streams,
                                                            int prefetch) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (size_t i = 0; i < n; i += 16)
        for (int s = 0; s < streams; s++) {
            const float *q = p + (size_t)s * stride + i;
            if (prefetch) _mm_prefetch((const char *)q + prefetch, _MM_HINT_T0);
            acc[s] = _mm512_add_ps(acc[s], _mm512_load_ps(q));
        }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

static void *stream(void *arg) {
    part *pt = arg;
    const size_t per = pt->n / (size_t)pt->streams;
    pt->sink = pt->wide ? read_avx512(pt->p, per, per, pt->streams, pt->prefetch)
                        : read_avx2(pt->p, per, per, pt->streams, pt->prefetch);
    return NULL;
}

/* The best GB/s of 5 passes over n floats of buf with t threads, read one way. */
static double measure(const float *buf, size_t n, int t, int streams, int prefetch, bool wide) {
    double best = 1e30;
    for (int pass = 0; pass < 5; pass++) {
        pthread_t th[64];
        part parts[64];
        const size_t per = n / (size_t)t / (64 * (size_t)streams) * (64 * (size_t)streams);
        double t0 = now();
        for (int k = 0; k < t; k++) {
            parts[k] = (part){buf + per * (size_t)k, per, streams, prefetch, wide, 0};
            pthread_create(&th[k], NULL, stream, &parts[k]);
        }
        for (int k = 0; k < t; k++) pthread_join(th[k], NULL);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    return (double)(n / (size_t)t / (64 * (size_t)streams) * (64 * (size_t)streams)) * (size_t)t * sizeof(float) / best / 1e9;
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
    const bool avx512 = has_avx512();
    static const int STREAMS[] = {1, 2, 4}, PREFETCH[] = {0, 1024, 4096};
    for (int t = 1; t <= max_threads; t++) {
        double best = 0;
        char best_way[64] = "";
        for (int wide = 0; wide <= (avx512 ? 1 : 0); wide++)
            for (size_t s = 0; s < sizeof STREAMS / sizeof STREAMS[0]; s++)
                for (size_t f = 0; f < sizeof PREFETCH / sizeof PREFETCH[0]; f++) {
                    double gbs = measure(buf, n, t, STREAMS[s], PREFETCH[f], wide);
                    char way[64];
                    snprintf(way, sizeof way, "%s loads, %d stream%s, prefetch %d", wide ? "512-bit" : "256-bit",
                             STREAMS[s], STREAMS[s] > 1 ? "s" : "", PREFETCH[f]);
                    printf("threads %d, %s: %.1f GB/s\n", t, way, gbs);
                    if (gbs > best) best = gbs, memcpy(best_way, way, sizeof way);
                }
        printf("threads %d: best %.1f GB/s (%s)\n", t, best, best_way);
        fflush(stdout);
    }
    free(buf);
    return 0;
}
