/* routes.c — the JSON routes besides completions: /health, /v1/models, /tokenize and
 * /detokenize (llama.cpp's shapes), /v1/embeddings (OpenAI's), /v1/classify and /v1/keywords.
 * Work that uses the worker pool runs as a job on the scheduler thread. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

#define MAX_INPUTS 2048

static int not_ready(slm_server *srv, serve_reply *out) {
    if (atomic_load(&srv->ready)) return 0;
    serve_error(out, 503, NULL, "model_loading", "the model is still loading");
    return 1;
}

void serve_route_health(slm_server *srv, serve_reply *out) {
    cJSON *o = cJSON_CreateObject();
    int ready = atomic_load(&srv->ready);
    cJSON_AddStringToObject(o, "status", ready ? "ok" : "loading");
    if (ready) {
        int queued, active;
        serve_scheduler_load(srv->sched, &queued, &active);
        cJSON_AddNumberToObject(o, "slots_idle", srv->p.parallel - active);
        cJSON_AddNumberToObject(o, "slots_processing", active);
        cJSON_AddNumberToObject(o, "queued", queued);
    }
    serve_json(out, ready ? 200 : 503, o);
}

static void add_model(cJSON *data, const char *id, long long created, const char *kind) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "slm");
    cJSON_AddStringToObject(m, "kind", kind);
    cJSON_AddItemToArray(data, m);
}

void serve_route_models(slm_server *srv, serve_reply *out) {
    if (not_ready(srv, out)) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    add_model(data, srv->model_id, srv->created, "generate");
    if (srv->embedder) add_model(data, srv->embed_id, srv->created, "embed");
    if (srv->classifier) add_model(data, srv->classifier_id, srv->created, "classify");
    serve_json(out, 200, o);
}

void serve_route_tokenize(slm_server *srv, const char *body, size_t len, serve_reply *out) {
    if (not_ready(srv, out)) return;
    cJSON *root = serve_parse_object(body, len, out);
    if (!root) return;
    const char *content = NULL;
    int add_special = 0, parse_special = 1, with_pieces = 0;
    if (serve_get_string(root, "content", &content, out) || serve_get_bool(root, "add_special", &add_special, out) ||
        serve_get_bool(root, "parse_special", &parse_special, out) || serve_get_bool(root, "with_pieces", &with_pieces, out)) {
        cJSON_Delete(root);
        return;
    }
    if (!content) {
        cJSON_Delete(root);
        serve_error(out, 400, "content", "missing_required_parameter", "'content' (a string) is required");
        return;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    slm_tokenize_options topt = {add_special, parse_special};
    if (slm_tokenize(srv->tok, content, strlen(content), &topt, &ids, &n) != SLM_OK) {
        cJSON_Delete(root);
        serve_error(out, 400, "content", NULL, "cannot tokenize: %s", slm_last_error());
        return;
    }
    cJSON_Delete(root);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "tokens");
    for (size_t i = 0; i < n; i++) {
        if (!with_pieces) {
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
            continue;
        }
        char piece[512];
        int k = slm_token_to_bytes(srv->tok, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece - 1);
        piece[k > 0 ? k : 0] = '\0';
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", ids[i]);
        if (serve_utf8_valid(piece, strlen(piece))) cJSON_AddStringToObject(e, "piece", piece);
        else {
            cJSON *bytes = cJSON_AddArrayToObject(e, "piece");
            for (int b = 0; b < k; b++) cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)piece[b]));
        }
        cJSON_AddItemToArray(arr, e);
    }
    slm_free(ids);
    serve_json(out, 200, o);
}

void serve_route_detokenize(slm_server *srv, const char *body, size_t len, serve_reply *out) {
    if (not_ready(srv, out)) return;
    cJSON *root = serve_parse_object(body, len, out);
    if (!root) return;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    if (!cJSON_IsArray(tokens)) {
        cJSON_Delete(root);
        serve_error(out, 400, "tokens", tokens ? "invalid_type" : "missing_required_parameter",
                    "'tokens' (an array of token ids) is required");
        return;
    }
    int n = cJSON_GetArraySize(tokens);
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) {
        cJSON_Delete(root);
        serve_error(out, 500, NULL, NULL, "out of memory");
        return;
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, tokens) {
        if (!serve_json_index(e, srv->n_vocab)) {
            free(ids);
            cJSON_Delete(root);
            serve_error(out, 400, "tokens", "invalid_value", "tokens[%d] is not a token id below %d", i, srv->n_vocab);
            return;
        }
        ids[i++] = (int32_t)e->valuedouble;
    }
    cJSON_Delete(root);
    char *text = NULL;
    size_t tl = 0;
    slm_status st = slm_detokenize(srv->tok, ids, (size_t)n, &text, &tl);
    free(ids);
    if (st != SLM_OK) {
        serve_error(out, 400, "tokens", NULL, "cannot detokenize: %s", slm_last_error());
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (!serve_utf8_valid(text, tl)) /* byte tokens can split characters: replace the bad bytes */
        for (size_t k = 0; k < tl; k++)
            if ((unsigned char)text[k] >= 0x80 && !serve_utf8_valid(text + k, 1)) {
                size_t cl;
                for (cl = 2; cl <= 4 && k + cl <= tl; cl++)
                    if (serve_utf8_valid(text + k, cl)) break;
                if (cl <= 4 && k + cl <= tl) k += cl - 1;
                else text[k] = '?';
            }
    cJSON_AddStringToObject(o, "content", text);
    slm_free(text);
    serve_json(out, 200, o);
}

