/* cmd_embed.c — `slm embed`: sentence embeddings of a text or of each line of a file, from a
 * BERT-family encoder (GGUF or Hugging Face folder), as JSON lines or raw float32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/read_text.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm embed -m MODEL [options] TEXT\n"
    "       slm embed -m MODEL [options] --file FILE   (one text per line; '-' reads stdin)\n\n"
    "Prints the sentence embedding of each text: mean-pooled (or [CLS]-pooled when the model says\n"
    "so) last hidden states, L2-normalised. MODEL is a BERT-family GGUF (slm convert or llama.cpp)\n"
    "or a Hugging Face folder (config.json, model.safetensors, tokenizer.json or vocab.txt).\n"
    "Output: one JSON object per text, {\"index\": i, \"embedding\": [...]}, or with --format f32\n"
    "the raw little-endian float32 vectors one after another (n x dim). Timing goes to stderr.";

/* Splits text into lines (a final line without '\n' counts; '\r' before '\n' is dropped);
 * the pointers point into text, which is modified. Returns the count, or -1 out of memory. */
static long split_lines(char *text, size_t len, char ***lines) {
    size_t n = 0, cap = 1024;
    char **out = malloc(cap * sizeof *out);
    if (!out) return -1;
    for (size_t i = 0; i < len;) {
        char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (end > i && text[end - 1] == '\r') text[end - 1] = '\0';
        text[end] = '\0';
        if (n == cap) {
            char **p = realloc(out, (cap *= 2) * sizeof *out);
            if (!p) {
                free(out);
                return -1;
            }
            out = p;
        }
        out[n++] = text + i;
        i = end + 1;
    }
    *lines = out;
    return (long)n;
}

int cmd_embed(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL, *format = "jsonl";
    int threads = 0, batch = 0, max_tokens = 0, no_normalize = 0, quiet = 0;
    const opt_spec specs[] = {
        {"-m", "--model", OPT_STRING, &model_path, "BERT-family GGUF or Hugging Face folder"},
        {"-f", "--file", OPT_STRING, &file, "embed each line of this file ('-': standard input)"},
        {NULL, "--format", OPT_STRING, &format, "jsonl (default) or f32 (raw little-endian float32)"},
        {"-b", "--batch", OPT_INT, &batch, "texts per forward batch (default 32)"},
        {"-t", "--threads", OPT_INT, &threads, "worker threads (default: physical cores)"},
        {NULL, "--max-tokens", OPT_INT, &max_tokens, "truncate texts to this many tokens (default: the model's)"},
        {NULL, "--no-normalize", OPT_FLAG, &no_normalize, "do not L2-normalise the embeddings"},
        {"-q", "--quiet", OPT_FLAG, &quiet, "no timing line on stderr"},
    };
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 1, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!model_path || (n_pos == 1) == (file != NULL)) {
        fprintf(stderr, "error: give -m MODEL and either TEXT or --file FILE (see slm embed --help)\n");
        return 2;
    }
    int binary = strcmp(format, "f32") == 0;
    if (!binary && strcmp(format, "jsonl") != 0) {
        fprintf(stderr, "error: --format must be jsonl or f32, not '%s'\n", format);
        return 2;
    }
    if (threads < 0 || batch < 0 || max_tokens < 0) {
        fprintf(stderr, "error: --threads, --batch and --max-tokens must not be negative\n");
        return 2;
    }
    char *text = NULL, **lines = NULL;
    long n = 1;
    if (file) {
        size_t len;
        text = strcmp(file, "-") == 0 ? read_stream(stdin, (size_t)1 << 31, &len) : read_text_file(file, (size_t)1 << 31, &len);
        if (!text) {
            fprintf(stderr, "error: cannot read %s\n", file);
            return 1;
        }
        if ((n = split_lines(text, len, &lines)) < 0) {
            fprintf(stderr, "error: out of memory\n");
            free(text);
            return 1;
        }
    }
    slm_embedder_params params = {.n_threads = threads, .batch = batch, .max_tokens = max_tokens, .no_normalize = no_normalize};
    slm_embedder *emb = NULL;
    float *vecs = NULL;
    int status = 0;
    double t0 = slm_time_seconds();
    if (slm_embedder_open(model_path, &params, &emb) != SLM_OK) status = 1;
    double t1 = slm_time_seconds();
    const int dim = emb ? slm_embedder_dim(emb) : 0;
    if (!status && !(vecs = malloc((size_t)(n ? n : 1) * (size_t)dim * sizeof(float)))) {
        fprintf(stderr, "error: out of memory for %ld embeddings\n", n);
        status = 1;
    } else if (!status && slm_embed(emb, file ? (const char *const *)lines : pos, (size_t)n, vecs) != SLM_OK) status = 1;
    double t2 = slm_time_seconds();
    if (status && !vecs) fprintf(stderr, "error: %s\n", slm_last_error());
    else if (status) fprintf(stderr, "error: %s\n", slm_last_error());
    else if (binary) {
        if (fwrite(vecs, sizeof(float), (size_t)n * dim, stdout) != (size_t)n * dim) {
            fprintf(stderr, "error: cannot write the embeddings\n");
            status = 1;
        }
    } else {
        for (long i = 0; i < n; i++) {
            printf("{\"index\":%ld,\"embedding\":[", i);
            for (int c = 0; c < dim; c++) printf("%s%.9g", c ? "," : "", vecs[(size_t)i * dim + c]);
            printf("]}\n");
        }
    }
    if (!status && fflush(stdout) != 0) {
        fprintf(stderr, "error: cannot write the embeddings\n");
        status = 1;
    }
    if (!status && !quiet)
        fprintf(stderr, "embedded %ld texts in %.3f s (%.1f texts/s; load %.3f s) | dim %d | threads %d | peak memory %.1f MiB\n", n,
                t2 - t1, (t2 - t1) > 0 ? n / (t2 - t1) : 0.0, t1 - t0, dim, slm_get_threads(),
                (double)slm_peak_rss_bytes() / (1 << 20));
    free(vecs);
    slm_embedder_free(emb);
    free(lines);
    free(text);
    return status;
}
