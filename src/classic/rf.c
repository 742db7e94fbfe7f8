/* Random forest ("rf"), native: scikit-learn's RandomForestClassifier on binned features.
 *
 * `trees` CART trees (Gini impurity), each grown on a bootstrap sample (n draws with
 * replacement; the counts weigh the rows) with max_features candidate features drawn per
 * node, split by a histogram scan over the binned values (rf_impl.h: exact for features with
 * at most 256 values such as 8-bit pixels, quantile bins otherwise), no pruning.
 * Probabilities are the mean over trees of the leaf's bootstrap-weighted class shares.
 * Parameters (scikit-learn's defaults): trees (100), max_depth (0 = unlimited),
 * min_samples_leaf (1), max_features (0 = floor(sqrt(d)), else a count in [1, d]).
 *
 * Reproducibility: tree t draws from the model seed's sub-stream t (rf_bootstrap), so the
 * forest is the same bits for any thread count; trees are grown in parallel over
 * mla_get_threads() threads.
 * Figures of the fit: out-of-bag accuracy (each training row scored by the mean of the
 * trees whose sample left it out; rows in every sample are skipped) and feature
 * importances (scikit-learn's: each tree's impurity decreases per feature, normalised to
 * sum 1, averaged over the trees that split, normalised again).
 */
#include "classic/rf_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const rf_param_names[] = {"trees", "max_depth", "min_samples_leaf", "max_features", NULL};

static int is_whole(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

static mla_status check_params(const double *v) {
    if (!is_whole(v[RF_TREES], 1, 100000))
        return mla_error(MLA_ERR_INVALID, "rf: trees must be a whole number in [1, 100000] (got %g)", v[RF_TREES]);
    if (!is_whole(v[RF_MAX_DEPTH], 0, 100000))
        return mla_error(MLA_ERR_INVALID, "rf: max_depth must be a whole number >= 0, 0 for unlimited (got %g)",
                         v[RF_MAX_DEPTH]);
    if (!is_whole(v[RF_MIN_LEAF], 1, 1e9))
        return mla_error(MLA_ERR_INVALID, "rf: min_samples_leaf must be a whole number >= 1 (got %g)", v[RF_MIN_LEAF]);
    if (!is_whole(v[RF_MAX_FEATURES], 0, 1e8))
        return mla_error(MLA_ERR_INVALID, "rf: max_features must be a whole number >= 1, 0 for sqrt(features) (got %g)",
                         v[RF_MAX_FEATURES]);
    return MLA_OK;
}

static mla_status rf_create(const mla_param *params, int n_params, uint64_t seed, void **state) {
    *state = NULL;
    double v[RF_N_PARAMS] = {100, 0, 1, 0};
    mla_status st = mla_classic_read_params("rf", rf_param_names, params, n_params, v, NULL);
    if (st || (st = check_params(v))) return st;
    rf_forest *f = mla_alloc(1, sizeof *f);
    if (!f) return MLA_ERR_NOMEM;
    memcpy(f->v, v, sizeof v);
    f->seed = seed;
    *state = f;
    return MLA_OK;
}

/* Drops the fitted part (trees, figures, masks), keeping the parameters. */
static void clear_fit(rf_forest *f) {
    for (int t = 0; f->trees && t < f->n_trees; t++) rf_tree_free(&f->trees[t]);
    free(f->trees), free(f->importance), free(f->inbag);
    f->trees = NULL, f->importance = NULL, f->inbag = NULL;
    f->d = f->classes = f->n_trees = f->n_train = 0;
}

static void rf_free(void *state) {
    rf_forest *f = state;
    if (!f) return;
    clear_fit(f);
    free(f);
}

/* ---- fit ---- */

static int max_features_for(const double *v, int d) {
    int sqrt_d = (int)floor(sqrt((double)d));
    return v[RF_MAX_FEATURES] > 0 ? (int)v[RF_MAX_FEATURES] : (sqrt_d > 0 ? sqrt_d : 1);
}

/* Grows tree t into f->trees[t], its raw importances into imp (d), its sample into f->inbag. */
static mla_status grow_tree(rf_forest *f, const rf_binned *data, const int32_t *y, const rf_settings *s, int t,
                            int32_t *weight, rf_work *w, double *imp) {
    mla_rng rng;
    rf_bootstrap(f->seed, t, data->n, weight, &rng);
    size_t words = ((size_t)data->n + 63) / 64;
    uint64_t *mask = f->inbag + (size_t)t * words;
    for (int i = 0; i < data->n; i++)
        if (weight[i]) mask[i / 64] |= (uint64_t)1 << (i % 64);
    return rf_grow(data, y, weight, s, &rng, w, &f->trees[t], imp);
}

/* Every tree, in parallel; each thread keeps its own scratch. */
static mla_status grow_all(rf_forest *f, const rf_binned *data, const int32_t *y, const rf_settings *s, double *imp) {
    int failed = 0, n = data->n, d = data->d;
    #pragma omp parallel num_threads(mla_get_threads())
    {
        rf_work *w = rf_work_create(n, d, s->classes);
        int32_t *weight = malloc((size_t)n * sizeof *weight);
        #pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < f->n_trees; t++) {
            if (!w || !weight || grow_tree(f, data, y, s, t, weight, w, imp + (size_t)t * d) != MLA_OK) {
                #pragma omp atomic write
                failed = 1;
            }
        }
        rf_work_free(w);
        free(weight);
    }
    return failed ? mla_error(MLA_ERR_NOMEM, "rf: out of memory growing %d trees on %d rows", f->n_trees, n) : MLA_OK;
}

