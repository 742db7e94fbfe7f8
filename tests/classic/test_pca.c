/* Tests of pca.h: known eigenvalues, component choice, transform round trips, the
 * sign rule and the stream format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/pca.h"

/* A rotation of R^3 (orthonormal rows). */
static const double ROT[3][3] = {{0.36, 0.48, -0.8}, {-0.8, 0.6, 0.0}, {0.48, 0.64, 0.6}};

/* Rows +-3 e1, +-2 e2, +-1 e3, rotated and shifted by (1, 2, 3): covariance (divisor
 * n - 1 = 5) has eigenvalues 3.6, 1.6, 0.4 with eigenvectors the rotated axes. */
static void known_data(float x[6][3]) {
    const double axes[6][3] = {{3, 0, 0}, {-3, 0, 0}, {0, 2, 0}, {0, -2, 0}, {0, 0, 1}, {0, 0, -1}};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) {
            double v = j + 1.0;
            for (int k = 0; k < 3; k++) v += axes[i][k] * ROT[k][j];
            x[i][j] = (float)v;
        }
}

static void test_known_eigenvalues_and_vectors(void **state) {
    (void)state;
    float x[6][3];
    known_data(x);
    mla_pca *p = NULL;
    assert_int_equal(mla_pca_fit(&x[0][0], 6, 3, &p), MLA_OK);
    const double *var = mla_pca_explained_variance(p), *ratio = mla_pca_explained_variance_ratio(p);
    assert_true(fabs(var[0] - 3.6) < 1e-5 && fabs(var[1] - 1.6) < 1e-5 && fabs(var[2] - 0.4) < 1e-5);
    assert_true(fabs(ratio[0] - 3.6 / 5.6) < 1e-6);
    for (int j = 0; j < 3; j++) assert_true(fabs(mla_pca_mean(p)[j] - (j + 1)) < 1e-6);
    const float *basis = mla_pca_basis(p);
    for (int c = 0; c < 3; c++) {
        /* +- the rotated axis c; the sign makes the largest entry positive */
        double sign = 0, big = 0;
        for (int j = 0; j < 3; j++)
            if (fabs(ROT[c][j]) > big) big = fabs(ROT[c][j]), sign = ROT[c][j] > 0 ? 1 : -1;
        for (int j = 0; j < 3; j++) assert_true(fabs(basis[c * 3 + j] - sign * ROT[c][j]) < 1e-5);
    }
    assert_int_equal(mla_pca_components_for_variance(p, 0.6), 1);  /* 0.643 > 0.6 */
    assert_int_equal(mla_pca_components_for_variance(p, 0.9), 2);  /* 0.929 */
    assert_int_equal(mla_pca_components_for_variance(p, 0.95), 3);
    mla_pca_free(p);
}

static void test_transform_and_reconstruct(void **state) {
    (void)state;
    float x[6][3], z[6 * 3], back[6 * 3];
    known_data(x);
    mla_pca *p = NULL;
    assert_int_equal(mla_pca_fit(&x[0][0], 6, 3, &p), MLA_OK);
    assert_int_equal(mla_pca_transform(p, &x[0][0], 6, z), MLA_OK);
    assert_true(fabs(fabs(z[0]) - 3) < 1e-5 && fabs(z[1]) < 1e-5); /* row 0 is +-3 along PC1 */
    assert_int_equal(mla_pca_inverse_transform(p, z, 6, back), MLA_OK);
    for (int i = 0; i < 18; i++) assert_true(fabs(back[i] - (&x[0][0])[i]) < 1e-5);
    /* one component: rows 2..5 collapse onto the mean */
    assert_int_equal(mla_pca_keep(p, 1), MLA_OK);
    assert_int_equal(mla_pca_components(p), 1);
    assert_int_equal(mla_pca_transform(p, &x[0][0], 6, z), MLA_OK);
    assert_int_equal(mla_pca_inverse_transform(p, z, 6, back), MLA_OK);
    for (int j = 0; j < 3; j++) assert_true(fabs(back[2 * 3 + j] - (j + 1)) < 1e-5);
    assert_int_equal(mla_pca_keep(p, 4), MLA_ERR_INVALID);
    assert_int_equal(mla_pca_keep_variance(p, 1.0), MLA_ERR_INVALID);
    mla_pca_free(p);
}

static void test_stream_round_trip_and_corruption(void **state) {
    (void)state;
    enum { N = 50, D = 6 };
    float x[N * D], z1[N * 2], z2[N * 2];
    mla_rng r;
    mla_rng_seed(&r, 3);
    for (int i = 0; i < N * D; i++) x[i] = (float)(mla_rng_normal(&r) * (1 + i % D));
    mla_pca *p = NULL, *q = NULL;
    assert_int_equal(mla_pca_fit(x, N, D, &p), MLA_OK);
    assert_int_equal(mla_pca_keep(p, 2), MLA_OK);
    FILE *fp = tmpfile();
    assert_non_null(fp);
    assert_int_equal(mla_pca_write(p, fp), MLA_OK);
    long size = ftell(fp);
    rewind(fp);
    assert_int_equal(mla_pca_read(fp, &q), MLA_OK);
    assert_int_equal(mla_pca_components(q), 2);
    assert_int_equal(mla_pca_transform(p, x, N, z1), MLA_OK);
    assert_int_equal(mla_pca_transform(q, x, N, z2), MLA_OK);
    assert_memory_equal(z1, z2, sizeof z1);
    assert_int_equal(mla_pca_keep(q, 3), MLA_ERR_INVALID); /* only the saved components exist */
    mla_pca_free(q);
    /* truncated: every shorter prefix fails cleanly */
    char *bytes = malloc((size_t)size);
    rewind(fp);
    assert_int_equal(fread(bytes, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    for (long cut = 0; cut < size; cut += 7) {
        FILE *t = tmpfile();
        fwrite(bytes, 1, (size_t)cut, t);
        rewind(t);
        q = NULL;
        assert_int_not_equal(mla_pca_read(t, &q), MLA_OK);
        assert_null(q);
        fclose(t);
    }
    free(bytes);
    mla_pca_free(p);
}

static void test_bad_input(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, NAN};
    mla_pca *p = NULL;
    assert_int_equal(mla_pca_fit(x, 1, 4, &p), MLA_ERR_SHAPE);
    assert_int_equal(mla_pca_fit(x, 2, 2, &p), MLA_ERR_INVALID);
    assert_null(p);
}

int main(void) {
    mla_set_threads(1); /* OpenMP barriers spin on a busy machine; one thread keeps the suite quick */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_eigenvalues_and_vectors),
        cmocka_unit_test(test_transform_and_reconstruct),
        cmocka_unit_test(test_stream_round_trip_and_corruption),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
