/* mlaudit mia: membership-inference attacks and the audit that runs them.
 *
 * Three layers, each usable on its own:
 *  1. Score formulas (this section first): pure functions from a model's outputs to a
 *     membership score per sample. LARGER SCORE = MORE LIKELY A MEMBER, always.
 *  2. Attacks on arrays (mla_mia_arrays -> mla_mia_result): the outputs of one target
 *     and K shadow models on the same M samples, which shadows trained on which sample,
 *     and the ground truth. Every attack turns these into scores and scoring.h turns
 *     the scores into the figures a reviewer reads (AUC, TPR at low FPR with exact
 *     intervals, ...). This is what `mlaudit mia --from DIR` runs on a PyTorch or JAX
 *     user's own arrays.
 *  3. Protocols (mla_mia_collect): train the target and its shadows on a dataset as a
 *     protocol says and fill the arrays.
 *
 * Notation. For a model and a sample (x, y) with softmax output p (C classes):
 *   p_y            the probability of the true class;
 *   loss           -log p_y (cross-entropy);
 *   phi            log p_y - log(1 - p_y), the logit-scaled confidence, computed from
 *                  logits z as z_y - logsumexp_{j != y} z_j (stable for p_y near 1)
 *                  and from probabilities as log p_y - log(sum_{j != y} p_j);
 *   IN / OUT       for a sample, the shadows that did / did not train on it.
 * Logarithms of probabilities below 1e-300 (an exact 0 in float32 outputs) are taken
 * at 1e-300, so every score is finite.
 */
#ifndef MLAUDIT_MIA_H
#define MLAUDIT_MIA_H

#include <stdbool.h>
#include <stdint.h>

#include "mlaudit/core.h"
#include "mlaudit/data.h"
#include "mlaudit/nn.h"
#include "mlaudit/dpsgd.h"
#include "mlaudit/release.h"
#include "mlaudit/scoring.h"
#include "mlaudit/train.h"
#include "mlaudit/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * 1. Score formulas
 * ====================================================================== */

/* phi of one output row (C values) for true class y. */
double mla_mia_phi_from_logits(const float *logits, int c, int y);
double mla_mia_phi_from_probs(const float *probs, int c, int y);
/* log p_y of one row: from logits (z_y - logsumexp z) or from probabilities. */
double mla_mia_logpy_from_logits(const float *logits, int c, int y);
double mla_mia_logpy_from_probs(const float *probs, int c, int y);

/* Metric-threshold scores of one probability row (larger = member):
 *   loss              log p_y                        (= -cross-entropy)
 *   confidence        max_j p_j
 *   entropy           sum_j p_j log p_j              (= -Shannon entropy)
 *   modified entropy  -Mentr, Mentr = -(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j)
 *                     (Song and Mittal 2021) */
double mla_mia_score_loss(const float *probs, int c, int y);
double mla_mia_score_confidence(const float *probs, int c);
double mla_mia_score_entropy(const float *probs, int c);
double mla_mia_score_modified_entropy(const float *probs, int c, int y);

/* The reference-model attacks share one calling convention:
 *   target[m]          the target's value per sample (phi for LiRA, p_y for RMIA,
 *                      loss for similarity),
 *   shadow[k x m]      each shadow's value per sample (row s = shadow s),
 *   shadow_in[k x m]   1 when shadow s trained on sample i, else 0,
 *   use[m]             1 for the samples to score (NULL: all); others get NaN,
 *   score[m]           written; NaN also for a used sample that lacks the shadows the
 *                      attack needs, and *excluded counts those (among used ones).
 * They fail only on bad arguments (k < 1, m < 1, NULL arrays). */

