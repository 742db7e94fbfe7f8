/* anomaly.json, scores.csv, the figures and the printed table of `mlaudit anomaly`
 * (anomaly_report.h). Only formatting lives here; every number comes from the result. */
#include "anomaly_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "mlaudit/plot.h"
#include "mlaudit/report.h"
#include "mlaudit/scoring.h"

/* ---- anomaly.json ---- */

static void add_mean_sd(cJSON *o, const char *key, mla_mean_sd v) {
    char sd[64];
    snprintf(sd, sizeof sd, "%s_sd", key);
    cli_json_num(o, key, v.mean);
    cli_json_num(o, sd, v.sd);
}

static cJSON *seed_json(const mla_anomaly_metrics *m, uint64_t seed) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cli_json_num(o, "auroc", m->auroc);
    cli_json_num(o, "aupr", m->aupr);
    cli_json_num(o, "f1", m->f1);
    cli_json_num(o, "threshold", m->threshold);
    return o;
}

static cJSON *class_json(const mla_anomaly_class_result *c, int seeds, uint64_t base_seed) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "class", c->cls);
    add_mean_sd(o, "auroc", c->auroc);
    add_mean_sd(o, "aupr", c->aupr);
    add_mean_sd(o, "f1", c->f1);
    cJSON_AddNumberToObject(o, "n_train", c->n_train);
    cJSON_AddNumberToObject(o, "n_val", c->n_val);
    cJSON_AddNumberToObject(o, "n_test", c->split.n_test);
    cJSON_AddNumberToObject(o, "n_anomalies", c->split.n_anomalies);
    cli_json_num(o, "fit_seconds", c->fit_seconds);
    cli_json_num(o, "score_seconds", c->score_seconds);
    cJSON *arr = cJSON_AddArrayToObject(o, "seeds");
    for (int s = 0; s < seeds; s++) cJSON_AddItemToArray(arr, seed_json(&c->seed_metrics[s], base_seed + (uint64_t)s));
    return o;
}

/* {term: {mean_auroc, mean_aupr, per_class: [{class, auroc, auroc_sd, aupr, .., seeds: [..]}]}}:
 * the ablation; each term's per-seed figures too, so that runs of other seeds can be
 * merged (scripts/anomaly_table.sh). */
static cJSON *terms_json(const mla_anomaly_method_result *mr, int seeds, uint64_t base_seed) {
    cJSON *o = cJSON_CreateObject();
    const mla_anomaly_method *m = mr->method;
    for (int t = 0; t < m->term_count; t++) {
        cJSON *e = cJSON_AddObjectToObject(o, m->term_names[t]);
        cli_json_num(e, "mean_auroc", mr->term_mean_auroc[t]);
        cli_json_num(e, "mean_aupr", mr->term_mean_aupr[t]);
        cJSON *pc = cJSON_AddArrayToObject(e, "per_class");
        for (int c = 0; c < mr->n_classes; c++) {
            const mla_anomaly_class_result *cr = &mr->per_class[c];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "class", cr->cls);
            add_mean_sd(x, "auroc", cr->term_auroc[t]);
            add_mean_sd(x, "aupr", cr->term_aupr[t]);
            add_mean_sd(x, "f1", cr->term_f1[t]);
            cJSON *arr = cJSON_AddArrayToObject(x, "seeds");
            for (int s = 0; s < seeds; s++)
                cJSON_AddItemToArray(arr, seed_json(&cr->term_metrics[(size_t)s * m->term_count + t],
                                                    base_seed + (uint64_t)s));
            cJSON_AddItemToArray(pc, x);
        }
    }
    return o;
}

static cJSON *method_json(const mla_anomaly_method_result *mr, int seeds, uint64_t base_seed) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", mr->method->name);
    cJSON *pc = cJSON_AddArrayToObject(o, "per_class");
    double fit = 0;
    for (int c = 0; c < mr->n_classes; c++) {
        cJSON_AddItemToArray(pc, class_json(&mr->per_class[c], seeds, base_seed));
        fit += mr->per_class[c].fit_seconds;
    }
    cli_json_num(o, "mean_auroc", mr->mean_auroc);
    cli_json_num(o, "mean_aupr", mr->mean_aupr);
    cli_json_num(o, "mean_f1", mr->mean_f1);
    cli_json_num(o, "fit_seconds", fit);
    if (mr->method->term_count > 0) cJSON_AddItemToObject(o, "terms", terms_json(mr, seeds, base_seed));
    return o;
}

