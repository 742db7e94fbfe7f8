/* Tests of scoring.h: incomplete beta and Clopper-Pearson, ROC curves written out by
 * hand, and AUC / TPR at FPR / advantage / thresholds against brute force over every
 * candidate threshold on seeded data with many ties and on continuous data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/scoring.h"

static void assert_error_mentions(const char *what) {
    if (!strstr(mla_last_error(), what)) fail_msg("error '%s' does not mention '%s'", mla_last_error(), what);
}

static void assert_near(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

/* ---- special functions (moved from the classic metrics) ---- */

static void test_betainc_known_values(void **state) {
    (void)state;
    assert_true(fabs(mla_betainc(2, 3, 0.5) - 0.6875) < 1e-13); /* sum_{j>=2} C(4,j) / 16 */
    assert_true(fabs(mla_betainc(1, 1, 0.3) - 0.3) < 1e-13);     /* uniform */
    assert_true(fabs(mla_betainc(0.5, 0.5, 0.5) - 0.5) < 1e-12); /* symmetric */
    assert_true(fabs(mla_betainc(5, 2, 0.9) - 0.885735) < 1e-12); /* P(Binomial(6, 0.9) >= 5) */
    double x = mla_betainc_inv(3, 7, 0.25);
    assert_true(fabs(mla_betainc(3, 7, x) - 0.25) < 1e-12);
    assert_true(isnan(mla_betainc(-1, 2, 0.5)));
}

static void test_clopper_pearson_known_intervals(void **state) {
    (void)state;
    double lo, hi;
    assert_int_equal(mla_clopper_pearson(8, 10, 0.95, &lo, &hi), MLA_OK);
    assert_true(fabs(lo - 0.4439) < 5e-5 && fabs(hi - 0.9748) < 5e-5);
    assert_int_equal(mla_clopper_pearson(0, 10, 0.95, &lo, &hi), MLA_OK);
    assert_true(lo == 0);
    assert_near(hi, 0.3084971078187608, 1e-13);
    assert_int_equal(mla_clopper_pearson(5, 10, 0.95, &lo, &hi), MLA_OK);
    assert_near(lo, 0.18708602844739, 1e-13);
    assert_near(hi, 0.81291397155261, 1e-13);
    assert_int_equal(mla_clopper_pearson(10, 10, 0.95, &lo, &hi), MLA_OK);
    assert_true(hi == 1 && fabs(lo - 0.6915) < 5e-5);
    /* scipy.stats.beta.ppf(0.025, 8554, 1447), beta.ppf(0.975, 8555, 1446) */
    assert_int_equal(mla_clopper_pearson(8554, 10000, 0.95, &lo, &hi), MLA_OK);
    assert_true(fabs(lo - 0.8483534) < 1e-7 && fabs(hi - 0.8622389) < 1e-7);
    assert_int_equal(mla_clopper_pearson(11, 10, 0.95, &lo, &hi), MLA_ERR_INVALID);
    assert_int_equal(mla_clopper_pearson(1, 10, 1.5, &lo, &hi), MLA_ERR_INVALID);
    assert_int_equal(mla_clopper_pearson(0, 0, 0.95, &lo, &hi), MLA_ERR_INVALID);
}

/* ---- curves by hand ---- */

typedef struct {
    double threshold;
    int64_t tp, fp;
} point;

static void assert_curve(const mla_roc *r, const point *want, int64_t n) {
    assert_int_equal(r->n, n);
    for (int64_t i = 0; i < n; i++) {
        if (r->threshold[i] != want[i].threshold || r->tp[i] != want[i].tp || r->fp[i] != want[i].fp)
            fail_msg("point %lld is (%g, %lld, %lld), want (%g, %lld, %lld)", (long long)i, r->threshold[i],
                     (long long)r->tp[i], (long long)r->fp[i], want[i].threshold, (long long)want[i].tp,
                     (long long)want[i].fp);
    }
}

/* Ties across and within the classes; scores given in no particular order. */
static const double tie_pos[4] = {0.8, 0.3, 0.9, 0.8};
static const double tie_neg[5] = {0.1, 0.8, 0.3, 0.5, 0.1};

