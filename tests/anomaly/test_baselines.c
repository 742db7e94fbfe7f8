/* Tests of the baseline methods (anomaly.h): knn's scores equal brute-force distances
 * to the k-th nearest normal training image (known ties included) and separate a
 * far-away anomaly perfectly; ae, dsvdd and knn-ae train in a second on tiny bar
 * images and separate the unseen bars; bad settings are refused with one clear line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly/anomaly_impl.h"
#include "common/toy_data.h"
#include "mlaudit/anomaly.h"

/* ---- knn ---- */

/* 1 x 1 x 4 float images: normal ones on the line t (1, 1, 1, 1), t in [0, 1]; the
 * anomalies at (3, -2, 3, -2) + small noise, far from that line. Label 0 normal, 1
 * anomalous. */
static mla_dataset *line_data(int n, uint64_t seed, int anomalies) {
    float *x = malloc(sizeof(float) * 4 * (size_t)n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        y[i] = anomalies && i % 4 == 0;
        double t = mla_rng_uniform(&r);
        for (int k = 0; k < 4; k++)
            x[i * 4 + k] = y[i] ? (float)((k % 2 ? -2 : 3) + 0.1 * mla_rng_uniform(&r)) : (float)t;
    }
    mla_dataset *ds = NULL;
    assert_int_equal(mla_dataset_from_memory(n, 1, 1, 4, NULL, x, y, 2, &ds), MLA_OK);
    free(x), free(y);
    return ds;
}

static double brute_kth(const float *train, int n, const float *q, int k) {
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++) s += ((double)train[i * 4 + j] - q[j]) * ((double)train[i * 4 + j] - q[j]);
        d[i] = sqrt(s);
    }
    for (int a = 0; a < k; a++) /* partial selection sort */
        for (int b = a + 1; b < n; b++)
            if (d[b] < d[a]) {
                double t = d[a];
                d[a] = d[b], d[b] = t;
            }
    double v = d[k - 1];
    free(d);
    return v;
}

static void test_knn_line(void **state) {
    (void)state;
    mla_dataset *tr = line_data(200, 1, 0), *te = line_data(120, 2, 1);
    mla_anomaly_config cfg = mla_anomaly_defaults();
    const float *tx = mla_dataset_pixels_f32(tr), *qx = mla_dataset_pixels_f32(te);
    int32_t train[150], test[120];
    for (int i = 0; i < 150; i++) train[i] = i;
    for (int i = 0; i < 120; i++) test[i] = i;
    for (int k = 1; k <= 3; k += 2) {
        cfg.k = k;
        void *st;
        double sc[120];
        assert_int_equal(mla_anomaly_knn.fit(&cfg, tr, train, 150, train + 150, 0, &st), MLA_OK);
        assert_int_equal(mla_anomaly_knn.score(st, te, test, 120, sc, NULL), MLA_OK);
        for (int i = 0; i < 120; i++) assert_true(fabs(sc[i] - brute_kth(tx, 150, qx + i * 4, k)) < 1e-6);
        mla_anomaly_knn.free(st);
    }
    /* through the runner: one-in, class 0 normal; the far points give AUROC = AUPR = 1 */
    mla_anomaly_protocol_config pc = mla_anomaly_protocol_defaults();
    pc.protocol = MLA_ANOMALY_ONE_IN, pc.cls = 0;
    cfg.k = 1;
    const mla_anomaly_method *m = &mla_anomaly_knn;
    mla_anomaly_result r;
    assert_int_equal(mla_anomaly_run(tr, te, &pc, &cfg, &m, 1, &r), MLA_OK);
    assert_true(r.methods[0].per_class[0].auroc.mean == 1.0 && r.methods[0].per_class[0].aupr.mean == 1.0);
    /* F1 at the 95th percentile of the validation distances: every anomaly is caught, the
     * false positives are the normal test points beyond that threshold */
    const mla_anomaly_class_result *c = &r.methods[0].per_class[0];
    double t = c->seed_metrics[0].threshold, fp = 0, tp = 0;
    for (int i = 0; i < c->split.n_test; i++) fp += !c->split.anomaly[i] && c->scores[i] >= t, tp += c->split.anomaly[i];
    assert_true(fabs(c->f1.mean - 2 * tp / (2 * tp + fp)) < 1e-15);
    assert_true(t > 0 && t < 0.1);
    mla_anomaly_result_free(&r);
    mla_dataset_free(tr), mla_dataset_free(te);
}

