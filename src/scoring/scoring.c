/* Exact binomial intervals, ROC curves and the per-attack summary (scoring.h). */
#include "mlaudit/scoring.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double mla_score_fprs[MLA_SCORE_N_FPR] = {0.001, 0.01};

/* ---- incomplete beta ---- */

/* The continued fraction of I_x(a, b) (modified Lentz), good for x < (a + 1) / (a + b + 2). */
static double beta_fraction(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-16;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        d = fabs(d) < tiny ? 1.0 / tiny : 1.0 / d;
        if (fabs(c) < tiny) c = tiny;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        d = fabs(d) < tiny ? 1.0 / tiny : 1.0 / d;
        if (fabs(c) < tiny) c = tiny;
        double step = d * c;
        h *= step;
        if (fabs(step - 1.0) < eps) break;
    }
    return h;
}

double mla_betainc(double a, double b, double x) {
    if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1)) return NAN;
    if (x == 0 || x == 1) return x;
    double log_front = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1.0) / (a + b + 2.0)) return exp(log_front) * beta_fraction(a, b, x) / a;
    return 1.0 - exp(log_front) * beta_fraction(b, a, 1.0 - x) / b;
}

double mla_betainc_inv(double a, double b, double p) {
    if (!(a > 0) || !(b > 0) || !(p >= 0 && p <= 1)) return NAN;
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
        double mid = 0.5 * (lo + hi);
        if (mla_betainc(a, b, mid) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

mla_status mla_clopper_pearson(int64_t successes, int64_t n, double level, double *lo, double *hi) {
    if (n < 1 || successes < 0 || successes > n)
        return mla_error(MLA_ERR_INVALID, "clopper-pearson: %lld successes out of %lld trials", (long long)successes,
                         (long long)n);
    if (!(level > 0 && level < 1))
        return mla_error(MLA_ERR_INVALID, "clopper-pearson: confidence level %g outside (0, 1)", level);
    double alpha = 1.0 - level, s = (double)successes, m = (double)n;
    *lo = successes == 0 ? 0.0 : mla_betainc_inv(s, m - s + 1.0, alpha / 2.0);
    *hi = successes == n ? 1.0 : mla_betainc_inv(s + 1.0, m - s, 1.0 - alpha / 2.0);
    return MLA_OK;
}

/* ---- ROC curves ---- */

/* MLA_ERR_INVALID naming the first NaN of scores[0..n) ("score 17 of the positives"). */
static mla_status check_scores(const char *fn, const double *scores, int64_t n, const char *which) {
    if (n < 0) return mla_error(MLA_ERR_INVALID, "%s: %lld %s", fn, (long long)n, which);
    if (n > 0 && !scores) return mla_error(MLA_ERR_INVALID, "%s: no array for %lld %s", fn, (long long)n, which);
    for (int64_t i = 0; i < n; i++)
        if (isnan(scores[i])) return mla_error(MLA_ERR_INVALID, "%s: score %lld of the %s is NaN", fn, (long long)i, which);
    return MLA_OK;
}

static mla_status check_pair(const char *fn, const double *pos, int64_t n_pos, const double *neg, int64_t n_neg) {
    if (n_pos < 1 || n_neg < 1)
        return mla_error(MLA_ERR_INVALID, "%s: needs at least one positive and one negative score, got %lld and %lld",
                         fn, (long long)n_pos, (long long)n_neg);
    mla_status s = check_scores(fn, pos, n_pos, "positives");
    return s ? s : check_scores(fn, neg, n_neg, "negatives");
}

static int descending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* A sorted (descending) copy of scores[0..n). */
static double *sorted_copy(const double *scores, int64_t n) {
    double *c = mla_alloc((size_t)n, sizeof *c);
    if (!c) return NULL;
    memcpy(c, scores, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, descending);
    return c;
}

void mla_roc_free(mla_roc *r) {
    if (!r) return;
    free(r->threshold);
    free(r->tp);
    free(r->fp);
    free(r);
}

static mla_roc *roc_alloc(int64_t points) {
    mla_roc *r = mla_alloc(1, sizeof *r);
    if (!r) return NULL;
    r->threshold = mla_alloc((size_t)points, sizeof *r->threshold);
    r->tp = mla_alloc((size_t)points, sizeof *r->tp);
    r->fp = mla_alloc((size_t)points, sizeof *r->fp);
    if (r->threshold && r->tp && r->fp) return r;
    mla_roc_free(r);
    return NULL;
}

/* Merges the two descending arrays into the curve: one point per distinct value,
 * after the origin. */
static void roc_merge(mla_roc *r, const double *p, const double *q) {
    int64_t i = 0, j = 0, n = 1;
    r->threshold[0] = INFINITY;
    while (i < r->n_pos || j < r->n_neg) {
        double v = i == r->n_pos ? q[j] : j == r->n_neg ? p[i] : (p[i] > q[j] ? p[i] : q[j]);
        while (i < r->n_pos && p[i] == v) i++;
        while (j < r->n_neg && q[j] == v) j++;
        r->threshold[n] = v, r->tp[n] = i, r->fp[n] = j;
        n++;
    }
    r->n = n;
}

mla_status mla_roc_create(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, mla_roc **out) {
    *out = NULL;
    mla_status s = check_pair("mla_roc_create", pos, n_pos, neg, n_neg);
    if (s) return s;
    if (n_pos > INT64_MAX - 1 - n_neg)
        return mla_error(MLA_ERR_INVALID, "mla_roc_create: %lld + %lld scores are too many", (long long)n_pos,
                         (long long)n_neg);
    double *p = sorted_copy(pos, n_pos), *q = p ? sorted_copy(neg, n_neg) : NULL;
    mla_roc *r = q ? roc_alloc(n_pos + n_neg + 1) : NULL;
    if (r) {
        r->n_pos = n_pos, r->n_neg = n_neg;
        roc_merge(r, p, q);
    }
    free(p);
    free(q);
    if (!r) return MLA_ERR_NOMEM;
    *out = r;
    return MLA_OK;
}

/* Twice the area times P * N is the sum of fp steps x (tp before + tp after): summed
 * exactly in uint64 while it fits, the rest carried in long double. */
double mla_roc_auc(const mla_roc *r) {
    uint64_t acc = 0;
    long double spill = 0;
    for (int64_t i = 1; i < r->n; i++) {
        uint64_t step = (uint64_t)(r->fp[i] - r->fp[i - 1]), height = (uint64_t)r->tp[i] + (uint64_t)r->tp[i - 1];
        if (step == 0) continue;
        if (height > UINT64_MAX / step) {
            spill += (long double)step * (long double)height;
            continue;
        }
        uint64_t term = step * height;
        if (acc > UINT64_MAX - term) spill += (long double)acc, acc = 0;
        acc += term;
    }
    long double twice = spill + (long double)acc;
    return (double)(twice / (2.0L * (long double)r->n_pos * (long double)r->n_neg));
}

static double tpr_of(const mla_roc *r, int64_t i) { return (double)r->tp[i] / (double)r->n_pos; }
static double fpr_of(const mla_roc *r, int64_t i) { return (double)r->fp[i] / (double)r->n_neg; }

double mla_roc_tpr_at_fpr(const mla_roc *r, double max_fpr, int64_t *tp) {
    /* fp is non-decreasing, so the qualifying points are a prefix [0, lo). */
    int64_t lo = 0, hi = r->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (fpr_of(r, mid) <= max_fpr) lo = mid + 1;
        else hi = mid;
    }
    int64_t best = lo > 0 ? r->tp[lo - 1] : 0;
    if (tp) *tp = best;
    return (double)best / (double)r->n_pos;
}

/* TPR - FPR of point i scaled by P * N: tp * N - fp * P, exact in long double's
 * 64-bit significand while P * N < 2^64. */
static long double scaled_advantage(const mla_roc *r, int64_t i) {
    return (long double)r->tp[i] * (long double)r->n_neg - (long double)r->fp[i] * (long double)r->n_pos;
}

/* The first point with the largest TPR - FPR. */
static int64_t best_point(const mla_roc *r) {
    int64_t best = 0;
    long double top = scaled_advantage(r, 0);
    for (int64_t i = 1; i < r->n; i++) {
        long double a = scaled_advantage(r, i);
        if (a > top) top = a, best = i;
    }
    return best;
}

double mla_roc_advantage(const mla_roc *r) {
    int64_t b = best_point(r);
    return tpr_of(r, b) - fpr_of(r, b);
}

double mla_roc_best_balanced_accuracy(const mla_roc *r, double *threshold) {
    int64_t b = best_point(r);
    if (threshold) *threshold = r->threshold[b];
    return (tpr_of(r, b) + 1.0 - fpr_of(r, b)) / 2.0;
}

double mla_roc_average_precision(const mla_roc *r) {
    long double ap = 0;
    for (int64_t i = 1; i < r->n; i++) {
        int64_t dtp = r->tp[i] - r->tp[i - 1];
        if (dtp == 0) continue;
        ap += ((long double)dtp / (long double)r->n_pos) *
              ((long double)r->tp[i] / (long double)(r->tp[i] + r->fp[i]));
    }
    return (double)ap;
}

static int ascending(const void *a, const void *b) { return descending(b, a); }

mla_status mla_quantile(const double *v, int64_t n, double p, double *out) {
    mla_status s = n < 1 ? mla_error(MLA_ERR_INVALID, "mla_quantile: no values") : check_scores("mla_quantile", v, n, "values");
    if (!s && !(p >= 0 && p <= 1)) s = mla_error(MLA_ERR_INVALID, "mla_quantile: p = %g is outside [0, 1]", p);
    if (s) return s;
    double *c = mla_alloc((size_t)n, sizeof *c);
    if (!c) return MLA_ERR_NOMEM;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, ascending);
    double h = (double)(n - 1) * p, f = floor(h);
    int64_t k = (int64_t)f;
    *out = k + 1 < n ? c[k] + (h - f) * (c[k + 1] - c[k]) : c[k];
    free(c);
    return MLA_OK;
}

