/* test_compare.c — slm_compare_run end to end on tiny models from shared/data: stories260K zero-
 * and few-shot and a random tiny Llama on 20 sentences, each in its own process; a missing file,
 * a model too big for the memory allowed and labels a model cannot score fail with clear messages
 * while the others run; the Markdown, JSON and SVG reports are written and well-formed; the
 * keyword task on five Inspec documents. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "slm.h"

static char g_dir[] = "/tmp/slm_test_compare_XXXXXX";
static char g_data[512], g_train[512], g_stories[512], g_random[512], g_inspec[512];

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static void write_sets(void) {
    static const char *good[] = {"a happy day in the park", "the girl was happy and smiled", "they laughed and played",
                                 "a fun day with friends",  "the dog was glad to see her",   "she loved the big cake",
                                 "the sun was warm and nice", "he smiled at his mom",         "they sang a happy song",
                                 "the bird was happy"};
    static const char *bad[] = {"the boy was sad and cried", "it was a dark and cold night", "she lost her toy and wept",
                                "the dog was hurt",          "he was angry and sad",         "the rain made them sad",
                                "the cat was lonely",        "they were scared of the storm", "the flower died",
                                "she felt sad all day"};
    snprintf(g_data, sizeof g_data, "%s/dev.txt", g_dir);
    snprintf(g_train, sizeof g_train, "%s/train.txt", g_dir);
    FILE *d = fopen(g_data, "w"), *t = fopen(g_train, "w");
    for (int i = 0; i < 10; i++) fprintf(d, "0 %s\n1 %s\n", good[i], bad[i]);
    for (int i = 9; i >= 0; i--) fprintf(t, "1 %s\n0 %s\n", bad[i], good[i]);
    fclose(d);
    fclose(t);
}

static int has(const char *s, const char *needle) { return s && strstr(s, needle) != NULL; }

static void test_classify(void) {
    static const char *labels[] = {"0=happy", "1=sad"};
    slm_compare_params p = slm_compare_defaults();
    p.data_path = g_data;
    p.train_path = g_train;
    p.labels = labels;
    p.n_labels = 2;
    p.prompt_template = "{text}. The mood was";
    p.threads = 2;
    p.speed_n = 4;
    p.repeats = 2;
    p.n_bootstrap = 200;
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope.gguf", g_dir);
    slm_compare_candidate c[4] = {
        {.name = "stories zero-shot", .path = g_stories},
        {.name = "stories few-shot", .path = g_stories, .shots = 2},
        {.name = "tiny random", .path = g_random, .limit = 12},
        {.name = "missing", .path = missing},
    };
    slm_compare_result r[4];
    CHECK(slm_compare_run(&p, c, 4, r) == SLM_OK, "%s", slm_last_error());
    for (int i = 0; i < 3; i++) {
        CHECK(r[i].ok, "%s: %s", r[i].name, r[i].error);
        CHECK(r[i].n == (i == 2 ? 12u : 20u), "%s: n %zu", r[i].name, r[i].n);
        CHECK(r[i].score >= 0 && r[i].score <= 1 && r[i].score_ci[0] <= r[i].score && r[i].score <= r[i].score_ci[1],
              "%s: accuracy %g (%g-%g)", r[i].name, r[i].score, r[i].score_ci[0], r[i].score_ci[1]);
        CHECK(r[i].rate_1 > 0 && r[i].rate_all > 0 && r[i].latency_p50_s > 0 && r[i].latency_p95_s >= r[i].latency_p50_s,
              "%s: rates %g %g, latency %g %g", r[i].name, r[i].rate_1, r[i].rate_all, r[i].latency_p50_s, r[i].latency_p95_s);
        CHECK(r[i].peak_rss_bytes > 1000000 && r[i].file_bytes > 100000 && r[i].n_params > 100000, "%s: rss %llu file %llu params %lld",
              r[i].name, (unsigned long long)r[i].peak_rss_bytes, (unsigned long long)r[i].file_bytes, (long long)r[i].n_params);
        CHECK(r[i].cost_per_million > 0 && r[i].cpu_per_example_s > 0 && r[i].speed_n == 4 && r[i].repeats == 2 && r[i].threads_all == 2, "%s: speed fields",
              r[i].name);
    }
    CHECK(strcmp(r[0].kind, "zero-shot") == 0 && strcmp(r[1].kind, "few-shot (2)") == 0, "kinds %s, %s", r[0].kind, r[1].kind);
    CHECK(r[0].n_params == 260544 || (r[0].n_params > 250000 && r[0].n_params < 300000), "stories260K params %lld",
          (long long)r[0].n_params);
    CHECK(!r[3].ok && has(r[3].error, "nope.gguf"), "missing: %s", r[3].error);

    /* the reports */
    char md[600], js[600], svg[600];
    snprintf(md, sizeof md, "%s/out.md", g_dir);
    snprintf(js, sizeof js, "%s/out.json", g_dir);
    snprintf(svg, sizeof svg, "%s/out.svg", g_dir);
    CHECK(slm_compare_write_markdown(md, &p, r, 4, "slm compare ...") == SLM_OK, "%s", slm_last_error());
    CHECK(slm_compare_write_json(js, &p, r, 4, "slm compare ...") == SLM_OK, "%s", slm_last_error());
    CHECK(slm_compare_write_svg(svg, &p, r, 4) == SLM_OK, "%s", slm_last_error());
    char *text = slurp(md);
    CHECK(has(text, "| stories zero-shot | zero-shot | 20 |") && has(text, "| tiny random | zero-shot | 12 |") &&
              has(text, "**missing**") && has(text, "slm compare ..."),
          "markdown:\n%s", text ? text : "(none)");
    free(text);
    text = slurp(js);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *list = cJSON_GetObjectItem(root, "candidates");
    CHECK(cJSON_GetArraySize(list) == 4, "JSON candidates");
    const cJSON *first = cJSON_GetArrayItem(list, 0), *last = cJSON_GetArrayItem(list, 3);
    CHECK(first && cJSON_IsTrue(cJSON_GetObjectItem(first, "ok")) &&
              cJSON_GetObjectItem(first, "score")->valuedouble == r[0].score,
          "JSON first");
    CHECK(last && cJSON_IsFalse(cJSON_GetObjectItem(last, "ok")) && has(cJSON_GetStringValue(cJSON_GetObjectItem(last, "error")), "nope"),
          "JSON failure");
    cJSON_Delete(root);
    free(text);
    text = slurp(svg);
    CHECK(text && strncmp(text, "<svg ", 5) == 0 && has(text, "</svg>\n") && has(text, "stories few-shot") &&
              has(text, "not run: missing") && !has(text, "\"nan") && !has(text, "\"-nan") && !has(text, "\"inf") && !has(text, "\"-inf"),
          "svg");
    int open_tags = 0, close_tags = 0;
    for (const char *s = text; s && (s = strchr(s, '<')); s++) {
        if (s[1] == '/') close_tags++;
        else open_tags++;
    }
    int self_closed = 0;
    for (const char *s = text; s && (s = strstr(s, "/>")); s++) self_closed++;
    CHECK(open_tags == close_tags + self_closed, "svg tags: %d open, %d closed, %d self-closed", open_tags, close_tags, self_closed);
    free(text);

    /* labels a model cannot score, and a memory limit too small for any model: clear failures */
    static const char *other[] = {"pos=happy", "neg=sad"};
    p.labels = other;
    slm_compare_candidate one = {.path = g_stories};
    CHECK(slm_compare_run(&p, &one, 1, r) == SLM_OK && !r[0].ok && has(r[0].error, "cannot score") && has(r[0].error, "pos, neg") &&
              has(r[0].error, "unknown label"),
          "unscoreable: %s", r[0].error);
    CHECK(strcmp(r[0].name, "stories260K.bin") == 0, "default name %s", r[0].name);
    p.labels = labels;
    p.memory_headroom = 1e-9;
    CHECK(slm_compare_run(&p, &one, 1, r) == SLM_OK && !r[0].ok && has(r[0].error, "does not fit in memory"), "memory: %s", r[0].error);
    p.memory_headroom = 0.9;
    /* no labels for a generative model; few-shot without a training set; in-process */
    p.labels = NULL;
    p.n_labels = 0;
    CHECK(slm_compare_run(&p, &one, 1, r) == SLM_OK && !r[0].ok && has(r[0].error, "--labels"), "no labels: %s", r[0].error);
    p.labels = labels;
    p.n_labels = 2;
    p.train_path = NULL;
    p.shots = 2;
    CHECK(slm_compare_run(&p, &one, 1, r) == SLM_OK && !r[0].ok && has(r[0].error, "--train"), "shots: %s", r[0].error);
    p.shots = 0;
    p.isolate = 0;
    p.limit = 6;
    CHECK(slm_compare_run(&p, &one, 1, r) == SLM_OK && r[0].ok && r[0].n == 6, "in-process: %s", r[0].error);
    p.data_path = missing;
    CHECK(slm_compare_run(&p, &one, 1, r) != SLM_OK && has(slm_last_error(), "nope.gguf"), "missing data: %s", slm_last_error());
}