static cJSON *settings_json(const mla_anomaly_result *r, const anomaly_report_info *in) {
    const mla_anomaly_config *c = in->cfg;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "method_list", in->method_list);
    cJSON_AddNumberToObject(s, "seed", (double)c->seed);
    cJSON_AddNumberToObject(s, "seeds", r->seeds);
    cJSON_AddNumberToObject(s, "threads", mla_get_threads());
    cli_json_num(s, "val_fraction", r->protocol.val_fraction);
    cli_json_num(s, "f1_quantile", r->protocol.f1_quantile);
    cJSON_AddNumberToObject(s, "subset", r->protocol.subset);
    cJSON_AddNumberToObject(s, "test_subset", r->protocol.test_subset);
    cJSON_AddNumberToObject(s, "epochs", c->epochs);   /* 0: each method's default */
    cJSON_AddNumberToObject(s, "batch", c->batch);
    cli_json_num(s, "lr", cli_short_float(c->lr));
    cJSON_AddNumberToObject(s, "latent", c->latent);
    cJSON_AddNumberToObject(s, "k", c->k);
    cJSON *a = cJSON_AddObjectToObject(s, "adegan");
    cJSON_AddNumberToObject(a, "patterns", c->adegan.patterns);
    cJSON_AddNumberToObject(a, "noise_dim", c->adegan.noise_dim);
    cli_json_num(a, "noise_sigma", cli_short_float(c->adegan.noise_sigma));
    cli_json_num(a, "alpha", cli_short_float(c->adegan.alpha));
    cli_json_num(a, "beta", cli_short_float(c->adegan.beta));
    cli_json_num(a, "gamma", cli_short_float(c->adegan.gamma));
    cJSON_AddNumberToObject(a, "stage1_epochs", c->adegan.stage1_epochs);
    cli_json_num(a, "info_weight", cli_short_float(c->adegan.info_weight));
    cli_json_num(a, "code_scale", cli_short_float(c->adegan.code_scale > 0 ? c->adegan.code_scale : 1));
    cJSON_AddStringToObject(a, "score", c->adegan.score);
    cJSON_AddStringToObject(a, "recon_trains", c->adegan.recon_trains ? c->adegan.recon_trains : "ge");
    cJSON_AddStringToObject(a, "recon_code", c->adegan.recon_code ? c->adegan.recon_code : "soft");
    return s;
}

cJSON *anomaly_report_json(const mla_anomaly_result *r, const anomaly_report_info *in) {
    cJSON *o = cJSON_CreateObject();
    char desc[256];
    mla_anomaly_protocol_describe(r->protocol.protocol, r->protocol.cls, in->classes, desc, sizeof desc);
    cJSON_AddStringToObject(o, "protocol", mla_anomaly_protocol_name(r->protocol.protocol));
    cJSON_AddStringToObject(o, "protocol_description", desc);
    cJSON_AddStringToObject(o, "dataset", in->dataset);
    cJSON *classes = cJSON_AddArrayToObject(o, "classes");
    for (int c = 0; c < r->methods[0].n_classes; c++)
        cJSON_AddItemToArray(classes, cJSON_CreateNumber(r->methods[0].per_class[c].cls));
    cJSON *names = cJSON_AddArrayToObject(o, "methods");
    for (int m = 0; m < r->n_methods; m++) cJSON_AddItemToArray(names, cJSON_CreateString(r->methods[m].method->name));
    /* the first method's results at the top level (the format), every method's under results */
    cJSON *first = method_json(&r->methods[0], r->seeds, in->cfg->seed);
    for (cJSON *it = first->child; it; it = it->next) cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
    cJSON_Delete(first);
    cJSON *res = cJSON_AddObjectToObject(o, "results");
    for (int m = 0; m < r->n_methods; m++)
        cJSON_AddItemToObject(res, r->methods[m].method->name, method_json(&r->methods[m], r->seeds, in->cfg->seed));
    cJSON_AddItemToObject(o, "settings", settings_json(r, in));
    cli_json_num(o, "seconds", r->seconds);
    return o;
}

/* ---- scores.csv ---- */

/* Header: method,class,seed,index,label,anomaly,score, then "<method>:<term>" for every
 * term of every method (empty in other methods' rows). */
static void csv_header(FILE *f, const mla_anomaly_result *r) {
    fputs("method,class,seed,index,label,anomaly,score", f);
    for (int m = 0; m < r->n_methods; m++)
        for (int t = 0; t < r->methods[m].method->term_count; t++)
            fprintf(f, ",%s:%s", r->methods[m].method->name, r->methods[m].method->term_names[t]);
    fputc('\n', f);
}

