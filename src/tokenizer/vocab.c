/* vocab.c — builds tokenizers from GGUF metadata (SentencePiece "llama", byte-level BPE
 * "gpt2" and WordPiece "bert" vocabularies), SentencePiece .model or llama2.c tokenizer files, and the piece -> id
 * hash table the encoders use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/detect.h"
#include "formats/llama2c.h"
#include "formats/spm_model.h"
#include "tokenizer/tokenizer.h"

static uint32_t hash_bytes(const char *s, uint32_t len) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

slm_status tokenizer_alloc(slm_tokenizer *tok, int n_vocab) {
    memset(tok, 0, sizeof *tok);
    tok->kind = TOKENIZER_SPM;
    tok->n_vocab = n_vocab;
    tok->bos = tok->eos = tok->unk = -1;
    tok->sep = tok->pad = tok->mask = -1;
    tok->add_bos = 1;
    tok->add_space_prefix = 1;
    tok->text = slm_calloc((size_t)n_vocab, sizeof(char *), "token texts");
    tok->len = slm_calloc((size_t)n_vocab, sizeof(uint32_t), "token lengths");
    tok->score = slm_calloc((size_t)n_vocab, sizeof(float), "token scores");
    tok->type = slm_calloc((size_t)n_vocab, 1, "token types");
    if (!tok->text || !tok->len || !tok->score || !tok->type) return SLM_ERR_NOMEM;
    return SLM_OK;
}

slm_status tokenizer_set_token(slm_tokenizer *tok, int id, const char *text, uint32_t len,
                               float score, int type) {
    if (!(tok->text[id] = slm_strndup(text, len))) return SLM_ERR_NOMEM;
    tok->len[id] = len;
    tok->score[id] = score;
    tok->type[id] = (uint8_t)type;
    return SLM_OK;
}

int tokenizer_find(const slm_tokenizer *tok, const char *text, uint32_t len) {
    uint32_t mask = tok->n_slots - 1;
    for (uint32_t i = hash_bytes(text, len) & mask;; i = (i + 1) & mask) {
        int32_t id = tok->slots[i];
        if (id < 0) return -1;
        if (tok->len[id] == len && memcmp(tok->text[id], text, len) == 0) return id;
    }
}

/* "<0xAB>" -> 0xAB, or -1. */
static int byte_piece_value(const char *s, uint32_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

typedef struct {
    uint8_t first;
    uint32_t len;
    int32_t id;
} special_entry;

/* By first byte, then longest first (matching prefers the longest special token), then id. */
static int special_order(const void *a, const void *b) {
    const special_entry *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return x->id - y->id;
}

slm_status tokenizer_finish(slm_tokenizer *tok) {
    uint32_t n_slots = 16;
    while (n_slots < (uint32_t)tok->n_vocab * 2u) n_slots <<= 1;
    tok->n_slots = n_slots;
    tok->slots = slm_malloc(n_slots * sizeof(int32_t), "token hash table");
    if (!tok->slots) return SLM_ERR_NOMEM;
    memset(tok->slots, 0xFF, n_slots * sizeof(int32_t));
    tok->byte_value = slm_malloc((size_t)tok->n_vocab * sizeof(int16_t), "byte token table");
    if (!tok->byte_value) return SLM_ERR_NOMEM;
    for (int b = 0; b < 256; b++) tok->byte_token[b] = -1;
    int n_specials = 0;
    for (int id = 0; id < tok->n_vocab; id++) {
        if (tok->type[id] == TOKEN_BYTE) {
            int v = byte_piece_value(tok->text[id], tok->len[id]);
            if (v >= 0 && tok->byte_token[v] < 0) tok->byte_token[v] = id;
            tok->byte_value[id] = (int16_t)v;
            if (v < 0) tok->type[id] = TOKEN_NORMAL; /* not a "<0xXX>" piece after all */
        } else tok->byte_value[id] = -1;
        if ((tok->type[id] == TOKEN_USER_DEFINED || tok->type[id] == TOKEN_CONTROL) && tok->len[id] > 0)
            n_specials++;
        if (tokenizer_find(tok, tok->text[id], tok->len[id]) >= 0) continue; /* first id wins */
        uint32_t mask = n_slots - 1, i = hash_bytes(tok->text[id], tok->len[id]) & mask;
        while (tok->slots[i] >= 0) i = (i + 1) & mask;
        tok->slots[i] = id;
    }
    tok->specials = slm_calloc((size_t)n_specials + 1, sizeof(int32_t), "special tokens");
    special_entry *order = slm_calloc((size_t)n_specials + 1, sizeof(special_entry), "special tokens");
    if (!tok->specials || !order) {
        free(order);
        return SLM_ERR_NOMEM;
    }
    for (int id = 0; id < tok->n_vocab; id++)
        if ((tok->type[id] == TOKEN_USER_DEFINED || tok->type[id] == TOKEN_CONTROL) && tok->len[id] > 0)
            order[tok->n_specials++] = (special_entry){(uint8_t)tok->text[id][0], tok->len[id], id};
    qsort(order, (size_t)tok->n_specials, sizeof(special_entry), special_order);
    for (int i = 0, c = 0; c <= 256; c++) {
        while (i < tok->n_specials && order[i].first < c) i++;
        tok->special_start[c] = i;
    }
    tok->special_start[256] = tok->n_specials;
    for (int i = 0; i < tok->n_specials; i++) tok->specials[i] = order[i].id;
    free(order);
    return SLM_OK;
}

void slm_tokenizer_free(slm_tokenizer *tok) {
    if (!tok) return;
    if (tok->text)
        for (int i = 0; i < tok->n_vocab; i++) free(tok->text[i]);
    free(tok->text);
    free(tok->len);
    free(tok->score);
    free(tok->type);
    free(tok->slots);
    free(tok->specials);
    free(tok->byte_value);
    bpe_free(tok->bpe);
    free(tok);
}

/* Replaces every ' ' with "▁" (llama2.c files store spaces as ' '). Caller frees. */
static char *spaces_to_marks(const char *s, uint32_t len, uint32_t *out_len) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len; i++) n += s[i] == ' ' ? 3 : 1;
    char *out = slm_malloc(n + 1, "token text");
    if (!out) return NULL;
    uint32_t j = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(out + j, "\xE2\x96\x81", 3);
            j += 3;
        } else out[j++] = s[i];
    }
    out[j] = '\0';
    *out_len = j;
    return out;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Checks that a SentencePiece model can be tokenized here and copies its normaliser flags. */
