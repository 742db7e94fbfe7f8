/* Pooling: maxpool and avgpool (kernel, stride = kernel by default, pad), and global
 * average pooling (C x H x W -> C x 1 x 1). Max pooling keeps each output's argmax
 * (an index into the input plane) for the backward pass; padding never wins a max. */
#include <float.h>
#include <stdbool.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/layer.h"
#include "nn/reduce.h"
#include "nn/runs.h"

static mla_status pool_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    static const char *const keys[] = {"kernel", "stride", "pad", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_int(l, j, "kernel", -1, 1, 64, 0, &l->kernel);
    if (!s) s = mla_spec_int(l, j, "stride", l->kernel, 1, 64, 0, &l->stride);
    if (!s) s = mla_spec_int(l, j, "pad", 0, 0, 64, 0, &l->pad);
    if (!s && l->pad * 2 > l->kernel)
        s = mla_error(MLA_ERR_INVALID, "layer %s (%s): \"pad\" must be at most half the kernel", l->name, l->op->type);
    return s;
}

static mla_status pool_setup(mla_layer *l) {
    int eh = l->in.h + 2 * l->pad - l->kernel, ew = l->in.w + 2 * l->pad - l->kernel;
    if (eh < 0 || ew < 0)
        return mla_error(MLA_ERR_SHAPE, "layer %s (%s): kernel %d is larger than the input %dx%d", l->name,
                         l->op->type, l->kernel, l->in.h, l->in.w);
    l->out = (mla_shape){l->in.c, eh / l->stride + 1, ew / l->stride + 1};
    if (l->op == &mla_op_maxpool) l->cache_bytes_per_sample = (size_t)mla_shape_size(l->out) * sizeof(int32_t);
    return MLA_OK;
}

/* One plane of an unpadded max pool: every window lies inside the input. The first
 * maximum in row-major window order wins, as in the padded loop below. */
static void maxpool_plane_unpadded(const float *src, int w, int oh, int ow, int k, int stride, float *dst,
                                   int32_t *arg) {
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            int32_t base = (int32_t)(oy * stride * w + ox * stride), at = base;
            float best = src[base];
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    /* Selects, not branches: which element wins is data-dependent and unpredictable. */
                    int32_t q = base + i * w + j;
                    float v = src[q];
                    bool wins = v > best;
                    at = wins ? q : at;
                    best = wins ? v : best;
                }
            dst[oy * ow + ox] = best;
            arg[oy * ow + ox] = at;
        }
}

#if !defined(__AVX512F__)
/* The common 2x2, stride-2 case unrolled: independent outputs the CPU can overlap (the
 * generic loop's max/argmax chain is latency-bound). Same first-maximum rule. */
static void maxpool_plane_2x2(const float *restrict src, int w, int oh, int ow, float *restrict dst,
                              int32_t *restrict arg) {
    for (int oy = 0; oy < oh; oy++) {
        const float *restrict r0 = src + (size_t)2 * oy * w, *restrict r1 = r0 + w;
        int32_t row = 2 * oy * w;
        for (int ox = 0; ox < ow; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            int32_t q = row + 2 * ox;
            float top = b > a ? b : a, bottom = d > c ? d : c;
            int32_t at_top = b > a ? q + 1 : q, at_bottom = d > c ? q + w + 1 : q + w;
            bool lower = bottom > top;
            dst[oy * ow + ox] = lower ? bottom : top;
            arg[oy * ow + ox] = lower ? at_bottom : at_top;
        }
    }
}
#endif

#if defined(__AVX512F__)

/* The 2x2, stride-2 plane 16 outputs at a time: the two input rows are loaded as 32
 * floats each and split into even and odd columns, then the scalar loop's selects run
 * lane-wise (same comparisons, same first-maximum rule, same bits). */
