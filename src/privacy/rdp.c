/* The RDP accountant of DP-SGD (dp.h): Renyi DP of the Poisson-subsampled Gaussian
 * mechanism (Mironov, Talwar and Zhang 2019), its composition over steps, and the
 * conversions to (epsilon, delta). Everything is in the log domain: A_alpha, whose log
 * divided by (alpha - 1) is the RDP, overflows a double long before the RDP does.
 * Depends on libm and core.h only. */
#include "mlaudit/dp.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define LOG_PI 1.1447298858494002
#define LN2 0.6931471805599453
#define SQRT2 1.4142135623730951
#define MAX_SIGMA 1e3                /* sigma_for gives up above this */
#define FRAC_MAX_TERMS 10000000L     /* a safety bound on the fractional series */
#define NEGLIGIBLE_LOG (-36.0)       /* a term below sum * e^-36 (2e-16) changes nothing */

/* ---- the order sets ---- */

/* The tables, ascending. Opacus writes its fractional orders as 1 + x / 10. */
/* TF Privacy's DEFAULT_RDP_ORDERS exactly: quarter steps to 2.5, then half steps to 4.5. */
static const double TF_ORDERS[] = {
    1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 11,
    12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
    60, 61, 62, 63, 128, 256, 512,
};
static const double OPACUS_ORDERS[] = { /* 1.1 .. 10.9 step 0.1, 12 .. 63 */
    1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 2.8, 2.9, 3,
    3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9, 4, 4.1, 4.2, 4.3, 4.4, 4.5, 4.6, 4.7, 4.8, 4.9, 5,
    5.1, 5.2, 5.3, 5.4, 5.5, 5.6, 5.7, 5.8, 5.9, 6, 6.1, 6.2, 6.3, 6.4, 6.5, 6.6, 6.7, 6.8, 6.9, 7,
    7.1, 7.2, 7.3, 7.4, 7.5, 7.6, 7.7, 7.8, 7.9, 8, 8.1, 8.2, 8.3, 8.4, 8.5, 8.6, 8.7, 8.8, 8.9, 9,
    9.1, 9.2, 9.3, 9.4, 9.5, 9.6, 9.7, 9.8, 9.9, 10, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7, 10.8,
    10.9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
    58, 59, 60, 61, 62, 63,
};
static const double INT_ORDERS[] = { /* 2 .. 64 */
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
    28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64,
};
#define COUNT(a) ((int)(sizeof(a) / sizeof *(a)))

static const char *const ORDER_NAMES[] = {"tf", "opacus", "int"};

mla_status mla_dp_orders_parse(const char *name, mla_dp_orders *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, ORDER_NAMES[i])) {
            *out = (mla_dp_orders)i;
            return MLA_OK;
        }
    return mla_error(MLA_ERR_INVALID, "unknown order set '%s' (expected tf, opacus or int)", name ? name : "");
}

const char *mla_dp_orders_name(mla_dp_orders set) {
    return (unsigned)set < 3 ? ORDER_NAMES[set] : "?";
}

const double *mla_dp_order_list(mla_dp_orders set, int *n) {
    switch (set) {
    case MLA_DP_ORDERS_TF: *n = COUNT(TF_ORDERS); return TF_ORDERS;
    case MLA_DP_ORDERS_OPACUS: *n = COUNT(OPACUS_ORDERS); return OPACUS_ORDERS;
    case MLA_DP_ORDERS_INT: *n = COUNT(INT_ORDERS); return INT_ORDERS;
    }
    *n = 0;
    return NULL;
}

/* ---- log-domain arithmetic ---- */

/* log(e^a + e^b). */
static double log_add(double a, double b) {
    double hi = fmax(a, b), lo = fmin(a, b);
    if (lo == -INFINITY) return hi;
    if (hi == INFINITY) return INFINITY;
    return hi + log1p(exp(lo - hi));
}

/* log(e^a - e^b) for a >= b; -inf when they are equal (or b exceeds a by rounding). */
static double log_sub(double a, double b) {
    if (b == -INFINITY) return a;
    if (b >= a) return -INFINITY;
    double d = a - b;
    return d > 700 ? a : b + log(expm1(d));
}

/* log(erfc(x)), accurate where erfc(x) underflows: beyond x = 25 the asymptotic series
 * erfc(x) = e^(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + 105/(16x^8)),
 * whose first omitted term is below 1e-12 there. */
