/* Net-level behaviour: per-sample gradients, chaining two nets, activations by name,
 * freezing, the flat vector, reproducibility, model files and spec errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "mlaudit/core.h"
#include "mlaudit/nn.h"

static const char small_cnn[] =
    "{\"name\": \"small\", \"layers\": [{\"type\": \"conv2d\", \"name\": \"conv\", \"filters\": 4, \"kernel\": 3},"
    " {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"flatten\", \"name\": \"features\"},"
    " {\"type\": \"dense\", \"units\": \"classes\"}]}";

static const mla_shape in_shape = {1, 8, 8};

static void random_fill(float *x, size_t n, uint64_t seed) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)mla_rng_uniform(&r);
}

static mla_net *make(const char *spec, uint64_t seed) {
    mla_net *net;
    if (mla_net_create(spec, in_shape, 3, seed, &net)) fail_msg("%s", mla_last_error());
    return net;
}

static void test_per_sample_norms_match_single_sample_passes(void **state) {
    (void)state;
    mla_net *net = make(small_cnn, 1);
    enum { N = 5 };
    float x[N * 64], dlogits[N * 3], norms[N];
    int32_t y[N] = {0, 1, 2, 1, 0};
    random_fill(x, sizeof x / sizeof *x, 2);
    const float *out;
    assert_int_equal(mla_net_forward(net, x, N, false, &out), MLA_OK);
    /* Sum (not mean) of per-sample losses, so each row is that sample's own gradient. */
    mla_loss_softmax_ce(out, N, 3, y, NULL, dlogits, NULL);
    for (int i = 0; i < N * 3; i++) dlogits[i] *= N;
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_per_sample_grad_norms(net, dlogits, norms), MLA_OK);
    /* The gradient buffer is left as it was (zero). */
    for (size_t k = 0; k < mla_net_trainable_count(net); k++) assert_true(mla_net_grads(net)[k] == 0.0f);
    for (int i = 0; i < N; i++) {
        float d[3];
        assert_int_equal(mla_net_forward(net, x + i * 64, 1, false, &out), MLA_OK);
        mla_loss_softmax_ce(out, 1, 3, &y[i], NULL, d, NULL);
        mla_net_zero_grads(net);
        assert_int_equal(mla_net_backward(net, d, NULL), MLA_OK);
        double sq = 0;
        for (size_t k = 0; k < mla_net_trainable_count(net); k++) sq += (double)mla_net_grads(net)[k] * mla_net_grads(net)[k];
        assert_float_equal(norms[i], sqrt(sq), 1e-4 * sqrt(sq) + 1e-7);
    }
    mla_net_free(net);
}

static void test_per_sample_refused_after_training_batchnorm(void **state) {
    (void)state;
    mla_net *net = make("{\"layers\": [{\"type\": \"batchnorm\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}", 1);
    float x[2 * 64], d[6] = {0}, norms[2];
    random_fill(x, 128, 3);
    const float *out;
    assert_int_equal(mla_net_forward(net, x, 2, true, &out), MLA_OK);
    assert_int_equal(mla_net_per_sample_grad_norms(net, d, norms), MLA_ERR_UNSUPPORTED);
    assert_non_null(strstr(mla_last_error(), "batch norm"));
    assert_int_equal(mla_net_forward(net, x, 2, false, &out), MLA_OK);
    assert_int_equal(mla_net_per_sample_grad_norms(net, d, norms), MLA_OK);
    mla_net_free(net);
}

/* Generator (3 -> 1x8x8) into a frozen discriminator: G's gradients through D match
 * finite differences of D(G(z)). */
static void test_chained_nets_pass_gradients(void **state) {
    (void)state;
    mla_net *g, *d;
    const char *gspec = "{\"layers\": [{\"type\": \"dense\", \"units\": 64}, {\"type\": \"tanh\"},"
                        " {\"type\": \"reshape\", \"shape\": [1, 8, 8]}]}";
    assert_int_equal(mla_net_create(gspec, (mla_shape){3, 1, 1}, 1, 4, &g), MLA_OK);
    /* A smooth discriminator (tanh, average pooling) so finite differences are exact enough. */
    d = make("{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3}, {\"type\": \"tanh\"},"
             " {\"type\": \"avgpool\", \"kernel\": 2}, {\"type\": \"dense\", \"units\": \"classes\"}]}",
             5);
    mla_net_set_frozen(d, true);
    float z[2 * 3];
    random_fill(z, 6, 6);
    float r[2 * 3] = {0.3f, -1.0f, 0.5f, 1.2f, 0.1f, -0.4f}, dgen[2 * 64];
    const float *fake, *score;
    assert_int_equal(mla_net_forward(g, z, 2, true, &fake), MLA_OK);
    assert_int_equal(mla_net_forward(d, fake, 2, true, &score), MLA_OK);
    mla_net_zero_grads(d);
    mla_net_zero_grads(g);
    assert_int_equal(mla_net_backward(d, r, dgen), MLA_OK);
    for (size_t k = 0; k < mla_net_trainable_count(d); k++) assert_true(mla_net_grads(d)[k] == 0.0f); /* frozen */
    assert_int_equal(mla_net_backward(g, dgen, NULL), MLA_OK);
    float *p = mla_net_params(g);
    for (size_t k = 0; k < mla_net_trainable_count(g); k += 17) {
        double f[2];
        float keep = p[k];
        for (int s = 0; s < 2; s++) {
            p[k] = keep + (s ? -1e-2f : 1e-2f);
            mla_net_forward(g, z, 2, true, &fake);
            mla_net_forward(d, fake, 2, true, &score);
            f[s] = 0;
            for (int i = 0; i < 6; i++) f[s] += (double)score[i] * r[i];
        }
        p[k] = keep;
        double num = (f[0] - f[1]) / 2e-2;
        if (fabs(num - mla_net_grads(g)[k]) > 2e-3 + 2e-2 * fabs(num)) fail_msg("param %zu: analytic %g numeric %g", k, mla_net_grads(g)[k], num);
    }
    mla_net_free(g);
    mla_net_free(d);
}

/* Without dx the backward stops at the first layer with parameters; the parameter
 * gradients must be those of a pass that carried the input gradient all the way. */
static void assert_grads_same_without_dx(const char *spec) {
    mla_net *net = make(spec, 9);
    enum { N = 3 };
    size_t in_size = (size_t)mla_shape_size(in_shape), k = (size_t)mla_net_classes(net);
    float x[N * 64], dout[N * 3], dx[N * 64];
    assert_true(in_size == 64 && k == 3);
    random_fill(x, N * in_size, 1);
    random_fill(dout, N * k, 2);
    size_t count = mla_net_trainable_count(net);
    float *with_dx = malloc(count * sizeof(float));
    const float *out;
    assert_int_equal(mla_net_forward(net, x, N, true, &out), MLA_OK);
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_backward(net, dout, dx), MLA_OK);
    memcpy(with_dx, mla_net_grads(net), count * sizeof(float));
    assert_int_equal(mla_net_forward(net, x, N, true, &out), MLA_OK);
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_backward(net, dout, NULL), MLA_OK);
    assert_memory_equal(with_dx, mla_net_grads(net), count * sizeof(float));
    free(with_dx);
    mla_net_free(net);
}

static void test_backward_without_dx_keeps_param_grads(void **state) {
    (void)state;
    /* Parameter-free layers first (the mlp's shape), then a residual block first. */
    assert_grads_same_without_dx("{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0},"
                                 " {\"type\": \"dense\", \"units\": 16}, {\"type\": \"relu\"},"
                                 " {\"type\": \"dense\", \"units\": \"classes\"}]}");
    assert_grads_same_without_dx("{\"layers\": [{\"type\": \"relu\"}, {\"type\": \"residual\", \"body\": ["
                                 "{\"type\": \"conv2d\", \"filters\": 1, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\"}],"
                                 " \"shortcut\": []}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}");
}

