/* task_options.c — parsing of the options the task commands (classify, eval) share: data
 * formats, encodings, comma-separated label lists and escaped prompt templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/task_options.h"

int task_parse_format(const char *name, slm_data_format *out) {
    static const struct { const char *name; slm_data_format format; } FORMATS[] = {
        {"auto", SLM_DATA_AUTO}, {"tsv", SLM_DATA_TSV}, {"csv", SLM_DATA_CSV},   {"jsonl", SLM_DATA_JSONL},
        {"json", SLM_DATA_JSONL}, {"kim", SLM_DATA_KIM}, {"text", SLM_DATA_TEXT},
    };
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
        if (strcasecmp(name, FORMATS[i].name) == 0) {
            *out = FORMATS[i].format;
            return 0;
        }
    fprintf(stderr, "error: unknown data format \"%s\" (auto, tsv, csv, jsonl, kim, text)\n", name);
    return 1;
}

int task_parse_encoding(const char *name, slm_text_decoding *out) {
    if (strcasecmp(name, "utf-8") == 0 || strcasecmp(name, "utf8") == 0 || strcasecmp(name, "strict") == 0)
        *out = SLM_DECODE_STRICT;
    else if (strcasecmp(name, "latin1") == 0 || strcasecmp(name, "latin-1") == 0 || strcasecmp(name, "cp1252") == 0 ||
             strcasecmp(name, "windows-1252") == 0)
        *out = SLM_DECODE_LATIN1;
    else if (strcasecmp(name, "replace") == 0)
        *out = SLM_DECODE_REPLACE;
    else {
        fprintf(stderr, "error: unknown encoding \"%s\" (utf-8, latin1, replace)\n", name);
        return 1;
    }
    return 0;
}

void task_free_list(char **items, int n) {
    for (int i = 0; items && i < n; i++) free(items[i]);
    free(items);
}

char **task_split_list(const char *list, int *n) {
    int count = 1;
    for (const char *c = list; *c; c++) count += *c == ',';
    char **items = calloc((size_t)count, sizeof *items);
    if (!items) return NULL;
    const char *s = list;
    for (int i = 0; i < count; i++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        while (len && (*s == ' ')) s++, len--;
        while (len && s[len - 1] == ' ') len--;
        if (!len || !(items[i] = strndup(s, len))) {
            if (!len) fprintf(stderr, "error: empty item %d in the list \"%s\"\n", i + 1, list);
            task_free_list(items, count);
            return NULL;
        }
        s = comma ? comma + 1 : s + len;
    }
    *n = count;
    return items;
}

char *task_unescape(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) return NULL;
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
    return out;
}

int task_is_dataset_path(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot && (strcasecmp(dot, ".tsv") == 0 || strcasecmp(dot, ".csv") == 0 || strcasecmp(dot, ".jsonl") == 0 ||
                   strcasecmp(dot, ".json") == 0);
}
