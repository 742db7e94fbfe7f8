/* mlaudit classic | pca | explore: classical models, PCA and pixel statistics. */
#include "cli.h"
#include "cmd_classic.h"
#include "mlaudit/classic.h"
#include "mlaudit/data.h"
#include "mlaudit/features.h"
#include "mlaudit/metrics.h"
#include "mlaudit/pca.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AXES 8
#define MAX_VALUES 64
#define NAME_LEN 32

static const char *const FASHION_NAMES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ---- shared helpers ---- */

/* Class names: Fashion-MNIST's, otherwise the class numbers. Storage lives in `buf`. */
typedef struct {
    const char *names[256];
    char buf[256][8];
} class_labels;

static void fill_class_names(const mla_dataset *ds, int classes, class_labels *out) {
    int fashion = !strcmp(mla_dataset_name(ds), "fashion-mnist") && classes == 10;
    for (int c = 0; c < classes && c < 256; c++) {
        snprintf(out->buf[c], sizeof out->buf[c], "%d", c);
        out->names[c] = fashion ? FASHION_NAMES[c] : out->buf[c];
    }
}

static mla_dataset *load_split(const char *spec, mla_split split) {
    mla_dataset *ds = NULL;
    cli_check(mla_dataset_load(spec, split, &ds));
    return ds;
}

/* A seeded stratified subset of ds (ds itself when subset is 0); frees ds when replaced. */
static mla_dataset *subset_of(mla_dataset *ds, long subset, uint64_t seed, const char *flag, const char *what) {
    int n = mla_dataset_count(ds);
    if (subset == 0) return ds;
    if (subset > n) cli_die("%s %ld is larger than the %d %s images", flag, subset, n, what);
    int32_t *idx = malloc((size_t)subset * sizeof *idx);
    if (!idx) cli_die("out of memory");
    mla_dataset *sub = NULL;
    cli_check(mla_stratified_indices(mla_dataset_labels(ds), n, mla_dataset_classes(ds), (int)subset, seed, idx));
    cli_check(mla_dataset_select(ds, idx, (int)subset, &sub));
    free(idx);
    mla_dataset_free(ds);
    return sub;
}

static mla_images images_of(const mla_dataset *ds) {
    mla_images im = {.n = mla_dataset_count(ds), .u8 = mla_dataset_pixels_u8(ds), .f32 = mla_dataset_pixels_f32(ds)};
    mla_dataset_shape(ds, &im.c, &im.h, &im.w);
    return im;
}

static float *features_of(const mla_features *f, const mla_dataset *ds) {
    mla_images im = images_of(ds);
    float *x = malloc((size_t)im.n * mla_features_dim(f) * sizeof *x);
    if (!x) cli_die("out of memory");
    cli_check(mla_features_transform(f, &im, x));
    return x;
}

static void print_json(cJSON *root) {
    char *text = cJSON_PrintUnformatted(root);
    if (!text) cli_die("out of memory");
    puts(text);
    free(text);
}

static cJSON *number_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
    return a;
}

static cJSON *string_array(const char *const *s, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

/* ---- the --grid flag ---- */

typedef struct {
    char name[NAME_LEN];
    double values[MAX_VALUES];
    int n;
} grid_axis;

typedef struct {
    grid_axis axes[MAX_AXES];
    int n;
} grid_spec;

static int is_accepted(const char *name, const char *const *accepted) {
    for (int i = 0; accepted[i]; i++)
        if (!strcmp(accepted[i], name)) return 1;
    return 0;
}

static void die_unknown_param(const char *name, const char *kind, const char *const *accepted) {
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; accepted[i] && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", accepted[i]);
    cli_die("--grid: unknown hyperparameter '%s' for %s (accepted: %s)", name, kind, list);
}

/* Parses one "name=v1,v2,..." group into the next axis. */
static void parse_axis(const char *group, const char *kind, const char *const *accepted, grid_spec *g) {
    const char *eq = strchr(group, '=');
    if (!eq || eq == group) cli_die("--grid '%s': expected name=v1,v2,...", group);
    if (g->n == MAX_AXES) cli_die("--grid: more than %d hyperparameters", MAX_AXES);
    grid_axis *a = &g->axes[g->n];
    size_t len = (size_t)(eq - group);
    if (len >= NAME_LEN) cli_die("--grid: hyperparameter name too long in '%s'", group);
    memcpy(a->name, group, len);
    a->name[len] = '\0';
    if (!is_accepted(a->name, accepted)) die_unknown_param(a->name, kind, accepted);
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->axes[i].name, a->name)) cli_die("--grid: hyperparameter %s given twice", a->name);
    if (!eq[1]) cli_die("--grid %s: empty grid (no values after '=')", a->name);
    a->n = 0;
    for (const char *p = eq + 1;;) {
        const char *comma = strchr(p, ',');
        size_t vlen = comma ? (size_t)(comma - p) : strlen(p);
        char text[64], *end = NULL;
        if (vlen == 0 || vlen >= sizeof text) cli_die("--grid %s: empty or overlong value in '%s'", a->name, eq + 1);
        memcpy(text, p, vlen);
        text[vlen] = '\0';
        errno = 0;
        double v = strtod(text, &end);
        if (errno || *end || !isfinite(v)) cli_die("--grid %s: '%s' is not a number", a->name, text);
        if (a->n == MAX_VALUES) cli_die("--grid %s: more than %d values", a->name, MAX_VALUES);
        a->values[a->n++] = v;
        if (!comma) break;
        p = comma + 1;
    }
    g->n++;
}

