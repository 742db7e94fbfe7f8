/* The kNN classifier (kind "knn") on the exact search of knn.h.
 *
 * Hyperparameters: k (neighbours, 1..1000, default 5) and metric (0 Euclidean,
 * 1 cosine; default 0). The predicted label is the majority among the k neighbours;
 * a tie between classes goes to the class whose tied neighbours have the smaller
 * summed distance, then to the smaller label. Probabilities are the vote shares.
 * Saved state: k, metric, n, the n x d training rows and their labels.
 */
#include "classifier_impl.h"
#include "mlaudit/knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KNN_MAX_K 1000
#define KNN_CHUNK 4096 /* queries per search call: bounds the neighbour buffers */

typedef struct {
    int k;
    mla_knn_metric metric;
    int classes;
    mla_knn_index *index;
    int32_t *labels;
} knn_state;

static const char *const knn_params[] = {"k", "metric", NULL};

static void knn_free(void *p) {
    knn_state *s = p;
    if (!s) return;
    mla_knn_index_free(s->index);
    free(s->labels);
    free(s);
}

static mla_status check_settings(double k, double metric) {
    if (k != floor(k) || k < 1 || k > KNN_MAX_K)
        return mla_error(MLA_ERR_INVALID, "knn: k must be an integer between 1 and %d, got %g", KNN_MAX_K, k);
    if (metric != 0 && metric != 1)
        return mla_error(MLA_ERR_INVALID, "knn: metric must be 0 (euclidean) or 1 (cosine), got %g", metric);
    return MLA_OK;
}

static mla_status knn_create(const mla_param *params, int n_params, uint64_t seed, void **out) {
    (void)seed; /* kNN draws no random numbers */
    double k = 5, metric = 0;
    for (int i = 0; i < n_params; i++) {
        if (!strcmp(params[i].name, "k")) k = params[i].value;
        if (!strcmp(params[i].name, "metric")) metric = params[i].value;
    }
    mla_status st = check_settings(k, metric);
    if (st != MLA_OK) return st;
    knn_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    s->k = (int)k;
    s->metric = (mla_knn_metric)metric;
    *out = s;
    return MLA_OK;
}

static mla_status knn_fit(void *p, const float *x, const int32_t *y, int n, int d, int classes) {
    knn_state *s = p;
    if (s->k > n)
        return mla_error(MLA_ERR_INVALID, "knn: k=%d is larger than the training set (%d rows)", s->k, n);
    mla_knn_index *ix = NULL;
    int32_t *labels = mla_alloc((size_t)n, sizeof *labels);
    if (!labels) return MLA_ERR_NOMEM;
    mla_status st = mla_knn_index_create(x, n, d, s->metric, &ix);
    if (st != MLA_OK) {
        free(labels);
        return st;
    }
    memcpy(labels, y, (size_t)n * sizeof *labels);
    mla_knn_index_free(s->index);
    free(s->labels);
    s->index = ix;
    s->labels = labels;
    s->classes = classes;
    return MLA_OK;
}

/* The vote of one query's neighbours: counts per class and the winner (tie rule above). */
static int32_t vote(const knn_state *s, const int32_t *nb, const float *dist, int *counts, double *sums) {
    for (int c = 0; c < s->classes; c++) counts[c] = 0, sums[c] = 0;
    for (int j = 0; j < s->k; j++) {
        int32_t c = s->labels[nb[j]];
        counts[c]++;
        sums[c] += dist[j];
    }
    int32_t best = 0;
    for (int32_t c = 1; c < s->classes; c++)
        if (counts[c] > counts[best] || (counts[c] == counts[best] && sums[c] < sums[best])) best = c;
    return best;
}

