/* mlaudit robust: white-box adversarial attacks, and kNN / Deep kNN classifiers over a
 * net's layers, for robustness audits (`mlaudit robust`).
 *
 * Images are float32 in [0, 1], n x dim (dim = C*H*W of the net's input), sample-major.
 * Every attack returns images inside [0, 1]; the L_inf attacks stay within eps of the
 * clean image in every pixel, PGD-L2 within eps in L2.
 *
 * Attack models. An attack sees its victim through an mla_adv_model: a forward that
 * gives logits for a batch and a backward that turns d(loss)/d(logits) of that batch
 * into d(loss)/d(input). mla_adv_model_net wraps one net (evaluation mode); any other
 * differentiable chain (a trunk and a head on one of its layers) fills the two callbacks.
 *
 * Losses (per sample; the attack follows their input gradient):
 *   FGSM, BIM, PGD, PGD-L2  untargeted: ascend CE(logits, y); targeted: descend CE(logits, t)
 *   C&W L2                  ||x' - x||^2 + c * f(x'), x' = (tanh(w) + 1) / 2, with
 *                           f = max(Z_y - max_{j != y} Z_j, -kappa) (untargeted) or
 *                           max(max_{j != t} Z_j - Z_t, -kappa) (targeted); Adam on w,
 *                           binary search on c per sample, the smallest-L2 success kept
 *                           (the clean image when none succeeds).
 * Updates:
 *   FGSM    x' = clip01(x + eps * sign(g))                    (g: the loss gradient; minus when targeted)
 *   BIM     x_{i+1} = clip_{x,eps}(clip01(x_i + step * sign(g))), x_0 = x, `iterations` steps
 *   PGD     BIM from x_0 = clip01(x + U(-eps, eps)^dim)        (Madry et al.)
 *   PGD-L2  x_{i+1} = clip01(x + proj_eps(x_i + step * g / ||g|| - x)); x_0 from delta =
 *           eps * u * z / ||z||, z standard normal, u ~ U(0, 1) (torchattacks' start);
 *           proj_eps scales a delta longer than eps back to eps.
 * Randomness: sample i's start draws from mla_rng_fork(seed, i), so results do not depend
 * on the batch size; the same seed and thread count give the same bits.
 *
 * kNN / DkNN (Papernot & McDaniel 2018). Features are a net's activations at named layers
 * (flattened), optionally L2-normalised and then mean-centred (the centre is the mean of
 * the normalised training features; queries get the same transform), as cleverhans' DkNN.
 * Neighbours come from the exact kNN index (knn.h, Euclidean; ties by smaller index).
 *   kNN      majority label among the k neighbours at one layer (ties: the class whose
 *            nearest neighbour is nearest, as the AdvKNN study's Counter.most_common).
 *   DkNN     alpha_j(x) = sum over layers of the neighbours whose label != j; the
 *            calibration scores A = { alpha_{y_c}(x_c) } over the calibration set; p_j(x) =
 *            |{a in A : a >= alpha_j(x)}| / |A|; prediction argmax_j p_j (ties: smaller
 *            class), credibility = max_j p_j, confidence = 1 - the second largest p_j.
 */
#ifndef MLAUDIT_ROBUST_H
#define MLAUDIT_ROBUST_H

#include <stdbool.h>

#include "mlaudit/core.h"
#include "mlaudit/data.h"
#include "mlaudit/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- attack models ---- */
typedef struct {
    void *user;
    int dim;      /* input floats per sample */
    int classes;  /* logits per sample */
    /* Logits of n inputs (n x dim); *logits (n x classes) borrowed until the next call. */
    mla_status (*forward)(void *user, const float *x, int n, const float **logits);
    /* For the last forward's batch: dx (n x dim) = J^T dlogits, per sample. */
    mla_status (*backward)(void *user, const float *dlogits, float *dx);
    /* Optional (NULL: the attack's own loss): the model's own per-sample objective, which
     * FGSM, BIM, PGD and PGD-L2 then ascend instead of their CE; the outputs need not be
     * logits. Given the last forward's outputs of samples first..first+n-1 of the run
     * (out, n x classes), writes loss (n) and d loss / d out (n x classes). C&W refuses
     * such a model. */
    mla_status (*objective)(void *user, long first, const float *out, int n, double *loss, float *dout);
} mla_adv_model;