static void csv_rows(FILE *f, const mla_anomaly_result *r, int m, const int32_t *labels, uint64_t base_seed) {
    const mla_anomaly_method_result *mr = &r->methods[m];
    int T = mr->method->term_count, before = 0, after = 0;
    for (int k = 0; k < r->n_methods; k++)
        if (k < m) before += r->methods[k].method->term_count;
        else if (k > m) after += r->methods[k].method->term_count;
    for (int c = 0; c < mr->n_classes; c++) {
        const mla_anomaly_class_result *cr = &mr->per_class[c];
        const mla_anomaly_split *sp = &cr->split;
        for (int s = 0; s < r->seeds; s++)
            for (int i = 0; i < sp->n_test; i++) {
                fprintf(f, "%s,%d,%llu,%d,%d,%d,%.17g", mr->method->name, cr->cls,
                        (unsigned long long)(base_seed + (uint64_t)s), sp->test[i], labels[sp->test[i]], sp->anomaly[i],
                        cr->scores[(size_t)s * sp->n_test + i]);
                for (int k = 0; k < before; k++) fputc(',', f);
                for (int t = 0; t < T; t++) fprintf(f, ",%.17g", cr->terms[((size_t)s * sp->n_test + i) * T + t]);
                for (int k = 0; k < after; k++) fputc(',', f);
                fputc('\n', f);
            }
    }
}

static void write_csv(const char *path, const mla_anomaly_result *r, const mla_dataset *test, uint64_t base_seed) {
    mla_atomic_file *af;
    cli_check(mla_atomic_open(path, &af));
    FILE *f = mla_atomic_stream(af);
    csv_header(f, r);
    for (int m = 0; m < r->n_methods; m++) csv_rows(f, r, m, mla_dataset_labels(test), base_seed);
    if (ferror(f)) {
        mla_atomic_abort(af);
        cli_die("%s: write failed", path);
    }
    cli_check(mla_atomic_commit(af));
}

/* ---- figures: the first class run, seed index 0 ---- */

/* Test scores of method m split into anomalous (pos) and normal (neg); caller frees. */
static void split_scores(const mla_anomaly_class_result *c, double **pos, double **neg) {
    int na = c->split.n_anomalies, nn = c->split.n_test - na;
    *pos = malloc(sizeof(double) * (size_t)na), *neg = malloc(sizeof(double) * (size_t)nn);
    if (!*pos || !*neg) cli_die("out of memory");
    for (int i = 0, p = 0, q = 0; i < c->split.n_test; i++) {
        if (c->split.anomaly[i]) (*pos)[p++] = c->scores[i];
        else (*neg)[q++] = c->scores[i];
    }
}

static void write_roc(const char *path, const mla_anomaly_result *r) {
    mla_roc_input *in = calloc((size_t)r->n_methods, sizeof *in);
    if (!in) cli_die("out of memory");
    for (int m = 0; m < r->n_methods; m++) {
        const mla_anomaly_class_result *c = &r->methods[m].per_class[0];
        split_scores(c, (double **)&in[m].pos, (double **)&in[m].neg);
        in[m].name = r->methods[m].method->name;
        in[m].n_pos = c->split.n_anomalies, in[m].n_neg = c->split.n_test - c->split.n_anomalies;
    }
    char title[128];
    snprintf(title, sizeof title, "ROC, anomalies positive (%s, class %d, first seed)",
             mla_anomaly_protocol_name(r->protocol.protocol), r->methods[0].per_class[0].cls);
    mla_roc_figure_opts o = {.frame = {.title = title}};
    mla_status s = mla_roc_figure(path, in, r->n_methods, &o, NULL);
    for (int m = 0; m < r->n_methods; m++) free((void *)in[m].pos), free((void *)in[m].neg);
    free(in);
    cli_check(s);
}

#define HIST_BINS 40

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Normal vs anomalous test-score densities of the first method, over the pooled 1st to
 * 99th percentile (tails in the end bins). */
