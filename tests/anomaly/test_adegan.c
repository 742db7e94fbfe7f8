/* ADe-GAN (src/anomaly/adegan*.c): finite-difference checks of the chained gradients
 * of both stages (G -> D, G -> E, E -> G through the softmax), the score of eq. 9-11
 * and the normal fit against direct re-implementations, a fit on a toy dataset whose
 * anomalies score higher, determinism, divergence and bad settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "anomaly/gan_impl.h"
#include "anomaly/gan_test_util.h"
#include "common/tmpdir.h"
#include "common/toy_data.h"

/* ---- gradients ---- */

typedef struct {
    adegan_model *m;
    float *x;
    int n;
    adegan_draws dr;
    int stage;
} grad_case;

/* The loss whose gradient each net receives (gan_impl.h): G's excludes L_ip, and
 * L_recon too unless recon_g (L_recon then trains E only). */
static double case_loss(grad_case *c, char net) {
    adegan_losses l;
    mla_status s = c->stage == 2 ? adegan_stage2_grads(c->m, c->x, c->n, &c->dr, false, &l)
                                 : adegan_stage1_grads(c->m, c->x, c->n, &c->dr, false, &l);
    assert_int_equal(s, MLA_OK);
    const adegan_params *p = &c->m->p;
    if (c->stage == 1) return (net == 'G' ? l.adv_g : 0) + p->info * l.sl; /* E's: info L_sl */
    double e = p->gamma * l.recon + p->beta * l.sl + p->alpha * l.ip;
    double g = (p->recon_g ? p->gamma * l.recon : 0) + p->beta * l.sl + p->adv_weight * l.adv_g;
    return net == 'G' ? g : e;
}

/* which's loss for gan_fd_check. */
typedef struct {
    grad_case *c;
    char which;
} fd_ctx;
static double fd_loss(void *ctx) {
    fd_ctx *f = ctx;
    return case_loss(f->c, f->which);
}

/* Finite differences for `count` seeded parameters of net `which` (gan_fd_check). */
static void check_net(grad_case *c, char which, const float *analytic, int count) {
    mla_net *net = adegan_model_net(c->m, which);
    fd_ctx f = {c, which};
    char name[2] = {which, 0};
    int bad = gan_fd_check(mla_net_params(net), mla_net_trainable_count(net), analytic, count, 3, fd_loss, &f, name);
    if (bad) fail_msg("%c: %d of %d gradient entries disagree", which, bad, count);
}

static adegan_params tiny_params(void) {
    mla_anomaly_config cfg = gan_test_config();
    adegan_params p;
    assert_int_equal(adegan_params_from(&cfg, &p), MLA_OK);
    p.patterns = 3, p.noise_dim = 4, p.width = 4;
    p.alpha = 0.7f, p.beta = 1.3f, p.gamma = 2.0f;
    return p;
}

static void run_grad_case(int stage, bool recon_g, bool hard_code, float info, float code_scale) {
    adegan_params p = tiny_params();
    p.recon_g = recon_g, p.hard_code = hard_code, p.info = info, p.code_scale = code_scale;
    grad_case c = {0};
    c.stage = stage, c.n = 3;
    assert_int_equal(adegan_model_create(&p, 1, 8, &c.m), MLA_OK);
    c.x = malloc((size_t)c.n * 64 * sizeof(float));
    mla_rng r;
    mla_rng_seed(&r, 9);
    for (int i = 0; i < c.n * 64; i++) c.x[i] = (float)(2 * mla_rng_uniform(&r) - 1);
    assert_int_equal(adegan_draws_alloc(&p, 4, 3, &c.dr), MLA_OK);
    adegan_draws_sample(&p, &r, &c.dr);
    case_loss(&c, 'G');
    mla_net *G = adegan_model_net(c.m, 'G'), *E = adegan_model_net(c.m, 'E');
    size_t ng = mla_net_trainable_count(G), ne = mla_net_trainable_count(E);
    float *gg = malloc(ng * sizeof(float)), *ge = malloc(ne * sizeof(float));
    memcpy(gg, mla_net_grads(G), ng * sizeof(float));
    memcpy(ge, mla_net_grads(E), ne * sizeof(float));
    check_net(&c, 'G', gg, 60);
    if (stage == 2 || info > 0) check_net(&c, 'E', ge, 60);
    else
        for (size_t i = 0; i < ne; i++) assert_true(ge[i] == 0.0f);
    free(gg), free(ge), free(c.x);
    adegan_draws_free(&c.dr);
    adegan_model_free(c.m);
}

