/* tagger.c — runs a BIO tagger GGUF (written by `slm finetune --task tag`) over texts: each text
 * split into words and WordPiece windows as in training (train/token_tagging.c), the windows of
 * all texts sorted by length and batched through the encoder (threads inside each batch), and
 * each word given the O/B/I probabilities of its first piece from the window where that piece
 * sits furthest from an edge. */
#include "task/tagger.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "train/bert_train.h"

/* Windows per forward batch (a (8, 256) batch of MiniLM keeps about 350 MB of activations). */
#define TAGGER_BATCH 8

struct kw_tagger {
    bert_model model;
    slm_tokenizer *tok;
    int max_len;
    int32_t cls, sep;
};

int kw_is_tagger_file(const char *path) {
    gguf_file f;
    if (gguf_open(path, &f) != SLM_OK) {
        slm_error_clear();
        return 0;
    }
    const int yes = gguf_find(&f, "slm.tagger.labels") != NULL;
    gguf_close(&f);
    return yes;
}

/* Checks that slm.tagger.labels is ["O", "B", "I"]: the head's rows in token_tagging.h's order. */
static slm_status check_labels(const char *path, const gguf_file *f) {
    const gguf_value *v = gguf_find(f, "slm.tagger.labels");
    static const char *const want[TAG_K] = {"O", "B", "I"};
    int ok = v && v->type == GGUF_TYPE_ARRAY && v->arr.elem_type == GGUF_TYPE_STRING && v->arr.n == TAG_K;
    for (int k = 0; ok && k < TAG_K; k++)
        ok = v->arr.strs[k].len == 1 && v->arr.strs[k].ptr[0] == want[k][0];
    return ok ? SLM_OK : slm_error(SLM_ERR_FORMAT, "%s: slm.tagger.labels must be [\"O\", \"B\", \"I\"] (a tagger from slm finetune --task tag)", path);
}

slm_status kw_tagger_open(const char *path, kw_tagger **out) {
    *out = NULL;
    gguf_file f;
    slm_status st = gguf_open(path, &f);
    if (st != SLM_OK) return st;
    kw_tagger *tg = calloc(1, sizeof *tg);
    bert_config cfg;
    if (!tg) {
        gguf_close(&f);
        return slm_error(SLM_ERR_NOMEM, "tagger: out of memory");
    }
    if ((st = check_labels(path, &f)) || (st = bert_config_from_gguf(path, &f, &cfg))) goto fail;
    const gguf_tensor *head = gguf_find_tensor(&f, "cls.weight");
    if (!head || head->ne[1] != TAG_K) {
        st = slm_error(SLM_ERR_FORMAT, "%s: cls.weight must have %d rows (O, B, I)", path, TAG_K);
        goto fail;
    }
    cfg.K = TAG_K;
    cfg.per_token = 1;
    int64_t max_len = 256;
    if (gguf_find(&f, "slm.tagger.max_len") && !gguf_get_int(&f, "slm.tagger.max_len", &max_len)) max_len = -1;
    if (max_len < 8 || max_len > cfg.P) {
        st = slm_error(SLM_ERR_FORMAT, "%s: slm.tagger.max_len must be in [8, %d]", path, cfg.P);
        goto fail;
    }
    tg->max_len = (int)max_len;
    if ((st = bert_model_alloc(&tg->model, &cfg, TAGGER_BATCH, tg->max_len, 0)) ||
        (st = bert_load_weights(&tg->model, path, &f, 1)) || (st = slm_tokenizer_load(path, &tg->tok)))
        goto fail;
    if (slm_vocab_size(tg->tok) != cfg.V) {
        st = slm_error(SLM_ERR_FORMAT, "%s: the tokenizer has %d tokens, the model %d", path, slm_vocab_size(tg->tok), cfg.V);
        goto fail;
    }
    tg->cls = slm_token_bos(tg->tok);
    tg->sep = tg->tok->kind == TOKENIZER_WPM ? tg->tok->sep : slm_token_eos(tg->tok);
    gguf_close(&f);
    *out = tg;
    return SLM_OK;
fail:
    kw_tagger_free(tg);
    gguf_close(&f);
    return st;
}

void kw_tagger_free(kw_tagger *tg) {
    if (!tg) return;
    bert_model_free(&tg->model);
    slm_tokenizer_free(tg->tok);
    free(tg);
}

void kw_tagged_docs_free(kw_tagged_doc *docs, size_t n) {
    if (!docs) return;
    for (size_t i = 0; i < n; i++) {
        free(docs[i].words);
        free(docs[i].probs);
        docs[i] = (kw_tagged_doc){0};
    }
}

/* One window to run: document, first piece, and its length in ids (for sorting). */
typedef struct {
    uint32_t doc;
    int start, len;
} window;

static int by_len(const void *a, const void *b) {
    const window *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : (x->doc > y->doc) - (x->doc < y->doc);
}

