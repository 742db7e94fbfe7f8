/* The kNN baselines (anomaly.h): `knn`, the Euclidean distance from an image's pixels
 * to its k-th nearest normal training image, and `knn-ae`, the same in the latent
 * space of the autoencoder trained on those images. Both search the classic kNN index
 * (knn.h: exact neighbours, ties to the smaller row). The k-th distance, not the mean
 * of the k, is the score (for k = 1 they agree). */
#include "anomaly_impl.h"
#include "mlaudit/knn.h"

#include <stdlib.h>

#define KNN_CHUNK 1024 /* queries per search: bounds the query and neighbour buffers */

typedef struct {
    mla_knn_index *index;
    int k;
    anomaly_ae_model ae; /* knn-ae only: the features */
} knn_state;

static void knn_free(void *p) {
    knn_state *s = p;
    if (!s) return;
    mla_knn_index_free(s->index);
    anomaly_ae_model_free(&s->ae);
    free(s);
}

/* The rows a search sees: pixels, or the encoder's latent features. */
static float *features(knn_state *st, const mla_dataset *ds, const int32_t *idx, int n, int *dim, mla_status *s) {
    if (!st->ae.encoder) {
        *dim = mla_dataset_dim(ds);
        float *x = anomaly_gather(ds, idx, n);
        *s = x ? MLA_OK : MLA_ERR_NOMEM;
        return x;
    }
    *dim = st->ae.latent;
    float *z = mla_alloc((size_t)(n > 0 ? n : 1), (size_t)*dim * sizeof(float));
    *s = z ? anomaly_outputs(st->ae.encoder, ds, idx, n, z) : MLA_ERR_NOMEM;
    if (*s != MLA_OK) free(z), z = NULL;
    return z;
}

static mla_status fit_index(const char *name, const mla_anomaly_config *cfg, const mla_dataset *ds,
                            const int32_t *train, int n_train, int latent, void **state) {
    knn_state *st = mla_alloc(1, sizeof *st);
    if (!st) return MLA_ERR_NOMEM;
    st->k = cfg->k > 0 ? cfg->k : 1;
    mla_status s = MLA_OK;
    if (st->k > n_train)
        s = mla_error(MLA_ERR_INVALID, "%s: k = %d exceeds the %d normal training images", name, st->k, n_train);
    if (s == MLA_OK && latent) s = anomaly_ae_train(name, cfg, ds, train, n_train, 1, &st->ae);
    int dim = 0;
    float *x = s == MLA_OK ? features(st, ds, train, n_train, &dim, &s) : NULL;
    if (s == MLA_OK) s = mla_knn_index_create(x, n_train, dim, MLA_KNN_EUCLIDEAN, &st->index);
    free(x);
    if (s != MLA_OK) {
        knn_free(st);
        return s;
    }
    *state = st;
    return MLA_OK;
}

static mla_status knn_fit(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train, int n_train,
                          const int32_t *val, int n_val, void **state) {
    (void)val, (void)n_val;
    return fit_index("knn", cfg, ds, train, n_train, 0, state);
}

static mla_status knn_ae_fit(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train, int n_train,
                             const int32_t *val, int n_val, void **state) {
    (void)val, (void)n_val;
    return fit_index("knn-ae", cfg, ds, train, n_train, 1, state);
}

static mla_status knn_score(void *state, const mla_dataset *ds, const int32_t *idx, int n, double *scores,
                            double *terms) {
    (void)terms;
    knn_state *st = state;
    int32_t *nb = mla_alloc((size_t)KNN_CHUNK * st->k, sizeof *nb);
    float *dist = mla_alloc((size_t)KNN_CHUNK * st->k, sizeof *dist);
    mla_status s = nb && dist ? MLA_OK : MLA_ERR_NOMEM;
    for (int first = 0; s == MLA_OK && first < n; first += KNN_CHUNK) {
        int m = n - first < KNN_CHUNK ? n - first : KNN_CHUNK, dim = 0;
        float *q = features(st, ds, idx + first, m, &dim, &s);
        if (s == MLA_OK) s = mla_knn_search(st->index, q, m, st->k, nb, dist);
        for (int i = 0; s == MLA_OK && i < m; i++) scores[first + i] = dist[(size_t)i * st->k + st->k - 1];
        free(q);
    }
    free(nb);
    free(dist);
    return s;
}

const mla_anomaly_method mla_anomaly_knn = {
    .name = "knn",
    .summary = "distance to the k-th nearest normal training image, on pixels",
    .fit = knn_fit,
    .score = knn_score,
    .free = knn_free,
};

const mla_anomaly_method mla_anomaly_knn_ae = {
    .name = "knn-ae",
    .summary = "distance to the k-th nearest normal training image in the autoencoder's latent space",
    .fit = knn_ae_fit,
    .score = knn_score,
    .free = knn_free,
};
