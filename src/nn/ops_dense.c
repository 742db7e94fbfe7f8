/* dense: y = x W^T + b, with W of shape [units, in] (PyTorch's Linear layout).
 * Any input shape is flattened per sample. The three products run on OpenBLAS or, where
 * mla_dense_own_kernels says so, on the engine's 8 x 32 kernel (nn/gemm.h), each
 * output tile by one thread, so the bits do not depend on the thread count; on the AVX2
 * family the forward runs as dot products instead (mla_dense_forward_avx2). A relu that
 * follows is fused in (mla_seq_setup): the forward writes its output too, the backward
 * takes its gradient (with the bias gradient) before the products. A layer's backward is
 * one OpenMP region (the relu's pass, then the bias, input and weight gradients), on the
 * kernels for any number of units or samples (a 10-unit output layer's too), and in
 * training's plain step the optimizer's update of the weights runs inside it
 * (nn/optim_fused.h). */
#include <omp.h>
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
 * gradient); below 16 of the summed dimension (inputs, samples) OpenBLAS does as well,
 * and a forward of fewer than 8 samples is not worth its two transposes. The gradients'
 * last rows, where fewer than 8 remain (a 10-unit layer's weight gradient, a batch of 13's
 * input gradient), run through a zero-padded copy (tile_partial) when the summed dimension
 * fits its scratch. */
enum { PARTIAL_K_MAX = 1024 };
static bool dense_forward_on_kernels(const mla_layer *l, int n) {
    return mla_dense_own_kernels() && l->units % 8 == 0 && mla_shape_size(l->in) >= 16 && n >= 8;
}
static bool dense_weight_grad_on_kernels(const mla_layer *l, int n) {
    return mla_dense_own_kernels() && n >= 16 && (l->units % 8 == 0 || n <= PARTIAL_K_MAX);
}
/* W's rows are read 32 wide in place (all but the last, masked): with at least 32 inputs
 * a row's overrun stays within the next row, where the flat parameter vector may end. */
static bool dense_input_grad_on_kernels(const mla_layer *l, int n) {
    return mla_dense_own_kernels() && n >= 8 && (n % 8 == 0 || l->units <= PARTIAL_K_MAX) &&
           mla_shape_size(l->in) >= 32;
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

/* A gradient tile of rows < 8 rows (mla_gemm_tile's operands otherwise): a's rows are
 * copied, zero-padded to 8, so that the kernel reads nothing past the caller's buffers,
 * and the tile is formed in scratch; its first rows then go to c, added to it when
 * accumulate, which is the tile's own c + product: the same bits as a full tile's rows. */
static void tile_partial(mla_isa kernels, int rows, int k, const float *a, size_t ars, size_t acs, const float *b,
                         size_t ldb, float *c, size_t ldc, int ncols, bool accumulate) {
    float pa[8 * PARTIAL_K_MAX], pc[8 * 32];
    for (int i = 0; i < 8; i++)
        for (int t = 0; t < k; t++) pa[(size_t)i * k + t] = i < rows ? a[i * ars + t * acs] : 0.0f;
    mla_gemm_tile(kernels, k, pa, (size_t)k, 1, b, ldb, pc, 32, ncols, false, NULL, false, false);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < ncols; j++) {
            float *ci = c + i * ldc + j;
            *ci = accumulate ? *ci + pc[32 * i + j] : pc[32 * i + j];
        }
}

/* The gradients' products as work-shared loops (orphaned omp for, nowait) for a team
 * the caller has started: dense_backward runs a layer's relu pass, products and bias
 * gradient in one parallel region (one fork and two barriers a layer instead of a fork
 * and a join per pass). Each tile is one thread's, so the bits depend on no split. */

/* Where the weight gradient goes: added to dw, or with fused (optim_fused.h) the
 * parameters at flat offset w_off updated from it, dw never written. */