static slm_status take_normalizer(slm_tokenizer *tok, const spm_model *m, const char *path) {
    if (m->model_type != 2)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: SentencePiece model type %d is not supported (only BPE, type 2)", path, m->model_type);
    if (m->charsmap_bytes > 0 && strcmp(m->normalizer_name, "identity") != 0)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: SentencePiece normaliser '%s' (a character map) is not supported; only 'identity'",
                         path, m->normalizer_name);
    if (!m->escape_whitespaces)
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: SentencePiece models without escape_whitespaces are not supported", path);
    tok->add_space_prefix = m->add_dummy_prefix;
    tok->remove_extra_spaces = m->remove_extra_whitespaces;
    tok->replace_invalid_utf8 = 1;
    return SLM_OK;
}

/* llama2.c's tokenizer.bin lacks the normaliser flags: take them from <stem>.model beside it. */
static slm_status apply_sibling_normalizer(slm_tokenizer *tok, const char *bin_path) {
    size_t n = strlen(bin_path);
    const char *dot = strrchr(bin_path, '.'), *slash = strrchr(bin_path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - bin_path) : n;
    char *model_path = slm_malloc(stem + 7, "path");
    if (!model_path) return SLM_ERR_NOMEM;
    memcpy(model_path, bin_path, stem);
    strcpy(model_path + stem, ".model");
    FILE *f = fopen(model_path, "rb");
    slm_status st = SLM_OK;
    if (f) {
        fclose(f);
        spm_model m;
        if ((st = spm_model_read(model_path, &m)) == SLM_OK) {
            if (m.n_pieces != tok->n_vocab)
                st = slm_error(SLM_ERR_FORMAT, "%s has %d pieces but %s has %d tokens", model_path, m.n_pieces, bin_path, tok->n_vocab);
            else st = take_normalizer(tok, &m, model_path);
            spm_model_free(&m);
        }
    }
    free(model_path);
    return st;
}

