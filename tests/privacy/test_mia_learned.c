/* Learned membership attacks (mia.h, "Learned attacks"): attack features, the attack
 * model (MLP and logistic regression, SORTED and per-class RAW, the shared fallback),
 * MIA-BAD's batch means, and the label-only augmentation counts against a slow direct
 * re-implementation. Synthetic data only; seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/mia.h"

/* ---- features ---- */

static void test_features(void **state) {
    (void)state;
    const float probs[2 * 3] = {0.1f, 0.6f, 0.3f, 0.0f, 1.0f, 0.0f};
    const int32_t labels[2] = {2, 0};
    assert_int_equal(mla_attack_feature_dim(MLA_ATTACK_FEATURES_SORTED, 3), 4);
    assert_int_equal(mla_attack_feature_dim(MLA_ATTACK_FEATURES_RAW, 3), 3);
    assert_int_equal(mla_attack_feature_dim(MLA_ATTACK_FEATURES_SORTED, 0), 0);

    float out[2 * 4];
    mla_attack_features_of(MLA_ATTACK_FEATURES_SORTED, probs, labels, 2, 3, out);
    const float want[2 * 4] = {0.6f, 0.3f, 0.1f, (float)-log((double)0.3f),
                               1.0f, 0.0f, 0.0f, (float)-log(1e-300)}; /* p_y = 0 is taken at 1e-300 */
    assert_memory_equal(out, want, sizeof want);
    assert_true(isfinite(out[7]));

    float raw[2 * 3];
    mla_attack_features_of(MLA_ATTACK_FEATURES_RAW, probs, labels, 2, 3, raw);
    assert_memory_equal(raw, probs, sizeof probs);
}

/* ---- the attack model ---- */

enum { D = 4, N_FIT = 1500, N_TEST = 1500 };

/* Rows of D features. separable: member rows have column 0 near +2, non-members near
 * -2 (column 1 on a scale of 1000, to need the standardisation); otherwise pure noise
 * with random membership. */
static void make_rows(uint64_t seed, bool separable, int n, float *x, uint8_t *member) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        member[i] = (uint8_t)mla_rng_below(&r, 2);
        for (int j = 0; j < D; j++) x[i * D + j] = (float)mla_rng_normal(&r);
        if (separable) x[i * D] += member[i] ? 2.5f : -2.5f;
        x[i * D + 1] *= 1000.0f;
    }
}

static double accuracy(const double *p, const uint8_t *member, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) ok += (p[i] >= 0.5) == (member[i] == 1);
    return (double)ok / n;
}

static mla_attack_config quick_config(mla_attack_model_kind kind) {
    mla_attack_config cfg = mla_attack_defaults();
    cfg.model = kind;
    cfg.epochs = 15;
    cfg.batch = 64;
    cfg.lr = 1e-2f; /* few steps: a faster rate than the default */
    cfg.seed = 11;
    return cfg;
}

/* Fits on one seeded draw and returns the accuracy on a fresh one. */
static double fit_and_score(mla_attack_model_kind kind, bool separable) {
    float *x = malloc(sizeof(float) * N_FIT * D), *xt = malloc(sizeof(float) * N_TEST * D);
    uint8_t *m = malloc(N_FIT), *mt = malloc(N_TEST);
    double *p = malloc(sizeof(double) * N_TEST);
    make_rows(1, separable, N_FIT, x, m);
    make_rows(2, separable, N_TEST, xt, mt);
    mla_attack_config cfg = quick_config(kind);
    mla_attack_model *am;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, NULL, N_FIT, D, 0, &am), MLA_OK);
    assert_int_equal(mla_attack_model_predict(am, xt, NULL, N_TEST, p), MLA_OK);
    for (int i = 0; i < N_TEST; i++) assert_true(p[i] >= 0 && p[i] <= 1);
    double acc = accuracy(p, mt, N_TEST);
    mla_attack_model_free(am);
    free(x), free(xt), free(m), free(mt), free(p);
    return acc;
}

