/* Losses. Each returns the mean over samples (or values) and, if asked, the
 * gradient of that mean with respect to its input. Softmax is computed stably
 * (max subtracted): float exponentials, sums and logarithms in double. */
#include <math.h>
#include <string.h>

#include "mlaudit/nn.h"
#include "nn/mathf.h"

/* Row buffers live on the stack; more classes than this return NaN (documented in nn.h). */
#define MAX_CLASSES 4096

/* The row's shifted exponentials e[j] = exp(z[j] - max z) (float, vectorised: one exp
 * per value, where libm's double exp was most of the loss's time) and their sum in
 * double; returns the max through *mx. */
static double exp_row(const float *restrict z, int k, float *restrict e, float *mx) {
    float m = z[0];
    for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
    for (int j = 0; j < k; j++) e[j] = mla_expf(z[j] - m);
    double sum = 0;
    for (int j = 0; j < k; j++) sum += e[j];
    *mx = m;
    return sum;
}

void mla_softmax_rows(const float *logits, int n, int k, float *probs) {
    for (int i = 0; i < n; i++) {
        float *p = probs + (size_t)i * k, mx;
        double inv = 1.0 / exp_row(logits + (size_t)i * k, k, p, &mx);
        for (int j = 0; j < k; j++) p[j] = (float)(p[j] * inv);
    }
}

float mla_loss_softmax_ce(const float *logits, int n, int k, const int32_t *labels, const float *targets,
                          float *dlogits, float *probs) {
    double total = 0;
    float e[MAX_CLASSES];
    if (k > MAX_CLASSES) return NAN;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float mx;
        double sum = exp_row(z, k, e, &mx), lse = mx + log(sum), inv = 1.0 / sum;
        /* loss = -sum_j t_j log p_j, with log p_j = z_j - lse */
        if (labels) {
            total += lse - z[labels[i]];
        } else {
            const float *t = targets + (size_t)i * k;
            for (int j = 0; j < k; j++) total -= t[j] * ((double)z[j] - lse);
        }
        for (int j = 0; j < k; j++) {
            double p = e[j] * inv;
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
    double total = 0;
    float e[MAX_CLASSES];
    if (k > MAX_CLASSES) return NAN;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float mx;
        double sum = exp_row(z, k, e, &mx), lse = mx + log(sum), inv = 1.0 / sum;
        for (int j = 0; j < k; j++) {
            double t = target[(size_t)i * k + j];
            if (t > 0) total += t * (log(t) - ((double)z[j] - lse));
            if (dlogits) dlogits[(size_t)i * k + j] = (float)((e[j] * inv - t) / n);
        }
    }
    return (float)(total / n);
}
