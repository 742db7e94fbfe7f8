/* Private to the training loop: batch augmentation, mixup and checkpoints. */
#ifndef MLAUDIT_TRAIN_IMPL_H
#define MLAUDIT_TRAIN_IMPL_H

#include "mlaudit/train.h"

/* Random shifts with zero fill (+-2 px for 1-channel images, +-4 px plus a
 * horizontal flip with probability 1/2 for 3-channel ones), in place on n images. */
void mla_augment_batch(float *x, int n, mla_shape s, mla_rng *rng, float *scratch);

/* Writes src (one C x H x W image) to dst (not overlapping) flipped horizontally if
 * asked, then shifted by dy rows and dx columns: dst[y][x] = flipped src[y - dy][x - dx],
 * 0 where that falls outside. Shared with the label-only augmentation attack (mia.h). */
void mla_shift_image(const float *src, float *dst, mla_shape s, int dy, int dx, bool flip);

/* Soft targets for a batch: one-hot rows smoothed by eps. */
void mla_smooth_targets(const int32_t *labels, int n, int k, float eps, float *targets);
/* Mixup: x = lam x + (1 - lam) x[perm], targets likewise; lam ~ Beta(alpha, alpha). */
void mla_mixup_batch(float *x, float *targets, int n, int dim, int k, float alpha, mla_rng *rng, float *scratch,
                     int32_t *perm);

/* Everything a resumed run needs. */
typedef struct {
    mla_rng shuffle, augment, mixup;
    int next_epoch;
    double best_loss;
    int best_epoch;      /* 0-based, -1 none */
    int bad_epochs;
    float *best_params;  /* param_count floats (owned by the loop) */
} mla_train_state;

/* hook (may be NULL): its state goes into the checkpoint when it keeps any. */
mla_status mla_checkpoint_save(const char *path, mla_net *net, mla_optimizer *opt, const mla_train_state *st,
                               const mla_train_hook *hook, const char *fingerprint);
/* Restores net, opt, st and the hook's state from path after checking that the hook
 * state kinds agree (train.h) and the fingerprint. */
mla_status mla_checkpoint_load(const char *path, mla_net *net, mla_optimizer *opt, mla_train_state *st,
                               const mla_train_hook *hook, const char *fingerprint);

#endif
