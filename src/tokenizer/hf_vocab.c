/* hf_vocab.c — reads the WordPiece vocabulary of a Hugging Face BERT folder: tokenizer.json
 * (model.vocab, added_tokens, the normaliser's flags) or else vocab.txt (one piece per line,
 * with tokenizer_config.json's do_lower_case), into the "▁"-marked pieces wordpiece.c uses. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/mapped_file.h"
#include "tokenizer/tokenizer.h"

static const char *const STANDARD_SPECIALS[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* dir + "/" + name, or NULL when out of memory. Caller frees. */
static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = slm_malloc(n, "path");
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Parses the JSON file at path into *root (caller deletes). */
static slm_status read_json(const char *path, cJSON **root) {
    slm_mapped_file m;
    *root = NULL;
    slm_status st = slm_map_file(path, &m);
    if (st != SLM_OK) return st;
    const char *end = NULL;
    *root = m.size ? cJSON_ParseWithLengthOpts((const char *)m.data, m.size, &end, 0) : NULL;
    size_t at = end && m.data ? (size_t)(end - (const char *)m.data) : 0;
    slm_unmap_file(&m);
    if (!*root) return slm_error(SLM_ERR_FORMAT, "%s: malformed JSON (near byte %zu)", path, at);
    return SLM_OK;
}

/* Sets id's piece (converted from Hugging Face's form) with its type. */
static slm_status set_piece(slm_tokenizer *tok, int id, const char *piece, int type) {
    uint32_t len;
    char *p = type == TOKEN_CONTROL ? slm_strndup(piece, strlen(piece)) : wpm_piece_from_hf(piece, strlen(piece), &len);
    if (!p) return SLM_ERR_NOMEM;
    if (type == TOKEN_CONTROL) len = (uint32_t)strlen(p);
    slm_status st = tokenizer_set_token(tok, id, p, len, 0.0f, type);
    free(p);
    return st;
}

/* The ids of [CLS] (as BOS), [SEP] (as EOS and SEP), [UNK], [PAD], [MASK]; checks the
 * vocabulary has no holes. */
static slm_status finish_wpm(slm_tokenizer *tok, const char *path) {
    for (int id = 0; id < tok->n_vocab; id++)
        if (!tok->text[id]) return slm_error(SLM_ERR_FORMAT, "%s: no piece has id %d (ids must run 0..%d)", path, id, tok->n_vocab - 1);
    tok->kind = TOKENIZER_WPM;
    tok->add_bos = 1;
    tok->add_space_prefix = 0;
    slm_status st = tokenizer_finish(tok);
    if (st != SLM_OK) return st;
    int *slots[5] = {&tok->pad, &tok->unk, &tok->bos, &tok->sep, &tok->mask};
    for (int i = 0; i < 5; i++) {
        int id = tokenizer_find(tok, STANDARD_SPECIALS[i], (uint32_t)strlen(STANDARD_SPECIALS[i]));
        if (id >= 0 && tok->type[id] == TOKEN_CONTROL) *slots[i] = id;
    }
    tok->eos = tok->sep;
    if (tok->unk < 0) return slm_error(SLM_ERR_FORMAT, "%s: the vocabulary has no [UNK] token", path);
    return SLM_OK;
}

static slm_status from_tokenizer_json(const char *path, slm_tokenizer *tok) {
    cJSON *root;
    slm_status st = read_json(path, &root);
    if (st != SLM_OK) return st;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *lower = cJSON_GetObjectItemCaseSensitive(norm, "lowercase");
    const cJSON *strip = cJSON_GetObjectItemCaseSensitive(norm, "strip_accents");
    const cJSON *norm_type = cJSON_GetObjectItemCaseSensitive(norm, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "WordPiece") != 0)
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: model.type is %s%s%s, not \"WordPiece\"", path, cJSON_IsString(type) ? "\"" : "",
                       cJSON_IsString(type) ? type->valuestring : "missing", cJSON_IsString(type) ? "\"" : "");
    else if (!cJSON_IsObject(vocab) || !vocab->child)
        st = slm_error(SLM_ERR_FORMAT, "%s: model.vocab is missing or not a non-empty object", path);
    else if (prefix && (!cJSON_IsString(prefix) || strcmp(prefix->valuestring, "##") != 0))
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: continuing_subword_prefix must be \"##\"", path);
    else if (!cJSON_IsString(norm_type) || strcmp(norm_type->valuestring, "BertNormalizer") != 0 || !cJSON_IsTrue(lower) ||
             cJSON_IsFalse(strip))
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: only uncased BERT tokenizers are supported (a BertNormalizer with lowercase true "
                                            "and accents stripped)", path);
    int n = 0;
    if (st == SLM_OK) {
        for (const cJSON *e = vocab->child; e; e = e->next) n++;
        if (n > (1 << 24)) st = slm_error(SLM_ERR_FORMAT, "%s: %d pieces is too many", path, n);
    }
    if (st == SLM_OK) st = tokenizer_alloc(tok, n);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    /* the special added tokens are control tokens; the rest of the vocabulary is WordPiece */
    for (const cJSON *e = st == SLM_OK ? vocab->child : NULL; e && st == SLM_OK; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v >= 0 && v < n) || v != (int)v) {
            st = slm_error(SLM_ERR_FORMAT, "%s: model.vocab[\"%s\"] is not an id in 0..%d", path, e->string, n - 1);
            break;
        }
        int id = (int)v;
        if (tok->text[id]) {
            st = slm_error(SLM_ERR_FORMAT, "%s: id %d is given to both \"%s\" and another piece", path, id, e->string);
            break;
        }
        int special = 0;
        for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
            if (cJSON_IsString(content) && strcmp(content->valuestring, e->string) == 0 &&
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special")))
                special = 1;
        }
        st = set_piece(tok, id, e->string, special ? TOKEN_CONTROL : TOKEN_NORMAL);
    }
    cJSON_Delete(root);
    if (st == SLM_OK) st = finish_wpm(tok, path);
    return st;
}

