/* Sitawarin & Wagner's attack (robust.h) on a small synthetic case: targets and guides
 * against a brute-force search, the objective against its direct formula over the
 * guides' mean activations, its input gradient against finite differences, and a BIM run
 * that stays in [0, 1] and eps while bringing every image closer to its guides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

enum { NR = 36, NQ = 6, C = 3, M = 4, D = 36 };

static const char net_spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"name\": \"c1\"}, {\"type\": \"tanh\", \"name\": \"t1\"},"
    " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5, \"name\": \"d1\"}, {\"type\": \"tanh\", \"name\": \"t2\"},"
    " {\"type\": \"dense\", \"units\": \"classes\", \"name\": \"logits\"}]}";
static const char *const layers[2] = {"t1", "t2"};

static void uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)mla_rng_uniform(&r);
}

static double dist2(const float *a, const float *b, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

typedef struct {
    mla_net *net;
    float rx[NR * D], qx[NQ * D];
    int32_t ry[NR], qy[NQ];
    mla_sw *sw;
} fixture;

static void setup(fixture *f) {
    if (mla_net_create(net_spec, (mla_shape){1, 6, 6}, C, 21, &f->net)) fail_msg("%s", mla_last_error());
    uniform(f->rx, NR * D, 22, 0, 1);
    uniform(f->qx, NQ * D, 23, 0.2f, 0.8f);
    for (int i = 0; i < NR; i++) f->ry[i] = i % C;
    for (int i = 0; i < NQ; i++) f->qy[i] = (i * 2) % C;
    if (mla_sw_create(f->net, layers, 2, f->rx, NULL, f->ry, NR, f->qx, f->qy, NQ, M, 8, &f->sw))
        fail_msg("%s", mla_last_error());
}

static void teardown(fixture *f) {
    mla_sw_free(f->sw);
    mla_net_free(f->net);
}

static void test_guides(void **st) {
    (void)st;
    fixture f;
    setup(&f);
    float *rs, *qs;
    int d;
    assert_int_equal(mla_net_layer_features(f.net, f.rx, NR, &layers[1], 1, 5, &rs, &d), MLA_OK);
    assert_int_equal(mla_net_layer_features(f.net, f.qx, NQ, &layers[1], 1, 5, &qs, &d), MLA_OK);
    for (int i = 0; i < NQ; i++) {
        int best = -1;
        for (int r = 0; r < NR; r++)
            if (f.ry[r] != f.qy[i] && (best < 0 || dist2(qs + i * d, rs + r * d, d) < dist2(qs + i * d, rs + best * d, d)))
                best = r;
        int t = f.ry[best];
        assert_int_equal(mla_sw_targets(f.sw)[i], t);
        char used[NR] = {0};
        for (int j = 0; j < M; j++) {
            int b = -1;
            for (int r = 0; r < NR; r++)
                if (f.ry[r] == t && !used[r] && (b < 0 || dist2(qs + i * d, rs + r * d, d) < dist2(qs + i * d, rs + b * d, d)))
                    b = r;
            used[b] = 1;
            assert_int_equal(mla_sw_guides(f.sw)[i * M + j], b);
        }
    }
    free(rs), free(qs);
    teardown(&f);
}

/* -L(x) from the guides' activations, directly. */
static void direct_objective(fixture *f, const float *x, double *out) {
    float *fx[2], *fg[2];
    int dims[2];
    assert_int_equal(mla_net_layer_features(f->net, x, NQ, layers, 2, 3, fx, dims), MLA_OK);
    for (int i = 0; i < NQ; i++) {
        float gx[M * D];
        for (int j = 0; j < M; j++) memcpy(gx + j * D, f->rx + mla_sw_guides(f->sw)[i * M + j] * D, D * sizeof(float));
        assert_int_equal(mla_net_layer_features(f->net, gx, M, layers, 2, 3, fg, dims), MLA_OK);
        double L = 0;
        for (int l = 0; l < 2; l++) {
            for (int c = 0; c < dims[l]; c++) {
                double mu = 0;
                for (int j = 0; j < M; j++) mu += fg[l][j * dims[l] + c];
                mu /= M;
                double diff = fx[l][i * dims[l] + c] - mu;
                L += diff * diff / dims[l];
            }
            free(fg[l]);
        }
        out[i] = -L;
    }
    free(fx[0]), free(fx[1]);
}