static void test_defaults(void **state) {
    (void)state;
    mla_attack_config cfg = mla_attack_defaults();
    assert_int_equal(cfg.features, MLA_ATTACK_FEATURES_SORTED);
    assert_int_equal(cfg.model, MLA_ATTACK_MODEL_MLP);
    assert_int_equal(cfg.hidden, 64);
    assert_int_equal(cfg.epochs, 80);
    assert_int_equal(cfg.batch, 256);
    assert_true(cfg.lr == 1e-3f);
}

static void test_separable_and_random(void **state) {
    (void)state;
    assert_true(fit_and_score(MLA_ATTACK_MODEL_MLP, true) > 0.95);
    assert_true(fit_and_score(MLA_ATTACK_MODEL_LOGREG, true) > 0.95);
    assert_true(fabs(fit_and_score(MLA_ATTACK_MODEL_MLP, false) - 0.5) < 0.1);
    assert_true(fabs(fit_and_score(MLA_ATTACK_MODEL_LOGREG, false) - 0.5) < 0.1);
}

static void fit_predict(const mla_attack_config *cfg, const float *x, const uint8_t *m, int n, double *p) {
    mla_attack_model *am;
    assert_int_equal(mla_attack_model_fit(cfg, x, m, NULL, n, D, 0, &am), MLA_OK);
    assert_int_equal(mla_attack_model_predict(am, x, NULL, n, p), MLA_OK);
    mla_attack_model_free(am);
}

static void test_same_seed_same_bits(void **state) {
    (void)state;
    enum { N = 600 };
    float x[N * D];
    uint8_t m[N];
    double p1[N], p2[N], p3[N];
    make_rows(3, true, N, x, m);
    mla_attack_config cfg = quick_config(MLA_ATTACK_MODEL_MLP);
    fit_predict(&cfg, x, m, N, p1);
    fit_predict(&cfg, x, m, N, p2);
    assert_memory_equal(p1, p2, sizeof p1);
    cfg.seed++;
    fit_predict(&cfg, x, m, N, p3);
    assert_memory_not_equal(p1, p3, sizeof p1);
}

/* RAW rows: class k's members have column 0 near +2 for even k and near -2 for odd k
 * (one shared linear model cannot fit both); classes listed in only_members have no
 * non-members. Column k is shifted by 1 so the classes also differ elsewhere. */
static void make_class_rows(uint64_t seed, int n, int classes, const int *weights, float *x, uint8_t *member,
                            int32_t *cls, int only_members) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    int total = 0;
    for (int k = 0; k < classes; k++) total += weights[k];
    for (int i = 0; i < n; i++) {
        int u = (int)mla_rng_below(&r, (uint64_t)total), k = 0;
        while (u >= weights[k]) u -= weights[k++];
        cls[i] = k;
        member[i] = k == only_members ? 1 : (uint8_t)mla_rng_below(&r, 2);
        for (int j = 0; j < D; j++) x[i * D + j] = (float)mla_rng_normal(&r);
        float sign = k % 2 ? -1.0f : 1.0f;
        x[i * D] += (member[i] ? 2.5f : -2.5f) * sign;
        x[i * D + k % D] += 1.0f;
    }
}

static double class_accuracy(const double *p, const uint8_t *m, const int32_t *cls, int n, int k) {
    int ok = 0, count = 0;
    for (int i = 0; i < n; i++)
        if (cls[i] == k) count++, ok += (p[i] >= 0.5) == (m[i] == 1);
    assert_true(count > 0);
    return (double)ok / count;
}

