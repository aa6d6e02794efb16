/* dataset.c — slm_dataset_load: labelled texts from TSV, CSV (RFC 4180), JSONL, the Kim-2014
 * "label text" lines, or plain lines. A file is cut into records (fields with the line they
 * start on), each record becomes a (text, label) pair; every error names file:line. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/textbuf.h"

#define MAX_FILE_BYTES ((size_t)1 << 31)

/* One field of a record: bytes borrowed from the file buffer, or from `owned` (a CSV field
 * with doubled quotes undone). */
typedef struct {
    const char *s;
    size_t n;
} field;

typedef struct {
    field *fields;
    int n, cap;
    char *owned; /* unescaped bytes of quoted CSV fields: one buffer as long as the file (an
                    unescaped field is never longer than its source), filled from the front */
    size_t owned_n;
    int line;    /* the line the record starts on (1-based) */
} record;

/* The loader's state: the file, the options, the growing result. */
typedef struct {
    const char *path;
    slm_dataset_params p;
    slm_dataset *out;
    size_t cap;
    int text_col, label_col; /* columns of a TSV/CSV row (label_col -1: none) */
} loader;

static slm_status push_field(record *r, const char *s, size_t n) {
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 8;
        field *f = realloc(r->fields, (size_t)cap * sizeof *f);
        if (!f) return slm_error(SLM_ERR_NOMEM, "out of memory reading a record");
        r->fields = f;
        r->cap = cap;
    }
    r->fields[r->n++] = (field){s, n};
    return SLM_OK;
}

/* ---------------------------------------------------------------- text decoding */

/* Windows-1252's characters for 0x80..0x9F (0 where it defines none: those bytes keep their
 * Latin-1 meaning, the C1 control of the same number). */
