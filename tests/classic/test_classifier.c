/* Tests of the classifier interface (classic.h): kinds and hyperparameter names, the
 * kNN vote and its tie rule, and model files (round trips for every kind, corruption). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlaudit/classic.h"

static void temp_path(char *path) {
    strcpy(path, "/tmp/mla_classifier_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

static void test_kinds_and_parameter_names(void **state) {
    (void)state;
    const char *const *kinds = mla_classifier_kinds();
    const char *want[] = {"knn", "svm", "logreg", "nb", "rf", "gbm"};
    for (int i = 0; i < 6; i++) assert_string_equal(kinds[i], want[i]);
    mla_classifier *c = NULL;
    assert_int_equal(mla_classifier_create("forest", NULL, 0, 0, &c), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "'forest'"));
    assert_non_null(strstr(mla_last_error(), "knn, svm, logreg"));
    mla_param bad = {"neighbours", 3};
    assert_int_equal(mla_classifier_create("knn", &bad, 1, 0, &c), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "'neighbours'"));
    assert_non_null(strstr(mla_last_error(), "accepted: k, metric"));
    mla_param twice[2] = {{"k", 3}, {"k", 5}};
    assert_int_equal(mla_classifier_create("knn", twice, 2, 0, &c), MLA_ERR_INVALID);
    mla_param nan_value = {"k", NAN};
    assert_int_equal(mla_classifier_create("knn", &nan_value, 1, 0, &c), MLA_ERR_INVALID);
    mla_param frac = {"k", 2.5};
    assert_int_equal(mla_classifier_create("knn", &frac, 1, 0, &c), MLA_ERR_INVALID);
    assert_null(c);
    assert_null(mla_classifier_param_names("forest"));
    assert_string_equal(mla_classifier_param_names("knn")[0], "k");
}

/* 1-D points: class 1 at 0 and 10; class 0 at 2 and 3. */
static const float X1[4] = {0, 10, 2, 3};
static const int32_t Y1[4] = {1, 1, 0, 0};

static mla_classifier *knn_with_k(int k) {
    mla_param p = {"k", k};
    mla_classifier *c = NULL;
    assert_int_equal(mla_classifier_create("knn", &p, 1, 0, &c), MLA_OK);
    assert_int_equal(mla_classifier_fit(c, X1, Y1, 4, 1, 2), MLA_OK);
    return c;
}

static void test_knn_vote_and_tie_rule(void **state) {
    (void)state;
    mla_classifier *c = knn_with_k(2);
    /* query 0.9: neighbours 0 (class 1, d 0.9) and 2 (class 0, d 1.1): one vote each,
     * class 1 has the smaller summed distance */
    float q[3] = {0.9f, 1.2f, 2.6f};
    int32_t labels[3];
    float proba[6];
    assert_int_equal(mla_classifier_predict(c, q, 3, labels), MLA_OK);
    assert_int_equal(labels[0], 1);
    assert_int_equal(labels[1], 0); /* 1.2: class 0 at 0.8 beats class 1 at 1.2 */
    assert_int_equal(labels[2], 0); /* 2.6: both neighbours class 0 */
    assert_int_equal(mla_classifier_predict_proba(c, q, 3, proba), MLA_OK);
    assert_true(proba[0] == 0.5f && proba[1] == 0.5f && proba[4] == 1.0f && proba[5] == 0.0f);
    /* query 1: class 1 at 1, class 0 at 1: equal votes and sums, the smaller label wins */
    float tie = 1.0f;
    assert_int_equal(mla_classifier_predict(c, &tie, 1, labels), MLA_OK);
    assert_int_equal(labels[0], 0);
    mla_classifier_free(c);
    mla_param big = {"k", 5};
    assert_int_equal(mla_classifier_create("knn", &big, 1, 0, &c), MLA_OK);
    assert_int_equal(mla_classifier_fit(c, X1, Y1, 4, 1, 2), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "larger than the training set"));
    assert_int_equal(mla_classifier_predict(c, q, 1, labels), MLA_ERR_INVALID); /* not fitted */
    mla_classifier_free(c);
}

static void test_fit_checks_input(void **state) {
    (void)state;
    mla_classifier *c = knn_with_k(1);
    const float bad_x[2] = {0, NAN};
    const int32_t y[2] = {0, 1}, bad_y[2] = {0, 2};
    assert_int_equal(mla_classifier_fit(c, bad_x, y, 2, 1, 2), MLA_ERR_INVALID);
    assert_int_equal(mla_classifier_fit(c, X1, bad_y, 2, 1, 2), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "label 2"));
    assert_int_equal(mla_classifier_fit(c, X1, y, 2, 1, 1), MLA_ERR_INVALID);
    mla_classifier_free(c);
}

/* Three noisy classes in 4 dimensions, values in [0, 1]. */
static void blobs(float *x, int32_t *y, int n, uint64_t seed) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int j = 0; j < 4; j++) {
            double v = 0.5 + (j == y[i] ? 0.3 : 0.0) + 0.12 * mla_rng_normal(&r);
            x[i * 4 + j] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
    }
}

