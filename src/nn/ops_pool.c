/* Pooling: maxpool and avgpool (kernel, stride = kernel by default, pad), and global
 * average pooling (C x H x W -> C x 1 x 1). Max pooling keeps each output's argmax
 * (an index into the input plane) for the backward pass; padding never wins a max. */
#include <float.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/layer.h"

static mla_status pool_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    static const char *const keys[] = {"kernel", "stride", "pad", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_int(l, j, "kernel", -1, 1, 64, 0, &l->kernel);
    if (!s) s = mla_spec_int(l, j, "stride", l->kernel, 1, 64, 0, &l->stride);
    if (!s) s = mla_spec_int(l, j, "pad", 0, 0, 64, 0, &l->pad);
    if (!s && l->pad * 2 > l->kernel)
        s = mla_error(MLA_ERR_INVALID, "layer %s (%s): \"pad\" must be at most half the kernel", l->name, l->op->type);
    return s;
}

static mla_status pool_setup(mla_layer *l) {
    int eh = l->in.h + 2 * l->pad - l->kernel, ew = l->in.w + 2 * l->pad - l->kernel;
    if (eh < 0 || ew < 0)
        return mla_error(MLA_ERR_SHAPE, "layer %s (%s): kernel %d is larger than the input %dx%d", l->name,
                         l->op->type, l->kernel, l->in.h, l->in.w);
    l->out = (mla_shape){l->in.c, eh / l->stride + 1, ew / l->stride + 1};
    if (l->op == &mla_op_maxpool) l->cache_bytes_per_sample = (size_t)mla_shape_size(l->out) * sizeof(int32_t);
    return MLA_OK;
}

static void maxpool_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    (void)ctx;
    int c = l->in.c, h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, k = l->kernel;
    int32_t *arg = l->cache;
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++) {
            const float *src = x + ((size_t)s * c + ch) * h * w;
            size_t o = ((size_t)s * c + ch) * oh * ow;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    float best = -FLT_MAX;
                    int32_t at = -1;
                    for (int i = 0; i < k; i++) {
                        int iy = oy * l->stride - l->pad + i;
                        if (iy < 0 || iy >= h) continue;
                        for (int j = 0; j < k; j++) {
                            int ix = ox * l->stride - l->pad + j;
                            if (ix < 0 || ix >= w) continue;
                            float v = src[iy * w + ix];
                            if (at < 0 || v > best) {
                                best = v;
                                at = iy * w + ix;
                            }
                        }
                    }
                    y[o + (size_t)oy * ow + ox] = best;
                    arg[o + (size_t)oy * ow + ox] = at;
                }
        }
}

static void maxpool_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                             mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w, ohw = (size_t)l->out.h * l->out.w;
    const int32_t *arg = l->cache;
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = n0; s < n0 + n; s++)
        for (int ch = 0; ch < c; ch++) {
            size_t plane = (size_t)s * c + ch;
            float *d = dx + plane * hw;
            memset(d, 0, hw * sizeof(float));
            for (size_t q = 0; q < ohw; q++) d[arg[plane * ohw + q]] += dy[plane * ohw + q];
        }
}

/* Average pooling divides by the full kernel area (PyTorch's count_include_pad). */
static void avgpool_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    (void)ctx;
    int c = l->in.c, h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, k = l->kernel;
    float scale = 1.0f / (float)(k * k);
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++) {
            const float *src = x + ((size_t)s * c + ch) * h * w;
            float *dst = y + ((size_t)s * c + ch) * oh * ow;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    float sum = 0;
                    for (int i = 0; i < k; i++) {
                        int iy = oy * l->stride - l->pad + i;
                        if (iy < 0 || iy >= h) continue;
                        for (int j = 0; j < k; j++) {
                            int ix = ox * l->stride - l->pad + j;
                            if (ix >= 0 && ix < w) sum += src[iy * w + ix];
                        }
                    }
                    dst[oy * ow + ox] = sum * scale;
                }
        }
}

static void avgpool_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                             mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    int c = l->in.c, h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, k = l->kernel;
    float scale = 1.0f / (float)(k * k);
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = n0; s < n0 + n; s++)
        for (int ch = 0; ch < c; ch++) {
            float *d = dx + ((size_t)s * c + ch) * h * w;
            const float *g = dy + ((size_t)s * c + ch) * oh * ow;
            memset(d, 0, (size_t)h * w * sizeof(float));
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    float v = g[oy * ow + ox] * scale;
                    for (int i = 0; i < k; i++) {
                        int iy = oy * l->stride - l->pad + i;
                        if (iy < 0 || iy >= h) continue;
                        for (int j = 0; j < k; j++) {
                            int ix = ox * l->stride - l->pad + j;
                            if (ix >= 0 && ix < w) d[iy * w + ix] += v;
                        }
                    }
                }
        }
}

static mla_status gap_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    return mla_spec_keys(l, j, NULL);
}

static mla_status gap_setup(mla_layer *l) {
    l->out = (mla_shape){l->in.c, 1, 1};
    return MLA_OK;
}

static void gap_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    (void)ctx;
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w;
    long planes = (long)n * c;
#pragma omp parallel for schedule(static) if (planes * (long)hw > MLA_PAR_MIN)
    for (long p = 0; p < planes; p++) {
        const float *src = x + (size_t)p * hw;
        float sum = 0;
        for (size_t q = 0; q < hw; q++) sum += src[q];
        y[p] = sum / (float)hw;
    }
}

static void gap_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                         mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w;
    for (long p = (long)n0 * c; p < (long)(n0 + n) * c; p++) {
        float v = dy[p] / (float)hw;
        for (size_t q = 0; q < hw; q++) dx[(size_t)p * hw + q] = v;
    }
}

const mla_op mla_op_maxpool = {"maxpool", pool_parse, pool_setup, NULL, maxpool_forward, maxpool_backward, NULL, NULL};
const mla_op mla_op_avgpool = {"avgpool", pool_parse, pool_setup, NULL, avgpool_forward, avgpool_backward, NULL, NULL};
const mla_op mla_op_gap = {"gap", gap_parse, gap_setup, NULL, gap_forward, gap_backward, NULL, NULL};
