/* cmd_eval.c — `slm eval`: a classifier's accuracy, macro-F1, per-label precision/recall/F1 and
 * confusion matrix on a labelled dataset, as text (stdout) and JSON (--json). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_options.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm eval -m MODEL --data F [options]\n\n"
    "Classifies every text of a labelled dataset and prints accuracy, macro-F1 (with bootstrap\n"
    "95% intervals), per-label precision/recall/F1 and the confusion matrix; --json writes the\n"
    "same as JSON, with the time taken and sentences/s. MODEL is a classifier written by\n"
    "`slm finetune --task classify`, or a generative model with --labels (zero-shot; see\n"
    "slm classify --help). The dataset's labels must be the classifier's: with zero-shot\n"
    "labels written name=words (--labels 0=negative,1=positive) the names are the dataset's.\n"
    "A label outside that set is an error naming the file and line.\n"
    "Formats: tsv, csv, jsonl, kim (\"label text\" lines), auto (by extension: .tsv, .csv,\n"
    ".jsonl/.json, anything else kim). --label-sep : keeps a label's part before ':' (TREC's\n"
    "coarse classes from \"DESC:manner\"). --encoding latin1 reads lines that are not UTF-8 as\n"
    "Windows-1252 (MR and Subj), replace turns invalid bytes into U+FFFD.";

static int fail(void) {
    fprintf(stderr, "error: %s\n", slm_last_error());
    return 1;
}

/* Writes the per-example predictions as JSON lines: index, true label, predicted label, probs. */
static int write_predictions(const char *path, const slm_classifier *clf, const slm_dataset *ds, size_t n,
                             const int *pred, const float *probs) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "error: cannot write %s\n", path);
        return 1;
    }
    const int k = slm_classifier_n_labels(clf);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "{\"index\":%zu,\"true\":%d,\"pred\":%d,\"probs\":[", i, ds->labels[i], pred[i]);
        for (int c = 0; c < k; c++) fprintf(f, "%s%.9g", c ? "," : "", (double)probs[i * (size_t)k + c]);
        fprintf(f, "]}\n");
    }
    return fclose(f) == 0 ? 0 : 1;
}

