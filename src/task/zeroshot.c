/* zeroshot.c — a generative model as a classifier with no training: each text fills a prompt
 * template, and each label is scored by the log-probability of its words continuing the prompt.
 * The prompt is evaluated once per text (and its template prefix once for all texts, through
 * the session's KV cache); each label then only evaluates its own tokens after the prompt. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "models/model.h"
#include "task/classifier_backend.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/tokenizer.h"

#define DEFAULT_N_CTX 2048

/* The instruction put in a user turn for chat models, and the plain prompt for the others. */
static const char *const CHAT_INSTRUCTION =
    "Classify the text into one of these categories: {labels}.\n\nText: {text}\n\nAnswer with the category only.";
static const char *const PLAIN_TEMPLATE = "Text: {text}\nCategory:";

typedef struct {
    slm_model *model;
    slm_session *session;
    const slm_tokenizer *tok;
    char *prompt_template;  /* raw prompt text with "{text}" (special tokens allowed) */
    char **words;           /* (n_labels) what is scored for each label */
    int n_labels;
    int length_normalize;
    int n_vocab;
    int32_t *cached;        /* (n_ctx) the tokens the session holds, as this backend put them */
    int n_cached;
    float *prefix_logits;   /* (n_vocab) logits after the shared part of the prompt */
    double *scores;         /* (n_labels) */
} zeroshot;

/* ---------------------------------------------------------------- prompts */

/* Whether the model has a chat template: tokenizer.chat_template, or a chat turn token. */
static int has_chat_template(const slm_model *m) {
    char *tpl = m->is_gguf ? gguf_get_string(&m->gguf, "tokenizer.chat_template") : NULL;
    if (tpl) {
        free(tpl);
        return 1;
    }
    static const char *const TURN_TOKENS[] = {"<start_of_turn>", "<|im_start|>", "<|start_header_id|>"};
    for (size_t i = 0; i < sizeof TURN_TOKENS / sizeof TURN_TOKENS[0]; i++)
        if (tokenizer_find(m->tokenizer, TURN_TOKENS[i], (uint32_t)strlen(TURN_TOKENS[i])) >= 0) return 1;
    return 0;
}

/* s with every `key` replaced by `value` (NULL when out of memory). */
static char *replace_all(const char *s, const char *key, const char *value) {
    byte_buf b = {0};
    int ok = buf_put(&b, "", 0);
    size_t kn = strlen(key);
    for (const char *at; ok && (at = strstr(s, key)); s = at + kn) ok = buf_put(&b, s, (size_t)(at - s)) && buf_put(&b, value, strlen(value));
    ok = ok && buf_put(&b, s, strlen(s));
    if (!ok) free(b.s);
    return ok ? b.s : NULL;
}

/* The prompt template with {labels} filled in: the caller's, or the default for the model. */
static slm_status make_template(zeroshot *z, const char *user_template, char **out) {
    byte_buf list = {0};
    int ok = buf_put(&list, "", 0);
    for (int i = 0; ok && i < z->n_labels; i++) ok = buf_put(&list, i ? ", " : "", i ? 2 : 0) && buf_put(&list, z->words[i], strlen(z->words[i]));
    if (!ok) {
        free(list.s);
        return slm_error(SLM_ERR_NOMEM, "out of memory");
    }
    char *base = NULL;
    slm_status st = SLM_OK;
    if (user_template) {
        base = slm_strndup(user_template, strlen(user_template));
    } else if (has_chat_template(z->model)) {
        slm_chat_message msg = {"user", CHAT_INSTRUCTION};
        st = slm_chat_format(z->model, &msg, 1, 1, &base);
    } else {
        base = slm_strndup(PLAIN_TEMPLATE, strlen(PLAIN_TEMPLATE));
    }
    if (st == SLM_OK && !base) st = slm_error(SLM_ERR_NOMEM, "out of memory");
    if (st == SLM_OK && !strstr(base, "{text}"))
        st = slm_error(SLM_ERR_INVALID_ARG, "the prompt template has no {text}: \"%s\"", base);
    if (st == SLM_OK && !(*out = replace_all(base, "{labels}", list.s))) st = slm_error(SLM_ERR_NOMEM, "out of memory");
    free(base);
    free(list.s);
    return st;
}

/* ---------------------------------------------------------------- scoring */

/* log softmax(logits)[id]. */
static double log_prob(const float *logits, int n, int id) {
    float mx = -FLT_MAX;
    for (int i = 0; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)(logits[i] - mx));
    return (double)(logits[id] - mx) - log(sum);
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* Brings the session to hold exactly ids[0..n) and leaves their last logits in prefix_logits,
 * re-using what the session already holds (at least the last token is evaluated again). */
