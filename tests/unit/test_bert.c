/* test_bert.c — the BERT encoder's pieces without downloads: the safetensors reader (good
 * files, every truncation, corrupted headers), the WordPiece basic tokenizer on a small
 * vocab.txt (lower-casing, accents, CJK, punctuation, control characters, the 100-character
 * limit, [CLS]/[SEP], decoding, the GGUF round trip), and a tiny random BERT written as a
 * Hugging Face folder: batched and single embeddings agree (the padding mask), the GGUF that
 * slm_convert_hf writes gives the same vectors, and malformed folders give clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "formats/safetensors.h"
#include "slm.h"
#include "tensor/types.h"

/* ------------------------------------------------------------------ a safetensors writer */

typedef struct {
    char name[96];
    const char *dtype; /* "F32", "F16" or "BF16" */
    int n_dims;
    int64_t shape[2];
    float *data;
} st_spec;

static size_t spec_elems(const st_spec *s) { return (size_t)s->shape[0] * (size_t)(s->n_dims == 2 ? s->shape[1] : 1); }

/* The bytes of a safetensors file holding the tensors; caller frees. */
static uint8_t *st_build(const st_spec *specs, int n, size_t *size) {
    size_t cap = 256 + (size_t)n * 192, h = 0, offset = 0;
    char *header = malloc(cap);
    h += (size_t)snprintf(header, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        char shape[64];
        if (specs[i].n_dims == 2) snprintf(shape, sizeof shape, "%lld,%lld", (long long)specs[i].shape[0], (long long)specs[i].shape[1]);
        else snprintf(shape, sizeof shape, "%lld", (long long)specs[i].shape[0]);
        size_t bytes = spec_elems(&specs[i]) * (strcmp(specs[i].dtype, "F32") == 0 ? 4 : 2);
        h += (size_t)snprintf(header + h, cap - h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
                              specs[i].name, specs[i].dtype, shape, offset, offset + bytes);
        offset += bytes;
    }
    h += (size_t)snprintf(header + h, cap - h, "}");
    while (h % 8) header[h++] = ' ';
    *size = 8 + h + offset;
    uint8_t *out = calloc(1, *size);
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(out + 8, header, h);
    free(header);
    uint8_t *p = out + 8 + h;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < spec_elems(&specs[i]); k++) {
            float f = specs[i].data[k];
            if (strcmp(specs[i].dtype, "F32") == 0) {
                memcpy(p, &f, 4);
                p += 4;
                continue;
            }
            uint32_t bits;
            memcpy(&bits, &f, 4);
            uint16_t v = strcmp(specs[i].dtype, "F16") == 0 ? slm_f32_to_f16(f) : (uint16_t)(bits >> 16);
            p[0] = (uint8_t)v;
            p[1] = (uint8_t)(v >> 8);
            p += 2;
        }
    return out;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, text, strlen(text));
}

/* ------------------------------------------------------------------ safetensors */

/* An error whose message contains what. */
static int fails_with(slm_status st, const char *what) { return st != SLM_OK && strstr(slm_last_error(), what) != NULL; }

