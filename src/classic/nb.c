/* Placeholder so the library links; the full implementation follows. */
#include "classic/classifier_impl.h"

#include <stdlib.h>

static const char *const nb_param_names[] = {"var_smoothing", NULL};

static mla_status nb_create(const mla_param *params, int n_params, uint64_t seed, void **state)
{
    (void)params; (void)n_params; (void)seed;
    *state = mla_alloc(1, 64);
    return *state ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status nb_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes)
{
    (void)state; (void)x; (void)y; (void)n; (void)d; (void)classes;
    return mla_error(MLA_ERR_UNSUPPORTED, "nb: not implemented yet");
}

static mla_status nb_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba)
{
    (void)state; (void)x; (void)n; (void)d; (void)classes; (void)proba;
    return mla_error(MLA_ERR_UNSUPPORTED, "nb: not implemented yet");
}

static mla_status nb_save(const void *state, FILE *fp)
{
    (void)state; (void)fp;
    return mla_error(MLA_ERR_UNSUPPORTED, "nb: not implemented yet");
}

static mla_status nb_load(FILE *fp, int d, int classes, void **state)
{
    (void)fp; (void)d; (void)classes; *state = NULL;
    return mla_error(MLA_ERR_UNSUPPORTED, "nb: not implemented yet");
}

static void nb_free(void *state) { free(state); }

const mla_classifier_ops mla_nb_ops = {
    .kind = "nb", .param_names = nb_param_names, .create = nb_create, .fit = nb_fit,
    .predict_proba = nb_predict_proba, .predict = NULL, .save = nb_save, .load = nb_load, .free = nb_free,
};
