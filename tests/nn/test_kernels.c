/* The engine's inner kernels against naive loops: the vectorisable exp, streaming
 * copies at every alignment, and im2col / col2im over strides, paddings and rows wider
 * than one 16-float register; the 8 x 32 matrix tile on each family (AVX2, AVX-512)
 * against double sums and against each other (same bits); dense and conv layers on the
 * engine's kernels (each family) against OpenBLAS. */
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

/* Forces the nn kernel family: -1 the CPU's own (AVX-512 where built), else a cap. Returns
 * false (and restores the default) when that family is not what runs, e.g. the AVX2 cap
 * on a CPU without AVX2. */
static bool use_family(int cap, mla_isa want) {
    mla_isa_force(cap);
    if (mla_nn_kernels() == want) return true;
    mla_isa_force(-1);
    return false;
}

/* a (8 x k, either layout) times b (k x ncols, leading dimension ldb) on the AVX2 tile,
 * against double sums within the float32 dot-product bound, and bit for bit against the
 * AVX-512 tile where built; every flag combination, partial widths, b with and without
 * slack. */
static void test_gemm_tile_families(void **state) {
    (void)state;
#if !MLA_HAVE_AVX2_CODE
    skip();
#else
    if (!use_family(MLA_ISA_AVX2, MLA_ISA_AVX2)) skip();
    mla_isa_force(-1);
    static const int widths[] = {1, 7, 8, 9, 16, 17, 31, 32};
    static const int depths[] = {1, 16, 75};
    mla_rng rng;
    mla_rng_seed(&rng, 5);
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (size_t di = 0; di < sizeof depths / sizeof *depths; di++)
            for (int flags = 0; flags < 32; flags++) {
                int ncols = widths[wi], k = depths[di], ldb = 35; /* rows read 32 wide stay in b */
                bool trans = flags & 1, slack = flags & 2, bias_on = flags & 4, relu = flags & 8, acc = flags & 16;
                size_t ars = trans ? 1 : (size_t)k, acs = trans ? 8 : 1;
                /* b exactly k rows of ldb floats when !slack, so an overlong last load would trip ASan */
                size_t bn = (size_t)(k - 1) * ldb + (slack ? (size_t)(32 + ldb) : (size_t)ncols);
                float *a = malloc(8 * (size_t)k * sizeof(float)), *b = malloc(bn * sizeof(float));
                float bias[8], c2[8 * 40], c5[8 * 40], init[8 * 40];
                for (int i = 0; i < 8 * k; i++) a[i] = (float)mla_rng_normal(&rng);
                for (size_t i = 0; i < bn; i++) b[i] = (float)mla_rng_normal(&rng);
                for (int i = 0; i < 8; i++) bias[i] = (float)mla_rng_normal(&rng);
                for (int i = 0; i < 8 * 40; i++) init[i] = (float)mla_rng_normal(&rng);
                memcpy(c2, init, sizeof c2);
                mla_gemm_avx2_8x32(k, a, ars, acs, b, (size_t)ldb, c2, 40, ncols, slack, bias_on ? bias : NULL, relu,
                                   acc);
                for (int i = 0; i < 8; i++)
                    for (int j = 0; j < 40; j++) {
                        float got = c2[i * 40 + j];
                        if (j >= ncols) { /* untouched past the tile's width */
                            assert_true(got == init[i * 40 + j]);
                            continue;
                        }
                        double sum = 0, abs = 0;
                        for (int t = 0; t < k; t++) {
                            double p = (double)a[i * ars + t * acs] * b[(size_t)t * ldb + j];
                            sum += p, abs += fabs(p);
                        }
                        if (bias_on) sum += bias[i], abs += fabs(bias[i]);
                        if (relu && sum < 0) sum = 0;
                        if (acc) sum += init[i * 40 + j], abs += fabs(init[i * 40 + j]);
                        if (fabs(got - sum) > 1e-6 * (k + 2) * abs + 1e-30)
                            fail_msg("avx2 tile k=%d ncols=%d flags=%d: c[%d][%d] = %.9g, exact %.9g", k, ncols, flags,
                                     i, j, got, sum);
                    }
#if defined(__AVX512F__)
                if (use_family(-1, MLA_ISA_AVX512)) {
                    memcpy(c5, init, sizeof c5);
                    mla_gemm_8x32(k, a, ars, acs, b, (size_t)ldb, c5, 40, ncols, slack, bias_on ? bias : NULL, relu,
                                  acc);
                    assert_memory_equal(c2, c5, sizeof c2);
                }
#else
                (void)c5;
#endif
                free(a), free(b);
            }
#endif
}

