/* test_tokenizer_train.c — tokenizer training on tiny corpora: the merge engine's pair counts
 * after every step against a brute-force recount, its choice against the rule (most frequent,
 * then the greatest pair of byte strings), overlapping pairs, merges that give an existing
 * symbol; word counting cut into tiny blocks and threads against one block; end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slm.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/train.h"

/* ---------------------------------------------------------------- a brute-force model */

#define MAX_SYMS 64
#define MAX_WORDS 16
#define MAX_LEN 16

typedef struct {
    char text[MAX_SYMS][64];
    int n_sym;
    int32_t word[MAX_WORDS][MAX_LEN];
    int len[MAX_WORDS];
    int64_t count[MAX_WORDS];
    int n_words;
} model;

static int64_t model_pair_count(const model *md, int32_t a, int32_t b) {
    int64_t n = 0;
    for (int w = 0; w < md->n_words; w++)
        for (int i = 0; i + 1 < md->len[w]; i++)
            if (md->word[w][i] == a && md->word[w][i + 1] == b) n += md->count[w];
    return n;
}

/* Python's comparison of byte strings. */
static int cmp_bytes(const char *x, const char *y) {
    size_t nx = strlen(x), ny = strlen(y), n = nx < ny ? nx : ny;
    int c = memcmp(x, y, n);
    return c ? c : (nx > ny) - (nx < ny);
}

/* The pair the rule picks: most frequent, then greatest (left, right) bytes; count 0 if none. */
static int64_t model_best(const model *md, int32_t *ba, int32_t *bb) {
    int64_t best = 0;
    for (int32_t a = 0; a < md->n_sym; a++)
        for (int32_t b = 0; b < md->n_sym; b++) {
            int64_t n = model_pair_count(md, a, b);
            if (n == 0) continue;
            int c = best == 0 ? 1 : n != best ? (n > best ? 1 : -1) : cmp_bytes(md->text[a], md->text[*ba]);
            if (c == 0) c = cmp_bytes(md->text[b], md->text[*bb]);
            if (c > 0) best = n, *ba = a, *bb = b;
        }
    return best;
}

static void model_merge(model *md, int32_t a, int32_t b, int32_t c) {
    for (int w = 0; w < md->n_words; w++) {
        int j = 0;
        for (int i = 0; i < md->len[w];) {
            if (i + 1 < md->len[w] && md->word[w][i] == a && md->word[w][i + 1] == b) md->word[w][j++] = c, i += 2;
            else md->word[w][j++] = md->word[w][i++];
        }
        md->len[w] = j;
    }
}

/* Words as strings of single-byte symbols (the symbols are the distinct bytes, in order). */
static void model_from_words(model *md, const char *const *words, const int64_t *counts, int n) {
    memset(md, 0, sizeof *md);
    for (int w = 0; w < n; w++) {
        md->len[w] = (int)strlen(words[w]);
        md->count[w] = counts[w];
        for (int i = 0; i < md->len[w]; i++) {
            int32_t id = -1;
            for (int s = 0; s < md->n_sym; s++)
                if (md->text[s][0] == words[w][i] && md->text[s][1] == 0) id = s;
            if (id < 0) {
                id = md->n_sym++;
                md->text[id][0] = words[w][i];
            }
            md->word[w][i] = id;
        }
    }
    md->n_words = n;
}

static merger *engine_for(const model *md) {
    const char *texts[MAX_SYMS];
    uint32_t lens[MAX_SYMS];
    for (int s = 0; s < md->n_sym; s++) texts[s] = md->text[s], lens[s] = (uint32_t)strlen(md->text[s]);
    merger *m;
    if (merger_new(md->n_sym, texts, lens, &m) != SLM_OK) return NULL;
    for (int w = 0; w < md->n_words; w++) merger_add_word(m, md->word[w], (uint32_t)md->len[w], md->count[w]);
    merger_start(m);
    return m;
}

