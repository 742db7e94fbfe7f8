/* mlaudit train: the supervised training loop and evaluation of a net on a dataset.
 *
 * Training follows the usual minibatch recipe: each epoch draws a fresh seeded
 * permutation of the training indices, cuts it into batches (the last one may be
 * smaller), and takes one optimizer step per batch on the mean softmax cross-entropy.
 * Inputs come from mla_dataset_batch (8-bit pixels scaled to [0, 1]).
 *
 * Regularisers (the first membership-inference defences): weight decay (in the
 * optimizer config), dropout (mla_net_set_dropout), augmentation (random shifts,
 * plus horizontal flips for 3-channel images), mixup, label smoothing, and early
 * stopping on a validation set with the best epoch's weights kept.
 *
 * Randomness comes from four seeded streams (shuffling, augmentation, mixup, and the
 * net's own dropout stream); checkpoints store all of them with the weights and the
 * optimizer state, so a resumed run ends with the same bits as an uninterrupted one.
 */
#ifndef MLAUDIT_TRAIN_H
#define MLAUDIT_TRAIN_H

#include <signal.h>

#include "mlaudit/data.h"
#include "mlaudit/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one finished epoch looked like (passed to on_epoch). */
typedef struct {
    int epoch;                /* 0-based */
    float lr;
    double train_loss;        /* mean over the epoch's batches, training mode, on the
                                 (augmented / mixed) inputs actually trained on */
    double val_loss, val_accuracy; /* NaN without a validation set */
    bool improved;            /* validation loss reached a new best (always true without one) */
} mla_epoch_stats;

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
    /* Called after every epoch (may be NULL); the time it takes is not counted in
     * train_seconds. A non-OK status stops training and is returned by mla_train. */
    mla_status (*on_epoch)(void *user, const mla_epoch_stats *stats, mla_net *net);
    void *user;

    /* Regularisation (all off when zero). */
    bool augment;             /* random shifts (+-2 px for 1 channel, +-4 px and flips for 3) */
    float mixup_alpha;        /* > 0: mix each batch with a permutation of itself, lambda ~ Beta(a, a) */
    float label_smoothing;    /* targets (1 - eps) one-hot + eps / classes */
    /* Validation and early stopping: val_idx[0..n_val) index the same dataset as the
     * training indices (a held-out part of the training split). With patience > 0,
     * training stops after `patience` epochs without a new best validation loss and
     * the best epoch's weights are restored. */
    const int32_t *val_idx;
    int n_val;
    int patience;

    /* Checkpoints: every checkpoint_every epochs (0: never) the full training state
     * is written atomically to checkpoint_path. */
    int checkpoint_every;
    const char *checkpoint_path;
    /* Resume from this checkpoint (NULL: a fresh run). Its spec, seed and training
     * settings must match the config's. */
    const char *resume_path;
    /* Polled between batches (may be NULL); see mla_train. */
    const volatile sig_atomic_t *stop;
} mla_train_config;

/* Defaults: 10 epochs, batch 128, seed 0, Adam 1e-3, constant schedule. */
mla_train_config mla_train_defaults(void);

typedef struct {
    double train_seconds;     /* the training loop alone: no loading, no evaluation */
    long samples;             /* samples processed in this call (a resumed run counts
                                 only what it trained itself) */
    float last_epoch_loss;    /* mean training loss over the last epoch (training mode) */
    int epochs_run;           /* epochs completed, counting those before a resume */
    int epoch_kept;           /* 1-based epoch whose weights the net holds at the end */
    bool stopped_early;
} mla_train_stats;

/* Trains net on the samples idx[0..n) of ds (idx NULL: the first n). The dataset's
 * image shape must equal the net's input shape. When *cfg->stop becomes non-zero,
 * training ends after the current batch and MLA_ERR_INTERRUPTED is returned (the
 * last checkpoint written stays intact). */
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
