/* serve.h — the internals of `slm serve` shared by its files: the server object, the request
 * a generation is (filled by the HTTP side, produced into by the scheduler), and the helpers
 * each file offers to the others. http.c speaks HTTP, routes.c and openai.c JSON, scheduler.c
 * runs the model, metrics.c counts. */
#ifndef SLM_SERVE_SERVE_H
#define SLM_SERVE_SERVE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/metrics.h"
#include "slm.h"

#define SERVE_MAX_TOP_LOGPROBS 20
#define SERVE_MAX_STOPS 8
#define SERVE_MAX_STOP_BYTES 256

/* The log-probability of one generated token and of its best alternatives. */
typedef struct {
    int32_t id;
    float logprob;
    int n_top;
    int32_t top_id[SERVE_MAX_TOP_LOGPROBS];
    float top_logprob[SERVE_MAX_TOP_LOGPROBS];
} serve_token_logprob;

/* One generation. The HTTP thread fills the inputs and submits it; the scheduler appends text
 * (whole UTF-8 characters, stop strings cut) and finishes it. Shared by both through refs. */
typedef struct serve_request {
    /* inputs, fixed once submitted */
    int32_t *prompt; /* (n_prompt) owned */
    size_t n_prompt;
    int max_tokens;  /* new tokens at most (the context may end it sooner) */
    slm_sampling_params sampling;
    char *stop[SERVE_MAX_STOPS + 1]; /* NULL-terminated, owned */
    int logprobs;     /* record each token's log-probability */
    int top_logprobs; /* and this many alternatives (0..SERVE_MAX_TOP_LOGPROBS) */
    double deadline;  /* slm_time_seconds() after which generation ends */
    int ignore_eos;   /* keep going past end tokens (llama.cpp's field, for benchmarks) */

    /* outputs, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text; /* produced text (n_text bytes, NUL-terminated) */
    size_t n_text, cap_text;
    serve_token_logprob *lps; /* (n_lps) when logprobs */
    size_t n_lps, cap_lps;
    int started;    /* a slot took it */
    int done;
    const char *finish_reason; /* "stop", "length" (static) */
    char *error;               /* set when generation failed */
    int n_prompt_eval;         /* prompt tokens evaluated (the rest came from the slot's cache) */
    int n_generated;
    atomic_int cancelled;      /* the client went away or gave up */
    int refs;                  /* under the scheduler's lock: owners left (HTTP side, scheduler) */
} serve_request;

typedef struct serve_scheduler serve_scheduler;

/* A piece of work that must run on the scheduler thread (it uses the worker pool). */
typedef struct serve_job {
    void (*run)(void *ctx);
    void *ctx;
    int done; /* under the scheduler's lock */
    struct serve_job *next;
} serve_job;

struct slm_server {
    slm_server_params p;
    slm_model *model;
    const slm_tokenizer *tok;
    char *model_id;
    int n_vocab, n_ctx;
    slm_embedder *embedder;
    char *embed_id;
    slm_classifier *classifier;
    char *classifier_id;
    slm_keywords *keywords[3]; /* by slm_keywords_method, made on first use */
    serve_scheduler *sched;
    serve_metrics metrics;
    struct MHD_Daemon *daemon;
    int port;
    atomic_int ready;     /* models loaded */
    atomic_int in_flight; /* requests between arrival and their answer's end */
    int stop_pipe[2];
    long long created;
    atomic_ullong next_id;
};

