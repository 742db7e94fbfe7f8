/* Learned membership attacks (mia.h, "Learned attacks"): attack features from softmax
 * rows, the attack model (a small net of the nn engine trained by mla_train on
 * standardised features), and MIA-BAD's batch means.
 *
 * Model layout. SORTED features: one net. RAW features: nets[k] for class k, NULL where
 * class k lacks members or non-members, and nets[classes] = the shared model fit on
 * every row, present only when some class needs it. Each net standardises with the
 * mean and sd of its own fit rows. Net j is seeded from cfg.seed's stream j.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/mia.h"
#include "mlaudit/train.h"

#define PREDICT_BATCH 1024
#define MIN_LOG_ARG 1e-300

struct mla_attack_model {
    mla_attack_config cfg;
    int d, classes;
    int n_models;      /* 1 (SORTED) or classes + 1 (RAW) */
    mla_net **nets;    /* n_models, NULL where unused */
    float *mean, *sd;  /* n_models x d */
};

mla_attack_config mla_attack_defaults(void) {
    return (mla_attack_config){.features = MLA_ATTACK_FEATURES_SORTED, .model = MLA_ATTACK_MODEL_MLP, .hidden = 64,
                               .epochs = 80, .batch = 256, .lr = 1e-3f, .seed = 0};
}

/* ---- features ---- */

/* 0 for c < 1 or an unknown kind. */
int mla_attack_feature_dim(mla_attack_features f, int c) {
    if (c < 1) return 0;
    if (f == MLA_ATTACK_FEATURES_SORTED) return c + 1;
    if (f == MLA_ATTACK_FEATURES_RAW) return c;
    return 0;
}

static int descending(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Labels are trusted to lie in [0, c); a label outside gives a NaN loss column. Writes
 * nothing for an unknown kind or c < 1. */
void mla_attack_features_of(mla_attack_features f, const float *probs, const int32_t *labels, int n, int c,
                            float *out) {
    int d = mla_attack_feature_dim(f, c);
    if (d == 0) return;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * c;
        float *row = out + (size_t)i * d;
        memcpy(row, p, (size_t)c * sizeof *row);
        if (f == MLA_ATTACK_FEATURES_RAW) continue;
        qsort(row, (size_t)c, sizeof *row, descending);
        int y = labels[i];
        row[c] = y >= 0 && y < c ? (float)-log(fmax((double)p[y], MIN_LOG_ARG)) : NAN;
    }
}

/* ---- fitting ---- */

static mla_status check_config(const mla_attack_config *cfg) {
    if (cfg->features != MLA_ATTACK_FEATURES_SORTED && cfg->features != MLA_ATTACK_FEATURES_RAW)
        return mla_error(MLA_ERR_INVALID, "attack model: unknown feature kind %d", (int)cfg->features);
    if (cfg->model != MLA_ATTACK_MODEL_MLP && cfg->model != MLA_ATTACK_MODEL_LOGREG)
        return mla_error(MLA_ERR_INVALID, "attack model: unknown model kind %d", (int)cfg->model);
    if (cfg->model == MLA_ATTACK_MODEL_MLP && (cfg->hidden < 1 || cfg->hidden > 1000000))
        return mla_error(MLA_ERR_INVALID, "attack model: hidden must be 1..1000000, got %d", cfg->hidden);
    if (cfg->epochs < 1) return mla_error(MLA_ERR_INVALID, "attack model: epochs must be >= 1, got %d", cfg->epochs);
    if (cfg->batch < 1) return mla_error(MLA_ERR_INVALID, "attack model: batch must be >= 1, got %d", cfg->batch);
    if (!(cfg->lr > 0 && isfinite(cfg->lr)))
        return mla_error(MLA_ERR_INVALID, "attack model: lr must be positive, got %g", (double)cfg->lr);
    return MLA_OK;
}

