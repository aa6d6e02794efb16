/* scheduler.c — continuous batching: one thread owns the model's slots (a session each) and,
 * step after step, evaluates every active slot together with slm_sessions_eval: a chunk of
 * prompt for slots still prefilling, one token for slots decoding. Requests wait in a bounded
 * queue and join or leave between steps; jobs that need the worker pool (embeddings,
 * classification, keywords) run on this thread between steps too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"
#include "serve/text_filter.h"

typedef struct {
    slm_session *session;
    int32_t *cached; /* (n_ctx) the tokens in the session's KV cache */
    int n_cached;
    serve_request *req; /* NULL: free */
    size_t prefill_at;  /* next prompt token to evaluate */
    slm_sampler *sampler;
    int32_t *history; /* (n_ctx + 1) prompt and generated tokens, for the repetition penalty */
    size_t n_hist;
    int32_t next; /* sampled, evaluated in the next step */
    int prev;     /* the token before next, for detokenisation */
    text_filter filter;
} slot;

struct serve_scheduler {
    slm_server *srv;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* work arrived / a job finished */
    int stopping;
    serve_request **queue; /* ring of max_queue entries */
    int q_head, q_len, q_cap; /* q_cap = max_waiting + slots */
    int max_waiting;
    serve_job *jobs, *jobs_tail;
    slot *slots;
    int n_slots, n_active;
    int32_t end_ids[8];
    int n_end;
    /* one step's batch */
    slm_session **b_sessions;
    const int32_t **b_tokens;
    size_t *b_n;
    const float **b_logits;
    int *b_slot;
};

serve_request *serve_request_new(void) {
    serve_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_init(&r->cancelled, 0);
    r->refs = 1;
    return r;
}

