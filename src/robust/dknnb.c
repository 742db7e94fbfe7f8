/* The DkNNB of AdvKNN (definitions in robust.h): the training set's own kNN labels and
 * label distributions at one layer, and a dense head trained on them through mla_train.
 * The consistency loss reaches mla_train through its hook (train.h): the batch callback
 * records which samples the step uses (keeping the loop's own choice), and the
 * output-gradients callback replaces the loop's CE gradient by the DkNNB loss's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"
#include "mlaudit/train.h"

static const char head_spec[] =
    "{\"name\": \"dknnb\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\", "
    "\"name\": \"dknnb\"}]}";

struct mla_dknnb {
    mla_net *trunk, *head;
    mla_adv_chain *chain;
};

mla_dknnb_config mla_dknnb_defaults(void) {
    mla_dknnb_config c = {.layer = "relu3", .lambda = 0.3f, .knn = mla_dknn_defaults(), .epochs = 20, .batch = 128,
                          .opt = mla_opt_defaults(MLA_OPT_ADAM)};
    return c;
}

float mla_dknnb_loss(const float *logits, int n, int classes, const int32_t *y, const float *p, float lambda,
                     bool consistency, float *dlogits) {
    if (!consistency) return mla_loss_softmax_ce(logits, n, classes, y, NULL, dlogits, NULL);
    float *dkl = dlogits ? mla_alloc((size_t)n * classes, sizeof(float)) : NULL;
    if (dlogits && !dkl) return NAN;
    float ce = mla_loss_softmax_ce(logits, n, classes, y, NULL, dlogits, NULL);
    float kl = mla_loss_kl_softmax(logits, p, n, classes, dkl);
    for (size_t i = 0; dlogits && i < (size_t)n * classes; i++) dlogits[i] = lambda * dlogits[i] + dkl[i];
    free(dkl);
    return lambda * ce + kl;
}

mla_status mla_dknnb_targets(const int32_t *nb_labels, int n, int k, int classes, int32_t *y, float *p) {
    mla_status s = mla_knn_vote(nb_labels, n, k, classes, y);
    if (s) return s;
    for (int i = 0; i < n; i++) {
        float *row = p + (size_t)i * classes;
        memset(row, 0, (size_t)classes * sizeof *row);
        for (int j = 0; j < k; j++) row[nb_labels[(size_t)i * k + j]] += 1.0f;
        for (int c = 0; c < classes; c++) row[c] /= (float)k;
    }
    return MLA_OK;
}

/* ---- the consistency-learning hook ---- */

typedef struct {
    const int32_t *y;   /* n kNN labels (dataset order) */
    const float *p;     /* n x classes kNN distributions */
    int32_t *idx;       /* this step's samples */
    int32_t *yb;        /* their labels */
    float *pb;          /* their distributions */
    int cap, classes;
    float lambda;
} cl_hook;

static mla_status cl_batch(void *user, long step, const int32_t *pool, int n_pool, const int32_t *batch, int n,
                           int32_t *out, int *n_out) {
    (void)step, (void)pool, (void)n_pool;
    cl_hook *h = user;
    if (n > h->cap) return mla_error(MLA_ERR_INVALID, "DkNNB: batch of %d above %d", n, h->cap);
    memcpy(out, batch, (size_t)n * sizeof *out);
    memcpy(h->idx, batch, (size_t)n * sizeof *out);
    *n_out = n;
    return MLA_OK;
}

/* The logits are the head's last layer's activation in the step's forward. */
static mla_status cl_output_grads(void *user, mla_net *net, float *dlogits, int n, int classes) {
    cl_hook *h = user;
    const float *z;
    mla_shape sh;
    int got;
    mla_status s = mla_net_activation(net, "dknnb", &z, &sh, &got);
    if (s) return s;
    if (got != n || mla_shape_size(sh) != classes) return mla_error(MLA_ERR_INVALID, "DkNNB: logits do not fit");
    for (int i = 0; i < n; i++) {
        h->yb[i] = h->y[h->idx[i]];
        memcpy(h->pb + (size_t)i * classes, h->p + (size_t)h->idx[i] * classes, (size_t)classes * sizeof(float));
    }
    float loss = mla_dknnb_loss(z, n, classes, h->yb, h->pb, h->lambda, true, dlogits);
    return isnan(loss) ? MLA_ERR_NOMEM : MLA_OK;
}

/* ---- training ---- */