static void test_activations_by_name(void **state) {
    (void)state;
    mla_net *net = make(small_cnn, 1);
    float x[2 * 64];
    random_fill(x, 128, 7);
    const float *out, *act;
    mla_shape shape;
    int n;
    assert_int_equal(mla_net_activation(net, "conv", &act, &shape, &n), MLA_ERR_INVALID); /* no forward yet */
    assert_int_equal(mla_net_forward(net, x, 2, false, &out), MLA_OK);
    assert_int_equal(mla_net_activation(net, "features", &act, &shape, &n), MLA_OK);
    assert_int_equal(shape.c, 36);
    assert_int_equal(n, 2);
    assert_int_equal(mla_net_activation(net, "conv", &act, &shape, &n), MLA_OK);
    assert_int_equal(shape.c, 4);
    assert_int_equal(shape.h, 6);
    assert_int_equal(mla_net_activation(net, "1", &act, &shape, &n), MLA_OK); /* unnamed: by position */
    assert_true(act[0] >= 0);
    assert_int_equal(mla_net_activation(net, "nope", &act, &shape, &n), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "nope"));
    mla_net_free(net);
}

/* Backward passes of a and b from the same output gradient give the same input and
 * parameter gradients, bit for bit. */
static void assert_same_backward(mla_net *a, mla_net *b, const float *dout, size_t in_floats) {
    float *dxa = malloc(in_floats * sizeof(float)), *dxb = malloc(in_floats * sizeof(float));
    mla_net_zero_grads(a);
    mla_net_zero_grads(b);
    assert_int_equal(mla_net_backward(a, dout, dxa), MLA_OK);
    assert_int_equal(mla_net_backward(b, dout, dxb), MLA_OK);
    assert_memory_equal(dxa, dxb, in_floats * sizeof(float));
    assert_memory_equal(mla_net_grads(a), mla_net_grads(b), sizeof(float) * mla_net_trainable_count(a));
    free(dxa);
    free(dxb);
}

/* A fused net and the same net with reshapes that prevent the fusion must agree to the
 * bit: outputs, the named layers' activations, input and parameter gradients. Inputs
 * have both signs, so the relus pass some values and stop others. */
static void assert_fused_matches_plain(const char *fused, const char *plain, const char *const *names, int n_names,
                                       uint64_t seed) {
    mla_net *a = make(fused, 4), *b = make(plain, 4);
    assert_int_equal(mla_net_param_count(a), mla_net_param_count(b));
    assert_int_equal(mla_net_copy_params(b, a), MLA_OK);
    enum { N = 5 };
    float x[N * 64], dout[N * 3];
    random_fill(x, N * 64, seed);
    random_fill(dout, N * 3, seed + 1);
    for (int i = 0; i < N * 64; i++) x[i] -= 0.5f;
    const float *oa, *ob;
    assert_int_equal(mla_net_forward(a, x, N, true, &oa), MLA_OK);
    assert_int_equal(mla_net_forward(b, x, N, true, &ob), MLA_OK);
    assert_memory_equal(oa, ob, sizeof(float) * N * 3);
    for (int k = 0; k < n_names; k++) {
        const float *aa, *ab;
        mla_shape sa, sb;
        int na, nb;
        assert_int_equal(mla_net_activation(a, names[k], &aa, &sa, &na), MLA_OK);
        assert_int_equal(mla_net_activation(b, names[k], &ab, &sb, &nb), MLA_OK);
        assert_int_equal(mla_shape_size(sa), mla_shape_size(sb));
        assert_memory_equal(aa, ab, sizeof(float) * N * mla_shape_size(sa));
    }
    assert_same_backward(a, b, dout, N * 64);
    mla_net_free(a);
    mla_net_free(b);
}

/* A conv whose kernel covers its whole unpadded input runs as a dense layer over the
 * batch: the same bits as flatten -> dense with the same weights (the conv's [out][in][k][k]
 * is the dense's [out][in]), outputs, activations, input and parameter gradients, with
 * and without the fused relu after it, in a batch of 5 (OpenBLAS) and 16 (where the
 * CPU has them, the engine's kernels: dense's choice, see ops_dense.c). */
static void test_conv_as_dense_matches_dense(void **state) {
    (void)state;
    static const char *const conv[] = {
        "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 16, \"kernel\": 8}, "
        "{\"type\": \"relu\", \"name\": \"r1\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}",
        "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 16, \"kernel\": 8, \"stride\": 2, "
        "\"bias\": false}, {\"type\": \"tanh\", \"name\": \"r1\"}, {\"type\": \"flatten\"}, "
        "{\"type\": \"dense\", \"units\": 3}]}"};
    static const char *const dense[] = {
        "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"name\": \"c1\", \"units\": 16}, "
        "{\"type\": \"relu\", \"name\": \"r1\"}, {\"type\": \"dense\", \"units\": 3}]}",
        "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"name\": \"c1\", \"units\": 16, "
        "\"bias\": false}, {\"type\": \"tanh\", \"name\": \"r1\"}, {\"type\": \"dense\", \"units\": 3}]}"};
    static const char *const names[] = {"c1", "r1"};
    enum { MAXN = 16 };
    static const int batches[] = {5, MAXN};
    for (int v = 0; v < 2; v++)
        for (int bi = 0; bi < 2; bi++) {
            int n = batches[bi];
            mla_net *a = make(conv[v], 4), *b = make(dense[v], 4);
            assert_int_equal(mla_net_param_count(a), mla_net_param_count(b));
            assert_int_equal(mla_net_copy_params(b, a), MLA_OK);
            float x[MAXN * 64], dout[MAXN * 3];
            random_fill(x, (size_t)n * 64, 70 + v);
            random_fill(dout, (size_t)n * 3, 80 + v);
            for (int i = 0; i < n * 64; i++) x[i] -= 0.5f;
            const float *oa, *ob;
            assert_int_equal(mla_net_forward(a, x, n, true, &oa), MLA_OK);
            assert_int_equal(mla_net_forward(b, x, n, true, &ob), MLA_OK);
            assert_memory_equal(oa, ob, sizeof(float) * n * 3);
            for (int k = 0; k < 2; k++) {
                const float *aa, *ab;
                mla_shape sa, sb;
                int na, nb;
                assert_int_equal(mla_net_activation(a, names[k], &aa, &sa, &na), MLA_OK);
                assert_int_equal(mla_net_activation(b, names[k], &ab, &sb, &nb), MLA_OK);
                assert_int_equal(mla_shape_size(sa), 16);
                assert_int_equal(mla_shape_size(sb), 16);
                assert_memory_equal(aa, ab, sizeof(float) * n * 16);
            }
            assert_same_backward(a, b, dout, (size_t)n * 64);
            mla_net_free(a);
            mla_net_free(b);
        }
}

/* conv2d -> relu runs fused (the conv writes the relu's output and takes over its
 * backward); reshapes between them prevent the fusion. */
static void test_fused_conv_relu_matches_unfused(void **state) {
    (void)state;
    const char *fused = "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 4, \"kernel\": 3, "
                        "\"pad\": 1}, {\"type\": \"relu\", \"name\": \"r1\"}, {\"type\": \"conv2d\", \"filters\": 3, "
                        "\"kernel\": 3, \"stride\": 2}, {\"type\": \"relu\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    const char *plain = "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 4, \"kernel\": 3, "
                        "\"pad\": 1}, {\"type\": \"reshape\", \"shape\": [4, 8, 8]}, {\"type\": \"relu\", \"name\": "
                        "\"r1\"}, {\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"stride\": 2}, {\"type\": "
                        "\"reshape\", \"shape\": [3, 3, 3]}, {\"type\": \"relu\"}, {\"type\": \"dense\", \"units\": "
                        "\"classes\"}]}";
    static const char *const names[] = {"c1", "r1"};
    assert_fused_matches_plain(fused, plain, names, 2, 3);
}

