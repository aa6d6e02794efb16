/* http.c — the libmicrohttpd glue: one thread per connection (bounded in number, with an idle
 * timeout and a memory limit per connection), request bodies collected up to --max-body (413
 * beyond), the bearer key checked in constant time, CORS headers when asked, each path routed
 * to its handler, and answers sent as JSON or as a stream of server-sent events. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/http.h"
#include "serve/serve.h"
#include "serve/web_page.h"

/* What one request collects between the access handler's calls. */
typedef struct {
    char path[64]; /* the route's canonical path ("" for unknown ones) */
    int route;     /* metrics index */
    double t0;
    char *body;
    size_t len, cap;
    int too_large;
    int status;
    int is_post;
    struct MHD_Connection *conn;
} conn_state;

/* The canonical path of a URL ("/completions" is served as "/v1/completions"), or NULL. */
static const char *canonical_path(const char *url) {
    static const char *const PATHS[] = {"/", "/health", "/v1/models", "/v1/completions", "/v1/chat/completions",
                                        "/v1/embeddings", "/v1/classify", "/v1/keywords", "/tokenize", "/detokenize",
                                        "/metrics"};
    for (size_t i = 0; i < sizeof PATHS / sizeof PATHS[0]; i++) {
        if (strcmp(url, PATHS[i]) == 0) return PATHS[i];
        if (strncmp(PATHS[i], "/v1/", 4) == 0 && strcmp(url, PATHS[i] + 3) == 0) return PATHS[i];
    }
    if (strcmp(url, "/v1/health") == 0) return "/health";
    return NULL;
}

static int route_is_get(const char *path) {
    return strcmp(path, "/") == 0 || strcmp(path, "/health") == 0 || strcmp(path, "/v1/models") == 0 ||
           strcmp(path, "/metrics") == 0;
}

/* Compares the Authorization header with "Bearer KEY" in time that depends on the key's
 * length only. */
static int authorized(const slm_server *srv, struct MHD_Connection *conn) {
    const char *key = srv->p.api_key;
    if (!key || !key[0]) return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    size_t hl = strlen(h), kl = strlen(key);
    unsigned diff = (unsigned)(hl != kl);
    for (size_t i = 0; i < kl; i++) diff |= (unsigned char)key[i] ^ (unsigned char)(hl ? h[i % hl] : 0);
    return diff == 0;
}

/* Whether the client is still connected: a peek at its socket finds no end of stream. */
static int connection_alive(void *ctx) {
    struct MHD_Connection *conn = ctx;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 1;
    char c;
    ssize_t r = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return 0;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 0;
    return 1;
}

