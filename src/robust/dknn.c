/* kNN and Deep kNN over a net's layer features (definitions in robust.h). Neighbours
 * come from the exact kNN index of src/classic (knn.h), one index per layer, built on the
 * transformed training features; queries get the same transform chunk by chunk, so
 * memory stays at one chunk of transformed queries per layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/knn.h"
#include "mlaudit/robust.h"

/* Queries transformed and searched per chunk. */
#define QUERY_CHUNK 1024

typedef struct {
    int dim;             /* raw feature count */
    int kept;            /* after trim_zeros (= dim without it) */
    int32_t *cols;       /* trim_zeros: the kept columns; NULL: all */
    float *center;       /* center: kept values; NULL: none */
    mla_knn_index *ix;
} dknn_layer;

struct mla_dknn {
    int n_layers, n, classes;
    mla_dknn_options opt;
    dknn_layer *layers;
    int32_t *labels;     /* n training labels */
    int *calib;          /* sorted calibration scores (ascending) */
    int n_calib;
};

mla_dknn_options mla_dknn_defaults(void) { return (mla_dknn_options){.k = 75}; }

int mla_dknn_layers(const mla_dknn *d) { return d->n_layers; }

/* ---- features from a net ---- */

/* "unknown layer 'x' (layers: input, conv1, relu1, ...)" */
static mla_status unknown_layer(const mla_net *net, const char *name) {
    char list[1024] = "input";
    for (int i = 0; mla_net_layer_name(net, i); i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, ", %s", mla_net_layer_name(net, i));
    }
    return mla_error(MLA_ERR_INVALID, "unknown layer '%s' (layers: %s)", name, list);
}

static bool has_layer(const mla_net *net, const char *name) {
    if (!strcmp(name, "input")) return true;
    for (int i = 0; mla_net_layer_name(net, i); i++)
        if (!strcmp(mla_net_layer_name(net, i), name)) return true;
    return false;
}

mla_status mla_net_layer_features(mla_net *net, const float *x, int n, const char *const *layers, int n_layers,
                                  int batch, float **feats, int *dims) {
    for (int l = 0; l < n_layers; l++) feats[l] = NULL;
    for (int l = 0; l < n_layers; l++)
        if (!has_layer(net, layers[l]) && !strchr(layers[l], '.')) return unknown_layer(net, layers[l]);
    if (n < 1 || batch < 1) return mla_error(MLA_ERR_INVALID, "features: need n >= 1 and batch >= 1");
    bool keep = mla_net_keep_activations(net);
    mla_net_set_keep_activations(net, true);
    size_t in = (size_t)mla_shape_size(mla_net_input_shape(net));
    mla_status s = MLA_OK;
    for (int first = 0; !s && first < n; first += batch) {
        int len = n - first < batch ? n - first : batch;
        const float *out, *act;
        mla_shape sh;
        int got;
        s = mla_net_forward(net, x + (size_t)first * in, len, false, &out);
        for (int l = 0; !s && l < n_layers; l++) {
            if ((s = mla_net_activation(net, layers[l], &act, &sh, &got))) break;
            dims[l] = mla_shape_size(sh);
            /* the kNN index's row buffer: an untransformed layer's index adopts it as it is */
            if (!feats[l] && !(feats[l] = mla_knn_alloc_rows(n, dims[l]))) s = MLA_ERR_NOMEM;
            else memcpy(feats[l] + (size_t)first * dims[l], act, (size_t)len * dims[l] * sizeof(float));
        }
    }
    mla_net_set_keep_activations(net, keep);
    if (s)
        for (int l = 0; l < n_layers; l++) free(feats[l]), feats[l] = NULL;
    return s;
}

/* ---- the transform ---- */

/* out (m x kept) = the transformed rows of raw (m x dim): kept columns, L2-normalised
 * (a zero row stays zero), then centred. */
static void transform(const mla_dknn *d, const dknn_layer *L, const float *raw, int m, float *out) {
    for (int i = 0; i < m; i++) {
        const float *r = raw + (size_t)i * L->dim;
        float *o = out + (size_t)i * L->kept;
        for (int j = 0; j < L->kept; j++) o[j] = r[L->cols ? L->cols[j] : j];
        if (d->opt.normalize) {
            double sq = 0;
            for (int j = 0; j < L->kept; j++) sq += (double)o[j] * o[j];
            double inv = sq > 0 ? 1.0 / sqrt(sq) : 0.0;
            for (int j = 0; j < L->kept; j++) o[j] = (float)(o[j] * inv);
        }
        if (L->center)
            for (int j = 0; j < L->kept; j++) o[j] -= L->center[j];
    }
}

