/* The one-class protocols: settings' defaults, the normal / anomalous splits of one
 * (class, seed) run, and the metrics of one run (anomaly.h). */
#include "mlaudit/anomaly.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/scoring.h"

mla_anomaly_config mla_anomaly_defaults(void) {
    mla_anomaly_config c;
    memset(&c, 0, sizeof c);
    c.k = 1;
    c.adegan = (mla_adegan_config){.patterns = 10, .noise_dim = 16, .noise_sigma = 0.3f, .alpha = 1, .beta = 1,
                                   .gamma = 10, .stage1_epochs = 0, .info_weight = 1, .code_scale = 1, .score = "both",
                                   .recon_trains = "ge", .recon_code = "soft"};
    return c;
}

mla_anomaly_protocol_config mla_anomaly_protocol_defaults(void) {
    return (mla_anomaly_protocol_config){.protocol = MLA_ANOMALY_ONE_OUT, .cls = -1, .seeds = 1, .val_fraction = 0.1,
                                         .f1_quantile = 0.95};
}

mla_status mla_anomaly_protocol_parse(const char *name, mla_anomaly_protocol *out) {
    if (name && !strcmp(name, "one-out")) *out = MLA_ANOMALY_ONE_OUT;
    else if (name && !strcmp(name, "one-in")) *out = MLA_ANOMALY_ONE_IN;
    else return mla_error(MLA_ERR_INVALID, "unknown protocol '%s' (one-out or one-in)", name ? name : "(null)");
    return MLA_OK;
}

const char *mla_anomaly_protocol_name(mla_anomaly_protocol p) { return p == MLA_ANOMALY_ONE_IN ? "one-in" : "one-out"; }

void mla_anomaly_protocol_describe(mla_anomaly_protocol p, int cls, int classes, char *buf, size_t size) {
    char who[32];
    if (cls < 0) snprintf(who, sizeof who, "each class c in turn");
    else snprintf(who, sizeof who, "class %d", cls);
    if (p == MLA_ANOMALY_ONE_IN)
        snprintf(buf, size, "one-in: %s is normal, the other %d classes are anomalies (Deep SVDD's, GeoTrans's protocol)",
                 who, classes - 1);
    else
        snprintf(buf, size, "one-out: %s is the anomaly, the other %d classes are normal (ADe-GAN's, GPND's protocol)",
                 who, classes - 1);
}

static int is_normal(mla_anomaly_protocol p, int cls, int32_t label) {
    return p == MLA_ANOMALY_ONE_IN ? label == cls : label != cls;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void mla_anomaly_split_free(mla_anomaly_split *s) {
    if (!s) return;
    free(s->train);
    free(s->val);
    free(s->test);
    free(s->anomaly);
    memset(s, 0, sizeof *s);
}

/* k of the n entries of pool (indices into a dataset with `labels`), stratified by label
 * and seeded; *out (sorted, caller frees) receives them, *rest (may be NULL) the others
 * (sorted). */
static mla_status stratified_take(const int32_t *pool, int n, const int32_t *labels, int classes, int k, uint64_t seed,
                                  int32_t **out, int32_t **rest) {
    int32_t *lab = mla_alloc((size_t)n + 1, sizeof *lab), *pick = mla_alloc((size_t)k + 1, sizeof *pick);
    uint8_t *taken = mla_alloc((size_t)n + 1, 1);
    int32_t *sel = mla_alloc((size_t)k + 1, sizeof *sel), *others = rest ? mla_alloc((size_t)(n - k) + 1, sizeof *others) : NULL;
    mla_status s = lab && pick && taken && sel && (!rest || others) ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; s == MLA_OK && i < n; i++) lab[i] = labels[pool[i]];
    if (s == MLA_OK) s = mla_stratified_indices(lab, n, classes, k, seed, pick);
    for (int i = 0; s == MLA_OK && i < k; i++) taken[pick[i]] = 1, sel[i] = pool[pick[i]];
    for (int i = 0, j = 0; s == MLA_OK && rest && i < n; i++)
        if (!taken[i]) others[j++] = pool[i];
    free(lab), free(pick), free(taken);
    if (s != MLA_OK) {
        free(sel), free(others);
        return s;
    }
    qsort(sel, (size_t)k, sizeof *sel, cmp_i32);
    if (rest) qsort(others, (size_t)(n - k), sizeof *others, cmp_i32), *rest = others;
    *out = sel;
    return MLA_OK;
}

static mla_status check_datasets(const mla_dataset *train, const mla_dataset *test, int cls) {
    int c1, h1, w1, c2, h2, w2, classes = mla_dataset_classes(train);
    mla_dataset_shape(train, &c1, &h1, &w1);
    mla_dataset_shape(test, &c2, &h2, &w2);
    if (c1 != c2 || h1 != h2 || w1 != w2)
        return mla_error(MLA_ERR_SHAPE, "anomaly: training images are %dx%dx%d but test images %dx%dx%d", c1, h1, w1, c2,
                         h2, w2);
    if (classes < 2) return mla_error(MLA_ERR_INVALID, "anomaly: the dataset has %d class; the protocols need at least 2", classes);
    if (cls < 0 || cls >= classes)
        return mla_error(MLA_ERR_INVALID, "anomaly: class %d is out of range (the dataset has classes 0..%d)", cls,
                         classes - 1);
    return MLA_OK;
}

