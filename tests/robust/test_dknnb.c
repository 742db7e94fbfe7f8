/* DkNNB (robust.h): its loss and gradient against the direct formula and finite
 * differences; kNN targets by hand; a net's prefix against the net's own activations;
 * the chained model's input gradient against finite differences; one training step's
 * parameter gradient (through mla_train and the consistency hook) against the formula
 * computed from a brute-force kNN; attacks through the DkNNB inside [0, 1] and eps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

static const char net_spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"name\": \"c1\"}, {\"type\": \"tanh\", \"name\": \"t1\"},"
    " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 6, \"name\": \"d1\"}, {\"type\": \"tanh\", \"name\": \"t2\"},"
    " {\"type\": \"dense\", \"units\": \"classes\", \"name\": \"logits\"}]}";
static const mla_shape in6 = {1, 6, 6};

static mla_net *make(uint64_t seed, int classes) {
    mla_net *net;
    if (mla_net_create(net_spec, in6, classes, seed, &net)) fail_msg("%s", mla_last_error());
    return net;
}

static void uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)mla_rng_uniform(&r);
}

/* The DkNNB loss in double, straight from its definition. */
static double direct_loss(const float *z, int n, int k, const int32_t *y, const float *p, double lambda, bool cl) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * k;
        double mx = zi[0], sum = 0;
        for (int j = 1; j < k; j++) mx = fmax(mx, zi[j]);
        for (int j = 0; j < k; j++) sum += exp(zi[j] - mx);
        double logq[16];
        for (int j = 0; j < k; j++) logq[j] = zi[j] - mx - log(sum);
        double ce = -logq[y[i]], kl = 0;
        for (int j = 0; cl && j < k; j++)
            if (p[(size_t)i * k + j] > 0) kl += p[(size_t)i * k + j] * (log(p[(size_t)i * k + j]) - logq[j]);
        total += cl ? lambda * ce + kl : ce;
    }
    return total / n;
}

static void test_loss(void **st) {
    (void)st;
    enum { N = 4, K = 5 };
    float z[N * K], p[N * K] = {0}, d[N * K];
    int32_t y[N] = {0, 3, 4, 2};
    uniform(z, N * K, 1, -3, 3);
    /* distributions with zeros (KL's 0 log 0 = 0) */
    p[0] = 0.6f, p[1] = 0.4f, p[K + 3] = 1, p[2 * K + 4] = 0.2f, p[2 * K + 0] = 0.8f;
    for (int j = 0; j < K; j++) p[3 * K + j] = 0.2f;
    for (int cl = 0; cl < 2; cl++) {
        float loss = mla_dknnb_loss(z, N, K, y, p, 0.3f, cl, d);
        assert_true(fabs(loss - direct_loss(z, N, K, y, p, 0.3, cl)) < 1e-5);
        for (int j = 0; j < N * K; j++) {
            float keep = z[j];
            const double h = 1e-3;
            z[j] = keep + (float)h;
            double up = direct_loss(z, N, K, y, p, 0.3, cl);
            z[j] = keep - (float)h;
            double down = direct_loss(z, N, K, y, p, 0.3, cl);
            z[j] = keep;
            double num = (up - down) / (2 * h);
            if (fabs(num - d[j]) > 1e-4) fail_msg("cl %d: dlogits[%d] %g, numeric %g", cl, j, d[j], num);
        }
    }
}

static void test_targets(void **st) {
    (void)st;
    /* Rows nearest first; majorities 1, 2 (tie with 0, 2 met first), 1, 0 (tie with 2, 0
     * met first): the AdvKNN study's Counter.most_common. */
    int32_t nb[4 * 4] = {1, 1, 0, 2, 2, 0, 0, 2, 1, 2, 0, 1, 0, 2, 2, 0};
    int32_t y[4];
    float p[4 * 3];
    assert_int_equal(mla_dknnb_targets(nb, 4, 4, 3, y, p), MLA_OK);
    assert_int_equal(y[0], 1);
    assert_int_equal(y[1], 2);
    assert_int_equal(y[2], 1);
    assert_int_equal(y[3], 0);
    const float want[12] = {0.25f, 0.5f, 0.25f, 0.5f, 0, 0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0, 0.5f};
    for (int j = 0; j < 12; j++) assert_true(fabs(p[j] - want[j]) < 1e-7);
}

