/* openai.c — POST /v1/completions and /v1/chat/completions: the OpenAI request fields read and
 * checked, the prompt tokenised as `slm generate` does, the request handed to the scheduler and
 * waited for (completion_reply.c writes the answer: one JSON object, or server-sent events). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/completion_reply.h"


/* ------------------------------------------------------------------ request parsing */

/* Joins a message's content: a string, or an array of {"type": "text", "text": ...} parts.
 * Returns a new string, or NULL with an error in *err. */
static char *message_content(const cJSON *content, int i, serve_reply *err) {
    if (!content || cJSON_IsNull(content)) return strdup("");
    if (cJSON_IsString(content)) return strdup(content->valuestring);
    if (!cJSON_IsArray(content)) {
        serve_error(err, 400, "messages", "invalid_type", "messages[%d].content must be a string or an array of text parts", i);
        return NULL;
    }
    size_t total = 1;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(text)) {
            serve_error(err, 400, "messages", "invalid_value",
                        "messages[%d].content: only parts {\"type\": \"text\", \"text\": ...} are supported", i);
            return NULL;
        }
        total += strlen(text->valuestring);
    }
    char *out = malloc(total), *o = out;
    if (!out) return NULL;
    cJSON_ArrayForEach(part, content) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t l = strlen(t);
        memcpy(o, t, l);
        o += l;
    }
    *o = '\0';
    return out;
}

/* The chat messages formatted with the model's template; NULL with an error in *err. */
static char *chat_prompt(slm_server *srv, const cJSON *root, serve_reply *err) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs) {
        serve_error(err, 400, "messages", "missing_required_parameter", "'messages' is required");
        return NULL;
    }
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        serve_error(err, 400, "messages", "invalid_type", "'messages' must be a non-empty array of messages");
        return NULL;
    }
    int n = cJSON_GetArraySize(msgs);
    slm_chat_message *list = calloc((size_t)n, sizeof *list);
    char **contents = calloc((size_t)n, sizeof *contents);
    char *prompt = NULL;
    int ok = list && contents;
    if (!ok) serve_error(err, 500, NULL, NULL, "out of memory");
    for (int i = 0; ok && i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            serve_error(err, 400, "messages", "invalid_type", "messages[%d] must be an object with a string 'role'", i);
            ok = 0;
            break;
        }
        const char *r = role->valuestring;
        if (strcmp(r, "developer") == 0) r = "system";
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0) {
            serve_error(err, 400, "messages", "invalid_value",
                        "messages[%d].role must be system, developer, user or assistant", i);
            ok = 0;
            break;
        }
        if (!(contents[i] = message_content(cJSON_GetObjectItemCaseSensitive(m, "content"), i, err))) {
            if (!err->body) serve_error(err, 500, NULL, NULL, "out of memory");
            ok = 0;
            break;
        }
        list[i] = (slm_chat_message){r, contents[i]};
    }
    if (ok && slm_chat_format(srv->model, list, (size_t)n, 1, &prompt) != SLM_OK) {
        serve_error(err, 400, "messages", NULL, "cannot format the messages: %s", slm_last_error());
        prompt = NULL;
    }
    for (int i = 0; contents && i < n; i++) free(contents[i]);
    free(contents);
    free(list);
    return prompt;
}

/* Tokenises the prompt of a request into r->prompt: chat messages, a string, an array of one
 * string, or an array of token ids. Returns 0, or -1 with an error in *err. */
