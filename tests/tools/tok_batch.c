/* tok_batch.c — test tool: tokenizes many texts with one tokenizer load, for the peer tests.
 * Input: records of (u32 little-endian length, bytes). Output per record: the ids (space
 * separated), a TAB, and the hex of slm_detokenize(ids); with --stream also a TAB and the hex
 * of the slm_token_to_bytes pieces put together.
 * usage: tok_batch TOKENIZER(.gguf|.bin) RECORDS [--bos] [--special] [--stream] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tok_batch TOKENIZER RECORDS [--bos] [--special] [--stream]\n");
        return 2;
    }
    slm_tokenize_options opts = {0, 0};
    int stream = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--bos") == 0) opts.add_bos = 1;
        else if (strcmp(argv[i], "--special") == 0) opts.parse_special = 1;
        else if (strcmp(argv[i], "--stream") == 0) stream = 1;
    }
    slm_tokenizer *tok;
    if (slm_tokenizer_load(argv[1], &tok) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open %s\n", argv[2]);
        return 1;
    }
    uint32_t len;
    int status = 0;
    while (fread(&len, 4, 1, f) == 1) {
        char *text = malloc(len + 1);
        if (!text || fread(text, 1, len, f) != len) {
            fprintf(stderr, "error: truncated records file\n");
            free(text);
            status = 1;
            break;
        }
        int32_t *ids;
        size_t n;
        if (slm_tokenize(tok, text, len, &opts, &ids, &n) != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            free(text);
            status = 1;
            break;
        }
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        char *decoded;
        size_t dlen;
        if (slm_detokenize(tok, ids, n, &decoded, &dlen) != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            status = 1;
        } else {
            printf("\t");
            for (size_t i = 0; i < dlen; i++) printf("%02x", (unsigned char)decoded[i]);
            slm_free(decoded);
        }
        if (stream) {
            printf("\t");
            char piece[1024];
            for (size_t i = 0; i < n; i++) {
                int k = slm_token_to_bytes(tok, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
                for (int j = 0; j < k; j++) printf("%02x", (unsigned char)piece[j]);
            }
        }
        printf("\n");
        slm_free(ids);
        free(text);
    }
    fclose(f);
    slm_tokenizer_free(tok);
    return status;
}
