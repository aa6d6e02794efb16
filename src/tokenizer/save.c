/* save.c — writes a tokenizer as a vocabulary-only GGUF file: an architecture and name, and the
 * tokenizer.ggml.* keys that vocab.c reads back (written by vocab_write.c). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

slm_status slm_tokenizer_save(const slm_tokenizer *tok, const char *path) {
    if (!tok || !path) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenizer_save: NULL argument");
    const bool is_bpe = tok->kind == TOKENIZER_BPE;
    gguf_writer *w = gguf_writer_new();
    void *keep = NULL;
    if (!w) return slm_error(SLM_ERR_NOMEM, "%s: out of memory writing the vocabulary", path);
    slm_status st = gguf_writer_set_str(w, "general.architecture", is_bpe ? "gpt2" : "llama");
    if (st == SLM_OK) st = gguf_writer_set_str(w, "general.name", "tokenizer");
    if (st == SLM_OK) st = tokenizer_to_gguf(tok, w, &keep);
    if (st == SLM_OK) st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    free(keep);
    return st == SLM_ERR_NOMEM ? slm_error(st, "%s: out of memory writing the vocabulary", path) : st;
}
