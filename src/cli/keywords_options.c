/* keywords_options.c — parsing of the keyword-extraction options shared by `slm keywords` and
 * `slm eval --task keywords` (see keywords_options.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/keywords_options.h"

void keywords_option_specs(opt_spec *specs, keywords_cli_options *o) {
    *o = (keywords_cli_options){.method = "auto", .ngram = "1-3", .top = 10, .threads = 0, .diversity = -1};
    specs[0] = (opt_spec){"-m", "--model", OPT_STRING, &o->model, "sentence encoder (BERT-family GGUF or Hugging Face folder) for embed / auto, or a tagger GGUF (slm finetune --task tag) for supervised / auto"};
    specs[1] = (opt_spec){NULL, "--method", OPT_STRING, &o->method, "stat, embed, supervised or auto (default auto: stat, plus the encoder's cosine or the tagger's spans with -m)"};
    specs[2] = (opt_spec){NULL, "--top", OPT_INT, &o->top, "phrases per document (default 10)"};
    specs[3] = (opt_spec){NULL, "--ngram", OPT_STRING, &o->ngram, "words per phrase, MIN-MAX or N (default 1-3)"};
    specs[4] = (opt_spec){NULL, "--diversity", OPT_FLOAT, &o->diversity, "embed / auto with -m: MMR diversity in [0, 1] (default 0.4)"};
    specs[5] = (opt_spec){NULL, "--stopwords", OPT_STRING, &o->stopwords, "stopword file, one a line (default: built-in English)"};
    specs[6] = (opt_spec){"-t", "--threads", OPT_INT, &o->threads, "threads (default: physical cores)"};
}

int keywords_options_to_params(const keywords_cli_options *o, slm_keywords_params *p) {
    *p = (slm_keywords_params){0};
    if (strcmp(o->method, "auto") == 0) p->method = SLM_KEYWORDS_AUTO;
    else if (strcmp(o->method, "stat") == 0) p->method = SLM_KEYWORDS_STAT;
    else if (strcmp(o->method, "embed") == 0) p->method = SLM_KEYWORDS_EMBED;
    else if (strcmp(o->method, "supervised") == 0) p->method = SLM_KEYWORDS_SUPERVISED;
    else {
        fprintf(stderr, "error: --method %s: expected stat, embed, supervised or auto\n", o->method);
        return 0;
    }
    if (p->method == SLM_KEYWORDS_SUPERVISED && !o->model) {
        fprintf(stderr, "error: --method supervised needs -m TAGGER.gguf (from slm finetune --task tag)\n");
        return 0;
    }
    if (p->method == SLM_KEYWORDS_EMBED && !o->model) {
        fprintf(stderr, "error: --method embed needs -m MODEL (an encoder)\n");
        return 0;
    }
    if (o->top < 1 || o->top > 10000) {
        fprintf(stderr, "error: --top %d: expected 1 to 10000\n", o->top);
        return 0;
    }
    int lo, hi;
    char tail;
    if (sscanf(o->ngram, "%d-%d%c", &lo, &hi, &tail) == 2) {
    } else if (sscanf(o->ngram, "%d%c", &lo, &tail) == 1) {
        hi = lo;
    } else {
        fprintf(stderr, "error: --ngram %s: expected MIN-MAX (e.g. 1-3) or N\n", o->ngram);
        return 0;
    }
    if (lo < 1 || hi < lo || hi > 8) {
        fprintf(stderr, "error: --ngram %s: need 1 <= MIN <= MAX <= 8\n", o->ngram);
        return 0;
    }
    if (o->diversity > 1 || (o->diversity < 0 && o->diversity != -1)) {
        fprintf(stderr, "error: --diversity %g: expected a value in [0, 1]\n", (double)o->diversity);
        return 0;
    }
    if (o->threads < 0) {
        fprintf(stderr, "error: --threads %d: expected a positive count\n", o->threads);
        return 0;
    }
    p->top_k = o->top;
    p->min_words = lo;
    p->max_words = hi;
    p->diversity = o->diversity;
    p->stopwords_path = o->stopwords;
    p->model_path = o->model;
    p->n_threads = o->threads;
    return 1;
}
