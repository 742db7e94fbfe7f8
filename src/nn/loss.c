/* Losses. Each returns the mean over samples (or values) and, if asked, the
 * gradient of that mean with respect to its input. Softmax is computed stably
 * (max subtracted) in double. */
#include <math.h>
#include <string.h>

#include "mlaudit/nn.h"

/* Row buffers live on the stack; more classes than this return NaN (documented in nn.h). */
#define MAX_CLASSES 4096

void mla_softmax_rows(const float *logits, int n, int k, float *probs) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float *p = probs + (size_t)i * k;
        float mx = z[0];
        for (int j = 1; j < k; j++)
            if (z[j] > mx) mx = z[j];
        double sum = 0;
        for (int j = 0; j < k; j++) sum += exp((double)z[j] - mx);
        for (int j = 0; j < k; j++) p[j] = (float)(exp((double)z[j] - mx) / sum);
    }
}

/* log softmax of one row into out; returns nothing, out[j] = z[j] - logsumexp(z). */
static void log_softmax_row(const float *z, int k, double *out) {
    double mx = z[0];
    for (int j = 1; j < k; j++)
        if (z[j] > mx) mx = z[j];
    double sum = 0;
    for (int j = 0; j < k; j++) sum += exp(z[j] - mx);
    double lse = mx + log(sum);
    for (int j = 0; j < k; j++) out[j] = z[j] - lse;
}

float mla_loss_softmax_ce(const float *logits, int n, int k, const int32_t *labels, const float *targets,
                          float *dlogits, float *probs) {
    double total = 0, lsm[MAX_CLASSES];
    if (k > MAX_CLASSES) return NAN;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        log_softmax_row(z, k, lsm);
        double loss = 0;
        if (labels)
            loss = -lsm[labels[i]];
        else
            for (int j = 0; j < k; j++) loss -= targets[(size_t)i * k + j] * lsm[j];
        total += loss;
        for (int j = 0; j < k; j++) {
            double p = exp(lsm[j]);
            if (probs) probs[(size_t)i * k + j] = (float)p;
            if (dlogits) {
                double t = labels ? (j == labels[i]) : targets[(size_t)i * k + j];
                dlogits[(size_t)i * k + j] = (float)((p - t) / n);
            }
        }
    }
    return (float)(total / n);
}

float mla_loss_bce_logits(const float *logits, const float *targets, size_t count, float *dlogits) {
    double total = 0;
    for (size_t i = 0; i < count; i++) {
        double z = logits[i], t = targets[i];
        /* max(z, 0) - z t + log(1 + e^-|z|): stable for any z. */
        total += fmax(z, 0) - z * t + log1p(exp(-fabs(z)));
        if (dlogits) dlogits[i] = (float)((1.0 / (1.0 + exp(-z)) - t) / (double)count);
    }
    return (float)(total / (double)count);
}

float mla_loss_mse(const float *pred, const float *target, size_t count, float *dpred) {
    double total = 0;
    for (size_t i = 0; i < count; i++) {
        double d = (double)pred[i] - target[i];
        total += d * d;
        if (dpred) dpred[i] = (float)(2.0 * d / (double)count);
    }
    return (float)(total / (double)count);
}

float mla_loss_kl_softmax(const float *logits, const float *target, int n, int k, float *dlogits) {
    double total = 0, lsm[MAX_CLASSES];
    if (k > MAX_CLASSES) return NAN;
    for (int i = 0; i < n; i++) {
        log_softmax_row(logits + (size_t)i * k, k, lsm);
        for (int j = 0; j < k; j++) {
            double t = target[(size_t)i * k + j];
            if (t > 0) total += t * (log(t) - lsm[j]);
            if (dlogits) dlogits[(size_t)i * k + j] = (float)((exp(lsm[j]) - t) / n);
        }
    }
    return (float)(total / n);
}