static void test_prefix(void **st) {
    (void)st;
    mla_net *net = make(3, 4), *pre;
    enum { N = 5 };
    float x[N * 36];
    uniform(x, N * 36, 2, 0, 1);
    assert_int_equal(mla_net_prefix(net, "t2", &pre), MLA_OK);
    const float *out, *act;
    mla_shape sh;
    int got;
    assert_int_equal(mla_net_forward(pre, x, N, false, &out), MLA_OK);
    float *copy = malloc(N * 6 * sizeof(float));
    memcpy(copy, out, N * 6 * sizeof(float));
    assert_int_equal(mla_net_forward(net, x, N, false, &out), MLA_OK);
    assert_int_equal(mla_net_activation(net, "t2", &act, &sh, &got), MLA_OK);
    assert_int_equal(mla_shape_size(sh), 6);
    assert_memory_equal(copy, act, N * 6 * sizeof(float));
    assert_int_equal(mla_shape_size(mla_net_output_shape(pre)), 6);
    mla_net_free(pre);
    assert_int_equal(mla_net_prefix(net, "nope", &pre), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "unknown layer 'nope' (layers: c1, t1"));
    free(copy);
    mla_net_free(net);
}

/* The chain's input gradient (of the attacks' CE loss) against central differences. */
static void test_chain_gradient(void **st) {
    (void)st;
    mla_net *net = make(4, 3), *trunk, *head;
    assert_int_equal(mla_net_prefix(net, "t1", &trunk), MLA_OK);
    const char hs[] = "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    assert_int_equal(mla_net_create(hs, mla_net_output_shape(trunk), 3, 5, &head), MLA_OK);
    mla_adv_chain *ch;
    assert_int_equal(mla_adv_chain_create(trunk, head, &ch), MLA_OK);
    mla_adv_model m = mla_adv_model_chain(ch);
    assert_int_equal(m.dim, 36);
    assert_int_equal(m.classes, 3);
    enum { N = 3 };
    float x[N * 36], g[N * 36];
    int32_t y[N] = {0, 1, 2};
    uniform(x, N * 36, 7, 0.1f, 0.9f);
    mla_adv_config cfg = mla_adv_defaults(MLA_ADV_BIM);
    assert_int_equal(mla_adv_loss(&m, &cfg, x, x, y, NULL, NULL, N, NULL, g), MLA_OK);
    for (int j = 0; j < N * 36; j++) {
        double loss[N], up = 0, down = 0;
        float keep = x[j];
        x[j] = keep + 1e-3f;
        assert_int_equal(mla_adv_loss(&m, &cfg, x, x, y, NULL, NULL, N, loss, NULL), MLA_OK);
        for (int i = 0; i < N; i++) up += loss[i];
        x[j] = keep - 1e-3f;
        assert_int_equal(mla_adv_loss(&m, &cfg, x, x, y, NULL, NULL, N, loss, NULL), MLA_OK);
        for (int i = 0; i < N; i++) down += loss[i];
        x[j] = keep;
        double num = (up - down) / 2e-3;
        if (fabs(num - g[j]) > 2e-3 + 1e-2 * fabs(num)) fail_msg("chain grad[%d] %g numeric %g", j, g[j], num);
    }
    mla_net *bad;
    assert_int_equal(mla_net_prefix(net, "t2", &bad), MLA_OK);
    mla_adv_chain *ch2;
    assert_int_equal(mla_adv_chain_create(bad, head, &ch2), MLA_ERR_INVALID);
    mla_net_free(bad);
    mla_adv_chain_free(ch);
    mla_net_free(head), mla_net_free(trunk), mla_net_free(net);
}

/* Brute-force kNN labels (double distances, ties by smaller index) of each of n rows
 * among the n rows themselves (the row included). */
static void brute_knn(const float *f, int n, int d, int k, const int32_t *labels, int32_t *nb) {
    double *dist = malloc(n * sizeof(double));
    char *used = malloc(n);
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < n; r++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += ((double)f[i * d + j] - f[r * d + j]) * ((double)f[i * d + j] - f[r * d + j]);
            dist[r] = s;
        }
        memset(used, 0, n);
        for (int t = 0; t < k; t++) {
            int b = -1;
            for (int r = 0; r < n; r++)
                if (!used[r] && (b < 0 || dist[r] < dist[b])) b = r;
            used[b] = 1;
            nb[i * k + t] = labels[b];
        }
    }
    free(dist);
    free(used);
}

/* Weights and bias of the head after one full-batch SGD step at lr. */
static void one_step(mla_net *net, const float *x, const int32_t *labels, int n, bool cl, float lr, float *w) {
    mla_dknnb_config c = mla_dknnb_defaults();
    c.layer = "t2", c.consistency = cl, c.knn.k = 5, c.epochs = 1, c.batch = n, c.seed = 9;
    c.opt = mla_opt_defaults(MLA_OPT_SGD);
    c.opt.momentum = 0, c.opt.lr = lr;
    mla_dknnb *d;
    if (mla_dknnb_train(net, x, NULL, labels, n, &c, &d)) fail_msg("%s", mla_last_error());
    mla_net *head = mla_dknnb_head(d);
    memcpy(w, mla_net_params(head), mla_net_param_count(head) * sizeof(float));
    mla_dknnb_free(d);
}