static slm_status eval_prefix(zeroshot *z, const int32_t *ids, int n) {
    int keep = (int)common_prefix(z->cached, (size_t)z->n_cached, ids, (size_t)n);
    if (keep > n - 1) keep = n - 1;
    slm_status st = slm_session_truncate(z->session, keep);
    z->n_cached = keep;
    const float *logits;
    if (st == SLM_OK) st = slm_session_eval(z->session, ids + keep, (size_t)(n - keep), &logits);
    if (st != SLM_OK) return st;
    memcpy(z->cached + keep, ids + keep, (size_t)(n - keep) * sizeof(int32_t));
    z->n_cached = n;
    memcpy(z->prefix_logits, logits, (size_t)z->n_vocab * sizeof(float));
    return SLM_OK;
}

static slm_status tokenize(const zeroshot *z, const char *text, int32_t **ids, size_t *n) {
    slm_tokenize_options o = {slm_tokenizer_adds_bos(z->tok), 1};
    return slm_tokenize(z->tok, text, strlen(text), &o, ids, n);
}

/* The label scores of one text into z->scores. */
static slm_status score_text(zeroshot *z, const char *text) {
    slm_status st = SLM_OK;
    char *prompt = replace_all(z->prompt_template, "{text}", text);
    int32_t *p_ids = NULL;
    size_t n_p = 0;
    int32_t **full = calloc((size_t)z->n_labels, sizeof *full); /* prompt + label words, per label */
    size_t *n_full = calloc((size_t)z->n_labels, sizeof *n_full);
    if (!prompt || !full || !n_full) st = slm_error(SLM_ERR_NOMEM, "out of memory");
    if (st == SLM_OK) st = tokenize(z, prompt, &p_ids, &n_p);
    /* every label's tokens continue the tokens shared by all (the prompt's, unless a label
       merges with the prompt's last characters) */
    size_t shared = n_p;
    const int n_ctx = slm_session_n_ctx(z->session);
    for (int l = 0; st == SLM_OK && l < z->n_labels; l++) {
        /* the label follows a space unless the prompt ends in white space */
        size_t plen = strlen(prompt);
        int space = plen && !strchr(" \n\t", prompt[plen - 1]);
        char *with = malloc(plen + strlen(z->words[l]) + 2);
        if (!with) {
            st = slm_error(SLM_ERR_NOMEM, "out of memory");
            break;
        }
        strcpy(with, prompt);
        if (space) strcat(with, " ");
        strcat(with, z->words[l]);
        st = tokenize(z, with, &full[l], &n_full[l]);
        free(with);
        if (st != SLM_OK) break;
        size_t c = common_prefix(p_ids, n_p, full[l], n_full[l]);
        if (c < shared) shared = c;
        if (n_full[l] > (size_t)n_ctx)
            st = slm_error(SLM_ERR_RANGE, "the prompt and label \"%s\" take %zu tokens, more than the context of %d",
                           z->words[l], n_full[l], n_ctx);
    }
    for (int l = 0; st == SLM_OK && l < z->n_labels; l++)
        if (shared >= n_full[l]) shared = n_full[l] - 1; /* a label adds at least one scored token */
    if (st == SLM_OK && shared == 0)
        st = slm_error(SLM_ERR_INVALID_ARG, "zero-shot: the prompt has no tokens before the label (add text to the template)");
    if (st == SLM_OK) st = eval_prefix(z, full[0], (int)shared);
    for (int l = 0; st == SLM_OK && l < z->n_labels; l++) {
        const int32_t *cont = full[l] + shared;
        int m = (int)(n_full[l] - shared);
        for (int j = 0; j < m; j++)
            if (cont[j] < 0 || cont[j] >= z->n_vocab) st = slm_error(SLM_ERR_FORMAT, "token %d is outside the model's vocabulary", cont[j]);
        if (st != SLM_OK) break;
        double sum = log_prob(z->prefix_logits, z->n_vocab, cont[0]);
        for (int j = 1; st == SLM_OK && j < m; j++) {
            const float *logits;
            st = slm_session_eval(z->session, &cont[j - 1], 1, &logits);
            if (st == SLM_OK) sum += log_prob(logits, z->n_vocab, cont[j]);
        }
        if (st == SLM_OK) st = slm_session_truncate(z->session, (int)shared);
        z->scores[l] = z->length_normalize ? sum / m : sum;
    }
    for (int l = 0; full && l < z->n_labels; l++) slm_free(full[l]);
    free(full);
    free(n_full);
    slm_free(p_ids);
    free(prompt);
    return st;
}

