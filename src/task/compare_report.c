/* compare_report.c — the results of slm_compare_run as a Markdown report (one table, the failures,
 * how it was measured, the machine and its load) and as a JSON file (cJSON). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "task/compare_internal.h"

/* The CPU's model name from /proc/cpuinfo into buf ("unknown CPU" when absent). */
static void cpu_model(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        snprintf(buf, cap, "%s", colon + 2);
        buf[strcspn(buf, "\n")] = 0;
        break;
    }
    fclose(f);
}

/* The current UTC time as "YYYY-MM-DD HH:MM UTC". */
static void utc_now(char *buf, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

/* A count with a unit suffix: 22.7M, 268M, 7.6B. */
static void human_count(double x, char *buf, size_t cap) {
    if (x <= 0) snprintf(buf, cap, "-");
    else if (x >= 1e9) snprintf(buf, cap, "%.1fB", x / 1e9);
    else if (x >= 1e6) snprintf(buf, cap, "%.*fM", x >= 1e8 ? 0 : 1, x / 1e6);
    else if (x >= 1e3) snprintf(buf, cap, "%.0fK", x / 1e3);
    else snprintf(buf, cap, "%.0f", x);
}

/* Bytes as MiB or GiB. */
static void human_bytes(double b, char *buf, size_t cap) {
    if (b <= 0) snprintf(buf, cap, "-");
    else if (b >= 1073741824.0) snprintf(buf, cap, "%.2f GiB", b / 1073741824.0);
    else snprintf(buf, cap, "%.0f MiB", b / 1048576.0);
}

/* A rate with its spread: "123.4 ±3%". */
static void rate_text(double rate, double spread, int repeats, char *buf, size_t cap) {
    if (rate <= 0) snprintf(buf, cap, "-");
    else if (repeats > 1) snprintf(buf, cap, "%.*f ±%.0f%%", rate >= 100 ? 0 : rate >= 10 ? 1 : 2, rate, 50 * spread);
    else snprintf(buf, cap, "%.*f", rate >= 100 ? 0 : rate >= 10 ? 1 : 2, rate);
}

static const char *score_name(const slm_compare_params *p) { return p->task == SLM_COMPARE_KEYWORDS ? "F1@10" : "accuracy"; }
static const char *score2_name(const slm_compare_params *p) { return p->task == SLM_COMPARE_KEYWORDS ? "F1@5" : "macro-F1"; }
static const char *unit_name(const slm_compare_params *p) { return p->task == SLM_COMPARE_KEYWORDS ? "docs" : "examples"; }

slm_status slm_compare_write_markdown(const char *path, const slm_compare_params *p, const slm_compare_result *results,
                                      size_t n, const char *command) {
    if (!path || !p || (n && !results)) return slm_error(SLM_ERR_INVALID_ARG, "slm_compare_write_markdown: NULL argument");
    FILE *f = fopen(path, "w");
    if (!f) return slm_error(SLM_ERR_IO, "%s: cannot write the report", path);
    char cpu[256], when[64];
    cpu_model(cpu, sizeof cpu);
    utc_now(when, sizeof when);
    const int threads_all = n ? results[0].threads_all : p->threads;
    fprintf(f, "# Model comparison: %s on `%s`\n\n", p->task == SLM_COMPARE_KEYWORDS ? "keyphrase extraction" : "classification",
            p->data_path);
    if (command) fprintf(f, "Made by:\n\n```sh\n%s\n```\n\n", command);
    fprintf(f, "Machine: %s, %d physical cores (\"all threads\" = %d), slm %s, %s.\n\n", cpu, slm_physical_cores(), threads_all,
            slm_version(), when);
    fprintf(f, "| model | kind | %s | %s (95%% CI) | %s (95%% CI) | parameters | file | peak RSS | load | p50 / p95 latency | "
               "%s/s, 1 thread | %s/s, %d threads | CPU ms per %s | training | $ per 1M %s |\n",
            unit_name(p), score_name(p), score2_name(p), unit_name(p), unit_name(p), threads_all,
            p->task == SLM_COMPARE_KEYWORDS ? "doc" : "example", unit_name(p));
    fprintf(f, "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < n; i++) {
        const slm_compare_result *r = &results[i];
        if (!r->ok) continue;
        char params[32], file[32], rss[32], r1[48], ra[48], train[32];
        human_count((double)r->n_params, params, sizeof params);
        human_bytes((double)r->file_bytes, file, sizeof file);
        human_bytes((double)r->peak_rss_bytes, rss, sizeof rss);
        rate_text(r->rate_1, r->rate_1_spread, r->repeats, r1, sizeof r1);
        rate_text(r->rate_all, r->rate_all_spread, r->repeats, ra, sizeof ra);
        if (r->train_s > 0) snprintf(train, sizeof train, "%.0f s", r->train_s);
        else snprintf(train, sizeof train, "-");
        fprintf(f, "| %s | %s | %zu | %.2f%% (%.1f-%.1f) | %.2f%% (%.1f-%.1f) | %s | %s | %s | %.2f s | %.1f / %.1f ms | %s | %s | %.3g | %s | "
                   "$%.3g |\n",
                r->name, r->kind, r->n, 100 * r->score, 100 * r->score_ci[0], 100 * r->score_ci[1], 100 * r->score2,
                100 * r->score2_ci[0], 100 * r->score2_ci[1], params, file, rss, r->load_s, 1e3 * r->latency_p50_s,
                1e3 * r->latency_p95_s, r1, ra, 1e3 * r->cpu_per_example_s, train, r->cost_per_million);
    }
    int n_failed = 0;
    for (size_t i = 0; i < n; i++) n_failed += !results[i].ok;
    if (n_failed) {
        fprintf(f, "\nCandidates that did not run:\n\n");
        for (size_t i = 0; i < n; i++)
            if (!results[i].ok) fprintf(f, "- **%s** (`%s`): %s\n", results[i].name, results[i].path, results[i].error);
    }
    fprintf(f, "\nMachine load (1-minute load average at the start and end of each candidate): ");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s %.1f-%.1f", i ? ", " : "", results[i].name, results[i].load_before, results[i].load_after);
    fprintf(f, ".\n\n");
    fprintf(f, "How it was measured (`slm compare`):\n\n");
    fprintf(f, "- Each candidate ran in a process of its own: peak RSS is that process's high-water mark (model pages it "
               "touched included), load is the time to open the model.\n");
    const int score_threads = p->score_threads > 0 ? p->score_threads : threads_all;
    fprintf(f, "- %s and %s: on the first N %s of the data (N in the table's `%s` column), at %d thread%s, batch %d; the "
               "intervals are percentile bootstrap 95%% intervals over %d resamples (seed %llu).\n",
            score_name(p), score2_name(p), unit_name(p), unit_name(p), score_threads, score_threads == 1 ? "" : "s", p->batch, p->n_bootstrap, (unsigned long long)p->seed);
    fprintf(f, "- Speed: after one warm-up example, latency of each of the first N %s one at a time at %d threads "
               "(p50 / p95), then %d timed passes over the same N %s at 1 thread and at %d threads; the rates are the "
               "medians and ± half the range of the passes, relative. N per candidate: ",
            unit_name(p), threads_all, p->repeats, unit_name(p), threads_all);
    for (size_t i = 0, shown = 0; i < n; i++)
        if (results[i].ok) fprintf(f, "%s%s %d", shown++ ? ", " : "", results[i].name, results[i].speed_n);
    fprintf(f, ".\n");
    fprintf(f, "- CPU ms per %s: the process's CPU time (user + system) over the 1-thread passes, per %s (median): the "
               "figure that moves least with the machine's load. Cost: $%.3g per CPU-hour times the CPU-hours of one "
               "million %s at 1 thread.\n",
            p->task == SLM_COMPARE_KEYWORDS ? "doc" : "example", p->task == SLM_COMPARE_KEYWORDS ? "document" : "example",
            p->cpu_hour_price, unit_name(p));
    fprintf(f, "- Training: the wall time of the fine-tuning run that made the file (recorded in `FILE.train.json` when "
               "`slm compare` or `bench/compare` fine-tuned it).\n");
    fprintf(f, "- On a shared machine the rates move with its load (above); the scores do not.\n");
    if (fclose(f) != 0) return slm_error(SLM_ERR_IO, "%s: cannot write the report", path);
    return SLM_OK;
}

static cJSON *pair(const double v[2]) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(v[0]));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(v[1]));
    return a;
}

