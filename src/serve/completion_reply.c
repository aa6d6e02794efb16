/* completion_reply.c — the answers of the completion routes: the OpenAI JSON of a finished
 * request (text or chat message, logprobs in either shape, usage), and the server-sent events
 * of a streamed one (chunks as text arrives, the finish reason, optional usage, [DONE]). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/completion_reply.h"

struct serve_stream {
    slm_server *srv;
    serve_request *req;
    reply_meta meta;
    serve_alive_fn alive;
    void *actx;
    size_t text_read, lps_read; /* what earlier events carried */
    int32_t prev_token;         /* the token before the next logprob entry, for its text */
    char *pending;              /* formatted events not yet handed to HTTP */
    size_t pending_len, pending_off;
    int role_sent, ended;
    int timed_out; /* the request waited past its deadline for a slot */
};

/* ------------------------------------------------------------------ replies */

/* Writes a token's text after token prev into buf (invalid UTF-8 as U+FFFD); returns buf. */
static const char *token_text(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap, cJSON **bytes) {
    char raw[512];
    int n = slm_token_to_bytes(tok, prev, id, raw, sizeof raw);
    if (n < 0) n = 0;
    if (bytes) {
        *bytes = cJSON_CreateArray();
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(*bytes, cJSON_CreateNumber((unsigned char)raw[i]));
    }
    size_t o = 0;
    for (int i = 0; i < n && o + 4 < cap;) {
        int ok = serve_utf8_valid(raw + i, 1) ? 1 : 0;
        size_t cl = 1;
        if (!ok) /* a longer character? */
            for (cl = 2; cl <= 4 && i + (int)cl <= n; cl++)
                if (serve_utf8_valid(raw + i, cl)) {
                    ok = 1;
                    break;
                }
        if (ok && o + cl < cap) {
            memcpy(buf + o, raw + i, cl);
            o += cl;
            i += (int)cl;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* The logprobs object of entries [from, to) of r->lps, in the completions or the chat shape.
 * prev is the token before entry from; text_offset the offset of its text. */
static cJSON *logprobs_json(slm_server *srv, const serve_request *r, size_t from, size_t to, int chat, int32_t *prev,
                            size_t *text_offset) {
    char buf[1024];
    if (chat) {
        cJSON *o = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(o, "content");
        for (size_t i = from; i < to; i++) {
            const serve_token_logprob *lp = &r->lps[i];
            cJSON *e = cJSON_CreateObject(), *bytes;
            cJSON_AddStringToObject(e, "token", token_text(srv->tok, *prev, lp->id, buf, sizeof buf, &bytes));
            cJSON_AddNumberToObject(e, "logprob", lp->logprob);
            cJSON_AddItemToObject(e, "bytes", bytes);
            cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
            for (int k = 0; k < lp->n_top; k++) {
                cJSON *t = cJSON_CreateObject(), *tb;
                cJSON_AddStringToObject(t, "token", token_text(srv->tok, *prev, lp->top_id[k], buf, sizeof buf, &tb));
                cJSON_AddNumberToObject(t, "logprob", lp->top_logprob[k]);
                cJSON_AddItemToObject(t, "bytes", tb);
                cJSON_AddItemToArray(top, t);
            }
            cJSON_AddItemToArray(content, e);
            *prev = lp->id;
        }
        return o;
    }
    cJSON *o = cJSON_CreateObject(), *tokens = cJSON_AddArrayToObject(o, "tokens"),
          *token_lps = cJSON_AddArrayToObject(o, "token_logprobs"), *tops = cJSON_AddArrayToObject(o, "top_logprobs"),
          *offsets = cJSON_AddArrayToObject(o, "text_offset");
    for (size_t i = from; i < to; i++) {
        const serve_token_logprob *lp = &r->lps[i];
        const char *t = token_text(srv->tok, *prev, lp->id, buf, sizeof buf, NULL);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(t));
        cJSON_AddItemToArray(token_lps, cJSON_CreateNumber(lp->logprob));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)*text_offset));
        *text_offset += strlen(t);
        cJSON *top = cJSON_CreateObject();
        for (int k = 0; k < lp->n_top; k++) {
            const char *tt = token_text(srv->tok, *prev, lp->top_id[k], buf, sizeof buf, NULL);
            if (!cJSON_GetObjectItemCaseSensitive(top, tt)) cJSON_AddNumberToObject(top, tt, lp->top_logprob[k]);
        }
        cJSON_AddItemToArray(tops, top);
        *prev = lp->id;
    }
    return o;
}

static cJSON *usage_json(const serve_request *r) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)r->n_prompt + r->n_generated);
    return u;
}

/* The envelope of a reply or of one streamed chunk: id, object, created, model, choices. */
static cJSON *envelope(const reply_meta *m, int chunk, cJSON **choice) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object",
                            m->chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "model", m->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "slm");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (choice) {
        *choice = cJSON_CreateObject();
        cJSON_AddNumberToObject(*choice, "index", 0);
        cJSON_AddItemToArray(choices, *choice);
    }
    return o;
}

/* The whole (non-streamed) answer of a finished request. */
void completion_reply_final(slm_server *srv, const reply_meta *m, serve_request *r, serve_reply *out) {
    cJSON *choice, *o = envelope(m, 0, &choice);
    int32_t prev = r->prompt[r->n_prompt - 1];
    size_t offset = 0;
    if (m->chat) {
        cJSON *msg = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", r->text ? r->text : "");
    } else
        cJSON_AddStringToObject(choice, "text", r->text ? r->text : "");
    if (r->logprobs) cJSON_AddItemToObject(choice, "logprobs", logprobs_json(srv, r, 0, r->n_lps, m->chat, &prev, &offset));
    else cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", r->finish_reason ? r->finish_reason : "stop");
    cJSON_AddItemToObject(o, "usage", usage_json(r));
    serve_json(out, 200, o);
}
/* ------------------------------------------------------------------ streaming */

