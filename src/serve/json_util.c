/* json_util.c — the JSON pieces every route shares: OpenAI-shaped errors, JSON replies, body
 * parsing with UTF-8 checks, base64 for embeddings. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "serve/serve.h"

static const char *error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void serve_json(serve_reply *out, int status, cJSON *obj) {
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) {
        static const char OOM[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        out->status = 500;
        out->body = strdup(OOM);
        out->len = out->body ? strlen(OOM) : 0;
        out->content_type = NULL;
        return;
    }
    out->status = status;
    out->body = text;
    out->len = strlen(text);
    out->content_type = NULL;
}

void serve_error(serve_reply *out, int status, const char *param, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* messages may quote client input: keep them valid UTF-8 */
    for (size_t i = 0; msg[i];) {
        size_t cl = slm_utf8_valid_len(msg + i, strlen(msg + i));
        if (cl == 0) msg[i++] = '?';
        else i += cl;
    }
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "type", error_type(status));
    if (param) cJSON_AddStringToObject(err, "param", param);
    else cJSON_AddNullToObject(err, "param");
    if (code) cJSON_AddStringToObject(err, "code", code);
    else cJSON_AddNullToObject(err, "code");
    serve_json(out, status, root);
}

int serve_utf8_valid(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        size_t cl = slm_utf8_valid_len(s + i, len - i);
        if (cl == 0) return 0;
        i += cl;
    }
    return 1;
}

cJSON *serve_parse_object(const char *body, size_t len, serve_reply *out) {
    if (len == 0) {
        serve_error(out, 400, NULL, NULL, "the request body is empty: expected a JSON object");
        return NULL;
    }
    if (memchr(body, '\0', len)) {
        serve_error(out, 400, NULL, NULL, "the request body contains a NUL byte");
        return NULL;
    }
    if (!serve_utf8_valid(body, len)) {
        serve_error(out, 400, NULL, NULL, "the request body is not valid UTF-8");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        serve_error(out, 400, NULL, NULL, "the request body is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    /* nothing but white space may follow the value */
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            serve_error(out, 400, NULL, NULL, "the request body has text after its JSON value (at byte %zu)", (size_t)(p - body));
            return NULL;
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        serve_error(out, 400, NULL, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

char *serve_base64(const void *data, size_t len) {
    static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = ALPHABET[(v >> 6) & 63];
        *o++ = ALPHABET[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = i + 1 < len ? ALPHABET[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* The field, or NULL when it is absent or null. */
static const cJSON *field(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

int serve_get_number(const cJSON *obj, const char *name, double lo, double hi, double *out, serve_reply *err) {
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) {
        serve_error(err, 400, name, "invalid_type", "'%s' must be a number", name);
        return -1;
    }
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        serve_error(err, 400, name, "invalid_value", "'%s' must be between %g and %g", name, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int serve_get_int(const cJSON *obj, const char *name, long long lo, long long hi, long long *out, serve_reply *err) {
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) {
        serve_error(err, 400, name, "invalid_type", "'%s' must be an integer", name);
        return -1;
    }
    double d = v->valuedouble; /* range first: casting a huge double is undefined */
    if (!(d >= (double)lo && d <= (double)hi)) {
        serve_error(err, 400, name, "invalid_value", "'%s' must be an integer between %lld and %lld", name, lo, hi);
        return -1;
    }
    if (d != floor(d)) {
        serve_error(err, 400, name, "invalid_type", "'%s' must be an integer", name);
        return -1;
    }
    *out = (long long)d;
    return 0;
}

/* Whether a JSON value is an integer in [0, limit). */
int serve_json_index(const cJSON *v, int limit) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < (double)limit && v->valuedouble == floor(v->valuedouble);
}

int serve_get_bool(const cJSON *obj, const char *name, int *out, serve_reply *err) {
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) {
        serve_error(err, 400, name, "invalid_type", "'%s' must be true or false", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

int serve_get_string(const cJSON *obj, const char *name, const char **out, serve_reply *err) {
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsString(v)) {
        serve_error(err, 400, name, "invalid_type", "'%s' must be a string", name);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

int serve_get_strings(const cJSON *obj, const char *name, int max, const char ***out, int *n, serve_reply *err) {
    const cJSON *v = field(obj, name);
    *out = NULL;
    *n = 0;
    if (!v) return 0;
    int count = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (count < 0) {
        serve_error(err, 400, name, "invalid_type", "'%s' must be a string or an array of strings", name);
        return -1;
    }
    if (count > max) {
        serve_error(err, 400, name, "invalid_value", "'%s' has %d items; at most %d are allowed", name, count, max);
        return -1;
    }
    const char **items = calloc((size_t)count + 1, sizeof *items);
    if (!items) {
        serve_error(err, 500, NULL, NULL, "out of memory");
        return -1;
    }
    if (cJSON_IsString(v)) items[0] = v->valuestring;
    else {
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsString(e)) {
                free(items);
                serve_error(err, 400, name, "invalid_type", "'%s' must be a string or an array of strings", name);
                return -1;
            }
            items[i++] = e->valuestring;
        }
    }
    *out = items;
    *n = count;
    return 0;
}
