/* The protocol runner: every method on every requested class and seed, the same
 * splits for all methods, metrics per run and their means and deviations (anomaly.h). */
#include "mlaudit/anomaly.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void class_result_free(mla_anomaly_class_result *c) {
    mla_anomaly_split_free(&c->split);
    free(c->seed_metrics);
    free(c->term_metrics);
    free(c->scores);
    free(c->terms);
    free(c->term_auroc);
    free(c->term_aupr);
    free(c->term_f1);
}

void mla_anomaly_result_free(mla_anomaly_result *r) {
    if (!r) return;
    for (int m = 0; r->methods && m < r->n_methods; m++) {
        mla_anomaly_method_result *mr = &r->methods[m];
        for (int c = 0; mr->per_class && c < mr->n_classes; c++) class_result_free(&mr->per_class[c]);
        free(mr->per_class);
        free(mr->term_mean_auroc);
        free(mr->term_mean_aupr);
    }
    free(r->methods);
    memset(r, 0, sizeof *r);
}

/* Fails unless every value is finite; the message names the method, class and seed. */
static mla_status check_finite(const double *v, size_t n, const char *what, const char *method, int cls, int s) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return mla_error(MLA_ERR_INVALID,
                             "anomaly: method '%s' gave a non-finite %s (%g) on class %d, seed index %d "
                             "(training diverged?); no scores written",
                             method, what, v[i], cls, s);
    return MLA_OK;
}

/* Allocates a class result's arrays for `seeds` runs of a method with T terms. */
static mla_status class_alloc(mla_anomaly_class_result *c, int seeds, int n_test, int T) {
    c->seed_metrics = mla_alloc((size_t)seeds, sizeof *c->seed_metrics);
    c->scores = mla_alloc((size_t)seeds * (size_t)n_test, sizeof *c->scores);
    int ok = c->seed_metrics && c->scores;
    if (T > 0) {
        c->term_metrics = mla_alloc((size_t)seeds * (size_t)T, sizeof *c->term_metrics);
        c->terms = mla_alloc((size_t)seeds * (size_t)n_test * (size_t)T, sizeof *c->terms);
        c->term_auroc = mla_alloc((size_t)T, sizeof(mla_mean_sd));
        c->term_aupr = mla_alloc((size_t)T, sizeof(mla_mean_sd));
        c->term_f1 = mla_alloc((size_t)T, sizeof(mla_mean_sd));
        ok = ok && c->term_metrics && c->terms && c->term_auroc && c->term_aupr && c->term_f1;
    }
    return ok ? MLA_OK : MLA_ERR_NOMEM;
}

/* Column t of an n x T row-major array into out. */
static void column(const double *a, int n, int T, int t, double *out) {
    for (int i = 0; i < n; i++) out[i] = a[(size_t)i * T + t];
}

/* Metrics of each score term, from the test and validation term rows. */
static mla_status term_metrics(const mla_anomaly_method *m, const mla_anomaly_split *sp, const double *test_terms,
                               const double *val_terms, double q, mla_anomaly_metrics *out) {
    int T = m->term_count;
    double *a = mla_alloc((size_t)sp->n_test, sizeof *a), *b = mla_alloc((size_t)sp->n_val, sizeof *b);
    mla_status s = a && b ? MLA_OK : MLA_ERR_NOMEM;
    for (int t = 0; s == MLA_OK && t < T; t++) {
        column(test_terms, sp->n_test, T, t, a);
        column(val_terms, sp->n_val, T, t, b);
        s = mla_anomaly_metrics_compute(a, sp->anomaly, sp->n_test, b, sp->n_val, q, &out[t]);
    }
    free(a);
    free(b);
    return s;
}

