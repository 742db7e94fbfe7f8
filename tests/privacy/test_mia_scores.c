/* Tests of mia.h section 1, the score formulas: phi and log p_y, the metric scores, LiRA
 * (four variants), RMIA offline and similarity. Each is checked against a plain, slow
 * re-implementation of the header's definition on seeded random data, and on cases
 * worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/mia.h"

#define LOG_FLOOR (-690.7755278982137) /* log(1e-300) */
#define TWO_PI 6.283185307179586476925

/* |a - b| within 1e-12 of max(|b|, 1): relative for scores of magnitude >= 1. */
static int close12(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= 1e-12 * fmax(fabs(b), 1.0);
}

static int rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b) + 1e-300; }

/* ---- plain re-implementations of the header's definitions ---- */

static double plain_log(double p) { return p < 1e-300 ? log(1e-300) : log(p); }

/* The values of sample i on one side (in = 1: IN), copied into vals; returns how many. */
static int gather(const double *shadow, const uint8_t *in, int k, int m, int i, int want_in, double *vals) {
    int n = 0;
    for (int s = 0; s < k; s++)
        if ((in[s * m + i] != 0) == want_in) vals[n++] = shadow[s * m + i];
    return n;
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int j = 0; j < n; j++) s += v[j];
    return s / n;
}

static double sd_of(const double *v, int n) {
    double mu = mean_of(v, n), s = 0;
    for (int j = 0; j < n; j++) s += (v[j] - mu) * (v[j] - mu);
    return sqrt(s / n);
}

static int all_equal(const double *v, int n) {
    for (int j = 1; j < n; j++)
        if (v[j] != v[0]) return 0;
    return 1;
}

static double plain_global_sd(const double *shadow, const uint8_t *in, int k, int m, int want_in) {
    double vals[64], ss = 0;
    int total = 0;
    for (int i = 0; i < m; i++) {
        int n = gather(shadow, in, k, m, i, want_in, vals);
        if (n == 0) continue;
        double mu = mean_of(vals, n);
        for (int j = 0; j < n; j++) ss += (vals[j] - mu) * (vals[j] - mu);
        total += n;
    }
    double sd = total ? sqrt(ss / total) : 0;
    return fmax(sd, 1e-12);
}

static double plain_log_pdf(double x, double mu, double sd) {
    double z = (x - mu) / sd;
    return -0.5 * log(TWO_PI) - log(sd) - 0.5 * z * z;
}

/* log Pr[Z > z]: erfc where it is comfortably normalised, else four terms of the
 * asymptotic series (relative error below 1e-14 for z >= 30). */
static double plain_log_sf(double z) {
    if (z < 30) return log(0.5 * erfc(z / sqrt(2.0)));
    double r = 1 / (z * z);
    return -0.5 * z * z - log(z) - 0.5 * log(TWO_PI) + log(1 - r + 3 * r * r - 15 * r * r * r + 105 * r * r * r * r);
}

static void plain_lira(mla_lira_variant v, const double *target, const double *shadow, const uint8_t *in, int k, int m,
                       const uint8_t *use, double *score, int64_t *excluded) {
    int online = v == MLA_LIRA_ONLINE || v == MLA_LIRA_ONLINE_FIXED;
    int fixed = v == MLA_LIRA_ONLINE_FIXED || v == MLA_LIRA_OFFLINE_FIXED;
    double g_in = plain_global_sd(shadow, in, k, m, 1), g_out = plain_global_sd(shadow, in, k, m, 0);
    double vin[64], vout[64];
    *excluded = 0;
    for (int i = 0; i < m; i++) {
        score[i] = NAN;
        if (use && !use[i]) continue;
        int n_in = gather(shadow, in, k, m, i, 1, vin), n_out = gather(shadow, in, k, m, i, 0, vout);
        if (n_out < 1 || (online && n_in < 1)) {
            (*excluded)++;
            continue;
        }
        double sd_out = (fixed || n_out < 2 || all_equal(vout, n_out)) ? g_out : fmax(sd_of(vout, n_out), 1e-12);
        if (!online) {
            score[i] = -plain_log_sf((target[i] - mean_of(vout, n_out)) / sd_out);
            continue;
        }
        double sd_in = (fixed || n_in < 2 || all_equal(vin, n_in)) ? g_in : fmax(sd_of(vin, n_in), 1e-12);
        score[i] = plain_log_pdf(target[i], mean_of(vin, n_in), sd_in) - plain_log_pdf(target[i], mean_of(vout, n_out), sd_out);
    }
}