/* Every --grid occurrence in argv; each may hold groups separated by ';' or spaces. */
static void parse_grids(int argc, char **argv, const char *kind, grid_spec *g) {
    const char *const *accepted = mla_classifier_param_names(kind);
    g->n = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--grid") && i + 1 < argc) v = argv[++i];
        else if (!strncmp(argv[i], "--grid=", 7)) v = argv[i] + 7;
        if (!v) continue;
        char *copy = strdup(v), *save = NULL;
        if (!copy) cli_die("out of memory");
        int groups = 0;
        for (char *tok = strtok_r(copy, "; \t", &save); tok; tok = strtok_r(NULL, "; \t", &save), groups++)
            parse_axis(tok, kind, accepted, g);
        free(copy);
        if (!groups) cli_die("--grid: empty grid");
    }
}

/* ---- mlaudit classic ---- */

static const char CLASSIC_USAGE[] =
    "usage: mlaudit classic --model KIND [--data SPEC] [--features SET] [--subset N] [--test-subset N]\n"
    "                       [--cv K --grid name=v1,v2,...] [--seed S] [--threads T] [--plots DIR] [--json]\n"
    "                       [--out FILE]\n"
    "Fits a classical model on (a stratified subset of) the training split and scores it on the test split.\n"
    "  --model KIND       knn | svm | logreg | nb | rf | gbm | avnnet\n"
    "  --data SPEC        dataset (default fashion-mnist; see data.h for specs)\n"
    "  --features SET     raw | raw:T (drop pixels with variance <= T) | engineered | pca:SHARE | pca:N (default raw)\n"
    "  --subset N         seeded stratified subset of N training images (default: all)\n"
    "  --test-subset N    seeded stratified subset of N test images (default: all)\n"
    "  --cv K             K-fold stratified cross-validation over the grid, then refit on all training rows\n"
    "  --grid G           hyperparameters, e.g. k=1,3,5 (repeat the flag, or separate with ';', for more);\n"
    "                     without --cv every hyperparameter takes one value, which fixes it;\n"
    "                     rf: trees (100), max_depth (0: none), min_samples_leaf (1), max_features (0: sqrt)\n"
    "  --seed S           seed of the subsets, folds and model (default 0)\n"
    "  --threads T        threads (default: all cores)\n"
    "  --plots DIR        write confusion.png, per_class_accuracy.png (and .svg), cv_tuning.png with --cv,\n"
    "                     importances.png (and .svg) for rf on raw pixels\n"
    "  --json             one JSON object on stdout\n"
    "  --out FILE         save the model to FILE and its feature pipeline to FILE.features\n";

typedef struct {
    const char *data, *model, *features, *plots, *out, *grid;
    long subset, test_subset, cv, seed, threads;
    bool json;
} classic_opts;

typedef struct {
    double features_s, cv_s, train_s, predict_s;
    mla_cv_result *cv;
    mla_param params[MAX_AXES];
    int n_params;
    int train_size, test_size, n_features, classes, correct;
    int64_t *cm;
    double *sens, *spec, *bal, kappa, lo, hi;
    double oob;         /* out-of-bag accuracy; NaN when the kind has none */
    double *importance; /* n_features, or NULL when the kind has none */
} classic_outcome;

