/* Convolutions, NCHW:
 *   conv2d   weight [out, in, k, k], bias [out]; per sample: im2col + one sgemm (see conv2d_scratch)
 *   dwconv2d weight [c, 1, k, k], bias [c]; direct loops by rows (depthwise, one filter per channel)
 *   convt2d  weight [in, out, k, k], bias [out]; the adjoint of conv2d (PyTorch's ConvTranspose2d)
 * Output size: conv (h + 2 pad - k) / stride + 1; transposed (h - 1) stride - 2 pad + k + out_pad. */
#include <omp.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/gemm.h"
#include "nn/layer.h"
#include "nn/reduce.h"
#include "nn/runs.h"

/* ---- im2col / col2im ---- */

/* Output columns ox whose input column ox * stride - pad + j lies inside [0, w): [*lo, *hi). */
static void valid_columns(int w, int stride, int pad, int j, int ow, int *lo, int *hi) {
    int first = pad - j > 0 ? (pad - j + stride - 1) / stride : 0;
    int last = (w - 1 + pad - j) >= 0 ? (w - 1 + pad - j) / stride + 1 : 0;
    *lo = first < ow ? first : ow;
    *hi = last < ow ? last : ow;
    if (*hi < *lo) *hi = *lo;
}

/* Output rows oy whose input row oy * stride - pad + i lies inside [0, h): [*lo, *hi). */
static void valid_rows(int h, int stride, int pad, int i, int oh, int *lo, int *hi) {
    valid_columns(h, stride, pad, i, oh, lo, hi);
}

#if defined(__AVX512F__)

/* Stride-1 im2col, 16 output columns per masked load: lanes whose input column falls
 * in the padding are not read and come out zero, so padding costs nothing extra. */
static void im2col_channel_s1(const float *x, int h, int w, int k, int pad, int oh, int ow, float *col, size_t ldc) {
    for (int i = 0; i < k; i++) {
        int ylo, yhi;
        valid_rows(h, 1, pad, i, oh, &ylo, &yhi);
        for (int j = 0; j < k; j++) {
            float *row = col + (size_t)(i * k + j) * ldc;
            int lo, hi;
            valid_columns(w, 1, pad, j, ow, &lo, &hi);
            int shift = j - pad; /* input column = ox + shift */
            mla_zero_run(row, ylo * ow);
            mla_zero_run(row + (size_t)yhi * ow, (oh - yhi) * ow);
            const float *src = x + (ptrdiff_t)(ylo - pad + i) * w + shift;
            float *dst = row + (size_t)ylo * ow;
            for (int x0 = 0; x0 < ow; x0 += 16) {
                __mmask16 out = mla_lanes_between(0, ow - x0), in = out & mla_lanes_between(lo - x0, hi - x0);
                for (int r = 0; r < yhi - ylo; r++)
                    _mm512_mask_storeu_ps(dst + (size_t)r * ow + x0, out,
                                          _mm512_maskz_loadu_ps(in, src + (ptrdiff_t)r * w + x0));
            }
        }
    }
}

/* Stride-2 im2col, 16 output columns at a time: the 32 input floats they span are
 * loaded (lanes outside the input row masked off, so they come out zero, as padding
 * does) and the even ones picked. ResNet's downsampling convs and 1x1 shortcuts. */
static void im2col_channel_s2(const float *x, int h, int w, int k, int pad, int oh, int ow, float *col, size_t ldc) {
    const __m512i even = mla_even_lanes();
    for (int i = 0; i < k; i++) {
        int ylo, yhi;
        valid_rows(h, 2, pad, i, oh, &ylo, &yhi);
        for (int j = 0; j < k; j++) {
            float *row = col + (size_t)(i * k + j) * ldc;
            int shift = j - pad; /* input column = 2 ox + shift */
            mla_zero_run(row, ylo * ow);
            mla_zero_run(row + (size_t)yhi * ow, (oh - yhi) * ow);
            for (int oy = ylo; oy < yhi; oy++) {
                const float *src = x + (ptrdiff_t)(2 * oy - pad + i) * w;
                float *dst = row + (size_t)oy * ow;
                for (int x0 = 0; x0 < ow; x0 += 16) {
                    int first = 2 * x0 + shift; /* input column of lane 0 */
                    __mmask16 lo = mla_lanes_between(-first, w - first), hi = mla_lanes_between(-first - 16, w - first - 16);
                    __m512 a = _mm512_maskz_loadu_ps(lo, src + first), b = _mm512_maskz_loadu_ps(hi, src + first + 16);
                    _mm512_mask_storeu_ps(dst + x0, mla_lanes_between(0, ow - x0), _mm512_permutex2var_ps(a, even, b));
                }
            }
        }
    }
}
#endif

