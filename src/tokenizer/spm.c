/* spm.c — SentencePiece-style BPE: encode by repeatedly merging the adjacent pair whose union
 * is the highest-scoring piece (leftmost first on ties), byte fallback for what no piece
 * covers; decode as SentencePiece does. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/tokenizer.h"

#define SPACE_MARK "\xE2\x96\x81" /* U+2581, SentencePiece's visible space */
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* A growable array of token ids. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} id_list;

static bool ids_push(id_list *l, int32_t id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int32_t *p = realloc(l->ids, cap * sizeof *p);
        if (!p) return false;
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return true;
}

/* A growable byte buffer. */
typedef struct {
    char *s;
    size_t n, cap;
} byte_buf;

static bool buf_put(byte_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return false;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

/* ---------------------------------------------------------------- BPE over one fragment */

typedef struct {
    uint32_t start, len; /* bytes of the normalised text */
    int32_t prev, next;  /* neighbours in the live list, -1 at the ends */
} symbol;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t len; /* combined length when queued: stale if either side changed since */
} pair;

typedef struct {
    pair *items;
    size_t n, cap;
} pair_heap;

/* Higher score first; on equal scores the leftmost pair first. */
static bool pair_before(const pair *a, const pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static bool heap_push(pair_heap *h, pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        pair *q = realloc(h->items, cap * sizeof *q);
        if (!q) return false;
        h->items = q;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h->items[parent])) break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = p;
    return true;
}

static pair heap_pop(pair_heap *h) {
    pair top = h->items[0], last = h->items[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && pair_before(&h->items[c + 1], &h->items[c])) c++;
        if (!pair_before(&h->items[c], &last)) break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->n) h->items[i] = last;
    return top;
}

static bool mergeable(const slm_tokenizer *tok, int id) {
    return id >= 0 && (tok->type[id] == TOKEN_NORMAL || tok->type[id] == TOKEN_USER_DEFINED ||
                       tok->type[id] == TOKEN_UNUSED);
}

static bool try_queue(const slm_tokenizer *tok, const char *text, const symbol *sym, int32_t left,
                      pair_heap *heap) {
    if (left < 0 || sym[left].next < 0) return true;
    int32_t right = sym[left].next;
    uint32_t len = sym[left].len + sym[right].len;
    int id = tokenizer_find(tok, text + sym[left].start, len);
    if (!mergeable(tok, id)) return true;
    pair p = {tok->score[id], left, right, len};
    return heap_push(heap, p);
}

/* Emits the ids of one piece of normalised text (spaces already "▁"). */
static slm_status bpe_fragment(const slm_tokenizer *tok, const char *text, size_t n, id_list *out) {
    if (n == 0) return SLM_OK;
    symbol *sym = slm_malloc(n * sizeof(symbol), "BPE symbols");
    pair_heap heap = {0};
    if (!sym) return SLM_ERR_NOMEM;
    int32_t n_sym = 0;
    for (size_t pos = 0; pos < n;) {
        size_t cl = slm_utf8_lead_len((unsigned char)text[pos]);
        if (cl > n - pos) cl = n - pos;
        sym[n_sym] = (symbol){(uint32_t)pos, (uint32_t)cl, n_sym - 1, -1};
        if (n_sym > 0) sym[n_sym - 1].next = n_sym;
        n_sym++;
        pos += cl;
    }
    slm_status st = SLM_OK;
    for (int32_t i = 0; i + 1 < n_sym; i++)
        if (!try_queue(tok, text, sym, i, &heap)) st = SLM_ERR_NOMEM;
    while (st == SLM_OK && heap.n > 0) {
        pair p = heap_pop(&heap);
        symbol *l = &sym[p.left], *r = &sym[p.right];
        if (l->len == 0 || r->len == 0 || l->next != p.right || l->len + r->len != p.len) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if (!try_queue(tok, text, sym, l->prev, &heap) || !try_queue(tok, text, sym, p.left, &heap))
            st = SLM_ERR_NOMEM;
    }
    for (int32_t i = 0; st == SLM_OK && i >= 0 && i < n_sym; i = sym[i].next) {
        int id = tokenizer_find(tok, text + sym[i].start, sym[i].len);
        if (mergeable(tok, id)) {
            if (!ids_push(out, id)) st = SLM_ERR_NOMEM;
            continue;
        }
        for (uint32_t b = 0; b < sym[i].len && st == SLM_OK; b++) {
            int bid = tok->byte_token[(uint8_t)text[sym[i].start + b]];
            if (bid < 0) bid = tok->unk;
            if (bid < 0) st = slm_error(SLM_ERR_RANGE, "tokenizer: a character has no token, no byte token and no <unk>");
            else if (!ids_push(out, bid)) st = SLM_ERR_NOMEM;
            if (bid == tok->unk) break; /* one <unk> per unknown character */
        }
    }
    free(sym);
    free(heap.items);
    return st;
}

