/* Tests of the native random forest (src/classic/rf*.c): Gini and the histogram split search
 * against a direct implementation, binning, a separable problem learned exactly, the same
 * forest for any thread count, out-of-bag accuracy and probabilities recomputed from the
 * trees and their bootstrap masks, the interleaved tree walks, importances, min_samples_leaf and max_depth honoured,
 * bad hyperparameters, and the model file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classic/rf_impl.h"
#include "common/tmpdir.h"
#include "mlaudit/classic.h"

/* ---- Gini and the split search ---- */

static void test_gini(void **state) {
    (void)state;
    int64_t a[2] = {2, 2}, b[3] = {3, 0, 1}, c[3] = {5, 0, 0}, z[2] = {0, 0};
    assert_true(fabs(rf_gini(a, 2) - 0.5) < 1e-15);
    assert_true(fabs(rf_gini(b, 3) - 0.375) < 1e-15); /* 1 - (9 + 1) / 16 */
    assert_true(rf_gini(c, 3) == 0);
    assert_true(rf_gini(z, 2) == 0);
}

/* n rows of d features drawn from few values (ties) and labels loosely tied to feature 1. */
static void small_problem(int n, int d, int classes, uint64_t seed, float *x, int32_t *y, int32_t *weight) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) x[i * d + j] = (float)mla_rng_below(&r, 6 + 3 * (uint64_t)j) * 0.25f - 1.0f;
        y[i] = (int32_t)((x[i * d + 1] > 0.5f) + mla_rng_below(&r, 2)) % classes;
        weight[i] = (int32_t)mla_rng_below(&r, 4); /* 0: out of the sample */
    }
}

typedef struct {
    double decrease;
    float below, above; /* the largest value going left, the smallest going right */
} direct_split;

/* The best threshold on feature f by brute force: every value as "x <= t", children's
 * weighted Gini from scratch; the first best (smallest t) wins ties. */
static direct_split direct_best(const float *x, const int32_t *y, const int32_t *w, int n, int d, int classes, int f,
                                int min_leaf) {
    direct_split best = {-1, 0, 0};
    int64_t node[8] = {0};
    for (int i = 0; i < n; i++) node[y[i]] += w[i];
    double wn = 0;
    for (int k = 0; k < classes; k++) wn += (double)node[k];
    for (int t = 0; t < n; t++) {
        if (!w[t]) continue;
        float thr = x[t * d + f], above = INFINITY;
        int64_t left[8] = {0}, right[8] = {0};
        int rows_left = 0, rows_right = 0;
        for (int i = 0; i < n; i++) {
            if (!w[i]) continue;
            float v = x[i * d + f];
            if (v <= thr) left[y[i]] += w[i], rows_left++;
            else right[y[i]] += w[i], rows_right++, above = fminf(above, v);
        }
        if (rows_left < min_leaf || rows_right < min_leaf) continue;
        double wl = 0, wr = 0;
        for (int k = 0; k < classes; k++) wl += (double)left[k], wr += (double)right[k];
        double dec = wn * rf_gini(node, classes) - wl * rf_gini(left, classes) - wr * rf_gini(right, classes);
        if (dec > best.decrease + 1e-9 || (fabs(dec - best.decrease) <= 1e-9 && thr < best.below))
            best = (direct_split){dec, thr, above};
    }
    return best;
}

static int gather(const int32_t *y, const int32_t *w, int n, rf_item *items) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (w[i]) items[m++] = (rf_item){i, y[i], w[i]};
    return m;
}

/* n = 70: nodes small enough to be sorted by bin; n = 400: large enough for the histogram. */
static void test_split_matches_direct(void **state) {
    (void)state;
    enum { D = 4, K = 3, MAX_N = 400 };
    static float x[MAX_N * D];
    static int32_t y[MAX_N], w[MAX_N];
    static rf_item items[MAX_N];
    const int sizes[2] = {70, MAX_N};
    for (int size = 0; size < 2; size++)
        for (uint64_t seed = 1; seed <= 12; seed++) {
            int n = sizes[size];
            small_problem(n, D, K, seed, x, y, w);
            rf_binned data;
            assert_int_equal(rf_bin(x, n, D, &data), MLA_OK);
            rf_work *work = rf_work_create(n, D, K);
            assert_non_null(work);
            int m = gather(y, w, n, items);
            for (int min_leaf = 1; min_leaf <= 9; min_leaf += 4)
                for (int f = 0; f < D; f++) {
                    rf_split got = {-1, -1, 0, 0, 0};
                    rf_split_feature(&data, items, m, f, min_leaf, K, work, &got);
                    direct_split want = direct_best(x, y, w, n, D, K, f, min_leaf);
                    if (want.decrease < 0) {
                        assert_int_equal(got.feature, -1);
                        continue;
                    }
                    assert_int_equal(got.feature, f);
                    float mid = (float)(0.5 * ((double)want.below + want.above)); /* scikit-learn's threshold */
                    if (got.threshold != mid)
                        fail_msg("n %d seed %d f %d: threshold %g, not %g", n, (int)seed, f, got.threshold, mid);
                    assert_true(fabs(got.decrease - want.decrease) < 1e-9 * (1 + want.decrease));
                }
            rf_work_free(work);
            rf_binned_free(&data);
        }
}

