/* The files and text of `mlaudit anomaly`: anomaly.json's object, scores.csv, roc.png,
 * score_hist.png and the table printed on stdout, from an mla_anomaly_result. */
#ifndef MLAUDIT_ANOMALY_REPORT_H
#define MLAUDIT_ANOMALY_REPORT_H

#include <cjson/cJSON.h>

#include "mlaudit/anomaly.h"

/* What the report states beside the results (echoed under "settings"). */
typedef struct {
    const char *dataset;
    int classes;                  /* the dataset's class count */
    const mla_anomaly_config *cfg;
    const char *method_list;      /* as given to --method */
} anomaly_report_info;

/* anomaly.json's object (the caller deletes it). */
cJSON *anomaly_report_json(const mla_anomaly_result *r, const anomaly_report_info *info);

/* scores.csv, roc.png and score_hist.png into dir (each atomic); dies on failure. The
 * figures show the first class run and its first seed (base_seed, as in the csv). */
void anomaly_report_files(const char *dir, const mla_anomaly_result *r, const mla_dataset *test, uint64_t base_seed);

/* The per-class table (AUROC and AUPR, mean and sd over seeds, per method) and the
 * score terms' means, on out. */
void anomaly_report_text(FILE *out, const mla_anomaly_result *r, const anomaly_report_info *info);

#endif
