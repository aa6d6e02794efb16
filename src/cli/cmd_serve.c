/* cmd_serve.c — `slm serve`: an OpenAI-compatible HTTP server over a model (slm_server in
 * include/slm.h); prints the URL when listening and stops cleanly on SIGINT / SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm serve -m MODEL [options]\n\n"
    "Serves MODEL over HTTP with OpenAI's API: POST /v1/completions, /v1/chat/completions\n"
    "(\"stream\": true for server-sent events), /v1/embeddings (--embed-model), /v1/classify\n"
    "(--classifier), /v1/keywords, /tokenize, /detokenize; GET /v1/models, /health, /metrics,\n"
    "and a web page at /. --parallel slots decode together (continuous batching); up to\n"
    "--max-queue requests wait for a slot, more get 429. Binds 127.0.0.1 unless --host says\n"
    "otherwise; with --api-key every route but / and /health needs \"Authorization: Bearer KEY\".\n"
    "See docs/serve.md.";

static slm_server *g_server;

static void on_signal(int sig) {
    (void)sig;
    slm_server_stop(g_server);
}

int cmd_serve(int argc, char **argv) {
    slm_server_params p = slm_server_defaults();
    int max_body_kib = (int)(p.max_body >> 10);
    float timeout = (float)p.timeout_s;
    const opt_spec specs[] = {
        {"-m", "--model", OPT_STRING, &p.model_path, "generative model (GGUF or llama2.c .bin)"},
        {NULL, "--tokenizer", OPT_STRING, &p.tokenizer_path, "tokenizer for a llama2.c checkpoint"},
        {NULL, "--embed-model", OPT_STRING, &p.embed_model_path, "BERT-family encoder for /v1/embeddings and keywords"},
        {NULL, "--classifier", OPT_STRING, &p.classifier_path, "fine-tuned classifier GGUF for /v1/classify"},
        {NULL, "--host", OPT_STRING, &p.host, "address to listen on (default 127.0.0.1)"},
        {NULL, "--port", OPT_INT, &p.port, "port (default 8080; 0: any free port)"},
        {NULL, "--api-key", OPT_STRING, &p.api_key, "require Authorization: Bearer KEY"},
        {"-np", "--parallel", OPT_INT, &p.parallel, "slots decoded together (default 4)"},
        {"-c", "--ctx", OPT_INT, &p.n_ctx, "context length of each slot (default: the model's, at most 2048)"},
        {NULL, "--max-queue", OPT_INT, &p.max_queue, "requests that may wait for a slot (default 64; more: 429)"},
        {"-t", "--threads", OPT_INT, &p.n_threads, "worker threads (default: physical cores)"},
        {NULL, "--timeout", OPT_FLOAT, &timeout, "wall-clock seconds one request may take (default 600)"},
        {NULL, "--max-body", OPT_INT, &max_body_kib, "largest request body in KiB (default 1024; more: 413)"},
        {NULL, "--max-tokens", OPT_INT, &p.max_tokens, "cap on a request's max_tokens (default: the context)"},
        {NULL, "--max-connections", OPT_INT, &p.max_connections, "open connections at most (default 256)"},
        {NULL, "--idle-timeout", OPT_INT, &p.idle_timeout_s, "seconds a connection may stay silent before a request is in (default 30)"},
        {NULL, "--prefill-chunk", OPT_INT, &p.prefill_chunk, "prompt tokens a slot evaluates per step (default 64)"},
        {NULL, "--cors", OPT_FLAG, &p.cors, "send CORS headers (Access-Control-Allow-Origin: *)"},
        {NULL, "--log-requests", OPT_FLAG, &p.log_requests, "one line per request on stderr"},
        {"-q", "--quiet", OPT_FLAG, &p.quiet, "no start-up lines on stderr"},
    };
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 0, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!p.model_path) {
        fprintf(stderr, "error: -m MODEL is required (see slm serve --help)\n");
        return 2;
    }
    if (max_body_kib < 1 || max_body_kib > (1 << 20) || !(timeout > 0 && timeout <= 1e6f) || p.max_tokens < 0) {
        fprintf(stderr, "error: --max-body must be 1 to 1048576 KiB, --timeout in (0, 1e6] s, --max-tokens not negative\n");
        return 2;
    }
    p.max_body = (size_t)max_body_kib << 10;
    p.timeout_s = timeout;
    signal(SIGPIPE, SIG_IGN);
    if (!p.quiet) fprintf(stderr, "serve: loading %s\n", p.model_path);
    slm_server *server;
    if (slm_server_new(&p, &server) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    g_server = server;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    const char *host = strchr(p.host, ':') ? NULL : p.host;
    if (host) printf("slm serve: listening on http://%s:%d\n", host, slm_server_port(server));
    else printf("slm serve: listening on http://[%s]:%d\n", p.host, slm_server_port(server));
    fflush(stdout);
    if (!p.quiet)
        fprintf(stderr, "serve: %d slots, threads %d; Ctrl-C stops\n", p.parallel, slm_get_threads());
    slm_status st = slm_server_run(server);
    if (!p.quiet) fprintf(stderr, "serve: stopping\n");
    slm_server_free(server);
    g_server = NULL;
    return st == SLM_OK ? 0 : 1;
}