/* Stride 1 with 'same' padding (output planes the size of the input, as in ResNets):
 * tap (i, j)'s row is the input plane shifted by s = (i - pad) w + (j - pad), so it is
 * one straight copy, full-width and in order, after which the columns whose input lies
 * across the left or right edge (the copy wrapped them to the neighbouring row) and
 * the rows beyond the top or bottom are zeroed. Row by row with masked loads and
 * stores this was a sixth of resnet20's training time. */
static void im2col_channel_same(const float *restrict x, int h, int w, int k, int pad, float *restrict col,
                                size_t ldc) {
    const ptrdiff_t plane = (ptrdiff_t)h * w;
    for (int i = 0; i < k; i++) {
        int ylo, yhi;
        valid_rows(h, 1, pad, i, h, &ylo, &yhi);
        for (int j = 0; j < k; j++) {
            float *restrict row = col + (size_t)(i * k + j) * ldc;
            ptrdiff_t s = (ptrdiff_t)(i - pad) * w + (j - pad);
            /* Outputs [a, b) read x[q + s] inside the plane; the few just outside the
             * valid rows' span that this trims are edge columns, zeroed below. */
            ptrdiff_t a = (ptrdiff_t)ylo * w, b = (ptrdiff_t)yhi * w;
            if (a < -s) a = -s;
            if (a > plane) a = plane; /* a plane smaller than the padding */
            if (b > plane - s) b = plane - s;
            if (b < a) b = a;
            memset(row, 0, (size_t)a * sizeof(float));
            memcpy(row + a, x + a + s, (size_t)(b - a) * sizeof(float));
            memset(row + b, 0, (size_t)(plane - b) * sizeof(float));
            int lo, hi;
            valid_columns(w, 1, pad, j, w, &lo, &hi);
            /* Down the (at most pad) edge columns: strided stores, where row by row the
             * compiler made each one-or-two-float span a memset call. */
            for (int ox = 0; ox < lo; ox++)
                for (int oy = ylo; oy < yhi; oy++) row[(size_t)oy * w + ox] = 0.0f;
            for (int ox = hi; ox < w; ox++)
                for (int oy = ylo; oy < yhi; oy++) row[(size_t)oy * w + ox] = 0.0f;
        }
    }
}

/* One channel's k*k rows of the im2col matrix. Output positions whose input falls in
 * the padding are zeros; the rest is a block of (rows x columns) the tap (i, j) reads. */
static void im2col_channel(const float *restrict x, int h, int w, int k, int stride, int pad, int oh, int ow,
                           float *restrict col, size_t ldc) {
    for (int i = 0; i < k; i++) {
        int ylo, yhi;
        valid_rows(h, stride, pad, i, oh, &ylo, &yhi);
        for (int j = 0; j < k; j++) {
            float *row = col + (size_t)(i * k + j) * ldc;
            int lo, hi;
            valid_columns(w, stride, pad, j, ow, &lo, &hi);
            int shift = j - pad; /* input column = ox * stride + shift */
            /* A tap that reaches into the padding: zero its whole row first (one memset
             * beats a zero run on each side of every output row). */
            if (ylo > 0 || yhi < oh || lo > 0 || hi < ow) memset(row, 0, (size_t)oh * ow * sizeof(float));
            if (ylo >= yhi) continue;
            const float *src = x + (size_t)(ylo * stride - pad + i) * w;
            float *dst = row + (size_t)ylo * ow;
            if (stride == 1)
                for (int oy = 0; oy < yhi - ylo; oy++)
                    for (int ox = lo; ox < hi; ox++) dst[(size_t)oy * ow + ox] = src[(size_t)oy * w + ox + shift];
            else
                for (int oy = 0; oy < yhi - ylo; oy++)
                    for (int ox = lo; ox < hi; ox++)
                        dst[(size_t)oy * ow + ox] = src[(size_t)oy * stride * w + ox * stride + shift];
        }
    }
}

#if defined(__AVX512F__)

/* Stride-1 col2im as a gather: each input row is built in registers, 16 columns at a
 * time, from the k*k taps that read it, then stored once. A scatter instead adds the
 * taps one after another onto overlapping spans of the same row, and each masked
 * load then waits for the masked store before it (no store forwarding). Taps are
 * added in the scatter's order (i, then j), so the sums are the same bits; two rows
 * are built side by side so that two addition chains overlap. */
