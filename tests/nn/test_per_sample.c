/* mla_net_per_sample_grad_norms (one batched backward, ghost norms for dense and
 * conv2d, sample-by-sample for other layers with parameters) and
 * mla_net_backward_weighted (the norms and sum_i w_i g_i, book-keeping) against a
 * reference built from the public API: one forward and backward per sample, the
 * gradient buffer materialised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/core.h"
#include "mlaudit/nn.h"
#include "nn/gemm.h" /* mla_nn_kernels: which family runs */

enum { N = 19, CLASSES = 10 }; /* odd, above 16: the dense kernels' and the conv's thread splits */

static const mla_shape fmnist = {1, 28, 28};

static void random_fill(float *x, size_t n, uint64_t seed, double scale) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * (2 * mla_rng_uniform(&r) - 1));
}

/* The old implementation, through the public API: norms[i] = ||gradient of sample i
 * alone||, with dout's row i as its output gradient (evaluation-mode forwards). */
static void reference_norms(mla_net *net, const float *x, const float *dout, int n, double *norms) {
    size_t in = (size_t)mla_shape_size(mla_net_input_shape(net));
    size_t out = (size_t)mla_shape_size(mla_net_output_shape(net));
    const float *y;
    for (int i = 0; i < n; i++) {
        assert_int_equal(mla_net_forward(net, x + (size_t)i * in, 1, false, &y), MLA_OK);
        mla_net_zero_grads(net);
        assert_int_equal(mla_net_backward(net, dout + (size_t)i * out, NULL), MLA_OK);
        double sq = 0;
        const float *g = mla_net_grads(net);
        for (size_t k = 0; k < mla_net_trainable_count(net); k++) sq += (double)g[k] * g[k];
        norms[i] = sqrt(sq);
    }
}

/* Builds spec on 1x28x28 inputs, runs the batched norms (with keep-activations as
 * given) on random inputs and output gradients, checks the gradient buffer is left as
 * it was and the norms match the reference to 1e-4 relative. */
static void check_spec(const char *spec, bool keep, uint64_t seed) {
    mla_net *net;
    if (mla_net_create(spec, fmnist, CLASSES, seed, &net)) fail_msg("%s", mla_last_error());
    mla_net_set_keep_activations(net, keep);
    size_t in = (size_t)mla_shape_size(fmnist), nt = mla_net_trainable_count(net);
    float *x = malloc(N * in * sizeof(float)), *dout = malloc(N * CLASSES * sizeof(float));
    float *before = malloc(nt * sizeof(float)), norms[N];
    double ref[N];
    random_fill(x, N * in, seed + 1, 1.0);
    random_fill(dout, N * CLASSES, seed + 2, 0.5);
    random_fill(before, nt, seed + 3, 1.0);
    memcpy(mla_net_grads(net), before, nt * sizeof(float));
    const float *y;
    assert_int_equal(mla_net_forward(net, x, N, false, &y), MLA_OK);
    assert_int_equal(mla_net_per_sample_grad_norms(net, dout, norms), MLA_OK);
    assert_memory_equal(mla_net_grads(net), before, nt * sizeof(float));
    reference_norms(net, x, dout, N, ref);
    for (int i = 0; i < N; i++) {
        if (!(fabs(norms[i] - ref[i]) <= 1e-4 * ref[i] + 1e-7))
            fail_msg("sample %d: batched %.9g, reference %.9g", i, norms[i], ref[i]);
        assert_true(ref[i] > 0);
    }
    free(x);
    free(dout);
    free(before);
    mla_net_free(net);
}

/* The weights of mla_net_backward_weighted in these tests: a function of the norm
 * (as clipping is) and of the index; the norms are recorded for the check. */
typedef struct {
    float norms[N];
    int calls;
} weigh_record;

static mla_status weigh(void *user, const float *norms, int n, float *w) {
    weigh_record *r = user;
    assert_int_equal(n, N);
    r->calls++;
    for (int i = 0; i < n; i++) {
        r->norms[i] = norms[i];
        w[i] = (float)(0.25 + (i % 5) / (1.0 + norms[i]));
    }
    return MLA_OK;
}

/* mla_net_backward_weighted on spec, keeping up to `memory` bytes, against the
 * materialised sum: before + sum_i w_i g_i to 1e-5 of the sum's size (each
 * coordinate), and the norms it passed to weigh match the reference's to 1e-4. */
