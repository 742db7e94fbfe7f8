/* Private: the one place the engine reaches BLAS. Row-major sgemm,
 * C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T. */
#ifndef MLAUDIT_NN_BLAS_H
#define MLAUDIT_NN_BLAS_H

#include <cblas.h>
#include <omp.h>
#include <stdbool.h>

static inline void mla_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                             const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
                lda, b, ldb, beta, c, ldc);
}

/* Called by each thread of a per-sample parallel region before its BLAS calls: they
 * run single-threaded however large the team. OpenBLAS's OpenMP build does so by itself
 * in an active region (a team of several), but in a team of one (one sample, or one
 * thread asked) it threads the product over omp_get_max_threads() with another split of
 * the sums, so a sample's bits would depend on the batch size: on MLA_ISA=portable a
 * ResNet's relu input 4e-7 below zero came out 3e-8 above it alone, and that sample's
 * gradient differed by 1e-2. The ICV set here lasts until the region ends. */
static inline void mla_blas_serial_in_region(void) { omp_set_num_threads(1); }

/* OpenMP only pays off above this many elements for memory-bound loops. */
#define MLA_PAR_MIN 32768

#endif