static void request_free(serve_request *r) {
    free(r->prompt);
    for (int i = 0; r->stop[i]; i++) free(r->stop[i]);
    free(r->text);
    free(r->lps);
    free(r->error);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

void serve_request_release(serve_scheduler *s, serve_request *r) {
    if (!r) return;
    int left;
    if (s) pthread_mutex_lock(&s->mu);
    left = --r->refs;
    if (s) pthread_mutex_unlock(&s->mu);
    if (left == 0) request_free(r);
}

/* Appends text to a request's output (the text filter's sink). */
static int request_append(const char *text, size_t len, void *user) {
    serve_request *r = user;
    pthread_mutex_lock(&r->mu);
    if (r->n_text + len + 1 > r->cap_text) {
        size_t cap = r->cap_text ? r->cap_text : 256;
        while (cap < r->n_text + len + 1) cap *= 2;
        char *b = realloc(r->text, cap);
        if (!b) {
            pthread_mutex_unlock(&r->mu);
            return -1;
        }
        r->text = b;
        r->cap_text = cap;
    }
    memcpy(r->text + r->n_text, text, len);
    r->n_text += len;
    r->text[r->n_text] = '\0';
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Records the log-probability of token id and of the best alternatives under logits. */
static int record_logprob(serve_request *r, const float *logits, int n_vocab, int32_t id) {
    serve_token_logprob lp = {.id = id};
    float mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - mx));
    float log_z = mx + (float)log(sum);
    lp.logprob = logits[id] - log_z;
    int k = r->top_logprobs;
    for (int i = 0; i < n_vocab && k > 0; i++) {
        float v = logits[i];
        if (lp.n_top == k && v <= lp.top_logprob[k - 1]) continue;
        int at = lp.n_top < k ? lp.n_top++ : k - 1;
        while (at > 0 && lp.top_logprob[at - 1] < v) {
            lp.top_logprob[at] = lp.top_logprob[at - 1];
            lp.top_id[at] = lp.top_id[at - 1];
            at--;
        }
        lp.top_logprob[at] = v;
        lp.top_id[at] = i;
    }
    for (int j = 0; j < lp.n_top; j++) lp.top_logprob[j] -= log_z;
    pthread_mutex_lock(&r->mu);
    if (r->n_lps == r->cap_lps) {
        size_t cap = r->cap_lps ? r->cap_lps * 2 : 16;
        serve_token_logprob *b = realloc(r->lps, cap * sizeof *b);
        if (!b) {
            pthread_mutex_unlock(&r->mu);
            return -1;
        }
        r->lps = b;
        r->cap_lps = cap;
    }
    r->lps[r->n_lps++] = lp;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Ends a slot's request: passes on held text, frees the slot and counts the tokens, then sets
 * the outcome (so a client that sees its answer also sees the slot free and the metrics). */
static void slot_finish(serve_scheduler *s, slot *sl, const char *reason, const char *error) {
    serve_request *r = sl->req;
    if (!error && strcmp(reason, "stop_string") != 0 && text_filter_finish(&sl->filter)) error = "out of memory";
    if (strcmp(reason, "stop_string") == 0) reason = "stop";
    text_filter_free(&sl->filter);
    slm_sampler_free(sl->sampler);
    sl->sampler = NULL;
    sl->req = NULL;
    pthread_mutex_lock(&s->mu);
    s->n_active--;
    pthread_mutex_unlock(&s->mu);
    metrics_record_tokens(&s->srv->metrics, r->n_prompt_eval, r->n_generated, atomic_load(&r->cancelled));
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    r->finish_reason = reason;
    if (error && !r->error) r->error = strdup(error);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    serve_request_release(s, r);
}

/* Finishes a request that never reached a slot (the scheduler's reference is dropped). */
static void request_fail_unstarted(serve_scheduler *s, serve_request *r, const char *error) {
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    r->finish_reason = "stop";
    if (error && !r->error) r->error = strdup(error);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    r->refs--; /* the caller holds s->mu */
    if (r->refs == 0) request_free(r);
    (void)s;
}

/* Gives a queued request a slot: the free slot whose cache shares the longest prefix with the
 * prompt keeps that prefix. Called with s->mu held. */
static void slot_start(serve_scheduler *s, serve_request *r) {
    int best = -1;
    size_t best_keep = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->req) continue;
        size_t keep = 0;
        while (keep + 1 < r->n_prompt && keep < (size_t)sl->n_cached && sl->cached[keep] == r->prompt[keep]) keep++;
        if (best < 0 || keep > best_keep) {
            best = i;
            best_keep = keep;
        }
    }
    slot *sl = &s->slots[best];
    slm_sampler *sampler = NULL;
    if (slm_sampler_new(&r->sampling, s->srv->n_vocab, &sampler) != SLM_OK) {
        request_fail_unstarted(s, r, slm_last_error());
        return;
    }
    slm_session_truncate(sl->session, (int)best_keep);
    sl->n_cached = (int)best_keep;
    sl->req = r;
    sl->prefill_at = best_keep;
    sl->sampler = sampler;
    memcpy(sl->history, r->prompt, r->n_prompt * sizeof(int32_t));
    sl->n_hist = r->n_prompt;
    sl->prev = r->prompt[r->n_prompt - 1];
    text_filter_init(&sl->filter, r->stop, request_append, r);
    s->n_active++;
    pthread_mutex_lock(&r->mu);
    r->started = 1;
    r->n_prompt_eval = (int)(r->n_prompt - best_keep);
    pthread_mutex_unlock(&r->mu);
}

/* Moves queued requests into free slots, dropping those cancelled while they waited. Called
 * with s->mu held. */
static void admit(serve_scheduler *s) {
    /* drop cancelled requests anywhere in the queue, keeping the order of the rest */
    int kept = 0;
    for (int i = 0; i < s->q_len; i++) {
        serve_request *r = s->queue[(s->q_head + i) % s->q_cap];
        if (atomic_load(&r->cancelled)) request_fail_unstarted(s, r, "cancelled");
        else s->queue[(s->q_head + kept++) % s->q_cap] = r;
    }
    s->q_len = kept;
    while (s->q_len > 0 && s->n_active < s->n_slots) {
        serve_request *r = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        slot_start(s, r);
    }
}

/* Samples a slot's next token from logits and passes its text on; finishes the request at an
 * end token, a stop string, max_tokens or a full context. */
