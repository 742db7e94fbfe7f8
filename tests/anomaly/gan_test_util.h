/* Helpers of the GAN methods' tests: a config with every field set by hand, the
 * one-out split of a small labelled dataset, and AUROC through the scoring module. */
#ifndef MLAUDIT_TESTS_GAN_TEST_UTIL_H
#define MLAUDIT_TESTS_GAN_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "mlaudit/anomaly.h"
#include "mlaudit/scoring.h"

/* The settings the tests start from (the runner's mla_anomaly_defaults lives in
 * another module; the GAN methods need only these fields). */
static inline mla_anomaly_config gan_test_config(void) {
    mla_anomaly_config c;
    memset(&c, 0, sizeof c);
    c.seed = 1, c.threads = 1, c.epochs = 4, c.batch = 32, c.k = 1;
    c.adegan.patterns = 2, c.adegan.noise_dim = 8, c.adegan.noise_sigma = 1;
    c.adegan.alpha = 1, c.adegan.beta = 1, c.adegan.gamma = 10, c.adegan.score = "both";
    return c;
}

/* One-out split of a dataset with labels: indices of the normal images (label !=
 * anomalous) cut into train (the first n_train) and val (the rest of the first half);
 * test = every image of the second half. Caller frees *train, *val, *test. */
typedef struct {
    int32_t *train, *val, *test;
    int n_train, n_val, n_test;
} gan_split;

static inline gan_split gan_test_split(const mla_dataset *ds, int anomalous) {
    int n = mla_dataset_count(ds), half = n / 2;
    const int32_t *y = mla_dataset_labels(ds);
    gan_split s;
    memset(&s, 0, sizeof s);
    s.train = malloc((size_t)half * sizeof(int32_t));
    s.val = malloc((size_t)half * sizeof(int32_t));
    s.test = malloc((size_t)(n - half) * sizeof(int32_t));
    int normal = 0;
    for (int i = 0; i < half; i++) if (y[i] != anomalous) normal++;
    int n_train = normal * 3 / 4;
    for (int i = 0, k = 0; i < half; i++) {
        if (y[i] == anomalous) continue;
        if (k < n_train) s.train[s.n_train++] = i;
        else s.val[s.n_val++] = i;
        k++;
    }
    for (int i = half; i < n; i++) s.test[s.n_test++] = i;
    return s;
}

static inline void gan_split_free(gan_split *s) { free(s->train), free(s->val), free(s->test); }

/* AUROC of scores[0..n) for images idx (anomaly = label `anomalous`, positive). */
static inline double gan_test_auroc(const mla_dataset *ds, const int32_t *idx, int n, const double *scores,
                                    int anomalous) {
    const int32_t *y = mla_dataset_labels(ds);
    double *pos = malloc((size_t)n * sizeof(double)), *neg = malloc((size_t)n * sizeof(double));
    int np = 0, nn = 0;
    for (int i = 0; i < n; i++) {
        if (y[idx[i]] == anomalous) pos[np++] = scores[i];
        else neg[nn++] = scores[i];
    }
    mla_roc *r = NULL;
    double auc = -1;
    if (mla_roc_create(pos, np, neg, nn, &r) == MLA_OK) auc = mla_roc_auc(r);
    mla_roc_free(r);
    free(pos), free(neg);
    return auc;
}

#endif
