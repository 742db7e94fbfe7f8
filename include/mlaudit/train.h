/* mlaudit train: the supervised training loop and evaluation of a net on a dataset.
 *
 * Training follows the usual minibatch recipe: each epoch draws a fresh seeded
 * permutation of the training indices, cuts it into batches (the last one may be
 * smaller), and takes one optimizer step per batch on the mean softmax cross-entropy.
 * Inputs come from mla_dataset_batch (8-bit pixels scaled to [0, 1]).
 */
#ifndef MLAUDIT_TRAIN_H
#define MLAUDIT_TRAIN_H

#include "mlaudit/data.h"
#include "mlaudit/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int epochs;               /* >= 1 */
    int batch;                /* >= 1 */
    uint64_t seed;            /* shuffling */
    mla_opt_config opt;
    mla_sched_kind schedule;  /* learning rate per epoch from opt.lr */
    int step_size;            /* MLA_SCHED_STEP: epochs between decays */
    float gamma;              /* MLA_SCHED_STEP: decay factor */
    /* Called after every batch (may be NULL): samples done so far in this run. */
    void (*on_batch)(void *user, int epoch, long done, long total, float loss);
    /* Called after every epoch (may be NULL) with its mean training loss; the time it
     * takes is not counted in train_seconds. A non-OK status stops training and is
     * returned by mla_train. */
    mla_status (*on_epoch)(void *user, int epoch, float train_loss, mla_net *net);
    void *user;
} mla_train_config;

/* Defaults: 10 epochs, batch 128, seed 0, Adam 1e-3, constant schedule. */
mla_train_config mla_train_defaults(void);

typedef struct {
    double train_seconds;     /* the training loop alone: no loading, no evaluation */
    long samples;             /* samples processed (epochs x n) */
    float last_epoch_loss;    /* mean training loss over the last epoch (training mode) */
} mla_train_stats;

/* Trains net on the samples idx[0..n) of ds (idx NULL: the first n). The dataset's
 * image shape must equal the net's input shape. */
mla_status mla_train(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, const mla_train_config *cfg,
                     mla_train_stats *stats);

typedef struct {
    double accuracy;
    double loss;              /* mean cross-entropy */
    long n;
} mla_eval_result;

/* Evaluation mode over idx[0..n) of ds (idx NULL: the first n), in batches. probs
 * (n x classes) and pred (n) may be NULL. */
mla_status mla_evaluate(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch,
                        mla_eval_result *res, float *probs, int32_t *pred);

/* Checks that ds can feed net (image shape, label range); the error names both. */
mla_status mla_check_compatible(const mla_net *net, const mla_dataset *ds);

#ifdef __cplusplus
}
#endif
#endif
