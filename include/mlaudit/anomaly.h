/* mlaudit anomaly: one-class anomaly detection (ADe-GAN and baselines) on the
 * one-out and one-in protocols.
 *
 * A method learns from normal images only and then scores any image: a higher
 * score means more anomalous. Every method is an mla_anomaly_method (a small
 * vtable); the protocol runner (mla_anomaly_run) builds the splits, fits each
 * method once per (class, seed), scores the test images and computes AUROC, AUPR
 * and F1 through the shared scoring module. The methods never see test labels.
 *
 * Ownership: a method's state is created by fit and released by its free; score
 * and the figure writer only borrow it. Datasets and index arrays are borrowed
 * for the duration of the call. Nothing here prints or exits.
 */
#ifndef MLAUDIT_ANOMALY_H
#define MLAUDIT_ANOMALY_H

#include <stdint.h>

#include "mlaudit/core.h"
#include "mlaudit/data.h"

/* ONE_OUT: class c is the anomaly, the other classes are normal (ADe-GAN's, GPND's
 * protocol); ONE_IN: class c is normal, the rest are anomalies (Deep SVDD's,
 * GeoTrans's). Anomalies never enter training or validation. */
typedef enum { MLA_ANOMALY_ONE_OUT = 0, MLA_ANOMALY_ONE_IN = 1 } mla_anomaly_protocol;

/* ADe-GAN's settings (every value a CLI flag). Defaults: mla_anomaly_defaults(). */
typedef struct {
    int patterns;        /* n_c, the one-hot pattern code's size; >= 2 (default 10) */
    int noise_dim;       /* d, the dimension of z_n (default 100) */
    float noise_sigma;   /* z_n ~ N(0, sigma^2) (default 1) */
    float alpha;         /* weight of L_ip, interpolation across patterns (default 1) */
    float beta;          /* weight of L_sl, pattern self-supervision (1; 10 for CIFAR-10) */
    float gamma;         /* weight of L_recon, reconstruction (default 10) */
    int stage1_epochs;   /* adversarial-only epochs before stage 2 (0: method default) */
    /* Which score terms make the score, for the ablation: "both" (eq. 9-11), "recon"
     * (reconstruction probability only) or "pattern" (pattern confidence only). */
    const char *score;
} mla_adegan_config;

/* Settings shared by every method; a method ignores what it does not use and
 * replaces a 0 by its own default (stated in its documentation). */
typedef struct {
    uint64_t seed;       /* per run; the runner passes base seed + seed index */
    int threads;         /* 0: all cores */
    int epochs;          /* training epochs of a trained method (0: its default) */
    int batch;           /* minibatch size (0: its default) */
    float lr;            /* learning rate (0: its default; Adam 2e-4 for the GANs) */
    int latent;          /* bottleneck / latent size of AE, GANomaly, Deep SVDD (0: default) */
    int k;               /* neighbours of the kNN baselines (default 1) */
    mla_adegan_config adegan;
    /* A folder where a method may write its own figures (ADe-GAN: patterns.png,
     * reconstructions.png); NULL: write nothing. */
    const char *figures_dir;
    /* Optional progress: called after each training epoch with the method's name,
     * the epoch (1-based), the epoch count and the mean loss of the epoch (the
     * method's main loss; NaN when it has none). A non-OK status stops training. */
    mla_status (*progress)(void *user, const char *method, int epoch, int epochs, double loss);
    void *progress_user;
} mla_anomaly_config;

mla_anomaly_config mla_anomaly_defaults(void);

/* One method. fit() sees only normal images: the training indices and a disjoint
 * set of normal validation indices (for calibration, e.g. ADe-GAN's normal fit of
 * the reconstruction error and every method's F1 threshold). score() writes one
 * score per index (higher = more anomalous; finite, or the call fails with an error
 * naming the method) and, when terms is non-NULL and the method has score terms,
 * n * term_count values row-major (terms[i * term_count + t]), the ablation's
 * columns. figures() (may be NULL) writes the method's own figures into dir. */
typedef struct {
    const char *name;          /* CLI name: "adegan", "ganomaly", "ae", "dsvdd", "knn", ... */
    const char *summary;       /* one line for --help */
    int term_count;            /* score terms reported for the ablation (0: none) */
    const char *const *term_names;
    mla_status (*fit)(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train, int n_train,
                      const int32_t *val, int n_val, void **state);
    mla_status (*score)(void *state, const mla_dataset *ds, const int32_t *idx, int n, double *scores,
                        double *terms);
    mla_status (*figures)(void *state, const mla_dataset *ds, const int32_t *idx, int n, const char *dir);
    void (*free)(void *state);
} mla_anomaly_method;

/* ---- the GAN methods (src/anomaly/adegan*.c, ganomaly.c) ----
 * mla_anomaly_adegan: ADe-GAN (generator G(z_c, z_n), discriminator D, extractor E);
 *   uses cfg->adegan, epochs, batch, lr, seed, threads; score terms "recon" and
 *   "pattern" (eq. 9-11); figures patterns.png and reconstructions.png. Needs at least
 *   2 normal validation images (the normal fit of the reconstruction error).
 * mla_anomaly_ganomaly: GANomaly (Akcay et al. 2018; encoder-decoder-encoder with a
 *   feature-matching discriminator); uses latent, epochs, batch, lr, seed, threads;
 *   score = ||G_E(x) - E(G(x))||_1, terms "latent" (the score) and "recon".
 * Both take square images whose side is a multiple of 4 (MNIST's 28, CIFAR's 32). */
extern const mla_anomaly_method mla_anomaly_adegan;
extern const mla_anomaly_method mla_anomaly_ganomaly;

#endif
