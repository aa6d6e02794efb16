/* json_file.c — reads a whole JSON file with cJSON (Hugging Face config.json, tokenizer.json,
 * sentence-transformers files), with errors that name the file and the byte. */
#include "formats/json_file.h"

#include <stdio.h>

#include "base/error.h"
#include "base/mapped_file.h"

slm_status json_read_object(const char *path, int required, cJSON **root) {
    *root = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return required ? slm_error(SLM_ERR_IO, "%s: cannot open (is this a Hugging Face model folder?)", path) : SLM_OK;
    fclose(f);
    slm_mapped_file m;
    slm_status st = slm_map_file(path, &m);
    if (st != SLM_OK) return st;
    const char *end = NULL;
    *root = m.size ? cJSON_ParseWithLengthOpts((const char *)m.data, m.size, &end, 0) : NULL;
    size_t at = end && m.data ? (size_t)(end - (const char *)m.data) : 0;
    slm_unmap_file(&m);
    if (!*root || !cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return slm_error(SLM_ERR_FORMAT, "%s: malformed JSON (near byte %zu)", path, at);
    }
    return SLM_OK;
}