/* A model over one net in evaluation mode (borrowed; must outlive the model). */
mla_adv_model mla_adv_model_net(mla_net *net);

/* A new net made of net's top-level layers up to and including `layer` (a name as
 * mla_net_layer_name lists it), with those layers' parameters and buffers copied; its
 * output is that layer's activation. *out is the caller's (mla_net_free). An unknown
 * layer fails with MLA_ERR_INVALID, the message listing the net's layers. */
mla_status mla_net_prefix(const mla_net *net, const char *layer, mla_net **out);

/* A chained model head(trunk(x)): trunk's output feeds head (shapes must agree); both
 * run in evaluation mode, and the backward goes through head, then trunk, neither
 * accumulating parameter gradients. Both nets are borrowed and must outlive the chain. */
typedef struct mla_adv_chain mla_adv_chain;
mla_status mla_adv_chain_create(mla_net *trunk, mla_net *head, mla_adv_chain **out);
mla_adv_model mla_adv_model_chain(mla_adv_chain *c);
void mla_adv_chain_free(mla_adv_chain *c);

/* ---- attacks ---- */
typedef enum { MLA_ADV_FGSM = 0, MLA_ADV_BIM, MLA_ADV_PGD, MLA_ADV_PGD_L2, MLA_ADV_CW } mla_adv_kind;

/* "fgsm", "bim", "pgd", "pgd-l2", "cw". */
mla_status mla_adv_kind_parse(const char *name, mla_adv_kind *out);
const char *mla_adv_kind_name(mla_adv_kind kind);

typedef struct {
    mla_adv_kind kind;
    float eps;          /* L_inf radius (fgsm, bim, pgd) or L2 radius (pgd-l2); in (0, 1] for L_inf */
    float step;         /* bim, pgd, pgd-l2 step size */
    int iterations;     /* bim, pgd, pgd-l2 */
    bool targeted;      /* aim at targets[i] instead of away from labels[i] */
    int batch;          /* samples per forward/backward */
    uint64_t seed;      /* pgd's random start */
    /* C&W L2 */
    float cw_c;         /* initial c */
    int cw_search;      /* binary-search steps on c */
    int cw_iterations;  /* Adam steps per search step */
    float cw_lr;        /* Adam's learning rate on w */
    float cw_kappa;     /* confidence margin */
} mla_adv_config;

/* The DkNN paper's defaults for kind: FGSM eps 0.25; BIM eps 0.25, step 0.01, 100
 * iterations; PGD eps 0.3, step 0.01, 40 iterations; PGD-L2 eps 2, step 0.1, 40
 * iterations; C&W c 0.01, 6 search steps, 100 iterations, lr 0.01, kappa 0. Batch 100. */
mla_adv_config mla_adv_defaults(mla_adv_kind kind);

/* Checks the config (eps, step, counts in range) with a one-line message. */
mla_status mla_adv_check(const mla_adv_config *cfg);

/* Runs the attack on n images x (n x dim, in [0, 1]) with true labels (and targets when
 * cfg->targeted; labels and targets in [0, classes)), writing adv (n x dim). */
mla_status mla_adv_run(const mla_adv_model *m, const mla_adv_config *cfg, const float *x,
                          const int32_t *labels, const int32_t *targets, int n, float *adv);

/* The loss an attack's steps follow, per sample, and its input gradient, at images x
 * (n x dim): CE to labels (untargeted) or -CE to targets (targeted) for the gradient
 * attacks (ascended); for C&W, -(||x - x0||^2 + c[i] f(x)) (so every attack ascends
 * it). loss (n) and grad (n x dim) may be NULL. For tests and custom loops. */
mla_status mla_adv_loss(const mla_adv_model *m, const mla_adv_config *cfg, const float *x, const float *x0,
                           const int32_t *labels, const int32_t *targets, const float *c, int n, double *loss,
                           float *grad);

