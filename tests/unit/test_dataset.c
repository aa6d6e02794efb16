/* test_dataset.c — slm_dataset_load on every format (TSV with and without a header, CSV with
 * quoted fields, doubled quotes and line breaks in quotes, JSONL with string and number labels
 * and custom keys, Kim-2014 lines, plain text), the decodings of invalid UTF-8, label_sep, a
 * fixed label set, and each error naming file:line; then the metrics on a hand-worked case. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "slm.h"

static char g_dir[256];

/* Writes bytes to a file named `name` in the test folder; returns its path (static buffer). */
static const char *write_file(const char *name, const char *bytes) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, strlen(bytes), f);
    fclose(f);
    return path;
}

static slm_status load(const char *name, const char *bytes, const slm_dataset_params *p, slm_dataset *ds) {
    return slm_dataset_load(write_file(name, bytes), p, ds);
}

/* Loading fails with SLM_ERR_FORMAT and a message holding `file:line` and `what`. */
static void expect_error(const char *name, const char *bytes, const slm_dataset_params *p, int line, const char *what) {
    slm_dataset ds;
    slm_status st = load(name, bytes, p, &ds);
    char where[300];
    snprintf(where, sizeof where, "%s:%d:", name, line);
    const char *msg = slm_last_error();
    CHECK(st == SLM_ERR_FORMAT, "%s: status %d, want a format error", name, st);
    CHECK(strstr(msg, where) != NULL, "%s: message \"%s\" does not name %s", name, msg, where);
    CHECK(strstr(msg, what) != NULL, "%s: message \"%s\" does not say \"%s\"", name, msg, what);
    CHECK(ds.n == 0 && ds.texts == NULL && ds.label_names == NULL, "%s: a failed load leaves nothing", name);
}

static int label_is(const slm_dataset *ds, size_t i, const char *name) {
    return ds->labels[i] >= 0 && strcmp(ds->label_names[ds->labels[i]], name) == 0;
}

static void test_tsv(void) {
    slm_dataset ds;
    CHECK(load("a.tsv", "pos\tgood film\r\nneg\tbad film\n\npos\t  great  \n", NULL, &ds) == SLM_OK, "%s", slm_last_error());
    CHECK(ds.n == 3 && ds.n_labels == 2, "n %zu labels %d", ds.n, ds.n_labels);
    CHECK(strcmp(ds.texts[0], "good film") == 0 && strcmp(ds.texts[2], "great") == 0, "texts trimmed, CR dropped");
    CHECK(strcmp(ds.label_names[0], "pos") == 0 && strcmp(ds.label_names[1], "neg") == 0, "labels in order of appearance");
    CHECK(ds.labels[0] == 0 && ds.labels[1] == 1 && ds.labels[2] == 0, "label indices");
    slm_dataset_free(&ds);
    CHECK(ds.n == 0 && ds.texts == NULL, "free zeroes");
    /* a header naming the columns: text first, an extra column */
    CHECK(load("h.tsv", "id\ttext\tlabel\n1\tfine\tok\n2\tawful\tbad\n", NULL, &ds) == SLM_OK, "%s", slm_last_error());
    CHECK(ds.n == 2 && strcmp(ds.texts[1], "awful") == 0 && label_is(&ds, 1, "bad"), "header columns");
    slm_dataset_free(&ds);
    slm_dataset_params p = {.text_field = "sentence", .label_field = "y"};
    CHECK(load("k.tsv", "y\tsentence\n1\thello\n", &p, &ds) == SLM_OK && ds.n == 1 && label_is(&ds, 0, "1"),
          "configured header names: %s", slm_last_error());
    slm_dataset_free(&ds);
    expect_error("e1.tsv", "pos\tgood\nneg\tbad\textra\n", NULL, 2, "3 tab-separated fields");
    expect_error("e2.tsv", "pos\tgood\nneg\t   \n", NULL, 2, "empty text");
    expect_error("e3.tsv", "pos\tgood\njusttext\n", NULL, 2, "no label");
    expect_error("e4.tsv", "text\tlabel\nfine\tok\nshort\n", NULL, 3, "the header has 2");
    expect_error("e5.tsv", "\tgood\n", NULL, 1, "empty label");
    slm_dataset_params un = {.allow_unlabelled = 1};
    CHECK(load("u.tsv", "pos\tgood\njusttext\n", &un, &ds) == SLM_OK && ds.n == 2 && ds.labels[1] == -1,
          "allow_unlabelled: %s", slm_last_error());
    slm_dataset_free(&ds);
}