static void test_safetensors(void) {
    float a[6] = {1, -2, 3.5f, 0.25f, -0.125f, 1e-3f}, b[2] = {0.5f, -1.5f}, c[3] = {2.0f, -3.0f, 0.375f};
    st_spec specs[3] = {{"a", "F32", 2, {2, 3}, a}, {"b", "F16", 1, {2, 0}, b}, {"c", "BF16", 1, {3, 0}, c}};
    size_t size;
    uint8_t *file = st_build(specs, 3, &size);
    st_file f;
    CHECK(st_parse(file, size, "mem", &f) == SLM_OK, "%s", slm_last_error());
    CHECK(f.n_tensors == 3, "%d tensors", f.n_tensors);
    const st_tensor *ta = st_find(&f, "a"), *tb = st_find(&f, "b"), *tc = st_find(&f, "c");
    CHECK(ta && ta->dtype == ST_F32 && ta->n_dims == 2 && ta->shape[0] == 2 && ta->shape[1] == 3, "a");
    CHECK(tb && tb->dtype == ST_F16 && tb->n_elems == 2, "b");
    CHECK(tc && tc->dtype == ST_BF16 && tc->n_elems == 3, "c");
    CHECK(st_find(&f, "__metadata__") == NULL, "metadata is not a tensor");
    float out[6];
    if (ta && tb && tc) {
        CHECK(st_to_f32(&f, ta, out) == SLM_OK && memcmp(out, a, sizeof a) == 0, "f32 values");
        CHECK(st_to_f32(&f, tb, out) == SLM_OK && out[0] == 0.5f && out[1] == -1.5f, "f16 values");
        CHECK(st_to_f32(&f, tc, out) == SLM_OK && out[0] == 2.0f && out[1] == -3.0f && out[2] == 0.375f, "bf16 values");
    }
    st_close(&f);
    /* every truncation fails cleanly */
    int all_fail = 1;
    for (size_t n = 0; n < size; n++) {
        if (st_parse(file, n, "mem", &f) == SLM_OK) {
            all_fail = 0;
            st_close(&f);
        }
    }
    CHECK(all_fail, "a truncated file was accepted");
    CHECK(fails_with(st_parse(file, size - 1, "mem", &f), "truncated"), "%s", slm_last_error());
    /* corrupted headers */
    struct {
        const char *json, *what;
    } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", "malformed"},
        {"[1,2]", "JSON object"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "expected 12"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}", "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "twice"},
        {"{\"a\":5}", "not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", "overflows"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t h = strlen(bad[i].json), n = 8 + h + 16;
        uint8_t *buf = calloc(1, n);
        for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)h >> (8 * k));
        memcpy(buf + 8, bad[i].json, h);
        CHECK(fails_with(st_parse(buf, n, "bad", &f), bad[i].what), "case %zu: '%s'", i, slm_last_error());
        free(buf);
    }
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    CHECK(fails_with(st_parse(huge, sizeof huge, "huge", &f), "100 MB"), "%s", slm_last_error());
    free(file);
}

/* ------------------------------------------------------------------ WordPiece */

static const char *const VOCAB[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "un", "##aff", "##able", ",",
                                    "!", "cafe", "中", "文", "a", "##a", "naive", "'", "s", "x", "##y", "[unused0]", "."};
enum { PAD, UNK, CLS, SEP, MASK, HELLO, WORLD, UN, AFF, ABLE, COMMA, BANG, CAFE, ZHONG, WEN, A, CONT_A, NAIVE, QUOTE, S, X, CONT_Y,
       UNUSED, DOT, N_VOCAB };

/* Tokenizes with [CLS]/[SEP] and special-token parsing; compares with want (n ids). */
static void expect_ids(const slm_tokenizer *tok, const char *text, const int *want, size_t n) {
    int32_t *ids;
    size_t k;
    slm_tokenize_options o = {1, 1};
    if (slm_tokenize(tok, text, strlen(text), &o, &ids, &k) != SLM_OK) {
        CHECK(0, "tokenize '%s': %s", text, slm_last_error());
        return;
    }
    int same = k == n;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    CHECK(same, "'%s': got %zu ids, first %d %d %d", text, k, k > 0 ? ids[0] : -1, k > 1 ? ids[1] : -1, k > 2 ? ids[2] : -1);
    slm_free(ids);
}
#define EXPECT(tok, text, ...)                                                      \
    do {                                                                            \
        const int want_[] = {__VA_ARGS__};                                          \
        expect_ids(tok, text, want_, sizeof want_ / sizeof want_[0]);               \
    } while (0)

