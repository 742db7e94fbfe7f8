/* Per-round lines, history.csv and the figures of `mlaudit fl`. */
#include "fl_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cli_json.h"
#include "mlaudit/plot.h"

cJSON *fl_round_json(const mla_fl_round_stats *st, const int32_t *reported) {
    cJSON *o = cJSON_CreateObject();
    if (!o) cli_die("out of memory");
    cJSON_AddNumberToObject(o, "round", st->round + 1);
    cJSON_AddNumberToObject(o, "attempts", st->attempts);
    cJSON_AddNumberToObject(o, "taken", st->taken);
    cJSON_AddNumberToObject(o, "reported", st->reported);
    cJSON *ids = cJSON_AddArrayToObject(o, "clients");
    for (int i = 0; reported && i < st->reported; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(reported[i]));
    cJSON_AddNumberToObject(o, "samples", (double)st->samples);
    cli_json_num(o, "train_loss", st->train_loss);
    cli_json_num(o, "test_accuracy", st->test_accuracy);
    cli_json_num(o, "test_loss", st->test_loss);
    cJSON_AddNumberToObject(o, "seconds", st->seconds);
    return o;
}

void fl_round_print(const mla_fl_round_stats *st) {
    printf("round %d: %d of %d clients reported%s, %ld samples, train loss %.4f, test accuracy %.4f loss %.4f, "
           "%.2f s\n",
           st->round + 1, st->reported, st->taken, st->attempts > 1 ? " (after retries)" : "", st->samples,
           st->train_loss, st->test_accuracy, st->test_loss, st->seconds);
    fflush(stdout);
}

cJSON *fl_histogram_json(const int64_t *counts, int clients, int classes) {
    cJSON *a = cJSON_CreateArray();
    if (!a) cli_die("out of memory");
    for (int i = 0; i < clients; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int k = 0; k < classes; k++) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)counts[(size_t)i * classes + k]));
        cJSON_AddItemToArray(a, row);
    }
    return a;
}

static void write_csv(const char *dir, const mla_fl_round_stats *h, int rounds) {
    char path[4200], *text = malloc((size_t)rounds * 200 + 128);
    if (!text) cli_die("out of memory");
    size_t len = (size_t)sprintf(text, "round,attempts,taken,reported,samples,train_loss,test_accuracy,test_loss,seconds\n");
    for (int r = 0; r < rounds; r++)
        len += (size_t)sprintf(text + len, "%d,%d,%d,%d,%ld,%.6f,%.6f,%.6f,%.3f\n", h[r].round + 1, h[r].attempts,
                               h[r].taken, h[r].reported, h[r].samples, h[r].train_loss, h[r].test_accuracy,
                               h[r].test_loss, h[r].seconds);
    snprintf(path, sizeof path, "%s/history.csv", dir);
    cli_check(mla_write_file_atomic(path, text, len));
    free(text);
}

static void plot_curves(const char *dir, const mla_fl_round_stats *h, int rounds, double central) {
    double *x = malloc((size_t)rounds * 4 * sizeof *x), cx[2] = {1, rounds}, cy[2] = {central, central};
    if (!x) cli_die("out of memory");
    double *acc = x + rounds, *train = acc + rounds, *test = train + rounds;
    for (int r = 0; r < rounds; r++)
        x[r] = r + 1, acc[r] = h[r].test_accuracy, train[r] = h[r].train_loss, test[r] = h[r].test_loss;
    char path[4200];
    mla_plot_series a[2] = {{"global model (test)", x, acc, rounds, 1, 0, 0},
                            {"central baseline, E x R epochs (test)", cx, cy, 2, 0, 1, 0}};
    mla_plot_line_opts ao = {.frame = {.title = "Federated averaging: test accuracy per round"},
                             .x = {.title = "round"}, .y = {.title = "accuracy"}};
    snprintf(path, sizeof path, "%s/fl_curve.png", dir);
    cli_check(mla_plot_lines(path, a, isnan(central) ? 1 : 2, &ao));
    mla_plot_series l[2] = {{"clients' last local epoch (train)", x, train, rounds, 1, 0, 0},
                            {"global model (test)", x, test, rounds, 1, 0, 0}};
    mla_plot_line_opts lo = {.frame = {.title = "Federated averaging: loss per round"}, .x = {.title = "round"},
                             .y = {.title = "cross-entropy"}};
    snprintf(path, sizeof path, "%s/fl_loss.png", dir);
    cli_check(mla_plot_lines(path, l, 2, &lo));
    free(x);
}

static void plot_histogram(const char *dir, const int64_t *counts, int clients, int classes,
                           const char *const *class_names) {
    int rows = clients < 2000 ? clients : 2000;
    double *v = malloc((size_t)rows * classes * sizeof *v);
    if (!v) cli_die("out of memory");
    for (size_t i = 0; i < (size_t)rows * classes; i++) v[i] = (double)counts[i];
    char title[128], path[4200];
    snprintf(title, sizeof title, "Labels per client%s", clients > rows ? " (the first 2,000 clients)" : "");
    mla_plot_heatmap_opts o = {.frame = {.title = title}, .x_title = "class", .y_title = "client",
                               .col_labels = class_names, .cmap = MLA_CMAP_BLUES,
                               .show_values = rows <= 20 && classes <= 20, .value_format = "%.0f"};
    snprintf(path, sizeof path, "%s/label_hist.png", dir);
    cli_check(mla_plot_heatmap(path, v, rows, classes, &o));
    free(v);
}

void fl_write_plots(const char *dir, const mla_fl_round_stats *h, int rounds, double central_accuracy,
                    const int64_t *counts, int clients, int classes, const char *const *class_names) {
    write_csv(dir, h, rounds);
    plot_curves(dir, h, rounds, central_accuracy);
    plot_histogram(dir, counts, clients, classes, class_names);
}