/* ---- kNN and DkNN over layer features ---- */
typedef struct {
    int k;              /* neighbours per layer (75) */
    bool normalize;     /* L2-normalise each feature vector */
    bool center;        /* subtract the training features' mean (after normalising) */
    bool trim_zeros;    /* drop feature columns that are zero for every training sample */
} mla_dknn_options;

mla_dknn_options mla_dknn_defaults(void); /* k 75, all transforms off */

/* Activations of n images at each of n_layers named layers, flattened: feats[l] gets a
 * new n x dims[l] array (mla_alloc; the caller frees each). Runs net in evaluation mode
 * with keep-activations on, in batches of `batch`. An unknown layer fails with
 * MLA_ERR_INVALID, the message listing the net's layers. */
mla_status mla_net_layer_features(mla_net *net, const float *x, int n, const char *const *layers, int n_layers,
                                  int batch, float **feats, int *dims);

typedef struct mla_dknn mla_dknn;

/* A kNN / DkNN over n training samples: feats[l] (n x dims[l]) per layer and their
 * labels in [0, classes). Copies what it keeps. Fails if k > n. */
mla_status mla_dknn_create(const float *const *feats, const int *dims, int n_layers, const int32_t *labels, int n,
                           int classes, const mla_dknn_options *opt, mla_dknn **out);
/* The same, taking over feats[l] (each from mla_alloc, as mla_net_layer_features gives
 * them) instead of copying: a layer without transform is indexed in place (relu1 of the
 * dknn preset on all of MNIST is 3 GB). Every feats[l] is freed or kept by the DkNN and
 * set to NULL, whatever the outcome. */
mla_status mla_dknn_create_owned(float **feats, const int *dims, int n_layers, const int32_t *labels, int n,
                                 int classes, const mla_dknn_options *opt, mla_dknn **out);
void mla_dknn_free(mla_dknn *d);
int mla_dknn_layers(const mla_dknn *d);

/* The k nearest training labels of m queries at every layer: labels_out (m x layers x k). */
mla_status mla_dknn_neighbors(const mla_dknn *d, const float *const *queries, int m, int32_t *labels_out,
                              int32_t *idx_out);

/* kNN prediction at one layer from its neighbour labels (m x k, each row nearest first):
 * majority; among classes of equal count, the one met first in the row. MLA_ERR_NOMEM
 * (pred untouched) when its two class-sized counters cannot be allocated. */
mla_status mla_knn_vote(const int32_t *nb_labels, int m, int k, int classes, int32_t *pred);

/* Sets the calibration scores from m calibration samples (queries per layer, labels). */
mla_status mla_dknn_calibrate(mla_dknn *d, const float *const *queries, const int32_t *labels, int m);

/* DkNN predictions of m queries: pred, credibility, confidence (each m; any may be
 * NULL) and p-values (m x classes; may be NULL). Needs a calibration. */
mla_status mla_dknn_predict(const mla_dknn *d, const float *const *queries, int m, int32_t *pred, float *credibility,
                            float *confidence, float *pvalues);

/* The same from neighbour labels already found (m x layers x k, mla_dknn_neighbors), so a
 * caller that also wants one layer's kNN vote searches once. */
mla_status mla_dknn_predict_from_neighbors(const mla_dknn *d, const int32_t *nb_labels, int m, int32_t *pred,
                                           float *credibility, float *confidence, float *pvalues);

/* Indices of a seeded calibration set: per_class samples of each class, drawn from
 * labels[0..n) (out: classes x per_class indices, sorted ascending). MLA_ERR_INVALID
 * when a class has fewer than per_class samples. */
mla_status mla_dknn_calibration_indices(const int32_t *labels, int n, int classes, int per_class, uint64_t seed,
                                        int32_t *out);

