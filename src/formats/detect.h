/* detect.h — which kind of model or tokenizer file a path holds, from its first bytes. */
#ifndef SLM_FORMATS_DETECT_H
#define SLM_FORMATS_DETECT_H
#include <stddef.h>

#include "slm.h"

typedef enum {
    FILE_KIND_UNKNOWN = 0,
    FILE_KIND_GGUF,    /* "GGUF" magic */
    FILE_KIND_LLAMA2C, /* a llama2.c checkpoint header (legacy or "ak42" v1) */
} file_kind;

/* Maps the file briefly to look at its header; *size receives its length. Fails only if the
 * file cannot be opened or mapped. */
slm_status formats_detect(const char *path, file_kind *kind, size_t *size);

#endif