/* Reads "input": a string or an array of 1..MAX_INPUTS strings. Returns the count, or -1 with
 * an error in *out; *texts is the caller's to free (the strings are borrowed from root). */
static int read_inputs(const cJSON *root, const char ***texts, serve_reply *out) {
    int n;
    if (serve_get_strings(root, "input", MAX_INPUTS, texts, &n, out)) return -1;
    if (!*texts || n == 0) {
        free(*texts);
        *texts = NULL;
        serve_error(out, 400, "input", "missing_required_parameter", "'input' (a string or an array of strings) is required");
        return -1;
    }
    return n;
}

/* ---- embeddings */

typedef struct {
    slm_server *srv;
    const char *const *texts;
    size_t n;
    float *vectors;
    slm_status st;
    char error[512];
} embed_job;

static void run_embed(void *ctx) {
    embed_job *j = ctx;
    j->st = slm_embed(j->srv->embedder, j->texts, j->n, j->vectors);
    if (j->st != SLM_OK) snprintf(j->error, sizeof j->error, "%s", slm_last_error());
}

void serve_route_embeddings(slm_server *srv, const char *body, size_t len, serve_reply *out) {
    if (not_ready(srv, out)) return;
    if (!srv->embedder) {
        serve_error(out, 404, "model", "model_not_found", "no embedding model: start the server with --embed-model");
        return;
    }
    cJSON *root = serve_parse_object(body, len, out);
    if (!root) return;
    const char **texts = NULL;
    const char *format = "float";
    long long dims = -1;
    int n = read_inputs(root, &texts, out);
    if (n < 0 || serve_get_string(root, "encoding_format", &format, out) ||
        serve_get_int(root, "dimensions", 1, 1 << 20, &dims, out)) {
        free(texts);
        cJSON_Delete(root);
        return;
    }
    int dim = slm_embedder_dim(srv->embedder);
    int base64 = strcmp(format, "base64") == 0;
    if (!base64 && strcmp(format, "float") != 0) {
        serve_error(out, 400, "encoding_format", "invalid_value", "'encoding_format' must be float or base64");
    } else if (dims >= 0 && dims != dim) {
        serve_error(out, 400, "dimensions", "invalid_value", "this model's embeddings have %d dimensions", dim);
    } else {
        embed_job job = {.srv = srv, .texts = texts, .n = (size_t)n, .vectors = malloc((size_t)n * (size_t)dim * sizeof(float))};
        serve_job sj = {.run = run_embed, .ctx = &job};
        if (!job.vectors) serve_error(out, 500, NULL, NULL, "out of memory");
        else {
            serve_scheduler_run_job(srv->sched, &sj);
            if (sj.done < 0) serve_error(out, 503, NULL, NULL, "the server is shutting down");
            else if (job.st != SLM_OK) serve_error(out, 400, "input", NULL, "cannot embed: %s", job.error);
            else {
                cJSON *o = cJSON_CreateObject(), *data;
                cJSON_AddStringToObject(o, "object", "list");
                data = cJSON_AddArrayToObject(o, "data");
                long long tokens = 0;
                const slm_tokenizer *etok = slm_embedder_tokenizer(srv->embedder);
                slm_tokenize_options topt = {1, 0};
                for (int i = 0; i < n; i++) {
                    cJSON *e = cJSON_CreateObject();
                    cJSON_AddStringToObject(e, "object", "embedding");
                    cJSON_AddNumberToObject(e, "index", i);
                    const float *v = job.vectors + (size_t)i * (size_t)dim;
                    if (base64) {
                        char *b64 = serve_base64(v, (size_t)dim * sizeof(float)); /* little-endian float32 */
                        cJSON_AddStringToObject(e, "embedding", b64 ? b64 : "");
                        free(b64);
                    } else {
                        cJSON *arr = cJSON_AddArrayToObject(e, "embedding");
                        for (int d = 0; d < dim; d++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[d]));
                    }
                    cJSON_AddItemToArray(data, e);
                    int32_t *ids = NULL;
                    size_t nt = 0;
                    if (etok && slm_tokenize(etok, texts[i], strlen(texts[i]), &topt, &ids, &nt) == SLM_OK) tokens += (long long)nt;
                    slm_free(ids);
                }
                cJSON_AddStringToObject(o, "model", srv->embed_id);
                cJSON *u = cJSON_AddObjectToObject(o, "usage");
                cJSON_AddNumberToObject(u, "prompt_tokens", (double)tokens);
                cJSON_AddNumberToObject(u, "total_tokens", (double)tokens);
                serve_json(out, 200, o);
            }
        }
        free(job.vectors);
    }
    free(texts);
    cJSON_Delete(root);
}