/* Appends "data: JSON\n\n" (the object is deleted) to the stream's pending bytes. */
static int push_event(serve_stream *st, cJSON *obj) {
    char *json = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!json) return -1;
    size_t jl = strlen(json), need = st->pending_len + jl + 8;
    char *b = realloc(st->pending, need + 1);
    if (!b) {
        free(json);
        return -1;
    }
    st->pending = b;
    memcpy(b + st->pending_len, "data: ", 6);
    memcpy(b + st->pending_len + 6, json, jl);
    memcpy(b + st->pending_len + 6 + jl, "\n\n", 2);
    st->pending_len += jl + 8;
    free(json);
    return 0;
}

static int push_raw(serve_stream *st, const char *text) {
    size_t l = strlen(text);
    char *b = realloc(st->pending, st->pending_len + l + 1);
    if (!b) return -1;
    st->pending = b;
    memcpy(b + st->pending_len, text, l);
    st->pending_len += l;
    return 0;
}

/* Formats what the request produced since the last call; sets st->ended after [DONE]. */
static int stream_collect(serve_stream *st) {
    serve_request *r = st->req;
    slm_server *srv = st->srv;
    const reply_meta *m = &st->meta;
    if (m->chat && !st->role_sent) {
        cJSON *choice, *o = envelope(m, 1, &choice), *delta = cJSON_AddObjectToObject(choice, "delta");
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        cJSON_AddNullToObject(choice, "logprobs");
        cJSON_AddNullToObject(choice, "finish_reason");
        st->role_sent = 1;
        return push_event(st, o);
    }
    pthread_mutex_lock(&r->mu);
    if (!r->done && r->n_text == st->text_read && r->n_lps == st->lps_read) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    int done = r->done;
    size_t n_text = r->n_text, n_lps = r->n_lps;
    if (!r->started && !done && slm_time_seconds() > r->deadline) { /* waited too long for a slot */
        st->timed_out = 1;
        atomic_store(&r->cancelled, 1);
    }
    pthread_mutex_unlock(&r->mu);
    /* after done the scheduler writes nothing more; before, only appends beyond n_text/n_lps */
    int rc = 0;
    if (n_text > st->text_read || n_lps > st->lps_read) {
        cJSON *choice, *o = envelope(m, 1, &choice);
        char *piece = malloc(n_text - st->text_read + 1);
        if (!piece) {
            cJSON_Delete(o);
            return -1;
        }
        memcpy(piece, r->text + st->text_read, n_text - st->text_read);
        piece[n_text - st->text_read] = '\0';
        if (m->chat) cJSON_AddStringToObject(cJSON_AddObjectToObject(choice, "delta"), "content", piece);
        else cJSON_AddStringToObject(choice, "text", piece);
        free(piece);
        size_t offset = st->text_read;
        if (r->logprobs)
            cJSON_AddItemToObject(choice, "logprobs", logprobs_json(srv, r, st->lps_read, n_lps, m->chat, &st->prev_token, &offset));
        else cJSON_AddNullToObject(choice, "logprobs");
        cJSON_AddNullToObject(choice, "finish_reason");
        st->text_read = n_text;
        st->lps_read = n_lps;
        rc = push_event(st, o);
    }
    if (done && rc == 0) {
        if (r->error) {
            serve_reply err = {0};
            if (st->timed_out) serve_error(&err, 503, NULL, "timeout", "timed out waiting for a free slot");
            else serve_error(&err, atomic_load(&srv->ready) ? 500 : 503, NULL, NULL, "generation failed: %s", r->error);
            rc = push_raw(st, "data: ") || push_raw(st, err.body) || push_raw(st, "\n\n");
            free(err.body);
        } else {
            cJSON *choice, *o = envelope(m, 1, &choice);
            if (m->chat) cJSON_AddObjectToObject(choice, "delta");
            else cJSON_AddStringToObject(choice, "text", "");
            cJSON_AddNullToObject(choice, "logprobs");
            cJSON_AddStringToObject(choice, "finish_reason", r->finish_reason ? r->finish_reason : "stop");
            rc = push_event(st, o);
            if (rc == 0 && m->include_usage) {
                cJSON *u = envelope(m, 1, NULL);
                cJSON_AddItemToObject(u, "usage", usage_json(r));
                rc = push_event(st, u);
            }
        }
        if (rc == 0) rc = push_raw(st, "data: [DONE]\n\n");
        st->ended = 1;
    }
    return rc;
}

long serve_stream_read(serve_stream *st, char *buf, size_t max) {
    if (st->pending_off == st->pending_len) {
        st->pending_off = st->pending_len = 0;
        if (st->ended) return -1;
        if (stream_collect(st)) return -2;
        if (st->pending_len == 0) {
            if (st->alive && !st->alive(st->actx)) return -2;
            return 0;
        }
    }
    size_t n = st->pending_len - st->pending_off;
    if (n > max) n = max;
    memcpy(buf, st->pending + st->pending_off, n);
    st->pending_off += n;
    return (long)n;
}

void serve_stream_free(serve_stream *st) {
    if (!st) return;
    atomic_store(&st->req->cancelled, 1); /* no effect once it has finished */
    serve_request_release(st->srv->sched, st->req);
    free(st->pending);
    free(st);
}

serve_stream *completion_stream_new(slm_server *srv, serve_request *r, const reply_meta *m, serve_alive_fn alive,
                                    void *actx) {
    serve_stream *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    *st = (serve_stream){.srv = srv, .req = r, .meta = *m, .alive = alive, .actx = actx,
                         .prev_token = r->prompt[r->n_prompt - 1]};
    return st;
}