static void check_weighted(const char *spec, bool keep, size_t memory, uint64_t seed) {
    mla_net *net;
    if (mla_net_create(spec, fmnist, CLASSES, seed, &net)) fail_msg("%s", mla_last_error());
    mla_net_set_keep_activations(net, keep);
    mla_net_set_per_sample_memory(net, memory);
    size_t in = (size_t)mla_shape_size(fmnist), nt = mla_net_trainable_count(net);
    float *x = malloc(N * in * sizeof(float)), *dout = malloc(N * CLASSES * sizeof(float));
    float *before = malloc(nt * sizeof(float)), *got = malloc(nt * sizeof(float));
    double *want = calloc(nt, sizeof(double));
    random_fill(x, N * in, seed + 1, 1.0);
    random_fill(dout, N * CLASSES, seed + 2, 0.5);
    random_fill(before, nt, seed + 3, 0.01);
    memcpy(mla_net_grads(net), before, nt * sizeof(float));
    const float *y;
    weigh_record rec = {.calls = 0};
    assert_int_equal(mla_net_forward(net, x, N, false, &y), MLA_OK);
    assert_int_equal(mla_net_backward_weighted(net, dout, weigh, &rec), MLA_OK);
    assert_int_equal(rec.calls, 1);
    memcpy(got, mla_net_grads(net), nt * sizeof(float));
    double scale = 0;
    for (int i = 0; i < N; i++) { /* sample i's gradient, materialised (as reference_norms does) */
        assert_int_equal(mla_net_forward(net, x + (size_t)i * in, 1, false, &y), MLA_OK);
        mla_net_zero_grads(net);
        assert_int_equal(mla_net_backward(net, dout + (size_t)i * CLASSES, NULL), MLA_OK);
        const float *g = mla_net_grads(net);
        double w = (float)(0.25 + (i % 5) / (1.0 + rec.norms[i])), sq = 0;
        for (size_t k = 0; k < nt; k++) {
            want[k] += w * g[k];
            sq += (double)g[k] * g[k];
        }
        if (!(fabs(rec.norms[i] - sqrt(sq)) <= 1e-4 * sqrt(sq) + 1e-7))
            fail_msg("sample %d: norm %.9g, reference %.9g", i, rec.norms[i], sqrt(sq));
    }
    for (size_t k = 0; k < nt; k++) scale = fmax(scale, fabs(want[k]));
    assert_true(scale > 0);
    for (size_t k = 0; k < nt; k++)
        if (!(fabs(got[k] - before[k] - want[k]) <= 1e-5 * scale))
            fail_msg("coordinate %zu: weighted sum %.9g, materialised %.9g (largest %.3g)", k,
                     (double)got[k] - before[k], want[k], scale);
    free(x);
    free(dout);
    free(before);
    free(got);
    free(want);
    mla_net_free(net);
}

static void check_preset(const char *name) {
    const char *spec = mla_preset_spec(name);
    assert_non_null(spec);
    check_spec(spec, true, 11);
    check_spec(spec, false, 12); /* the fused conv -> relu -> pool paths without kept activations */
}

static void test_mlp(void **state) {
    (void)state;
    check_preset("mlp");
}

static void test_cnn(void **state) {
    (void)state;
    check_preset("cnn");
}

/* Book-keeping on the presets DP-SGD trains: the convs' per-sample gradients kept
 * (default memory) or formed again (none kept), the fused conv -> relu -> pool with
 * and without kept activations. */
static void test_weighted_presets(void **state) {
    (void)state;
    check_weighted(mla_preset_spec("mlp"), false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 51);
    check_weighted(mla_preset_spec("cnn"), false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 52);
    check_weighted(mla_preset_spec("cnn"), true, MLA_PER_SAMPLE_MEMORY_DEFAULT, 53);
    check_weighted(mla_preset_spec("cnn"), false, 0, 54);
    /* room for the first conv's only: the second forms its gradients again */
    check_weighted(mla_preset_spec("cnn"), false, (size_t)N * (32 * 9 + 32) * sizeof(float), 55);
    check_weighted(mla_preset_spec("lenet5"), false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 56);
}

/* Strided and padded convs, a 32-filter conv whose per-sample gradient is formed
 * transposed, a pointwise conv, no bias, a dense without bias; kept and formed again.
 * A residual block with group norm (the branches' own weighted passes). */
