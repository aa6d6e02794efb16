/* test_keywords.c — keyword extraction: Porter stems (NLTK's answers), word splitting and
 * candidates, the evaluation protocol on a hand-computed case, the corpus readers (JSONL, a
 * LIAAD folder, the shared SemEval-2017 zip when SLM_DATA has it), hostile inputs (empty
 * text, no candidates, invalid UTF-8, a 1 MB document, bad options), and the supervised
 * method's phrases from given tag probabilities (decoding, span probability, stem merging). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "slm.h"
#include "task/keywords_internal.h"
#include "task/keywords_supervised.h"

static void test_porter(void) {
    static const char *const cases[][2] = {
        {"caresses", "caress"}, {"flies", "fli"}, {"dies", "die"}, {"mules", "mule"}, {"denied", "deni"},
        {"died", "die"}, {"agreed", "agre"}, {"owned", "own"}, {"humbled", "humbl"}, {"sized", "size"},
        {"meeting", "meet"}, {"stating", "state"}, {"siezing", "siez"}, {"itemization", "item"},
        {"sensational", "sensat"}, {"traditional", "tradit"}, {"reference", "refer"}, {"colonizer", "colon"},
        {"plotted", "plot"}, {"generously", "gener"}, {"skies", "sky"}, {"dying", "die"}, {"news", "news"},
        {"Running", "run"}, {"yyyy", "yyyi"}, {"a1", "a1"}, {"ab", "ab"}, {"happy", "happi"},
        {"relational", "relat"}, {"conditional", "condit"}, {"analogousli", "analog"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        int n = slm_porter_stem(cases[i][0], strlen(cases[i][0]), out, sizeof out);
        CHECK(n >= 0 && strcmp(out, cases[i][1]) == 0, "stem(%s) = %s, want %s", cases[i][0], out, cases[i][1]);
    }
    char out[8];
    CHECK(slm_porter_stem("\xff\xfe", 2, out, sizeof out) == -1, "invalid UTF-8 is refused");
    CHECK(slm_porter_stem("internationalization", 20, out, sizeof out) == -1, "a small buffer is refused");
    /* a long word of one letter (no quadratic blow-up, no stack arrays) */
    size_t n = 200000;
    char *y = malloc(n + 1), *o = malloc(2 * n + 8);
    memset(y, 'y', n);
    y[n] = '\0';
    CHECK(slm_porter_stem(y, n, o, 2 * n + 8) > 0, "a 200000-letter word stems");
    free(y);
    free(o);
}

static void test_candidates(void) {
    kw_stopwords *sw;
    CHECK(kw_stopwords_load(NULL, &sw) == SLM_OK, "built-in stopwords load");
    CHECK(kw_stopwords_has(sw, "the", 3) && kw_stopwords_has(sw, "of", 2) && !kw_stopwords_has(sw, "network", 7),
          "stopword membership");
    const char *text = "Neural networks for the recognition of handwritten digits. The networks, trained on "
                       "Zürich data, beat state-of-the-art methods!";
    kw_doc doc;
    CHECK(kw_doc_build(&doc, text, strlen(text), sw, 1, 3) == SLM_OK, "doc builds");
    CHECK(doc.n_sentences == 2, "two sentences, got %d", doc.n_sentences);
    int found_nn = 0, found_zurich = 0, found_soa = 0, crosses = 0, stop_edge = 0;
    for (int i = 0; i < doc.n_cands; i++) {
        char *t = kw_candidate_text(&doc, &doc.cands[i]);
        if (strcmp(t, "Neural networks") == 0) found_nn = doc.cands[i].tf == 1;
        if (strcmp(t, "Zürich data") == 0) found_zurich = 1;
        if (strcmp(t, "state-of-the-art methods") == 0) found_soa = 1;
        if (strstr(t, "digits The") || strstr(t, "networks trained")) crosses = 1;
        if (strncmp(t, "the ", 4) == 0 || strncmp(t, "The ", 4) == 0 || strcmp(t + strlen(t) - 3, " of") == 0)
            stop_edge = 1;
        free(t);
    }
    CHECK(found_nn, "'Neural networks' is a candidate");
    CHECK(found_zurich, "non-ASCII words are words");
    CHECK(found_soa, "hyphenated words stay whole");
    CHECK(!crosses, "candidates do not cross punctuation");
    CHECK(!stop_edge, "candidates neither start nor end with a stopword");
    /* "networks" occurs twice, under one term */
    int tf_network = 0;
    for (int w = 0; w < doc.n_words; w++) tf_network += strcmp(doc.terms[doc.words[w].term].stem, "network") == 0;
    CHECK(tf_network == 2, "term 'network' has tf 2, got %d", tf_network);
    kw_doc_free(&doc);
    CHECK(kw_doc_build(&doc, "x", 1, sw, 2, 1) != SLM_OK, "min > max is refused");
    kw_stopwords_free(sw);

    /* a stopword file of one's own */
    char path[] = "/tmp/slm_test_stopwordsXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temp file");
    const char *list = "# mine\nneural\n  Networks \n";
    CHECK(write(fd, list, strlen(list)) == (ssize_t)strlen(list), "write");
    close(fd);
    CHECK(kw_stopwords_load(path, &sw) == SLM_OK, "own stopwords load");
    CHECK(kw_stopwords_has(sw, "networks", 8) && !kw_stopwords_has(sw, "the", 3), "own list replaces the built-in");
    kw_stopwords_free(sw);
    unlink(path);
    CHECK(kw_stopwords_load("/nonexistent/stop.txt", &sw) == SLM_ERR_IO, "a missing stopword file is an error");
}

