/* Tests of the svm, rf, gbm, logreg and nb kinds through their ops tables: learning separable
 * blobs, probabilities, reproducibility, save/load round trips, parameter and stream checks,
 * the logistic-regression gradient and the naive-Bayes statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classic/classifier_impl.h"
#include "classic/linear.h"

#include <libsvm/svm.h>

enum { D = 6, K = 3, N_TRAIN = 300, N_TEST = 150 };

/* K Gaussian blobs in D dimensions: class c centred at 3 on features c and c + K, 0 elsewhere,
 * noise sd 0.6. Non-negative-ish values with many near-zero features, like pixels. */
static void blobs(int n, uint64_t seed, float *x, int32_t *y) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        y[i] = i % K;
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)((j % K == y[i] ? 3.0 : 0.0) + 0.6 * mla_rng_normal(&r));
    }
}

typedef struct {
    float xtr[N_TRAIN * D], xte[N_TEST * D];
    int32_t ytr[N_TRAIN], yte[N_TEST];
} data;

static data *make_data(void) {
    data *dt = malloc(sizeof *dt);
    assert_non_null(dt);
    blobs(N_TRAIN, 1, dt->xtr, dt->ytr);
    blobs(N_TEST, 2, dt->xte, dt->yte);
    return dt;
}

static void *fit(const mla_classifier_ops *ops, const mla_param *p, int np, uint64_t seed, const data *dt) {
    void *st = NULL;
    assert_int_equal(ops->create(p, np, seed, &st), MLA_OK);
    mla_status s = ops->fit(st, dt->xtr, dt->ytr, N_TRAIN, D, K);
    if (s) fail_msg("%s fit: %s", ops->kind, mla_last_error());
    return st;
}

static double accuracy(const float *proba, const int32_t *y, int n) {
    int right = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < K; c++)
            if (proba[i * K + c] > proba[i * K + best]) best = c;
        right += best == y[i];
    }
    return (double)right / n;
}

/* A model written by save and read back by load (through a temporary stream). */
static void *round_trip(const mla_classifier_ops *ops, const void *st) {
    FILE *fp = tmpfile();
    assert_non_null(fp);
    assert_int_equal(ops->save(st, fp), MLA_OK);
    rewind(fp);
    void *back = NULL;
    mla_status s = ops->load(fp, D, K, &back);
    if (s) fail_msg("%s load: %s", ops->kind, mla_last_error());
    fclose(fp);
    return back;
}

/* The whole contract for one kind: accuracy, rows summing to 1, the same bits from the same seed,
 * identical probabilities after save/load. */
static void check_kind(const mla_classifier_ops *ops, const mla_param *p, int np, double min_accuracy) {
    data *dt = make_data();
    void *a = fit(ops, p, np, 7, dt), *b = fit(ops, p, np, 7, dt);
    float pa[N_TEST * K], pb[N_TEST * K], pc[N_TEST * K];
    assert_int_equal(ops->predict_proba(a, dt->xte, N_TEST, D, K, pa), MLA_OK);
    assert_int_equal(ops->predict_proba(b, dt->xte, N_TEST, D, K, pb), MLA_OK);
    double acc = accuracy(pa, dt->yte, N_TEST);
    if (acc < min_accuracy) fail_msg("%s accuracy %.3f < %.3f", ops->kind, acc, min_accuracy);
    for (int i = 0; i < N_TEST; i++) {
        double sum = 0;
        for (int c = 0; c < K; c++) {
            assert_true(pa[i * K + c] >= 0 && pa[i * K + c] <= 1);
            sum += pa[i * K + c];
        }
        assert_true(fabs(sum - 1) < 1e-5);
    }
    assert_memory_equal(pa, pb, sizeof pa);
    void *c = round_trip(ops, a);
    assert_int_equal(ops->predict_proba(c, dt->xte, N_TEST, D, K, pc), MLA_OK);
    assert_memory_equal(pa, pc, sizeof pa);
    ops->free(a), ops->free(b), ops->free(c);
    free(dt);
}

static void test_svm_learns_blobs(void **state) {
    (void)state;
    check_kind(&mla_svm_ops, NULL, 0, 0.95);
    mla_param votes[] = {{"probability", 0}, {"C", 10}};
    check_kind(&mla_svm_ops, votes, 2, 0.95);
}

static void test_rf_learns_blobs(void **state) {
    (void)state;
    mla_param p[] = {{"trees", 20}};
    check_kind(&mla_rf_ops, p, 1, 0.93);
}

