/* mlaudit dp: the privacy accountant of DP-SGD (Renyi differential privacy).
 *
 * DP-SGD (Abadi et al. 2016) takes T steps, each on a Poisson sample of the data (every
 * example joins independently with probability q), clipping every example's gradient
 * to L2 norm C and adding Gaussian noise N(0, (sigma C)^2) to the clipped sum. Each step
 * is the Poisson-subsampled Gaussian mechanism; its Renyi DP at order alpha is computed
 * as Mironov, Talwar and Zhang (2019) do (integer orders by the binomial sum, fractional
 * orders by their two series, in the log domain), composed over T steps by adding, and
 * converted to (epsilon, delta) at the best order, by the classic bound
 *     epsilon = rdp + log(1 / delta) / (alpha - 1)
 * and by the improved one of Balle et al. 2020 (as Opacus and TF Privacy use it)
 *     epsilon = rdp + log((alpha - 1) / alpha) - (log delta + log alpha) / (alpha - 1).
 *
 * This module depends on nothing but libm and core.h's statuses, so `mlaudit dp` plans a
 * budget without the engine.
 */
#ifndef MLAUDIT_DP_H
#define MLAUDIT_DP_H

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets of orders alpha the accountant minimises over. */
typedef enum {
    MLA_DP_ORDERS_TF = 0,   /* TF Privacy's default: 1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5,
                               5..63, 128, 256, 512 */
    MLA_DP_ORDERS_OPACUS,   /* Opacus's: 1.1, 1.2, ..., 10.9, then 12..63 */
    MLA_DP_ORDERS_INT       /* the moments accountant's integers 2..64 */
} mla_dp_orders;

/* "tf", "opacus" or "int". */
mla_status mla_dp_orders_parse(const char *name, mla_dp_orders *out);
const char *mla_dp_orders_name(mla_dp_orders set);
/* The orders of a set, ascending (borrowed, static); their count through *n. */
const double *mla_dp_order_list(mla_dp_orders set, int *n);

/* A DP-SGD run's plan as the trainers lay it out (mlaudit train, mia, dp --batch --n
 * --epochs): q = min(1, batch / n) and steps = epochs * ceil(n / batch), Poisson
 * sampling taking as many steps an epoch as a shuffled pass would. batch, n >= 1. */
void mla_dp_plan(long batch, long n, long epochs, double *q, long *steps);

/* RDP at order alpha (> 1) of ONE step of the Poisson-subsampled Gaussian mechanism
 * with sampling rate q in [0, 1] and noise multiplier sigma > 0. q = 0 gives 0; q = 1
 * gives alpha / (2 sigma^2). +inf when it overflows. NaN for bad arguments. */
double mla_dp_rdp_step(double q, double sigma, double alpha);

typedef struct {
    double epsilon;          /* improved conversion (Balle et al. 2020), minimised over the orders */
    double order;            /* the order that gave it */
    double epsilon_classic;  /* classic conversion, minimised over the orders */
    double order_classic;
} mla_dp_epsilon;

/* (epsilon, delta) after `steps` steps at rate q and noise sigma. Fails (MLA_ERR_INVALID,
 * naming the argument) on q outside [0, 1], sigma <= 0, steps < 0 or delta outside (0, 1). */
mla_status mla_dp_epsilon_of(double q, double sigma, long steps, double delta, mla_dp_orders orders,
                             mla_dp_epsilon *out);

/* The smallest noise multiplier found whose (improved) epsilon does not exceed
 * `epsilon` for those steps, by bisection in Opacus's manner: an upper bracket doubled
 * from 10 until its epsilon is below the target, then the bracket [low, high] halved
 * (the midpoint replaces high when its epsilon is below the target, else low) until
 * target - epsilon(high) <= tol; high is returned. Fails on bad arguments (tol <= 0
 * included), and when no sigma up to 1e3 reaches epsilon. */
mla_status mla_dp_sigma_for(double q, double epsilon, long steps, double delta, mla_dp_orders orders, double tol,
                            double *sigma);

#ifdef __cplusplus
}
#endif
#endif