static void test_csv(void) {
    slm_dataset ds;
    const char *csv = "label,text\r\n"
                      "pos,\"good, really \"\"good\"\" film\"\r\n"
                      "neg,\"two\nlines\"\n"
                      "pos,plain text\n"
                      "\"neg\",\"\"\n";
    /* the last row has an empty quoted text: an error on line 6 (the quoted row spans 3-4) */
    expect_error("q.csv", csv, NULL, 6, "empty text");
    const char *good = "label,text\r\n"
                       "pos,\"good, really \"\"good\"\" film\"\r\n"
                       "neg,\"two\nlines\"\n"
                       "pos,plain text";
    CHECK(load("g.csv", good, NULL, &ds) == SLM_OK, "%s", slm_last_error());
    CHECK(ds.n == 3, "n %zu", ds.n);
    CHECK(ds.n == 3 && strcmp(ds.texts[0], "good, really \"good\" film") == 0, "quotes: [%s]", ds.texts[0]);
    CHECK(ds.n == 3 && strcmp(ds.texts[1], "two\nlines") == 0, "newline in quotes: [%s]", ds.texts[1]);
    CHECK(ds.n == 3 && strcmp(ds.texts[2], "plain text") == 0 && label_is(&ds, 2, "pos"), "last row without newline");
    slm_dataset_free(&ds);
    CHECK(load("n.csv", "1,\"a,b\"\n0,c\n", NULL, &ds) == SLM_OK && ds.n == 2 && strcmp(ds.texts[0], "a,b") == 0,
          "no header: label,text: %s", slm_last_error());
    slm_dataset_free(&ds);
    expect_error("u.csv", "label,text\npos,\"never\nclosed\n", NULL, 2, "unterminated quoted field");
    expect_error("x.csv", "label,text\npos,\"bad\"x\n", NULL, 2, "after a closing quote");
    expect_error("f.csv", "label,text\npos,a\nneg\n", NULL, 3, "the header has 2");
    expect_error("m.csv", "a,b,c\n", NULL, 1, "3 comma-separated fields");
}

static void test_jsonl(void) {
    slm_dataset ds;
    const char *jl = "{\"text\": \"caf\\u00e9 good\", \"label\": 1}\n"
                     "\n"
                     "{\"label\": \"0\", \"text\": \"bad\", \"extra\": [1, 2]}\n"
                     "{\"text\": \"ok\", \"label\": 2.5}\n";
    CHECK(load("a.jsonl", jl, NULL, &ds) == SLM_OK, "%s", slm_last_error());
    CHECK(ds.n == 3 && ds.n_labels == 3, "n %zu labels %d", ds.n, ds.n_labels);
    CHECK(ds.n == 3 && strcmp(ds.texts[0], "caf\xc3\xa9 good") == 0, "JSON escapes decoded");
    CHECK(ds.n == 3 && label_is(&ds, 0, "1") && label_is(&ds, 1, "0") && label_is(&ds, 2, "2.5"), "number labels as text");
    slm_dataset_free(&ds);
    slm_dataset_params p = {.text_field = "sentence", .label_field = "y"};
    CHECK(load("b.json", "{\"sentence\": \"s\", \"y\": \"a\"}\n", &p, &ds) == SLM_OK && ds.n == 1 && label_is(&ds, 0, "a"),
          "configured keys: %s", slm_last_error());
    slm_dataset_free(&ds);
    expect_error("c.jsonl", "{\"text\": \"x\", \"label\": 1}\n{\"text\": \"y\", \"label\": 1\n", NULL, 2, "not a JSON object");
    expect_error("d.jsonl", "[1, 2]\n", NULL, 1, "not a JSON object");
    expect_error("e.jsonl", "{\"label\": 1}\n", NULL, 1, "no \"text\" field");
    expect_error("f.jsonl", "{\"text\": \"x\"}\n", NULL, 1, "no \"label\" field");
    expect_error("g.jsonl", "{\"text\": 5, \"label\": 1}\n", NULL, 1, "is not a string");
    expect_error("h.jsonl", "{\"text\": \"x\", \"label\": [1]}\n", NULL, 1, "neither a string nor a number");
    expect_error("i.jsonl", "{\"text\": \"x\", \"label\": 1}\n{\"text\": \"\", \"label\": 1}\n", NULL, 2, "empty text");
    expect_error("j.jsonl", "{\"text\": \"caf\xe9\", \"label\": 1}\n", NULL, 1, "invalid UTF-8");
    slm_dataset_params un = {.allow_unlabelled = 1};
    CHECK(load("k.jsonl", "{\"text\": \"x\", \"label\": null}\n", &un, &ds) == SLM_OK && ds.labels[0] == -1,
          "null label when unlabelled is allowed");
    slm_dataset_free(&ds);
}