static void test_gbm_learns_blobs(void **state) {
    (void)state;
    mla_param p[] = {{"trees", 20}, {"max_depth", 3}};
    check_kind(&mla_gbm_ops, p, 2, 0.93);
}

static void test_logreg_learns_blobs(void **state) {
    (void)state;
    check_kind(&mla_logreg_ops, NULL, 0, 0.95);
}

static void test_nb_learns_blobs(void **state) {
    (void)state;
    check_kind(&mla_nb_ops, NULL, 0, 0.95);
}

/* svm: leaving gamma out means scikit-learn's 'scale', 1 / (d * var(X)); predict is the
 * one-vs-one vote, which agrees with the probabilities' argmax on clear blobs. */
static void test_svm_gamma_scale_and_votes(void **state) {
    (void)state;
    data *dt = make_data();
    double sum = 0, sq = 0, count = N_TRAIN * D;
    for (int i = 0; i < N_TRAIN * D; i++) sum += dt->xtr[i];
    for (int i = 0; i < N_TRAIN * D; i++) sq += (dt->xtr[i] - sum / count) * (dt->xtr[i] - sum / count);
    mla_param explicit_gamma[] = {{"gamma", 1.0 / (D * sq / count)}};
    void *a = fit(&mla_svm_ops, NULL, 0, 3, dt), *b = fit(&mla_svm_ops, explicit_gamma, 1, 3, dt);
    float pa[N_TEST * K], pb[N_TEST * K];
    int32_t labels[N_TEST];
    assert_int_equal(mla_svm_ops.predict_proba(a, dt->xte, N_TEST, D, K, pa), MLA_OK);
    assert_int_equal(mla_svm_ops.predict_proba(b, dt->xte, N_TEST, D, K, pb), MLA_OK);
    for (int i = 0; i < N_TEST * K; i++) assert_true(fabsf(pa[i] - pb[i]) < 1e-6f);
    assert_int_equal(mla_svm_ops.predict(a, dt->xte, N_TEST, D, K, labels), MLA_OK);
    int right = 0;
    for (int i = 0; i < N_TEST; i++) right += labels[i] == dt->yte[i];
    assert_true(right >= 0.95 * N_TEST);
    mla_svm_ops.free(a), mla_svm_ops.free(b);
    free(dt);
}

static void quiet(const char *msg) { (void)msg; }

/* Blob rows as dense libsvm nodes (every feature present), rows[i] pointing into nodes. */
static void to_nodes(const float *x, int n, struct svm_node *nodes, struct svm_node **rows) {
    for (int i = 0; i < n; i++) {
        rows[i] = nodes + i * (D + 1);
        for (int j = 0; j < D; j++) rows[i][j] = (struct svm_node){j + 1, x[i * D + j]};
        rows[i][D].index = -1;
    }
}

/* svm training on rows x, y (n of them) against libsvm's own multi-class svm_train on the same
 * problem: the same labels (one-vs-one votes) and the same vote shares, row by row. */
static void check_svm_matches_libsvm(const float *x, const int32_t *y, int n, const data *dt) {
    mla_param p[] = {{"gamma", 0.2}, {"C", 2}, {"probability", 0}};
    void *ours = NULL;
    assert_int_equal(mla_svm_ops.create(p, 3, 5, &ours), MLA_OK);
    assert_int_equal(mla_svm_ops.fit(ours, x, y, n, D, K), MLA_OK);
    static struct svm_node nodes[N_TRAIN * (D + 1)], test_nodes[N_TEST * (D + 1)];
    struct svm_node *rows[N_TRAIN], *test_rows[N_TEST];
    double yd[N_TRAIN];
    to_nodes(x, n, nodes, rows);
    to_nodes(dt->xte, N_TEST, test_nodes, test_rows);
    for (int i = 0; i < n; i++) yd[i] = y[i];
    struct svm_problem prob = {n, yd, rows};
    struct svm_parameter param = {.svm_type = C_SVC, .kernel_type = RBF, .gamma = 0.2, .cache_size = 100,
                                  .eps = 1e-3, .C = 2, .shrinking = 1};
    svm_set_print_string_function(quiet);
    struct svm_model *ref = svm_train(&prob, &param);
    float proba[N_TEST * K];
    int32_t labels[N_TEST];
    int ref_labels[K];
    assert_int_equal(mla_svm_ops.predict_proba(ours, dt->xte, N_TEST, D, K, proba), MLA_OK);
    assert_int_equal(mla_svm_ops.predict(ours, dt->xte, N_TEST, D, K, labels), MLA_OK);
    svm_get_labels(ref, ref_labels);
    for (int i = 0; i < N_TEST; i++) {
        double dec[K * (K - 1) / 2];
        float shares[K] = {0};
        svm_predict_values(ref, test_rows[i], dec);
        for (int a = 0, q = 0; a < K; a++)
            for (int b = a + 1; b < K; b++, q++) shares[ref_labels[dec[q] > 0 ? a : b]] += 1.0f / (K * (K - 1) / 2);
        for (int c = 0; c < K; c++) assert_true(fabsf(proba[i * K + c] - shares[c]) < 1e-6f);
        assert_int_equal(labels[i], (int)svm_predict(ref, test_rows[i]));
    }
    svm_free_and_destroy_model(&ref);
    mla_svm_ops.free(ours);
}