/* Appends text to b with spaces turned into "▁" and invalid UTF-8 bytes into U+FFFD (as
 * SentencePiece's normaliser does). */
static bool normalise_into(byte_buf *b, const char *text, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t cl = slm_utf8_valid_len(text + i, n - i);
        bool ok;
        if (cl == 0) ok = buf_put(b, REPLACEMENT, 3), cl = 1;
        else if (text[i] == ' ') ok = buf_put(b, SPACE_MARK, 3);
        else ok = buf_put(b, text + i, cl);
        if (!ok) return false;
        i += cl;
    }
    return true;
}

/* Copies text without leading and trailing spaces and with runs of spaces made one (as
 * SentencePiece's remove_extra_whitespaces). */
static bool squeeze_spaces(byte_buf *b, const char *text, size_t n) {
    if (!buf_put(b, "", 0)) return false;
    size_t i = 0;
    while (i < n && text[i] == ' ') i++;
    while (n > i && text[n - 1] == ' ') n--;
    for (; i < n; i++)
        if (!(text[i] == ' ' && text[i - 1] == ' ') && !buf_put(b, text + i, 1)) return false;
    return true;
}

/* The special token (user-defined always, control too with parse_special) that text starts
 * with, longest first; -1 if none. */
static int match_special(const slm_tokenizer *tok, const char *text, size_t n, int parse_special) {
    for (int i = 0; i < tok->n_specials; i++) {
        int id = tok->specials[i];
        if (tok->type[id] == TOKEN_CONTROL && !parse_special) continue;
        if (tok->len[id] <= n && memcmp(text, tok->text[id], tok->len[id]) == 0) return id;
    }
    return -1;
}

slm_status slm_tokenize(const slm_tokenizer *tok, const char *text, size_t len,
                        const slm_tokenize_options *opts, int32_t **ids, size_t *n_ids) {
    if (!tok || (!text && len) || !ids || !n_ids) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenize: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    slm_tokenize_options o = opts ? *opts : (slm_tokenize_options){tok->add_bos, 0};
    id_list out = {0};
    byte_buf frag = {0}, trimmed = {0};
    slm_status st = SLM_OK;
    if (tok->remove_extra_spaces && len > 0) {
        if (!squeeze_spaces(&trimmed, text, len)) return slm_error(SLM_ERR_NOMEM, "tokenizer: out of memory");
        text = trimmed.s;
        len = trimmed.n;
    }
    if (o.add_bos && tok->bos >= 0 && !ids_push(&out, tok->bos)) st = SLM_ERR_NOMEM;
    bool prev_special = true; /* a space prefix goes before the first text and after specials */
    size_t pos = 0, frag_start = 0;
    while (st == SLM_OK && pos <= len) {
        int sid = pos < len && tok->n_specials ? match_special(tok, text + pos, len - pos, o.parse_special) : -1;
        if (sid < 0 && pos < len) {
            pos++;
            continue;
        }
        if (pos > frag_start) { /* text before the special token (or the end) */
            frag.n = 0;
            bool ok = true;
            if (tok->add_space_prefix && prev_special) ok = buf_put(&frag, SPACE_MARK, 3);
            ok = ok && normalise_into(&frag, text + frag_start, pos - frag_start);
            if (!ok) st = SLM_ERR_NOMEM;
            else st = bpe_fragment(tok, frag.s, frag.n, &out);
            prev_special = false;
        }
        if (sid < 0) break;
        if (st == SLM_OK && !ids_push(&out, sid)) st = SLM_ERR_NOMEM;
        prev_special = true;
        pos += tok->len[sid];
        frag_start = pos;
    }
    free(frag.s);
    free(trimmed.s);
    if (st != SLM_OK) {
        free(out.ids);
        return st == SLM_ERR_NOMEM ? slm_error(st, "tokenizer: out of memory") : st;
    }
    *ids = out.ids ? out.ids : malloc(sizeof(int32_t));
    *n_ids = out.n;
    return *ids ? SLM_OK : slm_error(SLM_ERR_NOMEM, "tokenizer: out of memory");
}

