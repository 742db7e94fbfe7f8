/* Sitawarin & Wagner's attack on DkNN (definitions in robust.h): targets and guides from
 * per-class exact kNN indexes at the selection layer, and an attack model whose outputs
 * are the guide layers' activations (one prefix net per layer, so the backward from each
 * layer's activations is that prefix's own) and whose objective pulls them toward the
 * guides' mean activations, computed chunk by chunk as the attack reaches them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/knn.h"
#include "mlaudit/robust.h"

struct mla_sw {
    mla_net *net;            /* borrowed: the guides' activations */
    int n_layers, total, n, guides, batch, dim;
    mla_net **pre;           /* per layer: the net up to it */
    int *dims, *offs;        /* per layer: size and column offset in the outputs */
    const char *const *layers;
    const float *ref_x;      /* borrowed reference images */
    int32_t *targets, *guide_idx;
    float *out;              /* forward outputs (cap x total) */
    float *dl, *dx;          /* backward scratch: one layer's dout, one prefix's dx */
    int cap, last_n;
    float *mu;               /* guide means of the cached chunk (n_cached x total) */
    long mu_first;
    int mu_n;
};

void mla_sw_free(mla_sw *s) {
    if (!s) return;
    for (int l = 0; s->pre && l < s->n_layers; l++) mla_net_free(s->pre[l]);
    free(s->pre), free(s->dims), free(s->offs), free(s->targets), free(s->guide_idx);
    free(s->out), free(s->dl), free(s->dx), free(s->mu);
    free(s);
}

const int32_t *mla_sw_targets(const mla_sw *s) { return s->targets; }
const int32_t *mla_sw_guides(const mla_sw *s) { return s->guide_idx; }

/* ---- targets and guides ---- */

/* Per class: the reference rows of that class (global indices) and an index over them. */
typedef struct {
    int32_t *rows;
    int count;
    mla_knn_index *ix;
} class_index;

static mla_status class_indexes(const float *sel, int d, const int32_t *y, int n, int classes, class_index *ci) {
    float *buf = mla_alloc((size_t)n * d, sizeof(float));
    if (!buf) return MLA_ERR_NOMEM;
    mla_status s = MLA_OK;
    for (int c = 0; !s && c < classes; c++) {
        ci[c].rows = mla_alloc((size_t)n, sizeof(int32_t));
        if (!ci[c].rows) s = MLA_ERR_NOMEM;
        for (int i = 0; !s && i < n; i++)
            if (y[i] == c) {
                memcpy(buf + (size_t)ci[c].count * d, sel + (size_t)i * d, (size_t)d * sizeof(float));
                ci[c].rows[ci[c].count++] = i;
            }
        if (!s && ci[c].count) s = mla_knn_index_create(buf, ci[c].count, d, MLA_KNN_EUCLIDEAN, &ci[c].ix);
    }
    free(buf);
    return s;
}

/* The target class of each query (nearest reference sample of another class; ties to the
 * smaller class), then its guides (the nearest of the target class). */
static mla_status choose_guides(mla_sw *s, const class_index *ci, int classes, const float *q, int d,
                                const int32_t *y) {
    int n = s->n, m = s->guides;
    float *best = mla_alloc((size_t)n, sizeof(float)), *dist = mla_alloc((size_t)n * m, sizeof(float));
    int32_t *idx = mla_alloc((size_t)n * m, sizeof(int32_t));
    mla_status st = best && dist && idx ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; !st && i < n; i++) best[i] = INFINITY, s->targets[i] = -1;
    for (int c = 0; !st && c < classes; c++) {
        if (!ci[c].count) continue;
        if ((st = mla_knn_search(ci[c].ix, q, n, 1, idx, dist))) break;
        for (int i = 0; i < n; i++)
            if (y[i] != c && dist[i] < best[i]) best[i] = dist[i], s->targets[i] = c;
    }
    for (int i = 0; !st && i < n; i++)
        if (s->targets[i] < 0) st = mla_error(MLA_ERR_INVALID, "SW attack: no reference sample of another class");
    for (int i = 0; !st && i < n; i++) { /* one query at a time: its own class's index */
        const class_index *c = &ci[s->targets[i]];
        if (c->count < m)
            st = mla_error(MLA_ERR_INVALID, "SW attack: class %d has %d reference samples, fewer than %d guides",
                           s->targets[i], c->count, m);
        else st = mla_knn_search(c->ix, q + (size_t)i * d, 1, m, idx, NULL);
        for (int j = 0; !st && j < m; j++) s->guide_idx[(size_t)i * m + j] = c->rows[idx[j]];
    }
    free(best), free(dist), free(idx);
    return st;
}

