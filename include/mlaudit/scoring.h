/* mlaudit scoring: how well a real-valued score separates positives from negatives.
 *
 * One module for every audit that ranks samples: membership inference (members vs
 * non-members), robustness (adversarial vs clean) and anomaly detection (anomalies vs
 * normal). Convention: a LARGER score means MORE LIKELY POSITIVE, and a threshold t
 * predicts positive iff score >= t.
 *
 * The ROC curve has one point per distinct score value (so tied scores move together,
 * which makes the trapezoid AUC count ties as half, as the Mann-Whitney statistic does)
 * plus the origin (threshold +inf: nothing predicted positive). TPR at a false-positive
 * bound is the largest TPR over the curve's points whose FPR <= the bound: no
 * interpolation between points. Its 95% interval is Clopper-Pearson's exact interval on
 * the true-positive count out of the positives.
 *
 * Scores may be +-inf (an attack that is certain); NaN scores are refused with
 * MLA_ERR_INVALID. Counts are int64: the module handles any array that fits in memory.
 */
#ifndef MLAUDIT_SCORING_H
#define MLAUDIT_SCORING_H

#include <stdint.h>

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- special functions and exact binomial intervals ---- */

/* The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]
 * (continued fraction, relative accuracy about 1e-14). NaN for bad arguments. */
double mla_betainc(double a, double b, double x);
/* The x in [0, 1] with I_x(a, b) = p (bisection; absolute accuracy 1e-15). */
double mla_betainc_inv(double a, double b, double p);

/* Exact (Clopper-Pearson) interval for a binomial proportion: `successes` out of n
 * trials at the given confidence level (0.95 for 95%). 0 successes give lo = 0 and n
 * successes give hi = 1. Fails on n < 1, successes outside [0, n] or a level outside (0, 1). */
mla_status mla_clopper_pearson(int64_t successes, int64_t n, double level, double *lo, double *hi);

/* ---- ROC curves ---- */

/* A ROC curve. Point 0 is the origin (threshold +inf, tp = fp = 0); point i >= 1 has
 * threshold[i] = the i-th largest distinct score and the counts of positives and
 * negatives scoring >= it; the last point is (n_neg, n_pos). Owned by the caller:
 * free with mla_roc_free. */
typedef struct {
    int64_t n;              /* points */
    double *threshold;      /* n, strictly decreasing; threshold[0] = +inf */
    int64_t *tp, *fp;       /* n, non-decreasing */
    int64_t n_pos, n_neg;
} mla_roc;

/* Builds the curve of n_pos positive and n_neg negative scores (both >= 1; the arrays
 * are only read). Fails on n_pos or n_neg < 1 or a NaN score. O((P + N) log(P + N)). */
mla_status mla_roc_create(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, mla_roc **out);
void mla_roc_free(mla_roc *r);

/* Area under the curve by trapezoids over every point: equals the probability that a
 * random positive outscores a random negative, ties counted half. */
double mla_roc_auc(const mla_roc *r);
/* The largest TPR over points with FPR <= max_fpr; the true-positive count of that
 * point through *tp (may be NULL). 0 when only the origin qualifies. */
double mla_roc_tpr_at_fpr(const mla_roc *r, double max_fpr, int64_t *tp);
/* max over points of TPR - FPR (>= 0: the origin gives 0). */
double mla_roc_advantage(const mla_roc *r);
/* max over points of (TPR + 1 - FPR) / 2 = (1 + advantage) / 2; the threshold of the
 * first (highest-threshold) point reaching it through *threshold (may be NULL). */
double mla_roc_best_balanced_accuracy(const mla_roc *r, double *threshold);

/* Average precision (the area under the precision-recall curve, AUPR, as
 * scikit-learn's average_precision_score computes it): sum over the curve's points
 * i >= 1 of (R_i - R_{i-1}) * P_i, with R_i = tp_i / n_pos and P_i = tp_i / (tp_i + fp_i)
 * at threshold i (tied scores form one point, so ties are never split optimistically).
 * No interpolation. A random scorer's expected value is the positives' share. */
double mla_roc_average_precision(const mla_roc *r);

/* The p-th quantile (p in [0, 1]) of v[0..n) (n >= 1, no NaN), by linear interpolation
 * between order statistics (NumPy's default, Hyndman-Fan type 7): with the values
 * sorted ascending s_0 <= ... <= s_{n-1} and h = (n - 1) p, the result is
 * s_floor(h) + (h - floor(h)) (s_floor(h)+1 - s_floor(h)). p = 0.95 gives the 95th
 * percentile. Fails on n < 1, p outside [0, 1] or a NaN value. */
mla_status mla_quantile(const double *v, int64_t n, double p, double *out);

/* ---- a fixed threshold ---- */

typedef struct {
    int64_t tp, fp, tn, fn;
    double accuracy;        /* (tp + tn) / all */
    double precision;       /* tp / (tp + fp); NaN when nothing is predicted positive */
    double recall;          /* tp / (tp + fn) */
    double f1;              /* 2 tp / (2 tp + fp + fn); NaN when tp + fp + fn = 0 */
} mla_threshold_metrics;

/* Predicts positive iff score >= threshold (threshold may be +-inf). Fails on NaN
 * scores; n_pos or n_neg may be 0. */
mla_status mla_threshold_eval(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, double threshold,
                              mla_threshold_metrics *out);

/* The threshold an attacker picks on data it controls (shadow models' members and
 * non-members): the one maximising balanced accuracy, i.e. the curve point of
 * mla_roc_best_balanced_accuracy. To avoid the extreme of a perfect split sitting on
 * one sample's score, the returned value is the midpoint between that point's
 * threshold and the next lower distinct score (the threshold itself when it is the
 * lowest score or either is infinite). Fails as mla_roc_create does. */
mla_status mla_choose_threshold(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, double *threshold);

/* ---- the summary an audit reports for one attack ---- */

#define MLA_SCORE_N_FPR 2
/* The false-positive bounds of the summary: 0.001 and 0.01. */
extern const double mla_score_fprs[MLA_SCORE_N_FPR];

typedef struct {
    double auc;
    double balanced_accuracy;   /* best over thresholds (mla_roc_best_balanced_accuracy) */
    double advantage;           /* max TPR - FPR */
    double threshold;           /* the threshold accuracy/precision/recall were taken at */
    double accuracy, precision, recall;
    double tpr_at_fpr[MLA_SCORE_N_FPR];         /* at mla_score_fprs[i] */
    double ci95_lo[MLA_SCORE_N_FPR], ci95_hi[MLA_SCORE_N_FPR]; /* Clopper-Pearson, 95% */
    int64_t n_pos, n_neg;
    int64_t excluded;           /* not set here: the caller's count of samples it left out */
} mla_score_summary;

/* Every figure above for positives pos[0..n_pos) and negatives neg[0..n_neg) (both
 * >= 1), with accuracy, precision and recall at `threshold` (chosen by the caller,
 * e.g. with mla_choose_threshold on shadow data). excluded is set to 0. */
mla_status mla_score_summarize(const double *pos, int64_t n_pos, const double *neg, int64_t n_neg, double threshold,
                               mla_score_summary *out);

#ifdef __cplusplus
}
#endif
#endif