static int read_prompt(slm_server *srv, const cJSON *root, int chat, serve_request *r, serve_reply *err) {
    char *text = NULL;
    const char *src = "";
    if (chat) {
        if (!(text = chat_prompt(srv, root, err))) return -1;
        src = text;
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
        if (!p) {
            serve_error(err, 400, "prompt", "missing_required_parameter", "'prompt' is required (\"\" starts from BOS)");
            return -1;
        }
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
            p = cJSON_GetArrayItem(p, 0);
        if (cJSON_IsString(p)) src = p->valuestring;
        else if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0 && cJSON_IsNumber(cJSON_GetArrayItem(p, 0))) {
            int n = cJSON_GetArraySize(p);
            if (n > srv->n_ctx) {
                serve_error(err, 400, "prompt", "context_length_exceeded",
                            "the prompt has %d tokens but the context holds %d", n, srv->n_ctx);
                return -1;
            }
            r->prompt = malloc((size_t)n * sizeof(int32_t));
            if (!r->prompt) {
                serve_error(err, 500, NULL, NULL, "out of memory");
                return -1;
            }
            const cJSON *e;
            int i = 0;
            cJSON_ArrayForEach(e, p) {
                if (!serve_json_index(e, srv->n_vocab)) {
                    serve_error(err, 400, "prompt", "invalid_value", "prompt[%d] is not a token id below %d", i, srv->n_vocab);
                    return -1;
                }
                r->prompt[i++] = (int32_t)e->valuedouble;
            }
            r->n_prompt = (size_t)n;
            return 0;
        } else if (p && !cJSON_IsNull(p)) {
            serve_error(err, 400, "prompt", "invalid_type",
                        "'prompt' must be a string, an array of one string, or an array of token ids");
            return -1;
        }
    }
    /* as `slm generate` does: BOS when the vocabulary asks for it; special tokens in chat text */
    slm_tokenize_options topt = {slm_tokenizer_adds_bos(srv->tok), chat};
    size_t n = 0;
    slm_status st = slm_tokenize(srv->tok, src, strlen(src), &topt, &r->prompt, &n);
    free(text);
    if (st != SLM_OK) {
        serve_error(err, 400, chat ? "messages" : "prompt", NULL, "cannot tokenize the prompt: %s", slm_last_error());
        return -1;
    }
    r->n_prompt = n;
    if (n == 0) {
        serve_error(err, 400, "prompt", "invalid_value", "the prompt is empty and the vocabulary has no BOS token to start from");
        return -1;
    }
    if (n > (size_t)srv->n_ctx) {
        serve_error(err, 400, chat ? "messages" : "prompt", "context_length_exceeded",
                    "the prompt has %zu tokens but the context holds %d", n, srv->n_ctx);
        return -1;
    }
    return 0;
}

/* Reads the sampling, length, stop and logprob fields into r. Returns 0, or -1 with *err. */
static int read_options(slm_server *srv, const cJSON *root, int chat, serve_request *r, int *stream,
                        int *include_usage, serve_reply *err) {
    long long max_tokens = -1, n_choices = 1, top_k = 0, seed = -1, top_logprobs = 0, lp_int = -1;
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, repeat_penalty = 1.0, ignored = 0;
    int lp_bool = 0, ignore_eos = 0;
    *stream = 0;
    *include_usage = 0;
    if (serve_get_bool(root, "stream", stream, err) || serve_get_int(root, "max_tokens", 0, 1LL << 40, &max_tokens, err) ||
        (chat && serve_get_int(root, "max_completion_tokens", 0, 1LL << 40, &max_tokens, err)) ||
        serve_get_int(root, "n", 1, 1, &n_choices, err) || serve_get_number(root, "temperature", 0, 2, &temperature, err) ||
        serve_get_number(root, "top_p", 1e-9, 1, &top_p, err) || serve_get_int(root, "top_k", 0, 1LL << 30, &top_k, err) ||
        serve_get_number(root, "min_p", 0, 1, &min_p, err) ||
        serve_get_number(root, "repeat_penalty", 1e-3, 100, &repeat_penalty, err) ||
        serve_get_number(root, "presence_penalty", -2, 2, &ignored, err) ||
        serve_get_number(root, "frequency_penalty", -2, 2, &ignored, err) ||
        serve_get_int(root, "seed", -(1LL << 53), 1LL << 53, &seed, err) ||
        serve_get_bool(root, "ignore_eos", &ignore_eos, err))
        return -1;
    r->ignore_eos = ignore_eos;
    if (chat) {
        if (serve_get_bool(root, "logprobs", &lp_bool, err) ||
            serve_get_int(root, "top_logprobs", 0, SERVE_MAX_TOP_LOGPROBS, &top_logprobs, err))
            return -1;
        r->logprobs = lp_bool;
        r->top_logprobs = lp_bool ? (int)top_logprobs : 0;
    } else {
        if (serve_get_int(root, "logprobs", 0, SERVE_MAX_TOP_LOGPROBS, &lp_int, err)) return -1;
        r->logprobs = lp_int >= 0;
        r->top_logprobs = lp_int > 0 ? (int)lp_int : 0;
    }
    /* fields that would change the answer but are not implemented: refused rather than ignored */
    int echo = 0;
    long long best_of = 1;
    if (serve_get_bool(root, "echo", &echo, err) || serve_get_int(root, "best_of", 1, 1, &best_of, err)) return -1;
    static const char *const UNSUPPORTED[] = {"suffix", "logit_bias", "tools", "functions", "response_format"};
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof UNSUPPORTED[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, UNSUPPORTED[i]);
        if (v && !cJSON_IsNull(v) && !((cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child) &&
            !(cJSON_IsString(v) && !v->valuestring[0]) &&
            !(strcmp(UNSUPPORTED[i], "response_format") == 0 && cJSON_IsObject(v) &&
              cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "type")) &&
              strcmp(cJSON_GetObjectItemCaseSensitive(v, "type")->valuestring, "text") == 0)) {
            serve_error(err, 400, UNSUPPORTED[i], "unsupported_parameter", "'%s' is not supported by this server", UNSUPPORTED[i]);
            return -1;
        }
    }
    if (echo) {
        serve_error(err, 400, "echo", "unsupported_parameter", "'echo' is not supported by this server");
        return -1;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) {
            serve_error(err, 400, "stream_options", "invalid_type", "'stream_options' must be an object");
            return -1;
        }
        if (serve_get_bool(so, "include_usage", include_usage, err)) return -1;
    }
    const char **stops;
    int n_stops;
    if (serve_get_strings(root, "stop", SERVE_MAX_STOPS, &stops, &n_stops, err)) return -1;
    for (int i = 0, k = 0; i < n_stops; i++) {
        if (!stops[i][0]) continue;
        if (strlen(stops[i]) > SERVE_MAX_STOP_BYTES) { /* the filter's work grows with its square */
            free(stops);
            serve_error(err, 400, "stop", "invalid_value", "a stop string may have at most %d bytes", SERVE_MAX_STOP_BYTES);
            return -1;
        }
        if (!(r->stop[k++] = strdup(stops[i]))) {
            free(stops);
            serve_error(err, 500, NULL, NULL, "out of memory");
            return -1;
        }
    }
    free(stops);
    int cap = srv->p.max_tokens > 0 ? srv->p.max_tokens : srv->n_ctx;
    r->max_tokens = max_tokens < 0 || max_tokens > cap ? cap : (int)max_tokens;
    r->sampling = (slm_sampling_params){.temperature = (float)temperature, .top_k = (int)top_k, .top_p = (float)top_p,
                                        .min_p = (float)min_p, .repeat_penalty = (float)repeat_penalty, .repeat_last_n = 64,
                                        .seed = seed >= 0 ? (uint64_t)seed
                                                          : (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)r << 16) ^
                                                                (uint64_t)(slm_time_seconds() * 1e9)};
    if (seed < -1) r->sampling.seed = (uint64_t)seed;
    return 0;
}