/* ---- a fixed threshold ---- */

static int64_t count_at_least(const double *scores, int64_t n, double threshold) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += scores[i] >= threshold;
    return k;
}

mla_status mla_threshold_eval(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, double threshold,
                              mla_threshold_metrics *out) {
    const char *fn = "mla_threshold_eval";
    mla_status s = check_scores(fn, pos, n_pos, "positives");
    if (!s) s = check_scores(fn, neg, n_neg, "negatives");
    if (!s && isnan(threshold)) s = mla_error(MLA_ERR_INVALID, "%s: the threshold is NaN", fn);
    if (s) return s;
    mla_threshold_metrics m;
    m.tp = count_at_least(pos, n_pos, threshold), m.fn = n_pos - m.tp;
    m.fp = count_at_least(neg, n_neg, threshold), m.tn = n_neg - m.fp;
    m.accuracy = n_pos + n_neg > 0 ? (double)(m.tp + m.tn) / (double)(n_pos + n_neg) : NAN;
    m.precision = m.tp + m.fp > 0 ? (double)m.tp / (double)(m.tp + m.fp) : NAN;
    m.recall = n_pos > 0 ? (double)m.tp / (double)n_pos : NAN;
    m.f1 = m.tp + m.fp + m.fn > 0 ? 2.0 * (double)m.tp / (double)(2 * m.tp + m.fp + m.fn) : NAN;
    *out = m;
    return MLA_OK;
}