static slm_status zeroshot_predict(void *state, const char *const *texts, size_t n, float *probs) {
    zeroshot *z = state;
    for (size_t i = 0; i < n; i++) {
        slm_status st = score_text(z, texts[i]);
        if (st != SLM_OK) {
            z->n_cached = 0; /* the session may hold anything now */
            slm_session_reset(z->session);
            return st;
        }
        double mx = -DBL_MAX, sum = 0;
        for (int l = 0; l < z->n_labels; l++) mx = z->scores[l] > mx ? z->scores[l] : mx;
        for (int l = 0; l < z->n_labels; l++) sum += exp(z->scores[l] - mx);
        for (int l = 0; l < z->n_labels; l++) probs[i * (size_t)z->n_labels + l] = (float)(exp(z->scores[l] - mx) / sum);
    }
    return SLM_OK;
}

static void zeroshot_free(void *state) {
    zeroshot *z = state;
    if (!z) return;
    slm_session_free(z->session);
    slm_model_free(z->model);
    for (int i = 0; z->words && i < z->n_labels; i++) free(z->words[i]);
    free(z->words);
    free(z->prompt_template);
    free(z->cached);
    free(z->prefix_logits);
    free(z->scores);
    free(z);
}

static const classifier_backend ZEROSHOT = {zeroshot_predict, zeroshot_free};

/* ---------------------------------------------------------------- opening */

/* Splits "name=words" (or "words" alone: both the same) into clf->labels[i] and z->words[i]. */
static slm_status set_labels(zeroshot *z, const slm_classifier_params *p, slm_classifier *clf) {
    clf->labels = calloc((size_t)p->n_labels, sizeof *clf->labels);
    z->words = calloc((size_t)p->n_labels, sizeof *z->words);
    if (!clf->labels || !z->words) return slm_error(SLM_ERR_NOMEM, "out of memory");
    clf->n_labels = z->n_labels = p->n_labels;
    for (int i = 0; i < p->n_labels; i++) {
        const char *s = p->labels[i];
        if (!s) return slm_error(SLM_ERR_INVALID_ARG, "zero-shot label %d is NULL", i);
        const char *eq = strchr(s, '=');
        const char *words = eq ? eq + 1 : s;
        size_t name_len = eq ? (size_t)(eq - s) : strlen(s);
        if (!name_len || !*words) return slm_error(SLM_ERR_INVALID_ARG, "zero-shot label \"%s\" is empty on one side", s);
        for (int j = 0; j < i; j++)
            if (strlen(clf->labels[j]) == name_len && memcmp(clf->labels[j], s, name_len) == 0)
                return slm_error(SLM_ERR_INVALID_ARG, "zero-shot label \"%.*s\" is given twice", (int)name_len, s);
        clf->labels[i] = slm_strndup(s, name_len);
        z->words[i] = slm_strndup(words, strlen(words));
        if (!clf->labels[i] || !z->words[i]) return slm_error(SLM_ERR_NOMEM, "out of memory");
    }
    return SLM_OK;
}

slm_status classifier_open_zeroshot(const char *path, const slm_classifier_params *p, slm_classifier *clf) {
    if (!p || !p->labels || p->n_labels < 2)
        return slm_error(SLM_ERR_INVALID_ARG, "zero-shot classification needs at least two labels");
    if (p->n_threads > 0) {
        slm_status st = slm_set_threads(p->n_threads);
        if (st != SLM_OK) return st;
    }
    zeroshot *z = slm_calloc(1, sizeof *z, "zero-shot classifier");
    if (!z) return SLM_ERR_NOMEM;
    clf->backend = &ZEROSHOT;
    clf->state = z; /* slm_classifier_free releases what is made from here on */
    z->length_normalize = p->length_normalize;
    slm_status st = set_labels(z, p, clf);
    if (st == SLM_OK) st = slm_model_load(path, NULL, &z->model);
    if (st == SLM_OK && !(z->tok = slm_model_tokenizer(z->model)))
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: the model has no tokenizer", path);
    if (st == SLM_OK) {
        int n_ctx = z->model->hp.n_ctx_train > 0 && z->model->hp.n_ctx_train < DEFAULT_N_CTX ? z->model->hp.n_ctx_train : DEFAULT_N_CTX;
        st = slm_session_new(z->model, &(slm_session_params){n_ctx}, &z->session);
    }
    if (st == SLM_OK) st = make_template(z, p->prompt_template, &z->prompt_template);
    if (st == SLM_OK) {
        z->n_vocab = z->model->hp.n_vocab;
        z->cached = slm_malloc((size_t)slm_session_n_ctx(z->session) * sizeof(int32_t), "zero-shot cache");
        z->prefix_logits = slm_malloc((size_t)z->n_vocab * sizeof(float), "zero-shot logits");
        z->scores = slm_calloc((size_t)z->n_labels, sizeof(double), "zero-shot scores");
        if (!z->cached || !z->prefix_logits || !z->scores) st = SLM_ERR_NOMEM;
    }
    return st;
}
