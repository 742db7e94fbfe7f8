/* The robustness audit's numbers: accuracies, success rates and perturbation sizes
 * (definitions in robust.h). */
#include <math.h>
#include <stdlib.h>

#include "mlaudit/robust.h"

mla_robust_rates mla_robust_rates_of(const int32_t *labels, const int32_t *targets, const int32_t *clean_pred,
                                     const int32_t *adv_pred, int n) {
    long clean = 0, adv = 0, eligible = 0, hit = 0;
    for (int i = 0; i < n; i++) {
        clean += clean_pred[i] == labels[i];
        adv += adv_pred[i] == labels[i];
        if (targets) {
            eligible++;
            hit += adv_pred[i] == targets[i];
        } else if (clean_pred[i] == labels[i]) {
            eligible++;
            hit += adv_pred[i] != labels[i];
        }
    }
    mla_robust_rates r = {NAN, NAN, NAN};
    if (n > 0) r.clean = (double)clean / n, r.adversarial = (double)adv / n;
    if (eligible > 0) r.success_rate = (double)hit / eligible;
    return r;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean and median of v[0..n) (sorts v); NaN for n = 0. */
static void mean_median(double *v, int n, double *mean, double *median) {
    *mean = *median = NAN;
    if (n < 1) return;
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

mla_status mla_perturbation_of(const float *x, const float *adv, int n, int dim, const bool *success,
                               mla_perturbation *out) {
    double *l2 = mla_alloc((size_t)(n > 0 ? n : 1), sizeof(double));
    double *l2s = mla_alloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!l2 || !l2s) {
        free(l2);
        free(l2s);
        return MLA_ERR_NOMEM;
    }
    double linf_sum = 0, linf_max = n > 0 ? 0 : NAN, linf_sum_s = 0;
    int ns = 0;
    for (int i = 0; i < n; i++) {
        double sq = 0, mx = 0;
        for (int j = 0; j < dim; j++) {
            double d = (double)adv[(size_t)i * dim + j] - x[(size_t)i * dim + j];
            sq += d * d;
            mx = fmax(mx, fabs(d));
        }
        l2[i] = sqrt(sq);
        linf_sum += mx;
        linf_max = fmax(linf_max, mx);
        if (success && success[i]) l2s[ns++] = l2[i], linf_sum_s += mx;
    }
    *out = (mla_perturbation){.linf_max = linf_max, .n_success = ns};
    out->linf_mean = n > 0 ? linf_sum / n : NAN;
    mean_median(l2, n, &out->l2_mean, &out->l2_median);
    mean_median(l2s, ns, &out->l2_mean_success, &out->l2_median_success);
    out->linf_mean_success = ns > 0 ? linf_sum_s / ns : NAN;
    free(l2);
    free(l2s);
    return MLA_OK;
}

double mla_l2_rescaled(const float *x, const float *adv, int n, int dim, const bool *wrong) {
    double sum = 0;
    long count = 0;
    for (int i = 0; i < n; i++) {
        if (!wrong[i]) continue;
        double sq = 0;
        for (int j = 0; j < dim; j++) {
            double d = (double)adv[(size_t)i * dim + j] - x[(size_t)i * dim + j];
            sq += d * d;
        }
        sum += 255.0 * sqrt(sq) / dim;
        count++;
    }
    return count ? sum / count : NAN;
}
