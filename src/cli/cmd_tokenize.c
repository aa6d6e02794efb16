/* cmd_tokenize.c — `slm tokenize`: token ids and pieces of a text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/read_text.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm tokenize -m MODEL [options] TEXT\n\n"
    "Prints each token of TEXT as 'id <TAB> piece'. MODEL is a GGUF file (a vocabulary-only file\n"
    "works), a llama2.c checkpoint, or a llama2.c tokenizer.bin. With --ids only the ids are\n"
    "printed, on one line.";

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL;
    int ids_only = 0, no_bos = 0, from_stdin = 0, parse_special = 0;
    const opt_spec specs[] = {
        {"-m", "--model", OPT_STRING, &model_path, "model, GGUF vocabulary or llama2.c tokenizer file"},
        {NULL, "--ids", OPT_FLAG, &ids_only, "print the ids only, space-separated"},
        {NULL, "--no-bos", OPT_FLAG, &no_bos, "do not add BOS (added when the vocabulary asks for it)"},
        {NULL, "--special", OPT_FLAG, &parse_special, "recognise control tokens such as <s> in the text"},
        {NULL, "--stdin", OPT_FLAG, &from_stdin, "read the text from standard input (any bytes)"},
    };
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 1, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!model_path || (n_pos != 1 && !from_stdin) || (n_pos == 1 && from_stdin)) {
        fprintf(stderr, "error: give -m MODEL and TEXT (or --stdin) (see slm tokenize --help)\n");
        return 2;
    }
    slm_tokenizer *tok = NULL;
    slm_model *model = NULL;
    const slm_tokenizer *t;
    if (slm_model_load(model_path, NULL, &model) == SLM_OK) t = slm_model_tokenizer(model);
    else if (slm_tokenizer_load(model_path, &tok) == SLM_OK) t = tok;
    else {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    char *text = NULL;
    size_t len;
    if (from_stdin) {
        if (!(text = read_stream(stdin, (size_t)1 << 30, &len))) {
            fprintf(stderr, "error: cannot read standard input\n");
            return 1;
        }
    } else {
        len = strlen(pos[0]);
    }
    int32_t *ids;
    size_t n;
    slm_tokenize_options opts = {!no_bos && slm_tokenizer_adds_bos(t), parse_special};
    int status = 0;
    if (slm_tokenize(t, text ? text : pos[0], len, &opts, &ids, &n) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        status = 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (ids_only) printf("%s%d", i ? " " : "", ids[i]);
            else printf("%6d\t%s\n", ids[i], slm_token_text(t, ids[i]));
        }
        if (ids_only) printf("\n");
        slm_free(ids);
    }
    free(text);
    slm_tokenizer_free(tok);
    slm_model_free(model);
    return status;
}
