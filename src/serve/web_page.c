/* web_page.c — a placeholder for the built-in web page at GET / (a minimal HTML page that
 * points at the API); the chat page replaces it. */
#include <string.h>

#include "serve/web_page.h"

static const char PAGE[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>slm serve</title></head>\n"
    "<body><h1>slm serve</h1>\n<p>An OpenAI-compatible API: POST /v1/chat/completions, /v1/completions,\n"
    "/v1/embeddings; GET /v1/models, /health, /metrics.</p></body></html>\n";

const char *serve_web_page(size_t *len) {
    *len = sizeof PAGE - 1;
    return PAGE;
}
