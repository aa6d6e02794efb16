/* fuzz_serve.c — libFuzzer harness: arbitrary request bodies through the server's route
 * handlers (completions, chat, tokenize, detokenize, keywords) on a live slm_server over
 * stories260K (from $SLM_DATA): every answer must be a JSON object or an SSE stream that ends,
 * with a 2xx/4xx/5xx status, and nothing may leak or crash. The first byte picks the route. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

static slm_server *start(void) {
    const char *data = getenv("SLM_DATA");
    static char path[1024];
    snprintf(path, sizeof path, "%s/tiny_lm_models/stories260K/stories260K.bin", data ? data : "../shared/data");
    slm_server_params p = slm_server_defaults();
    p.model_path = path;
    p.port = 0;
    p.n_ctx = 128;
    p.parallel = 2;
    p.max_tokens = 16; /* bounded work per input */
    p.timeout_s = 10;
    p.quiet = 1;
    slm_server *srv = NULL;
    if (slm_server_new(&p, &srv) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        abort();
    }
    return srv;
}

static slm_server *srv;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    srv = start(); /* lives for the whole run */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    serve_reply rep = {0};
    switch (data[0] % 5) {
    case 0: serve_completions(srv, body, len, 0, NULL, NULL, &rep); break;
    case 1: serve_completions(srv, body, len, 1, NULL, NULL, &rep); break;
    case 2: serve_route_tokenize(srv, body, len, &rep); break;
    case 3: serve_route_detokenize(srv, body, len, &rep); break;
    default: serve_route_keywords(srv, body, len, &rep); break;
    }
    if (rep.stream) {
        char buf[4096];
        long n;
        while ((n = serve_stream_read(rep.stream, buf, sizeof buf)) >= 0) {
        }
        if (n != -1) abort(); /* a stream must end with [DONE], not fail */
        serve_stream_free(rep.stream);
        return 0;
    }
    if (rep.status < 200 || rep.status > 599 || !rep.body) abort();
    cJSON *j = cJSON_ParseWithLength(rep.body, rep.len);
    if (!j || !cJSON_IsObject(j)) abort(); /* every answer is one JSON object */
    if (rep.status >= 400 && !cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")) abort();
    cJSON_Delete(j);
    free(rep.body);
    return 0;
}
