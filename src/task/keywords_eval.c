/* keywords_eval.c — keyphrase evaluation: loading documents with gold keyphrases (JSONL, a LIAAD
 * folder with docsutf8/ and keys/, or a .zip of one) and the standard Porter-stemmed exact-match
 * precision, recall and F1 at 5, 10 and 15. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "base/error.h"
#include "task/keywords_internal.h"

/* ---- phrase normalisation and scoring */

/* The byte length of the whitespace character at s[pos] (Python's str.split() whitespace), or 0. */
static int space_at(const char *s, size_t len, size_t pos) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + pos, (utf8proc_ssize_t)(len - pos), &cp);
    if (k <= 0) return 0;
    int space = (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 32) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
                (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
                cp == 0x3000;
    return space ? (int)k : 0;
}

/* The byte length of the next character (1 for an invalid byte). */
static size_t char_len_at(const char *s, size_t len, size_t pos) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + pos, (utf8proc_ssize_t)(len - pos), &cp);
    return k > 0 ? (size_t)k : 1;
}

/* Trims whitespace off both ends of s[*a, *z). */
static void trim_spaces(const char *s, size_t *a, size_t *z) {
    int k;
    while (*a < *z && (k = space_at(s, *z, *a)) > 0) *a += (size_t)k;
    size_t last_end = *a;
    for (size_t p = *a; p < *z;) {
        int sp = space_at(s, *z, p);
        p += sp ? (size_t)sp : char_len_at(s, *z, p);
        if (!sp) last_end = p;
    }
    *z = last_end;
}

char *kw_normalize_phrase(const char *phrase) {
    size_t len = strlen(phrase);
    char *out = (char *)malloc(2 * len + 9);
    if (!out) return NULL;
    size_t o = 0, pos = 0;
    int k;
    while (pos < len) {
        while (pos < len && (k = space_at(phrase, len, pos)) > 0) pos += (size_t)k;
        size_t start = pos;
        while (pos < len && space_at(phrase, len, pos) == 0) pos += char_len_at(phrase, len, pos);
        if (pos == start) break;
        if (o) out[o++] = ' ';
        int n = slm_porter_stem(phrase + start, pos - start, out + o, 2 * len + 9 - o);
        if (n < 0) {
            free(out);
            return NULL;
        }
        o += (size_t)n;
    }
    out[o] = '\0';
    return out;
}

/* Normalised, de-duplicated phrases (first occurrences kept, empty ones dropped); returns the
 * count or -1. */
static int normalize_list(const char *const *phrases, int n, char ***out) {
    *out = NULL;
    if (n <= 0) return 0;
    char **list = (char **)calloc((size_t)n, sizeof(char *));
    if (!list) return -1;
    int m = 0;
    for (int i = 0; i < n; i++) {
        char *p = kw_normalize_phrase(phrases[i] ? phrases[i] : "");
        if (!p) {
            for (int j = 0; j < m; j++) free(list[j]);
            free(list);
            return -1;
        }
        int dup = p[0] == '\0';
        for (int j = 0; j < m && !dup; j++) dup = strcmp(list[j], p) == 0;
        if (dup) free(p);
        else list[m++] = p;
    }
    *out = list;
    return m;
}

static void free_list(char **list, int n) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

slm_status slm_keyphrase_evaluate(const char *const *const *gold, const int *n_gold, const char *const *const *pred,
                                  const int *n_pred, size_t n, slm_keyphrase_scores *out) {
    if (!out || (n && (!gold || !n_gold || !pred || !n_pred)))
        return slm_error(SLM_ERR_INVALID_ARG, "slm_keyphrase_evaluate: NULL argument");
    memset(out, 0, sizeof *out);
    static const int cutoffs[3] = {5, 10, 15};
    for (size_t d = 0; d < n; d++) {
        char **g = NULL, **p = NULL;
        int ng = normalize_list(gold[d], n_gold[d], &g);
        int np = ng < 0 ? -1 : normalize_list(pred[d], n_pred[d], &p);
        if (ng < 0 || np < 0) {
            if (ng >= 0) free_list(g, ng);
            return slm_error(SLM_ERR_INVALID_ARG, "document %zu: a phrase is not valid UTF-8 (or out of memory)", d + 1);
        }
        for (int c = 0; c < 3; c++) {
            int k = np < cutoffs[c] ? np : cutoffs[c], matches = 0;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < ng; j++)
                    if (strcmp(p[i], g[j]) == 0) {
                        matches++;
                        break;
                    }
            double precision = k ? (double)matches / k : 0, recall = ng ? (double)matches / ng : 0;
            double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
            out->precision[c] += precision;
            out->recall[c] += recall;
            out->f1[c] += f1;
        }
        free_list(g, ng);
        free_list(p, np);
    }
    for (int c = 0; c < 3 && n; c++) {
        out->precision[c] /= (double)n;
        out->recall[c] /= (double)n;
        out->f1[c] /= (double)n;
    }
    out->n_docs = n;
    return SLM_OK;
}

