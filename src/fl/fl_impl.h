/* Private to src/fl: the state of one federated run and its checkpoints. */
#ifndef MLAUDIT_FL_IMPL_H
#define MLAUDIT_FL_IMPL_H

#include <stdio.h>

#include "mlaudit/fl.h"

/* What a client's training reports with its parameter vector (also the header of
 * the message a rank sends to rank 0 before the vector). */
typedef struct {
    int32_t client, n;
    double weight, loss;
} fl_report;

/* One run: fixed inputs, the worker nets, the round's survivors and the sum. */
typedef struct {
    mla_net *global;
    const mla_dataset *train;
    const mla_fl_clients *clients;
    const mla_fl_config *cfg;
    int rank, size;
    size_t count;                 /* floats in the flat parameter vector */
    mla_net **workers;
    mla_optimizer **worker_opts;  /* keep_client_state: one optimizer per worker */
    int n_workers;
    float *client_opt;            /* keep_client_state: [clients][opt_size] optimizer states */
    int64_t *client_steps;        /* their step counts (0: fresh) */
    size_t opt_size;
    double *acc;                  /* rank 0: the weighted sum */
    float *recv;                  /* rank 0 under a transport: one received vector */
    int32_t *taken, *survivors;   /* the round's choice; survivors in id order */
    uint8_t *dropped;
    int n_taken, n_surv, attempts;
    int next;                     /* rank 0: the next position to add */
    double total_weight, loss_sum;
    long samples, own_samples;
    mla_status err;               /* the first error of a round's workers */
    char msg[512];
} fl_run;

/* The training config every client starts from (cfg->train with E epochs, no hook,
 * no checkpoints, no callbacks). */
mla_train_config fl_local_config(const mla_fl_config *cfg);

/* The run's fingerprint: the model, the partition and every setting but the round
 * count, as space-separated key=value tokens. */
void fl_fingerprint(const mla_net *global, const mla_fl_clients *clients, const mla_fl_config *cfg, char *buf,
                    size_t size);
/* Writes the global parameters, rounds_done, the history and (keep_client_state) the
 * clients' optimizer states atomically. */
mla_status fl_checkpoint_save(const char *path, const fl_run *x, int rounds_done, const mla_fl_round_stats *history,
                              const char *fingerprint);
/* Restores them (history has room for max_rounds); checks the format and the
 * fingerprint, naming the first setting that differs. */
mla_status fl_checkpoint_load(const char *path, fl_run *x, int *rounds_done, mla_fl_round_stats *history,
                              int max_rounds, const char *fingerprint);

#endif
