/* test_average.c — slm_average_models: the mean of f32 tensors, copied non-f32 tensors, the
 * first file's metadata, and clear errors for files that cannot be averaged. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/gguf.h"
#include "slm.h"
#include "tensor/types.h"

/* Writes a small "classifier": a (2, 3) f32 matrix w filled from base, an f16 vector h, labels. */
static void write_model(const char *path, float base, const char *labels_2nd, uint16_t f16_value, int adapter) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "bert");
    gguf_str labels[2] = {{"neg", 3}, {labels_2nd, strlen(labels_2nd)}};
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.arr.elem_type = GGUF_TYPE_STRING;
    v.arr.n = 2;
    v.arr.strs = labels;
    gguf_writer_set(w, "slm.classifier.labels", &v);
    if (adapter) gguf_writer_set_u32(w, "slm.lora.rank", 8);
    float m[6];
    for (int i = 0; i < 6; i++) m[i] = base + (float)i;
    int64_t ne_m[2] = {3, 2}, ne_h[1] = {4};
    uint16_t h[4] = {f16_value, f16_value, f16_value, f16_value};
    gguf_writer_add_tensor(w, "w", SLM_TYPE_F32, 2, ne_m, m, sizeof m);
    gguf_writer_add_tensor(w, "h", SLM_TYPE_F16, 1, ne_h, h, sizeof h);
    CHECK(gguf_writer_write(w, path) == SLM_OK, "write %s: %s", path, slm_last_error());
    gguf_writer_free(w);
}

int main(void) {
    char dir[] = "/tmp/slm_test_average_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char a[128], b[128], c[128], out[128], bad_label[128], bad_f16[128], adapter[128];
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    snprintf(c, sizeof c, "%s/c.gguf", dir);
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(bad_label, sizeof bad_label, "%s/bad_label.gguf", dir);
    snprintf(bad_f16, sizeof bad_f16, "%s/bad_f16.gguf", dir);
    snprintf(adapter, sizeof adapter, "%s/adapter.gguf", dir);
    write_model(a, 1.0f, "pos", 0x3c00, 0);
    write_model(b, 2.0f, "pos", 0x3c00, 0);
    write_model(c, 6.0f, "pos", 0x3c00, 0);
    write_model(bad_label, 1.0f, "positive", 0x3c00, 0);
    write_model(bad_f16, 1.0f, "pos", 0x4000, 0);
    write_model(adapter, 1.0f, "pos", 0x3c00, 1);

    const char *three[3] = {a, b, c};
    CHECK(slm_average_models(three, 3, out) == SLM_OK, "%s", slm_last_error());
    gguf_file f;
    CHECK(gguf_open(out, &f) == SLM_OK, "%s", slm_last_error());
    const gguf_tensor *w = gguf_find_tensor(&f, "w"), *h = gguf_find_tensor(&f, "h");
    CHECK(w && h, "tensors kept");
    if (w && h) {
        const float *wm = w->data;
        for (int i = 0; i < 6; i++) CHECK(fabsf(wm[i] - (3.0f + (float)i)) < 1e-6f, "w[%d] = %g", i, wm[i]);
        CHECK(((const uint16_t *)h->data)[0] == 0x3c00, "f16 tensor copied");
    }
    int64_t n_models = 0;
    CHECK(gguf_get_int(&f, "slm.average.n_models", &n_models) && n_models == 3, "n_models %lld", (long long)n_models);
    CHECK(gguf_find(&f, "slm.classifier.labels") != NULL, "labels kept");
    gguf_close(&f);

    /* the output may be one of the inputs */
    const char *self[2] = {a, b};
    CHECK(slm_average_models(self, 2, a) == SLM_OK, "%s", slm_last_error());
    CHECK(gguf_open(a, &f) == SLM_OK && fabsf(((const float *)gguf_find_tensor(&f, "w")->data)[0] - 1.5f) < 1e-6f,
          "in-place average");
    gguf_close(&f);

    const char *one[1] = {b};
    CHECK(slm_average_models(one, 1, out) == SLM_ERR_INVALID_ARG, "one model refused");
    const char *labels[2] = {b, bad_label};
    CHECK(slm_average_models(labels, 2, out) == SLM_ERR_FORMAT && strstr(slm_last_error(), "labels"),
          "different labels: %s", slm_last_error());
    const char *f16s[2] = {b, bad_f16};
    CHECK(slm_average_models(f16s, 2, out) == SLM_ERR_FORMAT && strstr(slm_last_error(), "differs"),
          "different f16 tensor: %s", slm_last_error());
    const char *adapters[2] = {b, adapter};
    CHECK(slm_average_models(adapters, 2, out) == SLM_ERR_INVALID_ARG && strstr(slm_last_error(), "LoRA"),
          "adapter refused: %s", slm_last_error());
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.gguf", dir);
    const char *absent[2] = {b, missing};
    CHECK(slm_average_models(absent, 2, out) != SLM_OK, "missing file");

    const char *all[] = {a, b, c, out, bad_label, bad_f16, adapter};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) unlink(all[i]);
    rmdir(dir);
    return check_summary("test_average");
}
