/* test_tagging.c — BIO token tagging helpers (src/train/token_tagging.c): treebank-like word
 * splitting, span decoding (I without B tolerated), window starts over long documents, and the
 * projection of word tags onto the first WordPiece of each word (the other pieces -1). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/token_tagging.h"

static void check_split(void) {
    const char *text = "The (IBS) thesis, well-known: 3.5 x\xff" "y  end.";
    tag_word *w;
    int n;
    CHECK(tag_split_words(text, strlen(text), &w, &n) == SLM_OK, "split");
    const char *want[] = {"The", "(", "IBS", ")", "thesis", ",", "well-known", ":", "3.5", "x", "y", "end", "."};
    const int n_want = (int)(sizeof want / sizeof want[0]);
    CHECK(n == n_want, "split: %d words, expected %d", n, n_want);
    for (int i = 0; i < n && i < n_want; i++) {
        const size_t len = w[i].end - w[i].start;
        CHECK(len == strlen(want[i]) && memcmp(text + w[i].start, want[i], len) == 0, "word %d is \"%.*s\", expected \"%s\"",
              i, (int)len, text + w[i].start, want[i]);
    }
    free(w);
    CHECK(tag_split_words("   ", 3, &w, &n) == SLM_OK && n == 0, "blank text: no words");
    free(w);
    CHECK(tag_split_words("\"quoted\"", 8, &w, &n) == SLM_OK && n == 3, "quotes peel off: %d words", n);
    free(w);
}

static void check_decode(void) {
    /*                      0      1      2      3      4      5      6      7      8 */
    const uint8_t tags[] = {TAG_O, TAG_B, TAG_I, TAG_I, TAG_O, TAG_I, TAG_I, TAG_B, TAG_B};
    int s[8], e[8];
    const int n = tag_decode_spans(tags, 9, s, e, 8);
    const int ws[] = {1, 5, 7, 8}, we[] = {4, 7, 8, 9};
    CHECK(n == 4, "decode: %d spans, expected 4", n);
    for (int i = 0; i < n && i < 4; i++)
        CHECK(s[i] == ws[i] && e[i] == we[i], "span %d is [%d, %d), expected [%d, %d)", i, s[i], e[i], ws[i], we[i]);
    CHECK(tag_decode_spans(tags, 9, s, e, 2) == 4, "a short buffer still counts every span");
    const uint8_t none[] = {TAG_O, TAG_O};
    CHECK(tag_decode_spans(none, 2, s, e, 8) == 0, "all O: no span");
    CHECK(tag_decode_spans(none, 0, s, e, 8) == 0, "no words: no span");
}

static void check_windows(void) {
    int st[16];
    CHECK(tag_window_starts(10, 12, st, 16) == 1 && st[0] == 0, "a document that fits is one window");
    /* width 10, stride 5, 23 pieces: 0, 5, 10, then the last ends at 23 */
    const int n = tag_window_starts(23, 12, st, 16);
    CHECK(n == 4 && st[0] == 0 && st[1] == 5 && st[2] == 10 && st[3] == 13, "windows: %d (%d %d %d %d)", n, st[0], st[1],
          st[2], st[3]);
    CHECK(tag_window_starts(23, 12, NULL, 0) == 4, "counting without a buffer");
    for (int pieces = 1; pieces < 60; pieces++) { /* every piece is covered, every window full unless it is alone */
        const int k = tag_window_starts(pieces, 12, st, 16);
        int covered = 0;
        for (int i = 0; i < k; i++) {
            CHECK(st[i] >= 0 && (k == 1 || st[i] + 10 <= pieces), "%d pieces: window %d starts at %d", pieces, i, st[i]);
            if (st[i] <= covered) covered = st[i] + 10;
        }
        CHECK(covered >= pieces, "%d pieces: covered up to %d", pieces, covered);
    }
}

static void check_projection(void) {
    /* words: "graph"(1 piece) "neural"(2) "nets"(1) "x"(0 pieces) "rock"(3) */
    int32_t pieces[] = {10, 20, 21, 30, 50, 51, 52};
    int first[] = {0, 1, 3, 4, 4, 7};
    const tag_pieces doc = {pieces, first, 5, 7};
    const uint8_t tags[] = {TAG_B, TAG_I, TAG_I, TAG_O, TAG_B};
    int32_t row[16], labels[16];
    int len;
    tag_window_row(&doc, 0, 16, 101, 102, row, &len, tags, labels);
    const int32_t want_row[] = {101, 10, 20, 21, 30, 50, 51, 52, 102};
    const int32_t want_lab[] = {-1, TAG_B, TAG_I, -1, TAG_I, TAG_B, -1, -1, -1};
    CHECK(len == 9, "row length %d", len);
    for (int i = 0; i < len && i < 9; i++) {
        CHECK(row[i] == want_row[i], "row[%d] = %d, expected %d", i, row[i], want_row[i]);
        CHECK(labels[i] == want_lab[i], "labels[%d] = %d, expected %d", i, labels[i], want_lab[i]);
    }
    /* a window starting inside "neural" (piece 2): the continuation piece has no label */
    tag_window_row(&doc, 2, 6, 101, 102, row, &len, tags, labels);
    const int32_t want_row2[] = {101, 21, 30, 50, 51, 102};
    const int32_t want_lab2[] = {-1, -1, TAG_I, TAG_B, -1, -1};
    CHECK(len == 6, "window row length %d", len);
    for (int i = 0; i < len && i < 6; i++)
        CHECK(row[i] == want_row2[i] && labels[i] == want_lab2[i], "window [%d]: %d/%d, expected %d/%d", i, row[i],
              labels[i], want_row2[i], want_lab2[i]);
    tag_window_row(&doc, 0, 16, 101, 102, row, &len, NULL, NULL);
    CHECK(len == 9 && row[8] == 102, "without tags: ids only");
}

int main(void) {
    check_split();
    check_decode();
    check_windows();
    check_projection();
    return check_summary("test_tagging");
}