static void test_curve_with_ties_by_hand(void **state) {
    (void)state;
    mla_roc *r;
    assert_int_equal(mla_roc_create(tie_pos, 4, tie_neg, 5, &r), MLA_OK);
    const point want[] = {{INFINITY, 0, 0}, {0.9, 1, 0}, {0.8, 3, 1}, {0.5, 3, 2}, {0.3, 4, 3}, {0.1, 4, 5}};
    assert_curve(r, want, 6);
    assert_int_equal(r->n_pos, 4);
    assert_int_equal(r->n_neg, 5);
    /* trapezoids: 1*(1+3) + 1*(3+3) + 1*(3+4) + 2*(4+4) = 33, over 2 * 4 * 5 */
    assert_true(mla_roc_auc(r) == 33.0 / 40.0);
    int64_t tp = -1;
    assert_true(mla_roc_tpr_at_fpr(r, 0.0, &tp) == 0.25 && tp == 1);
    assert_true(mla_roc_tpr_at_fpr(r, 0.19, &tp) == 0.25 && tp == 1);
    assert_true(mla_roc_tpr_at_fpr(r, 0.2, &tp) == 0.75 && tp == 3);
    assert_true(mla_roc_tpr_at_fpr(r, 0.6, &tp) == 1.0 && tp == 4);
    assert_true(mla_roc_tpr_at_fpr(r, -1.0, &tp) == 0.0 && tp == 0);
    assert_true(mla_roc_tpr_at_fpr(r, 0.5, NULL) == 0.75);
    /* TPR - FPR per point: 0, .25, .55, .35, .4, 0 */
    assert_near(mla_roc_advantage(r), 0.55, 1e-15);
    double t = 0;
    assert_near(mla_roc_best_balanced_accuracy(r, &t), 0.775, 1e-15);
    assert_true(t == 0.8);
    assert_near(mla_roc_best_balanced_accuracy(r, NULL), 0.775, 1e-15);
    mla_roc_free(r);
    /* the midpoint between 0.8 and the next lower score 0.5 */
    assert_int_equal(mla_choose_threshold(tie_pos, 4, tie_neg, 5, &t), MLA_OK);
    assert_true(t == 0.8 / 2 + 0.5 / 2);
}

static void test_all_scores_equal(void **state) {
    (void)state;
    enum { P = 1000, N = 3000 };
    double *pos = malloc(P * sizeof *pos), *neg = malloc(N * sizeof *neg);
    for (int i = 0; i < P; i++) pos[i] = 0.5;
    for (int i = 0; i < N; i++) neg[i] = 0.5;
    mla_roc *r;
    assert_int_equal(mla_roc_create(pos, P, neg, N, &r), MLA_OK);
    const point want[] = {{INFINITY, 0, 0}, {0.5, P, N}};
    assert_curve(r, want, 2);
    assert_true(mla_roc_auc(r) == 0.5);
    int64_t tp = -1;
    assert_true(mla_roc_tpr_at_fpr(r, 0.001, &tp) == 0.0 && tp == 0);
    assert_true(mla_roc_advantage(r) == 0.0);
    double t = 0;
    assert_true(mla_roc_best_balanced_accuracy(r, &t) == 0.5 && t == INFINITY); /* the origin comes first */
    mla_roc_free(r);
    assert_int_equal(mla_choose_threshold(pos, P, neg, N, &t), MLA_OK);
    assert_true(t == INFINITY);
    free(pos);
    free(neg);
}

