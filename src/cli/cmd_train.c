/* cmd_train.c — `slm train`: train a Llama on token shards from `slm data prepare`, with a config
 * file or flags for every hyper-parameter, a progress line, a CSV log, validation loss, a
 * loss-curve SVG, atomic GGUF checkpoints (with the optimiser state) and exact --resume. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/read_text.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm train --data DIR -o OUT.gguf [options]\n\n"
    "Trains a Llama on the token shards in DIR (made by slm data prepare) and writes OUT.gguf,\n"
    "which slm generate loads (with DIR/tokenizer.gguf's vocabulary). Options may also come from\n"
    "--config FILE: JSON ({\"dim\": 64, \"lr\": 0.001}) or key=value lines, keys named as the long\n"
    "options; flags on the command line win. Also written: OUT.csv (step,loss,val_loss,lr,\n"
    "tokens_per_s), OUT.svg (the loss curve), and with --checkpoint-every N a checkpoint\n"
    "OUT-stepNNNNNN.gguf every N steps (atomically). --resume CKPT continues a run exactly: same\n"
    "batches, same losses bit for bit with the same thread count. See docs/train.md.";

/* Every option of the command; kept in one struct so that it can be saved in checkpoints. */
typedef struct {
    const char *data, *out, *config, *resume, *init, *csv, *svg, *ckpt_dir;
    int dim, layers, heads, kv_heads, ff, seq, batch, accum, warmup, steps, eval_every, eval_batches, threads;
    int ckpt_every, log_every, tied, quiet;
    float lr, min_lr, wd, clip, beta1, beta2;
    uint64_t seed;
} train_opts;

#define N_SPECS 32

static int make_specs(opt_spec *s, train_opts *o) {
    const opt_spec specs[] = {
        {NULL, "--data", OPT_STRING, &o->data, "folder of token shards from slm data prepare (required)"},
        {"-o", "--out", OPT_STRING, &o->out, "the trained model, GGUF (required)"},
        {NULL, "--config", OPT_STRING, &o->config, "options from a JSON or key=value file"},
        {NULL, "--resume", OPT_STRING, &o->resume, "continue from a checkpoint written by slm train"},
        {NULL, "--init", OPT_STRING, &o->init, "start from this Llama model (GGUF or llama2.c) instead of random weights"},
        {NULL, "--dim", OPT_INT, &o->dim, "channels (default 64)"},
        {NULL, "--layers", OPT_INT, &o->layers, "transformer blocks (default 2)"},
        {NULL, "--heads", OPT_INT, &o->heads, "attention heads (default 4)"},
        {NULL, "--kv-heads", OPT_INT, &o->kv_heads, "key/value heads (default: --heads)"},
        {NULL, "--ff", OPT_INT, &o->ff, "feed-forward channels (default: 8/3 dim rounded up to 16)"},
        {NULL, "--tied", OPT_FLAG, &o->tied, "tie the output matrix to the token embedding"},
        {NULL, "--seq", OPT_INT, &o->seq, "tokens per sequence, the context length (default 64; also --ctx)"},
        {NULL, "--ctx", OPT_INT, &o->seq, "same as --seq"},
        {NULL, "--batch", OPT_INT, &o->batch, "sequences per micro-batch (default 8)"},
        {NULL, "--accum", OPT_INT, &o->accum, "micro-batches per optimiser step (default 1)"},
        {NULL, "--lr", OPT_FLOAT, &o->lr, "peak learning rate (default 1e-3)"},
        {NULL, "--min-lr", OPT_FLOAT, &o->min_lr, "learning rate at the end of the cosine (default 1e-4)"},
        {NULL, "--warmup", OPT_INT, &o->warmup, "linear warmup steps (default 0)"},
        {NULL, "--steps", OPT_INT, &o->steps, "optimiser steps (default 100)"},
        {NULL, "--wd", OPT_FLOAT, &o->wd, "weight decay (default 0.1)"},
        {NULL, "--clip", OPT_FLOAT, &o->clip, "clip the gradient norm to this (default 1; 0 = off)"},
        {NULL, "--beta1", OPT_FLOAT, &o->beta1, "AdamW beta1 (default 0.9)"},
        {NULL, "--beta2", OPT_FLOAT, &o->beta2, "AdamW beta2 (default 0.95)"},
        {NULL, "--eval-every", OPT_INT, &o->eval_every, "validation loss every K steps (default 50; 0 = only at the end)"},
        {NULL, "--eval-batches", OPT_INT, &o->eval_batches, "validation batches per evaluation (default 8)"},
        {NULL, "--seed", OPT_U64, &o->seed, "seed of the initialisation and of the batches (default 1)"},
        {"-t", "--threads", OPT_INT, &o->threads, "worker threads (default: physical cores)"},
        {NULL, "--checkpoint-every", OPT_INT, &o->ckpt_every, "write a checkpoint every N steps (default 0 = off)"},
        {NULL, "--checkpoint-dir", OPT_STRING, &o->ckpt_dir, "folder of the checkpoints (default: beside OUT)"},
        {NULL, "--csv", OPT_STRING, &o->csv, "CSV log (default OUT without .gguf + .csv)"},
        {NULL, "--svg", OPT_STRING, &o->svg, "loss-curve image (default OUT without .gguf + .svg)"},
        {NULL, "--log-every", OPT_INT, &o->log_every, "without a terminal: a log line every N steps (default 10)"},
    };
    const int n = (int)(sizeof specs / sizeof specs[0]);
    _Static_assert(sizeof specs / sizeof specs[0] <= N_SPECS, "N_SPECS");
    for (int i = 0; i < n; i++) s[i] = specs[i];
    return n;
}