/* The AVX2 dense forward (dot products along the inputs, 4 samples x 3 units a block)
 * against double sums within the float32 dot-product bound, on sizes that leave partial
 * blocks and a masked tail (n 1..9, in 1, 7, 8, 9, 37, units 1..7 and 10): with and
 * without bias and the relu output; each sample's row the same bits alone as in the
 * batch; and a product large enough to be split over the team (13 x 300 -> 41) the same
 * bits on 1 and 3 threads. */
static void test_dense_forward_avx2(void **state) {
    (void)state;
#if !MLA_HAVE_AVX2_CODE
    skip();
#else
    if (!use_family(MLA_ISA_AVX2, MLA_ISA_AVX2)) skip();
    mla_isa_force(-1);
    static const int ins[] = {1, 7, 8, 9, 37};
    static const int outs[] = {1, 2, 3, 4, 5, 7, 10};
    int threads = mla_get_threads();
    mla_rng rng;
    mla_rng_seed(&rng, 17);
    for (int n = 1; n <= 9; n++)
        for (size_t ii = 0; ii < sizeof ins / sizeof *ins; ii++)
            for (size_t oi = 0; oi < sizeof outs / sizeof *outs; oi++)
                for (int flags = 0; flags < 4; flags++) {
                    int in = ins[ii], out = outs[oi];
                    bool bias_on = flags & 1, relu = flags & 2;
                    /* exact sizes: a read past any row's end would trip ASan */
                    float *x = malloc((size_t)n * in * sizeof(float)), *w = malloc((size_t)out * in * sizeof(float));
                    float *b = malloc((size_t)out * sizeof(float)), *y = malloc((size_t)n * out * sizeof(float));
                    float *r = malloc((size_t)n * out * sizeof(float)), *y1 = malloc((size_t)out * sizeof(float));
                    for (int i = 0; i < n * in; i++) x[i] = (float)mla_rng_normal(&rng);
                    for (int i = 0; i < out * in; i++) w[i] = (float)mla_rng_normal(&rng);
                    for (int i = 0; i < out; i++) b[i] = (float)mla_rng_normal(&rng);
                    if (n == 5 && out == 10) x[3] = -0.0f, w[0] = 0.0f; /* a zero product among the terms */
                    mla_dense_forward_avx2(x, w, bias_on ? b : NULL, n, in, out, y, relu ? r : NULL);
                    for (int s = 0; s < n; s++)
                        for (int o = 0; o < out; o++) {
                            double sum = 0, abs = 0;
                            for (int t = 0; t < in; t++) {
                                double p = (double)x[(size_t)s * in + t] * w[(size_t)o * in + t];
                                sum += p, abs += fabs(p);
                            }
                            if (bias_on) sum += b[o], abs += fabs(b[o]);
                            float got = y[(size_t)s * out + o];
                            if (fabs(got - sum) > 1e-6 * (in + 2) * abs + 1e-30)
                                fail_msg("n=%d in=%d out=%d flags=%d: y[%d][%d] = %.9g, exact %.9g", n, in, out, flags,
                                         s, o, got, sum);
                            if (relu) assert_true(r[(size_t)s * out + o] == (got > 0 ? got : 0.0f));
                        }
                    for (int s = 0; s < n; s++) { /* alone: the same bits */
                        mla_dense_forward_avx2(x + (size_t)s * in, w, bias_on ? b : NULL, 1, in, out, y1, NULL);
                        assert_memory_equal(y1, y + (size_t)s * out, (size_t)out * sizeof(float));
                    }
                    free(x), free(w), free(b), free(y), free(r), free(y1);
                }
    enum { N = 13, IN = 300, OUT = 41 };
    float *x = malloc(N * IN * sizeof(float)), *w = malloc(OUT * IN * sizeof(float)), b[OUT];
    float *y1 = malloc(N * OUT * sizeof(float)), *y3 = malloc(N * OUT * sizeof(float));
    for (int i = 0; i < N * IN; i++) x[i] = (float)mla_rng_normal(&rng);
    for (int i = 0; i < OUT * IN; i++) w[i] = (float)mla_rng_normal(&rng);
    for (int i = 0; i < OUT; i++) b[i] = (float)mla_rng_normal(&rng);
    mla_set_threads(1);
    mla_dense_forward_avx2(x, w, b, N, IN, OUT, y1, NULL);
    mla_set_threads(3);
    mla_dense_forward_avx2(x, w, b, N, IN, OUT, y3, NULL);
    assert_memory_equal(y1, y3, N * OUT * sizeof(float));
    mla_set_threads(threads);
    free(x), free(w), free(y1), free(y3);
#endif
}

