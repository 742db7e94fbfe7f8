/* The robustness audit (mla_robust_audit, mla_robust_audit_runs): the kNN reference set,
 * the calibration and evaluation images, clean predictions of the DNN, kNN and DkNN (the
 * shared part, made once), then per run (an attack and what its gradients follow) each
 * attack strength's adversarial images and their predictions and metrics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"
#include "mlaudit/train.h"

/* Predictions of the three classifiers for n images x. */
typedef struct {
    int32_t *dnn, *knn, *dknn, *dknnb, *transfer; /* dknnb, transfer: when there is one */
    float *cred;
} preds;

/* Everything the runs of one audit share, made once. cfg holds the shared settings (the
 * first run's config; the others agree on them, see check_runs). */
typedef struct {
    mla_net *net;
    const mla_robust_config *cfg;
    mla_dknn *dknn;
    int dim, classes, n;       /* n: evaluated images */
    float *x;                  /* n x dim clean images */
    int32_t *y;
    /* The reference set: images, labels, training-split indices (n_ref). */
    float *ref_x;
    int32_t *ref_y, *ref_idx;
    int n_ref;
    float *ref_sel;            /* when a run goes through sw: its activations at the last layer */
    mla_dknnb *dknnbs[2];      /* plain, CL: trained when a run goes through one */
    preds clean;               /* DNN, kNN, DkNN (and transfer) predictions of x */
    int32_t *grid_clean;       /* n_grid x layers x MLA_ROBUST_GRID_NEIGHBORS (NULL when n_grid is 0) */
    int n_grid;
    double credibility_clean, rejected_clean, accuracy_kept;
} audit;

/* One run on an audit: its settings, the DkNNB it attacks (borrowed from the audit) or
 * its SW model, its targets (NULL unless targeted) and the DkNNB's clean predictions. */
typedef struct {
    audit *a;
    const mla_robust_config *cfg;
    mla_dknnb *dknnb;
    mla_sw *sw;
    int32_t *targets;
    int32_t *clean_dknnb;
} run;

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

static bool goes_through(const mla_robust_config *cfgs, int n_runs, mla_robust_through t) {
    for (int i = 0; i < n_runs; i++)
        if (cfgs[i].through == t) return true;
    return false;
}

/* Trains the DkNNBs the runs go through on the reference set (feats: its activations at
 * the DkNN's layers, reused when the DkNNB's layer is one of them). */
static mla_status train_dknnbs(audit *a, float *const *feats, const mla_robust_config *cfgs, int n_runs) {
    const mla_robust_config *c = a->cfg;
    if (!goes_through(cfgs, n_runs, MLA_THROUGH_DKNNB) && !goes_through(cfgs, n_runs, MLA_THROUGH_DKNNB_CL))
        return MLA_OK; /* (the DkNNB settings may then be unset) */
    const float *f = NULL;
    for (int l = 0; l < c->n_layers; l++)
        if (c->dknnb.layer && !strcmp(c->layers[l], c->dknnb.layer)) f = feats[l];
    mla_status s = MLA_OK;
    for (int cl = 0; !s && cl < 2; cl++) {
        if (!goes_through(cfgs, n_runs, cl ? MLA_THROUGH_DKNNB_CL : MLA_THROUGH_DKNNB)) continue;
        mla_dknnb_config dc = c->dknnb;
        dc.consistency = cl;
        s = mla_dknnb_train(a->net, a->ref_x, f, a->ref_y, a->n_ref, &dc, &a->dknnbs[cl]);
    }
    return s;
}

/* The kNN reference set: train's images (a stratified seeded subset when asked), kept
 * for the DkNNBs, the SW attack's guides and the grid. */
