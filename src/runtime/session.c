/* session.c — a session is one sequence being evaluated: its KV cache and position. */
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

slm_status slm_session_eval(slm_session *s, const int32_t *tokens, size_t n, const float **logits) {
    if (!s || (!tokens && n) || !logits) return slm_error(SLM_ERR_INVALID_ARG, "slm_session_eval: NULL argument");
    if (n == 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_session_eval: no tokens");
    if (n > (size_t)(s->state->n_ctx - s->n_past))
        return slm_error(SLM_ERR_RANGE, "context full: %d + %zu tokens exceed the context of %d", s->n_past, n, s->state->n_ctx);
    float *out = NULL;
    for (size_t i = 0; i < n; i += MODEL_MAX_BATCH) {
        int batch = n - i < MODEL_MAX_BATCH ? (int)(n - i) : MODEL_MAX_BATCH;
        /* only the last batch's logits are wanted: the others skip the output matrix */
        slm_status st = s->model->forward(s->model, s->state, tokens + i, batch, s->n_past, i + (size_t)batch == n ? &out : NULL);
        if (st != SLM_OK) return st;
        memcpy(s->tokens + s->n_past, tokens + i, (size_t)batch * sizeof(int32_t));
        s->n_past += batch;
    }
    *logits = out;
    return SLM_OK;
}

slm_status slm_sessions_eval(slm_session *const *sessions, const int32_t *const *tokens, const size_t *n,
                             size_t n_sessions, const float **logits) {
    if ((!sessions || !tokens || !n || !logits) && n_sessions)
        return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: NULL argument");
    for (size_t i = 0; i < n_sessions; i++) {
        if (!sessions[i]) return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: session %zu is NULL", i);
        if (sessions[i]->model != sessions[0]->model)
            return slm_error(SLM_ERR_INVALID_ARG, "slm_sessions_eval: sessions of different models");
    }
    /* one session after another for now; a batched forward over all of them replaces this */
    for (size_t i = 0; i < n_sessions; i++) {
        logits[i] = NULL;
        if (n[i] == 0) continue;
        slm_status st = slm_session_eval(sessions[i], tokens[i], n[i], &logits[i]);
        if (st != SLM_OK) return st;
    }
    return SLM_OK;
}