static const unsigned short CP1252_HIGH[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

static int put_codepoint(byte_buf *b, unsigned cp) {
    char u[3];
    if (cp < 0x80) {
        u[0] = (char)cp;
        return buf_put(b, u, 1);
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        return buf_put(b, u, 2);
    }
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    return buf_put(b, u, 3);
}

/* Offset of the first byte of s[0..n) that does not start a valid UTF-8 character, or n. */
static size_t first_invalid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t k = slm_utf8_valid_len(s + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* A NUL-terminated, valid UTF-8 copy of s[0..n) per the decoding option (NULL on error, set). */
static char *decode_text(const loader *L, int line, const char *what, const char *s, size_t n) {
    size_t bad = first_invalid(s, n);
    if (bad == n) {
        char *c = slm_strndup(s, n);
        if (!c) slm_error(SLM_ERR_NOMEM, "out of memory");
        return c;
    }
    if (L->p.decoding == SLM_DECODE_STRICT) {
        slm_error(SLM_ERR_FORMAT,
                  "%s:%d: invalid UTF-8 in the %s (byte 0x%02X at byte %zu of the field); "
                  "read it as Latin-1 or replace invalid bytes with an encoding option",
                  L->path, line, what, (unsigned char)s[bad], bad + 1);
        return NULL;
    }
    byte_buf b = {0};
    int ok = buf_put(&b, "", 0);
    for (size_t i = 0; ok && i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (L->p.decoding == SLM_DECODE_LATIN1) { /* the whole field is single-byte text */
            unsigned cp = c >= 0x80 && c < 0xA0 && CP1252_HIGH[c - 0x80] ? CP1252_HIGH[c - 0x80] : c;
            ok = put_codepoint(&b, cp);
            i++;
            continue;
        }
        size_t k = slm_utf8_valid_len(s + i, n - i);
        if (k) {
            ok = buf_put(&b, s + i, k);
            i += k;
        } else {
            ok = put_codepoint(&b, 0xFFFD);
            i++;
        }
    }
    if (!ok) {
        free(b.s);
        slm_error(SLM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return b.s;
}

/* ---------------------------------------------------------------- the result */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static field trim(field f) {
    while (f.n && is_space(f.s[0])) f.s++, f.n--;
    while (f.n && is_space(f.s[f.n - 1])) f.n--;
    return f;
}

static const char *label_list(const loader *L, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < L->p.n_label_names && used + 1 < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", L->p.label_names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (used + 1 >= cap && cap > 4) strcpy(buf + cap - 4, "...");
    return buf;
}

/* The index of label text `s` (decoded, trimmed, cut at label_sep), adding it when labels
 * are collected; -1 with the error set when it is not in a fixed label set. */
static int label_index(loader *L, int line, const char *s, size_t n) {
    field f = trim((field){s, n});
    if (L->p.label_sep) {
        const char *cut = memchr(f.s, L->p.label_sep, f.n);
        if (cut) f.n = (size_t)(cut - f.s);
        f = trim(f);
    }
    if (!f.n) {
        slm_error(SLM_ERR_FORMAT, "%s:%d: empty label", L->path, line);
        return -1;
    }
    char *name = decode_text(L, line, "label", f.s, f.n);
    if (!name) return -1;
    slm_dataset *d = L->out;
    if (L->p.label_names) {
        for (int i = 0; i < L->p.n_label_names; i++)
            if (strcmp(L->p.label_names[i], name) == 0) {
                free(name);
                return i;
            }
        char list[512];
        slm_error(SLM_ERR_FORMAT, "%s:%d: unknown label \"%s\" (the labels are: %s)", L->path, line, name,
                  label_list(L, list, sizeof list));
        free(name);
        return -1;
    }
    for (int i = 0; i < d->n_labels; i++)
        if (strcmp(d->label_names[i], name) == 0) {
            free(name);
            return i;
        }
    char **names = realloc(d->label_names, (size_t)(d->n_labels + 1) * sizeof *names);
    if (!names) {
        free(name);
        slm_error(SLM_ERR_NOMEM, "out of memory");
        return -1;
    }
    d->label_names = names;
    names[d->n_labels] = name;
    return d->n_labels++;
}

/* Appends one example; has_label 0 means the row gave none. */
static slm_status add_example(loader *L, int line, field text, int has_label, field label) {
    text = trim(text);
    if (!text.n) return slm_error(SLM_ERR_FORMAT, "%s:%d: empty text", L->path, line);
    int idx = -1;
    if (has_label) {
        if ((idx = label_index(L, line, label.s, label.n)) < 0) return SLM_ERR_FORMAT;
    } else if (!L->p.allow_unlabelled && L->p.format != SLM_DATA_TEXT) {
        return slm_error(SLM_ERR_FORMAT, "%s:%d: no label", L->path, line);
    }
    char *t = decode_text(L, line, "text", text.s, text.n);
    if (!t) return SLM_ERR_FORMAT;
    slm_dataset *d = L->out;
    if (d->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        char **texts = realloc(d->texts, cap * sizeof *texts);
        if (texts) d->texts = texts;
        int *labels = texts ? realloc(d->labels, cap * sizeof *labels) : NULL;
        if (!labels) {
            free(t);
            return slm_error(SLM_ERR_NOMEM, "out of memory: %zu examples", cap);
        }
        d->labels = labels;
        L->cap = cap;
    }
    d->texts[d->n] = t;
    d->labels[d->n] = idx;
    d->n++;
    return SLM_OK;
}

/* ---------------------------------------------------------------- records */

/* Cuts [s, end) at the first '\n' (a trailing '\r' dropped): the line and where the next one starts. */
static field next_line(const char *s, const char *end, const char **next) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *stop = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (stop > s && stop[-1] == '\r') stop--;
    return (field){s, (size_t)(stop - s)};
}

static int is_blank(field f) { return trim(f).n == 0; }

/* Splits a line at every `sep` into r's fields. */
static slm_status split_line(field line, char sep, record *r) {
    r->n = 0;
    const char *s = line.s, *end = line.s + line.n;
    for (;;) {
        const char *c = memchr(s, sep, (size_t)(end - s));
        slm_status st = push_field(r, s, (size_t)((c ? c : end) - s));
        if (st != SLM_OK || !c) return st;
        s = c + 1;
    }
}

/* Reads one RFC 4180 record from *pos: fields separated by ',', quoted fields may hold commas,
 * doubled quotes and line breaks. *line advances by the line breaks consumed. Quoted fields
 * are unescaped into r->owned. */
static slm_status csv_record(const loader *L, const char **pos, const char *end, int *line, record *r) {
    r->n = 0;
    r->line = *line;
    const char *s = *pos;
    for (;;) {
        slm_status st;
        if (s < end && *s == '"') {
            int open_line = *line;
            char *o = r->owned + r->owned_n;
            size_t k = 0;
            s++;
            for (;;) {
                if (s >= end)
                    return slm_error(SLM_ERR_FORMAT, "%s:%d: unterminated quoted field (the file ends on line %d)",
                                     L->path, open_line, *line);
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        o[k++] = '"';
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                if (*s == '\n') (*line)++;
                o[k++] = *s++;
            }
            r->owned_n += k;
            if ((st = push_field(r, o, k)) != SLM_OK) return st;
            if (s < end && *s == '\r') s++;
            if (s < end && *s != ',' && *s != '\n')
                return slm_error(SLM_ERR_FORMAT, "%s:%d: unexpected '%c' after a closing quote (a quote inside a "
                                 "quoted field is written twice)", L->path, *line, *s);
        } else {
            const char *f = s;
            while (s < end && *s != ',' && *s != '\n') s++;
            const char *stop = s;
            if (stop > f && stop[-1] == '\r' && (s == end || *s == '\n')) stop--;
            if ((st = push_field(r, f, (size_t)(stop - f))) != SLM_OK) return st;
        }
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '\n') {
            s++;
            (*line)++;
        }
        *pos = s;
        return SLM_OK;
    }
}

/* Whether a header row names the text column (and the label column): sets the columns. */
static int find_header(loader *L, const record *r) {
    int text = -1, label = -1;
    for (int i = 0; i < r->n; i++) {
        field f = trim(r->fields[i]);
        if (f.n == strlen(L->p.text_field) && memcmp(f.s, L->p.text_field, f.n) == 0) text = i;
        else if (f.n == strlen(L->p.label_field) && memcmp(f.s, L->p.label_field, f.n) == 0) label = i;
    }
    if (text < 0) return 0;
    L->text_col = text;
    L->label_col = label;
    return 1;
}

/* A TSV or CSV row to an example: by the header's columns, or "label, text" (a lone field is
 * an unlabelled text). */
static slm_status table_row(loader *L, const record *r, int has_header, const char *kind) {
    if (has_header) {
        int need = (L->text_col > L->label_col ? L->text_col : L->label_col) + 1;
        if (r->n < need)
            return slm_error(SLM_ERR_FORMAT, "%s:%d: %d %s field%s, the header has %d", L->path, r->line, r->n, kind,
                             r->n == 1 ? "" : "s", need);
        field none = {"", 0};
        int has_label = L->label_col >= 0 && trim(r->fields[L->label_col]).n > 0;
        return add_example(L, r->line, r->fields[L->text_col], has_label, has_label ? r->fields[L->label_col] : none);
    }
    if (r->n == 1) return add_example(L, r->line, r->fields[0], 0, r->fields[0]);
    if (r->n != 2)
        return slm_error(SLM_ERR_FORMAT, "%s:%d: %d %s fields where label and text were expected (or give a header "
                         "row naming \"%s\" and \"%s\")", L->path, r->line, r->n, kind, L->p.label_field, L->p.text_field);
    return add_example(L, r->line, r->fields[1], 1, r->fields[0]);
}

/* ---------------------------------------------------------------- one function per format */

static slm_status load_tsv(loader *L, const char *s, const char *end) {
    record r = {0};
    slm_status st = SLM_OK;
    int line = 0, first = 1, has_header = 0;
    while (st == SLM_OK && s < end) {
        field f = next_line(s, end, &s);
        line++;
        if (is_blank(f)) continue;
        if ((st = split_line(f, '\t', &r)) != SLM_OK) break;
        r.line = line;
        if (first) {
            first = 0;
            if ((has_header = find_header(L, &r))) continue;
        }
        st = table_row(L, &r, has_header, "tab-separated");
    }
    free(r.fields);
    return st;
}

static slm_status load_csv(loader *L, const char *s, const char *end) {
    record r = {0};
    slm_status st = SLM_OK;
    int line = 1, first = 1, has_header = 0;
    if (!(r.owned = malloc((size_t)(end - s) + 1))) return slm_error(SLM_ERR_NOMEM, "out of memory");
    while (st == SLM_OK && s < end) {
        if ((st = csv_record(L, &s, end, &line, &r)) != SLM_OK) break;
        if (r.n == 1 && is_blank(r.fields[0])) continue;
        if (first) {
            first = 0;
            if ((has_header = find_header(L, &r))) continue;
        }
        st = table_row(L, &r, has_header, "comma-separated");
    }
    free(r.fields);
    free(r.owned);
    return st;
}

static slm_status load_kim(loader *L, const char *s, const char *end) {
    slm_status st = SLM_OK;
    int line = 0;
    while (st == SLM_OK && s < end) {
        field f = trim(next_line(s, end, &s));
        line++;
        if (!f.n) continue;
        size_t k = 0;
        while (k < f.n && !is_space(f.s[k])) k++;
        if (k == f.n && !L->p.allow_unlabelled)
            return slm_error(SLM_ERR_FORMAT, "%s:%d: empty text (a \"label text\" line has only \"%.*s\")", L->path, line,
                             (int)(f.n < 40 ? f.n : 40), f.s);
        if (k == f.n) st = add_example(L, line, f, 0, f);
        else st = add_example(L, line, (field){f.s + k, f.n - k}, 1, (field){f.s, k});
    }
    return st;
}

static slm_status load_text(loader *L, const char *s, const char *end) {
    slm_status st = SLM_OK;
    int line = 0;
    while (st == SLM_OK && s < end) {
        field f = next_line(s, end, &s);
        line++;
        if (!is_blank(f)) st = add_example(L, line, f, 0, f);
    }
    return st;
}

/* A JSON label (string or number) as text into buf; 0 when it is neither (or null). */
static int json_label(const cJSON *v, char *buf, size_t cap, const char **s, size_t *n) {
    if (cJSON_IsString(v)) {
        *s = v->valuestring;
        *n = strlen(v->valuestring);
        return 1;
    }
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x == (double)(long long)x) snprintf(buf, cap, "%lld", (long long)x);
        else snprintf(buf, cap, "%.17g", x);
        *s = buf;
        *n = strlen(buf);
        return 1;
    }
    return 0;
}