static void test_keywords(void) {
    if (access(g_inspec, R_OK) != 0) {
        fprintf(stderr, "skipping the keyword task: no %s\n", g_inspec);
        return;
    }
    slm_compare_params p = slm_compare_defaults();
    p.task = SLM_COMPARE_KEYWORDS;
    p.data_path = g_inspec;
    p.limit = 5;
    p.speed_n = 3;
    p.repeats = 1;
    p.n_bootstrap = 100;
    slm_compare_candidate c[2] = {{.method = "stat"}, {.name = "bad", .method = "bogus"}};
    slm_compare_result r[2];
    CHECK(slm_compare_run(&p, c, 2, r) == SLM_OK, "%s", slm_last_error());
    CHECK(r[0].ok && r[0].n == 5 && r[0].score > 0.05 && r[0].score <= 1 && r[0].rate_all > 0 && strcmp(r[0].kind, "stat") == 0 &&
              strcmp(r[0].name, "stat") == 0 && r[0].n_params == 0,
          "stat: %s, n %zu, F1@10 %g", r[0].error, r[0].n, r[0].score);
    CHECK(!r[1].ok && has(r[1].error, "bogus"), "bogus: %s", r[1].error);
    char svg[600];
    snprintf(svg, sizeof svg, "%s/kw.svg", g_dir);
    CHECK(slm_compare_write_svg(svg, &p, r, 2) == SLM_OK, "%s", slm_last_error());
    char *text = slurp(svg);
    CHECK(has(text, "F1@10") && has(text, "documents per second"), "keyword svg");
    free(text);
    unlink(svg);
}

int main(void) {
    const char *data = getenv("SLM_DATA");
    if (!data) data = "../shared/data";
    snprintf(g_stories, sizeof g_stories, "%s/tiny_lm_models/stories260K/stories260K.bin", data);
    snprintf(g_random, sizeof g_random, "%s/tiny_lm_models/llama-2-tiny-random/llama-2-tiny-random.gguf", data);
    snprintf(g_inspec, sizeof g_inspec, "%s/keyphrase_extraction/inspec_splits/valid.jsonl", data);
    if (access(g_stories, R_OK) != 0 || access(g_random, R_OK) != 0) {
        printf("test_compare: skipped (no tiny models under %s)\n", data);
        return 0;
    }
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    write_sets();
    test_classify();
    test_keywords();
    const char *files[] = {"dev.txt", "train.txt", "out.md", "out.json", "out.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
        unlink(path);
    }
    rmdir(g_dir);
    return check_summary("test_compare");
}