/* ---------------------------------------------------------------- config files */

/* Pooled strings that the option table points at (config values outlive parsing). */
typedef struct {
    char **items;
    int n, cap;
} strpool;

static char *pool_add(strpool *p, const char *s, size_t len) {
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 32;
        char **it = realloc(p->items, (size_t)cap * sizeof *it);
        if (!it) return NULL;
        p->items = it;
        p->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return NULL;
    memcpy(c, s, len);
    c[len] = '\0';
    return p->items[p->n++] = c;
}

static void pool_free(strpool *p) {
    for (int i = 0; i < p->n; i++) free(p->items[i]);
    free(p->items);
}

/* Adds "--key=value" (or "--key" for a true flag) to the argument list; '_' in keys is '-'. */
static int add_arg(strpool *pool, const char *key, size_t klen, const char *val, size_t vlen, int is_flag) {
    char buf[4096];
    if (klen + vlen + 4 > sizeof buf) return -1;
    size_t n = 0;
    buf[n++] = '-';
    buf[n++] = '-';
    for (size_t i = 0; i < klen; i++) buf[n++] = key[i] == '_' ? '-' : key[i];
    if (!is_flag) {
        buf[n++] = '=';
        memcpy(buf + n, val, vlen);
        n += vlen;
    }
    return pool_add(pool, buf, n) ? 0 : -1;
}

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* Parses a flat JSON object of numbers, strings and booleans into --key=value arguments.
 * Returns 0, or -1 with *err set. */