/* batchnorm -> relu runs fused (the batchnorm writes the relu's output in its pass and
 * takes the relu's backward into its own), in training (batch statistics, which the
 * conv before it gathers) and in evaluation; a reshape between them prevents the fusion. */
static void test_fused_bn_relu_matches_unfused(void **state) {
    (void)state;
    const char *fused = "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 4, \"kernel\": 3, "
                        "\"pad\": 1}, {\"type\": \"batchnorm\", \"name\": \"b1\"}, {\"type\": \"relu\", \"name\": "
                        "\"r1\"}, {\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"stride\": 2}, {\"type\": "
                        "\"batchnorm\"}, {\"type\": \"relu\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    const char *plain = "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 4, \"kernel\": 3, "
                        "\"pad\": 1}, {\"type\": \"batchnorm\", \"name\": \"b1\"}, {\"type\": \"reshape\", \"shape\": "
                        "[4, 8, 8]}, {\"type\": \"relu\", \"name\": \"r1\"}, {\"type\": \"conv2d\", \"filters\": 3, "
                        "\"kernel\": 3, \"stride\": 2}, {\"type\": \"batchnorm\"}, {\"type\": \"reshape\", \"shape\": "
                        "[3, 3, 3]}, {\"type\": \"relu\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    static const char *const names[] = {"c1", "b1", "r1"};
    assert_fused_matches_plain(fused, plain, names, 3, 5);
    /* Evaluation mode (running statistics), after the training forward above updated them. */
    mla_net *a = make(fused, 4), *b = make(plain, 4);
    assert_int_equal(mla_net_copy_params(b, a), MLA_OK);
    enum { N = 5 };
    float x[N * 64], dout[N * 3];
    random_fill(x, N * 64, 7);
    random_fill(dout, N * 3, 8);
    for (int i = 0; i < N * 64; i++) x[i] -= 0.5f;
    const float *oa, *ob;
    assert_int_equal(mla_net_forward(a, x, N, true, &oa), MLA_OK);
    assert_int_equal(mla_net_forward(b, x, N, true, &ob), MLA_OK);
    assert_int_equal(mla_net_forward(a, x, N, false, &oa), MLA_OK);
    assert_int_equal(mla_net_forward(b, x, N, false, &ob), MLA_OK);
    assert_memory_equal(oa, ob, sizeof(float) * N * 3);
    assert_same_backward(a, b, dout, N * 64);
    mla_net_free(a);
    mla_net_free(b);
}

/* residual -> relu runs fused (the block writes the relu's output as it adds its
 * branches and takes the relu's backward into its own), in a ResNet basic block with a
 * projection shortcut and one with the identity; a reshape between them prevents it. */
static void test_fused_residual_relu_matches_unfused(void **state) {
    (void)state;
#define BLOCKS(SEP1, SEP2)                                                                                            \
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1}, {\"type\": \"batchnorm\"}, "         \
    "{\"type\": \"relu\"}, {\"type\": \"residual\", \"name\": \"res1\", \"body\": [{\"type\": \"conv2d\", \"filters\": 4, " \
    "\"kernel\": 3, \"pad\": 1, \"bias\": false}, {\"type\": \"batchnorm\"}]}, " SEP1 "{\"type\": \"relu\", \"name\": "     \
    "\"r1\"}, {\"type\": \"residual\", \"name\": \"res2\", \"body\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, " \
    "\"stride\": 2, \"pad\": 1, \"bias\": false}, {\"type\": \"batchnorm\"}], \"shortcut\": [{\"type\": \"conv2d\", "      \
    "\"filters\": 6, \"kernel\": 1, \"stride\": 2, \"bias\": false}, {\"type\": \"batchnorm\"}]}, " SEP2 "{\"type\": "       \
    "\"relu\", \"name\": \"r2\"}, {\"type\": \"gap\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}"
    const char *fused = BLOCKS("", "");
    const char *plain = BLOCKS("{\"type\": \"reshape\", \"shape\": [4, 8, 8]}, ", "{\"type\": \"reshape\", \"shape\": [6, 4, 4]}, ");
#undef BLOCKS
    static const char *const names[] = {"res1", "r1", "res2", "r2"};
    assert_fused_matches_plain(fused, plain, names, 4, 9);
}

/* conv2d -> relu -> maxpool runs fused (the conv pools each sample while it is in cache
 * and routes the pool's gradient straight to its own), with a 2x2 pool and with
 * overlapping 3x3 windows; reshapes after the relus prevent the fusion. */
static void test_fused_conv_relu_pool_matches_unfused(void **state) {
    (void)state;
    const char *fused = "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 4, \"kernel\": 3, "
                        "\"pad\": 1}, {\"type\": \"relu\", \"name\": \"r1\"}, {\"type\": \"maxpool\", \"name\": \"p1\", "
                        "\"kernel\": 2}, {\"type\": \"conv2d\", \"name\": \"c2\", \"filters\": 3, \"kernel\": 3, "
                        "\"pad\": 1}, {\"type\": \"relu\", \"name\": \"r2\"}, {\"type\": \"maxpool\", \"name\": \"p2\", "
                        "\"kernel\": 3, \"stride\": 1}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    const char *plain = "{\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 4, \"kernel\": 3, "
                        "\"pad\": 1}, {\"type\": \"relu\", \"name\": \"r1\"}, {\"type\": \"reshape\", \"shape\": [4, 8, 8]}, "
                        "{\"type\": \"maxpool\", \"name\": \"p1\", \"kernel\": 2}, {\"type\": \"conv2d\", \"name\": \"c2\", "
                        "\"filters\": 3, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\", \"name\": \"r2\"}, {\"type\": "
                        "\"reshape\", \"shape\": [3, 4, 4]}, {\"type\": \"maxpool\", \"name\": \"p2\", \"kernel\": 3, "
                        "\"stride\": 1}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    static const char *const names[] = {"c1", "r1", "p1", "c2", "r2", "p2"};
    assert_fused_matches_plain(fused, plain, names, 6, 7);
    /* Without keep-activations the fused conv skips its own and the relu's outputs: the
     * pass is the same to the bit, those two layers' activations are refused, and they
     * come back once a forward runs with it on again. */
    mla_net *a = make(fused, 4), *b = make(plain, 4);
    assert_int_equal(mla_net_copy_params(b, a), MLA_OK);
    mla_net_set_keep_activations(a, false);
    assert_false(mla_net_keep_activations(a));
    enum { N = 4 };
    float x[N * 64], dout[N * 3];
    random_fill(x, N * 64, 11);
    random_fill(dout, N * 3, 12);
    for (int i = 0; i < N * 64; i++) x[i] -= 0.5f;
    const float *oa, *ob, *act;
    mla_shape shape;
    int n;
    assert_int_equal(mla_net_forward(a, x, N, true, &oa), MLA_OK);
    assert_int_equal(mla_net_forward(b, x, N, true, &ob), MLA_OK);
    assert_memory_equal(oa, ob, sizeof(float) * N * 3);
    assert_int_equal(mla_net_activation(a, "c1", &act, &shape, &n), MLA_ERR_INVALID);
    assert_int_equal(mla_net_activation(a, "r2", &act, &shape, &n), MLA_ERR_INVALID);
    assert_int_equal(mla_net_activation(a, "p1", &act, &shape, &n), MLA_OK);
    assert_same_backward(a, b, dout, N * 64);
    mla_net_set_keep_activations(a, true);
    assert_int_equal(mla_net_forward(a, x, N, true, &oa), MLA_OK);
    assert_int_equal(mla_net_activation(a, "c1", &act, &shape, &n), MLA_OK);
    mla_net_free(a);
    mla_net_free(b);
}

/* 2x2 max pooling against a naive loop: ties everywhere (values from {0, 1, 2}), odd
 * sizes (the last row and column belong to no window) and rows wider than 16 outputs.
 * The first maximum in row-major window order wins, as in PyTorch; the backward puts
 * each gradient on that element and zero everywhere else. */
static void test_maxpool_2x2_matches_naive_loop(void **state) {
    (void)state;
    enum { N = 2, C = 3, H = 7, W = 37, OH = H / 2, OW = W / 2, IN = C * H * W, OUT = C * OH * OW };
    mla_net *net;
    if (mla_net_create("{\"layers\": [{\"type\": \"maxpool\", \"kernel\": 2}]}", (mla_shape){C, H, W}, 2, 1, &net))
        fail_msg("%s", mla_last_error());
    static float x[N * IN], dout[N * OUT], dx[N * IN], want_dx[N * IN];
    mla_rng r;
    mla_rng_seed(&r, 11);
    for (int i = 0; i < N * IN; i++) x[i] = (float)mla_rng_below(&r, 3);
    random_fill(dout, N * OUT, 12);
    const float *y;
    assert_int_equal(mla_net_forward(net, x, N, true, &y), MLA_OK);
    memset(want_dx, 0, sizeof want_dx);
    for (int p = 0; p < N * C; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int best = p * H * W + 2 * oy * W + 2 * ox;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) {
                        int q = p * H * W + (2 * oy + i) * W + 2 * ox + j;
                        if (x[q] > x[best]) best = q;
                    }
                int o = p * OH * OW + oy * OW + ox;
                assert_true(y[o] == x[best]);
                want_dx[best] = dout[o];
            }
    assert_int_equal(mla_net_backward(net, dout, dx), MLA_OK);
    assert_memory_equal(dx, want_dx, sizeof dx);
    mla_net_free(net);
}