static mla_status build_reference(audit *a, const mla_dataset *train, const mla_robust_config *cfgs, int n_runs,
                                  mla_robust_result *out) {
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
    if (!s) s = train_dknnbs(a, feats, cfgs, n_runs);
    if (!s && goes_through(cfgs, n_runs, MLA_THROUGH_SW))
        a->ref_sel = feats[c->n_layers - 1], feats[c->n_layers - 1] = NULL;
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

/* DNN, kNN and DkNN predictions of n images x (and dknnb's and the transfer model's when
 * there are); grid (may be NULL) gets the first images' neighbours. */
static mla_status predict(audit *a, mla_dknnb *dknnb, const float *x, preds *p, int32_t *grid, int n_grid) {
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
    if (!s && dknnb) {
        mla_adv_model m = mla_dknnb_model(dknnb);
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
    if (!s) s = mla_knn_vote(one, n, k, a->classes, p->knn);
    if (!s && grid) record_grid(a, idx, n_grid, grid);
    free_feats(a, feats);
    free(nb);
    free(one);
    free(idx);
    return s;
}

static mla_robust_rates rates_or_nan(const run *r, const int32_t *clean, const int32_t *adv) {
    if (!clean || !adv) return (mla_robust_rates){NAN, NAN, NAN};
    return mla_robust_rates_of(r->a->y, r->targets, clean, adv, r->a->n);
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
static mla_adv_model attack_model(const run *r) {
    if (r->dknnb) return mla_dknnb_model(r->dknnb);
    if (r->sw) return mla_sw_model(r->sw);
    return mla_adv_model_net(r->a->net);
}

/* One attack strength of a run: adversarial images, their predictions and the metrics. */
static mla_status attack_point(run *r, float eps, mla_robust_point *pt, float *adv, float *cred_adv, int32_t *grid,
                               int n_grid) {
    audit *a = r->a;
    const preds *clean = &a->clean;
    mla_adv_config ac = r->cfg->attack;
    ac.eps = eps;
    mla_adv_model m = attack_model(r);
    int32_t *zeros = r->sw ? mla_alloc((size_t)a->n, sizeof(int32_t)) : NULL;
    mla_status s = r->sw && !zeros ? MLA_ERR_NOMEM : mla_adv_run(&m, &ac, a->x, r->sw ? zeros : a->y, r->targets, a->n, adv);
    free(zeros);
    preds p = {0};
    bool *ok = mla_alloc((size_t)a->n, 1), *wrong = mla_alloc((size_t)a->n, 1);
    if (!s && (!ok || !wrong)) s = MLA_ERR_NOMEM;
    if (!s) s = predict(a, r->dknnb, adv, &p, grid, n_grid);
    if (!s) {
        pt->eps = eps;
        pt->dnn = rates_or_nan(r, clean->dnn, p.dnn);
        pt->knn = rates_or_nan(r, clean->knn, p.knn);
        pt->dknn = rates_or_nan(r, clean->dknn, p.dknn);
        pt->dknnb = rates_or_nan(r, r->clean_dknnb, p.dknnb);
        pt->transfer = rates_or_nan(r, clean->transfer, p.transfer);
        for (int i = 0; i < a->n; i++) {
            ok[i] = r->targets ? p.dnn[i] == r->targets[i] : clean->dnn[i] == a->y[i] && p.dnn[i] != a->y[i];
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

/* Seeded targets: a uniformly drawn class other than the label, per sample (the same for
 * every run of an audit: they depend on the shared seed and labels only). */
static mla_status draw_targets(run *r) {
    const audit *a = r->a;
    r->targets = mla_alloc((size_t)a->n, sizeof(int32_t));
    if (!r->targets) return MLA_ERR_NOMEM;
    mla_rng g;
    mla_rng_seed(&g, a->cfg->seed + 2);
    for (int i = 0; i < a->n; i++)
        r->targets[i] = (int32_t)((a->y[i] + 1 + (int)mla_rng_below(&g, (uint64_t)(a->classes - 1))) % a->classes);
    return MLA_OK;
}

/* Clean predictions (DNN, kNN, DkNN, transfer) and the clean-side figures, once. */
static mla_status clean_side(audit *a) {
    size_t grid = (size_t)a->n_grid * a->cfg->n_layers * MLA_ROBUST_GRID_NEIGHBORS;
    a->grid_clean = grid ? mla_alloc(grid, sizeof(int32_t)) : NULL;
    if (grid && !a->grid_clean) return MLA_ERR_NOMEM;
    mla_status s = predict(a, NULL, a->x, &a->clean, a->grid_clean, a->n_grid);
    if (s) return s;
    a->rejected_clean = mean_below(a->clean.cred, a->n, a->cfg->credibility_threshold, &a->credibility_clean);
    long kept = 0, right = 0;
    for (int i = 0; i < a->n; i++)
        if (a->clean.cred[i] >= a->cfg->credibility_threshold) kept++, right += a->clean.dknn[i] == a->y[i];
    a->accuracy_kept = kept ? (double)right / kept : NAN;
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

static bool same_knn(const mla_dknn_options *a, const mla_dknn_options *b) {
    return a->k == b->k && a->normalize == b->normalize && a->center == b->center && a->trim_zeros == b->trim_zeros;
}

/* The runs agree on everything but the attack, its eps, what it goes through and the SW
 * guides: one line naming the first shared setting that differs. */
static mla_status check_runs(const mla_robust_config *cfgs, int n_runs) {
    const mla_robust_config *c = &cfgs[0];
    for (int i = 1; i < n_runs; i++) {
        const mla_robust_config *o = &cfgs[i];
        const mla_dknnb_config *d = &c->dknnb, *e = &o->dknnb;
        const char *what = NULL;
        bool layers = o->n_layers == c->n_layers;
        for (int l = 0; layers && l < c->n_layers; l++) layers = !strcmp(o->layers[l], c->layers[l]);
        if (!layers || o->knn_layer != c->knn_layer) what = "layers";
        else if (!same_knn(&o->dknn, &c->dknn)) what = "kNN options";
        else if (o->calibration != c->calibration || o->train_subset != c->train_subset ||
                 o->test_subset != c->test_subset || o->seed != c->seed)
            what = "calibration, subsets or seed";
        else if (o->credibility_threshold != c->credibility_threshold || o->batch != c->batch || o->grid != c->grid)
            what = "threshold, batch or grid";
        else if (o->transfer != c->transfer) what = "transfer model";
        else if ((d->layer || e->layer) && (!d->layer || !e->layer || strcmp(d->layer, e->layer)))
            what = "DkNNB settings";
        else if (d->lambda != e->lambda || d->epochs != e->epochs || d->batch != e->batch || d->seed != e->seed ||
                 d->opt.kind != e->opt.kind || d->opt.lr != e->opt.lr || !same_knn(&d->knn, &e->knn))
            what = "DkNNB settings";
        if (what)
            return mla_error(MLA_ERR_INVALID, "run %d differs from run 1 in its %s: runs of one audit share them",
                             i + 1, what);
    }
    return MLA_OK;
}

/* The shared part: evaluation split, reference set (and DkNNBs), calibration, clean side. */
static mla_status audit_build(audit *a, const mla_dataset *train, const mla_dataset *test,
                              const mla_robust_config *cfgs, int n_runs, mla_robust_result *shape) {
    int32_t *cal = mla_alloc((size_t)a->cfg->calibration, sizeof(int32_t));
    mla_status s = cal ? split_test(a, test, shape, cal) : MLA_ERR_NOMEM;
    if (!s) s = build_reference(a, train, cfgs, n_runs, shape);
    if (!s) s = calibrate(a, test, cal);
    free(cal);
    if (s) return s;
    a->n = shape->n_eval;
    a->y = mla_alloc((size_t)a->n, sizeof(int32_t));
    a->x = a->y ? gather(test, shape->eval_idx, a->n, a->y) : NULL;
    if (!a->x) return MLA_ERR_NOMEM;
    a->n_grid = a->cfg->grid < a->n ? a->cfg->grid : a->n;
    return clean_side(a);
}

static void audit_free(audit *a) {
    preds_free(&a->clean);
    free(a->x), free(a->y), free(a->grid_clean);
    mla_dknn_free(a->dknn);
    mla_dknnb_free(a->dknnbs[0]), mla_dknnb_free(a->dknnbs[1]);
    free(a->ref_x), free(a->ref_y), free(a->ref_idx), free(a->ref_sel);
}

/* The result's own copies of the shared figures and buffers. */
static mla_status result_init(const audit *a, const mla_robust_result *shape, int n_eps, mla_robust_result *out) {
    *out = (mla_robust_result){.n_train = shape->n_train, .n_calibration = shape->n_calibration, .n_eval = a->n,
                               .credibility_clean = a->credibility_clean, .rejected_clean = a->rejected_clean,
                               .accuracy_kept = a->accuracy_kept, .n_grid = a->n_grid};
    size_t n = (size_t)a->n, g = (size_t)a->n_grid * a->cfg->n_layers * MLA_ROBUST_GRID_NEIGHBORS;
    out->eval_idx = mla_alloc(n, sizeof(int32_t));
    out->examples = mla_alloc(n * a->dim, sizeof(float));
    out->cred_clean = mla_alloc(n, sizeof(float));
    out->cred_adv = mla_alloc(n, sizeof(float));
    out->points = mla_alloc((size_t)n_eps, sizeof(mla_robust_point));
    out->grid_nb = g ? mla_alloc(2 * g, sizeof(int32_t)) : NULL;
    if (!out->eval_idx || !out->examples || !out->cred_clean || !out->cred_adv || !out->points || (g && !out->grid_nb))
        return MLA_ERR_NOMEM;
    memcpy(out->eval_idx, shape->eval_idx, n * sizeof(int32_t));
    memcpy(out->cred_clean, a->clean.cred, n * sizeof(float));
    if (g) memcpy(out->grid_nb, a->grid_clean, g * sizeof(int32_t));
    return MLA_OK;
}

/* One run: its attack model (DkNNB or SW), targets, and every eps. */
static mla_status run_one(audit *a, const mla_robust_config *c, const mla_robust_result *shape,
                          mla_robust_result *out) {
    run r = {.a = a, .cfg = c};
    if (c->through == MLA_THROUGH_DKNNB || c->through == MLA_THROUGH_DKNNB_CL)
        r.dknnb = a->dknnbs[c->through == MLA_THROUGH_DKNNB_CL];
    mla_status s = result_init(a, shape, c->n_eps, out);
    if (!s && c->through == MLA_THROUGH_SW)
        s = mla_sw_create(a->net, c->layers, c->n_layers, a->ref_x, a->ref_sel, a->ref_y, a->n_ref, a->x, a->y, a->n,
                          c->sw_guides, c->batch, &r.sw);
    if (!s && c->attack.targeted) s = draw_targets(&r);
    if (!s && r.dknnb) {
        mla_adv_model m = mla_dknnb_model(r.dknnb);
        r.clean_dknnb = mla_alloc((size_t)a->n, sizeof(int32_t));
        s = r.clean_dknnb ? model_predict(&m, a->x, a->n, c->batch, r.clean_dknnb) : MLA_ERR_NOMEM;
    }
    float *adv = s ? NULL : mla_alloc((size_t)a->n * a->dim, sizeof(float));
    if (!s && !adv) s = MLA_ERR_NOMEM;
    size_t g = (size_t)out->n_grid * c->n_layers * MLA_ROBUST_GRID_NEIGHBORS;
    for (int e = 0; !s && e < c->n_eps; e++) {
        int32_t *grid = e || !out->grid_nb ? NULL : out->grid_nb + g;
        s = attack_point(&r, c->eps[e], &out->points[e], e ? adv : out->examples, e ? NULL : out->cred_adv, grid,
                         out->n_grid);
        out->n_points = e + 1;
    }
    free(adv);
    free(r.targets), free(r.clean_dknnb);
    mla_sw_free(r.sw);
    return s;
}

mla_status mla_robust_audit_runs(mla_net *net, const mla_dataset *train, const mla_dataset *test,
                                 const mla_robust_config *cfgs, int n_runs, mla_robust_result *outs,
                                 double *seconds, mla_robust_run_done done, void *user) {
    for (int i = 0; i < n_runs; i++) memset(&outs[i], 0, sizeof outs[i]);
    if (n_runs < 1) return mla_error(MLA_ERR_INVALID, "no runs given");
    mla_status s = mla_check_compatible(net, train);
    if (!s) s = mla_check_compatible(net, test);
    for (int i = 0; !s && i < n_runs; i++) s = check_config(net, test, &cfgs[i]);
    if (!s) s = check_runs(cfgs, n_runs);
    if (!s && cfgs[0].transfer && (s = mla_check_compatible(cfgs[0].transfer, test)))
        s = mla_error_prefix(s, "transfer model: ");
    if (s) return s;
    double t0 = mla_seconds();
    audit a = {.net = net, .cfg = &cfgs[0], .dim = mla_shape_size(mla_net_input_shape(net)),
               .classes = mla_net_classes(net)};
    mla_robust_result shape = {0};
    s = audit_build(&a, train, test, cfgs, n_runs, &shape);
    double *sec = seconds ? seconds : mla_alloc((size_t)n_runs + 1, sizeof(double));
    if (!s && !sec) s = MLA_ERR_NOMEM;
    if (sec) sec[0] = mla_seconds() - t0;
    for (int i = 0; !s && i < n_runs; i++) {
        double t = mla_seconds();
        s = run_one(&a, &cfgs[i], &shape, &outs[i]);
        sec[1 + i] = mla_seconds() - t;
        if (!s && done) s = done(user, i, &outs[i], sec);
    }
    if (!seconds) free(sec);
    audit_free(&a);
    free(shape.eval_idx);
    for (int i = 0; s && i < n_runs; i++) mla_robust_result_free(&outs[i]);
    return s;
}

mla_status mla_robust_audit(mla_net *net, const mla_dataset *train, const mla_dataset *test,
                            const mla_robust_config *cfg, mla_robust_result *out) {
    return mla_robust_audit_runs(net, train, test, cfg, 1, out, NULL, NULL, NULL);
}

void mla_robust_result_free(mla_robust_result *r) {
    free(r->eval_idx), free(r->points), free(r->examples), free(r->cred_clean), free(r->cred_adv), free(r->grid_nb);
    memset(r, 0, sizeof *r);
}
