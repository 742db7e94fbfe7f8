/* mlaudit classic: classical classifiers behind one interface.
 *
 * Kinds: "knn", "svm" (RBF, libsvm), "logreg" (multinomial, L2), "nb" (Gaussian naive
 * Bayes), "rf" (random forest: native CART trees on binned features, scikit-learn's
 * defaults), "gbm" (stochastic gradient boosting, XGBoost), "avnnet" (averaged
 * single-hidden-layer nets).
 *
 * Data convention: x is n rows of d float32 features (row-major), y holds labels in
 * [0, classes). Probabilities are n x classes, rows summing to 1. Hyperparameters are
 * name=value pairs (e.g. k=5, C=1, gamma=0.01, trees=100); an unknown name is an
 * error that names it. Every model is seeded explicitly for reproducibility.
 */
#ifndef MLAUDIT_CLASSIC_H
#define MLAUDIT_CLASSIC_H

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mla_classifier mla_classifier;

typedef struct {
    const char *name;
    double value;
} mla_param;

/* A new, unfitted classifier of the given kind. *out owns it; free with mla_classifier_free. */
mla_status mla_classifier_create(const char *kind, const mla_param *params, int n_params, uint64_t seed,
                                 mla_classifier **out);
void mla_classifier_free(mla_classifier *c);

/* Fits on n rows of d features. x and y are read only during the call. */
mla_status mla_classifier_fit(mla_classifier *c, const float *x, const int32_t *y, int n, int d, int classes);
/* Class probabilities for n rows (n x classes written to proba). */
mla_status mla_classifier_predict_proba(const mla_classifier *c, const float *x, int n, float *proba);
/* Predicted labels (argmax of the probabilities, or the model's own decision). */
mla_status mla_classifier_predict(const mla_classifier *c, const float *x, int n, int32_t *labels);

/* Saves a fitted model to one file (atomic) and loads it back. */
mla_status mla_classifier_save(const mla_classifier *c, const char *path);
mla_status mla_classifier_load(const char *path, mla_classifier **out);

/* Figures some kinds compute while fitting (today: rf). MLA_ERR_UNSUPPORTED for a kind
 * without them, MLA_ERR_INVALID before fit.
 * importances: d values (mla_classifier_dim) summing to 1 (all 0 when the model made no
 * split): the mean impurity decrease per feature, scikit-learn's feature_importances_.
 * oob_accuracy: accuracy on the training rows of the trees that did not see them
 * (NaN when no row was left out); kept in model files. */
mla_status mla_classifier_importances(const mla_classifier *c, double *out);
mla_status mla_classifier_oob_accuracy(const mla_classifier *c, double *accuracy);

const char *mla_classifier_kind(const mla_classifier *c);
int mla_classifier_classes(const mla_classifier *c);
int mla_classifier_dim(const mla_classifier *c);
/* The names of the hyperparameters a kind accepts, NULL-terminated; borrowed. */
const char *const *mla_classifier_param_names(const char *kind);
/* The kinds, NULL-terminated; borrowed. */
const char *const *mla_classifier_kinds(void);

#ifdef __cplusplus
}
#endif
#endif
