/* data.c — training data: `slm data prepare` tokenises text files, folders and JSONL records into
 * token shards with a deterministic train/validation split, and slm_loader samples (B, T)
 * windows from them deterministically from a seed (the shard layout is described in slm.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/mapped_file.h"
#include "base/rng.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

#define SHARD_MAGIC "SLMTOKS"
#define SHARD_VERSION 1u
#define SHARD_HEADER 32u

/* ---------------------------------------------------------------- input files */

typedef struct {
    char **paths;
    size_t n, cap;
} path_list;

static slm_status list_push(path_list *l, const char *path) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->paths, cap * sizeof *p);
        if (!p) return slm_error(SLM_ERR_NOMEM, "data: out of memory listing files");
        l->paths = p;
        l->cap = cap;
    }
    if (!(l->paths[l->n] = slm_strndup(path, strlen(path)))) return SLM_ERR_NOMEM;
    l->n++;
    return SLM_OK;
}

static void list_free(path_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds path (a file) or the text files under it (a folder, recursively, sorted) to l. */
static slm_status collect(path_list *l, const char *path, int depth) {
    struct stat sb;
    if (stat(path, &sb) != 0) return slm_error(SLM_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return list_push(l, path);
    if (depth > 32) return slm_error(SLM_ERR_INVALID_ARG, "%s: folders nested too deeply", path);
    DIR *d = opendir(path);
    if (!d) return slm_error(SLM_ERR_IO, "%s: cannot open folder: %s", path, strerror(errno));
    path_list here = {0};
    slm_status st = SLM_OK;
    struct dirent *e;
    while (st == SLM_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *full = malloc(n);
        if (!full) {
            st = slm_error(SLM_ERR_NOMEM, "data: out of memory");
            break;
        }
        snprintf(full, n, "%s/%s", path, e->d_name);
        struct stat cb;
        if (stat(full, &cb) == 0 && (S_ISDIR(cb.st_mode) || ends_with(full, ".txt") || ends_with(full, ".md") ||
                                     ends_with(full, ".jsonl")))
            st = list_push(&here, full);
        free(full);
    }
    closedir(d);
    if (st == SLM_OK) qsort(here.paths, here.n, sizeof *here.paths, cmp_str);
    for (size_t i = 0; i < here.n && st == SLM_OK; i++) st = collect(l, here.paths[i], depth + 1);
    list_free(&here);
    return st;
}

/* Reads a whole file into a new NUL-terminated buffer (caller frees). */
static slm_status read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return slm_error(SLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return slm_error(SLM_ERR_NOMEM, "%s: out of memory reading the file", path);
    if (err) {
        free(buf);
        return slm_error(SLM_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SLM_OK;
}

/* ---------------------------------------------------------------- a little JSON */

static const char *json_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static int hex4(const char *p, const char *end, unsigned *out) {
    if (end - p < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses the JSON string at p (at its opening quote). With out, decodes it into out (room for
 * end - p bytes) and sets *out_len. Returns the position after the closing quote, or NULL. */
static const char *json_string(const char *p, const char *end, char *out, size_t *out_len) {
    if (p >= end || *p != '"') return NULL;
    p++;
    size_t n = 0;
    while (p < end && *p != '"') {
        char c = *p++;
        if ((unsigned char)c < 0x20) return NULL;
        if (c != '\\') {
            if (out) out[n] = c;
            n++;
            continue;
        }
        if (p >= end) return NULL;
        char e = *p++;
        char tmp[4];
        size_t k = 1;
        switch (e) {
        case '"': tmp[0] = '"'; break;
        case '\\': tmp[0] = '\\'; break;
        case '/': tmp[0] = '/'; break;
        case 'b': tmp[0] = '\b'; break;
        case 'f': tmp[0] = '\f'; break;
        case 'n': tmp[0] = '\n'; break;
        case 'r': tmp[0] = '\r'; break;
        case 't': tmp[0] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(p, end, &cp)) return NULL;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, end, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else cp = 0xFFFD;
            } else if (cp >= 0xDC00 && cp < 0xE000) cp = 0xFFFD;
            k = put_utf8(tmp, cp);
            break;
        }
        default: return NULL;
        }
        if (out) memcpy(out + n, tmp, k);
        n += k;
    }
    if (p >= end) return NULL;
    if (out_len) *out_len = n;
    return p + 1;
}

/* Skips any JSON value at p; returns the position after it, or NULL. */
static const char *json_skip(const char *p, const char *end, int depth) {
    p = json_ws(p, end);
    if (p >= end || depth > 64) return NULL;
    if (*p == '"') return json_string(p, end, NULL, NULL);
    if (*p == '{' || *p == '[') {
        const char close = *p == '{' ? '}' : ']';
        const int obj = *p == '{';
        p = json_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = json_string(json_ws(p, end), end, NULL, NULL);
                if (!p || (p = json_ws(p, end)) >= end || *p != ':') return NULL;
                p++;
            }
            if (!(p = json_skip(p, end, depth + 1))) return NULL;
            p = json_ws(p, end);
            if (p < end && *p == ',') { p++; continue; }
            if (p < end && *p == close) return p + 1;
            return NULL;
        }
    }
    const char *s = p;
    while (p < end && (strchr("+-.eE", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'))) p++;
    return p > s ? p : NULL;
}

/* Finds the string field `field` of the JSON object in [p, end) and decodes it into a new
 * buffer (caller frees). Returns 1 found, 0 absent or not a string, -1 malformed. */
static int json_field(const char *p, const char *end, const char *field, char **out, size_t *len) {
    p = json_ws(p, end);
    if (p >= end || *p != '{') return -1;
    p = json_ws(p + 1, end);
    if (p < end && *p == '}') return 0;
    const size_t flen = strlen(field);
    for (;;) {
        const char *k = json_ws(p, end);
        size_t klen;
        char *key = malloc((size_t)(end - k) + 1);
        if (!key) return -1;
        const char *after = json_string(k, end, key, &klen);
        int match = after && klen == flen && memcmp(key, field, flen) == 0;
        free(key);
        if (!after || (p = json_ws(after, end)) >= end || *p != ':') return -1;
        p = json_ws(p + 1, end);
        if (match) {
            if (p >= end || *p != '"') return 0;
            char *s = malloc((size_t)(end - p) + 1);
            if (!s) return -1;
            if (!json_string(p, end, s, len)) {
                free(s);
                return -1;
            }
            s[*len] = '\0';
            *out = s;
            return 1;
        }
        if (!(p = json_skip(p, end, 0))) return -1;
        p = json_ws(p, end);
        if (p < end && *p == ',') { p++; continue; }
        return p < end && *p == '}' ? 0 : -1;
    }
}

/* ---------------------------------------------------------------- shard writing */

typedef struct {
    const char *dir, *split;
    int token_bytes;
    uint32_t vocab;
    uint64_t max_tokens;
    FILE *f;
    char tmp_path[4096];
    uint64_t n_tokens;   /* in the open shard */
    int n_shards;        /* finished */
    uint64_t total;
} shard_writer;

static void put_header(uint8_t h[SHARD_HEADER], uint32_t vocab, uint32_t token_bytes, uint64_t n) {
    memset(h, 0, SHARD_HEADER);
    memcpy(h, SHARD_MAGIC, 8);
    const uint32_t v[4] = {SHARD_VERSION, vocab, token_bytes, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++) h[8 + 4 * i + b] = (uint8_t)(v[i] >> (8 * b));
    for (int b = 0; b < 8; b++) h[24 + b] = (uint8_t)(n >> (8 * b));
}

static void shard_path(char *buf, size_t cap, const char *dir, const char *split, int index) {
    snprintf(buf, cap, "%s/%s-%05d.bin", dir, split, index);
}

/* Finishes the open shard: writes its token count into the header and renames it in place. */
static slm_status shard_close(shard_writer *w) {
    if (!w->f) return SLM_OK;
    uint8_t h[SHARD_HEADER];
    put_header(h, w->vocab, (uint32_t)w->token_bytes, w->n_tokens);
    int bad = fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, SHARD_HEADER, w->f) != SHARD_HEADER;
    bad |= fflush(w->f) != 0 || fsync(fileno(w->f)) != 0;
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    char final[4096];
    shard_path(final, sizeof final, w->dir, w->split, w->n_shards);
    if (bad || rename(w->tmp_path, final) != 0) {
        remove(w->tmp_path);
        return slm_error(SLM_ERR_IO, "%s: cannot write: %s", final, strerror(errno));
    }
    w->n_shards++;
    return SLM_OK;
}

static slm_status shard_put(shard_writer *w, const int32_t *ids, size_t n) {
    while (n > 0) {
        if (!w->f) {
            snprintf(w->tmp_path, sizeof w->tmp_path, "%s/.%s-%05d.bin.tmp", w->dir, w->split, w->n_shards);
            if (!(w->f = fopen(w->tmp_path, "wb")))
                return slm_error(SLM_ERR_IO, "%s: cannot create: %s", w->tmp_path, strerror(errno));
            uint8_t h[SHARD_HEADER];
            put_header(h, w->vocab, (uint32_t)w->token_bytes, 0);
            fwrite(h, 1, SHARD_HEADER, w->f);
            w->n_tokens = 0;
        }
        size_t room = (size_t)(w->max_tokens - w->n_tokens), k = n < room ? n : room;
        uint8_t buf[4096];
        for (size_t i = 0; i < k;) {
            size_t j = 0;
            for (; i < k && j + 4 <= sizeof buf; i++)
                for (int b = 0; b < w->token_bytes; b++) buf[j++] = (uint8_t)((uint32_t)ids[i] >> (8 * b));
            if (fwrite(buf, 1, j, w->f) != j) return slm_error(SLM_ERR_IO, "%s: write failed", w->tmp_path);
        }
        ids += k;
        n -= k;
        w->n_tokens += k;
        w->total += k;
        if (w->n_tokens == w->max_tokens) {
            slm_status st = shard_close(w);
            if (st != SLM_OK) return st;
        }
    }
    return SLM_OK;
}

/* ---------------------------------------------------------------- prepare */

/* Where document i of the run goes: 1 for validation. */
static int doc_is_val(uint64_t seed, uint64_t i, float fraction) {
    if (fraction <= 0.0f) return 0;
    slm_rng r;
    slm_rng_seed(&r, seed ^ (i * 0xd1b54a32d192ed03ull));
    return (double)(slm_rng_u64(&r) >> 11) * (1.0 / 9007199254740992.0) < (double)fraction;
}

typedef struct {
    const slm_data_prepare_params *p;
    const slm_tokenizer *tok;
    shard_writer w[2];
    slm_data_stats stats;
    int add_bos, eos;
} prep;

static slm_status add_document(prep *s, const char *text, size_t len) {
    int32_t *ids;
    size_t n;
    slm_tokenize_options o = {s->add_bos, 0};
    slm_status st = slm_tokenize(s->tok, text, len, &o, &ids, &n);
    if (st != SLM_OK) return st;
    if (!s->add_bos && s->eos >= 0) {
        int32_t *b = realloc(ids, (n + 1) * sizeof *ids);
        if (!b) {
            slm_free(ids);
            return slm_error(SLM_ERR_NOMEM, "data: out of memory");
        }
        ids = b;
        ids[n++] = s->eos;
    }
    const uint64_t doc = s->stats.n_docs[0] + s->stats.n_docs[1];
    const int split = doc_is_val(s->p->seed, doc, s->p->val_fraction);
    st = shard_put(&s->w[split], ids, n);
    s->stats.n_docs[split]++;
    s->stats.n_tokens[split] += n;
    slm_free(ids);
    return st;
}

static slm_status prepare_file(prep *s, const char *path) {
    char *text = NULL;
    size_t len = 0;
    slm_status st = read_file(path, &text, &len);
    if (st != SLM_OK) return st;
    s->stats.bytes_read += len;
    if (ends_with(path, ".jsonl")) {
        const char *field = s->p->jsonl_field ? s->p->jsonl_field : "text";
        size_t line = 0;
        for (const char *p = text, *end = text + len; p < end && st == SLM_OK;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *e = nl ? nl : end;
            line++;
            if (json_ws(p, e) < e) {
                char *doc;
                size_t dlen;
                int r = json_field(p, e, field, &doc, &dlen);
                if (r < 0) st = slm_error(SLM_ERR_FORMAT, "%s:%zu: not a JSON object", path, line);
                else if (r == 0) st = slm_error(SLM_ERR_FORMAT, "%s:%zu: no string field '%s'", path, line, field);
                else {
                    st = add_document(s, doc, dlen);
                    free(doc);
                }
            }
            p = e + 1;
        }
    } else {
        const char *sep = s->p->separator ? s->p->separator : "<|endoftext|>";
        const size_t slen = strlen(sep);
        const char *p = text, *end = text + len;
        while (p <= end && st == SLM_OK) {
            const char *e = slen ? memmem(p, (size_t)(end - p), sep, slen) : NULL;
            if (!e) e = end;
            const char *a = p, *b = e; /* documents are trimmed of surrounding newlines */
            while (a < b && (*a == '\n' || *a == '\r')) a++;
            while (b > a && (b[-1] == '\n' || b[-1] == '\r')) b--;
            if (b > a) st = add_document(s, a, (size_t)(b - a));
            p = e + slen;
            if (e == end) break;
        }
    }
    free(text);
    return st;
}

slm_status slm_data_prepare(const slm_data_prepare_params *p, slm_data_progress_fn progress, void *user,
                            slm_data_stats *stats) {
    if (!p || !p->tokenizer_path || !p->out_dir || (!p->inputs && p->n_inputs))
        return slm_error(SLM_ERR_INVALID_ARG, "slm_data_prepare: missing tokenizer, inputs or output folder");
    if (p->n_inputs == 0) return slm_error(SLM_ERR_INVALID_ARG, "data prepare: no input files");
    if (!(p->val_fraction >= 0.0f && p->val_fraction <= 1.0f))
        return slm_error(SLM_ERR_INVALID_ARG, "data prepare: the validation fraction %g is not in [0, 1]",
                         p->val_fraction);
    if (p->jsonl_field && !*p->jsonl_field) return slm_error(SLM_ERR_INVALID_ARG, "data prepare: empty JSONL field name");
    slm_tokenizer *tok = NULL;
    slm_model *model = NULL;
    const slm_tokenizer *t;
    slm_status st = slm_tokenizer_load(p->tokenizer_path, &tok);
    if (st != SLM_OK) {
        char *msg = slm_strndup(slm_last_error(), strlen(slm_last_error()));
        if (slm_model_load(p->tokenizer_path, NULL, &model) == SLM_OK && slm_model_tokenizer(model)) {
            free(msg);
            t = slm_model_tokenizer(model);
        } else {
            slm_model_free(model);
            st = slm_error(st, "%s", msg ? msg : "cannot load the tokenizer");
            free(msg);
            return st;
        }
    } else t = tok;
    path_list files = {0};
    prep s = {.p = p, .tok = t, .add_bos = slm_tokenizer_adds_bos(t) && slm_token_bos(t) >= 0, .eos = slm_token_eos(t)};
    for (size_t i = 0; i < p->n_inputs && st == SLM_OK; i++) st = collect(&files, p->inputs[i], 0);
    if (st == SLM_OK && files.n == 0) st = slm_error(SLM_ERR_INVALID_ARG, "data prepare: no text files in the inputs");
    if (st == SLM_OK && mkdir(p->out_dir, 0777) != 0 && errno != EEXIST)
        st = slm_error(SLM_ERR_IO, "%s: cannot create the folder: %s", p->out_dir, strerror(errno));
    if (st == SLM_OK) {
        /* the old shards of this folder would mix with the new ones */
        for (int sp = 0; sp < 2; sp++)
            for (int i = 0;; i++) {
                char path[4096];
                shard_path(path, sizeof path, p->out_dir, sp ? "val" : "train", i);
                if (remove(path) != 0) break;
            }
        for (int sp = 0; sp < 2; sp++)
            s.w[sp] = (shard_writer){.dir = p->out_dir, .split = sp ? "val" : "train",
                                     .token_bytes = t->n_vocab <= 65536 ? 2 : 4, .vocab = (uint32_t)t->n_vocab,
                                     .max_tokens = p->shard_tokens ? p->shard_tokens : (64ull << 20)};
        s.stats.n_files = (int)files.n;
    }
    for (size_t i = 0; i < files.n && st == SLM_OK; i++) {
        st = prepare_file(&s, files.paths[i]);
        if (st == SLM_OK && progress) progress(files.paths[i], (int)i + 1, (int)files.n, &s.stats, user);
    }
    for (int sp = 0; sp < 2; sp++) {
        slm_status c = shard_close(&s.w[sp]);
        if (st == SLM_OK) st = c;
        if (s.w[sp].f) {
            fclose(s.w[sp].f);
            remove(s.w[sp].tmp_path);
        }
        s.stats.n_shards[sp] = s.w[sp].n_shards;
    }
    if (st == SLM_OK) {
        /* the vocabulary beside the shards, written through a temporary name */
        char path[4096], tmp[4096];
        snprintf(path, sizeof path, "%s/tokenizer.gguf", p->out_dir);
        snprintf(tmp, sizeof tmp, "%s/.tokenizer.gguf.tmp", p->out_dir);
        gguf_writer *w = gguf_writer_new();
        void *keep = NULL;
        if (!w) st = SLM_ERR_NOMEM;
        else if ((st = gguf_writer_set_str(w, "general.architecture", "llama")) == SLM_OK &&
                 (st = tokenizer_to_gguf(t, w, &keep)) == SLM_OK && (st = gguf_writer_write(w, tmp)) == SLM_OK &&
                 rename(tmp, path) != 0)
            st = slm_error(SLM_ERR_IO, "%s: cannot rename: %s", path, strerror(errno));
        gguf_writer_free(w);
        free(keep);
    }
    if (stats) *stats = s.stats;
    list_free(&files);
    slm_tokenizer_free(tok);
    slm_model_free(model);
    return st;
}

/* ---------------------------------------------------------------- loader */

typedef struct {
    slm_mapped_file map;
    const uint8_t *ids; /* n tokens of token_bytes each */
    uint64_t n, windows;
    int token_bytes;
} shard;

struct slm_loader {
    shard *shards;
    int n_shards;
    int B, T, vocab;
    uint64_t seed, position, n_tokens, windows;
};

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static uint32_t shard_id(const shard *s, uint64_t i) {
    const uint8_t *p = s->ids + i * (uint64_t)s->token_bytes;
    return s->token_bytes == 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : rd32(p);
}

/* Maps and checks one shard. */
static slm_status shard_open(shard *s, const char *path, int *vocab) {
    slm_status st = slm_map_file(path, &s->map);
    if (st != SLM_OK) return st;
    const uint8_t *h = s->map.data;
    if (s->map.size < SHARD_HEADER || memcmp(h, SHARD_MAGIC, 8) != 0)
        return slm_error(SLM_ERR_FORMAT, "%s: not a token shard (bad magic)", path);
    if (rd32(h + 8) != SHARD_VERSION) return slm_error(SLM_ERR_UNSUPPORTED, "%s: shard version %u", path, rd32(h + 8));
    const uint32_t v = rd32(h + 12), tb = rd32(h + 16);
    const uint64_t n = (uint64_t)rd32(h + 24) | (uint64_t)rd32(h + 28) << 32;
    if (v == 0 || (tb != 2 && tb != 4) || (tb == 2 && v > 65536) || v > (uint32_t)INT32_MAX)
        return slm_error(SLM_ERR_FORMAT, "%s: bad vocabulary size %u or token width %u", path, v, tb);
    if (*vocab && (int)v != *vocab)
        return slm_error(SLM_ERR_FORMAT, "%s: vocabulary size %u, other shards have %d", path, v, *vocab);
    if (n > (s->map.size - SHARD_HEADER) / tb || SHARD_HEADER + n * tb != s->map.size)
        return slm_error(SLM_ERR_FORMAT, "%s: the header says %llu tokens, the file holds %zu bytes of ids", path,
                         (unsigned long long)n, s->map.size - SHARD_HEADER);
    *vocab = (int)v;
    s->ids = h + SHARD_HEADER;
    s->n = n;
    s->token_bytes = (int)tb;
    for (uint64_t i = 0; i < n; i++)
        if (shard_id(s, i) >= v)
            return slm_error(SLM_ERR_FORMAT, "%s: token %llu is %u, outside the vocabulary (%u)", path,
                             (unsigned long long)i, shard_id(s, i), v);
    return SLM_OK;
}

slm_status slm_loader_open(const char *dir, const char *split, int B, int T, uint64_t seed, slm_loader **out) {
    if (!dir || !split || !out || B < 1 || T < 1)
        return slm_error(SLM_ERR_INVALID_ARG, "slm_loader_open: NULL argument or batch/seq_len < 1");
    *out = NULL;
    slm_loader *l = slm_calloc(1, sizeof *l, "loader");
    if (!l) return SLM_ERR_NOMEM;
    *l = (slm_loader){.B = B, .T = T, .seed = seed};
    slm_status st = SLM_OK;
    for (int i = 0; st == SLM_OK; i++) {
        char path[4096];
        shard_path(path, sizeof path, dir, split, i);
        if (access(path, F_OK) != 0) break;
        shard *ns = realloc(l->shards, (size_t)(i + 1) * sizeof *ns);
        if (!ns) {
            st = slm_error(SLM_ERR_NOMEM, "loader: out of memory");
            break;
        }
        l->shards = ns;
        memset(&ns[i], 0, sizeof ns[i]);
        l->n_shards = i + 1;
        if ((st = shard_open(&ns[i], path, &l->vocab)) != SLM_OK) break;
        ns[i].windows = ns[i].n > (uint64_t)T ? ns[i].n - (uint64_t)T : 0;
        l->windows += ns[i].windows;
        l->n_tokens += ns[i].n;
    }
    if (st == SLM_OK && l->n_shards == 0)
        st = slm_error(SLM_ERR_IO, "%s: no %s shards (%s-00000.bin); run slm data prepare", dir, split, split);
    else if (st == SLM_OK && l->windows == 0)
        st = slm_error(SLM_ERR_INVALID_ARG, "%s: the %s shards hold no window of %d tokens", dir, split, T + 1);
    if (st != SLM_OK) {
        slm_loader_free(l);
        return st;
    }
    *out = l;
    return SLM_OK;
}

void slm_loader_free(slm_loader *l) {
    if (!l) return;
    for (int i = 0; i < l->n_shards; i++) slm_unmap_file(&l->shards[i].map);
    free(l->shards);
    free(l);
}

void slm_loader_next(slm_loader *l, int32_t *tokens, int32_t *targets) {
    slm_rng r;
    slm_rng_seed(&r, l->seed ^ (l->position * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull));
    for (int b = 0; b < l->B; b++) {
        uint64_t w = slm_rng_u64(&r) % l->windows;
        int s = 0;
        while (w >= l->shards[s].windows) w -= l->shards[s++].windows;
        for (int t = 0; t < l->T; t++) {
            tokens[(size_t)b * l->T + t] = (int32_t)shard_id(&l->shards[s], w + (uint64_t)t);
            targets[(size_t)b * l->T + t] = (int32_t)shard_id(&l->shards[s], w + (uint64_t)t + 1);
        }
    }
    l->position++;
}

uint64_t slm_loader_position(const slm_loader *l) { return l->position; }
void slm_loader_seek(slm_loader *l, uint64_t position) { l->position = position; }
uint64_t slm_loader_n_tokens(const slm_loader *l) { return l->n_tokens; }
int slm_loader_vocab_size(const slm_loader *l) { return l->vocab; }
