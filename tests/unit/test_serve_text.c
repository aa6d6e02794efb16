/* test_serve_text.c — the server's text filter (whole UTF-8 characters, stop strings held back
 * and cut) and its JSON helpers (base64, field checks, the OpenAI error shape). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "serve/serve.h"
#include "serve/text_filter.h"

typedef struct {
    char buf[256];
    size_t n;
} sink;

static int collect(const char *text, size_t len, void *user) {
    sink *s = user;
    memcpy(s->buf + s->n, text, len);
    s->n += len;
    s->buf[s->n] = '\0';
    return 0;
}

static void test_stop_strings(void) {
    char *stops[] = {"o w", "zz", NULL};
    sink out = {{0}, 0};
    text_filter f;
    text_filter_init(&f, stops, collect, &out);
    CHECK(text_filter_push(&f, "Hel", 3) == 0 && strcmp(out.buf, "Hel") == 0, "got '%s'", out.buf);
    CHECK(text_filter_push(&f, "lo", 2) == 0 && strcmp(out.buf, "Hell") == 0, "'o' may begin a stop: got '%s'", out.buf);
    CHECK(text_filter_push(&f, " wo", 3) == 1 && strcmp(out.buf, "Hell") == 0, "cut before the stop: got '%s'", out.buf);
    text_filter_free(&f);

    out.n = 0;
    out.buf[0] = '\0';
    text_filter_init(&f, stops, collect, &out);
    CHECK(text_filter_push(&f, "xz", 2) == 0 && strcmp(out.buf, "x") == 0, "got '%s'", out.buf);
    CHECK(text_filter_push(&f, "y", 1) == 0 && strcmp(out.buf, "xzy") == 0, "released: got '%s'", out.buf);
    CHECK(text_filter_push(&f, "z", 1) == 0 && text_filter_finish(&f) == 0 && strcmp(out.buf, "xzyz") == 0,
          "finish releases the held tail: got '%s'", out.buf);
    text_filter_free(&f);
}

static void test_utf8(void) {
    sink out = {{0}, 0};
    text_filter f;
    text_filter_init(&f, NULL, collect, &out);
    CHECK(text_filter_push(&f, "a\xC3", 2) == 0 && strcmp(out.buf, "a") == 0, "half a character waits: '%s'", out.buf);
    CHECK(text_filter_push(&f, "\xA9", 1) == 0 && strcmp(out.buf, "a\xC3\xA9") == 0, "then completes");
    CHECK(text_filter_push(&f, "\xFF!", 2) == 0 && strcmp(out.buf, "a\xC3\xA9\xEF\xBF\xBD!") == 0, "a bad byte is U+FFFD");
    CHECK(text_filter_push(&f, "\xE2\x82", 2) == 0 && text_filter_finish(&f) == 0 &&
              strcmp(out.buf, "a\xC3\xA9\xEF\xBF\xBD!\xEF\xBF\xBD\xEF\xBF\xBD") == 0,
          "an unfinished character at the end: one U+FFFD per byte");
    text_filter_free(&f);
}

static void test_json_helpers(void) {
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = serve_base64(cases[i][0], strlen(cases[i][0]));
        CHECK(b && strcmp(b, cases[i][1]) == 0, "base64('%s') = '%s'", cases[i][0], b ? b : "(null)");
        free(b);
    }
    serve_reply rep = {0};
    CHECK(!serve_parse_object("{\"a\": 1} x", 10, &rep) && rep.status == 400, "trailing text");
    free(rep.body);
    rep = (serve_reply){0};
    CHECK(!serve_parse_object("{\"a\": \"\xC3\x28\"}", 11, &rep) && rep.status == 400, "invalid UTF-8");
    cJSON *err = cJSON_Parse(rep.body);
    cJSON *e = cJSON_GetObjectItem(err, "error");
    CHECK(e && cJSON_GetObjectItem(e, "message") && cJSON_GetObjectItem(e, "type") && cJSON_GetObjectItem(e, "param") &&
              cJSON_GetObjectItem(e, "code"),
          "the OpenAI error shape: %s", rep.body);
    cJSON_Delete(err);
    free(rep.body);
    rep = (serve_reply){0};
    cJSON *o = cJSON_Parse("{\"big\": 1e300, \"frac\": 2.5, \"ok\": 7, \"neg\": -1e999}");
    long long v = 0;
    CHECK(serve_get_int(o, "big", 0, 100, &v, &rep) == -1 && rep.status == 400, "huge");
    free(rep.body);
    rep = (serve_reply){0};
    CHECK(serve_get_int(o, "frac", 0, 100, &v, &rep) == -1, "fraction");
    free(rep.body);
    rep = (serve_reply){0};
    CHECK(serve_get_int(o, "neg", -100, 100, &v, &rep) == -1, "-inf");
    free(rep.body);
    rep = (serve_reply){0};
    CHECK(serve_get_int(o, "ok", 0, 100, &v, &rep) == 0 && v == 7, "7");
    CHECK(serve_get_int(o, "absent", 0, 100, &v, &rep) == 0 && v == 7, "absent leaves the value");
    cJSON_Delete(o);
}

int main(void) {
    test_stop_strings();
    test_utf8();
    test_json_helpers();
    return check_summary("test_serve_text");
}
