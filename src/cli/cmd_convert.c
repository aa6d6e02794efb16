/* cmd_convert.c — `slm convert`: a llama2.c checkpoint + tokenizer to a GGUF file. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm convert [options] CHECKPOINT.bin TOKENIZER.bin OUT.gguf\n\n"
    "Writes a llama2.c checkpoint (legacy or version 1 header) and its tokenizer as a GGUF v3\n"
    "file for the llama architecture, loadable by slm and by llama.cpp.";

int cmd_convert(int argc, char **argv) {
    int f16 = 0;
    const char *name = NULL;
    const opt_spec specs[] = {
        {NULL, "--f16", OPT_FLAG, &f16, "store the matrices as f16 (default f32)"},
        {NULL, "--name", OPT_STRING, &name, "general.name of the model (default: the file name)"},
    };
    const char *pos[3];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 3, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (n_pos != 3) {
        fprintf(stderr, "error: give CHECKPOINT.bin TOKENIZER.bin OUT.gguf (see slm convert --help)\n");
        return 2;
    }
    if (slm_convert_llama2c(pos[0], pos[1], pos[2], name, f16) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    fprintf(stderr, "wrote %s\n", pos[2]);
    return 0;
}
