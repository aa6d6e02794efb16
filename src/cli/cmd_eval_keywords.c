/* cmd_eval_keywords.c — `slm eval --task keywords`: Porter-stemmed exact-match precision, recall
 * and F1 at 5, 10 and 15 of slm's keyphrases (or of a predictions file) against the gold keys of a
 * JSONL file, a LIAAD folder (docsutf8/ + keys/) or a .zip of one. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/keywords_options.h"
#include "cli/read_text.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm eval --task keywords GOLD [options]\n\n"
    "Scores keyphrases against GOLD: a JSONL file (text in --field, default \"text\" then\n"
    "\"document\"; keys in \"keyphrases\", or Inspec's \"extractive_keyphrases\" + \"abstractive_keyphrases\"),\n"
    "a LIAAD folder (docsutf8/NAME.txt, keys/NAME.key) or a .zip of one. Without --pred slm extracts\n"
    "the phrases itself (the extraction options below) and reports documents per second; with --pred\n"
    "it scores a JSONL file of {\"id\": ..., \"keywords\": [phrase or {\"phrase\": ...}, ...]} lines.\n"
    "Protocol: every word of gold and predicted phrases lowercased and Porter-stemmed (NLTK's\n"
    "variant), duplicates dropped, exact matches counted in the first k predictions; precision,\n"
    "recall and F1 per document, averaged over documents.";

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    char *id;
    char **phrases;
    int n;
} prediction;

static int compare_predictions(const void *a, const void *b) {
    return strcmp(((const prediction *)a)->id, ((const prediction *)b)->id);
}

static void free_predictions(prediction *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(p[i].id);
        for (int k = 0; k < p[i].n; k++) free(p[i].phrases[k]);
        free(p[i].phrases);
    }
    free(p);
}

/* Reads a predictions JSONL file; returns NULL (message printed) on error. */
static prediction *read_predictions(const char *path, size_t *n_out) {
    size_t len;
    char *data = read_text_file(path, (size_t)1 << 31, &len);
    if (!data) {
        fprintf(stderr, "error: %s: cannot read the predictions\n", path);
        return NULL;
    }
    prediction *preds = NULL;
    size_t n = 0, cap = 0, line_no = 0;
    int ok = 1;
    for (char *line = data; ok && line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        char *end = nl ? nl : data + len;
        *end = '\0';
        line_no++;
        char *next = end + 1;
        if (strspn(line, " \t\r") == strlen(line)) {
            line = next;
            continue;
        }
        cJSON *obj = cJSON_Parse(line);
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(obj, "id");
        const cJSON *kws = cJSON_GetObjectItemCaseSensitive(obj, "keywords");
        if (!kws) kws = cJSON_GetObjectItemCaseSensitive(obj, "keyphrases");
        if (!cJSON_IsObject(obj) || !(cJSON_IsString(idv) || cJSON_IsNumber(idv)) || !cJSON_IsArray(kws)) {
            fprintf(stderr, "error: %s:%zu: expected {\"id\": ..., \"keywords\": [...]}\n", path, line_no);
            cJSON_Delete(obj);
            ok = 0;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            prediction *g = (prediction *)realloc(preds, cap * sizeof *preds);
            if (!g) {
                cJSON_Delete(obj);
                ok = 0;
                break;
            }
            preds = g;
        }
        prediction *p = &preds[n++];
        char idbuf[32];
        if (cJSON_IsString(idv)) p->id = strdup(idv->valuestring);
        else {
            snprintf(idbuf, sizeof idbuf, "%.0f", idv->valuedouble);
            p->id = strdup(idbuf);
        }
        p->n = 0;
        p->phrases = (char **)calloc((size_t)cJSON_GetArraySize(kws) + 1, sizeof(char *));
        const cJSON *k;
        cJSON_ArrayForEach(k, kws) {
            const cJSON *s = cJSON_IsObject(k) ? cJSON_GetObjectItemCaseSensitive(k, "phrase") : k;
            if (cJSON_IsString(s) && p->phrases) p->phrases[p->n++] = strdup(s->valuestring);
        }
        cJSON_Delete(obj);
        if (!p->id || !p->phrases) ok = 0;
        line = next;
    }
    free(data);
    if (!ok) {
        free_predictions(preds, n);
        return NULL;
    }
    qsort(preds, n, sizeof *preds, compare_predictions);
    *n_out = n;
    return preds;
}