/* Per-thread scratch is sized at the first pass; raising the thread count afterwards must
 * resize it (ASan catches an overrun) and give what a net sized for that count gives. */
static void test_thread_count_change_after_first_pass(void **state) {
    (void)state;
    mla_net *a = make(small_cnn, 9), *b = make(small_cnn, 9);
    enum { N = 6 };
    float x[N * 64], dout[N * 3];
    random_fill(x, N * 64, 5);
    random_fill(dout, N * 3, 6);
    const float *oa, *ob;
    mla_set_threads(1);
    assert_int_equal(mla_net_forward(a, x, N, true, &oa), MLA_OK);
    mla_set_threads(2);
    assert_int_equal(mla_net_forward(a, x, N, true, &oa), MLA_OK);
    assert_int_equal(mla_net_forward(b, x, N, true, &ob), MLA_OK);
    assert_memory_equal(oa, ob, sizeof(float) * N * 3);
    assert_same_backward(a, b, dout, N * 64);
    mla_set_threads(2); /* what main() set */
    mla_net_free(a);
    mla_net_free(b);
}

/* A net run inside another parallel region (say, clients trained side by side) gets a team
 * of one in its own regions: its gradients must equal a one-thread run's, with no stale
 * per-thread scratch from an earlier top-level pass mixed in. */
static void one_pass(mla_net *net, const float *x, const float *dout, int n) {
    const float *out;
    assert_int_equal(mla_net_forward(net, x, n, true, &out), MLA_OK);
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_backward(net, dout, NULL), MLA_OK);
}

static void test_net_inside_a_parallel_region(void **state) {
    (void)state;
    enum { N = 6 };
    float x[N * 64], dout[N * 3];
    random_fill(x, N * 64, 8);
    random_fill(dout, N * 3, 9);
    mla_set_threads(1);
    mla_net *ref = make(small_cnn, 2);
    one_pass(ref, x, dout, N);
    mla_set_threads(2);
    mla_net *nets[2] = {make(small_cnn, 2), make(small_cnn, 2)};
    for (int t = 0; t < 2; t++) one_pass(nets[t], x, dout, N); /* top level: both threads' scratch in use */
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int t = 0; t < 2; t++) one_pass(nets[t], x, dout, N); /* two nets side by side */
    for (int t = 0; t < 2; t++) {
        assert_memory_equal(mla_net_grads(nets[t]), mla_net_grads(ref), sizeof(float) * mla_net_trainable_count(ref));
        mla_net_free(nets[t]);
    }
    mla_net_free(ref);
}

/* Two nets trained the same way from the same seed end with the same bits; the
 * flat vector copies, averages and compares in one call. */
static void train_steps(mla_net *net, int steps) {
    mla_opt_config c = mla_opt_defaults(MLA_OPT_ADAM);
    mla_optimizer *o;
    assert_int_equal(mla_optimizer_create(&c, net, &o), MLA_OK);
    float x[8 * 64], d[8 * 3];
    int32_t y[8] = {0, 1, 2, 0, 1, 2, 0, 1};
    for (int s = 0; s < steps; s++) {
        random_fill(x, sizeof x / sizeof *x, 100 + s);
        const float *out;
        mla_net_forward(net, x, 8, true, &out);
        mla_loss_softmax_ce(out, 8, 3, y, NULL, d, NULL);
        mla_net_zero_grads(net);
        mla_net_backward(net, d, NULL);
        mla_optimizer_step(o, net);
    }
    mla_optimizer_free(o);
}

static void test_reproducible_bits_and_flat_vector(void **state) {
    (void)state;
    mla_net *a = make(small_cnn, 42), *b = make(small_cnn, 42), *c = make(small_cnn, 43);
    size_t n = mla_net_param_count(a);
    assert_memory_equal(mla_net_params(a), mla_net_params(b), n * sizeof(float));
    assert_memory_not_equal(mla_net_params(a), mla_net_params(c), n * sizeof(float));
    train_steps(a, 5);
    train_steps(b, 5);
    assert_memory_equal(mla_net_params(a), mla_net_params(b), n * sizeof(float));
    assert_int_equal(mla_net_copy_params(c, a), MLA_OK);
    assert_memory_equal(mla_net_params(a), mla_net_params(c), n * sizeof(float));
    mla_net *other;
    assert_int_equal(mla_net_create(mla_preset_spec("mlp"), in_shape, 3, 0, &other), MLA_OK);
    assert_int_equal(mla_net_copy_params(other, a), MLA_ERR_SHAPE);
    /* A frozen net does not move. */
    mla_net_set_frozen(c, true);
    train_steps(c, 2);
    assert_memory_equal(mla_net_params(a), mla_net_params(c), n * sizeof(float));
    mla_net_free(a);
    mla_net_free(b);
    mla_net_free(c);
    mla_net_free(other);
}

static void tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "/tmp/mla_test_net_%d_%s", (int)getpid(), name);
}

