/* compare_internal.h — what the parts of slm_compare_run share: the per-task measurement of one
 * candidate (compare_classify.c, compare_keywords.c) and the common timing, bootstrap and
 * file helpers (compare.c). Internal to libslm. */
#ifndef SLM_TASK_COMPARE_INTERNAL_H
#define SLM_TASK_COMPARE_INTERNAL_H
#include "slm.h"

/* One candidate's whole job, with the comparison's settings resolved (limit, speed_n, shots). */
typedef struct {
    const slm_compare_params *params;
    const slm_compare_candidate *candidate;
    int limit, speed_n, shots, threads_all, threads_score;
} compare_job;

/* Processes examples [start, start + count) of a candidate's data (the work that is timed). */
typedef slm_status (*compare_work_fn)(void *ctx, size_t start, size_t count);

/* Fills r's latency and rate fields: a warm-up example, then latency over r->speed_n examples one
 * at a time at all threads, then job->params->repeats timed passes over them at 1 thread and at
 * all threads. Leaves the pool at all threads. */
slm_status compare_measure_speed(const compare_job *job, compare_work_fn work, void *ctx, slm_compare_result *r);
/* The mean of v (n values) and its percentile-bootstrap 95% interval from n_boot seeded resamples. */
double compare_bootstrap_mean(const double *v, size_t n, int n_boot, uint64_t seed, double ci[2]);
/* Weights in a model file (the product of every tensor's shape), its size, and an estimate of
 * the memory its KV cache takes at n_ctx tokens (0 for encoders and unknown layouts). */
slm_status compare_model_size(const char *path, int n_ctx, int64_t *n_params, uint64_t *file_bytes, uint64_t *kv_bytes);
/* The string metadata value of key in a model file into buf ("" when absent or unreadable). */
void compare_file_string(const char *path, const char *key, char *buf, size_t cap);
/* Fails (message in r) when file_bytes + kv_bytes exceed the allowed share of MemAvailable. */
int compare_fits_memory(const compare_job *job, uint64_t file_bytes, uint64_t kv_bytes, slm_compare_result *r);
/* Records the last slm error (with a prefix) as r's failure; returns 0. */
int compare_fail(slm_compare_result *r, const char *what);
/* Sends a progress line to the params' log callback (printf-style). */
void compare_log(const slm_compare_params *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Measures one classification candidate into r (fine-tunes it first when it asks to). */
void compare_run_classify(const compare_job *job, slm_compare_result *r);
/* Fine-tunes a candidate's base on the training set into its path (run before the measurement,
 * in a process of its own); sets r->train_s or r's error. */
void compare_run_finetune(const compare_job *job, slm_compare_result *r);
/* Measures one keyword-extraction candidate into r. */
void compare_run_keywords(const compare_job *job, slm_compare_result *r);

#endif
