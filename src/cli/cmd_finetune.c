/* cmd_finetune.c — `slm finetune --task classify`: full fine-tuning of a BERT-family encoder
 * (or LoRA on a decoder) with a classification head on a labelled text file (TSV, CSV, JSONL or Kim-2014 lines),
 * with a progress line, a per-epoch dev report and early stopping; writes a classifier GGUF
 * that `slm classify` and `slm eval` open. `--task tag`: a BIO token-classification head on
 * tagged JSONL documents (Inspec's), a tagger GGUF for `slm keywords --method supervised`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_options.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm finetune --task classify|tag -m BASE.gguf --train FILE [--dev FILE] -o OUT.gguf [options]\n\n"
    "Fine-tunes a BERT-family encoder (e.g. all-MiniLM-L6-v2 converted by slm convert) and a linear\n"
    "classification head on labelled texts. With --dev, the model is scored after every epoch and the\n"
    "best epoch is kept (accuracy, or macro-F1 with --metric macro-f1). A decoder base (llama, qwen2,\n"
    "gemma3, quantised or not) stays frozen: LoRA adapters (--lora-rank, --lora-alpha, --lora-targets)\n"
    "and a head on the last token's state train, and OUT.gguf holds them with a reference to the base.\n"
    "--task tag: a token-classification (B/I/O) head on JSONL documents with word lists (\"document\")\n"
    "and tags (\"doc_bio_tags\"), scored by span F1 (without --dev a seeded tenth of --train is held out);\n"
    "the tagger is used by slm keywords --method supervised.";

static void fmt_time(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

typedef struct {
    int tty, quiet, tagging;
    int log_every; /* steps between log lines when not on a terminal */
} display;

static void show_progress(const slm_finetune_progress *p, void *user) {
    const display *d = user;
    if (d->quiet) return;
    char eta[32], elapsed[32];
    fmt_time(eta, sizeof eta, p->eta_s);
    fmt_time(elapsed, sizeof elapsed, p->elapsed_s);
    if (p->epoch_end) {
        if (d->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "epoch %d/%d | train loss %.4f | %.1f examples/s | %s", p->epoch, p->n_epochs, (double)p->loss,
                p->examples_per_s, elapsed);
        if (p->has_dev && d->tagging)
            fprintf(stderr, " | dev span F1 %.2f%% tag accuracy %.2f%%%s", 100.0 * p->dev_span_f1, 100.0 * p->dev_accuracy,
                    p->improved ? " (best: saved)" : "");
        else if (p->has_dev)
            fprintf(stderr, " | dev accuracy %.2f%% macro-F1 %.2f%%%s", 100.0 * p->dev_accuracy, 100.0 * p->dev_macro_f1,
                    p->improved ? " (best: saved)" : "");
        else fprintf(stderr, " (saved)");
        fprintf(stderr, "\n");
        fflush(stderr);
        return;
    }
    if (!d->tty && p->step % d->log_every != 0 && p->step != 1) return;
    fprintf(stderr, "%sepoch %d/%d | step %d/%d | loss %.4f | lr %.2e | %.1f examples/s | ETA %s%s", d->tty ? "\r\033[K" : "",
            p->epoch, p->n_epochs, p->step, p->n_steps, (double)p->loss, (double)p->lr, p->examples_per_s, eta,
            d->tty ? "" : "\n");
    fflush(stderr);
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s%s%s\n", what ? what : "", what ? ": " : "", slm_last_error());
    return 1;
}

