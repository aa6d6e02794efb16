/* mapped_file.h — read-only memory-mapped files (model weights are used in place). */
#ifndef SLM_BASE_MAPPED_FILE_H
#define SLM_BASE_MAPPED_FILE_H
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct {
    const uint8_t *data; /* the file's bytes, read-only */
    size_t size;
    char *path;          /* owned copy of the path, for error messages */
} slm_mapped_file;

/* Maps the whole file at path read-only. Release with slm_unmap_file. */
slm_status slm_map_file(const char *path, slm_mapped_file *out);
/* Unmaps a file mapped by slm_map_file and frees its path (a zeroed struct is fine). */
void slm_unmap_file(slm_mapped_file *file);

#endif