/* Every kind: save, load, and the same predictions and probabilities (kinds whose
 * fit is not implemented in this build are skipped). */
static void test_round_trip_every_kind(void **state) {
    (void)state;
    enum { N = 150, M = 40 };
    float x[N * 4], q[M * 4], p1[M * 3], p2[M * 3];
    int32_t y[N], yq[M], l1[M], l2[M];
    blobs(x, y, N, 1);
    blobs(q, yq, M, 2);
    char path[64];
    temp_path(path);
    for (const char *const *kind = mla_classifier_kinds(); *kind; kind++) {
        mla_classifier *c = NULL, *d = NULL;
        /* small settings keep the test fast (also under ASan) */
        const mla_param nets[2] = {{"repeats", 2}, {"epochs", 5}}, trees[1] = {{"trees", 10}};
        const mla_param *quick = NULL;
        int n_quick = 0;
        if (!strcmp(*kind, "avnnet")) quick = nets, n_quick = 2;
        if (!strcmp(*kind, "rf") || !strcmp(*kind, "gbm")) quick = trees, n_quick = 1;
        assert_int_equal(mla_classifier_create(*kind, quick, n_quick, 7, &c), MLA_OK);
        mla_status st = mla_classifier_fit(c, x, y, N, 4, 3);
        if (st == MLA_ERR_UNSUPPORTED) {
            mla_classifier_free(c);
            continue;
        }
        if (st != MLA_OK) fail_msg("%s fit: %s", *kind, mla_last_error());
        assert_int_equal(mla_classifier_predict(c, q, M, l1), MLA_OK);
        assert_int_equal(mla_classifier_predict_proba(c, q, M, p1), MLA_OK);
        if (mla_classifier_save(c, path) != MLA_OK) fail_msg("%s save: %s", *kind, mla_last_error());
        if (mla_classifier_load(path, &d) != MLA_OK) fail_msg("%s load: %s", *kind, mla_last_error());
        assert_string_equal(mla_classifier_kind(d), *kind);
        assert_int_equal(mla_classifier_dim(d), 4);
        assert_int_equal(mla_classifier_classes(d), 3);
        assert_int_equal(mla_classifier_predict(d, q, M, l2), MLA_OK);
        assert_int_equal(mla_classifier_predict_proba(d, q, M, p2), MLA_OK);
        assert_memory_equal(l1, l2, sizeof l1);
        assert_memory_equal(p1, p2, sizeof p1);
        for (int i = 0; i < M; i++) {
            double sum = p1[i * 3] + p1[i * 3 + 1] + p1[i * 3 + 2];
            assert_true(fabs(sum - 1) < 1e-4);
        }
        mla_classifier_free(c);
        mla_classifier_free(d);
    }
    unlink(path);
}

static long file_size(const char *path) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    return size;
}

static void expect_load_fails(const char *path, const char *needle) {
    mla_classifier *c = NULL;
    assert_int_not_equal(mla_classifier_load(path, &c), MLA_OK);
    assert_null(c);
    assert_non_null(strstr(mla_last_error(), path));
    if (needle && !strstr(mla_last_error(), needle)) fail_msg("'%s' lacks '%s'", mla_last_error(), needle);
}

static void test_corrupt_model_files(void **state) {
    (void)state;
    char path[64];
    temp_path(path);
    mla_classifier *c = knn_with_k(3);
    assert_int_equal(mla_classifier_save(c, path), MLA_OK);
    mla_classifier_free(c);
    long size = file_size(path);
    char *bytes = malloc((size_t)size + 1);
    FILE *fp = fopen(path, "rb");
    assert_int_equal(fread(bytes, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    for (long cut = 0; cut < size; cut++) { /* every truncation */
        fp = fopen(path, "wb");
        fwrite(bytes, 1, (size_t)cut, fp);
        fclose(fp);
        expect_load_fails(path, NULL);
    }
    fp = fopen(path, "wb"); /* one byte too many */
    fwrite(bytes, 1, (size_t)size, fp);
    fputc(0, fp);
    fclose(fp);
    expect_load_fails(path, "trailing");
    bytes[0] = 'X'; /* bad magic */
    fp = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)size, fp);
    fclose(fp);
    expect_load_fails(path, "not an mlaudit classifier");
    bytes[0] = 'M';
    memcpy(bytes + 12, "tree", 5); /* unknown kind */
    fp = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)size, fp);
    fclose(fp);
    expect_load_fails(path, "kind");
    memcpy(bytes + 12, "knn", 4);
    bytes[size - 4] = 9; /* a label outside [0, classes) */
    fp = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)size, fp);
    fclose(fp);
    expect_load_fails(path, "label");
    unlink(path);
    expect_load_fails(path, "cannot open");
    free(bytes);
}

int main(void) {
    mla_set_threads(1); /* OpenMP barriers spin on a busy machine; one thread keeps the suite quick */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_parameter_names),
        cmocka_unit_test(test_knn_vote_and_tie_rule),
        cmocka_unit_test(test_fit_checks_input),
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_corrupt_model_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