static void test_save_load_round_trip(void **state) {
    (void)state;
    const char *spec = "{\"name\": \"bn\", \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3},"
                       " {\"type\": \"batchnorm\"}, {\"type\": \"relu\"}, {\"type\": \"gap\"},"
                       " {\"type\": \"dense\", \"units\": \"classes\"}]}";
    mla_net *net = make(spec, 3);
    train_steps(net, 3);
    char path[256];
    tmp_path(path, sizeof path, "model.safetensors");
    mla_meta meta[] = {{"dataset", "unit-test"}};
    assert_int_equal(mla_net_save(net, path, meta, 1), MLA_OK);
    mla_net *back;
    char *dataset;
    assert_int_equal(mla_net_load(path, &back, "dataset", &dataset), MLA_OK);
    assert_string_equal(dataset, "unit-test");
    free(dataset);
    assert_string_equal(mla_net_name(back), "bn");
    assert_int_equal(mla_net_param_count(back), mla_net_param_count(net));
    assert_memory_equal(mla_net_params(back), mla_net_params(net), mla_net_param_count(net) * sizeof(float));
    float x[2 * 64];
    random_fill(x, 128, 9);
    const float *o1, *o2;
    float keep[6];
    mla_net_forward(net, x, 2, false, &o1);
    memcpy(keep, o1, sizeof keep);
    mla_net_forward(back, x, 2, false, &o2);
    assert_memory_equal(keep, o2, sizeof keep);
    unlink(path);
    mla_net_free(net);
    mla_net_free(back);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_bad_model_files_refused(void **state) {
    (void)state;
    char path[256], other[256];
    tmp_path(path, sizeof path, "bad.safetensors");
    tmp_path(other, sizeof other, "other.safetensors");
    mla_net *net;
    /* Not a file. */
    assert_int_equal(mla_net_load("/nonexistent/model.safetensors", &net, NULL, NULL), MLA_ERR_IO);
    /* A truncated file. */
    write_bytes(path, "\x10\x00\x00", 3);
    assert_int_not_equal(mla_net_load(path, &net, NULL, NULL), MLA_OK);
    assert_non_null(strstr(mla_last_error(), path));
    /* A valid safetensors file that is not a model. */
    const char hdr[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}  ";
    unsigned char buf[8 + sizeof hdr - 1 + 4] = {0};
    buf[0] = (unsigned char)(sizeof hdr - 1);
    memcpy(buf + 8, hdr, sizeof hdr - 1);
    write_bytes(path, buf, sizeof buf);
    assert_int_equal(mla_net_load(path, &net, NULL, NULL), MLA_ERR_FORMAT);
    assert_non_null(strstr(mla_last_error(), "not an mlaudit model"));
    /* A model whose tensors do not fit its spec: save one net, swap in another's tensors. */
    mla_net *a = make(small_cnn, 1), *b = make(mla_preset_spec("mlp"), 1);
    assert_int_equal(mla_net_save(a, path, NULL, 0), MLA_OK);
    assert_int_equal(mla_net_save(b, other, NULL, 0), MLA_OK);
    mla_net *ok;
    assert_int_equal(mla_net_load(path, &ok, NULL, NULL), MLA_OK);
    mla_net_free(ok);
    /* Corrupt every byte of the spec region in turn: never a crash, always a clean status. */
    char *bytes;
    size_t size;
    assert_int_equal(mla_read_file(path, 1 << 24, &bytes, &size), MLA_OK);
    for (size_t i = 8; i < size && i < 8 + 600; i += 7) {
        char keep = bytes[i];
        bytes[i] = (char)(bytes[i] ^ 0x5a);
        write_bytes(other, bytes, size);
        mla_status s = mla_net_load(other, &ok, NULL, NULL);
        if (s == MLA_OK) mla_net_free(ok);
        else assert_true(strlen(mla_last_error()) > 0);
        bytes[i] = keep;
    }
    free(bytes);
    unlink(path);
    unlink(other);
    mla_net_free(a);
    mla_net_free(b);
}

static void expect_spec_error(const char *spec, mla_shape in, const char *needle) {
    mla_net *net = NULL;
    mla_status s = mla_net_create(spec, in, 10, 0, &net);
    if (s == MLA_OK) fail_msg("spec accepted: %s", spec);
    if (!strstr(mla_last_error(), needle)) fail_msg("error '%s' lacks '%s'", mla_last_error(), needle);
    assert_null(net);
}

static void test_bad_specs_name_the_layer(void **state) {
    (void)state;
    mla_shape img = {1, 28, 28};
    expect_spec_error("not json", img, "not valid JSON");
    expect_spec_error("{\"layers\": []}", img, "empty");
    expect_spec_error("{\"layers\": [{\"type\": \"dense\"}]}", img, "layer 0 (dense): missing \"units\"");
    expect_spec_error("{\"layers\": [{\"type\": \"warp\"}]}", img, "unknown layer type 'warp'");
    expect_spec_error("{\"layers\": [{\"type\": \"dense\", \"units\": 0}]}", img, "\"units\" must be an integer");
    expect_spec_error("{\"layers\": [{\"type\": \"conv2d\", \"filters\": 0, \"kernel\": 3}]}", img, "\"filters\"");
    expect_spec_error("{\"layers\": [{\"type\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 40}]}", img,
                      "layer 1 (conv2d): kernel 40 is larger");
    expect_spec_error("{\"layers\": [{\"type\": \"dense\", \"units\": 5, \"colour\": 1}]}", img, "unknown key \"colour\"");
    expect_spec_error("{\"layers\": [{\"type\": \"residual\", \"body\": [{\"type\": \"conv2d\", \"filters\": 4,"
                      " \"kernel\": 3, \"stride\": 2, \"pad\": 1}]}]}",
                      img, "layer 0 (residual): body gives 4x14x14 but the shortcut gives 1x28x28");
    expect_spec_error("{\"layers\": [{\"type\": \"reshape\", \"shape\": [5, 5]}]}", img, "cannot reshape");
    expect_spec_error("{\"layers\": [{\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"maxpool\", \"kernel\": 2},"
                      " {\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"maxpool\", \"kernel\": 2},"
                      " {\"type\": \"maxpool\", \"kernel\": 2}]}",
                      img, "layer 4 (maxpool)");
    expect_spec_error("{\"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3},"
                      " {\"type\": \"groupnorm\", \"groups\": 4}]}",
                      img, "layer 1 (groupnorm): 4 groups do not divide the 6 input channels");
    expect_spec_error("{\"layers\": [{\"type\": \"groupnorm\", \"groups\": 0}]}", img,
                      "layer 0 (groupnorm): \"groups\" must be an integer in [1,");
    expect_spec_error("{\"layers\": [{\"type\": \"groupnorm\"}]}", img, "layer 0 (groupnorm): missing \"groups\"");
    expect_spec_error("{\"layers\": [{\"type\": \"groupnorm\", \"groups\": 1, \"momentum\": 0.1}]}", img,
                      "unknown key \"momentum\"");
}

/* Group norm against a direct double-precision computation, for G = 1 (layer norm),
 * 2, 3 and 6 (instance norm) on 6 channels of 44 x 45: the same output in training and
 * evaluation, and the same bits (output, input and parameter gradients) on 1 and 3
 * threads. */
static void test_groupnorm_forward_matches_direct(void **state) {
    (void)state;
    enum { C = 6, H = 44, W = 45, HW = H * W, N = 3 }; /* above the size the passes go parallel at */
    static const int groups[] = {1, 2, 3, 6};
    size_t bytes = (size_t)N * C * HW * sizeof(float);
    float *x = malloc(bytes), *dy = malloc(bytes), *dx1 = malloc(bytes), *dx3 = malloc(bytes), *y1 = malloc(bytes);
    random_fill(x, N * C * HW, 71);
    random_fill(dy, N * C * HW, 72);
    for (int i = 0; i < N * C * HW; i++) x[i] = 4 * x[i] - 1 + (float)(i / HW % C); /* channel offsets */
    for (size_t k = 0; k < sizeof groups / sizeof *groups; k++) {
        char spec[128];
        snprintf(spec, sizeof spec, "{\"layers\": [{\"type\": \"groupnorm\", \"groups\": %d, \"eps\": 0.01}]}",
                 groups[k]);
        mla_net *net;
        if (mla_net_create(spec, (mla_shape){C, H, W}, 3, 0, &net)) fail_msg("%s", mla_last_error());
        float *p = mla_net_params(net), *gamma = p, *beta = p + C;
        for (int c = 0; c < C; c++) {
            assert_true(gamma[c] == 1.0f && beta[c] == 0.0f); /* PyTorch's init */
            gamma[c] = 0.5f + 0.25f * c;
            beta[c] = 0.1f * c - 0.2f;
        }
        const float *y;
        mla_set_threads(1);
        assert_int_equal(mla_net_forward(net, x, N, true, &y), MLA_OK);
        memcpy(y1, y, bytes);
        mla_net_zero_grads(net);
        assert_int_equal(mla_net_backward(net, dy, dx1), MLA_OK);
        float g1[2 * C];
        memcpy(g1, mla_net_grads(net), sizeof g1);
        int cg = C / groups[k];
        for (int s = 0; s < N; s++)
            for (int g = 0; g < groups[k]; g++) {
                const float *xs = x + ((size_t)s * C + (size_t)g * cg) * HW;
                double mu = 0, var = 0;
                for (int i = 0; i < cg * HW; i++) mu += xs[i];
                mu /= cg * HW;
                for (int i = 0; i < cg * HW; i++) var += (xs[i] - mu) * (xs[i] - mu);
                var /= cg * HW;
                for (int i = 0; i < cg * HW; i++) {
                    int c = g * cg + i / HW;
                    double want = gamma[c] * (xs[i] - mu) / sqrt(var + 0.01) + beta[c];
                    size_t at = ((size_t)s * C + (size_t)g * cg) * HW + i;
                    if (fabs(y1[at] - want) > 1e-5 * (1 + fabs(want)))
                        fail_msg("G=%d: y[%zu] %.9g, direct %.9g", groups[k], at, y1[at], want);
                }
            }
        assert_int_equal(mla_net_forward(net, x, N, false, &y), MLA_OK);
        assert_memory_equal(y, y1, bytes);
        mla_set_threads(3);
        assert_int_equal(mla_net_forward(net, x, N, true, &y), MLA_OK);
        assert_memory_equal(y, y1, bytes);
        mla_net_zero_grads(net);
        assert_int_equal(mla_net_backward(net, dy, dx3), MLA_OK);
        assert_memory_equal(dx3, dx1, bytes);
        assert_memory_equal(mla_net_grads(net), g1, sizeof g1);
        mla_set_threads(2);
        mla_net_free(net);
    }
    free(x);
    free(dy);
    free(dx1);
    free(dx3);
    free(y1);
}

static void test_presets_build_for_both_input_shapes(void **state) {
    (void)state;
    const char *const *names = mla_preset_names();
    int count = 0;
    for (int i = 0; names[i]; i++, count++) {
        mla_net *a, *b;
        if (mla_net_create(mla_preset_spec(names[i]), (mla_shape){1, 28, 28}, 10, 0, &a))
            fail_msg("%s on 1x28x28: %s", names[i], mla_last_error());
        if (mla_net_create(mla_preset_spec(names[i]), (mla_shape){3, 32, 32}, 100, 0, &b))
            fail_msg("%s on 3x32x32: %s", names[i], mla_last_error());
        assert_int_equal(mla_net_output_shape(b).c, 100);
        mla_net_free(a);
        mla_net_free(b);
    }
    assert_true(count >= 3);
    /* The mlp and cnn presets have the PyTorch peer's parameter counts. */
    mla_net *net;
    mla_net_create(mla_preset_spec("mlp"), (mla_shape){1, 28, 28}, 10, 0, &net);
    assert_int_equal(mla_net_trainable_count(net), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    mla_net_free(net);
    mla_net_create(mla_preset_spec("cnn"), (mla_shape){1, 28, 28}, 10, 0, &net);
    assert_int_equal(mla_net_trainable_count(net), 32 * 9 + 32 + 64 * 32 * 9 + 64 + 1600 * 128 + 128 + 1280 + 10);
    mla_net_free(net);
    /* dknn (the DkNN paper's MNIST net): 28 -> 14 ('same', pad 3) -> 5 -> 1, named layers. */
    mla_net_create(mla_preset_spec("dknn"), (mla_shape){1, 28, 28}, 10, 0, &net);
    assert_int_equal(mla_net_trainable_count(net),
                     64 * 64 + 64 + 128 * 64 * 36 + 128 + 128 * 128 * 25 + 128 + 128 * 10 + 10);
    float x[784] = {0};
    const float *y, *act;
    mla_shape sh;
    int n;
    assert_int_equal(mla_net_forward(net, x, 1, false, &y), MLA_OK);
    static const char *const layers[] = {"relu1", "relu2", "relu3", "logits"};
    static const mla_shape want[] = {{64, 14, 14}, {128, 5, 5}, {128, 1, 1}, {10, 1, 1}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mla_net_activation(net, layers[i], &act, &sh, &n), MLA_OK);
        assert_true(sh.c == want[i].c && sh.h == want[i].h && sh.w == want[i].w && n == 1);
    }
    mla_net_free(net);
    /* advknn (the AdvKNN study's net): dknn with conv2 padded by 2: 28 -> 14 -> 7 -> 3. */
    mla_net_create(mla_preset_spec("advknn"), (mla_shape){1, 28, 28}, 10, 0, &net);
    assert_int_equal(mla_net_trainable_count(net),
                     64 * 64 + 64 + 128 * 64 * 36 + 128 + 128 * 128 * 25 + 128 + 1152 * 10 + 10);
    assert_int_equal(mla_net_forward(net, x, 1, false, &y), MLA_OK);
    static const mla_shape want_adv[] = {{64, 14, 14}, {128, 7, 7}, {128, 3, 3}, {10, 1, 1}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mla_net_activation(net, layers[i], &act, &sh, &n), MLA_OK);
        assert_true(sh.c == want_adv[i].c && sh.h == want_adv[i].h && sh.w == want_adv[i].w && n == 1);
    }
    mla_net_free(net);
}

