/* Helpers shared by the tests in tests/data: scratch folders and small files in
 * the formats the loaders read. Header-only (static) so each test stays one
 * executable. */
#ifndef MLA_DATA_TEST_UTIL_H
#define MLA_DATA_TEST_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* A fresh folder under /tmp; the caller removes it with rm_tree. */
static inline char *make_tmpdir(void) {
    char *dir = strdup("/tmp/mla_data_XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* "dir/name", malloc'd; the caller frees it. */
static inline char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static inline void rm_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *child = join(path, e->d_name);
            rm_tree(child);
            free(child);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static inline int write_bytes(const char *path, const void *data, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f) return -1;
        int ok = n == 0 || gzwrite(f, data, (unsigned)n) == (int)n;
        return gzclose(f) == Z_OK && ok ? 0 : -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static inline void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* An IDX images file: magic, n, rows, cols, then `bytes` of pixel data (which may
 * differ from n*rows*cols to make truncated or padded files). */
static inline int write_idx_images(const char *path, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                                   const uint8_t *pixels, size_t bytes, int gz) {
    unsigned char *buf = malloc(16 + bytes);
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    put_be32(buf + 8, rows);
    put_be32(buf + 12, cols);
    if (bytes) memcpy(buf + 16, pixels, bytes);
    int r = write_bytes(path, buf, 16 + bytes, gz);
    free(buf);
    return r;
}

static inline int write_idx_labels(const char *path, uint32_t magic, uint32_t n, const uint8_t *labels,
                                   size_t bytes, int gz) {
    unsigned char *buf = malloc(8 + bytes);
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    if (bytes) memcpy(buf + 8, labels, bytes);
    int r = write_bytes(path, buf, 8 + bytes, gz);
    free(buf);
    return r;
}

/* A .npy file written by hand: version major.0, the given dict text (padded with
 * spaces and a newline to a 64-byte boundary), then `bytes` of data. */
static inline int write_npy_raw(const char *path, int major, const char *dict, const void *data, size_t bytes) {
    size_t pre = major == 1 ? 10 : 12, dlen = strlen(dict);
    size_t total = (pre + dlen + 1 + 63) / 64 * 64, hlen = total - pre;
    unsigned char *buf = malloc(total + bytes);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major, buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(buf + pre, ' ', hlen);
    memcpy(buf + pre, dict, dlen);
    buf[total - 1] = '\n';
    if (bytes) memcpy(buf + total, data, bytes);
    int r = write_bytes(path, buf, total + bytes, 0);
    free(buf);
    return r;
}

#endif
