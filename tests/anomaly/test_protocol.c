/* Tests of the anomaly protocol runner (anomaly.h): the one-out / one-in splits
 * (disjoint, anomalies absent from training and validation, counts, subsets, seeds),
 * the metrics of a run against a slow direct computation (pairwise AUROC, textbook
 * average precision, the 95th percentile by hand, F1 by counting), the sample standard
 * deviation over seeds, and the runner with stand-in methods (shared splits, per-class
 * means, score terms, a NaN score refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/anomaly.h"

enum { CLASSES = 4, N_TRAIN = 403, N_TEST = 157, DIM = 4 };

/* n images 1 x 2 x 2, label (i * 7 + 3) % CLASSES (unequal class sizes); pixel 0
 * carries the label (label * 60 + i % 5), the rest noise. */
static mla_dataset *make(int n, uint64_t seed) {
    uint8_t *px = malloc((size_t)n * DIM);
    int32_t *y = malloc((size_t)n * sizeof *y);
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        y[i] = (i * 7 + 3) % CLASSES;
        if (i % 11 == 0) y[i] = 1; /* class 1 larger */
        px[i * DIM] = (uint8_t)(y[i] * 60 + i % 5);
        for (int k = 1; k < DIM; k++) px[i * DIM + k] = (uint8_t)mla_rng_below(&r, 256);
    }
    mla_dataset *ds = NULL;
    assert_int_equal(mla_dataset_from_memory(n, 1, 2, 2, px, NULL, y, CLASSES, &ds), MLA_OK);
    free(px), free(y);
    return ds;
}

static int sorted_strictly(const int32_t *a, int n) {
    for (int i = 1; i < n; i++)
        if (a[i] <= a[i - 1]) return 0;
    return 1;
}

static void check_split(const mla_dataset *tr, const mla_dataset *te, const mla_anomaly_split *s,
                        mla_anomaly_protocol p, int cls, int subset) {
    const int32_t *ly = mla_dataset_labels(tr), *ty = mla_dataset_labels(te);
    int normal = 0;
    for (int i = 0; i < N_TRAIN; i++) normal += p == MLA_ANOMALY_ONE_IN ? ly[i] == cls : ly[i] != cls;
    int nv = (int)lround(0.1 * normal);
    assert_int_equal(s->n_val, nv);
    assert_int_equal(s->n_train, subset ? subset : normal - nv);
    assert_true(sorted_strictly(s->train, s->n_train) && sorted_strictly(s->val, s->n_val));
    char *seen = calloc(N_TRAIN, 1);
    for (int i = 0; i < s->n_train; i++) seen[s->train[i]]++;
    for (int i = 0; i < s->n_val; i++) seen[s->val[i]]++;
    for (int i = 0; i < N_TRAIN; i++) {
        assert_true(seen[i] <= 1); /* disjoint */
        int is_normal = p == MLA_ANOMALY_ONE_IN ? ly[i] == cls : ly[i] != cls;
        if (!is_normal) assert_int_equal(seen[i], 0); /* anomalies never in train / val */
    }
    free(seen);
    int anomalies = 0;
    for (int i = 0; i < s->n_test; i++) {
        int a = p == MLA_ANOMALY_ONE_IN ? ty[s->test[i]] != cls : ty[s->test[i]] == cls;
        assert_int_equal(s->anomaly[i], a);
        anomalies += a;
    }
    assert_int_equal(s->n_anomalies, anomalies);
}

static void test_splits(void **state) {
    (void)state;
    mla_dataset *tr = make(N_TRAIN, 1), *te = make(N_TEST, 2);
    mla_anomaly_protocol_config pc = mla_anomaly_protocol_defaults();
    for (int p = 0; p < 2; p++)
        for (int cls = 0; cls < CLASSES; cls++) {
            pc.protocol = (mla_anomaly_protocol)p;
            mla_anomaly_split s;
            assert_int_equal(mla_anomaly_split_make(tr, te, &pc, cls, 5, 5, &s), MLA_OK);
            check_split(tr, te, &s, pc.protocol, cls, 0);
            assert_int_equal(s.n_test, N_TEST); /* the whole test split */
            for (int i = 0; i < N_TEST; i++) assert_int_equal(s.test[i], i);
            mla_anomaly_split_free(&s);
        }
    mla_dataset_free(tr), mla_dataset_free(te);
}

