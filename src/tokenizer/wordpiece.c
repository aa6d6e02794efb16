/* wordpiece.c — BERT's WordPiece tokenizer: the uncased basic tokenizer (drop control
 * characters, whitespace to spaces, spaces around CJK ideographs, NFD with accents removed,
 * lower-casing, every punctuation character its own word), then greedy longest-match-first
 * WordPiece per word; and the decoder. Unicode data comes from utf8proc. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/tokenizer.h"

/* Words longer than this many characters become [UNK] (Hugging Face's max_input_chars_per_word). */
#define WPM_MAX_WORD_CHARS 100
static const char WORD_MARK[] = "\xE2\x96\x81"; /* "▁" before word-initial pieces */

char *wpm_piece_from_hf(const char *piece, size_t n, uint32_t *len) {
    const char *src = piece;
    size_t keep = n, mark = 0;
    if (n >= 2 && piece[0] == '[' && piece[n - 1] == ']') keep = n;
    else if (n >= 2 && piece[0] == '#' && piece[1] == '#') src += 2, keep = n - 2;
    else mark = 3;
    char *out = malloc(mark + keep + 1);
    if (!out) return NULL;
    memcpy(out, WORD_MARK, mark);
    memcpy(out + mark, src, keep);
    out[mark + keep] = '\0';
    *len = (uint32_t)(mark + keep);
    return out;
}

/* ---- character classes, as BERT's basic tokenizer defines them ---- */

/* Control, format, private-use and surrogate characters (Cc, Cf, Co, Cs), as the tokenizers
 * package counts them; unassigned code points (Cn) stay, and become [UNK]. */