static slm_status load_jsonl(loader *L, const char *s, const char *end) {
    slm_status st = SLM_OK;
    int line = 0;
    while (st == SLM_OK && s < end) {
        field f = trim(next_line(s, end, &s));
        line++;
        if (!f.n) continue;
        size_t bad = first_invalid(f.s, f.n);
        char *fixed = NULL;
        if (bad < f.n) { /* decode the whole line first: cJSON expects UTF-8 */
            if (!(fixed = decode_text(L, line, "line", f.s, f.n))) return SLM_ERR_FORMAT;
            f = (field){fixed, strlen(fixed)};
        }
        cJSON *obj = cJSON_ParseWithLength(f.s, f.n);
        if (!obj || !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            free(fixed);
            return slm_error(SLM_ERR_FORMAT, "%s:%d: not a JSON object", L->path, line);
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, L->p.text_field);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, L->p.label_field);
        char num[64];
        const char *ls = "";
        size_t ln = 0;
        if (!t) st = slm_error(SLM_ERR_FORMAT, "%s:%d: no \"%s\" field", L->path, line, L->p.text_field);
        else if (!cJSON_IsString(t))
            st = slm_error(SLM_ERR_FORMAT, "%s:%d: \"%s\" is not a string", L->path, line, L->p.text_field);
        else if (l && !cJSON_IsNull(l) && !json_label(l, num, sizeof num, &ls, &ln))
            st = slm_error(SLM_ERR_FORMAT, "%s:%d: \"%s\" is neither a string nor a number", L->path, line,
                           L->p.label_field);
        else {
            int has_label = l && !cJSON_IsNull(l);
            if (!has_label && !L->p.allow_unlabelled)
                st = slm_error(SLM_ERR_FORMAT, "%s:%d: no \"%s\" field", L->path, line, L->p.label_field);
            else
                st = add_example(L, line, (field){t->valuestring, strlen(t->valuestring)}, has_label, (field){ls, ln});
        }
        cJSON_Delete(obj);
        free(fixed);
    }
    return st;
}