/* ---- binning ---- */

static void test_binning(void **state) {
    (void)state;
    enum { N = 3000 };
    float *x = malloc(2 * N * sizeof *x);
    assert_non_null(x);
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)((i * 7) % 256) / 255.0f;            /* 256 values: exact bins */
        x[2 * i + 1] = (float)((i * 7919) % N) * 0.001f - 1.f; /* 3000 values: quantiles */
    }
    rf_binned b;
    assert_int_equal(rf_bin(x, N, 2, &b), MLA_OK);
    assert_int_equal(b.n_edges[0], 255);
    assert_true(b.n_edges[1] >= 250 && b.n_edges[1] <= 255);
    int per_bin[RF_MAX_BINS] = {0};
    for (int j = 0; j < 2; j++) {
        const float *e = b.edges + (size_t)j * RF_MAX_EDGES;
        for (int k = 1; k < b.n_edges[j]; k++) assert_true(e[k] > e[k - 1]);
        for (int i = 0; i < N; i++) {
            int bin = b.bins[(size_t)j * N + i];
            float v = x[2 * i + j];
            assert_int_equal(b.row_bins[(size_t)i * 2 + j], bin);
            assert_true(bin <= b.n_edges[j]);
            if (bin < b.n_edges[j]) assert_true(v <= e[bin]);  /* bin <= b  <=>  x <= edges[b] */
            if (bin > 0) assert_true(v > e[bin - 1]);
            if (j == 1) per_bin[bin]++;
        }
    }
    for (int k = 0; k <= b.n_edges[1]; k++) assert_true(per_bin[k] >= 5 && per_bin[k] <= 30); /* about 3000 / 256 */
    rf_binned_free(&b);
    free(x);
}

/* ---- whole forests ---- */

static void *fit_forest(const mla_param *p, int n_params, uint64_t seed, const float *x, const int32_t *y, int n, int d,
                        int classes) {
    void *st = NULL;
    assert_int_equal(mla_rf_ops.create(p, n_params, seed, &st), MLA_OK);
    if (mla_rf_ops.fit(st, x, y, n, d, classes) != MLA_OK) fail_msg("rf fit: %s", mla_last_error());
    return st;
}

/* Label = whether feature 2 exceeds 0.5 (a gap around it); features 0, 1, 3 are noise. */
static void threshold_problem(int n, uint64_t seed, float *x, int32_t *y) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++) x[i * 4 + j] = (float)mla_rng_uniform(&r);
        y[i] = i % 2;
        x[i * 4 + 2] = (float)(y[i] ? 0.6 + 0.4 * mla_rng_uniform(&r) : 0.4 * mla_rng_uniform(&r));
    }
}

static double accuracy(void *st, const float *x, const int32_t *y, int n, int d, int classes) {
    float *p = malloc((size_t)n * classes * sizeof *p);
    assert_non_null(p);
    assert_int_equal(mla_rf_ops.predict_proba(st, x, n, d, classes, p), MLA_OK);
    int correct = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < classes; k++)
            if (p[i * classes + k] > p[i * classes + best]) best = k;
        correct += best == y[i];
    }
    free(p);
    return (double)correct / n;
}

static void test_separable_learned_exactly(void **state) {
    (void)state;
    enum { N = 400, M = 300 };
    float x[N * 4], q[M * 4];
    int32_t y[N], yq[M];
    threshold_problem(N, 1, x, y);
    threshold_problem(M, 2, q, yq);
    mla_param p[] = {{"trees", 20}, {"max_features", 4}}; /* every tree sees feature 2 at its root */
    void *st = fit_forest(p, 2, 3, x, y, N, 4, 2);
    assert_true(accuracy(st, x, y, N, 4, 2) == 1.0);
    assert_true(accuracy(st, q, yq, M, 4, 2) == 1.0);
    rf_forest *f = st;
    assert_true(f->oob_accuracy == 1.0);
    mla_rf_ops.free(st);
}

