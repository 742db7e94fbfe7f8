/* Internal to src/report: what the membership report's writer and page share. */
#ifndef MLAUDIT_REPORT_IMPL_H
#define MLAUDIT_REPORT_IMPL_H

#include "mlaudit/report.h"

/* Which figures the writer produced in dir (so the page inlines only those). */
typedef struct {
    int roc, loss_hist, batch;
} mia_figures;

/* Writes dir/report.html from the result and the figures already in dir. */
mla_status mia_report_page(const char *dir, const mla_mia_result *r, const mla_mia_report_info *info,
                           const mia_figures *figs);

/* dir + "/" + name into buf (at most n bytes); MLA_ERR_INVALID when it does not fit. */
mla_status mia_report_path(char *buf, size_t n, const char *dir, const char *name);

/* True when the attack has members and non-members to draw a curve from. */
int mia_attack_has_roc(const mla_mia_attack_result *a);


#endif