/* ---- corpora */

typedef struct {
    slm_keyphrase_corpus *c;
    size_t cap;
} corpus_builder;

/* Appends a document (takes ownership of id, text, keys). */
static slm_status corpus_add(corpus_builder *b, char *id, char *text, char **keys, int n_keys) {
    slm_keyphrase_corpus *c = b->c;
    if (c->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        char **ids = (char **)realloc(c->ids, cap * sizeof(char *));
        if (ids) c->ids = ids;
        char **texts = (char **)realloc(c->texts, cap * sizeof(char *));
        if (texts) c->texts = texts;
        char ***k = (char ***)realloc(c->keys, cap * sizeof(char **));
        if (k) c->keys = k;
        int *nk = (int *)realloc(c->n_keys, cap * sizeof(int));
        if (nk) c->n_keys = nk;
        if (!ids || !texts || !k || !nk) {
            free(id);
            free(text);
            free_list(keys, n_keys);
            return slm_error(SLM_ERR_NOMEM, "out of memory");
        }
        b->cap = cap;
    }
    c->ids[c->n] = id;
    c->texts[c->n] = text;
    c->keys[c->n] = keys;
    c->n_keys[c->n] = n_keys;
    c->n++;
    return SLM_OK;
}

void slm_keyphrase_corpus_free(slm_keyphrase_corpus *corpus) {
    if (!corpus) return;
    for (size_t i = 0; i < corpus->n; i++) {
        free(corpus->ids[i]);
        free(corpus->texts[i]);
        free_list(corpus->keys[i], corpus->n_keys[i]);
    }
    free(corpus->ids);
    free(corpus->texts);
    free(corpus->keys);
    free(corpus->n_keys);
    memset(corpus, 0, sizeof *corpus);
}

