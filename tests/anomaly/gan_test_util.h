/* Helpers of the GAN methods' tests: a config with every field set by hand, the
 * one-out split of a small labelled dataset, and AUROC through the scoring module. */
#ifndef MLAUDIT_TESTS_GAN_TEST_UTIL_H
#define MLAUDIT_TESTS_GAN_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "mlaudit/anomaly.h"
#include "mlaudit/scoring.h"
#include "mlaudit/core.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

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

/* Central differences for `count` seeded parameters of p[0..np): each must match the
 * analytic gradient within 2% + 1% of the largest analytic entry at one of three
 * steps (small steps keep relus from crossing their kinks; with steps of 1e-2 a few
 * percent of the entries did). loss(ctx) recomputes the loss at the current p. Returns
 * how many entries disagree (printing the first five, named by `name`). */
static inline int gan_fd_check(float *p, size_t np, const float *analytic, int count, uint64_t seed,
                               double (*loss)(void *ctx), void *ctx, const char *name) {
    double scale = 0;
    for (size_t i = 0; i < np; i++) scale = fmax(scale, fabs(analytic[i]));
    if (!(scale > 0)) return count;
    mla_rng r;
    mla_rng_seed(&r, seed);
    int bad = 0;
    for (int t = 0; t < count; t++) {
        size_t i = (size_t)mla_rng_below(&r, np);
        float keep = p[i];
        double best = INFINITY, num = 0;
        static const float steps[] = {3e-3f, 1e-3f, 3e-4f};
        for (int k = 0; k < 3; k++) {
            p[i] = keep + steps[k];
            double up = loss(ctx);
            p[i] = keep - steps[k];
            double down = loss(ctx);
            p[i] = keep;
            double v = (up - down) / (2.0 * steps[k]);
            if (fabs(v - analytic[i]) < best) best = fabs(v - analytic[i]), num = v;
        }
        if (best > 0.02 * fabs(num) + 0.01 * scale && bad++ < 5)
            fprintf(stderr, "%s param %zu: analytic %g numeric %g\n", name, i, analytic[i], num);
    }
    return bad;
}

#endif