slm_status tokenizer_from_spm_model(const char *path, slm_tokenizer **out) {
    *out = NULL;
    spm_model m;
    slm_status st = spm_model_read(path, &m);
    if (st != SLM_OK) return st;
    slm_tokenizer *tok = slm_calloc(1, sizeof *tok, "tokenizer");
    st = tok ? tokenizer_alloc(tok, m.n_pieces) : SLM_ERR_NOMEM;
    if (st == SLM_OK) st = take_normalizer(tok, &m, path);
    for (int id = 0; id < m.n_pieces && st == SLM_OK; id++)
        st = tokenizer_set_token(tok, id, m.piece[id], m.len[id], m.score[id], m.type[id]);
    if (st == SLM_OK) {
        int ids[3] = {m.unk_id, m.bos_id, m.eos_id};
        int *dst[3] = {&tok->unk, &tok->bos, &tok->eos};
        for (int i = 0; i < 3; i++) *dst[i] = ids[i] >= 0 && ids[i] < m.n_pieces ? ids[i] : -1;
        st = tokenizer_finish(tok);
    }
    spm_model_free(&m);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return SLM_OK;
}

slm_status tokenizer_from_file(const char *path, int n_vocab, slm_tokenizer **out) {
    if (!has_suffix(path, ".model")) return tokenizer_from_llama2c(path, n_vocab, out);
    slm_status st = tokenizer_from_spm_model(path, out);
    if (st == SLM_OK && n_vocab > 0 && (*out)->n_vocab != n_vocab) {
        st = slm_error(SLM_ERR_FORMAT, "%s has %d pieces but the model's vocabulary has %d", path, (*out)->n_vocab, n_vocab);
        slm_tokenizer_free(*out);
        *out = NULL;
    }
    return st;
}

slm_status tokenizer_from_llama2c(const char *path, int n_vocab, slm_tokenizer **out) {
    *out = NULL;
    llama2c_vocab v;
    slm_status st = llama2c_vocab_read(path, n_vocab, &v);
    if (st != SLM_OK) return st;
    slm_tokenizer *tok = slm_calloc(1, sizeof *tok, "tokenizer");
    if (!tok || (st = tokenizer_alloc(tok, v.n_tokens)) != SLM_OK) {
        llama2c_vocab_free(&v);
        slm_tokenizer_free(tok);
        return SLM_ERR_NOMEM;
    }
    /* llama2.c tokenizers come from SentencePiece: 0 <unk>, 1 <s>, 2 </s>; the exporter
     * wrapped BOS/EOS in newlines and turned "▁" into ' '. */
    for (int id = 0; id < v.n_tokens && st == SLM_OK; id++) {
        const char *p = v.pieces[id];
        uint32_t len = v.lengths[id];
        int type = TOKEN_NORMAL;
        if (id == 0 && strcmp(p, "<unk>") == 0) type = TOKEN_UNKNOWN;
        else if (strcmp(p, "\n<s>\n") == 0 || strcmp(p, "<s>") == 0) type = TOKEN_CONTROL, p = "<s>", len = 3, tok->bos = id;
        else if (strcmp(p, "\n</s>\n") == 0 || strcmp(p, "</s>") == 0) type = TOKEN_CONTROL, p = "</s>", len = 4, tok->eos = id;
        else if (byte_piece_value(p, len) >= 0) type = TOKEN_BYTE;
        if (type == TOKEN_UNKNOWN) tok->unk = id;
        uint32_t mlen;
        char *marked = spaces_to_marks(p, len, &mlen);
        if (!marked) st = SLM_ERR_NOMEM;
        else st = tokenizer_set_token(tok, id, marked, mlen, v.scores[id], type);
        free(marked);
    }
    llama2c_vocab_free(&v);
    tok->replace_invalid_utf8 = 1; /* llama2.c tokenizers come from SentencePiece */
    if (st == SLM_OK) st = apply_sibling_normalizer(tok, path);
    if (st == SLM_OK) st = tokenizer_finish(tok);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return SLM_OK;
}

