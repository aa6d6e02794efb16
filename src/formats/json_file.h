/* json_file.h — reads a whole JSON file with cJSON (Hugging Face config.json, tokenizer.json,
 * sentence-transformers files), with errors that name the file and the byte. */
#ifndef SLM_FORMATS_JSON_FILE_H
#define SLM_FORMATS_JSON_FILE_H
#include <cjson/cJSON.h>

#include "slm.h"

/* Parses the JSON object in the file at path into *root (the caller deletes it with
 * cJSON_Delete). A missing file is an error when required, else SLM_OK with *root NULL. */
slm_status json_read_object(const char *path, int required, cJSON **root);

#endif
