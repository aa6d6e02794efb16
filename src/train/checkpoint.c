/* checkpoint.c — training checkpoints: the model as a GGUF file inference loads unchanged, plus
 * the AdamW moments (tensors "slm.train.m.*", "slm.train.v.*"), the step, the training settings
 * and the caller's state string ("slm.train.*" keys); written atomically; resumed exactly. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tensor/types.h"
#include "train/train.h"

#define CKPT_VERSION 1

static slm_status set_i32(gguf_writer *w, const char *key, int32_t v) {
    gguf_value val = {.type = GGUF_TYPE_I32, .i = v};
    return gguf_writer_set(w, key, &val);
}

/* The integer and float settings kept in a checkpoint, by key. */
typedef struct {
    const char *key;
    size_t off;
    int is_float;
} setting;

#define S_INT(f) {"slm.train." #f, offsetof(slm_train_params, f), 0}
#define S_FLT(f) {"slm.train." #f, offsetof(slm_train_params, f), 1}
static const setting g_settings[] = {
    S_INT(batch), S_INT(seq_len), S_INT(grad_accum), S_FLT(lr), S_FLT(min_lr), S_INT(warmup_steps),
    S_INT(total_steps), S_FLT(beta1), S_FLT(beta2), S_FLT(eps), S_FLT(weight_decay), S_INT(decay_embeddings),
    S_FLT(grad_clip),
};
#define N_SETTINGS (sizeof g_settings / sizeof g_settings[0])

/* Flushes a written file to disk. */
static slm_status sync_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return slm_error(SLM_ERR_IO, "%s: cannot reopen: %s", path, strerror(errno));
    int bad = fsync(fd) != 0;
    close(fd);
    return bad ? slm_error(SLM_ERR_IO, "%s: fsync failed: %s", path, strerror(errno)) : SLM_OK;
}

slm_status slm_trainer_save_checkpoint(const slm_trainer *t, const char *path, const slm_tokenizer *tok,
                                       const char *user_state) {
    if (!t || !path) return slm_error(SLM_ERR_INVALID_ARG, "slm_trainer_save_checkpoint: NULL argument");
    gguf_writer *w;
    void *keep;
    slm_status st = trainer_writer(t, tok, &w, &keep);
    if (st != SLM_OK) return st;
    const int n = trainer_n_tensors(t);
    char (*names)[2][80] = calloc((size_t)n, sizeof *names);
    if (!names) st = slm_error(SLM_ERR_NOMEM, "checkpoint: out of memory");
    if (st == SLM_OK) st = set_i32(w, "slm.train.version", CKPT_VERSION);
    if (st == SLM_OK) st = set_i32(w, "slm.train.step", t->step);
    for (size_t i = 0; i < N_SETTINGS && st == SLM_OK; i++) {
        const char *f = (const char *)&t->p + g_settings[i].off;
        st = g_settings[i].is_float ? gguf_writer_set_f32(w, g_settings[i].key, *(const float *)f)
                                    : set_i32(w, g_settings[i].key, *(const int *)f);
    }
    if (st == SLM_OK && user_state) st = gguf_writer_set_str(w, "slm.train.user_state", user_state);
    for (int i = 0; i < n && st == SLM_OK; i++) {
        trainer_tensor tt;
        trainer_get_tensor(t, i, &tt);
        const size_t off = (size_t)(tt.param - t->model.params_mem);
        const int64_t ne[2] = {tt.cols, tt.rows};
        const uint64_t cnt = (uint64_t)tt.cols * (uint64_t)(tt.rows ? tt.rows : 1);
        snprintf(names[i][0], sizeof names[i][0], "slm.train.m.%s", tt.name);
        snprintf(names[i][1], sizeof names[i][1], "slm.train.v.%s", tt.name);
        st = gguf_writer_add_tensor(w, names[i][0], SLM_TYPE_F32, tt.rows ? 2 : 1, ne, t->model.m_mem + off,
                                    cnt * sizeof(float));
        if (st == SLM_OK)
            st = gguf_writer_add_tensor(w, names[i][1], SLM_TYPE_F32, tt.rows ? 2 : 1, ne, t->model.v_mem + off,
                                        cnt * sizeof(float));
    }
    char *tmp = NULL;
    if (st == SLM_OK) {
        const size_t len = strlen(path) + 32;
        if (!(tmp = malloc(len))) st = slm_error(SLM_ERR_NOMEM, "checkpoint: out of memory");
        else snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
    }
    if (st == SLM_OK) st = gguf_writer_write(w, tmp);
    if (st == SLM_OK) st = sync_file(tmp);
    if (st == SLM_OK && rename(tmp, path) != 0)
        st = slm_error(SLM_ERR_IO, "%s: cannot rename the checkpoint into place: %s", path, strerror(errno));
    if (st != SLM_OK && tmp) remove(tmp);
    free(tmp);
    free(names);
    gguf_writer_free(w);
    free(keep);
    return st;
}

/* Copies a saved moment tensor into dst (cnt floats), checking its type and size. */
static slm_status read_moment(const gguf_file *g, const char *path, const char *name, float *dst, uint64_t cnt) {
    const gguf_tensor *gt = gguf_find_tensor(g, name);
    if (!gt) return slm_error(SLM_ERR_FORMAT, "%s: checkpoint tensor '%s' is missing", path, name);
    if (gt->type != SLM_TYPE_F32 || gt->n_bytes != cnt * sizeof(float))
        return slm_error(SLM_ERR_FORMAT, "%s: checkpoint tensor '%s' is not %llu f32 values", path, name,
                         (unsigned long long)cnt);
    memcpy(dst, gt->data, (size_t)gt->n_bytes);
    for (uint64_t i = 0; i < cnt; i++)
        if (!isfinite(dst[i])) return slm_error(SLM_ERR_FORMAT, "%s: '%s' holds a non-finite value", path, name);
    return SLM_OK;
}

