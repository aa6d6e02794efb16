/* tokenizer.c — the public tokenizer API: BOS, splitting the text at special tokens, and
 * dispatch to the tokenizer kind (SentencePiece BPE in spm.c, byte-level BPE in bpe.c,
 * WordPiece in wordpiece.c) per fragment. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

/* The special token that text starts with (user-defined always, control only with
 * parse_special), longest first; -1 if none. */
static int match_special(const slm_tokenizer *tok, const char *text, size_t n, int parse_special) {
    uint8_t c = (uint8_t)text[0];
    for (int i = tok->special_start[c]; i < tok->special_start[c + 1]; i++) {
        int id = tok->specials[i];
        if (tok->type[id] == TOKEN_CONTROL && !parse_special) continue;
        if (tok->len[id] <= n && memcmp(text, tok->text[id], tok->len[id]) == 0) return id;
    }
    return -1;
}

static slm_status encode_fragment(const slm_tokenizer *tok, const char *text, size_t n, bool after_special, id_list *out) {
    switch (tok->kind) {
    case TOKENIZER_SPM: return spm_encode_fragment(tok, text, n, tok->add_space_prefix && after_special, out);
    case TOKENIZER_BPE: return bpe_encode_fragment(tok, text, n, out);
    case TOKENIZER_WPM: return wpm_encode_fragment(tok, text, n, out);
    }
    return slm_error(SLM_ERR_UNSUPPORTED, "tokenizer kind %d", (int)tok->kind);
}

slm_status slm_tokenize(const slm_tokenizer *tok, const char *text, size_t len, const slm_tokenize_options *opts,
                        int32_t **ids, size_t *n_ids) {
    if (!tok || (!text && len) || !ids || !n_ids) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenize: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    slm_tokenize_options o = opts ? *opts : (slm_tokenize_options){tok->add_bos, 0};
    id_list out = {0};
    byte_buf squeezed = {0};
    slm_status st = SLM_OK;
    if (o.add_bos && tok->bos >= 0 && !ids_push(&out, tok->bos)) st = SLM_ERR_NOMEM;
    if (st == SLM_OK && tok->kind == TOKENIZER_SPM && tok->remove_extra_spaces && len > 0) {
        if (!spm_squeeze_spaces(&squeezed, text, len)) st = SLM_ERR_NOMEM;
        text = squeezed.s;
        len = squeezed.n;
    }
    /* Fragments of plain text between special tokens; as llama.cpp does, a SentencePiece
       space prefix goes before the first fragment and before each one after a special. */
    bool after_special = true;
    size_t pos = 0, frag_start = 0;
    while (st == SLM_OK && pos <= len) {
        int sid = pos < len && tok->n_specials ? match_special(tok, text + pos, len - pos, o.parse_special) : -1;
        if (sid < 0 && pos < len) {
            pos++;
            continue;
        }
        if (pos > frag_start) {
            st = encode_fragment(tok, text + frag_start, pos - frag_start, after_special, &out);
            after_special = false;
        }
        if (sid < 0) break;
        if (st == SLM_OK && !ids_push(&out, sid)) st = SLM_ERR_NOMEM;
        after_special = true;
        pos += tok->len[sid];
        frag_start = pos;
    }
    free(squeezed.s);
    /* WordPiece: a sentence is [CLS] ... [SEP] */
    if (st == SLM_OK && o.add_bos && tok->kind == TOKENIZER_WPM && tok->sep >= 0 && !ids_push(&out, tok->sep)) st = SLM_ERR_NOMEM;
    if (st != SLM_OK) {
        free(out.ids);
        return st == SLM_ERR_NOMEM ? slm_error(st, "tokenizer: out of memory") : st;
    }
    *ids = out.ids ? out.ids : malloc(sizeof(int32_t));
    *n_ids = out.n;
    return *ids ? SLM_OK : slm_error(SLM_ERR_NOMEM, "tokenizer: out of memory");
}

slm_status slm_detokenize(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len) {
    if (!tok || (!ids && n_ids) || !text) return slm_error(SLM_ERR_INVALID_ARG, "slm_detokenize: NULL argument");
    *text = NULL;
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= tok->n_vocab)
            return slm_error(SLM_ERR_RANGE, "detokenize: token id %d at index %zu is outside the vocabulary (%d)", ids[i], i,
                             tok->n_vocab);
    switch (tok->kind) {
    case TOKENIZER_SPM: return spm_decode(tok, ids, n_ids, text, len);
    case TOKENIZER_BPE: return bpe_decode(tok, ids, n_ids, text, len);
    case TOKENIZER_WPM: return wpm_decode(tok, ids, n_ids, text, len);
    }
    return slm_error(SLM_ERR_UNSUPPORTED, "tokenizer kind %d", (int)tok->kind);
}

int slm_token_to_bytes(const slm_tokenizer *tok, int prev, int id, char *buf, size_t cap) {
    if (id < 0 || id >= tok->n_vocab) return -1;
    switch (tok->kind) {
    case TOKENIZER_SPM: return spm_token_to_bytes(tok, prev, id, buf, cap);
    case TOKENIZER_BPE: return bpe_token_to_bytes(tok, id, buf, cap);
    case TOKENIZER_WPM: return wpm_token_to_bytes(tok, prev, id, buf, cap);
    }
    return -1;
}
