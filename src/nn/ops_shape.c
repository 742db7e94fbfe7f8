/* flatten and reshape: the same numbers, another per-sample shape. */
#include <string.h>

#include "nn/layer.h"

static mla_status flatten_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    return mla_spec_keys(l, j, NULL);
}

static mla_status flatten_setup(mla_layer *l) {
    l->out = (mla_shape){mla_shape_size(l->in), 1, 1};
    return MLA_OK;
}

static mla_status reshape_parse(mla_layer *l, const cJSON *j, int classes) {
    static const char *const keys[] = {"shape", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (s) return s;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    int dims[3] = {1, 1, 1}, k = 0;
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) < 1 || cJSON_GetArraySize(shape) > 3)
        return mla_error(MLA_ERR_INVALID, "layer %s (reshape): \"shape\" must be an array [C], [C, H] or [C, H, W]",
                         l->name);
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        if (!cJSON_IsNumber(d) && !cJSON_IsString(d))
            return mla_error(MLA_ERR_INVALID, "layer %s (reshape): shape entries must be positive integers", l->name);
        if (cJSON_IsString(d) && strcmp(d->valuestring, "classes"))
            return mla_error(MLA_ERR_INVALID, "layer %s (reshape): shape entries must be positive integers", l->name);
        double v = cJSON_IsString(d) ? classes : d->valuedouble;
        if (v < 1 || v > (1 << 24) || v != (int)v)
            return mla_error(MLA_ERR_INVALID, "layer %s (reshape): shape entries must be positive integers", l->name);
        dims[k++] = (int)v;
    }
    l->target = (mla_shape){dims[0], dims[1], dims[2]};
    return MLA_OK;
}

static mla_status reshape_setup(mla_layer *l) {
    if (mla_shape_size(l->target) != mla_shape_size(l->in))
        return mla_error(MLA_ERR_SHAPE, "layer %s (reshape): cannot reshape %dx%dx%d (%d values) to %dx%dx%d (%d)",
                         l->name, l->in.c, l->in.h, l->in.w, mla_shape_size(l->in), l->target.c, l->target.h,
                         l->target.w, mla_shape_size(l->target));
    l->out = l->target;
    return MLA_OK;
}

static void copy_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    (void)ctx;
    memcpy(y, x, (size_t)n * (size_t)mla_shape_size(l->in) * sizeof(float));
}

static void copy_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                          mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    size_t size = (size_t)mla_shape_size(l->in);
    memcpy(dx + (size_t)n0 * size, dy + (size_t)n0 * size, (size_t)n * size * sizeof(float));
}

const mla_op mla_op_flatten = {"flatten", flatten_parse, flatten_setup, NULL, copy_forward, copy_backward,
                               NULL, NULL, false, false, NULL};
const mla_op mla_op_reshape = {"reshape", reshape_parse, reshape_setup, NULL, copy_forward, copy_backward,
                               NULL, NULL, false, false, NULL};
