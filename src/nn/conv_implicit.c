/* Stride-1 convolutions as implicit GEMMs on the AVX2 tile (nn/conv.h): no im2col matrix.
 *
 * The sample is copied once into a zero-bordered buffer xp (c planes of hp x wp, hp = h +
 * 2 pad, wp = w + 2 pad). For a stride-1 convolution, the im2col row of tap (ci, i, j),
 * read at the output positions y wp + x of a grid ow + k - 1 = wp columns wide, is xp
 * itself from offset ci hp wp + i wp + j: every row is a shifted window of the same
 * buffer, so the tile reads its k rows through a table of offsets
 * (mla_gemm_avx2_8x32_rows) instead of from an unfolded copy nine times the sample's
 * size. The grid's last k - 1 columns of each row are wrapped garbage: the product is
 * written into a grid buffer (m x oh x wp) and the kept columns copied out; outputs more
 * than 24 wide (ResNet's 28 on Fashion-MNIST, 32 on CIFAR) instead take a tile per row,
 * 32 columns at most, stored in place (as much work, no copy). Each output
 * element is the same multiply-add chain, over the taps in the same order, as the
 * im2col product on the tile (a zero of the border where im2col writes a zero), so the
 * forward pass gives the same bits as before.
 *
 * The input gradient of a stride-1 convolution is itself one: dx = conv(dy bordered by
 * k - 1 - pad, w'), w'[ci][co][i][j] = w[co][ci][k-1-i][k-1-j] (the kernel flipped, its
 * channel axes swapped), an h x w output. It replaces OpenBLAS's product and col2im's
 * scatter on the AVX2 family. */
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/gemm.h"

/* Taps shorter than this (a one-channel input's 9) leave the product to OpenBLAS, as
 * conv2d's im2col path does. */
enum { MIN_DEPTH = 16 };

static bool implicit_shape(const mla_layer *l) {
    return MLA_HAVE_AVX2_CODE && mla_nn_kernels() == MLA_ISA_AVX2 && l->stride == 1 && l->pad <= l->kernel - 1 &&
           !(l->kernel == 1 && l->pad == 0) && !(l->out.h == 1 && l->out.w == 1);
}

bool mla_conv_implicit_forward_ok(const mla_layer *l) {
    return implicit_shape(l) && l->filters % 8 == 0 && l->in.c * l->kernel * l->kernel >= MIN_DEPTH;
}

bool mla_conv_implicit_input_grad_ok(const mla_layer *l) {
    return implicit_shape(l) && l->in.c % 8 == 0 && l->filters * l->kernel * l->kernel >= MIN_DEPTH;
}

/* The bordered buffer and the grid of a stride-1 convolution of c planes h x w, border
 * pad, kernel k, m outputs. */
static size_t padded_floats(int c, int h, int w, int pad) {
    return (size_t)c * (h + 2 * pad) * (w + 2 * pad) + MLA_IMPLICIT_SLACK;
}
static size_t grid_floats(int m, int h, int w, int pad, int k) {
    return (size_t)m * (h + 2 * pad - k + 1) * (w + 2 * pad);
}

size_t mla_conv_implicit_floats(const mla_layer *l) {
    int k = l->kernel, back = k - 1 - l->pad;
    if (back < 0) return 0;
    size_t f[4] = {padded_floats(l->in.c, l->in.h, l->in.w, l->pad),
                   grid_floats(l->filters, l->in.h, l->in.w, l->pad, k),
                   padded_floats(l->filters, l->out.h, l->out.w, back),
                   grid_floats(l->in.c, l->out.h, l->out.w, back, k)};
    size_t most = 0;
    for (int i = 0; i < 4; i++) most = f[i] > most ? f[i] : most;
    return most;
}

/* boff[t] for the taps (ch, i, j) of c planes bordered to wp columns and hp rows. */
static void fill_offsets(int c, int hp, int wp, int k, int *boff) {
    for (int ch = 0, t = 0; ch < c; ch++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) boff[t++] = (ch * hp + i) * wp + j;
}

int *mla_conv_implicit_plan(const mla_layer *l, bool input_grad) {
    int k = l->kernel, c = input_grad ? l->filters : l->in.c;
    int border = input_grad ? k - 1 - l->pad : l->pad;
    int h = input_grad ? l->out.h : l->in.h, w = input_grad ? l->out.w : l->in.w;
    int *boff = malloc((size_t)c * k * k * sizeof(int));
    if (boff) fill_offsets(c, h + 2 * border, w + 2 * border, k, boff);
    return boff;
}

void mla_conv_flip_weights(const mla_layer *l, const float *w, float *wflip) {
    int cout = l->filters, cin = l->in.c, k = l->kernel, kk = k * k;
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            const float *src = w + ((size_t)co * cin + ci) * kk;
            float *dst = wflip + ((size_t)ci * cout + co) * kk;
            for (int t = 0; t < kk; t++) dst[t] = src[kk - 1 - t];
        }
}

/* dst[0..n) = src[0..n) for rows of a few dozen floats, in fixed-size moves the
 * compiler inlines: a plain loop is turned back into one memmove call per row. */