/* A dense followed by a relu (fused: the dense writes the relu's output and takes its
 * gradient), 128 samples x 70 inputs -> 200 units -> 10, on OpenBLAS and on each family's
 * kernels: the relu's activation is max(y, 0) of the dense's, bit for bit; the gradients
 * within float rounding of OpenBLAS's; on the own kernels the same bits on 1 and 2
 * threads (the relu's backward and bias gradient split by columns). */
static void test_dense_relu_fused(void **state) {
    (void)state;
    const char *spec = "{\"layers\": [{\"type\": \"dense\", \"units\": 200}, {\"type\": \"relu\"},"
                       "{\"type\": \"dense\", \"units\": 10}]}";
    enum { N = 128, IN = 70, H = 200 };
    mla_net *net;
    if (mla_net_create(spec, (mla_shape){IN, 1, 1}, 10, 5, &net)) fail_msg("%s", mla_last_error());
    size_t np = mla_net_trainable_count(net), total = N * 10 + np + N * IN;
    float *x = malloc(N * IN * sizeof(float)), *dout = malloc(N * 10 * sizeof(float));
    float *ref = malloc(total * sizeof(float)), *got = malloc(total * sizeof(float)), *got1 = malloc(total * sizeof(float));
    mla_rng rng;
    mla_rng_seed(&rng, 23);
    for (int i = 0; i < N * IN; i++) x[i] = (float)mla_rng_normal(&rng);
    for (int i = 0; i < N * 10; i++) dout[i] = (float)mla_rng_normal(&rng);
    int threads = mla_get_threads();
    dense_pass(net, x, dout, N, 10, 0, ref);
    static const int caps[][2] = {{-1, MLA_ISA_AVX512}, {MLA_ISA_AVX2, MLA_ISA_AVX2}, {-2, MLA_ISA_PORTABLE}};
    for (int f = 0; f < 3; f++) {
        if (caps[f][0] == -2) mla_isa_force(-1); /* OpenBLAS on the CPU's own family */
        else if (!use_family(caps[f][0], (mla_isa)caps[f][1])) continue;
        int mode = caps[f][0] == -2 ? 0 : 1;
        mla_set_threads(1);
        dense_pass(net, x, dout, N, 10, mode, got1);
        mla_set_threads(2);
        dense_pass(net, x, dout, N, 10, mode, got);
        if (mode == 1) assert_memory_equal(got, got1, total * sizeof(float)); /* OpenBLAS's split can differ */
        for (size_t i = 0; i < total; i++)
            if (fabsf(got[i] - ref[i]) > 1e-5f * (1.0f + fabsf(ref[i])))
                fail_msg("family %d: value %zu is %g, OpenBLAS gives %g", f, i, got[i], ref[i]);
        const float *y, *r;
        mla_shape shape;
        int n;
        assert_int_equal(mla_net_activation(net, mla_net_layer_name(net, 0), &y, &shape, &n), MLA_OK);
        assert_int_equal(mla_net_activation(net, mla_net_layer_name(net, 1), &r, &shape, &n), MLA_OK);
        assert_int_equal(n, N);
        for (int i = 0; i < N * H; i++) assert_true(r[i] == (y[i] > 0 ? y[i] : 0.0f));
        mla_isa_force(-1);
    }
    mla_set_threads(threads);
    mla_net_free(net);
    free(x), free(dout), free(ref), free(got), free(got1);
}

