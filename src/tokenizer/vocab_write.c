/* vocab_write.c — writes a tokenizer as GGUF tokenizer.ggml.* metadata (the keys vocab.c
 * reads), so that converted and trained models carry their vocabulary: SentencePiece pieces
 * with scores, types and normaliser flags, or byte-level BPE pieces with merges. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "tokenizer/tokenizer.h"

slm_status tokenizer_to_gguf(const slm_tokenizer *tok, gguf_writer *w, void **keep) {
    *keep = NULL;
    const int V = tok->n_vocab, is_bpe = tok->kind == TOKENIZER_BPE;
    const uint32_t n_merges = is_bpe ? bpe_n_merges(tok) : 0;
    /* one block: pieces (V), merges (n_merges) as strings, scores (V), types (V), merge pairs
       (2 n_merges), then the merges' text */
    size_t merge_text = 0;
    int32_t *pairs = NULL;
    if (n_merges) {
        pairs = slm_malloc(sizeof(int32_t) * 2 * n_merges, "tokenizer merges");
        if (!pairs) return SLM_ERR_NOMEM;
        slm_status st = bpe_merge_pairs(tok, pairs);
        if (st != SLM_OK) {
            free(pairs);
            return st;
        }
        for (uint32_t i = 0; i < 2 * n_merges; i++) merge_text += tok->len[pairs[i]] + 1;
    }
    size_t bytes = sizeof(gguf_str) * ((size_t)V + n_merges) + sizeof(float) * (size_t)V +
                   sizeof(int32_t) * (size_t)V + merge_text;
    char *block = slm_malloc(bytes, "tokenizer metadata");
    if (!block) {
        free(pairs);
        return SLM_ERR_NOMEM;
    }
    *keep = block;
    gguf_str *pieces = (gguf_str *)block, *merges = pieces + V;
    float *scores = (float *)(merges + n_merges);
    int32_t *types = (int32_t *)(scores + V);
    char *text = (char *)(types + V);
    for (int i = 0; i < V; i++) {
        pieces[i] = (gguf_str){tok->text[i], tok->len[i]};
        scores[i] = tok->score[i];
        types[i] = tok->type[i];
    }
    for (uint32_t i = 0; i < n_merges; i++) { /* "left right" */
        const int32_t a = pairs[2 * i], b = pairs[2 * i + 1];
        merges[i] = (gguf_str){text, (uint64_t)tok->len[a] + 1 + tok->len[b]};
        memcpy(text, tok->text[a], tok->len[a]);
        text[tok->len[a]] = ' ';
        memcpy(text + tok->len[a] + 1, tok->text[b], tok->len[b]);
        text += merges[i].len;
    }
    free(pairs);

    gguf_value v_pieces = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_STRING, .n = (uint64_t)V, .strs = pieces}};
    gguf_value v_merges = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_STRING, .n = n_merges, .strs = merges}};
    gguf_value v_scores = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_F32, .n = (uint64_t)V, .raw = scores}};
    gguf_value v_types = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_I32, .n = (uint64_t)V, .raw = types}};
    gguf_value v_bos = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)tok->add_bos}, v_false = {.type = GGUF_TYPE_BOOL, .u = 0};
    gguf_value v_prefix = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)tok->add_space_prefix};
    gguf_value v_extra = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)tok->remove_extra_spaces};
    gguf_value v_replace = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)tok->replace_invalid_utf8};
    slm_status st;
    bool known = false;
    const char *pre = is_bpe ? bpe_pre_name(tok, &known) : NULL;
    if (is_bpe && (!known || !pre || strcmp(pre, "default") == 0 || strcmp(pre, "gpt2") == 0))
        pre = "gpt-2"; /* GPT-2's regex, by the name llama.cpp knows */
    const int is_wpm = tok->kind == TOKENIZER_WPM;
    if (is_wpm) pre = "default";
    if ((st = gguf_writer_set_str(w, "tokenizer.ggml.model", is_bpe ? "gpt2" : is_wpm ? "bert" : "llama")) ||
        ((is_bpe || is_wpm) && (st = gguf_writer_set_str(w, "tokenizer.ggml.pre", pre))) ||
        (st = gguf_writer_set(w, "tokenizer.ggml.tokens", &v_pieces)) ||
        (!is_bpe && !is_wpm && (st = gguf_writer_set(w, "tokenizer.ggml.scores", &v_scores))) ||
        (st = gguf_writer_set(w, "tokenizer.ggml.token_type", &v_types)) ||
        (is_bpe && (st = gguf_writer_set(w, "tokenizer.ggml.merges", &v_merges))) ||
        (st = gguf_writer_set(w, "tokenizer.ggml.add_bos_token", &v_bos)) ||
        (!is_wpm && (st = gguf_writer_set(w, "tokenizer.ggml.add_eos_token", &v_false))) ||
        (!is_bpe && !is_wpm && (st = gguf_writer_set(w, "tokenizer.ggml.add_space_prefix", &v_prefix))) ||
        (!is_wpm && (st = gguf_writer_set(w, "tokenizer.ggml.remove_extra_whitespaces", &v_extra))) ||
        (!is_bpe && !is_wpm && (st = gguf_writer_set(w, "slm.tokenizer.replace_invalid_utf8", &v_replace))))
        return st;
    if (tok->kind == TOKENIZER_WPM) {
        /* as llama.cpp's converter writes a BERT vocabulary: [CLS] is BOS, [SEP] EOS and SEP */
        gguf_value v_true = {.type = GGUF_TYPE_BOOL, .u = 1};
        if ((st = gguf_writer_set(w, "tokenizer.ggml.add_eos_token", &v_true))) return st;
        const char *keys[3] = {"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id"};
        const int ids[3] = {tok->sep, tok->pad, tok->mask};
        for (int i = 0; i < 3; i++)
            if (ids[i] >= 0 && (st = gguf_writer_set_u32(w, keys[i], (uint32_t)ids[i]))) return st;
    }
    if (tok->bos >= 0 && (st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)tok->bos))) return st;
    if (tok->eos >= 0 && (st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)tok->eos))) return st;
    if (tok->unk >= 0 && (st = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)tok->unk))) return st;
    return SLM_OK;
}
