/* dense: y = x W^T + b, with W of shape [units, in] (PyTorch's Linear layout).
 * Any input shape is flattened per sample. The three products run on OpenBLAS or, where
 * mla_dense_own_kernels says so, on the engine's 8 x 32 kernel (nn/gemm.h), each
 * output tile by one thread, so the bits do not depend on the thread count; on the AVX2
 * family the forward runs as dot products instead (mla_dense_forward_avx2). A relu that
 * follows is fused in (mla_seq_setup): the forward writes its output too, the backward
 * takes its gradient (with the bias gradient) before the products. */
#include <string.h>

#include "nn/blas.h"
#include "nn/gemm.h"
#include "nn/layer.h"
#include "nn/reduce.h"

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

/* Scratch of the kernels' forward for n samples: x^T and y^T, each followed by slack.
 * Sized whenever the kernels are built, whichever way mla_dense_own_kernels answers
 * (tests switch between the two on one net). The weighted pass's scaled dy (n x units)
 * fits in it. */
static mla_status dense_reserve(mla_layer *l, int n) {
#if MLA_HAVE_AVX2_CODE || defined(__AVX512F__)
    l->work_floats = (size_t)n * (size_t)(mla_shape_size(l->in) + l->units) + 2 * MLA_SLACK_FLOATS;
#else
    l->work_floats = (size_t)n * (size_t)l->units;
#endif
    return MLA_OK;
}

#if MLA_HAVE_AVX2_CODE || defined(__AVX512F__)
#define MLA_DENSE_KERNELS 1
/* The kernel's rows are 8 units (forward, weight gradient) or 8 samples (input
 * gradient); below 16 of the summed dimension (inputs, samples, units) OpenBLAS does as
 * well, and a forward of fewer than 8 samples is not worth its two transposes. */
static bool dense_forward_on_kernels(const mla_layer *l, int n) {
    return mla_dense_own_kernels() && l->units % 8 == 0 && mla_shape_size(l->in) >= 16 && n >= 8;
}
static bool dense_weight_grad_on_kernels(const mla_layer *l, int n) {
    return mla_dense_own_kernels() && l->units % 8 == 0 && n >= 16;
}
static bool dense_input_grad_on_kernels(const mla_layer *l, int n) {
    return mla_dense_own_kernels() && n % 8 == 0 && l->units >= 16;
}

static int tiles_of_32(int n) { return (n + 31) / 32; }
static int tile_width(int n, int j) { return n - 32 * j < 32 ? n - 32 * j : 32; }

/* The gradients' column tiles: 32 wide on AVX-512; on AVX2 24 wide, the tile's two 4 x 24
 * blocks alone (its 8 x 8 block, nine loads per eight multiply-adds, is load-bound).
 * Measured one core, -march=x86-64-v3, the mlp's 256 x 784 weight gradient over 128
 * samples: 87-92 GFLOP/s in 32-wide tiles, 103-108 in 24-wide ones, OpenBLAS 105-110.
 * Either width gives the same bits (one chain per element). */
static int grad_tile(mla_isa kernels) { return kernels == MLA_ISA_AVX2 ? 24 : 32; }
static int tiles_of(int n, int width) { return (n + width - 1) / width; }
static int width_of(int n, int j, int width) { return n - width * j < width ? n - width * j : width; }

/* y = x W^T + b formed transposed, y^T = W x^T: the kernel then broadcasts W as it
 * lies and streams the rows of x^T, and y^T is turned back. For the mlp preset's first
 * layer (batch 128) the two transposes took 28 us beside the product's 112. */
static void dense_forward_kernels(const mla_layer *l, const float *x, float *y, int n, const float *w,
                                  const float *b, float *work) {
    int in = mla_shape_size(l->in), out = l->units, col_tiles = tiles_of_32(n);
    float *xt = work, *yt = work + (size_t)in * n + MLA_SLACK_FLOATS;
    mla_isa kernels = mla_nn_kernels();
    mla_transpose_parallel(kernels, x, n, in, xt);
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < out; i += 8)
        for (int j = 0; j < col_tiles; j++)
            mla_gemm_tile(kernels, in, w + (size_t)i * in, (size_t)in, 1, xt + 32 * j, (size_t)n,
                          yt + (size_t)i * n + 32 * j, (size_t)n, tile_width(n, j), true, b ? b + i : NULL, false,
                          false);
    mla_transpose_parallel(kernels, yt, out, n, y);
}

