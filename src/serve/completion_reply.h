/* completion_reply.h — the answers of /v1/completions and /v1/chat/completions: one JSON
 * object for a finished request, or a stream of server-sent events while it runs. */
#ifndef SLM_SERVE_COMPLETION_REPLY_H
#define SLM_SERVE_COMPLETION_REPLY_H
#include "serve/serve.h"

/* What a generation reply needs besides the request itself. */
typedef struct {
    int chat;
    char id[48];
    long long created;
    const char *model;
    int include_usage;
} reply_meta;

/* Fills *out with the JSON answer of a finished request (text or message, logprobs,
 * finish_reason, usage). */
void completion_reply_final(slm_server *srv, const reply_meta *m, serve_request *r, serve_reply *out);
/* A stream of a submitted request's chunks (the stream takes over the caller's reference to r);
 * alive(actx) tells whether the client is still there (may be NULL). NULL when out of memory. */
serve_stream *completion_stream_new(slm_server *srv, serve_request *r, const reply_meta *m, serve_alive_fn alive,
                                    void *actx);

#endif