static mla_status check_rows(const mla_attack_config *cfg, const float *x, const uint8_t *member,
                             const int32_t *cls, int n, int d, int classes) {
    if (!x || !member) return mla_error(MLA_ERR_INVALID, "attack model: NULL features or membership");
    if (n < 1 || d < 1) return mla_error(MLA_ERR_INVALID, "attack model: needs n >= 1 rows of d >= 1 features (got %d x %d)", n, d);
    if (cfg->features == MLA_ATTACK_FEATURES_RAW && (!cls || classes < 1))
        return mla_error(MLA_ERR_INVALID, "attack model: raw features need the class of every row and classes >= 1");
    for (int i = 0; i < n; i++) {
        if (member[i] > 1) return mla_error(MLA_ERR_INVALID, "attack model: member[%d] = %d is not 0 or 1", i, member[i]);
        if (cfg->features == MLA_ATTACK_FEATURES_RAW && (cls[i] < 0 || cls[i] >= classes))
            return mla_error(MLA_ERR_INVALID, "attack model: class %d of row %d outside [0, %d)", cls[i], i, classes);
        for (int j = 0; j < d; j++)
            if (!isfinite(x[(size_t)i * d + j]))
                return mla_error(MLA_ERR_INVALID, "attack model: feature %d of row %d is not finite", j, i);
    }
    return MLA_OK;
}

static mla_status make_net(const mla_attack_config *cfg, int d, uint64_t seed, mla_net **out) {
    char spec[256];
    if (cfg->model == MLA_ATTACK_MODEL_MLP)
        snprintf(spec, sizeof spec,
                 "{\"name\": \"attack-mlp\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": %d}, "
                 "{\"type\": \"relu\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}",
                 cfg->hidden);
    else
        snprintf(spec, sizeof spec,
                 "{\"name\": \"attack-logreg\", \"layers\": [{\"type\": \"flatten\"}, "
                 "{\"type\": \"dense\", \"units\": \"classes\"}]}");
    return mla_net_create(spec, (mla_shape){1, 1, d}, 2, seed, out);
}

/* Mean and sd (ddof 0; 0 becomes 1) of the rows rows[0..m) of x. */
static void fit_scaler(const float *x, const int32_t *rows, int m, int d, float *mean, float *sd) {
    for (int j = 0; j < d; j++) {
        double s = 0, ss = 0;
        for (int i = 0; i < m; i++) s += x[(size_t)rows[i] * d + j];
        double mu = s / m;
        for (int i = 0; i < m; i++) {
            double e = x[(size_t)rows[i] * d + j] - mu;
            ss += e * e;
        }
        double v = sqrt(ss / m);
        mean[j] = (float)mu;
        sd[j] = v > 0 ? (float)v : 1.0f;
    }
}

static void standardise(const float *row, const float *mean, const float *sd, int d, float *out) {
    for (int j = 0; j < d; j++) out[j] = (row[j] - mean[j]) / sd[j];
}

/* Fits model j on the rows rows[0..m) of x. */
static mla_status fit_one(mla_attack_model *am, int j, const float *x, const uint8_t *member, const int32_t *rows,
                          int m) {
    int d = am->d;
    float *mean = am->mean + (size_t)j * d, *sd = am->sd + (size_t)j * d;
    fit_scaler(x, rows, m, d, mean, sd);
    float *z = mla_alloc((size_t)m * d, sizeof *z);
    int32_t *y = mla_alloc((size_t)m, sizeof *y);
    mla_dataset *ds = NULL;
    mla_status st = z && y ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; st == MLA_OK && i < m; i++) {
        standardise(x + (size_t)rows[i] * d, mean, sd, d, z + (size_t)i * d);
        y[i] = member[rows[i]];
    }
    if (st == MLA_OK) st = mla_dataset_from_memory(m, 1, 1, d, NULL, z, y, 2, &ds);
    free(z);
    free(y);
    mla_rng base;
    mla_rng_seed(&base, am->cfg.seed);
    mla_rng stream = mla_rng_fork(&base, (uint64_t)j);
    uint64_t seed = mla_rng_u64(&stream);
    if (st == MLA_OK) st = make_net(&am->cfg, d, seed, &am->nets[j]);
    if (st == MLA_OK) mla_net_set_keep_activations(am->nets[j], false); /* only logits are read */
    if (st == MLA_OK) {
        mla_train_config tc = mla_train_defaults();
        tc.epochs = am->cfg.epochs;
        tc.batch = am->cfg.batch;
        tc.seed = seed;
        tc.opt = mla_opt_defaults(MLA_OPT_ADAM);
        tc.opt.lr = am->cfg.lr;
        mla_train_stats stats;
        st = mla_train(am->nets[j], ds, NULL, m, &tc, &stats);
    }
    mla_dataset_free(ds);
    return st;
}

