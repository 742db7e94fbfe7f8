/* One thread setting for OpenMP and OpenBLAS (the OpenMP build of OpenBLAS). */
#include "mlaudit/core.h"

#include <omp.h>
#include <time.h>
#include <unistd.h>

void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

const char *mla_blas_core(void) { return openblas_get_corename(); }

static int current_threads = 0;

int mla_core_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void mla_set_threads(int n) {
    if (n <= 0) n = mla_core_count();
    current_threads = n;
    omp_set_dynamic(0);
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int mla_get_threads(void) { return current_threads > 0 ? current_threads : omp_get_max_threads(); }

double mla_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