/* The columns that are non-zero for some training row (trim_zeros). */
static mla_status trim_columns(dknn_layer *L, const float *x, int n) {
    L->cols = mla_alloc((size_t)L->dim, sizeof(int32_t));
    if (!L->cols) return MLA_ERR_NOMEM;
    L->kept = 0;
    for (int j = 0; j < L->dim; j++)
        for (int i = 0; i < n; i++)
            if (x[(size_t)i * L->dim + j] != 0) {
                L->cols[L->kept++] = j;
                break;
            }
    if (!L->kept) return mla_error(MLA_ERR_INVALID, "trim_zeros: every feature of the layer is zero");
    return MLA_OK;
}

/* Whether a layer's features go to the index as they are (no transform): then neither
 * the training features nor the queries are copied first (relu1 of the dknn preset on
 * all of MNIST is 3 GB). */
static bool untransformed(const mla_dknn *d, const dknn_layer *L) {
    return !d->opt.normalize && !L->center && !L->cols;
}

/* *own, if given, is x itself, handed over: an untransformed layer's index adopts it
 * (*own set to NULL), otherwise the caller frees it. */
static mla_status build_layer(mla_dknn *d, dknn_layer *L, const float *x, int dim, float **own) {
    int n = d->n;
    L->dim = L->kept = dim;
    if (!d->opt.trim_zeros && !d->opt.normalize && !d->opt.center) {
        if (!own) return mla_knn_index_create(x, n, dim, MLA_KNN_EUCLIDEAN, &L->ix);
        mla_status s = mla_knn_index_adopt(*own, n, dim, MLA_KNN_EUCLIDEAN, &L->ix);
        if (!s) *own = NULL;
        return s;
    }
    mla_status s = d->opt.trim_zeros ? trim_columns(L, x, n) : MLA_OK;
    float *t = s ? NULL : mla_alloc((size_t)n * L->kept, sizeof(float));
    if (!s && !t) s = MLA_ERR_NOMEM;
    if (!s) transform(d, L, x, n, t);
    if (!s && d->opt.center) {
        double *sum = mla_alloc((size_t)L->kept, sizeof(double));
        L->center = mla_alloc((size_t)L->kept, sizeof(float));
        if (!sum || !L->center) s = MLA_ERR_NOMEM;
        for (int i = 0; !s && i < n; i++)
            for (int j = 0; j < L->kept; j++) sum[j] += t[(size_t)i * L->kept + j];
        for (int j = 0; !s && j < L->kept; j++) L->center[j] = (float)(sum[j] / n);
        for (size_t i = 0; !s && i < (size_t)n; i++)
            for (int j = 0; j < L->kept; j++) t[i * L->kept + j] -= L->center[j];
        free(sum);
    }
    if (!s) s = mla_knn_index_create(t, n, L->kept, MLA_KNN_EUCLIDEAN, &L->ix);
    free(t);
    return s;
}

void mla_dknn_free(mla_dknn *d) {
    if (!d) return;
    for (int l = 0; d->layers && l < d->n_layers; l++) {
        free(d->layers[l].cols);
        free(d->layers[l].center);
        mla_knn_index_free(d->layers[l].ix);
    }
    free(d->layers);
    free(d->labels);
    free(d->calib);
    free(d);
}

/* Both creates; own: the features handed over (see robust.h), or NULL. */
static mla_status dknn_create(const float *const *feats, float **own, const int *dims, int n_layers,
                              const int32_t *labels, int n, int classes, const mla_dknn_options *opt, mla_dknn **out) {
    *out = NULL;
    if (n_layers < 1 || n < 1 || classes < 1) return mla_error(MLA_ERR_INVALID, "DkNN: need layers, samples, classes");
    if (opt->k < 1 || opt->k > n)
        return mla_error(MLA_ERR_INVALID, "k = %d must be in [1, %d] (the training set's size)", opt->k, n);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "DkNN: label %d outside [0, %d)", labels[i], classes);
    mla_dknn *d = mla_alloc(1, sizeof *d);
    if (!d) return MLA_ERR_NOMEM;
    *d = (mla_dknn){.n_layers = n_layers, .n = n, .classes = classes, .opt = *opt};
    d->layers = mla_alloc((size_t)n_layers, sizeof *d->layers);
    d->labels = mla_alloc((size_t)n, sizeof(int32_t));
    mla_status s = d->layers && d->labels ? MLA_OK : MLA_ERR_NOMEM;
    if (!s) memcpy(d->labels, labels, (size_t)n * sizeof(int32_t));
    for (int l = 0; !s && l < n_layers; l++) {
        s = build_layer(d, &d->layers[l], feats[l], dims[l], own ? &own[l] : NULL);
        if (own) free(own[l]), own[l] = NULL; /* a transformed layer's raw features: no longer needed */
    }
    if (s) {
        mla_dknn_free(d);
        return s;
    }
    *out = d;
    return MLA_OK;
}