/* 3 classes of noisy blobs in 8 dimensions: hard enough to grow deep trees. */
static void blobs(int n, uint64_t seed, float *x, int32_t *y) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int j = 0; j < 8; j++) x[i * 8 + j] = (float)((j % 3 == y[i] ? 1.0 : 0.0) + mla_rng_normal(&r));
    }
}

static void test_same_forest_for_any_thread_count(void **state) {
    (void)state;
    enum { N = 600, M = 200 };
    float *x = malloc(N * 8 * sizeof *x), q[M * 8], p1[M * 3], p2[M * 3];
    int32_t *y = malloc(N * sizeof *y), yq[M];
    assert_true(x && y);
    blobs(N, 5, x, y);
    blobs(M, 6, q, yq);
    mla_param p[] = {{"trees", 24}};
    double imp1[8], imp2[8];
    mla_set_threads(1);
    void *a = fit_forest(p, 1, 9, x, y, N, 8, 3);
    mla_set_threads(2);
    void *b = fit_forest(p, 1, 9, x, y, N, 8, 3);
    assert_int_equal(mla_rf_ops.predict_proba(a, q, M, 8, 3, p1), MLA_OK);
    assert_int_equal(mla_rf_ops.predict_proba(b, q, M, 8, 3, p2), MLA_OK);
    assert_memory_equal(p1, p2, sizeof p1);
    assert_int_equal(mla_rf_ops.importances(a, imp1), MLA_OK);
    assert_int_equal(mla_rf_ops.importances(b, imp2), MLA_OK);
    assert_memory_equal(imp1, imp2, sizeof imp1);
    assert_memory_equal(&((rf_forest *)a)->oob_accuracy, &((rf_forest *)b)->oob_accuracy, sizeof(double));
    /* another seed grows another forest */
    void *c = fit_forest(p, 1, 10, x, y, N, 8, 3);
    assert_int_equal(mla_rf_ops.predict_proba(c, q, M, 8, 3, p2), MLA_OK);
    assert_memory_not_equal(p1, p2, sizeof p1);
    mla_rf_ops.free(a), mla_rf_ops.free(b), mla_rf_ops.free(c);
    mla_set_threads(0);
    free(x), free(y);
}

/* Probabilities = the mean of the trees' leaves; out-of-bag accuracy recomputed from the
 * bootstrap masks drawn again with rf_bootstrap. */
static void test_oob_and_probabilities_direct(void **state) {
    (void)state;
    enum { N = 150, T = 15 };
    float x[N * 8], p[N * 3];
    int32_t y[N], weight[N];
    blobs(N, 11, x, y);
    mla_param prm[] = {{"trees", T}};
    rf_forest *f = fit_forest(prm, 1, 4, x, y, N, 8, 3);
    assert_int_equal(mla_rf_ops.predict_proba(f, x, N, 8, 3, p), MLA_OK);
    int correct = 0, scored = 0;
    for (int i = 0; i < N; i++) {
        double all[3] = {0}, oob[3] = {0};
        int votes = 0;
        for (int t = 0; t < T; t++) {
            mla_rng rng;
            rf_bootstrap(4, t, N, weight, &rng);
            assert_int_equal(rf_inbag(f, t, i), weight[i] > 0);
            const float *leaf = rf_tree_leaf(&f->trees[t], x + i * 8, 3);
            for (int k = 0; k < 3; k++) all[k] += leaf[k], oob[k] += weight[i] ? 0 : leaf[k];
            votes += weight[i] == 0;
        }
        for (int k = 0; k < 3; k++) assert_true(fabs(p[i * 3 + k] - all[k] / T) < 1e-6);
        if (!votes) continue;
        int best = 0;
        for (int k = 1; k < 3; k++)
            if (oob[k] > oob[best]) best = k;
        scored++, correct += best == y[i];
    }
    assert_true(scored > N / 2);
    assert_true(fabs(f->oob_accuracy - (double)correct / scored) < 1e-12);
    assert_true(f->oob_accuracy > 0.4 && f->oob_accuracy < 1.0); /* a real estimate, not training accuracy */
    mla_rf_ops.free(f);
}

/* The interleaved walks land every listed row in rf_tree_leaf's leaf: rows in any order, repeated,
 * counts below, at and past a multiple of RF_WALKS. */
