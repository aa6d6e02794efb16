/* compare.c — slm_compare_run: measures candidates one after another on the same examples, each
 * in a child process of its own (fork; results come back through shared memory), so that its
 * peak memory and load time are its own and a crash or an out-of-memory kill fails it alone.
 * Also the helpers the task files share: speed passes, bootstrap means, model sizes, the memory check. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/rng.h"
#include "task/compare_internal.h"

slm_compare_params slm_compare_defaults(void) {
    slm_compare_params p = {0};
    p.task = SLM_COMPARE_CLASSIFY;
    p.finetune = slm_finetune_defaults();
    p.batch = 16;
    p.speed_n = 100;
    p.repeats = 3;
    p.n_bootstrap = 1000;
    p.seed = 0x5eed;
    p.cpu_hour_price = 0.05;
    p.isolate = 1;
    p.memory_headroom = 0.9;
    return p;
}

void compare_log(const slm_compare_params *p, const char *fmt, ...) {
    if (!p->log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->log(line, p->log_user);
}

int compare_fail(slm_compare_result *r, const char *what) {
    r->ok = 0;
    snprintf(r->error, sizeof r->error, "%s%s%s", what ? what : "", what ? ": " : "", slm_last_error());
    return 0;
}

/* ---------------------------------------------------------------- speed */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted values (linear interpolation). */
static double quantile(const double *sorted, size_t n, double q) {
    if (n == 0) return 0;
    double at = q * (double)(n - 1);
    size_t lo = (size_t)at;
    if (lo + 1 >= n) return sorted[n - 1];
    return sorted[lo] + (at - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

/* The CPU time (user + system) this process has used, in seconds. */
static double process_cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* R timed passes over count examples at the current thread count: median rate and spread, and
 * the median CPU seconds per example (cpu may be NULL). */
static slm_status timed_passes(compare_work_fn work, void *ctx, size_t count, int repeats, double *rate, double *spread,
                               double *cpu) {
    double rates[64], cpus[64];
    if (repeats > 64) repeats = 64;
    for (int k = 0; k < repeats; k++) {
        double t0 = slm_time_seconds(), c0 = process_cpu_seconds();
        slm_status st = work(ctx, 0, count);
        if (st != SLM_OK) return st;
        double dt = slm_time_seconds() - t0;
        cpus[k] = (process_cpu_seconds() - c0) / (double)count;
        rates[k] = dt > 0 ? (double)count / dt : 0;
    }
    qsort(rates, (size_t)repeats, sizeof rates[0], cmp_double);
    qsort(cpus, (size_t)repeats, sizeof cpus[0], cmp_double);
    *rate = quantile(rates, (size_t)repeats, 0.5);
    *spread = *rate > 0 ? (rates[repeats - 1] - rates[0]) / *rate : 0;
    if (cpu) *cpu = quantile(cpus, (size_t)repeats, 0.5);
    return SLM_OK;
}

slm_status compare_measure_speed(const compare_job *job, compare_work_fn work, void *ctx, slm_compare_result *r) {
    const size_t count = (size_t)r->speed_n;
    if (count == 0) return SLM_OK;
    slm_status st = slm_set_threads(job->threads_all);
    if (st == SLM_OK) st = work(ctx, 0, 1); /* warm-up: caches, the pool, a zero-shot prompt prefix */
    double *lat = malloc(count * sizeof *lat);
    if (!lat) return slm_error(SLM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == SLM_OK && i < count; i++) {
        double t0 = slm_time_seconds();
        st = work(ctx, i, 1);
        lat[i] = slm_time_seconds() - t0;
    }
    if (st == SLM_OK) {
        qsort(lat, count, sizeof *lat, cmp_double);
        r->latency_p50_s = quantile(lat, count, 0.5);
        r->latency_p95_s = quantile(lat, count, 0.95);
    }
    free(lat);
    r->repeats = job->params->repeats > 0 ? job->params->repeats : 1;
    if (st == SLM_OK) st = slm_set_threads(1);
    if (st == SLM_OK) st = timed_passes(work, ctx, count, r->repeats, &r->rate_1, &r->rate_1_spread, &r->cpu_per_example_s);
    if (st == SLM_OK) st = slm_set_threads(job->threads_all);
    if (st == SLM_OK) st = timed_passes(work, ctx, count, r->repeats, &r->rate_all, &r->rate_all_spread, NULL);
    /* the CPU time, not the wall time: on a loaded machine the wall time counts other people's work */
    if (st == SLM_OK) r->cost_per_million = job->params->cpu_hour_price * 1e6 * r->cpu_per_example_s / 3600.0;
    return st;
}

/* ---------------------------------------------------------------- bootstrap */

double compare_bootstrap_mean(const double *v, size_t n, int n_boot, uint64_t seed, double ci[2]) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    double mean = n ? sum / (double)n : 0;
    ci[0] = ci[1] = mean;
    if (n == 0 || n_boot <= 0) return mean;
    double *means = malloc((size_t)n_boot * sizeof *means);
    if (!means) return mean;
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    for (int b = 0; b < n_boot; b++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += v[slm_rng_u64(&rng) % n];
        means[b] = s / (double)n;
    }
    qsort(means, (size_t)n_boot, sizeof *means, cmp_double);
    ci[0] = quantile(means, (size_t)n_boot, 0.025);
    ci[1] = quantile(means, (size_t)n_boot, 0.975);
    free(means);
    return mean;
}

/* ---------------------------------------------------------------- model files and memory */

/* The integer value of metadata key (rendered as text), or 0. */
static int64_t metadata_int(const slm_file *f, const char *key) {
    for (size_t i = 0; i < slm_file_n_metadata(f); i++) {
        const char *k;
        char *v = NULL;
        if (slm_file_metadata(f, i, &k, &v, 1) != SLM_OK) continue;
        int64_t x = strcmp(k, key) == 0 ? atoll(v) : -1;
        slm_free(v);
        if (x >= 0) return x;
    }
    return 0;
}

/* The string value of key (without quotes) into buf, or "". */
static void metadata_string(const slm_file *f, const char *key, char *buf, size_t cap) {
    buf[0] = 0;
    for (size_t i = 0; i < slm_file_n_metadata(f); i++) {
        const char *k;
        char *v = NULL;
        if (slm_file_metadata(f, i, &k, &v, 1) != SLM_OK) continue;
        if (strcmp(k, key) == 0) {
            const char *s = v[0] == '"' ? v + 1 : v;
            snprintf(buf, cap, "%s", s);
            size_t len = strlen(buf);
            if (len && buf[len - 1] == '"') buf[len - 1] = 0;
        }
        slm_free(v);
    }
}

slm_status compare_model_size(const char *path, int n_ctx, int64_t *n_params, uint64_t *file_bytes, uint64_t *kv_bytes) {
    *n_params = 0;
    *file_bytes = *kv_bytes = 0;
    struct stat sb;
    if (stat(path, &sb) != 0) return slm_error(SLM_ERR_IO, "%s: cannot open the model file", path);
    if (S_ISDIR(sb.st_mode)) return SLM_OK; /* a Hugging Face folder: no single file to size */
    *file_bytes = (uint64_t)sb.st_size;
    slm_file *f;
    slm_status st = slm_file_open(path, &f);
    if (st != SLM_OK) return st;
    for (size_t i = 0; i < slm_file_n_tensors(f); i++) {
        slm_tensor_desc d;
        if (slm_file_tensor(f, i, &d) != SLM_OK) continue;
        int64_t e = 1;
        for (int k = 0; k < d.n_dims; k++) e *= d.shape[k];
        *n_params += e;
    }
    char arch[64], key[128];
    metadata_string(f, "general.architecture", arch, sizeof arch);
    if (arch[0] && strcmp(arch, "bert") != 0) {
        snprintf(key, sizeof key, "%s.block_count", arch);
        int64_t layers = metadata_int(f, key);
        snprintf(key, sizeof key, "%s.embedding_length", arch);
        int64_t embd = metadata_int(f, key);
        snprintf(key, sizeof key, "%s.attention.head_count", arch);
        int64_t heads = metadata_int(f, key);
        snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
        int64_t kv_heads = metadata_int(f, key);
        snprintf(key, sizeof key, "%s.attention.key_length", arch);
        int64_t head_dim = metadata_int(f, key);
        if (!head_dim && heads) head_dim = embd / heads;
        if (!kv_heads) kv_heads = heads;
        *kv_bytes = (uint64_t)n_ctx * (uint64_t)layers * 2 * (uint64_t)(kv_heads * head_dim) * sizeof(float);
    }
    slm_file_close(f);
    return SLM_OK;
}

void compare_file_string(const char *path, const char *key, char *buf, size_t cap) {
    buf[0] = 0;
    slm_file *f;
    if (slm_file_open(path, &f) != SLM_OK) return;
    metadata_string(f, key, buf, cap);
    slm_file_close(f);
}

/* MemAvailable from /proc/meminfo in bytes (0: unknown). */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

int compare_fits_memory(const compare_job *job, uint64_t file_bytes, uint64_t kv_bytes, slm_compare_result *r) {
    double share = job->params->memory_headroom;
    uint64_t avail = mem_available();
    if (share <= 0 || avail == 0) return 1;
    uint64_t need = file_bytes + kv_bytes;
    if ((double)need <= share * (double)avail) return 1;
    r->ok = 0;
    snprintf(r->error, sizeof r->error,
             "does not fit in memory: the model file (%.2f GiB) and its KV cache (%.2f GiB) need %.2f GiB, more than "
             "%.0f%% of the %.2f GiB available",
             (double)file_bytes / 1073741824.0, (double)kv_bytes / 1073741824.0, (double)need / 1073741824.0, 100 * share,
             (double)avail / 1073741824.0);
    return 0;
}

/* The 1-minute load average (-1: unknown). */
static double load_average(void) {
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1) load = -1;
        fclose(f);
    }
    return load;
}