/* ratio(x) by the header's formula; 0 when x has no OUT shadow. */
static int plain_ratio(const double *t, const double *shadow, const uint8_t *in, int k, int m, int i, double a,
                       double *r) {
    double vout[64];
    int n = gather(shadow, in, k, m, i, 0, vout);
    if (n < 1) return 0;
    *r = t[i] / (((1 + a) * mean_of(vout, n) + (1 - a)) / 2);
    return 1;
}

/* The dense O(m * n_pop) count. */
static void plain_rmia(const double *t, const double *shadow, const uint8_t *in, int k, int m, const int32_t *pop,
                       int n_pop, double a, double gamma, const uint8_t *use, double *score, int64_t *excluded,
                       int64_t *pop_used) {
    *excluded = 0;
    *pop_used = 0;
    double rz;
    for (int j = 0; j < n_pop; j++) *pop_used += plain_ratio(t, shadow, in, k, m, pop[j], a, &rz);
    for (int i = 0; i < m; i++) {
        score[i] = NAN;
        if (use && !use[i]) continue;
        double rx;
        if (!plain_ratio(t, shadow, in, k, m, i, a, &rx)) {
            (*excluded)++;
            continue;
        }
        int64_t count = 0;
        for (int j = 0; j < n_pop; j++)
            if (plain_ratio(t, shadow, in, k, m, pop[j], a, &rz) && rx / rz > gamma) count++;
        score[i] = (double)count / (double)*pop_used;
    }
}

static void plain_similarity(const double *t, const double *shadow, const uint8_t *in, int k, int m,
                             const uint8_t *use, double *score, int64_t *excluded) {
    double vin[64], vout[64];
    *excluded = 0;
    for (int i = 0; i < m; i++) {
        score[i] = NAN;
        if (use && !use[i]) continue;
        int n_in = gather(shadow, in, k, m, i, 1, vin), n_out = gather(shadow, in, k, m, i, 0, vout);
        if (n_in < 1 || n_out < 1) {
            (*excluded)++;
            continue;
        }
        score[i] = fabs(t[i] - mean_of(vout, n_out)) - fabs(t[i] - mean_of(vin, n_in));
    }
}

/* ---- random data ---- */

enum { K = 7, M = 400 };

typedef struct {
    double target[M], shadow[K * M];
    uint8_t in[K * M], use[M];
} shadow_data;

/* Random shadow membership with, by i % 10: no IN, one IN, no OUT, one OUT, all IN
 * values equal, all OUT values equal; the rest Bernoulli(1/2). OUT values 1 ulp apart
 * (an own sd under the 1e-12 floor) at 6, all 0 at 7 and 8, with a target of 0 at 7
 * (RMIA's ratio 0 / 0 when a = 1). About 1 in 5 samples is unused. Values come from
 * draw(). */