/* dW (out x in) += dy^T x: 8 units by 32 inputs a tile, summed over the samples; x's
 * rows are read in place (the last one masked: x may have no slack). */
static void dense_weight_grad_kernels(const float *x, const float *dy, int n, int in, int out, float *dw) {
    mla_isa kernels = mla_nn_kernels();
    int tw = grad_tile(kernels), col_tiles = tiles_of(in, tw);
#pragma omp parallel for collapse(2) schedule(static)
    for (int j = 0; j < col_tiles; j++)
        for (int o = 0; o < out; o += 8)
            mla_gemm_tile(kernels, n, dy + o, 1, (size_t)out, x + tw * j, (size_t)in, dw + (size_t)o * in + tw * j,
                          (size_t)in, width_of(in, j, tw), false, NULL, false, true);
}

/* dx (n x in) = dy W: 8 samples by 32 inputs a tile, summed over the units; W's rows are
 * read in place (the last one masked). */
static void dense_input_grad_kernels(const float *dy, const float *w, int n, int in, int out, float *dx) {
    mla_isa kernels = mla_nn_kernels();
    int tw = grad_tile(kernels), col_tiles = tiles_of(in, tw);
#pragma omp parallel for collapse(2) schedule(static)
    for (int j = 0; j < col_tiles; j++)
        for (int i = 0; i < n; i += 8)
            mla_gemm_tile(kernels, out, dy + (size_t)i * out, (size_t)out, 1, w + tw * j, (size_t)in,
                          dx + (size_t)i * in + tw * j, (size_t)in, width_of(in, j, tw), false, NULL, false, false);
}
#else
#define MLA_DENSE_KERNELS 0
#endif

/* The relu fused into a dense layer (mla_seq_setup: a dense followed by a relu, not the
 * last layer), else NULL. conv2d also runs this op's passes on its own layers (its
 * 1 x 1-output case) and handles its fused relu itself. */
static mla_layer *dense_fused_relu(const mla_layer *l) { return l->op == &mla_op_dense ? l->fused_relu : NULL; }

/* The fused relu's forward where the product did not write it: r = max(y, 0), as the
 * relu layer (+0 for -0 and NaN). */
static void relu_out(const float *y, float *r, size_t len) {
#pragma omp parallel for schedule(static) if (len > MLA_PAR_MIN)
    for (size_t q = 0; q < len; q++) r[q] = y[q] > 0 ? y[q] : 0.0f;
}

static void dense_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int in = mla_shape_size(l->in), out = l->units;
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    mla_layer *relu = dense_fused_relu(l);
#if MLA_HAVE_AVX2_CODE
    if (mla_nn_kernels() == MLA_ISA_AVX2 && mla_dense_own_kernels()) { /* the relu in the same pass */
        mla_dense_forward_avx2(x, w, l->bias ? mla_layer_tensor(l, ctx->params, 1) : NULL, n, in, out, y,
                               relu ? relu->y : NULL);
        return;
    }
#endif
#if MLA_DENSE_KERNELS
    if (dense_forward_on_kernels(l, n)) {
        dense_forward_kernels(l, x, y, n, w, l->bias ? mla_layer_tensor(l, ctx->params, 1) : NULL, ctx->work);
        if (relu) relu_out(y, relu->y, (size_t)n * out);
        return;
    }
#endif
    if (l->bias) {
        const float *b = mla_layer_tensor(l, ctx->params, 1);
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
    }
    mla_sgemm(false, true, n, out, in, 1.0f, x, in, w, in, l->bias ? 1.0f : 0.0f, y, out);
    if (relu) relu_out(y, relu->y, (size_t)n * out);
}

/* The per-sample norms pass: sample s's weight gradient is the outer product
 * dy_s x_s^T, so ||dW_s||_F^2 = ||dy_s||^2 ||x_s||^2, and ||db_s||^2 = ||dy_s||^2:
 * one pass over x and dy, no gradient formed. x and dy start at sample n0. */