static void test_wordpiece(const char *dir) {
    char vocab[1024] = "";
    for (int i = 0; i < N_VOCAB; i++) strcat(strcat(vocab, VOCAB[i]), "\n");
    write_text(dir, "vocab.txt", vocab);
    slm_tokenizer *tok;
    if (slm_tokenizer_load(dir, &tok) != SLM_OK) {
        CHECK(0, "load %s: %s", dir, slm_last_error());
        return;
    }
    CHECK(slm_vocab_size(tok) == N_VOCAB && slm_token_bos(tok) == CLS && slm_token_eos(tok) == SEP, "specials");
    EXPECT(tok, "Hello, World!", CLS, HELLO, COMMA, WORLD, BANG, SEP);
    EXPECT(tok, "unaffable", CLS, UN, AFF, ABLE, SEP);
    EXPECT(tok, "  CAF\xC3\x89\tna\xC3\xAFve\n", CLS, CAFE, NAIVE, SEP);               /* accents, whitespace */
    EXPECT(tok, "Cafe\xCC\x81", CLS, CAFE, SEP);                                          /* combining accent */
    EXPECT(tok, "x\xE4\xB8\xAD\xE6\x96\x87y", CLS, X, ZHONG, WEN, UNK, SEP);             /* CJK split; "y" alone */
    EXPECT(tok, "he\x01llo w\xE2\x80\x8Borld\xC2\xAD", CLS, HELLO, WORLD, SEP);          /* control, format chars */
    EXPECT(tok, "hello\xE2\x80\x83world\xE3\x80\x80!", CLS, HELLO, WORLD, BANG, SEP);     /* Unicode spaces */
    EXPECT(tok, "a's.", CLS, A, QUOTE, S, DOT, SEP);                                      /* punctuation words */
    EXPECT(tok, "xy xyy", CLS, X, CONT_Y, X, CONT_Y, CONT_Y, SEP);
    EXPECT(tok, "hellox", CLS, UNK, SEP);                                                 /* no match: whole word */
    EXPECT(tok, "hello\xFF\xFEworld", CLS, UNK, SEP);                                     /* invalid bytes dropped */
    EXPECT(tok, "[SEP] [MASK]x", CLS, SEP, MASK, X, SEP);                                 /* specials in text */
    EXPECT(tok, "[unused0]", CLS, UNK, UNK, UNK, SEP); /* "[", "unused0", "]": [unused0] is unreachable */
    EXPECT(tok, "", CLS, SEP);
    char word[128];
    memset(word, 'a', 100);
    word[100] = '\0';
    int32_t *ids;
    size_t k;
    slm_tokenize_options plain = {0, 0};
    CHECK(slm_tokenize(tok, word, 100, &plain, &ids, &k) == SLM_OK && k == 100 && ids[0] == A && ids[99] == CONT_A, "100 chars");
    slm_free(ids);
    word[100] = 'a';
    CHECK(slm_tokenize(tok, word, 101, &plain, &ids, &k) == SLM_OK && k == 1 && ids[0] == UNK, "101 chars is [UNK]");
    slm_free(ids);
    /* decoding */
    const int32_t seq[] = {CLS, HELLO, COMMA, UN, AFF, ABLE, SEP, PAD};
    char *text;
    size_t len;
    CHECK(slm_detokenize(tok, seq, 8, &text, &len) == SLM_OK && strcmp(text, "hello , unaffable") == 0, "decode '%s'", text);
    slm_free(text);
    /* through GGUF and back */
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.gguf", dir);
    slm_tokenizer *back = NULL;
    CHECK(slm_tokenizer_save(tok, path) == SLM_OK && slm_tokenizer_load(path, &back) == SLM_OK, "%s", slm_last_error());
    if (back) {
        EXPECT(back, "Hello, unaffable CAF\xC3\x89 x\xE4\xB8\xAD!", CLS, HELLO, COMMA, UN, AFF, ABLE, CAFE, X, ZHONG, BANG, SEP);
        CHECK(strcmp(slm_token_text(back, HELLO), "\xE2\x96\x81hello") == 0 && strcmp(slm_token_text(back, AFF), "aff") == 0 &&
                  strcmp(slm_token_text(back, CLS), "[CLS]") == 0,
              "llama.cpp's piece convention");
    }
    slm_tokenizer_free(back);
    slm_tokenizer_free(tok);
    /* malformed vocabularies */
    write_text(dir, "vocab.txt", "");
    CHECK(fails_with(slm_tokenizer_load(dir, &tok), "lines"), "%s", slm_last_error());
    write_text(dir, "vocab.txt", "hello\nworld\n");
    CHECK(fails_with(slm_tokenizer_load(dir, &tok), "[UNK]"), "%s", slm_last_error());
    write_text(dir, "vocab.txt", "[UNK]\n\nx\n");
    CHECK(fails_with(slm_tokenizer_load(dir, &tok), "vocab.txt:2"), "%s", slm_last_error());
    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": false}");
    CHECK(fails_with(slm_tokenizer_load(dir, &tok), "uncased"), "%s", slm_last_error());
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"a\": 0}}, "
                                      "\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true}}");
    CHECK(fails_with(slm_tokenizer_load(dir, &tok), "id 0"), "%s", slm_last_error());
    write_text(dir, "tokenizer.json", "{\"model\": ");
    CHECK(fails_with(slm_tokenizer_load(dir, &tok), "malformed JSON"), "%s", slm_last_error());
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/vocab.gguf", dir);
    unlink(p);
}

