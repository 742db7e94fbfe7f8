/* Learning curves, confusion matrix and sample predictions for `mlaudit train --plots`. */
#include "train_report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mlaudit/plot.h"
#include "train_flags.h"

void train_history_init(train_history *h, int epochs, const mla_dataset *test, cli_progress *bar) {
    memset(h, 0, sizeof *h);
    h->bar = bar;
    h->test = test;
    h->epochs = epochs;
    double **cols[6] = {&h->train_loss, &h->val_loss, &h->val_accuracy, &h->test_loss, &h->test_accuracy,
                        &h->epsilon};
    for (int i = 0; i < 6; i++) {
        *cols[i] = malloc((size_t)epochs * sizeof(double));
        if (!*cols[i]) cli_die("out of memory");
        for (int e = 0; e < epochs; e++) (*cols[i])[e] = NAN;
    }
}

void train_history_free(train_history *h) {
    free(h->train_loss);
    free(h->val_loss);
    free(h->val_accuracy);
    free(h->test_loss);
    free(h->test_accuracy);
    free(h->epsilon);
}

mla_status train_history_epoch(void *user, const mla_epoch_stats *es, mla_net *net) {
    train_history *h = user;
    int e = es->epoch;
    h->train_loss[e] = es->train_loss;
    h->val_loss[e] = es->val_loss;
    h->val_accuracy[e] = es->val_accuracy;
    h->done = e + 1;
    if (h->dp) h->epsilon[e] = train_dp_epsilon(h->dp, mla_dpsgd_state_of(h->dp->dp)->steps);
    if (!h->test) return MLA_OK;
    mla_eval_result r;
    mla_status s = mla_evaluate(net, h->test, NULL, mla_dataset_count(h->test), 500, &r, NULL, NULL);
    h->test_loss[e] = r.loss;
    h->test_accuracy[e] = r.accuracy;
    return s;
}

void make_dir(const char *dir) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) cli_die("--plots: path too long");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) cli_die("cannot create folder %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) cli_die("cannot create folder %s: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) cli_die("%s is not a folder", path);
}

static void join(char *buf, size_t size, const char *dir, const char *name) { snprintf(buf, size, "%s/%s", dir, name); }

static void write_history_csv(const char *dir, const train_history *h) {
    char path[4200], *text = malloc((size_t)h->done * 200 + 96);
    if (!text) cli_die("out of memory");
    size_t len = (size_t)sprintf(text, "epoch,train_loss,val_loss,val_accuracy,test_loss,test_accuracy,epsilon\n");
    for (int e = 0; e < h->done; e++) {
        len += (size_t)sprintf(text + len, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,", e + 1, h->train_loss[e], h->val_loss[e],
                               h->val_accuracy[e], h->test_loss[e], h->test_accuracy[e]);
        double eps = h->epsilon[e]; /* empty without DP (or for epochs before a resume) */
        len += (size_t)(isnan(eps) ? sprintf(text + len, "\n") : sprintf(text + len, "%.6f\n", eps));
    }
    join(path, sizeof path, dir, "history.csv");
    cli_check(mla_write_file_atomic(path, text, len));
    free(text);
}

static void plot_curves(const char *dir, const train_history *h) {
    double *epochs = malloc((size_t)h->done * sizeof(double));
    if (!epochs) cli_die("out of memory");
    for (int e = 0; e < h->done; e++) epochs[e] = e + 1;
    char path[4200];
    bool val = false;
    for (int e = 0; e < h->done; e++) val = val || !isnan(h->val_loss[e]);
    mla_plot_series loss[3] = {{"train (mean over the epoch's batches)", epochs, h->train_loss, h->done, 1, 0, 0},
                               {"test", epochs, h->test_loss, h->done, 1, 0, 0},
                               {"validation", epochs, h->val_loss, h->done, 1, 1, 0}};
    mla_plot_line_opts lo = {.frame = {.title = "Cross-entropy per epoch"}, .x = {.title = "epoch"},
                             .y = {.title = "loss"}};
    join(path, sizeof path, dir, "learning_curve.png");
    cli_check(mla_plot_lines(path, loss, val ? 3 : 2, &lo));
    mla_plot_series acc[2] = {{"test", epochs, h->test_accuracy, h->done, 1, 0, 2},
                              {"validation", epochs, h->val_accuracy, h->done, 1, 1, 3}};
    mla_plot_line_opts ao = {.frame = {.title = "Accuracy per epoch"}, .x = {.title = "epoch"},
                             .y = {.title = "accuracy"}};
    join(path, sizeof path, dir, "accuracy_curve.png");
    cli_check(mla_plot_lines(path, acc, val ? 2 : 1, &ao));
    free(epochs);
}