/* Reads an optional token-id key; -1 when absent; error when out of range. */
static slm_status read_token_id(const gguf_file *f, const char *key, int n_vocab, int *out) {
    int64_t v;
    *out = -1;
    if (!gguf_find(f, key)) return SLM_OK;
    if (!gguf_get_int(f, key, &v))
        return slm_error(SLM_ERR_FORMAT, "%s: %s is not an integer", f->file.path ? f->file.path : "gguf", key);
    if (v < 0 || v >= n_vocab)
        return slm_error(SLM_ERR_FORMAT, "%s: %s = %lld is outside the vocabulary (%d tokens)",
                         f->file.path ? f->file.path : "gguf", key, (long long)v, n_vocab);
    *out = (int)v;
    return SLM_OK;
}

static int read_bool(const gguf_file *f, const char *key, int fallback) {
    const gguf_value *v = gguf_find(f, key);
    return v && v->type == GGUF_TYPE_BOOL ? (int)v->u : fallback;
}

slm_status tokenizer_from_gguf(const gguf_file *f, slm_tokenizer **out) {
    *out = NULL;
    const char *name = f->file.path ? f->file.path : "gguf";
    char *model = gguf_get_string(f, "tokenizer.ggml.model");
    if (!model) return slm_error(SLM_ERR_FORMAT, "%s: no tokenizer (tokenizer.ggml.model is missing)", name);
    int is_spm = strcmp(model, "llama") == 0, is_bpe = strcmp(model, "gpt2") == 0, is_wpm = strcmp(model, "bert") == 0;
    if (!is_spm && !is_bpe && !is_wpm) {
        slm_status st = slm_error(SLM_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%s' is not supported yet (supported: llama, gpt2, bert)",
                                  name, model);
        free(model);
        return st;
    }
    free(model);
    const gguf_value *merges = is_bpe ? gguf_find(f, "tokenizer.ggml.merges") : NULL;
    if (is_bpe && (!merges || merges->type != GGUF_TYPE_ARRAY || merges->arr.elem_type != GGUF_TYPE_STRING))
        return slm_error(SLM_ERR_FORMAT, "%s: tokenizer.ggml.merges is missing or not an array of strings (needed by a gpt2 tokenizer)",
                         name);
    const gguf_value *tokens = gguf_find(f, "tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GGUF_TYPE_ARRAY || tokens->arr.elem_type != GGUF_TYPE_STRING || tokens->arr.n == 0)
        return slm_error(SLM_ERR_FORMAT, "%s: tokenizer.ggml.tokens is missing or not an array of strings", name);
    if (tokens->arr.n > (1u << 24))
        return slm_error(SLM_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries (at most 16M)", name,
                         (unsigned long long)tokens->arr.n);
    int n = (int)tokens->arr.n;
    const gguf_value *scores = gguf_find(f, "tokenizer.ggml.scores");
    const gguf_value *types = gguf_find(f, "tokenizer.ggml.token_type");
    if (scores && (scores->type != GGUF_TYPE_ARRAY || scores->arr.elem_type != GGUF_TYPE_F32 || scores->arr.n != (uint64_t)n))
        return slm_error(SLM_ERR_FORMAT, "%s: tokenizer.ggml.scores must be %d f32 values", name, n);
    if (types && (types->type != GGUF_TYPE_ARRAY || types->arr.elem_type != GGUF_TYPE_I32 || types->arr.n != (uint64_t)n))
        return slm_error(SLM_ERR_FORMAT, "%s: tokenizer.ggml.token_type must be %d i32 values", name, n);
    slm_tokenizer *tok = slm_calloc(1, sizeof *tok, "tokenizer");
    slm_status st = tok ? tokenizer_alloc(tok, n) : SLM_ERR_NOMEM;
    for (int id = 0; id < n && st == SLM_OK; id++) {
        gguf_str s = tokens->arr.strs[id];
        if (s.len > 65535) {
            st = slm_error(SLM_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%d] is %llu bytes long", name, id, (unsigned long long)s.len);
            break;
        }
        float score = scores ? (float)gguf_array_number(scores, (uint64_t)id) : 0.0f;
        int type = types ? (int)gguf_array_number(types, (uint64_t)id) : TOKEN_NORMAL;
        if (type < TOKEN_NORMAL || type > TOKEN_BYTE) type = TOKEN_NORMAL;
        st = tokenizer_set_token(tok, id, s.ptr, (uint32_t)s.len, score, type);
    }
    if (st == SLM_OK) st = read_token_id(f, "tokenizer.ggml.bos_token_id", n, &tok->bos);
    if (st == SLM_OK) st = read_token_id(f, "tokenizer.ggml.eos_token_id", n, &tok->eos);
    if (st == SLM_OK) st = read_token_id(f, "tokenizer.ggml.unknown_token_id", n, &tok->unk);
    if (st == SLM_OK && is_wpm) {
        tok->kind = TOKENIZER_WPM;
        st = read_token_id(f, "tokenizer.ggml.seperator_token_id", n, &tok->sep);
        if (st == SLM_OK) st = read_token_id(f, "tokenizer.ggml.padding_token_id", n, &tok->pad);
        if (st == SLM_OK) st = read_token_id(f, "tokenizer.ggml.mask_token_id", n, &tok->mask);
        if (tok->sep < 0) tok->sep = tok->eos;
    }
    if (st == SLM_OK) {
        /* SentencePiece and WordPiece vocabularies add BOS ([CLS]) unless told not to; byte-level
           BPE ones only when told */
        tok->add_bos = read_bool(f, "tokenizer.ggml.add_bos_token", is_spm || is_wpm);
        tok->add_space_prefix = is_spm ? read_bool(f, "tokenizer.ggml.add_space_prefix", 1) : 0;
        tok->remove_extra_spaces = read_bool(f, "tokenizer.ggml.remove_extra_whitespaces", 0);
        tok->replace_invalid_utf8 = read_bool(f, "slm.tokenizer.replace_invalid_utf8", 0);
        if (tok->unk < 0)
            for (int id = 0; id < n; id++)
                if (tok->type[id] == TOKEN_UNKNOWN) { tok->unk = id; break; }
        st = tokenizer_finish(tok);
    }
    if (st == SLM_OK && is_bpe) {
        char *pre = gguf_get_string(f, "tokenizer.ggml.pre");
        st = bpe_init(tok, pre);
        free(pre);
        for (uint64_t i = 0; st == SLM_OK && i < merges->arr.n; i++)
            st = bpe_add_merge(tok, merges->arr.strs[i].ptr, (size_t)merges->arr.strs[i].len);
    }
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return st == SLM_ERR_NOMEM ? slm_error(st, "%s: out of memory while building the tokenizer", name) : st;
    }
    *out = tok;
    return SLM_OK;
}

slm_status slm_tokenizer_load(const char *path, slm_tokenizer **out) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenizer_load: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return tokenizer_from_hf_dir(path, out);
    file_kind kind;
    slm_status st = formats_detect(path, &kind, NULL);
    if (st != SLM_OK) return st;
    if (kind != FILE_KIND_GGUF) return tokenizer_from_file(path, 0, out);
    gguf_file f;
    if ((st = gguf_open(path, &f)) != SLM_OK) return st;
    st = tokenizer_from_gguf(&f, out);
    gguf_close(&f);
    return st;
}

int slm_vocab_size(const slm_tokenizer *tok) { return tok->n_vocab; }
int slm_tokenizer_adds_bos(const slm_tokenizer *tok) { return tok->add_bos; }
int slm_token_bos(const slm_tokenizer *tok) { return tok->bos; }
int slm_token_eos(const slm_tokenizer *tok) { return tok->eos; }
const char *slm_token_text(const slm_tokenizer *tok, int id) {
    return id >= 0 && id < tok->n_vocab ? tok->text[id] : NULL;
}