/* Runs the engine to the end beside the model, checking every pair count after every step. */
static void check_against_model(const char *name, const char *const *words, const int64_t *counts, int n) {
    model md;
    model_from_words(&md, words, counts, n);
    merger *m = engine_for(&md);
    CHECK(m != NULL, "%s: engine", name);
    if (!m) return;
    int bad_counts = 0, steps = 0;
    for (;; steps++) {
        int32_t ea = -1, eb = -1;
        int64_t want = model_best(&md, &ea, &eb);
        merge_step s;
        CHECK(merger_step(m, &s) == SLM_OK, "%s: step", name);
        if (want == 0) {
            CHECK(s.merged == -1, "%s: step %d merged a pair the model does not have", name, steps);
            break;
        }
        CHECK(s.left == ea && s.right == eb && s.count == want, "%s: step %d chose (%s, %s) x%lld, want (%s, %s) x%lld", name,
              steps, s.left >= 0 ? md.text[s.left] : "-", s.right >= 0 ? md.text[s.right] : "-", (long long)s.count,
              md.text[ea], md.text[eb], (long long)want);
        if (s.left != ea || s.right != eb || md.n_sym + 1 >= MAX_SYMS) break;
        /* the merged symbol: an existing one with these bytes, or the next new one */
        char joined[64];
        size_t la = strlen(md.text[ea]), lb = strlen(md.text[eb]);
        if (la + lb >= sizeof joined) break;
        memcpy(joined, md.text[ea], la);
        memcpy(joined + la, md.text[eb], lb + 1);
        int32_t want_id = md.n_sym;
        for (int32_t k = 0; k < md.n_sym; k++)
            if (strcmp(md.text[k], joined) == 0) want_id = k;
        CHECK(s.merged == want_id && s.is_new == (want_id == md.n_sym), "%s: step %d gave symbol %d (new %d), want %d", name,
              steps, s.merged, s.is_new, want_id);
        if (s.merged != want_id) break;
        if (want_id == md.n_sym) memcpy(md.text[md.n_sym++], joined, la + lb + 1);
        model_merge(&md, ea, eb, s.merged);
        for (int32_t a = 0; a < md.n_sym; a++)
            for (int32_t b = 0; b < md.n_sym; b++)
                bad_counts += merger_pair_count(m, a, b) != model_pair_count(&md, a, b);
    }
    CHECK(bad_counts == 0, "%s: %d pair counts differ from a recount", name, bad_counts);
    CHECK(steps > 3, "%s: only %d steps", name, steps);
    merger_free(m);
}

static void test_engine_against_model(void) {
    /* Sennrich et al.'s example, and words with runs and repeats */
    const char *w1[] = {"low", "lower", "newest", "widest"};
    const int64_t c1[] = {5, 2, 6, 3};
    check_against_model("sennrich", w1, c1, 4);
    const char *w2[] = {"aaaa", "aaa", "abab", "baab", "ab", "bbbbb"};
    const int64_t c2[] = {3, 2, 4, 1, 7, 2};
    check_against_model("runs", w2, c2, 6);
    const char *w3[] = {"the", "then", "there", "other", "thee", "eth", "hthe"};
    const int64_t c3[] = {9, 4, 4, 3, 1, 2, 1};
    check_against_model("overlaps", w3, c3, 7);
}

/* ---------------------------------------------------------------- the rule's corners */

static void test_tie_break_and_reuse(void) {
    /* equal counts: the greater pair of byte strings wins, a prefix sorting before its extensions */
    const char *texts[] = {"a", "ab", "b", "c", "bc", ""};
    uint32_t lens[] = {1, 2, 1, 1, 2, 0};
    merger *m;
    CHECK(merger_new(6, texts, lens, &m) == SLM_OK, "engine");
    int32_t w1[] = {0, 2}, w2[] = {1, 3}, w3[] = {2, 3, 5, 2, 3}, w4[] = {0, 5, 0};
    merger_add_word(m, w1, 2, 2); /* (a, b) x2 */
    merger_add_word(m, w2, 2, 2); /* (ab, c) x2: ties with (a, b), greater ("ab" > "a") */
    merger_add_word(m, w3, 5, 2); /* (b, c) x4 across an unmergeable symbol, whose pairs never count */
    merger_add_word(m, w4, 3, 9);
    merger_start(m);
    CHECK(merger_pair_count(m, 0, 5) == 0 && merger_pair_count(m, 5, 0) == 0, "the unmergeable symbol has no pairs");
    merge_step s;
    merger_step(m, &s);
    CHECK(s.left == 2 && s.right == 3 && s.count == 4, "most frequent first: (%d, %d) x%lld", s.left, s.right, (long long)s.count);
    CHECK(s.merged == 4 && !s.is_new, "b + c reuses the symbol bc: %d (new %d)", s.merged, s.is_new);
    merger_step(m, &s);
    CHECK(s.left == 1 && s.right == 3 && s.count == 2, "tie: (ab, c) before (a, b): got (%d, %d)", s.left, s.right);
    CHECK(s.is_new && s.merged == 6, "abc is new: %d", s.merged);
    uint32_t len;
    const char *t = merger_text(m, s.merged, &len);
    CHECK(len == 3 && memcmp(t, "abc", 3) == 0, "text of the merged symbol");
    merger_step(m, &s);
    CHECK(s.left == 0 && s.right == 2, "then (a, b)");
    CHECK(s.merged == 1 && !s.is_new, "a + b reuses ab");
    merger_step(m, &s);
    CHECK(s.merged == -1, "no pair left");
    merger_free(m);
}

