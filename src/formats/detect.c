/* detect.c — tells GGUF files from llama2.c checkpoints by their first bytes. */
#include "formats/detect.h"

#include "base/mapped_file.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"

slm_status formats_detect(const char *path, file_kind *kind, size_t *size) {
    slm_mapped_file probe;
    slm_status st = slm_map_file(path, &probe);
    if (st != SLM_OK) return st;
    if (gguf_has_magic(probe.data, probe.size)) *kind = FILE_KIND_GGUF;
    else if (llama2c_looks_like_checkpoint(probe.data, probe.size)) *kind = FILE_KIND_LLAMA2C;
    else *kind = FILE_KIND_UNKNOWN;
    if (size) *size = probe.size;
    slm_unmap_file(&probe);
    return SLM_OK;
}
