/* Private: sums over a plane that vectorise and do not depend on the thread count.
 * A single running float sum is one long dependency chain (4 cycles an add) that the
 * compiler may not reorder; MLA_LANES independent partial sums vectorise instead. The
 * lanes are folded in a fixed order into a double, so the same input always gives the
 * same bits, whichever thread computes it. */
#ifndef MLAUDIT_NN_REDUCE_H
#define MLAUDIT_NN_REDUCE_H

#include <stddef.h>

#define MLA_LANES 16

static inline double mla_lanes_fold(const float *acc) {
    double total = 0;
    for (int k = 0; k < MLA_LANES; k++) total += acc[k];
    return total;
}

/* sum x[0..len) */
static inline double mla_plane_sum(const float *restrict x, size_t len) {
    float acc[MLA_LANES] = {0};
    size_t q = 0;
    for (; q + MLA_LANES <= len; q += MLA_LANES)
        for (int k = 0; k < MLA_LANES; k++) acc[k] += x[q + k];
    for (; q < len; q++) acc[q % MLA_LANES] += x[q];
    return mla_lanes_fold(acc);
}

/* sum (x - mu)^2 over x[0..len) */
static inline double mla_plane_sq_dev(const float *restrict x, size_t len, float mu) {
    float acc[MLA_LANES] = {0};
    size_t q = 0;
    for (; q + MLA_LANES <= len; q += MLA_LANES)
        for (int k = 0; k < MLA_LANES; k++) acc[k] += (x[q + k] - mu) * (x[q + k] - mu);
    for (; q < len; q++) acc[q % MLA_LANES] += (x[q] - mu) * (x[q] - mu);
    return mla_lanes_fold(acc);
}

/* sum x^2 over x[0..len) */
static inline double mla_plane_sumsq(const float *restrict x, size_t len) {
    float acc[MLA_LANES] = {0};
    size_t q = 0;
    for (; q + MLA_LANES <= len; q += MLA_LANES)
        for (int k = 0; k < MLA_LANES; k++) acc[k] += x[q + k] * x[q + k];
    for (; q < len; q++) acc[q % MLA_LANES] += x[q] * x[q];
    return mla_lanes_fold(acc);
}

/* The mean of x[0..len) and the sum of squared deviations from it (two passes, the
 * second about the float-rounded mean, as batch norm computes them). */
static inline void mla_plane_mean_m2(const float *restrict x, size_t len, double *mean, double *m2) {
    double mu = mla_plane_sum(x, len) / (double)len;
    float m = (float)mu;
    /* about the float mean m: shift the sum to the exact mean mu */
    double d = (double)m - mu;
    *mean = mu;
    *m2 = mla_plane_sq_dev(x, len, m) - (double)len * d * d;
}

#endif
