/* test_tokenizer_bpe.c — byte-level BPE on a tiny in-memory vocabulary: merge order by rank
 * (leftmost on ties), unmerged bytes, the GPT-2 pre-tokenizer, special tokens, invalid UTF-8,
 * raw-byte decoding, pre-tokenizer names, long runs, and the round trip through GGUF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "slm.h"
#include "tokenizer/tokenizer.h"

/* GPT-2's byte characters, written independently of bpe.c: printable Latin-1 stands for itself,
 * the other bytes take U+0100 onwards in byte order. */
static int byte_char(int byte, char out[2]) {
    int cp = byte, next = 256;
    if (!((byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF))) {
        for (int c = 0; c < byte; c++)
            if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) next++;
        cp = next;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Token ids: 0..255 the bytes (id = byte value), then these, then two special tokens. */
static const char *const WORDS[] = {"ab", "bc", "xy", "yz", "aa", "aaaa", "he", "ll", "hell", "hello", "\xC4\xA0w",
                                    "\xC4\xA0wo", "or", "ld", "\xC4\xA0world", "\xC4\xA0\xC4\xA0"};
#define N_WORDS (int)(sizeof WORDS / sizeof WORDS[0])
enum { ID_AB = 256, ID_BC, ID_XY, ID_YZ, ID_AA, ID_AAAA, ID_HE, ID_LL, ID_HELL, ID_HELLO, ID_SP_W, ID_SP_WO, ID_OR, ID_LD,
       ID_SP_WORLD, ID_SP_SP, ID_END, ID_TOOL, N_VOCAB };
/* Merges, lowest rank first: "y z" outranks "x y", "a b" outranks "b c". */
static const char *const MERGES[] = {"a b", "y z", "b c", "x y", "a a", "aa aa", "h e", "l l", "he ll", "hell o",
                                     "\xC4\xA0 w", "\xC4\xA0w o", "o r", "l d", "\xC4\xA0wo r", "q z" /* no such token */,
                                     "malformed", "\xC4\xA0wor ld" /* "Ġwor" is no token: skipped */,
                                     "\xC4\xA0 \xC4\xA0"};

/* The tiny tokenizer; without_byte >= 0 leaves that byte's character out of the vocabulary. */
static slm_tokenizer *make_tokenizer(const char *pre, int without_byte) {
    slm_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok || tokenizer_alloc(tok, N_VOCAB) != SLM_OK) return NULL;
    for (int b = 0; b < 256; b++) {
        char s[2];
        int n = byte_char(b, s);
        if (b == without_byte) tokenizer_set_token(tok, b, "<unused>", 8, 0, TOKEN_UNUSED);
        else tokenizer_set_token(tok, b, s, (uint32_t)n, 0, TOKEN_NORMAL);
    }
    for (int i = 0; i < N_WORDS; i++) tokenizer_set_token(tok, 256 + i, WORDS[i], (uint32_t)strlen(WORDS[i]), 0, TOKEN_NORMAL);
    tokenizer_set_token(tok, ID_END, "<|end|>", 7, 0, TOKEN_CONTROL);
    tokenizer_set_token(tok, ID_TOOL, "<tool>", 6, 0, TOKEN_USER_DEFINED);
    tok->add_bos = 0;
    tok->eos = ID_END;
    if (tokenizer_finish(tok) != SLM_OK || bpe_init(tok, pre) != SLM_OK) return NULL;
    for (size_t i = 0; i < sizeof MERGES / sizeof MERGES[0]; i++)
        if (bpe_add_merge(tok, MERGES[i], strlen(MERGES[i])) != SLM_OK) return NULL;
    return tok;
}

static int g_n;
static int32_t g_ids[64];

/* Tokenizes text (n bytes) into g_ids/g_n; -1 on error. */
static int encode(const slm_tokenizer *tok, const char *text, size_t n, int parse_special) {
    slm_tokenize_options o = {0, parse_special};
    int32_t *ids;
    size_t n_ids;
    if (slm_tokenize(tok, text, n, &o, &ids, &n_ids) != SLM_OK) return g_n = -1;
    g_n = (int)n_ids;
    for (size_t i = 0; i < n_ids && i < 64; i++) g_ids[i] = ids[i];
    slm_free(ids);
    return g_n;
}

static int ids_are(const int32_t *want, int n) {
    return g_n == n && memcmp(g_ids, want, (size_t)n * sizeof *want) == 0;
}

/* Decodes g_ids and compares with want (n bytes), also through slm_token_to_bytes. */
static int decodes_to(const slm_tokenizer *tok, const char *want, size_t n) {
    char *text;
    size_t len;
    if (slm_detokenize(tok, g_ids, (size_t)g_n, &text, &len) != SLM_OK) return 0;
    int ok = len == n && memcmp(text, want, n) == 0;
    slm_free(text);
    char stream[256];
    size_t at = 0;
    for (int i = 0; i < g_n; i++) {
        int k = slm_token_to_bytes(tok, i ? g_ids[i - 1] : -1, g_ids[i], stream + at, sizeof stream - at);
        if (k < 0) return 0;
        at += (size_t)k;
    }
    return ok && at == n && memcmp(stream, want, n) == 0;
}