/* Writes the metrics JSON with the run's details added. */
static int write_json(const char *path, const char *metrics_json, const char *model, const char *data, double seconds,
                      int threads) {
    cJSON *root = cJSON_Parse(metrics_json);
    if (!root) return 1;
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "data", data);
    cJSON_AddNumberToObject(root, "seconds", seconds);
    cJSON_AddNumberToObject(root, "sentences_per_second", seconds > 0 ? cJSON_GetObjectItem(root, "n")->valuedouble / seconds : 0);
    cJSON_AddNumberToObject(root, "threads", threads);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    int bad = !text || !f;
    if (f && text) bad = fprintf(f, "%s\n", text) < 0;
    if (f && f != stdout) bad |= fclose(f) != 0;
    cJSON_free(text);
    if (bad) fprintf(stderr, "error: cannot write %s\n", path);
    return bad;
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *labels = NULL, *template = NULL, *format_name = "auto";
    const char *text_field = NULL, *label_field = NULL, *encoding = "utf-8", *json_out = NULL, *pred_out = NULL;
    const char *task = "classify", *label_sep = NULL;
    int batch = 16, threads = 0, length_norm = 0, n_bootstrap = 1000, limit = 0, quiet = 0;
    const opt_spec specs[] = {
        {"-m", "--model", OPT_STRING, &model_path, "classifier GGUF, or a generative model with --labels"},
        {"-d", "--data", OPT_STRING, &data, "labelled dataset file"},
        {NULL, "--task", OPT_STRING, &task, "what to evaluate: classify (default)"},
        {NULL, "--format", OPT_STRING, &format_name, "auto (default), tsv, csv, jsonl, kim"},
        {NULL, "--text-field", OPT_STRING, &text_field, "text column / JSON key (default text)"},
        {NULL, "--label-field", OPT_STRING, &label_field, "label column / JSON key (default label)"},
        {NULL, "--label-sep", OPT_STRING, &label_sep, "keep each label's part before this character (TREC: ':')"},
        {NULL, "--encoding", OPT_STRING, &encoding, "invalid UTF-8: utf-8 (an error, default), latin1, replace"},
        {NULL, "--labels", OPT_STRING, &labels, "zero-shot: comma-separated labels (name=words)"},
        {NULL, "--template", OPT_STRING, &template, "zero-shot prompt with {text} (and {labels})"},
        {NULL, "--length-norm", OPT_FLAG, &length_norm, "zero-shot: mean token log-probability instead of the sum"},
        {NULL, "--limit", OPT_INT, &limit, "evaluate only the first N examples"},
        {NULL, "--json", OPT_STRING, &json_out, "write the metrics as JSON to this file (- for stdout)"},
        {NULL, "--predictions", OPT_STRING, &pred_out, "write each example's true and predicted label as JSONL"},
        {NULL, "--bootstrap", OPT_INT, &n_bootstrap, "resamples for the 95% intervals (default 1000; 0: none)"},
        {"-b", "--batch", OPT_INT, &batch, "texts per prediction call (default 16)"},
        {"-t", "--threads", OPT_INT, &threads, "worker threads (default: physical cores)"},
        {"-q", "--quiet", OPT_FLAG, &quiet, "no progress on stderr"},
    };
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 0, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (strcmp(task, "classify") != 0) {
        fprintf(stderr, "error: --task %s is not supported (classify)\n", task);
        return 2;
    }
    if (!model_path || !data) {
        fprintf(stderr, "error: give -m MODEL and --data F (see slm eval --help)\n");
        return 2;
    }
    if (batch <= 0 || threads < 0 || n_bootstrap < 0 || limit < 0) {
        fprintf(stderr, "error: --batch must be positive; --threads, --bootstrap and --limit not negative\n");
        return 2;
    }
    if (label_sep && strlen(label_sep) != 1) {
        fprintf(stderr, "error: --label-sep takes one character\n");
        return 2;
    }
    slm_dataset_params dp = {.text_field = text_field, .label_field = label_field, .label_sep = label_sep ? label_sep[0] : 0};
    if (task_parse_format(format_name, &dp.format) || task_parse_encoding(encoding, &dp.decoding)) return 2;
    if (dp.format == SLM_DATA_TEXT) {
        fprintf(stderr, "error: slm eval needs labels: --format text has none\n");
        return 2;
    }
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
    int *pred = NULL;
    const char **names = NULL;
    slm_metrics m = {0};
    char *text = NULL, *json = NULL;
    int status = 0;
    if (slm_classifier_open(model_path, &cp, &clf) != SLM_OK) {
        status = fail();
        goto done;
    }
    const int k = slm_classifier_n_labels(clf);
    if (!(names = malloc((size_t)k * sizeof *names))) goto oom;
    for (int c = 0; c < k; c++) names[c] = slm_classifier_label(clf, c);
    dp.label_names = names;
    dp.n_label_names = k;
    if (slm_dataset_load(data, &dp, &ds) != SLM_OK) {
        status = fail();
        goto done;
    }
    size_t n = limit > 0 && (size_t)limit < ds.n ? (size_t)limit : ds.n;
    if (!(probs = malloc(n * (size_t)k * sizeof *probs)) || !(pred = malloc(n * sizeof *pred))) goto oom;
    double t0 = slm_time_seconds();
    int show = !quiet && isatty(2);
    for (size_t i = 0; i < n; i += (size_t)batch) {
        size_t b = n - i < (size_t)batch ? n - i : (size_t)batch;
        if (slm_classifier_predict(clf, (const char *const *)ds.texts + i, b, probs + i * (size_t)k) != SLM_OK) {
            status = fail();
            goto done;
        }
        if (show) fprintf(stderr, "\r%zu / %zu", i + b, n);
    }
    double seconds = slm_time_seconds() - t0;
    if (show) fprintf(stderr, "\n");
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (probs[i * (size_t)k + c] > probs[i * (size_t)k + best]) best = c;
        pred[i] = best;
    }
    if (slm_metrics_compute(ds.labels, pred, n, k, n_bootstrap, 0x5eed, &m) != SLM_OK ||
        slm_metrics_format_text(&m, names, &text) != SLM_OK || slm_metrics_format_json(&m, names, &json) != SLM_OK) {
        status = fail();
        goto done;
    }
    printf("model         %s\ndata          %s\n%s", model_path, data, text);
    printf("\ntime          %.2f s, %.1f sentences/s, %d threads\n", seconds, seconds > 0 ? (double)n / seconds : 0.0,
           slm_get_threads());
    if (json_out && write_json(json_out, json, model_path, data, seconds, slm_get_threads())) status = 1;
    if (pred_out && write_predictions(pred_out, clf, &ds, n, pred, probs)) status = 1;
    goto done;
oom:
    fprintf(stderr, "error: out of memory\n");
    status = 1;
done:
    slm_free(text);
    slm_free(json);
    slm_metrics_free(&m);
    free(probs);
    free(pred);
    free(names);
    slm_dataset_free(&ds);
    slm_classifier_free(clf);
    task_free_list(label_list, n_labels);
    free(tpl);
    return status;
}
