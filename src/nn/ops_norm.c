/* batchnorm (per channel over N, H, W; PyTorch's BatchNorm2d/1d semantics: biased
 * variance to normalise, unbiased in the running estimate, momentum 0.1, eps 1e-5),
 * groupnorm (per sample over each group of C/G channels x H x W; PyTorch's GroupNorm)
 * and dropout (inverted: kept values scaled by 1 / (1 - rate) in training). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/layer.h"
#include "nn/reduce.h"

static mla_status bn_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    static const char *const keys[] = {"eps", "momentum", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_num(l, j, "eps", 1e-5, 1e-12, 1.0, &l->eps);
    if (!s) s = mla_spec_num(l, j, "momentum", 0.1, 0.0, 1.0, &l->momentum);
    return s;
}

static mla_status bn_setup(mla_layer *l) {
    int c = l->in.c;
    l->out = l->in;
    mla_layer_add_tensor(l, "weight", true, 1, c, 0, 0, 0);
    mla_layer_add_tensor(l, "bias", true, 1, c, 0, 0, 0);
    mla_layer_add_tensor(l, "running_mean", false, 1, c, 0, 0, 0);
    mla_layer_add_tensor(l, "running_var", false, 1, c, 0, 0, 0);
    return MLA_OK;
}

/* The cache: the batch's mean and inverse std per channel (2c floats), then the
 * per-sample statistics a preceding conv2d may leave (n x c x {mean, M2} doubles). */
static mla_status bn_reserve(mla_layer *l, int n) {
    free(l->cache);
    l->cache = mla_alloc(1, 2 * (size_t)l->in.c * sizeof(float) + (size_t)n * l->in.c * 2 * sizeof(double));
    l->sample_stats_ready = false;
    return l->cache ? MLA_OK : MLA_ERR_NOMEM;
}

double *mla_bn_sample_stats(mla_layer *bn, int s) {
    return (double *)((float *)bn->cache + 2 * (size_t)bn->in.c) + (size_t)s * bn->in.c * 2;
}

/* The batch's mean and sum of squared deviations of channel ch from the conv's
 * per-sample ones (Chan et al.'s pairwise merge: equal counts hw per sample). */
static void merge_sample_stats(mla_layer *l, int ch, int n, size_t hw, double *mu, double *m2) {
    double sum = 0, dev = 0;
    for (int s = 0; s < n; s++) sum += mla_bn_sample_stats(l, s)[2 * ch];
    *mu = sum / n;
    for (int s = 0; s < n; s++) {
        const double *st = mla_bn_sample_stats(l, s) + 2 * ch;
        double d = st[0] - *mu;
        dev += st[1] + (double)hw * d * d;
    }
    *m2 = dev;
}

static void bn_init(mla_layer *l, float *p, mla_rng *rng) {
    (void)rng;
    int c = l->in.c;
    for (int i = 0; i < c; i++) {
        mla_layer_tensor(l, p, 0)[i] = 1.0f;
        mla_layer_tensor(l, p, 1)[i] = 0.0f;
        mla_layer_tensor(l, p, 2)[i] = 0.0f;
        mla_layer_tensor(l, p, 3)[i] = 1.0f;
    }
}

/* The output gradient of element q: g[q], or with a fused relu (mask = the batchnorm's
 * output, the relu's input) the relu's backward of it, v > 0 ? g : 0, as relu_backward. */
static inline float masked_grad(const float *g, const float *mask, size_t q) {
    return mask ? (mask[q] > 0 ? g[q] : 0.0f) : g[q];
}

/* sum g and sum g * (x - mean), g masked as masked_grad says */
static void plane_grad_sums(const float *g, const float *mask, const float *x, size_t len, float mean, double *sg,
                            double *sgx) {
    float a[MLA_LANES] = {0}, b[MLA_LANES] = {0};
    size_t q = 0;
    for (; q + MLA_LANES <= len; q += MLA_LANES)
        for (int k = 0; k < MLA_LANES; k++) {
            float gq = masked_grad(g, mask, q + k);
            a[k] += gq;
            b[k] += gq * (x[q + k] - mean);
        }
    for (; q < len; q++) {
        float gq = masked_grad(g, mask, q);
        a[q % MLA_LANES] += gq;
        b[q % MLA_LANES] += gq * (x[q] - mean);
    }
    *sg += mla_lanes_fold(a);
    *sgx += mla_lanes_fold(b);
}

/* dst = src * scale + shift, and with a fused relu rdst = max(dst, 0) (relu_forward's
 * v > 0 ? v : 0) in the same pass: one read of the plane instead of two. */
