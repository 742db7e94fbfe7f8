/* im2col / col2im for one sample (layer.h's mla_im2col, mla_col2im; conv.h's
 * mla_col2im_to): the unfolding behind conv2d's and convt2d's products. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/layer.h"
#include "nn/runs.h"

/* Output rows oy whose input row oy * stride - pad + i lies inside [0, h): [*lo, *hi). */
static void valid_rows(int h, int stride, int pad, int i, int oh, int *lo, int *hi) {
    mla_conv_valid_columns(h, stride, pad, i, oh, lo, hi);
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
            mla_conv_valid_columns(w, 1, pad, j, ow, &lo, &hi);
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
            mla_conv_valid_columns(w, 1, pad, j, w, &lo, &hi);
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
            mla_conv_valid_columns(w, stride, pad, j, ow, &lo, &hi);
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
            mla_conv_valid_columns(w, stride, pad, j, ow, &lo, &hi);
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

void mla_col2im_to(const float *col, size_t ldc, int c, int h, int w, int k, int stride, int pad, int oh, int ow,
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
    mla_col2im_to(col, ldc, c, h, w, k, stride, pad, oh, ow, x, true);
}
