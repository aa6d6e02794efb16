/* task_options.h — options shared by the task commands (classify, eval): data formats, text
 * decodings, label lists and prompt templates as written on the command line. */
#ifndef SLM_CLI_TASK_OPTIONS_H
#define SLM_CLI_TASK_OPTIONS_H
#include "slm.h"

/* "auto", "tsv", "csv", "jsonl", "kim", "text" to a format; 0 on success, else prints an error. */
int task_parse_format(const char *name, slm_data_format *out);
/* "utf-8" (strict), "latin1" (Windows-1252), "replace" (U+FFFD) to a decoding; 0 on success. */
int task_parse_encoding(const char *name, slm_text_decoding *out);
/* Splits a comma-separated list into *n new strings (free with task_free_list); NULL (error
 * printed) when an item is empty. */
char **task_split_list(const char *list, int *n);
void task_free_list(char **items, int n);
/* A copy of a template with \n, \t and \\ written as two characters turned into the
 * characters (caller frees). */
char *task_unescape(const char *s);
/* Whether a --file path names a dataset by its extension (.tsv, .csv, .jsonl, .json). */
int task_is_dataset_path(const char *path);

#endif
