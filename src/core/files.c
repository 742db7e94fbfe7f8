/* Atomic file writes (temporary + fsync + rename) and whole-file reads. */
#include "mlaudit/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mla_atomic_file {
    FILE *fp;
    char *path;
    char *tmp;
};

mla_status mla_atomic_open(const char *path, mla_atomic_file **out) {
    *out = NULL;
    if (!path || !*path) return mla_error(MLA_ERR_INVALID, "empty output path");
    mla_atomic_file *f = mla_alloc(1, sizeof *f);
    size_t len = strlen(path);
    if (!f) return MLA_ERR_NOMEM;
    f->path = mla_alloc(len + 1, 1);
    f->tmp = mla_alloc(len + 16, 1);
    if (!f->path || !f->tmp) {
        free(f->path);
        free(f->tmp);
        free(f);
        return MLA_ERR_NOMEM;
    }
    memcpy(f->path, path, len + 1);
    snprintf(f->tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        mla_status s = mla_error(MLA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(f->path);
        free(f->tmp);
        free(f);
        return s;
    }
    fchmod(fd, 0644);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        unlink(f->tmp);
        free(f->path);
        free(f->tmp);
        free(f);
        return mla_error(MLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    *out = f;
    return MLA_OK;
}

FILE *mla_atomic_stream(mla_atomic_file *f) { return f->fp; }

static void atomic_free(mla_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

mla_status mla_atomic_commit(mla_atomic_file *f) {
    mla_status s = MLA_OK;
    int bad = ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
    int err = errno;
    if (fclose(f->fp) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (!bad && rename(f->tmp, f->path) != 0) {
        bad = 1;
        err = errno;
    }
    if (bad) {
        s = mla_error(MLA_ERR_IO, "%s: write failed: %s", f->path, strerror(err));
        unlink(f->tmp);
    }
    atomic_free(f);
    return s;
}

void mla_atomic_abort(mla_atomic_file *f) {
    if (!f) return;
    fclose(f->fp);
    unlink(f->tmp);
    atomic_free(f);
}

mla_status mla_write_file_atomic(const char *path, const void *data, size_t size) {
    mla_atomic_file *f;
    mla_status s = mla_atomic_open(path, &f);
    if (s) return s;
    if (size && fwrite(data, 1, size, f->fp) != size) {
        s = mla_error(MLA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        mla_atomic_abort(f);
        return s;
    }
    return mla_atomic_commit(f);
}

mla_status mla_read_file(const char *path, size_t max_size, char **out, size_t *size) {
    *out = NULL;
    if (size) *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mla_error(MLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return mla_error(MLA_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        fclose(fp);
        return mla_error(MLA_ERR_FORMAT, "%s: file too large (%lld bytes, limit %zu)", path,
                         (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = mla_alloc(n + 1, 1);
    if (!buf) {
        fclose(fp);
        return MLA_ERR_NOMEM;
    }
    if (fread(buf, 1, n, fp) != n) {
        fclose(fp);
        free(buf);
        return mla_error(MLA_ERR_IO, "%s: read failed", path);
    }
    fclose(fp);
    buf[n] = 0;
    *out = buf;
    if (size) *size = n;
    return MLA_OK;
}
