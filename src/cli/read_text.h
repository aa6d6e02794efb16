/* read_text.h — whole-file reading for the subcommands (prompts, configs, logs, stdin). */
#ifndef SLM_CLI_READ_TEXT_H
#define SLM_CLI_READ_TEXT_H
#include <stddef.h>
#include <stdio.h>

/* Reads the rest of a stream into a new NUL-terminated buffer (caller frees); *len (may be NULL)
 * gets the byte count. NULL when out of memory or over max_bytes (errno EFBIG). */
char *read_stream(FILE *f, size_t max_bytes, size_t *len);
/* The same for a file by path; NULL with errno set when it cannot be opened. */
char *read_text_file(const char *path, size_t max_bytes, size_t *len);

#endif
