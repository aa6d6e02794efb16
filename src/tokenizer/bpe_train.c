/* bpe_train.c — byte-level BPE training, GPT-2 style (the rules the CS336 fixtures define): the
 * vocabulary starts with the special tokens, then the 256 bytes in the order of GPT-2's byte
 * characters; pre-tokens (counted by train.c) merge most frequent pair first, ties going to the
 * greatest pair of byte strings; the result is a "gpt2" tokenizer whose merges are in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/train.h"

/* Appends bytes as GPT-2's byte characters (code points below U+0144: one or two bytes each). */
static bool put_byte_chars(byte_buf *b, const uint16_t *cp_of_byte, const char *s, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cp = cp_of_byte[(uint8_t)s[i]];
        char c[2] = {(char)cp, 0};
        int len = 1;
        if (cp >= 0x80) {
            c[0] = (char)(0xC0 | (cp >> 6));
            c[1] = (char)(0x80 | (cp & 0x3F));
            len = 2;
        }
        if (!buf_put(b, c, (size_t)len)) return false;
    }
    return true;
}

slm_status bpe_train(const train_corpus *c, const slm_tokenizer_train_params *p, slm_tokenizer **out,
                     slm_tokenizer_train_stats *stats) {
    *out = NULL;
    char bytes[256];
    const char *texts[256];
    uint32_t lens[256];
    for (int b = 0; b < 256; b++) {
        bytes[b] = (char)b;
        texts[b] = &bytes[b];
        lens[b] = 1;
    }
    merger *m = NULL;
    slm_status st = merger_new(256, texts, lens, &m);
    int32_t *syms = NULL, *pairs = NULL;
    size_t syms_cap = 0;
    for (size_t w = 0; st == SLM_OK && w < c->n_words; w++) {
        const train_word *wd = &c->words[w];
        if (wd->len > syms_cap) {
            syms_cap = wd->len * 2;
            free(syms);
            if (!(syms = slm_malloc(syms_cap * sizeof *syms, "BPE training"))) st = SLM_ERR_NOMEM;
        }
        for (uint32_t i = 0; st == SLM_OK && i < wd->len; i++) syms[i] = (uint8_t)wd->text[i];
        if (st == SLM_OK) st = merger_add_word(m, syms, wd->len, wd->count);
    }
    free(syms);
    int n_merges = 0, n_fixed = p->n_specials + 256;
    if (st == SLM_OK) st = merger_run(m, p->vocab_size - n_fixed, p, &pairs, &n_merges);
    /* the vocabulary: specials, bytes by their GPT-2 character, then merged symbols in order
       (the engine numbers bytes by value and new symbols from 256 up, as they were made) */
    uint16_t cp_of_byte[256];
    bpe_byte_chars(cp_of_byte);
    int32_t vocab_of_byte[256];
    for (int b = 0; b < 256; b++) {
        int rank = 0;
        for (int o = 0; o < 256; o++) rank += cp_of_byte[o] < cp_of_byte[b];
        vocab_of_byte[b] = p->n_specials + rank;
    }
    int n_sym = m ? merger_n_symbols(m) : 0, n_vocab = n_fixed + (n_sym - 256);
    slm_tokenizer *tok = NULL;
    byte_buf text = {0};
    if (st == SLM_OK) {
        tok = slm_calloc(1, sizeof *tok, "tokenizer");
        st = tok ? tokenizer_alloc(tok, n_vocab) : SLM_ERR_NOMEM;
    }
    for (int k = 0; st == SLM_OK && k < p->n_specials; k++)
        st = tokenizer_set_token(tok, k, p->specials[k], (uint32_t)strlen(p->specials[k]), 0, TOKEN_CONTROL);
    for (int32_t id = 0; st == SLM_OK && id < n_sym; id++) {
        uint32_t len;
        const char *s = merger_text(m, id, &len);
        text.n = 0;
        if (!buf_put(&text, "", 0) || !put_byte_chars(&text, cp_of_byte, s, len)) st = SLM_ERR_NOMEM;
        else st = tokenizer_set_token(tok, id < 256 ? vocab_of_byte[id] : n_fixed + (id - 256), text.s, (uint32_t)text.n, 0,
                                      TOKEN_NORMAL);
    }
    if (st == SLM_OK) {
        tok->add_bos = 0;
        tok->add_space_prefix = 0;
        tok->bos = tok->eos = p->n_specials > 0 ? 0 : -1;
        st = tokenizer_finish(tok);
    }
    for (int id = 0; st == SLM_OK && id < n_vocab; id++)
        if (tokenizer_find(tok, tok->text[id], tok->len[id]) != id)
            st = slm_error(SLM_ERR_INVALID_ARG, "tokenizer training: token %d '%s' is also token %d (a special token that is a byte?)",
                           id, tok->text[id], tokenizer_find(tok, tok->text[id], tok->len[id]));
    if (st == SLM_OK) st = bpe_init(tok, "gpt2");
    for (int k = 0; st == SLM_OK && k < n_merges; k++) {
        uint32_t la, lb;
        const char *a = merger_text(m, pairs[2 * k], &la), *b = merger_text(m, pairs[2 * k + 1], &lb);
        text.n = 0;
        if (!buf_put(&text, "", 0) || !put_byte_chars(&text, cp_of_byte, a, la) || !buf_put(&text, " ", 1) ||
            !put_byte_chars(&text, cp_of_byte, b, lb))
            st = SLM_ERR_NOMEM;
        else st = bpe_add_merge(tok, text.s, text.n);
    }
    free(text.s);
    free(pairs);
    merger_free(m);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return st == SLM_ERR_NOMEM ? slm_error(st, "BPE training: out of memory") : st;
    }
    stats->n_merges = n_merges;
    *out = tok;
    return SLM_OK;
}