static void fill_data(shadow_data *d, mla_rng *rng, double (*draw)(mla_rng *)) {
    for (int i = 0; i < M; i++) {
        d->target[i] = draw(rng);
        d->use[i] = mla_rng_uniform(rng) < 0.8;
        int kind = i % 10, pick = (int)mla_rng_below(rng, K);
        for (int s = 0; s < K; s++) {
            int at = s * M + i;
            d->shadow[at] = draw(rng);
            d->in[at] = mla_rng_uniform(rng) < 0.5;
            if (kind == 0) d->in[at] = 0;
            if (kind == 1) d->in[at] = s == pick;
            if (kind == 2) d->in[at] = 1;
            if (kind == 3) d->in[at] = s != pick;
        }
        for (int s = 0; s < K; s++) {
            int at = s * M + i;
            if ((kind == 4 && d->in[at]) || (kind == 5 && !d->in[at])) d->shadow[at] = 0.25;
            if (kind == 6 && !d->in[at]) d->shadow[at] = s % 2 ? 0.25 : nextafter(0.25, 1.0);
            if ((kind == 7 || kind == 8) && !d->in[at]) d->shadow[at] = 0.0;
        }
        if (kind == 7) d->target[i] = 0.0;
    }
}

static double draw_phi(mla_rng *rng) { return 3 * mla_rng_normal(rng) + 1; }

/* p_y on a grid of eighths (many exact ties and ratios), with a few exact zeros. */
static double draw_py_grid(mla_rng *rng) { return (double)mla_rng_below(rng, 9) / 8.0; }

static double draw_py(mla_rng *rng) { return mla_rng_uniform(rng) < 0.05 ? 0.0 : mla_rng_uniform(rng); }

/* ---- one row ---- */

static void softmax(const float *z, int c, float *p) {
    double mx = z[0], s = 0;
    for (int j = 1; j < c; j++) mx = fmax(mx, z[j]);
    for (int j = 0; j < c; j++) s += exp(z[j] - mx);
    for (int j = 0; j < c; j++) p[j] = (float)(exp(z[j] - mx) / s);
}

static void test_phi_known_values(void **state) {
    (void)state;
    float z[3] = {2, 0, 0};
    assert_true(close12(mla_mia_phi_from_logits(z, 3, 0), 2 - log(2.0)));
    assert_true(close12(mla_mia_phi_from_logits(z, 3, 1), -log(exp(2.0) + 1)));
    assert_true(close12(mla_mia_logpy_from_logits(z, 3, 0), 2 - log(exp(2.0) + 2)));
    float p[3];
    softmax(z, 3, p);
    /* from float probabilities: as accurate as float rounding allows */
    assert_true(fabs(mla_mia_phi_from_probs(p, 3, 0) - (2 - log(2.0))) < 1e-6);
    assert_true(fabs(mla_mia_logpy_from_probs(p, 3, 0) - (2 - log(exp(2.0) + 2))) < 1e-6);
    /* p_y = 1 - 1e-7 (z = log(2 (1 - 1e-7) / 1e-7)): from logits phi stays exact, while the
     * float probability 1 - 1e-7 is not even representable. */
    float zy = (float)log(2 * (1 - 1e-7) / 1e-7);
    float near_one[3] = {zy, 0, 0};
    assert_true(close12(mla_mia_phi_from_logits(near_one, 3, 0), (double)zy - log(2.0)));
    assert_true(fabs(mla_mia_phi_from_logits(near_one, 3, 0) - log((1 - 1e-7) / 1e-7)) < 1e-6);
    float far[3] = {60, 0, 0};
    assert_true(close12(mla_mia_phi_from_logits(far, 3, 0), 60 - log(2.0)));
    /* an exact 0 and 1 among probabilities: logs taken at 1e-300 */
    float one_hot[3] = {1, 0, 0};
    assert_true(close12(mla_mia_phi_from_probs(one_hot, 3, 0), -LOG_FLOOR));
    assert_true(close12(mla_mia_phi_from_probs(one_hot, 3, 1), LOG_FLOOR));
    assert_true(close12(mla_mia_logpy_from_probs(one_hot, 3, 2), LOG_FLOOR));
    /* the other classes are summed, not taken as 1 - p_y */
    float tiny_rest[3] = {1, 1e-30f, 2e-30f};
    assert_true(close12(mla_mia_phi_from_probs(tiny_rest, 3, 0), -log((double)1e-30f + (double)2e-30f)));
    /* one class: the others' probability is an exact 0, taken at 1e-300 */
    float single[1] = {3};
    assert_true(close12(mla_mia_phi_from_logits(single, 1, 0), -LOG_FLOOR));
    assert_true(close12(mla_mia_phi_from_probs(one_hot, 1, 0), -LOG_FLOOR));
    assert_true(mla_mia_logpy_from_logits(single, 1, 0) == 0);
    /* bad rows give NaN */
    assert_true(isnan(mla_mia_phi_from_logits(z, 3, 3)));
    assert_true(isnan(mla_mia_phi_from_probs(NULL, 3, 0)));
    assert_true(isnan(mla_mia_logpy_from_logits(z, 0, 0)));
}