static void test_kim_and_text(void) {
    slm_dataset ds;
    CHECK(load("s.train", "1 a stirring , funny film \n0 apparently reassembled .\n1 ok\n", NULL, &ds) == SLM_OK,
          "%s", slm_last_error());
    CHECK(ds.n == 3 && strcmp(ds.texts[0], "a stirring , funny film") == 0 && label_is(&ds, 0, "1"), "kim lines");
    CHECK(ds.n_labels == 2 && strcmp(ds.label_names[0], "1") == 0, "labels by first appearance");
    slm_dataset_free(&ds);
    expect_error("e.train", "1 fine\n0\n", NULL, 2, "empty text");
    /* TREC's fine labels cut to the coarse class */
    slm_dataset_params sep = {.label_sep = ':'};
    CHECK(load("trec.all", "DESC:manner How did serfdom develop ?\nENTY:cremat What films ?\nDESC:def What is it ?\n", &sep,
               &ds) == SLM_OK, "%s", slm_last_error());
    CHECK(ds.n == 3 && ds.n_labels == 2 && label_is(&ds, 0, "DESC") && label_is(&ds, 2, "DESC") && label_is(&ds, 1, "ENTY"),
          "coarse labels");
    slm_dataset_free(&ds);
    CHECK(load("trec2.all", "DESC:manner How ?\n", NULL, &ds) == SLM_OK && label_is(&ds, 0, "DESC:manner"), "fine labels kept");
    slm_dataset_free(&ds);
    slm_dataset_params text = {.format = SLM_DATA_TEXT};
    CHECK(load("plain.txt", "first line\n\n  second\t line \n", &text, &ds) == SLM_OK && ds.n == 2 && ds.labels[0] == -1 &&
              ds.n_labels == 0 && strcmp(ds.texts[1], "second\t line") == 0,
          "plain text lines: %s", slm_last_error());
    slm_dataset_free(&ds);
    slm_dataset_params forced = {.format = SLM_DATA_TSV};
    CHECK(load("forced.txt", "a\tb c\n", &forced, &ds) == SLM_OK && label_is(&ds, 0, "a"), "format given overrides the extension");
    slm_dataset_free(&ds);
}

static void test_decoding(void) {
    slm_dataset ds;
    /* line 2 holds Latin-1 / Windows-1252 bytes: e-acute and an ellipsis (0x85) */
    const char *bytes = "1 plain\n0 caf\xe9 \x85 done\n";
    expect_error("l.all", bytes, NULL, 2, "invalid UTF-8");
    CHECK(strstr(slm_last_error(), "0xE9") != NULL, "the bad byte is named: %s", slm_last_error());
    slm_dataset_params latin = {.decoding = SLM_DECODE_LATIN1};
    CHECK(load("l.all", bytes, &latin, &ds) == SLM_OK && ds.n == 2, "%s", slm_last_error());
    CHECK(ds.n == 2 && strcmp(ds.texts[1], "caf\xc3\xa9 \xe2\x80\xa6 done") == 0, "latin1 decodes to [%s]", ds.texts[1]);
    CHECK(ds.n == 2 && strcmp(ds.texts[0], "plain") == 0, "valid lines unchanged");
    slm_dataset_free(&ds);
    slm_dataset_params repl = {.decoding = SLM_DECODE_REPLACE};
    CHECK(load("l.all", bytes, &repl, &ds) == SLM_OK && ds.n == 2 &&
              strcmp(ds.texts[1], "caf\xef\xbf\xbd \xef\xbf\xbd done") == 0,
          "replace: [%s]", ds.n == 2 ? ds.texts[1] : "");
    slm_dataset_free(&ds);
    /* a valid UTF-8 text with latin1 set stays as it is; an overlong form and a lone
       continuation byte are invalid */
    CHECK(load("v.all", "1 caf\xc3\xa9\n", &latin, &ds) == SLM_OK && strcmp(ds.texts[0], "caf\xc3\xa9") == 0, "utf-8 kept");
    slm_dataset_free(&ds);
    expect_error("o.tsv", "a\tok\nb\tx\xc0\xafy\n", NULL, 2, "invalid UTF-8");
    expect_error("c.csv", "a,\"x\x80\"\n", NULL, 1, "invalid UTF-8");
    expect_error("lab.tsv", "\xff\tsome words\n", NULL, 1, "invalid UTF-8 in the label");
    /* a byte-order mark is skipped */
    CHECK(load("bom.tsv", "\xef\xbb\xbfpos\tgood\n", NULL, &ds) == SLM_OK && label_is(&ds, 0, "pos"), "BOM skipped");
    slm_dataset_free(&ds);
}