static int parse_json(strpool *pool, const char *s, const char **err) {
    const char *p = skip_ws(s);
    if (*p++ != '{') return *err = "expected '{'", -1;
    p = skip_ws(p);
    if (*p == '}') return 0;
    for (;;) {
        if (*p != '"') return *err = "expected a \"key\"", -1;
        const char *k = ++p;
        while (*p && *p != '"') p++;
        if (!*p) return *err = "unterminated key", -1;
        const size_t klen = (size_t)(p - k);
        p = skip_ws(p + 1);
        if (*p++ != ':') return *err = "expected ':'", -1;
        p = skip_ws(p);
        int rc;
        if (*p == '"') {
            const char *v = ++p;
            while (*p && *p != '"') {
                if (*p == '\\') return *err = "escapes are not supported in config strings", -1;
                p++;
            }
            if (!*p) return *err = "unterminated string", -1;
            rc = add_arg(pool, k, klen, v, (size_t)(p - v), 0);
            p++;
        } else if (strncmp(p, "true", 4) == 0) {
            rc = add_arg(pool, k, klen, NULL, 0, 1);
            p += 4;
        } else if (strncmp(p, "false", 5) == 0) {
            rc = 0;
            p += 5;
        } else {
            const char *v = p;
            while (*p && (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+')) p++;
            if (p == v) return *err = "expected a number, string or boolean", -1;
            rc = add_arg(pool, k, klen, v, (size_t)(p - v), 0);
        }
        if (rc) return *err = "out of memory", -1;
        p = skip_ws(p);
        if (*p == ',') {
            p = skip_ws(p + 1);
            continue;
        }
        if (*p != '}') return *err = "expected ',' or '}'", -1;
        return *skip_ws(p + 1) ? (*err = "text after the object", -1) : 0;
    }
}

/* Parses key=value lines (# comments, blank lines) into --key=value arguments. "true" and
 * "false" values set or leave flags. Keys in skip (may be NULL) are ignored. */
static int parse_kv(strpool *pool, const char *s, const char *skip, const char **err, int *bad_line) {
    int line = 0;
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        line++;
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (a < b && *a != '#') {
            const char *eq = memchr(a, '=', (size_t)(b - a));
            if (!eq) return *bad_line = line, *err = "expected key=value", -1;
            const char *ke = eq;
            while (ke > a && isspace((unsigned char)ke[-1])) ke--;
            const char *v = eq + 1;
            while (v < b && isspace((unsigned char)*v)) v++;
            const size_t klen = (size_t)(ke - a), vlen = (size_t)(b - v);
            if (skip && klen >= strlen(skip) && strncmp(skip, a, strlen(skip)) == 0) { /* a prefix */
            } else if (vlen == 4 && strncmp(v, "true", 4) == 0) {
                if (add_arg(pool, a, klen, NULL, 0, 1)) return *err = "out of memory", -1;
            } else if (!(vlen == 5 && strncmp(v, "false", 5) == 0)) {
                if (add_arg(pool, a, klen, v, vlen, 0)) return *err = "out of memory", -1;
            }
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}

/* Applies config text (JSON or key=value) to the options. Returns 0, or 2 after an error. */
static strpool g_pool; /* the strings config options point at; freed when the command ends */

static int apply_config(const char *text, const char *what, const char *skip, opt_spec *specs, int n_specs) {
    strpool pool = g_pool;
    const int first = pool.n;
    const char *err = NULL;
    int line = 0, rc;
    if (*skip_ws(text) == '{') rc = parse_json(&pool, text, &err);
    else rc = parse_kv(&pool, text, skip, &err, &line);
    if (rc) {
        if (line) fprintf(stderr, "error: %s:%d: %s\n", what, line, err);
        else fprintf(stderr, "error: %s: %s\n", what, err);
        g_pool = pool;
        return 2;
    }
    g_pool = pool;
    const int n = pool.n - first;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    if (!argv) return 2;
    argv[0] = (char *)what;
    for (int i = 0; i < n; i++) argv[i + 1] = pool.items[first + i];
    const char *pos[1];
    int n_pos;
    rc = args_parse(n + 1, argv, specs, n_specs, pos, 0, &n_pos, USAGE);
    free(argv);
    if (rc) fprintf(stderr, "error: in %s (see above)\n", what);
    return rc ? 2 : 0;
}

/* Finds "--name VALUE" or "--name=VALUE" in argv; NULL when absent. */
static const char *find_arg(int argc, char **argv, const char *name) {
    const size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], name) == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
    }
    return NULL;
}

/* The options as key=value lines (every option but config and resume), plus the loader
 * position: the state a checkpoint keeps. Caller frees. */
