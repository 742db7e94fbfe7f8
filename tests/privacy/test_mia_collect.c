/* Tests of mia.h section 3, the protocols: the layouts split4, shadows, lira (online
 * and offline) and own-target lay out, what each model trains on, the collected
 * outputs, and that shadows trained side by side (--parallel) give the bits of
 * shadows trained one after another on one thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/mia.h"

static const char spec[] = "{\"name\":\"tiny\",\"layers\":[{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":8},"
                           "{\"type\":\"relu\"},{\"type\":\"dense\",\"units\":\"classes\"}]}";

/* n images of 1 x 4 x 4 whose brightest quarter tells the class (3 classes). */
static mla_dataset *tiny_data(int n, uint64_t seed) {
    uint8_t *px = malloc((size_t)n * 16);
    int32_t *y = malloc((size_t)n * sizeof *y);
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)mla_rng_below(&r, 3);
        for (int j = 0; j < 16; j++) px[i * 16 + j] = (uint8_t)(mla_rng_below(&r, 100) + (j / 4 == y[i] ? 120 : 0));
    }
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(n, 1, 4, 4, px, NULL, y, 3, &ds), MLA_OK);
    free(px), free(y);
    return ds;
}

static mla_mia_audit_config tiny_config(mla_mia_protocol p, int k) {
    mla_mia_audit_config c = mla_mia_audit_defaults();
    c.protocol = p;
    c.target.spec_json = spec;
    c.train.epochs = 2;
    c.train.batch = 32;
    c.shadows = k;
    c.seed = 9;
    return c;
}

static int count_if(const int8_t *t, int m, int v) {
    int n = 0;
    for (int i = 0; i < m; i++) n += t[i] == v;
    return n;
}

static void check_probs(const mla_mia_arrays *a) {
    for (int64_t r = 0; r < (int64_t)(a->k + 1) * a->m; r++) {
        const float *row = r < a->m ? a->target_probs + r * a->classes : a->shadow_probs + (r - a->m) * a->classes;
        double sum = 0;
        for (int j = 0; j < a->classes; j++) sum += row[j];
        assert_true(fabs(sum - 1) < 1e-5);
    }
}

static void test_split4_layout(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 1);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 3);
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    assert_int_equal(a->m, 400);
    assert_int_equal(count_if(a->truth, a->m, 1), 100);
    assert_int_equal(count_if(a->truth, a->m, 0), 100);
    assert_int_equal(col->target_train_size, 100);
    assert_int_equal(a->n_population, 200);
    /* Every sample appears once; each shadow trains on half of D' and fits on D' only. */
    uint8_t seen[400] = {0};
    for (int i = 0; i < a->m; i++) assert_int_equal(seen[a->sample_index[i]]++, 0);
    for (int s = 0; s < a->k; s++) {
        int in_count = 0;
        for (int i = 0; i < a->m; i++) {
            uint8_t inside = a->shadow_in[s * a->m + i], fit = a->fit[s * a->m + i];
            assert_int_equal(fit, a->truth[i] < 0);
            if (inside) assert_true(a->truth[i] < 0);
            in_count += inside;
        }
        assert_int_equal(in_count, 100);
    }
    for (int z = 0; z < a->n_population; z++) assert_int_equal(a->truth[a->population[z]], -1);
    check_probs(a);
    mla_mia_collected_free(col);
    mla_dataset_free(ds);
}

static void test_shadows_protocol_samples_own_datasets(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 2);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SHADOWS, 2);
    cfg.shadow_fraction = 0.4; /* 80 of D' = 200 each, 40 seen and 40 unseen */
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    for (int s = 0; s < a->k; s++) {
        int fit = 0, inside = 0;
        for (int i = 0; i < a->m; i++) fit += a->fit[s * a->m + i], inside += a->shadow_in[s * a->m + i];
        assert_int_equal(fit, 80);
        assert_int_equal(inside, 40);
    }
    mla_mia_collected_free(col);
    mla_dataset_free(ds);
}

static void test_lira_online_balanced(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(300, 3);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_LIRA, 4);
    cfg.pool = 101; /* rounded down to 100 */
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    assert_int_equal(a->m, 150); /* 100 candidates + a population of 50 */
    assert_int_equal(count_if(a->truth, a->m, 1), 50);
    assert_int_equal(count_if(a->truth, a->m, 0), 50);
    for (int i = 0; i < a->m; i++) {
        int n_in = 0;
        for (int s = 0; s < a->k; s++) n_in += a->shadow_in[s * a->m + i];
        assert_int_equal(n_in, a->truth[i] < 0 ? 0 : 2);
    }
    mla_mia_collected_free(col);
    /* Offline: the shadows never see a candidate. */
    cfg.offline = true;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    a = &col->arrays;
    for (int i = 0; i < a->m; i++)
        for (int s = 0; s < a->k; s++)
            if (a->truth[i] >= 0) assert_int_equal(a->shadow_in[s * a->m + i], 0);
    mla_mia_collected_free(col);
    mla_dataset_free(ds);
}

static void test_parallel_matches_one_thread(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 4);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 3);
    int threads = mla_get_threads();
    mla_set_threads(1);
    mla_mia_collected *one, *par;
    assert_int_equal(mla_mia_collect(&in, &cfg, &one), MLA_OK);
    mla_set_threads(2);
    cfg.parallel = 2;
    assert_int_equal(mla_mia_collect(&in, &cfg, &par), MLA_OK);
    mla_set_threads(threads);
    size_t n = (size_t)one->arrays.k * one->arrays.m;
    assert_memory_equal(one->arrays.shadow_probs, par->arrays.shadow_probs, n * 3 * sizeof(float));
    assert_memory_equal(one->arrays.shadow_phi, par->arrays.shadow_phi, n * sizeof(double));
    mla_mia_collected_free(one);
    mla_mia_collected_free(par);
    mla_dataset_free(ds);
}

static void test_own_target_balanced_and_checked(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(300, 5);
    mla_net *net;
    mla_shape shape = {1, 4, 4};
    assert_int_equal(mla_net_create(spec, shape, 3, 1, &net), MLA_OK);
    int32_t members[40], nonmembers[30];
    for (int i = 0; i < 40; i++) members[i] = i;
    for (int i = 0; i < 30; i++) nonmembers[i] = 100 + i;
    mla_mia_inputs in = {.data = ds, .target = net, .members = members, .n_members = 40, .nonmembers = nonmembers,
                         .n_nonmembers = 30};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_OWN_TARGET, 2);
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    assert_int_equal(count_if(a->truth, a->m, 1), 30);
    assert_int_equal(count_if(a->truth, a->m, 0), 30);
    assert_int_equal(a->m, 60 + 300 - 70); /* the shadow pool: every sample not named */
    mla_mia_collected_free(col);
    nonmembers[3] = 5; /* also a member */
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "also in another list"));
    nonmembers[3] = 300; /* out of range */
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "outside"));
    mla_net_free(net);
    mla_dataset_free(ds);
}

static void test_bad_configs_refused(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(100, 6);
    mla_mia_inputs in = {.data = ds};
    mla_mia_collected *col;
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 0);
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "--shadows"));
    cfg = tiny_config(MLA_MIA_SPLIT4, 2);
    cfg.pool = 1000;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "--pool"));
    mla_dataset_free(ds);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split4_layout),
        cmocka_unit_test(test_shadows_protocol_samples_own_datasets),
        cmocka_unit_test(test_lira_online_balanced),
        cmocka_unit_test(test_parallel_matches_one_thread),
        cmocka_unit_test(test_own_target_balanced_and_checked),
        cmocka_unit_test(test_bad_configs_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
