/* mlaudit mia --train fl: the flags that make the audit's models federated (fl.h's
 * mla_fl_mia trainer through mia.h's train_model extension point) and the per-client
 * report. Kept out of cmd_mia.c so that file stays about the audit. */
#ifndef MLAUDIT_TOOLS_MIA_FL_H
#define MLAUDIT_TOOLS_MIA_FL_H

#include "cli.h"
#include "mlaudit/fl.h"
#include "mlaudit/mia.h"

#define MIA_FL_OPTS 8

typedef struct {
    const char *train, *shadow_train, *partition, *weighting;
    long clients, rounds, local_epochs;
    double fraction;
    bool clients_seen, rounds_seen, local_epochs_seen, fraction_seen, partition_seen, weighting_seen;
    bool shadow_train_seen;
} mia_fl_flags;

extern const char mia_fl_usage[];

/* Defaults, and the flags' table entries (returns how many, at most MIA_FL_OPTS). */
int mia_fl_opts(mia_fl_flags *f, cli_opt *opts);
bool mia_fl_on(const mia_fl_flags *f);
/* Dies on a bad combination: federated flags without --train fl, --train fl without
 * --clients/--rounds, with --target, DP-SGD, early stopping or --epochs. */
void mia_fl_check(const mia_fl_flags *f, bool own_target, bool dp, bool early_stop, bool epochs_seen);
/* Fills t and points cfg's train_model at it; dropout < 0: the spec's rates. */
void mia_fl_config(const mia_fl_flags *f, uint64_t seed, float dropout, mla_fl_mia *t, mla_mia_audit_config *cfg);
/* Adds the federated settings to the settings object (cJSON *). */
void mia_fl_settings(const mia_fl_flags *f, void *settings);
/* The "per_client" / "leakiest_client" JSON object text for mia.json (caller frees),
 * and, unless quiet, a per-client table on stdout. */
char *mia_fl_per_client(const mla_fl_mia *t, const mla_mia_collected *col, const mla_mia_result *r,
                        const mla_dataset *data, bool quiet);
/* dir/clients.csv: "index,client", one row per sample of the target's clients (the
 * dataset index as in scores.csv), written atomically. */
void mia_fl_write_clients(const mla_fl_mia *t, const char *dir);

#endif
