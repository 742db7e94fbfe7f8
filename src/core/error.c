/* Status strings and the per-thread last-error message. */
#include "mlaudit/core.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *mla_status_string(mla_status s) {
    switch (s) {
    case MLA_OK: return "ok";
    case MLA_ERR_INVALID: return "invalid argument";
    case MLA_ERR_IO: return "i/o error";
    case MLA_ERR_FORMAT: return "bad file format";
    case MLA_ERR_SHAPE: return "shape mismatch";
    case MLA_ERR_NOMEM: return "out of memory";
    case MLA_ERR_UNSUPPORTED: return "unsupported";
    case MLA_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

const char *mla_last_error(void) { return last_error; }

mla_status mla_error(mla_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

mla_status mla_error_prefix(mla_status s, const char *fmt, ...) {
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3, m = strlen(old);
    if (m > room) m = room;
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = 0;
    return s;
}

void *mla_alloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        mla_error(MLA_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) mla_error(MLA_ERR_NOMEM, "out of memory allocating %zu bytes", count * size);
    return p;
}

void *mla_alloc_aligned(size_t count, size_t size) {
    if (size && count > (SIZE_MAX - 64) / size) {
        mla_error(MLA_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    size_t bytes = (count * size + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) mla_error(MLA_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}
