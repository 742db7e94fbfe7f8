/* Output of `mlaudit fl`: the per-round JSON lines or text lines, history.csv,
 * fl_curve.png, fl_loss.png and label_hist.png. Only rank 0 calls these. */
#ifndef MLAUDIT_FL_REPORT_H
#define MLAUDIT_FL_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "mlaudit/fl.h"

/* One round as the JSON object of a --json line: round (1-based), attempts, taken,
 * reported, clients (the reporting ids), samples, train_loss, test_accuracy,
 * test_loss, seconds. */
cJSON *fl_round_json(const mla_fl_round_stats *st, const int32_t *reported);
/* The same as one line of text on stdout. */
void fl_round_print(const mla_fl_round_stats *st);

/* The clients' label counts ([clients][classes]) as a JSON array of arrays. */
cJSON *fl_histogram_json(const int64_t *counts, int clients, int classes);

/* Writes dir/history.csv (round, attempts, taken, reported, samples, train_loss,
 * test_accuracy, test_loss, seconds), dir/fl_curve.png (test accuracy per round,
 * with the central run's as a dashed line when central_accuracy is not NaN),
 * dir/fl_loss.png (train and test loss per round) and dir/label_hist.png (label
 * counts per client; the first 2,000 clients). Dies on a write error. */
void fl_write_plots(const char *dir, const mla_fl_round_stats *h, int rounds, double central_accuracy,
                    const int64_t *counts, int clients, int classes, const char *const *class_names);

#endif