/* LiRA (Carlini et al. 2022). Per sample, mu and sd = mean and standard deviation
 * (ddof 0) of its IN (resp. OUT) shadow phis. Where a sample has fewer than 2 such
 * values, or they are all equal, sd is the global sd of that side: the root-mean-square
 * residual of every IN (resp. OUT) value about its own sample's IN (OUT) mean, pooled
 * over all m samples (used or not). The *_FIXED variants use the global sd everywhere.
 * Every sd is at least 1e-12 (a degenerate Gaussian would give inf - inf).
 *   ONLINE   log N(phi_t; mu_in, sd_in^2) - log N(phi_t; mu_out, sd_out^2);
 *            needs >= 1 IN and >= 1 OUT value.
 *   OFFLINE  -log Pr[Z > phi_t], Z ~ N(mu_out, sd_out^2) (one-sided, computed in the log
 *            domain so that far tails stay finite); needs >= 1 OUT value. */
typedef enum {
    MLA_LIRA_ONLINE = 0,
    MLA_LIRA_ONLINE_FIXED,
    MLA_LIRA_OFFLINE,
    MLA_LIRA_OFFLINE_FIXED
} mla_lira_variant;
mla_status mla_mia_lira(mla_lira_variant variant, const double *target_phi, const double *shadow_phi,
                        const uint8_t *shadow_in, int k, int m, const uint8_t *use, double *score,
                        int64_t *excluded);

/* RMIA offline (Zarifzadeh et al. 2024) on p_y values:
 *   p(x)     = ((1 + a) * mean_OUT p_y(x) + (1 - a)) / 2
 *   ratio(x) = p_target(x) / p(x)
 *   score(x) = share of the population points z with ratio(x) / ratio(z) > gamma.
 * population[0..n_pop) are sample indices (target non-members, never used); a
 * population point without an OUT shadow is dropped from the population, and
 * *pop_used (may be NULL) receives how many were kept (>= 1, else MLA_ERR_INVALID).
 * A used sample without an OUT shadow is excluded. O((m + n_pop) log n_pop): the
 * population's ratios are sorted once and each score is a binary search. */
mla_status mla_mia_rmia(const double *target_py, const double *shadow_py, const uint8_t *shadow_in, int k, int m,
                        const int32_t *population, int n_pop, double a, double gamma, const uint8_t *use,
                        double *score, int64_t *excluded, int64_t *pop_used);

/* Similarity (the MIA survey's section 2.5, after Long et al.) on losses d = -log p_y:
 *   score(x) = |d_T(x) - mean_OUT d(x)| - |d_T(x) - mean_IN d(x)|
 * (larger = the target behaves like the shadows that trained on x); needs >= 1 IN and
 * >= 1 OUT value. */
mla_status mla_mia_similarity(const double *target_loss, const double *shadow_loss, const uint8_t *shadow_in, int k,
                              int m, const uint8_t *use, double *score, int64_t *excluded);

/* ======================================================================
 * Learned attacks: shadow models + an attack model (Shokri et al. 2017), and the
 * batch-wise attack dataset of MIA-BAD.
 * ====================================================================== */

typedef enum {
    MLA_ATTACK_FEATURES_SORTED = 0, /* the softmax sorted decreasingly, then the loss: C + 1 columns */
    MLA_ATTACK_FEATURES_RAW         /* the softmax as it is (C columns); one attack model per true class */
} mla_attack_features;

typedef enum {
    MLA_ATTACK_MODEL_MLP = 0,       /* features -> dense(hidden) -> relu -> dense(2), softmax CE */
    MLA_ATTACK_MODEL_LOGREG         /* features -> dense(2), softmax CE (= logistic regression) */
} mla_attack_model_kind;

typedef struct {
    mla_attack_features features;
    mla_attack_model_kind model;
    int hidden;          /* MLP hidden units (default 64) */
    int epochs;          /* default 80 */
    int batch;           /* default 256 */
    float lr;            /* Adam, default 1e-3 */
    uint64_t seed;
} mla_attack_config;

mla_attack_config mla_attack_defaults(void);

/* Writes one feature row per sample (n rows of mla_attack_feature_dim columns) from
 * probability rows (n x c) and labels (the loss column uses p_y). */
int mla_attack_feature_dim(mla_attack_features f, int c);
void mla_attack_features_of(mla_attack_features f, const float *probs, const int32_t *labels, int n, int c,
                            float *out);

typedef struct mla_attack_model mla_attack_model;

