/* cmd_compare.c — `slm compare`: candidates (fine-tuned classifiers, generative models zero- or
 * few-shot, keyword methods) measured on the same examples by slm_compare_run, written as a
 * Markdown report, a JSON file and an SVG chart. Argument parsing and printing only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_options.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm compare --data F --model [NAME=]PATH[,key=value...] ... [options]\n\n"
    "Measures every candidate on the same examples, one after another, each in a process of its own:\n"
    "accuracy and macro-F1 with bootstrap 95% intervals (--task keywords: F1@10 and F1@5), parameters,\n"
    "file size, peak RSS, load time, latency p50/p95, examples/s at 1 thread and at all threads,\n"
    "training time of fine-tuned ones, and the cost of a million examples at --cpu-hour-price.\n"
    "Writes OUT.md, OUT.json and OUT.svg (-o OUT, default compare).\n\n"
    "A classify candidate is a classifier GGUF written by `slm finetune` or a generative model, scored\n"
    "zero-shot with --labels (few-shot with --shots K: K examples of --train before each text). Keys\n"
    "after the path, comma-separated: limit=N (score the first N examples), speed=N (examples per\n"
    "speed pass), shots=K, base=BASE (fine-tune BASE on --train, --dev picking the epoch, into PATH\n"
    "first; an existing PATH with its PATH.train.json record is reused), method=stat|embed|auto\n"
    "(keywords: PATH is the encoder). --method M adds a keyword candidate without a model.\n"
    "A candidate that fails (missing file, labels it cannot score, too big for memory, a crash) is\n"
    "reported with the reason and the others still run. Exit status: 0 when every candidate ran,\n"
    "1 when one or more failed (the report is written all the same), 2 for bad options.";

static void log_line(const char *line, void *user) {
    if (*(const int *)user) return;
    fprintf(stderr, "%s\n", line);
}

/* Parses "[NAME=]PATH[,key=value...]" into c (pointing into the modified copy buf). 0 on success. */
static int parse_candidate(char *buf, slm_compare_candidate *c) {
    memset(c, 0, sizeof *c);
    char *rest = strchr(buf, ',');
    if (rest) *rest++ = 0;
    char *eq = strchr(buf, '=');
    if (eq) {
        *eq = 0;
        c->name = buf;
        c->path = eq + 1;
    } else c->path = buf;
    if (c->path && !*c->path) c->path = NULL;
    while (rest && *rest) {
        char *next = strchr(rest, ',');
        if (next) *next++ = 0;
        char *kv = strchr(rest, '=');
        if (!kv) {
            fprintf(stderr, "error: --model: \"%s\" is not key=value (limit, speed, shots, base, method)\n", rest);
            return 2;
        }
        *kv++ = 0;
        if (strcmp(rest, "limit") == 0) c->limit = atoi(kv);
        else if (strcmp(rest, "speed") == 0) c->speed_n = atoi(kv);
        else if (strcmp(rest, "shots") == 0) c->shots = atoi(kv);
        else if (strcmp(rest, "base") == 0) c->finetune_base = kv;
        else if (strcmp(rest, "method") == 0) c->method = kv;
        else {
            fprintf(stderr, "error: --model: unknown key \"%s\" (limit, speed, shots, base, method)\n", rest);
            return 2;
        }
        rest = next;
    }
    if (!c->path && !c->method) {
        fprintf(stderr, "error: --model: no model path\n");
        return 2;
    }
    return 0;
}

/* The command line as one shell-quoted string (caller frees). */
static char *command_text(int argc, char **argv) {
    size_t cap = 32;
    for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i]) + 3;
    char *s = malloc(cap), *o = s;
    if (!s) return NULL;
    o += sprintf(o, "slm");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:@%+", *c)) plain = 0;
        *o++ = ' ';
        if (plain) o += sprintf(o, "%s", a);
        else {
            *o++ = '\'';
            for (const char *c = a; *c; c++) o += *c == '\'' ? sprintf(o, "'\\''") : sprintf(o, "%c", *c);
            *o++ = '\'';
        }
    }
    *o = 0;
    return s;
}

