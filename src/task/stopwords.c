/* stopwords.c — stopword sets for keyword extraction: the built-in English list (embedded at
 * build time from data/stopwords/en.txt) or a user's file, one word a line; held as a sorted
 * array of lowercased words searched by bisection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"
#include "task/keywords_internal.h"

extern const unsigned char slm_stopwords_en[];
extern const size_t slm_stopwords_en_len;

struct kw_stopwords {
    char **words;
    size_t n;
};

static int compare_words(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void kw_stopwords_free(kw_stopwords *sw) {
    if (!sw) return;
    for (size_t i = 0; i < sw->n; i++) free(sw->words[i]);
    free(sw->words);
    free(sw);
}

/* Parses lines of text into sw (lowercased, trimmed; '#' comment lines and blanks skipped). */
static slm_status parse_lines(kw_stopwords *sw, const char *text, size_t len, const char *origin) {
    size_t cap = 0, line_no = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line_no++;
        size_t a = pos, b = end;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) b--;
        pos = end + 1;
        if (a == b || text[a] == '#') continue;
        utf8proc_uint8_t *lower = NULL;
        utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)text + a, (utf8proc_ssize_t)(b - a), &lower,
                                          UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE);
        if (k < 0) return slm_error(SLM_ERR_FORMAT, "%s: line %zu is not valid UTF-8", origin, line_no);
        if (sw->n == cap) {
            cap = cap ? 2 * cap : 256;
            char **grown = (char **)realloc(sw->words, cap * sizeof(char *));
            if (!grown) {
                free(lower);
                return slm_error(SLM_ERR_NOMEM, "out of memory reading stopwords");
            }
            sw->words = grown;
        }
        sw->words[sw->n++] = (char *)lower;
    }
    qsort(sw->words, sw->n, sizeof(char *), compare_words);
    return SLM_OK;
}

slm_status kw_stopwords_load(const char *path, kw_stopwords **out) {
    *out = NULL;
    kw_stopwords *sw = (kw_stopwords *)calloc(1, sizeof *sw);
    if (!sw) return slm_error(SLM_ERR_NOMEM, "out of memory");
    slm_status st;
    if (!path) {
        st = parse_lines(sw, (const char *)slm_stopwords_en, slm_stopwords_en_len, "built-in stopwords");
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) {
            kw_stopwords_free(sw);
            return slm_error(SLM_ERR_IO, "%s: cannot open the stopword file", path);
        }
        size_t cap = 1 << 16, n = 0;
        char *buf = (char *)malloc(cap);
        size_t got;
        while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
            n += got;
            if (n == cap) {
                char *grown = (char *)realloc(buf, cap * 2);
                if (!grown) {
                    free(buf);
                    buf = NULL;
                    break;
                }
                buf = grown;
                cap *= 2;
            }
        }
        fclose(f);
        if (!buf) {
            kw_stopwords_free(sw);
            return slm_error(SLM_ERR_NOMEM, "out of memory reading %s", path);
        }
        st = parse_lines(sw, buf, n, path);
        free(buf);
    }
    if (st != SLM_OK) {
        kw_stopwords_free(sw);
        return st;
    }
    *out = sw;
    return SLM_OK;
}

int kw_stopwords_has(const kw_stopwords *sw, const char *word, size_t len) {
    size_t lo = 0, hi = sw->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *w = sw->words[mid];
        int c = strncmp(w, word, len);
        if (c == 0) c = w[len] == '\0' ? 0 : 1;
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}