/* A bias-free dense layer from one input to `units` outputs: `units` parameters. */
static mla_net *bias_free_dense(int units) {
    char spec[128];
    snprintf(spec, sizeof spec, "{\"layers\": [{\"type\": \"dense\", \"units\": %d, \"bias\": false}]}", units);
    mla_net *net;
    if (mla_net_create(spec, (mla_shape){1, 1, 1}, units, 0, &net)) fail_msg("%s", mla_last_error());
    return net;
}

static void test_optimizer_rules(void **state) {
    (void)state;
    /* One parameter, gradient 2: check SGD momentum/Nesterov and Adam's first step. */
    mla_net *net = bias_free_dense(1);
    float *p = mla_net_params(net), *g = mla_net_grads(net);
    mla_opt_config c = mla_opt_defaults(MLA_OPT_SGD);
    c.lr = 0.1f;
    c.momentum = 0.5f;
    c.nesterov = true;
    mla_optimizer *o;
    assert_int_equal(mla_optimizer_create(&c, net, &o), MLA_OK);
    p[0] = 1;
    g[0] = 2;
    mla_optimizer_step(o, net); /* b = 2; d = 2 + 0.5*2 = 3; p = 1 - 0.3 */
    assert_float_equal(p[0], 0.7f, 1e-6);
    mla_optimizer_step(o, net); /* b = 0.5*2 + 2 = 3; d = 2 + 1.5 = 3.5; p = 0.7 - 0.35 */
    assert_float_equal(p[0], 0.35f, 1e-6);
    mla_optimizer_free(o);
    c = mla_opt_defaults(MLA_OPT_ADAM);
    c.lr = 0.01f;
    assert_int_equal(mla_optimizer_create(&c, net, &o), MLA_OK);
    p[0] = 1;
    mla_optimizer_step(o, net); /* first Adam step moves by lr * sign(g) (up to eps) */
    assert_float_equal(p[0], 0.99f, 1e-6);
    mla_optimizer_free(o);
    c.lr = -1;
    assert_int_equal(mla_optimizer_create(&c, net, &o), MLA_ERR_INVALID);
    assert_float_equal(mla_lr_at(MLA_SCHED_STEP, 1.0f, 25, 30, 10, 0.1f), 0.01f, 1e-7);
    assert_float_equal(mla_lr_at(MLA_SCHED_COSINE, 1.0f, 5, 10, 0, 0), 0.5f, 1e-6);
    mla_net_free(net);
}