mla_status mla_dknn_create(const float *const *feats, const int *dims, int n_layers, const int32_t *labels, int n,
                           int classes, const mla_dknn_options *opt, mla_dknn **out) {
    return dknn_create(feats, NULL, dims, n_layers, labels, n, classes, opt, out);
}

mla_status mla_dknn_create_owned(float **feats, const int *dims, int n_layers, const int32_t *labels, int n,
                                 int classes, const mla_dknn_options *opt, mla_dknn **out) {
    mla_status s = dknn_create((const float *const *)feats, feats, dims, n_layers, labels, n, classes, opt, out);
    for (int l = 0; l < n_layers; l++) free(feats[l]), feats[l] = NULL;
    return s;
}

/* ---- searches ---- */

mla_status mla_dknn_neighbors(const mla_dknn *d, const float *const *queries, int m, int32_t *labels_out,
                              int32_t *idx_out) {
    int L = d->n_layers, k = d->opt.k;
    int chunk = m < QUERY_CHUNK ? m : QUERY_CHUNK;
    int max_kept = 1;
    for (int l = 0; l < L; l++)
        if (!untransformed(d, &d->layers[l])) max_kept = d->layers[l].kept > max_kept ? d->layers[l].kept : max_kept;
    float *t = mla_alloc((size_t)chunk * max_kept, sizeof(float));
    int32_t *idx = mla_alloc((size_t)chunk * k, sizeof(int32_t));
    mla_status s = t && idx ? MLA_OK : MLA_ERR_NOMEM;
    for (int first = 0; !s && first < m; first += chunk) {
        int len = m - first < chunk ? m - first : chunk;
        for (int l = 0; !s && l < L; l++) {
            const dknn_layer *ly = &d->layers[l];
            const float *q = queries[l] + (size_t)first * ly->dim;
            if (!untransformed(d, ly)) transform(d, ly, q, len, t), q = t;
            if ((s = mla_knn_search(ly->ix, q, len, k, idx, NULL))) break;
            for (int i = 0; i < len; i++)
                for (int j = 0; j < k; j++) {
                    size_t at = ((size_t)(first + i) * L + l) * k + j;
                    int32_t r = idx[(size_t)i * k + j];
                    labels_out[at] = d->labels[r];
                    if (idx_out) idx_out[at] = r;
                }
        }
    }
    free(t);
    free(idx);
    return s;
}

/* Ties between classes go to the one whose nearest neighbour comes first: counting in
 * neighbour order (nearest first), a class takes the lead only with a strictly larger
 * count, so among equal counts the class seen first keeps it (Python's
 * Counter.most_common, the AdvKNN study's vote). Needs nb_labels nearest first. */
mla_status mla_knn_vote(const int32_t *nb_labels, int m, int k, int classes, int32_t *pred) {
    int *count = calloc((size_t)classes, sizeof(int));
    int *first = calloc((size_t)classes, sizeof(int));
    mla_status s = count && first ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; !s && i < m; i++) {
        const int32_t *nb = nb_labels + (size_t)i * k;
        memset(count, 0, (size_t)classes * sizeof(int));
        for (int j = 0; j < k; j++)
            if (count[nb[j]]++ == 0) first[nb[j]] = j;
        int b = nb[0];
        for (int c = 0; c < classes; c++)
            if (count[c] > count[b] || (count[c] == count[b] && count[c] && first[c] < first[b])) b = c;
        pred[i] = b;
    }
    free(first);
    free(count);
    return s;
}

/* count[c] = neighbours of query i, over all layers, labelled c; alpha_c = L k - count[c]. */
static void label_counts(const int32_t *nb, int i, int L, int k, int classes, int *count) {
    memset(count, 0, (size_t)classes * sizeof(int));
    for (size_t j = 0; j < (size_t)L * k; j++) count[nb[(size_t)i * L * k + j]]++;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

mla_status mla_dknn_calibrate(mla_dknn *d, const float *const *queries, const int32_t *labels, int m) {
    if (m < 1) return mla_error(MLA_ERR_INVALID, "DkNN: an empty calibration set");
    int L = d->n_layers, k = d->opt.k;
    int32_t *nb = mla_alloc((size_t)m * L * k, sizeof(int32_t));
    int *count = mla_alloc((size_t)d->classes, sizeof(int)), *calib = mla_alloc((size_t)m, sizeof(int));
    mla_status s = nb && count && calib ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; !s && i < m; i++)
        if (labels[i] < 0 || labels[i] >= d->classes)
            s = mla_error(MLA_ERR_INVALID, "DkNN calibration: label %d outside [0, %d)", labels[i], d->classes);
    if (!s) s = mla_dknn_neighbors(d, queries, m, nb, NULL);
    for (int i = 0; !s && i < m; i++) {
        label_counts(nb, i, L, k, d->classes, count);
        calib[i] = L * k - count[labels[i]];
    }
    if (!s) {
        qsort(calib, (size_t)m, sizeof(int), cmp_int);
        free(d->calib);
        d->calib = calib;
        d->n_calib = m;
        calib = NULL;
    }
    free(nb);
    free(count);
    free(calib);
    return s;
}