static char *options_text(const opt_spec *specs, int n_specs, uint64_t loader_pos, int ranks) {
    size_t cap = 8192, n = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    for (int i = 0; i < n_specs; i++) {
        const opt_spec *o = &specs[i];
        const char *k = o->long_name + 2;
        if (!strcmp(k, "config") || !strcmp(k, "resume") || !strcmp(k, "ctx")) continue;
        char v[2048];
        switch (o->kind) {
        case OPT_STRING:
            if (!*(const char **)o->target) continue;
            snprintf(v, sizeof v, "%s", *(const char **)o->target);
            if (strchr(v, '\n')) continue;
            break;
        case OPT_FLAG: snprintf(v, sizeof v, "%s", *(int *)o->target ? "true" : "false"); break;
        case OPT_INT: snprintf(v, sizeof v, "%d", *(int *)o->target); break;
        case OPT_FLOAT: snprintf(v, sizeof v, "%.9g", (double)*(float *)o->target); break;
        case OPT_U64: snprintf(v, sizeof v, "%llu", (unsigned long long)*(uint64_t *)o->target); break;
        case OPT_LIST: continue; /* train has no repeatable options */
        }
        n += (size_t)snprintf(s + n, cap - n, "%s=%s\n", k, v);
        if (n >= cap - 2100) break;
    }
    snprintf(s + n, cap - n, "loader_position=%llu\nloader_ranks=%d\n", (unsigned long long)loader_pos, ranks);
    return s;
}

/* ---------------------------------------------------------------- logs */

/* Keeps the CSV's header and its rows up to step `upto`, dropping what a killed run wrote
 * after its last checkpoint. Returns 0, or -1 after printing an error. */
static int csv_truncate(const char *path, int upto) {
    char *text = read_text_file(path, 1u << 30, NULL);
    if (!text) {
        FILE *f = fopen(path, "w");
        if (!f) return fprintf(stderr, "error: %s: %s\n", path, strerror(errno)), -1;
        fprintf(f, "step,loss,val_loss,lr,tokens_per_s\n");
        fclose(f);
        return 0;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        free(text);
        return fprintf(stderr, "error: %s: %s\n", path, strerror(errno)), -1;
    }
    int first = 1;
    for (char *p = text; *p;) {
        char *e = strchr(p, '\n');
        if (!e) break; /* an unfinished last line */
        *e = '\0';
        if (first || atoi(p) <= upto) fprintf(f, "%s\n", p);
        first = 0;
        p = e + 1;
    }
    free(text);
    return fclose(f) == 0 ? 0 : -1;
}

/* Draws the training and validation losses of the CSV as an SVG line chart. */
static int write_svg(const char *csv, const char *path) {
    char *text = read_text_file(csv, 1u << 30, NULL);
    if (!text) return -1;
    size_t cap = 1024, n = 0;
    double *st = malloc(cap * sizeof *st), *lo = malloc(cap * sizeof *lo), *va = malloc(cap * sizeof *va);
    char *p = strchr(text, '\n');
    while (p && st && lo && va) {
        p++;
        char *e = strchr(p, '\n');
        if (!e) break;
        *e = '\0';
        char *q = p;
        const double s = strtod(q, &q);
        const double l = *q == ',' ? strtod(q + 1, &q) : NAN;
        double v = NAN;
        if (*q == ',' && q[1] != ',') v = strtod(q + 1, NULL);
        if (n == cap) {
            cap *= 2;
            double *a = realloc(st, cap * sizeof *a), *b = realloc(lo, cap * sizeof *b), *c = realloc(va, cap * sizeof *c);
            if (a) st = a;
            if (b) lo = b;
            if (c) va = c;
            if (!a || !b || !c) break;
        }
        st[n] = s;
        lo[n] = l;
        va[n] = v;
        n++;
        p = e;
    }
    free(text);
    FILE *f = n && st && lo && va ? fopen(path, "w") : NULL;
    if (!f) {
        free(st), free(lo), free(va);
        return -1;
    }
    double x0 = st[0], x1 = st[n - 1], y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(lo[i])) y0 = fmin(y0, lo[i]), y1 = fmax(y1, lo[i]);
        if (isfinite(va[i])) y0 = fmin(y0, va[i]), y1 = fmax(y1, va[i]);
    }
    if (!(y1 > y0)) y0 -= 1, y1 += 1;
    if (!(x1 > x0)) x1 = x0 + 1;
    const double W = 720, H = 420, L = 60, R = 20, T = 30, B = 50;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (W - L - R))