/* Runs the search chunk by chunk; writes labels and/or probabilities. */
static mla_status knn_classify(const knn_state *s, const float *x, int n, int d, int32_t *labels, float *proba) {
    int chunk = n < KNN_CHUNK ? n : KNN_CHUNK;
    int32_t *nb = mla_alloc((size_t)chunk * s->k, sizeof *nb);
    float *dist = mla_alloc((size_t)chunk * s->k, sizeof *dist);
    int *counts = mla_alloc((size_t)s->classes, sizeof *counts);
    double *sums = mla_alloc((size_t)s->classes, sizeof *sums);
    mla_status st = nb && dist && counts && sums ? MLA_OK : MLA_ERR_NOMEM;
    for (int first = 0; st == MLA_OK && first < n; first += chunk) {
        int m = n - first < chunk ? n - first : chunk;
        st = mla_knn_search(s->index, x + (size_t)first * d, m, s->k, nb, dist);
        for (int i = 0; st == MLA_OK && i < m; i++) {
            int32_t winner = vote(s, nb + (size_t)i * s->k, dist + (size_t)i * s->k, counts, sums);
            if (labels) labels[first + i] = winner;
            for (int c = 0; proba && c < s->classes; c++)
                proba[(size_t)(first + i) * s->classes + c] = (float)counts[c] / (float)s->k;
        }
    }
    free(nb);
    free(dist);
    free(counts);
    free(sums);
    return st;
}

static mla_status knn_predict_proba(const void *p, const float *x, int n, int d, int classes, float *proba) {
    (void)classes;
    return knn_classify(p, x, n, d, NULL, proba);
}

static mla_status knn_predict(const void *p, const float *x, int n, int d, int classes, int32_t *labels) {
    (void)classes;
    return knn_classify(p, x, n, d, labels, NULL);
}

static mla_status knn_save(const void *p, FILE *fp) {
    const knn_state *s = p;
    int32_t head[3] = {s->k, (int32_t)s->metric, mla_knn_index_count(s->index)};
    size_t n = (size_t)head[2], d = (size_t)mla_knn_index_dim(s->index);
    if (fwrite(head, sizeof head, 1, fp) != 1 || fwrite(mla_knn_index_rows(s->index), sizeof(float), n * d, fp) != n * d ||
        fwrite(s->labels, sizeof(int32_t), n, fp) != n)
        return mla_error(MLA_ERR_IO, "knn: write failed");
    return MLA_OK;
}

/* Reads the saved rows and labels after the head (k, metric, n) has been validated. */
static mla_status read_rows(FILE *fp, int n, int d, int classes, float **x, int32_t **y) {
    *x = mla_alloc((size_t)n * d, sizeof(float));
    *y = mla_alloc((size_t)n, sizeof(int32_t));
    if (!*x || !*y) return MLA_ERR_NOMEM;
    if (fread(*x, sizeof(float), (size_t)n * d, fp) != (size_t)n * d || fread(*y, sizeof(int32_t), (size_t)n, fp) != (size_t)n)
        return mla_error(MLA_ERR_FORMAT, "knn: truncated model (expected %d rows of %d features)", n, d);
    for (int i = 0; i < n; i++)
        if ((*y)[i] < 0 || (*y)[i] >= classes)
            return mla_error(MLA_ERR_FORMAT, "knn: label %d of row %d outside [0, %d)", (*y)[i], i, classes);
    return MLA_OK;
}

static mla_status knn_load(FILE *fp, int d, int classes, void **out) {
    int32_t head[3];
    if (fread(head, sizeof head, 1, fp) != 1) return mla_error(MLA_ERR_FORMAT, "knn: truncated model header");
    mla_status st = check_settings(head[0], head[1]);
    if (st != MLA_OK) return mla_error_prefix(st, "corrupt model");
    if (head[2] < head[0] || head[2] > 100000000)
        return mla_error(MLA_ERR_FORMAT, "knn: corrupt model: %d rows for k=%d", head[2], head[0]);
    float *x = NULL;
    int32_t *y = NULL;
    knn_state *s = mla_alloc(1, sizeof *s);
    st = s ? read_rows(fp, head[2], d, classes, &x, &y) : MLA_ERR_NOMEM;
    if (st == MLA_OK) {
        *s = (knn_state){.k = head[0], .metric = (mla_knn_metric)head[1], .classes = classes, .labels = y};
        y = NULL;
        st = mla_knn_index_create(x, head[2], d, s->metric, &s->index);
        if (st != MLA_OK) mla_error_prefix(st, "knn: corrupt model");
    }
    free(x);
    free(y);
    if (st != MLA_OK) {
        knn_free(s);
        return st;
    }
    *out = s;
    return MLA_OK;
}

const mla_classifier_ops mla_knn_ops = {
    .kind = "knn",
    .param_names = knn_params,
    .create = knn_create,
    .fit = knn_fit,
    .predict_proba = knn_predict_proba,
    .predict = knn_predict,
    .save = knn_save,
    .load = knn_load,
    .free = knn_free,
};
