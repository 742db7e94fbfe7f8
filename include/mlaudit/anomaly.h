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

#include <stddef.h>
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
    int noise_dim;       /* d, the dimension of z_n (default 16: on MNIST one-out class 0,
                          * d = 16 gave AUROC 0.884 against 0.792 at d = 100) */
    float noise_sigma;   /* z_n ~ N(0, sigma^2) (default 0.3: with 1, z_n outweighed z_c and G's
                          * images followed z_n, not the pattern; README) */
    float alpha;         /* weight of L_ip, interpolation across patterns (default 1) */
    float beta;          /* weight of L_sl, pattern self-supervision (1; 10 for CIFAR-10) */
    float gamma;         /* weight of L_recon, reconstruction (default 10) */
    int stage1_epochs;   /* adversarial-only epochs before stage 2 (0: method default) */
    /* Weight of the pattern self-supervision L_sl in stage 1 (InfoGAN's mutual-
     * information term: CE on z_c plus L2 on z_n of G's images, training G and E from
     * the first step, so G learns to make z_c matter before stage 2). Used as given,
     * like alpha, beta, gamma: 0 makes stage 1 the adversarial game alone;
     * mla_anomaly_defaults sets 1. Must be >= 0. */
    float info_weight;
    /* The pattern code's scale in G's input: G gets code_scale x one-hot (x the softmax
     * for G(E(x))) beside z_n ~ N(0, sigma^2), so a larger scale makes z_c weigh more
     * against the noise. 0: the default, 1; negative: an error. */
    float code_scale;
    /* Which score terms make the score, for the ablation: "both" (eq. 9-11), "recon"
     * (reconstruction probability only) or "pattern" (pattern confidence only). */
    const char *score;
    /* Which nets the reconstruction loss L_recon trains: "ge" (G and E, the default:
     * G is then also an autoencoder's decoder) or "e" (E only: G stays the
     * adversarial game's generator of normal patterns and E learns to invert it;
     * measured lower on MNIST one-out, README). NULL: "ge". */
    const char *recon_trains;
    /* The pattern code G(E(x)) receives, in training and scoring: "soft" (softmax of
     * E's pattern logits; L_recon reaches the logits through it) or "hard" (the one-hot
     * of their arg-max; L_recon reaches only z_n, so the softmax cannot carry image
     * detail and G's pattern c must reconstruct the images E assigns to c).
     * NULL: the default, "soft". */
    const char *recon_code;
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

/* ======================================================================
 * The protocol runner (splits, fits, scores, metrics over classes and seeds)
 * ====================================================================== */

/* The splits of one (class, seed) run. The normal pool is every training-split image
 * whose label is normal under the protocol; validation takes round(val_fraction x
 * pool) of it (at least 1 when the pool has 2 or more), stratified by label
 * (mla_stratified_indices, seeded), and training the rest, capped at `subset` images
 * (stratified, seeded) when subset > 0. The test set is the whole test split (or
 * `test_subset` of it, stratified by label and seeded with the run's BASE seed, so
 * every seed scores the same images), every test image flagged anomalous or not.
 * train and val index the training split, test the test split; each array is sorted
 * ascending. Anomalous labels never appear in train or val. */
typedef struct {
    int32_t *train, *val, *test;
    uint8_t *anomaly;   /* n_test flags: 1 = anomalous under the protocol */
    int n_train, n_val, n_test, n_anomalies;
} mla_anomaly_split;

typedef struct {
    mla_anomaly_protocol protocol;
    int cls;             /* the class c: 0 .. classes-1, or -1 for every class */
    int seeds;           /* runs per class, seed index s using config seed + s (>= 1) */
    double val_fraction; /* of the normal training images; (0, 0.9] (default 0.1) */
    int subset;          /* cap on the normal training images (0: all) */
    int test_subset;     /* cap on the test images (0: all) */
    double f1_quantile;  /* the F1 threshold's quantile of normal validation scores (0.95) */
    /* Optional: called before each fit with the method's name, the class and the seed
     * index (progress lines); NULL: none. */
    void (*on_run)(void *user, const char *method, int cls, int seed_index);
    void *on_run_user;
} mla_anomaly_protocol_config;

/* Defaults: one-out, every class, 1 seed, val 0.1, no caps, quantile 0.95. */
mla_anomaly_protocol_config mla_anomaly_protocol_defaults(void);
/* "one-out" / "one-in" and back. */
mla_status mla_anomaly_protocol_parse(const char *name, mla_anomaly_protocol *out);
const char *mla_anomaly_protocol_name(mla_anomaly_protocol p);
/* One sentence saying which images are normal and which anomalous ("class 3 is the
 * anomaly; the other 9 classes are normal"), into buf. */
void mla_anomaly_protocol_describe(mla_anomaly_protocol p, int cls, int classes, char *buf, size_t size);

/* Builds the split of class cls (0 <= cls < classes) for `seed` (train/val) and
 * `base_seed` (the test subset). Fails with MLA_ERR_INVALID on a class out of range (of
 * the training split's classes), a dataset with fewer than 2 classes, fewer than 2
 * normal training images, a validation fraction outside (0, 0.9], or a test set without
 * both normal and anomalous images; with MLA_ERR_SHAPE when training and test images
 * differ in shape. *out owns the arrays: mla_anomaly_split_free. */
mla_status mla_anomaly_split_make(const mla_dataset *train, const mla_dataset *test,
                                  const mla_anomaly_protocol_config *pc, int cls, uint64_t seed, uint64_t base_seed,
                                  mla_anomaly_split *out);
