/* token_tagging.c — BIO token classification over WordPiece windows: splitting a text into
 * treebank-like words, tokenising words into pieces, cutting a document's pieces into
 * overlapping windows with labels on each word's first piece, and decoding BIO spans. */
#include "train/token_tagging.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/tokenizer.h"

static int is_space_byte(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0; }

/* ASCII punctuation peeled off the edges of a whitespace-separated chunk. */
static int is_edge_punct(unsigned char c) {
    return (c >= '!' && c <= '/' && c != '#' && c != '&' && c != '%') || (c >= ':' && c <= '@') ||
           (c >= '[' && c <= '`' && c != '_') || (c >= '{' && c <= '~');
}

typedef struct {
    tag_word *w;
    int n, cap;
} word_vec;

static int push_word(word_vec *v, size_t start, size_t end) {
    if (v->n == v->cap) {
        const int cap = v->cap ? v->cap * 2 : 256;
        tag_word *w = realloc(v->w, sizeof *w * (size_t)cap);
        if (!w) return 0;
        v->w = w;
        v->cap = cap;
    }
    v->w[v->n++] = (tag_word){(uint32_t)start, (uint32_t)end};
    return 1;
}

/* Pushes the words of chunk [a, b): leading punctuation, the core, trailing punctuation. */
static int push_chunk(word_vec *v, const char *s, size_t a, size_t b) {
    size_t lo = a, hi = b;
    while (lo < hi && is_edge_punct((unsigned char)s[lo])) lo++;
    while (hi > lo && is_edge_punct((unsigned char)s[hi - 1])) hi--;
    for (size_t i = a; i < lo; i++)
        if (!push_word(v, i, i + 1)) return 0;
    if (hi > lo && !push_word(v, lo, hi)) return 0;
    for (size_t i = hi > lo ? hi : lo; i < b; i++)
        if (!push_word(v, i, i + 1)) return 0;
    return 1;
}

slm_status tag_split_words(const char *text, size_t len, tag_word **out, int *n) {
    *out = NULL;
    *n = 0;
    if (len > 0xFFFFFFF0u) return slm_error(SLM_ERR_INVALID_ARG, "tagging: a text of %zu bytes is too long", len);
    word_vec v = {0};
    size_t i = 0, chunk = (size_t)-1;
    while (i < len) {
        const unsigned char c = (unsigned char)text[i];
        size_t step = 1;
        int space = is_space_byte(c);
        if (c >= 0x80) { /* a whole valid UTF-8 character, or one invalid byte (a separator) */
            const size_t lead = slm_utf8_lead_len(c);
            if (lead > 1 && i + lead <= len && slm_utf8_valid_len(text + i, lead) == lead) step = lead;
            else space = 1;
        }
        if (space) {
            if (chunk != (size_t)-1 && !push_chunk(&v, text, chunk, i)) goto nomem;
            chunk = (size_t)-1;
        } else if (chunk == (size_t)-1) {
            chunk = i;
        }
        i += step;
    }
    if (chunk != (size_t)-1 && !push_chunk(&v, text, chunk, len)) goto nomem;
    *out = v.w;
    *n = v.n;
    return SLM_OK;
nomem:
    free(v.w);
    return slm_error(SLM_ERR_NOMEM, "tagging: out of memory splitting a text");
}

void tag_pieces_free(tag_pieces *p) {
    free(p->pieces);
    free(p->first);
    memset(p, 0, sizeof *p);
}

slm_status tag_encode_words(const slm_tokenizer *tok, const char *const *words, const size_t *lens, int n_words,
                            tag_pieces *out) {
    memset(out, 0, sizeof *out);
    const int cls = slm_token_bos(tok), sep = tok->kind == TOKENIZER_WPM ? tok->sep : slm_token_eos(tok);
    const slm_tokenize_options opts = {.add_bos = 0, .parse_special = 0};
    size_t cap = (size_t)n_words * 2 + 16;
    out->pieces = malloc(sizeof(int32_t) * cap);
    out->first = malloc(sizeof(int) * ((size_t)n_words + 1));
    if (!out->pieces || !out->first) {
        tag_pieces_free(out);
        return slm_error(SLM_ERR_NOMEM, "tagging: out of memory");
    }
    out->n_words = n_words;
    for (int w = 0; w < n_words; w++) {
        out->first[w] = out->n_pieces;
        int32_t *ids;
        size_t n;
        slm_status st = slm_tokenize(tok, words[w], lens[w], &opts, &ids, &n);
        if (st != SLM_OK) {
            tag_pieces_free(out);
            return st;
        }
        size_t a = 0, b = n; /* drop [CLS] / [SEP] if the tokenizer added them anyway */
        if (b > a && cls >= 0 && ids[a] == cls) a++;
        if (b > a && sep >= 0 && ids[b - 1] == sep) b--;
        if ((size_t)out->n_pieces + (b - a) > cap) {
            cap = ((size_t)out->n_pieces + (b - a)) * 2;
            int32_t *grown = realloc(out->pieces, sizeof(int32_t) * cap);
            if (!grown) {
                slm_free(ids);
                tag_pieces_free(out);
                return slm_error(SLM_ERR_NOMEM, "tagging: out of memory");
            }
            out->pieces = grown;
        }
        for (size_t j = a; j < b; j++) out->pieces[out->n_pieces++] = ids[j];
        slm_free(ids);
    }
    out->first[n_words] = out->n_pieces;
    return SLM_OK;
}

int tag_window_starts(int n_pieces, int max_len, int *starts, int cap) {
    const int width = max_len - 2;
    if (n_pieces <= width) {
        if (cap > 0) starts[0] = 0;
        return 1;
    }
    const int stride = width / 2 > 0 ? width / 2 : 1;
    int n = 0;
    for (int s = 0;; s += stride) {
        const int last = s + width >= n_pieces;
        const int start = last ? n_pieces - width : s;
        if (n < cap) starts[n] = start;
        n++;
        if (last) break;
    }
    return n;
}

void tag_window_row(const tag_pieces *doc, int start, int max_len, int32_t cls, int32_t sep, int32_t *row,
                    int *len, const uint8_t *word_tags, int32_t *labels) {
    const int width = max_len - 2;
    const int end = start + width < doc->n_pieces ? start + width : doc->n_pieces;
    int k = 0;
    if (labels) labels[k] = -1;
    row[k++] = cls;
    /* the word whose pieces contain `start` */
    int w = 0;
    while (w < doc->n_words && doc->first[w + 1] <= start) w++;
    for (int p = start; p < end; p++) {
        while (w < doc->n_words && doc->first[w + 1] <= p) w++;
        if (labels) labels[k] = w < doc->n_words && doc->first[w] == p ? word_tags[w] : -1;
        row[k++] = doc->pieces[p];
    }
    if (labels) labels[k] = -1;
    row[k++] = sep;
    *len = k;
}

int tag_decode_spans(const uint8_t *tags, int n, int *span_start, int *span_end, int cap) {
    int count = 0, open = -1;
    for (int i = 0; i <= n; i++) {
        const int t = i < n ? tags[i] : TAG_O;
        const int closes = open >= 0 && t != TAG_I;
        if (closes) {
            if (count < cap) span_start[count] = open, span_end[count] = i;
            count++;
            open = -1;
        }
        if (t == TAG_B || (t == TAG_I && open < 0)) open = i;
    }
    return count;
}
