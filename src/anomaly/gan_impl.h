/* Private: what the GAN anomaly methods (ADe-GAN, GANomaly) share, and the pieces of
 * each that tests check one by one.
 *
 * Images enter the nets scaled to [-1, 1] (x * 2 - 1 of mla_dataset_batch's [0, 1]),
 * the range of the generators' tanh output. Nets are DCGAN-style, sized from the
 * dataset's shape: square images whose side S is a multiple of 4 (8, 28, 32, 64),
 * any channel count. Normalisation is group norm, never batch norm: a sample's output
 * does not depend on the rest of its batch, so training mode and evaluation mode give
 * the same function, batches of different kinds may share one forward pass, and
 * scores do not depend on how the test set is cut into batches.
 *
 *   encoder(out):  conv 4/2/1 (w) - lrelu(0.2) - conv 4/2/1 (2w) - gn - lrelu(0.2)
 *                  - dense(out)                                  S -> S/2 -> S/4
 *   decoder(in):   dense(2w * S/4 * S/4) - reshape - gn - relu - convt 4/2/1 (w) - gn
 *                  - relu - convt 4/2/1 (C) - tanh                S/4 -> S/2 -> S
 *   critic:        the encoder without its group norm, out = 1 (D); or split after
 *                  its last lrelu into features and head (GANomaly's feature matching)
 *
 * Optimizers: Adam with beta1 = 0.5 (DCGAN's), beta2 = 0.999, one per net. */
#ifndef MLAUDIT_ANOMALY_GAN_IMPL_H
#define MLAUDIT_ANOMALY_GAN_IMPL_H

#include <stdbool.h>

#include "mlaudit/anomaly.h"
#include "mlaudit/nn.h"

/* ------------------------------------------------------------ shared pieces -- */

/* The image shape the GAN nets take: *c channels, *s x *s pixels. Fails naming
 * `method` when the images are not square with a side that is a multiple of 4. */
mla_status gan_image_shape(const mla_dataset *ds, const char *method, int *c, int *s);

/* Nets of the architectures above (w = width, groups of the norms: min(8, w)), with
 * fresh weights from seed. *out owned by the caller (mla_net_free). */
mla_status gan_encoder(int c, int s, int w, int out, bool norm, uint64_t seed, mla_net **net);
mla_status gan_decoder(int c, int s, int w, int in, uint64_t seed, mla_net **net);
/* The critic split in two: features (x -> 2w x S/4 x S/4) and head (-> 1 logit). */
mla_status gan_critic_split(int c, int s, int w, uint64_t seed, mla_net **features, mla_net **head);

/* Adam (lr, beta1 0.5) over net's parameters. */
mla_status gan_adam(const mla_net *net, float lr, mla_optimizer **out);

/* n images idx[0..n) into out (n x dim floats) scaled to [-1, 1]. */
void gan_batch(const mla_dataset *ds, const int32_t *idx, int n, float *out);

/* One discriminator step on the critic f -> h (h NULL: f alone gives the logit):
 * the mean binary cross-entropy of logit(real) against 1 and logit(fake) against 0
 * over the n_real + n_fake images, one Adam step each (opt_h may be NULL with h).
 * fake is only read (the generator gets no gradient here). buf holds at least
 * (n_real + n_fake) x dim floats. Returns the loss through *loss. */
mla_status gan_d_step(mla_net *f, mla_net *h, mla_optimizer *opt_f, mla_optimizer *opt_h, const float *real,
                      int n_real, const float *fake, int n_fake, float *buf, double *loss);

/* The generator's non-saturating adversarial loss (Goodfellow et al.'s -log D(G(z)),
 * the mean BCE of D's logit against 1) on n fakes through D held frozen: adds
 * weight * d(loss)/d(fake) to dfake (n x dim) and returns the loss via *loss. */
mla_status gan_g_adv(mla_net *d, const float *fake, int n, float weight, float *dfake, double *loss);

/* dst's gradient buffer += src's (nets of the same spec). */
void gan_add_grads(mla_net *dst, mla_net *src);

/* n images in [-1, 1] (CHW, c channels of s x s) into an image grid PNG at path,
 * rows x cols tiles, row captions optional. */
mla_status gan_write_grid(const char *path, const float *imgs, int n, int c, int s, int rows, int cols,
                          const char *title, const char *const *row_captions);

/* "<dir>/<name>" into buf (size n); fails when it does not fit. */
mla_status gan_path(char *buf, size_t n, const char *dir, const char *name);

/* Sets the thread count for the duration of a call (threads <= 0: all cores) and
 * gives back the previous setting for gan_threads_restore. */
int gan_threads_enter(int threads);
void gan_threads_restore(int saved);

/* The last finished epoch's parameters of a method's nets, kept in memory so that a
 * run that diverges can leave its last good checkpoint behind. */
#define GAN_SNAPSHOT_MAX 5
typedef struct {
    int n, epoch;                     /* epoch: the last taken (0: none yet) */
    mla_net *nets[GAN_SNAPSHOT_MAX];  /* borrowed */
    const char *names[GAN_SNAPSHOT_MAX];
    float *saved[GAN_SNAPSHOT_MAX];   /* owned */
} gan_snapshot;
mla_status gan_snapshot_init(gan_snapshot *s, int n, mla_net *const *nets, const char *const *names);
void gan_snapshot_take(gan_snapshot *s, int epoch);
/* After training failed with status err: when dir is not NULL and an epoch finished,
 * writes each net of that epoch to "<dir>/<method>_last_good_<name>.safetensors"
 * (metadata "epoch") and appends where to the current error message. Returns err. */
