/* server.c — the public slm_server: settings, start-up (listen first, so /health can answer
 * 503 while the models load), the run loop that waits for slm_server_stop, and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "serve/http.h"
#include "serve/serve.h"

slm_server_params slm_server_defaults(void) {
    return (slm_server_params){.host = "127.0.0.1", .port = 8080, .parallel = 4, .max_queue = 64, .timeout_s = 600,
                               .max_body = 1u << 20, .max_connections = 256, .idle_timeout_s = 30, .prefill_chunk = 64};
}

/* The file name of a path without its extension: the id clients see in "model". */
static char *model_id(const char *path) {
    const char *base = strrchr(path, '/');
    base = base && base[1] ? base + 1 : path;
    char *id = strdup(base);
    if (!id) return NULL;
    char *dot = strrchr(id, '.');
    if (dot && dot != id && (strcmp(dot, ".gguf") == 0 || strcmp(dot, ".bin") == 0)) *dot = '\0';
    return id;
}

static slm_status check_params(const slm_server_params *p) {
    if (!p->model_path) return slm_error(SLM_ERR_INVALID_ARG, "serve: a model (-m) is required");
    if (p->port < 0 || p->port > 65535) return slm_error(SLM_ERR_INVALID_ARG, "serve: --port %d is not a port", p->port);
    if (p->parallel < 1 || p->parallel > 256) return slm_error(SLM_ERR_INVALID_ARG, "serve: --parallel must be 1 to 256");
    if (p->max_queue < 0 || p->max_queue > 100000) return slm_error(SLM_ERR_INVALID_ARG, "serve: --max-queue must be 0 to 100000");
    if (p->n_ctx < 0) return slm_error(SLM_ERR_INVALID_ARG, "serve: --ctx must not be negative");
    if (!(p->timeout_s > 0 && p->timeout_s <= 1e6)) return slm_error(SLM_ERR_INVALID_ARG, "serve: --timeout must be in (0, 1e6] seconds");
    if (p->idle_timeout_s < 1 || p->idle_timeout_s > 86400)
        return slm_error(SLM_ERR_INVALID_ARG, "serve: --idle-timeout must be 1 to 86400 seconds");
    if (p->max_body < 64) return slm_error(SLM_ERR_INVALID_ARG, "serve: --max-body must be at least 64 bytes");
    if (p->max_connections < 1 || p->max_connections > 65536)
        return slm_error(SLM_ERR_INVALID_ARG, "serve: --max-connections must be 1 to 65536");
    if (p->prefill_chunk < 1) return slm_error(SLM_ERR_INVALID_ARG, "serve: the prefill chunk must be positive");
    return SLM_OK;
}

/* Loads the models and starts the scheduler; the server is ready after this. */
static slm_status load_models(slm_server *srv) {
    slm_model_params mp = {.tokenizer_path = srv->p.tokenizer_path};
    slm_status st = slm_model_load(srv->p.model_path, &mp, &srv->model);
    if (st != SLM_OK) return st;
    srv->tok = slm_model_tokenizer(srv->model);
    if (!srv->tok) return slm_error(SLM_ERR_UNSUPPORTED, "%s: the model has no tokenizer", srv->p.model_path);
    slm_model_info info;
    if ((st = slm_model_get_info(srv->model, &info)) != SLM_OK) return st;
    srv->n_vocab = info.n_vocab;
    srv->n_ctx = srv->p.n_ctx > 0 ? srv->p.n_ctx : (info.n_ctx_train > 0 && info.n_ctx_train < 2048 ? info.n_ctx_train : 2048);
    if (!(srv->model_id = model_id(srv->p.model_path))) return SLM_ERR_NOMEM;
    if (srv->p.embed_model_path) {
        if ((st = slm_embedder_open(srv->p.embed_model_path, NULL, &srv->embedder)) != SLM_OK) return st;
        if (!(srv->embed_id = model_id(srv->p.embed_model_path))) return SLM_ERR_NOMEM;
    }
    if (srv->p.classifier_path) {
        if ((st = slm_classifier_open(srv->p.classifier_path, NULL, &srv->classifier)) != SLM_OK) return st;
        if (!(srv->classifier_id = model_id(srv->p.classifier_path))) return SLM_ERR_NOMEM;
    }
    return serve_scheduler_start(srv, &srv->sched);
}

