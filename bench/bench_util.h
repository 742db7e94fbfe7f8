/* Small helpers shared by the C bench programs (header-only: each bench is one file). */
#ifndef MLA_BENCH_UTIL_H
#define MLA_BENCH_UTIL_H

#include <time.h>

/* The whole process's CPU time (all threads, user + system), in seconds. */
static inline double bench_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* qsort comparator for ascending doubles (medians, percentiles). */
static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
