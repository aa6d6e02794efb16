/* test_threadpool.c — the worker pool runs every thread once per job, many jobs in a row,
 * across resizes, and the range split covers every item exactly once. */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "check.h"
#include "slm.h"

typedef struct {
    atomic_int calls;
    atomic_int seen[8];
    int n_items;
    atomic_int *hits;
} job_ctx;

static void job(void *p, int ith, int nth) {
    job_ctx *c = p;
    atomic_fetch_add(&c->calls, 1);
    atomic_fetch_add(&c->seen[ith], 1);
    int b, e;
    slm_split_range(c->n_items, ith, nth, &b, &e);
    for (int i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

int main(void) {
    atomic_int hits[1000];
    for (int threads = 1; threads <= 4; threads++) {
        CHECK(slm_set_threads(threads) == SLM_OK, "set %d threads", threads);
        CHECK(slm_get_threads() == threads, "pool has %d threads", slm_get_threads());
        for (int round = 0; round < 600; round++) {
            job_ctx c;
            memset(&c, 0, sizeof c);
            memset(hits, 0, sizeof hits);
            c.n_items = 1 + round % 997;
            c.hits = hits;
            slm_pool_run(job, &c);
            int ok = atomic_load(&c.calls) == threads;
            for (int t = 0; t < threads; t++) ok &= atomic_load(&c.seen[t]) == 1;
            for (int i = 0; i < c.n_items; i++) ok &= atomic_load(&hits[i]) == 1;
            if (!ok) {
                CHECK(ok, "threads=%d round=%d: a thread or an item was missed or repeated", threads, round);
                break;
            }
            if (round == 300) usleep(50000); /* let the workers fall asleep, then wake them */
        }
    }
    CHECK(slm_set_threads(0) == SLM_OK && slm_get_threads() == slm_physical_cores(), "default = physical cores");
    CHECK(slm_set_threads(100000) != SLM_OK && strstr(slm_last_error(), "threads"), "too many threads refused");
    return check_summary("test_threadpool");
}
