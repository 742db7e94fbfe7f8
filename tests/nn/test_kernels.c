/* The engine's inner kernels against naive loops: the vectorisable exp, streaming
 * copies at every alignment, and im2col / col2im over strides, paddings and rows wider
 * than one 16-float register; dense layers on the engine's kernels against OpenBLAS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/core.h"
#include "nn/gemm.h"
#include "nn/layer.h"
#include "nn/mathf.h"
#include "nn/runs.h"

/* Within 2e-7 relative of double exp across its range (every 1/64 from -87 to 88, plus
 * points near the ends and zero), infinities and NaN handled, sigmoid saturating cleanly. */
static void test_expf(void **state) {
    (void)state;
    double worst = 0;
    for (int k = -87 * 64; k <= 88 * 64; k++) {
        float x = (float)k / 64.0f;
        double want = exp((double)x), rel = fabs((double)mla_expf(x) - want) / want;
        if (rel > worst) worst = rel;
    }
    static const float points[] = {-87.3f, -1e-7f, 0.0f, 1e-7f, 0.3465f, -0.3466f, 88.7f};
    for (size_t i = 0; i < sizeof points / sizeof *points; i++) {
        double want = exp((double)points[i]), rel = fabs((double)mla_expf(points[i]) - want) / want;
        if (rel > worst) worst = rel;
    }
    assert_true(worst < 2e-7);
    assert_true(isinf(mla_expf(89.0f)) && mla_expf(89.0f) > 0);
    assert_true(isinf(mla_expf(INFINITY)));
    assert_true(mla_expf(-90.0f) == 0.0f && mla_expf(-INFINITY) == 0.0f);
    assert_true(isnan(mla_expf(NAN)));
    assert_true(mla_sigmoidf(-200.0f) == 0.0f && mla_sigmoidf(200.0f) == 1.0f && mla_sigmoidf(0.0f) == 0.5f);
}

/* Every destination alignment (0..16 floats past a 64-byte boundary) and every length up
 * to 70: the copy is exact and touches nothing outside [dst, dst + n). */
static void test_stream_copy(void **state) {
    (void)state;
    enum { CAP = 128 };
    float *src = mla_alloc_aligned(CAP, sizeof(float)), *dst = mla_alloc_aligned(CAP, sizeof(float));
    for (int i = 0; i < CAP; i++) src[i] = (float)i + 0.5f;
    for (int off = 0; off <= 16; off++)
        for (int n = 0; n <= 70; n++) {
            for (int i = 0; i < CAP; i++) dst[i] = -1.0f;
            mla_stream_copy(dst + off, src + 3, (size_t)n);
            mla_stream_fence();
            for (int i = 0; i < CAP; i++) {
                float want = i >= off && i < off + n ? src[3 + i - off] : -1.0f;
                assert_true(dst[i] == want);
            }
        }
    free(src);
    free(dst);
}

/* The naive reference for both directions, tap by tap in the kernels' order: unfold
 * writes col from x (zeros where a tap reads padding); otherwise x += the fold of col. */
static void naive_fold(float *x, float *col, int c, int h, int w, int k, int st, int pad, int oh, int ow, bool unfold) {
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++) {
                        int iy = oy * st - pad + i, ix = ox * st - pad + j;
                        bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
                        float *cv = &col[((ch * k + i) * k + j) * oh * ow + oy * ow + ox];
                        if (unfold)
                            *cv = inside ? x[(ch * h + iy) * w + ix] : 0.0f;
                        else if (inside)
                            x[(ch * h + iy) * w + ix] += *cv;
                    }
}

/* im2col equals the naive unfolding exactly; col2im equals the naive scatter-add onto
 * the same starting values (the taps are added in the same order). */
