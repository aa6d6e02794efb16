/* chat.c — chat templates: turns a list of (role, content) messages into the prompt text a
 * model was trained on. The template is recognised from tokenizer.chat_template when the file
 * has one, else from the vocabulary's special tokens: Gemma (<start_of_turn>), ChatML
 * (<|im_start|>), Llama 3 (<|start_header_id|>), Llama 2 ([INST]); ChatML otherwise. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "models/model.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/tokenizer.h"

typedef enum { CHAT_CHATML, CHAT_GEMMA, CHAT_LLAMA3, CHAT_LLAMA2 } chat_kind;

static const char *const KIND_NAMES[] = {"chatml", "gemma", "llama3", "llama2"};

static int has_token(const slm_tokenizer *tok, const char *text) {
    return tokenizer_find(tok, text, (uint32_t)strlen(text)) >= 0;
}

static chat_kind detect(const slm_model *m) {
    char *tpl = m->is_gguf ? gguf_get_string(&m->gguf, "tokenizer.chat_template") : NULL;
    chat_kind k = CHAT_CHATML;
    const slm_tokenizer *tok = m->tokenizer;
    if (tpl) {
        if (strstr(tpl, "<start_of_turn>")) k = CHAT_GEMMA;
        else if (strstr(tpl, "<|start_header_id|>")) k = CHAT_LLAMA3;
        else if (strstr(tpl, "<|im_start|>")) k = CHAT_CHATML;
        else if (strstr(tpl, "[INST]")) k = CHAT_LLAMA2;
        free(tpl);
        return k;
    }
    if (has_token(tok, "<start_of_turn>")) return CHAT_GEMMA;
    if (has_token(tok, "<|start_header_id|>")) return CHAT_LLAMA3;
    if (has_token(tok, "<|im_start|>")) return CHAT_CHATML;
    return CHAT_CHATML;
}

const char *slm_chat_template_name(const slm_model *m) { return KIND_NAMES[detect(m)]; }

static int put_str(byte_buf *b, const char *s) { return buf_put(b, s, strlen(s)); }

slm_status slm_chat_format(const slm_model *m, const slm_chat_message *msgs, size_t n, int add_generation_prompt,
                           char **out) {
    if (!m || (!msgs && n) || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_chat_format: NULL argument");
    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) return slm_error(SLM_ERR_INVALID_ARG, "chat message %zu has no role or content", i);
    chat_kind k = detect(m);
    byte_buf b = {0};
    int ok = buf_put(&b, "", 0);
    const char *pending_system = NULL; /* Gemma and Llama 2 put the system text into the next user turn */
    for (size_t i = 0; ok && i < n; i++) {
        const char *role = msgs[i].role, *content = msgs[i].content;
        int is_system = strcmp(role, "system") == 0, is_user = strcmp(role, "user") == 0;
        switch (k) {
        case CHAT_CHATML:
            ok = put_str(&b, "<|im_start|>") && put_str(&b, role) && put_str(&b, "\n") && put_str(&b, content) &&
                 put_str(&b, "<|im_end|>\n");
            break;
        case CHAT_LLAMA3:
            ok = put_str(&b, "<|start_header_id|>") && put_str(&b, role) && put_str(&b, "<|end_header_id|>\n\n") &&
                 put_str(&b, content) && put_str(&b, "<|eot_id|>");
            break;
        case CHAT_GEMMA:
            if (is_system) {
                pending_system = content;
                break;
            }
            ok = put_str(&b, "<start_of_turn>") && put_str(&b, is_user ? "user" : "model") && put_str(&b, "\n");
            if (ok && pending_system && is_user) ok = put_str(&b, pending_system) && put_str(&b, "\n\n"), pending_system = NULL;
            ok = ok && put_str(&b, content) && put_str(&b, "<end_of_turn>\n");
            break;
        case CHAT_LLAMA2:
            if (is_system) {
                pending_system = content;
                break;
            }
            if (is_user) {
                ok = put_str(&b, "[INST] ");
                if (ok && pending_system) ok = put_str(&b, "<<SYS>>\n") && put_str(&b, pending_system) && put_str(&b, "\n<</SYS>>\n\n"), pending_system = NULL;
                ok = ok && put_str(&b, content) && put_str(&b, " [/INST]");
            } else ok = put_str(&b, " ") && put_str(&b, content) && put_str(&b, " </s><s>");
            break;
        }
    }
    if (ok && add_generation_prompt) {
        switch (k) {
        case CHAT_CHATML: ok = put_str(&b, "<|im_start|>assistant\n"); break;
        case CHAT_LLAMA3: ok = put_str(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n"); break;
        case CHAT_GEMMA: ok = put_str(&b, "<start_of_turn>model\n"); break;
        case CHAT_LLAMA2: break;
        }
    }
    if (!ok) {
        free(b.s);
        return slm_error(SLM_ERR_NOMEM, "out of memory formatting a chat");
    }
    *out = b.s;
    return SLM_OK;
}
