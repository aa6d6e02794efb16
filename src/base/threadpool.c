/* threadpool.c — a persistent pthread pool with a spin-then-sleep start signal and a spinning
 * completion count. One pool per process, resized by slm_set_threads(). */
#include "base/threadpool.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/error.h"
#include "slm.h"

/* How long a worker spins for the next job before it sleeps, and how long the caller spins
 * waiting for the workers before it starts yielding its core (useful when there are more
 * threads than cores). Measured in time: a pause instruction costs 3 to 140 cycles by CPU. */
#define WORKER_SPIN_SECONDS 2e-3
#define CALLER_SPIN_SECONDS 1e-4

typedef struct {
    int n_threads;
    pthread_t *threads;
    atomic_uint generation; /* bumped to start a job */
    atomic_int pending;     /* workers still running the current job */
    atomic_int sleeping;    /* workers waiting on the condition variable */
    atomic_int stop;
    slm_pool_fn fn;
    void *ctx;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
} pool;

static pool g_pool = {.n_threads = 0};
static pthread_mutex_t g_pool_config = PTHREAD_MUTEX_INITIALIZER;

static void *worker_main(void *arg) {
    int ith = (int)(intptr_t)arg;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        unsigned spins = 0;
        double spin_until = slm_time_seconds() + WORKER_SPIN_SECONDS;
        while ((gen = atomic_load(&g_pool.generation)) == seen && !atomic_load(&g_pool.stop)) {
            if (++spins % 256 != 0 || slm_time_seconds() < spin_until) {
                _mm_pause();
                continue;
            }
            pthread_mutex_lock(&g_pool.mutex);
            atomic_fetch_add(&g_pool.sleeping, 1);
            while (atomic_load(&g_pool.generation) == seen && !atomic_load(&g_pool.stop))
                pthread_cond_wait(&g_pool.wake, &g_pool.mutex);
            atomic_fetch_sub(&g_pool.sleeping, 1);
            pthread_mutex_unlock(&g_pool.mutex);
            spin_until = slm_time_seconds() + WORKER_SPIN_SECONDS;
        }
        if (atomic_load(&g_pool.stop)) break;
        seen = gen;
        g_pool.fn(g_pool.ctx, ith, g_pool.n_threads);
        atomic_fetch_sub(&g_pool.pending, 1);
    }
    return NULL;
}

static void pool_shutdown(void) {
    if (g_pool.n_threads <= 1) {
        g_pool.n_threads = 0;
        return;
    }
    pthread_mutex_lock(&g_pool.mutex);
    atomic_store(&g_pool.stop, 1);
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.mutex);
    for (int i = 1; i < g_pool.n_threads; i++) pthread_join(g_pool.threads[i - 1], NULL);
    free(g_pool.threads);
    pthread_mutex_destroy(&g_pool.mutex);
    pthread_cond_destroy(&g_pool.wake);
    g_pool.threads = NULL;
    g_pool.n_threads = 0;
}

static void pool_at_exit(void) { pool_shutdown(); }

/* In a child made by fork() only the forking thread exists: the pool forgets its workers (their
 * array is left to the parent's copy) so that the child's first job starts a pool of its own. */
static void pool_after_fork_child(void) {
    g_pool.n_threads = 0;
    g_pool.threads = NULL;
    pthread_mutex_init(&g_pool_config, NULL);
}

static slm_status pool_start(int n) {
    static int registered = 0;
    if (!registered) {
        atexit(pool_at_exit);
        pthread_atfork(NULL, NULL, pool_after_fork_child);
        registered = 1;
    }
    g_pool.n_threads = 1;
    if (n <= 1) return SLM_OK;
    g_pool.threads = calloc((size_t)n - 1, sizeof(pthread_t));
    if (!g_pool.threads) return slm_error(SLM_ERR_NOMEM, "out of memory creating the thread pool");
    pthread_mutex_init(&g_pool.mutex, NULL);
    pthread_cond_init(&g_pool.wake, NULL);
    atomic_store(&g_pool.generation, 0);
    atomic_store(&g_pool.pending, 0);
    atomic_store(&g_pool.sleeping, 0);
    atomic_store(&g_pool.stop, 0);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&g_pool.threads[i - 1], NULL, worker_main, (void *)(intptr_t)i) != 0) {
            g_pool.n_threads = i;
            pool_shutdown();
            g_pool.n_threads = 1;
            return slm_error(SLM_ERR_IO, "cannot create worker thread %d", i);
        }
        g_pool.n_threads = i + 1;
    }
    return SLM_OK;
}

slm_status slm_set_threads(int n_threads) {
    if (n_threads <= 0) n_threads = slm_physical_cores();
    if (n_threads > 256) return slm_error(SLM_ERR_INVALID_ARG, "--threads %d: at most 256", n_threads);
    pthread_mutex_lock(&g_pool_config);
    slm_status st = SLM_OK;
    if (g_pool.n_threads != n_threads) {
        pool_shutdown();
        st = pool_start(n_threads);
    }
    pthread_mutex_unlock(&g_pool_config);
    return st;
}

int slm_get_threads(void) { return slm_pool_threads(); }

int slm_pool_threads(void) {
    if (g_pool.n_threads == 0) slm_set_threads(0);
    return g_pool.n_threads;
}

void slm_pool_run(slm_pool_fn fn, void *ctx) {
    int n = slm_pool_threads();
    if (n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    g_pool.fn = fn;
    g_pool.ctx = ctx;
    atomic_store(&g_pool.pending, n - 1);
    atomic_fetch_add(&g_pool.generation, 1);
    if (atomic_load(&g_pool.sleeping) > 0) {
        pthread_mutex_lock(&g_pool.mutex);
        pthread_cond_broadcast(&g_pool.wake);
        pthread_mutex_unlock(&g_pool.mutex);
    }
    fn(ctx, 0, n);
    unsigned spins = 0;
    double yield_after = 0;
    while (atomic_load(&g_pool.pending) > 0) {
        if (++spins % 256 != 0) {
            _mm_pause();
            continue;
        }
        double now = slm_time_seconds();
        if (yield_after == 0) yield_after = now + CALLER_SPIN_SECONDS;
        else if (now > yield_after) sched_yield();
    }
}

typedef struct {
    slm_range_fn fn;
    void *ctx;
    int n;
} range_job;

static void range_trampoline(void *arg, int ith, int nth) {
    const range_job *j = arg;
    int begin, end;
    slm_split_range(j->n, ith, nth, &begin, &end);
    if (begin < end) j->fn(j->ctx, begin, end);
}

void slm_pool_for(slm_range_fn fn, void *ctx, int n, double work, double min_work) {
    if (n <= 0) return;
    if (n == 1 || work < min_work || slm_pool_threads() <= 1) {
        fn(ctx, 0, n);
        return;
    }
    range_job j = {fn, ctx, n};
    slm_pool_run(range_trampoline, &j);
}
