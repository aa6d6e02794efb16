/* test_formats.c — GGUF writer -> reader round trip (every type, nested and empty arrays,
 * alignment), and thousands of random corruptions and truncations of GGUF and llama2.c
 * images that must be rejected or read, never crash (run it under the sanitizer build). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "tensor/types.h"

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    *n = fread(buf, 1, (size_t)size, f);
    fclose(f);
    return buf;
}

static void test_roundtrip(const char *path) {
    gguf_writer *w = gguf_writer_new();
    int32_t ints[3] = {-1, 0, 7};
    gguf_str strs[2] = {{"a", 1}, {"", 0}};
    gguf_value inner[2] = {{.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_I32, .n = 3, .raw = ints}},
                           {.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_STRING, .n = 0, .strs = NULL}}};
    gguf_value v;
    v = (gguf_value){.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_ARRAY, .n = 2, .items = inner}};
    CHECK(gguf_writer_set(w, "nested", &v) == SLM_OK, "set nested");
    v = (gguf_value){.type = GGUF_TYPE_ARRAY, .arr = {.elem_type = GGUF_TYPE_STRING, .n = 2, .strs = strs}};
    CHECK(gguf_writer_set(w, "strings", &v) == SLM_OK, "set strings");
    v = (gguf_value){.type = GGUF_TYPE_I64, .i = -5};
    gguf_writer_set(w, "i64", &v);
    v = (gguf_value){.type = GGUF_TYPE_F64, .f = 0.1};
    gguf_writer_set(w, "f64", &v);
    gguf_writer_set_u32(w, "general.alignment", 64);
    gguf_writer_set_str(w, "name", "tiny");
    float data[6] = {1, 2, 3, 4, 5, 6};
    uint16_t half[4] = {0x3C00, 0, 0x8000, 0x7C00};
    int64_t ne2[2] = {3, 2}, ne1[1] = {4};
    CHECK(gguf_writer_add_tensor(w, "m", SLM_TYPE_F32, 2, ne2, data, sizeof data) == SLM_OK, "add m");
    CHECK(gguf_writer_add_tensor(w, "h", SLM_TYPE_F16, 1, ne1, half, sizeof half) == SLM_OK, "add h");
    CHECK(gguf_writer_add_tensor(w, "m", SLM_TYPE_F32, 2, ne2, data, sizeof data) != SLM_OK, "duplicate refused");
    CHECK(gguf_writer_add_tensor(w, "bad", SLM_TYPE_F32, 2, ne2, data, 8) != SLM_OK, "size mismatch refused");
    CHECK(gguf_writer_write(w, path) == SLM_OK, "write: %s", slm_last_error());
    gguf_writer_free(w);

    gguf_file f;
    CHECK(gguf_open(path, &f) == SLM_OK, "read back: %s", slm_last_error());
    CHECK(f.alignment == 64 && f.data_offset % 64 == 0, "alignment %llu", (unsigned long long)f.alignment);
    const gguf_value *n = gguf_find(&f, "nested");
    CHECK(n && n->arr.n == 2 && n->arr.items[0].arr.n == 3 && gguf_array_number(&n->arr.items[0], 0) == -1 &&
              n->arr.items[1].arr.n == 0 && n->arr.items[1].arr.elem_type == GGUF_TYPE_STRING, "nested array");
    const gguf_value *s = gguf_find(&f, "strings");
    CHECK(s && s->arr.n == 2 && s->arr.strs[0].len == 1 && s->arr.strs[1].len == 0, "string array");
    int64_t i64;
    double f64;
    CHECK(gguf_get_int(&f, "i64", &i64) && i64 == -5, "i64");
    CHECK(gguf_get_float(&f, "f64", &f64) && f64 == 0.1, "f64");
    char *name = gguf_get_string(&f, "name");
    CHECK(name && strcmp(name, "tiny") == 0, "string");
    free(name);
    const gguf_tensor *m = gguf_find_tensor(&f, "m"), *h = gguf_find_tensor(&f, "h");
    CHECK(m && m->ne[0] == 3 && m->ne[1] == 2 && memcmp(m->data, data, sizeof data) == 0, "tensor m");
    CHECK(h && h->type == SLM_TYPE_F16 && memcmp(h->data, half, sizeof half) == 0 && h->offset % 64 == 0, "tensor h");
    gguf_close(&f);
}

static void test_corruptions(const char *path) {
    size_t n = 0;
    unsigned char *good = read_all(path, &n);
    if (!good) {
        CHECK(good, "cannot read %s", path);
        return;
    }
    unsigned char *buf = malloc(n);
    slm_rng rng;
    slm_rng_seed(&rng, 77);
    int rejected = 0, accepted = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, good, n);
        int flips = 1 + (int)(slm_rng_u64(&rng) % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)(slm_rng_u64(&rng) % (n < 300 ? n : 300)); /* the header region */
            buf[at] = (unsigned char)slm_rng_u64(&rng);
        }
        size_t len = round % 5 == 0 ? (size_t)(slm_rng_u64(&rng) % (n + 1)) : n;
        gguf_file f;
        if (gguf_parse(buf, len, "fuzz", &f) == SLM_OK) {
            accepted++;
            gguf_close(&f);
        } else {
            rejected++;
            CHECK(strncmp(slm_last_error(), "fuzz: ", 6) == 0, "message names the file: %s", slm_last_error());
        }
    }
    printf("gguf: %d corrupted images rejected, %d still valid\n", rejected, accepted);
    CHECK(rejected > 10000, "most corruptions are rejected");
    free(buf);
    free(good);
}

static void test_llama2c(void) {
    /* a tiny legacy checkpoint: dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab 5, seq 3 */
    int32_t hdr[7] = {4, 6, 1, 2, 1, 5, 3};
    size_t floats = 5 * 4 + 4 + 16 + 8 + 8 + 16 + 4 + 24 + 24 + 24 + 4 + 3 * 1 * 2;
    size_t size = sizeof hdr + floats * 4;
    unsigned char *img = calloc(1, size);
    memcpy(img, hdr, sizeof hdr);
    llama2c_checkpoint ck;
    CHECK(llama2c_parse(img, size, "tiny.bin", &ck) == SLM_OK, "tiny checkpoint: %s", slm_last_error());
    CHECK(ck.config.shared_classifier && ck.w.wcls == ck.w.token_embedding, "shared classifier");
    CHECK(llama2c_parse(img, size - 4, "tiny.bin", &ck) != SLM_OK && strstr(slm_last_error(), "truncated"), "truncated");
    CHECK(llama2c_parse(img, size + 0, "tiny.bin", &ck) == SLM_OK, "exact size");
    int32_t neg = -5;
    memcpy(img + 20, &neg, 4); /* negative vocab: a separate classifier that is missing */
    CHECK(llama2c_parse(img, size, "tiny.bin", &ck) != SLM_OK, "missing wcls");
    free(img);
}

int main(void) {
    const char *path = "test_formats.gguf";
    test_roundtrip(path);
    test_corruptions(path);
    test_llama2c();
    remove(path);
    return check_summary("test_formats");
}