static void test_interleaved_walks_match_single(void **state) {
    (void)state;
    enum { N = 150, T = 4, LIST = 29 };
    float x[N * 8];
    int32_t y[N], rows[LIST], leaf[LIST];
    blobs(N, 12, x, y);
    mla_param prm[] = {{"trees", T}};
    rf_forest *f = fit_forest(prm, 1, 5, x, y, N, 8, 3);
    for (int i = 0; i < LIST; i++) rows[i] = (int32_t)((N - 1 - 7 * i) % N + N) % N; /* descending, wrapping */
    rows[LIST - 1] = rows[0];
    int counts[] = {0, 3, RF_WALKS, RF_WALKS + 1, LIST};
    for (int t = 0; t < T; t++)
        for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
            rf_tree_leaves(&f->trees[t], x, 8, rows, counts[c], leaf);
            for (int i = 0; i < counts[c]; i++) {
                const float *want = rf_tree_leaf(&f->trees[t], x + (size_t)rows[i] * 8, 3);
                assert_ptr_equal(f->trees[t].leaf_proba + (size_t)leaf[i] * 3, want);
            }
        }
    mla_rf_ops.free(f);
}

static void test_importances_pick_the_informative_feature(void **state) {
    (void)state;
    enum { N = 400 };
    float x[N * 4];
    int32_t y[N];
    threshold_problem(N, 7, x, y);
    mla_param p[] = {{"trees", 30}};
    void *st = fit_forest(p, 1, 1, x, y, N, 4, 2);
    double imp[4], sum = 0;
    assert_int_equal(mla_rf_ops.importances(st, imp), MLA_OK);
    for (int j = 0; j < 4; j++) sum += imp[j], assert_true(imp[j] >= 0);
    assert_true(fabs(sum - 1) < 1e-12);
    for (int j = 0; j < 4; j++)
        if (j != 2) assert_true(imp[2] > 5 * imp[j]);
    mla_rf_ops.free(st);
}

/* In-bag rows reaching each leaf of tree t (counted by walking the training rows). */
static void leaf_rows(const rf_forest *f, int t, const float *x, int n, int d, int *rows) {
    const rf_tree *tree = &f->trees[t];
    memset(rows, 0, (size_t)tree->n_leaves * sizeof *rows);
    for (int i = 0; i < n; i++) {
        if (!rf_inbag(f, t, i)) continue;
        const float *leaf = rf_tree_leaf(tree, x + (size_t)i * d, f->classes);
        rows[(leaf - tree->leaf_proba) / f->classes]++;
    }
}

static int tree_depth(const rf_tree *t, int node) {
    const rf_node *nd = &t->nodes[node];
    if (nd->feature < 0) return 0;
    int l = tree_depth(t, nd->left), r = tree_depth(t, nd->right);
    return 1 + (l > r ? l : r);
}

static void test_min_samples_leaf_and_max_depth(void **state) {
    (void)state;
    enum { N = 300 };
    float x[N * 8];
    int32_t y[N];
    int rows[N];
    blobs(N, 3, x, y);
    mla_param leafy[] = {{"trees", 5}, {"min_samples_leaf", 7}}, shallow[] = {{"trees", 5}, {"max_depth", 3}};
    rf_forest *a = fit_forest(leafy, 2, 2, x, y, N, 8, 3), *b = fit_forest(shallow, 2, 2, x, y, N, 8, 3);
    for (int t = 0; t < 5; t++) {
        leaf_rows(a, t, x, N, 8, rows);
        for (int l = 0; l < a->trees[t].n_leaves; l++) assert_true(rows[l] >= 7);
        assert_int_equal(tree_depth(&b->trees[t], 0), 3);
    }
    mla_rf_ops.free(a), mla_rf_ops.free(b);
}

/* ---- hyperparameters and files ---- */

static void expect_refused(const char *name, double value) {
    mla_param p = {name, value};
    void *st = (void *)1;
    assert_int_equal(mla_rf_ops.create(&p, 1, 0, &st), MLA_ERR_INVALID);
    assert_null(st);
    if (!strstr(mla_last_error(), name)) fail_msg("%s=%g: message '%s' does not name it", name, value, mla_last_error());
}

