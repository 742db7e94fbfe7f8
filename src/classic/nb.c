/* Gaussian naive Bayes, as scikit-learn's GaussianNB.
 *
 * Per class: the prior (its share of the training rows), per-feature means and variances (ddof 0).
 * Every variance is raised by epsilon = var_smoothing * (the largest per-feature variance over all
 * training rows), or by var_smoothing itself when every feature is constant. Parameter:
 * var_smoothing (default 1e-9, must be > 0). Probabilities come from the joint log-likelihoods
 * through log-sum-exp; a class absent from the training rows gets probability 0.
 * Everything is computed in double; the seed is unused (nothing is random).
 */
#include "classic/classifier_impl.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define TWO_PI 6.283185307179586476925286766559

static const char *const nb_param_names[] = {"var_smoothing", NULL};

typedef struct {
    double var_smoothing;
    int d, classes;
    int64_t *count;      /* rows per class; NULL until fitted */
    double *mean, *var;  /* classes x d; var already smoothed */
} nb_state;

static mla_status nb_create(const mla_param *params, int n_params, uint64_t seed, void **state) {
    (void)seed;
    *state = NULL;
    double var_smoothing = 1e-9;
    mla_status st = mla_classic_read_params("nb", nb_param_names, params, n_params, &var_smoothing, NULL);
    if (st) return st;
    if (!(var_smoothing > 0) || !isfinite(var_smoothing))
        return mla_error(MLA_ERR_INVALID, "nb: var_smoothing must be > 0 (got %g)", var_smoothing);
    nb_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    s->var_smoothing = var_smoothing;
    *state = s;
    return MLA_OK;
}

static void nb_free(void *state) {
    nb_state *s = state;
    if (!s) return;
    free(s->count), free(s->mean), free(s->var);
    free(s);
}

/* Arrays for `classes` x d statistics, zeroed. */
static mla_status nb_alloc_stats(nb_state *s, int d, int classes) {
    s->d = d;
    s->classes = classes;
    s->count = mla_alloc((size_t)classes, sizeof *s->count);
    s->mean = mla_alloc((size_t)classes * (size_t)d, sizeof *s->mean);
    s->var = mla_alloc((size_t)classes * (size_t)d, sizeof *s->var);
    return s->count && s->mean && s->var ? MLA_OK : MLA_ERR_NOMEM;
}

/* ---- fit ---- */

static mla_status check_fit_input(const float *x, const int32_t *y, int n, int d, int classes) {
    if (n < 1 || d < 1 || classes < 2)
        return mla_error(MLA_ERR_SHAPE, "nb: need n >= 1, d >= 1, classes >= 2 (got %d, %d, %d)", n, d, classes);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "nb: label %d of row %d outside [0, %d)", y[i], i, classes);
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_INVALID, "nb: non-finite feature in row %zu", i / (size_t)d);
    return MLA_OK;
}

/* The largest per-feature variance over all rows (two-pass, ddof 0). */
static double largest_feature_variance(const float *x, int n, int d) {
    double top = 0;
    #pragma omp parallel for schedule(static) num_threads(mla_get_threads()) reduction(max : top)
    for (int j = 0; j < d; j++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < n; i++) sum += x[(size_t)i * (size_t)d + j];
        double mean = sum / n;
        for (int i = 0; i < n; i++) {
            double dev = x[(size_t)i * (size_t)d + j] - mean;
            sq += dev * dev;
        }
        top = fmax(top, sq / n);
    }
    return top;
}

