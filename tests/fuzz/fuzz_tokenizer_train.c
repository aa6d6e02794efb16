/* fuzz_tokenizer_train.c — libFuzzer harness: count the words of arbitrary bytes in tiny blocks
 * on two threads and check they equal the count in one block; train both kinds of tokenizer on
 * the bytes and check that valid UTF-8 text round-trips through each (for SentencePiece-style,
 * text without a literal "▁", which decodes as a space there as in SentencePiece). */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "slm.h"
#include "tokenizer/train.h"

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t cl = slm_utf8_valid_len(s + i, n - i);
        if (!cl) return 0;
        i += cl;
    }
    return 1;
}

static void check_counts(const char *text, size_t n, train_split split, const slm_tokenizer_train_params *p) {
    train_corpus whole, cut;
    slm_set_threads(1);
    train_source a = {.text = text, .len = n};
    if (train_count_words(&a, split, p, &whole) != SLM_OK) abort();
    slm_set_threads(2);
    train_source b = {.text = text, .len = n, .block = 5};
    if (train_count_words(&b, split, p, &cut) != SLM_OK) abort();
    if (whole.n_words != cut.n_words) abort();
    for (size_t i = 0; i < whole.n_words; i++)
        if (whole.words[i].len != cut.words[i].len || whole.words[i].count != cut.words[i].count ||
            memcmp(whole.words[i].text, cut.words[i].text, whole.words[i].len) != 0)
            abort();
    train_corpus_free(&whole);
    train_corpus_free(&cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *specials[] = {"<|s|>", "\n#"};
    slm_tokenizer_train_params p = slm_tokenizer_train_defaults();
    p.specials = specials;
    p.n_specials = 2;
    check_counts(text, size, SPLIT_GPT2, &p);
    check_counts(text, size, SPLIT_SPM, &p);
    for (int kind = 0; kind < 2; kind++) {
        p.type = kind ? SLM_TOKENIZER_SPM : SLM_TOKENIZER_BPE;
        p.vocab_size = kind ? 300 : 290;
        slm_tokenizer *tok;
        if (slm_tokenizer_train_text(text, size, &p, &tok, NULL) != SLM_OK) abort();
        int32_t *ids;
        size_t n, len;
        char *back;
        slm_tokenize_options o = {0, 0};
        if (slm_tokenize(tok, text, size, &o, &ids, &n) != SLM_OK) abort();
        if (slm_detokenize(tok, ids, n, &back, &len) != SLM_OK) abort();
        /* a literal "▁" decodes as a space in SentencePiece's scheme, so SPM round-trips text without one */
        int has_mark = memmem(text, size, "\xE2\x96\x81", 3) != NULL;
        if (valid_utf8(text, size) && !(kind && has_mark) && (len != size || memcmp(back, text, size) != 0)) abort();
        slm_free(ids);
        slm_free(back);
        slm_tokenizer_free(tok);
    }
    return 0;
}