static void test_stage1_gradients(void **st) {
    (void)st;
    run_grad_case(1, false, false, 0, 1);    /* the adversarial game alone: E gets nothing */
    run_grad_case(1, false, false, 0.7f, 1); /* --info-weight: L_sl on G and E from the first step */
    run_grad_case(1, false, false, 0.7f, 2.5f); /* and --code-scale */
}

static void test_stage2_gradients(void **st) {
    (void)st;
    run_grad_case(2, true, false, 0, 1);  /* L_recon trains G and E, through the softmax */
    run_grad_case(2, true, false, 0, 2.5f); /* --code-scale: through scale x softmax */
    run_grad_case(2, false, false, 0, 1); /* --recon-trains e */
    run_grad_case(2, true, true, 0, 1);   /* --recon-code hard: G gets the arg-max one-hot */
    run_grad_case(2, false, true, 0, 2.5f);
}

/* G's input from E's outputs: softmax or the arg-max's one-hot (ties: the first), then z_n. */
static void test_codes_from_extractor(void **st) {
    (void)st;
    const float e[2 * 5] = {0.5f, 2.0f, -1.0f, 7.0f, -3.0f, 1.0f, 1.0f, 0.0f, 0.25f, 0.5f};
    float soft[10], hard[10], soft3[10], hard3[10];
    adegan_codes_from_extractor(e, 2, 3, 5, false, 1, soft);
    adegan_codes_from_extractor(e, 2, 3, 5, true, 1, hard);
    adegan_codes_from_extractor(e, 2, 3, 5, false, 3, soft3); /* --code-scale 3: the pattern part x 3 */
    adegan_codes_from_extractor(e, 2, 3, 5, true, 3, hard3);
    for (int i = 0; i < 10; i++) {
        bool pattern = i % 5 < 3;
        assert_true(fabs(soft3[i] - (pattern ? 3 : 1) * soft[i]) < 1e-6);
        assert_true(hard3[i] == (pattern ? 3 : 1) * hard[i]);
    }
    for (int i = 0; i < 2; i++) {
        const float *r = e + 5 * i;
        double sum = exp(r[0]) + exp(r[1]) + exp(r[2]);
        for (int k = 0; k < 3; k++) assert_true(fabs(soft[5 * i + k] - exp(r[k]) / sum) < 1e-6);
        for (int k = 3; k < 5; k++) assert_true(soft[5 * i + k] == r[k] && hard[5 * i + k] == r[k]);
    }
    const float want[6] = {0, 1, 0, 1, 0, 0}; /* row 0: arg-max 1; row 1: tie of 0 and 1, the first */
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) assert_true(hard[5 * i + k] == want[3 * i + k]);
}

/* The draws' pattern parts: code_scale x the one-hot of c_sl; across-pattern codes
 * two entries l s, (1 - l) s with l in [0.25, 0.75]. */
static void test_draws_code_scale(void **st) {
    (void)st;
    adegan_params p = tiny_params();
    p.code_scale = 2.5f;
    adegan_draws d;
    assert_int_equal(adegan_draws_alloc(&p, 6, 6, &d), MLA_OK);
    mla_rng r;
    mla_rng_seed(&r, 4);
    adegan_draws_sample(&p, &r, &d);
    int zdim = p.patterns + p.noise_dim;
    for (int i = 0; i < 6; i++) {
        const float *z = d.z_sl + (size_t)i * zdim, *y = d.z_ip + (size_t)i * zdim;
        double sum = 0, lo = 1e9;
        int nonzero = 0;
        for (int k = 0; k < p.patterns; k++) {
            assert_true(z[k] == (k == d.c_sl[i] ? 2.5f : 0.0f));
            if (y[k] != 0) nonzero++, sum += y[k], lo = fmin(lo, y[k]);
        }
        assert_int_equal(nonzero, 2);
        assert_true(fabs(sum - 2.5) < 1e-5 && lo >= 0.25 * 2.5 - 1e-5);
    }
    adegan_draws_free(&d);
}

/* ---- the score ---- */

static void test_normal_fit(void **st) {
    (void)st;
    double e[] = {1, 2, 3, 4, 10}, mu, sd;
    adegan_normal_fit(e, 5, &mu, &sd);
    assert_true(fabs(mu - 4.0) < 1e-15);
    assert_true(fabs(sd - sqrt(50.0 / 4.0)) < 1e-14); /* deviations -3 -2 -1 0 6: 50 / (n - 1) */
    double flat[] = {0.5, 0.5, 0.5};
    adegan_normal_fit(flat, 3, &mu, &sd);
    assert_true(mu == 0.5 && sd == 1e-12);
}