/* ---------------------------------------------------------------- isolation */

typedef void (*job_fn)(const compare_job *job, slm_compare_result *r);

/* Runs fn in a child process (with params->isolate) that writes its record into shared memory;
 * a child that dies leaves a message saying how. */
static void run_isolated(const compare_job *job, job_fn fn, slm_compare_result *r) {
    if (!job->params->isolate) {
        fn(job, r);
        return;
    }
    slm_compare_result *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "cannot map memory for the candidate's process");
        return;
    }
    *shared = *r;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        fn(job, shared);
        if (shared->ok && shared->peak_rss_bytes == 0) shared->peak_rss_bytes = slm_peak_rss_bytes();
        _exit(0);
    }
    if (pid < 0) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "cannot start a process for the candidate");
        munmap(shared, sizeof *shared);
        return;
    }
    int status = 0;
    struct rusage ru = {0};
    while (wait4(pid, &status, 0, &ru) < 0) {
    }
    *r = *shared;
    munmap(shared, sizeof *shared);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "its process was killed by signal %d (%s)%s", sig, strsignal(sig),
                 sig == SIGKILL ? ": out of memory?" : "");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        r->ok = 0;
        snprintf(r->error, sizeof r->error, "its process exited with status %d", WEXITSTATUS(status));
    }
    if (!r->peak_rss_bytes) r->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024;
}