/* Dies unless the model kind is known (the library's message names the known kinds). */
static void check_model_kind(const char *model) {
    if (!model) cli_die("classic: --model is required (knn, svm, logreg, nb, rf, gbm, avnnet)");
    if (!mla_classifier_param_names(model)) {
        mla_classifier *probe = NULL;
        cli_check(mla_classifier_create(model, NULL, 0, 0, &probe));
        mla_classifier_free(probe);
    }
}

static void check_grid_needs_cv(const classic_opts *o, const grid_spec *g) {
    for (int a = 0; !o->cv && a < g->n; a++)
        if (g->axes[a].n > 1) cli_die("--grid %s has %d values but no --cv is given to choose among them", g->axes[a].name, g->axes[a].n);
}

/* Largest k of a kNN grid (or the default 5) must fit the training rows that fit it. */
static void check_knn_k(const classic_opts *o, const grid_spec *g, int train_size) {
    if (strcmp(o->model, "knn") != 0) return;
    double k = 5;
    for (int a = 0; a < g->n; a++)
        if (!strcmp(g->axes[a].name, "k"))
            for (int i = 0; i < g->axes[a].n; i++) k = i == 0 || g->axes[a].values[i] > k ? g->axes[a].values[i] : k;
    int rows = o->cv ? train_size - (train_size + (int)o->cv - 1) / (int)o->cv : train_size;
    if (k > rows) cli_die("knn: k=%g is larger than the training set (%d images%s)", k, rows, o->cv ? " per CV fit" : "");
}

static void cv_progress(void *ctx, int done, int total) {
    char extra[32];
    snprintf(extra, sizeof extra, "%d/%d fits", done, total);
    cli_progress_update(ctx, done, extra);
    (void)total;
}

/* Cross-validates (with --cv) or takes the single values, then fits the final model. */
static mla_classifier *fit_model(const classic_opts *o, const grid_spec *g, const float *x, const int32_t *y, int n,
                                 int d, int classes, classic_outcome *r) {
    mla_classifier *c = NULL;
    double t0 = mla_seconds();
    if (o->cv) {
        mla_grid_axis axes[MAX_AXES];
        for (int a = 0; a < g->n; a++) axes[a] = (mla_grid_axis){g->axes[a].name, g->axes[a].values, g->axes[a].n};
        if (o->cv > n) cli_die("--cv %ld is larger than the %d training images", o->cv, n);
        cli_progress bar;
        cli_progress_start(&bar, "cross-validation", 1);
        bar.total = 0;
        mla_status st = mla_cv_grid(o->model, NULL, 0, axes, g->n, x, y, n, d, classes, (int)o->cv, (uint64_t)o->seed,
                                    cv_progress, &bar, &r->cv, NULL);
        cli_progress_end(&bar);
        cli_check(st);
        r->cv_s = mla_seconds() - t0;
        for (int a = 0; a < g->n; a++)
            r->params[a] = (mla_param){g->axes[a].name, r->cv->values[(size_t)r->cv->best * g->n + a]};
    } else {
        for (int a = 0; a < g->n; a++) r->params[a] = (mla_param){g->axes[a].name, g->axes[a].values[0]};
    }
    r->n_params = g->n;
    cli_check(mla_classifier_create(o->model, r->params, r->n_params, (uint64_t)o->seed, &c));
    t0 = mla_seconds();
    cli_check(mla_classifier_fit(c, x, y, n, d, classes));
    r->train_s = mla_seconds() - t0;
    return c;
}

/* The figures only some kinds compute (rf: out-of-bag accuracy, importances). */
static void model_figures(const mla_classifier *c, classic_outcome *r) {
    r->oob = NAN;
    r->importance = NULL;
    if (mla_classifier_oob_accuracy(c, &r->oob) != MLA_OK) r->oob = NAN; /* the kind has none */
    double *imp = malloc((size_t)r->n_features * sizeof *imp);
    if (!imp) cli_die("out of memory");
    mla_status st = mla_classifier_importances(c, imp);
    if (st == MLA_ERR_UNSUPPORTED) {
        free(imp);
        return;
    }
    cli_check(st);
    r->importance = imp;
}