static void make_meta(slm_server *srv, int chat, int include_usage, reply_meta *m) {
    unsigned long long k = atomic_fetch_add(&srv->next_id, 1);
    m->chat = chat;
    snprintf(m->id, sizeof m->id, "%s-%llx%04llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)srv->created, k);
    m->created = (long long)time(NULL);
    m->model = srv->model_id;
    m->include_usage = include_usage;
}

void serve_completions(slm_server *srv, const char *body, size_t len, int chat, serve_alive_fn alive, void *actx,
                       serve_reply *out) {
    if (!atomic_load(&srv->ready)) {
        serve_error(out, 503, NULL, "model_loading", "the model is still loading");
        return;
    }
    cJSON *root = serve_parse_object(body, len, out);
    if (!root) return;
    serve_request *r = serve_request_new();
    if (!r) {
        cJSON_Delete(root);
        serve_error(out, 500, NULL, NULL, "out of memory");
        return;
    }
    int stream = 0, include_usage = 0;
    int bad = read_options(srv, root, chat, r, &stream, &include_usage, out) || read_prompt(srv, root, chat, r, out);
    cJSON_Delete(root);
    if (bad) {
        serve_request_release(NULL, r);
        return;
    }
    r->deadline = slm_time_seconds() + srv->p.timeout_s;
    if (serve_scheduler_submit(srv->sched, r) != 0) {
        serve_request_release(NULL, r);
        serve_error(out, 429, NULL, "queue_full", "the server is busy: every slot is in use and the queue is full; retry later");
        return;
    }
    reply_meta meta;
    make_meta(srv, chat, include_usage, &meta);
    if (stream) {
        serve_stream *st = completion_stream_new(srv, r, &meta, alive, actx);
        if (!st) {
            atomic_store(&r->cancelled, 1);
            serve_request_release(srv->sched, r);
            serve_error(out, 500, NULL, NULL, "out of memory");
            return;
        }
        out->status = 200;
        out->stream = st;
        return;
    }
    /* wait for the end, watching the client and the clock */
    pthread_mutex_lock(&r->mu);
    int gone = 0, late = 0;
    while (!r->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (r->done) break;
        if (alive && !alive(actx)) {
            gone = 1;
            break;
        }
        if (!r->started && slm_time_seconds() > r->deadline) {
            late = 1;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (gone || late) {
        atomic_store(&r->cancelled, 1);
        serve_request_release(srv->sched, r);
        if (late) serve_error(out, 503, NULL, "timeout", "timed out waiting for a free slot");
        else serve_error(out, 499, NULL, NULL, "the client closed the connection");
        return;
    }
    if (r->error) /* 503 when the server is stopping, else a failure of its own */
        serve_error(out, atomic_load(&srv->ready) ? 500 : 503, NULL, NULL, "generation failed: %s", r->error);
    else completion_reply_final(srv, &meta, r, out);
    serve_request_release(srv->sched, r);
}