/* A one-dense-layer net's pass (dense_pass's layout: y, dW, db, dx) against the direct
 * formulas in double: y = x W^T + b, dW = dout^T x, db = the column sums of dout,
 * dx = dout W; each value within the float32 sum's bound. */
static void check_dense_direct(mla_net *net, const float *x, const float *dout, int n, int in, int units,
                               const float *got) {
    const float *w = mla_net_params(net), *b = w + (size_t)units * in;
    const float *gy = got, *gw = gy + (size_t)n * units, *gb = gw + (size_t)units * in, *gx = gb + units;
    for (int s = 0; s < n; s++)
        for (int u = 0; u < units; u++) {
            double sum = b[u], abs = fabs(b[u]);
            for (int i = 0; i < in; i++) {
                double p = (double)x[s * in + i] * w[u * in + i];
                sum += p, abs += fabs(p);
            }
            if (fabs(gy[s * units + u] - sum) > 1e-6 * (in + 2) * abs + 1e-30)
                fail_msg("y[%d][%d] = %g, exact %g", s, u, gy[s * units + u], sum);
        }
    for (int u = 0; u < units; u++) {
        double bs = 0, babs = 0;
        for (int s = 0; s < n; s++) bs += dout[s * units + u], babs += fabs(dout[s * units + u]);
        if (fabs(gb[u] - bs) > 1e-6 * (n + 2) * babs + 1e-30) fail_msg("db[%d] = %g, exact %g", u, gb[u], bs);
        for (int i = 0; i < in; i++) {
            double sum = 0, abs = 0;
            for (int s = 0; s < n; s++) {
                double p = (double)dout[s * units + u] * x[s * in + i];
                sum += p, abs += fabs(p);
            }
            if (fabs(gw[u * in + i] - sum) > 1e-6 * (n + 2) * abs + 1e-30)
                fail_msg("dW[%d][%d] = %g, exact %g", u, i, gw[u * in + i], sum);
        }
    }
    for (int s = 0; s < n; s++)
        for (int i = 0; i < in; i++) {
            double sum = 0, abs = 0;
            for (int u = 0; u < units; u++) {
                double p = (double)dout[s * units + u] * w[u * in + i];
                sum += p, abs += fabs(p);
            }
            if (fabs(gx[s * in + i] - sum) > 1e-6 * (units + 2) * abs + 1e-30)
                fail_msg("dx[%d][%d] = %g, exact %g", s, i, gx[s * in + i], sum);
        }
}

/* Shapes that fill the kernel's 8 x 32 tiles, leave partial ones (37 and 100 inputs, 24
 * samples), leave fewer than 8 rows of a gradient's tiles (10 and 13 units: the weight
 * gradient's last rows; 13 and 21 samples: the input gradient's, through tile_partial's
 * padded copy), and fall back to OpenBLAS for some products (13 samples: the weight
 * gradient); every result within float rounding of OpenBLAS's, on each family, and the
 * two families' gradients the same bits (the same tiles); the kernels' results also
 * against the direct formulas in double. Buffers are exactly sized. */
