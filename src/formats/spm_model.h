/* spm_model.h — SentencePiece model files (.model: a serialised ModelProto), read with a
 * minimal protobuf wire-format decoder. Only what tokenization needs is kept:
 *   ModelProto { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
 *                NormalizerSpec normalizer_spec = 3; }
 *   SentencePiece { string piece = 1; float score = 2; Type type = 3 (default NORMAL); }
 *   TrainerSpec { model_type = 3; unk_id = 40; bos_id = 41; eos_id = 42; }
 *   NormalizerSpec { name = 1; precompiled_charsmap = 2; add_dummy_prefix = 3;
 *                    remove_extra_whitespaces = 4; escape_whitespaces = 5; } */
#ifndef SLM_FORMATS_SPM_MODEL_H
#define SLM_FORMATS_SPM_MODEL_H
#include <stdint.h>

#include "slm.h"

typedef struct {
    int n_pieces;
    char **piece;      /* (n_pieces) owned NUL-terminated strings */
    uint32_t *len;     /* (n_pieces) */
    float *score;      /* (n_pieces) */
    uint8_t *type;     /* (n_pieces) 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
    int model_type;    /* 1 unigram, 2 BPE, 3 word, 4 char */
    int unk_id, bos_id, eos_id;
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    char normalizer_name[64];
    uint64_t charsmap_bytes; /* size of the precompiled normalisation map (0: identity) */
} spm_model;

/* True if the bytes look like a serialised ModelProto (starts with a pieces field). */
int spm_model_looks_like(const uint8_t *data, size_t size);
/* Reads a SentencePiece .model file. Release with spm_model_free. */
slm_status spm_model_read(const char *path, spm_model *out);
/* Frees what spm_model_read allocated (a zeroed struct is fine). */
void spm_model_free(spm_model *m);

#endif