static void maxpool_plane_2x2_avx512(const float *src, int w, int oh, int ow, float *dst, int32_t *arg) {
    const __m512i even = mla_even_lanes();
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int oy = 0; oy < oh; oy++) {
        const float *r0 = src + (size_t)2 * oy * w, *r1 = r0 + w;
        for (int ox0 = 0; ox0 < ow; ox0 += 16) {
            int m = ow - ox0 < 16 ? ow - ox0 : 16;
            __mmask16 lo = mla_lanes_between(0, 2 * m), hi = mla_lanes_between(0, 2 * m - 16);
            const float *p0 = r0 + 2 * ox0, *p1 = r1 + 2 * ox0;
            __m512 r0lo = _mm512_maskz_loadu_ps(lo, p0), r0hi = _mm512_maskz_loadu_ps(hi, p0 + 16);
            __m512 r1lo = _mm512_maskz_loadu_ps(lo, p1), r1hi = _mm512_maskz_loadu_ps(hi, p1 + 16);
            __m512 a = _mm512_permutex2var_ps(r0lo, even, r0hi), b = _mm512_permutex2var_ps(r0lo, odd, r0hi);
            __m512 c = _mm512_permutex2var_ps(r1lo, even, r1hi), d = _mm512_permutex2var_ps(r1lo, odd, r1hi);
            __m512i q = _mm512_add_epi32(_mm512_set1_epi32(2 * oy * w + 2 * ox0), even);
            __mmask16 b_wins = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), d_wins = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ);
            __m512 top = _mm512_mask_blend_ps(b_wins, a, b), bottom = _mm512_mask_blend_ps(d_wins, c, d);
            __m512i at_top = _mm512_mask_add_epi32(q, b_wins, q, _mm512_set1_epi32(1));
            __m512i qw = _mm512_add_epi32(q, _mm512_set1_epi32(w));
            __m512i at_bottom = _mm512_mask_add_epi32(qw, d_wins, qw, _mm512_set1_epi32(1));
            __mmask16 lower = _mm512_cmp_ps_mask(bottom, top, _CMP_GT_OQ), out = mla_lanes_between(0, m);
            _mm512_mask_storeu_ps(dst + (size_t)oy * ow + ox0, out, _mm512_mask_blend_ps(lower, top, bottom));
            _mm512_mask_storeu_epi32(arg + (size_t)oy * ow + ox0, out, _mm512_mask_blend_epi32(lower, at_top, at_bottom));
        }
    }
}

/* The backward of a 2x2, stride-2 plane: windows do not overlap, so every input gets
 * its window's gradient (if it was the argmax, and with relu set only where the pooled
 * value is positive) or zero, written once: no clearing pass, no scatter. */
static void unpool_plane_2x2_avx512(const float *y, const float *dy, const int32_t *arg, bool relu, int h, int w,
                                    int oh, int ow, float *dx) {
    const __m512i even = mla_even_lanes();
    const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 zero = _mm512_setzero_ps();
    for (int oy = 0; oy < oh; oy++) {
        float *d0 = dx + (size_t)2 * oy * w, *d1 = d0 + w;
        for (int ox0 = 0; ox0 < ow; ox0 += 16) {
            int m = ow - ox0 < 16 ? ow - ox0 : 16;
            __mmask16 out = mla_lanes_between(0, m);
            size_t at = (size_t)oy * ow + ox0;
            __m512 v = _mm512_maskz_loadu_ps(out, dy + at);
            if (relu) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(out, y + at), zero, _CMP_GT_OQ), v);
            __m512i rel = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(out, arg + at),
                                           _mm512_add_epi32(_mm512_set1_epi32(2 * oy * w + 2 * ox0), even));
            __m512 e0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(rel, _mm512_setzero_si512()), v);
            __m512 o0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(1)), v);
            __m512 e1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(w)), v);
            __m512 o1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(w + 1)), v);
            __mmask16 lo = mla_lanes_between(0, 2 * m), hi = mla_lanes_between(0, 2 * m - 16);
            _mm512_mask_storeu_ps(d0 + 2 * ox0, lo, _mm512_permutex2var_ps(e0, lo_idx, o0));
            _mm512_mask_storeu_ps(d0 + 2 * ox0 + 16, hi, _mm512_permutex2var_ps(e0, hi_idx, o0));
            _mm512_mask_storeu_ps(d1 + 2 * ox0, lo, _mm512_permutex2var_ps(e1, lo_idx, o1));
            _mm512_mask_storeu_ps(d1 + 2 * ox0 + 16, hi, _mm512_permutex2var_ps(e1, hi_idx, o1));
        }
        if (w > 2 * ow) { /* an odd width: the last column belongs to no window */
            memset(d0 + 2 * ow, 0, (size_t)(w - 2 * ow) * sizeof(float));
            memset(d1 + 2 * ow, 0, (size_t)(w - 2 * ow) * sizeof(float));
        }
    }
    if (h > 2 * oh) memset(dx + (size_t)2 * oh * w, 0, (size_t)(h - 2 * oh) * w * sizeof(float));
}
#endif

