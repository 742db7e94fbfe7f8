/* Placeholder so the library links; the full implementation follows. */
#include "classic/classifier_impl.h"

#include <stdlib.h>

static const char *const svm_param_names[] = {"C", "gamma", "probability", "cache_mb", NULL};

static mla_status svm_create(const mla_param *params, int n_params, uint64_t seed, void **state)
{
    (void)params; (void)n_params; (void)seed;
    *state = mla_alloc(1, 64);
    return *state ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status svm_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes)
{
    (void)state; (void)x; (void)y; (void)n; (void)d; (void)classes;
    return mla_error(MLA_ERR_UNSUPPORTED, "svm: not implemented yet");
}

static mla_status svm_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba)
{
    (void)state; (void)x; (void)n; (void)d; (void)classes; (void)proba;
    return mla_error(MLA_ERR_UNSUPPORTED, "svm: not implemented yet");
}

static mla_status svm_save(const void *state, FILE *fp)
{
    (void)state; (void)fp;
    return mla_error(MLA_ERR_UNSUPPORTED, "svm: not implemented yet");
}

static mla_status svm_load(FILE *fp, int d, int classes, void **state)
{
    (void)fp; (void)d; (void)classes; *state = NULL;
    return mla_error(MLA_ERR_UNSUPPORTED, "svm: not implemented yet");
}

static void svm_free(void *state) { free(state); }

const mla_classifier_ops mla_svm_ops = {
    .kind = "svm", .param_names = svm_param_names, .create = svm_create, .fit = svm_fit,
    .predict_proba = svm_predict_proba, .predict = NULL, .save = svm_save, .load = svm_load, .free = svm_free,
};
