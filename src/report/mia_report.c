/* mla_mia_report_write: the membership audit's files (JSON, CSV, figures, page). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/report_impl.h"

#define PATH_CAP 4096

mla_status mia_report_path(char *buf, size_t n, const char *dir, const char *name) {
    int k = snprintf(buf, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n) return mla_error(MLA_ERR_INVALID, "%s: path too long", dir);
    return MLA_OK;
}

int mia_attack_has_roc(const mla_mia_attack_result *a) {
    return a->pos && a->neg && a->n_pos > 0 && a->n_neg > 0;
}

static mla_status make_dir(const char *dir) {
    struct stat st;
    if (mkdir(dir, 0755) == 0) return MLA_OK;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return MLA_OK;
    return mla_error(MLA_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno == EEXIST ? ENOTDIR : errno));
}

static mla_status write_json(const char *path, const mla_mia_result *r, const mla_mia_report_info *info) {
    char *text = NULL;
    mla_status s = mla_mia_report_json(r, info, &text);
    if (s != MLA_OK) return s;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2); /* a text file ends with a newline, as --json prints it */
    if (!line) {
        free(text);
        return mla_error(MLA_ERR_NOMEM, "out of memory writing %s", path);
    }
    line[len] = '\n', line[len + 1] = 0;
    s = mla_write_file_atomic(path, line, len + 1);
    free(line);
    return s;
}

/* scores.csv: one row per evaluated sample, one column per per-sample attack. */
static mla_status write_scores(const char *path, const mla_mia_result *r) {
    mla_atomic_file *f = NULL;
    mla_status s = mla_atomic_open(path, &f);
    if (s != MLA_OK) return s;
    FILE *fp = mla_atomic_stream(f);
    fputs("index,member", fp);
    for (int a = 0; a < r->n_attacks; a++)
        if (r->attacks[a].scores) fprintf(fp, ",%s", r->attacks[a].name);
    fputc('\n', fp);
    for (int i = 0; i < r->m; i++) {
        if (r->truth && r->truth[i] < 0) continue;
        fprintf(fp, "%d,", r->sample_index ? r->sample_index[i] : i);
        if (r->truth && r->truth[i] <= 1) fprintf(fp, "%d", r->truth[i]);
        for (int a = 0; a < r->n_attacks; a++) {
            const double *sc = r->attacks[a].scores;
            if (!sc) continue;
            if (isnan(sc[i]))
                fputc(',', fp);
            else
                fprintf(fp, ",%.17g", sc[i]);
        }
        fputc('\n', fp);
    }
    return mla_atomic_commit(f);
}

/* The attacks with a curve, as ROC inputs (caller frees; *n may be 0). */
static mla_status roc_inputs(const mla_mia_result *r, mla_roc_input **out, int *n) {
    *out = mla_alloc((size_t)r->n_attacks + 1, sizeof **out);
    *n = 0;
    if (!*out) return MLA_ERR_NOMEM;
    for (int a = 0; a < r->n_attacks; a++) {
        const mla_mia_attack_result *at = &r->attacks[a];
        if (!mia_attack_has_roc(at)) continue;
        (*out)[(*n)++] = (mla_roc_input){at->name, at->pos, at->neg, at->n_pos, at->n_neg};
    }
    return MLA_OK;
}

