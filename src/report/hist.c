/* Histogram densities for the figures of score distributions (report.h). */
#include "mlaudit/report.h"

#include <math.h>
#include <string.h>

void mla_hist_density(const double *x, int64_t n, double lo, double hi, int bins, int log_bins, double *out) {
    double a = log_bins ? log10(lo) : lo, w = ((log_bins ? log10(hi) : hi) - a) / bins;
    int64_t used = 0;
    memset(out, 0, (size_t)bins * sizeof *out);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        double k = log_bins ? (x[i] > 0 ? floor((log10(x[i]) - a) / w) : 0) : floor((x[i] - a) / w);
        out[k < 0 ? 0 : k >= bins ? bins - 1 : (int)k] += 1;
        used++;
    }
    for (int k = 0; k < bins; k++) out[k] = used ? out[k] / ((double)used * w) : NAN;
}
