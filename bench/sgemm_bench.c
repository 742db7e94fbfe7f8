/* The machine's practical ceiling for dense float work: OpenBLAS sgemm, N x N,
 * with the same thread setting mlaudit uses. Prints one JSON line with the
 * median GFLOP/s over several runs.  Usage: mla_sgemm_bench [threads] [N] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlaudit/core.h"
#include "bench_util.h"

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0, n = argc > 2 ? atoi(argv[2]) : 2048;
    if (n < 16 || n > 16384) {
        fprintf(stderr, "mla_sgemm_bench: N must be in [16, 16384]\n");
        return 2;
    }
    mla_set_threads(threads);
    size_t count = (size_t)n * n;
    float *a = mla_alloc_aligned(count, sizeof(float)), *b = mla_alloc_aligned(count, sizeof(float)),
          *c = mla_alloc_aligned(count, sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "mla_sgemm_bench: out of memory\n");
        return 1;
    }
    mla_rng r;
    mla_rng_seed(&r, 1);
    for (size_t i = 0; i < count; i++) {
        a[i] = (float)mla_rng_uniform(&r);
        b[i] = (float)mla_rng_uniform(&r);
    }
    enum { RUNS = 7 };
    double gflops[RUNS];
    for (int k = -1; k < RUNS; k++) {
        double t0 = mla_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = mla_seconds() - t0;
        if (k >= 0) gflops[k] = 2.0 * n * (double)n * n / t / 1e9; /* k = -1 warms up */
    }
    qsort(gflops, RUNS, sizeof *gflops, bench_cmp_double);
    printf("{\"sgemm_n\": %d, \"threads\": %d, \"openblas_kernels\": \"%s\", \"gflops_median\": %.1f}\n", n,
           mla_get_threads(), openblas_get_corename(), gflops[RUNS / 2]);
    free(a);
    free(b);
    free(c);
    return 0;
}