static void plane_affine(const float *restrict src, float *restrict dst, float *restrict rdst, size_t len,
                         float scale, float shift) {
    if (!rdst) {
        for (size_t q = 0; q < len; q++) dst[q] = src[q] * scale + shift;
        return;
    }
    for (size_t q = 0; q < len; q++) {
        float v = src[q] * scale + shift;
        dst[q] = v;
        rdst[q] = v > 0 ? v : 0.0f;
    }
}

static void bn_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w, m = (size_t)n * hw;
    float *gamma = mla_layer_tensor(l, ctx->params, 0), *beta = mla_layer_tensor(l, ctx->params, 1);
    float *rmean = mla_layer_tensor(l, ctx->params, 2), *rvar = mla_layer_tensor(l, ctx->params, 3);
    float *bmean = l->cache, *binv = bmean + c;
    bool batch = ctx->train;
    l->batch_stats_used = batch;
    float *relu_y = l->fused_relu ? l->fused_relu->y : NULL; /* net.c fuses a relu that follows */
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        float mean, inv;
        if (batch) {
            double mu, sq = 0;
            if (l->sample_stats_ready) {
                merge_sample_stats(l, ch, n, hw, &mu, &sq);
            } else {
                double sum = 0;
                for (int s = 0; s < n; s++) sum += mla_plane_sum(x + ((size_t)s * c + ch) * hw, hw);
                mu = sum / (double)m;
                for (int s = 0; s < n; s++) sq += mla_plane_sq_dev(x + ((size_t)s * c + ch) * hw, hw, (float)mu);
            }
            double var = sq / (double)m;
            mean = (float)mu;
            inv = (float)(1.0 / sqrt(var + l->eps));
            double unbiased = m > 1 ? sq / (double)(m - 1) : var;
            rmean[ch] = (1.0f - l->momentum) * rmean[ch] + l->momentum * mean;
            rvar[ch] = (1.0f - l->momentum) * rvar[ch] + l->momentum * (float)unbiased;
        } else {
            mean = rmean[ch];
            inv = 1.0f / sqrtf(rvar[ch] + l->eps);
        }
        bmean[ch] = mean;
        binv[ch] = inv;
        float scale = gamma[ch] * inv, shift = beta[ch] - mean * scale;
        for (int s = 0; s < n; s++) {
            size_t at = ((size_t)s * c + ch) * hw;
            plane_affine(x + at, y + at, relu_y ? relu_y + at : NULL, hw, scale, shift);
        }
    }
    l->sample_stats_ready = false; /* used: the next forward's conv sets them again */
}

static void bn_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                        mla_ctx *ctx) {
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w;
    const float *gamma = mla_layer_tensor(l, ctx->params, 0);
    float *dgamma = ctx->param_grads ? mla_layer_tensor(l, ctx->grads, 0) : NULL;
    float *dbeta = ctx->param_grads ? mla_layer_tensor(l, ctx->grads, 1) : NULL;
    const float *bmean = l->cache, *binv = bmean + c;
    bool batch = l->batch_stats_used;
    double m = (double)n * (double)hw;
    /* A fused relu: its output gradient, masked by this layer's output (its input). */
    const float *mask = l->fused_relu ? y : NULL;
    if (l->fused_relu) dy = l->fused_relu->dy;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        float mean = bmean[ch], inv = binv[ch];
        double sg = 0, sgx = 0; /* sum dy, sum dy * xhat */
        for (int s = n0; s < n0 + n; s++) {
            size_t at = ((size_t)s * c + ch) * hw;
            plane_grad_sums(dy + at, mask ? mask + at : NULL, x + at, hw, mean, &sg, &sgx);
        }
        sgx *= inv;
        if (dgamma) {
            dgamma[ch] += (float)sgx;
            dbeta[ch] += (float)sg;
        }
        if (!dx) continue;
        float k = gamma[ch] * inv;
        float a = batch ? (float)(sg / m) : 0.0f, b = batch ? (float)(sgx / m) : 0.0f;
        for (int s = n0; s < n0 + n; s++) {
            size_t at = ((size_t)s * c + ch) * hw;
            const float *src = x + at, *g = dy + at;
            float *d = dx + at;
            if (mask)
                for (size_t q = 0; q < hw; q++) d[q] = k * (masked_grad(g, mask + at, q) - a - (src[q] - mean) * inv * b);
            else
                for (size_t q = 0; q < hw; q++) d[q] = k * (g[q] - a - (src[q] - mean) * inv * b);
        }
    }
}

const mla_op mla_op_batchnorm = {"batchnorm", bn_parse, bn_setup, bn_init, bn_forward, bn_backward,
                                 NULL, bn_reserve, false, false, NULL};

