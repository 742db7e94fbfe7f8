/* mlaudit PCA: principal components through LAPACK.
 *
 * Fitting centres the n x d training rows, forms the d x d covariance in double
 * (divisor n - 1, as scikit-learn) and takes its full eigendecomposition (dsyevr).
 * Components are sorted by decreasing variance; each eigenvector's sign is fixed so
 * that its largest-magnitude entry is positive (deterministic across runs).
 * A model keeps a number of components (all after fitting); choose it with
 * mla_pca_keep or mla_pca_keep_variance. Explained-variance figures always cover all
 * d components.
 *
 * Shapes: x is n x d row-major float32; scores are n x components.
 */
#ifndef MLAUDIT_PCA_H
#define MLAUDIT_PCA_H

#include "mlaudit/core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mla_pca mla_pca;

/* Fits on n >= 2 rows. *out owns the model; free with mla_pca_free. */
mla_status mla_pca_fit(const float *x, int n, int d, mla_pca **out);
void mla_pca_free(mla_pca *p);

/* Keeps the first `components` (1..available). After a load only the saved
 * components are available, so this can shrink but not grow them. */
mla_status mla_pca_keep(mla_pca *p, int components);
/* The fewest components whose cumulative explained-variance ratio exceeds `share`
 * (scikit-learn's rule for PCA(0.95)); share in (0, 1). */
int mla_pca_components_for_variance(const mla_pca *p, double share);
/* mla_pca_keep(p, mla_pca_components_for_variance(p, share)). */
mla_status mla_pca_keep_variance(mla_pca *p, double share);

int mla_pca_dim(const mla_pca *p);
int mla_pca_components(const mla_pca *p);
/* Borrowed views, valid until the next mla_pca_keep or free:
 * mean (d), explained variance and its ratio (d each, decreasing),
 * the kept components (components x d, orthonormal rows). */
const double *mla_pca_mean(const mla_pca *p);
const double *mla_pca_explained_variance(const mla_pca *p);
const double *mla_pca_explained_variance_ratio(const mla_pca *p);
const float *mla_pca_basis(const mla_pca *p);

/* Scores of n rows (n x components into out). */
mla_status mla_pca_transform(const mla_pca *p, const float *x, int n, float *out);
/* Rows rebuilt from n score vectors (n x d into out): mean + scores . basis. */
mla_status mla_pca_inverse_transform(const mla_pca *p, const float *scores, int n, float *out);

/* Writes / reads the kept model (mean, variances, kept basis) as part of a larger
 * stream; load validates every count and value. */
mla_status mla_pca_write(const mla_pca *p, FILE *fp);
mla_status mla_pca_read(FILE *fp, mla_pca **out);

#ifdef __cplusplus
}
#endif
#endif
