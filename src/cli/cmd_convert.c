/* cmd_convert.c — `slm convert`: a llama2.c checkpoint + tokenizer, or a Hugging Face BERT
 * folder, to a GGUF file. */
#include <stdio.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm convert [options] CHECKPOINT.bin TOKENIZER.bin OUT.gguf\n"
    "       slm convert --vocab-only TOKENIZER.bin OUT.gguf\n"
    "       slm convert [options] HF_BERT_FOLDER OUT.gguf\n\n"
    "Writes a llama2.c checkpoint (legacy or version 1 header) and its tokenizer as a GGUF v3\n"
    "file for the llama architecture, loadable by slm and by llama.cpp. With --vocab-only, writes\n"
    "just the tokenizer (a vocabulary-only GGUF, as llama.cpp's ggml-vocab-*.gguf files). Given a\n"
    "Hugging Face BERT folder (config.json, model.safetensors, tokenizer.json or vocab.txt), writes\n"
    "it for llama.cpp's bert architecture (slm embed and llama.cpp's embeddings read it).";

int cmd_convert(int argc, char **argv) {
    int f16 = 0, vocab_only = 0;
    const char *name = NULL;
    const opt_spec specs[] = {
        {NULL, "--f16", OPT_FLAG, &f16, "store the matrices as f16 (default f32)"},
        {NULL, "--name", OPT_STRING, &name, "general.name of the model (default: the file name)"},
        {NULL, "--vocab-only", OPT_FLAG, &vocab_only, "convert only a tokenizer: TOKENIZER.bin OUT.gguf"},
    };
    const char *pos[3];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 3, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    struct stat sb;
    if (!vocab_only && n_pos == 2 && stat(pos[0], &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (slm_convert_hf(pos[0], pos[1], name, f16) != SLM_OK) {
            fprintf(stderr, "error: %s\n", slm_last_error());
            return 1;
        }
        fprintf(stderr, "wrote %s\n", pos[1]);
        return 0;
    }
    if (n_pos != (vocab_only ? 2 : 3)) {
        fprintf(stderr, "error: give %s (see slm convert --help)\n",
                vocab_only ? "TOKENIZER.bin OUT.gguf" : "CHECKPOINT.bin TOKENIZER.bin OUT.gguf");
        return 2;
    }
    slm_status st = vocab_only ? slm_convert_llama2c(NULL, pos[0], pos[1], name, 0)
                               : slm_convert_llama2c(pos[0], pos[1], pos[2], name, f16);
    if (st != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    fprintf(stderr, "wrote %s\n", pos[vocab_only ? 1 : 2]);
    return 0;
}
