/* save.c — writes a tokenizer as a vocabulary-only GGUF file: the tokenizer.ggml.* keys that
 * vocab.c reads back, under llama.cpp's key names (tokens, scores, token types, merges in rank order
 * for byte-level BPE, special token ids, normaliser flags). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/tokenizer.h"

slm_status slm_tokenizer_save(const slm_tokenizer *tok, const char *path) {
    if (!tok || !path) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenizer_save: NULL argument");
    const bool is_bpe = tok->kind == TOKENIZER_BPE;
    const int V = tok->n_vocab;
    gguf_writer *w = gguf_writer_new();
    gguf_str *tokens = slm_calloc((size_t)V, sizeof *tokens, "vocabulary");
    float *scores = slm_calloc((size_t)V, sizeof *scores, "scores");
    int32_t *types = slm_calloc((size_t)V, sizeof *types, "token types");
    int32_t *pairs = NULL;
    size_t n_merges = 0;
    gguf_str *merges = NULL;
    byte_buf merge_text = {0};
    slm_status st = w && tokens && scores && types ? SLM_OK : SLM_ERR_NOMEM;
    for (int i = 0; st == SLM_OK && i < V; i++) {
        tokens[i] = (gguf_str){tok->text[i], tok->len[i]};
        scores[i] = tok->score[i];
        types[i] = tok->type[i];
    }
    if (st == SLM_OK && is_bpe) st = bpe_merges(tok, &pairs, &n_merges);
    if (st == SLM_OK && n_merges) {
        /* "left right" strings back to back in one buffer; pointers made once it stops moving */
        size_t *offs = slm_calloc(n_merges + 1, sizeof *offs, "merges");
        merges = slm_calloc(n_merges, sizeof *merges, "merges");
        if (!offs || !merges) st = SLM_ERR_NOMEM;
        for (size_t k = 0; st == SLM_OK && k < n_merges; k++) {
            int32_t a = pairs[2 * k], b = pairs[2 * k + 1];
            offs[k] = merge_text.n;
            if (!buf_put(&merge_text, tok->text[a], tok->len[a]) || !buf_put(&merge_text, " ", 1) ||
                !buf_put(&merge_text, tok->text[b], tok->len[b]))
                st = SLM_ERR_NOMEM;
        }
        offs[n_merges] = merge_text.n;
        for (size_t k = 0; st == SLM_OK && k < n_merges; k++)
            merges[k] = (gguf_str){merge_text.s + offs[k], offs[k + 1] - offs[k]};
        free(offs);
    }
    const char *pre = NULL;
    if (is_bpe) {
        pre = bpe_pre_name(tok, NULL);
        if (!pre || strcmp(pre, "default") == 0) pre = "gpt-2"; /* GPT-2's regex, by llama.cpp's name */
    }
    gguf_value v_tokens = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_STRING, .n = (uint64_t)V, .strs = tokens}};
    gguf_value v_scores = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_F32, .n = (uint64_t)V, .raw = scores}};
    gguf_value v_types = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_I32, .n = (uint64_t)V, .raw = types}};
    gguf_value v_merges = {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_STRING, .n = n_merges, .strs = merges}};
    gguf_value v_bos = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)(tok->add_bos != 0)};
    gguf_value v_false = {.type = GGUF_TYPE_BOOL, .u = 0};
    gguf_value v_prefix = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)(tok->add_space_prefix != 0)};
    gguf_value v_extra = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)(tok->remove_extra_spaces != 0)};
    gguf_value v_replace = {.type = GGUF_TYPE_BOOL, .u = (uint64_t)(tok->replace_invalid_utf8 != 0)};
#define SET(cond, call) \
    if (st == SLM_OK && (cond)) st = (call)
    SET(1, gguf_writer_set_str(w, "general.architecture", is_bpe ? "gpt2" : "llama"));
    SET(1, gguf_writer_set_str(w, "general.name", "tokenizer"));
    SET(1, gguf_writer_set_str(w, "tokenizer.ggml.model", is_bpe ? "gpt2" : "llama"));
    SET(is_bpe, gguf_writer_set_str(w, "tokenizer.ggml.pre", pre));
    SET(1, gguf_writer_set(w, "tokenizer.ggml.tokens", &v_tokens));
    SET(!is_bpe, gguf_writer_set(w, "tokenizer.ggml.scores", &v_scores));
    SET(1, gguf_writer_set(w, "tokenizer.ggml.token_type", &v_types));
    SET(is_bpe, gguf_writer_set(w, "tokenizer.ggml.merges", &v_merges));
    SET(1, gguf_writer_set(w, "tokenizer.ggml.add_bos_token", &v_bos));
    SET(1, gguf_writer_set(w, "tokenizer.ggml.add_eos_token", &v_false));
    SET(!is_bpe, gguf_writer_set(w, "tokenizer.ggml.add_space_prefix", &v_prefix));
    SET(!is_bpe, gguf_writer_set(w, "tokenizer.ggml.remove_extra_whitespaces", &v_extra));
    SET(!is_bpe, gguf_writer_set(w, "slm.tokenizer.replace_invalid_utf8", &v_replace));
    SET(tok->bos >= 0, gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)tok->bos));
    SET(tok->eos >= 0, gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)tok->eos));
    SET(tok->unk >= 0, gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)tok->unk));
#undef SET
    if (st == SLM_OK) st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    free(tokens);
    free(scores);
    free(types);
    free(pairs);
    free(merges);
    free(merge_text.s);
    return st == SLM_ERR_NOMEM ? slm_error(st, "%s: out of memory writing the vocabulary", path) : st;
}