static mla_status write_rocs(const char *dir, const mla_mia_result *r, int *drawn) {
    char path[PATH_CAP];
    mla_roc_input *in = NULL;
    int n = 0;
    *drawn = 0;
    mla_status s = roc_inputs(r, &in, &n);
    if (s == MLA_OK) s = mia_report_path(path, sizeof path, dir, "roc.csv");
    if (s == MLA_OK) s = mla_roc_write_csv(path, "attack", in, n);
    if (s == MLA_OK && n > 0) {
        mla_roc_figure_opts o = {.frame = {.width = 900, .height = 650, .title = "ROC curves (linear axes)"}};
        s = mia_report_path(path, sizeof path, dir, "roc.png");
        if (s == MLA_OK) s = mla_roc_figure(path, in, n, &o, NULL);
        o.log_axes = 1;
        o.frame.title = "ROC curves (log-log axes: the low false-positive region)";
        if (s == MLA_OK) s = mia_report_path(path, sizeof path, dir, "roc_log.png");
        if (s == MLA_OK) s = mla_roc_figure(path, in, n, &o, NULL);
        *drawn = s == MLA_OK;
    }
    free(in);
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The finite values of a and b pooled and sorted (caller frees). */
static double *pooled_sorted(const double *a, int64_t na, const double *b, int64_t nb, int64_t *n) {
    double *v = mla_alloc((size_t)(na + nb) + 1, sizeof *v);
    *n = 0;
    if (!v) return NULL;
    for (int64_t i = 0; i < na; i++)
        if (isfinite(a[i])) v[(*n)++] = a[i];
    for (int64_t i = 0; i < nb; i++)
        if (isfinite(b[i])) v[(*n)++] = b[i];
    qsort(v, (size_t)*n, sizeof *v, cmp_double);
    return v;
}

#define LOSS_BINS 40

/* loss_hist.png: members' and non-members' loss densities over shared bins, equal on
 * a log axis (cross-entropy spans decades: members near 0, mistakes far out), from the
 * pooled losses' 1st to 99th percentile, the tails folded into the end bins. */
static mla_status write_loss_hist(const char *path, const mla_mia_report_info *in, int *drawn) {
    int64_t n = 0;
    *drawn = 0;
    double *v = pooled_sorted(in->member_loss, in->n_member_loss, in->nonmember_loss, in->n_nonmember_loss, &n);
    if (!v) return MLA_ERR_NOMEM;
    if (n < 2) {
        free(v);
        return MLA_OK;
    }
    double lo = fmax(v[(int64_t)floor(0.01 * (double)(n - 1))], 1e-12);
    double hi = fmax(v[(int64_t)ceil(0.99 * (double)(n - 1))], lo * 10);
    free(v);
    double x[LOSS_BINS], dm[LOSS_BINS], dn[LOSS_BINS], step = (log10(hi) - log10(lo)) / LOSS_BINS;
    for (int k = 0; k < LOSS_BINS; k++) x[k] = pow(10, log10(lo) + (k + 0.5) * step);
    mla_hist_density(in->member_loss, in->n_member_loss, lo, hi, LOSS_BINS, 1, dm);
    mla_hist_density(in->nonmember_loss, in->n_nonmember_loss, lo, hi, LOSS_BINS, 1, dn);
    mla_plot_series s[2] = {{.name = "members (training data)", .x = x, .y = dm, .n = LOSS_BINS},
                            {.name = "non-members (unseen data)", .x = x, .y = dn, .n = LOSS_BINS, .dashed = 1}};
    char xt[160];
    snprintf(xt, sizeof xt, "target's loss (cross-entropy, log scale); the end bins hold losses below %.2g and above %.2g",
             lo, hi);
    mla_plot_line_opts o = {.frame = {.width = 900, .height = 500, .title = "Loss of the target: members vs non-members"},
                            .x = {.title = xt, .log_scale = 1}, .y = {.title = "density (per decade of loss)"}};
    mla_status st = mla_plot_lines(path, s, 2, &o);
    *drawn = st == MLA_OK;
    return st;
}

/* batch.png: accuracy and AUC of shadow_batch_B against B (log axis), shadow_sample's
 * as dashed horizontal references. */
static mla_status write_batch(const char *path, const mla_mia_result *r, int *drawn) {
    int nb = 0;
    *drawn = 0;
    for (int a = 0; a < r->n_attacks; a++) nb += r->attacks[a].batch_size > 0;
    if (nb == 0) return MLA_OK;
    double *b = mla_alloc((size_t)nb * 3, sizeof *b);
    if (!b) return MLA_ERR_NOMEM;
    double *acc = b + nb, *auc = b + 2 * nb;
    int k = 0;
    for (int a = 0; a < r->n_attacks; a++) {
        const mla_mia_attack_result *at = &r->attacks[a];
        if (at->batch_size <= 0) continue;
        b[k] = at->batch_size;
        acc[k] = at->summary.accuracy;
        auc[k++] = at->summary.auc;
    }
    const mla_mia_attack_result *ref = mla_mia_result_find(r, "shadow_sample");
    double lo = b[0], hi = b[0];
    for (int i = 1; i < nb; i++) {
        lo = fmin(lo, b[i]);
        hi = fmax(hi, b[i]);
    }
    if (hi == lo) hi = lo * 2;
    double rx[2] = {lo, hi};
    mla_plot_axis xa = {.title = "batch size B (log scale)", .log_scale = 1, .min = lo / 1.15, .max = hi * 1.15};
    double racc[2] = {ref ? ref->summary.accuracy : NAN, ref ? ref->summary.accuracy : NAN};
    double rauc[2] = {ref ? ref->summary.auc : NAN, ref ? ref->summary.auc : NAN};
    mla_plot_series s[4] = {
        {.name = "accuracy (batch attack)", .x = b, .y = acc, .n = nb, .markers = 1, .color = 1},
        {.name = "AUC (batch attack)", .x = b, .y = auc, .n = nb, .markers = 1, .color = 2},
        {.name = "accuracy, sample-wise (shadow_sample)", .x = rx, .y = racc, .n = ref ? 2 : 0, .dashed = 1, .color = 1},
        {.name = "AUC, sample-wise (shadow_sample)", .x = rx, .y = rauc, .n = ref ? 2 : 0, .dashed = 1, .color = 2}};
    mla_plot_line_opts o = {.frame = {.width = 900, .height = 500, .title = "Batch attacks (MIA-BAD): leakage against batch size"},
                            .x = xa,
                            .y = {.title = "accuracy / AUC"}};
    mla_status st = mla_plot_lines(path, s, ref ? 4 : 2, &o);
    free(b);
    *drawn = st == MLA_OK;
    return st;
}

static mla_status check_result(const mla_mia_result *r) {
    if (!r || r->m < 0 || r->n_attacks < 0 || (r->n_attacks > 0 && !r->attacks))
        return mla_error(MLA_ERR_INVALID, "mia report: no result");
    for (int a = 0; a < r->n_attacks; a++) {
        const mla_mia_attack_result *at = &r->attacks[a];
        if (!memchr(at->name, '\0', sizeof at->name) || !at->name[0] || strpbrk(at->name, ",\"\n\r"))
            return mla_error(MLA_ERR_INVALID, "mia report: attack %d has an empty or unusable name", a);
        if ((at->n_pos > 0 && !at->pos) || (at->n_neg > 0 && !at->neg) || at->n_pos < 0 || at->n_neg < 0)
            return mla_error(MLA_ERR_INVALID, "mia report: attack '%s' has counts without scores", at->name);
    }
    return MLA_OK;
}

mla_status mla_mia_report_write(const char *dir, const mla_mia_result *r, const mla_mia_report_info *info) {
    if (!dir || !*dir) return mla_error(MLA_ERR_INVALID, "mia report: empty output folder");
    mla_status s = check_result(r);
    if (s != MLA_OK) return s;
    mla_mia_report_info none = {.seconds_target = NAN, .seconds_shadows = NAN, .seconds_attacks = NAN,
                                .seconds_total = NAN};
    const mla_mia_report_info *in = info ? info : &none;
    mia_figures figs = {0};
    char path[PATH_CAP];
    s = make_dir(dir);
    if (s == MLA_OK) s = mia_report_path(path, sizeof path, dir, "mia.json");
    if (s == MLA_OK) s = write_json(path, r, in);
    if (s == MLA_OK) s = mia_report_path(path, sizeof path, dir, "scores.csv");
    if (s == MLA_OK) s = write_scores(path, r);
    if (s == MLA_OK) s = write_rocs(dir, r, &figs.roc);
    if (s == MLA_OK && in->member_loss && in->nonmember_loss && in->n_member_loss > 0 && in->n_nonmember_loss > 0) {
        s = mia_report_path(path, sizeof path, dir, "loss_hist.png");
        if (s == MLA_OK) s = write_loss_hist(path, in, &figs.loss_hist);
    }
    if (s == MLA_OK) s = mia_report_path(path, sizeof path, dir, "batch.png");
    if (s == MLA_OK) s = write_batch(path, r, &figs.batch);
    if (s == MLA_OK) s = mia_report_page(dir, r, in, &figs);
    return s;
}
