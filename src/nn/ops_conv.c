/* conv2d, NCHW: weight [out, in, k, k], bias [out]; per sample im2col + one sgemm (see
 * conv2d_scratch), or on the AVX2 family for stride 1 an implicit GEMM (conv_implicit.c).
 * Output size: (h + 2 pad - k) / stride + 1. The other convolutions live in
 * ops_dwconv.c (depthwise) and ops_convt.c (transposed); im2col in im2col.c. */
#include <omp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/conv.h"
#include "nn/gemm.h"
#include "nn/layer.h"
#include "nn/reduce.h"
#include "nn/runs.h"

/* ---- the weight gradient of one sample ---- */

#if defined(__AVX512F__)
/* The sixteen lane sums of a[0..16) as one vector, lane t = sum of a[t]'s lanes: pairs
 * are folded within 128-bit quarters, then quarters across the register. */
static __m512 sum_lanes_16(const __m512 *a) {
    __m512 h8[8], h4[4];
    for (int t = 0; t < 8; t++)
        h8[t] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * t], a[2 * t + 1]), _mm512_unpackhi_ps(a[2 * t], a[2 * t + 1]));
    for (int t = 0; t < 4; t++)
        h4[t] = _mm512_add_ps(_mm512_shuffle_ps(h8[2 * t], h8[2 * t + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_ps(h8[2 * t], h8[2 * t + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(h4[0], h4[1], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(h4[0], h4[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(h4[2], h4[3], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(h4[2], h4[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* dw[co][r] += dot(dy[co][0..p), col[r][0..p)) for a 4 x 4 block of (co, r): sixteen
 * accumulators over the sample's positions, eight loads per sixteen FMAs, full-width
 * loads but for the tail. */
static void weight_grad_4x4(const float *dy, const float *col, int p, float *dw, int ldw) {
    __m512 acc[16];
    for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
    int q = 0;
    for (; q < p; q += 16) {
        __mmask16 m = q + 16 <= p ? (__mmask16)0xffff : mla_lanes_between(0, p - q);
        __m512 d[4], c[4];
        if (m == 0xffff) {
            for (int i = 0; i < 4; i++) d[i] = _mm512_loadu_ps(dy + (size_t)i * p + q);
            for (int j = 0; j < 4; j++) c[j] = _mm512_loadu_ps(col + (size_t)j * p + q);
        } else {
            for (int i = 0; i < 4; i++) d[i] = _mm512_maskz_loadu_ps(m, dy + (size_t)i * p + q);
            for (int j = 0; j < 4; j++) c[j] = _mm512_maskz_loadu_ps(m, col + (size_t)j * p + q);
        }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[4 * i + j] = _mm512_fmadd_ps(d[i], c[j], acc[4 * i + j]);
    }
    float sums[16]; /* sums[4 i + j]: (co + i, r + j) */
    _mm512_storeu_ps(sums, sum_lanes_16(acc));
    for (int i = 0; i < 4; i++) {
        float *row = dw + (size_t)i * ldw;
        _mm_storeu_ps(row, _mm_add_ps(_mm_loadu_ps(row), _mm_loadu_ps(sums + 4 * i)));
    }
}
#endif

static void conv2d_add_bias(float *restrict ys, const float *restrict b, int cout, int p);
static void relu_inplace(float *restrict v, size_t len);

/* Where the AVX2 kernel takes a conv product from OpenBLAS (its 256-bit Haswell kernels,
 * the same width). One core of an AVX-512 AMD EPYC, the build at -march=x86-64-v3, CPU
 * time (the machine shared; 15 interleaved runs, medians; repeats differ by up to 5%),
 * GFLOP/s AVX2 kernel / OpenBLAS: forward 64x121x288 84/87, 32x196x288 88/81, 16x784x144
 * 85/77, 64x49x576 84/81; input gradient 288x121x64 83/91, 144x784x16 73/86, 288x196x32
 * 79/89, 576x49x64 80/88; transposed weight gradient (rows x cout x positions)
 * 288x64x121 92/88, 288x32x196 91/77, 576x64x49 86/90. So the forward (which also fuses
 * the bias and the relu into its stores) and the weight gradient run here, the input
 * gradient on OpenBLAS. Stride-1 convs do not come here on the AVX2 family: their forward
 * and input gradient run as implicit GEMMs (conv_implicit.c), without im2col or col2im. */
static bool conv_avx2_gemm_rule(bool transpose_a) { return !transpose_a; }

/* c[m x n] = op(a) b for one sample, c and b with rows of n floats: the forward (a the
 * weights, b the unfolded sample) and the input gradient (a the weights transposed, b
 * the output gradient). b_slack: b is followed by MLA_SLACK_FLOATS readable floats.
 * Then, if asked, row i gets bias[i] added and the relu applied. */
static void conv2d_gemm(bool transpose_a, int m, int n, int k, const float *a, const float *b, bool b_slack,
                        const float *bias, bool relu, float *c) {
    /* OpenBLAS packs all of b for a result of 16 to 64 rows. On one core, ResNet-20's
     * and the cnn preset's shapes (m x n x k) ran, OpenBLAS against the AVX-512 kernel, in
     * GFLOP/s: forward 16x784x144 93/163, 32x196x288 97/131, 64x49x576 94/118,
     * 64x121x288 109/138; input gradient 144x784x16 87/122, 288x196x32 110/122,
     * 576x49x64 104/116, 288x121x64 118/137. With k of a few taps (a one-channel
     * input: 9) OpenBLAS is faster. AVX2: see conv_avx2_gemm_rule. */
    mla_isa kernels = mla_nn_kernels();
    if (kernels != MLA_ISA_PORTABLE && k >= 16 && m % 8 == 0 &&
        (kernels == MLA_ISA_AVX512 || conv_avx2_gemm_rule(transpose_a))) {
        size_t ars = transpose_a ? 1 : (size_t)k, acs = transpose_a ? (size_t)m : 1;
        for (int j = 0; j < n; j += 32)
            for (int i = 0; i < m; i += 8)
                mla_gemm_tile(kernels, k, a + (size_t)i * ars, ars, acs, b + j, (size_t)n, c + (size_t)i * n + j,
                              (size_t)n, n - j < 32 ? n - j : 32, b_slack, bias ? bias + i : NULL, relu, false);
        return;
    }
    (void)b_slack;
    if (transpose_a)
        mla_sgemm(true, false, m, n, k, 1.0f, a, m, b, n, 0.0f, c, n);
    else
        mla_sgemm(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    if (bias) conv2d_add_bias(c, bias, m, n);
    if (relu) relu_inplace(c, (size_t)m * n);
}

static bool conv2d_is_pointwise(const mla_layer *l) { return l->kernel == 1 && l->stride == 1 && l->pad == 0; }

/* A conv whose one output position reads its whole unpadded input (kernel = input size,
 * no padding: the dknn preset's third conv, LeNet-5's C5 on 5x5 maps) is a dense layer:
 * its im2col column is the sample itself, in the weight's [out][in][k][k] order. Run per
 * sample it is a matrix-vector product, one lane of each 32-wide kernel tile used; run
 * as dense over the batch (conv2d_dense_*) it is one product with the samples as columns. */
static bool conv2d_is_dense(const mla_layer *l) {
    return l->out.h == 1 && l->out.w == 1 && l->pad == 0 && l->kernel == l->in.h && l->kernel == l->in.w &&
           !l->fused_pool;
}

/* Whether the sample's weight gradient is accumulated transposed (rows x cout, see
 * conv2d_weight_grad_t): filters in whole registers' pairs, fewer than 512 positions
 * (the dot products do better above), and room in dcol for the transposed dy. */
static bool conv2d_grad_transposed(const mla_layer *l) {
    mla_isa kernels = mla_nn_kernels();
    if (kernels == MLA_ISA_PORTABLE) return false; /* both kernel families win here (above) */
    int rows = l->in.c * l->kernel * l->kernel, p = l->out.h * l->out.w;
    return l->filters % 32 == 0 && p < 512 && l->filters <= rows && !conv2d_is_pointwise(l);
}

/* dwt (rows x cout) += col (rows x p) dy^T (p x cout): the weight gradient, transposed,
 * as the unpacked kernel's shape, with col's rows broadcast and dy transposed first
 * (into dyt, p x cout floats and slack) so its rows are the filters. OpenBLAS, given
 * dy col^T, packed col per sample: on one core 64x288x121 (the cnn preset's second
 * conv) ran at 104 GFLOP/s and 32x288x196 (ResNet's second stage) at 78. */
static void conv2d_weight_grad_t(const float *dy, const float *col, int cout, int rows, int p, float *dwt,
                                 float *dyt) {
    mla_isa kernels = mla_nn_kernels();
    mla_transpose_any(kernels, dy, cout, p, dyt);
    for (int j = 0; j < cout; j += 32)
        for (int i = 0; i < rows; i += 8) {
            if (rows - i >= 8)
                mla_gemm_tile(kernels, p, col + (size_t)i * p, (size_t)p, 1, dyt + j, (size_t)cout,
                              dwt + (size_t)i * cout + j, (size_t)cout, 32, true, NULL, false, true);
            else /* the last rows of an odd count: one by one */
                for (int r = i; r < rows; r++)
                    for (int co = j; co < j + 32; co++) {
                        float sum = 0;
                        for (int q = 0; q < p; q++) sum += col[(size_t)r * p + q] * dyt[(size_t)q * cout + co];
                        dwt[(size_t)r * cout + co] += sum;
                    }
        }
}

/* dw (cout x rows) += dy (cout x p) col^T (p x rows): the sample's weight gradient. */
static void conv2d_weight_grad(const float *dy, const float *col, int cout, int rows, int p, float *dw) {
    mla_isa kernels = mla_nn_kernels();
#if MLA_HAVE_AVX2_CODE
    /* The same dot products on the AVX2 family, in blocks of 2 x 4. One core of an
     * AVX-512 AMD EPYC, OpenBLAS's Haswell kernels, the build at -march=x86-64-v3 (the
     * machine shared; best of 200, operands in cache): ResNet-20's first stage
     * (16 x 144 x 784) ran at 81-84 GFLOP/s here against 68 in OpenBLAS. */
    if (kernels == MLA_ISA_AVX2 && p >= 512 && cout % 2 == 0 && rows % 4 == 0) {
        mla_weight_grad_avx2(dy, col, cout, rows, p, dw);
        return;
    }
#endif
#if defined(__AVX512F__)
    /* OpenBLAS, given this as dy col^T, packs the whole col matrix (rows x p floats) per
     * sample for a result of 16 or 32 rows: on ResNet's first stage (p = 784) it ran at
     * 56 GFLOP/s on one core, these dot products at 138. With fewer positions the
     * tail and the horizontal sums cost more than the packing (p = 196: 77 against 74,
     * p = 49: 39 against 98), so OpenBLAS keeps those. */
    if (kernels == MLA_ISA_AVX512 && p >= 512 && cout % 4 == 0 && rows % 4 == 0) {
        for (int co = 0; co < cout; co += 4)
            for (int r = 0; r < rows; r += 4)
                weight_grad_4x4(dy + (size_t)co * p, col + (size_t)r * p, p, dw + (size_t)co * rows + r, rows);
        return;
    }
#endif
    (void)kernels;
    mla_sgemm(false, true, cout, rows, p, 1.0f, dy, p, col, p, 1.0f, dw, rows);
}

/* ---- shared parsing ---- */

mla_status mla_conv_parse_common(mla_layer *l, const cJSON *j, int classes, bool has_filters) {
    static const char *const keys[] = {"filters", "kernel", "stride", "pad", "bias", "out_pad", NULL};
    static const char *const dw_keys[] = {"kernel", "stride", "pad", "bias", NULL};
    mla_status s = mla_spec_keys(l, j, has_filters ? keys : dw_keys);
    if (!s && has_filters) s = mla_spec_int(l, j, "filters", -1, 1, 1 << 16, classes, &l->filters);
    if (!s) s = mla_spec_int(l, j, "kernel", -1, 1, 64, 0, &l->kernel);
    if (!s) s = mla_spec_int(l, j, "stride", 1, 1, 64, 0, &l->stride);
    if (!s) s = mla_spec_int(l, j, "pad", 0, 0, 64, 0, &l->pad);
    if (!s) s = mla_spec_bool(l, j, "bias", true, &l->bias);
    if (!s && has_filters) s = mla_spec_int(l, j, "out_pad", 0, 0, 63, 0, &l->out_pad);
    return s;
}

mla_status mla_conv_out_shape(mla_layer *l, int channels) {
    int eh = l->in.h + 2 * l->pad - l->kernel, ew = l->in.w + 2 * l->pad - l->kernel;
    if (eh < 0 || ew < 0)
        return mla_error(MLA_ERR_SHAPE, "layer %s (%s): kernel %d is larger than the padded input %dx%d", l->name,
                         l->op->type, l->kernel, l->in.h + 2 * l->pad, l->in.w + 2 * l->pad);
    l->out = (mla_shape){channels, eh / l->stride + 1, ew / l->stride + 1};
    return MLA_OK;
}

void mla_conv_init(mla_layer *l, float *p, mla_rng *rng) {
    /* fan_in of the weight as PyTorch computes it: dims[1] * k * k. */
    const mla_tensor_desc *t = &l->tensors[0];
    int fan_in = t->dims[1] * t->dims[2] * t->dims[3];
    size_t count = (size_t)t->dims[0] * (size_t)fan_in;
    mla_init_uniform(mla_layer_tensor(l, p, 0), count, fan_in, rng);
    if (l->bias) mla_init_uniform(mla_layer_tensor(l, p, 1), (size_t)l->tensors[1].dims[0], fan_in, rng);
}

/* ---- conv2d ---- */

static mla_status conv2d_parse(mla_layer *l, const cJSON *j, int classes) {
    return mla_conv_parse_common(l, j, classes, true);
}

static mla_status conv2d_setup(mla_layer *l) {
    if (l->out_pad) return mla_error(MLA_ERR_INVALID, "layer %s (conv2d): \"out_pad\" is for convt2d", l->name);
    mla_status s = mla_conv_out_shape(l, l->filters);
    if (s) return s;
    int k = l->kernel;
    mla_layer_add_tensor(l, "weight", true, 4, l->filters, l->in.c, k, k);
    if (l->bias) mla_layer_add_tensor(l, "bias", true, 1, l->filters, 0, 0, 0);
    l->macs = (double)l->filters * l->in.c * k * k * l->out.h * l->out.w;
    l->units = l->filters; /* what dense's passes read, for a conv run as dense (conv2d_is_dense) */
    return MLA_OK;
}

/* conv2d runs sample by sample, each thread on its own static share of the batch: the
 * sample's im2col matrix (rows x P) stays in that core's cache, sgemm writes the output
 * straight into NCHW, and the weight gradient collects in a per-thread buffer that is
 * summed in thread order at the end (same thread count, same bits). Inside the parallel
 * region OpenBLAS runs single-threaded, a team of one included (mla_blas_serial_in_region):
 * a sample's bits do not depend on the batch it comes in. A 1x1, stride-1, unpadded conv
 * needs no im2col. */
typedef struct {
    float *col, *dcol, *dw, *db;
    float *dy; /* with a fused relu: the sample's output (forward); its own output gradient (backward,
                  fused or weighted: the scaled one) */
} conv2d_scratch;

/* Floats of one unfolded sample; a pointwise conv reads and writes samples in place and needs none. */
static size_t conv2d_col_floats(const mla_layer *l) {
    if (conv2d_is_pointwise(l)) return 0;
    size_t col = (size_t)l->in.c * l->kernel * l->kernel * l->out.h * l->out.w;
    /* col and dcol also hold the implicit GEMM's bordered input and grid (whatever the
     * family: tests switch it after the scratch is sized) */
    size_t implicit = l->stride == 1 ? mla_conv_implicit_floats(l) : 0;
    return col > implicit ? col : implicit;
}

/* Floats after every thread's scratch: the input gradient's flipped weights (shared). */
static size_t conv2d_shared_floats(const mla_layer *l) {
    if (l->stride != 1 || conv2d_is_pointwise(l)) return 0;
    return (size_t)l->filters * l->in.c * l->kernel * l->kernel;
}

/* A thread's scratch: col and dy, which conv2d_gemm reads as b, end with
 * MLA_SLACK_FLOATS floats. The net zeroes its workspace when it allocates it; other
 * layers sharing it may leave any values there, which only reach dropped lanes. */
static size_t conv2d_thread_floats(const mla_layer *l) {
    size_t rows = (size_t)l->in.c * l->kernel * l->kernel;
    size_t own_dy = (size_t)mla_shape_size(l->out);
    return 2 * conv2d_col_floats(l) + (size_t)l->filters * rows + (size_t)l->filters + own_dy + 2 * MLA_SLACK_FLOATS;
}

static conv2d_scratch conv2d_scratch_of(const mla_layer *l, float *work, int t) {
    size_t rows = (size_t)l->in.c * l->kernel * l->kernel;
    float *base = work + (size_t)t * conv2d_thread_floats(l);
    conv2d_scratch sc;
    sc.col = base;
    sc.dcol = sc.col + conv2d_col_floats(l) + MLA_SLACK_FLOATS;
    sc.dw = sc.dcol + conv2d_col_floats(l);
    sc.db = sc.dw + (size_t)l->filters * rows;
    sc.dy = sc.db + l->filters;
    return sc;
}

/* Threads for a pass over n samples: no more than the scratch was sized for, nor than samples. */
static int conv2d_threads(const mla_layer *l, int n) {
    int t = mla_get_threads();
    if (t > l->work_threads) t = l->work_threads;
    return t < n ? t : n;
}

static mla_status conv2d_reserve(mla_layer *l, int n) {
    l->work_threads = mla_get_threads();
    l->work_floats = (size_t)l->work_threads * conv2d_thread_floats(l) + conv2d_shared_floats(l);
    if (conv2d_is_dense(l)) { /* dense's scratch for the batch, if that is more */
        size_t per_thread = l->work_floats;
        mla_status s = mla_op_dense.reserve(l, n);
        if (s) return s;
        if (l->work_floats < per_thread) l->work_floats = per_thread;
    }
    return MLA_OK;
}

#if defined(__AVX512F__)
/* im2col of a stride-1 convolution without padding (the cnn preset's), into scratch:
 * every output row is copied 16 floats at a time with plain loads and stores, in
 * increasing address order. A row's last store runs past its end; the next row (or
 * the next tap's first row) then overwrites what it wrote there, and after the very
 * last row it lands in the scratch's slack. The loads stay inside the input row for
 * the lanes kept, and past it read the next row, or after the sample the slack of the
 * net buffer it lies in. Masked loads and stores (mla_im2col) ran at half this speed. */
static void im2col_valid_s1_into_scratch(const float *x, int c, int h, int w, int k, int oh, int ow, float *col) {
    float *dst = col;
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                const float *src = x + ((size_t)ch * h + i) * w + j;
                for (int oy = 0; oy < oh; oy++, dst += ow)
                    for (int x0 = 0; x0 < ow; x0 += 16)
                        _mm512_storeu_ps(dst + x0, _mm512_loadu_ps(src + (size_t)oy * w + x0));
            }
}
#endif

/* The sample's im2col matrix (rows x P) in col (scratch, with slack), or the sample
 * itself for a pointwise conv. xs lies in a net buffer (slack after it). */
static const float *conv2d_unfold(const mla_layer *l, const float *xs, float *col) {
    if (conv2d_is_pointwise(l)) return xs;
#if defined(__AVX512F__)
    if (l->stride == 1 && l->pad == 0) {
        im2col_valid_s1_into_scratch(xs, l->in.c, l->in.h, l->in.w, l->kernel, l->out.h, l->out.w, col);
        return col;
    }
#endif
    mla_im2col(xs, l->in.c, l->in.h, l->in.w, l->kernel, l->stride, l->pad, l->out.h, l->out.w, col,
               (size_t)l->out.h * l->out.w);
    return col;
}

/* ys[co][q] += b[co]: the bias of each output channel row. */
static void conv2d_add_bias(float *restrict ys, const float *restrict b, int cout, int p) {
    for (int co = 0; co < cout; co++) {
        float *restrict row = ys + (size_t)co * p, bias = b[co];
        for (int q = 0; q < p; q++) row[q] += bias;
    }
}

static void relu_inplace(float *restrict v, size_t len) {
    for (size_t q = 0; q < len; q++) v[q] = v[q] > 0 ? v[q] : 0.0f;
}

/* The relu's backward: own = dy where the relu's input y was positive, else 0. */
static void relu_grad(const float *restrict y, const float *restrict dy, float *restrict own, size_t len) {
    for (size_t q = 0; q < len; q++) own[q] = y[q] > 0 ? dy[q] : 0.0f;
}

/* conv2d_is_dense: dense's forward over the batch (the same weight and bias tensors),
 * then the fused relu's output; the next batchnorm gathers its own statistics. */
static void conv2d_dense_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    mla_op_dense.forward(l, x, y, n, ctx);
    if (l->stats_to) l->stats_to->sample_stats_ready = false;
    if (!l->fused_relu) return;
    size_t len = (size_t)n * l->filters;
    float *r = l->fused_relu->y;
#pragma omp parallel for schedule(static) if (len > MLA_PAR_MIN)
    for (size_t q = 0; q < len; q++) r[q] = y[q] > 0 ? y[q] : 0.0f;
}

/* out = the conv of sample xs (bias, then the relu if asked): an implicit GEMM where taps
 * (the forward's plan) is given, else im2col into scratch (or the sample itself, for a
 * pointwise conv; both have slack) and one product. */
static void conv2d_product(const mla_layer *l, const float *xs, const float *w, const float *b, bool relu,
                           float *out, const conv2d_scratch *sc, const int *taps) {
    if (taps) {
        mla_conv_implicit_forward(l, xs, w, b, relu, out, sc->col, sc->dcol, taps);
        return;
    }
    const float *col = conv2d_unfold(l, xs, sc->col);
    conv2d_gemm(false, l->filters, l->out.h * l->out.w, l->in.c * l->kernel * l->kernel, w, col, true, b, relu, out);
}

static void conv2d_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    if (conv2d_is_dense(l)) {
        conv2d_dense_forward(l, x, y, n, ctx);
        return;
    }
    int cout = l->filters, p = l->out.h * l->out.w;
    size_t out_size = (size_t)mla_shape_size(l->out), in_size = (size_t)mla_shape_size(l->in);
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    const float *b = l->bias ? mla_layer_tensor(l, ctx->params, 1) : NULL;
    bool stats = l->stats_to && ctx->train;
    int threads = conv2d_threads(l, n);
    int *taps = mla_conv_implicit_forward_ok(l) ? mla_conv_implicit_plan(l, false) : NULL;
#pragma omp parallel num_threads(threads)
    {
        mla_blas_serial_in_region();
        conv2d_scratch sc = conv2d_scratch_of(l, ctx->work, omp_get_thread_num());
#pragma omp for schedule(static)
        for (int s = 0; s < n; s++) {
            const float *xs = x + (size_t)s * in_size;
            float *ys = y + (size_t)s * out_size;
            if (!l->fused_relu) {
                conv2d_product(l, xs, w, b, false, ys, &sc, taps);
                if (stats) { /* the next batchnorm's statistics, while the sample is in cache */
                    double *st = mla_bn_sample_stats(l->stats_to, s);
                    for (int co = 0; co < cout; co++)
                        mla_plane_mean_m2(ys + (size_t)co * p, (size_t)p, &st[2 * co], &st[2 * co + 1]);
                }
                continue;
            }
            /* Fused: the sample is computed in this thread's scratch (its own-gradient
             * buffer, idle in the forward pass), the conv's and the relu's activations are
             * streamed out, and the pool reads the relu's output from cache. */
            float *out = sc.dy;
            bool keep = ctx->keep_all || !l->output_optional;
            /* Without keep the conv's own output is not wanted: the relu runs in the
             * product's epilogue. */
            conv2d_product(l, xs, w, b, !keep, out, &sc, taps);
            if (keep) {
                mla_stream_copy(ys, out, out_size);
                relu_inplace(out, out_size);
                mla_stream_copy(l->fused_relu->y + (size_t)s * out_size, out, out_size);
            }
            if (l->fused_pool) mla_maxpool_sample(l->fused_pool, out, s);
            if (keep) mla_stream_fence();
        }
    }
    free(taps);
    if (l->stats_to) l->stats_to->sample_stats_ready = stats;
}

/* Adds every thread's weight (and bias) gradient into the net's, in thread order. */
static void conv2d_reduce(mla_layer *l, mla_ctx *ctx, int threads) {
    size_t nw = (size_t)l->filters * l->in.c * l->kernel * l->kernel;
    float *dw = mla_layer_tensor(l, ctx->grads, 0);
    float *db = l->bias ? mla_layer_tensor(l, ctx->grads, 1) : NULL;
    /* Thread t's scratch lies t * stride floats after thread 0's. */
    size_t stride = conv2d_thread_floats(l);
    conv2d_scratch first = conv2d_scratch_of(l, ctx->work, 0);
    if (conv2d_grad_transposed(l)) { /* thread scratch holds rows x cout */
        int cout = l->filters, rows = l->in.c * l->kernel * l->kernel;
#pragma omp parallel for schedule(static) num_threads(threads) if (nw * threads > MLA_PAR_MIN)
        for (int co = 0; co < cout; co++)
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < threads; t++)
                    dw[(size_t)co * rows + r] += first.dw[(size_t)t * stride + (size_t)r * cout + co];
    } else {
#pragma omp parallel for schedule(static) num_threads(threads) if (nw * threads > MLA_PAR_MIN)
        for (size_t i = 0; i < nw; i++)
            for (int t = 0; t < threads; t++) dw[i] += first.dw[(size_t)t * stride + i];
    }
    if (db)
        for (int co = 0; co < l->filters; co++)
            for (int t = 0; t < threads; t++) db[co] += first.db[(size_t)t * stride + co];
}

/* The per-sample norms pass: the squared norm of one sample's parameter gradient,
 * given its weight gradient dw (cout x rows, in either layout) and its output
 * gradient dys (cout x P), whose plane sums are the bias gradient (written to db
 * unless NULL: what the weighted pass keeps after dw). Forming dw costs
 * cout * rows * P; the Gram identity sum_{p,q} (a_p . a_q)(g_p . g_q) would cost
 * P^2 (rows + cout), more for every preset's convs (cnn's second: 2.2M against 5.1M
 * multiply-adds), so it is not used. */
static double conv2d_sample_sq_norm(const mla_layer *l, const float *dys, const float *dw, float *db) {
    int cout = l->filters, rows = l->in.c * l->kernel * l->kernel, p = l->out.h * l->out.w;
    double sq = mla_plane_sumsq(dw, (size_t)cout * rows);
    if (l->bias)
        for (int co = 0; co < cout; co++) {
            double b = mla_plane_sum(dys + (size_t)co * p, (size_t)p);
            sq += b * b;
            if (db) db[co] = (float)b;
        }
    return sq;
}

/* Book-keeping (Bu et al. 2022): the norms pass forms each sample's weight gradient
 * anyway; kept (in the layout it was formed in, then the bias gradient), the weighted
 * pass is one weighted sum over the samples, a read of the kept floats, where forming
 * them again would cost a product per sample. */
static size_t conv2d_kept_floats(const mla_layer *l) {
    if (conv2d_is_dense(l)) return 0; /* dense's weighted pass forms the sum in one product */
    return (size_t)l->filters * l->in.c * l->kernel * l->kernel + (l->bias ? (size_t)l->filters : 0);
}

/* grads += sum_s w[s] kept_s over samples [n0, n0 + n): blocks of the kept vector, one
 * thread each, summed over the samples in order (the bits do not depend on the thread
 * count), then put in place (a transposed weight gradient turned back). */
static void conv2d_weighted_from_kept(const mla_layer *l, const float *weights, int n0, int n, mla_ctx *ctx) {
    enum { BLOCK = 256 };
    int cout = l->filters, rows = l->in.c * l->kernel * l->kernel;
    size_t nw = (size_t)cout * rows, kf = conv2d_kept_floats(l), blocks = (kf + BLOCK - 1) / BLOCK;
    float *dw = mla_layer_tensor(l, ctx->grads, 0);
    float *db = l->bias ? mla_layer_tensor(l, ctx->grads, 1) : NULL;
    bool transposed = conv2d_grad_transposed(l);
#pragma omp parallel for schedule(static) if (kf * n > MLA_PAR_MIN)
    for (size_t b = 0; b < blocks; b++) {
        size_t j0 = b * BLOCK, m = kf - j0 < BLOCK ? kf - j0 : BLOCK;
        float acc[BLOCK] = {0};
        for (int s = n0; s < n0 + n; s++) {
            const float *src = l->kept + (size_t)s * kf + j0;
            float w = weights[s];
            for (size_t k = 0; k < m; k++) acc[k] += w * src[k];
        }
        for (size_t k = 0; k < m; k++) {
            size_t j = j0 + k;
            if (j >= nw)
                db[j - nw] += acc[k];
            else if (transposed) /* j = r cout + co */
                dw[(j % cout) * rows + j / cout] += acc[k];
            else
                dw[j] += acc[k];
        }
    }
}

/* The weighted pass's own output gradient: dys scaled by w into own (which may be dys). */
static void scale_into(float *own, const float *dys, float w, size_t len) {
    for (size_t q = 0; q < len; q++) own[q] = dys[q] * w;
}

static void conv2d_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                            mla_ctx *ctx) {
    (void)y;
    if (conv2d_is_dense(l)) { /* dense's backward (norms and weighted passes included) */
        if (l->fused_relu) { /* the relu's backward into the conv's own gradient buffer */
            size_t a = (size_t)n0 * l->filters, b = (size_t)(n0 + n) * l->filters;
            relu_grad(l->y + a, l->fused_relu->dy + a, l->dy + a, b - a);
            dy = l->dy;
        }
        mla_op_dense.backward(l, x, l->y, dy, dx, n0, n, ctx);
        return;
    }
    int cout = l->filters, rows = l->in.c * l->kernel * l->kernel, p = l->out.h * l->out.w;
    size_t out_size = (size_t)mla_shape_size(l->out), in_size = (size_t)mla_shape_size(l->in);
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    bool ghost = ctx->sq_norms != NULL, pgrads = ctx->param_grads || ghost, pointwise = conv2d_is_pointwise(l);
    bool transposed = conv2d_grad_transposed(l);
    const float *weights = ctx->sample_weights;
    if (weights && l->kept) {
        conv2d_weighted_from_kept(l, weights, n0, n, ctx);
        return;
    }
    /* The team may be smaller than asked (a pass inside another parallel region runs on one
     * thread): only the scratch of threads that ran is summed. */
    int threads = conv2d_threads(l, n), team = 1;
    /* The implicit input gradient's plan and flipped weights, after every thread's scratch. */
    int *taps = dx && mla_conv_implicit_input_grad_ok(l) ? mla_conv_implicit_plan(l, true) : NULL;
    float *wflip = ctx->work + (size_t)l->work_threads * conv2d_thread_floats(l);
    if (taps) mla_conv_flip_weights(l, w, wflip);
#pragma omp parallel num_threads(threads)
    {
#pragma omp single
        team = omp_get_num_threads();
        mla_blas_serial_in_region();
        conv2d_scratch sc = conv2d_scratch_of(l, ctx->work, omp_get_thread_num());
        if (pgrads) {
            memset(sc.dw, 0, (size_t)cout * rows * sizeof(float));
            memset(sc.db, 0, (size_t)cout * sizeof(float));
        }
#pragma omp for schedule(static)
        for (int s = n0; s < n0 + n; s++) {
            const float *dys = dy + (size_t)s * out_size;
            /* The layer's own gradient buffer and the scratch have slack; a caller's
             * (a conv last in the net) may not. */
            bool dys_slack = dy == l->dy;
            if (l->fused_pool) { /* the pool's and the relu's backward, straight into scratch */
                mla_maxpool_relu_backward_sample(l->fused_pool, s, sc.dy);
                dys = sc.dy;
                dys_slack = true;
            } else if (l->fused_relu) { /* the relu's backward, for this sample, while it is in cache */
                relu_grad(l->y + (size_t)s * out_size, l->fused_relu->dy + (size_t)s * out_size, sc.dy, out_size);
                dys = sc.dy;
                dys_slack = true;
            }
            if (weights) { /* recomputed: this sample's share of the weighted sum */
                scale_into(sc.dy, dys, weights[s], out_size);
                dys = sc.dy;
                dys_slack = true;
            }
            if (pgrads) {
                /* The norms pass forms this sample's gradient alone: in the kept slot,
                 * when the net gave the layer one, else in scratch. */
                float *dws = ghost && l->kept ? l->kept + (size_t)s * conv2d_kept_floats(l) : sc.dw;
                if (ghost) memset(dws, 0, (size_t)cout * rows * sizeof(float));
                const float *col = conv2d_unfold(l, x + (size_t)s * in_size, sc.col);
                if (transposed) /* dcol is free until the input gradient */
                    conv2d_weight_grad_t(dys, col, cout, rows, p, dws, sc.dcol);
                else
                    conv2d_weight_grad(dys, col, cout, rows, p, dws);
                if (ghost)
                    ctx->sq_norms[s] += conv2d_sample_sq_norm(l, dys, dws, l->kept ? dws + (size_t)cout * rows : NULL);
                else if (l->bias)
                    for (int co = 0; co < cout; co++) sc.db[co] += (float)mla_plane_sum(dys + (size_t)co * p, (size_t)p);
            }
            if (dx) {
                float *dxs = dx + (size_t)s * in_size;
                if (pointwise) {
                    conv2d_gemm(true, rows, p, cout, w, dys, dys_slack, NULL, false, dxs);
                } else if (taps) { /* col and dcol are free after the weight gradient */
                    mla_conv_implicit_input_grad(l, dys, wflip, dxs, sc.col, sc.dcol, taps);
                } else {
                    conv2d_gemm(true, rows, p, cout, w, dys, dys_slack, NULL, false, sc.dcol);
                    mla_col2im_to(sc.dcol, (size_t)p, l->in.c, l->in.h, l->in.w, l->kernel, l->stride, l->pad,
                           l->out.h, l->out.w, dxs, false);
                }
            }
        }
    }
    free(taps);
    if (pgrads && !ghost) conv2d_reduce(l, ctx, team);
}

const mla_op mla_op_conv2d = {"conv2d",       conv2d_parse,   conv2d_setup, mla_conv_init, conv2d_forward,
                              conv2d_backward, NULL,         conv2d_reserve, true,        true,
                              conv2d_kept_floats};