static void test_training_step(void **st) {
    (void)st;
    enum { N = 30, C = 3, D = 6, K = 5 };
    mla_net *net = make(11, C);
    float x[N * 36];
    int32_t labels[N];
    uniform(x, N * 36, 12, 0, 1);
    for (int i = 0; i < N; i++) labels[i] = i % C;
    float *f;
    int dim;
    const char *layer = "t2";
    assert_int_equal(mla_net_layer_features(net, x, N, &layer, 1, 7, &f, &dim), MLA_OK);
    assert_int_equal(dim, D);
    int32_t nb[N * K], y[N];
    float p[N * C];
    brute_knn(f, N, D, K, labels, nb);
    assert_int_equal(mla_dknnb_targets(nb, N, K, C, y, p), MLA_OK);
    for (int cl = 0; cl < 2; cl++) {
        float wa[C * D + C], w2a[C * D + C], w0[C * D + C];
        one_step(net, x, labels, N, cl, 0.5f, wa);
        one_step(net, x, labels, N, cl, 1.0f, w2a);
        for (int j = 0; j < C * D + C; j++) w0[j] = 2 * wa[j] - w2a[j]; /* the shared initial weights */
        /* The formula: logits = W f + b (W is C x D, then b), g_i = d loss / d logits_i. */
        float z[N * C], g[N * C];
        for (int i = 0; i < N; i++)
            for (int c = 0; c < C; c++) {
                double s = w0[C * D + c];
                for (int j = 0; j < D; j++) s += (double)w0[c * D + j] * f[i * D + j];
                z[i * C + c] = (float)s;
            }
        mla_dknnb_loss(z, N, C, y, p, 0.3f, cl, g);
        for (int c = 0; c < C; c++)
            for (int j = 0; j <= D; j++) {
                double want = 0;
                for (int i = 0; i < N; i++) want += g[i * C + c] * (j < D ? f[i * D + j] : 1.0);
                int at = j < D ? c * D + j : C * D + c;
                double got = (wa[at] - w2a[at]) / 0.5;
                if (fabs(got - want) > 2e-5 + 1e-3 * fabs(want))
                    fail_msg("cl %d: gradient of parameter %d: %g, formula %g", cl, at, got, want);
            }
    }
    free(f);
    mla_net_free(net);
}

/* Attacks through a trained DkNNB stay in [0, 1] and within eps; bad settings fail. */
static void test_attack_bounds(void **st) {
    (void)st;
    enum { N = 40, C = 4 };
    mla_net *net = make(13, C);
    float x[N * 36], adv[N * 36];
    int32_t labels[N];
    uniform(x, N * 36, 14, 0, 1);
    for (int j = 0; j < 36; j++) x[j] = (float)(j % 2);
    for (int i = 0; i < N; i++) labels[i] = i % C;
    mla_dknnb_config c = mla_dknnb_defaults();
    c.layer = "t1", c.consistency = true, c.knn.k = 7, c.epochs = 3, c.batch = 16;
    mla_dknnb *d;
    assert_int_equal(mla_dknnb_train(net, x, NULL, labels, N, &c, &d), MLA_OK);
    mla_adv_model m = mla_dknnb_model(d);
    for (int kind = MLA_ADV_FGSM; kind <= MLA_ADV_PGD; kind++) {
        mla_adv_config ac = mla_adv_defaults((mla_adv_kind)kind);
        ac.eps = 0.1f, ac.iterations = 5, ac.step = 0.04f, ac.batch = 16;
        assert_int_equal(mla_adv_run(&m, &ac, x, labels, NULL, N, adv), MLA_OK);
        for (int i = 0; i < N * 36; i++) {
            if (!(adv[i] >= 0 && adv[i] <= 1)) fail_msg("%d: pixel %d = %g", kind, i, adv[i]);
            if (fabsf(adv[i] - x[i]) > 0.1f * (1 + 1e-6f)) fail_msg("%d: pixel %d beyond eps", kind, i);
        }
    }
    mla_dknnb_free(d);
    c.knn.k = N + 1;
    assert_int_equal(mla_dknnb_train(net, x, NULL, labels, N, &c, &d), MLA_ERR_INVALID);
    c.knn.k = 3, c.layer = "zz";
    assert_int_equal(mla_dknnb_train(net, x, NULL, labels, N, &c, &d), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "unknown layer 'zz'"));
    mla_net_free(net);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss),           cmocka_unit_test(test_targets),
        cmocka_unit_test(test_prefix),         cmocka_unit_test(test_chain_gradient),
        cmocka_unit_test(test_training_step),  cmocka_unit_test(test_attack_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