static void test_dense_kernels_match_blas(void **state) {
    (void)state;
    static const int shapes[][3] = {{128, 784, 256}, {24, 37, 16}, {13, 20, 8}, {40, 100, 24}, {16, 16, 8},
                                    {128, 128, 10}, {21, 45, 13}, {13, 30, 10}, {96, 50, 3}};
    static const int caps[][2] = {{-1, MLA_ISA_AVX512}, {MLA_ISA_AVX2, MLA_ISA_AVX2}};
    int families = 0;
    for (int f = 0; f < 2; f++) {
        if (!use_family(caps[f][0], (mla_isa)caps[f][1])) continue;
        mla_dense_kernels_force(1);
        assert_true(mla_dense_own_kernels());
        mla_dense_kernels_force(-1);
        families++;
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
            check_dense_direct(net, x, dout, n, in, units, own);
            for (size_t i = 0; i < total; i++)
                if (fabsf(own[i] - blas[i]) > 1e-5f * (1.0f + fabsf(blas[i])))
                    fail_msg("%s, %d x %d -> %d: value %zu is %g, OpenBLAS gives %g", mla_isa_name(mla_nn_kernels()), n,
                             in, units, i, own[i], blas[i]);
            if (f == 0) { /* the AVX2 family: the same gradients, bit for bit (the same tiles);
                           * its forward sums as dot products, so y only within rounding */
                float *own2 = malloc(total * sizeof(float));
                if (use_family(MLA_ISA_AVX2, MLA_ISA_AVX2)) {
                    dense_pass(net, x, dout, n, units, 1, own2);
                    size_t ny = (size_t)n * units;
                    for (size_t i = 0; i < ny; i++)
                        if (fabsf(own2[i] - own[i]) > 1e-5f * (1.0f + fabsf(own[i])))
                            fail_msg("avx2 forward: y[%zu] is %g, avx512 gives %g", i, own2[i], own[i]);
                    assert_memory_equal(own + ny, own2 + ny, (total - ny) * sizeof(float));
                }
                mla_isa_force(caps[f][0]);
                free(own2);
            }
            mla_net_free(net);
            free(x), free(dout), free(blas), free(own);
        }
        mla_isa_force(-1);
    }
    if (!families) skip(); /* no own kernels on this CPU: both passes would run OpenBLAS */
}

/* A conv net's forward and backward (im2col products, the transposed weight gradient of
 * a 32-filter conv, the input gradient, and a conv whose kernel covers its 6x6 input,
 * run as dense over the batch of 16 on the family's dense kernels) on each family
 * against the portable path (OpenBLAS), within float rounding. */
static void test_conv_kernels_match_blas(void **state) {
    (void)state;
    const char *spec = "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"pad\": 1},"
                       "{\"type\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3, \"stride\": 2},"
                       "{\"type\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 6},"
                       "{\"type\": \"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]}";
    enum { N = 16, C = 8, H = 13 };
    mla_net *net;
    if (mla_net_create(spec, (mla_shape){C, H, H}, 10, 3, &net)) fail_msg("%s", mla_last_error());
    size_t nx = (size_t)N * C * H * H, np = mla_net_trainable_count(net);
    float *x = malloc(nx * sizeof(float)), *dout = malloc(N * 10 * sizeof(float));
    float *ref = malloc((N * 10 + np + nx) * sizeof(float)), *got = malloc((N * 10 + np + nx) * sizeof(float));
    mla_rng rng;
    mla_rng_seed(&rng, 9);
    for (size_t i = 0; i < nx; i++) x[i] = (float)mla_rng_normal(&rng);
    for (int i = 0; i < N * 10; i++) dout[i] = (float)mla_rng_normal(&rng);
    mla_isa_force(MLA_ISA_PORTABLE);
    dense_pass(net, x, dout, N, 10, -1, ref);
    static const int caps[][2] = {{-1, MLA_ISA_AVX512}, {MLA_ISA_AVX2, MLA_ISA_AVX2}};
    for (int f = 0; f < 2; f++) {
        if (!use_family(caps[f][0], (mla_isa)caps[f][1])) continue;
        dense_pass(net, x, dout, N, 10, -1, got);
        for (size_t i = 0; i < N * 10 + np + nx; i++)
            if (fabsf(got[i] - ref[i]) > 1e-5f * (1.0f + fabsf(ref[i])))
                fail_msg("%s: value %zu is %g, portable gives %g", mla_isa_name(mla_nn_kernels()), i, got[i], ref[i]);
    }
    mla_isa_force(-1);
    mla_net_free(net);
    free(x), free(dout), free(ref), free(got);
}

