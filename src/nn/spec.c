/* Reading layer hyperparameters from a JSON spec, with errors naming the layer. */
#include <math.h>
#include <string.h>

#include "nn/layer.h"

mla_status mla_spec_int(const mla_layer *l, const cJSON *j, const char *key, int def, int lo, int hi,
                        int classes, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) {
        if (def < lo) return mla_error(MLA_ERR_INVALID, "layer %s (%s): missing \"%s\"", l->name, l->op->type, key);
        *out = def;
        return MLA_OK;
    }
    double x;
    if (cJSON_IsString(v) && classes > 0 && !strcmp(v->valuestring, "classes"))
        x = classes;
    else if (cJSON_IsNumber(v))
        x = v->valuedouble;
    else
        return mla_error(MLA_ERR_INVALID, "layer %s (%s): \"%s\" must be an integer%s", l->name, l->op->type, key,
                         classes > 0 ? " or \"classes\"" : "");
    if (x != floor(x) || x < lo || x > hi)
        return mla_error(MLA_ERR_INVALID, "layer %s (%s): \"%s\" must be an integer in [%d, %d], got %g", l->name,
                         l->op->type, key, lo, hi, x);
    *out = (int)x;
    return MLA_OK;
}

mla_status mla_spec_num(const mla_layer *l, const cJSON *j, const char *key, double def, double lo, double hi,
                        float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) {
        *out = (float)def;
        return MLA_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return mla_error(MLA_ERR_INVALID, "layer %s (%s): \"%s\" must be a number in [%g, %g]", l->name,
                         l->op->type, key, lo, hi);
    *out = (float)v->valuedouble;
    return MLA_OK;
}

mla_status mla_spec_bool(const mla_layer *l, const cJSON *j, const char *key, bool def, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) {
        *out = def;
        return MLA_OK;
    }
    if (!cJSON_IsBool(v))
        return mla_error(MLA_ERR_INVALID, "layer %s (%s): \"%s\" must be true or false", l->name, l->op->type, key);
    *out = cJSON_IsTrue(v);
    return MLA_OK;
}

mla_status mla_spec_keys(const mla_layer *l, const cJSON *j, const char *const *allowed) {
    const cJSON *item;
    cJSON_ArrayForEach(item, j) {
        const char *k = item->string;
        bool ok = !strcmp(k, "type") || !strcmp(k, "name");
        for (int i = 0; !ok && allowed && allowed[i]; i++) ok = !strcmp(k, allowed[i]);
        if (!ok) return mla_error(MLA_ERR_INVALID, "layer %s (%s): unknown key \"%s\"", l->name, l->op->type, k);
    }
    return MLA_OK;
}

void mla_init_uniform(float *w, size_t n, int fan_in, mla_rng *rng) {
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0;
    for (size_t i = 0; i < n; i++) w[i] = (float)((2.0 * mla_rng_uniform(rng) - 1.0) * bound);
}