static int is_control(utf8proc_int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

static int is_whitespace(utf8proc_int32_t c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

static int is_punctuation(utf8proc_int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* CJK Unified Ideographs and their extensions and compatibility blocks (not kana or hangul). */
static int is_cjk(utf8proc_int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ---- the basic tokenizer: text -> normalised words ---- */

/* The words of a fragment: normalised UTF-8 in text, word i at [start[i], start[i+1]). */
typedef struct {
    byte_buf text;
    size_t *start;
    size_t n, cap;
} word_list;

static int words_begin(word_list *w) {
    if (w->n + 2 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        size_t *p = realloc(w->start, cap * sizeof *p);
        if (!p) return 0;
        w->start = p;
        w->cap = cap;
    }
    w->start[w->n++] = w->text.n;
    return 1;
}

/* Appends one normalised character: spaces end words, punctuation is a word of its own. */
static int words_put(word_list *w, utf8proc_int32_t c, int *in_word) {
    if (c == ' ') {
        *in_word = 0;
        return 1;
    }
    uint8_t enc[4];
    utf8proc_ssize_t k = utf8proc_encode_char(c, enc);
    if (is_punctuation(c)) {
        *in_word = 0;
        return words_begin(w) && buf_put(&w->text, (const char *)enc, (size_t)k);
    }
    if (!*in_word) {
        if (!words_begin(w)) return 0;
        *in_word = 1;
    }
    return buf_put(&w->text, (const char *)enc, (size_t)k);
}

static slm_status basic_tokenize(const char *s, size_t n, word_list *w) {
    int in_word = 0;
    size_t i = 0;
    while (i < n) {
        size_t k = slm_utf8_valid_len(s + i, n - i);
        if (k == 0) { /* invalid UTF-8: U+FFFD, which the clean-up drops */
            i++;
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)k, &c);
        i += k;
        if (c == 0 || c == 0xFFFD || is_control(c)) continue;
        if (is_whitespace(c)) c = ' ';
        int cjk = is_cjk(c);
        if (cjk) in_word = 0;
        utf8proc_int32_t parts[32];
        int last_class;
        utf8proc_ssize_t np = utf8proc_decompose_char(c, parts, 32, UTF8PROC_DECOMPOSE, &last_class);
        if (np < 0 || np > 32) np = 1, parts[0] = c;
        for (utf8proc_ssize_t j = 0; j < np; j++) {
            utf8proc_int32_t d = parts[j];
            if (utf8proc_category(d) == UTF8PROC_CATEGORY_MN) continue; /* accents */
            if (!words_put(w, utf8proc_tolower(d), &in_word)) return SLM_ERR_NOMEM;
        }
        if (cjk) in_word = 0;
    }
    if (!words_begin(w)) return SLM_ERR_NOMEM; /* the end of the last word */
    w->n--;
    return SLM_OK;
}

/* ---- WordPiece ---- */

static size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((uint8_t)s[i] & 0xC0) != 0x80;
    return c;
}

/* Greedy longest-match-first over one word; all of it [UNK] when some part has no piece.
 * scratch holds "▁" + the word. */
static slm_status wordpiece_word(const slm_tokenizer *tok, const char *word, size_t n, byte_buf *scratch, id_list *out) {
    size_t first = out->n;
    if (utf8_chars(word, n) <= WPM_MAX_WORD_CHARS) {
        scratch->n = 0;
        if (!buf_put(scratch, WORD_MARK, 3) || !buf_put(scratch, word, n)) return SLM_ERR_NOMEM;
        size_t start = 0;
        while (start < n) {
            int id = -1;
            size_t end = n;
            while (end > start) {
                id = start == 0 ? tokenizer_find(tok, scratch->s, (uint32_t)(end + 3))
                                : tokenizer_find(tok, word + start, (uint32_t)(end - start));
                if (id >= 0) break;
                do end--; while (end > start && ((uint8_t)word[end] & 0xC0) == 0x80);
            }
            if (id < 0) break;
            if (!ids_push(out, id)) return SLM_ERR_NOMEM;
            start = end;
        }
        if (start == n) return SLM_OK;
    }
    out->n = first;
    if (tok->unk < 0) return slm_error(SLM_ERR_FORMAT, "WordPiece: '%.*s' has no pieces and the vocabulary has no [UNK]", (int)(n > 64 ? 64 : n), word);
    return ids_push(out, tok->unk) ? SLM_OK : SLM_ERR_NOMEM;
}

slm_status wpm_encode_fragment(const slm_tokenizer *tok, const char *text, size_t n, id_list *out) {
    word_list w = {0};
    byte_buf scratch = {0};
    slm_status st = basic_tokenize(text, n, &w);
    for (size_t i = 0; i < w.n && st == SLM_OK; i++)
        st = wordpiece_word(tok, w.text.s + w.start[i], w.start[i + 1] - w.start[i], &scratch, out);
    free(w.text.s);
    free(w.start);
    free(scratch.s);
    return st;
}

/* ---- decoding ---- */

/* Appends token id after prev: "▁" pieces start a new word (a space unless first), others
 * continue it; control tokens add nothing. */
static int piece_bytes(const slm_tokenizer *tok, int prev, int id, const char **s, size_t *n, int *space) {
    *space = 0;
    if (tok->type[id] == TOKEN_CONTROL) return 0;
    const char *p = tok->text[id];
    size_t len = tok->len[id];
    int word = len >= 3 && memcmp(p, WORD_MARK, 3) == 0;
    if (word) p += 3, len -= 3;
    else word = len >= 2 && p[0] == '[' && p[len - 1] == ']';
    *space = word && prev >= 0;
    *s = p;
    *n = len;
    return 1;
}

slm_status wpm_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len) {
    byte_buf b = {0};
    int prev = -1;
    for (size_t i = 0; i < n_ids; i++) {
        const char *s;
        size_t n;
        int space;
        if (!piece_bytes(tok, prev, ids[i], &s, &n, &space)) continue;
        if ((space && !buf_put(&b, " ", 1)) || !buf_put(&b, s, n)) {
            free(b.s);
            return slm_error(SLM_ERR_NOMEM, "detokenize: out of memory");
        }
        prev = ids[i];
    }
    if (!b.s && !buf_put(&b, "", 0)) return slm_error(SLM_ERR_NOMEM, "detokenize: out of memory");
    *text = b.s;
    if (len) *len = b.n;
    return SLM_OK;
}

int wpm_token_to_bytes(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap) {
    const char *s;
    size_t n;
    int space;
    if (prev >= 0 && (prev >= tok->n_vocab || tok->type[prev] == TOKEN_CONTROL)) prev = -1;
    if (!piece_bytes(tok, prev, id, &s, &n, &space)) return 0;
    size_t k = 0;
    if (space && k < cap) buf[k++] = ' ';
    for (size_t i = 0; i < n && k < cap; i++) buf[k++] = s[i];
    return (int)k;
}