static void test_raw_per_class(void **state) {
    (void)state;
    enum { N = 1500, K = 2 };
    static float x[N * D], xt[N * D];
    static uint8_t m[N], mt[N];
    static int32_t c[N], ct[N];
    static double p[N];
    const int weights[K] = {1, 1};
    make_class_rows(4, N, K, weights, x, m, c, -1);
    make_class_rows(5, N, K, weights, xt, mt, ct, -1);
    mla_attack_config cfg = quick_config(MLA_ATTACK_MODEL_LOGREG);
    cfg.features = MLA_ATTACK_FEATURES_RAW;
    mla_attack_model *am;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, c, N, D, K, &am), MLA_OK);
    assert_int_equal(mla_attack_model_predict(am, xt, ct, N, p), MLA_OK);
    /* Per-class logistic regressions fit the opposite rules; one could not. */
    assert_true(class_accuracy(p, mt, ct, N, 0) > 0.95);
    assert_true(class_accuracy(p, mt, ct, N, 1) > 0.95);
    mla_attack_model_free(am);
    cfg.features = MLA_ATTACK_FEATURES_SORTED; /* the same rows, one model, classes ignored */
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, c, N, D, K, &am), MLA_OK);
    assert_int_equal(mla_attack_model_predict(am, xt, ct, N, p), MLA_OK);
    assert_true(accuracy(p, mt, N) < 0.8);
    mla_attack_model_free(am);
}

/* Class 2 has members only and class 3 no rows: both fall back to the shared model,
 * fit on every row and dominated by class 0's rule. */
static void test_raw_fallback(void **state) {
    (void)state;
    enum { N = 1500, K = 4 };
    static float x[N * D], xt[N * D];
    static uint8_t m[N], mt[N];
    static int32_t c[N], ct[N], c2[N], c3[N];
    static double p2[N], p3[N], p0[N];
    const int weights[K] = {8, 2, 1, 0};
    make_class_rows(6, N, K, weights, x, m, c, 2);
    make_class_rows(7, N, K, weights, xt, mt, ct, -1);
    mla_attack_config cfg = quick_config(MLA_ATTACK_MODEL_LOGREG);
    cfg.features = MLA_ATTACK_FEATURES_RAW;
    mla_attack_model *am;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, c, N, D, K, &am), MLA_OK);
    int32_t zeros[N] = {0};
    for (int i = 0; i < N; i++) c2[i] = 2, c3[i] = 3;
    assert_int_equal(mla_attack_model_predict(am, xt, c2, N, p2), MLA_OK);
    assert_int_equal(mla_attack_model_predict(am, xt, c3, N, p3), MLA_OK);
    assert_int_equal(mla_attack_model_predict(am, xt, zeros, N, p0), MLA_OK);
    assert_memory_equal(p2, p3, sizeof p2);        /* one shared model */
    assert_memory_not_equal(p2, p0, sizeof p2);    /* not class 0's own */
    /* On class-2 rows (class 0's rule) the shared model does well. */
    int ok = 0, count = 0;
    for (int i = 0; i < N; i++)
        if (ct[i] == 2) count++, ok += (p2[i] >= 0.5) == (mt[i] == 1);
    assert_true(count > 0 && (double)ok / count > 0.8);

    int32_t bad[1] = {K};
    assert_int_equal(mla_attack_model_predict(am, xt, bad, 1, p2), MLA_ERR_INVALID);
    assert_int_equal(mla_attack_model_predict(am, xt, NULL, 1, p2), MLA_ERR_INVALID);
    mla_attack_model_free(am);
}

static void test_fit_refusals(void **state) {
    (void)state;
    float x[4 * D] = {0};
    uint8_t m[4] = {0, 1, 0, 1};
    int32_t c[4] = {0, 1, 0, 1};
    mla_attack_config cfg = quick_config(MLA_ATTACK_MODEL_MLP);
    mla_attack_model *am = (mla_attack_model *)1;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, NULL, 0, D, 0, &am), MLA_ERR_INVALID);
    assert_null(am);
    m[2] = 2;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, NULL, 4, D, 0, &am), MLA_ERR_INVALID);
    m[2] = 0;
    x[5] = NAN;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, NULL, 4, D, 0, &am), MLA_ERR_INVALID);
    x[5] = 0;
    cfg.epochs = 0;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, NULL, 4, D, 0, &am), MLA_ERR_INVALID);
    cfg = quick_config(MLA_ATTACK_MODEL_MLP);
    cfg.lr = 0;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, NULL, 4, D, 0, &am), MLA_ERR_INVALID);
    cfg = quick_config(MLA_ATTACK_MODEL_MLP);
    cfg.features = MLA_ATTACK_FEATURES_RAW;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, NULL, 4, D, 2, &am), MLA_ERR_INVALID);
    c[3] = 2;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, c, 4, D, 2, &am), MLA_ERR_INVALID);
    c[3] = 1;
    assert_int_equal(mla_attack_model_fit(&cfg, x, m, c, 4, D, 2, &am), MLA_OK); /* constant columns: sd 1 */
    double p[4];
    assert_int_equal(mla_attack_model_predict(am, x, c, 4, p), MLA_OK);
    for (int i = 0; i < 4; i++) assert_true(p[i] > 0 && p[i] < 1);
    mla_attack_model_free(am);
    mla_attack_model_free(NULL);
}

