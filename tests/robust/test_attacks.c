/* The attacks of robust.h: each attack's loss gradient against finite differences, the
 * [0, 1] and eps bounds (any excursion fails), FGSM and C&W on linear models against
 * their analytic answers, and reproducibility of the seeded starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

enum { N = 5, K = 4 };

static const mla_shape small = {1, 6, 6};
static const char smooth_spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3}, {\"type\": \"tanh\"},"
    " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";

static mla_net *make(const char *spec, mla_shape in, int classes, uint64_t seed) {
    mla_net *net;
    if (mla_net_create(spec, in, classes, seed, &net)) fail_msg("%s", mla_last_error());
    return net;
}

static void uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)mla_rng_uniform(&r);
}

/* Sum over samples of the attack's loss at x. */
static double total_loss(const mla_adv_model *m, const mla_adv_config *cfg, const float *x, const float *x0,
                         const int32_t *y, const int32_t *t, const float *c, int n) {
    double loss[N], sum = 0;
    assert_int_equal(mla_adv_loss(m, cfg, x, x0, y, t, c, n, loss, NULL), MLA_OK);
    for (int i = 0; i < n; i++) sum += loss[i];
    return sum;
}

/* Central differences of the summed loss at `count` pixels spread over the batch. */
static void check_gradient(mla_net *net, mla_adv_kind kind, bool targeted, int count, double rtol) {
    mla_adv_model m = mla_adv_model_net(net);
    mla_adv_config cfg = mla_adv_defaults(kind);
    cfg.targeted = targeted;
    size_t total = (size_t)N * m.dim;
    float *x = malloc(total * sizeof(float)), *x0 = malloc(total * sizeof(float));
    float *g = malloc(total * sizeof(float));
    uniform(x, total, 3, 0.1f, 0.9f);
    uniform(x0, total, 4, 0.1f, 0.9f);
    int32_t y[N], t[N];
    float c[N];
    for (int i = 0; i < N; i++) y[i] = i % m.classes, t[i] = (i + 1) % m.classes, c[i] = 0.5f + i;
    /* C&W's hinge: with kappa large the margin term is active for every sample. */
    cfg.cw_kappa = 1000;
    assert_int_equal(mla_adv_loss(&m, &cfg, x, x0, y, t, c, N, NULL, g), MLA_OK);
    int bad = 0;
    for (int s = 0; s < count; s++) {
        size_t j = ((size_t)s * total / count + (size_t)s % 7) % total;
        float keep = x[j];
        const double h = 1e-3;
        x[j] = keep + (float)h;
        double up = total_loss(&m, &cfg, x, x0, y, t, c, N);
        x[j] = keep - (float)h;
        double down = total_loss(&m, &cfg, x, x0, y, t, c, N);
        x[j] = keep;
        double num = (up - down) / (2 * h);
        if (fabs(num - g[j]) > 2e-3 + rtol * fabs(num) && bad++ < 5)
            print_message("%s%s: grad[%zu] analytic %g numeric %g\n", mla_adv_kind_name(kind),
                          targeted ? " targeted" : "", j, g[j], num);
    }
    if (bad) fail_msg("%s: %d of %d gradient entries disagree", mla_adv_kind_name(kind), bad, count);
    free(x);
    free(x0);
    free(g);
}

static void test_loss_gradients(void **st) {
    (void)st;
    mla_net *net = make(smooth_spec, small, K, 1);
    for (int kind = MLA_ADV_FGSM; kind <= MLA_ADV_CW; kind++) {
        check_gradient(net, (mla_adv_kind)kind, false, N * 36, 1e-2);
        check_gradient(net, (mla_adv_kind)kind, true, N * 36, 1e-2);
    }
    mla_net_free(net);
    /* The dknn preset (ReLU; a few pixels, away from kinks with this seed). */
    net = make(mla_preset_spec("dknn"), (mla_shape){1, 28, 28}, 10, 2);
    check_gradient(net, MLA_ADV_PGD, false, 40, 3e-2);
    check_gradient(net, MLA_ADV_CW, true, 40, 3e-2);
    mla_net_free(net);
}