static void test_metric_scores_known_row(void **state) {
    (void)state;
    float p[3] = {0.7f, 0.2f, 0.1f};
    double p0 = p[0], p1 = p[1], p2 = p[2];
    assert_true(close12(mla_mia_score_loss(p, 3, 0), log(p0)));
    assert_true(mla_mia_score_confidence(p, 3) == p0);
    assert_true(close12(mla_mia_score_entropy(p, 3), p0 * log(p0) + p1 * log(p1) + p2 * log(p2)));
    double mentr = -(1 - p1) * log(p1) - p0 * log(1 - p0) - p2 * log(1 - p2);
    assert_true(close12(mla_mia_score_modified_entropy(p, 3, 1), -mentr));
    /* one-hot on the wrong class: log p_y and log(1 - p_0) both at 1e-300 */
    float wrong[3] = {1, 0, 0};
    assert_true(close12(mla_mia_score_loss(wrong, 3, 1), LOG_FLOOR));
    assert_true(mla_mia_score_entropy(wrong, 3) == 0);
    assert_true(close12(mla_mia_score_modified_entropy(wrong, 3, 1), 2 * LOG_FLOOR));
    assert_true(mla_mia_score_modified_entropy(wrong, 3, 0) == 0);
}

static void test_row_formulas_match_plain(void **state) {
    (void)state;
    mla_rng rng;
    mla_rng_seed(&rng, 11);
    enum { C = 10 };
    for (int r = 0; r < 500; r++) {
        float z[C], p[C];
        for (int j = 0; j < C; j++) z[j] = (float)(4 * mla_rng_normal(&rng));
        softmax(z, C, p);
        if (r % 7 == 0) p[r % C] = 0; /* exact zeros */
        int y = (int)mla_rng_below(&rng, C);
        double others = 0, lse = 0, lse_o = 0, ent = 0, mentr = 0, conf = 0;
        for (int j = 0; j < C; j++) {
            lse += exp(z[j]);
            if (j != y) lse_o += exp(z[j]), others += p[j];
            ent += p[j] * plain_log(p[j]);
            mentr += j == y ? -(1 - (double)p[j]) * plain_log(p[j]) : -(double)p[j] * plain_log(1 - (double)p[j]);
            conf = fmax(conf, p[j]);
        }
        assert_true(close12(mla_mia_phi_from_logits(z, C, y), z[y] - log(lse_o)));
        assert_true(close12(mla_mia_logpy_from_logits(z, C, y), z[y] - log(lse)));
        assert_true(close12(mla_mia_phi_from_probs(p, C, y), plain_log(p[y]) - plain_log(others)));
        assert_true(close12(mla_mia_logpy_from_probs(p, C, y), plain_log(p[y])));
        assert_true(close12(mla_mia_score_loss(p, C, y), plain_log(p[y])));
        assert_true(mla_mia_score_confidence(p, C) == conf);
        assert_true(close12(mla_mia_score_entropy(p, C), ent));
        assert_true(close12(mla_mia_score_modified_entropy(p, C, y), -mentr));
    }
}

/* ---- LiRA ---- */