/* Fits the attack on n rows of d features with member[i] in {0, 1}. For RAW features,
 * cls[i] in [0, classes) picks the per-class model (a class without both members and
 * non-members falls back to one model fit on every row); for SORTED, cls may be NULL.
 * Features are standardised with the fit rows' mean and sd inside the model.
 * Deterministic for a seed and thread count. *out owns the model. */
mla_status mla_attack_model_fit(const mla_attack_config *cfg, const float *x, const uint8_t *member, const int32_t *cls,
                                int n, int d, int classes, mla_attack_model **out);
/* P(member) for n rows (the model's softmax on the member class). */
mla_status mla_attack_model_predict(mla_attack_model *m, const float *x, const int32_t *cls, int n, double *p_member);
void mla_attack_model_free(mla_attack_model *m);

/* MIA-BAD's batch rows: shuffles rows 0..n-1 with rng and averages consecutive groups
 * of b rows (n / b groups, the remainder dropped) into out (n / b rows of d). Returns
 * the number of rows written through *rows. Fails if b < 1 or b > n. */
mla_status mla_attack_batch_means(const float *x, int n, int d, int b, mla_rng *rng, float *out, int *rows);

/* Label-only augmentation attack (Choquette-Choo et al. 2021): for each sample
 * idx[0..n) of ds, how many of the augmented copies the net classifies correctly. The
 * copies are every shift (dx, dy) in [-radius, radius]^2 (zero-filled edges), each
 * with and without a horizontal flip when flips is set: (2r + 1)^2 or twice that,
 * returned through *n_aug. Evaluation mode, in batches of `batch` images. */
mla_status mla_mia_augment_counts(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int radius,
                                  bool flips, int batch, int32_t *counts, int *n_aug);

/* ======================================================================
 * 2. Attacks on arrays
 * ====================================================================== */

/* The outputs of a target and k shadows on m samples. Give probabilities (probs and
 * labels), or phi directly (target_phi/shadow_phi, with p_y optional). When both are
 * given phi and p_y take precedence for LiRA, RMIA and similarity (a protocol passes
 * phi from logits), and probabilities serve the metric and learned attacks. */
typedef struct {
    int m, k, classes;           /* classes: 0 without probabilities */
    const float *target_probs;   /* m x classes, or NULL */
    const float *shadow_probs;   /* k x m x classes, or NULL */
    const int32_t *labels;       /* m, with probabilities */
    const double *target_phi;    /* m, or NULL: from target_probs */
    const double *shadow_phi;    /* k x m, or NULL: from shadow_probs */
    const double *target_py;     /* m, or NULL: from probs, else sigmoid(phi) */
    const double *shadow_py;     /* k x m, or NULL: likewise */
    const uint8_t *shadow_in;    /* k x m: 1 when shadow s trained on sample i */
    /* m: 1 member of the target, 0 non-member, -1 not evaluated (the shadows' own
     * data, the population). NULL: no ground truth: every sample but the population
     * is scored, and the result holds scores and thresholds only (figures NaN, no
     * batch attacks). */
    const int8_t *truth;
    /* k x m: 1 where the attacker may fit on shadow s's output for sample i (its
     * thresholds and attack models use shadow s's members there vs its non-members
     * there). NULL: everywhere. */
    const uint8_t *fit;
    const int32_t *population;   /* RMIA's z (never evaluated); NULL: no RMIA */
    int n_population;
    /* Label-only augmentation counts (of n_aug copies), or NULL; -1 marks a sample
     * whose count was not computed (left out of the attack's evaluation or threshold). */
    const int32_t *target_aug;   /* m */
    const int32_t *shadow_aug;   /* k x m, or NULL: no threshold */
    int n_aug;
    /* Each sample's index in the dataset, for scores.csv (NULL: 0..m-1). */
    const int32_t *sample_index;
    /* true: the probability rows are released outputs (release.h: topk, round, label,
     * ...), not full softmax rows, so they may hold exact zeros and need not sum to 1;
     * validation then asks only that every entry be finite and in [0, 1]. Set by the
     * collector when a release policy is active; saved as released.npy. */
    bool released;
} mla_mia_arrays;

