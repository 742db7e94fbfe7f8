/* Reading plain or gzip files through one interface, with declared sizes checked
 * against what the file can hold. */
#include "data/data_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deflate cannot inflate more than 1032 bytes per compressed byte; the slack
 * covers tiny files. */
#define GZIP_MAX_RATIO 1032u
#define GZIP_SLACK 65536u

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

mla_status data_find_file(const char *path, char *buf, size_t size) {
    if (snprintf(buf, size, "%s", path) >= (int)size)
        return mla_error(MLA_ERR_INVALID, "%s: path too long", path);
    if (file_exists(buf)) return MLA_OK;
    if (snprintf(buf, size, "%s.gz", path) >= (int)size)
        return mla_error(MLA_ERR_INVALID, "%s: path too long", path);
    if (file_exists(buf)) return MLA_OK;
    snprintf(buf, size, "%s", path);
    return mla_error(MLA_ERR_IO, "%s: cannot open (nor %s.gz): %s", path, path, strerror(ENOENT));
}

static int has_gzip_magic(int fd) {
    unsigned char magic[2];
    ssize_t got = read(fd, magic, 2);
    lseek(fd, 0, SEEK_SET);
    return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

mla_status data_file_open(data_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->path = path;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mla_error(MLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mla_error(MLA_ERR_IO, "%s: not a regular file", path);
    }
    f->size = (uint64_t)st.st_size;
    if (has_gzip_magic(fd)) {
        f->gz = gzdopen(fd, "rb");
        if (f->gz) gzbuffer(f->gz, 1u << 18);
    } else {
        f->fp = fdopen(fd, "rb");
    }
    if (!f->gz && !f->fp) {
        close(fd);
        return mla_error(MLA_ERR_NOMEM, "%s: cannot open a stream", path);
    }
    return MLA_OK;
}

void data_file_close(data_file *f) {
    if (f->gz) gzclose(f->gz);
    if (f->fp) fclose(f->fp);
    f->gz = NULL;
    f->fp = NULL;
}

/* zlib's message without the "<fd:N>: " it prefixes for streams opened by fd. */
static const char *gz_message(gzFile gz, int *code) {
    const char *msg = gzerror(gz, code);
    const char *colon = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
    return colon ? colon + 2 : msg;
}

/* Bytes actually read; sets *err for a gzip stream error (bad data, bad CRC). */
static size_t raw_read(data_file *f, void *buf, size_t n, const char **err) {
    *err = NULL;
    if (f->fp) return fread(buf, 1, n, f->fp);
    size_t done = 0;
    while (done < n) {
        unsigned chunk = n - done > (1u << 30) ? (1u << 30) : (unsigned)(n - done);
        int got = gzread(f->gz, (char *)buf + done, chunk);
        if (got < 0) {
            int code;
            *err = gz_message(f->gz, &code);
            break;
        }
        done += (size_t)got;
        if ((unsigned)got < chunk) {
            int code;
            const char *msg = gz_message(f->gz, &code);
            if (code != Z_OK) *err = msg;
            break;
        }
    }
    return done;
}

mla_status data_file_read(data_file *f, void *buf, size_t n, const char *what) {
    const char *err;
    size_t got = raw_read(f, buf, n, &err);
    f->pos += got;
    if (got == n) return MLA_OK;
    if (err && *err)
        return mla_error(MLA_ERR_FORMAT, "%s: truncated or corrupt while reading %s (%zu of %zu bytes): %s",
                         f->path, what, got, n, err);
    return mla_error(MLA_ERR_FORMAT, "%s: truncated: %s needs %zu bytes, the file ends after %zu", f->path,
                     what, n, got);
}

mla_status data_file_check_payload(data_file *f, uint64_t need, const char *what) {
    if (f->gz) {
        uint64_t bound = f->size * GZIP_MAX_RATIO + GZIP_SLACK;
        if (f->size > UINT64_MAX / GZIP_MAX_RATIO / 2 || need <= bound) return MLA_OK;
        return mla_error(MLA_ERR_FORMAT,
                         "%s: declares %s (%llu bytes), more than a %llu-byte gzip file can hold",
                         f->path, what, (unsigned long long)need, (unsigned long long)f->size);
    }
    uint64_t left = f->size > f->pos ? f->size - f->pos : 0;
    if (need > left)
        return mla_error(MLA_ERR_FORMAT, "%s: truncated: declares %s (%llu bytes) but only %llu bytes follow",
                         f->path, what, (unsigned long long)need, (unsigned long long)left);
    if (need < left)
        return mla_error(MLA_ERR_FORMAT, "%s: %llu trailing bytes after the declared %s", f->path,
                         (unsigned long long)(left - need), what);
    return MLA_OK;
}

mla_status data_file_expect_end(data_file *f) {
    unsigned char extra[256];
    const char *err;
    size_t got = raw_read(f, extra, sizeof extra, &err);
    if (got > 0) {
        if (f->fp) {
            uint64_t left = f->size > f->pos ? f->size - f->pos : got;
            return mla_error(MLA_ERR_FORMAT, "%s: %llu trailing bytes after the declared data", f->path,
                             (unsigned long long)left);
        }
        return mla_error(MLA_ERR_FORMAT, "%s: trailing bytes after the declared data", f->path);
    }
    if (err && *err) return mla_error(MLA_ERR_FORMAT, "%s: truncated or corrupt gzip stream: %s", f->path, err);
    return MLA_OK;
}