static void test_extract(void) {
    slm_keywords *kw;
    slm_keywords_params p = {.method = SLM_KEYWORDS_STAT, .top_k = 5, .n_threads = 2};
    CHECK(slm_keywords_new(&p, &kw) == SLM_OK, "extractor: %s", slm_last_error());
    size_t big_n = (size_t)1 << 20;
    char *big = malloc(big_n + 1);
    const char *words[] = {"quantum ", "error ", "correction ", "of ", "the ", "surface ", "code. ", "Decoders "};
    size_t o = 0;
    for (int i = 0; o + 16 < big_n; i++) {
        const char *w = words[(i * 7 + i / 8) % 8];
        memcpy(big + o, w, strlen(w));
        o += strlen(w);
    }
    big[o] = '\0';
    const char *texts[] = {
        "", "the of and to in", "\xff\xfe\xc3 invalid \xe2\x82 bytes \xed\xa0\x80 around graph theory \xff",
        "Graph neural networks learn node embeddings. Graph neural networks scale to large graphs.", big, NULL};
    slm_keyword_list lists[6];
    CHECK(slm_keywords_extract(kw, texts, 6, lists) == SLM_OK, "extract: %s", slm_last_error());
    CHECK(lists[0].n == 0 && lists[1].n == 0 && lists[5].n == 0, "empty texts give empty lists");
    int found_graph_theory = 0;
    for (int k = 0; k < lists[2].n; k++) found_graph_theory |= strcmp(lists[2].items[k].phrase, "graph theory") == 0;
    CHECK(found_graph_theory, "words between invalid bytes are found");
    CHECK(lists[3].n > 0 && strcmp(lists[3].items[0].phrase, "Graph neural networks") == 0,
          "the repeated phrase ranks first, got %s", lists[3].n ? lists[3].items[0].phrase : "(none)");
    for (int k = 1; k < lists[3].n; k++) CHECK(lists[3].items[k].score <= lists[3].items[k - 1].score, "best first");
    CHECK(lists[4].n == 5, "a 1 MB document gives 5 phrases");
    slm_keyword_lists_free(lists, 6);
    free(big);
    slm_keywords_free(kw);

    slm_keywords_params bad = {.min_words = 3, .max_words = 2};
    CHECK(slm_keywords_new(&bad, &kw) == SLM_ERR_INVALID_ARG, "bad n-gram range is refused");
    slm_keywords_params embed = {.method = SLM_KEYWORDS_EMBED};
    CHECK(slm_keywords_new(&embed, &kw) != SLM_OK, "embed without an encoder is refused");
}