typedef struct {
    /* Attack names (below), comma-separated, or "all" (NULL = all). Attacks whose
     * inputs are missing (no shadows IN for online LiRA, no probabilities for
     * confidence, ...) are skipped under "all" and refused when named. */
    const char *attacks;
    double rmia_a;               /* default 0.3 */
    double rmia_gamma;           /* default 1 */
    const int *batch_sizes;      /* MIA-BAD's B values (NULL: none) */
    int n_batch_sizes;
    mla_attack_config attack;    /* the learned attacks' model */
    uint64_t seed;               /* batch shuffles */
} mla_mia_config;

mla_mia_config mla_mia_defaults(void);

/* The attack names, NULL-terminated (borrowed): random, correctness, loss, confidence,
 * entropy, modified_entropy, shadow_sample, shadow_batch (expands to shadow_batch_B for
 * every B), lira_online, lira_online_fixed, lira_offline, lira_offline_fixed,
 * rmia_offline, similarity, label_augment. */
const char *const *mla_mia_attack_names(void);

typedef struct {
    char name[40];
    mla_score_summary summary;   /* summary.excluded: used samples the attack left out */
    int batch_size;              /* shadow_batch_B: B; else 0 */
    /* Per-sample attacks: m scores (NaN where not evaluated or excluded). Batch attacks:
     * NULL. */
    double *scores;
    /* The evaluated scores: members' and non-members' (batches' for batch attacks). */
    double *pos, *neg;
    int64_t n_pos, n_neg;
} mla_mia_attack_result;

typedef struct {
    int m;
    int n_attacks;
    mla_mia_attack_result *attacks;
    /* m: the arrays' truth (1, 0, -1); without ground truth 2 (scored, membership
     * unknown) or -1 (a population point, not scored). */
    int8_t *truth;
    bool ground_truth;           /* false: scores and thresholds only, figures NaN */
    int32_t *sample_index;       /* m */
    /* The target on the evaluated members (train) and non-members (test); NaN when the
     * arrays do not say (phi-only). gap = train - test accuracy; gap_loss = test - train. */
    double train_accuracy, test_accuracy, train_loss, test_loss, gap_accuracy, gap_loss;
    int64_t population_used;     /* RMIA's population after dropping points without OUT */
    double seconds_attacks;
} mla_mia_result;

/* Runs the configured attacks. Thresholds for accuracy/precision/recall are chosen on
 * the shadows (mla_choose_threshold on shadow members vs non-members over the fit
 * samples; for LiRA, RMIA and similarity each shadow is scored in turn as if it were
 * the target, against the other shadows); the learned attacks use P(member) >= 0.5;
 * correctness uses 'correctly classified'; random scores every sample 0.5.
 * *out owns the result (mla_mia_result_free). Validates the arrays first: shapes,
 * probabilities (finite, non-negative, rows summing to 1 within 1e-3; released rows:
 * finite and in [0, 1], any sum), labels in
 * range, population indices in range, distinct and not evaluated. */
mla_status mla_mia_attack_arrays(const mla_mia_arrays *a, const mla_mia_config *cfg, mla_mia_result **out);
void mla_mia_result_free(mla_mia_result *r);

/* Checks a config before any model is trained: attack names, batch sizes >= 1, RMIA's
 * a in [0, 1] and gamma > 0 (the message names the flag's value at fault). */
mla_status mla_mia_config_check(const mla_mia_config *cfg);

/* Per-group figures of one per-sample attack (e.g. per federated client): for each
 * group g in [0, n_groups), the summary (scoring.h) of the attack's scores on the
 * evaluated members i with group[i] == g (truth 1, score not NaN) against EVERY
 * evaluated non-member (truth 0, score not NaN), with accuracy, precision and recall at
 * the attack's own threshold (r's summary.threshold; NaN there: those three NaN).
 * group[m]: -1 for samples in no group. A group without members gets a summary of NaNs with n_pos 0 (n_neg still
 * counted). Fails (MLA_ERR_INVALID) when r has no ground truth, the attack is unknown
 * or a batch attack, or there is no evaluated non-member. */
