/* fuzz_llama2c.c — libFuzzer harness: the llama2.c checkpoint header parser. */
#include "formats/llama2c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    llama2c_checkpoint ck;
    if (llama2c_parse(data, size, "fuzz.bin", &ck) == SLM_OK && ck.w.rms_final) {
        volatile float x = ck.w.rms_final[0]; /* the bound pointers must be inside the buffer */
        (void)x;
    }
    return 0;
}