static void add_common_headers(const slm_server *srv, struct MHD_Response *resp) {
    if (srv->p.cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    }
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    long n = serve_stream_read(cls, buf, max);
    if (n == -1) return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void stream_free(void *cls) { serve_stream_free(cls); }

/* Queues a reply (and frees its body). */
static enum MHD_Result send_reply(slm_server *srv, conn_state *cs, serve_reply *rep) {
    struct MHD_Response *resp;
    if (rep->status == 499) { /* the client went away: nobody to answer */
        free(rep->body);
        return MHD_NO;
    }
    if (rep->stream) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, rep->stream, stream_free);
        if (!resp) {
            serve_stream_free(rep->stream);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    } else {
        resp = MHD_create_response_from_buffer(rep->len, rep->body ? rep->body : (void *)"", rep->body ? MHD_RESPMEM_MUST_FREE
                                                                                                        : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            free(rep->body);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type ? rep->content_type : "application/json");
        if (rep->status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        if (rep->status == 405) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, route_is_get(cs->path) ? "GET" : "POST");
    }
    add_common_headers(srv, resp);
    cs->status = rep->status;
    enum MHD_Result r = MHD_queue_response(cs->conn, (unsigned)rep->status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* The reply to a request whose headers (and for POSTs, body) are all here. */
static void dispatch(slm_server *srv, conn_state *cs, serve_reply *rep) {
    const char *p = cs->path;
    /* the idle timeout guards the upload; the work itself (a wait for a slot, a long prefill,
     * a stream) may be silent for longer, up to the request's own limit */
    if (cs->is_post)
        MHD_set_connection_option(cs->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)(srv->p.timeout_s + srv->p.idle_timeout_s + 1));
    if (strcmp(p, "/") == 0) {
        size_t len;
        const char *page = serve_web_page(&len);
        rep->status = 200;
        rep->body = malloc(len + 1);
        if (rep->body) memcpy(rep->body, page, len + 1);
        rep->len = rep->body ? len : 0;
        rep->content_type = "text/html; charset=utf-8";
    } else if (strcmp(p, "/health") == 0) serve_route_health(srv, rep);
    else if (strcmp(p, "/v1/models") == 0) serve_route_models(srv, rep);
    else if (strcmp(p, "/metrics") == 0) {
        int queued = 0, active = 0;
        if (atomic_load(&srv->ready)) serve_scheduler_load(srv->sched, &queued, &active);
        size_t len = 0;
        rep->body = metrics_render(&srv->metrics, queued, active, srv->p.parallel, &len);
        rep->status = rep->body ? 200 : 500;
        rep->len = len;
        rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(p, "/v1/completions") == 0)
        serve_completions(srv, cs->body, cs->len, 0, connection_alive, cs->conn, rep);
    else if (strcmp(p, "/v1/chat/completions") == 0)
        serve_completions(srv, cs->body, cs->len, 1, connection_alive, cs->conn, rep);
    else if (strcmp(p, "/v1/embeddings") == 0) serve_route_embeddings(srv, cs->body, cs->len, rep);
    else if (strcmp(p, "/v1/classify") == 0) serve_route_classify(srv, cs->body, cs->len, rep);
    else if (strcmp(p, "/v1/keywords") == 0) serve_route_keywords(srv, cs->body, cs->len, rep);
    else if (strcmp(p, "/tokenize") == 0) serve_route_tokenize(srv, cs->body, cs->len, rep);
    else if (strcmp(p, "/detokenize") == 0) serve_route_detokenize(srv, cs->body, cs->len, rep);
    else serve_error(rep, 404, NULL, "not_found", "no route");
}

/* Checks that can be answered from the headers alone; fills *rep when one fails. */
static int check_headers(slm_server *srv, conn_state *cs, const char *url, const char *method, serve_reply *rep) {
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    const char *path = canonical_path(url);
    if (!path && strncmp(url, "/v1/models/", 11) == 0 && is_get) path = "/v1/models";
    if (strcmp(method, "OPTIONS") == 0 && srv->p.cors && path) { /* a CORS preflight */
        rep->status = 204;
        return 1;
    }
    if (!path) {
        serve_error(rep, 404, NULL, "not_found", "no route %s %.200s", method, url);
        return 1;
    }
    snprintf(cs->path, sizeof cs->path, "%s", path);
    cs->route = metrics_route_index(path);
    if (route_is_get(path) ? !is_get : strcmp(method, "POST") != 0) {
        serve_error(rep, 405, NULL, "method_not_allowed", "%s %s is not allowed: use %s", method, path,
                    route_is_get(path) ? "GET" : "POST");
        return 1;
    }
    if (strcmp(path, "/") != 0 && strcmp(path, "/health") != 0 && !authorized(srv, cs->conn)) {
        serve_error(rep, 401, NULL, "invalid_api_key", "a valid API key is required: Authorization: Bearer KEY");
        return 1;
    }
    cs->is_post = !is_get;
    const char *cl = MHD_lookup_connection_value(cs->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > srv->p.max_body) {
            serve_error(rep, 413, NULL, "request_too_large", "the request body is larger than the limit of %zu bytes",
                        srv->p.max_body);
            return 1;
        }
    }
    /* /v1/models/ID: the one model with that id */
    if (strncmp(url, "/v1/models/", 11) == 0) {
        const char *id = url + 11;
        if (!atomic_load(&srv->ready)) serve_error(rep, 503, NULL, "model_loading", "the model is still loading");
        else if (strcmp(id, srv->model_id) == 0 || (srv->embed_id && strcmp(id, srv->embed_id) == 0) ||
                 (srv->classifier_id && strcmp(id, srv->classifier_id) == 0)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddStringToObject(o, "object", "model");
            cJSON_AddNumberToObject(o, "created", (double)srv->created);
            cJSON_AddStringToObject(o, "owned_by", "slm");
            serve_json(rep, 200, o);
        } else
            serve_error(rep, 404, "model", "model_not_found", "no model '%.200s'", id);
        return 1;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)version;
    slm_server *srv = cls;
    conn_state *cs = *con_cls;
    serve_reply rep = {0};
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        cs->conn = conn;
        cs->t0 = slm_time_seconds();
        cs->route = METRICS_N_ROUTES - 1;
        *con_cls = cs;
        atomic_fetch_add(&srv->in_flight, 1);
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)srv->p.idle_timeout_s);
        if (check_headers(srv, cs, url, method, &rep)) return send_reply(srv, cs, &rep);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (cs->too_large || cs->len + n > srv->p.max_body) { /* keep reading, keep nothing */
            cs->too_large = 1;
            return MHD_YES;
        }
        if (cs->len + n + 1 > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 4096;
            while (cap < cs->len + n + 1) cap *= 2;
            char *b = realloc(cs->body, cap);
            if (!b) return MHD_NO;
            cs->body = b;
            cs->cap = cap;
        }
        memcpy(cs->body + cs->len, upload_data, n);
        cs->len += n;
        cs->body[cs->len] = '\0';
        return MHD_YES;
    }
    if (cs->too_large)
        serve_error(&rep, 413, NULL, "request_too_large", "the request body is larger than the limit of %zu bytes",
                    srv->p.max_body);
    else dispatch(srv, cs, &rep);
    return send_reply(srv, cs, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)conn;
    slm_server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) return;
    int status = cs->status ? cs->status : 499; /* closed before an answer */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && cs->status == 200 && cs->is_post) status = 499;
    double dt = slm_time_seconds() - cs->t0;
    metrics_record_request(&srv->metrics, cs->route, status, dt);
    if (srv->p.log_requests)
        fprintf(stderr, "serve: %s %d %.1f ms\n", cs->path[0] ? cs->path : "(unknown)", status, dt * 1e3);
    free(cs->body);
    free(cs);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

slm_status serve_http_start(slm_server *srv, const struct sockaddr *addr, int ipv6) {
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC;
    if (ipv6) flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(flags, (uint16_t)srv->p.port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, addr,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->p.max_connections,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->p.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                   (size_t)(128 * 1024), MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1 << 20),
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                                   (unsigned)1, MHD_OPTION_END);
    if (!srv->daemon) return SLM_ERR_IO;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    srv->port = srv->p.port;
    if (di) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(di->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
            srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return SLM_OK;
}

void serve_http_quiesce(slm_server *srv) {
    if (!srv->daemon) return;
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void serve_http_stop(slm_server *srv) {
    if (srv->daemon) MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}
