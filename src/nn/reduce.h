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

#endif
