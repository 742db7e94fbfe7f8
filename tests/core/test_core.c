/* Tests of the core module: errors, the random generator, atomic files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlaudit/core.h"

static void test_error_message_kept_and_prefixed(void **state) {
    (void)state;
    assert_int_equal(mla_error(MLA_ERR_FORMAT, "%s: truncated at %d", "f.idx", 16), MLA_ERR_FORMAT);
    assert_string_equal(mla_last_error(), "f.idx: truncated at 16");
    mla_error_prefix(MLA_ERR_FORMAT, "loading %s", "mnist");
    assert_string_equal(mla_last_error(), "loading mnist: f.idx: truncated at 16");
    assert_string_equal(mla_status_string(MLA_ERR_NOMEM), "out of memory");
}

static void test_rng_reproducible_and_forks_differ(void **state) {
    (void)state;
    mla_rng a, b;
    mla_rng_seed(&a, 42);
    mla_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_true(mla_rng_u64(&a) == mla_rng_u64(&b));
    mla_rng f1 = mla_rng_fork(&a, 1), f2 = mla_rng_fork(&a, 2);
    assert_true(mla_rng_u64(&f1) != mla_rng_u64(&f2));
}

static void test_rng_distributions(void **state) {
    (void)state;
    mla_rng r;
    mla_rng_seed(&r, 7);
    double sum = 0, sq = 0, bsum = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = mla_rng_normal(&r);
        sum += x;
        sq += x * x;
        double u = mla_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        bsum += mla_rng_beta(&r, 0.4, 0.4);
    }
    assert_true(fabs(sum / n) < 0.01);
    assert_true(fabs(sq / n - 1) < 0.02);
    assert_true(fabs(bsum / n - 0.5) < 0.01);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[mla_rng_below(&r, 7)]++;
    for (int i = 0; i < 7; i++) assert_true(abs(counts[i] - 10000) < 500);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The Ziggurat's normals (mla_rng_normals), 1e6 of them in the DP noise's blocks of
 * 512: moments, the Kolmogorov-Smirnov distance to Phi (the 0.1% critical value is
 * 1.95 / sqrt(n)), and the tails beyond the bottom box's edge R = 3.4426 (drawn by
 * the tail method) and beyond 4.5 at their expected rates (5 standard deviations of a
 * binomial count). Same seed, same bits. */
static void test_rng_normals_ziggurat(void **state) {
    (void)state;
    enum { N = 1000000, BLOCK = 512 };
    double *z = malloc(N * sizeof(double)), *again = malloc(BLOCK * sizeof(double));
    mla_rng r, r2;
    mla_rng_seed(&r, 2024);
    r2 = r;
    for (int i = 0; i < N; i += BLOCK) mla_rng_normals(&r, z + i, N - i < BLOCK ? N - i : BLOCK);
    mla_rng_normals(&r2, again, BLOCK);
    assert_memory_equal(z, again, BLOCK * sizeof(double));
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    long beyond_r = 0, beyond_45 = 0;
    for (int i = 0; i < N; i++) {
        double x = z[i];
        assert_true(isfinite(x));
        m1 += x, m2 += x * x, m3 += x * x * x, m4 += x * x * x * x;
        beyond_r += fabs(x) > 3.442619855899;
        beyond_45 += fabs(x) > 4.5;
    }
    m1 /= N, m2 /= N, m3 /= N, m4 /= N;
    /* standard errors: 1e-3, 1.4e-3, 2.4e-3, 9.8e-3 */
    assert_true(fabs(m1) < 5e-3);
    assert_true(fabs(m2 - 1) < 7e-3);
    assert_true(fabs(m3) < 1.2e-2);
    assert_true(fabs(m4 - 3) < 5e-2);
    double p_r = erfc(3.442619855899 / sqrt(2.0)), p_45 = erfc(4.5 / sqrt(2.0));
    assert_true(fabs(beyond_r - N * p_r) < 5 * sqrt(N * p_r));
    assert_true(fabs(beyond_45 - N * p_45) < 5 * sqrt(N * p_45) + 1);
    qsort(z, N, sizeof(double), cmp_double);
    double d = 0;
    for (int i = 0; i < N; i++) {
        double phi = 0.5 * erfc(-z[i] / sqrt(2.0));
        d = fmax(d, fmax(fabs(phi - (double)i / N), fabs((double)(i + 1) / N - phi)));
    }
    if (!(d < 1.95 / sqrt((double)N))) fail_msg("Kolmogorov-Smirnov distance %g", d);
    free(z);
    free(again);
}

static void test_permutation_is_a_permutation(void **state) {
    (void)state;
    mla_rng r;
    mla_rng_seed(&r, 3);
    int32_t p[1000];
    char seen[1000] = {0};
    mla_rng_permutation(&r, p, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_true(p[i] >= 0 && p[i] < 1000);
        assert_false(seen[p[i]]);
        seen[p[i]] = 1;
    }
}

static void test_atomic_write_and_abort(void **state) {
    (void)state;
    char dir[] = "/tmp/mla_core_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    assert_int_equal(mla_write_file_atomic(path, "hello", 5), MLA_OK);
    char *buf;
    size_t n;
    assert_int_equal(mla_read_file(path, 100, &buf, &n), MLA_OK);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    /* An aborted write leaves the old file untouched and no temporary behind. */
    mla_atomic_file *f;
    assert_int_equal(mla_atomic_open(path, &f), MLA_OK);
    fputs("partial", mla_atomic_stream(f));
    mla_atomic_abort(f);
    assert_int_equal(mla_read_file(path, 100, &buf, &n), MLA_OK);
    assert_string_equal(buf, "hello");
    free(buf);
    assert_int_equal(mla_read_file(path, 2, &buf, &n), MLA_ERR_FORMAT);
    assert_non_null(strstr(mla_last_error(), "too large"));
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(mla_read_file("/nonexistent/x", 100, &buf, &n), MLA_ERR_IO);
    assert_non_null(strstr(mla_last_error(), "/nonexistent/x"));
}

static void test_alloc_overflow_is_refused(void **state) {
    (void)state;
    assert_null(mla_alloc(SIZE_MAX / 2, 4));
    assert_non_null(strstr(mla_last_error(), "overflows"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message_kept_and_prefixed),
        cmocka_unit_test(test_rng_reproducible_and_forks_differ),
        cmocka_unit_test(test_rng_distributions),
        cmocka_unit_test(test_rng_normals_ziggurat),
        cmocka_unit_test(test_permutation_is_a_permutation),
        cmocka_unit_test(test_atomic_write_and_abort),
        cmocka_unit_test(test_alloc_overflow_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
