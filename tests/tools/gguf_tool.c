/* gguf_tool.c — test tool for GGUF interoperability with the gguf Python package.
 *   gguf_tool dump FILE      prints metadata and tensors as JSON (strings and tensor data
 *                            as hex, so no escaping question arises)
 *   gguf_tool copy IN OUT    reads IN with the reader and writes it again with the writer */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "formats/gguf.h"

static void print_hex(const void *p, uint64_t n) {
    putchar('"');
    for (uint64_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
    putchar('"');
}

static void print_scalar(const gguf_value *v) {
    switch (v->type) {
    case GGUF_TYPE_F32: case GGUF_TYPE_F64: printf("%.17g", v->f); break;
    case GGUF_TYPE_BOOL: printf("%s", v->u ? "true" : "false"); break;
    case GGUF_TYPE_I8: case GGUF_TYPE_I16: case GGUF_TYPE_I32: case GGUF_TYPE_I64: printf("%" PRId64, v->i); break;
    default: printf("%" PRIu64, v->u);
    }
}

static void print_value(const gguf_value *v) {
    printf("{\"type\": \"%s\", \"value\": ", gguf_type_name(v->type));
    switch (v->type) {
    case GGUF_TYPE_STRING: print_hex(v->str.ptr, v->str.len); break;
    case GGUF_TYPE_ARRAY:
        printf("{\"elem\": \"%s\", \"items\": [", gguf_type_name(v->arr.elem_type));
        for (uint64_t i = 0; i < v->arr.n; i++) {
            if (i) printf(", ");
            if (v->arr.elem_type == GGUF_TYPE_STRING) print_hex(v->arr.strs[i].ptr, v->arr.strs[i].len);
            else if (v->arr.elem_type == GGUF_TYPE_ARRAY) print_value(&v->arr.items[i]);
            else {
                gguf_value e = gguf_array_get(v, i);
                print_scalar(&e);
            }
        }
        printf("]}");
        break;
    default: print_scalar(v);
    }
    printf("}");
}

static int dump(const char *path) {
    gguf_file f;
    if (gguf_open(path, &f) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    printf("{\"version\": %u, \"alignment\": %" PRIu64 ", \"metadata\": {", f.version, f.alignment);
    for (uint64_t i = 0; i < f.n_kv; i++) {
        printf("%s\"%s\": ", i ? ", " : "", f.kv[i].key);
        print_value(&f.kv[i].value);
    }
    printf("}, \"tensors\": [");
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const gguf_tensor *t = &f.tensors[i];
        printf("%s{\"name\": \"%s\", \"type\": %u, \"shape\": [", i ? ", " : "", t->name, t->type);
        for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? ", " : "", t->ne[d]);
        printf("], \"offset\": %" PRIu64 ", \"data\": ", t->offset);
        print_hex(t->data, t->n_bytes);
        printf("}");
    }
    printf("]}\n");
    gguf_close(&f);
    return 0;
}

static int copy(const char *in, const char *out) {
    gguf_file f;
    if (gguf_open(in, &f) != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return 1;
    }
    gguf_writer *w = gguf_writer_new();
    slm_status st = w ? SLM_OK : SLM_ERR_NOMEM;
    for (uint64_t i = 0; i < f.n_kv && st == SLM_OK; i++) st = gguf_writer_set(w, f.kv[i].key, &f.kv[i].value);
    for (uint64_t i = 0; i < f.n_tensors && st == SLM_OK; i++) {
        const gguf_tensor *t = &f.tensors[i];
        st = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->n_bytes);
    }
    if (st == SLM_OK) st = gguf_writer_write(w, out);
    if (st != SLM_OK) fprintf(stderr, "error: %s\n", slm_last_error());
    gguf_writer_free(w);
    gguf_close(&f);
    return st == SLM_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "dump") == 0) return dump(argv[2]);
    if (argc == 4 && strcmp(argv[1], "copy") == 0) return copy(argv[2], argv[3]);
    fprintf(stderr, "usage: gguf_tool dump FILE | gguf_tool copy IN OUT\n");
    return 2;
}
