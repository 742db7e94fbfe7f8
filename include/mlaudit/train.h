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

/* A training hook: one general way for a defence or a training variant to take part
 * in every optimizer step of mla_train (DP-SGD's sampling, clipping and noise;
 * FedProx's proximal term; a GAN's or a federated client's own adjustments). Each
 * callback may be NULL (that stage is left as it is); a non-OK status stops training
 * and mla_train returns it (the callback records the message with mla_error). One
 * step with a hook runs:
 *
 *   1. batch: the loop has cut its batch batch[0..n) (dataset indices) from the epoch's
 *      shuffled order; the hook may choose another: it writes n_out indices (0 <= n_out
 *      <= n_pool) to out, which has room for n_pool. pool[0..n_pool) are all the run's
 *      training indices (dataset indices, the idx given to mla_train or 0..n-1). The
 *      loop takes ceil(n_pool / cfg->batch) steps an epoch whatever sizes the hook
 *      picks; `step` counts steps from the run's start (0-based, resumed runs
 *      included). Not called: the loop's batch is used.
 *   2. forward, loss on the batch (augmentation, mixup and smoothing as configured).
 *   3. output_grads: dlogits (n x classes) holds d(loss)/d(logits) of the MEAN loss
 *      over the batch: row i is sample i's own loss gradient divided by n. The net's
 *      last forward is this batch, so per-sample quantities are available
 *      (mla_net_per_sample_grad_norms(net, dlogits, ...) gives norms divided by n).
 *      The hook may change dlogits in place; the backward then adds
 *      sum_i J_i^T dlogits_i to the (zero) gradient buffer: scaling row i by n * f_i
 *      yields sum_i f_i g_i, with g_i sample i's parameter gradient.
 *   4. backward: mla_net_backward(net, dlogits), or the hook's own `backward` when
 *      set, which must add this step's gradient to the (zero) gradient buffer from
 *      dlogits itself (DP-SGD: mla_net_backward_weighted, the per-sample norms and
 *      the clipped sum in one pass where the net allows it).
 *   5. gradients: mla_net_grads(net) holds this step's gradient (the backward's
 *      result); the hook may change it (add noise, rescale, add a proximal term).
 *      n is the batch size.
 *   6. the optimizer step (weight decay, if configured, is added by the optimizer).
 *
 * An empty batch (n_out = 0) still takes a step: no forward, loss or backward; the
 * gradients hook sees n = 0 and an all-zero gradient buffer, then the optimizer steps
 * (DP-SGD's noise-only step). Batches larger than cfg->batch are fine (buffers grow).
 * Training with the same hook state, seed and thread count gives the same bits.
 *
 * Hook state in checkpoints: a hook whose state changes as it runs (random streams,
 * counters) sets state_kind, state_size, state_save and state_load; mla_train then
 * writes that state into every checkpoint (tensor "hook_state", metadata "hook_state"
 * = state_kind) and restores it on resume. state_kind names the hook and its layout
 * ("dpsgd-1"): resume refuses a checkpoint whose kind differs, one without hook state
 * for a hook that keeps some, and one with hook state for a run whose hook keeps none
 * (or that has no hook). state_size gives the bytes state_save writes into buf (the
 * same size for the whole run); state_load gets the saved bytes (size as written) and
 * fails with MLA_ERR_INVALID when they do not fit (another layout, or settings that
 * differ from the hook's: the message says which). Without state_kind (NULL) the hook
 * keeps no state and checkpoints are as they are without a hook. */
typedef struct mla_train_hook {
    void *user; /* passed to every callback */
    mla_status (*batch)(void *user, long step, const int32_t *pool, int n_pool, const int32_t *batch, int n,
                        int32_t *out, int *n_out);
    mla_status (*output_grads)(void *user, mla_net *net, float *dlogits, int n, int classes);
    mla_status (*gradients)(void *user, mla_net *net, int n);
    /* Optional: the hook's state in checkpoints (all four set, or state_kind NULL). */
    const char *state_kind;
    size_t (*state_size)(void *user);
    mla_status (*state_save)(void *user, void *buf);
    mla_status (*state_load)(void *user, const void *buf, size_t size);
    /* Optional: replaces stage 4 (last, so that hooks written before it still compile). */
    mla_status (*backward)(void *user, mla_net *net, float *dlogits, int n, int classes);
} mla_train_hook;

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
    /* Takes part in every step (NULL: none); borrowed for the call. See mla_train_hook. */
    const mla_train_hook *hook;
    /* The optimizer to step (NULL: mla_train creates one from `opt` with a fresh state and
     * frees it at the end). Given, it must have been created for this net's parameters;
     * it is used with the state it holds (moments, step count: a federated client's state
     * kept between rounds), left with the state training ends with, and not freed; `opt`
     * then serves only as the schedule's base learning rate. Borrowed for the call. */
    mla_optimizer *optimizer;
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

/* A string that identifies a run's settings and data (space-separated key=value
 * tokens: the spec's and idx's hash, n, epochs, batch, seed, optimizer, schedule,
 * regularisers, validation); checkpoints store it and resume refuses a mismatch.
 * Federated checkpoints (fl.h) use it too. */
void mla_train_fingerprint(const mla_net *net, const mla_train_config *cfg, const int32_t *idx, int n, char *buf,
                           size_t size);

/* Checks that ds can feed net (image shape, label range); the error names both. */
mla_status mla_check_compatible(const mla_net *net, const mla_dataset *ds);

#ifdef __cplusplus
}
#endif
#endif
