/* Membership-inference score formulas and the reference-model attacks (mia.h, section 1):
 * phi and log p_y of one output row, the metric-threshold scores, LiRA, RMIA offline and
 * the similarity attack. Everything is computed in double. */
#include "mlaudit/mia.h"

#include <math.h>
#include <stdlib.h>

/* Probabilities below this are taken at it before a logarithm (mia.h's notation). */
#define PROB_FLOOR 1e-300
/* The smallest standard deviation LiRA's Gaussians may have. */
#define SD_FLOOR 1e-12
#define SQRT2 1.41421356237309504880
#define LOG_SQRT_2PI 0.91893853320467274178

static double safe_log(double p) { return p < PROB_FLOOR ? log(PROB_FLOOR) : log(p); }

/* log Pr[Z > x] for a standard normal Z, accurate to a few ulps in both tails: the upper
 * tail through erfc while it stays normalised, then the asymptotic series; the lower tail
 * as log1p of minus the (small) lower-tail probability. */
static double log_normal_sf(double x) {
    if (isnan(x)) return x;
    if (x < -1.0) return log1p(-0.5 * erfc(-x / SQRT2));
    if (x <= 35.0) return log(0.5 * erfc(x / SQRT2));
    /* Q(x) = density(x) / x * (1 - 1/x^2 + 3/x^4 - 15/x^6 + ...); at x > 35 the terms fall
     * below 1e-17 of the sum after at most 8 of them. */
    double inv2 = 1.0 / (x * x), term = 1.0, series = 0.0;
    for (int k = 1; k <= 12; k++) {
        term *= -(2.0 * k - 1.0) * inv2;
        series += term;
        if (fabs(term) < 1e-18) break;
    }
    return -0.5 * x * x - log(x) - LOG_SQRT_2PI + log1p(series);
}

/* ---- one output row: every function returns NaN on a bad row (NULL, c < 1, y out of
 * range) ---- */

static int bad_row(const float *row, int c, int y) { return row == NULL || c < 1 || y < 0 || y >= c; }

/* The largest logit over j != skip (skip = -1: over all); -inf when there is none. */
static double max_logit(const float *z, int c, int skip) {
    double mx = -INFINITY;
    for (int j = 0; j < c; j++)
        if (j != skip && z[j] > mx) mx = z[j];
    return mx;
}

/* logsumexp of the logits over j != skip, shifted by their maximum; -inf when empty. */
static double logsumexp(const float *z, int c, int skip) {
    double mx = max_logit(z, c, skip);
    if (!isfinite(mx)) return mx;
    double s = 0.0;
    for (int j = 0; j < c; j++)
        if (j != skip) s += exp((double)z[j] - mx);
    return mx + log(s);
}

/* With one class the others' probability is 0, taken at 1e-300 (phi = -log 1e-300). */
double mla_mia_phi_from_logits(const float *logits, int c, int y) {
    if (bad_row(logits, c, y)) return NAN;
    if (c == 1) return -log(PROB_FLOOR);
    return (double)logits[y] - logsumexp(logits, c, y);
}

double mla_mia_phi_from_probs(const float *probs, int c, int y) {
    if (bad_row(probs, c, y)) return NAN;
    double others = 0.0;
    for (int j = 0; j < c; j++)
        if (j != y) others += probs[j];
    return safe_log(probs[y]) - safe_log(others);
}

double mla_mia_logpy_from_logits(const float *logits, int c, int y) {
    if (bad_row(logits, c, y)) return NAN;
    return (double)logits[y] - logsumexp(logits, c, -1);
}

double mla_mia_logpy_from_probs(const float *probs, int c, int y) {
    if (bad_row(probs, c, y)) return NAN;
    return safe_log(probs[y]);
}

double mla_mia_score_loss(const float *probs, int c, int y) { return mla_mia_logpy_from_probs(probs, c, y); }

double mla_mia_score_confidence(const float *probs, int c) {
    if (probs == NULL || c < 1) return NAN;
    double mx = probs[0];
    for (int j = 1; j < c; j++)
        if (probs[j] > mx) mx = probs[j];
    return mx;
}