/* scikit-learn's feature_importances_ from the per-tree raw decreases (trees x d). */
static void combine_importances(rf_forest *f, const double *imp) {
    int d = f->d;
    memset(f->importance, 0, (size_t)d * sizeof *f->importance);
    for (int t = 0; t < f->n_trees; t++) {
        const double *row = imp + (size_t)t * d;
        double sum = 0;
        for (int j = 0; j < d; j++) sum += row[j];
        if (f->trees[t].n_nodes <= 1 || !(sum > 0)) continue;
        for (int j = 0; j < d; j++) f->importance[j] += row[j] / sum;
    }
    double total = 0;
    for (int j = 0; j < d; j++) total += f->importance[j];
    for (int j = 0; total > 0 && j < d; j++) f->importance[j] /= total;
}

/* The class with the largest score (the first on ties). */
static int argmax(const double *v, int classes) {
    int best = 0;
    for (int k = 1; k < classes; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

enum { PREDICT_BLOCK = 128 }; /* rows that walk one tree while it is in cache */

/* Adds tree t's class shares to acc (rows x classes) for the rows of x + first * d listed in
 * idx[0..count) (block-relative), walking them side by side (rf_tree_leaves). */
static void add_tree(const rf_forest *f, int t, const float *x, int first, const int32_t *idx, int count,
                     int32_t *leaf, double *acc) {
    int K = f->classes;
    rf_tree_leaves(&f->trees[t], x + (size_t)first * f->d, f->d, idx, count, leaf);
    for (int i = 0; i < count; i++) {
        const float *p = f->trees[t].leaf_proba + (size_t)leaf[i] * K;
        double *a = acc + (size_t)idx[i] * K;
        for (int k = 0; k < K; k++) a[k] += p[k];
    }
}

/* Out-of-bag accuracy into f->oob_accuracy: blocks of rows in parallel, each row summing its
 * trees in order (so the sums do not depend on the thread count). */
static mla_status oob_accuracy(rf_forest *f, const float *x, const int32_t *y, int n) {
    int K = f->classes, blocks = (n + PREDICT_BLOCK - 1) / PREDICT_BLOCK, failed = 0;
    long correct = 0, scored = 0;
    #pragma omp parallel num_threads(mla_get_threads()) reduction(+ : correct, scored)
    {
        double *acc = malloc((size_t)PREDICT_BLOCK * (size_t)K * sizeof *acc);
        int32_t *idx = malloc(PREDICT_BLOCK * sizeof *idx), *leaf = malloc(PREDICT_BLOCK * sizeof *leaf);
        int32_t *votes = malloc(PREDICT_BLOCK * sizeof *votes);
        if (!acc || !idx || !leaf || !votes) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int b = 0; b < blocks; b++) {
            if (!acc || !idx || !leaf || !votes) continue;
            int first = b * PREDICT_BLOCK, rows = n - first < PREDICT_BLOCK ? n - first : PREDICT_BLOCK;
            memset(acc, 0, (size_t)rows * K * sizeof *acc);
            memset(votes, 0, (size_t)rows * sizeof *votes);
            for (int t = 0; t < f->n_trees; t++) {
                int count = 0;
                for (int i = 0; i < rows; i++)
                    if (!rf_inbag(f, t, first + i)) idx[count++] = i, votes[i]++;
                add_tree(f, t, x, first, idx, count, leaf, acc);
            }
            for (int i = 0; i < rows; i++)
                if (votes[i]) scored++, correct += argmax(acc + (size_t)i * K, K) == y[first + i];
        }
        free(acc), free(idx), free(leaf), free(votes);
    }
    if (failed) return mla_error(MLA_ERR_NOMEM, "rf: out of memory scoring the out-of-bag rows");
    f->oob_accuracy = scored ? (double)correct / (double)scored : NAN;
    return MLA_OK;
}

static mla_status alloc_fit(rf_forest *f, int n, int d, int classes) {
    f->n_trees = (int)f->v[RF_TREES], f->d = d, f->classes = classes, f->n_train = n;
    f->trees = mla_alloc((size_t)f->n_trees, sizeof *f->trees);
    f->importance = mla_alloc((size_t)d, sizeof *f->importance);
    f->inbag = mla_alloc((size_t)f->n_trees * (((size_t)n + 63) / 64), sizeof *f->inbag);
    return f->trees && f->importance && f->inbag ? MLA_OK : MLA_ERR_NOMEM;
}

/* The ops are also called directly (tests, cv), so fit checks its input like the other kinds. */
static mla_status check_fit_input(const float *x, const int32_t *y, int n, int d, int classes) {
    if (n < 1 || d < 1 || classes < 2)
        return mla_error(MLA_ERR_SHAPE, "rf: need n >= 1, d >= 1, classes >= 2 (got %d, %d, %d)", n, d, classes);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "rf: label %d of row %d outside [0, %d)", y[i], i, classes);
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_INVALID, "rf: non-finite feature in row %zu", i / (size_t)d);
    return MLA_OK;
}

