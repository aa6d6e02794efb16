/* fuzz_safetensors.c — libFuzzer harness: the safetensors header parser on arbitrary bytes,
 * then every tensor it accepts converted to f32 (its byte range was checked). */
#include <stdlib.h>

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file f;
    if (st_parse(data, size, "fuzz.safetensors", &f) != SLM_OK) return 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        if (t->n_elems > (1u << 20)) continue;
        float *out = malloc((t->n_elems ? t->n_elems : 1) * sizeof(float));
        if (out) st_to_f32(&f, t, out);
        free(out);
    }
    st_close(&f);
    return 0;
}