/* Penn Treebank bracket tokens (Inspec's token lists use them) back to brackets. */
static const char *unescape_ptb(const char *tok) {
    static const char *const map[][2] = {{"-LRB-", "("}, {"-RRB-", ")"}, {"-LSB-", "["},
                                         {"-RSB-", "]"}, {"-LCB-", "{"}, {"-RCB-", "}"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(tok, map[i][0]) == 0) return map[i][1];
    return tok;
}

/* A JSON string, or a list of string tokens joined by spaces; malloc'd, or NULL. */
static char *json_text(const cJSON *v) {
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (!cJSON_IsArray(v)) return NULL;
    size_t len = 1;
    const cJSON *t;
    cJSON_ArrayForEach(t, v) {
        if (!cJSON_IsString(t)) return NULL;
        len += strlen(unescape_ptb(t->valuestring)) + 1;
    }
    char *out = (char *)malloc(len);
    if (!out) return NULL;
    size_t o = 0;
    cJSON_ArrayForEach(t, v) {
        const char *s = unescape_ptb(t->valuestring);
        size_t n = strlen(s);
        if (o) out[o++] = ' ';
        memcpy(out + o, s, n);
        o += n;
    }
    out[o] = '\0';
    return out;
}

/* Appends the strings of a JSON array to *keys. Returns 0 when the value is not such an array. */
static int append_keys(const cJSON *arr, char ***keys, int *n) {
    if (!cJSON_IsArray(arr)) return 0;
    int extra = cJSON_GetArraySize(arr);
    char **grown = (char **)realloc(*keys, (size_t)(*n + extra + 1) * sizeof(char *));
    if (!grown) return -1;
    *keys = grown;
    const cJSON *k;
    cJSON_ArrayForEach(k, arr) {
        if (!cJSON_IsString(k)) continue;
        char *s = strdup(k->valuestring);
        if (!s) return -1;
        (*keys)[(*n)++] = s;
    }
    return 1;
}

static slm_status load_jsonl(const char *path, const char *text_field, int need_keys, corpus_builder *b) {
    char *data;
    size_t len;
    slm_status st = kw_read_file(path, &data, &len);
    if (st != SLM_OK) return st;
    size_t line_no = 0;
    for (char *line = data; st == SLM_OK && line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        char *end = nl ? nl : data + len;
        *end = '\0';
        line_no++;
        char *next = end + 1;
        const char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == '\0') {
            line = next;
            continue;
        }
        cJSON *obj = cJSON_Parse(line);
        if (!cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            st = slm_error(SLM_ERR_FORMAT, "%s:%zu: not a JSON object", path, line_no);
            break;
        }
        const cJSON *tv = text_field ? cJSON_GetObjectItemCaseSensitive(obj, text_field)
                                     : cJSON_GetObjectItemCaseSensitive(obj, "text");
        if (!text_field && !tv) tv = cJSON_GetObjectItemCaseSensitive(obj, "document");
        char *text = json_text(tv);
        if (!text) {
            cJSON_Delete(obj);
            st = slm_error(SLM_ERR_FORMAT, "%s:%zu: no text field '%s' (a string or a list of strings)", path, line_no,
                           text_field ? text_field : "text");
            break;
        }
        char **keys = NULL;
        int n_keys = 0, ok = append_keys(cJSON_GetObjectItemCaseSensitive(obj, "keyphrases"), &keys, &n_keys);
        if (ok == 0) ok = append_keys(cJSON_GetObjectItemCaseSensitive(obj, "keywords"), &keys, &n_keys);
        if (ok == 0) {
            int a = append_keys(cJSON_GetObjectItemCaseSensitive(obj, "extractive_keyphrases"), &keys, &n_keys);
            int c = a < 0 ? -1 : append_keys(cJSON_GetObjectItemCaseSensitive(obj, "abstractive_keyphrases"), &keys, &n_keys);
            ok = a < 0 || c < 0 ? -1 : (a || c);
        }
        if (ok == 0 && !need_keys) ok = 1;
        if (ok <= 0) {
            free(text);
            free_list(keys, n_keys);
            cJSON_Delete(obj);
            st = ok < 0 ? slm_error(SLM_ERR_NOMEM, "out of memory")
                        : slm_error(SLM_ERR_FORMAT, "%s:%zu: no keyphrases (\"keyphrases\", or \"extractive_keyphrases\" and \"abstractive_keyphrases\")", path, line_no);
            break;
        }
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(obj, "id");
        if (!idv) idv = cJSON_GetObjectItemCaseSensitive(obj, "paper_id");
        char idbuf[32];
        char *id;
        if (cJSON_IsString(idv)) id = strdup(idv->valuestring);
        else if (cJSON_IsNumber(idv)) {
            snprintf(idbuf, sizeof idbuf, "%.0f", idv->valuedouble);
            id = strdup(idbuf);
        } else {
            snprintf(idbuf, sizeof idbuf, "%zu", line_no);
            id = strdup(idbuf);
        }
        cJSON_Delete(obj);
        if (!id) {
            free(text);
            free_list(keys, n_keys);
            st = slm_error(SLM_ERR_NOMEM, "out of memory");
            break;
        }
        st = corpus_add(b, id, text, keys, n_keys);
        line = next;
    }
    free(data);
    return st;
}