/* ---- classification */

typedef struct {
    slm_server *srv;
    const char *const *texts;
    size_t n;
    float *probs;
    slm_status st;
    char error[512];
} classify_job;

static void run_classify(void *ctx) {
    classify_job *j = ctx;
    j->st = slm_classifier_predict(j->srv->classifier, j->texts, j->n, j->probs);
    if (j->st != SLM_OK) snprintf(j->error, sizeof j->error, "%s", slm_last_error());
}

void serve_route_classify(slm_server *srv, const char *body, size_t len, serve_reply *out) {
    if (not_ready(srv, out)) return;
    if (!srv->classifier) {
        serve_error(out, 404, "model", "model_not_found", "no classifier: start the server with --classifier");
        return;
    }
    cJSON *root = serve_parse_object(body, len, out);
    if (!root) return;
    const char **texts = NULL;
    int n = read_inputs(root, &texts, out);
    if (n < 0) {
        cJSON_Delete(root);
        return;
    }
    int k = slm_classifier_n_labels(srv->classifier);
    classify_job job = {.srv = srv, .texts = texts, .n = (size_t)n, .probs = malloc((size_t)n * (size_t)k * sizeof(float))};
    serve_job sj = {.run = run_classify, .ctx = &job};
    if (!job.probs) serve_error(out, 500, NULL, NULL, "out of memory");
    else {
        serve_scheduler_run_job(srv->sched, &sj);
        if (sj.done < 0) serve_error(out, 503, NULL, NULL, "the server is shutting down");
        else if (job.st != SLM_OK) serve_error(out, 400, "input", NULL, "cannot classify: %s", job.error);
        else {
            cJSON *o = cJSON_CreateObject(), *data;
            cJSON_AddStringToObject(o, "object", "list");
            cJSON_AddStringToObject(o, "model", srv->classifier_id);
            data = cJSON_AddArrayToObject(o, "data");
            for (int i = 0; i < n; i++) {
                const float *p = job.probs + (size_t)i * (size_t)k;
                int best = 0;
                for (int c = 1; c < k; c++)
                    if (p[c] > p[best]) best = c;
                cJSON *e = cJSON_CreateObject(), *probs;
                cJSON_AddNumberToObject(e, "index", i);
                cJSON_AddStringToObject(e, "label", slm_classifier_label(srv->classifier, best));
                probs = cJSON_AddObjectToObject(e, "probs");
                for (int c = 0; c < k; c++) cJSON_AddNumberToObject(probs, slm_classifier_label(srv->classifier, c), p[c]);
                cJSON_AddItemToArray(data, e);
            }
            serve_json(out, 200, o);
        }
    }
    free(job.probs);
    free(texts);
    cJSON_Delete(root);
}

/* ---- keywords */

#define KEYWORDS_MAX_TOP 50