/* RAW: which per-class models can be fit (both members and non-members among the
 * class's rows), and whether the shared model is needed. */
static bool plan_classes(const uint8_t *member, const int32_t *cls, int n, int classes, bool *own) {
    int64_t *count = mla_alloc((size_t)classes * 2, sizeof *count);
    if (!count) return false;
    for (int i = 0; i < n; i++) count[(size_t)cls[i] * 2 + member[i]]++;
    bool shared = false;
    for (int k = 0; k < classes; k++) {
        own[k] = count[2 * k] > 0 && count[2 * k + 1] > 0;
        shared |= !own[k];
    }
    own[classes] = shared;
    free(count);
    return true;
}

static mla_status fit_all(mla_attack_model *am, const float *x, const uint8_t *member, const int32_t *cls, int n) {
    int32_t *rows = mla_alloc((size_t)n, sizeof *rows);
    bool *fit = mla_alloc((size_t)am->n_models, sizeof *fit);
    mla_status st = rows && fit ? MLA_OK : MLA_ERR_NOMEM;
    if (st == MLA_OK && am->cfg.features == MLA_ATTACK_FEATURES_RAW && !plan_classes(member, cls, n, am->classes, fit))
        st = MLA_ERR_NOMEM;
    if (st == MLA_OK && am->cfg.features == MLA_ATTACK_FEATURES_SORTED) fit[0] = true;
    bool shared_slot = am->cfg.features == MLA_ATTACK_FEATURES_RAW;
    for (int j = 0; st == MLA_OK && j < am->n_models; j++) {
        if (!fit[j]) continue;
        bool all = !shared_slot || j == am->classes;
        int m = 0;
        for (int i = 0; i < n; i++)
            if (all || cls[i] == j) rows[m++] = i;
        st = fit_one(am, j, x, member, rows, m);
        if (st != MLA_OK && shared_slot) mla_error_prefix(st, "attack model for class %d", j);
    }
    free(rows);
    free(fit);
    return st;
}

mla_status mla_attack_model_fit(const mla_attack_config *cfg, const float *x, const uint8_t *member, const int32_t *cls,
                                int n, int d, int classes, mla_attack_model **out) {
    if (!cfg || !out) return mla_error(MLA_ERR_INVALID, "attack model: NULL config or output");
    *out = NULL;
    mla_status st = check_config(cfg);
    if (st == MLA_OK) st = check_rows(cfg, x, member, cls, n, d, classes);
    if (st != MLA_OK) return st;
    mla_attack_model *am = mla_alloc(1, sizeof *am);
    if (!am) return MLA_ERR_NOMEM;
    bool raw = cfg->features == MLA_ATTACK_FEATURES_RAW;
    *am = (mla_attack_model){.cfg = *cfg, .d = d, .classes = raw ? classes : 1, .n_models = raw ? classes + 1 : 1};
    am->nets = mla_alloc((size_t)am->n_models, sizeof *am->nets);
    am->mean = mla_alloc((size_t)am->n_models * d, sizeof *am->mean);
    am->sd = mla_alloc((size_t)am->n_models * d, sizeof *am->sd);
    st = am->nets && am->mean && am->sd ? MLA_OK : MLA_ERR_NOMEM;
    if (st == MLA_OK) st = fit_all(am, x, member, cls, n);
    if (st != MLA_OK) {
        mla_attack_model_free(am);
        return st;
    }
    *out = am;
    return MLA_OK;
}

void mla_attack_model_free(mla_attack_model *m) {
    if (!m) return;
    for (int j = 0; m->nets && j < m->n_models; j++) mla_net_free(m->nets[j]);
    free(m->nets);
    free(m->mean);
    free(m->sd);
    free(m);
}

/* ---- prediction ---- */