static void test_fixed_labels(void) {
    slm_dataset ds;
    const char *names[] = {"neg", "pos"};
    slm_dataset_params p = {.label_names = names, .n_label_names = 2};
    CHECK(load("f.tsv", "pos\tgood\nneg\tbad\n", &p, &ds) == SLM_OK, "%s", slm_last_error());
    CHECK(ds.n_labels == 2 && strcmp(ds.label_names[0], "neg") == 0 && ds.labels[0] == 1 && ds.labels[1] == 0,
          "indices into the fixed set");
    slm_dataset_free(&ds);
    expect_error("u.tsv", "pos\tgood\nneutral\tmeh\n", &p, 2, "unknown label \"neutral\" (the labels are: neg, pos)");
    expect_error("u.jsonl", "{\"text\": \"a\", \"label\": \"pos\"}\n{\"text\": \"b\", \"label\": 7}\n", &p, 2,
                 "unknown label \"7\"");
}

static void test_bad_calls(void) {
    slm_dataset ds;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.tsv", g_dir);
    CHECK(slm_dataset_load(path, NULL, &ds) == SLM_ERR_IO, "missing file");
    CHECK(slm_dataset_load(NULL, NULL, &ds) == SLM_ERR_INVALID_ARG, "NULL path");
    CHECK(load("empty.tsv", "\n\n", NULL, &ds) == SLM_ERR_FORMAT && strstr(slm_last_error(), "no examples"), "empty file");
    const char *names[] = {"a"};
    slm_dataset_params p = {.label_names = names, .n_label_names = 0};
    CHECK(load("x.tsv", "a\tb\n", &p, &ds) == SLM_ERR_INVALID_ARG, "a fixed label set without a count");
    slm_dataset_free(NULL);
}

/* A case worked by hand: 10 examples, 4 labels of which one never occurs. */
static void test_metrics(void) {
    const int truth[] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 0};
    const int pred[] = {0, 0, 1, 1, 2, 2, 2, 0, 2, 0};
    slm_metrics m;
    CHECK(slm_metrics_compute(truth, pred, 10, 4, 200, 1, &m) == SLM_OK, "%s", slm_last_error());
    CHECK(fabs(m.accuracy - 0.7) < 1e-12, "accuracy %g", m.accuracy);
    /* label 0: tp 3, predicted 4, true 4 -> p .75 r .75; label 1: tp 1, pred 2, true 2 -> .5 .5;
       label 2: tp 3, pred 4, true 4 -> .75 .75; label 3 absent from both: not averaged */
    CHECK(fabs(m.precision[0] - 0.75) < 1e-12 && fabs(m.recall[1] - 0.5) < 1e-12 && fabs(m.f1[2] - 0.75) < 1e-12, "per class");
    CHECK(fabs(m.macro_f1 - (0.75 + 0.5 + 0.75) / 3) < 1e-12, "macro-F1 %g", m.macro_f1);
    CHECK(m.support[0] == 4 && m.support[3] == 0 && m.confusion[0 * 4 + 1] == 1 && m.confusion[2 * 4 + 0] == 1, "confusion");
    CHECK(m.accuracy_ci[0] <= m.accuracy && m.accuracy <= m.accuracy_ci[1] && m.accuracy_ci[0] < m.accuracy_ci[1],
          "bootstrap interval %g-%g", m.accuracy_ci[0], m.accuracy_ci[1]);
    const char *names[] = {"a", "b", "c", "d"};
    char *text = NULL, *json = NULL;
    CHECK(slm_metrics_format_text(&m, names, &text) == SLM_OK && strstr(text, "accuracy      0.7000"), "text report");
    CHECK(slm_metrics_format_json(&m, names, &json) == SLM_OK && strstr(json, "\"confusion\":[[3,1,0,0]"), "json: %s", json);
    slm_free(text);
    slm_free(json);
    slm_metrics_free(&m);
    const int bad[] = {5};
    CHECK(slm_metrics_compute(bad, bad, 1, 2, 0, 1, &m) == SLM_ERR_RANGE, "labels out of range");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/slm_test_dataset_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return 1;
    if (chdir(g_dir) != 0) return 1;
    test_tsv();
    test_csv();
    test_jsonl();
    test_kim_and_text();
    test_decoding();
    test_fixed_labels();
    test_bad_calls();
    test_metrics();
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) return 1;
    return check_summary("test_dataset");
}
