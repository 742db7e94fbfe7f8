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

#endif
