/* Private: the table entry each classical model kind provides (one file per kind). */
#ifndef MLAUDIT_CLASSIFIER_IMPL_H
#define MLAUDIT_CLASSIFIER_IMPL_H

#include "mlaudit/classic.h"

#include <stdio.h>

/* One kind of model. `state` is the kind's own struct, created by `create`.
 * save/load write and read the kind's state as a byte stream after the common
 * header that classifier.c writes (kind, dims, classes). */
typedef struct {
    const char *kind;
    const char *const *param_names;   /* NULL-terminated */
    mla_status (*create)(const mla_param *params, int n_params, uint64_t seed, void **state);
    mla_status (*fit)(void *state, const float *x, const int32_t *y, int n, int d, int classes);
    mla_status (*predict_proba)(const void *state, const float *x, int n, int d, int classes, float *proba);
    /* Optional (NULL: argmax of predict_proba). */
    mla_status (*predict)(const void *state, const float *x, int n, int d, int classes, int32_t *labels);
    mla_status (*save)(const void *state, FILE *fp);
    mla_status (*load)(FILE *fp, int d, int classes, void **state);
    void (*free)(void *state);
    /* Optional figures of a fitted model (NULL: the kind has none): d importances summing
     * to 1, and the out-of-bag accuracy. */
    mla_status (*importances)(const void *state, double *out);
    mla_status (*oob_accuracy)(const void *state, double *accuracy);
} mla_classifier_ops;

/* Copies name=value pairs into values[] (preset with defaults, parallel to the NULL-terminated
 * names) and, unless given is NULL, sets bit j of *given for each names[j] seen. Unknown names
 * are refused with a message naming the kind and the name. */
mla_status mla_classic_read_params(const char *kind, const char *const *names, const mla_param *params, int n_params,
                                   double *values, unsigned *given);

extern const mla_classifier_ops mla_knn_ops, mla_svm_ops, mla_logreg_ops, mla_nb_ops, mla_rf_ops, mla_gbm_ops;

#endif