/* --task tag: tagged JSONL documents in, a tagger GGUF out. */
static int finetune_tagger(const char *model, const char *train_path, const char *dev_path, const char *out,
                           const char *words_field, const char *tags_field, const slm_finetune_params *p, int quiet) {
    slm_tag_dataset train = {0}, dev = {0};
    int status = 1;
    if (slm_tag_dataset_load(train_path, words_field, tags_field, &train) != SLM_OK ||
        (dev_path && slm_tag_dataset_load(dev_path, words_field, tags_field, &dev) != SLM_OK)) {
        fail(NULL);
        goto done;
    }
    display d = {.tty = isatty(STDERR_FILENO), .quiet = quiet, .tagging = 1};
    const size_t n_train = dev_path || train.n < 10 ? train.n : train.n - train.n / 10;
    const int steps_per_epoch = (int)((n_train + (size_t)(p->batch > 0 ? p->batch : 1) - 1) / (size_t)(p->batch > 0 ? p->batch : 1));
    d.log_every = steps_per_epoch / 10 > 0 ? steps_per_epoch / 10 : 1;
    if (!quiet) {
        fprintf(stderr, "slm finetune --task tag: %s | %zu training documents", model, n_train);
        if (dev_path) fprintf(stderr, ", %zu dev", dev.n);
        else if (n_train < train.n) fprintf(stderr, ", %zu held out as dev (seeded)", train.n - n_train);
        fprintf(stderr, " | labels O B I | %d epochs, batch %d, lr %.2g, max-len %d | threads %d\n", p->epochs, p->batch,
                (double)p->lr, p->max_len, slm_get_threads());
    }
    slm_finetune_result res;
    if (slm_finetune_tag(model, &train, dev_path ? &dev : NULL, p, out, show_progress, &d, &res) != SLM_OK) {
        if (d.tty && !quiet) fprintf(stderr, "\n");
        fail(NULL);
        goto done;
    }
    char took[32];
    fmt_time(took, sizeof took, res.seconds);
    if (!quiet) {
        if (res.n_truncated) fprintf(stderr, "note: %zu training documents were split into windows of %d tokens\n", res.n_truncated, p->max_len);
        fprintf(stderr, "wrote %s: epoch %d of %d run", out, res.best_epoch, res.epochs_run);
        if (dev_path || n_train < train.n) fprintf(stderr, ", dev span F1 %.2f%%", 100.0 * res.dev_span_f1);
        fprintf(stderr, " | %s\n", took);
    }
    status = 0;
done:
    slm_tag_dataset_free(&train);
    slm_tag_dataset_free(&dev);
    return status;
}