/* One (method, class, seed) run on its split: fit, score validation and test, metrics. */
static mla_status run_one(const mla_anomaly_method *m, const mla_dataset *train, const mla_dataset *test,
                          const mla_anomaly_split *sp, const mla_anomaly_config *cfg, double q, int s_idx, int figures,
                          mla_anomaly_class_result *c) {
    int T = m->term_count, cls = c->cls;
    void *state = NULL;
    double t0 = mla_seconds();
    mla_status s = m->fit(cfg, train, sp->train, sp->n_train, sp->val, sp->n_val, &state);
    if (s != MLA_OK) return mla_error_prefix(s, "anomaly: %s, class %d, seed index %d", m->name, cls, s_idx);
    double t1 = mla_seconds();
    double *val = mla_alloc((size_t)sp->n_val, sizeof *val);
    double *val_terms = T > 0 ? mla_alloc((size_t)sp->n_val * T, sizeof *val_terms) : NULL;
    double *scores = c->scores + (size_t)s_idx * sp->n_test;
    double *terms = T > 0 ? c->terms + (size_t)s_idx * sp->n_test * T : NULL;
    s = val && (T == 0 || val_terms) ? MLA_OK : MLA_ERR_NOMEM;
    if (s == MLA_OK) s = m->score(state, train, sp->val, sp->n_val, val, val_terms);
    if (s == MLA_OK) s = m->score(state, test, sp->test, sp->n_test, scores, terms);
    if (s == MLA_OK) s = check_finite(val, (size_t)sp->n_val, "validation score", m->name, cls, s_idx);
    if (s == MLA_OK) s = check_finite(scores, (size_t)sp->n_test, "test score", m->name, cls, s_idx);
    if (s == MLA_OK && T > 0) s = check_finite(val_terms, (size_t)sp->n_val * T, "score term", m->name, cls, s_idx);
    if (s == MLA_OK && T > 0) s = check_finite(terms, (size_t)sp->n_test * T, "score term", m->name, cls, s_idx);
    if (s == MLA_OK)
        s = mla_anomaly_metrics_compute(scores, sp->anomaly, sp->n_test, val, sp->n_val, q, &c->seed_metrics[s_idx]);
    if (s == MLA_OK && T > 0) s = term_metrics(m, sp, terms, val_terms, q, c->term_metrics + (size_t)s_idx * T);
    if (s == MLA_OK && figures && m->figures && cfg->figures_dir)
        s = m->figures(state, test, sp->test, sp->n_test, cfg->figures_dir);
    m->free(state);
    free(val);
    free(val_terms);
    c->fit_seconds += t1 - t0;
    c->score_seconds += mla_seconds() - t1;
    if (s != MLA_OK && s != MLA_ERR_NOMEM && !strstr(mla_last_error(), m->name))
        s = mla_error_prefix(s, "anomaly: %s, class %d, seed index %d", m->name, cls, s_idx);
    return s;
}

/* Seed means and deviations of one class. */
static mla_status class_summary(mla_anomaly_class_result *c, int seeds, int T) {
    double *v = mla_alloc((size_t)seeds * 3, sizeof *v);
    if (!v) return MLA_ERR_NOMEM;
    double *a = v, *b = v + seeds, *f = v + 2 * seeds;
    for (int s = 0; s < seeds; s++)
        a[s] = c->seed_metrics[s].auroc, b[s] = c->seed_metrics[s].aupr, f[s] = c->seed_metrics[s].f1;
    c->auroc = mla_mean_sd_of(a, seeds), c->aupr = mla_mean_sd_of(b, seeds), c->f1 = mla_mean_sd_of(f, seeds);
    for (int t = 0; t < T; t++) {
        for (int s = 0; s < seeds; s++) {
            const mla_anomaly_metrics *tm = &c->term_metrics[(size_t)s * T + t];
            a[s] = tm->auroc, b[s] = tm->aupr, f[s] = tm->f1;
        }
        c->term_auroc[t] = mla_mean_sd_of(a, seeds), c->term_aupr[t] = mla_mean_sd_of(b, seeds);
        c->term_f1[t] = mla_mean_sd_of(f, seeds);
    }
    free(v);
    return MLA_OK;
}

static mla_status method_means(mla_anomaly_method_result *mr) {
    int T = mr->method->term_count, n = mr->n_classes;
    mr->mean_auroc = mr->mean_aupr = mr->mean_f1 = 0;
    for (int c = 0; c < n; c++) {
        mr->mean_auroc += mr->per_class[c].auroc.mean / n;
        mr->mean_aupr += mr->per_class[c].aupr.mean / n;
        mr->mean_f1 += mr->per_class[c].f1.mean / n;
    }
    if (T == 0) return MLA_OK;
    mr->term_mean_auroc = mla_alloc((size_t)T, sizeof(double));
    mr->term_mean_aupr = mla_alloc((size_t)T, sizeof(double));
    if (!mr->term_mean_auroc || !mr->term_mean_aupr) return MLA_ERR_NOMEM;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < n; c++) {
            mr->term_mean_auroc[t] += mr->per_class[c].term_auroc[t].mean / n;
            mr->term_mean_aupr[t] += mr->per_class[c].term_aupr[t].mean / n;
        }
    return MLA_OK;
}