mla_status gan_snapshot_leave(gan_snapshot *s, const char *dir, const char *method, mla_status err);
void gan_snapshot_free(gan_snapshot *s);

/* ------------------------------------------------------------------ ADe-GAN -- */

/* ADe-GAN's settings after defaults (the method's fit fills them from the config). */
typedef struct {
    int patterns, noise_dim;        /* n_c, d */
    float sigma, alpha, beta, gamma;
    float adv_weight;               /* weight of the adversarial term in stage 2 */
    float info;                     /* weight of L_sl in stage 1 (0: adversarial only) */
    float code_scale;               /* G's pattern input: code_scale x one-hot (or x softmax) */
    int width;                      /* w of the nets */
    int batch, epochs, stage1_epochs;
    float lr;
    uint64_t seed;
    int threads;
    int score;                      /* 0 both, 1 recon, 2 pattern */
    bool recon_g;                   /* L_recon trains G as well as E (else E only) */
    bool hard_code;                 /* G(E(x)) gets E's arg-max pattern one-hot (no gradient to the logits) */
} adegan_params;

/* The config's settings with the method's defaults in place of zeros (the loss weights
 * alpha, beta, gamma and info are used as given: 0 turns a term off); fails on bad
 * values (n_c < 2, negative weights, an unknown score name, ...). */
mla_status adegan_params_from(const mla_anomaly_config *cfg, adegan_params *p);
/* fit with explicit parameters (the vtable's fit is this after adegan_params_from). */
mla_status adegan_fit_params(const adegan_params *p, const mla_anomaly_config *cfg, const mla_dataset *ds,
                             const int32_t *train, int n_train, const int32_t *val, int n_val, void **state);

/* The normal fitted to the normal validation images' reconstruction errors: the mean
 * and the sample standard deviation (n - 1), floored at 1e-12 so a constant error
 * still gives a finite z. n >= 2. */
void adegan_normal_fit(const double *err, int n, double *mu, double *sd);
/* Score terms (eq. 9-11, the choices in adegan.c's header) for n images:
 * recon[i] = -log P(E > err[i]) under N(mu, sd^2), the reconstruction's improbability;
 * pattern[i] = -log max_k softmax(logits row i)_k, the pattern confidence's; logits
 * has n rows of n_c values, ld floats apart. Both are >= 0 and finite for finite input. */
void adegan_score_terms(const double *err, const float *logits, int n, int n_c, int ld, double mu, double sd,
                        double *recon, double *pattern);
/* -log of the standard normal's upper tail, -log Q(z), accurate for any finite z. */
double adegan_neg_log_upper_tail(double z);

/* The networks and one step's pieces, exposed for the gradient tests. */
typedef struct adegan_model adegan_model;
struct adegan_model {
    adegan_params p;
    int c, s, dim, zdim;
    mla_net *G, *E, *E2, *D;   /* E2: E's copy for the generated batches (its own passes) */
    mla_optimizer *oG, *oE, *oD;
    float *buf;                /* scratch: images */
    int cap;                   /* samples buf and the step buffers hold */
    float *gin, *dgin, *dout, *tmp;
};

/* G's input rows from E's outputs e (n rows of zdim = n_c + d): the pattern part is
 * scale x softmax(logits), or with hard scale x the one-hot of the arg-max (ties: the
 * first); then E's z_n estimate. */
void adegan_codes_from_extractor(const float *e, int n, int nc, int zdim, bool hard, float scale, float *gin);

mla_status adegan_model_create(const adegan_params *p, int c, int s, adegan_model **out);
void adegan_model_free(adegan_model *m);
mla_net *adegan_model_net(adegan_model *m, char which); /* 'G', 'E', 'D' */

/* One step's random draws: m self-supervision codes (pattern labels c_sl, G inputs
 * z_sl: code_scale x one-hot over n_c then z_n, half of them interpolations within a pattern) and
 * m_ip codes interpolated across two patterns (z_ip). */
typedef struct {
    int m, m_ip;
    int32_t *c_sl;
    float *z_sl, *z_ip;
} adegan_draws;
mla_status adegan_draws_alloc(const adegan_params *p, int m, int m_ip, adegan_draws *d);
void adegan_draws_sample(const adegan_params *p, mla_rng *rng, adegan_draws *d);
void adegan_draws_free(adegan_draws *d);

/* The loss terms of a step. */
typedef struct {
    double recon, sl, ip, adv_g, d;   /* d: the discriminator's loss (NaN when no D step) */
} adegan_losses;

/* Stage 2's gradients on real images x (n x dim, in [-1, 1]) with draws: zeroes and
 * fills the gradient buffers of G and E with d/dtheta of
 *   G: gamma L_recon + beta L_sl + adv_weight L_adv   (L_ip reaches only E)
 *   E: gamma L_recon + beta L_sl + alpha L_ip
 * When d_step, D first takes its step on x and the self-supervision fakes. */
mla_status adegan_stage2_grads(adegan_model *m, const float *x, int n, const adegan_draws *dr, bool d_step,
                               adegan_losses *out);
/* Stage 1's: D's step (when d_step) and G's gradient of the non-saturating loss on
 * the self-supervision codes' fakes; with p.info > 0 also L_sl on those fakes
 * (InfoGAN's mutual-information term), so that G's gradient is that of
 * L_adv + info L_sl and E's that of info L_sl (E's buffer is zeroed either way). */
mla_status adegan_stage1_grads(adegan_model *m, const float *x, int n, const adegan_draws *dr, bool d_step,
                               adegan_losses *out);

#endif
