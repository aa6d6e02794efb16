/* args.h — a small command-line parser shared by the subcommands: options with values
 * ("-m FILE", "--temp=0.5"), flags, and positional arguments, with clear errors. */
#ifndef SLM_CLI_ARGS_H
#define SLM_CLI_ARGS_H
#include <stdbool.h>

typedef enum { OPT_FLAG, OPT_STRING, OPT_INT, OPT_FLOAT, OPT_U64, OPT_LIST } opt_kind;

/* The values of an option that may be given several times (OPT_LIST). */
#define ARGS_LIST_MAX 256
typedef struct {
    const char *items[ARGS_LIST_MAX];
    int n;
} args_list;

typedef struct {
    const char *short_name; /* "-m" or NULL */
    const char *long_name;  /* "--model" */
    opt_kind kind;
    void *target;           /* int* for flags and ints, const char** strings, float*, uint64_t*,
                               args_list* lists */
    const char *help;
} opt_spec;

/* Parses argv[1..] against specs; positionals are collected into pos (at most max_pos).
 * Returns 0 on success, 1 if --help was asked (usage printed), 2 on an error (printed). */
int args_parse(int argc, char **argv, const opt_spec *specs, int n_specs, const char **pos, int max_pos,
               int *n_pos, const char *usage);
#include "slm.h"

/* The sampling options shared by generate and chat (--temp, --top-k, ...), to append to a
 * command's table: writes them at specs[0..] and returns how many (at most ARGS_N_SAMPLING). */
#define ARGS_N_SAMPLING 7
int args_sampling_specs(opt_spec *specs, slm_sampling_params *sp);
/* Prints usage and the option table to stdout. */
void args_print_help(const char *usage, const opt_spec *specs, int n_specs);

#endif
