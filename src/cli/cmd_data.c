/* cmd_data.c — `slm data prepare`: tokenise text files, folders and JSONL records into token
 * shards with a train/validation split, for `slm train`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm data prepare -m TOKENIZER -o DIR [options] INPUT...\n\n"
    "Tokenises INPUT files and folders (searched recursively for .txt, .md and .jsonl files, in\n"
    "sorted order) into token shards in DIR: train-NNNNN.bin, val-NNNNN.bin and tokenizer.gguf.\n"
    "TOKENIZER is a tokenizer or model file (GGUF, llama2.c tokenizer.bin or checkpoint).\n"
    "Plain text is split into documents at --separator; each line of a .jsonl file is one\n"
    "document (its --field string). Documents start with BOS when the tokenizer adds one, else\n"
    "end with EOS. Each document goes to the validation split with probability --val-fraction,\n"
    "decided by a hash of --seed and its index: the same inputs and seed give the same shards.\n"
    "See docs/data.md.";

typedef struct {
    int tty;
} progress_state;

static void progress(const char *file, int done, int total, const slm_data_stats *s, void *user) {
    progress_state *ps = user;
    fprintf(stderr, "%s[%d/%d] %s: %llu docs, %llu train + %llu val tokens%s", ps->tty ? "\r\033[K" : "", done,
            total, file, (unsigned long long)(s->n_docs[0] + s->n_docs[1]), (unsigned long long)s->n_tokens[0],
            (unsigned long long)s->n_tokens[1], ps->tty ? "" : "\n");
    fflush(stderr);
}

/* Turns the escapes \n, \t and \\ of a command-line separator into bytes, in place. */
static void unescape(char *s) {
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (*p == '\\' && (p[1] == 'n' || p[1] == 't' || p[1] == '\\')) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : '\\';
        } else *o++ = *p;
    }
    *o = '\0';
}

static int cmd_data_prepare(int argc, char **argv) {
    const char *tok = NULL, *out = NULL, *field = NULL, *sep = NULL;
    float val = 0.0f;
    uint64_t seed = 0, shard_tokens = 0;
    int quiet = 0;
    const opt_spec specs[] = {
        {"-m", "--model", OPT_STRING, &tok, "tokenizer or model file (required)"},
        {"-o", "--out", OPT_STRING, &out, "output folder (required; created if missing)"},
        {NULL, "--field", OPT_STRING, &field, "the string field of .jsonl records (default: text)"},
        {NULL, "--separator", OPT_STRING, &sep, "document separator in plain text (default <|endoftext|>; \"\" = one per file; \\n allowed)"},
        {NULL, "--val-fraction", OPT_FLOAT, &val, "share of documents for validation, in [0, 1] (default 0; 1: all, for a separate validation file)"},
        {NULL, "--seed", OPT_U64, &seed, "seed of the split (default 0)"},
        {NULL, "--shard-tokens", OPT_U64, &shard_tokens, "tokens per shard at most (default 67108864)"},
        {"-q", "--quiet", OPT_FLAG, &quiet, "no progress on stderr"},
    };
    const char *pos[256];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 256, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!tok || !out || n_pos < 1) {
        fprintf(stderr, "error: give -m TOKENIZER, -o DIR and at least one INPUT (see slm data prepare --help)\n");
        return 2;
    }
    char *sep_copy = NULL;
    if (sep) {
        if (!(sep_copy = strdup(sep))) return 1;
        unescape(sep_copy);
    }
    slm_data_prepare_params p = {.tokenizer_path = tok, .inputs = pos, .n_inputs = (size_t)n_pos, .out_dir = out,
                                 .jsonl_field = field, .separator = sep_copy, .val_fraction = val, .seed = seed,
                                 .shard_tokens = shard_tokens};
    progress_state ps = {isatty(STDERR_FILENO)};
    slm_data_stats s;
    const double t0 = slm_time_seconds();
    slm_status st = slm_data_prepare(&p, quiet ? NULL : progress, &ps, &s);
    free(sep_copy);
    if (ps.tty && !quiet) fprintf(stderr, "\n");
    if (st != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    if (!quiet)
        fprintf(stderr,
                "%s: %d files, %.1f MiB in %.2f s; train: %llu docs, %llu tokens, %d shards; val: %llu docs, %llu tokens, %d shards\n",
                out, s.n_files, (double)s.bytes_read / (1 << 20), slm_time_seconds() - t0,
                (unsigned long long)s.n_docs[0], (unsigned long long)s.n_tokens[0], s.n_shards[0],
                (unsigned long long)s.n_docs[1], (unsigned long long)s.n_tokens[1], s.n_shards[1]);
    return 0;
}

int cmd_data(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "prepare") == 0) return cmd_data_prepare(argc - 1, argv + 1);
    FILE *o = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? stdout : stderr;
    fprintf(o, "usage: slm data prepare -m TOKENIZER -o DIR [options] INPUT...\n\n"
               "commands:\n  prepare    tokenise text into train/validation token shards\n\n"
               "'slm data prepare --help' shows its options.\n");
    return o == stdout ? 0 : 2;
}
