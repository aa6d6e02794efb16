/* spm_train.c — SentencePiece-style BPE training: words ("▁" + a run of non-spaces, counted by
 * train.c) are split into characters; the most frequent characters that cover the requested
 * share of occurrences become pieces and the rest go through <0xXX> byte tokens; pairs then merge
 * most frequent first, never across letters, digits and other characters nor past 16 characters,
 * and piece k made by merging gets score -k, so that the encoder in spm.c (highest-scoring union
 * first) replays the training order. The result is a "llama" tokenizer. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/train.h"

/* ---------------------------------------------------------------- character counts */

/* Character classes: a piece never mixes two (SentencePiece splits by script and by number;
 * this is the same idea by Unicode general category). A mark takes the class before it; "▁"
 * starts a piece of any class. */
enum { CLASS_OTHER, CLASS_LETTER, CLASS_NUMBER, CLASS_MARK, CLASS_SPACE, CLASS_BYTE };

#define MAX_PIECE_CHARS 16 /* as SentencePiece's max_sentencepiece_length */

typedef struct {
    uint32_t cp1;  /* code point + 1; 0: empty slot */
    int32_t id;    /* symbol id once chosen, -1 for a character that goes through bytes */
    int64_t count;
    uint8_t cls;   /* CLASS_* */
} char_slot;

typedef struct {
    char_slot *slots;
    size_t n_slots, n_used; /* n_slots a power of two */
} char_table;

/* The slot of code point cp, or NULL (the table is never empty once counting has started). */
static char_slot *char_find(const char_table *t, uint32_t cp) {
    if (!t->n_slots) return NULL;
    size_t mask = t->n_slots - 1;
    for (size_t i = ((cp + 1) * 2654435761u) & mask; t->slots[i].cp1; i = (i + 1) & mask)
        if (t->slots[i].cp1 == cp + 1) return &t->slots[i];
    return NULL;
}

/* The slot of code point cp, made if new; NULL when out of memory. */
static char_slot *char_get(char_table *t, uint32_t cp) {
    char_slot *found = char_find(t, cp);
    if (found) return found;
    if ((t->n_used + 1) * 2 > t->n_slots) {
        size_t n = t->n_slots ? t->n_slots * 2 : 1024;
        char_slot *s = calloc(n, sizeof *s);
        if (!s) return NULL;
        for (size_t i = 0; i < t->n_slots; i++) {
            if (!t->slots[i].cp1) continue;
            size_t j = (t->slots[i].cp1 * 2654435761u) & (n - 1);
            while (s[j].cp1) j = (j + 1) & (n - 1);
            s[j] = t->slots[i];
        }
        free(t->slots);
        t->slots = s;
        t->n_slots = n;
    }
    size_t mask = t->n_slots - 1, i = ((cp + 1) * 2654435761u) & mask;
    while (t->slots[i].cp1) i = (i + 1) & mask;
    t->slots[i] = (char_slot){cp + 1, -1, 0, CLASS_OTHER};
    t->n_used++;
    return &t->slots[i];
}

/* The code point of the valid UTF-8 character of cl bytes at s. */
static uint32_t decode_cp(const char *s, size_t cl) {
    const uint8_t *u = (const uint8_t *)s;
    if (cl == 1) return u[0];
    uint32_t cp = u[0] & (0x7F >> cl);
    for (size_t i = 1; i < cl; i++) cp = (cp << 6) | (u[i] & 0x3F);
    return cp;
}

/* Writes code point cp as UTF-8; returns the length. */
static uint32_t put_utf8(uint32_t cp, char *u) {
    if (cp < 0x80) return u[0] = (char)cp, 1;
    if (cp < 0x800) return u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)),
               3;
    u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Sets the class of every counted character (PCRE2's Unicode tables). */
static slm_status classify_chars(char_table *t) {
    int err;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR) "(\\p{L})|(\\p{N})|(\\p{M})", PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &at, NULL);
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
    if (!md) {
        pcre2_code_free(re);
        return slm_error(SLM_ERR_NOMEM, "SentencePiece-style training: cannot build the character classes");
    }
    for (size_t i = 0; i < t->n_slots; i++) {
        char_slot *c = &t->slots[i];
        if (!c->cp1) continue;
        char u[4];
        uint32_t n = put_utf8(c->cp1 - 1, u);
        int rc = pcre2_match(re, (PCRE2_SPTR)u, n, 0, 0, md, NULL);
        c->cls = rc == 2 ? CLASS_LETTER : rc == 3 ? CLASS_NUMBER : rc == 4 ? CLASS_MARK : CLASS_OTHER;
        if (c->cp1 - 1 == 0x2581) c->cls = CLASS_SPACE;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return SLM_OK;
}

/* More frequent first, then by code point. */
static int char_order(const void *a, const void *b) {
    const char_slot *x = *(const char_slot *const *)a, *y = *(const char_slot *const *)b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->cp1 > y->cp1) - (x->cp1 < y->cp1);
}

