/* The audit's metrics against hand-computed answers and a direct computation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "mlaudit/robust.h"

static void test_rates(void **st) {
    (void)st;
    const int32_t y[6] = {0, 1, 2, 0, 1, 2};
    const int32_t clean[6] = {0, 1, 2, 1, 1, 0};   /* 4 right */
    const int32_t adv[6] = {0, 2, 0, 1, 1, 2};     /* 3 right; of the 4 clean-right, 2 flipped */
    mla_robust_rates r = mla_robust_rates_of(y, NULL, clean, adv, 6);
    assert_float_equal(r.clean, 4.0 / 6, 1e-12);
    assert_float_equal(r.adversarial, 3.0 / 6, 1e-12);
    assert_float_equal(r.success_rate, 2.0 / 4, 1e-12);
    const int32_t t[6] = {1, 2, 0, 1, 2, 0};      /* adv hits target at 1, 2, 3 */
    r = mla_robust_rates_of(y, t, clean, adv, 6);
    assert_float_equal(r.success_rate, 3.0 / 6, 1e-12);
    const int32_t wrong[2] = {1, 1};
    r = mla_robust_rates_of(y, NULL, wrong, wrong, 1); /* nothing right when clean */
    assert_true(isnan(r.success_rate));
}

static void test_perturbation(void **st) {
    (void)st;
    /* Sample perturbations (3, 4) -> L2 5, Linf 4; (0, 0.5) -> 0.5, 0.5; (1, 0) -> 1, 1;
     * (0.1, 0) -> 0.1, 0.1 (dim 2, values / 10 to stay in [0, 1]). */
    const float x[8] = {0, 0, 0.5f, 0.2f, 0.3f, 0.3f, 0.5f, 0.5f};
    const float a[8] = {0.3f, 0.4f, 0.5f, 0.25f, 0.4f, 0.3f, 0.51f, 0.5f};
    const bool ok[4] = {true, false, true, true};
    mla_perturbation p;
    assert_int_equal(mla_perturbation_of(x, a, 4, 2, ok, &p), MLA_OK);
    double l2[4], linf[4], sum = 0, sums = 0, mx = 0, lsum = 0, lsums = 0;
    for (int i = 0; i < 4; i++) {
        double d0 = (double)a[2 * i] - x[2 * i], d1 = (double)a[2 * i + 1] - x[2 * i + 1];
        l2[i] = sqrt(d0 * d0 + d1 * d1);
        linf[i] = fmax(fabs(d0), fabs(d1));
        sum += l2[i], lsum += linf[i], mx = fmax(mx, linf[i]);
        if (ok[i]) sums += l2[i], lsums += linf[i];
    }
    assert_float_equal(l2[0], 0.5, 1e-7);
    assert_float_equal(p.l2_mean, sum / 4, 1e-12);
    assert_float_equal(p.l2_median, (l2[2] + l2[1]) / 2, 1e-12); /* sorted: 0.01, 0.05, 0.1, 0.5 */
    assert_float_equal(p.linf_mean, lsum / 4, 1e-12);
    assert_float_equal(p.linf_max, mx, 1e-12);
    assert_int_equal(p.n_success, 3);
    assert_float_equal(p.l2_mean_success, sums / 3, 1e-12);
    assert_float_equal(p.l2_median_success, l2[2], 1e-12); /* of 0.01, 0.1, 0.5 */
    assert_float_equal(p.linf_mean_success, lsums / 3, 1e-12);
    assert_int_equal(mla_perturbation_of(x, a, 4, 2, NULL, &p), MLA_OK);
    assert_true(isnan(p.l2_mean_success) && p.n_success == 0);
}

/* 255 * L2 / dim averaged over the wrong samples: (0.3, 0.4) -> 255 * 0.5 / 2 = 63.75;
 * (0, 0.1) -> 12.75; the third is not wrong. */
static void test_l2_rescaled(void **st) {
    (void)st;
    const float x[6] = {0, 0, 0.5f, 0.5f, 0, 0}, a[6] = {0.3f, 0.4f, 0.5f, 0.6f, 1, 1};
    const bool wrong[3] = {true, true, false}, none[3] = {false, false, false};
    assert_float_equal(mla_l2_rescaled(x, a, 3, 2, wrong), (63.75 + 12.75) / 2, 1e-5);
    assert_true(isnan(mla_l2_rescaled(x, a, 3, 2, none)));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rates), cmocka_unit_test(test_perturbation),
                                       cmocka_unit_test(test_l2_rescaled)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
