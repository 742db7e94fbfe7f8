/* mla_robust_audit against a direct computation from the parts: the evaluation set is
 * the test split less the seeded calibration set; the DNN's argmax, the kNN vote and the
 * DkNN's prediction on the clean images and on the returned adversarial images give
 * the same accuracies, success rates and credibilities; the perturbation figures are
 * recomputed from the images. Several runs on one audit (mla_robust_audit_runs) give
 * each single run's results bit for bit, reported run by run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

enum { NTR = 120, NTE = 60, C = 3, D = 36, K = 5, CAL = 12, NE = NTE - CAL };

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
    assert_int_equal(mla_knn_vote(one, n, K, C, knn), MLA_OK);
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

/* The reference DkNN (all training images, calibrated on the seeded calibration set) and
 * the evaluation images (the rest of the test split), built directly. */
static mla_dknn *direct_reference(mla_net *net, const mla_dataset *train, const mla_dataset *test,
                                  const mla_robust_config *cfg, float *xtr, int32_t *ytr, float *ex, int32_t *ey) {
    int32_t cal[CAL], yte[NTE], cy[CAL];
    float *xte = malloc(NTE * D * sizeof(float)), cx[CAL * D], *f[2];
    int dims[2];
    mla_dataset_batch(train, NULL, 0, NTR, xtr, ytr);
    mla_dataset_batch(test, NULL, 0, NTE, xte, yte);
    assert_int_equal(mla_dknn_calibration_indices(yte, NTE, C, CAL / C, cfg->seed, cal), MLA_OK);
    assert_int_equal(mla_net_layer_features(net, xtr, NTR, cfg->layers, 2, 50, f, dims), MLA_OK);
    mla_dknn *dk;
    assert_int_equal(mla_dknn_create((const float *const *)f, dims, 2, ytr, NTR, C, &cfg->dknn, &dk), MLA_OK);
    free(f[0]), free(f[1]);
    for (int i = 0; i < CAL; i++) memcpy(cx + i * D, xte + cal[i] * D, D * sizeof(float)), cy[i] = yte[cal[i]];
    assert_int_equal(mla_net_layer_features(net, cx, CAL, cfg->layers, 2, 50, f, dims), MLA_OK);
    assert_int_equal(mla_dknn_calibrate(dk, (const float *const *)f, cy, CAL), MLA_OK);
    free(f[0]), free(f[1]);
    for (int i = 0, e = 0, c = 0; i < NTE; i++) {
        if (c < CAL && cal[c] == i) {
            c++;
            continue;
        }
        memcpy(ex + e * D, xte + i * D, D * sizeof(float)), ey[e++] = yte[i];
    }
    free(xte);
    return dk;
}

/* The attacked net (seed 3) and the transfer net (seed 8) of the tests below: a dense
 * layer "h", its tanh "t" and the logits. */
static mla_net *tanh_net(uint64_t seed) {
    const char spec[] = "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 8, \"name\": \"h\"},"
                        " {\"type\": \"tanh\", \"name\": \"t\"}, {\"type\": \"dense\", \"units\": \"classes\", \"name\": \"logits\"}]}";
    mla_net *net;
    assert_int_equal(mla_net_create(spec, (mla_shape){1, 6, 6}, C, seed, &net), MLA_OK);
    return net;
}

static void argmax_all(const mla_adv_model *m, const float *x, int n, int32_t *pred) {
    const float *z;
    assert_int_equal(m->forward(m->user, x, n, &z), MLA_OK);
    for (int i = 0; i < n; i++) pred[i] = argmax(z + (size_t)i * m->classes, m->classes);
}

/* Through a DkNNB+CL with a transfer model and a grid; then through the SW attack: the
 * adversarial images are those of the attack run directly on a DkNNB / SW model built
 * directly (same bits), and the DkNNB, transfer, rescaled-L2 and grid figures follow. */