static void test_lira_hand_computed(void **state) {
    (void)state;
    /* one sample, IN {2, 4} (mu 3, sd 1), OUT {0, 1} (mu 0.5, sd 0.5), phi_t = 3:
     * online = log N(3; 3, 1) - log N(3; 0.5, 0.25) = -log 1 + log 0.5 + 0.5 * 5^2 */
    double target[1] = {3}, shadow[4] = {2, 4, 0, 1}, score[1];
    uint8_t in[4] = {1, 1, 0, 0};
    int64_t excluded = -1;
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, target, shadow, in, 4, 1, NULL, score, &excluded), MLA_OK);
    assert_true(close12(score[0], 12.5 - log(2.0)));
    assert_int_equal(excluded, 0);
    /* offline = -log Pr[Z > 5] for a standard normal (mpmath) */
    assert_int_equal(mla_mia_lira(MLA_LIRA_OFFLINE, target, shadow, in, 4, 1, NULL, score, &excluded), MLA_OK);
    assert_true(rel_close(score[0], 15.064998393988725, 1e-13));
    /* fixed: the global sd pooled over the one sample is its own sd, so nothing changes */
    double fixed[1];
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE_FIXED, target, shadow, in, 4, 1, NULL, fixed, &excluded), MLA_OK);
    assert_true(close12(fixed[0], 12.5 - log(2.0)));
}

/* -log Pr[Z > x] through the offline score with OUT values {-1, 1} (mu 0, sd 1), against
 * log(erfc(x / sqrt 2) / 2) evaluated by mpmath at 400 digits. */
static void test_lira_offline_tails(void **state) {
    (void)state;
    static const double ref[][2] = {
        {-40.0, -0.0}, {-20.0, -2.7536241186062337e-89}, {-8.0, -6.220960574271786e-16},
        {-3.0, -0.0013508099647481938}, {-1.5, -0.06914345561223398}, {-1.0, -0.17275377902344988},
        {-0.5, -0.3689464152886564}, {0.0, -0.6931471805599453}, {0.5, -1.1759117615936185},
        {1.0, -1.8410216450092636}, {2.5, -5.08164827727869}, {5.0, -15.064998393988725},
        {10.0, -53.23128515051247}, {20.0, -203.91715537109727}, {30.0, -454.3212439563432},
        {34.5, -599.5857362594724}, {35.5, -634.6142631550883}, {37.0, -689.0305855768906},
        {40.0, -804.6084420137538}, {100.0, -5005.524208694205}, {1000.0, -500007.82669481216},
    };
    double shadow[2] = {-1, 1}, score[1];
    uint8_t in[2] = {0, 0};
    int64_t excluded;
    for (size_t j = 0; j < sizeof ref / sizeof ref[0]; j++) {
        double target[1] = {ref[j][0]};
        assert_int_equal(mla_mia_lira(MLA_LIRA_OFFLINE, target, shadow, in, 2, 1, NULL, score, &excluded), MLA_OK);
        if (!rel_close(score[0], -ref[j][1], 1e-13)) fail_msg("x=%g: %.17g vs %.17g", ref[j][0], score[0], -ref[j][1]);
    }
    /* far beyond: still finite, and on the asymptote x^2 / 2 + log x + log sqrt(2 pi) */
    double target[1] = {1e6};
    assert_int_equal(mla_mia_lira(MLA_LIRA_OFFLINE_FIXED, target, shadow, in, 2, 1, NULL, score, &excluded), MLA_OK);
    assert_true(isfinite(score[0]) && rel_close(score[0], 5e11 + log(1e6) + 0.5 * log(TWO_PI), 1e-15));
}

/* With one IN and one OUT value per sample the per-sample sds fall back to the global
 * ones, so each fixed variant equals its non-fixed one exactly. */