/* The optimizers' split of the flat vector (each trainable tensor across the team on
 * its own): on 1, 2 and 3 threads the same bits for parameters and state, every
 * gradient cleared (an element the split skipped would keep its gradient), and Adam's
 * parameters within float rounding of its rule computed directly in double. */
static void test_optimizer_split_same_bits(void **state) {
    (void)state;
    const char *spec = "{\"layers\": [{\"type\": \"dense\", \"units\": 300}, {\"type\": \"relu\"},"
                       " {\"type\": \"dense\", \"units\": 10}]}";
    mla_net *net;
    if (mla_net_create(spec, (mla_shape){300, 1, 1}, 10, 5, &net)) fail_msg("%s", mla_last_error());
    size_t n = mla_net_trainable_count(net);
    assert_true(n > 65536); /* the updates' parallel size */
    float *p0 = malloc(n * sizeof(float)), *g0 = malloc(n * sizeof(float)), *ref = NULL, *ref_state = NULL;
    random_fill(p0, n, 31);
    random_fill(g0, n, 32);
    int threads = mla_get_threads();
    for (int kind = 0; kind < 2; kind++) {
        mla_opt_config c = mla_opt_defaults(kind ? MLA_OPT_ADAM : MLA_OPT_SGD);
        for (int t = 1; t <= 3; t++) {
            mla_set_threads(t);
            mla_optimizer *o;
            assert_int_equal(mla_optimizer_create(&c, net, &o), MLA_OK);
            float *p = mla_net_params(net), *g = mla_net_grads(net);
            size_t ns = mla_optimizer_state_size(o);
            memcpy(p, p0, n * sizeof(float));
            for (int step = 0; step < 2; step++) {
                for (size_t i = 0; i < n; i++) g[i] = g0[i] * (step ? -0.5f : 1.0f);
                mla_optimizer_step_and_zero_grads(o, net);
                for (size_t i = 0; i < n; i++)
                    if (g[i] != 0) fail_msg("kind %d, %d threads: gradient %zu not cleared", kind, t, i);
            }
            if (t == 1) {
                ref = malloc(n * sizeof(float)), ref_state = malloc(ns * sizeof(float));
                memcpy(ref, p, n * sizeof(float));
                memcpy(ref_state, mla_optimizer_state(o), ns * sizeof(float));
            } else {
                assert_memory_equal(p, ref, n * sizeof(float));
                assert_memory_equal(mla_optimizer_state(o), ref_state, ns * sizeof(float));
            }
            mla_optimizer_free(o);
        }
        if (kind) /* Adam, two steps, from m = v = 0 */
            for (size_t i = 0; i < n; i++) {
                double q = p0[i], m = 0, v = 0;
                for (int step = 1; step <= 2; step++) {
                    double d = g0[i] * (step == 2 ? -0.5 : 1.0);
                    m = c.beta1 * m + (1 - c.beta1) * d;
                    v = c.beta2 * v + (1 - c.beta2) * d * d;
                    double mh = m / (1 - pow(c.beta1, step)), vh = v / (1 - pow(c.beta2, step));
                    q -= c.lr * mh / (sqrt(vh) + c.eps);
                }
                if (fabs(ref[i] - q) > 1e-6 * (1 + fabs(q))) fail_msg("Adam: p[%zu] = %.9g, direct %.9g", i, ref[i], q);
            }
        free(ref), free(ref_state);
    }
    mla_set_threads(threads);
    free(p0), free(g0);
    mla_net_free(net);
}

/* A conv2d followed by a batchnorm hands it per-sample statistics, merged instead of
 * the batchnorm's own passes: the same normalisation and running statistics as with a
 * reshape between them (no hand-over), up to rounding; and evaluation, which uses the
 * running statistics, hands nothing over. */
static void test_conv_batchnorm_statistics(void **state) {
    (void)state;
    const char *joined = "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1},"
                         " {\"type\": \"batchnorm\", \"name\": \"bn\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    const char *apart = "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1},"
                        " {\"type\": \"reshape\", \"shape\": [8, 8, 8]}, {\"type\": \"batchnorm\", \"name\": \"bn\"},"
                        " {\"type\": \"dense\", \"units\": \"classes\"}]}";
    mla_net *a = make(joined, 2), *b = make(apart, 2);
    assert_int_equal(mla_net_copy_params(b, a), MLA_OK);
    enum { N = 6 };
    float x[N * 64];
    random_fill(x, N * 64, 21);
    for (int i = 0; i < N * 64; i++) x[i] = 3.0f * x[i] + 1.0f; /* a mean far from 0 */
    for (int pass = 0; pass < 2; pass++) {
        bool train = pass == 0;
        const float *oa, *ob, *ya, *yb;
        mla_shape sh;
        int n;
        assert_int_equal(mla_net_forward(a, x, N, train, &oa), MLA_OK);
        assert_int_equal(mla_net_forward(b, x, N, train, &ob), MLA_OK);
        assert_int_equal(mla_net_activation(a, "bn", &ya, &sh, &n), MLA_OK);
        assert_int_equal(mla_net_activation(b, "bn", &yb, &sh, &n), MLA_OK);
        for (int i = 0; i < N * 512; i++) assert_float_equal(ya[i], yb[i], 2e-5);
        size_t np = mla_net_param_count(a);
        for (size_t i = 0; i < np; i++) assert_float_equal(mla_net_params(a)[i], mla_net_params(b)[i], 1e-6);
    }
    mla_net_free(a);
    mla_net_free(b);
}

/* A batch written into the net's own input buffer runs as the same batch passed as a
 * copy; the buffer survives a thread-count change; a forward asking it for more
 * samples than it holds is refused. */
static void test_input_buffer_forward(void **state) {
    (void)state;
    mla_net *net = make(small_cnn, 1);
    float x[4 * 64], *buf, copy[4 * 3];
    random_fill(x, 4 * 64, 3);
    const float *out;
    assert_int_equal(mla_net_forward(net, x, 4, false, &out), MLA_OK);
    memcpy(copy, out, sizeof copy);
    assert_int_equal(mla_net_input_buffer(net, 4, &buf), MLA_OK);
    assert_int_equal(mla_net_backward(net, copy, NULL), MLA_ERR_INVALID); /* the pass ended */
    memcpy(buf, x, sizeof x);
    mla_set_threads(1);
    assert_int_equal(mla_net_forward(net, buf, 4, false, &out), MLA_OK);
    mla_set_threads(2);
    assert_memory_equal(out, copy, sizeof copy);
    assert_int_equal(mla_net_forward(net, buf, 5, false, &out), MLA_ERR_INVALID);
    assert_int_equal(mla_net_input_buffer(net, 0, &buf), MLA_ERR_INVALID);
    mla_net_free(net);
}

/* A first flatten (or reshape) leaves the net's input in place of its output instead of
 * copying it (mla_seq_input): outputs, parameter and input gradients are the bits of the
 * same net without it (dense reads any input shape flat), the layer's activation is the
 * input, through the caller's buffer and the net's input buffer, on 1 and 2 threads. */