static bool is_2x2(const mla_layer *l) { return l->pad == 0 && l->kernel == 2 && l->stride == 2; }

static void maxpool_plane_padded(const mla_layer *l, const float *src, float *dst, int32_t *arg) {
    int h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, k = l->kernel;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            float best = -FLT_MAX;
            int32_t at = -1;
            for (int i = 0; i < k; i++) {
                int iy = oy * l->stride - l->pad + i;
                if (iy < 0 || iy >= h) continue;
                for (int j = 0; j < k; j++) {
                    int ix = ox * l->stride - l->pad + j;
                    if (ix < 0 || ix >= w) continue;
                    float v = src[iy * w + ix];
                    if (at < 0 || v > best) {
                        best = v;
                        at = iy * w + ix;
                    }
                }
            }
            dst[oy * ow + ox] = best;
            arg[oy * ow + ox] = at;
        }
}

/* Plane p (sample * channels + channel) of the batch: src is that plane's input. */
static void maxpool_plane(mla_layer *l, const float *src, long p) {
    size_t ohw = (size_t)l->out.h * l->out.w;
    float *dst = l->y + (size_t)p * ohw;
    int32_t *arg = (int32_t *)l->cache + (size_t)p * ohw;
    if (is_2x2(l))
#if defined(__AVX512F__)
        maxpool_plane_2x2_avx512(src, l->in.w, l->out.h, l->out.w, dst, arg);
#else
        maxpool_plane_2x2(src, l->in.w, l->out.h, l->out.w, dst, arg);
#endif
    else if (l->pad == 0)
        maxpool_plane_unpadded(src, l->in.w, l->out.h, l->out.w, l->kernel, l->stride, dst, arg);
    else
        maxpool_plane_padded(l, src, dst, arg);
}

/* y is always l->y: the net passes each layer its own output buffer. */
static void maxpool_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    (void)ctx;
    (void)y;
    long planes = (long)n * l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w;
#pragma omp parallel for schedule(static) if (planes * (long)hw > MLA_PAR_MIN)
    for (long p = 0; p < planes; p++) maxpool_plane(l, x + (size_t)p * hw, p);
}

void mla_maxpool_sample(mla_layer *pool, const float *x, int s) {
    size_t hw = (size_t)pool->in.h * pool->in.w;
    for (int ch = 0; ch < pool->in.c; ch++) maxpool_plane(pool, x + (size_t)ch * hw, (long)s * pool->in.c + ch);
}

void mla_maxpool_relu_backward_sample(const mla_layer *pool, int s, float *dx) {
    size_t ohw = (size_t)pool->out.h * pool->out.w, hw = (size_t)pool->in.h * pool->in.w;
    size_t first = (size_t)s * pool->in.c * ohw;
    const float *y = pool->y + first, *dy = pool->dy + first;
    const int32_t *arg = (const int32_t *)pool->cache + first;
#if defined(__AVX512F__)
    if (is_2x2(pool)) {
        for (int ch = 0; ch < pool->in.c; ch++)
            unpool_plane_2x2_avx512(y + ch * ohw, dy + ch * ohw, arg + ch * ohw, true, pool->in.h, pool->in.w,
                                    pool->out.h, pool->out.w, dx + ch * hw);
        return;
    }
#endif
    memset(dx, 0, (size_t)pool->in.c * hw * sizeof(float));
    for (int ch = 0; ch < pool->in.c; ch++) {
        float *d = dx + (size_t)ch * hw;
        /* The relu passes only what was positive; adding +0 leaves a sum that started at +0 as it was. */
        for (size_t q = ch * ohw; q < (ch + 1) * ohw; q++) d[arg[q]] += y[q] > 0 ? dy[q] : 0.0f;
    }
}

