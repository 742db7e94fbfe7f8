/* Page tables filled ahead of first use (nn/layer.h: mla_prefault). */
#define _DEFAULT_SOURCE /* madvise, MADV_POPULATE_WRITE (Linux 5.14) */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nn/layer.h"

void mla_prefault(void *p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    long page = sysconf(_SC_PAGESIZE); /* per call: no shared state (callers are rare) */
    if (!p || page <= 0 || bytes < (size_t)page) return;
    uintptr_t a = (uintptr_t)p, first = (a + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page,
              end = (a + bytes) / (uintptr_t)page * (uintptr_t)page;
    /* Advice only: where the kernel refuses (before 5.14, or memory not anonymous) the
     * pages fault in on first touch as before. The contents are never changed. */
    if (end > first) (void)madvise((void *)first, end - first, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)bytes;
#endif
}