static mla_status rf_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes) {
    rf_forest *f = state;
    mla_status st = check_fit_input(x, y, n, d, classes);
    if (st) return st;
    int max_features = max_features_for(f->v, d);
    if (max_features > d)
        return mla_error(MLA_ERR_INVALID, "rf: max_features=%d is more than the %d features", max_features, d);
    rf_settings s = {(int)f->v[RF_MAX_DEPTH], (int)f->v[RF_MIN_LEAF], max_features, classes};
    clear_fit(f);
    rf_binned data;
    double *imp = NULL;
    st = alloc_fit(f, n, d, classes);
    if (!st) st = rf_bin(x, n, d, &data);
    else memset(&data, 0, sizeof data);
    if (!st && !(imp = mla_alloc((size_t)f->n_trees * (size_t)d, sizeof *imp))) st = MLA_ERR_NOMEM;
    if (!st) st = grow_all(f, &data, y, &s, imp);
    rf_binned_free(&data);
    if (!st) {
        combine_importances(f, imp);
        st = oob_accuracy(f, x, y, n);
    }
    free(imp);
    if (st) clear_fit(f);
    return st;
}

/* ---- predict ---- */

static mla_status rf_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba) {
    const rf_forest *f = state;
    if (!f->trees) return mla_error(MLA_ERR_INVALID, "rf: model is not fitted");
    if (d != f->d || classes != f->classes)
        return mla_error(MLA_ERR_SHAPE, "rf: model has %d features and %d classes, asked for %d and %d", f->d, f->classes,
                         d, classes);
    int blocks = (n + PREDICT_BLOCK - 1) / PREDICT_BLOCK, failed = 0;
    #pragma omp parallel num_threads(mla_get_threads())
    {
        double *acc = malloc((size_t)PREDICT_BLOCK * (size_t)classes * sizeof *acc);
        int32_t *idx = malloc(PREDICT_BLOCK * sizeof *idx), *leaf = malloc(PREDICT_BLOCK * sizeof *leaf);
        if (!acc || !idx || !leaf) {
            #pragma omp atomic write
            failed = 1;
        }
        for (int i = 0; idx && i < PREDICT_BLOCK; i++) idx[i] = i;
        #pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < blocks; b++) {
            if (!acc || !idx || !leaf) continue;
            int first = b * PREDICT_BLOCK, rows = n - first < PREDICT_BLOCK ? n - first : PREDICT_BLOCK;
            memset(acc, 0, (size_t)rows * classes * sizeof *acc);
            for (int t = 0; t < f->n_trees; t++) add_tree(f, t, x, first, idx, rows, leaf, acc);
            for (size_t j = 0; j < (size_t)rows * classes; j++)
                proba[(size_t)first * classes + j] = (float)(acc[j] / f->n_trees);
        }
        free(acc), free(idx), free(leaf);
    }
    return failed ? mla_error(MLA_ERR_NOMEM, "rf: out of memory predicting") : MLA_OK;
}