static void test_lira_fixed_is_global_sd(void **state) {
    (void)state;
    enum { N = 50 };
    double target[N], shadow[2 * N], a[N], b[N];
    uint8_t in[2 * N];
    mla_rng rng;
    mla_rng_seed(&rng, 5);
    for (int i = 0; i < N; i++) {
        target[i] = mla_rng_normal(&rng);
        int first_in = mla_rng_uniform(&rng) < 0.5;
        in[i] = (uint8_t)first_in;
        in[N + i] = (uint8_t)!first_in;
        shadow[i] = mla_rng_normal(&rng);
        shadow[N + i] = mla_rng_normal(&rng);
    }
    int64_t excluded;
    mla_lira_variant pairs[2][2] = {{MLA_LIRA_ONLINE, MLA_LIRA_ONLINE_FIXED}, {MLA_LIRA_OFFLINE, MLA_LIRA_OFFLINE_FIXED}};
    for (int v = 0; v < 2; v++) {
        assert_int_equal(mla_mia_lira(pairs[v][0], target, shadow, in, 2, N, NULL, a, &excluded), MLA_OK);
        assert_int_equal(mla_mia_lira(pairs[v][1], target, shadow, in, 2, N, NULL, b, &excluded), MLA_OK);
        for (int i = 0; i < N; i++) assert_true(a[i] == b[i]);
    }
    /* a single value per side: the global sd is 1e-12 (no residuals), so the online
     * score is the Gaussians' log ratio at that sd */
    double t1[1] = {0.5}, s1[2] = {1, 0}, sc[1];
    uint8_t in1[2] = {1, 0};
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, t1, s1, in1, 2, 1, NULL, sc, &excluded), MLA_OK);
    assert_true(isfinite(sc[0]) && close12(sc[0], 0.0));
}

static void test_lira_matches_plain(void **state) {
    (void)state;
    static shadow_data d;
    mla_rng rng;
    mla_rng_seed(&rng, 42);
    fill_data(&d, &rng, draw_phi);
    static double got[M], want[M];
    for (int v = MLA_LIRA_ONLINE; v <= MLA_LIRA_OFFLINE_FIXED; v++) {
        for (int with_use = 0; with_use < 2; with_use++) {
            const uint8_t *use = with_use ? d.use : NULL;
            int64_t ex_got = -1, ex_want = -2;
            assert_int_equal(mla_mia_lira((mla_lira_variant)v, d.target, d.shadow, d.in, K, M, use, got, &ex_got), MLA_OK);
            plain_lira((mla_lira_variant)v, d.target, d.shadow, d.in, K, M, use, want, &ex_want);
            assert_int_equal(ex_got, ex_want);
            assert_true(ex_got > 0);
            for (int i = 0; i < M; i++)
                if (!close12(got[i], want[i])) fail_msg("variant %d, sample %d: %.17g vs %.17g", v, i, got[i], want[i]);
        }
    }
}

/* ---- RMIA ---- */

static void test_rmia_matches_plain(void **state) {
    (void)state;
    static shadow_data d;
    static double got[M], want[M];
    static const double as[] = {0.3, 0.0, 1.0}, gammas[] = {1.0, 2.0, 0.75, 3.3};
    int32_t pop[M / 2];
    for (int trial = 0; trial < 4; trial++) {
        mla_rng rng;
        mla_rng_seed(&rng, 100 + (uint64_t)trial);
        fill_data(&d, &rng, trial % 2 ? draw_py : draw_py_grid);
        int32_t perm[M];
        mla_rng_permutation(&rng, perm, M);
        int n_pop = M / 2;
        memcpy(pop, perm, sizeof pop);
        for (size_t ai = 0; ai < sizeof as / sizeof as[0]; ai++)
            for (size_t gi = 0; gi < sizeof gammas / sizeof gammas[0]; gi++) {
                const uint8_t *use = (gi % 2) ? d.use : NULL;
                int64_t ex_got, ex_want, used_got = -1, used_want;
                assert_int_equal(mla_mia_rmia(d.target, d.shadow, d.in, K, M, pop, n_pop, as[ai], gammas[gi], use, got,
                                              &ex_got, &used_got),
                                 MLA_OK);
                plain_rmia(d.target, d.shadow, d.in, K, M, pop, n_pop, as[ai], gammas[gi], use, want, &ex_want,
                           &used_want);
                assert_int_equal(ex_got, ex_want);
                assert_int_equal(used_got, used_want);
                assert_true(used_got < n_pop); /* the samples with no OUT shadow were dropped */
                for (int i = 0; i < M; i++)
                    if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i]))))
                        fail_msg("trial %d a %g gamma %g sample %d: %.17g vs %.17g", trial, as[ai], gammas[gi], i,
                                 got[i], want[i]);
            }
    }
}

