/* fuzz_wordpiece.c — libFuzzer harness: BERT's basic tokenizer and WordPiece on arbitrary
 * bytes (all-MiniLM-L6-v2's vocabulary when $SLM_MINILM names its folder, else a small
 * vocab.txt written here), then decoding, which must give valid UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/utf8.h"
#include "slm.h"

static slm_tokenizer *load(void) {
    const char *dir = getenv("SLM_MINILM");
    char tmp[64];
    if (!dir) {
        snprintf(tmp, sizeof tmp, "/tmp/fuzz_wordpiece_%d", (int)getpid());
        if (mkdir(tmp, 0700) != 0 && access(tmp, F_OK) != 0) abort();
        char path[128];
        snprintf(path, sizeof path, "%s/vocab.txt", tmp);
        FILE *f = fopen(path, "w");
        if (!f) abort();
        fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n##a\nb\n##b\nab\n##ab\n,\n.\n!\n\xE4\xB8\xAD\ne\n##e\n", f);
        fclose(f);
        dir = tmp;
    }
    slm_tokenizer *t = NULL;
    if (slm_tokenizer_load(dir, &t) != SLM_OK) {
        fprintf(stderr, "%s\n", slm_last_error());
        abort();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static slm_tokenizer *tok;
    if (!tok) tok = load();
    for (int special = 0; special < 2; special++) {
        int32_t *ids;
        size_t n, len;
        slm_tokenize_options o = {1, special};
        if (slm_tokenize(tok, (const char *)data, size, &o, &ids, &n) != SLM_OK) abort();
        char *text;
        if (slm_detokenize(tok, ids, n, &text, &len) != SLM_OK) abort();
        for (size_t i = 0; i < len;) {
            size_t k = slm_utf8_valid_len(text + i, len - i);
            if (!k) abort();
            i += k;
        }
        slm_free(text);
        slm_free(ids);
    }
    return 0;
}