/* ---------------------------------------------------------------- counting words */

static int same_corpus(const train_corpus *x, const train_corpus *y) {
    if (x->n_words != y->n_words || x->n_bytes != y->n_bytes) return 0;
    for (size_t i = 0; i < x->n_words; i++)
        if (x->words[i].len != y->words[i].len || x->words[i].count != y->words[i].count ||
            memcmp(x->words[i].text, y->words[i].text, x->words[i].len) != 0)
            return 0;
    return 1;
}

static int64_t word_count(const train_corpus *c, const char *w) {
    for (size_t i = 0; i < c->n_words; i++)
        if (c->words[i].len == strlen(w) && memcmp(c->words[i].text, w, c->words[i].len) == 0) return c->words[i].count;
    return 0;
}

static void test_counting_in_blocks(void) {
    /* lines, runs of spaces and newlines, special tokens (one spanning a line end, one that
       starts with a newline, one right after newlines), invalid UTF-8, a long line */
    char text[4096];
    size_t n = 0;
    const char *parts[] = {"Hello world, hello  world!\n", "<|end|>a b\n\n\nc  \n  d<|end|>\nE\n",
                           "x\xff\xfey caf\xc3\xa9 \xe2\x96\x81\n", "tab\there  \n\nsplit<|e", "nd|>line\n",
                           "it's 12 345 !!\n  \n\n", "sat\n\n<|end|>t\n#x\n#\n##y\n"};
    for (int rep = 0; rep < 12; rep++)
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            memcpy(text + n, parts[i], strlen(parts[i]));
            n += strlen(parts[i]);
        }
    memset(text + n, 'q', 300); /* a line longer than the small blocks */
    n += 300;
    const char *specials[] = {"<|end|>", "\n#"}; /* one that starts with a newline */
    slm_tokenizer_train_params p = slm_tokenizer_train_defaults();
    p.specials = specials;
    p.n_specials = 2;
    for (int split = SPLIT_GPT2; split <= SPLIT_SPM; split++) {
        train_corpus whole, cut;
        slm_set_threads(1);
        train_source src = {.text = text, .len = n};
        CHECK(train_count_words(&src, (train_split)split, &p, &whole) == SLM_OK, "count: %s", slm_last_error());
        static const size_t blocks[] = {2, 3, 5, 8, 13, 18, 21, 40, 131};
        for (int threads = 1; threads <= 3; threads++)
            for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
                size_t block = blocks[b];
                slm_set_threads(threads);
                train_source small = {.text = text, .len = n, .block = block};
                CHECK(train_count_words(&small, (train_split)split, &p, &cut) == SLM_OK, "count");
                CHECK(same_corpus(&whole, &cut), "split %d: %d threads, blocks of %zu bytes count differently", split, threads,
                      block);
                train_corpus_free(&cut);
            }
        if (split == SPLIT_GPT2) {
            CHECK(word_count(&whole, " world") == 24, "' world' x%lld", (long long)word_count(&whole, " world"));
            CHECK(word_count(&whole, "\n\n") == 24 && word_count(&whole, "\n") > 0, "newline runs");
            CHECK(word_count(&whole, "<|end|>") == 0 && word_count(&whole, "<|") == 0, "special tokens are not counted");
            CHECK(word_count(&whole, "\xef\xbf\xbd\xef\xbf\xbd") == 12, "invalid bytes became U+FFFD");
        } else {
            CHECK(word_count(&whole, "\xe2\x96\x81world,") == 12 && word_count(&whole, "\xe2\x96\x81world!") == 12,
                  "SPM words");
            CHECK(word_count(&whole, "\xe2\x96\x81") > 0, "runs of spaces leave lone marks");
            CHECK(word_count(&whole, "\xe2\x96\x81" "a") == 12, "a segment after a special gets the prefix");
            CHECK(word_count(&whole, "\xe2\x96\x81x\xff\xfey") == 12, "invalid bytes are kept for SPM");
        }
        train_corpus_free(&whole);
    }
    slm_set_threads(0);
}

