/* metrics.h — the server's counters for GET /metrics (Prometheus text format): requests by
 * route and status, latency histograms by route, prompt and generated tokens. */
#ifndef SLM_SERVE_METRICS_H
#define SLM_SERVE_METRICS_H
#include <pthread.h>
#include <stddef.h>

#define METRICS_N_ROUTES 12
#define METRICS_N_STATUS 16
#define METRICS_N_BUCKETS 12

typedef struct {
    pthread_mutex_t mu;
    int status_codes[METRICS_N_STATUS]; /* the distinct codes seen, in order of appearance */
    int n_status;
    unsigned long long requests[METRICS_N_ROUTES][METRICS_N_STATUS];
    unsigned long long latency_buckets[METRICS_N_ROUTES][METRICS_N_BUCKETS]; /* cumulative at render */
    unsigned long long latency_count[METRICS_N_ROUTES];
    double latency_sum[METRICS_N_ROUTES];
    unsigned long long prompt_tokens, generated_tokens, cancelled;
} serve_metrics;

/* The route names metrics are kept by (index = route id); the last one is "other". */
extern const char *const METRICS_ROUTES[METRICS_N_ROUTES];
/* The index of a route name in METRICS_ROUTES ("other" when unknown). */
int metrics_route_index(const char *path);

void metrics_init(serve_metrics *m);
void metrics_destroy(serve_metrics *m);
/* Counts one finished request of a route with its HTTP status and its duration in seconds. */
void metrics_record_request(serve_metrics *m, int route, int status, double seconds);
/* Adds the token counts of one generation; cancelled: the client went away. */
void metrics_record_tokens(serve_metrics *m, int prompt_tokens, int generated_tokens, int cancelled);
/* The metrics as Prometheus text, with the queue depth and active slots given; owned by the
 * caller (free). */
char *metrics_render(serve_metrics *m, int queued, int active, int slots, size_t *len);

#endif