#define ENC(tok, lit, special) encode(tok, lit, sizeof(lit) - 1, special)
#define IDS(...) ids_are((const int32_t[]){__VA_ARGS__}, (int)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))
#define DEC(tok, lit) decodes_to(tok, lit, sizeof(lit) - 1)

/* Written as GGUF metadata (tokenizer_to_gguf) and loaded back, the tokenizer is the same:
 * pieces, types, EOS, pre-tokenizer, and the encodings that depend on merge ranks. */
static void check_gguf_round_trip(const slm_tokenizer *tok) {
    char path[] = "/tmp/slm_test_bpe_XXXXXX";
    int fd = mkstemp(path);
    gguf_writer *w = gguf_writer_new();
    void *keep = NULL;
    CHECK(fd >= 0 && w && tokenizer_to_gguf(tok, w, &keep) == SLM_OK && gguf_writer_write(w, path) == SLM_OK,
          "write: %s", slm_last_error());
    free(keep);
    gguf_writer_free(w);
    slm_tokenizer *back = NULL;
    CHECK(slm_tokenizer_load(path, &back) == SLM_OK, "load back: %s", slm_last_error());
    if (back) {
        int same = back->n_vocab == tok->n_vocab && back->eos == tok->eos && back->kind == TOKENIZER_BPE &&
                   back->add_bos == tok->add_bos;
        for (int i = 0; same && i < tok->n_vocab; i++)
            same = back->len[i] == tok->len[i] && memcmp(back->text[i], tok->text[i], tok->len[i]) == 0 &&
                   back->type[i] == tok->type[i];
        CHECK(same, "the vocabulary changed through GGUF");
        bool k1, k2;
        CHECK(strcmp(bpe_pre_name(back, &k1), bpe_pre_name(tok, &k2)) == 0 && k1 == k2, "pre-tokenizer changed");
        const char *texts[] = {"abc", "xyz", "aaaaa", "hello world", "hello worl", "a  b", "x<tool>y<|end|>"};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            int32_t want[64];
            int n = encode(tok, texts[i], strlen(texts[i]), 1);
            memcpy(want, g_ids, sizeof want);
            CHECK(encode(back, texts[i], strlen(texts[i]), 1) == n && ids_are(want, n), "'%s' encodes differently",
                  texts[i]);
        }
    }
    slm_tokenizer_free(back);
    if (fd >= 0) close(fd);
    remove(path);
}

