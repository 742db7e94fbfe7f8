/* Private: what the convolution ops (ops_conv.c, ops_dwconv.c, ops_convt.c) and
 * im2col.c share: spec parsing, the output shape, PyTorch's init, the valid output
 * range of a tap, and col2im with a choice of adding or writing. */
#ifndef MLAUDIT_NN_CONV_H
#define MLAUDIT_NN_CONV_H

#include <stdbool.h>
#include <stddef.h>

#include "nn/layer.h"

/* Output columns ox whose input column ox * stride - pad + j lies inside [0, w): [*lo, *hi). */
static inline void mla_conv_valid_columns(int w, int stride, int pad, int j, int ow, int *lo, int *hi) {
    int first = pad - j > 0 ? (pad - j + stride - 1) / stride : 0;
    int last = (w - 1 + pad - j) >= 0 ? (w - 1 + pad - j) / stride + 1 : 0;
    *lo = first < ow ? first : ow;
    *hi = last < ow ? last : ow;
    if (*hi < *lo) *hi = *lo;
}

/* The keys of conv2d / convt2d (has_filters) or dwconv2d. */
mla_status mla_conv_parse_common(mla_layer *l, const cJSON *j, int classes, bool has_filters);
/* l->out for a (non-transposed) convolution with `channels` outputs; an error when the
 * kernel is larger than the padded input. */
mla_status mla_conv_out_shape(mla_layer *l, int channels);
/* PyTorch's init: U(+-1/sqrt(fan_in)), fan_in = weight dims[1] * k * k. */
void mla_conv_init(mla_layer *l, float *p, mla_rng *rng);

/* add: x += col2im(col), as mla_col2im promises; otherwise x = col2im(col), the same bits
 * as adding onto zeros, without clearing x first where the gather writes every element. */
void mla_col2im_to(const float *col, size_t ldc, int c, int h, int w, int k, int stride, int pad, int oh, int ow,
                   float *x, bool add);

/* ---- stride-1 convolutions as implicit GEMMs (conv_implicit.c) ---- */

/* Readable floats after a bordered buffer (the tile reads rows 32 wide). */
#define MLA_IMPLICIT_SLACK 32

/* Whether conv2d's forward product / input gradient runs as an implicit GEMM on this
 * process's kernels: the AVX2 family, stride 1, pad <= kernel - 1, not pointwise nor
 * dense-like; the rows of the product (filters, or input channels for the gradient) a
 * multiple of 8 and its depth at least 16. */
bool mla_conv_implicit_forward_ok(const mla_layer *l);
bool mla_conv_implicit_input_grad_ok(const mla_layer *l);
/* Floats of each of the two scratch buffers (xp, grid) either pass needs (0 where pad >
 * kernel - 1). */
size_t mla_conv_implicit_floats(const mla_layer *l);
/* The offset table of the forward's (or the input gradient's) taps, the same for every
 * sample and thread: malloc'd, the caller frees; NULL when out of memory. */
int *mla_conv_implicit_plan(const mla_layer *l, bool input_grad);
/* wflip (in.c x filters x k x k) = w (filters x in.c x k x k) with each kernel turned
 * 180 degrees and the channel axes swapped: the input gradient's weights. */
void mla_conv_flip_weights(const mla_layer *l, const float *w, float *wflip);
/* out (filters x out.h x out.w) = the conv of one sample xs with bias and, if asked,
 * the relu: the same bits as the im2col product on the AVX2 tile. */
void mla_conv_implicit_forward(const mla_layer *l, const float *xs, const float *w, const float *bias, bool relu,
                               float *out, float *xp, float *grid, const int *boff);
/* dxs (in.c x in.h x in.w) = the input gradient of one sample from its output gradient dys. */
void mla_conv_implicit_input_grad(const mla_layer *l, const float *dys, const float *wflip, float *dxs, float *xp,
                                  float *grid, const int *boff);

#endif