/* ---------------------------------------------------------------- the vocabulary */

static const char *const META[3] = {"<unk>", "<s>", "</s>"};

/* Whether a piece's text is already taken by a meta, special or byte token. */
static bool reserved(const slm_tokenizer_train_params *p, const char *s, uint32_t n) {
    if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') return true; /* "<0xAB>" (or near) */
    for (int k = 0; k < 3; k++)
        if (strlen(META[k]) == n && memcmp(META[k], s, n) == 0) return true;
    for (int k = 0; k < p->n_specials; k++)
        if (strlen(p->specials[k]) == n && memcmp(p->specials[k], s, n) == 0) return true;
    return false;
}

slm_status spm_train(const train_corpus *c, const slm_tokenizer_train_params *p, slm_tokenizer **out,
                     slm_tokenizer_train_stats *stats) {
    *out = NULL;
    slm_status st = SLM_OK;
    char_table chars = {0};
    char_slot **order = NULL;
    const char **texts = NULL;
    uint32_t *lens = NULL;
    int32_t *syms = NULL, *pairs = NULL, *piece_of = NULL;
    size_t syms_cap = 0;
    merger *m = NULL;
    slm_tokenizer *tok = NULL;
    int n_merges = 0;
    /* specials other than the three meta tokens, in order */
    int n_specials = 0;
    const char **specials = slm_calloc((size_t)p->n_specials + 1, sizeof *specials, "special tokens");
    if (!specials) return SLM_ERR_NOMEM;
    for (int k = 0; k < p->n_specials; k++)
        if (!reserved(&(slm_tokenizer_train_params){0}, p->specials[k], (uint32_t)strlen(p->specials[k])))
            specials[n_specials++] = p->specials[k];

    /* 1. character counts over the words (invalid UTF-8 bytes are no character) */
    int64_t total = 0;
    for (size_t w = 0; st == SLM_OK && w < c->n_words; w++) {
        const train_word *wd = &c->words[w];
        for (size_t i = 0; i < wd->len;) {
            size_t cl = slm_utf8_valid_len(wd->text + i, wd->len - i);
            if (!cl) {
                i++;
                continue;
            }
            char_slot *s = char_get(&chars, decode_cp(wd->text + i, cl));
            if (!s) {
                st = SLM_ERR_NOMEM;
                break;
            }
            s->count += wd->count;
            total += wd->count;
            i += cl;
        }
    }
    /* 2. the most frequent characters up to the coverage (and what the vocabulary holds); "▁"
       first in any case, since only a piece's "▁" decodes as a space (a byte-token one stays "▁") */
    int n_fixed = 3 + n_specials + 256, n_chars = 0;
    if (st == SLM_OK && !char_get(&chars, 0x2581)) st = SLM_ERR_NOMEM;
    if (st == SLM_OK && !(order = slm_calloc(chars.n_used + 1, sizeof *order, "characters"))) st = SLM_ERR_NOMEM;
    if (st == SLM_OK) {
        size_t k = 0;
        for (size_t i = 0; i < chars.n_slots; i++)
            if (chars.slots[i].cp1) order[k++] = &chars.slots[i];
        qsort(order, chars.n_used, sizeof *order, char_order);
        for (size_t i = 0; order[0]->cp1 != 0x2581 + 1; i++) { /* rotate "▁" to the front */
            if (order[i]->cp1 != 0x2581 + 1) continue;
            char_slot *mark = order[i];
            memmove(order + 1, order, i * sizeof *order);
            order[0] = mark;
        }
        int64_t covered = 0;
        while ((size_t)n_chars < chars.n_used && n_chars < p->vocab_size - n_fixed &&
               (n_chars == 0 || (double)covered < p->character_coverage * (double)total)) {
            covered += order[n_chars]->count;
            order[n_chars]->id = n_chars;
            n_chars++;
        }
    }
    /* 3. the engine: characters as symbols 0 .. n_chars - 1, then one that never merges */
    char (*utf8)[4] = NULL;
    if (st == SLM_OK) {
        texts = slm_calloc((size_t)n_chars + 1, sizeof *texts, "characters");
        lens = slm_calloc((size_t)n_chars + 1, sizeof *lens, "characters");
        utf8 = slm_calloc((size_t)n_chars + 1, sizeof *utf8, "characters");
        if (!texts || !lens || !utf8) st = SLM_ERR_NOMEM;
    }
    for (int i = 0; st == SLM_OK && i < n_chars; i++) {
        lens[i] = put_utf8(order[i]->cp1 - 1, utf8[i]);
        texts[i] = utf8[i];
    }
    if (st == SLM_OK) {
        texts[n_chars] = "";
        lens[n_chars] = 0;
        st = merger_new(n_chars + 1, texts, lens, &m);
    }
    if (st == SLM_OK) {
        merger_set_max_chars(m, MAX_PIECE_CHARS);
        st = classify_chars(&chars);
    }
    for (size_t w = 0; st == SLM_OK && w < c->n_words; w++) {
        const train_word *wd = &c->words[w];
        if (wd->len > syms_cap) {
            syms_cap = wd->len * 2;
            free(syms);
            if (!(syms = slm_malloc(syms_cap * sizeof *syms, "SPM training"))) {
                st = SLM_ERR_NOMEM;
                break;
            }
        }
        /* the word's characters, given to the engine in stretches of one class */
        uint32_t n = 0;
        int prev = -1; /* class of the stretch so far; -1 before its first non-"▁" character */
        for (size_t i = 0; i < wd->len && st == SLM_OK;) {
            size_t cl = slm_utf8_valid_len(wd->text + i, wd->len - i);
            int32_t id = n_chars; /* no piece: bytes */
            int cls = CLASS_BYTE;
            if (cl) {
                const char_slot *s = char_find(&chars, decode_cp(wd->text + i, cl)); /* counted in step 1 */
                if (s && s->id >= 0) id = s->id;
                if (s) cls = s->cls;
            }
            if (cls == CLASS_MARK) cls = prev >= 0 ? prev : CLASS_OTHER;
            if (cls != CLASS_SPACE) {
                if (prev >= 0 && cls != prev) {
                    st = merger_add_word(m, syms, n, wd->count);
                    n = 0;
                }
                prev = cls;
            }
            syms[n++] = id;
            i += cl ? cl : 1;
        }
        if (st == SLM_OK) st = merger_add_word(m, syms, n, wd->count);
    }
    /* 4. merges */
    if (st == SLM_OK) st = merger_run(m, p->vocab_size - n_fixed - n_chars, p, &pairs, &n_merges);
    /* 5. the vocabulary: <unk> <s> </s>, specials, bytes, merged pieces in order, characters */
    int n_sym = m ? merger_n_symbols(m) : 0, n_pieces = 0;
    if (st == SLM_OK && !(piece_of = slm_calloc((size_t)n_sym + 1, sizeof *piece_of, "pieces"))) st = SLM_ERR_NOMEM;
    for (int32_t id = n_chars + 1; st == SLM_OK && id < n_sym; id++) {
        uint32_t len;
        const char *s = merger_text(m, id, &len);
        piece_of[id] = reserved(p, s, len) ? -1 : n_pieces++;
    }
    int n_vocab = n_fixed + n_pieces + n_chars;
    if (st == SLM_OK) {
        tok = slm_calloc(1, sizeof *tok, "tokenizer");
        st = tok ? tokenizer_alloc(tok, n_vocab) : SLM_ERR_NOMEM;
    }
    for (int k = 0; st == SLM_OK && k < 3; k++)
        st = tokenizer_set_token(tok, k, META[k], (uint32_t)strlen(META[k]), 0, k == 0 ? TOKEN_UNKNOWN : TOKEN_CONTROL);
    for (int k = 0; st == SLM_OK && k < n_specials; k++)
        st = tokenizer_set_token(tok, 3 + k, specials[k], (uint32_t)strlen(specials[k]), 0, TOKEN_CONTROL);
    for (int b = 0; st == SLM_OK && b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        st = tokenizer_set_token(tok, 3 + n_specials + b, name, 6, 0, TOKEN_BYTE);
    }
    for (int32_t id = n_chars + 1; st == SLM_OK && id < n_sym; id++) {
        if (piece_of[id] < 0) continue;
        uint32_t len;
        const char *s = merger_text(m, id, &len);
        st = tokenizer_set_token(tok, n_fixed + piece_of[id], s, len, -(float)piece_of[id], TOKEN_NORMAL);
    }
    for (int i = 0; st == SLM_OK && i < n_chars; i++)
        st = tokenizer_set_token(tok, n_fixed + n_pieces + i, texts[i], lens[i], -(float)(n_pieces + i), TOKEN_NORMAL);
    if (st == SLM_OK) {
        tok->unk = 0;
        tok->bos = 1;
        tok->eos = 2;
        tok->add_bos = 1;
        tok->add_space_prefix = 1;
        tok->remove_extra_spaces = 0;
        tok->replace_invalid_utf8 = 0; /* invalid bytes go through byte tokens, so any bytes round-trip */
        st = tokenizer_finish(tok);
    }
    free(specials);
    free(chars.slots);
    free(order);
    free(texts);
    free(lens);
    free(utf8);
    free(syms);
    free(pairs);
    free(piece_of);
    merger_free(m);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return st == SLM_ERR_NOMEM ? slm_error(st, "SentencePiece-style training: out of memory") : st;
    }
    stats->n_merges = n_merges;
    stats->n_chars = n_chars;
    *out = tok;
    return SLM_OK;
}