/* ------------------------------------------------------------------ a tiny random BERT */

enum { E = 8, F = 16, L = 2, NH = 2, NPOS = 16 };

static uint64_t g_rng = 88172645463325252ull;
static float rnd(float scale) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return scale * ((float)(g_rng >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
}

/* Writes config.json and model.safetensors of a random BERT over the vocab.txt in dir;
 * skip names a tensor to leave out (or NULL). */
static void write_model(const char *dir, const char *skip) {
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"bert\", \"hidden_act\": \"gelu\", \"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, "
             "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"max_position_embeddings\": %d, \"type_vocab_size\": 2, "
             "\"layer_norm_eps\": 1e-12}",
             N_VOCAB, E, F, L, NH, NPOS);
    write_text(dir, "config.json", cfg);
    st_spec specs[5 + 16 * L];
    int n = 0;
    const struct {
        const char *name;
        int64_t rows, cols;
    } globals[] = {{"embeddings.word_embeddings.weight", N_VOCAB, E}, {"embeddings.token_type_embeddings.weight", 2, E},
                   {"embeddings.position_embeddings.weight", NPOS, E}, {"embeddings.LayerNorm.weight", 0, E},
                   {"embeddings.LayerNorm.bias", 0, E}};
    for (int i = 0; i < 5; i++)
        specs[n++] = (st_spec){"", "F32", globals[i].rows ? 2 : 1, {globals[i].rows ? globals[i].rows : globals[i].cols, globals[i].cols}, NULL},
        snprintf(specs[n - 1].name, sizeof specs[n - 1].name, "%s", globals[i].name);
    const struct {
        const char *part;
        int64_t rows, cols;
    } per_layer[] = {{"attention.self.query", E, E}, {"attention.self.key", E, E}, {"attention.self.value", E, E},
                     {"attention.output.dense", E, E}, {"attention.output.LayerNorm", 0, E}, {"intermediate.dense", F, E},
                     {"output.dense", E, F}, {"output.LayerNorm", 0, E}};
    for (int l = 0; l < L; l++)
        for (int i = 0; i < 8; i++)
            for (int bias = 0; bias < 2; bias++) {
                st_spec *s = &specs[n++];
                snprintf(s->name, sizeof s->name, "bert.encoder.layer.%d.%s.%s", l, per_layer[i].part, bias ? "bias" : "weight");
                int vec = bias || !per_layer[i].rows;
                *s = (st_spec){.dtype = l == 1 && !vec ? "BF16" : "F32", .n_dims = vec ? 1 : 2,
                               .shape = {vec ? (bias && per_layer[i].rows ? per_layer[i].rows : per_layer[i].cols) : per_layer[i].rows,
                                         per_layer[i].cols}};
                snprintf(s->name, sizeof s->name, "bert.encoder.layer.%d.%s.%s", l, per_layer[i].part, bias ? "bias" : "weight");
            }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        specs[i].data = malloc(spec_elems(&specs[i]) * sizeof(float));
        int is_norm_weight = strstr(specs[i].name, "LayerNorm.weight") != NULL;
        for (size_t k = 0; k < spec_elems(&specs[i]); k++) specs[i].data[k] = is_norm_weight ? 1.0f + rnd(0.1f) : rnd(0.5f);
        if (!skip || strcmp(specs[i].name, skip) != 0) specs[kept++] = specs[i];
        else free(specs[i].data);
    }
    size_t size;
    uint8_t *file = st_build(specs, kept, &size);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_file(path, file, size);
    free(file);
    for (int i = 0; i < kept; i++) free(specs[i].data);
}

