/* mlaudit release: what a model served behind an API releases instead of its full
 * softmax (output masking, a membership-inference defence).
 *
 * A release policy maps each row of C logits z and its softmax p = softmax(z) to a
 * released row y' of C floats. Rows are independent; the same seed gives the same bits.
 * Policies, as written on the command line (`--release POLICY`):
 *
 *   none            y' = p.
 *   topk:K          the K largest p_j kept (ties: the lower index first), the rest 0,
 *                   then renormalised: y'_j = p_j / sum_{kept} p_i. 1 <= K <= C.
 *   topk:K:raw      the same without renormalising: the row sums to sum_{kept} p_i <= 1.
 *   round:D         y'_j = round(p_j * 10^D) / 10^D, in double, halves away from zero
 *                   (C's round), then stored as float. 0 <= D <= 8. The row need NOT sum
 *                   to 1: it may sum to more (round:0 of (0.5, 0.5) is (1, 1)) or less,
 *                   and may be all zeros (round:0 of a row whose largest p_j < 0.5).
 *   label           y' = the one-hot of argmax_j p_j (the first index on ties).
 *   noise:S         y' = softmax(z + S e), e_j ~ N(0, 1) independent, S > 0: Gaussian
 *                   noise of variance S^2 on the logits. Row r of a call draws from the
 *                   stream mla_rng_fork(rng seeded with `seed`, r). The only policy
 *                   that may change the argmax of p.
 *   reverse-sigmoid:BETA,GAMMA
 *                   Lee et al. 2019 ("Defending against NN model stealing attacks using
 *                   deceptive perturbations"), as IBM's Adversarial Robustness Toolbox
 *                   implements it; BETA > 0, GAMMA > 0:
 *                     q_j  = min(max(p_j, 1e-9), 1 - 1e-9)            (for the logit)
 *                     r_j  = BETA * (sigmoid(GAMMA * log(q_j / (1 - q_j))) - 1/2)
 *                     u_j  = min(max(p_j - r_j, 0), 1)
 *                     y'_j = u_j / sum_i u_i
 *                   in double. Every p_j <= 1/2 gives r_j <= 0, so u_j >= p_j and, with
 *                   C >= 2, the sum is > 0. A large BETA may reorder the classes.
 *
 * Released rows hold entries in [0, 1] and may contain exact zeros (topk, round, label);
 * they sum to 1 (within float rounding) except under round:D and topk:K:raw. Logs of
 * released probabilities must therefore be floored (mia.h floors at 1e-300).
 */
#ifndef MLAUDIT_RELEASE_H
#define MLAUDIT_RELEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MLA_RELEASE_NONE = 0,
    MLA_RELEASE_TOPK,
    MLA_RELEASE_ROUND,
    MLA_RELEASE_LABEL,
    MLA_RELEASE_NOISE,
    MLA_RELEASE_REVERSE_SIGMOID
} mla_release_kind;

/* A parsed policy. A zeroed struct is `none`. */
typedef struct {
    mla_release_kind kind;
    int k;                  /* topk: K */
    bool renormalise;       /* topk: false for topk:K:raw */
    int decimals;           /* round: D */
    double sigma;           /* noise: S */
    double beta, gamma;     /* reverse-sigmoid */
    char text[64];          /* the policy in its canonical spelling, for reports */
} mla_release;

/* Parses a policy (the grammar above) for rows of `classes` classes (>= 2). On error
 * the message names the text: "--release topk:0: K must be 1..10", "--release nope:
 * unknown kind (none, topk:K[:raw], round:D, label, noise:S,
 * reverse-sigmoid:BETA,GAMMA)". *out is zeroed (none) on error. */
mla_status mla_release_parse(const char *text, int classes, mla_release *out);

/* True when r releases something other than the full softmax (r may be NULL). */
bool mla_release_active(const mla_release *r);

/* Writes n released rows of c classes into out (n x c). logits and probs are the same
 * n rows (probs = softmax(logits)); noise reads logits, every other policy probs
 * (logits may then be NULL). seed drives noise only. out may not alias the inputs.
 * Fails on bad arguments (n < 0, c < 2, NULL rows a policy needs, topk K > c) and on
 * a non-finite released value. */
mla_status mla_release_apply(const mla_release *r, const float *logits, const float *probs, int n, int c,
                             uint64_t seed, float *out);

#ifdef __cplusplus
}
#endif
#endif