/* The k most important features (indices into idx, largest first); returns how many. */
static int top_features(const double *imp, int d, int k, int *idx) {
    int n = 0;
    for (int j = 0; j < d; j++) {
        if (n == k && !(imp[j] > imp[idx[k - 1]])) continue;
        int at = n < k ? n++ : k - 1;
        while (at > 0 && imp[j] > imp[idx[at - 1]]) idx[at] = idx[at - 1], at--;
        idx[at] = j;
    }
    return n;
}

static void score_test(const mla_classifier *c, const float *x, const int32_t *y, int n, int classes, classic_outcome *r) {
    int32_t *pred = malloc((size_t)n * sizeof *pred);
    r->cm = malloc((size_t)classes * classes * sizeof *r->cm);
    r->sens = malloc((size_t)classes * sizeof(double));
    r->spec = malloc((size_t)classes * sizeof(double));
    r->bal = malloc((size_t)classes * sizeof(double));
    if (!pred || !r->cm || !r->sens || !r->spec || !r->bal) cli_die("out of memory");
    double t0 = mla_seconds();
    cli_check(mla_classifier_predict(c, x, n, pred));
    r->predict_s = mla_seconds() - t0;
    cli_check(mla_confusion_matrix(y, pred, n, classes, r->cm));
    r->correct = 0;
    for (int i = 0; i < n; i++) r->correct += pred[i] == y[i];
    cli_check(mla_clopper_pearson(r->correct, n, 0.95, &r->lo, &r->hi));
    r->kappa = mla_cohen_kappa(r->cm, classes);
    mla_per_class_scores(r->cm, classes, r->sens, r->spec, r->bal);
    free(pred);
}

static cJSON *cv_json(const mla_cv_result *cv) {
    cJSON *o = cJSON_CreateObject(), *settings = cJSON_AddArrayToObject(o, "settings");
    cJSON_AddNumberToObject(o, "folds", cv->folds);
    cJSON_AddNumberToObject(o, "seconds", cv->seconds);
    for (int s = 0; s < cv->n_settings; s++) {
        cJSON *item = cJSON_CreateObject(), *params = cJSON_AddObjectToObject(item, "params");
        for (int a = 0; a < cv->n_axes; a++) cJSON_AddNumberToObject(params, cv->names[a], cv->values[(size_t)s * cv->n_axes + a]);
        cJSON_AddNumberToObject(item, "mean_accuracy", cv->mean_accuracy[s]);
        cJSON_AddNumberToObject(item, "sd_accuracy", isfinite(cv->sd_accuracy[s]) ? cv->sd_accuracy[s] : 0);
        cJSON_AddItemToArray(settings, item);
    }
    return o;
}

static cJSON *confusion_json(const int64_t *cm, int classes) {
    cJSON *rows = cJSON_CreateArray();
    for (int i = 0; i < classes; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < classes; j++) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)cm[(size_t)i * classes + j]));
        cJSON_AddItemToArray(rows, row);
    }
    return rows;
}

static void classic_json(const classic_opts *o, const classic_outcome *r, const class_labels *names) {
    cJSON *root = cJSON_CreateObject(), *best = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", o->model);
    cJSON_AddStringToObject(root, "features", o->features);
    cJSON_AddStringToObject(root, "data", o->data);
    cJSON_AddNumberToObject(root, "n_features", r->n_features);
    cJSON_AddNumberToObject(root, "train_size", r->train_size);
    cJSON_AddNumberToObject(root, "test_size", r->test_size);
    cJSON_AddNumberToObject(root, "seed", (double)o->seed);
    cJSON_AddNumberToObject(root, "threads", mla_get_threads());
    for (int a = 0; a < r->n_params; a++) cJSON_AddNumberToObject(best, r->params[a].name, r->params[a].value);
    cJSON_AddItemToObject(root, "best_params", best);
    if (r->cv) {
        cJSON_AddNumberToObject(root, "cv_accuracy", r->cv->mean_accuracy[r->cv->best]);
        cJSON_AddItemToObject(root, "cv", cv_json(r->cv));
    } else {
        cJSON_AddNullToObject(root, "cv_accuracy");
    }
    cJSON_AddNumberToObject(root, "test_accuracy", (double)r->correct / r->test_size);
    double ci[2] = {r->lo, r->hi};
    cJSON_AddItemToObject(root, "test_accuracy_ci95", number_array(ci, 2));
    cJSON_AddNumberToObject(root, "kappa", r->kappa);
    if (!isnan(r->oob)) cJSON_AddNumberToObject(root, "oob_accuracy", r->oob);
    if (r->importance) cJSON_AddItemToObject(root, "feature_importances", number_array(r->importance, r->n_features));
    cJSON_AddItemToObject(root, "class_names", string_array(names->names, r->classes));
    cJSON_AddItemToObject(root, "confusion", confusion_json(r->cm, r->classes));
    cJSON_AddItemToObject(root, "per_class_sensitivity", number_array(r->sens, r->classes));
    cJSON_AddItemToObject(root, "per_class_specificity", number_array(r->spec, r->classes));
    cJSON_AddItemToObject(root, "per_class_accuracy", number_array(r->bal, r->classes));
    cJSON_AddNumberToObject(root, "features_seconds", r->features_s);
    cJSON_AddNumberToObject(root, "cv_seconds", r->cv_s);
    cJSON_AddNumberToObject(root, "train_seconds", r->train_s);
    cJSON_AddNumberToObject(root, "predict_seconds", r->predict_s);
    if (o->out) cJSON_AddStringToObject(root, "model_file", o->out);
    print_json(root);
    cJSON_Delete(root);
}

