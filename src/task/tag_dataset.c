/* tag_dataset.c — slm_tag_dataset_load: documents as word lists with one BIO tag per word, from
 * JSONL (Inspec's "document" + "doc_bio_tags"); every malformed line is an error naming
 * file:line. Penn-Treebank bracket tokens (-LRB- ...) are turned back into brackets so that the
 * words match raw text. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/utf8.h"
#include "task/keywords_internal.h"

static const char *const PTB_TOKENS[][2] = {{"-LRB-", "("}, {"-RRB-", ")"}, {"-LSB-", "["},
                                            {"-RSB-", "]"}, {"-LCB-", "{"}, {"-RCB-", "}"}};

static const char *undo_ptb(const char *w) {
    for (size_t i = 0; i < sizeof PTB_TOKENS / sizeof PTB_TOKENS[0]; i++)
        if (strcmp(w, PTB_TOKENS[i][0]) == 0) return PTB_TOKENS[i][1];
    return w;
}

/* Whether s[0..n) is valid UTF-8. */
static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        const size_t k = slm_utf8_valid_len(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

void slm_tag_dataset_free(slm_tag_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) {
        if (ds->words && ds->words[i])
            for (int w = 0; w < ds->n_words[i]; w++) free(ds->words[i][w]);
        if (ds->words) free(ds->words[i]);
        if (ds->tags) free(ds->tags[i]);
    }
    free(ds->words);
    free(ds->tags);
    free(ds->n_words);
    memset(ds, 0, sizeof *ds);
}

/* The first of the two keys that obj has (NULL when neither). */
static const cJSON *field_of(const cJSON *obj, const char *given, const char *a, const char *b, const char **name) {
    if (given) {
        *name = given;
        return cJSON_GetObjectItemCaseSensitive(obj, given);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    *name = a;
    if (!v) {
        v = cJSON_GetObjectItemCaseSensitive(obj, b);
        if (v) *name = b;
    }
    return v;
}

/* Parses one line's words and tags into document i of ds (already sized). */
static slm_status parse_line(const char *path, int line, const cJSON *obj, const char *words_field,
                             const char *tags_field, slm_tag_dataset *ds, size_t i) {
    const char *wname, *tname;
    const cJSON *words = field_of(obj, words_field, "document", "tokens", &wname);
    const cJSON *tags = field_of(obj, tags_field, "doc_bio_tags", "tags", &tname);
    if (!words) return slm_error(SLM_ERR_FORMAT, "%s:%d: no \"%s\" field (the words)", path, line, wname);
    if (!tags) return slm_error(SLM_ERR_FORMAT, "%s:%d: no \"%s\" field (the BIO tags)", path, line, tname);
    if (!cJSON_IsArray(words)) return slm_error(SLM_ERR_FORMAT, "%s:%d: \"%s\" is not a list of words", path, line, wname);
    if (!cJSON_IsArray(tags)) return slm_error(SLM_ERR_FORMAT, "%s:%d: \"%s\" is not a list of tags", path, line, tname);
    const int n = cJSON_GetArraySize(words), nt = cJSON_GetArraySize(tags);
    if (n != nt)
        return slm_error(SLM_ERR_FORMAT, "%s:%d: %d words but %d tags", path, line, n, nt);
    ds->words[i] = calloc((size_t)n + 1, sizeof(char *));
    ds->tags[i] = malloc((size_t)n + 1);
    if (!ds->words[i] || !ds->tags[i]) return slm_error(SLM_ERR_NOMEM, "%s: out of memory", path);
    ds->n_words[i] = n;
    int w = 0;
    const cJSON *wv = words->child, *tv = tags->child;
    for (; wv && tv; wv = wv->next, tv = tv->next, w++) {
        if (!cJSON_IsString(wv))
            return slm_error(SLM_ERR_FORMAT, "%s:%d: word %d of \"%s\" is not a string", path, line, w + 1, wname);
        if (!cJSON_IsString(tv))
            return slm_error(SLM_ERR_FORMAT, "%s:%d: tag %d of \"%s\" is not a string", path, line, w + 1, tname);
        const char *t = tv->valuestring;
        if (strcmp(t, "O") == 0) ds->tags[i][w] = 0;
        else if (strcmp(t, "B") == 0) ds->tags[i][w] = 1;
        else if (strcmp(t, "I") == 0) ds->tags[i][w] = 2;
        else
            return slm_error(SLM_ERR_FORMAT, "%s:%d: tag %d is \"%.20s\": expected B, I or O", path, line, w + 1, t);
        if (!(ds->words[i][w] = strdup(undo_ptb(wv->valuestring)))) return slm_error(SLM_ERR_NOMEM, "%s: out of memory", path);
    }
    return SLM_OK;
}

slm_status slm_tag_dataset_load(const char *path, const char *words_field, const char *tags_field,
                                slm_tag_dataset *out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_tag_dataset_load: NULL argument");
    memset(out, 0, sizeof *out);
    char *data;
    size_t len;
    slm_status st = kw_read_file(path, &data, &len);
    if (st != SLM_OK) return st;
    size_t cap = 0;
    int line = 0;
    const char *s = data, *end = data + len;
    while (st == SLM_OK && s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        line++;
        const char *a = s;
        s = nl ? nl + 1 : end;
        while (a < e && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
        if (a == e) continue;
        if (!valid_utf8(a, (size_t)(e - a))) {
            st = slm_error(SLM_ERR_FORMAT, "%s:%d: invalid UTF-8", path, line);
            break;
        }
        cJSON *obj = cJSON_ParseWithLength(a, (size_t)(e - a));
        if (!obj || !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            st = slm_error(SLM_ERR_FORMAT, "%s:%d: not a JSON object", path, line);
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 256;
            char ***words = realloc(out->words, cap * sizeof *words);
            if (words) out->words = words;
            unsigned char **tags = realloc(out->tags, cap * sizeof *tags);
            if (tags) out->tags = tags;
            int *nw = realloc(out->n_words, cap * sizeof *nw);
            if (nw) out->n_words = nw;
            if (!words || !tags || !nw) {
                cJSON_Delete(obj);
                st = slm_error(SLM_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
        }
        const size_t i = out->n++;
        out->words[i] = NULL;
        out->tags[i] = NULL;
        out->n_words[i] = 0;
        st = parse_line(path, line, obj, words_field, tags_field, out, i);
        cJSON_Delete(obj);
    }
    free(data);
    if (st == SLM_OK && out->n == 0) st = slm_error(SLM_ERR_FORMAT, "%s: no tagged documents", path);
    if (st != SLM_OK) slm_tag_dataset_free(out);
    return st;
}