static void test_evaluate(void) {
    /* gold {neural network, deep learning, graph}; predictions: "Neural Networks" matches after
     * stemming, "neural network" is a duplicate, "graphs" matches. */
    const char *g0[] = {"neural network", "deep learning", "graph"};
    const char *p0[] = {"Neural Networks", "neural network", "trees", "graphs", "a", "b", "c", "d", "e", "f", "g"};
    const char *g1[] = {"x"};
    const char *const *gold[] = {g0, g1};
    const char *const *pred[] = {p0, NULL};
    int n_gold[] = {3, 1}, n_pred[] = {11, 0};
    slm_keyphrase_scores s;
    CHECK(slm_keyphrase_evaluate(gold, n_gold, pred, n_pred, 2, &s) == SLM_OK, "evaluate");
    /* doc 0 @5: 10 distinct predictions, first 5 = neural network, trees, graphs, a, b: 2 matches:
     * P = 0.4, R = 2/3, F1 = 0.5; doc 1: all 0. */
    CHECK(fabs(s.precision[0] - 0.2) < 1e-9 && fabs(s.recall[0] - 1.0 / 3) < 1e-9 && fabs(s.f1[0] - 0.25) < 1e-9,
          "@5: P %g R %g F1 %g", s.precision[0], s.recall[0], s.f1[0]);
    /* @10: P = 2/10, R = 2/3, F1 = 2*0.2*0.6667/0.8667 */
    double f1 = 2 * 0.2 * (2.0 / 3) / (0.2 + 2.0 / 3);
    CHECK(fabs(s.f1[1] - f1 / 2) < 1e-9, "@10 F1 %g want %g", s.f1[1], f1 / 2);
    CHECK(s.n_docs == 2, "two documents");
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_corpora(void) {
    char dir[] = "/tmp/slm_test_kpXXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    char path[512];
    snprintf(path, sizeof path, "%s/a.jsonl", dir);
    write_file(path, "{\"paper_id\": 7, \"document\": [\"Graph\", \"-LRB-\", \"theory\", \"-RRB-\"], "
                     "\"extractive_keyphrases\": [\"graph\"], \"abstractive_keyphrases\": [\"theory\"]}\n\n"
                     "{\"id\": \"b\", \"text\": \"Hello world\", \"keyphrases\": [\"world\"]}\n");
    slm_keyphrase_corpus c;
    CHECK(slm_keyphrase_corpus_load(path, NULL, 1, &c) == SLM_OK, "jsonl: %s", slm_last_error());
    CHECK(c.n == 2 && strcmp(c.ids[0], "7") == 0 && strcmp(c.texts[0], "Graph ( theory )") == 0 && c.n_keys[0] == 2,
          "Inspec-style record");
    CHECK(c.n == 2 && strcmp(c.ids[1], "b") == 0 && c.n_keys[1] == 1, "plain record");
    slm_keyphrase_corpus_free(&c);
    write_file(path, "{\"text\": \"no keys here\"}\n");
    CHECK(slm_keyphrase_corpus_load(path, NULL, 1, &c) == SLM_ERR_FORMAT, "missing keys are an error when needed");
    CHECK(slm_keyphrase_corpus_load(path, NULL, 0, &c) == SLM_OK && c.n == 1 && c.n_keys[0] == 0, "texts only");
    slm_keyphrase_corpus_free(&c);
    write_file(path, "{\"text\": \"broken\"\n");
    CHECK(slm_keyphrase_corpus_load(path, NULL, 0, &c) == SLM_ERR_FORMAT, "bad JSON is an error");

    /* a LIAAD folder */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/docsutf8", dir);
    mkdir(sub, 0700);
    snprintf(sub, sizeof sub, "%s/keys", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/docsutf8/d2.txt", dir);
    write_file(path, "Second document about keyphrase extraction.");
    snprintf(path, sizeof path, "%s/docsutf8/d1.txt", dir);
    write_file(path, "First document.");
    snprintf(path, sizeof path, "%s/keys/d1.key", dir);
    write_file(path, "first document\n\n");
    snprintf(path, sizeof path, "%s/keys/d2.key", dir);
    write_file(path, "keyphrase extraction\r\ndocument\n");
    CHECK(slm_keyphrase_corpus_load(dir, NULL, 1, &c) == SLM_OK, "folder: %s", slm_last_error());
    CHECK(c.n == 2 && strcmp(c.ids[0], "d1") == 0 && c.n_keys[0] == 1 && c.n_keys[1] == 2 &&
              strcmp(c.keys[1][0], "keyphrase extraction") == 0,
          "folder documents sorted, keys trimmed");
    slm_keyphrase_corpus_free(&c);
    snprintf(path, sizeof path, "%s/keys/d1.key", dir);
    unlink(path);
    CHECK(slm_keyphrase_corpus_load(dir, NULL, 1, &c) == SLM_ERR_FORMAT, "a document without keys is an error");
    unlink(path);
    snprintf(path, sizeof path, "%s/keys/d2.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/docsutf8/d1.txt", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/docsutf8/d2.txt", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/docsutf8", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/keys", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a.jsonl", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/bad.zip", dir);
    write_file(path, "not a zip at all");
    CHECK(slm_keyphrase_corpus_load(path, NULL, 1, &c) == SLM_ERR_FORMAT, "a corrupt zip is an error");
    unlink(path);
    rmdir(dir);

    const char *data = getenv("SLM_DATA");
    if (data) {
        snprintf(path, sizeof path, "%s/keyphrase_extraction/liaad_zips/SemEval2017.zip", data);
        if (access(path, R_OK) == 0) {
            CHECK(slm_keyphrase_corpus_load(path, NULL, 1, &c) == SLM_OK, "SemEval zip: %s", slm_last_error());
            CHECK(c.n == 493, "493 SemEval documents, got %zu", c.n);
            size_t with_keys = 0;
            for (size_t i = 0; i < c.n; i++) with_keys += c.n_keys[i] > 0;
            CHECK(with_keys == c.n, "every document has keys");
            slm_keyphrase_corpus_free(&c);
        }
    }
}

/* Phrases from hand-set O/B/I probabilities: "Graph networks, and graph network models." */
static void test_supervised_phrases(void) {
    const char *text = "Graph networks, and graph network models.";
    kw_tagged_doc td = {0};
    CHECK(tag_split_words(text, strlen(text), &td.words, &td.n_words) == SLM_OK && td.n_words == 8, "words: %d",
          td.n_words);
    if (td.n_words != 8) return;
    /* Graph=B networks=I ,=O and=O graph=B network=I models=O .=O */
    float probs[8][3] = {{0.1f, 0.8f, 0.1f}, {0.2f, 0.1f, 0.7f}, {0.9f, 0.05f, 0.05f}, {0.95f, 0.03f, 0.02f},
                         {0.3f, 0.6f, 0.1f}, {0.2f, 0.1f, 0.7f}, {0.6f, 0.1f, 0.3f}, {0.99f, 0.005f, 0.005f}};
    td.probs = &probs[0][0];
    kw_stopwords *sw;
    CHECK(kw_stopwords_load(NULL, &sw) == SLM_OK, "stopwords");
    kw_sup_phrase *ph;
    int n;
    CHECK(kw_supervised_phrases(text, &td, sw, 1, 3, &ph, &n) == SLM_OK, "phrases");
    const kw_sup_phrase *gn = kw_sup_lookup(ph, n, "graph network");
    CHECK(gn && gn->decoded, "\"graph network\" is a decoded span");
    if (gn) {
        /* both occurrences merged by stems; the first one's text; its span probability the better one */
        const double p1 = 0.8 * 0.7 * (1 - 0.05), p2 = 0.6 * 0.7 * (1 - 0.3);
        CHECK(gn->start == 0 && gn->end == 14, "first occurrence [%u, %u)", gn->start, gn->end);
        CHECK(fabs(gn->span_prob - fmax(p1, p2)) < 1e-6, "span probability %g, expected %g", gn->span_prob, fmax(p1, p2));
    }
    CHECK(kw_sup_lookup(ph, n, "and") == NULL, "stopwords make no phrase");
    CHECK(kw_sup_lookup(ph, n, "network , and") == NULL, "no phrase crosses punctuation");
    const kw_sup_phrase *gnm = kw_sup_lookup(ph, n, "graph network model");
    CHECK(gnm && !gnm->decoded, "\"graph network models\" is an n-gram, not decoded");
    int picked[3];
    const int k = kw_supervised_pick(ph, n, 3, picked);
    CHECK(k == 3 && ph[picked[0]].score >= ph[picked[1]].score && ph[picked[1]].score >= ph[picked[2]].score,
          "picked best first");
    kw_sup_phrases_free(ph, n);
    kw_stopwords_free(sw);
    free(td.words);
}

int main(void) {
    test_supervised_phrases();
    test_porter();
    test_candidates();
    test_extract();
    test_evaluate();
    test_corpora();
    return check_summary("test_keywords");
}
