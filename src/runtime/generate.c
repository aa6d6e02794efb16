/* generate.c — the generation loop: tokenize the prompt, evaluate it, then sample, stream and
 * evaluate one token at a time until EOS, a length limit or a stop string. Text reaches the
 * callback in whole UTF-8 characters, with any text that may begin a stop string held back. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/utf8.h"
#include "runtime/runtime.h"
#include "tokenizer/tokenizer.h"

slm_generate_params slm_generate_defaults(void) {
    return (slm_generate_params){.sampling = slm_sampling_defaults(), .n_predict = -1, .max_positions = 0,
                                 .add_bos = 1, .echo_prompt = 1, .stop = NULL};
}

/* Tokens that end a generation: EOS, BOS (as llama2.c stops on it), and the end-of-turn
 * tokens of chat formats. Returns how many ids were written to ids (at most 8). */
static int end_tokens(const slm_tokenizer *tok, int32_t *ids) {
    static const char *const END_OF_TURN[] = {"<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end|>"};
    int n = 0;
    if (tok->eos >= 0) ids[n++] = tok->eos;
    if (tok->bos >= 0) ids[n++] = tok->bos;
    for (size_t i = 0; i < sizeof END_OF_TURN / sizeof END_OF_TURN[0]; i++) {
        int id = tokenizer_find(tok, END_OF_TURN[i], (uint32_t)strlen(END_OF_TURN[i]));
        if (id >= 0 && (tok->type[id] == TOKEN_CONTROL || tok->type[id] == TOKEN_USER_DEFINED)) ids[n++] = id;
    }
    return n;
}

int slm_end_tokens(const slm_tokenizer *tok, int32_t *ids, int cap) {
    int32_t all[8];
    int n = tok ? end_tokens(tok, all) : 0;
    if (n > cap) n = cap;
    if (n > 0) memcpy(ids, all, (size_t)n * sizeof(int32_t));
    return n;
}

static int is_end_token(const int32_t *ids, int n, int id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* Text produced so far and how much of it the callback has seen. */
typedef struct {
    char *buf;
    size_t n, cap;
    size_t emitted;   /* bytes passed to the callback (or dropped) */
    size_t gen_start; /* where generated text begins: stop strings are searched from here */
    const char *const *stop;
    slm_piece_fn fn;
    void *user;
    int cancelled;
} streamer;

static slm_status stream_append(streamer *s, const char *p, size_t n) {
    if (n == 0) return SLM_OK;
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + n) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) return slm_error(SLM_ERR_NOMEM, "out of memory for generated text");
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->n, p, n);
    s->n += n;
    return SLM_OK;
}

/* Passes buf[emitted, end) to the callback: whole valid characters, U+FFFD for bad bytes;
 * an incomplete character at the very end waits unless final. */
static void stream_emit(streamer *s, size_t end, int final) {
    char out[256];
    size_t o = 0;
    while (s->emitted < end && !s->cancelled) {
        size_t left = end - s->emitted, cl = slm_utf8_valid_len(s->buf + s->emitted, left);
        if (cl == 0) {
            size_t want = slm_utf8_lead_len((unsigned char)s->buf[s->emitted]);
            if (!final && want > left && want > 1) break; /* may complete with the next token */
            if (o + 3 > sizeof out) {
                s->cancelled |= s->fn(out, o, s->user) != 0;
                o = 0;
            }
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            s->emitted++;
            continue;
        }
        if (o + cl > sizeof out) {
            s->cancelled |= s->fn(out, o, s->user) != 0;
            o = 0;
        }
        memcpy(out + o, s->buf + s->emitted, cl);
        o += cl;
        s->emitted += cl;
    }
    if (o && !s->cancelled) s->cancelled |= s->fn(out, o, s->user) != 0;
}

/* Looks for a stop string in the generated text. On a match, emits the text before it and
 * returns 1. Otherwise emits all text that cannot be the start of a stop string. */
static int stream_flush(streamer *s, int final) {
    size_t safe = s->n;
    if (s->stop) {
        for (int i = 0; s->stop[i]; i++) {
            size_t sl = strlen(s->stop[i]);
            if (sl == 0) continue;
            size_t from = s->emitted > s->gen_start + sl ? s->emitted - sl : s->gen_start;
            for (size_t at = from; at + sl <= s->n; at++)
                if (memcmp(s->buf + at, s->stop[i], sl) == 0) {
                    s->n = at;
                    stream_emit(s, at, 1);
                    return 1;
                }
            /* hold back a tail that is a prefix of this stop string */
            for (size_t k = sl - 1; k > 0 && !final; k--)
                if (s->n >= s->gen_start + k && memcmp(s->buf + s->n - k, s->stop[i], k) == 0) {
                    if (s->n - k < safe) safe = s->n - k;
                    break;
                }
        }
    }
    if (safe < s->emitted) safe = s->emitted;
    stream_emit(s, safe, final);
    return 0;
}