static void test_score_terms(void **st) {
    (void)st;
    /* Errors around mu = 0.2, sd = 0.05 (z from -4 to 30) and logits of 4 patterns,
     * rows 5 floats apart (as E's outputs hold noise after the logits). */
    double err[] = {0.0, 0.15, 0.2, 0.3, 0.45, 1.2, 1.7};
    float logits[7 * 5];
    mla_rng r;
    mla_rng_seed(&r, 4);
    for (int i = 0; i < 35; i++) logits[i] = (float)(3 * mla_rng_normal(&r));
    double rec[7], pat[7], mu = 0.2, sd = 0.05;
    adegan_score_terms(err, logits, 7, 4, 5, mu, sd, rec, pat);
    for (int i = 0; i < 7; i++) {
        long double z = ((long double)err[i] - mu) / sd;
        long double want = -logl(0.5L * erfcl(z / sqrtl(2.0L)));
        if (fabsl(rec[i] - want) > 1e-9L * (1 + fabsl(want)))
            fail_msg("recon term %d: %.15g, want %.15Lg", i, rec[i], want);
        double sum = 0, mx = 0;
        for (int k = 0; k < 4; k++) sum += exp(logits[i * 5 + k]);
        for (int k = 0; k < 4; k++) mx = fmax(mx, exp(logits[i * 5 + k]) / sum);
        assert_true(fabs(pat[i] - (-log(mx))) < 1e-12);
        assert_true(rec[i] >= 0 && pat[i] >= 0);
    }
    /* Far out the tail (z = 1e3) the term is z^2/2 + log z + log sqrt(2 pi) - log(1 - 1/z^2 + 3/z^4). */
    double big = 0.2 + 1e3 * 0.05, t;
    adegan_score_terms(&big, logits, 1, 4, 5, mu, sd, &t, pat);
    assert_true(fabs(t - (5e5 + log(1e3) + 0.5 * log(2 * 3.14159265358979323846) - log1p(-1e-6 + 3e-12))) < 1e-6);
    assert_true(isfinite(adegan_neg_log_upper_tail(-40.0)) && adegan_neg_log_upper_tail(-40.0) >= 0);
}

/* ---- fitting on toy data ---- */

static mla_dataset *toy;

static int group_setup(void **st) {
    (void)st;
    toy = toy_bars(600);
    return toy ? test_tmpdir_create("adegan") : -1;
}

static int group_teardown(void **st) {
    (void)st;
    mla_dataset_free(toy);
    return test_tmpdir_remove();
}

/* Fits ADe-GAN on the toy bars with class 2 anomalous and scores the test half;
 * returns the AUROCs of the combined score and the two terms through auc[3]. */
static void fit_and_score(const mla_anomaly_config *cfg, double *scores, double auc[3]) {
    const mla_anomaly_method *m = &mla_anomaly_adegan;
    gan_split sp = gan_test_split(toy, 2);
    void *state = NULL;
    mla_status s = m->fit(cfg, toy, sp.train, sp.n_train, sp.val, sp.n_val, &state);
    if (s) fail_msg("fit: %s", mla_last_error());
    double *terms = malloc((size_t)sp.n_test * 2 * sizeof(double)), *t = malloc((size_t)sp.n_test * sizeof(double));
    assert_int_equal(m->score(state, toy, sp.test, sp.n_test, scores, terms), MLA_OK);
    auc[0] = gan_test_auroc(toy, sp.test, sp.n_test, scores, 2);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < sp.n_test; i++) t[i] = terms[2 * i + k];
        auc[1 + k] = gan_test_auroc(toy, sp.test, sp.n_test, t, 2);
    }
    for (int i = 0; i < sp.n_test; i++) assert_true(scores[i] == terms[2 * i] + terms[2 * i + 1]);
    assert_int_equal(m->figures(state, toy, sp.test, sp.n_test, test_tmpdir), MLA_OK);
    m->free(state);
    free(terms), free(t);
    gan_split_free(&sp);
}

static void test_fit_scores_anomalies_higher(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    double scores[300], auc[3];
    fit_and_score(&cfg, scores, auc);
    print_message("toy bars AUROC: both %.4f recon %.4f pattern %.4f\n", auc[0], auc[1], auc[2]);
    assert_true(auc[0] > 0.9);
    struct stat sb;
    assert_int_equal(stat(test_tmp_path("patterns.png"), &sb), 0);
    assert_int_equal(stat(test_tmp_path("reconstructions.png"), &sb), 0);
}