/* Class counts, means and (unsmoothed) variances, each by a fixed-order pass over the rows. */
static void class_statistics(nb_state *s, const float *x, const int32_t *y, int n) {
    int d = s->d;
    for (int i = 0; i < n; i++) {
        double *mean = s->mean + (size_t)y[i] * (size_t)d;
        const float *row = x + (size_t)i * (size_t)d;
        s->count[y[i]]++;
        for (int j = 0; j < d; j++) mean[j] += row[j];
    }
    for (int c = 0; c < s->classes; c++)
        for (int j = 0; j < d && s->count[c]; j++) s->mean[(size_t)c * (size_t)d + j] /= (double)s->count[c];
    for (int i = 0; i < n; i++) {
        const double *mean = s->mean + (size_t)y[i] * (size_t)d;
        double *var = s->var + (size_t)y[i] * (size_t)d;
        const float *row = x + (size_t)i * (size_t)d;
        for (int j = 0; j < d; j++) var[j] += (row[j] - mean[j]) * (row[j] - mean[j]);
    }
    for (int c = 0; c < s->classes; c++)
        for (int j = 0; j < d && s->count[c]; j++) s->var[(size_t)c * (size_t)d + j] /= (double)s->count[c];
}

static mla_status nb_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes) {
    nb_state *s = state;
    mla_status st = check_fit_input(x, y, n, d, classes);
    if (st) return st;
    nb_state fresh = {.var_smoothing = s->var_smoothing};
    if ((st = nb_alloc_stats(&fresh, d, classes))) {
        free(fresh.count), free(fresh.mean), free(fresh.var);
        return st;
    }
    class_statistics(&fresh, x, y, n);
    double top = largest_feature_variance(x, n, d);
    double epsilon = top > 0 ? s->var_smoothing * top : s->var_smoothing;
    for (size_t j = 0; j < (size_t)classes * (size_t)d; j++) fresh.var[j] += epsilon;
    free(s->count), free(s->mean), free(s->var);
    *s = fresh;
    return MLA_OK;
}

/* ---- predict ---- */

/* Per class: log prior - 1/2 sum_j log(2 pi var_j); -inf for classes absent from training. */
static void class_constants(const nb_state *s, double *out) {
    int64_t total = 0;
    for (int c = 0; c < s->classes; c++) total += s->count[c];
    for (int c = 0; c < s->classes; c++) {
        if (!s->count[c]) {
            out[c] = -INFINITY;
            continue;
        }
        double sum = 0;
        for (int j = 0; j < s->d; j++) sum += log(TWO_PI * s->var[(size_t)c * (size_t)s->d + j]);
        out[c] = log((double)s->count[c] / (double)total) - 0.5 * sum;
    }
}

/* One row's class probabilities from its joint log-likelihoods (joint: scratch of classes). */
static void row_proba(const nb_state *s, const double *constant, const float *row, double *joint, float *out) {
    int d = s->d;
    double top = -INFINITY, sum = 0;
    for (int c = 0; c < s->classes; c++) {
        joint[c] = constant[c];
        if (isinf(constant[c])) continue;
        const double *mean = s->mean + (size_t)c * (size_t)d, *var = s->var + (size_t)c * (size_t)d;
        double q = 0;
        for (int j = 0; j < d; j++) q += (row[j] - mean[j]) * (row[j] - mean[j]) / var[j];
        joint[c] -= 0.5 * q;
        top = fmax(top, joint[c]);
    }
    for (int c = 0; c < s->classes; c++) sum += exp(joint[c] - top);
    double lse = top + log(sum);
    for (int c = 0; c < s->classes; c++) out[c] = (float)exp(joint[c] - lse);
}

static mla_status nb_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba) {
    const nb_state *s = state;
    if (!s->count) return mla_error(MLA_ERR_INVALID, "nb: model is not fitted");
    if (d != s->d || classes != s->classes)
        return mla_error(MLA_ERR_SHAPE, "nb: model has %d features and %d classes, asked for %d and %d", s->d, s->classes,
                         d, classes);
    double *constant = mla_alloc((size_t)classes, sizeof *constant);
    double *joint = mla_alloc((size_t)classes * (size_t)mla_get_threads(), sizeof *joint);
    if (!constant || !joint) {
        free(constant), free(joint);
        return MLA_ERR_NOMEM;
    }
    class_constants(s, constant);
    #pragma omp parallel for schedule(static) num_threads(mla_get_threads())
    for (int i = 0; i < n; i++) {
        double *scratch = joint + (size_t)omp_get_thread_num() * (size_t)classes;
        row_proba(s, constant, x + (size_t)i * (size_t)d, scratch, proba + (size_t)i * (size_t)classes);
    }
    free(constant), free(joint);
    return MLA_OK;
}

