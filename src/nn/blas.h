/* Private: the one place the engine reaches BLAS. Row-major sgemm,
 * C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T. */
#ifndef MLAUDIT_NN_BLAS_H
#define MLAUDIT_NN_BLAS_H

#include <cblas.h>
#include <stdbool.h>

static inline void mla_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                             const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
                lda, b, ldb, beta, c, ldc);
}

/* OpenMP only pays off above this many elements for memory-bound loops. */
#define MLA_PAR_MIN 32768

#endif