/* kNN labels y and distributions p of the n training samples at one layer. */
static mla_status knn_targets(const float *feats, int dim, const int32_t *labels, int n, int classes,
                              const mla_dknn_options *opt, int32_t *y, float *p) {
    mla_dknn *d;
    mla_status s = mla_dknn_create(&feats, &dim, 1, labels, n, classes, opt, &d);
    if (s) return s;
    int32_t *nb = mla_alloc((size_t)n * opt->k, sizeof(int32_t));
    s = nb ? mla_dknn_neighbors(d, &feats, n, nb, NULL) : MLA_ERR_NOMEM;
    if (!s) s = mla_dknnb_targets(nb, n, opt->k, classes, y, p);
    free(nb);
    mla_dknn_free(d);
    return s;
}

static mla_status train_head(mla_dknnb *d, const float *feats, const int32_t *y, const float *p, int n,
                             const mla_dknnb_config *cfg) {
    mla_shape in = mla_net_output_shape(d->trunk);
    int classes = mla_net_classes(d->trunk);
    mla_dataset *ds = NULL;
    mla_status s = mla_net_create(head_spec, in, classes, cfg->seed, &d->head);
    if (!s) s = mla_dataset_from_memory(n, in.c, in.h, in.w, NULL, feats, y, classes, &ds);
    cl_hook h = {.y = y, .p = p, .cap = cfg->batch, .classes = classes, .lambda = cfg->lambda};
    mla_train_hook hook = {.user = &h, .batch = cl_batch, .output_grads = cl_output_grads};
    h.idx = mla_alloc((size_t)cfg->batch, sizeof(int32_t));
    h.yb = mla_alloc((size_t)cfg->batch, sizeof(int32_t));
    h.pb = mla_alloc((size_t)cfg->batch * classes, sizeof(float));
    if (!s && (!h.idx || !h.yb || !h.pb)) s = MLA_ERR_NOMEM;
    mla_train_config tc = mla_train_defaults();
    tc.epochs = cfg->epochs, tc.batch = cfg->batch, tc.seed = cfg->seed, tc.opt = cfg->opt;
    if (cfg->consistency) tc.hook = &hook;
    mla_train_stats st;
    if (!s) s = mla_train(d->head, ds, NULL, n, &tc, &st);
    free(h.idx), free(h.yb), free(h.pb);
    mla_dataset_free(ds);
    return s;
}

static mla_status check(const mla_dknnb_config *c, int n) {
    if (c->epochs < 1 || c->batch < 1) return mla_error(MLA_ERR_INVALID, "DkNNB: epochs and batch must be >= 1");
    if (!(c->lambda >= 0)) return mla_error(MLA_ERR_INVALID, "DkNNB: lambda must be >= 0");
    if (c->knn.k < 1 || c->knn.k > n)
        return mla_error(MLA_ERR_INVALID, "DkNNB: k = %d must be in [1, %d] (the training set's size)", c->knn.k, n);
    return MLA_OK;
}

mla_status mla_dknnb_train(mla_net *net, const float *x, const float *feats, const int32_t *labels, int n,
                           const mla_dknnb_config *cfg, mla_dknnb **out) {
    *out = NULL;
    mla_status s = check(cfg, n);
    if (s) return s;
    mla_dknnb *d = mla_alloc(1, sizeof *d);
    if (!d) return MLA_ERR_NOMEM;
    s = mla_net_prefix(net, cfg->layer, &d->trunk);
    int classes = mla_net_classes(net), dim = s ? 0 : mla_shape_size(mla_net_output_shape(d->trunk));
    float *own = NULL, *p = mla_alloc((size_t)n * classes, sizeof(float));
    int32_t *y = mla_alloc((size_t)n, sizeof(int32_t));
    if (!s && (!p || !y)) s = MLA_ERR_NOMEM;
    if (!s && !feats) {
        int got;
        s = mla_net_layer_features(net, x, n, &cfg->layer, 1, 256, &own, &got);
        feats = own;
    }
    if (!s) s = knn_targets(feats, dim, labels, n, classes, &cfg->knn, y, p);
    if (!s) s = train_head(d, feats, y, p, n, cfg);
    if (!s) s = mla_adv_chain_create(d->trunk, d->head, &d->chain);
    free(own), free(p), free(y);
    if (s) {
        mla_dknnb_free(d);
        return s;
    }
    *out = d;
    return MLA_OK;
}

void mla_dknnb_free(mla_dknnb *d) {
    if (!d) return;
    mla_adv_chain_free(d->chain);
    mla_net_free(d->head);
    mla_net_free(d->trunk);
    free(d);
}

mla_adv_model mla_dknnb_model(mla_dknnb *d) { return mla_adv_model_chain(d->chain); }

mla_net *mla_dknnb_head(mla_dknnb *d) { return d->head; }