int cmd_compare(int argc, char **argv) {
    slm_compare_params p = slm_compare_defaults();
    args_list models = {0}, methods = {0};
    const char *task = "classify", *labels = NULL, *template = NULL, *format_name = "auto", *encoding = "utf-8";
    const char *text_field = NULL, *label_field = NULL, *label_sep = NULL, *out = "compare";
    float price = (float)p.cpu_hour_price, lr = p.finetune.lr;
    int no_isolate = 0, quiet = 0;
    const opt_spec specs[] = {
        {NULL, "--task", OPT_STRING, &task, "classify (default) or keywords"},
        {"-d", "--data", OPT_STRING, &p.data_path, "the examples scored (classify: a dataset; keywords: a gold corpus)"},
        {"-m", "--model", OPT_LIST, &models, "a candidate: [NAME=]PATH[,limit=N,speed=N,shots=K,base=BASE,method=M]"},
        {NULL, "--method", OPT_LIST, &methods, "keywords: a candidate method without a model (stat, auto)"},
        {NULL, "--train", OPT_STRING, &p.train_path, "training set: fine-tuning (base=) and few-shot examples"},
        {NULL, "--dev", OPT_STRING, &p.dev_path, "fine-tuning: the set that picks the best epoch"},
        {NULL, "--labels", OPT_STRING, &labels, "zero-shot: comma-separated labels (name=words)"},
        {NULL, "--template", OPT_STRING, &template, "zero-shot prompt with {text} (and {labels}); \\n for a newline"},
        {NULL, "--calibrate", OPT_FLAG, &p.calibrate, "zero-shot: contextual calibration"},
        {NULL, "--length-norm", OPT_FLAG, &p.length_normalize, "zero-shot: mean token log-probability"},
        {NULL, "--shots", OPT_INT, &p.shots, "few-shot: K examples of --train before each text (default 0)"},
        {NULL, "--format", OPT_STRING, &format_name, "data format: auto (default), tsv, csv, jsonl, kim"},
        {NULL, "--text-field", OPT_STRING, &text_field, "text column / JSON key (default text)"},
        {NULL, "--label-field", OPT_STRING, &label_field, "label column / JSON key (default label)"},
        {NULL, "--label-sep", OPT_STRING, &label_sep, "keep each label's part before this character"},
        {NULL, "--encoding", OPT_STRING, &encoding, "invalid UTF-8: utf-8 (an error, default), latin1, replace"},
        {NULL, "--limit", OPT_INT, &p.limit, "score only the first N examples of each candidate (default all)"},
        {NULL, "--speed-n", OPT_INT, &p.speed_n, "examples per speed pass (default 100)"},
        {NULL, "--repeats", OPT_INT, &p.repeats, "speed passes at each thread count; medians reported (default 3)"},
        {NULL, "--bootstrap", OPT_INT, &p.n_bootstrap, "resamples for the 95% intervals (default 1000)"},
        {"-b", "--batch", OPT_INT, &p.batch, "texts per prediction call (default 16)"},
        {"-t", "--threads", OPT_INT, &p.threads, "\"all threads\" (default: physical cores)"},
        {NULL, "--score-threads", OPT_INT, &p.score_threads, "threads of the scoring pass (default: all threads)"},
        {NULL, "--chart-one-thread", OPT_FLAG, &p.chart_one_thread, "the chart plots the 1-thread rates (default: all threads)"},
        {NULL, "--cpu-hour-price", OPT_FLOAT, &price, "price of one core for an hour (default 0.05)"},
        {NULL, "--epochs", OPT_INT, &p.finetune.epochs, "fine-tuning epochs (default 3)"},
        {NULL, "--lr", OPT_FLOAT, &lr, "fine-tuning peak learning rate (default 5e-5)"},
        {NULL, "--finetune-batch", OPT_INT, &p.finetune.batch, "fine-tuning examples per step (default 32)"},
        {NULL, "--max-len", OPT_INT, &p.finetune.max_len, "fine-tuning tokens per text (default 128)"},
        {NULL, "--no-isolate", OPT_FLAG, &no_isolate, "run the candidates in this process (no child processes)"},
        {"-o", "--out", OPT_STRING, &out, "output prefix: OUT.md, OUT.json, OUT.svg (default compare)"},
        {"-q", "--quiet", OPT_FLAG, &quiet, "no progress on stderr"},
    };
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 0, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (strcmp(task, "classify") == 0) p.task = SLM_COMPARE_CLASSIFY;
    else if (strcmp(task, "keywords") == 0) p.task = SLM_COMPARE_KEYWORDS;
    else {
        fprintf(stderr, "error: --task %s: expected classify or keywords\n", task);
        return 2;
    }
    if (!p.data_path || models.n + methods.n == 0) {
        fprintf(stderr, "error: give --data F and at least one --model (see slm compare --help)\n");
        return 2;
    }
    if (p.batch <= 0 || p.threads < 0 || p.limit < 0 || p.speed_n < 0 || p.repeats <= 0 || p.n_bootstrap < 0 || p.shots < 0 ||
        price < 0) {
        fprintf(stderr, "error: --batch and --repeats must be positive; --threads, --limit, --speed-n, --bootstrap, --shots "
                        "and --cpu-hour-price not negative\n");
        return 2;
    }
    if (label_sep && strlen(label_sep) != 1) {
        fprintf(stderr, "error: --label-sep takes one character\n");
        return 2;
    }
    p.data_params.text_field = text_field;
    p.data_params.label_field = label_field;
    p.data_params.label_sep = label_sep ? label_sep[0] : 0;
    if (task_parse_format(format_name, &p.data_params.format) || task_parse_encoding(encoding, &p.data_params.decoding)) return 2;
    p.cpu_hour_price = price;
    p.finetune.lr = lr;
    p.isolate = !no_isolate;
    p.log = log_line;
    p.log_user = &quiet;

    const size_t n = (size_t)(models.n + methods.n);
    slm_compare_candidate *cands = calloc(n, sizeof *cands);
    slm_compare_result *results = calloc(n, sizeof *results);
    char **bufs = calloc(n, sizeof *bufs);
    char **label_list = NULL, *tpl = NULL, *command = NULL;
    int n_labels = 0, status = 0;
    if (!cands || !results || !bufs) goto oom;
    for (int i = 0; i < models.n; i++) {
        if (!(bufs[i] = strdup(models.items[i]))) goto oom;
        if ((status = parse_candidate(bufs[i], &cands[i]))) goto done;
    }
    for (int i = 0; i < methods.n; i++) cands[models.n + i] = (slm_compare_candidate){.name = methods.items[i], .method = methods.items[i]};
    if (labels && !(label_list = task_split_list(labels, &n_labels))) {
        status = 2;
        goto done;
    }
    if (template && !(tpl = task_unescape(template))) goto oom;
    p.labels = (const char *const *)label_list;
    p.n_labels = n_labels;
    p.prompt_template = tpl;
    command = command_text(argc - 1, argv + 1);
    if (!command) goto oom;
    memmove(command + 11, command + 3, strlen(command + 3) + 1); /* "slm compare ..." */
    memcpy(command, "slm compare", 11);
    if (slm_compare_run(&p, cands, n, results) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        status = 1;
        goto done;
    }
    char path[4096];
    const char *ext[3] = {"md", "json", "svg"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s.%s", out, ext[k]);
        slm_status st = k == 0 ? slm_compare_write_markdown(path, &p, results, n, command)
                        : k == 1 ? slm_compare_write_json(path, &p, results, n, command)
                                 : slm_compare_write_svg(path, &p, results, n);
        if (st != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            status = 1;
        } else if (!quiet) fprintf(stderr, "wrote %s\n", path);
    }
    for (size_t i = 0; i < n; i++) {
        const slm_compare_result *r = &results[i];
        if (r->ok)
            printf("%-28s %-14s n=%-6zu %s %6.2f%%  %9.2f/s (1 thread)  %9.2f/s (%d threads)\n", r->name, r->kind, r->n,
                   p.task == SLM_COMPARE_KEYWORDS ? "F1@10" : "accuracy", 100 * r->score, r->rate_1, r->rate_all, r->threads_all);
        else {
            printf("%-28s failed: %s\n", r->name, r->error);
            status = 1;
        }
    }
    goto done;
oom:
    fprintf(stderr, "error: out of memory\n");
    status = 1;
done:
    for (size_t i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(cands);
    free(results);
    task_free_list(label_list, n_labels);
    free(tpl);
    free(command);
    return status;
}
