/* runtime.h — internal definition of a session (one sequence: forward state + position). */
#ifndef SLM_RUNTIME_RUNTIME_H
#define SLM_RUNTIME_RUNTIME_H
#include "models/model.h"

struct slm_session {
    const slm_model *model;
    model_state *state;
    int n_past;      /* positions evaluated */
    int32_t *tokens; /* (n_ctx) the tokens at positions 0..n_past-1 */
};

#endif