static void test_audit_through(void **st) {
    (void)st;
    mla_dataset *train = synthetic(NTR, 1), *test = synthetic(NTE, 2);
    mla_net *net = tanh_net(3), *other = tanh_net(8);
    const char *layers[2] = {"t", "logits"};
    const float eps[1] = {0.1f};
    mla_robust_config cfg = {.layers = layers, .n_layers = 2, .knn_layer = 1, .dknn = mla_dknn_defaults(),
                             .calibration = CAL, .seed = 4, .attack = mla_adv_defaults(MLA_ADV_BIM), .eps = eps,
                             .n_eps = 1, .credibility_threshold = 0.2f, .batch = 7, .through = MLA_THROUGH_DKNNB_CL,
                             .dknnb = mla_dknnb_defaults(), .transfer = other, .grid = 3, .sw_guides = 4};
    cfg.dknn.k = K;
    cfg.attack.iterations = 5, cfg.attack.batch = 16;
    cfg.dknnb.layer = "t", cfg.dknnb.knn = cfg.dknn, cfg.dknnb.epochs = 2, cfg.dknnb.batch = 16, cfg.dknnb.seed = 5;
    mla_robust_result r;
    assert_int_equal(mla_robust_audit(net, train, test, &cfg, &r), MLA_OK);
    float *xtr = malloc(NTR * D * sizeof(float)), ex[NE * D], adv[NE * D];
    int32_t ytr[NTR], ey[NE];
    mla_dknn *dk = direct_reference(net, train, test, &cfg, xtr, ytr, ex, ey);
    mla_dknnb_config dc = cfg.dknnb;
    dc.consistency = true;
    mla_dknnb *b;
    assert_int_equal(mla_dknnb_train(net, xtr, NULL, ytr, NTR, &dc, &b), MLA_OK);
    mla_adv_model m = mla_dknnb_model(b);
    mla_adv_config ac = cfg.attack;
    ac.eps = eps[0];
    assert_int_equal(mla_adv_run(&m, &ac, ex, ey, NULL, NE, adv), MLA_OK);
    assert_memory_equal(adv, r.examples, sizeof adv);
    int32_t pc[NE], pa[NE];
    const mla_robust_point *p = &r.points[0];
    argmax_all(&m, ex, NE, pc);
    argmax_all(&m, adv, NE, pa);
    assert_float_equal(p->dknnb.clean, acc(pc, ey, NE), 1e-12);
    assert_float_equal(p->dknnb.adversarial, acc(pa, ey, NE), 1e-12);
    assert_true(p->dknnb.adversarial < p->dknnb.clean);
    mla_adv_model t = mla_adv_model_net(other);
    argmax_all(&t, ex, NE, pc);
    argmax_all(&t, adv, NE, pa);
    assert_float_equal(p->transfer.clean, acc(pc, ey, NE), 1e-12);
    assert_float_equal(p->transfer.adversarial, acc(pa, ey, NE), 1e-12);
    /* rescaled L2 over the DkNN's adversarial errors; the grid's neighbours */
    int32_t dnn[NE], knn[NE], dknn[NE];
    float cred[NE];
    direct(net, dk, layers, adv, NE, dnn, knn, dknn, cred);
    double sum = 0;
    int wrong = 0;
    for (int i = 0; i < NE; i++) {
        if (dknn[i] == ey[i]) continue;
        double sq = 0;
        for (int j = 0; j < D; j++) sq += ((double)adv[i * D + j] - ex[i * D + j]) * ((double)adv[i * D + j] - ex[i * D + j]);
        sum += 255 * sqrt(sq) / D, wrong++;
    }
    assert_true(wrong > 0);
    assert_float_equal(p->l2_rescaled, sum / wrong, 1e-9);
    assert_int_equal(r.n_grid, 3);
    for (int side = 0; side < 2; side++) {
        float *f[2];
        int dims[2];
        int32_t nb[3 * 2 * K], idx[3 * 2 * K];
        assert_int_equal(mla_net_layer_features(net, side ? adv : ex, 3, layers, 2, 3, f, dims), MLA_OK);
        assert_int_equal(mla_dknn_neighbors(dk, (const float *const *)f, 3, nb, idx), MLA_OK);
        for (int i = 0; i < 3; i++)
            for (int l = 0; l < 2; l++)
                for (int j = 0; j < MLA_ROBUST_GRID_NEIGHBORS; j++)
                    assert_int_equal(r.grid_nb[((side * 3 + i) * 2 + l) * MLA_ROBUST_GRID_NEIGHBORS + j],
                                     idx[(i * 2 + l) * K + j]);
        free(f[0]), free(f[1]);
    }
    mla_robust_result_free(&r);
    mla_dknnb_free(b);

    /* Through SW: the images of the SW model run directly. */
    cfg.through = MLA_THROUGH_SW, cfg.transfer = NULL, cfg.grid = 0;
    assert_int_equal(mla_robust_audit(net, train, test, &cfg, &r), MLA_OK);
    mla_sw *sw;
    assert_int_equal(mla_sw_create(net, layers, 2, xtr, NULL, ytr, NTR, ex, ey, NE, 4, 7, &sw), MLA_OK);
    m = mla_sw_model(sw);
    int32_t zeros[NE] = {0};
    assert_int_equal(mla_adv_run(&m, &ac, ex, zeros, NULL, NE, adv), MLA_OK);
    assert_memory_equal(adv, r.examples, sizeof adv);
    assert_true(isnan(r.points[0].dknnb.clean) && isnan(r.points[0].transfer.clean));
    mla_robust_result_free(&r);
    cfg.attack.targeted = true;
    assert_int_equal(mla_robust_audit(net, train, test, &cfg, &r), MLA_ERR_INVALID);
    mla_sw_free(sw);
    mla_dknn_free(dk);
    free(xtr);
    mla_net_free(net), mla_net_free(other);
    mla_dataset_free(train), mla_dataset_free(test);
}