slm_status slm_compare_write_json(const char *path, const slm_compare_params *p, const slm_compare_result *results, size_t n,
                                  const char *command) {
    if (!path || !p || (n && !results)) return slm_error(SLM_ERR_INVALID_ARG, "slm_compare_write_json: NULL argument");
    cJSON *root = cJSON_CreateObject();
    char cpu[256], when[64];
    cpu_model(cpu, sizeof cpu);
    utc_now(when, sizeof when);
    cJSON_AddStringToObject(root, "task", p->task == SLM_COMPARE_KEYWORDS ? "keywords" : "classify");
    cJSON_AddStringToObject(root, "data", p->data_path);
    if (p->train_path) cJSON_AddStringToObject(root, "train", p->train_path);
    if (command) cJSON_AddStringToObject(root, "command", command);
    cJSON_AddStringToObject(root, "score", score_name(p));
    cJSON_AddStringToObject(root, "score2", score2_name(p));
    cJSON *machine = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(machine, "cpu", cpu);
    cJSON_AddNumberToObject(machine, "physical_cores", slm_physical_cores());
    cJSON_AddStringToObject(machine, "slm", slm_version());
    cJSON_AddStringToObject(machine, "written", when);
    cJSON *settings = cJSON_AddObjectToObject(root, "settings");
    cJSON_AddNumberToObject(settings, "batch", p->batch);
    cJSON_AddNumberToObject(settings, "score_threads", p->score_threads);
    cJSON_AddBoolToObject(settings, "chart_one_thread", p->chart_one_thread);
    cJSON_AddNumberToObject(settings, "repeats", p->repeats);
    cJSON_AddNumberToObject(settings, "bootstrap", p->n_bootstrap);
    cJSON_AddNumberToObject(settings, "seed", (double)p->seed);
    cJSON_AddNumberToObject(settings, "cpu_hour_price", p->cpu_hour_price);
    cJSON_AddNumberToObject(settings, "shots", p->shots);
    cJSON_AddBoolToObject(settings, "calibrate", p->calibrate);
    if (p->prompt_template) cJSON_AddStringToObject(settings, "template", p->prompt_template);
    if (p->n_labels) {
        cJSON *labels = cJSON_AddArrayToObject(settings, "labels");
        for (int i = 0; i < p->n_labels; i++) cJSON_AddItemToArray(labels, cJSON_CreateString(p->labels[i]));
    }
    cJSON *list = cJSON_AddArrayToObject(root, "candidates");
    for (size_t i = 0; i < n; i++) {
        const slm_compare_result *r = &results[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "path", r->path);
        cJSON_AddBoolToObject(o, "ok", r->ok);
        if (!r->ok) cJSON_AddStringToObject(o, "error", r->error);
        cJSON_AddStringToObject(o, "kind", r->kind);
        cJSON_AddNumberToObject(o, "n", (double)r->n);
        cJSON_AddNumberToObject(o, "score", r->score);
        cJSON_AddItemToObject(o, "score_ci", pair(r->score_ci));
        cJSON_AddNumberToObject(o, "score2", r->score2);
        cJSON_AddItemToObject(o, "score2_ci", pair(r->score2_ci));
        cJSON_AddNumberToObject(o, "parameters", (double)r->n_params);
        cJSON_AddNumberToObject(o, "file_bytes", (double)r->file_bytes);
        cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)r->peak_rss_bytes);
        cJSON_AddNumberToObject(o, "load_seconds", r->load_s);
        cJSON_AddNumberToObject(o, "train_seconds", r->train_s);
        cJSON_AddNumberToObject(o, "eval_seconds", r->eval_s);
        cJSON_AddNumberToObject(o, "latency_p50_seconds", r->latency_p50_s);
        cJSON_AddNumberToObject(o, "latency_p95_seconds", r->latency_p95_s);
        cJSON_AddNumberToObject(o, "speed_n", r->speed_n);
        cJSON_AddNumberToObject(o, "repeats", r->repeats);
        cJSON_AddNumberToObject(o, "threads_all", r->threads_all);
        cJSON_AddNumberToObject(o, "per_second_1_thread", r->rate_1);
        cJSON_AddNumberToObject(o, "per_second_1_thread_spread", r->rate_1_spread);
        cJSON_AddNumberToObject(o, "per_second_all_threads", r->rate_all);
        cJSON_AddNumberToObject(o, "per_second_all_threads_spread", r->rate_all_spread);
        cJSON_AddNumberToObject(o, "cpu_seconds_per_example_1_thread", r->cpu_per_example_s);
        cJSON_AddNumberToObject(o, "cost_per_million", r->cost_per_million);
        cJSON_AddItemToObject(o, "load_average", pair((const double[2]){r->load_before, r->load_after}));
        cJSON_AddItemToArray(list, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return slm_error(SLM_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "w");
    int bad = !f || fprintf(f, "%s\n", text) < 0;
    if (f) bad |= fclose(f) != 0;
    cJSON_free(text);
    return bad ? slm_error(SLM_ERR_IO, "%s: cannot write the JSON", path) : SLM_OK;
}
