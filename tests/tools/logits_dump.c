/* logits_dump.c — test tool: prints the logits of a model at each position, as
 * "pos <TAB> input_token <TAB> logits..." (%.8g), the format of the llama2.c reference dumps.
 * Inputs are either a prompt (greedy continuation after it, like llama2.c's run.c) or an exact
 * list of token ids.
 * With --prefill K the first K tokens are evaluated in one batched call (only the logits of
 * position K-1 are printed for them), the rest one at a time. With --binary the logits are
 * written as raw float32 rows instead of text. With --greedy N, after the given tokens, N
 * greedy tokens are generated and their ids printed on one line (nothing else is printed).
 * usage: logits_dump MODEL [--tokenizer T] (--prompt TEXT | --tokens 1,2,3) [--positions N]
 *                    [--prefill K] [--binary] [--greedy N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"

static int fail(void) {
    fprintf(stderr, "error: %s\n", slm_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *tokenizer = NULL, *prompt = NULL, *token_list = NULL;
    int positions = 32, prefill = 0, binary = 0, greedy = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc) tokenizer = argv[++i];
        else if (strcmp(argv[i], "--prompt") == 0 && i + 1 < argc) prompt = argv[++i];
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) token_list = argv[++i];
        else if (strcmp(argv[i], "--positions") == 0 && i + 1 < argc) positions = atoi(argv[++i]);
        else if (strcmp(argv[i], "--prefill") == 0 && i + 1 < argc) prefill = atoi(argv[++i]);
        else if (strcmp(argv[i], "--greedy") == 0 && i + 1 < argc) greedy = atoi(argv[++i]);
        else if (strcmp(argv[i], "--binary") == 0) binary = 1;
        else if (!model_path) model_path = argv[i];
        else {
            fprintf(stderr, "usage: logits_dump MODEL [--tokenizer T] (--prompt TEXT | --tokens 1,2,3) [--positions N]\n");
            return 2;
        }
    }
    if (!model_path || (!prompt && !token_list) || positions <= 0) {
        fprintf(stderr, "usage: logits_dump MODEL [--tokenizer T] (--prompt TEXT | --tokens 1,2,3) [--positions N]\n");
        return 2;
    }
    slm_model *model;
    slm_model_params mp = {.tokenizer_path = tokenizer};
    if (slm_model_load(model_path, &mp, &model) != SLM_OK) return fail();
    slm_session *session;
    slm_session_params sp = {.n_ctx = positions + greedy + 1024};
    if (slm_session_new(model, &sp, &session) != SLM_OK) return fail();
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (prompt) {
        slm_tokenize_options o = {1, 0};
        if (slm_tokenize(slm_model_tokenizer(model), prompt, strlen(prompt), &o, &ids, &n_ids) != SLM_OK) return fail();
    } else {
        ids = malloc(strlen(token_list) * sizeof(int32_t) + sizeof(int32_t));
        for (char *p = (char *)token_list, *end; *p; p = *end ? end + 1 : end) {
            ids[n_ids++] = (int32_t)strtol(p, &end, 10);
            if (end == p) break;
        }
        if ((int)n_ids < positions) positions = (int)n_ids;
    }
    int slm_vocab = slm_vocab_size(slm_model_tokenizer(model));
    if (greedy > 0) { /* the greedy continuation of all the given tokens */
        const float *logits;
        if (slm_session_eval(session, ids, n_ids, &logits) != SLM_OK) return fail();
        for (int g = 0; g < greedy; g++) {
            int32_t best = 0;
            for (int i = 1; i < slm_vocab; i++)
                if (logits[i] > logits[best]) best = i;
            printf(g ? " %d" : "%d", best);
            if (g + 1 < greedy && slm_session_eval(session, &best, 1, &logits) != SLM_OK) return fail();
        }
        printf("\n");
        free(ids);
        slm_session_free(session);
        slm_model_free(model);
        return 0;
    }
    int32_t token = ids[0];
    if (prefill > (int)n_ids) prefill = (int)n_ids;
    for (int pos = prefill > 0 ? prefill - 1 : 0; pos < positions; pos++) {
        const float *logits;
        if (pos == prefill - 1) {
            if (slm_session_eval(session, ids, (size_t)prefill, &logits) != SLM_OK) return fail();
            token = ids[pos];
        } else if (slm_session_eval(session, &token, 1, &logits) != SLM_OK) return fail();
        if (binary) fwrite(logits, sizeof(float), (size_t)slm_vocab, stdout);
        else {
            printf("%d\t%d\t", pos, token);
            for (int i = 0; i < slm_vocab; i++) printf(i ? " %.8g" : "%.8g", logits[i]);
            printf("\n");
        }
        if ((size_t)pos + 1 < n_ids) token = ids[pos + 1];
        else {
            int best = 0;
            for (int i = 1; i < slm_vocab; i++)
                if (logits[i] > logits[best]) best = i;
            token = best;
        }
    }
    free(ids);
    slm_session_free(session);
    slm_model_free(model);
    return 0;
}