static void test_perfectly_separable(void **state) {
    (void)state;
    enum { P = 2000, N = 3000 };
    double *pos = malloc(P * sizeof *pos), *neg = malloc(N * sizeof *neg);
    mla_rng g;
    mla_rng_seed(&g, 7);
    for (int i = 0; i < P; i++) pos[i] = 1.0 + mla_rng_uniform(&g);
    for (int i = 0; i < N; i++) neg[i] = mla_rng_uniform(&g);
    mla_roc *r;
    assert_int_equal(mla_roc_create(pos, P, neg, N, &r), MLA_OK);
    assert_true(mla_roc_auc(r) == 1.0);
    assert_true(mla_roc_tpr_at_fpr(r, 0.001, NULL) == 1.0);
    assert_true(mla_roc_tpr_at_fpr(r, 0.0, NULL) == 1.0);
    assert_true(mla_roc_advantage(r) == 1.0);
    assert_true(mla_roc_best_balanced_accuracy(r, NULL) == 1.0);
    mla_roc_free(r);
    double lo_pos = 2, hi_neg = 0, t;
    for (int i = 0; i < P; i++) lo_pos = fmin(lo_pos, pos[i]);
    for (int i = 0; i < N; i++) hi_neg = fmax(hi_neg, neg[i]);
    assert_int_equal(mla_choose_threshold(pos, P, neg, N, &t), MLA_OK);
    assert_true(t == lo_pos / 2 + hi_neg / 2);
    mla_threshold_metrics m;
    assert_int_equal(mla_threshold_eval(pos, P, neg, N, t, &m), MLA_OK);
    assert_true(m.tp == P && m.fp == 0 && m.accuracy == 1.0);
    free(pos);
    free(neg);
}

static void test_infinite_scores(void **state) {
    (void)state;
    const double pos[3] = {INFINITY, 1.0, -INFINITY}, neg[4] = {-INFINITY, 0.0, INFINITY, -INFINITY};
    mla_roc *r;
    assert_int_equal(mla_roc_create(pos, 3, neg, 4, &r), MLA_OK);
    const point want[] = {{INFINITY, 0, 0}, {INFINITY, 1, 1}, {1.0, 2, 1}, {0.0, 2, 2}, {-INFINITY, 3, 4}};
    assert_curve(r, want, 5);
    /* 1*(0+1) + 1*(2+2) + 2*(2+3) = 15 over 2 * 3 * 4; Mann-Whitney: 3.5 + 3 + 1 of 12 */
    assert_true(mla_roc_auc(r) == 15.0 / 24.0);
    assert_true(mla_roc_tpr_at_fpr(r, 0.25, NULL) == 2.0 / 3.0);
    double t;
    assert_true(mla_roc_best_balanced_accuracy(r, &t) == (2.0 / 3.0 + 1.0 - 0.25) / 2.0 && t == 1.0);
    mla_roc_free(r);
    assert_int_equal(mla_choose_threshold(pos, 3, neg, 4, &t), MLA_OK);
    assert_true(t == 0.5);
    /* an infinite threshold or next score is returned as it is */
    const double certain[1] = {INFINITY}, zero[1] = {0.0}, five[1] = {5.0}, minus_inf[1] = {-INFINITY};
    assert_int_equal(mla_choose_threshold(certain, 1, zero, 1, &t), MLA_OK);
    assert_true(t == INFINITY);
    assert_int_equal(mla_choose_threshold(five, 1, minus_inf, 1, &t), MLA_OK);
    assert_true(t == 5.0);
    /* adjacent doubles have no midpoint: the threshold itself keeps the split */
    const double up[1] = {nextafter(1.0, 2.0)}, one[1] = {1.0};
    assert_int_equal(mla_choose_threshold(up, 1, one, 1, &t), MLA_OK);
    assert_true(t == up[0]);
}

static void test_nan_and_bad_counts_refused(void **state) {
    (void)state;
    double pos[20], neg[5] = {0, 1, 2, 3, 4};
    for (int i = 0; i < 20; i++) pos[i] = i;
    pos[17] = NAN;
    mla_roc *r = (mla_roc *)&r;
    assert_int_equal(mla_roc_create(pos, 20, neg, 5, &r), MLA_ERR_INVALID);
    assert_null(r);
    assert_error_mentions("score 17 of the positives is NaN");
    pos[17] = 17;
    neg[3] = NAN;
    assert_int_equal(mla_roc_create(pos, 20, neg, 5, &r), MLA_ERR_INVALID);
    assert_error_mentions("score 3 of the negatives is NaN");
    double t;
    assert_int_equal(mla_choose_threshold(pos, 20, neg, 5, &t), MLA_ERR_INVALID);
    assert_error_mentions("score 3 of the negatives is NaN");
    mla_threshold_metrics m;
    assert_int_equal(mla_threshold_eval(pos, 20, neg, 5, 1.0, &m), MLA_ERR_INVALID);
    assert_error_mentions("score 3 of the negatives is NaN");
    mla_score_summary s;
    assert_int_equal(mla_score_summarize(pos, 20, neg, 5, 1.0, &s), MLA_ERR_INVALID);
    assert_error_mentions("score 3 of the negatives is NaN");
    neg[3] = 3;
    assert_int_equal(mla_threshold_eval(pos, 20, neg, 5, NAN, &m), MLA_ERR_INVALID);
    assert_int_equal(mla_roc_create(pos, 0, neg, 5, &r), MLA_ERR_INVALID);
    assert_int_equal(mla_roc_create(pos, 20, neg, 0, &r), MLA_ERR_INVALID);
    assert_int_equal(mla_choose_threshold(pos, 20, neg, -1, &t), MLA_ERR_INVALID);
    assert_int_equal(mla_score_summarize(pos, 0, neg, 5, 1.0, &s), MLA_ERR_INVALID);
}