static void test_same_seed_same_bits(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.epochs = 2, cfg.seed = 7;
    double a[300], b[300], auc[3];
    fit_and_score(&cfg, a, auc);
    fit_and_score(&cfg, b, auc);
    assert_memory_equal(a, b, sizeof a);
    cfg.seed = 8;
    fit_and_score(&cfg, b, auc);
    assert_true(memcmp(a, b, sizeof a) != 0);
    /* --info-weight reaches stage 1's training, deterministically */
    double c[300];
    cfg.seed = 7, cfg.adegan.info_weight = 1;
    fit_and_score(&cfg, b, auc);
    fit_and_score(&cfg, c, auc);
    assert_memory_equal(b, c, sizeof b);
    assert_true(memcmp(a, b, sizeof a) != 0);
}

static void assert_fit_fails(const mla_anomaly_config *cfg, const mla_dataset *ds, const char *what) {
    int32_t idx[8] = {0, 1, 3, 4, 6, 7, 9, 10};
    void *state = (void *)1;
    mla_status s = mla_anomaly_adegan.fit(cfg, ds, idx, 6, idx + 6, 2, &state);
    assert_int_not_equal(s, MLA_OK);
    assert_null(state);
    if (!strstr(mla_last_error(), what)) fail_msg("error '%s' does not mention '%s'", mla_last_error(), what);
}

/* An absurd learning rate diverges in the first epoch: a clear error, no state, no
 * checkpoint. A rate that survives the first epoch and not the next leaves epoch 1's. */
static void test_divergence_is_an_error(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.lr = 1e30f, cfg.epochs = 3, cfg.figures_dir = test_tmpdir;
    assert_fit_fails(&cfg, toy, "diverged");
    assert_non_null(strstr(mla_last_error(), "at epoch 1"));
    assert_non_null(strstr(mla_last_error(), "no checkpoint"));
}

/* The snapshot a diverged run leaves: the nets as they were at the last finished
 * epoch, readable with mla_net_load, and the error says where. */
static void test_last_good_checkpoint(void **st) {
    (void)st;
    mla_net *g;
    assert_int_equal(gan_decoder(1, 8, 4, 5, 3, &g), MLA_OK);
    mla_net *nets[1] = {g};
    static const char *const names[1] = {"G"};
    gan_snapshot snap;
    assert_int_equal(gan_snapshot_init(&snap, 1, nets, names), MLA_OK);
    gan_snapshot_take(&snap, 2);
    size_t np = mla_net_param_count(g);
    float *good = malloc(np * sizeof(float));
    memcpy(good, mla_net_params(g), np * sizeof(float));
    for (size_t i = 0; i < np; i++) mla_net_params(g)[i] = NAN;
    mla_error(MLA_ERR_INVALID, "adegan: training diverged at epoch 3");
    assert_int_equal(gan_snapshot_leave(&snap, test_tmpdir, "adegan", MLA_ERR_INVALID), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "diverged at epoch 3; the last good checkpoint (epoch 2)"));
    mla_net *back;
    char *epoch = NULL;
    assert_int_equal(mla_net_load(test_tmp_path("adegan_last_good_G.safetensors"), &back, "epoch", &epoch), MLA_OK);
    assert_string_equal(epoch, "2");
    assert_memory_equal(mla_net_params(back), good, np * sizeof(float));
    free(epoch), free(good);
    mla_net_free(back);
    gan_snapshot_free(&snap);
    mla_net_free(g);
}

/* The nets follow the dataset's shape: MNIST's 1 x 28 x 28 and CIFAR's 3 x 32 x 32 fit,
 * score finite and draw their figures (both methods; a few random images). */