/* |{a in calib : a >= alpha}| / |calib|, calib sorted ascending. */
static float p_value(const mla_dknn *d, int alpha) {
    int lo = 0, hi = d->n_calib; /* first index with calib >= alpha */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (d->calib[mid] < alpha) lo = mid + 1;
        else hi = mid;
    }
    return (float)((double)(d->n_calib - lo) / d->n_calib);
}

mla_status mla_dknn_predict_from_neighbors(const mla_dknn *d, const int32_t *nb, int m, int32_t *pred,
                                           float *credibility, float *confidence, float *pvalues) {
    if (!d->calib) return mla_error(MLA_ERR_INVALID, "DkNN: predict before calibrate");
    int L = d->n_layers, k = d->opt.k, C = d->classes;
    int *count = mla_alloc((size_t)C, sizeof(int));
    float *p = mla_alloc((size_t)C, sizeof(float));
    mla_status s = count && p ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; !s && i < m; i++) {
        label_counts(nb, i, L, k, C, count);
        int best = 0;
        for (int c = 0; c < C; c++) {
            p[c] = p_value(d, L * k - count[c]);
            if (p[c] > p[best]) best = c;
        }
        float second = 0;
        for (int c = 0; c < C; c++)
            if (c != best && p[c] > second) second = p[c];
        if (pred) pred[i] = best;
        if (credibility) credibility[i] = p[best];
        if (confidence) confidence[i] = 1 - second;
        if (pvalues) memcpy(pvalues + (size_t)i * C, p, (size_t)C * sizeof(float));
    }
    free(count);
    free(p);
    return s;
}

mla_status mla_dknn_predict(const mla_dknn *d, const float *const *queries, int m, int32_t *pred, float *credibility,
                            float *confidence, float *pvalues) {
    if (!d->calib) return mla_error(MLA_ERR_INVALID, "DkNN: predict before calibrate");
    int32_t *nb = mla_alloc((size_t)m * d->n_layers * d->opt.k, sizeof(int32_t));
    if (!nb) return MLA_ERR_NOMEM;
    mla_status s = mla_dknn_neighbors(d, queries, m, nb, NULL);
    if (!s) s = mla_dknn_predict_from_neighbors(d, nb, m, pred, credibility, confidence, pvalues);
    free(nb);
    return s;
}

mla_status mla_dknn_calibration_indices(const int32_t *labels, int n, int classes, int per_class, uint64_t seed,
                                        int32_t *out) {
    if (per_class < 1 || classes < 1) return mla_error(MLA_ERR_INVALID, "calibration: need >= 1 sample a class");
    int32_t *perm = mla_alloc((size_t)n, sizeof(int32_t));
    int *taken = mla_alloc((size_t)classes, sizeof(int));
    if (!perm || !taken) {
        free(perm);
        free(taken);
        return MLA_ERR_NOMEM;
    }
    /* Every class must have enough samples before anything is written to out. */
    for (int i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < classes) taken[labels[i]]++;
    mla_status s = MLA_OK;
    for (int c = 0; c < classes && !s; c++)
        if (taken[c] < per_class)
            s = mla_error(MLA_ERR_INVALID, "calibration: class %d has %d samples, fewer than the %d asked for", c,
                          taken[c], per_class);
    if (!s) {
        mla_rng r;
        mla_rng_seed(&r, seed);
        mla_rng_permutation(&r, perm, n);
        memset(taken, 0, (size_t)classes * sizeof *taken);
        int got = 0;
        for (int i = 0; i < n; i++) {
            int c = labels[perm[i]];
            if (c >= 0 && c < classes && taken[c] < per_class) taken[c]++, out[got++] = perm[i];
        }
        qsort(out, (size_t)got, sizeof(int32_t), cmp_int);
    }
    free(perm);
    free(taken);
    return s;
}