mla_status mla_mia_group_summaries(const mla_mia_result *r, const char *attack, const int32_t *group, int n_groups,
                                   mla_score_summary *out);

/* The attack result named `name`, or NULL (borrowed). */
const mla_mia_attack_result *mla_mia_result_find(const mla_mia_result *r, const char *name);


/* ---- the arrays as files (the format of `mlaudit mia --from DIR` / --save-arrays) ----
 * One .npy file per array, named as below, in a folder:
 *   target_probs.npy [M, C] float, or target_logits.npy [M, C] (softmax taken here,
 *     phi and p_y computed from the logits), or target_phi.npy [M] (with optional
 *     target_p.npy [M] = p_y; without it p_y = sigmoid(phi));
 *   shadow_probs.npy / shadow_logits.npy [K, M, C], or shadow_phi.npy [K, M] (with
 *     optional shadow_p.npy [K, M]); K may be 0 only without shadow files;
 *   labels.npy [M] int (with probabilities or logits);
 *   shadow_in.npy [K, M] 0/1 (int or bool);
 *   target_in.npy [M]: 1 member, 0 non-member, -1 not evaluated (the ground truth;
 *     without it the attacks only score the samples);
 *   population.npy [Z] int: RMIA's population, indices of target non-members, left
 *     out of every attack's evaluation;
 * and, written by --save-arrays for an exact re-scoring: shadow_fit.npy [K, M] 0/1,
 * target_aug.npy [M] / shadow_aug.npy [K, M] / aug_copies.npy [] (label-only
 * counts), sample_index.npy [M], released.npy [] (1: the probability rows are
 * released outputs, see mla_mia_arrays.released; 0 or absent: softmax rows). When phi files
 * sit beside probability files, both
 * are read (see mla_mia_arrays). Every shape is checked against the others, and
 * every value as mla_mia_attack_arrays does; errors name the file. */
typedef struct {
    mla_mia_arrays arrays;
    void *owned;                 /* private */
} mla_mia_loaded;

mla_status mla_mia_arrays_load(const char *dir, mla_mia_loaded **out);
void mla_mia_loaded_free(mla_mia_loaded *l);
/* Writes every array a holds into dir (which must exist), each file atomically. */
mla_status mla_mia_arrays_save(const char *dir, const mla_mia_arrays *a);

/* ======================================================================
 * 3. Protocols: training the target and its shadows, collecting their outputs
 * ====================================================================== */

typedef enum {
    /* The MIA survey's: data pooled and shuffled, cut into four equal parts D_train,
     * D_test, D'_train, D'_test. The target trains on D_train; evaluation is D_train vs
     * D_test. Each shadow trains on a random half of D' = D'_train + D'_test and
     * leaves the other half unseen; D' is also RMIA's population. */
    MLA_MIA_SPLIT4 = 0,
    /* MIA-BAD's Algorithm 1: the target as in SPLIT4; from the master shadow set D',
     * each shadow samples its own dataset (shadow_fraction of D', overlapping with the
     * others) and trains on half of it, the other half its unseen part. */
    MLA_MIA_SHADOWS,
    /* LiRA's: a pool of candidates; the target trains on a random half (exactly half,
     * the pool rounded down to even) and every shadow on a random subset such that
     * each candidate is IN for half the shadows (online), or the shadows train on
     * random halves of a disjoint pool of the same size and never see a candidate
     * (offline). RMIA's population: further samples no model trained on (online), or
     * the offline shadows' pool. */
    MLA_MIA_LIRA,
    /* Bring your own target: a trained net with named members and non-members (the
     * larger side subsampled to the smaller, seeded, so evaluation is balanced); each
     * shadow trains on a random half of the shadow pool, which is also RMIA's
     * population. */
    MLA_MIA_OWN_TARGET
} mla_mia_protocol;

mla_status mla_mia_protocol_parse(const char *name, mla_mia_protocol *out); /* split4 | shadows | lira */
const char *mla_mia_protocol_name(mla_mia_protocol p);