slm_status slm_server_new(const slm_server_params *params, slm_server **out) {
    if (!params || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_server_new: NULL argument");
    *out = NULL;
    slm_status st = check_params(params);
    if (st != SLM_OK) return st;
    slm_server *srv = calloc(1, sizeof *srv);
    if (!srv) return slm_error(SLM_ERR_NOMEM, "out of memory for the server");
    srv->p = *params;
    if (!srv->p.host) srv->p.host = "127.0.0.1";
    srv->stop_pipe[0] = srv->stop_pipe[1] = -1;
    srv->created = (long long)time(NULL);
    atomic_init(&srv->ready, 0);
    atomic_init(&srv->in_flight, 0);
    atomic_init(&srv->next_id, 1);
    metrics_init(&srv->metrics);
    if (pipe(srv->stop_pipe) != 0) {
        st = slm_error(SLM_ERR_IO, "serve: pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(srv->stop_pipe[1], F_SETFL, O_NONBLOCK);
    if ((st = slm_set_threads(srv->p.n_threads)) != SLM_OK) goto fail;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", srv->p.port);
    int gai = getaddrinfo(srv->p.host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        st = slm_error(SLM_ERR_INVALID_ARG, "serve: cannot resolve --host %s: %s", srv->p.host, gai_strerror(gai));
        goto fail;
    }
    st = serve_http_start(srv, ai->ai_addr, ai->ai_family == AF_INET6);
    freeaddrinfo(ai);
    if (st != SLM_OK) {
        st = slm_error(SLM_ERR_IO, "serve: cannot listen on %s:%d (in use, or not an address of this machine?)",
                       srv->p.host, srv->p.port);
        goto fail;
    }
    if ((st = load_models(srv)) != SLM_OK) goto fail;
    atomic_store(&srv->ready, 1);
    *out = srv;
    return SLM_OK;
fail:;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", slm_last_error());
    slm_server_free(srv);
    return slm_error(st, "%s", msg);
}

int slm_server_port(const slm_server *srv) { return srv ? srv->port : -1; }

slm_status slm_server_run(slm_server *srv) {
    if (!srv) return slm_error(SLM_ERR_INVALID_ARG, "slm_server_run: NULL server");
    for (;;) {
        struct pollfd pfd = {.fd = srv->stop_pipe[0], .events = POLLIN};
        int r = poll(&pfd, 1, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return slm_error(SLM_ERR_IO, "serve: poll: %s", strerror(errno));
        if (pfd.revents) break;
    }
    char c;
    while (read(srv->stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    return SLM_OK;
}

void slm_server_stop(slm_server *srv) {
    if (!srv || srv->stop_pipe[1] < 0) return;
    int saved = errno;
    ssize_t w = write(srv->stop_pipe[1], "x", 1);
    (void)w;
    errno = saved;
}

void slm_server_free(slm_server *srv) {
    if (!srv) return;
    atomic_store(&srv->ready, 0);
    serve_http_quiesce(srv);          /* no new connections */
    serve_scheduler_stop(srv->sched); /* running requests end with an error ... */
    for (int i = 0; i < 300 && atomic_load(&srv->in_flight) > 0; i++) /* ... which their clients get */
        usleep(10 * 1000);
    serve_http_stop(srv);             /* closes what is left, joins the connection threads */
    serve_scheduler_free(srv->sched);
    srv->sched = NULL;
    for (int i = 0; i < 3; i++) slm_keywords_free(srv->keywords[i]);
    slm_classifier_free(srv->classifier);
    slm_embedder_free(srv->embedder);
    slm_model_free(srv->model);
    free(srv->model_id);
    free(srv->embed_id);
    free(srv->classifier_id);
    metrics_destroy(&srv->metrics);
    if (srv->stop_pipe[0] >= 0) close(srv->stop_pipe[0]);
    if (srv->stop_pipe[1] >= 0) close(srv->stop_pipe[1]);
    free(srv);
}