/* ---- groupnorm (Wu & He 2018) ----
 * Per sample, the C channels split into G groups of C/G consecutive channels; each
 * group is normalised by its own mean and biased variance over its channels x H x W,
 * then y = gamma_c * xhat + beta_c. No batch statistics: the same in training and
 * evaluation, and samples stay independent (per-sample gradients, DP-SGD). G = 1 is
 * layer norm over C x H x W, G = C instance norm. Each sample is done by one thread and
 * the batch's parameter gradients are summed over the samples in order afterwards, so
 * the bits do not depend on the thread count. */

static mla_status gn_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    static const char *const keys[] = {"groups", "eps", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_int(l, j, "groups", -1, 1, 1 << 20, 0, &l->groups);
    if (!s) s = mla_spec_num(l, j, "eps", 1e-5, 1e-12, 1.0, &l->eps);
    return s;
}

/* The cache, per sample: [C][sum dy, sum dy * xhat] doubles (the backward's), then
 * [G][mean, 1 / sqrt(var + eps)] floats (the forward's). */
static mla_status gn_setup(mla_layer *l) {
    int c = l->in.c;
    if (c % l->groups)
        return mla_error(MLA_ERR_SHAPE, "layer %s (groupnorm): %d groups do not divide the %d input channels", l->name,
                         l->groups, c);
    l->out = l->in;
    mla_layer_add_tensor(l, "weight", true, 1, c, 0, 0, 0);
    mla_layer_add_tensor(l, "bias", true, 1, c, 0, 0, 0);
    l->cache_bytes_per_sample = 2 * (size_t)c * sizeof(double) + 2 * (size_t)l->groups * sizeof(float);
    return MLA_OK;
}

static double *gn_sums(const mla_layer *l, int s) {
    return (double *)((char *)l->cache + (size_t)s * l->cache_bytes_per_sample);
}

static float *gn_stats(const mla_layer *l, int s) { return (float *)(gn_sums(l, s) + 2 * (size_t)l->in.c); }

static void gn_init(mla_layer *l, float *p, mla_rng *rng) {
    (void)rng;
    for (int i = 0; i < l->in.c; i++) {
        mla_layer_tensor(l, p, 0)[i] = 1.0f;
        mla_layer_tensor(l, p, 1)[i] = 0.0f;
    }
}

static void gn_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int c = l->in.c, groups = l->groups, cg = c / groups;
    size_t hw = (size_t)l->in.h * l->in.w, len = (size_t)cg * hw;
    const float *gamma = mla_layer_tensor(l, ctx->params, 0), *beta = mla_layer_tensor(l, ctx->params, 1);
#pragma omp parallel for schedule(static) if ((long)n * c * (long)hw > MLA_PAR_MIN)
    for (int s = 0; s < n; s++) {
        float *st = gn_stats(l, s);
        for (int g = 0; g < groups; g++) {
            size_t at = ((size_t)s * c + (size_t)g * cg) * hw;
            double mu = mla_plane_sum(x + at, len) / (double)len;
            float mean = (float)mu;
            double var = mla_plane_sq_dev(x + at, len, mean) / (double)len;
            float inv = (float)(1.0 / sqrt(var + l->eps));
            st[2 * g] = mean;
            st[2 * g + 1] = inv;
            for (int ch = g * cg; ch < (g + 1) * cg; ch++) {
                const float *src = x + ((size_t)s * c + ch) * hw;
                float *dst = y + ((size_t)s * c + ch) * hw;
                float scale = gamma[ch] * inv, shift = beta[ch] - mean * scale;
                for (size_t q = 0; q < hw; q++) dst[q] = src[q] * scale + shift;
            }
        }
    }
}

/* Sample s's part of the backward: its per-channel sums (left in the cache), dx, and
 * the returned squared norm of its own gamma and beta gradients. With xhat = (x - mu) *
 * inv and M = C/G x H x W, dx = inv (gamma_c dy - mean(gamma dy) - xhat mean(gamma dy
 * xhat)), the means over the sample's group. */