static void classic_text(const classic_opts *o, const classic_outcome *r, const class_labels *names) {
    printf("%s on %s features (%d per image), %d training / %d test images\n", o->model, o->features, r->n_features,
           r->train_size, r->test_size);
    if (r->cv) printf("cross-validation (%d folds): best mean accuracy %.4f\n", r->cv->folds, r->cv->mean_accuracy[r->cv->best]);
    for (int a = 0; a < r->n_params; a++) printf("  %s = %g\n", r->params[a].name, r->params[a].value);
    printf("test accuracy %.4f  (95%% CI %.4f - %.4f)  kappa %.4f\n", (double)r->correct / r->test_size, r->lo, r->hi, r->kappa);
    if (!isnan(r->oob)) printf("out-of-bag accuracy %.4f\n", r->oob);
    if (r->importance) {
        int idx[5], k = top_features(r->importance, r->n_features, 5, idx);
        printf("most important features:");
        for (int i = 0; i < k; i++) printf(" %d (%.4f)", idx[i], r->importance[idx[i]]);
        printf("\n");
    }
    printf("%-12s %11s %11s %9s\n", "class", "sensitivity", "specificity", "accuracy");
    for (int c = 0; c < r->classes; c++)
        printf("%-12s %11.4f %11.4f %9.4f\n", names->names[c], r->sens[c], r->spec[c], r->bal[c]);
    printf("seconds: features %.2f, cv %.2f, train %.2f, predict %.2f\n", r->features_s, r->cv_s, r->train_s, r->predict_s);
}

/* The importance heat map when the features are pixels of single-channel images. */
static void plot_importances(const classic_opts *o, const classic_outcome *r, const mla_features *f,
                             const mla_dataset *ds) {
    int c, h, w, n_kept = 0;
    mla_dataset_shape(ds, &c, &h, &w);
    const int32_t *kept = mla_features_kept_pixels(f, &n_kept);
    int pixels = (!strcmp(o->features, "raw") && r->n_features == h * w) || (kept && n_kept == r->n_features);
    if (!r->importance || c != 1 || !pixels) return;
    char title[160];
    snprintf(title, sizeof title, "%s feature importances (mean impurity decrease), %s features", o->model, o->features);
    classic_plot_importances(o->plots, r->importance, r->n_features, kept, h, w, title);
}

static void classic_plots(const classic_opts *o, const classic_outcome *r, const class_labels *names) {
    char title[160];
    snprintf(title, sizeof title, "%s, %s features: test accuracy %.4f", o->model, o->features, (double)r->correct / r->test_size);
    classic_plot_confusion(o->plots, r->cm, r->classes, names->names, title);
    classic_plot_per_class(o->plots, r->sens, r->classes, names->names, title);
    if (r->cv) {
        snprintf(title, sizeof title, "%s, %s features: %d-fold CV", o->model, o->features, r->cv->folds);
        classic_plot_cv(o->plots, r->cv, title);
    }
}