void mla_anomaly_split_free(mla_anomaly_split *s);

/* Threshold metrics of one run: AUROC and AUPR (scoring.h: mla_roc_auc, average
 * precision, anomalies positive) on the test images, and F1 at the threshold =
 * the f1_quantile quantile (mla_quantile, linear interpolation) of the normal
 * validation scores, a test image predicted anomalous iff its score >= threshold. */
typedef struct {
    double auroc, aupr, f1, threshold;
} mla_anomaly_metrics;

/* Computes m from the test scores, their anomaly flags and the validation scores.
 * Fails on NaN, on a test set without both kinds, or n_val < 1. */
mla_status mla_anomaly_metrics_compute(const double *test_scores, const uint8_t *anomaly, int n_test,
                                       const double *val_scores, int n_val, double quantile, mla_anomaly_metrics *m);

/* Mean and sample standard deviation (divisor n - 1; 0 when n = 1) of x[0..n). */
typedef struct {
    double mean, sd;
} mla_mean_sd;
mla_mean_sd mla_mean_sd_of(const double *x, int n);

/* One class's results for one method. Per seed s: seed_metrics[s], the terms'
 * term_metrics[s * term_count + t]; scores[s * n_test + i] and terms
 * [(s * n_test + i) * term_count + t] of test image split.test[i]. */
typedef struct {
    int cls;
    mla_anomaly_split split;        /* the first seed's split (test and flags are the same for all) */
    int n_train, n_val;             /* per seed (the same for every seed) */
    mla_anomaly_metrics *seed_metrics;
    mla_anomaly_metrics *term_metrics;
    double *scores, *terms;
    mla_mean_sd auroc, aupr, f1;    /* over seeds */
    mla_mean_sd *term_auroc, *term_aupr, *term_f1; /* term_count each */
    double fit_seconds, score_seconds; /* summed over seeds */
} mla_anomaly_class_result;

typedef struct {
    const mla_anomaly_method *method;
    int n_classes;                  /* classes run (1, or the dataset's class count) */
    mla_anomaly_class_result *per_class;
    double mean_auroc, mean_aupr, mean_f1;       /* means over classes of the seed means */
    double *term_mean_auroc, *term_mean_aupr;    /* term_count each */
} mla_anomaly_method_result;

typedef struct {
    mla_anomaly_protocol_config protocol;
    int seeds;
    int n_methods;
    mla_anomaly_method_result *methods;
    double seconds;
} mla_anomaly_result;

/* Runs each of methods[0..n_methods) on every requested class and seed: for seed
 * index s the split uses cfg->seed + s and the method gets a copy of cfg with seed
 * cfg->seed + s; every method sees the same splits. A method's figures() runs once,
 * on the first class's first seed (its test images), when cfg->figures_dir is set. Sets the thread count
 * (cfg->threads) first. A method's NaN or infinite score stops the run with an error
 * naming the method, class and seed. *out owns its arrays: mla_anomaly_result_free
 * (also after a failure, which leaves it empty). */
mla_status mla_anomaly_run(const mla_dataset *train, const mla_dataset *test, const mla_anomaly_protocol_config *pc,
                           const mla_anomaly_config *cfg, const mla_anomaly_method *const *methods, int n_methods,
                           mla_anomaly_result *out);
void mla_anomaly_result_free(mla_anomaly_result *r);

/* ======================================================================
 * The methods
 * ====================================================================== */

/* Baselines (src/anomaly):
 *   knn     distance (Euclidean, pixels in [0, 1]) to the k-th nearest normal training
 *           image (cfg->k, default 1), through the classic kNN index (knn.h).
 *   ae      convolutional autoencoder: encoder conv(16, 3x3, stride 2) - leaky ReLU -
 *           conv(32, 3x3, stride 2) - leaky ReLU - dense(latent), decoder dense - leaky
 *           ReLU - reshape - convt(16, 4x4, stride 2) - leaky ReLU - convt(C, 4x4,
 *           stride 2) - sigmoid; mean squared error, Adam (lr default 1e-3), batch 128,
 *           epochs default 10, latent default 32; score: the image's mean squared
 *           reconstruction error. Image height and width must be multiples of 4.
 *           Figure: ae_reconstructions.png (the first 12 test images and their
 *           reconstructions).
 *   dsvdd   Deep SVDD (Ruff et al. 2018), one-class: the ae's encoder without biases,
 *           pretrained as that autoencoder (same epochs), then trained on the mean of
 *           ||phi(x) - c||^2 with Adam (lr default 1e-4) and weight decay 5e-7; c = the
 *           mean of the pretrained embeddings of the training images, coordinates
 *           within 0.1 of 0 moved to +-0.1 (the paper's eps). Score ||phi(x) - c||^2.
 *   knn-ae  distance to the k-th nearest training image in the trained ae's latent space.
 * ADe-GAN and GANomaly come from their own files (declared below by their author). */
extern const mla_anomaly_method mla_anomaly_knn, mla_anomaly_ae, mla_anomaly_dsvdd, mla_anomaly_knn_ae;

/* Every registered method, NULL-terminated (borrowed). */
const mla_anomaly_method *const *mla_anomaly_methods(void);
/* The method named `name`; fails with MLA_ERR_INVALID listing the available names. */
mla_status mla_anomaly_method_find(const char *name, const mla_anomaly_method **out);

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
