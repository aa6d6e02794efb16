/* cmd_chat.c — `slm chat`: an interactive conversation with a model in its chat template.
 * Each turn re-formats the whole history; the session keeps the tokens it has already
 * evaluated, so only the new turn is processed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm chat -m MODEL [options]\n\n"
    "Talks with MODEL: type a message and press enter; the reply streams back. The model's chat\n"
    "template (Gemma, ChatML, Llama 3, Llama 2) formats the conversation. Commands: /reset forgets\n"
    "the conversation, /exit (or end of input) leaves.";

#define MAX_TURNS 512

typedef struct {
    char *text;
    size_t len, cap;
} reply_buf;

static int collect(const char *text, size_t len, void *user) {
    reply_buf *r = user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        while (cap < r->len + len + 1) cap *= 2;
        char *p = realloc(r->text, cap);
        if (!p) return 1;
        r->text = p;
        r->cap = cap;
    }
    memcpy(r->text + r->len, text, len);
    r->len += len;
    r->text[r->len] = '\0';
    return 0;
}

/* Reads one line from stdin without its newline; NULL at end of input. Caller frees. */
static char *read_line(void) {
    size_t cap = 256, n = 0;
    char *line = malloc(cap);
    int c;
    while (line && (c = getchar()) != EOF && c != '\n') {
        if (n + 1 == cap) {
            char *p = realloc(line, cap *= 2);
            if (!p) {
                free(line);
                return NULL;
            }
            line = p;
        }
        line[n++] = (char)c;
    }
    if (!line || (n == 0 && c == EOF)) {
        free(line);
        return NULL;
    }
    line[n] = '\0';
    return line;
}

int cmd_chat(int argc, char **argv) {
    const char *model_path = NULL, *system_prompt = NULL;
    int threads = 0, n_ctx = 0, n_predict = 512;
    slm_generate_params gp = slm_generate_defaults();
    opt_spec specs[32] = {
        {"-m", "--model", OPT_STRING, &model_path, "model file (GGUF)"},
        {NULL, "--system", OPT_STRING, &system_prompt, "a system message that starts the conversation"},
        {"-n", "--n-predict", OPT_INT, &n_predict, "most tokens per reply (default 512)"},
        {"-c", "--ctx", OPT_INT, &n_ctx, "context length (default: the model's, at most 4096)"},
        {"-t", "--threads", OPT_INT, &threads, "worker threads (default: physical cores)"},
    };
    int n_specs = 5 + args_sampling_specs(specs + 5, &gp.sampling);
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, n_specs, pos, 0, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!model_path) {
        fprintf(stderr, "error: -m MODEL is required (see slm chat --help)\n");
        return 2;
    }
    slm_model *model = NULL;
    slm_session *session = NULL;
    slm_session_params sparams = {.n_ctx = n_ctx};
    if (slm_set_threads(threads) != SLM_OK || slm_model_load(model_path, NULL, &model) != SLM_OK ||
        slm_session_new(model, &sparams, &session) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        slm_model_free(model);
        return 1;
    }
    fprintf(stderr, "slm chat: %s, template %s, context %d tokens. /reset, /exit.\n", model_path,
            slm_chat_template_name(model), slm_session_n_ctx(session));
    gp.n_predict = n_predict;
    gp.echo_prompt = 0;
    gp.parse_special = 1;
    gp.reuse_cache = 1;
    slm_chat_message msgs[MAX_TURNS];
    char *owned[MAX_TURNS];
    size_t n_msgs = 0, n_fixed = 0;
    if (system_prompt) msgs[n_msgs++] = (slm_chat_message){"system", system_prompt}, owned[0] = NULL, n_fixed = 1;
    int status = 0;
    for (;;) {
        printf("> ");
        fflush(stdout);
        char *line = read_line();
        if (!line || strcmp(line, "/exit") == 0) {
            free(line);
            printf("\n");
            break;
        }
        if (strcmp(line, "/reset") == 0 || n_msgs + 2 > MAX_TURNS) {
            for (size_t i = n_fixed; i < n_msgs; i++) free(owned[i]);
            n_msgs = n_fixed;
            slm_session_reset(session);
            if (strcmp(line, "/reset") == 0) {
                free(line);
                continue;
            }
        }
        owned[n_msgs] = line;
        msgs[n_msgs++] = (slm_chat_message){"user", line};
        char *prompt;
        if (slm_chat_format(model, msgs, n_msgs, 1, &prompt) != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            status = 1;
            break;
        }
        reply_buf reply = {0};
        slm_generate_stats stats;
        slm_status st = slm_generate(session, prompt, &gp, collect, &reply, &stats);
        slm_free(prompt);
        printf("\n");
        if (st != SLM_OK) {
            /* most often a full context: start over and tell the user */
            fprintf(stderr, "error: %s (the conversation is reset)\n", slm_last_error());
            free(reply.text);
            for (size_t i = n_fixed; i < n_msgs; i++) free(owned[i]);
            n_msgs = n_fixed;
            slm_session_reset(session);
            continue;
        }
        fprintf(stderr, "[%d prompt tokens at %.1f tokens/s, %d tokens at %.1f tokens/s]\n", stats.n_prompt,
                stats.prompt_seconds > 0 ? stats.n_prompt / stats.prompt_seconds : 0.0, stats.n_generated,
                stats.generate_seconds > 0 ? stats.n_generated / stats.generate_seconds : 0.0);
        owned[n_msgs] = reply.text ? reply.text : calloc(1, 1);
        msgs[n_msgs] = (slm_chat_message){"assistant", owned[n_msgs]};
        n_msgs++;
    }
    for (size_t i = n_fixed; i < n_msgs; i++) free(owned[i]);
    slm_session_free(session);
    slm_model_free(model);
    return status;
}