/* ---------------------------------------------------------------- the public functions */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    if (a < b) return 0;
    for (size_t i = 0; i < b; i++)
        if (tolower((unsigned char)s[a - b + i]) != suffix[i]) return 0;
    return 1;
}

static slm_data_format format_of(const char *path) {
    if (ends_with(path, ".tsv")) return SLM_DATA_TSV;
    if (ends_with(path, ".csv")) return SLM_DATA_CSV;
    if (ends_with(path, ".jsonl") || ends_with(path, ".json")) return SLM_DATA_JSONL;
    return SLM_DATA_KIM;
}

static slm_status read_file(const char *path, char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return slm_error(SLM_ERR_IO, "%s: cannot open", path);
    byte_buf b = {0};
    char chunk[1 << 16];
    size_t got;
    int ok = buf_put(&b, "", 0);
    while (ok && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.n + got > MAX_FILE_BYTES) {
            fclose(f);
            free(b.s);
            return slm_error(SLM_ERR_RANGE, "%s: larger than %zu bytes", path, MAX_FILE_BYTES);
        }
        ok = buf_put(&b, chunk, got);
    }
    int err = ferror(f);
    fclose(f);
    if (!ok || err) {
        free(b.s);
        return ok ? slm_error(SLM_ERR_IO, "%s: read error", path) : slm_error(SLM_ERR_NOMEM, "%s: out of memory", path);
    }
    *buf = b.s;
    *len = b.n;
    return SLM_OK;
}