/* The audit's one extension point for HOW a model trains (e.g. by federated averaging,
 * fl.h's mla_fl_mia_train). Called for each model the audit trains: model 0 the target,
 * 1..K the shadows, with the freshly built net (seeded with tc->seed, the model's
 * seed), the dataset and the indices idx[0..n) the protocol gives it, and the training
 * config the audit would pass to mla_train (tc->seed the model's seed; tc->hook the
 * model's own DP-SGD hook when the audit has one: a trainer that cannot honour a hook
 * must fail, not ignore it). trained[0..n) is all 1 on entry: the trainer clears the
 * entries it did NOT train on (a partition's remainder), and the audit then counts
 * those samples as not seen by that model (the target: not evaluated, truth -1; a
 * shadow: OUT). *st may be left zeroed. With parallel > 1 it is called from several
 * threads at once (one model each); each call must then give a one-thread run's bits.
 * NULL: mla_train(net, ds, idx, n, tc, st). */
typedef mla_status (*mla_mia_train_fn)(void *user, int model, mla_net *net, const mla_dataset *ds, const int32_t *idx,
                                       int n, const mla_train_config *tc, uint8_t *trained, mla_train_stats *st);

/* A model the audit builds: its spec and the dropout rate to set (< 0: the spec's). */
typedef struct {
    const char *spec_json;
    float dropout;
} mla_mia_model;

typedef struct {
    mla_mia_protocol protocol;
    mla_mia_model target, shadow;  /* shadow.spec_json NULL: the target's */
    /* How the target and the shadows train (epochs, batch, optimizer, regularisers).
     * The seed is replaced per model (the target: seed; shadow s: derived from seed
     * and s); callbacks, validation indices and checkpoints must be unset (patience > 0
     * asks for early stopping on val_size images, below). */
    mla_train_config train;
    int shadows;                   /* K >= 1 */
    int parallel;                  /* shadows trained at once, each on one thread (1: one
                                      after another with every thread) */
    uint64_t seed;                 /* splits, subsets, model seeds */
    double shadow_fraction;        /* SHADOWS: share of D' per shadow dataset (default 0.5) */
    int pool;                      /* SPLIT4/SHADOWS: samples pooled (0: all); LIRA: candidates (0: half of the data) */
    int population;                /* LIRA online: population size (0: min(pool / 2, what is left)) */
    bool offline;                  /* LIRA: offline shadows */
    int aug_radius;                /* label-only augmentation: shifts in [-r, r]^2 (0: not run) */
    bool aug_flips;                /* and horizontal flips */
    int aug_shadow_samples;        /* per shadow, fit samples scored for its threshold (0: 2000) */
    int eval_batch;                /* evaluation batch (0: 500) */
    /* Early stopping (train.patience > 0): every model mia trains validates on the same
     * val_size images of data, drawn (seeded) from samples the protocol leaves unused
     * (outside split4's pool, or LiRA's candidates, population and offline pool), so no
     * candidate's membership changes; each model keeps its best epoch (mla_train).
     * Needs val_size >= 1 and room for it; not with shadow_data or an own target. */
    int val_size;
    /* DP-SGD for the target and every shadow (NULL: plain training). Each model gets a
     * hook of its own whose seed is the model's seed (batch = train.batch); the target's
     * noisy steps and sampling rate come back in mla_mia_collected for the accountant. */
    const mla_dpsgd_config *dp;
    /* What the models release to the attacker (NULL or none: the full softmax). When
     * active, the target's and every shadow's probability rows are the released rows
     * (the attacker knows the API, so its shadows are released the same way), and phi
     * and p_y are computed FROM THE RELEASED ROWS (mla_mia_phi_from_probs,
     * mla_mia_logpy_from_probs, logs floored at 1e-300), not from the logits; the arrays
     * are marked released. noise:S draws per model and per sample (streams derived from
     * the model's seed and the sample's position), so a run is reproducible. The
     * label-only augmentation counts still use the net's own argmax (unchanged by every
     * policy but noise and a reordering reverse-sigmoid). Borrowed. */
    const mla_release *release;
    /* Called as each model finishes (may be NULL; from one thread at a time): model 0
     * is the target, 1..K the shadows. */
    void (*on_model)(void *user, int model, int models, double seconds);
    /* Batch progress of the model being trained when training one at a time (may be
     * NULL): passed on as mla_train_config.on_batch. */
    void (*on_batch)(void *user, int epoch, long done, long total, float loss);
    void *user;
    mla_mia_train_fn train_model;  /* NULL: mla_train (see mla_mia_train_fn) */
    void *train_user;              /* its user pointer */
    const char *keep_dir;          /* NULL, or a folder to save every shadow in
                                      (shadow_<s>.safetensors) */
    const volatile sig_atomic_t *stop; /* polled between batches; MLA_ERR_INTERRUPTED */
    /* Several processes (transport.h; NULL or size 1: this process alone). Every rank
     * calls mla_mia_collect with the same inputs and config; shadow s is trained on rank
     * s mod P, one after another on one thread each (a one-thread run's bits, as with
     * parallel > 1), and its rows (probabilities, phi, p_y, augmentation counts, the
     * samples its trainer left out) are sent to rank 0, which trains the target with
     * its own threads as one process does, trains its own shadows and receives the
     * others' in shadow order. So rank 0's arrays hold the bits of one process whose
     * shadows train on one thread each (parallel > 1, or threads 1), for any P.
     * parallel is not used. Not with keep_dir (only rank 0 writes). A rank whose
     * shadow fails sends the error to rank 0 (which fails with it, naming the rank)
     * and fails itself. */
    const mla_transport *transport;
} mla_mia_audit_config;

