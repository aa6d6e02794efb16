/* threadpool.h — the process-wide worker pool. Workers spin briefly between jobs (a job
 * follows another within microseconds while decoding) and then sleep on a condition variable. */
#ifndef SLM_BASE_THREADPOOL_H
#define SLM_BASE_THREADPOOL_H

/* A job: called once on every thread, ith in [0, nth). */
typedef void (*slm_pool_fn)(void *ctx, int ith, int nth);

/* Runs fn(ctx, ith, nth) on all threads of the pool (the caller is thread 0) and returns when
 * all are done. Runs on the caller alone when the pool has one thread. Not re-entrant. */
void slm_pool_run(slm_pool_fn fn, void *ctx);
/* The number of threads jobs run on. */
int slm_pool_threads(void);
/* The half-open range [*begin, *end) of n items that thread ith of nth takes. */
static inline void slm_split_range(int n, int ith, int nth, int *begin, int *end) {
    int per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

/* A job over a range of items: called with [begin, end). */
typedef void (*slm_range_fn)(void *ctx, int begin, int end);
/* Calls fn over [0, n) in one contiguous range per pool thread, or on the caller alone when n
 * is 1, the work (roughly, multiply-adds) is below min_work, or the pool has one thread. */
void slm_pool_for(slm_range_fn fn, void *ctx, int n, double work, double min_work);

#endif