static void test_objective(void **st) {
    (void)st;
    fixture f;
    setup(&f);
    mla_adv_model m = mla_sw_model(f.sw);
    assert_int_equal(m.dim, D);
    assert_int_equal(m.classes, 2 * 16 + 5);
    mla_adv_config cfg = mla_adv_defaults(MLA_ADV_BIM);
    int32_t zero[NQ] = {0};
    double loss[NQ], want[NQ];
    float g[NQ * D];
    assert_int_equal(mla_adv_loss(&m, &cfg, f.qx, f.qx, zero, NULL, NULL, NQ, loss, g), MLA_OK);
    direct_objective(&f, f.qx, want);
    for (int i = 0; i < NQ; i++) assert_true(fabs(loss[i] - want[i]) < 1e-5 * (1 + fabs(want[i])));
    for (int j = 0; j < NQ * D; j += 5) {
        double up[NQ], down[NQ], num = 0;
        float keep = f.qx[j];
        f.qx[j] = keep + 1e-3f;
        assert_int_equal(mla_adv_loss(&m, &cfg, f.qx, f.qx, zero, NULL, NULL, NQ, up, NULL), MLA_OK);
        f.qx[j] = keep - 1e-3f;
        assert_int_equal(mla_adv_loss(&m, &cfg, f.qx, f.qx, zero, NULL, NULL, NQ, down, NULL), MLA_OK);
        f.qx[j] = keep;
        for (int i = 0; i < NQ; i++) num += (up[i] - down[i]) / 2e-3;
        if (fabs(num - g[j]) > 1e-3 + 1e-2 * fabs(num)) fail_msg("grad[%d] %g numeric %g", j, g[j], num);
    }
    teardown(&f);
}

static void test_attack(void **st) {
    (void)st;
    fixture f;
    setup(&f);
    mla_adv_model m = mla_sw_model(f.sw);
    mla_adv_config cfg = mla_adv_defaults(MLA_ADV_BIM);
    cfg.eps = 0.2f, cfg.step = 0.02f, cfg.iterations = 20, cfg.batch = 4; /* two chunks: the guide cache turns over */
    int32_t zero[NQ] = {0};
    float adv[NQ * D];
    assert_int_equal(mla_adv_run(&m, &cfg, f.qx, zero, NULL, NQ, adv), MLA_OK);
    double before[NQ], after[NQ];
    direct_objective(&f, f.qx, before);
    direct_objective(&f, adv, after);
    for (int i = 0; i < NQ; i++) {
        if (!(after[i] > before[i])) fail_msg("sample %d: -L %g -> %g", i, before[i], after[i]);
        for (int j = 0; j < D; j++) {
            float a = adv[i * D + j];
            assert_true(a >= 0 && a <= 1 && fabsf(a - f.qx[i * D + j]) <= 0.2f * (1 + 1e-6f));
        }
    }
    cfg.kind = MLA_ADV_CW;
    assert_int_equal(mla_adv_run(&m, &cfg, f.qx, zero, NULL, NQ, adv), MLA_ERR_INVALID);
    mla_sw *bad;
    assert_int_equal(mla_sw_create(f.net, layers, 2, f.rx, NULL, f.ry, NR, f.qx, f.qy, NQ, 13, 8, &bad), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "fewer than 13 guides"));
    teardown(&f);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_guides), cmocka_unit_test(test_objective),
                                       cmocka_unit_test(test_attack)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