static mla_status rf_importances(const void *state, double *out) {
    const rf_forest *f = state;
    if (!f->importance) return mla_error(MLA_ERR_INVALID, "rf: model is not fitted");
    memcpy(out, f->importance, (size_t)f->d * sizeof *out);
    return MLA_OK;
}

static mla_status rf_oob(const void *state, double *accuracy) {
    const rf_forest *f = state;
    if (!f->trees) return mla_error(MLA_ERR_INVALID, "rf: model is not fitted");
    *accuracy = f->oob_accuracy;
    return MLA_OK;
}

/* ---- save / load ----
 * Stream (native byte order): u32 version; f64 v[RF_N_PARAMS]; u64 seed; i32 trees;
 * f64 oob_accuracy; f64 importance[d]; then per tree: i32 n_nodes, i32 n_leaves,
 * n_nodes x (i32 feature, f32 threshold, i32 left, i32 right), f32 leaf_proba[n_leaves x classes]. */

#define RF_STREAM_VERSION 1u
#define RF_MAX_NODES (1 << 30)

static mla_status put(FILE *fp, const void *p, size_t size, size_t count) {
    if (count && fwrite(p, size, count, fp) != count) return mla_error(MLA_ERR_IO, "rf: write failed");
    return MLA_OK;
}

static mla_status get(FILE *fp, void *p, size_t size, size_t count, const char *what) {
    if (count && fread(p, size, count, fp) != count) return mla_error(MLA_ERR_FORMAT, "rf model: truncated while reading %s", what);
    return MLA_OK;
}

static mla_status save_tree(const rf_tree *t, int classes, FILE *fp) {
    int32_t head[2] = {t->n_nodes, t->n_leaves};
    mla_status st = put(fp, head, 4, 2);
    for (int i = 0; !st && i < t->n_nodes; i++) {
        const rf_node *nd = &t->nodes[i];
        if ((st = put(fp, &nd->feature, 4, 1)) || (st = put(fp, &nd->threshold, 4, 1)) || (st = put(fp, &nd->left, 4, 1)))
            break;
        st = put(fp, &nd->right, 4, 1);
    }
    return st ? st : put(fp, t->leaf_proba, 4, (size_t)t->n_leaves * classes);
}

static mla_status rf_save(const void *state, FILE *fp) {
    const rf_forest *f = state;
    if (!f->trees) return mla_error(MLA_ERR_INVALID, "rf: model is not fitted");
    uint32_t version = RF_STREAM_VERSION;
    int32_t trees = f->n_trees;
    mla_status st;
    if ((st = put(fp, &version, 4, 1)) || (st = put(fp, f->v, 8, RF_N_PARAMS)) || (st = put(fp, &f->seed, 8, 1)) ||
        (st = put(fp, &trees, 4, 1)) || (st = put(fp, &f->oob_accuracy, 8, 1)) || (st = put(fp, f->importance, 8, f->d)))
        return st;
    for (int t = 0; t < f->n_trees && !st; t++) st = save_tree(&f->trees[t], f->classes, fp);
    return st;
}

/* Every node points forward (children after their parent) and inside the tree, every
 * feature inside [0, d): walks of a loaded tree end and stay in bounds. */
