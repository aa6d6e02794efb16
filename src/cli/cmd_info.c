/* cmd_info.c — `slm info`: a model file's architecture, parameter count, metadata and tensors. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm info [options] FILE\n\n"
    "Prints the model's hyper-parameters and parameter count, every metadata entry (long arrays\n"
    "abridged) and every tensor with its type, shape and size. FILE is a GGUF file or a llama2.c\n"
    "checkpoint.";

int cmd_info(int argc, char **argv) {
    int full = 0, no_model = 0;
    const char *tokenizer_path = NULL;
    const opt_spec specs[] = {
        {NULL, "--full", OPT_FLAG, &full, "print arrays in full"},
        {NULL, "--tokenizer", OPT_STRING, &tokenizer_path, "tokenizer for a llama2.c checkpoint"},
        {NULL, "--no-model", OPT_FLAG, &no_model, "do not bind the model (metadata and tensors only)"},
    };
    const char *pos[1];
    int n_pos;
    int rc = args_parse(argc, argv, specs, sizeof specs / sizeof specs[0], pos, 1, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (n_pos != 1) {
        fprintf(stderr, "error: give one FILE (see slm info --help)\n");
        return 2;
    }
    slm_file *f;
    if (slm_file_open(pos[0], &f) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    printf("file: %s\nformat: %s\n", pos[0], slm_file_format(f));
    int status = 0;
    if (!no_model) {
        slm_model *m;
        slm_model_params mp = {.tokenizer_path = tokenizer_path};
        if (slm_model_load(pos[0], &mp, &m) == SLM_OK) {
            slm_model_info mi;
            slm_model_get_info(m, &mi);
            printf("architecture: %s\nname: %s\nparameters: %" PRId64 " (%.2f M)\nweight bytes: %zu\n"
                   "vocab: %d  embd: %d  ff: %d  layers: %d  heads: %d  kv heads: %d  head dim: %d  context: %d\n"
                   "rope base: %g  rms eps: %g\n",
                   mi.architecture, mi.name, mi.n_params, mi.n_params / 1e6, mi.weight_bytes, mi.n_vocab, mi.n_embd,
                   mi.n_ff, mi.n_layer, mi.n_head, mi.n_head_kv, mi.head_dim, mi.n_ctx_train, mi.rope_freq_base,
                   mi.norm_eps);
            slm_model_free(m);
        } else {
            printf("model: cannot be run: %s\n", slm_last_error());
            status = 1;
        }
    }
    size_t n_meta = slm_file_n_metadata(f), n_tensors = slm_file_n_tensors(f);
    printf("\nmetadata (%zu):\n", n_meta);
    for (size_t i = 0; i < n_meta; i++) {
        const char *key;
        char *value;
        if (slm_file_metadata(f, i, &key, &value, full ? 0 : 8) != SLM_OK) continue;
        printf("  %-40s %s\n", key, value);
        slm_free(value);
    }
    printf("\ntensors (%zu):\n", n_tensors);
    for (size_t i = 0; i < n_tensors; i++) {
        slm_tensor_desc d;
        if (slm_file_tensor(f, i, &d) != SLM_OK) continue;
        char shape[96];
        int o = snprintf(shape, sizeof shape, "[");
        for (int k = 0; k < d.n_dims; k++) o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRId64, k ? ", " : "", d.shape[k]);
        snprintf(shape + o, sizeof shape - (size_t)o, "]");
        printf("  %-32s %-6s %-24s %12" PRIu64 " bytes at %" PRIu64 "\n", d.name, d.type, shape, d.n_bytes, d.offset);
    }
    slm_file_close(f);
    return status;
}