static void test_weighted_convs(void **state) {
    (void)state;
    static const char spec[] =
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"stride\": 2, \"pad\": 1},"
        " {\"type\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3, \"pad\": 1},"
        " {\"type\": \"tanh\"}, {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 1, \"bias\": false},"
        " {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"kernel\": 2},"
        " {\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"bias\": false},"
        " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\", \"bias\": false}]}";
    check_weighted(spec, false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 61);
    check_weighted(spec, true, 0, 62);
    static const char residual[] =
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"stride\": 2, \"pad\": 1},"
        " {\"type\": \"relu\"},"
        " {\"type\": \"residual\", \"body\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1},"
        "   {\"type\": \"groupnorm\", \"groups\": 2}]},"
        " {\"type\": \"gap\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    check_weighted(residual, false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 63);
    check_weighted(residual, true, 0, 64);
}

static void test_lenet5(void **state) {
    (void)state;
    check_preset("lenet5");
}

static void test_dknn(void **state) {
    (void)state;
    check_preset("dknn");
    check_preset("advknn");
}

/* Strided and padded convs, a pointwise conv, no bias, inside residual blocks (identity
 * and projection shortcuts). */
static void test_residual(void **state) {
    (void)state;
    static const char spec[] =
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"stride\": 2, \"pad\": 1},"
        " {\"type\": \"relu\"},"
        " {\"type\": \"residual\", \"body\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1},"
        "   {\"type\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1, \"bias\": false}]},"
        " {\"type\": \"relu\"},"
        " {\"type\": \"residual\", \"body\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"stride\": 2,"
        "   \"pad\": 1}, {\"type\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"pad\": 1}],"
        "   \"shortcut\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 1, \"stride\": 2}]},"
        " {\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 1}, {\"type\": \"relu\"},"
        " {\"type\": \"gap\"}, {\"type\": \"dense\", \"units\": \"classes\", \"bias\": false}]}";
    check_spec(spec, true, 21);
    check_spec(spec, false, 22);
}

/* Layers without a formula (batch norm in evaluation mode, depthwise and transposed
 * convs, squeeze-and-excitation) go sample by sample inside the batched pass. */
static void test_fallback_layers(void **state) {
    (void)state;
    static const char spec[] =
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"stride\": 2},"
        " {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
        " {\"type\": \"dwconv2d\", \"kernel\": 3, \"pad\": 1},"
        " {\"type\": \"se\", \"units\": 4},"
        " {\"type\": \"convt2d\", \"filters\": 4, \"kernel\": 2, \"stride\": 2},"
        " {\"type\": \"tanh\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    check_spec(spec, true, 31);
    check_weighted(spec, false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 32); /* no weighted pass: a second backward */
}

/* Group norm's ghost norms (per-sample gamma and beta gradients from its own sums):
 * layer norm, 2 channels a group and instance norm, inside residual blocks (the
 * resnet-gn presets' pattern) and after a dense layer. */
static void test_groupnorm(void **state) {
    (void)state;
    static const char spec[] =
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"stride\": 2, \"bias\": false},"
        " {\"type\": \"groupnorm\", \"groups\": 4}, {\"type\": \"relu\"},"
        " {\"type\": \"residual\", \"body\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"stride\": 2,"
        "   \"pad\": 1, \"bias\": false}, {\"type\": \"groupnorm\", \"groups\": 1}, {\"type\": \"relu\"},"
        "   {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"pad\": 1, \"bias\": false},"
        "   {\"type\": \"groupnorm\", \"groups\": 16}],"
        "   \"shortcut\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 1, \"stride\": 2, \"bias\": false},"
        "   {\"type\": \"groupnorm\", \"groups\": 8}]},"
        " {\"type\": \"relu\"}, {\"type\": \"gap\"}, {\"type\": \"dense\", \"units\": 12},"
        " {\"type\": \"groupnorm\", \"groups\": 3}, {\"type\": \"tanh\"},"
        " {\"type\": \"dense\", \"units\": \"classes\"}]}";
    check_spec(spec, true, 41);
    check_spec(spec, false, 42);
    check_weighted(spec, false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 43);
}

/* The resnet20-gn preset, the DP-SGD variant of resnet20. */
static void test_resnet20_gn(void **state) {
    (void)state;
    check_preset("resnet20-gn");
    check_weighted(mla_preset_spec("resnet20-gn"), false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 44);
}

