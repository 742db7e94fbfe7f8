/* ROC helpers over several scorers: the points as CSV, the curves as one figure. */
#include "mlaudit/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/scoring.h"

/* Builds input i's curve; the failure names the scorer. */
static mla_status roc_of(const mla_roc_input *in, mla_roc **out) {
    mla_status s = mla_roc_create(in->pos, in->n_pos, in->neg, in->n_neg, out);
    return s == MLA_OK ? s : mla_error_prefix(s, "ROC of '%s'", in->name ? in->name : "?");
}

mla_status mla_roc_write_csv(const char *path, const char *name_column, const mla_roc_input *in, int n) {
    if (!in || n < 0) return mla_error(MLA_ERR_INVALID, "%s: no ROC inputs", path ? path : "(null)");
    mla_atomic_file *f = NULL;
    mla_status s = mla_atomic_open(path, &f);
    if (s != MLA_OK) return s;
    FILE *fp = mla_atomic_stream(f);
    fprintf(fp, "%s,threshold,fpr,tpr\n", name_column ? name_column : "name");
    for (int i = 0; i < n && s == MLA_OK; i++) {
        mla_roc *r = NULL;
        s = roc_of(&in[i], &r);
        for (int64_t k = 0; s == MLA_OK && k < r->n; k++)
            fprintf(fp, "%s,%.17g,%.17g,%.17g\n", in[i].name ? in[i].name : "", r->threshold[k],
                    (double)r->fp[k] / (double)r->n_neg, (double)r->tp[k] / (double)r->n_pos);
        mla_roc_free(r);
    }
    if (s != MLA_OK) {
        mla_atomic_abort(f);
        return mla_error_prefix(s, "%s", path);
    }
    return mla_atomic_commit(f);
}

/* One curve as plot arrays (FPR, TPR), owned by the caller. */
static mla_status curve_points(const mla_roc_input *in, double **x, double **y, int *n, double *auc) {
    mla_roc *r = NULL;
    mla_status s = roc_of(in, &r);
    if (s != MLA_OK) return s;
    if (r->n > INT32_MAX) {
        mla_roc_free(r);
        return mla_error(MLA_ERR_INVALID, "ROC of '%s': too many points to draw", in->name ? in->name : "?");
    }
    *x = mla_alloc((size_t)r->n, sizeof **x);
    *y = mla_alloc((size_t)r->n, sizeof **y);
    if (!*x || !*y) {
        mla_roc_free(r);
        return MLA_ERR_NOMEM;
    }
    for (int64_t k = 0; k < r->n; k++) {
        (*x)[k] = (double)r->fp[k] / (double)r->n_neg;
        (*y)[k] = (double)r->tp[k] / (double)r->n_pos;
    }
    *n = (int)r->n;
    *auc = mla_roc_auc(r);
    mla_roc_free(r);
    return MLA_OK;
}

mla_status mla_roc_figure(const char *path, const mla_roc_input *in, int n, const mla_roc_figure_opts *opts,
                          double *auc) {
    if (!in || n < 1) return mla_error(MLA_ERR_INVALID, "%s: no ROC inputs", path ? path : "(null)");
    mla_roc_figure_opts o = opts ? *opts : (mla_roc_figure_opts){0};
    mla_plot_series *series = mla_alloc((size_t)n, sizeof *series);
    char (*names)[160] = mla_alloc((size_t)n, sizeof *names);
    mla_status s = series && names ? MLA_OK : MLA_ERR_NOMEM;
    int64_t max_neg = 1;
    for (int i = 0; i < n && s == MLA_OK; i++) {
        double a = NAN;
        double *x = NULL, *y = NULL;
        int np = 0;
        s = curve_points(&in[i], &x, &y, &np, &a);
        series[i] = (mla_plot_series){.name = names[i], .x = x, .y = y, .n = np};
        snprintf(names[i], sizeof names[i], "%s (AUC %.3f)", in[i].name ? in[i].name : "?", a);
        if (auc) auc[i] = a;
        if (in[i].n_neg > max_neg) max_neg = in[i].n_neg;
    }
    if (s == MLA_OK) {
        mla_plot_line_opts lo = {.frame = o.frame, .diagonal = 1};
        lo.x.title = o.x_title ? o.x_title : "false positive rate";
        lo.y.title = o.y_title ? o.y_title : "true positive rate";
        lo.x.max = lo.y.max = 1;
        if (o.log_axes) {
            lo.x.log_scale = lo.y.log_scale = 1;
            lo.x.min = lo.y.min = fmax(1e-5, 1.0 / (double)max_neg);
        }
        s = mla_plot_lines(path, series, n, &lo);
    }
    for (int i = 0; series && i < n; i++) {
        free((void *)series[i].x);
        free((void *)series[i].y);
    }
    free(series);
    free(names);
    return s;
}