static void test_svm_training_matches_libsvm(void **state) {
    (void)state;
    data *dt = make_data();
    check_svm_matches_libsvm(dt->xtr, dt->ytr, N_TRAIN, dt);
    free(dt);
}

/* The same on one thread with pairs of unequal sizes (class 2 whole, classes 0 and 1 at a half
 * and a quarter): one worker's kernel buffers serve pairs of 75, 150 and 125 rows, growing once. */
static void test_svm_unequal_pairs_one_thread(void **state) {
    (void)state;
    data *dt = make_data();
    static float x[N_TRAIN * D];
    int32_t y[N_TRAIN], n = 0, seen[K] = {0};
    for (int i = 0; i < N_TRAIN; i++) {
        int c = dt->ytr[i], keep = c == 2 || (c == 0 && seen[0] % 2 == 0) || (c == 1 && seen[1] % 4 == 0);
        seen[c]++;
        if (!keep) continue;
        memcpy(x + (size_t)n * D, dt->xtr + (size_t)i * D, D * sizeof *x);
        y[n++] = c;
    }
    assert_int_equal(n, 50 + 25 + 100);
    mla_set_threads(1);
    check_svm_matches_libsvm(x, y, n, dt);
    mla_set_threads(2);
    free(dt);
}

static void read_or_fail(void *p, size_t size, size_t count, FILE *fp) {
    assert_int_equal(fread(p, size, count, fp), count);
}

/* A libsvm model built from our saved stream (the layout documented in svm.c). */
static struct svm_model *libsvm_model_from_stream(FILE *fp) {
    uint32_t version;
    int32_t d, prob, k, l, has_prob;
    uint64_t seed, count;
    double c, cache;
    struct svm_model *m = calloc(1, sizeof *m);
    read_or_fail(&version, 4, 1, fp), read_or_fail(&d, 4, 1, fp), read_or_fail(&c, 8, 1, fp);
    read_or_fail(&m->param.gamma, 8, 1, fp), read_or_fail(&cache, 8, 1, fp), read_or_fail(&prob, 4, 1, fp);
    read_or_fail(&seed, 8, 1, fp), read_or_fail(&k, 4, 1, fp), read_or_fail(&l, 4, 1, fp);
    read_or_fail(&has_prob, 4, 1, fp), read_or_fail(&count, 8, 1, fp);
    int pairs = k * (k - 1) / 2;
    m->param.svm_type = C_SVC, m->param.kernel_type = RBF, m->param.probability = has_prob;
    m->nr_class = k, m->l = l, m->free_sv = 1;
    m->label = malloc(k * sizeof(int)), m->nSV = malloc(k * sizeof(int)), m->rho = malloc(pairs * sizeof(double));
    read_or_fail(m->label, 4, k, fp), read_or_fail(m->nSV, 4, k, fp), read_or_fail(m->rho, 8, pairs, fp);
    assert_true(has_prob);
    m->probA = malloc(pairs * sizeof(double)), m->probB = malloc(pairs * sizeof(double));
    read_or_fail(m->probA, 8, pairs, fp), read_or_fail(m->probB, 8, pairs, fp);
    m->sv_coef = malloc((k - 1) * sizeof(double *));
    for (int i = 0; i < k - 1; i++) m->sv_coef[i] = malloc(l * sizeof(double)), read_or_fail(m->sv_coef[i], 8, l, fp);
    struct svm_node *block = malloc(count * sizeof *block);
    m->SV = malloc(l * sizeof *m->SV);
    for (int i = 0, at = 0; i < l; i++) {
        m->SV[i] = block + at;
        do {
            read_or_fail(&block[at].index, 4, 1, fp), read_or_fail(&block[at].value, 8, 1, fp);
        } while (block[at++].index != -1);
    }
    return m;
}

