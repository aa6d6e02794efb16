/* mapped_file.c — mmap of model files, with errors naming the path. */
#include "base/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"

slm_status slm_map_file(const char *path, slm_mapped_file *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return slm_error(SLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return slm_error(SLM_ERR_IO, "%s: not a regular file", path);
    }
    out->size = (size_t)st.st_size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return slm_error(SLM_ERR_IO, "%s: cannot mmap: %s", path, strerror(errno));
        }
        out->data = p;
    }
    close(fd);
    out->path = slm_strndup(path, strlen(path));
    if (!out->path) {
        slm_unmap_file(out);
        return SLM_ERR_NOMEM;
    }
    return SLM_OK;
}

void slm_unmap_file(slm_mapped_file *file) {
    if (file->data) munmap((void *)file->data, file->size);
    free(file->path);
    memset(file, 0, sizeof *file);
}