/* Training points 0 and 2 (all four coordinates); a query at 1 is 2 from both: the
 * first and second neighbours tie, so k = 1 and k = 2 give the same score 2; k = 3
 * refused (only 2 training images). */
static void test_knn_ties(void **state) {
    (void)state;
    float x[12] = {0, 0, 0, 0, 2, 2, 2, 2, 1, 1, 1, 1};
    int32_t y[3] = {0, 0, 1};
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(3, 1, 1, 4, NULL, x, y, 2, &ds), MLA_OK);
    mla_anomaly_config cfg = mla_anomaly_defaults();
    int32_t train[2] = {0, 1}, q[3] = {2, 0, 1};
    for (int k = 1; k <= 2; k++) {
        cfg.k = k;
        void *st;
        double sc[3];
        assert_int_equal(mla_anomaly_knn.fit(&cfg, ds, train, 2, NULL, 0, &st), MLA_OK);
        assert_int_equal(mla_anomaly_knn.score(st, ds, q, 3, sc, NULL), MLA_OK);
        assert_true(sc[0] == 2.0);
        assert_true(sc[1] == (k == 1 ? 0.0 : 4.0) && sc[2] == (k == 1 ? 0.0 : 4.0));
        mla_anomaly_knn.free(st);
    }
    cfg.k = 3;
    void *st = NULL;
    assert_int_equal(mla_anomaly_knn.fit(&cfg, ds, train, 2, NULL, 0, &st), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "k = 3 exceeds the 2"));
    mla_dataset_free(ds);
}

/* ---- the trained baselines on bar images ---- */

static int epochs_seen;
static mla_status count_epochs(void *user, const char *method, int epoch, int epochs, double loss) {
    (void)user, (void)method, (void)epochs;
    assert_true(isfinite(loss));
    epochs_seen = epoch;
    return MLA_OK;
}

/* One-in on toy bars (class 0: the bar in rows 0-2 is normal): AUROC of each method. */
static void test_trained_baselines(void **state) {
    (void)state;
    mla_dataset *all = toy_bars(600), *tr, *te;
    int32_t idx[600];
    for (int i = 0; i < 600; i++) idx[i] = i;
    assert_int_equal(mla_dataset_select(all, idx, 450, &tr), MLA_OK);
    assert_int_equal(mla_dataset_select(all, idx + 450, 150, &te), MLA_OK);
    mla_anomaly_protocol_config pc = mla_anomaly_protocol_defaults();
    pc.protocol = MLA_ANOMALY_ONE_IN, pc.cls = 0;
    mla_anomaly_config cfg = mla_anomaly_defaults();
    cfg.epochs = 15, cfg.batch = 16, cfg.threads = 1, cfg.seed = 3, cfg.latent = 8;
    cfg.progress = count_epochs;
    const mla_anomaly_method *ms[3] = {&mla_anomaly_ae, &mla_anomaly_dsvdd, &mla_anomaly_knn_ae};
    mla_anomaly_result r;
    assert_int_equal(mla_anomaly_run(tr, te, &pc, &cfg, ms, 3, &r), MLA_OK);
    assert_int_equal(epochs_seen, 15);
    for (int m = 0; m < 3; m++) {
        double auc = r.methods[m].per_class[0].auroc.mean;
        print_message("%s: AUROC %.4f AUPR %.4f\n", ms[m]->name, auc, r.methods[m].per_class[0].aupr.mean);
        assert_true(auc > 0.9);
    }
    /* same seed and threads: the same bits */
    mla_anomaly_result r2;
    assert_int_equal(mla_anomaly_run(tr, te, &pc, &cfg, ms, 1, &r2), MLA_OK);
    assert_true(memcmp(r.methods[0].per_class[0].scores, r2.methods[0].per_class[0].scores,
                       sizeof(double) * (size_t)r.methods[0].per_class[0].split.n_test) == 0);
    mla_anomaly_result_free(&r2);
    mla_anomaly_result_free(&r);
    mla_dataset_free(all), mla_dataset_free(tr), mla_dataset_free(te);
}

static void test_bad_shapes(void **state) {
    (void)state;
    mla_dataset *tr = line_data(40, 1, 0); /* 1 x 1 x 4: not a multiple of 4 in height */
    mla_anomaly_config cfg = mla_anomaly_defaults();
    int32_t idx[40];
    for (int i = 0; i < 40; i++) idx[i] = i;
    void *st = NULL;
    assert_int_equal(mla_anomaly_ae.fit(&cfg, tr, idx, 40, NULL, 0, &st), MLA_ERR_SHAPE);
    assert_non_null(strstr(mla_last_error(), "multiples of 4"));
    assert_int_equal(mla_anomaly_dsvdd.fit(&cfg, tr, idx, 40, NULL, 0, &st), MLA_ERR_SHAPE);
    assert_null(st);
    mla_dataset_free(tr);
}

