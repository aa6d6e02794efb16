/* cmd_average.c — `slm average`: the weight average of classifiers fine-tuned from one base. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

#define AVERAGE_MAX_INPUTS 64

static const char *USAGE =
    "usage: slm average -o OUT.gguf MODEL1.gguf MODEL2.gguf [MODEL3.gguf ...]\n\n"
    "Writes the element-wise mean of the weights of models fine-tuned from the same base with the\n"
    "same recipe and different --seed values (a \"model soup\"): one model, as fast as each input,\n"
    "usually more accurate than any of them. The inputs must hold the same tensors and labels;\n"
    "LoRA adapter files cannot be averaged.";

int cmd_average(int argc, char **argv) {
    const char *out = NULL;
    const opt_spec specs[] = {{"-o", "--out", OPT_STRING, &out, "the averaged model to write (required)"}};
    const char *pos[AVERAGE_MAX_INPUTS];
    int n_pos;
    int rc = args_parse(argc, argv, specs, 1, pos, AVERAGE_MAX_INPUTS, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (!out || n_pos < 2) {
        fprintf(stderr, "error: give -o OUT.gguf and at least two models (see slm average --help)\n");
        return 2;
    }
    double t0 = slm_time_seconds();
    slm_status st = slm_average_models(pos, (size_t)n_pos, out);
    if (st != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return st == SLM_ERR_INVALID_ARG ? 2 : 1;
    }
    fprintf(stderr, "wrote %s: the mean of %d models in %.1f s\n", out, n_pos, slm_time_seconds() - t0);
    return 0;
}