static void slot_sample(serve_scheduler *s, slot *sl, const float *logits) {
    serve_request *r = sl->req;
    if (r->max_tokens <= r->n_generated) {
        slot_finish(s, sl, "length", NULL);
        return;
    }
    int32_t next = (int32_t)slm_sampler_sample(sl->sampler, logits, sl->history, sl->n_hist);
    for (int i = 0; i < s->n_end && !r->ignore_eos; i++)
        if (s->end_ids[i] == next) {
            slot_finish(s, sl, "stop", NULL);
            return;
        }
    if (r->logprobs && record_logprob(r, logits, s->srv->n_vocab, next)) {
        slot_finish(s, sl, "stop", "out of memory");
        return;
    }
    r->n_generated++;
    sl->history[sl->n_hist++] = next;
    char piece[512];
    int n = slm_token_to_bytes(s->srv->tok, sl->prev, next, piece, sizeof piece);
    int rc = text_filter_push(&sl->filter, piece, (size_t)(n > 0 ? n : 0));
    if (rc < 0) {
        slot_finish(s, sl, "stop", "out of memory");
        return;
    }
    if (rc == 1) {
        slot_finish(s, sl, "stop_string", NULL);
        return;
    }
    sl->prev = next;
    sl->next = next;
    if (r->n_generated >= r->max_tokens || sl->n_cached >= s->srv->n_ctx) slot_finish(s, sl, "length", NULL);
}

/* One step: every active slot evaluates its prompt chunk or its last token, all together. */
static void step(serve_scheduler *s) {
    int nb = 0;
    double now = slm_time_seconds();
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        serve_request *r = sl->req;
        if (!r) continue;
        if (atomic_load(&r->cancelled)) {
            slot_finish(s, sl, "stop", "cancelled");
            continue;
        }
        if (now > r->deadline) {
            slot_finish(s, sl, "length", NULL);
            continue;
        }
        size_t k;
        const int32_t *toks;
        if (sl->prefill_at < r->n_prompt) {
            k = r->n_prompt - sl->prefill_at;
            if (k > (size_t)s->srv->p.prefill_chunk) k = (size_t)s->srv->p.prefill_chunk;
            toks = r->prompt + sl->prefill_at;
        } else {
            k = 1;
            toks = &sl->next;
        }
        s->b_sessions[nb] = sl->session;
        s->b_tokens[nb] = toks;
        s->b_n[nb] = k;
        s->b_slot[nb] = i;
        nb++;
    }
    if (nb == 0) return;
    slm_status st = slm_sessions_eval(s->b_sessions, s->b_tokens, s->b_n, (size_t)nb, s->b_logits);
    if (st != SLM_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "evaluation failed: %s", slm_last_error());
        for (int b = 0; b < nb; b++) { /* the caches of the batch are in doubt: start them afresh */
            slot *sl = &s->slots[s->b_slot[b]];
            slot_finish(s, sl, "stop", msg);
            slm_session_truncate(sl->session, 0);
            sl->n_cached = 0;
        }
        return;
    }
    for (int b = 0; b < nb; b++) {
        slot *sl = &s->slots[s->b_slot[b]];
        serve_request *r = sl->req;
        memcpy(sl->cached + sl->n_cached, s->b_tokens[b], s->b_n[b] * sizeof(int32_t));
        sl->n_cached += (int)s->b_n[b];
        if (sl->prefill_at < r->n_prompt) {
            sl->prefill_at += s->b_n[b];
            if (sl->prefill_at < r->n_prompt) continue;
        }
        slot_sample(s, sl, s->b_logits[b]);
    }
}

static void *scheduler_main(void *arg) {
    serve_scheduler *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && !s->jobs && s->n_active == 0 && s->q_len == 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) break;
        serve_job *job = s->jobs;
        if (job) {
            s->jobs = job->next;
            if (!s->jobs) s->jobs_tail = NULL;
        }
        admit(s);
        pthread_mutex_unlock(&s->mu);
        if (job) {
            job->run(job->ctx);
            pthread_mutex_lock(&s->mu);
            job->done = 1;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
        }
        step(s);
        pthread_mutex_lock(&s->mu);
    }
    /* shutting down: everything still here ends with an error */
    while (s->q_len > 0) {
        serve_request *r = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        request_fail_unstarted(s, r, "the server is shutting down");
    }
    for (serve_job *j = s->jobs; j; j = j->next) j->done = -1;
    s->jobs = s->jobs_tail = NULL;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].req) slot_finish(s, &s->slots[i], "stop", "the server is shutting down");
    return NULL;
}