/* ---- batch means ---- */

static void test_batch_means(void **state) {
    (void)state;
    enum { N = 103, DD = 5, B = 10 };
    float x[N * DD], out[N * DD], want[N * DD];
    mla_rng r;
    mla_rng_seed(&r, 8);
    for (int i = 0; i < N * DD; i++) x[i] = (float)mla_rng_normal(&r);

    mla_rng a, b;
    mla_rng_seed(&a, 5);
    mla_rng_seed(&b, 5);
    int rows = -1;
    assert_int_equal(mla_attack_batch_means(x, N, DD, B, &a, out, &rows), MLA_OK);
    assert_int_equal(rows, N / B);
    int32_t perm[N];
    for (int i = 0; i < N; i++) perm[i] = i;
    mla_rng_shuffle(&b, perm, N);
    for (int g = 0; g < N / B; g++)
        for (int j = 0; j < DD; j++) {
            double s = 0;
            for (int i = 0; i < B; i++) s += x[perm[g * B + i] * DD + j];
            want[g * DD + j] = (float)(s / B);
        }
    assert_memory_equal(out, want, sizeof(float) * (N / B) * DD);
    assert_true(mla_rng_u64(&a) == mla_rng_u64(&b)); /* the same draws */

    assert_int_equal(mla_attack_batch_means(x, N, DD, N, &a, out, &rows), MLA_OK);
    assert_int_equal(rows, 1);
    assert_int_equal(mla_attack_batch_means(x, N, DD, N + 1, &a, out, &rows), MLA_ERR_INVALID);
    assert_int_equal(mla_attack_batch_means(x, N, DD, 0, &a, out, &rows), MLA_ERR_INVALID);
}

/* ---- augmentation counts ---- */

static const char aug_spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\"},"
    " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";

enum { AUG_N = 12, AUG_K = 3 };

/* Random images (8-bit or float) with random labels. */
static mla_dataset *aug_data(int c, int h, int w, bool f32, uint64_t seed) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    int dim = c * h * w;
    uint8_t *u8 = malloc((size_t)AUG_N * dim);
    float *f = malloc(sizeof(float) * AUG_N * dim);
    int32_t y[AUG_N];
    for (int i = 0; i < AUG_N * dim; i++) {
        u8[i] = (uint8_t)mla_rng_below(&r, 256);
        f[i] = (float)mla_rng_uniform(&r);
    }
    for (int i = 0; i < AUG_N; i++) y[i] = (int32_t)mla_rng_below(&r, AUG_K);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(AUG_N, c, h, w, f32 ? NULL : u8, f32 ? f : NULL, y, AUG_K, &ds), MLA_OK);
    free(u8);
    free(f);
    return ds;
}

