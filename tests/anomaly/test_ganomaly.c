/* GANomaly (src/anomaly/ganomaly.c): finite-difference check of the generator's
 * gradient through the encoder-decoder-encoder chain and the frozen discriminator's
 * features, the score against a direct computation, a fit on a toy dataset whose
 * anomalies score higher, determinism and divergence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "anomaly/gan_test_util.h"
#include "anomaly/ganomaly_impl.h"
#include "common/tmpdir.h"
#include "common/toy_data.h"

static double model_loss(ganomaly_model *m, const float *x, int n) {
    ganomaly_losses l;
    assert_int_equal(ganomaly_grads(m, x, n, false, &l), MLA_OK);
    return m->w_adv * l.adv + m->w_con * l.con + m->w_enc * l.enc;
}

/* The model's loss on x for gan_fd_check. */
typedef struct {
    ganomaly_model *m;
    const float *x;
    int n;
} fd_ctx;
static double fd_loss(void *ctx) {
    fd_ctx *f = ctx;
    return model_loss(f->m, f->x, f->n);
}

/* Finite differences for `count` seeded parameters of net (G_E, G_D or E). */
static void check_net(ganomaly_model *m, mla_net *net, const float *analytic, const float *x, int n, int count,
                      const char *name) {
    fd_ctx f = {m, x, n};
    int bad = gan_fd_check(mla_net_params(net), mla_net_trainable_count(net), analytic, count, 5, fd_loss, &f, name);
    if (bad) fail_msg("%s: %d of %d gradient entries disagree", name, bad, count);
}

static void test_generator_gradients(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.latent = 5;
    ganomaly_model *m;
    assert_int_equal(ganomaly_model_create(&cfg, 1, 8, 4, &m), MLA_OK);
    /* The L1 term's kink sits at x' = x: inputs away from the tanh's reach keep the
     * reconstruction off it. */
    enum { N = 3 };
    float x[N * 64];
    mla_rng r;
    mla_rng_seed(&r, 2);
    for (int i = 0; i < N * 64; i++) x[i] = (float)(2 * mla_rng_uniform(&r) - 1);
    model_loss(m, x, N);
    mla_net *nets[3] = {m->ge, m->gd, m->e};
    const char *names[3] = {"G_E", "G_D", "E"};
    float *g[3];
    for (int k = 0; k < 3; k++) {
        size_t np = mla_net_trainable_count(nets[k]);
        g[k] = malloc(np * sizeof(float));
        memcpy(g[k], mla_net_grads(nets[k]), np * sizeof(float));
    }
    for (int k = 0; k < 3; k++) check_net(m, nets[k], g[k], x, N, 50, names[k]);
    for (int k = 0; k < 3; k++) free(g[k]);
    ganomaly_model_free(m);
}

static void test_scores_direct(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.latent = 6;
    ganomaly_model *m;
    assert_int_equal(ganomaly_model_create(&cfg, 1, 8, 4, &m), MLA_OK);
    enum { N = 4 };
    float x[N * 64];
    mla_rng r;
    mla_rng_seed(&r, 6);
    for (int i = 0; i < N * 64; i++) x[i] = (float)(2 * mla_rng_uniform(&r) - 1);
    double lat[N], rec[N];
    assert_int_equal(ganomaly_scores(m, x, N, lat, rec), MLA_OK);
    /* Directly, one image at a time through the three nets. */
    for (int i = 0; i < N; i++) {
        const float *o;
        float z[6], xr[64];
        assert_int_equal(mla_net_forward(m->ge, x + i * 64, 1, false, &o), MLA_OK);
        memcpy(z, o, sizeof z);
        assert_int_equal(mla_net_forward(m->gd, z, 1, false, &o), MLA_OK);
        memcpy(xr, o, sizeof xr);
        assert_int_equal(mla_net_forward(m->e, xr, 1, false, &o), MLA_OK);
        double a = 0, b = 0;
        for (int j = 0; j < 6; j++) a += fabs((double)o[j] - z[j]);
        for (int j = 0; j < 64; j++) b += fabs((double)xr[j] - x[i * 64 + j]);
        assert_true(fabs(lat[i] - a) <= 1e-5 * (1 + a));
        assert_true(fabs(rec[i] - b / 64) <= 1e-6);
    }
    ganomaly_model_free(m);
}

static mla_dataset *toy;

static int group_setup(void **st) {
    (void)st;
    toy = toy_bars(600);
    return toy ? test_tmpdir_create("ganomaly") : -1;
}

static int group_teardown(void **st) {
    (void)st;
    mla_dataset_free(toy);
    return test_tmpdir_remove();
}

static double fit_and_score(const mla_anomaly_config *cfg, double *scores) {
    const mla_anomaly_method *m = &mla_anomaly_ganomaly;
    gan_split sp = gan_test_split(toy, 2);
    void *state = NULL;
    if (m->fit(cfg, toy, sp.train, sp.n_train, sp.val, sp.n_val, &state)) fail_msg("fit: %s", mla_last_error());
    double *terms = malloc((size_t)sp.n_test * 2 * sizeof(double));
    assert_int_equal(m->score(state, toy, sp.test, sp.n_test, scores, terms), MLA_OK);
    for (int i = 0; i < sp.n_test; i++) assert_true(scores[i] == terms[2 * i]);
    double auc = gan_test_auroc(toy, sp.test, sp.n_test, scores, 2);
    assert_int_equal(m->figures(state, toy, sp.test, sp.n_test, test_tmpdir), MLA_OK);
    m->free(state);
    free(terms);
    gan_split_free(&sp);
    return auc;
}

static void test_fit_scores_anomalies_higher(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.latent = 8, cfg.epochs = 15; /* 10: 0.929, 15: 0.993, 20: 0.996 (measured) */
    double scores[300];
    double auc = fit_and_score(&cfg, scores);
    print_message("toy bars AUROC (latent distance): %.4f\n", auc);
    assert_true(auc > 0.9);
    struct stat sb;
    assert_int_equal(stat(test_tmp_path("ganomaly_reconstructions.png"), &sb), 0);
}

static void test_same_seed_same_bits(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.latent = 8, cfg.epochs = 2;
    double a[300], b[300];
    fit_and_score(&cfg, a);
    fit_and_score(&cfg, b);
    assert_memory_equal(a, b, sizeof a);
}

static void test_divergence_and_bad_input(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.lr = 1e30f, cfg.epochs = 3;
    int32_t idx[64];
    for (int i = 0; i < 64; i++) idx[i] = i;
    void *state = NULL;
    assert_int_not_equal(mla_anomaly_ganomaly.fit(&cfg, toy, idx, 64, NULL, 0, &state), MLA_OK);
    assert_null(state);
    assert_non_null(strstr(mla_last_error(), "diverged"));
    cfg = gan_test_config(), cfg.latent = -3;
    assert_int_not_equal(mla_anomaly_ganomaly.fit(&cfg, toy, idx, 64, NULL, 0, &state), MLA_OK);
    assert_non_null(strstr(mla_last_error(), "latent"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_gradients),
        cmocka_unit_test(test_scores_direct),
        cmocka_unit_test(test_fit_scores_anomalies_higher),
        cmocka_unit_test(test_same_seed_same_bits),
        cmocka_unit_test(test_divergence_and_bad_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