static double gn_backward_sample(const mla_layer *l, const float *x, const float *dy, float *dx, int s,
                                 const float *gamma) {
    int c = l->in.c, groups = l->groups, cg = c / groups;
    size_t hw = (size_t)l->in.h * l->in.w;
    double m = (double)cg * (double)hw, sq = 0, *sums = gn_sums(l, s);
    const float *st = gn_stats(l, s);
    for (int g = 0; g < groups; g++) {
        float mean = st[2 * g], inv = st[2 * g + 1];
        double a = 0, b = 0; /* sum gamma dy, sum gamma dy xhat over the group */
        for (int ch = g * cg; ch < (g + 1) * cg; ch++) {
            size_t at = ((size_t)s * c + ch) * hw;
            double sg = 0, sgx = 0;
            plane_grad_sums(dy + at, NULL, x + at, hw, mean, &sg, &sgx);
            sgx *= inv;
            sums[2 * ch] = sg;
            sums[2 * ch + 1] = sgx;
            sq += sg * sg + sgx * sgx;
            a += gamma[ch] * sg;
            b += gamma[ch] * sgx;
        }
        if (!dx) continue;
        float ma = (float)(a / m), mb = (float)(b / m) * inv;
        for (int ch = g * cg; ch < (g + 1) * cg; ch++) {
            size_t at = ((size_t)s * c + ch) * hw;
            const float *src = x + at, *gr = dy + at;
            float *d = dx + at, k = gamma[ch];
            for (size_t q = 0; q < hw; q++) d[q] = inv * (k * gr[q] - ma - (src[q] - mean) * mb);
        }
    }
    return sq;
}

static void gn_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                        mla_ctx *ctx) {
    (void)y;
    int c = l->in.c;
    bool ghost = ctx->sq_norms != NULL, pgrads = ctx->param_grads && !ghost;
    if (!dx && !pgrads && !ghost) return;
    float *dgamma = mla_layer_tensor(l, ctx->grads, 0), *dbeta = mla_layer_tensor(l, ctx->grads, 1);
    if (ctx->sample_weights) { /* the norms pass left each sample's sums (its gamma and beta gradients) */
        const float *w = ctx->sample_weights;
        for (int ch = 0; ch < c; ch++) {
            double sg = 0, sgx = 0;
            for (int s = n0; s < n0 + n; s++) {
                sg += w[s] * gn_sums(l, s)[2 * ch];
                sgx += w[s] * gn_sums(l, s)[2 * ch + 1];
            }
            dgamma[ch] += (float)sgx;
            dbeta[ch] += (float)sg;
        }
        return;
    }
    const float *gamma = mla_layer_tensor(l, ctx->params, 0);
#pragma omp parallel for schedule(static) if ((long)n * c * (long)l->in.h * l->in.w > MLA_PAR_MIN)
    for (int s = n0; s < n0 + n; s++) {
        double sq = gn_backward_sample(l, x, dy, dx, s, gamma);
        if (ghost) ctx->sq_norms[s] += sq;
    }
    if (!pgrads) return;
    for (int ch = 0; ch < c; ch++) {
        double sg = 0, sgx = 0;
        for (int s = n0; s < n0 + n; s++) {
            sg += gn_sums(l, s)[2 * ch];
            sgx += gn_sums(l, s)[2 * ch + 1];
        }
        dgamma[ch] += (float)sgx;
        dbeta[ch] += (float)sg;
    }
}

const mla_op mla_op_groupnorm = {"groupnorm", gn_parse, gn_setup, gn_init, gn_forward, gn_backward,
                                 NULL, NULL, true, true, NULL};

/* ---- dropout ---- */

static mla_status dropout_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    static const char *const keys[] = {"rate", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_num(l, j, "rate", 0.5, 0.0, 0.99, &l->rate);
    return s;
}

static mla_status dropout_setup(mla_layer *l) {
    l->out = l->in;
    l->cache_bytes_per_sample = (size_t)mla_shape_size(l->in) * sizeof(float);
    return MLA_OK;
}

static void dropout_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    size_t count = (size_t)n * (size_t)mla_shape_size(l->in);
    float *mask = l->cache;
    if (!ctx->train || l->rate <= 0) {
        memcpy(y, x, count * sizeof(float));
        for (size_t i = 0; i < count; i++) mask[i] = 1.0f;
        return;
    }
    /* Drawn in one sequential stream so the mask does not depend on the thread count. */
    float keep = 1.0f / (1.0f - l->rate);
    uint64_t threshold = (uint64_t)((double)l->rate * 18446744073709551616.0);
    for (size_t i = 0; i < count; i++) mask[i] = mla_rng_u64(ctx->rng) < threshold ? 0.0f : keep;
    for (size_t i = 0; i < count; i++) y[i] = x[i] * mask[i];
}

static void dropout_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                             mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    size_t size = (size_t)mla_shape_size(l->in);
    const float *mask = l->cache;
    for (size_t i = (size_t)n0 * size; i < (size_t)(n0 + n) * size; i++) dx[i] = dy[i] * mask[i];
}

const mla_op mla_op_dropout = {"dropout", dropout_parse, dropout_setup, NULL, dropout_forward, dropout_backward, NULL,
                               NULL, false, false, NULL};