static void test_threshold_eval_counts(void **state) {
    (void)state;
    mla_threshold_metrics m;
    assert_int_equal(mla_threshold_eval(tie_pos, 4, tie_neg, 5, 0.8, &m), MLA_OK);
    assert_true(m.tp == 3 && m.fn == 1 && m.fp == 1 && m.tn == 4);
    assert_true(m.accuracy == 7.0 / 9.0 && m.precision == 0.75 && m.recall == 0.75);
    assert_int_equal(mla_threshold_eval(tie_pos, 4, tie_neg, 5, 0.65, &m), MLA_OK);
    assert_true(m.tp == 3 && m.fn == 1 && m.fp == 1 && m.tn == 4);
    assert_int_equal(mla_threshold_eval(tie_pos, 4, tie_neg, 5, 0.3, &m), MLA_OK);
    assert_true(m.tp == 4 && m.fn == 0 && m.fp == 3 && m.tn == 2);
    assert_true(m.accuracy == 6.0 / 9.0 && m.precision == 4.0 / 7.0 && m.recall == 1.0);
    assert_int_equal(mla_threshold_eval(tie_pos, 4, tie_neg, 5, INFINITY, &m), MLA_OK);
    assert_true(m.tp == 0 && m.fn == 4 && m.fp == 0 && m.tn == 5);
    assert_true(isnan(m.precision) && m.recall == 0.0 && m.accuracy == 5.0 / 9.0);
    assert_int_equal(mla_threshold_eval(tie_pos, 4, tie_neg, 5, -INFINITY, &m), MLA_OK);
    assert_true(m.tp == 4 && m.fp == 5 && m.precision == 4.0 / 9.0);
    /* one side may be empty */
    assert_int_equal(mla_threshold_eval(tie_pos, 4, NULL, 0, 0.5, &m), MLA_OK);
    assert_true(m.tp == 3 && m.fn == 1 && m.fp == 0 && m.tn == 0 && m.precision == 1.0 && m.accuracy == 0.75);
    assert_int_equal(mla_threshold_eval(NULL, 0, tie_neg, 5, 0.5, &m), MLA_OK);
    assert_true(m.tp == 0 && m.fp == 2 && m.tn == 3 && isnan(m.recall) && m.precision == 0.0);
    const double inf_pos[2] = {INFINITY, -INFINITY};
    assert_int_equal(mla_threshold_eval(inf_pos, 2, tie_neg, 5, INFINITY, &m), MLA_OK);
    assert_true(m.tp == 1 && m.fp == 0);
}

/* ---- brute force on seeded data ---- */

typedef struct {
    double *pos, *neg;
    int64_t P, N;
} sample;

/* ties: integer scores in [0, levels); else normal, positives shifted by `shift`. */
static sample make_sample(uint64_t seed, int64_t P, int64_t N, int levels, double shift) {
    sample s = {malloc((size_t)P * sizeof(double)), malloc((size_t)N * sizeof(double)), P, N};
    mla_rng g;
    mla_rng_seed(&g, seed);
    for (int64_t i = 0; i < P; i++)
        s.pos[i] = levels ? (double)mla_rng_below(&g, (uint64_t)levels) + (mla_rng_below(&g, 3) == 0)
                          : mla_rng_normal(&g) + shift;
    for (int64_t i = 0; i < N; i++) s.neg[i] = levels ? (double)mla_rng_below(&g, (uint64_t)levels) : mla_rng_normal(&g);
    return s;
}

