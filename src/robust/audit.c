/* The robustness audit (mla_robust_audit): the kNN reference set, the calibration and
 * evaluation images, clean predictions of the DNN, kNN and DkNN, then each attack
 * strength's adversarial images and their predictions and metrics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"
#include "mlaudit/train.h"

/* Everything one audit holds while it runs. */
typedef struct {
    mla_net *net;
    const mla_robust_config *cfg;
    mla_dknn *dknn;
    int dim, classes, n;       /* n: evaluated images */
    float *x;                  /* n x dim clean images */
    int32_t *y, *targets;      /* targets: NULL unless targeted */
    /* The reference set: images, labels, training-split indices (n_ref). */
    float *ref_x;
    int32_t *ref_y, *ref_idx;
    int n_ref;
    float *ref_sel;            /* through sw: its activations at the last layer */
    mla_dknnb *dknnb;          /* through a DkNNB */
    mla_sw *sw;                /* through sw */
} audit;

/* Predictions of the three classifiers for n images x. */
typedef struct {
    int32_t *dnn, *knn, *dknn, *dknnb, *transfer; /* dknnb, transfer: when there is one */
    float *cred;
} preds;

static void preds_free(preds *p) {
    free(p->dnn), free(p->knn), free(p->dknn), free(p->dknnb), free(p->transfer), free(p->cred);
}