/* ---------------------------------------------------------------- decoding */

/* Appends bytes with each invalid UTF-8 byte replaced by U+FFFD. */
static bool put_bytes_lossy(byte_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t cl = slm_utf8_valid_len(s + i, n - i);
        if (cl == 0) {
            if (!buf_put(b, REPLACEMENT, 3)) return false;
            i++;
        } else {
            if (!buf_put(b, s + i, cl)) return false;
            i += cl;
        }
    }
    return true;
}

/* Appends a piece with "▁" turned into ' ', dropping a leading "▁" when strip_lead is set. */
static bool put_piece(byte_buf *b, const char *p, size_t n, bool strip_lead) {
    size_t i = 0;
    if (strip_lead && n >= 3 && memcmp(p, SPACE_MARK, 3) == 0) i = 3;
    while (i < n) {
        if (n - i >= 3 && memcmp(p + i, SPACE_MARK, 3) == 0) {
            if (!buf_put(b, " ", 1)) return false;
            i += 3;
        } else {
            if (!buf_put(b, p + i, 1)) return false;
            i++;
        }
    }
    return true;
}

slm_status slm_detokenize(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids,
                          char **text, size_t *len) {
    if (!tok || (!ids && n_ids) || !text) return slm_error(SLM_ERR_INVALID_ARG, "slm_detokenize: NULL argument");
    *text = NULL;
    byte_buf out = {0}, bytes = {0};
    bool ok = buf_put(&out, "", 0);
    bool seen_text = false; /* the dummy-prefix space is dropped from the first non-control piece */
    for (size_t i = 0; ok && i < n_ids; i++) {
        int id = ids[i];
        if (id < 0 || id >= tok->n_vocab) {
            free(out.s);
            free(bytes.s);
            return slm_error(SLM_ERR_RANGE, "detokenize: token id %d at index %zu is outside the vocabulary (%d)", id, i, tok->n_vocab);
        }
        if (tok->type[id] == TOKEN_BYTE) {
            char c = (char)tok->byte_value[id];
            ok = buf_put(&bytes, &c, 1);
            seen_text = true;
            continue;
        }
        if (bytes.n) {
            ok = put_bytes_lossy(&out, bytes.s, bytes.n);
            bytes.n = 0;
        }
        if (tok->type[id] == TOKEN_CONTROL) continue;
        if (tok->type[id] == TOKEN_UNKNOWN) ok = ok && buf_put(&out, " \xE2\x81\x87 ", 5);
        else ok = ok && put_piece(&out, tok->text[id], tok->len[id], tok->add_space_prefix && !seen_text);
        seen_text = true;
    }
    if (ok && bytes.n) ok = put_bytes_lossy(&out, bytes.s, bytes.n);
    free(bytes.s);
    if (!ok) {
        free(out.s);
        return slm_error(SLM_ERR_NOMEM, "detokenize: out of memory");
    }
    *text = out.s;
    if (len) *len = out.n;
    return SLM_OK;
}

int slm_token_to_bytes(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap) {
    if (id < 0 || id >= tok->n_vocab) return -1;
    byte_buf b = {0};
    bool ok = true;
    switch (tok->type[id]) {
    case TOKEN_CONTROL: break;
    case TOKEN_BYTE: {
        char c = (char)tok->byte_value[id];
        ok = buf_put(&b, &c, 1);
        break;
    }
    case TOKEN_UNKNOWN: ok = buf_put(&b, " \xE2\x81\x87 ", 5); break;
    default:
        ok = put_piece(&b, tok->text[id], tok->len[id],
                       tok->add_space_prefix && (prev < 0 || prev == tok->bos));
    }
    size_t n = ok ? b.n : 0;
    if (n > cap) n = cap;
    if (n) memcpy(buf, b.s, n);
    free(b.s);
    return (int)n;
}
