/* Private helpers of the anomaly methods: gathering images, the autoencoder's specs,
 * a small training loop for nets whose loss is not a classifier's, and batched
 * application of a trained net. Shared by the baselines (and open to ADe-GAN's and
 * GANomaly's files). */
#ifndef MLAUDIT_ANOMALY_IMPL_H
#define MLAUDIT_ANOMALY_IMPL_H

#include "mlaudit/anomaly.h"
#include "mlaudit/nn.h"

/* Images idx[0..n) of ds as n x dim floats (pixels in [0, 1]); caller frees. NULL on
 * failure (out of memory recorded). */
float *anomaly_gather(const mla_dataset *ds, const int32_t *idx, int n);

/* The autoencoder of anomaly.h's `ae` for images c x h x w (h, w multiples of 4, else
 * MLA_ERR_SHAPE naming the method): the encoder (layers e1, a1, e2, a2, z) alone when
 * decoder is 0, encoder + decoder otherwise; bias false drops the encoder's biases
 * (Deep SVDD). *spec is a new string (free()). */
mla_status anomaly_ae_spec(const char *method, int c, int h, int w, int latent, int bias, int decoder, char **spec);

/* Copies every tensor of src whose name and size match one of dst's (an encoder's
 * weights out of a trained autoencoder). Fails when dst has a tensor src lacks. */
mla_status anomaly_copy_tensors(mla_net *dst, const mla_net *src);

/* The loss of one batch: given the inputs x (n x in) and the net's outputs y
 * (n x out), writes d(loss)/dy into dy and the batch's mean loss into *loss. */
typedef mla_status (*anomaly_loss_fn)(void *user, const float *x, const float *y, int n, float *dy, double *loss);

typedef struct {
    const char *method;       /* for progress and errors */
    int epochs, batch;
    mla_opt_config opt;
    uint64_t seed;            /* the shuffling stream */
    anomaly_loss_fn loss;
    void *user;
} anomaly_train_spec;

/* Minibatch training of net on idx[0..n) of ds: each epoch a seeded permutation, cut
 * into batches (the last may be smaller); forward in training mode, the loss, backward,
 * one optimizer step. Reports each epoch's mean loss through cfg->progress. A
 * non-finite loss stops with MLA_ERR_INVALID ("<method>: the loss diverged (NaN) at
 * epoch E"). */
mla_status anomaly_train_net(mla_net *net, const mla_anomaly_config *cfg, const anomaly_train_spec *ts,
                             const mla_dataset *ds, const int32_t *idx, int n);

/* Evaluation-mode forward over idx[0..n) of ds in batches of `batch`; for each batch
 * calls fn with its first position, its size, the inputs and the outputs. */
typedef mla_status (*anomaly_apply_fn)(void *user, int first, int nb, const float *x, const float *y);
mla_status anomaly_apply(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch,
                         anomaly_apply_fn fn, void *user);

/* Writes the net's outputs for idx[0..n) into out (n x output size). */
mla_status anomaly_outputs(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, float *out);

/* Deep SVDD's loss: the mean over the n rows of y (n x L) of ||y_i - c||^2; its
 * gradient into dy when not NULL. */
double anomaly_centre_loss(const float *y, int n, int L, const float *c, float *dy);

/* A trained autoencoder and its encoder (weights copied), for ae, knn-ae and dsvdd. */
typedef struct {
    mla_net *ae, *encoder;
    int latent;
} anomaly_ae_model;

/* Trains the autoencoder with cfg's settings (0 -> the ae's defaults) on idx[0..n);
 * bias 0: encoder without biases. */
mla_status anomaly_ae_train(const char *method, const mla_anomaly_config *cfg, const mla_dataset *ds,
                            const int32_t *idx, int n, int bias, anomaly_ae_model *out);
void anomaly_ae_model_free(anomaly_ae_model *m);

#define ANOMALY_AE_EPOCHS 10
#define ANOMALY_AE_BATCH 128
#define ANOMALY_AE_LR 1e-3f
#define ANOMALY_AE_LATENT 32
#define ANOMALY_APPLY_BATCH 256

#endif