#define PY(y) (H - B - ((y) - y0) / (y1 - y0) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">slm train: loss by step</text>\n", W / 2);
    for (int i = 0; i <= 5; i++) {
        const double y = y0 + (y1 - y0) * i / 5, x = x0 + (x1 - x0) * i / 5;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, PY(y), W - R, PY(y));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 4, PY(y) + 4, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", PX(x), H - B + 16, x);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", W / 2, H - 12);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (size_t i = 0; i < n; i++)
        if (isfinite(lo[i])) fprintf(f, "%.1f,%.1f ", PX(st[i]), PY(lo[i]));
    fprintf(f, "\"/>\n<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
    for (size_t i = 0; i < n; i++)
        if (isfinite(va[i])) fprintf(f, "%.1f,%.1f ", PX(st[i]), PY(va[i]));
    fprintf(f, "\"/>\n");
    for (size_t i = 0; i < n; i++)
        if (isfinite(va[i])) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", PX(st[i]), PY(va[i]));
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#1f77b4\">training loss</text>\n", W - R - 200, T + 14.0);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d62728\">validation loss</text>\n", W - R - 100, T + 14.0);
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    free(st), free(lo), free(va);
    return fclose(f) == 0 ? 0 : -1;
}

static void fmt_time(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

/* ---------------------------------------------------------------- the command */

/* A file name beside OUT: OUT without ".gguf" followed by suffix. Caller frees. */
static char *derived(const char *out, const char *suffix) {
    size_t n = strlen(out);
    if (n > 5 && strcmp(out + n - 5, ".gguf") == 0) n -= 5;
    char *s = malloc(n + strlen(suffix) + 1);
    if (s) {
        memcpy(s, out, n);
        strcpy(s + n, suffix);
    }
    return s;
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s%s%s\n", what ? what : "", what ? ": " : "", slm_last_error());
    return 1;
}

/* Mean validation loss over eval_batches batches, always the same ones (the loader rewound). */
static slm_status evaluate(slm_trainer *t, slm_loader *val, int n_batches, int B, int32_t *tok, int32_t *tgt,
                           float *loss) {
    double sum = 0.0;
    slm_loader_seek(val, 0);
    for (int i = 0; i < n_batches; i++) {
        slm_loader_next(val, tok, tgt);
        float l;
        slm_status st = slm_trainer_eval(t, tok, tgt, B, &l);
        if (st != SLM_OK) return st;
        sum += l;
    }
    *loss = (float)(sum / n_batches);
    return SLM_OK;
}

static int run_train(int argc, char **argv, train_opts *op, opt_spec *specs, int n_specs, const char *resume,
                     uint64_t loader_pos);

static int train_main(int argc, char **argv);

/* `slm train`, also as one process of `mpirun -np K slm train ...`: each of the K processes takes
 * its share of every batch, and rank 0 alone prints, logs and writes files. */
int cmd_train(int argc, char **argv) {
    if (slm_dist_init(NULL, NULL) != SLM_OK) return fail("MPI");
    const int rc = train_main(argc, argv);
    if (rc != 0) slm_dist_abort(rc);
    slm_dist_finalize();
    return rc;
}

static int train_main(int argc, char **argv) {
    train_opts o = {.dim = 64, .layers = 2, .heads = 4, .seq = 64, .batch = 8, .accum = 1, .steps = 100,
                    .eval_every = 50, .eval_batches = 8, .log_every = 10, .lr = 1e-3f, .min_lr = 1e-4f, .wd = 0.1f,
                    .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f, .seed = 1};
    opt_spec specs[N_SPECS];
    const int n_specs = make_specs(specs, &o);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            args_print_help(USAGE, specs, n_specs);
            return 0;
        }
    /* resumed state, then the config file, then the command line */
    const char *resume = find_arg(argc, argv, "--resume");
    uint64_t loader_pos = 0;
    int saved_ranks = 1;
    if (resume) {
        char *state = NULL;
        if (slm_checkpoint_user_state(resume, &state) != SLM_OK) return fail(NULL);
        if (!state) {
            fprintf(stderr, "error: %s: the checkpoint holds no slm train state\n", resume);
            return 1;
        }
        const char *lp = strstr(state, "loader_position=");
        if (lp) loader_pos = strtoull(lp + 16, NULL, 10);
        const char *lr = strstr(state, "loader_ranks=");
        if (lr) saved_ranks = atoi(lr + 13);
        int rc = apply_config(state, resume, "loader_", specs, n_specs);
        slm_free(state);
        if (rc) {
            pool_free(&g_pool);
            return rc;
        }
    }
    const char *config = find_arg(argc, argv, "--config");
    if (config) {
        char *text = read_text_file(config, 16u << 20, NULL);
        if (!text) {
            fprintf(stderr, "error: %s: cannot read: %s\n", config, strerror(errno));
            return 2;
        }
        int rc = apply_config(text, config, NULL, specs, n_specs);
        free(text);
        if (rc) {
            pool_free(&g_pool);
            return rc;
        }
    }
    if (resume && saved_ranks != slm_dist_size()) {
        fprintf(stderr, "error: %s was written by a run of %d processes; resume it with mpirun -np %d\n", resume,
                saved_ranks, saved_ranks);
        pool_free(&g_pool);
        return 2;
    }
    int rc = run_train(argc, argv, &o, specs, n_specs, resume, loader_pos);
    pool_free(&g_pool);
    g_pool = (strpool){0};
    return rc;
}