int cmd_finetune(int argc, char **argv) {
    const char *task = NULL, *model = NULL, *train_path = NULL, *dev_path = NULL, *out = NULL, *warmup = "0.1";
    const char *pooling = NULL, *class_weights = "none", *metric = "accuracy", *format = "auto", *encoding = "utf-8";
    const char *text_field = NULL, *label_field = NULL, *label_sep = NULL;
    slm_finetune_params p = slm_finetune_defaults();
    p.max_len = -1; /* the task's default: 128 (classify), 256 (tag) */
    int threads = 0, quiet = 0;
    uint64_t seed = p.seed;
    const opt_spec specs[] = {
        {NULL, "--task", OPT_STRING, &task, "what to fine-tune for: classify or tag (required)"},
        {"-m", "--model", OPT_STRING, &model, "the base: a BERT-family encoder or a llama/qwen2/gemma3 decoder, GGUF (required)"},
        {NULL, "--train", OPT_STRING, &train_path, "labelled training texts (required)"},
        {NULL, "--dev", OPT_STRING, &dev_path, "labelled dev texts: scored each epoch, the best epoch is kept"},
        {"-o", "--out", OPT_STRING, &out, "the classifier GGUF to write (required)"},
        {NULL, "--epochs", OPT_INT, &p.epochs, "passes over the training set (default 3)"},
        {NULL, "--lr", OPT_FLOAT, &p.lr, "peak learning rate (default 5e-5)"},
        {NULL, "--batch", OPT_INT, &p.batch, "examples per step (default 32)"},
        {NULL, "--max-len", OPT_INT, &p.max_len, "tokens per text with [CLS] and [SEP]; longer texts are cut (default 128; tag: 256, longer documents split into windows)"},
        {NULL, "--warmup", OPT_STRING, &warmup, "linear warmup: a fraction of all steps (< 1) or a number of steps; then linear decay to 0 (default 0.1)"},
        {NULL, "--wd", OPT_FLOAT, &p.weight_decay, "AdamW weight decay of the matrices (default 0.01)"},
        {NULL, "--clip", OPT_FLOAT, &p.grad_clip, "clip the global gradient norm to this, 0: off (default 1)"},
        {NULL, "--pooling", OPT_STRING, &pooling, "cls or mean (default: the base's, mean for sentence-transformers)"},
        {NULL, "--train-embeddings", OPT_FLAG, &p.train_embeddings, "also train the word-embedding matrix (default: frozen)"},
        {NULL, "--dropout", OPT_FLOAT, &p.dropout, "hidden dropout while training (default 0.1)"},
        {NULL, "--class-weights", OPT_STRING, &class_weights, "auto (inverse class frequency) or none (default none)"},
        {NULL, "--patience", OPT_INT, &p.patience, "with --dev: stop after this many epochs without a better score (default 0: never)"},
        {NULL, "--metric", OPT_STRING, &metric, "dev score that picks the best epoch: accuracy or macro-f1 (default accuracy)"},
        {NULL, "--seed", OPT_U64, &seed, "head initialisation and batch order (default 42)"},
        {"-t", "--threads", OPT_INT, &threads, "worker threads (default: physical cores)"},
        {NULL, "--format", OPT_STRING, &format, "data format: auto, tsv, csv, jsonl, kim (default auto, from the extension)"},
        {NULL, "--text-field", OPT_STRING, &text_field, "JSONL key / CSV-TSV header of the text (default text; tag: the word list, document)"},
        {NULL, "--label-field", OPT_STRING, &label_field, "JSONL key / CSV-TSV header of the label (default label; tag: the tag list, doc_bio_tags)"},
        {NULL, "--encoding", OPT_STRING, &encoding, "invalid UTF-8 in the data: utf-8 (an error), latin1, replace"},
        {NULL, "--label-sep", OPT_STRING, &label_sep, "cut labels at this character (TREC's DESC:manner -> DESC with ':')"},
        {NULL, "--lora-rank", OPT_INT, &p.lora_rank, "decoders: rank of the LoRA adapters (default 8)"},
        {NULL, "--lora-alpha", OPT_FLOAT, &p.lora_alpha, "decoders: LoRA alpha, adapters scaled by alpha / rank (default 16)"},
        {NULL, "--lora-targets", OPT_STRING, &p.lora_targets, "decoders: matrices to adapt, from q,k,v,o,gate,up,down or all (default q,v)"},
        {"-q", "--quiet", OPT_FLAG, &quiet, "no progress display"},
    };
    const int n_specs = (int)(sizeof specs / sizeof specs[0]);
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, n_specs, pos, 0, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!task || !model || !train_path || !out) {
        fprintf(stderr, "error: --task classify|tag, -m BASE, --train FILE and -o OUT.gguf are required (see slm finetune --help)\n");
        return 2;
    }
    const int tagging = strcmp(task, "tag") == 0;
    if (strcmp(task, "classify") != 0 && !tagging) {
        fprintf(stderr, "error: unknown task \"%s\": expected classify or tag\n", task);
        return 2;
    }
    if (p.max_len == -1) p.max_len = tagging ? 256 : 128;
    p.seed = seed;
    char *end;
    const double w = strtod(warmup, &end);
    if (*end || !(w >= 0) || (w >= 1 && w != floor(w))) {
        fprintf(stderr, "error: --warmup \"%s\" must be a fraction below 1 or a whole number of steps\n", warmup);
        return 2;
    }
    p.warmup = (float)w;
    if (pooling && strcmp(pooling, "mean") == 0) p.pooling = SLM_POOLING_MEAN;
    else if (pooling && strcmp(pooling, "cls") == 0) p.pooling = SLM_POOLING_CLS;
    else if (pooling) {
        fprintf(stderr, "error: --pooling \"%s\" must be cls or mean\n", pooling);
        return 2;
    }
    if (strcmp(class_weights, "auto") == 0) p.class_weights = 1;
    else if (strcmp(class_weights, "none") != 0) {
        fprintf(stderr, "error: --class-weights \"%s\" must be auto or none\n", class_weights);
        return 2;
    }
    if (strcmp(metric, "macro-f1") == 0 || strcmp(metric, "f1") == 0) p.select_macro_f1 = 1;
    else if (strcmp(metric, "accuracy") != 0) {
        fprintf(stderr, "error: --metric \"%s\" must be accuracy or macro-f1\n", metric);
        return 2;
    }
    if (label_sep && strlen(label_sep) != 1) {
        fprintf(stderr, "error: --label-sep must be one character\n");
        return 2;
    }
    slm_dataset_params dp = {.text_field = text_field, .label_field = label_field, .label_sep = label_sep ? label_sep[0] : 0};
    if (task_parse_format(format, &dp.format) || task_parse_encoding(encoding, &dp.decoding)) return 2;
    if (threads > 0 && slm_set_threads(threads) != SLM_OK) return fail("--threads");

    if (tagging) return finetune_tagger(model, train_path, dev_path, out, text_field, label_field, &p, quiet);
    slm_dataset train = {0}, dev = {0};
    int status = 1;
    if (slm_dataset_load(train_path, &dp, &train) != SLM_OK) {
        fail(NULL);
        goto done;
    }
    if (train.n_labels < 2) {
        fprintf(stderr, "error: %s: %d label(s): a classifier needs at least two\n", train_path, train.n_labels);
        goto done;
    }
    if (dev_path) {
        slm_dataset_params ddp = dp;
        ddp.label_names = (const char *const *)train.label_names;
        ddp.n_label_names = train.n_labels;
        if (slm_dataset_load(dev_path, &ddp, &dev) != SLM_OK) {
            fail(NULL);
            goto done;
        }
    }
    display d = {.tty = isatty(STDERR_FILENO), .quiet = quiet};
    const int steps_per_epoch = (int)((train.n + (size_t)p.batch - 1) / (size_t)(p.batch > 0 ? p.batch : 1));
    d.log_every = steps_per_epoch / 10 > 0 ? steps_per_epoch / 10 : 1;
    if (!quiet) {
        fprintf(stderr, "slm finetune: %s | %zu training texts", model, train.n);
        if (dev_path) fprintf(stderr, ", %zu dev", dev.n);
        fprintf(stderr, " | %d labels:", train.n_labels);
        for (int k = 0; k < train.n_labels && k < 20; k++) fprintf(stderr, " %s", train.label_names[k]);
        fprintf(stderr, "%s | %d epochs, batch %d, lr %.2g, max-len %d | threads %d\n", train.n_labels > 20 ? " ..." : "",
                p.epochs, p.batch, (double)p.lr, p.max_len, slm_get_threads());
    }
    slm_finetune_result res;
    if (slm_finetune_classify(model, &train, dev_path ? &dev : NULL, &p, out, show_progress, &d, &res) != SLM_OK) {
        if (d.tty && !quiet) fprintf(stderr, "\n");
        fail(NULL);
        goto done;
    }
    char took[32];
    fmt_time(took, sizeof took, res.seconds);
    if (!quiet) {
        if (res.n_truncated) fprintf(stderr, "note: %zu training texts were cut to %d tokens\n", res.n_truncated, p.max_len);
        fprintf(stderr, "wrote %s: epoch %d of %d run", out, res.best_epoch, res.epochs_run);
        if (dev_path)
            fprintf(stderr, ", dev accuracy %.2f%% macro-F1 %.2f%%", 100.0 * res.dev_accuracy, 100.0 * res.dev_macro_f1);
        fprintf(stderr, " | %s\n", took);
    }
    status = 0;
done:
    slm_dataset_free(&train);
    slm_dataset_free(&dev);
    return status;
}