/* ---- the model ---- */

static mla_status grow(mla_sw *s, int n) {
    if (n <= s->cap) return MLA_OK;
    int maxd = 1;
    for (int l = 0; l < s->n_layers; l++) maxd = s->dims[l] > maxd ? s->dims[l] : maxd;
    free(s->out), free(s->dl), free(s->dx);
    s->out = mla_alloc((size_t)n * s->total, sizeof(float));
    s->dl = mla_alloc((size_t)n * maxd, sizeof(float));
    s->dx = mla_alloc((size_t)n * s->dim, sizeof(float));
    s->cap = s->out && s->dl && s->dx ? n : 0;
    return s->cap ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status sw_forward(void *user, const float *x, int n, const float **out) {
    mla_sw *s = user;
    mla_status st = grow(s, n);
    for (int l = 0; !st && l < s->n_layers; l++) {
        const float *f;
        if ((st = mla_net_forward(s->pre[l], x, n, false, &f))) break;
        for (int i = 0; i < n; i++)
            memcpy(s->out + (size_t)i * s->total + s->offs[l], f + (size_t)i * s->dims[l], (size_t)s->dims[l] * 4);
    }
    s->last_n = n;
    *out = s->out;
    return st;
}

/* dx = sum over layers of prefix_l's J^T dout_l. */
static mla_status sw_backward(void *user, const float *dout, float *dx) {
    mla_sw *s = user;
    int n = s->last_n;
    memset(dx, 0, (size_t)n * s->dim * sizeof(float));
    for (int l = 0; l < s->n_layers; l++) {
        for (int i = 0; i < n; i++)
            memcpy(s->dl + (size_t)i * s->dims[l], dout + (size_t)i * s->total + s->offs[l], (size_t)s->dims[l] * 4);
        bool frozen = mla_net_frozen(s->pre[l]);
        mla_net_set_frozen(s->pre[l], true);
        mla_status st = mla_net_backward(s->pre[l], s->dl, s->dx);
        mla_net_set_frozen(s->pre[l], frozen);
        if (st) return st;
        for (size_t j = 0; j < (size_t)n * s->dim; j++) dx[j] += s->dx[j];
    }
    return MLA_OK;
}

/* mu of samples first..first+n-1: each sample's guides through the net, averaged. */
static mla_status guide_means(mla_sw *s, long first, int n) {
    if (s->mu && s->mu_first == first && s->mu_n == n) return MLA_OK;
    if (first < 0 || first + n > s->n) return mla_error(MLA_ERR_INVALID, "SW attack: samples beyond the run");
    free(s->mu);
    s->mu = mla_alloc((size_t)n * s->total, sizeof(float));
    float *gx = mla_alloc((size_t)s->guides * s->dim, sizeof(float)), *feats[64] = {0};
    double *acc = mla_alloc((size_t)s->total, sizeof(double));
    mla_status st = s->mu && gx && acc ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; !st && i < n; i++) {
        const int32_t *g = s->guide_idx + (size_t)(first + i) * s->guides;
        for (int j = 0; j < s->guides; j++)
            memcpy(gx + (size_t)j * s->dim, s->ref_x + (size_t)g[j] * s->dim, (size_t)s->dim * sizeof(float));
        int dims[64];
        if ((st = mla_net_layer_features(s->net, gx, s->guides, s->layers, s->n_layers, s->batch, feats, dims))) break;
        memset(acc, 0, (size_t)s->total * sizeof(double));
        for (int l = 0; l < s->n_layers; l++) {
            for (int j = 0; j < s->guides; j++)
                for (int c = 0; c < s->dims[l]; c++) acc[s->offs[l] + c] += feats[l][(size_t)j * s->dims[l] + c];
            free(feats[l]), feats[l] = NULL;
        }
        for (int c = 0; c < s->total; c++) s->mu[(size_t)i * s->total + c] = (float)(acc[c] / s->guides);
    }
    free(gx), free(acc);
    s->mu_first = first, s->mu_n = st ? 0 : n;
    return st;
}

