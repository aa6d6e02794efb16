/* test_tokenizer.c — the SentencePiece BPE tokenizer on tok512 (from $SLM_DATA): known ids,
 * round trips, byte fallback, streaming pieces, and bad ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slm.h"

int main(void) {
    const char *data = getenv("SLM_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny_lm_models/stories260K/tok512.bin", data ? data : "../shared/data");
    slm_tokenizer *tok;
    if (slm_tokenizer_load(path, &tok) != SLM_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, slm_last_error());
        return 1;
    }
    CHECK(slm_vocab_size(tok) == 512 && slm_token_bos(tok) == 1 && slm_token_eos(tok) == 2, "vocab");
    int32_t *ids;
    size_t n;
    slm_tokenize_options bos = {1, 0}, nobos = {0, 0};
    const int32_t want[] = {1, 403, 407, 261, 378, 432, 261, 262, 423, 388, 400, 428};
    const char *text = "Once upon a time, a small dog";
    CHECK(slm_tokenize(tok, text, strlen(text), &bos, &ids, &n) == SLM_OK, "tokenize");
    CHECK(n == sizeof want / sizeof want[0] && memcmp(ids, want, sizeof want) == 0, "ids of the reference prompt");
    char *back;
    size_t len;
    CHECK(slm_detokenize(tok, ids, n, &back, &len) == SLM_OK && strcmp(back, text) == 0, "round trip: '%s'", back);
    slm_free(back);
    slm_free(ids);

    CHECK(slm_tokenize(tok, "", 0, &bos, &ids, &n) == SLM_OK && n == 1 && ids[0] == 1, "empty text is just BOS");
    slm_free(ids);
    CHECK(slm_tokenize(tok, "", 0, &nobos, &ids, &n) == SLM_OK && n == 0, "empty text without BOS is nothing");
    slm_free(ids);

    const char *emoji = "\xF0\x9F\xA6\x99 x"; /* not in a 512-token vocabulary: byte fallback */
    CHECK(slm_tokenize(tok, emoji, strlen(emoji), &nobos, &ids, &n) == SLM_OK, "emoji");
    CHECK(slm_detokenize(tok, ids, n, &back, &len) == SLM_OK && strcmp(back, emoji) == 0, "emoji round trip");
    int bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += strncmp(slm_token_text(tok, ids[i]), "<0x", 3) == 0;
    CHECK(bytes == 4, "four byte tokens, got %d", bytes);
    slm_free(back);
    slm_free(ids);

    const char bad[] = {'a', (char)0xFF, 'b'};
    CHECK(slm_tokenize(tok, bad, 3, &nobos, &ids, &n) == SLM_OK, "invalid UTF-8 is accepted");
    CHECK(slm_detokenize(tok, ids, n, &back, &len) == SLM_OK && strcmp(back, "a\xEF\xBF\xBD" "b") == 0,
          "invalid byte becomes U+FFFD: '%s'", back);
    slm_free(back);
    slm_free(ids);

    char piece[64];
    CHECK(slm_token_to_bytes(tok, 1, 403, piece, sizeof piece) == 4 && memcmp(piece, "Once", 4) == 0, "space dropped after BOS");
    CHECK(slm_token_to_bytes(tok, 403, 407, piece, sizeof piece) == 5 && memcmp(piece, " upon", 5) == 0, "space kept");
    CHECK(slm_token_to_bytes(tok, -1, 512, piece, sizeof piece) == -1, "out-of-range id");
    int32_t oob[2] = {5, 9999};
    CHECK(slm_detokenize(tok, oob, 2, &back, &len) == SLM_ERR_RANGE && strstr(slm_last_error(), "9999"), "bad id refused");
    slm_tokenizer_free(tok);
    return check_summary("test_tokenizer");
}
