/* Finite-difference gradient checks: every differentiable layer and block, for both
 * the parameter gradients and the input gradient, and every loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/nn.h"
#include "nn/gemm.h" /* mla_dense_kernels_force */

#define N 3

/* Loss L = sum(out * r) for a fixed random r, so dL/dout = r. */
static double probe_loss(mla_net *net, const float *x, const float *r, bool train) {
    const float *out;
    assert_int_equal(mla_net_forward(net, x, N, train, &out), MLA_OK);
    size_t count = (size_t)N * mla_shape_size(mla_net_output_shape(net));
    double sum = 0;
    for (size_t i = 0; i < count; i++) sum += (double)out[i] * r[i];
    return sum;
}

static int close_enough(double analytic, double numeric, double atol, double rtol) {
    return fabs(analytic - numeric) <= atol + rtol * fabs(numeric);
}

/* Central difference of probe_loss in *v; two step sizes, since float32 noise
 * dominates small steps and curvature dominates large ones. */
static int numeric_matches(mla_net *net, const float *x, const float *r, bool train, float *v, double analytic,
                           double *num_out) {
    static const double steps[] = {1e-2, 2e-3};
    float keep = *v;
    for (int k = 0; k < 2; k++) {
        *v = keep + (float)steps[k];
        double up = probe_loss(net, x, r, train);
        *v = keep - (float)steps[k];
        double down = probe_loss(net, x, r, train);
        *v = keep;
        *num_out = (up - down) / (2 * steps[k]);
        if (close_enough(analytic, *num_out, 2e-3, 2e-2)) return 1;
    }
    return 0;
}

/* Checks d probe / d x and d probe / d params of the net built from spec. */
static void check_spec(const char *spec, mla_shape in, bool train) {
    mla_net *net;
    mla_status s = mla_net_create(spec, in, 4, 11, &net);
    if (s) fail_msg("spec %s: %s", spec, mla_last_error());
    size_t in_count = (size_t)N * mla_shape_size(in), out_count = (size_t)N * mla_shape_size(mla_net_output_shape(net));
    float *x = malloc(in_count * sizeof(float)), *r = malloc(out_count * sizeof(float));
    float *dx = malloc(in_count * sizeof(float));
    mla_rng rng;
    mla_rng_seed(&rng, 5);
    for (size_t i = 0; i < in_count; i++) x[i] = (float)mla_rng_normal(&rng);
    for (size_t i = 0; i < out_count; i++) r[i] = (float)mla_rng_normal(&rng);
    /* Batch-norm weights away from their default 1/0 so their gradients matter. */
    float *p = mla_net_params(net);
    size_t np = mla_net_trainable_count(net);
    for (size_t i = 0; i < np; i++) p[i] += (float)(0.1 * mla_rng_normal(&rng));

    probe_loss(net, x, r, train);
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_backward(net, r, dx), MLA_OK);
    float *g = malloc((np ? np : 1) * sizeof(float));
    memcpy(g, mla_net_grads(net), np * sizeof(float));

    int bad = 0;
    double num;
    for (size_t i = 0; i < in_count; i++)
        if (!numeric_matches(net, x, r, train, &x[i], dx[i], &num) && bad++ < 5)
            print_message("%s: dx[%zu] analytic %g numeric %g\n", spec, i, dx[i], num);
    for (size_t i = 0; i < np; i++)
        if (!numeric_matches(net, x, r, train, &p[i], g[i], &num) && bad++ < 5)
            print_message("%s: dparam[%zu] analytic %g numeric %g\n", spec, i, g[i], num);
    if (bad) fail_msg("%s: %d gradient entries disagree", spec, bad);
    free(x);
    free(r);
    free(dx);
    free(g);
    mla_net_free(net);
}

#define SPEC(...) "{\"layers\": [" #__VA_ARGS__ "]}"

static const mla_shape IMG = {2, 6, 6};
static const mla_shape RES_RELU_SHAPE = {2, 3, 3};