/* Splits a keys file into its non-empty lines (trimmed). */
static slm_status parse_keys(const char *data, size_t len, char ***keys, int *n_keys) {
    *keys = NULL;
    *n_keys = 0;
    int cap = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && data[end] != '\n') end++;
        size_t a = pos, z = end;
        pos = end + 1;
        trim_spaces(data, &a, &z);
        if (a == z) continue;
        if (*n_keys == cap) {
            cap = cap ? 2 * cap : 16;
            char **g = (char **)realloc(*keys, (size_t)cap * sizeof(char *));
            if (!g) return slm_error(SLM_ERR_NOMEM, "out of memory");
            *keys = g;
        }
        char *s = (char *)malloc(z - a + 1);
        if (!s) return slm_error(SLM_ERR_NOMEM, "out of memory");
        memcpy(s, data + a, z - a);
        s[z - a] = '\0';
        (*keys)[(*n_keys)++] = s;
    }
    return SLM_OK;
}

/* A document name: what follows the last '/' of "…docsutf8/NAME.txt", without the extension. */
static char *base_name(const char *path, const char *ext) {
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t n = strlen(name), e = strlen(ext);
    if (n <= e || strcmp(name + n - e, ext) != 0) return NULL;
    char *out = (char *)malloc(n - e + 1);
    if (!out) return NULL;
    memcpy(out, name, n - e);
    out[n - e] = '\0';
    return out;
}

static int path_has_dir(const char *path, const char *dir) {
    size_t n = strlen(dir);
    for (const char *p = strstr(path, dir); p; p = strstr(p + 1, dir))
        if ((p == path || p[-1] == '/') && p[n] == '/' && !strchr(p + n + 1, '/')) return 1;
    return 0;
}

typedef struct {
    char *name;
    char *text;
    size_t len;
} named_blob;

static int compare_blobs(const void *a, const void *b) {
    return strcmp(((const named_blob *)a)->name, ((const named_blob *)b)->name);
}

/* Pairs docs (NAME.txt) with keys (NAME.key) by name; documents without keys are an error. */
static slm_status pair_docs_keys(const char *origin, named_blob *docs, int n_docs, named_blob *keys, int n_keys,
                                 corpus_builder *b) {
    qsort(docs, (size_t)n_docs, sizeof *docs, compare_blobs);
    qsort(keys, (size_t)n_keys, sizeof *keys, compare_blobs);
    if (n_docs == 0) return slm_error(SLM_ERR_FORMAT, "%s: no docsutf8/*.txt documents", origin);
    slm_status st = SLM_OK;
    for (int i = 0; i < n_docs && st == SLM_OK; i++) {
        named_blob key = {.name = docs[i].name};
        named_blob *k = (named_blob *)bsearch(&key, keys, (size_t)n_keys, sizeof *keys, compare_blobs);
        if (!k) {
            st = slm_error(SLM_ERR_FORMAT, "%s: document %s has no keys/%s.key", origin, docs[i].name, docs[i].name);
            break;
        }
        char **list;
        int n_list;
        st = parse_keys(k->text, k->len, &list, &n_list);
        if (st != SLM_OK) break;
        st = corpus_add(b, docs[i].name, docs[i].text, list, n_list);
        docs[i].name = docs[i].text = NULL;
    }
    return st;
}

static void free_blobs(named_blob *blobs, int n) {
    for (int i = 0; i < n; i++) {
        free(blobs[i].name);
        free(blobs[i].text);
    }
    free(blobs);
}

static int push_blob(named_blob **arr, int *n, int *cap, char *name, char *text, size_t len) {
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 64;
        named_blob *g = (named_blob *)realloc(*arr, (size_t)c * sizeof **arr);
        if (!g) return 0;
        *arr = g;
        *cap = c;
    }
    (*arr)[(*n)++] = (named_blob){name, text, len};
    return 1;
}

static slm_status load_zip(const char *path, corpus_builder *b) {
    kw_zip *zip;
    slm_status st = kw_zip_open(path, &zip);
    if (st != SLM_OK) return st;
    named_blob *docs = NULL, *keys = NULL;
    int nd = 0, cd = 0, nk = 0, ck = 0;
    for (int i = 0; i < kw_zip_count(zip) && st == SLM_OK; i++) {
        const char *name = kw_zip_name(zip, i);
        int is_doc = path_has_dir(name, "docsutf8"), is_key = path_has_dir(name, "keys");
        if (!is_doc && !is_key) continue;
        char *base = base_name(name, is_doc ? ".txt" : ".key");
        if (!base) continue;
        char *data;
        size_t len;
        st = kw_zip_read(zip, i, &data, &len);
        if (st != SLM_OK) {
            free(base);
            break;
        }
        if (!(is_doc ? push_blob(&docs, &nd, &cd, base, data, len) : push_blob(&keys, &nk, &ck, base, data, len))) {
            free(base);
            free(data);
            st = slm_error(SLM_ERR_NOMEM, "out of memory");
        }
    }
    kw_zip_close(zip);
    if (st == SLM_OK) st = pair_docs_keys(path, docs, nd, keys, nk, b);
    free_blobs(docs, nd);
    free_blobs(keys, nk);
    return st;
}