slm_status slm_dataset_load(const char *path, const slm_dataset_params *params, slm_dataset *out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_dataset_load: NULL argument");
    memset(out, 0, sizeof *out);
    loader L = {.path = path, .out = out, .label_col = -1};
    if (params) L.p = *params;
    if (!L.p.text_field) L.p.text_field = "text";
    if (!L.p.label_field) L.p.label_field = "label";
    if (L.p.label_names && L.p.n_label_names <= 0)
        return slm_error(SLM_ERR_INVALID_ARG, "slm_dataset_load: a fixed label set needs n_label_names > 0");
    if (L.p.decoding > SLM_DECODE_REPLACE)
        return slm_error(SLM_ERR_INVALID_ARG, "slm_dataset_load: unknown decoding %d", (int)L.p.decoding);
    if (L.p.format == SLM_DATA_AUTO) L.p.format = format_of(path);
    char *buf;
    size_t len;
    slm_status st = read_file(path, &buf, &len);
    if (st != SLM_OK) return st;
    const char *s = buf, *end = buf + len;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3; /* a UTF-8 byte-order mark */
    switch (L.p.format) {
    case SLM_DATA_TSV: st = load_tsv(&L, s, end); break;
    case SLM_DATA_CSV: st = load_csv(&L, s, end); break;
    case SLM_DATA_JSONL: st = load_jsonl(&L, s, end); break;
    case SLM_DATA_KIM: st = load_kim(&L, s, end); break;
    case SLM_DATA_TEXT: st = load_text(&L, s, end); break;
    default: st = slm_error(SLM_ERR_INVALID_ARG, "slm_dataset_load: unknown format %d", (int)L.p.format);
    }
    free(buf);
    if (st == SLM_OK && out->n == 0) st = slm_error(SLM_ERR_FORMAT, "%s: no examples", path);
    if (st == SLM_OK && L.p.label_names) { /* the fixed set is the dataset's label list */
        out->label_names = calloc((size_t)L.p.n_label_names, sizeof *out->label_names);
        if (!out->label_names) st = slm_error(SLM_ERR_NOMEM, "out of memory");
        for (int i = 0; st == SLM_OK && i < L.p.n_label_names; i++) {
            out->n_labels = i + 1;
            if (!(out->label_names[i] = slm_strndup(L.p.label_names[i], strlen(L.p.label_names[i]))))
                st = slm_error(SLM_ERR_NOMEM, "out of memory");
        }
    }
    if (st != SLM_OK) slm_dataset_free(out);
    return st;
}

void slm_dataset_free(slm_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) free(ds->texts[i]);
    for (int i = 0; i < ds->n_labels; i++) free(ds->label_names[i]);
    free(ds->texts);
    free(ds->labels);
    free(ds->label_names);
    memset(ds, 0, sizeof *ds);
}