/* Two results are the same bits: every figure, buffer and index (NaN equals NaN). */
static void same_result(const mla_robust_result *a, const mla_robust_result *b, int layers) {
    assert_int_equal(a->n_train, b->n_train);
    assert_int_equal(a->n_calibration, b->n_calibration);
    assert_int_equal(a->n_eval, b->n_eval);
    assert_int_equal(a->n_points, b->n_points);
    assert_int_equal(a->n_grid, b->n_grid);
    assert_memory_equal(a->eval_idx, b->eval_idx, (size_t)a->n_eval * sizeof(int32_t));
    assert_memory_equal(a->examples, b->examples, (size_t)a->n_eval * D * sizeof(float));
    assert_memory_equal(a->cred_clean, b->cred_clean, (size_t)a->n_eval * sizeof(float));
    assert_memory_equal(a->cred_adv, b->cred_adv, (size_t)a->n_eval * sizeof(float));
    double fa[3] = {a->credibility_clean, a->rejected_clean, a->accuracy_kept};
    double fb[3] = {b->credibility_clean, b->rejected_clean, b->accuracy_kept};
    assert_memory_equal(fa, fb, sizeof fa);
    /* every field of the points (doubles, ints and floats, no padding read: compare by value) */
    for (int e = 0; e < a->n_points; e++) {
        const mla_robust_point *p = &a->points[e], *q = &b->points[e];
        const mla_robust_rates *rp[5] = {&p->dnn, &p->knn, &p->dknn, &p->dknnb, &p->transfer};
        const mla_robust_rates *rq[5] = {&q->dnn, &q->knn, &q->dknn, &q->dknnb, &q->transfer};
        for (int i = 0; i < 5; i++) assert_memory_equal(rp[i], rq[i], sizeof *rp[i]);
        assert_true(p->eps == q->eps && p->perturbation.n_success == q->perturbation.n_success);
        double dp[10] = {p->perturbation.l2_mean, p->perturbation.l2_median, p->perturbation.linf_mean,
                         p->perturbation.linf_max, p->perturbation.l2_mean_success, p->perturbation.l2_median_success,
                         p->perturbation.linf_mean_success, p->l2_rescaled, p->credibility, p->rejected};
        double dq[10] = {q->perturbation.l2_mean, q->perturbation.l2_median, q->perturbation.linf_mean,
                         q->perturbation.linf_max, q->perturbation.l2_mean_success, q->perturbation.l2_median_success,
                         q->perturbation.linf_mean_success, q->l2_rescaled, q->credibility, q->rejected};
        assert_memory_equal(dp, dq, sizeof dp);
    }
    if (a->n_grid)
        assert_memory_equal(a->grid_nb, b->grid_nb,
                            (size_t)2 * a->n_grid * layers * MLA_ROBUST_GRID_NEIGHBORS * sizeof(int32_t));
}

/* The done callback: called once per run, in order, with that run's complete result. */
typedef struct {
    mla_robust_result *outs;
    int calls, fail_at; /* fail_at: the run whose callback fails (0: none) */
} seen_runs;

static mla_status on_done(void *user, int run, const mla_robust_result *r, const double *seconds) {
    seen_runs *s = user;
    assert_int_equal(run, s->calls++);
    assert_ptr_equal(r, &s->outs[run]);
    assert_true(r->n_points >= 1 && r->examples && seconds[0] >= 0 && seconds[1 + run] >= 0);
    return s->fail_at && run == s->fail_at ? MLA_ERR_IO : MLA_OK;
}