static void class_labels(const mla_dataset *ds, int classes, const char **names, char (*buf)[16]) {
    for (int k = 0; k < classes; k++) {
        names[k] = mla_dataset_class_name(ds, k);
        if (!names[k]) {
            snprintf(buf[k], sizeof buf[k], "%d", k);
            names[k] = buf[k];
        }
    }
}

static void plot_confusion(const char *dir, const mla_dataset *test, const int32_t *pred, int classes,
                           const char **names) {
    double *m = calloc((size_t)classes * classes, sizeof(double));
    if (!m) cli_die("out of memory");
    const int32_t *y = mla_dataset_labels(test);
    for (int i = 0; i < mla_dataset_count(test); i++) m[(size_t)y[i] * classes + pred[i]] += 1;
    mla_plot_heatmap_opts o = {.frame = {.title = "Confusion matrix (test set)", .width = 900, .height = 800},
                               .x_title = "predicted", .y_title = "true", .row_labels = names,
                               .col_labels = names, .cmap = MLA_CMAP_BLUES, .show_values = classes <= 20,
                               .value_format = "%.0f"};
    char path[4200];
    join(path, sizeof path, dir, "confusion.png");
    cli_check(mla_plot_heatmap(path, m, classes, classes, &o));
    free(m);
}

static void plot_samples(const char *dir, const mla_dataset *test, const int32_t *pred, const char **names) {
    int n = mla_dataset_count(test) < 40 ? mla_dataset_count(test) : 40, c, h, w;
    mla_dataset_shape(test, &c, &h, &w);
    if (c != 1 && c != 3) return; /* not an image the grid can show */
    float *pix = malloc((size_t)n * mla_dataset_dim(test) * sizeof(float));
    char (*captions)[64] = calloc((size_t)n, sizeof *captions);
    const char **caps = calloc((size_t)n, sizeof *caps);
    if (!pix || !captions || !caps) cli_die("out of memory");
    mla_dataset_batch(test, NULL, 0, n, pix, NULL);
    const int32_t *y = mla_dataset_labels(test);
    for (int i = 0; i < n; i++) {
        if (pred[i] == y[i])
            snprintf(captions[i], sizeof captions[i], "%s", names[pred[i]]);
        else
            snprintf(captions[i], sizeof captions[i], "%s (is %s)", names[pred[i]], names[y[i]]);
        caps[i] = captions[i];
    }
    mla_plot_images imgs = {pix, MLA_PIXELS_F32, n, c, h, w};
    mla_plot_grid_opts o = {.frame = {.title = "First test images: prediction (true class when wrong)"},
                            .cols = 8, .tile_captions = caps};
    char path[4200];
    join(path, sizeof path, dir, "test_samples.png");
    cli_check(mla_plot_image_grid(path, &imgs, &o));
    free(pix);
    free(captions);
    free(caps);
}

void write_train_plots(const char *dir, const train_history *h, const mla_dataset *test, const int32_t *pred,
                       int classes) {
    const char **names = calloc((size_t)classes, sizeof *names);
    char (*buf)[16] = calloc((size_t)classes, sizeof *buf);
    if (!names || !buf) cli_die("out of memory");
    class_labels(test, classes, names, buf);
    write_history_csv(dir, h);
    plot_curves(dir, h);
    plot_confusion(dir, test, pred, classes, names);
    plot_samples(dir, test, pred, names);
    free(names);
    free(buf);
}