static slm_status from_vocab_txt(const char *path, const char *config_path, slm_tokenizer *tok) {
    slm_status st = SLM_OK;
    if (file_exists(config_path)) { /* the casing must be uncased */
        cJSON *cfg;
        if ((st = read_json(config_path, &cfg)) != SLM_OK) return st;
        const cJSON *lower = cJSON_GetObjectItemCaseSensitive(cfg, "do_lower_case");
        if (lower && !cJSON_IsTrue(lower))
            st = slm_error(SLM_ERR_UNSUPPORTED, "%s: do_lower_case is not true; only uncased BERT tokenizers are supported", config_path);
        cJSON_Delete(cfg);
        if (st != SLM_OK) return st;
    }
    slm_mapped_file m;
    if ((st = slm_map_file(path, &m)) != SLM_OK) return st;
    const char *s = (const char *)m.data;
    size_t size = m.size, n = 0;
    for (size_t i = 0; i < size; i++) n += s[i] == '\n';
    if (size && s[size - 1] != '\n') n++;
    if (n == 0 || n > (1 << 24)) st = slm_error(SLM_ERR_FORMAT, "%s: %zu lines; a vocabulary needs 1 to 16M pieces", path, n);
    if (st == SLM_OK) st = tokenizer_alloc(tok, (int)n);
    size_t line = 0;
    for (size_t i = 0; i < size && st == SLM_OK; line++) {
        size_t j = i;
        while (j < size && s[j] != '\n') j++;
        size_t len = j > i && s[j - 1] == '\r' ? j - i - 1 : j - i;
        char *piece = slm_strndup(s + i, len);
        if (!piece) st = SLM_ERR_NOMEM;
        else if (len == 0 || memchr(piece, '\0', len)) st = slm_error(SLM_ERR_FORMAT, "%s:%zu: empty or NUL-containing piece", path, line + 1);
        else {
            int type = TOKEN_NORMAL;
            for (int k = 0; k < 5; k++)
                if (strcmp(piece, STANDARD_SPECIALS[k]) == 0) type = TOKEN_CONTROL;
            st = set_piece(tok, (int)line, piece, type);
        }
        free(piece);
        i = j + 1;
    }
    slm_unmap_file(&m);
    if (st == SLM_OK) st = finish_wpm(tok, path);
    return st;
}

slm_status tokenizer_from_hf_dir(const char *dir, slm_tokenizer **out) {
    *out = NULL;
    char *json = join_path(dir, "tokenizer.json"), *txt = join_path(dir, "vocab.txt"), *cfg = join_path(dir, "tokenizer_config.json");
    slm_tokenizer *tok = slm_calloc(1, sizeof *tok, "tokenizer");
    slm_status st = json && txt && cfg && tok ? SLM_OK : SLM_ERR_NOMEM;
    if (st == SLM_OK) {
        if (file_exists(json)) st = from_tokenizer_json(json, tok);
        else if (file_exists(txt)) st = from_vocab_txt(txt, cfg, tok);
        else st = slm_error(SLM_ERR_IO, "%s: neither tokenizer.json nor vocab.txt is in this folder", dir);
    }
    free(json);
    free(txt);
    free(cfg);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return st == SLM_ERR_NOMEM ? slm_error(st, "%s: out of memory reading the tokenizer", dir) : st;
    }
    *out = tok;
    return SLM_OK;
}