static void test_subsets_and_seeds(void **state) {
    (void)state;
    mla_dataset *tr = make(N_TRAIN, 1), *te = make(N_TEST, 2);
    mla_anomaly_protocol_config pc = mla_anomaly_protocol_defaults();
    pc.subset = 50, pc.test_subset = 60;
    mla_anomaly_split a, b, c;
    assert_int_equal(mla_anomaly_split_make(tr, te, &pc, 1, 7, 3, &a), MLA_OK);
    check_split(tr, te, &a, pc.protocol, 1, 50);
    assert_int_equal(a.n_test, 60);
    assert_true(sorted_strictly(a.test, a.n_test));
    /* another seed: other train / val, the same test images (base seed) */
    assert_int_equal(mla_anomaly_split_make(tr, te, &pc, 1, 8, 3, &b), MLA_OK);
    assert_true(memcmp(a.test, b.test, sizeof(int32_t) * 60) == 0);
    assert_true(memcmp(a.val, b.val, sizeof(int32_t) * (size_t)a.n_val) != 0);
    /* the same seed: the same bits */
    assert_int_equal(mla_anomaly_split_make(tr, te, &pc, 1, 7, 3, &c), MLA_OK);
    assert_true(memcmp(a.train, c.train, sizeof(int32_t) * 50) == 0 && memcmp(a.val, c.val, sizeof(int32_t) * (size_t)a.n_val) == 0);
    mla_anomaly_split_free(&a), mla_anomaly_split_free(&b), mla_anomaly_split_free(&c);
    mla_dataset_free(tr), mla_dataset_free(te);
}

static void test_bad_splits(void **state) {
    (void)state;
    mla_dataset *tr = make(N_TRAIN, 1), *te = make(N_TEST, 2);
    mla_anomaly_protocol_config pc = mla_anomaly_protocol_defaults();
    mla_anomaly_split s;
    assert_int_equal(mla_anomaly_split_make(tr, te, &pc, 4, 1, 1, &s), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "out of range"));
    assert_int_equal(mla_anomaly_split_make(tr, te, &pc, -1, 1, 1, &s), MLA_ERR_INVALID);
    pc.val_fraction = 0;
    assert_int_equal(mla_anomaly_split_make(tr, te, &pc, 0, 1, 1, &s), MLA_ERR_INVALID);
    uint8_t px[8] = {0};
    int32_t y[2] = {0, 0};
    mla_dataset *one;
    assert_int_equal(mla_dataset_from_memory(2, 1, 2, 2, px, NULL, y, 1, &one), MLA_OK);
    pc = mla_anomaly_protocol_defaults();
    assert_int_equal(mla_anomaly_split_make(one, one, &pc, 0, 1, 1, &s), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "1 class"));
    mla_anomaly_protocol p;
    assert_int_equal(mla_anomaly_protocol_parse("one-in", &p), MLA_OK);
    assert_int_equal(p, MLA_ANOMALY_ONE_IN);
    assert_int_equal(mla_anomaly_protocol_parse("leave-one", &p), MLA_ERR_INVALID);
    mla_dataset_free(one), mla_dataset_free(tr), mla_dataset_free(te);
}

/* ---- metrics against a slow direct computation ---- */

static double direct_quantile(const double *v, int n, double p) {
    double *s = malloc(sizeof(double) * (size_t)n);
    memcpy(s, v, sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) /* selection sort */
        for (int j = i + 1; j < n; j++)
            if (s[j] < s[i]) {
                double t = s[i];
                s[i] = s[j], s[j] = t;
            }
    double h = (n - 1) * p;
    int lo = (int)floor(h);
    double q = lo + 1 < n ? s[lo] + (h - lo) * (s[lo + 1] - s[lo]) : s[lo];
    free(s);
    return q;
}

