/* Agreement with PyTorch: with the same weights and input, the cnn preset, a ResNet
 * basic block (batch norm in training mode, projection shortcut) and a small group-norm
 * net give the logits, loss and gradients PyTorch computes (tests/golden/make_golden.py). This
 * also pins the weight layouts to PyTorch's, so saved models port both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "mlaudit/nn.h"

static void fill_like_golden(mla_net *net) {
    float *p = mla_net_params(net);
    int trainable = 0;
    for (int k = 0; k < mla_net_tensor_count(net); k++) {
        mla_tensor_info t;
        assert_int_equal(mla_net_tensor_info(net, k, &t), MLA_OK);
        if (!t.trainable) continue;
        for (size_t i = 0; i < t.count; i++) p[t.offset + i] = (float)(0.05 * sin(0.7 * (double)i + trainable));
        trainable++;
    }
}

static void assert_rel(double got, double want, double rtol, double atol, const char *what) {
    if (fabs(got - want) > atol + rtol * fabs(want)) fail_msg("%s: got %.9g, PyTorch %.9g", what, got, want);
}

static void check(const char *spec, mla_shape in, int classes, int n, const double *logits0, double loss_want,
                  double dx_sq_want, const double *gsum, const double *gsq) {
    mla_net *net;
    if (mla_net_create(spec, in, classes, 0, &net)) fail_msg("%s", mla_last_error());
    fill_like_golden(net);
    size_t count = (size_t)n * mla_shape_size(in);
    float *x = malloc(count * sizeof(float)), *dx = malloc(count * sizeof(float));
    float *dlogits = malloc((size_t)n * classes * sizeof(float));
    int32_t *y = malloc((size_t)n * sizeof(int32_t));
    for (size_t i = 0; i < count; i++) x[i] = (float)((double)((37 * i) % 251) / 251.0);
    for (int i = 0; i < n; i++) y[i] = i % classes;
    const float *out;
    assert_int_equal(mla_net_forward(net, x, n, true, &out), MLA_OK);
    for (int j = 0; j < classes; j++) assert_rel(out[j], logits0[j], 1e-3, 1e-6, "logit");
    float loss = mla_loss_softmax_ce(out, n, classes, y, NULL, dlogits, NULL);
    assert_rel(loss, loss_want, 1e-5, 0, "loss");
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_backward(net, dlogits, dx), MLA_OK);
    double dx_sq = 0;
    for (size_t i = 0; i < count; i++) dx_sq += (double)dx[i] * dx[i];
    assert_rel(dx_sq, dx_sq_want, 1e-3, 1e-12, "input gradient sum of squares");
    const float *g = mla_net_grads(net);
    int k = 0;
    for (int t = 0; t < mla_net_tensor_count(net); t++) {
        mla_tensor_info info;
        mla_net_tensor_info(net, t, &info);
        if (!info.trainable) continue;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < info.count; i++) {
            sum += g[info.offset + i];
            sq += (double)g[info.offset + i] * g[info.offset + i];
        }
        char what[200];
        snprintf(what, sizeof what, "gradient sum of %s", info.name);
        assert_rel(sum, gsum[k], 2e-3, 1e-6, what);
        snprintf(what, sizeof what, "gradient sum of squares of %s", info.name);
        assert_rel(sq, gsq[k], 2e-3, 1e-12, what);
        k++;
    }
    free(x);
    free(dx);
    free(dlogits);
    free(y);
    mla_net_free(net);
}

static void test_cnn_matches_pytorch(void **state) {
    (void)state;
    check(mla_preset_spec("cnn"), (mla_shape){1, 28, 28}, 10, 4, cnn_logits0, cnn_loss, cnn_dx_sq, cnn_grad_sum,
          cnn_grad_sq);
}

static const char resblock_spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1, \"bias\": false},"
    " {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
    " {\"type\": \"residual\", \"body\": ["
    "   {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"stride\": 2, \"pad\": 1, \"bias\": false},"
    "   {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
    "   {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"pad\": 1, \"bias\": false}, {\"type\": \"batchnorm\"}],"
    "  \"shortcut\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 1, \"stride\": 2, \"bias\": false},"
    "   {\"type\": \"batchnorm\"}]},"
    " {\"type\": \"relu\"}, {\"type\": \"gap\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";

static void test_resblock_matches_pytorch(void **state) {
    (void)state;
    check(resblock_spec, (mla_shape){3, 12, 12}, 5, 6, resblock_logits0, resblock_loss, resblock_dx_sq,
          resblock_grad_sum, resblock_grad_sq);
    /* Running variance after one training pass (unbiased, momentum 0.1). */
    mla_net *net;
    assert_int_equal(mla_net_create(resblock_spec, (mla_shape){3, 12, 12}, 5, 0, &net), MLA_OK);
    fill_like_golden(net);
    float x[6 * 3 * 12 * 12];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)((double)((37 * i) % 251) / 251.0);
    const float *out;
    assert_int_equal(mla_net_forward(net, x, 6, true, &out), MLA_OK);
    mla_tensor_info rv;
    int found = 0;
    for (int t = 0; t < mla_net_tensor_count(net); t++) {
        mla_net_tensor_info(net, t, &rv);
        if (!strcmp(rv.name, "1.running_var")) {
            found = 1;
            for (int c = 0; c < 8; c++)
                assert_rel(mla_net_params(net)[rv.offset + c], resblock_running_var0[c], 1e-5, 0, "running var");
            break;
        }
    }
    assert_true(found);
    mla_net_free(net);
}

/* Group norm (layer norm, 2 channels a group, instance norm) as PyTorch's GroupNorm:
 * no batch statistics, so training-mode values are per sample. */
static const char gnnet_spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1, \"bias\": false},"
    " {\"type\": \"groupnorm\", \"groups\": 4}, {\"type\": \"relu\"},"
    " {\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"stride\": 2, \"pad\": 1, \"bias\": false},"
    " {\"type\": \"groupnorm\", \"groups\": 1}, {\"type\": \"relu\"},"
    " {\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 1}, {\"type\": \"groupnorm\", \"groups\": 8},"
    " {\"type\": \"relu\"}, {\"type\": \"gap\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";

static void test_groupnorm_matches_pytorch(void **state) {
    (void)state;
    check(gnnet_spec, (mla_shape){3, 10, 10}, 5, 3, gnnet_logits0, gnnet_loss, gnnet_dx_sq, gnnet_grad_sum,
          gnnet_grad_sq);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_matches_pytorch),
        cmocka_unit_test(test_resblock_matches_pytorch),
        cmocka_unit_test(test_groupnorm_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
