/* mla_robust_audit against a direct computation from the parts: the evaluation set is
 * the test split less the seeded calibration set; the DNN's argmax, the kNN vote and the
 * DkNN's prediction on the clean images and on the returned adversarial images give
 * the same accuracies, success rates and credibilities; the perturbation figures are
 * recomputed from the images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

enum { NTR = 120, NTE = 60, C = 3, D = 36, K = 5, CAL = 12 };

static mla_dataset *synthetic(int n, uint64_t seed) {
    uint8_t *px = malloc((size_t)n * D);
    int32_t *y = malloc((size_t)n * sizeof(int32_t));
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        y[i] = i % C;
        for (int j = 0; j < D; j++) px[i * D + j] = (uint8_t)(mla_rng_below(&r, 100) + (j % C == y[i] ? 120 : 0));
    }
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(n, 1, 6, 6, px, NULL, y, C, &ds), MLA_OK);
    free(px);
    free(y);
    return ds;
}

static int argmax(const float *z, int k) {
    int b = 0;
    for (int j = 1; j < k; j++)
        if (z[j] > z[b]) b = j;
    return b;
}

/* Direct predictions of n images: DNN argmax, kNN at layer 1, DkNN and its credibility. */
static void direct(mla_net *net, mla_dknn *dk, const char *const *layers, const float *x, int n, int32_t *dnn,
                   int32_t *knn, int32_t *dknn, float *cred) {
    const float *z;
    assert_int_equal(mla_net_forward(net, x, n, false, &z), MLA_OK);
    for (int i = 0; i < n; i++) dnn[i] = argmax(z + (size_t)i * C, C);
    float *f[2];
    int dims[2];
    assert_int_equal(mla_net_layer_features(net, x, n, layers, 2, 7, f, dims), MLA_OK);
    assert_int_equal(mla_dknn_predict(dk, (const float *const *)f, n, dknn, cred, NULL, NULL), MLA_OK);
    int32_t *nb = malloc((size_t)n * 2 * K * sizeof(int32_t)), *one = malloc((size_t)n * K * sizeof(int32_t));
    assert_int_equal(mla_dknn_neighbors(dk, (const float *const *)f, n, nb, NULL), MLA_OK);
    for (int i = 0; i < n; i++) memcpy(one + i * K, nb + (i * 2 + 1) * K, K * sizeof(int32_t));
    mla_knn_vote(one, n, K, C, knn);
    free(nb), free(one), free(f[0]), free(f[1]);
}

static double acc(const int32_t *p, const int32_t *y, int n) {
    int r = 0;
    for (int i = 0; i < n; i++) r += p[i] == y[i];
    return (double)r / n;
}

