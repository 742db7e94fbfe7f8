/* convt2d, NCHW: weight [in, out, k, k], bias [out]; the adjoint of conv2d (PyTorch's
 * ConvTranspose2d). Output size (h - 1) stride - 2 pad + k + out_pad. */
#include "nn/blas.h"
#include "nn/conv.h"
#include "nn/layer.h"

static mla_status ct_setup(mla_layer *l) {
    int k = l->kernel;
    if (l->out_pad >= l->stride)
        return mla_error(MLA_ERR_INVALID, "layer %s (convt2d): \"out_pad\" must be smaller than \"stride\"", l->name);
    int oh = (l->in.h - 1) * l->stride - 2 * l->pad + k + l->out_pad;
    int ow = (l->in.w - 1) * l->stride - 2 * l->pad + k + l->out_pad;
    l->out = (mla_shape){l->filters, oh, ow};
    if (oh <= 0 || ow <= 0) return MLA_OK; /* reported by the sequence as an empty output */
    mla_layer_add_tensor(l, "weight", true, 4, l->in.c, l->filters, k, k);
    if (l->bias) mla_layer_add_tensor(l, "bias", true, 1, l->filters, 0, 0, 0);
    l->macs = (double)l->in.c * l->filters * k * k * l->in.h * l->in.w;
    return MLA_OK;
}

static mla_status ct_reserve(mla_layer *l, int n) {
    (void)n;
    l->work_floats = (size_t)l->filters * l->kernel * l->kernel * l->in.h * l->in.w;
    return MLA_OK;
}

static void ct_init(mla_layer *l, float *p, mla_rng *rng) {
    /* PyTorch computes ConvTranspose2d's fan_in from weight.size(1) = out channels. */
    int fan_in = l->filters * l->kernel * l->kernel;
    mla_init_uniform(mla_layer_tensor(l, p, 0), (size_t)l->in.c * fan_in, fan_in, rng);
    if (l->bias) mla_init_uniform(mla_layer_tensor(l, p, 1), (size_t)l->filters, fan_in, rng);
}

static void ct_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int cin = l->in.c, cout = l->filters, k = l->kernel, rows = cout * k * k;
    int hw = l->in.h * l->in.w;
    size_t out_size = (size_t)mla_shape_size(l->out), ohw = (size_t)l->out.h * l->out.w;
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    const float *b = l->bias ? mla_layer_tensor(l, ctx->params, 1) : NULL;
    float *col = ctx->work;
    for (int s = 0; s < n; s++) {
        float *dst = y + (size_t)s * out_size;
        mla_sgemm(true, false, rows, hw, cin, 1.0f, w, rows, x + (size_t)s * cin * hw, hw, 0.0f, col, hw);
        for (int co = 0; co < cout; co++) {
            float bias = b ? b[co] : 0.0f;
            for (size_t q = 0; q < ohw; q++) dst[(size_t)co * ohw + q] = bias;
        }
        mla_col2im(col, (size_t)hw, cout, l->out.h, l->out.w, k, l->stride, l->pad, l->in.h, l->in.w, dst);
    }
}

static void ct_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                        mla_ctx *ctx) {
    (void)y;
    int cin = l->in.c, cout = l->filters, k = l->kernel, rows = cout * k * k;
    int hw = l->in.h * l->in.w;
    size_t out_size = (size_t)mla_shape_size(l->out), ohw = (size_t)l->out.h * l->out.w;
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    float *col = ctx->work;
    for (int s = n0; s < n0 + n; s++) {
        const float *g = dy + (size_t)s * out_size;
        mla_im2col(g, cout, l->out.h, l->out.w, k, l->stride, l->pad, l->in.h, l->in.w, col, (size_t)hw);
        if (ctx->param_grads) {
            mla_sgemm(false, true, cin, rows, hw, 1.0f, x + (size_t)s * cin * hw, hw, col, hw, 1.0f,
                      mla_layer_tensor(l, ctx->grads, 0), rows);
            if (l->bias) {
                float *db = mla_layer_tensor(l, ctx->grads, 1);
                for (int co = 0; co < cout; co++)
                    for (size_t q = 0; q < ohw; q++) db[co] += g[(size_t)co * ohw + q];
            }
        }
        if (dx) mla_sgemm(false, false, cin, hw, rows, 1.0f, w, rows, col, hw, 0.0f, dx + (size_t)s * cin * hw, hw);
    }
}

static mla_status ct_parse(mla_layer *l, const cJSON *j, int classes) { return mla_conv_parse_common(l, j, classes, true); }

const mla_op mla_op_convt2d = {"convt2d", ct_parse, ct_setup, ct_init, ct_forward, ct_backward,
                               NULL, ct_reserve, false, false, NULL};
