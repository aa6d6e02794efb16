/* zip_reader.c — a small reader of .zip archives for keyphrase datasets (the LIAAD layout is
 * shipped zipped): the central directory, and entries stored or deflated (zlib's raw inflate).
 * No Zip64, no encryption; every offset and size is checked against the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/error.h"
#include "task/keywords_internal.h"

typedef struct {
    char *name;
    uint32_t method, comp_size, size, local_offset;
} zip_entry;

struct kw_zip {
    char *path;
    unsigned char *data; /* the whole archive */
    size_t len;
    zip_entry *entries;
    int n;
};

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }

slm_status kw_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return slm_error(SLM_ERR_IO, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = (char *)malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = (char *)realloc(buf, 2 * cap + 1);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return slm_error(SLM_ERR_NOMEM, "%s: out of memory", path);
    if (err) {
        free(buf);
        return slm_error(SLM_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return SLM_OK;
}

void kw_zip_close(kw_zip *zip) {
    if (!zip) return;
    for (int i = 0; i < zip->n; i++) free(zip->entries[i].name);
    free(zip->entries);
    free(zip->data);
    free(zip->path);
    free(zip);
}

slm_status kw_zip_open(const char *path, kw_zip **out) {
    *out = NULL;
    kw_zip *zip = (kw_zip *)calloc(1, sizeof *zip);
    if (!zip) return slm_error(SLM_ERR_NOMEM, "out of memory");
    zip->path = strdup(path);
    slm_status st = kw_read_file(path, (char **)&zip->data, &zip->len);
    if (st != SLM_OK || !zip->path) {
        kw_zip_close(zip);
        return st != SLM_OK ? st : slm_error(SLM_ERR_NOMEM, "out of memory");
    }
    const unsigned char *d = zip->data;
    size_t len = zip->len;
    /* the end-of-central-directory record: 22 bytes plus a comment of up to 65535 */
    long eocd = -1;
    for (size_t back = 22; back <= len && back <= 22 + 65535; back++)
        if (rd32(d + len - back) == 0x06054b50) {
            eocd = (long)(len - back);
            break;
        }
    if (eocd < 0) {
        kw_zip_close(zip);
        return slm_error(SLM_ERR_FORMAT, "%s: not a zip archive (no end of central directory)", path);
    }
    uint32_t n_entries = rd16(d + eocd + 10), cd_size = rd32(d + eocd + 12), cd_offset = rd32(d + eocd + 16);
    if ((size_t)cd_offset + cd_size > (size_t)eocd || n_entries == 0xFFFF || cd_offset == 0xFFFFFFFFu) {
        kw_zip_close(zip);
        return slm_error(SLM_ERR_FORMAT, "%s: bad central directory (or Zip64, which is not supported)", path);
    }
    zip->entries = (zip_entry *)calloc(n_entries ? n_entries : 1, sizeof(zip_entry));
    if (!zip->entries) {
        kw_zip_close(zip);
        return slm_error(SLM_ERR_NOMEM, "out of memory");
    }
    size_t pos = cd_offset, end = (size_t)cd_offset + cd_size;
    for (uint32_t i = 0; i < n_entries; i++) {
        if (pos + 46 > end || rd32(d + pos) != 0x02014b50) {
            kw_zip_close(zip);
            return slm_error(SLM_ERR_FORMAT, "%s: central directory entry %u is malformed", path, i);
        }
        uint32_t name_len = rd16(d + pos + 28), extra_len = rd16(d + pos + 30), comment_len = rd16(d + pos + 32);
        if (pos + 46 + name_len + extra_len + comment_len > end) {
            kw_zip_close(zip);
            return slm_error(SLM_ERR_FORMAT, "%s: central directory entry %u overruns", path, i);
        }
        zip_entry *e = &zip->entries[zip->n];
        e->method = rd16(d + pos + 10);
        e->comp_size = rd32(d + pos + 20);
        e->size = rd32(d + pos + 24);
        e->local_offset = rd32(d + pos + 42);
        e->name = (char *)malloc(name_len + 1);
        if (!e->name) {
            kw_zip_close(zip);
            return slm_error(SLM_ERR_NOMEM, "out of memory");
        }
        memcpy(e->name, d + pos + 46, name_len);
        e->name[name_len] = '\0';
        zip->n++;
        pos += 46 + name_len + extra_len + comment_len;
    }
    *out = zip;
    return SLM_OK;
}

int kw_zip_count(const kw_zip *zip) { return zip->n; }
const char *kw_zip_name(const kw_zip *zip, int i) { return zip->entries[i].name; }

slm_status kw_zip_read(const kw_zip *zip, int i, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    const zip_entry *e = &zip->entries[i];
    const unsigned char *d = zip->data;
    size_t lo = e->local_offset;
    if (lo + 30 > zip->len || rd32(d + lo) != 0x04034b50)
        return slm_error(SLM_ERR_FORMAT, "%s: %s: bad local header", zip->path, e->name);
    size_t start = lo + 30 + rd16(d + lo + 26) + rd16(d + lo + 28);
    if (start > zip->len || e->comp_size > zip->len - start)
        return slm_error(SLM_ERR_FORMAT, "%s: %s: data overruns the archive", zip->path, e->name);
    if (e->size > (1u << 30)) return slm_error(SLM_ERR_RANGE, "%s: %s: entry over 1 GiB", zip->path, e->name);
    char *buf = (char *)malloc((size_t)e->size + 1);
    if (!buf) return slm_error(SLM_ERR_NOMEM, "out of memory");
    if (e->method == 0) {
        if (e->comp_size != e->size) {
            free(buf);
            return slm_error(SLM_ERR_FORMAT, "%s: %s: stored entry sizes differ", zip->path, e->name);
        }
        memcpy(buf, d + start, e->size);
    } else if (e->method == 8) {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            free(buf);
            return slm_error(SLM_ERR_NOMEM, "zlib: inflateInit2 failed");
        }
        zs.next_in = (Bytef *)(d + start);
        zs.avail_in = e->comp_size;
        zs.next_out = (Bytef *)buf;
        zs.avail_out = e->size;
        int rc = inflate(&zs, Z_FINISH);
        size_t produced = zs.total_out;
        inflateEnd(&zs);
        if (rc != Z_STREAM_END || produced != e->size) {
            free(buf);
            return slm_error(SLM_ERR_FORMAT, "%s: %s: corrupt deflate data", zip->path, e->name);
        }
    } else {
        free(buf);
        return slm_error(SLM_ERR_UNSUPPORTED, "%s: %s: compression method %u", zip->path, e->name, e->method);
    }
    buf[e->size] = '\0';
    *data = buf;
    *len = e->size;
    return SLM_OK;
}