double mla_mia_score_entropy(const float *probs, int c) {
    if (probs == NULL || c < 1) return NAN;
    double s = 0.0;
    for (int j = 0; j < c; j++) s += (double)probs[j] * safe_log(probs[j]);
    return s;
}

/* log(1 - p), with 1 - p below 1e-300 taken at 1e-300. */
static double safe_log1m(double p) { return 1.0 - p < PROB_FLOOR ? log(PROB_FLOOR) : log1p(-p); }

double mla_mia_score_modified_entropy(const float *probs, int c, int y) {
    if (bad_row(probs, c, y)) return NAN;
    double py = probs[y];
    double s = (1.0 - py) * safe_log(py);
    for (int j = 0; j < c; j++)
        if (j != y) s += (double)probs[j] * safe_log1m(probs[j]);
    return s;
}

/* ---- the shadows' values of one sample ---- */

/* The IN (or OUT) values of one sample: count, mean, sum of squared residuals about the
 * mean, and whether they are all equal. */
typedef struct {
    int n;
    double mean, ss;
    int all_equal;
} side_stats;

static side_stats side_of(const double *shadow, const uint8_t *shadow_in, int k, int m, int i, int want_in) {
    side_stats st = {0, NAN, 0.0, 1};
    double sum = 0.0, first = 0.0;
    for (int s = 0; s < k; s++) {
        size_t at = (size_t)s * (size_t)m + (size_t)i;
        if ((shadow_in[at] != 0) != want_in) continue;
        if (st.n == 0) first = shadow[at];
        else if (shadow[at] != first) st.all_equal = 0;
        sum += shadow[at];
        st.n++;
    }
    if (st.n == 0) return st;
    st.mean = sum / st.n;
    for (int s = 0; s < k; s++) {
        size_t at = (size_t)s * (size_t)m + (size_t)i;
        if ((shadow_in[at] != 0) != want_in) continue;
        double r = shadow[at] - st.mean;
        st.ss += r * r;
    }
    return st;
}

/* The global sd of one side: the root-mean-square residual of every IN (OUT) value about
 * its own sample's mean, over all m samples; at least SD_FLOOR (also with no values). */
static double global_sd(const double *shadow, const uint8_t *shadow_in, int k, int m, int want_in) {
    double ss = 0.0;
    int64_t n = 0;
    for (int i = 0; i < m; i++) {
        side_stats st = side_of(shadow, shadow_in, k, m, i, want_in);
        ss += st.ss;
        n += st.n;
    }
    double sd = n > 0 ? sqrt(ss / (double)n) : 0.0;
    return sd > SD_FLOOR ? sd : SD_FLOOR;
}

/* A sample's own sd, or the global one where it has fewer than 2 values, they are all
 * equal, or `fixed` asks for it; at least SD_FLOOR. */
static double side_sd(const side_stats *st, double global, int fixed) {
    if (fixed || st->n < 2 || st->all_equal) return global;
    double sd = sqrt(st->ss / st->n);
    return sd > SD_FLOOR ? sd : SD_FLOOR;
}

static mla_status check_reference_args(const char *who, const double *target, const double *shadow,
                                       const uint8_t *shadow_in, int k, int m, const double *score) {
    if (k < 1 || m < 1)
        return mla_error(MLA_ERR_INVALID, "%s: needs k >= 1 shadows and m >= 1 samples, got k=%d, m=%d", who, k, m);
    if (target == NULL || shadow == NULL || shadow_in == NULL || score == NULL)
        return mla_error(MLA_ERR_INVALID, "%s: target, shadow, shadow_in and score must not be NULL", who);
    return MLA_OK;
}

/* ---- LiRA ---- */

static int lira_is_online(mla_lira_variant v) { return v == MLA_LIRA_ONLINE || v == MLA_LIRA_ONLINE_FIXED; }
static int lira_is_fixed(mla_lira_variant v) { return v == MLA_LIRA_ONLINE_FIXED || v == MLA_LIRA_OFFLINE_FIXED; }

/* log N(phi; mu_in, sd_in^2) - log N(phi; mu_out, sd_out^2) (the 2 pi terms cancel). */
static double lira_online(double phi, double mu_in, double sd_in, double mu_out, double sd_out) {
    double zi = (phi - mu_in) / sd_in, zo = (phi - mu_out) / sd_out;
    return log(sd_out / sd_in) + 0.5 * (zo * zo - zi * zi);
}

