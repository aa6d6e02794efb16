/* finetune_tag.c — slm_finetune_tag: token classification (BIO keyphrase tags) on a BERT-family
 * encoder. Documents become WordPiece windows with each word's tag on its first piece
 * (token_tagging.c); the training loop, dev scoring (span F1) and output are finetune.c's. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "train/bert_train.h"
#include "train/finetune.h"
#include "train/token_tagging.h"

/* Appends the windows of document d of ds to ex (grown as needed; *cap rows allocated). */
static slm_status add_document(const slm_tokenizer *tok, const slm_tag_dataset *ds, size_t d, int max_len,
                               ft_examples *ex, size_t *cap, size_t *n_split) {
    const int n_words = ds->n_words[d];
    size_t *lens = malloc(sizeof(size_t) * (size_t)(n_words ? n_words : 1));
    if (!lens) return slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    for (int w = 0; w < n_words; w++) lens[w] = strlen(ds->words[d][w]);
    tag_pieces pieces;
    slm_status st = tag_encode_words(tok, (const char *const *)ds->words[d], lens, n_words, &pieces);
    free(lens);
    if (st != SLM_OK) return st;
    const int n_win = tag_window_starts(pieces.n_pieces, max_len, NULL, 0);
    int *starts = malloc(sizeof(int) * (size_t)n_win);
    if (!starts) {
        tag_pieces_free(&pieces);
        return slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    }
    tag_window_starts(pieces.n_pieces, max_len, starts, n_win);
    *n_split += n_win > 1;
    if (ex->n + (size_t)n_win > *cap) {
        const size_t c = (ex->n + (size_t)n_win) * 2;
        int32_t *ids = realloc(ex->ids, sizeof(int32_t) * c * (size_t)max_len);
        if (ids) ex->ids = ids;
        int32_t *tags = realloc(ex->tags, sizeof(int32_t) * c * (size_t)max_len);
        if (tags) ex->tags = tags;
        int *l = realloc(ex->lens, sizeof(int) * c);
        if (l) ex->lens = l;
        if (!ids || !tags || !l) st = slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
        else *cap = c;
    }
    const int32_t cls = slm_token_bos(tok), sep = tok->kind == TOKENIZER_WPM ? tok->sep : slm_token_eos(tok);
    for (int k = 0; k < n_win && st == SLM_OK; k++) {
        int32_t *row = ex->ids + ex->n * (size_t)max_len, *tags = ex->tags + ex->n * (size_t)max_len;
        int len;
        tag_window_row(&pieces, starts[k], max_len, cls, sep, row, &len, ds->tags[d], tags);
        for (int t = len; t < max_len; t++) row[t] = 0, tags[t] = -1;
        ex->lens[ex->n++] = len;
    }
    free(starts);
    tag_pieces_free(&pieces);
    return st;
}

/* The windows of documents docs[0..n) of ds. */
static slm_status make_examples(const slm_tokenizer *tok, const slm_tag_dataset *ds, const size_t *docs, size_t n,
                                int max_len, ft_examples *ex, size_t *n_split) {
    memset(ex, 0, sizeof *ex);
    ex->max_len = max_len;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        slm_status st = add_document(tok, ds, docs ? docs[i] : i, max_len, ex, &cap, n_split);
        if (st != SLM_OK) {
            ft_examples_free(ex);
            return st;
        }
    }
    return SLM_OK;
}

slm_status slm_finetune_tag(const char *base_path, const slm_tag_dataset *train, const slm_tag_dataset *dev,
                            const slm_finetune_params *params, const char *out_path,
                            slm_finetune_progress_fn progress, void *user, slm_finetune_result *result) {
    if (!base_path || !train || !out_path) return slm_error(SLM_ERR_INVALID_ARG, "slm_finetune_tag: NULL argument");
    const slm_finetune_params p = params ? *params : slm_finetune_defaults();
    slm_status st = finetune_check_params(&p);
    if (st != SLM_OK) return st;
    if (p.max_len < 8) return slm_error(SLM_ERR_INVALID_ARG, "finetune: max_len %d: tagging needs at least 8", p.max_len);
    if (train->n == 0) return slm_error(SLM_ERR_INVALID_ARG, "finetune: the training set is empty");
    for (size_t i = 0; i < train->n; i++)
        for (int w = 0; w < train->n_words[i]; w++)
            if (train->tags[i][w] > 2)
                return slm_error(SLM_ERR_INVALID_ARG, "finetune: training document %zu, word %d: tag %d (0 = O, 1 = B, 2 = I)",
                                 i + 1, w + 1, train->tags[i][w]);
    { /* the base must be an encoder slm can train: say so before tokenising anything */
        gguf_file f;
        bert_config cfg;
        if ((st = gguf_open(base_path, &f))) return st;
        st = bert_config_from_gguf(base_path, &f, &cfg);
        gguf_close(&f);
        if (st != SLM_OK) return st;
    }
    slm_tokenizer *tok;
    if ((st = slm_tokenizer_load(base_path, &tok))) return st;
    /* without a dev set, a seeded tenth of the training documents is held out */
    size_t *order = malloc(sizeof(size_t) * train->n);
    if (!order) {
        slm_tokenizer_free(tok);
        return slm_error(SLM_ERR_NOMEM, "finetune: out of memory");
    }
    for (size_t i = 0; i < train->n; i++) order[i] = i;
    size_t n_held = 0;
    if (!dev && train->n >= 10) {
        slm_rng rng;
        slm_rng_seed(&rng, p.seed ^ 0x5eed7a66ull);
        for (size_t i = train->n; i > 1; i--) {
            const size_t j = (size_t)(slm_rng_u64(&rng) % i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        n_held = train->n / 10;
    }
    ft_examples tr = {0}, dv = {0};
    size_t n_split = 0, n_split_dev = 0;
    const int has_dev = dev || n_held > 0;
    if (!(st = make_examples(tok, train, order + n_held, train->n - n_held, p.max_len, &tr, &n_split)) &&
        !(dev && (st = make_examples(tok, dev, NULL, dev->n, p.max_len, &dv, &n_split_dev))) &&
        !(n_held && (st = make_examples(tok, train, order, n_held, p.max_len, &dv, &n_split_dev)))) {
        static const char *const names[TAG_K] = {"O", "B", "I"};
        st = finetune_run(base_path, &tr, has_dev ? &dv : NULL, names, TAG_K, &p, out_path, progress, user, result);
        if (result) result->n_truncated = n_split;
    }
    ft_examples_free(&tr);
    ft_examples_free(&dv);
    free(order);
    slm_tokenizer_free(tok);
    return st;
}