static void test_rmia_population_rules(void **state) {
    (void)state;
    /* 4 samples, 2 shadows. Sample 0 has no OUT shadow. a = 1: p(x) = mean OUT p_y. */
    double target[4] = {0.5, 0.4, 0.2, 0.8}, shadow[8] = {0.9, 0.4, 0.2, 0.2, 0.9, 0.4, 0.2, 0.4}, score[4];
    uint8_t in[8] = {1, 0, 0, 1, 1, 0, 0, 0};
    /* ratios: 1: 0.4/0.4 = 1, 2: 0.2/0.2 = 1, 3: 0.8/0.4 = 2 (one OUT value) */
    int32_t pop[3] = {0, 1, 2};
    int64_t excluded, used = -1;
    assert_int_equal(mla_mia_rmia(target, shadow, in, 2, 4, pop, 3, 1.0, 1.0, NULL, score, &excluded, &used), MLA_OK);
    assert_int_equal(used, 2);
    assert_int_equal(excluded, 1);
    assert_true(isnan(score[0]));
    assert_true(score[1] == 0.0 && score[2] == 0.0); /* 1 / 1 > 1 is false: strict */
    assert_true(score[3] == 1.0);
    assert_int_equal(mla_mia_rmia(target, shadow, in, 2, 4, pop, 3, 1.0, 2.0, NULL, score, NULL, NULL), MLA_OK);
    assert_true(score[3] == 0.0); /* 2 / 1 > 2 is false */
    uint8_t use[4] = {0, 1, 0, 1};
    assert_int_equal(mla_mia_rmia(target, shadow, in, 2, 4, pop, 3, 1.0, 1.5, use, score, &excluded, NULL), MLA_OK);
    assert_int_equal(excluded, 0);
    assert_true(isnan(score[0]) && isnan(score[2]) && score[1] == 0.0 && score[3] == 1.0);
    /* a population with no OUT shadow at all is refused */
    int32_t only0[1] = {0};
    assert_int_equal(mla_mia_rmia(target, shadow, in, 2, 4, only0, 1, 0.3, 1.0, NULL, score, NULL, &used),
                     MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "OUT"));
}

/* ---- similarity ---- */

static void test_similarity(void **state) {
    (void)state;
    /* IN losses {0.1, 0.3} (mean 0.2), OUT {1, 2} (mean 1.5), target 0.25: 1.25 - 0.05 */
    double t[1] = {0.25}, s[4] = {0.1, 1, 0.3, 2}, score[1];
    uint8_t in[4] = {1, 0, 1, 0};
    int64_t excluded;
    assert_int_equal(mla_mia_similarity(t, s, in, 4, 1, NULL, score, &excluded), MLA_OK);
    assert_true(close12(score[0], 1.2));
    static shadow_data d;
    static double got[M], want[M];
    mla_rng rng;
    mla_rng_seed(&rng, 7);
    fill_data(&d, &rng, draw_phi);
    int64_t ex_got, ex_want;
    assert_int_equal(mla_mia_similarity(d.target, d.shadow, d.in, K, M, d.use, got, &ex_got), MLA_OK);
    plain_similarity(d.target, d.shadow, d.in, K, M, d.use, want, &ex_want);
    assert_int_equal(ex_got, ex_want);
    for (int i = 0; i < M; i++) assert_true(close12(got[i], want[i]));
}

/* ---- exclusions and bad arguments ---- */