static int write_predictions(const char *path, const slm_keyphrase_corpus *c, const slm_keyword_list *lists) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    for (size_t i = 0; i < c->n; i++) {
        cJSON *obj = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        cJSON_AddStringToObject(obj, "id", c->ids[i]);
        for (int k = 0; k < lists[i].n; k++) cJSON_AddItemToArray(arr, cJSON_CreateString(lists[i].items[k].phrase));
        cJSON_AddItemToObject(obj, "keywords", arr);
        char *s = cJSON_PrintUnformatted(obj);
        if (s) fprintf(f, "%s\n", s);
        cJSON_free(s);
        cJSON_Delete(obj);
    }
    return fclose(f) == 0;
}

static int write_json(const char *path, const char *gold, const char *method, const slm_keyphrase_scores *s,
                      double docs_per_s) {
    static const char *const cut[3] = {"5", "10", "15"};
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "gold", gold);
    cJSON_AddStringToObject(obj, "method", method);
    cJSON_AddNumberToObject(obj, "n_docs", (double)s->n_docs);
    if (docs_per_s > 0) cJSON_AddNumberToObject(obj, "docs_per_s", docs_per_s);
    const char *names[3] = {"precision", "recall", "f1"};
    const double *vals[3] = {s->precision, s->recall, s->f1};
    for (int m = 0; m < 3; m++) {
        cJSON *o = cJSON_CreateObject();
        for (int c = 0; c < 3; c++) cJSON_AddNumberToObject(o, cut[c], vals[m][c]);
        cJSON_AddItemToObject(obj, names[m], o);
    }
    char *text = cJSON_Print(obj);
    cJSON_Delete(obj);
    FILE *f = fopen(path, "w");
    int ok = f && text && fprintf(f, "%s\n", text) > 0;
    if (f && fclose(f) != 0) ok = 0;
    cJSON_free(text);
    return ok;
}