slm_status slm_generate(slm_session *session, const char *prompt, const slm_generate_params *params,
                        slm_piece_fn on_piece, void *user, slm_generate_stats *stats) {
    if (!session || !prompt || !on_piece) return slm_error(SLM_ERR_INVALID_ARG, "slm_generate: NULL argument");
    const slm_generate_params p = params ? *params : slm_generate_defaults();
    const slm_tokenizer *tok = session->model->tokenizer;
    slm_generate_stats local;
    slm_generate_stats *st_out = stats ? stats : &local;
    memset(st_out, 0, sizeof *st_out);

    int32_t *prompt_ids = NULL, *history = NULL;
    size_t n_prompt = 0;
    slm_sampler *sampler = NULL;
    streamer s = {.stop = p.stop, .fn = on_piece, .user = user};
    slm_tokenize_options topt = {p.add_bos && tok->add_bos, p.parse_special};
    slm_status st = slm_tokenize(tok, prompt, strlen(prompt), &topt, &prompt_ids, &n_prompt);
    if (st != SLM_OK) goto done;
    if (n_prompt == 0) {
        st = slm_error(SLM_ERR_INVALID_ARG, "the prompt is empty and the vocabulary has no BOS token to start from");
        goto done;
    }
    int n_ctx = slm_session_n_ctx(session);
    if (n_prompt > (size_t)n_ctx) {
        st = slm_error(SLM_ERR_RANGE, "the prompt has %zu tokens but the context holds %d (raise --ctx)", n_prompt, n_ctx);
        goto done;
    }
    if ((st = slm_sampler_new(&p.sampling, tok->n_vocab, &sampler)) != SLM_OK) goto done;
    /* the prompt and every sampled token: at most n_ctx evaluated plus the last sampled one */
    history = slm_malloc(((size_t)n_ctx + 1) * sizeof(int32_t), "token history");
    if (!history) {
        st = SLM_ERR_NOMEM;
        goto done;
    }
    memcpy(history, prompt_ids, n_prompt * sizeof(int32_t));
    size_t n_hist = n_prompt;
    char piece[512];
    if (p.echo_prompt) {
        for (size_t i = 0; i < n_prompt && st == SLM_OK; i++) {
            int n = slm_token_to_bytes(tok, i ? prompt_ids[i - 1] : -1, prompt_ids[i], piece, sizeof piece);
            st = stream_append(&s, piece, (size_t)(n > 0 ? n : 0));
        }
        if (st != SLM_OK) goto done;
        stream_emit(&s, s.n, 0);
    }
    s.gen_start = s.n;

    /* keep the cached tokens that start this prompt (at least one token must be evaluated) */
    size_t keep = 0;
    if (p.reuse_cache)
        while (keep + 1 < n_prompt && keep < (size_t)session->n_past && session->tokens[keep] == prompt_ids[keep]) keep++;
    session->n_past = (int)keep;
    int32_t end_ids[8];
    int n_end = end_tokens(tok, end_ids);
    double t0 = slm_time_seconds();
    const float *logits;
    if ((st = slm_session_eval(session, prompt_ids + keep, n_prompt - keep, &logits)) != SLM_OK) goto done;
    st_out->n_prompt = (int)(n_prompt - keep);
    double t1 = slm_time_seconds();
    st_out->prompt_seconds = t1 - t0;
    st_out->stop_reason = "length";
    int prev = prompt_ids[n_prompt - 1];
    while (p.n_predict != 0) {
        int next = slm_sampler_sample(sampler, logits, history, n_hist);
        if (!p.ignore_eos && is_end_token(end_ids, n_end, next)) {
            st_out->stop_reason = "eos";
            break;
        }
        st_out->n_generated++;
        history[n_hist++] = next;
        int n = slm_token_to_bytes(tok, prev, next, piece, sizeof piece);
        if ((st = stream_append(&s, piece, (size_t)(n > 0 ? n : 0))) != SLM_OK) goto done;
        if (stream_flush(&s, 0)) {
            st_out->stop_reason = "stop string";
            break;
        }
        if (s.cancelled) {
            st_out->stop_reason = "callback";
            break;
        }
        prev = next;
        int n_past = slm_session_n_past(session);
        if ((p.n_predict >= 0 && st_out->n_generated >= p.n_predict) ||
            (p.max_positions > 0 && n_past >= p.max_positions) || n_past >= n_ctx)
            break;
        int32_t one = next;
        if ((st = slm_session_eval(session, &one, 1, &logits)) != SLM_OK) goto done;
    }
    st_out->generate_seconds = slm_time_seconds() - t1;
    if (strcmp(st_out->stop_reason, "stop string") != 0) stream_flush(&s, 1);
done:
    free(s.buf);
    free(prompt_ids);
    free(history);
    slm_sampler_free(sampler);
    return st;
}