static void maxpool_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                             mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w, ohw = (size_t)l->out.h * l->out.w;
    const int32_t *arg = l->cache;
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = n0; s < n0 + n; s++)
        for (int ch = 0; ch < c; ch++) {
            size_t plane = (size_t)s * c + ch;
            float *d = dx + plane * hw;
#if defined(__AVX512F__)
            if (is_2x2(l)) {
                unpool_plane_2x2_avx512(NULL, dy + plane * ohw, arg + plane * ohw, false, l->in.h, l->in.w, l->out.h,
                                        l->out.w, d);
                continue;
            }
#endif
            memset(d, 0, hw * sizeof(float));
            for (size_t q = 0; q < ohw; q++) d[arg[plane * ohw + q]] += dy[plane * ohw + q];
        }
}

/* Average pooling divides by the full kernel area (PyTorch's count_include_pad). */
static void avgpool_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    (void)ctx;
    int c = l->in.c, h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, k = l->kernel;
    float scale = 1.0f / (float)(k * k);
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++) {
            const float *src = x + ((size_t)s * c + ch) * h * w;
            float *dst = y + ((size_t)s * c + ch) * oh * ow;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    float sum = 0;
                    for (int i = 0; i < k; i++) {
                        int iy = oy * l->stride - l->pad + i;
                        if (iy < 0 || iy >= h) continue;
                        for (int j = 0; j < k; j++) {
                            int ix = ox * l->stride - l->pad + j;
                            if (ix >= 0 && ix < w) sum += src[iy * w + ix];
                        }
                    }
                    dst[oy * ow + ox] = sum * scale;
                }
        }
}

static void avgpool_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                             mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    int c = l->in.c, h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w, k = l->kernel;
    float scale = 1.0f / (float)(k * k);
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = n0; s < n0 + n; s++)
        for (int ch = 0; ch < c; ch++) {
            float *d = dx + ((size_t)s * c + ch) * h * w;
            const float *g = dy + ((size_t)s * c + ch) * oh * ow;
            memset(d, 0, (size_t)h * w * sizeof(float));
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    float v = g[oy * ow + ox] * scale;
                    for (int i = 0; i < k; i++) {
                        int iy = oy * l->stride - l->pad + i;
                        if (iy < 0 || iy >= h) continue;
                        for (int j = 0; j < k; j++) {
                            int ix = ox * l->stride - l->pad + j;
                            if (ix >= 0 && ix < w) d[iy * w + ix] += v;
                        }
                    }
                }
        }
}

static mla_status gap_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    return mla_spec_keys(l, j, NULL);
}

static mla_status gap_setup(mla_layer *l) {
    l->out = (mla_shape){l->in.c, 1, 1};
    return MLA_OK;
}

static void gap_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {
    (void)ctx;
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w;
    long planes = (long)n * c;
#pragma omp parallel for schedule(static) if (planes * (long)hw > MLA_PAR_MIN)
    for (long p = 0; p < planes; p++) {
        const float *src = x + (size_t)p * hw;
        y[p] = (float)(mla_plane_sum(src, hw) / (double)hw);
    }
}

static void gap_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                         mla_ctx *ctx) {
    (void)x;
    (void)y;
    (void)ctx;
    if (!dx) return;
    int c = l->in.c;
    size_t hw = (size_t)l->in.h * l->in.w;
    for (long p = (long)n0 * c; p < (long)(n0 + n) * c; p++) {
        float v = dy[p] / (float)hw;
        for (size_t q = 0; q < hw; q++) dx[(size_t)p * hw + q] = v;
    }
}

const mla_op mla_op_maxpool = {"maxpool", pool_parse, pool_setup, NULL, maxpool_forward, maxpool_backward,
                               NULL, NULL, false, false, NULL};
const mla_op mla_op_avgpool = {"avgpool", pool_parse, pool_setup, NULL, avgpool_forward, avgpool_backward,
                               NULL, NULL, false, false, NULL};
const mla_op mla_op_gap = {"gap", gap_parse, gap_setup, NULL, gap_forward, gap_backward,
                           NULL, NULL, false, false, NULL};
