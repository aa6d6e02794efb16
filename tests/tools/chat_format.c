/* chat_format.c — test tool: prints the chat template name and the formatted prompt for a list
 * of messages. usage: chat_format MODEL [--no-gen] ROLE CONTENT [ROLE CONTENT ...] */
#include <stdio.h>
#include <string.h>

#include "slm.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: chat_format MODEL [--no-gen] ROLE CONTENT ...\n");
        return 2;
    }
    int gen = 1, first = 2;
    if (argc > 2 && strcmp(argv[2], "--no-gen") == 0) gen = 0, first = 3;
    slm_model *m;
    if (slm_model_load(argv[1], NULL, &m) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    slm_chat_message msgs[32];
    size_t n = 0;
    for (int i = first; i + 1 < argc && n < 32; i += 2) msgs[n++] = (slm_chat_message){argv[i], argv[i + 1]};
    char *text;
    if (slm_chat_format(m, msgs, n, gen, &text) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    printf("%s\n%s", slm_chat_template_name(m), text);
    slm_free(text);
    slm_model_free(m);
    return 0;
}
