/* Tests of mla_hist_density (report.h): densities by hand on linear and log bins,
 * the end bins catching the tails, non-finite values skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>

#include "mlaudit/report.h"

static void test_linear_bins(void **state) {
    (void)state;
    const double x[7] = {0.1, 0.6, 0.7, 1.5, -3, 9, NAN}; /* bins [0, 0.5), [0.5, 1), [1, 1.5), [1.5, 2) */
    double d[4];
    mla_hist_density(x, 7, 0, 2, 4, 0, d);
    /* 6 used, width 0.5: counts 2 (0.1, -3), 2, 0, 2 (1.5, 9) */
    assert_true(fabs(d[0] - 2 / 3.0) < 1e-15 && fabs(d[1] - 2 / 3.0) < 1e-15 && d[2] == 0 && fabs(d[3] - 2 / 3.0) < 1e-15);
    double sum = 0;
    for (int k = 0; k < 4; k++) sum += d[k] * 0.5;
    assert_true(fabs(sum - 1) < 1e-15); /* a density */
}

static void test_log_bins(void **state) {
    (void)state;
    const double x[4] = {1.5, 20, 500, 0}; /* decades [1, 10), [10, 100), [100, 1000) */
    double d[3];
    mla_hist_density(x, 4, 1, 1000, 3, 1, d);
    assert_true(d[0] == 0.5 && d[1] == 0.25 && d[2] == 0.25); /* 0 goes to the first bin */
    const double none[1] = {NAN};
    mla_hist_density(none, 1, 1, 1000, 3, 1, d);
    assert_true(isnan(d[0]) && isnan(d[2]));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_linear_bins), cmocka_unit_test(test_log_bins)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
