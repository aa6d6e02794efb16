/* main.c — the slm command: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "slm.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command g_commands[] = {
    {"generate", cmd_generate, "generate text from a prompt"},
    {"chat", cmd_chat, "talk with a model in its chat template"},
    {"info", cmd_info, "show a model file's architecture, metadata and tensors"},
    {"tokenize", cmd_tokenize, "show the token ids and pieces of a text"},
    {"tokenizer", cmd_tokenizer, "train a tokenizer (byte-level BPE or SentencePiece-style) on text files"},
    {"convert", cmd_convert, "convert a llama2.c checkpoint + tokenizer, or a Hugging Face BERT, to GGUF"},
    {"quantize", cmd_quantize, "re-encode a GGUF model's weights (q8_0, q4_K, q6_K, ...)"},
    {"data", cmd_data, "prepare text as token shards for training (slm data prepare)"},
    {"train", cmd_train, "train a Llama from token shards, with checkpoints and --resume"},
    {"classify", cmd_classify, "label texts with a classifier, or zero-shot with a generative model"},
    {"eval", cmd_eval, "evaluate a classifier (accuracy, macro-F1, confusion) or keywords (--task keywords)"},
    {"embed", cmd_embed, "sentence embeddings from a BERT-family encoder (JSON lines or float32)"},
    {"keywords", cmd_keywords, "extract the keyphrases of documents (slm eval --task keywords scores them)"},
    {"finetune", cmd_finetune, "fine-tune an encoder (or LoRA on a decoder) into a classifier, or a keyphrase tagger (--task tag)"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server (completions, chat, embeddings, streaming)"},
    {"average", cmd_average, "average the weights of classifiers fine-tuned from one base (a model soup)"},
    {"compare", cmd_compare, "measure models side by side on one task: scores, speed, memory, cost; report and chart"},
};

static void usage(FILE *out) {
    fprintf(out, "slm %s — run small language models on the CPU\n\nusage: slm COMMAND [options]\n\ncommands:\n",
            slm_version());
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", g_commands[i].name, g_commands[i].help);
    fprintf(out, "\n'slm COMMAND --help' shows the options of a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("slm %s (kernels: %s)\n", slm_version(), slm_kernels_name());
        return 0;
    }
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        if (strcmp(argv[1], g_commands[i].name) == 0) return g_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