int main(void) {
    slm_tokenizer *tok = make_tokenizer("gpt2", -1);
    if (!tok) {
        fprintf(stderr, "cannot build the test tokenizer: %s\n", slm_last_error());
        return 1;
    }
    bool known;
    CHECK(strcmp(bpe_pre_name(tok, &known), "default") == 0 && known, "gpt2 is GPT-2's pre-tokenizer");

    /* merge order: the lower rank wins wherever it is in the word */
    CHECK(ENC(tok, "abc", 0) == 2 && IDS(ID_AB, 'c'), "abc: a b (rank 0) before b c (rank 2)");
    CHECK(ENC(tok, "xyz", 0) == 2 && IDS('x', ID_YZ), "xyz: y z (rank 1) before x y (rank 3)");
    CHECK(ENC(tok, "aaa", 0) == 2 && IDS(ID_AA, 'a'), "aaa: leftmost pair first on equal ranks");
    CHECK(ENC(tok, "aaaaa", 0) == 2 && IDS(ID_AAAA, 'a'), "aaaaa: aa aa, then a");
    CHECK(ENC(tok, "hello", 0) == 1 && IDS(ID_HELLO), "hello: chained merges");
    CHECK(ENC(tok, "hello world", 0) == 4 && IDS(ID_HELLO, ID_SP_WO, 'r', ID_LD) && DEC(tok, "hello world"),
          "the space goes with the next word; Ġwo r is skipped (Ġwor is no token), so Ġworld is not reached");
    CHECK(ENC(tok, "hello worl", 0) == 4 && IDS(ID_HELLO, ID_SP_WO, 'r', 'l'),
          "Ġwo r -> Ġwor is skipped (no such token), so r and l stay");
    /* GPT-2's regex: a run of spaces leaves its last space to the next word */
    CHECK(ENC(tok, "a  b", 0) == 4 && IDS('a', ' ', ' ', 'b'), "a, space, space b: %d ids", g_n);
    CHECK(ENC(tok, "a  ", 0) == 2 && IDS('a', ID_SP_SP), "a trailing run of spaces is one piece");

    /* bytes that no merge covers stay byte tokens; decoding gives the exact bytes back */
    const char emoji[] = "\xF0\x9F\xA6\x99\x01\x7F";
    CHECK(encode(tok, emoji, 6, 0) == 6 && IDS(0xF0, 0x9F, 0xA6, 0x99, 0x01, 0x7F) && decodes_to(tok, emoji, 6),
          "an unseen emoji and control bytes are byte tokens");

    /* special tokens: control ones only with parse_special, user-defined ones always */
    CHECK(ENC(tok, "ab<|end|>ab", 1) == 3 && IDS(ID_AB, ID_END, ID_AB) && DEC(tok, "abab"),
          "a control token is matched with parse_special and decodes to nothing");
    CHECK(ENC(tok, "<|end|>", 0) == 7 && DEC(tok, "<|end|>"), "without parse_special it is text");
    CHECK(ENC(tok, "x<tool>y", 0) == 3 && IDS('x', ID_TOOL, 'y') && DEC(tok, "x<tool>y"),
          "a user-defined token is always matched and decodes to its text");

    /* invalid UTF-8: U+FFFD (EF BF BD) per bad byte, then the usual byte tokens */
    const char bad[] = {'a', (char)0xFF, (char)0xC3, 'b'};
    CHECK(encode(tok, bad, 4, 0) == 8 && IDS('a', 0xEF, 0xBF, 0xBD, 0xEF, 0xBF, 0xBD, 'b') &&
              DEC(tok, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b"),
          "each invalid byte becomes U+FFFD (%d ids)", g_n);

    /* decoding is raw bytes: half a character is not replaced, nor a crash */
    g_n = 2, g_ids[0] = 'a', g_ids[1] = 0xF0;
    CHECK(DEC(tok, "a\xF0"), "a token sequence that ends inside a character decodes to its raw bytes");
    char piece[8];
    CHECK(slm_token_to_bytes(tok, -1, 0xC3, piece, sizeof piece) == 1 && (uint8_t)piece[0] == 0xC3, "one raw byte");
    CHECK(slm_token_to_bytes(tok, -1, ID_END, piece, sizeof piece) == 0, "a control token streams nothing");
    CHECK(slm_token_to_bytes(tok, -1, ID_SP_WORLD, piece, 3) == 3 && memcmp(piece, " wo", 3) == 0, "cut at cap");
    CHECK(slm_token_to_bytes(tok, -1, N_VOCAB, piece, sizeof piece) == -1, "out-of-range id");
    int32_t oob[2] = {5, N_VOCAB};
    char *text;
    size_t len;
    CHECK(slm_detokenize(tok, oob, 2, &text, &len) == SLM_ERR_RANGE, "out-of-range id refused");
    CHECK(ENC(tok, "", 0) == 0, "empty text");

    /* a 100 kB run of one letter: merged in n log n, not n^2 */
    size_t n_long = 100000;
    char *run = malloc(n_long);
    memset(run, 'a', n_long);
    double t0 = slm_time_seconds();
    slm_tokenize_options o = {0, 0};
    int32_t *ids;
    size_t n_ids;
    CHECK(slm_tokenize(tok, run, n_long, &o, &ids, &n_ids) == SLM_OK && n_ids == n_long / 4, "100 kB of a: %zu ids",
          n_ids);
    int all = 1;
    for (size_t i = 0; i < n_ids; i++) all &= ids[i] == ID_AAAA;
    CHECK(all, "all aaaa");
    double dt = slm_time_seconds() - t0;
    CHECK(dt < 2.0, "100 kB of one letter took %.2f s", dt);
    slm_free(ids);
    free(run);
    check_gguf_round_trip(tok);
    slm_tokenizer_free(tok);

    /* a byte whose character is not in the vocabulary is dropped (there is no <unk>) */
    tok = make_tokenizer("llama-bpe", 0x01);
    CHECK(tok != NULL, "second tokenizer");
    CHECK(ENC(tok, "a\x01" "b", 0) == 2 && IDS('a', 'b'), "byte 0x01 has no token: dropped (%d ids)", g_n);
    CHECK(ENC(tok, "hello world", 0) == 2 && IDS(ID_HELLO, ID_SP_WORLD), "llama-bpe takes a whole-word token as is");
    CHECK(strcmp(bpe_pre_name(tok, &known), "llama3") == 0 && known, "llama-bpe is Llama 3's pre-tokenizer");
    slm_tokenizer_free(tok);

    /* every pre-tokenizer name compiles; unknown names fall back to GPT-2's */
    const char *names[] = {"default", "gpt2", "gpt-2", "mpt", "olmo", "phi-2", "llama3", "llama-v3", "llama-bpe", "qwen2",
                           "deepseek-r1-qwen", "starcoder", "refact", "falcon", "deepseek-coder", "deepseek-llm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tok = make_tokenizer(names[i], -1);
        CHECK(tok && bpe_pre_name(tok, &known) && known, "pre-tokenizer %s", names[i]);
        CHECK(tok && ENC(tok, "hello world 123", 0) > 0 && DEC(tok, "hello world 123"), "%s round trip", names[i]);
        slm_tokenizer_free(tok);
    }
    tok = make_tokenizer("no-such-pre", -1);
    CHECK(tok && strcmp(bpe_pre_name(tok, &known), "default") == 0 && !known, "an unknown name gets GPT-2's");
    slm_tokenizer_free(tok);
    tok = make_tokenizer(NULL, -1);
    CHECK(tok && strcmp(bpe_pre_name(tok, &known), "default") == 0 && known, "no name gets GPT-2's");
    slm_tokenizer_free(tok);
    return check_summary("test_tokenizer_bpe");
}