static void free_sample(sample *s) {
    free(s->pos);
    free(s->neg);
}

static double mann_whitney(const sample *s) {
    int64_t twice = 0;
    for (int64_t i = 0; i < s->P; i++)
        for (int64_t j = 0; j < s->N; j++) twice += s->pos[i] > s->neg[j] ? 2 : s->pos[i] == s->neg[j];
    return (double)twice / (2.0 * (double)s->P * (double)s->N);
}

static int64_t at_least(const double *x, int64_t n, double t) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += x[i] >= t;
    return k;
}

/* Every distinct score and +inf, in decreasing order. */
static double *candidates(const sample *s, int64_t *n) {
    double *c = malloc((size_t)(s->P + s->N + 1) * sizeof *c);
    int64_t k = 0;
    c[k++] = INFINITY;
    for (int side = 0; side < 2; side++) {
        const double *x = side ? s->neg : s->pos;
        for (int64_t i = 0; i < (side ? s->N : s->P); i++) {
            int seen = 0;
            for (int64_t j = 0; j < k && !seen; j++) seen = c[j] == x[i];
            if (!seen) c[k++] = x[i];
        }
    }
    for (int64_t i = 1; i < k; i++) /* insertion sort, decreasing */
        for (int64_t j = i; j > 0 && c[j] > c[j - 1]; j--) {
            double t = c[j];
            c[j] = c[j - 1], c[j - 1] = t;
        }
    *n = k;
    return c;
}

static void check_tpr_at_fpr(const sample *s, const mla_roc *r, const double *c, int64_t nc, double bound) {
    int64_t best = 0;
    for (int64_t k = 0; k < nc; k++)
        if ((double)at_least(s->neg, s->N, c[k]) / (double)s->N <= bound) {
            int64_t tp = at_least(s->pos, s->P, c[k]);
            if (tp > best) best = tp;
        }
    int64_t tp = -1;
    double tpr = mla_roc_tpr_at_fpr(r, bound, &tp);
    if (tp != best) fail_msg("TPR at FPR %g: tp %lld, brute force %lld", bound, (long long)tp, (long long)best);
    assert_true(tpr == (double)best / (double)s->P);
}

/* Advantage, best balanced accuracy, its threshold and the chosen midpoint. */
static void check_best_split(const sample *s, const mla_roc *r, const double *c, int64_t nc) {
    int64_t best_key = 0, best_k = -1; /* the origin: key 0, threshold +inf */
    for (int64_t k = 0; k < nc; k++) {
        int64_t key = at_least(s->pos, s->P, c[k]) * s->N - at_least(s->neg, s->N, c[k]) * s->P;
        if (key > best_key) best_key = key, best_k = k;
    }
    double adv = (double)best_key / ((double)s->P * (double)s->N), t = 0, chosen = 0;
    assert_near(mla_roc_advantage(r), adv, 1e-14);
    assert_near(mla_roc_best_balanced_accuracy(r, &t), (1.0 + adv) / 2.0, 1e-14);
    double want_t = best_k < 0 ? INFINITY : c[best_k];
    if (t != want_t) fail_msg("best threshold %g, brute force %g", t, want_t);
    assert_int_equal(mla_choose_threshold(s->pos, s->P, s->neg, s->N, &chosen), MLA_OK);
    double want_mid = best_k >= 0 && best_k + 1 < nc ? c[best_k] / 2 + c[best_k + 1] / 2 : want_t;
    if (chosen != want_mid) fail_msg("chosen threshold %.17g, want %.17g", chosen, want_mid);
}

/* Average precision the textbook way: the mean over positives of the precision at a
 * threshold equal to that positive's score (every sample scoring >= it predicted
 * positive, so ties go together). */
static double direct_average_precision(const sample *s) {
    double sum = 0;
    for (int64_t i = 0; i < s->P; i++) {
        int64_t tp = at_least(s->pos, s->P, s->pos[i]), fp = at_least(s->neg, s->N, s->pos[i]);
        sum += (double)tp / (double)(tp + fp);
    }
    return sum / (double)s->P;
}

