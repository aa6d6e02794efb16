/* fuzz_tokenizer.c — libFuzzer harness: encode arbitrary bytes with tok512 (from $SLM_DATA)
 * and the Llama 2 vocabulary, decode the ids, and check the text is valid UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "slm.h"

static slm_tokenizer *load(const char *rel) {
    const char *data = getenv("SLM_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", data ? data : "../shared/data", rel);
    slm_tokenizer *t = NULL;
    if (slm_tokenizer_load(path, &t) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        abort();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static slm_tokenizer *toks[2];
    if (!toks[0]) {
        toks[0] = load("tiny_lm_models/stories260K/tok512.bin");
        toks[1] = load("tokenizers/llama2_32k/tokenizer.model");
    }
    for (int k = 0; k < 2; k++) {
        int32_t *ids;
        size_t n, len;
        slm_tokenize_options o = {size & 1, (size >> 1) & 1};
        if (slm_tokenize(toks[k], (const char *)data, size, &o, &ids, &n) != SLM_OK) abort();
        char *text;
        if (slm_detokenize(toks[k], ids, n, &text, &len) != SLM_OK) abort();
        for (size_t i = 0; i < len;) {
            size_t cl = slm_utf8_valid_len(text + i, len - i);
            if (!cl) abort(); /* decoded text must be valid UTF-8 */
            i += cl;
        }
        slm_free(text);
        slm_free(ids);
    }
    return 0;
}
