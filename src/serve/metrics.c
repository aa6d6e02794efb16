/* metrics.c — the server's counters and their Prometheus text rendering (GET /metrics). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/metrics.h"

const char *const METRICS_ROUTES[METRICS_N_ROUTES] = {
    "/",           "/health",    "/v1/models",   "/v1/completions", "/v1/chat/completions",
    "/v1/embeddings", "/v1/classify", "/v1/keywords", "/tokenize",    "/detokenize",
    "/metrics",    "other"};

static const double BUCKETS[METRICS_N_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

int metrics_route_index(const char *path) {
    for (int i = 0; i < METRICS_N_ROUTES - 1; i++)
        if (strcmp(path, METRICS_ROUTES[i]) == 0) return i;
    return METRICS_N_ROUTES - 1;
}

void metrics_init(serve_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void metrics_destroy(serve_metrics *m) { pthread_mutex_destroy(&m->mu); }

void metrics_record_request(serve_metrics *m, int route, int status, double seconds) {
    if (route < 0 || route >= METRICS_N_ROUTES) route = METRICS_N_ROUTES - 1;
    pthread_mutex_lock(&m->mu);
    int k = 0;
    while (k < m->n_status && m->status_codes[k] != status) k++;
    if (k == m->n_status) {
        if (m->n_status < METRICS_N_STATUS) m->status_codes[m->n_status++] = status;
        else k = METRICS_N_STATUS - 1; /* more distinct codes than slots: counted with the last */
    }
    m->requests[route][k]++;
    for (int b = 0; b < METRICS_N_BUCKETS; b++)
        if (seconds <= BUCKETS[b]) {
            m->latency_buckets[route][b]++;
            break;
        }
    m->latency_count[route]++;
    m->latency_sum[route] += seconds;
    pthread_mutex_unlock(&m->mu);
}

void metrics_record_tokens(serve_metrics *m, int prompt_tokens, int generated_tokens, int cancelled) {
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (unsigned long long)(prompt_tokens > 0 ? prompt_tokens : 0);
    m->generated_tokens += (unsigned long long)(generated_tokens > 0 ? generated_tokens : 0);
    m->cancelled += cancelled != 0;
    pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer; a failed allocation leaves ok = 0. */
typedef struct {
    char *buf;
    size_t n, cap;
    int ok;
} text_buf;

static void put(text_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *t, const char *fmt, ...) {
    if (!t->ok) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->buf + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->ok = 0;
            return;
        }
        if ((size_t)w < t->cap - t->n) {
            t->n += (size_t)w;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)w;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->ok = 0;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

char *metrics_render(serve_metrics *m, int queued, int active, int slots, size_t *len) {
    text_buf t = {malloc(8192), 0, 8192, 1};
    if (!t.buf) return NULL;
    pthread_mutex_lock(&m->mu);
    put(&t, "# HELP slm_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE slm_requests_total counter\n");
    for (int r = 0; r < METRICS_N_ROUTES; r++)
        for (int k = 0; k < m->n_status; k++)
            if (m->requests[r][k])
                put(&t, "slm_requests_total{route=\"%s\",status=\"%d\"} %llu\n", METRICS_ROUTES[r], m->status_codes[k],
                    m->requests[r][k]);
    put(&t, "# HELP slm_request_duration_seconds Time from the request's arrival to its answer (streams: to the end).\n"
            "# TYPE slm_request_duration_seconds histogram\n");
    for (int r = 0; r < METRICS_N_ROUTES; r++) {
        if (!m->latency_count[r]) continue;
        unsigned long long cum = 0;
        for (int b = 0; b < METRICS_N_BUCKETS; b++) {
            cum += m->latency_buckets[r][b];
            put(&t, "slm_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", METRICS_ROUTES[r], BUCKETS[b], cum);
        }
        put(&t, "slm_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", METRICS_ROUTES[r], m->latency_count[r]);
        put(&t, "slm_request_duration_seconds_sum{route=\"%s\"} %.6f\n", METRICS_ROUTES[r], m->latency_sum[r]);
        put(&t, "slm_request_duration_seconds_count{route=\"%s\"} %llu\n", METRICS_ROUTES[r], m->latency_count[r]);
    }
    put(&t,
        "# HELP slm_prompt_tokens_total Prompt tokens evaluated.\n# TYPE slm_prompt_tokens_total counter\n"
        "slm_prompt_tokens_total %llu\n"
        "# HELP slm_generated_tokens_total Tokens generated.\n# TYPE slm_generated_tokens_total counter\n"
        "slm_generated_tokens_total %llu\n"
        "# HELP slm_cancelled_total Generations cancelled because the client went away.\n"
        "# TYPE slm_cancelled_total counter\nslm_cancelled_total %llu\n",
        m->prompt_tokens, m->generated_tokens, m->cancelled);
    pthread_mutex_unlock(&m->mu);
    put(&t,
        "# HELP slm_queue_depth Requests waiting for a slot.\n# TYPE slm_queue_depth gauge\nslm_queue_depth %d\n"
        "# HELP slm_active_slots Slots decoding a request.\n# TYPE slm_active_slots gauge\nslm_active_slots %d\n"
        "# HELP slm_slots Decoding slots.\n# TYPE slm_slots gauge\nslm_slots %d\n",
        queued, active, slots);
    if (!t.ok) {
        free(t.buf);
        return NULL;
    }
    *len = t.n;
    return t.buf;
}