static void assert_first_copy_same_bits(const char *with, const char *without, const char *first) {
    enum { N = 20 };
    float x[N * 64], dout[N * 3], dx_a[N * 64], dx_b[N * 64], *buf;
    random_fill(x, N * 64, 5);
    random_fill(dout, N * 3, 6);
    for (int threads = 1; threads <= 2; threads++) {
        mla_set_threads(threads);
        mla_net *a = make(with, 4), *b = make(without, 4);
        size_t count = mla_net_trainable_count(a);
        assert_true(count == mla_net_trainable_count(b));
        memcpy(mla_net_params(b), mla_net_params(a), count * sizeof(float));
        const float *oa, *ob, *act;
        assert_int_equal(mla_net_input_buffer(a, N, &buf), MLA_OK); /* as mla_train */
        memcpy(buf, x, sizeof x);
        assert_int_equal(mla_net_forward(a, buf, N, true, &oa), MLA_OK);
        assert_int_equal(mla_net_forward(b, x, N, true, &ob), MLA_OK);
        assert_memory_equal(oa, ob, N * 3 * sizeof(float));
        mla_shape sh;
        int n;
        assert_int_equal(mla_net_activation(a, first, &act, &sh, &n), MLA_OK);
        assert_int_equal(n, N);
        assert_int_equal(mla_shape_size(sh), 64);
        assert_memory_equal(act, x, sizeof x);
        mla_net_zero_grads(a), mla_net_zero_grads(b);
        assert_int_equal(mla_net_backward(a, dout, dx_a), MLA_OK);
        assert_int_equal(mla_net_backward(b, dout, dx_b), MLA_OK);
        assert_memory_equal(mla_net_grads(a), mla_net_grads(b), count * sizeof(float));
        assert_memory_equal(dx_a, dx_b, sizeof dx_a);
        /* Without dx (the training pass) and from the caller's buffer (a copy in). */
        assert_int_equal(mla_net_forward(a, x, N, true, &oa), MLA_OK);
        mla_net_zero_grads(a), mla_net_zero_grads(b);
        assert_int_equal(mla_net_backward(a, dout, NULL), MLA_OK);
        assert_int_equal(mla_net_backward(b, dout, NULL), MLA_OK);
        assert_memory_equal(mla_net_grads(a), mla_net_grads(b), count * sizeof(float));
        mla_net_free(a), mla_net_free(b);
    }
    mla_set_threads(2);
}

static void test_first_flatten_not_copied(void **state) {
    (void)state;
    assert_first_copy_same_bits("{\"layers\": [{\"type\": \"flatten\", \"name\": \"flat\"},"
                                " {\"type\": \"dense\", \"units\": 40}, {\"type\": \"relu\"},"
                                " {\"type\": \"dense\", \"units\": \"classes\"}]}",
                                "{\"layers\": [{\"type\": \"dense\", \"units\": 40}, {\"type\": \"relu\"},"
                                " {\"type\": \"dense\", \"units\": \"classes\"}]}",
                                "flat");
    assert_first_copy_same_bits("{\"layers\": [{\"type\": \"reshape\", \"name\": \"r\", \"shape\": [64]},"
                                " {\"type\": \"tanh\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}",
                                "{\"layers\": [{\"type\": \"tanh\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}",
                                "r");
    /* A flatten alone is the net's output: still copied. */
    mla_net *net = make("{\"layers\": [{\"type\": \"flatten\"}]}", 1);
    float x[2 * 64];
    random_fill(x, 2 * 64, 7);
    const float *out;
    assert_int_equal(mla_net_forward(net, x, 2, false, &out), MLA_OK);
    assert_memory_equal(out, x, sizeof x);
    mla_net_free(net);
}

/* Subnormal moments (a parameter whose gradient stays zero) are flushed to zero by the
 * update, and the caller's floating-point mode is left as it was. */
static void test_optimizer_flushes_subnormals(void **state) {
    (void)state;
    mla_net *net = bias_free_dense(2);
    mla_opt_config c = mla_opt_defaults(MLA_OPT_ADAM);
    mla_optimizer *o;
    assert_int_equal(mla_optimizer_create(&c, net, &o), MLA_OK);
    float *m = mla_optimizer_state(o), *g = mla_net_grads(net);
    volatile float tiny = 1e-39f; /* subnormal */
    m[0] = tiny;
    m[1] = 1e-3f;
    g[0] = g[1] = 0.0f;
#if defined(__SSE__)
    unsigned before = _mm_getcsr();
#endif
    mla_optimizer_step(o, net);
#if defined(__SSE__)
    assert_int_equal(_mm_getcsr(), before);
#endif
    assert_true(m[0] == 0.0f);       /* 0.9 * 1e-39 would be subnormal: flushed */
    assert_float_equal(m[1], 0.9e-3f, 1e-10);
    mla_optimizer_free(o);
    mla_net_free(net);
}

/* step_and_zero_grads moves the parameters exactly as step does, and clears the
 * gradients; over a vector long enough for the parallel loop, for Adam and SGD. */
static void test_step_and_zero_matches_step(void **state) {
    (void)state;
    const char *spec = "{\"layers\": [{\"type\": \"dense\", \"units\": 300}]}";
    for (int kind = MLA_OPT_SGD; kind <= MLA_OPT_ADAM; kind++) {
        mla_net *a, *b;
        assert_int_equal(mla_net_create(spec, (mla_shape){250, 1, 1}, 1, 3, &a), MLA_OK);
        assert_int_equal(mla_net_create(spec, (mla_shape){250, 1, 1}, 1, 3, &b), MLA_OK);
        size_t n = mla_net_trainable_count(a);
        mla_opt_config c = mla_opt_defaults((mla_opt_kind)kind);
        c.weight_decay = 0.01f;
        mla_optimizer *oa, *ob;
        assert_int_equal(mla_optimizer_create(&c, a, &oa), MLA_OK);
        assert_int_equal(mla_optimizer_create(&c, b, &ob), MLA_OK);
        for (int step = 0; step < 3; step++) {
            random_fill(mla_net_grads(a), n, 10 + step);
            memcpy(mla_net_grads(b), mla_net_grads(a), n * sizeof(float));
            mla_optimizer_step(oa, a);
            mla_optimizer_step_and_zero_grads(ob, b);
            assert_memory_equal(mla_net_params(a), mla_net_params(b), n * sizeof(float));
            for (size_t i = 0; i < n; i++) assert_true(mla_net_grads(b)[i] == 0.0f);
        }
        mla_optimizer_free(oa);
        mla_optimizer_free(ob);
        mla_net_free(a);
        mla_net_free(b);
    }
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_sample_norms_match_single_sample_passes),
        cmocka_unit_test(test_per_sample_refused_after_training_batchnorm),
        cmocka_unit_test(test_chained_nets_pass_gradients),
        cmocka_unit_test(test_backward_without_dx_keeps_param_grads),
        cmocka_unit_test(test_activations_by_name),
        cmocka_unit_test(test_fused_conv_relu_matches_unfused),
        cmocka_unit_test(test_fused_conv_relu_pool_matches_unfused),
        cmocka_unit_test(test_conv_as_dense_matches_dense),
        cmocka_unit_test(test_fused_bn_relu_matches_unfused),
        cmocka_unit_test(test_fused_residual_relu_matches_unfused),
        cmocka_unit_test(test_maxpool_2x2_matches_naive_loop),
        cmocka_unit_test(test_thread_count_change_after_first_pass),
        cmocka_unit_test(test_net_inside_a_parallel_region),
        cmocka_unit_test(test_reproducible_bits_and_flat_vector),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_bad_model_files_refused),
        cmocka_unit_test(test_bad_specs_name_the_layer),
        cmocka_unit_test(test_groupnorm_forward_matches_direct),
        cmocka_unit_test(test_presets_build_for_both_input_shapes),
        cmocka_unit_test(test_optimizer_rules),
        cmocka_unit_test(test_optimizer_split_same_bits),
        cmocka_unit_test(test_step_and_zero_matches_step),
        cmocka_unit_test(test_optimizer_flushes_subnormals),
        cmocka_unit_test(test_input_buffer_forward),
        cmocka_unit_test(test_first_flatten_not_copied),
        cmocka_unit_test(test_conv_batchnorm_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