static void save_outputs(const char *out, const mla_classifier *c, const mla_features *f) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s.features", out) >= (int)sizeof path) cli_die("--out: path too long");
    cli_check(mla_classifier_save(c, out));
    cli_check(mla_features_save(f, path));
}

int cmd_classic(int argc, char **argv) {
    classic_opts o = {.data = "fashion-mnist", .features = "raw"};
    const cli_opt opts[] = {
        {"data", CLI_STR, &o.data, 0, 0, NULL},          {"model", CLI_STR, &o.model, 0, 0, NULL},
        {"features", CLI_STR, &o.features, 0, 0, NULL},  {"subset", CLI_INT, &o.subset, 1, 1e9, NULL},
        {"test-subset", CLI_INT, &o.test_subset, 1, 1e9, NULL}, {"cv", CLI_INT, &o.cv, 2, 1000, NULL},
        {"grid", CLI_STR, &o.grid, 0, 0, NULL},          {"seed", CLI_INT, &o.seed, 0, 1e15, NULL},
        {"threads", CLI_INT, &o.threads, 0, 1024, NULL}, {"plots", CLI_STR, &o.plots, 0, 0, NULL},
        {"json", CLI_FLAG, &o.json, 0, 0, NULL},         {"out", CLI_STR, &o.out, 0, 0, NULL},
    };
    cli_parse("classic", CLASSIC_USAGE, argc, argv, opts, sizeof opts / sizeof *opts);
    grid_spec g;
    check_model_kind(o.model); /* first, so --grid names are checked against a known kind */
    parse_grids(argc, argv, o.model, &g);
    check_grid_needs_cv(&o, &g);
    mla_set_threads((int)o.threads);
    mla_features *f = NULL;
    cli_check(mla_features_create(o.features, &f));

    mla_dataset *train = subset_of(load_split(o.data, MLA_SPLIT_TRAIN), o.subset, (uint64_t)o.seed, "--subset", "training");
    mla_dataset *test = subset_of(load_split(o.data, MLA_SPLIT_TEST), o.test_subset, (uint64_t)o.seed, "--test-subset", "test");
    classic_outcome r = {.train_size = mla_dataset_count(train), .test_size = mla_dataset_count(test)};
    r.classes = mla_dataset_classes(train) > mla_dataset_classes(test) ? mla_dataset_classes(train) : mla_dataset_classes(test);
    check_knn_k(&o, &g, r.train_size);

    double t0 = mla_seconds();
    mla_images tr_images = images_of(train);
    cli_check(mla_features_fit(f, &tr_images));
    float *xtr = features_of(f, train), *xte = features_of(f, test);
    r.features_s = mla_seconds() - t0;
    r.n_features = mla_features_dim(f);

    mla_classifier *c = fit_model(&o, &g, xtr, mla_dataset_labels(train), r.train_size, r.n_features, r.classes, &r);
    score_test(c, xte, mla_dataset_labels(test), r.test_size, r.classes, &r);
    model_figures(c, &r);
    class_labels names;
    fill_class_names(train, r.classes, &names);
    if (o.out) save_outputs(o.out, c, f);
    if (o.plots) classic_plots(&o, &r, &names), plot_importances(&o, &r, f, train);
    if (o.json)
        classic_json(&o, &r, &names);
    else
        classic_text(&o, &r, &names);

    mla_cv_result_free(r.cv);
    free(r.cm);
    free(r.sens);
    free(r.spec);
    free(r.bal);
    free(r.importance);
    free(xtr);
    free(xte);
    mla_classifier_free(c);
    mla_features_free(f);
    mla_dataset_free(train);
    mla_dataset_free(test);
    return 0;
}

/* ---- mlaudit pca ---- */

static const char PCA_USAGE[] =
    "usage: mlaudit pca [--data SPEC] [--variance SHARE | --components N] [--subset N] [--seed S] [--threads T]\n"
    "                   [--plots DIR] [--json]\n"
    "Fits PCA to the training images (pixels on the [0, 1] scale) and reports the components kept.\n"
    "  --variance SHARE   keep the fewest components explaining more than SHARE of the variance (default 0.95)\n"
    "  --components N     keep N components instead\n"
    "  --plots DIR        pca_scree, pca_cumulative (.png, .svg), pca_components, pca_scatter, pca_reconstruction (.png)\n";

