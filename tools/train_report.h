/* Learning curves and result figures for `mlaudit train --plots DIR`. */
#ifndef MLAUDIT_TRAIN_REPORT_H
#define MLAUDIT_TRAIN_REPORT_H

#include "cli.h"
#include "mlaudit/train.h"

/* Per-epoch record; filled by train_history_epoch (an mla_train_config.on_epoch). */
typedef struct {
    cli_progress *bar;        /* the progress bar the batch callback draws */
    const mla_dataset *test;  /* evaluated after every epoch when not NULL */
    int epochs, done;
    double *train_loss, *val_loss, *val_accuracy, *test_loss, *test_accuracy;
    double *epsilon;          /* after each epoch's noisy steps; NaN without dp */
    const struct train_dp *dp; /* NULL (train_history_init's) unless the run uses DP-SGD */
    int checkpoint_every;
    const char *checkpoint_path;
} train_history;

void train_history_init(train_history *h, int epochs, const mla_dataset *test, cli_progress *bar);
void train_history_free(train_history *h);
mla_status train_history_epoch(void *user, const mla_epoch_stats *es, mla_net *net);

/* Makes dir (and parents) if missing; dies with a one-line error otherwise. */
void make_dir(const char *dir);

/* Writes history.csv (epoch, train/val/test loss and accuracy, epsilon: empty without
 * DP-SGD, inf without noise), learning_curve.png, accuracy_curve.png, confusion.png and
 * test_samples.png into dir. pred holds the test-set predictions. */
void write_train_plots(const char *dir, const train_history *h, const mla_dataset *test, const int32_t *pred,
                       int classes);

#endif