static double log_erfc(double x) {
    if (x < 25) return log(erfc(x));
    double u = 1 / (x * x);
    double series = u * (-0.5 + u * (0.75 + u * (-1.875 + u * 6.5625)));
    return -x * x - log(x) - 0.5 * LOG_PI + log1p(series);
}

/* ---- A_alpha of the sampled Gaussian mechanism ---- */

/* log A_alpha for integer alpha >= 2 (0 < q < 1):
 * log sum_k C(alpha, k) (1 - q)^(alpha - k) q^k exp((k^2 - k) / (2 sigma^2)). */
static double log_a_int(double q, double sigma, long alpha) {
    double log_a = -INFINITY, log_coef = 0; /* log C(alpha, 0) */
    double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;
    for (long k = 0; k <= alpha; k++) {
        double kk = (double)k;
        log_a = log_add(log_a, log_coef + kk * lq + (double)(alpha - k) * l1q + (kk * kk - kk) / s2);
        log_coef += log((double)(alpha - k)) - log(kk + 1);
    }
    return log_a;
}

/* log A_alpha for any alpha > 1 (0 < q < 1) by the two series of Mironov, Talwar and
 * Zhang (2019, section 3.3), with z0 = sigma^2 log(1/q - 1) + 1/2:
 *   A = sum_i C(alpha,i) q^i (1-q)^(alpha-i) e^((i^2-i)/(2 sigma^2)) erfc((i-z0)/(sqrt2 sigma)) / 2
 *     + sum_i C(alpha,i) q^(alpha-i) (1-q)^i e^((j^2-j)/(2 sigma^2)) erfc((z0-j)/(sqrt2 sigma)) / 2
 * (j = alpha - i), summed until a term of both is negligible beside the sum. The
 * coefficients alternate in sign past i = alpha; their magnitudes are carried in logs. */
static double log_a_frac(double q, double sigma, double alpha) {
    double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma, rs = SQRT2 * sigma;
    double z0 = sigma * sigma * (log(1 / q - 1)) + 0.5;
    double a0 = -INFINITY, a1 = -INFINITY, log_coef = 0; /* log |C(alpha, i)| */
    int positive = 1;
    for (long i = 0; i < FRAC_MAX_TERMS; i++) {
        double fi = (double)i, j = alpha - fi;
        double s0 = log_coef + fi * lq + j * l1q + (fi * fi - fi) / s2 + log_erfc((fi - z0) / rs) - LN2;
        double s1 = log_coef + j * lq + fi * l1q + (j * j - j) / s2 + log_erfc((z0 - j) / rs) - LN2;
        if (positive) {
            a0 = log_add(a0, s0);
            a1 = log_add(a1, s1);
        } else {
            a0 = log_sub(a0, s0);
            a1 = log_sub(a1, s1);
        }
        if (fi > alpha && fmax(s0, s1) < log_add(a0, a1) + NEGLIGIBLE_LOG) break;
        double ratio = (alpha - fi) / (fi + 1); /* C(alpha, i+1) / C(alpha, i) */
        if (ratio == 0) break;                  /* integer alpha: the sum is finite */
        if (ratio < 0) positive = !positive;
        log_coef += log(fabs(ratio));
    }
    return log_add(a0, a1);
}

/* For tests (not in dp.h): the fractional series at any alpha > 1, integers included. */
double mla_dp_log_a_frac_(double q, double sigma, double alpha);
double mla_dp_log_a_frac_(double q, double sigma, double alpha) { return log_a_frac(q, sigma, alpha); }

double mla_dp_rdp_step(double q, double sigma, double alpha) {
    if (!(q >= 0 && q <= 1) || !(sigma > 0) || !(alpha > 1)) return NAN;
    if (q == 0) return 0;
    if (isinf(alpha)) return INFINITY;
    if (q == 1) return alpha / (2 * sigma * sigma);
    double log_a = (alpha == floor(alpha) && alpha < 1e6) ? log_a_int(q, sigma, (long)alpha)
                                                            : log_a_frac(q, sigma, alpha);
    return fmax(log_a, 0) / (alpha - 1); /* A >= 1: a negative log is rounding */
}

/* ---- composition and conversion ---- */