static void test_im2col_col2im(void **state) {
    (void)state;
    static const int cases[][6] = {/* c, h, w, k, stride, pad */
                                   {2, 5, 5, 3, 1, 0},  {2, 7, 21, 3, 1, 1}, {1, 6, 35, 5, 1, 2}, {3, 9, 33, 3, 2, 1},
                                   {2, 8, 17, 1, 2, 0}, {1, 5, 40, 3, 3, 2}, {2, 4, 4, 3, 1, 2},  {1, 3, 50, 2, 1, 0},
                                   {3, 28, 28, 3, 1, 1}, {2, 7, 7, 3, 1, 1}, {1, 1, 1, 3, 1, 1}, {1, 2, 2, 5, 1, 2},
                                   {2, 3, 3, 1, 1, 0}, {1, 1, 9, 3, 1, 1},  {2, 28, 28, 3, 2, 1}, {3, 14, 14, 1, 2, 0},
                                   {1, 7, 40, 5, 2, 2}, {2, 5, 3, 3, 2, 2}};
    mla_rng rng;
    mla_rng_seed(&rng, 5);
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        int c = cases[t][0], h = cases[t][1], w = cases[t][2], k = cases[t][3], st = cases[t][4], pad = cases[t][5];
        int oh = (h + 2 * pad - k) / st + 1, ow = (w + 2 * pad - k) / st + 1;
        size_t in = (size_t)c * h * w, cols = (size_t)c * k * k * oh * ow;
        float *x = malloc(in * sizeof(float)), *col = malloc(cols * sizeof(float)), *want = malloc(cols * sizeof(float));
        float *back = malloc(in * sizeof(float)), *want_back = malloc(in * sizeof(float));
        for (size_t i = 0; i < in; i++) x[i] = (float)mla_rng_normal(&rng);
        naive_fold(x, want, c, h, w, k, st, pad, oh, ow, true);
        mla_im2col(x, c, h, w, k, st, pad, oh, ow, col, (size_t)oh * ow);
        assert_memory_equal(col, want, cols * sizeof(float));
        for (size_t i = 0; i < in; i++) back[i] = want_back[i] = (float)mla_rng_normal(&rng);
        naive_fold(want_back, col, c, h, w, k, st, pad, oh, ow, false);
        mla_col2im(col, (size_t)oh * ow, c, h, w, k, st, pad, oh, ow, back);
        assert_memory_equal(back, want_back, in * sizeof(float));
        free(x);
        free(col);
        free(want);
        free(back);
        free(want_back);
    }
}

/* One dense layer's forward and backward (output, weight and bias gradients, input
 * gradient) with the products forced onto OpenBLAS (mode 0) or the engine's kernels
 * (mode 1); out receives y, the gradients and dx one after another. */
static void dense_pass(mla_net *net, const float *x, const float *dout, int n, int units, int mode, float *out) {
    mla_dense_kernels_force(mode);
    const float *y;
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_forward(net, x, n, true, &y), MLA_OK);
    memcpy(out, y, (size_t)n * units * sizeof(float));
    out += (size_t)n * units;
    assert_int_equal(mla_net_backward(net, dout, out + mla_net_trainable_count(net)), MLA_OK);
    memcpy(out, mla_net_grads(net), mla_net_trainable_count(net) * sizeof(float));
    mla_dense_kernels_force(-1);
}

/* Shapes that fill the kernel's 8 x 32 tiles, leave partial ones (37 and 100 inputs, 24
 * samples), and fall back to OpenBLAS for some products (13 samples: the input and
 * weight gradients); every result within float rounding of OpenBLAS's. */
static void test_dense_kernels_match_blas(void **state) {
    (void)state;
    static const int shapes[][3] = {{128, 784, 256}, {24, 37, 16}, {13, 20, 8}, {40, 100, 24}, {16, 16, 8}};
#if defined(__AVX512F__)
    mla_dense_kernels_force(1);
    assert_true(mla_dense_own_kernels());
    mla_dense_kernels_force(-1);
#else
    skip(); /* no own kernels in this build: both passes would run OpenBLAS */
#endif
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int n = shapes[s][0], in = shapes[s][1], units = shapes[s][2];
        char spec[96];
        snprintf(spec, sizeof spec, "{\"layers\": [{\"type\": \"dense\", \"units\": %d}]}", units);
        mla_net *net;
        if (mla_net_create(spec, (mla_shape){in, 1, 1}, units, 7, &net)) fail_msg("%s", mla_last_error());
        size_t total = (size_t)n * units + mla_net_trainable_count(net) + (size_t)n * in;
        float *x = malloc((size_t)n * in * sizeof(float)), *dout = malloc((size_t)n * units * sizeof(float));
        float *blas = malloc(total * sizeof(float)), *own = malloc(total * sizeof(float));
        mla_rng rng;
        mla_rng_seed(&rng, 11 + s);
        for (int i = 0; i < n * in; i++) x[i] = (float)mla_rng_normal(&rng);
        for (int i = 0; i < n * units; i++) dout[i] = (float)mla_rng_normal(&rng);
        dense_pass(net, x, dout, n, units, 0, blas);
        dense_pass(net, x, dout, n, units, 1, own);
        for (size_t i = 0; i < total; i++)
            if (fabsf(own[i] - blas[i]) > 1e-5f * (1.0f + fabsf(blas[i])))
                fail_msg("%d x %d -> %d: value %zu is %g, OpenBLAS gives %g", n, in, units, i, own[i], blas[i]);
        mla_net_free(net);
        free(x);
        free(dout);
        free(blas);
        free(own);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf),
        cmocka_unit_test(test_stream_copy),
        cmocka_unit_test(test_im2col_col2im),
        cmocka_unit_test(test_dense_kernels_match_blas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