/* ---- save / load ----
 * Stream (native byte order): u32 version; f64 var_smoothing; i64 count[classes];
 * f64 mean[classes x d]; f64 var[classes x d] (smoothed). */

#define NB_STREAM_VERSION 1u

static mla_status nb_save(const void *state, FILE *fp) {
    const nb_state *s = state;
    if (!s->count) return mla_error(MLA_ERR_INVALID, "nb: model is not fitted");
    uint32_t version = NB_STREAM_VERSION;
    size_t k = (size_t)s->classes, cells = k * (size_t)s->d;
    if (fwrite(&version, 4, 1, fp) != 1 || fwrite(&s->var_smoothing, 8, 1, fp) != 1 || fwrite(s->count, 8, k, fp) != k ||
        fwrite(s->mean, 8, cells, fp) != cells || fwrite(s->var, 8, cells, fp) != cells)
        return mla_error(MLA_ERR_IO, "nb: write failed");
    return MLA_OK;
}

static mla_status check_loaded(const nb_state *s) {
    int64_t total = 0;
    for (int c = 0; c < s->classes; c++) {
        if (s->count[c] < 0 || s->count[c] > INT32_MAX) return mla_error(MLA_ERR_FORMAT, "nb model: corrupt class counts");
        total += s->count[c];
    }
    if (total == 0) return mla_error(MLA_ERR_FORMAT, "nb model: no training rows recorded");
    for (size_t j = 0; j < (size_t)s->classes * (size_t)s->d; j++)
        if (!isfinite(s->mean[j]) || !(s->var[j] > 0) || !isfinite(s->var[j]))
            return mla_error(MLA_ERR_FORMAT, "nb model: corrupt mean or variance at %zu", j);
    return MLA_OK;
}

static mla_status nb_load(FILE *fp, int d, int classes, void **state) {
    *state = NULL;
    if (d < 1 || classes < 2) return mla_error(MLA_ERR_FORMAT, "nb model: bad shape (%d features, %d classes)", d, classes);
    nb_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    mla_status st = nb_alloc_stats(s, d, classes);
    size_t k = (size_t)classes, cells = k * (size_t)d;
    uint32_t version = 0;
    if (!st && (fread(&version, 4, 1, fp) != 1 || fread(&s->var_smoothing, 8, 1, fp) != 1))
        st = mla_error(MLA_ERR_FORMAT, "nb model: truncated header");
    if (!st && version != NB_STREAM_VERSION) st = mla_error(MLA_ERR_FORMAT, "nb model: unknown version %u", version);
    if (!st && !(s->var_smoothing > 0 && isfinite(s->var_smoothing)))
        st = mla_error(MLA_ERR_FORMAT, "nb model: corrupt var_smoothing");
    if (!st && (fread(s->count, 8, k, fp) != k || fread(s->mean, 8, cells, fp) != cells || fread(s->var, 8, cells, fp) != cells))
        st = mla_error(MLA_ERR_FORMAT, "nb model: truncated statistics");
    if (!st) st = check_loaded(s);
    if (st) {
        nb_free(s);
        return st;
    }
    *state = s;
    return MLA_OK;
}

const mla_classifier_ops mla_nb_ops = {
    .kind = "nb",
    .param_names = nb_param_names,
    .create = nb_create,
    .fit = nb_fit,
    .predict_proba = nb_predict_proba,
    .predict = NULL,
    .save = nb_save,
    .load = nb_load,
    .free = nb_free,
};