typedef struct {
    float *dw;
    const mla_opt_fused *fused;
    size_t w_off;
} grad_dest;

/* dW's tile (row tile r: units [8 r, 8 r + 8), column tile j), added to dw or, fused,
 * formed in scratch and handed to the update. */
static void weight_grad_tile(mla_isa kernels, int tw, const float *x, const float *dy, int n, int in, int out,
                             const grad_dest *to, int r, int j) {
    int o = 8 * r, rows = out - o < 8 ? out - o : 8, width = width_of(in, j, tw);
    float scratch[8 * 32];
    float *c = to->fused ? scratch : to->dw + (size_t)o * in + tw * j;
    size_t ldc = to->fused ? 32 : (size_t)in;
    bool acc = !to->fused;
    if (rows == 8)
        mla_gemm_tile(kernels, n, dy + o, 1, (size_t)out, x + tw * j, (size_t)in, c, ldc, width, false, NULL, false,
                      acc);
    else
        tile_partial(kernels, rows, n, dy + o, 1, (size_t)out, x + tw * j, (size_t)in, c, ldc, width, acc);
    if (to->fused) mla_opt_fused_rows(to->fused, to->w_off + (size_t)o * in + tw * j, (size_t)in, c, 32, rows, width);
}

/* Fused: row tile r's tiles formed BAND_COLS columns at a time into a band of scratch
 * (BAND_COLS a multiple of both tile widths), each band then handed to the update in one
 * call: 8 rows of up to BAND_COLS parameters instead of 8 rows of one tile's width (the
 * update's per-row overhead and its switch of the subnormal mode, per tile, cost more
 * than the update itself on one core). */
enum { BAND_COLS = 960 };
static void weight_grad_band(mla_isa kernels, int tw, const float *x, const float *dy, int n, int in, int out,
                             const grad_dest *to, int r) {
    float band[8 * BAND_COLS];
    int o = 8 * r, rows = out - o < 8 ? out - o : 8;
    for (int c0 = 0; c0 < in; c0 += BAND_COLS) {
        int cols = in - c0 < BAND_COLS ? in - c0 : BAND_COLS;
        for (int j = c0 / tw; j < tiles_of(in, tw) && tw * j < c0 + cols; j++) {
            float *c = band + (tw * j - c0);
            if (rows == 8)
                mla_gemm_tile(kernels, n, dy + o, 1, (size_t)out, x + tw * j, (size_t)in, c, BAND_COLS,
                              width_of(in, j, tw), false, NULL, false, false);
            else
                tile_partial(kernels, rows, n, dy + o, 1, (size_t)out, x + tw * j, (size_t)in, c, BAND_COLS,
                             width_of(in, j, tw), false);
        }
        mla_opt_fused_rows(to->fused, to->w_off + (size_t)o * in + c0, (size_t)in, band, BAND_COLS, rows, cols);
    }
}

/* dW (out x in) += dy^T x: 8 units by tw inputs a tile, summed over the samples; x's
 * rows are read in place (the last one masked: x may have no slack). Split by units:
 * thread t of T takes the row tiles [R t / T, R (t + 1) / T), the same rows of W as the
 * forward's split by units gives it and, to the row, the same as the optimizer's split of
 * each tensor (optim.c): the gradient's lines are then written and read again by one
 * core. (Split by input columns, as before, half of the 784 x 256 gradient was written on
 * the core the optimizer's pass did not run those rows on.) Within a thread the column
 * tiles are the outer loop: x's 24-column strip stays in L1 across its row tiles. With
 * fewer row tiles than threads, the tiles are shared out as a whole. */