/* The slow way: every flipped-then-shifted copy built by hand, run alone. */
static void slow_counts(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int radius, bool flips,
                        int32_t *counts) {
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    float *img = malloc(sizeof(float) * c * h * w), *cp = malloc(sizeof(float) * c * h * w);
    for (int s = 0; s < n; s++) {
        int32_t label;
        mla_dataset_batch(ds, idx + s, 0, 1, img, &label);
        counts[s] = 0;
        for (int flip = 0; flip <= (flips ? 1 : 0); flip++)
            for (int dy = -radius; dy <= radius; dy++)
                for (int dx = -radius; dx <= radius; dx++) {
                    for (int ch = 0; ch < c; ch++)
                        for (int y = 0; y < h; y++)
                            for (int x = 0; x < w; x++) {
                                int sy = y - dy, sx = x - dx;
                                if (flip) sx = w - 1 - sx;
                                bool in = sy >= 0 && sy < h && sx >= 0 && sx < w;
                                cp[(ch * h + y) * w + x] = in ? img[(ch * h + sy) * w + sx] : 0.0f;
                            }
                    const float *z;
                    assert_int_equal(mla_net_forward(net, cp, 1, false, &z), MLA_OK);
                    int best = 0;
                    for (int j = 1; j < AUG_K; j++)
                        if (z[j] > z[best]) best = j;
                    counts[s] += best == label;
                }
    }
    free(img);
    free(cp);
}

static void check_counts(int c, int h, int w, bool f32, int radius, bool flips, int want_aug) {
    mla_dataset *ds = aug_data(c, h, w, f32, 20 + (uint64_t)c);
    mla_net *net;
    assert_int_equal(mla_net_create(aug_spec, (mla_shape){c, h, w}, AUG_K, 3, &net), MLA_OK);
    const int32_t idx[] = {4, 0, 11, 7, 7, 2, 9};
    enum { n = sizeof idx / sizeof idx[0] };
    int32_t want[n], got[n];
    slow_counts(net, ds, idx, n, radius, flips, want);
    int total = 0;
    for (int i = 0; i < n; i++) total += want[i];
    assert_true(total > 0 && total < n * want_aug); /* the comparison says something */
    const int batches[] = {1, 5, 1000};
    for (int b = 0; b < 3; b++) {
        int n_aug = -1;
        assert_int_equal(mla_mia_augment_counts(net, ds, idx, n, radius, flips, batches[b], got, &n_aug), MLA_OK);
        assert_int_equal(n_aug, want_aug);
        assert_memory_equal(got, want, sizeof want);
    }
    mla_net_free(net);
    mla_dataset_free(ds);
}

static void test_augment_counts(void **state) {
    (void)state;
    check_counts(1, 6, 6, false, 1, false, 9);
    check_counts(1, 6, 6, false, 1, true, 18);
    check_counts(3, 5, 5, true, 1, true, 18);
    check_counts(3, 5, 5, false, 2, false, 25);
    check_counts(1, 6, 6, true, 0, false, 1);
}

static void test_augment_refusals(void **state) {
    (void)state;
    mla_dataset *ds = aug_data(1, 6, 6, false, 30), *other = aug_data(3, 5, 5, false, 31);
    mla_net *net;
    assert_int_equal(mla_net_create(aug_spec, (mla_shape){1, 6, 6}, AUG_K, 3, &net), MLA_OK);
    int32_t idx[2] = {0, 1}, counts[2];
    int n_aug;
    assert_int_equal(mla_mia_augment_counts(net, ds, idx, 2, -1, false, 8, counts, &n_aug), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_augment_counts(net, ds, idx, 2, 6, false, 8, counts, &n_aug), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_augment_counts(net, ds, idx, 2, 1, false, 0, counts, &n_aug), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_augment_counts(net, ds, idx, 2, 1, false, 8, NULL, &n_aug), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_augment_counts(net, ds, idx, -1, 1, false, 8, counts, &n_aug), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_augment_counts(net, other, idx, 2, 1, false, 8, counts, &n_aug), MLA_ERR_SHAPE);
    idx[1] = AUG_N;
    assert_int_equal(mla_mia_augment_counts(net, ds, idx, 2, 1, false, 8, counts, &n_aug), MLA_ERR_INVALID);
    mla_net_free(net);
    mla_dataset_free(ds);
    mla_dataset_free(other);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_separable_and_random),
        cmocka_unit_test(test_same_seed_same_bits),
        cmocka_unit_test(test_raw_per_class),
        cmocka_unit_test(test_raw_fallback),
        cmocka_unit_test(test_fit_refusals),
        cmocka_unit_test(test_batch_means),
        cmocka_unit_test(test_augment_counts),
        cmocka_unit_test(test_augment_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
