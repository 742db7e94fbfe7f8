/* mlaudit metrics: classification scores, stratified folds and a cross-validated grid
 * search over any classic.h model (exact binomial intervals live in scoring.h).
 *
 * Conventions: labels are int32 in [0, classes). A confusion matrix is classes x
 * classes int64, row = true class, column = predicted class.
 * Per-class figures (one-vs-rest, as R's caret reports them):
 *   sensitivity        cm[c][c] / (row c total)     share of class c found
 *   specificity        true negatives / all not-c   share of not-c kept out of c
 *   balanced accuracy  (sensitivity + specificity) / 2   ("per-class accuracy")
 * A class with no true (or no negative) samples gets NaN for the undefined share.
 */
#ifndef MLAUDIT_METRICS_H
#define MLAUDIT_METRICS_H

#include "mlaudit/classic.h"
#include "mlaudit/core.h"
#include "mlaudit/scoring.h" /* mla_betainc, mla_clopper_pearson: moved there */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scores ---- */

/* Fills cm (classes x classes, zeroed here). Fails on a label outside [0, classes). */
mla_status mla_confusion_matrix(const int32_t *truth, const int32_t *pred, int n, int classes, int64_t *cm);
/* Share of the diagonal (NaN for an empty matrix). */
double mla_accuracy_from_confusion(const int64_t *cm, int classes);
/* Cohen's kappa (p_o - p_e) / (1 - p_e); 1 when p_e = p_o = 1, NaN for an empty matrix. */
double mla_cohen_kappa(const int64_t *cm, int classes);
/* Per-class sensitivity, specificity and balanced accuracy (any output may be NULL). */
void mla_per_class_scores(const int64_t *cm, int classes, double *sensitivity, double *specificity,
                          double *balanced_accuracy);

/* ---- stratified k-fold ---- */

/* Assigns every sample a fold in [0, folds): each class is shuffled (seeded) and dealt
 * round-robin, continuing where the previous class stopped, so every fold holds each
 * class's share to within one sample and fold sizes differ by at most one.
 * Fails if folds < 2 or folds > n. */
mla_status mla_stratified_folds(const int32_t *labels, int n, int classes, int folds, uint64_t seed,
                                int32_t *fold_of);

/* ---- cross-validated grid search ---- */

/* One hyperparameter axis of a grid: name and its candidate values. */
typedef struct {
    const char *name;
    const double *values;
    int n_values;
} mla_grid_axis;

/* The outcome of a grid search. Settings enumerate the cartesian product of the axes
 * with the last axis varying fastest. Owned by the caller: free with mla_cv_result_free. */
typedef struct {
    int n_axes, n_settings, folds;
    char **names;            /* n_axes axis names (copies) */
    double *values;          /* n_settings x n_axes: each setting's values */
    double *mean_accuracy;   /* n_settings: mean over folds of the held-out accuracy */
    double *sd_accuracy;     /* n_settings: sample standard deviation over folds */
    double *fold_accuracy;   /* n_settings x folds */
    int best;                /* highest mean accuracy; ties go to the earlier setting */
    double seconds;
} mla_cv_result;

void mla_cv_result_free(mla_cv_result *r);

/* Called after each (setting, fold) fit; `done` of `total`. May be NULL. */
typedef void (*mla_cv_progress)(void *ctx, int done, int total);

/* For each setting (fixed params plus the setting's values) fits on folds-1 folds and
 * scores the held-out fold (stratified folds from `seed`; the model's seed is `seed`).
 * With refit != NULL, fits the best setting on all n rows and returns it in *refit
 * (owned by the caller). Fails on an empty axis, an axis name given twice or also
 * fixed, or any error of the model (with its message). */
mla_status mla_cv_grid(const char *kind, const mla_param *fixed, int n_fixed, const mla_grid_axis *axes, int n_axes,
                       const float *x, const int32_t *y, int n, int d, int classes, int folds, uint64_t seed,
                       mla_cv_progress progress, void *progress_ctx, mla_cv_result **out, mla_classifier **refit);

#ifdef __cplusplus
}
#endif
#endif
