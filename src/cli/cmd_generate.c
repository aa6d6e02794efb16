/* cmd_generate.c — `slm generate`: stream a model's continuation of a prompt to stdout and its
 * speed and peak memory to stderr. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/read_text.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm generate -m MODEL [-p PROMPT] [options]\n\n"
    "Generates text after PROMPT and streams it to stdout (the prompt is echoed first).\n"
    "MODEL is a GGUF file or a llama2.c checkpoint (.bin; its tokenizer is found beside it\n"
    "as tok<vocab>.bin or tokenizer.bin, or given with --tokenizer). Speed and peak memory go\n"
    "to stderr. Temperature 0 is greedy decoding.";

static int print_piece(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s%s%s\n", what ? what : "", what ? ": " : "", slm_last_error());
    return 1;
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *tokenizer_path = NULL, *prompt = "", *prompt_file = NULL, *stop = NULL;
    int threads = 0, n_predict = -1, steps = 0, n_ctx = 0, no_bos = 0, no_echo = 0, ignore_eos = 0, chat = 0;
    const char *system_prompt = NULL;
    slm_generate_params gp = slm_generate_defaults();
    slm_sampling_params *sp = &gp.sampling;
    opt_spec specs[32] = {
        {"-m", "--model", OPT_STRING, &model_path, "model file (GGUF or llama2.c .bin)"},
        {NULL, "--tokenizer", OPT_STRING, &tokenizer_path, "tokenizer for a llama2.c checkpoint"},
        {"-p", "--prompt", OPT_STRING, &prompt, "prompt text (default: empty, start from BOS)"},
        {"-f", "--file", OPT_STRING, &prompt_file, "read the prompt from a file"},
        {"-n", "--n-predict", OPT_INT, &n_predict, "tokens to generate (default -1: until EOS or the context is full)"},
        {NULL, "--steps", OPT_INT, &steps, "stop after this many positions, prompt included (llama2.c's -n)"},
        {"-c", "--ctx", OPT_INT, &n_ctx, "context length (default: the model's, at most 4096)"},
        {NULL, "--stop", OPT_STRING, &stop, "stop when this text is generated"},
        {"-t", "--threads", OPT_INT, &threads, "worker threads (default: physical cores)"},
        {NULL, "--no-bos", OPT_FLAG, &no_bos, "do not start the prompt with BOS"},
        {NULL, "--no-echo", OPT_FLAG, &no_echo, "do not print the prompt"},
        {NULL, "--ignore-eos", OPT_FLAG, &ignore_eos, "do not stop at end-of-sequence (for benchmarks)"},
        {NULL, "--chat", OPT_FLAG, &chat, "wrap the prompt as one user turn in the model's chat template"},
        {NULL, "--system", OPT_STRING, &system_prompt, "with --chat: a system message"},
    };
    int n_specs = 0;
    while (specs[n_specs].long_name) n_specs++;
    n_specs += args_sampling_specs(specs + n_specs, sp);
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, n_specs, pos, 0, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!model_path) {
        fprintf(stderr, "error: -m MODEL is required (see slm generate --help)\n");
        return 2;
    }
    if (threads < 0 || steps < 0 || n_ctx < 0) {
        fprintf(stderr, "error: --threads, --steps and --ctx must not be negative\n");
        return 2;
    }
    char *file_text = NULL;
    if (prompt_file) {
        if (!(file_text = read_text_file(prompt_file, 64u << 20, NULL))) {
            fprintf(stderr, "error: %s: cannot read: %s (prompts are limited to 64 MiB)\n", prompt_file, strerror(errno));
            return 1;
        }
        prompt = file_text;
    }
    if (slm_set_threads(threads) != SLM_OK) return fail(NULL);
    slm_model *model = NULL;
    slm_session *session = NULL;
    slm_model_params mp = {.tokenizer_path = tokenizer_path};
    if (slm_model_load(model_path, &mp, &model) != SLM_OK) {
        free(file_text);
        return fail(NULL);
    }
    slm_session_params sparams = {.n_ctx = n_ctx};
    if (slm_session_new(model, &sparams, &session) != SLM_OK) {
        slm_model_free(model);
        free(file_text);
        return fail(NULL);
    }
    char *chat_text = NULL;
    if (chat) {
        slm_chat_message msgs[2] = {{"system", system_prompt}, {"user", prompt}};
        int first = system_prompt ? 0 : 1;
        if (slm_chat_format(model, msgs + first, (size_t)(2 - first), 1, &chat_text) != SLM_OK) {
            slm_session_free(session);
            slm_model_free(model);
            free(file_text);
            return fail(NULL);
        }
        prompt = chat_text;
        no_echo = 1;
    }
    const char *stops[2] = {stop, NULL};
    gp.n_predict = n_predict;
    gp.max_positions = steps;
    gp.add_bos = !no_bos;
    gp.echo_prompt = !no_echo;
    gp.ignore_eos = ignore_eos;
    gp.parse_special = chat;
    gp.stop = stop ? stops : NULL;
    slm_generate_stats stats;
    slm_status st = slm_generate(session, prompt, &gp, print_piece, NULL, &stats);
    printf("\n");
    fflush(stdout);
    if (st == SLM_OK) {
        fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f tokens/s) | generation: %d tokens in %.3f s (%.1f tokens/s) | stop: %s | threads: %d | peak memory: %.1f MiB\n",
                stats.n_prompt, stats.prompt_seconds, stats.prompt_seconds > 0 ? stats.n_prompt / stats.prompt_seconds : 0.0,
                stats.n_generated, stats.generate_seconds,
                stats.generate_seconds > 0 ? stats.n_generated / stats.generate_seconds : 0.0, stats.stop_reason,
                slm_get_threads(), (double)slm_peak_rss_bytes() / (1 << 20));
    }
    slm_session_free(session);
    slm_model_free(model);
    free(file_text);
    slm_free(chat_text);
    return st == SLM_OK ? 0 : fail(NULL);
}
