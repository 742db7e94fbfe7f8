/* dense: y = x W^T + b, with W of shape [units, in] (PyTorch's Linear layout).
 * Any input shape is flattened per sample. */
#include <string.h>

#include "nn/blas.h"
#include "nn/layer.h"

static mla_status dense_parse(mla_layer *l, const cJSON *j, int classes) {
    static const char *const keys[] = {"units", "bias", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_int(l, j, "units", -1, 1, 1 << 24, classes, &l->units);
    if (!s) s = mla_spec_bool(l, j, "bias", true, &l->bias);
    return s;
}

static mla_status dense_setup(mla_layer *l) {
    int in = mla_shape_size(l->in);
    l->out = (mla_shape){l->units, 1, 1};
    mla_layer_add_tensor(l, "weight", true, 2, l->units, in, 0, 0);
    if (l->bias) mla_layer_add_tensor(l, "bias", true, 1, l->units, 0, 0, 0);
    l->macs = (double)l->units * in;
    return MLA_OK;
}

static void dense_init(mla_layer *l, float *p, mla_rng *rng) {
    int in = mla_shape_size(l->in);
    mla_init_uniform(mla_layer_tensor(l, p, 0), (size_t)l->units * in, in, rng);
    if (l->bias) mla_init_uniform(mla_layer_tensor(l, p, 1), (size_t)l->units, in, rng);
}

static void dense_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int in = mla_shape_size(l->in), out = l->units;
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    if (l->bias) {
        const float *b = mla_layer_tensor(l, ctx->params, 1);
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
    }
    mla_sgemm(false, true, n, out, in, 1.0f, x, in, w, in, l->bias ? 1.0f : 0.0f, y, out);
}

static void dense_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                           mla_ctx *ctx) {
    (void)y;
    int in = mla_shape_size(l->in), out = l->units;
    x += (size_t)n0 * in;
    dy += (size_t)n0 * out;
    if (ctx->param_grads) {
        float *dw = mla_layer_tensor(l, ctx->grads, 0);
        mla_sgemm(true, false, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
        if (l->bias) {
            float *db = mla_layer_tensor(l, ctx->grads, 1);
            for (int i = 0; i < n; i++)
                for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
        }
    }
    if (dx) {
        const float *w = mla_layer_tensor(l, ctx->params, 0);
        mla_sgemm(false, false, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx + (size_t)n0 * in, in);
    }
}

const mla_op mla_op_dense = {"dense", dense_parse, dense_setup, dense_init, dense_forward, dense_backward, NULL, NULL};