static void test_audit_direct(void **st) {
    (void)st;
    mla_dataset *train = synthetic(NTR, 1), *test = synthetic(NTE, 2);
    mla_net *net;
    assert_int_equal(mla_net_create("{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 8, \"name\": "
                                    "\"h\"}, {\"type\": \"tanh\", \"name\": \"t\"}, {\"type\": \"dense\", \"units\": "
                                    "\"classes\", \"name\": \"logits\"}]}",
                                    (mla_shape){1, 6, 6}, C, 3, &net),
                     MLA_OK);
    const char *layers[2] = {"t", "logits"};
    const float eps[2] = {0.05f, 0.2f};
    mla_robust_config cfg = {.layers = layers, .n_layers = 2, .knn_layer = 1, .dknn = mla_dknn_defaults(),
                             .calibration = CAL, .seed = 4, .attack = mla_adv_defaults(MLA_ADV_BIM), .eps = eps,
                             .n_eps = 2, .credibility_threshold = 0.2f, .batch = 7};
    cfg.dknn.k = K;
    cfg.attack.iterations = 5;
    mla_robust_result r;
    assert_int_equal(mla_robust_audit(net, train, test, &cfg, &r), MLA_OK);

    /* The reference: all training images, the calibration set by its definition. */
    int32_t cal[CAL], ytr[NTR], yte[NTE];
    float *xtr = malloc(NTR * D * sizeof(float)), *xte = malloc(NTE * D * sizeof(float));
    mla_dataset_batch(train, NULL, 0, NTR, xtr, ytr);
    mla_dataset_batch(test, NULL, 0, NTE, xte, yte);
    assert_int_equal(mla_dknn_calibration_indices(yte, NTE, C, CAL / C, 4, cal), MLA_OK);
    float *f[2], cx[CAL * D];
    int dims[2];
    int32_t cy[CAL];
    assert_int_equal(mla_net_layer_features(net, xtr, NTR, layers, 2, 50, f, dims), MLA_OK);
    mla_dknn *dk;
    assert_int_equal(mla_dknn_create((const float *const *)f, dims, 2, ytr, NTR, C, &cfg.dknn, &dk), MLA_OK);
    free(f[0]), free(f[1]);
    for (int i = 0; i < CAL; i++) memcpy(cx + i * D, xte + cal[i] * D, D * sizeof(float)), cy[i] = yte[cal[i]];
    assert_int_equal(mla_net_layer_features(net, cx, CAL, layers, 2, 50, f, dims), MLA_OK);
    assert_int_equal(mla_dknn_calibrate(dk, (const float *const *)f, cy, CAL), MLA_OK);
    free(f[0]), free(f[1]);

    /* Evaluation set: every other test image, ascending. */
    assert_int_equal(r.n_eval, NTE - CAL);
    enum { NE = NTE - CAL };
    float ex[NE * D];
    int32_t ey[NE];
    for (int i = 0, e = 0, c = 0; i < NTE; i++) {
        if (c < CAL && cal[c] == i) {
            c++;
            continue;
        }
        assert_int_equal(r.eval_idx[e], i);
        memcpy(ex + e * D, xte + i * D, D * sizeof(float)), ey[e++] = yte[i];
    }
    int32_t dnn[NE], knn[NE], dknn[NE], adnn[NE], aknn[NE], adknn[NE];
    float cred[NE], acred[NE];
    direct(net, dk, layers, ex, NE, dnn, knn, dknn, cred);
    direct(net, dk, layers, r.examples, NE, adnn, aknn, adknn, acred);
    const mla_robust_point *p = &r.points[0];
    assert_float_equal(p->dnn.clean, acc(dnn, ey, NE), 1e-12);
    assert_float_equal(p->knn.clean, acc(knn, ey, NE), 1e-12);
    assert_float_equal(p->dknn.clean, acc(dknn, ey, NE), 1e-12);
    assert_float_equal(p->dnn.adversarial, acc(adnn, ey, NE), 1e-12);
    assert_float_equal(p->knn.adversarial, acc(aknn, ey, NE), 1e-12);
    assert_float_equal(p->dknn.adversarial, acc(adknn, ey, NE), 1e-12);
    assert_true(p->dnn.adversarial < p->dnn.clean);
    int right = 0, flipped = 0;
    double cs = 0, as = 0, l2 = 0, linf = 0;
    for (int i = 0; i < NE; i++) {
        if (dknn[i] == ey[i]) right++, flipped += adknn[i] != ey[i];
        cs += cred[i], as += acred[i];
        double sq = 0, mx = 0;
        for (int j = 0; j < D; j++) {
            double d = (double)r.examples[i * D + j] - ex[i * D + j];
            sq += d * d, mx = fmax(mx, fabs(d));
        }
        l2 += sqrt(sq) / NE, linf = fmax(linf, mx);
    }
    assert_float_equal(p->dknn.success_rate, (double)flipped / right, 1e-12);
    assert_float_equal(r.credibility_clean, cs / NE, 1e-6);
    assert_float_equal(p->credibility, as / NE, 1e-6);
    assert_float_equal(p->perturbation.l2_mean, l2, 1e-9);
    assert_float_equal(p->perturbation.linf_max, linf, 1e-12);
    assert_true(linf <= 0.05 + 1e-6);
    assert_true(r.points[1].perturbation.linf_max > 0.05 && r.points[1].perturbation.linf_max <= 0.2 + 1e-6);
    mla_robust_result_free(&r);

    /* Bad settings: k above the training set, calibration above the test set. */
    cfg.dknn.k = NTR + 1;
    assert_int_equal(mla_robust_audit(net, train, test, &cfg, &r), MLA_ERR_INVALID);
    cfg.dknn.k = K;
    cfg.calibration = NTE + 3;
    assert_int_equal(mla_robust_audit(net, train, test, &cfg, &r), MLA_ERR_INVALID);
    mla_dknn_free(dk);
    free(xtr), free(xte);
    mla_net_free(net);
    mla_dataset_free(train);
    mla_dataset_free(test);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_audit_direct)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