static void test_exclusions_count_used_samples_only(void **state) {
    (void)state;
    /* 3 samples, 2 shadows: 0 has both sides, 1 only IN, 2 only OUT */
    double t[3] = {0, 0, 0}, s[6] = {1, 1, 0, 0, 1, 0}, score[3];
    uint8_t in[6] = {1, 1, 0, 0, 1, 0};
    int64_t excluded;
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, t, s, in, 2, 3, NULL, score, &excluded), MLA_OK);
    assert_int_equal(excluded, 2);
    assert_true(isfinite(score[0]) && isnan(score[1]) && isnan(score[2]));
    assert_int_equal(mla_mia_lira(MLA_LIRA_OFFLINE, t, s, in, 2, 3, NULL, score, &excluded), MLA_OK);
    assert_int_equal(excluded, 1);
    assert_true(isfinite(score[0]) && isnan(score[1]) && isfinite(score[2]));
    uint8_t use[3] = {1, 0, 1};
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE_FIXED, t, s, in, 2, 3, use, score, &excluded), MLA_OK);
    assert_int_equal(excluded, 1);
    assert_true(isfinite(score[0]) && isnan(score[1]) && isnan(score[2]));
    assert_int_equal(mla_mia_similarity(t, s, in, 2, 3, use, score, &excluded), MLA_OK);
    assert_int_equal(excluded, 1);
    uint8_t use_none[3] = {0, 0, 0};
    assert_int_equal(mla_mia_similarity(t, s, in, 2, 3, use_none, score, &excluded), MLA_OK);
    assert_int_equal(excluded, 0);
    assert_true(isnan(score[0]) && isnan(score[1]) && isnan(score[2]));
}

static void test_bad_arguments(void **state) {
    (void)state;
    double t[2] = {0.5, 0.5}, s[2] = {0.5, 0.5}, score[2];
    uint8_t in[2] = {0, 0};
    int32_t pop[1] = {0}, bad_pop[1] = {2};
    int64_t ex;
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, t, s, in, 0, 2, NULL, score, &ex), MLA_ERR_INVALID);
    assert_true(strlen(mla_last_error()) > 0);
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, t, s, in, 1, 0, NULL, score, &ex), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, NULL, s, in, 1, 2, NULL, score, &ex), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, t, s, NULL, 1, 2, NULL, score, &ex), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, t, s, in, 1, 2, NULL, NULL, &ex), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_lira((mla_lira_variant)7, t, s, in, 1, 2, NULL, score, &ex), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_similarity(t, NULL, in, 1, 2, NULL, score, &ex), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_similarity(t, s, in, -1, 2, NULL, score, &ex), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_rmia(t, s, in, 1, 2, pop, 1, 0.3, 1, NULL, score, &ex, NULL), MLA_OK);
    assert_int_equal(mla_mia_rmia(t, s, in, 0, 2, pop, 1, 0.3, 1, NULL, score, &ex, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_rmia(t, s, in, 1, 2, NULL, 1, 0.3, 1, NULL, score, &ex, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_rmia(t, s, in, 1, 2, pop, 0, 0.3, 1, NULL, score, &ex, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_rmia(t, s, in, 1, 2, bad_pop, 1, 0.3, 1, NULL, score, &ex, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_rmia(t, s, in, 1, 2, pop, 1, 1.5, 1, NULL, score, &ex, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_rmia(t, s, in, 1, 2, pop, 1, 0.3, 0, NULL, score, &ex, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_rmia(t, s, in, 1, 2, pop, 1, NAN, 1, NULL, score, &ex, NULL), MLA_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phi_known_values),
        cmocka_unit_test(test_metric_scores_known_row),
        cmocka_unit_test(test_row_formulas_match_plain),
        cmocka_unit_test(test_lira_hand_computed),
        cmocka_unit_test(test_lira_offline_tails),
        cmocka_unit_test(test_lira_fixed_is_global_sd),
        cmocka_unit_test(test_lira_matches_plain),
        cmocka_unit_test(test_rmia_matches_plain),
        cmocka_unit_test(test_rmia_population_rules),
        cmocka_unit_test(test_similarity),
        cmocka_unit_test(test_exclusions_count_used_samples_only),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