/* ---- DkNNB (AdvKNN: Li et al. 2019) ----
 * A differentiable stand-in for the kNN at one layer: a dense layer plus softmax on the
 * layer's raw (flattened) activations, q = softmax(W f(x) + b), trained on the training
 * set's own kNN outputs at that layer. For training sample i, its k nearest training
 * samples at the layer (searched as the DkNN searches, with the same normalise/centre
 * options; the sample itself is among them, as in the AdvKNN reference code, which
 * queries the full training library) give p_i (their label distribution: counts / k)
 * and y_i (their majority label, mla_knn_vote's ties). Losses, per sample:
 *   DkNNB      CE(q, y)                           (plain: the kNN label only)
 *   DkNNB+CL   lambda CE(q, y) + KL(p || q)       (consistency learning; lambda 0.3)
 * Training is mla_train over the layer's features (the consistency loss through a
 * training hook that sets each step's output gradients). Attacks then follow
 * head(prefix(x)) (mla_dknnb_model), the net's prefix up to the layer being its trunk. */
typedef struct {
    const char *layer;      /* the net's layer (default "relu3", the study's layer 3) */
    bool consistency;       /* train with CL */
    float lambda;           /* CL's weight on the CE term (0.3) */
    mla_dknn_options knn;   /* k (75) and the feature transforms of the kNN labels */
    int epochs, batch;      /* 20, 128 */
    mla_opt_config opt;     /* Adam lr 1e-3 */
    uint64_t seed;          /* head initialisation and shuffling */
} mla_dknnb_config;
mla_dknnb_config mla_dknnb_defaults(void);

/* The mean over n samples of the DkNNB loss above (consistency: lambda CE + KL; else CE)
 * on logits (n x classes), kNN labels y (n) and distributions p (n x classes; unused
 * without consistency); dlogits (may be NULL) gets d(mean)/d(logits). */
float mla_dknnb_loss(const float *logits, int n, int classes, const int32_t *y, const float *p, float lambda,
                     bool consistency, float *dlogits);

/* From neighbour labels (n x k): p (n x classes) = label counts / k, y (n) = the
 * majority (mla_knn_vote: ties to the class met first, nb_labels nearest first).
 * MLA_ERR_NOMEM as mla_knn_vote. */
mla_status mla_dknnb_targets(const int32_t *nb_labels, int n, int k, int classes, int32_t *y, float *p);

typedef struct mla_dknnb mla_dknnb;
/* Trains a DkNNB of net (borrowed only for the call; the DkNNB keeps its own prefix) on
 * n training images x (n x dim) with labels. feats, if not NULL, are the images'
 * activations at cfg->layer (n x that layer's size), saving a pass of the net. */
mla_status mla_dknnb_train(mla_net *net, const float *x, const float *feats, const int32_t *labels, int n,
                           const mla_dknnb_config *cfg, mla_dknnb **out);
void mla_dknnb_free(mla_dknnb *d);
/* The model head(prefix(x)), for attacks and predictions; valid while d lives. */
mla_adv_model mla_dknnb_model(mla_dknnb *d);
/* The trained head (flatten, dense "dknnb"); borrowed. */
mla_net *mla_dknnb_head(mla_dknnb *d);

/* ---- Sitawarin & Wagner's attack on DkNN ("On the Robustness of Deep K-Nearest
 * Neighbors", 2019), the study's baseline ----
 * For image x with label y, at the selection layer (the last guide layer): the nearest
 * reference sample whose label is not y gives the target class t; the guides are the
 * `guides` reference samples of class t nearest to x there (raw activations, Euclidean,
 * ties by the smaller index). mu_l(x) is the mean of the guides' activations at guide
 * layer l. The attack moves x toward them, descending
 *     L(x') = sum_l ||f_l(x') - mu_l(x)||^2 / d_l      (d_l: layer l's size)
 * with mla_adv_run's FGSM / BIM / PGD / PGD-L2 updates: the model's outputs are the
 * guide layers' activations side by side and its objective is -L. */
typedef struct mla_sw mla_sw;
/* The attack's model for the n images x (labels y) of a run (sample i of mla_adv_run is
 * x's image i) against net (borrowed; the attack runs its own prefixes of it) and the
 * reference set ref_x (n_ref images, labels ref_y; borrowed: must outlive the model, whose
 * objective reads the guides' images). ref_sel, if not NULL, holds the reference set's
 * activations at the last guide layer (else computed). Fails when a class has fewer
 * than `guides` reference samples or a layer is unknown. */