static void test_bad_hyperparameters(void **state) {
    (void)state;
    expect_refused("trees", 0);
    expect_refused("trees", 2.5);
    expect_refused("max_depth", -1);
    expect_refused("min_samples_leaf", 0);
    expect_refused("max_features", -1);
    expect_refused("max_features", 1.5);
    mla_classifier *c = NULL;
    mla_param p = {"subsample", 0.5};
    assert_int_equal(mla_classifier_create("rf", &p, 1, 0, &c), MLA_ERR_INVALID); /* XGBoost's, not ours */
    float x[40 * 4];
    int32_t y[40];
    threshold_problem(40, 1, x, y);
    mla_param too_many = {"max_features", 5};
    assert_int_equal(mla_classifier_create("rf", &too_many, 1, 0, &c), MLA_OK);
    assert_int_equal(mla_classifier_fit(c, x, y, 40, 4, 2), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "max_features=5 is more than the 4 features"));
    double v;
    assert_int_equal(mla_classifier_importances(c, &v), MLA_ERR_INVALID); /* not fitted */
    mla_classifier_free(c);
    assert_int_equal(mla_classifier_create("nb", NULL, 0, 0, &c), MLA_OK);
    assert_int_equal(mla_classifier_fit(c, x, y, 40, 4, 2), MLA_OK);
    assert_int_equal(mla_classifier_oob_accuracy(c, &v), MLA_ERR_UNSUPPORTED);
    mla_classifier_free(c);
}

static void test_model_file_round_trip(void **state) {
    (void)state;
    enum { N = 200, M = 50 };
    float x[N * 8], q[M * 8], p1[M * 3], p2[M * 3];
    int32_t y[N], yq[M];
    blobs(N, 21, x, y);
    blobs(M, 22, q, yq);
    mla_param p[] = {{"trees", 7}, {"max_features", 3}};
    mla_classifier *c = NULL, *d = NULL;
    assert_int_equal(mla_classifier_create("rf", p, 2, 5, &c), MLA_OK);
    assert_int_equal(mla_classifier_fit(c, x, y, N, 8, 3), MLA_OK);
    const char *path = test_tmp_path("rf.model");
    assert_int_equal(mla_classifier_save(c, path), MLA_OK);
    if (mla_classifier_load(path, &d) != MLA_OK) fail_msg("load: %s", mla_last_error());
    assert_int_equal(mla_classifier_predict_proba(c, q, M, p1), MLA_OK);
    assert_int_equal(mla_classifier_predict_proba(d, q, M, p2), MLA_OK);
    assert_memory_equal(p1, p2, sizeof p1);
    double i1[8], i2[8], o1, o2;
    assert_int_equal(mla_classifier_importances(c, i1), MLA_OK);
    assert_int_equal(mla_classifier_importances(d, i2), MLA_OK);
    assert_memory_equal(i1, i2, sizeof i1);
    assert_int_equal(mla_classifier_oob_accuracy(c, &o1), MLA_OK);
    assert_int_equal(mla_classifier_oob_accuracy(d, &o2), MLA_OK);
    assert_true(o1 == o2);
    mla_classifier_free(d);
    /* a truncated file and a corrupt node are refused */
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    const char *bad = test_tmp_path("bad.model");
    fp = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size - 9, fp);
    fclose(fp);
    assert_int_equal(mla_classifier_load(bad, &d), MLA_ERR_FORMAT);
    /* the first tree's root: file header 36 bytes, stream head 4 + 32 + 8 + 4 + 8 + 64, tree head 8 */
    size_t root = 36 + 4 + 32 + 8 + 4 + 8 + 8 * 8 + 8;
    int32_t child = 0; /* pointing back at the root: a cycle */
    memcpy(bytes + root + 8, &child, 4);
    fp = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size, fp);
    fclose(fp);
    assert_int_equal(mla_classifier_load(bad, &d), MLA_ERR_FORMAT);
    assert_non_null(strstr(mla_last_error(), "corrupt node"));
    free(bytes);
    mla_classifier_free(c);
}

static int setup(void **state) {
    (void)state;
    return test_tmpdir_create("rf");
}

static int teardown(void **state) {
    (void)state;
    return test_tmpdir_remove();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gini),
        cmocka_unit_test(test_split_matches_direct),
        cmocka_unit_test(test_binning),
        cmocka_unit_test(test_separable_learned_exactly),
        cmocka_unit_test(test_same_forest_for_any_thread_count),
        cmocka_unit_test(test_oob_and_probabilities_direct),
        cmocka_unit_test(test_interleaved_walks_match_single),
        cmocka_unit_test(test_importances_pick_the_informative_feature),
        cmocka_unit_test(test_min_samples_leaf_and_max_depth),
        cmocka_unit_test(test_bad_hyperparameters),
        cmocka_unit_test(test_model_file_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