/* CIFAR-10's shape (3 x 32 x 32) and MNIST's (1 x 28 x 28): every trained method fits
 * and gives finite scores. */
static void test_image_shapes(void **state) {
    (void)state;
    const int shapes[2][3] = {{3, 32, 32}, {1, 28, 28}};
    for (int k = 0; k < 2; k++) {
        int c = shapes[k][0], h = shapes[k][1], w = shapes[k][2], n = 24, dim = c * h * w;
        uint8_t *px = malloc((size_t)n * dim);
        int32_t y[24], idx[24];
        mla_rng r;
        mla_rng_seed(&r, 9);
        for (int i = 0; i < n * dim; i++) px[i] = (uint8_t)mla_rng_below(&r, 256);
        for (int i = 0; i < n; i++) y[i] = i % 2, idx[i] = i;
        mla_dataset *ds;
        assert_int_equal(mla_dataset_from_memory(n, c, h, w, px, NULL, y, 2, &ds), MLA_OK);
        mla_anomaly_config cfg = mla_anomaly_defaults();
        cfg.epochs = 1, cfg.batch = 8, cfg.threads = 1;
        const mla_anomaly_method *ms[3] = {&mla_anomaly_ae, &mla_anomaly_dsvdd, &mla_anomaly_knn_ae};
        for (int m = 0; m < 3; m++) {
            void *st;
            double sc[8];
            assert_int_equal(ms[m]->fit(&cfg, ds, idx, 16, NULL, 0, &st), MLA_OK);
            assert_int_equal(ms[m]->score(st, ds, idx + 16, 8, sc, NULL), MLA_OK);
            for (int i = 0; i < 8; i++) assert_true(isfinite(sc[i]) && sc[i] >= 0);
            ms[m]->free(st);
        }
        mla_dataset_free(ds);
        free(px);
    }
}

/* Pixels near FLT_MAX's square root make the mean squared error overflow: training stops
 * with an error naming the method, and no state is left. */
static void test_divergence_stops(void **state) {
    (void)state;
    float x[8 * 16];
    int32_t y[8], idx[8];
    for (int i = 0; i < 8 * 16; i++) x[i] = 3e19f * (float)(i % 3);
    for (int i = 0; i < 8; i++) y[i] = i % 2, idx[i] = i;
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(8, 1, 4, 4, NULL, x, y, 2, &ds), MLA_OK);
    mla_anomaly_config cfg = mla_anomaly_defaults();
    cfg.epochs = 1, cfg.threads = 1;
    void *st = NULL;
    assert_int_equal(mla_anomaly_ae.fit(&cfg, ds, idx, 8, NULL, 0, &st), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "ae: the loss diverged"));
    assert_null(st);
    mla_dataset_free(ds);
}

/* Deep SVDD's loss against central finite differences (double steps on float inputs). */
static void test_centre_loss_gradient(void **state) {
    (void)state;
    enum { N = 3, L = 5 };
    float y[N * L], c[L], dy[N * L];
    mla_rng r;
    mla_rng_seed(&r, 4);
    for (int i = 0; i < N * L; i++) y[i] = (float)mla_rng_normal(&r);
    for (int k = 0; k < L; k++) c[k] = (float)mla_rng_normal(&r);
    double loss = anomaly_centre_loss(y, N, L, c, dy), direct = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < L; k++) direct += ((double)y[i * L + k] - c[k]) * ((double)y[i * L + k] - c[k]) / N;
    assert_true(fabs(loss - direct) < 1e-12);
    for (int i = 0; i < N * L; i++) {
        float keep = y[i], h = 1e-2f;
        y[i] = keep + h;
        double up = anomaly_centre_loss(y, N, L, c, NULL);
        y[i] = keep - h;
        double down = anomaly_centre_loss(y, N, L, c, NULL);
        y[i] = keep;
        double fd = (up - down) / ((double)(keep + h) - (double)(keep - h));
        if (fabs(fd - dy[i]) > 1e-5) fail_msg("dy[%d] = %g, finite difference %g", i, dy[i], fd);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knn_line),
        cmocka_unit_test(test_knn_ties),
        cmocka_unit_test(test_trained_baselines),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_centre_loss_gradient),
        cmocka_unit_test(test_image_shapes),
        cmocka_unit_test(test_divergence_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
