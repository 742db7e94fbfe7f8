/* Placeholder so the library links; the full implementation follows. */
#include "classic/classifier_impl.h"

#include <stdlib.h>

static const char *const rf_param_names[] = {"trees", "max_depth", "subsample", "colsample", NULL};

static mla_status rf_create(const mla_param *params, int n_params, uint64_t seed, void **state)
{
    (void)params; (void)n_params; (void)seed;
    *state = mla_alloc(1, 64);
    return *state ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status rf_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes)
{
    (void)state; (void)x; (void)y; (void)n; (void)d; (void)classes;
    return mla_error(MLA_ERR_UNSUPPORTED, "rf: not implemented yet");
}

static mla_status rf_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba)
{
    (void)state; (void)x; (void)n; (void)d; (void)classes; (void)proba;
    return mla_error(MLA_ERR_UNSUPPORTED, "rf: not implemented yet");
}

static mla_status rf_save(const void *state, FILE *fp)
{
    (void)state; (void)fp;
    return mla_error(MLA_ERR_UNSUPPORTED, "rf: not implemented yet");
}

static mla_status rf_load(FILE *fp, int d, int classes, void **state)
{
    (void)fp; (void)d; (void)classes; *state = NULL;
    return mla_error(MLA_ERR_UNSUPPORTED, "rf: not implemented yet");
}

static void rf_free(void *state) { free(state); }

const mla_classifier_ops mla_rf_ops = {
    .kind = "rf", .param_names = rf_param_names, .create = rf_create, .fit = rf_fit,
    .predict_proba = rf_predict_proba, .predict = NULL, .save = rf_save, .load = rf_load, .free = rf_free,
};


static const char *const gbm_param_names[] = {"trees", "eta", "max_depth", "subsample", "colsample", NULL};

static mla_status gbm_create(const mla_param *params, int n_params, uint64_t seed, void **state)
{
    (void)params; (void)n_params; (void)seed;
    *state = mla_alloc(1, 64);
    return *state ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status gbm_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes)
{
    (void)state; (void)x; (void)y; (void)n; (void)d; (void)classes;
    return mla_error(MLA_ERR_UNSUPPORTED, "gbm: not implemented yet");
}

static mla_status gbm_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba)
{
    (void)state; (void)x; (void)n; (void)d; (void)classes; (void)proba;
    return mla_error(MLA_ERR_UNSUPPORTED, "gbm: not implemented yet");
}

static mla_status gbm_save(const void *state, FILE *fp)
{
    (void)state; (void)fp;
    return mla_error(MLA_ERR_UNSUPPORTED, "gbm: not implemented yet");
}

static mla_status gbm_load(FILE *fp, int d, int classes, void **state)
{
    (void)fp; (void)d; (void)classes; *state = NULL;
    return mla_error(MLA_ERR_UNSUPPORTED, "gbm: not implemented yet");
}

static void gbm_free(void *state) { free(state); }

const mla_classifier_ops mla_gbm_ops = {
    .kind = "gbm", .param_names = gbm_param_names, .create = gbm_create, .fit = gbm_fit,
    .predict_proba = gbm_predict_proba, .predict = NULL, .save = gbm_save, .load = gbm_load, .free = gbm_free,
};