static int lira_has_shadows(mla_lira_variant v, const side_stats *in, const side_stats *out) {
    return out->n >= 1 && (!lira_is_online(v) || in->n >= 1);
}

/* One sample's LiRA score, given that it has the shadows the variant needs. */
static double lira_sample(mla_lira_variant v, double phi, const side_stats *in, const side_stats *out, double g_in,
                          double g_out) {
    int fixed = lira_is_fixed(v);
    double sd_out = side_sd(out, g_out, fixed);
    if (!lira_is_online(v)) return -log_normal_sf((phi - out->mean) / sd_out);
    return lira_online(phi, in->mean, side_sd(in, g_in, fixed), out->mean, sd_out);
}

mla_status mla_mia_lira(mla_lira_variant variant, const double *target_phi, const double *shadow_phi,
                        const uint8_t *shadow_in, int k, int m, const uint8_t *use, double *score,
                        int64_t *excluded) {
    mla_status st = check_reference_args("lira", target_phi, shadow_phi, shadow_in, k, m, score);
    if (st != MLA_OK) return st;
    if (variant < MLA_LIRA_ONLINE || variant > MLA_LIRA_OFFLINE_FIXED)
        return mla_error(MLA_ERR_INVALID, "lira: unknown variant %d", (int)variant);
    double g_in = global_sd(shadow_phi, shadow_in, k, m, 1);
    double g_out = global_sd(shadow_phi, shadow_in, k, m, 0);
    int64_t n_excluded = 0;
    for (int i = 0; i < m; i++) {
        score[i] = NAN;
        if (use != NULL && !use[i]) continue;
        side_stats in = side_of(shadow_phi, shadow_in, k, m, i, 1);
        side_stats out = side_of(shadow_phi, shadow_in, k, m, i, 0);
        if (lira_has_shadows(variant, &in, &out)) score[i] = lira_sample(variant, target_phi[i], &in, &out, g_in, g_out);
        else n_excluded++;
    }
    if (excluded != NULL) *excluded = n_excluded;
    return MLA_OK;
}

/* ---- RMIA ---- */

/* ratio(x) = p_target(x) / p(x), p(x) = ((1 + a) * mean_OUT p_y(x) + (1 - a)) / 2, into
 * *ratio; returns 0 (and leaves *ratio) when sample i has no OUT shadow. */
static int rmia_ratio(const double *target_py, const double *shadow_py, const uint8_t *shadow_in, int k, int m,
                      int i, double a, double *ratio) {
    side_stats out = side_of(shadow_py, shadow_in, k, m, i, 0);
    if (out.n < 1) return 0;
    double p = ((1.0 + a) * out.mean + (1.0 - a)) / 2.0;
    *ratio = target_py[i] / p;
    return 1;
}

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* The kept population's ratios: `sorted` holds the ones in [+0, +inf] ascending, on which
 * `rx / rz > gamma` holds on a prefix for every rx (division is monotone); `odd` holds the
 * negative ones and -0 (possible only with invalid p_y), checked one by one. NaN ratios
 * never satisfy the comparison and are only counted as kept. */
typedef struct {
    double *sorted, *odd;
    int64_t n_sorted, n_odd, kept;
} rmia_population;

static mla_status rmia_population_build(const double *target_py, const double *shadow_py, const uint8_t *shadow_in,
                                        int k, int m, const int32_t *population, int n_pop, double a,
                                        rmia_population *pop) {
    pop->sorted = mla_alloc((size_t)n_pop, sizeof *pop->sorted);
    pop->odd = mla_alloc((size_t)n_pop, sizeof *pop->odd);
    if (pop->sorted == NULL || pop->odd == NULL) return mla_error_prefix(MLA_ERR_NOMEM, "rmia");
    for (int j = 0; j < n_pop; j++) {
        double r;
        if (!rmia_ratio(target_py, shadow_py, shadow_in, k, m, population[j], a, &r)) continue;
        pop->kept++;
        if (isnan(r)) continue;
        if (r > 0 || (r == 0 && !signbit(r))) pop->sorted[pop->n_sorted++] = r;
        else pop->odd[pop->n_odd++] = r;
    }
    qsort(pop->sorted, (size_t)pop->n_sorted, sizeof *pop->sorted, cmp_double);
    if (pop->kept < 1)
        return mla_error(MLA_ERR_INVALID, "rmia: none of the %d population points has an OUT shadow", n_pop);
    return MLA_OK;
}