/* Defaults: SPLIT4, 4 shadows, one at a time, shadow_fraction 0.5, no augmentation attack. */
mla_mia_audit_config mla_mia_audit_defaults(void);

/* What the protocol trains on. data is the pooled dataset (the CLI joins a dataset's
 * training and test splits); shadow_data, if not NULL, is where the shadows' data comes
 * from instead (the survey's transferability: another dataset of the same image
 * shape). OWN_TARGET also needs the target and its members / non-members (indices
 * into data), and optionally the shadow pool (indices into data; NULL: every sample
 * not named). */
typedef struct {
    const mla_dataset *data;
    const mla_dataset *shadow_data;
    mla_net *target;               /* OWN_TARGET: borrowed, evaluated only */
    const int32_t *members, *nonmembers, *shadow_pool;
    int n_members, n_nonmembers, n_shadow_pool;
} mla_mia_inputs;

/* The collected outputs (arrays views into owned buffers) and how they came about. */
typedef struct {
    mla_mia_arrays arrays;
    int n_data;                    /* samples 0..n_data-1 of the arrays come from data,
                                      the rest from shadow_data */
    double seconds_target, seconds_shadows, seconds_outputs;
    long target_dp_steps;          /* with cfg->dp: the target's noisy steps (0 otherwise) */
    double target_dp_q;            /* and its sampling rate */
    int target_epochs_run;         /* the target's epochs (early stopping: fewer than planned) */
    int target_epoch_kept;         /* the 1-based epoch whose weights it kept */
    const int32_t *val_index;      /* early stopping: the validation images (indices into data) */
    int n_val;
    int target_train_size;         /* the samples the target trained on (a trainer may leave some out) */
    void *owned;                   /* private */
} mla_mia_collected;

/* Trains (or takes) the target, trains K shadows as the protocol says, and collects
 * every model's outputs into arrays ready for mla_mia_attack_arrays. Same seed and
 * thread count (and parallel), same bits. *out owns everything: mla_mia_collected_free.
 * With a transport of size > 1, ranks other than 0 train their shadows, send them and
 * return MLA_OK with *out = NULL (see mla_mia_audit_config.transport). */
mla_status mla_mia_collect(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, mla_mia_collected **out);
void mla_mia_collected_free(mla_mia_collected *c);

#ifdef __cplusplus
}
#endif
#endif