static void dense_sq_norms(const mla_layer *l, const float *x, const float *dy, int n0, int n, double *sq) {
    int in = mla_shape_size(l->in), out = l->units;
    double b = l->bias ? 1.0 : 0.0;
#pragma omp parallel for schedule(static) if ((long)n * (in + out) > MLA_PAR_MIN)
    for (int s = 0; s < n; s++) {
        double gx = mla_plane_sumsq(x + (size_t)s * in, (size_t)in);
        double gy = mla_plane_sumsq(dy + (size_t)s * out, (size_t)out);
        sq[n0 + s] += gy * (gx + b);
    }
}

/* The weighted pass's output gradient: rows of dy (samples n0..n0+n) scaled by their
 * weights, into work. The weight gradient of these rows is then one product (dY^T X),
 * as in the plain backward (Bu et al. 2022's book-keeping). */
static const float *dense_weighted_dy(const float *dy, const float *weights, int n0, int n, int out, float *work) {
#pragma omp parallel for schedule(static) if ((long)n * out > MLA_PAR_MIN)
    for (int s = 0; s < n; s++) {
        float w = weights[n0 + s];
        for (int o = 0; o < out; o++) work[(size_t)s * out + o] = dy[(size_t)s * out + o] * w;
    }
    return work;
}

/* Rows [n0, n0 + n) of the layer's own output gradient from its fused relu's (own = dy
 * where y > 0, else 0: the relu's backward), and with db the bias gradient summed in the
 * same pass, row after row as in the unfused order. Split over the team by blocks of 64
 * columns (each db[j] still summed over the rows in order, by one thread). */
enum { RELU_COLS = 64 };
static void relu_grad_rows(const float *y, const float *rdy, float *own, float *db, int n0, int n, int out) {
    int blocks = (out + RELU_COLS - 1) / RELU_COLS;
#pragma omp parallel for schedule(static) if (blocks > 1 && (long)n * out > MLA_PAR_MIN / 4)
    for (int b = 0; b < blocks; b++) {
        int j0 = b * RELU_COLS, j1 = out - j0 < RELU_COLS ? out : j0 + RELU_COLS;
        for (int i = n0; i < n0 + n; i++) {
            const float *yr = y + (size_t)i * out, *gr = rdy + (size_t)i * out;
            float *o = own + (size_t)i * out;
            for (int j = j0; j < j1; j++) o[j] = yr[j] > 0 ? gr[j] : 0.0f;
            if (db)
                for (int j = j0; j < j1; j++) db[j] += o[j];
        }
    }
}

static void dense_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                           mla_ctx *ctx) {
    int in = mla_shape_size(l->in), out = l->units;
    const mla_layer *relu = dense_fused_relu(l);
    /* The plain backward takes the bias gradient with the relu's pass. */
    bool db_done = relu && !ctx->sample_weights && !ctx->sq_norms && ctx->param_grads && l->bias;
    if (relu) { /* dy is this layer's own buffer: filled here from the relu's */
        relu_grad_rows(y, relu->dy, l->dy, db_done ? mla_layer_tensor(l, ctx->grads, 1) : NULL, n0, n, out);
        dy = l->dy;
    }
    x += (size_t)n0 * in;
    dy += (size_t)n0 * out;
    if (ctx->sample_weights) dy = dense_weighted_dy(dy, ctx->sample_weights, n0, n, out, ctx->work);
    if (ctx->sq_norms)
        dense_sq_norms(l, x, dy, n0, n, ctx->sq_norms);
    else if (ctx->param_grads) {
        float *dw = mla_layer_tensor(l, ctx->grads, 0);
#if MLA_DENSE_KERNELS
        if (dense_weight_grad_on_kernels(l, n))
            dense_weight_grad_kernels(x, dy, n, in, out, dw);
        else
#endif
            mla_sgemm(true, false, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
        if (l->bias && !db_done) {
            float *db = mla_layer_tensor(l, ctx->grads, 1);
            for (int i = 0; i < n; i++)
                for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
        }
    }
    if (dx) {
        const float *w = mla_layer_tensor(l, ctx->params, 0);
#if MLA_DENSE_KERNELS
        if (dense_input_grad_on_kernels(l, n)) {
            dense_input_grad_kernels(dy, w, n, in, out, dx + (size_t)n0 * in);
            return;
        }
#endif
        mla_sgemm(false, false, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx + (size_t)n0 * in, in);
    }
}

const mla_op mla_op_dense = {"dense", dense_parse, dense_setup,   dense_init, dense_forward, dense_backward,
                             NULL,    dense_reserve, true, true, NULL};