/* variance 0 when a component count was asked for. */
static void pca_json(const char *data, int n, int d, double variance, int k, const double *ratio, const double *cumulative,
                     double seconds) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "data", data);
    cJSON_AddNumberToObject(root, "train_size", n);
    cJSON_AddNumberToObject(root, "n_features", d);
    if (variance > 0) cJSON_AddNumberToObject(root, "variance", variance);
    cJSON_AddNumberToObject(root, "components", k);
    cJSON_AddNumberToObject(root, "explained_variance", cumulative[k - 1]);
    cJSON_AddItemToObject(root, "explained_variance_ratio", number_array(ratio, k));
    cJSON_AddItemToObject(root, "cumulative_variance_ratio", number_array(cumulative, k));
    cJSON_AddNumberToObject(root, "fit_seconds", seconds);
    print_json(root);
    cJSON_Delete(root);
}

int cmd_pca(int argc, char **argv) {
    const char *data = "fashion-mnist", *plots = NULL;
    double variance = 0.95;
    long components = 0, subset = 0, seed = 0, threads = 0;
    bool json = false, variance_seen = false;
    const cli_opt opts[] = {
        {"data", CLI_STR, &data, 0, 0, NULL},           {"variance", CLI_DOUBLE, &variance, 1e-9, 1 - 1e-12, &variance_seen},
        {"components", CLI_INT, &components, 1, 1e7, NULL}, {"subset", CLI_INT, &subset, 2, 1e9, NULL},
        {"seed", CLI_INT, &seed, 0, 1e15, NULL},        {"threads", CLI_INT, &threads, 0, 1024, NULL},
        {"plots", CLI_STR, &plots, 0, 0, NULL},         {"json", CLI_FLAG, &json, 0, 0, NULL},
    };
    cli_parse("pca", PCA_USAGE, argc, argv, opts, sizeof opts / sizeof *opts);
    if (components && variance_seen) cli_die("pca: give --variance or --components, not both");
    mla_set_threads((int)threads);
    mla_dataset *train = subset_of(load_split(data, MLA_SPLIT_TRAIN), subset, (uint64_t)seed, "--subset", "training");
    mla_images im = images_of(train);
    int n = im.n, d = im.c * im.h * im.w;
    float *x = malloc((size_t)n * d * sizeof *x);
    if (!x) cli_die("out of memory");
    mla_dataset_batch(train, NULL, 0, n, x, NULL);

    double t0 = mla_seconds();
    mla_pca *p = NULL;
    cli_check(mla_pca_fit(x, n, d, &p));
    if (components && components > d) cli_die("--components %ld is more than the %d pixels", components, d);
    cli_check(components ? mla_pca_keep(p, (int)components) : mla_pca_keep_variance(p, variance));
    double seconds = mla_seconds() - t0;
    int k = mla_pca_components(p);
    const double *ratio = mla_pca_explained_variance_ratio(p);
    double *cumulative = malloc((size_t)d * sizeof *cumulative);
    if (!cumulative) cli_die("out of memory");
    for (int i = 0; i < d; i++) cumulative[i] = ratio[i] + (i ? cumulative[i - 1] : 0);

    if (plots) {
        class_labels names;
        fill_class_names(train, mla_dataset_classes(train), &names);
        classic_plot_pca(plots, p, components ? cumulative[k - 1] : variance, x, mla_dataset_labels(train), n,
                         mla_dataset_classes(train), names.names, im.h, im.w);
    }
    if (json)
        pca_json(data, n, d, components ? 0 : variance, k, ratio, cumulative, seconds);
    else
        printf("%d components explain %.4f of the variance of %d images x %d pixels (fit %.2f s)\n", k, cumulative[k - 1],
               n, d, seconds);
    free(cumulative);
    free(x);
    mla_pca_free(p);
    mla_dataset_free(train);
    return 0;
}

/* ---- mlaudit explore ---- */

static const char EXPLORE_USAGE[] =
    "usage: mlaudit explore --plots DIR [--data SPEC] [--subset N] [--seed S] [--json]\n"
    "Pixel statistics of the training images: mean and standard-deviation images, overall and per class\n"
    "(mean_images.png, sd_images.png in DIR; pixel values on the 0-255 scale, first channel).\n";