/* Every output pixel in [0, 1] and within eps (L_inf, or L2 for pgd-l2) of the input. */
static void check_bounds(const float *x, const float *adv, int n, int dim, mla_adv_kind kind, float eps) {
    for (int i = 0; i < n; i++) {
        double l2 = 0, linf = 0;
        for (int j = 0; j < dim; j++) {
            float a = adv[(size_t)i * dim + j], d = a - x[(size_t)i * dim + j];
            if (!(a >= 0 && a <= 1)) fail_msg("%s: sample %d pixel %d = %g outside [0, 1]", mla_adv_kind_name(kind), i, j, a);
            l2 += (double)d * d;
            linf = fmax(linf, fabs(d));
        }
        if (kind == MLA_ADV_PGD_L2 && sqrt(l2) > eps * (1 + 1e-5))
            fail_msg("pgd-l2: sample %d L2 %g beyond eps %g", i, sqrt(l2), eps);
        if (kind != MLA_ADV_PGD_L2 && kind != MLA_ADV_CW && linf > eps * (1 + 1e-6))
            fail_msg("%s: sample %d L_inf %g beyond eps %g", mla_adv_kind_name(kind), i, linf, eps);
    }
}

static void test_bounds(void **st) {
    (void)st;
    mla_net *net = make(smooth_spec, small, K, 5);
    mla_adv_model m = mla_adv_model_net(net);
    enum { M = 23 };
    float x[M * 36], adv[M * 36];
    uniform(x, M * 36, 6, 0, 1);
    for (int j = 0; j < 36; j++) x[j] = (float)(j % 2); /* a sample of exact 0s and 1s */
    int32_t y[M], t[M];
    for (int i = 0; i < M; i++) y[i] = i % K, t[i] = (i + 2) % K;
    for (int kind = MLA_ADV_FGSM; kind <= MLA_ADV_CW; kind++)
        for (int targeted = 0; targeted < 2; targeted++) {
            mla_adv_config cfg = mla_adv_defaults((mla_adv_kind)kind);
            cfg.batch = 7;
            cfg.iterations = 10;
            cfg.step = kind == MLA_ADV_PGD_L2 ? 0.5f : 0.05f;
            cfg.eps = kind == MLA_ADV_PGD_L2 ? 1.0f : 0.1f;
            cfg.cw_iterations = 20;
            cfg.cw_search = 3;
            cfg.targeted = targeted;
            assert_int_equal(mla_adv_run(&m, &cfg, x, y, t, M, adv), MLA_OK);
            check_bounds(x, adv, M, 36, (mla_adv_kind)kind, cfg.eps);
        }
    mla_net_free(net);
}

/* A bias-free linear 2-class model on 6 pixels: z = W x. */
static mla_net *linear2(const float *w) {
    mla_net *net = make("{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2, \"bias\": false}]}",
                        (mla_shape){1, 1, 6}, 2, 0);
    memcpy(mla_net_params(net), w, 12 * sizeof(float));
    return net;
}

/* FGSM on z = W x with y = 0: d CE / dx = p_1 (w_1 - w_0), so x' = clip01(x + eps *
 * sign(w_1 - w_0)); targeted at class 1 it is the same image. */
static void test_fgsm_linear(void **st) {
    (void)st;
    const float w[12] = {0.5f, -1, 2, 0.1f, -0.3f, 1, -0.2f, 1, 1, -0.4f, 0.3f, -2};
    mla_net *net = linear2(w);
    mla_adv_model m = mla_adv_model_net(net);
    const float x[6] = {0.5f, 0.9f, 0.05f, 0.3f, 1.0f, 0.0f};
    float adv[6];
    int32_t y = 0, t = 1;
    mla_adv_config cfg = mla_adv_defaults(MLA_ADV_FGSM);
    cfg.eps = 0.2f;
    for (int targeted = 0; targeted < 2; targeted++) {
        cfg.targeted = targeted;
        assert_int_equal(mla_adv_run(&m, &cfg, x, &y, &t, 1, adv), MLA_OK);
        for (int j = 0; j < 6; j++) {
            float s = w[6 + j] > w[j] ? 1.0f : -1.0f, want = x[j] + 0.2f * s;
            want = want < 0 ? 0 : want > 1 ? 1 : want;
            assert_float_equal(adv[j], want, 0);
        }
    }
    mla_net_free(net);
}

/* C&W on a linear model: the smallest L2 change reaching the boundary is
 * |z_0 - z_1| / ||w_0 - w_1|| (inside [0, 1] here); C&W gets within 10% of it. */
