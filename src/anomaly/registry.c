/* The registry of anomaly methods: what `mlaudit anomaly --method` accepts. */
#include "mlaudit/anomaly.h"

#include <stdio.h>
#include <string.h>

static const mla_anomaly_method *const methods[] = {
    &mla_anomaly_adegan, &mla_anomaly_ganomaly, &mla_anomaly_knn, &mla_anomaly_ae, &mla_anomaly_dsvdd, &mla_anomaly_knn_ae,
    NULL,
};

const mla_anomaly_method *const *mla_anomaly_methods(void) { return methods; }

mla_status mla_anomaly_method_find(const char *name, const mla_anomaly_method **out) {
    char list[512] = "";
    size_t len = 0;
    for (int i = 0; methods[i]; i++) {
        if (name && !strcmp(name, methods[i]->name)) {
            *out = methods[i];
            return MLA_OK;
        }
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", methods[i]->name);
        if (len >= sizeof list) len = sizeof list - 1;
    }
    *out = NULL;
    return mla_error(MLA_ERR_INVALID, "unknown anomaly method '%s' (available: %s)", name ? name : "(null)", list);
}