static float max_diff(const float *a, const float *b, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static void test_tiny_bert(const char *dir) {
    write_model(dir, NULL);
    const char *texts[4] = {"hello world", "unaffable", "Hello, world! cafe x\xE4\xB8\xAD", ""};
    slm_embedder *e = NULL, *one = NULL, *conv = NULL;
    float batched[4 * E], single[4 * E], converted[4 * E], raw[4 * E];
    slm_embedder_params p1 = {.batch = 1}, raw_params = {.no_normalize = 1};
    CHECK(slm_embedder_open(dir, NULL, &e) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_embedder_open(dir, &p1, &one) == SLM_OK, "%s", slm_last_error());
    if (!e || !one) return;
    CHECK(slm_embedder_dim(e) == E, "dim");
    CHECK(slm_embed(e, texts, 4, batched) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_embed(one, texts, 4, single) == SLM_OK, "%s", slm_last_error());
    CHECK(max_diff(batched, single, 4 * E) < 1e-5f, "padded batch vs one at a time: %g", max_diff(batched, single, 4 * E));
    float norm = 0;
    for (int c = 0; c < E; c++) norm += batched[c] * batched[c];
    CHECK(fabsf(norm - 1.0f) < 1e-5f, "normalised: %g", norm);
    slm_embedder *r = NULL;
    CHECK(slm_embedder_open(dir, &raw_params, &r) == SLM_OK && slm_embed(r, texts, 4, raw) == SLM_OK, "%s", slm_last_error());
    slm_embedder_free(r);
    /* the converted GGUF gives the same vectors */
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/tiny.gguf", dir);
    CHECK(slm_convert_hf(dir, gguf, "tiny", 0) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_embedder_open(gguf, NULL, &conv) == SLM_OK, "%s", slm_last_error());
    if (conv) {
        CHECK(slm_embed(conv, texts, 4, converted) == SLM_OK && max_diff(batched, converted, 4 * E) == 0.0f, "GGUF differs: %g",
              max_diff(batched, converted, 4 * E));
        const char *bad_texts[1] = {NULL};
        CHECK(fails_with(slm_embed(conv, bad_texts, 1, converted), "NULL"), "NULL text");
    }
    CHECK(slm_convert_hf(dir, gguf, NULL, 1) == SLM_OK, "%s", slm_last_error());
    slm_embedder *half = NULL;
    CHECK(slm_embedder_open(gguf, NULL, &half) == SLM_OK && slm_embed(half, texts, 4, converted) == SLM_OK &&
              max_diff(batched, converted, 4 * E) < 2e-2f,
          "f16: %g", max_diff(batched, converted, 4 * E));
    slm_embedder_free(half);
    slm_embedder_free(conv);
    slm_embedder_free(e);
    slm_embedder_free(one);
    unlink(gguf);

    /* malformed folders */
    write_model(dir, "bert.encoder.layer.1.output.dense.bias");
    CHECK(fails_with(slm_embedder_open(dir, NULL, &e), "encoder.layer.1.output.dense.bias' is missing"), "%s", slm_last_error());
    write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 8}");
    CHECK(fails_with(slm_embedder_open(dir, NULL, &e), "\"vocab_size\" is missing"), "%s", slm_last_error());
    write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_act\": \"relu\"}");
    CHECK(fails_with(slm_embedder_open(dir, NULL, &e), "hidden_act"), "%s", slm_last_error());
    write_text(dir, "config.json", "{\"model_type\": \"bert\", \"vocab_size\": 24, \"hidden_size\": 9, \"intermediate_size\": 16, "
                                   "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"max_position_embeddings\": 16}");
    CHECK(fails_with(slm_embedder_open(dir, NULL, &e), "multiple"), "%s", slm_last_error());
    write_model(dir, NULL);
    write_text(dir, "config.json", "{\"model_type\": \"bert\", \"vocab_size\": 25, \"hidden_size\": 8, \"intermediate_size\": 16, "
                                   "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"max_position_embeddings\": 16}");
    CHECK(fails_with(slm_embedder_open(dir, NULL, &e), "expected"), "%s", slm_last_error());
    CHECK(fails_with(slm_embedder_open("/nonexistent/folder", NULL, &e), "/nonexistent"), "%s", slm_last_error());
    const char *names[] = {"config.json", "model.safetensors", "vocab.txt"};
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
}

int main(void) {
    char dir[] = "/tmp/slm_test_bert_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_safetensors();
    test_wordpiece(dir);
    {
        char vocab[1024] = "";
        for (int i = 0; i < N_VOCAB; i++) strcat(strcat(vocab, VOCAB[i]), "\n");
        write_text(dir, "vocab.txt", vocab);
    }
    test_tiny_bert(dir);
    rmdir(dir);
    return check_summary("test_bert");
}
