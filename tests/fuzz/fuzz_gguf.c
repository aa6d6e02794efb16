/* fuzz_gguf.c — libFuzzer harness: the GGUF parser, metadata rendering, the tokenizer and the
 * model binding on arbitrary bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "slm.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file f;
    if (gguf_parse(data, size, "fuzz.gguf", &f) != SLM_OK) return 0;
    for (uint64_t i = 0; i < f.n_kv; i++) free(gguf_value_to_text(&f.kv[i].value, 4));
    slm_tokenizer *tok;
    if (tokenizer_from_gguf(&f, &tok) == SLM_OK) {
        int32_t *ids;
        size_t n;
        if (slm_tokenize(tok, "Hello world", 11, NULL, &ids, &n) == SLM_OK) slm_free(ids);
        slm_tokenizer_free(tok);
    }
    gguf_close(&f);
    /* the whole loader, through a file */
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_gguf_%d.gguf", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    slm_model *m;
    if (slm_model_load(path, NULL, &m) == SLM_OK) slm_model_free(m);
    remove(path);
    return 0;
}