/* The model that scores a row of class k. */
static int route(const mla_attack_model *m, int k) {
    if (m->cfg.features == MLA_ATTACK_FEATURES_SORTED) return 0;
    return m->nets[k] ? k : m->classes;
}

/* P(member) of the rows rows[0..r) of x under model j, in batches. */
static mla_status predict_one(mla_attack_model *m, int j, const float *x, const int32_t *rows, int r, double *p) {
    int d = m->d;
    const float *mean = m->mean + (size_t)j * d, *sd = m->sd + (size_t)j * d;
    for (int first = 0; first < r; first += PREDICT_BATCH) {
        int b = r - first < PREDICT_BATCH ? r - first : PREDICT_BATCH;
        float *in;
        mla_status st = mla_net_input_buffer(m->nets[j], b, &in);
        if (st != MLA_OK) return st;
        for (int i = 0; i < b; i++) standardise(x + (size_t)rows[first + i] * d, mean, sd, d, in + (size_t)i * d);
        const float *z;
        st = mla_net_forward(m->nets[j], in, b, false, &z);
        if (st != MLA_OK) return st;
        for (int i = 0; i < b; i++) p[rows[first + i]] = 1.0 / (1.0 + exp((double)z[2 * i] - (double)z[2 * i + 1]));
    }
    return MLA_OK;
}

/* For SORTED models cls is ignored (may be NULL); for RAW it is required and checked. */
mla_status mla_attack_model_predict(mla_attack_model *m, const float *x, const int32_t *cls, int n, double *p_member) {
    if (!m || !x || !p_member || n < 0) return mla_error(MLA_ERR_INVALID, "attack predict: NULL argument or n < 0");
    bool raw = m->cfg.features == MLA_ATTACK_FEATURES_RAW;
    if (raw && !cls) return mla_error(MLA_ERR_INVALID, "attack predict: raw features need the class of every row");
    for (int i = 0; raw && i < n; i++)
        if (cls[i] < 0 || cls[i] >= m->classes)
            return mla_error(MLA_ERR_INVALID, "attack predict: class %d of row %d outside [0, %d)", cls[i], i, m->classes);
    int32_t *rows = mla_alloc((size_t)n + 1, sizeof *rows);
    if (!rows) return MLA_ERR_NOMEM;
    mla_status st = MLA_OK;
    for (int j = 0; st == MLA_OK && j < m->n_models; j++) {
        if (!m->nets[j]) continue;
        int r = 0;
        for (int i = 0; i < n; i++)
            if (route(m, raw ? cls[i] : 0) == j) rows[r++] = i;
        if (r > 0) st = predict_one(m, j, x, rows, r, p_member);
    }
    free(rows);
    return st;
}

/* ---- MIA-BAD batch rows ---- */

mla_status mla_attack_batch_means(const float *x, int n, int d, int b, mla_rng *rng, float *out, int *rows) {
    if (!x || !rng || !out || !rows) return mla_error(MLA_ERR_INVALID, "batch means: NULL argument");
    if (n < 1 || d < 1) return mla_error(MLA_ERR_INVALID, "batch means: needs n >= 1 rows of d >= 1 (got %d x %d)", n, d);
    if (b < 1 || b > n) return mla_error(MLA_ERR_INVALID, "batch means: batch size %d outside [1, %d]", b, n);
    int32_t *perm = mla_alloc((size_t)n, sizeof *perm);
    double *acc = mla_alloc((size_t)d, sizeof *acc);
    if (!perm || !acc) {
        free(perm);
        free(acc);
        return MLA_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) perm[i] = i;
    mla_rng_shuffle(rng, perm, n);
    int groups = n / b;
    for (int g = 0; g < groups; g++) {
        memset(acc, 0, (size_t)d * sizeof *acc);
        for (int i = 0; i < b; i++)
            for (int j = 0; j < d; j++) acc[j] += x[(size_t)perm[g * b + i] * d + j];
        for (int j = 0; j < d; j++) out[(size_t)g * d + j] = (float)(acc[j] / b);
    }
    *rows = groups;
    free(perm);
    free(acc);
    return MLA_OK;
}
