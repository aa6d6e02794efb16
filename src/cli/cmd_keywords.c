/* cmd_keywords.c — `slm keywords`: the keyphrases of a text, a file or every document of a JSONL
 * file, printed with scores as text or JSONL; documents are extracted in batches over threads. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/keywords_options.h"
#include "cli/read_text.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm keywords [options] [TEXT | --file F | --jsonl F [--field text]]\n"
    "       slm keywords --eval GOLD [options]   (= slm eval --task keywords GOLD)\n\n"
    "Prints the keyphrases that best describe each document, best first, with their scores.\n"
    "Without TEXT, --file or --jsonl the text is read from standard input. --jsonl reads one\n"
    "document per line from the string (or list of tokens) in --field; the output then has one\n"
    "block (text) or one line (jsonl) per document, with its \"id\" (or \"paper_id\", or line number).";

#define BATCH_DOCS 256
#define MAX_INPUT_BYTES ((size_t)1 << 30)

/* NUL bytes would end a text early: they become spaces. */
static void replace_nuls(char *text, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0') text[i] = ' ';
}

static void print_text(const char *id, const slm_keyword_list *list, int with_header, int first) {
    if (with_header) printf("%s# %s\n", first ? "" : "\n", id);
    for (int k = 0; k < list->n; k++) printf("%.4f\t%s\n", (double)list->items[k].score, list->items[k].phrase);
}

static int print_jsonl(const char *id, const slm_keyword_list *list) {
    cJSON *obj = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!obj || !arr) {
        cJSON_Delete(obj);
        cJSON_Delete(arr);
        return 0;
    }
    if (id) cJSON_AddStringToObject(obj, "id", id);
    for (int k = 0; k < list->n; k++) {
        cJSON *item = cJSON_CreateObject();
        if (!item) break;
        cJSON_AddStringToObject(item, "phrase", list->items[k].phrase);
        cJSON_AddNumberToObject(item, "score", (double)(int64_t)((double)list->items[k].score * 1e4) / 1e4);
        cJSON_AddItemToArray(arr, item);
    }
    cJSON_AddItemToObject(obj, "keywords", arr);
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!s) return 0;
    puts(s);
    cJSON_free(s);
    return 1;
}

int cmd_keywords(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--eval") == 0 || strncmp(argv[i], "--eval=", 7) == 0) {
            /* hand over to the evaluation, with GOLD as its positional argument */
            char **args = (char **)malloc((size_t)(argc + 1) * sizeof(char *));
            if (!args) return 1;
            int n = 0;
            for (int j = 0; j < argc; j++) {
                if (j == i) {
                    if (argv[j][6] == '=') args[n++] = argv[j] + 7;
                    continue;
                }
                args[n++] = argv[j];
            }
            args[n] = NULL;
            int rc = cmd_eval_keywords(n, args);
            free(args);
            return rc;
        }
    keywords_cli_options ko;
    const char *file = NULL, *jsonl = NULL, *field = NULL, *format = "text";
    opt_spec specs[KEYWORDS_N_SPECS + 4];
    keywords_option_specs(specs, &ko);
    specs[KEYWORDS_N_SPECS + 0] = (opt_spec){NULL, "--file", OPT_STRING, &file, "read one document from a file ('-': stdin)"};
    specs[KEYWORDS_N_SPECS + 1] = (opt_spec){NULL, "--jsonl", OPT_STRING, &jsonl, "read documents from a JSONL file"};
    specs[KEYWORDS_N_SPECS + 2] = (opt_spec){NULL, "--field", OPT_STRING, &field, "JSONL text field (default text, then document)"};
    specs[KEYWORDS_N_SPECS + 3] = (opt_spec){NULL, "--format", OPT_STRING, &format, "text or jsonl (default text)"};
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, KEYWORDS_N_SPECS + 4, pos, 1, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    int as_jsonl = strcmp(format, "jsonl") == 0;
    if (!as_jsonl && strcmp(format, "text") != 0) {
        fprintf(stderr, "error: --format %s: expected text or jsonl\n", format);
        return 2;
    }
    if ((n_pos > 0) + (file != NULL) + (jsonl != NULL) > 1) {
        fprintf(stderr, "error: give one of TEXT, --file or --jsonl (see slm keywords --help)\n");
        return 2;
    }
    if (field && !jsonl) {
        fprintf(stderr, "error: --field goes with --jsonl\n");
        return 2;
    }
    slm_keywords_params params;
    if (!keywords_options_to_params(&ko, &params)) return 2;

    /* the documents */
    slm_keyphrase_corpus corpus = {0};
    char *single = NULL;
    if (jsonl) {
        if (slm_keyphrase_corpus_load(jsonl, field, 0, &corpus) != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            return 1;
        }
    } else {
        size_t len;
        if (n_pos == 1) {
            single = strdup(pos[0]);
            len = single ? strlen(single) : 0;
        } else if (file && strcmp(file, "-") != 0) {
            single = read_text_file(file, MAX_INPUT_BYTES, &len);
            if (!single) {
                fprintf(stderr, "error: %s: cannot read the file\n", file);
                return 1;
            }
        } else {
            if (!file && isatty(0)) {
                fprintf(stderr, "error: no text: give TEXT, --file F or --jsonl F, or pipe text in (see slm keywords --help)\n");
                return 2;
            }
            single = read_stream(stdin, MAX_INPUT_BYTES, &len);
            if (!single) {
                fprintf(stderr, "error: cannot read standard input\n");
                return 1;
            }
        }
        if (!single) return 1;
        replace_nuls(single, len);
    }

    slm_keywords *kw;
    if (slm_keywords_new(&params, &kw) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        slm_keyphrase_corpus_free(&corpus);
        free(single);
        return 1;
    }
    size_t n_docs = jsonl ? corpus.n : 1;
    const char *const *texts = jsonl ? (const char *const *)corpus.texts : (const char *const *)&single;
    slm_keyword_list lists[BATCH_DOCS];
    int status = 0;
    for (size_t b = 0; b < n_docs && !status; b += BATCH_DOCS) {
        size_t n = n_docs - b < BATCH_DOCS ? n_docs - b : BATCH_DOCS;
        if (slm_keywords_extract(kw, texts + b, n, lists) != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            status = 1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            const char *id = jsonl ? corpus.ids[b + i] : NULL;
            if (as_jsonl) {
                if (!print_jsonl(id, &lists[i])) status = 1;
            } else {
                print_text(id, &lists[i], jsonl != NULL, b + i == 0);
            }
        }
        slm_keyword_lists_free(lists, n);
    }
    if (fflush(stdout) != 0) status = 1;
    slm_keywords_free(kw);
    slm_keyphrase_corpus_free(&corpus);
    free(single);
    return status;
}