static void test_dense(void **st) {
    (void)st;
    check_spec(SPEC({"type": "dense", "units": 5}), IMG, true);
    check_spec(SPEC({"type": "dense", "units": 3, "bias": false}), (mla_shape){7, 1, 1}, true);
    /* a dense with its relu fused (the relu's passes run in the dense's), with and without
     * bias, on OpenBLAS and on the engine's kernels (where this CPU has them) */
    for (int mode = 0; mode < 2; mode++) {
        mla_dense_kernels_force(mode);
        check_spec(SPEC({"type": "dense", "units": 5}, {"type": "relu"}, {"type": "dense", "units": 3}), IMG, true);
        check_spec(SPEC({"type": "dense", "units": 9, "bias": false}, {"type": "relu"}, {"type": "dense", "units": 2}),
                   (mla_shape){7, 1, 1}, true);
    }
    mla_dense_kernels_force(-1);
}
static void test_conv2d(void **st) {
    (void)st;
    check_spec(SPEC({"type": "conv2d", "filters": 3, "kernel": 3}), IMG, true);
    check_spec(SPEC({"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "pad": 1, "bias": false}), IMG, true);
    check_spec(SPEC({"type": "conv2d", "filters": 3, "kernel": 1}), IMG, true);
    /* Padding wider than the kernel's reach at a stride: rows and columns of pure padding. */
    check_spec(SPEC({"type": "conv2d", "filters": 2, "kernel": 3, "stride": 2, "pad": 2}), IMG, true);
    check_spec(SPEC({"type": "conv2d", "filters": 2, "kernel": 2, "stride": 3}), IMG, true);
    /* Rows wider than 16 columns: im2col and col2im work 16 columns per register. */
    check_spec(SPEC({"type": "conv2d", "filters": 2, "kernel": 3, "pad": 1}), (mla_shape){2, 3, 21}, true);
    check_spec(SPEC({"type": "conv2d", "filters": 2, "kernel": 5}), (mla_shape){1, 6, 35}, true);
    /* 512+ output positions: the unpacked kernels (forward and input gradient: 16
     * filters, 72 unfolded rows; weight gradient: dot products in fours), with tails
     * (529 = 16 x 32 + 17 = 33 x 16 + 1). */
    check_spec(SPEC({"type": "conv2d", "filters": 16, "kernel": 3, "pad": 1}), (mla_shape){8, 23, 23}, true);
    /* The unpacked kernels, forward and input gradient, with the output gradient in the
     * layer's own buffer (read past rows' ends into its slack) rather than the caller's
     * (last row loaded masked, as above): 225 = 7 x 32 + 1 positions. */
    check_spec(SPEC({"type": "conv2d", "filters": 8, "kernel": 3, "pad": 1}, {"type": "tanh"}), (mla_shape){8, 15, 15},
               true);
    /* Filters in 32s on small planes: the weight gradient accumulated transposed, with
     * 72 unfolded rows (whole blocks of 8) and with 36 (4 left over, done one by one). */
    check_spec(SPEC({"type": "conv2d", "filters": 32, "kernel": 3, "pad": 1}), (mla_shape){8, 5, 5}, true);
    check_spec(SPEC({"type": "conv2d", "filters": 32, "kernel": 3, "pad": 1, "bias": false}), (mla_shape){4, 6, 6}, true);
    /* A kernel the size of the unpadded input: run as dense over the batch, alone and with
     * the relu it fuses (and a smooth layer after, so the relu is not last). */
    check_spec(SPEC({"type": "conv2d", "filters": 5, "kernel": 6, "bias": false}), IMG, true);
    check_spec(SPEC({"type": "conv2d", "filters": 5, "kernel": 6, "stride": 2}, {"type": "relu"}, {"type": "tanh"}),
               IMG, true);
}
/* Stride-1 convolutions on the AVX2 family, where the forward and the input gradient run
 * as implicit GEMMs (conv_implicit.c): "same" 3x3, valid 3x3 (the gradient's border 2), a
 * 5x5 with pad 2 over more than one 32-position tile, an even kernel (2x2, pad 1), rows
 * wider than 24 (a tile per row);
 * and the AVX2 weight-gradient dot products. */
static void test_conv2d_implicit(void **st) {
    (void)st;
    mla_isa_force(MLA_ISA_AVX2);
    if (strncmp(mla_nn_kernels_name(), "avx2", 4) != 0) { /* no AVX2 kernels here */
        mla_isa_force(-1);
        skip();
    }
    check_spec(SPEC({"type": "conv2d", "filters": 8, "kernel": 3, "pad": 1}), (mla_shape){8, 5, 7}, true);
    check_spec(SPEC({"type": "conv2d", "filters": 8, "kernel": 3, "bias": false}), (mla_shape){8, 6, 5}, true);
    check_spec(SPEC({"type": "conv2d", "filters": 16, "kernel": 5, "pad": 2}, {"type": "tanh"}), (mla_shape){8, 4, 9},
               true);
    check_spec(SPEC({"type": "conv2d", "filters": 8, "kernel": 2, "pad": 1}), (mla_shape){8, 4, 5}, true);
    /* rows 26 wide: a tile per output row, forward and input gradient */
    check_spec(SPEC({"type": "conv2d", "filters": 8, "kernel": 3, "pad": 1}), (mla_shape){8, 3, 26}, true);
    /* 529 positions: the weight gradient as AVX2 dot products (blocks of 2 x 4, a tail of 1) */
    check_spec(SPEC({"type": "conv2d", "filters": 2, "kernel": 3, "pad": 1}), (mla_shape){4, 23, 23}, true);
    mla_isa_force(-1);
}

static void test_dwconv2d(void **st) {
    (void)st;
    check_spec(SPEC({"type": "dwconv2d", "kernel": 3, "pad": 1}), IMG, true);
    check_spec(SPEC({"type": "dwconv2d", "kernel": 3, "stride": 2, "pad": 1, "bias": false}), IMG, true);
    /* Rows wider than 16 columns (two register chunks), a 5x5 kernel, both strides. */
    check_spec(SPEC({"type": "dwconv2d", "kernel": 5, "pad": 2}), (mla_shape){2, 4, 19}, true);
    check_spec(SPEC({"type": "dwconv2d", "kernel": 5, "stride": 2, "pad": 2}), (mla_shape){2, 5, 37}, true);
    check_spec(SPEC({"type": "dwconv2d", "kernel": 3, "stride": 3}), (mla_shape){1, 7, 8}, true);
}
static void test_convt2d(void **st) {
    (void)st;
    check_spec(SPEC({"type": "convt2d", "filters": 3, "kernel": 3}), (mla_shape){2, 4, 4}, true);
    check_spec(SPEC({"type": "convt2d", "filters": 2, "kernel": 4, "stride": 2, "pad": 1}), (mla_shape){2, 3, 3}, true);
    check_spec(SPEC({"type": "convt2d", "filters": 2, "kernel": 3, "stride": 2, "pad": 1, "out_pad": 1}),
               (mla_shape){2, 3, 3}, true);
}
static void test_pooling(void **st) {
    (void)st;
    check_spec(SPEC({"type": "maxpool", "kernel": 2}), IMG, true);
    check_spec(SPEC({"type": "maxpool", "kernel": 3, "stride": 2, "pad": 1}), IMG, true);
    /* Unpadded windows other than 2x2/2 (overlapping, and a stride that skips columns). */
    check_spec(SPEC({"type": "maxpool", "kernel": 3, "stride": 1}), IMG, true);
    check_spec(SPEC({"type": "maxpool", "kernel": 2, "stride": 3}), IMG, true);
    check_spec(SPEC({"type": "avgpool", "kernel": 2}), IMG, true);
    check_spec(SPEC({"type": "avgpool", "kernel": 3, "stride": 2, "pad": 1}), IMG, true);
    check_spec(SPEC({"type": "gap"}), IMG, true);
}
static void test_batchnorm(void **st) {
    (void)st;
    check_spec(SPEC({"type": "batchnorm"}), IMG, true);                  /* batch statistics */
    check_spec(SPEC({"type": "batchnorm"}), IMG, false);                 /* running statistics */
    check_spec(SPEC({"type": "dense", "units": 4}, {"type": "batchnorm"}), IMG, true); /* 1-d */
    /* With the relu it fuses (a smooth layer after it, so the relu is not last), on
     * running statistics: with batch statistics a kink anywhere in a channel would spoil
     * the finite differences of all of it; test_net checks the training pass bit for bit
     * against the unfused layers. The shape keeps every relu input 0.06 or more from its
     * kink under this test's seeded inputs and weights. */
    check_spec(SPEC({"type": "batchnorm"}, {"type": "relu"}, {"type": "tanh"}), (mla_shape){3, 2, 2}, false);
}
static void test_groupnorm(void **st) {
    (void)st;
    const mla_shape six = {6, 3, 4};
    check_spec(SPEC({"type": "groupnorm", "groups": 1}), six, true); /* layer norm */
    check_spec(SPEC({"type": "groupnorm", "groups": 2}), six, true);
    check_spec(SPEC({"type": "groupnorm", "groups": 3, "eps": 1e-3}), six, true);
    check_spec(SPEC({"type": "groupnorm", "groups": 6}), six, true); /* instance norm */
    check_spec(SPEC({"type": "groupnorm", "groups": 3}), six, false); /* evaluation: the same op */
    /* 1-d (features after a dense layer; eps 0.1 keeps three-value groups smooth enough
     * for finite differences), and inside a conv -> GN -> smooth activation
     * chain with planes wider than the 16 lanes of the sums. */
    check_spec(SPEC({"type": "dense", "units": 6}, {"type": "groupnorm", "groups": 2, "eps": 0.1}), IMG, true);
    check_spec(SPEC({"type": "conv2d", "filters": 4, "kernel": 3, "pad": 1, "bias": false},
                    {"type": "groupnorm", "groups": 2}, {"type": "tanh"}),
               (mla_shape){2, 5, 5}, true);
}
static void test_shape_ops(void **st) {
    (void)st;
    check_spec(SPEC({"type": "flatten"}, {"type": "dense", "units": 2}), IMG, true);
    check_spec(SPEC({"type": "reshape", "shape": [8, 3, 3]}, {"type": "conv2d", "filters": 2, "kernel": 2}), IMG, true);
}
static void test_activations(void **st) {
    (void)st;
    check_spec(SPEC({"type": "relu"}), IMG, true);
    check_spec(SPEC({"type": "leaky_relu", "alpha": 0.1}), IMG, true);
    check_spec(SPEC({"type": "sigmoid"}), IMG, true);
    check_spec(SPEC({"type": "tanh"}), IMG, true);
    check_spec(SPEC({"type": "silu"}), IMG, true);
}
static void test_residual(void **st) {
    (void)st;
    /* Identity shortcut. */
    check_spec(SPEC({"type": "residual", "body": [{"type": "conv2d", "filters": 2, "kernel": 3, "pad": 1},
                                                   {"type": "tanh"}]}),
               IMG, true);
    /* Followed by the relu it fuses (and a smooth layer, so the relu is not last); the
     * shape keeps every relu input away from the kink under this test's seeds. */
    check_spec(SPEC({"type": "residual", "body": [{"type": "conv2d", "filters": 2, "kernel": 3, "pad": 1},
                                                   {"type": "tanh"}]},
                    {"type": "relu"}, {"type": "tanh"}),
               RES_RELU_SHAPE, true);
    /* ResNet basic block with a projection shortcut and batch norm. Smooth activations
     * stand in for ReLU here: batch statistics couple every sample, so a ReLU kink
     * anywhere in a channel would spoil finite differences everywhere. */
    check_spec(SPEC({"type": "residual",
                     "body": [{"type": "conv2d", "filters": 3, "kernel": 3, "stride": 2, "pad": 1, "bias": false},
                              {"type": "batchnorm"}, {"type": "tanh"},
                              {"type": "conv2d", "filters": 3, "kernel": 3, "pad": 1, "bias": false},
                              {"type": "batchnorm"}],
                     "shortcut": [{"type": "conv2d", "filters": 3, "kernel": 1, "stride": 2, "bias": false},
                                  {"type": "batchnorm"}]},
                    {"type": "silu"}),
               IMG, true);
}
static void test_se_and_mbconv(void **st) {
    (void)st;
    check_spec(SPEC({"type": "se", "units": 2}), (mla_shape){4, 3, 3}, true);
    check_spec(SPEC({"type": "se", "units": 3, "activation": "relu"}), (mla_shape){4, 3, 3}, true);
    /* An MBConv block: expand, depthwise, SE, project, residual. */
    check_spec(SPEC({"type": "residual",
                     "body": [{"type": "conv2d", "filters": 8, "kernel": 1, "bias": false}, {"type": "batchnorm"},
                              {"type": "silu"}, {"type": "dwconv2d", "kernel": 3, "pad": 1, "bias": false},
                              {"type": "batchnorm"}, {"type": "silu"}, {"type": "se", "units": 2},
                              {"type": "conv2d", "filters": 2, "kernel": 1, "bias": false},
                              {"type": "batchnorm"}]}),
               (mla_shape){2, 4, 4}, true);
}

/* ---- losses ---- */

typedef float (*loss_fn)(const float *in, float *grad, void *ctx);

static void check_loss(const char *what, loss_fn f, float *in, size_t count, void *ctx) {
    float *grad = malloc(count * sizeof(float));
    f(in, grad, ctx);
    for (size_t i = 0; i < count; i++) {
        float keep = in[i];
        double eps = 1e-3;
        in[i] = keep + (float)eps;
        double up = f(in, NULL, ctx);
        in[i] = keep - (float)eps;
        double down = f(in, NULL, ctx);
        in[i] = keep;
        double num = (up - down) / (2 * eps);
        if (!close_enough(grad[i], num, 1e-4, 1e-2)) fail_msg("%s: d[%zu] analytic %g numeric %g", what, i, grad[i], num);
    }
    free(grad);
}

typedef struct {
    int32_t labels[4];
    float targets[4 * 5];
} loss_ctx;

static float ce_hard(const float *in, float *g, void *c) {
    return mla_loss_softmax_ce(in, 4, 5, ((loss_ctx *)c)->labels, NULL, g, NULL);
}
static float ce_soft(const float *in, float *g, void *c) {
    return mla_loss_softmax_ce(in, 4, 5, NULL, ((loss_ctx *)c)->targets, g, NULL);
}
static float bce(const float *in, float *g, void *c) { return mla_loss_bce_logits(in, ((loss_ctx *)c)->targets, 20, g); }
static float mse(const float *in, float *g, void *c) { return mla_loss_mse(in, ((loss_ctx *)c)->targets, 20, g); }
static float kl(const float *in, float *g, void *c) { return mla_loss_kl_softmax(in, ((loss_ctx *)c)->targets, 4, 5, g); }

static void test_losses(void **st) {
    (void)st;
    loss_ctx c = {{0, 3, 4, 1}, {0}};
    mla_rng rng;
    mla_rng_seed(&rng, 9);
    float z[20];
    for (int i = 0; i < 20; i++) z[i] = (float)(2 * mla_rng_normal(&rng));
    for (int i = 0; i < 4; i++) {
        double sum = 0;
        for (int j = 0; j < 5; j++) sum += c.targets[i * 5 + j] = (float)mla_rng_uniform(&rng) + 0.01f;
        for (int j = 0; j < 5; j++) c.targets[i * 5 + j] /= (float)sum;
    }
    check_loss("softmax_ce hard", ce_hard, z, 20, &c);
    check_loss("softmax_ce soft", ce_soft, z, 20, &c);
    check_loss("bce", bce, z, 20, &c);
    check_loss("mse", mse, z, 20, &c);
    check_loss("kl", kl, z, 20, &c);
    /* Known values: uniform logits give log(k); KL of a distribution with itself is 0. */
    float zero[5] = {0}, uniform[5] = {0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
    int32_t label = 2;
    assert_float_equal(mla_loss_softmax_ce(zero, 1, 5, &label, NULL, NULL, NULL), logf(5), 1e-6);
    assert_float_equal(mla_loss_kl_softmax(zero, uniform, 1, 5, NULL), 0, 1e-6);
    /* Stable for extreme logits. */
    float big[2] = {1000, -1000}, t[2] = {1, 0};
    assert_true(isfinite(mla_loss_bce_logits(big, t, 2, NULL)));
    int32_t l0 = 1;
    assert_true(isfinite(mla_loss_softmax_ce(big, 1, 2, &l0, NULL, NULL, NULL)));
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense),      cmocka_unit_test(test_conv2d),     cmocka_unit_test(test_conv2d_implicit),
        cmocka_unit_test(test_dwconv2d),
        cmocka_unit_test(test_convt2d),    cmocka_unit_test(test_pooling),    cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_groupnorm),
        cmocka_unit_test(test_shape_ops),  cmocka_unit_test(test_activations), cmocka_unit_test(test_residual),
        cmocka_unit_test(test_se_and_mbconv), cmocka_unit_test(test_losses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
