/* dwconv2d, NCHW: weight [c, 1, k, k], bias [c]; direct loops by rows (depthwise, one
 * filter per channel). Output size (h + 2 pad - k) / stride + 1. */
#include <string.h>

#include "nn/conv.h"
#include "nn/layer.h"
#include "nn/reduce.h"
#include "nn/runs.h"

static mla_status dw_parse(mla_layer *l, const cJSON *j, int classes) { return mla_conv_parse_common(l, j, classes, false); }

static mla_status dw_setup(mla_layer *l) {
    mla_status s = mla_conv_out_shape(l, l->in.c);
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
        mla_conv_valid_columns(w, st, pad, j, ow, &lo, &hi);
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
        mla_conv_valid_columns(w, st, pad, j, ow, &lo, &hi);
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
    for (int j = 0; j < k; j++) mla_conv_valid_columns(w, st, pad, j, ow, &lo[j], &hi[j]);
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
        mla_conv_valid_columns(w, st, pad, j, ow, &lo, &hi);
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

const mla_op mla_op_dwconv2d = {"dwconv2d", dw_parse, dw_setup, mla_conv_init, dw_forward, dw_backward,
                                NULL, NULL, false, false, NULL};