/* svm prediction against libsvm's svm_predict_probability on our own (saved) model: the BLAS
 * kernel rows, Platt's sigmoids and the pairwise coupling reproduce libsvm's probabilities. */
static void test_svm_probabilities_match_libsvm(void **state) {
    (void)state;
    data *dt = make_data();
    void *ours = fit(&mla_svm_ops, NULL, 0, 5, dt);
    FILE *fp = tmpfile();
    assert_int_equal(mla_svm_ops.save(ours, fp), MLA_OK);
    rewind(fp);
    struct svm_model *ref = libsvm_model_from_stream(fp);
    fclose(fp);
    static struct svm_node test_nodes[N_TEST * (D + 1)];
    struct svm_node *test_rows[N_TEST];
    to_nodes(dt->xte, N_TEST, test_nodes, test_rows);
    float proba[N_TEST * K];
    assert_int_equal(mla_svm_ops.predict_proba(ours, dt->xte, N_TEST, D, K, proba), MLA_OK);
    for (int i = 0; i < N_TEST; i++) {
        double expect[K];
        svm_predict_probability(ref, test_rows[i], expect);
        for (int c = 0; c < K; c++)
            if (fabs(proba[i * K + ref->label[c]] - expect[c]) > 1e-5)
                fail_msg("row %d class %d: %g, libsvm %g", i, ref->label[c], proba[i * K + ref->label[c]], expect[c]);
    }
    svm_free_and_destroy_model(&ref);
    mla_svm_ops.free(ours);
    free(dt);
}

/* A class missing from the training labels gets probability 0 (svm maps libsvm's labels). */
static void test_absent_class_gets_zero(void **state) {
    (void)state;
    data *dt = make_data();
    int n = 0;
    for (int i = 0; i < N_TRAIN; i++)
        if (dt->ytr[i] != 1) {
            memmove(dt->xtr + n * D, dt->xtr + i * D, D * sizeof(float));
            dt->ytr[n++] = dt->ytr[i];
        }
    const mla_classifier_ops *kinds[] = {&mla_svm_ops, &mla_nb_ops};
    for (int k = 0; k < 2; k++) {
        void *st = NULL;
        float proba[N_TEST * K];
        assert_int_equal(kinds[k]->create(NULL, 0, 1, &st), MLA_OK);
        assert_int_equal(kinds[k]->fit(st, dt->xtr, dt->ytr, n, D, K), MLA_OK);
        assert_int_equal(kinds[k]->predict_proba(st, dt->xte, N_TEST, D, K, proba), MLA_OK);
        for (int i = 0; i < N_TEST; i++) assert_true(proba[i * K + 1] == 0.0f);
        kinds[k]->free(st);
    }
    free(dt);
}

/* create refuses a bad value with MLA_ERR_INVALID and a message naming the parameter. */
static void expect_refused(const mla_classifier_ops *ops, const char *name, double value) {
    mla_param p = {name, value};
    void *st = (void *)1;
    assert_int_equal(ops->create(&p, 1, 0, &st), MLA_ERR_INVALID);
    assert_null(st);
    if (!strstr(mla_last_error(), name) || !strstr(mla_last_error(), ops->kind))
        fail_msg("%s %s=%g: message '%s' does not name it", ops->kind, name, value, mla_last_error());
}

static void test_bad_params_refused(void **state) {
    (void)state;
    expect_refused(&mla_svm_ops, "C", 0);
    expect_refused(&mla_svm_ops, "C", -1);
    expect_refused(&mla_svm_ops, "gamma", 0);
    expect_refused(&mla_svm_ops, "probability", 2);
    expect_refused(&mla_svm_ops, "cache_mb", 0);
    expect_refused(&mla_rf_ops, "trees", 0);
    expect_refused(&mla_rf_ops, "trees", 2.5);
    expect_refused(&mla_rf_ops, "min_samples_leaf", 0);
    expect_refused(&mla_rf_ops, "max_depth", -1);
    expect_refused(&mla_rf_ops, "max_features", -2);
    expect_refused(&mla_rf_ops, "eta", 0.1); /* rf has no eta: unknown */
    expect_refused(&mla_gbm_ops, "eta", 0);
    expect_refused(&mla_gbm_ops, "max_depth", 0);
    expect_refused(&mla_gbm_ops, "colsample", 0);
    expect_refused(&mla_logreg_ops, "C", 0);
    expect_refused(&mla_logreg_ops, "max_iter", 0);
    expect_refused(&mla_logreg_ops, "tol", -1);
    expect_refused(&mla_nb_ops, "var_smoothing", -1);
    expect_refused(&mla_nb_ops, "k", 5);
    expect_refused(&mla_svm_ops, "k", 5);
}