static mla_status check_args(double q, double sigma, long steps, double delta) {
    if (!(q >= 0 && q <= 1)) return mla_error(MLA_ERR_INVALID, "sampling rate q must lie in [0, 1], got %g", q);
    if (!(sigma > 0) || isinf(sigma))
        return mla_error(MLA_ERR_INVALID, "noise multiplier sigma must be positive and finite, got %g", sigma);
    if (steps < 0) return mla_error(MLA_ERR_INVALID, "steps must be >= 0, got %ld", steps);
    if (!(delta > 0 && delta < 1)) return mla_error(MLA_ERR_INVALID, "delta must lie in (0, 1), got %g", delta);
    return MLA_OK;
}

/* Epsilon at one order from the composed RDP, by the classic bound and by Balle et
 * al.'s; a negative bound means epsilon 0 (as TF Privacy clamps it). */
static double eps_classic(double rdp, double alpha, double delta) {
    return fmax(0, rdp - log(delta) / (alpha - 1));
}

static double eps_improved(double rdp, double alpha, double delta) {
    return fmax(0, rdp + log1p(-1 / alpha) - (log(delta) + log(alpha)) / (alpha - 1));
}

mla_status mla_dp_epsilon_of(double q, double sigma, long steps, double delta, mla_dp_orders orders,
                             mla_dp_epsilon *out) {
    mla_status s = check_args(q, sigma, steps, delta);
    if (s != MLA_OK) return s;
    int n;
    const double *alpha = mla_dp_order_list(orders, &n);
    if (!alpha) return mla_error(MLA_ERR_INVALID, "unknown order set %d", (int)orders);
    *out = (mla_dp_epsilon){INFINITY, NAN, INFINITY, NAN};
    for (int k = 0; k < n; k++) {
        double rdp = steps ? (double)steps * mla_dp_rdp_step(q, sigma, alpha[k]) : 0;
        double e = eps_improved(rdp, alpha[k], delta), c = eps_classic(rdp, alpha[k], delta);
        if (e < out->epsilon) out->epsilon = e, out->order = alpha[k];
        if (c < out->epsilon_classic) out->epsilon_classic = c, out->order_classic = alpha[k];
    }
    return MLA_OK;
}

/* The improved epsilon at sigma (arguments already checked). */
static double epsilon_at(double q, double sigma, long steps, double delta, mla_dp_orders orders) {
    mla_dp_epsilon e;
    return mla_dp_epsilon_of(q, sigma, steps, delta, orders, &e) == MLA_OK ? e.epsilon : INFINITY;
}

mla_status mla_dp_sigma_for(double q, double epsilon, long steps, double delta, mla_dp_orders orders, double tol,
                            double *sigma) {
    mla_status s = check_args(q, 1, steps, delta);
    if (s != MLA_OK) return s;
    if (!(epsilon > 0) || isinf(epsilon))
        return mla_error(MLA_ERR_INVALID, "target epsilon must be positive and finite, got %g", epsilon);
    if (!(tol > 0)) return mla_error(MLA_ERR_INVALID, "tolerance must be positive, got %g", tol);
    if ((unsigned)orders > MLA_DP_ORDERS_INT) return mla_error(MLA_ERR_INVALID, "unknown order set %d", (int)orders);
    double low = 0, high = 10, eps_high;
    do { /* Opacus doubles before its first evaluation: 20, 40, ... */
        high *= 2;
        if (high > MAX_SIGMA)
            return mla_error(MLA_ERR_INVALID,
                             "epsilon %g is out of reach: even sigma %g gives more over %ld steps at q = %g, delta = %g",
                             epsilon, high / 2, steps, q, delta);
        eps_high = epsilon_at(q, high, steps, delta, orders);
    } while (eps_high > epsilon);
    while (epsilon - eps_high > tol && high - low > 4 * DBL_EPSILON * high) {
        double mid = 0.5 * (low + high), e = epsilon_at(q, mid, steps, delta, orders);
        if (e < epsilon)
            high = mid, eps_high = e;
        else
            low = mid;
    }
    *sigma = high;
    return MLA_OK;
}

void mla_dp_plan(long batch, long n, long epochs, double *q, long *steps) {
    *q = fmin(1.0, (double)batch / (double)n);
    *steps = epochs * ((n + batch - 1) / batch);
}