static void col2im_channel_s1(const float *col, size_t ldc, int h, int w, int k, int pad, int oh, int ow, float *x,
                              bool add) {
    for (int x0 = 0; x0 < w; x0 += 16) {
        __mmask16 row_mask = mla_lanes_between(0, w - x0);
        for (int y = 0; y < h; y += 2) {
            bool pair = y + 1 < h;
            float *dst0 = x + (size_t)y * w + x0, *dst1 = dst0 + w;
            __m512 acc0 = add ? _mm512_maskz_loadu_ps(row_mask, dst0) : _mm512_setzero_ps();
            __m512 acc1 = add && pair ? _mm512_maskz_loadu_ps(row_mask, dst1) : _mm512_setzero_ps();
            for (int i = 0; i < k; i++) {
                int oy = y + pad - i; /* output row that reads input row y through tap row i */
                bool has0 = oy >= 0 && oy < oh, has1 = pair && oy + 1 >= 0 && oy + 1 < oh;
                if (!has0 && !has1) continue;
                for (int j = 0; j < k; j++) {
                    int shift = j - pad; /* lane t holds column x0 + t = ox + shift */
                    __mmask16 m = row_mask & mla_lanes_between(shift - x0, shift - x0 + ow);
                    if (!m) continue;
                    /* Lane t reads ox = x0 + t - shift; masked-off lanes are not read. */
                    const float *src = col + (size_t)(i * k + j) * ldc + (ptrdiff_t)oy * ow + x0 - shift;
                    if (has0) acc0 = _mm512_add_ps(acc0, _mm512_maskz_loadu_ps(m, src));
                    if (has1) acc1 = _mm512_add_ps(acc1, _mm512_maskz_loadu_ps(m, src + ow));
                }
            }
            _mm512_mask_storeu_ps(dst0, row_mask, acc0);
            if (pair) _mm512_mask_storeu_ps(dst1, row_mask, acc1);
        }
    }
}
#endif

/* The adjoint of im2col_channel: adds each tap's block back onto the input. */
static void col2im_channel(const float *col, size_t ldc, int h, int w, int k, int stride, int pad, int oh, int ow,
                           float *x) {
    for (int i = 0; i < k; i++) {
        int ylo, yhi;
        valid_rows(h, stride, pad, i, oh, &ylo, &yhi);
        if (ylo >= yhi) continue;
        for (int j = 0; j < k; j++) {
            const float *src = col + (size_t)(i * k + j) * ldc + (size_t)ylo * ow;
            int lo, hi;
            valid_columns(w, stride, pad, j, ow, &lo, &hi);
            int shift = j - pad;
            float *dst = x + (size_t)(ylo * stride - pad + i) * w;
            if (stride == 1)
                for (int oy = 0; oy < yhi - ylo; oy++)
                    for (int ox = lo; ox < hi; ox++) dst[(size_t)oy * w + ox + shift] += src[(size_t)oy * ow + ox];
            else
                for (int oy = 0; oy < yhi - ylo; oy++)
                    for (int ox = lo; ox < hi; ox++)
                        dst[(size_t)oy * stride * w + ox * stride + shift] += src[(size_t)oy * ow + ox];
        }
    }
}

void mla_im2col(const float *x, int c, int h, int w, int k, int stride, int pad, int oh, int ow, float *col,
                size_t ldc) {
    if (stride == 1 && oh == h && ow == w) {
        for (int ch = 0; ch < c; ch++)
            im2col_channel_same(x + (size_t)ch * h * w, h, w, k, pad, col + (size_t)ch * k * k * ldc, ldc);
        return;
    }
#if defined(__AVX512F__)
    if (stride == 2) {
        for (int ch = 0; ch < c; ch++)
            im2col_channel_s2(x + (size_t)ch * h * w, h, w, k, pad, oh, ow, col + (size_t)ch * k * k * ldc, ldc);
        return;
    }
    if (stride == 1) {
        for (int ch = 0; ch < c; ch++)
            im2col_channel_s1(x + (size_t)ch * h * w, h, w, k, pad, oh, ow, col + (size_t)ch * k * k * ldc, ldc);
        return;
    }
#endif
    for (int ch = 0; ch < c; ch++)
        im2col_channel(x + (size_t)ch * h * w, h, w, k, stride, pad, oh, ow, col + (size_t)ch * k * k * ldc, ldc);
}

/* add: x += col2im(col), as mla_col2im promises; otherwise x = col2im(col), the same bits
 * as adding onto zeros, without clearing x first where the gather writes every element. */
static void col2im(const float *col, size_t ldc, int c, int h, int w, int k, int stride, int pad, int oh, int ow,
                   float *x, bool add) {
#if defined(__AVX512F__)
    if (stride == 1) {
        for (int ch = 0; ch < c; ch++)
            col2im_channel_s1(col + (size_t)ch * k * k * ldc, ldc, h, w, k, pad, oh, ow, x + (size_t)ch * h * w, add);
        return;
    }
#endif
    if (!add) memset(x, 0, (size_t)c * h * w * sizeof(float));
    for (int ch = 0; ch < c; ch++)
        col2im_channel(col + (size_t)ch * k * k * ldc, ldc, h, w, k, stride, pad, oh, ow, x + (size_t)ch * h * w);
}

void mla_col2im(const float *col, size_t ldc, int c, int h, int w, int k, int stride, int pad, int oh, int ow,
                float *x) {
    col2im(col, ldc, c, h, w, k, stride, pad, oh, ow, x, true);
}

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

