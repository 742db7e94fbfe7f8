/* Tests of metrics.h: kappa, per-class scores, stratified folds and the CV grid
 * runner (the incomplete beta and Clopper-Pearson are tested in tests/scoring). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/metrics.h"

static void test_kappa_and_per_class(void **state) {
    (void)state;
    /* truth rows, predictions columns: p_o = 0.7, p_e = 0.5, kappa = 0.4 */
    int64_t cm[4] = {20, 5, 10, 15};
    assert_true(fabs(mla_cohen_kappa(cm, 2) - 0.4) < 1e-12);
    assert_true(fabs(mla_accuracy_from_confusion(cm, 2) - 0.7) < 1e-12);
    double sens[2], spec[2], bal[2];
    mla_per_class_scores(cm, 2, sens, spec, bal);
    assert_true(fabs(sens[0] - 0.8) < 1e-12 && fabs(sens[1] - 0.6) < 1e-12);
    assert_true(fabs(spec[0] - 0.6) < 1e-12 && fabs(spec[1] - 0.8) < 1e-12);
    assert_true(fabs(bal[0] - 0.7) < 1e-12);
    int32_t truth[5] = {0, 1, 2, 2, 1}, pred[5] = {0, 2, 2, 2, 1};
    int64_t cm3[9];
    assert_int_equal(mla_confusion_matrix(truth, pred, 5, 3, cm3), MLA_OK);
    assert_true(cm3[0] == 1 && cm3[5] == 1 && cm3[8] == 2 && cm3[4] == 1);
    int64_t perfect[4] = {3, 0, 0, 0};
    assert_true(mla_cohen_kappa(perfect, 2) == 1.0);
    pred[0] = 3;
    assert_int_equal(mla_confusion_matrix(truth, pred, 5, 3, cm3), MLA_ERR_INVALID);
}

static void test_stratified_folds(void **state) {
    (void)state;
    enum { N = 60, FOLDS = 5 };
    int32_t y[N], fold[N], again[N], other[N];
    for (int i = 0; i < N; i++) y[i] = i < 30 ? 0 : i < 50 ? 1 : 2; /* 30, 20, 10 */
    assert_int_equal(mla_stratified_folds(y, N, 3, FOLDS, 9, fold), MLA_OK);
    int per[FOLDS][3] = {{0}};
    for (int i = 0; i < N; i++) {
        assert_true(fold[i] >= 0 && fold[i] < FOLDS);
        per[fold[i]][y[i]]++;
    }
    for (int f = 0; f < FOLDS; f++) assert_true(per[f][0] == 6 && per[f][1] == 4 && per[f][2] == 2);
    assert_int_equal(mla_stratified_folds(y, N, 3, FOLDS, 9, again), MLA_OK);
    assert_memory_equal(fold, again, sizeof fold);
    assert_int_equal(mla_stratified_folds(y, N, 3, FOLDS, 10, other), MLA_OK);
    assert_true(memcmp(fold, other, sizeof fold) != 0);
    assert_int_equal(mla_stratified_folds(y, N, 3, 1, 9, fold), MLA_ERR_INVALID);
    assert_int_equal(mla_stratified_folds(y, N, 3, N + 1, 9, fold), MLA_ERR_INVALID);
}

/* Two noisy 1-D classes: kNN with k = 1 overfits, larger k does better. */
static void make_blobs(float *x, int32_t *y, int n) {
    mla_rng r;
    mla_rng_seed(&r, 4);
    for (int i = 0; i < n; i++) {
        y[i] = i % 2;
        x[2 * i] = (float)(y[i] * 1.5 + mla_rng_normal(&r));
        x[2 * i + 1] = (float)mla_rng_normal(&r);
    }
}

static void test_cv_grid_runs_and_refits(void **state) {
    (void)state;
    enum { N = 200 };
    float x[N * 2];
    int32_t y[N];
    make_blobs(x, y, N);
    double ks[3] = {1, 15, 31}, metric[2] = {0, 1};
    mla_grid_axis axes[2] = {{"k", ks, 3}, {"metric", metric, 2}};
    mla_cv_result *r = NULL;
    mla_classifier *best = NULL;
    assert_int_equal(mla_cv_grid("knn", NULL, 0, axes, 2, x, y, N, 2, 2, 5, 1, NULL, NULL, &r, &best), MLA_OK);
    assert_int_equal(r->n_settings, 6);
    assert_true(r->values[0] == 1 && r->values[1] == 0 && r->values[2] == 1 && r->values[3] == 1); /* last axis fastest */
    for (int s = 0; s < 6; s++) {
        assert_true(r->mean_accuracy[s] <= r->mean_accuracy[r->best]);
        double mean = 0;
        for (int f = 0; f < 5; f++) mean += r->fold_accuracy[s * 5 + f] / 5;
        assert_true(fabs(mean - r->mean_accuracy[s]) < 1e-12);
    }
    assert_true(r->values[r->best * 2] > 1); /* k = 1 is not the best on noisy classes */
    assert_true(r->mean_accuracy[r->best] > 0.7);
    assert_non_null(best);
    assert_int_equal(mla_classifier_dim(best), 2);
    mla_cv_result_free(r);
    mla_classifier_free(best);
}

static void test_cv_grid_errors(void **state) {
    (void)state;
    enum { N = 40 };
    float x[N * 2];
    int32_t y[N];
    make_blobs(x, y, N);
    double ks[1] = {3};
    mla_cv_result *r = NULL;
    mla_grid_axis empty = {"k", ks, 0};
    assert_int_equal(mla_cv_grid("knn", NULL, 0, &empty, 1, x, y, N, 2, 2, 5, 1, NULL, NULL, &r, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "no values"));
    mla_grid_axis bogus = {"leaf_size", ks, 1};
    assert_int_equal(mla_cv_grid("knn", NULL, 0, &bogus, 1, x, y, N, 2, 2, 5, 1, NULL, NULL, &r, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "leaf_size"));
    double big[1] = {39};
    mla_grid_axis too_big = {"k", big, 1};
    assert_int_equal(mla_cv_grid("knn", NULL, 0, &too_big, 1, x, y, N, 2, 2, 5, 1, NULL, NULL, &r, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "larger than the training set"));
    mla_param fixed = {"k", 3};
    mla_grid_axis k_axis = {"k", ks, 1};
    assert_int_equal(mla_cv_grid("knn", &fixed, 1, &k_axis, 1, x, y, N, 2, 2, 5, 1, NULL, NULL, &r, NULL), MLA_ERR_INVALID);
    assert_null(r);
}

int main(void) {
    mla_set_threads(1); /* OpenMP barriers spin on a busy machine; one thread keeps the suite quick */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kappa_and_per_class),
        cmocka_unit_test(test_stratified_folds),
        cmocka_unit_test(test_cv_grid_runs_and_refits),
        cmocka_unit_test(test_cv_grid_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