/* The normal training pool, then validation and training from it. */
static mla_status split_train(const mla_dataset *train, const mla_anomaly_protocol_config *pc, int cls, uint64_t seed,
                              mla_anomaly_split *o) {
    int n = mla_dataset_count(train), classes = mla_dataset_classes(train), np = 0;
    const int32_t *labels = mla_dataset_labels(train);
    int32_t *pool = mla_alloc((size_t)n, sizeof *pool), *rest = NULL;
    if (!pool) return MLA_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        if (is_normal(pc->protocol, cls, labels[i])) pool[np++] = i;
    mla_status s = MLA_OK;
    if (np < 2) s = mla_error(MLA_ERR_INVALID, "anomaly: class %d (%s) leaves %d normal training image(s); at least 2 needed",
                              cls, mla_anomaly_protocol_name(pc->protocol), np);
    int nv = (int)lround(pc->val_fraction * np);
    nv = nv < 1 ? 1 : nv > np - 1 ? np - 1 : nv;
    if (s == MLA_OK) s = stratified_take(pool, np, labels, classes, nv, seed, &o->val, &rest);
    int nt = np - nv;
    if (s == MLA_OK && pc->subset > 0 && pc->subset < nt) {
        s = stratified_take(rest, nt, labels, classes, pc->subset, seed ^ 0x5ab5e7ULL, &o->train, NULL);
        free(rest);
        nt = pc->subset;
    } else if (s == MLA_OK) {
        o->train = rest;
    } else {
        free(rest);
    }
    free(pool);
    o->n_val = nv, o->n_train = nt;
    return s;
}

static mla_status split_test(const mla_dataset *test, const mla_anomaly_protocol_config *pc, int cls, uint64_t base_seed,
                             mla_anomaly_split *o) {
    int n = mla_dataset_count(test), classes = mla_dataset_classes(test), nt = n;
    const int32_t *labels = mla_dataset_labels(test);
    int32_t *all = mla_alloc((size_t)n, sizeof *all);
    if (!all) return MLA_ERR_NOMEM;
    for (int i = 0; i < n; i++) all[i] = i;
    mla_status s = MLA_OK;
    if (pc->test_subset > 0 && pc->test_subset < n) {
        nt = pc->test_subset;
        s = stratified_take(all, n, labels, classes, nt, base_seed ^ 0x7e57ULL, &o->test, NULL);
        free(all);
    } else {
        o->test = all;
    }
    o->n_test = nt;
    o->anomaly = s == MLA_OK ? mla_alloc((size_t)nt, 1) : NULL;
    if (s == MLA_OK && !o->anomaly) s = MLA_ERR_NOMEM;
    for (int i = 0; s == MLA_OK && i < nt; i++) {
        o->anomaly[i] = !is_normal(pc->protocol, cls, labels[o->test[i]]);
        o->n_anomalies += o->anomaly[i];
    }
    if (s == MLA_OK && (o->n_anomalies == 0 || o->n_anomalies == nt))
        s = mla_error(MLA_ERR_INVALID, "anomaly: class %d: the %d test images are all %s; the metrics need both kinds", cls,
                      nt, o->n_anomalies ? "anomalies" : "normal");
    return s;
}

mla_status mla_anomaly_split_make(const mla_dataset *train, const mla_dataset *test,
                                  const mla_anomaly_protocol_config *pc, int cls, uint64_t seed, uint64_t base_seed,
                                  mla_anomaly_split *out) {
    memset(out, 0, sizeof *out);
    mla_status s = check_datasets(train, test, cls);
    if (s == MLA_OK && !(pc->val_fraction > 0 && pc->val_fraction <= 0.9))
        s = mla_error(MLA_ERR_INVALID, "anomaly: the validation fraction %g is outside (0, 0.9]", pc->val_fraction);
    if (s == MLA_OK) s = split_train(train, pc, cls, seed, out);
    if (s == MLA_OK) s = split_test(test, pc, cls, base_seed, out);
    if (s != MLA_OK) mla_anomaly_split_free(out);
    return s;
}

mla_status mla_anomaly_metrics_compute(const double *test_scores, const uint8_t *anomaly, int n_test,
                                       const double *val_scores, int n_val, double quantile, mla_anomaly_metrics *m) {
    int na = 0;
    for (int i = 0; i < n_test; i++) na += anomaly[i] != 0;
    if (na == 0 || na == n_test || n_val < 1)
        return mla_error(MLA_ERR_INVALID, "anomaly metrics: need anomalous and normal test images and validation scores");
    double *pos = mla_alloc((size_t)na, sizeof *pos), *neg = mla_alloc((size_t)(n_test - na), sizeof *neg);
    mla_status s = pos && neg ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0, p = 0, q = 0; s == MLA_OK && i < n_test; i++) {
        if (anomaly[i]) pos[p++] = test_scores[i];
        else neg[q++] = test_scores[i];
    }
    mla_roc *r = NULL;
    mla_threshold_metrics at;
    if (s == MLA_OK) s = mla_roc_create(pos, na, neg, n_test - na, &r);
    if (s == MLA_OK) s = mla_quantile(val_scores, n_val, quantile, &m->threshold);
    if (s == MLA_OK) s = mla_threshold_eval(pos, na, neg, n_test - na, m->threshold, &at);
    if (s == MLA_OK) {
        m->auroc = mla_roc_auc(r);
        m->aupr = mla_roc_average_precision(r);
        m->f1 = at.f1; /* never NaN: there is an anomaly, so tp + fn >= 1 */
    }
    mla_roc_free(r);
    free(pos);
    free(neg);
    return s;
}

mla_mean_sd mla_mean_sd_of(const double *x, int n) {
    mla_mean_sd r = {NAN, NAN};
    if (n < 1) return r;
    double sum = 0, ss = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    r.mean = sum / n;
    for (int i = 0; i < n; i++) ss += (x[i] - r.mean) * (x[i] - r.mean);
    r.sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
    return r;
}