/* The report name: the candidate's, else the file name without its directory, else the method. */
static void candidate_name(const slm_compare_candidate *c, char *buf, size_t cap) {
    if (c->name && *c->name) snprintf(buf, cap, "%s", c->name);
    else if (c->path) {
        const char *slash = strrchr(c->path, '/');
        snprintf(buf, cap, "%s", slash ? slash + 1 : c->path);
    } else snprintf(buf, cap, "%s", c->method ? c->method : "auto");
}

slm_status slm_compare_run(const slm_compare_params *params, const slm_compare_candidate *candidates, size_t n,
                           slm_compare_result *results) {
    if (!params || (n && (!candidates || !results)))
        return slm_error(SLM_ERR_INVALID_ARG, "slm_compare_run: NULL argument");
    if (!params->data_path) return slm_error(SLM_ERR_INVALID_ARG, "slm_compare_run: no data file");
    if (params->task != SLM_COMPARE_CLASSIFY && params->task != SLM_COMPARE_KEYWORDS)
        return slm_error(SLM_ERR_INVALID_ARG, "slm_compare_run: unknown task %d", (int)params->task);
    if (access(params->data_path, R_OK) != 0)
        return slm_error(SLM_ERR_IO, "%s: cannot open the data file", params->data_path);
    const int threads_all = params->threads > 0 ? params->threads : slm_physical_cores();
    for (size_t i = 0; i < n; i++) {
        const slm_compare_candidate *c = &candidates[i];
        slm_compare_result *r = &results[i];
        memset(r, 0, sizeof *r);
        candidate_name(c, r->name, sizeof r->name);
        snprintf(r->path, sizeof r->path, "%s", c->path ? c->path : "");
        r->threads_all = threads_all;
        compare_job job = {params, c, c->limit > 0 ? c->limit : params->limit, c->speed_n > 0 ? c->speed_n : params->speed_n,
                           c->shots > 0 ? c->shots : params->shots, threads_all,
                           params->score_threads > 0 ? params->score_threads : threads_all};
        compare_log(params, "[%zu/%zu] %s", i + 1, n, r->name);
        r->ok = 1;
        r->load_before = load_average();
        if (params->task == SLM_COMPARE_CLASSIFY && c->finetune_base) run_isolated(&job, compare_run_finetune, r);
        if (r->ok) run_isolated(&job, params->task == SLM_COMPARE_CLASSIFY ? compare_run_classify : compare_run_keywords, r);
        r->load_after = load_average();
        if (r->ok)
            compare_log(params, "[%zu/%zu] %s: score %.2f%% on %zu, %.1f/s at 1 thread, %.1f/s at %d", i + 1, n, r->name,
                        100 * r->score, r->n, r->rate_1, r->rate_all, r->threads_all);
        else compare_log(params, "[%zu/%zu] %s failed: %s", i + 1, n, r->name, r->error);
    }
    return SLM_OK;
}