static void check_against_brute_force(const sample *s) {
    mla_roc *r;
    assert_int_equal(mla_roc_create(s->pos, s->P, s->neg, s->N, &r), MLA_OK);
    int64_t nc;
    double *c = candidates(s, &nc);
    assert_int_equal(r->n, nc); /* the origin plus one point per distinct score */
    for (int64_t i = 1; i < r->n; i++) {
        assert_true(r->threshold[i] == c[i] && r->threshold[i] < r->threshold[i - 1]);
        assert_int_equal(r->tp[i], at_least(s->pos, s->P, c[i]));
        assert_int_equal(r->fp[i], at_least(s->neg, s->N, c[i]));
    }
    assert_true(r->tp[r->n - 1] == s->P && r->fp[r->n - 1] == s->N);
    assert_near(mla_roc_auc(r), mann_whitney(s), 1e-15);
    const double bounds[] = {0.0, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.99, 1.0};
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) check_tpr_at_fpr(s, r, c, nc, bounds[b]);
    check_best_split(s, r, c, nc);
    assert_near(mla_roc_average_precision(r), direct_average_precision(s), 1e-12);
    free(c);
    mla_roc_free(r);
}

static void test_random_ties_against_brute_force(void **state) {
    (void)state;
    const int levels[] = {1, 2, 5, 20};
    for (uint64_t seed = 1; seed <= 8; seed++) {
        sample s = make_sample(seed, 150 + (int64_t)seed * 13, 230 - (int64_t)seed * 11, levels[seed % 4], 0);
        check_against_brute_force(&s);
        free_sample(&s);
    }
}

static void test_random_continuous_against_brute_force(void **state) {
    (void)state;
    const double shifts[] = {0.0, 0.3, 1.0, -0.5};
    for (uint64_t seed = 1; seed <= 8; seed++) {
        sample s = make_sample(100 + seed, 400 + (int64_t)seed, 1000 + 7 * (int64_t)seed, 0, shifts[seed % 4]);
        check_against_brute_force(&s);
        free_sample(&s);
    }
}

/* ---- the summary ---- */

static void test_summary_fills_every_field(void **state) {
    (void)state;
    /* Negatives 2000, 1999, ..., 1001. At FPR 0.001 (one false positive allowed) no
     * positive is found; at 0.01 (ten) five of the ten are. */
    enum { P = 10, N = 1000 };
    double pos[P] = {1995.5, 1994.5, 1993.5, 1992.5, 1991.5, -1, -2, -3, -4, -5}, neg[N];
    for (int i = 0; i < N; i++) neg[i] = 2000 - i;
    mla_score_summary m;
    memset(&m, 0xff, sizeof m);
    assert_int_equal(mla_score_summarize(pos, P, neg, N, 1991.0, &m), MLA_OK);
    sample s = {pos, neg, P, N};
    assert_near(m.auc, mann_whitney(&s), 1e-15);
    /* best split at 1991.5: TPR 0.5, FPR 0.009 */
    assert_near(m.advantage, 0.5 - 0.009, 1e-15);
    assert_near(m.balanced_accuracy, (1.5 - 0.009) / 2, 1e-15);
    assert_true(m.threshold == 1991.0);
    /* at 1991: tp 5, fp 10, tn 990, fn 5 */
    assert_true(m.accuracy == 995.0 / 1010.0 && m.precision == 5.0 / 15.0 && m.recall == 0.5);
    assert_true(mla_score_fprs[0] == 0.001 && mla_score_fprs[1] == 0.01);
    assert_true(m.tpr_at_fpr[0] == 0.0 && m.tpr_at_fpr[1] == 0.5);
    assert_true(m.ci95_lo[0] == 0.0);
    assert_near(m.ci95_hi[0], 0.3084971078187608, 1e-13);
    assert_near(m.ci95_lo[1], 0.18708602844739, 1e-13);
    assert_near(m.ci95_hi[1], 0.81291397155261, 1e-13);
    assert_true(m.n_pos == P && m.n_neg == N && m.excluded == 0);
    /* a threshold above every score: nothing predicted positive */
    assert_int_equal(mla_score_summarize(pos, P, neg, N, INFINITY, &m), MLA_OK);
    assert_true(isnan(m.precision) && m.recall == 0.0 && m.accuracy == 1000.0 / 1010.0);
}