/* c[m x n] = op(a) b for one sample, c and b with rows of n floats: the forward (a the
 * weights, b the unfolded sample) and the input gradient (a the weights transposed, b
 * the output gradient). b_slack: b is followed by MLA_SLACK_FLOATS readable floats.
 * Then, if asked, row i gets bias[i] added and the relu applied. */
static void conv2d_gemm(bool transpose_a, int m, int n, int k, const float *a, const float *b, bool b_slack,
                        const float *bias, bool relu, float *c) {
#if defined(__AVX512F__)
    /* OpenBLAS packs all of b for a result of 16 to 64 rows. On one core, ResNet-20's
     * and the cnn preset's shapes (m x n x k) ran, OpenBLAS against this kernel, in
     * GFLOP/s: forward 16x784x144 93/163, 32x196x288 97/131, 64x49x576 94/118,
     * 64x121x288 109/138; input gradient 144x784x16 87/122, 288x196x32 110/122,
     * 576x49x64 104/116, 288x121x64 118/137. With k of a few taps (a one-channel
     * input: 9) OpenBLAS is faster. */
    if (k >= 16 && m % 8 == 0) {
        size_t ars = transpose_a ? 1 : (size_t)k, acs = transpose_a ? (size_t)m : 1;
        for (int j = 0; j < n; j += 32)
            for (int i = 0; i < m; i += 8)
                mla_gemm_8x32(k, a + (size_t)i * ars, ars, acs, b + j, (size_t)n, c + (size_t)i * n + j, (size_t)n,
                              n - j < 32 ? n - j : 32, b_slack, bias ? bias + i : NULL, relu, false);
        return;
    }
#endif
    (void)b_slack;
    if (transpose_a)
        mla_sgemm(true, false, m, n, k, 1.0f, a, m, b, n, 0.0f, c, n);
    else
        mla_sgemm(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    if (bias) conv2d_add_bias(c, bias, m, n);
    if (relu) relu_inplace(c, (size_t)m * n);
}

static bool conv2d_is_pointwise(const mla_layer *l) { return l->kernel == 1 && l->stride == 1 && l->pad == 0; }

/* Whether the sample's weight gradient is accumulated transposed (rows x cout, see
 * conv2d_weight_grad_t): filters in whole registers' pairs, fewer than 512 positions
 * (the dot products do better above), and room in dcol for the transposed dy. */
static bool conv2d_grad_transposed(const mla_layer *l) {
#if defined(__AVX512F__)
    int rows = l->in.c * l->kernel * l->kernel, p = l->out.h * l->out.w;
    return l->filters % 32 == 0 && p < 512 && l->filters <= rows && !conv2d_is_pointwise(l);
#else
    (void)l;
    return false;
#endif
}

#if defined(__AVX512F__)
/* dwt (rows x cout) += col (rows x p) dy^T (p x cout): the weight gradient, transposed,
 * as the unpacked kernel's shape, with col's rows broadcast and dy transposed first
 * (into dyt, p x cout floats and slack) so its rows are the filters. OpenBLAS, given
 * dy col^T, packed col per sample: on one core 64x288x121 (the cnn preset's second
 * conv) ran at 104 GFLOP/s and 32x288x196 (ResNet's second stage) at 78. */
static void conv2d_weight_grad_t(const float *dy, const float *col, int cout, int rows, int p, float *dwt,
                                 float *dyt) {
    mla_transpose(dy, cout, p, dyt);
    for (int j = 0; j < cout; j += 32)
        for (int i = 0; i < rows; i += 8) {
            if (rows - i >= 8)
                mla_gemm_8x32(p, col + (size_t)i * p, (size_t)p, 1, dyt + j, (size_t)cout,
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
#endif

/* dw (cout x rows) += dy (cout x p) col^T (p x rows): the sample's weight gradient. */
static void conv2d_weight_grad(const float *dy, const float *col, int cout, int rows, int p, float *dw) {
#if defined(__AVX512F__)
    /* OpenBLAS, given this as dy col^T, packs the whole col matrix (rows x p floats) per
     * sample for a result of 16 or 32 rows: on ResNet's first stage (p = 784) it ran at
     * 56 GFLOP/s on one core, these dot products at 138. With fewer positions the
     * tail and the horizontal sums cost more than the packing (p = 196: 77 against 74,
     * p = 49: 39 against 98), so OpenBLAS keeps those. */
    if (p >= 512 && cout % 4 == 0 && rows % 4 == 0) {
        for (int co = 0; co < cout; co += 4)
            for (int r = 0; r < rows; r += 4)
                weight_grad_4x4(dy + (size_t)co * p, col + (size_t)r * p, p, dw + (size_t)co * rows + r, rows);
        return;
    }
#endif
    mla_sgemm(false, true, cout, rows, p, 1.0f, dy, p, col, p, 1.0f, dw, rows);
}

/* ---- shared parsing ---- */

static mla_status conv_parse_common(mla_layer *l, const cJSON *j, int classes, bool has_filters) {
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

static mla_status conv_out_shape(mla_layer *l, int channels) {
    int eh = l->in.h + 2 * l->pad - l->kernel, ew = l->in.w + 2 * l->pad - l->kernel;
    if (eh < 0 || ew < 0)
        return mla_error(MLA_ERR_SHAPE, "layer %s (%s): kernel %d is larger than the padded input %dx%d", l->name,
                         l->op->type, l->kernel, l->in.h + 2 * l->pad, l->in.w + 2 * l->pad);
    l->out = (mla_shape){channels, eh / l->stride + 1, ew / l->stride + 1};
    return MLA_OK;
}

static void conv_init(mla_layer *l, float *p, mla_rng *rng) {
    /* fan_in of the weight as PyTorch computes it: dims[1] * k * k. */
    const mla_tensor_desc *t = &l->tensors[0];
    int fan_in = t->dims[1] * t->dims[2] * t->dims[3];
    size_t count = (size_t)t->dims[0] * (size_t)fan_in;
    mla_init_uniform(mla_layer_tensor(l, p, 0), count, fan_in, rng);
    if (l->bias) mla_init_uniform(mla_layer_tensor(l, p, 1), (size_t)l->tensors[1].dims[0], fan_in, rng);
}

/* ---- conv2d ---- */

static mla_status conv2d_parse(mla_layer *l, const cJSON *j, int classes) {
    return conv_parse_common(l, j, classes, true);
}

static mla_status conv2d_setup(mla_layer *l) {
    if (l->out_pad) return mla_error(MLA_ERR_INVALID, "layer %s (conv2d): \"out_pad\" is for convt2d", l->name);
    mla_status s = conv_out_shape(l, l->filters);
    if (s) return s;
    int k = l->kernel;
    mla_layer_add_tensor(l, "weight", true, 4, l->filters, l->in.c, k, k);
    if (l->bias) mla_layer_add_tensor(l, "bias", true, 1, l->filters, 0, 0, 0);
    l->macs = (double)l->filters * l->in.c * k * k * l->out.h * l->out.w;
    return MLA_OK;
}

/* conv2d runs sample by sample, each thread on its own static share of the batch: the
 * sample's im2col matrix (rows x P) stays in that core's cache, sgemm writes the output
 * straight into NCHW, and the weight gradient collects in a per-thread buffer that is
 * summed in thread order at the end (same thread count, same bits). Inside the parallel
 * region OpenBLAS runs single-threaded. A 1x1, stride-1, unpadded conv needs no im2col. */
typedef struct {
    float *col, *dcol, *dw, *db;
    float *dy; /* with a fused relu: the sample's output (forward), its own output gradient (backward) */
} conv2d_scratch;

/* Floats of one unfolded sample; a pointwise conv reads and writes samples in place and needs none. */
static size_t conv2d_col_floats(const mla_layer *l) {
    if (conv2d_is_pointwise(l)) return 0;
    return (size_t)l->in.c * l->kernel * l->kernel * l->out.h * l->out.w;
}

/* A thread's scratch: col and dy, which conv2d_gemm reads as b, end with
 * MLA_SLACK_FLOATS floats. The net zeroes its workspace when it allocates it; other
 * layers sharing it may leave any values there, which only reach dropped lanes. */
static size_t conv2d_thread_floats(const mla_layer *l) {
    size_t rows = (size_t)l->in.c * l->kernel * l->kernel;
    size_t own_dy = l->fused_relu ? (size_t)mla_shape_size(l->out) : 0;
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
    (void)n;
    l->work_threads = mla_get_threads();
    l->work_floats = (size_t)l->work_threads * conv2d_thread_floats(l);
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

static void conv2d_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int cout = l->filters, rows = l->in.c * l->kernel * l->kernel, p = l->out.h * l->out.w;
    size_t out_size = (size_t)mla_shape_size(l->out), in_size = (size_t)mla_shape_size(l->in);
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    const float *b = l->bias ? mla_layer_tensor(l, ctx->params, 1) : NULL;
    bool stats = l->stats_to && ctx->train;
    int threads = conv2d_threads(l, n);
#pragma omp parallel num_threads(threads)
    {
        conv2d_scratch sc = conv2d_scratch_of(l, ctx->work, omp_get_thread_num());
#pragma omp for schedule(static)
        for (int s = 0; s < n; s++) {
            const float *col = conv2d_unfold(l, x + (size_t)s * in_size, sc.col);
            float *ys = y + (size_t)s * out_size;
            /* col is scratch, or for a pointwise conv the sample itself in a net buffer:
             * both have slack. */
            if (!l->fused_relu) {
                conv2d_gemm(false, cout, p, rows, w, col, true, b, false, ys);
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
            conv2d_gemm(false, cout, p, rows, w, col, true, b, !keep, out);
            if (keep) {
                mla_stream_copy(ys, out, out_size);
                relu_inplace(out, out_size);
                mla_stream_copy(l->fused_relu->y + (size_t)s * out_size, out, out_size);
            }
            if (l->fused_pool) mla_maxpool_sample(l->fused_pool, out, s);
            if (keep) mla_stream_fence();
        }
    }
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
 * gradient dys (cout x P), whose plane sums are the bias gradient. Forming dw costs
 * cout * rows * P; the Gram identity sum_{p,q} (a_p . a_q)(g_p . g_q) would cost
 * P^2 (rows + cout), more for every preset's convs (cnn's second: 2.2M against 5.1M
 * multiply-adds), so it is not used. */
static double conv2d_sample_sq_norm(const mla_layer *l, const float *dys, const float *dw) {
    int cout = l->filters, rows = l->in.c * l->kernel * l->kernel, p = l->out.h * l->out.w;
    double sq = mla_plane_sumsq(dw, (size_t)cout * rows);
    if (l->bias)
        for (int co = 0; co < cout; co++) {
            double b = mla_plane_sum(dys + (size_t)co * p, (size_t)p);
            sq += b * b;
        }
    return sq;
}

static void conv2d_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                            mla_ctx *ctx) {
    (void)y;
    int cout = l->filters, rows = l->in.c * l->kernel * l->kernel, p = l->out.h * l->out.w;
    size_t out_size = (size_t)mla_shape_size(l->out), in_size = (size_t)mla_shape_size(l->in);
    const float *w = mla_layer_tensor(l, ctx->params, 0);
    bool ghost = ctx->sq_norms != NULL, pgrads = ctx->param_grads || ghost, pointwise = conv2d_is_pointwise(l);
    bool transposed = conv2d_grad_transposed(l);
    (void)transposed; /* read only with AVX-512 */
    /* The team may be smaller than asked (a pass inside another parallel region runs on one
     * thread): only the scratch of threads that ran is summed. */
    int threads = conv2d_threads(l, n), team = 1;
#pragma omp parallel num_threads(threads)
    {
#pragma omp single
        team = omp_get_num_threads();
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
            if (pgrads) {
                if (ghost) memset(sc.dw, 0, (size_t)cout * rows * sizeof(float)); /* this sample's alone */
                const float *col = conv2d_unfold(l, x + (size_t)s * in_size, sc.col);
#if defined(__AVX512F__)
                if (transposed) /* dcol is free until the input gradient */
                    conv2d_weight_grad_t(dys, col, cout, rows, p, sc.dw, sc.dcol);
                else
#endif
                    conv2d_weight_grad(dys, col, cout, rows, p, sc.dw);
                if (ghost)
                    ctx->sq_norms[s] += conv2d_sample_sq_norm(l, dys, sc.dw);
                else if (l->bias)
                    for (int co = 0; co < cout; co++) sc.db[co] += (float)mla_plane_sum(dys + (size_t)co * p, (size_t)p);
            }
            if (dx) {
                float *dxs = dx + (size_t)s * in_size;
                if (pointwise) {
                    conv2d_gemm(true, rows, p, cout, w, dys, dys_slack, NULL, false, dxs);
                } else {
                    conv2d_gemm(true, rows, p, cout, w, dys, dys_slack, NULL, false, sc.dcol);
                    col2im(sc.dcol, (size_t)p, l->in.c, l->in.h, l->in.w, l->kernel, l->stride, l->pad,
                           l->out.h, l->out.w, dxs, false);
                }
            }
        }
    }
    if (pgrads && !ghost) conv2d_reduce(l, ctx, team);
}

const mla_op mla_op_conv2d = {"conv2d",        conv2d_parse, conv2d_setup, conv_init, conv2d_forward,
                              conv2d_backward, NULL,         conv2d_reserve, true};

/* ---- depthwise conv2d ---- */

static mla_status dw_parse(mla_layer *l, const cJSON *j, int classes) { return conv_parse_common(l, j, classes, false); }

static mla_status dw_setup(mla_layer *l) {
    mla_status s = conv_out_shape(l, l->in.c);
    if (s) return s;
    mla_layer_add_tensor(l, "weight", true, 4, l->in.c, 1, l->kernel, l->kernel);
    if (l->bias) mla_layer_add_tensor(l, "bias", true, 1, l->in.c, 0, 0, 0);
    l->macs = (double)l->in.c * l->kernel * l->kernel * l->out.h * l->out.w;
    return MLA_OK;
}

/* Depthwise passes work a row at a time: for each kernel tap (i, j) the output columns
 * whose input lies inside the image form one range (valid_columns), so the inner loops
 * run without bounds tests. With AVX-512 and stride 1 or 2 the forward pass and the
 * gradients keep 16 output columns in a register across all k*k taps (lanes whose input
 * falls in the padding are masked off), instead of adding each tap into memory. */
#define DW_MAX_K 64 /* the spec's kernel limit */

static void dw_forward_plane(const float *src, const float *f, float bias, int h, int w, int k, int st, int pad,
                             int oh, int ow, float *dst) {
    for (int q = 0; q < oh * ow; q++) dst[q] = bias;
    for (int j = 0; j < k; j++) {
        int lo, hi, shift = j - pad;
        valid_columns(w, st, pad, j, ow, &lo, &hi);
        for (int oy = 0; oy < oh; oy++) {
            float *row = dst + (size_t)oy * ow;
            for (int i = 0; i < k; i++) {
                int iy = oy * st - pad + i;
                if (iy < 0 || iy >= h) continue;
                const float *in = src + (size_t)iy * w;
                float fv = f[i * k + j];
                for (int ox = lo; ox < hi; ox++) row[ox] += fv * in[ox * st + shift];
            }
        }
    }
}

/* Weight gradient (added into df, k*k) and, unless dsrc is NULL, input gradient (written)
 * of one plane. */
static void dw_backward_plane(const float *src, const float *g, const float *f, int h, int w, int k, int st, int pad,
                              int oh, int ow, float *df, float *dsrc) {
    if (dsrc) memset(dsrc, 0, (size_t)h * w * sizeof(float));
    for (int j = 0; j < k; j++) {
        int lo, hi, shift = j - pad;
        valid_columns(w, st, pad, j, ow, &lo, &hi);
        for (int i = 0; i < k; i++) {
            float fv = f[i * k + j], acc = 0;
            for (int oy = 0; oy < oh; oy++) {
                int iy = oy * st - pad + i;
                if (iy < 0 || iy >= h) continue;
                const float *grow = g + (size_t)oy * ow, *in = src + (size_t)iy * w;
                if (df)
                    for (int ox = lo; ox < hi; ox++) acc += grow[ox] * in[ox * st + shift];
                if (dsrc) {
                    float *drow = dsrc + (size_t)iy * w;
                    for (int ox = lo; ox < hi; ox++) drow[ox * st + shift] += grow[ox] * fv;
                }
            }
            if (df) df[i * k + j] += acc;
        }
    }
}

#if defined(__AVX512F__)
/* Output columns [x0, x0 + 16) of one tap: lane t holds input column (x0 + t) st + shift
 * when output column x0 + t is in [lo, hi) (its input inside the image), else 0. st is
 * 1 or 2; for 2, the even lanes of 32 loaded floats. Masked-off lanes are not read. */
static inline __m512 dw_tap(const float *row, int x0, int st, int shift, int lo, int hi) {
    int t0 = lo - x0 > 0 ? lo - x0 : 0, t1 = hi - x0 < 16 ? hi - x0 : 16;
    if (t0 >= t1) return _mm512_setzero_ps();
    if (st == 1) return _mm512_maskz_loadu_ps(mla_lanes_between(t0, t1), row + x0 + shift);
    const __m512i even = mla_even_lanes();
    const float *base = row + 2 * x0 + shift; /* float u of the pair is column 2 x0 + shift + u */
    int a = 2 * t0, b = 2 * t1 - 1;
    __m512 v0 = _mm512_maskz_loadu_ps(mla_lanes_between(a, b), base);
    __m512 v1 = _mm512_maskz_loadu_ps(mla_lanes_between(a - 16, b - 16), base + 16);
    return _mm512_maskz_mov_ps(mla_lanes_between(t0, t1), _mm512_permutex2var_ps(v0, even, v1));
}

static void dw_forward_plane_avx512(const float *src, const float *f, float bias, int h, int w, int k, int st,
                                    int pad, int oh, int ow, float *dst) {
    int lo[DW_MAX_K], hi[DW_MAX_K];
    for (int j = 0; j < k; j++) valid_columns(w, st, pad, j, ow, &lo[j], &hi[j]);
    for (int oy = 0; oy < oh; oy++)
        for (int x0 = 0; x0 < ow; x0 += 16) {
            __m512 acc = _mm512_set1_ps(bias);
            for (int i = 0; i < k; i++) {
                int iy = oy * st - pad + i;
                if (iy < 0 || iy >= h) continue;
                const float *row = src + (size_t)iy * w;
                for (int j = 0; j < k; j++)
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(f[i * k + j]), dw_tap(row, x0, st, j - pad, lo[j], hi[j]), acc);
            }
            _mm512_mask_storeu_ps(dst + (size_t)oy * ow + x0, mla_lanes_between(0, ow - x0), acc);
        }
}

/* df[i k + j] += sum over the plane of g * (the input tap (i, j) reads). */
static void dw_weight_grad_avx512(const float *src, const float *g, int h, int w, int k, int st, int pad, int oh,
                                  int ow, float *df) {
    for (int j = 0; j < k; j++) {
        int lo, hi;
        valid_columns(w, st, pad, j, ow, &lo, &hi);
        for (int i = 0; i < k; i++) {
            __m512 acc = _mm512_setzero_ps();
            for (int oy = 0; oy < oh; oy++) {
                int iy = oy * st - pad + i;
                if (iy < 0 || iy >= h) continue;
                const float *row = src + (size_t)iy * w, *grow = g + (size_t)oy * ow;
                for (int x0 = 0; x0 < ow; x0 += 16) {
                    __m512 gv = _mm512_maskz_loadu_ps(mla_lanes_between(0, ow - x0), grow + x0);
                    acc = _mm512_fmadd_ps(gv, dw_tap(row, x0, st, j - pad, lo, hi), acc);
                }
            }
            df[i * k + j] += _mm512_reduce_add_ps(acc);
        }
    }
}

/* Stride 1: the input gradient as a gather, 16 input columns per register, written once. */
static void dw_input_grad_s1_avx512(const float *g, const float *f, int h, int w, int k, int pad, int oh, int ow,
                                    float *dsrc) {
    for (int y = 0; y < h; y++)
        for (int x0 = 0; x0 < w; x0 += 16) {
            __mmask16 row_mask = mla_lanes_between(0, w - x0);
            __m512 acc = _mm512_setzero_ps();
            for (int i = 0; i < k; i++) {
                int oy = y + pad - i;
                if (oy < 0 || oy >= oh) continue;
                for (int j = 0; j < k; j++) {
                    int shift = j - pad; /* lane t: input column x0 + t = ox + shift */
                    __mmask16 m = row_mask & mla_lanes_between(shift - x0, shift - x0 + ow);
                    if (!m) continue;
                    const float *src = g + (size_t)oy * ow + x0 - shift;
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(f[i * k + j]), _mm512_maskz_loadu_ps(m, src), acc);
                }
            }
            _mm512_mask_storeu_ps(dsrc + (size_t)y * w + x0, row_mask, acc);
        }
}
#endif

static void dw_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    int c = l->in.c, k = l->kernel, h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, st = l->stride;
    const float *wt = mla_layer_tensor(l, ctx->params, 0);
    const float *b = l->bias ? mla_layer_tensor(l, ctx->params, 1) : NULL;
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++) {
            const float *src = x + ((size_t)s * c + ch) * h * w, *f = wt + (size_t)ch * k * k;
            float *dst = y + ((size_t)s * c + ch) * oh * ow;
            float bias = b ? b[ch] : 0.0f;
#if defined(__AVX512F__)
            if (st <= 2) {
                dw_forward_plane_avx512(src, f, bias, h, w, k, st, l->pad, oh, ow, dst);
                continue;
            }
#endif
            dw_forward_plane(src, f, bias, h, w, k, st, l->pad, oh, ow, dst);
        }
}