static mla_status sw_objective(void *user, long first, const float *out, int n, double *loss, float *dout) {
    mla_sw *s = user;
    mla_status st = guide_means(s, first, n);
    if (st) return st;
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int l = 0; l < s->n_layers; l++) {
            size_t o = (size_t)i * s->total + s->offs[l];
            double w = 1.0 / s->dims[l];
            for (int c = 0; c < s->dims[l]; c++) {
                double d = (double)out[o + c] - s->mu[o + c];
                sum += w * d * d;
                dout[o + c] = (float)(-2 * w * d);
            }
        }
        loss[i] = -sum;
    }
    return MLA_OK;
}

mla_adv_model mla_sw_model(mla_sw *s) {
    return (mla_adv_model){.user = s, .dim = s->dim, .classes = s->total, .forward = sw_forward,
                           .backward = sw_backward, .objective = sw_objective};
}

/* ---- creation ---- */

static mla_status build_prefixes(mla_sw *s) {
    s->pre = mla_alloc((size_t)s->n_layers, sizeof *s->pre);
    s->dims = mla_alloc((size_t)s->n_layers, sizeof(int));
    s->offs = mla_alloc((size_t)s->n_layers, sizeof(int));
    if (!s->pre || !s->dims || !s->offs) return MLA_ERR_NOMEM;
    for (int l = 0; l < s->n_layers; l++) {
        mla_status st = mla_net_prefix(s->net, s->layers[l], &s->pre[l]);
        if (st) return st;
        s->dims[l] = mla_shape_size(mla_net_output_shape(s->pre[l]));
        s->offs[l] = s->total;
        s->total += s->dims[l];
    }
    return MLA_OK;
}

mla_status mla_sw_create(mla_net *net, const char *const *layers, int n_layers, const float *ref_x,
                         const float *ref_sel, const int32_t *ref_y, int n_ref, const float *x, const int32_t *y,
                         int n, int guides, int batch, mla_sw **out) {
    *out = NULL;
    if (n_layers < 1 || n_layers > 64 || n < 1 || n_ref < 1 || guides < 1 || batch < 1)
        return mla_error(MLA_ERR_INVALID, "SW attack: need 1-64 layers, images, reference samples, guides >= 1");
    mla_sw *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    int classes = mla_net_classes(net);
    *s = (mla_sw){.net = net, .n_layers = n_layers, .n = n, .guides = guides, .batch = batch, .layers = layers,
                  .ref_x = ref_x, .dim = mla_shape_size(mla_net_input_shape(net))};
    s->targets = mla_alloc((size_t)n, sizeof(int32_t));
    s->guide_idx = mla_alloc((size_t)n * guides, sizeof(int32_t));
    mla_status st = s->targets && s->guide_idx ? build_prefixes(s) : MLA_ERR_NOMEM;
    for (int i = 0; !st && i < n_ref; i++)
        if (ref_y[i] < 0 || ref_y[i] >= classes) st = mla_error(MLA_ERR_INVALID, "SW attack: label %d", ref_y[i]);
    const char *sel_layer = layers[n_layers - 1];
    int d = st ? 0 : s->dims[n_layers - 1], got;
    float *own = NULL, *q = NULL;
    if (!st && !ref_sel) st = mla_net_layer_features(net, ref_x, n_ref, &sel_layer, 1, batch, &own, &got);
    if (!st) st = mla_net_layer_features(net, x, n, &sel_layer, 1, batch, &q, &got);
    class_index *ci = mla_alloc((size_t)classes, sizeof *ci);
    if (!st && !ci) st = MLA_ERR_NOMEM;
    if (!st) st = class_indexes(ref_sel ? ref_sel : own, d, ref_y, n_ref, classes, ci);
    if (!st) st = choose_guides(s, ci, classes, q, d, y);
    for (int c = 0; ci && c < classes; c++) free(ci[c].rows), mla_knn_index_free(ci[c].ix);
    free(ci), free(own), free(q);
    if (st) {
        mla_sw_free(s);
        return st;
    }
    *out = s;
    return MLA_OK;
}
