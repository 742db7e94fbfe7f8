/* Placeholder so the library links; the full implementation follows. */
#include "classic/classifier_impl.h"

#include <stdlib.h>

static const char *const logreg_param_names[] = {"C", "max_iter", "tol", NULL};

static mla_status logreg_create(const mla_param *params, int n_params, uint64_t seed, void **state)
{
    (void)params; (void)n_params; (void)seed;
    *state = mla_alloc(1, 64);
    return *state ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status logreg_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes)
{
    (void)state; (void)x; (void)y; (void)n; (void)d; (void)classes;
    return mla_error(MLA_ERR_UNSUPPORTED, "logreg: not implemented yet");
}

static mla_status logreg_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba)
{
    (void)state; (void)x; (void)n; (void)d; (void)classes; (void)proba;
    return mla_error(MLA_ERR_UNSUPPORTED, "logreg: not implemented yet");
}

static mla_status logreg_save(const void *state, FILE *fp)
{
    (void)state; (void)fp;
    return mla_error(MLA_ERR_UNSUPPORTED, "logreg: not implemented yet");
}

static mla_status logreg_load(FILE *fp, int d, int classes, void **state)
{
    (void)fp; (void)d; (void)classes; *state = NULL;
    return mla_error(MLA_ERR_UNSUPPORTED, "logreg: not implemented yet");
}

static void logreg_free(void *state) { free(state); }

const mla_classifier_ops mla_logreg_ops = {
    .kind = "logreg", .param_names = logreg_param_names, .create = logreg_create, .fit = logreg_fit,
    .predict_proba = logreg_predict_proba, .predict = NULL, .save = logreg_save, .load = logreg_load, .free = logreg_free,
};