mla_status mla_sw_create(mla_net *net, const char *const *layers, int n_layers, const float *ref_x,
                         const float *ref_sel, const int32_t *ref_y, int n_ref, const float *x, const int32_t *y,
                         int n, int guides, int batch, mla_sw **out);
void mla_sw_free(mla_sw *s);
mla_adv_model mla_sw_model(mla_sw *s);
const int32_t *mla_sw_targets(const mla_sw *s); /* n target classes */
const int32_t *mla_sw_guides(const mla_sw *s);  /* n x guides reference indices, nearest first */

/* ---- audit metrics ---- */
/* Accuracy of clean and adversarial predictions (fractions of n) and the attack's success
 * rate: untargeted, over the samples predicted right when clean, the fraction predicted
 * wrong after the attack; targeted (targets not NULL), the fraction of all n predicted as
 * their target. NaN when no sample qualifies. */
typedef struct {
    double clean, adversarial, success_rate;
} mla_robust_rates;
mla_robust_rates mla_robust_rates_of(const int32_t *labels, const int32_t *targets, const int32_t *clean_pred,
                                     const int32_t *adv_pred, int n);

/* Perturbation sizes adv - x (raw [0, 1] scale) over all n samples, and over the samples
 * where success[i] (success may be NULL: then the _success fields are NaN). Medians of an
 * even count average the two middle values; statistics of no samples are NaN. */
typedef struct {
    double l2_mean, l2_median, linf_mean, linf_max;
    double l2_mean_success, l2_median_success, linf_mean_success;
    int n_success;
} mla_perturbation;
mla_status mla_perturbation_of(const float *x, const float *adv, int n, int dim, const bool *success,
                               mla_perturbation *out);

/* The AdvKNN study's L2 figure (its reference code's l2_dis_avg): over the samples the
 * DkNN gets wrong after the attack (wrong[i]), the mean of 255 * ||adv_i - x_i||_2 / dim,
 * the [0, 1]-scale L2 rescaled to 0-255 pixels per pixel. NaN when no sample is wrong. */
double mla_l2_rescaled(const float *x, const float *adv, int n, int dim, const bool *wrong);

/* ---- the audit: DNN, kNN and DkNN, clean and under attack ---- */
/* What the attack's gradients follow: the DNN itself; a DkNNB on one layer trained
 * without or with consistency learning (the AdvKNN study); or Sitawarin and Wagner's
 * guide-layer objective on the DkNN's layers (untargeted only). */
typedef enum { MLA_THROUGH_DNN = 0, MLA_THROUGH_DKNNB, MLA_THROUGH_DKNNB_CL, MLA_THROUGH_SW } mla_robust_through;
/* "dnn", "dknnb", "dknnb-cl", "sw". */
mla_status mla_robust_through_parse(const char *name, mla_robust_through *out);
const char *mla_robust_through_name(mla_robust_through t);

/* Under mla_robust_audit_runs the runs share every field but attack, eps, n_eps, through
 * and sw_guides (dknnb too, but for its consistency flag, which follows through). */
typedef struct {
    const char *const *layers; /* DkNN's layers (borrowed), n_layers of them */
    int n_layers;
    int knn_layer;             /* index into layers: the plain kNN's layer */
    mla_dknn_options dknn;
    int calibration;           /* calibration images taken from the test split (a multiple of the class count) */
    int train_subset;          /* training images indexed (stratified, seeded); 0: all */
    int test_subset;           /* evaluated images after the calibration set is removed (seeded); 0: all */
    uint64_t seed;
    mla_adv_config attack;     /* its eps is replaced by each of eps[] in turn */
    const float *eps;          /* n_eps >= 1 values */
    int n_eps;
    float credibility_threshold; /* rejection below it */
    int batch;                 /* forward batch for features */
    mla_robust_through through;
    mla_dknnb_config dknnb;    /* through a DkNNB: its settings (consistency follows `through`) */
    int sw_guides;             /* through sw: guides per image */
    mla_net *transfer;         /* a second model scored on the same images (borrowed; NULL: none) */
    int grid;                  /* evaluated images whose nearest neighbours are recorded (grid.png) */
} mla_robust_config;