/* Every seed of one class, every method on each seed's split. */
static mla_status run_class(const mla_dataset *train, const mla_dataset *test, const mla_anomaly_protocol_config *pc,
                            const mla_anomaly_config *cfg, int cls, int ci, mla_anomaly_result *r) {
    mla_status s = MLA_OK;
    for (int si = 0; s == MLA_OK && si < pc->seeds; si++) {
        mla_anomaly_split sp;
        s = mla_anomaly_split_make(train, test, pc, cls, cfg->seed + (uint64_t)si, cfg->seed, &sp);
        mla_anomaly_config run_cfg = *cfg;
        run_cfg.seed = cfg->seed + (uint64_t)si;
        for (int m = 0; s == MLA_OK && m < r->n_methods; m++) {
            mla_anomaly_class_result *c = &r->methods[m].per_class[ci];
            const mla_anomaly_method *meth = r->methods[m].method;
            if (si == 0) {
                c->cls = cls, c->n_train = sp.n_train, c->n_val = sp.n_val;
                s = class_alloc(c, pc->seeds, sp.n_test, meth->term_count);
            }
            if (s == MLA_OK && pc->on_run) pc->on_run(pc->on_run_user, meth->name, cls, si);
            if (s == MLA_OK) s = run_one(meth, train, test, &sp, &run_cfg, pc->f1_quantile, si, ci == 0 && si == 0, c);
        }
        if (s == MLA_OK && si == 0) {
            /* the first method keeps the split (test indices and flags) for every method */
            for (int m = 1; s == MLA_OK && m < r->n_methods; m++) {
                mla_anomaly_split *d = &r->methods[m].per_class[ci].split;
                d->n_test = sp.n_test, d->n_anomalies = sp.n_anomalies;
                d->test = mla_alloc((size_t)sp.n_test, sizeof *d->test);
                d->anomaly = mla_alloc((size_t)sp.n_test, 1);
                if (!d->test || !d->anomaly) s = MLA_ERR_NOMEM;
                else memcpy(d->test, sp.test, (size_t)sp.n_test * sizeof *d->test), memcpy(d->anomaly, sp.anomaly, (size_t)sp.n_test);
            }
            r->methods[0].per_class[ci].split = sp;
        } else {
            mla_anomaly_split_free(&sp);
        }
    }
    for (int m = 0; s == MLA_OK && m < r->n_methods; m++)
        s = class_summary(&r->methods[m].per_class[ci], pc->seeds, r->methods[m].method->term_count);
    return s;
}

static mla_status check_config(const mla_anomaly_protocol_config *pc, const mla_anomaly_config *cfg, int n_methods,
                               const mla_dataset *train) {
    if (n_methods < 1) return mla_error(MLA_ERR_INVALID, "anomaly: no method to run");
    if (pc->seeds < 1) return mla_error(MLA_ERR_INVALID, "anomaly: seeds must be >= 1, got %d", pc->seeds);
    if (!(pc->f1_quantile >= 0 && pc->f1_quantile <= 1))
        return mla_error(MLA_ERR_INVALID, "anomaly: the F1 quantile %g is outside [0, 1]", pc->f1_quantile);
    int classes = mla_dataset_classes(train);
    if (classes < 2) return mla_error(MLA_ERR_INVALID, "anomaly: the dataset has %d class; the protocols need at least 2", classes);
    if (pc->cls < -1 || pc->cls >= classes)
        return mla_error(MLA_ERR_INVALID, "anomaly: class %d is out of range (the dataset has classes 0..%d)", pc->cls,
                         classes - 1);
    if (cfg->k < 0 || cfg->epochs < 0 || cfg->batch < 0 || cfg->latent < 0 || !(cfg->lr >= 0))
        return mla_error(MLA_ERR_INVALID, "anomaly: k, epochs, batch, latent and lr must not be negative");
    return MLA_OK;
}

mla_status mla_anomaly_run(const mla_dataset *train, const mla_dataset *test, const mla_anomaly_protocol_config *pc,
                           const mla_anomaly_config *cfg, const mla_anomaly_method *const *methods, int n_methods,
                           mla_anomaly_result *out) {
    memset(out, 0, sizeof *out);
    mla_status s = check_config(pc, cfg, n_methods, train);
    if (s != MLA_OK) return s;
    double t0 = mla_seconds();
    mla_set_threads(cfg->threads);
    int classes = mla_dataset_classes(train), n_cls = pc->cls < 0 ? classes : 1;
    out->protocol = *pc, out->seeds = pc->seeds, out->n_methods = n_methods;
    out->methods = mla_alloc((size_t)n_methods, sizeof *out->methods);
    if (!out->methods) return MLA_ERR_NOMEM;
    for (int m = 0; m < n_methods && s == MLA_OK; m++) {
        out->methods[m].method = methods[m];
        out->methods[m].n_classes = n_cls;
        out->methods[m].per_class = mla_alloc((size_t)n_cls, sizeof *out->methods[m].per_class);
        if (!out->methods[m].per_class) s = MLA_ERR_NOMEM;
    }
    for (int ci = 0; ci < n_cls && s == MLA_OK; ci++) s = run_class(train, test, pc, cfg, pc->cls < 0 ? ci : pc->cls, ci, out);
    for (int m = 0; m < n_methods && s == MLA_OK; m++) s = method_means(&out->methods[m]);
    out->seconds = mla_seconds() - t0;
    if (s != MLA_OK) mla_anomaly_result_free(out);
    return s;
}