/* How many kept population ratios rz satisfy rx / rz > gamma, exactly as that expression
 * evaluates. */
static int64_t rmia_count(const rmia_population *pop, double rx, double gamma) {
    int64_t lo = 0, hi = pop->n_sorted; /* the predicate holds below lo, fails from hi */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rx / pop->sorted[mid] > gamma) lo = mid + 1;
        else hi = mid;
    }
    for (int64_t j = 0; j < pop->n_odd; j++)
        if (rx / pop->odd[j] > gamma) lo++;
    return lo;
}

static mla_status check_rmia_args(int m, const int32_t *population, int n_pop, double a, double gamma) {
    if (population == NULL || n_pop < 1)
        return mla_error(MLA_ERR_INVALID, "rmia: needs a population (got %d points)", n_pop);
    if (!(a >= 0.0 && a <= 1.0))
        return mla_error(MLA_ERR_INVALID, "rmia: a must lie in [0, 1], got %g", a);
    if (!(gamma > 0.0) || isinf(gamma))
        return mla_error(MLA_ERR_INVALID, "rmia: gamma must be positive and finite, got %g", gamma);
    for (int j = 0; j < n_pop; j++)
        if (population[j] < 0 || population[j] >= m)
            return mla_error(MLA_ERR_INVALID, "rmia: population[%d] = %d is not a sample index (m = %d)", j,
                             (int)population[j], m);
    return MLA_OK;
}

mla_status mla_mia_rmia(const double *target_py, const double *shadow_py, const uint8_t *shadow_in, int k, int m,
                        const int32_t *population, int n_pop, double a, double gamma, const uint8_t *use,
                        double *score, int64_t *excluded, int64_t *pop_used) {
    mla_status st = check_reference_args("rmia", target_py, shadow_py, shadow_in, k, m, score);
    if (st == MLA_OK) st = check_rmia_args(m, population, n_pop, a, gamma);
    if (st != MLA_OK) return st;
    rmia_population pop = {0};
    st = rmia_population_build(target_py, shadow_py, shadow_in, k, m, population, n_pop, a, &pop);
    if (st == MLA_OK) {
        int64_t n_excluded = 0;
        for (int i = 0; i < m; i++) {
            score[i] = NAN;
            if (use != NULL && !use[i]) continue;
            double rx;
            if (!rmia_ratio(target_py, shadow_py, shadow_in, k, m, i, a, &rx)) {
                n_excluded++;
                continue;
            }
            score[i] = (double)rmia_count(&pop, rx, gamma) / (double)pop.kept;
        }
        if (excluded != NULL) *excluded = n_excluded;
        if (pop_used != NULL) *pop_used = pop.kept;
    }
    free(pop.sorted);
    free(pop.odd);
    return st;
}

/* ---- similarity ---- */

mla_status mla_mia_similarity(const double *target_loss, const double *shadow_loss, const uint8_t *shadow_in, int k,
                              int m, const uint8_t *use, double *score, int64_t *excluded) {
    mla_status st = check_reference_args("similarity", target_loss, shadow_loss, shadow_in, k, m, score);
    if (st != MLA_OK) return st;
    int64_t n_excluded = 0;
    for (int i = 0; i < m; i++) {
        score[i] = NAN;
        if (use != NULL && !use[i]) continue;
        side_stats in = side_of(shadow_loss, shadow_in, k, m, i, 1);
        side_stats out = side_of(shadow_loss, shadow_in, k, m, i, 0);
        if (in.n < 1 || out.n < 1) {
            n_excluded++;
            continue;
        }
        score[i] = fabs(target_loss[i] - out.mean) - fabs(target_loss[i] - in.mean);
    }
    if (excluded != NULL) *excluded = n_excluded;
    return MLA_OK;
}