static void write_hist(const char *path, const mla_anomaly_result *r) {
    const mla_anomaly_class_result *c = &r->methods[0].per_class[0];
    int n = c->split.n_test, na = c->split.n_anomalies;
    double *sorted = malloc(sizeof(double) * (size_t)n), *pos, *neg, lo, hi;
    if (!sorted) cli_die("out of memory");
    memcpy(sorted, c->scores, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    cli_check(mla_quantile(sorted, n, 0.01, &lo));
    cli_check(mla_quantile(sorted, n, 0.99, &hi));
    if (!(hi > lo)) lo = sorted[0], hi = sorted[n - 1];
    if (!(hi > lo)) hi = lo + 1;
    free(sorted);
    split_scores(c, &pos, &neg);
    double x[HIST_BINS], dp[HIST_BINS], dn[HIST_BINS];
    for (int k = 0; k < HIST_BINS; k++) x[k] = lo + (k + 0.5) * (hi - lo) / HIST_BINS;
    mla_hist_density(pos, na, lo, hi, HIST_BINS, 0, dp);
    mla_hist_density(neg, n - na, lo, hi, HIST_BINS, 0, dn);
    mla_plot_series s[2] = {{.name = "normal", .x = x, .y = dn, .n = HIST_BINS},
                            {.name = "anomalous", .x = x, .y = dp, .n = HIST_BINS, .dashed = 1}};
    char title[160], xt[160];
    snprintf(title, sizeof title, "%s: test scores, normal vs anomalous (class %d, first seed)", r->methods[0].method->name,
             c->cls);
    snprintf(xt, sizeof xt, "anomaly score (the end bins hold scores below %.3g and above %.3g)", lo, hi);
    mla_plot_line_opts o = {.frame = {.width = 900, .height = 500, .title = title}, .x = {.title = xt},
                            .y = {.title = "density"}};
    mla_status st = mla_plot_lines(path, s, 2, &o);
    free(pos), free(neg);
    cli_check(st);
}

void anomaly_report_files(const char *dir, const mla_anomaly_result *r, const mla_dataset *test, uint64_t base_seed) {
    char path[4096];
    snprintf(path, sizeof path, "%s/scores.csv", dir);
    write_csv(path, r, test, base_seed);
    snprintf(path, sizeof path, "%s/roc.png", dir);
    write_roc(path, r);
    snprintf(path, sizeof path, "%s/score_hist.png", dir);
    write_hist(path, r);
}

/* ---- the printed table ---- */

static void cell(FILE *out, mla_mean_sd v, int seeds) {
    if (seeds > 1) fprintf(out, "  %.3f±%.3f", v.mean, v.sd);
    else fprintf(out, "  %11.3f", v.mean);
}

void anomaly_report_text(FILE *out, const mla_anomaly_result *r, const anomaly_report_info *in) {
    char desc[256];
    mla_anomaly_protocol_describe(r->protocol.protocol, r->protocol.cls, in->classes, desc, sizeof desc);
    fprintf(out, "protocol %s\n", desc);
    fprintf(out, "dataset %s; %d seed(s) from %llu; validation %.0f%% of the normal training images; "
                 "F1 at the %g quantile of validation scores\n",
            in->dataset, r->seeds, (unsigned long long)in->cfg->seed, 100 * r->protocol.val_fraction,
            r->protocol.f1_quantile);
    fprintf(out, "%-6s", "class");
    for (int m = 0; m < r->n_methods; m++)
        fprintf(out, "  %11.11s  %11.11s", r->methods[m].method->name, "AUPR");
    fputc('\n', out);
    for (int c = 0; c < r->methods[0].n_classes; c++) {
        fprintf(out, "%-6d", r->methods[0].per_class[c].cls);
        for (int m = 0; m < r->n_methods; m++) {
            cell(out, r->methods[m].per_class[c].auroc, r->seeds);
            cell(out, r->methods[m].per_class[c].aupr, r->seeds);
        }
        fputc('\n', out);
    }
    fprintf(out, "%-6s", "mean");
    for (int m = 0; m < r->n_methods; m++)
        fprintf(out, "  %11.3f  %11.3f", r->methods[m].mean_auroc, r->methods[m].mean_aupr);
    fprintf(out, "\n(per method: AUROC then AUPR, anomalies positive%s)\n", r->seeds > 1 ? "; mean±sd over seeds" : "");
    for (int m = 0; m < r->n_methods; m++) {
        const mla_anomaly_method_result *mr = &r->methods[m];
        for (int t = 0; t < mr->method->term_count; t++)
            fprintf(out, "%s, term %s alone: mean AUROC %.3f, AUPR %.3f\n", mr->method->name,
                    mr->method->term_names[t], mr->term_mean_auroc[t], mr->term_mean_aupr[t]);
    }
    fprintf(out, "time %.1f s\n", r->seconds);
}
