/* DP-SGD runs in checkpoints (train.h's hook state): an interrupted and resumed run
 * ends with the same bits and the same step count as a straight one; checkpoints
 * with and without hook state are refused by runs of the other kind, and DP state
 * written with other settings is refused naming them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlaudit/dpsgd.h"

enum { N = 40, K = 3, DIM = 16, EPOCHS = 3, BATCH = 8 };

static const char spec[] =
    "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 16}, {\"type\": \"relu\"},"
    " {\"type\": \"dense\", \"units\": \"classes\"}]}";

static mla_dataset *make_data(void) {
    uint8_t px[N * DIM];
    int32_t y[N];
    mla_rng r;
    mla_rng_seed(&r, 9);
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int p = 0; p < DIM; p++) px[i * DIM + p] = (uint8_t)mla_rng_below(&r, 256);
    }
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(N, 1, 4, 4, px, NULL, y, K, &ds), MLA_OK);
    return ds;
}

typedef struct {
    char path[64];
    mla_dataset *ds;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/mla_dpckpt_%ld.safetensors", (long)getpid());
    f->ds = make_data();
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    remove(f->path);
    mla_dataset_free(f->ds);
    free(f);
    return 0;
}

/* Sets the stop flag after the epoch given in user (the checkpoint of that epoch is
 * still written: on_epoch runs first). */
typedef struct {
    volatile sig_atomic_t stop;
    int after;
} stopper;

static mla_status stop_after(void *user, const mla_epoch_stats *es, mla_net *net) {
    (void)net;
    stopper *s = user;
    if (es->epoch + 1 == s->after) s->stop = 1;
    return MLA_OK;
}

/* One run: DP-SGD with sigma (negative: no hook) on a fresh net; checkpoints to
 * path when ckpt, resumes from it when resume, stops after epoch stop_at (0: never).
 * Returns mla_train's status; *params (caller frees) and *steps receive the end. */
static mla_status run(const fixture *f, double sigma, bool ckpt, bool resume, int stop_at, float **params,
                      long *steps) {
    mla_net *net;
    assert_int_equal(mla_net_create(spec, (mla_shape){1, 4, 4}, K, 3, &net), MLA_OK);
    mla_dpsgd_config dc = mla_dpsgd_defaults();
    dc.sigma = sigma, dc.batch = BATCH, dc.seed = 4;
    mla_dpsgd *dp = NULL;
    if (sigma >= 0) assert_int_equal(mla_dpsgd_create(&dc, net, N, &dp), MLA_OK);
    stopper st = {0, stop_at};
    mla_train_config cfg = mla_train_defaults();
    cfg.epochs = EPOCHS, cfg.batch = BATCH, cfg.seed = 4;
    cfg.hook = dp ? mla_dpsgd_hook(dp) : NULL;
    cfg.checkpoint_every = ckpt ? 1 : 0;
    cfg.checkpoint_path = ckpt ? f->path : NULL;
    cfg.resume_path = resume ? f->path : NULL;
    cfg.on_epoch = stop_after, cfg.user = &st, cfg.stop = &st.stop;
    mla_train_stats ts;
    mla_status s = mla_train(net, f->ds, NULL, N, &cfg, &ts);
    size_t np = mla_net_param_count(net);
    if (params) {
        *params = malloc(np * sizeof(float));
        memcpy(*params, mla_net_params(net), np * sizeof(float));
    }
    if (steps) *steps = dp ? mla_dpsgd_state_of(dp)->steps : -1;
    mla_dpsgd_free(dp);
    mla_net_free(net);
    return s;
}

static size_t param_count(void) {
    mla_net *net;
    assert_int_equal(mla_net_create(spec, (mla_shape){1, 4, 4}, K, 3, &net), MLA_OK);
    size_t np = mla_net_param_count(net);
    mla_net_free(net);
    return np;
}

static void test_resume_same_bits(void **state) {
    fixture *f = *state;
    float *straight, *resumed;
    long s_steps, r_steps;
    assert_int_equal(run(f, 1.0, false, false, 0, &straight, &s_steps), MLA_OK);
    assert_int_equal(s_steps, EPOCHS * (N / BATCH));
    assert_int_equal(run(f, 1.0, true, false, 1, NULL, NULL), MLA_ERR_INTERRUPTED);
    assert_int_equal(run(f, 1.0, true, true, 0, &resumed, &r_steps), MLA_OK);
    assert_int_equal(r_steps, s_steps);
    assert_memory_equal(straight, resumed, param_count() * sizeof(float));
    /* with checkpoints all along (none interrupted): the same bits too */
    free(resumed);
    assert_int_equal(run(f, 1.0, true, false, 0, &resumed, NULL), MLA_OK);
    assert_memory_equal(straight, resumed, param_count() * sizeof(float));
    free(straight);
    free(resumed);
}

static void test_refusals(void **state) {
    fixture *f = *state;
    /* a DP checkpoint resumed without the hook */
    assert_int_equal(run(f, 1.0, true, false, 1, NULL, NULL), MLA_ERR_INTERRUPTED);
    assert_int_equal(run(f, -1, false, true, 0, NULL, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "holds training-hook state (dpsgd-1)"));
    /* DP state written with another sigma */
    assert_int_equal(run(f, 2.0, false, true, 0, NULL, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "sigma 1, poisson"));
    assert_non_null(strstr(mla_last_error(), "this run has clip 1, sigma 2"));
    /* a plain checkpoint resumed with the hook */
    assert_int_equal(run(f, -1, true, false, 1, NULL, NULL), MLA_ERR_INTERRUPTED);
    assert_int_equal(run(f, 1.0, false, true, 0, NULL, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "keeps state (dpsgd-1) but the checkpoint holds none"));
    /* ... and the plain one still resumes without it */
    assert_int_equal(run(f, -1, false, true, 0, NULL, NULL), MLA_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resume_same_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
