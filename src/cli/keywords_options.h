/* keywords_options.h — the extraction options that `slm keywords` and `slm eval --task keywords`
 * share (--method, --top, --ngram, --diversity, --stopwords, -m, -t) and their conversion. */
#ifndef SLM_CLI_KEYWORDS_OPTIONS_H
#define SLM_CLI_KEYWORDS_OPTIONS_H
#include "cli/args.h"
#include "slm.h"

typedef struct {
    const char *model, *method, *ngram, *stopwords;
    int top, threads;
    float diversity;
} keywords_cli_options;

#define KEYWORDS_N_SPECS 7
/* Writes the shared option specs into specs[0..KEYWORDS_N_SPECS) (targets in o, which gets the
 * defaults). */
void keywords_option_specs(opt_spec *specs, keywords_cli_options *o);
/* Checks the options and fills params; prints an error and returns 0 when they are bad. */
int keywords_options_to_params(const keywords_cli_options *o, slm_keywords_params *params);

#endif