/* ---------------------------------------------------------------- end to end */

static void check_round_trip(const slm_tokenizer *tok, const char *text, const char *what) {
    int32_t *ids;
    size_t n_ids;
    char *back;
    size_t len;
    slm_tokenize_options o = {0, 0};
    CHECK(slm_tokenize(tok, text, strlen(text), &o, &ids, &n_ids) == SLM_OK, "%s: tokenize", what);
    CHECK(slm_detokenize(tok, ids, n_ids, &back, &len) == SLM_OK, "%s: detokenize", what);
    CHECK(len == strlen(text) && memcmp(back, text, len) == 0, "%s: round trip gave '%s'", what, back);
    slm_free(ids);
    slm_free(back);
}

static void test_end_to_end(void) {
    const char *text = "the cat sat on the mat. the cat ate the rat.\nthe end<|eot|>the start\n";
    const char *specials[] = {"<|eot|>"};
    slm_tokenizer_train_params p = slm_tokenizer_train_defaults();
    p.specials = specials;
    p.n_specials = 1;
    p.vocab_size = 256 + 1 + 10;
    slm_tokenizer *tok;
    slm_tokenizer_train_stats stats;
    CHECK(slm_tokenizer_train_text(text, strlen(text), &p, &tok, &stats) == SLM_OK, "train: %s", slm_last_error());
    CHECK(slm_vocab_size(tok) == 267 && stats.n_merges == 10, "%d tokens, %d merges", slm_vocab_size(tok), stats.n_merges);
    CHECK(strcmp(slm_token_text(tok, 0), "<|eot|>") == 0 && slm_token_eos(tok) == 0, "special token first");
    /* (t, h), (h, e) and (a, t) occur 6 times each: the greatest pair of bytes goes first */
    CHECK(strcmp(slm_token_text(tok, 257), "th") == 0 && strcmp(slm_token_text(tok, 258), "the") == 0,
          "first merges: '%s' '%s'", slm_token_text(tok, 257), slm_token_text(tok, 258));
    check_round_trip(tok, "the cat, the rat and the bat \xf0\x9f\xa6\x99", "bpe");
    slm_tokenizer_free(tok);

    p.type = SLM_TOKENIZER_SPM;
    p.vocab_size = 3 + 1 + 256 + 40;
    CHECK(slm_tokenizer_train_text(text, strlen(text), &p, &tok, &stats) == SLM_OK, "train spm: %s", slm_last_error());
    CHECK(slm_vocab_size(tok) <= 300 && stats.n_chars > 10, "%d tokens, %d characters", slm_vocab_size(tok), stats.n_chars);
    CHECK(strcmp(slm_token_text(tok, 3), "<|eot|>") == 0 && strcmp(slm_token_text(tok, 4), "<0x00>") == 0, "layout");
    CHECK(strcmp(slm_token_text(tok, 260), "▁t") == 0, "first piece: '%s'", slm_token_text(tok, 260));
    check_round_trip(tok, "the cat, the rat and  the bat \xf0\x9f\xa6\x99\nZ", "spm");
    slm_tokenizer_free(tok);

    p.vocab_size = 100;
    CHECK(slm_tokenizer_train_text(text, strlen(text), &p, &tok, NULL) == SLM_ERR_INVALID_ARG && tok == NULL,
          "a vocabulary too small for the byte tokens is refused");
    CHECK(strstr(slm_last_error(), "at least 261") != NULL, "message: %s", slm_last_error());
}

int main(void) {
    test_engine_against_model();
    test_tie_break_and_reuse();
    test_counting_in_blocks();
    test_end_to_end();
    return check_summary("test_tokenizer_train");
}