static mla_status check_tree(const rf_tree *t, int d, int classes) {
    for (int i = 0; i < t->n_nodes; i++) {
        const rf_node *nd = &t->nodes[i];
        int ok = nd->feature < 0 ? nd->feature == -1 && nd->left >= 0 && nd->left < t->n_leaves
                                 : nd->feature < d && isfinite(nd->threshold) && nd->left > i && nd->left < t->n_nodes &&
                                       nd->right > i && nd->right < t->n_nodes;
        if (!ok) return mla_error(MLA_ERR_FORMAT, "rf model: corrupt node %d", i);
    }
    for (size_t j = 0; j < (size_t)t->n_leaves * classes; j++)
        if (!(t->leaf_proba[j] >= 0 && t->leaf_proba[j] <= 1)) return mla_error(MLA_ERR_FORMAT, "rf model: corrupt leaf");
    return MLA_OK;
}

static mla_status load_tree(FILE *fp, int d, int classes, rf_tree *t) {
    int32_t head[2];
    mla_status st = get(fp, head, 4, 2, "a tree header");
    if (st) return st;
    if (head[0] < 1 || head[0] > RF_MAX_NODES || head[1] < 1 || head[1] > head[0])
        return mla_error(MLA_ERR_FORMAT, "rf model: corrupt tree header (%d nodes, %d leaves)", head[0], head[1]);
    t->n_nodes = head[0], t->n_leaves = head[1];
    t->nodes = mla_alloc((size_t)t->n_nodes, sizeof *t->nodes);
    t->leaf_proba = mla_alloc((size_t)t->n_leaves * (size_t)classes, sizeof *t->leaf_proba);
    if (!t->nodes || !t->leaf_proba) return MLA_ERR_NOMEM;
    for (int i = 0; !st && i < t->n_nodes; i++) {
        rf_node *nd = &t->nodes[i];
        if ((st = get(fp, &nd->feature, 4, 1, "nodes")) || (st = get(fp, &nd->threshold, 4, 1, "nodes")) ||
            (st = get(fp, &nd->left, 4, 1, "nodes")))
            break;
        st = get(fp, &nd->right, 4, 1, "nodes");
    }
    if (!st) st = get(fp, t->leaf_proba, 4, (size_t)t->n_leaves * classes, "leaves");
    return st ? st : check_tree(t, d, classes);
}

static mla_status load_body(FILE *fp, rf_forest *f) {
    uint32_t version = 0;
    int32_t trees = 0;
    mla_status st = get(fp, &version, 4, 1, "version");
    if (!st && version != RF_STREAM_VERSION) st = mla_error(MLA_ERR_FORMAT, "rf model: unknown version %u", version);
    if (!st) st = get(fp, f->v, 8, RF_N_PARAMS, "parameters");
    if (!st && check_params(f->v)) st = mla_error(MLA_ERR_FORMAT, "rf model: corrupt parameters");
    if (!st) st = get(fp, &f->seed, 8, 1, "seed");
    if (!st) st = get(fp, &trees, 4, 1, "tree count");
    if (!st && trees != (int32_t)f->v[RF_TREES]) st = mla_error(MLA_ERR_FORMAT, "rf model: corrupt tree count %d", trees);
    if (st) return st;
    f->n_trees = trees;
    f->trees = mla_alloc((size_t)trees, sizeof *f->trees);
    f->importance = mla_alloc((size_t)f->d, sizeof *f->importance);
    if (!f->trees || !f->importance) return MLA_ERR_NOMEM;
    if ((st = get(fp, &f->oob_accuracy, 8, 1, "oob accuracy")) || (st = get(fp, f->importance, 8, f->d, "importances")))
        return st;
    for (int t = 0; t < trees && !st; t++) st = load_tree(fp, f->d, f->classes, &f->trees[t]);
    return st;
}

static mla_status rf_load(FILE *fp, int d, int classes, void **state) {
    *state = NULL;
    rf_forest *f = mla_alloc(1, sizeof *f);
    if (!f) return MLA_ERR_NOMEM;
    f->d = d, f->classes = classes;
    mla_status st = load_body(fp, f);
    if (st) {
        rf_free(f);
        return st;
    }
    *state = f;
    return MLA_OK;
}

const mla_classifier_ops mla_rf_ops = {
    .kind = "rf",
    .param_names = rf_param_names,
    .create = rf_create,
    .fit = rf_fit,
    .predict_proba = rf_predict_proba,
    .predict = NULL,
    .save = rf_save,
    .load = rf_load,
    .free = rf_free,
    .importances = rf_importances,
    .oob_accuracy = rf_oob,
};