static void test_metrics_direct(void **state) {
    (void)state;
    enum { N = 300, V = 41 };
    double sc[N], val[V];
    uint8_t an[N];
    mla_rng r;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        mla_rng_seed(&r, seed);
        for (int i = 0; i < N; i++) {
            an[i] = mla_rng_below(&r, 4) == 0;
            sc[i] = (double)mla_rng_below(&r, seed % 2 ? 7 : 1000) + an[i] * (double)mla_rng_below(&r, 3);
        }
        for (int i = 0; i < V; i++) val[i] = (double)mla_rng_below(&r, seed % 2 ? 7 : 1000);
        mla_anomaly_metrics m;
        assert_int_equal(mla_anomaly_metrics_compute(sc, an, N, val, V, 0.95, &m), MLA_OK);
        double twice = 0, P = 0, Nn = 0, ap = 0;
        for (int i = 0; i < N; i++) {
            P += an[i], Nn += !an[i];
            if (!an[i]) continue;
            for (int j = 0; j < N; j++)
                if (!an[j]) twice += sc[i] > sc[j] ? 2 : sc[i] == sc[j];
            double tp = 0, all = 0;
            for (int j = 0; j < N; j++)
                if (sc[j] >= sc[i]) all++, tp += an[j];
            ap += tp / all;
        }
        assert_true(fabs(m.auroc - twice / (2 * P * Nn)) < 1e-12);
        assert_true(fabs(m.aupr - ap / P) < 1e-12);
        double t = direct_quantile(val, V, 0.95);
        assert_true(m.threshold == t);
        double tp = 0, fp = 0, fn = 0;
        for (int i = 0; i < N; i++) {
            int pred = sc[i] >= t;
            tp += pred && an[i], fp += pred && !an[i], fn += !pred && an[i];
        }
        assert_true(fabs(m.f1 - 2 * tp / (2 * tp + fp + fn)) < 1e-12);
    }
    uint8_t none[3] = {0, 0, 0};
    mla_anomaly_metrics m;
    assert_int_equal(mla_anomaly_metrics_compute(sc, none, 3, val, 3, 0.95, &m), MLA_ERR_INVALID);
}

static void test_mean_sd(void **state) {
    (void)state;
    const double x[4] = {1, 2, 3, 4};
    mla_mean_sd r = mla_mean_sd_of(x, 4);
    assert_true(r.mean == 2.5 && fabs(r.sd - sqrt(5.0 / 3.0)) < 1e-15); /* n - 1 */
    r = mla_mean_sd_of(x + 2, 1);
    assert_true(r.mean == 3 && r.sd == 0);
}

/* ---- the runner with stand-in methods ---- */

/* Scores an image by its first pixel's distance from the mean first pixel of the
 * training images (pixel 0 carries the label, so the normal class stands apart). Two
 * terms: that distance, and -2 x pixel 1 (noise). */
typedef struct {
    double mean;
    int nan_at; /* score index that becomes NaN (-1: none) */
} stub_state;
static const char *const stub_terms[] = {"dist", "twice", NULL};
static int stub_nan = -1;

static mla_status stub_fit(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train, int n_train,
                           const int32_t *val, int n_val, void **state) {
    (void)cfg, (void)val, (void)n_val;
    stub_state *s = calloc(1, sizeof *s);
    const uint8_t *px = mla_dataset_pixels_u8(ds);
    for (int i = 0; i < n_train; i++) s->mean += px[train[i] * DIM] / (double)n_train;
    s->nan_at = stub_nan;
    *state = s;
    return MLA_OK;
}

static mla_status stub_score(void *state, const mla_dataset *ds, const int32_t *idx, int n, double *scores,
                             double *terms) {
    stub_state *s = state;
    const uint8_t *px = mla_dataset_pixels_u8(ds);
    for (int i = 0; i < n; i++) {
        scores[i] = fabs(px[idx[i] * DIM] - s->mean);
        if (i == s->nan_at) scores[i] = NAN;
        if (terms) terms[2 * i] = scores[i], terms[2 * i + 1] = -2 * (double)(px[idx[i] * DIM + 1]);
    }
    return MLA_OK;
}

static void stub_free(void *state) { free(state); }

static int figure_calls;
static mla_status stub_figures(void *state, const mla_dataset *ds, const int32_t *idx, int n, const char *dir) {
    (void)state, (void)ds, (void)idx;
    assert_string_equal(dir, "figs");
    assert_int_equal(n, N_TEST);
    figure_calls++;
    return MLA_OK;
}

static const mla_anomaly_method stub = {"stub", "test", 2, stub_terms, stub_fit, stub_score, NULL, stub_free};
static const mla_anomaly_method stub0 = {"plain", "test", 0, NULL, stub_fit, stub_score, stub_figures, stub_free};

