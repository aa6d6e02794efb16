/* quant_tool.c — test tool for the reference quantisers, driven by tests/peers/test_quants.py.
 *   quant_tool dequant TYPE_ID IN.bin OUT.f32   raw blocks of type TYPE_ID -> f32
 *   quant_tool quant TYPE_ID IN.f32 OUT.bin     f32 -> raw blocks of type TYPE_ID */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants.h"

/* Reads a whole file into a malloc'd buffer; returns NULL (with a message) on failure. */
static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    void *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(len ? (size_t)len : 1);
        if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (!buf) fprintf(stderr, "%s: cannot read\n", path);
    *size = (size_t)len;
    return buf;
}

static int write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

/* Converts IN to OUT as the usage line says; exit status 0 on success. */
int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "dequant") && strcmp(argv[1], "quant"))) {
        fprintf(stderr, "usage: quant_tool dequant|quant TYPE_ID IN OUT\n");
        return 2;
    }
    const slm_type type = (slm_type)atoi(argv[2]);
    const slm_type_traits *tr = slm_type_info(type);
    if (!quant_type_supported(type)) {
        fprintf(stderr, "type %s is not supported\n", argv[2]);
        return 2;
    }
    const bool dequant = !strcmp(argv[1], "dequant");
    size_t size;
    void *in = read_file(argv[3], &size);
    if (!in) return 1;
    const size_t unit = dequant ? (size_t)tr->block_bytes : (size_t)tr->block_elems * sizeof(float);
    if (size % unit != 0) {
        fprintf(stderr, "%s: %zu bytes is not a whole number of %zu-byte units\n", argv[3], size, unit);
        free(in);
        return 1;
    }
    const size_t blocks = size / unit, n = blocks * (size_t)tr->block_elems;
    const size_t out_size = dequant ? n * sizeof(float) : blocks * (size_t)tr->block_bytes;
    void *out = malloc(out_size ? out_size : 1);
    if (!out) {
        free(in);
        return 1;
    }
    if (dequant) dequantize_row(type, in, out, (int64_t)n);
    else quantize_row(type, in, out, (int64_t)n);
    const int rc = write_file(argv[4], out, out_size);
    free(in);
    free(out);
    return rc;
}
