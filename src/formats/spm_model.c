/* spm_model.c — a bounds-checked protobuf wire-format reader for SentencePiece .model files. */
#include "formats/spm_model.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/mapped_file.h"

typedef struct {
    const uint8_t *p, *end;
    const char *name;
    int bad;
} pb;

static uint64_t pb_varint(pb *r) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = 1;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

/* Reads one field header; returns 0 at the end of the message. */
static int pb_next(pb *r, uint32_t *field, uint32_t *wire) {
    if (r->p >= r->end || r->bad) return 0;
    uint64_t key = pb_varint(r);
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    return !r->bad;
}

/* A length-delimited payload as a sub-reader. */
static pb pb_sub(pb *r) {
    uint64_t n = pb_varint(r);
    pb sub = {r->p, r->p, r->name, 0};
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        sub.bad = 1;
        return sub;
    }
    sub.end = r->p + n;
    r->p += n;
    return sub;
}

static void pb_skip(pb *r, uint32_t wire) {
    switch (wire) {
    case 0: pb_varint(r); break;
    case 1: if (r->end - r->p < 8) r->bad = 1; else r->p += 8; break;
    case 2: pb_sub(r); break;
    case 5: if (r->end - r->p < 4) r->bad = 1; else r->p += 4; break;
    default: r->bad = 1;
    }
}

static float pb_fixed32_float(pb *r) {
    float f = 0.0f;
    if (r->end - r->p < 4) r->bad = 1;
    else {
        memcpy(&f, r->p, 4);
        r->p += 4;
    }
    return f;
}

int spm_model_looks_like(const uint8_t *data, size_t size) {
    return size >= 2 && data[0] == 0x0A; /* field 1, length-delimited */
}

void spm_model_free(spm_model *m) {
    if (m->piece)
        for (int i = 0; i < m->n_pieces; i++) free(m->piece[i]);
    free(m->piece);
    free(m->len);
    free(m->score);
    free(m->type);
    memset(m, 0, sizeof *m);
}

static void read_trainer(pb sub, spm_model *m) {
    uint32_t f, w;
    while (pb_next(&sub, &f, &w)) {
        if (w == 0 && (f == 3 || f == 40 || f == 41 || f == 42)) {
            int v = (int)(int32_t)pb_varint(&sub);
            if (f == 3) m->model_type = v;
            else if (f == 40) m->unk_id = v;
            else if (f == 41) m->bos_id = v;
            else m->eos_id = v;
        } else pb_skip(&sub, w);
    }
}

static void read_normalizer(pb sub, spm_model *m) {
    uint32_t f, w;
    while (pb_next(&sub, &f, &w)) {
        if (f == 1 && w == 2) {
            pb s = pb_sub(&sub);
            size_t n = (size_t)(s.end - s.p) < sizeof m->normalizer_name - 1 ? (size_t)(s.end - s.p) : sizeof m->normalizer_name - 1;
            memcpy(m->normalizer_name, s.p, n);
            m->normalizer_name[n] = '\0';
        } else if (f == 2 && w == 2) {
            pb s = pb_sub(&sub);
            m->charsmap_bytes = (uint64_t)(s.end - s.p);
        } else if (w == 0 && f >= 3 && f <= 5) {
            int v = pb_varint(&sub) != 0;
            if (f == 3) m->add_dummy_prefix = v;
            else if (f == 4) m->remove_extra_whitespaces = v;
            else m->escape_whitespaces = v;
        } else pb_skip(&sub, w);
    }
}

slm_status spm_model_read(const char *path, spm_model *m) {
    memset(m, 0, sizeof *m);
    slm_mapped_file mf;
    slm_status st = slm_map_file(path, &mf);
    if (st != SLM_OK) return st;
    m->unk_id = 0, m->bos_id = 1, m->eos_id = 2, m->model_type = 1;
    m->add_dummy_prefix = m->remove_extra_whitespaces = m->escape_whitespaces = 1;
    pb r = {mf.data, mf.data + mf.size, path, 0};
    /* First pass: count pieces. */
    uint32_t f, w;
    int n = 0;
    while (pb_next(&r, &f, &w)) {
        if (f == 1 && w == 2) n++;
        pb_skip(&r, w);
    }
    if (r.bad || n == 0) {
        st = slm_error(SLM_ERR_FORMAT, "%s: not a SentencePiece model (malformed protobuf or no pieces)", path);
        goto done;
    }
    m->piece = slm_calloc((size_t)n, sizeof(char *), "pieces");
    m->len = slm_calloc((size_t)n, sizeof(uint32_t), "piece lengths");
    m->score = slm_calloc((size_t)n, sizeof(float), "piece scores");
    m->type = slm_calloc((size_t)n, 1, "piece types");
    if (!m->piece || !m->len || !m->score || !m->type) {
        st = SLM_ERR_NOMEM;
        goto done;
    }
    r = (pb){mf.data, mf.data + mf.size, path, 0};
    while (pb_next(&r, &f, &w)) {
        if (w != 2 || f < 1 || f > 3) {
            pb_skip(&r, w);
            continue;
        }
        pb sub = pb_sub(&r);
        if (f == 2) read_trainer(sub, m);
        else if (f == 3) read_normalizer(sub, m);
        else {
            int i = m->n_pieces;
            const uint8_t *text = NULL;
            size_t text_len = 0;
            m->type[i] = 1;
            uint32_t pf, pw;
            while (pb_next(&sub, &pf, &pw)) {
                if (pf == 1 && pw == 2) {
                    pb s = pb_sub(&sub);
                    text = s.p;
                    text_len = (size_t)(s.end - s.p);
                } else if (pf == 2 && pw == 5) m->score[i] = pb_fixed32_float(&sub);
                else if (pf == 3 && pw == 0) m->type[i] = (uint8_t)pb_varint(&sub);
                else pb_skip(&sub, pw);
            }
            if (sub.bad || !text || m->type[i] < 1 || m->type[i] > 6) {
                st = slm_error(SLM_ERR_FORMAT, "%s: piece %d is malformed", path, i);
                goto done;
            }
            if (!(m->piece[i] = slm_strndup((const char *)text, text_len))) {
                st = SLM_ERR_NOMEM;
                goto done;
            }
            m->len[i] = (uint32_t)text_len;
            m->n_pieces++;
        }
    }
    if (r.bad) st = slm_error(SLM_ERR_FORMAT, "%s: truncated or malformed protobuf", path);
done:
    slm_unmap_file(&mf);
    if (st != SLM_OK) spm_model_free(m);
    return st;
}