slm_status slm_trainer_resume(const char *path, const slm_train_params *params, slm_trainer **out,
                              char **user_state) {
    if (!path || !out) return slm_error(SLM_ERR_INVALID_ARG, "slm_trainer_resume: NULL argument");
    *out = NULL;
    if (user_state) *user_state = NULL;
    gguf_file g;
    slm_status st = gguf_open(path, &g);
    if (st != SLM_OK) return st;
    int64_t version = 0, step = 0;
    slm_train_params saved = slm_train_defaults();
    if (!gguf_get_int(&g, "slm.train.version", &version))
        st = slm_error(SLM_ERR_FORMAT, "%s: not a training checkpoint (no slm.train.version)", path);
    else if (version != CKPT_VERSION)
        st = slm_error(SLM_ERR_UNSUPPORTED, "%s: checkpoint version %lld (this slm reads %d)", path, (long long)version,
                       CKPT_VERSION);
    else if (!gguf_get_int(&g, "slm.train.step", &step) || step < 0 || step > INT32_MAX)
        st = slm_error(SLM_ERR_FORMAT, "%s: bad or missing slm.train.step", path);
    for (size_t i = 0; i < N_SETTINGS && st == SLM_OK; i++) {
        char *f = (char *)&saved + g_settings[i].off;
        int64_t iv;
        double dv;
        if (g_settings[i].is_float) {
            if (!gguf_get_float(&g, g_settings[i].key, &dv)) st = slm_error(SLM_ERR_FORMAT, "%s: no %s", path, g_settings[i].key);
            else *(float *)f = (float)dv;
        } else {
            if (!gguf_get_int(&g, g_settings[i].key, &iv) || iv < INT32_MIN || iv > INT32_MAX)
                st = slm_error(SLM_ERR_FORMAT, "%s: no %s", path, g_settings[i].key);
            else *(int *)f = (int)iv;
        }
    }
    slm_train_params p = params ? *params : saved;
    if (st == SLM_OK && (p.batch != saved.batch || p.seq_len != saved.seq_len || p.grad_accum != saved.grad_accum))
        st = slm_error(SLM_ERR_INVALID_ARG,
                       "%s: the checkpoint was made with batch %d, seq_len %d, grad_accum %d; resuming needs the same",
                       path, saved.batch, saved.seq_len, saved.grad_accum);
    slm_trainer *t = NULL;
    if (st == SLM_OK) st = slm_trainer_load(path, &p, &t);
    for (int i = 0; t && st == SLM_OK && i < trainer_n_tensors(t); i++) {
        trainer_tensor tt;
        trainer_get_tensor(t, i, &tt);
        const size_t off = (size_t)(tt.param - t->model.params_mem);
        const uint64_t cnt = (uint64_t)tt.cols * (uint64_t)(tt.rows ? tt.rows : 1);
        char name[96];
        snprintf(name, sizeof name, "slm.train.m.%s", tt.name);
        st = read_moment(&g, path, name, t->model.m_mem + off, cnt);
        snprintf(name, sizeof name, "slm.train.v.%s", tt.name);
        if (st == SLM_OK) st = read_moment(&g, path, name, t->model.v_mem + off, cnt);
    }
    if (st == SLM_OK && user_state && gguf_find(&g, "slm.train.user_state")) {
        if (!(*user_state = gguf_get_string(&g, "slm.train.user_state")))
            st = slm_error(SLM_ERR_FORMAT, "%s: slm.train.user_state is not a string", path);
    }
    gguf_close(&g);
    if (st != SLM_OK) {
        slm_trainer_free(t);
        if (user_state) {
            free(*user_state);
            *user_state = NULL;
        }
        return st;
    }
    t->step = (int)step;
    *out = t;
    return SLM_OK;
}

slm_status slm_checkpoint_user_state(const char *path, char **user_state) {
    if (!path || !user_state) return slm_error(SLM_ERR_INVALID_ARG, "slm_checkpoint_user_state: NULL argument");
    *user_state = NULL;
    gguf_file g;
    slm_status st = gguf_open(path, &g);
    if (st != SLM_OK) return st;
    if (!gguf_find(&g, "slm.train.version"))
        st = slm_error(SLM_ERR_FORMAT, "%s: not a training checkpoint (no slm.train.version)", path);
    else if (gguf_find(&g, "slm.train.user_state") && !(*user_state = gguf_get_string(&g, "slm.train.user_state")))
        st = slm_error(SLM_ERR_FORMAT, "%s: slm.train.user_state is not a string", path);
    gguf_close(&g);
    return st;
}

int slm_trainer_steps(const slm_trainer *t) { return t ? t->step : 0; }
slm_train_params slm_trainer_params(const slm_trainer *t) { return t ? t->p : slm_train_defaults(); }
const slm_tokenizer *slm_trainer_tokenizer(const slm_trainer *t) { return t ? t->tok : NULL; }

slm_model_config slm_trainer_config(const slm_trainer *t) {
    slm_model_config c = {0};
    if (!t) return c;
    const train_config *m = &t->model.cfg;
    c = (slm_model_config){.n_vocab = m->V, .n_embd = m->C, .n_ff = m->F, .n_layer = m->L, .n_head = m->NH,
                           .n_head_kv = m->KVH, .n_ctx = m->n_ctx, .norm_eps = m->norm_eps,
                           .rope_freq_base = m->rope_base, .tied_output = m->tied};
    return c;
}