static int32_t *take_indices(int n) {
    int32_t *idx = mla_alloc((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    for (int i = 0; idx && i < n; i++) idx[i] = i;
    return idx;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static mla_status features_of(audit *a, const float *x, int n, float **feats, int *dims) {
    return mla_net_layer_features(a->net, x, n, a->cfg->layers, a->cfg->n_layers, a->cfg->batch, feats, dims);
}

static void free_feats(audit *a, float **feats) {
    for (int l = 0; l < a->cfg->n_layers; l++) free(feats[l]), feats[l] = NULL;
}

/* Images idx[0..n) of ds as floats (and labels when y is not NULL). */
static float *gather(const mla_dataset *ds, const int32_t *idx, int n, int32_t *y) {
    float *x = mla_alloc((size_t)n * mla_dataset_dim(ds), sizeof(float));
    if (x) mla_dataset_batch(ds, idx, 0, n, x, y);
    return x;
}

/* Trains the DkNNB on the reference set (feats: its activations at the DkNN's layers,
 * reused when the DkNNB's layer is one of them). */
static mla_status train_dknnb(audit *a, float *const *feats) {
    const mla_robust_config *c = a->cfg;
    mla_dknnb_config dc = c->dknnb;
    dc.consistency = c->through == MLA_THROUGH_DKNNB_CL;
    const float *f = NULL;
    for (int l = 0; l < c->n_layers; l++)
        if (!strcmp(c->layers[l], dc.layer)) f = feats[l];
    return mla_dknnb_train(a->net, a->ref_x, f, a->ref_y, a->n_ref, &dc, &a->dknnb);
}

/* The kNN reference set: train's images (a stratified seeded subset when asked), kept
 * for the DkNNB, the SW attack's guides and the grid. */
static mla_status build_reference(audit *a, const mla_dataset *train, mla_robust_result *out) {
    const mla_robust_config *c = a->cfg;
    int n = mla_dataset_count(train);
    if (c->train_subset > 0 && c->train_subset < n) n = c->train_subset;
    if (c->dknn.k > n)
        return mla_error(MLA_ERR_INVALID, "k = %d is larger than the training set (%d images)", c->dknn.k, n);
    int32_t *idx = n < mla_dataset_count(train) ? mla_alloc((size_t)n, sizeof(int32_t)) : take_indices(n);
    if (!idx) return MLA_ERR_NOMEM;
    a->ref_idx = idx, a->n_ref = n;
    mla_status s = MLA_OK;
    if (n < mla_dataset_count(train))
        s = mla_stratified_indices(mla_dataset_labels(train), mla_dataset_count(train), mla_dataset_classes(train), n,
                                   c->seed, idx);
    a->ref_y = mla_alloc((size_t)n, sizeof(int32_t));
    a->ref_x = s || !a->ref_y ? NULL : gather(train, idx, n, a->ref_y);
    float *feats[64] = {0};
    int dims[64];
    if (!s && !a->ref_x) s = MLA_ERR_NOMEM;
    if (!s) s = features_of(a, a->ref_x, n, feats, dims);
    if (!s) s = mla_dknn_create((const float *const *)feats, dims, c->n_layers, a->ref_y, n, a->classes, &c->dknn,
                                &a->dknn);
    if (!s && (c->through == MLA_THROUGH_DKNNB || c->through == MLA_THROUGH_DKNNB_CL)) s = train_dknnb(a, feats);
    if (!s && c->through == MLA_THROUGH_SW) a->ref_sel = feats[c->n_layers - 1], feats[c->n_layers - 1] = NULL;
    free_feats(a, feats);
    out->n_train = n;
    return s;
}

/* Calibration set (per class, seeded) from test, and the evaluation indices: the rest,
 * or a seeded subset of it, ascending. */
static mla_status split_test(audit *a, const mla_dataset *test, mla_robust_result *out, int32_t *cal) {
    const mla_robust_config *c = a->cfg;
    int nt = mla_dataset_count(test), nc = c->calibration;
    mla_status s = mla_dknn_calibration_indices(mla_dataset_labels(test), nt, a->classes, nc / a->classes, c->seed, cal);
    if (s) return s;
    char *used = mla_alloc((size_t)nt, 1);
    int32_t *rest = mla_alloc((size_t)nt, sizeof(int32_t));
    if (!used || !rest) s = MLA_ERR_NOMEM;
    int n = 0;
    for (int i = 0; !s && i < nc; i++) used[cal[i]] = 1;
    for (int i = 0; !s && i < nt; i++)
        if (!used[i]) rest[n++] = i;
    if (!s && c->test_subset > 0 && c->test_subset < n) {
        mla_rng r;
        mla_rng_seed(&r, c->seed + 1);
        mla_rng_shuffle(&r, rest, n);
        n = c->test_subset;
        qsort(rest, (size_t)n, sizeof *rest, cmp_i32);
    }
    free(used);
    if (s || n < 1) {
        free(rest);
        return s ? s : mla_error(MLA_ERR_INVALID, "no test images left after the calibration set");
    }
    out->eval_idx = rest;
    out->n_eval = n;
    out->n_calibration = nc;
    return MLA_OK;
}

static mla_status calibrate(audit *a, const mla_dataset *test, const int32_t *cal) {
    int nc = a->cfg->calibration;
    int32_t *y = mla_alloc((size_t)nc, sizeof(int32_t));
    float *x = gather(test, cal, nc, y), *feats[64] = {0};
    int dims[64];
    mla_status s = x && y ? features_of(a, x, nc, feats, dims) : MLA_ERR_NOMEM;
    if (!s) s = mla_dknn_calibrate(a->dknn, (const float *const *)feats, y, nc);
    free_feats(a, feats);
    free(x);
    free(y);
    return s;
}

/* Argmax (ties to the smaller class) of a model's outputs for n images, in batches. */
static mla_status model_predict(const mla_adv_model *m, const float *x, int n, int batch, int32_t *pred) {
    for (int first = 0; first < n; first += batch) {
        int len = n - first < batch ? n - first : batch;
        const float *z;
        mla_status s = m->forward(m->user, x + (size_t)first * m->dim, len, &z);
        if (s) return s;
        for (int i = 0; i < len; i++) {
            const float *r = z + (size_t)i * m->classes;
            int b = 0;
            for (int j = 1; j < m->classes; j++)
                if (r[j] > r[b]) b = j;
            pred[first + i] = b;
        }
    }
    return MLA_OK;
}

/* The first n_grid images' nearest reference images per layer (training-split indices). */
static void record_grid(const audit *a, const int32_t *idx, int n_grid, int32_t *grid) {
    int L = a->cfg->n_layers, k = a->cfg->dknn.k, g = MLA_ROBUST_GRID_NEIGHBORS < k ? MLA_ROBUST_GRID_NEIGHBORS : k;
    for (int i = 0; i < n_grid; i++)
        for (int l = 0; l < L; l++)
            for (int j = 0; j < MLA_ROBUST_GRID_NEIGHBORS; j++)
                grid[((size_t)i * L + l) * MLA_ROBUST_GRID_NEIGHBORS + j] =
                    j < g ? a->ref_idx[idx[((size_t)i * L + l) * k + j]] : -1;
}

/* DNN, kNN and DkNN predictions of n images x (and the DkNNB's and the transfer
 * model's when there are); grid (may be NULL) gets the first images' neighbours. */
static mla_status predict(audit *a, const float *x, preds *p, int32_t *grid, int n_grid) {
    int n = a->n, L = a->cfg->n_layers, k = a->cfg->dknn.k;
    *p = (preds){mla_alloc((size_t)n, 4), mla_alloc((size_t)n, 4), mla_alloc((size_t)n, 4), NULL, NULL,
                 mla_alloc((size_t)n, 4)};
    int32_t *nb = mla_alloc((size_t)n * L * k, sizeof(int32_t)), *one = mla_alloc((size_t)n * k, sizeof(int32_t));
    int32_t *idx = grid ? mla_alloc((size_t)n * L * k, sizeof(int32_t)) : NULL;
    float *feats[64] = {0};
    int dims[64];
    mla_status s = p->dnn && p->knn && p->dknn && p->cred && nb && one && (!grid || idx) ? MLA_OK : MLA_ERR_NOMEM;
    mla_adv_model dnn = mla_adv_model_net(a->net);
    if (!s) s = model_predict(&dnn, x, n, a->cfg->batch, p->dnn);
    if (!s && a->dknnb) {
        mla_adv_model m = mla_dknnb_model(a->dknnb);
        s = (p->dknnb = mla_alloc((size_t)n, 4)) ? model_predict(&m, x, n, a->cfg->batch, p->dknnb) : MLA_ERR_NOMEM;
    }
    if (!s && a->cfg->transfer) {
        mla_adv_model m = mla_adv_model_net(a->cfg->transfer);
        s = (p->transfer = mla_alloc((size_t)n, 4)) ? model_predict(&m, x, n, a->cfg->batch, p->transfer)
                                                    : MLA_ERR_NOMEM;
    }
    if (!s) s = features_of(a, x, n, feats, dims);
    if (!s) s = mla_dknn_neighbors(a->dknn, (const float *const *)feats, n, nb, idx);
    if (!s) s = mla_dknn_predict_from_neighbors(a->dknn, nb, n, p->dknn, p->cred, NULL, NULL);
    for (int i = 0; !s && i < n; i++)
        memcpy(one + (size_t)i * k, nb + ((size_t)i * L + a->cfg->knn_layer) * k, (size_t)k * sizeof(int32_t));
    if (!s) mla_knn_vote(one, n, k, a->classes, p->knn);
    if (!s && grid) record_grid(a, idx, n_grid, grid);
    free_feats(a, feats);
    free(nb);
    free(one);
    free(idx);
    return s;
}

static mla_robust_rates rates_or_nan(const audit *a, const int32_t *clean, const int32_t *adv) {
    if (!clean || !adv) return (mla_robust_rates){NAN, NAN, NAN};
    return mla_robust_rates_of(a->y, a->targets, clean, adv, a->n);
}

static double mean_below(const float *v, int n, float t, double *mean) {
    double s = 0;
    long below = 0;
    for (int i = 0; i < n; i++) s += v[i], below += v[i] < t;
    *mean = s / n;
    return (double)below / n;
}

/* The model the attack follows, and the labels it is given (the SW objective takes none:
 * all zeros). */
static mla_adv_model attack_model(audit *a) {
    if (a->dknnb) return mla_dknnb_model(a->dknnb);
    if (a->sw) return mla_sw_model(a->sw);
    return mla_adv_model_net(a->net);
}

/* One attack strength: adversarial images, their predictions and the metrics. */
static mla_status attack_point(audit *a, const preds *clean, float eps, mla_robust_point *pt, float *adv,
                               float *cred_adv, int32_t *grid, int n_grid) {
    mla_adv_config ac = a->cfg->attack;
    ac.eps = eps;
    mla_adv_model m = attack_model(a);
    int32_t *zeros = a->sw ? mla_alloc((size_t)a->n, sizeof(int32_t)) : NULL;
    mla_status s = a->sw && !zeros ? MLA_ERR_NOMEM : mla_adv_run(&m, &ac, a->x, a->sw ? zeros : a->y, a->targets, a->n, adv);
    free(zeros);
    preds p = {0};
    bool *ok = mla_alloc((size_t)a->n, 1), *wrong = mla_alloc((size_t)a->n, 1);
    if (!s && (!ok || !wrong)) s = MLA_ERR_NOMEM;
    if (!s) s = predict(a, adv, &p, grid, n_grid);
    if (!s) {
        pt->eps = eps;
        pt->dnn = rates_or_nan(a, clean->dnn, p.dnn);
        pt->knn = rates_or_nan(a, clean->knn, p.knn);
        pt->dknn = rates_or_nan(a, clean->dknn, p.dknn);
        pt->dknnb = rates_or_nan(a, clean->dknnb, p.dknnb);
        pt->transfer = rates_or_nan(a, clean->transfer, p.transfer);
        for (int i = 0; i < a->n; i++) {
            ok[i] = a->targets ? p.dnn[i] == a->targets[i] : clean->dnn[i] == a->y[i] && p.dnn[i] != a->y[i];
            wrong[i] = p.dknn[i] != a->y[i];
        }
        s = mla_perturbation_of(a->x, adv, a->n, a->dim, ok, &pt->perturbation);
        pt->l2_rescaled = mla_l2_rescaled(a->x, adv, a->n, a->dim, wrong);
        pt->rejected = mean_below(p.cred, a->n, a->cfg->credibility_threshold, &pt->credibility);
        if (cred_adv) memcpy(cred_adv, p.cred, (size_t)a->n * sizeof(float));
    }
    preds_free(&p);
    free(ok);
    free(wrong);
    return s;
}

static mla_status check_config(const mla_net *net, const mla_dataset *test, const mla_robust_config *c) {
    int classes = mla_net_classes(net), nt = mla_dataset_count(test);
    if (c->n_layers < 1 || c->n_layers > 64) return mla_error(MLA_ERR_INVALID, "give 1 to 64 layers");
    if (c->knn_layer < 0 || c->knn_layer >= c->n_layers) return mla_error(MLA_ERR_INVALID, "bad kNN layer");
    if (c->n_eps < 1) return mla_error(MLA_ERR_INVALID, "no eps given");
    if (c->batch < 1) return mla_error(MLA_ERR_INVALID, "batch must be >= 1");
    if (c->calibration > nt)
        return mla_error(MLA_ERR_INVALID, "calibration set of %d is larger than the test set (%d images)",
                         c->calibration, nt);
    if (c->calibration < classes || c->calibration % classes)
        return mla_error(MLA_ERR_INVALID, "calibration set of %d is not a positive multiple of the %d classes",
                         c->calibration, classes);
    if (c->through == MLA_THROUGH_SW && c->attack.targeted)
        return mla_error(MLA_ERR_INVALID, "the SW attack is untargeted (it picks its own target class)");
    if (c->through == MLA_THROUGH_SW && c->attack.kind == MLA_ADV_CW)
        return mla_error(MLA_ERR_INVALID, "the SW attack takes fgsm, bim, pgd or pgd-l2 steps, not cw");
    if (c->through == MLA_THROUGH_SW && c->sw_guides < 1) return mla_error(MLA_ERR_INVALID, "SW guides must be >= 1");
    if (c->grid < 0) return mla_error(MLA_ERR_INVALID, "grid must be >= 0");
    for (int i = 0; i < c->n_eps; i++) {
        mla_adv_config ac = c->attack;
        ac.eps = c->eps[i];
        mla_status s = mla_adv_check(&ac);
        if (s) return s;
    }
    return MLA_OK;
}

/* Seeded targets: a uniformly drawn class other than the label, per sample. */
static mla_status draw_targets(audit *a) {
    a->targets = mla_alloc((size_t)a->n, sizeof(int32_t));
    if (!a->targets) return MLA_ERR_NOMEM;
    mla_rng r;
    mla_rng_seed(&r, a->cfg->seed + 2);
    for (int i = 0; i < a->n; i++)
        a->targets[i] = (int32_t)((a->y[i] + 1 + (int)mla_rng_below(&r, (uint64_t)(a->classes - 1))) % a->classes);
    return MLA_OK;
}

/* Clean predictions and the clean side of the result. */
static mla_status clean_side(audit *a, preds *clean, mla_robust_result *out) {
    mla_status s = predict(a, a->x, clean, out->grid_nb, out->n_grid);
    if (s) return s;
    out->rejected_clean = mean_below(clean->cred, a->n, a->cfg->credibility_threshold, &out->credibility_clean);
    long kept = 0, right = 0;
    for (int i = 0; i < a->n; i++)
        if (clean->cred[i] >= a->cfg->credibility_threshold) kept++, right += clean->dknn[i] == a->y[i];
    out->accuracy_kept = kept ? (double)right / kept : NAN;
    memcpy(out->cred_clean, clean->cred, (size_t)a->n * sizeof(float));
    return MLA_OK;
}

static const char *const through_names[] = {"dnn", "dknnb", "dknnb-cl", "sw"};

mla_status mla_robust_through_parse(const char *name, mla_robust_through *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, through_names[i])) {
            *out = (mla_robust_through)i;
            return MLA_OK;
        }
    return mla_error(MLA_ERR_INVALID, "unknown --through '%s' (dnn, dknnb, dknnb-cl, sw)", name);
}

const char *mla_robust_through_name(mla_robust_through t) {
    return t >= MLA_THROUGH_DNN && t <= MLA_THROUGH_SW ? through_names[t] : "?";
}

mla_status mla_robust_audit(mla_net *net, const mla_dataset *train, const mla_dataset *test,
                            const mla_robust_config *cfg, mla_robust_result *out) {
    memset(out, 0, sizeof *out);
    mla_status s = mla_check_compatible(net, train);
    if (!s) s = mla_check_compatible(net, test);
    if (!s) s = check_config(net, test, cfg);
    if (!s && cfg->transfer && (s = mla_check_compatible(cfg->transfer, test)))
        s = mla_error_prefix(s, "transfer model: ");
    if (s) return s;
    audit a = {.net = net, .cfg = cfg, .dim = mla_shape_size(mla_net_input_shape(net)), .classes = mla_net_classes(net)};
    int32_t *cal = mla_alloc((size_t)cfg->calibration, sizeof(int32_t));
    preds clean = {0};
    if (!cal) s = MLA_ERR_NOMEM;
    if (!s) s = split_test(&a, test, out, cal);
    if (!s) s = build_reference(&a, train, out);
    if (!s) s = calibrate(&a, test, cal);
    if (!s) {
        a.n = out->n_eval;
        a.y = mla_alloc((size_t)a.n, sizeof(int32_t));
        a.x = a.y ? gather(test, out->eval_idx, a.n, a.y) : NULL;
        out->examples = mla_alloc((size_t)a.n * a.dim, sizeof(float));
        out->cred_clean = mla_alloc((size_t)a.n, sizeof(float));
        out->cred_adv = mla_alloc((size_t)a.n, sizeof(float));
        out->points = mla_alloc((size_t)cfg->n_eps, sizeof(mla_robust_point));
        out->n_grid = cfg->grid < a.n ? cfg->grid : a.n;
        size_t grid = (size_t)out->n_grid * 2 * cfg->n_layers * MLA_ROBUST_GRID_NEIGHBORS;
        out->grid_nb = grid ? mla_alloc(grid, sizeof(int32_t)) : NULL;
        if (!a.x || !out->examples || !out->cred_clean || !out->cred_adv || !out->points || (grid && !out->grid_nb))
            s = MLA_ERR_NOMEM;
    }
    if (!s && cfg->through == MLA_THROUGH_SW)
        s = mla_sw_create(net, cfg->layers, cfg->n_layers, a.ref_x, a.ref_sel, a.ref_y, a.n_ref, a.x, a.y, a.n,
                          cfg->sw_guides, cfg->batch, &a.sw);
    if (!s && cfg->attack.targeted) s = draw_targets(&a);
    if (!s) s = clean_side(&a, &clean, out);
    float *adv = s ? NULL : mla_alloc((size_t)a.n * a.dim, sizeof(float));
    if (!s && !adv) s = MLA_ERR_NOMEM;
    for (int e = 0; !s && e < cfg->n_eps; e++) {
        int32_t *grid = e || !out->grid_nb ? NULL
                                           : out->grid_nb + (size_t)out->n_grid * cfg->n_layers * MLA_ROBUST_GRID_NEIGHBORS;
        s = attack_point(&a, &clean, cfg->eps[e], &out->points[e], e ? adv : out->examples, e ? NULL : out->cred_adv,
                         grid, out->n_grid);
        out->n_points = e + 1;
    }
    free(adv);
    preds_free(&clean);
    free(cal);
    free(a.x), free(a.y), free(a.targets);
    mla_dknn_free(a.dknn);
    mla_dknnb_free(a.dknnb);
    mla_sw_free(a.sw);
    free(a.ref_x), free(a.ref_y), free(a.ref_idx), free(a.ref_sel);
    if (s) mla_robust_result_free(out);
    return s;
}

void mla_robust_result_free(mla_robust_result *r) {
    free(r->eval_idx), free(r->points), free(r->examples), free(r->cred_clean), free(r->cred_adv), free(r->grid_nb);
    memset(r, 0, sizeof *r);
}