static void dw_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                        mla_ctx *ctx) {
    (void)y;
    int c = l->in.c, k = l->kernel, h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, st = l->stride;
    const float *wt = mla_layer_tensor(l, ctx->params, 0);
    float *dw = ctx->param_grads ? mla_layer_tensor(l, ctx->grads, 0) : NULL;
    float *db = ctx->param_grads && l->bias ? mla_layer_tensor(l, ctx->grads, 1) : NULL;
    /* One channel per iteration: its weight gradient has a single writer. */
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const float *f = wt + (size_t)ch * k * k;
        float *df = dw ? dw + (size_t)ch * k * k : NULL;
        for (int s = n0; s < n0 + n; s++) {
            const float *src = x + ((size_t)s * c + ch) * h * w, *g = dy + ((size_t)s * c + ch) * oh * ow;
            float *dsrc = dx ? dx + ((size_t)s * c + ch) * h * w : NULL;
            if (db) db[ch] += (float)mla_plane_sum(g, (size_t)oh * ow);
#if defined(__AVX512F__)
            if (st <= 2) {
                if (df) dw_weight_grad_avx512(src, g, h, w, k, st, l->pad, oh, ow, df);
                if (dsrc && st == 1) dw_input_grad_s1_avx512(g, f, h, w, k, l->pad, oh, ow, dsrc);
                if (dsrc && st == 2) dw_backward_plane(src, g, f, h, w, k, st, l->pad, oh, ow, NULL, dsrc);
                continue;
            }
#endif
            dw_backward_plane(src, g, f, h, w, k, st, l->pad, oh, ow, df, dsrc);
        }
    }
}

const mla_op mla_op_dwconv2d = {"dwconv2d", dw_parse, dw_setup, conv_init, dw_forward, dw_backward, NULL, NULL, false};

/* ---- transposed conv2d ---- */

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

static mla_status ct_parse(mla_layer *l, const cJSON *j, int classes) { return conv_parse_common(l, j, classes, true); }

const mla_op mla_op_convt2d = {"convt2d", ct_parse, ct_setup, ct_init, ct_forward, ct_backward, NULL, ct_reserve, false};