/* Mean and standard deviation per pixel: slot 0 overall, slot 1 + c for class c. */
static void pixel_stats(const mla_dataset *ds, int classes, double *mean, double *sd, int *count) {
    int n = mla_dataset_count(ds), c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    int hw = h * w, dim = c * h * w;
    const uint8_t *u8 = mla_dataset_pixels_u8(ds);
    const float *f32 = mla_dataset_pixels_f32(ds);
    const int32_t *y = mla_dataset_labels(ds);
    memset(count, 0, (size_t)(classes + 1) * sizeof *count);
    for (int i = 0; i < n; i++) {
        int slots[2] = {0, 1 + y[i]};
        for (int s = 0; s < 2; s++) {
            count[slots[s]]++;
            for (int j = 0; j < hw; j++) {
                double v = u8 ? u8[(size_t)i * dim + j] : 255.0 * f32[(size_t)i * dim + j];
                mean[(size_t)slots[s] * hw + j] += v;
                sd[(size_t)slots[s] * hw + j] += v * v;
            }
        }
    }
    for (int s = 0; s <= classes; s++)
        for (int j = 0; j < hw; j++) {
            size_t at = (size_t)s * hw + j;
            double m = count[s] ? mean[at] / count[s] : NAN;
            double var = count[s] > 1 ? (sd[at] - count[s] * m * m) / (count[s] - 1) : NAN;
            mean[at] = m;
            sd[at] = var > 0 ? sqrt(var) : (isnan(var) ? NAN : 0.0);
        }
}

int cmd_explore(int argc, char **argv) {
    const char *data = "fashion-mnist", *plots = NULL;
    long subset = 0, seed = 0;
    bool json = false;
    const cli_opt opts[] = {
        {"data", CLI_STR, &data, 0, 0, NULL},   {"plots", CLI_STR, &plots, 0, 0, NULL},
        {"subset", CLI_INT, &subset, 1, 1e9, NULL}, {"seed", CLI_INT, &seed, 0, 1e15, NULL},
        {"json", CLI_FLAG, &json, 0, 0, NULL},
    };
    cli_parse("explore", EXPLORE_USAGE, argc, argv, opts, sizeof opts / sizeof *opts);
    if (!plots) cli_die("explore: --plots DIR is required");
    mla_dataset *train = subset_of(load_split(data, MLA_SPLIT_TRAIN), subset, (uint64_t)seed, "--subset", "training");
    int classes = mla_dataset_classes(train), h, w;
    mla_dataset_shape(train, NULL, &h, &w);
    size_t cells = (size_t)(classes + 1) * h * w;
    double *mean = calloc(cells, sizeof *mean), *sd = calloc(cells, sizeof *sd);
    int *count = calloc((size_t)classes + 1, sizeof *count);
    if (!mean || !sd || !count) cli_die("out of memory");
    pixel_stats(train, classes, mean, sd, count);
    class_labels names;
    fill_class_names(train, classes, &names);
    classic_plot_pixel_stats(plots, mean, sd, classes, names.names, h, w);
    if (json) {
        cJSON *root = cJSON_CreateObject(), *per = cJSON_AddArrayToObject(root, "classes");
        cJSON_AddStringToObject(root, "data", data);
        cJSON_AddNumberToObject(root, "train_size", mla_dataset_count(train));
        for (int s = 0; s <= classes; s++) {
            double m = 0, v = 0;
            for (int j = 0; j < h * w; j++) m += mean[(size_t)s * h * w + j], v += sd[(size_t)s * h * w + j];
            cJSON *item = s ? cJSON_CreateObject() : root;
            if (s) cJSON_AddStringToObject(item, "name", names.names[s - 1]), cJSON_AddNumberToObject(item, "count", count[s]);
            cJSON_AddNumberToObject(item, "mean_pixel", count[s] ? m / (h * w) : 0);
            cJSON_AddNumberToObject(item, "mean_pixel_sd", count[s] > 1 ? v / (h * w) : 0);
            if (s) cJSON_AddItemToArray(per, item);
        }
        cJSON_AddStringToObject(root, "plots", plots);
        print_json(root);
        cJSON_Delete(root);
    } else {
        double m = 0;
        for (int j = 0; j < h * w; j++) m += mean[j];
        printf("%d images of %d x %d; mean pixel %.2f (0-255); figures in %s\n", mla_dataset_count(train), h, w,
               m / (h * w), plots);
    }
    free(mean);
    free(sd);
    free(count);
    mla_dataset_free(train);
    return 0;
}