/* ---- scheduler.c */
/* Starts the scheduler thread with the server's slots. */
slm_status serve_scheduler_start(slm_server *srv, serve_scheduler **out);
/* Stops the thread, finishing every request with an error (further submits are refused). */
void serve_scheduler_stop(serve_scheduler *s);
/* Frees a stopped scheduler and its sessions (NULL is fine). */
void serve_scheduler_free(serve_scheduler *s);
/* Makes a request (refs = 1, the caller's); NULL when out of memory. */
serve_request *serve_request_new(void);
/* Drops the caller's reference (the request is freed with the last one). */
void serve_request_release(serve_scheduler *s, serve_request *r);
/* Queues a request (the scheduler takes a reference). Returns 0, or -1 when the queue is full. */
int serve_scheduler_submit(serve_scheduler *s, serve_request *r);
/* Runs a job on the scheduler thread between steps and waits for it. */
void serve_scheduler_run_job(serve_scheduler *s, serve_job *job);
/* Requests waiting for a slot, and slots in use. */
void serve_scheduler_load(serve_scheduler *s, int *queued, int *active);

/* ---- openai.c: completions and chat completions */
/* One HTTP answer: status, content type and body (owned, freed by http.c); or a stream. */
typedef struct serve_stream serve_stream;
typedef struct {
    int status;
    char *body;
    size_t len;
    const char *content_type; /* static; NULL: application/json */
    serve_stream *stream;     /* set: answer with server-sent events from this stream */
} serve_reply;

/* The handlers of the routes; each fills *out. conn_alive(ctx) tells whether the client is
 * still connected (for long waits). */
typedef int (*serve_alive_fn)(void *ctx);
void serve_completions(slm_server *srv, const char *body, size_t len, int chat, serve_alive_fn alive, void *actx,
                       serve_reply *out);
/* The reader of a streamed reply: writes at most max bytes of SSE to buf; returns the byte
 * count, 0 when nothing is ready yet (after waiting a little), -1 at the end, -2 on failure. */
long serve_stream_read(serve_stream *st, char *buf, size_t max);
/* Releases a stream (cancels its request when it has not finished). */
void serve_stream_free(serve_stream *st);

/* ---- routes.c: the other JSON routes */
void serve_route_health(slm_server *srv, serve_reply *out);
void serve_route_models(slm_server *srv, serve_reply *out);
void serve_route_tokenize(slm_server *srv, const char *body, size_t len, serve_reply *out);
void serve_route_detokenize(slm_server *srv, const char *body, size_t len, serve_reply *out);
void serve_route_embeddings(slm_server *srv, const char *body, size_t len, serve_reply *out);
void serve_route_classify(slm_server *srv, const char *body, size_t len, serve_reply *out);
void serve_route_keywords(slm_server *srv, const char *body, size_t len, serve_reply *out);

/* ---- json_util.c */
typedef struct cJSON cJSON;
/* Fills *out with an OpenAI error object {"error": {message, type, param, code}}. param and
 * code may be NULL. */
void serve_error(serve_reply *out, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Fills *out with a JSON body (the object is deleted). */
void serve_json(serve_reply *out, int status, cJSON *obj);
/* Parses a request body: a JSON object, or an error reply (400) and NULL. */
cJSON *serve_parse_object(const char *body, size_t len, serve_reply *out);
/* Whether len bytes are valid UTF-8. */
int serve_utf8_valid(const char *s, size_t len);
/* Base64 of len bytes; owned by the caller (free). */
char *serve_base64(const void *data, size_t len);
/* Optional fields of a request object. Absent or null leaves *out as it is; returns 0, or -1
 * with a 400 error in *err (wrong type, out of [lo, hi]). */
int serve_get_number(const cJSON *obj, const char *name, double lo, double hi, double *out, serve_reply *err);
int serve_get_int(const cJSON *obj, const char *name, long long lo, long long hi, long long *out, serve_reply *err);
/* Whether a JSON value is an integer in [0, limit) (a token id, an index). */
int serve_json_index(const cJSON *v, int limit);
int serve_get_bool(const cJSON *obj, const char *name, int *out, serve_reply *err);
int serve_get_string(const cJSON *obj, const char *name, const char **out, serve_reply *err);
/* A string or an array of at most max strings: *out gets a NULL-terminated array of borrowed
 * pointers (the caller frees the array), *n their count. */
int serve_get_strings(const cJSON *obj, const char *name, int max, const char ***out, int *n, serve_reply *err);

#endif