/* Stride-1 convs (3x3 "same" with a fused relu, 5x5 "same", 3x3 valid, two 3x3 "same" on
 * 21 x 26 planes) whose forward runs
 * as an implicit GEMM on the AVX2 family and as im2col products on the AVX-512 one: the
 * same bits (the tiles' contract); the backward within float rounding of each other and
 * of the portable path. */
static void test_conv_implicit_families(void **state) {
    (void)state;
    static const char *const specs[] = {
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\"},"
        "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]}",
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 24, \"kernel\": 5, \"pad\": 2},"
        "{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"bias\": false},"
        "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]}",
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1, \"bias\": false},"
        "{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1},"
        "{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]}"};
    /* the last: 546 positions, the weight gradients as AVX2 dot products */
    static const mla_shape shapes[] = {{8, 11, 13}, {8, 11, 13}, {8, 21, 26}};
    enum { N = 5 };
    if (!use_family(MLA_ISA_AVX2, MLA_ISA_AVX2)) skip();
    mla_isa_force(-1);
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        mla_net *net;
        if (mla_net_create(specs[k], shapes[k], 10, 4, &net)) fail_msg("%s", mla_last_error());
        size_t nx = (size_t)N * mla_shape_size(shapes[k]), np = mla_net_trainable_count(net), total = N * 10 + np + nx;
        float *x = malloc(nx * sizeof(float)), *dout = malloc(N * 10 * sizeof(float));
        float *ref = malloc(total * sizeof(float)), *got = malloc(total * sizeof(float));
        float *y2 = malloc(nx * 24 * sizeof(float));
        mla_rng rng;
        mla_rng_seed(&rng, 21 + k);
        for (size_t i = 0; i < nx; i++) x[i] = (float)mla_rng_normal(&rng);
        for (int i = 0; i < N * 10; i++) dout[i] = (float)mla_rng_normal(&rng);
        mla_isa_force(MLA_ISA_PORTABLE);
        dense_pass(net, x, dout, N, 10, -1, ref);
        assert_true(use_family(MLA_ISA_AVX2, MLA_ISA_AVX2));
        dense_pass(net, x, dout, N, 10, -1, got);
        for (size_t i = 0; i < total; i++)
            if (fabsf(got[i] - ref[i]) > 1e-5f * (1.0f + fabsf(ref[i])))
                fail_msg("spec %zu, avx2: value %zu is %g, portable gives %g", k, i, got[i], ref[i]);
        /* the first conv's output, AVX2 (implicit) against AVX-512 (im2col): same bits */
        const float *y;
        mla_shape shape;
        int n;
        assert_int_equal(mla_net_activation(net, mla_net_layer_name(net, 0), &y, &shape, &n), MLA_OK);
        size_t first = (size_t)n * mla_shape_size(shape);
        memcpy(y2, y, first * sizeof(float));
        if (use_family(-1, MLA_ISA_AVX512)) {
            dense_pass(net, x, dout, N, 10, -1, got);
            assert_int_equal(mla_net_activation(net, mla_net_layer_name(net, 0), &y, &shape, &n), MLA_OK);
            assert_memory_equal(y2, y, first * sizeof(float));
        }
        mla_isa_force(-1);
        mla_net_free(net);
        free(x), free(dout), free(ref), free(got), free(y2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf),
        cmocka_unit_test(test_stream_copy),
        cmocka_unit_test(test_im2col_col2im),
        cmocka_unit_test(test_gemm_tile_families),
        cmocka_unit_test(test_dense_forward_avx2),
        cmocka_unit_test(test_dense_relu_fused),
        cmocka_unit_test(test_dense_kernels_match_blas),
        cmocka_unit_test(test_conv_kernels_match_blas),
        cmocka_unit_test(test_conv_implicit_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