static inline void copy_row(float *restrict dst, const float *restrict src, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) memcpy(dst + i, src + i, 8 * sizeof(float));
    if (n - i >= 4) memcpy(dst + i, src + i, 4 * sizeof(float)), i += 4;
    if (n - i >= 2) memcpy(dst + i, src + i, 2 * sizeof(float)), i += 2;
    if (n - i >= 1) dst[i] = src[i];
}

/* dst[0..n) = 0, the same way. */
static inline void zero_row(float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) memset(dst + i, 0, 8 * sizeof(float));
    if (n - i >= 4) memset(dst + i, 0, 4 * sizeof(float)), i += 4;
    if (n - i >= 2) memset(dst + i, 0, 2 * sizeof(float)), i += 2;
    if (n - i >= 1) dst[i] = 0;
}

/* xp (c planes of (h + 2 pad) x (w + 2 pad), then MLA_IMPLICIT_SLACK zeros) = x with a
 * zero border. */
static void border_copy(const float *x, int c, int h, int w, int pad, float *xp) {
    int hp = h + 2 * pad, wp = w + 2 * pad;
    for (int ch = 0; ch < c; ch++) {
        float *plane = xp + (size_t)ch * hp * wp;
        memset(plane, 0, (size_t)pad * wp * sizeof(float));
        for (int y = 0; y < h; y++) {
            float *row = plane + (size_t)(y + pad) * wp;
            zero_row(row, pad);
            copy_row(row + pad, x + ((size_t)ch * h + y) * w, w);
            zero_row(row + pad + w, pad);
        }
        memset(plane + (size_t)(h + pad) * wp, 0, (size_t)pad * wp * sizeof(float));
    }
    memset(xp + (size_t)c * hp * wp, 0, MLA_IMPLICIT_SLACK * sizeof(float));
}

/* out (m planes oh x ow) = a (m x c k k, row-major) times the im2col matrix of x (c
 * planes h x w, border pad, stride 1), then bias and relu as the tile's epilogue. m is a
 * multiple of 8; xp and grid are scratch (mla_conv_implicit_floats), boff the taps'
 * offsets (mla_conv_implicit_plan). */
static void implicit_conv(const float *x, int c, int h, int w, int pad, int k, const float *a, int m,
                          const float *bias, bool relu, float *out, float *xp, float *grid, const int *boff) {
#if MLA_HAVE_AVX2_CODE
    int hp = h + 2 * pad, wp = w + 2 * pad, oh = hp - k + 1, ow = wp - k + 1, depth = c * k * k;
    border_copy(x, c, h, w, pad, xp);
    if (ow > 24) { /* rows filling most of a tile: one tile (or more) per row, stored in place */
        size_t p = (size_t)oh * ow;
        for (int y = 0; y < oh; y++)
            for (int x0 = 0; x0 < ow; x0 += 32)
                for (int i = 0; i < m; i += 8)
                    mla_gemm_avx2_8x32_rows(depth, a + (size_t)i * depth, (size_t)depth, 1, xp + (size_t)y * wp + x0,
                                            boff, out + (size_t)i * p + (size_t)y * ow + x0, p,
                                            ow - x0 < 32 ? ow - x0 : 32, bias ? bias + i : NULL, relu, false);
        return;
    }
    /* The grid's positions y wp + x that hold outputs end at the last row's ow-th. */
    int n = (oh - 1) * wp + ow, ldg = oh * wp;
    for (int j0 = 0; j0 < n; j0 += 32)
        for (int i = 0; i < m; i += 8)
            mla_gemm_avx2_8x32_rows(depth, a + (size_t)i * depth, (size_t)depth, 1, xp + j0, boff,
                                    grid + (size_t)i * ldg + j0, (size_t)ldg, n - j0 < 32 ? n - j0 : 32,
                                    bias ? bias + i : NULL, relu, false);
    for (int o = 0; o < m; o++)
        for (int y = 0; y < oh; y++)
            copy_row(out + ((size_t)o * oh + y) * ow, grid + (size_t)o * ldg + (size_t)y * wp, ow);
#else
    (void)x, (void)c, (void)h, (void)w, (void)pad, (void)k, (void)a, (void)m, (void)bias, (void)relu, (void)out;
    (void)xp, (void)grid, (void)boff;
#endif
}

void mla_conv_implicit_forward(const mla_layer *l, const float *xs, const float *w, const float *bias, bool relu,
                               float *out, float *xp, float *grid, const int *boff) {
    implicit_conv(xs, l->in.c, l->in.h, l->in.w, l->pad, l->kernel, w, l->filters, bias, relu, out, xp, grid, boff);
}

void mla_conv_implicit_input_grad(const mla_layer *l, const float *dys, const float *wflip, float *dxs, float *xp,
                                  float *grid, const int *boff) {
    implicit_conv(dys, l->filters, l->out.h, l->out.w, l->kernel - 1 - l->pad, l->kernel, wflip, l->in.c, NULL, false,
                  dxs, xp, grid, boff);
}
