/* porter_stem.c — reads words, one a line, on stdin and prints the Porter stem of each
 * (slm_porter_stem) on its own line, for the peer test against NLTK's PorterStemmer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"

int main(void) {
    size_t cap = 1 << 16;
    char *line = malloc(cap), *out = NULL;
    size_t out_cap = 0;
    ssize_t n;
    size_t line_cap = cap;
    while ((n = getline(&line, &line_cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
        if (out_cap < 2 * (size_t)n + 8) {
            out_cap = 2 * (size_t)n + 8;
            out = realloc(out, out_cap);
            if (!out) return 1;
        }
        if (slm_porter_stem(line, (size_t)n, out, out_cap) < 0) {
            fprintf(stderr, "porter_stem: failed on '%s'\n", line);
            return 1;
        }
        puts(out);
    }
    free(line);
    free(out);
    return 0;
}
