/* Tests of dp.h, the RDP accountant: the published values of TF Privacy's MNIST
 * tutorial, Abadi et al. 2016 and Opacus's accountant tests (the acceptance tests),
 * then the formulas' internal consistency and the refusal of bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "mlaudit/dp.h"

/* rdp.c's fractional series, exported for this test only (not in dp.h). */
double mla_dp_log_a_frac_(double q, double sigma, double alpha);

static void expect_near(double got, double want, double tol, const char *what) {
    printf("  %s: %.6f (published %g, tolerance %g)\n", what, got, want, tol);
    assert_true(fabs(got - want) <= tol);
}

/* ---- published values ---- */

/* TF Privacy's MNIST DP-SGD tutorial (README table: noise 1.1, 60 epochs, epsilon 3.01):
 * batch 256 of 60000, delta 1e-5, the classic conversion. The tutorial counts steps
 * as epoch * 60000 // 256, so 60 epochs are 14062 steps (14063 gives the same 3.01). */
static void test_tf_mnist_tutorial(void **state) {
    (void)state;
    mla_dp_epsilon e;
    assert_int_equal(mla_dp_epsilon_of(256.0 / 60000, 1.1, 14062, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_OK);
    expect_near(e.epsilon_classic, 3.01, 0.005, "TF MNIST tutorial, classic epsilon (14062 steps)");
    assert_int_equal(mla_dp_epsilon_of(256.0 / 60000, 1.1, 14063, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_OK);
    expect_near(e.epsilon_classic, 3.01, 0.005, "TF MNIST tutorial, classic epsilon (14063 steps)");
    assert_true(e.epsilon < e.epsilon_classic); /* Balle et al.'s bound is tighter */
}

/* Abadi et al. 2016, section 5: q = 0.01, sigma = 4, 10000 steps, delta 1e-5: the
 * moments accountant gives epsilon 1.26 (integer orders, classic conversion). */
static void test_abadi_2016(void **state) {
    (void)state;
    mla_dp_epsilon e;
    assert_int_equal(mla_dp_epsilon_of(0.01, 4, 10000, 1e-5, MLA_DP_ORDERS_INT, &e), MLA_OK);
    expect_near(e.epsilon_classic, 1.26, 0.005, "Abadi et al. 2016, classic epsilon");
    assert_true(e.order_classic == floor(e.order_classic));
}

/* Opacus's accountant tests: q = 0.04, sigma = 1.5, 2250 steps (90 epochs), delta 1e-5
 * gives 7.32911117143 (improved conversion, Opacus's orders); and the noise for epsilon
 * 8 over those steps, by its bisection to 0.01, is 1.416. */
static void test_opacus(void **state) {
    (void)state;
    mla_dp_epsilon e;
    assert_int_equal(mla_dp_epsilon_of(0.04, 1.5, 2250, 1e-5, MLA_DP_ORDERS_OPACUS, &e), MLA_OK);
    expect_near(e.epsilon, 7.33, 0.005, "Opacus RDP accountant, epsilon");
    assert_true(fabs(e.epsilon - 7.32911117143) < 1e-6);
    double sigma;
    assert_int_equal(mla_dp_sigma_for(0.04, 8, 2250, 1e-5, MLA_DP_ORDERS_OPACUS, 0.01, &sigma), MLA_OK);
    expect_near(sigma, 1.416, 0.005, "Opacus get_noise_multiplier, sigma for epsilon 8");
    assert_true(fabs(sigma - 1.416) < 0.0005); /* Opacus asserts three places */
}

/* ---- the formulas ---- */

static void test_full_batch_is_gaussian(void **state) {
    (void)state;
    const double sigmas[] = {0.5, 1, 1.1, 4, 30};
    const double alphas[] = {1.1, 1.5, 2, 3, 7.25, 64, 512};
    for (int s = 0; s < 5; s++)
        for (int a = 0; a < 7; a++) {
            double want = alphas[a] / (2 * sigmas[s] * sigmas[s]);
            assert_true(fabs(mla_dp_rdp_step(1, sigmas[s], alphas[a]) - want) <= 1e-15 * want);
        }
    assert_true(mla_dp_rdp_step(0, 1.1, 3.5) == 0);
    assert_true(mla_dp_rdp_step(0, 1.1, 8) == 0);
}

/* The fractional series at an integer order equals the binomial sum, and rdp_step is
 * continuous and increasing across integers (where it switches between them). Both sum
 * terms near 1 into log A, which carries an absolute rounding error of ~1e-15: hence the
 * absolute slack, which matters where log A itself is tiny (q = 1e-4: ~1e-9). */
static void test_integer_and_fractional_agree(void **state) {
    (void)state;
    const double qs[] = {1e-4, 0.004, 0.01, 0.04, 0.3, 0.9};
    const double sigmas[] = {0.7, 1.1, 1.5, 4, 10};
    const double alphas[] = {2, 3, 5, 8, 16, 32};
    for (int i = 0; i < 6; i++)
        for (int s = 0; s < 5; s++)
            for (int a = 0; a < 6; a++) {
                double q = qs[i], sg = sigmas[s], al = alphas[a];
                double by_int = mla_dp_rdp_step(q, sg, al) * (al - 1);
                double by_frac = mla_dp_log_a_frac_(q, sg, al);
                assert_true(fabs(by_int - by_frac) <= 1e-9 * by_int + 1e-13);
                double lo = mla_dp_rdp_step(q, sg, al - 1e-6), mid = mla_dp_rdp_step(q, sg, al),
                       hi = mla_dp_rdp_step(q, sg, al + 1e-6);
                assert_true(lo <= mid + 1e-13 && mid <= hi + 1e-13);
                assert_true(hi - lo <= 1e-4 * mid + 1e-13);
            }
}

static void test_monotone(void **state) {
    (void)state;
    const double *orders;
    int n;
    orders = mla_dp_order_list(MLA_DP_ORDERS_OPACUS, &n);
    double prev = 0;
    for (int k = 0; k < n; k++) { /* increasing in alpha */
        double r = mla_dp_rdp_step(0.04, 1.5, orders[k]);
        assert_true(r > prev);
        prev = r;
    }
    prev = 0;
    for (double q = 0.001; q < 1; q += 0.05) { /* increasing in q */
        double r = mla_dp_rdp_step(q, 1.1, 3.5);
        assert_true(r > prev);
        prev = r;
    }
    prev = INFINITY;
    for (double s = 0.6; s < 20; s *= 1.3) { /* decreasing in sigma */
        double r = mla_dp_rdp_step(0.01, s, 6);
        assert_true(r < prev);
        prev = r;
    }
    prev = INFINITY;
    for (double s = 0.6; s < 20; s *= 1.3) { /* epsilon non-increasing in sigma */
        mla_dp_epsilon e;
        assert_int_equal(mla_dp_epsilon_of(0.01, s, 1000, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_OK);
        assert_true(e.epsilon <= prev && e.epsilon <= e.epsilon_classic);
        prev = e.epsilon;
    }
}

static void test_sigma_for_meets_target(void **state) {
    (void)state;
    const double targets[] = {0.5, 1, 3, 8};
    const double tols[] = {0.01, 1e-6};
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 2; k++) {
            double sigma;
            mla_dp_epsilon e;
            assert_int_equal(mla_dp_sigma_for(0.01, targets[t], 5000, 1e-5, MLA_DP_ORDERS_TF, tols[k], &sigma), MLA_OK);
            assert_int_equal(mla_dp_epsilon_of(0.01, sigma, 5000, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_OK);
            assert_true(e.epsilon <= targets[t]);
            assert_true(targets[t] - e.epsilon <= tols[k]);
        }
}

static void test_orders(void **state) {
    (void)state;
    mla_dp_orders o;
    int n;
    const char *names[] = {"tf", "opacus", "int"};
    /* tf: TF Privacy's DEFAULT_RDP_ORDERS, 1.25..2.5 by quarters, 3..4.5 by halves, 5..63, 128..512 */
    const int counts[] = {10 + 59 + 3, 99 + 52, 63};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mla_dp_orders_parse(names[i], &o), MLA_OK);
        assert_string_equal(mla_dp_orders_name(o), names[i]);
        const double *a = mla_dp_order_list(o, &n);
        assert_int_equal(n, counts[i]);
        for (int k = 1; k < n; k++) assert_true(a[k] > a[k - 1]);
        assert_true(a[0] > 1);
    }
    assert_int_equal(mla_dp_orders_parse("moments", &o), MLA_ERR_INVALID);
}

static void test_refusals(void **state) {
    (void)state;
    mla_dp_epsilon e;
    double s;
    assert_true(isnan(mla_dp_rdp_step(-0.1, 1, 2)));
    assert_true(isnan(mla_dp_rdp_step(1.1, 1, 2)));
    assert_true(isnan(mla_dp_rdp_step(0.1, 0, 2)));
    assert_true(isnan(mla_dp_rdp_step(0.1, 1, 1)));
    assert_int_equal(mla_dp_epsilon_of(1.5, 1, 10, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_epsilon_of(-0.5, 1, 10, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_epsilon_of(0.1, 0, 10, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_epsilon_of(0.1, -1, 10, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_epsilon_of(0.1, 1, -1, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_epsilon_of(0.1, 1, 10, 0, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_epsilon_of(0.1, 1, 10, 1, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_epsilon_of(0.1, 1, 10, NAN, MLA_DP_ORDERS_TF, &e), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_sigma_for(0.1, 1, 10, 1e-5, MLA_DP_ORDERS_TF, 0, &s), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_sigma_for(0.1, 1, 10, 1e-5, MLA_DP_ORDERS_TF, -1, &s), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_sigma_for(0.1, 0, 10, 1e-5, MLA_DP_ORDERS_TF, 0.01, &s), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_sigma_for(2, 1, 10, 1e-5, MLA_DP_ORDERS_TF, 0.01, &s), MLA_ERR_INVALID);
    assert_int_equal(mla_dp_sigma_for(1, 1e-4, 1000000, 1e-5, MLA_DP_ORDERS_TF, 0.01, &s), MLA_ERR_INVALID);
    printf("  unreachable: %s\n", mla_last_error());
    /* zero steps spend nothing but the conversion's own term */
    assert_int_equal(mla_dp_epsilon_of(0.1, 1, 0, 1e-5, MLA_DP_ORDERS_TF, &e), MLA_OK);
    assert_true(isfinite(e.epsilon) && e.epsilon >= 0);
}

/* The trainers' plan: q = min(1, batch / n), ceil(n / batch) steps an epoch. */
static void test_plan(void **state) {
    (void)state;
    double q;
    long steps;
    mla_dp_plan(256, 60000, 60, &q, &steps);
    assert_true(q == 256.0 / 60000.0);
    assert_int_equal(steps, 60 * 235); /* 234 full batches and one of 96 an epoch */
    mla_dp_plan(100, 1000, 3, &q, &steps);
    assert_true(q == 0.1);
    assert_int_equal(steps, 30);
    mla_dp_plan(500, 200, 2, &q, &steps); /* a batch above n: every sample every step */
    assert_true(q == 1.0);
    assert_int_equal(steps, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_tf_mnist_tutorial),
        cmocka_unit_test(test_abadi_2016),
        cmocka_unit_test(test_opacus),
        cmocka_unit_test(test_full_batch_is_gaussian),
        cmocka_unit_test(test_integer_and_fractional_agree),
        cmocka_unit_test(test_monotone),
        cmocka_unit_test(test_sigma_for_meets_target),
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