int cmd_eval_keywords(int argc, char **argv) {
    /* `slm eval` may pass its --task option through */
    char **args = (char **)malloc((size_t)(argc + 1) * sizeof(char *));
    if (!args) return 1;
    int n_args = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--task") == 0 && i + 1 < argc && strcmp(argv[i + 1], "keywords") == 0) {
            i++;
            continue;
        }
        if (i > 0 && strcmp(argv[i], "--task=keywords") == 0) continue;
        args[n_args++] = argv[i];
    }
    args[n_args] = NULL;

    keywords_cli_options ko;
    const char *pred_path = NULL, *field = NULL, *json_path = NULL, *save_path = NULL;
    opt_spec specs[KEYWORDS_N_SPECS + 4];
    keywords_option_specs(specs, &ko);
    ko.top = 15;
    specs[KEYWORDS_N_SPECS + 0] = (opt_spec){NULL, "--pred", OPT_STRING, &pred_path, "score this predictions JSONL instead of extracting"};
    specs[KEYWORDS_N_SPECS + 1] = (opt_spec){NULL, "--field", OPT_STRING, &field, "JSONL text field (default text, then document)"};
    specs[KEYWORDS_N_SPECS + 2] = (opt_spec){NULL, "--json", OPT_STRING, &json_path, "also write the scores as JSON to this file"};
    specs[KEYWORDS_N_SPECS + 3] = (opt_spec){NULL, "--save-pred", OPT_STRING, &save_path, "write slm's predictions as JSONL"};
    const char *pos[1];
    int n_pos;
    int rc = args_parse(n_args, args, specs, KEYWORDS_N_SPECS + 4, pos, 1, &n_pos, USAGE);
    free(args);
    if (rc) return rc == 1 ? 0 : 2;
    if (n_pos != 1) {
        fprintf(stderr, "error: give the GOLD file or folder (see slm eval --task keywords --help)\n");
        return 2;
    }
    slm_keywords_params params;
    if (!keywords_options_to_params(&ko, &params)) return 2;
    if (params.top_k < 15) params.top_k = 15;

    slm_keyphrase_corpus corpus;
    if (slm_keyphrase_corpus_load(pos[0], field, 1, &corpus) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    const char **gold_flat = NULL;
    const char *const **gold = (const char *const **)calloc(corpus.n, sizeof(char **));
    const char *const **pred = (const char *const **)calloc(corpus.n, sizeof(char **));
    int *n_pred = (int *)calloc(corpus.n, sizeof(int));
    slm_keyword_list *lists = NULL;
    char ***phrase_arrays = NULL;
    prediction *preds = NULL;
    size_t n_preds = 0;
    double docs_per_s = 0;
    int status = 0;
    const char *method_name = pred_path ? "predictions" : ko.method;
    if (!gold || !pred || !n_pred) {
        fprintf(stderr, "error: out of memory\n");
        status = 1;
        goto done;
    }
    for (size_t i = 0; i < corpus.n; i++) gold[i] = (const char *const *)corpus.keys[i];
    if (pred_path) {
        preds = read_predictions(pred_path, &n_preds);
        if (!preds) {
            status = 1;
            goto done;
        }
        for (size_t i = 0; i < corpus.n; i++) {
            prediction key = {.id = corpus.ids[i]};
            prediction *p = (prediction *)bsearch(&key, preds, n_preds, sizeof *preds, compare_predictions);
            if (!p) {
                fprintf(stderr, "error: %s: no prediction for document \"%s\"\n", pred_path, corpus.ids[i]);
                status = 1;
                goto done;
            }
            pred[i] = (const char *const *)p->phrases;
            n_pred[i] = p->n;
        }
    } else {
        slm_keywords *kw;
        if (slm_keywords_new(&params, &kw) != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            status = 1;
            goto done;
        }
        lists = (slm_keyword_list *)calloc(corpus.n, sizeof *lists);
        phrase_arrays = (char ***)calloc(corpus.n, sizeof(char **));
        double t0 = now_seconds();
        slm_status st = lists && phrase_arrays ? slm_keywords_extract(kw, (const char *const *)corpus.texts, corpus.n, lists)
                                               : SLM_ERR_NOMEM;
        double dt = now_seconds() - t0;
        slm_keywords_free(kw);
        if (st != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            status = 1;
            goto done;
        }
        docs_per_s = dt > 0 ? (double)corpus.n / dt : 0;
        for (size_t i = 0; i < corpus.n; i++) {
            phrase_arrays[i] = (char **)calloc((size_t)lists[i].n + 1, sizeof(char *));
            if (!phrase_arrays[i]) {
                status = 1;
                goto done;
            }
            for (int k = 0; k < lists[i].n; k++) phrase_arrays[i][k] = lists[i].items[k].phrase;
            pred[i] = (const char *const *)phrase_arrays[i];
            n_pred[i] = lists[i].n;
        }
        if (save_path && !write_predictions(save_path, &corpus, lists)) {
            fprintf(stderr, "error: %s: cannot write the predictions\n", save_path);
            status = 1;
            goto done;
        }
    }
    slm_keyphrase_scores scores;
    if (slm_keyphrase_evaluate(gold, corpus.n_keys, pred, n_pred, corpus.n, &scores) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        status = 1;
        goto done;
    }
    printf("keywords: %s, %zu documents, %s", pos[0], corpus.n, method_name);
    if (docs_per_s > 0) printf(", %.1f documents/s", docs_per_s);
    printf("\n        precision  recall     F1\n");
    static const int cut[3] = {5, 10, 15};
    for (int c = 0; c < 3; c++)
        printf("  @%-4d %.4f     %.4f     %.4f\n", cut[c], scores.precision[c], scores.recall[c], scores.f1[c]);
    if (json_path && !write_json(json_path, pos[0], method_name, &scores, docs_per_s)) {
        fprintf(stderr, "error: %s: cannot write the scores\n", json_path);
        status = 1;
    }
done:
    if (phrase_arrays)
        for (size_t i = 0; i < corpus.n; i++) free(phrase_arrays[i]);
    free(phrase_arrays);
    if (lists) slm_keyword_lists_free(lists, corpus.n);
    free(lists);
    free_predictions(preds, n_preds);
    free(gold);
    free(pred);
    free(n_pred);
    free(gold_flat);
    slm_keyphrase_corpus_free(&corpus);
    return status;
}