/* FGSM and BIM through the DNN, both DkNNBs and SW, PGD targeted, one audit: each run's
 * result is the single run's; runs that differ in a shared setting are refused. */
static void test_audit_runs(void **st) {
    (void)st;
    mla_dataset *train = synthetic(NTR, 1), *test = synthetic(NTE, 2);
    mla_net *net = tanh_net(3), *other = tanh_net(8);
    const char *layers[2] = {"t", "logits"};
    const float eps[2] = {0.1f, 0.3f};
    mla_robust_config base = {.layers = layers, .n_layers = 2, .knn_layer = 1, .dknn = mla_dknn_defaults(),
                              .calibration = CAL, .seed = 4, .eps = eps, .n_eps = 1, .credibility_threshold = 0.2f,
                              .batch = 7, .dknnb = mla_dknnb_defaults(), .transfer = other, .grid = 2, .sw_guides = 4};
    base.dknn.k = K;
    base.dknnb.layer = "t", base.dknnb.knn = base.dknn, base.dknnb.epochs = 2, base.dknnb.batch = 16, base.dknnb.seed = 5;
    enum { R = 6 };
    const mla_adv_kind kinds[R] = {MLA_ADV_FGSM, MLA_ADV_BIM, MLA_ADV_BIM, MLA_ADV_FGSM, MLA_ADV_BIM, MLA_ADV_PGD};
    const mla_robust_through th[R] = {MLA_THROUGH_DNN, MLA_THROUGH_DKNNB_CL, MLA_THROUGH_DKNNB, MLA_THROUGH_DKNNB_CL,
                                      MLA_THROUGH_SW, MLA_THROUGH_DNN};
    mla_robust_config cfgs[R];
    for (int i = 0; i < R; i++) {
        cfgs[i] = base;
        cfgs[i].attack = mla_adv_defaults(kinds[i]);
        cfgs[i].attack.iterations = 4, cfgs[i].attack.batch = 16;
        cfgs[i].through = th[i];
        if (i == 0) cfgs[i].n_eps = 2;
        if (i == 5) cfgs[i].attack.targeted = true;
    }
    mla_robust_result many[R], one;
    double sec[R + 1];
    seen_runs seen = {.outs = many};
    assert_int_equal(mla_robust_audit_runs(net, train, test, cfgs, R, many, sec, on_done, &seen), MLA_OK);
    assert_int_equal(seen.calls, R);
    for (int i = 0; i < R; i++) {
        assert_true(sec[i] >= 0 && sec[i + 1] >= 0);
        assert_int_equal(mla_robust_audit(net, train, test, &cfgs[i], &one), MLA_OK);
        same_result(&many[i], &one, 2);
        mla_robust_result_free(&one);
    }
    assert_int_equal(many[0].n_points, 2);
    assert_true(isnan(many[0].points[0].dknnb.clean) && !isnan(many[1].points[0].dknnb.clean));
    for (int i = 0; i < R; i++) mla_robust_result_free(&many[i]);
    /* a callback's error stops the audit with it, every result left empty */
    seen = (seen_runs){.outs = many, .fail_at = 2};
    assert_int_equal(mla_robust_audit_runs(net, train, test, cfgs, R, many, NULL, on_done, &seen), MLA_ERR_IO);
    assert_int_equal(seen.calls, 3);
    for (int i = 0; i < R; i++) assert_null(many[i].points);
    /* a shared setting that differs: refused, naming it, every result left empty */
    cfgs[3].dknn.k = K + 1;
    assert_int_equal(mla_robust_audit_runs(net, train, test, cfgs, R, many, NULL, NULL, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "run 4 differs from run 1 in its kNN options"));
    assert_null(many[0].points);
    cfgs[3].dknn.k = K, cfgs[3].dknnb.epochs = 3;
    assert_int_equal(mla_robust_audit_runs(net, train, test, cfgs, R, many, NULL, NULL, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "DkNNB settings"));
    mla_net_free(net), mla_net_free(other);
    mla_dataset_free(train), mla_dataset_free(test);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_audit_direct), cmocka_unit_test(test_audit_through),
                                       cmocka_unit_test(test_audit_runs)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
