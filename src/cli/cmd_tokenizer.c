/* cmd_tokenizer.c — `slm tokenizer`: subcommands that make tokenizers; `slm tokenizer train`
 * learns a byte-level BPE or SentencePiece-style vocabulary from text files into a GGUF file. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *TRAIN_USAGE =
    "usage: slm tokenizer train --vocab-size N [--type bpe|spm] [--special TOKEN ...] [-t THREADS]\n"
    "                           FILES... -o TOK.gguf\n\n"
    "Learns a vocabulary from text files (read in chunks, counted on THREADS threads; the result\n"
    "does not depend on the number of threads) and writes it as a vocabulary-only GGUF file (in\n"
    "llama.cpp's layout) that 'slm tokenize -m TOK.gguf' loads.\n"
    "  bpe: byte-level BPE as GPT-2 (GPT-2's pre-tokenizer regex, 256 byte tokens, merges; ties\n"
    "       go to the greatest pair of byte strings); special tokens take the first ids.\n"
    "  spm: SentencePiece-style BPE: each line gets a '▁' prefix and its spaces become '▁';\n"
    "       characters are the first pieces (the rarest, beyond --coverage, go through <0xXX>\n"
    "       byte tokens); pieces never mix letters, digits and other characters and have at\n"
    "       most 16 characters; <unk> <s> </s> are ids 0 1 2.\n"
    "--special may be given several times; special tokens split the text and are never merged.";

static const char *USAGE =
    "usage: slm tokenizer COMMAND [options]\n\n"
    "commands:\n"
    "  train      learn a byte-level BPE or SentencePiece-style vocabulary from text files\n\n"
    "'slm tokenizer COMMAND --help' shows the options of a command.";

typedef struct {
    double start, last;
    int tty, printed;
    char stage[16];
} progress_state;

/* Progress on stderr once a run has taken a second: one updated line on a terminal, a line
 * every 5 seconds (and at each new stage) otherwise. */
static void on_progress(const char *stage, double done, double total, void *user) {
    progress_state *ps = user;
    double now = slm_time_seconds();
    if (now - ps->start < 1.0) return;
    int new_stage = strcmp(ps->stage, stage) != 0;
    if (!new_stage && done < total && now - ps->last < (ps->tty ? 0.2 : 5.0)) return;
    ps->last = now;
    snprintf(ps->stage, sizeof ps->stage, "%s", stage);
    double pct = total > 0 ? 100.0 * done / total : 100.0;
    if (ps->tty && new_stage && ps->printed) fputc('\n', stderr);
    if (strcmp(stage, "counting") == 0)
        fprintf(stderr, "%scounting words: %.1f of %.1f MB (%.0f%%)%s", ps->tty ? "\r" : "", done / 1e6, total / 1e6, pct,
                ps->tty ? "" : "\n");
    else
        fprintf(stderr, "%s%s: %.0f of %.0f (%.0f%%)%s", ps->tty ? "\r" : "", stage, done, total, pct, ps->tty ? "" : "\n");
    ps->printed = 1;
    fflush(stderr);
}

static int cmd_tokenizer_train(int argc, char **argv) {
    int vocab_size = 0, threads = 0;
    const char *type = "bpe", *out_path = NULL;
    float coverage = 0.9995f;
    args_list specials = {0};
    const opt_spec specs[] = {
        {NULL, "--vocab-size", OPT_INT, &vocab_size, "tokens in the vocabulary, special and byte tokens included"},
        {NULL, "--type", OPT_STRING, &type, "bpe (byte-level, GPT-2 style; default) or spm (SentencePiece-style)"},
        {NULL, "--special", OPT_LIST, &specials, "a special (control) token; repeat for more"},
        {NULL, "--coverage", OPT_FLOAT, &coverage, "spm: share of character occurrences kept as pieces (default 0.9995)"},
        {"-t", "--threads", OPT_INT, &threads, "worker threads (default: physical cores)"},
        {"-o", "--output", OPT_STRING, &out_path, "the GGUF file to write"},
    };
    const char *pos[4096];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 4096, &n_pos, TRAIN_USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (vocab_size <= 0 || !out_path || n_pos == 0) {
        fprintf(stderr, "error: give --vocab-size N, FILES and -o TOK.gguf (see slm tokenizer train --help)\n");
        return 2;
    }
    slm_tokenizer_train_params p = slm_tokenizer_train_defaults();
    if (strcmp(type, "bpe") == 0) p.type = SLM_TOKENIZER_BPE;
    else if (strcmp(type, "spm") == 0) p.type = SLM_TOKENIZER_SPM;
    else {
        fprintf(stderr, "error: --type %s: expected bpe or spm\n", type);
        return 2;
    }
    if (threads < 0) {
        fprintf(stderr, "error: --threads must not be negative\n");
        return 2;
    }
    if (slm_set_threads(threads) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 2;
    }
    progress_state ps = {.start = slm_time_seconds(), .tty = isatty(2)};
    p.vocab_size = vocab_size;
    p.specials = specials.items;
    p.n_specials = specials.n;
    p.character_coverage = coverage;
    p.progress = on_progress;
    p.progress_user = &ps;
    slm_tokenizer *tok = NULL;
    slm_tokenizer_train_stats stats;
    slm_status st = slm_tokenizer_train(pos, (size_t)n_pos, &p, &tok, &stats);
    if (ps.tty && ps.printed) fputc('\n', stderr);
    if (st == SLM_OK) st = slm_tokenizer_save(tok, out_path);
    if (st != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        slm_tokenizer_free(tok);
        return st == SLM_ERR_INVALID_ARG ? 2 : 1;
    }
    fprintf(stderr, "%s: %d tokens, %d merges", type, slm_vocab_size(tok), stats.n_merges);
    if (p.type == SLM_TOKENIZER_SPM) fprintf(stderr, ", %d characters", stats.n_chars);
    fprintf(stderr, " from %.1f MB (%llu distinct %s) | counting %.2f s, merging %.2f s | threads: %d\nwrote %s\n",
            (double)stats.n_bytes / 1e6, (unsigned long long)stats.n_words,
            p.type == SLM_TOKENIZER_BPE ? "pre-tokens" : "words", stats.count_seconds, stats.merge_seconds, slm_get_threads(),
            out_path);
    if (slm_vocab_size(tok) < vocab_size)
        fprintf(stderr, "note: the text ran out of pairs to merge before %d tokens\n", vocab_size);
    slm_tokenizer_free(tok);
    return 0;
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "%s\n", USAGE);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        printf("%s\n", USAGE);
        return 0;
    }
    if (strcmp(argv[1], "train") == 0) return cmd_tokenizer_train(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown tokenizer command '%s'\n\n%s\n", argv[1], USAGE);
    return 2;
}