static int is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

/* Reads every file ending in ext in dir into blobs. */
static slm_status read_dir(const char *dir, const char *ext, named_blob **blobs, int *n) {
    DIR *d = opendir(dir);
    if (!d) return slm_error(SLM_ERR_IO, "%s: cannot open the folder", dir);
    int cap = 0;
    slm_status st = SLM_OK;
    struct dirent *ent;
    while (st == SLM_OK && (ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.') continue;
        char *base = base_name(ent->d_name, ext);
        if (!base) continue;
        size_t plen = strlen(dir) + strlen(ent->d_name) + 2;
        char *full = (char *)malloc(plen);
        if (!full) {
            free(base);
            st = slm_error(SLM_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(full, plen, "%s/%s", dir, ent->d_name);
        char *data;
        size_t len;
        st = kw_read_file(full, &data, &len);
        free(full);
        if (st != SLM_OK) {
            free(base);
            break;
        }
        if (!push_blob(blobs, n, &cap, base, data, len)) {
            free(base);
            free(data);
            st = slm_error(SLM_ERR_NOMEM, "out of memory");
        }
    }
    closedir(d);
    return st;
}

static slm_status load_folder(const char *path, corpus_builder *b) {
    char docs_dir[4096], keys_dir[4096];
    snprintf(docs_dir, sizeof docs_dir, "%s/docsutf8", path);
    snprintf(keys_dir, sizeof keys_dir, "%s/keys", path);
    if (!is_dir(docs_dir) || !is_dir(keys_dir)) {
        /* one level down: an unzipped archive holds NAME/docsutf8 */
        DIR *d = opendir(path);
        int found = 0;
        struct dirent *ent;
        while (d && !found && (ent = readdir(d)) != NULL) {
            if (ent->d_name[0] == '.') continue;
            snprintf(docs_dir, sizeof docs_dir, "%s/%s/docsutf8", path, ent->d_name);
            snprintf(keys_dir, sizeof keys_dir, "%s/%s/keys", path, ent->d_name);
            found = is_dir(docs_dir) && is_dir(keys_dir);
        }
        if (d) closedir(d);
        if (!found) return slm_error(SLM_ERR_FORMAT, "%s: no docsutf8/ and keys/ folders (the LIAAD layout)", path);
    }
    named_blob *docs = NULL, *keys = NULL;
    int nd = 0, nk = 0;
    slm_status st = read_dir(docs_dir, ".txt", &docs, &nd);
    if (st == SLM_OK) st = read_dir(keys_dir, ".key", &keys, &nk);
    if (st == SLM_OK) st = pair_docs_keys(path, docs, nd, keys, nk, b);
    free_blobs(docs, nd);
    free_blobs(keys, nk);
    return st;
}

slm_status slm_keyphrase_corpus_load(const char *path, const char *text_field, int need_keys,
                                     slm_keyphrase_corpus *out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_keyphrase_corpus_load: NULL argument");
    memset(out, 0, sizeof *out);
    corpus_builder b = {.c = out};
    slm_status st;
    size_t n = strlen(path);
    if (is_dir(path)) st = load_folder(path, &b);
    else if (n > 4 && strcmp(path + n - 4, ".zip") == 0) st = load_zip(path, &b);
    else st = load_jsonl(path, text_field, need_keys, &b);
    if (st == SLM_OK && out->n == 0) st = slm_error(SLM_ERR_FORMAT, "%s: no documents", path);
    if (st != SLM_OK) slm_keyphrase_corpus_free(out);
    return st;
}