/* The portable family (OpenBLAS for every conv product), which MLA_ISA=portable picks:
 * ResNet-20's relu inputs come within 1e-6 of zero, so its weighted sum only matches the
 * reference when a sample's activations do not depend on the batch it runs in. */
static void test_resnet20_gn_portable(void **state) {
    (void)state;
    mla_isa_force(MLA_ISA_PORTABLE);
    assert_int_equal(mla_nn_kernels(), MLA_ISA_PORTABLE);
    check_weighted(mla_preset_spec("resnet20-gn"), false, MLA_PER_SAMPLE_MEMORY_DEFAULT, 44);
    mla_isa_force(-1);
}

/* What the references above rest on: a sample's conv activations have the same bits in a
 * batch as alone (on one thread of the team or the whole team), on every kernel family,
 * for a product OpenBLAS threads (16 x 784 x 144, ResNet's first stage) and one it does not. */
static void test_batch_invariant(void **state) {
    (void)state;
    static const char spec[] =
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\"},"
        " {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"pad\": 1},"
        " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    mla_net *net;
    if (mla_net_create(spec, fmnist, CLASSES, 71, &net)) fail_msg("%s", mla_last_error());
    size_t in = (size_t)mla_shape_size(fmnist), act = (size_t)16 * 28 * 28;
    float *x = malloc(N * in * sizeof(float)), *batch = malloc(N * act * sizeof(float));
    random_fill(x, N * in, 72, 1.0);
    for (int isa = MLA_ISA_PORTABLE; isa <= MLA_ISA_AVX512; isa++) {
        mla_isa_force(isa);
        if ((int)mla_nn_kernels() != isa) continue; /* not on this CPU or build */
        const float *y, *a;
        mla_shape shape;
        int n;
        assert_int_equal(mla_net_forward(net, x, N, false, &y), MLA_OK);
        assert_int_equal(mla_net_activation(net, "2", &a, &shape, &n), MLA_OK);
        assert_int_equal(mla_shape_size(shape), (int)act);
        memcpy(batch, a, N * act * sizeof(float));
        for (int i = 0; i < N; i++) {
            assert_int_equal(mla_net_forward(net, x + (size_t)i * in, 1, false, &y), MLA_OK);
            assert_int_equal(mla_net_activation(net, "2", &a, &shape, &n), MLA_OK);
            for (size_t k = 0; k < act; k++)
                if (a[k] != batch[(size_t)i * act + k])
                    fail_msg("%s: sample %d, value %zu: %.9g alone, %.9g in the batch", mla_isa_name(isa), i, k,
                             (double)a[k], (double)batch[(size_t)i * act + k]);
        }
    }
    mla_isa_force(-1);
    free(x);
    free(batch);
    mla_net_free(net);
}

/* Same input, same thread count: the same bits, call after call. */
static void test_repeatable(void **state) {
    (void)state;
    mla_net *net;
    assert_int_equal(mla_net_create(mla_preset_spec("cnn"), fmnist, CLASSES, 5, &net), MLA_OK);
    size_t in = (size_t)mla_shape_size(fmnist);
    float *x = malloc(N * in * sizeof(float)), dout[N * CLASSES], a[N], b[N];
    random_fill(x, N * in, 6, 1.0);
    random_fill(dout, N * CLASSES, 7, 1.0);
    const float *y;
    assert_int_equal(mla_net_forward(net, x, N, false, &y), MLA_OK);
    assert_int_equal(mla_net_per_sample_grad_norms(net, dout, a), MLA_OK);
    assert_int_equal(mla_net_per_sample_grad_norms(net, dout, b), MLA_OK);
    assert_memory_equal(a, b, sizeof a);
    free(x);
    mla_net_free(net);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp),      cmocka_unit_test(test_cnn),
        cmocka_unit_test(test_lenet5),   cmocka_unit_test(test_dknn),
        cmocka_unit_test(test_residual),
        cmocka_unit_test(test_fallback_layers), cmocka_unit_test(test_groupnorm),
        cmocka_unit_test(test_resnet20_gn),     cmocka_unit_test(test_resnet20_gn_portable),
        cmocka_unit_test(test_batch_invariant), cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_weighted_presets), cmocka_unit_test(test_weighted_convs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