/* Bad labels and unfitted models give errors, not crashes. */
static void test_bad_input_refused(void **state) {
    (void)state;
    data *dt = make_data();
    dt->ytr[10] = K;
    const mla_classifier_ops *kinds[] = {&mla_svm_ops, &mla_rf_ops, &mla_gbm_ops, &mla_logreg_ops, &mla_nb_ops};
    for (int k = 0; k < 5; k++) {
        void *st = NULL;
        float proba[K];
        assert_int_equal(kinds[k]->create(NULL, 0, 1, &st), MLA_OK);
        assert_int_equal(kinds[k]->predict_proba(st, dt->xte, 1, D, K, proba), MLA_ERR_INVALID);
        assert_non_null(strstr(mla_last_error(), "not fitted"));
        FILE *fp = tmpfile();
        assert_int_equal(kinds[k]->save(st, fp), MLA_ERR_INVALID);
        fclose(fp);
        assert_int_equal(kinds[k]->fit(st, dt->xtr, dt->ytr, N_TRAIN, D, K), MLA_ERR_INVALID);
        assert_non_null(strstr(mla_last_error(), "label 3 of row 10"));
        kinds[k]->free(st);
    }
    free(dt);
}

/* Every proper prefix of a saved stream, and a stream with flipped bytes in its header, is
 * refused by load with an error (never a crash). */
static void test_truncated_streams_refused(void **state) {
    (void)state;
    data *dt = make_data();
    mla_param small[] = {{"trees", 3}};
    const mla_classifier_ops *kinds[] = {&mla_svm_ops, &mla_rf_ops, &mla_gbm_ops, &mla_logreg_ops, &mla_nb_ops};
    for (int k = 0; k < 5; k++) {
        int trees = kinds[k] == &mla_rf_ops || kinds[k] == &mla_gbm_ops;
        void *st = fit(kinds[k], trees ? small : NULL, trees, 1, dt);
        char *buf = NULL;
        size_t size = 0;
        FILE *fp = open_memstream(&buf, &size);
        assert_int_equal(kinds[k]->save(st, fp), MLA_OK);
        fclose(fp);
        size_t step = size / 97 + 1;
        for (size_t cut = 0; cut < size; cut += step) {
            FILE *in = fmemopen(buf, cut ? cut : 1, "rb");
            if (cut == 0) fgetc(in); /* an empty stream */
            void *back = (void *)1;
            mla_status s = kinds[k]->load(in, D, K, &back);
            if (s == MLA_OK) fail_msg("%s: load accepted a stream cut at %zu of %zu bytes", kinds[k]->kind, cut, size);
            assert_null(back);
            fclose(in);
        }
        FILE *in = fmemopen(buf, size, "rb");
        void *back = NULL;
        assert_int_equal(kinds[k]->load(in, D + 1, K, &back), MLA_ERR_FORMAT); /* wrong feature count */
        fclose(in);
        kinds[k]->free(st);
        free(buf);
    }
    free(dt);
}

/* rf and gbm: another seed grows other trees. */
static void test_xgb_seed_matters(void **state) {
    (void)state;
    data *dt = make_data();
    mla_param p[] = {{"trees", 5}};
    void *a = fit(&mla_rf_ops, p, 1, 1, dt), *b = fit(&mla_rf_ops, p, 1, 2, dt);
    float pa[N_TEST * K], pb[N_TEST * K];
    assert_int_equal(mla_rf_ops.predict_proba(a, dt->xte, N_TEST, D, K, pa), MLA_OK);
    assert_int_equal(mla_rf_ops.predict_proba(b, dt->xte, N_TEST, D, K, pb), MLA_OK);
    assert_true(memcmp(pa, pb, sizeof pa) != 0);
    mla_rf_ops.free(a), mla_rf_ops.free(b);
    free(dt);
}