/* The command after the options from a resumed checkpoint and a config file are applied. */
static int run_train(int argc, char **argv, train_opts *op, opt_spec *specs, int n_specs, const char *resume,
                     uint64_t loader_pos) {
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, n_specs, pos, 0, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    train_opts o = *op; /* the option table writes into *op; the settings are read from here on */
    if (!o.data || !o.out) {
        fprintf(stderr, "error: --data DIR and -o OUT.gguf are required (see slm train --help)\n");
        return 2;
    }
    if (o.ff == 0) o.ff = (8 * o.dim / 3 + 15) / 16 * 16;
    if (o.dim < 1 || o.layers < 1 || o.heads < 1 || o.kv_heads < 0 || o.ff < 1 || o.seq < 1 || o.batch < 1 ||
        o.accum < 1 || o.steps < 1 || o.warmup < 0 || o.eval_every < 0 || o.eval_batches < 1 || o.threads < 0 ||
        o.ckpt_every < 0 || o.log_every < 1) {
        fprintf(stderr, "error: sizes, steps and counts must be positive (see slm train --help)\n");
        return 2;
    }
    if (o.dim % o.heads || (o.kv_heads && o.heads % o.kv_heads) || (o.dim / o.heads) % 2) {
        fprintf(stderr, "error: --heads %d must divide --dim %d into even head sizes, and --kv-heads must divide --heads\n",
                o.heads, o.dim);
        return 2;
    }
    if (slm_set_threads(o.threads) != SLM_OK) return fail(NULL);
    /* data parallel: every process draws the same batches of ranks x batch windows and trains on
     * its own batch windows of each; rank 0 alone prints, logs, validates and writes files */
    const int rank = slm_dist_rank(), ranks = slm_dist_size(), lead = rank == 0;
    if (!lead) o.quiet = 1;

    /* data and tokenizer */
    char tok_path[4096];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.gguf", o.data);
    slm_tokenizer *tok = NULL;
    slm_loader *train = NULL, *val = NULL;
    slm_trainer *t = NULL;
    int32_t *tokens = NULL, *targets = NULL, *all_tokens = NULL, *all_targets = NULL;
    char *csv = NULL, *svg = NULL, *stem = NULL;
    FILE *log = NULL;
    int status = 1;
    if (slm_tokenizer_load(tok_path, &tok) != SLM_OK) {
        fail(NULL);
        goto done;
    }
    if (slm_loader_open(o.data, "train", o.batch * ranks, o.seq, o.seed, &train) != SLM_OK) {
        fail(NULL);
        goto done;
    }
    if (!lead) {
    } else if (slm_loader_open(o.data, "val", o.batch * ranks, o.seq, o.seed ^ 0x76616cull, &val) != SLM_OK) {
        fprintf(stderr, "warning: no validation loss: %s\n", slm_last_error());
        val = NULL;
    }
    if (slm_loader_vocab_size(train) != slm_vocab_size(tok)) {
        fprintf(stderr, "error: %s: the shards use %d tokens, tokenizer.gguf has %d\n", o.data,
                slm_loader_vocab_size(train), slm_vocab_size(tok));
        goto done;
    }

    /* the trainer */
    slm_train_params p = slm_train_defaults();
    p.batch = o.batch;
    p.seq_len = o.seq;
    p.grad_accum = o.accum;
    p.lr = o.lr;
    p.min_lr = o.min_lr;
    p.warmup_steps = o.warmup;
    p.total_steps = o.steps;
    p.weight_decay = o.wd;
    p.grad_clip = o.clip;
    p.beta1 = o.beta1;
    p.beta2 = o.beta2;
    slm_status st;
    if (resume) st = slm_trainer_resume(resume, &p, &t, NULL);
    else if (o.init) st = slm_trainer_load(o.init, &p, &t);
    else {
        slm_model_config mc = {.n_vocab = slm_vocab_size(tok), .n_embd = o.dim, .n_ff = o.ff, .n_layer = o.layers,
                               .n_head = o.heads, .n_head_kv = o.kv_heads, .n_ctx = o.seq, .tied_output = o.tied,
                               .seed = o.seed};
        st = slm_trainer_new(&mc, &p, &t);
    }
    if (st != SLM_OK) {
        fail(resume ? resume : o.init);
        goto done;
    }
    const int start = slm_trainer_steps(t);
    if (resume && loader_pos != (uint64_t)start * (uint64_t)o.accum) {
        fprintf(stderr, "error: %s: loader position %llu does not match step %d\n", resume,
                (unsigned long long)loader_pos, start);
        goto done;
    }
    slm_loader_seek(train, (uint64_t)start * (uint64_t)o.accum);
    const size_t per_micro = (size_t)o.batch * (size_t)o.seq;
    tokens = malloc(per_micro * (size_t)o.accum * sizeof *tokens);
    targets = malloc(per_micro * (size_t)o.accum * sizeof *targets);
    all_tokens = malloc(per_micro * (size_t)ranks * sizeof *all_tokens);
    all_targets = malloc(per_micro * (size_t)ranks * sizeof *all_targets);
    csv = o.csv ? strdup(o.csv) : derived(o.out, ".csv");
    svg = o.svg ? strdup(o.svg) : derived(o.out, ".svg");
    if (o.ckpt_dir) {
        const char *base = strrchr(o.out, '/');
        base = base ? base + 1 : o.out;
        size_t n = strlen(o.ckpt_dir) + strlen(base) + 2;
        if ((stem = malloc(n))) snprintf(stem, n, "%s/%s", o.ckpt_dir, base);
        char *d = stem ? derived(stem, "") : NULL;
        free(stem);
        stem = d;
    } else stem = derived(o.out, "");
    if (!tokens || !targets || !all_tokens || !all_targets || !csv || !svg || !stem) {
        fprintf(stderr, "error: out of memory\n");
        goto done;
    }
    if (!lead) {
    } else if (resume) {
        if (csv_truncate(csv, start) != 0) goto done;
        log = fopen(csv, "a");
    } else if ((log = fopen(csv, "w"))) fprintf(log, "step,loss,val_loss,lr,tokens_per_s\n");
    if (lead && !log) {
        fprintf(stderr, "error: %s: cannot write: %s\n", csv, strerror(errno));
        goto done;
    }
    const int tty = isatty(STDERR_FILENO);
    char par[64] = "";
    if (ranks > 1) snprintf(par, sizeof par, " x %d processes", ranks);
    const slm_model_config shape = slm_trainer_config(t);
    if (lead)
        fprintf(stderr, "slm train: %lld parameters, %d layers, dim %d, vocab %d | batch %d x %d x %d tokens%s | steps %d%s | threads %d\n",
                (long long)slm_trainer_n_params(t), shape.n_layer, shape.n_embd, shape.n_vocab, o.accum, o.batch, o.seq, par,
                o.steps, resume ? " (resumed)" : "", slm_get_threads());
    if (resume && lead) fprintf(stderr, "resuming at step %d from %s\n", start, resume);

    const double t_begin = slm_time_seconds();
    double t_last = t_begin;
    float last_loss = NAN, last_val = NAN;
    for (int step = start; step < o.steps; step++) {
        for (int k = 0; k < o.accum; k++) {
            slm_loader_next(train, all_tokens, all_targets);
            memcpy(tokens + k * per_micro, all_tokens + (size_t)rank * per_micro, per_micro * sizeof *tokens);
            memcpy(targets + k * per_micro, all_targets + (size_t)rank * per_micro, per_micro * sizeof *targets);
        }
        slm_train_stats s;
        if (slm_trainer_step(t, tokens, targets, &s) != SLM_OK) {
            fail("training step");
            goto done;
        }
        const double now = slm_time_seconds();
        const double tps = (double)per_micro * o.accum * ranks / (now - t_last);
        t_last = now;
        last_loss = s.loss;
        float vloss = NAN;
        const int n = step + 1;
        if (val && ((o.eval_every && n % o.eval_every == 0) || n == o.steps)) {
            if (evaluate(t, val, o.eval_batches, o.batch * ranks, all_tokens, all_targets, &vloss) != SLM_OK) {
                fail("validation");
                goto done;
            }
            last_val = vloss;
        }
        char vbuf[32] = "";
        if (!isnan(vloss)) snprintf(vbuf, sizeof vbuf, "%.9g", (double)vloss);
        if (log) {
            fprintf(log, "%d,%.9g,%s,%.9g,%.1f\n", n, (double)s.loss, vbuf, (double)s.lr, tps);
            fflush(log);
        }
        char eta[32], vshort[32] = "";
        if (!isnan(vloss)) snprintf(vshort, sizeof vshort, "%.4f", (double)vloss);
        fmt_time(eta, sizeof eta, (now - t_begin) / (n - start) * (o.steps - n));
        if (!o.quiet && (tty || n % o.log_every == 0 || n == start + 1 || n == o.steps || !isnan(vloss))) {
            fprintf(stderr, "%sstep %d/%d | loss %.4f%s%s | lr %.2e | %.0f tokens/s | ETA %s%s", tty ? "\r\033[K" : "", n,
                    o.steps, (double)s.loss, isnan(vloss) ? "" : " | val ", vshort, (double)s.lr, tps, eta,
                    tty ? "" : "\n");
            fflush(stderr);
        }
        if (lead && o.ckpt_every && n % o.ckpt_every == 0 && n < o.steps) {
            char *state = options_text(specs, n_specs, slm_loader_position(train), ranks);
            char path[4200];
            snprintf(path, sizeof path, "%s-step%06d.gguf", stem, n);
            st = state ? slm_trainer_save_checkpoint(t, path, tok, state) : SLM_ERR_NOMEM;
            free(state);
            if (st != SLM_OK) {
                fail("checkpoint");
                goto done;
            }
            if (tty) fprintf(stderr, "\n");
            fprintf(stderr, "checkpoint: %s\n", path);
        }
    }
    if (tty && lead) fprintf(stderr, "\n");
    if (!lead) {
        status = 0;
        goto done;
    }
    fclose(log);
    log = NULL;
    {
        char *state = options_text(specs, n_specs, slm_loader_position(train), ranks);
        st = state ? slm_trainer_save_checkpoint(t, o.out, tok, state) : SLM_ERR_NOMEM;
        free(state);
        if (st != SLM_OK) {
            fail(o.out);
            goto done;
        }
    }
    if (write_svg(csv, svg) != 0) fprintf(stderr, "warning: %s: cannot write the loss curve\n", svg);
    fprintf(stderr, "done: %d steps in %.1f s | loss %.4f | val loss %.4f | wrote %s, %s, %s\n", o.steps - start,
            slm_time_seconds() - t_begin, (double)last_loss, (double)last_val, o.out, csv, svg);
    status = 0;
done:
    if (log) fclose(log);
    free(tokens);
    free(targets);
    free(all_tokens);
    free(all_targets);
    free(csv);
    free(svg);
    free(stem);
    slm_trainer_free(t);
    slm_loader_free(train);
    slm_loader_free(val);
    slm_tokenizer_free(tok);
    return status;
}
