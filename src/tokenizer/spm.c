/* spm.c — SentencePiece-style BPE: encode by repeatedly merging the adjacent pair whose union
 * is the highest-scoring piece (leftmost first on ties), byte fallback for what no piece
 * covers; decode as SentencePiece does. tokenizer.c splits the text at special tokens and
 * calls in here per fragment. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/merge_queue.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/tokenizer.h"

#define SPACE_MARK "\xE2\x96\x81" /* U+2581, SentencePiece's visible space */
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* ---------------------------------------------------------------- merging, over one fragment */

typedef struct {
    uint32_t start, len; /* bytes of the normalised text */
    int32_t prev, next;  /* neighbours in the live list, -1 at the ends */
} symbol;

/* Queued merges (merge_queue.h): key = -(score of the merged piece), so the highest score
 * merges first; check[0] = the combined length when queued (stale if either side changed). */

/* Bytes of the initial symbol a byte starts, from its high nibble alone (as llama.cpp splits:
 * an invalid byte may take its neighbours into one symbol, which then falls back to bytes). */
static size_t symbol_len(unsigned char c) {
    static const uint8_t by_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_nibble[c >> 4];
}

static bool mergeable(const slm_tokenizer *tok, int id) {
    return id >= 0 && (tok->type[id] == TOKEN_NORMAL || tok->type[id] == TOKEN_USER_DEFINED ||
                       tok->type[id] == TOKEN_UNUSED);
}

static bool try_queue(const slm_tokenizer *tok, const char *text, const symbol *sym, int32_t left,
                      merge_queue *queue) {
    if (left < 0 || sym[left].next < 0) return true;
    int32_t right = sym[left].next;
    uint32_t len = sym[left].len + sym[right].len;
    int id = tokenizer_find(tok, text + sym[left].start, len);
    if (!mergeable(tok, id)) return true;
    return merge_queue_push(queue, (merge_candidate){-(double)tok->score[id], left, right, {(int32_t)len, 0, 0}});
}

/* Emits the ids of one piece of normalised text (spaces already "▁"). */
static slm_status merge_fragment(const slm_tokenizer *tok, const char *text, size_t n, id_list *out) {
    if (n == 0) return SLM_OK;
    symbol *sym = slm_malloc(n * sizeof(symbol), "BPE symbols");
    merge_queue queue = {0};
    if (!sym) return SLM_ERR_NOMEM;
    int32_t n_sym = 0;
    for (size_t pos = 0; pos < n;) {
        size_t cl = symbol_len((unsigned char)text[pos]);
        if (cl > n - pos) cl = n - pos;
        sym[n_sym] = (symbol){(uint32_t)pos, (uint32_t)cl, n_sym - 1, -1};
        if (n_sym > 0) sym[n_sym - 1].next = n_sym;
        n_sym++;
        pos += cl;
    }
    slm_status st = SLM_OK;
    for (int32_t i = 0; i + 1 < n_sym; i++)
        if (!try_queue(tok, text, sym, i, &queue)) st = SLM_ERR_NOMEM;
    while (st == SLM_OK && queue.n > 0) {
        merge_candidate p = merge_queue_pop(&queue);
        symbol *l = &sym[p.left], *r = &sym[p.right];
        if (l->len == 0 || r->len == 0 || l->next != p.right || l->len + r->len != (uint32_t)p.check[0]) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if (!try_queue(tok, text, sym, l->prev, &queue) || !try_queue(tok, text, sym, p.left, &queue))
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
    free(queue.items);
    return st;
}

/* Appends text to b with spaces turned into "▁"; invalid UTF-8 bytes become U+FFFD (as
 * SentencePiece's normaliser does) when replace_invalid is set, else stay raw bytes that fall
 * back to byte tokens (as llama.cpp does). */
static bool normalise_into(byte_buf *b, const char *text, size_t n, bool replace_invalid) {
    for (size_t i = 0; i < n;) {
        size_t cl = slm_utf8_valid_len(text + i, n - i);
        bool ok;
        if (cl == 0) ok = replace_invalid ? buf_put(b, REPLACEMENT, 3) : buf_put(b, text + i, 1), cl = 1;
        else if (text[i] == ' ') ok = buf_put(b, SPACE_MARK, 3);
        else ok = buf_put(b, text + i, cl);
        if (!ok) return false;
        i += cl;
    }
    return true;
}

bool spm_squeeze_spaces(byte_buf *b, const char *text, size_t n) {
    if (!buf_put(b, "", 0)) return false;
    size_t i = 0;
    while (i < n && text[i] == ' ') i++;
    while (n > i && text[n - 1] == ' ') n--;
    for (; i < n; i++)
        if (!(text[i] == ' ' && text[i - 1] == ' ') && !buf_put(b, text + i, 1)) return false;
    return true;
}

slm_status spm_encode_fragment(const slm_tokenizer *tok, const char *text, size_t n, bool space_prefix, id_list *out) {
    byte_buf frag = {0};
    bool ok = buf_put(&frag, "", 0);
    if (ok && space_prefix) ok = buf_put(&frag, SPACE_MARK, 3);
    ok = ok && normalise_into(&frag, text, n, tok->replace_invalid_utf8);
    slm_status st = ok ? merge_fragment(tok, frag.s, frag.n, out) : slm_error(SLM_ERR_NOMEM, "tokenizer: out of memory");
    free(frag.s);
    return st;
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

slm_status spm_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len) {
    byte_buf out = {0}, bytes = {0};
    bool ok = buf_put(&out, "", 0);
    bool seen_text = false; /* the dummy-prefix space is dropped from the first non-control piece */
    for (size_t i = 0; ok && i < n_ids; i++) {
        int id = ids[i];
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

int spm_token_to_bytes(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap) {
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