/* Neighbours recorded per layer for the grid. */
#define MLA_ROBUST_GRID_NEIGHBORS 5

/* One attack strength's results. */
typedef struct {
    float eps;
    mla_robust_rates dnn, knn, dknn;
    mla_robust_rates dknnb;         /* the DkNNB attacked (NaN fields unless through one) */
    mla_robust_rates transfer;      /* the transfer model (NaN fields without one) */
    mla_perturbation perturbation;  /* success: against the DNN */
    double l2_rescaled;             /* mla_l2_rescaled over the DkNN's adversarial errors */
    double credibility;             /* mean DkNN credibility of the adversarial images */
    double rejected;                /* fraction of adversarial images below the threshold */
} mla_robust_point;

/* Owned by the caller: mla_robust_result_free. */
typedef struct {
    int n_train, n_calibration, n_eval;
    int32_t *eval_idx;              /* n_eval test-split indices evaluated */
    double credibility_clean;       /* mean DkNN credibility of the clean images */
    double rejected_clean;          /* fraction of clean images below the threshold */
    double accuracy_kept;           /* DkNN accuracy on the clean images kept (NaN if none) */
    mla_robust_point *points;       /* n_eps, in the order given */
    int n_points;
    float *examples;                /* n_eval x dim: the adversarial images of eps[0] */
    float *cred_clean, *cred_adv;   /* n_eval credibilities: clean, and under eps[0] */
    int n_grid;                     /* min(cfg->grid, n_eval) */
    /* 2 (clean, then adversarial of eps[0]) x n_grid x n_layers x MLA_ROBUST_GRID_NEIGHBORS
     * training-split indices of the nearest reference images, nearest first (-1 past k);
     * NULL when n_grid is 0. */
    int32_t *grid_nb;
} mla_robust_result;

/* Runs the audit of net (evaluation mode) with train's images as the kNN reference set and
 * test's as calibration and evaluation images. Bad settings (k above the training set, a
 * calibration set larger than the test split or not a multiple of the classes, an
 * unknown layer, a net whose input shape the data do not fit) fail with one-line
 * messages. */
mla_status mla_robust_audit(mla_net *net, const mla_dataset *train, const mla_dataset *test,
                            const mla_robust_config *cfg, mla_robust_result *out);
void mla_robust_result_free(mla_robust_result *r);

/* Several audits of one net on one reference set, calibration set and evaluation set (say
 * FGSM, BIM and PGD, each through the DNN and a DkNNB+CL): the index over the layers, the
 * calibration, the DkNNBs (each trained once, whichever runs go through it) and the clean
 * predictions are made once, then each run attacks the same images. cfgs[0..n_runs) must
 * agree on everything but attack, eps / n_eps, through and sw_guides (else MLA_ERR_INVALID
 * naming the first shared setting that differs). outs[i] (the caller's: free each with
 * mla_robust_result_free) is what mla_robust_audit(cfgs[i]) gives, bit for bit; on failure
 * every out is left empty. seconds, if not NULL, gets n_runs + 1 wall times: [0] the
 * shared part, [1 + i] run i. done, if not NULL, is called as each run ends, in order,
 * with its result (complete; still the caller's in outs) and seconds so far, so a long
 * invocation can save each run as it comes; a status it returns stops the audit with it.
 * mla_robust_audit is this with one run. */
typedef mla_status (*mla_robust_run_done)(void *user, int run, const mla_robust_result *result,
                                          const double *seconds);
mla_status mla_robust_audit_runs(mla_net *net, const mla_dataset *train, const mla_dataset *test,
                                 const mla_robust_config *cfgs, int n_runs, mla_robust_result *outs,
                                 double *seconds, mla_robust_run_done done, void *user);

#ifdef __cplusplus
}
#endif
#endif
