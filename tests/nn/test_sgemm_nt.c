/* mla_sgemm_nt (nn/sgemm_nt.h): C = A B^T against a double-precision product within the
 * float32 dot-product bound, on shapes that exercise every edge (rows not a multiple of
 * 8, B rows not a multiple of 32, depths across the packing depth), for the own kernels
 * and OpenBLAS alike, the own kernels on each family (AVX-512 where built, AVX2); they
 * give the same bits on 1 and 2 threads, and on either family; the leading dimension is
 * respected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/core.h"
#include "nn/gemm.h"
#include "nn/sgemm_nt.h"

static void fill(float *x, size_t n, uint64_t seed) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(2 * mla_rng_uniform(&r) - 1);
}

static void check_shape(int m, int n, int k, bool own) {
    int ldc = n + 3;
    float *a = malloc((size_t)m * k * 4), *b = malloc((size_t)n * k * 4), *c = malloc((size_t)m * ldc * 4);
    fill(a, (size_t)m * k, 1 + m), fill(b, (size_t)n * k, 2 + n);
    for (int i = 0; i < m * ldc; i++) c[i] = 7.0f; /* the gaps past n stay untouched */
    mla_sgemm_nt_with(own, m, n, k, a, b, c, ldc);
    double u = ldexp(1.0, -24), gamma = k * u / (1 - k * u);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0, abs = 0;
            for (int l = 0; l < k; l++) s += (double)a[i * k + l] * b[j * k + l], abs += fabs((double)a[i * k + l] * b[j * k + l]);
            if (fabs(c[i * ldc + j] - s) > gamma * abs * 1.01 + 1e-30)
                fail_msg("own %d %dx%dx%d: c[%d][%d] = %.9g, exact %.9g", own, m, n, k, i, j, c[i * ldc + j], s);
        }
        for (int j = n; j < ldc; j++) assert_true(c[i * ldc + j] == 7.0f);
    }
    free(a), free(b), free(c);
}

static void test_shapes(void **st) {
    (void)st;
    const int shapes[][3] = {{1, 1, 1}, {8, 32, 16}, {13, 45, 7}, {16, 64, 512}, {9, 33, 1030}, {37, 100, 513}, {3, 70, 2000}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int own = 0; own < 3; own++) { /* 2: the own kernels capped at AVX2 */
            mla_isa_force(own == 2 ? MLA_ISA_AVX2 : -1);
            check_shape(shapes[s][0], shapes[s][1], shapes[s][2], own > 0);
        }
    mla_isa_force(-1);
}

static void test_threads(void **st) {
    (void)st;
    if (mla_nn_kernels() == MLA_ISA_PORTABLE) skip(); /* no own kernels (MLA_ISA=portable): OpenBLAS's bits vary */
    enum { M = 21, N = 150, K = 1100 };
    float *a = malloc(M * K * 4), *b = malloc(N * K * 4), *c1 = malloc(M * N * 4), *c2 = malloc(M * N * 4);
    fill(a, M * K, 5), fill(b, N * K, 6);
    mla_set_threads(1);
    mla_sgemm_nt_with(true, M, N, K, a, b, c1, N);
    mla_set_threads(2);
    mla_sgemm_nt_with(true, M, N, K, a, b, c2, N);
    assert_memory_equal(c1, c2, M * N * 4);
    mla_isa_force(MLA_ISA_AVX2); /* the AVX2 family: the same bits */
    mla_sgemm_nt_with(true, M, N, K, a, b, c2, N);
    mla_isa_force(-1);
    assert_memory_equal(c1, c2, M * N * 4);
    mla_sgemm_nt(M, N, K, a, b, c2, N); /* the dispatching entry runs too */
    free(a), free(b), free(c1), free(c2);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shapes), cmocka_unit_test(test_threads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