/* The logistic-regression gradient matches central finite differences. */
static void test_logreg_gradient(void **state) {
    (void)state;
    enum { n = 40, d = 5, k = 4, dim = k * (d + 1) };
    double x[n * d], theta[dim], grad[dim], g2[dim], work[n * (k + 1)];
    int32_t y[n];
    mla_rng r;
    mla_rng_seed(&r, 11);
    for (int i = 0; i < n * d; i++) x[i] = mla_rng_normal(&r);
    for (int i = 0; i < n; i++) y[i] = (int32_t)mla_rng_below(&r, k);
    for (int i = 0; i < dim; i++) theta[i] = 0.5 * mla_rng_normal(&r);
    double l2 = 0.3;
    mla_logreg_loss(theta, x, y, n, d, k, l2, grad, work);
    double h = 1e-5;
    for (int i = 0; i < dim; i++) {
        double keep = theta[i];
        theta[i] = keep + h;
        double up = mla_logreg_loss(theta, x, y, n, d, k, l2, g2, work);
        theta[i] = keep - h;
        double down = mla_logreg_loss(theta, x, y, n, d, k, l2, g2, work);
        theta[i] = keep;
        double numeric = (up - down) / (2 * h);
        if (fabs(numeric - grad[i]) > 1e-7 * fmax(1, fabs(numeric)))
            fail_msg("d f / d theta[%d]: analytic %.10g, numeric %.10g", i, grad[i], numeric);
    }
    /* At theta = 0 the loss is log(k) (uniform softmax), whatever l2 is. */
    memset(theta, 0, sizeof theta);
    assert_true(fabs(mla_logreg_loss(theta, x, y, n, d, k, l2, grad, work) - log(k)) < 1e-12);
}

/* nb: the probabilities follow from hand-computed class means, variances (ddof 0) raised by
 * var_smoothing times the largest feature variance, and priors. */
static void test_nb_matches_hand_computation(void **state) {
    (void)state;
    /* Two features, classes 0 (3 rows) and 1 (2 rows). */
    float x[] = {1, 0, 2, 0, 3, 3, 6, 1, 8, 2};
    int32_t y[] = {0, 0, 0, 1, 1};
    double mean[2][2] = {{2, 1}, {7, 1.5}};
    double var[2][2] = {{2.0 / 3, 2}, {1, 0.25}};
    /* Feature variances over all rows: f0: mean 4, var 6.8; f1: mean 1.2, var 1.36. */
    double smoothing = 0.1, epsilon = smoothing * 6.8, prior[2] = {0.6, 0.4};
    mla_param p = {"var_smoothing", smoothing};
    void *st = NULL;
    assert_int_equal(mla_nb_ops.create(&p, 1, 0, &st), MLA_OK);
    assert_int_equal(mla_nb_ops.fit(st, x, y, 5, 2, 2), MLA_OK);
    float query[] = {4, 1.5f}, proba[2];
    assert_int_equal(mla_nb_ops.predict_proba(st, query, 1, 2, 2, proba), MLA_OK);
    double joint[2];
    for (int c = 0; c < 2; c++) {
        joint[c] = log(prior[c]);
        for (int j = 0; j < 2; j++) {
            double v = var[c][j] + epsilon;
            joint[c] += -0.5 * log(2 * 3.14159265358979323846 * v) - 0.5 * (query[j] - mean[c][j]) * (query[j] - mean[c][j]) / v;
        }
    }
    double p0 = 1 / (1 + exp(joint[1] - joint[0]));
    assert_true(fabs(proba[0] - p0) < 1e-6);
    assert_true(fabs(proba[1] - (1 - p0)) < 1e-6);
    mla_nb_ops.free(st);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svm_learns_blobs),
        cmocka_unit_test(test_rf_learns_blobs),
        cmocka_unit_test(test_gbm_learns_blobs),
        cmocka_unit_test(test_logreg_learns_blobs),
        cmocka_unit_test(test_nb_learns_blobs),
        cmocka_unit_test(test_svm_gamma_scale_and_votes),
        cmocka_unit_test(test_svm_training_matches_libsvm),
        cmocka_unit_test(test_svm_unequal_pairs_one_thread),
        cmocka_unit_test(test_svm_probabilities_match_libsvm),
        cmocka_unit_test(test_absent_class_gets_zero),
        cmocka_unit_test(test_bad_params_refused),
        cmocka_unit_test(test_bad_input_refused),
        cmocka_unit_test(test_truncated_streams_refused),
        cmocka_unit_test(test_xgb_seed_matters),
        cmocka_unit_test(test_logreg_gradient),
        cmocka_unit_test(test_nb_matches_hand_computation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