typedef struct {
    slm_server *srv;
    slm_keywords_method method;
    const char *const *texts;
    size_t n;
    slm_keyword_list *lists;
    slm_status st;
    char error[512];
} keywords_job;

static void run_keywords(void *ctx) {
    keywords_job *j = ctx;
    slm_keywords **kw = &j->srv->keywords[j->method];
    j->st = SLM_OK;
    if (!*kw) { /* made on first use; top_k is the most a request may ask (MMR picks greedily) */
        slm_keywords_params p = {.method = j->method, .top_k = KEYWORDS_MAX_TOP, .diversity = -1,
                                 .model_path = j->method == SLM_KEYWORDS_STAT ? NULL : j->srv->p.embed_model_path};
        j->st = slm_keywords_new(&p, kw);
    }
    if (j->st == SLM_OK) j->st = slm_keywords_extract(*kw, j->texts, j->n, j->lists);
    if (j->st != SLM_OK) snprintf(j->error, sizeof j->error, "%s", slm_last_error());
}

void serve_route_keywords(slm_server *srv, const char *body, size_t len, serve_reply *out) {
    if (not_ready(srv, out)) return;
    cJSON *root = serve_parse_object(body, len, out);
    if (!root) return;
    const char **texts = NULL;
    const char *method = "auto";
    long long top_k = 10;
    int n = read_inputs(root, &texts, out);
    if (n < 0 || serve_get_int(root, "top_k", 1, KEYWORDS_MAX_TOP, &top_k, out) ||
        serve_get_string(root, "method", &method, out)) {
        free(texts);
        cJSON_Delete(root);
        return;
    }
    slm_keywords_method m;
    if (strcmp(method, "stat") == 0) m = SLM_KEYWORDS_STAT;
    else if (strcmp(method, "embed") == 0) m = SLM_KEYWORDS_EMBED;
    else if (strcmp(method, "auto") == 0) m = srv->p.embed_model_path ? SLM_KEYWORDS_AUTO : SLM_KEYWORDS_STAT;
    else {
        free(texts);
        cJSON_Delete(root);
        serve_error(out, 400, "method", "invalid_value", "'method' must be stat, embed or auto");
        return;
    }
    if (m == SLM_KEYWORDS_EMBED && !srv->p.embed_model_path) {
        free(texts);
        cJSON_Delete(root);
        serve_error(out, 400, "method", "invalid_value", "method embed needs an encoder: start the server with --embed-model");
        return;
    }
    keywords_job job = {.srv = srv, .method = m, .texts = texts, .n = (size_t)n, .lists = calloc((size_t)n, sizeof(slm_keyword_list))};
    serve_job sj = {.run = run_keywords, .ctx = &job};
    if (!job.lists) serve_error(out, 500, NULL, NULL, "out of memory");
    else {
        serve_scheduler_run_job(srv->sched, &sj);
        if (sj.done < 0) serve_error(out, 503, NULL, NULL, "the server is shutting down");
        else if (job.st != SLM_OK) serve_error(out, 400, "input", NULL, "cannot extract keywords: %s", job.error);
        else {
            cJSON *o = cJSON_CreateObject(), *data;
            cJSON_AddStringToObject(o, "object", "list");
            cJSON_AddStringToObject(o, "method", m == SLM_KEYWORDS_STAT ? "stat" : m == SLM_KEYWORDS_EMBED ? "embed" : "auto");
            data = cJSON_AddArrayToObject(o, "data");
            for (int i = 0; i < n; i++) {
                cJSON *e = cJSON_CreateObject(), *list;
                cJSON_AddNumberToObject(e, "index", i);
                list = cJSON_AddArrayToObject(e, "keywords");
                for (int k = 0; k < job.lists[i].n && k < top_k; k++) {
                    cJSON *kwj = cJSON_CreateObject();
                    cJSON_AddStringToObject(kwj, "phrase", job.lists[i].items[k].phrase);
                    cJSON_AddNumberToObject(kwj, "score", job.lists[i].items[k].score);
                    cJSON_AddItemToArray(list, kwj);
                }
                cJSON_AddItemToArray(data, e);
            }
            serve_json(out, 200, o);
            slm_keyword_lists_free(job.lists, (size_t)n);
        }
    }
    free(job.lists);
    free(texts);
    cJSON_Delete(root);
}
