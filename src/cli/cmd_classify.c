/* cmd_classify.c — `slm classify`: the label and class probabilities of texts as JSONL, from a
 * fine-tuned classifier or a generative model used zero-shot (--labels). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_options.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm classify -m MODEL [TEXT... | --file F] [options]\n\n"
    "Prints one JSON line per text: {\"text\": ..., \"label\": ..., \"probs\": {label: p, ...}}.\n"
    "MODEL is a classifier written by `slm finetune --task classify`, or any generative model\n"
    "with --labels: each label is then scored by the log-probability of its words after a\n"
    "prompt (zero-shot). A label written name=words reports name and scores words\n"
    "(--labels 0=negative,1=positive). --file reads one text per line, or a dataset (.tsv,\n"
    ".csv, .jsonl, or any file with --format) whose text column is classified.\n"
    "The default prompt is an instruction in the model's chat template (when it has one);\n"
    "--template replaces it: {text} is the text, {labels} the label words joined by \", \",\n"
    "\\n a newline; special tokens such as <start_of_turn> are recognised.";

static int fail(void) {
    fprintf(stderr, "error: %s\n", slm_last_error());
    return 1;
}

/* Prints the results of n texts as JSON lines. */
static int print_results(const slm_classifier *clf, const char *const *texts, size_t n, const float *probs) {
    const int k = slm_classifier_n_labels(clf);
    for (size_t i = 0; i < n; i++) {
        const float *p = probs + i * (size_t)k;
        int best = 0;
        for (int c = 1; c < k; c++)
            if (p[c] > p[best]) best = c;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", texts[i]);
        cJSON_AddStringToObject(o, "label", slm_classifier_label(clf, best));
        cJSON *pr = cJSON_AddObjectToObject(o, "probs");
        for (int c = 0; c < k; c++) cJSON_AddNumberToObject(pr, slm_classifier_label(clf, c), (double)p[c]);
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!line) return 1;
        printf("%s\n", line);
        cJSON_free(line);
    }
    fflush(stdout);
    return 0;
}

int cmd_classify(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL, *labels = NULL, *template = NULL, *format_name = NULL;
    const char *text_field = NULL, *label_field = NULL, *encoding = "utf-8";
    int batch = 16, threads = 0, length_norm = 0;
    const opt_spec specs[] = {
        {"-m", "--model", OPT_STRING, &model_path, "classifier GGUF, or a generative model with --labels"},
        {"-f", "--file", OPT_STRING, &file, "classify the texts of this file (one per line, or a dataset)"},
        {NULL, "--labels", OPT_STRING, &labels, "zero-shot: comma-separated labels (name=words to score other words)"},
        {NULL, "--template", OPT_STRING, &template, "zero-shot prompt with {text} (and {labels})"},
        {NULL, "--length-norm", OPT_FLAG, &length_norm, "zero-shot: mean token log-probability instead of the sum"},
        {NULL, "--format", OPT_STRING, &format_name, "--file layout: text (default), tsv, csv, jsonl, kim, auto"},
        {NULL, "--text-field", OPT_STRING, &text_field, "text column / JSON key (default text)"},
        {NULL, "--label-field", OPT_STRING, &label_field, "label column / JSON key (default label)"},
        {NULL, "--encoding", OPT_STRING, &encoding, "invalid UTF-8 in --file: utf-8 (an error), latin1, replace"},
        {"-b", "--batch", OPT_INT, &batch, "texts per prediction call (default 16)"},
        {"-t", "--threads", OPT_INT, &threads, "worker threads (default: physical cores)"},
    };
    const char *pos[ARGS_LIST_MAX];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, ARGS_LIST_MAX, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!model_path || (!file && n_pos == 0) || (file && n_pos > 0)) {
        fprintf(stderr, "error: give -m MODEL and TEXT... or --file F (see slm classify --help)\n");
        return 2;
    }
    if (batch <= 0 || threads < 0) {
        fprintf(stderr, "error: --batch must be positive and --threads not negative\n");
        return 2;
    }
    slm_dataset_params dp = {.format = SLM_DATA_TEXT, .text_field = text_field, .label_field = label_field,
                             .allow_unlabelled = 1};
    if (file && (format_name || task_is_dataset_path(file))) dp.format = SLM_DATA_AUTO;
    if (format_name && task_parse_format(format_name, &dp.format)) return 2;
    if (task_parse_encoding(encoding, &dp.decoding)) return 2;
    if (slm_set_threads(threads) != SLM_OK) return fail();

    int n_labels = 0;
    char **label_list = labels ? task_split_list(labels, &n_labels) : NULL;
    char *tpl = template ? task_unescape(template) : NULL;
    if ((labels && !label_list) || (template && !tpl)) {
        free(tpl);
        return 2;
    }
    slm_classifier_params cp = {.labels = (const char *const *)label_list, .n_labels = n_labels, .prompt_template = tpl,
                                .n_threads = threads, .batch = batch, .length_normalize = length_norm};
    slm_classifier *clf = NULL;
    slm_dataset ds = {0};
    float *probs = NULL;
    int status = 0;
    if (slm_classifier_open(model_path, &cp, &clf) != SLM_OK) status = fail();
    else if (file && slm_dataset_load(file, &dp, &ds) != SLM_OK) status = fail();
    const char *const *texts = file ? (const char *const *)ds.texts : pos;
    size_t n = file ? ds.n : (size_t)n_pos;
    if (!status && !(probs = malloc((size_t)batch * (size_t)slm_classifier_n_labels(clf) * sizeof *probs))) {
        fprintf(stderr, "error: out of memory\n");
        status = 1;
    }
    for (size_t i = 0; !status && i < n; i += (size_t)batch) {
        size_t m = n - i < (size_t)batch ? n - i : (size_t)batch;
        if (slm_classifier_predict(clf, texts + i, m, probs) != SLM_OK) status = fail();
        else status = print_results(clf, texts + i, m, probs);
    }
    free(probs);
    slm_dataset_free(&ds);
    slm_classifier_free(clf);
    task_free_list(label_list, n_labels);
    free(tpl);
    return status;
}
