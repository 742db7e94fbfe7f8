/* Scores, stratified folds and the CV grid (metrics.h). */
#include "mlaudit/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- scores ---- */

mla_status mla_confusion_matrix(const int32_t *truth, const int32_t *pred, int n, int classes, int64_t *cm) {
    memset(cm, 0, (size_t)classes * classes * sizeof *cm);
    for (int i = 0; i < n; i++) {
        if (truth[i] < 0 || truth[i] >= classes || pred[i] < 0 || pred[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "confusion matrix: label pair (%d, %d) of sample %d outside [0, %d)",
                             truth[i], pred[i], i, classes);
        cm[(size_t)truth[i] * classes + pred[i]]++;
    }
    return MLA_OK;
}

static int64_t total_of(const int64_t *cm, int classes) {
    int64_t t = 0;
    for (int i = 0; i < classes * classes; i++) t += cm[i];
    return t;
}

double mla_accuracy_from_confusion(const int64_t *cm, int classes) {
    int64_t total = total_of(cm, classes), diag = 0;
    for (int c = 0; c < classes; c++) diag += cm[(size_t)c * classes + c];
    return total ? (double)diag / (double)total : NAN;
}

double mla_cohen_kappa(const int64_t *cm, int classes) {
    double total = (double)total_of(cm, classes);
    if (total == 0) return NAN;
    double po = mla_accuracy_from_confusion(cm, classes), pe = 0;
    for (int c = 0; c < classes; c++) {
        double row = 0, col = 0;
        for (int j = 0; j < classes; j++) {
            row += (double)cm[(size_t)c * classes + j];
            col += (double)cm[(size_t)j * classes + c];
        }
        pe += (row / total) * (col / total);
    }
    if (pe >= 1.0) return po >= 1.0 ? 1.0 : NAN;
    return (po - pe) / (1.0 - pe);
}

void mla_per_class_scores(const int64_t *cm, int classes, double *sensitivity, double *specificity,
                          double *balanced_accuracy) {
    double total = (double)total_of(cm, classes);
    for (int c = 0; c < classes; c++) {
        double tp = (double)cm[(size_t)c * classes + c], row = 0, col = 0;
        for (int j = 0; j < classes; j++) {
            row += (double)cm[(size_t)c * classes + j];
            col += (double)cm[(size_t)j * classes + c];
        }
        double negatives = total - row, tn = total - row - col + tp;
        double sens = row > 0 ? tp / row : NAN, spec = negatives > 0 ? tn / negatives : NAN;
        if (sensitivity) sensitivity[c] = sens;
        if (specificity) specificity[c] = spec;
        if (balanced_accuracy) balanced_accuracy[c] = 0.5 * (sens + spec);
    }
}

/* ---- stratified folds ---- */

mla_status mla_stratified_folds(const int32_t *labels, int n, int classes, int folds, uint64_t seed,
                                int32_t *fold_of) {
    if (folds < 2 || folds > n)
        return mla_error(MLA_ERR_INVALID, "cross-validation: %d folds for %d samples (need 2 <= folds <= samples)", folds, n);
    int32_t *members = mla_alloc((size_t)n, sizeof *members);
    if (!members) return MLA_ERR_NOMEM;
    mla_rng rng;
    mla_rng_seed(&rng, seed);
    int offset = 0;
    for (int c = 0; c < classes; c++) {
        int count = 0;
        for (int i = 0; i < n; i++)
            if (labels[i] == c) members[count++] = i;
        mla_rng_shuffle(&rng, members, count);
        for (int j = 0; j < count; j++) fold_of[members[j]] = (offset + j) % folds;
        offset = (offset + count) % folds;
    }
    free(members);
    return MLA_OK;
}

/* ---- grid search ---- */

void mla_cv_result_free(mla_cv_result *r) {
    if (!r) return;
    for (int a = 0; r->names && a < r->n_axes; a++) free(r->names[a]);
    free(r->names);
    free(r->values);
    free(r->mean_accuracy);
    free(r->sd_accuracy);
    free(r->fold_accuracy);
    free(r);
}

static mla_status check_grid(const mla_param *fixed, int n_fixed, const mla_grid_axis *axes, int n_axes) {
    if (n_axes < 0 || (n_axes > 0 && !axes)) return mla_error(MLA_ERR_INVALID, "grid: bad axis list");
    for (int a = 0; a < n_axes; a++) {
        if (!axes[a].name || axes[a].n_values < 1 || !axes[a].values)
            return mla_error(MLA_ERR_INVALID, "grid: hyperparameter %s has no values", axes[a].name ? axes[a].name : "(null)");
        for (int b = 0; b < a; b++)
            if (!strcmp(axes[a].name, axes[b].name))
                return mla_error(MLA_ERR_INVALID, "grid: hyperparameter %s appears twice", axes[a].name);
        for (int f = 0; f < n_fixed; f++)
            if (!strcmp(axes[a].name, fixed[f].name))
                return mla_error(MLA_ERR_INVALID, "grid: hyperparameter %s is both fixed and searched", axes[a].name);
    }
    return MLA_OK;
}

static mla_cv_result *result_alloc(const mla_grid_axis *axes, int n_axes, int folds) {
    mla_cv_result *r = mla_alloc(1, sizeof *r);
    if (!r) return NULL;
    r->n_axes = n_axes;
    r->folds = folds;
    r->n_settings = 1;
    for (int a = 0; a < n_axes; a++) r->n_settings *= axes[a].n_values;
    size_t s = (size_t)r->n_settings;
    r->names = mla_alloc((size_t)n_axes + 1, sizeof *r->names);
    r->values = mla_alloc(s * (n_axes + 1), sizeof(double));
    r->mean_accuracy = mla_alloc(s, sizeof(double));
    r->sd_accuracy = mla_alloc(s, sizeof(double));
    r->fold_accuracy = mla_alloc(s * folds, sizeof(double));
    int ok = r->names && r->values && r->mean_accuracy && r->sd_accuracy && r->fold_accuracy;
    for (int a = 0; ok && a < n_axes; a++) ok = (r->names[a] = strdup(axes[a].name)) != NULL;
    for (size_t i = 0; ok && i < s; i++) /* last axis fastest */
        for (int a = n_axes - 1, rest = (int)i; a >= 0; rest /= axes[a].n_values, a--)
            r->values[i * n_axes + a] = axes[a].values[rest % axes[a].n_values];
    if (!ok) {
        mla_cv_result_free(r);
        mla_error(MLA_ERR_NOMEM, "grid: out of memory");
        return NULL;
    }
    return r;
}

/* The fixed parameters followed by one setting's values (params has room for both). */
static int setting_params(const mla_cv_result *r, int setting, const mla_param *fixed, int n_fixed, mla_param *params) {
    for (int f = 0; f < n_fixed; f++) params[f] = fixed[f];
    for (int a = 0; a < r->n_axes; a++)
        params[n_fixed + a] = (mla_param){r->names[a], r->values[(size_t)setting * r->n_axes + a]};
    return n_fixed + r->n_axes;
}

/* The data of one split: training rows (fold != held) and held-out rows. */
typedef struct {
    float *xtr, *xte;
    int32_t *ytr, *yte, *pred;
    int ntr, nte;
} fold_data;

static void gather_fold(const float *x, const int32_t *y, int n, int d, const int32_t *fold_of, int held, fold_data *f) {
    f->ntr = f->nte = 0;
    for (int i = 0; i < n; i++) {
        int test = fold_of[i] == held;
        float *dst = test ? f->xte + (size_t)f->nte * d : f->xtr + (size_t)f->ntr * d;
        memcpy(dst, x + (size_t)i * d, (size_t)d * sizeof(float));
        if (test)
            f->yte[f->nte++] = y[i];
        else
            f->ytr[f->ntr++] = y[i];
    }
}

/* Fits one setting on the fold's training rows and returns its held-out accuracy. */
static mla_status score_setting(const char *kind, const mla_param *params, int n_params, const fold_data *f, int d,
                                int classes, uint64_t seed, double *accuracy) {
    mla_classifier *c = NULL;
    mla_status st = mla_classifier_create(kind, params, n_params, seed, &c);
    if (st == MLA_OK) st = mla_classifier_fit(c, f->xtr, f->ytr, f->ntr, d, classes);
    if (st == MLA_OK) st = mla_classifier_predict(c, f->xte, f->nte, f->pred);
    mla_classifier_free(c);
    if (st != MLA_OK) return st;
    int correct = 0;
    for (int i = 0; i < f->nte; i++) correct += f->pred[i] == f->yte[i];
    *accuracy = f->nte ? (double)correct / f->nte : 0.0;
    return MLA_OK;
}

static void summarise(mla_cv_result *r) {
    r->best = 0;
    for (int s = 0; s < r->n_settings; s++) {
        const double *acc = r->fold_accuracy + (size_t)s * r->folds;
        double mean = 0, var = 0;
        for (int f = 0; f < r->folds; f++) mean += acc[f];
        mean /= r->folds;
        for (int f = 0; f < r->folds; f++) var += (acc[f] - mean) * (acc[f] - mean);
        r->mean_accuracy[s] = mean;
        r->sd_accuracy[s] = sqrt(var / (r->folds - 1));
        if (mean > r->mean_accuracy[r->best]) r->best = s;
    }
}

static mla_status run_folds(const char *kind, const mla_param *fixed, int n_fixed, const float *x, const int32_t *y,
                            int n, int d, int classes, const int32_t *fold_of, uint64_t seed, mla_cv_progress progress,
                            void *ctx, mla_cv_result *r) {
    fold_data f = {0};
    f.xtr = mla_alloc((size_t)n * d, sizeof(float));
    f.xte = mla_alloc((size_t)n * d, sizeof(float));
    f.ytr = mla_alloc((size_t)n, sizeof(int32_t));
    f.yte = mla_alloc((size_t)n, sizeof(int32_t));
    f.pred = mla_alloc((size_t)n, sizeof(int32_t));
    mla_param *params = mla_alloc((size_t)(n_fixed + r->n_axes), sizeof *params);
    mla_status st = f.xtr && f.xte && f.ytr && f.yte && f.pred && params ? MLA_OK : MLA_ERR_NOMEM;
    for (int fold = 0; st == MLA_OK && fold < r->folds; fold++) {
        gather_fold(x, y, n, d, fold_of, fold, &f);
        for (int s = 0; st == MLA_OK && s < r->n_settings; s++) {
            int np = setting_params(r, s, fixed, n_fixed, params);
            st = score_setting(kind, params, np, &f, d, classes, seed, &r->fold_accuracy[(size_t)s * r->folds + fold]);
            if (st == MLA_OK && progress) progress(ctx, fold * r->n_settings + s + 1, r->folds * r->n_settings);
        }
    }
    free(f.xtr);
    free(f.xte);
    free(f.ytr);
    free(f.yte);
    free(f.pred);
    free(params);
    return st;
}

static mla_status refit_best(const char *kind, const mla_param *fixed, int n_fixed, const mla_cv_result *r,
                             const float *x, const int32_t *y, int n, int d, int classes, uint64_t seed,
                             mla_classifier **refit) {
    mla_param *params = mla_alloc((size_t)(n_fixed + r->n_axes), sizeof *params);
    if (!params) return MLA_ERR_NOMEM;
    int np = setting_params(r, r->best, fixed, n_fixed, params);
    mla_status st = mla_classifier_create(kind, params, np, seed, refit);
    if (st == MLA_OK) st = mla_classifier_fit(*refit, x, y, n, d, classes);
    if (st != MLA_OK) {
        mla_classifier_free(*refit);
        *refit = NULL;
    }
    free(params);
    return st;
}

mla_status mla_cv_grid(const char *kind, const mla_param *fixed, int n_fixed, const mla_grid_axis *axes, int n_axes,
                       const float *x, const int32_t *y, int n, int d, int classes, int folds, uint64_t seed,
                       mla_cv_progress progress, void *progress_ctx, mla_cv_result **out, mla_classifier **refit) {
    *out = NULL;
    if (refit) *refit = NULL;
    mla_status st = check_grid(fixed, n_fixed, axes, n_axes);
    if (st != MLA_OK) return st;
    int32_t *fold_of = mla_alloc((size_t)(n > 0 ? n : 1), sizeof *fold_of);
    if (!fold_of) return MLA_ERR_NOMEM;
    st = mla_stratified_folds(y, n, classes, folds, seed, fold_of);
    mla_cv_result *r = st == MLA_OK ? result_alloc(axes, n_axes, folds) : NULL;
    if (st == MLA_OK && !r) st = MLA_ERR_NOMEM;
    double t0 = mla_seconds();
    if (st == MLA_OK) st = run_folds(kind, fixed, n_fixed, x, y, n, d, classes, fold_of, seed, progress, progress_ctx, r);
    if (st == MLA_OK) {
        summarise(r);
        r->seconds = mla_seconds() - t0;
    }
    if (st == MLA_OK && refit) st = refit_best(kind, fixed, n_fixed, r, x, y, n, d, classes, seed, refit);
    free(fold_of);
    if (st != MLA_OK) {
        mla_cv_result_free(r);
        return st;
    }
    *out = r;
    return MLA_OK;
}