mla_status mla_choose_threshold(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, double *threshold) {
    mla_roc *r;
    mla_status s = check_pair("mla_choose_threshold", pos, n_pos, neg, n_neg);
    if (!s) s = mla_roc_create(pos, n_pos, neg, n_neg, &r);
    if (s) return s;
    int64_t b = best_point(r);
    double t = r->threshold[b];
    if (b + 1 < r->n && isfinite(t) && isfinite(r->threshold[b + 1])) {
        double next = r->threshold[b + 1], mid = t / 2 + next / 2;
        if (mid > next && mid <= t) t = mid; /* adjacent doubles have no midpoint: keep t */
    }
    mla_roc_free(r);
    *threshold = t;
    return MLA_OK;
}

/* ---- the summary ---- */

static mla_status summarize_curve(const mla_roc *r, mla_score_summary *m) {
    m->auc = mla_roc_auc(r);
    m->advantage = mla_roc_advantage(r);
    m->balanced_accuracy = mla_roc_best_balanced_accuracy(r, NULL);
    for (int i = 0; i < MLA_SCORE_N_FPR; i++) {
        int64_t tp;
        m->tpr_at_fpr[i] = mla_roc_tpr_at_fpr(r, mla_score_fprs[i], &tp);
        mla_status s = mla_clopper_pearson(tp, r->n_pos, 0.95, &m->ci95_lo[i], &m->ci95_hi[i]);
        if (s) return s;
    }
    return MLA_OK;
}

mla_status mla_score_summarize(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, double threshold,
                               mla_score_summary *out) {
    mla_score_summary m;
    memset(&m, 0, sizeof m);
    mla_threshold_metrics at;
    mla_roc *r;
    mla_status s = check_pair("mla_score_summarize", pos, n_pos, neg, n_neg);
    if (!s && isnan(threshold)) s = mla_error(MLA_ERR_INVALID, "mla_score_summarize: the threshold is NaN");
    if (!s) s = mla_roc_create(pos, n_pos, neg, n_neg, &r);
    if (s) return s;
    s = summarize_curve(r, &m);
    mla_roc_free(r);
    if (!s) s = mla_threshold_eval(pos, n_pos, neg, n_neg, threshold, &at);
    if (s) return s;
    m.threshold = threshold;
    m.accuracy = at.accuracy, m.precision = at.precision, m.recall = at.recall;
    m.n_pos = n_pos, m.n_neg = n_neg, m.excluded = 0;
    *out = m;
    return MLA_OK;
}
