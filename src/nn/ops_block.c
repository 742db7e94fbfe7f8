/* Blocks:
 *   residual  y = body(x) + shortcut(x); "shortcut" omitted or [] is the identity.
 *             Both are layer arrays; their outputs must have the same shape.
 *   se        squeeze-and-excitation: s = mean_hw(x); e = sigmoid(W2 act(W1 s + b1) + b2);
 *             y = x * e (per channel). W1 [units, C], W2 [C, units]; act relu or silu. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/layer.h"
#include "nn/mathf.h"
#include "nn/reduce.h"

/* ---- residual ---- */

static mla_status residual_parse(mla_layer *l, const cJSON *j, int classes) {
    static const char *const keys[] = {"body", "shortcut", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (s) return s;
    l->body = mla_alloc(1, sizeof *l->body);
    l->shortcut = mla_alloc(1, sizeof *l->shortcut);
    if (!l->body || !l->shortcut) return MLA_ERR_NOMEM;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
    const cJSON *shortcut = cJSON_GetObjectItemCaseSensitive(j, "shortcut");
    if (!body) return mla_error(MLA_ERR_INVALID, "layer %s (residual): missing \"body\"", l->name);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.body", l->name);
    s = mla_seq_parse(l->body, body, prefix, classes);
    if (!s && l->body->n == 0) s = mla_error(MLA_ERR_INVALID, "layer %s (residual): \"body\" is empty", l->name);
    snprintf(prefix, sizeof prefix, "%s.shortcut", l->name);
    if (!s && shortcut) s = mla_seq_parse(l->shortcut, shortcut, prefix, classes);
    return s;
}

static mla_status residual_setup(mla_layer *l) {
    mla_shape b, sc;
    mla_status s = mla_seq_setup(l->body, l->in, &b);
    if (!s) s = mla_seq_setup(l->shortcut, l->in, &sc);
    if (s) return s;
    if (b.c != sc.c || b.h != sc.h || b.w != sc.w)
        return mla_error(MLA_ERR_SHAPE,
                         "layer %s (residual): body gives %dx%dx%d but the shortcut gives %dx%dx%d; add a "
                         "shortcut projection (e.g. a 1x1 conv2d with the same stride)",
                         l->name, b.c, b.h, b.w, sc.c, sc.h, sc.w);
    l->out = b;
    return MLA_OK;
}

static mla_status residual_reserve(mla_layer *l, int n) {
    mla_status s = mla_seq_reserve(l->body, n);
    if (!s) s = mla_seq_reserve(l->shortcut, n);
    if (s) return s;
    /* Two input-gradient buffers: body's and shortcut's. */
    free(l->cache);
    l->cache = mla_alloc_aligned(2 * (size_t)n * (size_t)mla_shape_size(l->in), sizeof(float));
    return l->cache ? MLA_OK : MLA_ERR_NOMEM;
}

static void residual_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    mla_seq_forward(l->body, x, n, ctx);
    mla_seq_forward(l->shortcut, x, n, ctx);
    const float *a = mla_seq_output(l->body, x), *b = mla_seq_output(l->shortcut, x);
    long count = (long)n * mla_shape_size(l->out);
    float *r = l->fused_relu ? l->fused_relu->y : NULL; /* a relu after the block (net.c) */
    if (!r) {
#pragma omp parallel for schedule(static) if (count > MLA_PAR_MIN)
        for (long i = 0; i < count; i++) y[i] = a[i] + b[i];
        return;
    }
    /* The relu's output in the same pass (relu_forward's v > 0 ? v : 0). */
#pragma omp parallel for schedule(static) if (count > MLA_PAR_MIN)
    for (long i = 0; i < count; i++) {
        float v = a[i] + b[i];
        y[i] = v;
        r[i] = v > 0 ? v : 0.0f;
    }
}

