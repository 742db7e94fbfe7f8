/* mlaudit dpsgd: differentially private training (DP-SGD, Abadi et al. 2016) as a
 * training hook (train.h's mla_train_hook).
 *
 * Every step of mla_train then:
 *   - samples its batch: POISSON sampling lets each of the n training indices join
 *     independently with probability q = min(1, batch / n) (variable size, possibly
 *     empty), still ceil(n / batch) steps an epoch; SHUFFLE keeps the loop's
 *     fixed-size shuffled batches (NOT what the Poisson accountant of dp.h assumes:
 *     its epsilon is then only indicative);
 *   - clips each sample's parameter gradient g_i to L2 norm C: factor
 *     f_i = min(1, C / (||g_i|| + 1e-6)) (Opacus's), the norms and the clipped
 *     sum from mla_net_backward_weighted (one backward for both where the net's
 *     layers allow: dense and conv2d; else a second);
 *   - sums the clipped gradients, adds N(0, (sigma C)^2) to every trainable
 *     coordinate from its own seeded stream, and divides by the expected batch size
 *     q n (POISSON) or by the batch's size (SHUFFLE); the optimizer then steps.
 * Privacy (epsilon for a delta) follows from (q, sigma, steps) through dp.h.
 *
 * Nets with batch norm are refused when the hook is created (a sample's gradient then
 * depends on the rest of the batch). Mixup mixes samples and voids per-sample
 * clipping: callers should not combine it with DP-SGD (mla_train cannot tell).
 */
#ifndef MLAUDIT_DPSGD_H
#define MLAUDIT_DPSGD_H

#include "mlaudit/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MLA_DPSGD_POISSON = 0, MLA_DPSGD_SHUFFLE } mla_dpsgd_sampling;
/* "poisson" or "shuffle". */
mla_status mla_dpsgd_sampling_parse(const char *name, mla_dpsgd_sampling *out);
const char *mla_dpsgd_sampling_name(mla_dpsgd_sampling s);

typedef struct {
    double clip;                  /* C > 0 */
    double sigma;                 /* noise multiplier >= 0 (0: clipping only, no privacy) */
    mla_dpsgd_sampling sampling;
    int batch;                    /* expected batch size (use the training config's batch) >= 1 */
    uint64_t seed;                /* sampling and noise streams */
} mla_dpsgd_config;

/* Defaults: clip 1, sigma 1, Poisson sampling, batch 128, seed 0. */
mla_dpsgd_config mla_dpsgd_defaults(void);

/* Everything that changes as DP-SGD runs: what a checkpoint must store to resume a
 * run with the same bits (mla_dpsgd_state gives it; write it back in place). */
typedef struct {
    mla_rng sampling;   /* Poisson draws */
    mla_rng noise;      /* Gaussian noise: the root of the per-step, per-chunk streams */
    long steps;         /* noisy steps taken so far (the accountant's T) */
} mla_dpsgd_state;

typedef struct mla_dpsgd mla_dpsgd;

/* A DP-SGD hook for training `net` on n samples. Fails with MLA_ERR_INVALID on a bad
 * config (naming the field) and MLA_ERR_UNSUPPORTED when the net has batch norm
 * (naming the layer). The net is only inspected here; the hook works on the net
 * mla_train passes it. */
mla_status mla_dpsgd_create(const mla_dpsgd_config *cfg, const mla_net *net, int n, mla_dpsgd **out);
void mla_dpsgd_free(mla_dpsgd *dp);
/* The hook to put in mla_train_config.hook (borrowed, valid until mla_dpsgd_free).
 * It keeps state in checkpoints (state_kind "dpsgd-1": mla_dpsgd_state plus the
 * clip, sigma, sampling, batch, seed and rate it belongs to); resuming with other
 * DP settings fails naming both. */
const mla_train_hook *mla_dpsgd_hook(mla_dpsgd *dp);
/* The sampling rate q = min(1, batch / n) (also reported for SHUFFLE). */
double mla_dpsgd_rate(const mla_dpsgd *dp);
/* The hook's mutable state (borrowed). */
mla_dpsgd_state *mla_dpsgd_state_of(mla_dpsgd *dp);

/* MLA_OK when per-sample clipping is defined for net, else MLA_ERR_UNSUPPORTED naming
 * the first batch-norm layer (checked by mla_dpsgd_create; for early CLI checks). */
mla_status mla_dpsgd_check_net(const mla_net *net);

#ifdef __cplusplus
}
#endif
#endif
