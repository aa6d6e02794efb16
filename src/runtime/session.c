/* session.c — a session is one sequence being evaluated: its KV cache and position. Several
 * sessions of one model evaluate together through batches of rows (models/model.h). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "models/model.h"
#include "runtime/runtime.h"

#define DEFAULT_MAX_CTX 4096

slm_status slm_session_new(const slm_model *model, const slm_session_params *params, slm_session **out) {
    if (!model || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_session_new: NULL argument");
    *out = NULL;
    int n_ctx = params ? params->n_ctx : 0;
    if (n_ctx <= 0) n_ctx = model->hp.n_ctx_train < DEFAULT_MAX_CTX ? model->hp.n_ctx_train : DEFAULT_MAX_CTX;
    slm_session *s = slm_calloc(1, sizeof *s, "session");
    if (!s) return SLM_ERR_NOMEM;
    s->model = model;
    slm_status st = model_state_new(model, n_ctx, &s->state);
    s->tokens = st == SLM_OK ? slm_malloc((size_t)n_ctx * sizeof(int32_t), "session tokens") : NULL;
    if (st != SLM_OK || !s->tokens) {
        model_state_free(s->state);
        free(s);
        return st != SLM_OK ? st : SLM_ERR_NOMEM;
    }
    *out = s;
    return SLM_OK;
}

void slm_session_free(slm_session *s) {
    if (!s) return;
    model_state_free(s->state);
    free(s->tokens);
    free(s);
}

void slm_session_reset(slm_session *s) { s->n_past = 0; }
int slm_session_n_past(const slm_session *s) { return s->n_past; }

slm_status slm_session_truncate(slm_session *s, int n) {
    if (!s) return slm_error(SLM_ERR_INVALID_ARG, "slm_session_truncate: NULL session");
    if (n < 0 || n > s->n_past)
        return slm_error(SLM_ERR_RANGE, "slm_session_truncate: %d is outside 0..%d (the tokens evaluated)", n, s->n_past);
    s->n_past = n; /* the cache rows past n are overwritten by the next evaluation */
    return SLM_OK;
}
int slm_session_n_ctx(const slm_session *s) { return s->state->n_ctx; }

/* Evaluates the n[i] tokens of each session i, all checked already: the rows of all sessions,
 * one session's after another's, are cut into batches of at most MODEL_MAX_BATCH rows (a
 * session's tokens may straddle two batches); each batch runs on the workspace of its first
 * sequence's state. logits[i] receives session i's logits (NULL when n[i] is 0). */
static slm_status eval_rows(slm_session *const *sessions, const int32_t *const *tokens, const size_t *n, size_t n_sessions,
                            const float **logits) {
    const slm_model *m = sessions[0]->model;
    size_t i = 0, done = 0; /* the next row: token `done` of session i */
    for (size_t k = 0; k < n_sessions; k++) logits[k] = NULL;
    for (;;) {
        while (i < n_sessions && done == n[i]) i++, done = 0;
        if (i == n_sessions) return SLM_OK;
        model_workspace *work = &sessions[i]->state->work; /* the first sequence's */
        model_seq seqs[MODEL_MAX_BATCH];
        size_t owner[MODEL_MAX_BATCH];
        int n_seqs = 0, n_rows = 0;
        while (i < n_sessions && n_rows < MODEL_MAX_BATCH) {
            if (done == n[i]) {
                i++, done = 0;
                continue;
            }
            slm_session *s = sessions[i];
            size_t left = n[i] - done, room = (size_t)(MODEL_MAX_BATCH - n_rows);
            int take = (int)(left < room ? left : room);
            /* only a session's last rows need logits: the others skip the output matrix */
            seqs[n_seqs] = (model_seq){s->state, tokens[i] + done, take, s->n_past, done + (size_t)take == n[i]};
            owner[n_seqs++] = i;
            n_rows += take;
            done += (size_t)take;
        }
        model_batch batch = {seqs, n_seqs, n_rows, work};
        slm_status st = m->forward(m, &batch);
        if (st != SLM_OK) return st;
        for (int k = 0; k < n_seqs; k++) {
            slm_session *s = sessions[owner[k]];
            memcpy(s->tokens + s->n_past, seqs[k].tokens, (size_t)seqs[k].n * sizeof(int32_t));
            s->n_past += seqs[k].n;
            if (seqs[k].want_logits) logits[owner[k]] = s->state->logits;
        }
    }
}

/* The index of the first token id outside the model's vocabulary, or n when all are inside. */
static size_t first_bad_token(const slm_model *m, const int32_t *tokens, size_t n) {
    size_t t = 0;
    while (t < n && tokens[t] >= 0 && tokens[t] < m->hp.n_vocab) t++;
    return t;
}

slm_status slm_session_eval(slm_session *s, const int32_t *tokens, size_t n, const float **logits) {
    if (!s || (!tokens && n) || !logits) return slm_error(SLM_ERR_INVALID_ARG, "slm_session_eval: NULL argument");
    if (n == 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_session_eval: no tokens");
    if (n > (size_t)(s->state->n_ctx - s->n_past))
        return slm_error(SLM_ERR_RANGE, "context full: %d + %zu tokens exceed the context of %d", s->n_past, n, s->state->n_ctx);
    size_t bad = first_bad_token(s->model, tokens, n);
    if (bad < n)
        return slm_error(SLM_ERR_RANGE, "token id %d (at %zu) is outside the vocabulary (%d)", tokens[bad], bad, s->model->hp.n_vocab);
    return eval_rows(&s, &tokens, &n, 1, logits);
}

slm_status slm_sessions_eval(slm_session *const *sessions, const int32_t *const *tokens, const size_t *n,
                             size_t n_sessions, const float **logits) {
    if (n_sessions == 0) return SLM_OK;
    if (!sessions || !tokens || !n || !logits) return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: NULL argument");
    /* everything is checked before anything is evaluated: an error leaves every session as it was */
    for (size_t i = 0; i < n_sessions; i++) {
        const slm_session *s = sessions[i];
        if (!s) return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: session %zu is NULL", i);
        if (s->model != sessions[0]->model)
            return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: sessions 0 and %zu belong to different models", i);
        for (size_t j = 0; j < i; j++)
            if (sessions[j] == s) return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: sessions %zu and %zu are the same session", j, i);
        if (n[i] == 0) continue;
        if (!tokens[i]) return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: tokens of session %zu are NULL", i);
        if (n[i] > (size_t)(s->state->n_ctx - s->n_past))
            return slm_error(SLM_ERR_RANGE, "slm_sessions_eval: session %zu: context full: %d + %zu tokens exceed the context of %d", i,
                             s->n_past, n[i], s->state->n_ctx);
        size_t bad = first_bad_token(s->model, tokens[i], n[i]);
        if (bad < n[i])
            return slm_error(SLM_ERR_RANGE, "slm_sessions_eval: session %zu: token id %d (at %zu) is outside the vocabulary (%d)", i,
                             tokens[i][bad], bad, s->model->hp.n_vocab);
    }
    return eval_rows(sessions, tokens, n, n_sessions, logits);
}