static void residual_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                              mla_ctx *ctx) {
    if (l->fused_relu) { /* the relu's backward (relu_backward's), into this block's own gradient buffer */
        const float *g = l->fused_relu->dy;
        float *own = l->dy;
        long size = mla_shape_size(l->out), start = (long)n0 * size, end = (long)(n0 + n) * size;
#pragma omp parallel for schedule(static) if (end - start > MLA_PAR_MIN)
        for (long i = start; i < end; i++) own[i] = y[i] > 0 ? g[i] : 0.0f;
        dy = own;
    }
    if (ctx->sample_weights) { /* the branches' own weighted passes: no second pass through them */
        mla_seq_weighted(l->body, x, dy, n0, n, ctx);
        mla_seq_weighted(l->shortcut, x, dy, n0, n, ctx);
        return;
    }
    size_t size = (size_t)mla_shape_size(l->in);
    float *dbody = dx ? l->cache : NULL, *dshort = dx ? (float *)l->cache + (size_t)l->cap * size : NULL;
    mla_seq_backward(l->body, x, dy, dbody, n0, n, ctx);
    if (l->shortcut->n) mla_seq_backward(l->shortcut, x, dy, dshort, n0, n, ctx);
    if (!dx) return;
    const float *ds = l->shortcut->n ? dshort : dy; /* identity: the output gradient itself */
    long start = (long)n0 * (long)size, end = (long)(n0 + n) * (long)size;
#pragma omp parallel for schedule(static) if (end - start > MLA_PAR_MIN)
    for (long i = start; i < end; i++) dx[i] = dbody[i] + ds[i];
}

static void residual_destroy(mla_layer *l) {
    if (l->body) mla_seq_free(l->body);
    if (l->shortcut) mla_seq_free(l->shortcut);
    free(l->body);
    free(l->shortcut);
}

const mla_op mla_op_residual = {"residual",        residual_parse,   residual_setup,  NULL, residual_forward,
                                residual_backward, residual_destroy, residual_reserve, true, true, NULL};

/* ---- squeeze-and-excitation ---- */

enum { SE_RELU = 0, SE_SILU = 1 };

static mla_status se_parse(mla_layer *l, const cJSON *j, int classes) {
    static const char *const keys[] = {"units", "activation", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_int(l, j, "units", -1, 1, 1 << 16, classes, &l->units);
    if (s) return s;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "activation");
    l->act = SE_SILU;
    if (act && cJSON_IsString(act) && !strcmp(act->valuestring, "relu"))
        l->act = SE_RELU;
    else if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "silu")))
        return mla_error(MLA_ERR_INVALID, "layer %s (se): \"activation\" must be \"relu\" or \"silu\"", l->name);
    return MLA_OK;
}

/* Per-sample cache layout: s [C], pre1 [R], z [R], e [C]. */
static size_t se_stride(const mla_layer *l) { return 2 * (size_t)l->in.c + 2 * (size_t)l->units; }

static mla_status se_setup(mla_layer *l) {
    int c = l->in.c, r = l->units;
    l->out = l->in;
    mla_layer_add_tensor(l, "fc1.weight", true, 2, r, c, 0, 0);
    mla_layer_add_tensor(l, "fc1.bias", true, 1, r, 0, 0, 0);
    mla_layer_add_tensor(l, "fc2.weight", true, 2, c, r, 0, 0);
    mla_layer_add_tensor(l, "fc2.bias", true, 1, c, 0, 0, 0);
    l->cache_bytes_per_sample = se_stride(l) * sizeof(float);
    l->macs = (double)mla_shape_size(l->in) + 2.0 * c * r; /* the scaling and the two small dense layers */
    return MLA_OK;
}

static mla_status se_reserve(mla_layer *l, int n) {
    l->work_floats = (size_t)n * (size_t)(l->units + l->in.c);
    return MLA_OK;
}

static void se_init(mla_layer *l, float *p, mla_rng *rng) {
    int c = l->in.c, r = l->units;
    mla_init_uniform(mla_layer_tensor(l, p, 0), (size_t)r * c, c, rng);
    mla_init_uniform(mla_layer_tensor(l, p, 1), (size_t)r, c, rng);
    mla_init_uniform(mla_layer_tensor(l, p, 2), (size_t)c * r, r, rng);
    mla_init_uniform(mla_layer_tensor(l, p, 3), (size_t)c, r, rng);
}