static void test_runner(void **state) {
    (void)state;
    mla_dataset *tr = make(N_TRAIN, 1), *te = make(N_TEST, 2);
    mla_anomaly_protocol_config pc = mla_anomaly_protocol_defaults();
    pc.protocol = MLA_ANOMALY_ONE_IN, pc.seeds = 3;
    mla_anomaly_config cfg = mla_anomaly_defaults();
    cfg.seed = 10, cfg.threads = 1, cfg.figures_dir = "figs";
    const mla_anomaly_method *ms[2] = {&stub, &stub0};
    mla_anomaly_result r;
    assert_int_equal(mla_anomaly_run(tr, te, &pc, &cfg, ms, 2, &r), MLA_OK);
    assert_int_equal(figure_calls, 1); /* the first class's first seed only */
    assert_int_equal(r.n_methods, 2);
    double mean = 0;
    for (int c = 0; c < CLASSES; c++) {
        const mla_anomaly_class_result *a = &r.methods[0].per_class[c], *b = &r.methods[1].per_class[c];
        assert_int_equal(a->cls, c);
        assert_int_equal(a->split.n_test, b->split.n_test);
        assert_true(memcmp(a->split.anomaly, b->split.anomaly, (size_t)a->split.n_test) == 0);
        double au[3];
        for (int s = 0; s < 3; s++) {
            /* each seed's metrics equal a direct recomputation from its own split */
            mla_anomaly_split sp;
            assert_int_equal(mla_anomaly_split_make(tr, te, &pc, c, 10 + (uint64_t)s, 10, &sp), MLA_OK);
            void *st;
            double *val = malloc(sizeof(double) * (size_t)sp.n_val), *sc = malloc(sizeof(double) * (size_t)sp.n_test);
            stub_fit(&cfg, tr, sp.train, sp.n_train, sp.val, sp.n_val, &st);
            stub_score(st, tr, sp.val, sp.n_val, val, NULL);
            stub_score(st, te, sp.test, sp.n_test, sc, NULL);
            mla_anomaly_metrics m;
            assert_int_equal(mla_anomaly_metrics_compute(sc, sp.anomaly, sp.n_test, val, sp.n_val, 0.95, &m), MLA_OK);
            assert_true(m.auroc == a->seed_metrics[s].auroc && m.aupr == a->seed_metrics[s].aupr);
            assert_true(m.f1 == a->seed_metrics[s].f1 && m.threshold == a->seed_metrics[s].threshold);
            assert_true(memcmp(sc, a->scores + (size_t)s * sp.n_test, sizeof(double) * (size_t)sp.n_test) == 0);
            /* term 0 is the score itself */
            assert_true(a->term_metrics[s * 2].auroc == m.auroc);
            au[s] = m.auroc;
            free(val), free(sc), stub_free(st);
            mla_anomaly_split_free(&sp);
        }
        mla_mean_sd want = mla_mean_sd_of(au, 3);
        assert_true(a->auroc.mean == want.mean && a->auroc.sd == want.sd);
        assert_true(b->auroc.mean == want.mean);
        mean += a->auroc.mean / CLASSES;
    }
    assert_true(fabs(r.methods[0].mean_auroc - mean) < 1e-15);
    assert_true(r.methods[0].term_mean_auroc[0] == r.methods[0].mean_auroc);
    assert_true(r.methods[0].mean_auroc > 0.9); /* pixel 0 tells the class */
    mla_anomaly_result_free(&r);

    /* one class; a NaN score stops the run, naming the method */
    pc.cls = 2, pc.seeds = 1;
    stub_nan = 3;
    assert_int_equal(mla_anomaly_run(tr, te, &pc, &cfg, ms, 1, &r), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "'stub'"));
    assert_non_null(strstr(mla_last_error(), "class 2"));
    assert_null(r.methods);
    stub_nan = -1;
    pc.cls = 9;
    assert_int_equal(mla_anomaly_run(tr, te, &pc, &cfg, ms, 1, &r), MLA_ERR_INVALID);
    mla_anomaly_result_free(&r);
    mla_dataset_free(tr), mla_dataset_free(te);
}

static void test_registry(void **state) {
    (void)state;
    const mla_anomaly_method *m;
    assert_int_equal(mla_anomaly_method_find("knn", &m), MLA_OK);
    assert_ptr_equal(m, &mla_anomaly_knn);
    assert_int_equal(mla_anomaly_method_find("ocsvm", &m), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "available: adegan, ganomaly, knn, ae, dsvdd, knn-ae"));
    mla_anomaly_config c = mla_anomaly_defaults();
    assert_true(c.k == 1 && c.adegan.patterns == 10 && c.adegan.noise_dim == 16 && c.adegan.gamma == 10);
    assert_true(c.epochs == 0 && c.lr == 0 && !strcmp(c.adegan.score, "both"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits),         cmocka_unit_test(test_subsets_and_seeds),
        cmocka_unit_test(test_bad_splits),     cmocka_unit_test(test_metrics_direct),
        cmocka_unit_test(test_mean_sd),        cmocka_unit_test(test_runner),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