void serve_scheduler_free(serve_scheduler *s) {
    if (!s) return;
    for (int i = 0; i < s->n_slots; i++) {
        slm_session_free(s->slots[i].session);
        free(s->slots[i].cached);
        free(s->slots[i].history);
    }
    free(s->slots);
    free(s->queue);
    free(s->b_sessions);
    free(s->b_tokens);
    free(s->b_n);
    free(s->b_logits);
    free(s->b_slot);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

slm_status serve_scheduler_start(slm_server *srv, serve_scheduler **out) {
    serve_scheduler *s = calloc(1, sizeof *s);
    if (!s) return SLM_ERR_NOMEM;
    s->srv = srv;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int n = srv->p.parallel;
    s->n_slots = n;
    s->max_waiting = srv->p.max_queue > 0 ? srv->p.max_queue : 0;
    s->q_cap = s->max_waiting + n;
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->slots = calloc((size_t)n, sizeof *s->slots);
    s->b_sessions = calloc((size_t)n, sizeof *s->b_sessions);
    s->b_tokens = calloc((size_t)n, sizeof *s->b_tokens);
    s->b_n = calloc((size_t)n, sizeof *s->b_n);
    s->b_logits = calloc((size_t)n, sizeof *s->b_logits);
    s->b_slot = calloc((size_t)n, sizeof *s->b_slot);
    slm_status st = SLM_OK;
    if (!s->queue || !s->slots || !s->b_sessions || !s->b_tokens || !s->b_n || !s->b_logits || !s->b_slot)
        st = SLM_ERR_NOMEM;
    slm_session_params sp = {.n_ctx = srv->n_ctx};
    for (int i = 0; i < n && st == SLM_OK; i++) {
        slot *sl = &s->slots[i];
        if ((st = slm_session_new(srv->model, &sp, &sl->session)) != SLM_OK) break;
        sl->cached = malloc((size_t)srv->n_ctx * sizeof(int32_t));
        sl->history = malloc(((size_t)srv->n_ctx + 1) * sizeof(int32_t));
        if (!sl->cached || !sl->history) st = SLM_ERR_NOMEM;
    }
    s->n_end = slm_end_tokens(srv->tok, s->end_ids, 8);
    if (st == SLM_OK && pthread_create(&s->thread, NULL, scheduler_main, s) != 0) st = SLM_ERR_NOMEM;
    if (st != SLM_OK) {
        serve_scheduler_free(s);
        return st;
    }
    s->thread_started = 1;
    *out = s;
    return SLM_OK;
}

void serve_scheduler_stop(serve_scheduler *s) {
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->thread_started = 0;
    }
}

int serve_scheduler_submit(serve_scheduler *s, serve_request *r) {
    pthread_mutex_lock(&s->mu);
    /* max_queue requests may wait beyond the free slots (which the scheduler fills next step) */
    if (s->stopping || s->q_len >= s->max_waiting + (s->n_slots - s->n_active)) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    r->refs++;
    s->queue[(s->q_head + s->q_len) % s->q_cap] = r;
    s->q_len++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void serve_scheduler_run_job(serve_scheduler *s, serve_job *job) {
    pthread_mutex_lock(&s->mu);
    job->done = 0;
    job->next = NULL;
    if (s->stopping) {
        job->done = -1;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (s->jobs_tail) s->jobs_tail->next = job;
    else s->jobs = job;
    s->jobs_tail = job;
    pthread_cond_broadcast(&s->cv);
    while (!job->done) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void serve_scheduler_load(serve_scheduler *s, int *queued, int *active) {
    pthread_mutex_lock(&s->mu);
    *queued = s->q_len;
    *active = s->n_active;
    pthread_mutex_unlock(&s->mu);
}
