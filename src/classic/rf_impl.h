/* Private: the native random forest ("rf"). rf_tree.c bins the features and grows one CART
 * tree; rf.c holds the forest (the classifier ops, out-of-bag accuracy, importances, files).
 * Declared here so that the tests can check the split search, the bootstrap masks and the
 * out-of-bag figure against direct recomputations.
 *
 * Binning. Each feature's training values are mapped to at most RF_MAX_BINS bins by
 * increasing edges: bin(x) = the number of edges below x, so "bin <= b" is exactly
 * "x <= edges[b]" and a split found on bins is applied to new floats by that comparison.
 *   - A feature with at most 256 distinct training values (8-bit pixels, 0/1 flags, the
 *     engineered shares on small images) gets one bin per value; the edge between two
 *     consecutive values is their midpoint (scikit-learn's thresholds), so no split that
 *     an exact CART could make is lost.
 *   - Other features (PCA scores, ...) get quantile bins: the sorted training values are
 *     cut at ranks j n / 256 (j = 1..255), each cut moved up past a run of equal values and
 *     placed at the midpoint to the next larger value; coinciding cuts merge. Each bin holds
 *     about n / 256 rows; a run of equal values never straddles two bins.
 */
#ifndef MLAUDIT_RF_IMPL_H
#define MLAUDIT_RF_IMPL_H

#include "classic/classifier_impl.h"

#include <stdint.h>

#define RF_MAX_BINS 256
#define RF_MAX_EDGES (RF_MAX_BINS - 1)

typedef struct {
    int n, d;
    uint8_t *bins;     /* d x n, feature-major: large nodes gather one feature from one column */
    uint8_t *row_bins; /* n x d, the same bins row-major: small nodes copy their rows from it */
    int16_t *n_edges;  /* per feature, 0..255 (0: constant on the training rows) */
    float *edges;      /* d x RF_MAX_EDGES, increasing within a feature */
    float *lo, *hi;    /* d x RF_MAX_BINS: the smallest and largest training value in each bin */
} rf_binned;

/* Bins n rows of d features (x row-major, finite). *out owns its arrays: rf_binned_free. */
mla_status rf_bin(const float *x, int n, int d, rf_binned *out);
void rf_binned_free(rf_binned *b);

/* What one tree is grown with (scikit-learn's meanings). */
typedef struct {
    int max_depth;        /* 0: unlimited; a node at this depth (root: 0) is a leaf */
    int min_samples_leaf; /* distinct in-bag rows each child must keep, >= 1 */
    int max_features;     /* features drawn per node, 1..d (see rf_best_split) */
    int classes;
} rf_settings;

typedef struct {
    int32_t feature;     /* -1 for a leaf */
    float threshold;     /* rows with x[feature] <= threshold go left */
    int32_t left, right; /* children (always after the node: no cycles); a leaf: left = its leaf row */
} rf_node;

typedef struct {
    rf_node *nodes;      /* node 0 is the root */
    int n_nodes, n_leaves;
    float *leaf_proba;   /* n_leaves x classes: the leaf's bootstrap-weighted class shares */
} rf_tree;

void rf_tree_free(rf_tree *t);
/* The class shares (classes floats, borrowed) of the leaf that row x falls into. */
const float *rf_tree_leaf(const rf_tree *t, const float *x, int classes);
/* The leaf rows (indices into leaf_proba's rows) of rows x + rows[i] * d, i < count, into leaf:
 * rf_tree_leaf's walks, RF_WALKS of them interleaved. */
enum { RF_WALKS = 8 };
void rf_tree_leaves(const rf_tree *t, const float *x, int d, const int32_t *rows, int count, int32_t *leaf);

/* One in-bag row of a node: index, label, bootstrap count. Nodes own contiguous runs of
 * the work array, partitioned in place as the tree grows. */
typedef struct {
    int32_t row, y, w;
} rf_item;

/* Scratch for growing trees on n rows of d features; one per thread. */
typedef struct rf_work rf_work;
rf_work *rf_work_create(int n, int d, int classes);
void rf_work_free(rf_work *w);

/* The best split of a node's items[0..m) over feature f: the bin b maximising
 * sum_L^2 / W_L + sum_R^2 / W_R (the weighted Gini decrease plus a constant), among the
 * boundaries leaving at least min_samples_leaf items on each side; the first such b wins
 * ties. Returns 0 when f is constant on the node (one non-empty bin), 1 otherwise; *best is
 * replaced only by a strictly better split. decrease = W gini - W_L gini_L - W_R gini_R with
 * W the bootstrap-weighted counts. The threshold lies halfway between the node's values on
 * either side (scikit-learn's: hi of bin b and lo of the next non-empty bin), so rows of the
 * bins between, which the node does not hold, are shared out as an exact CART would. */
typedef struct {
    int feature, bin;    /* -1 when none */
    float threshold;     /* x <= threshold goes left: exactly bin <= b for the node's rows */
    double proxy, decrease;
} rf_split;
int rf_split_feature(const rf_binned *data, const rf_item *items, int m, int f, int min_samples_leaf, int classes,
                     rf_work *w, rf_split *best);

/* Gini impurity 1 - sum_k (c_k / W)^2 of weighted class counts (0 when W is 0). */
double rf_gini(const int64_t *counts, int classes);

/* Bootstrap counts of tree `tree` of a forest seeded `seed`: n draws with replacement
 * into weight[0..n); the rng is left ready for the tree's feature draws. */
void rf_bootstrap(uint64_t seed, int tree, int n, int32_t *weight, mla_rng *rng);

/* Grows one tree on the rows with weight > 0. Candidate features per node, as scikit-learn:
 * features are drawn without replacement and evaluated until max_features have been drawn
 * and at least one of them was not constant on the node (or every feature was drawn).
 * importance (d doubles) gains each split's decrease. */
mla_status rf_grow(const rf_binned *data, const int32_t *y, const int32_t *weight, const rf_settings *s, mla_rng *rng,
                   rf_work *w, rf_tree *tree, double *importance);

/* ---- the forest (rf.c) ---- */
enum { RF_TREES, RF_MAX_DEPTH, RF_MIN_LEAF, RF_MAX_FEATURES, RF_N_PARAMS };

typedef struct {
    double v[RF_N_PARAMS]; /* trees, max_depth (0: none), min_samples_leaf, max_features (0: sqrt d) */
    uint64_t seed;
    int d, classes, n_trees; /* 0 until fitted */
    rf_tree *trees;
    double *importance;      /* d, summing to 1 (all 0 when no tree has a split) */
    double oob_accuracy;     /* NaN when no row was ever out of bag */
    int n_train;             /* rows the masks cover; 0 after load */
    uint64_t *inbag;         /* n_trees x ceil(n_train / 64) bits: row i in tree t's sample; NULL after load */
} rf_forest;

static inline int rf_inbag(const rf_forest *f, int t, int i) {
    size_t words = ((size_t)f->n_train + 63) / 64;
    return (int)((f->inbag[(size_t)t * words + (size_t)i / 64] >> (i % 64)) & 1u);
}

#endif