static void weight_grad_team(const float *x, const float *dy, int n, int in, int out, const grad_dest *to) {
    mla_isa kernels = mla_nn_kernels();
    int tw = grad_tile(kernels), col_tiles = tiles_of(in, tw), row_tiles = (out + 7) / 8;
    int t = omp_get_thread_num(), team = omp_get_num_threads();
    if (row_tiles >= team) {
        int r0 = (int)((long)row_tiles * t / team), r1 = (int)((long)row_tiles * (t + 1) / team);
        if (to->fused) {
            for (int r = r0; r < r1; r++) weight_grad_band(kernels, tw, x, dy, n, in, out, to, r);
            return;
        }
        for (int j = 0; j < col_tiles; j++)
            for (int r = r0; r < r1; r++) weight_grad_tile(kernels, tw, x, dy, n, in, out, to, r, j);
        return;
    }
#pragma omp for collapse(2) schedule(static) nowait
    for (int j = 0; j < col_tiles; j++)
        for (int r = 0; r < row_tiles; r++) weight_grad_tile(kernels, tw, x, dy, n, in, out, to, r, j);
}

/* dx (n x in) = dy W: 8 samples by tw inputs a tile, summed over the units; W's rows are
 * read in place (the last one masked). */
static void input_grad_team(const float *dy, const float *w, int n, int in, int out, float *dx) {
    mla_isa kernels = mla_nn_kernels();
    int tw = grad_tile(kernels), col_tiles = tiles_of(in, tw), row_tiles = (n + 7) / 8;
#pragma omp for collapse(2) schedule(static) nowait
    for (int j = 0; j < col_tiles; j++)
        for (int r = 0; r < row_tiles; r++) {
            int i = 8 * r, rows = n - i < 8 ? n - i : 8;
            float *c = dx + (size_t)i * in + tw * j;
            if (rows == 8)
                mla_gemm_tile(kernels, out, dy + (size_t)i * out, (size_t)out, 1, w + tw * j, (size_t)in, c,
                              (size_t)in, width_of(in, j, tw), false, NULL, false, false);
            else
                tile_partial(kernels, rows, out, dy + (size_t)i * out, (size_t)out, 1, w + tw * j, (size_t)in, c,
                             (size_t)in, width_of(in, j, tw), false);
        }
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
 * same pass, row after row as in the unfused order. Work-shared over the caller's team
 * by blocks of 64 columns (each db[j] still summed over the rows in order, by one
 * thread); the loop's closing barrier lets the products read own. */
enum { RELU_COLS = 64 };
static void relu_grad_team(const float *y, const float *rdy, float *own, float *db, int n0, int n, int out) {
    int blocks = (out + RELU_COLS - 1) / RELU_COLS;
#pragma omp for schedule(static)
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

/* db += the sum of dy's n rows, row after row (by one thread of the team, nowait). */
static void bias_grad_team(const float *dy, int n, int out, float *db) {
#pragma omp single nowait
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
}

/* What one layer's backward does (dense_backward), each pointer NULL where that part is
 * not wanted. x, dy and dx start at the pass's first row (n0); y, rdy and own are whole
 * buffers. rdy: the fused relu's gradient, from which own (the layer's dy buffer, which
 * dy then points into) is formed first, with db when db_in_relu. */
typedef struct {
    const float *x, *y, *rdy, *dy, *w;
    float *own, *dw, *db, *dx;
    bool db_in_relu, dw_kernels, dx_kernels;
    int n0, n, in, out;
    const mla_opt_fused *fused; /* the weight's update fused into its gradient (dw_kernels) */
    size_t w_off;               /* the weight's place in the flat vector */
} dense_back;

/* The parts a team shares: the relu's pass, then the bias gradient, the input gradient
 * and the weight gradient on the kernels, with no barrier between them but where the
 * weight's update is fused (the input gradient reads W); the products on OpenBLAS run
 * after the region (dense_back_blas), and no update is fused where one of them reads W. */
static void dense_back_team(const dense_back *d) {
    if (d->rdy) relu_grad_team(d->y, d->rdy, d->own, d->db_in_relu ? d->db : NULL, d->n0, d->n, d->out);
    if (d->db && !d->db_in_relu) bias_grad_team(d->dy, d->n, d->out, d->db);
#if MLA_DENSE_KERNELS
    if (d->dx && d->dx_kernels) input_grad_team(d->dy, d->w, d->n, d->in, d->out, d->dx);
    if (d->dw && d->dw_kernels) {
        /* A fused update changes W, which the input gradient reads: all of it first. */
        if (d->fused && d->dx) {
#pragma omp barrier
        }
        grad_dest to = {d->dw, d->fused, d->w_off};
        weight_grad_team(d->x, d->dy, d->n, d->in, d->out, &to);
    }
#endif
}

/* The team's region, on one thread where the work is small (a per-sample pass). */
static void dense_back_region(const dense_back *d) {
    bool products = (d->dw && d->dw_kernels) || (d->dx && d->dx_kernels);
    long work = products ? (long)d->n * d->in * d->out : 4L * d->n * d->out;
#pragma omp parallel if (work > 65536)
    dense_back_team(d);
}

static void dense_back_blas(const dense_back *d) {
    if (d->dw && !d->dw_kernels)
        mla_sgemm(true, false, d->out, d->in, d->n, 1.0f, d->dy, d->out, d->x, d->in, 1.0f, d->dw, d->in);
    if (d->dx && !d->dx_kernels)
        mla_sgemm(false, false, d->n, d->in, d->out, 1.0f, d->dy, d->out, d->w, d->in, 0.0f, d->dx, d->in);
}

static void dense_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                           mla_ctx *ctx) {
    int in = mla_shape_size(l->in), out = l->units;
    const mla_layer *relu = dense_fused_relu(l);
    bool grads = ctx->param_grads && !ctx->sq_norms;
    dense_back d = {.x = x + (size_t)n0 * in, .y = y, .dy = (relu ? l->dy : dy) + (size_t)n0 * out,
                    .rdy = relu ? relu->dy : NULL, .own = l->dy, .w = mla_layer_tensor(l, ctx->params, 0),
                    .dx = dx ? dx + (size_t)n0 * in : NULL, .n0 = n0, .n = n, .in = in, .out = out};
    if (grads) {
        d.dw = mla_layer_tensor(l, ctx->grads, 0);
        if (l->bias) d.db = mla_layer_tensor(l, ctx->grads, 1);
    }
    /* The plain backward takes the bias gradient with the relu's pass. */
    d.db_in_relu = relu && !ctx->sample_weights && d.db;
#if MLA_DENSE_KERNELS
    d.dw_kernels = dense_weight_grad_on_kernels(l, n);
    d.dx_kernels = dense_input_grad_on_kernels(l, n);
#endif
#if MLA_DENSE_KERNELS
    /* Fused only where the input gradient, which reads W, runs in the region, before. */
    if (ctx->fused && d.dw && d.dw_kernels && (!d.dx || d.dx_kernels) && l->op == &mla_op_dense) {
        size_t off = (size_t)(d.dw - ctx->grads);
        if (mla_opt_fused_claim(ctx->fused, off, (size_t)out * in)) d.fused = ctx->fused, d.w_off = off;
    }
#endif
    if (ctx->sample_weights || ctx->sq_norms) { /* the relu's pass first, alone */
        if (relu) {
            dense_back r = {.y = y, .rdy = d.rdy, .own = d.own, .n0 = n0, .n = n, .out = out};
            dense_back_region(&r);
            d.rdy = NULL;
        }
        if (ctx->sample_weights) d.dy = dense_weighted_dy(d.dy, ctx->sample_weights, n0, n, out, ctx->work);
        if (ctx->sq_norms) dense_sq_norms(l, d.x, d.dy, n0, n, ctx->sq_norms);
    }
    dense_back_region(&d);
    dense_back_blas(&d);
}

const mla_op mla_op_dense = {"dense", dense_parse, dense_setup,   dense_init, dense_forward, dense_backward,
                             NULL,    dense_reserve, true, true, NULL};