/* ---- average precision, quantiles and F1 by hand ---- */

static void test_average_precision_by_hand(void **state) {
    (void)state;
    mla_roc *r;
    const double pos[2] = {3, 1}, neg[1] = {2};
    assert_int_equal(mla_roc_create(pos, 2, neg, 1, &r), MLA_OK);
    assert_near(mla_roc_average_precision(r), 0.5 * 1.0 + 0.5 * (2.0 / 3.0), 1e-15);
    mla_roc_free(r);
    const double tie_p[1] = {1}, tie_n[3] = {1, 0, 5};
    assert_int_equal(mla_roc_create(tie_p, 1, tie_n, 3, &r), MLA_OK); /* ranks with 5, ties with 1 */
    assert_near(mla_roc_average_precision(r), 1.0 / 3.0, 1e-15);
    mla_roc_free(r);
    const double top[2] = {9, 8}, low[3] = {1, 2, 3};
    assert_int_equal(mla_roc_create(top, 2, low, 3, &r), MLA_OK);
    assert_true(mla_roc_average_precision(r) == 1.0);
    mla_roc_free(r);
}

static void test_quantile_type7(void **state) {
    (void)state;
    const double v[5] = {4, 1, 3, 2, 10};
    double q;
    assert_int_equal(mla_quantile(v, 4, 0.95, &q), MLA_OK);
    assert_near(q, 3.85, 1e-15); /* numpy.percentile([4, 1, 3, 2], 95) */
    assert_int_equal(mla_quantile(v, 5, 0.5, &q), MLA_OK);
    assert_true(q == 3);
    assert_int_equal(mla_quantile(v, 5, 0.95, &q), MLA_OK);
    assert_near(q, 4 + 0.8 * 6, 1e-14); /* h = 3.8 */
    assert_int_equal(mla_quantile(v, 5, 0, &q), MLA_OK);
    assert_true(q == 1);
    assert_int_equal(mla_quantile(v, 5, 1, &q), MLA_OK);
    assert_true(q == 10);
    assert_int_equal(mla_quantile(v, 1, 0.95, &q), MLA_OK);
    assert_true(q == 4);
    assert_int_equal(mla_quantile(v, 0, 0.5, &q), MLA_ERR_INVALID);
    assert_int_equal(mla_quantile(v, 5, 1.5, &q), MLA_ERR_INVALID);
    const double nan_v[2] = {1, NAN};
    assert_int_equal(mla_quantile(nan_v, 2, 0.5, &q), MLA_ERR_INVALID);
}

static void test_threshold_f1(void **state) {
    (void)state;
    const double pos[4] = {5, 4, 1, 0}, neg[3] = {3, 0.5, 0};
    mla_threshold_metrics m;
    assert_int_equal(mla_threshold_eval(pos, 4, neg, 3, 2, &m), MLA_OK); /* tp 2, fp 1, fn 2 */
    assert_near(m.f1, 4.0 / 7.0, 1e-15);
    assert_int_equal(mla_threshold_eval(NULL, 0, neg, 3, 10, &m), MLA_OK);
    assert_true(isnan(m.f1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_betainc_known_values),
        cmocka_unit_test(test_clopper_pearson_known_intervals),
        cmocka_unit_test(test_curve_with_ties_by_hand),
        cmocka_unit_test(test_all_scores_equal),
        cmocka_unit_test(test_perfectly_separable),
        cmocka_unit_test(test_infinite_scores),
        cmocka_unit_test(test_nan_and_bad_counts_refused),
        cmocka_unit_test(test_threshold_eval_counts),
        cmocka_unit_test(test_random_ties_against_brute_force),
        cmocka_unit_test(test_random_continuous_against_brute_force),
        cmocka_unit_test(test_summary_fills_every_field),
        cmocka_unit_test(test_average_precision_by_hand),
        cmocka_unit_test(test_quantile_type7),
        cmocka_unit_test(test_threshold_f1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