static void test_dataset_shapes(void **st) {
    (void)st;
    static const int shapes[2][2] = {{1, 28}, {3, 32}};
    const mla_anomaly_method *methods[2] = {&mla_anomaly_adegan, &mla_anomaly_ganomaly};
    for (int k = 0; k < 2; k++) {
        int c = shapes[k][0], s = shapes[k][1], n = 12, dim = c * s * s;
        uint8_t *px = malloc((size_t)n * dim);
        int32_t y[12] = {0}, idx[12];
        mla_rng r;
        mla_rng_seed(&r, 8);
        for (int i = 0; i < n * dim; i++) px[i] = (uint8_t)mla_rng_below(&r, 256);
        for (int i = 0; i < n; i++) idx[i] = i;
        mla_dataset *ds;
        assert_int_equal(mla_dataset_from_memory(n, c, s, s, px, NULL, y, 1, &ds), MLA_OK);
        mla_anomaly_config cfg = gan_test_config();
        cfg.epochs = 2, cfg.batch = 4, cfg.latent = 8;
        for (int m = 0; m < 2; m++) {
            void *state = NULL;
            double scores[12], terms[24];
            if (methods[m]->fit(&cfg, ds, idx, 8, idx + 8, 4, &state))
                fail_msg("%s on %dx%dx%d: %s", methods[m]->name, c, s, s, mla_last_error());
            assert_int_equal(methods[m]->score(state, ds, idx, n, scores, terms), MLA_OK);
            for (int i = 0; i < n; i++) assert_true(isfinite(scores[i]));
            assert_int_equal(methods[m]->figures(state, ds, idx, n, test_tmpdir), MLA_OK);
            methods[m]->free(state);
        }
        mla_dataset_free(ds);
        free(px);
    }
}

/* A zero in the config takes the method's documented default. */
static void test_defaults(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.epochs = 0, cfg.batch = 0, cfg.lr = 0, cfg.adegan.noise_sigma = 0;
    adegan_params p;
    assert_int_equal(adegan_params_from(&cfg, &p), MLA_OK);
    assert_true(p.sigma == 0.3f);
    assert_int_equal(p.batch, 16);
    assert_int_equal(p.epochs, 3);
    assert_int_equal(p.stage1_epochs, 1);
    assert_true(p.lr == 2e-4f && p.recon_g && !p.hard_code && p.info == 0 && p.code_scale == 1);
}

static void test_bad_settings(void **st) {
    (void)st;
    mla_anomaly_config cfg = gan_test_config();
    cfg.adegan.patterns = 1;
    assert_fit_fails(&cfg, toy, "n_c must be >= 2");
    cfg = gan_test_config(), cfg.adegan.beta = -1;
    assert_fit_fails(&cfg, toy, "must be >= 0");
    cfg = gan_test_config(), cfg.adegan.score = "nope";
    assert_fit_fails(&cfg, toy, "unknown score");
    cfg = gan_test_config(), cfg.adegan.recon_trains = "g";
    assert_fit_fails(&cfg, toy, "unknown recon-trains");
    cfg = gan_test_config(), cfg.adegan.recon_code = "firm";
    assert_fit_fails(&cfg, toy, "unknown recon-code");
    cfg = gan_test_config(), cfg.adegan.info_weight = -0.5f;
    assert_fit_fails(&cfg, toy, "stage-1 pattern weight");
    cfg = gan_test_config(), cfg.adegan.code_scale = -1;
    assert_fit_fails(&cfg, toy, "code's scale");
    cfg = gan_test_config(), cfg.adegan.code_scale = NAN;
    assert_fit_fails(&cfg, toy, "code's scale");
    cfg = gan_test_config(), cfg.adegan.info_weight = NAN;
    assert_fit_fails(&cfg, toy, "stage-1 pattern weight");
    cfg = gan_test_config(), cfg.adegan.stage1_epochs = 4;
    assert_fit_fails(&cfg, toy, "stage-1 epochs");
    cfg = gan_test_config();
    mla_dataset *odd;
    uint8_t px[12 * 6 * 5] = {0};
    int32_t y[12] = {0};
    assert_int_equal(mla_dataset_from_memory(12, 1, 6, 5, px, NULL, y, 1, &odd), MLA_OK);
    assert_fit_fails(&cfg, odd, "square");
    mla_dataset_free(odd);
    int32_t one = 0;
    void *state = NULL;
    assert_int_not_equal(mla_anomaly_adegan.fit(&cfg, toy, &one, 1, &one, 1, &state), MLA_OK);
    assert_non_null(strstr(mla_last_error(), "at least 2 validation"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage1_gradients),
        cmocka_unit_test(test_stage2_gradients),
        cmocka_unit_test(test_codes_from_extractor),
        cmocka_unit_test(test_draws_code_scale),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_normal_fit),
        cmocka_unit_test(test_score_terms),
        cmocka_unit_test(test_fit_scores_anomalies_higher),
        cmocka_unit_test(test_same_seed_same_bits),
        cmocka_unit_test(test_divergence_is_an_error),
        cmocka_unit_test(test_last_good_checkpoint),
        cmocka_unit_test(test_dataset_shapes),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