static void se_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int c = l->in.c, r = l->units;
    size_t hw = (size_t)l->in.h * l->in.w, stride = se_stride(l);
    const float *w1 = mla_layer_tensor(l, ctx->params, 0), *b1 = mla_layer_tensor(l, ctx->params, 1);
    const float *w2 = mla_layer_tensor(l, ctx->params, 2), *b2 = mla_layer_tensor(l, ctx->params, 3);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float *cs = (float *)l->cache + (size_t)s * stride, *pre1 = cs + c, *z = pre1 + r, *e = z + r;
        const float *src = x + (size_t)s * c * hw;
        for (int ch = 0; ch < c; ch++) {
            cs[ch] = (float)(mla_plane_sum(src + (size_t)ch * hw, hw) / (double)hw);
        }
        for (int i = 0; i < r; i++) {
            float v = b1[i];
            for (int ch = 0; ch < c; ch++) v += w1[(size_t)i * c + ch] * cs[ch];
            pre1[i] = v;
            z[i] = l->act == SE_SILU ? v * mla_sigmoidf(v) : (v > 0 ? v : 0.0f);
        }
        for (int ch = 0; ch < c; ch++) {
            float v = b2[ch];
            for (int i = 0; i < r; i++) v += w2[(size_t)ch * r + i] * z[i];
            e[ch] = mla_sigmoidf(v);
            float *dst = y + (size_t)s * c * hw + (size_t)ch * hw;
            for (size_t q = 0; q < hw; q++) dst[q] = src[(size_t)ch * hw + q] * e[ch];
        }
    }
}

static void se_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                        mla_ctx *ctx) {
    (void)y;
    int c = l->in.c, r = l->units;
    size_t hw = (size_t)l->in.h * l->in.w, stride = se_stride(l), ld = (size_t)(r + c);
    const float *w1 = mla_layer_tensor(l, ctx->params, 0), *w2 = mla_layer_tensor(l, ctx->params, 2);
    float *dpre = ctx->work; /* per sample: dpre1 [R], dpre2 [C] */
#pragma omp parallel for schedule(static)
    for (int s = n0; s < n0 + n; s++) {
        const float *cs = (const float *)l->cache + (size_t)s * stride, *pre1 = cs + c, *e = pre1 + 2 * r;
        const float *src = x + (size_t)s * c * hw, *g = dy + (size_t)s * c * hw;
        float *dp1 = dpre + (size_t)(s - n0) * ld, *dp2 = dp1 + r;
        for (int ch = 0; ch < c; ch++) {
            float de = 0;
            for (size_t q = 0; q < hw; q++) de += g[(size_t)ch * hw + q] * src[(size_t)ch * hw + q];
            dp2[ch] = de * e[ch] * (1.0f - e[ch]);
        }
        for (int i = 0; i < r; i++) {
            float dz = 0;
            for (int ch = 0; ch < c; ch++) dz += w2[(size_t)ch * r + i] * dp2[ch];
            float v = pre1[i], sg = mla_sigmoidf(v);
            dp1[i] = dz * (l->act == SE_SILU ? sg * (1.0f + v * (1.0f - sg)) : (v > 0 ? 1.0f : 0.0f));
        }
        if (!dx) continue;
        for (int ch = 0; ch < c; ch++) {
            float ds = 0;
            for (int i = 0; i < r; i++) ds += w1[(size_t)i * c + ch] * dp1[i];
            ds /= (float)hw;
            float *d = dx + (size_t)s * c * hw + (size_t)ch * hw;
            for (size_t q = 0; q < hw; q++) d[q] = g[(size_t)ch * hw + q] * e[ch] + ds;
        }
    }
    if (!ctx->param_grads) return;
    /* Parameter gradients over the range as small sgemms: dW1 += dP1^T S, dW2 += dP2^T Z. */
    const float *cache0 = (const float *)l->cache + (size_t)n0 * stride;
    float *gw1 = mla_layer_tensor(l, ctx->grads, 0), *gb1 = mla_layer_tensor(l, ctx->grads, 1);
    float *gw2 = mla_layer_tensor(l, ctx->grads, 2), *gb2 = mla_layer_tensor(l, ctx->grads, 3);
    mla_sgemm(true, false, r, c, n, 1.0f, dpre, (int)ld, cache0, (int)stride, 1.0f, gw1, c);
    mla_sgemm(true, false, c, r, n, 1.0f, dpre + r, (int)ld, cache0 + c + r, (int)stride, 1.0f, gw2, r);
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < r; i++) gb1[i] += dpre[(size_t)s * ld + i];
        for (int ch = 0; ch < c; ch++) gb2[ch] += dpre[(size_t)s * ld + r + ch];
    }
}

const mla_op mla_op_se = {"se", se_parse, se_setup, se_init, se_forward, se_backward,
                          NULL, se_reserve, false, false, NULL};