static void test_cw_linear(void **st) {
    (void)st;
    const float w[12] = {1, 0, 0.5f, 0, 0, 0, 0, 1, 0, 0.5f, 0, 0};
    mla_net *net = linear2(w);
    mla_adv_model m = mla_adv_model_net(net);
    const float x[6] = {0.6f, 0.4f, 0.5f, 0.5f, 0.5f, 0.5f};
    float adv[6];
    int32_t y = 0;
    double want = fabs((0.6 + 0.25) - (0.4 + 0.25)) / sqrt(2 * 1 + 2 * 0.25);
    mla_adv_config cfg = mla_adv_defaults(MLA_ADV_CW);
    cfg.cw_iterations = 200;
    cfg.cw_search = 8;
    cfg.cw_c = 1;
    assert_int_equal(mla_adv_run(&m, &cfg, x, &y, NULL, 1, adv), MLA_OK);
    const float *z;
    assert_int_equal(mla_net_forward(net, adv, 1, false, &z), MLA_OK);
    assert_true(z[1] >= z[0]);
    double l2 = 0;
    for (int j = 0; j < 6; j++) l2 += (adv[j] - x[j]) * (adv[j] - x[j]);
    l2 = sqrt(l2);
    if (!(l2 >= want * 0.999 && l2 <= want * 1.1)) fail_msg("C&W L2 %g, minimum %g", l2, want);
    mla_net_free(net);
}

/* Same seed: same bits, whatever the batch size; another seed: another start. */
static void test_reproducible(void **st) {
    (void)st;
    mla_net *net = make(smooth_spec, small, K, 7);
    mla_adv_model m = mla_adv_model_net(net);
    enum { M = 11 };
    float x[M * 36], a[M * 36], b[M * 36];
    uniform(x, M * 36, 8, 0, 1);
    int32_t y[M];
    for (int i = 0; i < M; i++) y[i] = i % K;
    for (int kind = MLA_ADV_PGD; kind <= MLA_ADV_PGD_L2; kind++) {
        mla_adv_config cfg = mla_adv_defaults((mla_adv_kind)kind);
        cfg.iterations = 5;
        cfg.seed = 42;
        cfg.batch = M;
        assert_int_equal(mla_adv_run(&m, &cfg, x, y, NULL, M, a), MLA_OK);
        cfg.batch = 4;
        assert_int_equal(mla_adv_run(&m, &cfg, x, y, NULL, M, b), MLA_OK);
        assert_memory_equal(a, b, sizeof a);
        cfg.seed = 43;
        assert_int_equal(mla_adv_run(&m, &cfg, x, y, NULL, M, b), MLA_OK);
        assert_true(memcmp(a, b, sizeof a) != 0);
    }
    mla_net_free(net);
}

/* Bad settings and labels are refused. */
static void test_bad_input(void **st) {
    (void)st;
    mla_net *net = make(smooth_spec, small, K, 9);
    mla_adv_model m = mla_adv_model_net(net);
    float x[36] = {0}, adv[36];
    int32_t y = 0, bad_y = K;
    mla_adv_config cfg = mla_adv_defaults(MLA_ADV_FGSM);
    cfg.eps = 0;
    assert_int_equal(mla_adv_run(&m, &cfg, x, &y, NULL, 1, adv), MLA_ERR_INVALID);
    cfg.eps = 1.5f;
    assert_int_equal(mla_adv_run(&m, &cfg, x, &y, NULL, 1, adv), MLA_ERR_INVALID);
    cfg.eps = 0.1f;
    assert_int_equal(mla_adv_run(&m, &cfg, x, &bad_y, NULL, 1, adv), MLA_ERR_INVALID);
    cfg.targeted = true;
    assert_int_equal(mla_adv_run(&m, &cfg, x, &y, NULL, 1, adv), MLA_ERR_INVALID);
    cfg.targeted = false;
    x[3] = 1.5f;
    assert_int_equal(mla_adv_run(&m, &cfg, x, &y, NULL, 1, adv), MLA_ERR_INVALID);
    mla_adv_kind k;
    assert_int_equal(mla_adv_kind_parse("pgd-l2", &k), MLA_OK);
    assert_int_equal(k, MLA_ADV_PGD_L2);
    assert_int_equal(mla_adv_kind_parse("deepfool", &k), MLA_ERR_INVALID);
    mla_net_free(net);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_gradients), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_fgsm_linear),    cmocka_unit_test(test_cw_linear),
        cmocka_unit_test(test_reproducible),   cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
