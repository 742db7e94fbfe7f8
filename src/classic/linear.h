/* Private: the objective of the multinomial logistic regression in linear.c, exposed for its
 * finite-difference gradient test. */
#ifndef MLAUDIT_CLASSIC_LINEAR_H
#define MLAUDIT_CLASSIC_LINEAR_H

#include <stdint.h>

/* The regularised mean log-loss
 *     f(theta) = (1/n) sum_i [logsumexp(z_i) - z_i[y_i]] + (l2/2) ||W||^2,   z_i = W x_i + b,
 * of theta = [W (classes x d, row-major), b (classes)] on n rows of x (n x d doubles, row-major).
 * Writes df/dtheta (same layout) to grad; work holds n * (classes + 1) doubles. Deterministic for
 * a given thread count. With l2 = 1 / (C n) the minimiser is scikit-learn's for that C. */
double mla_logreg_loss(const double *theta, const double *x, const int32_t *y, int n, int d, int classes, double l2,
                       double *grad, double *work);

#endif
