/* read_text.c — whole-file reading for the subcommands, with a size limit. */
#include "cli/read_text.h"

#include <errno.h>
#include <stdlib.h>

char *read_stream(FILE *f, size_t max_bytes, size_t *len) {
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *b = cap > max_bytes ? NULL : realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                errno = cap > max_bytes ? EFBIG : ENOMEM;
            }
            buf = b;
        }
    }
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *read_text_file(const char *path, size_t max_bytes, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = read_stream(f, max_bytes, len);
    fclose(f);
    return text;
}