slm_status kw_tagger_run(kw_tagger *tg, const char *const *texts, size_t n, kw_tagged_doc *out) {
    for (size_t i = 0; i < n; i++) out[i] = (kw_tagged_doc){0};
    if (n > UINT32_MAX) return slm_error(SLM_ERR_INVALID_ARG, "tagger: too many texts");
    tag_pieces *pieces = calloc(n ? n : 1, sizeof *pieces);
    float *best = NULL;  /* per word of the current document: the centrality of its chosen window */
    window *wins = NULL;
    size_t n_wins = 0, cap_wins = 0;
    int32_t *tokens = malloc(sizeof(int32_t) * TAGGER_BATCH * (size_t)tg->max_len);
    int lens[TAGGER_BATCH];
    slm_status st = pieces && tokens ? SLM_OK : slm_error(SLM_ERR_NOMEM, "tagger: out of memory");
    /* words, pieces and windows of every text */
    for (size_t i = 0; i < n && st == SLM_OK; i++) {
        const char *text = texts[i] ? texts[i] : "";
        kw_tagged_doc *d = &out[i];
        if ((st = tag_split_words(text, strlen(text), &d->words, &d->n_words))) break;
        const char **ptrs = malloc(sizeof(char *) * (size_t)(d->n_words + 1));
        size_t *wl = malloc(sizeof(size_t) * (size_t)(d->n_words + 1));
        d->probs = malloc(sizeof(float) * TAG_K * (size_t)(d->n_words + 1));
        if (!ptrs || !wl || !d->probs) st = slm_error(SLM_ERR_NOMEM, "tagger: out of memory");
        for (int w = 0; w < d->n_words && st == SLM_OK; w++) {
            ptrs[w] = text + d->words[w].start;
            wl[w] = d->words[w].end - d->words[w].start;
            d->probs[w * TAG_K + TAG_O] = 1.0f; /* a word without pieces stays outside */
            d->probs[w * TAG_K + TAG_B] = d->probs[w * TAG_K + TAG_I] = 0.0f;
        }
        if (st == SLM_OK) st = tag_encode_words(tg->tok, ptrs, wl, d->n_words, &pieces[i]);
        free(ptrs);
        free(wl);
        if (st != SLM_OK || pieces[i].n_pieces == 0) continue;
        const int k = tag_window_starts(pieces[i].n_pieces, tg->max_len, NULL, 0);
        if (n_wins + (size_t)k > cap_wins) {
            cap_wins = (n_wins + (size_t)k) * 2;
            window *grown = realloc(wins, sizeof *wins * cap_wins);
            if (!grown) {
                st = slm_error(SLM_ERR_NOMEM, "tagger: out of memory");
                break;
            }
            wins = grown;
        }
        int starts[4096];
        if (k > 4096) {
            st = slm_error(SLM_ERR_RANGE, "tagger: document %zu is too long (%d windows)", i + 1, k);
            break;
        }
        tag_window_starts(pieces[i].n_pieces, tg->max_len, starts, k);
        for (int j = 0; j < k; j++) {
            const int width = pieces[i].n_pieces - starts[j] < tg->max_len - 2 ? pieces[i].n_pieces - starts[j] : tg->max_len - 2;
            wins[n_wins++] = (window){(uint32_t)i, starts[j], width + 2};
        }
    }
    if (st == SLM_OK && n_wins) qsort(wins, n_wins, sizeof *wins, by_len);
    /* best[word_base[i] + w]: how far from its window's edge the piece that gave word w of text
     * i its probabilities sat (-1: none yet) */
    size_t total_words = 0;
    for (size_t i = 0; i < n; i++) total_words += (size_t)out[i].n_words;
    size_t *word_base = malloc(sizeof(size_t) * (n ? n : 1));
    best = malloc(sizeof(float) * (total_words ? total_words : 1));
    if (st == SLM_OK && (!word_base || !best)) st = slm_error(SLM_ERR_NOMEM, "tagger: out of memory");
    if (st == SLM_OK) {
        size_t acc = 0;
        for (size_t i = 0; i < n; i++) word_base[i] = acc, acc += (size_t)out[i].n_words;
        for (size_t j = 0; j < total_words; j++) best[j] = -1.0f;
    }
    for (size_t b0 = 0; b0 < n_wins && st == SLM_OK; b0 += TAGGER_BATCH) {
        const int Bu = n_wins - b0 < TAGGER_BATCH ? (int)(n_wins - b0) : TAGGER_BATCH;
        const int T = wins[b0 + (size_t)Bu - 1].len; /* the longest: sorted */
        for (int b = 0; b < Bu; b++) {
            const window *w = &wins[b0 + (size_t)b];
            int32_t *row = tokens + (size_t)b * T;
            tag_window_row(&pieces[w->doc], w->start, tg->max_len, tg->cls, tg->sep, row, &lens[b], NULL, NULL);
            for (int t = lens[b]; t < T; t++) row[t] = 0;
        }
        bert_forward(&tg->model, tokens, lens, NULL, NULL, Bu, T);
        for (int b = 0; b < Bu; b++) {
            const window *w = &wins[b0 + (size_t)b];
            const tag_pieces *pc = &pieces[w->doc];
            kw_tagged_doc *d = &out[w->doc];
            const int end = w->start + lens[b] - 2;
            int word = 0;
            while (word < pc->n_words && pc->first[word + 1] <= w->start) word++;
            for (; word < pc->n_words && pc->first[word] < end; word++) {
                const int p = pc->first[word];
                if (p < w->start || pc->first[word + 1] == p) continue; /* starts before the window, or no pieces */
                const float centre = (float)(p - w->start < end - 1 - p ? p - w->start : end - 1 - p);
                float *chosen = &best[word_base[w->doc] + (size_t)word];
                if (centre <= *chosen) continue;
                *chosen = centre;
                const float *l = tg->model.acts.probs + ((size_t)b * T + 1 + (p - w->start)) * TAG_K;
                float mx = l[0];
                for (int k = 1; k < TAG_K; k++) mx = l[k] > mx ? l[k] : mx;
                double sum = 0.0;
                float e[TAG_K];
                for (int k = 0; k < TAG_K; k++) sum += e[k] = expf(l[k] - mx);
                for (int k = 0; k < TAG_K; k++) d->probs[word * TAG_K + k] = (float)(e[k] / sum);
            }
        }
    }
    for (size_t i = 0; pieces && i < n; i++) tag_pieces_free(&pieces[i]);
    free(pieces);
    free(wins);
    free(tokens);
    free(best);
    free(word_base);
    if (st != SLM_OK) kw_tagged_docs_free(out, n);
    return st;
}
